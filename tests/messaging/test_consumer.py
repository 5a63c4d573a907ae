from __future__ import annotations

import json
from typing import Any

import pytest

from messaging.models import Conversation, Message
from tests.support.factories import World

pytestmark = pytest.mark.django_db(transaction=True)


async def frames_until(socket: Any, wanted: str, *, limit: int = 20) -> list[dict[str, Any]]:
    seen = []
    for _ in range(limit):
        frame = await socket.receive_json_from(timeout=5)
        seen.append(frame)
        if frame["type"] == wanted:
            return seen
    raise AssertionError(f"no {wanted} frame in {seen}")


async def test_a_message_sent_by_the_peer_reaches_the_participant(
    connect: Any, chat_world: World, conversation: Conversation
) -> None:
    peer = await connect(chat_world.peer)
    person = await connect(chat_world.own.participant.user)
    await peer.send_json_to(
        {"type": "send", "conversation": str(conversation.id), "client_id": "c1", "body": "Hello"}
    )
    ack = (await frames_until(peer, "ack"))[-1]
    assert ack["client_id"] == "c1" and ack["message"]["seq"] == 1
    received = (await frames_until(person, "message"))[-1]
    assert received["message"]["body"] == "Hello"
    assert received["message"]["sender"]["role"] == "peer_supporter"
    assert received["message"]["id"] == ack["message"]["id"]


async def test_ping_gets_pong(connect: Any, chat_world: World) -> None:
    socket = await connect(chat_world.peer)
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=5) == {"type": "pong"}


async def test_invalid_json_gets_an_error_and_the_socket_stays_open(
    connect: Any, chat_world: World
) -> None:
    socket = await connect(chat_world.peer)
    await socket.send_to(text_data="{not json")
    frame = await socket.receive_json_from(timeout=5)
    assert frame["type"] == "error" and frame["code"] == "invalid_json"
    await socket.send_json_to({"type": "ping"})
    assert (await socket.receive_json_from(timeout=5))["type"] == "pong"


async def test_sync_returns_every_message_after_the_cursor_in_order(
    connect: Any, chat_world: World, conversation: Conversation
) -> None:
    peer = await connect(chat_world.peer)
    for n in range(5):
        await peer.send_json_to(
            {
                "type": "send",
                "conversation": str(conversation.id),
                "client_id": f"m{n}",
                "body": f"n{n}",
            }
        )
        await frames_until(peer, "ack")
    await peer.send_json_to({"type": "sync", "conversation": str(conversation.id), "after_seq": 2})
    frames = await frames_until(peer, "synced", limit=40)
    synced = [
        f["message"]["seq"] for f in frames if f["type"] == "message" and f["message"]["seq"] > 2
    ]
    assert synced[-3:] == [3, 4, 5]
    assert frames[-1] == {"type": "synced", "conversation": str(conversation.id), "last_seq": 5}


async def test_the_same_client_id_twice_stores_one_message(
    connect: Any, chat_world: World, conversation: Conversation
) -> None:
    from channels.db import database_sync_to_async

    peer = await connect(chat_world.peer)
    for _ in range(2):
        await peer.send_json_to(
            {
                "type": "send",
                "conversation": str(conversation.id),
                "client_id": "dup",
                "body": "once",
            }
        )
        await frames_until(peer, "ack")
    count = await database_sync_to_async(Message.objects.filter(conversation=conversation).count)()
    assert count == 1


async def test_unauthenticated_socket_is_closed_with_4401(
    chat_world: World, channel_layer_backend: str
) -> None:
    from channels.testing import WebsocketCommunicator

    from peerlink.asgi import application

    communicator = WebsocketCommunicator(application, "/ws/?ticket=bogus")
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}
    json.dumps(closed)
