"""``stampside db``: the clinic's database itself — its schema revision, upgrades, backups.

``current`` and ``history`` only read; ``upgrade`` brings the schema to the newest revision
(what the app and every command also do on opening, here on its own and saying what it did);
``backup FILE`` copies a live database: SQLite through its online backup API (a consistent copy
while the app may be writing), PostgreSQL through ``pg_dump`` (custom format; restore with
``pg_restore``). Backups are written to a temporary name and renamed, readable by the clinic's
account only.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stampside.app.cli.errors import CliError, write_failed
from stampside.app.cli.options import clinic_database, db_option

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

__all__ = ["db_group"]


@click.group("db")
def db_group() -> None:
    """The clinic's database: schema revision, upgrade, migration history, backup.

    \b
      stampside db current --db URL       the schema revision stored, and the newest one
      stampside db upgrade --db URL       bring the schema to the newest revision
      stampside db history                every migration, oldest first
      stampside db backup FILE --db URL   a consistent copy (SQLite) or a pg_dump (PostgreSQL)
      stampside db copy --from URL --to URL   move a clinic's records (SQLite to PostgreSQL), verified
    """


def _engine(url: str) -> Engine:
    """An engine on an existing database (a SQLite file that is not there is an error, not created)."""
    from sqlalchemy import create_engine

    from stampside.app.storage.errors import describe_url, explain

    parsed = _parsed(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            name = parsed.database
            if name and name != ":memory:" and not Path(name).is_file():
                raise CliError(f"no database file at {describe_url(parsed)}")
        return create_engine(parsed)
    except CliError:
        raise
    except Exception as exc:  # a malformed URL or a missing driver: one line
        raise CliError(str(explain(url, exc))) from None


def _parsed(url: str) -> URL:
    """``url`` parsed; a malformed one is one line (exit 2)."""
    from sqlalchemy.engine import make_url

    from stampside.app.storage.errors import explain

    try:
        return make_url(url)
    except Exception as exc:
        raise CliError(str(explain(url, exc))) from None


def _where(url: str) -> str:
    from stampside.app.storage.errors import describe_url

    return describe_url(_parsed(url))


@db_group.command("current")
@db_option
def current_command(db_url: str | None) -> None:
    """Print the schema revision stored in the database and the newest this Stampside knows.

    Exit code 0 when the database is at the newest revision, 1 when it needs 'stampside db upgrade'.
    """
    from stampside.app.storage.errors import StorageError, explain
    from stampside.app.storage.schema_version import HEAD_REVISION, stored_revision

    url = clinic_database(db_url)
    engine = _engine(url)
    try:
        stored = stored_revision(engine)
    except StorageError as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:
        raise CliError(str(explain(url, exc))) from None
    finally:
        engine.dispose()
    click.echo(f"{_where(url)}: revision {stored or 'none (a new or empty database)'}; newest {HEAD_REVISION}")
    if stored != HEAD_REVISION:
        click.echo("run 'stampside db upgrade' to bring it to the newest revision", err=True)
        raise SystemExit(1)


@db_group.command("upgrade")
@db_option
def upgrade_command(db_url: str | None) -> None:
    """Bring the database's schema to the newest revision (atomically: all of it or nothing)."""
    from stampside.app.storage import open_database
    from stampside.app.storage.errors import StorageError, explain
    from stampside.app.storage.schema_version import HEAD_REVISION, stored_revision

    url = clinic_database(db_url)
    engine = _engine(url) if not _new_sqlite_file(url) else None
    try:
        before = stored_revision(engine) if engine is not None else None
    except Exception as exc:
        raise CliError(str(explain(url, exc))) from None
    finally:
        if engine is not None:
            engine.dispose()
    try:
        database = open_database(url)
    except StorageError as exc:
        raise CliError(str(exc)) from None
    database.close()
    if before == HEAD_REVISION:
        click.echo(f"{database.description}: already at the newest revision, {HEAD_REVISION}")
    else:
        click.echo(f"{database.description}: upgraded from {before or 'an empty database'} to {HEAD_REVISION}")


def _new_sqlite_file(url: str) -> bool:
    """A SQLite URL whose file is not there yet: 'upgrade' creates it (as the app would)."""
    parsed = _parsed(url)
    name = parsed.database
    return parsed.get_backend_name() == "sqlite" and bool(name) and name != ":memory:" and not Path(str(name)).is_file()


@db_group.command("history")
def history_command() -> None:
    """List every schema migration, oldest first: revision and what it does."""
    from alembic.script import ScriptDirectory

    from stampside.app.storage.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    for script in reversed(list(scripts.walk_revisions())):
        click.echo(f"{script.revision}  {(script.doc or '').strip().splitlines()[0] if script.doc else ''}")


@db_group.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@db_option
def backup_command(file: Path, db_url: str | None) -> None:
    """Copy the database into FILE while it is in use: SQLite's online backup, or pg_dump's custom format.

    FILE is written whole or not at all, readable by this account only. A SQLite backup is a
    database file of its own (open it with --db sqlite:///FILE); restore a PostgreSQL one with
    pg_restore.
    """
    url = clinic_database(db_url)
    parsed = _parsed(url)
    if parsed.get_backend_name() == "sqlite":
        source = parsed.database
        if not source or source == ":memory:" or not Path(source).is_file():
            raise CliError(f"no database file at {_where(url)}")
        _sqlite_backup(Path(source), file)
    elif parsed.get_backend_name() == "postgresql":
        _pg_dump(parsed, file)
    else:
        raise CliError(f"cannot back up a {parsed.get_backend_name()} database")
    click.echo(f"backed up {_where(url)} to {file} ({file.stat().st_size:,} bytes)")


@db_group.command("copy")
@click.option("--from", "source_url", required=True, metavar="URL", help="The database to copy from (read only).")
@click.option("--to", "target_url", required=True, metavar="URL", help="An empty (or new) database to copy into.")
def copy_command(source_url: str, target_url: str) -> None:
    """Copy every record from one database into an empty one, then verify each table.

    Moves a clinic from SQLite to PostgreSQL (or a backup back): every table's rows are copied
    with their keys in one transaction and read back; each table's row count and SHA-256 checksum
    must match the source's, else nothing is copied (exit 2). The source is never written: it
    must be at the newest schema revision ('stampside db upgrade' first).
    """
    from stampside.app.storage import open_database
    from stampside.app.storage.copy import CopyError, copy_records
    from stampside.app.storage.errors import StorageError, explain
    from stampside.app.storage.location import normalize_database_url

    source_url, target_url = normalize_database_url(source_url), normalize_database_url(target_url)
    source = _engine(source_url)
    try:
        target = open_database(target_url)
    except StorageError as exc:
        source.dispose()
        raise CliError(str(exc)) from None
    try:
        copied = copy_records(source, target.engine)
    except CopyError as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:
        raise CliError(str(explain(target_url, exc))) from None
    finally:
        source.dispose()
        target.close()
    width = max(len(table.name) for table in copied)
    for table in copied:
        click.echo(f"{table.name:<{width}}  {table.rows:>9,} rows  sha256 {table.checksum[:16]}  verified")
    total = sum(table.rows for table in copied)
    click.echo(f"copied {total:,} rows in {len(copied)} tables from {_where(source_url)} to {_where(target_url)}")


def _temporary_beside(file: Path) -> Path:
    from stampside.app.storage.private_files import make_private_folder

    folder = file.parent if str(file.parent) else Path(".")
    if not folder.exists():
        make_private_folder(folder)
    return folder / f".{file.name}.{os.getpid()}.partial"


def _sqlite_backup(source: Path, file: Path) -> None:
    partial = _temporary_beside(file)
    try:
        fd = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        os.chmod(partial, 0o600)
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as live, sqlite3.connect(partial) as copy:
            live.backup(copy)
        copy.close()
        # One file, not a WAL: the backup is complete by itself.
        with sqlite3.connect(partial) as check:
            check.execute("PRAGMA journal_mode=DELETE")
        check.close()
        os.replace(partial, file)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise write_failed(file, exc) from None
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise CliError(f"could not back up {source}: {exc}; no file was written") from None


def _pg_dump(url: URL, file: Path) -> None:
    program = shutil.which("pg_dump")
    if program is None:
        raise CliError(
            "backing up PostgreSQL needs pg_dump, the PostgreSQL client "
            "(Debian: apt-get install postgresql-client); no file was written"
        )
    partial = _temporary_beside(file)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    args = [program, "--format=custom", "--no-owner", f"--file={partial}", "--dbname", _libpq_url(url)]
    old_mask = os.umask(0o077)
    try:
        done = subprocess.run(args, capture_output=True, text=True, env=env)
    finally:
        os.umask(old_mask)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        last = (done.stderr.strip().splitlines() or ["pg_dump failed"])[-1]
        raise CliError(f"pg_dump failed: {last}; no file was written")
    os.chmod(partial, 0o600)
    os.replace(partial, file)


def _libpq_url(url: URL) -> str:
    """The SQLAlchemy URL as libpq takes it (no driver name, no password: that goes by PGPASSWORD)."""
    plain = url.set(drivername="postgresql", password=None)
    return str(plain.render_as_string(hide_password=False))
