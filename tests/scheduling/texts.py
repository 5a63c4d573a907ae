"""Shared set-up for the scheduled-text tests: an approved library with fictional texts, a
programme whose every enrolment gets texts, and time travel in UTC."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from messaging.models import Message, MessageChannel
from people.models import Channel
from programmes.models import Enrolment, Programme
from programmes.services import ArmSpec
from scheduling.library_format import LibrarySpec, MessageSpec
from scheduling.models import MessageLibrary, PendingSend, SendRecord, Stream
from scheduling.services import configure_schedule, import_library
from tests.support.factories import enrol, make_programme

TEXTS_ONLY = (ArmSpec("texts", "Supportive texts", False, True, True),)
NO_TEXTS = (ArmSpec("usual_care", "Usual care", False, False, False),)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


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


def text_programme(
    *, arms: Sequence[ArmSpec] = TEXTS_ONLY, lib: MessageLibrary | None = None, **schedule: Any
) -> Programme:
    programme = make_programme(arms=arms)
    configure_schedule(programme=programme, changed_by=None, library=lib or library(), **schedule)
    return programme


def enrol_for_texts(programme: Programme, **kwargs: Any) -> Enrolment:
    kwargs.setdefault("channel", Channel.SMS)
    return enrol(programme, peer_support=None, **kwargs)


def supportive(enrolment: Enrolment) -> PendingSend:
    return PendingSend.objects.get(enrolment=enrolment, stream=Stream.SUPPORTIVE)


def automated_bodies(enrolment: Enrolment) -> list[str]:
    from messaging.selectors import message_payload

    conversation = enrolment.conversation
    messages = Message.objects.filter(
        conversation=conversation, channel=MessageChannel.AUTOMATED
    ).order_by("seq")
    return [message_payload(m, conversation)["body"] for m in messages]


def outcomes(enrolment: Enrolment) -> list[str]:
    return list(
        SendRecord.objects.filter(pending_send__enrolment=enrolment)
        .order_by("pending_send", "seq")
        .values_list("outcome", flat=True)
    )
