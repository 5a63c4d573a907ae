"""deploy/compose.yaml, the proxy's configuration, the image and the process file: valid
and the topology DESIGN.md §3 asks for."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from tests.deploy.manifests import DEPLOY


def _compose() -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def _services() -> dict[str, dict[str, object]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(DEPLOY / "compose.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_compose_runs_two_web_processes_workers_and_exactly_one_beat() -> None:
    services = _services()
    assert {"postgres", "redis", "migrate", "web1", "web2", "proxy", "worker", "beat"} <= set(
        services
    )
    beats = [name for name, s in services.items() if "beat" in (s.get("command") or [])]
    assert beats == ["beat"]
    assert services["beat"]["deploy"] == {"replicas": 1}
    assert services["worker"]["deploy"]["replicas"] >= 2  # type: ignore[index]


def test_compose_migrates_before_anything_serves() -> None:
    services = _services()
    for name in ("web1", "web2", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}  # type: ignore[index]


def test_the_proxy_passes_websockets_to_both_web_processes() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    assert "server web1:8000;" in conf and "server web2:8000;" in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf


def test_the_image_runs_as_a_non_root_user_without_build_tools() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)[1:]
    assert len(stages) == 2, "a build stage and a run stage"
    build, run = stages
    assert "build-essential" in build
    assert not re.search(r"build-essential|gcc|apt-get install", run)
    users = re.findall(r"^USER (\S+)", run, flags=re.MULTILINE)
    assert users and not users[-1].startswith(("root", "0"))


def test_the_process_file_runs_one_beat() -> None:
    lines = [
        line
        for line in (DEPLOY / "Procfile").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert [line.split(":")[0] for line in lines] == ["web", "worker", "beat"]
    assert sum(" beat " in line for line in lines) == 1
