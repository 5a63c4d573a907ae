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
    """Walk the chain in order; report the first entry whose link or content does not hold.

    The head is read first and only entries up to it are checked: ids are handed out under
    the head's lock, so entries written while we walk are simply newer than our snapshot.
    """
    head = AuditChainHead.objects.filter(pk=1).first()
    last_expected_id = head.last_entry_id if head is not None else 0
    expected_prev = GENESIS_HASH
    checked = 0
    last_id = 0
    entries = AuditEntry.objects.filter(id__lte=last_expected_id).order_by("id")
    for entry in entries.iterator(chunk_size=chunk_size):
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
    if head is None:
        if AuditEntry.objects.exists():
            first = AuditEntry.objects.order_by("id").values_list("id", flat=True).first()
            return ChainReport(0, first, "the chain head is missing")
        return ChainReport(0, None, "")
    if head.last_hash != expected_prev or head.last_entry_id != last_id:
        return ChainReport(checked, head.last_entry_id, "entries after the last one were removed")
    return ChainReport(checked, None, "")
