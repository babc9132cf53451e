"""Link statistics: a snapshot of a session's counters, for status lines and the UI."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stampside.firmware_protocol.rtt import RoundTrips

if TYPE_CHECKING:
    from stampside.devicelink.commit_pipeline import CommitPipeline
    from stampside.firmware_protocol.host import HostConnection


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
    #: Times the device restarted its numbering (its stamps went to a new ledger).
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
    #: HELLOs sent again at once because a damaged frame came instead of the reply.
    early_retries: int = 0
    #: The reply timeout in use now (follows the measured round trips), seconds.
    reply_timeout: float = 0.0

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


def build_stats(host: HostConnection, pipeline: CommitPipeline | None) -> LinkStats:
    """A snapshot of a link session's counters."""
    counters = host.conn.counters
    rx = counters.rx
    tracker = host.tracker
    delivery = host.delivery_stats() if host.uses_ledger else None
    c = host.counters
    rtt = host.rto.stats
    return LinkStats(
        frames_rx=rx.frames,
        frames_tx=counters.tx_frames,
        bytes_rx=rx.bytes,
        bytes_tx=counters.tx_bytes,
        bad_frames=dict(rx.bad),
        resyncs=rx.resyncs,
        lseq_gaps=counters.rx_lseq_gaps,
        unknown=counters.unknown,
        stamps_received=delivery.received if delivery else counters.by_type_rx.get("STAMP", 0),
        stamps_new=(delivery.received - delivery.duplicates) if delivery else host.seen_new,
        duplicates=delivery.duplicates if delivery else 0,
        replayed=delivery.replayed if delivery else 0,
        gaps=delivery.gaps if delivery else 0,
        resumes=delivery.resumes if delivery else 0,
        jumps=delivery.jumps if delivery else 0,
        regressions=c.new_numberings,
        commits=pipeline.commits if pipeline else 0,
        commit_failures=pipeline.failures if pipeline else 0,
        stored=pipeline.stored if pipeline else 0,
        acked_boot=tracker.acked_boot if tracker else 0,
        acked_seq=tracker.acked_seq if tracker else 0,
        connects=c.connects,
        losses=c.losses,
        reboots=c.reboots,
        acks_sent=c.acks_sent,
        ack_retransmits=c.ack_retransmits,
        command_retries=c.command_retries,
        command_timeouts=c.command_timeouts,
        probes=c.probes,
        rtt=RoundTrips(rtt.samples, rtt.last, rtt.low, rtt.high, rtt.total),
        early_retries=c.early_retries,
        reply_timeout=host.rto.timeout,
    )
