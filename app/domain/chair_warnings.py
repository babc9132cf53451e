"""What a chair's open session needs someone to look at, for the clinic board: plain rules, no I/O.

Three warnings, each from what is stored, so every board shows the same:

* **link lost** — the newest link state stored for the session's stamp is ``lost`` (the link
  writes ``connected`` and ``lost`` events; ``docs/link.md``).
* **head used before** — the protocol makes a stamp head single-use (``[device]
  head_must_be_unused``, the default: one session is the head's whole limit) and the session's head
  was already used in another session, by the app's head history: the same rule as the
  pre-session "unused needle head" check, so a warning here is a head that check let through
  with an override (or a head the protocol allows to reuse does not warn).
* **timer overdue** — the current step's timer ran out at least :data:`TIMER_OVERDUE_AFTER_S`
  ago and the step is still open: the patient is waiting past the contact or rub-in time.

A warning keeps when its condition began (:attr:`ChairWarning.since`), so a board redraws its
"for how long" every second without reading the database again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from stampside.app.domain.gates import clock_text, timer_seconds_left
from stampside.app.domain.steps import StepRecord

__all__ = [
    "LINK_LOST",
    "TIMER_OVERDUE_AFTER_S",
    "ChairWarning",
    "WarningKind",
    "head_warning",
    "link_warning",
    "timer_warning",
]

#: The link state a ``lost`` link event leaves (the other state the board shows is ``connected``).
LINK_LOST = "lost"
#: How long after its timer ran out an open step counts as overdue (a moment to press enter is normal).
TIMER_OVERDUE_AFTER_S = 60.0


class WarningKind(StrEnum):
    LINK_LOST = "link_lost"
    HEAD_USED = "head_used"
    TIMER_OVERDUE = "timer_overdue"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    WarningKind.LINK_LOST: "link lost",
    WarningKind.HEAD_USED: "head used before",
    WarningKind.TIMER_OVERDUE: "timer overdue",
}


@dataclass(frozen=True, slots=True)
class ChairWarning:
    """One warning of a chair: what it is and, when it has one, since when (aware UTC)."""

    kind: WarningKind
    since: datetime | None = None

    def text(self, now: datetime) -> str:
        """``link lost 0:42``, ``timer overdue 1:05``, ``head used before``."""
        if self.since is None:
            return self.kind.label
        return f"{self.kind.label} {clock_text(max(0.0, (now - self.since).total_seconds()))}"


def link_warning(state: str | None, since: datetime | None) -> ChairWarning | None:
    """A warning when the newest stored link state is ``lost`` (``since``: when it was lost)."""
    return ChairWarning(WarningKind.LINK_LOST, since) if state == LINK_LOST else None


def head_warning(*, used_before: bool, single_use: bool) -> ChairWarning | None:
    """A warning when a single-use head (the protocol's rule) was used in another session."""
    return ChairWarning(WarningKind.HEAD_USED) if used_before and single_use else None


def timer_warning(
    record: StepRecord | None, now: datetime, *, after_s: float = TIMER_OVERDUE_AFTER_S
) -> ChairWarning | None:
    """A warning when ``record`` (the current step's, open) has a timer that ran out ``after_s`` or more ago.

    ``since`` is when the timer ran out, so the board counts the time the step has gone past it.
    """
    if record is None or record.completed or record.timer_seconds is None or record.timer_started_at is None:
        return None
    if timer_seconds_left(record.timer_seconds, record.timer_started_at, now) > 0:
        return None
    ran_out = record.timer_started_at + timedelta(seconds=record.timer_seconds)
    if (now - ran_out).total_seconds() < after_s:
        return None
    return ChairWarning(WarningKind.TIMER_OVERDUE, ran_out)
