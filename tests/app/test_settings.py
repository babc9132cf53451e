"""The clinic's settings file: defaults, a full file, and every kind of mistake named plainly."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli.main import main
from app.settings import EXAMPLE, SETTINGS_ENV_VAR, Settings, SettingsError, load_settings


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
        ("[clinic]\nfax = '1'", "clinic.fax: not a setting; known: name, phone"),
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
