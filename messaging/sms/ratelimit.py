"""The per-number limit on inbound texts (DESIGN.md §5): a person can't type faster than
`SMS_INBOUND_PER_NUMBER_PER_MINUTE`; a loop between two auto-responders can.

A fixed one-minute window per number, keyed by the number's blind index (never the number).
With Redis (production) one process-wide client and one round trip (INCR and EXPIRE in a
pipeline): Django's cache would build a new Redis client for every request under ASGI, which
cost a tenth of the webhook's time (docs/performance.md). Without Redis (local, tests) the
Django cache. If Redis can't be reached the text is let through: losing a person's message to
protect against a flood is the wrong way round.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from django.conf import settings
from django.core.cache import cache

from encryption.services import blind_index

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis | None:
    url: str = settings.REDIS_URL
    if not url:
        return None
    with _lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            _clients[url] = client
        return client


def _count(key: str) -> int:
    client = _redis()
    if client is None:
        if cache.add(key, 1, timeout=WINDOW_SECONDS * 2):
            return 1
        try:
            return int(cache.incr(key))
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=WINDOW_SECONDS * 2)
            return 1
    pipe = client.pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, WINDOW_SECONDS * 2)
    count, _ = pipe.execute()
    return int(count)


def over_limit(sender: str) -> bool:
    """Counts this text against its number; True when the number has sent too many."""
    window = int(time.time() // WINDOW_SECONDS)
    key = f"peerlink:sms-inbound:{blind_index(sender)[:32]}:{window}"
    try:
        count = _count(key)
    except redis.RedisError as exc:
        logger.warning("inbound rate limit not checked: %s", type(exc).__name__)
        return False
    return count > settings.SMS_INBOUND_PER_NUMBER_PER_MINUTE
