"""Over BLE (bumble's virtual controllers driving bleak), every stamp is stored exactly once.

The simulator is a bumble GATT peripheral; the host is the ordinary ``LinkSession`` over
:class:`stampside.devicelink.ble_transport.BleTransport`, whose bleak runs on the bumble backend
through the simulator's served HCI socket; storage is a real SQLite file. The link is cut in
the middle of a frame five times and notifications are lost on the way: the stored set must
equal the simulator's truth, with nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from stampside.app.storage import Database, DatabaseSink
from stampside.devicelink.ble_transport import BleTransport
from stampside.devicelink.session import LinkSession
from stampside.simulator.runner import Simulator
from tests.ble.conftest import FAST, ble_config, stored_rows, truth_rows

PATIENCE = 60.0


async def wait_until(predicate: Callable[[], bool], timeout: float = PATIENCE) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_500_stamps_through_5_cuts_and_lost_notifications_are_stored_exactly_once(
    database: Database, ble_sim: Callable[..., Simulator]
) -> None:
    sim = ble_sim(
        ble_config(
            device={"armed": True, "battery_per_stamp": 0},
            stamping={"rate": 100, "stamps": 500},
            ble={"drop_notify": 0.03},
        )
    )
    await sim.start()
    assert sim.ble_hci is not None and sim.ble_hci.startswith("tcp-client:127.0.0.1:")
    transport = BleTransport(f"ble:{sim.transport.name}", hci=sim.ble_hci)  # type: ignore[attr-defined]
    async with LinkSession(transport, sink=DatabaseSink(database), arm=True, options=FAST) as session:
        await session.wait_connected(timeout=PATIENCE)
        for cut in range(1, 6):
            # Wait for traffic on this connection, then cut it in the middle of a frame.
            connects = session.stats().connects
            await sim.wait_stamps(cut * 80, timeout=PATIENCE)
            sim.ble_cut()
            await wait_until(lambda c=connects: session.stats().connects > c and session.connected)  # type: ignore[misc]
        await sim.wait_stamps(500, timeout=PATIENCE)
        await wait_until(lambda: session.settled and len(stored_rows(database)) >= 500)
        stats = session.stats()
    ble = sim.transport.ble_stats  # type: ignore[attr-defined]
    assert ble.cuts == 5
    assert ble.notifications_dropped > 0
    assert stats.connects >= 6
    stored = stored_rows(database)
    assert len(stored) == len(set(stored)) == 500, "a stamp was stored twice or lost"
    assert sorted(stored) == sorted(truth_rows(sim))
