"""Reads for supportive text programmes."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from access.permissions import AnyUser, visible_enrolments
from encryption.services import FieldRef, decrypt
from peerlink.errors import DomainError, NotFound
from people.models import Participant, User
from programmes.models import Enrolment, EnrolmentStatus
from scheduling.library_format import LibrarySpec, MessageSpec
from scheduling.models import (
    LibraryMessage,
    MessageLibrary,
    PendingSend,
    Reminder,
    SendRecord,
    Stream,
)


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


def reminder_text(reminder: Reminder, *, participant: Participant | None = None) -> str:
    """A reminder's text: ciphertext under the person's data key (it may name a clinic or a
    medicine). Raises DecryptionError, never returns ciphertext. `participant`: the person,
    when the caller has them loaded already."""
    participant = participant or reminder.enrolment.participant
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
    return record_text(record)


def record_text(record: SendRecord, *, participant: Participant | None = None) -> str:
    """`scheduled_text` of a record the caller has read (with its library text and reminder);
    `participant`: the person, when loaded already."""
    if record.library_message is not None:
        return record.library_message.text
    reminder = record.pending_send.reminder
    if reminder is None:
        raise ValueError(f"send record {record.pk} has no text")
    return reminder_text(reminder, participant=participant)


# --- Reads for the scheduled-texts API (issue 7) ----------------------------------------------

RECENT_SENDS = 20
MAX_ROW_ID = 2**63 - 1  # the largest value a (big) integer column compares against


def handled_enrolments(user: AnyUser) -> QuerySet[Enrolment]:
    """Enrolments whose scheduled texts a staff member handles: those whose identifiable data
    they may see (the assigned peer supporter's caseload, a supervisor's team and waiting
    queue, a programme admin's programme; evaluators none), never their own as a service
    user."""
    if not isinstance(user, User) or not user.is_authenticated:
        return Enrolment.objects.none()
    return visible_enrolments(user).exclude(participant__user=user)


def get_handled_enrolment(user: AnyUser, enrolment_id: uuid.UUID | str) -> Enrolment:
    """The enrolment, if the caller handles its texts; otherwise it does not exist (404)."""
    enrolment = (
        handled_enrolments(user)
        .select_related("participant__data_key", "programme", "arm")
        .filter(pk=enrolment_id)
        .first()
    )
    if enrolment is None:
        raise NotFound("not_found", "Not found.")
    return enrolment


def get_handled_reminder(user: AnyUser, reminder_id: int) -> Reminder:
    """A reminder of an enrolment the caller handles; otherwise it does not exist (404)."""
    reminder = None
    if 0 < reminder_id <= MAX_ROW_ID:
        reminder = (
            Reminder.objects.filter(
                pk=reminder_id, enrolment__in=handled_enrolments(user).values("pk")
            )
            .select_related("enrolment")
            .first()
        )
    if reminder is None:
        raise NotFound("not_found", "Not found.")
    return reminder


def own_text_enrolment(user: User, enrolment_id: uuid.UUID | None = None) -> Enrolment:
    """A service user's own enrolment: the one named, or their only ongoing one."""
    own = Enrolment.objects.filter(participant__user=user).select_related(
        "participant__data_key", "programme", "arm"
    )
    if enrolment_id is not None:
        chosen = own.filter(pk=enrolment_id).first()
        if chosen is None:
            raise NotFound("not_found", "Not found.")
        return chosen
    ongoing = list(
        own.filter(status__in=(EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED)).order_by(
            "enrolled_at", "pk"
        )[:2]
    )
    if not ongoing:
        raise NotFound("no_enrolment", "You have no ongoing enrolment.")
    if len(ongoing) > 1:
        raise DomainError("enrolment_required", "Say which enrolment (programme) this is about.")
    return ongoing[0]


def supportive_stream(enrolment: Enrolment) -> PendingSend | None:
    return PendingSend.objects.filter(enrolment=enrolment, stream=Stream.SUPPORTIVE).first()


def reminders_of(enrolment: Enrolment, *, include_cancelled: bool = False) -> list[Reminder]:
    """The enrolment's reminders with their pending send, in the order they begin."""
    reminders = enrolment.reminders.select_related("pending_send")
    if not include_cancelled:
        reminders = reminders.filter(cancelled_at__isnull=True)
    return list(reminders.order_by("first_date", "local_time", "pk"))


def recent_sends(enrolment: Enrolment, *, limit: int = RECENT_SENDS) -> list[SendRecord]:
    """What became of the enrolment's latest sends (supportive and reminders), newest first."""
    return list(
        SendRecord.objects.filter(pending_send__enrolment=enrolment)
        .select_related("pending_send")
        .order_by("-handled_at", "-pk")[:limit]
    )


def may_read_reminder_text(user: AnyUser, enrolment: Enrolment) -> bool:
    """Reminder texts may name a medicine or a clinic, and go into the thread: only those who
    may read the person's conversation read them (not programme admins, who set things up)."""
    from access.permissions import readable_conversation_enrolments

    return readable_conversation_enrolments(user).filter(pk=enrolment.pk).exists()
