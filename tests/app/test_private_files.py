"""Patient data is readable by the clinic's account only: every file the app writes is 0600, every folder 0700.

Issue 11. The writers run for real under umasks that would leave their files readable by
others (0o022, the usual one, gives 0644 and 0755; 0o000 gives 0666 and 0777), then every file
and folder they made is listed and checked:

* the command line, as real subprocesses: ``demo-data`` (the database with its -wal/-shm,
  the photo folders), ``report`` (HTML and PDF), ``export`` and ``link capture`` from a
  simulator over a pty;
* the chairside app in this process: the database in the default data folder, photo
  registration, the aftercare card, the course report and the stamp export of the command
  palette, and the palette's screenshot and export run on the real app (Textual's Pilot).

A writer that goes back to the umask's modes fails here. A full disk, provoked for real with
``RLIMIT_FSIZE`` (the write fails with EFBIG), gives one ``Error:`` line, exit code 2, and
leaves neither a partial file nor a temporary one.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from stampside.app.chairside import records
from stampside.app.chairside import session_cases as cases
from stampside.app.domain.aftercare import AftercareCard
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage import open_database
from stampside.app.storage.courses import start_course
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.app.storage.photos import default_photo_root, register_photo
from stampside.app.tui.app import AppConfig, create_app
from stampside.devicelink.capture import CaptureWriter
from stampside.devicelink.events import Direction
from tests.devicelink.processes import STAMPSIDE, SimProcess
from tests.file_modes import files_under, not_private, umask
from tests.tui.session_helpers import MovableClock, wait_for

PROTOCOL = default_protocol()
T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def clean_env(data_home: Path) -> dict[str, str]:
    """This environment without a database or photo folder named, and the user data folder in ``data_home``."""
    env = {k: v for k, v in os.environ.items() if k not in ("STAMPSIDE_DB", "STAMPSIDE_PHOTOS")}
    env["XDG_DATA_HOME"] = str(data_home)
    return env


def start(args: list[str], env: dict[str, str], mask: int = 0o000, limit: int | None = None) -> subprocess.Popen[str]:
    """``stampside ARGS`` with ``mask`` as its umask and, with ``limit``, files it writes capped at that size."""

    def small_disk() -> None:
        assert limit is not None
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # Python ignores SIGXFSZ: writes fail with EFBIG

    return subprocess.Popen(
        [STAMPSIDE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        umask=mask,
        preexec_fn=None if limit is None else small_disk,
    )


def run_all(commands: list[list[str]], *, env: dict[str, str], mask: int) -> list[str]:
    """Run ``stampside`` commands side by side with ``mask`` as their umask; a line for each that failed."""
    procs = [start(args, env, mask) for args in commands]
    failures = []
    for args, proc in zip(commands, procs, strict=True):
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failures.append(f"{' '.join(args)}: exit {proc.returncode}: {err}")
    return failures


@pytest.fixture(scope="module")
def demo_clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A clinic folder (the clinic's own, 0700) holding the demo cohort that ``stampside demo-data`` wrote
    with umask 0o000, and the environment the commands run in; a simulator serves a pty link beside it."""
    base = tmp_path_factory.mktemp("private")
    clinic = base / "clinic"
    clinic.mkdir(mode=0o700)
    clinic.chmod(0o700)
    env = clean_env(clinic / "user-data")
    env["XDG_STATE_HOME"] = str(base / "sim-state")  # the simulator's own state, not the clinic's
    sim = SimProcess("--pty", str(base / "stamp"), "--seed", "3", "--rate", "30", "--quiet")
    try:
        capture = start(
            ["link", "capture", str(base / "stamp"), str(clinic / "link.jsonl"), "--arm", "--duration", "1"], env
        )
        failures = run_all([["demo-data", "--db", f"sqlite:///{clinic / 'clinic.db'}"]], env=env, mask=0o000)
        _, err = capture.communicate(timeout=60)
        assert capture.returncode == 0, err
    finally:
        sim.stop()
    assert failures == []
    yield clinic, env


@pytest.mark.e2e
def test_every_file_the_command_line_writes_is_readable_by_the_clinic_only(
    demo_clinic: tuple[Path, dict[str, str]],
) -> None:
    clinic, env = demo_clinic
    db = f"sqlite:///{clinic / 'clinic.db'}"
    commands = [
        ["report", "course", "DEMO-001", "--db", db, "--out", str(clinic / "course.html")],
        ["export", "--db", db, "--format", "csv", "--out", str(clinic / "stamps.csv")],
    ]
    if importlib.util.find_spec("weasyprint") is not None:
        commands.append(["report", "session", "1", "--db", db, "--format", "pdf", "--out", str(clinic / "s1.pdf")])
    assert run_all(commands, env=env, mask=0o000) == []

    written = {p.relative_to(clinic).as_posix() for p in files_under(clinic)}
    assert {"clinic.db", "link.jsonl", "course.html", "stamps.csv"} <= written
    assert any(name.startswith("clinic-photos/DEMO-001/") and name.endswith(".jpg") for name in written), written
    assert not_private(clinic) == []


def jpeg(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), (120, 100, 90)).save(path, "JPEG", quality=90)
    return path


@pytest.mark.parametrize("mask", [0o022, 0o000], ids=lambda m: f"umask{m:03o}")
async def test_every_file_the_chairside_app_writes_is_readable_by_the_clinic_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mask: int
) -> None:
    data_home = tmp_path / "user-data"
    for name, value in clean_env(data_home).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STAMPSIDE_DB", raising=False)
    monkeypatch.delenv("STAMPSIDE_PHOTOS", raising=False)
    camera = jpeg(tmp_path / "camera" / "IMG_0001.jpg")  # the photo as it comes in, outside the data folder

    with umask(mask):
        database = open_database(None)  # the default: stampside.db in the user data folder, made here
        try:
            with database.Session.begin() as s:
                patient = create_patient(s, NewPatient.parse("P-0042", name="Patient One"), now=T0)
                course = start_course(s, patient.id, now=T0)
                register_photo(
                    s,
                    camera,
                    root=default_photo_root(database.url),
                    patient_id=patient.id,
                    course_id=course,
                    time_point="baseline",
                    view="vertex",
                    protocol=PROTOCOL,
                    now=T0,
                )
            card = AftercareCard.for_session(
                T0, PROTOCOL.aftercare, patient="P-0042", practitioner="Dr Ada", session_label="session 1 of 6"
            )
            cases.write_aftercare(card, cases.default_cards_dir(database.url), "aftercare-P-0042-s1-20261102")
            records.write_course_report(database, patient.id, protocol=PROTOCOL, today=T0.date(), now=T0)
            records.export_stamps(database, now=T0)
            capture = CaptureWriter(data_home / "stampside" / "link.jsonl", "/dev/ttyUSB0")
            capture.chunk(Direction.RX, b"\x00\x03\x11")
            capture.close()

            clock = MovableClock(T0.replace(hour=11))
            app = create_app(AppConfig(database=None, protocol=PROTOCOL, clock=clock, tz=UTC))
            async with app.run_test(size=(100, 30)) as pilot:
                await wait_for(pilot, lambda: app.database is not None)
                await app.action_save_screenshot()
                await app.action_export_stamps()
                await pilot.app.workers.wait_for_complete()
            assert app.last_screenshot is not None
        finally:
            database.close()

    folder = data_home / "stampside"
    written = {p.relative_to(folder).as_posix() for p in files_under(folder)}
    expected = {
        "stampside.db",
        "link.jsonl",
        "aftercare/aftercare-P-0042-s1-20261102.txt",
        "aftercare/aftercare-P-0042-s1-20261102.html",
        "reports/course-P-0042-20261102-093000.html",
        "exports/stamps-20261102-093000.csv",
        "exports/stamps-20261102-113000.csv",
        "screenshots/stampside-20261102-113000.svg",
    }
    assert expected <= written, written
    assert any(name.startswith("stampside-photos/P-0042/course-") for name in written), written
    assert not_private(data_home) == []


@pytest.mark.e2e
def test_a_full_disk_is_one_line_exit_2_and_leaves_no_file_behind(
    demo_clinic: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Files may grow to 64 KiB (SQLite's -shm needs 32): the export and the course report are larger."""
    clinic, env = demo_clinic
    db = f"sqlite:///{clinic / 'clinic.db'}"
    out = tmp_path / "out"
    out.mkdir()
    (out / "course.html").write_text("last week's report\n")
    limit = 64 * 1024
    procs = [
        start(["export", "--db", db, "--format", "csv", "--out", str(out / "stamps.csv")], env, limit=limit),
        start(["report", "course", "DEMO-001", "--db", db, "--out", str(out / "course.html")], env, limit=limit),
    ]
    for proc, name in zip(procs, ("stamps.csv", "course.html"), strict=True):
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 2, stderr
        assert "Traceback" not in stderr
        wanted = f"Error: could not write {out / name}: File too large; no file was written"
        assert stderr.strip().splitlines() == [wanted]
    assert [p.name for p in out.iterdir()] == ["course.html"], "no partial export, no temporary file"
    assert (out / "course.html").read_text() == "last week's report\n", "the old report is kept whole"
