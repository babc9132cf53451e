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

Or a pcapng file for Wireshark (:class:`PcapngCaptureWriter`, ``devicelink/pcapng.py``): one
packet per frame, cut where the receiver's decoder completes it, so it replays alike.

:class:`CapturingTransport` records any transport; :func:`replay_capture` runs a capture (either
format, told apart by its first bytes) through the same decoder as a live session
(:class:`stampside.firmware_protocol.Connection`, host role for ``rx``, device role for ``tx``)
and yields :class:`~stampside.devicelink.events.FrameRecord`.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import stampside
from stampside.devicelink import pcapng
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
    fd = _private_fd(path)
    try:
        return os.fdopen(fd, "w", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def _open_private_binary(path: Path) -> IO[bytes]:
    """As :func:`_open_private`, for bytes (pcapng)."""
    fd = _private_fd(path)
    try:
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def _private_fd(path: Path) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # not /dev/null or a pipe
            os.chmod(path, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


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


class PcapngCaptureWriter:
    """Writes a capture as pcapng, for Wireshark: one packet per frame, both directions (0600).

    ``devicelink/pcapng.py`` says what the file holds. The packets are cut from the byte
    stream where the receiving decoder completes a frame, so ``link replay`` decodes a pcapng
    capture exactly as the JSON Lines capture of the same session. ``t`` (seconds since the
    start) may be given, for conversions; otherwise it is the time of the call.
    """

    def __init__(self, path: Path, url: str, *, started_unix: float | None = None) -> None:
        self.path = path
        try:
            self._file: IO[bytes] = _open_private_binary(path)
        except OSError as exc:
            raise CaptureError(f"cannot write the capture file {path}: {exc.strerror or exc}") from None
        self._t0 = time.monotonic()
        self._last_flush = self._t0
        self.chunks = 0
        self.packets = 0
        self.bytes = {Direction.RX: 0, Direction.TX: 0}
        start = round(time.time(), 6) if started_unix is None else started_unix
        self._start_us = round(start * 1_000_000)
        self._last_us = self._start_us
        self._splitters = {Direction.RX: pcapng.FrameSplitter(), Direction.TX: pcapng.FrameSplitter()}
        self._write(
            pcapng.section_header(
                comment=f"Stampside link capture of {url}", user_application=f"Stampside {stampside.__version__}"
            )
            + pcapng.interface_description(
                name=url, description="Stampside link: COBS frames with their 0x00 delimiter, both directions"
            )
        )

    def _timestamp(self, t: float | None) -> int:
        if t is None:
            t = time.monotonic() - self._t0
        self._last_us = self._start_us + round(t * 1_000_000)
        return self._last_us

    def _write(self, block: bytes) -> None:
        if self._file.closed:
            return
        self._file.write(block)
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL:
            self._file.flush()
            self._last_flush = now

    def _packet(self, timestamp_us: int, data: bytes, direction: Direction) -> None:
        flags = pcapng.FLAGS_INBOUND if direction is Direction.RX else pcapng.FLAGS_OUTBOUND
        try:
            block = pcapng.enhanced_packet(timestamp_us, data, flags=flags)
        except pcapng.PcapngError as exc:
            raise CaptureError(f"{self.path}: {exc}") from None
        self.packets += 1
        self._write(block)

    def _flush_held(self, timestamp_us: int) -> None:
        for direction, splitter in self._splitters.items():
            held = splitter.flush()
            if held:
                self._packet(timestamp_us, held, direction)

    def chunk(self, direction: Direction, data: bytes, t: float | None = None) -> None:
        self.chunks += 1
        self.bytes[direction] += len(data)
        timestamp_us = self._timestamp(t)
        for packet in self._splitters[direction].feed(data):
            self._packet(timestamp_us, packet, direction)

    def marker(self, event: str, t: float | None = None) -> None:
        """A transport event: bytes held (a frame cut short) go out first; ``open`` starts afresh."""
        timestamp_us = self._timestamp(t)
        self._flush_held(timestamp_us)
        if event == "open":
            for splitter in self._splitters.values():
                splitter.reset()
        try:
            self._write(pcapng.enhanced_packet(timestamp_us, b"", comment=pcapng.marker_comment(event)))
        except pcapng.PcapngError as exc:
            raise CaptureError(f"{self.path}: {exc}") from None

    def close(self) -> None:
        if not self._file.closed:
            self._flush_held(self._last_us)
            self._file.close()


class CaptureSink(Protocol):
    """What :class:`CapturingTransport` writes to: :class:`CaptureWriter` or :class:`PcapngCaptureWriter`."""

    chunks: int

    def chunk(self, direction: Direction, data: bytes) -> None: ...

    def marker(self, event: str) -> None: ...

    def close(self) -> None: ...


#: ``link capture --format`` values; ``auto`` picks pcapng for a ``.pcapng`` file name.
CAPTURE_FORMATS = ("auto", "jsonl", "pcapng")


def open_capture_writer(path: Path, url: str, fmt: str = "auto") -> CaptureWriter | PcapngCaptureWriter:
    """A writer for ``path``: pcapng if ``fmt`` says so (or ``auto`` and the name ends in .pcapng)."""
    if fmt == "pcapng" or (fmt == "auto" and path.suffix.lower() == ".pcapng"):
        return PcapngCaptureWriter(path, url)
    return CaptureWriter(path, url)


class CapturingTransport:
    """Wraps a transport and writes everything it moves to a :class:`CaptureSink`."""

    def __init__(self, inner: Transport, writer: CaptureSink) -> None:
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
    """Decode a capture (JSON Lines or pcapng) as a live session would; frame records and open/close markers, in order.

    Raises :class:`CaptureError` (naming the line or packet) where the file stops being a capture.
    """
    decoders = {Direction.RX: Connection(Role.HOST), Direction.TX: Connection(Role.DEVICE)}
    for t, wall, entry in _pcapng_entries(path) if _starts_pcapng(path) else _native_entries(path):
        if isinstance(entry, str):
            if entry == "open":
                for decoder in decoders.values():
                    decoder.reset()
            yield CaptureMarker(entry, t, wall)
            continue
        direction, data = entry
        for decoded in decoders[direction].receive_data(data):
            wire = decoded.wire if isinstance(decoded, BadFrame) else encode_frame(decoded.raw)
            yield FrameRecord(direction, t, wall, decoded, wire)


#: (t, wall, event name or (direction, bytes)) of a capture, in order.
_Entry = tuple[float, float, str | tuple[Direction, bytes]]


def _native_entries(path: Path) -> Iterator[_Entry]:
    header, lines = read_capture(path)
    for number, item in lines:
        t = _seconds(item.get("t", 0.0))
        if t is None:
            raise CaptureError(f"{path}:{number}: \"t\" is not a time in seconds: {_shown(item.get('t'))}")
        wall = header.started_unix + t
        event = item.get("event")
        if event is not None:
            yield t, wall, str(event)
            continue
        hex_text = item.get("hex", "")
        try:
            direction = Direction(item.get("dir"))
            if not isinstance(hex_text, str):
                raise ValueError(hex_text)
            data = bytes.fromhex(hex_text)
        except ValueError:
            raise CaptureError(f"{path}:{number}: no valid dir and hex") from None
        yield t, wall, (direction, data)


def _starts_pcapng(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return pcapng.is_pcapng(f.read(4))
    except OSError:
        return False  # the JSON Lines reader says why it cannot be read


def _pcapng_entries(path: Path) -> Iterator[_Entry]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CaptureError(f"cannot read the capture file {path}: {exc.strerror or exc}") from None
    start: float | None = None
    try:
        for block in pcapng.read_blocks(data):
            if not isinstance(block, pcapng.Packet):
                continue
            where = f"{path}: packet {block.number}"
            if block.interface.linktype != pcapng.LINKTYPE:
                raise CaptureError(
                    f"{where} has link type {block.interface.linktype}, not a Stampside link's "
                    f"({pcapng.LINKTYPE}, LINKTYPE_USER0; make one with: stampside link capture URL FILE.pcapng)"
                )
            wall = block.seconds
            if wall > _LARGEST_SECONDS:
                raise CaptureError(f"{where}: its time is past the year 5000")
            if start is None:
                start = wall
            t = wall - start
            event = block.marker
            if event is not None:
                yield t, wall, event
            elif block.data:
                if block.direction == pcapng.FLAGS_INBOUND:
                    direction = Direction.RX
                elif block.direction == pcapng.FLAGS_OUTBOUND:
                    direction = Direction.TX
                else:
                    raise CaptureError(f"{where} has no direction (epb_flags inbound or outbound)")
                yield t, wall, (direction, block.data)
    except pcapng.PcapngError as exc:
        raise CaptureError(f"{path} is not a Stampside pcapng capture: {exc}") from None


def capture_to_pcapng(source: Path, target: Path) -> PcapngCaptureWriter:
    """Write the JSON Lines capture ``source`` as pcapng ``target`` (same times, same bytes); the closed writer."""
    header, _ = read_capture(source)
    writer = PcapngCaptureWriter(target, header.url, started_unix=header.started_unix)
    try:
        for t, _wall, entry in _native_entries(source):
            if isinstance(entry, str):
                writer.marker(entry, t)
            else:
                writer.chunk(entry[0], entry[1], t)
    finally:
        writer.close()
    return writer
