"""`stampside app`: help, a bad protocol file, and the config it builds the app from."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import stampside.app.tui.app as tui_app
from stampside.app.cli.main import main
from stampside.app.domain.treatment_protocol import default_protocol


def test_app_help_names_device_db_and_protocol() -> None:
    result = CliRunner().invoke(main, ["app", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--device URL", "--db DB_URL", "--protocol FILE"):
        assert option in result.output


def test_a_bad_protocol_file_prints_its_message_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "clinic.toml"
    bad.write_text('name = "Clinic"\nversion = \n', encoding="utf-8")
    result = CliRunner().invoke(main, ["app", "--protocol", str(bad)])
    assert result.exit_code == 2
    assert "Error: protocol file" in result.output
    assert str(bad) in result.output
    assert "Traceback" not in result.output


def test_a_missing_protocol_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["app", "--protocol", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


class FakeApp:
    return_code = 0
    settings_problem = None

    def __init__(self, config: tui_app.AppConfig) -> None:
        self.config = config
        self.ran = False

    def run(self) -> None:
        self.ran = True


def test_the_app_is_built_from_the_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[FakeApp] = []

    def fake_create_app(config: tui_app.AppConfig) -> FakeApp:
        built.append(FakeApp(config))
        return built[-1]

    monkeypatch.setattr(tui_app, "create_app", fake_create_app)
    db = str(tmp_path / "s.db")
    result = CliRunner().invoke(main, ["app", "--device", "/tmp/stamp", "--db", db])
    assert result.exit_code == 0, result.output
    [fake] = built
    assert fake.ran
    assert (fake.config.database, fake.config.device_url) == (db, "/tmp/stamp")
    assert fake.config.protocol == default_protocol()
