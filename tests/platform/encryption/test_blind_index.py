"""The phone-number blind index (DESIGN.md §5): a keyed HMAC under PEERLINK_INDEX_KEY."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from typing import TYPE_CHECKING

from encryption.services import blind_index

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

PHONE = "+15145550123"
OTHER_PHONE = "+15145550124"


def test_blind_index_is_deterministic_for_the_same_value() -> None:
    assert blind_index(PHONE) == blind_index(PHONE)


def test_blind_index_differs_for_different_values() -> None:
    assert blind_index(PHONE) != blind_index(OTHER_PHONE)


def test_blind_index_differs_under_a_different_index_key(settings: Settings) -> None:
    before = blind_index(PHONE)
    settings.PEERLINK_INDEX_KEY = base64.b64encode(os.urandom(32)).decode()
    assert blind_index(PHONE) != before


def test_blind_index_is_64_hex_characters() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", blind_index(PHONE))


def test_blind_index_does_not_contain_the_value() -> None:
    digest = blind_index(PHONE)
    leaked = PHONE.lstrip("+") in digest or PHONE[-7:] in digest
    assert not leaked


def test_blind_index_is_not_a_plain_unkeyed_hash() -> None:
    assert blind_index(PHONE) != hashlib.sha256(PHONE.encode()).hexdigest()
