"""Field encryption (DESIGN.md §5): AES-256-GCM under a per-conversation data key, bound to its
table, row and field. Decryption fails closed: anything moved, altered or cut raises.

Plaintexts here are synthetic. Assertions about them compare booleans, so that a failing test
never prints the text itself.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from encryption.models import DataKey, DataKeyPurpose
from encryption.services import (
    DecryptionError,
    FieldRef,
    create_data_key,
    decrypt,
    encrypt,
)

SECRET = "synthetic body: I have not slept in three days"
REF = FieldRef(table="messaging_message", row="101", field="body")

pytestmark = pytest.mark.django_db


@pytest.fixture
def data_key() -> DataKey:
    return create_data_key(purpose=DataKeyPurpose.CONVERSATION)


@pytest.fixture
def ciphertext(data_key: DataKey) -> bytes:
    return encrypt(data_key=data_key, plaintext=SECRET, ref=REF)


def _fails(data_key: DataKey, blob: bytes, ref: FieldRef = REF) -> bool:
    try:
        decrypt(data_key=data_key, ciphertext=blob, ref=ref)
    except DecryptionError:
        return True
    return False


def test_round_trip_returns_the_plaintext(data_key: DataKey, ciphertext: bytes) -> None:
    same = decrypt(data_key=data_key, ciphertext=ciphertext, ref=REF) == SECRET
    assert same


def test_round_trip_accepts_a_memoryview_as_the_database_returns(
    data_key: DataKey, ciphertext: bytes
) -> None:
    same = decrypt(data_key=data_key, ciphertext=memoryview(ciphertext), ref=REF) == SECRET
    assert same


def test_round_trip_through_a_refetched_data_key(data_key: DataKey, ciphertext: bytes) -> None:
    fresh = DataKey.objects.get(pk=data_key.pk)
    same = decrypt(data_key=fresh, ciphertext=ciphertext, ref=REF) == SECRET
    assert same


def test_round_trip_of_any_text(data_key: DataKey) -> None:
    @hypothesis_settings(max_examples=200, deadline=None, database=None)
    @given(text=st.text(max_size=4000))
    def check(text: str) -> None:
        blob = encrypt(data_key=data_key, plaintext=text, ref=REF)
        same = decrypt(data_key=data_key, ciphertext=blob, ref=REF) == text
        assert same

    check()


def test_ciphertext_does_not_contain_the_plaintext(ciphertext: bytes) -> None:
    leaked = SECRET.encode() in ciphertext
    assert not leaked


def test_encrypting_the_same_text_twice_gives_different_ciphertexts(data_key: DataKey) -> None:
    first = encrypt(data_key=data_key, plaintext=SECRET, ref=REF)
    second = encrypt(data_key=data_key, plaintext=SECRET, ref=REF)
    assert first != second


def test_ciphertext_moved_to_another_row_fails(data_key: DataKey, ciphertext: bytes) -> None:
    other_row = FieldRef(table=REF.table, row="102", field=REF.field)
    assert _fails(data_key, ciphertext, other_row)


def test_ciphertext_moved_to_another_field_fails(data_key: DataKey, ciphertext: bytes) -> None:
    other_field = FieldRef(table=REF.table, row=REF.row, field="supervision_note")
    assert _fails(data_key, ciphertext, other_field)


def test_ciphertext_moved_to_another_table_fails(data_key: DataKey, ciphertext: bytes) -> None:
    other_table = FieldRef(table="messaging_casenote", row=REF.row, field=REF.field)
    assert _fails(data_key, ciphertext, other_table)


def test_ciphertext_under_another_data_key_fails(ciphertext: bytes) -> None:
    other_key = create_data_key(purpose=DataKeyPurpose.CONVERSATION)
    assert _fails(other_key, ciphertext)


def test_ciphertext_under_another_data_key_with_the_same_id_fails(
    data_key: DataKey, ciphertext: bytes
) -> None:
    # Same id (so the same associated data), different key bytes: the key itself is checked.
    other_key = create_data_key(purpose=DataKeyPurpose.CONVERSATION)
    impostor = DataKey(
        id=data_key.id,
        purpose=other_key.purpose,
        kek_version=other_key.kek_version,
        wrapped_key=other_key.wrapped_key,
    )
    assert _fails(impostor, ciphertext)


def test_flipping_any_single_bit_fails(data_key: DataKey, ciphertext: bytes) -> None:
    survivors = []
    for bit in range(len(ciphertext) * 8):
        tampered = bytearray(ciphertext)
        tampered[bit // 8] ^= 1 << (bit % 8)
        if not _fails(data_key, bytes(tampered)):
            survivors.append(bit)
    assert survivors == []


def test_flipping_a_bit_of_any_ciphertext_fails(data_key: DataKey) -> None:
    @hypothesis_settings(max_examples=200, deadline=None, database=None)
    @given(text=st.text(max_size=200), where=st.floats(min_value=0, max_value=1, exclude_max=True))
    def check(text: str, where: float) -> None:
        blob = bytearray(encrypt(data_key=data_key, plaintext=text, ref=REF))
        bit = int(where * len(blob) * 8)
        blob[bit // 8] ^= 1 << (bit % 8)
        assert _fails(data_key, bytes(blob))

    check()


def test_truncated_ciphertext_fails(data_key: DataKey, ciphertext: bytes) -> None:
    survivors = [n for n in range(len(ciphertext)) if not _fails(data_key, ciphertext[:n])]
    assert survivors == []


def test_ciphertext_with_bytes_appended_fails(data_key: DataKey, ciphertext: bytes) -> None:
    assert _fails(data_key, ciphertext + b"\x00")


@pytest.mark.parametrize(
    "blob",
    [b"", b"\x01", b"\x00" * 64, b"\x02" + b"\x00" * 64, SECRET.encode()],
    ids=["empty", "format-byte-only", "zeros", "unknown-format", "plaintext-as-ciphertext"],
)
def test_malformed_ciphertext_fails(data_key: DataKey, blob: bytes) -> None:
    assert _fails(data_key, blob)


def test_ciphertext_with_an_unknown_format_byte_fails(data_key: DataKey, ciphertext: bytes) -> None:
    assert _fails(data_key, b"\x02" + ciphertext[1:])


def _failure_cases(data_key: DataKey, ciphertext: bytes) -> list[Callable[[], object]]:
    other_key = create_data_key(purpose=DataKeyPurpose.CONVERSATION)
    flipped = bytearray(ciphertext)
    flipped[-1] ^= 1
    return [
        lambda: decrypt(
            data_key=data_key, ciphertext=ciphertext, ref=FieldRef(REF.table, "999", REF.field)
        ),
        lambda: decrypt(
            data_key=data_key, ciphertext=ciphertext, ref=FieldRef(REF.table, REF.row, "other")
        ),
        lambda: decrypt(
            data_key=data_key,
            ciphertext=ciphertext,
            ref=FieldRef("other_table", REF.row, REF.field),
        ),
        lambda: decrypt(data_key=other_key, ciphertext=ciphertext, ref=REF),
        lambda: decrypt(data_key=data_key, ciphertext=bytes(flipped), ref=REF),
        lambda: decrypt(data_key=data_key, ciphertext=ciphertext[:-5], ref=REF),
        lambda: decrypt(data_key=data_key, ciphertext=SECRET.encode(), ref=REF),
    ]


def test_decryption_errors_never_contain_the_plaintext_or_ciphertext(
    data_key: DataKey, ciphertext: bytes
) -> None:
    leaks = []
    for index, attempt in enumerate(_failure_cases(data_key, ciphertext)):
        with pytest.raises(DecryptionError) as caught:
            attempt()
        exc = caught.value
        shown = " ".join(
            [
                str(exc),
                repr(exc),
                *(repr(arg) for arg in exc.args),
                "".join(traceback.format_exception(exc)),
            ]
        )
        for needle in (SECRET, SECRET.encode().hex(), ciphertext.hex()):
            if needle in shown:
                leaks.append(index)
    assert leaks == []


def test_decryption_errors_do_not_chain_the_underlying_exception(
    data_key: DataKey, ciphertext: bytes
) -> None:
    chained = []
    for index, attempt in enumerate(_failure_cases(data_key, ciphertext)):
        with pytest.raises(DecryptionError) as caught:
            attempt()
        if caught.value.__cause__ is not None or not (
            caught.value.__context__ is None or caught.value.__suppress_context__
        ):
            chained.append(index)
    assert chained == []
