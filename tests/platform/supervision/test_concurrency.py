"""Two retries of one write racing on PostgreSQL: the second waits on the first's unique key,
then gets the first's row back instead of a duplicate or an error."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections, transaction

from supervision.models import SupervisionSession, TrainingRecord
from supervision.services import programme_today, record_session, record_training
from tests.support.factories import World

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_for_a_lock_wait(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the second writer never waited on the first")


def _race(write: Callable[[], Any]) -> tuple[Any, Any]:
    """Run `write` twice: the first holds its transaction open until the second is blocked
    behind it, then commits."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks (PEERLINK_TEST_DB=postgres)")
    results: dict[str, Any] = {}
    first_wrote = threading.Event()
    release = threading.Event()

    def first() -> None:
        try:
            with transaction.atomic():
                results["first"] = write()
                first_wrote.set()
                release.wait(10)
        finally:
            connections.close_all()

    def second() -> None:
        try:
            results["second"] = write()
        except Exception as exc:  # reported below, not swallowed
            results["second"] = exc
        finally:
            connections.close_all()

    a = threading.Thread(target=first)
    a.start()
    assert first_wrote.wait(10)
    b = threading.Thread(target=second)
    b.start()
    _wait_for_a_lock_wait()
    release.set()
    a.join(10)
    b.join(10)
    return results["first"], results["second"]


def test_racing_retries_of_a_session_record_one_session(world: World) -> None:
    def write() -> Any:
        return record_session(
            programme=world.programme,
            supervisor=world.supervisor,
            recorded_by=world.supervisor,
            held_on=programme_today(world.programme),
            kind="individual",
            duration_minutes=40,
            peer_supporter_ids=[world.peer.id],
            notes="",
            client_id="raced",
        )

    first, second = _race(write)
    assert not isinstance(second, Exception), repr(second)
    assert (first.created, second.created) == (True, False)
    assert second.session.pk == first.session.pk
    assert SupervisionSession.objects.count() == 1


def test_racing_entries_of_one_completion_record_it_once(world: World) -> None:
    def write() -> Any:
        return record_training(
            programme=world.programme,
            user_id=world.peer.id,
            course_code="PS-101",
            course_title="Foundations",
            completed_on=dt.date(2025, 1, 10),
            certified_until=None,
            recorded_by=world.admin,
        )

    first, second = _race(write)
    assert not isinstance(second, Exception), repr(second)
    assert (first.created, second.created) == (True, False)
    assert second.record.pk == first.record.pk
    assert TrainingRecord.objects.count() == 1
