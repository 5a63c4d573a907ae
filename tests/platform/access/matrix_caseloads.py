"""Role matrix rows for the caseloads endpoints (merged by test_role_endpoint_matrix.py).

The waiting queue and peer change requests are for the programme's supervisors and admins;
asking for a different peer supporter is for the service user alone."""

from __future__ import annotations

from tests.support.factories import World
from tests.support.role_matrix import Case, everyone, supervisors_and_admins


def _decline_path(world: World) -> str:
    from programmes.services import request_peer_change

    change, _ = request_peer_change(
        enrolment=world.own, reason="other", requested_by=world.own.participant.user
    )
    return f"/api/v1/peer-change-requests/{change.id}/decline/"


ROWS: dict[tuple[str, str], Case] = {
    ("programme-waiting", "GET"): Case(
        "GET",
        lambda w: f"/api/v1/programmes/{w.programme.slug}/waiting/",
        supervisors_and_admins(200),
    ),
    ("programme-peer-change-requests", "GET"): Case(
        "GET",
        lambda w: f"/api/v1/programmes/{w.programme.slug}/peer-change-requests/",
        supervisors_and_admins(200),
    ),
    ("peer-change-request-decline", "POST"): Case(
        "POST", _decline_path, supervisors_and_admins(200)
    ),
    ("me-peer-supporter-change", "POST"): Case(
        "POST",
        lambda w: "/api/v1/me/peer-supporter-change/",
        {**everyone(403), "service_user": 201},
        lambda w: {"reason": "not_a_good_fit"},
    ),
}
