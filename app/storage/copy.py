"""Copy a clinic's records from one database to another (SQLite → PostgreSQL, or a backup back).

Every table of the schema is copied as it is stored (primary keys included, so the audit
trail's record keys and hashes still hold), parents before children, in batches, inside one
transaction on the target: a failed copy leaves the target as empty as it was. Then every table
is read back from the target and compared with the source: the row count and a SHA-256 over
the rows in key order, in the canonical form the audit trail hashes (so a time read back with a
time zone by one driver and without by another still compares equal).

The source must be at the newest schema revision (``stampside db upgrade`` first: copying
never writes to the source) and the target must hold no records. Core statements are used, so
the copy is not itself an edit of the records: it appends nothing to the audit trail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Table, func, select, text
from sqlalchemy.engine import make_url

from stampside.app.storage.audit_hash import canonical_json, plain_values
from stampside.app.storage.schema import Base
from stampside.app.storage.schema_version import HEAD_REVISION, VERSION_TABLE, stored_revision

__all__ = ["BATCH_ROWS", "CopyError", "TableCopied", "copy_records", "table_checksum"]

#: Rows read and inserted at a time.
BATCH_ROWS = 2000


class CopyError(RuntimeError):
    """The copy cannot start, or did not verify; the message is meant for a person."""


@dataclass(frozen=True, slots=True)
class TableCopied:
    name: str
    rows: int
    checksum: str  #: SHA-256 (hex) of the rows in key order, the same on both sides


def _tables() -> list[Table]:
    return [table for table in Base.metadata.sorted_tables if table.name != VERSION_TABLE]


def _rows(connection: Connection, table: Table) -> Iterator[dict[str, object]]:
    order = list(table.primary_key.columns) or list(table.columns)
    result = connection.execution_options(yield_per=BATCH_ROWS).execute(select(table).order_by(*order))
    for row in result.mappings():
        yield dict(row)


def table_checksum(connection: Connection, table: Table) -> tuple[int, str]:
    """(rows, SHA-256 hex) of ``table`` as stored, in primary-key order, in the audit trail's canonical form."""
    digest = hashlib.sha256()
    count = 0
    for row in _rows(connection, table):
        digest.update(canonical_json(plain_values(row)).encode("utf-8"))
        digest.update(b"\n")
        count += 1
    return count, digest.hexdigest()


def _reset_sequences(connection: Connection, table: Table) -> None:
    """PostgreSQL: move each serial/identity counter past the ids copied in, so the app's next insert
    does not collide with them."""
    for column in table.primary_key.columns:
        try:
            whole_number = column.type.python_type is int
        except NotImplementedError:
            whole_number = False
        if not whole_number:
            continue
        sequence = connection.execute(
            text("SELECT pg_get_serial_sequence(:table, :column)"), {"table": table.name, "column": column.name}
        ).scalar()
        if sequence:
            highest = f"SELECT MAX({column.name}) FROM {table.name}"
            connection.execute(
                text(f"SELECT setval(:sequence, COALESCE(({highest}), 0) + 1, false)"), {"sequence": sequence}
            )


def copy_records(
    source: Engine, target: Engine, *, progress: Callable[[str, int], None] | None = None
) -> list[TableCopied]:
    """Copy every record from ``source`` into the empty, migrated ``target``; verify; return each table's figures.

    Raises :class:`CopyError` when the source is not at the newest revision, the target holds
    records, or the copy read back differs (the target's transaction is then rolled back).
    """
    revision = stored_revision(source)
    if revision != HEAD_REVISION:
        raise CopyError(
            f"the source is at schema revision {revision or 'none'}, not {HEAD_REVISION}: "
            "upgrade it first (stampside db upgrade --db SOURCE)"
        )
    if make_url(str(source.url)) == make_url(str(target.url)):
        raise CopyError("the source and the target are the same database")
    tables = _tables()
    copied: list[TableCopied] = []
    with source.connect() as reading, target.begin() as writing:
        for table in tables:
            if writing.execute(select(func.count()).select_from(table)).scalar():
                raise CopyError(
                    f"the target already holds records ({table.name}): copy into a new, empty database"
                )
        for table in tables:
            count = 0
            batch: list[dict[str, object]] = []
            for row in _rows(reading, table):
                batch.append(row)
                if len(batch) >= BATCH_ROWS:
                    writing.execute(table.insert(), batch)
                    count += len(batch)
                    batch = []
                    if progress is not None:
                        progress(table.name, count)
            if batch:
                writing.execute(table.insert(), batch)
                count += len(batch)
            if progress is not None:
                progress(table.name, count)
            if target.dialect.name == "postgresql":
                _reset_sequences(writing, table)
        for table in tables:
            source_rows, source_sum = table_checksum(reading, table)
            target_rows, target_sum = table_checksum(writing, table)
            if (source_rows, source_sum) != (target_rows, target_sum):
                raise CopyError(
                    f"{table.name} did not copy faithfully: {source_rows} rows (checksum {source_sum[:12]}) in the "
                    f"source, {target_rows} rows (checksum {target_sum[:12]}) read back; nothing was copied"
                )
            copied.append(TableCopied(table.name, target_rows, target_sum))
    return copied
