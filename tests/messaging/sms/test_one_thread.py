"""One thread whatever the channel (DESIGN.md §2, §3): web chat and texts from the same person
share one conversation and one gap-free sequence; the peer supporter's replies reach the
person by SMS or on the web as they choose (POST /api/v1/me/channel/); automated and system
messages are labelled as such (channel `automated`/`system`, sender `peerlink`)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from messaging.models import Conversation, SmsOutbox
from messaging.selectors import messages_after
from messaging.services import post_message
from messaging.sms import simulate, texts
from people.models import Channel, Participant
from people.selectors import participant_profile
from programmes.models import Enrolment
from tests.support import sms
from tests.support.factories import World, enrol, make_programme, make_staff, signed_in_client
from tests.support.sms import phone_of

pytestmark = pytest.mark.django_db

CHANNEL_URL = "/api/v1/me/channel/"
PEERLINK = {"id": None, "role": "system", "display_name": "peerlink"}


def conversation_of(enrolment: Enrolment) -> Conversation:
    return Conversation.objects.get(enrolment=enrolment)


def text(client: Client, enrolment: Enrolment, body: str, **fields: str) -> str:
    sid = simulate.new_message_sid()
    response = sms.inbound(client, sender=phone_of(enrolment), body=body, message_sid=sid, **fields)
    assert response.status_code == 200, response.content[:200]
    return sid


def say(enrolment: Enrolment, user: Any, role: str, body: str) -> None:
    post_message(
        conversation_id=conversation_of(enrolment).pk,
        sender=user,
        sender_role=role,
        channel="web",
        body=body,
        client_id=uuid.uuid4().hex,
    )


def history(user: Any, enrolment: Enrolment) -> list[dict[str, Any]]:
    response = signed_in_client(user).get(
        f"/api/v1/conversations/{conversation_of(enrolment).pk}/messages/"
    )
    assert response.status_code == 200, response.content[:200]
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def preferred_channel(enrolment: Enrolment) -> str:
    return Participant.objects.get(pk=enrolment.participant.pk).preferred_channel


def choose(user: Any, channel: Any) -> Any:
    return signed_in_client(user).post(
        CHANNEL_URL, {"preferred_channel": channel}, content_type="application/json"
    )


# --- One sequence, two channels -----------------------------------------------------------


def test_web_chat_and_texts_share_one_gap_free_sequence(twilio: Client, world: World) -> None:
    person = world.own.participant.user
    say(world.own, person, "participant", "hi from the browser")
    text(twilio, world.own, "hi from my phone")
    say(world.own, world.peer, "peer_supporter", "hi both ways")
    text(twilio, world.own, "HELP")
    say(world.own, person, "participant", "back on the web")
    messages = messages_after(conversation_of(world.own), after_seq=0)
    assert [(m["seq"], m["channel"], m["sender"]["role"]) for m in messages] == [
        (1, "web", "participant"),
        (2, "sms", "participant"),
        (3, "web", "peer_supporter"),
        (4, "sms", "participant"),
        (5, "automated", "system"),
        (6, "web", "participant"),
    ]
    assert Conversation.objects.filter(enrolment=world.own).count() == 1
    assert conversation_of(world.own).last_seq == 6


@pytest.mark.django_db(transaction=True)
async def test_a_web_message_and_a_text_reach_the_peers_socket_in_order(
    ws: Any, connect: Any, chat_world: World
) -> None:
    peer = await connect(chat_world.peer)
    person = await connect(chat_world.own.participant.user)
    conversation = await database_sync_to_async(conversation_of)(chat_world.own)
    await person.send_json_to(
        {
            "type": "send",
            "conversation": str(conversation.pk),
            "client_id": "web-1",
            "body": "typed in the browser",
        }
    )
    acked = (await ws.last(person, "ack"))["message"]
    phone = await database_sync_to_async(phone_of)(chat_world.own)
    response = await database_sync_to_async(sms.inbound)(
        Client(raise_request_exception=False), sender=phone, body="texted from my phone"
    )
    assert response.status_code == 200
    first = (await ws.last(peer, "message"))["message"]
    second = (await ws.last(peer, "message"))["message"]
    assert first == acked
    assert [(m["seq"], m["channel"], m["body"]) for m in (first, second)] == [
        (1, "web", "typed in the browser"),
        (2, "sms", "texted from my phone"),
    ]
    assert first["sender"] == second["sender"]


@pytest.mark.django_db(transaction=True)
async def test_the_help_answer_reaches_the_peers_socket_labelled_automated(
    ws: Any, connect: Any, chat_world: World
) -> None:
    peer = await connect(chat_world.peer)
    phone = await database_sync_to_async(phone_of)(chat_world.own)
    await database_sync_to_async(sms.inbound)(
        Client(raise_request_exception=False), sender=phone, body="HELP"
    )
    asked = (await ws.last(peer, "message"))["message"]
    answer = (await ws.last(peer, "message"))["message"]
    assert (asked["channel"], asked["body"]) == ("sms", "HELP")
    assert (answer["channel"], answer["sender"], answer["body"]) == (
        "automated",
        PEERLINK,
        "Call 988.",
    )


# --- Replies follow the person's channel ----------------------------------------------------


def test_peer_replies_go_by_sms_to_a_person_who_reads_by_sms(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any
) -> None:
    assert preferred_channel(world.own) == Channel.SMS
    with on_commit():
        text(twilio, world.own, "can we talk?")
        say(world.own, world.peer, "peer_supporter", "Of course, I'm here.")
    assert fake_twilio.bodies_to(phone_of(world.own)) == ["Of course, I'm here."]


def test_peer_replies_are_not_texted_to_a_person_who_reads_on_the_web(
    fake_twilio: Any, on_commit: Any
) -> None:
    programme = make_programme()
    peer = make_staff(programme, "peer_supporter")
    enrolment = enrol(programme, channel=Channel.WEB)
    with on_commit():
        say(enrolment, enrolment.participant.user, "participant", "hello from the browser")
        say(enrolment, peer, "peer_supporter", "hello back, on the web")
    assert fake_twilio.sent == []
    assert not SmsOutbox.objects.exists()


def test_a_text_reply_shows_its_delivery_in_the_history(
    twilio: Client, world: World, on_commit: Any
) -> None:
    with on_commit():
        text(twilio, world.own, "can we talk?")
        say(world.own, world.peer, "peer_supporter", "Yes.")
    person_text, reply = history(world.peer, world.own)
    assert "delivery" not in person_text
    assert reply["delivery"] == "queued"


# --- The service user's channel choice ---------------------------------------------------


def test_a_service_user_can_switch_to_the_web(world: World) -> None:
    response = choose(world.own.participant.user, "web")
    assert response.status_code == 200
    body = response.json()
    assert (body["kind"], body["preferred_channel"]) == ("participant", "web")
    assert preferred_channel(world.own) == Channel.WEB


def test_after_switching_to_the_web_peer_replies_are_not_texted(
    world: World, fake_twilio: Any, on_commit: Any
) -> None:
    choose(world.own.participant.user, "web")
    with on_commit():
        say(world.own, world.peer, "peer_supporter", "read this in the browser")
    assert fake_twilio.sent == []


def test_a_service_user_with_sms_consent_can_switch_back_to_sms(
    world: World, fake_twilio: Any, on_commit: Any
) -> None:
    choose(world.own.participant.user, "web")
    response = choose(world.own.participant.user, "sms")
    assert (response.status_code, response.json()["preferred_channel"]) == (200, "sms")
    with on_commit():
        say(world.own, world.peer, "peer_supporter", "back to texts")
    assert fake_twilio.bodies_to(phone_of(world.own)) == ["back to texts"]


def test_switching_to_sms_without_consent_is_refused_and_changes_nothing() -> None:
    programme = make_programme()
    enrolment = enrol(programme, channel=Channel.WEB, sms_consent=False)
    response = choose(enrolment.participant.user, "sms")
    assert (response.status_code, response.json()["code"]) == (409, "no_sms_consent")
    assert preferred_channel(enrolment) == Channel.WEB


def test_switching_to_sms_after_texting_stop_is_refused(twilio: Client, world: World) -> None:
    choose(world.own.participant.user, "web")
    text(twilio, world.own, "STOP")
    response = choose(world.own.participant.user, "sms")
    assert (response.status_code, response.json()["code"]) == (409, "no_sms_consent")
    assert preferred_channel(world.own) == Channel.WEB


@pytest.mark.parametrize("who", ["peer", "supervisor", "admin", "evaluator"])
def test_staff_cannot_choose_a_channel(world: World, who: str) -> None:
    response = choose(getattr(world, who), "web")
    assert (response.status_code, response.json()["code"]) == (403, "not_a_service_user")
    assert preferred_channel(world.own) == Channel.SMS


@pytest.mark.parametrize("channel", ["pigeon", "", "SMS", None, 1, ["web"]])
def test_an_unknown_channel_is_refused_and_changes_nothing(world: World, channel: Any) -> None:
    response = choose(world.own.participant.user, channel)
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert preferred_channel(world.own) == Channel.SMS


def test_choosing_a_channel_needs_a_signed_in_service_user(world: World) -> None:
    response = Client().post(
        CHANNEL_URL, {"preferred_channel": "web"}, content_type="application/json"
    )
    assert response.status_code in (401, 403)
    assert preferred_channel(world.own) == Channel.SMS


# --- Labels of automated and system messages in the REST history ------------------------


def test_the_persons_text_is_labelled_sms_under_their_name(twilio: Client, world: World) -> None:
    text(twilio, world.own, "from my phone")
    [message] = history(world.peer, world.own)
    assert (message["channel"], message["sender"]) == (
        "sms",
        {
            "id": world.own.participant.user_id,
            "role": "participant",
            "display_name": participant_profile(world.own.participant).name,
        },
    )


def test_the_help_answer_is_labelled_automated_in_the_history(twilio: Client, world: World) -> None:
    text(twilio, world.own, "HELP")
    _, answer = history(world.peer, world.own)
    assert (answer["channel"], answer["sender"], answer["body"]) == (
        "automated",
        PEERLINK,
        "Call 988.",
    )


def test_the_person_reads_the_help_answer_labelled_automated(twilio: Client, world: World) -> None:
    text(twilio, world.own, "INFO")
    _, answer = history(world.own.participant.user, world.own)
    assert (answer["channel"], answer["sender"]) == ("automated", PEERLINK)


def test_opt_out_and_opt_in_notices_are_labelled_system_in_the_history(
    twilio: Client, world: World
) -> None:
    text(twilio, world.own, "STOP")
    text(twilio, world.own, "START")
    notices = [m for m in history(world.peer, world.own) if m["sender"]["role"] == "system"]
    assert [(m["channel"], m["sender"], m["body"]) for m in notices] == [
        ("system", PEERLINK, texts.NOTICE_OPTED_OUT),
        ("system", PEERLINK, texts.NOTICE_OPTED_IN),
    ]


def test_media_notices_are_labelled_system_in_the_history(twilio: Client, world: World) -> None:
    text(twilio, world.own, "", NumMedia="1")
    text(twilio, world.own, "with a photo", NumMedia="1")
    labels = [
        (m["channel"], m["sender"]["role"], m["sender"]["display_name"], m["body"])
        for m in history(world.peer, world.own)
    ]
    assert labels == [
        ("system", "system", "peerlink", texts.NOTICE_NO_TEXT),
        ("sms", "participant", "Test Person", "with a photo"),
        ("system", "system", "peerlink", texts.NOTICE_MEDIA),
    ]


def test_no_automated_or_system_message_is_labelled_as_a_person(
    twilio: Client, world: World
) -> None:
    text(twilio, world.own, "HELP")
    text(twilio, world.own, "STOP")
    text(twilio, world.own, "", NumMedia="1")
    text(twilio, world.own, "START")
    for message in history(world.peer, world.own):
        is_service = message["channel"] in ("automated", "system")
        assert is_service == (message["sender"] == PEERLINK), message["channel"]


def test_a_person_who_writes_on_the_web_gets_replies_on_the_web(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any
) -> None:
    # They texted (replies by SMS), then opened the web chat and wrote there: replies follow
    # them to the web, and nothing more is texted to a phone they may share.
    with on_commit():
        sms.inbound(twilio, sender=phone_of(world.own), body="texting first")
        post_message(
            conversation_id=conversation_of(world.own).pk,
            sender=world.own.participant.user,
            sender_role="participant",
            channel="web",
            body="now on the web",
            client_id="web-1",
        )
        post_message(
            conversation_id=conversation_of(world.own).pk,
            sender=world.peer,
            sender_role="peer_supporter",
            channel="web",
            body="Hi there",
            client_id="peer-1",
        )
    assert Participant.objects.get(pk=world.own.participant_id).preferred_channel == "web"
    assert fake_twilio.sent == []
    assert [m["body"] for m in messages_after(conversation_of(world.own), after_seq=0)] == [
        "texting first",
        "now on the web",
        "Hi there",
    ]
