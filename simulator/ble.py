"""The simulator as a BLE peripheral: the Stampside GATT profile on bumble's host stack.

:class:`BleTransport` is one more end of the wire for :class:`~stampside.simulator.runner.Simulator`,
next to the pty and TCP transports: the same device model, the same byte faults, and on top
the GATT-level faults of :class:`~stampside.simulator.config.BleConfig` (a lost notification, delayed
notifications, a smaller MTU, a disconnect in the middle of a frame, refused connections).

The peripheral (docs/protocol.md, "BLE"):

* the Stampside service: RX (write without response, host → device) and TX (notify,
  device → host). The device's byte stream goes out in notifications of at most MTU − 3
  bytes; what the host writes to RX is fed to the device model as received bytes;
* the Battery Service (0x180F, the device's battery level) and the Device Information
  Service (0x180A: manufacturer, model, serial, hardware and firmware revisions);
* advertising: flags, the 128-bit service UUID and a short name (≤ 8 characters), all in
  the advertising data, because bumble's emulated controller sends no scan response.

Where the radio is (``ble.hci``):

* a bumble HCI transport spec (``usb:0``, ``hci-socket:0``, ``serial:/dev/ttyUSB0``, ...):
  a real controller, so phones and laptops can connect over the air;
* ``virtual``: a :class:`bumble.link.LocalLink` with two emulated controllers, the
  device's own and one for the app. ``ble.hci_serve`` serves the app's controller's HCI on
  ``tcp-server:HOST:PORT`` or ``unix-server:PATH``; the app's bumble host (the bleak
  backend in :mod:`stampside.devicelink.ble_bumble`) connects with ``tcp-client:HOST:PORT`` or
  ``unix:PATH``, which :attr:`BleTransport.host_hci` gives. One app host at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bumble import hci
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.host import Host
from bumble.link import LocalLink
from bumble.profiles.battery_service import BatteryService
from bumble.profiles.device_information_service import DeviceInformationService
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink, PacketParser

from stampside.firmware_protocol import ble as profile
from stampside.simulator.config import BleConfig, DeviceConfig, parse_host_port
from stampside.simulator.errors import TransportError
from stampside.simulator.transports import BACKLOG_LIMIT, LinkListener, Transport

log = logging.getLogger("stampside.sim")

#: The app's controller on the virtual link has this (public) address.
APP_CONTROLLER_ADDRESS = "F1:5A:3E:00:00:01"
#: Advertising interval, ms: short, so a host finds and connects to the device quickly.
ADVERTISING_INTERVAL_MS = 50
#: How often the Battery Service checks whether the level changed, seconds.
BATTERY_POLL_S = 1.0
MANUFACTURER = "Stampside"
MODEL = "Stampside derma stamp"


def default_address(serial: str) -> str:
    """A random static address derived from the serial (the two top bits set, as the spec asks)."""
    digest = hashlib.sha256(serial.encode()).digest()
    first = digest[0] | 0xC0
    return ":".join(f"{b:02X}" for b in (first, *digest[1:6]))


def advertising_data(name: str) -> bytes:
    """Flags, the Stampside service UUID and the short name: 31 bytes at most."""
    data = bytes(
        AdvertisingData(
            [
                (
                    AdvertisingData.FLAGS,
                    bytes(
                        [AdvertisingData.LE_GENERAL_DISCOVERABLE_MODE_FLAG | AdvertisingData.BR_EDR_NOT_SUPPORTED_FLAG]
                    ),
                ),
                (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, bytes(UUID(profile.SERVICE_UUID))),
                (AdvertisingData.COMPLETE_LOCAL_NAME, name.encode()),
            ]
        )
    )
    if len(data) > 31:
        raise TransportError(f"the BLE name {name!r} does not fit the advertising data; use 8 characters at most")
    return data


@dataclass(slots=True)
class BleStats:
    """GATT-level counters of the peripheral."""

    notifications: int = 0
    notifications_dropped: int = 0
    cuts: int = 0
    refused: int = 0
    mtu: int = profile.DEFAULT_ATT_MTU


class HciServer:
    """Serves one emulated controller's HCI to one host at a time, over TCP or a unix socket.

    bumble's own ``tcp-server`` transport does the same, but cannot say when its client goes
    away. A host that vanishes (a killed app) leaves its LE connection open in the emulated
    controllers, which have no supervision timeout; ``on_client_lost`` lets the simulator
    drop that connection, as a real link would after its timeout. A new client gets a fresh
    packet parser, so a half packet from the old one cannot garble it.
    """

    def __init__(self, spec: str, controller: Controller, on_client_lost: Callable[[], None]) -> None:
        self.spec = spec
        self.controller = controller
        self._on_client_lost = on_client_lost
        self._server: asyncio.AbstractServer | None = None
        self._client: asyncio.Transport | None = None
        self._path: str | None = None
        #: What the app's bumble host opens: ``tcp-client:HOST:PORT`` or ``unix:PATH``.
        self.client_spec = ""
        controller.host = self  # the controller's HCI output goes to on_packet

    async def start(self) -> str:
        loop = asyncio.get_running_loop()
        scheme, _, rest = self.spec.partition(":")
        try:
            if scheme == "tcp-server":
                host, port = parse_host_port(rest)
                self._server = server = await loop.create_server(self._protocol, host, port)
                port = server.sockets[0].getsockname()[1]
                shown = f"[{host}]" if ":" in host else host
                self.client_spec = f"tcp-client:{shown}:{port}"
            elif scheme == "unix-server":
                path = Path(rest)
                if path.is_socket():
                    path.unlink()
                self._server = await loop.create_unix_server(self._protocol, str(path))
                self._path = str(path)
                self.client_spec = f"unix:{path}"
            else:
                raise TransportError(f"cannot serve HCI on {self.spec!r}: use tcp-server:HOST:PORT or unix-server:PATH")
        except OSError as exc:
            raise TransportError(f"cannot serve HCI on {self.spec}: {exc.strerror or exc}") from None
        return self.client_spec

    async def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._path)

    # -- the controller's side ---------------------------------------------------------

    def on_packet(self, packet: bytes) -> None:
        if self._client is not None:
            self._client.write(packet)

    # -- the socket's side -------------------------------------------------------------

    def _protocol(self) -> asyncio.Protocol:
        return _HciProtocol(self)

    def _connected(self, transport: asyncio.Transport) -> None:
        if self._client is not None:  # one host at a time: the newest wins
            self._client.close()
            self._on_client_lost()
        self._client = transport

    def _lost(self, transport: asyncio.Transport) -> None:
        if self._client is transport:
            self._client = None
            self._on_client_lost()


class _HciProtocol(asyncio.Protocol):
    def __init__(self, server: HciServer) -> None:
        self._server = server
        self._parser = PacketParser(server.controller)
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server._connected(transport)

    def data_received(self, data: bytes) -> None:
        if self._transport is not None and self._server._client is self._transport:
            self._parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._server._lost(self._transport)


class BleTransport(Transport):
    """The simulator's end of a BLE link: a bumble GATT server (see the module documentation)."""

    def __init__(self, config: BleConfig, device: DeviceConfig, seed: int = 0) -> None:
        super().__init__(None)
        self.config = config
        self.device_config = device
        self.name = config.name or profile.advertised_name(device.serial)
        self.address = (config.address or default_address(device.serial)).upper()
        self.ble_stats = BleStats()
        #: The battery level for the Battery Service; the simulator points it at its device.
        self.battery: Callable[[], int] = lambda: 100
        #: ``tcp-client:HOST:PORT`` or ``unix:PATH`` for the app's host (virtual link with hci_serve).
        self.host_hci: str | None = None
        #: The virtual link, when there is one (tests may attach more controllers to it).
        self.link: LocalLink | None = None
        self._rng = random.Random(seed ^ 0xB1E)
        self._refuse = config.refuse
        self._listener: LinkListener | None = None
        self._device: Device | None = None
        self._hci_transport: Any = None
        self._hci_server: HciServer | None = None
        self._connection: Connection | None = None
        self._subscribed = False
        self._tx: Characteristic[bytes] | None = None
        self._queue: deque[tuple[float, bytes]] = deque()
        self._queued = 0
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._cut_pending = False
        self._cut_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._battery_service: BatteryService | None = None

    # -- Transport -----------------------------------------------------------------------

    async def open(self, listener: LinkListener) -> str:
        self._listener = listener
        self._wake = asyncio.Event()
        device = await self._make_device()
        self._device = device
        device.gatt_server.max_mtu = self.config.mtu
        self._tx = Characteristic(profile.TX_UUID, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b"")
        rx: Characteristic[bytes] = Characteristic(
            profile.RX_UUID,
            Characteristic.Properties.WRITE_WITHOUT_RESPONSE | Characteristic.Properties.WRITE,
            Characteristic.WRITEABLE,
            CharacteristicValue[bytes](write=self._on_rx_write),
        )
        self._tx.on(self._tx.EVENT_SUBSCRIPTION, self._on_subscription)
        serial = self.device_config
        self._battery_service = BatteryService(lambda _connection: int(self.battery()))
        device.add_services(
            [
                Service(profile.SERVICE_UUID, [rx, self._tx]),
                self._battery_service,
                DeviceInformationService(
                    manufacturer_name=MANUFACTURER,
                    model_number=MODEL,
                    serial_number=serial.serial,
                    hardware_revision=str(serial.hw_revision),
                    firmware_revision=serial.firmware,
                ),
            ]
        )
        device.on(device.EVENT_CONNECTION, self._on_connection)
        try:
            await device.power_on()
            await device.start_advertising(
                auto_restart=True,
                advertising_data=advertising_data(self.name),
                advertising_interval_min=ADVERTISING_INTERVAL_MS,
                advertising_interval_max=ADVERTISING_INTERVAL_MS,
            )
        except Exception as exc:
            await self.close()
            raise TransportError(f"cannot start BLE on {self.config.hci}: {exc}") from None
        self._writer = asyncio.create_task(self._write_loop(), name="stampside sim ble writer")
        self._spawn(self._battery_loop())
        if self.config.cut_every:
            self._schedule_cut()
        return self.endpoint

    async def _make_device(self) -> Device:
        address = hci.Address(self.address, hci.Address.RANDOM_DEVICE_ADDRESS)
        spec = self.config.hci or "virtual"
        if spec == "virtual":
            self.link = link = LocalLink()  # type: ignore[no-untyped-call]
            controller = Controller("stamp", link=link)
            host = Host(controller, AsyncPipeSink(controller))
            device = Device(name=self.name, address=address, host=host)
            if self.config.hci_serve is not None:
                app = Controller("app", link=link, public_address=APP_CONTROLLER_ADDRESS)
                self._hci_server = HciServer(self.config.hci_serve, app, self._on_app_host_lost)
                self.host_hci = await self._hci_server.start()
            return device
        try:
            self._hci_transport = await open_transport(spec)
        except Exception as exc:
            raise TransportError(
                f"cannot open the Bluetooth controller {spec}: {exc}; check the dongle is plugged in and that "
                "you may use it (see 'stampside docs simulator', \"A USB Bluetooth dongle\")"
            ) from None
        return Device.with_hci(self.name, address, self._hci_transport.source, self._hci_transport.sink)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._cut_timer is not None:
            self._cut_timer.cancel()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        device, connection = self._device, self._connection
        if device is not None:
            with contextlib.suppress(Exception):
                if connection is not None:
                    await asyncio.wait_for(connection.disconnect(), 1.0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(device.stop_advertising(), 1.0)
        for task in list(self._tasks):
            task.cancel()
        if self._hci_server is not None:
            await self._hci_server.close()
        if self._hci_transport is not None:
            with contextlib.suppress(Exception):
                await self._hci_transport.close()

    @property
    def endpoint(self) -> str:
        return self.address

    @property
    def url(self) -> str:
        return f"ble:{self.name}"

    @property
    def ready_line(self) -> str:
        line = f"ble {self.name} {self.address}"
        return line + (f" hci {self.host_hci}" if self.host_hci else "")

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._connection is None or not self._subscribed:
            self.stats.bytes_dropped += len(data)
            return
        if self._queued + len(data) > BACKLOG_LIMIT:
            self.stats.bytes_dropped += len(data)
            self.stats.writes_dropped += 1
            return
        self._queue.append((time.monotonic() + self.config.notify_delay, data))
        self._queued += len(data)
        self._wake.set()

    @property
    def backlog(self) -> int:
        return self._queued

    @property
    def room(self) -> int:
        return BACKLOG_LIMIT - self._queued if self._connection is not None and self._subscribed else 0

    def discard_backlog(self) -> None:
        self.stats.bytes_discarded += self._queued
        self._queue.clear()
        self._queued = 0

    def disconnect(self) -> None:
        """Close the connection to the host (a drop in ``close`` mode)."""
        connection = self._connection
        if connection is not None:
            self._spawn(self._disconnect(connection))

    # -- faults on demand --------------------------------------------------------------

    def cut(self) -> None:
        """Disconnect in the middle of the next frame that goes out (a heartbeat at the latest)."""
        self._cut_pending = True
        self._wake.set()

    def refuse_connections(self, count: int) -> None:
        """Refuse the next ``count`` connections."""
        self._refuse = count

    @property
    def connected(self) -> bool:
        return self._connection is not None

    @property
    def mtu(self) -> int:
        connection = self._connection
        return connection.att_mtu if connection is not None else profile.DEFAULT_ATT_MTU

    # -- bumble events -----------------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        peer = str(connection.peer_address)
        if self._refuse > 0 or not self.accepting:
            if self._refuse > 0:
                self._refuse -= 1
            self.ble_stats.refused += 1
            self.stats.refused += 1
            log.info("BLE connection from %s refused", peer)
            self._spawn(self._disconnect(connection))
            return
        if self._connection is not None:  # a second central: one host at a time
            self._spawn(self._disconnect(connection))
            return
        self._connection = connection
        self._subscribed = False
        self.stats.connections += 1
        connection.on(connection.EVENT_DISCONNECTION, lambda reason: self._on_disconnection(connection, reason))
        connection.on(connection.EVENT_CONNECTION_ATT_MTU_UPDATE, self._on_mtu)
        if self._listener is not None:
            self._listener.connected(f"BLE {peer}")

    def _on_mtu(self) -> None:
        self.ble_stats.mtu = self.mtu

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        if connection is not self._connection:
            return
        self._connection = None
        self._subscribed = False
        self.discard_backlog()
        if self._listener is not None:
            try:
                why = str(hci.HCI_Constant.error_name(reason))  # type: ignore[no-untyped-call]
            except Exception:  # an unknown code: show the number
                why = str(reason)
            self._listener.disconnected(f"BLE disconnected ({why})")

    def _on_subscription(self, bearer: Any, notify: bool, indicate: bool) -> None:
        if bearer is self._connection or getattr(bearer, "connection", None) is self._connection:
            self._subscribed = notify or indicate
            if self._subscribed and self._listener is not None:
                self._listener.writable()

    def _on_rx_write(self, connection: Connection, value: bytes) -> None:
        if connection is not self._connection or not value:
            return
        self.stats.bytes_read += len(value)
        if self._listener is not None:
            self._listener.data_received(bytes(value))

    def _on_app_host_lost(self) -> None:
        """The app's host went away without disconnecting: end its connection, as a timeout would."""
        connection = self._connection
        if connection is not None:
            log.info("the app's HCI client went away; dropping its BLE connection")
            self._spawn(self._disconnect(connection))

    async def _disconnect(self, connection: Connection) -> None:
        with contextlib.suppress(Exception):
            await connection.disconnect()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _schedule_cut(self) -> None:
        every = self.config.cut_every
        if every is None or self._closed:
            return

        def fire() -> None:
            self.cut()
            self._schedule_cut()

        self._cut_timer = asyncio.get_running_loop().call_later(every, fire)

    async def _battery_loop(self) -> None:
        """Notify Battery Level subscribers when the whole percentage changes (checked every second)."""
        last = int(self.battery())
        while not self._closed:
            await asyncio.sleep(BATTERY_POLL_S)
            level = int(self.battery())
            service, device = self._battery_service, self._device
            if level == last or service is None or device is None or self._connection is None:
                continue
            last = level
            with contextlib.suppress(Exception):  # nobody subscribed, or the link just went
                await device.notify_subscribers(service.battery_level_characteristic)

    # -- the notification writer ---------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            if not self._queue:  # a pending cut waits for the next frame, to land in its middle
                self._wake.clear()
                await self._wake.wait()
                continue
            connection, tx = self._connection, self._tx
            if connection is None or tx is None:
                self.discard_backlog()
                continue
            due, _ = self._queue[0]
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            chunk = self._take(profile.payload_size(connection.att_mtu))
            if self._cut_pending:
                await self._cut_now(chunk)
                continue
            if self.config.drop_notify and self._rng.random() < self.config.drop_notify:
                self.ble_stats.notifications_dropped += 1
                self.stats.bytes_dropped += len(chunk)
            else:
                try:
                    await self._device_notify(connection, tx, chunk)
                except Exception as exc:  # the connection went away under us
                    log.debug("notification failed: %s", exc)
                    continue
            if not self._queue and self._listener is not None:
                self._listener.writable()

    async def _device_notify(self, connection: Connection, tx: Characteristic[bytes], chunk: bytes) -> None:
        assert self._device is not None
        await self._device.notify_subscriber(connection, tx, chunk)
        self.ble_stats.notifications += 1
        self.stats.bytes_written += len(chunk)

    def _take(self, size: int) -> bytes:
        """Up to ``size`` bytes from the front of the queue, only from entries already due."""
        out = bytearray()
        now = time.monotonic()
        queue = self._queue
        while queue and len(out) < size and queue[0][0] <= now:
            due, data = queue[0]
            room = size - len(out)
            if len(data) <= room:
                queue.popleft()
                out += data
            else:
                out += data[:room]
                queue[0] = (due, data[room:])
        self._queued -= len(out)
        return bytes(out)

    async def _cut_now(self, chunk: bytes) -> None:
        """Send part of a frame (if there is one to cut), then disconnect."""
        self._cut_pending = False
        connection, tx = self._connection, self._tx
        if connection is None or tx is None:
            return
        self.ble_stats.cuts += 1
        frame_end = chunk.find(0)
        cut_at = max(1, frame_end // 2) if frame_end > 1 else len(chunk) // 2
        if cut_at > 0:
            with contextlib.suppress(Exception):
                await self._device_notify(connection, tx, chunk[:cut_at])
        log.info("BLE: disconnecting in the middle of a frame (%d of %d bytes sent)", cut_at, len(chunk))
        await self._disconnect(connection)
