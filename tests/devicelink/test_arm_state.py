"""The arm state the host wants is the one the device ends up in, whatever the link does meanwhile.

Root cause of the six-session course test failing about one run in four: the end of a
session's stamping disarmed the device only if the link was up at that instant. Under load the
link had just been declared lost, the DISARM was skipped, and the device went on counting into
the next session's checks. Now the wish is kept: every handshake disarms a device that must not
count, and a heartbeat showing it armed brings another DISARM.
"""

from __future__ import annotations

from pathlib import Path

from stampside.app.storage import Database, DatabaseSink
from stampside.app.tui.link_bridge import LinkBridge
from stampside.devicelink.serial_transport import SerialTransport
from stampside.devicelink.session import LinkSession
from stampside.devicelink.state import LinkState
from stampside.simulator.config import DeviceConfig, SimConfig, StampingConfig
from stampside.simulator.runner import Simulator
from tests.devicelink.conftest import FAST
from tests.devicelink.scripted_device import wait_until


def simulator(armed: bool = False) -> Simulator:
    return Simulator(
        SimConfig(device=DeviceConfig(serial="SS-ARM", armed=armed), stamping=StampingConfig(rate=20), seed=2)
    )


async def test_a_disarm_asked_while_the_link_is_down_reaches_the_device_when_it_is_back(
    database: Database, tmp_path: Path
) -> None:
    sim = simulator()
    await sim.start()
    try:
        async with LinkSession(
            SerialTransport(sim.url), sink=DatabaseSink(database), options=FAST, arm=True
        ) as session:
            await session.wait_connected(10)
            await wait_until(lambda: sim.device.armed and len(sim.truth) > 3, what="stamping")
            sim.drop(1.5)
            await wait_until(lambda: session.state is LinkState.LOST, timeout=5, what="the link lost")
            assert await session.disarm() is None  # not connected: nothing sent now ...
            assert sim.device.armed
            await wait_until(lambda: session.connected, timeout=10, what="the link back")
            await wait_until(lambda: not sim.device.armed, timeout=5, what="the device disarmed")  # ... but kept
            counted = len(sim.truth)
            await wait_until(lambda: session.settled, what="everything stored")
            assert len(sim.truth) == counted, "it stopped counting"
    finally:
        await sim.stop()


async def test_a_device_found_counting_is_disarmed_when_counting_is_not_wanted(database: Database) -> None:
    sim = simulator(armed=True)  # armed by its own button, or left armed by an earlier host
    await sim.start()
    try:
        bridge = LinkBridge(sim.url, sink=DatabaseSink(database), arm=False, options=FAST)
        assert await bridge.start()
        await wait_until(lambda: bridge.status.state is LinkState.CONNECTED, what="connected")
        await wait_until(lambda: not sim.device.armed, timeout=5, what="the device disarmed")
        await bridge.aclose()
    finally:
        await sim.stop()


async def test_the_bridge_waits_for_a_lost_link_to_disarm_the_device(database: Database) -> None:
    sim = simulator()
    await sim.start()
    try:
        bridge = LinkBridge(sim.url, sink=DatabaseSink(database), arm=True, options=FAST)
        assert await bridge.start()
        await wait_until(lambda: sim.device.armed, what="armed")
        sim.drop(1.0)
        await wait_until(lambda: bridge.status.down, timeout=5, what="the link lost")
        assert await bridge.disarm(wait=10.0), "disarmed once the link came back"
        assert not sim.device.armed
        await bridge.aclose()
    finally:
        await sim.stop()
