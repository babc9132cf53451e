"""Lossless delivery: the device's event buffer and the host's delivery tracker.

Events are numbered by the device with a sequence number that only ever grows, across
reboots too (the device keeps it with its buffer); the boot counter says which power
cycle counted the event. The pair (boot, seq) — with the device serial and the
numbering's epoch (docs/protocol.md 3.5) — is the event's identity. A tracker follows one
numbering; when the device restarts its numbering the host opens a new ledger and a new
tracker (:mod:`stampside.firmware_protocol.host`).

* The device keeps every event in :class:`EventBuffer` until the host acknowledges it.
  When the buffer is full it stops counting and says so (FAULT BUFFER_FULL) rather than
  overwrite anything.
* The host stores events, then acknowledges the highest ``seq`` below which it holds
  every event (a cumulative ACK). :class:`DeliveryTracker` does that bookkeeping, spots
  gaps (a frame lost to noise, stamps counted while the link was down) and says when to
  ask for a replay with RESUME.

Both classes are pure: the caller passes the clock in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from stampside.firmware_protocol.messages import ResumeReply, Stamp

DEFAULT_BUFFER_CAPACITY = 4096


class EventBuffer:
    """The device's ring buffer of unacknowledged events, oldest first."""

    def __init__(self, capacity: int = DEFAULT_BUFFER_CAPACITY, events: Iterable[Stamp] = ()) -> None:
        if capacity < 1:
            raise ValueError("buffer capacity must be at least 1")
        self.capacity = capacity
        self._events: deque[Stamp] = deque(events)
        if len(self._events) > capacity:
            raise ValueError(f"{len(self._events)} events do not fit a buffer of {capacity}")

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Stamp]:
        return iter(self._events)

    @property
    def full(self) -> bool:
        return len(self._events) >= self.capacity

    @property
    def first_seq(self) -> int | None:
        return self._events[0].seq if self._events else None

    def push(self, event: Stamp) -> bool:
        """Keep ``event``; False (and nothing kept) when the buffer is full."""
        if len(self._events) >= self.capacity:
            return False
        self._events.append(event)
        return True

    def ack(self, seq: int) -> int:
        """Drop every event with a sequence number up to ``seq``; return how many."""
        events = self._events
        dropped = 0
        while events and events[0].seq <= seq:
            events.popleft()
            dropped += 1
        return dropped

    def after(self, seq: int) -> list[Stamp]:
        """The kept events with a sequence number above ``seq``, oldest first."""
        return [e for e in self._events if e.seq > seq]


@dataclass(slots=True)
class DeliveryStats:
    received: int = 0
    duplicates: int = 0
    stored: int = 0
    gaps: int = 0
    resumes: int = 0
    replayed: int = 0
    #: Times the device's buffer started past our cursor (events acknowledged elsewhere).
    jumps: int = 0

    def add(self, other: DeliveryStats) -> None:
        """Add ``other``'s counts to these."""
        for name, value in other.as_dict().items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "duplicates": self.duplicates,
            "stored": self.stored,
            "gaps": self.gaps,
            "resumes": self.resumes,
            "replayed": self.replayed,
            "jumps": self.jumps,
        }


class DeliveryTracker:
    """Host-side bookkeeping for exactly-once storage of one device's events.

    Use it in this order::

        if tracker.accept(stamp, now):         # new: hand it to storage
            batch.append(stamp)
        boot, seq = tracker.plan_commit(batch)  # the cursor to store with the batch
        ... commit batch and cursor in one transaction ...
        tracker.committed(batch)                # then send Ack(boot, seq)
    """

    def __init__(self, acked_boot: int = 0, acked_seq: int = 0, resume_timeout: float = 0.5) -> None:
        self.acked_boot = acked_boot
        self.acked_seq = acked_seq
        self.resume_timeout = resume_timeout
        #: Newest sequence number the device says it has counted.
        self.device_last_seq = acked_seq
        self._stored_above: dict[int, int] = {}  # seq -> boot, stored beyond the cursor
        self._inflight: dict[int, int] = {}  # seq -> boot, accepted, not yet committed
        self._resume_since: float | None = None  # when the outstanding RESUME last made progress
        self._replay_end: int | None = None
        self.stats = DeliveryStats()

    # -- events ----------------------------------------------------------------------

    def accept(self, stamp: Stamp, now: float, replay: bool = False) -> bool:
        """Note a received stamp; True if it is new and must be stored."""
        seq = stamp.seq
        stats = self.stats
        stats.received += 1
        if seq > self.device_last_seq:
            self.device_last_seq = seq
        if replay:
            stats.replayed += 1
            if self._resume_since is not None:
                self._resume_since = now
                if self._replay_end is not None and seq >= self._replay_end:
                    self._finish_resume()
        if seq <= self.acked_seq or seq in self._stored_above or seq in self._inflight:
            stats.duplicates += 1
            return False
        self._inflight[seq] = stamp.boot
        return True

    def note_device_head(self, last_seq: int) -> None:
        """The device's newest sequence number, from HEARTBEAT or DEVICE_INFO."""
        if last_seq > self.device_last_seq:
            self.device_last_seq = last_seq

    def handshake_head(self, last_seq: int) -> None:
        """The device's newest sequence number as its DEVICE_INFO gives it at a handshake.

        A device never numbers backwards while it keeps its numbering, so a head below the one
        seen before means the events seen above it were wiped with the device's memory before
        they were stored (a cursor above it is a new numbering, which the host checks first).
        They can never come: waiting for them would keep the host asking for a gap forever.
        """
        if last_seq < self.device_last_seq:
            self.device_last_seq = max(last_seq, self.acked_seq)

    def plan_commit(self, batch: Iterable[Stamp]) -> tuple[int, int]:
        """The cursor (boot, seq) that will hold once ``batch`` is committed."""
        boot, seq = self.acked_boot, self.acked_seq
        extra = {s.seq: s.boot for s in batch}
        stored = self._stored_above
        while True:
            nxt = seq + 1
            if nxt in extra:
                boot = extra[nxt]
            elif nxt in stored:
                boot = stored[nxt]
            else:
                return boot, seq
            seq = nxt

    def committed(self, batch: Iterable[Stamp]) -> bool:
        """``batch`` is durably stored; True if the cursor moved (send an ACK)."""
        stored = self._stored_above
        inflight = self._inflight
        n = 0
        for s in batch:
            inflight.pop(s.seq, None)
            if s.seq > self.acked_seq:
                stored[s.seq] = s.boot
            n += 1
        self.stats.stored += n
        moved = False
        while (self.acked_seq + 1) in stored:
            self.acked_seq += 1
            self.acked_boot = stored.pop(self.acked_seq)
            moved = True
        return moved

    def abandon_inflight(self) -> None:
        """Forget accepted-but-uncommitted events (their commit failed); they will be asked for again."""
        self._inflight.clear()

    # -- gaps and RESUME -------------------------------------------------------------

    @property
    def complete(self) -> bool:
        """Every event the device has reported is stored and acknowledged."""
        return self.acked_seq >= self.device_last_seq and not self._inflight

    def has_gap(self) -> bool:
        """An event the device has counted is neither stored nor on its way to storage."""
        nxt = self.acked_seq + 1
        return self.device_last_seq >= nxt and nxt not in self._inflight and nxt not in self._stored_above

    @property
    def resume_outstanding(self) -> bool:
        return self._resume_since is not None

    @property
    def resume_since(self) -> float | None:
        """When the outstanding RESUME last made progress (None: none outstanding)."""
        return self._resume_since

    def resume_due(self, now: float) -> bool:
        """True when the caller should send RESUME(:attr:`acked_boot`, :attr:`acked_seq`) now."""
        if self._resume_since is not None:
            if now - self._resume_since < self.resume_timeout:
                return False
            self._finish_resume()
        if not self.has_gap():
            return False
        self.stats.gaps += 1
        return True

    def resume_sent(self, now: float) -> None:
        self.stats.resumes += 1
        self._resume_since = now
        self._replay_end = None

    def on_resume_reply(self, reply: ResumeReply, now: float) -> None:
        """Adjust to what the device will replay."""
        first = reply.first_seq
        if reply.count == 0:
            self._finish_resume()
            last = first - 1
            if last > self.device_last_seq:
                self.device_last_seq = last
        else:
            self._resume_since = now
            self._replay_end = first + reply.count - 1
            self.note_device_head(self._replay_end)
        if first > self.acked_seq + 1:
            # The device holds nothing between our cursor and first_seq: those events were
            # acknowledged to another host, or never existed (first contact).
            self.stats.jumps += 1
            self._move_cursor(first - 1, reply.boot)

    def _move_cursor(self, seq: int, boot: int) -> None:
        self.acked_seq = seq
        self.acked_boot = boot
        for s in [s for s in self._stored_above if s <= seq]:
            del self._stored_above[s]
        while (self.acked_seq + 1) in self._stored_above:
            self.acked_seq += 1
            self.acked_boot = self._stored_above.pop(self.acked_seq)

    def _finish_resume(self) -> None:
        self._resume_since = None
        self._replay_end = None
