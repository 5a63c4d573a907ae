"""Shared fixtures for the supervision tests: a fixed clock, a checklist, and builders that go
through the real services. Nothing here prints names or note text."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from supervision.models import FidelityChecklist, SupervisionSession
from supervision.services import ItemSpec, create_checklist, programme_today, record_session
from tests.platform.supervision.helpers import NOW
from tests.support.factories import World

_client_ids = itertools.count(1)


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.datetime], None]:
    """Django's clock held at NOW (call the fixture's value to move it), so that "today" and
    "in the future" do not depend on when the suite runs."""

    def set_now(instant: dt.datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: instant)

    set_now(NOW)
    return set_now


@pytest.fixture
def checklist(world: World) -> FidelityChecklist:
    """Three items on two different scales: 0..2, 0..2 and 0..4 (a total out of 8)."""
    return create_checklist(
        programme=world.programme,
        name="Core practice",
        items=[
            ItemSpec("listening", "Listened without judgement", 2),
            ItemSpec("boundaries", "Kept to the role's boundaries", 2),
            ItemSpec("hope", "Shared recovery and hope", 4),
        ],
        created_by=world.admin,
    )


@pytest.fixture
def make_session(world: World) -> Callable[..., SupervisionSession]:
    """Record a session through the service: by default an individual one of the world's
    supervisor with `world.peer`, held today, under a fresh client id."""

    def make(**overrides: Any) -> SupervisionSession:
        arguments: dict[str, Any] = {
            "programme": world.programme,
            "supervisor": world.supervisor,
            "recorded_by": world.supervisor,
            "held_on": programme_today(world.programme),
            "kind": "individual",
            "duration_minutes": 50,
            "peer_supporter_ids": [world.peer.id],
            "notes": "Talked through a hard week.",
            "client_id": f"session-{next(_client_ids)}",
            **overrides,
        }
        return record_session(**arguments).session

    return make
