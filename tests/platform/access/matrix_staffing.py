"""Role matrix rows for the staffing endpoints (merged by test_role_endpoint_matrix.py).

Working hours and leave are kept by the roles that have them (peer supporters and
supervisors); the on-call rota by the programme's supervisors and admins; an escalation phone
by any casework staff member for themselves."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.support.factories import World
from tests.support.role_matrix import Case, everyone, supervisors_and_admins


def _on_duty_roles(status: int) -> dict[str, int]:
    return {**everyone(403), "own_peer": status, "other_peer": status, "supervisor": status}


def _soon(days: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


def _leave_body(world: World) -> dict[str, Any]:
    return {"starts_at": _soon(7), "ends_at": _soon(9)}


def _peer_leave_path(world: World) -> str:
    """Upcoming leave of `world.peer`: theirs to cancel, and their team supervisor's."""
    from staffing.services import record_leave

    now = dt.datetime.now(dt.UTC)
    leave = record_leave(
        user=world.peer,
        starts_at=now + dt.timedelta(days=3),
        ends_at=now + dt.timedelta(days=4),
        recorded_by=world.peer,
    )
    return f"/api/v1/me/leave/{leave.id}/"


def _shift_body(world: World) -> dict[str, Any]:
    return {
        "supervisor": world.supervisor.id,
        "starts_at": _soon(1),
        "ends_at": _soon(2),
        "level": 1,
    }


ROWS: dict[tuple[str, str], Case] = {
    ("me-availability", "GET"): Case(
        "GET", lambda w: "/api/v1/me/availability/", _on_duty_roles(200)
    ),
    ("me-availability", "PUT"): Case(
        "PUT",
        lambda w: "/api/v1/me/availability/",
        _on_duty_roles(200),
        lambda w: {"time_zone": "America/Edmonton", "working_hours": {"mon": ["09:00", "17:00"]}},
    ),
    ("me-leave", "GET"): Case("GET", lambda w: "/api/v1/me/leave/", _on_duty_roles(200)),
    ("me-leave", "POST"): Case(
        "POST", lambda w: "/api/v1/me/leave/", _on_duty_roles(201), _leave_body
    ),
    ("me-leave-detail", "DELETE"): Case(
        "DELETE",
        _peer_leave_path,
        {**everyone(403), "own_peer": 204, "supervisor": 204, "other_peer": 404},
    ),
    ("me-contact", "PUT"): Case(
        "PUT",
        lambda w: "/api/v1/me/contact/",
        {**everyone(403), "own_peer": 200, "other_peer": 200, "supervisor": 200, "admin": 200},
        lambda w: {"phone": "+17805550199"},
    ),
    ("programme-on-call", "GET"): Case(
        "GET",
        lambda w: f"/api/v1/programmes/{w.programme.slug}/on-call/",
        supervisors_and_admins(200),
    ),
    ("programme-on-call", "POST"): Case(
        "POST",
        lambda w: f"/api/v1/programmes/{w.programme.slug}/on-call/",
        supervisors_and_admins(201),
        _shift_body,
    ),
}
