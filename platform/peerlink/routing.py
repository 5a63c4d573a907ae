"""WebSocket routes (DESIGN.md §4)."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import path

from messaging.consumers import ChatConsumer

TRUE = {"1", "true", "yes"}


def bench_relay_enabled() -> bool:
    """The chat benchmark's bare relay (messaging/bench_relay.py): off unless the setting (or,
    where the settings don't define it, the environment) PEERLINK_BENCH_RELAY says so, and
    refused outright in production: an unauthenticated fan-out must never be served there."""
    value = getattr(settings, "PEERLINK_BENCH_RELAY", None)
    if value is None:
        value = os.environ.get("PEERLINK_BENCH_RELAY", "").lower() in TRUE
    if not value:
        return False
    module = getattr(settings, "SETTINGS_MODULE", None) or ""
    if settings.PEERLINK_ENV == "production" or module.endswith("settings.production"):
        raise ImproperlyConfigured(
            "PEERLINK_BENCH_RELAY is for benchmarks only; unset it in production."
        )
    return True


websocket_urlpatterns: list[Any] = [path("ws/", ChatConsumer.as_asgi())]

if bench_relay_enabled():
    from messaging.bench_relay import BenchRelayConsumer

    websocket_urlpatterns.append(path("ws/bench-relay/", BenchRelayConsumer.as_asgi()))
