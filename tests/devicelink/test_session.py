"""LinkSession against a scripted device over real ptys and TCP sockets, storing into real SQLite."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path

import pytest

from stampside.app.storage import Database, DatabaseSink
from stampside.devicelink.errors import CommandRefused
from stampside.devicelink.serial_transport import SerialTransport
from stampside.devicelink.session import LinkSession
from stampside.devicelink.sink import CommitBatch, Cursor
from stampside.devicelink.state import LinkState
from stampside.firmware_protocol import (
    SUPPORTED_VERSIONS,
    Ack,
    Arm,
    DeviceInfo,
    Heartbeat,
    Hello,
    IncompatibleVersion,
    Resume,
    Stamp,
    TimeSync,
)
from tests.devicelink.conftest import FAST, cursor, stored, stored_count
from tests.devicelink.scripted_device import ScriptedDevice, wait_until


class GatedSink:
    """A real DatabaseSink whose commits wait until the test opens the gate."""

    def __init__(self, inner: DatabaseSink) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.calls = 0

    def open_device(self, info: DeviceInfo) -> Cursor:
        return self.inner.open_device(info)

    def commit(self, batch: CommitBatch) -> int:
        self.calls += 1
        self.gate.wait(10)
        return self.inner.commit(batch)


# -- handshake ---------------------------------------------------------------------------


async def test_handshake_over_a_pty_sends_a_lone_zero_then_hello_and_syncs_time(
    device: ScriptedDevice, tmp_path: Path
) -> None:
    url = await device.serve_pty(tmp_path)
    async with LinkSession(SerialTransport(url), options=FAST) as session:
        info = await session.wait_connected(5)
        assert info.serial == "TEST0001"
        assert session.state is LinkState.CONNECTED
        assert device.raw_in[:1] == b"\x00"
        assert isinstance(device.received[0], Hello)
        assert (device.received[0].min_version, device.received[0].max_version) == SUPPORTED_VERSIONS
        assert any(isinstance(m, TimeSync) for m in device.received)
        assert session.last_time_sync is not None
        assert session.state_age >= 0
    assert session.state is LinkState.CLOSED


async def test_an_incompatible_device_ends_the_session_with_both_ranges_and_no_retry_loop(tmp_path: Path) -> None:
    device = ScriptedDevice(versions=(3, 4))
    try:
        url = await device.serve_pty(tmp_path)
        session = LinkSession(SerialTransport(url), options=FAST)
        await session.start()
        with pytest.raises(IncompatibleVersion) as err:
            await session.wait_connected(5)
        assert "v3–v4" in str(err.value) and "v1–v2" in str(err.value)
        await asyncio.sleep(0.3)
        assert session.state is LinkState.CLOSED
        assert len(device.sent_by_host(Hello)) == 1
        await session.close()
    finally:
        await device.stop()


# -- without a sink -------------------------------------------------------------------------


async def test_without_a_sink_the_session_never_acknowledges_or_resumes(device: ScriptedDevice, tmp_path: Path) -> None:
    url = await device.serve_pty(tmp_path)
    async with LinkSession(SerialTransport(url), options=FAST, arm=True) as session:
        await session.wait_connected(5)
        with session.subscribe_stamps() as stamps:
            device.stamp(5, live=lambda seq: seq != 3)  # seq 3 lost: a gap a recorder would fill
            got = [(await anext(stamps)).stamp.seq for _ in range(4)]
        await asyncio.sleep(0.6)  # heartbeats and resume checks happen meanwhile
        assert got == [1, 2, 4, 5]
        assert session.stats().stamps_new == 4
    assert device.sent_by_host(Ack) == []
    assert device.sent_by_host(Resume) == []
    assert all((hb.boot, hb.seq) == (0, 0) for hb in device.sent_by_host(Heartbeat))
    assert len(device.buffer) == 5  # the device still holds every stamp


# -- durable delivery ------------------------------------------------------------------------


async def test_the_ack_follows_the_commit_never_precedes_it(
    device: ScriptedDevice, tmp_path: Path, sink: DatabaseSink, database: Database
) -> None:
    gated = GatedSink(sink)
    url = await device.serve_pty(tmp_path)
    async with LinkSession(SerialTransport(url), sink=gated, options=FAST, arm=True) as session:
        await session.wait_connected(5)
        device.stamp(10)
        await wait_until(lambda: gated.calls > 0, what="a commit")
        await asyncio.sleep(0.3)
        assert device.sent_by_host(Ack) == []
        assert stored_count(database) == 0
        gated.gate.set()
        await wait_until(lambda: any(a.seq == 10 for a in device.sent_by_host(Ack)), what="ACK(10)")
        assert stored_count(database) == 10
        assert cursor(database) == (1, 10)
        acks = device.sent_by_host(Ack)
        assert len(acks) <= gated.calls  # at most one ACK per committed batch
        assert [a.seq for a in acks] == sorted(a.seq for a in acks)
    assert len(device.buffer) == 0


async def test_a_gap_is_filled_by_resume_and_every_stamp_is_stored_once(
    device: ScriptedDevice, tmp_path: Path, sink: DatabaseSink, database: Database
) -> None:
    url = await device.serve_pty(tmp_path)
    async with LinkSession(SerialTransport(url), sink=sink, options=FAST, arm=True) as session:
        await session.wait_connected(5)
        resumes_before = len(device.sent_by_host(Resume))
        device.stamp(20, live=lambda seq: seq not in (3, 11, 12))
        await wait_until(lambda: session.settled, what="everything stored and acknowledged")
        new_resumes = device.sent_by_host(Resume)[resumes_before:]
        assert new_resumes and new_resumes[0].seq == 2  # resume after the last stored event
        assert session.stats().gaps >= 1
    assert stored(database) == [(1, s) for s in range(1, 21)]
    assert cursor(database) == (1, 20)


async def test_duplicated_frames_and_replays_are_not_stored_twice(
    device: ScriptedDevice, tmp_path: Path, sink: DatabaseSink, database: Database
) -> None:
    url = await device.serve_pty(tmp_path)
    device.duplicate = True
    async with LinkSession(SerialTransport(url), sink=sink, options=FAST, arm=True) as session:
        await session.wait_connected(5)
        device.stamp(30)
        await wait_until(lambda: session.settled, what="settled")
        assert (await session.resume(0, 0)).count == 0  # nothing left on the device
        # Replay everything again by hand: storage must ignore it all.
        device.buffer = type(device.buffer)(4096, [Stamp(1, s, 0, 50, 150, 0) for s in range(1, 31)])
        await session.resume(0, 0)
        await asyncio.sleep(0.3)
        stats = session.stats()
        assert stats.duplicates >= 30
    assert stored_count(database) == 30


async def test_a_new_session_resumes_from_the_stored_cursor(
    device: ScriptedDevice, tmp_path: Path, sink: DatabaseSink, database: Database
) -> None:
    url = await device.serve_pty(tmp_path)
    async with LinkSession(SerialTransport(url), sink=sink, options=FAST, arm=True) as session:
        await session.wait_connected(5)
        device.stamp(7)
        await wait_until(lambda: session.settled, what="settled")
    device.stamp(3)  # counted while no host listened
    async with LinkSession(SerialTransport(url), sink=DatabaseSink(database), options=FAST, arm=True) as session:
        await session.wait_connected(5)
        assert device.sent_by_host(Resume)[-1].seq == 7
        await wait_until(lambda: session.settled, what="settled")
    assert stored(database) == [(1, s) for s in range(1, 11)]


async def test_a_lost_ack_is_sent_again_when_the_heartbeat_shows_pending_events(
    device: ScriptedDevice, tmp_path: Path, sink: DatabaseSink
) -> None:
    url = await device.serve_pty(tmp_path)
    async with LinkSession(SerialTransport(url), sink=sink, options=FAST, arm=True) as session:
        await session.wait_connected(5)
        device.ignore.add(Ack)
        device.stamp(5)
        await wait_until(lambda: session.stats().acked_seq == 5, what="commit")
        await asyncio.sleep(0.3)
        assert len(device.buffer) == 5  # the ACK got lost
        device.ignore.clear()
        await wait_until(lambda: len(device.buffer) == 0, what="ACK sent again")
        assert session.stats().ack_retransmits >= 1
        await wait_until(lambda: session.settled, what="settled")


# -- link loss, reconnects, reboots -----------------------------------------------------------


async def test_a_silent_link_is_lost_then_reconnected_and_the_backlog_replayed(
    device: ScriptedDevice, tmp_path: Path, sink: DatabaseSink, database: Database
) -> None:
    url = await device.serve_pty(tmp_path)
    async with LinkSession(SerialTransport(url), sink=sink, options=FAST, arm=True) as session:
        states = session.subscribe_states()
        await session.wait_connected(5)
        device.stamp(5)
        await wait_until(lambda: session.settled, what="settled")
        device.silent = True
        device.stamp(5)  # counted during the drop, lost on the wire
        await wait_until(lambda: session.state is LinkState.LOST, timeout=3, what="link lost")
        await asyncio.sleep(0.3)
        device.silent = False
        await wait_until(lambda: session.state is LinkState.CONNECTED, timeout=5, what="reconnect")
        await wait_until(lambda: session.settled, what="settled after reconnect")
        seen = []
        while (change := states.get_nowait()) is not None:
            seen.append(change.state)
        assert LinkState.LOST in seen and LinkState.RECONNECTING in seen
        assert seen[-1] is LinkState.CONNECTED
        assert device.armed  # re-armed after the reconnect
        assert session.stats().losses >= 1
    assert stored(database) == [(1, s) for s in range(1, 11)]


async def test_a_closed_tcp_connection_is_reopened(
    device: ScriptedDevice, sink: DatabaseSink, database: Database
) -> None:
    url = await device.serve_tcp()
    async with LinkSession(SerialTransport(url), sink=sink, options=FAST, arm=True) as session:
        await session.wait_connected(5)
        device.stamp(3)
        await wait_until(lambda: session.settled, what="settled")
        await device.close_client()
        device.stamp(4)
        await wait_until(lambda: device.connections >= 2, timeout=5, what="a new TCP connection")
        await wait_until(lambda: session.settled, what="settled after reconnect")
    assert stored(database) == [(1, s) for s in range(1, 8)]


async def test_a_device_reboot_gets_a_new_handshake_and_is_rearmed(
    device: ScriptedDevice, tmp_path: Path, sink: DatabaseSink, database: Database
) -> None:
    url = await device.serve_pty(tmp_path)
    async with LinkSession(SerialTransport(url), sink=sink, options=FAST, arm=True) as session:
        await session.wait_connected(5)
        device.stamp(4)
        device.silent = True
        device.stamp(2)  # counted, never sent: the reboot comes first
        device.silent = False
        hellos = len(device.sent_by_host(Hello))
        device.reboot()
        await wait_until(lambda: len(device.sent_by_host(Hello)) > hellos, what="HELLO after the reboot")
        await wait_until(lambda: device.armed, what="re-armed")
        device.stamp(3)
        await wait_until(lambda: session.settled, what="settled")
        assert session.device is not None and session.device.boot == 2
        assert session.stats().reboots == 1
    assert stored(database) == [(1, s) for s in range(1, 7)] + [(2, s) for s in range(7, 10)]


# -- commands and observers ------------------------------------------------------------------


async def test_commands_ping_arm_disarm_and_frame_tap(device: ScriptedDevice, tmp_path: Path) -> None:
    url = await device.serve_pty(tmp_path)
    async with LinkSession(SerialTransport(url), options=FAST) as session:
        frames = session.subscribe_frames()
        await session.wait_connected(5)
        rtt = await session.ping()
        assert 0 < rtt < 1
        state = await session.arm()
        assert state is not None and state.armed == 1 and device.armed
        state = await session.disarm()
        assert state is not None and state.armed == 0 and not device.armed
        assert session.stats().rtt.samples >= 3
        seen = []
        while (record := frames.get_nowait()) is not None:
            seen.append((record.direction.value, type(getattr(record.event, "message", None)).__name__))
        assert ("tx", "Hello") in seen and ("rx", "DeviceInfo") in seen
        assert ("tx", "Arm") in seen and ("rx", "ArmState") in seen


async def test_bad_frames_are_counted_and_shown_to_the_tap(device: ScriptedDevice, tmp_path: Path) -> None:
    url = await device.serve_pty(tmp_path)
    async with LinkSession(SerialTransport(url), options=FAST) as session:
        frames = session.subscribe_frames()
        await session.wait_connected(5)
        assert device._writer is not None
        device._writer.write(b"\x05\x01\x02\x03\x04\x00")  # a frame whose CRC is wrong
        device.stamp(1)
        await wait_until(lambda: session.stats().bad_total >= 1, what="a bad frame")
        bad = []
        while (record := frames.get_nowait()) is not None:
            if record.bad:
                bad.append(record)
        assert bad and bad[0].wire == b"\x05\x01\x02\x03\x04"


async def test_a_refused_arm_is_reported_and_counting_stays_off(device: ScriptedDevice, tmp_path: Path) -> None:
    url = await device.serve_pty(tmp_path)
    device.refuse.add(Arm)
    async with LinkSession(SerialTransport(url), options=FAST) as session:
        await session.wait_connected(5)
        with pytest.raises(CommandRefused, match="ARM: REFUSED"):
            await session.arm()
        assert not device.armed


def test_options_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        FAST.link_timeout = 1  # type: ignore[misc]


async def test_a_reset_device_is_resumed_from_nothing_and_loses_nothing(
    device: ScriptedDevice, tmp_path: Path, sink: DatabaseSink, database: Database
) -> None:
    url = await device.serve_pty(tmp_path)
    async with LinkSession(SerialTransport(url), sink=sink, options=FAST, arm=True) as session:
        await session.wait_connected(5)
        device.stamp(10)
        await wait_until(lambda: session.settled, what="settled")
    # Factory reset: numbering starts again (a later boot), three stamps counted offline.
    device.seq, device.boot = 0, 5
    device.buffer = type(device.buffer)(4096)
    device.silent = True
    device.stamp(3)
    device.silent = False
    async with LinkSession(SerialTransport(url), sink=DatabaseSink(database), options=FAST, arm=True) as session:
        await session.wait_connected(5)
        await wait_until(lambda: session.settled, what="settled")
        assert device.sent_by_host(Resume)[-1].seq == 0  # acknowledges nothing of the new numbering
        assert session.stats().regressions == 1
    assert {(5, 1), (5, 2), (5, 3)} <= set(stored(database))
    assert stored_count(database) == 13
