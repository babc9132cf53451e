"""The battery: a level that drains per stamp and per minute.

The level is computed in closed form from the last time it was set, so it is the same at
a given moment however often it is looked at (this keeps seeded runs repeatable). The
percentage shown is the level rounded up: a full battery reads 100 % until a whole
percent is gone, and 0 % means truly empty.
"""

from __future__ import annotations

import math

#: Cell voltage at 0 % and 100 %, mV (a single Li-ion cell).
EMPTY_MV = 3300
FULL_MV = 4200


class Battery:
    def __init__(self, pct: float, per_stamp: float, per_minute: float, now: float) -> None:
        self.per_stamp = per_stamp
        self.per_minute = per_minute
        self._base = pct
        self._base_time = now
        self._stamps = 0

    def level(self, now: float) -> float:
        """Charge left at ``now``, in % (not rounded)."""
        used = self.per_minute * (now - self._base_time) / 60.0 + self.per_stamp * self._stamps
        return max(0.0, self._base - used)

    def pct(self, now: float) -> int:
        # The tolerance keeps float noise (47.000000001) from reading a percent high.
        return min(100, math.ceil(self.level(now) - 1e-9))

    def use_stamp(self) -> None:
        self._stamps += 1

    def set(self, pct: float, now: float) -> None:
        self._base = pct
        self._base_time = now
        self._stamps = 0

    @staticmethod
    def millivolts(pct: int) -> int:
        return EMPTY_MV + (FULL_MV - EMPTY_MV) * pct // 100
