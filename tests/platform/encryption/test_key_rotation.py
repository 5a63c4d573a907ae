"""Key rotation (DESIGN.md §5): `rotate_keys` rewraps every data key under the newest KEK in
PEERLINK_KEYRING, after which the old KEK can be dropped. Idempotent, and audited.

The keyring is cached by its string value, so setting `settings.PEERLINK_KEYRING` switches it.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from io import StringIO
from typing import TYPE_CHECKING

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEntry
from audit.selectors import verify_chain
from encryption.keyring import MissingKeyError
from encryption.models import DataKey, DataKeyPurpose
from encryption.services import (
    FieldRef,
    create_data_key,
    decrypt,
    encrypt,
    rotate_keys,
    shred_data_key,
)

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

pytestmark = pytest.mark.django_db

K1 = base64.b64encode(os.urandom(32)).decode()
K2 = base64.b64encode(os.urandom(32)).decode()
OLD_ONLY = f"1:{K1}"
BOTH = f"1:{K1},2:{K2}"
NEW_ONLY = f"2:{K2}"

DATA_KEYS = 5


@dataclass
class Sealed:
    data_key: DataKey
    ref: FieldRef
    ciphertext: bytes
    plaintext: str


def _seal(count: int) -> list[Sealed]:
    sealed = []
    for n in range(count):
        key = create_data_key(purpose=DataKeyPurpose.CONVERSATION)
        ref = FieldRef(table="messaging_message", row=str(n), field="body")
        text = f"synthetic message {n}"
        sealed.append(Sealed(key, ref, encrypt(data_key=key, plaintext=text, ref=ref), text))
    return sealed


def _all_decrypt(sealed: list[Sealed]) -> bool:
    return all(
        decrypt(data_key=DataKey.objects.get(pk=s.data_key.pk), ciphertext=s.ciphertext, ref=s.ref)
        == s.plaintext
        for s in sealed
    )


def _rotate(**options: object) -> str:
    out = StringIO()
    call_command("rotate_keys", stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def sealed_under_old_kek(settings: Settings) -> list[Sealed]:
    settings.PEERLINK_KEYRING = OLD_ONLY
    return _seal(DATA_KEYS)


@pytest.fixture
def rotated(settings: Settings, sealed_under_old_kek: list[Sealed]) -> list[Sealed]:
    """Encrypted under 1:K1, rotated under 1:K1,2:K2 (in batches of 2), now on 2:K2 alone."""
    settings.PEERLINK_KEYRING = BOTH
    _rotate(batch_size=2)
    settings.PEERLINK_KEYRING = NEW_ONLY
    return sealed_under_old_kek


def test_everything_still_decrypts_after_rotation_without_the_old_kek(
    rotated: list[Sealed],
) -> None:
    assert _all_decrypt(rotated)


def test_rotation_moves_every_data_key_to_the_newest_kek_version(rotated: list[Sealed]) -> None:
    assert set(DataKey.objects.values_list("kek_version", flat=True)) == {2}


def test_rotation_replaces_the_wrapped_key_bytes(rotated: list[Sealed]) -> None:
    before = {s.data_key.pk: bytes(s.data_key.wrapped_key or b"") for s in rotated}
    after = {k.pk: bytes(k.wrapped_key or b"") for k in DataKey.objects.all()}
    assert all(before[pk] != after[pk] for pk in before)


def test_rotation_stamps_rewrapped_at(rotated: list[Sealed]) -> None:
    assert not DataKey.objects.filter(rewrapped_at__isnull=True).exists()


def test_rotating_again_rewraps_nothing(settings: Settings, rotated: list[Sealed]) -> None:
    before = {k.pk: (bytes(k.wrapped_key or b""), k.rewrapped_at) for k in DataKey.objects.all()}
    report = rotate_keys()
    after = {k.pk: (bytes(k.wrapped_key or b""), k.rewrapped_at) for k in DataKey.objects.all()}
    assert (report.rewrapped, report.already_current) == (0, DATA_KEYS)
    assert after == before


def test_rotate_keys_command_run_again_reports_nothing_rewrapped(rotated: list[Sealed]) -> None:
    output = _rotate()
    assert "rewrapped 0 data key(s)" in output


def test_rotate_keys_prints_a_one_line_summary(
    settings: Settings, sealed_under_old_kek: list[Sealed]
) -> None:
    settings.PEERLINK_KEYRING = BOTH
    output = _rotate()
    assert output.count("\n") == 1
    assert f"rewrapped {DATA_KEYS} data key(s) under KEK version 2" in output


def test_rotation_is_recorded_in_the_audit_log(rotated: list[Sealed]) -> None:
    entry = AuditEntry.objects.get(action="keys.rotated")
    assert entry.details["rewrapped"] == DATA_KEYS
    assert entry.details["current_version"] == 2
    assert entry.details["kek_versions_before"] == {"1": DATA_KEYS}
    assert entry.details["kek_versions_after"] == {"2": DATA_KEYS}


def test_every_rotation_run_is_audited_and_the_chain_holds(rotated: list[Sealed]) -> None:
    _rotate()
    entries = list(AuditEntry.objects.filter(action="keys.rotated").order_by("id"))
    assert [e.details["rewrapped"] for e in entries] == [DATA_KEYS, 0]
    assert verify_chain().intact


def test_rotation_audit_entry_holds_no_key_material(rotated: list[Sealed]) -> None:
    details = json.dumps(AuditEntry.objects.get(action="keys.rotated").details)
    raw_kek_text = [K1, K2, *(k[:16] for k in (K1, K2))]
    leaked = any(text in details for text in raw_kek_text)
    assert not leaked


def test_rotation_without_the_old_kek_fails_with_missing_key_error_naming_the_keyring(
    settings: Settings, sealed_under_old_kek: list[Sealed]
) -> None:
    settings.PEERLINK_KEYRING = NEW_ONLY
    with pytest.raises(MissingKeyError, match="PEERLINK_KEYRING"):
        rotate_keys()


def test_rotation_without_the_old_kek_leaves_data_keys_untouched(
    settings: Settings, sealed_under_old_kek: list[Sealed]
) -> None:
    settings.PEERLINK_KEYRING = NEW_ONLY
    with pytest.raises(MissingKeyError):
        rotate_keys()
    settings.PEERLINK_KEYRING = OLD_ONLY
    assert set(DataKey.objects.values_list("kek_version", flat=True)) == {1}
    assert _all_decrypt(sealed_under_old_kek)


def test_rotate_keys_command_without_the_old_kek_fails_naming_the_keyring(
    settings: Settings, sealed_under_old_kek: list[Sealed]
) -> None:
    settings.PEERLINK_KEYRING = NEW_ONLY
    with pytest.raises(CommandError, match="PEERLINK_KEYRING") as caught:
        _rotate()
    assert isinstance(caught.value.__cause__, MissingKeyError)
    assert not AuditEntry.objects.filter(action="keys.rotated").exists()
    assert AuditEntry.objects.filter(action="keys.rotation_failed").exists()


def test_decrypt_without_the_kek_version_fails_with_missing_key_error(
    settings: Settings, sealed_under_old_kek: list[Sealed]
) -> None:
    settings.PEERLINK_KEYRING = NEW_ONLY
    first = sealed_under_old_kek[0]
    with pytest.raises(MissingKeyError, match="PEERLINK_KEYRING"):
        decrypt(data_key=first.data_key, ciphertext=first.ciphertext, ref=first.ref)


def test_new_data_keys_are_wrapped_under_the_newest_kek(settings: Settings) -> None:
    settings.PEERLINK_KEYRING = BOTH
    assert create_data_key(purpose=DataKeyPurpose.PERSON).kek_version == 2


def test_rotation_skips_shredded_data_keys(
    settings: Settings, sealed_under_old_kek: list[Sealed]
) -> None:
    shredded = sealed_under_old_kek[0].data_key
    shred_data_key(data_key=shredded)
    settings.PEERLINK_KEYRING = BOTH
    report = rotate_keys()
    row = DataKey.objects.get(pk=shredded.pk)
    assert (report.rewrapped, report.destroyed_skipped) == (DATA_KEYS - 1, 1)
    assert (row.wrapped_key, row.kek_version, row.rewrapped_at) == (None, 1, None)
