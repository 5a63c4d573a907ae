"""The production profile refuses to start without valid key material (DESIGN.md §5), with a
message naming the variable to set and never echoing a key. Each case starts a fresh Python
process with a clean environment, as a deployment would."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 60


def _key(size: int = 32) -> str:
    return base64.b64encode(os.urandom(size)).decode()


KEYRING = f"1:{_key()}"
INDEX_KEY = _key()


def _env(**overrides: str | None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(ROOT)),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "peerlink.settings.production",
        "PEERLINK_ENV": "production",
        "DJANGO_SECRET_KEY": "production-test-secret-" + "x" * 40,
        "DATABASE_URL": "postgresql://x@127.0.0.1/x",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "PEERLINK_PUBLIC_URL": "https://peerlink.example.org",
        "CHANNEL_LAYER_ENCRYPTION_KEY": "channel-layer-test-key",
        "PEERLINK_KEYRING": KEYRING,
        "PEERLINK_INDEX_KEY": INDEX_KEY,
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _manage_check(**overrides: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=_env(**overrides),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _django_setup(**overrides: str | None) -> subprocess.CompletedProcess[str]:
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.SETTINGS_MODULE)"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=_env(**overrides),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


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
