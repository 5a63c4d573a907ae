"""The per-number limit on inbound texts, on a real Redis (production) and on Django's cache
(local and test profiles): counted per number and per minute, keyed without the number, and
open when Redis is down (a person's text is worth more than the limit)."""

from __future__ import annotations

from typing import Any

import pytest
from redis import Redis

from messaging.sms import ratelimit
from tests.support import services
from tests.support.factories import fictional_phone

SENDER = "+17805550142"


@pytest.fixture
def on_redis(redis_server: services.RedisServer, settings: Any) -> Redis:
    settings.REDIS_URL = redis_server.url
    settings.SMS_INBOUND_PER_NUMBER_PER_MINUTE = 3
    client = Redis.from_url(redis_server.url)
    client.flushall()
    return client


pytestmark = pytest.mark.redis


def test_texts_within_the_limit_pass_and_the_next_is_over(on_redis: Redis) -> None:
    assert [ratelimit.over_limit(SENDER) for _ in range(4)] == [False, False, False, True]


def test_each_number_has_its_own_count(on_redis: Redis) -> None:
    for _ in range(3):
        ratelimit.over_limit(SENDER)
    assert ratelimit.over_limit(fictional_phone()) is False


def test_the_count_starts_again_in_the_next_minute(
    on_redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit.time, "time", lambda: 600.0)
    for _ in range(4):
        ratelimit.over_limit(SENDER)
    monkeypatch.setattr(ratelimit.time, "time", lambda: 660.0)
    assert ratelimit.over_limit(SENDER) is False


def test_the_key_holds_no_phone_number_and_expires(on_redis: Redis) -> None:
    ratelimit.over_limit(SENDER)
    keys = [key.decode() for key in on_redis.keys("*")]
    assert len(keys) == 1
    assert SENDER not in keys[0] and SENDER.lstrip("+") not in keys[0]
    assert 0 < on_redis.ttl(keys[0]) <= 2 * ratelimit.WINDOW_SECONDS


def test_an_unreachable_redis_lets_the_text_through(settings: Any) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{services.free_port()}/0"
    settings.SMS_INBOUND_PER_NUMBER_PER_MINUTE = 0
    assert ratelimit.over_limit(SENDER) is False


def test_without_redis_the_django_cache_counts(settings: Any) -> None:
    settings.REDIS_URL = ""
    settings.SMS_INBOUND_PER_NUMBER_PER_MINUTE = 1
    assert [ratelimit.over_limit(SENDER) for _ in range(2)] == [False, True]
