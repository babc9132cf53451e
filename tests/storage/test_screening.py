"""Screenings on real SQLite: saved with their verdict, judged again later, overridden, and the course gate."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from stampside.app.domain.course_gates import OverrideRefused
from stampside.app.domain.eligibility import LabFlag, LabResult, Rule, Screening
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage import Database
from stampside.app.storage.courses import NotEligibleError, course_screening_id, course_summary, start_screened_course
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.app.storage.screening import (
    ScreeningError,
    course_eligibility,
    get_screening,
    latest_screening,
    list_screenings,
    override_screening,
    save_screening,
)

PROTOCOL = default_protocol()
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
DAY = NOW.date()
LABS = ("vitamin_d", "vitamin_b12", "ferritin", "tsh")


def form(*, abnormal: tuple[str, ...] = (), taken_on: date = DAY - timedelta(days=20), **changes: object) -> Screening:
    fields: dict[str, object] = {
        "screened_on": DAY,
        "sex": "male",
        "smoker": False,
        "norwood_grade": "4",
        "labs": [
            LabResult(test=t, taken_on=taken_on, flag=LabFlag.ABNORMAL if t in abnormal else LabFlag.NORMAL, value="ok")
            for t in LABS
        ],
    }
    fields.update(changes)
    return Screening.parse(**fields)


@pytest.fixture
def patient_id(clinic: Database) -> int:
    with clinic.Session.begin() as s:
        return create_patient(s, NewPatient.parse("P-0100"), now=NOW).id


def test_a_screening_round_trips_with_its_verdict(clinic: Database, patient_id: int) -> None:
    screening = form(contraindications=["keloid_tendency"], notes="referred by GP")
    with clinic.Session.begin() as s:
        saved = save_screening(s, patient_id, screening, protocol=PROTOCOL, screened_by=" Dr Ada ", now=NOW)
    with clinic.Session.begin() as s:
        view = get_screening(s, saved.id, protocol=PROTOCOL)
    assert view.screening == screening
    assert view.screened_by == "Dr Ada"
    assert (view.protocol_name, view.protocol_version) == (PROTOCOL.name, PROTOCOL.version)
    assert view.stored_result == "not_eligible" and not view.ok
    assert [f.rule for f in view.result.exclusions] == [Rule.CONTRAINDICATION]


def test_the_course_cannot_start_without_a_screening(clinic: Database, patient_id: int) -> None:
    with clinic.Session.begin() as s:
        assert not course_eligibility(s, patient_id, protocol=PROTOCOL, today=DAY).ok
        with pytest.raises(NotEligibleError, match="no screening recorded"):
            start_screened_course(s, patient_id, protocol=PROTOCOL, now=NOW)
    with clinic.Session.begin() as s:
        assert course_summary(s, patient_id) is None


def test_the_course_cannot_start_after_a_failed_screening(clinic: Database, patient_id: int) -> None:
    with clinic.Session.begin() as s:
        save_screening(s, patient_id, form(smoker=True), protocol=PROTOCOL, screened_by="Dr Ada", now=NOW)
    with clinic.Session.begin() as s, pytest.raises(NotEligibleError, match="smoker") as caught:
        start_screened_course(s, patient_id, protocol=PROTOCOL, now=NOW)
    assert caught.value.eligibility.screening is not None


def test_a_passed_screening_starts_the_course_and_is_recorded_with_it(clinic: Database, patient_id: int) -> None:
    with clinic.Session.begin() as s:
        screening_id = save_screening(s, patient_id, form(), protocol=PROTOCOL, screened_by="Dr Ada", now=NOW).id
        course_id = start_screened_course(s, patient_id, protocol=PROTOCOL, now=NOW)
    with clinic.Session.begin() as s:
        assert course_screening_id(s, course_id) == screening_id
        summary = course_summary(s, patient_id)
        assert summary is not None
        assert (summary.planned_sessions, summary.interval_days) == (6, 7)


def test_an_override_with_a_reason_lets_the_course_start_and_is_stored(clinic: Database, patient_id: int) -> None:
    with clinic.Session.begin() as s:
        saved = save_screening(
            s, patient_id, form(abnormal=("ferritin",)), protocol=PROTOCOL, screened_by="Dr Ada", now=NOW
        )
        with pytest.raises(OverrideRefused):
            override_screening(s, saved.id, "fine", by="Dr Ada", now=NOW, protocol=PROTOCOL)
    later = NOW + timedelta(hours=1)
    with clinic.Session.begin() as s:
        view = override_screening(
            s, saved.id, "ferritin repeated, normal on 2026-11-01", by="Dr Ada", now=later, protocol=PROTOCOL
        )
        assert view.ok and view.result.override is not None
        start_screened_course(s, patient_id, protocol=PROTOCOL, now=later)
    with clinic.Session.begin() as s:
        stored = latest_screening(s, patient_id, protocol=PROTOCOL)
        assert stored is not None and stored.result.override is not None
        assert stored.result.override.reason == "ferritin repeated, normal on 2026-11-01"
        assert (stored.result.override.by, stored.result.override.at) == ("Dr Ada", later)
        assert "Ferritin" in stored.result.override.failure
        with pytest.raises(ScreeningError, match="already overridden"):
            override_screening(s, saved.id, "once more with feeling", by="Dr Ada", now=later, protocol=PROTOCOL)


def test_the_newest_screening_decides(clinic: Database, patient_id: int) -> None:
    with clinic.Session.begin() as s:
        save_screening(s, patient_id, form(smoker=True), protocol=PROTOCOL, screened_by="Dr Ada", now=NOW)
        save_screening(
            s, patient_id, form(screened_on=DAY + timedelta(days=30)), protocol=PROTOCOL, screened_by="Dr Ada", now=NOW
        )
    with clinic.Session.begin() as s:
        assert course_eligibility(s, patient_id, protocol=PROTOCOL, today=DAY + timedelta(days=31)).ok
        assert [v.stored_result for v in list_screenings(s, patient_id, protocol=PROTOCOL)] == [
            "eligible",
            "not_eligible",
        ]


def test_results_gone_stale_by_the_course_start_are_flagged(clinic: Database, patient_id: int) -> None:
    with clinic.Session.begin() as s:
        save_screening(s, patient_id, form(), protocol=PROTOCOL, screened_by="Dr Ada", now=NOW)
    with clinic.Session.begin() as s:
        gate = course_eligibility(s, patient_id, protocol=PROTOCOL, today=DAY + timedelta(days=80))
    assert gate.ok
    assert gate.screening is not None and gate.screening.result.stale_tests == LABS
    assert "days old" in gate.message


def test_a_screening_needs_a_patient_and_a_practitioner(clinic: Database, patient_id: int) -> None:
    with clinic.Session.begin() as s:
        with pytest.raises(ScreeningError, match="no patient"):
            save_screening(s, 999, form(), protocol=PROTOCOL, screened_by="Dr Ada", now=NOW)
        with pytest.raises(ScreeningError, match="practitioner"):
            save_screening(s, patient_id, form(), protocol=PROTOCOL, screened_by=" ", now=NOW)
