"""The course schedule: when each session is due, whether a start is on time, follow-ups, due items.

All of it works on calendar days (``date``) in the clinic's time zone; storage converts its
UTC times before calling in. The rules come from the protocol's ``[course]`` and
``[follow_up]`` tables (:class:`~stampside.app.domain.treatment_protocol.CourseRules`,
:class:`~stampside.app.domain.treatment_protocol.FollowUpRules`).

- Session ``n`` (n ≥ 2) is due ``interval_days`` after session ``n-1``; starting it from
  ``earliest_days`` to ``latest_days`` days after is *on time* (5–10 days by default).
  Earlier is *early*, later is *late*: both need a confirmation, which yields a
  :class:`Deviation` to store (:meth:`TimingCheck.confirm`). Session 1 has no previous session
  and is always on time.
- Follow-ups fall ``months`` calendar months after the last session (3 and 6 by default), on
  time within ``window_days`` either side.
- :func:`due_items` lists what is due for a set of courses: overdue, due today, or due in the
  next days (this week: the next 7 days, today included).
- :func:`next_appointments` says what comes after a session, for the aftercare card: the
  next session of the course, or after the last one its follow-ups.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from stampside.app.domain.gates import OverrideRefused, checked_reason
from stampside.app.domain.treatment_protocol import CourseRules, TimePointAnchor, TreatmentProtocol

__all__ = [
    "CourseState",
    "Deviation",
    "DeviationRefused",
    "DueItem",
    "DueKind",
    "DueWhen",
    "FollowUpDue",
    "NextAppointment",
    "SessionWindow",
    "Timing",
    "TimingCheck",
    "add_months",
    "check_session_timing",
    "due_items",
    "follow_ups",
    "next_appointments",
    "session_window",
]

#: "This week" in :func:`due_items`: today and the 6 days after it.
WEEK_DAYS = 7


class DeviationRefused(ValueError):
    """A deviation was confirmed without a practitioner, or for a start that is on time."""


class Timing(StrEnum):
    """A session start against its window."""

    FIRST = "first"
    ON_TIME = "on_time"
    EARLY = "early"
    LATE = "late"


@dataclass(frozen=True, slots=True)
class SessionWindow:
    """When session ``number`` is due: on ``due_on``, on time from ``earliest`` to ``latest`` inclusive."""

    number: int
    previous_on: date
    due_on: date
    earliest: date
    latest: date


def session_window(rules: CourseRules, number: int, previous_on: date) -> SessionWindow:
    """The window of session ``number`` after the previous session on ``previous_on``."""
    return SessionWindow(
        number=number,
        previous_on=previous_on,
        due_on=previous_on + timedelta(days=rules.interval_days),
        earliest=previous_on + timedelta(days=rules.earliest_days),
        latest=previous_on + timedelta(days=rules.latest_days),
    )


@dataclass(frozen=True, slots=True)
class Deviation:
    """A session started outside its window, confirmed by a practitioner (stored with the session)."""

    session_number: int
    timing: Timing
    days_since_previous: int
    due_on: date
    earliest_days: int
    latest_days: int
    confirmed_by: str
    confirmed_at: datetime
    note: str = ""

    @property
    def message(self) -> str:
        return _timing_message(self.timing, self.days_since_previous, self.earliest_days, self.latest_days)


def _timing_message(timing: Timing, days: int | None, earliest: int, latest: int) -> str:
    if timing is Timing.FIRST:
        return "first session of the course"
    window = f"{earliest}–{latest} days"
    if timing is Timing.ON_TIME:
        return f"on time: {days} days after the previous session (window {window})"
    word = "early" if timing is Timing.EARLY else "late"
    return f"{word}: {days} days after the previous session; the protocol's window is {window}"


@dataclass(frozen=True, slots=True)
class TimingCheck:
    """Whether starting session ``number`` on ``on`` keeps to the schedule."""

    number: int
    on: date
    timing: Timing
    window: SessionWindow | None
    days_since_previous: int | None
    earliest_days: int
    latest_days: int

    @property
    def needs_confirmation(self) -> bool:
        return self.timing in (Timing.EARLY, Timing.LATE)

    @property
    def message(self) -> str:
        return _timing_message(self.timing, self.days_since_previous, self.earliest_days, self.latest_days)

    def confirm(self, *, by: str, at: datetime, reason: str) -> Deviation:
        """The deviation to record when ``by`` confirms an early or late start, saying why.

        The reason follows the rule every override follows (:func:`~stampside.app.domain.gates.checked_reason`):
        a start outside the window is let through like any failing gate, with a real reason.
        """
        if not self.needs_confirmation or self.window is None or self.days_since_previous is None:
            raise DeviationRefused(
                f"session {self.number} is {self.timing.value.replace('_', ' ')}; nothing to confirm"
            )
        who = by.strip()
        if not who:
            raise DeviationRefused("confirming a start outside the window needs the practitioner who confirms it")
        try:
            text, who = checked_reason(f"the {self.timing.value} start", reason, who)
        except OverrideRefused as refused:
            raise DeviationRefused(str(refused)) from None
        return Deviation(
            session_number=self.number,
            timing=self.timing,
            days_since_previous=self.days_since_previous,
            due_on=self.window.due_on,
            earliest_days=self.earliest_days,
            latest_days=self.latest_days,
            confirmed_by=who,
            confirmed_at=at,
            note=text,
        )


def check_session_timing(rules: CourseRules, number: int, previous_on: date | None, on: date) -> TimingCheck:
    """Check starting session ``number`` on ``on``; ``previous_on`` is the day of session ``number-1``."""
    if number <= 1 or previous_on is None:
        return TimingCheck(number, on, Timing.FIRST, None, None, rules.earliest_days, rules.latest_days)
    window = session_window(rules, number, previous_on)
    days = (on - previous_on).days
    if on < window.earliest:
        timing = Timing.EARLY
    elif on > window.latest:
        timing = Timing.LATE
    else:
        timing = Timing.ON_TIME
    return TimingCheck(number, on, timing, window, days, rules.earliest_days, rules.latest_days)


def add_months(day: date, months: int) -> date:
    """``day`` plus calendar ``months``; the 31st becomes the month's last day when it has fewer."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class FollowUpDue:
    """A follow-up ``months`` after the last session; ``time_point`` is its photo time point, if any."""

    months: int
    time_point: str | None
    label: str
    due_on: date
    earliest: date
    latest: date


def follow_ups(protocol: TreatmentProtocol, last_session_on: date) -> tuple[FollowUpDue, ...]:
    """The follow-ups of a course whose last session was on ``last_session_on``."""
    points = {point.months: point for point in protocol.photos.time_points if point.anchor is TimePointAnchor.FOLLOW_UP}
    window = timedelta(days=protocol.follow_up.window_days)
    due = []
    for months in protocol.follow_up.months:
        on = add_months(last_session_on, months)
        point = points.get(months)
        label = point.label if point is not None else f"{months}-month follow-up"
        due.append(FollowUpDue(months, point.id if point else None, label, on, on - window, on + window))
    return tuple(due)


@dataclass(frozen=True, slots=True)
class NextAppointment:
    """A visit after a session: the course's next session, or a follow-up after its last one.

    Due on ``due_on``; any day from ``earliest`` to ``latest`` (inclusive) is on time.
    """

    label: str
    due_on: date
    earliest: date
    latest: date
    #: The session's number (a session), or None (a follow-up).
    session_number: int | None = None
    #: The follow-up's months after the last session (a follow-up), or None (a session).
    months: int | None = None


def next_appointments(
    protocol: TreatmentProtocol,
    session_number: int,
    session_on: date,
    *,
    rules: CourseRules | None = None,
    stopped: bool = False,
) -> tuple[NextAppointment, ...]:
    """What comes after session ``session_number``, held on ``session_on``.

    Before the course's last session: session ``session_number + 1`` of ``rules.sessions``, in its
    window after ``session_on`` (:func:`session_window`). After the last session: each follow-up
    (:func:`follow_ups`, 3 and 6 months by default). A stopped course has nothing to come.
    ``rules`` are the course's own (:func:`course_rules_for`); the protocol's by default.
    """
    if stopped:
        return ()
    rules = rules if rules is not None else protocol.course
    if session_number < rules.sessions:
        number = session_number + 1
        window = session_window(rules, number, session_on)
        return (
            NextAppointment(
                label=f"session {number} of {rules.sessions}",
                due_on=window.due_on,
                earliest=window.earliest,
                latest=window.latest,
                session_number=number,
            ),
        )
    return tuple(
        NextAppointment(f.label, f.due_on, f.earliest, f.latest, months=f.months)
        for f in follow_ups(protocol, session_on)
    )


class DueKind(StrEnum):
    #: A session left open (a crash, a quit): to resume.
    OPEN = "open"
    SESSION = "session"
    FOLLOW_UP = "follow_up"


class DueWhen(StrEnum):
    """How pressing a due item is, most pressing first."""

    OPEN = "open"  # a session in progress, left open: first of all
    OVERDUE = "overdue"  # past the end of its window
    TODAY = "today"  # due today, or due earlier and still in its window
    THIS_WEEK = "this_week"  # due in the next days (today + 1 … today + 6)
    LATER = "later"

    @property
    def rank(self) -> int:
        return list(DueWhen).index(self)


@dataclass(frozen=True, slots=True)
class CourseState:
    """What :func:`due_items` needs to know of a course (storage builds it).

    ``session_days`` are the days of the finished sessions, in order. ``follow_ups_done`` are the
    follow-up months already seen. ``interval_days``/``planned_sessions`` are the course's own.
    """

    course_id: int
    patient_id: int
    patient_code: str
    status: str
    planned_sessions: int
    interval_days: int
    started_on: date
    session_days: tuple[date, ...] = ()
    has_open_session: bool = False
    follow_ups_done: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class DueItem:
    """A session or follow-up that is due. ``window`` is ``earliest``–``latest`` (inclusive)."""

    kind: DueKind
    when: DueWhen
    course_id: int
    patient_id: int
    patient_code: str
    label: str
    due_on: date
    earliest: date
    latest: date
    session_number: int | None = None
    months: int | None = None
    time_point: str | None = None
    #: The day the list was made for.
    as_of: date | None = None

    @property
    def in_window(self) -> bool:
        """Whether it can be done on ``as_of`` without a deviation."""
        return self.as_of is not None and self.earliest <= self.as_of <= self.latest


def _when(due_on: date, latest: date, today: date, horizon_days: int) -> DueWhen:
    if today > latest:
        return DueWhen.OVERDUE
    if due_on <= today:
        return DueWhen.TODAY
    if (due_on - today).days < horizon_days:
        return DueWhen.THIS_WEEK
    return DueWhen.LATER


def course_rules_for(state: CourseState, protocol: TreatmentProtocol) -> CourseRules:
    """The protocol's course rules for a course that may have its own session count and interval."""
    rules = protocol.course
    if (state.planned_sessions, state.interval_days) == (rules.sessions, rules.interval_days):
        return rules
    return CourseRules(sessions=state.planned_sessions, interval_days=state.interval_days)


def due_items(
    states: Iterable[CourseState],
    protocol: TreatmentProtocol,
    today: date,
    *,
    horizon_days: int = WEEK_DAYS,
    include_later: bool = False,
) -> list[DueItem]:
    """What is due, most pressing first: the next session of each active course and open follow-ups.

    - An active course with no session yet has session 1 due on its start day (no earlier
      bound; on time up to ``latest_days`` after it). A course with an open session has that
      session as an OPEN item, first of all (the start screen also offers to resume it).
    - A course whose sessions are all done (or is completed) has its follow-ups due after the
      last session, until each is done. Stopped courses have nothing due.
    - ``when`` is overdue / today / this week (``horizon_days``, today included) / later;
      later items are left out unless ``include_later``.
    """
    items: list[DueItem] = []
    for state in states:
        if state.status == "stopped":
            continue
        rules = course_rules_for(state, protocol)
        done = len(state.session_days)
        if done < state.planned_sessions and state.status == "active":
            number = done + 1
            if state.has_open_session:
                items.append(
                    DueItem(
                        kind=DueKind.OPEN,
                        when=DueWhen.OPEN,
                        label=f"session {number} of {state.planned_sessions}, open",
                        due_on=today,
                        earliest=today,
                        latest=today,
                        session_number=number,
                        as_of=today,
                        course_id=state.course_id,
                        patient_id=state.patient_id,
                        patient_code=state.patient_code,
                    )
                )
                continue
            if done == 0:
                due_on = earliest = state.started_on
                latest = state.started_on + timedelta(days=rules.latest_days)
            else:
                window = session_window(rules, number, state.session_days[-1])
                due_on, earliest, latest = window.due_on, window.earliest, window.latest
            items.append(
                DueItem(
                    kind=DueKind.SESSION,
                    when=_when(due_on, latest, today, horizon_days),
                    label=f"session {number} of {state.planned_sessions}",
                    due_on=due_on,
                    earliest=earliest,
                    latest=latest,
                    session_number=number,
                    as_of=today,
                    course_id=state.course_id,
                    patient_id=state.patient_id,
                    patient_code=state.patient_code,
                )
            )
        elif done and done >= state.planned_sessions:
            for follow_up in follow_ups(protocol, state.session_days[-1]):
                if follow_up.months in state.follow_ups_done:
                    continue
                items.append(
                    DueItem(
                        kind=DueKind.FOLLOW_UP,
                        when=_when(follow_up.due_on, follow_up.latest, today, horizon_days),
                        label=follow_up.label,
                        due_on=follow_up.due_on,
                        earliest=follow_up.earliest,
                        latest=follow_up.latest,
                        months=follow_up.months,
                        time_point=follow_up.time_point,
                        as_of=today,
                        course_id=state.course_id,
                        patient_id=state.patient_id,
                        patient_code=state.patient_code,
                    )
                )
    if not include_later:
        items = [item for item in items if item.when is not DueWhen.LATER]
    return sorted(items, key=lambda item: (item.when.rank, item.due_on, item.patient_code, item.course_id))
