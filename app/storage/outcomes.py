"""Use cases on outcomes: IGA assessments, self-assessments, adverse events and blinded ratings of a course.

Values arrive already checked by :mod:`stampside.app.domain.outcomes` (``validate_iga``,
``validate_self_assessment``, ``validate_adverse_event``); these functions store them
against a course and read them back as plain frozen views for the screens and reports.

Blinded rating: :func:`blinded_round` builds the pairs of a round from the stored photos
(the ``before`` time point against the ``after`` one, per view, newest photo of each) in the
seeded random order of :func:`stampside.app.domain.outcomes.blinded_pairs`; :func:`record_blinded_call`
stores a rater's call on one pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from stampside.app.domain.outcomes import (
    AdverseEvent,
    Answer,
    BlindedCall,
    BlindedPair,
    IgaAssessment,
    PairSource,
    SelfAssessment,
    Severity,
    Side,
    blinded_pairs,
)
from stampside.app.domain.signatures import SignatureMark, SignedAct, Signer
from stampside.app.storage.photos import current_photos
from stampside.app.storage.schema import (
    AdverseEventRow,
    BlindedRating,
    Course,
    OutcomeAssessment,
    SelfAssessmentAnswer,
    SelfAssessmentRow,
    TreatmentSession,
)
from stampside.app.storage.signatures import RECORD_TABLES, sign_record, signatures_of

__all__ = [
    "AdverseEventView",
    "AssessmentView",
    "BlindedRatingView",
    "OutcomeError",
    "SelfAssessmentView",
    "blinded_round",
    "list_adverse_events",
    "list_assessments",
    "list_blinded_ratings",
    "list_self_assessments",
    "record_adverse_event",
    "record_assessment",
    "record_blinded_call",
    "record_self_assessment",
]


class OutcomeError(ValueError):
    """An outcome cannot be stored as asked; the message says why."""


def _course(session: Session, course_id: int) -> Course:
    course = session.get(Course, course_id)
    if course is None:
        raise OutcomeError(f"no course with id {course_id}")
    return course


@dataclass(frozen=True, slots=True)
class AssessmentView:
    id: int
    course_id: int
    assessed_at: datetime
    assessment: IgaAssessment
    #: The rater's signature (performed), when they signed it with their PIN.
    signature: SignatureMark | None = None


def _signed(session: Session, act: SignedAct, ids: list[int]) -> dict[int, SignatureMark]:
    """The newest signature of each of these records of ``act``'s table, by id."""
    found = signatures_of(session, RECORD_TABLES[act], ids) if ids else {}
    return {record_id: views[-1].mark for record_id, views in found.items()}


def _sign(
    session: Session, signer: Signer | None, act: SignedAct, record_id: int, course: Course, now: datetime
) -> SignatureMark | None:
    if signer is None:
        return None
    return sign_record(session, signer, act, record_id, at=now, patient_id=course.patient_id).mark


def record_assessment(
    session: Session, course_id: int, assessment: IgaAssessment, *, now: datetime, signer: Signer | None = None
) -> AssessmentView:
    """Store an investigator's global assessment of the course at its time point (signed by ``signer``, if given)."""
    course = _course(session, course_id)
    row = OutcomeAssessment(
        course_id=course_id,
        time_point=assessment.time_point,
        iga_density=assessment.density,
        iga_coverage=assessment.coverage,
        rater=assessment.rater,
        assessed_at=now,
        note=assessment.note,
    )
    session.add(row)
    session.flush()
    mark = _sign(session, signer, SignedAct.OUTCOME_ASSESSMENT, row.id, course, now)
    return AssessmentView(row.id, course_id, now, assessment, mark)


def list_assessments(session: Session, course_id: int) -> list[AssessmentView]:
    """The course's IGA assessments, oldest first."""
    rows = session.scalars(
        select(OutcomeAssessment)
        .where(OutcomeAssessment.course_id == course_id)
        .order_by(OutcomeAssessment.assessed_at, OutcomeAssessment.id)
    ).all()
    signed = _signed(session, SignedAct.OUTCOME_ASSESSMENT, [row.id for row in rows])
    return [
        AssessmentView(
            row.id,
            row.course_id,
            row.assessed_at,
            IgaAssessment(row.time_point, row.iga_density, row.iga_coverage, row.rater, row.note),
            signed.get(row.id),
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class SelfAssessmentView:
    id: int
    course_id: int
    answered_at: datetime
    recorded_by: str
    self_assessment: SelfAssessment
    #: The signature of who entered the answers (performed), when signed with a PIN.
    signature: SignatureMark | None = None


def record_self_assessment(
    session: Session,
    course_id: int,
    answers: SelfAssessment,
    *,
    recorded_by: str,
    now: datetime,
    signer: Signer | None = None,
) -> SelfAssessmentView:
    """Store the patient's answers at a time point; ``recorded_by`` is who entered them (``signer`` signs them)."""
    course = _course(session, course_id)
    who = recorded_by.strip()
    if not who:
        raise OutcomeError("name who entered the patient's answers")
    row = SelfAssessmentRow(course_id=course_id, time_point=answers.time_point, answered_at=now, recorded_by=who)
    session.add(row)
    session.flush()
    session.add_all(
        SelfAssessmentAnswer(self_assessment_id=row.id, question_id=a.question_id, value=a.value, score=a.score)
        for a in answers.answers
    )
    session.flush()
    mark = _sign(session, signer, SignedAct.SELF_ASSESSMENT, row.id, course, now)
    return SelfAssessmentView(row.id, course_id, now, who, answers, mark)


def list_self_assessments(session: Session, course_id: int) -> list[SelfAssessmentView]:
    """The course's self-assessments, oldest first; answers by question id (show them in the protocol's order)."""
    rows = session.scalars(
        select(SelfAssessmentRow)
        .where(SelfAssessmentRow.course_id == course_id)
        .order_by(SelfAssessmentRow.answered_at, SelfAssessmentRow.id)
    ).all()
    signed = _signed(session, SignedAct.SELF_ASSESSMENT, [row.id for row in rows])
    views = []
    for row in rows:
        answers = session.scalars(
            select(SelfAssessmentAnswer)
            .where(SelfAssessmentAnswer.self_assessment_id == row.id)
            .order_by(SelfAssessmentAnswer.question_id)
        ).all()
        views.append(
            SelfAssessmentView(
                row.id,
                row.course_id,
                row.answered_at,
                row.recorded_by,
                SelfAssessment(row.time_point, tuple(Answer(a.question_id, a.value, a.score) for a in answers)),
                signed.get(row.id),
            )
        )
    return views


@dataclass(frozen=True, slots=True)
class AdverseEventView:
    id: int
    course_id: int
    session_id: int | None
    recorded_by: str
    recorded_at: datetime
    event: AdverseEvent
    #: The signature of who recorded it (performed), when signed with a PIN.
    signature: SignatureMark | None = None


def record_adverse_event(
    session: Session,
    course_id: int,
    event: AdverseEvent,
    *,
    recorded_by: str,
    now: datetime,
    signer: Signer | None = None,
) -> AdverseEventView:
    """Store an adverse event; a ``session_number`` is linked to that session of the course if it exists.

    ``signer`` signs it (performed).
    """
    course = _course(session, course_id)
    who = recorded_by.strip()
    if not who:
        raise OutcomeError("name who recorded the adverse event")
    session_id = None
    if event.session_number is not None:
        session_id = session.scalar(
            select(TreatmentSession.id)
            .where(TreatmentSession.course_id == course_id, TreatmentSession.number == event.session_number)
            .order_by(TreatmentSession.id.desc())
            .limit(1)
        )
        if session_id is None:
            raise OutcomeError(f"the course has no session {event.session_number}")
    row = AdverseEventRow(
        course_id=course_id,
        session_id=session_id,
        what=event.what,
        onset_on=event.onset_on,
        severity=event.severity.value,
        resolved_on=event.resolved_on,
        notes=event.notes,
        recorded_by=who,
        recorded_at=now,
    )
    session.add(row)
    session.flush()
    mark = _sign(session, signer, SignedAct.ADVERSE_EVENT, row.id, course, now)
    return AdverseEventView(row.id, course_id, session_id, who, now, event, mark)


def list_adverse_events(session: Session, course_id: int | None = None) -> list[AdverseEventView]:
    """Adverse events (of one course, or all), by onset."""
    query = select(AdverseEventRow, TreatmentSession.number).outerjoin(
        TreatmentSession, AdverseEventRow.session_id == TreatmentSession.id
    )
    if course_id is not None:
        query = query.where(AdverseEventRow.course_id == course_id)
    rows = session.execute(query.order_by(AdverseEventRow.onset_on, AdverseEventRow.id)).all()
    signed = _signed(session, SignedAct.ADVERSE_EVENT, [row.id for row, _ in rows])
    return [
        AdverseEventView(
            row.id,
            row.course_id,
            row.session_id,
            row.recorded_by,
            row.recorded_at,
            AdverseEvent(row.what, row.onset_on, Severity(row.severity), row.resolved_on, number, row.notes),
            signed.get(row.id),
        )
        for row, number in rows
    ]


def blinded_round(
    session: Session,
    *,
    seed: int,
    before: str = "baseline",
    after: str = "after_session_6",
    course_ids: list[int] | None = None,
) -> list[BlindedPair]:
    """The pairs of a blinded round: each view with a ``before`` and an ``after`` photo, in seeded order."""
    if course_ids is None:
        course_ids = list(session.scalars(select(Course.id).order_by(Course.id)))
    sources = []
    for course_id in course_ids:
        photos = current_photos(session, course_id)
        for (time_point, view), photo in sorted(photos.items()):
            if time_point != before:
                continue
            later = photos.get((after, view))
            if later is not None:
                sources.append(PairSource(course_id, view, photo.id, later.id))
    return blinded_pairs(sources, seed)


@dataclass(frozen=True, slots=True)
class BlindedRatingView:
    id: int
    round_seed: int
    pair: BlindedPair
    call: BlindedCall
    rater: str
    rated_at: datetime

    @property
    def improved(self) -> bool | None:
        return self.pair.improved(self.call)


def record_blinded_call(
    session: Session, pair: BlindedPair, call: BlindedCall, *, seed: int, rater: str, now: datetime
) -> BlindedRatingView:
    """Store a rater's call on one pair of a round."""
    _course(session, pair.course_id)
    who = rater.strip()
    if not who:
        raise OutcomeError("name the rater")
    row = BlindedRating(
        round_seed=seed,
        position=pair.position,
        course_id=pair.course_id,
        view=pair.view,
        left_photo_id=pair.left_photo_id,
        right_photo_id=pair.right_photo_id,
        after_side=pair.after_side.value,
        call=call.value,
        rater=who,
        rated_at=now,
    )
    session.add(row)
    session.flush()
    return BlindedRatingView(row.id, seed, pair, call, who, now)


def list_blinded_ratings(session: Session, *, course_id: int | None = None) -> list[BlindedRatingView]:
    """Stored blinded calls, in the order they were made."""
    query = select(BlindedRating).order_by(BlindedRating.rated_at, BlindedRating.id)
    if course_id is not None:
        query = query.where(BlindedRating.course_id == course_id)
    return [
        BlindedRatingView(
            row.id,
            row.round_seed,
            BlindedPair(
                row.position, row.course_id, row.view, row.left_photo_id, row.right_photo_id, Side(row.after_side)
            ),
            BlindedCall(row.call),
            row.rater,
            row.rated_at,
        )
        for row in session.scalars(query)
    ]


def outcome_days(session: Session, course_id: int) -> dict[str, date]:
    """The day each outcome time point of the course was assessed (the first IGA at it)."""
    days: dict[str, date] = {}
    for view in list_assessments(session, course_id):
        days.setdefault(view.assessment.time_point, view.assessed_at.date())
    return days
