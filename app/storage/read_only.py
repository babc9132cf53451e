"""Opening the database to read only, for views that never write (the clinic board).

Unlike :func:`~stampside.app.storage.database.open_database` nothing is created, migrated or
changed: a SQLite file is opened with SQLite's ``mode=ro`` (it must exist; no journal mode is
set), a PostgreSQL connection starts every transaction ``READ ONLY`` (and ``REPEATABLE READ``,
so one read of the board sees one moment). A write through it fails in the database itself.
A schema that is not at the newest revision is one line saying to run ``stampside db upgrade``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from stampside.app.storage.database import Database
from stampside.app.storage.errors import ACCEPTED_URLS, BUSY_TIMEOUT_SECONDS, StorageError, describe_url, explain
from stampside.app.storage.location import normalize_database_url
from stampside.app.storage.schema_version import HEAD_REVISION, stored_revision

__all__ = ["open_read_only", "schema_problem"]


def open_read_only(url: str) -> Database:
    """The database at ``url`` (a URL or a SQLite file path), opened to read only.

    Raises :class:`StorageError` with one line for a person: a malformed URL, a missing file,
    a missing driver, a server that cannot be reached, or a schema to upgrade first.
    """
    text = normalize_database_url(url)
    try:
        parsed = make_url(text)
    except (SQLAlchemyError, ValueError) as exc:
        raise explain(text, exc) from None
    try:
        engine = _engine(parsed)
    except StorageError:
        raise
    except (SQLAlchemyError, ModuleNotFoundError, ValueError) as exc:
        raise explain(parsed, exc) from None
    try:
        problem = schema_problem(parsed, stored_revision(engine))
    except (SQLAlchemyError, OSError) as exc:
        engine.dispose()
        raise explain(parsed, exc) from None
    if problem is not None:
        engine.dispose()
        raise StorageError(problem)
    return Database(parsed, engine, sessionmaker(engine, expire_on_commit=False))


def schema_problem(url: URL, stored: str | None) -> str | None:
    """What is wrong with a database at revision ``stored`` for a reader of this version, or None."""
    if stored == HEAD_REVISION:
        return None
    where = describe_url(url)
    if stored is not None and stored.isdigit() and int(stored) > int(HEAD_REVISION):
        return (
            f"{where} is at schema revision {stored}, newer than this Stampside knows ({HEAD_REVISION}); "
            "upgrade Stampside on this computer"
        )
    found = f"schema revision {stored}" if stored else "no Stampside schema"
    return f"{where} has {found}, not the newest ({HEAD_REVISION}): run 'stampside db upgrade' first"


def _engine(url: URL) -> Engine:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "postgresql":
        engine = create_engine(url, isolation_level="REPEATABLE READ")
        event.listen(engine, "connect", _read_only_postgresql)
        return engine
    raise StorageError(f"not a database URL: {describe_url(url)!r}; use {ACCEPTED_URLS}")


def _sqlite_engine(url: URL) -> Engine:
    name = url.database
    if not name or name == ":memory:" or url.query.get("uri"):
        raise StorageError(f"not a database file: {describe_url(url)!r}; use {ACCEPTED_URLS}")
    path = Path(name)
    if not path.is_file():
        raise StorageError(f"no database file at {path}; check --db (or run the app once to make one)")
    uri = f"{path.absolute().as_uri()}?mode=ro"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)

    return create_engine(url, creator=connect)


def _read_only_postgresql(dbapi_connection: Any, connection_record: Any) -> None:
    """Every transaction of the connection is READ ONLY: the server refuses any write."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET default_transaction_read_only TO on")
    finally:
        cursor.close()
    dbapi_connection.commit()
