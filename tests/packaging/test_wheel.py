"""The wheel, as a clinic installs it: one import name, no BLE stack unless asked for, the docs inside.

Issue 11 ("Packaging"). The project is built into a wheel from a copy of the checkout (so the
build cannot lean on the working tree) and installed with pip into a fresh virtual
environment *without extras*, its dependencies from the package index as a clinic would get
them. Then, as subprocesses of that environment only:

* site-packages gains ``stampside`` and no generic name (``app``, ``simulator``, …);
* ``stampside --help``, ``demo-data``, ``report cohort`` and ``docs`` work;
* ``link record`` over a serial pty stores a simulated stamp's stamps exactly once
  (compared with the simulator's truth log);
* BLE, whose stack is the ``ble`` extra, is one line naming ``stampside[ble]`` and exit 2, for
  ``link record ble:X``, ``link scan`` and ``sim --ble``; so is a PostgreSQL URL without the
  ``postgres`` extra.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.devicelink.processes import json_lines

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
#: What a build needs of the checkout; the rest (.venv, .git, caches, databases) stays behind.
LEFT_BEHIND = shutil.ignore_patterns(
    ".venv", ".git", "*.egg-info", "build", "dist", "__pycache__", ".*_cache", ".hypothesis", "var", "*.db", "tests",
    "bench",
)
GENERIC_NAMES = ("app", "devicelink", "firmware_protocol", "simulator", "docs")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path

    @property
    def stampside(self) -> str:
        return str(self.venv / "bin" / "stampside")

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.stampside, *args], capture_output=True, text=True, timeout=timeout, env=self.env)

    @property
    def env(self) -> dict[str, str]:
        # Nothing of the test's own environment leaks in: no PYTHONPATH to the checkout.
        return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def site_packages(self) -> Path:
        found = list((self.venv / "lib").glob("python3*/site-packages"))
        assert len(found) == 1, found
        return found[0]


def pip(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=LEFT_BEHIND)
    pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(base / "dist"), str(source))
    (wheel,) = (base / "dist").glob("stampside-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # The test environment's pip installs into the fresh one (no pip of its own needed there).
    pip("--python", str(venv / "bin" / "python"), "install", "--quiet", str(wheel))
    yield Installed(wheel, venv)


def test_the_wheel_holds_one_import_name_and_the_docs(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"stampside", next(t for t in tops if t.endswith(".dist-info"))}, tops
    for wanted in (
        "stampside/docs/protocol.md",
        "stampside/docs/link.md",
        "stampside/firmware_protocol/vectors.json",
        "stampside/app/storage/alembic.ini",
        "stampside/app/tui/styles/app.tcss",
        "stampside/app/reports/templates/course.html.j2",
        "stampside/simulator/scenarios/normal_session.toml",
    ):
        assert wanted in names, wanted
    assert not any("/tests/" in name or name.endswith(".db") for name in names)


def test_site_packages_gains_stampside_and_no_generic_name_nor_the_ble_stack(installed: Installed) -> None:
    present = {path.name for path in installed.site_packages().iterdir()}
    assert "stampside" in present
    assert present.isdisjoint(GENERIC_NAMES), present & set(GENERIC_NAMES)
    assert present.isdisjoint({"bleak", "bumble", "bleak_retry_connector"}), "the BLE stack is the 'ble' extra"
    probe = f"import importlib.util as u; print([n for n in {GENERIC_NAMES!r} if u.find_spec(n)])"
    done = subprocess.run([installed.python, "-c", probe], capture_output=True, text=True, cwd="/", env=installed.env)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_help_demo_data_reports_and_docs_run_without_extras(installed: Installed, tmp_path: Path) -> None:
    helped = installed.run("--help")
    assert helped.returncode == 0 and "stampside docs" in helped.stdout, helped.stderr
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    filled = installed.run("demo-data", "--db", db)
    assert filled.returncode == 0, filled.stderr
    report = tmp_path / "cohort.html"
    made = installed.run("report", "cohort", "--db", db, "--out", str(report))
    assert made.returncode == 0, made.stderr
    assert "DEMO-00" in report.read_text()
    verified = installed.run("audit", "verify", "--db", db)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    listed = installed.run("docs")
    assert listed.returncode == 0 and "protocol" in listed.stdout, listed.stderr
    page = installed.run("docs", "protocol")
    assert page.returncode == 0 and page.stdout.startswith("# Stampside wire protocol"), page.stderr
    pdf = installed.run("report", "cohort", "--db", db, "--format", "pdf", "--out", str(tmp_path / "c.pdf"))
    assert pdf.returncode == 2 and "pip install 'stampside[pdf]'" in pdf.stderr, pdf.stdout + pdf.stderr


def test_link_record_over_serial_stores_every_stamp_once(installed: Installed, tmp_path: Path) -> None:
    link, truth = tmp_path / "stamp", tmp_path / "truth.jsonl"
    sim = subprocess.Popen(
        [installed.stampside, "sim", "--pty", str(link), "--stamps", "300", "--rate", "300", "--seed", "4",
         "--truth", str(truth), "--no-state", "--quiet", "--drop-every", "0.4", "--drop-for", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=installed.env,
    )
    try:
        assert sim.stdout is not None
        ready = sim.stdout.readline()
        assert ready.startswith("pty "), ready + (sim.stderr.read() if sim.stderr else "")
        db = f"sqlite:///{tmp_path / 'record.db'}"
        recorded = installed.run("link", "record", str(link), "--db", db, "--idle-exit", "2", "--link-timeout", "0.5")
        assert recorded.returncode == 0, recorded.stderr
    finally:
        sim.terminate()
        sim.communicate(timeout=30)
    exported = installed.run("export", "--db", db, "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    keys = ("boot", "seq", "force", "contact_ms", "zone")
    stored = sorted(tuple(row[k] for k in keys) for row in json_lines(exported.stdout))
    expected = sorted(tuple(row[k] for k in keys) for row in map(json.loads, truth.read_text().splitlines()))
    assert len(expected) == 300
    assert stored == expected


@pytest.mark.parametrize(
    "args",
    [
        ("link", "record", "ble:X", "--db", "sqlite:///{tmp}/ble.db"),
        ("link", "scan", "--timeout", "1"),
        ("sim", "--ble", "virtual", "--no-state"),
    ],
    ids=["link-record", "link-scan", "sim-ble"],
)
def test_ble_without_its_extra_is_one_line_naming_the_extra(
    installed: Installed, tmp_path: Path, args: tuple[str, ...]
) -> None:
    done = installed.run(*(arg.replace("{tmp}", str(tmp_path)) for arg in args), timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "pip install 'stampside[ble]'" in errors[0], done.stderr
    assert "Traceback" not in done.stderr


def test_postgresql_without_its_extra_is_one_line_naming_the_extra(installed: Installed) -> None:
    done = installed.run("export", "--db", "postgresql+psycopg://clinic@127.0.0.1:1/records")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "pip install 'stampside[postgres]'" in done.stderr and "Traceback" not in done.stderr, done.stderr
