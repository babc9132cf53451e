"""The stamping step's live figures: count, rate, force quality, recent forces, elapsed time.

The rate is placed on the **device's** clock, not on the host's receive time: after a link
drop, the stamps the device buffered arrive in a burst (REPLAY), and counting them at their
arrival would show a spike, then a gap where they really happened. Each stamp's
``device_time_ms`` is mapped onto the host clock with one offset per device boot, the
smallest ``received_at − device_time`` seen (the stamp that came with the least delay).
A stamp then sits in the sliding window at the moment it was made.

Force quality uses the protocol's thresholds and :class:`ForceQuality`
(:mod:`stampside.app.domain.treatment_protocol`), so there is one definition of "too light".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

from stampside.app.domain.treatment_protocol import ForceQuality

#: Stamps kept for the rate before :meth:`StampingStats.add` prunes on its own.
_PRUNE_ABOVE = 1024


class ForceClassifier(Protocol):
    """Sorts a stamp's peak force into a quality: the protocol's
    :class:`~stampside.app.domain.treatment_protocol.ForceThresholds` is one."""

    def classify(self, newtons: float) -> ForceQuality: ...


class StampingStats:
    """Counts the stamps of one stamping step and derives what the screen shows.

    ``clock`` gives host seconds on the same time base as the ``received_at`` passed to
    :meth:`add` (``time.monotonic`` in the app: a ``StampEvent.monotonic``). Each
    ``(boot, seq)`` counts once.
    """

    def __init__(
        self,
        thresholds: ForceClassifier,
        clock: Callable[[], float],
        rate_window_s: float = 60.0,
        history: int = 60,
    ) -> None:
        if not rate_window_s > 0:
            raise ValueError(f"rate window must be greater than 0 s, got {rate_window_s!r}")
        if history < 1:
            raise ValueError(f"force history must hold at least 1 value, got {history!r}")
        self.thresholds = thresholds
        self._clock = clock
        self.rate_window_s = rate_window_s
        self._seen: set[tuple[int, int, int]] = set()
        self._forces: deque[float] = deque(maxlen=history)
        self._quality: dict[ForceQuality, int] = dict.fromkeys(ForceQuality, 0)
        self._last_quality: ForceQuality | None = None
        #: Per device clock (life, boot): host time minus device time, seconds (the smallest seen).
        self._offset: dict[tuple[int, int], float] = {}
        #: ((life, boot), device seconds) of the stamps that may still be in the window.
        self._recent: list[tuple[tuple[int, int], float]] = []
        self._started: float | None = None
        self._stopped: float | None = None
        self._elapsed_before = 0.0

    # -- elapsed time -----------------------------------------------------------------

    def start(self, elapsed_before_s: float = 0.0) -> None:
        """Start (or restart) the step's timer; a resumed step passes the time it had already run."""
        self._started = self._clock()
        self._stopped = None
        self._elapsed_before = elapsed_before_s

    def stop(self) -> None:
        """Freeze the elapsed time (the step ended)."""
        if self._started is not None and self._stopped is None:
            self._stopped = self._clock()

    @property
    def running(self) -> bool:
        """The step's timer runs: stamps are expected."""
        return self._started is not None and self._stopped is None

    @property
    def elapsed_s(self) -> float:
        if self._started is None:
            return self._elapsed_before
        end = self._stopped if self._stopped is not None else self._clock()
        return self._elapsed_before + max(0.0, end - self._started)

    # -- counting -----------------------------------------------------------------------

    def add(
        self,
        boot: int,
        seq: int,
        device_time_ms: int,
        force_dn: int,
        received_at: float | None = None,
        life: int = 1,
    ) -> bool:
        """Count one stamp (``force_dn`` in 0.1 N, as on the wire). False if it was counted already.

        ``received_at`` defaults to ``clock()``; pass the event's own receive time when there
        is one. ``life`` is the device numbering the stamp came in (see the coverage model).
        """
        key = (life, boot, seq)
        if key in self._seen:
            return False
        self._seen.add(key)
        now = self._clock() if received_at is None else received_at
        device_s = device_time_ms / 1000
        offset = now - device_s
        clock = (life, boot)
        if clock not in self._offset or offset < self._offset[clock]:
            self._offset[clock] = offset
        self._recent.append((clock, device_s))
        if len(self._recent) > _PRUNE_ABOVE:  # bounded even if nobody asks for the rate
            self._prune(self._clock())
        force_n = force_dn / 10
        quality = self.thresholds.classify(force_n)
        self._forces.append(force_n)
        self._quality[quality] += 1
        self._last_quality = quality
        return True

    @property
    def count(self) -> int:
        return len(self._seen)

    # -- figures ------------------------------------------------------------------------

    def rate_per_min(self) -> float:
        """Stamps per minute over the last ``rate_window_s`` seconds (by when they were made).

        Until the step has run a full window, the window is the time since :meth:`start`
        (but at least 1 s), so the rate is right from the first seconds.
        """
        now = self._clock()
        self._prune(now)
        in_window = len(self._recent)
        span = self.rate_window_s
        if self._started is not None:
            running = now - self._started + self._elapsed_before
            span = min(span, max(1.0, running))
        return in_window * 60.0 / span

    def _prune(self, now: float) -> None:
        """Forget the stamps made before the window. Offsets only ever decrease, so a stamp
        that left the window never comes back."""
        since = now - self.rate_window_s
        self._recent = [(clock, t) for clock, t in self._recent if t + self._offset[clock] > since]

    @property
    def last_quality(self) -> ForceQuality | None:
        """Force quality of the newest stamp, None before the first."""
        return self._last_quality

    @property
    def last_force_n(self) -> float | None:
        return self._forces[-1] if self._forces else None

    def recent_forces(self) -> list[float]:
        """The newest forces in newtons, oldest first (at most ``history``): the sparkline."""
        return list(self._forces)

    def quality_counts(self) -> dict[ForceQuality, int]:
        """Stamps per force quality over the whole step."""
        return dict(self._quality)

    def good_share(self) -> float | None:
        """Share of good stamps, 0–1; None before the first stamp."""
        return self._quality[ForceQuality.GOOD] / self.count if self.count else None
