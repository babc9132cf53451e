"""Random link sessions for capture tests: both directions, damaged frames, garbage, reconnects.

A session is a list of entries as a JSON Lines capture holds them: ``(t, "open" | "close", b"")``
markers and ``(t, "rx" | "tx", chunk)`` chunks, in time order. The byte streams mix every kind of
frame and every way a frame goes bad (bits flipped, cut short, runs of garbage long enough to be
oversize across several chunks, idle fill, wrong versions and lengths, types the receiver does not
accept), cut into chunks at random points.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from stampside.firmware_protocol import (
    Ack,
    ArmState,
    Battery,
    DeviceInfo,
    Fault,
    HeadChanged,
    Heartbeat,
    Hello,
    Message,
    Nack,
    Ping,
    Pong,
    Resume,
    ResumeReply,
    Stamp,
    TimeSync,
    TimeSyncReply,
    encode_frame,
)

STARTED_UNIX = 1764068400.25
Entry = tuple[float, str, bytes]


def _device_message(rng: random.Random) -> Message:
    return rng.choice(
        [
            Stamp(
                rng.randrange(1, 65536),
                rng.randrange(1, 2**32),
                rng.randrange(2**32),
                rng.randrange(256),
                rng.randrange(4096),
                rng.randrange(16),
            ),
            Heartbeat(rng.randrange(65536), rng.randrange(2**32), rng.randrange(65536), rng.randrange(16)),
            DeviceInfo(
                f"SS-{rng.randrange(10**6):06d}",
                2,
                1,
                0,
                3,
                1,
                2,
                rng.randrange(3),
                2000,
                rng.randrange(2**32),
                4,
                100,
                rng.randrange(101),
                rng.randrange(65536),
                rng.randrange(2**32),
            ),
            ResumeReply(rng.randrange(65536), rng.randrange(2**32), rng.randrange(300), rng.randrange(2**32)),
            Battery(rng.randrange(101), rng.randrange(65536)),
            HeadChanged(rng.randrange(2**32), rng.randrange(65536), rng.randrange(65536)),
            Fault(rng.randrange(1, 6), rng.randrange(2**32)),
            TimeSyncReply(rng.randrange(2**64), rng.randrange(2**32)),
            Pong(rng.randrange(2**32), rng.randrange(2**32)),
            ArmState(rng.randrange(2), rng.randrange(4)),
            Nack(rng.randrange(256), rng.randrange(256), rng.randrange(1, 7)),
        ]
    )


def _host_message(rng: random.Random) -> Message:
    return rng.choice(
        [
            Hello(1, 2),
            TimeSync(rng.randrange(2**64)),
            Ack(rng.randrange(65536), rng.randrange(2**32)),
            Resume(rng.randrange(65536), rng.randrange(2**32), rng.randrange(2**32)),
            Ping(rng.randrange(2**32)),
            Heartbeat(rng.randrange(65536), rng.randrange(2**32), 0, 0),
        ]
    )


def _frame(rng: random.Random, message: Message, lseq: int) -> bytes:
    """``message`` framed with a random version (now and then one nobody speaks) and flags."""
    version = rng.choice([1, 2, 2, 2, 3]) if rng.random() < 0.9 else rng.randrange(16)
    flags = rng.choice([0, 0, 0, 1, 2, 3, 4])
    layout_version = 2 if version >= 2 else 1
    payload = message.pack_payload(layout_version)
    if rng.random() < 0.05:  # a wrong length
        payload = payload[:-1] if payload and rng.random() < 0.5 else payload + b"\x07"
    return encode_frame(bytes(((version << 4) | flags, message.TYPE, lseq & 0xFF)) + payload)


def _stream(rng: random.Random, sender: str, frames: int) -> bytes:
    out = bytearray()
    for lseq in range(frames):
        if sender == "device":
            # now and then a host's message from the device: a type the host does not accept
            message = _host_message(rng) if rng.random() < 0.05 else _device_message(rng)
        else:
            message = _device_message(rng) if rng.random() < 0.05 else _host_message(rng)
        frame = bytearray(_frame(rng, message, lseq))
        roll = rng.random()
        if roll < 0.08:  # a bit flipped (may hit the delimiter, or make a 0x00)
            i = rng.randrange(len(frame))
            frame[i] ^= 1 << rng.randrange(8)
        elif roll < 0.12:  # cut short: it runs into the next frame
            frame = frame[: rng.randrange(1, len(frame))]
        elif roll < 0.15:  # a run of garbage without a delimiter, often oversize
            out += bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 220)))
        elif roll < 0.18:  # idle fill
            out += b"\x00" * rng.randrange(1, 4)
        elif roll < 0.20:  # garbage with zeros in it
            out += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12)))
        out += frame
    return bytes(out)


def random_session(seed: int, frames: int = 150) -> list[Entry]:
    """A session of ``frames`` frames each way (see the module's doc), with 0–3 reconnects."""
    rng = random.Random(seed)
    streams = {"rx": _stream(rng, "device", frames), "tx": _stream(rng, "host", frames)}
    positions = {"rx": 0, "tx": 0}
    entries: list[Entry] = [(0.0, "open", b"")]
    t = 0.0
    while any(positions[d] < len(streams[d]) for d in streams):
        direction = rng.choice([d for d in streams if positions[d] < len(streams[d])])
        size = rng.choice([1, 2, 5, 13, 20, 40, 90, 200])
        start = positions[direction]
        positions[direction] = min(len(streams[direction]), start + rng.randrange(1, size + 1))
        t = round(t + rng.choice([0.0, 0.000001, 0.0004, 0.013, 0.5]), 6)
        entries.append((t, direction, streams[direction][start : positions[direction]]))
        if rng.random() < 0.01:
            t = round(t + 0.3, 6)
            entries += [(t, "close", b""), (round(t + 0.1, 6), "open", b"")]
            t = round(t + 0.1, 6)
    entries.append((round(t + 0.01, 6), "close", b""))
    return entries


def write_jsonl(path: Path, entries: list[Entry], url: str = "socket://127.0.0.1:7000") -> None:
    """``entries`` as a JSON Lines capture (the format ``CaptureWriter`` writes)."""
    lines = [json.dumps({"capture": "stampside-link", "version": 1, "url": url, "started_unix": STARTED_UNIX})]
    for t, what, data in entries:
        if what in ("open", "close"):
            lines.append(json.dumps({"t": t, "event": what}))
        else:
            lines.append(json.dumps({"t": t, "dir": what, "hex": data.hex(" ")}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
