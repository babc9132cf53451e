"""The simulator's GATT server through bleak on the bumble backend, and its GATT-level faults.

Everything runs on bumble's emulated controllers: the simulator serves the app's controller
on a local TCP socket and the backend's bumble host connects to it, as ``stampside link``
does. No radio, no mocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from bleak import BleakClient, BleakScanner
from bumble import hci
from bumble.controller import Controller
from bumble.core import AdvertisingData
from bumble.device import Device
from bumble.host import Host
from bumble.transport.common import AsyncPipeSink

from stampside.devicelink.ble_bumble import BumbleBleakClient, BumbleBleakScanner, acquire_host, release_host
from stampside.devicelink.ble_transport import BleTransport, scan
from stampside.devicelink.session import LinkOptions, LinkSession
from stampside.devicelink.state import LinkState
from stampside.devicelink.transport import TransportDisconnected, TransportOpenError
from stampside.firmware_protocol import DeviceInfo, Hello, Role
from stampside.firmware_protocol import ble as profile
from stampside.firmware_protocol.connection import Connection
from stampside.simulator.runner import Simulator
from tests.ble.conftest import FAST
from tests.devicelink.processes import stampside

PATIENCE = 30.0

Make = Callable[..., Simulator]


async def wait_until(predicate: Callable[[], bool], timeout: float = PATIENCE) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def started(make: Make, **sections: object) -> tuple[Simulator, str]:
    sim = make(**sections)
    await sim.start()
    assert sim.ble_hci is not None
    return sim, sim.ble_hci


async def connect(hci_spec: str, **kwargs: object) -> BleakClient:
    device = await BleakScanner.find_device_by_filter(
        lambda d, a: profile.SERVICE_UUID in a.service_uuids, 10, backend=BumbleBleakScanner, hci=hci_spec
    )
    assert device is not None
    client = BleakClient(device, backend=BumbleBleakClient, hci=hci_spec, **kwargs)  # type: ignore[arg-type]
    await client.connect()
    return client


async def test_the_profile_battery_and_device_information_through_bleak(ble_sim: Make) -> None:
    sim, spec = await started(ble_sim, device={"battery": 73, "serial": "SS-000042", "firmware": "1.2.3"})
    lost = asyncio.Event()
    client = await connect(spec, disconnected_callback=lambda _c: lost.set())
    try:
        assert client.is_connected and client.name == "SS000042"
        assert client.mtu_size == profile.PREFERRED_ATT_MTU
        stamp = client.services.get_service(profile.SERVICE_UUID)
        assert stamp is not None
        rx = stamp.get_characteristic(profile.RX_UUID)
        tx = stamp.get_characteristic(profile.TX_UUID)
        assert rx is not None and "write-without-response" in rx.properties
        assert tx is not None and tx.properties == ["notify"]
        assert rx.max_write_without_response_size == profile.PREFERRED_ATT_MTU - 3
        assert await client.read_gatt_char(profile.BATTERY_LEVEL_UUID) == bytearray([73])
        dis = client.services.get_service(profile.DEVICE_INFORMATION_SERVICE_UUID)
        assert dis is not None
        serial = dis.get_characteristic("00002a25-0000-1000-8000-00805f9b34fb")
        firmware = dis.get_characteristic("00002a26-0000-1000-8000-00805f9b34fb")
        assert serial is not None and firmware is not None
        assert await client.read_gatt_char(serial) == b"SS-000042"
        assert await client.read_gatt_char(firmware) == b"1.2.3"
        # Subscribing writes the CCCD; the device's reply to HELLO comes as a notification.
        host = Connection(Role.HOST, (1, 1))
        frames: list[object] = []
        await client.start_notify(tx, lambda _c, data: frames.extend(host.receive_data(bytes(data))))
        cccd = tx.get_descriptor("00002902-0000-1000-8000-00805f9b34fb")
        assert cccd is not None and await client.read_gatt_descriptor(cccd.handle) == b"\x01\x00"
        await client.write_gatt_char(rx, b"\x00" + host.send(Hello(1, 1)), response=False)
        await wait_until(lambda: any(isinstance(getattr(f, "message", None), DeviceInfo) for f in frames))
        await client.stop_notify(tx)
        assert await client.read_gatt_descriptor(cccd.handle) == b"\x00\x00"
        # Battery Level notifies when the whole percentage changes.
        levels: list[int] = []
        await client.start_notify(profile.BATTERY_LEVEL_UUID, lambda _c, data: levels.extend(data))
        sim.set_battery(50)
        await wait_until(lambda: 50 in levels)
        # The device ends the connection: bleak's disconnected callback runs.
        sim.transport.disconnect()
        await asyncio.wait_for(lost.wait(), PATIENCE)
        assert not client.is_connected
    finally:
        await client.disconnect()


async def test_scan_lists_stamps_only_with_name_address_and_rssi(ble_sim: Make) -> None:
    sim, spec = await started(ble_sim)
    # Another peripheral on the same virtual link, advertising something else.
    controller = Controller("watch", link=sim.transport.link)  # type: ignore[attr-defined]
    other = Device(
        name="Watch", address=hci.Address("C1:00:00:00:00:99"), host=Host(controller, AsyncPipeSink(controller))
    )
    await other.power_on()
    await other.start_advertising(
        advertising_data=bytes(AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, b"Watch")])),
        advertising_interval_min=50,
        advertising_interval_max=50,
    )
    seen: set[str] = set()
    async with BleakScanner(lambda d, a: seen.add(a.local_name or ""), backend=BumbleBleakScanner, hci=spec):
        await wait_until(lambda: {"Watch", "SS000001"} <= seen)
    found = await scan(spec, timeout=0.5)
    assert [(s.name, s.address) for s in found] == [("SS000001", sim.endpoint)]
    assert found[0].rssi < 0


async def test_writes_go_in_mtu_sized_pieces_and_a_small_mtu_still_carries_the_link(ble_sim: Make) -> None:
    sim, spec = await started(ble_sim, ble={"mtu": 23})
    transport = BleTransport("ble", hci=spec)
    await transport.open()
    try:
        assert transport.mtu == 23 and sim.transport.ble_stats.mtu == 23  # type: ignore[attr-defined]
        assert transport.write_size == 20
        # 300 bytes of idle fill then HELLO: 16 writes of 20 bytes, one stream for the device.
        await transport.write(bytes(300) + Connection(Role.HOST, (1, 1)).send(Hello(1, 1)))
        host = Connection(Role.HOST, (1, 1))
        frames: list[object] = []
        async with asyncio.timeout(PATIENCE):
            while not any(isinstance(getattr(f, "message", None), DeviceInfo) for f in frames):
                frames.extend(host.receive_data(await transport.read()))
        assert sim.stats().bytes_read >= 300
    finally:
        await transport.close()
    with pytest.raises(TransportDisconnected):
        await transport.write(b"\x00")


async def test_refused_connections_are_retried_by_bleak_retry_connector(ble_sim: Make) -> None:
    sim, spec = await started(ble_sim, ble={"refuse": 2})
    transport = BleTransport("ble:SS000001", hci=spec)
    await transport.open()
    try:
        assert sim.transport.ble_stats.refused == 2  # type: ignore[attr-defined]
        assert sim.transport.connected  # type: ignore[attr-defined]
    finally:
        await transport.close()


async def test_delayed_notifications_slow_the_round_trip_but_the_session_runs(ble_sim: Make) -> None:
    _sim, spec = await started(ble_sim, ble={"notify_delay": 0.15})
    async with LinkSession(BleTransport("ble", hci=spec), options=FAST) as session:
        await session.wait_connected(PATIENCE)
        assert await session.ping() >= 0.15


async def test_lost_notifications_never_reach_the_host(ble_sim: Make) -> None:
    sim, spec = await started(ble_sim, ble={"drop_notify": 1.0})
    transport = BleTransport("ble", hci=spec)
    await transport.open()
    try:
        await transport.write(b"\x00" + Connection(Role.HOST, (1, 1)).send(Hello(1, 1)))
        stats = sim.transport.ble_stats  # type: ignore[attr-defined]
        await wait_until(lambda: sim.stats().hellos >= 1 and stats.notifications_dropped >= 1)
        assert stats.notifications == 0
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(transport.read(), 0.3)
    finally:
        await transport.close()


async def test_a_vanished_app_host_loses_its_connection(ble_sim: Make) -> None:
    sim, spec = await started(ble_sim)
    host = await acquire_host(spec)
    assert host.device is not None
    await host.connect(hci.Address(sim.endpoint, hci.Address.RANDOM_DEVICE_ADDRESS), 10)
    await wait_until(lambda: sim.transport.connected)  # type: ignore[attr-defined]
    await release_host(host)  # closes the HCI socket without disconnecting, like a killed app
    await wait_until(lambda: not sim.transport.connected)  # type: ignore[attr-defined]
    transport = BleTransport("ble", hci=spec)  # and the next app connects as usual
    await transport.open()
    await transport.close()


async def test_open_errors_say_what_to_do(ble_sim: Make) -> None:
    _sim, spec = await started(ble_sim)
    with pytest.raises(TransportOpenError, match=r"no stamp found: the stamp named SS999999 did not show up"):
        await BleTransport("ble:SS999999", hci=spec, scan_timeout=0.3).open()
    with pytest.raises(TransportOpenError, match=r"cannot open the HCI transport tcp-client:127.0.0.1:9"):
        await BleTransport("ble", hci="tcp-client:127.0.0.1:9", scan_timeout=0.3).open()


def test_the_cli_reports_an_unreachable_hci_in_one_line() -> None:
    result = stampside("link", "record", "ble", "--hci", "tcp-client:127.0.0.1:9", "--db", "sqlite://")
    assert result.returncode == 2
    error = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "cannot open the HCI transport" in error[0] and "Traceback" not in result.stderr


async def test_a_vanished_hci_transport_is_a_disconnect_not_a_silence(ble_sim: Make) -> None:
    sim, spec = await started(ble_sim)
    patient = LinkOptions(link_timeout=60.0, reply_timeout=0.2, ping_interval=0)
    async with LinkSession(BleTransport("ble", hci=spec), options=patient) as session:
        await session.wait_connected(PATIENCE)
        await sim.stop()  # the HCI socket closes under the app's bumble host
        # Long before the 60 s link timeout: bleak's disconnected callback ended the link.
        await wait_until(lambda: session.state is not LinkState.CONNECTED, timeout=PATIENCE)
        assert "BLE connection lost" in session.state_reason or session.stats().losses >= 1
