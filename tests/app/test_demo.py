"""`stampside demo`: the simulator in its own process and the live monitor, storing stamps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

STAMPSIDE = [sys.executable, "-m", "stampside.app.cli"]


def test_demo_shows_the_link_and_stores_every_stamp_it_shows(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    run = subprocess.run(
        [*STAMPSIDE, "demo", "--monitor", "--db", db, "--json", "--duration", "3", "--rate", "20", "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    shown = {(r["fields"]["boot"], r["fields"]["seq"]) for r in lines if r.get("type") == "STAMP"}
    assert len(shown) >= 20
    assert any(r.get("type") == "ACK" for r in lines)
    exported = subprocess.run(
        [*STAMPSIDE, "export", "--db", db, "--format", "jsonl"], capture_output=True, text=True, check=True
    ).stdout
    stored = [json.loads(line) for line in exported.splitlines()]
    assert {(r["boot"], r["seq"]) for r in stored} >= shown
    assert len(stored) == len({(r["boot"], r["seq"]) for r in stored})


def test_demo_passes_simulator_flags_through_and_reports_bad_ones(tmp_path: Path) -> None:
    run = subprocess.run(
        [*STAMPSIDE, "demo", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--needle-um", "lots"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "--needle-um" in run.stderr


def test_demo_help_explains_itself() -> None:
    run = subprocess.run([*STAMPSIDE, "demo", "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0
    assert "simulated stamp" in run.stdout
    assert "--monitor" in run.stdout
