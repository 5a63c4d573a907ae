"""update_rows: many rows of one model, each with its own values, in one statement (on
PostgreSQL by arrays, elsewhere by bulk_update). copy_rows: many new rows (on PostgreSQL by
binary COPY, elsewhere by bulk_create)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext

from messaging.models import Conversation
from peerlink.bulk import copy_rows, update_rows
from scheduling.models import PendingSend
from tests.conftest import using_postgres
from tests.support.factories import enrol, make_programme

pytestmark = pytest.mark.django_db

WHEN = dt.datetime(2027, 3, 1, 12, 30, tzinfo=dt.UTC)


def _threads(count: int) -> list[Conversation]:
    programme = make_programme()
    return [Conversation.objects.get(enrolment=enrol(programme)) for _ in range(count)]


def test_each_row_gets_its_own_values_nulls_included() -> None:
    first, second, third = _threads(3)
    first.last_seq, first.last_message_at = 7, WHEN
    second.last_seq, second.last_message_at = 3, None
    third.last_seq, third.last_message_at = 0, WHEN + dt.timedelta(days=1)

    update_rows([first, second, third], ["last_seq", "last_message_at"])

    stored = {c.pk: (c.last_seq, c.last_message_at) for c in Conversation.objects.all()}
    assert stored == {
        first.pk: (7, WHEN),
        second.pk: (3, None),
        third.pk: (0, WHEN + dt.timedelta(days=1)),
    }


def test_only_the_named_fields_of_the_given_rows_change() -> None:
    changed, untouched = _threads(2)
    data_key = changed.data_key_id
    changed.last_seq = 5
    changed.last_message_at = WHEN
    untouched.last_seq = 9

    update_rows([changed], ["last_seq"])

    changed.refresh_from_db()
    untouched.refresh_from_db()
    assert (changed.last_seq, changed.last_message_at, changed.data_key_id) == (5, None, data_key)
    assert untouched.last_seq == 0


def test_the_rows_are_written_in_one_statement() -> None:
    threads = _threads(3)
    for seq, thread in enumerate(threads, start=1):
        thread.last_seq = seq

    with CaptureQueriesContext(connection) as queries:
        update_rows(threads, ["last_seq", "last_message_at"])

    assert len([q for q in queries if q["sql"].startswith("UPDATE")]) == 1


def test_no_rows_write_nothing() -> None:
    with CaptureQueriesContext(connection) as queries:
        update_rows([], ["last_seq"])

    assert len(queries) == 0


def test_no_fields_are_refused() -> None:
    (thread,) = _threads(1)

    with pytest.raises(ValueError, match="fields"):
        update_rows([thread], [])


COPY_COLUMNS = (
    "enrolment_id",
    "stream",
    "state",
    "stop_reason",
    "due_at",
    "stale_at",
    "slot_date",
    "slot_index",
    "seq",
    "sent_count",
    "updated_at",
)


def test_copied_rows_keep_every_value_of_every_type_nulls_included() -> None:
    programme = make_programme()
    first, second = enrol(programme), enrol(programme)
    stale = WHEN + dt.timedelta(hours=3)
    rows = [
        (first.pk, "supportive", "scheduled", "", WHEN, stale, dt.date(2027, 3, 2), 1, 4, 2, WHEN),
        (second.pk, "supportive", "finished", "", None, None, None, None, 1, 0, WHEN),
    ]

    copy_rows(PendingSend, COPY_COLUMNS, rows)

    # Not updated_at: bulk_create (SQLite) sets an auto_now field itself.
    stored = set(PendingSend.objects.values_list(*COPY_COLUMNS[:-1]))
    assert stored == {row[:-1] for row in rows}


@pytest.mark.postgres
@pytest.mark.skipif(not using_postgres(), reason="SQLite does not enforce a varchar's length")
def test_an_over_long_value_fails_the_copy_and_writes_nothing() -> None:
    programme = make_programme()
    first, second = enrol(programme), enrol(programme)
    rows = [
        (first.pk, "supportive", "finished", "", None, None, None, None, 1, 0, WHEN),
        (second.pk, "supportive", "x" * 17, "", None, None, None, None, 1, 0, WHEN),
    ]

    with pytest.raises(DataError, match="too long"), transaction.atomic():
        copy_rows(PendingSend, COPY_COLUMNS, rows)

    assert PendingSend.objects.count() == 0


def test_no_rows_to_copy_write_nothing() -> None:
    copy_rows(PendingSend, COPY_COLUMNS, [])

    assert PendingSend.objects.count() == 0
