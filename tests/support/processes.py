"""What the suite's server subprocesses share: an environment without the caller's own
peerlink, Django, Twilio or channel-layer settings (each server is configured only by what
its test gives it), the uvicorn command line, a step that must succeed, the world script,
and a stop that waits, then kills."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WORLD_SCRIPT = ROOT / "tests" / "e2e" / "e2e_world.py"
STEP_TIMEOUT = 120  # migrate on a fresh database is the slowest step

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


def uvicorn_command(port: int, *options: str) -> list[str]:
    """The ASGI server as deploy/Procfile and `make run` start it, on 127.0.0.1."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "peerlink.asgi:application",
        "--app-dir",
        "platform",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *options,
    ]


def run_step(args: list[str], env: dict[str, str]) -> str:
    """A command that must succeed (migrate, seed_demo, the world script): its output."""
    result = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def world_script(env: dict[str, str], *args: str) -> Any:
    """tests/e2e/e2e_world.py with a server's environment: its JSON answer."""
    output = run_step([sys.executable, str(WORLD_SCRIPT), *args], env)
    return json.loads(output.strip().splitlines()[-1])
