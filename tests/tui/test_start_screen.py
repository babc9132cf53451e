"""The start screen, driven with the Pilot on a real SQLite file; assertions read the stored records.

Every run signs in first (the sign-in screen covers the start screen until someone has).
"""

from __future__ import annotations

import html
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from textual.app import App
from textual.message import Message
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Button, Input, Static

import stampside.app.tui.screens.start as start_module
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage.courses import course_summary, start_course
from stampside.app.storage.database import Database, open_database
from stampside.app.storage.patients import NewPatient, PatientView, create_patient, find_patient
from stampside.app.storage.pins import pin_states
from stampside.app.storage.practitioners import PractitionerView, add_practitioner, list_practitioners
from stampside.app.storage.sessions import find_open_session, finish_session, open_session
from stampside.app.tui.app import AppConfig, StampsideApp, create_app
from stampside.app.tui.commands import commands_for
from stampside.app.tui.dialogs.confirm import ConfirmDialog
from stampside.app.tui.dialogs.new_patient import NewPatientDialog
from stampside.app.tui.dialogs.new_practitioner import NewPractitionerDialog
from stampside.app.tui.dialogs.storage_error import StorageErrorDialog
from stampside.app.tui.screens.sign_in import SignInScreen
from stampside.app.tui.screens.start import StartScreen, StartSessionRequested

from .course_helpers import ready_for_course, wait_for
from .sign_in_helpers import sign_in

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SIZE = (100, 30)


def clock() -> datetime:
    return NOW


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "stampside.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = open_database(str(db_path))
    yield database
    database.close()


def seed_practitioner(db: Database, name: str = "Dr. Ana Ruiz") -> PractitionerView:
    with db.Session.begin() as s:
        return add_practitioner(s, name)


def seed_patient(db: Database, code: str = "P-0042", **fields: str) -> PatientView:
    with db.Session.begin() as s:
        return create_patient(s, NewPatient.parse(code, **fields), now=NOW - timedelta(days=30))  # type: ignore[arg-type]


def make_app(db_path: Path) -> StampsideApp:
    """The app as `stampside app --db FILE` builds it: the app opens (and closes) the file itself."""
    return create_app(AppConfig(database=str(db_path), protocol=default_protocol(), clock=clock))


async def ready(pilot: Pilot[None], *, signed_in: bool = False) -> StartScreen:
    """The start screen, composed (it is the current screen a moment before its widgets are mounted),
    once the practitioner signed in (unless ``signed_in``: already done)."""
    app = pilot.app
    if not signed_in:
        await sign_in(pilot)
    await wait_for(pilot, lambda: isinstance(app.screen, StartScreen) and bool(app.screen.query("#patient-search")))
    await app.workers.wait_for_complete()
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, StartScreen), screen
    return screen


def current(app: App[None]) -> Screen[object]:
    """The screen on top (a function, so type narrowing from earlier asserts does not stick)."""
    return app.screen


def text_of(screen: StartScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).content)


async def choose_patient(pilot: Pilot[None], screen: StartScreen, code: str) -> None:
    search = screen.query_one("#patient-search", Input)
    search.focus()
    search.value = code
    await pilot.pause()
    await pilot.press("enter")  # to the list, first match highlighted
    await pilot.press("enter")  # chosen
    await pilot.pause()


async def test_a_practitioner_added_at_sign_in_chooses_a_pin_and_is_signed_in(db_path: Path, db: Database) -> None:
    async with make_app(db_path).run_test(size=SIZE) as pilot:
        await wait_for(
            pilot, lambda: isinstance(pilot.app.screen, SignInScreen) and pilot.app.screen.focused is not None
        )
        assert "No practitioners yet" in str(pilot.app.screen.query_one("#sign-in-practitioners").render_line(0).text)
        await pilot.press("ctrl+n")
        # Waited for, not one pause: on a loaded machine the dialog may need more than one turn.
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, NewPractitionerDialog))
        dialog = pilot.app.screen
        await pilot.press("enter")  # empty name: refused in the dialog
        await wait_for(pilot, lambda: "empty" in str(dialog.query_one("#practitioner-error", Static).content))
        assert pilot.app.screen is dialog
        await pilot.press(*"Dr. Ana Ruiz", "enter")
        await sign_in(pilot, "Dr. Ana Ruiz")  # the first sign-in: the PIN typed twice
        screen = await ready(pilot, signed_in=True)
        assert screen.practitioner is not None and screen.practitioner.name == "Dr. Ana Ruiz"
        assert text_of(screen, "#signed-in") == "Dr. Ana Ruiz"
    with db.Session.begin() as s:
        assert [p.name for p in list_practitioners(s)] == ["Dr. Ana Ruiz"]
        assert set(pin_states(s)) == {screen.practitioner.id}, "her PIN is stored (as a hash)"


async def test_a_typo_in_the_new_patient_dialog_is_shown_and_fixed_in_place(db_path: Path, db: Database) -> None:
    seed_practitioner(db)
    async with make_app(db_path).run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, NewPatientDialog))
        dialog = pilot.app.screen
        assert isinstance(dialog, NewPatientDialog)
        await pilot.press(*"p-0042", "tab", *"Jane Doe", "tab", *"198S", "enter")
        await wait_for(pilot, lambda: bool(str(dialog.query_one("#patient-error", Static).content)))
        assert pilot.app.screen is dialog, "a typo keeps the dialog open"
        error = str(dialog.query_one("#patient-error", Static).content)
        assert "year of birth: '198S' is not a year" in error
        assert dialog.query_one("#patient-code", Input).value == "p-0042"
        assert dialog.query_one("#patient-name", Input).value == "Jane Doe"
        assert dialog.focused is dialog.query_one("#patient-birth-year", Input)
        await pilot.press("backspace", "4", "enter")
        await pilot.pause()
        assert current(pilot.app) is screen
        assert screen.course is not None and screen.course.patient.code == "P-0042"
        assert "Session 1 of 6" in text_of(screen, "#course-label")
    with db.Session.begin() as s:
        stored = find_patient(s, "P-0042")
    assert stored is not None
    assert (stored.name, stored.birth_year, stored.created_at) == ("Jane Doe", 1984, NOW)


async def test_a_code_already_in_use_is_refused_in_the_dialog(db_path: Path, db: Database) -> None:
    seed_practitioner(db)
    seed_patient(db, "P-0042")
    async with make_app(db_path).run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("n")
        await pilot.pause()
        dialog = pilot.app.screen
        await pilot.press(*"P-0042", "enter")
        await pilot.pause()
        assert pilot.app.screen is dialog
        assert "already in use" in str(dialog.query_one("#patient-error", Static).content)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(pilot.app.screen, StartScreen)


async def test_choosing_a_patient_shows_session_k_of_6_last_date_and_next_due(db_path: Path, db: Database) -> None:
    practitioner = seed_practitioner(db)
    patient = seed_patient(db, "P-0042", name="Jane Doe", norwood_grade="3V")
    seed_patient(db, "P-0099")
    with db.Session.begin() as s:
        course_id = start_course(s, patient.id, now=NOW - timedelta(days=14))
        first = open_session(s, course_id, protocol=default_protocol(), practitioner_id=practitioner.id, now=NOW)
        finish_session(s, first.id, now=datetime(2026, 11, 18, 14, 5, tzinfo=UTC))
    async with make_app(db_path).run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await choose_patient(pilot, screen, "jane")
        assert "P-0042 · Jane Doe · Norwood 3V" in text_of(screen, "#patient-line")
        assert text_of(screen, "#course-label") == "Session 2 of 6"
        dates = text_of(screen, "#course-dates")
        last = datetime(2026, 11, 18, 14, 5, tzinfo=UTC).astimezone().strftime("%a %d %b %Y %H:%M")
        due = datetime(2026, 11, 25, 14, 5, tzinfo=UTC).astimezone().strftime("%a %d %b %Y %H:%M")
        assert f"Last session: {last}" in dates
        assert f"Next due:     {due}" in dates
        assert pilot.app.focused is screen.query_one("#start-session", Button)


async def test_start_session_stores_an_open_session_and_says_so(db_path: Path, db: Database) -> None:
    practitioner = seed_practitioner(db)
    patient = seed_patient(db)
    ready_for_course(db, patient.id, NOW)  # screened, course started, baseline photos: the course gates pass
    requests: list[StartSessionRequested] = []

    def record(message: Message) -> None:
        # The hook sees the message at the screen and again where it bubbles to (the app).
        if isinstance(message, StartSessionRequested) and all(message is not seen for seen in requests):
            requests.append(message)

    app = make_app(db_path)
    async with app.run_test(size=SIZE, message_hook=record) as pilot:
        screen = await ready(pilot)
        await choose_patient(pilot, screen, "P-0042")
        await pilot.press("s")
        await wait_for(pilot, lambda: any("Session 1 started" in n.message for n in app._notifications))
        assert [(r.practitioner_id, r.patient_id, r.resume_session_id) for r in requests] == [
            (practitioner.id, patient.id, None)
        ]
        assert any("Session 1 started" in n.message for n in app._notifications)
        assert "Session 1 is still open" in text_of(screen, "#resume-offer"), "the screen now offers to resume it"
    with db.Session.begin() as s:
        stored = find_open_session(s, patient_id=patient.id)
        summary = course_summary(s, patient.id)
    assert stored is not None
    assert (stored.number, stored.practitioner_id, stored.started_at) == (1, practitioner.id, NOW)
    assert (stored.protocol_name, stored.protocol_version) == (default_protocol().name, default_protocol().version)
    assert summary is not None and summary.open_session_id == stored.id


async def test_an_unfinished_session_is_offered_for_resume_not_opened_twice(db_path: Path, db: Database) -> None:
    practitioner = seed_practitioner(db)
    patient = seed_patient(db)
    with db.Session.begin() as s:
        course_id = start_course(s, patient.id, now=NOW)
        left_open = open_session(s, course_id, protocol=default_protocol(), practitioner_id=practitioner.id, now=NOW)
    requests: list[StartSessionRequested] = []

    def record(message: Message) -> None:
        # The hook sees the message at the screen and again where it bubbles to (the app).
        if isinstance(message, StartSessionRequested) and all(message is not seen for seen in requests):
            requests.append(message)

    app = make_app(db_path)
    async with app.run_test(size=SIZE, message_hook=record) as pilot:
        # Offered first of all once signed in (waiting for it to be mounted: its focus is set then).
        await sign_in(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen.focused is not None)
        offer = str(app.screen.query_one(".dialog-text").render())
        assert "Session 1 of 6 for P-0042 is still open" in offer and "step 1 of 7" in offer, offer
        assert app.screen.focused is not None and app.screen.focused.id == "confirm", "enter resumes"
        await pilot.press("n")  # not now: the start screen, and the patient's course, as before
        screen = await ready(pilot, signed_in=True)
        await choose_patient(pilot, screen, "P-0042")
        assert "Session 1 is still open" in text_of(screen, "#resume-offer")
        assert str(screen.query_one("#start-session", Button).label) == "Resume session 1 (s)"
        await pilot.press("s")
        await pilot.pause()
        assert [r.resume_session_id for r in requests] == [left_open.id]
        assert any("Session 1 resumed" in n.message for n in app._notifications)
    with db.Session.begin() as s:
        still_open = find_open_session(s, patient_id=patient.id)
    assert still_open is not None and still_open.id == left_open.id


async def test_the_start_up_offer_resumes_the_open_session_with_enter(db_path: Path, db: Database) -> None:
    practitioner = seed_practitioner(db)
    patient = seed_patient(db)
    with db.Session.begin() as s:
        course_id = start_course(s, patient.id, now=NOW)
        left_open = open_session(s, course_id, protocol=default_protocol(), practitioner_id=practitioner.id, now=NOW)
    requests: list[StartSessionRequested] = []
    app = make_app(db_path)

    def record(message: Message) -> None:
        if isinstance(message, StartSessionRequested) and all(message is not seen for seen in requests):
            requests.append(message)

    async with app.run_test(size=SIZE, message_hook=record) as pilot:
        await sign_in(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen.focused is not None)
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(requests))
    assert [(r.resume_session_id, r.patient_id, r.practitioner_id) for r in requests] == [
        (left_open.id, patient.id, practitioner.id)
    ]


async def test_no_offer_when_no_session_is_open(db_path: Path, db: Database) -> None:
    seed_practitioner(db)
    seed_patient(db)
    app = make_app(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmDialog)


async def test_quit_asks_first_while_a_session_is_open(db_path: Path, db: Database) -> None:
    seed_practitioner(db)
    ready_for_course(db, seed_patient(db).id, NOW)
    app = make_app(db_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await choose_patient(pilot, screen, "P-0042")
        await pilot.press("s")
        await wait_for(pilot, lambda: app.open_session is not None)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")
        await pilot.pause()
        assert current(app) is screen and app.is_running
        await pilot.press("q", "y")
        await pilot.pause()
    assert app.return_code == 0


async def test_a_database_that_cannot_be_opened_is_explained_not_a_traceback(tmp_path: Path) -> None:
    app = create_app(AppConfig(database=str(tmp_path / "missing" / "folder" / "x.db"), clock=clock))
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, StorageErrorDialog)
        message = str(app.screen.query_one("#storage-error-message", Static).content)
        assert "cannot open the database file" in message
        await pilot.press("enter")
        await pilot.pause()
    assert app.return_code == 1


async def test_start_screen_screenshot_at_100x30(db_path: Path, db: Database, tmp_path: Path) -> None:
    seed_practitioner(db)
    seed_practitioner(db, "Marc Vidal")
    seed_patient(db, "P-0042", name="Jane Doe", birth_year="1984", norwood_grade="3V")
    seed_patient(db, "P-0043")
    async with make_app(db_path).run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await choose_patient(pilot, screen, "P-0042")
        path = Path(pilot.app.save_screenshot("start.svg", str(tmp_path)))
    svg = html.unescape(path.read_text(encoding="utf-8")).replace("\xa0", " ")
    for text in ("Practitioner", "Dr. Ana Ruiz", "signed in", "P-0042", "Jane Doe", "Session 1 of 6", "Start session"):
        assert text in svg, text
    for key in ("New patient", "Start / resume", "Quit"):
        assert key in svg, key


async def test_the_command_palette_offers_the_start_screen_actions(db_path: Path, db: Database) -> None:
    seed_practitioner(db)
    async with make_app(db_path).run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        app = pilot.app
        assert isinstance(app, StampsideApp)
        titles = [command.name for command in commands_for(app, screen)]
    assert {"Add practitioner", "New patient", "Start or resume session"} <= set(titles)


async def test_escape_leaves_the_search_for_the_patient_list(db_path: Path, db: Database) -> None:
    seed_practitioner(db)
    seed_patient(db)
    async with make_app(db_path).run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("slash")
        assert pilot.app.focused is screen.query_one("#patient-search", Input)
        await pilot.press("escape")
        assert pilot.app.focused is screen.query_one("#patients")


async def test_a_locked_database_while_saving_is_explained_in_the_dialog(
    db_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked(*args: object, **kwargs: object) -> PatientView:
        raise OperationalError("INSERT INTO patients", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(start_module, "create_patient", locked)
    seed_practitioner(db)
    async with make_app(db_path).run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.click("#new-patient")  # the mouse works too
        await pilot.pause()
        dialog = current(pilot.app)
        assert isinstance(dialog, NewPatientDialog)
        await pilot.press(*"P-0042", "enter")
        await pilot.pause()
        assert current(pilot.app) is dialog
        assert "is locked by another program" in str(dialog.query_one("#patient-error", Static).content)
        assert dialog.query_one("#patient-code", Input).value == "P-0042"


async def test_at_80_by_24_the_start_button_and_quit_stay_on_screen_with_a_session_open(
    db_path: Path, db: Database
) -> None:
    practitioner = seed_practitioner(db)
    patient = seed_patient(db)
    with db.Session.begin() as s:
        course_id = start_course(s, patient.id, now=NOW)
        open_session(s, course_id, protocol=default_protocol(), practitioner_id=practitioner.id, now=NOW)
    app = make_app(db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen.focused is not None)
        await pilot.press("n")  # not now
        screen = await ready(pilot, signed_in=True)
        await choose_patient(pilot, screen, "P-0042")
        button = screen.query_one("#start-session", Button)
        assert str(button.label) == "Resume session 1 (s)"
        region = button.region
        assert region.height > 0 and region.bottom <= 24 and region.right <= 80, region
        shown = [key for key, active in app.active_bindings.items() if active.binding.show]
        assert shown[:2] == ["s", "q"], "start and quit first: a narrow footer cuts from the right"
