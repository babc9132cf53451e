"""Lot recall: every patient and session that received a product lot.

Lots are matched without regard to case or surrounding spaces ("l-2291 " finds "L-2291"), as
typed from a vial.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stampside.app.domain.treatment_protocol import TreatmentProtocol, default_protocol
from stampside.app.storage.schema import Course, Patient, Practitioner, StepRecordRow, TreatmentSession


@dataclass(frozen=True, slots=True)
class LotUse:
    """One application of the lot: which patient, which session, which step, how much."""

    patient_code: str
    patient_name: str | None
    session_id: int
    session_number: int
    session_status: str
    step: str
    applied_at: datetime
    volume_ml: float | None
    lot: str
    lot_expiry: date | None
    confirmed_by: str | None
    practitioner: str


@dataclass(frozen=True, slots=True)
class LotReport:
    lot: str
    uses: tuple[LotUse, ...]

    @property
    def title(self) -> str:
        return f"Lot recall · {self.lot}"

    @property
    def patients(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(use.patient_code for use in self.uses))

    @property
    def total_ml(self) -> float:
        return sum(use.volume_ml or 0.0 for use in self.uses)


def build_lot_report(db: Session, lot: str, protocol: TreatmentProtocol | None = None) -> LotReport:
    """Every stored step that recorded ``lot``, oldest first."""
    wanted = lot.strip()
    if not wanted:
        raise ValueError("give the lot number to look for, as printed on the vial")
    titles = {step.id: step.title for step in (protocol or default_protocol()).steps}
    rows = db.execute(
        select(StepRecordRow, TreatmentSession, Patient, Practitioner.name)
        .join(TreatmentSession, StepRecordRow.session_id == TreatmentSession.id)
        .join(Course, TreatmentSession.course_id == Course.id)
        .join(Patient, Course.patient_id == Patient.id)
        .join(Practitioner, TreatmentSession.practitioner_id == Practitioner.id)
        .where(func.upper(func.trim(StepRecordRow.lot)) == wanted.upper())
        .order_by(StepRecordRow.started_at, StepRecordRow.id)
    ).all()
    uses = tuple(
        LotUse(
            patient_code=patient.code,
            patient_name=patient.name,
            session_id=treatment.id,
            session_number=treatment.number,
            session_status=treatment.status,
            step=titles.get(step.step_id, step.step_id),
            applied_at=step.started_at,
            volume_ml=step.volume_ml,
            lot=step.lot or wanted,
            lot_expiry=step.lot_expiry,
            confirmed_by=step.confirmed_by,
            practitioner=practitioner,
        )
        for step, treatment, patient, practitioner in rows
    )
    return LotReport(wanted, uses)
