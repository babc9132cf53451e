"""Use cases that correct stored records: outcomes, adverse events, screening results, patient details.

Each ``correct_*`` function changes the record in the caller's transaction and stores, in the
same transaction, a ``corrections`` row saying which fields changed (old and new values), why,
who and when, signed by the practitioner (:data:`~stampside.app.domain.signatures.SignedAct.CORRECTION`,
meaning *approved*). The domain decides whether the correction will do
(:func:`~stampside.app.domain.corrections.plan_correction`: a real reason, something changed);
a refusal raises :class:`~stampside.app.domain.corrections.CorrectionRefused` and nothing is
stored. The record is changed through the ORM, so the audit trail's update entry keeps its
values before and after; the ``corrections`` row is itself in the trail.

What can be corrected:

* an investigator's assessment (:func:`correct_assessment`): time point, density, coverage, note;
* a patient's self-assessment (:func:`correct_self_assessment`): time point and every answer;
* an adverse event (:func:`correct_adverse_event`): what, onset, severity, resolved, session, notes;
* a screening (:func:`correct_screening`): the day, sex, smoker, Norwood grade, the lab results,
  contraindications and notes. The verdict is judged again and stored with them (its change is
  listed too);
* a patient's details (:func:`correct_patient`): name, year of birth, Norwood grade. Not the
  code: it is the pseudonym photo folders, reports, exports and the trail know the patient by.

Who recorded or rated a record is not corrected: it is who did it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stampside.app.domain.corrections import (
    Correction,
    FieldChange,
    changed_fields,
    correction_note,
    plan_correction,
)
from stampside.app.domain.eligibility import LabResult, Screening, evaluate_screening
from stampside.app.domain.outcomes import AdverseEvent, IgaAssessment, SelfAssessment
from stampside.app.domain.signatures import SignatureMark, SignedAct, Signer
from stampside.app.domain.treatment_protocol import TreatmentProtocol
from stampside.app.storage.patients import NewPatient
from stampside.app.storage.schema import (
    AdverseEventRow,
    CorrectionRow,
    Course,
    OutcomeAssessment,
    Patient,
    ScreeningContraindication,
    ScreeningLabResult,
    ScreeningRow,
    SelfAssessmentAnswer,
    SelfAssessmentRow,
    TreatmentSession,
)
from stampside.app.storage.signatures import RECORD_TABLES, sign_record, signatures_of

__all__ = [
    "CORRECTED_TABLES",
    "CorrectionError",
    "CorrectionView",
    "correct_adverse_event",
    "correct_assessment",
    "correct_patient",
    "correct_screening",
    "correct_self_assessment",
    "corrections_of",
    "corrections_of_patient",
]

#: The tables whose records can be corrected, and what a person calls one of their records.
CORRECTED_TABLES: dict[str, str] = {
    "outcome_assessments": "assessment",
    "self_assessments": "self-assessment",
    "adverse_events": "adverse event",
    "screenings": "screening",
    "patients": "patient details",
}


class CorrectionError(ValueError):
    """The record to correct is not there (or cannot be corrected so); the message says why."""


@dataclass(frozen=True, slots=True)
class CorrectionView:
    """A stored correction: of which record, what changed, why, who, when, and its signature."""

    id: int
    table: str
    record_id: int
    patient_id: int
    changes: tuple[FieldChange, ...]
    reason: str
    corrected_by: str
    corrected_at: datetime
    signature: SignatureMark | None = None

    def note(self, tz: tzinfo | None = None) -> str:
        """``corrected 2026-12-05 by Dr X: reason``."""
        return correction_note(self.corrected_by, self.corrected_at, self.reason, tz)


def _changes_json(changes: Iterable[FieldChange]) -> str:
    return json.dumps([change.as_dict() for change in changes], ensure_ascii=False, sort_keys=True)


def _changes_from(text: str) -> tuple[FieldChange, ...]:
    try:
        values = json.loads(text)
    except ValueError:
        return ()
    if not isinstance(values, list):
        return ()
    return tuple(FieldChange.from_dict(item) for item in values if isinstance(item, dict))


def _view(row: CorrectionRow, mark: SignatureMark | None) -> CorrectionView:
    return CorrectionView(
        row.id,
        row.table_name,
        row.record_id,
        row.patient_id,
        _changes_from(row.changes),
        row.reason,
        row.corrected_by,
        row.corrected_at,
        mark,
    )


def _store(
    session: Session,
    table: str,
    record_id: int,
    patient_id: int,
    correction: Correction,
    *,
    now: datetime,
    signer: Signer | None,
) -> CorrectionView:
    """The ``corrections`` row of a correction already applied to the record (flushed), and its signature."""
    session.flush()
    row = CorrectionRow(
        table_name=table,
        record_id=record_id,
        patient_id=patient_id,
        changes=_changes_json(correction.changes),
        reason=correction.reason,
        corrected_by=correction.by[:120],
        corrected_at=now,
    )
    session.add(row)
    session.flush()
    mark = None
    if signer is not None:
        mark = sign_record(session, signer, SignedAct.CORRECTION, row.id, at=now, patient_id=patient_id).mark
    return _view(row, mark)


def _patient_of_course(session: Session, course_id: int) -> int:
    patient_id = session.scalar(select(Course.patient_id).where(Course.id == course_id))
    if patient_id is None:
        raise CorrectionError(f"no course with id {course_id}")
    return patient_id


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- outcomes --------------------------------------------------------------------------------------

_IGA_LABELS = {"time_point": "time point", "iga_density": "IGA density", "iga_coverage": "IGA coverage"}


def correct_assessment(
    session: Session,
    assessment_id: int,
    corrected: IgaAssessment,
    *,
    reason: str,
    by: str,
    now: datetime,
    signer: Signer | None = None,
) -> CorrectionView:
    """Correct an investigator's assessment to ``corrected`` (checked by ``validate_iga``); the rater stays."""
    row = session.get(OutcomeAssessment, assessment_id)
    if row is None:
        raise CorrectionError(f"no assessment with id {assessment_id}")
    old: dict[str, Any] = {
        "time_point": row.time_point,
        "iga_density": row.iga_density,
        "iga_coverage": row.iga_coverage,
        "note": row.note,
    }
    new: dict[str, Any] = {
        "time_point": corrected.time_point,
        "iga_density": corrected.density,
        "iga_coverage": corrected.coverage,
        "note": corrected.note,
    }
    correction = plan_correction(old, new, reason=reason, by=by, labels=_IGA_LABELS)
    row.time_point = corrected.time_point
    row.iga_density = corrected.density
    row.iga_coverage = corrected.coverage
    row.note = corrected.note
    patient_id = _patient_of_course(session, row.course_id)
    return _store(session, "outcome_assessments", row.id, patient_id, correction, now=now, signer=signer)


def _answer_field(question_id: str) -> str:
    return f"answer.{question_id}"


def correct_self_assessment(
    session: Session,
    self_assessment_id: int,
    corrected: SelfAssessment,
    *,
    reason: str,
    by: str,
    now: datetime,
    signer: Signer | None = None,
    labels: Mapping[str, str] | None = None,
) -> CorrectionView:
    """Correct a patient's self-assessment to ``corrected`` (checked by ``validate_self_assessment``).

    Each answer is a field (``answer.<question id>``; ``labels`` names them by question id); an
    answer taken back is deleted, a new one added.
    """
    row = session.get(SelfAssessmentRow, self_assessment_id)
    if row is None:
        raise CorrectionError(f"no self-assessment with id {self_assessment_id}")
    stored = {
        answer.question_id: answer
        for answer in session.scalars(
            select(SelfAssessmentAnswer).where(SelfAssessmentAnswer.self_assessment_id == row.id)
        )
    }
    wanted = {answer.question_id: answer for answer in corrected.answers}
    questions = list(wanted) + sorted(set(stored) - set(wanted))
    old: dict[str, Any] = {"time_point": row.time_point}
    new: dict[str, Any] = {"time_point": corrected.time_point}
    names = {"time_point": "time point"}
    for question_id in questions:
        field = _answer_field(question_id)
        old[field] = stored[question_id].value if question_id in stored else None
        new[field] = wanted[question_id].value if question_id in wanted else None
        names[field] = (labels or {}).get(question_id, f"answer {question_id}")
    correction = plan_correction(old, new, reason=reason, by=by, labels=names)
    row.time_point = corrected.time_point
    for question_id in questions:
        answer = wanted.get(question_id)
        kept = stored.get(question_id)
        if answer is None and kept is not None:
            session.delete(kept)
        elif answer is not None and kept is None:
            session.add(
                SelfAssessmentAnswer(
                    self_assessment_id=row.id, question_id=question_id, value=answer.value, score=answer.score
                )
            )
        elif answer is not None and kept is not None and (kept.value, kept.score) != (answer.value, answer.score):
            kept.value = answer.value
            kept.score = answer.score
    patient_id = _patient_of_course(session, row.course_id)
    return _store(session, "self_assessments", row.id, patient_id, correction, now=now, signer=signer)


_EVENT_LABELS = {"onset_on": "onset", "resolved_on": "resolved on", "session_number": "after session"}


def correct_adverse_event(
    session: Session,
    event_id: int,
    corrected: AdverseEvent,
    *,
    reason: str,
    by: str,
    now: datetime,
    signer: Signer | None = None,
) -> CorrectionView:
    """Correct an adverse event to ``corrected`` (checked by ``validate_adverse_event``); who recorded it stays."""
    row = session.get(AdverseEventRow, event_id)
    if row is None:
        raise CorrectionError(f"no adverse event with id {event_id}")
    number = (
        session.scalar(select(TreatmentSession.number).where(TreatmentSession.id == row.session_id))
        if row.session_id is not None
        else None
    )
    session_id = None
    if corrected.session_number is not None:
        session_id = session.scalar(
            select(TreatmentSession.id)
            .where(TreatmentSession.course_id == row.course_id, TreatmentSession.number == corrected.session_number)
            .order_by(TreatmentSession.id.desc())
            .limit(1)
        )
        if session_id is None:
            raise CorrectionError(f"the course has no session {corrected.session_number}")
    old = {
        "what": row.what,
        "onset_on": _day(row.onset_on),
        "severity": row.severity,
        "resolved_on": _day(row.resolved_on),
        "session_number": number,
        "notes": row.notes,
    }
    new = {
        "what": corrected.what,
        "onset_on": _day(corrected.onset_on),
        "severity": corrected.severity.value,
        "resolved_on": _day(corrected.resolved_on),
        "session_number": corrected.session_number,
        "notes": corrected.notes,
    }
    correction = plan_correction(old, new, reason=reason, by=by, labels=_EVENT_LABELS)
    row.what = corrected.what
    row.onset_on = corrected.onset_on
    row.severity = corrected.severity.value
    row.resolved_on = corrected.resolved_on
    row.session_id = session_id if corrected.session_number is not None else None
    row.notes = corrected.notes
    patient_id = _patient_of_course(session, row.course_id)
    return _store(session, "adverse_events", row.id, patient_id, correction, now=now, signer=signer)


# --- screenings ---------------------------------------------------------------------------------------


def _lab_text(lab: LabResult | ScreeningLabResult) -> str:
    flag = lab.flag.value if isinstance(lab, LabResult) else lab.flag
    return f"{lab.taken_on.isoformat()} {flag}" + (f" ({lab.value})" if lab.value else "")


def _screening_fields(
    screened_on: date,
    sex: str,
    smoker: bool,
    grade: str,
    labs: Mapping[str, str],
    contraindications: Iterable[str],
    notes: str,
    tests: Iterable[str],
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "screened_on": screened_on.isoformat(),
        "sex": sex,
        "smoker": smoker,
        "norwood_grade": grade,
    }
    for test in tests:
        fields[f"lab.{test}"] = labs.get(test)
    fields["contraindications"] = sorted(contraindications)
    fields["notes"] = notes
    return fields


def correct_screening(
    session: Session,
    screening_id: int,
    corrected: Screening,
    *,
    protocol: TreatmentProtocol,
    reason: str,
    by: str,
    now: datetime,
    signer: Signer | None = None,
) -> CorrectionView:
    """Correct a screening's form to ``corrected`` and store its verdict judged again under ``protocol``.

    The verdict's change (if any) is listed with the fields; an override stays as it was. Who
    screened the patient stays.
    """
    row = session.get(ScreeningRow, screening_id)
    if row is None:
        raise CorrectionError(f"no screening with id {screening_id}")
    stored_labs = {
        lab.test: lab
        for lab in session.scalars(select(ScreeningLabResult).where(ScreeningLabResult.screening_id == row.id))
    }
    stored_items = {
        item.contraindication: item
        for item in session.scalars(
            select(ScreeningContraindication).where(ScreeningContraindication.screening_id == row.id)
        )
    }
    wanted_labs = {lab.test: lab for lab in corrected.labs}
    tests = [lab.id for lab in protocol.screening.labs]
    tests += sorted((set(stored_labs) | set(wanted_labs)) - set(tests))
    old = _screening_fields(
        row.screened_on,
        row.sex,
        row.smoker,
        row.norwood_grade,
        {test: _lab_text(lab) for test, lab in stored_labs.items()},
        stored_items,
        row.notes,
        tests,
    )
    new = _screening_fields(
        corrected.screened_on,
        corrected.sex.value,
        corrected.smoker,
        corrected.norwood_grade,
        {test: _lab_text(lab) for test, lab in wanted_labs.items()},
        corrected.contraindications,
        corrected.notes,
        tests,
    )
    labels = {"screened_on": "screened on", "norwood_grade": "Norwood grade"}
    labels.update({f"lab.{lab.id}": lab.label for lab in protocol.screening.labs})
    planned = plan_correction(old, new, reason=reason, by=by, labels=labels)
    result = evaluate_screening(corrected, protocol.screening)
    verdict = "eligible" if result.eligible else "not_eligible"
    derived = changed_fields(
        {"result": row.result, "protocol_version": f"{row.protocol_name} {row.protocol_version}"},
        {"result": verdict, "protocol_version": f"{protocol.name} {protocol.version}"},
        {"result": "verdict", "protocol_version": "protocol"},
    )
    correction = Correction(planned.changes + derived, planned.reason, planned.by)
    row.screened_on = corrected.screened_on
    row.sex = corrected.sex.value
    row.smoker = corrected.smoker
    row.norwood_grade = corrected.norwood_grade
    row.notes = corrected.notes
    row.protocol_name = protocol.name
    row.protocol_version = protocol.version
    row.result = verdict
    row.findings = result.message[:2000]
    for test in tests:
        lab = wanted_labs.get(test)
        kept = stored_labs.get(test)
        if lab is None and kept is not None:
            session.delete(kept)
        elif lab is not None and kept is None:
            session.add(
                ScreeningLabResult(
                    screening_id=row.id, test=lab.test, taken_on=lab.taken_on, flag=lab.flag.value, value=lab.value
                )
            )
        elif lab is not None and kept is not None and _lab_text(kept) != _lab_text(lab):
            kept.taken_on = lab.taken_on
            kept.flag = lab.flag.value
            kept.value = lab.value
    for item in set(stored_items) - set(corrected.contraindications):
        session.delete(stored_items[item])
    session.add_all(
        ScreeningContraindication(screening_id=row.id, contraindication=item)
        for item in corrected.contraindications
        if item not in stored_items
    )
    return _store(session, "screenings", row.id, row.patient_id, correction, now=now, signer=signer)


# --- patients ----------------------------------------------------------------------------------------

_PATIENT_LABELS = {"birth_year": "year of birth", "norwood_grade": "Norwood grade"}


def correct_patient(
    session: Session,
    patient_id: int,
    corrected: NewPatient,
    *,
    reason: str,
    by: str,
    now: datetime,
    signer: Signer | None = None,
) -> CorrectionView:
    """Correct a patient's name, year of birth and Norwood grade to ``corrected``'s (its code must be theirs)."""
    row = session.get(Patient, patient_id)
    if row is None:
        raise CorrectionError(f"no patient with id {patient_id}")
    if corrected.code != row.code:
        raise CorrectionError(
            f"a patient's code is not corrected ({row.code}): photos, reports and the audit trail know them by it"
        )
    old = {"name": row.name, "birth_year": row.birth_year, "norwood_grade": row.norwood_grade}
    grade = corrected.norwood_grade.value if corrected.norwood_grade is not None else None
    new = {"name": corrected.name, "birth_year": corrected.birth_year, "norwood_grade": grade}
    correction = plan_correction(old, new, reason=reason, by=by, labels=_PATIENT_LABELS)
    row.name = corrected.name
    row.birth_year = corrected.birth_year
    row.norwood_grade = grade
    return _store(session, "patients", row.id, row.id, correction, now=now, signer=signer)


# --- reading -----------------------------------------------------------------------------------------


def _signed(session: Session, rows: list[CorrectionRow]) -> list[CorrectionView]:
    found = signatures_of(session, RECORD_TABLES[SignedAct.CORRECTION], [row.id for row in rows]) if rows else {}
    return [_view(row, found[row.id][-1].mark if row.id in found else None) for row in rows]


def corrections_of(session: Session, table: str, record_ids: Iterable[int]) -> dict[int, list[CorrectionView]]:
    """The corrections of these records of ``table``, oldest first, by record id (uncorrected ones left out)."""
    ids = sorted(set(record_ids))
    rows: list[CorrectionRow] = []
    for start in range(0, len(ids), 500):
        rows.extend(
            session.scalars(
                select(CorrectionRow)
                .where(CorrectionRow.table_name == table, CorrectionRow.record_id.in_(ids[start : start + 500]))
                .order_by(CorrectionRow.corrected_at, CorrectionRow.id)
            )
        )
    found: dict[int, list[CorrectionView]] = {}
    for view in _signed(session, rows):
        found.setdefault(view.record_id, []).append(view)
    return found


def corrections_of_patient(session: Session, patient_id: int) -> list[CorrectionView]:
    """Every correction of a record of the patient (their details, screenings, outcomes), oldest first."""
    rows = list(
        session.scalars(
            select(CorrectionRow)
            .where(CorrectionRow.patient_id == patient_id)
            .order_by(CorrectionRow.corrected_at, CorrectionRow.id)
        )
    )
    return _signed(session, rows)
