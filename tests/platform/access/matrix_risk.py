"""Role matrix rows for the risk endpoints (merged by test_role_endpoint_matrix.py)."""

from __future__ import annotations

from tests.support.role_matrix import Case

ROWS: dict[tuple[str, str], Case] = {}
