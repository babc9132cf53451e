"""Who is in the chair: one line under the header of every step of a session.

``P-0042 · Ada Example · session 2 of 6 · 14 min in session`` — the patient's code (and name when
recorded), the session of the course and how long it has been running, on the app's clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from textual.widgets import Static

from stampside.app.tui.widgets.status_bar import format_duration
from stampside.app.tui.widgets.text_update import set_text


@dataclass(frozen=True, slots=True)
class BannerInfo:
    """What the banner shows of the open session."""

    patient_code: str
    patient_name: str | None
    number: int
    planned_sessions: int
    started_at: datetime


def banner_text(info: BannerInfo, now: datetime) -> str:
    who = f"{info.patient_code} · {info.patient_name}" if info.patient_name else info.patient_code
    return f" {who} · session {info.number} of {info.planned_sessions} · {time_in_session(info.started_at, now)}"


def time_in_session(started_at: datetime, now: datetime) -> str:
    """``12 s in session`` in the first minute, then whole minutes: ``14 min in session``.

    Seconds matter only at the start; after that a banner that changed every second would
    cost a frame a second on every screen for a figure nobody reads to the second.
    """
    seconds = max(0.0, (now - started_at).total_seconds())
    if seconds < 60:
        return f"{format_duration(seconds)} in session"
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min in session" if hours else f"{minutes} min in session"


class SessionBanner(Static):
    """The banner; ``clock`` is the app's (aware datetimes). Looked at every second, redrawn when its words change.

    ``ticking=False``: the screen calls :meth:`tick` from its own once-a-second update, so the banner
    changes in the same frame as the screen's other figures instead of one more frame a second.
    """

    def __init__(
        self,
        info: BannerInfo,
        clock: Callable[[], datetime],
        *,
        id: str | None = "session-banner",
        ticking: bool = True,
    ) -> None:
        super().__init__(banner_text(info, clock()), id=id, markup=False)
        self.info = info
        self._clock = clock
        self._ticking = ticking

    def on_mount(self) -> None:
        if self._ticking:
            self.set_interval(1.0, self.tick)

    def tick(self) -> None:
        """Show the time in session now (redrawn only when the words change)."""
        set_text(self, banner_text(self.info, self._clock()))
