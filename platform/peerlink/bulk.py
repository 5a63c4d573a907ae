"""Writing many rows of one model at once: updating each with its own values in one
statement, and inserting by COPY."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, cast

from django.db import connections, router
from django.db.models import CharField, Field, Model, TextField


def update_rows(rows: Sequence[Model], fields: Sequence[str]) -> None:
    """Save `fields` of every row (by primary key), in one statement. Django's `bulk_update`
    does the same with a `CASE WHEN pk = … THEN …` per field and row, which Django builds and
    PostgreSQL plans row by row: for a dispatcher batch of 200 rows and eleven fields it cost
    more than the rest of the batch together (docs/performance.md). On PostgreSQL each field
    travels as one array parameter instead (`UPDATE … FROM unnest(…)`); elsewhere (SQLite, the
    local profile) `bulk_update` is good enough. Like `bulk_update`, it sends no signals and
    leaves `auto_now` alone. Hand-written for now: django-pg-bulk-update does this on
    PostgreSQL, but declares no Django 5 support, and would still need this fallback; worth
    evaluating before more bulk writes are added."""
    if not fields:
        raise ValueError("name the fields to update")
    if not rows:
        return
    model = type(rows[0])
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(rows, fields)
        return
    meta = model._meta
    assert meta.pk is not None
    targets = [cast(Field[Any, Any], meta.get_field(name)) for name in (meta.pk.name, *fields)]
    quote = connection.ops.quote_name
    columns = [quote(str(field.column)) for field in targets]
    arrays = ", ".join(f"%s::{_array_type(field, connection)}[]" for field in targets)
    assignments = ", ".join(f"{column} = v.{column}" for column in columns[1:])
    table = quote(meta.db_table)
    # Only the model's own quoted names are formatted in; every value is a parameter.
    names = ", ".join(columns)
    key = columns[0]
    sql = f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({names}) WHERE {table}.{key} = v.{key}"  # noqa: S608, E501
    params = [
        [field.get_db_prep_save(getattr(row, field.attname), connection) for row in rows]
        for field in targets
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _array_type(field: Field[Any, Any], connection: Any) -> str:
    """Strings travel as text: a cast to varchar(n) would cut an over-long value silently,
    where the assignment to the column raises, as a save would."""
    if isinstance(field, CharField | TextField):
        return "text"
    return str(field.db_type(connection))


def copy_rows(model: type[Model], columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Insert `rows` (values in the order of `columns`: field names or attnames, the values
    as the database takes them). On PostgreSQL by binary COPY, the types taken from the
    fields: for a million-row plan, several times faster than Django's bulk INSERT, and about
    five times faster than text COPY, which formats every value as text for the server to
    parse again. Elsewhere (SQLite, the local profile) by `bulk_create`. Like `bulk_create`,
    it sends no signals. COPY fills in no defaults and no `auto_now`: name every column (an
    `auto_now` one gets the time of the call from `bulk_create`). Hand-written: psycopg does
    the COPY, but nothing maps a model's fields to their binary types."""
    connection = connections[router.db_for_write(model)]
    meta = model._meta
    fields = [cast(Field[Any, Any], meta.get_field(name)) for name in columns]
    if connection.vendor != "postgresql":
        attnames = [field.attname for field in fields]
        model._default_manager.bulk_create(
            [model(**dict(zip(attnames, row, strict=True))) for row in rows], batch_size=1000
        )
        return
    quote = connection.ops.quote_name
    names = ", ".join(quote(str(field.column)) for field in fields)
    types = [_copy_type(field, connection) for field in fields]
    # psycopg's own cursor, for its COPY; its errors still raised as Django's.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        # Only the model's own quoted names are formatted in.
        with raw.copy(f"COPY {quote(meta.db_table)} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)


def _copy_type(field: Field[Any, Any], connection: Any) -> str:
    """The type's name without its length (`varchar(16)` is sent as `varchar`): an over-long
    value then fails on the column, as an INSERT would, rather than being cut."""
    return re.sub(r"\(.*\)$", "", str(field.db_type(connection)))
