"""Corrections on the course report: which record, what changed, why, who, and the signature (approved)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from stampside.app.domain.outcomes import validate_iga
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.reports import build_course_report, render
from stampside.app.storage import open_database
from stampside.app.storage.corrections import correct_assessment, correct_patient
from stampside.app.storage.courses import start_course, stop_course
from stampside.app.storage.outcomes import record_assessment
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.app.storage.pins import set_pin
from stampside.app.storage.practitioners import add_practitioner

PROTOCOL = default_protocol()
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
WHO = "Dr. Ana Ruiz"


def test_the_course_report_lists_the_corrections_of_the_course_and_the_patient(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'clinic.db'}")
    try:
        with database.Session.begin() as s:
            ana = add_practitioner(s, WHO)
            signer = set_pin(s, ana.id, "2468", "2468", now=T0 - timedelta(days=30))
            patient = create_patient(s, NewPatient.parse("P-0042"), now=T0 - timedelta(days=30))
            course_id = start_course(s, patient.id, now=T0 - timedelta(days=20))
            stop_course(s, course_id)
            other_course = start_course(s, patient.id, now=T0 - timedelta(days=10))
            iga = validate_iga(PROTOCOL, time_point="after_session_6", density=1, coverage=1, rater=WHO)
            first = record_assessment(s, course_id, iga, now=T0)
            elsewhere = record_assessment(s, other_course, iga, now=T0)
        later = T0 + timedelta(days=1)
        with database.Session.begin() as s:
            fixed = validate_iga(PROTOCOL, time_point="after_session_6", density=2, coverage=1, rater=WHO)
            reason = "typed into the wrong field"
            correct_assessment(s, first.id, fixed, reason=reason, by=WHO, now=later, signer=signer)
            correct_assessment(s, elsewhere.id, fixed, reason="another course entirely", by=WHO, now=later)
            details = NewPatient.parse("P-0042", birth_year=1979)
            correct_patient(s, patient.id, details, reason="year of birth was missing", by=WHO, now=later)
        with database.Session.begin() as s:
            report = build_course_report(s, course_id, today=T0.date(), tz=UTC, with_sessions=False)
        assert [(c.record, c.changes, c.reason) for c in report.corrections] == [
            (f"assessment (id {first.id})", "IGA density: 1 → 2", "typed into the wrong field"),
            (f"patient details (id {patient.id})", "year of birth: (none) → 1979", "year of birth was missing"),
        ]
        assert ("Correction of the assessment (id 1)", "approved") in [
            (line.what, line.meaning.value) for line in report.signatures
        ]
        html = render(report, "html", generated_at=T0, tz=UTC)
        assert '<table class="corrections">' in html and "typed into the wrong field" in html
        assert f"signed {WHO} · approved · 2026-11-27 09:00" in html
        assert "another course entirely" not in html
        data = json.loads(render(report, "json"))
        assert [c["reason"] for c in data["corrections"]] == ["typed into the wrong field", "year of birth was missing"]
    finally:
        database.close()
