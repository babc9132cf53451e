"""The BLE pieces that need no radio: chunking, names, URLs, error mapping, scan filtering."""

from __future__ import annotations

import pytest
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason, BleakError
from bleak_retry_connector import BleakNotFoundError
from hypothesis import given
from hypothesis import strategies as st

from stampside.devicelink.ble_transport import BleTarget, explain_ble_error, map_bleak_error, parse_ble_url
from stampside.devicelink.serial_transport import SerialTransport
from stampside.devicelink.transport import TransportDisconnected, TransportOpenError
from stampside.devicelink.urls import is_ble_url, transport_for_url
from stampside.firmware_protocol import ble as profile
from stampside.simulator.ble import advertising_data, default_address

# -- chunking -------------------------------------------------------------------------------


@given(st.binary(max_size=2000), st.integers(min_value=23, max_value=517))
def test_chunks_are_at_most_mtu_minus_3_and_rebuild_the_data(data: bytes, mtu: int) -> None:
    pieces = list(profile.chunks(data, mtu))
    assert b"".join(pieces) == data
    assert all(0 < len(p) <= mtu - 3 for p in pieces)
    assert all(len(p) == mtu - 3 for p in pieces[:-1])


def test_a_stamp_frame_fits_one_notification_at_the_default_mtu() -> None:
    assert profile.payload_size(profile.DEFAULT_ATT_MTU) == 20
    assert list(profile.chunks(bytes(20), 23)) == [bytes(20)]
    assert list(profile.chunks(b"", 23)) == []


def test_an_mtu_below_23_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 23"):
        list(profile.chunks(b"x", 22))


# -- names and advertising ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("serial", "name"),
    [("SS-000001", "SS000001"), ("CLINIC-0042-7", "CLC00427"), ("AB", "AB"), ("--", "Stamp")],
)
def test_the_advertised_name_is_the_serial_squeezed_into_8_characters(serial: str, name: str) -> None:
    assert profile.advertised_name(serial) == name
    assert len(name) <= profile.MAX_NAME_LENGTH


def test_flags_service_uuid_and_an_8_character_name_fit_the_advertising_data() -> None:
    assert len(advertising_data("SS000001")) <= 31


def test_the_default_address_is_a_random_static_one() -> None:
    address = default_address("SS-000001")
    assert profile.looks_like_address(address)
    assert int(address[:2], 16) & 0xC0 == 0xC0
    assert default_address("SS-000002") != address


# -- URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("ble", BleTarget()),
        ("BLE", BleTarget()),
        ("ble:", BleTarget()),
        ("ble:SS000001", BleTarget(name="SS000001")),
        ("ble:df:e4:ef:fe:35:d6", BleTarget(address="DF:E4:EF:FE:35:D6")),
        (
            "ble:6E400001-B5A3-F393-E0A9-E50E24DCCA9E",
            BleTarget(address="6E400001-B5A3-F393-E0A9-E50E24DCCA9E"),
        ),
    ],
)
def test_ble_urls(url: str, target: BleTarget) -> None:
    assert is_ble_url(url)
    assert parse_ble_url(url) == target


@pytest.mark.parametrize("url", ["/dev/ttyACM0", "socket://127.0.0.1:7000", "loop://", "bluetooth", "/tmp/ble"])
def test_other_urls_stay_serial(url: str) -> None:
    assert not is_ble_url(url)
    assert isinstance(transport_for_url(url), SerialTransport)


def test_a_garbled_ble_url_is_an_open_error_that_says_what_to_write() -> None:
    with pytest.raises(TransportOpenError, match=r"ble:NAME or ble:ADDRESS"):
        parse_ble_url("ble:" + "x" * 40)


# -- scan filtering -----------------------------------------------------------------------------


def advert(name: str | None, uuids: list[str], rssi: int = -50) -> AdvertisementData:
    return AdvertisementData(name, {}, {}, uuids, None, rssi, ())


STAMP = [profile.SERVICE_UUID]
HEART = ["0000180d-0000-1000-8000-00805f9b34fb"]
ADDR = "AA:BB:CC:DD:EE:01"


@pytest.mark.parametrize(
    ("target", "device", "adv", "wanted"),
    [
        (BleTarget(), BLEDevice("AA:BB:CC:DD:EE:01", "SS000001", None), advert("SS000001", STAMP), True),
        (
            BleTarget(),
            BLEDevice("AA:BB:CC:DD:EE:02", "Watch", None),
            advert("Watch", HEART),
            False,
        ),
        (BleTarget(name="SS000001"), BLEDevice("AA:BB:CC:DD:EE:01", None, None), advert("SS000001", STAMP), True),
        (BleTarget(name="SS000002"), BLEDevice("AA:BB:CC:DD:EE:01", None, None), advert("SS000001", STAMP), False),
        (BleTarget(address=ADDR), BLEDevice("aa:bb:cc:dd:ee:01", None, None), advert(None, STAMP), True),
        (
            BleTarget(address="AA:BB:CC:DD:EE:01"),
            BLEDevice("AA:BB:CC:DD:EE:09", None, None),
            advert(None, STAMP),
            False,
        ),
        (BleTarget(name="SS000001"), BLEDevice("AA:BB:CC:DD:EE:01", None, None), advert("SS000001", []), False),
    ],
)
def test_scan_filter(target: BleTarget, device: BLEDevice, adv: AdvertisementData, wanted: bool) -> None:
    assert target.matches(device, adv) is wanted


# -- errors -------------------------------------------------------------------------------------


def test_bleak_errors_on_an_open_link_become_disconnected() -> None:
    for exc in (BleakError("Not connected"), TimeoutError(), OSError("gone")):
        mapped = map_bleak_error(exc, opening=False)
        assert isinstance(mapped, TransportDisconnected)


def test_bleak_errors_while_opening_become_open_errors_with_advice() -> None:
    mapped = map_bleak_error(BleakNotFoundError("x"), opening=True, target=BleTarget(name="SS000001"))
    assert isinstance(mapped, TransportOpenError)
    assert "the stamp named SS000001" in str(mapped) and "stampside link scan" in str(mapped)
    off = BleakBluetoothNotAvailableError("adapter is off", BleakBluetoothNotAvailableReason.POWERED_OFF)
    assert "switch Bluetooth on" in explain_ble_error(BleTarget(), off)
    assert "adapter is off" in explain_ble_error(BleTarget(), off)
    assert "could not connect to a stamp" in explain_ble_error(BleTarget(), BleakError("refused"))


def test_an_unreachable_os_bluetooth_says_to_switch_it_on_or_use_hci() -> None:
    message = explain_ble_error(BleTarget(), FileNotFoundError(2, "No such file or directory"))
    assert "Bluetooth cannot be reached" in message and "--hci SPEC" in message
    # With an HCI spec the OS stack is not involved: the message names the spec instead.
    message = explain_ble_error(BleTarget(), BleakError("cannot open the HCI transport tcp-client:x:1: refused"), "x")
    assert "start the simulator first" in message
