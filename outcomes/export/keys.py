"""Per-study export keys and the pseudonymous ids made with them.

A study is a programme. Its key comes from `PEERLINK_EXPORT_KEYS` in the environment
("slug:base64key,other:base64key") and is never stored in the database, so that whoever reads
the database cannot re-identify an export, and two studies' exports cannot be linked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from django.conf import settings

from peerlink.errors import DomainError

MIN_KEY_BYTES = 32
# Domain separation: a pid is never equal to any other HMAC made with the same key.
PID_CONTEXT = b"peerlink/export-pid/v1/"
PID_HEX_CHARS = 20  # 80 bits: no collision to expect below billions of people


class ExportKeyError(DomainError):
    def __init__(self, detail: str) -> None:
        super().__init__("export_key", detail)


def parse_export_keys(raw: str) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        slug, sep, encoded = entry.partition(":")
        if not sep or not slug:
            raise ExportKeyError("PEERLINK_EXPORT_KEYS entries are slug:base64key.")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ExportKeyError(f"The export key of {slug} is not base64.") from None
        if len(key) < MIN_KEY_BYTES:
            raise ExportKeyError(f"The export key of {slug} is shorter than 32 bytes.")
        keys[slug] = key
    return keys


def export_key(programme_slug: str) -> bytes:
    keys = parse_export_keys(settings.PEERLINK_EXPORT_KEYS)
    try:
        return keys[programme_slug]
    except KeyError:
        raise ExportKeyError(
            f"No export key for {programme_slug}: add one to PEERLINK_EXPORT_KEYS."
        ) from None


class Pseudonymiser:
    """HMAC-SHA256 of the participant's id: the same person gets the same pid in every export
    made with the same key, and an unrelated one under any other key."""

    def __init__(self, key: bytes) -> None:
        self._mac = hmac.new(key, PID_CONTEXT, hashlib.sha256)

    def pid(self, participant_id: str) -> str:
        """`participant_id` as text in either form (SQLite stores a uuid as 32 hex digits,
        PostgreSQL prints it with hyphens): the pid is of the 32 hex digits."""
        mac = self._mac.copy()
        mac.update(participant_id.replace("-", "").lower().encode())
        return mac.hexdigest()[:PID_HEX_CHARS]
