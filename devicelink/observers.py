"""What a link session tells its observers, kept apart from the session's own work.

:class:`SessionObservers` holds one :class:`~stampside.devicelink.broadcast.Broadcast` per kind of news —
frames both ways, new stamps, stored stamps, state changes, link-log notes — and turns what
the session does into items for them. Publishing never waits: a slow observer loses its
oldest items, the link is never slowed down.
"""

from __future__ import annotations

import time

from stampside.devicelink.broadcast import Broadcast, Subscription
from stampside.devicelink.events import Direction, FrameRecord, StampEvent, StateChange
from stampside.devicelink.sink import LinkLogEntry, StoredStamp
from stampside.firmware_protocol import BadFrame, Event, Role, encode_frame
from stampside.firmware_protocol.connection import Connection


class Subscriptions:
    """The subscribe methods of :class:`~stampside.devicelink.session.LinkSession` (a mixin)."""

    _observers: SessionObservers

    def subscribe_stamps(self, maxsize: int | None = None) -> Subscription[StampEvent]:
        """New stamps as they arrive (before they are committed; duplicates are left out)."""
        return self._observers.stamps.subscribe(maxsize or self._observers.queue_size)

    def subscribe_stored(self, maxsize: int | None = None) -> Subscription[tuple[StoredStamp, ...]]:
        """Stamps as committed (a batch at a time), with the session and zone they were stored in."""
        return self._observers.stored.subscribe(maxsize or self._observers.queue_size)

    def subscribe_frames(self, maxsize: int | None = None) -> Subscription[FrameRecord]:
        """Every frame both ways, with bad frames, for monitors."""
        return self._observers.frames.subscribe(maxsize or self._observers.queue_size)

    def subscribe_states(self, maxsize: int | None = None) -> Subscription[StateChange]:
        return self._observers.states.subscribe(maxsize or self._observers.queue_size)

    def subscribe_notes(self, maxsize: int | None = None) -> Subscription[LinkLogEntry]:
        """What goes into the link log as it happens: faults, reboots, losses, a restarted numbering."""
        return self._observers.notes.subscribe(maxsize or self._observers.queue_size)


class SessionObservers:
    """The broadcasts of one link session."""

    def __init__(self, versions: tuple[int, int], queue_size: int) -> None:
        self.queue_size = queue_size
        self.states: Broadcast[StateChange] = Broadcast()
        self.frames: Broadcast[FrameRecord] = Broadcast()
        self.stamps: Broadcast[StampEvent] = Broadcast()
        self.stored: Broadcast[tuple[StoredStamp, ...]] = Broadcast()
        self.notes: Broadcast[LinkLogEntry] = Broadcast()
        self._versions = versions
        self._tx_decoder: Connection | None = None

    def new_transport(self) -> None:
        """A new transport connection: link sequence numbers start again."""
        self._tx_decoder = None

    def frames_in(self, events: list[Event], now: float) -> None:
        """Frames the device sent (bad ones too), as the host machine decoded them."""
        if not self.frames:
            return
        wall = time.time()
        for event in events:
            wire = event.wire if isinstance(event, BadFrame) else encode_frame(event.raw)
            self.frames.publish(FrameRecord(Direction.RX, now, wall, event, wire))

    def frames_out(self, data: bytes) -> None:
        """Bytes the host writes, decoded as the device would."""
        if not self.frames:
            return
        if self._tx_decoder is None:
            self._tx_decoder = Connection(Role.DEVICE, self._versions)
        now = time.monotonic()
        wall = time.time()
        for event in self._tx_decoder.receive_data(data):
            self.frames.publish(FrameRecord(Direction.TX, now, wall, event, data))

    def close(self) -> None:
        for hub in (self.states, self.frames, self.stamps, self.stored, self.notes):
            hub.close()
