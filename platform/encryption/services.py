"""Field encryption, written by hand on purpose.

No maintained Django library gives what DESIGN.md §5 needs together: AES-256-GCM with a
random data key per conversation or person, wrapped (RFC 3394) by a versioned KEK, associated
data binding each ciphertext to its table, row and field, fail-closed decryption, rotation by
rewrapping and crypto-shredding. The primitives all come from `cryptography`.

Ciphertext layout: FORMAT (1 byte) | nonce (12 bytes) | AES-GCM ciphertext and tag.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from django.db import transaction
from django.utils import timezone

from encryption.keyring import KEY_BYTES, current_index_key, current_keyring
from encryption.models import DataKey, DataKeyPurpose

FORMAT_V1 = b"\x01"
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A ciphertext could not be authenticated. Never carries the plaintext or ciphertext."""


class DataKeyDestroyed(DecryptionError):
    """The data key was shredded: the data it protected is erased."""


@dataclass(frozen=True)
class FieldRef:
    """Where a ciphertext lives. Bound into it as associated data."""

    table: str
    row: str
    field: str

    def associated_data(self, data_key_id: uuid.UUID) -> bytes:
        return f"peerlink/v1|{self.table}|{self.row}|{self.field}|{data_key_id}".encode()


@functools.lru_cache(maxsize=65536)
def _aead(kek: bytes, wrapped: bytes) -> AESGCM:
    # Unwrapping is cheap, but building the cipher per message is not free on the chat path.
    return AESGCM(aes_key_unwrap(kek, wrapped))


def _cipher_for(data_key: DataKey) -> AESGCM:
    if data_key.wrapped_key is None:
        raise DataKeyDestroyed(f"data key {data_key.id} was destroyed")
    kek = current_keyring().kek(data_key.kek_version)
    try:
        return _aead(kek, bytes(data_key.wrapped_key))
    except InvalidUnwrap:
        raise DecryptionError(f"data key {data_key.id} does not unwrap under its KEK") from None


def create_data_key(*, purpose: DataKeyPurpose | str) -> DataKey:
    ring = current_keyring()
    version = ring.current_version
    wrapped = aes_key_wrap(ring.kek(version), AESGCM.generate_key(bit_length=KEY_BYTES * 8))
    return DataKey.objects.create(purpose=purpose, kek_version=version, wrapped_key=wrapped)


def encrypt(*, data_key: DataKey, plaintext: str, ref: FieldRef) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    sealed = _cipher_for(data_key).encrypt(
        nonce, plaintext.encode("utf-8"), ref.associated_data(data_key.id)
    )
    return FORMAT_V1 + nonce + sealed


def decrypt(*, data_key: DataKey, ciphertext: bytes | memoryview, ref: FieldRef) -> str:
    blob = bytes(ciphertext)
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != FORMAT_V1:
        raise DecryptionError(f"malformed ciphertext for {ref.table}.{ref.field}")
    cipher = _cipher_for(data_key)
    try:
        plain = cipher.decrypt(
            blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], ref.associated_data(data_key.id)
        )
    except InvalidTag:
        raise DecryptionError(
            f"ciphertext for {ref.table}.{ref.field} row {ref.row} failed authentication"
        ) from None
    return plain.decode("utf-8")


@dataclass(frozen=True)
class RotationReport:
    rewrapped: int
    already_current: int
    destroyed_skipped: int
    current_version: int


def rotate_keys(*, batch_size: int = 500) -> RotationReport:
    """Rewrap every data key under the newest KEK, in batches of one transaction each.

    Idempotent and resumable: a key already under the newest version is left alone.
    """
    ring = current_keyring()
    target = ring.current_version
    rewrapped = 0
    while True:
        with transaction.atomic():
            batch = list(
                DataKey.objects.select_for_update()
                .filter(wrapped_key__isnull=False)
                .exclude(kek_version=target)
                .order_by("id")[:batch_size]
            )
            if not batch:
                break
            now = timezone.now()
            for key in batch:
                assert key.wrapped_key is not None
                raw = aes_key_unwrap(ring.kek(key.kek_version), bytes(key.wrapped_key))
                key.wrapped_key = aes_key_wrap(ring.kek(target), raw)
                key.kek_version = target
                key.rewrapped_at = now
            DataKey.objects.bulk_update(batch, ["wrapped_key", "kek_version", "rewrapped_at"])
            rewrapped += len(batch)
    return RotationReport(
        rewrapped=rewrapped,
        already_current=DataKey.objects.filter(
            kek_version=target, wrapped_key__isnull=False
        ).count()
        - rewrapped,
        destroyed_skipped=DataKey.objects.filter(wrapped_key__isnull=True).count(),
        current_version=target,
    )


def shred_data_key(*, data_key: DataKey) -> None:
    """Erase everything the key protected (retention, right to erasure). Irreversible."""
    DataKey.objects.filter(pk=data_key.pk).update(wrapped_key=None, destroyed_at=timezone.now())
    data_key.wrapped_key = None


def blind_index(value: str) -> str:
    """Keyed HMAC-SHA256 of a normalised value (E.164 phone number) for exact-match lookup."""
    return hmac.new(current_index_key(), value.encode("utf-8"), hashlib.sha256).hexdigest()
