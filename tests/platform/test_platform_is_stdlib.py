"""`platform/` is a plain folder on sys.path holding top-level packages. It must never shadow the
standard library's `platform` module, which Django, Celery, uvicorn and others import. If
`platform/__init__.py` ever appeared, or a path entry put the folder's contents ahead of the
standard library, `import platform` would give the wrong module in some entry point.

Each entry point is checked where it really runs: pytest itself, `manage.py shell`, the ASGI
server (uvicorn started as in `make run`, with `--app-dir platform`), and Celery.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import sysconfig
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLATFORM_DIR = ROOT / "platform"
STDLIB_DIR = Path(sysconfig.get_path("stdlib")).resolve()
TIMEOUT = 60
MARKER = "PLATFORM-PROBE "

# Prints what `import platform` gives in the process that runs it, on one marked line.
PROBE = (
    "import json, platform, sys; "
    "print(" + repr(MARKER) + " + json.dumps({"
    "'file': getattr(platform, '__file__', None), "
    "'has_python_version': hasattr(platform, 'python_version'), "
    "'same_as_sys_modules': sys.modules.get('platform') is platform}))"
)


def _is_stdlib_platform(info: dict[str, Any]) -> bool:
    file = info.get("file")
    if not file or not info.get("has_python_version") or not info.get("same_as_sys_modules", True):
        return False
    path = Path(file).resolve()
    return path.is_relative_to(STDLIB_DIR) and not path.is_relative_to(PLATFORM_DIR)


def _probe_output(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.startswith(MARKER)]
    assert len(lines) == 1, f"expected one probe line, got {len(lines)}"
    result: dict[str, Any] = json.loads(lines[0][len(MARKER) :])
    return result


def _env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(var_dir)),
        "LANG": "C.UTF-8",
        "PEERLINK_ENV": "local",
        "PEERLINK_VAR_DIR": str(var_dir),
    }
    env.update(extra)
    return env


def _run(args: list[str], var_dir: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=ROOT,
        env=_env(var_dir, **extra),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback only)
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _serve(app: str, var_dir: Path, **extra: str) -> Iterator[str]:
    """Run uvicorn as `make run` does; yield its base URL once it answers /healthz."""
    port = _free_port()
    log = (var_dir / "uvicorn.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--app-dir",
            "platform",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "off",
        ],
        cwd=ROOT,
        env=_env(var_dir, **extra),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            if server.poll() is not None:
                pytest.fail(
                    f"uvicorn exited with {server.returncode}:\n"
                    + (var_dir / "uvicorn.log").read_text()[-3000:]
                )
            try:
                _get(base + "/healthz")
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail("uvicorn did not answer within the timeout")
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


# An ASGI app that answers one probe path from inside the server process and hands every
# other request to the real application.
PROBE_APP = textwrap.dedent(
    """
    import json
    import sys

    import platform

    from peerlink.asgi import application as peerlink_application


    async def application(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/__platform_probe":
            module = sys.modules.get("platform")
            body = json.dumps({
                "file": getattr(module, "__file__", None),
                "has_python_version": hasattr(module, "python_version"),
                "same_as_sys_modules": module is platform,
            }).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        await peerlink_application(scope, receive, send)
    """
)


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "var"
    folder.mkdir()
    return folder


@pytest.fixture
def peerlink_server(var_dir: Path) -> Iterator[str]:
    yield from _serve("peerlink.asgi:application", var_dir)


@pytest.fixture
def probe_server(var_dir: Path, tmp_path: Path) -> Iterator[str]:
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    (probe_dir / "platform_probe_asgi.py").write_text(PROBE_APP)
    yield from _serve("platform_probe_asgi:application", var_dir, PYTHONPATH=str(probe_dir))


def test_platform_folder_is_not_a_package() -> None:
    assert PLATFORM_DIR.is_dir()
    assert not (PLATFORM_DIR / "__init__.py").exists()


def test_import_platform_under_pytest_is_the_stdlib() -> None:
    info = {
        "file": platform.__file__,
        "has_python_version": hasattr(platform, "python_version"),
        "same_as_sys_modules": sys.modules["platform"] is platform,
    }
    assert _is_stdlib_platform(info), info
    assert platform.python_version() == ".".join(map(str, sys.version_info[:3]))


def test_import_platform_in_manage_py_shell_is_the_stdlib(var_dir: Path) -> None:
    result = _run([sys.executable, "manage.py", "shell", "-c", PROBE], var_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    info = _probe_output(result.stdout)
    assert _is_stdlib_platform(info), info


def test_import_platform_next_to_the_asgi_application_is_the_stdlib(var_dir: Path) -> None:
    # As under uvicorn: `platform/` first on sys.path, the repository root (cwd) after it.
    script = "import sys; sys.path.insert(0, 'platform'); import peerlink.asgi; " + PROBE
    result = _run([sys.executable, "-c", script], var_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    info = _probe_output(result.stdout)
    assert _is_stdlib_platform(info), info


def test_uvicorn_serves_the_peerlink_asgi_application(peerlink_server: str) -> None:
    status, body = _get(peerlink_server + "/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}


def test_import_platform_inside_the_uvicorn_server_process_is_the_stdlib(
    probe_server: str,
) -> None:
    status, body = _get(probe_server + "/__platform_probe")
    assert status == 200
    info = json.loads(body)
    assert _is_stdlib_platform(info), info


def test_uvicorn_probe_server_still_serves_django(probe_server: str) -> None:
    status, _ = _get(probe_server + "/healthz")
    assert status == 200


def test_import_platform_next_to_the_celery_app_is_the_stdlib(var_dir: Path) -> None:
    script = "from peerlink.celery import app; app.loader.import_default_modules(); " + PROBE
    result = _run([sys.executable, "-c", script], var_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    info = _probe_output(result.stdout)
    assert _is_stdlib_platform(info), info


def _celery() -> str:
    found = shutil.which("celery", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("the celery command is not installed next to this Python")
    return found


def test_celery_report_runs_with_the_stdlib_platform(var_dir: Path) -> None:
    # `celery report` calls platform.system(), .architecture(), .release(), .python_version().
    result = _run([_celery(), "-A", "peerlink", "report"], var_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"py:{platform.python_version()}" in result.stdout
    assert f"system:{platform.system()}" in result.stdout


def test_celery_report_does_not_print_key_material(var_dir: Path) -> None:
    keyring_key = "Q2VsZXJ5UmVwb3J0TXVzdE5vdFNob3dUaGlzS2V5ISE="
    index_key = "SW5kZXhLZXlDZWxlcnlSZXBvcnRNdXN0Tm90U2hvdyE="
    result = _run(
        [_celery(), "-A", "peerlink", "report"],
        var_dir,
        PEERLINK_KEYRING=f"1:{keyring_key}",
        PEERLINK_INDEX_KEY=index_key,
    )
    leaked = keyring_key in result.stdout + result.stderr or index_key in result.stdout
    assert result.returncode == 0
    assert not leaked
