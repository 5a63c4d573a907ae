"""Pseudonymous ids and the per-study export keys (outcomes/export/keys.py)."""

from __future__ import annotations

import base64
import uuid

import pytest
from django.test import override_settings

from outcomes.export.keys import ExportKeyError, Pseudonymiser, export_key, parse_export_keys

KEY_A = b"a" * 32
KEY_B = b"b" * 32


def _entry(slug: str, key: bytes) -> str:
    return f"{slug}:{base64.b64encode(key).decode()}"


def test_a_pid_is_stable_under_the_same_key() -> None:
    person = str(uuid.uuid4())
    assert Pseudonymiser(KEY_A).pid(person) == Pseudonymiser(KEY_A).pid(person)


def test_pids_under_two_study_keys_are_unrelated() -> None:
    people = [str(uuid.uuid4()) for _ in range(200)]
    under_a = {Pseudonymiser(KEY_A).pid(person) for person in people}
    under_b = {Pseudonymiser(KEY_B).pid(person) for person in people}
    assert len(under_a) == len(under_b) == 200
    assert not under_a & under_b


def test_a_pid_is_the_same_for_both_text_forms_of_a_uuid() -> None:
    person = uuid.uuid4()
    pseudonymiser = Pseudonymiser(KEY_A)
    assert pseudonymiser.pid(str(person)) == pseudonymiser.pid(person.hex)


def test_a_pid_does_not_contain_the_id() -> None:
    person = uuid.uuid4()
    pid = Pseudonymiser(KEY_A).pid(str(person))
    assert pid not in person.hex and person.hex[:8] not in pid


def test_keys_are_read_per_study() -> None:
    raw = ",".join([_entry("demo", KEY_A), _entry("other", KEY_B)])
    assert parse_export_keys(raw) == {"demo": KEY_A, "other": KEY_B}


def test_a_short_key_is_refused_without_showing_it() -> None:
    encoded = base64.b64encode(b"short").decode()
    with pytest.raises(ExportKeyError, match="shorter than 32 bytes") as raised:
        parse_export_keys(f"demo:{encoded}")
    assert encoded not in str(raised.value)


def test_a_key_that_is_not_base64_is_refused() -> None:
    with pytest.raises(ExportKeyError, match="not base64"):
        parse_export_keys("demo:***")


@override_settings(PEERLINK_EXPORT_KEYS="")
def test_a_study_without_a_key_gets_a_clear_error() -> None:
    with pytest.raises(ExportKeyError, match="No export key for demo"):
        export_key("demo")
