"""Writes for supportive text programmes."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from audit.services import record
from peerlink.errors import DomainError
from people.models import User
from scheduling.library_format import LibrarySpec
from scheduling.models import LibraryMessage, MessageLibrary

UPDATABLE = ("track", "category", "language", "position", "text", "author", "approver")


@dataclass(frozen=True)
class ImportCounts:
    created: int
    updated: int
    unchanged: int


@transaction.atomic
def import_library(*, spec: LibrarySpec, imported_by: User | None = None) -> ImportCounts:
    """Create or update the library and its messages by key, in one transaction: a file that
    fails anywhere writes nothing. Messages missing from the file are kept (an export of a
    library always holds them all; deleting clinical content is a deliberate admin act)."""
    library, _ = MessageLibrary.objects.update_or_create(
        slug=spec.slug, defaults={"name": spec.name, "is_sample": spec.is_sample}
    )
    existing = {m.key: m for m in LibraryMessage.objects.filter(library=library)}
    created = updated = unchanged = 0
    incoming = {m.key: m for m in spec.messages}
    # Moves between positions would collide on the unique (track, category, language,
    # position) one row at a time: park the changed rows on free positions first.
    moving = [
        current
        for key, current in existing.items()
        if key in incoming
        and (current.track, current.category, current.language, current.position)
        != (
            incoming[key].track,
            incoming[key].category,
            incoming[key].language,
            incoming[key].position,
        )
    ]
    kept = {
        (m.track, m.category, m.language, m.position): key
        for key, m in existing.items()
        if key not in incoming
    }
    for message in spec.messages:
        taken_by = kept.get((message.track, message.category, message.language, message.position))
        if taken_by is not None:
            raise DomainError(
                "position_taken",
                f"{message.key}: its position is held by {taken_by}, which the file does not "
                "list (export the library, edit that file, and import it again).",
            )
    for offset, parked in enumerate(moving, start=1):
        LibraryMessage.objects.filter(pk=parked.pk).update(position=10_000_000 + offset)
    for message in spec.messages:
        row = existing.get(message.key)
        values = {field: getattr(message, field) for field in UPDATABLE}
        values["approved_on"] = message.approved_on
        if row is None:
            LibraryMessage.objects.create(library=library, key=message.key, **values)
            created += 1
        elif row in moving or any(getattr(row, f) != v for f, v in values.items()):
            for field, value in values.items():
                setattr(row, field, value)
            row.save()
            updated += 1
        else:
            unchanged += 1
    record(
        action="library.imported",
        actor=imported_by,
        target=library,
        details={"created": created, "updated": updated, "unchanged": unchanged},
    )
    return ImportCounts(created, updated, unchanged)
