"""Fixtures for the treatment-record tests: a real database (a SQLite file, then a database on the
suite's PostgreSQL server: ``db_url``), a patient with a course, a practitioner."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stampside.app.storage import Database, open_database
from stampside.app.storage.courses import start_course
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.app.storage.practitioners import add_practitioner

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Seeded:
    patient_id: int
    course_id: int
    practitioner_id: int


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "clinic.db"


@pytest.fixture
def clinic_url(db_url: str) -> str:
    """The clinic's database URL: each test using the clinic runs on SQLite and on PostgreSQL."""
    return db_url


@pytest.fixture
def clinic(clinic_url: str) -> Iterator[Database]:
    database = open_database(clinic_url)
    yield database
    database.close()


@pytest.fixture
def seeded(clinic: Database) -> Seeded:
    with clinic.Session.begin() as session:
        ada = add_practitioner(session, "Dr Ada")
        patient = create_patient(session, NewPatient.parse("P-0042", norwood_grade="3V"), now=T0)
        course = start_course(session, patient.id, now=T0)
    return Seeded(patient.id, course, ada.id)
