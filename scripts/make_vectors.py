"""Writes firmware_protocol/vectors.json: one frame of every message type, plus bad frames.

Run it after changing a layout on purpose; the tests compare the file with the code, so
an unintended layout change fails them.  Usage: python scripts/make_vectors.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stampside.firmware_protocol import (
    Ack,
    Arm,
    ArmState,
    Battery,
    Connection,
    DeviceInfo,
    Disarm,
    Fault,
    Flag,
    HeadChanged,
    Heartbeat,
    Hello,
    Message,
    Nack,
    Ping,
    Pong,
    Resume,
    ResumeReply,
    Role,
    Stamp,
    TimeSync,
    TimeSyncReply,
    encode_frame,
)

OUT = Path(__file__).resolve().parent.parent / "firmware_protocol" / "vectors.json"

#: (name, message, flags, link seq[, version[, sender]]): version 1 and the message's only sender by default.
CASES: list[tuple[Any, ...]] = [
    ("hello", Hello(1, 1), 0, 0),
    ("time sync", TimeSync(1_764_067_200_123), 0, 1),
    ("arm", Arm(), 0, 2),
    ("disarm", Disarm(), 0, 3),
    ("ack", Ack(2, 1234), 0, 4),
    ("resume", Resume(2, 1000), 0, 5),
    ("ping", Ping(0xDEADBEEF), 0, 6),
    ("heartbeat from host", Heartbeat(2, 1234, 0, 0), 0, 7),
    (
        "device info answering hello",
        DeviceInfo("SS-000001", 3, 1, 4, 2, 1, 1, 1, 2000, 0x0A0B0C0D, 0, 100, 87, 2, 1234),
        0,
        0,
    ),
    (
        "device info announced at boot",
        DeviceInfo("SS-000001", 3, 1, 4, 2, 1, 1, 0, 2000, 0x0A0B0C0D, 0, 100, 86, 3, 1234),
        Flag.ANNOUNCE,
        0,
    ),
    ("stamp", Stamp(2, 1235, 61_250, 64, 182, 0), 0, 1),
    ("stamp in vertex", Stamp(2, 1236, 61_911, 71, 205, 3), 0, 2),
    ("stamp replayed", Stamp(2, 1200, 40_001, 255, 4095, 15), Flag.REPLAY, 3),
    ("stamp with zero bytes", Stamp(256, 256, 0, 0, 0, 0), 0, 0),
    ("battery", Battery(86, 3912), 0, 4),
    ("head changed", HeadChanged(0x0A0B0C0E, 0, 100), 0, 5),
    ("fault buffer full", Fault(1, 3), 0, 6),
    ("time sync reply", TimeSyncReply(1_764_067_200_123, 61_000), 0, 7),
    ("resume reply", ResumeReply(2, 1001, 235), 0, 8),
    ("pong", Pong(0xDEADBEEF, 61_002), 0, 9),
    ("arm state", ArmState(1, 0), 0, 10),
    ("nack unknown type", Nack(0x11, 12, 1), 0, 11),
    ("heartbeat from device", Heartbeat(2, 1236, 2, 0x09), 0, 12, 1, Role.DEVICE),
    ("resume with epoch (v2)", Resume(2, 1000, 0x5EED1234), 0, 13, 2),
    ("resume from a host that does not know the epoch (v2)", Resume(2, 1000, 0), 0, 14, 2),
    ("resume reply with epoch (v2)", ResumeReply(2, 1001, 235, 0x5EED1234), 0, 15, 2),
    ("resume reply from another numbering (v2)", ResumeReply(1, 1, 50, 0x0BADF00D), 0, 16, 2),
]


def frame(message: Message, flags: int, lseq: int, version: int = 1) -> bytes:
    raw = bytes(((version << 4) | flags, message.TYPE, lseq)) + message.pack_payload(version)
    return encode_frame(raw)


def main() -> None:
    good = []
    for case in CASES:
        name, message, flags, lseq = case[:4]
        version = case[4] if len(case) > 4 else 1
        sender = case[5] if len(case) > 5 else (Role.HOST if Role.HOST in message.SENDERS else Role.DEVICE)
        wire = frame(message, flags, lseq, version)
        good.append(
            {
                "name": name,
                "sender": sender.value,
                "hex": wire.hex(" "),
                "version": version,
                "flags": int(flags),
                "lseq": lseq,
                "type": message.TYPE.name,
                "fields": message.to_dict(version),
            }
        )
    stamp = frame(Stamp(2, 1235, 61_250, 64, 182, 0), 0, 1)
    flipped = bytearray(stamp)
    flipped[10] ^= 0x10
    bad = [
        {"name": "crc mismatch (one bit flipped)", "hex": bytes(flipped).hex(" "), "reason": "crc"},
        {"name": "truncated frame", "hex": (stamp[:9] + b"\x00").hex(" "), "reason": "crc"},
        {"name": "too short", "hex": "02 11 00", "reason": "short"},
        {"name": "no delimiter for 80 bytes", "hex": ("01 " * 80) + "00", "reason": "oversize"},
        {
            "name": "stamp with a 12-byte payload",
            "hex": encode_frame(bytes((0x10, 0x11, 0)) + bytes(12)).hex(" "),
            "reason": "length",
        },
        {
            "name": "stamp sent with version 9",
            "hex": encode_frame(bytes((0x90, 0x11, 0)) + bytes(13)).hex(" "),
            "reason": "version",
        },
    ]
    doc = {
        "protocol": "stampside",
        "versions": [1, 2],
        "crc": "CRC-16/CCITT-FALSE over header+payload, little-endian",
        "note": "hex is the bytes on the wire, delimiter included; fields are wire units",
        "frames": good,
        "bad_frames": bad,
    }
    # Sanity: every good vector decodes through the real receiver.
    for item in good:
        receiver = Connection(Role.DEVICE if item["sender"] == "host" else Role.HOST)
        (event,) = receiver.receive_data(bytes.fromhex(str(item["hex"])))
        assert getattr(event, "message", None) is not None, item["name"]
    for item in bad:
        events = Connection(Role.HOST).receive_data(bytes.fromhex(str(item["hex"])))
        assert [getattr(e, "reason", None) for e in events] == [item["reason"]], item["name"]
    OUT.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {len(good)} frames and {len(bad)} bad frames to {OUT}")


if __name__ == "__main__":
    main()
