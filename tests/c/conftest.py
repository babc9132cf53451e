"""Shared by the C reference implementation's tests: building firmware_protocol/c/ with ``make``.

The build goes into a folder of this run's own (parallel workers do not share ``build/``), once
per test process (the ``build`` fixture is session-wide). Tests that need it are skipped without
a C compiler and make (scripts/ensure_system_tools.sh installs them from Debian's packages).

The cross-implementation tests (test_cross_implementation.py) also leave their figures (stamps,
drops, bad frames, reboots) on their reports; they are printed at the end of the run, so a CI log
shows them for passing tests too (with pytest-xdist as well: user properties travel with reports).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
C_DIR = ROOT / "firmware_protocol" / "c"
#: The user property a test's figures are recorded under (``record_property``).
FIGURES_PROPERTY = "cross-implementation figures"

needs_c_toolchain = pytest.mark.skipif(
    shutil.which("make") is None or shutil.which("cc") is None,
    reason="no C compiler or make (scripts/ensure_system_tools.sh installs gcc, make and libc6-dev)",
)


@dataclass(frozen=True)
class Build:
    folder: Path
    output: str

    @property
    def stampdev(self) -> Path:
        return self.folder / "stampdev"

    @property
    def stampscript(self) -> Path:
        return self.folder / "stampscript"


def make(*args: str) -> subprocess.CompletedProcess[str]:
    """``make -C firmware_protocol/c ARGS`` (its output captured)."""
    return subprocess.run(["make", "-C", str(C_DIR), *args], capture_output=True, text=True, timeout=600, check=False)


def build_into(folder: Path) -> Build:
    """Build the library, stampdev and stampscript into ``folder`` (fails with make's output)."""
    result = make(f"BUILD={folder}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return Build(folder, output)


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return build_into(tmp_path_factory.mktemp("c-build"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = [
        f"{report.nodeid}\n    {value}"
        for report in terminalreporter.stats.get("passed", [])
        for name, value in getattr(report, "user_properties", [])
        if name == FIGURES_PROPERTY
    ]
    if lines:
        terminalreporter.section("cross-implementation figures (stampdev -> link record -> export)")
        for line in lines:
            terminalreporter.write_line(line)
