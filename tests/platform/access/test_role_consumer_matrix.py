"""Every role x every WebSocket action on one conversation (`world.own`'s): the consumer's
rows of the role matrix. Objects a role may not see answer `not_found`, like missing ones."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator

from access.services import issue_ws_ticket
from messaging.models import Conversation
from tests.support.factories import World, make_world

pytestmark = pytest.mark.django_db(transaction=True)

ROLES = ("anonymous", "service_user", "other_peer", "own_peer", "supervisor", "evaluator", "admin")

# What each role gets for each frame about world.own's conversation.
EXPECTED: dict[str, dict[str, str]] = {
    "send": {
        "service_user": "ack",
        "own_peer": "ack",
        "supervisor": "error:read_only",
        "other_peer": "error:not_found",
        "evaluator": "error:not_found",
        "admin": "error:not_found",
    },
    "sync": {
        "service_user": "synced",
        "own_peer": "synced",
        "supervisor": "synced",
        "other_peer": "error:not_found",
        "evaluator": "error:not_found",
        "admin": "error:not_found",
    },
    "read": {
        "service_user": "read",
        "own_peer": "read",
        "supervisor": "error:read_only",
        "other_peer": "error:not_found",
        "evaluator": "error:not_found",
        "admin": "error:not_found",
    },
}


def _user(world: World, role: str) -> Any:
    return {
        "service_user": world.own.participant.user,
        "other_peer": world.other_peer,
        "own_peer": world.peer,
        "supervisor": world.supervisor,
        "evaluator": world.evaluator,
        "admin": world.admin,
    }[role]


async def _outcome(socket: WebsocketCommunicator, frame: dict[str, Any]) -> str:
    """The first answer to `frame`, or "none"; a ping sent after it marks the end."""
    await socket.send_json_to(frame)
    await socket.send_json_to({"type": "ping"})
    outcome = None
    while True:
        answer = await socket.receive_json_from(timeout=5)
        if answer["type"] == "pong":
            return outcome or "none"
        if answer["type"] in ("message", "delivery") or outcome is not None:
            continue  # doorbells of the layer, not answers
        outcome = f"error:{answer['code']}" if answer["type"] == "error" else str(answer["type"])


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_gets_the_expected_answer_to_each_frame(role: str) -> None:
    from peerlink.asgi import application

    channel_layers.backends.clear()
    world = await database_sync_to_async(make_world)()
    conversation = await database_sync_to_async(Conversation.objects.get)(enrolment=world.own)
    if role == "anonymous":
        socket = WebsocketCommunicator(application, "/ws/")
        connected, _ = await socket.connect(timeout=5)
        assert connected
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}
        return
    ticket = await database_sync_to_async(issue_ws_ticket)(user=_user(world, role))
    socket = WebsocketCommunicator(application, f"/ws/?ticket={ticket}")
    connected, _ = await socket.connect(timeout=5)
    assert connected
    try:
        conversation_id = str(conversation.id)
        got = {
            "send": await _outcome(
                socket,
                {
                    "type": "send",
                    "conversation": conversation_id,
                    "client_id": f"matrix-{role}",
                    "body": "hello",
                },
            ),
            "sync": await _outcome(
                socket, {"type": "sync", "conversation": conversation_id, "after_seq": 0}
            ),
            "read": await _outcome(
                socket, {"type": "read", "conversation": conversation_id, "seq": 0}
            ),
        }
        assert got == {frame: EXPECTED[frame][role] for frame in EXPECTED}
    finally:
        await socket.disconnect()


# `alert` frames (server to staff): an unresolved alert about world.own is sent, on connect,
# to the sockets of those who may see it, and to nobody else.
ALERT_ON_CONNECT: dict[str, bool] = {
    "service_user": False,
    "own_peer": True,
    "supervisor": True,
    "other_peer": False,
    "evaluator": False,
    "admin": False,
}


def _open_alert_about_own(world: World) -> str:
    from messaging.risk.services import flag_message
    from messaging.services import post_message

    conversation = Conversation.objects.get(enrolment=world.own)
    posted = post_message(
        conversation_id=conversation.pk,
        sender=world.own.participant.user,
        sender_role="participant",
        channel="web",
        body="Had a rough week.",
        client_id="matrix-alert",
    )
    return str(flag_message(message_id=posted.message.id, by=world.peer).pk)


@pytest.mark.parametrize("role", sorted(ALERT_ON_CONNECT))
async def test_each_role_is_sent_the_alerts_it_may_see_on_connect(role: str) -> None:
    from peerlink.asgi import application

    channel_layers.backends.clear()
    world = await database_sync_to_async(make_world)()
    alert_id = await database_sync_to_async(_open_alert_about_own)(world)
    ticket = await database_sync_to_async(issue_ws_ticket)(user=_user(world, role))
    socket = WebsocketCommunicator(application, f"/ws/?ticket={ticket}")
    connected, _ = await socket.connect(timeout=5)
    assert connected
    try:
        await socket.send_json_to({"type": "ping"})
        alerts = []
        while (answer := await socket.receive_json_from(timeout=5))["type"] != "pong":
            if answer["type"] == "alert":
                alerts.append(answer["alert"]["id"])
        assert alerts == ([alert_id] if ALERT_ON_CONNECT[role] else [])
    finally:
        await socket.disconnect()
