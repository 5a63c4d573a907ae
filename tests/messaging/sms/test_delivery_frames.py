"""Where a message's SMS stands, live: `delivery` frames {type, conversation, message, seq,
status} on staff sockets (messaging/consumers.py chat_delivery, messaging/events.py
delivery_changed), and the `delivery` field of message objects in `ack`, `sync` and the
history API (messaging/selectors.py message_payload). Every socket test runs on the
in-memory layer and on a real Redis layer.

Supervisors follow their team's alert groups, not its conversations (consumers.py
`_subscriptions`): their sockets hear no message and no delivery frames, and the tests say so."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from messaging.models import (
    DELIVERY_RANK,
    Conversation,
    DeliveryStatus,
    MessageChannel,
    SenderRole,
    SmsOutbox,
)
from messaging.services import post_message
from messaging.tasks import deliver_sms
from people.models import ConsentKind
from people.services import withdraw_consent
from tests.support.factories import World, signed_in_client
from tests.support.fake_twilio import Failure, SentSms
from tests.support.sms import status_callback

pytestmark = pytest.mark.django_db(transaction=True)

BODY = "Shall we talk again on Friday?"


def send_frame(conversation: Conversation, client_id: str, body: str = BODY) -> dict[str, Any]:
    return {
        "type": "send",
        "conversation": str(conversation.id),
        "client_id": client_id,
        "body": body,
    }


async def send(
    ws: Any, socket: Any, conversation: Conversation, client_id: str = "c1", body: str = BODY
) -> dict[str, Any]:
    """Send a message and return the message object of its ack."""
    await socket.send_json_to(send_frame(conversation, client_id, body))
    return (await ws.last(socket, "ack"))["message"]


async def report(sms: SentSms, status: str, error_code: int | None = None) -> None:
    """Twilio's signed status callback, through the real view."""

    def post() -> None:
        response = status_callback(Client(), sms, status, error_code=error_code)
        assert response.status_code == 200

    await database_sync_to_async(post)()


def delivery_frame(conversation: Conversation, message: dict[str, Any], status: str) -> Any:
    return {
        "type": "delivery",
        "conversation": str(conversation.id),
        "message": message["id"],
        "seq": message["seq"],
        "status": status,
    }


def deliveries(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [frame for frame in frames if frame["type"] == "delivery"]


async def current_delivery(message_id: str) -> str:
    outbox = await database_sync_to_async(SmsOutbox.objects.get)(message_id=message_id)
    return outbox.delivery_status


async def sync(ws: Any, socket: Any, conversation: Conversation) -> list[dict[str, Any]]:
    await socket.send_json_to(
        {"type": "sync", "conversation": str(conversation.id), "after_seq": 0}
    )
    frames = await ws.until(socket, "synced")
    return [frame["message"] for frame in frames if frame["type"] == "message"]


def _write_without_sending(world: World, conversation: Conversation) -> dict[str, Any]:
    """A peer's text whose outbox row is committed but whose doorbell has not rung."""
    with mock.patch("messaging.sms.outbox.ring_outbox"):
        posted = post_message(
            conversation_id=conversation.pk,
            sender=world.peer,
            sender_role=SenderRole.PEER_SUPPORTER,
            channel=MessageChannel.WEB,
            body="A second text.",
            client_id="c2",
        )
    return posted.payload


# Delivery frames on staff sockets.


async def test_a_peer_socket_hears_queued_when_the_sms_is_handed_to_twilio(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    peer = await connect(chat_world.peer)
    message = await send(ws, peer, conversation)
    assert deliveries(await ws.quiet(peer)) == [delivery_frame(conversation, message, "queued")]


async def test_a_peer_socket_hears_each_status_twilio_reports(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation, fake_twilio: Any
) -> None:
    peer = await connect(chat_world.peer)
    message = await send(ws, peer, conversation)
    await ws.last(peer, "delivery")  # queued
    heard = []
    for status in ["sent", "delivered"]:
        await report(fake_twilio.sent[0], status)
        heard.append(await ws.last(peer, "delivery"))
    assert heard == [
        delivery_frame(conversation, message, "sent"),
        delivery_frame(conversation, message, "delivered"),
    ]


async def test_every_socket_of_the_peer_hears_the_delivery(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation, fake_twilio: Any
) -> None:
    phone = await connect(chat_world.peer)
    laptop = await connect(chat_world.peer)
    message = await send(ws, phone, conversation)
    await ws.quiet(phone)
    await ws.quiet(laptop)
    await report(fake_twilio.sent[0], "delivered")
    for socket in (phone, laptop):
        assert await ws.last(socket, "delivery") == delivery_frame(
            conversation, message, "delivered"
        )


@pytest.mark.parametrize("second", ["delivered", "sent"], ids=["repeat", "late"])
async def test_a_report_that_changes_nothing_rings_no_frame(
    ws: Any,
    connect: Any,
    chat_world: World,
    conversation: Conversation,
    fake_twilio: Any,
    second: str,
) -> None:
    peer = await connect(chat_world.peer)
    await send(ws, peer, conversation)
    await report(fake_twilio.sent[0], "delivered")
    assert deliveries(await ws.quiet(peer))[-1]["status"] == "delivered"
    await report(fake_twilio.sent[0], second)
    assert deliveries(await ws.quiet(peer)) == []


async def test_a_text_written_without_sms_consent_is_acked_not_sent(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation, fake_twilio: Any
) -> None:
    await database_sync_to_async(withdraw_consent)(
        participant=chat_world.own.participant, kind=ConsentKind.SMS, source="staff"
    )
    peer = await connect(chat_world.peer)
    message = await send(ws, peer, conversation)
    assert message["delivery"] == DeliveryStatus.NOT_SENT
    assert await current_delivery(message["id"]) == DeliveryStatus.NOT_SENT
    assert fake_twilio.requests == 0


async def test_a_text_whose_consent_was_withdrawn_before_its_send_rings_not_sent(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation, fake_twilio: Any
) -> None:
    peer = await connect(chat_world.peer)
    waiting = await database_sync_to_async(_write_without_sending)(chat_world, conversation)
    await ws.quiet(peer)
    await database_sync_to_async(withdraw_consent)(
        participant=chat_world.own.participant, kind=ConsentKind.SMS, source="staff"
    )
    outbox = await database_sync_to_async(SmsOutbox.objects.get)(message_id=waiting["id"])
    assert await database_sync_to_async(deliver_sms)(outbox.pk) == "skipped"
    assert deliveries(await ws.quiet(peer)) == [
        delivery_frame(conversation, waiting, DeliveryStatus.NOT_SENT)
    ]
    assert fake_twilio.requests == 0


async def test_a_text_twilio_refuses_rings_failed(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation, fake_twilio: Any
) -> None:
    fake_twilio.fail_next(Failure(status=400, code=21211))
    peer = await connect(chat_world.peer)
    message = await send(ws, peer, conversation)
    assert deliveries(await ws.quiet(peer)) == [delivery_frame(conversation, message, "failed")]


async def test_a_temporary_failure_rings_no_frame(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation, fake_twilio: Any
) -> None:
    fake_twilio.fail_next(Failure(status=503))
    peer = await connect(chat_world.peer)
    await send(ws, peer, conversation)
    assert deliveries(await ws.quiet(peer)) == []


async def test_the_carriers_opt_out_rings_not_sent_for_the_persons_waiting_texts(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation, fake_twilio: Any
) -> None:
    peer = await connect(chat_world.peer)
    first = await send(ws, peer, conversation, "c1", "First text.")
    await ws.quiet(peer)
    # A second text whose doorbell has not rung yet (written outside any socket).
    waiting = await database_sync_to_async(_write_without_sending)(chat_world, conversation)
    await report(fake_twilio.sent[0], "failed", error_code=21610)
    heard = deliveries(await ws.quiet(peer))
    assert delivery_frame(conversation, first, "failed") in heard
    assert delivery_frame(conversation, waiting, DeliveryStatus.NOT_SENT) in heard


# Who does not hear them.


async def test_the_service_users_socket_never_hears_delivery_frames(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation, fake_twilio: Any
) -> None:
    person = await connect(chat_world.own.participant.user)
    peer = await connect(chat_world.peer)
    await send(ws, peer, conversation)
    await ws.last(peer, "delivery")
    for status in ["sent", "delivered"]:
        await report(fake_twilio.sent[0], status)
        await ws.last(peer, "delivery")
    frames = await ws.quiet(person)
    assert [frame["type"] for frame in frames] == ["message"]  # the message itself, once


async def test_a_supervisor_socket_hears_no_delivery_frames(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation, fake_twilio: Any
) -> None:
    # The supervisor of the peer's team: supervisors follow team alerts, not conversations.
    supervisor = await connect(chat_world.supervisor)
    peer = await connect(chat_world.peer)
    await send(ws, peer, conversation)
    await ws.last(peer, "delivery")
    await report(fake_twilio.sent[0], "delivered")
    await ws.last(peer, "delivery")
    assert deliveries(await ws.quiet(supervisor)) == []


async def test_another_peer_supporters_socket_hears_no_delivery_frames(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation, fake_twilio: Any
) -> None:
    other_peer = await connect(chat_world.other_peer)
    peer = await connect(chat_world.peer)
    await send(ws, peer, conversation)
    await ws.last(peer, "delivery")
    await report(fake_twilio.sent[0], "delivered")
    await ws.last(peer, "delivery")
    assert await ws.quiet(other_peer) == []


# The `delivery` field of message objects.


async def test_the_ack_of_a_message_sent_by_sms_carries_its_delivery_as_written(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    peer = await connect(chat_world.peer)
    message = await send(ws, peer, conversation)
    # Written `pending`; the hand-over's `queued` frame comes after the ack.
    assert message["delivery"] == "pending"
    assert deliveries(await ws.quiet(peer)) == [delivery_frame(conversation, message, "queued")]


async def test_another_socket_of_the_peer_never_hears_a_texts_delivery_go_backwards(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    phone = await connect(chat_world.peer)
    laptop = await connect(chat_world.peer)
    message = await send(ws, phone, conversation)
    assert await current_delivery(message["id"]) == "queued"
    heard = []  # every status the laptop is told for the message, in the order it is told
    for frame in await ws.quiet(laptop):
        if frame["type"] == "delivery":
            heard.append(frame["status"])
        elif frame["type"] == "message" and "delivery" in frame["message"]:
            heard.append(frame["message"]["delivery"])
    assert "queued" in heard
    assert [DELIVERY_RANK[s] for s in heard] == sorted(DELIVERY_RANK[s] for s in heard), heard
    assert heard[-1] == "queued", heard


async def test_the_ack_of_a_resent_message_carries_its_current_delivery_status(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation, fake_twilio: Any
) -> None:
    peer = await connect(chat_world.peer)
    await send(ws, peer, conversation, "same")
    await report(fake_twilio.sent[0], "delivered")
    again = await send(ws, peer, conversation, "same")
    assert again["delivery"] == "delivered"
    assert len(fake_twilio.sent) == 1


async def test_the_ack_of_a_message_not_sent_by_sms_has_no_delivery(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    person = await connect(chat_world.own.participant.user)
    message = await send(ws, person, conversation, "from-person", "I'm okay, thanks.")
    assert "delivery" not in message


async def test_sync_carries_the_current_delivery_status(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation, fake_twilio: Any
) -> None:
    peer = await connect(chat_world.peer)
    sent = await send(ws, peer, conversation)
    await report(fake_twilio.sent[0], "sent")
    await report(fake_twilio.sent[0], "delivered")
    await ws.quiet(peer)
    synced = await sync(ws, peer, conversation)
    assert [(m["id"], m["delivery"]) for m in synced] == [(sent["id"], "delivered")]


async def test_sync_carries_no_delivery_for_messages_not_sent_by_sms(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    # The peer's text goes by SMS; the person's answer on the web is not an SMS (and moves
    # their replies to the web).
    person = await connect(chat_world.own.participant.user)
    peer = await connect(chat_world.peer)
    await send(ws, peer, conversation, "from-peer", "How are you today?")
    await send(ws, person, conversation, "from-person", "I'm okay, thanks.")
    await ws.quiet(peer)
    synced = await sync(ws, peer, conversation)
    assert [(m["body"], "delivery" in m) for m in synced] == [
        ("How are you today?", True),
        ("I'm okay, thanks.", False),
    ]


# The history API (no socket: run once, in a rolled-back transaction).


def _history(world: World, conversation: Conversation) -> list[dict[str, Any]]:
    response = signed_in_client(world.peer).get(
        f"/api/v1/conversations/{conversation.pk}/messages/"
    )
    assert response.status_code == 200
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def _post_as(world: World, conversation: Conversation, *, by_person: bool, body: str) -> None:
    post_message(
        conversation_id=conversation.pk,
        sender=world.own.participant.user if by_person else world.peer,
        sender_role=SenderRole.PARTICIPANT if by_person else SenderRole.PEER_SUPPORTER,
        channel=MessageChannel.SMS if by_person else MessageChannel.WEB,
        body=body,
        client_id=body,
    )


@pytest.mark.django_db
def test_the_history_api_carries_the_current_delivery_status(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    conversation = Conversation.objects.get(enrolment=world.own)
    with django_capture_on_commit_callbacks(execute=True):
        _post_as(world, conversation, by_person=False, body="Glad to hear it.")
    status_callback(Client(), fake_twilio.sent[0], "delivered")
    assert [m["delivery"] for m in _history(world, conversation)] == ["delivered"]


@pytest.mark.django_db
def test_the_history_api_carries_no_delivery_for_messages_not_sent_by_sms(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    conversation = Conversation.objects.get(enrolment=world.own)
    with django_capture_on_commit_callbacks(execute=True):
        _post_as(world, conversation, by_person=True, body="I'm okay, thanks.")
        _post_as(world, conversation, by_person=False, body="Glad to hear it.")
    assert [(m["body"], m.get("delivery")) for m in _history(world, conversation)] == [
        ("I'm okay, thanks.", None),
        ("Glad to hear it.", "queued"),
    ]
    assert "delivery" not in _history(world, conversation)[0]
