"""Faults in the cluster's senders: a worker killed (SIGKILL) in the middle of sending, and
the SMS provider answering 500 and 429 for a while. Every text is sent exactly once all the
same (DESIGN.md §6): the database is the record, a row being sent is leased, Twilio's
callback adopts a send whose worker died before it could note it, and the outbox sweeper
rings again for what a lost worker held.

The lease, the sweeper's grace and the retry waits are shortened through their environment
variables (README, Configuration) so that recovery takes seconds, not minutes."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.texts import one, seed_due_texts, sends_per_row, wait_for
from tests.conftest import FAKE_TWILIO_ACCOUNT_SID
from tests.e2e.conftest import Cluster, cluster, forwarding_twilio_env
from tests.support import services
from tests.support.fake_twilio import Failure, FakeTwilioServer, fake_twilio_server

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
RECOVERY = 180.0  # seconds: the lease, the sweeper's tick, the retries
# A lost worker's rows come back after the lease (which must outlast one call to Twilio,
# TWILIO_TIMEOUT_SECONDS, 10 s by default) and the sweeper's next tick (15 s).
SHORT_LEASE = {"PEERLINK_SMS_SENDING_LEASE_SECONDS": "20", "PEERLINK_SMS_SWEEP_GRACE_SECONDS": "5"}
# Retries within seconds. The wait after an ambiguous answer (a 5xx: Twilio may have taken
# the text) is short here only because the fake takes none of the texts it fails: in
# production it leaves time for Twilio's callback to say a text went.
SHORT_RETRIES = {
    "PEERLINK_SMS_AMBIGUOUS_RETRY_SECONDS": "2",
    "PEERLINK_SMS_RETRY_BASE_SECONDS": "1",
    "PEERLINK_SMS_RETRY_MAX_SECONDS": "4",
}


@pytest.fixture
def slow_twilio(twilio_token: str) -> Iterator[FakeTwilioServer]:
    """50 ms a request, as a provider's round trip: a worker is always in the middle of one."""
    with fake_twilio_server(
        account_sid=FAKE_TWILIO_ACCOUNT_SID, auth_token=twilio_token, delay=0.05
    ) as server:
        yield server


@contextlib.contextmanager
def _senders(
    postgres_server: services.PostgresServer,
    redis_server: services.RedisServer,
    twilio: FakeTwilioServer,
    token: str,
    timing: dict[str, str],
) -> Iterator[Cluster]:
    with cluster(
        postgres_server,
        redis_server,
        workers=2,
        with_beat=True,
        extra_env={**forwarding_twilio_env(twilio, token), **timing},
    ) as running:
        yield running


@pytest.fixture
def senders_with_short_lease(
    postgres_server: services.PostgresServer,
    redis_server: services.RedisServer,
    slow_twilio: FakeTwilioServer,
    twilio_token: str,
) -> Iterator[Cluster]:
    with _senders(postgres_server, redis_server, slow_twilio, twilio_token, SHORT_LEASE) as c:
        yield c


@pytest.fixture
def senders_with_short_retries(
    postgres_server: services.PostgresServer,
    redis_server: services.RedisServer,
    slow_twilio: FakeTwilioServer,
    twilio_token: str,
) -> Iterator[Cluster]:
    with _senders(postgres_server, redis_server, slow_twilio, twilio_token, SHORT_RETRIES) as c:
        yield c


def _dispatch(running: Cluster) -> None:
    [server] = running.servers
    subprocess.run(
        [sys.executable, "manage.py", "dispatch_due"],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        check=True,
        timeout=300,
    )


def _all_sent(running: Cluster, twilio: FakeTwilioServer, count: int) -> bool:
    stored = one(
        running.database_url,
        "SELECT count(*) FROM messaging_smsoutbox WHERE status = 'sent'"
        " AND provider_message_id <> ''",
    )
    return stored == count and len(sends_per_row(twilio)) == count


def _exactly_once(running: Cluster, twilio: FakeTwilioServer, count: int) -> None:
    time.sleep(3)  # a late duplicate would show by now
    per_row = sends_per_row(twilio)
    assert len(per_row) == count
    assert max(per_row.values()) == 1, "a text was sent twice"
    assert len(twilio.api.sent) == count
    assert one(running.database_url, "SELECT count(*) FROM messaging_smsoutbox") == count


def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(
    senders_with_short_lease: Cluster, slow_twilio: FakeTwilioServer
) -> None:
    senders = senders_with_short_lease
    texts = 600
    seed_due_texts(senders.servers[0], texts)
    _dispatch(senders)
    wait_for(lambda: len(slow_twilio.api.sent) >= 100, "sending under way", RECOVERY)
    senders.kill("worker1")
    assert len(slow_twilio.api.sent) < texts, "killed while texts were still to send"
    senders.restart("worker1")
    wait_for(lambda: _all_sent(senders, slow_twilio, texts), "every text sent", RECOVERY)
    _exactly_once(senders, slow_twilio, texts)


def test_provider_errors_for_a_while_are_retried_until_every_text_is_sent_once(
    senders_with_short_retries: Cluster, slow_twilio: FakeTwilioServer
) -> None:
    senders = senders_with_short_retries
    texts = 200
    slow_twilio.api.fail_next(Failure(status=500, code=20500), times=40)
    slow_twilio.api.fail_next(Failure(status=429, code=20429), times=40)
    seed_due_texts(senders.servers[0], texts)
    _dispatch(senders)
    wait_for(lambda: _all_sent(senders, slow_twilio, texts), "every text sent", RECOVERY)
    _exactly_once(senders, slow_twilio, texts)
    assert slow_twilio.api.requests >= texts + 80  # the failures were really answered
    retried = one(
        senders.database_url, "SELECT count(*) FROM messaging_smsoutbox WHERE attempts > 1"
    )
    assert isinstance(retried, int) and retried > 0
    senders.servers[0].assert_log_clean()
