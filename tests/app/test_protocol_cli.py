"""`stampside protocol check|show`: clinics validate their own protocol files."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from stampside.app.cli.main import main
from stampside.app.domain.treatment_protocol import DEFAULT_PROTOCOL_PATH


def test_show_lists_the_default_protocol_steps() -> None:
    result = CliRunner().invoke(main, ["protocol", "show"])
    assert result.exit_code == 0, result.output
    assert "Scalp disinfection" in result.output
    assert "no hair wash for at least 24 h, ideally 48 h" in result.output


def test_check_accepts_the_default_file() -> None:
    result = CliRunner().invoke(main, ["protocol", "check", str(DEFAULT_PROTOCOL_PATH)])
    assert result.exit_code == 0
    assert "OK" in result.output


def test_check_names_line_and_field_of_a_mistake(tmp_path: Path) -> None:
    lines = DEFAULT_PROTOCOL_PATH.read_text().splitlines()
    line = next(n for n, text in enumerate(lines, start=1) if text.startswith("needle_um ="))
    lines[line - 1] = 'needle_um = "two"'
    bad = tmp_path / "clinic.toml"
    bad.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(main, ["protocol", "check", str(bad)])
    assert result.exit_code == 2
    assert f"line {line}: device.needle_um" in result.output
    assert "Traceback" not in result.output
