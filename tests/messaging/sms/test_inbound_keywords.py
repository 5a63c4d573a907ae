"""The reserved keywords end to end, through POST /sms/twilio/inbound/ (DESIGN.md §2, §4):
STOP family (opted out of all SMS), START family (opted back in), HELP family (programme
contact and crisis resources). They win over any registered inbound handler (a survey)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from messaging.actions.sms_consent import sms_opted_in, sms_opted_out
from messaging.models import (
    Conversation,
    DeliveryStatus,
    InboundSms,
    Message,
    OutboxPurpose,
    OutboxStatus,
    SmsOutbox,
)
from messaging.selectors import messages_after
from messaging.services import post_message
from messaging.sms import simulate, texts
from messaging.sms.inbound import register_inbound_handler, unregister_inbound_handler
from messaging.tasks import deliver_sms
from people.models import Channel, ConsentKind, ConsentRecord, ConsentSource, Participant
from people.selectors import sms_allowed
from people.services import withdraw_consent
from programmes.models import Enrolment, Programme
from tests.support import sms
from tests.support.factories import World, enrol, make_programme
from tests.support.sms import phone_of

pytestmark = pytest.mark.django_db

STOP_FAMILY = [
    "STOP",
    "  sToP ",
    "\tUnsubscribe\n",
    "optout.",
    "STOPALL",
    "cancel",
    "End",
    "qUiT!",
    "\u00a0REVOKE\u00a0",
    "\uff33\uff34\uff2f\uff30",  # STOP in full-width letters
    "stop\u200b",
]
START_FAMILY = ["START", " unstop ", "Yes!", "\nsTaRt\t"]
HELP_FAMILY = ["HELP", " info ", "Help.", "\thElP\n"]


def thread(enrolment: Enrolment) -> list[dict[str, Any]]:
    return messages_after(Conversation.objects.get(enrolment=enrolment), after_seq=0)


def text(client: Client, enrolment: Enrolment, body: str, **fields: str) -> str:
    """A signed inbound text from the enrolment's person; returns its MessageSid."""
    sid = simulate.new_message_sid()
    response = sms.inbound(client, sender=phone_of(enrolment), body=body, message_sid=sid, **fields)
    assert response.status_code == 200, response.content[:200]
    return sid


def outcome(sid: str) -> str:
    return InboundSms.objects.get(message_sid=sid).outcome


def peer_says(world: World, body: str) -> Message:
    return post_message(
        conversation_id=Conversation.objects.get(enrolment=world.own).pk,
        sender=world.peer,
        sender_role="peer_supporter",
        channel="web",
        body=body,
        client_id=uuid.uuid4().hex,
    ).message


def sms_consents(participant: Participant) -> list[ConsentRecord]:
    return list(
        ConsentRecord.objects.filter(participant=participant, kind=ConsentKind.SMS).order_by(
            "granted_at", "pk"
        )
    )


class Received:
    """A signal receiver that remembers what it was sent."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        self.calls.append({"sender": sender, **kwargs})


@pytest.fixture
def opted_out_receiver() -> Iterator[Received]:
    receiver = Received()
    sms_opted_out.connect(receiver, weak=False)
    try:
        yield receiver
    finally:
        sms_opted_out.disconnect(receiver)


@pytest.fixture
def opted_in_receiver() -> Iterator[Received]:
    receiver = Received()
    sms_opted_in.connect(receiver, weak=False)
    try:
        yield receiver
    finally:
        sms_opted_in.disconnect(receiver)


# --- STOP -------------------------------------------------------------------------------


@pytest.mark.parametrize("word", STOP_FAMILY, ids=repr)
def test_a_stop_family_word_withdraws_the_sms_consent_and_keeps_the_record(
    twilio: Client, world: World, word: str
) -> None:
    participant = world.own.participant
    [before] = sms_consents(participant)
    sid = text(twilio, world.own, word)
    assert outcome(sid) == "opted_out"
    [after] = sms_consents(participant)
    assert after.pk == before.pk
    assert after.withdrawn_at is not None
    assert after.withdrawn_source == ConsentSource.SMS
    assert not sms_allowed(participant)


DIRECTION_MARKS = {
    "RLM": ("\u200f", "\u200f"),
    "LRM": ("\u200e", "\u200e"),
    "ALM": ("\u061c", ""),
    "RLE-PDF": ("\u202b", "\u202c"),
    "RLI-PDI": ("\u2067", "\u2069"),
    "FSI-PDI": ("\u2068", "\u2069"),
}


@pytest.mark.parametrize(("before", "after"), DIRECTION_MARKS.values(), ids=DIRECTION_MARKS.keys())
def test_a_stop_wrapped_in_direction_marks_withdraws_the_sms_consent(
    twilio: Client, world: World, before: str, after: str
) -> None:
    # Latin text typed in a right-to-left context (Arabic, Hebrew, Farsi keyboards) can carry
    # these invisible marks; the person sees STOP on their screen and must be opted out.
    sid = text(twilio, world.own, f"{before}STOP{after}")
    assert outcome(sid) == "opted_out"
    assert not sms_allowed(world.own.participant)


def test_stop_cancels_the_persons_waiting_texts(
    twilio: Client, world: World, on_commit: Any
) -> None:
    # Posted outside on_commit(): their send tasks never run, so the rows stay pending.
    waiting = peer_says(world, "Are you free tomorrow?")
    other_conversation = Conversation.objects.get(enrolment=world.others)
    others_waiting = post_message(
        conversation_id=other_conversation.pk,
        sender=world.other_peer,
        sender_role="peer_supporter",
        channel="web",
        body="For someone else",
        client_id="other-1",
    ).message
    with on_commit():
        text(twilio, world.own, "STOP")
    row = SmsOutbox.objects.get(message=waiting)
    assert (row.status, row.delivery_status) == (OutboxStatus.SKIPPED, DeliveryStatus.NOT_SENT)
    assert SmsOutbox.objects.get(message=others_waiting).status == OutboxStatus.PENDING


def test_stop_cancels_a_waiting_help_answer_too(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any
) -> None:
    # HELP then STOP in quick succession: after STOP nothing more is texted, not even the
    # answer to the HELP still waiting in the outbox.
    text(twilio, world.own, "HELP")  # its send task never runs: the row stays pending
    with on_commit():
        text(twilio, world.own, "STOP")
    row = SmsOutbox.objects.get(purpose=OutboxPurpose.KEYWORD_REPLY)
    assert (row.status, row.delivery_status) == (OutboxStatus.SKIPPED, DeliveryStatus.NOT_SENT)
    with on_commit():
        deliver_sms(row.pk)  # what a late task (or the sweeper) would do
    assert fake_twilio.sent == []


def test_stop_posts_the_persons_text_and_a_system_notice(twilio: Client, world: World) -> None:
    sid = text(twilio, world.own, "  sToP ")
    assert [(m["channel"], m["sender"]["role"], m["body"]) for m in thread(world.own)] == [
        ("sms", "participant", "  sToP "),
        ("system", "system", texts.NOTICE_OPTED_OUT),
    ]
    assert InboundSms.objects.get(message_sid=sid).message_id is not None


def test_stop_posts_a_notice_in_every_open_conversation_of_the_person(twilio: Client) -> None:
    from programmes.services import ArmSpec

    peer_only = (ArmSpec("peer_support", "Peer support", True, False, False),)
    first = make_programme("first", arms=peer_only)
    second = make_programme("second", arms=peer_only)
    phone = phone_of(enrol(first))
    both = [Enrolment.objects.get(programme=first), enrol(second, phone=phone)]
    text(twilio, both[0], "STOP")
    for enrolment in both:
        notices = [m for m in thread(enrolment) if m["channel"] == "system"]
        assert [m["body"] for m in notices] == [texts.NOTICE_OPTED_OUT]


def test_stop_is_audited(twilio: Client, world: World) -> None:
    text(twilio, world.own, "STOP")
    [entry] = AuditEntry.objects.filter(action="sms.opted_out")
    assert (entry.target_type, entry.target_id, entry.details) == (
        "people.participant",
        str(world.own.participant.pk),
        {"source": "sms"},
    )


def test_stop_sends_the_opted_out_signal(
    twilio: Client, world: World, opted_out_receiver: Received
) -> None:
    text(twilio, world.own, "STOP")
    [call] = opted_out_receiver.calls
    assert call["participant"].pk == world.own.participant.pk
    assert call["source"] == ConsentSource.SMS


def test_a_peer_message_after_stop_is_not_texted(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any
) -> None:
    with on_commit():
        text(twilio, world.own, "STOP")
        message = peer_says(world, "Did you want to stop?")
    assert fake_twilio.sent == []
    row = SmsOutbox.objects.get(message=message)
    assert (row.status, row.delivery_status) == (OutboxStatus.SKIPPED, DeliveryStatus.NOT_SENT)


def test_a_peer_message_written_while_opted_out_is_not_texted_after_start(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any
) -> None:
    # Written while the person had said STOP, it is recorded as not sent at once; START later
    # must not deliver old messages the person never agreed to receive.
    text(twilio, world.own, "STOP")
    message = peer_says(world, "Written while you were opted out")
    with on_commit():
        text(twilio, world.own, "START")
    from messaging.tasks import sweep_sms_outbox

    SmsOutbox.objects.filter(message=message).update(
        created_at=timezone.now() - dt.timedelta(hours=1)
    )
    sweep_sms_outbox()
    assert fake_twilio.sent == []
    row = SmsOutbox.objects.get(message=message)
    assert (row.status, row.delivery_status) == (OutboxStatus.SKIPPED, DeliveryStatus.NOT_SENT)


def test_a_second_stop_changes_nothing(
    twilio: Client, world: World, opted_out_receiver: Received
) -> None:
    text(twilio, world.own, "STOP")
    withdrawn = sms_consents(world.own.participant)
    sid = text(twilio, world.own, "stop")
    assert sms_consents(world.own.participant) == withdrawn
    assert [r.withdrawn_at for r in sms_consents(world.own.participant)] == [
        r.withdrawn_at for r in withdrawn
    ]
    assert AuditEntry.objects.filter(action="sms.opted_out").count() == 1
    assert len(opted_out_receiver.calls) == 1
    bodies = [m["body"] for m in thread(world.own)]
    assert bodies == ["STOP", texts.NOTICE_OPTED_OUT, "stop"]
    assert outcome(sid) == "opted_out"


@pytest.mark.parametrize("word", ["STOP", "START"])
def test_stop_and_start_get_no_sms_answer_from_peerlink(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any, word: str
) -> None:
    # README: confirmations of STOP and START are Twilio's (Advanced Opt-Out).
    if word == "START":
        text(twilio, world.own, "STOP")
    with on_commit():
        text(twilio, world.own, word)
    assert fake_twilio.sent == []
    assert not SmsOutbox.objects.exists()


@pytest.mark.parametrize(
    "body",
    ["Please don't stop texting me", "stop it", "STOP STOP", "STOP?", "stopp", "helpful"],
)
def test_a_text_that_only_contains_a_keyword_is_an_ordinary_message(
    twilio: Client, world: World, body: str
) -> None:
    sid = text(twilio, world.own, body)
    assert outcome(sid) == "message"
    assert sms_allowed(world.own.participant)
    assert [m["body"] for m in thread(world.own)] == [body]


# --- START ------------------------------------------------------------------------------


@pytest.mark.parametrize("word", START_FAMILY, ids=repr)
def test_a_start_family_word_grants_the_consent_again_under_the_withdrawn_version(
    twilio: Client, world: World, word: str
) -> None:
    text(twilio, world.own, "STOP")
    sid = text(twilio, world.own, word)
    assert outcome(sid) == "opted_in"
    withdrawn, granted = sms_consents(world.own.participant)
    assert withdrawn.withdrawn_at is not None
    assert (granted.version, granted.granted_source, granted.withdrawn_at) == (
        withdrawn.version,
        ConsentSource.SMS,
        None,
    )
    assert sms_allowed(world.own.participant)


def test_start_posts_the_persons_text_and_a_system_notice(twilio: Client, world: World) -> None:
    text(twilio, world.own, "STOP")
    text(twilio, world.own, "Start")
    assert [(m["channel"], m["body"]) for m in thread(world.own)][2:] == [
        ("sms", "Start"),
        ("system", texts.NOTICE_OPTED_IN),
    ]


def test_start_is_audited(twilio: Client, world: World) -> None:
    text(twilio, world.own, "STOP")
    text(twilio, world.own, "START")
    [entry] = AuditEntry.objects.filter(action="sms.opted_in")
    assert (entry.target_id, entry.details) == (str(world.own.participant.pk), {"source": "sms"})


def test_start_sends_the_opted_in_signal(
    twilio: Client, world: World, opted_in_receiver: Received
) -> None:
    text(twilio, world.own, "STOP")
    text(twilio, world.own, "START")
    [call] = opted_in_receiver.calls
    assert call["participant"].pk == world.own.participant.pk
    assert call["source"] == ConsentSource.SMS


def test_texts_flow_again_after_start(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any
) -> None:
    # One block per request, so that each request's send runs before the next request.
    with on_commit():
        text(twilio, world.own, "STOP")
    with on_commit():
        peer_says(world, "while opted out")
    with on_commit():
        text(twilio, world.own, "START")
    with on_commit():
        peer_says(world, "welcome back")
    assert fake_twilio.bodies_to(phone_of(world.own)) == ["welcome back"]


def test_start_without_any_earlier_consent_grants_none_and_is_kept_as_a_message(
    twilio: Client, opted_in_receiver: Received
) -> None:
    # Staff enrolled this person without SMS consent (a shared phone, their safety): a text
    # saying "yes" must not turn SMS on. The text itself reaches the peer supporter.
    programme = make_programme()
    enrolment = enrol(programme, sms_consent=False)
    sid = text(twilio, enrolment, "Yes")
    assert outcome(sid) == "message"
    assert sms_consents(enrolment.participant) == []
    assert opted_in_receiver.calls == []
    assert [m["body"] for m in thread(enrolment)] == ["Yes"]


def test_start_while_opted_in_changes_nothing(
    twilio: Client, world: World, opted_in_receiver: Received
) -> None:
    before = sms_consents(world.own.participant)
    text(twilio, world.own, "START")
    assert sms_consents(world.own.participant) == before
    assert before[0].withdrawn_at is None
    assert AuditEntry.objects.filter(action="sms.opted_in").count() == 0
    assert opted_in_receiver.calls == []
    assert [m["body"] for m in thread(world.own)] == ["START"]


def test_start_does_not_move_a_web_reader_to_sms(twilio: Client) -> None:
    programme = make_programme()
    enrolment = enrol(programme, channel=Channel.WEB, sms_consent=False)
    text(twilio, enrolment, "START")
    assert Participant.objects.get(pk=enrolment.participant.pk).preferred_channel == "web"


# --- HELP -------------------------------------------------------------------------------


def set_programme_texts(programme: Programme, **fields: Any) -> None:
    Programme.objects.filter(pk=programme.pk).update(**fields)


@pytest.mark.parametrize("word", HELP_FAMILY, ids=repr)
def test_a_help_family_word_texts_the_programme_contact_and_crisis_text(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any, word: str
) -> None:
    set_programme_texts(world.programme, contact_text={"en": "Trial office: 555-0100."})
    with on_commit():
        sid = text(twilio, world.own, word)
    assert outcome(sid) == "help"
    assert fake_twilio.bodies_to(phone_of(world.own)) == ["Trial office: 555-0100.\nCall 988."]


def test_help_answers_in_the_persons_language(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any
) -> None:
    set_programme_texts(
        world.programme, contact_text={"en": "Office: 555-0100.", "fr": "Bureau : 555-0100."}
    )
    Participant.objects.filter(pk=world.own.participant.pk).update(language="fr")
    with on_commit():
        text(twilio, world.own, "HELP")
    assert fake_twilio.bodies_to(phone_of(world.own)) == ["Bureau : 555-0100.\nAppelez le 988."]


def test_help_falls_back_to_the_programmes_first_language(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any
) -> None:
    set_programme_texts(
        world.programme,
        contact_text={"en": "Office: 555-0100."},
        crisis_resources={"en": "Call 988."},
    )
    Participant.objects.filter(pk=world.own.participant.pk).update(language="fr")
    with on_commit():
        text(twilio, world.own, "HELP")
    assert fake_twilio.bodies_to(phone_of(world.own)) == ["Office: 555-0100.\nCall 988."]


def test_help_falls_back_to_the_service_text_when_the_programme_has_none(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any, settings: Any
) -> None:
    settings.SMS_HELP_FALLBACK = "Service help: call your local emergency number."
    set_programme_texts(world.programme, contact_text={}, crisis_resources={})
    with on_commit():
        text(twilio, world.own, "HELP")
    assert fake_twilio.bodies_to(phone_of(world.own)) == [
        "Service help: call your local emergency number."
    ]


def test_help_is_texted_to_a_person_who_reads_on_the_web(
    twilio: Client, fake_twilio: Any, on_commit: Any
) -> None:
    programme = make_programme()
    enrolment = enrol(programme, channel=Channel.WEB, sms_consent=False)
    with on_commit():
        text(twilio, enrolment, "HELP")
    assert fake_twilio.bodies_to(phone_of(enrolment)) == ["Call 988."]
    assert Participant.objects.get(pk=enrolment.participant.pk).preferred_channel == "web"


def test_help_is_answered_after_stop(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any
) -> None:
    with on_commit():
        text(twilio, world.own, "STOP")
        text(twilio, world.own, "HELP")
    assert fake_twilio.bodies_to(phone_of(world.own)) == ["Call 988."]
    assert not sms_allowed(world.own.participant)


def test_help_appears_in_the_thread_as_an_automated_message(twilio: Client, world: World) -> None:
    text(twilio, world.own, "HELP")
    assert [(m["channel"], m["sender"], m["body"]) for m in thread(world.own)] == [
        (
            "sms",
            {
                "id": world.own.participant.user_id,
                "role": "participant",
                "display_name": "Test Person",
            },
            "HELP",
        ),
        ("automated", {"id": None, "role": "system", "display_name": "peerlink"}, "Call 988."),
    ]


def test_help_is_answered_at_most_once_per_interval(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any, settings: Any
) -> None:
    settings.SMS_HELP_REPLY_INTERVAL_SECONDS = 120
    with on_commit():
        text(twilio, world.own, "HELP")
        second = text(twilio, world.own, "INFO")
    assert fake_twilio.bodies_to(phone_of(world.own)) == ["Call 988."]
    assert outcome(second) == "help"
    assert [m["body"] for m in thread(world.own)] == ["HELP", "Call 988.", "INFO"]


def test_help_is_answered_again_once_the_interval_has_passed(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any, settings: Any
) -> None:
    settings.SMS_HELP_REPLY_INTERVAL_SECONDS = 120
    with on_commit():
        text(twilio, world.own, "HELP")
    SmsOutbox.objects.filter(purpose=OutboxPurpose.KEYWORD_REPLY).update(
        created_at=timezone.now() - dt.timedelta(seconds=121)
    )
    with on_commit():
        text(twilio, world.own, "HELP")
    assert fake_twilio.bodies_to(phone_of(world.own)) == ["Call 988.", "Call 988."]


def test_help_from_a_person_without_a_conversation_is_texted(
    twilio: Client, fake_twilio: Any, on_commit: Any
) -> None:
    programme = make_programme()
    enrolment = enrol(programme, peer_support=False)
    with on_commit():
        sid = text(twilio, enrolment, "HELP")
    assert outcome(sid) == "help"
    assert fake_twilio.bodies_to(phone_of(enrolment)) == ["Call 988."]
    assert not Message.objects.exists()


# --- Keywords and registered handlers (survey sessions) ------------------------------------


class Handler:
    """An inbound handler that takes (or declines) every text and remembers what it saw."""

    def __init__(self, takes: bool) -> None:
        self.takes = takes
        self.seen: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> bool:
        self.seen.append(kwargs)
        return self.takes


@pytest.fixture
def taking_handler() -> Iterator[Handler]:
    handler = Handler(takes=True)
    register_inbound_handler(handler)
    try:
        yield handler
    finally:
        unregister_inbound_handler(handler)


@pytest.fixture
def declining_handler() -> Iterator[Handler]:
    handler = Handler(takes=False)
    register_inbound_handler(handler)
    try:
        yield handler
    finally:
        unregister_inbound_handler(handler)


def test_a_registered_handler_takes_an_ordinary_text(
    twilio: Client, world: World, taking_handler: Handler
) -> None:
    sid = text(twilio, world.own, "7")
    inbound = InboundSms.objects.get(message_sid=sid)
    assert (inbound.outcome, inbound.message_id) == ("handled", None)
    assert not Message.objects.exists()
    [seen] = taking_handler.seen
    assert seen["participant"].pk == world.own.participant.pk
    assert seen["enrolment"].pk == world.own.pk
    assert (seen["text"].body, seen["text"].message_sid) == ("7", sid)
    assert seen["inbound"].pk == inbound.pk


def test_start_from_someone_not_opted_out_is_an_ordinary_text(
    twilio: Client, world: World, taking_handler: Handler
) -> None:
    # "Yes" answering a survey question or the peer supporter: nothing to opt back into.
    sid = text(twilio, world.own, "Yes")
    assert outcome(sid) == "handled"
    assert [seen["text"].body for seen in taking_handler.seen] == ["Yes"]


@pytest.mark.parametrize(
    ("word", "expected"), [("STOP", "opted_out"), ("START", "opted_in"), ("HELP", "help")]
)
def test_keywords_win_over_a_registered_handler(
    twilio: Client, world: World, taking_handler: Handler, word: str, expected: str
) -> None:
    if word == "START":
        withdraw_consent(participant=world.own.participant, kind="sms", source="sms")
    sid = text(twilio, world.own, word)
    assert outcome(sid) == expected
    assert taking_handler.seen == []


def test_stop_withdraws_consent_while_a_handler_is_registered(
    twilio: Client, world: World, taking_handler: Handler
) -> None:
    text(twilio, world.own, " Stop ")
    assert not sms_allowed(world.own.participant)


def test_a_handler_that_declines_leaves_the_text_to_the_conversation(
    twilio: Client, world: World, declining_handler: Handler
) -> None:
    sid = text(twilio, world.own, "not a survey answer")
    assert outcome(sid) == "message"
    assert len(declining_handler.seen) == 1
    assert [m["body"] for m in thread(world.own)] == ["not a survey answer"]


def test_an_unregistered_handler_is_no_longer_called(twilio: Client, world: World) -> None:
    handler = Handler(takes=True)
    register_inbound_handler(handler)
    try:
        unregister_inbound_handler(handler)
        sid = text(twilio, world.own, "hello")
    finally:
        unregister_inbound_handler(handler)  # idempotent; never leak a handler that takes all
    assert outcome(sid) == "message"
    assert handler.seen == []
