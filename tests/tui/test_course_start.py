"""The course around the session in the whole app: the screening gate, the baseline photo gate, the schedule window
and the due list, driven with the Pilot on a real SQLite file and a fixed clock; assertions read storage.

The course's earlier sessions are seeded through storage here and the app is tested where the course decides: at the
start. tests/tui/test_course_six_sessions.py drives a whole course of six sessions through the step screens.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.screen import Screen
from textual.widgets import Button, Input, Select, Static

from stampside.app.domain.course_gates import CourseGate
from stampside.app.domain.schedule import Timing
from stampside.app.domain.signatures import SignatureMeaning
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage.courses import course_screening_id, course_summary
from stampside.app.storage.database import Database, open_database
from stampside.app.storage.schedule import course_overrides, deviations
from stampside.app.storage.sessions import find_open_session, finish_session, open_session
from stampside.app.storage.signatures import signatures_of_patient
from stampside.app.tui.app import AppConfig, StampsideApp, create_app
from stampside.app.tui.dialogs.choice import ChoiceDialog
from stampside.app.tui.dialogs.confirm import ConfirmDialog
from stampside.app.tui.dialogs.course_override import CourseOverrideDialog
from stampside.app.tui.screens.screening import ScreeningScreen
from stampside.app.tui.screens.start import StartScreen
from stampside.app.tui.widgets.due_list import DueList

from .course_helpers import NOW, TODAY, WHO, Clock, ready_for_course, seed, wait_for
from .sign_in_helpers import past_sign_in, sign_with_pin

SIZE = (110, 40)


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("STAMPSIDE_PHOTOS", raising=False)
    return tmp_path / "stampside.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = open_database(str(db_path))
    yield database
    database.close()


def make_app(db_path: Path, clock: Clock) -> StampsideApp:
    return create_app(AppConfig(database=str(db_path), protocol=default_protocol(), clock=clock, tz=UTC))


def current(app: App[None]) -> Screen[Any]:
    return app.screen


async def start_screen(pilot: Any, code: str = "P-0042") -> StartScreen:
    await past_sign_in(pilot)
    await wait_for(pilot, lambda: isinstance(current(pilot.app), StartScreen))
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    screen = current(pilot.app)
    assert isinstance(screen, StartScreen)
    search = screen.query_one("#patient-search", Input)
    search.focus()
    search.value = code
    await pilot.pause()
    await pilot.press("enter", "enter")
    await pilot.pause()
    return screen


def notified(app: App[None], text: str) -> bool:
    return any(text in n.message for n in app._notifications)


async def test_no_passing_screening_no_course_until_an_override_with_a_reason(db_path: Path, db: Database) -> None:
    practitioner, patient = seed(db)
    app = make_app(db_path, Clock())
    async with app.run_test(size=SIZE) as pilot:
        await start_screen(pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(current(app), ConfirmDialog))
        question = str(current(app).query_one(".dialog-text", Static).content)
        assert "The course cannot start: no screening recorded" in question
        await pilot.press("n")  # not now: nothing starts
        await wait_for(pilot, lambda: notified(app, "the course cannot start"))
        with db.Session.begin() as s:
            assert course_summary(s, patient.id) is None
        # Again, and this time into the screening form: a smoker, excluded. Opening the form is
        # the main action: its button has the focus and says so, so enter takes it.
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(current(app), ConfirmDialog))
        dialog = current(app)
        await wait_for(pilot, lambda: dialog.focused is not None)
        assert dialog.focused is dialog.query_one("#confirm", Button)
        assert [str(b.label) for b in dialog.query(Button)] == ["Screening (y, enter)", "Not now (n)"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(current(app), ScreeningScreen))
        form = current(app)
        form.query_one("#sex", Select).value = "male"
        form.query_one("#smoker", Select).value = "yes"
        form.query_one("#norwood", Select).value = "4"
        for lab in ("vitamin_d", "vitamin_b12", "ferritin", "tsh"):
            form.query_one(f"#lab-{lab}-date", Input).value = (TODAY - timedelta(days=5)).isoformat()
            form.query_one(f"#lab-{lab}-flag", Select).value = "normal"
        await pilot.press("ctrl+s")
        verdict = await sign_with_pin(pilot)  # the verdict is signed (reviewed) before it is stored
        assert "not eligible: smoker" in verdict.what and verdict.meaning is SignatureMeaning.REVIEWED
        await wait_for(pilot, lambda: "Not eligible" in str(form.query_one("#verdict", Static).content))
        assert f"✍ signed {WHO} · reviewed" in str(form.query_one("#verdict", Static).content)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(current(app), CourseOverrideDialog))
        await pilot.press(*"stopped smoking in spring, physician approved", "enter")
        assert (await sign_with_pin(pilot)).meaning is SignatureMeaning.OVERRIDDEN
        await wait_for(pilot, lambda: "Overridden by" in str(form.query_one("#verdict", Static).content))
        assert f"✍ signed {WHO} · overridden" in str(form.query_one("#verdict", Static).content)
        await pilot.press("escape")  # back: the course starts, and session 1 meets the baseline photo gate
        await wait_for(pilot, lambda: isinstance(current(app), ChoiceDialog))
        choice = current(app)
        await wait_for(pilot, lambda: choice.focused is not None)
        assert choice.focused is choice.query_one("#choice-p", Button), "registering photos is the main action"
        assert [str(b.label) for b in choice.query(Button)] == [
            "Register photos (p, enter)",
            "Override (o)",
            "Cancel (esc)",
        ]
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(current(app), CourseOverrideDialog))
        await pilot.press(*"camera broken today, photos tomorrow before stamping", "enter")
        assert "camera broken today" in (await sign_with_pin(pilot)).what
        await wait_for(pilot, lambda: notified(app, "Session 1 started"))
    with db.Session.begin() as s:
        summary = course_summary(s, patient.id)
        assert summary is not None
        screening_id = course_screening_id(s, summary.course_id)
        overrides = course_overrides(s, summary.course_id)
        opened = find_open_session(s, patient_id=patient.id)
        signed = [(v.record_type, v.meaning.value) for v in signatures_of_patient(s, patient.id)]
    assert signed == [
        ("screenings", "reviewed"),
        ("screenings", "overridden"),
        ("course_overrides", "overridden"),
    ]
    assert screening_id is not None
    assert opened is not None and opened.number == 1 and opened.practitioner_id == practitioner.id
    assert [(o.override.gate, o.override.reason, o.override.by, o.session_id) for o in overrides] == [
        (CourseGate.BASELINE_PHOTOS, "camera broken today, photos tomorrow before stamping", WHO, opened.id)
    ]


async def test_an_early_session_needs_a_reason_like_any_override_and_the_deviation_is_stored(
    db_path: Path, db: Database
) -> None:
    practitioner, patient = seed(db)
    course_id = ready_for_course(db, patient.id, NOW - timedelta(days=4))
    with db.Session.begin() as s:
        first = open_session(
            s,
            course_id,
            protocol=default_protocol(),
            practitioner_id=practitioner.id,
            now=NOW - timedelta(days=3, hours=1),
        )
        finish_session(s, first.id, now=NOW - timedelta(days=3))
    app = make_app(db_path, Clock())
    async with app.run_test(size=SIZE) as pilot:
        await start_screen(pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(current(app), CourseOverrideDialog))
        question = str(current(app).query_one("#override-failure", Static).content)
        assert "Session 2 would start early: 3 days after the previous session; the protocol's window is 5–10 days" in (
            question
        )
        assert f"{NOW.date() + timedelta(days=4):%a %d %b %Y}" in question, "the due day has its weekday and year"
        await pilot.press("escape")
        await wait_for(pilot, lambda: notified(app, "Session not started"))
        with db.Session.begin() as s:
            assert find_open_session(s, patient_id=patient.id) is None
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(current(app), CourseOverrideDialog))
        dialog = current(app)
        await pilot.press("enter")  # no reason: refused in place, like every other override
        await wait_for(pilot, lambda: "needs a reason" in str(dialog.query_one("#override-error", Static).content))
        assert current(app) is dialog
        await pilot.press(*"patient away next week", "enter")
        assert (await sign_with_pin(pilot)).meaning is SignatureMeaning.OVERRIDDEN
        await wait_for(pilot, lambda: notified(app, "Session 2 started"))
    with db.Session.begin() as s:
        opened = find_open_session(s, patient_id=patient.id)
        recorded = deviations(s, course_id)
        assert [(v.record_type, v.signer) for v in signatures_of_patient(s, patient.id)] == [
            ("schedule_deviations", WHO)
        ]
    assert opened is not None and opened.number == 2
    deviation = recorded[opened.id]
    assert (deviation.timing, deviation.days_since_previous, deviation.confirmed_by) == (Timing.EARLY, 3, WHO)
    assert deviation.confirmed_at == NOW
    assert deviation.note == "patient away next week"


async def test_the_due_list_shows_the_3_month_follow_up_and_chooses_its_patient(db_path: Path, db: Database) -> None:
    practitioner, patient = seed(db)
    start = NOW - timedelta(days=7 * 5 + 92)
    course_id = ready_for_course(db, patient.id, start)
    with db.Session.begin() as s:
        for number in range(6):
            at = start + timedelta(days=7 * number)
            view = open_session(s, course_id, protocol=default_protocol(), practitioner_id=practitioner.id, now=at)
            finish_session(s, view.id, now=at + timedelta(hours=1))
    app = make_app(db_path, Clock())
    async with app.run_test(size=SIZE) as pilot:
        await past_sign_in(pilot)
        await wait_for(pilot, lambda: isinstance(current(app), StartScreen))
        screen = current(app)
        assert isinstance(screen, StartScreen)
        due = screen.query_one("#due-items", DueList)
        await wait_for(pilot, lambda: bool(due.items))
        assert [(item.patient_code, item.label, item.when.value) for item in due.items] == [
            ("P-0042", "3-month follow-up", "today")
        ]
        line = str(due.get_option_at_index(0).prompt)
        assert line.startswith("today") and "P-0042" in line and "3-month follow-up" in line
        await pilot.press("d", "enter")
        await wait_for(pilot, lambda: screen.course is not None)
        assert screen.course is not None and screen.course.patient.code == "P-0042"


async def test_the_due_list_is_read_again_when_the_day_changes(db_path: Path, db: Database) -> None:
    practitioner, patient = seed(db)
    # The 3-month follow-up falls due 8 days after "now": outside this week's list until two days pass.
    last = NOW - timedelta(days=92 - 8)
    start = last - timedelta(days=7 * 5)
    course_id = ready_for_course(db, patient.id, start)
    with db.Session.begin() as s:
        for number in range(6):
            at = start + timedelta(days=7 * number)
            view = open_session(s, course_id, protocol=default_protocol(), practitioner_id=practitioner.id, now=at)
            finish_session(s, view.id, now=at)
    clock = Clock()
    app = make_app(db_path, clock)
    async with app.run_test(size=SIZE) as pilot:
        await past_sign_in(pilot)
        await wait_for(pilot, lambda: isinstance(current(app), StartScreen))
        screen = current(app)
        assert isinstance(screen, StartScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        due = screen.query_one("#due-items", DueList)
        assert due.items == []
        screen._check_day()  # the minute timer's call; the day has not changed: nothing re-read
        clock.advance(days=3)
        screen._check_day()
        await wait_for(pilot, lambda: bool(due.items))
        assert [(item.label, item.when.value) for item in due.items] == [("3-month follow-up", "this_week")]
