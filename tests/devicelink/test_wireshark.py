"""The generated Lua dissector in Debian's tshark decodes every frame as ``stampside link replay`` does.

Three sources of frames: a live capture of the simulator with line noise, truncated frames and
reconnects; random sessions with every kind of damage (oversize runs across packets included);
and ``firmware_protocol/vectors.json``. For each frame the test compares what tshark shows
(``-T json``) with the Python decoder: the kind (frame, unknown type, bad frame), direction,
time, type, flags, link sequence number, version and every payload field; bad frames must be
flagged malformed with the decoder's reason.

Needs ``tshark`` (``scripts/ensure_system_tools.sh`` installs it); skipped without it.

tshark runs as root here (the test machines are containers): Debian's Wireshark 4.0 runs
``-X lua_script:`` scripts for root too (its ``init.lua`` sets ``run_user_scripts_when_superuser
= true``), so nothing is needed but a warning on stderr. A build that refused would leave the
``stampside`` protocol unregistered: :func:`tshark` checks for it and says so rather than
failing on missing fields.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from stampside.devicelink import pcapng
from stampside.devicelink.capture import capture_to_pcapng
from stampside.firmware_protocol.codegen.lua_dissector import field_abbrev
from stampside.firmware_protocol.schema import load
from tests.devicelink.capture_streams import random_session, write_jsonl
from tests.devicelink.processes import SimProcess, json_lines, stampside

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(
    TSHARK is None, reason="tshark is not installed (scripts/ensure_system_tools.sh installs Debian's)"
)

VECTORS = Path(__file__).resolve().parents[2] / "firmware_protocol" / "vectors.json"
SCHEMA = load()
MESSAGES = {m.name: m for m in SCHEMA.messages}
#: Kinds of tshark items that are not frames the decoder reports (idle fill, a cut frame, an event).
NOT_FRAMES = {"idle", "incomplete", "discarded", "event"}


@pytest.fixture(scope="module")
def dissector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dissector, as ``stampside link dissector --out`` writes it."""
    path = tmp_path_factory.mktemp("wireshark") / "stampside.lua"
    result = stampside("link", "dissector", "--out", str(path))
    assert result.returncode == 0, result.stderr
    return path


def tshark(dissector: Path, capture: Path, *args: str) -> list[dict[str, Any]]:
    """``tshark -X lua_script:DISSECTOR -r CAPTURE -T json ARGS``: each packet's layers."""
    assert TSHARK is not None
    # A home of its own: no personal Wireshark preferences or plugins (a stampside.lua installed
    # there would register the protocol twice).
    home = capture.parent / "tshark-home"
    home.mkdir(exist_ok=True)
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    command = [TSHARK, "-n", "-X", f"lua_script:{dissector}", "-r", str(capture), "-T", "json", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "Lua: Error" not in result.stderr, result.stderr
    packets = [packet["_source"]["layers"] for packet in json.loads(result.stdout or "[]")]
    if packets and not any("stampside" in layers for layers in packets):
        pytest.fail(f"tshark did not run the Lua dissector (Lua disabled, or refused as root?):\n{result.stderr}")
    return packets


def flat(node: Any, out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every ``stampside.*`` and ``_ws.*`` field under ``node``, however deep (tshark nests subtrees)."""
    out = {} if out is None else out
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, dict | list):
                flat(value, out)
            if key.startswith(("stampside.", "_ws.malformed")) and not isinstance(value, dict | list):
                out[key] = value
    elif isinstance(node, list):
        for item in node:
            flat(item, out)
    return out


def _number(text: str) -> int:
    return int(text, 0)


def assert_fields_match(shown: dict[str, Any], message_type: str, version: int, fields: dict[str, Any]) -> None:
    """tshark's payload fields equal the decoder's (a field the version's layout lacks must be absent and 0)."""
    spec = MESSAGES[message_type]
    layout_version = 1 if spec.frozen_layout else version
    carried = {f.name for f in spec.fields_in(layout_version)}
    for field in spec.fields:
        key = field_abbrev(spec, field)
        if field.name not in carried:
            assert key not in shown, key
            assert fields.get(field.name, 0) == 0, (key, fields)
            continue
        assert key in shown, (key, shown)
        expected = fields[field.name]
        got = shown[key] if field.is_char else _number(shown[key])
        assert got == expected, (key, got, expected)
    prefix = f"stampside.{message_type.lower()}."
    own = {k for k in shown if k.startswith(prefix) and k.count(".") == 2}
    assert own == {field_abbrev(spec, f) for f in spec.fields if f.name in carried}


def flag_names(shown: dict[str, Any]) -> list[str]:
    flags = SCHEMA.enums["Flag"].values
    return [f.name for f in flags if shown.get(f"stampside.flags.{f.name.lower()}") == "1"]


def assert_same_frame(record: dict[str, Any], layers: dict[str, Any]) -> None:
    """One line of ``link replay --json`` against tshark's layers of the packet that holds it."""
    shown = flat(layers.get("stampside", {}))
    frame = layers["frame"]
    where = f"frame {frame['frame.number']}: {record} vs {shown}"
    assert shown.get("stampside.kind") == record["kind"], where
    assert frame.get("frame.p2p_dir") == {"rx": "1", "tx": "0"}[record["dir"]], where
    assert Decimal(frame["frame.time_epoch"]).quantize(Decimal("0.000001")) == Decimal(str(record["t"])), where
    if record["kind"] == "bad_frame":
        assert shown["stampside.bad_reason"] == record["reason"], where
        assert "stampside.malformed" in shown and "_ws.malformed" in shown, where
        if "type" in record:  # rejected above the framing: the header was shown
            assert shown["stampside.message"] == record["type"], where
            assert _number(shown["stampside.lseq"]) == record["lseq"], where
        return
    assert "stampside.malformed" not in shown, where
    assert shown["stampside.message"] == record["type"], where
    assert _number(shown["stampside.lseq"]) == record["lseq"], where
    assert _number(shown["stampside.version"]) == record["version"], where
    if record["kind"] == "frame":
        assert flag_names(shown) == record["flags"], where
        assert_fields_match(shown, record["type"], record["version"], record["fields"])


def assert_tshark_matches_replay(dissector: Path, capture: Path) -> list[dict[str, Any]]:
    """Every frame of ``link replay --json`` is the next frame tshark shows; nothing else is left over."""
    replay = stampside("link", "replay", str(capture), "--json")
    assert replay.returncode == 0, replay.stderr
    records = [line for line in json_lines(replay.stdout) if line["kind"] != "marker"]
    packets = tshark(dissector, capture)
    shown = [p for p in packets if flat(p.get("stampside", {})).get("stampside.kind") not in NOT_FRAMES]
    assert len(shown) == len(records), (len(shown), len(records))
    for record, layers in zip(records, shown, strict=True):
        assert_same_frame(record, layers)
    return records


# -- a live session ---------------------------------------------------------------------------------


def test_a_noisy_live_capture_decodes_in_tshark_as_in_link_replay(dissector: Path, tmp_path: Path) -> None:
    sim = SimProcess(
        *("--listen", "127.0.0.1:0", "--no-state", "--seed", "11", "--rate", "25", "--versions", "1-2"),
        *("--corrupt", "0.004", "--truncate", "0.05", "--duplicate", "0.05"),
        *("--drop-every", "1.5", "--drop-for", "0.3", "--drop-mode", "close", "--quiet"),
    )
    capture = tmp_path / "session.pcapng"
    try:
        result = stampside("link", "capture", sim.socket_url, str(capture), "--arm", "--duration", "4",
                           "--link-timeout", "0.5")  # fmt: skip
    finally:
        sim.stop()
    assert result.returncode == 0, result.stderr
    records = assert_tshark_matches_replay(dissector, capture)
    kinds = {(r["dir"], r["kind"]) for r in records}
    assert {("rx", "frame"), ("tx", "frame"), ("rx", "bad_frame")} <= kinds
    assert {"STAMP", "HEARTBEAT", "DEVICE_INFO", "HELLO"} <= {r.get("type") for r in records}
    events = [flat(p.get("stampside", {})).get("stampside.event") for p in tshark(dissector, capture)]
    assert events.count("open") >= 2 and "close" in events  # the reconnects are in the capture


# -- random damaged sessions ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_damaged_sessions_decode_in_tshark_as_in_link_replay(dissector: Path, tmp_path: Path, seed: int) -> None:
    native, capture = tmp_path / "s.jsonl", tmp_path / "s.pcapng"
    write_jsonl(native, random_session(seed, frames=250))
    capture_to_pcapng(native, capture)
    records = assert_tshark_matches_replay(dissector, capture)
    reasons = {r["reason"] for r in records if r["kind"] == "bad_frame"}
    assert {"cobs", "crc", "version"} <= reasons
    assert "unknown" in {r["kind"] for r in records}


def test_oversize_runs_and_their_discarded_rest(dissector: Path, tmp_path: Path) -> None:
    native, capture = tmp_path / "s.jsonl", tmp_path / "s.pcapng"
    stamp = bytes.fromhex(json.loads(VECTORS.read_text())["frames"][10]["hex"])
    entries = [(0.0, "open", b"")]
    entries += [(0.001 * i, "rx", b"\x07" * 30) for i in range(1, 5)]  # oversize in the 3rd chunk
    entries += [(0.005, "rx", b"\x07\x07\x00" + stamp), (0.006, "rx", b"\x01" * 75 + b"\x00" + stamp)]
    entries += [(0.007, "rx", b"\x09" * 90), (0.008, "close", b""), (0.009, "open", b""), (0.010, "rx", stamp)]
    write_jsonl(native, entries)
    capture_to_pcapng(native, capture)
    records = assert_tshark_matches_replay(dissector, capture)
    assert [(r["kind"], r.get("reason")) for r in records] == [
        ("bad_frame", "oversize"),
        ("frame", None),
        ("bad_frame", "oversize"),
        ("frame", None),
        ("bad_frame", "oversize"),
        ("frame", None),
    ]
    kinds = [flat(p.get("stampside", {})).get("stampside.kind") for p in tshark(dissector, capture)]
    assert "discarded" in kinds


# -- the vectors ----------------------------------------------------------------------------------


def _vectors_capture(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    vectors = json.loads(VECTORS.read_text())
    data = pcapng.section_header("firmware_protocol/vectors.json") + pcapng.interface_description("vectors")
    start = 1_764_068_400_000_000
    for i, vector in enumerate([*vectors["frames"], *vectors["bad_frames"]]):
        inbound = vector.get("sender", "device") == "device"
        flags = pcapng.FLAGS_INBOUND if inbound else pcapng.FLAGS_OUTBOUND
        data += pcapng.enhanced_packet(start + 1000 * i, bytes.fromhex(vector["hex"]), flags=flags)
    path.write_bytes(data)
    return vectors["frames"], vectors["bad_frames"]


def test_every_vector_decodes_in_tshark_to_its_fields(dissector: Path, tmp_path: Path) -> None:
    capture = tmp_path / "vectors.pcapng"
    frames, bad_frames = _vectors_capture(capture)
    packets = tshark(dissector, capture)
    assert len(packets) == len(frames) + len(bad_frames)
    for vector, layers in zip(frames, packets[: len(frames)], strict=True):
        shown = flat(layers["stampside"])
        where = f"{vector['name']}: {shown}"
        assert shown["stampside.kind"] == "frame", where
        assert shown["stampside.message"] == vector["type"], where
        assert _number(shown["stampside.type"]) == SCHEMA.message(vector["type"]).type_id, where
        assert _number(shown["stampside.version"]) == vector["version"], where
        assert _number(shown["stampside.flags"]) == vector["flags"], where
        assert _number(shown["stampside.lseq"]) == vector["lseq"], where
        assert "stampside.crc" in shown and "stampside.malformed" not in shown, where
        assert_fields_match(shown, vector["type"], vector["version"], vector["fields"])
    for vector, layers in zip(bad_frames, packets[len(frames) :], strict=True):
        shown = flat(layers["stampside"])
        assert shown["stampside.kind"] == "bad_frame", vector["name"]
        assert shown["stampside.bad_reason"] == vector["reason"], vector["name"]
        assert "stampside.malformed" in shown and "_ws.malformed" in shown, vector["name"]


def test_the_display_filters_of_the_docs_work(dissector: Path, tmp_path: Path) -> None:
    capture = tmp_path / "vectors.pcapng"
    frames, bad_frames = _vectors_capture(capture)
    assert len(tshark(dissector, capture, "-Y", "stampside.malformed")) == len(bad_frames)
    stamps = [f["fields"]["seq"] for f in frames if f["type"] == "STAMP"]
    later = tshark(dissector, capture, "-Y", "stampside.stamp.seq > 1235")
    assert len(later) == len([s for s in stamps if s > 1235]) > 0
    replayed = tshark(dissector, capture, "-Y", "stampside.flags.replay == 1")
    assert [flat(p["stampside"])["stampside.message"] for p in replayed] == ["STAMP"]
    assert len(tshark(dissector, capture, "-Y", 'stampside.bad_reason == "crc"')) == len(
        [b for b in bad_frames if b["reason"] == "crc"]
    )
