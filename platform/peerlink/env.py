"""Which settings profile a process runs: `PEERLINK_ENV` (local, test, production)."""

from __future__ import annotations

import os

PROFILES = ("local", "test", "production")


def use_profile_settings() -> None:
    """Point Django at peerlink.settings.<PEERLINK_ENV> unless DJANGO_SETTINGS_MODULE is set.
    Every entry point calls this (manage.py, ASGI, WSGI, Celery), so that production never
    silently runs the local profile."""
    profile = os.environ.get("PEERLINK_ENV", "local")
    if profile not in PROFILES:
        raise SystemExit(f"PEERLINK_ENV must be one of {', '.join(PROFILES)}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", f"peerlink.settings.{profile}")
