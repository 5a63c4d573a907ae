"""The production profile passes Django's deployment checks, and refuses to start without
the host names it serves (each run in a fresh process with production's environment)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import production


def test_check_deploy_finds_nothing_in_the_production_profile() -> None:
    result = production.manage_check("--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_its_host_names() -> None:
    result = production.django_setup(DJANGO_ALLOWED_HOSTS=None)
    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS must be set in production" in result.stderr


def test_a_pods_own_address_is_allowed_for_its_probes() -> None:
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(','.join(settings.ALLOWED_HOSTS))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=production.ROOT,
        env=production.production_env(POD_IP="10.1.2.3"),
        capture_output=True,
        text=True,
        timeout=production.TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "peerlink.example.org,10.1.2.3"


def _log_line(**overrides: str | None) -> str:
    script = (
        "import django, logging; django.setup(); "
        "logging.getLogger('peerlink.test').warning('outbox %s retried', 42)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=production.ROOT,
        env=production.production_env(**overrides),
        capture_output=True,
        text=True,
        timeout=production.TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stderr.splitlines() if "peerlink.test" in line]
    return line


def test_production_logs_one_json_object_per_line() -> None:
    record = json.loads(_log_line())
    assert record["level"] == "WARNING"
    assert record["logger"] == "peerlink.test"
    assert record["message"] == "outbox 42 retried"
    assert record["time"] and isinstance(record["process"], int)


def test_plain_logs_can_be_chosen() -> None:
    line = _log_line(LOG_FORMAT="plain")
    assert line.endswith("WARNING peerlink.test outbox 42 retried")
