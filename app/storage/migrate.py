"""Alembic migrations, run programmatically when the database is opened, each upgrade atomic.

The migration scripts ship inside the package (``app/storage/migrations``), so an
installed Stampside can upgrade a database without an ``alembic.ini`` or a checkout. On
SQLite they run in batch mode (table copies), which Alembic needs to alter tables there.
``app/storage/alembic.ini`` is for developers making new revisions::

    alembic -c app/storage/alembic.ini revision --autogenerate -m "what changed"

**An upgrade is one transaction.** Every ``CREATE``, ``ALTER``, table copy and the
``alembic_version`` row are committed together, once, or not at all: a process killed at
any moment of creating or upgrading a database (``kill -9``, a power cut, a crash) leaves
it at the revision it had before, and the next start simply upgrades it again.

That is not what SQLite gives by itself, because of how Python's ``sqlite3`` (pysqlite)
handles transactions in its default, legacy mode: it sends its own ``BEGIN`` only in front
of ``INSERT``/``UPDATE``/``DELETE``/``REPLACE``, never in front of DDL. Each ``CREATE
TABLE`` of a first migration therefore ran in autocommit mode, committed on its own, and
Alembic's ``alembic_version`` row (an ``INSERT``, so the first statement in a transaction)
came last. A recorder killed in between left a database with some tables and no version
row; every later start ran the first migration again and failed with "table devices
already exists", for ever. SQLite itself does support transactional DDL; pysqlite just has
to be kept out of the way, as SQLAlchemy's pysqlite notes describe ("Serializable
isolation / Savepoints / Transactional DDL"): switch its transaction handling off
(``isolation_level = None``) and send ``BEGIN`` ourselves.

We do that **for the migrating connection only, and only while it migrates**
(:func:`migration_transaction`). Applying the recipe engine-wide would change every
transaction of the app: a ``with db.Session.begin():`` that reads before it writes would
hold a read snapshot from its first ``SELECT`` and could then fail at once with "database
is locked" (SQLite cannot upgrade a stale WAL snapshot to a write, and the busy timeout
does not help there), where today the link's sink and the chairside app just wait their
turn. So the connection goes back to the pool exactly as :mod:`stampside.app.storage.database` set it
up: pysqlite's legacy handling, ``foreign_keys`` on, WAL, ``synchronous=FULL``.

The transaction is ``BEGIN IMMEDIATE``: it takes SQLite's write lock before Alembic reads
``alembic_version``. Two processes opening a new database at once (the chairside app and a
``link record``, say) are thereby serialised: the second waits (up to the busy timeout) and
then finds the schema finished, instead of both reading "no version" and the second failing
with "table already exists" or with a lock error from a deferred transaction.

Alembic is handed a connection that is already in that transaction. Alembic then treats it
as the caller's ("external") transaction: its ``begin_transaction()`` does nothing and it
never commits between revisions, whatever ``transactional_ddl`` and
``transaction_per_migration`` say. That is deliberate. Alembic's SQLite default,
``transactional_ddl = False``, means "one transaction per revision, begun by Alembic", and
Alembic reads the current revision *before* beginning it, outside any lock, so
``transaction_per_migration`` could not stop two processes from running the same revision.
One transaction for the whole upgrade, begun here, is both atomic and race-free.

Foreign keys are switched off for the length of the migration and checked before the
commit: the SQLite procedure for schema changes ("Making other kinds of table schema
changes" in SQLite's ``ALTER TABLE`` page). Batch mode copies a table, drops the original
and renames the copy; with ``foreign_keys`` on, dropping a table that other rows refer to
fails. ``PRAGMA foreign_keys`` is a no-op inside a transaction, so it is set before
``BEGIN`` and set back after ``COMMIT``; ``PRAGMA foreign_key_check`` runs inside the
transaction, so a migration that would leave a dangling reference is rolled back.

On other databases (PostgreSQL) DDL is transactional already; the upgrade runs in one
ordinary transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from stampside.app.storage.errors import StorageError, describe_url, is_insufficient_privilege, role_of, server_message

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database at ``engine`` to the newest schema (a no-op when it is there)."""
    upgrade_to(engine, "head")


def upgrade_to(engine: Engine, revision: str) -> None:
    """Upgrade the database at ``engine`` to ``revision``, atomically (see the module's notes).

    The revision is read once without a lock, so a database already there costs one
    ``SELECT``; otherwise Alembic reads it again inside the migration's write transaction and
    runs only what is still missing (nothing, when another process has just finished).
    """
    config = alembic_config()
    target = ScriptDirectory.from_config(config).get_revision(revision)
    current = current_revision(engine)
    if target is not None and current == target.revision:
        return
    try:
        with migration_transaction(engine) as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except DBAPIError as exc:
        if not is_insufficient_privilege(exc):
            raise
        # A chair's app role on a clinic server: only the owner role changes the schema.
        raise StorageError(
            f"{describe_url(engine.url)} is at schema revision {current or 'none'} and this Stampside needs "
            f"{target.revision if target is not None else revision}, but {role_of(engine.url)} may not change the "
            f"schema ({server_message(exc)}): run 'stampside db upgrade' as the owner role (the one that owns the "
            "tables), then 'stampside db roles --apply' (stampside docs clinic-server); nothing was changed"
        ) from None
    except CommandError as exc:
        if current is None or "can't locate revision" not in str(exc).lower():
            raise StorageError(f"could not upgrade {describe_url(engine.url)}: {exc}; nothing was changed") from None
        # Another chair's newer Stampside upgraded the shared database.
        raise StorageError(
            f"{describe_url(engine.url)} is at schema revision {current}, newer than this Stampside knows "
            f"(its newest is {ScriptDirectory.from_config(config).get_current_head()}): another computer's newer "
            "Stampside upgraded it; upgrade Stampside on this computer"
        ) from None


@contextmanager
def migration_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection inside the one transaction a migration runs in; commits on a clean exit.

    On SQLite: pysqlite's own transaction handling off, foreign keys off, ``BEGIN
    IMMEDIATE``; at the end ``PRAGMA foreign_key_check``, ``COMMIT`` (or ``ROLLBACK`` on an
    exception), then the connection's settings as they were. Elsewhere: ``engine.begin()``.
    """
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            yield connection
        return
    with engine.connect() as connection, _sqlite_migration_mode(connection), connection.begin():
        # SQLAlchemy's begin() sends nothing on pysqlite (it leaves BEGIN to the driver,
        # which we just switched off); its commit()/rollback() do end this transaction.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        yield connection
        _check_foreign_keys(connection)


@contextmanager
def _sqlite_migration_mode(connection: Connection) -> Iterator[None]:
    """pysqlite out of the transaction business and foreign keys off, then both as they were.

    Runs on the driver's connection, outside SQLAlchemy, so that SQLAlchemy does not begin a
    transaction of its own for these statements. None of them may run inside a transaction:
    ``PRAGMA foreign_keys`` would be ignored there.
    """
    driver: Any = connection.connection.driver_connection
    if driver.in_transaction:  # a pooled connection comes back rolled back; make sure
        driver.rollback()
    legacy_mode = driver.isolation_level
    foreign_keys = bool(driver.execute("PRAGMA foreign_keys").fetchone()[0])
    driver.isolation_level = None
    driver.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        if driver.in_transaction:  # only if COMMIT or ROLLBACK itself failed
            driver.rollback()
        driver.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        driver.isolation_level = legacy_mode


def _check_foreign_keys(connection: Connection) -> None:
    """Refuse to commit a migration that leaves a row referring to nothing."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        shown = ", ".join(f"{row[0]} row {row[1]} -> {row[2]}" for row in broken[:5])
        raise StorageError(
            f"the database upgrade would leave {len(broken)} broken reference(s) ({shown}); "
            "nothing was changed. Keep this file and report it"
        )
