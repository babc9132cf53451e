"""`stampside demo --ble`: the simulator in its own process as a BLE peripheral on the virtual
link, the monitor (or the app) reaching it through bleak on bumble; every stamp shown is stored once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

STAMPSIDE = [sys.executable, "-m", "stampside.app.cli"]


def test_demo_over_ble_shows_the_link_and_stores_every_stamp_it_shows(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    run = subprocess.run(
        [
            *STAMPSIDE,
            "demo",
            "--ble",
            "--monitor",
            "--db",
            db,
            "--json",
            "--duration",
            "3",
            "--rate",
            "20",
            "--seed",
            "3",
            # BLE faults pass through to the simulator: the first connection is refused (the
            # transport's retry gets in), and a few notifications are lost (the session resyncs).
            "--ble-refuse",
            "1",
            "--ble-drop-notify",
            "0.02",
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    shown = {(r["fields"]["boot"], r["fields"]["seq"]) for r in lines if r.get("type") == "STAMP"}
    assert len(shown) >= 20
    assert any(r.get("type") == "ACK" for r in lines)
    exported = subprocess.run(
        [*STAMPSIDE, "export", "--db", db, "--format", "jsonl"], capture_output=True, text=True, check=True
    ).stdout
    stored = [json.loads(line) for line in exported.splitlines()]
    assert {(r["boot"], r["seq"]) for r in stored} >= shown
    assert len(stored) == len({(r["boot"], r["seq"]) for r in stored}), "no stamp stored twice"


def test_demo_over_ble_reports_a_bad_ble_flag_in_one_line(tmp_path: Path) -> None:
    run = subprocess.run(
        [*STAMPSIDE, "demo", "--ble", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--ble-mtu", "22"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "--ble-mtu" in run.stderr


def test_demo_help_documents_ble() -> None:
    run = subprocess.run([*STAMPSIDE, "demo", "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0
    assert "--ble" in run.stdout and "virtual" in run.stdout


def test_app_help_documents_ble_urls_and_hci() -> None:
    run = subprocess.run([*STAMPSIDE, "app", "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0
    assert "ble:NAME" in run.stdout and "--hci" in run.stdout and "STAMPSIDE_BLE_HCI" in run.stdout
