"""The clinic's PostgreSQL server restarts while a chair stamps: nothing is lost, nothing doubled.

A real cluster of this test's own (``scripts/postgres``; the suite's shared server must not go
away under the other tests) is stopped while ``stampside link record`` stores a simulator's
stamps and started again on the same port. While it is away the link keeps the device's stamps
unacknowledged (the device keeps them in its buffer) and ``link record`` says so in one line;
when it is back the recorder catches up and says that too. The export then equals the
simulator's truth log, each stamp once.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from stampside.app.storage.schema import StampEvent
from tests.devicelink.processes import STAMPSIDE, SimProcess, json_lines, stampside
from tests.postgres_server import own_cluster, run_script

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql]

KEYS = ("boot", "seq", "force", "contact_ms", "zone")


@pytest.fixture
def own_server() -> Iterator[tuple[str, Path]]:
    with own_cluster("restart") as server:
        yield server


def stored_count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(StampEvent)) or 0
    except (OperationalError, ProgrammingError):
        return -1  # not created yet, or the server is away
    finally:
        engine.dispose()


def wait_until(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_the_server_restarting_mid_stamping_loses_nothing(own_server: tuple[str, Path], tmp_path: Path) -> None:
    url, data = own_server
    link, truth = tmp_path / "stamp", tmp_path / "truth.jsonl"
    sim = SimProcess("--pty", str(link), "--stamps", "900", "--rate", "150", "--seed", "4", "--truth", str(truth),
                     "--no-state")  # fmt: skip
    recorder = subprocess.Popen(
        [STAMPSIDE, "link", "record", str(link), "--db", url, "--idle-exit", "2", "--status-every", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: stored_count(url) >= 100, 60, "the first stamps to be stored")
        stopped = run_script("stop", data)
        assert stopped.returncode == 0, stopped.stderr
        time.sleep(2.0)  # the server is away for two seconds of stamping (~300 stamps)
        restarted = run_script("up", data)
        assert restarted.returncode == 0, restarted.stderr
        assert restarted.stdout.strip().splitlines()[-1] == url, "the server came back on its port"
        _, said = recorder.communicate(timeout=120)
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait()
        sim_log = sim.stop()
    assert recorder.returncode == 0, said + sim_log
    away = [line for line in said.splitlines() if "database is away" in line]
    back = [line for line in said.splitlines() if "database is back" in line]
    assert len(away) == 1 and len(back) == 1, said
    assert "unacknowledged" in away[0], away

    exported = stampside("export", "--db", url, "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    stored = [tuple(row[k] for k in KEYS) for row in json_lines(exported.stdout)]
    expected = [tuple(row[k] for k in KEYS) for row in map(json.loads, truth.read_text().splitlines())]
    assert len(expected) == 900
    assert len(stored) == len(set(stored)), "a stamp was stored twice"
    assert sorted(stored) == sorted(expected)
