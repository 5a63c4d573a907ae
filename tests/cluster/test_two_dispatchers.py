"""10,000 scheduled texts due at once, two dispatchers claiming them at the same time and two
Celery workers sending them through the real twilio library to the fake Twilio over HTTP:
every text sent exactly once, none missed (DESIGN.md §3, data flow 4; §6)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.texts import handled, one, seed_due_texts, sends_per_row, wait_for
from tests.conftest import FAKE_TWILIO_ACCOUNT_SID
from tests.e2e.conftest import Cluster, cluster, forwarding_twilio_env
from tests.support import services
from tests.support.fake_twilio import FakeTwilioServer, fake_twilio_server

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
TEXTS = 10_000
SEND_WAIT = 300.0  # seconds for the workers to send them all


@pytest.fixture(scope="module")
def quiet_twilio(twilio_token: str) -> Iterator[FakeTwilioServer]:
    """No status callbacks: this test counts sends, and 30,000 callbacks would only slow it."""
    with fake_twilio_server(
        account_sid=FAKE_TWILIO_ACCOUNT_SID, auth_token=twilio_token, callbacks=()
    ) as server:
        yield server


@pytest.fixture(scope="module")
def senders(
    postgres_server: services.PostgresServer,
    redis_server: services.RedisServer,
    quiet_twilio: FakeTwilioServer,
    twilio_token: str,
) -> Iterator[Cluster]:
    with cluster(
        postgres_server,
        redis_server,
        workers=2,
        extra_env=forwarding_twilio_env(quiet_twilio, twilio_token),
    ) as running:
        yield running


def test_two_dispatchers_send_ten_thousand_texts_once_each(
    senders: Cluster, quiet_twilio: FakeTwilioServer
) -> None:
    [server] = senders.servers
    seed_due_texts(server, TEXTS)

    # Two dispatchers at once, each a whole tick (as two beats' ticks, or a tick that
    # overran into the next, would be).
    tick = [sys.executable, "manage.py", "dispatch_due"]
    dispatchers = [
        subprocess.Popen(
            tick,
            cwd=ROOT,
            env=server.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = []
    for dispatcher in dispatchers:
        out, err = dispatcher.communicate(timeout=300)
        assert dispatcher.returncode == 0, err[-4000:]
        outputs.append(out)
    shares = [handled(out) for out in outputs]
    assert sum(shares) == TEXTS
    assert all(shares), f"both dispatchers took a share: {shares}"

    wait_for(lambda: len(quiet_twilio.api.sent) >= TEXTS, "every text sent", SEND_WAIT)
    time.sleep(2)  # a duplicate would come after the last of the first sends

    # At the provider: each outbox row sent once, none missing.
    per_row = sends_per_row(quiet_twilio)
    assert len(quiet_twilio.api.sent) == TEXTS
    assert len(per_row) == TEXTS and set(per_row.values()) == {1}

    db = senders.database_url
    assert one(db, "SELECT count(*) FROM scheduling_sendrecord WHERE outcome = 'sent'") == TEXTS
    assert one(db, "SELECT count(*) FROM scheduling_sendrecord WHERE outcome <> 'sent'") == 0
    assert (
        one(
            db,
            "SELECT count(*) FROM messaging_smsoutbox WHERE purpose = 'automated'"
            " AND status = 'sent' AND provider_message_id <> ''",
        )
        == TEXTS
    )
    assert one(db, "SELECT count(*) FROM messaging_smsoutbox WHERE status <> 'sent'") == 0
    # And nothing is due any more: each stream's next text is planned for later.
    assert (
        one(
            db,
            "SELECT count(*) FROM scheduling_pendingsend"
            " WHERE state = 'scheduled' AND due_at <= now()",
        )
        == 0
    )
    server.assert_log_clean()
