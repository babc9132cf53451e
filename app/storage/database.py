"""Opening the database: one engine, one sessionmaker next to it, migrations on open.

SQLite gets its durability settings in the connection set-up and nowhere else: WAL,
``synchronous=FULL`` (a committed transaction survives a power loss, which the link needs
before it acknowledges stamps to the device) and a busy timeout. Everything else is plain
SQLAlchemy, so the same code runs on PostgreSQL.

A SQLite file holds patient data, so it is readable by the clinic's account only: the app
creates it 0600 before SQLite opens it, and SQLite gives the ``-wal`` and ``-shm`` files it
makes the database file's mode. A file (and ``-wal``/``-shm``) that earlier versions left
readable by others loses that access when the database is opened.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from stampside.app.storage.audit import install_audit
from stampside.app.storage.errors import BUSY_TIMEOUT_SECONDS, StorageError, describe_url, explain
from stampside.app.storage.location import resolve_database_url
from stampside.app.storage.private_files import create_private_file, restrict_to_owner
from stampside.app.storage.schema_version import HEAD_REVISION, stored_revision


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
    its length (:mod:`stampside.app.storage.migrate`).
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _configure_postgresql(dbapi_connection: Any, connection_record: Any) -> None:
    """A commit is on the server's disk before it returns, whatever the server's default: the
    link acknowledges stamps to the device after the commit, and the device then forgets them."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET synchronous_commit TO on")
    finally:
        cursor.close()
    dbapi_connection.commit()


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


def _make_sqlite_file_private(url: URL) -> None:
    """Create the SQLite database file 0600 if it is missing, and take others' access off an existing one.

    Only for a plain file path (not ``:memory:`` or a ``file:`` URI) in a folder that exists:
    anything else is left for SQLite to open or to refuse with its own error (explained by
    :func:`~stampside.app.storage.errors.explain`).
    """
    name = url.database
    if url.get_backend_name() != "sqlite" or not name or name == ":memory:" or url.query.get("uri"):
        return
    path = Path(name)
    try:
        if not path.parent.is_dir() or create_private_file(path):
            return
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            restrict_to_owner(file)
    except OSError:
        return  # not writable here: SQLite says so when it opens the file


def open_database(url: str | None = None, *, migrate: bool = True) -> Database:
    """Open (and by default migrate to the newest schema) the database at ``url``.

    ``url`` is resolved with :func:`~stampside.app.storage.location.resolve_database_url`: ``None``
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
        _make_sqlite_file_private(parsed)
        event.listen(engine, "connect", _configure_sqlite)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _configure_postgresql)
    try:
        if migrate and stored_revision(engine) != HEAD_REVISION:
            # Alembic (and its templates) is imported only when there is something to upgrade:
            # opening an up-to-date database, every start of the app but the first, does not pay for it.
            from stampside.app.storage.migrate import upgrade_to_head

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
    maker = sessionmaker(engine, expire_on_commit=False)
    install_audit(maker)  # every write through db.Session appends to the audit trail (app.storage.audit)
    return Database(parsed, engine, maker)
