"""Where a link session puts the stamps it receives: the durable storage interface.

The session does not know about databases. It hands batches to a :class:`StampSink`
and sends the device an ACK only after :meth:`StampSink.commit` has returned, so the sink
decides what "durable" means (for SQLite: WAL with ``synchronous=FULL``, which survives a
power loss). ``app.storage.DatabaseSink`` is the implementation the app uses. Stamps are
kept per :class:`~stampside.firmware_protocol.host_events.Ledger`: one per numbering of a device, so a
device that restarts its numbering never has its new stamps mistaken for stored ones.

Sinks are synchronous: the session calls them from a worker thread
(:func:`asyncio.to_thread`), one call at a time, never from the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from stampside.firmware_protocol import DeviceInfo, Stamp
from stampside.firmware_protocol.host_events import Ledger

#: A delivery cursor: (boot, seq) of the newest event below which every event is stored.
Cursor = tuple[int, int]


@dataclass(frozen=True, slots=True)
class StampTags:
    """Where a stamp belongs, as the host knew it when the stamp arrived.

    The app sets them on the link (:attr:`stampside.devicelink.session.LinkSession.tags`) as the
    practitioner works: the treatment session that is open and the zone being stamped. The
    sink stores them with the stamp, in the same transaction, so a stamp's session and
    zone never lag behind it.
    """

    #: The open treatment session (None: stamps arriving now belong to no session).
    session_id: int | None = None
    #: The zone being stamped (1–5), credited to stamps whose device sent no zone.
    active_zone: int | None = None


NO_TAGS = StampTags()


@dataclass(frozen=True, slots=True)
class ReceivedStamp:
    """A stamp as the host received it."""

    stamp: Stamp
    #: When the host received it, Unix time in seconds.
    received_at: float
    #: It came as a replay (answer to RESUME), not live.
    replay: bool
    tags: StampTags = NO_TAGS


@dataclass(frozen=True, slots=True)
class StoredStamp:
    """A stamp the sink stored (for the first time): what it holds now."""

    received: ReceivedStamp
    ledger: Ledger
    #: The treatment session it was stored in (None: none).
    session_id: int | None
    #: The zone it counts in for that session (None: unassigned, or outside a session).
    credited_zone: int | None

    @property
    def stamp(self) -> Stamp:
        return self.received.stamp


@dataclass(frozen=True, slots=True)
class LinkLogEntry:
    """Something that happened to the link, worth keeping next to the stamps."""

    #: Unix time in seconds.
    at: float
    #: A short stable word: ``connected``, ``lost``, ``reboot``, ``resync``, ``jump``,
    #: ``new-numbering``, ``fault``, ``arm-refused``, ``incompatible``, ``handshake``.
    kind: str
    detail: str = ""
    tags: StampTags = NO_TAGS
    #: The device numbering it happened to (None: before the device was known).
    ledger: Ledger | None = None


@dataclass(frozen=True, slots=True)
class CommitBatch:
    """One transaction's worth of work for the sink."""

    #: The device numbering the stamps and the cursor belong to (None: link log entries only).
    ledger: Ledger | None
    stamps: Sequence[ReceivedStamp] = ()
    #: The ledger's delivery cursor to store with the stamps, in the same transaction.
    cursor: Cursor | None = None
    log: Sequence[LinkLogEntry] = field(default_factory=tuple)


class StampSink(Protocol):
    """Durable storage for one or more devices' stamps, one :class:`Ledger` per device numbering."""

    def open_device(self, info: DeviceInfo) -> Ledger:
        """Register the device (or refresh its identity fields) and return the ledger of its current numbering.

        A device seen for the first time gets a ledger at (0, 0): nothing stored.
        """
        ...

    def start_life(self, info: DeviceInfo, previous: Ledger, epoch: int, reason: str) -> Ledger:
        """The device restarted its numbering: a new ledger after ``previous``, at (0, 0).

        Its stamps are kept apart from the earlier numbering's (they may reuse the same
        boot and seq). ``epoch`` is the new numbering's epoch (0: not known yet).
        """
        ...

    def bind_epoch(self, ledger: Ledger, epoch: int) -> None:
        """Store the epoch of a ledger that did not know it."""
        ...

    def commit(self, batch: CommitBatch) -> Sequence[StoredStamp]:
        """Store ``batch`` in ONE transaction and return the stamps that were new.

        Stamps whose (ledger, boot, seq) is already stored are skipped, not errors. When
        this returns, the transaction is durable. Raises
        :class:`~stampside.devicelink.errors.SinkError` (or a subclass) when it could not commit;
        then nothing of the batch was stored.
        """
        ...
