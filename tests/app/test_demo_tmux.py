"""`stampside demo` in a real terminal (tmux), driven with send-keys and read with capture-pane."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed (scripts/ensure_system_tools.sh installs it)"
    ),
]


def _smoke_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("tmux_smoke", ROOT / "scripts" / "tmux_smoke.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_runs_a_stamping_session_in_a_real_terminal(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'smoke.db'}"
    _smoke_module().run(db)
    exported = subprocess.run(
        [sys.executable, "-m", "app.cli", "export", "--db", db, "--format", "jsonl"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [json.loads(line) for line in exported.splitlines()]
    assert rows, "the session stored no stamps"
    assert {row["patient"] for row in rows} == {"SMOKE-1"}
    assert len({(row["boot"], row["seq"]) for row in rows}) == len(rows)
