"""Where a link session puts the stamps it receives: the durable storage interface.

The session does not know about databases. It hands batches to a :class:`StampSink`
and sends the device an ACK only after :meth:`StampSink.commit` has returned, so the sink
decides what "durable" means (for SQLite: WAL with ``synchronous=FULL``, which survives a
power loss). ``app.storage.DatabaseSink`` is the implementation the app uses.

Sinks are synchronous: the session calls them from a worker thread
(:func:`asyncio.to_thread`), one call at a time, never from the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from firmware_protocol import DeviceInfo, Stamp

#: A delivery cursor: (boot, seq) of the newest event below which every event is stored.
Cursor = tuple[int, int]


@dataclass(frozen=True, slots=True)
class ReceivedStamp:
    """A stamp as the host received it."""

    stamp: Stamp
    #: When the host received it, Unix time in seconds.
    received_at: float
    #: It came as a replay (answer to RESUME), not live.
    replay: bool


@dataclass(frozen=True, slots=True)
class LinkLogEntry:
    """Something that happened to the link, worth keeping next to the stamps."""

    #: Unix time in seconds.
    at: float
    #: A short stable word: ``connected``, ``lost``, ``reboot``, ``resync``, ``jump``,
    #: ``regression``, ``fault``, ``incompatible``.
    kind: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class CommitBatch:
    """One transaction's worth of work for the sink."""

    #: The device the stamps and the cursor belong to (None: link log entries only).
    serial: str | None
    stamps: Sequence[ReceivedStamp] = ()
    #: The device's delivery cursor to store with the stamps, in the same transaction.
    cursor: Cursor | None = None
    log: Sequence[LinkLogEntry] = field(default_factory=tuple)


class StampSink(Protocol):
    """Durable storage for one or more devices' stamps."""

    def open_device(self, info: DeviceInfo) -> Cursor:
        """Register the device (or refresh its identity fields) and return its stored cursor.

        A device seen for the first time has the cursor (0, 0): nothing stored.
        """
        ...

    def commit(self, batch: CommitBatch) -> int:
        """Store ``batch`` in ONE transaction and return how many stamps were new.

        Stamps whose (serial, boot, seq) is already stored are skipped, not errors. When
        this returns, the transaction is durable. Raises
        :class:`~devicelink.errors.SinkError` (or a subclass) when it could not commit;
        then nothing of the batch was stored.
        """
        ...
