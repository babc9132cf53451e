"""One place that turns a link URL into a transport: serial (pyserial) or BLE (bleak).

``ble``, ``ble:NAME`` and ``ble:ADDRESS`` open a :class:`~stampside.devicelink.ble_transport.BleTransport`
(over the OS's Bluetooth, or bumble's host stack when an HCI spec is given with ``hci=`` or
``$STAMPSIDE_BLE_HCI``); anything else goes to :class:`~stampside.devicelink.serial_transport.SerialTransport`.
bleak and bumble are imported only for BLE URLs.
"""

from __future__ import annotations

from stampside.devicelink.extras import needs_extra
from stampside.devicelink.serial_transport import SerialTransport
from stampside.devicelink.transport import Transport

URL_HELP = "device path, pty path, socket://HOST:PORT, loop://, ble, ble:NAME or ble:ADDRESS"


def is_ble_url(url: str) -> bool:
    """``ble`` or ``ble:…`` (any case)."""
    lowered = url.lower()
    return lowered == "ble" or lowered.startswith("ble:")


def transport_for_url(url: str, *, hci: str | None = None) -> Transport:
    """The transport for ``url``. ``hci`` (a bumble HCI spec) applies to BLE URLs only.

    Raises :class:`~stampside.devicelink.transport.TransportOpenError` for a malformed BLE URL.
    """
    if is_ble_url(url):
        with needs_extra("ble"):  # ExtraMissing, one line, without the 'ble' extra
            from stampside.devicelink.ble_transport import BleTransport

        return BleTransport(url, hci=hci)
    return SerialTransport(url)
