"""``stampside config``: where the file is, what is in effect and where each setting came from; and the
commands that use the clinic's database take it from the settings when no --db or STAMPSIDE_DB says."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from stampside.app.cli.main import main
from stampside.app.settings import SETTINGS_ENV_VAR, setting_names


def config_show(*args: str) -> Result:
    return CliRunner().invoke(main, ["config", "show", *args])


def shown(result: Result) -> dict[str, tuple[str, str]]:
    """``config show``'s lines as name → (value, origin)."""
    lines: dict[str, tuple[str, str]] = {}
    for line in result.output.splitlines()[1:]:
        name, rest = line.split(maxsplit=1)
        value, _, origin = rest.rpartition("  [")
        lines[name] = (value.strip(), origin.rstrip("]"))
    return lines


@pytest.fixture
def clinic_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        'db = "/srv/file.db"\ntimezone = "Asia/Tokyo"\n[clinic]\nname = "Scalp Clinic"\nphone = "+44 20 7946 0000"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv(SETTINGS_ENV_VAR, str(path))
    monkeypatch.delenv("STAMPSIDE_DB", raising=False)
    return path


def test_show_prints_every_setting_with_its_default_when_there_is_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STAMPSIDE_DB", raising=False)
    result = config_show()
    assert result.exit_code == 0, result.output
    assert "(none there: nothing read)" in result.output.splitlines()[0]
    lines = shown(result)
    assert list(lines) == list(setting_names())
    assert {origin for _, origin in lines.values()} == {"default"}
    assert lines["idle_lock_minutes"][0] == "5" and lines["timezone"][0].endswith("(the computer's)")
    assert lines["db"][0].startswith("sqlite:///") and lines["db"][0].endswith("/stampside.db")


def test_show_says_which_came_from_the_file_a_variable_and_a_flag(
    clinic_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = shown(config_show())
    assert lines["db"] == ("sqlite:////srv/file.db", str(clinic_file))
    assert lines["timezone"] == ("Asia/Tokyo", str(clinic_file))
    assert lines["clinic.name"] == ("Scalp Clinic", str(clinic_file))
    assert lines["clinic.address"][1] == "default"

    monkeypatch.setenv("STAMPSIDE_DB", "/srv/env.db")
    monkeypatch.setenv("STAMPSIDE_CLINIC__PHONE", "0161 496 0000")
    lines = shown(config_show())
    assert lines["db"] == ("sqlite:////srv/env.db", "$STAMPSIDE_DB")
    assert lines["clinic.phone"] == ("0161 496 0000", "$STAMPSIDE_CLINIC__PHONE")
    assert lines["clinic.name"][1] == str(clinic_file)

    lines = shown(config_show("--db", "/srv/flag.db"))
    assert lines["db"] == ("sqlite:////srv/flag.db", "--db")


def test_path_prints_the_file_and_settings_is_the_same_command(clinic_file: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["config", "path"]).output.strip() == str(clinic_file)
    assert runner.invoke(main, ["settings", "path"]).output.strip() == str(clinic_file)
    assert runner.invoke(main, ["settings", "show"]).output == runner.invoke(main, ["config", "show"]).output


@pytest.mark.parametrize("command", [["config", "show"], ["export"], ["report", "cohort"]])
def test_a_wrong_setting_is_one_line_and_exit_2_for_every_command_that_reads_them(
    clinic_file: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("STAMPSIDE_IDLE_LOCK_MINUTES", "forever")
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "Error: $STAMPSIDE_IDLE_LOCK_MINUTES: idle_lock_minutes: a whole number of minutes from 1 to 60 is expected"
    ]


def test_a_wrong_file_is_named_with_its_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "settings.toml"
    bad.write_text("[clinic]\nphone = 5\n", encoding="utf-8")
    monkeypatch.setenv(SETTINGS_ENV_VAR, str(bad))
    result = CliRunner().invoke(main, ["export"])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {bad}: clinic.phone: text in quotes is expected"


def test_export_reads_the_settings_database_unless_db_or_stampside_db_names_one(
    clinic_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    from_file = runner.invoke(main, ["export"])
    assert from_file.exit_code == 2 and "no database at /srv/file.db" in from_file.output
    monkeypatch.setenv("STAMPSIDE_DB", str(tmp_path / "env.db"))
    assert f"no database at {tmp_path / 'env.db'}" in runner.invoke(main, ["export"]).output
    flagged = runner.invoke(main, ["export", "--db", str(tmp_path / "flag.db")])
    assert f"no database at {tmp_path / 'flag.db'}" in flagged.output


def test_a_data_folder_holds_the_database_when_db_is_not_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(f'data_folder = "{tmp_path / "clinic"}"\n', encoding="utf-8")
    monkeypatch.setenv(SETTINGS_ENV_VAR, str(path))
    monkeypatch.delenv("STAMPSIDE_DB", raising=False)
    lines = shown(config_show())
    assert lines["db"] == (f"sqlite:///{tmp_path / 'clinic' / 'stampside.db'}", "default")
    assert lines["data_folder"] == (str(tmp_path / "clinic"), str(path))
    result = CliRunner().invoke(main, ["export"])
    assert f"no database at {tmp_path / 'clinic' / 'stampside.db'}" in result.output
