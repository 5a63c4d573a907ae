"""Fixtures of the SMS channel's tests."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client


@pytest.fixture
def twilio() -> Client:
    """Twilio's side of the webhooks: a client that answers a server error with a 500 (as
    Twilio would see it) instead of raising it in the test."""
    return Client(raise_request_exception=False)


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks: Any) -> Any:
    """Runs what a request leaves for after commit (the SMS task, channel-layer events)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
