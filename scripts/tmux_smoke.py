"""Real-terminal smoke run of `stampside demo` in tmux, as a practitioner would drive it.

Usage: python scripts/tmux_smoke.py [--db sqlite:///FILE]

It starts the demo in a detached 100×30 tmux session, adds a practitioner and a patient,
starts a session, waits for the simulated stamps to be counted, switches zone, finishes
stamping and quits, reading the screen with `capture-pane` at every step. Each step waits
for what the screen should show (generous timeouts), never a fixed time; the demo's exit
code is checked too. Exit code 0 when every screen showed what it should; otherwise it
prints the last screen and exits 1. The test suite runs it when tmux is installed.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

#: Printed by the tmux pane's shell when the demo exits, with its exit code.
EXIT_MARK = "stampside-smoke-exit="
#: The stamping screen's rate line, e.g. "12 /min  ·  00:04 elapsed": stamps are being counted.
STAMPS_COUNTED = re.compile(r"\b[1-9]\d* /min")


class Smoke:
    """One detached tmux session; every step waits for what the screen should show, never a fixed time.

    It runs on a tmux server of its own (socket ``-L name``, no configuration file), so neither
    another tmux server's global environment nor a user's ~/.tmux.conf changes what it sees.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def tmux(self, *args: str) -> str:
        argv = ["tmux", "-L", self.name, "-f", "/dev/null", *args]
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.name, "kill-server"], capture_output=True)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-t", self.name, "-p")

    def keys(self, *keys: str) -> None:
        """Press keys (tmux key names: Enter, C-d, ...); the caller then waits for their effect."""
        self.tmux("send-keys", "-t", self.name, *keys)

    def type(self, text: str) -> None:
        """Type ``text`` literally and wait until it shows (it is in the input, not still in flight)."""
        self.tmux("send-keys", "-t", self.name, "-l", text)
        self.wait_for(text)

    def wait_until(self, check: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
        """Poll the screen until ``check(screen)``; AssertionError with the last screen after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if EXIT_MARK in screen or time.monotonic() > deadline:
                size = self.tmux("display-message", "-p", "-t", self.name, "#{pane_width}x#{pane_height}").strip()
                raise AssertionError(f"{what} did not appear on the {size} screen:\n{screen}")
            time.sleep(0.1)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        return self.wait_until(lambda screen: text in screen, repr(text), timeout)

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait until the demo has exited; its exit code."""
        deadline = time.monotonic() + timeout
        while (match := re.search(re.escape(EXIT_MARK) + r"(\d+)", screen := self.screen())) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the demo did not exit:\n{screen}")
            time.sleep(0.1)
        return int(match.group(1))


def run(db: str) -> None:
    exe = shutil.which("stampside") or str(Path(sys.executable).parent / "stampside")
    smoke = Smoke(f"stampside-smoke-{uuid.uuid4().hex[:8]}")
    # The pane stays after the demo exits, showing its exit code, until the server is killed.
    # COLUMNS/LINES from the caller would override the pane's real size (shutil.get_terminal_size).
    demo = f"env -u COLUMNS -u LINES {shlex.quote(exe)} demo --db {shlex.quote(db)} --rate 10 --seed 1"
    command = f"{demo}; echo {EXIT_MARK}$?; sleep 600"
    smoke.tmux("new-session", "-d", "-s", smoke.name, "-x", "100", "-y", "30", command)
    try:
        smoke.wait_for("Practitioner", 60)
        smoke.keys("a")
        smoke.wait_for("New practitioner")
        smoke.type("Smoke Tester")
        smoke.keys("Enter")
        smoke.wait_until(lambda s: "Smoke Tester" in s and "New practitioner" not in s, "the practitioner")
        smoke.keys("n")
        smoke.wait_for("Pseudonymous code")
        smoke.type("SMOKE-1")
        smoke.keys("Enter")
        smoke.wait_for("Session 1 of 6")
        smoke.keys("s")
        smoke.wait_for("connected")
        smoke.wait_until(STAMPS_COUNTED.search, "a stamp rate above zero (stamps counted)")
        smoke.keys("v")
        smoke.wait_for("Active zone: Vertex")
        smoke.keys("C-d")
        smoke.wait_for("Finish")
        smoke.keys("y")
        smoke.wait_for("Session 2 of 6")
        smoke.keys("q")
        code = smoke.wait_exit()
        if code != 0:
            raise AssertionError(f"the demo exited with code {code}:\n{smoke.screen()}")
    finally:
        smoke.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is not installed (apt-get install tmux)")
    with tempfile.TemporaryDirectory(prefix="stampside-smoke-") as tmp:
        try:
            run(args.db or f"sqlite:///{tmp}/smoke.db")
        except AssertionError as exc:
            print(exc)
            raise SystemExit(1) from None
    print("tmux smoke run: OK")


if __name__ == "__main__":
    main()
