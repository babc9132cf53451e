"""Outcome entry at session 6 and the follow-ups, driven with the Pilot; assertions read the stored records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.screen import Screen
from textual.widgets import Input, Select, Static

from stampside.app.domain.outcomes import Severity
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage.courses import start_course
from stampside.app.storage.database import Database, open_database
from stampside.app.storage.outcomes import list_adverse_events, list_assessments, list_self_assessments
from stampside.app.storage.sessions import finish_session, open_session
from stampside.app.tui.screens.outcomes import OutcomesScreen

from .course_helpers import NOW, SIZE, TODAY, WHO, Clock, Host, context, seed, settle


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(str(tmp_path / "stampside.db"))
    yield database
    database.close()


def text(screen: Screen[Any], selector: str) -> str:
    return str(screen.query_one(selector, Static).content)


def course_with_sessions(db: Database, patient_id: int, practitioner_id: int, sessions: int = 6) -> int:
    with db.Session.begin() as s:
        course_id = start_course(s, patient_id, now=NOW - timedelta(days=7 * sessions + 1))
        for number in range(sessions):
            at = NOW - timedelta(days=7 * (sessions - number))
            view = open_session(s, course_id, protocol=default_protocol(), practitioner_id=practitioner_id, now=at)
            finish_session(s, view.id, now=at + timedelta(hours=1))
    return course_id


async def test_assessment_answers_and_an_adverse_event_are_stored(db: Database) -> None:
    practitioner, patient = seed(db)
    course_id = course_with_sessions(db, patient.id, practitioner.id)
    app = Host(lambda: OutcomesScreen(context(db, Clock()), patient.id))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, OutcomesScreen)
        assert screen.course_id == course_id
        assert "Nothing recorded" in text(screen, "#outcome-records")
        # Incomplete: each missing piece is named, nothing stored.
        screen.query_one("#iga-density", Select).value = "2"
        await pilot.press("ctrl+s")
        await settle(pilot)
        message = text(screen, "#course-message")
        assert "coverage: not rated: choose" in message
        assert "overall: needs an answer" in message
        screen.query_one("#iga-coverage", Select).value = "1"
        screen.query_one("#q-overall", Select).value = "better"
        screen.query_one("#q-density", Select).value = "slightly_better"
        screen.query_one("#q-satisfied", Select).value = "yes"
        screen.query_one("#q-recommend", Select).value = "yes"
        screen.query_one("#q-comments", Input).value = "less shedding"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "After session 6: assessment and the patient's answers saved." in text(screen, "#course-message")
        assert "After session 6: density +2, coverage +1 by Dr. Ana Ruiz" in text(screen, "#outcome-records")
        # The 3-month follow-up.
        screen.query_one("#time-point", Select).value = "month_3"
        screen.query_one("#iga-density", Select).value = "1"
        screen.query_one("#iga-coverage", Select).value = "0"
        await pilot.press("ctrl+s")
        await settle(pilot)
        # An adverse event, typed.
        screen.query_one("#ae-what", Input).focus()
        await pilot.press(*"Pinpoint bleeding")
        screen.query_one("#ae-onset", Input).value = (TODAY - timedelta(days=20)).isoformat()
        screen.query_one("#ae-severity", Select).value = "mild"
        screen.query_one("#ae-session", Input).value = "4"
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert "Adverse event recorded: Pinpoint bleeding." in text(screen, "#course-message")
        # A future onset is refused with a message.
        screen.query_one("#ae-what", Input).value = "itching"
        screen.query_one("#ae-onset", Input).value = (TODAY + timedelta(days=2)).isoformat()
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert "is in the future" in text(screen, "#course-message")
    with db.Session.begin() as s:
        assessments = [
            (a.assessment.time_point, a.assessment.density, a.assessment.coverage, a.assessment.rater)
            for a in list_assessments(s, course_id)
        ]
        answers = list_self_assessments(s, course_id)
        events = list_adverse_events(s, course_id)
    assert assessments == [("after_session_6", 2, 1, WHO), ("month_3", 1, 0, WHO)]
    first = answers[0].self_assessment
    assert first.time_point == "after_session_6"
    assert {a.question_id: (a.value, a.score) for a in first.answers} == {
        "overall": ("better", 2),
        "density": ("slightly_better", 1),
        "satisfied": ("yes", None),
        "recommend": ("yes", None),
        "comments": ("less shedding", None),
    }
    assert first.improved(default_protocol().outcomes) is True
    assert len(events) == 1
    event = events[0]
    assert (event.event.what, event.event.severity, event.event.session_number, event.recorded_by) == (
        "Pinpoint bleeding",
        Severity.MILD,
        4,
        WHO,
    )
    assert event.session_id is not None


async def test_a_patient_without_a_course_is_told_so(db: Database) -> None:
    _, patient = seed(db)
    app = Host(lambda: OutcomesScreen(context(db, Clock()), patient.id))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert "No course yet" in text(screen, "#outcome-records")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "No course for this patient" in text(screen, "#course-message")
