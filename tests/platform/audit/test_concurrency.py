"""Concurrent writers extend one chain: none forks it, none is lost."""

from __future__ import annotations

import threading
import time

from django.db import OperationalError, connection

from audit.models import AuditEntry
from audit.selectors import verify_chain
from audit.services import record


def record_with_retry(*, thread: int, index: int) -> None:
    # SQLite lets one writer in at a time and answers the others "database is locked" rather
    # than queueing them; record() rolls back cleanly, so a retry is safe. PostgreSQL queues
    # writers on the head row's lock and never takes this path.
    for _ in range(200):
        try:
            record(action="test.concurrent", details={"thread": thread, "index": index})
            return
        except OperationalError as exc:
            if connection.vendor != "sqlite" or "locked" not in str(exc):
                raise
            time.sleep(0.005)
    raise AssertionError("gave up after 200 'database is locked' retries")


def test_concurrent_writers_leave_one_intact_chain_with_every_entry(transactional_db: None) -> None:
    threads, per_thread = (8, 25) if connection.vendor == "postgresql" else (4, 10)
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def write(thread: int) -> None:
        try:
            start.wait()
            for index in range(per_thread):
                record_with_retry(thread=thread, index=index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    assert errors == []
    report = verify_chain()
    assert report.intact, report
    assert report.entries_checked == threads * per_thread
    written = {(e.details["thread"], e.details["index"]) for e in AuditEntry.objects.all()}
    assert written == {(t, i) for t in range(threads) for i in range(per_thread)}
