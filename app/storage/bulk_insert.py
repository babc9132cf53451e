"""Many rows into one table, the quickest way each database offers, inside the caller's transaction.

The link stores stamps in batches of up to thousands (:mod:`stampside.app.storage.stamps`); the
audit trail's statement hook (:mod:`stampside.app.storage.audit`) hands the rows here. On
PostgreSQL they go through ``COPY … FROM STDIN`` on the transaction's own connection (psycopg
sends them as one stream: no statement per row, no round trip per row); elsewhere (SQLite) as one
Core ``executemany``. Either way each value passes the column type's bind processing first, so a
row is stored exactly as an ``INSERT`` would store it (``UtcDateTime`` checks and converts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table

__all__ = ["insert_rows"]


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (column name → value; a column left out is NULL) into ``table``."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        _copy_rows(connection, table, rows)
    else:
        connection.execute(table.insert(), list(rows))


def _copy_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    names = [column.name for column in table.columns if any(column.name in row for row in rows[:1])]
    dialect = connection.dialect
    processors: list[Callable[[Any], Any] | None] = [table.c[name].type.bind_processor(dialect) for name in names]
    pairs = list(zip(names, processors, strict=True))
    prepared = [tuple(row.get(name) if bind is None else bind(row.get(name)) for name, bind in pairs) for row in rows]
    columns = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
    target = dialect.identifier_preparer.format_table(table)
    raw = connection.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
        for values in prepared:
            copy.write_row(values)
