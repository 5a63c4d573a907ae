"""record(): every entry is linked to the one before it by hash."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from audit.chain import entry_digest
from audit.models import GENESIS_HASH, AuditChainHead, AuditEntry
from audit.services import record


def test_first_entry_follows_the_genesis_hash(db: None) -> None:
    entry = record(action="test.first")

    assert entry.prev_hash == GENESIS_HASH


def test_each_entry_links_to_the_hash_of_the_one_before(
    chain: Callable[[int], list[AuditEntry]],
) -> None:
    chain(5)

    entries = list(AuditEntry.objects.order_by("id"))
    assert len(entries) == 5
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.entry_hash


def test_entry_hash_covers_the_stored_content(db: None) -> None:
    entry = record(action="test.hashed", details={"count": 3})

    stored = AuditEntry.objects.get(pk=entry.pk)
    assert stored.entry_hash == entry_digest(
        prev_hash=stored.prev_hash,
        created_at=stored.created_at,
        actor_id=stored.actor_id,
        action=stored.action,
        target_type=stored.target_type,
        target_id=stored.target_id,
        details=stored.details,
    )


def test_head_points_at_the_last_entry(chain: Callable[[int], list[AuditEntry]]) -> None:
    entries = chain(3)

    head = AuditChainHead.objects.get(pk=1)
    assert (head.last_entry_id, head.last_hash) == (entries[-1].id, entries[-1].entry_hash)


def test_actor_and_target_are_stored_as_plain_ids(db: None) -> None:
    holder = record(action="test.target")

    entry = record(action="test.event", actor=None, target=holder)

    assert (entry.actor_id, entry.target_type, entry.target_id) == (
        None,
        "audit.auditentry",
        str(holder.pk),
    )
