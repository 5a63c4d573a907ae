"""Reads for supportive text programmes."""

from __future__ import annotations

from django.db.models import QuerySet

from encryption.services import FieldRef, decrypt
from scheduling.library_format import LibrarySpec, MessageSpec
from scheduling.models import LibraryMessage, MessageLibrary, Reminder, SendRecord


def approved_messages(
    library: MessageLibrary | int, *, track: str, category: str, language: str
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


def reminder_ref(reminder_id: int) -> FieldRef:
    return FieldRef(table="scheduling_reminder", row=str(reminder_id), field="body")


def reminder_text(reminder: Reminder) -> str:
    """A reminder's text: ciphertext under the person's data key (it may name a clinic or a
    medicine). Raises DecryptionError, never returns ciphertext."""
    participant = reminder.enrolment.participant
    return decrypt(
        data_key=participant.data_key,
        ciphertext=bytes(reminder.body_ciphertext),
        ref=reminder_ref(reminder.pk),
    )


def scheduled_text(record_id: int) -> str:
    """What a scheduled send without a conversation says (the outbox reads it at send time):
    its library text, or its reminder's."""
    record = SendRecord.objects.select_related(
        "library_message", "pending_send__reminder__enrolment__participant__data_key"
    ).get(pk=record_id)
    if record.library_message is not None:
        return record.library_message.text
    reminder = record.pending_send.reminder
    if reminder is None:
        raise ValueError(f"send record {record_id} has no text")
    return reminder_text(reminder)
