"""Rewrap every data key under the newest key-encryption key (DESIGN.md §5).

Run after adding a new `VERSION:KEY` to PEERLINK_KEYRING; once it reports nothing left under
an old version, that version can be removed from the keyring. Safe to run again: keys already
under the newest version are left alone. Each run is recorded in the audit log (counts and
versions only, never key material).
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count

from audit.services import record
from encryption.keyring import MissingKeyError
from encryption.models import DataKey
from encryption.services import rotate_keys


def _live_keys_by_version() -> dict[str, int]:
    """How many live (not shredded) data keys each KEK version wraps."""
    rows = (
        DataKey.objects.filter(wrapped_key__isnull=False)
        .values("kek_version")
        .annotate(n=Count("id"))
        .order_by("kek_version")
    )
    return {str(row["kek_version"]): row["n"] for row in rows}


class Command(BaseCommand):
    help = "Rewrap every data key under the newest key-encryption key in PEERLINK_KEYRING."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="Data keys rewrapped per transaction (default 500).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        before = _live_keys_by_version()
        try:
            report = rotate_keys(batch_size=batch_size)
        except (MissingKeyError, InvalidUnwrap) as exc:
            # Batches committed before the failure stay rewrapped: record what changed.
            reason = (
                str(exc)
                if isinstance(exc, MissingKeyError)
                else "a data key does not unwrap under its KEK version: PEERLINK_KEYRING "
                "holds a different key for that version than the one that wrapped it"
            )
            record(
                action="keys.rotation_failed",
                details={
                    "error": type(exc).__name__,
                    "kek_versions_before": before,
                    "kek_versions_after": _live_keys_by_version(),
                },
            )
            raise CommandError(f"key rotation stopped: {reason}") from exc
        after = _live_keys_by_version()
        record(
            action="keys.rotated",
            details={
                "current_version": report.current_version,
                "rewrapped": report.rewrapped,
                "already_current": report.already_current,
                "destroyed_skipped": report.destroyed_skipped,
                "kek_versions_before": before,
                "kek_versions_after": after,
            },
        )
        self.stdout.write(
            f"rotate_keys: rewrapped {report.rewrapped} data key(s) under KEK version "
            f"{report.current_version}; {report.already_current} already current, "
            f"{report.destroyed_skipped} destroyed skipped"
        )
