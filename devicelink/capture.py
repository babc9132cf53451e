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
through the same decoder as a live session (:class:`stampside.firmware_protocol.Connection`, host
role for ``rx``, device role for ``tx``) and yields :class:`~stampside.devicelink.events.FrameRecord`.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from stampside.devicelink.events import Direction, FrameRecord
from stampside.devicelink.transport import Transport
from stampside.firmware_protocol import BadFrame, Role, encode_frame
from stampside.firmware_protocol.connection import Connection

FORMAT_NAME = "stampside-link"
FORMAT_VERSION = 1
#: Buffered lines are flushed to disk at least this often (seconds).
FLUSH_INTERVAL = 0.5


class CaptureError(Exception):
    """A capture file cannot be read or written. The message is meant for a person."""


def _open_private(path: Path) -> IO[str]:
    """``path`` emptied for writing, 0600 whatever the umask: a capture is a clinic's link traffic.

    Written in place, not under a temporary name: a capture cut short (the process killed)
    keeps what it has, which is what one looks at a capture for.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # not /dev/null or a pipe
            os.chmod(path, 0o600)
        return os.fdopen(fd, "w", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


class CaptureWriter:
    """Appends chunks and markers to a capture file (0600: readable by this account only)."""

    def __init__(self, path: Path, url: str) -> None:
        self.path = path
        try:
            self._file: IO[str] = _open_private(path)
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


def read_capture(path: Path) -> tuple[CaptureHeader, Iterator[tuple[int, dict[str, object]]]]:
    """The header and the remaining lines of a capture file, parsed, with their line numbers.

    Anything that is not a capture as :class:`CaptureWriter` writes it (not UTF-8 text, not
    JSON objects, a time that is not a number) raises :class:`CaptureError` naming the line.
    """
    try:
        f = path.open("rb")  # each line decoded on its own, so an error names its line
    except OSError as exc:
        raise CaptureError(f"cannot read the capture file {path}: {exc.strerror or exc}") from None
    not_a_capture = f"{path} is not a Stampside link capture (make one with: stampside link capture URL FILE)"
    try:
        header = _json_object(f.readline().decode("utf-8"))
    except (UnicodeDecodeError, OSError):
        header = None
    if header is None or header.get("capture") != FORMAT_NAME:
        f.close()
        raise CaptureError(not_a_capture)
    if header.get("version") != FORMAT_VERSION:
        f.close()
        raise CaptureError(
            f"{path} is capture format version {_shown(header.get('version'))}; this Stampside reads {FORMAT_VERSION}"
        )
    started_unix = _seconds(header.get("started_unix", 0.0))
    if started_unix is None:
        f.close()
        raise CaptureError(f"{path}:1: started_unix is not a time in seconds: {_shown(header.get('started_unix'))}")

    def lines() -> Iterator[tuple[int, dict[str, object]]]:
        with f:
            number = 1
            while True:
                number += 1
                try:
                    raw = f.readline()
                except OSError as exc:
                    raise CaptureError(f"cannot read the capture file {path}: {exc.strerror or exc}") from None
                if not raw:
                    return
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise CaptureError(f"{path}:{number}: not UTF-8 text") from None
                if not line.strip():
                    continue
                item = _json_object(line)
                if item is None:
                    raise CaptureError(f"{path}:{number}: not a JSON object")
                yield number, item

    return CaptureHeader(str(header.get("url", "")), started_unix), lines()


#: Times a capture may hold, in seconds (either side of the Unix epoch): up to the year 5000.
_LARGEST_SECONDS = 95_617_584_000.0


def _json_object(line: str) -> dict[str, object] | None:
    """The JSON object on ``line``, or ``None`` if it holds anything else (or no JSON at all)."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):  # JSONDecodeError, an integer too long to convert, deep nesting
        return None
    return value if isinstance(value, dict) else None


def _seconds(value: object) -> float | None:
    """``value`` as seconds if it is a JSON number a clock can show, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if abs(seconds) <= _LARGEST_SECONDS else None  # also leaves out inf and nan


def _shown(value: object) -> str:
    """``value`` for an error message: its JSON, cut short."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def replay_capture(path: Path) -> Iterator[FrameRecord | CaptureMarker]:
    """Decode a capture as a live session would; frame records and open/close markers, in order.

    Raises :class:`CaptureError` (naming the line) where the file stops being a capture.
    """
    header, lines = read_capture(path)
    decoders = {Direction.RX: Connection(Role.HOST), Direction.TX: Connection(Role.DEVICE)}
    for number, item in lines:
        t = _seconds(item.get("t", 0.0))
        if t is None:
            raise CaptureError(f"{path}:{number}: \"t\" is not a time in seconds: {_shown(item.get('t'))}")
        wall = header.started_unix + t
        event = item.get("event")
        if event is not None:
            if event == "open":
                for decoder in decoders.values():
                    decoder.reset()
            yield CaptureMarker(str(event), t, wall)
            continue
        hex_text = item.get("hex", "")
        try:
            direction = Direction(item.get("dir"))
            if not isinstance(hex_text, str):
                raise ValueError(hex_text)
            data = bytes.fromhex(hex_text)
        except ValueError:
            raise CaptureError(f"{path}:{number}: no valid dir and hex") from None
        for decoded in decoders[direction].receive_data(data):
            wire = decoded.wire if isinstance(decoded, BadFrame) else encode_frame(decoded.raw)
            yield FrameRecord(direction, t, wall, decoded, wire)
