"""A second simulator on the same database: nothing it counted is dropped as "already acknowledged".

Seen before the numbering epoch: a new simulator (same serial, numbering from 1 again) recorded
into a database that held the first one's 50 stamps stored none of its own — the host resumed
after its stored cursor and the device dropped its stamps 1–50 as acknowledged, while
``record`` said "everything stored and acknowledged". Now:

* a device that restarted its numbering (here ``--no-state``: a fresh device, as every simulator
  was before it kept a state file; ``--boot 1``: a wiped one) is stored apart, as the serial's
  next numbering, and ``record`` says so once;
* a simulator that continues its life (the state file) goes on in the same numbering.

Each run's truth log equals its part of the export, every stamp once. Over a pty and over TCP,
as subprocesses, as a QA script would run them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.devicelink.processes import SimProcess, json_lines, stampside

pytestmark = pytest.mark.e2e

KEYS = ("boot", "seq", "device_time_ms", "force", "contact_ms", "zone")


def truth(path: Path) -> list[tuple[Any, ...]]:
    return sorted(tuple(json.loads(line)[key] for key in KEYS) for line in path.read_text().splitlines())


def start_sim(how: str, tmp_path: Path, name: str, *extra: str) -> tuple[SimProcess, str]:
    link = ["--pty", str(tmp_path / "stamp")] if how == "pty" else ["--listen", "127.0.0.1:0"]
    sim = SimProcess(*link, "--stamps", "50", "--rate", "50", "--truth", str(tmp_path / f"{name}.jsonl"), *extra)
    return sim, (str(tmp_path / "stamp") if how == "pty" else sim.socket_url)


def record(url: str, db: str) -> str:
    """``link record`` until everything is stored and acknowledged; its stderr."""
    done = stampside("link", "record", url, "--db", db, "--idle-exit", "2", "--status-every", "0", timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr


def exported(db: str) -> list[dict[str, Any]]:
    result = stampside("export", "--db", db, "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    return json_lines(result.stdout)


def part(rows: list[dict[str, Any]], life: int) -> list[tuple[Any, ...]]:
    return sorted(tuple(row[key] for key in KEYS) for row in rows if row["life"] == life)


@pytest.mark.parametrize("how", ["pty", "tcp"])
def test_a_device_that_restarted_its_numbering_is_stored_apart_and_said_once(
    how: str, tmp_path: Path, db_url: str
) -> None:
    db = db_url  # a SQLite file, then a PostgreSQL database
    first, url = start_sim(how, tmp_path, "t1", "--seed", "1")
    try:
        said_first = record(url, db)
    finally:
        first.stop()
    second, url = start_sim(how, tmp_path, "t2", "--seed", "2", "--no-state")  # a fresh device, same serial
    try:
        said_second = record(url, db)
    finally:
        second.stop()
    rows = exported(db)
    assert len(rows) == 100, "the device counted 100 stamps over the two runs"
    assert part(rows, 1) == truth(tmp_path / "t1.jsonl")
    assert part(rows, 2) == truth(tmp_path / "t2.jsonl")
    assert len({(r["life"], r["boot"], r["seq"]) for r in rows}) == 100, "a stamp was stored twice"
    assert "restarted its numbering" not in said_first
    lines = [line for line in said_second.splitlines() if "restarted its numbering" in line]
    assert len(lines) == 1, said_second
    assert "numbering 2" in lines[0] and "none is dropped" in lines[0]
    events = stampside("link", "events", "--db", db, "--kind", "new-numbering", "--json")
    assert events.returncode == 0, events.stderr
    assert [e["kind"] for e in json_lines(events.stdout)] == ["new-numbering"]


def test_a_wiped_device_with_the_state_file_is_a_new_numbering_too(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    first, url = start_sim("pty", tmp_path, "t1", "--seed", "1")
    try:
        record(url, db)
    finally:
        first.stop()
    wiped, url = start_sim("pty", tmp_path, "t2", "--seed", "2", "--boot", "1")  # the boot counter wiped
    try:
        said = record(url, db)
    finally:
        wiped.stop()
    rows = exported(db)
    assert part(rows, 1) == truth(tmp_path / "t1.jsonl")
    assert part(rows, 2) == truth(tmp_path / "t2.jsonl")
    assert "restarted its numbering" in said
    epochs = {row["life"]: row["epoch"] for row in rows}
    assert epochs[1] != epochs[2] and None not in epochs.values()


def test_a_simulator_that_continues_its_life_stays_in_its_numbering(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    first, url = start_sim("pty", tmp_path, "t1", "--seed", "1")
    try:
        record(url, db)
    finally:
        first.stop()
    again, url = start_sim("pty", tmp_path, "t2", "--seed", "2")  # the state file: boot 2, seq 51 on
    try:
        said = record(url, db)
    finally:
        again.stop()
    rows = exported(db)
    assert part(rows, 1) == sorted(truth(tmp_path / "t1.jsonl") + truth(tmp_path / "t2.jsonl"))
    assert {row["boot"] for row in rows} == {1, 2} and len(rows) == 100
    assert "restarted its numbering" not in said
