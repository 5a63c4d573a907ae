"""Outages of the cluster's engines, each on servers of its own: Redis stopped and started
again in the middle of a chat (clients resync: nothing lost, nothing doubled), and
PostgreSQL restarted (the servers recover by themselves, and /readyz says what is down while
it is)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import psycopg
import pytest

from tests.e2e.conftest import AsgiServer, Cluster, cluster
from tests.e2e.ws_client import open_client, send_frame
from tests.support import services

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

OUTAGE_WAIT = 60.0


@pytest.fixture
def own_postgres() -> Iterator[services.PostgresServer]:
    server = services.start_postgres()
    yield server
    server.stop()


@pytest.fixture
def own_redis() -> Iterator[services.RedisServer]:
    server = services.start_redis()
    yield server
    server.stop()


@pytest.fixture
def two_servers_own_engines(
    own_postgres: services.PostgresServer, own_redis: services.RedisServer
) -> Iterator[Cluster]:
    with cluster(own_postgres, own_redis, web=2) as running:
        yield running


def _readyz(server: AsgiServer) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/readyz", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _eventually(check: object, what: str) -> None:
    deadline = time.monotonic() + OUTAGE_WAIT
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {OUTAGE_WAIT:.0f} s: {what}")
        time.sleep(0.5)


def _stored(database_url: str, conversation: str) -> list[tuple[int, str]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT seq, client_id FROM messaging_message WHERE conversation_id = %s ORDER BY seq",
            (conversation,),
        ).fetchall()
    return [(int(seq), str(client_id)) for seq, client_id in rows]


async def test_a_chat_across_a_redis_restart_loses_and_doubles_nothing(
    two_servers_own_engines: Cluster, own_redis: services.RedisServer
) -> None:
    running = two_servers_own_engines
    a, b = running.servers
    world = a.run_script("world", "outage-chat", "1")
    assert isinstance(world, dict)
    conversation, peer_id, person_id = world["conversation"], world["peer"], world["participant"]
    tickets = a.tickets(peer_id, person_id)
    peer = await open_client(a, "peer on A", tickets[peer_id])
    person = await open_client(b, "person on B", tickets[person_id])
    await peer.ping()
    await person.ping()
    await peer.send(send_frame(conversation, "before", "Before the outage"))
    before = await peer.ack("before")
    assert (await person.message("Before the outage"))["seq"] == before["seq"] == 1

    own_redis.pause()
    # Written during the outage: the database takes it; its doorbell may not ring, and the
    # socket may go. The client keeps its client id to send again.
    with contextlib.suppress(Exception):
        await peer.send(send_frame(conversation, "during", "Written while Redis was down"))
        await asyncio.wait_for(peer.ack("during"), 5)
    own_redis.resume()
    for client in (peer, person):
        with contextlib.suppress(Exception):
            await client.close()

    # Both come back (new tickets: they are single use), the peer sends again what it may
    # not have had acknowledged, and the person syncs from the last message they saw.
    tickets = a.tickets(peer_id, person_id)
    peer = await open_client(a, "peer on A, back", tickets[peer_id])
    person = await open_client(b, "person on B, back", tickets[person_id])
    try:
        await peer.ping()
        await person.ping()
        await peer.send(send_frame(conversation, "during", "Written while Redis was down"))
        during = await peer.ack("during")
        assert during["seq"] == 2
        await person.send({"type": "sync", "conversation": conversation, "after_seq": 1})
        synced = await person.wait_for(lambda f: f["type"] == "synced", "synced")
        assert synced["last_seq"] == 2
        assert (await person.message("Written while Redis was down"))["id"] == during["id"]
        # Live again across the two servers.
        await person.send(send_frame(conversation, "after", "After the outage"))
        after = await person.ack("after")
        assert (await peer.message("After the outage"))["id"] == after["id"]
    finally:
        await peer.close()
        await person.close()
    assert _stored(running.database_url, conversation) == [
        (1, "before"),
        (2, "during"),
        (3, "after"),
    ]


def test_the_servers_recover_from_a_postgresql_restart_and_readyz_reports_it(
    two_servers_own_engines: Cluster, own_postgres: services.PostgresServer
) -> None:
    a, b = two_servers_own_engines.servers
    for server in (a, b):
        assert _readyz(server)[0] == 200
    own_postgres.pause()
    try:
        for server in (a, b):
            status, body = _readyz(server)
            assert status == 503
            assert "database" in json.dumps(body)
    finally:
        own_postgres.resume()
    for server in (a, b):
        _eventually(lambda s=server: _readyz(s)[0] == 200, "ready again")
    # And they serve from the database again, without a restart.
    world = a.run_script("world", "after-restart", "1")
    assert isinstance(world, dict)
    assert b.tickets(world["peer"])
