"""Use cases on the schedule: what is due, the checks before a session starts, and opening it with them.

Stored times are UTC; the schedule works on the clinic's calendar days, so each function
takes ``tz`` (default: the machine's local zone) to turn a stored time into a day.

Before session ``n`` of a course starts, :func:`start_checks` gives two things to show:

- the timing (:class:`~stampside.app.domain.schedule.TimingCheck`): early or late starts need a
  confirmation, passed as a :class:`~stampside.app.domain.schedule.Deviation` from
  :meth:`TimingCheck.confirm`;
- the photo gate (:class:`~stampside.app.domain.course_gates.CourseGateResult`): session 1 needs the
  complete baseline set, or an override from :meth:`CourseGateResult.overridden`.

:func:`open_scheduled_session` opens the session only when both are satisfied and records the
deviation (``schedule_deviations``) and the override (``course_overrides``) with it. It raises
:class:`ConfirmationNeeded` or :class:`PhotosIncomplete` (both :class:`ScheduleError`)
otherwise, carrying the check so the screen can ask and call again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from stampside.app.domain.course_gates import CourseGate, CourseGateResult, CourseOverride
from stampside.app.domain.schedule import (
    CourseState,
    Deviation,
    DueItem,
    Timing,
    TimingCheck,
    check_session_timing,
    course_rules_for,
    due_items,
)
from stampside.app.domain.signatures import SignedAct, Signer
from stampside.app.domain.timepoints import check_photo_gate
from stampside.app.domain.treatment_protocol import TimePointAnchor, TreatmentProtocol
from stampside.app.storage.photos import registered_views
from stampside.app.storage.schema import (
    Course,
    CourseOverrideRow,
    OutcomeAssessment,
    Patient,
    ScheduleDeviation,
    TreatmentSession,
)
from stampside.app.storage.sessions import SessionView, ZoneSetting, open_session
from stampside.app.storage.signatures import sign_record

__all__ = [
    "ConfirmationNeeded",
    "PhotosIncomplete",
    "ScheduleError",
    "StartChecks",
    "StoredCourseOverride",
    "course_overrides",
    "course_state",
    "course_states",
    "deviations",
    "list_due_items",
    "local_day",
    "open_scheduled_session",
    "start_checks",
]


class ScheduleError(ValueError):
    """A session cannot start as asked; the message says why."""


class ConfirmationNeeded(ScheduleError):
    """The start is early or late: confirm it (:meth:`TimingCheck.confirm`) and pass the deviation."""

    def __init__(self, check: TimingCheck) -> None:
        self.check = check
        super().__init__(f"session {check.number} would start {check.message}; confirm to go on")


class PhotosIncomplete(ScheduleError):
    """The photo set this session needs is incomplete: register the photos or override with a reason."""

    def __init__(self, gate: CourseGateResult) -> None:
        self.gate = gate
        super().__init__(gate.message)


def local_day(moment: datetime, tz: tzinfo | None = None) -> date:
    """The clinic's calendar day of a stored (aware) time; ``tz=None`` is the machine's zone."""
    return moment.astimezone(tz).date()


def _finished_days(session: Session, course_id: int, tz: tzinfo | None) -> tuple[date, ...]:
    rows = session.execute(
        select(TreatmentSession.started_at, TreatmentSession.ended_at)
        .where(TreatmentSession.course_id == course_id, TreatmentSession.status == "finished")
        .order_by(TreatmentSession.number, TreatmentSession.id)
    ).all()
    return tuple(local_day(ended or started, tz) for started, ended in rows)


def course_state(
    session: Session, course_id: int, *, protocol: TreatmentProtocol, tz: tzinfo | None = None
) -> CourseState:
    """A course as :mod:`stampside.app.domain.schedule` sees it."""
    course = session.get(Course, course_id)
    if course is None:
        raise ScheduleError(f"no course with id {course_id}")
    code = session.scalar(select(Patient.code).where(Patient.id == course.patient_id)) or ""
    has_open = (
        session.scalar(
            select(TreatmentSession.id).where(
                TreatmentSession.course_id == course_id, TreatmentSession.status == "open"
            )
        )
        is not None
    )
    months_of = {
        point.id: point.months
        for point in protocol.photos.time_points
        if point.anchor is TimePointAnchor.FOLLOW_UP and point.months is not None
    }
    assessed = session.scalars(
        select(OutcomeAssessment.time_point).where(OutcomeAssessment.course_id == course_id)
    ).all()
    return CourseState(
        course_id=course.id,
        patient_id=course.patient_id,
        patient_code=code,
        status=course.status,
        planned_sessions=course.planned_sessions,
        interval_days=course.interval_days,
        started_on=local_day(course.started_at, tz),
        session_days=_finished_days(session, course_id, tz),
        has_open_session=has_open,
        follow_ups_done=frozenset(months_of[p] for p in assessed if p in months_of),
    )


def course_states(
    session: Session, *, protocol: TreatmentProtocol, tz: tzinfo | None = None, include_stopped: bool = False
) -> list[CourseState]:
    """Every course (stopped ones only if asked), oldest first."""
    query = select(Course.id).order_by(Course.started_at, Course.id)
    if not include_stopped:
        query = query.where(Course.status != "stopped")
    return [course_state(session, course_id, protocol=protocol, tz=tz) for course_id in session.scalars(query)]


def list_due_items(
    session: Session,
    *,
    protocol: TreatmentProtocol,
    today: date,
    tz: tzinfo | None = None,
    horizon_days: int = 7,
) -> list[DueItem]:
    """What is due today and this week (and overdue), most pressing first, for the start screen."""
    return due_items(course_states(session, protocol=protocol, tz=tz), protocol, today, horizon_days=horizon_days)


@dataclass(frozen=True, slots=True)
class StartChecks:
    """What must be settled before session ``number`` of a course starts on ``today``."""

    course_id: int
    number: int
    timing: TimingCheck
    photos: CourseGateResult

    @property
    def clear(self) -> bool:
        """True when nothing needs a confirmation or an override."""
        return not self.timing.needs_confirmation and self.photos.ok


def start_checks(
    session: Session, course_id: int, *, protocol: TreatmentProtocol, today: date, tz: tzinfo | None = None
) -> StartChecks:
    """The timing and photo checks for the next session of the course."""
    state = course_state(session, course_id, protocol=protocol, tz=tz)
    number = len(state.session_days) + 1
    previous = state.session_days[-1] if state.session_days else None
    timing = check_session_timing(course_rules_for(state, protocol), number, previous, today)
    photos = check_photo_gate(protocol, number, registered_views(session, course_id))
    return StartChecks(course_id, number, timing, photos)


def open_scheduled_session(
    session: Session,
    course_id: int,
    *,
    protocol: TreatmentProtocol,
    practitioner_id: int,
    now: datetime,
    tz: tzinfo | None = None,
    deviation: Deviation | None = None,
    photo_override: CourseOverride | None = None,
    zones: Iterable[ZoneSetting] = (),
    signer: Signer | None = None,
    chair: str | None = None,
) -> SessionView:
    """Open the next session after its schedule and photo checks; record the deviation and override used.

    Raises :class:`ConfirmationNeeded` for an early or late start without a matching
    ``deviation``, and :class:`PhotosIncomplete` for a gated session whose photo set is
    incomplete without a ``photo_override`` (of the ``baseline_photos`` gate). Errors of
    :func:`stampside.app.storage.sessions.open_session` pass through. ``signer``: the practitioner who
    confirmed the deviation or made the override with their PIN; each is signed (overridden) with it.
    ``chair``: this chair's name, held with the patient while the session is open
    (:class:`~stampside.app.storage.claims.SessionClaimed` when another chair holds the patient).
    """
    checks = start_checks(session, course_id, protocol=protocol, today=local_day(now, tz), tz=tz)
    if checks.timing.needs_confirmation and (
        deviation is None
        or deviation.session_number != checks.number
        or deviation.timing is not checks.timing.timing
        or deviation.days_since_previous != checks.timing.days_since_previous
    ):
        raise ConfirmationNeeded(checks.timing)
    if not checks.photos.ok and (photo_override is None or photo_override.gate is not CourseGate.BASELINE_PHOTOS):
        raise PhotosIncomplete(checks.photos)
    view = open_session(
        session, course_id, protocol=protocol, practitioner_id=practitioner_id, now=now, zones=zones, chair=chair
    )
    signed: list[tuple[SignedAct, ScheduleDeviation | CourseOverrideRow]] = []
    if checks.timing.needs_confirmation and deviation is not None:
        deviation_row = ScheduleDeviation(
            session_id=view.id,
            timing=deviation.timing.value,
            days_since_previous=deviation.days_since_previous,
            due_on=deviation.due_on,
            earliest_days=deviation.earliest_days,
            latest_days=deviation.latest_days,
            confirmed_by=deviation.confirmed_by,
            confirmed_at=deviation.confirmed_at,
            note=deviation.note[:1000],
        )
        session.add(deviation_row)
        signed.append((SignedAct.SCHEDULE_DEVIATION, deviation_row))
    if not checks.photos.passed and photo_override is not None:
        override_row = CourseOverrideRow(
            course_id=course_id,
            session_id=view.id,
            gate=photo_override.gate.value,
            reason=photo_override.reason,
            made_by=photo_override.by,
            made_at=photo_override.at,
            failure=(photo_override.failure or checks.photos.message)[:2000],
        )
        session.add(override_row)
        signed.append((SignedAct.COURSE_OVERRIDE, override_row))
    session.flush()
    if signer is not None:
        for act, row in signed:
            sign_record(session, signer, act, row.id, at=now, patient_id=view.patient_id)
    return view


def deviations(session: Session, course_id: int) -> dict[int, Deviation]:
    """The recorded schedule deviations of a course, by session id."""
    rows = session.execute(
        select(ScheduleDeviation, TreatmentSession.number)
        .join(TreatmentSession, ScheduleDeviation.session_id == TreatmentSession.id)
        .where(TreatmentSession.course_id == course_id)
        .order_by(TreatmentSession.number)
    ).all()
    return {
        row.session_id: Deviation(
            session_number=number,
            timing=Timing(row.timing),
            days_since_previous=row.days_since_previous,
            due_on=row.due_on,
            earliest_days=row.earliest_days,
            latest_days=row.latest_days,
            confirmed_by=row.confirmed_by,
            confirmed_at=row.confirmed_at,
            note=row.note,
        )
        for row, number in rows
    }


@dataclass(frozen=True, slots=True)
class StoredCourseOverride:
    """A course gate override as stored, with the session it let start (if any)."""

    id: int
    course_id: int
    session_id: int | None
    override: CourseOverride


def course_overrides(session: Session, course_id: int) -> list[StoredCourseOverride]:
    """The course gate overrides of a course, oldest first."""
    rows = session.scalars(
        select(CourseOverrideRow)
        .where(CourseOverrideRow.course_id == course_id)
        .order_by(CourseOverrideRow.made_at, CourseOverrideRow.id)
    )
    return [
        StoredCourseOverride(
            row.id,
            row.course_id,
            row.session_id,
            CourseOverride(CourseGate(row.gate), row.reason, row.made_by, row.made_at, row.failure),
        )
        for row in rows
    ]
