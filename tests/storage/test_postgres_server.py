"""A real PostgreSQL server of the project's own (``scripts/postgres``), and the records on it.

The first step of the many-chairs issue: ``scripts/postgres up`` (installing PostgreSQL from
Debian's packages when it is missing) starts a throw-away cluster in its own data folder and
port and prints a SQLAlchemy URL as its last line; on that server, as subprocesses a QA script
would run:

* the schema is migrated to the head, ``demo-data`` fills it and ``audit verify`` passes;
* a row changed outside the app (plain SQL through psycopg) is named by ``audit verify``;
* ``link record`` from a simulator with drops and a reboot stores every stamp exactly once
  (compared with the simulator's truth log), and ``export`` reads them back;

then ``scripts/postgres down`` stops it and removes its data folder.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from stampside.app.storage import open_database
from tests.devicelink.processes import SimProcess, json_lines, stampside

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres"


def without_generation_time(report: str) -> str:
    """A report with the moment it was generated left out (ISO date-times, as the reports write it)."""
    moment = r"generated[^\n]*?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?[^\n<\",]*"
    return re.sub(moment, "generated …", report, flags=re.IGNORECASE)


def postgres(command: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STAMPSIDE_PG_DATA": str(data)}
    return subprocess.run([str(SCRIPT), command], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    # Under the temporary folder's root, not pytest's own (0700) folders: as root the server runs
    # as the 'postgres' account, which must reach its data folder.
    data = Path(os.environ.get("TMPDIR", "/tmp")) / f"stampside-pg-test-{os.getpid()}"
    started = postgres("up", data)
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip().splitlines()[-1]
    try:
        yield url, data
    finally:
        stopped = postgres("down", data)
        assert stopped.returncode == 0, stopped.stderr
        assert not data.exists()


def test_up_prints_a_url_as_its_last_line_and_again_when_already_running(server: tuple[str, Path]) -> None:
    url, data = server
    assert url.startswith("postgresql+psycopg://stampside@127.0.0.1:")
    again = postgres("up", data)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1] == url
    assert postgres("url", data).stdout.strip() == url
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SHOW synchronous_commit")).scalar() == "on"
    engine.dispose()


def test_commits_are_durable_whatever_the_servers_default(server: tuple[str, Path]) -> None:
    url, _ = server
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("ALTER DATABASE stampside SET synchronous_commit TO off"))
    engine.dispose()
    try:
        plain = create_engine(url)
        with plain.connect() as connection:  # the server's default now: off
            assert connection.execute(text("SHOW synchronous_commit")).scalar() == "off"
        plain.dispose()
        database = open_database(url)
        with database.engine.connect() as connection:
            assert connection.execute(text("SHOW synchronous_commit")).scalar() == "on"
        database.close()
    finally:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("ALTER DATABASE stampside RESET synchronous_commit"))
        engine.dispose()


def test_demo_data_on_postgres_verifies_and_an_outside_edit_is_named(server: tuple[str, Path]) -> None:
    url, _ = server
    filled = stampside("demo-data", "--db", url, timeout=300)
    assert filled.returncode == 0, filled.stderr
    verified = stampside("audit", "verify", "--db", url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE patients SET name = 'Edited' WHERE code = 'DEMO-001'"))
    engine.dispose()
    found = stampside("audit", "verify", "--db", url)
    assert found.returncode == 1, found.stdout + found.stderr
    assert "patients" in found.stdout and "DEMO-001" in found.stdout and "'Edited'" in found.stdout


def test_link_record_into_postgres_stores_every_stamp_once(server: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = server
    engine = create_engine(url)
    with engine.begin() as connection:  # a database of its own for this test's stamps
        connection.execute(text("DROP SCHEMA IF EXISTS link_test CASCADE"))
        connection.execute(text("CREATE SCHEMA link_test"))
    engine.dispose()
    own = url + "?options=-csearch_path%3Dlink_test"
    link, truth = tmp_path / "stamp", tmp_path / "truth.jsonl"
    sim = SimProcess(
        "--pty", str(link), "--stamps", "800", "--rate", "400", "--seed", "6", "--truth", str(truth), "--no-state",
        "--corrupt", "0.01", "--reboot-every", "500", "--drop-every", "2.0", "--drop-for", "0.8",
    )
    try:
        recorded = stampside(
            "link", "record", str(link), "--db", own, "--idle-exit", "2", "--link-timeout", "0.5", timeout=180
        )
    finally:
        sim_log = sim.stop()
    assert recorded.returncode == 0, recorded.stderr + sim_log
    exported = stampside("export", "--db", own, "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    keys = ("boot", "seq", "force", "contact_ms", "zone")
    stored = sorted(tuple(row[k] for k in keys) for row in json_lines(exported.stdout))
    expected = sorted(tuple(row[k] for k in keys) for row in map(json.loads, truth.read_text().splitlines()))
    assert len(expected) == 800
    assert stored == expected
    assert {row[0] for row in stored} == {1, 2}  # the reboot was lived through


def test_db_current_and_a_pg_dump_backup(server: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = server
    current = stampside("db", "current", "--db", url)
    assert current.returncode == 0, current.stdout + current.stderr
    backup = tmp_path / "backups" / "clinic.dump"
    made = stampside("db", "backup", str(backup), "--db", url, timeout=300)
    assert made.returncode == 0, made.stderr
    assert oct(backup.stat().st_mode & 0o777) == oct(0o600)
    assert oct(backup.parent.stat().st_mode & 0o777) == oct(0o700)
    listed = subprocess.run(["pg_restore", "--list", str(backup)], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "TABLE public patients" in listed.stdout and "TABLE public audit_entries" in listed.stdout


def test_db_copy_moves_a_sqlite_clinic_to_postgres_and_its_audit_trail_verifies_there(
    server: tuple[str, Path], fresh_demo_copy: Path
) -> None:
    url, _ = server
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS moved"))
        connection.execute(text("CREATE DATABASE moved"))
    engine.dispose()
    moved = url.rsplit("/", 1)[0] + "/moved"
    sqlite_url = f"sqlite:///{fresh_demo_copy}"
    copied = stampside("db", "copy", "--from", sqlite_url, "--to", moved, timeout=300)
    assert copied.returncode == 0, copied.stderr
    assert "stamp_events" in copied.stdout and copied.stdout.rstrip().endswith(moved)
    verified = stampside("audit", "verify", "--db", moved)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    before = stampside("export", "--db", sqlite_url, "--format", "jsonl")
    after = stampside("export", "--db", moved, "--format", "jsonl")
    assert before.stdout == after.stdout and before.stdout.count("\n") == 9788
    # The cohort report from either database is the same, byte for byte, apart from its generation time.
    for form in ("html", "json", "csv"):
        reports = [
            stampside("report", "cohort", "--db", where, "--format", form, "--as-of", "2026-11-25").stdout
            for where in (sqlite_url, moved)
        ]
        assert reports[0].count("\n") > 5
        assert without_generation_time(reports[0]) == without_generation_time(reports[1]), form
        assert form != "html" or "generated …" in without_generation_time(reports[0])
    # Records go on being added on PostgreSQL after the copy: its counters were moved past the copied ids.
    added = stampside("practitioner", "add", "Dr Moved", "--db", moved, "--no-pin")
    assert added.returncode == 0, added.stderr
    assert stampside("audit", "verify", "--db", moved).returncode == 0
