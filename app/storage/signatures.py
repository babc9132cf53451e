"""Signatures on records (21 CFR Part 11 §11.50): written with the record they sign, read back to be shown.

:func:`sign_record` stores one signature in the caller's transaction: the use case that writes
a signed record (an override, a screening, an outcome entry, closing a session) calls it right
after, so the record and its signature are stored together or not at all. The signer is a
:class:`~stampside.app.domain.signatures.Signer`, which only a right PIN gives
(:func:`stampside.app.storage.pins.check_pin`). ``record_type`` is the signed record's table
(:data:`RECORD_TABLES`), ``record_id`` its id.

The readers give :class:`SignatureView` rows; :func:`stampside.app.domain.signatures.manifestation` is how
each one reads on a screen or a report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from stampside.app.domain.signatures import SignatureMark, SignatureMeaning, SignedAct, Signer
from stampside.app.storage.schema import Course, Signature, TreatmentSession
from stampside.app.storage.trail_appends import record_insert

__all__ = [
    "RECORD_TABLES",
    "SignatureView",
    "patient_of_course",
    "patient_of_session",
    "sign_record",
    "signatures_of",
    "signatures_of_patient",
]

#: The table of the record each signed act signs.
RECORD_TABLES: dict[SignedAct, str] = {
    SignedAct.STEP_OVERRIDE: "step_overrides",
    SignedAct.COURSE_OVERRIDE: "course_overrides",
    SignedAct.SCHEDULE_DEVIATION: "schedule_deviations",
    SignedAct.SCREENING_VERDICT: "screenings",
    SignedAct.SCREENING_OVERRIDE: "screenings",
    SignedAct.OUTCOME_ASSESSMENT: "outcome_assessments",
    SignedAct.SELF_ASSESSMENT: "self_assessments",
    SignedAct.ADVERSE_EVENT: "adverse_events",
    SignedAct.SESSION_CLOSE: "treatment_sessions",
    SignedAct.CORRECTION: "corrections",
}


@dataclass(frozen=True, slots=True)
class SignatureView:
    """A stored signature and the record it signs."""

    id: int
    practitioner_id: int
    mark: SignatureMark
    record_type: str
    record_id: int
    patient_id: int | None

    @property
    def signer(self) -> str:
        return self.mark.signer

    @property
    def meaning(self) -> SignatureMeaning:
        return self.mark.meaning

    @property
    def signed_at(self) -> datetime:
        return self.mark.signed_at


def _view(row: Signature) -> SignatureView:
    mark = SignatureMark(row.signer_name, SignatureMeaning(row.meaning), row.signed_at)
    return SignatureView(row.id, row.practitioner_id, mark, row.record_type, row.record_id, row.patient_id)


def sign_record(
    session: Session, signer: Signer, act: SignedAct, record_id: int, *, at: datetime, patient_id: int | None
) -> SignatureView:
    """Sign record ``record_id`` of ``act``'s table as ``signer``, at ``at``, with ``act``'s meaning."""
    row = Signature(
        practitioner_id=signer.practitioner_id,
        signer_name=signer.name,
        meaning=act.meaning.value,
        signed_at=at,
        record_type=RECORD_TABLES[act],
        record_id=record_id,
        patient_id=patient_id,
    )
    session.add(row)
    record_insert(session, row)
    return _view(row)


def signatures_of(session: Session, record_type: str, record_ids: Iterable[int]) -> dict[int, list[SignatureView]]:
    """The signatures of these records of ``record_type``, oldest first, by record id (unsigned ones left out)."""
    ids = sorted(set(record_ids))
    found: dict[int, list[SignatureView]] = {}
    for start in range(0, len(ids), 500):
        rows = session.scalars(
            select(Signature)
            .where(Signature.record_type == record_type, Signature.record_id.in_(ids[start : start + 500]))
            .order_by(Signature.signed_at, Signature.id)
        )
        for row in rows:
            found.setdefault(row.record_id, []).append(_view(row))
    return found


def signatures_of_patient(session: Session, patient_id: int) -> list[SignatureView]:
    """Every signature on a record of the patient, oldest first."""
    rows = session.scalars(
        select(Signature).where(Signature.patient_id == patient_id).order_by(Signature.signed_at, Signature.id)
    )
    return [_view(row) for row in rows]


def patient_of_course(session: Session, course_id: int) -> int | None:
    return session.scalar(select(Course.patient_id).where(Course.id == course_id))


def patient_of_session(session: Session, session_id: int) -> int | None:
    return session.scalar(
        select(Course.patient_id)
        .join(TreatmentSession, TreatmentSession.course_id == Course.id)
        .where(TreatmentSession.id == session_id)
    )
