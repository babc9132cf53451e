"""Two processes over BLE: ``stampside sim --ble virtual --hci-serve tcp-server:…`` and
``stampside link record ble:NAME --hci tcp-client:…``; ``export`` equals the truth log.

The recorder's bleak runs on the bumble backend, through the HCI socket the simulator
serves, to the simulator's GATT server over bumble's emulated controllers. The link is cut
in the middle of a frame every 1.5 s and 2 % of the notifications are lost.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.devicelink.processes import SimProcess, json_lines, stampside

pytestmark = pytest.mark.e2e

KEYS = ("boot", "seq", "device_time_ms", "force", "contact_ms", "zone")


def test_sim_and_recorder_in_two_processes_store_every_stamp_exactly_once(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    sim = SimProcess(
        "--ble", "virtual", "--hci-serve", "tcp-server:127.0.0.1:0",
        "--stamps", "500", "--rate", "200", "--seed", "1", "--truth", str(truth),
        "--ble-drop-notify", "0.02", "--ble-cut-every", "1.5",
    )  # fmt: skip
    try:
        # "ble SS000001 DF:E4:EF:FE:35:D6 hci tcp-client:127.0.0.1:PORT"
        words = sim.ready_line.split()
        assert words[0] == "ble" and words[3] == "hci", sim.ready_line
        name, hci = words[1], words[4]
        scanned = stampside("link", "scan", "--hci", hci, "--timeout", "1", "--json")
        assert scanned.returncode == 0, scanned.stderr
        assert [s["name"] for s in json_lines(scanned.stdout)] == [name]
        db = f"sqlite:///{tmp_path / 'ble.db'}"
        recorded = stampside(
            "link", "record", f"ble:{name}", "--db", db, "--idle-exit", "2", "--link-timeout", "0.5",
            "--status-every", "1", env={**os.environ, "STAMPSIDE_BLE_HCI": hci}, timeout=120,
        )  # fmt: skip
        sim_log = sim.stop()
        assert recorded.returncode == 0, recorded.stderr + sim_log
        assert "in the middle of a frame" in sim_log
        exported = stampside("export", "--db", db, "--format", "jsonl")
        assert exported.returncode == 0, exported.stderr
        stored = [tuple(r[k] for k in KEYS) for r in json_lines(exported.stdout)]
        expected = [tuple(json.loads(line)[k] for k in KEYS) for line in truth.read_text().splitlines()]
        assert len(expected) == 500
        assert len(stored) == len(set(stored)), "a stamp was stored twice"
        assert sorted(stored) == sorted(expected)
        last_status = [line for line in recorded.stderr.splitlines() if "| reconnects " in line][-1]
        assert int(last_status.split("reconnects ")[1].split()[0]) >= 1, last_status
    finally:
        sim.stop()
