"""Two chairs, one PostgreSQL database: two simulators (different serials) recorded at the same
time by two ``stampside link record`` processes, with drops, noise and reboots, as a QA script
would run them against ``url=$(./scripts/postgres up | tail -1)``.

Each device's stamps are stored exactly once, equal to its own truth log, and ``stampside
export`` (all devices, and one device at a time) agrees with both logs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.devicelink.processes import STAMPSIDE, SimProcess, json_lines, stampside

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql]

KEYS = ("boot", "seq", "device_time_ms", "force", "contact_ms", "zone")
SERIALS = ("SS-000101", "SS-000202")
STAMPS = 700
FAULTS = ("--corrupt", "0.01", "--reboot-every", "300", "--drop-every", "1.5", "--drop-for", "0.8")


def rows(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(tuple(record[key] for key in KEYS) for record in records)


def test_two_simulators_recorded_at_once_into_one_database_are_each_stored_once(
    postgres_url: str, tmp_path: Path
) -> None:
    sims: list[SimProcess] = []
    recorders: list[subprocess.Popen[str]] = []
    try:
        for number, serial in enumerate(SERIALS):
            link, truth = tmp_path / f"stamp-{number}", tmp_path / f"truth-{serial}.jsonl"
            sims.append(
                SimProcess("--pty", str(link), "--serial", serial, "--stamps", str(STAMPS), "--rate", "250",
                           "--seed", str(11 + number), "--truth", str(truth), "--no-state", *FAULTS)
            )  # fmt: skip
        for number in range(len(SERIALS)):
            command = [STAMPSIDE, "link", "record", str(tmp_path / f"stamp-{number}"), "--db", postgres_url,
                       "--idle-exit", "2", "--link-timeout", "0.5", "--status-every", "1"]  # fmt: skip
            recorders.append(subprocess.Popen(command, stderr=subprocess.PIPE, text=True))
        said = [recorder.communicate(timeout=180)[1] for recorder in recorders]
    finally:
        for recorder in recorders:
            if recorder.poll() is None:
                recorder.kill()
                recorder.wait()
        logs = [sim.stop() for sim in sims]
    for recorder, words, log in zip(recorders, said, logs, strict=True):
        assert recorder.returncode == 0, words + log
        last_status = [line for line in words.splitlines() if "| reconnects " in line][-1]
        reconnects = int(last_status.split("reconnects ")[1].split()[0])
        assert reconnects >= 2, "the drops and reboots were lived through"

    exported = stampside("export", "--db", postgres_url, "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    everything = json_lines(exported.stdout)
    assert len(everything) == len(SERIALS) * STAMPS
    for serial in SERIALS:
        truth = [json.loads(line) for line in (tmp_path / f"truth-{serial}.jsonl").read_text().splitlines()]
        assert len(truth) == STAMPS
        mine = [row for row in everything if row["device_serial"] == serial]
        assert rows(mine) == rows(truth), f"{serial}: stored != its truth log"
        assert len({(r["boot"], r["seq"]) for r in mine}) == STAMPS, f"{serial}: a stamp stored twice"
        assert {r["boot"] for r in mine} == {1, 2, 3}, f"{serial}: two reboots"
        alone = stampside("export", "--db", postgres_url, "--device", serial)
        assert alone.returncode == 0, alone.stderr
        assert rows(json_lines(alone.stdout)) == rows(truth)
