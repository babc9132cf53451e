"""The simulator remembers its life between runs (simulator/state.py): boot, seq, epoch and buffer.

The runs that matter are real ``stampside sim`` subprocesses sharing a state file: a second
run is the same stamp powered up again, ``--boot N`` is a wiped one, a SIGKILL never makes a
seq go back. The in-process API keeps no state unless it is given a file.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stampside.firmware_protocol import Ack, MessageType, Resume, ResumeReply, Stamp
from stampside.simulator.config import DeviceConfig
from stampside.simulator.errors import ScenarioError
from stampside.simulator.runner import Simulator
from stampside.simulator.scenario import load_scenario
from stampside.simulator.state import (
    SEQ_BLOCK,
    PersistentState,
    SavedDevice,
    StateError,
    StateFile,
    default_state_path,
    plan_power_up,
)
from stampside.simulator.truth import read_truth
from tests.simulator.conftest import config
from tests.simulator.test_cli import STAMPSIDE, SerialHost

# -- helpers -------------------------------------------------------------------------


class SimRun:
    """``stampside sim`` on a free TCP port, waited for by its ready line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [STAMPSIDE, "sim", "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().strip() if ready else ""
        if not line:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"the simulator did not start: {err}")
        self.url = "socket://" + line.split()[1]
        self.err = ""

    def stop(self, sig: int = signal.SIGTERM) -> str:
        """Send ``sig`` and wait; stderr. Fails the test unless a SIGTERM stop exits 0."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        _, self.err = self.proc.communicate(timeout=15)
        if sig == signal.SIGTERM:
            assert self.proc.returncode == 0, self.err
        return self.err

    def wait(self) -> str:
        _, self.err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, self.err
        return self.err


@pytest.fixture
def sim_runs() -> Iterator[Callable[..., SimRun]]:
    started: list[SimRun] = []

    def start(*args: str) -> SimRun:
        run = SimRun(*args)
        started.append(run)
        return run

    yield start
    for run in started:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.communicate()


def sim(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STAMPSIDE, "sim", *args], capture_output=True, text=True, timeout=timeout)


def truth_lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_for(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def saved(path: Path, serial: str = "SS-000001") -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(path.read_text())["devices"][serial]
    return entry


def stamp(boot: int, seq: int) -> Stamp:
    return Stamp(boot, seq, seq * 10, 60, 180, 0)


# -- two runs of `stampside sim` -------------------------------------------------------


def test_a_second_run_is_the_same_stamp_powered_up_again(tmp_path: Path) -> None:
    # No --state: the default file in the user state folder (the suite points it at this test's own).
    state = default_state_path()
    assert str(state).startswith(os.environ["XDG_STATE_HOME"])
    first, second = tmp_path / "t1.jsonl", tmp_path / "t2.jsonl"
    one = sim("--armed", "--rate", "400", "--duration", "0.4", "--truth", str(first), "--listen", "127.0.0.1:0")
    assert one.returncode == 0, one.stderr
    assert f"state file {state}: SS-000001 is a new device" in one.stderr
    two = sim("--armed", "--rate", "400", "--duration", "0.4", "--truth", str(second), "--listen", "127.0.0.1:0")
    assert two.returncode == 0, two.stderr

    run1, run2 = read_truth(first), read_truth(second)
    assert run1 and run2
    assert {r["boot"] for r in run1} == {1} and {r["boot"] for r in run2} == {2}
    assert [r["seq"] for r in run1] == list(range(1, len(run1) + 1))
    assert [r["seq"] for r in run2] == list(range(len(run1) + 1, len(run1) + len(run2) + 1))
    assert f"SS-000001 powers up again: boot 2, seq from {len(run1) + 1}" in two.stderr
    entry = saved(state)
    assert (entry["boot"], entry["last_seq"], entry["seq_reserved"], entry["clean"]) == (
        2, len(run1) + len(run2), len(run1) + len(run2), True
    )  # fmt: skip
    # Nobody acknowledged anything: both runs' stamps are still in the buffer.
    assert [row[:2] for row in entry["buffer"]] == [[r["boot"], r["seq"]] for r in run1 + run2]


def test_boot_n_is_a_wiped_device_with_a_new_epoch(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first, second = tmp_path / "t1.jsonl", tmp_path / "t2.jsonl"
    common = ("--state", str(state), "--armed", "--rate", "300", "--duration", "0.3", "--listen", "127.0.0.1:0")
    assert sim(*common, "--truth", str(first)).returncode == 0
    assert sim(*common, "--truth", str(first)).returncode == 0  # boot 2 now
    before = saved(state)
    assert before["boot"] == 2

    wiped = sim(*common, "--truth", str(second), "--boot", "1")
    assert wiped.returncode == 0, wiped.stderr
    assert "SS-000001 starts as a wiped device (boot 1 given)" in wiped.stderr
    run = read_truth(second)
    assert run[0]["seq"] == 1 and {r["boot"] for r in run} == {1}
    after = saved(state)
    assert after["epoch"] != before["epoch"]
    assert after["boot"] == 1 and [row[1] for row in after["buffer"]] == [r["seq"] for r in run]


def test_epoch_flag_continues_its_own_numbering_and_replaces_another(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    common = ("--state", str(state), "--armed", "--rate", "200", "--duration", "0.2", "--listen", "127.0.0.1:0")
    assert sim(*common, "--epoch", "0x00C0FFEE").returncode == 0
    assert saved(state)["epoch"] == 0xC0FFEE
    again = sim(*common, "--epoch", str(0xC0FFEE))  # decimal, the same epoch: a power cycle
    assert again.returncode == 0 and "powers up again: boot 2" in again.stderr
    other = sim(*common, "--epoch", "0xBEEF")
    assert other.returncode == 0, other.stderr
    assert "starts a new numbering (--epoch 0x0000beef, saved 0x00c0ffee)" in other.stderr
    entry = saved(state)
    assert (entry["epoch"], entry["boot"], entry["buffer"][0][1]) == (0xBEEF, 1, 1)


def test_unacknowledged_stamps_of_one_run_are_replayed_in_the_next(
    sim_runs: Callable[..., SimRun], tmp_path: Path
) -> None:
    state, first = tmp_path / "state.json", tmp_path / "t1.jsonl"
    one = sim_runs("--state", str(state), "--armed", "--rate", "500", "--stamps", "40", "--truth", str(first), "-q")
    wait_for(lambda: truth_lines(first) == 40, "40 stamps")
    one.stop()
    counted = read_truth(first)

    two = sim_runs("--state", str(state), "--truth", str(tmp_path / "t2.jsonl"), "-q")
    host = SerialHost(two.url)
    try:
        host.handshake()
        info: Any = next(f.message for f in host.frames if f.message.TYPE == MessageType.DEVICE_INFO and not f.flags)
        assert (info.boot, info.last_seq) == (2, 40)
        host.send(Resume(0, 0))
        host.read_until(lambda fs: len([f for f in fs if f.message.TYPE == MessageType.STAMP and f.replay]) >= 40)
        reply: Any = next(f.message for f in host.frames if isinstance(f.message, ResumeReply))
        assert (reply.boot, reply.first_seq, reply.count) == (1, 1, 40)
        replayed = [f.message for f in host.frames if isinstance(f.message, Stamp) and f.replay]
        assert [(s.boot, s.seq, s.device_time_ms, s.force_dn / 10, s.contact_ms, s.zone) for s in replayed] == [
            tuple(r.values()) for r in counted
        ]
        host.send(Ack(1, 40))
        time.sleep(0.2)
    finally:
        host.close()
    two.stop()
    assert saved(state)["buffer"] == []  # acknowledged in run 2: gone for good

    three = sim_runs("--state", str(state), "-q")
    host = SerialHost(three.url)
    try:
        host.handshake()
        host.send(Resume(0, 0))
        host.read_until(lambda fs: any(f.message.TYPE == MessageType.RESUME_REPLY for f in fs))
        reply = next(f.message for f in host.frames if isinstance(f.message, ResumeReply))
        assert (reply.boot, reply.first_seq, reply.count) == (3, 41, 0)
    finally:
        host.close()
    three.stop()


def test_sigkill_mid_stamping_never_lets_the_seq_go_back(sim_runs: Callable[..., SimRun], tmp_path: Path) -> None:
    state, first, second = tmp_path / "state.json", tmp_path / "t1.jsonl", tmp_path / "t2.jsonl"
    # Fast enough to use up the first block of reserved seqs before the kill.
    one = sim_runs(
        "--state", str(state), "--armed", "--rate", "6000", "--buffer-size", "100000", "--battery-per-stamp", "0",
        "--truth", str(first), "-q",
    )  # fmt: skip
    wait_for(lambda: truth_lines(first) > SEQ_BLOCK + 1500, f"more than {SEQ_BLOCK} stamps", timeout=30)
    one.stop(signal.SIGKILL)
    assert one.proc.returncode == -signal.SIGKILL
    killed = saved(state)
    assert not killed["clean"]
    # Every whole line (the kill may, in theory, cut the last one short).
    old = [json.loads(line) for line in first.read_text().splitlines(keepends=True) if line.endswith("\n")]
    newest_old = max(r["seq"] for r in old)
    assert killed["seq_reserved"] >= newest_old > SEQ_BLOCK

    two = sim_runs(
        "--state", str(state), "--armed", "--rate", "1000", "--buffer-size", "100000", "--truth", str(second),
        "--duration", "0.3",
    )  # fmt: skip
    err = two.wait()
    assert "the last run did not stop cleanly" in err
    new = read_truth(second)
    assert new and min(r["seq"] for r in new) > newest_old
    assert min(r["seq"] for r in new) == killed["seq_reserved"] + 1
    assert {r["boot"] for r in new} == {2}
    # What the killed run had saved of its buffer is still there, below the new run's stamps.
    buffer = saved(state)["buffer"]
    assert [row[1] for row in buffer] == [row[1] for row in killed["buffer"]] + [r["seq"] for r in new]


# -- mistakes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{\n  "format": "stampside-simulator-state",\n  "devices": {,}\n}\n', "is not valid JSON (line 3"),
        ('{"boot": 1}', 'is not a simulator state file (no "format": "stampside-simulator-state")'),
        (
            '{"format": "stampside-simulator-state", "version": 1, "devices": {"SS-000001": {"boot": "two"}}}',
            "is not valid: devices.SS-000001.boot must be an integer 1–65535, got 'two'",
        ),
    ],
)
def test_a_corrupt_state_file_is_one_line_and_exit_2(tmp_path: Path, text: str, expected: str) -> None:
    state = tmp_path / "state.json"
    state.write_text(text)
    result = sim("--state", str(state), "--listen", "127.0.0.1:0", "--duration", "0.1")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [result.stderr.strip()]
    assert f"Error: the simulator state file {state} {expected}" in errors[0]
    assert errors[0].endswith("; remove it or pass --state OTHER / --no-state")
    assert state.read_text() == text  # left as it was, for a person to look at


def test_state_flags_are_in_the_help_and_checked(tmp_path: Path) -> None:
    help_text = sim("--help").stdout
    for flag in ("--state FILE", "--no-state", "--epoch N", "--boot N"):
        assert flag in help_text
    assert f"[default:{default_state_path()}]" in "".join(help_text.split())  # however the path is wrapped
    for args, message in [
        (["--state", str(tmp_path / "s.json"), "--no-state"], "choose --state FILE or --no-state, not both"),
        (["--epoch", "0"], "--epoch: Input should be greater than or equal to 1 (got 0)"),
        (["--epoch", "0x100000000"], "--epoch: Input should be less than or equal to 4294967295"),
        (["--epoch", "nope"], "expected a number such as 305419896 or 0x12345678, got 'nope'"),
    ]:
        result = sim(*args, "--no-state", "-q") if "--no-state" not in args else sim(*args, "-q")
        assert result.returncode == 2 and message in result.stderr, result.stderr


def test_no_state_saves_nothing(tmp_path: Path) -> None:
    result = sim("--no-state", "--armed", "--rate", "200", "--duration", "0.2", "--listen", "127.0.0.1:0")
    assert result.returncode == 0, result.stderr
    assert "no state file: a new device, nothing saved" in result.stderr
    assert not default_state_path().parent.exists()


# -- the in-process API ------------------------------------------------------------------


async def test_the_in_process_simulator_keeps_no_state_unless_given_a_file(tmp_path: Path) -> None:
    for _ in range(2):
        async with Simulator(config(device={"armed": True}, stamping={"rate": 500})) as sim_:
            await sim_.wait_stamps(5)
            assert sim_.state_file is None and sim_.device.boot == 1 and sim_.truth[0].seq == 1
    assert not default_state_path().parent.exists()

    state = tmp_path / "state.json"
    epochs = []
    for boot in (1, 2):
        async with Simulator(config(device={"armed": True}, stamping={"rate": 500}), state_file=state) as sim_:
            await sim_.wait_stamps(5)
            assert sim_.state_file == state and sim_.device.boot == boot
            assert sim_.stats().epoch == sim_.device.epoch
            epochs.append(sim_.device.epoch)
    assert epochs[0] == epochs[1]


async def test_no_seq_leaves_the_device_above_the_saved_reservation(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    device = {"armed": True, "buffer_size": 100_000, "battery_per_stamp": 0}
    sim_ = Simulator(config(device=device, stamping={"rate": 20_000}), state_file=state)
    await sim_.start()
    try:
        reserved = [saved(state)["seq_reserved"]]
        assert reserved == [SEQ_BLOCK]  # saved at power-up, before anything went out
        await sim_.wait_stamps(SEQ_BLOCK + 500, timeout=30)
        entry = saved(state)
        assert not entry["clean"] and entry["seq_reserved"] > SEQ_BLOCK
        assert entry["seq_reserved"] >= max(s.seq for s in sim_.truth)
        assert entry["buffer"][-1][1] == entry["last_seq"] <= sim_.device.last_seq
    finally:
        await sim_.stop()
    entry = saved(state)
    assert entry["clean"] and entry["seq_reserved"] == entry["last_seq"] == sim_.device.last_seq


async def test_one_serial_per_state_file_at_a_time(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = Simulator(config(), state_file=state)
    await first.start()
    try:
        with pytest.raises(StateError, match="another simulator is running as SS-000001 with the state file"):
            Simulator(config(), state_file=state)
        async with Simulator(config(device={"serial": "SS-000002"}), state_file=state):
            pass
    finally:
        await first.stop()
    devices = json.loads(state.read_text())["devices"]
    assert set(devices) == {"SS-000001", "SS-000002"}
    async with Simulator(config(), state_file=state) as again:  # released by stop()
        assert again.device.boot == 2


# -- the rules and the file ------------------------------------------------------------------


def test_power_up_rules() -> None:
    old = SavedDevice(PersistentState(4, 120, 0xABCD, (stamp(4, 119), stamp(4, 120))), seq_reserved=10_120, clean=False)

    again = plan_power_up(DeviceConfig(), old)
    assert (again.config.boot, again.config.last_seq, again.config.epoch) == (5, 10_120, 0xABCD)
    assert again.restore == PersistentState(5, 10_120, 0xABCD, old.state.buffer)
    assert "did not stop cleanly" in again.note

    new = plan_power_up(DeviceConfig(), None)
    assert (new.config.boot, new.config.last_seq, new.restore) == (1, 0, None)
    assert new.config.epoch is not None and new.config.epoch != 0

    wiped = plan_power_up(DeviceConfig.model_validate({"boot": 1}), old)
    assert (wiped.config.boot, wiped.config.last_seq, wiped.restore) == (1, 0, None)
    assert wiped.config.epoch != 0xABCD and "its saved state is replaced" in wiped.note
    from_seq = plan_power_up(DeviceConfig.model_validate({"last_seq": 500}), old)
    assert (from_seq.config.boot, from_seq.config.last_seq, from_seq.restore) == (1, 500, None)

    same_epoch = plan_power_up(DeviceConfig(epoch=0xABCD), old)
    assert same_epoch.config.boot == 5
    other_epoch = plan_power_up(DeviceConfig(epoch=0x1234), old)
    assert (other_epoch.config.boot, other_epoch.config.epoch, other_epoch.restore) == (1, 0x1234, None)

    with pytest.raises(StateError, match="holds 2 unacknowledged stamps, more than the buffer size 1"):
        plan_power_up(DeviceConfig(buffer_size=1), old)
    wrapped = SavedDevice(PersistentState(0xFFFF, 7, 9), seq_reserved=7)
    assert plan_power_up(DeviceConfig(), wrapped).config.boot == 1


def test_two_runs_with_one_seed_still_draw_two_epochs() -> None:
    epochs = {plan_power_up(DeviceConfig(), None).config.epoch for _ in range(20)}
    assert len(epochs) == 20 and 0 not in epochs


def test_the_file_keeps_other_serials_and_is_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    a, b = StateFile(path), StateFile(path)
    one = SavedDevice(PersistentState(1, 2, 77, (stamp(1, 1), stamp(1, 2))), seq_reserved=2)
    a.save("A", one)
    b.save("B", SavedDevice(PersistentState(3, 9, 78), seq_reserved=10_009, clean=False))
    a.save("A", SavedDevice(PersistentState(1, 3, 77, (stamp(1, 3),)), seq_reserved=3))  # re-reads B's entry
    fresh = StateFile(path)
    assert fresh.load("A") == SavedDevice(PersistentState(1, 3, 77, (stamp(1, 3),)), seq_reserved=3)
    b_entry = fresh.load("B")
    assert b_entry is not None and (b_entry.next_last_seq, b_entry.clean) == (10_009, False)
    assert fresh.load("C") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.lock"]  # no temp file left
    assert "        [1, 3, 30, 60, 180, 0]\n" in path.read_text()  # one buffer row a line


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"boot": 1, "last_seq": 5, "seq_reserved": 4, "epoch": 1}, "seq_reserved must be an integer 5–4294967295"),
        ({"boot": 1, "last_seq": 5, "seq_reserved": 5, "epoch": 0}, "epoch must be an integer 1–4294967295, got 0"),
        (
            {"boot": 1, "last_seq": 5, "seq_reserved": 5, "epoch": 1, "buffer": [[1, 6, 0, 0, 0, 0]]},
            "buffer[0] has boot 1, seq 6 (seqs must grow and be at most last_seq 5)",
        ),
        ({"boot": 1, "last_seq": 5, "seq_reserved": 5, "epoch": 1, "buffer": [[1, 2]]}, "buffer[0] must be 6 integers"),
    ],
)
def test_an_invalid_entry_names_the_field(tmp_path: Path, entry: dict[str, Any], expected: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"format": "stampside-simulator-state", "version": 1, "devices": {"X": entry}}))
    with pytest.raises(StateError) as caught:
        StateFile(path).load("X")
    assert f"the simulator state file {path} is not valid: devices.X.{expected}" in str(caught.value)


def test_an_unreadable_or_unwritable_state_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "not-a-folder"
    folder.write_text("a file where the folder should be")
    result = sim("--state", str(folder / "state.json"), "--listen", "127.0.0.1:0", "--duration", "0.1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"Error: cannot use the simulator state file {folder / 'state.json'}:" in result.stderr
    assert result.stderr.strip().endswith("pass --state OTHER or --no-state")


def test_a_scenario_can_pin_the_epoch(tmp_path: Path) -> None:
    scenario = tmp_path / "pinned.toml"
    scenario.write_text("[device]\nepoch = 0xC0FFEE\n")
    loaded = load_scenario(scenario)
    assert loaded.device.epoch == 0xC0FFEE
    assert plan_power_up(loaded.device, None).config.epoch == 0xC0FFEE
    scenario.write_text("[device]\nepoch = 0\n")
    with pytest.raises(ScenarioError, match=r"device\.epoch: Input should be greater than or equal to 1"):
        load_scenario(scenario)
