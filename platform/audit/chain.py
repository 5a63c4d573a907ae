"""How an audit entry is hashed. One function, used both to write and to verify."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any


def entry_digest(
    *,
    prev_hash: str,
    created_at: dt.datetime,
    actor_id: int | None,
    action: str,
    target_type: str,
    target_id: str,
    details: dict[str, Any],
) -> str:
    canonical = json.dumps(
        {
            "created_at": created_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            "actor_id": actor_id,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "details": details,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(f"{prev_hash}|{canonical}".encode()).hexdigest()
