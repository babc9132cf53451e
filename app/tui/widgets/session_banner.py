"""Who is in the chair: one line under the header of every step of a session.

``P-0042 · Ada Example · session 2 of 6 · 14 min in session`` — the patient's code (and name when
recorded), the session of the course and how long it has been running, on the app's clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from textual.widgets import Static

from app.tui.widgets.status_bar import format_duration
from app.tui.widgets.text_update import set_text


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
    elapsed = format_duration(max(0.0, (now - info.started_at).total_seconds()))
    return f" {who} · session {info.number} of {info.planned_sessions} · {elapsed} in session"


class SessionBanner(Static):
    """The banner; ``clock`` is the app's (aware datetimes). Redrawn every second."""

    def __init__(self, info: BannerInfo, clock: Callable[[], datetime], *, id: str | None = "session-banner") -> None:
        super().__init__(banner_text(info, clock()), id=id, markup=False)
        self.info = info
        self._clock = clock

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        set_text(self, banner_text(self.info, self._clock()))
