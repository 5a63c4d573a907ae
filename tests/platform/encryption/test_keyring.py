"""Parsing PEERLINK_KEYRING and PEERLINK_INDEX_KEY: malformed configuration is refused with a
message naming the variable to fix and never echoing key material."""

from __future__ import annotations

import base64
import os

import pytest
from django.core.exceptions import ImproperlyConfigured

from encryption.keyring import (
    KeyringError,
    MissingKeyError,
    parse_index_key,
    parse_keyring,
    validate_configuration,
)


def _key(size: int = 32) -> str:
    return base64.b64encode(os.urandom(size)).decode()


GOOD = _key()
OTHER = _key()
SHORT = _key(31)
LONG = _key(33)
NOT_BASE64 = "this-is*not!base64%" + GOOD[:20]


def _refused(text: str, *, needle: str) -> tuple[str, bool]:
    """Parse `text` as a keyring; return the error message and whether it echoes `needle`."""
    with pytest.raises(KeyringError) as caught:
        parse_keyring(text)
    message = str(caught.value)
    return message, bool(needle) and needle in message


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("", ""),
        ("   ", ""),
        (f"1:{NOT_BASE64}", NOT_BASE64),
        (f"1:{SHORT}", SHORT),
        (f"1:{LONG}", LONG),
        (f"1:{GOOD},1:{OTHER}", OTHER),
        (f"0:{GOOD}", GOOD),
        (f"x:{GOOD}", GOOD),
        (f"-1:{GOOD}", GOOD),
        (f"1.5:{GOOD}", GOOD),
        (GOOD, GOOD),
        (f"1:{GOOD},", GOOD),
        (f"1:{GOOD},2:{SHORT}", SHORT),
    ],
    ids=[
        "empty",
        "blank",
        "bad-base64",
        "31-bytes",
        "33-bytes",
        "duplicate-version",
        "version-0",
        "non-numeric-version",
        "negative-version",
        "fractional-version",
        "no-version",
        "trailing-comma",
        "one-bad-among-good",
    ],
)
def test_malformed_keyring_is_refused_naming_the_variable_without_the_key(
    text: str, secret: str
) -> None:
    message, leaked = _refused(text, needle=secret)
    assert "PEERLINK_KEYRING" in message
    assert not leaked


def test_duplicate_version_message_says_which_version() -> None:
    message, _ = _refused(f"3:{GOOD},3:{OTHER}", needle="")
    assert "version 3 appears twice" in message


def test_superscript_digit_version_is_refused_as_keyring_error() -> None:
    message, leaked = _refused(f"\u00b2:{GOOD}", needle=GOOD)
    assert "PEERLINK_KEYRING" in message
    assert not leaked


def test_keyring_error_is_improperly_configured_so_django_refuses_to_start() -> None:
    assert issubclass(KeyringError, ImproperlyConfigured)


def test_keyring_uses_the_highest_version_as_current_in_any_order() -> None:
    ring = parse_keyring(f"2:{OTHER}, 1:{GOOD}")
    assert ring.current_version == 2
    assert ring.kek(1) == base64.b64decode(GOOD)


def test_keyring_accepts_url_safe_base64() -> None:
    raw = os.urandom(32)
    ring = parse_keyring("1:" + base64.urlsafe_b64encode(raw).decode())
    assert ring.kek(1) == raw


def test_keyring_missing_version_lookup_names_the_variable() -> None:
    with pytest.raises(MissingKeyError, match="PEERLINK_KEYRING"):
        parse_keyring(f"2:{GOOD}").kek(1)


@pytest.mark.parametrize(
    ("text", "secret"),
    [("", ""), ("  ", ""), (NOT_BASE64, NOT_BASE64), (SHORT, SHORT), (LONG, LONG)],
    ids=["empty", "blank", "bad-base64", "31-bytes", "33-bytes"],
)
def test_malformed_index_key_is_refused_naming_the_variable_without_the_key(
    text: str, secret: str
) -> None:
    with pytest.raises(KeyringError) as caught:
        parse_index_key(text)
    message = str(caught.value)
    leaked = bool(secret) and secret in message
    assert "PEERLINK_INDEX_KEY" in message
    assert not leaked


def test_index_key_parses_to_32_bytes() -> None:
    assert parse_index_key(GOOD) == base64.b64decode(GOOD)


def test_validate_configuration_accepts_separate_keys() -> None:
    validate_configuration(keyring=f"1:{GOOD}", index_key=OTHER)


@pytest.mark.parametrize("reused", ["current", "older"])
def test_validate_configuration_rejects_an_index_key_equal_to_a_keyring_key(reused: str) -> None:
    index_key = OTHER if reused == "current" else GOOD
    with pytest.raises(KeyringError) as caught:
        validate_configuration(keyring=f"1:{GOOD},2:{OTHER}", index_key=index_key)
    message = str(caught.value)
    leaked = GOOD in message or OTHER in message
    assert "PEERLINK_INDEX_KEY" in message
    assert not leaked


def test_validate_configuration_rejects_a_missing_index_key() -> None:
    with pytest.raises(KeyringError, match="PEERLINK_INDEX_KEY"):
        validate_configuration(keyring=f"1:{GOOD}", index_key="")
