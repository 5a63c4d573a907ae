"""/healthz: the process is up. It touches nothing else (no database access is allowed here)."""

from __future__ import annotations

from django.test import Client


def test_healthz_answers_ok_without_touching_the_database(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_is_never_cached(client: Client) -> None:
    response = client.get("/healthz")

    assert "no-store" in response["Cache-Control"]


def test_healthz_refuses_writes(client: Client) -> None:
    response = client.post("/healthz")

    assert response.status_code == 405
