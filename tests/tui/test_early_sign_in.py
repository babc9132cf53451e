"""Start-up: the sign-in screen shows who can sign in before storage is loaded, from a read-only
peek at the SQLite file, and checks nothing until the database is open and its list read again.

The peek (:mod:`stampside.app.chairside.sign_in_peek`) must give exactly what storage gives on the
same file; the app must never check a PIN against a name the stored list does not have.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import LoadingIndicator, OptionList, Static

from stampside.app.chairside.sign_in import sign_in_choices
from stampside.app.chairside.sign_in_peek import SignInChoice, peek_sign_in_choices
from stampside.app.storage.database import Database, open_database
from stampside.app.storage.pins import set_pin
from stampside.app.storage.practitioners import add_practitioner, retire_practitioner
from stampside.app.tui import app as app_module
from stampside.app.tui.screens.sign_in import SignInScreen
from stampside.app.tui.screens.start import StartScreen
from tests.tui.session_helpers import NOW, SIZE, MovableClock, current, make_app, wait_for
from tests.tui.sign_in_helpers import PIN

NAMES = ("Marc Vidal", "ana Ruiz", "Ana Ruiz", "Élodie Martin", "Zoë Park", "Bo Li")


def clinic(db: Database) -> dict[str, int]:
    """Six practitioners (names that sort by case and accent), three with a PIN, one retired."""
    ids = {}
    with db.Session.begin() as s:
        for index, name in enumerate(NAMES):
            ids[name] = add_practitioner(s, name).id
            if index % 2 == 0:
                set_pin(s, ids[name], PIN, PIN, now=NOW)
        retire_practitioner(s, ids["Bo Li"])
    return ids


def test_the_peek_gives_exactly_what_storage_gives(db_path: Path, db: Database) -> None:
    clinic(db)
    stored = sign_in_choices(db)
    assert [c.name for c in stored] == sorted(n for n in NAMES if n != "Bo Li"), "by name, the retired left out"
    assert peek_sign_in_choices(f"sqlite:///{db_path}") == stored
    assert {c.name for c in stored if c.has_pin} == {"Marc Vidal", "Ana Ruiz", "Zoë Park"}


def test_a_file_not_made_yet_has_nobody_and_is_not_made(tmp_path: Path) -> None:
    path = tmp_path / "new" / "stampside.db"
    assert peek_sign_in_choices(f"sqlite:///{path}") == []
    assert not path.exists() and not path.parent.exists()


def test_the_peek_says_it_cannot_tell_rather_than_guess(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    for url in (
        "postgresql://clinic@db.example/stampside",
        f"sqlite+pysqlite:///{empty}",
        f"sqlite:///{empty}?mode=ro",
        "sqlite:///:memory:",
        f"sqlite:///{garbage}",
        f"sqlite:///{empty}",  # a database without the tables: an old or foreign file
    ):
        assert peek_sign_in_choices(url) is None, url


def test_the_peek_only_reads(db_path: Path, db: Database) -> None:
    """The file is opened read only (SQLite may add its -wal and -shm beside it, as storage does)."""
    clinic(db)
    db.close()
    before = (db_path.read_bytes(), db_path.stat().st_mtime_ns)
    assert peek_sign_in_choices(f"sqlite:///{db_path}")
    assert (db_path.read_bytes(), db_path.stat().st_mtime_ns) == before


class HeldOpen:
    """Holds the app's opening of the database until the test lets it go."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.go = threading.Event()
        self.started = threading.Event()
        load_and_open = app_module._load_and_open

        def held(*args: Any) -> Any:
            self.started.set()
            self.go.wait(30)
            return load_and_open(*args)

        monkeypatch.setattr(app_module, "_load_and_open", held)


def listed(screen: object) -> list[str]:
    assert isinstance(screen, SignInScreen)
    options = screen.query_one("#sign-in-practitioners", OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_sign_in_shows_who_is_there_before_the_database_is_open_and_waits_for_it(
    db_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = clinic(db)
    held = HeldOpen(monkeypatch)
    app = make_app(db_path, None, MovableClock())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(current(pilot), SignInScreen) and bool(listed(current(pilot))))
        screen = current(pilot)
        assert isinstance(screen, SignInScreen)
        await wait_for(pilot, held.started.is_set)
        assert app.database is None and listed(screen), "the list is up while storage still opens"
        beneath = list(app.screen_stack[0].query(LoadingIndicator))
        assert beneath and all(i.auto_refresh is None for i in beneath), "nothing animates under the sign-in"
        assert [line.strip(" ▶").split("  (")[0] for line in listed(screen)] == sorted(set(NAMES) - {"Bo Li"})
        await wait_for(pilot, lambda: screen.chosen is not None and screen.focused is not None)
        assert screen.chosen is not None and screen.chosen.name == "Ana Ruiz"
        await pilot.press(*PIN, "enter")  # typed at once: checked once the database is open
        await wait_for(pilot, lambda: "Opening the database" in str(screen.query_one("#sign-in-error", Static).content))
        assert isinstance(current(pilot), SignInScreen), "nothing is checked against the preview"
        held.go.set()
        await wait_for(
            pilot, lambda: isinstance(current(pilot), StartScreen) and bool(current(pilot).query("#signed-in"))
        )
        start = current(pilot)
        assert isinstance(start, StartScreen)
        assert start.practitioner is not None and start.practitioner.id == ids["Ana Ruiz"]
        assert str(start.query_one("#signed-in", Static).content) == "Ana Ruiz"


async def test_a_name_the_stored_list_does_not_have_is_never_checked(
    db_path: Path, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The peek read another file than the database the settings named (it guesses before they are
    checked): the name chosen from it is refused and the stored list shown instead."""
    clinic(db)
    other_path = tmp_path / "other.db"
    other = open_database(str(other_path))
    with other.Session.begin() as s:
        stranger = add_practitioner(s, "Somebody Else")
        set_pin(s, stranger.id, PIN, PIN, now=NOW)
    other.close()
    monkeypatch.setattr(
        app_module, "_peek_sign_in", lambda url, settings: peek_sign_in_choices(f"sqlite:///{other_path}")
    )
    held = HeldOpen(monkeypatch)
    app = make_app(db_path, None, MovableClock())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(current(pilot), SignInScreen) and bool(listed(current(pilot))))
        screen = current(pilot)
        assert isinstance(screen, SignInScreen)
        await wait_for(pilot, lambda: screen.chosen is not None and screen.focused is not None)
        assert screen.chosen == SignInChoice(stranger.id, "Somebody Else", True)
        await pilot.press(*PIN, "enter")
        held.go.set()
        await wait_for(
            pilot, lambda: "choose your name again" in str(screen.query_one("#sign-in-error", Static).content)
        )
        assert current(pilot) is screen, "not signed in"
        assert "Somebody Else" not in " ".join(listed(screen)) and "Ana Ruiz" in " ".join(listed(screen))
