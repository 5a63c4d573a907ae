"""Writing to the audit log. Call inside the transaction of the action it records, so that an
action and its audit entry commit or roll back together."""

from __future__ import annotations

import json
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from audit.chain import entry_digest
from audit.models import AuditChainHead, AuditEntry


class InvalidAuditDetails(TypeError):
    """Details must be ids, codes and counts: JSON of str keys, str, int, bool, None, lists."""


def _check_value(value: object, path: str) -> None:
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, str):
        # PostgreSQL's jsonb refuses NUL and lone surrogates; refuse them before the action
        # is rolled back with its audit entry.
        if "\x00" in value or any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
            raise InvalidAuditDetails(f"audit detail {path} holds a character jsonb refuses")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_value(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidAuditDetails(f"audit detail {path} has a non-text key")
            _check_value(item, f"{path}.{key}")
        return
    # Floats are refused too: jsonb rewrites some of them (1e16, -0.0), which would break the
    # hash of the stored entry. Anything else could smuggle personal data in through str().
    raise InvalidAuditDetails(f"audit detail {path} is a {type(value).__name__}")


def _checked_details(details: dict[str, Any]) -> dict[str, Any]:
    _check_value(details, "details")
    # Round-trip through JSON so the hashed form equals what the database gives back.
    checked: dict[str, Any] = json.loads(json.dumps(details))
    return checked


def record(
    *,
    action: str,
    actor: models.Model | None = None,
    target: models.Model | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    clean_details = _checked_details(details or {})
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
