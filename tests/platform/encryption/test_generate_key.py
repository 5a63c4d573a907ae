"""`manage.py generate_key` prints keys that the keyring parser accepts."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from encryption.keyring import parse_index_key, parse_keyring, validate_configuration


def _generate(**options: object) -> str:
    out = StringIO()
    call_command("generate_key", stdout=out, **options)
    return out.getvalue()


def test_generate_key_output_is_one_line() -> None:
    output = _generate()
    assert output.endswith("\n")
    assert output.count("\n") == 1


def test_generate_key_output_parses_as_an_index_key() -> None:
    assert len(parse_index_key(_generate().strip())) == 32


def test_generate_key_with_version_parses_as_a_keyring_entry() -> None:
    ring = parse_keyring(_generate(version=3).strip())
    assert list(ring.keys) == [3]
    assert len(ring.kek(3)) == 32


def test_generate_key_with_version_from_the_command_line_parses_as_a_keyring_entry() -> None:
    out = StringIO()
    call_command("generate_key", "--version", "2", stdout=out)
    assert parse_keyring(out.getvalue().strip()).current_version == 2


def test_generate_key_gives_a_different_key_each_time() -> None:
    assert len({_generate() for _ in range(5)}) == 5


def test_generated_keys_pass_validate_configuration() -> None:
    ring = ",".join(_generate(version=v).strip() for v in (1, 2))
    validate_configuration(keyring=ring, index_key=_generate().strip())


@pytest.mark.parametrize("version", [0, -1])
def test_generate_key_refuses_a_version_below_1(version: int) -> None:
    with pytest.raises(CommandError, match="--version"):
        _generate(version=version)
