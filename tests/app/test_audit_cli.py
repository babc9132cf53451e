"""`stampside audit verify|show`: the issue's acceptance run, the filters, the exit codes."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from stampside.app.cli.main import main
from stampside.app.demo_data import seed_demo_cohort
from stampside.app.storage import open_database

STAMPSIDE = [sys.executable, "-m", "stampside.app.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STAMPSIDE, *args], capture_output=True, text=True, timeout=120)


def outside(path: Path, sql: str) -> None:
    """The sqlite3 shell when it is installed, else Python's sqlite3 module: either way, not the app."""
    shell = shutil.which("sqlite3")
    if shell is not None:
        subprocess.run([shell, str(path), sql], check=True, capture_output=True, timeout=30)
        return
    connection = sqlite3.connect(path)
    try:
        connection.execute(sql)
        connection.commit()
    finally:
        connection.close()


def test_demo_data_verifies_and_edits_outside_the_app_do_not(tmp_path: Path) -> None:
    path = tmp_path / "X"
    db = f"sqlite:///{path}"
    assert run("demo-data", "--db", db).returncode == 0

    clean = run("audit", "verify", "--db", db)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.startswith("audit trail verified:")

    outside(path, "UPDATE patients SET name='Edited' WHERE code='DEMO-001'")
    edited = run("audit", "verify", "--db", db)
    assert edited.returncode == 1
    assert "patients id=1 (DEMO-001): changed outside the app since entry #" in edited.stdout
    assert "name 'Patient One' → 'Edited'" in edited.stdout
    assert "does not verify: 1 finding" in edited.stderr
    assert "Traceback" not in edited.stderr

    outside(path, "UPDATE patients SET name='Patient One' WHERE code='DEMO-001'")
    assert run("audit", "verify", "--db", db).returncode == 0  # the record is as the trail has it again
    outside(
        path, "DELETE FROM audit_entries WHERE seq = (SELECT max(seq) FROM audit_entries WHERE table_name = 'photos')"
    )
    deleted = run("audit", "verify", "--db", db)
    assert deleted.returncode == 1
    assert " missing: deleted from the trail" in deleted.stdout

    shown = run("audit", "show", "--db", db, "--patient", "DEMO-001", "--table", "patients")
    assert shown.returncode == 0
    assert "cli:demo-data  insert  patients id=1 (DEMO-001)" in shown.stdout
    stamps = run("audit", "show", "--db", db, "--table", "stamp_events", "--format", "jsonl")
    assert {json.loads(line)["actor"] for line in stamps.stdout.splitlines()} == {"link:DEMO-STAMP-1"}


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("audit-cli") / "demo.db"
    database = open_database(f"sqlite:///{path}")
    try:
        seed_demo_cohort(database)
    finally:
        database.close()
    return str(path)


def test_show_keeps_one_patients_entries_since_a_date(demo_db: str) -> None:
    runner = CliRunner()
    every = runner.invoke(main, ["audit", "show", "--db", demo_db, "--patient", "demo-002", "--format", "jsonl"])
    assert every.exit_code == 0, every.output
    entries = [json.loads(line) for line in every.stdout.splitlines()]
    assert entries and {entry["patient"] for entry in entries} == {"DEMO-002"}
    assert [entry["seq"] for entry in entries] == sorted(entry["seq"] for entry in entries)
    since = runner.invoke(main, ["audit", "show", "--db", demo_db, "--patient", "DEMO-002", "--since", "2000-01-01"])
    assert since.exit_code == 0
    assert since.stdout.count("\n#") + 1 == len(entries)
    assert "insert  patients id=2 (DEMO-002)" in since.stdout
    later = runner.invoke(main, ["audit", "show", "--db", demo_db, "--patient", "DEMO-002", "--since", "2999-01-01"])
    assert later.exit_code == 0 and later.stdout == ""
    assert "no audit entries match" in later.stderr


def test_an_update_shows_the_columns_it_changed(demo_db: str) -> None:
    shown = CliRunner().invoke(main, ["audit", "show", "--db", demo_db, "--table", "treatment_sessions"])
    assert shown.exit_code == 0
    assert "status: 'open' → 'finished'" in shown.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["show", "--patient", "NOBODY-1"], "no patient NOBODY-1"),
        (["show", "--since", "soon"], "--since 'soon': not a time"),
        (["show", "--table", "devices"], "--table devices: not an audited table"),
        (["verify", "--limit", "-1"], "--limit"),
    ],
)
def test_usage_problems_are_one_line_and_exit_2(demo_db: str, args: list[str], said: str) -> None:
    result = CliRunner().invoke(main, ["audit", *args, "--db", demo_db])
    assert result.exit_code == 2
    assert said in result.output and "Traceback" not in result.output


def test_verifying_a_database_that_does_not_exist_is_a_usage_problem(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["audit", "verify", "--db", str(tmp_path / "typo.db")])
    assert result.exit_code == 2
    assert "no database at" in result.output
    assert not (tmp_path / "typo.db").exists()
