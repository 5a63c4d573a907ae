"""Reading the audit log back, and checking it."""

from __future__ import annotations

from dataclasses import dataclass

from audit.chain import entry_digest
from audit.models import GENESIS_HASH, AuditChainHead, AuditEntry


@dataclass(frozen=True)
class ChainReport:
    entries_checked: int
    broken_at: int | None
    problem: str

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify_chain(*, chunk_size: int = 2000) -> ChainReport:
    """Walk the chain in order; report the first entry whose link or content does not hold."""
    expected_prev = GENESIS_HASH
    checked = 0
    last_id = 0
    for entry in AuditEntry.objects.order_by("id").iterator(chunk_size=chunk_size):
        if entry.prev_hash != expected_prev:
            return ChainReport(checked, entry.id, "does not follow the entry before it")
        digest = entry_digest(
            prev_hash=entry.prev_hash,
            created_at=entry.created_at,
            actor_id=entry.actor_id,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            details=entry.details,
        )
        if digest != entry.entry_hash:
            return ChainReport(checked, entry.id, "content was changed")
        expected_prev = entry.entry_hash
        last_id = entry.id
        checked += 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and (head.last_hash != expected_prev or head.last_entry_id != last_id):
        return ChainReport(checked, head.last_entry_id, "entries after the last one were removed")
    return ChainReport(checked, None, "")
