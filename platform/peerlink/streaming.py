"""Reading every row of a large query, a chunk at a time."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet


def stream_values(queryset: QuerySet[Any, Any], *, chunk_size: int) -> Iterator[tuple[Any, ...]]:
    """The rows of a `values_list` queryset, fetched `chunk_size` at a time through a
    server-side cursor, as `iterator()` does. On PostgreSQL, inside a transaction, and when no
    field needs Django's converting, the rows come in binary format: in text format every
    timestamp is parsed in Python (Django's time-zone loader subclasses psycopg's and loses
    its C speed), which was most of reading a million enrolments to plan their texts. And the
    planner is told that every row will be read (`cursor_tuple_fraction`: it assumes 10% for
    a cursor, and picks plans that are fast to start and slow to finish). Hand-written:
    Django offers no binary cursor."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        yield from queryset.iterator(chunk_size=chunk_size)
        return
    compiler = queryset.query.get_compiler(using=queryset.db)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        return
    fields = [selected[0] for selected in compiler.select[: compiler.col_count]]
    if compiler.get_converters(fields) or compiler.has_composite_fields(fields):
        yield from queryset.iterator(chunk_size=chunk_size)
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL cursor_tuple_fraction = 1")
    name = f"stream_{uuid.uuid4().hex}"
    with (
        connection.wrap_database_errors,
        connection.connection.cursor(name=name, binary=True) as cursor,
    ):
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size):
            yield from rows
