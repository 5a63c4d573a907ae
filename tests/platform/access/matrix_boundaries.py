"""Role matrix rows for the boundaries endpoints (merged by test_role_endpoint_matrix.py)."""

from __future__ import annotations

from tests.support.role_matrix import Case

ROWS: dict[tuple[str, str], Case] = {
    # Confirmations of contact details sent: casework staff of the programme (each sees their
    # own, their team's or all); evaluators and service users never.
    ("boundary-confirmation-list", "GET"): Case(
        "GET",
        lambda w: f"/api/v1/boundary-confirmations/?programme={w.programme.slug}",
        {
            "anonymous": 403,
            "service_user": 403,
            "other_peer": 200,
            "own_peer": 200,
            "supervisor": 200,
            "evaluator": 403,
            "admin": 200,
        },
    ),
}
