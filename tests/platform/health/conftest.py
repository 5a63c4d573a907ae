"""Fixtures for the health tests: a real Redis channel layer or broker, or one that is down.

A "down" dependency is a loopback port nothing listens on: connections are refused at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channels.layers import channel_layers

from peerlink.celery import app as celery_app
from tests.support import services


@pytest.fixture
def closed_port_url() -> str:
    """A Redis URL on a loopback port that nothing listens on."""
    return f"redis://127.0.0.1:{services.free_port()}/0"


@pytest.fixture
def redis_url(redis_server: services.RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def use_channel_layer(settings: Any) -> Iterator[Callable[[str], None]]:
    """Point the default channel layer at a Redis URL, with a fresh backend instance."""

    def use(url: str) -> None:
        channel_layers.backends.clear()
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [url]},
            }
        }

    yield use
    channel_layers.backends.clear()


@pytest.fixture
def use_broker(settings: Any) -> Callable[[str], None]:
    """Send Celery tasks to a real broker URL instead of running them in process."""

    def use(url: str) -> None:
        settings.CELERY_TASK_ALWAYS_EAGER = False
        settings.CELERY_BROKER_URL = url
        # The Celery app reads Django settings live (config_from_object on the settings).
        assert celery_app.conf.broker_write_url == url
        assert not celery_app.conf.task_always_eager

    return use
