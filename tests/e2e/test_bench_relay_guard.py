"""The chat benchmark's bare relay (messaging/bench_relay.py) is an unauthenticated fan-out:
routed only when PEERLINK_BENCH_RELAY asks for it, and refused outright in production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django; django.setup(); "
    "from peerlink.routing import websocket_urlpatterns as p; "
    "print(sorted(str(x.pattern) for x in p))"
)


def _routes(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PEERLINK_", "DJANGO_SETTINGS_MODULE"))
    }
    clean.update(
        DJANGO_SETTINGS_MODULE="peerlink.settings.test",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "platform")]),
        **env,
    )
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_relay_is_not_routed_by_default() -> None:
    result = _routes()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['ws/']"


def test_the_relay_is_routed_when_asked_for() -> None:
    result = _routes(PEERLINK_BENCH_RELAY="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['ws/', 'ws/bench-relay/']"


def test_production_refuses_the_relay() -> None:
    result = _routes(PEERLINK_BENCH_RELAY="1", PEERLINK_ENV="production")
    assert result.returncode != 0
    assert "PEERLINK_BENCH_RELAY is for benchmarks only" in result.stderr
