"""An SMS user and a web peer supporter hold a conversation end to end: the real ASGI server
(uvicorn, production settings) and a real Celery worker on PostgreSQL and Redis, the real
twilio library on a fake Twilio that answers over HTTP and calls back, signed, with delivery
statuses, as Twilio does (tests/support/twilio_over_http.py).

The person texts in (a signed inbound webhook); the peer supporter's socket gets the text
live; a redelivered webhook changes nothing; the peer's reply goes out through the outbox and
the worker; Twilio's status callbacks arrive on the peer's socket as `delivery` frames; STOP
stops the texts (and the peer sees why), START brings them back, HELP answers by SMS.

Issue 5, "Done when" 1 and 2; DESIGN.md §3 data flows 2 and 3.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from messaging.sms import simulate
from tests.e2e.conftest import AsgiServer, forwarding_twilio_env, serve
from tests.e2e.ws_client import Client, open_client, send_frame
from tests.support import services
from tests.support.fake_twilio import FakeTwilioServer

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

WAIT = 20.0  # seconds: the worker and the callbacks take a few hops


@pytest.fixture(scope="module")
def sms_server(
    postgres_server: services.PostgresServer,
    redis_server: services.RedisServer,
    twilio_over_http: FakeTwilioServer,
    twilio_token: str,
) -> Iterator[AsgiServer]:
    extra = forwarding_twilio_env(twilio_over_http, twilio_token)
    with serve(postgres_server, redis_server, extra_env=extra, with_worker=True) as server:
        yield server


async def text_in(server: AsgiServer, phone: str, body: str, *, sid: str | None = None) -> int:
    """A text from `phone`, as Twilio posts it: signed for the server's public URL."""
    base = server.env["PEERLINK_PUBLIC_URL"]
    params = simulate.inbound_params(sender=phone, body=body, message_sid=sid)
    request = simulate.signed_request(
        f"{base}/sms/twilio/inbound/", params, token=server.env["TWILIO_AUTH_TOKEN"]
    )
    return await asyncio.to_thread(simulate.post, request)


async def delivery_to(peer: Client, message_id: str, status: str) -> dict[str, Any]:
    return await peer.wait_for(
        lambda f: f["type"] == "delivery" and f["message"] == message_id and f["status"] == status,
        f"delivery {status} of {message_id}",
    )


async def wait_until(condition: Any, what: str) -> None:
    for _ in range(int(WAIT / 0.1)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {WAIT}s: {what}")


def rows(server: AsgiServer, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(server.database_url) as conn:
        return conn.execute(sql, args).fetchall()


async def test_an_sms_user_and_a_web_peer_supporter_hold_a_conversation(
    sms_server: AsgiServer, twilio_over_http: FakeTwilioServer
) -> None:
    world = sms_server.run_script("sms-world", "e2e-sms", "3")
    assert isinstance(world, dict)
    conversation, peer_id, phone = world["conversation"], world["peer"], world["phone"]
    peer = await open_client(sms_server, "peer", sms_server.tickets(peer_id)[peer_id])
    try:
        await peer.ping()

        # SMS in: the text reaches the peer supporter's socket, live.
        sid = simulate.new_message_sid()
        assert await text_in(sms_server, phone, "Hi, it's me. Rough night. 🌧", sid=sid) == 200
        texted = await peer.message("Hi, it's me. Rough night. 🌧")
        assert (texted["channel"], texted["sender"]["role"], texted["seq"]) == (
            "sms",
            "participant",
            1,
        )
        # Twilio redelivers the webhook: 200, and nothing new.
        assert await text_in(sms_server, phone, "Hi, it's me. Rough night. 🌧", sid=sid) == 200

        # SMS out: the reply goes through the outbox and the worker to (fake) Twilio, and the
        # delivery reports come back to the peer supporter's socket.
        reply = "I'm sorry to hear that. Want to talk about it?"
        await peer.send(send_frame(conversation, "peer-1", reply))
        acked = await peer.ack("peer-1")
        assert acked["seq"] == 2 and acked["delivery"] == "pending"
        for status in ("queued", "sent", "delivered"):
            await delivery_to(peer, acked["id"], status)
        assert twilio_over_http.api.bodies_to(phone) == [reply]
        sent = twilio_over_http.api.sent[-1]
        assert sent.messaging_service_sid.startswith("MG")
        (outbox_id,) = rows(sms_server, "SELECT id FROM messaging_smsoutbox")[0]
        base = sms_server.env["PEERLINK_PUBLIC_URL"]
        assert sent.status_callback == f"{base}/sms/twilio/status/?outbox={outbox_id}"

        # STOP (any case, padded): no more texts, and the peer supporter sees why.
        assert await text_in(sms_server, phone, "  stop ") == 200
        notice = await peer.wait_for(
            lambda f: f["type"] == "message" and f["message"]["channel"] == "system",
            "opt-out notice",
        )
        assert "STOP" in notice["message"]["body"]
        await peer.send(send_frame(conversation, "peer-2", "Are you still there?"))
        unsent = await peer.ack("peer-2")
        assert unsent["delivery"] == "not_sent"  # recorded as never to be sent, at once
        assert twilio_over_http.api.bodies_to(phone) == [reply]

        # START: texts flow again. HELP: the programme's crisis resources, by SMS.
        assert await text_in(sms_server, phone, "START") == 200
        await peer.wait_for(
            lambda f: (
                f["type"] == "message"
                and "START" in f["message"]["body"]
                and f["message"]["channel"] == "system"
            ),
            "opt-in notice",
        )
        assert await text_in(sms_server, phone, "Help") == 200
        automated = await peer.wait_for(
            lambda f: f["type"] == "message" and f["message"]["channel"] == "automated",
            "the HELP answer in the thread",
        )
        assert automated["message"]["body"] == "Call 988."
        await wait_until(
            lambda: twilio_over_http.api.bodies_to(phone) == [reply, "Call 988."], "the HELP reply"
        )
    finally:
        await peer.close()

    stored = rows(
        sms_server,
        "SELECT seq, channel, client_id FROM messaging_message WHERE conversation_id = %s"
        " ORDER BY seq",
        conversation,
    )
    # One thread, gap-free, each text once: the redelivered webhook added nothing.
    assert [seq for seq, _, _ in stored] == list(range(1, len(stored) + 1))
    assert [client_id for _, _, client_id in stored].count(f"sms:{sid}") == 1
    assert rows(sms_server, "SELECT count(*) FROM messaging_inboundsms")[0][0] == 4
    assert all(status == 200 for status in twilio_over_http.callback_statuses)
    sms_server.assert_log_clean()


async def test_a_forged_inbound_webhook_is_refused_and_stores_nothing(
    sms_server: AsgiServer,
) -> None:
    base = sms_server.env["PEERLINK_PUBLIC_URL"]
    params = simulate.inbound_params(sender="+12045550199", body="forged")
    forged = simulate.signed_request(f"{base}/sms/twilio/inbound/", params, token="not-the-token")
    before = rows(sms_server, "SELECT count(*) FROM messaging_inboundsms")[0][0]
    assert await asyncio.to_thread(simulate.post, forged) == 403
    assert rows(sms_server, "SELECT count(*) FROM messaging_inboundsms")[0][0] == before
