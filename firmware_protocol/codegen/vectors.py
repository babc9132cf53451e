"""``firmware_protocol/vectors.json``: hex frames with their decoded fields, plus bad frames.

The field names and the sender of every vector come from the schema; the bytes come from
the Python encoder (:class:`~stampside.firmware_protocol.connection.Connection` framing of
the :mod:`~stampside.firmware_protocol.messages` classes). Rendering checks that the two
agree (the encoder's fields are the schema's), that every vector decodes through the real
receiver, and that every layout of every message — v1, and each version that changed it —
has a vector. A C implementation, the Wireshark dissector and ``tests/protocol/test_vectors.py``
read the file.

Format::

    {"protocol", "versions", "crc", "note",
     "frames": [{"name", "sender", "hex", "version", "flags", "lseq", "type", "fields": {...}}],
     "bad_frames": [{"name", "hex", "reason"}]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from stampside.firmware_protocol.codegen import Target
from stampside.firmware_protocol.connection import Connection, Frame
from stampside.firmware_protocol.framing import BadFrame, encode_frame
from stampside.firmware_protocol.messages import BY_NAME, Flag, Message, Role
from stampside.firmware_protocol.schema import Schema

PATH = "firmware_protocol/vectors.json"


@dataclass(frozen=True, slots=True)
class Case:
    """One good vector: the message ``type`` with ``values`` in the schema's field order."""

    name: str
    type: str
    values: tuple[Any, ...]
    flags: int
    lseq: int
    version: int = 1
    #: "host" or "device"; needed only for a message both ends send (HEARTBEAT).
    sender: str = ""


_EPOCH = 0x5EED1234

CASES: tuple[Case, ...] = (
    Case("hello", "HELLO", (1, 1), 0, 0),
    Case("time sync", "TIME_SYNC", (1_764_067_200_123,), 0, 1),
    Case("arm", "ARM", (), 0, 2),
    Case("disarm", "DISARM", (), 0, 3),
    Case("ack", "ACK", (2, 1234), 0, 4),
    Case("resume", "RESUME", (2, 1000), 0, 5),
    Case("ping", "PING", (0xDEADBEEF,), 0, 6),
    Case("heartbeat from host", "HEARTBEAT", (2, 1234, 0, 0), 0, 7, sender="host"),
    Case(
        "device info answering hello",
        "DEVICE_INFO",
        ("SS-000001", 3, 1, 4, 2, 1, 1, 1, 2000, 0x0A0B0C0D, 0, 100, 87, 2, 1234),
        0,
        0,
    ),
    Case(
        "device info announced at boot",
        "DEVICE_INFO",
        ("SS-000001", 3, 1, 4, 2, 1, 1, 0, 2000, 0x0A0B0C0D, 0, 100, 86, 3, 1234),
        Flag.ANNOUNCE,
        0,
    ),
    Case("stamp", "STAMP", (2, 1235, 61_250, 64, 182, 0), 0, 1),
    Case("stamp in vertex", "STAMP", (2, 1236, 61_911, 71, 205, 3), 0, 2),
    Case("stamp replayed", "STAMP", (2, 1200, 40_001, 255, 4095, 15), Flag.REPLAY, 3),
    Case("stamp with zero bytes", "STAMP", (256, 256, 0, 0, 0, 0), 0, 0),
    Case("battery", "BATTERY", (86, 3912), 0, 4),
    Case("head changed", "HEAD_CHANGED", (0x0A0B0C0E, 0, 100), 0, 5),
    Case("fault buffer full", "FAULT", (1, 3), 0, 6),
    Case("time sync reply", "TIME_SYNC_REPLY", (1_764_067_200_123, 61_000), 0, 7),
    Case("resume reply", "RESUME_REPLY", (2, 1001, 235), 0, 8),
    Case("pong", "PONG", (0xDEADBEEF, 61_002), 0, 9),
    Case("arm state", "ARM_STATE", (1, 0), 0, 10),
    Case("nack unknown type", "NACK", (0x11, 12, 1), 0, 11),
    Case("heartbeat from device", "HEARTBEAT", (2, 1236, 2, 0x09), 0, 12, sender="device"),
    Case("resume with epoch (v2)", "RESUME", (2, 1000, _EPOCH), 0, 13, 2),
    Case("resume from a host that does not know the epoch (v2)", "RESUME", (2, 1000, 0), 0, 14, 2),
    Case("resume reply with epoch (v2)", "RESUME_REPLY", (2, 1001, 235, _EPOCH), 0, 15, 2),
    Case("resume reply from another numbering (v2)", "RESUME_REPLY", (1, 1, 50, 0x0BADF00D), 0, 16, 2),
)

#: The STAMP the bad frames are made from.
_STAMP = Case("stamp", "STAMP", (2, 1235, 61_250, 64, 182, 0), 0, 1)


class VectorError(ValueError):
    """The cases, the schema and the encoder disagree: no vector file can be written."""


def _sender(schema: Schema, case: Case) -> str:
    senders = schema.message(case.type).senders
    if case.sender:
        if case.sender not in senders:
            raise VectorError(f"{case.name}: {case.type} is sent by {'/'.join(senders)}, not {case.sender}")
        return case.sender
    if len(senders) != 1:
        raise VectorError(f"{case.name}: {case.type} is sent by both ends; the case must name its sender")
    return senders[0]


def _fields(schema: Schema, case: Case) -> dict[str, Any]:
    names = [f.name for f in schema.message(case.type).fields_in(case.version)]
    if len(names) != len(case.values):
        raise VectorError(f"{case.name}: {case.type} v{case.version} has fields {names}, got {len(case.values)} values")
    return dict(zip(names, case.values, strict=True))


def _message(schema: Schema, case: Case) -> tuple[Message, dict[str, Any]]:
    fields = _fields(schema, case)
    message = BY_NAME[case.type](*case.values)
    encoded = message.to_dict(case.version)
    if encoded != fields:
        raise VectorError(f"{case.name}: the encoder's fields {list(encoded)} are not the schema's {list(fields)}")
    return message, fields


def _wire(message: Message, flags: int, lseq: int, version: int) -> bytes:
    raw = bytes(((version << 4) | flags, message.TYPE, lseq)) + message.pack_payload(version)
    return encode_frame(raw)


def good_frames(schema: Schema) -> list[dict[str, Any]]:
    """Every case as a vector, each checked against the real receiver."""
    frames = []
    for case in CASES:
        message, fields = _message(schema, case)
        sender = _sender(schema, case)
        wire = _wire(message, case.flags, case.lseq, case.version)
        receiver = Connection(Role.DEVICE if sender == "host" else Role.HOST)
        events = receiver.receive_data(wire)
        if not (len(events) == 1 and isinstance(events[0], Frame) and events[0].message == message):
            raise VectorError(f"{case.name}: the receiver does not decode it back: {events}")
        frames.append(
            {
                "name": case.name,
                "sender": sender,
                "hex": wire.hex(" "),
                "version": case.version,
                "flags": int(case.flags),
                "lseq": case.lseq,
                "type": case.type,
                "fields": fields,
            }
        )
    wanted = {(m.name, v) for m in schema.messages for v in m.versions_with_own_layout if v in schema.versions}
    missing = wanted - {(f["type"], f["version"]) for f in frames}
    if missing:
        raise VectorError(f"no vector for {sorted(missing)}")
    return frames


def bad_frames(schema: Schema) -> list[dict[str, Any]]:
    """Frames a receiver must drop, each with its reason (checked against the real receiver)."""
    stamp_message, _ = _message(schema, _STAMP)
    stamp = _wire(stamp_message, _STAMP.flags, _STAMP.lseq, _STAMP.version)
    flipped = bytearray(stamp)
    flipped[10] ^= 0x10
    stamp_type = schema.message("STAMP").type_id
    stamp_size = schema.message("STAMP").payload_size(1)
    unknown_version = next(v for v in (9, *range(15, 0, -1)) if v not in schema.versions)
    oversize = int(schema.framing["max_encoded_frame"]) + 10
    bad = [
        {"name": "crc mismatch (one bit flipped)", "hex": bytes(flipped).hex(" "), "reason": "crc"},
        {"name": "truncated frame", "hex": (stamp[:9] + b"\x00").hex(" "), "reason": "crc"},
        {"name": "cut inside a COBS block", "hex": (stamp[: stamp[0] - 2] + b"\x00").hex(" "), "reason": "cobs"},
        {"name": "too short", "hex": "02 11 00", "reason": "short"},
        {"name": f"no delimiter for {oversize} bytes", "hex": ("01 " * oversize) + "00", "reason": "oversize"},
        {
            "name": f"stamp with a {stamp_size - 1}-byte payload",
            "hex": encode_frame(bytes((0x10, stamp_type, 0)) + bytes(stamp_size - 1)).hex(" "),
            "reason": "length",
        },
        {
            "name": f"stamp sent with version {unknown_version}",
            "hex": encode_frame(bytes((unknown_version << 4, stamp_type, 0)) + bytes(stamp_size)).hex(" "),
            "reason": "version",
        },
    ]
    for item in bad:
        if item["reason"] not in schema.bad_reasons:
            raise VectorError(f"{item['name']}: {item['reason']} is not a reason of the schema")
        events = Connection(Role.HOST).receive_data(bytes.fromhex(item["hex"]))
        if [e.reason for e in events if isinstance(e, BadFrame)] != [item["reason"]] or len(events) != 1:
            raise VectorError(f"{item['name']}: the receiver reports {events}")
    return bad


def render(schema: Schema, current: str | None = None) -> str:
    """The text of ``vectors.json`` (``current`` is not needed: the whole file is generated)."""
    crc = schema.crc
    doc = {
        "protocol": schema.name,
        "versions": list(schema.versions),
        "crc": f"{crc['name']} over header+payload, {crc['byte_order']}-endian",
        "note": "hex is the bytes on the wire, delimiter included; fields are wire units",
        "frames": good_frames(schema),
        "bad_frames": bad_frames(schema),
    }
    return json.dumps(doc, indent=2) + "\n"


TARGETS = [Target(PATH, render, "test vectors: every message type in every layout, and bad frames")]
