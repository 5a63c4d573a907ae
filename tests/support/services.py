"""Throwaway PostgreSQL and Redis servers on 127.0.0.1, in a temporary folder.

Tests use real servers, not imitations. These helpers find the Debian binaries, start a
server on a free loopback port, and remove everything when stopped. When running as root
(CI), PostgreSQL runs as the `postgres` system user, since initdb refuses root.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SERVICES_ENV = "PEERLINK_TEST_SERVICES"


class ServiceUnavailable(RuntimeError):
    """The binaries of a test server are not on this machine."""


def services_required() -> bool:
    return os.environ.get(SERVICES_ENV, "auto").lower() == "required"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(
    port: int, *, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.2),
        ):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start within {timeout}s")


def postgres_bin_dir() -> Path:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    raise ServiceUnavailable("PostgreSQL binaries (initdb, pg_ctl) not found")


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int
    user: str
    run_as: str | None
    options: str = ""

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _command(self, *args: str) -> list[str]:
        if self.run_as:
            return ["runuser", "-u", self.run_as, "--", *args]
        return list(args)

    def run(self, tool: str, *args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            self._command(str(self.bin_dir / tool), *args),
            check=True,
            capture_output=True,
            **kwargs,
        )

    def dump(self, database: str) -> bytes:
        """The whole database as `pg_dump` sees it: what a stolen backup would show."""
        result = self.run(
            "pg_dump", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, database
        )
        return result.stdout

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def pause(self) -> None:
        """Stop the server (an outage: every connection is cut), keeping its data."""
        self.run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        """Start it again on the same port, with the same data."""
        self.run(
            "pg_ctl",
            "-D",
            str(self.root / "data"),
            "-o",
            self.options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )
        _wait_for_port(self.port, timeout=30)


def start_postgres() -> PostgresServer:
    bin_dir = postgres_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="peerlink-pg-"))
    run_as: str | None = None
    if os.geteuid() == 0:
        run_as = "postgres"
        try:
            entry = pwd.getpwnam(run_as)
        except KeyError:
            run_as = "nobody"
            entry = pwd.getpwnam(run_as)
        os.chmod(root, 0o700)  # owned by the server user alone
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(
        bin_dir=bin_dir, root=root, port=free_port(), user="peerlink", run_as=run_as
    )
    server.run(
        "initdb",
        "-D",
        str(root / "data"),
        "-U",
        server.user,
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
        "--locale=C",
    )
    options = (
        f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    server.options = options
    server.run(
        "pg_ctl", "-D", str(root / "data"), "-o", options, "-l", str(root / "log"), "-w", "start"
    )
    _wait_for_port(server.port, timeout=30)
    return server


@dataclass
class RedisServer:
    root: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.pause()
        shutil.rmtree(self.root, ignore_errors=True)

    def pause(self) -> None:
        """Stop the server (an outage: every connection is cut; it keeps no data)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def resume(self) -> None:
        """Start it again, empty, on the same port."""
        self.process = _redis_process(self.root, self.port)
        _wait_for_port(self.port, timeout=15, process=self.process)


def _redis_process(root: Path, port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceUnavailable("redis-server not found")
    return subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_redis() -> RedisServer:
    if shutil.which("redis-server") is None:
        raise ServiceUnavailable("redis-server not found")
    root = Path(tempfile.mkdtemp(prefix="peerlink-redis-"))
    port = free_port()
    process = _redis_process(root, port)
    _wait_for_port(port, timeout=15, process=process)
    return RedisServer(root=root, port=port, process=process)


@contextlib.contextmanager
def running(start: object) -> Iterator[object]:
    server = start()  # type: ignore[operator]
    try:
        yield server
    finally:
        server.stop()
