"""Two clients chat through the real ASGI server (uvicorn, production settings), over real
sockets, with the `websockets` client library: both directions, a disconnect, a reconnect with
`sync`, a retried send; then the database holds every acknowledged message exactly once,
gap-free. And a conversation that goes quiet for a while still works.

DESIGN.md §4 (frames), §6 ("nothing is lost or doubled"), issue 4 item 7.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import AsgiServer
from tests.e2e.ws_client import open_client, send_frame

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

Frame = dict[str, Any]
QUIET = 8.0  # seconds of silence: longer than any 5 s timeout between the server and Redis


def stored_messages(server: AsgiServer, conversation: str) -> list[tuple[int, str, bytes]]:
    with psycopg.connect(server.database_url) as conn:
        rows = conn.execute(
            "SELECT seq, client_id, body_ciphertext FROM messaging_message"
            " WHERE conversation_id = %s ORDER BY seq",
            (conversation,),
        ).fetchall()
        last_seq = conn.execute(
            "SELECT last_seq FROM messaging_conversation WHERE id = %s", (conversation,)
        ).fetchone()
    assert last_seq is not None and last_seq[0] == len(rows)
    return [(int(seq), str(client_id), bytes(blob)) for seq, client_id, blob in rows]


async def test_two_clients_chat_through_the_real_server_and_recover_by_sync(
    asgi_server: AsgiServer,
) -> None:
    world = asgi_server.run_script("world", "e2e-chat", "1")
    assert isinstance(world, dict)
    conversation, peer_id, person_id = world["conversation"], world["peer"], world["participant"]
    tickets = asgi_server.tickets(peer_id, person_id)
    peer = await open_client(asgi_server, "peer", tickets[peer_id])
    person = await open_client(asgi_server, "person", tickets[person_id])
    acked: dict[str, Frame] = {}  # client_id -> the message its ack carried
    try:
        # The connection is live before anyone talks.
        for client in (peer, person):
            await client.ping()

        # Both directions, live.
        await peer.send(send_frame(conversation, "peer-1", "Hi, how was your week?"))
        acked["peer-1"] = await peer.ack("peer-1")
        delivered = await person.message("Hi, how was your week?")
        assert delivered["id"] == acked["peer-1"]["id"]
        assert (delivered["sender"]["id"], delivered["sender"]["role"]) == (
            peer_id,
            "peer_supporter",
        )
        assert delivered["channel"] == "web"

        await person.send(send_frame(conversation, "person-1", "Better than last week."))
        acked["person-1"] = await person.ack("person-1")
        delivered = await peer.message("Better than last week.")
        assert delivered["id"] == acked["person-1"]["id"]
        assert delivered["sender"]["role"] == "participant"
        assert delivered["sender"]["display_name"] == "Web Chat Person"
        last_seen = delivered["seq"]
        assert [acked["peer-1"]["seq"], acked["person-1"]["seq"]] == [1, 2]

        # The service user drops off; the peer supporter keeps writing.
        await person.close()
        missed = [f"While you were away ({n})" for n in range(1, 4)]
        for n, body in enumerate(missed, start=1):
            await peer.send(send_frame(conversation, f"peer-away-{n}", body))
            acked[f"peer-away-{n}"] = await peer.ack(f"peer-away-{n}")

        # Back with a new ticket (tickets are single use): sync from the last seq seen.
        ticket = asgi_server.tickets(person_id)[person_id]
        person = await open_client(asgi_server, "person (reconnected)", ticket)
        await person.send({"type": "sync", "conversation": conversation, "after_seq": last_seen})
        synced = await person.wait_for(lambda f: f["type"] == "synced", "synced")
        replayed = [
            f["message"]
            for i, f in enumerate(person.frames)
            if f["type"] == "message" and i not in person.taken
        ]
        assert [m["body"] for m in replayed] == missed
        assert [m["seq"] for m in replayed] == [last_seen + 1, last_seen + 2, last_seen + 3]
        assert [m["id"] for m in replayed] == [acked[f"peer-away-{n}"]["id"] for n in (1, 2, 3)]
        assert synced == {"type": "synced", "conversation": conversation, "last_seq": last_seen + 3}

        # A retry of an already acknowledged send (its ack was lost) gets the same message back.
        await person.send(send_frame(conversation, "person-1", "Better than last week."))
        assert (await person.ack("person-1"))["id"] == acked["person-1"]["id"]

        # Live again in both directions after the reconnect.
        await person.send(send_frame(conversation, "person-2", "Thanks for waiting."))
        acked["person-2"] = await person.ack("person-2")
        assert (await peer.message("Thanks for waiting."))["id"] == acked["person-2"]["id"]
        await peer.send(send_frame(conversation, "peer-2", "Any time."))
        acked["peer-2"] = await peer.ack("peer-2")
        assert (await person.message("Any time."))["id"] == acked["peer-2"]["id"]
    finally:
        await peer.close()
        await person.close()

    rows = await asyncio.to_thread(stored_messages, asgi_server, conversation)
    # Exactly once: one row per acknowledged client id, no other rows, seq gap-free from 1.
    assert sorted(client_id for _, client_id, _ in rows) == sorted(acked)
    assert [seq for seq, _, _ in rows] == list(range(1, len(acked) + 1))
    assert {client_id: seq for seq, client_id, _ in rows} == {
        client_id: message["seq"] for client_id, message in acked.items()
    }
    # Stored encrypted: no body appears in the clear.
    for _, _, blob in rows:
        for message in acked.values():
            assert message["body"].encode() not in blob
    asgi_server.assert_log_clean()


async def test_sockets_that_stay_quiet_for_a_while_still_chat(asgi_server: AsgiServer) -> None:
    """People pause. Both sockets stay open through a silence longer than the channel layer's
    blocking read (5 s) and the Redis client's default socket timeout (5 s), then chat."""
    world = asgi_server.run_script("world", "e2e-quiet", "2")
    assert isinstance(world, dict)
    conversation, peer_id, person_id = world["conversation"], world["peer"], world["participant"]
    tickets = asgi_server.tickets(peer_id, person_id)
    peer = await open_client(asgi_server, "peer", tickets[peer_id])
    person = await open_client(asgi_server, "person", tickets[person_id])
    try:
        for client in (peer, person):
            await client.ping()
        await asyncio.sleep(QUIET)
        try:
            await person.send(send_frame(conversation, "after-quiet-1", "Sorry, I was away."))
            acked = await person.ack("after-quiet-1")
            assert (await peer.message("Sorry, I was away."))["id"] == acked["id"]
            await peer.send(send_frame(conversation, "after-quiet-2", "No problem."))
            acked = await peer.ack("after-quiet-2")
            assert (await person.message("No problem."))["id"] == acked["id"]
        except (AssertionError, ConnectionClosed) as exc:
            raise AssertionError(f"{exc}\nserver log:\n{asgi_server.server_log()}") from None
    finally:
        await peer.close()
        await person.close()
    asgi_server.assert_log_clean()
