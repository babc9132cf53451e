"""Migrations are atomic: a database killed at any moment of creation or upgrade opens next time.

The upgrade runs in a forked child that SIGKILLs itself at a chosen *tick*: before any SQL
statement, before the COMMIT, or every few hundred SQLite VM instructions inside a statement
(the progress handler; so kills also land in the middle of a batch table copy). Nothing is
cleaned up, exactly as with ``kill -9``. The ticks are counted once in a dry run, then
killed at spread, seeded points covering every revision step. After each kill the file must
still hold the schema it had before (or, after the COMMIT, the newest), and
``open_database`` must bring it to head with ``PRAGMA integrity_check`` ok, no broken
reference, the seeded rows intact and the schema text equal to a fresh database's.

Before the fix the first migration's ``CREATE TABLE`` statements committed one by one
(pysqlite sends no ``BEGIN`` before DDL), so a kill there left tables without a version row
and every later open failed with "table devices already exists".
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import signal
import sqlite3
import traceback
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import Pool

from stampside.app.storage import StorageError, open_database
from stampside.app.storage.database import _configure_sqlite as configure_sqlite
from stampside.app.storage.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    migration_transaction,
    upgrade_to,
)

#: Every revision, oldest first.
REVISIONS = tuple(s.revision for s in reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions())))
#: Revisions a database can be at before an upgrade (None: a brand-new file).
STARTS: tuple[str | None, ...] = (None, *REVISIONS[:-1])
#: The progress handler's period, in SQLite VM instructions.
VM_PERIOD = 400
#: Kills per starting revision, spread over the upgrade's ticks.
KILLS = 14
STAMPS = 1500
AT = "2026-10-01 00:00:00.000000"

Schema = list[tuple[str, str, str, str | None]]


# -- the database, seen from outside ---------------------------------------------------------


def schema_of(path: Path) -> Schema:
    """Every table, index and trigger with its SQL text, read with plain sqlite3.

    The constraint clauses of a table are sorted: Alembic's batch mode writes a copied
    table's constraints in an order that changes from run to run (two fresh databases can
    differ there), which is no difference in the schema.
    """
    with closing(sqlite3.connect(path)) as connection:
        rows = connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    return [(str(a), str(b), str(c), None if d is None else _normalised(str(d))) for a, b, c, d in rows]


def _normalised(sql: str) -> str:
    lines = [line.strip().rstrip(",").strip() for line in sql.splitlines()]
    constraints = sorted(line for line in lines if line.startswith("CONSTRAINT "))
    return "\n".join([line for line in lines if not line.startswith("CONSTRAINT ")] + constraints)


def revision_of(path: Path) -> str | None:
    with closing(sqlite3.connect(path)) as connection:
        if not connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").fetchall():
            return None
        rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert len(rows) <= 1, rows
    return str(rows[0][0]) if rows else None


def snapshot(path: Path, into: Path) -> Path:
    """A copy of the database with its WAL, so that looking at it does not recover the original."""
    into.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            shutil.copyfile(source, into / f"{path.name}{suffix}")
    return into / path.name


def stamps_digest(path: Path) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(
            "SELECT device_id, boot, seq, device_time_ms, force_dn, contact_ms, zone FROM stamp_events ORDER BY id"
        ).fetchall()


def check_healthy(path: Path, fresh: Schema) -> None:
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    assert schema_of(path) == fresh
    assert revision_of(path) == head_revision()


# -- the databases an upgrade starts from -----------------------------------------------------


def make_start(path: Path, revision: str | None) -> None:
    """A database at ``revision`` (None: no file at all) holding a device and its stamps."""
    if revision is None:
        return
    db = open_database(f"sqlite:///{path}", migrate=False)
    try:
        upgrade_to(db.engine, revision)
        assert current_revision(db.engine) == revision
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO devices (id, serial, hw_revision, firmware, min_version, max_version, needle_um,"
                    " head_id, head_uses, footprint_mm2, battery_pct, last_boot, last_seq, cursor_boot, cursor_seq,"
                    " first_seen, last_seen) VALUES (1, 'SN-OLD', 2, '1.0.0', 1, 1, 2000, 7, 0, 100, 90, 1, :n, 1, :n,"
                    " '2026-10-01 00:00:00.000000', '2026-10-01 00:00:00.000000')"
                ),
                {"n": STAMPS},
            )
            connection.execute(
                text(
                    "INSERT INTO stamp_events (device_id, boot, seq, device_time_ms, force_dn, contact_ms, zone,"
                    " received_at, replay) VALUES (1, 1, :seq, :ms, :force, 180, :zone, :at, 0)"
                ),
                [
                    {"seq": s, "ms": s * 333, "force": 40 + s % 50, "zone": s % 5, "at": AT}
                    for s in range(1, STAMPS + 1)
                ],
            )
            connection.execute(
                text(
                    "INSERT INTO link_events (device_id, at, kind, detail)"
                    " VALUES (1, '2026-10-01 00:00:00.000000', 'connected', '')"
                )
            )
    finally:
        db.close()
    assert not Path(f"{path}-wal").exists()


# -- a child that kills itself at a tick ------------------------------------------------------


@dataclass(frozen=True)
class Child:
    killed: bool
    ticks: list[str]


def run_child(url: str, kill_at: int | None, trace: Path) -> Child:
    """``open_database(url)`` in a forked child, SIGKILLed at tick ``kill_at`` (None: never)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        code = 0
        try:
            _child(url, kill_at, trace)
        except BaseException:
            traceback.print_exc()
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return Child(True, [])
    assert os.WEXITSTATUS(status) == 0, "the child's upgrade failed (its traceback is in the captured stderr)"
    return Child(False, trace.read_text().splitlines() if kill_at is None else [])


def _child(url: str, kill_at: int | None, trace: Path) -> None:
    ticks: list[str] = []

    def tick(label: str) -> None:
        if len(ticks) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        ticks.append(label)

    def before_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        tick("sql " + " ".join(statement.split())[:60])

    def progress() -> int:
        tick("vm")
        return 0  # carry on

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.set_progress_handler(progress, VM_PERIOD)

    # Class-level listeners, in the child only: every engine open_database makes gets them.
    event.listen(Engine, "before_cursor_execute", before_statement)
    event.listen(Engine, "commit", lambda conn: tick("commit"))
    event.listen(Pool, "connect", on_connect)
    open_database(url).close()
    tick("closed")
    trace.write_text("\n".join(ticks) + "\n")


@dataclass(frozen=True)
class Tick:
    index: int
    label: str
    #: The revision step the tick belongs to ("0002" while 0001 -> 0002 runs), or "before"/"after".
    step: str


def label_ticks(labels: list[str], start: str | None) -> list[Tick]:
    """Each tick with the revision step it falls in, from the statements around it.

    "before" lasts until the first statement that writes (``BEGIN`` or DDL); each write of
    ``alembic_version`` ends a step; "commit" is from the last one to the COMMIT, "after"
    the rest. Nothing here relies on how the upgrade is made atomic.
    """
    out = []
    phase = "before"
    done = 0 if start is None else REVISIONS.index(start) + 1
    for index, label in enumerate(labels):
        if phase == "before" and label.startswith(("sql BEGIN", "sql CREATE")):
            phase = REVISIONS[done] if done < len(REVISIONS) else "commit"
        out.append(Tick(index, label, phase))
        if label.startswith(("sql INSERT INTO alembic_version", "sql UPDATE alembic_version")):
            done += 1
            phase = REVISIONS[done] if done < len(REVISIONS) else "commit"
        elif label == "commit" and phase != "before":
            phase = "after"
    return out


def kill_points(ticks: list[Tick], rng: random.Random) -> list[Tick]:
    """Spread, seeded kill points: a few in every revision step, the COMMIT, one before, one after."""
    by_step: dict[str, list[Tick]] = {}
    for t in ticks:
        by_step.setdefault(t.step, []).append(t)
    chosen = {rng.choice(by_step["before"]).index, rng.choice(by_step["after"]).index}
    chosen |= {t.index for t in ticks if t.label == "commit"}
    steps = [s for s in by_step if s not in ("before", "after", "commit")]
    # Round the revision steps, a kill point each time, until KILLS or every tick of theirs is
    # taken (a short upgrade, from the revision before the head, has fewer ticks than KILLS).
    turn = 0
    while len(chosen) < KILLS:
        left = [[t.index for t in by_step[step] if t.index not in chosen] for step in steps]
        if not any(left):
            break
        pool = left[turn % len(steps)]
        turn += 1
        if pool:
            chosen.add(rng.choice(pool))
    return [ticks[i] for i in sorted(chosen)]


@pytest.fixture(scope="module")
def fresh_schema(tmp_path_factory: pytest.TempPathFactory) -> Schema:
    path = tmp_path_factory.mktemp("fresh") / "fresh.db"
    open_database(f"sqlite:///{path}").close()
    return schema_of(path)


@pytest.mark.parametrize("start", STARTS, ids=lambda s: f"from-{s or 'nothing'}")
def test_an_upgrade_killed_at_any_point_opens_and_upgrades_next_time(
    tmp_path: Path, start: str | None, fresh_schema: Schema
) -> None:
    template = tmp_path / "template.db"
    make_start(template, start)
    start_schema = schema_of(template) if start is not None else []
    start_stamps = stamps_digest(template) if start is not None else []
    assert len(start_stamps) == (STAMPS if start is not None else 0)

    def copy_of_start(name: str) -> Path:
        path = tmp_path / name
        if start is not None:
            shutil.copyfile(template, path)
        return path

    dry = copy_of_start("dry.db")
    labels = run_child(f"sqlite:///{dry}", None, tmp_path / "ticks.txt").ticks
    check_healthy(dry, fresh_schema)
    ticks = label_ticks(labels, start)
    steps = sorted({t.step for t in ticks} - {"before", "after", "commit"})
    assert steps == list(REVISIONS[0 if start is None else REVISIONS.index(start) + 1 :])

    rng = random.Random(f"kill-{start}")
    landed: dict[str, int] = {}
    for point in kill_points(ticks, rng):
        path = copy_of_start(f"killed-{point.index}.db")
        child = run_child(f"sqlite:///{path}", point.index, tmp_path / "unused.txt")
        assert child.killed, f"tick {point.index} ({point.label}) was never reached"
        landed[point.step] = landed.get(point.step, 0) + 1
        # Right after the kill: the old schema or the new one, never a mixture.
        seen = snapshot(path, tmp_path / f"look-{point.index}")
        after = schema_of(seen)
        assert after in (start_schema, fresh_schema), f"partial schema after a kill at {point}: {after}"
        if point.step != "after":
            assert revision_of(seen) == start and after == start_schema, point
        db = open_database(f"sqlite:///{path}")
        db.close()
        check_healthy(path, fresh_schema)
        if start is not None:
            assert stamps_digest(path) == start_stamps
    print(f"{len(ticks)} ticks; kills by step: {landed}")
    # Every revision step was interrupted at least once (and the COMMIT itself).
    assert set(steps) <= set(landed), landed
    assert landed.get("commit", 0) >= 1, landed


def test_an_upgrade_that_fails_mid_way_leaves_the_old_schema_and_upgrades_next_time(
    tmp_path: Path, fresh_schema: Schema
) -> None:
    """A statement that raises (a full disk, say) rolls the whole upgrade back, in-process."""
    template = tmp_path / "template.db"
    make_start(template, "0001")
    start_schema = schema_of(template)
    for failing in ("CREATE TABLE practitioners", "DROP TABLE stamp_events", "CREATE TABLE screenings"):
        path = tmp_path / f"{failing.split()[-1]}.db"
        shutil.copyfile(template, path)
        with failing_statement(failing), pytest.raises(StorageError, match="injected failure"):
            open_database(f"sqlite:///{path}")
        assert schema_of(path) == start_schema
        assert revision_of(path) == "0001"
        open_database(f"sqlite:///{path}").close()
        check_healthy(path, fresh_schema)


@contextmanager
def failing_statement(fragment: str) -> Iterator[None]:
    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if fragment in " ".join(statement.split()):
            raise sqlite3.OperationalError(f"injected failure at {fragment}")

    event.listen(Engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", before)


def test_a_migration_that_would_break_a_reference_is_rolled_back(tmp_path: Path) -> None:
    """Foreign keys are off while migrating (table copies need it) and checked before COMMIT."""
    db = open_database(f"sqlite:///{tmp_path / 'fk.db'}")
    try:
        with pytest.raises(StorageError, match="broken reference"), migration_transaction(db.engine) as connection:
            connection.exec_driver_sql(
                "INSERT INTO link_events (device_id, at, kind, detail)"
                " VALUES (42, '2026-10-01 00:00:00.000000', 'connected', '')"
            )
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM link_events").scalar() == 0
    finally:
        db.close()


def test_app_transactions_keep_their_settings_after_a_migration(tmp_path: Path) -> None:
    """The connection that migrated goes back to the pool as the app's connections are set up.

    pysqlite's own transaction handling (a SELECT alone starts no transaction, so a reader
    never holds a stale WAL snapshot), foreign keys on, WAL, synchronous=FULL, the busy timeout.
    """
    db = open_database(f"sqlite:///{tmp_path / 'settings.db'}")
    try:
        for _ in range(2):  # the pooled connection that migrated, then the same again
            with db.Session.begin() as session:
                session.execute(text("SELECT count(*) FROM devices"))
                driver = session.connection().connection.driver_connection
                assert driver is not None
                assert driver.isolation_level == ""
                assert not driver.in_transaction
                assert driver.execute("PRAGMA foreign_keys").fetchone() == (1,)
                assert driver.execute("PRAGMA journal_mode").fetchone() == ("wal",)
                assert driver.execute("PRAGMA synchronous").fetchone() == (2,)
                assert driver.execute("PRAGMA busy_timeout").fetchone() == (5000,)
            with pytest.raises(IntegrityError, match="FOREIGN KEY"), db.Session.begin() as session:
                session.execute(
                    text(
                        "INSERT INTO link_events (device_id, at, kind, detail)"
                        " VALUES (42, '2026-10-01 00:00:00.000000', 'connected', '')"
                    )
                )
    finally:
        db.close()


# -- two processes, one new database ----------------------------------------------------------


def run_together(count: int, prepare: Callable[[], Callable[[], None]]) -> list[str]:
    """In ``count`` forked children: ``prepare()``, then all at once the callable it returned.

    The result is each child's error ('' for success).
    """
    release_read, release_write = os.pipe()
    children: list[tuple[int, int]] = []
    for _ in range(count):
        result_read, result_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            os.close(release_write)
            message = ""
            try:
                work = prepare()
                os.read(release_read, 1)  # blocks until the parent closes its end
                work()
            except BaseException as exc:
                message = f"{type(exc).__name__}: {exc}"
            os.write(result_write, message.encode()[:4000])
            os._exit(0)
        os.close(result_write)
        children.append((pid, result_read))
    os.close(release_read)
    os.close(release_write)
    errors = []
    for pid, result_read in children:
        with os.fdopen(result_read, "rb") as result:
            errors.append(result.read().decode())
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    return errors


def opening(url: str) -> Callable[[], None]:
    return lambda: open_database(url).close()


def test_processes_opening_the_same_new_database_at_once_all_succeed(tmp_path: Path, fresh_schema: Schema) -> None:
    for round_ in range(8):
        path = tmp_path / f"shared-{round_}.db"
        errors = run_together(3, functools.partial(opening, f"sqlite:///{path}"))
        assert errors == ["", "", ""], f"round {round_}: {errors}"
        check_healthy(path, fresh_schema)


def connecting(path: Path) -> Callable[[], None]:
    """A plain sqlite3 connection to ``path``, set up as ``open_database`` sets up its own."""
    connection = sqlite3.connect(path)

    def set_up() -> None:
        configure_sqlite(connection, None)
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        connection.close()

    return set_up


def test_processes_connecting_to_a_brand_new_file_at_once_all_switch_it_to_wal(tmp_path: Path) -> None:
    """The first step of opening, alone: every process switches the new file to WAL.

    SQLite refuses one of two simultaneous switches with "database is locked" at once,
    bypassing the busy timeout (waiting could deadlock); the set-up must try again.
    """
    for round_ in range(100):
        errors = run_together(4, functools.partial(connecting, tmp_path / f"new-{round_}.db"))
        assert errors == ["", "", "", ""], f"round {round_}: {errors}"
