"""Helpers for the audit tests: building a chain, and tampering with it behind the ORM's back.

On PostgreSQL a row trigger refuses UPDATE and DELETE on the audit table (migration
audit/0002). A tamperer with owner rights can switch it off, so the tamper tests do exactly
that, inside the test's transaction, to prove the hash chain still catches the change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.db import connection

from audit.models import AuditEntry
from audit.services import record

TRIGGER = "audit_entry_append_only"


@pytest.fixture
def tamper(db: None) -> Callable[[str, Sequence[Any]], None]:
    """Run raw SQL against the audit table as an attacker with database access would."""

    def run(sql: str, params: Sequence[Any] = ()) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"ALTER TABLE audit_auditentry DISABLE TRIGGER {TRIGGER}")
            cursor.execute(sql, params)
            if connection.vendor == "postgresql":
                cursor.execute(f"ALTER TABLE audit_auditentry ENABLE TRIGGER {TRIGGER}")

    return run


@pytest.fixture
def chain(db: None) -> Callable[[int], list[AuditEntry]]:
    """Record `n` entries and return them in order. Details hold ids and counts only."""

    def build(n: int) -> list[AuditEntry]:
        return [
            record(action="test.event", details={"sequence": i, "count": i * 10}) for i in range(n)
        ]

    return build
