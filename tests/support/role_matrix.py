"""The role x endpoint matrix's vocabulary (DESIGN.md §5), shared by the matrix test and the
per-area row files (`tests/platform/access/matrix_*.py`) that it merges."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.factories import World

ROLES = ("anonymous", "service_user", "other_peer", "own_peer", "supervisor", "evaluator", "admin")


def user_for(world: World, role: str) -> Any:
    return {
        "anonymous": None,
        "service_user": world.own.participant.user,
        "other_peer": world.other_peer,
        "own_peer": world.peer,
        "supervisor": world.supervisor,
        "evaluator": world.evaluator,
        "admin": world.admin,
    }[role]


@dataclass(frozen=True)
class Case:
    method: str
    path: Callable[[World], str]
    expected: dict[str, int]
    body: Callable[[World], dict[str, Any]] = field(default=lambda w: {})


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


def signed_in(status: int) -> dict[str, int]:
    return {**everyone(status), "anonymous": 403}


def staff(status: int) -> dict[str, int]:
    return {**signed_in(status), "service_user": 403}


def casework(own: int, *, other_peer: int = 404) -> dict[str, int]:
    """Identifiable data about `world.own`: its peer, their supervisor and admins only."""
    return {
        "anonymous": 403,
        "service_user": 403,
        "evaluator": 403,
        "other_peer": other_peer,
        "own_peer": own,
        "supervisor": own,
        "admin": own,
    }


def supervisors_and_admins(status: int) -> dict[str, int]:
    return {**everyone(403), "supervisor": status, "admin": status}
