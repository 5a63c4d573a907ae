"""The production profile refuses to start without valid key material (DESIGN.md §5), with a
message naming the variable to set and never echoing a key. Each case starts a fresh Python
process with a clean environment, as a deployment would."""

from __future__ import annotations

from tests.support import production

KEYRING = production.KEYRING
INDEX_KEY = production.INDEX_KEY
_key = production.random_key
_manage_check = production.manage_check
_django_setup = production.django_setup


def test_production_starts_with_valid_key_material() -> None:
    # The control for the refusals below: with every variable set, settings load.
    result = _django_setup()
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "peerlink.settings.production"


def test_production_refuses_to_start_without_the_keyring() -> None:
    result = _manage_check(PEERLINK_KEYRING=None)
    assert result.returncode != 0
    assert "PEERLINK_KEYRING" in result.stderr


def test_production_refuses_to_start_with_an_empty_keyring() -> None:
    result = _django_setup(PEERLINK_KEYRING="")
    assert result.returncode != 0
    assert "PEERLINK_KEYRING" in result.stderr


def test_production_refuses_a_malformed_keyring_without_echoing_it() -> None:
    short_key = _key(31)
    result = _django_setup(PEERLINK_KEYRING=f"1:{short_key}")
    leaked = short_key in result.stderr or short_key in result.stdout
    assert result.returncode != 0
    assert "PEERLINK_KEYRING" in result.stderr
    assert not leaked


def test_production_refuses_a_keyring_without_versions() -> None:
    bare_key = _key()
    result = _django_setup(PEERLINK_KEYRING=bare_key)
    leaked = bare_key in result.stderr or bare_key in result.stdout
    assert result.returncode != 0
    assert "PEERLINK_KEYRING" in result.stderr
    assert not leaked


def test_production_refuses_to_start_without_the_index_key() -> None:
    result = _django_setup(PEERLINK_INDEX_KEY=None)
    assert result.returncode != 0
    assert "PEERLINK_INDEX_KEY" in result.stderr


def test_production_refuses_an_index_key_reused_from_the_keyring() -> None:
    result = _django_setup(PEERLINK_INDEX_KEY=KEYRING.split(":", 1)[1])
    leaked = INDEX_KEY in result.stderr or KEYRING.split(":", 1)[1] in result.stderr
    assert result.returncode != 0
    assert "PEERLINK_INDEX_KEY" in result.stderr
    assert not leaked
