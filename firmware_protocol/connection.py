"""The sans-I/O protocol endpoint: bytes in, typed events out; messages in, bytes out.

A :class:`Connection` does no I/O and keeps no clock. The caller moves the bytes::

    conn = Connection(Role.HOST)
    transport.write(conn.send(Hello(1, 1)))
    for event in conn.receive_data(transport.read()):
        ...

The same class serves the host (app) and the device (simulator) roles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from stampside.firmware_protocol.errors import IncompatibleVersion, ProtocolError
from stampside.firmware_protocol.framing import (
    BAD_LENGTH,
    BAD_VERSION,
    BadFrame,
    FrameDecoder,
    FramingStats,
    encode_frame,
)
from stampside.firmware_protocol.messages import BY_TYPE, Flag, Message, Role

#: Protocol versions this implementation speaks (v2 adds the numbering epoch, docs/protocol.md 3.5).
SUPPORTED_VERSIONS: tuple[int, int] = (1, 2)
#: The version frames are sent with before negotiation (HELLO, DEVICE_INFO, NACK).
BASE_VERSION = 1


def negotiate(host_range: tuple[int, int], device_range: tuple[int, int]) -> int:
    """The highest version both ranges contain; :class:`IncompatibleVersion` if none."""
    low = max(host_range[0], device_range[0])
    high = min(host_range[1], device_range[1])
    if low > high or low < 1:
        raise IncompatibleVersion(host_range, device_range)
    return high


class Frame(NamedTuple):
    """A checked frame carrying a known message.

    A named tuple rather than a dataclass: one is made per frame on the hot path, and a
    tuple is the cheapest immutable record Python has.
    """

    message: Message
    flags: int
    lseq: int
    version: int
    #: Header + payload, as checked (CRC removed, unstuffed).
    raw: bytes

    @property
    def replay(self) -> bool:
        return bool(self.flags & Flag.REPLAY)


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    """A checked frame whose type this role does not accept from its peer."""

    msg_type: int
    flags: int
    lseq: int
    version: int
    raw: bytes


Event = Frame | UnknownMessage | BadFrame


@dataclass(slots=True)
class LinkCounters:
    """Counters of one :class:`Connection`, both directions."""

    rx: FramingStats
    tx_frames: int = 0
    tx_bytes: int = 0
    #: Frames the peer sent that never arrived, estimated from gaps in link sequence numbers.
    rx_lseq_gaps: int = 0
    unknown: int = 0
    by_type_rx: dict[str, int] = field(default_factory=dict)
    by_type_tx: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "rx": self.rx.as_dict(),
            "tx_frames": self.tx_frames,
            "tx_bytes": self.tx_bytes,
            "rx_lseq_gaps": self.rx_lseq_gaps,
            "unknown": self.unknown,
            "by_type_rx": dict(self.by_type_rx),
            "by_type_tx": dict(self.by_type_tx),
        }


class Connection:
    """One end of a Stampside link."""

    def __init__(self, role: Role, versions: tuple[int, int] = SUPPORTED_VERSIONS) -> None:
        self.role = role
        self.peer_role = Role.DEVICE if role is Role.HOST else Role.HOST
        self.versions = versions
        #: The version frames are sent with; set by the caller after negotiation.
        self.version = BASE_VERSION
        self._decoder = FrameDecoder()
        self._tx_lseq = 0
        self._rx_lseq: int | None = None
        self.counters = LinkCounters(rx=self._decoder.stats)
        # Types the peer may send us, precomputed for the hot path.
        self._accepted = {t: cls for t, cls in BY_TYPE.items() if self.peer_role in cls.SENDERS}
        self._names = {t: cls.TYPE.name for t, cls in BY_TYPE.items()}

    # -- sending ---------------------------------------------------------------------

    def send(self, message: Message, flags: int = 0) -> bytes:
        """Encode ``message`` as one frame and return the bytes to write."""
        if self.role not in message.SENDERS:
            raise ProtocolError(f"a {self.role.value} does not send {message.TYPE.name}")
        version = BASE_VERSION if message.FROZEN_LAYOUT else self.version
        lseq = self._tx_lseq
        self._tx_lseq = (lseq + 1) & 0xFF
        raw = bytes(((version << 4) | (flags & 0x0F), message.TYPE, lseq)) + message.pack_payload(version)
        data = encode_frame(raw)
        counters = self.counters
        counters.tx_frames += 1
        counters.tx_bytes += len(data)
        name = message.TYPE.name
        counters.by_type_tx[name] = counters.by_type_tx.get(name, 0) + 1
        return data

    def send_many(self, messages: list[Message], flags: int = 0) -> bytes:
        """Encode several messages into one buffer (one write for a burst)."""
        return b"".join([self.send(m, flags) for m in messages])

    # -- receiving -------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed received bytes; return the events they complete, in order. Never raises."""
        out: list[Event] = []
        decoder = self._decoder
        accepted = self._accepted
        counters = self.counters
        by_type = counters.by_type_rx
        names = self._names
        vmin, vmax = self.versions
        for item in decoder.feed(data):
            if type(item) is BadFrame:
                out.append(item)
                continue
            raw: bytes = item  # type: ignore[assignment]
            b0 = raw[0]
            version = b0 >> 4
            flags = b0 & 0x0F
            msg_type = raw[1]
            lseq = raw[2]
            expected = self._rx_lseq
            if expected is not None and lseq != expected:
                missed = (lseq - expected) & 0xFF
                # A number from the past half of the circle is a repeated (duplicated) or
                # restarted sender, not 200-odd lost frames.
                if missed < 128:
                    counters.rx_lseq_gaps += missed
            self._rx_lseq = (lseq + 1) & 0xFF
            cls = accepted.get(msg_type)
            if cls is None:
                counters.unknown += 1
                out.append(UnknownMessage(msg_type, flags, lseq, version, raw))
                continue
            if not (vmin <= version <= vmax) and not cls.FROZEN_LAYOUT:
                decoder.count_bad(BAD_VERSION)
                out.append(
                    BadFrame(
                        BAD_VERSION,
                        raw,
                        f"{cls.TYPE.name} in v{version}, this end speaks v{vmin}–v{vmax}",
                        msg_type,
                        lseq,
                    )
                )
                continue
            payload = raw[3:]
            size = cls.payload_size(version) if cls._LATER else cls._STRUCT.size
            if len(payload) != size:
                decoder.count_bad(BAD_LENGTH)
                out.append(
                    BadFrame(
                        BAD_LENGTH,
                        raw,
                        f"{cls.TYPE.name} v{version} payload is {len(payload)} bytes, expected {size}",
                        msg_type,
                        lseq,
                    )
                )
                continue
            name = names[msg_type]
            by_type[name] = by_type.get(name, 0) + 1
            message = cls.from_payload(payload, version) if cls._LATER else cls.from_payload(payload)
            out.append(Frame(message, flags, lseq, version, raw))
        return out

    def reset(self) -> None:
        """Start afresh after a reconnect: drop partial input, forget sequence state.

        Counters are kept; the negotiated version falls back to the base version, and the
        link sequence numbers start again at 0 in both directions (docs/protocol.md 2).
        """
        self._decoder.reset()
        self._rx_lseq = None
        self._tx_lseq = 0
        self.version = BASE_VERSION

    @property
    def rx_stats(self) -> FramingStats:
        return self._decoder.stats
