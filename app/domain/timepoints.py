"""Photo time points: which photo sets a course needs, when, and the baseline gate.

A time point (protocol ``[[photos.time_points]]``) is a moment of the course: before a
session (baseline, before session 1), after a session (after session 6) or at a follow-up
(3 and 6 months). Its *set* is one photo per view it needs (every standard view by
default). Storage passes in which views are registered per time point, as
``{time_point_id: {view_id, ...}}``.

A ``before_session`` time point with ``gates_session`` is a gate: that session cannot start
until its set is complete, unless overridden with a typed reason
(:func:`check_photo_gate`, :class:`~stampside.app.domain.course_gates.CourseGateResult`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from stampside.app.domain.course_gates import CourseGate, CourseGateResult
from stampside.app.domain.treatment_protocol import PhotoRules, TimePoint, TimePointAnchor, TreatmentProtocol

__all__ = [
    "PhotoSetStatus",
    "Registered",
    "check_photo_gate",
    "next_missing_view",
    "photo_set_status",
    "sets_due",
    "time_point_reached",
    "when_label",
]

#: Views registered so far, per time point id.
Registered = Mapping[str, Iterable[str]]


def when_label(point: TimePoint) -> str:
    """When a time point's photos are taken, for a person ("before session 1", "at the 3-month follow-up")."""
    if point.anchor is TimePointAnchor.BEFORE_SESSION:
        return f"before session {point.session}"
    if point.anchor is TimePointAnchor.AFTER_SESSION:
        return f"after session {point.session}"
    return f"at the {point.months}-month follow-up"


@dataclass(frozen=True, slots=True)
class PhotoSetStatus:
    """How complete a time point's photo set is."""

    time_point: str
    label: str
    when: str
    required: tuple[str, ...]
    present: frozenset[str]
    #: Labels of the views, by id, for messages.
    view_labels: Mapping[str, str]

    @property
    def missing(self) -> tuple[str, ...]:
        """The view ids still to register, in protocol order."""
        return tuple(view for view in self.required if view not in self.present)

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def message(self) -> str:
        if self.complete:
            return f"{self.label} photos complete ({len(self.required)} views)"
        names = ", ".join(self.view_labels.get(view, view) for view in self.missing)
        return f"{self.label} photos incomplete: missing {names}; register them {self.when}"


def photo_set_status(rules: PhotoRules, time_point: str | TimePoint, registered_views: Iterable[str]) -> PhotoSetStatus:
    """The status of one time point's set, given the view ids registered for it."""
    point = rules.time_point(time_point) if isinstance(time_point, str) else time_point
    return PhotoSetStatus(
        time_point=point.id,
        label=point.label,
        when=when_label(point),
        required=rules.views_for(point),
        present=frozenset(registered_views),
        view_labels={view.id: view.label for view in rules.views},
    )


def next_missing_view(status: PhotoSetStatus, after: str | None = None) -> str | None:
    """The view to take next: the first view the set still misses after ``after``, in protocol order.

    The search goes on past ``after`` and wraps round to the start, so a view skipped earlier
    comes up once the later ones are done. Without ``after`` (or with a view the set does not
    need) it is the first missing view. ``None`` when the set is complete.
    """
    missing = status.missing
    if not missing:
        return None
    if after is None or after not in status.required:
        return missing[0]
    start = status.required.index(after) + 1
    order = status.required[start:] + status.required[:start]
    return next(view for view in order if view not in status.present)


def check_photo_gate(protocol: TreatmentProtocol, session_number: int, registered: Registered) -> CourseGateResult:
    """Whether session ``session_number`` may start as far as photos go.

    It passes when no gating time point comes before that session, or each one's set is
    complete; otherwise it fails naming the missing views (override it with
    :meth:`CourseGateResult.overridden`).
    """
    gating = [
        point
        for point in protocol.photos.time_points
        if point.gates_session and point.anchor is TimePointAnchor.BEFORE_SESSION and point.session == session_number
    ]
    statuses = [photo_set_status(protocol.photos, point, registered.get(point.id, ())) for point in gating]
    incomplete = [status for status in statuses if not status.complete]
    if incomplete:
        return CourseGateResult(CourseGate.BASELINE_PHOTOS, False, "; ".join(s.message for s in incomplete))
    if statuses:
        return CourseGateResult(CourseGate.BASELINE_PHOTOS, True, "; ".join(s.message for s in statuses))
    return CourseGateResult(CourseGate.BASELINE_PHOTOS, True, f"no photo set is needed before session {session_number}")


def time_point_reached(point: TimePoint, finished_sessions: int, follow_ups_reached: Iterable[int] = ()) -> bool:
    """Whether a time point's photos are due: its session is next or done, or its follow-up is reached."""
    if point.anchor is TimePointAnchor.BEFORE_SESSION:
        return point.session is not None and finished_sessions >= point.session - 1
    if point.anchor is TimePointAnchor.AFTER_SESSION:
        return point.session is not None and finished_sessions >= point.session
    return point.months in set(follow_ups_reached)


def sets_due(
    protocol: TreatmentProtocol,
    finished_sessions: int,
    registered: Registered,
    *,
    follow_ups_reached: Iterable[int] = (),
    include_complete: bool = False,
) -> list[PhotoSetStatus]:
    """The photo sets a course needs by now, in protocol order; incomplete ones only unless ``include_complete``.

    ``follow_ups_reached`` are the follow-up months whose window has opened
    (:func:`stampside.app.domain.schedule.follow_ups`).
    """
    reached = tuple(follow_ups_reached)
    statuses = [
        photo_set_status(protocol.photos, point, registered.get(point.id, ()))
        for point in protocol.photos.time_points
        if time_point_reached(point, finished_sessions, reached)
    ]
    return [status for status in statuses if include_complete or not status.complete]
