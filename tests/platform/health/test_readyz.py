"""/readyz: 200 when the database, channel layer and broker answer; 503 naming what failed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import OperationalError
from django.test import AsyncClient, Client

from health import checks
from health.metrics import REGISTRY

UseUrl = Callable[[str], None]


def check_status(response: Any) -> dict[str, str]:
    body = response.json()
    return {name: check["status"] for name, check in body["checks"].items()}


def test_ready_on_the_test_profile(client: Client, db: None) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {
            "database": {"status": "ok", "detail": "ok"},
            "channel_layer": {"status": "ok", "detail": "ok"},
            "broker": {"status": "ok", "detail": "in-process"},
        },
    }


@pytest.mark.redis
def test_ready_with_a_real_redis_channel_layer(
    client: Client, db: None, use_channel_layer: UseUrl, redis_url: str
) -> None:
    use_channel_layer(redis_url)

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"]["channel_layer"] == {"status": "ok", "detail": "ok"}


def test_unreachable_channel_layer_makes_it_unready(
    client: Client, db: None, use_channel_layer: UseUrl, closed_port_url: str
) -> None:
    use_channel_layer(closed_port_url)

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["channel_layer"]
    assert check_status(response) == {
        "database": "ok",
        "channel_layer": "failed",
        "broker": "ok",
    }


@pytest.mark.redis
def test_ready_with_a_real_redis_broker(
    client: Client, db: None, use_broker: UseUrl, redis_url: str
) -> None:
    use_broker(redis_url)

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"]["broker"] == {"status": "ok", "detail": "ok"}


def test_unreachable_broker_makes_it_unready(
    client: Client, db: None, use_broker: UseUrl, closed_port_url: str
) -> None:
    use_broker(closed_port_url)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]


def test_failure_shows_the_exception_class_but_never_its_message(
    client: Client, db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_database() -> str:
        raise OperationalError("could not connect to postgresql://peerlink:s3cret@db.internal")

    monkeypatch.setitem(checks.CHECKS, "database", failing_database)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {
        "status": "failed",
        "detail": "OperationalError",
    }
    assert b"s3cret" not in response.content
    assert b"db.internal" not in response.content


def test_failure_is_logged_without_the_exception_message(
    client: Client, db: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def failing_database() -> str:
        raise OperationalError("could not connect to postgresql://peerlink:s3cret@db.internal")

    monkeypatch.setitem(checks.CHECKS, "database", failing_database)

    client.get("/readyz")

    assert "database" in caplog.text
    assert "s3cret" not in caplog.text


def test_checks_are_counted_in_the_metrics(client: Client, db: None) -> None:
    labels = {"check": "database", "outcome": "ok"}
    before = REGISTRY.get_sample_value("peerlink_http_ready_checks_total", labels) or 0.0

    client.get("/readyz")

    assert REGISTRY.get_sample_value("peerlink_http_ready_checks_total", labels) == before + 1


@pytest.mark.redis
async def test_ready_under_the_asgi_handler_with_a_real_redis_channel_layer(
    use_channel_layer: UseUrl, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Through Django's ASGI handler, as under the ASGI server: the sync view runs in a worker
    # thread and the channel layer probe hops back onto this event loop. The database check
    # is stubbed: this test is about the event loop, not the database.
    monkeypatch.setitem(checks.CHECKS, "database", lambda: "ok")
    use_channel_layer(redis_url)

    response = await AsyncClient().get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"]["channel_layer"] == {"status": "ok", "detail": "ok"}
