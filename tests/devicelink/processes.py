"""``stampside`` subprocesses for CLI and end-to-end tests: the simulator and the link commands."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

STAMPSIDE = str(Path(sys.executable).with_name("stampside"))


def stampside(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STAMPSIDE, *args], capture_output=True, text=True, timeout=timeout, env=env)


class SimProcess:
    """``stampside sim ...``, waited for by its ready line on stdout."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [STAMPSIDE, "sim", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().strip() if ready else ""
        if not line:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"the simulator did not start: {err}")
        #: "pty /dev/pts/5 -> /tmp/x/stamp" or "listen 127.0.0.1:40123"
        self.ready_line = line

    @property
    def socket_url(self) -> str:
        assert self.ready_line.startswith("listen ")
        return "socket://" + self.ready_line.split()[1]

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line parsed as JSON (fails the test on the first line that is not)."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise AssertionError(f"line {number} is not JSON: {line!r}") from exc
    return out
