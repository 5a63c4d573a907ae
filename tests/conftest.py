"""Suite-wide fixtures: real PostgreSQL and Redis, the database profile, shared factories.

`PEERLINK_TEST_DB=postgres` runs the database tests against a real PostgreSQL server that
this suite starts; otherwise they run on an SQLite file. `PEERLINK_TEST_SERVICES=required`
(CI) turns a missing server into a failure instead of a skip.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import privacy_guard, services
from tests.support.fake_twilio import FakeTwilioServer, fake_twilio_server

DB_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
}


def pytest_configure(config: pytest.Config) -> None:
    # After Django is set up (pytest-django's own pytest_configure runs first, tryfirst):
    # the guard imports the encryption service.
    config.pluginmanager.register(_PrivacyGuardPlugin(), "peerlink-privacy-guard")


class _PrivacyGuardPlugin:
    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        privacy_guard.install()


@pytest.fixture(autouse=True)
def _nothing_personal_in_logs_or_errors() -> Iterator[None]:
    """tests/support/privacy_guard.py: this test logged or raised nothing personal."""
    privacy_guard.GUARD.start_test()
    yield
    findings = sorted(set(privacy_guard.GUARD.findings))
    if findings:
        pytest.fail("Personal data in logs or errors: " + "; ".join(findings), pytrace=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("django_db") or fixtures & DB_FIXTURES:
            item.add_marker(pytest.mark.db)


def _unavailable(reason: str) -> None:
    if services.services_required():
        pytest.fail(f"{reason} and {services.SERVICES_ENV}=required", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[services.PostgresServer]:
    try:
        server = services.start_postgres()
    except services.ServiceUnavailable as exc:
        _unavailable(str(exc))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[services.RedisServer]:
    try:
        server = services.start_redis()
    except services.ServiceUnavailable as exc:
        _unavailable(str(exc))
    yield server
    server.stop()


def using_postgres() -> bool:
    return os.environ.get("PEERLINK_TEST_DB", "sqlite") == "postgres"


def _reset_default_connection() -> None:
    """Django made the default connection object at start-up, for the engine the settings
    named then; drop it so the next use builds one for the engine we just configured."""
    from django.db import connections

    connections["default"].close()
    del connections["default"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(request: pytest.FixtureRequest) -> Iterator[None]:
    from django.conf import settings

    db = settings.DATABASES["default"]
    if using_postgres():
        server: services.PostgresServer = request.getfixturevalue("postgres_server")
        db.update(
            ENGINE="django.db.backends.postgresql",
            NAME="peerlink",
            USER=server.user,
            PASSWORD="",
            HOST=server.host,
            PORT=str(server.port),
            OPTIONS={},
        )
        db.setdefault("TEST", {})["NAME"] = "test_peerlink"
        _reset_default_connection()
        yield
        return
    # An SQLite file rather than memory, so that tests can read the raw bytes on disk.
    folder = Path(tempfile.mkdtemp(prefix="peerlink-sqlite-"))
    db.setdefault("TEST", {})["NAME"] = str(folder / "test.sqlite3")
    yield
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def raw_database_bytes(request: pytest.FixtureRequest) -> Any:
    """A callable returning everything the database holds on disk, as bytes."""
    from django.db import connection

    def read() -> bytes:
        if connection.vendor == "postgresql":
            server: services.PostgresServer = request.getfixturevalue("postgres_server")
            return server.dump(connection.settings_dict["NAME"])
        path = Path(connection.settings_dict["NAME"])
        data = path.read_bytes()
        wal = path.with_name(path.name + "-wal")
        return data + (wal.read_bytes() if wal.exists() else b"")

    return read


@pytest.fixture(autouse=True)
def _fresh_cache_and_fake_twilio() -> Iterator[None]:
    """Throttle counters and the fake Twilio (what was sent, scripted failures) start empty in
    every test."""
    from django.conf import settings
    from django.core.cache import cache

    from tests.support.fake_twilio import FAKE_TWILIO

    cache.clear()
    FAKE_TWILIO.configure(
        account_sid=settings.TWILIO_ACCOUNT_SID, auth_token=settings.TWILIO_AUTH_TOKEN
    )
    FAKE_TWILIO.reset()
    yield
    FAKE_TWILIO.reset()


@pytest.fixture
def fake_twilio() -> Any:
    """The fake Twilio API that the test profile's twilio Client talks to."""
    from tests.support.fake_twilio import FAKE_TWILIO

    return FAKE_TWILIO


@pytest.fixture
def world(db: None) -> Any:
    from tests.support.factories import make_world

    return make_world()


# The fake Twilio over HTTP, for the end-to-end and cluster tests whose servers (other
# processes) send texts through a worker (tests/e2e/conftest.py: `forwarding_twilio_env`);
# `fake_twilio` above is the in-process one.
FAKE_TWILIO_ACCOUNT_SID = "AC" + "1" * 32


@pytest.fixture(scope="module")
def twilio_token() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def twilio_over_http(twilio_token: str) -> Iterator[FakeTwilioServer]:
    with fake_twilio_server(account_sid=FAKE_TWILIO_ACCOUNT_SID, auth_token=twilio_token) as server:
        yield server
