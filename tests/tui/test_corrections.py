"""Correcting stored records in the app, driven with the Pilot: pick, change, give a reason, sign with the PIN."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.screen import Screen
from textual.widgets import Input, Select, Static

from stampside.app.chairside.sign_in import check_signer
from stampside.app.domain.outcomes import AdverseEvent, IgaAssessment, Severity
from stampside.app.domain.signatures import SignatureMeaning, SignedAct
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage.audit_trail import read_trail
from stampside.app.storage.audit_verify import verify_trail
from stampside.app.storage.corrections import corrections_of_patient
from stampside.app.storage.courses import start_course
from stampside.app.storage.database import Database, open_database
from stampside.app.storage.outcomes import (
    list_adverse_events,
    list_assessments,
    record_adverse_event,
    record_assessment,
)
from stampside.app.storage.patients import get_patient
from stampside.app.storage.pins import set_pin
from stampside.app.storage.screening import get_screening, latest_screening
from stampside.app.storage.sessions import finish_session, open_session
from stampside.app.tui.app import AppConfig, create_app
from stampside.app.tui.dialogs.correction import CorrectionDialog, PickEntryDialog
from stampside.app.tui.dialogs.sign import SignDialog
from stampside.app.tui.screens.course_base import CourseContext
from stampside.app.tui.screens.outcomes import OutcomesScreen
from stampside.app.tui.screens.screening import ScreeningScreen
from stampside.app.tui.screens.start import StartScreen

from .course_helpers import NOW, SIZE, WHO, Clock, Host, context, screen_patient, seed, settle, wait_for
from .sign_in_helpers import PIN, past_sign_in, sign_with_pin

REASON = "typed into the wrong field"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(str(tmp_path / "stampside.db"))
    yield database
    database.close()


def signing(db: Database, clock: Clock, practitioner_id: int) -> CourseContext:
    """The course screens' context, signing with the practitioner's PIN as the app does."""
    with db.Session.begin() as s:
        set_pin(s, practitioner_id, PIN, PIN, now=NOW - timedelta(days=1))

    def sign(what: str, act: SignedAct) -> SignDialog:
        return SignDialog(
            what, act.meaning, who=WHO, verify=lambda pin: check_signer(db, practitioner_id, pin, now=clock())
        )

    return replace(context(db, clock), sign=sign)


def text(screen: Screen[Any], selector: str) -> str:
    return str(screen.query_one(selector, Static).content)


def outcomes_course(db: Database, patient_id: int, practitioner_id: int) -> int:
    with db.Session.begin() as s:
        course_id = start_course(s, patient_id, now=NOW - timedelta(days=50))
        for number in range(2):
            at = NOW - timedelta(days=7 * (6 - number))
            view = open_session(s, course_id, protocol=default_protocol(), practitioner_id=practitioner_id, now=at)
            finish_session(s, view.id, now=at + timedelta(hours=1))
        record_assessment(s, course_id, IgaAssessment("after_session_6", 1, 0, WHO), now=NOW - timedelta(days=2))
        record_adverse_event(
            s,
            course_id,
            AdverseEvent("itching", date(2026, 11, 10), Severity.MILD, None, 1, ""),
            recorded_by=WHO,
            now=NOW - timedelta(days=2),
        )
    return course_id


async def open_correction(pilot: Any, downs: int = 0) -> CorrectionDialog[Any]:
    app = pilot.app
    await pilot.press("f2")
    await wait_for(pilot, lambda: isinstance(app.screen, PickEntryDialog))
    await pilot.press(*(["down"] * downs), "enter")
    await wait_for(pilot, lambda: isinstance(app.screen, CorrectionDialog))
    dialog = app.screen
    assert isinstance(dialog, CorrectionDialog)
    return dialog


async def type_reason(pilot: Any, dialog: CorrectionDialog[Any], reason: str) -> None:
    field = dialog.query_one("#fix-reason", Input)
    field.value = ""
    field.focus()
    await pilot.press(*reason, "enter")
    await pilot.pause()


async def test_an_assessment_and_an_adverse_event_are_corrected_with_a_reason_and_signed(db: Database) -> None:
    practitioner, patient = seed(db)
    course_id = outcomes_course(db, patient.id, practitioner.id)
    app = Host(lambda: OutcomesScreen(signing(db, Clock(), practitioner.id), patient.id))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, OutcomesScreen)
        # The assessment: the form shows its values; nothing changed is refused, so is a short reason.
        dialog = await open_correction(pilot)
        assert "density +1, coverage +0" in text(dialog, "#fix-current")
        assert dialog.query_one("#fix-density", Select).value == "1"
        assert "(ctrl+s, enter)" in str(dialog.query_one("#save").render())
        await type_reason(pilot, dialog, REASON)
        assert "nothing changed" in text(dialog, "#fix-error")
        dialog.query_one("#fix-density", Select).value = "2"
        await type_reason(pilot, dialog, "typo")
        assert "too short" in text(dialog, "#fix-error") and app.screen is dialog
        await type_reason(pilot, dialog, REASON)
        signed = await sign_with_pin(pilot)
        assert signed.meaning is SignatureMeaning.APPROVED and REASON in signed.what
        await settle(pilot)
        assert "Corrected: IGA density: 1 → 2." in text(screen, "#course-message")
        records = text(screen, "#outcome-records")
        assert "density +2, coverage +0" in records
        assert f"corrected 2026-11-26 by {WHO}: {REASON}" in records
        # The adverse event (the second entry): a future onset is refused in the form, then severity corrected.
        dialog = await open_correction(pilot, downs=1)
        assert dialog.query_one("#fix-what", Input).value == "itching"
        dialog.query_one("#fix-onset", Input).value = "2026-12-30"
        await type_reason(pilot, dialog, "severity was misjudged at first")
        assert "onset: 2026-12-30 is in the future" in text(dialog, "#fix-error")
        dialog.query_one("#fix-onset", Input).value = "2026-11-10"
        dialog.query_one("#fix-severity", Select).value = "moderate"
        await type_reason(pilot, dialog, "severity was misjudged at first")
        await sign_with_pin(pilot)
        await settle(pilot)
        assert "Corrected: severity: mild → moderate." in text(screen, "#course-message")
        # Cancelling at the PIN stores nothing.
        dialog = await open_correction(pilot, downs=1)
        dialog.query_one("#fix-notes", Input).value = "seen again"
        await type_reason(pilot, dialog, "note was forgotten at first")
        await wait_for(pilot, lambda: isinstance(app.screen, SignDialog))
        await pilot.press("escape")
        await settle(pilot)
        assert "Not saved" in text(screen, "#course-message")
    with db.Session.begin() as s:
        assert [v.assessment.density for v in list_assessments(s, course_id)] == [2]
        (event,) = list_adverse_events(s, course_id)
        assert (event.event.severity, event.event.notes) == (Severity.MODERATE, "")
        kept = corrections_of_patient(s, patient.id)
        assert [(c.table, c.reason) for c in kept] == [
            ("outcome_assessments", REASON),
            ("adverse_events", "severity was misjudged at first"),
        ]
        assert all(c.signature is not None and c.signature.signer == WHO for c in kept)
        assert verify_trail(s).ok


async def test_a_screening_is_corrected_from_the_screening_screen(db: Database) -> None:
    practitioner, patient = seed(db)
    screen_patient(db, patient.id)
    app = Host(lambda: ScreeningScreen(signing(db, Clock(), practitioner.id), patient.id))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ScreeningScreen)
        dialog = await open_correction(pilot)
        assert dialog.query_one("#fix-smoker", Select).value == "no"
        assert dialog.query_one("#fix-lab-ferritin-flag", Select).value == "normal"
        dialog.query_one("#fix-lab-ferritin-flag", Select).value = "abnormal"
        await type_reason(pilot, dialog, "lab report misread at the desk")
        await sign_with_pin(pilot)
        await settle(pilot)
        message = text(screen, "#course-message")
        assert "Corrected:" in message and "verdict: eligible → not_eligible" in message
        verdict = text(screen, "#verdict")
        assert "Not eligible" in verdict
        assert f"corrected 2026-11-26 by {WHO}: lab report misread at the desk" in verdict
    with db.Session.begin() as s:
        latest = latest_screening(s, patient.id, protocol=default_protocol())
        assert latest is not None and latest.stored_result == "not_eligible"
        again = get_screening(s, latest.id, protocol=default_protocol())
        assert {lab.test: lab.flag.value for lab in again.screening.labs}["ferritin"] == "abnormal"
        updates = [e for e in read_trail(s, tables=["screening_lab_results"]) if e.action == "update"]
        assert [(e.before or {}).get("flag") for e in updates] == ["normal"]


async def test_patient_details_are_corrected_from_the_start_screen(tmp_path: Path) -> None:
    path = tmp_path / "clinic.db"
    database = open_database(str(path))
    try:
        _, patient = seed(database)
    finally:
        database.close()
    app = create_app(AppConfig(database=str(path), protocol=default_protocol(), clock=Clock()))
    async with app.run_test(size=(120, 40)) as pilot:
        await past_sign_in(pilot, WHO)
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen) and bool(app.screen.query("#patient-search")))
        await settle(pilot)
        start = app.screen
        assert isinstance(start, StartScreen)
        search = start.query_one("#patient-search", Input)
        search.focus()
        search.value = "P-0042"
        await pilot.pause()
        await pilot.press("enter", "enter")  # to the list, then chosen
        await pilot.pause()
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, CorrectionDialog))
        dialog = app.screen
        assert isinstance(dialog, CorrectionDialog)
        assert "P-0042" in text(dialog, "#fix-current")
        name = dialog.query_one("#fix-name", Input)
        name.focus()
        await pilot.press(*"Jon Smith")
        dialog.query_one("#fix-birth-year", Input).value = "19x9"
        await type_reason(pilot, dialog, "name was missing at registration")
        assert "year of birth: '19x9' is not a year" in text(dialog, "#fix-error")
        dialog.query_one("#fix-birth-year", Input).value = "1979"
        await type_reason(pilot, dialog, "name was missing at registration")
        signed = await sign_with_pin(pilot)
        assert signed.meaning is SignatureMeaning.APPROVED
        await wait_for(pilot, lambda: "Jon Smith" in str(start.query_one("#patient-line", Static).content))
        line = str(start.query_one("#patient-line", Static).content)
        assert "P-0042 · Jon Smith · b. 1979" in line
        assert f"corrected 2026-11-26 by {WHO}: name was missing at registration" in line
    database = open_database(str(path))
    try:
        with database.Session.begin() as s:
            stored = get_patient(s, patient.id)
            assert stored is not None and (stored.name, stored.birth_year) == ("Jon Smith", 1979)
            (update,) = [e for e in read_trail(s, tables=["patients"]) if e.action == "update"]
            assert (update.before or {}).get("name") is None and (update.after or {}).get("name") == "Jon Smith"
            assert verify_trail(s).ok
    finally:
        database.close()
