"""Role matrix rows for the supervisor's workload view (merged by test_role_endpoint_matrix.py)."""

from __future__ import annotations

from tests.support.role_matrix import Case, supervisors_and_admins

ROWS: dict[tuple[str, str], Case] = {
    ("programme-workload", "GET"): Case(
        "GET",
        lambda w: f"/api/v1/programmes/{w.programme.slug}/workload/",
        supervisors_and_admins(200),
    ),
}
