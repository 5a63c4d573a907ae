"""Crypto-shredding (DESIGN.md §5): wiping a data key erases everything it encrypted."""

from __future__ import annotations

import pytest

from encryption.models import DataKey, DataKeyPurpose
from encryption.services import (
    DataKeyDestroyed,
    DecryptionError,
    FieldRef,
    create_data_key,
    decrypt,
    encrypt,
    shred_data_key,
)

pytestmark = pytest.mark.django_db

REF = FieldRef(table="messaging_message", row="7", field="body")
TEXT = "synthetic message to be erased"


@pytest.fixture
def data_key() -> DataKey:
    return create_data_key(purpose=DataKeyPurpose.CONVERSATION)


@pytest.fixture
def ciphertext(data_key: DataKey) -> bytes:
    return encrypt(data_key=data_key, plaintext=TEXT, ref=REF)


def test_decrypt_after_shredding_raises_data_key_destroyed(
    data_key: DataKey, ciphertext: bytes
) -> None:
    shred_data_key(data_key=data_key)
    with pytest.raises(DataKeyDestroyed):
        decrypt(data_key=data_key, ciphertext=ciphertext, ref=REF)


def test_decrypt_with_a_refetched_shredded_key_raises_data_key_destroyed(
    data_key: DataKey, ciphertext: bytes
) -> None:
    # Decrypt once first, so that any cached cipher for this key would be warm.
    decrypt(data_key=data_key, ciphertext=ciphertext, ref=REF)
    shred_data_key(data_key=data_key)
    with pytest.raises(DataKeyDestroyed):
        decrypt(data_key=DataKey.objects.get(pk=data_key.pk), ciphertext=ciphertext, ref=REF)


def test_data_key_destroyed_is_a_decryption_error() -> None:
    assert issubclass(DataKeyDestroyed, DecryptionError)


def test_shredding_wipes_the_wrapped_key_in_the_database(data_key: DataKey) -> None:
    shred_data_key(data_key=data_key)
    row = DataKey.objects.get(pk=data_key.pk)
    assert row.wrapped_key is None
    assert row.destroyed_at is not None
    assert row.is_destroyed


def test_encrypting_under_a_shredded_key_raises_data_key_destroyed(data_key: DataKey) -> None:
    shred_data_key(data_key=data_key)
    with pytest.raises(DataKeyDestroyed):
        encrypt(data_key=DataKey.objects.get(pk=data_key.pk), plaintext=TEXT, ref=REF)


def test_shredding_one_key_leaves_other_keys_readable(data_key: DataKey, ciphertext: bytes) -> None:
    other = create_data_key(purpose=DataKeyPurpose.CONVERSATION)
    other_blob = encrypt(data_key=other, plaintext=TEXT, ref=REF)
    shred_data_key(data_key=data_key)
    same = decrypt(data_key=DataKey.objects.get(pk=other.pk), ciphertext=other_blob, ref=REF)
    assert same == TEXT
