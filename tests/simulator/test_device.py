"""The device model on its own: a fake clock, bytes passed by hand."""

from __future__ import annotations

from typing import Any

import pytest

from stampside.firmware_protocol import (
    Ack,
    Arm,
    ArmReason,
    ArmState,
    Battery,
    Connection,
    DeviceInfo,
    Disarm,
    Fault,
    FaultCode,
    Flag,
    Frame,
    HeadChanged,
    Heartbeat,
    HeartbeatState,
    Hello,
    Message,
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
from stampside.simulator.config import DeviceConfig, StampingConfig
from stampside.simulator.device import Device


class Bench:
    """A device on a test bench: a host connection, a fake clock, and what came out."""

    def __init__(self, device: dict[str, Any] | None = None, stamping: dict[str, Any] | None = None,
                 seed: int = 1) -> None:
        self.now = 0.0
        self.stamped: list[tuple[Stamp, float]] = []
        self.device = Device(
            DeviceConfig(**(device or {})),
            StampingConfig(**(stamping or {})),
            seed=seed,
            now=0.0,
            on_stamp=lambda s, t: self.stamped.append((s, t)),
        )
        self.host = Connection(Role.HOST)
        self.out: list[Frame] = []

    def send(self, message: Message) -> list[Frame]:
        self.device.receive(self.host.send(message), self.now)
        return self.read()

    def send_raw(self, data: bytes) -> list[Frame]:
        self.device.receive(data, self.now)
        return self.read()

    def at(self, t: float) -> list[Frame]:
        self.now = t
        self.device.advance(t)
        return self.read()

    def read(self, replay: int = 0) -> list[Frame]:
        data = b"".join(self.device.take_frames())
        if replay:
            data += b"".join(self.device.take_replay(replay))
        frames = [e for e in self.host.receive_data(data) if isinstance(e, Frame)]
        self.out.extend(frames)
        return frames

    def handshake(self) -> DeviceInfo:
        self.read()
        frames = self.send(Hello(1, 1))
        info = frames[0].message
        assert isinstance(info, DeviceInfo)
        return info


def messages(frames: list[Frame], kind: type[Message] | None = None) -> list[Any]:
    return [f.message for f in frames if kind is None or isinstance(f.message, kind)]


def test_power_up_announces_with_the_announce_flag() -> None:
    bench = Bench()
    frames = bench.read()
    assert [type(f.message) for f in frames] == [DeviceInfo]
    assert frames[0].flags & Flag.ANNOUNCE
    info: Any = frames[0].message
    assert info.selected_version == 0
    assert info.boot == 1


def test_hello_is_answered_with_device_info_and_the_selected_version() -> None:
    bench = Bench(device={"serial": "SS-4242", "needle_um": 1500, "head_id": 9, "head_uses": 2,
                          "footprint_mm2": 80, "battery": 77, "firmware": "1.2.3", "hw_revision": 5})
    info = bench.handshake()
    # The device speaks v1–v2; the bench's host only v1, so v1 is selected.
    assert info == DeviceInfo("SS-4242", 5, 1, 2, 3, 1, 2, 1, 1500, 9, 2, 80, 77, 1, 0)
    assert bench.device.ready


def test_negotiation_picks_the_highest_common_version() -> None:
    bench = Bench(device={"versions": (1, 3)})
    bench.read()
    info: Any = bench.send(Hello(2, 5))[0].message
    assert info.selected_version == 3
    assert bench.device.version == 3


def test_incompatible_versions_get_selected_zero_and_nack() -> None:
    bench = Bench(device={"versions": (2, 3)})
    bench.read()
    frames = bench.send(Hello(1, 1))
    info: Any
    info, nack = (f.message for f in frames)
    assert info.selected_version == 0 and (info.min_version, info.max_version) == (2, 3)
    assert nack == Nack(0x01, 0, NackCode.VERSION_UNSUPPORTED)
    # Nothing but HELLO is accepted afterwards.
    assert messages(bench.send(Arm())) == [Nack(0x03, 1, NackCode.VERSION_UNSUPPORTED)]
    assert not bench.device.armed


def test_commands_before_hello_are_nacked_not_ready() -> None:
    bench = Bench()
    bench.read()
    assert messages(bench.send(Arm())) == [Nack(0x03, 0, NackCode.NOT_READY)]
    assert messages(bench.send(Ping(5))) == [Nack(0x07, 1, NackCode.NOT_READY)]


def test_unknown_type_and_bad_length_are_nacked() -> None:
    bench = Bench()
    bench.handshake()
    # A STAMP is not something a host may send.
    stamp_frame = encode_frame(bytes((0x10, 0x11, 9)) + bytes(13))
    assert messages(bench.send_raw(stamp_frame)) == [Nack(0x11, 9, NackCode.UNKNOWN_TYPE)]
    assert messages(bench.send_raw(encode_frame(bytes((0x10, 0x7E, 10))))) == [Nack(0x7E, 10, NackCode.UNKNOWN_TYPE)]
    # A PING with a 3-byte payload.
    assert messages(bench.send_raw(encode_frame(bytes((0x10, 0x07, 11, 1, 2, 3))))) == [
        Nack(0x07, 11, NackCode.BAD_LENGTH)
    ]


def test_garbage_is_ignored_without_reply() -> None:
    bench = Bench()
    bench.handshake()
    assert bench.send_raw(b"\x01\x02\x03\x00\xff\xfe\x00") == []
    assert bench.device.rx_bad_frames == 2


def test_time_sync_and_ping() -> None:
    bench = Bench()
    bench.handshake()
    bench.at(1.5)
    assert messages(bench.send(TimeSync(1_700_000_000_000))) == [TimeSyncReply(1_700_000_000_000, 1500)]
    assert messages(bench.send(Ping(0xDEADBEEF))) == [Pong(0xDEADBEEF, 1500)]
    assert bench.device.time_synced


def test_arm_starts_stamps_with_growing_seq_at_a_human_rate() -> None:
    bench = Bench()
    bench.handshake()
    assert messages(bench.send(Arm())) == [ArmState(1, ArmReason.COMMAND)]
    t = 0.0
    while t < 10:
        t += 0.25
        bench.send(Heartbeat(0, 0, 0, 0))  # keep the host present
        bench.at(t)
    stamps = messages(bench.out, Stamp)
    assert [s.seq for s in stamps] == list(range(1, len(stamps) + 1))
    assert 10 <= len(stamps) <= 30  # about 1–3 Hz over 10 s
    gaps = [b[1] - a[1] for a, b in zip(bench.stamped, bench.stamped[1:], strict=False)]
    assert min(gaps) >= 0.2 and max(gaps) <= 2.0
    assert all(s.boot == 1 and s.zone == 0 for s in stamps)


def test_stamp_values_are_realistic_and_fit_the_wire() -> None:
    bench = Bench(device={"armed": True, "battery_per_stamp": 0}, stamping={"rate": 1000})
    bench.at(5.0)
    stamps = [s for s, _ in bench.stamped]
    assert len(stamps) == 4096  # the buffer filled up, nothing was acked
    forces = [s.force_dn / 10 for s in stamps]
    contacts = [s.contact_ms for s in stamps]
    assert 5.7 < sum(forces) / len(forces) < 6.3
    assert all(0.1 <= f <= 25.5 for f in forces)
    contacts.sort()
    assert 160 <= contacts[len(contacts) // 2] <= 200
    assert all(1 <= c <= 4095 for c in contacts)


def test_device_time_is_the_scheduled_time_of_each_stamp() -> None:
    bench = Bench(device={"armed": True}, stamping={"rate": 100})
    bench.at(0.505)  # one call counts every stamp due
    times = [s.device_time_ms for s, _ in bench.stamped]
    assert times == [10 * i for i in range(1, 51)]


def test_live_stamps_only_while_the_host_is_present() -> None:
    bench = Bench(device={"host_timeout": 1.0}, stamping={"rate": 10})
    bench.handshake()
    bench.send(Arm())
    assert len(messages(bench.at(0.95), Stamp)) == 9
    # The host goes quiet: stamps are counted and buffered, not sent.
    assert messages(bench.at(3.0), Stamp) == []
    assert bench.device.counters.stamps_counted == 30
    assert bench.device.pending == 30
    # It comes back (any valid frame): live stamps resume from the next one counted.
    bench.send(Heartbeat(0, 0, 0, 0))
    assert [s.seq for s in messages(bench.at(3.25), Stamp)] == [31, 32]


def test_heartbeat_every_half_second_with_state_bits() -> None:
    bench = Bench(device={"battery": 10})
    bench.handshake()
    bench.send(TimeSync(1))
    bench.send(Arm())
    beats = []
    for i in range(1, 9):
        bench.send(Heartbeat(0, 0, 0, 0))
        beats += messages(bench.at(i * 0.25), Heartbeat)
    assert len(beats) == 4
    state = HeartbeatState(beats[-1].state)
    assert state == HeartbeatState.ARMED | HeartbeatState.LOW_BATTERY | HeartbeatState.TIME_SYNCED
    assert beats[-1].boot == 1 and beats[-1].seq == bench.device.last_seq


def test_ack_drops_events_from_the_buffer() -> None:
    bench = Bench(device={"armed": True}, stamping={"rate": 100})
    bench.handshake()
    bench.at(0.1)
    assert bench.device.pending == 10
    bench.send(Ack(1, 6))
    assert [s.seq for s in bench.device.buffer] == [7, 8, 9, 10]


def test_resume_acks_then_replays_the_rest_with_the_replay_flag() -> None:
    bench = Bench(device={"armed": True}, stamping={"rate": 100})
    bench.handshake()
    bench.at(0.1)
    reply = messages(bench.send(Resume(1, 4)), ResumeReply)
    assert reply == [ResumeReply(1, 5, 6)]
    replayed = bench.read(replay=100)
    assert [s.seq for s in messages(replayed, Stamp)] == [5, 6, 7, 8, 9, 10]
    assert all(f.flags & Flag.REPLAY for f in replayed)
    assert bench.device.pending == 6


def test_v2_resume_of_another_epoch_acknowledges_nothing_and_names_the_devices_epoch() -> None:
    bench = Bench(device={"armed": True, "epoch": 0xE1}, stamping={"rate": 100})
    bench.read()
    info = messages(bench.send(Hello(1, 2)), DeviceInfo)[0]
    assert info.selected_version == 2
    bench.host.version = 2
    bench.at(0.1)
    assert messages(bench.send(Resume(1, 4, 0xBAD)), ResumeReply) == [ResumeReply(1, 1, 10, 0xE1)]
    assert bench.device.pending == 10, "a cursor of another numbering acknowledges nothing"
    assert messages(bench.send(Resume(1, 4, 0xE1)), ResumeReply) == [ResumeReply(1, 5, 6, 0xE1)]
    assert messages(bench.send(Resume(1, 6, 0)), ResumeReply) == [ResumeReply(1, 7, 4, 0xE1)]  # 0: not known
    assert bench.device.pending == 4


def test_resume_with_an_empty_buffer_gives_the_next_seq() -> None:
    bench = Bench(device={"armed": True, "boot": 7}, stamping={"rate": 100})
    bench.handshake()
    bench.at(0.05)
    assert messages(bench.send(Resume(7, 5))) == [ResumeReply(7, 6, 0)]
    assert bench.read(replay=10) == []


def test_full_buffer_stops_counting_disarms_and_never_overwrites() -> None:
    bench = Bench(device={"buffer_size": 5}, stamping={"rate": 100})
    bench.handshake()
    bench.send(Arm())
    bench.send(Heartbeat(0, 0, 0, 0))
    frames = bench.at(1.0)
    assert [s.seq for s in bench.device.buffer] == [1, 2, 3, 4, 5]
    assert bench.device.counters.stamps_counted == 5
    assert bench.device.counters.stamps_refused == 1
    assert not bench.device.armed
    assert ArmState(0, ArmReason.BUFFER_FULL) in messages(frames)
    assert Fault(FaultCode.BUFFER_FULL, 1) in messages(frames)
    # ARM is refused while the buffer is full …
    assert messages(bench.send(Arm())) == [Nack(0x03, bench.host.counters.tx_frames - 1, NackCode.REFUSED)]
    beat = messages(bench.at(1.6), Heartbeat)[0]
    assert beat.state & HeartbeatState.BUFFER_FULL and beat.pending == 5
    # … and works once the host acknowledges; numbering carries on.
    bench.send(Ack(1, 5))
    assert messages(bench.send(Arm())) == [ArmState(1, ArmReason.COMMAND)]
    bench.at(1.7)
    assert [s.seq for s in bench.device.buffer][:1] == [6]


def test_reboot_keeps_buffer_and_seq_and_announces_a_new_boot() -> None:
    bench = Bench(device={"armed": True, "reboot_silence": 0.3}, stamping={"rate": 100})
    bench.handshake()
    bench.at(0.1)
    before = list(bench.device.buffer)
    bench.device.reboot(0.1)
    assert bench.at(0.3) == []  # silent while rebooting
    assert bench.send(Ping(1)) == []  # deaf too
    frames = bench.at(0.45)
    assert len(frames) == 1 and frames[0].flags & Flag.ANNOUNCE
    info: Any = frames[0].message
    assert (info.boot, info.last_seq, info.selected_version) == (2, 10, 0)
    assert list(bench.device.buffer) == before
    assert not bench.device.armed
    # Not ready until the host says HELLO again; then the reasons follow the DEVICE_INFO.
    assert messages(bench.send(Ping(2)))[0].code == NackCode.NOT_READY
    frames = bench.send(Hello(1, 1))
    assert messages(frames)[1:] == [ArmState(0, ArmReason.BOOT), Fault(FaultCode.UNEXPECTED_REBOOT, 2)]
    bench.send(Arm())
    bench.at(0.6)
    new = [s for s, _ in bench.stamped if s.boot == 2]
    assert new and new[0].seq == 11


def test_battery_drains_reports_low_and_empties() -> None:
    bench = Bench(device={"battery": 17, "battery_per_stamp": 1.0, "battery_per_minute": 0}, stamping={"rate": 10})
    bench.handshake()
    bench.send(Arm())
    t = 0.0
    while t < 3:
        t += 0.1
        bench.send(Heartbeat(0, 0, 0, 0))
        bench.at(t)
    out = messages(bench.out)
    assert [m.pct for m in out if isinstance(m, Battery)] == list(range(16, -1, -1))
    assert Fault(FaultCode.LOW_BATTERY, 15) in out
    assert Fault(FaultCode.BATTERY_EMPTY, 0) in out
    assert ArmState(0, ArmReason.BATTERY_EMPTY) in out
    assert bench.device.counters.stamps_counted == 17
    assert messages(bench.send(Arm()))[0].code == NackCode.REFUSED
    bench.device.set_battery(100, bench.now)
    assert messages(bench.read()) == [Battery(100, 4200)]
    assert messages(bench.send(Arm())) == [ArmState(1, ArmReason.COMMAND)]


def test_battery_drains_per_minute() -> None:
    bench = Bench(device={"battery": 50, "battery_per_minute": 1.0})
    bench.handshake()
    for minute in range(1, 4):
        bench.at(minute * 60.0)
        bench.send(Heartbeat(0, 0, 0, 0))  # the host was away for a minute: reports wait for it
    assert [m.pct for m in messages(bench.out, Battery)] == [49, 48, 47]


def test_reports_made_while_the_host_is_away_are_sent_when_it_returns() -> None:
    bench = Bench()
    bench.read()
    bench.device.change_head(77, 3, None, 0.0)
    bench.device.sensor_fault(4000, 0.0)
    assert bench.read() == []
    frames = bench.send(Hello(1, 1))
    assert messages(frames)[1:] == [HeadChanged(77, 3, 100), Fault(FaultCode.SENSOR, 4000)]


def test_stamp_limit_stops_stamping_but_not_the_link() -> None:
    bench = Bench(device={"armed": True}, stamping={"rate": 100, "stamps": 25})
    bench.handshake()
    bench.at(2.0)
    assert bench.device.counters.stamps_counted == 25
    assert bench.device.stamping_done and bench.device.armed
    assert messages(bench.send(Ping(3))) == [Pong(3, 2000)]


def test_zone_walk_goes_through_zones_one_to_five() -> None:
    bench = Bench(device={"armed": True}, stamping={"rate": 100, "zones": "walk", "zone_stamps": 2})
    bench.at(0.12)
    assert [s.zone for s, _ in bench.stamped] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 1, 1]


def test_disarm_stops_counting() -> None:
    bench = Bench(stamping={"rate": 100})
    bench.handshake()
    bench.send(Arm())
    bench.at(0.1)
    assert messages(bench.send(Disarm())) == [ArmState(0, ArmReason.COMMAND)]
    bench.at(1.0)
    assert bench.device.counters.stamps_counted == 10


def test_same_seed_same_stamps() -> None:
    def run(seed: int) -> list[Stamp]:
        bench = Bench(device={"armed": True}, seed=seed)
        bench.at(30.0)
        return [s for s, _ in bench.stamped]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_stamp_values_do_not_depend_on_when_the_host_arms() -> None:
    def values(arm_at: float) -> list[tuple[int, int]]:
        bench = Bench(stamping={"rate": 50})
        bench.handshake()
        bench.at(arm_at)
        bench.send(Arm())
        bench.at(arm_at + 1)
        return [(s.force_dn, s.contact_ms) for s, _ in bench.stamped]

    assert values(0.0) == values(1.234)


@pytest.mark.parametrize("rate", [5_000, 50_000])
def test_flood_rates_count_many_stamps_per_advance(rate: int) -> None:
    bench = Bench(device={"armed": True, "buffer_size": 100_000}, stamping={"rate": rate})
    bench.handshake()
    bench.at(0.1)
    assert bench.device.counters.stamps_counted == rate // 10
