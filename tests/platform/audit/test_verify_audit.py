"""`manage.py verify_audit`: passes on an intact chain, names the first broken entry otherwise.

Each tamper test changes the table with raw SQL, bypassing the ORM (and, on PostgreSQL, the
append-only trigger), as someone with direct database access could.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.chain import entry_digest
from audit.models import AuditEntry

Tamper = Callable[[str, Sequence[Any]], None]
Chain = Callable[[int], list[AuditEntry]]


# The details column is jsonb on PostgreSQL and text on SQLite.
SET_DETAILS = {
    "postgresql": "UPDATE audit_auditentry SET details = CAST(%s AS jsonb) WHERE id = %s",
    "sqlite": "UPDATE audit_auditentry SET details = %s WHERE id = %s",
}


def verify() -> str:
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def test_passes_on_an_empty_log(db: None) -> None:
    assert "0 entries verified" in verify()


def test_passes_on_an_intact_chain_and_prints_the_count(chain: Chain) -> None:
    chain(7)

    assert "audit chain intact: 7 entries verified" in verify()


def test_changed_details_are_reported_at_that_entry(chain: Chain, tamper: Tamper) -> None:
    entries = chain(5)
    target = entries[2]

    tamper(SET_DETAILS[connection.vendor], [json.dumps({"sequence": 2, "count": 999}), target.id])

    with pytest.raises(CommandError, match=rf"#{target.id}\b.*content was changed"):
        verify()


def test_changed_action_is_reported_at_that_entry(chain: Chain, tamper: Tamper) -> None:
    entries = chain(4)

    tamper("UPDATE audit_auditentry SET action = %s WHERE id = %s", ["test.other", entries[1].id])

    with pytest.raises(CommandError, match=rf"#{entries[1].id}\b"):
        verify()


def test_deleted_middle_entry_is_reported_at_the_entry_after_it(
    chain: Chain, tamper: Tamper
) -> None:
    entries = chain(5)

    tamper("DELETE FROM audit_auditentry WHERE id = %s", [entries[2].id])

    with pytest.raises(CommandError, match=rf"#{entries[3].id}\b.*does not follow"):
        verify()


def test_deleted_first_entry_is_reported_at_the_new_first_entry(
    chain: Chain, tamper: Tamper
) -> None:
    entries = chain(3)

    tamper("DELETE FROM audit_auditentry WHERE id = %s", [entries[0].id])

    with pytest.raises(CommandError, match=rf"#{entries[1].id}\b.*does not follow"):
        verify()


def test_deleted_last_entries_are_detected_through_the_head(chain: Chain, tamper: Tamper) -> None:
    entries = chain(5)

    tamper("DELETE FROM audit_auditentry WHERE id >= %s", [entries[3].id])

    with pytest.raises(CommandError, match=rf"#{entries[-1].id}\b.*removed"):
        verify()


def test_swapped_entries_are_reported_at_the_first_moved_one(chain: Chain, tamper: Tamper) -> None:
    entries = chain(5)
    first, second = entries[1].id, entries[2].id

    # Reorder by swapping the two rows' ids (through a free id, since id is the key).
    tamper("UPDATE audit_auditentry SET id = %s WHERE id = %s", [-1, first])
    tamper("UPDATE audit_auditentry SET id = %s WHERE id = %s", [first, second])
    tamper("UPDATE audit_auditentry SET id = %s WHERE id = %s", [second, -1])

    with pytest.raises(CommandError, match=rf"#{first}\b.*does not follow"):
        verify()


def test_rewritten_prev_hash_is_reported_at_that_entry(chain: Chain, tamper: Tamper) -> None:
    entries = chain(4)

    # Point entry 3 at entry 1, as if entry 2 had never been written.
    tamper(
        "UPDATE audit_auditentry SET prev_hash = %s WHERE id = %s",
        [entries[0].entry_hash, entries[2].id],
    )

    with pytest.raises(CommandError, match=rf"#{entries[2].id}\b.*does not follow"):
        verify()


def test_rewritten_entry_with_a_recomputed_hash_is_reported_at_the_entry_after_it(
    chain: Chain, tamper: Tamper
) -> None:
    entries = chain(4)
    forged = entries[1]
    details = {"sequence": 1, "count": 0}
    forged_hash = entry_digest(
        prev_hash=forged.prev_hash,
        created_at=forged.created_at,
        actor_id=forged.actor_id,
        action=forged.action,
        target_type=forged.target_type,
        target_id=forged.target_id,
        details=details,
    )

    # A forger who recomputes the entry's own hash still breaks the link from the next one.
    tamper(SET_DETAILS[connection.vendor], [json.dumps(details), forged.id])
    tamper("UPDATE audit_auditentry SET entry_hash = %s WHERE id = %s", [forged_hash, forged.id])

    with pytest.raises(CommandError, match=rf"#{entries[2].id}\b.*does not follow"):
        verify()


def test_entries_written_while_verifying_are_not_mistaken_for_tampering(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audit import selectors
    from audit.models import AuditChainHead
    from audit.services import record

    chain(3)
    real_manager = AuditChainHead.objects

    class HeadThenConcurrentWrite:
        """Reads the head, then lets another writer commit before the entries are read."""

        def filter(self, **kwargs: Any) -> Any:
            head = real_manager.filter(**kwargs).first()
            record(action="test.concurrent")
            return type("Snapshot", (), {"first": staticmethod(lambda: head)})()

    stand_in = type("AuditChainHead", (), {"objects": HeadThenConcurrentWrite()})
    monkeypatch.setattr(selectors, "AuditChainHead", stand_in)
    report = selectors.verify_chain()
    assert report.intact, report.problem
    assert report.entries_checked == 3


def test_a_missing_chain_head_is_reported(chain: Chain, tamper: Tamper) -> None:
    entries = chain(2)
    tamper("DELETE FROM audit_auditchainhead", [])
    with pytest.raises(CommandError, match=rf"#{entries[0].id}\b.*head is missing"):
        verify()
