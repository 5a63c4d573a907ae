"""The production topology on one machine (DESIGN.md §3, Scale-out): two ASGI servers on two
ports, two Celery workers and one beat, on one PostgreSQL and one Redis, the real twilio
library talking to the fake Twilio over HTTP. Built by tests/e2e/conftest.py's `cluster`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Cluster, cluster, forwarding_twilio_env
from tests.support import services
from tests.support.fake_twilio import FakeTwilioServer


@pytest.fixture(scope="module")
def two_servers(
    postgres_server: services.PostgresServer,
    redis_server: services.RedisServer,
    twilio_over_http: FakeTwilioServer,
    twilio_token: str,
) -> Iterator[Cluster]:
    with cluster(
        postgres_server,
        redis_server,
        web=2,
        workers=2,
        with_beat=True,
        extra_env=forwarding_twilio_env(twilio_over_http, twilio_token),
    ) as running:
        yield running
