"""A bleak backend on bumble's Bluetooth host stack: bleak code over any bumble HCI transport.

``BleakClient`` and ``BleakScanner`` take ``backend=``; pass :class:`BumbleBleakClient` and
:class:`BumbleBleakScanner` with ``hci="tcp-client:HOST:PORT"`` (or set
``STAMPSIDE_BLE_HCI``) and ordinary bleak code talks through a bumble host to that HCI
controller instead of the operating system's Bluetooth: the simulator's virtual link
(``stampside sim --ble virtual --hci-serve tcp-server:HOST:PORT``), a USB dongle taken over
by bumble (``usb:0``), an Android emulator, ... ::

    scanner = BleakScanner(service_uuids=[SERVICE_UUID], backend=BumbleBleakScanner, hci=spec)
    client = BleakClient(device, backend=BumbleBleakClient, hci=spec)

Every scanner and client of a process that names the same HCI spec shares one bumble host
(a transport, a :class:`bumble.device.Device`), as bleak's OS backends share the adapter; it
is closed when the last user lets go. The backend implements all of bleak 3.1's
``BaseBleakClient`` (``connect`` fills ``services``) and ``BaseBleakScanner``, and raises
bleak's own exceptions (``BleakError``, ``TimeoutError``), so bleak-retry-connector's
backoff by error class works unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError
from bleak.uuids import normalize_uuid_str
from bumble import hci
from bumble.core import UUID as BumbleUUID
from bumble.core import AdvertisingData, BaseBumbleError
from bumble.device import Advertisement, Connection, Peer
from bumble.gatt import Characteristic

from stampside.devicelink.ble_bumble_host import BumbleHost, acquire_host, release_host

__all__ = [
    "ENV_HCI",
    "BumbleBleakClient",
    "BumbleBleakScanner",
    "BumbleDetails",
    "BumbleHost",
    "acquire_host",
    "configured_hci",
    "release_host",
]

log = logging.getLogger(__name__)

#: The environment variable that selects this backend, with the HCI spec as its value.
ENV_HCI = "STAMPSIDE_BLE_HCI"
#: The MTU the client asks for (the ATT maximum); the peripheral answers with what it takes.
REQUESTED_MTU = 517
DEFAULT_ATT_MTU = 23

T = TypeVar("T")

_PROPERTY_NAMES: tuple[tuple[Characteristic.Properties, CharacteristicPropertyName], ...] = (
    (Characteristic.Properties.BROADCAST, "broadcast"),
    (Characteristic.Properties.READ, "read"),
    (Characteristic.Properties.WRITE_WITHOUT_RESPONSE, "write-without-response"),
    (Characteristic.Properties.WRITE, "write"),
    (Characteristic.Properties.NOTIFY, "notify"),
    (Characteristic.Properties.INDICATE, "indicate"),
    (Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES, "authenticated-signed-writes"),
    (Characteristic.Properties.EXTENDED_PROPERTIES, "extended-properties"),
)

_UUID_LISTS = (
    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
)


def configured_hci(hci_spec: str | None = None) -> str | None:
    """The HCI spec to use: the one given, else ``$STAMPSIDE_BLE_HCI``, else None (OS Bluetooth)."""
    return hci_spec or os.environ.get(ENV_HCI) or None


def _require_hci(hci_spec: str | None) -> str:
    spec = configured_hci(hci_spec)
    if not spec:
        raise BleakError(f"the bumble backend needs an HCI transport: pass hci=... or set {ENV_HCI}")
    return spec


def uuid_text(uuid: BumbleUUID) -> str:
    """A bumble UUID the way bleak writes UUIDs (lower case, 128-bit)."""
    return normalize_uuid_str(uuid.to_hex_str("-"))


def property_names(properties: int) -> list[CharacteristicPropertyName]:
    return [name for flag, name in _PROPERTY_NAMES if properties & flag]


@dataclass(slots=True)
class BumbleDetails:
    """``BLEDevice.details`` of this backend: the bumble address (with its type) and the HCI spec."""

    address: hci.Address
    hci: str
    source: str = field(default="bumble")


# == the scanner ===============================================================================


class BumbleBleakScanner(BaseBleakScanner):
    """A ``BleakScanner`` backend over a bumble host (see the module documentation)."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        *,
        hci: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._hci = _require_hci(hci)
        self._active = scanning_mode != "passive"
        self._host: BumbleHost | None = None

    async def start(self) -> None:
        if self._host is not None:
            return
        self.seen_devices = {}
        host = await acquire_host(self._hci)
        self._host = host
        assert host.device is not None
        host.device.on(host.device.EVENT_ADVERTISEMENT, self._on_advertisement)
        try:
            await host.start_scanning(self._active)
        except (BaseBumbleError, OSError) as exc:
            await self.stop()
            raise BleakError(f"cannot scan on {self._hci}: {exc}") from exc

    async def stop(self) -> None:
        host, self._host = self._host, None
        if host is None:
            return
        if host.device is not None:
            host.device.remove_listener(host.device.EVENT_ADVERTISEMENT, self._on_advertisement)
        await host.stop_scanning()
        await release_host(host)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        data = advertisement.data
        uuids: list[str] = []
        for kind in _UUID_LISTS:
            for uuid in data.get_all(kind):
                if isinstance(uuid, list):
                    uuids.extend(uuid_text(u) for u in uuid)
                elif isinstance(uuid, BumbleUUID):
                    uuids.append(uuid_text(uuid))
        if not self.is_allowed_uuid(uuids):
            return
        name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(AdvertisingData.SHORTENED_LOCAL_NAME)
        local_name = name if isinstance(name, str) else None
        manufacturer: dict[int, bytes] = {}
        for raw in data.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA, raw=True):
            if isinstance(raw, bytes) and len(raw) >= 2:
                manufacturer[int.from_bytes(raw[:2], "little")] = raw[2:]
        tx_power = data.get(AdvertisingData.TX_POWER_LEVEL)
        adv = AdvertisementData(
            local_name=local_name,
            manufacturer_data=manufacturer,
            service_data={},
            service_uuids=uuids,
            tx_power=tx_power if isinstance(tx_power, int) else None,
            rssi=advertisement.rssi,
            platform_data=(advertisement,),
        )
        address = advertisement.address.to_string(False)
        device = self.create_or_update_device(
            address, address, local_name, BumbleDetails(advertisement.address, self._hci), adv
        )
        self.call_detection_callbacks(device, adv)


# == the client ================================================================================


class BumbleBleakClient(BaseBleakClient):
    """A ``BleakClient`` backend over a bumble host (see the module documentation)."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        hci: str | None = None,
        services: set[str] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("disconnected_callback", None)
        kwargs.setdefault("timeout", 10.0)
        super().__init__(address_or_ble_device, **kwargs)
        details = address_or_ble_device.details if isinstance(address_or_ble_device, BLEDevice) else None
        self._details = details if isinstance(details, BumbleDetails) else None
        self._hci = _require_hci(hci or (self._details.hci if self._details else None))
        self._device_name = address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        self._wanted_services = services
        self._host: BumbleHost | None = None
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscribers: dict[int, Callable[[bytes], None]] = {}
        self._closing = False

    # -- identity ----------------------------------------------------------------------

    @property
    def name(self) -> str:
        if self._device_name:
            return self._device_name
        if self._host is not None and (known := self._host.names.get(self.address.upper())):
            return known
        return self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        connection = self._connection
        return connection.att_mtu if connection is not None else DEFAULT_ATT_MTU

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    # -- connecting --------------------------------------------------------------------

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._connection is not None:
            return
        timeout = float(kwargs.get("timeout", self._timeout))
        host = await acquire_host(self._hci)
        self._host = host
        self._closing = False
        address = self._details.address if self._details is not None else host.address(self.address)
        try:
            async with asyncio.timeout(timeout):
                connection = await host.connect(address, timeout)
                self._connection = connection
                connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
                host.lost_callbacks.add(self._on_host_lost)
                peer = Peer(connection)
                self._peer = peer
                self.services = await self._during(self._discover(peer), "service discovery")
                if pair:
                    await self.pair()
        except BaseException as exc:
            await self._drop()
            if isinstance(exc, BleakError | TimeoutError | asyncio.CancelledError):
                raise
            if isinstance(exc, BaseBumbleError | OSError):
                raise BleakError(f"could not connect to {self.address}: {exc}") from exc
            raise

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        with contextlib.suppress(BaseBumbleError):  # a peripheral may refuse: keep 23
            await peer.request_mtu(REQUESTED_MTU)
        await peer.discover_services()
        collection = BleakGATTServiceCollection()
        for service in peer.services:
            service_uuid = uuid_text(service.uuid)
            if self._wanted_services is not None and service_uuid not in self._wanted_services:
                continue
            await service.discover_characteristics()
            bleak_service = BleakGATTService(service, service.handle, service_uuid)
            collection.add_service(bleak_service)
            for characteristic in service.characteristics:
                await characteristic.discover_descriptors()
                bleak_characteristic = BleakGATTCharacteristic(
                    characteristic,
                    characteristic.handle,
                    uuid_text(characteristic.uuid),
                    property_names(characteristic.properties),
                    lambda: self.mtu_size - 3,
                    bleak_service,
                )
                collection.add_characteristic(bleak_characteristic)
                for descriptor in characteristic.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor, descriptor.handle, uuid_text(descriptor.type), bleak_characteristic
                        )
                    )
        return collection

    async def disconnect(self) -> None:
        self._closing = True
        connection = self._connection
        if connection is not None:
            with contextlib.suppress(BaseBumbleError, OSError, TimeoutError):
                await asyncio.wait_for(connection.disconnect(), 5)
        await self._drop()

    async def _drop(self) -> None:
        self._connection = None
        self._peer = None
        self._subscribers.clear()
        host, self._host = self._host, None
        if host is not None:
            host.lost_callbacks.discard(self._on_host_lost)
            await release_host(host)

    def _on_host_lost(self) -> None:
        self._on_disconnection(hci.HCI_CONNECTION_TIMEOUT_ERROR)

    def _on_disconnection(self, reason: int) -> None:
        if self._connection is None:
            return
        self._connection = None
        self._peer = None
        log.debug("%s disconnected (reason %s)", self.address, reason)
        if not self._closing and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        connection = self._require_connection()
        await self._during(connection.pair(), "pairing")

    async def unpair(self) -> None:
        # This host keeps no bond store: there is nothing to forget but the connection.
        await self.disconnect()

    # -- GATT ----------------------------------------------------------------------------

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        self._require_connection()
        value = await self._during(characteristic.obj.read_value(), f"reading {characteristic.uuid}")
        return bytearray(value)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        self._require_connection()
        value = await self._during(descriptor.obj.read_value(), f"reading descriptor {descriptor.uuid}")
        return bytearray(value)

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool) -> None:
        self._require_connection()
        await self._during(
            characteristic.obj.write_value(bytes(data), with_response=response), f"writing {characteristic.uuid}"
        )

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        self._require_connection()
        await self._during(descriptor.obj.write_value(bytes(data), with_response=True), "writing a descriptor")

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        self._require_connection()
        peer = self._peer
        assert peer is not None

        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = deliver
        await self._during(peer.subscribe(characteristic.obj, deliver), f"subscribing to {characteristic.uuid}")

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._peer
        subscriber = self._subscribers.pop(characteristic.handle, None)
        if peer is None:
            return
        await self._during(peer.unsubscribe(characteristic.obj, subscriber), f"unsubscribing {characteristic.uuid}")

    # -- helpers ---------------------------------------------------------------------------

    def _require_connection(self) -> Connection:
        if self._connection is None:
            raise BleakError("Not connected")
        return self._connection

    async def _during(self, awaitable: Awaitable[T], what: str) -> T:
        """Await a GATT operation; a disconnection or a bumble error becomes a BleakError."""
        connection = self._connection
        if connection is None:
            raise BleakError(f"Disconnected before {what}")
        try:
            return await connection.cancel_on_disconnection(awaitable)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are being cancelled: not the link's doing
            raise BleakError(f"Disconnected during {what}") from None
        except (BaseBumbleError, OSError) as exc:
            raise BleakError(f"{what} failed: {exc}") from exc
