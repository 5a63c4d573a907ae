"""A crisis text reaches a human, end to end: the real ASGI server (uvicorn, production
settings), a real Celery worker and the one beat, on PostgreSQL and Redis, the real twilio
library on a fake Twilio that answers over HTTP (tests/support/twilio_over_http.py).

The person texts a crisis phrase; the on-call supervisor's socket gets an `alert` frame at
once; the person receives the programme's crisis resources by SMS; nobody acknowledges, and
at the configured minute beat escalates the alert by SMS to the on-call supervisor.

Issue 6, "Done when" 1; DESIGN.md §3 data flow 6.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from messaging.sms import simulate
from tests.e2e.conftest import AsgiServer, forwarding_twilio_env, serve
from tests.e2e.ws_client import open_client
from tests.support import services
from tests.support.fake_twilio import FakeTwilioServer

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ESCALATE_AFTER_MINUTES = 1
# Beat ticks every 15 s: the escalation lands within one tick of its minute.
BEAT_TICK = 15.0


@pytest.fixture(scope="module")
def safety_server(
    postgres_server: services.PostgresServer,
    redis_server: services.RedisServer,
    twilio_over_http: FakeTwilioServer,
    twilio_token: str,
) -> Iterator[AsgiServer]:
    extra = forwarding_twilio_env(twilio_over_http, twilio_token)
    with serve(
        postgres_server, redis_server, extra_env=extra, with_worker=True, with_beat=True
    ) as server:
        yield server


def rows(server: AsgiServer, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(server.database_url) as conn:
        return conn.execute(sql, args).fetchall()


async def wait_until(condition: Any, what: str, *, seconds: float) -> float:
    """Poll until `condition()` holds; the monotonic time it first held."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {seconds}s: {what}")


async def test_a_crisis_text_alerts_the_on_call_supervisor_and_escalates_at_its_minute(
    safety_server: AsgiServer, twilio_over_http: FakeTwilioServer
) -> None:
    world = safety_server.run_script("safety-world", "e2e-safety", "7", str(ESCALATE_AFTER_MINUTES))
    assert isinstance(world, dict)
    phone, supervisor_phone = world["phone"], world["supervisor_phone"]
    supervisor_id = world["supervisor"]
    supervisor = await open_client(
        safety_server, "supervisor", safety_server.tickets(supervisor_id)[supervisor_id]
    )
    try:
        await supervisor.ping()

        base = safety_server.env["PEERLINK_PUBLIC_URL"]
        params = simulate.inbound_params(sender=phone, body="i cant do this anymore, i want to die")
        request = simulate.signed_request(
            f"{base}/sms/twilio/inbound/", params, token=safety_server.env["TWILIO_AUTH_TOKEN"]
        )
        assert await asyncio.to_thread(simulate.post, request) == 200
        opened_at = time.monotonic()

        # Real time: the on-call supervisor's socket hears of it.
        frame = await supervisor.wait_for(lambda f: f["type"] == "alert", "the alert frame")
        alert = frame["alert"]
        assert (alert["status"], alert["severity"]) == ("open", "high")
        assert alert["conversation"] == world["conversation"]
        assert alert["escalation_level"] == 0
        assert phone not in str(frame)  # ids and codes only

        # The person gets the programme's crisis resources, by SMS.
        await wait_until(
            lambda: any("Call 988." in body for body in twilio_over_http.api.bodies_to(phone)),
            "the crisis resources by SMS",
            seconds=30,
        )
        assert twilio_over_http.api.bodies_to(supervisor_phone) == []

        # Nobody acknowledges: at the configured minute, beat texts the on-call supervisor.
        escalated_at = await wait_until(
            lambda: bool(twilio_over_http.api.bodies_to(supervisor_phone)),
            "the escalation SMS",
            seconds=ESCALATE_AFTER_MINUTES * 60 + BEAT_TICK + 45,
        )
        assert escalated_at - opened_at >= ESCALATE_AFTER_MINUTES * 60 - 1
        (escalation,) = twilio_over_http.api.bodies_to(supervisor_phone)
        assert "risk alert" in escalation and phone not in escalation
        update = await supervisor.wait_for(
            lambda f: f["type"] == "alert" and f["alert"]["escalation_level"] == 1,
            "the escalated alert frame",
        )
        assert update["alert"]["id"] == alert["id"]
    finally:
        await supervisor.close()

    actions = [
        action
        for (action,) in rows(
            safety_server,
            "SELECT action FROM audit_auditentry WHERE target_id = %s ORDER BY id",
            alert["id"],
        )
    ]
    assert actions[:3] == ["risk_alert.opened", "risk_alert.crisis_reply", "risk_alert.escalated"]
    safety_server.assert_log_clean()
