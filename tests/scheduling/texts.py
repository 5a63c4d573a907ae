"""Shared set-up for the scheduled-text tests: an approved library with fictional texts, a
programme whose every enrolment gets texts, and time travel in UTC."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import time_machine

from messaging.models import Message, MessageChannel, OutboxPurpose, SmsOutbox
from people.models import Channel, User
from programmes.models import Enrolment, Programme, Role
from programmes.services import ArmSpec
from scheduling.dispatch import DispatchResult, dispatch_due
from scheduling.library_format import LibrarySpec, MessageSpec
from scheduling.models import (
    MessageLibrary,
    PendingSend,
    SendOutcome,
    SendRecord,
    SendState,
    Stream,
)
from scheduling.selectors import scheduled_text
from scheduling.services import configure_schedule, import_library
from tests.support.factories import enrol, make_programme, make_staff

TEXTS_ONLY = (ArmSpec("texts", "Supportive texts", False, True, True),)
NO_TEXTS = (ArmSpec("usual_care", "Usual care", False, False, False),)
PEER_AND_TEXTS = (
    ArmSpec("peer_support_texts", "Peer support and supportive texts", True, True, True),
)
PEER_ONLY = (ArmSpec("peer_support", "Peer support", True, False, False),)
# Supportive texts without reminders: an arm some programmes run.
SUPPORTIVE_ONLY = (ArmSpec("supportive", "Supportive texts only", False, True, False),)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def instant(when: str | dt.datetime) -> dt.datetime:
    return utc(when) if isinstance(when, str) else when


@contextmanager
def clock(when: str | dt.datetime) -> Iterator[dt.datetime]:
    """The clock stands still at `when` (a UTC instant, "YYYY-MM-DDTHH:MM")."""
    moment = instant(when)
    with time_machine.travel(moment, tick=False):
        yield moment


def dispatch(when: str | dt.datetime) -> DispatchResult:
    """One dispatcher tick at the UTC instant `when`."""
    with clock(when):
        return dispatch_due()


def library(
    *,
    slug: str = "approved",
    tracks: Sequence[str] = ("general",),
    count: int = 3,
    languages: Sequence[str] = ("en",),
    approved: bool = True,
) -> MessageLibrary:
    messages = [
        MessageSpec(
            key=f"{track}-{language}-{n:03d}",
            track=track,
            category="supportive",
            language=language,
            position=n,
            text=f"Fictional {track} text {n} ({language}).",
            author="Author A",
            approver="Clinician B" if approved else "",
            approved_on=dt.date(2026, 11, 1) if approved else None,
        )
        for track in tracks
        for language in languages
        for n in range(1, count + 1)
    ]
    spec = LibrarySpec(slug=slug, name=slug.title(), is_sample=False, messages=tuple(messages))
    import_library(spec=spec)
    return MessageLibrary.objects.get(slug=slug)


def library_of(
    entries: Sequence[tuple[str, int, str]], *, slug: str = "ordered", track: str = "general"
) -> MessageLibrary:
    """A library of approved supportive texts given as (key, position, text), in file order."""
    spec = LibrarySpec(
        slug=slug,
        name=slug.title(),
        is_sample=False,
        messages=tuple(
            MessageSpec(
                key=key,
                track=track,
                category="supportive",
                language="en",
                position=position,
                text=text,
                author="Author A",
                approver="Clinician B",
                approved_on=dt.date(2026, 11, 1),
            )
            for key, position, text in entries
        ),
    )
    import_library(spec=spec)
    return MessageLibrary.objects.get(slug=slug)


def text_programme(
    *,
    arms: Sequence[ArmSpec] = TEXTS_ONLY,
    lib: MessageLibrary | None = None,
    slug: str = "trial",
    **schedule: Any,
) -> Programme:
    programme = make_programme(slug=slug, arms=arms)
    configure_schedule(programme=programme, changed_by=None, library=lib or library(), **schedule)
    return programme


def enrol_for_texts(programme: Programme, **kwargs: Any) -> Enrolment:
    kwargs.setdefault("channel", Channel.SMS)
    return enrol(programme, peer_support=None, **kwargs)


def enrol_in_arm(programme: Programme, arm: str, **kwargs: Any) -> Enrolment:
    """Enrol people until one is allocated `arm` (each retry is a new person)."""
    for _ in range(200):
        enrolment = enrol_for_texts(programme, **kwargs)
        if enrolment.arm.code == arm:
            return enrolment
    raise AssertionError(f"allocation never produced the arm {arm}")


def supervisor(programme: Programme) -> User:
    return make_staff(programme, Role.SUPERVISOR)


def supportive(enrolment: Enrolment) -> PendingSend:
    return PendingSend.objects.get(enrolment=enrolment, stream=Stream.SUPPORTIVE)


def reminder_rows(enrolment: Enrolment) -> list[PendingSend]:
    return list(
        PendingSend.objects.filter(enrolment=enrolment, stream=Stream.REMINDER).order_by("pk")
    )


def scheduled_rows(enrolment: Enrolment) -> list[PendingSend]:
    return list(
        PendingSend.objects.filter(enrolment=enrolment, state=SendState.SCHEDULED).order_by("pk")
    )


def automated_bodies(enrolment: Enrolment) -> list[str]:
    from messaging.selectors import message_payload

    conversation = enrolment.conversation
    messages = Message.objects.filter(
        conversation=conversation, channel=MessageChannel.AUTOMATED
    ).order_by("seq")
    return [message_payload(m, conversation)["body"] for m in messages]


def automated_outbox(enrolment: Enrolment) -> list[SmsOutbox]:
    return list(
        SmsOutbox.objects.filter(
            participant=enrolment.participant, purpose=OutboxPurpose.AUTOMATED
        ).order_by("pk")
    )


def records(enrolment: Enrolment, stream: str | None = None) -> list[SendRecord]:
    found = SendRecord.objects.filter(pending_send__enrolment=enrolment)
    if stream is not None:
        found = found.filter(pending_send__stream=stream)
    return list(found.select_related("message").order_by("handled_at", "pending_send", "seq"))


def outcomes(enrolment: Enrolment, stream: str | None = None) -> list[str]:
    return [r.outcome for r in records(enrolment, stream)]


def sent_texts(enrolment: Enrolment, stream: str | None = None) -> list[str]:
    """What the person was sent, in order, whichever way it went (their thread, or the outbox
    of a person without one)."""
    from messaging.selectors import message_payload

    bodies = []
    for record in records(enrolment, stream):
        if record.outcome != SendOutcome.SENT:
            continue
        if record.message is not None:
            conversation = record.message.conversation
            bodies.append(message_payload(record.message, conversation)["body"])
        else:
            bodies.append(scheduled_text(record.pk))
    return bodies


def sent_at(enrolment: Enrolment, stream: str | None = None) -> list[dt.datetime]:
    """When each text was sent (UTC), in order."""
    return [
        r.handled_at.astimezone(dt.UTC)
        for r in records(enrolment, stream)
        if r.outcome == SendOutcome.SENT
    ]
