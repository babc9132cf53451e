"""What a link session tells its observers: frames on the wire, stamps, state changes."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from stampside.devicelink.state import LinkState
from stampside.firmware_protocol import BadFrame, Event, Stamp


class Direction(enum.Enum):
    RX = "rx"  # device -> host
    TX = "tx"  # host -> device


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """One frame (or bad frame) that crossed the link, as a monitor shows it."""

    direction: Direction
    #: ``time.monotonic()`` when it was received or sent (a capture's own clock for replays).
    monotonic: float
    #: Unix time in seconds.
    wall: float
    #: The decoded frame, a frame of a type this end does not accept, or a bad frame.
    event: Event
    #: The bytes on the wire: the stuffed frame with its 0x00 delimiter; for a bad frame,
    #: the bytes that were rejected (without the delimiter).
    wire: bytes

    @property
    def bad(self) -> bool:
        return isinstance(self.event, BadFrame)


@dataclass(frozen=True, slots=True)
class StampEvent:
    """A stamp the session received for the first time (duplicates are not repeated)."""

    serial: str
    stamp: Stamp
    #: It came as a replay (answer to RESUME), not live.
    replay: bool
    #: Unix time in seconds.
    received_at: float
    monotonic: float


@dataclass(frozen=True, slots=True)
class StateChange:
    """The session moved from ``previous`` to ``state``."""

    state: LinkState
    previous: LinkState
    monotonic: float
    wall: float
    #: Why, for a person: "handshake done", "no valid frame for 2.0 s", "device rebooted (boot 4)".
    reason: str = ""
