"""What the CLI fuzz test found, each as the case a person meets: one `Error:` line and exit 2 (or
the right output) where there was a traceback."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from stampside.app.cli.main import main, pass_undecodable_names_through
from stampside.app.storage import open_database
from tests.devicelink.processes import STAMPSIDE

ACCEPTED = "use sqlite:///PATH (or just the file's PATH) or postgresql+psycopg://USER@HOST/DB"


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "clinic.db"
    open_database(str(path)).close()
    return str(path)


def one_error_line(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("url", "kind"), [("nonsense://x", "'nonsense'"), ("postgresql+nope://h/d", "'postgresql+nope'")]
)
@pytest.mark.parametrize("command", [["export"], ["report", "cohort"], ["link", "events"], ["audit", "verify"]])
def test_a_mistyped_database_url_names_the_forms_taken_not_a_driver_to_install(
    command: list[str], url: str, kind: str
) -> None:
    line = one_error_line([*command, "--db", url])
    assert line == f"Error: not a database URL: {url!r} ({kind} is no database Stampside knows); {ACCEPTED}"
    assert "install" not in line


def test_a_database_url_that_does_not_parse_names_the_forms_taken() -> None:
    assert one_error_line(["export", "--db", "postgresql://u@h:notaport/d"]) == (
        f"Error: not a database URL: 'postgresql://u@h:notaport/d'; {ACCEPTED}"
    )


def test_a_home_folder_of_nobody_is_a_path_like_any_other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    line = one_error_line(["export", "--db", "~no-such-user-here/clinic.db"])
    assert line == (
        f"Error: no database at {tmp_path}/~no-such-user-here/clinic.db: check --db (or STAMPSIDE_DB), "
        "or record into it first"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["report", "session", str(2**64)], f"Invalid value for '[SESSION_ID]': '{2**64}' is beyond any number"),
        (["report", "session", "--patient", "P-1", "--number", str(-(2**70))], "Invalid value for '--number'"),
        (["report", "course", "--course", str(2**63)], "Invalid value for '--course'"),
        (["report", "lot", os.fsdecode(b"LOT-\xff")], "'LOT': 'LOT-\\udcff' holds bytes that are not UTF-8 text"),
        (["report", "course", os.fsdecode(b"P-\xff")], "holds bytes that are not UTF-8 text"),
        (["export", "--device", os.fsdecode(b"SS-\x80")], "Invalid value for '--device'"),
        (["link", "events", "--device", os.fsdecode(b"SS-\x80")], "Invalid value for '--device'"),
        (["audit", "show", "--patient", os.fsdecode(b"\x80")], "Invalid value for '--patient'"),
    ],
)
def test_what_no_database_can_hold_is_a_usage_error_before_any_lookup(db: str, args: list[str], expected: str) -> None:
    assert expected in one_error_line([*args, "--db", db])


def test_a_limit_beyond_what_a_database_holds_lists_every_event(db: str) -> None:
    result = CliRunner().invoke(main, ["link", "events", "--db", db, "--limit", str(2**64)])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("no link events yet in ")


def test_a_name_that_is_not_utf8_goes_out_as_the_bytes_it_came_in_as() -> None:
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8", errors="strict")
    pass_undecodable_names_through(stdout)
    stdout.write(os.fsdecode(b"/tmp/caf\xe9.toml") + "\n")
    stdout.flush()
    assert raw.getvalue() == b"/tmp/caf\xe9.toml\n"


def test_a_settings_path_that_is_not_utf8_is_printed_from_a_real_shell_on_a_strict_utf8_locale(
    tmp_path: Path,
) -> None:
    name = os.fsencode(tmp_path) + b"/caf\xe9.toml"
    result = subprocess.run(
        [STAMPSIDE, "config", "path", "--settings", name],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    assert name in result.stdout
