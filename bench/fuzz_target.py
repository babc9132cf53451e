"""The Python decoder's fuzz target: one input in, every invariant of the receiving side checked.

``bench/fuzz_decoder.py`` runs :func:`check` under atheris (libFuzzer); the test suite runs it on
the seeds without atheris. An input is laid out as::

    byte 0        mode: bits 0-2  k, the number of split points (0-7)
                        bit 3     frame mode (below)
                        bit 4     the host state machine stores stamps (a ledger) instead of watching
                        bits 5-7  how far the clock moves between chunks (see STEPS)
    bytes 1..k    chunk lengths, used over and over until the stream is cut up (none, or all 0: whole)
    the rest      the stream

In frame mode the stream is built from records, so the fuzzer reaches the messages without having
to find a CRC: a length byte ``n`` below 0x80 is followed by ``n`` bytes of header + payload that
go out as one frame (``encode_frame``: COBS, CRC, delimiter); ``0x80 | n`` is followed by ``n``
bytes that go on the wire as they are (noise, delimiters, damaged frames). Otherwise the stream
is the wire bytes themselves.

The contract checked (docs/protocol.md; ``firmware_protocol/framing.py`` and ``connection.py``):

* :meth:`FrameDecoder.feed` never raises. Every output is a checked frame (header + payload,
  3-67 bytes, whose encoding is a frame of the stream) or a :class:`BadFrame` with one of
  the framing reasons, and the counters add up to them. The outputs do not depend on how the
  stream is cut into chunks (whole, at the fuzzer's points, one byte at a time): the
  connections below are fed the chunks and checked against the whole stream's decoding.
* :meth:`Connection.receive_data` (host and device roles) never raises and turns each output of
  its decoder into one event: a :class:`Frame` of a type its peer may send, in a version it
  speaks (or a frozen layout), with a payload of that version's size; an
  :class:`UnknownMessage` of a type its peer may not send; or a :class:`BadFrame` (the
  decoder's own, or ``version``/``length`` naming the frame's type and link sequence number).
  Its counters add up to the events.
* ``Message.from_payload`` of every message type, in every version spoken, never raises on a
  payload of that version's size, and encoding the message again gives the same payload bytes,
  except a DEVICE_INFO whose serial is not 1-12 ASCII characters padded with 0x00, which the
  encoder refuses with :class:`EncodeError` (the one documented exception).
* :class:`HostConnection` (the host's state machine, its caller played by this target: storage
  answered at once, stamps committed after each chunk, a reopen honoured) never raises on
  anything the device sends, whatever the clock does between chunks (frame-mode inputs; the
  first seven chunks, then the rest in one).

A broken invariant raises :class:`InvariantBroken`; any other exception is a crash too.
"""

from __future__ import annotations

import json
from pathlib import Path

from stampside.firmware_protocol.connection import SUPPORTED_VERSIONS, Connection, Event, Frame, UnknownMessage
from stampside.firmware_protocol.errors import EncodeError
from stampside.firmware_protocol.framing import (
    BAD_COBS,
    BAD_CRC,
    BAD_LENGTH,
    BAD_OVERSIZE,
    BAD_SHORT,
    BAD_VERSION,
    DELIMITER,
    HEADER_SIZE,
    MAX_ENCODED_FRAME,
    MAX_PAYLOAD,
    BadFrame,
    FrameDecoder,
    encode_frame,
)
from stampside.firmware_protocol.host import HostConnection, HostTiming
from stampside.firmware_protocol.host_events import (
    BindEpoch,
    Deliver,
    HostState,
    Ledger,
    OpenLedger,
    Reopen,
    StartLife,
)
from stampside.firmware_protocol.messages import BY_TYPE, MESSAGE_CLASSES, DeviceInfo, Message, Role, Stamp

VECTORS = Path(__file__).resolve().parent.parent / "firmware_protocol" / "vectors.json"

SPLITS_MASK = 0x07
FRAME_MODE = 0x08
LEDGER_MODE = 0x10
#: Seconds the clock moves between chunks, by the mode's top three bits.
STEPS = (0.0, 0.01, 0.05, 0.2, 0.5, 1.0, 3.0, 10.0)
#: Reasons the frame decoder itself gives; ``version`` and ``length`` come from the connection.
FRAMING_REASONS = frozenset({BAD_COBS, BAD_CRC, BAD_SHORT, BAD_OVERSIZE})
#: Short timeouts so a few chunks of clock reach retries, probes, the link timeout and reopening.
TIMING = HostTiming(reply_timeout=0.1, min_reply_timeout=0.05, link_timeout=2.0, reopen_after=6.0)
#: Chunks the host's state machine is fed at most (see drive_host).
HOST_CHUNKS = 8
#: The stored cursor in ledger mode (the vectors' stamps are of boot 2).
LEDGER_CURSOR = (2, 1000)


class InvariantBroken(AssertionError):
    """The decoder did something its contract rules out."""


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise InvariantBroken(what)


# -- the input ---------------------------------------------------------------------------------


def parse_input(data: bytes) -> tuple[int, list[bytes], bytes]:
    """(mode, chunks, stream) of one fuzz input.

    The k chunk lengths are used over and over until the stream is cut up: ``01`` feeds it one
    byte at a time, no lengths feed it whole.
    """
    if not data:
        return 0, [b""], b""
    mode = data[0]
    k = mode & SPLITS_MASK
    lengths = data[1 : 1 + k]
    body = data[1 + k :]
    stream = build_frames(body) if mode & FRAME_MODE else body
    if not any(lengths):
        return mode, [stream], stream
    chunks: list[bytes] = []
    pos = 0
    while pos < len(stream):
        for n in lengths:
            chunks.append(stream[pos : pos + n])
            pos += n
    chunks.append(stream[pos:])
    return mode, chunks, stream


def build_frames(body: bytes) -> bytes:
    """The wire bytes of frame mode's records (see the module documentation)."""
    out = bytearray()
    i = 0
    while i < len(body):
        n = body[i]
        i += 1
        take = body[i : i + (n & 0x7F)]
        i += len(take)
        out += take if n & 0x80 else encode_frame(take)
    return bytes(out)


def frame_record(raw: bytes) -> bytes:
    """One frame-mode record: ``raw`` (header + payload) sent as a frame."""
    if len(raw) >= 0x80:
        raise ValueError("a record holds at most 127 bytes")
    return bytes((len(raw),)) + raw


def seed_inputs() -> dict[str, bytes]:
    """Seeds made from ``firmware_protocol/vectors.json``, by name.

    Each frame on its own and all of them in a row, as wire bytes and as frame-mode records;
    the device's frames in a row as a host session would see them (monitor and ledger mode);
    each bad frame; and a few cut into chunks.
    """
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    good = [(v["name"], v["sender"], bytes.fromhex(v["hex"])) for v in vectors["frames"]]
    bad = [(v["name"], bytes.fromhex(v["hex"])) for v in vectors["bad_frames"]]
    decoder = FrameDecoder()
    seeds: dict[str, bytes] = {}
    device_records = b""
    for name, sender, wire in good:
        (raw,) = decoder.feed(wire)
        assert isinstance(raw, bytes)
        seeds[f"wire {name}"] = b"\x00" + wire
        seeds[f"frame {name}"] = bytes((FRAME_MODE,)) + frame_record(raw)
        if sender == "device":
            device_records += frame_record(raw)
    for name, wire in bad:
        seeds[f"bad {name}"] = b"\x00" + wire
    everything = b"".join(wire for _, _, wire in good) + b"".join(wire for _, wire in bad)
    seeds["wire all"] = b"\x00" + everything
    seeds["wire all in chunks"] = bytes((0x07, 1, 2, 3, 5, 8, 13, 21)) + everything
    # Device sessions for the host's state machine, the clock moving 0.2 s per chunk.
    step = 3 << 5
    seeds["host monitor"] = bytes((FRAME_MODE | step,)) + device_records
    seeds["host ledger"] = bytes((FRAME_MODE | LEDGER_MODE | step,)) + device_records
    seeds["host ledger in chunks"] = bytes((FRAME_MODE | LEDGER_MODE | step | 0x03, 20, 40, 60)) + device_records
    return seeds


# -- the checks ---------------------------------------------------------------------------------


def _same_bad(a: BadFrame, b: BadFrame) -> bool:
    """The same bad frame, however the stream was cut (the detail may say how an oversize run was noticed)."""
    return (a.reason, a.wire, a.msg_type, a.lseq) == (b.reason, b.wire, b.msg_type, b.lseq)


def check_decoder(stream: bytes) -> tuple[list[bytes | BadFrame], FrameDecoder]:
    """Decode the whole stream at once and check every output; the connections, fed the chunks, must agree."""
    decoder = FrameDecoder()
    outputs = decoder.feed(stream)
    _require(decoder.pending_bytes <= MAX_ENCODED_FRAME, "holds more than a frame")
    _require(decoder.stats.bytes == len(stream), "bytes counter is off")
    framed = DELIMITER + stream + DELIMITER
    frames = 0
    for item in outputs:
        if isinstance(item, BadFrame):
            _require(item.reason in FRAMING_REASONS, f"unknown reason {item.reason!r}")
            _require(item.msg_type == -1 and item.lseq == -1, "framing BadFrame names a message")
            _require(0 < len(item.wire) <= MAX_ENCODED_FRAME, "BadFrame wire size")
            _require(DELIMITER not in item.wire, "BadFrame wire holds a delimiter")
            continue
        _require(type(item) is bytes, f"output of type {type(item).__name__}")
        _require(HEADER_SIZE <= len(item) <= HEADER_SIZE + MAX_PAYLOAD, f"checked frame of {len(item)} bytes")
        # The frame is canonical and really on the wire: encoding it again finds it in the stream.
        _require(DELIMITER + encode_frame(item) in framed, "checked frame not on the wire")
        frames += 1
    _require(decoder.stats.frames == frames, "frames counter is off")
    _require(decoder.stats.bad_total == len(outputs) - frames, "bad counter is off")
    return outputs, decoder


def serial_valid(field: bytes) -> bool:
    """Whether DEVICE_INFO's serial field is 1-12 ASCII characters padded with 0x00 (docs/protocol.md)."""
    text = field.rstrip(b"\x00")
    return bool(text) and text.isascii() and b"\x00" not in text


def check_message(cls: type[Message], payload: bytes, version: int) -> Message | None:
    """Decode ``payload`` as ``cls`` in ``version`` and encode it again (None: the size does not fit)."""
    if len(payload) != cls.payload_size(version):
        return None
    message = cls.from_payload(payload, version)
    _require(type(message) is cls, f"{cls.__name__}.from_payload made a {type(message).__name__}")
    message.to_dict(version)
    try:
        again = message.pack_payload(version)
    except EncodeError:
        if cls is DeviceInfo and not serial_valid(payload[:12]):
            return message  # the documented refusal: not a serial the protocol allows
        raise
    _require(again == payload, f"{cls.__name__} v{version} does not round-trip: {payload.hex()} -> {again.hex()}")
    _require(cls.from_payload(again, version) == message, f"{cls.__name__} v{version} decodes differently again")
    return message


def _by_size() -> dict[int, list[tuple[type[Message], int]]]:
    table: dict[int, list[tuple[type[Message], int]]] = {}
    for cls in MESSAGE_CLASSES:
        for version in SUPPORTED_VERSIONS:
            table.setdefault(cls.payload_size(version), []).append((cls, version))
    return table


#: (message type, version) by payload size.
BY_SIZE = _by_size()


def check_messages(bodies: list[bytes]) -> None:
    """Each checked frame's payload decoded as every message type, in every version, whose payload has its size.

    Frame mode gives the fuzzer every payload it likes without a CRC to find, so this reaches
    every layout; the connections have decoded each frame as its own type already.
    """
    for body in bodies:
        payload = body[HEADER_SIZE:]
        for cls, version in BY_SIZE.get(len(payload), ()):
            check_message(cls, payload, version)


def check_connection(
    role: Role, chunks: list[bytes], decoded: list[bytes | BadFrame], decoder: FrameDecoder
) -> list[Event]:
    """Feed the chunks to a connection of ``role``; check every event against the whole stream's decoding."""
    conn = Connection(role)
    events = [event for chunk in chunks for event in conn.receive_data(chunk)]
    _require(conn.counters.rx.bytes == decoder.stats.bytes, f"{role.value}: bytes counter is off")
    _require(conn._decoder.pending_bytes == decoder.pending_bytes, f"{role.value}: pending bytes differ")
    _require(len(events) == len(decoded), f"{role.value}: {len(events)} events from {len(decoded)} frames")
    vmin, vmax = conn.versions
    counts = {"frame": 0, "unknown": 0, "bad": 0}
    for event, item in zip(events, decoded, strict=True):
        if isinstance(item, BadFrame):
            _require(type(event) is BadFrame, f"{role.value}: a {item.reason} frame became {type(event).__name__}")
            assert isinstance(event, BadFrame)
            _require(_same_bad(event, item), f"{role.value}: another BadFrame than the whole stream's")
            counts["bad"] += 1
            continue
        version, flags, msg_type, lseq = item[0] >> 4, item[0] & 0x0F, item[1], item[2]
        cls = BY_TYPE.get(msg_type)
        accepted = cls is not None and conn.peer_role in cls.SENDERS
        if type(event) is UnknownMessage:
            _require(not accepted, f"{role.value}: type {msg_type:#x} reported unknown")
            _require(
                (event.msg_type, event.flags, event.lseq, event.version) == (msg_type, flags, lseq, version),
                "UnknownMessage header fields",
            )
            _require(event.raw == item, f"{role.value}: UnknownMessage.raw is not the frame")
            counts["unknown"] += 1
        elif type(event) is BadFrame:
            assert cls is not None
            _require(accepted, f"{role.value}: type {msg_type:#x} refused, not reported unknown")
            _require(event.reason in (BAD_VERSION, BAD_LENGTH), f"{role.value}: reason {event.reason!r}")
            _require((event.msg_type, event.lseq, event.wire) == (msg_type, lseq, item), "BadFrame names another frame")
            in_range = vmin <= version <= vmax or cls.FROZEN_LAYOUT
            if event.reason == BAD_VERSION:
                _require(not in_range, f"{role.value}: v{version} refused")
            else:
                _require(in_range and len(item) - HEADER_SIZE != cls.payload_size(version), "length refused")
            counts["bad"] += 1
        elif type(event) is Frame:
            assert cls is not None
            _require(accepted, f"{role.value}: accepted type {msg_type:#x} from a {conn.peer_role.value}")
            _require(vmin <= version <= vmax or cls.FROZEN_LAYOUT, f"{role.value}: accepted v{version}")
            _require(event.raw == item, f"{role.value}: Frame.raw is not the frame")
            _require((event.flags, event.lseq, event.version) == (flags, lseq, version), "Frame header fields")
            _require(type(event.message) is cls, f"{role.value}: {msg_type:#x} decoded as {type(event.message)}")
            payload = item[HEADER_SIZE:]
            _require(len(payload) == cls.payload_size(version), f"{role.value}: {cls.__name__} of the wrong size")
            # check_messages encodes it again.
            expected = cls.from_payload(payload, version)
            _require(event.message == expected, f"{role.value}: the connection decodes otherwise than from_payload")
            counts["frame"] += 1
        else:
            raise InvariantBroken(f"{role.value}: event of type {type(event).__name__}")
    counters = conn.counters
    _require(counters.rx.frames == counts["frame"] + counts["unknown"], f"{role.value}: frames counter is off")
    _require(counters.rx.bad_total == counts["bad"], f"{role.value}: bad counter is off")
    _require(counters.unknown == counts["unknown"], f"{role.value}: unknown counter is off")
    _require(sum(counters.by_type_rx.values()) == counts["frame"], f"{role.value}: by-type counters are off")
    return events


def drive_host(mode: int, chunks: list[bytes]) -> None:
    """The host's state machine on the chunks, the caller's side played at once.

    It gets the first HOST_CHUNKS - 1 chunks, then the rest in one: byte by byte it would spend
    the run on HELLO retries (each bad frame in HELLO sends two), and a few steps of the clock
    reach its timers.
    """
    if len(chunks) > HOST_CHUNKS:
        chunks = [*chunks[: HOST_CHUNKS - 1], b"".join(chunks[HOST_CHUNKS - 1 :])]
    ledger_mode = bool(mode & LEDGER_MODE)
    step = STEPS[mode >> 5]
    host = HostConnection(timing=TIMING, ledger=ledger_mode, arm=True, unix_ms=lambda: 1_764_067_200_000)
    now = 100.0
    host.connection_made(now)
    ledger: Ledger | None = None
    for chunk in chunks:
        host.tick(now)
        host.receive_data(chunk, now)
        stamps: dict[Ledger | None, list[Stamp]] = {}
        reopen = False
        for action in host.take_actions():
            if isinstance(action, OpenLedger):
                ledger = Ledger(action.info.serial, 1, 0, *LEDGER_CURSOR)
                host.ledger_opened(ledger, now)
            elif isinstance(action, StartLife):
                ledger = Ledger(action.info.serial, action.previous.life + 1, action.epoch, 0, 0)
                host.ledger_opened(ledger, now)
            elif isinstance(action, BindEpoch) and ledger is not None:
                ledger = Ledger(ledger.serial, ledger.life, action.epoch, ledger.boot, ledger.seq)
            elif isinstance(action, Deliver):
                _require(ledger_mode == (action.ledger is not None), "Deliver with a ledger in monitor mode")
                stamps.setdefault(action.ledger, []).append(action.stamp)
            elif isinstance(action, Reopen):
                reopen = True
        for stamp_ledger, batch in stamps.items():
            if host.plan_commit(stamp_ledger, batch) is not None:
                host.committed(stamp_ledger, batch, now)
        if reopen:
            host.connection_lost(now, "reopen")
            if host.state is HostState.IDLE:
                host.connection_made(now)
        now += step
    host.tick(now)
    host.take_actions()


def check(data: bytes) -> None:
    """The fuzz target: every check on one input."""
    mode, chunks, stream = parse_input(data)
    decoded, decoder = check_decoder(stream)
    for role in (Role.HOST, Role.DEVICE):
        check_connection(role, chunks, decoded, decoder)
    check_messages([item for item in decoded if not isinstance(item, BadFrame)])
    if mode & FRAME_MODE:
        # The state machine needs frames to move; noise alone reaches only its bad-frame paths,
        # which frame mode's raw records reach too.
        drive_host(mode, chunks)
