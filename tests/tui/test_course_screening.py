"""The screening form, driven with the Pilot on a real SQLite file; assertions read the stored screening."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.screen import Screen
from textual.widgets import Input, Select, SelectionList, Static

from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage.courses import NotEligibleError, course_screening_id, start_screened_course
from stampside.app.storage.database import Database, open_database
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.app.storage.screening import latest_screening
from stampside.app.tui.dialogs.course_override import CourseOverrideDialog
from stampside.app.tui.screens.screening import ScreeningScreen

from .course_helpers import NOW, SIZE, TODAY, WHO, Clock, Host, context, current, seed, settle


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(str(tmp_path / "stampside.db"))
    yield database
    database.close()


def text(screen: Screen[Any], selector: str) -> str:
    return str(screen.query_one(selector, Static).content)


async def fill(screen: ScreeningScreen, *, smoker: str, tsh_flag: str = "normal") -> None:
    screen.query_one("#sex", Select).value = "male"
    screen.query_one("#smoker", Select).value = smoker
    screen.query_one("#norwood", Select).value = "3V"
    for lab in ("vitamin_d", "vitamin_b12", "ferritin", "tsh"):
        screen.query_one(f"#lab-{lab}-date", Input).value = (TODAY - timedelta(days=12)).isoformat()
        screen.query_one(f"#lab-{lab}-flag", Select).value = tsh_flag if lab == "tsh" else "normal"


async def test_a_smoker_is_excluded_and_an_override_with_a_reason_lets_the_course_start(db: Database) -> None:
    _, patient = seed(db)
    clock = Clock()
    app = Host(lambda: ScreeningScreen(context(db, clock), patient.id))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ScreeningScreen)
        assert "P-0042" in str(screen.query_one("#screening-title").render())
        # The lab list and the contraindications come from the protocol.
        items = screen.query_one("#contraindications", SelectionList)
        assert items.option_count == len(default_protocol().screening.contraindications)
        await fill(screen, smoker="yes", tsh_flag="abnormal")
        await pilot.press("ctrl+s")
        await settle(pilot)
        verdict = text(screen, "#verdict")
        assert "Not eligible" in verdict and "smoker" in verdict and "TSH (thyroid function): abnormal" in verdict
        # Not passing: the course cannot start.
        with db.Session.begin() as s, pytest.raises(NotEligibleError, match="smoker"):
            start_screened_course(s, patient.id, protocol=default_protocol(), now=NOW)
        await pilot.press("ctrl+o")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, CourseOverrideDialog)
        await pilot.press(*"ok", "enter")  # too short: refused in the dialog, text kept
        await pilot.pause()
        assert current(app) is dialog
        assert "too short" in str(dialog.query_one("#override-error", Static).content)
        await pilot.press(*" quit smoking last year, physician approved", "enter")
        await settle(pilot)
        assert current(app) is screen
        assert "Overridden by Dr. Ana Ruiz" in text(screen, "#verdict")
        await pilot.press("escape")
        await pilot.pause()
    assert app.results and app.results[-1] is not None
    with db.Session.begin() as s:
        stored = latest_screening(s, patient.id, protocol=default_protocol(), as_of=TODAY)
        assert stored is not None and stored.stored_result == "not_eligible"
        assert stored.result.override is not None
        assert stored.result.override.reason == "ok quit smoking last year, physician approved"
        assert stored.result.override.by == WHO
        course_id = start_screened_course(s, patient.id, protocol=default_protocol(), now=NOW)
        assert course_screening_id(s, course_id) == stored.id


async def test_a_passing_screening_is_stored_and_a_stale_result_flagged(db: Database) -> None:
    _, patient = seed(db)
    app = Host(lambda: ScreeningScreen(context(db, Clock()), patient.id))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ScreeningScreen)
        await fill(screen, smoker="no")
        screen.query_one("#lab-ferritin-date", Input).value = (TODAY - timedelta(days=120)).isoformat()
        await pilot.press("ctrl+s")
        await settle(pilot)
        verdict = text(screen, "#verdict")
        assert "✓ Eligible" in verdict
        assert "Ferritin (iron stores): result from" in verdict and "120 days old" in verdict
        assert screen.query_one("#override-screening").disabled
    with db.Session.begin() as s:
        stored = latest_screening(s, patient.id, protocol=default_protocol(), as_of=TODAY)
    assert stored is not None and stored.result.eligible and stored.result.stale_tests == ("ferritin",)


async def test_a_typo_is_explained_per_field_and_nothing_is_stored(db: Database) -> None:
    _, patient = seed(db)
    app = Host(lambda: ScreeningScreen(context(db, Clock()), patient.id))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ScreeningScreen)
        await fill(screen, smoker="no")
        screen.query_one("#lab-tsh-date", Input).value = "2026-13-01"
        screen.query_one("#norwood", Select).clear()
        await pilot.press("ctrl+s")
        await settle(pilot)
        message = text(screen, "#course-message")
        assert "TSH (thyroid function) date: '2026-13-01' is not a date; type it as YYYY-MM-DD" in message
        assert "Norwood grade: choose one" in message
        assert screen.query_one("#lab-tsh-date", Input).value == "2026-13-01", "what was typed is kept"
    with db.Session.begin() as s:
        assert latest_screening(s, patient.id, protocol=default_protocol()) is None


async def test_a_first_screening_starts_from_the_grade_recorded_with_the_patient(db: Database) -> None:
    seed(db)
    with db.Session.begin() as s:
        patient = create_patient(s, NewPatient.parse("P-0077", norwood_grade="3V"), now=NOW)
    assert patient.norwood_grade is not None
    app = Host(lambda: ScreeningScreen(context(db, Clock()), patient.id))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ScreeningScreen)
        assert screen.query_one("#norwood", Select).value == patient.norwood_grade.value
        assert screen.query_one("#sex", Select).is_blank()  # nothing else is guessed
