"""Opening the database: one engine, one sessionmaker next to it, migrations on open.

SQLite gets its durability settings in the connection set-up and nowhere else: WAL,
``synchronous=FULL`` (a committed transaction survives a power loss, which the link needs
before it acknowledges stamps to the device) and a busy timeout. Everything else is plain
SQLAlchemy, so the same code runs on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.storage.errors import BUSY_TIMEOUT_SECONDS, StorageError, describe_url, explain
from app.storage.location import resolve_database_url
from app.storage.migrate import upgrade_to_head


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
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


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
        if migrate:
            upgrade_to_head(engine)
        else:
            with engine.connect():
                pass
    except (SQLAlchemyError, OSError) as exc:
        engine.dispose()
        raise explain(parsed, exc) from None
    except StorageError:
        engine.dispose()
        raise
    return Database(parsed, engine, sessionmaker(engine, expire_on_commit=False))
