"""The protocol schema (``schema.toml``), loaded into plain, frozen objects.

``schema.toml`` is the one machine-readable description of the wire protocol: the header, every
message's fields (name, type, unit, scale, range, meaning), the enums and flags, the timing
constants and the GATT profile. The generators in :mod:`stampside.firmware_protocol.codegen`
turn it into the documentation tables, the C header, the Wireshark dissector and the vector
file; the tests prove the hand-written layouts in :mod:`~stampside.firmware_protocol.messages`
match it. Pure: it reads a file that ships inside the package, nothing else.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

#: Bytes of each integer wire type.
INT_SIZES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}
#: struct format letters of each integer wire type.
STRUCT_CODES = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q"}
_CHAR = re.compile(r"^char\[(\d+)\]$")


class SchemaError(ValueError):
    """``schema.toml`` contradicts itself (a test loads it; it never reaches a user)."""


def type_size(wire_type: str) -> int:
    """Bytes a field of ``wire_type`` (``u8`` … ``u64``, ``char[N]``) takes on the wire."""
    if wire_type in INT_SIZES:
        return INT_SIZES[wire_type]
    match = _CHAR.match(wire_type)
    if match:
        return int(match.group(1))
    raise SchemaError(f"unknown field type {wire_type!r}")


@dataclass(frozen=True, slots=True)
class EnumValue:
    name: str
    value: int
    meaning: str = ""


@dataclass(frozen=True, slots=True)
class EnumSpec:
    """An enum (one value) or a flag set (bits that combine)."""

    name: str
    meaning: str
    values: tuple[EnumValue, ...]
    is_flags: bool = False

    def by_value(self) -> dict[int, EnumValue]:
        return {v.value: v for v in self.values}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: str
    meaning: str = ""
    unit: str = ""
    scale: float | None = None
    range: tuple[int, int] | None = None
    enum: str = ""
    flags: str = ""
    #: First protocol version whose layout carries the field.
    since: int = 1
    #: Name of the wire word the field shares with others (bit fields), else "".
    word: str = ""
    bits: tuple[int, int] | None = None

    @property
    def size(self) -> int:
        return type_size(self.type)

    @property
    def is_char(self) -> bool:
        return self.type.startswith("char[")

    @property
    def mask(self) -> int:
        """The field's bits within its word (all of it for a plain field)."""
        if self.bits is None:
            return (1 << (8 * self.size)) - 1
        lo, hi = self.bits
        return ((1 << (hi - lo + 1)) - 1) << lo

    @property
    def shift(self) -> int:
        return self.bits[0] if self.bits else 0


@dataclass(frozen=True, slots=True)
class PlacedField:
    """A field at its byte offset in one version's payload."""

    field: FieldSpec
    offset: int


@dataclass(frozen=True, slots=True)
class MessageSpec:
    name: str
    type_id: int
    senders: tuple[str, ...]
    meaning: str
    fields: tuple[FieldSpec, ...]
    frozen_layout: bool = False

    def fields_in(self, version: int = 1) -> tuple[FieldSpec, ...]:
        """The fields ``version``'s layout carries, in wire order."""
        return tuple(f for f in self.fields if f.since <= version)

    def placed(self, version: int = 1) -> tuple[PlacedField, ...]:
        """Every field of ``version``'s layout with its byte offset (bit fields share one)."""
        out: list[PlacedField] = []
        offset = 0
        words: dict[str, int] = {}
        for f in self.fields_in(version):
            if f.word:
                if f.word in words:
                    out.append(PlacedField(f, words[f.word]))
                    continue
                words[f.word] = offset
            out.append(PlacedField(f, offset))
            offset += f.size
        return tuple(out)

    def payload_size(self, version: int = 1) -> int:
        placed = self.placed(version)
        return max((p.offset + p.field.size for p in placed), default=0)

    def struct_format(self, version: int = 1) -> str:
        """The :mod:`struct` format of ``version``'s payload (one item per wire word)."""
        codes = ["<"]
        seen: set[str] = set()
        for f in self.fields_in(version):
            if f.word:
                if f.word in seen:
                    continue
                seen.add(f.word)
            codes.append(f"{f.size}s" if f.is_char else STRUCT_CODES[f.type])
        return "".join(codes)

    @property
    def versions_with_own_layout(self) -> tuple[int, ...]:
        """1 and every version that added fields (RESUME: (1, 2))."""
        return tuple(sorted({1, *(f.since for f in self.fields)}))


@dataclass(frozen=True, slots=True)
class HeaderField:
    name: str
    byte: int
    bits: tuple[int, int]
    meaning: str
    enum: str = ""
    flags: str = ""


@dataclass(frozen=True, slots=True)
class TimingConstant:
    name: str
    value: float
    meaning: str


@dataclass(frozen=True, slots=True)
class Characteristic:
    name: str
    uuid: str
    properties: tuple[str, ...]
    meaning: str


@dataclass(frozen=True, slots=True)
class Schema:
    name: str
    versions: tuple[int, ...]
    base_version: int
    framing: dict[str, Any]
    crc: dict[str, Any]
    bad_reasons: dict[str, str]
    header: tuple[HeaderField, ...]
    enums: dict[str, EnumSpec]
    messages: tuple[MessageSpec, ...]
    timing: dict[str, TimingConstant]
    gatt: dict[str, Any]
    characteristics: tuple[Characteristic, ...]

    def message(self, name: str) -> MessageSpec:
        for spec in self.messages:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def by_type(self) -> dict[int, MessageSpec]:
        return {m.type_id: m for m in self.messages}


def _range(raw: Any) -> tuple[int, int] | None:
    return (int(raw[0]), int(raw[1])) if raw is not None else None


def _field(raw: dict[str, Any]) -> FieldSpec:
    bits = raw.get("bits")
    spec = FieldSpec(
        name=raw["name"],
        type=raw["type"],
        meaning=raw.get("meaning", ""),
        unit=raw.get("unit", ""),
        scale=raw.get("scale"),
        range=_range(raw.get("range")),
        enum=raw.get("enum", ""),
        flags=raw.get("flags", ""),
        since=int(raw.get("since", 1)),
        word=raw.get("word", ""),
        bits=(int(bits[0]), int(bits[1])) if bits is not None else None,
    )
    spec.size  # noqa: B018 - validates the type
    if (spec.bits is None) != (not spec.word):
        raise SchemaError(f"field {spec.name}: 'bits' and 'word' go together")
    return spec


def parse(document: dict[str, Any]) -> Schema:
    """A :class:`Schema` from the parsed TOML document (checked for consistency)."""
    enums: dict[str, EnumSpec] = {}
    for kind, is_flags in (("enums", False), ("flags", True)):
        for name, raw in document.get(kind, {}).items():
            values = tuple(EnumValue(v["name"], int(v["value"]), v.get("meaning", "")) for v in raw["values"])
            enums[name] = EnumSpec(name, raw.get("meaning", ""), values, is_flags)
    type_ids = {v.name: v.value for v in enums["MessageType"].values}
    messages = []
    for raw in document["messages"]:
        name = raw["name"]
        if name not in type_ids:
            raise SchemaError(f"message {name} has no MessageType value")
        fields = tuple(_field(f) for f in raw.get("fields", []))
        for f in fields:
            for ref in (f.enum, f.flags):
                if ref and ref not in enums:
                    raise SchemaError(f"{name}.{f.name} names unknown enum {ref}")
        messages.append(
            MessageSpec(
                name=name,
                type_id=type_ids[name],
                senders=tuple(raw["senders"]),
                meaning=raw.get("meaning", ""),
                fields=fields,
                frozen_layout=bool(raw.get("frozen_layout", False)),
            )
        )
    if {m.name for m in messages} != set(type_ids):
        raise SchemaError("every MessageType value needs exactly one message")
    framing = {k: v for k, v in document["framing"].items() if not isinstance(v, dict)}
    for spec in messages:
        for version in document["protocol"]["versions"]:
            if spec.payload_size(version) > framing["max_payload"]:
                raise SchemaError(f"{spec.name} is longer than max_payload")
    header = tuple(
        HeaderField(
            h["name"],
            int(h["byte"]),
            (int(h["bits"][0]), int(h["bits"][1])),
            h.get("meaning", ""),
            h.get("enum", ""),
            h.get("flags", ""),
        )
        for h in document["header"]
    )
    timing = {k: TimingConstant(k, v["value"], v.get("meaning", "")) for k, v in document["timing"].items()}
    gatt = {k: v for k, v in document["gatt"].items() if k != "characteristics"}
    characteristics = tuple(
        Characteristic(c["name"], c["uuid"], tuple(c["properties"]), c.get("meaning", ""))
        for c in document["gatt"].get("characteristics", [])
    )
    return Schema(
        name=document["protocol"]["name"],
        versions=tuple(document["protocol"]["versions"]),
        base_version=int(document["protocol"]["base_version"]),
        framing=framing,
        crc=dict(document["framing"]["crc"]),
        bad_reasons=dict(document["framing"]["bad_reasons"]),
        header=header,
        enums=enums,
        messages=tuple(messages),
        timing=timing,
        gatt=gatt,
        characteristics=characteristics,
    )


def schema_text() -> str:
    """The text of ``schema.toml`` as shipped in the package."""
    return resources.files("stampside.firmware_protocol").joinpath("schema.toml").read_text(encoding="utf-8")


@functools.cache
def load() -> Schema:
    """The protocol schema (read once)."""
    return parse(tomllib.loads(schema_text()))
