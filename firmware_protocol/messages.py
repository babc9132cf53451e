"""Message types of Stampside wire protocol v1–v2 and their fixed little-endian layouts.

Every message is a frozen dataclass whose fields are the wire fields, in wire units
(integers). ``docs/protocol.md`` documents each layout byte by byte; the test vectors
in ``firmware_protocol/vectors.json`` pin them down.

A layout is fixed per protocol version. A later version may only add fields at the end
of a message (with a default, so a v1 frame still decodes into the same class): RESUME and
RESUME_REPLY carry the device's numbering **epoch** from v2 on (docs/protocol.md 3.5).

The header (3 bytes) precedes every payload::

    byte 0   version (high nibble) | flags (low nibble)
    byte 1   message type
    byte 2   link sequence number (per direction, wraps at 256)
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from dataclasses import dataclass
from typing import ClassVar

from stampside.firmware_protocol.errors import EncodeError


class Role(enum.Enum):
    """Which end of the link a :class:`~stampside.firmware_protocol.connection.Connection` plays."""

    HOST = "host"
    DEVICE = "device"


class Flag(enum.IntFlag):
    """Header flags (low nibble of byte 0)."""

    NONE = 0
    #: A STAMP resent from the device's buffer in answer to RESUME.
    REPLAY = 0x1
    #: A DEVICE_INFO the device sent on its own, right after it booted.
    ANNOUNCE = 0x2


class FaultCode(enum.IntEnum):
    """Codes carried by FAULT."""

    #: The event buffer is full: new stamps are not being counted. detail = stamps refused so far.
    BUFFER_FULL = 1
    #: Battery at or below the low threshold. detail = battery %.
    LOW_BATTERY = 2
    #: Battery empty: the device disarmed itself. detail = battery %.
    BATTERY_EMPTY = 3
    #: The force sensor read out of range. detail = raw reading.
    SENSOR = 4
    #: The device rebooted unexpectedly (watchdog, brown-out). detail = boot counter.
    UNEXPECTED_REBOOT = 5


class NackCode(enum.IntEnum):
    """Codes carried by NACK (the device's error reply)."""

    UNKNOWN_TYPE = 1
    BAD_LENGTH = 2
    VERSION_UNSUPPORTED = 3
    #: The command is known but not allowed now (for example ARM with an empty battery).
    REFUSED = 4
    BAD_ARGUMENT = 5
    #: A command other than HELLO arrived before HELLO.
    NOT_READY = 6


class ArmReason(enum.IntEnum):
    """Why the arm state changed, carried by ARM_STATE."""

    COMMAND = 0
    BOOT = 1
    BATTERY_EMPTY = 2
    BUFFER_FULL = 3


class MessageType(enum.IntEnum):
    HELLO = 0x01
    TIME_SYNC = 0x02
    ARM = 0x03
    DISARM = 0x04
    ACK = 0x05
    RESUME = 0x06
    PING = 0x07
    DEVICE_INFO = 0x10
    STAMP = 0x11
    BATTERY = 0x12
    HEAD_CHANGED = 0x13
    FAULT = 0x14
    TIME_SYNC_REPLY = 0x15
    RESUME_REPLY = 0x16
    PONG = 0x17
    ARM_STATE = 0x18
    NACK = 0x1F
    HEARTBEAT = 0x20


_HOST = frozenset({Role.HOST})
_DEVICE = frozenset({Role.DEVICE})
_BOTH = frozenset({Role.HOST, Role.DEVICE})


class Message:
    """Base class of every message. Subclasses are frozen, slotted dataclasses."""

    __slots__ = ()
    TYPE: ClassVar[MessageType]
    #: Roles allowed to send this message.
    SENDERS: ClassVar[frozenset[Role]]
    #: Messages whose layout never changes across protocol versions (negotiation needs them).
    FROZEN_LAYOUT: ClassVar[bool] = False
    #: The layout in protocol v1.
    _STRUCT: ClassVar[struct.Struct]
    #: Longer layouts of later versions, oldest first: (first version, layout). The fields a
    #: later layout adds are the dataclass's last ones and have defaults.
    _LATER: ClassVar[tuple[tuple[int, struct.Struct], ...]] = ()

    @classmethod
    def layout(cls, version: int = 1) -> struct.Struct:
        """The payload layout of this message in protocol ``version``."""
        chosen = cls._STRUCT
        for since, layout in cls._LATER:
            if version >= since:
                chosen = layout
        return chosen

    def pack_payload(self, version: int = 1) -> bytes:
        layout = self.layout(version) if self._LATER else self._STRUCT
        values = dataclasses.astuple(self)  # type: ignore[call-overload]
        try:
            return layout.pack(*values[: _field_count(layout)] if self._LATER else values)
        except struct.error as exc:
            raise EncodeError(f"{type(self).__name__}: {exc}") from None

    @classmethod
    def from_payload(cls, payload: bytes, version: int = 1) -> Message:
        layout = cls.layout(version) if cls._LATER else cls._STRUCT
        return cls(*layout.unpack(payload))

    @classmethod
    def payload_size(cls, version: int = 1) -> int:
        return cls.layout(version).size if cls._LATER else cls._STRUCT.size

    def to_dict(self, version: int | None = None) -> dict[str, object]:
        """The fields as a JSON-friendly dict (bytes become text).

        With ``version``, only the fields that version's layout carries (a v1 RESUME has no epoch).
        """
        fields = dataclasses.fields(self)  # type: ignore[arg-type]
        if version is not None and self._LATER:
            fields = fields[: _field_count(self.layout(version))]
        return {f.name: getattr(self, f.name) for f in fields}


# --- host -> device ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello(Message):
    """Opens (or reopens) a link: the host's supported protocol version range."""

    TYPE = MessageType.HELLO
    SENDERS = _HOST
    FROZEN_LAYOUT = True
    _STRUCT = struct.Struct("<BB")
    min_version: int
    max_version: int


@dataclass(frozen=True, slots=True)
class TimeSync(Message):
    """The host's wall clock, Unix time in ms. The device answers TIME_SYNC_REPLY."""

    TYPE = MessageType.TIME_SYNC
    SENDERS = _HOST
    _STRUCT = struct.Struct("<Q")
    host_unix_ms: int


@dataclass(frozen=True, slots=True)
class Arm(Message):
    """Start counting stamps. The device answers ARM_STATE (or NACK REFUSED)."""

    TYPE = MessageType.ARM
    SENDERS = _HOST
    _STRUCT = struct.Struct("<")


@dataclass(frozen=True, slots=True)
class Disarm(Message):
    """Stop counting stamps. The device answers ARM_STATE."""

    TYPE = MessageType.DISARM
    SENDERS = _HOST
    _STRUCT = struct.Struct("<")


@dataclass(frozen=True, slots=True)
class Ack(Message):
    """Cumulative: the host has durably stored every event up to and including ``seq``."""

    TYPE = MessageType.ACK
    SENDERS = _HOST
    _STRUCT = struct.Struct("<HI")
    boot: int
    seq: int


@dataclass(frozen=True, slots=True)
class Resume(Message):
    """Acknowledges every event up to ``seq`` and asks for the rest of the buffer again.

    From v2 on it names the ``epoch`` the host's cursor belongs to (0: the host does not
    know it). A device whose own epoch differs acknowledges nothing and replays its whole
    buffer: the cursor is another numbering's (docs/protocol.md 3.5).
    """

    TYPE = MessageType.RESUME
    SENDERS = _HOST
    _STRUCT = struct.Struct("<HI")
    _LATER = ((2, struct.Struct("<HII")),)
    boot: int
    seq: int
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class Ping(Message):
    """Round-trip probe. The device answers PONG with the same nonce."""

    TYPE = MessageType.PING
    SENDERS = _HOST
    _STRUCT = struct.Struct("<I")
    nonce: int


# --- device -> host ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceInfo(Message):
    """The device's identity and state: the answer to HELLO, and its announcement at boot.

    ``serial`` is ASCII, at most 12 bytes. ``selected_version`` is the version the device
    chose from the host's HELLO (0 when there is none in common, or when announcing).
    ``last_seq`` is the sequence number of the newest event it has counted (0 if none).
    """

    TYPE = MessageType.DEVICE_INFO
    SENDERS = _DEVICE
    FROZEN_LAYOUT = True
    _STRUCT = struct.Struct("<12sBBBBBBBHIHHBHI")
    serial: str
    hw_revision: int
    fw_major: int
    fw_minor: int
    fw_patch: int
    min_version: int
    max_version: int
    selected_version: int
    needle_um: int
    head_id: int
    head_uses: int
    footprint_mm2: int
    battery_pct: int
    boot: int
    last_seq: int

    def pack_payload(self, version: int = 1) -> bytes:
        serial = self.serial.encode("ascii", "strict") if self.serial.isascii() else b""
        if not serial or len(serial) > 12 or b"\x00" in serial:
            raise EncodeError(f"DeviceInfo.serial must be 1–12 ASCII characters, got {self.serial!r}")
        fields = dataclasses.astuple(self)
        try:
            return self._STRUCT.pack(serial, *fields[1:])
        except struct.error as exc:
            raise EncodeError(f"DeviceInfo: {exc}") from None

    @classmethod
    def from_payload(cls, payload: bytes, version: int = 1) -> DeviceInfo:
        raw_serial, *rest = cls._STRUCT.unpack(payload)
        serial = raw_serial.rstrip(b"\x00").decode("ascii", "replace")
        return cls(serial, *rest)

    @property
    def version_range(self) -> tuple[int, int]:
        return (self.min_version, self.max_version)

    @property
    def firmware(self) -> str:
        return f"{self.fw_major}.{self.fw_minor}.{self.fw_patch}"


@dataclass(frozen=True, slots=True)
class Stamp(Message):
    """One stamp the device counted.

    Wire layout (13 bytes): boot u16, seq u32, device_time_ms u32, force u8 in 0.1 N,
    then a u16 whose low 12 bits are the contact duration in ms (0–4095) and whose high
    4 bits are the zone id (0 = unknown).
    """

    TYPE = MessageType.STAMP
    SENDERS = _DEVICE
    _STRUCT = struct.Struct("<HIIBH")
    boot: int
    seq: int
    device_time_ms: int
    force_dn: int
    contact_ms: int
    zone: int

    def pack_payload(self, version: int = 1) -> bytes:
        if not 0 <= self.contact_ms <= 0xFFF:
            raise EncodeError(f"Stamp.contact_ms must be 0–4095, got {self.contact_ms}")
        if not 0 <= self.zone <= 0xF:
            raise EncodeError(f"Stamp.zone must be 0–15, got {self.zone}")
        try:
            return self._STRUCT.pack(
                self.boot, self.seq, self.device_time_ms, self.force_dn, self.contact_ms | (self.zone << 12)
            )
        except struct.error as exc:
            raise EncodeError(f"Stamp: {exc}") from None

    @classmethod
    def from_payload(cls, payload: bytes, version: int = 1) -> Stamp:
        boot, seq, t, force, packed = cls._STRUCT.unpack(payload)
        return cls(boot, seq, t, force, packed & 0xFFF, packed >> 12)

    @property
    def force_n(self) -> float:
        """Peak force in newtons."""
        return self.force_dn / 10


@dataclass(frozen=True, slots=True)
class Battery(Message):
    """Battery state, sent when the percentage changes."""

    TYPE = MessageType.BATTERY
    SENDERS = _DEVICE
    _STRUCT = struct.Struct("<BH")
    pct: int
    millivolts: int


@dataclass(frozen=True, slots=True)
class HeadChanged(Message):
    """A stamp head was fitted."""

    TYPE = MessageType.HEAD_CHANGED
    SENDERS = _DEVICE
    _STRUCT = struct.Struct("<IHH")
    head_id: int
    head_uses: int
    footprint_mm2: int


@dataclass(frozen=True, slots=True)
class Fault(Message):
    """Something is wrong on the device; ``code`` is a :class:`FaultCode`."""

    TYPE = MessageType.FAULT
    SENDERS = _DEVICE
    _STRUCT = struct.Struct("<BI")
    code: int
    detail: int


@dataclass(frozen=True, slots=True)
class TimeSyncReply(Message):
    """Echoes the host's time and gives the device's clock (ms since boot) when it was set."""

    TYPE = MessageType.TIME_SYNC_REPLY
    SENDERS = _DEVICE
    _STRUCT = struct.Struct("<QI")
    host_unix_ms: int
    device_time_ms: int


@dataclass(frozen=True, slots=True)
class ResumeReply(Message):
    """The answer to RESUME: ``count`` events follow, from ``first_seq`` on.

    With an empty buffer ``count`` is 0 and ``first_seq`` is the next sequence number
    the device will assign. From v2 on it carries the device's numbering ``epoch``
    (0 in a v1 frame: not known).
    """

    TYPE = MessageType.RESUME_REPLY
    SENDERS = _DEVICE
    _STRUCT = struct.Struct("<HII")
    _LATER = ((2, struct.Struct("<HIII")),)
    boot: int
    first_seq: int
    count: int
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class Pong(Message):
    """The answer to PING."""

    TYPE = MessageType.PONG
    SENDERS = _DEVICE
    _STRUCT = struct.Struct("<II")
    nonce: int
    device_time_ms: int


@dataclass(frozen=True, slots=True)
class ArmState(Message):
    """Whether the device counts stamps, and why that changed (:class:`ArmReason`)."""

    TYPE = MessageType.ARM_STATE
    SENDERS = _DEVICE
    _STRUCT = struct.Struct("<BB")
    armed: int
    reason: int


@dataclass(frozen=True, slots=True)
class Nack(Message):
    """The device's error reply to a command it does not know or refuses."""

    TYPE = MessageType.NACK
    SENDERS = _DEVICE
    FROZEN_LAYOUT = True
    _STRUCT = struct.Struct("<BBB")
    refused_type: int
    refused_lseq: int
    code: int


# --- both ways --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Heartbeat(Message):
    """Liveness, sent every heartbeat interval by both ends.

    From the device: its boot, the newest seq it has counted, how many events wait for
    an ACK (saturating at 65535) and a state bitfield (:class:`HeartbeatState`). From the
    host: the boot and seq of its last ACK, and zeros.
    """

    TYPE = MessageType.HEARTBEAT
    SENDERS = _BOTH
    _STRUCT = struct.Struct("<HIHB")
    boot: int
    seq: int
    pending: int
    state: int


class HeartbeatState(enum.IntFlag):
    NONE = 0
    ARMED = 0x01
    BUFFER_FULL = 0x02
    LOW_BATTERY = 0x04
    TIME_SYNCED = 0x08


MESSAGE_CLASSES: tuple[type[Message], ...] = (
    Hello,
    TimeSync,
    Arm,
    Disarm,
    Ack,
    Resume,
    Ping,
    DeviceInfo,
    Stamp,
    Battery,
    HeadChanged,
    Fault,
    TimeSyncReply,
    ResumeReply,
    Pong,
    ArmState,
    Nack,
    Heartbeat,
)
def _field_count(layout: struct.Struct) -> int:
    return len(layout.unpack(bytes(layout.size)))


BY_TYPE: dict[int, type[Message]] = {cls.TYPE: cls for cls in MESSAGE_CLASSES}
BY_NAME: dict[str, type[Message]] = {cls.TYPE.name: cls for cls in MESSAGE_CLASSES}
