"""Signed records on the reports (21 CFR Part 11 §11.50): the signer's name, the meaning and the time.

The records are stored by the app's own use cases with a signer (as the app does once the
PIN was typed); the HTML reports print each signature next to its record and list them all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from stampside.app.domain.course_gates import CourseGate, CourseOverride
from stampside.app.domain.eligibility import LabResult, Screening
from stampside.app.domain.gates import Gate
from stampside.app.domain.outcomes import validate_adverse_event, validate_iga
from stampside.app.domain.signatures import Signer
from stampside.app.domain.steps import SessionFlow
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.reports import build_course_report, build_session_report, render
from stampside.app.storage import Database, open_database
from stampside.app.storage.courses import start_screened_course
from stampside.app.storage.outcomes import record_adverse_event, record_assessment
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.app.storage.pins import set_pin
from stampside.app.storage.practitioners import add_practitioner
from stampside.app.storage.schedule import open_scheduled_session
from stampside.app.storage.screening import save_screening
from stampside.app.storage.sessions import finish_session
from stampside.app.storage.step_records import save_step_record

PROTOCOL = default_protocol()
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
WHO = "Dr. Ana Ruiz"
REASON = "serial read from the label, the link does not report it"


@pytest.fixture
def signed_course(tmp_path: Path) -> Iterator[tuple[Database, int, int]]:
    """A patient screened (signed), session 1 started over the baseline photo gate (signed), a step
    override (signed), the session closed (signed), an assessment and an adverse event (signed);
    returns the database, the course and the session."""
    database = open_database(f"sqlite:///{tmp_path / 'clinic.db'}")
    with database.Session.begin() as s:
        ana = add_practitioner(s, WHO)
        signer = set_pin(s, ana.id, "2468", "2468", now=T0 - timedelta(days=30))
        patient = create_patient(s, NewPatient.parse("P-0042", norwood_grade="3V"), now=T0 - timedelta(days=30))
        labs = [LabResult(test=lab.id, taken_on=date(2026, 11, 10), flag="normal") for lab in PROTOCOL.screening.labs]
        screening = Screening.parse(
            screened_on=date(2026, 11, 20), sex="male", smoker=False, norwood_grade="3V", labs=labs
        )
        save_screening(
            s, patient.id, screening, protocol=PROTOCOL, screened_by=WHO, now=T0 - timedelta(days=6), signer=signer
        )
        course_id = start_screened_course(s, patient.id, protocol=PROTOCOL, now=T0 - timedelta(days=1))
        photos = CourseOverride(CourseGate.BASELINE_PHOTOS, "camera broken, photos tomorrow", WHO, T0, "")
        view = open_scheduled_session(
            s,
            course_id,
            protocol=PROTOCOL,
            practitioner_id=ana.id,
            now=T0,
            tz=UTC,
            photo_override=photos,
            signer=signer,
        )
    flow = SessionFlow(PROTOCOL, lambda: T0 + timedelta(minutes=2))
    flow.start(WHO)
    flow.override(Gate.DEVICE_IDENTIFIED, REASON, signer.name, signer_id=signer.practitioner_id)
    with database.Session.begin() as s:
        save_step_record(s, view.id, flow.records[0])
        finish_session(s, view.id, now=T0 + timedelta(minutes=45), signer=signer)
        iga = validate_iga(PROTOCOL, time_point="after_session_6", density=1, coverage=1, rater=WHO)
        record_assessment(s, course_id, iga, now=T0 + timedelta(days=40), signer=signer)
        event = validate_adverse_event(
            what="Itching", onset_on=date(2026, 11, 27), severity="mild", today=date(2026, 11, 28)
        )
        record_adverse_event(
            s, course_id, event, recorded_by=WHO, now=T0 + timedelta(days=2), signer=Signer(ana.id, WHO)
        )
    yield database, course_id, view.id
    database.close()


def test_the_session_report_prints_the_override_and_the_closing_signatures(
    signed_course: tuple[Database, int, int],
) -> None:
    database, _, session_id = signed_course
    with database.Session.begin() as s:
        report = build_session_report(s, session_id)
    assert [(line.what, line.meaning.value) for line in report.signatures] == [
        (f"Override of device identified (Pre-session checks): {REASON}", "overridden"),
        ("Session 1 closed", "approved"),
    ]
    html = render(report, "html", generated_at=T0, tz=UTC)
    assert f"signed {WHO} · approved · 2026-11-26 09:45" in html, "the closing, in the facts"
    assert f"signed {WHO} · overridden · 2026-11-26 09:02" in html, "the override's, in its row"
    assert f'id="signatures-{session_id}"' in html
    assert "<td>Session 1 closed</td><td>Dr. Ana Ruiz</td><td>approved</td><td>2026-11-26 09:45</td>" in html
    data = json.loads(render(report, "json"))
    assert data["closed_signature"] == {"signer": WHO, "meaning": "approved", "signed_at": "2026-11-26T09:45:00+00:00"}


def test_the_course_report_prints_every_signature_of_the_course(signed_course: tuple[Database, int, int]) -> None:
    database, course_id, _ = signed_course
    with database.Session.begin() as s:
        report = build_course_report(s, course_id, today=date(2027, 1, 10), tz=UTC)
    assert [(line.what, line.meaning.value) for line in report.signatures] == [
        ("Screening of 2026-11-20: verdict (eligible)", "reviewed"),
        ("Override of baseline photos: camera broken, photos tomorrow", "overridden"),
        ("Adverse event: Itching", "performed"),
        ("Investigator's assessment, After session 6", "performed"),
    ]
    html = render(report, "html", generated_at=T0, tz=UTC)
    assert f"signed {WHO} · reviewed · 2026-11-20 09:00" in html, "the screening's verdict"
    assert f"baseline photos: camera broken, photos tomorrow ({WHO}, 2026-11-26) · signed {WHO} · overridden" in html
    assert f"signed {WHO} · performed · 2027-01-05 09:00" in html, "the assessment's row"
    assert f"signed {WHO} · approved · 2026-11-26 09:45" in html, "the session inside the course report"
    assert 'id="signatures"' in html and html.count('<table class="signatures">') == 2  # the course's, the session's


def test_an_unsigned_record_says_so(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'clinic.db'}")
    try:
        with database.Session.begin() as s:
            ana = add_practitioner(s, WHO)
            patient = create_patient(s, NewPatient.parse("P-0001"), now=T0)
            from stampside.app.storage.courses import start_course
            from stampside.app.storage.sessions import open_session

            course_id = start_course(s, patient.id, now=T0)
            view = open_session(s, course_id, protocol=PROTOCOL, practitioner_id=ana.id, now=T0)
            finish_session(s, view.id, now=T0)
        with database.Session.begin() as s:
            report = build_session_report(s, view.id)
        html = render(report, "html", generated_at=T0, tz=UTC)
    finally:
        database.close()
    assert report.closed_signature is None and report.signatures == ()
    assert "No record here was signed." in html
