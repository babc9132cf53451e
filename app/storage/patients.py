"""Use cases on patients: create one from what was typed, find one by code, list them.

What a practitioner types is validated by :class:`NewPatient` (pydantic); a typo raises
:class:`PatientInputError` with one line per problem, naming the field ("year of birth:
'198S' is not a year"). Patients are known by a pseudonymous code; the name is optional.
Screening, photos and outcomes (a later issue) will be tables that refer to ``patients.id``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stampside.app.domain.zones import NorwoodGrade, NorwoodGradeError, parse_norwood_grade
from stampside.app.storage.savepoint import savepoint
from stampside.app.storage.schema import Patient

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{1,31}$")
EARLIEST_BIRTH_YEAR = 1900
MAX_NAME_CHARS = 200

_FIELD_LABELS = {
    "code": "patient code",
    "name": "name",
    "birth_year": "year of birth",
    "norwood_grade": "Norwood grade",
}


class PatientInputError(ValueError):
    """What was typed for a patient cannot be stored; the message names each field and why."""


def normalize_code(code: str) -> str:
    """A code as stored: surrounding whitespace removed, upper case."""
    return code.strip().upper()


class NewPatient(BaseModel):
    """A patient as typed on the start screen, validated and normalized."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    code: str
    name: str | None = None
    birth_year: int | None = None
    norwood_grade: NorwoodGrade | None = None

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, value: object) -> str:
        text = normalize_code(str(value))
        if not text:
            raise ValueError("is empty; type the patient's pseudonymous code, for example P-0042")
        if not CODE_RE.match(text):
            raise ValueError(
                f"{text!r} may hold only letters, digits, '-', '_' and '.', start with a letter or digit, "
                "and be 2 to 32 characters long"
            )
        return text

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: object) -> str | None:
        if value is None:
            return None
        text = " ".join(str(value).split())
        if len(text) > MAX_NAME_CHARS:
            raise ValueError(f"is longer than {MAX_NAME_CHARS} characters")
        return text or None

    @field_validator("birth_year", mode="before")
    @classmethod
    def _birth_year(cls, value: object) -> int | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        text = str(value).strip()
        if isinstance(value, bool) or not text.isdigit():
            raise ValueError(f"{text!r} is not a year; type four digits, for example 1984")
        year = int(text)
        this_year = datetime.now(UTC).year
        if not EARLIEST_BIRTH_YEAR <= year <= this_year:
            raise ValueError(f"{year} is not between {EARLIEST_BIRTH_YEAR} and {this_year}")
        return year

    @field_validator("norwood_grade", mode="before")
    @classmethod
    def _norwood(cls, value: object) -> NorwoodGrade | None:
        if value is None or isinstance(value, NorwoodGrade):
            return value
        text = str(value)
        if not text.strip():
            return None
        try:
            return parse_norwood_grade(text)
        except NorwoodGradeError as exc:
            raise ValueError(str(exc)) from None

    @classmethod
    def parse(
        cls,
        code: str,
        *,
        name: str | None = None,
        birth_year: int | str | None = None,
        norwood_grade: NorwoodGrade | str | None = None,
    ) -> NewPatient:
        """Validate typed values; raises :class:`PatientInputError` with a message per field."""
        try:
            return cls.model_validate(
                {"code": code, "name": name, "birth_year": birth_year, "norwood_grade": norwood_grade}
            )
        except ValidationError as exc:
            raise PatientInputError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{_FIELD_LABELS.get(field, field)}: {message}")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class PatientView:
    id: int
    code: str
    name: str | None
    birth_year: int | None
    norwood_grade: NorwoodGrade | None
    created_at: datetime


def _view(row: Patient) -> PatientView:
    grade = NorwoodGrade(row.norwood_grade) if row.norwood_grade else None
    return PatientView(row.id, row.code, row.name, row.birth_year, grade, row.created_at)


def _code_in_use(code: str) -> PatientInputError:
    return PatientInputError(f"patient code: {code!r} is already in use; pick that patient or another code")


def create_patient(session: Session, patient: NewPatient, *, now: datetime) -> PatientView:
    """Store a new patient; a code already in use raises :class:`PatientInputError`.

    The database's UNIQUE on the code decides: two chairs creating the same code at once get one
    patient, and the other chair the same message (the INSERT runs in a savepoint, so the caller's
    transaction stays usable).
    """
    if session.scalar(select(Patient.id).where(Patient.code == patient.code)) is not None:
        raise _code_in_use(patient.code)
    row = Patient(
        code=patient.code,
        name=patient.name,
        birth_year=patient.birth_year,
        norwood_grade=patient.norwood_grade.value if patient.norwood_grade else None,
        created_at=now,
    )
    try:
        with savepoint(session):
            session.add(row)
            session.flush()
    except IntegrityError:
        if session.scalar(select(Patient.id).where(Patient.code == patient.code)) is not None:
            raise _code_in_use(patient.code) from None
        raise
    return _view(row)


def find_patient(session: Session, code: str) -> PatientView | None:
    """The patient with this code (typed in any case), or ``None``."""
    row = session.scalars(select(Patient).where(Patient.code == normalize_code(code))).one_or_none()
    return _view(row) if row is not None else None


def get_patient(session: Session, patient_id: int) -> PatientView | None:
    row = session.get(Patient, patient_id)
    return _view(row) if row is not None else None


def list_patients(session: Session, search: str | None = None, *, limit: int = 200) -> list[PatientView]:
    """Patients by code; ``search`` keeps those whose code or name contains it (any case)."""
    query = select(Patient).order_by(Patient.code).limit(limit)
    text = (search or "").strip().lower()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                func.lower(Patient.code).like(pattern, escape="\\"),
                func.lower(Patient.name).like(pattern, escape="\\"),
            )
        )
    return [_view(row) for row in session.scalars(query)]
