"""Writing to the audit log. Call inside the transaction of the action it records, so that an
action and its audit entry commit or roll back together."""

from __future__ import annotations

import json
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from audit.chain import entry_digest
from audit.models import AuditChainHead, AuditEntry


def record(
    *,
    action: str,
    actor: models.Model | None = None,
    target: models.Model | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    # Round-trip through JSON so the hashed form equals what the database gives back.
    clean_details: dict[str, Any] = json.loads(json.dumps(details or {}, default=str))
    with transaction.atomic():
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        created_at = timezone.now()
        fields: dict[str, Any] = {
            "created_at": created_at,
            "actor_id": actor.pk if actor is not None else None,
            "action": action,
            "target_type": target._meta.label_lower if target is not None else "",
            "target_id": str(target.pk) if target is not None else "",
            "details": clean_details,
        }
        digest = entry_digest(prev_hash=head.last_hash, **fields)
        entry = AuditEntry.objects.create(prev_hash=head.last_hash, entry_hash=digest, **fields)
        head.last_entry_id = entry.id
        head.last_hash = digest
        head.save(update_fields=["last_entry_id", "last_hash"])
    return entry
