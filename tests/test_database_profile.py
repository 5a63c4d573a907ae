"""The PostgreSQL pass must really run on PostgreSQL, in every thread."""

from __future__ import annotations

import os
import threading

import pytest
from django.db import connection


@pytest.mark.django_db(transaction=True)
def test_database_tests_run_on_the_requested_engine_in_every_thread() -> None:
    expected = "postgresql" if os.environ.get("PEERLINK_TEST_DB") == "postgres" else "sqlite"
    vendors: list[str] = []

    def other_thread() -> None:
        from django.db import connection as thread_connection

        thread_connection.ensure_connection()
        vendors.append(thread_connection.vendor)
        thread_connection.close()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(timeout=30)
    assert [connection.vendor, *vendors] == [expected, expected]
