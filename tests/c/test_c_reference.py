"""The C reference implementation of the device side (firmware_protocol/c/).

Builds it with ``make`` into a folder of this run's own (parallel workers do not share
``build/``), runs its unit tests (every vector, bad frames, the ring buffer across a reboot, a
scripted conversation) plain and under AddressSanitizer + UndefinedBehaviorSanitizer, then
checks ``stampdev`` and the core with the Python package: stampdev answers HELLO with
DEVICE_INFO and counts, sends and exits like the simulator, and the core sends the Python
device model's bytes for the same scripted events. Skipped without a C compiler and make
(scripts/ensure_system_tools.sh installs them from Debian's packages).
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stampside.firmware_protocol import (
    Ack,
    Arm,
    DeviceInfo,
    Disarm,
    Frame,
    Heartbeat,
    Hello,
    Message,
    Ping,
    Resume,
    Role,
    Stamp,
    TimeSync,
)
from stampside.firmware_protocol.connection import Connection, Event
from stampside.simulator.config import DeviceConfig, StampingConfig
from stampside.simulator.device import Device
from stampside.simulator.stamping import StampValues
from stampside.simulator.truth import TRUTH_KEYS
from tests.c.conftest import Build, needs_c_toolchain
from tests.c.conftest import make as _make

TIMEOUT = 10.0

pytestmark = needs_c_toolchain


@pytest.fixture(scope="module")
def unit_tests(build: Build) -> subprocess.CompletedProcess[str]:
    return _make(f"BUILD={build.folder}", "test")


def test_the_library_and_stampdev_build_without_warnings(build: Build) -> None:
    assert (build.folder / "libstampside.a").is_file()
    assert build.stampdev.is_file()
    assert "warning" not in build.output.lower()
    assert "-Werror" in build.output and "-std=c99" in build.output


def test_the_unit_tests_pass_plain_and_under_the_sanitizers(unit_tests: subprocess.CompletedProcess[str]) -> None:
    output = unit_tests.stdout + unit_tests.stderr
    assert unit_tests.returncode == 0, output
    assert output.count("ALL TESTS PASSED") == 2, output
    assert "-fsanitize=address,undefined" in output
    assert "runtime error" not in output and "AddressSanitizer" not in output.replace("under AddressSanitizer", "")
    assert "warning" not in output.lower()


# --- stampdev ---------------------------------------------------------------------------


class Stampdev:
    """A running stampdev and a host connection to it."""

    def __init__(self, binary: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(binary), "--listen", "127.0.0.1:0", "--quiet", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        assert line[:1] == ["listen"], line
        host, _, port = line[1].rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        self.conn = Connection(Role.HOST)

    def send(self, *messages: Message, flush: bool = False) -> None:
        data = b"\x00" if flush else b""
        self.sock.sendall(data + b"".join(self.conn.send(m) for m in messages))

    def until(self, done: Callable[[list[Event]], bool]) -> list[Event]:
        events: list[Event] = []
        deadline = time.monotonic() + TIMEOUT
        while not done(events):
            assert time.monotonic() < deadline, f"timed out; got {events}"
            data = self.sock.recv(4096)
            assert data, "stampdev closed the connection"
            events += self.conn.receive_data(data)
        return events

    def close(self) -> None:
        self.sock.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.communicate(timeout=TIMEOUT)


@pytest.fixture
def stampdev(build: Build) -> Iterator[Callable[..., Stampdev]]:
    started: list[Stampdev] = []

    def start(*args: str) -> Stampdev:
        started.append(Stampdev(build.stampdev, *args))
        return started[-1]

    yield start
    for dev in started:
        dev.close()


def _messages(events: list[Event], kind: type[Message]) -> list[Message]:
    return [e.message for e in events if isinstance(e, Frame) and isinstance(e.message, kind)]


def test_stampdev_answers_hello_with_device_info(stampdev: Callable[..., Stampdev]) -> None:
    dev = stampdev("--stamps", "3", "--serial", "SS-C00001", "--boot", "7")
    dev.send(Hello(1, 2), flush=True)
    events = dev.until(lambda ev: bool(_messages(ev, DeviceInfo)))
    info = _messages(events, DeviceInfo)[0]
    assert isinstance(info, DeviceInfo)
    assert (info.serial, info.selected_version, info.boot, info.last_seq) == ("SS-C00001", 2, 7, 0)
    assert (info.min_version, info.max_version) == (1, 2)


def test_stampdev_counts_sends_and_exits_once_everything_is_acknowledged(
    stampdev: Callable[..., Stampdev], tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    dev = stampdev("--stamps", "5", "--rate", "200", "--truth", str(truth), "--seed", "1")
    dev.send(Hello(1, 2), flush=True)
    dev.until(lambda ev: bool(_messages(ev, DeviceInfo)))
    dev.conn.version = 2
    dev.send(TimeSync(1_764_067_200_123), Resume(0, 0, 0), Arm())
    events = dev.until(lambda ev: len(_messages(ev, Stamp)) >= 5)
    stamps = [m for m in _messages(events, Stamp) if isinstance(m, Stamp)]
    dev.send(Ack(stamps[-1].boot, stamps[-1].seq))
    assert dev.proc.wait(timeout=TIMEOUT) == 0
    records = [json.loads(line) for line in truth.read_text().splitlines()]
    assert [tuple(r) for r in records] == [TRUTH_KEYS] * 5
    assert records == [
        {
            "boot": s.boot,
            "seq": s.seq,
            "device_time_ms": s.device_time_ms,
            "force": s.force_dn / 10,
            "contact_ms": s.contact_ms,
            "zone": s.zone,
        }
        for s in stamps
    ]
    assert [s.seq for s in stamps] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "args",
    [[], ["--listen"], ["--listen", "nowhere"], ["--listen", "127.0.0.1:0", "--rate", "x"], ["--bogus", "1"]],
)
def test_stampdev_refuses_bad_arguments_with_one_line(build: Build, args: list[str]) -> None:
    result = subprocess.run([str(build.stampdev), *args], capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_stampdev_help(build: Build) -> None:
    result = subprocess.run([str(build.stampdev), "--help"], capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0
    for flag in ("--listen", "--stamps", "--rate", "--truth", "--boot", "--drop-every", "--corrupt", "--state"):
        assert flag in result.stdout


# --- the core against the Python device model -------------------------------------------
#
# A script is a list of steps, each (command, *numbers-or-hex), in stampscript's language
# (posix/stampscript.c): the C core runs it through stampscript, the Python device model through
# _python_device_output; both must send the same bytes at every step. The battery is steady
# (the C core takes readings, it does not drain one) and a reboot is silent for 0 s.

Step = tuple[str, *tuple[int | str, ...]]


@dataclass(frozen=True)
class Setup:
    versions: tuple[int, int] = (1, 2)
    capacity: int = 4096
    epoch: int = 0x5EED1234


def _python_device_output(script: list[Step], setup: Setup, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What simulator/device.py sends at each step of ``script`` (hex)."""
    config = DeviceConfig(
        epoch=setup.epoch,
        versions=setup.versions,
        buffer_size=setup.capacity,
        battery_per_stamp=0,
        battery_per_minute=0,
        reboot_silence=0,
    )
    device: Device | None = None
    out: list[str] = []
    for op, *args in script:
        numbers = [int(a) for a in args if isinstance(a, int)]
        at = numbers[0] / 1000 if numbers and op != "replay" else 0.0
        if op == "boot":
            device = Device(config, StampingConfig(stamps=0), seed=1, now=at)
            out.append(b"".join(device.take_frames()).hex())
            continue
        assert device is not None
        frames: list[bytes] = []
        if op == "bytes":
            device.receive(bytes.fromhex(str(args[1])), at)
        elif op == "tick":
            device.advance(at)
        elif op == "stamp":
            values = StampValues(numbers[1], numbers[2], numbers[3])
            monkeypatch.setattr(device.generator, "values", lambda index, v=values: v)
            device._now = max(device._now, at)
            if device.armed:
                device._stamp(at)
        elif op == "reboot":
            device.reboot(at)
            device.advance(at)
        elif op in ("connect", "disconnect"):
            device.link_reset(at)
        elif op == "battery":
            device.set_battery(numbers[1], at)
        elif op == "arm":
            device.arm(at)
        elif op == "disarm":
            device.disarm(at)
        elif op == "replay":
            frames = device.take_frames() + device.take_replay(numbers[0])
        out.append(b"".join(frames or device.take_frames()).hex())
    return out


def _c_core_output(build: Build, script: list[Step], setup: Setup) -> list[str]:
    lines = [
        f"config versions {setup.versions[0]} {setup.versions[1]}",
        f"config capacity {setup.capacity}",
        f"config epoch {setup.epoch}",
    ] + [" ".join(str(part) for part in step) for step in script]
    result = subprocess.run(
        [str(build.stampscript)], input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split("\n")[:-1]


def _assert_same_bytes(build: Build, script: list[Step], setup: Setup, monkeypatch: pytest.MonkeyPatch) -> int:
    c_out = _c_core_output(build, script, setup)
    py_out = _python_device_output(script, setup, monkeypatch)
    assert list(zip(script, c_out, strict=True)) == list(zip(script, py_out, strict=True))
    return sum(1 for hex_text in py_out if hex_text)


class Host:
    """Host frames for a script, as hex."""

    def __init__(self) -> None:
        self.conn = Connection(Role.HOST)

    def wire(self, *messages: Message, version: int = 0, flush: bool = False) -> str:
        if version:
            self.conn.version = version
        return ((b"\x00" if flush else b"") + b"".join(self.conn.send(m) for m in messages)).hex()


def test_the_core_sends_the_simulators_bytes(build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    host = Host()
    wire = host.wire
    script: list[Step] = [
        ("boot", 0),
        ("bytes", 10, wire(Ping(5))),
        ("bytes", 20, wire(Hello(1, 2), flush=True)),
        ("bytes", 25, wire(TimeSync(1_764_067_200_123), Resume(0, 0, 0), Arm(), version=2)),
        ("stamp", 100, 64, 182, 0),
        ("stamp", 200, 65, 4000, 3),
        ("tick", 524),
        ("tick", 525),
        ("bytes", 800, wire(Ack(1, 1))),
        ("bytes", 1100, wire(Resume(1, 0, 0x1234), Ack(1, 2))),
        ("replay", 10),
        ("battery", 1200, 14, 3426),
        ("tick", 4000),
        ("stamp", 4100, 50, 100, 1),
        ("bytes", 4400, wire(Ping(6))),
        ("reboot", 5000),
        ("bytes", 5100, wire(Ping(7))),
        ("bytes", 5200, wire(Hello(1, 1), version=1, flush=True)),
        ("bytes", 5300, wire(Resume(1, 1))),
        ("replay", 64),
        ("connect", 5600),
        ("bytes", 5800, wire(Hello(3, 4), flush=True)),
        ("bytes", 5900, wire(Arm())),
    ]
    assert _assert_same_bytes(build, script, Setup(), monkeypatch) > 15


def _random_script(rng: random.Random) -> list[Step]:
    """A few hundred events a host, a practitioner and the power supply might cause, noise included."""
    host = Host()
    commands: list[Callable[[], Message]] = [
        lambda: Hello(1, 2),
        lambda: Hello(1, 1),
        lambda: Hello(2, 3),
        lambda: Hello(3, 4),
        lambda: Ping(rng.randrange(2**32)),
        Arm,
        Disarm,
        lambda: Ack(1, rng.randrange(40)),
        lambda: Resume(rng.randrange(3), rng.randrange(40), rng.choice([0, 0x5EED1234, 7])),
        lambda: TimeSync(rng.randrange(2**40)),
        lambda: Heartbeat(1, 2, 0, 0),
    ]
    t = 0
    script: list[Step] = [("boot", 0)]
    for _ in range(rng.randrange(50, 300)):
        t += rng.choice([0, 1, 5, 50, 300, 700, 2500])
        r = rng.random()
        if r < 0.45:
            version = rng.choice([1, 1, 2, 2, 3])
            data = bytearray.fromhex(
                host.wire(*(rng.choice(commands)() for _ in range(rng.randrange(1, 4))), version=version)
            )
            if rng.random() < 0.3:
                data[:0] = b"\x00"
            if rng.random() < 0.15:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            if rng.random() < 0.05:
                data += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 100))) + b"\x00"
            script.append(("bytes", t, data.hex()))
        elif r < 0.65:
            script.append(("stamp", t, rng.randrange(1, 256), rng.randrange(1, 4096), rng.randrange(6)))
        elif r < 0.8:
            script.append(("tick", t))
        elif r < 0.87:
            script.append(("replay", rng.randrange(1, 70)))
        elif r < 0.9:
            script.append(("connect", t))
            host = Host()
        elif r < 0.92:
            script.append(("reboot", t))
        elif r < 0.95:
            pct = rng.randrange(101)
            script.append(("battery", t, pct, 3300 + 900 * pct // 100))
        else:
            script.append((rng.choice(["arm", "disarm"]), t))
    return script


@pytest.mark.parametrize("seed", range(40))
def test_the_core_sends_the_simulators_bytes_for_random_events(
    build: Build, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rng = random.Random(seed)
    setup = Setup(versions=rng.choice([(1, 2), (1, 1), (2, 2)]), capacity=rng.choice([3, 10, 4096]))
    _assert_same_bytes(build, _random_script(rng), setup, monkeypatch)
