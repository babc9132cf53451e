"""``stampside board``: the board as text with ``--once``; without a terminal, an old schema, a wrong
URL or a server that is down it is one line and exit code 2, never a traceback or a hang."""

from __future__ import annotations

import socket
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from stampside.app.cli.main import main
from stampside.app.storage import open_database
from tests.chairs import open_chair


def board(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["board", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result.exit_code, result.output


def test_once_prints_each_chairs_open_session_as_a_line(db_url: str) -> None:
    database = open_database(db_url)
    try:
        started = datetime.now(UTC) - timedelta(minutes=12)
        chair = open_chair(database, chair="Chair 1", practitioner="Dr Ada", patient_code="P-0001", started_at=started)
        chair.stamp(datetime.now(UTC), count=3)
        chair.link_event("lost", datetime.now(UTC), "no answer")
    finally:
        database.close()
    code, output = board("--once", "--db", db_url)
    assert code == 0, output
    [line] = output.splitlines()
    assert line.startswith("Chair 1 | Dr Ada | P-0001 | session 1 of 6 | Pre-session checks (1/7) | 3 stamps")
    assert "link lost" in line and "warnings: link lost" in line


def test_once_on_a_clinic_with_no_open_session_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    open_database(url).close()
    assert board("--once", "--db", url) == (0, "No session is open at any chair.\n")


def test_without_a_terminal_the_full_screen_board_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    open_database(url).close()
    code, output = board("--db", url)  # CliRunner's stdout is no terminal
    assert code == 2
    assert output == "Error: the board is a full-screen view and needs a terminal; --once prints it as text\n"


def test_a_database_to_upgrade_a_missing_file_or_a_wrong_url_is_one_line(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    sqlite3.connect(old).close()
    for args, says in (
        (["--db", str(old)], "run 'stampside db upgrade' first"),
        (["--db", str(tmp_path / "missing.db")], "no database file at"),
        (["--db", "postgresql+nope://h/d"], "not a database URL"),
        (["--db", "postgresql://u@h:notaport/d"], "not a database URL"),
    ):
        code, output = board("--once", *args)
        assert code == 2 and output.startswith("Error: ") and says in output, (args, output)
        assert output.count("\n") == 1, output
    assert not (tmp_path / "missing.db").exists()  # the board creates nothing


def test_a_postgresql_server_that_is_down_is_one_line() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, output = board("--once", "--db", f"postgresql+psycopg://stampside@127.0.0.1:{port}/stampside")
    assert code == 2 and output.startswith("Error: cannot reach the database server") and output.count("\n") == 1


def test_help_says_what_the_board_shows_and_that_it_never_writes() -> None:
    code, output = board("--help")
    assert code == 0
    for words in ("every chair's open session", "LISTEN/NOTIFY", "only reads", "--once", "stampside docs board"):
        assert words in " ".join(output.split()), words
