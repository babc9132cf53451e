"""Use cases on courses: start one for a patient, and the summary the start screen shows.

A course plans ``planned_sessions`` sessions (6 by default) ``interval_days`` apart (7 by
default). Only finished sessions count: the summary says "session k of 6" for the next one,
when the last one was, and when the next is due (the last session's end + the interval).

:func:`start_screened_course` is the way the app starts a course: it refuses one unless the
patient's newest screening passes the protocol's eligibility rules or was overridden
(:class:`NotEligibleError`), takes the session count and interval from the protocol, and
records which screening let the course start. :func:`start_course` is the unguarded step
underneath (kept for imports of old data and for tests).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stampside.app.domain.treatment_protocol import TreatmentProtocol
from stampside.app.storage.savepoint import savepoint
from stampside.app.storage.schema import Course, CourseScreening, Patient, TreatmentSession
from stampside.app.storage.screening import CourseEligibility, course_eligibility

DEFAULT_PLANNED_SESSIONS = 6
DEFAULT_INTERVAL_DAYS = 7


class CourseError(ValueError):
    """A course cannot be started or changed as asked; the message says why."""


class NotEligibleError(CourseError):
    """The screening gate refused the course: no screening, or one that failed and was not overridden."""

    def __init__(self, eligibility: CourseEligibility) -> None:
        self.eligibility = eligibility
        super().__init__(f"the course cannot start: {eligibility.message}")


@dataclass(frozen=True, slots=True)
class CourseSummary:
    """Where a patient's newest course stands."""

    course_id: int
    patient_id: int
    patient_code: str
    planned_sessions: int
    interval_days: int
    status: str
    started_at: datetime
    #: Finished sessions.
    completed: int
    #: When the last finished session ended, or ``None`` before the first.
    last_session_at: datetime | None
    #: When the next session is due, or ``None`` when it is due now (first session) or the course is done.
    next_due_at: datetime | None
    #: The session left open (by a crash), to offer resuming it.
    open_session_id: int | None
    #: The last finished session, or ``None`` before the first.
    last_session_id: int | None = None

    @property
    def done(self) -> bool:
        return self.completed >= self.planned_sessions or self.status != "active"

    @property
    def next_number(self) -> int:
        """The number the next session gets (k of "session k of n")."""
        return self.completed + 1

    @property
    def label(self) -> str:
        if self.done:
            return f"course complete: {self.completed} of {self.planned_sessions} sessions"
        return f"session {self.next_number} of {self.planned_sessions}"


#: Why a second course cannot start while one is active.
ALREADY_ACTIVE = "this patient already has an active course; finish or stop it first"


def start_course(
    session: Session,
    patient_id: int,
    *,
    now: datetime,
    planned_sessions: int = DEFAULT_PLANNED_SESSIONS,
    interval_days: int = DEFAULT_INTERVAL_DAYS,
) -> int:
    """Start a course for the patient and return its id; one active course per patient."""
    if session.get(Patient, patient_id) is None:
        raise CourseError(f"no patient with id {patient_id}")
    if not 1 <= planned_sessions <= 100:
        raise CourseError(f"a course has 1 to 100 sessions, not {planned_sessions}")
    if not 1 <= interval_days <= 365:
        raise CourseError(f"sessions are 1 to 365 days apart, not {interval_days}")
    active = session.scalar(select(Course.id).where(Course.patient_id == patient_id, Course.status == "active"))
    if active is not None:
        raise CourseError(ALREADY_ACTIVE)
    course = Course(
        patient_id=patient_id,
        planned_sessions=planned_sessions,
        interval_days=interval_days,
        started_at=now,
        status="active",
    )
    try:
        # The check above says it kindly; the database's unique index is the rule: another chair
        # may have started a course for this patient since (its INSERT refused ours).
        with savepoint(session):
            session.add(course)
            session.flush()
    except IntegrityError:
        raise CourseError(ALREADY_ACTIVE + " (started at another chair just now)") from None
    return course.id


def start_screened_course(
    session: Session,
    patient_id: int,
    *,
    protocol: TreatmentProtocol,
    now: datetime,
    today: date | None = None,
) -> int:
    """Start a course if the patient's screening passes (or was overridden); record which screening.

    The screening is judged under ``protocol`` on ``today`` (default: ``now``'s date), so a lab
    result gone stale since the screening is flagged. Raises :class:`NotEligibleError` (a
    :class:`CourseError`) with the reasons otherwise.
    """
    eligibility = course_eligibility(session, patient_id, protocol=protocol, today=today or now.date())
    if not eligibility.ok or eligibility.screening_id is None:
        raise NotEligibleError(eligibility)
    course_id = start_course(
        session,
        patient_id,
        now=now,
        planned_sessions=protocol.course.sessions,
        interval_days=protocol.course.interval_days,
    )
    session.add(CourseScreening(course_id=course_id, screening_id=eligibility.screening_id))
    session.flush()
    return course_id


def course_screening_id(session: Session, course_id: int) -> int | None:
    """The screening that let the course start, or ``None`` for a course started without the gate."""
    return session.scalar(select(CourseScreening.screening_id).where(CourseScreening.course_id == course_id))


def stop_course(session: Session, course_id: int) -> None:
    """Stop a course early (the patient left, or the plan changed)."""
    course = session.get(Course, course_id)
    if course is None:
        raise CourseError(f"no course with id {course_id}")
    course.status = "stopped"


def current_course_id(session: Session, patient_id: int) -> int | None:
    """The patient's newest course, active or not."""
    return session.scalar(
        select(Course.id).where(Course.patient_id == patient_id).order_by(Course.started_at.desc(), Course.id.desc())
    )


def course_summary(session: Session, patient_id: int) -> CourseSummary | None:
    """The summary of the patient's newest course, or ``None`` if they have none."""
    course_id = current_course_id(session, patient_id)
    if course_id is None:
        return None
    course = session.get_one(Course, course_id)
    code = session.scalar(select(Patient.code).where(Patient.id == patient_id)) or ""
    finished = (TreatmentSession.course_id == course_id) & (TreatmentSession.status == "finished")
    completed = session.scalar(select(func.count(TreatmentSession.id)).where(finished)) or 0
    # The newest end, read through the column type (max() would bypass it on SQLite).
    last = session.execute(
        select(TreatmentSession.id, TreatmentSession.ended_at)
        .where(finished)
        .order_by(TreatmentSession.ended_at.desc())
        .limit(1)
    ).first()
    last_id, last_at = (last.id, last.ended_at) if last is not None else (None, None)
    open_id = session.scalar(
        select(TreatmentSession.id)
        .where(TreatmentSession.course_id == course_id, TreatmentSession.status == "open")
        .order_by(TreatmentSession.started_at.desc())
    )
    summary = CourseSummary(
        course_id=course.id,
        patient_id=patient_id,
        patient_code=code,
        planned_sessions=course.planned_sessions,
        interval_days=course.interval_days,
        status=course.status,
        started_at=course.started_at,
        completed=int(completed),
        last_session_at=last_at,
        next_due_at=None,
        open_session_id=open_id,
        last_session_id=last_id,
    )
    if last_at is not None and not summary.done:
        return replace(summary, next_due_at=last_at + timedelta(days=course.interval_days))
    return summary
