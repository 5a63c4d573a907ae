"""Starting Django with the production settings in a fresh process and a clean environment,
as a deployment would: every variable production requires is set to a throwaway value, and
a test removes or changes one (`None` removes it)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60


def random_key(size: int = 32) -> str:
    return base64.b64encode(os.urandom(size)).decode()


KEYRING = f"1:{random_key()}"
INDEX_KEY = random_key()


def production_env(**overrides: str | None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(ROOT)),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "peerlink.settings.production",
        "PEERLINK_ENV": "production",
        "DJANGO_SECRET_KEY": "production-test-secret-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "peerlink.example.org",
        "DATABASE_URL": "postgresql://x@127.0.0.1/x",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "PEERLINK_PUBLIC_URL": "https://peerlink.example.org",
        "CHANNEL_LAYER_ENCRYPTION_KEY": "channel-layer-test-key",
        "PEERLINK_KEYRING": KEYRING,
        "PEERLINK_INDEX_KEY": INDEX_KEY,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "twilio-test-token",
        "TWILIO_MESSAGING_SERVICE_SID": "MG" + "0" * 32,
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def manage_check(*args: str, **overrides: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env=production_env(**overrides),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def django_setup(**overrides: str | None) -> subprocess.CompletedProcess[str]:
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.SETTINGS_MODULE)"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=production_env(**overrides),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
