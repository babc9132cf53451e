"""What `link record` says about the device: each fault once, as the frames arrive, and its status-line summary.

The frames are encoded by a device-side ``Connection`` and decoded by a host-side one, as on a
link, so link sequence numbers and raw bytes are real (a frame sent twice is the same bytes).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from stampside.app.cli.link_faults import CatchUp, DeviceConditions
from stampside.devicelink.broadcast import Broadcast
from stampside.devicelink.events import Direction, FrameRecord
from stampside.firmware_protocol import (
    Arm,
    ArmReason,
    ArmState,
    Battery,
    DeviceInfo,
    Fault,
    FaultCode,
    Heartbeat,
    HeartbeatState,
    Message,
    MessageType,
    Nack,
    NackCode,
    Role,
    Stamp,
)
from stampside.firmware_protocol.connection import Connection

SERIAL = "SS-000001"


def info(boot: int = 1, battery: int = 88) -> DeviceInfo:
    return DeviceInfo(SERIAL, 2, 1, 0, 0, 1, 1, 1, 2000, 7, 0, 100, battery, boot, 0)


class Link:
    """A device talking to ``conditions`` through real encoding and decoding."""

    def __init__(self, conditions: DeviceConditions | None = None) -> None:
        self.conditions = conditions or DeviceConditions()
        self.device = Connection(Role.DEVICE, (1, 1))
        self.host = Connection(Role.HOST, (1, 1))
        self.records: list[FrameRecord] = []

    def wire(self, message: Message) -> bytes:
        return self.device.send(message, 0)

    def bytes_in(self, data: bytes) -> list[str]:
        lines = []
        for event in self.host.receive_data(data):
            record = FrameRecord(Direction.RX, 0.0, 0.0, event, data)
            self.records.append(record)
            lines += self.conditions.on_frame(record)
        return lines

    def rx(self, *messages: Message) -> list[str]:
        return self.bytes_in(b"".join(self.wire(m) for m in messages))

    def heartbeat(self, state: HeartbeatState) -> list[str]:
        return self.rx(Heartbeat(1, 20, 20, int(state)))


@pytest.fixture
def link() -> Link:
    link = Link()
    assert link.rx(info()) == []
    return link


def refused_arm() -> Nack:
    return Nack(MessageType.ARM, 7, NackCode.REFUSED)


def test_buffer_full_is_said_once_with_the_stamps_refused_then_counting_again(link: Link) -> None:
    assert link.rx(ArmState(0, ArmReason.BUFFER_FULL)) == []  # its FAULT follows and says it
    assert link.rx(Fault(FaultCode.BUFFER_FULL, 12)) == [
        f"{SERIAL}: buffer full — the device stopped counting (12 stamps refused so far); "
        "it resumes once stored stamps are acknowledged"
    ]
    assert (
        link.conditions.summary()
        == "device: NOT COUNTING (buffer full, 12 refused), battery 88% | faults: BUFFER_FULL 1"
    )
    assert link.rx(refused_arm()) == [
        f"{SERIAL}: the device refused ARM (buffer full); it is armed again once stored stamps are acknowledged"
    ]
    # Still full: the heartbeat, another refusal and a later FAULT add nothing new to say.
    assert link.heartbeat(HeartbeatState.BUFFER_FULL) == []
    assert link.rx(refused_arm()) == []
    assert link.rx(Fault(FaultCode.BUFFER_FULL, 13)) == []
    assert "buffer full, 13 refused; ARM refused" in link.conditions.summary()
    assert link.rx(ArmState(1, ArmReason.COMMAND)) == [f"{SERIAL}: counting again — the device is armed"]
    assert link.heartbeat(HeartbeatState.ARMED) == []
    assert link.conditions.summary() == "device: armed, battery 88% | faults: BUFFER_FULL 2"
    # A new episode is news again.
    assert link.rx(Fault(FaultCode.BUFFER_FULL, 14))[0].startswith(f"{SERIAL}: buffer full — ")


def test_a_frame_the_line_delivered_twice_is_one_fault(link: Link) -> None:
    data = link.wire(Fault(FaultCode.SENSOR, 0xFFFF))
    lines = link.bytes_in(data + data)
    assert len(lines) == 1 and "force sensor fault (raw reading 65535)" in lines[0]
    assert link.conditions.faults["SENSOR"] == 1


def test_a_heartbeat_tells_of_a_full_buffer_whose_fault_was_lost(link: Link) -> None:
    # Still armed at capacity: nothing was refused yet, so nothing is said.
    assert link.heartbeat(HeartbeatState.ARMED | HeartbeatState.BUFFER_FULL) == []
    assert "armed, BUFFER FULL (the next stamp is refused)" in link.conditions.summary()
    # Disarmed with the bit set: it stopped, and its FAULT never arrived.
    assert link.heartbeat(HeartbeatState.BUFFER_FULL) == [
        f"{SERIAL}: buffer full — the device stopped counting; it resumes once stored stamps are acknowledged"
    ]
    assert link.rx(Fault(FaultCode.BUFFER_FULL, 3)) == []  # late: counted, not said again
    assert "buffer full, 3 refused" in link.conditions.summary()
    assert link.heartbeat(HeartbeatState.NONE) == []
    assert "buffer" not in link.conditions.summary()


def test_low_then_empty_battery_with_percentages_then_a_swap(link: Link) -> None:
    assert link.rx(Battery(16, 3700)) == []
    assert link.rx(Battery(15, 3690), Fault(FaultCode.LOW_BATTERY, 15)) == [
        f"{SERIAL}: battery low — 15 %; charge or swap it soon (at 0 % the device stops counting)"
    ]
    assert link.heartbeat(HeartbeatState.ARMED | HeartbeatState.LOW_BATTERY) == []
    assert link.rx(Battery(14, 3680)) == []
    assert "battery 14% LOW" in link.conditions.summary()
    lines = link.rx(Battery(0, 3300), ArmState(0, ArmReason.BATTERY_EMPTY), Fault(FaultCode.BATTERY_EMPTY, 0))
    assert lines == [
        f"{SERIAL}: battery empty (0 %) — the device stopped counting; "
        "charge or swap the battery, then it can be armed again"
    ]
    assert link.rx(refused_arm()) == [f"{SERIAL}: the device refused ARM (battery empty); charge or swap the battery"]
    assert "NOT COUNTING (battery empty; ARM refused), battery 0%" in link.conditions.summary()
    assert link.rx(Battery(100, 4200)) == []  # swapped
    assert link.rx(ArmState(1, ArmReason.COMMAND)) == [f"{SERIAL}: counting again — the device is armed"]
    assert "device: armed, battery 100% |" in link.conditions.summary()
    assert link.rx(Battery(15, 3690), Fault(FaultCode.LOW_BATTERY, 15))[0].startswith(f"{SERIAL}: battery low — 15 %")


def test_a_battery_that_is_empty_from_the_start_is_said_once_as_empty(link: Link) -> None:
    lines = link.rx(Fault(FaultCode.LOW_BATTERY, 0), Fault(FaultCode.BATTERY_EMPTY, 0), refused_arm())
    assert [line.split(" — ")[0] for line in lines] == [
        f"{SERIAL}: battery empty (0 %)",
        f"{SERIAL}: the device refused ARM (battery empty); charge or swap the battery",
    ]


def test_a_heartbeat_tells_of_a_low_battery_whose_fault_was_lost(link: Link) -> None:
    assert link.heartbeat(HeartbeatState.ARMED | HeartbeatState.LOW_BATTERY) == [
        f"{SERIAL}: battery low — 88 %; charge or swap it soon (at 0 % the device stops counting)"
    ]
    assert link.rx(Fault(FaultCode.LOW_BATTERY, 15)) == []


def test_a_failing_sensor_is_said_once_per_boot_and_counted(link: Link) -> None:
    assert len(link.rx(Fault(FaultCode.SENSOR, 0xFFFF))) == 1
    assert link.rx(Fault(FaultCode.SENSOR, 0xFFFE)) == []
    assert link.conditions.summary().endswith("faults: SENSOR 2")
    assert link.rx(info(boot=2)) == []
    assert link.rx(Fault(FaultCode.SENSOR, 0xFFFF)) == [
        f"{SERIAL}: force sensor fault (raw reading 65535) — forces may be wrong; "
        "check the device (further sensor faults are counted in the status line)"
    ]


def test_every_unexpected_reboot_is_said(link: Link) -> None:
    assert link.rx(info(boot=2), ArmState(0, ArmReason.BOOT), Fault(FaultCode.UNEXPECTED_REBOOT, 2)) == [
        f"{SERIAL}: the device rebooted unexpectedly (now boot 2); the stamps in its buffer are kept; "
        "the host arms it again"
    ]
    assert link.rx(ArmState(1, ArmReason.COMMAND)) == []  # re-armed after a reboot: nothing had stopped
    assert len(link.rx(info(boot=3), Fault(FaultCode.UNEXPECTED_REBOOT, 3))) == 1
    assert link.conditions.faults["UNEXPECTED_REBOOT"] == 2
    quiet = Link(DeviceConditions(arming=False))
    quiet.rx(info())
    assert quiet.rx(Fault(FaultCode.UNEXPECTED_REBOOT, 2))[0].endswith("the stamps in its buffer are kept")


def test_an_unknown_fault_code_is_said_with_its_number(link: Link) -> None:
    assert link.rx(Fault(9, 4)) == [f"{SERIAL}: device fault code 9 (detail 4), unknown to this version of Stampside"]
    assert link.conditions.summary().endswith("faults: code 9 1")


def test_stamps_frames_sent_by_the_host_and_other_nacks_say_nothing(link: Link) -> None:
    assert link.rx(Stamp(1, 1, 10, 40, 150, 0), Nack(MessageType.RESUME, 3, NackCode.NOT_READY)) == []
    tx = Connection(Role.HOST, (1, 1)).send(Arm(), 0)
    for event in Connection(Role.DEVICE, (1, 1)).receive_data(tx):
        assert link.conditions.on_frame(FrameRecord(Direction.TX, 0.0, 0.0, event, tx)) == []
    assert link.conditions.summary() == "device: battery 88%"
    assert DeviceConditions().summary() == ""


def session_like(**values: Any) -> Any:
    return SimpleNamespace(**{"last_fault": None, "device_heartbeat": None, "battery": None, **values})


def test_a_fault_among_frames_a_slow_subscriber_lost_is_caught_up_once() -> None:
    link = Link()
    link.rx(info())
    hub: Broadcast[FrameRecord] = Broadcast()
    frames = hub.subscribe(maxsize=2)
    catch_up = CatchUp(frames, link.conditions)
    fault = Fault(FaultCode.BUFFER_FULL, 5)
    for message in (fault, Heartbeat(1, 9, 9, int(HeartbeatState.BUFFER_FULL)), Battery(80, 3900), Battery(79, 3890)):
        (record,) = [FrameRecord(Direction.RX, 0.0, 0.0, e, b"") for e in link.host.receive_data(link.wire(message))]
        hub.publish(record)
    assert frames.dropped == 2  # the FAULT and the heartbeat went by unread
    session = session_like(last_fault=fault, device_heartbeat=Heartbeat(1, 9, 9, int(HeartbeatState.BUFFER_FULL)))
    assert catch_up(session) == []  # the follower has not read what is left yet
    for unread in (frames.get_nowait(), frames.get_nowait()):
        assert unread is not None
        assert link.conditions.on_frame(unread) == []
    lines = catch_up(session)
    assert len(lines) == 1 and "buffer full — the device stopped counting (5 stamps refused so far)" in lines[0]
    assert catch_up(session) == []
    assert link.conditions.catch_up(fault, None, None) == []  # the same fault object: already said
    assert "battery 79%" in link.conditions.summary()
