"""How long to wait for a reply: a smoothed round-trip estimate, as TCP does it (RFC 6298).

A fixed reply timeout is wrong at both ends: too long on a fast serial line, where a lost
reply then costs 0.3 s each time, and too short on a slow radio link. The estimate follows
the round trips measured on this link (only of replies to commands sent once — Karn's rule —
since the reply to a repeated command could answer either copy).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class RoundTrips:
    """Round-trip times of commands and their replies, in seconds."""

    samples: int = 0
    last: float | None = None
    low: float | None = None
    high: float | None = None
    total: float = 0.0

    def add(self, seconds: float) -> None:
        self.samples += 1
        self.last = seconds
        self.total += seconds
        self.low = seconds if self.low is None else min(self.low, seconds)
        self.high = seconds if self.high is None else max(self.high, seconds)

    @property
    def mean(self) -> float | None:
        return self.total / self.samples if self.samples else None


class RetransmitTimer:
    """The reply timeout of a link: ``srtt + 4 × rttvar``, kept between ``low`` and ``high``."""

    def __init__(self, initial: float, low: float, high: float) -> None:
        if not 0 < low <= high:
            raise ValueError("need 0 < low <= high")
        self.initial = initial
        self.low = low
        self.high = high
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.stats = RoundTrips()

    @property
    def timeout(self) -> float:
        if self.srtt is None:
            return min(max(self.initial, self.low), self.high)
        return min(max(self.srtt + 4 * self.rttvar, self.low), self.high)

    def sample(self, rtt: float) -> None:
        """A reply came ``rtt`` seconds after its command (sent once)."""
        rtt = max(rtt, 0.0)
        self.stats.add(rtt)
        if self.srtt is None:
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
