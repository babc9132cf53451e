"""pcapng captures: the blocks, the frame splitter, the reader, and replaying them like JSON Lines captures."""

from __future__ import annotations

import json
import stat
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stampside.app.cli.main import main
from stampside.devicelink import pcapng
from stampside.devicelink.capture import (
    CaptureError,
    CaptureMarker,
    PcapngCaptureWriter,
    capture_to_pcapng,
    open_capture_writer,
    replay_capture,
)
from stampside.devicelink.events import Direction, FrameRecord
from stampside.devicelink.frame_text import frame_record_dict
from stampside.firmware_protocol import Connection, FrameDecoder, Hello, Role, Stamp
from tests.devicelink.capture_streams import STARTED_UNIX, random_session, write_jsonl
from tests.devicelink.processes import SimProcess, stampside

URL = "socket://127.0.0.1:7000"


def _packets(path: Path) -> list[pcapng.Packet]:
    return [b for b in pcapng.read_blocks(path.read_bytes()) if isinstance(b, pcapng.Packet)]


def _replayed(path: Path) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for item in replay_capture(path):
        if isinstance(item, CaptureMarker):
            out.append({"marker": item.event, "t": round(item.wall, 6)})
        else:
            assert isinstance(item, FrameRecord)
            out.append(frame_record_dict(item, with_hex=True))
    return out


# -- writing and reading back ----------------------------------------------------------------------


def test_a_written_capture_reads_back_with_both_directions_times_and_bad_frames(tmp_path: Path) -> None:
    host, device = Connection(Role.HOST), Connection(Role.DEVICE)
    hello = host.send(Hello(1, 2))
    stamp = device.send(Stamp(1, 7, 1234, 61, 180, 2))
    damaged = bytearray(stamp)
    damaged[5] ^= 0x10
    path = tmp_path / "cap.pcapng"
    writer = PcapngCaptureWriter(path, URL, started_unix=STARTED_UNIX)
    writer.marker("open", 0.0)
    writer.chunk(Direction.TX, b"\x00" + hello, 0.000412)
    writer.chunk(Direction.RX, stamp[:7], 0.0011)  # half a frame: no packet yet
    writer.chunk(Direction.RX, stamp[7:] + bytes(damaged), 0.0013)
    writer.chunk(Direction.RX, b"\x05\x10", 0.002)  # cut short by the close
    writer.marker("close", 0.5)
    writer.close()

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    blocks = list(pcapng.read_blocks(path.read_bytes()))
    section, interface = blocks[0], blocks[1]
    assert isinstance(section, pcapng.Section) and URL in section.comments[0]
    assert isinstance(interface, pcapng.Interface)
    assert (interface.linktype, interface.divisor, interface.name) == (147, 1_000_000, URL)
    packets = [b for b in blocks if isinstance(b, pcapng.Packet)]
    start_us = round(STARTED_UNIX * 1_000_000)
    got = [(p.timestamp - start_us, p.direction, p.data, p.marker) for p in packets]
    assert got == [
        (0, 0, b"", "open"),
        (412, pcapng.FLAGS_OUTBOUND, b"\x00" + hello, None),  # idle fill goes with the frame after it
        (1300, pcapng.FLAGS_INBOUND, stamp, None),  # timed when its delimiter came
        (1300, pcapng.FLAGS_INBOUND, bytes(damaged), None),  # a bad frame, byte for byte
        (500000, pcapng.FLAGS_INBOUND, b"\x05\x10", None),  # what was held, written at the close
        (500000, 0, b"", "close"),
    ]
    assert [p.number for p in packets] == [1, 2, 3, 4, 5, 6]


def test_an_oversize_run_is_a_packet_when_the_decoder_gives_up_and_its_rest_another() -> None:
    splitter = pcapng.FrameSplitter()
    assert splitter.feed(b"\x01" * 60) == []
    first = splitter.feed(b"\x01" * 20)  # 80 bytes, no delimiter: the decoder reports oversize now
    assert first == [b"\x01" * 80] and splitter.discarding
    assert splitter.feed(b"\x02" * 5 + b"\x00\x03\x10\x01") == [b"\x02" * 5 + b"\x00"]
    assert not splitter.discarding
    assert splitter.feed(b"\x01\x00") == [b"\x03\x10\x01\x01\x00"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=120).map(lambda b: b.replace(b"\x05", b"\x00")), max_size=30))
def test_the_splitter_keeps_every_byte_and_cuts_where_the_decoder_decides(chunks: list[bytes]) -> None:
    """Packets concatenate to the stream; each one ends where the decoder completes or drops a frame."""
    splitter = pcapng.FrameSplitter()
    packets: list[bytes] = []
    decoded_whole, decoded_packets = FrameDecoder(), FrameDecoder()
    expected: list[object] = []
    got: list[object] = []
    for chunk in chunks:
        expected += decoded_whole.feed(chunk)
        for packet in splitter.feed(chunk):
            packets.append(packet)
            got += decoded_packets.feed(packet)
        assert got == expected  # the packets complete the same frames, at the same chunk
    held = splitter.flush()
    assert b"".join(packets) + held == b"".join(chunks)
    assert decoded_packets.feed(held) == []


@pytest.mark.parametrize("seed", range(12))
def test_a_pcapng_capture_replays_exactly_as_the_jsonl_capture_of_the_same_session(seed: int, tmp_path: Path) -> None:
    native, converted = tmp_path / "s.jsonl", tmp_path / "s.pcapng"
    write_jsonl(native, random_session(seed))
    capture_to_pcapng(native, converted)
    expected = _replayed(native)
    assert any(item.get("kind") == "bad_frame" for item in expected)
    assert _replayed(converted) == expected
    # every byte both ways is in the packets, in order
    packets = _packets(converted)
    for direction, flag in (("rx", pcapng.FLAGS_INBOUND), ("tx", pcapng.FLAGS_OUTBOUND)):
        lines = [json.loads(line) for line in native.read_text().splitlines()[1:]]
        stream = b"".join(bytes.fromhex(line["hex"]) for line in lines if line.get("dir") == direction)
        assert b"".join(p.data for p in packets if p.direction == flag) == stream


def test_link_replay_prints_the_same_for_both_formats(tmp_path: Path) -> None:
    native, converted = tmp_path / "s.jsonl", tmp_path / "s.pcapng"
    write_jsonl(native, random_session(99))
    capture_to_pcapng(native, converted)
    runner = CliRunner()
    for flags in (["--json"], ["--hex"], ["--json", "--hide-heartbeats"]):
        a = runner.invoke(main, ["link", "replay", str(native), *flags])
        b = runner.invoke(main, ["link", "replay", str(converted), *flags])
        assert a.exit_code == b.exit_code == 0, (a.output, b.output)
        assert a.output == b.output


def test_the_format_follows_the_file_name_unless_given(tmp_path: Path) -> None:
    for name, fmt, is_pcapng in [
        ("a.pcapng", "auto", True),
        ("a.PCAPNG", "auto", True),
        ("a.jsonl", "auto", False),
        ("a.cap", "pcapng", True),
        ("a.pcapng", "jsonl", False),
    ]:
        writer = open_capture_writer(tmp_path / name, URL, fmt)
        writer.close()
        assert pcapng.is_pcapng((tmp_path / name).read_bytes()[:4]) is is_pcapng, (name, fmt)


# -- what the reader refuses ----------------------------------------------------------------------


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "x.pcapng"
    path.write_bytes(data)
    return path


def _error(path: Path) -> str:
    with pytest.raises(CaptureError) as caught:
        list(replay_capture(path))
    return str(caught.value)


def test_a_file_cut_short_replays_what_it_has_then_says_so(tmp_path: Path) -> None:
    path = tmp_path / "cap.pcapng"
    writer = PcapngCaptureWriter(path, URL, started_unix=STARTED_UNIX)
    writer.marker("open", 0.0)
    writer.chunk(Direction.TX, Connection(Role.HOST).send(Hello(1, 2)), 0.001)
    writer.close()
    data = path.read_bytes()
    cut = _file(tmp_path, data[:-5])
    items = []
    with pytest.raises(CaptureError, match="cut short"):
        for item in replay_capture(cut):
            items.append(item)
    assert [type(i) for i in items] == [CaptureMarker]


def test_other_link_types_and_packets_without_a_direction_are_refused(tmp_path: Path) -> None:
    ethernet = pcapng.section_header() + pcapng.interface_description(linktype=1)
    ethernet += pcapng.enhanced_packet(1, b"\x01\x02", flags=pcapng.FLAGS_INBOUND)
    assert "link type 1, not a Stampside link" in _error(_file(tmp_path, ethernet))
    undirected = pcapng.section_header() + pcapng.interface_description() + pcapng.enhanced_packet(1, b"\x01\x00")
    assert "packet 1 has no direction" in _error(_file(tmp_path, undirected))
    assert "past the year 5000" in _error(
        _file(tmp_path, pcapng.section_header() + pcapng.interface_description() + pcapng.enhanced_packet(2**62, b""))
    )


def test_a_big_endian_file_reads_too(tmp_path: Path) -> None:
    def block(kind: int, body: bytes) -> bytes:
        return struct.pack(">II", kind, 12 + len(body)) + body + struct.pack(">I", 12 + len(body))

    frame = Connection(Role.HOST).send(Hello(1, 2))
    padded = frame + b"\x00" * (-len(frame) % 4)
    options = struct.pack(">HHI", pcapng.EPB_FLAGS, 4, pcapng.FLAGS_OUTBOUND) + struct.pack(">HH", 0, 0)
    data = (
        block(pcapng.BLOCK_SHB, struct.pack(">IHHq", pcapng.BYTE_ORDER_MAGIC, 1, 0, -1))
        + block(pcapng.BLOCK_IDB, struct.pack(">HHI", 147, 0, 0))
        + block(pcapng.BLOCK_EPB, struct.pack(">IIIII", 0, 0, 5, len(frame), len(frame)) + padded + options)
    )
    (record,) = list(replay_capture(_file(tmp_path, data)))
    assert isinstance(record, FrameRecord) and record.direction is Direction.TX and record.wall == 5e-6


HEADER = pcapng.section_header("x") + pcapng.interface_description(URL)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=400), cut=st.integers(0, 60))
def test_random_bytes_after_a_header_replay_or_fail_in_one_line(body: bytes, cut: int, tmp_path: Path) -> None:
    path = _file(tmp_path, (HEADER + body)[: len(HEADER) + len(body) - cut] if cut < len(body) else HEADER + body)
    result = CliRunner().invoke(main, ["link", "replay", str(path), "--json"])
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if result.exit_code == 2:
        assert result.output.count("Error:") == 1


# -- the command, on a live link -------------------------------------------------------------------


def test_link_capture_writes_pcapng_for_a_pcapng_file_name(tmp_path: Path) -> None:
    sim = SimProcess("--listen", "127.0.0.1:0", "--no-state", "--seed", "4", "--rate", "20", "--quiet")
    try:
        result = stampside(
            "link", "capture", sim.socket_url, str(tmp_path / "cap.pcapng"), "--arm", "--duration", "1.5"
        )
    finally:
        sim.stop()
    assert result.returncode == 0, result.stderr
    packets = _packets(tmp_path / "cap.pcapng")
    assert packets[0].marker == "open" and packets[-1].marker == "close"
    assert {pcapng.FLAGS_INBOUND, pcapng.FLAGS_OUTBOUND} <= {p.direction for p in packets}
    assert [p.timestamp for p in packets] == sorted(p.timestamp for p in packets)
    replay = stampside("link", "replay", str(tmp_path / "cap.pcapng"), "--json")
    assert replay.returncode == 0, replay.stderr
    types = {json.loads(line).get("type") for line in replay.stdout.splitlines()}
    assert {"HELLO", "DEVICE_INFO", "ARM", "STAMP"} <= types


# -- the dissector command (tests/devicelink/test_wireshark.py runs it in tshark) -----------------


def test_link_dissector_prints_the_committed_dissector_or_writes_it(tmp_path: Path) -> None:
    committed = (Path(__file__).resolve().parents[2] / "firmware_protocol" / "wireshark" / "stampside.lua").read_text()
    runner = CliRunner()
    printed = runner.invoke(main, ["link", "dissector"])
    assert printed.exit_code == 0 and printed.output == committed
    assert 'Proto("stampside"' in committed and "stampside.stamp.force_dn" in committed
    written = runner.invoke(main, ["link", "dissector", "--out", str(tmp_path / "s.lua")])
    assert written.exit_code == 0 and (tmp_path / "s.lua").read_text() == committed
    refused = runner.invoke(main, ["link", "dissector", "--out", str(tmp_path / "missing" / "s.lua")])
    assert refused.exit_code == 2 and refused.output.startswith("Error: cannot write the dissector to ")
    assert len(refused.output.splitlines()) == 1
    assert "--out FILE" in runner.invoke(main, ["link", "dissector", "--help"]).output
