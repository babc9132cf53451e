"""``stampside sim`` as QA runs it: a subprocess, a pty or a TCP port, and pyserial on the host side."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import serial  # type: ignore[import-untyped]

from stampside.firmware_protocol import Ack, Arm, Connection, Frame, Hello, Message, MessageType, Resume, Role, Stamp
from stampside.simulator.truth import read_truth

STAMPSIDE = str(Path(sys.executable).with_name("stampside"))


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STAMPSIDE, "sim", *args], capture_output=True, text=True, timeout=timeout)


class Sim:
    """A ``stampside sim`` subprocess, started and waited for by its stdout line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [STAMPSIDE, "sim", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.ready_line = self._read_line(20)

    def _read_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.proc.kill()
            raise AssertionError("the simulator printed no ready line")
        line = self.proc.stdout.readline().strip()
        if not line:
            _, err = self.proc.communicate(timeout=5)
            raise AssertionError(f"the simulator exited: {err}")
        return line

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=10)
        return self.proc.returncode, err


@pytest.fixture
def sims() -> Iterator[Callable[..., Sim]]:
    started: list[Sim] = []

    def start(*args: str) -> Sim:
        sim = Sim(*args)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        if sim.proc.poll() is None:
            sim.proc.kill()
            sim.proc.communicate()


class SerialHost:
    """A blocking host on pyserial: what a QA script or the link layer opens."""

    def __init__(self, url: str) -> None:
        self.port = serial.serial_for_url(url, timeout=0.02)
        self.conn = Connection(Role.HOST)
        self.frames: list[Frame] = []

    def close(self) -> None:
        self.port.close()

    def send(self, message: Message) -> None:
        self.port.write(self.conn.send(message))

    def read_until(self, done: Callable[[list[Frame]], bool], timeout: float = 10.0) -> list[Frame]:
        deadline = time.monotonic() + timeout
        while not done(self.frames):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; got {len(self.frames)} frames")
            data = self.port.read(4096)
            self.frames += [e for e in self.conn.receive_data(data) if isinstance(e, Frame)]
        return self.frames

    def handshake(self) -> None:
        self.port.write(b"\x00" + self.conn.send(Hello(1, 1)))
        self.read_until(lambda fs: any(f.message.TYPE == MessageType.DEVICE_INFO and not f.flags for f in fs))

    def stamps(self) -> list[Stamp]:
        return [f.message for f in self.frames if isinstance(f.message, Stamp)]


# -- help and user errors ------------------------------------------------------------


def test_help_lists_the_flags_and_the_scenarios() -> None:
    result = run("--help")
    assert result.returncode == 0
    for flag in ("--pty LINK", "--listen HOST:PORT", "--drop-every", "--drop-for", "--drop-mode", "--corrupt",
                 "--truncate", "--duplicate", "--reboot-every", "--battery", "--needle-um", "--head-id",
                 "--head-uses", "--seed", "--stamps", "--rate", "--truth", "--buffer-size", "--serial",
                 "--armed", "--scenario", "--baud", "--quiet", "--verbose"):
        assert flag in result.stdout
    assert "flaky_link" in result.stdout and "pty /dev/pts/5 -> /tmp/stamp" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--corrupt", "2"], "--corrupt: Input should be less than or equal to 1 (got 2.0)"),
        (["--rate", "fast"], "'fast' is not a valid float"),
        (["--listen", "nowhere"], "--listen: expected HOST:PORT"),
        (["--pty", "/tmp/x", "--listen", "127.0.0.1:0"], "choose a pty or a TCP address, not both"),
        (["--versions", "two"], "expected MIN-MAX"),
        (["--drop-every", "1", "--drop-for", "2"], "drop_for (2.0 s) must be shorter than drop_every (1.0 s)"),
        (["--serial", "a-serial-that-is-too-long"], "--serial: String should have at most 12 characters"),
        (["--pty", "/nonexistent-dir/stamp"], "cannot create the pty link /nonexistent-dir/stamp"),
        (["--pty", ""], "--pty '.' names no file for the link: give a path such as /tmp/stamp"),
        (["--pty", "/"], "--pty '/' names no file for the link"),
        (["--truth", "/nonexistent-dir/t.jsonl"], "cannot write the truth log /nonexistent-dir/t.jsonl"),
        (["--scenario", "no_such_scenario"], "no such file (shipped scenarios: "),
    ],
)
def test_user_errors_are_one_line_and_exit_2(args: list[str], expected: str) -> None:
    result = run(*args, "--quiet")
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    # One error line (click puts a usage hint above its own parsing errors).
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and expected in errors[0]


def test_a_bad_scenario_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[faults]\ndrop_for = -1\n[[timeline]]\nat_stamp = 3\naction = "battery"\n')
    result = run("--scenario", str(path))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"Error: scenario {path}: faults.drop_for: Input should be greater than 0 (got -1); "
        f"scenario {path}: timeline[0].pct: Field required"
    )


def test_a_scenario_that_is_not_text_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 not a scenario")
    result = run("--scenario", str(path), "--no-state")
    assert result.returncode == 2
    assert result.stderr == f"Error: scenario {path}: not UTF-8 text, so not a TOML file\n"


def test_a_regular_file_at_the_link_path_is_not_replaced(tmp_path: Path) -> None:
    link = tmp_path / "stamp"
    link.write_text("keep me")
    result = run("--pty", str(link))
    assert result.returncode == 2
    assert "exists and is not a symlink" in result.stderr
    assert link.read_text() == "keep me"


def test_a_link_a_live_simulator_serves_is_refused_and_left_to_it(sims: Callable[..., Sim], tmp_path: Path) -> None:
    link = tmp_path / "stamp"
    first = sims("--pty", str(link), "--no-state", "-q")
    first_pty = first.ready_line.split()[1]
    second = run("--pty", str(link), "--no-state", "--serial", "SS-000002", "-q")
    assert second.returncode == 2
    assert second.stderr == (
        f"Error: {link} is served by another simulator (pid {first.proc.pid}): stop it, or choose another path "
        "for --pty\n"
    )
    assert second.stdout == ""
    # The first simulator still has its link, and answers on it.
    assert os.readlink(link) == first_pty
    host = SerialHost(str(link))
    try:
        host.handshake()
    finally:
        host.close()
    assert first.stop()[0] == 0
    assert sorted(tmp_path.iterdir()) == []  # its link and its lock file are gone with it


def test_a_link_left_by_a_killed_simulator_is_taken_over(sims: Callable[..., Sim], tmp_path: Path) -> None:
    link = tmp_path / "stamp"
    killed = sims("--pty", str(link), "--no-state", "-q")
    killed.stop(signal.SIGKILL)
    assert link.is_symlink()  # left behind, pointing at a pty nobody serves
    second = sims("--pty", str(link), "--no-state", "--serial", "SS-000002", "-q")
    assert second.ready_line == f"pty {os.readlink(link)} -> {link}"
    host = SerialHost(str(link))
    try:
        host.handshake()
        info = next(f.message for f in host.frames if f.message.TYPE == MessageType.DEVICE_INFO)
    finally:
        host.close()
    assert info.serial == "SS-000002"  # type: ignore[attr-defined]
    assert second.stop()[0] == 0
    assert sorted(tmp_path.iterdir()) == []


def test_a_busy_port_is_exit_2() -> None:
    with socket.create_server(("127.0.0.1", 0)) as blocker:
        port = blocker.getsockname()[1]
        result = run("--listen", f"127.0.0.1:{port}")
    assert result.returncode == 2
    assert f"Error: cannot listen on 127.0.0.1:{port}:" in result.stderr
    assert "Traceback" not in result.stderr


# -- running -------------------------------------------------------------------------


def test_pty_session_with_pyserial_then_sigterm(sims: Callable[..., Sim], tmp_path: Path) -> None:
    link = tmp_path / "stamp"
    truth = tmp_path / "truth.jsonl"
    sim = sims("--pty", str(link), "--rate", "300", "--seed", "3", "--truth", str(truth))
    slave = sim.ready_line.split()[1]
    assert sim.ready_line == f"pty {slave} -> {link}"
    assert os.path.realpath(link) == os.path.realpath(slave)
    host = SerialHost(str(link))
    try:
        host.handshake()
        host.send(Arm())
        host.read_until(lambda fs: len([f for f in fs if f.message.TYPE == MessageType.STAMP]) >= 30)
        received = host.stamps()
        host.send(Ack(1, received[-1].seq))
    finally:
        host.close()
    code, err = sim.stop()
    assert code == 0, err
    assert not link.exists() and not link.is_symlink()
    records = read_truth(truth)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    by_seq = {r["seq"]: r for r in records}
    for s in received:
        assert by_seq[s.seq] == {"boot": s.boot, "seq": s.seq, "device_time_ms": s.device_time_ms,
                                 "force": s.force_dn / 10, "contact_ms": s.contact_ms, "zone": s.zone}
    assert "seed 3" in err and "HELLO v1–v1" in err


def test_the_app_can_close_and_reopen_the_pty(sims: Callable[..., Sim], tmp_path: Path) -> None:
    link = tmp_path / "stamp"
    sim = sims("--pty", str(link), "--armed", "--rate", "500", "--stamps", "100", "-q")
    for _ in range(2):
        host = SerialHost(str(link))
        try:
            host.handshake()
            host.send(Resume(0, 0))
            host.read_until(lambda fs: any(f.message.TYPE == MessageType.RESUME_REPLY for f in fs))
        finally:
            host.close()
    assert sim.stop()[0] == 0


def test_tcp_session_exits_by_itself_once_everything_is_acked(sims: Callable[..., Sim], tmp_path: Path) -> None:
    sim = sims("--listen", "127.0.0.1:0", "--armed", "--rate", "1000", "--stamps", "50", "--exit-when-acked",
               "--corrupt", "0", "-q")
    kind, address = sim.ready_line.split()
    assert kind == "listen" and address.startswith("127.0.0.1:")
    host = SerialHost(f"socket://{address}")
    try:
        host.handshake()
        host.send(Resume(0, 0))
        host.read_until(lambda fs: {s.seq for s in host.stamps()} >= set(range(1, 51)))
        host.send(Ack(1, 50))
        sim.proc.wait(timeout=10)
    finally:
        host.close()
    assert sim.proc.returncode == 0


def test_a_shipped_scenario_runs_with_flags_on_top(sims: Callable[..., Sim]) -> None:
    sim = sims("--scenario", "reboot_storm", "--armed", "--rate", "2000", "--reboot-every", "20",
               "--duration", "0.5")
    _, err = sim.proc.communicate(timeout=20)  # --duration ends it
    assert sim.proc.returncode == 0, err
    assert "scenario: reboot storm" in err
    assert "device rebooting at seq 20 " in err


def test_the_help_and_the_docs_give_the_default_versions_the_device_speaks() -> None:
    from stampside.simulator.config import DeviceConfig

    low, high = DeviceConfig().versions
    assert f"(default {low}-{high})" in " ".join(run("--help").stdout.split())
    docs = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text(encoding="utf-8")
    assert f"| `--versions MIN-MAX` | `device.versions` | `[{low}, {high}]` |" in docs
