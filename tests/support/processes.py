"""What the suite's server subprocesses share: an environment without the caller's own
peerlink, Django, Twilio or channel-layer settings (each server is configured only by what
its test gives it), and a stop that waits, then kills."""

from __future__ import annotations

import os
import subprocess

_OWN_PREFIXES = ("PEERLINK_", "DJANGO_", "TWILIO_", "CHANNEL_")
_OWN_NAMES = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SMS_BACKEND"}


def inherited_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_OWN_PREFIXES) and key not in _OWN_NAMES
    }


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
