"""Readiness checks for `/readyz`: can this process serve traffic right now?

Three dependencies: the database, the channel layer and the Celery broker (DESIGN.md §4).
A check returns a short word on success ("ok", "in-process") and raises on failure. The report
names the failed checks and the exception's class only: exception messages are never shown
or logged, since a database or broker error can quote a host, a user or a URL with its
password.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, get_channel_layer
from django.db import connection

from health.metrics import READY_CHECK_SECONDS, READY_CHECKS
from peerlink.celery import app as celery_app

logger = logging.getLogger(__name__)

# Per check; /readyz answers within a few of these even when everything is down.
CHECK_TIMEOUT_SECONDS = 2
IN_PROCESS_BROKERS = ("memory://",)


class CheckFailed(Exception):
    """A dependency answered, but not as it should."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    # "ok" or a word such as "in-process" on success; the exception's class name on failure.
    detail: str
    seconds: float


@dataclass(frozen=True)
class ReadinessReport:
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    @property
    def failed(self) -> list[str]:
        return [result.name for result in self.results if not result.ok]


def check_database() -> str:
    if connection.settings_dict.get("OPTIONS", {}).get("pool"):
        # From the pool with the check's own timeout: Django's connection would wait the
        # pool's (DATABASE_POOL_TIMEOUT, 10 s) while the database is down, longer than a
        # probe waits for its answer.
        pool = connection.pool  # type: ignore[attr-defined]
        pool.open()  # as Django does on first use (a no-op once open)
        with pool.connection(timeout=CHECK_TIMEOUT_SECONDS) as conn:
            row = conn.execute("SELECT 1").fetchone()
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            row = cursor.fetchone()
    if row is None or row[0] != 1:
        raise CheckFailed("unexpected answer to SELECT 1")
    return "ok"


async def _layer_round_trip(layer: BaseChannelLayer) -> None:
    # A fresh process-specific channel: on a sharded Redis layer its sends and receives go to
    # the same shard, and nothing else ever listens on it.
    channel = await layer.new_channel(prefix="readyz")
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "readyz.probe", "token": token})
    message = await layer.receive(channel)
    if message.get("token") != token:
        raise CheckFailed("the channel layer returned another message")
    # channels_redis removes a received message from its backup queue in a background task;
    # let it finish, so the probe leaves nothing behind to be delivered again.
    wait_received = getattr(layer, "wait_received", None)
    if wait_received is not None:
        await wait_received()


async def _layer_probe(layer: BaseChannelLayer) -> None:
    await asyncio.wait_for(_layer_round_trip(layer), timeout=CHECK_TIMEOUT_SECONDS)


def check_channel_layer() -> str:
    layer = get_channel_layer()
    if layer is None:
        raise CheckFailed("no channel layer is configured")
    # Under the ASGI server this runs the probe on the server's event loop (the one the
    # consumers use); in a plain thread, on a short-lived loop of its own.
    async_to_sync(_layer_probe)(layer)
    return "ok"


def check_broker() -> str:
    conf = celery_app.conf
    url = str(conf.broker_write_url or "")
    if conf.task_always_eager or url.startswith(IN_PROCESS_BROKERS):
        # Tasks run in this process (local and test profiles): there is no broker to reach.
        return "in-process"
    with celery_app.connection_for_write(connect_timeout=CHECK_TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=CHECK_TIMEOUT_SECONDS
        )
    return "ok"


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "channel_layer": check_channel_layer,
    "broker": check_broker,
}

# Every series exists from the start, at zero, so that rate() and alerts work at once.
for _name in CHECKS:
    for _outcome in ("ok", "failed"):
        READY_CHECKS.labels(check=_name, outcome=_outcome)


def _run(name: str, check: Callable[[], str]) -> CheckResult:
    started = time.monotonic()
    try:
        detail = check()
        ok = True
    except Exception as exc:
        detail = type(exc).__name__
        ok = False
        logger.warning("readiness check %s failed: %s", name, detail)
    seconds = time.monotonic() - started
    READY_CHECKS.labels(check=name, outcome="ok" if ok else "failed").inc()
    READY_CHECK_SECONDS.labels(check=name).observe(seconds)
    return CheckResult(name=name, ok=ok, detail=detail, seconds=seconds)


def run_checks() -> ReadinessReport:
    """Run every check, one after the other; a failing check does not stop the others."""
    return ReadinessReport(tuple(_run(name, check) for name, check in CHECKS.items()))
