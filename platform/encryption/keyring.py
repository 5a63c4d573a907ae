"""Key-encryption keys (KEKs) and the blind-index key, read from the environment.

`PEERLINK_KEYRING` holds one or more versioned KEKs: `VERSION:BASE64KEY[,VERSION:BASE64KEY...]`,
each key 32 random bytes (AES-256). The highest version wraps new and rotated data keys; older
versions stay only until `rotate_keys` has rewrapped everything. `PEERLINK_INDEX_KEY` is one
base64 32-byte key for the phone-number blind index. Error messages name the variable to fix,
never the key material.
"""

from __future__ import annotations

import base64
import binascii
import functools
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_BYTES = 32


class KeyringError(ImproperlyConfigured):
    """The key configuration is missing or malformed."""


class MissingKeyError(LookupError):
    """A data key is wrapped under a KEK version that the keyring no longer holds."""


@dataclass(frozen=True)
class Keyring:
    keys: dict[int, bytes]

    @property
    def current_version(self) -> int:
        return max(self.keys)

    def kek(self, version: int) -> bytes:
        try:
            return self.keys[version]
        except KeyError:
            raise MissingKeyError(
                f"key-encryption key version {version} is not in PEERLINK_KEYRING"
            ) from None


def _decode_key(text: str, *, variable: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"{variable}: a key is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise KeyringError(f"{variable}: each key must be {KEY_BYTES} bytes, base64-encoded")
    return key


def parse_keyring(text: str) -> Keyring:
    if not text or not text.strip():
        raise KeyringError(
            "PEERLINK_KEYRING is not set: set it to VERSION:BASE64KEY "
            "(generate one with `PEERLINK_ENV=local python manage.py generate_key --version 1`)"
        )
    keys: dict[int, bytes] = {}
    for part in text.split(","):
        version_text, sep, key_text = part.strip().partition(":")
        # isascii(): str.isdigit() also accepts digits such as '²' that int() refuses.
        if (
            not sep
            or not (version_text.isascii() and version_text.isdigit())
            or int(version_text) < 1
        ):
            raise KeyringError(
                "PEERLINK_KEYRING: each entry must be VERSION:BASE64KEY, VERSION >= 1"
            )
        version = int(version_text)
        if version in keys:
            raise KeyringError(f"PEERLINK_KEYRING: version {version} appears twice")
        keys[version] = _decode_key(key_text, variable="PEERLINK_KEYRING")
    return Keyring(keys=keys)


def parse_index_key(text: str) -> bytes:
    if not text or not text.strip():
        raise KeyringError(
            "PEERLINK_INDEX_KEY is not set: set it to a BASE64KEY of 32 bytes, separate from "
            "the keyring (generate one with `PEERLINK_ENV=local python manage.py generate_key`)"
        )
    return _decode_key(text, variable="PEERLINK_INDEX_KEY")


def validate_configuration(*, keyring: str, index_key: str) -> None:
    ring = parse_keyring(keyring)
    index = parse_index_key(index_key)
    if index in ring.keys.values():
        raise KeyringError("PEERLINK_INDEX_KEY must differ from every key in PEERLINK_KEYRING")


@functools.lru_cache(maxsize=4)
def _cached_keyring(text: str) -> Keyring:
    return parse_keyring(text)


@functools.lru_cache(maxsize=4)
def _cached_index_key(text: str) -> bytes:
    return parse_index_key(text)


def current_keyring() -> Keyring:
    return _cached_keyring(settings.PEERLINK_KEYRING)


def current_index_key() -> bytes:
    return _cached_index_key(settings.PEERLINK_INDEX_KEY)
