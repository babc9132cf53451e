"""Link captures: every byte both ways with its time, and decoding them again later.

A capture is a JSON Lines file (``docs/link.md`` documents it)::

    {"capture": "stampside-link", "version": 1, "url": "/tmp/stamp", "started_unix": 1764068400.123}
    {"t": 0.000000, "event": "open"}
    {"t": 0.000412, "dir": "tx", "hex": "00 03 11 01 01 ..."}
    {"t": 0.001130, "dir": "rx", "hex": "09 10 10 00 53 ..."}
    {"t": 3.204551, "event": "close"}

``t`` is seconds since ``started_unix`` on a monotonic clock; ``dir`` is ``rx`` (device to
host) or ``tx`` (host to device); ``hex`` is the bytes exactly as they were read or written,
chunk by chunk, so a replay meets the same chunk boundaries, garbage and half frames the
live decoder met. ``open`` and ``close`` mark (re)connects: the decoders start afresh there.

:class:`CapturingTransport` records any transport; :func:`replay_capture` runs a capture
through the same decoder as a live session (:class:`firmware_protocol.Connection`, host
role for ``rx``, device role for ``tx``) and yields :class:`~devicelink.events.FrameRecord`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from devicelink.events import Direction, FrameRecord
from devicelink.transport import Transport
from firmware_protocol import BadFrame, Role, encode_frame
from firmware_protocol.connection import Connection

FORMAT_NAME = "stampside-link"
FORMAT_VERSION = 1
#: Buffered lines are flushed to disk at least this often (seconds).
FLUSH_INTERVAL = 0.5


class CaptureError(Exception):
    """A capture file cannot be read or written. The message is meant for a person."""


class CaptureWriter:
    """Appends chunks and markers to a capture file."""

    def __init__(self, path: Path, url: str) -> None:
        self.path = path
        try:
            self._file: IO[str] = path.open("w", encoding="utf-8")
        except OSError as exc:
            raise CaptureError(f"cannot write the capture file {path}: {exc.strerror or exc}") from None
        self._t0 = time.monotonic()
        self._last_flush = self._t0
        self.chunks = 0
        self.bytes = {Direction.RX: 0, Direction.TX: 0}
        header = {"capture": FORMAT_NAME, "version": FORMAT_VERSION, "url": url, "started_unix": round(time.time(), 6)}
        self._file.write(json.dumps(header) + "\n")

    def _line(self, record: dict[str, object]) -> None:
        if self._file.closed:
            return
        self._file.write(json.dumps(record) + "\n")
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL:
            self._file.flush()
            self._last_flush = now

    def _t(self) -> float:
        return round(time.monotonic() - self._t0, 6)

    def chunk(self, direction: Direction, data: bytes) -> None:
        self.chunks += 1
        self.bytes[direction] += len(data)
        self._line({"t": self._t(), "dir": direction.value, "hex": data.hex(" ")})

    def marker(self, event: str) -> None:
        self._line({"t": self._t(), "event": event})

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class CapturingTransport:
    """Wraps a transport and writes everything it moves to a :class:`CaptureWriter`."""

    def __init__(self, inner: Transport, writer: CaptureWriter) -> None:
        self.inner = inner
        self.writer = writer

    @property
    def description(self) -> str:
        return self.inner.description

    async def open(self) -> None:
        await self.inner.open()
        self.writer.marker("open")

    async def read(self) -> bytes:
        data = await self.inner.read()
        self.writer.chunk(Direction.RX, data)
        return data

    async def write(self, data: bytes) -> None:
        self.writer.chunk(Direction.TX, data)
        await self.inner.write(data)

    async def close(self) -> None:
        await self.inner.close()
        self.writer.marker("close")


@dataclass(frozen=True, slots=True)
class CaptureHeader:
    url: str
    started_unix: float


@dataclass(frozen=True, slots=True)
class CaptureMarker:
    """An ``open`` or ``close`` line of a capture."""

    event: str
    t: float
    wall: float


def read_capture(path: Path) -> tuple[CaptureHeader, Iterator[dict[str, object]]]:
    """The header and the remaining lines of a capture file, parsed."""
    try:
        f = path.open(encoding="utf-8")
    except OSError as exc:
        raise CaptureError(f"cannot read the capture file {path}: {exc.strerror or exc}") from None
    first = f.readline()
    try:
        header = json.loads(first)
        ok = isinstance(header, dict) and header.get("capture") == FORMAT_NAME
    except json.JSONDecodeError:
        ok = False
    if not ok:
        f.close()
        raise CaptureError(f"{path} is not a Stampside link capture (make one with: stampside link capture URL FILE)")
    if header.get("version") != FORMAT_VERSION:
        f.close()
        raise CaptureError(
            f"{path} is capture format version {header.get('version')}; this Stampside reads {FORMAT_VERSION}"
        )

    def lines() -> Iterator[dict[str, object]]:
        with f:
            for number, line in enumerate(f, start=2):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    raise CaptureError(f"{path}:{number}: not a JSON line") from None
                if not isinstance(item, dict):
                    raise CaptureError(f"{path}:{number}: not a JSON object")
                yield item

    return CaptureHeader(str(header.get("url", "")), float(header.get("started_unix", 0.0))), lines()


def replay_capture(path: Path) -> Iterator[FrameRecord | CaptureMarker]:
    """Decode a capture as a live session would; frame records and open/close markers, in order."""
    header, lines = read_capture(path)
    decoders = {Direction.RX: Connection(Role.HOST), Direction.TX: Connection(Role.DEVICE)}
    for item in lines:
        t = float(item.get("t", 0.0))  # type: ignore[arg-type]
        wall = header.started_unix + t
        event = item.get("event")
        if event is not None:
            if event == "open":
                for decoder in decoders.values():
                    decoder.reset()
            yield CaptureMarker(str(event), t, wall)
            continue
        try:
            direction = Direction(item.get("dir"))
            data = bytes.fromhex(str(item.get("hex", "")))
        except ValueError:
            raise CaptureError(f"{path}: a line at t={t} has no valid dir/hex") from None
        for decoded in decoders[direction].receive_data(data):
            wire = decoded.wire if isinstance(decoded, BadFrame) else encode_frame(decoded.raw)
            yield FrameRecord(direction, t, wall, decoded, wire)
