"""stream_values: every row of a values_list query, a chunk at a time, as iterator() reads
them (on PostgreSQL in a transaction, through a binary server-side cursor)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from peerlink.streaming import stream_values
from programmes.models import Enrolment, Programme
from tests.support.factories import enrol, make_programme

pytestmark = pytest.mark.django_db

WHEN = dt.datetime(2027, 3, 1, 12, 30, tzinfo=dt.UTC)


def _enrolments(count: int) -> None:
    programme = make_programme()
    for _ in range(count):
        enrol(programme)
    Enrolment.objects.update(enrolled_at=WHEN)


def _rows() -> list[tuple[object, ...]]:
    return list(
        Enrolment.objects.order_by("pk").values_list(
            "pk", "enrolled_at", "arm__supportive_texts", "participant__time_zone"
        )
    )


def test_in_a_transaction_every_row_comes_in_order_with_its_values() -> None:
    _enrolments(5)
    expected = _rows()
    query = Enrolment.objects.order_by("pk").values_list(
        "pk", "enrolled_at", "arm__supportive_texts", "participant__time_zone"
    )

    with transaction.atomic():
        streamed = list(stream_values(query, chunk_size=2))

    assert streamed == expected
    assert {row[1] for row in streamed} == {WHEN}
    assert all(row[1].utcoffset() == dt.timedelta(0) for row in streamed)


def test_outside_a_transaction_the_rows_are_the_same() -> None:
    _enrolments(3)
    query = Enrolment.objects.order_by("pk").values_list(
        "pk", "enrolled_at", "arm__supportive_texts", "participant__time_zone"
    )

    assert list(stream_values(query, chunk_size=2)) == _rows()


def test_a_field_that_needs_converting_is_converted() -> None:
    make_programme(slug="first", languages=["en", "fr"])
    make_programme(slug="second", languages=["fr"])
    query = Programme.objects.order_by("slug").values_list("slug", "languages")

    with transaction.atomic():
        streamed = list(stream_values(query, chunk_size=1))

    assert streamed == [("first", ["en", "fr"]), ("second", ["fr"])]


def test_a_query_that_can_match_nothing_yields_nothing() -> None:
    _enrolments(1)

    with transaction.atomic():
        streamed = list(
            stream_values(Enrolment.objects.filter(pk__in=[]).values_list("pk"), chunk_size=10)
        )

    assert streamed == []
