"""Role matrix rows for /api/v1/supervision/ (merged by test_role_endpoint_matrix.py).

Sessions are for the programme's supervisors and the peer supporters who took part (`own_peer`
is in the session, `other_peer` is not); programme admins keep checklists and training
records but never see sessions; evaluators and service users get nothing.
"""

from __future__ import annotations

from typing import Any

from tests.support.factories import World
from tests.support.role_matrix import ROLES, Case, everyone, supervisors_and_admins


def _session_id(world: World) -> str:
    from supervision.services import programme_today, record_session

    recorded = record_session(
        programme=world.programme,
        supervisor=world.supervisor,
        recorded_by=world.supervisor,
        held_on=programme_today(world.programme),
        kind="individual",
        duration_minutes=45,
        peer_supporter_ids=[world.peer.id],
        notes="Reflected on boundaries.",
        client_id="matrix-session",
    )
    return str(recorded.session.id)


def _checklist_id(world: World) -> int:
    from supervision.models import FidelityChecklist
    from supervision.services import ItemSpec, create_checklist

    existing = FidelityChecklist.objects.filter(programme=world.programme).first()
    if existing is not None:
        return existing.pk
    checklist = create_checklist(
        programme=world.programme,
        name="Core practice",
        items=[ItemSpec("listening", "Listened without judgement", 2)],
        created_by=world.admin,
    )
    return checklist.pk


def _session_body(world: World) -> dict[str, Any]:
    from supervision.services import programme_today

    return {
        "programme": world.programme.slug,
        "client_id": "matrix-post",
        "held_on": programme_today(world.programme).isoformat(),
        "kind": "group",
        "duration_minutes": 60,
        "peer_supporters": [world.peer.id, world.other_peer.id],
        "notes": "Group reflection.",
    }


def _fidelity_body(world: World) -> dict[str, Any]:
    return {
        "peer_supporter": world.peer.id,
        "checklist": _checklist_id(world),
        "scores": [{"item": "listening", "score": 2}],
    }


def _training_body(world: World) -> dict[str, Any]:
    return {
        "programme": world.programme.slug,
        "user": world.peer.id,
        "course_code": "PS-101",
        "course_title": "Foundations of peer support",
        "completed_on": "2024-01-15",
        "certified_until": "2026-01-15",
    }


def only(**allowed: int) -> dict[str, int]:
    """403 for every role but those named."""
    assert set(allowed) <= set(ROLES)
    return {**everyone(403), **allowed}


def session_member(status: int) -> dict[str, int]:
    """A session of `world.supervisor` with `world.peer`: the programme's supervisors and its
    participants see it; another peer supporter may not know it exists."""
    return only(supervisor=status, own_peer=status, other_peer=404)


ROWS: dict[tuple[str, str], Case] = {
    ("supervision-session-list", "GET"): Case(
        "GET",
        lambda w: f"/api/v1/supervision/sessions/?programme={w.programme.slug}",
        only(supervisor=200, own_peer=200, other_peer=200),
    ),
    ("supervision-session-list", "POST"): Case(
        "POST", lambda w: "/api/v1/supervision/sessions/", only(supervisor=201), _session_body
    ),
    ("supervision-session-detail", "GET"): Case(
        "GET", lambda w: f"/api/v1/supervision/sessions/{_session_id(w)}/", session_member(200)
    ),
    ("supervision-session-fidelity", "GET"): Case(
        "GET",
        lambda w: f"/api/v1/supervision/sessions/{_session_id(w)}/fidelity/",
        session_member(200),
    ),
    ("supervision-session-fidelity", "POST"): Case(
        "POST",
        lambda w: f"/api/v1/supervision/sessions/{_session_id(w)}/fidelity/",
        {**session_member(201), "own_peer": 403},
        _fidelity_body,
    ),
    ("supervision-checklist-list", "GET"): Case(
        "GET",
        lambda w: f"/api/v1/supervision/checklists/?programme={w.programme.slug}",
        supervisors_and_admins(200),
    ),
    ("supervision-training-list", "GET"): Case(
        "GET",
        lambda w: f"/api/v1/supervision/training/?programme={w.programme.slug}",
        only(supervisor=200, admin=200, own_peer=200, other_peer=200),
    ),
    ("supervision-training-list", "POST"): Case(
        "POST", lambda w: "/api/v1/supervision/training/", only(admin=201), _training_body
    ),
}
