"""The timeline: one-off events of a scenario, fired at a stamp count or a time.

This is the runtime side; the entries themselves are validated in :mod:`stampside.simulator.config`.
"""

from __future__ import annotations

from collections.abc import Iterable

from stampside.simulator.config import TimelineEntry


class Timeline:
    """Hands out each entry once, when its trigger is reached, in file order for equal triggers."""

    def __init__(self, entries: Iterable[TimelineEntry]) -> None:
        timed = [e for e in entries if e.at_seconds is not None]
        self._timed = sorted(timed, key=lambda e: e.at_seconds or 0.0)
        self._by_stamp: dict[int, list[TimelineEntry]] = {}
        for entry in entries:
            if entry.at_stamp is not None:
                self._by_stamp.setdefault(entry.at_stamp, []).append(entry)

    def __len__(self) -> int:
        """Entries not fired yet."""
        return len(self._timed) + sum(len(v) for v in self._by_stamp.values())

    def next_time(self) -> float | None:
        """When the next time-triggered entry is due (None: no more)."""
        return self._timed[0].at_seconds if self._timed else None

    def due_by_time(self, now: float) -> list[TimelineEntry]:
        """Time-triggered entries due at or before ``now``, oldest first; each is returned once."""
        due = []
        timed = self._timed
        while timed and (timed[0].at_seconds or 0.0) <= now:
            due.append(timed.pop(0))
        return due

    def due_at_stamp(self, count: int) -> list[TimelineEntry]:
        """Entries triggered by the ``count``-th counted stamp; each is returned once."""
        return self._by_stamp.pop(count, [])
