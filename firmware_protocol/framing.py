"""Byte-stream framing: COBS, a CRC-16 and a 0x00 delimiter.

A frame on the wire is::

    COBS( header | payload | crc16_le ) 0x00

* The CRC is CRC-16/CCITT-FALSE (also catalogued as CRC-16/IBM-3740): polynomial
  0x1021, initial value 0xFFFF, no reflection, no final XOR. It covers the header and
  the payload and is sent little-endian. ``binascii.crc_hqx(data, 0xFFFF)`` computes it.
* COBS (Consistent Overhead Byte Stuffing) removes every 0x00 from the frame, so 0x00
  can delimit frames. It costs one byte for frames under 254 bytes.
* Empty frames (two delimiters in a row) are idle fill and are ignored, so a sender may
  send a lone 0x00 to make the receiver drop any partial frame it holds.

:class:`FrameDecoder` never raises on wire data. Anything that is not a whole, checked
frame becomes a :class:`BadFrame` with a reason, and decoding resumes after the next
delimiter.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field

from cobs import cobs

DELIMITER = b"\x00"
CRC_INIT = 0xFFFF
CRC_SIZE = 2
HEADER_SIZE = 3
#: Largest payload any message may carry.
MAX_PAYLOAD = 64
#: Largest unstuffed frame: header + payload + CRC.
MAX_RAW_FRAME = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE
#: Largest stuffed frame without its delimiter (COBS adds one byte below 254 bytes).
MAX_ENCODED_FRAME = MAX_RAW_FRAME + 1
#: Smallest unstuffed frame: a header with an empty payload, plus the CRC.
MIN_RAW_FRAME = HEADER_SIZE + CRC_SIZE

# Reasons a frame is rejected. They are stable strings: logs and tests use them.
BAD_COBS = "cobs"
BAD_CRC = "crc"
BAD_SHORT = "short"
BAD_OVERSIZE = "oversize"
BAD_VERSION = "version"
BAD_LENGTH = "length"
BAD_REASONS = (BAD_COBS, BAD_CRC, BAD_SHORT, BAD_OVERSIZE, BAD_VERSION, BAD_LENGTH)


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of ``data``."""
    return binascii.crc_hqx(data, CRC_INIT)


def encode_frame(raw: bytes) -> bytes:
    """Append the CRC to ``raw`` (header + payload), stuff it and add the delimiter."""
    crc = binascii.crc_hqx(raw, CRC_INIT)
    stuffed: bytes = cobs.encode(raw + bytes((crc & 0xFF, crc >> 8)))
    return stuffed + DELIMITER


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A run of bytes between delimiters that is not a valid frame.

    ``wire`` holds the stuffed bytes as received (without the delimiter), truncated to
    :data:`MAX_ENCODED_FRAME` bytes for oversize runs. For frames that passed the CRC but
    were rejected above it (reasons ``version`` and ``length``) it holds the unstuffed
    header and payload, and ``msg_type`` and ``lseq`` say which frame it was, so a device
    can NACK it.
    """

    reason: str
    wire: bytes
    detail: str = ""
    msg_type: int = -1
    lseq: int = -1


@dataclass(slots=True)
class FramingStats:
    """Counters kept by a :class:`FrameDecoder`."""

    frames: int = 0
    bytes: int = 0
    bad: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BAD_REASONS, 0))
    #: Times the decoder lost sync (one or more bad frames in a row) and found it again.
    resyncs: int = 0

    @property
    def bad_total(self) -> int:
        return sum(self.bad.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "frames": self.frames,
            "bytes": self.bytes,
            "bad": dict(self.bad),
            "bad_total": self.bad_total,
            "resyncs": self.resyncs,
        }


class FrameDecoder:
    """Splits a byte stream into checked raw frames (header + payload, CRC removed).

    Feed bytes with :meth:`feed`; it returns a list whose items are ``bytes`` (a checked
    raw frame) or :class:`BadFrame`.
    """

    __slots__ = ("_buf", "_discarding", "_in_bad_run", "stats")

    def __init__(self) -> None:
        self._buf = b""
        self._discarding = False
        self._in_bad_run = False
        self.stats = FramingStats()

    def reset(self) -> None:
        """Forget any partial frame, as after a reconnect."""
        self._buf = b""
        self._discarding = False

    @property
    def pending_bytes(self) -> int:
        """Bytes held for a frame whose delimiter has not arrived yet."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes | BadFrame]:
        stats = self.stats
        stats.bytes += len(data)
        out: list[bytes | BadFrame] = []
        if DELIMITER not in data:
            self._hold(data, out)
            return out
        parts = (self._buf + data).split(DELIMITER) if self._buf else data.split(DELIMITER)
        tail = parts.pop()
        crc_hqx = binascii.crc_hqx
        decode = cobs.decode
        for chunk in parts:
            if self._discarding:
                # The end of an oversize run: already reported.
                self._discarding = False
                continue
            if not chunk:
                continue  # idle fill
            size = len(chunk)
            if size > MAX_ENCODED_FRAME:
                self._bad(out, BadFrame(BAD_OVERSIZE, chunk[:MAX_ENCODED_FRAME], f"{size} bytes"))
                continue
            try:
                raw = decode(chunk)
            except cobs.DecodeError as exc:
                self._bad(out, BadFrame(BAD_COBS, chunk, str(exc)))
                continue
            if len(raw) < MIN_RAW_FRAME:
                self._bad(out, BadFrame(BAD_SHORT, chunk, f"{len(raw)} bytes"))
                continue
            body = raw[:-2]
            if crc_hqx(body, 0xFFFF) != raw[-2] | (raw[-1] << 8):
                self._bad(out, BadFrame(BAD_CRC, chunk))
                continue
            if self._in_bad_run:
                self._in_bad_run = False
                stats.resyncs += 1
            stats.frames += 1
            out.append(body)
        self._buf = b""
        self._hold(tail, out)
        return out

    def _hold(self, data: bytes, out: list[bytes | BadFrame]) -> None:
        if self._discarding:
            return
        buf = self._buf + data if self._buf else data
        if len(buf) > MAX_ENCODED_FRAME:
            self._bad(out, BadFrame(BAD_OVERSIZE, buf[:MAX_ENCODED_FRAME], "no delimiter"))
            self._buf = b""
            self._discarding = True
        else:
            self._buf = buf

    def _bad(self, out: list[bytes | BadFrame], bad: BadFrame) -> None:
        self.stats.bad[bad.reason] += 1
        self._in_bad_run = True
        out.append(bad)

    def count_bad(self, reason: str) -> None:
        """Count a frame rejected above the framing layer (version, length)."""
        self.stats.bad[reason] += 1
        self.stats.frames -= 1
        self._in_bad_run = True
