"""BLE transport over bleak: the Stampside GATT profile as the same byte stream as serial.

:class:`BleTransport` implements :class:`stampside.devicelink.transport.Transport`, so
:class:`~stampside.devicelink.session.LinkSession` runs over it unchanged: it scans for the stamp
(filtered by the Stampside service UUID), connects with bleak-retry-connector (retries with
a backoff chosen by the class of error), subscribes to TX and writes RX in pieces of at most
MTU − 3 bytes. Framing stays out: the notifications are concatenated into the byte stream
the session decodes. bleak's exceptions become :class:`TransportOpenError` (with a message
saying what to do) and :class:`TransportDisconnected`; reconnecting is the session's job.

URLs (:func:`parse_ble_url`): ``ble`` (the first stamp found), ``ble:NAME`` (the advertised
name, e.g. ``ble:SS000001``) and ``ble:ADDRESS`` (``ble:DF:E4:EF:FE:35:D6``, or the id macOS
gives a peripheral).

Which Bluetooth: the operating system's (bleak's own backend), unless an HCI spec is given
(``hci=`` / ``--hci`` / ``$STAMPSIDE_BLE_HCI``); then bleak runs on bumble's host stack
(:mod:`stampside.devicelink.ble_bumble`), e.g. ``tcp-client:127.0.0.1:7100`` for the simulator's
virtual link or ``usb:0`` for a dongle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakBluetoothNotAvailableError, BleakDeviceNotFoundError, BleakError
from bleak_retry_connector import BleakNotFoundError, establish_connection

from stampside.devicelink.ble_bumble import BumbleBleakClient, BumbleBleakScanner, configured_hci
from stampside.devicelink.transport import TransportDisconnected, TransportError, TransportOpenError
from stampside.devicelink.urls import is_ble_url
from stampside.firmware_protocol import ble as profile

log = logging.getLogger(__name__)

#: How long ``open`` scans for the stamp before giving up (seconds).
SCAN_TIMEOUT = 10.0
#: Connection attempts bleak-retry-connector makes per ``open``.
CONNECT_ATTEMPTS = 3
#: The longest a connection (with service discovery) may take (seconds).
CONNECT_TIMEOUT = 20.0

URL_HELP = "ble (the first stamp found), ble:NAME or ble:ADDRESS"


@dataclass(frozen=True, slots=True)
class BleTarget:
    """What a ``ble`` URL asks for: any stamp, one by advertised name, or one by address."""

    name: str | None = None
    address: str | None = None

    def matches(self, device: BLEDevice, adv: AdvertisementData) -> bool:
        if profile.SERVICE_UUID not in [u.lower() for u in adv.service_uuids]:
            return False
        if self.address is not None:
            return device.address.upper() == self.address.upper()
        if self.name is not None:
            return (adv.local_name or device.name or "") == self.name
        return True

    def __str__(self) -> str:
        if self.address is not None:
            return f"the stamp at {self.address}"
        if self.name is not None:
            return f"the stamp named {self.name}"
        return "a stamp"


def parse_ble_url(url: str) -> BleTarget:
    """``ble``, ``ble:NAME`` or ``ble:ADDRESS`` as a :class:`BleTarget`; TransportOpenError otherwise."""
    if not is_ble_url(url):
        raise TransportOpenError(f"{url}: not a BLE URL; use {URL_HELP}")
    rest = url[4:].strip() if len(url) > 3 else ""
    if not rest:
        return BleTarget()
    if profile.looks_like_address(rest):
        return BleTarget(address=rest.upper())
    if len(rest) > 29 or not rest.isprintable():
        raise TransportOpenError(f"{url}: {rest!r} is neither an advertised name nor an address; use {URL_HELP}")
    return BleTarget(name=rest)


def backend_kwargs(hci: str | None) -> dict[str, Any]:
    """Keyword arguments for BleakClient/BleakScanner: the bumble backend when an HCI spec is set."""
    spec = configured_hci(hci)
    return {} if spec is None else {"hci": spec}


def _scanner_kwargs(hci: str | None) -> dict[str, Any]:
    kwargs = backend_kwargs(hci)
    return {"backend": BumbleBleakScanner, **kwargs} if kwargs else {}


def _client_kwargs(hci: str | None) -> dict[str, Any]:
    kwargs = backend_kwargs(hci)
    return {"backend": BumbleBleakClient, **kwargs} if kwargs else {}


#: What opening a BLE link may raise besides bleak's own errors: the OS stack's plumbing
#: (BlueZ's D-Bus socket missing, a broken pipe) and timeouts.
OPEN_ERRORS = (BleakError, TimeoutError, OSError, EOFError)
#: While opening, anything else an OS backend raises (a D-Bus error class of its own, ...)
#: also becomes one line for a person rather than a traceback.
ANY_OPEN_ERROR = (*OPEN_ERRORS, Exception)


def explain_ble_error(target: BleTarget | str, exc: BaseException, hci: str | None = None) -> str:
    """One line saying why the BLE link could not be opened, and what to do."""
    where = f" through {hci}" if hci else ""
    if hci is None and isinstance(exc, OSError | EOFError) and not isinstance(exc, TimeoutError):
        return (
            f"the computer's Bluetooth cannot be reached ({type(exc).__name__}: {exc}): is Bluetooth switched "
            "on (on Linux: is the bluetooth service running)? To use the simulator's virtual link or a dongle "
            "through bumble instead, pass --hci SPEC or set STAMPSIDE_BLE_HCI (see 'stampside docs link')"
        )
    if isinstance(exc, BleakBluetoothNotAvailableError):
        why = exc.args[0] if exc.args else exc
        return f"Bluetooth is not available{where}: {why}; switch Bluetooth on (or plug in the dongle) and try again"
    if isinstance(exc, BleakNotFoundError | BleakDeviceNotFoundError | TimeoutError):
        return (
            f"could not reach {target}{where}: it went away or did not answer; "
            "check that the stamp is switched on and in range (stampside link scan lists the stamps nearby)"
        )
    if isinstance(exc, BleakError) and "cannot open the HCI transport" in str(exc):
        return f"{exc}; start the simulator first (stampside sim --ble virtual --hci-serve ...) or check the --hci spec"
    return (
        f"could not connect to {target}{where}: {exc}; the stamp dropped or refused the connection "
        "(busy with another host, or at the edge of range): bring it closer, or switch it off and on, and try again"
    )


def map_bleak_error(exc: BaseException, *, opening: bool, target: BleTarget | str = "the stamp") -> TransportError:
    """bleak's errors as the transport's: TransportOpenError while opening, else TransportDisconnected."""
    if opening:
        return TransportOpenError(explain_ble_error(target, exc))
    return TransportDisconnected(f"BLE: {exc or type(exc).__name__}")


@dataclass(frozen=True, slots=True)
class FoundStamp:
    """A stamp seen while scanning."""

    name: str
    address: str
    rssi: int
    device: BLEDevice


async def scan(hci: str | None = None, timeout: float = 5.0, target: BleTarget | None = None) -> list[FoundStamp]:
    """Every stamp advertising the Stampside service within ``timeout`` seconds, strongest first."""
    wanted = target or BleTarget()
    seen: dict[str, FoundStamp] = {}

    def on_advertisement(device: BLEDevice, adv: AdvertisementData) -> None:
        if wanted.matches(device, adv):
            seen[device.address] = FoundStamp(adv.local_name or device.name or "", device.address, adv.rssi, device)

    try:
        async with BleakScanner(on_advertisement, service_uuids=[profile.SERVICE_UUID], **_scanner_kwargs(hci)):
            await asyncio.sleep(timeout)
    except ANY_OPEN_ERROR as exc:
        raise TransportOpenError(explain_ble_error(wanted, exc, configured_hci(hci))) from exc
    return sorted(seen.values(), key=lambda s: (-s.rssi, s.name, s.address))


class BleTransport:
    """A :class:`~stampside.devicelink.transport.Transport` over a BLE link to a stamp (see the module's
    documentation)."""

    def __init__(
        self,
        url: str = "ble",
        *,
        hci: str | None = None,
        scan_timeout: float = SCAN_TIMEOUT,
        connect_attempts: int = CONNECT_ATTEMPTS,
    ) -> None:
        self.url = url
        self.target = parse_ble_url(url)
        self.hci = configured_hci(hci)
        self.scan_timeout = scan_timeout
        self.connect_attempts = connect_attempts
        self._client: BleakClient | None = None
        self._rx: BleakGATTCharacteristic | None = None
        self._chunks: deque[bytes] = deque()
        self._error: TransportDisconnected | None = None
        self._ready = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._mtu = profile.DEFAULT_ATT_MTU
        self._write_size = profile.payload_size(profile.DEFAULT_ATT_MTU)
        #: The stamp found by the last open (name, address, RSSI).
        self.found: FoundStamp | None = None

    @property
    def description(self) -> str:
        return f"{self.url} (HCI {self.hci})" if self.hci else self.url

    @property
    def mtu(self) -> int:
        """The ATT MTU of the open connection (23 before one is open)."""
        return self._mtu

    @property
    def write_size(self) -> int:
        """The most bytes one write to RX carries on the open connection (MTU − 3)."""
        return self._write_size

    @property
    def is_open(self) -> bool:
        return self._client is not None

    async def open(self) -> None:
        if self._client is not None:
            return
        self._chunks.clear()
        self._error = None
        self._ready = asyncio.Event()
        found = await self._find()
        self.found = found
        try:
            client = await asyncio.wait_for(
                establish_connection(
                    BleakClient,
                    found.device,
                    found.name or found.address,
                    disconnected_callback=self._on_disconnected,
                    max_attempts=self.connect_attempts,
                    **_client_kwargs(self.hci),
                ),
                CONNECT_TIMEOUT * self.connect_attempts,
            )
        except ANY_OPEN_ERROR as exc:
            raise TransportOpenError(explain_ble_error(self.target, exc, self.hci)) from exc
        try:
            service = client.services.get_service(profile.SERVICE_UUID)
            rx = service.get_characteristic(profile.RX_UUID) if service else None
            tx = service.get_characteristic(profile.TX_UUID) if service else None
            if rx is None or tx is None:
                raise TransportOpenError(
                    f"{found.name or found.address} does not offer the Stampside service: it is not a stamp, "
                    "or its firmware is too old"
                )
            self._mtu = client.mtu_size
            # The OS stacks know the usable write size better than the MTU they report
            # (BlueZ says 23 whatever was negotiated); both mean MTU − 3 here.
            self._write_size = max(profile.payload_size(profile.DEFAULT_ATT_MTU), rx.max_write_without_response_size)
            self._rx = rx
            self._client = client
            await client.start_notify(tx, self._on_notify)
        except OPEN_ERRORS as exc:
            await self._disconnect(client)
            self._client = None
            raise TransportOpenError(explain_ble_error(self.target, exc, self.hci)) from exc
        except BaseException:
            await self._disconnect(client)
            self._client = None
            raise
        log.info("BLE: connected to %s (%s), MTU %d", found.name, found.address, self._mtu)

    async def _find(self) -> FoundStamp:
        target = self.target
        result: FoundStamp | None = None

        def wanted(device: BLEDevice, adv: AdvertisementData) -> bool:
            nonlocal result
            if target.matches(device, adv):
                result = FoundStamp(adv.local_name or device.name or "", device.address, adv.rssi, device)
                return True
            return False

        try:
            await BleakScanner.find_device_by_filter(
                wanted, self.scan_timeout, service_uuids=[profile.SERVICE_UUID], **_scanner_kwargs(self.hci)
            )
        except ANY_OPEN_ERROR as exc:
            raise TransportOpenError(explain_ble_error(target, exc, self.hci)) from exc
        if result is None:
            raise TransportOpenError(
                f"no stamp found: {target} did not show up within {self.scan_timeout:g} s"
                f"{' through ' + self.hci if self.hci else ''}; check that it is switched on and in range "
                "(stampside link scan lists the stamps nearby)"
            )
        return result

    # -- the byte stream -----------------------------------------------------------------

    def _on_notify(self, _characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
        if data:
            self._chunks.append(bytes(data))
            self._ready.set()

    def _on_disconnected(self, _client: BleakClient) -> None:
        if self._error is None:
            self._error = TransportDisconnected("BLE connection lost")
        self._ready.set()

    async def read(self) -> bytes:
        while True:
            if self._chunks:
                data = b"".join(self._chunks)
                self._chunks.clear()
                return data
            if self._error is not None:
                raise self._error
            if self._client is None:
                raise TransportDisconnected("transport is not open")
            self._ready.clear()
            await self._ready.wait()

    async def write(self, data: bytes) -> None:
        async with self._write_lock:
            client, rx = self._client, self._rx
            if client is None or rx is None or self._error is not None:
                raise self._error or TransportDisconnected("transport is not open")
            try:
                for chunk in profile.chunks(data, self._write_size + profile.ATT_OVERHEAD):
                    await client.write_gatt_char(rx, chunk, response=False)
            except OPEN_ERRORS as exc:
                raise map_bleak_error(exc, opening=False) from exc

    async def close(self) -> None:
        client, self._client = self._client, None
        self._rx = None
        if self._error is None:
            self._error = TransportDisconnected("transport closed")
        self._ready.set()
        if client is not None:
            async with self._write_lock:
                await self._disconnect(client)

    @staticmethod
    async def _disconnect(client: BleakClient) -> None:
        with contextlib.suppress(*OPEN_ERRORS):
            await asyncio.wait_for(client.disconnect(), 5.0)
