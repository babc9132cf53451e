"""End to end: ``stampside sim`` with drops, noise and reboots; ``link record``; ``export`` == truth.

Both run as subprocesses over a real pty and over TCP, as a QA script would run them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.devicelink.processes import SimProcess, json_lines, stampside

pytestmark = pytest.mark.e2e

KEYS = ("boot", "seq", "device_time_ms", "force", "contact_ms", "zone")
# Drops outlast the recorder's 0.5 s link timeout, so the link is really lost and found again.
FAULTS = ("--corrupt", "0.01", "--reboot-every", "400", "--drop-every", "2.0", "--drop-for", "0.8")


def rows(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(record[key] for key in KEYS) for record in records]


def record_and_compare(url: str, sim: SimProcess, truth: Path, db: str) -> None:
    recorded = stampside(
        "link",
        "record",
        url,
        "--db",
        db,
        "--idle-exit",
        "2",
        "--link-timeout",
        "0.5",
        "--status-every",
        "1",
        timeout=120,
    )
    sim_log = sim.stop()
    assert recorded.returncode == 0, recorded.stderr + sim_log
    exported = stampside("export", "--db", db, "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    stored = json_lines(exported.stdout)
    expected = [json.loads(line) for line in truth.read_text().splitlines()]
    assert len(expected) == 1000
    got = rows(stored)
    assert len(got) == len(set(got)), "a stamp was stored twice"
    assert len({(r["boot"], r["seq"]) for r in stored}) == len(stored)
    assert sorted(got) == sorted(rows(expected))
    assert {r["boot"] for r in stored} == {1, 2, 3}  # two reboots
    assert all(r["device_serial"] == "SS-000001" for r in stored)
    assert [r["seq"] for r in stored] == sorted(r["seq"] for r in stored)
    last_status = [line for line in recorded.stderr.splitlines() if "| reconnects " in line][-1]
    reconnects = int(last_status.split("reconnects ")[1].split()[0])
    assert reconnects >= 2, last_status  # the drops and the reboots were lived through


def test_exactly_once_over_a_pty_through_drops_noise_and_reboots(tmp_path: Path, db_url: str) -> None:
    """On SQLite and on PostgreSQL (``db_url``): the store's transactions, not the transport, differ."""
    link, truth = tmp_path / "stamp", tmp_path / "truth.jsonl"
    sim = SimProcess(
        "--pty", str(link), "--stamps", "1000", "--rate", "500", "--seed", "1", "--truth", str(truth), *FAULTS
    )
    try:
        record_and_compare(str(link), sim, truth, db_url)
    finally:
        sim.stop()


@pytest.mark.parametrize("drop_mode", ["silent", "close"])
def test_exactly_once_over_tcp_through_drops_noise_and_reboots(tmp_path: Path, drop_mode: str) -> None:
    truth = tmp_path / "truth.jsonl"
    sim = SimProcess(
        "--listen",
        "127.0.0.1:0",
        "--stamps",
        "1000",
        "--rate",
        "500",
        "--seed",
        "1",
        "--truth",
        str(truth),
        *FAULTS,
        "--drop-mode",
        drop_mode,
    )
    try:
        record_and_compare(sim.socket_url, sim, truth, f"sqlite:///{tmp_path / 'record.db'}")
    finally:
        sim.stop()


@pytest.mark.soak
def test_soak_twenty_thousand_stamps_through_a_noisy_flaky_pty(tmp_path: Path) -> None:
    """The short runs above, twenty times longer, with more reboots (STAMPSIDE_SOAK=1)."""
    link, truth = tmp_path / "stamp", tmp_path / "truth.jsonl"
    sim = SimProcess(
        "--pty", str(link), "--stamps", "20000", "--rate", "1000", "--seed", "5", "--truth", str(truth),
        "--corrupt", "0.01", "--reboot-every", "3000", "--drop-every", "2.0", "--drop-for", "0.8",
    )  # fmt: skip
    try:
        db = f"sqlite:///{tmp_path / 'soak.db'}"
        recorded = stampside("link", "record", str(link), "--db", db, "--idle-exit", "3", "--link-timeout", "0.5",
                             timeout=900)  # fmt: skip
        sim.stop()
        assert recorded.returncode == 0, recorded.stderr
        stored = json_lines(stampside("export", "--db", db, "--format", "jsonl").stdout)
        expected = [json.loads(line) for line in truth.read_text().splitlines()]
        assert len(expected) == 20000
        assert sorted(rows(stored)) == sorted(rows(expected))
    finally:
        sim.stop()


def test_a_recorder_killed_mid_flood_loses_nothing_and_stores_nothing_twice(tmp_path: Path, db_url: str) -> None:
    """SIGKILL `link record` while stamps pour in, start it again: export == truth (both databases)."""
    import signal
    import subprocess
    import time

    from tests.devicelink.processes import STAMPSIDE

    link, truth = tmp_path / "stamp", tmp_path / "truth.jsonl"
    db = db_url
    sim = SimProcess("--pty", str(link), "--stamps", "3000", "--rate", "400", "--seed", "9", "--truth", str(truth))
    try:
        first = subprocess.Popen(
            [STAMPSIDE, "link", "record", str(link), "--db", db],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Let it store part of the flood, then kill it without any chance to clean up.
        deadline = time.monotonic() + 30
        before_kill = 0
        while time.monotonic() < deadline and before_kill < 500:
            time.sleep(0.25)
            stored = stampside("export", "--db", db, "--format", "jsonl")
            before_kill = stored.stdout.count("\n") if stored.returncode == 0 else 0
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert 500 <= before_kill < 3000, "the recorder was not killed in the middle of the flood"
        second = stampside("link", "record", str(link), "--db", db, "--idle-exit", "2", timeout=120)
        assert second.returncode == 0, second.stderr
        sim.stop()
        rows_stored = rows(json_lines(stampside("export", "--db", db, "--format", "jsonl").stdout))
        expected = rows([json.loads(line) for line in truth.read_text().splitlines()])
        assert len(expected) == 3000
        assert len(rows_stored) == len(set(rows_stored)), "a stamp was stored twice"
        assert sorted(rows_stored) == sorted(expected)
    finally:
        sim.stop()
