"""Real-terminal smoke run of `stampside demo` in tmux, as a practitioner would drive it.

Usage: python scripts/tmux_smoke.py [--db sqlite:///FILE] [--keep]

It starts the demo in a detached 100×30 tmux session, adds a practitioner and a patient,
starts a session, lets the simulated stamp count, finishes stamping and quits, reading the
screen with `capture-pane` at every step. Exit code 0 when every screen showed what it
should; otherwise it prints the last screen and exits 1. The test suite runs it when tmux
is installed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path


class Smoke:
    def __init__(self, name: str) -> None:
        self.name = name

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-t", self.name, "-p")

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", self.name, key)
            time.sleep(0.15)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.name, "-l", text)
        time.sleep(0.3)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not appear on the screen:\n{screen}")
            time.sleep(0.2)


def run(db: str) -> None:
    exe = shutil.which("stampside") or str(Path(sys.executable).parent / "stampside")
    smoke = Smoke(f"stampside-smoke-{uuid.uuid4().hex[:8]}")
    command = f"{exe} demo --db {db} --rate 10 --seed 1; sleep 2"
    smoke.tmux("new-session", "-d", "-s", smoke.name, "-x", "100", "-y", "30", command)
    try:
        smoke.wait_for("Practitioner", 30)
        smoke.keys("a")
        smoke.wait_for("Name")
        smoke.type("Smoke Tester")
        smoke.keys("Enter")
        smoke.wait_for("Smoke Tester")
        smoke.keys("n")
        smoke.wait_for("Pseudonymous code")
        smoke.type("SMOKE-1")
        smoke.keys("Enter")
        smoke.wait_for("Session 1 of 6")
        smoke.keys("s")
        smoke.wait_for("connected")
        smoke.wait_for("Stamps")
        time.sleep(3)
        smoke.keys("v")
        time.sleep(1)
        smoke.keys("C-d")
        smoke.wait_for("Finish")
        smoke.keys("y")
        smoke.wait_for("Session 2 of 6")
        smoke.keys("q")
        deadline = time.monotonic() + 10
        while "Practitioner" in smoke.screen() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", smoke.name], capture_output=True)


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
