"""The suite's privacy guard (tests/support/privacy_guard.py) catches what it is there to
catch: a phone number or encrypted personal text in a log record or a DomainError."""

from __future__ import annotations

import logging

import pytest

from encryption.models import DataKeyPurpose
from encryption.services import FieldRef, create_data_key, encrypt
from peerlink.errors import DomainError
from tests.support.privacy_guard import GUARD

pytestmark = pytest.mark.django_db


def _caught() -> list[str]:
    """What the guard found, cleared so that this test itself passes."""
    found = list(GUARD.findings)
    GUARD.findings.clear()
    return found


def test_a_phone_number_in_a_log_line_is_caught() -> None:
    logging.getLogger("peerlink.example").warning("texting %s", "+1 780 555 0123")
    assert _caught() == ["a log record of peerlink.example holds a phone number"]


def test_encrypted_text_in_a_traceback_is_caught() -> None:
    body = "I have been struggling since Tuesday"
    encrypt(
        data_key=create_data_key(purpose=DataKeyPurpose.CONVERSATION),
        plaintext=body,
        ref=FieldRef("messaging_message", "00000000-0000-0000-0000-000000000001", "body"),
    )
    try:
        raise ValueError(f"could not post {body}")
    except ValueError:
        logging.getLogger("peerlink.example").exception("post failed")
    assert _caught() == ["a log record of peerlink.example holds encrypted personal text"]


def test_a_phone_number_in_a_domain_error_is_caught() -> None:
    DomainError("invalid_phone", "780-555-0199 is not a mobile number")
    assert _caught() == ["a DomainError (invalid_phone) holds a phone number"]


def test_ids_and_counts_are_not_findings() -> None:
    logging.getLogger("peerlink.example").info("outbox 1234 sent, 3 segments")
    DomainError("too_long", "A text is at most 1,600 characters.")
    assert _caught() == []


def test_text_a_fuzzer_made_up_is_not_tracked_when_encrypted() -> None:
    made_up = GUARD.not_personal(" printable characters.")
    encrypt(
        data_key=create_data_key(purpose=DataKeyPurpose.CONVERSATION),
        plaintext=made_up,
        ref=FieldRef("messaging_message", "00000000-0000-0000-0000-000000000003", "body"),
    )

    DomainError("invalid_client_id", "client_id must be 1 to 80 printable characters.")

    assert _caught() == []
