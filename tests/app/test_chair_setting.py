"""The settings' ``[chair]`` ``name``: this computer's chair among those sharing one database (issue 12).

The default is the computer's host name; the file, ``STAMPSIDE_CHAIR__NAME`` and ``config show``
treat it like every other setting, and a wrong value is one line naming where it came from.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from stampside.app.cli.main import main
from stampside.app.settings import SETTINGS_ENV_VAR, ChairInfo, Settings, SettingsError, load_settings, setting_names
from stampside.app.storage.claims import default_chair_name


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_without_a_name_the_chair_is_the_computers_host_name() -> None:
    settings = load_settings()
    assert settings.chair == ChairInfo() and settings.origin("chair.name") == "default"
    assert (
        settings.chair_name == default_chair_name() == (" ".join(socket.gethostname().split())[:80] or "this computer")
    )
    assert "chair.name" in setting_names()


def test_the_name_comes_from_the_file_and_a_variable_wins_over_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, '[chair]\nname = "  Chair   2 "\n')
    settings = load_settings(path)
    assert settings.chair_name == "Chair 2" and settings.origin("chair.name") == str(path)
    monkeypatch.setenv("STAMPSIDE_CHAIR__NAME", "Chair 3")
    settings = load_settings(path)
    assert settings.chair_name == "Chair 3" and settings.origin("chair.name") == "$STAMPSIDE_CHAIR__NAME"
    assert Settings(chair=ChairInfo("Window chair")).chair_name == "Window chair"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[chair]\nname = 2", "chair.name: text in quotes is expected"),
        ("[chair]\nname = '" + "x" * 81 + "'", "chair.name: at most 80 characters"),
        ("[chair]\nnumber = 2", "chair.number: not a setting; known: name"),
        ("chair = 'Chair 2'", r"chair: a table \(\[chair\]\) is expected"),
    ],
)
def test_a_wrong_chair_is_refused_with_the_field_and_what_is_expected(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(write(tmp_path, text))


def test_config_show_names_the_chair_and_where_it_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STAMPSIDE_DB", raising=False)
    runner = CliRunner()
    shown = runner.invoke(main, ["config", "show"])
    assert shown.exit_code == 0, shown.output
    line = next(line for line in shown.output.splitlines() if line.startswith("chair.name "))
    assert line.split(maxsplit=1)[1] == f"{default_chair_name()} (the computer's host name)  [default]"

    path = write(tmp_path, '[chair]\nname = "Chair 2"\n')
    monkeypatch.setenv(SETTINGS_ENV_VAR, str(path))
    shown = runner.invoke(main, ["config", "show"])
    line = next(line for line in shown.output.splitlines() if line.startswith("chair.name "))
    assert line.split(maxsplit=1)[1] == f"Chair 2  [{path}]"

    monkeypatch.setenv("STAMPSIDE_CHAIR__NAME", "x" * 81)
    refused = runner.invoke(main, ["config", "show"])
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == ["Error: $STAMPSIDE_CHAIR__NAME: chair.name: at most 80 characters"]
