"""The bumble host the bleak backend of :mod:`stampside.devicelink.ble_bumble` runs on: one per HCI spec and event loop.

Every scanner and client of a process that names the same HCI spec shares one
:class:`BumbleHost` (a transport, a :class:`bumble.device.Device`), as bleak's OS backends
share the adapter; it is closed when the last user lets go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable
from typing import Any

from bleak.exc import BleakError
from bumble import hci
from bumble.core import AdvertisingData, BaseBumbleError, PhysicalTransport
from bumble.device import Advertisement, Connection, Device
from bumble.transport import open_transport

log = logging.getLogger(__name__)

#: The host's own random static address.
HOST_ADDRESS = "F1:5A:3E:00:00:02"


class BumbleHost:
    """One bumble host (transport + :class:`~bumble.device.Device`) on one HCI spec."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.device: Device | None = None
        self.users = 0
        #: Address types seen in advertisements, by address text (a connect needs the type).
        self.address_types: dict[str, hci.Address] = {}
        #: Advertised names, by address text.
        self.names: dict[str, str] = {}
        self._transport: Any = None
        self._scanners = 0
        self._connect_lock = asyncio.Lock()
        #: Called when the HCI transport goes away: the connections on it are gone too.
        self.lost_callbacks: set[Callable[[], None]] = set()

    async def open(self) -> None:
        try:
            self._transport = await open_transport(self.spec)
        except (OSError, BaseBumbleError, ValueError) as exc:
            raise BleakError(f"cannot open the HCI transport {self.spec}: {exc}") from exc
        device = Device.with_hci(
            "stampside",
            hci.Address(HOST_ADDRESS, hci.Address.RANDOM_DEVICE_ADDRESS),
            self._transport.source,
            self._transport.sink,
        )
        device.on(device.EVENT_ADVERTISEMENT, self._remember)
        terminated = getattr(self._transport.source, "terminated", None)
        if isinstance(terminated, asyncio.Future):
            terminated.add_done_callback(lambda _future: self._on_transport_lost())
        try:
            await asyncio.wait_for(device.power_on(), 10)
        except (TimeoutError, BaseBumbleError, OSError) as exc:
            await self.close()
            raise BleakError(f"the Bluetooth controller at {self.spec} did not start: {exc}") from exc
        self.device = device

    @property
    def alive(self) -> bool:
        """Open, and its HCI transport has not gone away (the simulator stopped, a dongle pulled)."""
        transport = self._transport
        if transport is None or self.device is None:
            return False
        terminated = getattr(transport.source, "terminated", None)
        return not (isinstance(terminated, asyncio.Future) and terminated.done())

    async def close(self) -> None:
        transport, self._transport = self._transport, None
        self.device = None
        if transport is not None:
            with contextlib.suppress(Exception):
                await transport.close()

    def _on_transport_lost(self) -> None:
        log.info("the HCI transport %s went away", self.spec)
        for callback in list(self.lost_callbacks):
            callback()

    def _remember(self, advertisement: Advertisement) -> None:
        key = advertisement.address.to_string(False)
        self.address_types[key] = advertisement.address
        name = advertisement.data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or advertisement.data.get(
            AdvertisingData.SHORTENED_LOCAL_NAME
        )
        if isinstance(name, str):
            self.names[key] = name

    def address(self, text: str) -> hci.Address:
        """The bumble address for ``text``, with the type seen while scanning (else random)."""
        known = self.address_types.get(text.upper())
        if known is not None:
            return known
        return hci.Address(text, hci.Address.RANDOM_DEVICE_ADDRESS)

    async def start_scanning(self, active: bool) -> None:
        self._scanners += 1
        if self._scanners == 1 and self.device is not None:
            await self.device.start_scanning(active=active, filter_duplicates=False)

    async def stop_scanning(self) -> None:
        self._scanners = max(0, self._scanners - 1)
        if self._scanners == 0 and self.device is not None and self.device.scanning:
            with contextlib.suppress(BaseBumbleError, OSError):
                await self.device.stop_scanning()

    async def connect(self, address: hci.Address, timeout: float) -> Connection:
        device = self.device
        if device is None:
            raise BleakError("the bumble host is closed")
        async with self._connect_lock:  # bumble allows one pending LE connection at a time
            scanning = device.scanning
            if scanning:
                await device.stop_scanning()
            try:
                return await device.connect(address, transport=PhysicalTransport.LE, timeout=timeout)
            finally:
                if scanning and self._scanners and self.device is not None:
                    with contextlib.suppress(BaseBumbleError, OSError):
                        await device.start_scanning(filter_duplicates=False)


class _LoopHosts:
    """The hosts open on one event loop (bumble's objects belong to the loop they were made on)."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.hosts: dict[str, BumbleHost] = {}


_registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopHosts] = weakref.WeakKeyDictionary()


def _loop_hosts() -> _LoopHosts:
    loop = asyncio.get_running_loop()
    hosts = _registry.get(loop)
    if hosts is None:
        hosts = _registry[loop] = _LoopHosts()
    return hosts


async def acquire_host(spec: str) -> BumbleHost:
    """The shared host for ``spec`` on this event loop, opened on first use."""
    registry = _loop_hosts()
    async with registry.lock:
        host = registry.hosts.get(spec)
        if host is not None and not host.alive:
            del registry.hosts[spec]  # its users still hold it and let go of it in time
            host = None
        if host is None:
            host = BumbleHost(spec)
            await host.open()
            registry.hosts[spec] = host
        host.users += 1
        return host


async def release_host(host: BumbleHost) -> None:
    """Let go of a host; the last user closes it."""
    registry = _loop_hosts()
    async with registry.lock:
        host.users -= 1
        if host.users > 0:
            return
        if registry.hosts.get(host.spec) is host:
            del registry.hosts[host.spec]
        await host.close()


