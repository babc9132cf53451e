"""pcapng for link captures: the blocks Stampside writes, a splitter that cuts the byte stream into
frames, and a reader. Pure: bytes in, bytes out; no files, no clock.

What a Stampside pcapng holds (``docs/link.md`` documents it for Wireshark users):

* one Section Header Block (little-endian), its comment naming the capture and the URL;
* one Interface Description Block: link type :data:`LINKTYPE` (``LINKTYPE_USER0``, 147),
  no snap length, microsecond timestamps (``if_tsresol`` 6), ``if_name`` the URL;
* one Enhanced Packet Block per frame as it crossed the link, in the order the bytes were
  read or written, its ``epb_flags`` direction *inbound* for device → host (``rx``) and
  *outbound* for host → device (``tx``). A packet holds the stuffed frame with its 0x00
  delimiter, and any idle-fill 0x00 bytes that came right before it. Bad frames are kept
  byte for byte (see :class:`FrameSplitter` for where a packet ends);
* transport markers (``open``, ``close``: the decoders start afresh at ``open``) as
  zero-length packets with no direction and the comment ``stampside-link event: open``.

Replaying the packets' bytes through the decoder, marker by marker, gives what replaying the
JSON Lines capture of the same session gives: the splitter ends a packet exactly where the
receiver's decoder completes (or gives up on) a frame.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from stampside.firmware_protocol.framing import MAX_ENCODED_FRAME

#: LINKTYPE_USER0: a link type reserved for private use. The Lua dissector registers for it.
LINKTYPE = 147

BLOCK_SHB = 0x0A0D0D0A
BLOCK_IDB = 0x00000001
BLOCK_SPB = 0x00000003
BLOCK_EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D

OPT_ENDOFOPT = 0
OPT_COMMENT = 1
SHB_HARDWARE = 2
SHB_OS = 3
SHB_USERAPPL = 4
IF_NAME = 2
IF_DESCRIPTION = 3
IF_TSRESOL = 9
EPB_FLAGS = 2

#: ``epb_flags`` bits 0–1.
FLAGS_INBOUND = 0x1
FLAGS_OUTBOUND = 0x2
DIRECTION_MASK = 0x3

#: Microseconds: the resolution Stampside writes (``if_tsresol`` 6).
TSRESOL_MICRO = 6

#: A marker packet's comment: this prefix, then the event (``open``, ``close``).
MARKER_PREFIX = "stampside-link event: "

#: The splitter never holds more than this many bytes that cannot become a frame (idle fill,
#: the discarded rest of an oversize run): it writes them out as a packet of their own.
MAX_HELD = 1024

_DELIMITER = 0


class PcapngError(ValueError):
    """The bytes are not a pcapng file this module can read. The message is meant for a person."""


def _pad(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad(value)


def _options(options: list[tuple[int, bytes]]) -> bytes:
    if not options:
        return b""
    return b"".join(_option(code, value) for code, value in options) + _option(OPT_ENDOFOPT, b"")


def _block(block_type: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def section_header(comment: str = "", user_application: str = "") -> bytes:
    """A Section Header Block (little-endian, pcapng 1.0, section length unknown)."""
    options: list[tuple[int, bytes]] = []
    if comment:
        options.append((OPT_COMMENT, comment.encode("utf-8")))
    if user_application:
        options.append((SHB_USERAPPL, user_application.encode("utf-8")))
    body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options(options)
    return _block(BLOCK_SHB, body)


def interface_description(name: str = "", description: str = "", linktype: int = LINKTYPE) -> bytes:
    """An Interface Description Block: ``linktype``, no snap length, microsecond timestamps."""
    options: list[tuple[int, bytes]] = []
    if name:
        options.append((IF_NAME, name.encode("utf-8")))
    if description:
        options.append((IF_DESCRIPTION, description.encode("utf-8")))
    options.append((IF_TSRESOL, bytes((TSRESOL_MICRO,))))
    body = struct.pack("<HHI", linktype, 0, 0) + _options(options)
    return _block(BLOCK_IDB, body)


def enhanced_packet(timestamp_us: int, data: bytes, *, flags: int | None = None, comment: str = "") -> bytes:
    """An Enhanced Packet Block on interface 0; ``flags`` is ``epb_flags`` (None: no option)."""
    if timestamp_us < 0:
        raise PcapngError("pcapng cannot hold a time before 1970")
    options: list[tuple[int, bytes]] = []
    if comment:
        options.append((OPT_COMMENT, comment.encode("utf-8")))
    if flags is not None:
        options.append((EPB_FLAGS, struct.pack("<I", flags)))
    header = struct.pack("<IIIII", 0, timestamp_us >> 32, timestamp_us & 0xFFFFFFFF, len(data), len(data))
    return _block(BLOCK_EPB, header + _pad(data) + _options(options))


def marker_comment(event: str) -> str:
    return MARKER_PREFIX + event


class FrameSplitter:
    """Cuts one direction's byte stream into packets, one frame each, exactly as the receiver decodes it.

    Feed chunks as they cross the link; each call returns the packets the chunk completes:

    * a frame: any idle-fill 0x00 bytes held, the frame's bytes and its 0x00 delimiter. Bytes
      that are not a valid frame (garbage, a damaged or cut frame) end up in a packet all the
      same, up to the delimiter that ends them;
    * an oversize run: as soon as more than 70 bytes (:data:`MAX_ENCODED_FRAME`) have come
      without a delimiter, they are a packet without a delimiter, the moment the decoder
      gives up on them; the rest of the run, up to and including its delimiter, is the next
      packet (the decoder discards it);
    * more than :data:`MAX_HELD` bytes of idle fill, or of a discarded run, are written out as
      they are.

    :meth:`flush` returns what is held (a frame cut short by a reconnect, idle fill).
    """

    __slots__ = ("_discarding", "_pending", "_run")

    def __init__(self) -> None:
        self._pending = bytearray()
        #: Bytes of the current frame so far (not counting idle fill before it).
        self._run = 0
        self._discarding = False

    @property
    def discarding(self) -> bool:
        """Inside the rest of an oversize run, which the decoder drops up to the next delimiter."""
        return self._discarding

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        pending = self._pending
        pos = 0
        end = len(data)
        while pos < end:
            index = data.find(_DELIMITER, pos)
            if index < 0:
                pending += data[pos:]
                if self._discarding:
                    if len(pending) > MAX_HELD:
                        out.append(self._take())
                else:
                    self._run += end - pos
                    if self._run > MAX_ENCODED_FRAME:
                        out.append(self._take())
                        self._discarding = True
                break
            piece = index - pos
            pending += data[pos : index + 1]
            if self._discarding:
                out.append(self._take())
                self._discarding = False
            elif self._run + piece == 0:  # idle fill: kept for the frame that follows
                if len(pending) > MAX_HELD:
                    out.append(self._take())
            else:
                out.append(self._take())
            pos = index + 1
        return out

    def flush(self) -> bytes:
        """The bytes held (possibly none); the splitter keeps whether it is discarding."""
        return self._take()

    def reset(self) -> None:
        """Start afresh, as the decoder does at a reconnect (after :meth:`flush`)."""
        self._pending.clear()
        self._run = 0
        self._discarding = False

    def _take(self) -> bytes:
        data = bytes(self._pending)
        self._pending.clear()
        self._run = 0
        return data


# -- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interface:
    linktype: int
    #: Seconds per timestamp unit is ``1 / divisor``.
    divisor: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class Packet:
    """An Enhanced Packet Block, read back."""

    #: 1-based, as Wireshark numbers frames.
    number: int
    interface: Interface
    #: Timestamp in the interface's units (``timestamp / interface.divisor`` seconds since 1970).
    timestamp: int
    data: bytes
    #: ``epb_flags`` (0 when the block has none).
    flags: int
    comments: tuple[str, ...]

    @property
    def seconds(self) -> float:
        return self.timestamp / self.interface.divisor

    @property
    def direction(self) -> int:
        """``FLAGS_INBOUND``, ``FLAGS_OUTBOUND`` or 0 (not known)."""
        return self.flags & DIRECTION_MASK

    @property
    def marker(self) -> str | None:
        """The event of a marker packet (``open``, ``close``), else ``None``."""
        if self.data:
            return None
        for comment in self.comments:
            if comment.startswith(MARKER_PREFIX):
                return comment[len(MARKER_PREFIX) :]
        return None


@dataclass(frozen=True, slots=True)
class Section:
    comments: tuple[str, ...]


def is_pcapng(head: bytes) -> bool:
    """Whether a file starting with ``head`` (at least 4 bytes) is pcapng."""
    return head[:4] == struct.pack("<I", BLOCK_SHB)


def _parse_options(data: bytes, order: str) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 4 <= len(data):
        code, length = struct.unpack_from(order + "HH", data, pos)
        pos += 4
        if code == OPT_ENDOFOPT:
            break
        if pos + length > len(data):
            raise PcapngError("an option runs past the end of its block")
        out.append((code, data[pos : pos + length]))
        pos += length + (-length % 4)
    return out


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace").rstrip("\x00")


def _divisor(tsresol: int) -> int:
    exponent = tsresol & 0x7F
    if exponent > 30 if tsresol & 0x80 else exponent > 9:
        raise PcapngError(f"an interface's timestamp resolution (if_tsresol {tsresol}) is out of range")
    return 1 << exponent if tsresol & 0x80 else int(10**exponent)


def read_blocks(data: bytes) -> Iterator[Section | Interface | Packet]:
    """The sections, interfaces and packets of a pcapng file, in order.

    Raises :class:`PcapngError` where the bytes stop being pcapng (after yielding what came
    before, so a file cut short still shows what it has). Blocks of other kinds (statistics,
    name resolution, custom blocks) are skipped; Simple Packet Blocks are refused (no time).
    """
    if not is_pcapng(data[:4]):
        raise PcapngError("not pcapng: it does not start with a section header block")
    pos = 0
    order = "<"
    interfaces: list[Interface] = []
    number = 0
    while pos < len(data):
        if len(data) - pos < 12:
            raise PcapngError(f"cut short: {len(data) - pos} bytes after the last whole block")
        raw_type = data[pos : pos + 4]
        if raw_type == struct.pack("<I", BLOCK_SHB):
            magic = data[pos + 8 : pos + 12]
            if magic == struct.pack("<I", BYTE_ORDER_MAGIC):
                order = "<"
            elif magic == struct.pack(">I", BYTE_ORDER_MAGIC):
                order = ">"
            else:
                raise PcapngError(f"a section header at byte {pos} has no valid byte-order magic")
        (block_type, length) = struct.unpack_from(order + "II", data, pos)
        if length < 12 or length % 4:
            raise PcapngError(f"the block at byte {pos} has an invalid length ({length})")
        if pos + length > len(data):
            raise PcapngError(f"cut short: the block at byte {pos} needs {length} bytes, {len(data) - pos} are left")
        (trailer,) = struct.unpack_from(order + "I", data, pos + length - 4)
        if trailer != length:
            raise PcapngError(f"the block at byte {pos} does not end with its length")
        body = data[pos + 8 : pos + length - 4]
        if block_type == BLOCK_SHB:
            if len(body) < 16:
                raise PcapngError(f"the section header at byte {pos} is too short")
            (major,) = struct.unpack_from(order + "H", body, 4)
            if major != 1:
                raise PcapngError(f"pcapng version {major} is not one this reader knows (1)")
            interfaces = []
            options = _parse_options(body[16:], order)
            yield Section(tuple(_text(v) for code, v in options if code == OPT_COMMENT))
        elif block_type == BLOCK_IDB:
            if len(body) < 8:
                raise PcapngError(f"the interface description at byte {pos} is too short")
            (linktype,) = struct.unpack_from(order + "H", body, 0)
            tsresol = TSRESOL_MICRO
            name = ""
            for code, value in _parse_options(body[8:], order):
                if code == IF_TSRESOL and value:
                    tsresol = value[0]
                elif code == IF_NAME:
                    name = _text(value)
            interface = Interface(linktype, _divisor(tsresol), name)
            interfaces.append(interface)
            yield interface
        elif block_type == BLOCK_EPB:
            number += 1
            if len(body) < 20:
                raise PcapngError(f"packet {number} (byte {pos}) is too short")
            interface_id, high, low, captured, _original = struct.unpack_from(order + "IIIII", body, 0)
            if interface_id >= len(interfaces):
                raise PcapngError(f"packet {number} names interface {interface_id}, which is not described")
            if 20 + captured > len(body):
                raise PcapngError(f"packet {number} says it holds {captured} bytes, more than its block")
            packet_data = body[20 : 20 + captured]
            flags = 0
            comments: list[str] = []
            for code, value in _parse_options(body[20 + captured + (-captured % 4) :], order):
                if code == OPT_COMMENT:
                    comments.append(_text(value))
                elif code == EPB_FLAGS and len(value) == 4:
                    (flags,) = struct.unpack(order + "I", value)
            yield Packet(number, interfaces[interface_id], (high << 32) | low, packet_data, flags, tuple(comments))
        elif block_type == BLOCK_SPB:
            number += 1
            raise PcapngError(f"packet {number} is a simple packet block: it has no time and no direction")
        pos += length
