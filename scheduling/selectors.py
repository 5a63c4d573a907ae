"""Reads for supportive text programmes."""

from __future__ import annotations

from django.db.models import QuerySet

from scheduling.library_format import LibrarySpec, MessageSpec
from scheduling.models import LibraryMessage, MessageLibrary


def approved_messages(
    library: MessageLibrary, *, track: str, category: str, language: str
) -> QuerySet[LibraryMessage]:
    """What may be sent, in order: approved messages only."""
    return (
        LibraryMessage.objects.filter(
            library=library, track=track, category=category, language=language
        )
        .exclude(approver="")
        .filter(approved_on__isnull=False)
        .order_by("position")
    )


def library_spec(library: MessageLibrary) -> LibrarySpec:
    """The library as its file format holds it (for export)."""
    messages = LibraryMessage.objects.filter(library=library).order_by(
        "track", "category", "language", "position"
    )
    return LibrarySpec(
        slug=library.slug,
        name=library.name,
        is_sample=library.is_sample,
        messages=tuple(
            MessageSpec(
                key=m.key,
                track=m.track,
                category=m.category,
                language=m.language,
                position=m.position,
                text=m.text,
                author=m.author,
                approver=m.approver,
                approved_on=m.approved_on,
            )
            for m in messages
        ),
    )
