"""When the chairside app locks itself: after so many minutes without a key.

:class:`IdleLock` is the rule alone, on a clock the caller passes in (seconds that only go
forward, as ``time.monotonic`` gives): every key (or click) is :meth:`~IdleLock.touch`; once
:attr:`~IdleLock.after_s` has gone by without one, :meth:`~IdleLock.due` says lock. What
goes on behind the lock (stamping, the link, storage) is none of its business.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["IdleLock"]


@dataclass(slots=True)
class IdleLock:
    """Locks after ``after_s`` seconds without :meth:`touch` (``0``: never)."""

    after_s: float
    #: The clock's reading at the last key (or when the watch began).
    last_touch: float = field(default=0.0)

    @classmethod
    def minutes(cls, minutes: float, now: float) -> IdleLock:
        """A lock after ``minutes`` without a key, counting from ``now``."""
        return cls(after_s=max(0.0, minutes * 60.0), last_touch=now)

    def touch(self, now: float) -> None:
        """A key (or click) at ``now``: the idle time starts again."""
        self.last_touch = max(self.last_touch, now)

    def idle_s(self, now: float) -> float:
        return max(0.0, now - self.last_touch)

    def due(self, now: float) -> bool:
        """Whether the app should lock at ``now``."""
        return self.after_s > 0 and self.idle_s(now) >= self.after_s

    def remaining_s(self, now: float) -> float:
        """Seconds until the lock is due (``0``: due now; ``inf``: never)."""
        if self.after_s <= 0:
            return float("inf")
        return max(0.0, self.after_s - self.idle_s(now))
