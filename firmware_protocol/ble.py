"""The Stampside GATT profile (docs/protocol.md, section "BLE"): constants and chunking only.

The frames on BLE are the same COBS frames as on serial. The host writes them to the RX
characteristic (write without response) and the device notifies them on the TX
characteristic; the concatenated values form a byte stream, so the frame decoder and the
link session do not change. No I/O here: the simulator (bumble) and the host (bleak) both
use these constants.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

#: The Stampside service (128-bit, custom).
SERVICE_UUID = "5a3e0001-7d2c-4c1b-9f4e-2b6a5d8c1e70"
#: Host → device: write without response. The host writes frames in pieces of ≤ MTU − 3 bytes.
RX_UUID = "5a3e0002-7d2c-4c1b-9f4e-2b6a5d8c1e70"
#: Device → host: notify. Each notification carries ≤ MTU − 3 bytes of the stream.
TX_UUID = "5a3e0003-7d2c-4c1b-9f4e-2b6a5d8c1e70"

#: Standard services the device also exposes, for generic BLE tools.
BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
DEVICE_INFORMATION_SERVICE_UUID = "0000180a-0000-1000-8000-00805f9b34fb"

#: The ATT MTU every connection starts with; 20-byte values.
DEFAULT_ATT_MTU = 23
#: The MTU a host asks for and the simulator accepts by default.
PREFERRED_ATT_MTU = 247
#: Bytes of an ATT notification or write that are not the value (opcode + handle).
ATT_OVERHEAD = 3

#: The longest advertised name: the advertising data (31 bytes) also holds the flags (3) and
#: the 128-bit service UUID (18), and no scan response is needed.
MAX_NAME_LENGTH = 8

_ADDRESS = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_APPLE_ID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")


def payload_size(mtu: int) -> int:
    """The most stream bytes one write or notification carries at this ATT MTU."""
    if mtu < DEFAULT_ATT_MTU:
        raise ValueError(f"an ATT MTU is at least {DEFAULT_ATT_MTU}, got {mtu}")
    return mtu - ATT_OVERHEAD


def chunks(data: bytes, mtu: int) -> Iterator[bytes]:
    """``data`` in order, in pieces of at most ``mtu - 3`` bytes (none for empty data)."""
    size = payload_size(mtu)
    view = memoryview(data)
    for start in range(0, len(data), size):
        yield bytes(view[start : start + size])


def advertised_name(serial: str) -> str:
    """The short name a device advertises: its serial without separators, at most 8 characters.

    Longer serials keep their first two and last six characters (``SS-000001`` → ``SS000001``,
    ``CLINIC-0042-7`` → ``CLC00427``), so the number that tells two stamps apart survives.
    """
    plain = "".join(ch for ch in serial if ch.isalnum() and ch.isascii())
    if len(plain) <= MAX_NAME_LENGTH:
        return plain or "Stamp"
    return plain[:2] + plain[-(MAX_NAME_LENGTH - 2) :]


def looks_like_address(text: str) -> bool:
    """A Bluetooth address (``AA:BB:CC:DD:EE:FF``) or a macOS peripheral id (a UUID)."""
    return bool(_ADDRESS.match(text) or _APPLE_ID.match(text))
