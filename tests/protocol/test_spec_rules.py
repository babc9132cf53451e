"""The conformance rules of docs/protocol.md, one test per rule that is checkable and not tested elsewhere.

Each test names the rule it checks (section 6 of docs/protocol.md numbers them: D… for a device,
H… for a recording host) and the section that states it. The device is the simulator's device
model (:class:`~stampside.simulator.device.Device`), the host the sans-I/O
:class:`~stampside.firmware_protocol.host.HostConnection`; bytes are passed by hand, time is a
number. No mocks.

Rules already covered elsewhere (not repeated here):

* D1 framing, CRC, COBS, idle fill — tests/protocol/test_framing.py, test_vectors.py.
* D2 a STAMP sent to the device and a PING of 3 bytes after HELLO —
  tests/simulator/test_device.py::test_unknown_type_and_bad_length_are_nacked; garbage —
  ::test_garbage_is_ignored_without_reply.
* D4 the ANNOUNCE — test_device.py::test_power_up_announces_with_the_announce_flag.
* D5 negotiation — test_device.py::test_hello_is_answered_with_device_info_and_the_selected_version,
  ::test_negotiation_picks_the_highest_common_version, ::test_incompatible_versions_get_selected_zero_and_nack.
* D6 NOT_READY before HELLO — test_device.py::test_commands_before_hello_are_nacked_not_ready.
* D9, D11 the buffer and a full one — test_device.py::test_full_buffer_stops_counting_disarms_and_never_overwrites,
  tests/protocol/test_delivery.py::test_buffer_refuses_when_full_and_never_overwrites.
* D10 (N1, N2, N5, N6) — test_device.py::test_reboot_keeps_buffer_and_seq_and_announces_a_new_boot,
  ::test_v2_resume_of_another_epoch_acknowledges_nothing_and_names_the_devices_epoch,
  tests/simulator/test_state.py::test_power_up_rules, ::test_sigkill_mid_stamping_never_lets_the_seq_go_back.
* D7 a new TCP client replaces the old one — tests/simulator/test_tcp_link.py::test_a_new_client_replaces_the_old_one.
* D13 live stamps only while a host is present — test_device.py::test_live_stamps_only_while_the_host_is_present.
* D14, D15 ACK, RESUME, an empty buffer — test_device.py::test_ack_drops_events_from_the_buffer,
  ::test_resume_acks_then_replays_the_rest_with_the_replay_flag, ::test_resume_with_an_empty_buffer_gives_the_next_seq.
* D17 reports queued before HELLO — test_device.py::test_reports_made_while_the_host_is_away_are_sent_when_it_returns.
* D18 the reports of an unexpected reboot — test_device.py::test_reboot_keeps_buffer_and_seq_and_announces_a_new_boot.
* D20 heartbeats every 0.5 s — test_device.py::test_heartbeat_every_half_second_with_state_bits.
* H1, H10 HELLO repeated, a quiet line reopened — tests/protocol/test_host.py::
  test_hello_is_repeated_until_answered_and_at_once_when_a_damaged_frame_comes,
  ::test_a_line_with_no_byte_at_all_asks_for_the_transport_to_be_reopened.
* H2 — test_host.py::test_an_incompatible_device_closes_the_connection_with_both_ranges.
* H4 (M1, M3, M4) — test_host.py::test_a_device_numbering_below_the_cursor_gets_a_new_ledger_and_nothing_acknowledged,
  ::test_a_boot_counter_that_went_back_is_a_new_numbering_but_a_wrap_is_not,
  ::test_another_epoch_in_the_resume_reply_opens_a_new_ledger_and_its_replay_is_stored_there.
* H5 — test_host.py::test_v2_stamps_wait_for_the_epoch_check_before_they_are_stored.
* H6 — test_host.py::test_the_ack_follows_the_commit_and_never_precedes_it, test_delivery.py.
* H8 — test_delivery.py::test_no_second_resume_while_the_replay_is_arriving.
* H11 — test_host.py::test_a_reboot_seen_in_a_heartbeat_starts_a_new_handshake.
* G1 — test_host.py::test_a_watching_host_never_resumes_acknowledges_or_touches_the_arm_state.
* Every rule at once, under faults — tests/protocol/test_host_device_model.py.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from cobs import cobs

from stampside.firmware_protocol import (
    Ack,
    Arm,
    ArmReason,
    ArmState,
    Battery,
    Connection,
    DeviceInfo,
    Fault,
    FaultCode,
    Flag,
    Frame,
    HeadChanged,
    Heartbeat,
    HeartbeatState,
    Hello,
    Message,
    MessageType,
    Nack,
    NackCode,
    Ping,
    Pong,
    Resume,
    ResumeReply,
    Role,
    Stamp,
    TimeSync,
    TimeSyncReply,
    encode_frame,
)
from stampside.firmware_protocol.host import HostConnection, HostTiming
from stampside.firmware_protocol.host_events import BindEpoch, Deliver, Ledger, OpenLedger, Reopen, Send, StartLife
from stampside.simulator.config import DeviceConfig, StampingConfig
from stampside.simulator.device import Device
from stampside.simulator.state import PersistentState

SERIAL = "SS-RULES"
EPOCH = 0x0E90C401


class Bench:
    """A device model, a host-role connection that speaks to it frame by frame, and a clock."""

    def __init__(self, stamping: dict[str, Any] | None = None, **device: Any) -> None:
        self.now = 0.0
        config = {"serial": SERIAL, "epoch": EPOCH, **device}
        self.device = Device(DeviceConfig(**config), StampingConfig(**(stamping or {})), seed=3, now=0.0)
        self.host = Connection(Role.HOST)
        self.read()  # the ANNOUNCE

    def read(self, replay: int = 0) -> list[Frame]:
        data = b"".join(self.device.take_frames())
        if replay:
            data += b"".join(self.device.take_replay(replay))
        return [e for e in self.host.receive_data(data) if isinstance(e, Frame)]

    def send(self, message: Message) -> list[Frame]:
        self.device.receive(self.host.send(message), self.now)
        return self.read()

    def send_raw(self, data: bytes) -> list[Frame]:
        self.device.receive(data, self.now)
        return self.read()

    def at(self, t: float, replay: int = 0) -> list[Frame]:
        self.now = t
        self.device.advance(t)
        return self.read(replay)

    def hello(self, versions: tuple[int, int] = (1, 1)) -> list[Message]:
        frames = self.send(Hello(*versions))
        info = frames[0].message
        assert isinstance(info, DeviceInfo) and info.selected_version
        self.host.version = info.selected_version
        return messages(frames)


def messages(frames: list[Frame], kind: type[Message] | None = None) -> list[Any]:
    return [f.message for f in frames if kind is None or isinstance(f.message, kind)]


def raw_frame(msg_type: int, payload: bytes, *, lseq: int = 7, version: int = 1) -> bytes:
    """A frame with a good CRC and whatever header and payload the test wants."""
    return encode_frame(bytes(((version << 4), msg_type, lseq)) + payload)


# == section 1: frames that fail a check, unknown types ===========================================


@pytest.mark.parametrize("before_hello", [True, False])
@pytest.mark.parametrize(
    "damage",
    ["crc", "cobs", "short", "oversize"],
)
def test_d2_a_frame_that_fails_a_framing_check_gets_no_answer_and_is_not_carried_out(
    damage: str, before_hello: bool
) -> None:
    """D2 (section 1): oversize, cobs, short and crc failures are dropped silently."""
    bench = Bench(stamping={"rate": 50})
    if not before_hello:
        bench.hello()
    arm = bench.host.send(Arm())
    if damage == "crc":
        raw = bytearray(cobs.decode(arm[:-1]))
        raw[-1] ^= 0x40
        data = cobs.encode(bytes(raw)) + b"\x00"
    elif damage == "cobs":
        data = b"\x09\x01\x02\x00"  # the code byte points past the frame
    elif damage == "short":
        data = cobs.encode(b"\x10\x03") + b"\x00"
    else:
        data = b"\x01" * 90 + b"\x00"
    assert bench.send_raw(data) == []
    assert not bench.device.armed
    assert bench.device.rx_bad_frames == 1


@pytest.mark.parametrize("before_hello", [True, False])
@pytest.mark.parametrize(
    ("command", "payload"),
    [
        (MessageType.ARM, b"\x01"),
        (MessageType.ACK, (1).to_bytes(2, "little") + (5).to_bytes(4, "little")[:3]),
        (MessageType.RESUME, bytes(7)),
        (MessageType.TIME_SYNC, bytes(7)),
        (MessageType.PING, bytes(5)),
        (MessageType.HELLO, b"\x01"),
    ],
)
def test_d2_a_good_crc_with_a_wrong_length_is_nacked_bad_length_and_not_carried_out(
    command: MessageType, payload: bytes, before_hello: bool
) -> None:
    """D2 (section 1): NACK BAD_LENGTH names the frame, before HELLO too (not NOT_READY), and nothing happens."""
    bench = Bench(stamping={"rate": 100}, armed=True)
    bench.at(0.1)  # ten stamps buffered
    if not before_hello:
        bench.hello()
    synced_before = bench.device.time_synced
    frames = bench.send_raw(raw_frame(command, payload, lseq=42))
    assert messages(frames) == [Nack(command, 42, NackCode.BAD_LENGTH)]
    assert len(bench.device.buffer) == 10, "no acknowledgement applied"
    assert bench.device.replay_pending == 0, "no replay started"
    assert bench.device.time_synced == synced_before
    assert bench.device.ready is not before_hello, "a bad HELLO negotiates nothing"


def test_d2_a_known_type_in_a_version_the_device_does_not_speak_is_nacked_version_unsupported() -> None:
    """D2 (section 1): the version check, for a known type; HELLO itself passes with any version (D3)."""
    bench = Bench()
    bench.hello()
    assert messages(bench.send_raw(raw_frame(MessageType.PING, bytes(4), lseq=9, version=3))) == [
        Nack(MessageType.PING, 9, NackCode.VERSION_UNSUPPORTED)
    ]
    assert messages(bench.send_raw(raw_frame(MessageType.ARM, b"", lseq=10, version=0))) == [
        Nack(MessageType.ARM, 10, NackCode.VERSION_UNSUPPORTED)
    ]
    assert not bench.device.armed


@pytest.mark.parametrize("before_hello", [True, False])
@pytest.mark.parametrize("version", [0, 1, 2, 15])
@pytest.mark.parametrize("length", [0, 1, 13, 64])
@pytest.mark.parametrize("msg_type", [0x00, MessageType.STAMP, MessageType.NACK, 0x7E, 0xFF])
def test_d2_an_unknown_type_of_any_length_and_version_is_nacked_unknown_type(
    msg_type: int, length: int, version: int, before_hello: bool
) -> None:
    """D2 (section 1): unknown types have no length rule and no version check."""
    bench = Bench()
    if not before_hello:
        bench.hello()
    frames = bench.send_raw(raw_frame(msg_type, bytes(range(length)), lseq=200, version=version))
    assert messages(frames) == [Nack(msg_type, 200, NackCode.UNKNOWN_TYPE)]


@pytest.mark.parametrize("version", [0, 1, 2, 7, 15])
def test_d3_hello_is_accepted_whatever_its_version_nibble(version: int) -> None:
    """D3 (section 2): HELLO, DEVICE_INFO and NACK keep their layout; HELLO passes with any version."""
    bench = Bench()
    frames = bench.send_raw(raw_frame(MessageType.HELLO, bytes((1, 2)), lseq=0, version=version))
    info = messages(frames)[0]
    assert isinstance(info, DeviceInfo) and info.selected_version == 2
    assert frames[0].version == 1, "DEVICE_INFO goes out with version-1 framing"


def test_d16_a_checked_frame_that_fails_a_later_check_still_makes_the_host_present() -> None:
    """D16 (sections 1, 3.4): a NACKed frame came from the host; its return flushes the queued reports."""
    bench = Bench()
    bench.hello()
    bench.at(5.0)  # the host has been silent for more than 2 s
    assert not bench.device.host_present
    bench.device.sensor_fault(77, bench.now)
    assert bench.read() == []
    frames = bench.send_raw(raw_frame(MessageType.PING, bytes(2), lseq=3))
    assert messages(frames) == [Nack(MessageType.PING, 3, NackCode.BAD_LENGTH), Fault(FaultCode.SENSOR, 77)]
    assert bench.device.host_present


# == section 3.1: the buffer ======================================================================


def test_d12_buffer_full_is_set_from_the_stamp_that_fills_it_and_clears_with_the_first_ack_that_frees_room() -> None:
    """D11, D12 (section 3.1): the bit reports the buffer; clearing it does not re-arm the device."""
    bench = Bench(stamping={"rate": 10}, buffer_size=3)
    bench.hello()
    bench.send(Arm())
    beats: list[Heartbeat] = []
    for step in range(1, 13):
        bench.send(Heartbeat(0, 0, 0, 0))
        beats += messages(bench.at(step * 0.05), Heartbeat)
    # The third stamp filled the buffer at 0.3 s; the fourth (0.4 s) was refused and disarmed it;
    # the heartbeat at 0.5 s shows it.
    assert len(bench.device.buffer) == 3 and not bench.device.armed
    assert beats and beats[-1].state & HeartbeatState.BUFFER_FULL and not beats[-1].state & HeartbeatState.ARMED

    # Full but not yet refusing: a buffer filled by its last stamp shows the bit while still armed.
    early = Bench(stamping={"rate": 10}, buffer_size=3, heartbeat_interval=0.32)
    early.hello()
    early.send(Arm())
    early.send(Heartbeat(0, 0, 0, 0))
    early.at(0.31)
    beat = messages(early.at(0.33), Heartbeat)[0]
    assert beat.state & HeartbeatState.BUFFER_FULL and beat.state & HeartbeatState.ARMED

    # One ACK frees room: the next heartbeat shows the bit clear, and the device is still disarmed.
    bench.send(Ack(1, 1))
    bench.send(Heartbeat(0, 0, 0, 0))
    beat = messages(bench.at(1.0), Heartbeat)[0]
    assert not beat.state & HeartbeatState.BUFFER_FULL
    assert not beat.state & HeartbeatState.ARMED and not bench.device.armed
    assert messages(bench.send(Arm())) == [ArmState(1, ArmReason.COMMAND)]


def test_d11_stamps_refused_so_far_is_a_running_total_not_reset_when_the_buffer_drains() -> None:
    """D11 (section 3.1): FAULT BUFFER_FULL's detail counts every refusal since power-up."""
    bench = Bench(stamping={"rate": 10}, buffer_size=2)
    bench.hello()
    details = []
    for round_ in range(3):
        assert messages(bench.send(Arm())) == [ArmState(1, ArmReason.COMMAND)]
        for _ in range(6):
            bench.send(Heartbeat(0, 0, 0, 0))
            frames = bench.at(bench.now + 0.1)
            details += [f.detail for f in messages(frames, Fault) if f.code == FaultCode.BUFFER_FULL]
        assert not bench.device.armed
        bench.send(Ack(1, bench.device.last_seq))  # the host stored everything: the buffer drains
        assert len(bench.device.buffer) == 0, round_
    assert details == [1, 2, 3]


# == section 3.2: RESUME during a replay, live stamps amid one ====================================


def test_d15_a_resume_during_a_replay_applies_its_ack_and_starts_the_replay_over() -> None:
    """D15 (section 3.2): a new RESUME_REPLY, then the buffer afresh from the oldest event it holds."""
    bench = Bench(stamping={"rate": 100}, armed=True)
    bench.at(0.1)
    bench.hello()
    bench.device.disarm(bench.now)
    bench.read()
    assert messages(bench.send(Resume(1, 2))) == [ResumeReply(1, 3, 8)]
    first = messages(bench.read(replay=3), Stamp)
    assert [s.seq for s in first] == [3, 4, 5]
    assert messages(bench.send(Resume(1, 4))) == [ResumeReply(1, 5, 6)]
    again = bench.read(replay=100)
    assert [s.seq for s in messages(again, Stamp)] == [5, 6, 7, 8, 9, 10]
    assert all(f.flags & Flag.REPLAY for f in again)
    assert bench.device.replay_pending == 0


def test_d15_an_ack_during_a_replay_may_leave_acknowledged_events_in_it() -> None:
    """D15 (section 3.2): a replay is a snapshot of the buffer when the RESUME came."""
    bench = Bench(stamping={"rate": 100}, armed=True)
    bench.at(0.05)
    bench.hello()
    bench.device.disarm(bench.now)
    bench.read()
    bench.send(Resume(0, 0))
    bench.send(Ack(1, 5))
    assert [s.seq for s in messages(bench.read(replay=100), Stamp)] == [1, 2, 3, 4, 5]
    assert len(bench.device.buffer) == 0


def test_d15_live_stamps_go_out_amid_a_replay_and_are_not_part_of_it() -> None:
    """D13, D15 (section 3.2): live stamps do not wait for the replay; RESUME_REPLY's count leaves them out."""
    bench = Bench(stamping={"rate": 100}, armed=True)
    bench.at(0.2)  # twenty stamps, nobody listening
    bench.hello()
    reply = messages(bench.send(Resume(0, 0)), ResumeReply)
    assert reply == [ResumeReply(1, 1, 20)]
    arrived: list[tuple[int, bool]] = []
    t = 0.2
    while bench.device.replay_pending:
        t += 0.01
        bench.send(Heartbeat(0, 0, 0, 0))
        for frame in bench.at(t, replay=2):  # a slow link: two replayed frames per 10 ms
            if isinstance(frame.message, Stamp):
                arrived.append((frame.message.seq, bool(frame.flags & Flag.REPLAY)))
    replayed = [seq for seq, replay in arrived if replay]
    live = [seq for seq, replay in arrived if not replay]
    assert replayed == list(range(1, 21)), "the replay is exactly what RESUME_REPLY announced"
    assert live and live[0] == 21 and live == list(range(21, 21 + len(live)))
    first_live = arrived.index((21, False))
    assert any(replay for _, replay in arrived[first_live:]), "a live stamp arrived before replayed ones"


def test_d15_a_hello_ends_a_replay_and_drops_what_was_queued_for_the_old_link() -> None:
    """D7, D15 (sections 3.4, 3.9): every HELLO is a new link session; numbering and buffer carry on."""
    bench = Bench(stamping={"rate": 100}, armed=True)
    bench.at(0.1)
    bench.hello()
    bench.send(Resume(0, 0))
    bench.read(replay=2)
    assert bench.device.replay_pending == 8
    bench.device.take_link_restart()
    bench.device.receive(bench.host.send(Hello(1, 1)), bench.now)
    assert bench.device.replay_pending == 0
    assert bench.device.take_link_restart(), "output queued for the old link is to be discarded"
    assert len(bench.device.buffer) >= 10 and bench.device.armed


def test_d14_a_host_heartbeat_acknowledges_nothing() -> None:
    """D14 (section 3.2): a host HEARTBEAT carries its last ACK for diagnosis only."""
    bench = Bench(stamping={"rate": 100}, armed=True)
    bench.at(0.1)
    bench.hello()
    bench.send(Heartbeat(1, 10, 0, 0))
    assert len(bench.device.buffer) == 10


# == section 3.4: host presence, queued reports, the reports of a boot ============================


def test_d16_heartbeats_stop_two_seconds_after_the_host_went_quiet_and_resume_when_it_returns() -> None:
    """D16 (section 3.4): HEARTBEATs need a host present."""
    bench = Bench()
    bench.hello()
    beats = []
    t = 0.0
    while t < 6.0:
        t = round(t + 0.1, 3)
        beats += [(t, b) for b in messages(bench.at(t), Heartbeat)]
    assert beats and max(at for at, _ in beats) <= 2.0 + 1e-9
    assert not bench.device.host_present
    bench.send(Heartbeat(0, 0, 0, 0))  # the host returns
    assert messages(bench.at(6.1), Heartbeat) != []


def test_d17_reports_made_while_the_host_was_away_follow_the_answer_to_its_first_frame() -> None:
    """D17 (section 3.4): queued in order; of BATTERY, HEAD_CHANGED, ARM_STATE only the newest; every FAULT."""
    bench = Bench(battery_per_minute=0, battery_per_stamp=0)
    bench.hello()
    bench.at(3.0)
    assert not bench.device.host_present
    bench.device.set_battery(80, bench.now)
    bench.device.sensor_fault(1, bench.now)
    bench.device.change_head(11, 1, None, bench.now)
    bench.device.set_battery(70, bench.now)
    bench.device.sensor_fault(2, bench.now)
    bench.device.change_head(12, 0, None, bench.now)
    bench.device.arm(bench.now)
    bench.device.disarm(bench.now)
    assert bench.read() == [], "nothing goes out while no host is present"
    out = messages(bench.send(Ping(5)))
    assert out[0] == Pong(5, 3000)
    assert out[1:] == [  # in the order made; a newer BATTERY, HEAD_CHANGED or ARM_STATE replaces an older one
        Fault(FaultCode.SENSOR, 1),
        Battery(70, bench.device.battery.millivolts(70)),
        Fault(FaultCode.SENSOR, 2),
        HeadChanged(12, 0, 100),
        ArmState(0, ArmReason.COMMAND),
    ]


def test_d18_the_first_power_up_and_a_power_up_with_saved_state_send_no_reboot_reports() -> None:
    """D18 (section 3.4): FAULT UNEXPECTED_REBOOT only after a reset the device did not choose."""
    fresh = Bench()
    assert [type(m) for m in fresh.hello()] == [DeviceInfo]
    fresh.at(1.0)
    fresh.send(Heartbeat(0, 0, 0, 0))
    assert not any(isinstance(m, Fault | ArmState) for m in messages(fresh.at(1.6)))

    # Switched on again with what it kept in flash: boot 5, seq 120.
    again = Bench(boot=5, last_seq=120)
    again.device.restore_state(PersistentState(5, 120, EPOCH, ()))
    assert [type(m) for m in again.hello()] == [DeviceInfo]

    # A reset it did not choose: the two reports follow the DEVICE_INFO of the first HELLO.
    again.device.reboot(0.0)
    again.at(0.5)
    out = again.hello()
    assert out[1:] == [ArmState(0, ArmReason.BOOT), Fault(FaultCode.UNEXPECTED_REBOOT, 6)]


def test_d8_a_device_boots_disarmed_after_a_reset() -> None:
    """D8 (section 3.4)."""
    bench = Bench(stamping={"rate": 10})
    bench.hello()
    bench.send(Arm())
    assert bench.device.armed
    bench.device.reboot(bench.now)
    bench.at(0.5)
    assert not bench.device.armed
    assert messages(bench.send(Arm()))[0] == Nack(
        MessageType.ARM, bench.host.counters.tx_frames - 1, NackCode.NOT_READY
    )


# == section 3.5: the boot counter ================================================================


def test_d10_the_boot_counter_grows_by_one_a_boot_and_wraps_from_65535_to_1() -> None:
    """D10, N2 (section 3.5): 0 is never a boot."""
    bench = Bench(boot=65534)
    boots = []
    for i in range(3):
        bench.device.reboot(bench.now)
        frames = bench.at(bench.now + 0.5 + i)
        boots.append(messages(frames, DeviceInfo)[0].boot)
    assert boots == [65535, 1, 2]


# == section 3.8: deadlines ========================================================================


def test_d13_a_live_stamp_goes_out_before_the_heartbeat_that_reports_it() -> None:
    """D13, section 3.8: a HEARTBEAT ahead of its stamps would be a gap to the host."""
    bench = Bench(stamping={"rate": 2})  # stamps at 0.5 s, 1.0 s …: the same instants as the heartbeats
    bench.hello()
    bench.send(Arm())
    seen: set[int] = set()
    for step in range(1, 41):
        bench.send(Heartbeat(0, 0, 0, 0))
        for message in messages(bench.at(step * 0.125)):
            if isinstance(message, Stamp):
                seen.add(message.seq)
            elif isinstance(message, Heartbeat):
                assert all(seq in seen for seq in range(1, message.seq + 1)), message
    assert seen


def test_d20_the_first_heartbeat_comes_no_later_than_half_a_second_after_hello() -> None:
    """D20, section 3.8."""
    bench = Bench()
    bench.at(3.0)
    bench.hello()
    assert messages(bench.at(3.49), Heartbeat) == []
    assert len(messages(bench.at(3.5), Heartbeat)) == 1


# == sections 3.9: links ===========================================================================


def test_d7_a_new_tcp_or_ble_connection_starts_the_link_afresh_but_a_new_hello_keeps_the_link_sequence() -> None:
    """D7 (sections 2, 3.9): a serial device sees a reopen only as HELLO; a connection resets everything."""
    bench = Bench(stamping={"rate": 100}, armed=True)
    bench.at(0.05)
    bench.hello()
    bench.send(TimeSync(1_764_000_000_000))
    lseqs = [f.lseq for f in bench.send(Hello(1, 1))]
    assert lseqs[0] > 0, "a new HELLO on the same line: the device's link sequence numbers carry on"
    assert bench.device.time_synced and bench.device.armed, "the link restarts, the device's state does not"

    bench.device.link_reset(bench.now)  # a new TCP client, a new BLE central
    assert not bench.device.ready
    fresh = Connection(Role.HOST)
    bench.device.receive(fresh.send(Ping(1)), bench.now)
    frames = [e for e in fresh.receive_data(b"".join(bench.device.take_frames())) if isinstance(e, Frame)]
    assert [(f.lseq, f.message) for f in frames] == [(0, Nack(MessageType.PING, 0, NackCode.NOT_READY))]


# == section 3.11: the clock ========================================================================


def test_d19_device_time_ms_is_one_clock_of_milliseconds_since_this_boot() -> None:
    """D19 (section 3.11): STAMP, TIME_SYNC_REPLY and PONG read one clock; a reboot restarts it."""
    bench = Bench(stamping={"rate": 4}, reboot_silence=0.25)
    bench.hello()
    bench.send(Arm())
    bench.send(Heartbeat(0, 0, 0, 0))
    stamps = messages(bench.at(0.75), Stamp)
    assert [s.device_time_ms for s in stamps] == [250, 500, 750]
    assert messages(bench.send(TimeSync(1_764_000_000_000))) == [TimeSyncReply(1_764_000_000_000, 750)]
    assert messages(bench.send(Ping(9))) == [Pong(9, 750)]

    bench.device.reboot(1.0)  # silent 0.25 s: boot 2 starts at 1.25 s
    bench.at(1.3)
    bench.hello()
    bench.now = 2.0
    assert messages(bench.send(Ping(10))) == [Pong(10, 750)]
    bench.send(Arm())
    bench.send(Heartbeat(0, 0, 0, 0))
    new = messages(bench.at(2.6), Stamp)
    assert new and all(s.boot == 2 and s.device_time_ms < 1400 for s in new)


def test_d19_time_synced_is_cleared_at_every_boot_and_kept_across_a_new_hello() -> None:
    """D19 (section 3.11): the pairing of the clocks does not survive a reboot."""
    bench = Bench()
    bench.hello()
    bench.send(TimeSync(1))
    bench.send(Heartbeat(0, 0, 0, 0))
    assert messages(bench.at(0.5), Heartbeat)[0].state & HeartbeatState.TIME_SYNCED
    bench.hello()
    bench.send(Heartbeat(0, 0, 0, 0))
    assert messages(bench.at(1.0), Heartbeat)[0].state & HeartbeatState.TIME_SYNCED
    bench.device.reboot(1.0)
    bench.at(1.5)
    bench.hello()
    bench.send(Heartbeat(0, 0, 0, 0))
    beat = messages(bench.at(2.1), Heartbeat)[0]
    assert beat.boot == 2 and not beat.state & HeartbeatState.TIME_SYNCED


# == the host and the device model together ========================================================


class Pipe:
    """A recording host and the device model on a slow, lossless line, with storage committing at once."""

    def __init__(self, device: Device, *, replay_per_step: int = 2, drop: frozenset[int] = frozenset()) -> None:
        self.now = device._now
        self.device = device
        self.host = HostConnection(timing=HostTiming(ping_interval=0), arm=True, unix_ms=lambda: 1_764_000_000_000)
        self.replay_per_step = replay_per_step
        #: Message types the line loses from the device, every time.
        self.drop = drop
        self.stored: dict[int, Stamp] = {}
        self.arrivals: list[tuple[int, bool]] = []
        self.sent: list[tuple[float, Message]] = []
        self.ledger = Ledger(SERIAL, 1)
        self.host.connection_made(self.now)
        self._actions()

    def step(self, dt: float = 0.01) -> None:
        self.now = round(self.now + dt, 6)
        device = self.device
        device.advance(self.now)
        device.take_link_restart()
        for data in device.take_frames() + device.take_replay(self.replay_per_step):
            if data != b"\x00" and cobs.decode(data[:-1])[1] in self.drop:
                continue
            self.host.receive_data(data, self.now)
            self._actions()
        self.host.tick(self.now)
        self._actions()

    def run(self, until: float) -> None:
        while self.now < until:
            self.step()

    def _actions(self) -> None:
        for action in self.host.take_actions():
            if isinstance(action, Send):
                if action.message is not None:
                    self.sent.append((self.now, action.message))
                    if isinstance(action.message, Ack):
                        held = set(self.stored)
                        assert set(range(1, action.message.seq + 1)) <= held, "H6: ACK of a stamp not stored"
                self.device.receive(action.data, self.now)
            elif isinstance(action, OpenLedger | StartLife):
                self.host.ledger_opened(self.ledger, self.now)
            elif isinstance(action, BindEpoch):
                self.ledger = Ledger(SERIAL, 1, action.epoch, self.ledger.boot, self.ledger.seq)
            elif isinstance(action, Deliver):
                stamp = action.stamp
                self.arrivals.append((stamp.seq, action.replay))
                assert stamp.seq not in self.stored, "H7: a stamp stored twice"
                self.stored[stamp.seq] = stamp
                cursor = self.host.plan_commit(action.ledger, [stamp])
                if cursor is not None:
                    self.ledger = Ledger(SERIAL, 1, self.ledger.epoch, *cursor)
                self.host.committed(action.ledger, [stamp], self.now)

    def sent_of(self, kind: type[Message]) -> list[tuple[float, Any]]:
        return [(t, m) for t, m in self.sent if isinstance(m, kind)]


def test_h7_h8_live_stamps_amid_a_replay_are_stored_once_and_bring_no_second_resume() -> None:
    """H6, H7, H8 (section 3.2) against the reference device's D15: one RESUME, every stamp stored once."""
    device = Device(
        DeviceConfig(serial=SERIAL, epoch=EPOCH, versions=(1, 2)), StampingConfig(rate=20, stamps=None), seed=5
    )
    device.arm(0.0)
    device.advance(5.0)  # 100 stamps buffered before any host came
    assert len(device.buffer) == 100
    pipe = Pipe(device, replay_per_step=1)  # 100 replayed frames take a second; 20 live stamps come meanwhile
    pipe.run(7.0)
    device.stamp_limit = device.counters.stamps_counted
    pipe.run(9.0)
    replayed = [seq for seq, replay in pipe.arrivals if replay]
    live = [seq for seq, replay in pipe.arrivals if not replay]
    assert replayed == list(range(1, 101))
    first_live = pipe.arrivals.index((live[0], False))
    assert any(replay for _, replay in pipe.arrivals[first_live:]), "live stamps came amid the replay"
    assert len(pipe.sent_of(Resume)) == 1, "H8: no second RESUME while the replay was arriving"
    assert sorted(pipe.stored) == list(range(1, device.last_seq + 1))
    assert len(device.buffer) == 0 and pipe.host.complete


def test_h13_a_host_rearms_a_rebooted_device_without_its_boot_reports() -> None:
    """H11, H12, H13 (sections 3.4, 3.6): ARM_STATE(0, BOOT) and FAULT UNEXPECTED_REBOOT may be lost."""
    device = Device(
        DeviceConfig(serial=SERIAL, epoch=EPOCH, versions=(1, 2)), StampingConfig(rate=5, stamps=None), seed=6
    )
    pipe = Pipe(device)
    pipe.run(1.0)
    assert pipe.host.ready and device.armed
    pipe.drop = frozenset({MessageType.FAULT, MessageType.ARM_STATE})
    device.reboot(pipe.now)
    pipe.run(pipe.now + 4.0)
    assert device.boot == 2 and device.armed, "armed again from what the heartbeat and the handshake say"
    assert pipe.host.ready
    assert sorted(pipe.stored) == list(range(1, len(pipe.stored) + 1))


def test_h1_the_host_repeats_hello_for_ten_seconds_of_silence_not_for_a_number_of_tries() -> None:
    """H1 (section 3.6): 0.3 s before the first repeat, then in pairs backing off to 1 s; the reopen comes at 10 s."""
    host = HostConnection(timing=HostTiming(), arm=True)
    host.connection_made(0.0)
    hellos: list[tuple[float, int]] = []
    reopened_at = None
    now = 0.0
    while reopened_at is None and now < 20:
        for action in host.take_actions():
            if isinstance(action, Send) and isinstance(action.message, Hello):
                hellos.append((now, action.data.count(b"\x00") - 1))  # a lone 0x00, then one or two HELLOs
            elif isinstance(action, Reopen):
                reopened_at = now
        now = round(now + 0.01, 6)
        host.tick(now)
    assert reopened_at == pytest.approx(10.0, abs=0.02)
    times = [t for t, _ in hellos]
    assert times[1] == pytest.approx(0.3, abs=0.011)
    assert all(count == 2 for _, count in hellos[1:]), "from the second try, two HELLOs at once"
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) == pytest.approx(1.0, abs=0.011) and len(hellos) > 3


def test_the_deadlines_of_sections_3_6_and_3_8_are_the_reference_defaults() -> None:
    """Sections 3.6 and 3.8 quote these numbers; the reference ends use them by default."""
    timing = HostTiming()
    assert (timing.heartbeat_interval, timing.link_timeout) == (0.5, 2.0)
    assert (timing.reply_timeout, timing.min_reply_timeout, timing.max_reply_timeout) == (0.3, 0.05, 1.0)
    assert (timing.attempts, timing.hello_interval_max, timing.reopen_after) == (5, 1.0, 10.0)
    assert (timing.resume_timeout, timing.arm_retry, timing.ping_interval) == (0.5, 1.0, 5.0)
    config = DeviceConfig()
    assert (config.heartbeat_interval, config.host_timeout, config.reboot_silence) == (0.5, 2.0, 0.3)
