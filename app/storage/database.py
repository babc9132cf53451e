"""Opening the database: one engine, one sessionmaker next to it, migrations on open.

SQLite gets its durability settings in the connection set-up and nowhere else: WAL,
``synchronous=FULL`` (a committed transaction survives a power loss, which the link needs
before it acknowledges stamps to the device) and a busy timeout. Everything else is plain
SQLAlchemy, so the same code runs on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.storage.errors import BUSY_TIMEOUT_SECONDS, StorageError, describe_url, explain
from app.storage.location import resolve_database_url
from app.storage.schema_version import HEAD_REVISION, stored_revision


@dataclass(frozen=True)
class Database:
    """An open database: the engine and the sessionmaker to use with ``with db.Session.begin():``."""

    url: URL
    engine: Engine
    Session: sessionmaker[Session]

    @property
    def description(self) -> str:
        """The file path (SQLite) or the URL without password."""
        return describe_url(self.url)

    def close(self) -> None:
        self.engine.dispose()


def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    """Every new SQLite connection: busy timeout, WAL, ``synchronous=FULL``, foreign keys.

    These run before any transaction, as they must (``journal_mode`` cannot change inside
    one and ``foreign_keys`` is ignored there); the busy timeout comes first so that the
    others wait for a busy database. pysqlite's transaction handling is left as it is for
    the app's transactions; only a migration switches it off, for its own connection, for
    its length (:mod:`app.storage.migrate`).
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode = WAL``, tried again while another connection is switching.

    Two processes opening a brand-new file at once both find it in rollback-journal mode and
    both try to switch; each holds a read lock and wants the write lock, so SQLite answers
    one of them "database is locked" at once, without the busy timeout (waiting would
    deadlock). A moment later the other one has switched and the pragma succeeds.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(0.01)


def open_database(url: str | None = None, *, migrate: bool = True) -> Database:
    """Open (and by default migrate to the newest schema) the database at ``url``.

    ``url`` is resolved with :func:`~app.storage.location.resolve_database_url`: ``None``
    means ``$STAMPSIDE_DB`` or the default SQLite file. Raises :class:`StorageError` with
    a message for a person when the database cannot be opened.
    """
    text = resolve_database_url(url)
    try:
        parsed = make_url(text)
    except (SQLAlchemyError, ValueError) as exc:
        raise explain(text, exc) from None
    try:
        engine = create_engine(parsed)
    except (SQLAlchemyError, ModuleNotFoundError) as exc:
        raise explain(parsed, exc) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _configure_sqlite)
    try:
        if migrate and stored_revision(engine) != HEAD_REVISION:
            # Alembic (and its templates) is imported only when there is something to upgrade:
            # opening an up-to-date database, every start of the app but the first, does not pay for it.
            from app.storage.migrate import upgrade_to_head

            upgrade_to_head(engine)
        elif not migrate:
            with engine.connect():
                pass
    except (SQLAlchemyError, OSError) as exc:
        engine.dispose()
        raise explain(parsed, exc) from None
    except StorageError:
        engine.dispose()
        raise
    return Database(parsed, engine, sessionmaker(engine, expire_on_commit=False))
