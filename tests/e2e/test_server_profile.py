"""The ASGI server started the way deploy/Procfile starts it runs the profile PEERLINK_ENV
names (README, Configuration): with `PEERLINK_ENV=production` and no key material, database or
secret key, it must refuse to start, not quietly serve the local profile (SQLite, in-memory
channel layer, the embedded demo keys)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support import processes, services

ROOT = Path(__file__).resolve().parents[2]


def test_uvicorn_with_peerlink_env_production_refuses_to_start_without_its_settings(
    tmp_path: Path,
) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY"}
        and not key.startswith("PEERLINK_")
    }
    env.update(PEERLINK_ENV="production", PEERLINK_VAR_DIR=str(tmp_path))
    port = services.free_port()
    process = subprocess.Popen(
        processes.uvicorn_command(port),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.terminate()
        output, _ = process.communicate(timeout=10)
        raise AssertionError(
            "uvicorn with PEERLINK_ENV=production and no configuration kept running: it is not "
            "using peerlink.settings.production (see platform/peerlink/asgi.py)\n"
            + output.decode(errors="replace")[-2000:]
        ) from None
    assert process.returncode != 0
    assert b"must be set in production" in output
