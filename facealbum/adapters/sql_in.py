"""Rows by key in chunks of a plain ``IN (?, ?, …)``: the reads a deep search page makes
(thousands of faces' rows by id) through the driver, not SQLAlchemy's expression layer.
Its expanding ``IN`` renders every value into the statement per execution and builds a
mapping per row: 3-4x the database's own time at 8,000 rows (a threshold-0 page at
picture 4,000 on 1M faces spent ~0.5 s there). Table and column names are this
package's constants, never input; the values go as bound parameters."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ARRAY, Connection, any_, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement


def rows_in(
    conn: Connection,
    columns: Sequence[str],
    table: str,
    key: str,
    values: Sequence[Any],
    chunk: int = 500,
) -> Iterator[tuple]:
    """Tuples of ``columns`` (in that order) of ``table``'s rows whose ``key`` is one of
    ``values`` (duplicates allowed), ``chunk`` values per statement; any order. On
    PostgreSQL the chunk is one array parameter (``= ANY(%s)``, see :func:`one_of`):
    one statement text whatever the number of values."""
    head = f"SELECT {', '.join(columns)} FROM {table} WHERE {key}"
    array = conn.dialect.name == "postgresql"
    for i in range(0, len(values), chunk):
        part = list(values[i : i + chunk])
        if array:
            yield from conn.exec_driver_sql(head + " = ANY(%s)", (part,)).fetchall()
        else:
            sql = head + " IN (" + ", ".join(["?"] * len(part)) + ")"
            yield from conn.exec_driver_sql(sql, tuple(part)).fetchall()


def one_row(conn: Connection, columns: Sequence[str], table: str, key: str, value: Any) -> Any:
    """The row (a tuple of ``columns``, in that order; ``._mapping`` by name) of
    ``table`` whose ``key`` is ``value``, or None: one lookup through the driver, for
    the reads every click makes (its face, its person, its collection's stamp)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {key} = {mark}"
    return conn.exec_driver_sql(sql, (value,)).first()


def one_of(column: ColumnElement, values: Sequence[Any], dialect: Dialect) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``column = ANY(%s)`` with the values as one
    array parameter. SQLAlchemy's expanding ``IN`` renders a placeholder per value, so
    each number of values is another statement: psycopg never prepares a page's reads
    (200 pictures' faces: another text for every page size) and PostgreSQL parses each
    anew; the array is one text, one parameter to send (at a million faces a page's
    faces 42 -> 28 ms). SQLite has no arrays: the plain ``IN``."""
    if dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)
