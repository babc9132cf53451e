"""Use cases on screenings: save the form, read it back judged, override a failed one, check a course may start.

A screening is saved with its verdict under the protocol of the day
(:func:`stampside.app.domain.eligibility.evaluate_screening`), and read back as a
:class:`ScreeningView` judged again under the protocol and day the caller gives, so a result
that has gone stale since is flagged. A failed screening can be overridden once with a typed
reason; the override is stored on the screening row.

:func:`course_eligibility` is the screening gate before a course starts: the patient's newest
screening must pass, or have been overridden. ``stampside.app.storage.courses.start_screened_course``
applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from stampside.app.domain.course_gates import CourseGate, CourseOverride
from stampside.app.domain.eligibility import EligibilityResult, LabFlag, LabResult, Screening, evaluate_screening
from stampside.app.domain.signatures import SignatureMark, SignedAct, Signer
from stampside.app.domain.treatment_protocol import TreatmentProtocol
from stampside.app.storage.schema import Patient, ScreeningContraindication, ScreeningLabResult, ScreeningRow
from stampside.app.storage.signatures import RECORD_TABLES, sign_record, signatures_of

__all__ = [
    "CourseEligibility",
    "ScreeningError",
    "ScreeningView",
    "course_eligibility",
    "get_screening",
    "latest_screening",
    "list_screenings",
    "override_screening",
    "save_screening",
]


class ScreeningError(ValueError):
    """A screening cannot be saved or changed as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class ScreeningView:
    """A stored screening, judged under the protocol and day it was read with.

    ``stored_result`` is the verdict recorded when it was saved (``eligible``/``not_eligible``);
    ``result`` is the verdict now (with the stored override attached).
    """

    id: int
    patient_id: int
    screened_by: str
    recorded_at: datetime
    protocol_name: str
    protocol_version: str
    screening: Screening
    stored_result: str
    result: EligibilityResult
    #: Its signatures, oldest first: the verdict reviewed, and an override (each signed with a PIN).
    signatures: tuple[SignatureMark, ...] = ()

    @property
    def ok(self) -> bool:
        return self.result.ok


def save_screening(
    session: Session,
    patient_id: int,
    screening: Screening,
    *,
    protocol: TreatmentProtocol,
    screened_by: str,
    now: datetime,
    signer: Signer | None = None,
) -> ScreeningView:
    """Store a screening form with its verdict under ``protocol``; returns it judged on its own day.

    ``signer``: the practitioner who reviewed the verdict and signed it with their PIN.
    """
    if session.get(Patient, patient_id) is None:
        raise ScreeningError(f"no patient with id {patient_id}")
    who = screened_by.strip()
    if not who:
        raise ScreeningError("name the practitioner who screened the patient")
    result = evaluate_screening(screening, protocol.screening)
    row = ScreeningRow(
        patient_id=patient_id,
        screened_on=screening.screened_on,
        screened_by=who,
        recorded_at=now,
        sex=screening.sex.value,
        smoker=screening.smoker,
        norwood_grade=screening.norwood_grade,
        notes=screening.notes,
        protocol_name=protocol.name,
        protocol_version=protocol.version,
        result="eligible" if result.eligible else "not_eligible",
        findings=result.message[:2000],
    )
    session.add(row)
    session.flush()
    session.add_all(
        ScreeningLabResult(
            screening_id=row.id, test=lab.test, taken_on=lab.taken_on, flag=lab.flag.value, value=lab.value
        )
        for lab in screening.labs
    )
    session.add_all(
        ScreeningContraindication(screening_id=row.id, contraindication=item) for item in screening.contraindications
    )
    session.flush()
    if signer is not None:
        sign_record(session, signer, SignedAct.SCREENING_VERDICT, row.id, at=now, patient_id=patient_id)
    return _view(session, row, protocol, None)


def _view(session: Session, row: ScreeningRow, protocol: TreatmentProtocol, as_of: date | None) -> ScreeningView:
    labs = session.scalars(
        select(ScreeningLabResult).where(ScreeningLabResult.screening_id == row.id).order_by(ScreeningLabResult.id)
    ).all()
    items = session.scalars(
        select(ScreeningContraindication.contraindication).where(ScreeningContraindication.screening_id == row.id)
    ).all()
    screening = Screening.model_validate(
        {
            "screened_on": row.screened_on,
            "sex": row.sex,
            "smoker": row.smoker,
            "norwood_grade": row.norwood_grade,
            "labs": tuple(
                LabResult(test=lab.test, taken_on=lab.taken_on, flag=LabFlag(lab.flag), value=lab.value) for lab in labs
            ),
            "contraindications": tuple(items),
            "notes": row.notes,
        }
    )
    override = None
    if row.override_at is not None:
        override = CourseOverride(
            gate=CourseGate.SCREENING,
            reason=row.override_reason or "",
            by=row.override_by or "",
            at=row.override_at,
            failure=row.override_failure or "",
        )
    result = _judge(screening, protocol, as_of).with_override(override)
    return ScreeningView(
        id=row.id,
        patient_id=row.patient_id,
        screened_by=row.screened_by,
        recorded_at=row.recorded_at,
        protocol_name=row.protocol_name,
        protocol_version=row.protocol_version,
        screening=screening,
        stored_result=row.result,
        result=result,
        signatures=tuple(
            view.mark
            for view in signatures_of(session, RECORD_TABLES[SignedAct.SCREENING_VERDICT], [row.id]).get(row.id, [])
        ),
    )


def _judge(screening: Screening, protocol: TreatmentProtocol, as_of: date | None) -> EligibilityResult:
    # A lab or contraindication the protocol no longer knows is left out rather than refused.
    rules = protocol.screening
    known_labs = {lab.id for lab in rules.labs}
    known_items = {item.id for item in rules.contraindications}
    kept = screening.model_copy(
        update={
            "labs": tuple(lab for lab in screening.labs if lab.test in known_labs),
            "contraindications": tuple(item for item in screening.contraindications if item in known_items),
        }
    )
    return evaluate_screening(kept, rules, as_of=as_of)


def get_screening(
    session: Session, screening_id: int, *, protocol: TreatmentProtocol, as_of: date | None = None
) -> ScreeningView:
    """The screening with this id, judged under ``protocol`` on ``as_of`` (default: its own day)."""
    row = session.get(ScreeningRow, screening_id)
    if row is None:
        raise ScreeningError(f"no screening with id {screening_id}")
    return _view(session, row, protocol, as_of)


def latest_screening(
    session: Session, patient_id: int, *, protocol: TreatmentProtocol, as_of: date | None = None
) -> ScreeningView | None:
    """The patient's newest screening (by screening day, then by when it was recorded), or ``None``."""
    row = session.scalars(
        select(ScreeningRow)
        .where(ScreeningRow.patient_id == patient_id)
        .order_by(ScreeningRow.screened_on.desc(), ScreeningRow.id.desc())
        .limit(1)
    ).one_or_none()
    return _view(session, row, protocol, as_of) if row is not None else None


def list_screenings(session: Session, patient_id: int, *, protocol: TreatmentProtocol) -> list[ScreeningView]:
    """Every screening of the patient, newest first, each judged on its own day."""
    rows = session.scalars(
        select(ScreeningRow)
        .where(ScreeningRow.patient_id == patient_id)
        .order_by(ScreeningRow.screened_on.desc(), ScreeningRow.id.desc())
    ).all()
    return [_view(session, row, protocol, None) for row in rows]


def override_screening(
    session: Session,
    screening_id: int,
    reason: str,
    *,
    by: str,
    now: datetime,
    protocol: TreatmentProtocol,
    as_of: date | None = None,
    signer: Signer | None = None,
) -> ScreeningView:
    """Let a failed screening through with a typed reason
    (:class:`~stampside.app.domain.course_gates.OverrideRefused` if not).

    The screening is judged on ``as_of`` (default: its own day); one that passes, or is already
    overridden, is refused.
    """
    row = session.get(ScreeningRow, screening_id)
    if row is None:
        raise ScreeningError(f"no screening with id {screening_id}")
    if row.override_at is not None:
        raise ScreeningError(f"this screening was already overridden by {row.override_by}")
    view = _view(session, row, protocol, as_of)
    overridden = view.result.overridden(reason, by=by, at=now)
    assert overridden.override is not None
    row.override_reason = overridden.override.reason
    row.override_by = overridden.override.by
    row.override_at = overridden.override.at
    row.override_failure = overridden.override.failure[:2000]
    session.flush()
    if signer is not None:
        sign_record(session, signer, SignedAct.SCREENING_OVERRIDE, row.id, at=now, patient_id=row.patient_id)
    return _view(session, row, protocol, as_of)


@dataclass(frozen=True, slots=True)
class CourseEligibility:
    """Whether a course may start for a patient: ``ok``, the screening it rests on, and why not."""

    patient_id: int
    screening: ScreeningView | None

    @property
    def ok(self) -> bool:
        return self.screening is not None and self.screening.ok

    @property
    def screening_id(self) -> int | None:
        return self.screening.id if self.screening is not None else None

    @property
    def message(self) -> str:
        if self.screening is None:
            return "no screening recorded; screen the patient before the course starts"
        return self.screening.result.message


def course_eligibility(
    session: Session, patient_id: int, *, protocol: TreatmentProtocol, today: date
) -> CourseEligibility:
    """The screening gate: the patient's newest screening judged under ``protocol`` on ``today``."""
    return CourseEligibility(patient_id, latest_screening(session, patient_id, protocol=protocol, as_of=today))
