"""The gates around a course (screening, baseline photos) and their overrides.

They work like the step gates of :mod:`stampside.app.domain.gates`: a check passes or fails with a
message a practitioner can act on, and a failed one can be let through only with a typed
reason of at least :data:`~stampside.app.domain.gates.MIN_REASON_WORDS` words and
:data:`~stampside.app.domain.gates.MIN_REASON_CHARS` characters, recorded with who made it and when.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from stampside.app.domain.gates import OverrideRefused, checked_reason

__all__ = [
    "CourseGate",
    "CourseGateResult",
    "CourseOverride",
    "OverrideRefused",
    "make_course_override",
]


class CourseGate(StrEnum):
    """A check of the course, not of one step."""

    #: The patient's screening passes the protocol's eligibility rules (before the course starts).
    SCREENING = "screening"
    #: The photo set of a ``gates_session`` time point is complete (before that session starts).
    BASELINE_PHOTOS = "baseline_photos"
    #: The patient's open session is held by another chair; taking it over to this chair is this gate's override
    #: (:func:`stampside.app.storage.sessions.take_over_session`).
    SESSION_AT_ANOTHER_CHAIR = "session_at_another_chair"

    @property
    def label(self) -> str:
        """What a person reads for the gate: ``baseline photos``."""
        return self.value.replace("_", " ")


@dataclass(frozen=True, slots=True)
class CourseOverride:
    """Who let a failed course gate pass, when, and why; ``failure`` is what the gate said."""

    gate: CourseGate
    reason: str
    by: str
    at: datetime
    failure: str


def make_course_override(gate: CourseGate, reason: str, *, by: str, at: datetime, failure: str = "") -> CourseOverride:
    """A :class:`CourseOverride`, or :class:`OverrideRefused` when the reason or practitioner is missing."""
    text, who = checked_reason(gate.label, reason, by)
    return CourseOverride(gate=gate, reason=text, by=who, at=at, failure=failure)


@dataclass(frozen=True, slots=True)
class CourseGateResult:
    """The outcome of a course gate: ``ok`` when it passed or was overridden."""

    gate: CourseGate
    passed: bool
    message: str
    override: CourseOverride | None = None

    @property
    def ok(self) -> bool:
        return self.passed or self.override is not None

    def overridden(self, reason: str, *, by: str, at: datetime) -> CourseGateResult:
        """This failed result, let through by ``by`` at ``at`` for ``reason``."""
        if self.passed:
            raise OverrideRefused(f"{self.gate.label} passed; there is nothing to override")
        return replace(self, override=make_course_override(self.gate, reason, by=by, at=at, failure=self.message))
