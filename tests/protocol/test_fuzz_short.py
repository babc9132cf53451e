"""Short, seeded runs of both fuzzers (``bench/fuzz_decoder.py`` runs the long ones).

The Python decoder runs under atheris in a child process (its instrumentation stays out of
pytest's), the C decoder as a libFuzzer target built with clang into a temporary folder. Each
must run every input it was asked for and crash on none. The fuzz target's checks also run here
in-process on the seeds, and on a decoder broken on purpose, so a target that checks nothing
would fail.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import fuzz_target
from stampside.firmware_protocol.framing import BadFrame
from stampside.firmware_protocol.messages import Stamp

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "fuzz_decoder.py"
C_SOURCES = ROOT / "firmware_protocol" / "c" / "src"

PY_RUNS = 10_000
C_RUNS = 200_000

#: Inputs the fuzzers once crashed on (none yet): each must pass the checks now.
REGRESSIONS: dict[str, bytes] = {}


def _fuzz(*args: str, timeout: float) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )
    lines = result.stdout.strip().splitlines()
    assert lines, f"no figures printed (exit {result.returncode}):\n{result.stderr[-3000:]}"
    figures: dict[str, Any] = json.loads(lines[-1])
    assert figures["crashes"] == 0, f"the fuzzer crashed: {figures.get('error')}; kept: {figures['artifacts']}"
    assert result.returncode == 0, result.stderr[-3000:]
    return figures


@pytest.mark.skipif(
    sys.platform != "linux", reason="atheris has wheels for Linux only (the test extra installs it there)"
)
def test_python_decoder_short_fuzz() -> None:
    figures = _fuzz("--runs", str(PY_RUNS), "--seed", "1", timeout=120)
    assert figures["inputs"] == PY_RUNS
    assert figures["seeds"] > 20
    assert figures["cov"] > 100 and figures["ft"] > figures["cov"]


@pytest.mark.skipif(
    shutil.which("clang") is None, reason="clang is missing (scripts/ensure_system_tools.sh installs it)"
)
@pytest.mark.skipif(not C_SOURCES.is_dir(), reason="no C decoder in this tree (firmware_protocol/c/src)")
def test_c_decoder_short_fuzz(tmp_path: Path) -> None:
    figures = _fuzz("--c", "--runs", str(C_RUNS), "--seed", "1", "--build", str(tmp_path), timeout=120)
    assert figures["inputs"] == C_RUNS
    assert figures["cov"] > 100 and figures["ft"] > figures["cov"]


@pytest.mark.parametrize("name", sorted(fuzz_target.seed_inputs()))
def test_seed_passes_the_checks(name: str) -> None:
    fuzz_target.check(fuzz_target.seed_inputs()[name])


def test_former_crashes_pass_the_checks() -> None:
    for data in REGRESSIONS.values():
        fuzz_target.check(data)


def test_chunking_cycles_the_lengths() -> None:
    mode, chunks, stream = fuzz_target.parse_input(bytes((0x02, 1, 2)) + b"abcdefg")
    assert (mode, stream) == (0x02, b"abcdefg")
    assert chunks == [b"a", b"bc", b"d", b"ef", b"g", b"", b""]
    assert fuzz_target.parse_input(bytes((0x01, 0)) + b"abc")[1] == [b"abc"]


def test_frame_mode_encodes_records() -> None:
    raw = bytes.fromhex("10 11 00") + bytes(13)
    stream = fuzz_target.build_frames(fuzz_target.frame_record(raw) + bytes((0x82,)) + b"\x01\x00")
    assert stream.endswith(b"\x01\x00")
    (frame, bad), _ = fuzz_target.check_decoder(stream)
    assert frame == raw
    assert isinstance(bad, BadFrame) and (bad.reason, bad.wire) == ("short", b"\x01")


def test_the_checks_catch_a_wrong_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """A STAMP decoder that loses the zone must not get past the round trip."""
    real = Stamp.from_payload

    def lossy(payload: bytes, version: int = 1) -> Stamp:
        return dataclasses.replace(real(payload, version), zone=0)

    monkeypatch.setattr(Stamp, "from_payload", staticmethod(lossy))
    stamp_in_zone_3 = fuzz_target.seed_inputs()["frame stamp in vertex"]
    with pytest.raises(fuzz_target.InvariantBroken, match="round-trip"):
        fuzz_target.check(stamp_in_zone_3)


def test_a_device_info_serial_the_encoder_refuses_is_one_the_protocol_forbids() -> None:
    assert fuzz_target.serial_valid(b"SS-1".ljust(12, b"\x00"))
    assert not fuzz_target.serial_valid(bytes(12))
    assert not fuzz_target.serial_valid(b"SS\x001".ljust(12, b"\x00"))
    assert not fuzz_target.serial_valid(b"SS-\xe9".ljust(12, b"\x00"))
