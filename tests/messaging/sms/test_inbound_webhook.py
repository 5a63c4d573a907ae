"""POST /sms/twilio/inbound/ (DESIGN.md §3 data flow 2, §4, §5, §6): the signature, the
fields, bad input (a clear error and nothing written), idempotency on MessageSid, posting into
the person's conversation, fan-out to the peer supporter's sockets, routing between
programmes, and the per-number rate limit."""

from __future__ import annotations

import threading
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from audit.models import AuditEntry
from messaging.models import (
    Conversation,
    InboundSms,
    Message,
    OutboxPurpose,
    SmsIntake,
    SmsOutbox,
)
from messaging.selectors import messages_after
from messaging.services import post_message
from messaging.sms import simulate, texts
from people.models import Channel, ConsentRecord, Participant
from programmes.models import Enrolment
from programmes.services import ArmSpec
from tests.support import sms
from tests.support.factories import World, enrol, fictional_phone, make_programme, make_staff
from tests.support.sms import phone_of

pytestmark = pytest.mark.django_db

PEER_ONLY = (ArmSpec("peer_support", "Peer support", True, False, False),)
NO_PEER = (ArmSpec("texts", "Supportive texts", False, True, True),)


def conversation_of(enrolment: Enrolment) -> Conversation:
    return Conversation.objects.get(enrolment=enrolment)


def thread(enrolment: Enrolment) -> list[dict[str, Any]]:
    """Every message of the enrolment's conversation, decrypted, in seq order."""
    return messages_after(conversation_of(enrolment), after_seq=0)


def written() -> dict[str, int]:
    """How many rows an inbound webhook can write, per table."""
    return {
        "inbound": InboundSms.objects.count(),
        "messages": Message.objects.count(),
        "intake": SmsIntake.objects.count(),
        "outbox": SmsOutbox.objects.count(),
        "consent": ConsentRecord.objects.count(),
        "audit": AuditEntry.objects.count(),
    }


def new_sid() -> str:
    return simulate.new_message_sid()


def error_of(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


# --- The signature ----------------------------------------------------------------------


def test_an_unsigned_webhook_is_refused_and_writes_nothing(twilio: Client, world: World) -> None:
    before = written()
    params = simulate.inbound_params(sender=phone_of(world.own), body="hello")
    response = sms.post_signed(twilio, simulate.inbound_url(), params, signature="")
    assert error_of(response) == (403, "invalid_signature")
    assert written() == before


def test_a_signature_made_with_another_token_is_refused_and_writes_nothing(
    twilio: Client, world: World
) -> None:
    before = written()
    params = simulate.inbound_params(sender=phone_of(world.own), body="hello")
    forged = simulate.signed_request(simulate.inbound_url(), params, token="not-our-token")
    response = sms.post_signed(twilio, simulate.inbound_url(), params, signature=forged.signature)
    assert error_of(response) == (403, "invalid_signature")
    assert written() == before


def test_a_replayed_signature_with_a_changed_body_is_refused_and_writes_nothing(
    twilio: Client, world: World
) -> None:
    params = simulate.inbound_params(sender=phone_of(world.own), body="see you at 3")
    changed = urllib.parse.urlencode({**params, "Body": "see you at 4"}).encode()
    before = written()
    response = sms.post_signed(twilio, simulate.inbound_url(), params, body=changed)
    assert error_of(response) == (403, "invalid_signature")
    assert written() == before


def test_a_signature_for_another_url_is_refused_and_writes_nothing(
    twilio: Client, world: World
) -> None:
    params = simulate.inbound_params(sender=phone_of(world.own), body="hello")
    other = simulate.signed_request(sms.status_url(), params)
    before = written()
    response = sms.post_signed(twilio, simulate.inbound_url(), params, signature=other.signature)
    assert error_of(response) == (403, "invalid_signature")
    assert written() == before


# --- Fields -----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["MessageSid", "From", "Body"])
def test_a_missing_field_is_refused_and_writes_nothing(
    twilio: Client, world: World, field: str
) -> None:
    before = written()
    response = sms.inbound(twilio, sender=phone_of(world.own), body="hello", **{field: ""})
    assert error_of(response) == (400, "missing_field")
    assert written() == before


@pytest.mark.parametrize(
    "sid",
    [
        "SM123",
        "XX" + "a" * 32,
        "SM" + "a" * 31,
        "SM" + "a" * 33,
        "SM" + "g" * 32,
        "sm" + "a" * 32,
        " SM" + "a" * 32,
        "SM" + "a" * 31 + "\x00",
        "' OR 1=1 --",
    ],
    ids=["short", "prefix", "31-hex", "33-hex", "not-hex", "lower-prefix", "padded", "nul", "sql"],
)
def test_a_malformed_message_sid_is_refused_and_writes_nothing(
    twilio: Client, world: World, sid: str
) -> None:
    before = written()
    response = sms.inbound(twilio, sender=phone_of(world.own), body="hello", MessageSid=sid)
    assert error_of(response) == (400, "invalid_field")
    assert written() == before


BAD_SENDERS: dict[str, Callable[[str], str]] = {
    "national-digits": lambda e164: e164[2:],
    "no-plus": lambda e164: e164[1:],
    "whatsapp-address": lambda e164: f"whatsapp:{e164}",
    "alphanumeric": lambda _: "Alice",
    "too-short": lambda _: "+1234",
    "short-code": lambda _: "12345",
    "spaced": lambda e164: f"{e164[:2]} {e164[2:5]} {e164[5:8]} {e164[8:]}",
    "dashed": lambda e164: f"{e164[:2]}-{e164[2:5]}-{e164[5:8]}-{e164[8:]}",
    "full-width-digits": lambda e164: "+" + "".join(chr(0xFF10 + int(d)) for d in e164[1:]),
    "trailing-nul": lambda e164: e164 + "\x00",
    "two-numbers": lambda e164: f"{e164},{e164}",
}


@pytest.mark.parametrize("variant", BAD_SENDERS.values(), ids=BAD_SENDERS.keys())
def test_a_sender_that_is_not_e164_is_refused_and_writes_nothing(
    twilio: Client, world: World, variant: Callable[[str], str]
) -> None:
    before = written()
    response = sms.inbound(twilio, sender=variant(phone_of(world.own)), body="hello")
    assert error_of(response) == (400, "invalid_sender")
    assert written() == before


def test_a_sender_padded_with_spaces_is_read_as_the_number_inside(
    twilio: Client, world: World
) -> None:
    # The view strips From before the strict E.164 check: padding is not a different number.
    response = sms.inbound(twilio, sender=f" {phone_of(world.own)} ", body="padded sender")
    assert response.status_code == 200
    assert [m["body"] for m in thread(world.own)] == ["padded sender"]


@pytest.mark.parametrize(
    "num_media", ["x", "11", "-1", "1.5", "1e1", "0x1", "²"], ids=lambda v: f"NumMedia={v!r}"
)
def test_num_media_that_is_not_a_count_from_0_to_10_is_refused_and_writes_nothing(
    twilio: Client, world: World, num_media: str
) -> None:
    before = written()
    response = sms.inbound(twilio, sender=phone_of(world.own), body="hello", NumMedia=num_media)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_field"
    assert written() == before


@pytest.mark.parametrize("num_media", ["0", "10"])
def test_num_media_from_0_to_10_is_accepted_and_recorded(
    twilio: Client, world: World, num_media: str
) -> None:
    sid = new_sid()
    response = sms.inbound(
        twilio, sender=phone_of(world.own), body="hi", message_sid=sid, NumMedia=num_media
    )
    assert response.status_code == 200
    assert InboundSms.objects.get(message_sid=sid).num_media == int(num_media)


def test_a_missing_num_media_is_read_as_no_media(twilio: Client, world: World) -> None:
    sid = new_sid()
    response = sms.inbound(
        twilio, sender=phone_of(world.own), body="hi", message_sid=sid, NumMedia=""
    )
    assert response.status_code == 200
    assert InboundSms.objects.get(message_sid=sid).num_media == 0
    assert [m["channel"] for m in thread(world.own)] == ["sms"]


def test_an_mms_message_sid_is_accepted(twilio: Client, world: World) -> None:
    sid = "MM" + uuid.uuid4().hex
    response = sms.inbound(
        twilio, sender=phone_of(world.own), body="a picture", message_sid=sid, NumMedia="1"
    )
    assert response.status_code == 200
    assert Message.objects.filter(client_id=f"sms:{sid}").exists()


def test_a_body_of_4001_characters_is_refused_and_writes_nothing(
    twilio: Client, world: World
) -> None:
    before = written()
    response = sms.inbound(twilio, sender=phone_of(world.own), body="a" * 4001)
    assert error_of(response) == (400, "body_too_long")
    assert written() == before


def test_a_body_of_4001_characters_from_an_unknown_number_is_refused_and_writes_nothing(
    twilio: Client, world: World
) -> None:
    before = written()
    response = sms.inbound(twilio, sender=fictional_phone(), body="a" * 4001)
    assert error_of(response) == (400, "body_too_long")
    assert written() == before


def test_a_1600_character_body_is_stored_whole(twilio: Client, world: World) -> None:
    body = "".join(chr(ord("a") + n % 26) for n in range(1599)) + "!"
    response = sms.inbound(twilio, sender=phone_of(world.own), body=body)
    assert response.status_code == 200
    [message] = thread(world.own)
    assert message["body"] == body


def test_a_body_of_exactly_4000_characters_is_stored_whole(twilio: Client, world: World) -> None:
    body = "é" * 3999 + "."
    response = sms.inbound(twilio, sender=phone_of(world.own), body=body)
    assert response.status_code == 200
    [message] = thread(world.own)
    assert message["body"] == body


UNICODE_BODIES = {
    # One assigned or unassigned (but valid) scalar from each of the 17 planes.
    "every-plane": "".join(chr(plane * 0x10000 + 0x100) for plane in range(17)),
    "astral-scripts": "\U0001d400\U00020000\U00030000\U000e0041\U000f0000\U0010fffd",
    "emoji": "I made it 🎉😀👋🏽",
    "zwj-sequences": "👩‍❤️‍💋‍👨 👨‍👩‍👧‍👦 🧑🏿‍🦯 🏳️‍🌈 🏴‍☠️",
    "flags": "🇨🇦🇲🇽🇺🇸 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    "keycaps-and-selectors": "1️⃣ #️⃣ ☺︎ ☺️",
    "arabic-rtl-with-marks": "\u200fمرحبا، كيف حالك؟\u200e 123 \u061c",  # noqa: RUF001
    "hebrew-rtl-with-embeddings": "\u202bשלום, מה שלומך?\u202c \u2067עברית\u2069 \u202eabc\u202c",  # noqa: RUF001
    "combining-characters": "e\u0301 a\u0308\u0304 Z\u0351\u0352\u0353\u0354 \u0915\u094d\u0937",
    "nfkc-distinct-forms": "ﬁ Ⅻ ｆｕｌｌ ① ㎞",  # noqa: RUF001
    "nul-and-controls": "a\x00b\x01c\x07d\x1be\x7ff\x85g\r\nh\ti\x0bj\x0ck",
    "line-and-paragraph-separators": "one\u2028two\u2029three",
    "noncharacters-and-bom": "\ufeff\ufdd0\ufffe\uffff\U0001fffe end",
    "replacement-character": "\ufffd already here",
}


@pytest.mark.parametrize("body", UNICODE_BODIES.values(), ids=UNICODE_BODIES.keys())
def test_the_body_round_trips_exactly(twilio: Client, world: World, body: str) -> None:
    response = sms.inbound(twilio, sender=phone_of(world.own), body=body)
    assert response.status_code == 200
    [message] = thread(world.own)
    assert message["body"] == body
    assert message["channel"] == "sms"


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.text(max_size=300))
def test_any_text_is_kept_exactly_or_becomes_a_notice(
    twilio: Client, world: World, settings: Any, body: str
) -> None:
    settings.SMS_INBOUND_PER_NUMBER_PER_MINUTE = 10_000
    sid = new_sid()
    response = sms.inbound(twilio, sender=phone_of(world.own), body=body, message_sid=sid)
    assert response.status_code == 200
    assert InboundSms.objects.filter(message_sid=sid).exists()
    posted = Message.objects.filter(client_id=f"sms:{sid}").first()
    if body.strip():
        assert posted is not None
        assert [m["body"] for m in thread(world.own) if m["seq"] == posted.seq] == [body]
    else:
        assert posted is None
        assert Message.objects.filter(client_id=f"sms-note:{sid}").exists()


@hypothesis_settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sender=st.one_of(st.text(max_size=40), st.from_regex(r"\+[0-9]{0,17}", fullmatch=True)))
def test_any_from_is_taken_or_refused_cleanly(twilio: Client, world: World, sender: str) -> None:
    before = written()
    response = sms.inbound(twilio, sender=sender, body="hello")
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert response.json()["code"] == "invalid_sender"
        assert written() == before


def test_the_body_reads_back_exactly_through_the_rest_history(twilio: Client, world: World) -> None:
    from tests.support.factories import signed_in_client

    body = UNICODE_BODIES["every-plane"] + UNICODE_BODIES["zwj-sequences"] + "\x00\u200f"
    sms.inbound(twilio, sender=phone_of(world.own), body=body)
    conversation = conversation_of(world.own)
    response = signed_in_client(world.peer).get(
        f"/api/v1/conversations/{conversation.pk}/messages/"
    )
    assert response.status_code == 200
    assert [m["body"] for m in response.json()["messages"]] == [body]


def test_the_text_is_stored_encrypted(twilio: Client, world: World) -> None:
    sms.inbound(twilio, sender=phone_of(world.own), body="a sentence only the peer should read")
    raw = bytes(Message.objects.get().body_ciphertext)
    assert b"only the peer" not in raw


@pytest.mark.parametrize(
    ("body", "num_media"),
    [("", "1"), ("  \n\t ", "1"), ("", "0"), ("\u3000", "2")],
    ids=["empty-with-picture", "whitespace-with-picture", "empty-no-media", "ideographic-space"],
)
def test_a_text_without_words_posts_only_a_system_notice(
    twilio: Client, world: World, body: str, num_media: str
) -> None:
    sid = new_sid()
    response = sms.inbound(
        twilio, sender=phone_of(world.own), body=body, message_sid=sid, NumMedia=num_media
    )
    assert response.status_code == 200
    [notice] = thread(world.own)
    assert (notice["channel"], notice["sender"]["role"], notice["body"]) == (
        "system",
        "system",
        texts.NOTICE_NO_TEXT,
    )
    inbound = InboundSms.objects.get(message_sid=sid)
    assert (inbound.outcome, inbound.message_id, inbound.num_media) == (
        "message",
        None,
        int(num_media),
    )


def test_a_text_with_a_picture_posts_the_text_and_a_media_notice(
    twilio: Client, world: World
) -> None:
    response = sms.inbound(twilio, sender=phone_of(world.own), body="look at this", NumMedia="1")
    assert response.status_code == 200
    assert [(m["channel"], m["sender"]["role"], m["body"]) for m in thread(world.own)] == [
        ("sms", "participant", "look at this"),
        ("system", "system", texts.NOTICE_MEDIA),
    ]


def test_invalid_utf8_in_a_signed_form_body_is_read_with_replacement_characters(
    twilio: Client, world: World
) -> None:
    # Django decodes the form with errors="replace"; Twilio signs what it sent, so the
    # signature here is computed over the decoded fields, as the view checks it.
    params = simulate.inbound_params(sender=phone_of(world.own), body="\ufffd\ufffdok\ufffd(")
    fields = {k: v for k, v in params.items() if k != "Body"}
    raw = urllib.parse.urlencode(fields).encode() + b"&Body=%FF%FEok%C3%28"
    response = sms.post_signed(twilio, simulate.inbound_url(), params, body=raw)
    assert response.status_code == 200
    assert [m["body"] for m in thread(world.own)] == ["\ufffd\ufffdok\ufffd("]


def test_invalid_utf8_that_breaks_the_signature_is_refused_and_writes_nothing(
    twilio: Client, world: World
) -> None:
    params = simulate.inbound_params(sender=phone_of(world.own), body="ok")
    fields = {k: v for k, v in params.items() if k != "Body"}
    raw = urllib.parse.urlencode(fields).encode() + b"&Body=%FF%FEok%C3%28%ED%A0%80"
    before = written()
    response = sms.post_signed(twilio, simulate.inbound_url(), params, body=raw)
    assert error_of(response) == (403, "invalid_signature")
    assert written() == before


def test_a_get_is_not_allowed(twilio: Client, world: World) -> None:
    before = written()
    assert twilio.get("/sms/twilio/inbound/").status_code == 405
    assert written() == before


def test_the_answer_is_empty_twiml(twilio: Client, world: World) -> None:
    # Replies go through the outbox (recorded, retried), never as TwiML in the answer.
    response = sms.inbound(twilio, sender=phone_of(world.own), body="HELP")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert b"<Message" not in response.content
    assert b"<Response" in response.content


# --- Idempotency ------------------------------------------------------------------------


def test_the_same_message_sid_twice_makes_one_message(twilio: Client, world: World) -> None:
    sid = new_sid()
    first = sms.inbound(twilio, sender=phone_of(world.own), body="only once", message_sid=sid)
    second = sms.inbound(twilio, sender=phone_of(world.own), body="only once", message_sid=sid)
    assert (first.status_code, second.status_code) == (200, 200)
    assert InboundSms.objects.filter(message_sid=sid).count() == 1
    assert [m["body"] for m in thread(world.own)] == ["only once"]


def test_a_redelivery_with_a_different_body_keeps_the_first(twilio: Client, world: World) -> None:
    sid = new_sid()
    sms.inbound(twilio, sender=phone_of(world.own), body="the original", message_sid=sid)
    again = sms.inbound(twilio, sender=phone_of(world.own), body="a rewrite", message_sid=sid)
    assert again.status_code == 200
    assert [m["body"] for m in thread(world.own)] == ["the original"]


def test_a_redelivered_help_is_answered_once(
    twilio: Client, world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    sid = new_sid()
    with django_capture_on_commit_callbacks(execute=True):
        sms.inbound(twilio, sender=phone_of(world.own), body="HELP", message_sid=sid)
        sms.inbound(twilio, sender=phone_of(world.own), body="HELP", message_sid=sid)
    assert len(fake_twilio.bodies_to(phone_of(world.own))) == 1
    assert SmsOutbox.objects.filter(purpose=OutboxPurpose.KEYWORD_REPLY).count() == 1


def test_a_redelivered_stop_changes_consent_once(
    twilio: Client, world: World, django_capture_on_commit_callbacks: Any
) -> None:
    sid = new_sid()
    consents = ConsentRecord.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        sms.inbound(twilio, sender=phone_of(world.own), body="STOP", message_sid=sid)
        sms.inbound(twilio, sender=phone_of(world.own), body="STOP", message_sid=sid)
    assert ConsentRecord.objects.count() == consents
    assert AuditEntry.objects.filter(action="sms.opted_out").count() == 1
    notices = [m for m in thread(world.own) if m["body"] == texts.NOTICE_OPTED_OUT]
    assert len(notices) == 1


def test_a_redelivered_text_from_an_unknown_number_is_one_intake_entry(
    twilio: Client, world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    sid, stranger = new_sid(), fictional_phone()
    with django_capture_on_commit_callbacks(execute=True):
        sms.inbound(twilio, sender=stranger, body="who is this?", message_sid=sid)
        sms.inbound(twilio, sender=stranger, body="who is this?", message_sid=sid)
    assert SmsIntake.objects.count() == 1
    assert len(fake_twilio.bodies_to(stranger)) == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_identical_webhooks_make_one_message(world: World) -> None:
    phone = phone_of(world.own)
    params = simulate.inbound_params(sender=phone, body="sent twice at once")
    barrier = threading.Barrier(2)
    statuses: list[int] = []
    errors: list[str] = []

    def deliver() -> None:
        try:
            barrier.wait(timeout=30)
            response = sms.post_signed(
                Client(raise_request_exception=False), simulate.inbound_url(), params
            )
            statuses.append(response.status_code)
        except Exception as exc:
            errors.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert statuses == [200, 200]
    assert InboundSms.objects.filter(message_sid=params["MessageSid"]).count() == 1
    assert [m["body"] for m in thread(world.own)] == ["sent twice at once"]


# --- Posting into the conversation ------------------------------------------------------


def test_a_known_senders_text_lands_in_their_conversation_as_sms(
    twilio: Client, world: World
) -> None:
    conversation = conversation_of(world.own)
    post_message(
        conversation_id=conversation.pk,
        sender=world.peer,
        sender_role="peer_supporter",
        channel="web",
        body="How was today?",
        client_id=uuid.uuid4().hex,
    )
    sid = new_sid()
    response = sms.inbound(twilio, sender=phone_of(world.own), body="Better", message_sid=sid)
    assert response.status_code == 200
    message = Message.objects.get(conversation=conversation, seq=2)
    assert (message.channel, message.sender_role, message.sender_id, message.client_id) == (
        "sms",
        "participant",
        world.own.participant.user_id,
        f"sms:{sid}",
    )
    assert [m["body"] for m in thread(world.own)] == ["How was today?", "Better"]
    conversation.refresh_from_db()
    assert conversation.last_seq == 2


def test_the_inbound_record_points_at_the_message(twilio: Client, world: World) -> None:
    sid = new_sid()
    sms.inbound(twilio, sender=phone_of(world.own), body="hi", message_sid=sid, NumMedia="1")
    inbound = InboundSms.objects.get(message_sid=sid)
    message = Message.objects.get(client_id=f"sms:{sid}")
    assert (inbound.outcome, inbound.message_id, inbound.participant_id, inbound.num_media) == (
        "message",
        message.pk,
        world.own.participant.pk,
        1,
    )


def test_a_text_from_one_person_does_not_reach_another_persons_conversation(
    twilio: Client, world: World
) -> None:
    sms.inbound(twilio, sender=phone_of(world.own), body="for my peer only")
    assert thread(world.others) == []


def test_a_text_from_a_person_is_not_texted_back_to_them(
    twilio: Client, world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        sms.inbound(twilio, sender=phone_of(world.own), body="just checking in")
    assert fake_twilio.sent == []
    assert not SmsOutbox.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_a_peer_supporters_socket_receives_the_text_live(
    ws: Any, connect: Any, chat_world: World
) -> None:
    peer = await connect(chat_world.peer)
    phone = await database_sync_to_async(phone_of)(chat_world.own)
    sid = new_sid()
    response = await database_sync_to_async(sms.inbound)(
        Client(raise_request_exception=False), sender=phone, body="Are you around?", message_sid=sid
    )
    assert response.status_code == 200
    frame = await ws.last(peer, "message")
    message = frame["message"]
    assert (message["body"], message["channel"], message["seq"]) == ("Are you around?", "sms", 1)
    assert message["sender"]["role"] == "participant"
    conversation = await database_sync_to_async(conversation_of)(chat_world.own)
    assert message["conversation"] == str(conversation.pk)


@pytest.mark.django_db(transaction=True)
async def test_another_peer_supporters_socket_hears_nothing_of_the_text(
    ws: Any, connect: Any, chat_world: World
) -> None:
    other_peer = await connect(chat_world.other_peer)
    phone = await database_sync_to_async(phone_of)(chat_world.own)
    await database_sync_to_async(sms.inbound)(
        Client(raise_request_exception=False), sender=phone, body="Not for the other peer"
    )
    frames = await ws.quiet(other_peer)
    assert [f for f in frames if f["type"] == "message"] == []


def test_a_web_reader_with_sms_consent_who_texts_is_switched_to_sms(
    twilio: Client, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    programme = make_programme()
    peer = make_staff(programme, "peer_supporter")
    enrolment = enrol(programme, channel=Channel.WEB)
    with django_capture_on_commit_callbacks(execute=True):
        sms.inbound(twilio, sender=phone_of(enrolment), body="texting now")
        post_message(
            conversation_id=conversation_of(enrolment).pk,
            sender=peer,
            sender_role="peer_supporter",
            channel="web",
            body="Got your text",
            client_id="reply-1",
        )
    assert Participant.objects.get(pk=enrolment.participant.pk).preferred_channel == "sms"
    assert fake_twilio.bodies_to(phone_of(enrolment)) == ["Got your text"]


def test_a_web_reader_without_sms_consent_who_texts_stays_on_the_web(
    twilio: Client, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    programme = make_programme()
    peer = make_staff(programme, "peer_supporter")
    enrolment = enrol(programme, channel=Channel.WEB, sms_consent=False)
    with django_capture_on_commit_callbacks(execute=True):
        sms.inbound(twilio, sender=phone_of(enrolment), body="texting without consent")
        post_message(
            conversation_id=conversation_of(enrolment).pk,
            sender=peer,
            sender_role="peer_supporter",
            channel="web",
            body="Answer on the web",
            client_id="reply-1",
        )
    assert Participant.objects.get(pk=enrolment.participant.pk).preferred_channel == "web"
    assert fake_twilio.sent == []
    assert not SmsOutbox.objects.exists()
    bodies = [m["body"] for m in thread(enrolment)]
    # The peer supporter is told why their answer will not go by SMS.
    assert bodies == [
        "texting without consent",
        texts.NOTICE_TEXTED_WITHOUT_SMS,
        "Answer on the web",
    ]


def test_the_sms_is_off_notice_comes_once_a_day(twilio: Client) -> None:
    programme = make_programme()
    enrolment = enrol(programme, channel=Channel.WEB, sms_consent=False)
    for body in ("first text", "second text"):
        sms.inbound(twilio, sender=phone_of(enrolment), body=body)
    bodies = [m["body"] for m in thread(enrolment)]
    assert bodies == ["first text", texts.NOTICE_TEXTED_WITHOUT_SMS, "second text"]


# --- Routing between programmes -----------------------------------------------------------


def two_programmes(*, second_arms: tuple[ArmSpec, ...] = PEER_ONLY) -> tuple[Enrolment, Enrolment]:
    """One person enrolled in two programmes, each with its own SMS number; the second
    enrolment is the newer."""
    phone = fictional_phone()
    first = make_programme("first", arms=PEER_ONLY, sms_number=fictional_phone())
    second = make_programme("second", arms=second_arms, sms_number=fictional_phone())
    return enrol(first, phone=phone), enrol(second, phone=phone, peer_support=None)


def test_a_text_to_a_programmes_own_number_goes_to_that_enrolment(twilio: Client) -> None:
    older, newer = two_programmes()
    sms.inbound(twilio, sender=phone_of(older), body="to the first", to=older.programme.sms_number)
    sms.inbound(twilio, sender=phone_of(older), body="to the second", to=newer.programme.sms_number)
    assert [m["body"] for m in thread(older)] == ["to the first"]
    assert [m["body"] for m in thread(newer)] == ["to the second"]


def test_a_text_to_a_number_no_programme_owns_goes_to_the_newest_open_enrolment(
    twilio: Client,
) -> None:
    older, newer = two_programmes()
    sms.inbound(twilio, sender=phone_of(older), body="to the shared number")
    assert thread(older) == []
    assert [m["body"] for m in thread(newer)] == ["to the shared number"]


def test_a_text_skips_a_newer_enrolment_without_a_conversation(twilio: Client) -> None:
    older, newer = two_programmes(second_arms=NO_PEER)
    sms.inbound(twilio, sender=phone_of(older), body="to the shared number")
    assert not Conversation.objects.filter(enrolment=newer).exists()
    assert [m["body"] for m in thread(older)] == ["to the shared number"]
    assert not SmsIntake.objects.exists()


def test_a_text_skips_a_newer_enrolment_that_has_ended(twilio: Client) -> None:
    from programmes.models import EnrolmentStatus
    from programmes.services import end_enrolment

    older, newer = two_programmes()
    end_enrolment(enrolment=newer, status=EnrolmentStatus.COMPLETED, ended_by=None)
    sms.inbound(twilio, sender=phone_of(older), body="still here")
    assert thread(newer) == []
    assert [m["body"] for m in thread(older)] == ["still here"]


# --- The per-number rate limit ------------------------------------------------------------


def test_a_third_text_within_a_minute_is_refused_and_writes_nothing(
    twilio: Client, world: World, settings: Any
) -> None:
    settings.SMS_INBOUND_PER_NUMBER_PER_MINUTE = 2
    phone = phone_of(world.own)
    assert sms.inbound(twilio, sender=phone, body="one").status_code == 200
    assert sms.inbound(twilio, sender=phone, body="two").status_code == 200
    before = written()
    response = sms.inbound(twilio, sender=phone, body="three")
    assert error_of(response) == (429, "rate_limited")
    assert written() == before
    assert [m["body"] for m in thread(world.own)] == ["one", "two"]


@pytest.mark.parametrize("keyword", ["STOP", "start", " Help "])
def test_a_keyword_over_the_rate_limit_is_still_taken(
    twilio: Client, world: World, settings: Any, keyword: str
) -> None:
    # A STOP must never be lost to a rate limit; keywords change nothing twice anyway.
    settings.SMS_INBOUND_PER_NUMBER_PER_MINUTE = 1
    phone = phone_of(world.own)
    assert sms.inbound(twilio, sender=phone, body="one").status_code == 200
    assert sms.inbound(twilio, sender=phone, body="two").status_code == 429
    assert sms.inbound(twilio, sender=phone, body=keyword).status_code == 200
    assert [m["body"] for m in thread(world.own)][:2] == ["one", keyword]


def test_the_rate_limit_of_one_number_leaves_another_number_alone(
    twilio: Client, world: World, settings: Any
) -> None:
    settings.SMS_INBOUND_PER_NUMBER_PER_MINUTE = 2
    for n in range(3):
        sms.inbound(twilio, sender=phone_of(world.own), body=f"own {n}")
    response = sms.inbound(twilio, sender=phone_of(world.others), body="from the other person")
    assert response.status_code == 200
    assert [m["body"] for m in thread(world.others)] == ["from the other person"]


def test_a_refused_webhook_does_not_count_toward_the_rate_limit(
    twilio: Client, world: World, settings: Any
) -> None:
    settings.SMS_INBOUND_PER_NUMBER_PER_MINUTE = 1
    phone = phone_of(world.own)
    assert sms.inbound(twilio, sender=phone, body="x" * 4001).status_code == 400
    assert (
        sms.post_signed(
            twilio,
            simulate.inbound_url(),
            simulate.inbound_params(sender=phone, body="forged"),
            signature="bogus",
        ).status_code
        == 403
    )
    assert sms.inbound(twilio, sender=phone, body="the real one").status_code == 200
    assert [m["body"] for m in thread(world.own)] == ["the real one"]
