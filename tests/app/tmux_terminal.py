"""What the real-terminal tests share: scripts/tmux_smoke.py's terminal driver, and tmux present."""

from __future__ import annotations

import importlib.util
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Skips a test where tmux is missing (scripts/ensure_system_tools.sh installs it).
needs_tmux = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed (scripts/ensure_system_tools.sh installs it)"
)


def smoke_module() -> Any:
    """scripts/tmux_smoke.py as a module: its ``Smoke`` terminal, protocol and photo helpers."""
    spec = importlib.util.spec_from_file_location("tmux_smoke", ROOT / "scripts" / "tmux_smoke.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_pane_dead(term: Any, timeout: float) -> None:
    """Until the process in ``term``'s pane has exited (the pane stays: ``remain-on-exit``)."""
    deadline = time.monotonic() + timeout
    while term.tmux("display-message", "-p", "-t", term.name, "#{pane_dead}").strip() != "1":
        assert time.monotonic() < deadline, "the app in the terminal did not exit"
        time.sleep(0.1)
