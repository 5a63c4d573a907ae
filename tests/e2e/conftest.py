"""A live peerlink ASGI server for end-to-end tests: the real uvicorn process, run as
deploy/Procfile runs it, with the production settings, in front of the real PostgreSQL and
Redis servers the suite starts (tests/support/services.py).

The server, its migrations and the world it serves all run in subprocesses configured only
through the environment, as a deployment is (README, Configuration); the test talks to the
server only over the network (WebSocket, and psycopg to check what was stored).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.conftest import FAKE_TWILIO_ACCOUNT_SID
from tests.support import privacy_guard, processes, services
from tests.support.fake_twilio import FakeTwilioServer

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class AsgiServer:
    port: int
    database_url: str
    env: dict[str, str]
    log: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def run_script(self, *args: str) -> object:
        """Run tests/e2e/e2e_world.py with the server's environment; its JSON output."""
        return processes.world_script(self.env, *args)

    def tickets(self, *user_ids: int) -> dict[int, str]:
        issued = self.run_script("tickets", *map(str, user_ids))
        assert isinstance(issued, dict)
        return {int(pk): ticket for pk, ticket in issued.items()}

    def server_log(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def assert_log_clean(self) -> None:
        """No traceback and no phone number in anything its cluster's processes wrote (the
        in-process guard, tests/support/privacy_guard.py, cannot see them)."""
        for log in sorted(self.log.parent.glob("*.log")):
            text = log.read_text(errors="replace")
            assert "Traceback" not in text, f"{log.name}:\n{text[-4000:]}"
            assert not privacy_guard.PHONE.search(text), (
                f"a line of {log.name} holds a phone number"
            )


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _create_database(server: services.PostgresServer) -> str:
    name = f"e2e_{secrets.token_hex(4)}"
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_database(server: services.PostgresServer, name: str) -> None:
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(server.url("postgres"), autocommit=True) as conn,
    ):
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _server_env(
    database_url: str, redis_url: str, port: int, extra: dict[str, str]
) -> dict[str, str]:
    env = processes.inherited_env()
    env.update(
        {
            # Named explicitly: see tests/e2e/test_server_profile.py for PEERLINK_ENV alone.
            "DJANGO_SETTINGS_MODULE": "peerlink.settings.production",
            "PEERLINK_ENV": "production",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "platform")]),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            # The address this server really has: Twilio's (fake) callbacks come back to it.
            "PEERLINK_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PEERLINK_KEYRING": f"1:{_key()}",
            "PEERLINK_INDEX_KEY": _key(),
            "CHANNEL_LAYER_ENCRYPTION_KEY": secrets.token_urlsafe(32),
            # The real twilio library on the in-process fake Twilio (nothing leaves the
            # machine); tests that follow texts out name the fake Twilio server instead.
            "SMS_BACKEND": "messaging.sms.TwilioSmsBackend",
            "TWILIO_HTTP_CLIENT": "tests.support.fake_twilio.FakeTwilioHttpClient",
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": secrets.token_urlsafe(24),
            "TWILIO_MESSAGING_SERVICE_SID": "MG" + "0" * 32,
            "LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra)
    return env


def _uvicorn(port: int) -> list[str]:
    return processes.uvicorn_command(port, "--no-access-log", "--log-level", "warning")


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "peerlink", *args, "--loglevel", "WARNING"]


def _worker(name: str, pool: str) -> list[str]:
    # As deploy/Procfile runs it. `solo`: one process, so that a test's order is the send
    # order; `prefork`: a child per core, as deploy runs it.
    return _celery(
        "worker",
        "--pool",
        pool,
        "--hostname",
        f"{name}@%h",
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
    )


@dataclass
class Cluster:
    """Several ASGI servers, workers and one beat on one database and one Redis, all
    configured alike (the same keys and secrets), each server with its own address."""

    servers: list[AsgiServer]
    processes: dict[str, subprocess.Popen[bytes]]
    database_url: str
    folder: Path
    commands: dict[str, tuple[list[str], dict[str, str]]] = dataclasses.field(default_factory=dict)

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with self.log(name).open("ab") as out:
            process = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.processes[name] = process
        self.commands[name] = (args, env)
        return process

    def kill(self, name: str) -> None:
        """SIGKILL, as the kernel's OOM killer or a lost node does: no clean-up runs."""
        process = self.processes[name]
        process.kill()
        process.wait(timeout=10)

    def restart(self, name: str) -> subprocess.Popen[bytes]:
        args, env = self.commands[name]
        return self.start(name, args, env)


@contextlib.contextmanager
def cluster(
    postgres_server: services.PostgresServer,
    redis_server: services.RedisServer,
    *,
    web: int = 1,
    workers: int = 0,
    worker_pool: str = "solo",
    with_beat: bool = False,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """A fresh database, migrated; `web` uvicorn servers on it, `workers` Celery workers and
    the one beat when asked; all stopped and dropped afterwards."""
    database = _create_database(postgres_server)
    database_url = postgres_server.url(database)
    ports = [services.free_port() for _ in range(web)]
    base = _server_env(database_url, redis_server.url, ports[0], extra_env or {})
    folder = Path(tempfile.mkdtemp(prefix="peerlink-e2e-"))
    running = Cluster(servers=[], processes={}, database_url=database_url, folder=folder)
    try:
        processes.run_step([sys.executable, "manage.py", "migrate", "--noinput"], base)
        for index, port in enumerate(ports):
            # Each server signs and is called back at its own address.
            env = {**base, "PEERLINK_PUBLIC_URL": f"http://127.0.0.1:{port}"}
            name = f"web{index + 1}"
            running.start(name, _uvicorn(port), env)
            running.servers.append(
                AsgiServer(port=port, database_url=database_url, env=env, log=running.log(name))
            )
        for index in range(workers):
            running.start(f"worker{index + 1}", _worker(f"worker{index + 1}", worker_pool), base)
        if with_beat:
            schedule = str(folder / "celerybeat-schedule")
            running.start("beat", _celery("beat", "--schedule", schedule), base)
        for index, server in enumerate(running.servers):
            try:
                services._wait_for_port(
                    server.port,
                    timeout=60,
                    process=running.processes[f"web{index + 1}"],  # type: ignore[arg-type]
                )
            except RuntimeError as exc:
                raise AssertionError(f"{exc}\n{server.server_log()}") from None
        yield running
    finally:
        for process in running.processes.values():
            processes.stop(process)
        _drop_database(postgres_server, database)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def serve(
    postgres_server: services.PostgresServer,
    redis_server: services.RedisServer,
    *,
    extra_env: dict[str, str] | None = None,
    with_worker: bool = False,
    with_beat: bool = False,
) -> Iterator[AsgiServer]:
    """One server (and a Celery worker, and the one beat, when asked), logging into one file
    so that its log holds all they wrote."""
    with cluster(
        postgres_server,
        redis_server,
        workers=1 if with_worker else 0,
        with_beat=with_beat,
        extra_env=extra_env,
    ) as running:
        [server] = running.servers
        yield server


@pytest.fixture(scope="module")
def asgi_server(
    postgres_server: services.PostgresServer, redis_server: services.RedisServer
) -> Iterator[AsgiServer]:
    with serve(postgres_server, redis_server) as server:
        yield server


def forwarding_twilio_env(fake: FakeTwilioServer, token: str) -> dict[str, str]:
    """The server's environment for the real twilio library to reach `fake` over HTTP."""
    return {
        "TWILIO_HTTP_CLIENT": "tests.support.fake_twilio.ForwardingTwilioHttpClient",
        "PEERLINK_FAKE_TWILIO_URL": fake.url,
        "TWILIO_ACCOUNT_SID": FAKE_TWILIO_ACCOUNT_SID,  # twilio_over_http's (tests/conftest.py)
        "TWILIO_AUTH_TOKEN": token,
    }
