"""``stampside db``: the clinic's database itself — its schema revision, upgrades, backups.

``current`` and ``history`` only read; ``upgrade`` brings the schema to the newest revision
(what the app and every command also do on opening, here on its own and saying what it did);
``backup FILE`` copies a live database: SQLite through its online backup API (a consistent copy
while the app may be writing), PostgreSQL through ``pg_dump`` (custom format; restore with
``pg_restore``). Backups are written to a temporary name and renamed, readable by the clinic's
account only. ``roles`` prints (or, with ``--apply``, runs and checks) the grants of a clinic
server's app role, the one the chairs connect as (``docs/clinic-server.md``).
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
      stampside db roles --app-role NAME  the GRANTs of a clinic server's app role (--apply: run them)
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


def _role_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from stampside.app.storage.grants import RoleNameError, check_role_name

    if value is None:
        return None
    try:
        return check_role_name(value)
    except RoleNameError as exc:
        raise click.BadParameter(str(exc)) from None


@db_group.command("roles")
@click.option(
    "--app-role",
    required=True,
    metavar="NAME",
    callback=_role_name,
    help="The role the chairs connect as (made beforehand: CREATE ROLE NAME LOGIN PASSWORD '…').",
)
@click.option(
    "--owner-role",
    metavar="NAME",
    callback=_role_name,
    help="First give every table to this role, the one that runs 'stampside db upgrade' "
    "(for tables another role made; then --apply as a superuser).",
)
@click.option(
    "--apply",
    "apply_them",
    is_flag=True,
    help="Run them on --db (as the tables' owner or a superuser) and check what the app role can do.",
)
@db_option
def roles_command(app_role: str, owner_role: str | None, apply_them: bool, db_url: str | None) -> None:
    """Print the GRANT and REVOKE statements that give a clinic server's app role least privilege.

    Every chair connects to the PostgreSQL server as the app role. It reads and writes the clinical
    records, but owns no table, so it cannot drop, alter or truncate one, nor create one; the audit
    trail, the stamps, signatures, security events and corrections take its INSERT and SELECT only.
    The statements are computed from this Stampside's schema: the owner role runs them again after
    every 'stampside db upgrade' (psql -f, or --apply).

    With --apply they run on --db in one transaction, which then checks what the app role can really
    do (its own grants, PUBLIC's, those of the roles it belongs to): anything else, or a superuser,
    and nothing is changed (exit 2). See: stampside docs clinic-server
    """
    from stampside.app.storage.grants import script

    if owner_role is not None and owner_role == app_role:
        raise CliError("the app role and the owner role must be two roles: the owner can drop every table")
    if not apply_them:
        click.echo(script(app_role, owner_role), nl=False)
        return
    url = clinic_database(db_url)
    parsed = _parsed(url)
    if parsed.get_backend_name() != "postgresql":
        raise CliError(
            f"{_where(url)} is not a PostgreSQL database: roles are the server's (a SQLite clinic is one file, "
            "readable by the clinic's account only)"
        )
    _apply_grants(url, app_role, owner_role)


def _apply_grants(url: str, app_role: str, owner_role: str | None) -> None:
    from sqlalchemy import text

    from stampside.app.storage.errors import StorageError, explain, is_insufficient_privilege, role_of, server_message
    from stampside.app.storage.grants import (
        APPEND_ONLY_TABLES,
        READ_ONLY_TABLES,
        grant_statements,
        privilege_problems,
        sequence_names,
        table_privileges,
    )
    from stampside.app.storage.schema_version import HEAD_REVISION, stored_revision

    where, parsed = _where(url), _parsed(url)
    engine = _engine(url)
    try:
        stored = stored_revision(engine)
        if stored != HEAD_REVISION:
            raise CliError(
                f"{where} is at schema revision {stored or 'none'}, not {HEAD_REVISION}: run 'stampside db upgrade' "
                "as the owner role first; nothing was changed"
            )
        with engine.begin() as connection:
            known = set(connection.execute(text("SELECT rolname FROM pg_roles")).scalars())
            for role in (app_role, owner_role):
                if role is not None and role not in known:
                    raise CliError(f"there is no role '{role}' on {where}: make it first (CREATE ROLE {role} LOGIN)")
            for statement in grant_statements(app_role, owner_role):
                connection.exec_driver_sql(statement.sql)
            problems = privilege_problems(connection, app_role)
            if problems:  # leaving the block with an exception rolls every statement back
                raise CliError(
                    f"the role '{app_role}' {'; '.join(problems)}; nothing was changed (stampside docs clinic-server)"
                )
    except CliError:
        raise
    except StorageError as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:
        if is_insufficient_privilege(exc):
            raise CliError(
                f"{role_of(parsed)} may not grant privileges on {where} ({server_message(exc)}): run it as the role "
                "that owns the tables (the one that runs 'stampside db upgrade') or a superuser; nothing was changed"
            ) from None
        raise CliError(str(explain(parsed, exc))) from None
    finally:
        engine.dispose()
    privileges = table_privileges()
    read_write = sum(1 for table in privileges if table not in APPEND_ONLY_TABLES and table not in READ_ONLY_TABLES)
    if owner_role is not None:
        click.echo(f"{where}: every table belongs to the role '{owner_role}'")
    click.echo(
        f"{where}: the role '{app_role}' reads and writes {read_write} tables, only adds to "
        f"{', '.join(APPEND_ONLY_TABLES)}, only reads {', '.join(READ_ONLY_TABLES)} and uses "
        f"{len(sequence_names())} counters; it owns no table and cannot drop, alter, truncate or create one (checked)"
    )


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
        lines = done.stderr.strip().splitlines() or ["pg_dump failed"]
        last = next((line for line in lines if "error:" in line), lines[-1])  # not the query it quotes after
        if "permission denied" in last:
            last += " (back up as the owner role: stampside docs clinic-server)"
        raise CliError(f"pg_dump failed: {last}; no file was written")
    os.chmod(partial, 0o600)
    os.replace(partial, file)


def _libpq_url(url: URL) -> str:
    """The SQLAlchemy URL as libpq takes it (no driver name, no password: that goes by PGPASSWORD)."""
    plain = url.set(drivername="postgresql", password=None)
    return str(plain.render_as_string(hide_password=False))
