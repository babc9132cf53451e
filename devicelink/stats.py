"""Link statistics: a snapshot of a session's counters, for status lines and the UI."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


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


@dataclass(frozen=True, slots=True)
class LinkStats:
    """Counters since the session started (across reconnects)."""

    # -- frames (firmware_protocol.Connection counters) ------------------------------
    frames_rx: int
    frames_tx: int
    bytes_rx: int
    bytes_tx: int
    #: Rejected frames by reason: cobs, crc, short, oversize, version, length.
    bad_frames: dict[str, int]
    #: Times the decoder lost sync and found it again.
    resyncs: int
    #: Frames the device sent that never arrived (gaps in link sequence numbers).
    lseq_gaps: int
    #: Valid frames of a type the host does not accept.
    unknown: int
    # -- stamps and delivery (firmware_protocol.DeliveryTracker) ---------------------
    stamps_received: int
    stamps_new: int
    duplicates: int
    replayed: int
    gaps: int
    resumes: int
    jumps: int
    regressions: int
    # -- storage --------------------------------------------------------------------
    commits: int
    commit_failures: int
    stored: int
    acked_boot: int
    acked_seq: int
    # -- link -------------------------------------------------------------------------
    connects: int
    losses: int
    reboots: int
    acks_sent: int
    #: ACKs sent again because the device's heartbeat showed the last one was lost.
    ack_retransmits: int
    #: Commands sent again because no reply came in time.
    command_retries: int
    command_timeouts: int
    probes: int
    rtt: RoundTrips = field(default_factory=RoundTrips)

    @property
    def crc_errors(self) -> int:
        return self.bad_frames.get("crc", 0)

    @property
    def bad_total(self) -> int:
        return sum(self.bad_frames.values())

    def as_dict(self) -> dict[str, object]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "rtt"}
        out["bad_frames"] = dict(self.bad_frames)
        out["crc_errors"] = self.crc_errors
        out["bad_total"] = self.bad_total
        out["rtt_ms"] = {
            "samples": self.rtt.samples,
            "last": _ms(self.rtt.last),
            "min": _ms(self.rtt.low),
            "mean": _ms(self.rtt.mean),
            "max": _ms(self.rtt.high),
        }
        return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
