"""The simulator under faults can be collected exactly once by a host that follows protocol.md.

The host here is deliberately minimal (firmware_protocol's DeliveryTracker plus the
conversation rules of section 3, in memory); the link layer's own end-to-end tests cover
``devicelink``. This proves the device side gives a correct host everything it needs:
after drops, corrupted bytes and reboots, the stored set equals the truth log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from stampside.firmware_protocol import (
    Ack,
    Arm,
    ArmState,
    DeliveryTracker,
    DeviceInfo,
    Flag,
    Heartbeat,
    HeartbeatState,
    Hello,
    Nack,
    NackCode,
    Resume,
    ResumeReply,
    Stamp,
)
from stampside.simulator.runner import Simulator
from tests.simulator.conftest import config
from tests.simulator.rawhost import RawHost

LINK_LOST = 2.0
RETRY = 0.3


class Collector:
    """Handshake, resume, arm, store, ack; handshake again after a reboot or a silence."""

    def __init__(self, sim: Simulator, host: RawHost) -> None:
        self.sim = sim
        self.host = host
        self.tracker = DeliveryTracker(resume_timeout=0.2)
        self.stored: dict[tuple[int, int], Stamp] = {}
        self.duplicates = 0
        self.boot = -1
        self.handshakes = 0
        self._seen = 0
        self._last_valid = 0.0
        self._hello_sent = -1.0
        self._ready = False
        self._armed_wanted = True
        self._arm_sent = -1.0
        self._last_beat = 0.0

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def run(self, until: Callable[[], bool]) -> None:
        while not until():
            await asyncio.sleep(0.005)
            self.step()

    def step(self) -> None:
        now = self.now()
        host = self.host
        events = host.events[self._seen :]
        self._seen = len(host.events)
        batch: list[Stamp] = []
        for event in events:
            if not hasattr(event, "message"):
                continue  # bad frames: counted by the connection
            self._last_valid = now
            msg = event.message  # type: ignore[union-attr]
            if isinstance(msg, DeviceInfo):
                if event.flags & Flag.ANNOUNCE or msg.boot != self.boot:  # type: ignore[union-attr]
                    self._ready = False
                if not event.flags & Flag.ANNOUNCE and msg.selected_version:  # type: ignore[union-attr]
                    self._on_info(msg, now)
            elif isinstance(msg, Nack) and msg.code == NackCode.NOT_READY:
                self._ready = False
            elif not self._ready:
                continue
            elif isinstance(msg, Stamp):
                if self.tracker.accept(msg, now, replay=event.replay):  # type: ignore[union-attr]
                    batch.append(msg)
            elif isinstance(msg, ResumeReply):
                self.tracker.on_resume_reply(msg, now)
            elif isinstance(msg, Heartbeat):
                self.tracker.note_device_head(msg.seq)
                if msg.boot != self.boot:
                    self._ready = False
                elif not msg.state & HeartbeatState.ARMED:
                    self._arm(now)
            elif isinstance(msg, ArmState) and not msg.armed:
                self._arm(now)
        if batch:
            for stamp in batch:
                key = (stamp.boot, stamp.seq)
                if key in self.stored:
                    self.duplicates += 1
                self.stored[key] = stamp
            if self.tracker.committed(batch):
                host.send(Ack(self.tracker.acked_boot, self.tracker.acked_seq))
        if now - self._last_valid > LINK_LOST:
            self._ready = False
        if not self._ready:
            if now - self._hello_sent > RETRY:
                self._hello_sent = now
                host.send_raw(b"\x00")
                host.send(Hello(1, 1))
            return
        if self.tracker.resume_due(now):
            host.send(Resume(self.tracker.acked_boot, self.tracker.acked_seq))
            self.tracker.resume_sent(now)
        if now - self._last_beat > 0.5:
            self._last_beat = now
            host.send(Heartbeat(self.tracker.acked_boot, self.tracker.acked_seq, 0, 0))

    def _on_info(self, info: DeviceInfo, now: float) -> None:
        self.handshakes += 1
        self._ready = True
        self.boot = info.boot
        self.tracker.note_device_head(info.last_seq)
        self.tracker.abandon_inflight()
        self.host.send(Resume(self.tracker.acked_boot, self.tracker.acked_seq))
        self.tracker.resume_sent(now)
        self._arm(now, force=True)

    def _arm(self, now: float, force: bool = False) -> None:
        if self._armed_wanted and not self.sim.device.stamping_done and (force or now - self._arm_sent > RETRY):
            self._arm_sent = now
            self.host.send(Arm())


@pytest.mark.parametrize("transport", ["pty", "tcp"])
async def test_every_stamp_is_collected_exactly_once_through_faults(transport: str) -> None:
    link = {"listen": "127.0.0.1:0"} if transport == "tcp" else {}
    sim = Simulator(
        config(
            link=link,
            stamping={"rate": 1000, "stamps": 1000},
            faults={"corrupt": 0.01, "drop_every": 0.4, "drop_for": 0.1, "reboot_every": 400},
        )
    )
    await sim.start()
    host = await (RawHost.open_tcp(sim.endpoint) if transport == "tcp" else RawHost.open_pty(sim.url))
    try:
        collector = Collector(sim, host)
        def done() -> bool:
            return sim.device.stamping_done and set(collector.stored) == {(s.boot, s.seq) for s in sim.truth}

        await asyncio.wait_for(collector.run(done), 30)
        assert len(sim.truth) == 1000
        assert {s.boot for s in sim.truth} == {1, 2, 3}
        assert sorted(collector.stored.values(), key=lambda s: s.seq) == sim.truth
        stats = sim.stats()
        assert stats.reboots == 2 and stats.drops >= 1
        assert stats.bytes_corrupted_out > 0 and stats.bytes_corrupted_in > 0
    finally:
        host.close()
        await sim.stop()
