"""The hand-written protocol code matches ``firmware_protocol/schema.toml`` exactly.

Layouts, senders, field names and order, struct formats and sizes of every protocol version,
the encoder's limits, the enums and flags, the timing constants, the GATT profile, the framing
and the CRC: a change to either side without the other fails here.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import tomllib
from typing import Any

import pytest
from cobs import cobs
from crc import Calculator, Configuration

from stampside.app.domain import zones
from stampside.devicelink.frame_text import message_fields
from stampside.devicelink.options import LinkOptions
from stampside.firmware_protocol import ble, connection, framing, messages, timing
from stampside.firmware_protocol.connection import Connection, Frame
from stampside.firmware_protocol.delivery import DeliveryTracker
from stampside.firmware_protocol.errors import EncodeError
from stampside.firmware_protocol.host import HostConnection, HostTiming
from stampside.firmware_protocol.messages import BY_NAME, MESSAGE_CLASSES, Role
from stampside.firmware_protocol.schema import FieldSpec, MessageSpec, SchemaError, load, parse, schema_text
from stampside.simulator.config import DeviceConfig

SCHEMA = load()
SPECS = SCHEMA.messages
IDS = [spec.name for spec in SPECS]


def _document() -> dict[str, Any]:
    return tomllib.loads(schema_text())


# --- messages ------------------------------------------------------------------------------


def test_the_schema_and_the_code_have_the_same_messages() -> None:
    assert [spec.name for spec in SPECS] == [cls.TYPE.name for cls in MESSAGE_CLASSES]
    assert set(BY_NAME) == {spec.name for spec in SPECS}


def test_protocol_versions_are_the_codes() -> None:
    assert SCHEMA.versions == tuple(range(connection.SUPPORTED_VERSIONS[0], connection.SUPPORTED_VERSIONS[1] + 1))
    assert SCHEMA.base_version == connection.BASE_VERSION


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_type_senders_and_frozen_layout(spec: MessageSpec) -> None:
    cls = BY_NAME[spec.name]
    assert spec.type_id == cls.TYPE
    assert {role.value for role in cls.SENDERS} == set(spec.senders)
    assert cls.FROZEN_LAYOUT is spec.frozen_layout


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_field_names_in_wire_order(spec: MessageSpec) -> None:
    """The dataclass fields are the schema's, in order (STAMP's contact_ms and zone share a word)."""
    cls = BY_NAME[spec.name]
    assert [f.name for f in dataclasses.fields(cls)] == [f.name for f in spec.fields]  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_struct_format_and_size_of_every_version(spec: MessageSpec) -> None:
    cls = BY_NAME[spec.name]
    for version in SCHEMA.versions:
        assert cls.layout(version).format == spec.struct_format(version), f"v{version}"
        assert cls.payload_size(version) == spec.payload_size(version), f"v{version}"
    later = tuple(since for since, _ in cls._LATER)
    assert spec.versions_with_own_layout == (1, *later)
    if spec.frozen_layout:
        assert later == ()


def test_the_hosts_frame_json_uses_the_schemas_names() -> None:
    """Captures and `link monitor --json` name the fields as the schema, the docs and the vectors do."""
    for spec in SPECS:
        values = {f.name: _limits(f)[0] for f in spec.fields}
        message = _message(spec, max(spec.versions_with_own_layout), values)
        assert list(message_fields(message)) == [f.name for f in spec.fields], spec.name


def test_stamp_packs_contact_and_zone_into_one_word() -> None:
    spec = SCHEMA.message("STAMP")
    contact, zone = (p for p in spec.placed() if p.field.word)
    assert contact.offset == zone.offset == 11
    assert contact.field.word == zone.field.word == "contact_zone"
    assert (contact.field.mask, zone.field.mask, zone.field.shift) == (0x0FFF, 0xF000, 12)
    payload = messages.Stamp(0, 0, 0, 0, 0xABC, 0xD).pack_payload()
    assert payload[11:13] == (0xABC | 0xD << 12).to_bytes(2, "little")


def _capacity(f: FieldSpec) -> tuple[int, int]:
    """The values the wire can hold: the field's bits, or its whole integer type."""
    if f.bits is not None:
        return 0, (1 << (f.bits[1] - f.bits[0] + 1)) - 1
    return 0, (1 << (8 * f.size)) - 1


def _limits(f: FieldSpec) -> tuple[Any, Any]:
    """The lowest and highest value a sender may send (the schema's range, else the type's)."""
    if f.is_char:
        return "A", "Z" * f.size
    return f.range if f.range is not None else _capacity(f)


def _message(spec: MessageSpec, version: int, values: dict[str, Any]) -> messages.Message:
    return BY_NAME[spec.name](**{f.name: values[f.name] for f in spec.fields_in(version)})


def _round_trip(message: messages.Message, version: int) -> messages.Message:
    sender = Role.HOST if Role.HOST in message.SENDERS else Role.DEVICE
    tx = Connection(sender)
    tx.version = version
    rx = Connection(Role.DEVICE if sender is Role.HOST else Role.HOST)
    (frame,) = rx.receive_data(tx.send(message))
    assert isinstance(frame, Frame)
    assert frame.version == (connection.BASE_VERSION if message.FROZEN_LAYOUT else version)
    return frame.message


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_round_trip_at_the_range_limits(spec: MessageSpec) -> None:
    for version in spec.versions_with_own_layout:
        for end in (0, 1):
            values = {f.name: _limits(f)[end] for f in spec.fields}
            message = _message(spec, version, values)
            assert message.to_dict(version) == {f.name: values[f.name] for f in spec.fields_in(version)}
            payload = message.pack_payload(version)
            assert len(payload) == spec.payload_size(version)
            assert type(message).from_payload(payload, version) == message
            assert _round_trip(message, version) == message, f"v{version} {'high' if end else 'low'}"


@pytest.mark.parametrize("spec", [s for s in SPECS if s.fields], ids=[s.name for s in SPECS if s.fields])
def test_field_offsets_are_the_schemas(spec: MessageSpec) -> None:
    """Changing one field changes exactly the bytes the schema places it in."""
    version = max(spec.versions_with_own_layout)
    base = {f.name: _limits(f)[0] for f in spec.fields}
    before = _message(spec, version, base).pack_payload(version)
    for placed in spec.placed(version):
        f = placed.field
        changed = dict(base, **{f.name: "B" if f.is_char else _limits(f)[0] + 1})
        after = _message(spec, version, changed).pack_payload(version)
        diff = {i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b}
        assert diff, f.name
        assert diff <= set(range(placed.offset, placed.offset + f.size)), f.name


@pytest.mark.parametrize("spec", [s for s in SPECS if s.fields], ids=[s.name for s in SPECS if s.fields])
def test_values_beyond_the_wire_raise_encode_error(spec: MessageSpec) -> None:
    """A value the wire cannot hold is refused; the schema's ranges lie within what it can hold.

    The schema's narrower ranges (a version 1–15, a battery 0–100 %) say what a sender may send;
    the encoder enforces what the wire can carry (the type, or the bits of a packed field).
    """
    for version in spec.versions_with_own_layout:
        base = {f.name: _limits(f)[0] for f in spec.fields}
        for f in spec.fields_in(version):
            if f.is_char:
                too_long = dict(base, **{f.name: "Z" * (f.size + 1)})
                with pytest.raises(EncodeError):
                    _message(spec, version, too_long).pack_payload(version)
                continue
            low, high = _capacity(f)
            if f.range is not None:
                assert low <= f.range[0] <= f.range[1] <= high, f.name
            for bad in (low - 1, high + 1):
                with pytest.raises(EncodeError):
                    _message(spec, version, dict(base, **{f.name: bad})).pack_payload(version)


# --- enums and flags -----------------------------------------------------------------------


def _members(python_enum: type[enum.Enum]) -> dict[str, int]:
    """Name → value, without a flag set's NONE (0)."""
    return {m.name: int(m.value) for m in python_enum if m.name is not None and not (m.name == "NONE" and m.value == 0)}


def _schema_enum(name: str) -> dict[str, int]:
    return {v.name: v.value for v in SCHEMA.enums[name].values}


@pytest.mark.parametrize(
    ("name", "python_enum"),
    [
        ("MessageType", messages.MessageType),
        ("FaultCode", messages.FaultCode),
        ("NackCode", messages.NackCode),
        ("ArmReason", messages.ArmReason),
        ("Flag", messages.Flag),
        ("HeartbeatState", messages.HeartbeatState),
    ],
)
def test_enums_and_flags_are_the_codes(name: str, python_enum: type[enum.Enum]) -> None:
    assert _schema_enum(name) == _members(python_enum)
    assert SCHEMA.enums[name].is_flags is issubclass(python_enum, enum.IntFlag)


def test_zones_are_the_apps() -> None:
    assert _schema_enum("Zone") == {"UNKNOWN": zones.UNKNOWN_ZONE_ID, **_members(zones.Zone)}


def test_message_fields_name_the_enums_the_code_uses() -> None:
    carried = {(m.name, f.name): f.enum or f.flags for m in SPECS for f in m.fields if f.enum or f.flags}
    assert carried == {
        ("FAULT", "code"): "FaultCode",
        ("NACK", "code"): "NackCode",
        ("ARM_STATE", "reason"): "ArmReason",
        ("STAMP", "zone"): "Zone",
        ("HEARTBEAT", "state"): "HeartbeatState",
    }


# --- header, framing, CRC ------------------------------------------------------------------


def test_header_layout() -> None:
    header = {h.name: (h.byte, h.bits) for h in SCHEMA.header}
    assert header == {"version": (0, (4, 7)), "flags": (0, (0, 3)), "type": (1, (0, 7)), "lseq": (2, (0, 7))}
    tx = Connection(Role.DEVICE)
    tx.version = 2
    tx._tx_lseq = 0xA5
    raw = cobs.decode(tx.send(messages.Stamp(1, 2, 3, 4, 5, 6), messages.Flag.REPLAY)[:-1])
    assert raw[: framing.HEADER_SIZE] == bytes((2 << 4 | messages.Flag.REPLAY, messages.MessageType.STAMP, 0xA5))


def test_framing_constants() -> None:
    f = SCHEMA.framing
    assert bytes((f["delimiter"],)) == framing.DELIMITER
    assert f["header_size"] == framing.HEADER_SIZE
    assert f["crc_size"] == framing.CRC_SIZE
    assert f["max_payload"] == framing.MAX_PAYLOAD
    assert f["max_raw_frame"] == framing.MAX_RAW_FRAME
    assert f["max_encoded_frame"] == framing.MAX_ENCODED_FRAME
    assert f["min_raw_frame"] == framing.MIN_RAW_FRAME
    assert f["encoding"] == "COBS"
    assert set(SCHEMA.bad_reasons) == set(framing.BAD_REASONS)
    assert max(spec.payload_size(v) for spec in SPECS for v in SCHEMA.versions) <= framing.MAX_PAYLOAD


def test_crc_is_the_schemas() -> None:
    c = SCHEMA.crc
    assert framing.crc16(b"123456789") == c["check"]
    assert c["init"] == framing.CRC_INIT and c["width"] == 8 * framing.CRC_SIZE
    calculator = Calculator(
        Configuration(
            width=c["width"],
            polynomial=c["poly"],
            init_value=c["init"],
            final_xor_value=c["xor_out"],
            reverse_input=c["reflect_in"],
            reverse_output=c["reflect_out"],
        )
    )
    for data in (b"123456789", b"", b"\x00\xff", bytes(range(256)), b"stampside"):
        assert framing.crc16(data) == calculator.checksum(data)
    raw = bytes((0x10, 0x07, 0)) + b"\x01\x02\x03\x04"
    crc = framing.crc16(raw)
    assert cobs.decode(framing.encode_frame(raw)[:-1]) == raw + crc.to_bytes(2, c["byte_order"])


# --- timing --------------------------------------------------------------------------------


def _timing_in_code() -> dict[str, list[float]]:
    """Every place the code keeps each timing constant of the schema."""
    host = HostTiming()
    link = LinkOptions()
    device = DeviceConfig.model_fields
    rto = HostConnection().rto
    return {
        "heartbeat_interval_s": [
            timing.HEARTBEAT_INTERVAL_S,
            host.heartbeat_interval,
            link.heartbeat_interval,
            device["heartbeat_interval"].default,
        ],
        "link_timeout_s": [timing.LINK_TIMEOUT_S, host.link_timeout, link.link_timeout, device["host_timeout"].default],
        "reply_timeout_initial_s": [host.reply_timeout, link.reply_timeout, rto.initial, rto.timeout],
        "reply_timeout_min_s": [host.min_reply_timeout, link.min_reply_timeout, rto.low],
        "reply_timeout_max_s": [host.max_reply_timeout, link.max_reply_timeout, rto.high],
        "command_tries": [host.attempts, link.attempts],
        "hello_backoff_max_s": [host.hello_interval_max],
        "reopen_after_s": [host.reopen_after, link.reopen_after],
        "reopen_backoff_initial_s": [link.backoff_initial],
        "reopen_backoff_max_s": [link.backoff_max],
        "replay_quiet_s": [host.resume_timeout, DeliveryTracker().resume_timeout],
        "rearm_interval_s": [host.arm_retry],
    }


def test_timing_constants_are_the_codes() -> None:
    in_code = _timing_in_code()
    assert set(SCHEMA.timing) == set(in_code)
    for name, constant in SCHEMA.timing.items():
        assert in_code[name] == [constant.value] * len(in_code[name]), name


def test_link_options_hand_the_host_the_schemas_timing() -> None:
    host = LinkOptions().timing()
    assert host == HostTiming()


# --- GATT ----------------------------------------------------------------------------------


def test_gatt_profile_is_the_codes() -> None:
    g = SCHEMA.gatt
    assert g["service_uuid"] == ble.SERVICE_UUID
    assert g["rx_uuid"] == ble.RX_UUID
    assert g["tx_uuid"] == ble.TX_UUID
    assert g["battery_service_uuid"] == ble.BATTERY_SERVICE_UUID
    assert g["battery_level_uuid"] == ble.BATTERY_LEVEL_UUID
    assert g["device_information_service_uuid"] == ble.DEVICE_INFORMATION_SERVICE_UUID
    assert g["default_att_mtu"] == ble.DEFAULT_ATT_MTU
    assert g["preferred_att_mtu"] == ble.PREFERRED_ATT_MTU
    assert g["att_overhead"] == ble.ATT_OVERHEAD
    assert g["max_name_length"] == ble.MAX_NAME_LENGTH
    assert {c.name: c.uuid for c in SCHEMA.characteristics} == {"RX": ble.RX_UUID, "TX": ble.TX_UUID}


# --- the parser refuses an inconsistent document ------------------------------------------


def _with_stamp_field(document: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    stamp = next(m for m in changed["messages"] if m["name"] == "STAMP")
    stamp["fields"][0].update(changes)
    return changed


def test_parse_accepts_the_shipped_document() -> None:
    assert parse(_document()) == SCHEMA


def test_parse_rejects_an_unknown_field_type() -> None:
    with pytest.raises(SchemaError, match="unknown field type"):
        parse(_with_stamp_field(_document(), type="u24"))


def test_parse_rejects_a_message_without_a_type_id() -> None:
    document = _document()
    document["enums"]["MessageType"]["values"] = [
        v for v in document["enums"]["MessageType"]["values"] if v["name"] != "PONG"
    ]
    with pytest.raises(SchemaError, match="PONG"):
        parse(document)


def test_parse_rejects_a_type_id_without_a_message() -> None:
    document = _document()
    document["messages"] = [m for m in document["messages"] if m["name"] != "PONG"]
    with pytest.raises(SchemaError):
        parse(document)


def test_parse_rejects_an_unknown_enum_and_half_a_bit_field() -> None:
    with pytest.raises(SchemaError, match="unknown enum"):
        parse(_with_stamp_field(_document(), enum="NoSuchEnum"))
    with pytest.raises(SchemaError, match="bits"):
        parse(_with_stamp_field(_document(), bits=[0, 3]))


def test_parse_rejects_a_payload_beyond_max_payload() -> None:
    document = _document()
    document["framing"]["max_payload"] = 12
    with pytest.raises(SchemaError, match="max_payload"):
        parse(document)
