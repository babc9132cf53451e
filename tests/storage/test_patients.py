"""Patients and their course on a real SQLite file: typed input, look-ups, the course summary."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.domain.zones import NorwoodGrade
from stampside.app.storage import Database
from stampside.app.storage.courses import CourseError, course_summary, start_course
from stampside.app.storage.patients import NewPatient, PatientInputError, create_patient, find_patient, list_patients
from stampside.app.storage.practitioners import add_practitioner, list_practitioners, retire_practitioner
from stampside.app.storage.sessions import abandon_session, finish_session, open_session
from tests.storage.conftest import T0, Seeded

PROTOCOL = default_protocol()


def test_a_patient_is_stored_by_normalized_code_and_found_in_any_case(clinic: Database) -> None:
    typed = NewPatient.parse("  p-0007 ", name="  Jan   Novak ", birth_year="1984", norwood_grade="IIIv")
    with clinic.Session.begin() as session:
        created = create_patient(session, typed, now=T0)
    assert (created.code, created.name, created.birth_year) == ("P-0007", "Jan Novak", 1984)
    assert created.norwood_grade is NorwoodGrade.III_VERTEX
    with clinic.Session.begin() as session:
        found = find_patient(session, "p-0007")
        assert found is not None and found.id == created.id and found.created_at == T0
        assert find_patient(session, "P-9999") is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"code": ""}, "patient code: is empty"),
        ({"code": "P 42"}, "patient code: 'P 42' may hold only letters, digits"),
        ({"code": "P-1", "birth_year": "198S"}, "year of birth: '198S' is not a year"),
        ({"code": "P-1", "birth_year": 1850}, "year of birth: 1850 is not between 1900 and"),
        ({"code": "P-1", "norwood_grade": "3b"}, "Norwood grade: unknown Norwood grade '3b'"),
        ({"code": "P-1", "name": "x" * 201}, "name: is longer than 200 characters"),
    ],
)
def test_a_typo_gets_a_message_naming_the_field(fields: dict[str, object], message: str) -> None:
    code = str(fields.pop("code"))
    with pytest.raises(PatientInputError) as caught:
        NewPatient.parse(code, **fields)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)
    assert "pydantic" not in str(caught.value) and "Traceback" not in str(caught.value)


def test_every_problem_is_listed_one_per_line() -> None:
    with pytest.raises(PatientInputError) as caught:
        NewPatient.parse("?", birth_year="abc")
    lines = str(caught.value).splitlines()
    assert [line.split(":")[0] for line in lines] == ["patient code", "year of birth"]


def test_optional_fields_may_be_left_empty() -> None:
    patient = NewPatient.parse("P-1", name="  ", birth_year="", norwood_grade="")
    assert (patient.name, patient.birth_year, patient.norwood_grade) == (None, None, None)


def test_a_code_in_use_is_refused(clinic: Database, seeded: Seeded) -> None:
    with pytest.raises(PatientInputError, match="'P-0042' is already in use"), clinic.Session.begin() as session:
        create_patient(session, NewPatient.parse("p-0042"), now=T0)


def test_patients_are_listed_by_code_and_searched_by_code_or_name(clinic: Database) -> None:
    with clinic.Session.begin() as session:
        create_patient(session, NewPatient.parse("B-2", name="Ana Silva"), now=T0)
        create_patient(session, NewPatient.parse("A-1", name="Tom 100%"), now=T0)
        create_patient(session, NewPatient.parse("C_3"), now=T0)
    with clinic.Session.begin() as session:
        assert [p.code for p in list_patients(session)] == ["A-1", "B-2", "C_3"]
        assert [p.code for p in list_patients(session, "silva")] == ["B-2"]
        assert [p.code for p in list_patients(session, "c_")] == ["C_3"]
        assert [p.code for p in list_patients(session, "100%")] == ["A-1"]


def test_practitioners_are_listed_until_retired(clinic: Database) -> None:
    with clinic.Session.begin() as session:
        ada = add_practitioner(session, " Dr  Ada ")
        add_practitioner(session, "Dr Bo")
        retire_practitioner(session, ada.id)
    with clinic.Session.begin() as session:
        assert [p.name for p in list_practitioners(session)] == ["Dr Bo"]
        assert [p.name for p in list_practitioners(session, include_retired=True)] == ["Dr Ada", "Dr Bo"]


def test_a_new_course_is_session_1_of_6_due_now(clinic: Database, seeded: Seeded) -> None:
    with clinic.Session.begin() as session:
        summary = course_summary(session, seeded.patient_id)
    assert summary is not None
    assert summary.label == "session 1 of 6"
    assert (summary.planned_sessions, summary.interval_days, summary.patient_code) == (6, 7, "P-0042")
    assert summary.last_session_at is None and summary.next_due_at is None and summary.open_session_id is None


def test_the_summary_counts_finished_sessions_and_dates_the_next_one(clinic: Database, seeded: Seeded) -> None:
    first_end = T0 + timedelta(hours=1)
    with clinic.Session.begin() as session:
        first = open_session(
            session, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=T0
        )
        finish_session(session, first.id, now=first_end)
        # A false start the week after does not count.
        second = open_session(
            session, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=T0 + timedelta(7)
        )
        abandon_session(session, second.id, now=T0 + timedelta(7, 60))
    with clinic.Session.begin() as session:
        summary = course_summary(session, seeded.patient_id)
    assert summary is not None
    assert summary.label == "session 2 of 6" and summary.completed == 1
    assert summary.last_session_at == first_end
    assert summary.next_due_at == first_end + timedelta(days=7)


def test_the_open_session_is_in_the_summary(clinic: Database, seeded: Seeded) -> None:
    with clinic.Session.begin() as session:
        opened = open_session(
            session, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=T0
        )
    with clinic.Session.begin() as session:
        summary = course_summary(session, seeded.patient_id)
    assert summary is not None and summary.open_session_id == opened.id


def test_the_course_completes_with_its_last_planned_session(clinic: Database) -> None:
    with clinic.Session.begin() as session:
        ada = add_practitioner(session, "Dr Ada")
        patient = create_patient(session, NewPatient.parse("P-2"), now=T0)
        course = start_course(session, patient.id, now=T0, planned_sessions=2, interval_days=14)
        for k in range(2):
            opened = open_session(
                session, course, protocol=PROTOCOL, practitioner_id=ada.id, now=T0 + timedelta(14 * k)
            )
            finish_session(session, opened.id, now=T0 + timedelta(14 * k, 3600))
    with clinic.Session.begin() as session:
        summary = course_summary(session, patient.id)
        assert summary is not None
        assert summary.done and summary.status == "completed" and summary.next_due_at is None
        assert summary.label == "course complete: 2 of 2 sessions"
        with pytest.raises(CourseError, match="1 to 100 sessions"):
            start_course(session, patient.id, now=T0, planned_sessions=0)


def test_one_active_course_per_patient(clinic: Database, seeded: Seeded) -> None:
    with pytest.raises(CourseError, match="already has an active course"), clinic.Session.begin() as session:
        start_course(session, seeded.patient_id, now=T0)


def test_no_summary_without_a_course(clinic: Database) -> None:
    with clinic.Session.begin() as session:
        patient = create_patient(session, NewPatient.parse("P-3"), now=T0)
        assert course_summary(session, patient.id) is None
