"""Helpers of the cluster tests that send scheduled texts: seeding due texts in the cluster's
database, running a dispatcher tick, and reading what was stored and what the fake Twilio
received."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psycopg

from tests.e2e.conftest import AsgiServer
from tests.support.fake_twilio import FakeTwilioServer

ROOT = Path(__file__).resolve().parents[2]


def run(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def seed_due_texts(server: AsgiServer, count: int) -> None:
    output = run(server.env, "tests/cluster/cluster_world.py", "due-texts", str(count))
    assert json.loads(output.splitlines()[-1])["due"] == count


def handled(output: str) -> int:
    """How many sends a `manage.py dispatch_due` tick says it handled."""
    match = re.search(r"^Handled (\d+):", output, flags=re.MULTILINE)
    assert match, output
    return int(match.group(1))


def one(database_url: str, sql: str) -> object:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return row[0]


def sends_per_row(twilio: FakeTwilioServer) -> Counter[str]:
    """How many times the provider accepted each outbox row (named in its callback URL)."""
    return Counter(
        sms.status_callback.rsplit("outbox=", 1)[1]
        for sms in twilio.api.sent
        if sms.status_callback
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.5)
