"""The append-only, hash-chained audit log (DESIGN.md §5).

Each entry stores the hash of the previous one, so editing, deleting or reordering any entry
breaks the chain from that point on; `manage.py verify_audit` finds the first broken link.
Database triggers refuse UPDATE and DELETE on the table. Details never hold personal data:
ids, codes and counts only.
"""

from __future__ import annotations

from django.db import models

GENESIS_HASH = "0" * 64


class AuditEntry(models.Model):
    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField()
    # Plain ids, not foreign keys: a deleted user must not rewrite history.
    actor_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        indexes = [
            models.Index(fields=["action", "created_at"]),
            models.Index(fields=["target_type", "target_id"]),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"#{self.id} {self.action}"


class AuditChainHead(models.Model):
    """A single row, locked by each writer, so that concurrent writers extend the chain one
    after the other instead of forking it."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_entry_id = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self) -> str:
        return f"audit head at #{self.last_entry_id}"
