"""Recovery (issue 4, item 4): an `ack` means committed, and whatever the channel layer drops
is recovered by `sync` from the database. Each test runs on the in-memory layer and on a real
Redis layer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.db import connections

from messaging.models import Conversation, Message
from tests.messaging.conftest import without_delivery
from tests.support.factories import World

pytestmark = pytest.mark.django_db(transaction=True)


def committed_message(message_id: str) -> tuple[int, str] | None:
    """Read on a brand-new database connection, which sees committed rows only."""
    connection = connections.create_connection("default")
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT seq, client_id FROM messaging_message WHERE id = %s",
                [Message._meta.pk.get_db_prep_value(message_id, connection)],  # type: ignore[union-attr]
            )
            row = cursor.fetchone()
    finally:
        connection.close()
    return None if row is None else (int(row[0]), str(row[1]))


async def test_an_acknowledged_message_is_already_committed(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    peer = await connect(chat_world.peer)
    for n in range(1, 4):
        await peer.send_json_to(
            {
                "type": "send",
                "conversation": str(conversation.id),
                "client_id": f"c{n}",
                "body": f"n{n}",
            }
        )
        ack = await ws.last(peer, "ack")
        # Checked the moment the ack arrives, from outside the consumer's transaction.
        stored = await asyncio.to_thread(committed_message, ack["message"]["id"])
        assert stored == (n, f"c{n}")


async def test_a_repeated_send_is_acknowledged_with_the_first_message(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    # A client that lost an ack resends with the same client id: one row, the same message.
    peer = await connect(chat_world.peer)
    frame = {"type": "send", "conversation": str(conversation.id), "client_id": "again"}
    await peer.send_json_to({**frame, "body": "first try"})
    first = await ws.last(peer, "ack")
    await peer.send_json_to({**frame, "body": "first try (resent)"})
    second = await ws.last(peer, "ack")
    assert without_delivery(second["message"]) == without_delivery(first["message"])
    assert await ws.message_count(conversation) == 1


async def test_a_reconnecting_socket_recovers_what_it_missed_by_sync(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    person = await connect(chat_world.own.participant.user)
    peer = await connect(chat_world.peer)
    for n in range(1, 3):
        await peer.send_json_to(
            {
                "type": "send",
                "conversation": str(conversation.id),
                "client_id": f"a{n}",
                "body": f"{n}",
            }
        )
        await ws.last(peer, "ack")
    seen = [f["message"]["seq"] for f in await ws.quiet(person) if f["type"] == "message"]
    await person.disconnect()
    for n in range(3, 6):
        await peer.send_json_to(
            {
                "type": "send",
                "conversation": str(conversation.id),
                "client_id": f"a{n}",
                "body": f"{n}",
            }
        )
        await ws.last(peer, "ack")
    person = await connect(chat_world.own.participant.user)
    await person.send_json_to(
        {"type": "sync", "conversation": str(conversation.id), "after_seq": max(seen)}
    )
    frames = await ws.until(person, "synced")
    assert [f["message"]["body"] for f in frames if f["type"] == "message"] == ["3", "4", "5"]
    assert frames[-1]["last_seq"] == 5


# A forced overflow: the layer drops, sync recovers.

SENT = 30


def contiguous_prefix(seqs: set[int]) -> int:
    """What a client does to find its resync point: the highest seq below which it has seen
    every message (seqs start at 1 and have no gaps)."""
    last = 0
    while last + 1 in seqs:
        last += 1
    return last


@pytest.mark.parametrize("layer_capacity", [2])
async def test_messages_dropped_by_a_full_layer_are_recovered_by_sync(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    # The person's client stops reading: once one frame waits unread, their consumer blocks
    # on sending, stops draining its channel, and the layer (capacity 2) drops the rest.
    person = await connect(chat_world.own.participant.user, output_limit=1)
    peer = await connect(chat_world.peer)
    acked = []
    for n in range(1, SENT + 1):
        await peer.send_json_to(
            {
                "type": "send",
                "conversation": str(conversation.id),
                "client_id": f"burst-{n}",
                "body": f"message {n}",
            }
        )
        acked.append((await ws.last(peer, "ack"))["message"])
    assert [m["seq"] for m in acked] == list(range(1, SENT + 1))
    assert await ws.message_count(conversation) == SENT

    # The client reads again: it hears only some of the messages live.
    live = [f["message"] for f in await ws.quiet(person, seconds=0.5) if f["type"] == "message"]
    live_seqs = {m["seq"] for m in live}
    assert len(live) == len(live_seqs), "a live message was delivered twice"
    missing = set(range(1, SENT + 1)) - live_seqs
    assert missing, "the layer dropped nothing: the overflow was not forced"

    # It finds the first gap and syncs from there: every message after it, once, in order.
    cursor = contiguous_prefix(live_seqs)
    await person.send_json_to(
        {"type": "sync", "conversation": str(conversation.id), "after_seq": cursor}
    )
    frames = await ws.until(person, "synced", limit=SENT + 5)
    synced = [f["message"] for f in frames if f["type"] == "message"]
    assert [m["seq"] for m in synced] == list(range(cursor + 1, SENT + 1))
    assert missing <= {m["seq"] for m in synced}
    assert frames[-1] == {"type": "synced", "conversation": str(conversation.id), "last_seq": SENT}
    # What sync returns is what was acknowledged, byte for byte.
    assert [without_delivery(m) for m in synced] == [without_delivery(m) for m in acked[cursor:]]
    # Nothing else was waiting.
    assert await ws.quiet(person) == []
