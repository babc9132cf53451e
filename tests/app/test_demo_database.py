"""The demo never touches clinic data: `demo` and `demo-data` use a database of their own unless
--db names one, never $STAMPSIDE_DB, and `demo-data` refuses a database holding anything but demo records."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from stampside.app.cli.main import main
from stampside.app.storage import DatabaseSink, open_database
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.firmware_protocol import DeviceInfo


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user data folder of this test (the demo's own database goes in it)."""
    folder = tmp_path / "data-home"
    monkeypatch.setenv("XDG_DATA_HOME", str(folder))
    return folder


def demo_database(data_home: Path) -> Path:
    return data_home / "stampside" / "demo" / "demo.db"


def clinic_with_a_patient(path: Path) -> Path:
    database = open_database(str(path))
    try:
        with database.Session.begin() as session:
            patient = NewPatient(code="P-0042", name="A Real Patient", birth_year=1970)
            create_patient(session, patient, now=datetime.now(UTC))
    finally:
        database.close()
    return path


def clinic_with_a_recording(path: Path) -> Path:
    """What `stampside link record` leaves: a device and its numbering, no patient."""
    database = open_database(str(path))
    try:
        DatabaseSink(database).open_device(DeviceInfo("SS-000001", 2, 1, 0, 0, 1, 1, 1, 2000, 1001, 3, 100, 88, 1, 0))
    finally:
        database.close()
    return path


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_demo_data_fills_its_own_database_and_never_the_clinics(
    data_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinic = clinic_with_a_patient(tmp_path / "clinic.db")
    monkeypatch.setenv("STAMPSIDE_DB", str(clinic))
    result = CliRunner().invoke(main, ["demo-data"])
    assert result.exit_code == 0, result.output
    demo = demo_database(data_home)
    assert result.stderr.splitlines()[0] == f"demo-data: filling the demo database sqlite:///{demo}"
    assert count(demo, "patients") == 5
    assert count(clinic, "patients") == 1 and count(clinic, "treatment_sessions") == 0


@pytest.mark.parametrize(
    ("make_clinic", "named"),
    [(clinic_with_a_patient, "patients P-0042"), (clinic_with_a_recording, "devices SS-000001")],
)
def test_demo_data_refuses_a_database_holding_clinic_records(
    data_home: Path, tmp_path: Path, make_clinic: Callable[[Path], Path], named: str
) -> None:
    clinic = make_clinic(tmp_path / "clinic.db")
    before = {table: count(clinic, table) for table in ("patients", "devices", "practitioners", "stamp_events")}
    result = CliRunner().invoke(main, ["demo-data", "--db", str(clinic)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.splitlines()[1:] == [
        f"Error: {clinic}: the database holds records that are not the demo's ({named}); the demo cohort goes "
        "only into a new database or a demo one: leave out --db to fill the demo's own database"
    ]
    assert {table: count(clinic, table) for table in before} == before
    assert not demo_database(data_home).exists()


def test_demo_data_refuses_its_own_database_once_the_demo_app_added_a_patient(data_home: Path) -> None:
    demo = demo_database(data_home)
    demo.parent.mkdir(parents=True)
    clinic_with_a_patient(demo)  # as `stampside demo` leaves it after a patient was created in the app
    result = CliRunner().invoke(main, ["demo-data"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"Error: {demo}: the database holds records that are not the demo's (patients P-0042); the demo cohort "
        "goes only into a new database or a demo one: pass --db NEW_FILE"
    )
    assert count(demo, "patients") == 1


def test_with_a_data_folder_in_the_settings_the_demo_database_is_in_it(
    data_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "clinic-folder"
    monkeypatch.setenv("STAMPSIDE_DATA_FOLDER", str(folder))
    demo = folder / "demo" / "demo.db"
    demo.parent.mkdir(parents=True)
    clinic_with_a_patient(demo)  # refused at once: where it looked is all this test needs
    result = CliRunner().invoke(main, ["demo-data"])
    assert result.stderr.splitlines()[0] == f"demo-data: filling the demo database sqlite:///{demo}"
    assert result.exit_code == 2
    assert not (folder / "stampside.db").exists() and not demo_database(data_home).exists()


def test_demo_stores_into_its_own_database_and_never_the_clinics(data_home: Path, tmp_path: Path) -> None:
    clinic = clinic_with_a_patient(tmp_path / "clinic.db")
    stamps_before = count(clinic, "stamp_events")
    env = {**os.environ, "STAMPSIDE_DB": str(clinic), "XDG_DATA_HOME": str(data_home)}
    run = subprocess.run(
        [sys.executable, "-m", "stampside.app.cli", "demo", "--monitor", "--json", "--duration", "2", "--rate", "20"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    demo = demo_database(data_home)
    assert run.stderr.splitlines()[0] == f"demo: storing into the demo database sqlite:///{demo}"
    assert count(demo, "stamp_events") > 0
    assert count(clinic, "stamp_events") == stamps_before == 0


@pytest.mark.parametrize("command", ["demo", "demo-data"])
def test_the_help_says_the_demo_has_its_own_database_and_ignores_stampside_db(
    data_home: Path, command: str
) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0

    def squeezed(text: str) -> str:  # help wraps lines at spaces and at hyphens
        return "".join(text.split())

    said = f"the demo's own database, demo/demo.db in the settings' data folder, else {demo_database(data_home)}"
    assert squeezed(said) in squeezed(result.output)
    assert squeezed("The demo never uses $STAMPSIDE_DB or the settings' db, the clinic's database.") in squeezed(
        result.output
    )
