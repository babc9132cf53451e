"""``kill -9`` of ``stampside link record``, twenty times, the first while it creates the database.

A simulated stamp (``stampside sim`` on a pty, with its truth log) stamps through all of it.
``link record`` is started on a brand-new database file and SIGKILLed at twenty seeded
moments, started again after each:

* the first kills land while the new database is being created: the moment the recorder
  has the file open (seen in ``/proc/PID/fd``), then 30 to 90 ms after it; its first
  migration takes 0.1 to 0.2 s from there on this machine, and its DDL starts some 40 ms
  in. Such a kill leaves the file existing but not at the newest revision; the test counts
  those and needs at least one (the first, at 0 ms, always is). Before migrations were
  atomic, a kill after the first ``CREATE TABLE`` left tables without a version row and
  every later start failed with "table devices already exists";
* the rest land, in turn, at a random moment after the start (from the process's start-up
  to well into recording: before the database is open, during the handshake and resume)
  and at a random moment after that run stored its first stamp (between and inside
  commits, during the replay of what the device buffered meanwhile).

Then a last ``link record --idle-exit 3`` runs to completion, and ``stampside export`` must
hold every stamp of the truth log exactly once (boot, seq, device time, force, contact time
and zone); the simulator's own count must equal what was stored, with nothing left in its
buffer; ``PRAGMA integrity_check`` must say ok.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from stampside.app.storage.migrate import head_revision
from tests.devicelink.processes import STAMPSIDE, SimProcess, json_lines, stampside

pytestmark = pytest.mark.e2e

KEYS = ("boot", "seq", "device_time_ms", "force", "contact_ms", "zone")
KILLS = 20
#: The first kills aim at the first migration of the brand-new database.
MIGRATION_KILLS = 4
SEED = 20261204
#: About 30 s of stamping, to span the kills; fewer than the device's 4096-stamp buffer,
#: so nothing is refused however long the recorder is down.
STAMPS, RATE = 3600, 120


@dataclass
class Run:
    """One ``link record`` that was killed, and what the database looked like right after."""

    number: int
    aim: str
    delay: float
    db_was_open: bool
    exists: bool
    revision: str | None
    stored: int


def start_recorder(link: Path, db: str, log: IO[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [STAMPSIDE, "link", "record", str(link), "--db", db, "--link-timeout", "0.5", "--status-every", "1"],
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )


def has_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (Linux: its ``/proc/PID/fd`` links)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                return True
        except OSError:
            continue
    return False


def wait_until_open(proc: subprocess.Popen[str], path: Path, log: Path) -> None:
    deadline = time.monotonic() + 60
    while not has_open(proc.pid, path):
        assert proc.poll() is None, f"link record ended before opening the database:\n{log.read_text()}"
        assert time.monotonic() < deadline, "link record never opened the database"
        time.sleep(0.0005)


def stored_count(path: Path) -> int:
    """Stamps stored so far, read beside the running recorder (WAL: readers do not block it)."""
    if not path.exists():
        return 0
    with closing(sqlite3.connect(path, timeout=5)) as connection:
        try:
            return int(connection.execute("SELECT count(*) FROM stamp_events").fetchone()[0])
        except sqlite3.OperationalError as exc:  # not created yet: this run is still migrating
            if "no such table" not in str(exc):
                raise
            return 0


def wait_until_stored(proc: subprocess.Popen[str], path: Path, before: int, log: Path) -> None:
    """Until this run has stored a stamp (or every stamp is stored: the device is done)."""
    deadline = time.monotonic() + 60
    while (count := stored_count(path)) <= before and count < STAMPS:
        assert proc.poll() is None, f"link record ended on its own:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"link record stored nothing in 60 s:\n{log.read_text()}"
        time.sleep(0.02)


def look(path: Path, into: Path) -> tuple[bool, str | None, int]:
    """(exists, revision, stored stamps) of the database, read from a copy with its WAL.

    A copy, so that reading does not recover or checkpoint the file the next run opens
    exactly as the killed one left it.
    """
    if not path.exists():
        return False, None, 0
    into.mkdir(parents=True)
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            shutil.copyfile(f"{path}{suffix}", into / f"{path.name}{suffix}")
    with closing(sqlite3.connect(into / path.name)) as connection:
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        revision = None
        if "alembic_version" in tables:
            rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
            revision = rows[0][0] if rows else None
        stored = connection.execute("SELECT count(*) FROM stamp_events").fetchone()[0] if revision else 0
    return True, revision, int(stored)


def rows(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(record[key] for key in KEYS) for record in records]


def test_record_killed_twenty_times_from_the_first_migration_on_stores_every_stamp_once(tmp_path: Path) -> None:
    link, truth, path = tmp_path / "stamp", tmp_path / "truth.jsonl", tmp_path / "record.db"
    db = f"sqlite:///{path}"
    head = head_revision()
    rng = random.Random(SEED)
    runs: list[Run] = []
    sim = SimProcess(
        "--pty", str(link), "--stamps", str(STAMPS), "--rate", str(RATE), "--seed", "11", "--truth", str(truth)
    )
    try:
        for number in range(KILLS):
            log_path = tmp_path / f"record-{number}.log"
            with log_path.open("w") as log:
                proc = start_recorder(link, db, log)
                try:
                    if number < MIGRATION_KILLS:
                        aim, delay = "migration", 0.0 if number == 0 else rng.uniform(0.03, 0.09)
                        wait_until_open(proc, path, log_path)
                    elif number % 2 == 0:
                        aim, delay = "recording", rng.uniform(0.0, 0.4)
                        wait_until_stored(proc, path, runs[-1].stored, log_path)
                    else:
                        aim, delay = "anywhere", rng.uniform(0.3, 2.5)
                    time.sleep(delay)
                    assert proc.poll() is None, f"run {number}: link record ended on its own:\n{log_path.read_text()}"
                    db_was_open = has_open(proc.pid, path)
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(10)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait(10)
            exists, revision, stored = look(path, tmp_path / f"look-{number}")
            runs.append(Run(number, aim, delay, db_was_open, exists, revision, stored))

        during_migration = [r for r in runs if r.exists and r.revision != head]
        stored_before = [0, *(r.stored for r in runs)]
        recording = [r for r in runs if r.stored > stored_before[r.number]]
        summary = (
            f"{len(during_migration)} of {KILLS} kills landed during the first migration "
            f"(runs {[r.number for r in during_migration]}), "
            f"{sum(not r.db_was_open for r in runs)} before the database was open, "
            f"{len(recording)} after the run had stored stamps; stored after each kill: {[r.stored for r in runs]}"
        )
        print(summary)
        assert during_migration, f"no kill hit the migration of the new database: {summary}"
        assert recording, f"no kill while recording: {summary}"

        final = stampside(
            "link", "record", str(link), "--db", db, "--idle-exit", "3", "--link-timeout", "0.5", timeout=120
        )
        sim_log = sim.stop()
        assert final.returncode == 0, final.stderr + sim_log

        with closing(sqlite3.connect(path)) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]
        exported = stampside("export", "--db", db, "--format", "jsonl")
        assert exported.returncode == 0, exported.stderr
        stored_rows = rows(json_lines(exported.stdout))
        expected = rows([json.loads(line) for line in truth.read_text().splitlines()])

        # What the device counted: its truth log, and its own counters when it stopped.
        assert len(expected) == STAMPS
        status = re.findall(r"stopped: .*?\bstamps (\d+) buffered (\d+)", sim_log)
        assert status, f"no final status line from the simulator:\n{sim_log}"
        counted, buffered = map(int, status[-1])
        assert (counted, buffered) == (STAMPS, 0), status[-1]

        duplicates = [key for key, n in Counter(stored_rows).items() if n > 1]
        assert not duplicates, f"{len(duplicates)} stamps stored twice, e.g. {duplicates[:3]}"
        missing = sorted(set(expected) - set(stored_rows))
        extra = sorted(set(stored_rows) - set(expected))
        assert not missing and not extra, f"{len(missing)} missing (e.g. {missing[:3]}), {len(extra)} not counted"
        assert len(stored_rows) == counted
    finally:
        sim.stop()
