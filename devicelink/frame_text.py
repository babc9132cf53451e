"""Frame records as text: one readable line, or one JSON-ready dict, per frame.

Used by ``stampside link monitor`` and ``link replay`` (and later the TUI's link view).
Both forms carry the direction, the time, the message type, its fields, and for bad frames
the reason and the rejected bytes.
"""

from __future__ import annotations

import enum
import time

from stampside.devicelink.events import Direction, FrameRecord, StateChange
from stampside.firmware_protocol import (
    ArmReason,
    ArmState,
    BadFrame,
    Fault,
    FaultCode,
    Flag,
    Frame,
    Heartbeat,
    HeartbeatState,
    Message,
    MessageType,
    Nack,
    NackCode,
    Stamp,
    UnknownMessage,
)

#: Bad frames longer than this are shown truncated in the human form.
MAX_BAD_HEX_BYTES = 32


def _type_name(code: int) -> str:
    try:
        return MessageType(code).name
    except ValueError:
        return f"0x{code:02X}"


def _enum_name(kind: type[enum.IntEnum], value: int) -> str:
    try:
        return f"{kind(value).name}"
    except ValueError:
        return str(value)


def flag_names(flags: int) -> list[str]:
    return [f.name for f in (Flag.REPLAY, Flag.ANNOUNCE) if flags & f and f.name]


def message_fields(message: Message) -> dict[str, object]:
    """The message's wire fields, as plain JSON values."""
    return message.to_dict()


def _symbolic(message: Message) -> dict[str, object]:
    """Fields with enum codes shown by name, for people."""
    fields = message.to_dict()
    if isinstance(message, Fault):
        fields["code"] = _enum_name(FaultCode, message.code)
    elif isinstance(message, Nack):
        fields["refused_type"] = _type_name(message.refused_type)
        fields["code"] = _enum_name(NackCode, message.code)
    elif isinstance(message, ArmState):
        fields["reason"] = _enum_name(ArmReason, message.reason)
    elif isinstance(message, Stamp):
        fields = {**fields, "force_n": message.force_n}
    elif isinstance(message, Heartbeat):
        names = [s.name for s in HeartbeatState if s and message.state & s and s.name]
        fields["state"] = "|".join(names) if names else "0"
    return fields


def frame_record_dict(record: FrameRecord, *, with_hex: bool = False) -> dict[str, object]:
    """A JSON-ready dict for one frame record (``kind``: frame, unknown or bad_frame)."""
    out: dict[str, object] = {"t": round(record.wall, 6), "dir": record.direction.value}
    event = record.event
    if isinstance(event, Frame):
        out.update(
            kind="frame",
            type=event.message.TYPE.name,
            lseq=event.lseq,
            version=event.version,
            flags=flag_names(event.flags),
            fields=message_fields(event.message),
        )
    elif isinstance(event, UnknownMessage):
        out.update(kind="unknown", type=_type_name(event.msg_type), lseq=event.lseq, version=event.version)
    else:
        out.update(kind="bad_frame", reason=event.reason, detail=event.detail, length=len(event.wire))
        if event.msg_type >= 0:
            out["type"] = _type_name(event.msg_type)
            out["lseq"] = event.lseq
        with_hex = True
    if with_hex:
        out["hex"] = record.wire.hex(" ")
    return out


def state_change_dict(change: StateChange) -> dict[str, object]:
    return {
        "t": round(change.wall, 6),
        "kind": "state",
        "state": change.state.value,
        "previous": change.previous.value,
        "reason": change.reason,
    }


def clock(wall: float) -> str:
    """Local time of day with milliseconds."""
    return time.strftime("%H:%M:%S", time.localtime(wall)) + f".{int(wall * 1000) % 1000:03d}"


def format_frame_record(record: FrameRecord, *, with_hex: bool = False) -> str:
    """One line: time, direction, type, link seq, fields; bad frames with their bytes."""
    arrow = "<-" if record.direction is Direction.RX else "->"
    head = f"{clock(record.wall)} {record.direction.value} {arrow}"
    event = record.event
    if isinstance(event, BadFrame):
        shown = record.wire[:MAX_BAD_HEX_BYTES].hex(" ")
        more = " …" if len(record.wire) > MAX_BAD_HEX_BYTES else ""
        detail = f" ({event.detail})" if event.detail else ""
        return f"{head} BAD FRAME {event.reason}{detail}, {len(record.wire)} bytes: {shown}{more}"
    if isinstance(event, UnknownMessage):
        line = f"{head} {_type_name(event.msg_type):<15} #{event.lseq:<3} (a type the host does not accept)"
    else:
        fields = " ".join(f"{k}={v}" for k, v in _symbolic(event.message).items())
        flags = "".join(f" [{name}]" for name in flag_names(event.flags))
        line = f"{head} {event.message.TYPE.name:<15} #{event.lseq:<3} {fields}{flags}".rstrip()
    if with_hex:
        line += f"\n{' ' * 16}{record.wire.hex(' ')}"
    return line


def format_state_change(change: StateChange) -> str:
    reason = f" ({change.reason})" if change.reason else ""
    return f"{clock(change.wall)} -- link {change.state.value}{reason}"
