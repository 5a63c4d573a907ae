"""The database itself refuses to change or remove audit entries, where it can.

PostgreSQL (production) has a row trigger that refuses UPDATE and DELETE. SQLite (the local
demo) deliberately has none, since Django's flush deletes rows one by one there; the hash
chain is what catches tampering on it. Each test asserts what holds on the database it runs on.
"""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEntry
from audit.services import record


def audit_triggers() -> list[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger "
                "WHERE tgrelid = 'audit_auditentry'::regclass AND NOT tgisinternal"
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master "
                "WHERE type = 'trigger' AND tbl_name = 'audit_auditentry'"
            )
        return sorted(row[0] for row in cursor.fetchall())


def test_append_only_trigger_exists_on_postgresql_only(db: None) -> None:
    expected = ["audit_entry_append_only"] if connection.vendor == "postgresql" else []

    assert audit_triggers() == expected


def test_update_of_an_entry_is_refused_on_postgresql(db: None) -> None:
    entry = record(action="test.original")

    if connection.vendor == "postgresql":
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(
                "UPDATE audit_auditentry SET action = %s WHERE id = %s", ["test.forged", entry.id]
            )
        assert AuditEntry.objects.get(pk=entry.pk).action == "test.original"
    else:
        # No trigger on SQLite: the UPDATE goes through, and only the chain shows it.
        AuditEntry.objects.filter(pk=entry.pk).update(action="test.forged")
        assert AuditEntry.objects.get(pk=entry.pk).action == "test.forged"


def test_delete_of_an_entry_is_refused_on_postgresql(db: None) -> None:
    entry = record(action="test.original")

    if connection.vendor == "postgresql":
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("DELETE FROM audit_auditentry WHERE id = %s", [entry.id])
        assert AuditEntry.objects.filter(pk=entry.pk).exists()
    else:
        AuditEntry.objects.filter(pk=entry.pk).delete()
        assert not AuditEntry.objects.filter(pk=entry.pk).exists()


def test_orm_update_of_an_entry_is_refused_on_postgresql(db: None) -> None:
    entry = record(action="test.original")
    entry.action = "test.forged"

    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            entry.save()
    else:
        entry.save()
    expected = "test.original" if connection.vendor == "postgresql" else "test.forged"
    assert AuditEntry.objects.get(pk=entry.pk).action == expected
