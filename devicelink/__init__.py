"""I/O for the Stampside link: transports, the link session, durable delivery, captures.

``docs/link.md`` describes the session, the CLI built on it and the capture format.
The package does not import ``app``: storage comes in through the :class:`StampSink`
protocol.
"""

from stampside.devicelink.errors import (
    CommandRefused,
    CommandTimeout,
    HandshakeFailed,
    LinkError,
    NotConnected,
    SessionClosed,
    SinkError,
)
from stampside.devicelink.events import Direction, FrameRecord, StampEvent, StateChange
from stampside.devicelink.serial_transport import SerialTransport
from stampside.devicelink.session import LinkOptions, LinkSession
from stampside.devicelink.sink import CommitBatch, Cursor, LinkLogEntry, ReceivedStamp, StampSink
from stampside.devicelink.state import LinkState
from stampside.devicelink.stats import LinkStats
from stampside.devicelink.transport import Transport, TransportDisconnected, TransportError, TransportOpenError

__all__ = [
    "CommandRefused",
    "CommandTimeout",
    "CommitBatch",
    "Cursor",
    "Direction",
    "FrameRecord",
    "HandshakeFailed",
    "LinkError",
    "LinkLogEntry",
    "LinkOptions",
    "LinkSession",
    "LinkState",
    "LinkStats",
    "NotConnected",
    "ReceivedStamp",
    "SerialTransport",
    "SessionClosed",
    "SinkError",
    "StampEvent",
    "StampSink",
    "StateChange",
    "Transport",
    "TransportDisconnected",
    "TransportError",
    "TransportOpenError",
]
