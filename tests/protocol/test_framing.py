"""The decoder splits any byte stream into frames, resynchronises, and never raises."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from stampside.firmware_protocol import BadFrame, Connection, Frame, Role, Stamp, UnknownMessage
from stampside.firmware_protocol.framing import MAX_ENCODED_FRAME, FrameDecoder, crc16, encode_frame

from .strategies import MESSAGES

DEVICE_MESSAGES = MESSAGES.filter(lambda msg: Role.DEVICE in msg.SENDERS)


def _stream(messages: list) -> tuple[bytes, list]:
    tx = Connection(Role.DEVICE)
    return b"".join(tx.send(msg) for msg in messages), messages


def test_crc_matches_the_catalogued_crc16_ccitt_false() -> None:
    from crc import Calculator, Crc16

    calculator = Calculator(Crc16.IBM_3740.value)
    assert crc16(b"123456789") == 0x29B1
    for data in (b"", b"\x00", bytes(range(256)), b"stampside"):
        assert crc16(data) == calculator.checksum(data)


@given(st.lists(DEVICE_MESSAGES, min_size=1, max_size=8))
def test_a_stream_decodes_the_same_when_split_at_every_offset(messages: list) -> None:
    data, _ = _stream(messages)
    for cut in range(len(data) + 1):
        rx = Connection(Role.HOST)
        events = rx.receive_data(data[:cut]) + rx.receive_data(data[cut:])
        assert [e.message for e in events if isinstance(e, Frame)] == messages


@given(st.lists(DEVICE_MESSAGES, min_size=1, max_size=8))
def test_a_stream_decodes_the_same_fed_one_byte_at_a_time(messages: list) -> None:
    data, _ = _stream(messages)
    rx = Connection(Role.HOST)
    events = []
    for i in range(len(data)):
        events += rx.receive_data(data[i : i + 1])
    assert [e.message for e in events if isinstance(e, Frame)] == messages
    assert rx.rx_stats.bad_total == 0


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise_and_never_yield_an_unchecked_frame(data: bytes) -> None:
    for role in Role:
        rx = Connection(role)
        for event in rx.receive_data(data):
            if isinstance(event, Frame):
                # A frame gets through only if exactly its stuffed bytes, with a CRC that
                # matches, stood between two delimiters in the input.
                assert b"\x00" + encode_frame(event.raw) in b"\x00" + data


@settings(max_examples=200)
@given(st.lists(DEVICE_MESSAGES, min_size=1, max_size=20), st.randoms(use_true_random=False), st.floats(0.0, 0.2))
def test_mutated_streams_never_raise_and_only_yield_sent_frames(
    messages: list, rnd: random.Random, rate: float
) -> None:
    data, _ = _stream(messages)
    mutated = bytearray()
    for byte in data:
        roll = rnd.random()
        if roll < rate / 3:
            mutated.append(byte ^ (1 << rnd.randrange(8)))  # bit flip
        elif roll < 2 * rate / 3:
            continue  # byte lost
        elif roll < rate:
            mutated += bytes((byte, rnd.randrange(256)))  # byte inserted
        else:
            mutated.append(byte)
    rx = Connection(Role.HOST)
    events = []
    pos = 0
    while pos < len(mutated):
        step = rnd.randint(1, 64)
        events += rx.receive_data(bytes(mutated[pos : pos + step]))
        pos += step
    sent = [(type(msg), msg) for msg in messages]
    for event in events:
        if isinstance(event, Frame):
            # A 16-bit CRC can in principle pass a corrupted frame; it must at least be a
            # well-formed message. With these small streams it is always one that was sent.
            assert (type(event.message), event.message) in sent
        else:
            assert isinstance(event, BadFrame | UnknownMessage)


def test_the_decoder_resynchronises_after_garbage_and_counts_it() -> None:
    tx, rx = Connection(Role.DEVICE), Connection(Role.HOST)
    good = Stamp(1, 7, 1000, 60, 180, 0)
    data = b"\x13\x37garbage" + b"\x00" + tx.send(good)
    events = rx.receive_data(data)
    assert isinstance(events[0], BadFrame)
    assert isinstance(events[-1], Frame) and events[-1].message == good
    assert rx.rx_stats.bad_total == 1
    assert rx.rx_stats.resyncs == 1


def test_a_truncated_frame_is_reported_and_the_next_frame_survives() -> None:
    tx, rx = Connection(Role.DEVICE), Connection(Role.HOST)
    first = tx.send(Stamp(1, 1, 10, 60, 180, 0))
    second = tx.send(Stamp(1, 2, 20, 60, 180, 0))
    events = rx.receive_data(first[:8] + b"\x00" + second)
    assert isinstance(events[0], BadFrame)
    assert [e.message.seq for e in events if isinstance(e, Frame)] == [2]


def test_a_run_without_delimiter_is_discarded_as_oversize() -> None:
    dec = FrameDecoder()
    out = dec.feed(b"\x01" * (MAX_ENCODED_FRAME + 5))
    out += dec.feed(b"\x01" * 1000)
    out += dec.feed(b"\x00")
    good = encode_frame(bytes((0x10, 0x11, 0)) + bytes(13))
    out += dec.feed(good)
    assert [type(o) for o in out] == [BadFrame, bytes]
    assert out[0].reason == "oversize"  # type: ignore[union-attr]
    assert dec.stats.bad["oversize"] == 1


def test_idle_fill_is_not_an_error() -> None:
    rx = Connection(Role.HOST)
    assert rx.receive_data(b"\x00\x00\x00") == []
    assert rx.rx_stats.bad_total == 0


def test_lost_frames_show_as_link_sequence_gaps() -> None:
    tx, rx = Connection(Role.DEVICE), Connection(Role.HOST)
    frames = [tx.send(Stamp(1, i, i, 60, 180, 0)) for i in range(1, 6)]
    rx.receive_data(frames[0] + frames[3] + frames[4])
    assert rx.counters.rx_lseq_gaps == 2


def test_a_bit_flip_is_always_caught() -> None:
    tx = Connection(Role.DEVICE)
    frame = tx.send(Stamp(3, 99, 123456, 61, 190, 2))
    for pos in range(len(frame) - 1):
        for bit in range(8):
            mutated = bytearray(frame)
            mutated[pos] ^= 1 << bit
            rx = Connection(Role.HOST)
            events = rx.receive_data(bytes(mutated))
            assert not any(isinstance(e, Frame) for e in events), (pos, bit)
