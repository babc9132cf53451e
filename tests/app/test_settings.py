"""The clinic's settings: defaults, the file, variables over it and flags over both, and every kind of
mistake named plainly with the file or variable it came from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from stampside.app.cli.main import main
from stampside.app.settings import (
    EXAMPLE,
    SETTINGS_ENV_VAR,
    ClinicInfo,
    Settings,
    SettingsError,
    load_settings,
    local_zone_name,
    setting_names,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_means_the_defaults_unless_one_was_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SETTINGS_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert load_settings() == Settings()
    with pytest.raises(SettingsError, match="no such settings file; create it"):
        load_settings(tmp_path / "missing.toml")
    monkeypatch.setenv(SETTINGS_ENV_VAR, str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match=r"missing\.toml: no such settings file"):
        load_settings()


def test_the_example_is_a_valid_file_with_every_setting(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, EXAMPLE))
    assert settings.clinic.name == "Clinic Name" and settings.clinic.phone == "+44 20 7946 0000"
    assert settings.keys.advance == ("f13",) and settings.keys.next_zone == ("f14",)
    assert settings.source == tmp_path / "settings.toml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[clinic\nname='x'", "not valid TOML"),
        ("clinic = 3", r"clinic: a table \(\[clinic\]\) is expected"),
        ("[clinic]\nphone = 5", "clinic.phone: text in quotes is expected"),
        ("[clinic]\nfax = '1'", "clinic.fax: not a setting; known: address, name, phone"),
        ("[colour]\nx = 1", "colour: not a setting"),
        ("[keys]\nadvance = ['q']", 'keys.advance: "q" is already used by the app'),
        ("[keys]\nadvance = ['f 13']", 'keys.advance: "f 13" is not a key name'),
        ("[keys]\nadvance = [13]", "keys.advance: a list of key names is expected"),
        ("[keys]\nadvance = ['f13']\nnext_zone = ['F13']", "f13 cannot both advance and change the zone"),
        ("[clinic]\nname = '" + "x" * 121 + "'", "clinic.name: at most 120 characters"),
    ],
)
def test_a_wrong_file_is_refused_with_the_field_and_what_is_expected(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(write(tmp_path, text))


def test_one_key_may_be_given_without_a_list_and_in_any_case(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "[keys]\nadvance = ' PageDown '\n"))
    assert settings.keys.advance == ("pagedown",)


def test_the_settings_command_shows_checks_and_prints_an_example(tmp_path: Path) -> None:
    runner = CliRunner()
    good = write(tmp_path, EXAMPLE)
    shown = runner.invoke(main, ["settings", "show", "--settings", str(good)])
    assert shown.exit_code == 0, shown.output
    assert "Clinic Name" in shown.output and "f13" in shown.output and str(good) in shown.output
    assert runner.invoke(main, ["settings", "example"]).output == EXAMPLE
    assert runner.invoke(main, ["settings", "path", "--settings", str(good)]).output.strip() == str(good)
    bad = write(tmp_path, "[keys]\nnext_zone = ['escape']\n")
    refused = runner.invoke(main, ["settings", "show", "--settings", str(bad)])
    assert refused.exit_code == 2 and 'keys.next_zone: "escape" is already used by the app' in refused.output
    app_refused = runner.invoke(main, ["app", "--settings", str(tmp_path / "none.toml")])
    assert app_refused.exit_code == 2 and "no such settings file" in app_refused.output
    assert "Traceback" not in app_refused.output


# -- every setting, and where it comes from -----------------------------------------------------

FULL = """\
db = "clinic.db"
data_folder = "files"
timezone = "Asia/Tokyo"
idle_lock_minutes = 10

[clinic]
name = "Scalp Clinic"
address = \"\"\"
1 High Street,
London N1 9GU
\"\"\"
phone = "+44 20 7946 0000"
"""


def test_every_setting_is_read_from_the_file_and_a_relative_path_from_the_files_folder(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, FULL))
    assert settings.db == str(tmp_path / "clinic.db")
    assert settings.data_folder == tmp_path / "files"
    assert (settings.timezone, settings.idle_lock_minutes) == ("Asia/Tokyo", 10)
    assert settings.tz == ZoneInfo("Asia/Tokyo")
    assert settings.clinic == ClinicInfo("Scalp Clinic", "1 High Street, London N1 9GU", "+44 20 7946 0000")
    assert {settings.origin(name) for name in ("db", "timezone", "clinic.address")} == {str(tmp_path / "settings.toml")}
    assert settings.origin("keys.advance") == "default"


def test_the_defaults_need_no_file_the_computers_zone_and_five_minutes() -> None:
    settings = load_settings()
    assert (settings.db, settings.data_folder, settings.timezone, settings.tz) == (None, None, None, None)
    assert settings.idle_lock_minutes == 5 and settings.source is None
    assert all(settings.origin(name) == "default" for name in setting_names())


def test_a_variable_wins_over_the_file_and_a_flag_over_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, FULL)
    monkeypatch.setenv("STAMPSIDE_DB", "/srv/from-env.db")
    monkeypatch.setenv("STAMPSIDE_CLINIC__PHONE", "0161 496 0000")
    monkeypatch.setenv("STAMPSIDE_KEYS__ADVANCE", "f13, F15")
    monkeypatch.setenv("STAMPSIDE_TIMEZONE", "Europe/London")
    settings = load_settings(path)
    assert settings.db == "/srv/from-env.db" and settings.origin("db") == "$STAMPSIDE_DB"
    assert settings.clinic.phone == "0161 496 0000" and settings.origin("clinic.phone") == "$STAMPSIDE_CLINIC__PHONE"
    assert settings.clinic.name == "Scalp Clinic" and settings.origin("clinic.name") == str(path)
    assert settings.keys.advance == ("f13", "f15") and settings.origin("keys.advance") == "$STAMPSIDE_KEYS__ADVANCE"
    assert settings.timezone == "Europe/London"
    flagged = load_settings(path, flags={"db": "/srv/from-flag.db"})
    assert flagged.db == "/srv/from-flag.db" and flagged.origin("db") == "--db"


def test_the_database_is_the_settings_db_else_the_data_folders_file(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, FULL)).resolve_database_url() == f"sqlite:///{tmp_path / 'clinic.db'}"
    in_folder = load_settings(write(tmp_path, 'data_folder = "files"\n'))
    assert in_folder.resolve_database_url() == f"sqlite:///{tmp_path / 'files' / 'stampside.db'}"
    assert (tmp_path / "files").is_dir(), "made for the database"
    assert in_folder.resolve_database_url("other.db").endswith("/other.db"), "a flag wins"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("STAMPSIDE_TIMEZONE", "Mars/Olympus", r'\$STAMPSIDE_TIMEZONE: timezone: "Mars/Olympus" is not a time zone'),
        ("STAMPSIDE_IDLE_LOCK_MINUTES", "0", r"\$STAMPSIDE_IDLE_LOCK_MINUTES: idle_lock_minutes: a whole number"),
        ("STAMPSIDE_IDLE_LOCK_MINUTES", "five", "from 1 to 60 is expected"),
        ("STAMPSIDE_KEYS__NEXT_ZONE", "escape", r'\$STAMPSIDE_KEYS__NEXT_ZONE: keys.next_zone: "escape" is already'),
        ("STAMPSIDE_CLINIC__FAX", "1", r"\$STAMPSIDE_CLINIC__FAX: clinic.fax: not a setting; known: address"),
        ("STAMPSIDE_CLINIC", "{oops", r"\$STAMPSIDE_CLINIC: clinic: a JSON table is expected"),
        ("STAMPSIDE_KEYS__ADVANCE", "f14", r"\$STAMPSIDE_KEYS__ADVANCE and .*settings.toml: keys: f14 cannot both"),
    ],
)
def test_a_wrong_variable_is_refused_with_its_name_the_field_and_what_is_expected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    path = write(tmp_path, EXAMPLE)
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=message):
        load_settings(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timezone = 'Europe/Londn'", 'timezone: "Europe/Londn" is not a time zone; an IANA name is expected'),
        ("timezone = '../etc/passwd'", "is not a time zone"),
        ("idle_lock_minutes = 61", "idle_lock_minutes: a whole number of minutes from 1 to 60 is expected"),
        ("idle_lock_minutes = true", "idle_lock_minutes: a whole number"),
        ("data_folder = 'settings.toml'", "data_folder: .*settings.toml is a file; a folder is expected"),
        ("db = 5", "db: text in quotes is expected"),
        ("[clinic]\naddress = '" + "x" * 201 + "'", "clinic.address: at most 200 characters"),
    ],
)
def test_the_new_settings_are_checked_too(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(write(tmp_path, text))


def test_a_time_zone_is_an_iana_name_and_the_computers_is_named_when_none_is_set(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "timezone = 'America/New_York'")).tz == ZoneInfo("America/New_York")
    assert local_zone_name()  # e.g. "Europe/London" (or the zone's abbreviation where the system names none)


def test_reading_the_file_needs_no_validation_library() -> None:
    """The app's first paint must not wait for pydantic: reading the file is plain Python."""
    code = (
        "import sys, stampside.app.settings, stampside.app.cli.app_command; "
        "stampside.app.settings.read_settings_file(); "
        "print(sorted(m for m in ('pydantic', 'pydantic_settings', 'stampside.app.settings_model') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
