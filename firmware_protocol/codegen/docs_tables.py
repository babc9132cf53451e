"""The tables of ``docs/protocol.md`` section 4, generated from the schema.

Each table sits between two marker lines of the hand-written page::

    <!-- schema-NAME: generated from firmware_protocol/schema.toml by scripts/generate_protocol.py; ... -->
    …
    <!-- /schema-NAME -->

and only what lies between them is replaced, so the prose around the tables stays as written.
Blocks: ``schema-messages`` (the overview), ``schema-fields`` (one field table per message that
has fields), ``schema-codes`` (the enums FAULT, NACK, ARM_STATE and STAMP carry),
``schema-flags`` (header flags, HEARTBEAT state bits) and ``schema-timing`` (the timing constants).
"""

from __future__ import annotations

from collections.abc import Callable

from stampside.firmware_protocol.codegen import Target, replace_block
from stampside.firmware_protocol.schema import EnumSpec, FieldSpec, MessageSpec, PlacedField, Schema

PATH = "docs/protocol.md"

_ARROWS: dict[tuple[str, ...], str] = {("host",): "→", ("device",): "←"}
_DIRECTIONS: dict[tuple[str, ...], str] = {("host",): "host → device", ("device",): "device → host"}


def _cell(text: str) -> str:
    """``text`` made safe for one markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _number(value: int) -> str:
    """An integer as the prose writes it: 65,535 (a comma from five digits on)."""
    return f"{value:,}" if value >= 10_000 else str(value)


def _decimal(value: float) -> str:
    return f"{value:g}"


def _senders(spec: MessageSpec) -> tuple[str, ...]:
    return tuple(sorted(spec.senders, key=lambda s: s != "host"))


def _arrow(spec: MessageSpec) -> str:
    return _ARROWS.get(_senders(spec), "↔")


def _direction(spec: MessageSpec) -> str:
    return _DIRECTIONS.get(_senders(spec), "both ways")


def _sizes(spec: MessageSpec, schema: Schema) -> str:
    """``6 (v2: 10)``: the payload size of version 1 and of every version that changed it."""
    base = spec.payload_size(schema.versions[0])
    later = [
        f"v{v}: {spec.payload_size(v)}"
        for v in spec.versions_with_own_layout
        if v != schema.versions[0] and v in schema.versions
    ]
    return f"{base} ({', '.join(later)})" if later else str(base)


def _type(f: FieldSpec) -> str:
    if f.bits is None:
        return f.type
    lo, hi = f.bits
    return f"{f.type} bits {lo}–{hi}"


def _unit(f: FieldSpec) -> str:
    if f.scale is not None:
        return f"{_decimal(f.scale)} {f.unit}".strip()
    return f.unit or "—"


def _range(f: FieldSpec) -> str:
    if f.range is None:
        return "—"
    lo, hi = f.range
    text = f"{_number(lo)}–{_number(hi)}"
    if f.scale is not None:
        text += f" ({_decimal(lo * f.scale)}–{_decimal(hi * f.scale)} {f.unit})".replace(" )", ")")
    return text


def _meaning(f: FieldSpec) -> str:
    meaning = f.meaning
    if f.enum:
        meaning += f"; values: {f.enum} (4.3)"
    if f.flags:
        meaning += f"; bits: {f.flags} (4.4)"
    return meaning


def _word_note(spec: MessageSpec, placed: tuple[PlacedField, ...]) -> list[str]:
    """One sentence per shared wire word: which bits of it each field occupies."""
    lines = []
    words: dict[str, list[PlacedField]] = {}
    for p in placed:
        if p.field.word:
            words.setdefault(p.field.word, []).append(p)
    for word, parts in words.items():
        first = parts[0]
        formula = " | ".join(
            p.field.name if p.field.shift == 0 else f"({p.field.name} << {p.field.shift})" for p in parts
        )
        names = " and ".join(f"`{p.field.name}`" for p in parts)
        lines.append(
            f"{names} share one {first.field.type} at offset {first.offset} (`{word}`), sent little-endian "
            f"like any {first.field.type}: `{word} = {formula}`; a receiver takes each field's bits back out "
            "(mask and shift)."
        )
    return lines


def messages_table(schema: Schema) -> str:
    """The overview: every message type with its direction, payload size and purpose."""
    lines = ["| type | name | dir | size | meaning |", "|---|---|---|---|---|"]
    for spec in sorted(schema.messages, key=lambda m: m.type_id):
        lines.append(
            f"| 0x{spec.type_id:02X} | {spec.name} | {_arrow(spec)} | {_sizes(spec, schema)} | {_cell(spec.meaning)} |"
        )
    return "\n".join(lines) + "\n"


def field_table(spec: MessageSpec, schema: Schema) -> str:
    """One message's heading, purpose and field table (its newest layout, later fields marked)."""
    newest = max(schema.versions)
    placed = spec.placed(newest)
    later = any(f.since > schema.versions[0] for f in spec.fields)
    frozen = "; the same layout in every version" if spec.frozen_layout else ""
    lines = [
        f"#### 0x{spec.type_id:02X} {spec.name}",
        "",
        f"{_sizes(spec, schema)} bytes, {_direction(spec)}{frozen}. {spec.meaning[:1].upper()}{spec.meaning[1:]}.",
        "",
    ]
    head = ["offset", "field", "type", "unit/scale", "range", "meaning"]
    if later:
        head.insert(5, "versions")
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for p in placed:
        f = p.field
        cells = [str(p.offset), f.name, _type(f), _unit(f), _range(f), _cell(_meaning(f))]
        if later:
            cells.insert(5, f"v{f.since}+")
        lines.append("| " + " | ".join(cells) + " |")
    notes = _word_note(spec, placed)
    if notes:
        lines.append("")
        lines.extend(notes)
    return "\n".join(lines) + "\n"


def fields_tables(schema: Schema) -> str:
    """A field table for every message that has fields, in type order."""
    lines = [
        "Offsets count from the first payload byte. unit/scale: the wire integer × scale is the value "
        "in that unit. range: the values a sender may send (— : any value of the type). "
        "versions: the first protocol version whose layout carries the field.",
    ]
    for spec in sorted(schema.messages, key=lambda m: m.type_id):
        if spec.fields:
            lines.append("")
            lines.append(field_table(spec, schema).rstrip("\n"))
    empty = [s.name for s in sorted(schema.messages, key=lambda m: m.type_id) if not s.fields]
    if empty:
        lines.append("")
        lines.append(f"{', '.join(empty)} carry no payload.")
    return "\n".join(lines) + "\n"


def _used_in(schema: Schema, enum: str) -> str:
    """`` Carried in `FAULT.code`.``: the message (or header) fields that carry ``enum``."""
    where = [f"`{m.name}.{f.name}`" for m in schema.messages for f in m.fields if enum in (f.enum, f.flags)]
    where += [f"header byte {h.byte}, bits {h.bits[0]}–{h.bits[1]}" for h in schema.header if enum in (h.enum, h.flags)]
    return f" Carried in {', '.join(where)}." if where else ""


def _code_table(spec: EnumSpec, schema: Schema) -> str:
    used = _used_in(schema, spec.name)
    lines = [
        f"**{spec.name}** — {spec.meaning}.{used}",
        "",
        "| value | name | meaning |",
        "|---|---|---|",
    ]
    for v in spec.values:
        lines.append(f"| {v.value} | {v.name} | {_cell(v.meaning) or '—'} |")
    return "\n".join(lines) + "\n"


def _is_code_enum(spec: EnumSpec, schema: Schema) -> bool:
    """An enum a payload field carries (MessageType lives in the overview)."""
    return not spec.is_flags and any(spec.name == f.enum for m in schema.messages for f in m.fields)


def codes_tables(schema: Schema) -> str:
    """The enums that payload fields carry: FaultCode, NackCode, ArmReason, Zone, …"""
    blocks = [_code_table(spec, schema) for spec in schema.enums.values() if _is_code_enum(spec, schema)]
    return "\n".join(blocks)


def _flag_table(spec: EnumSpec, schema: Schema) -> str:
    used = _used_in(schema, spec.name)
    lines = [
        f"**{spec.name}** — {spec.meaning}.{used}",
        "",
        "| bit | mask | name | meaning |",
        "|---|---|---|---|",
    ]
    for v in spec.values:
        bit = str(v.value.bit_length() - 1) if v.value and v.value & (v.value - 1) == 0 else "—"
        lines.append(f"| {bit} | 0x{v.value:02X} | {v.name} | {_cell(v.meaning) or '—'} |")
    return "\n".join(lines) + "\n"


def flags_tables(schema: Schema) -> str:
    """Every flag set: the header flags and the HEARTBEAT state bits."""
    return "\n".join(_flag_table(spec, schema) for spec in schema.enums.values() if spec.is_flags)


def _timing_value(name: str, value: float) -> str:
    if name.endswith("_s"):
        return f"{_decimal(value)} s"
    return _decimal(value)


def timing_table(schema: Schema) -> str:
    """The timing constants: name, value, meaning."""
    lines = ["| name | value | meaning |", "|---|---|---|"]
    for constant in schema.timing.values():
        lines.append(
            f"| `{constant.name}` | {_timing_value(constant.name, constant.value)} | {_cell(constant.meaning)} |"
        )
    return "\n".join(lines) + "\n"


#: Each generated block of the page: its marker name and what renders it.
BLOCKS: dict[str, Callable[[Schema], str]] = {
    "schema-messages": messages_table,
    "schema-fields": fields_tables,
    "schema-codes": codes_tables,
    "schema-flags": flags_tables,
    "schema-timing": timing_table,
}


def render(schema: Schema, current: str | None) -> str:
    """``docs/protocol.md`` with every generated block set from ``schema``."""
    if current is None:
        raise FileNotFoundError(f"{PATH} is hand-written around its generated tables; it must exist")
    text = current
    for name, make in BLOCKS.items():
        text = replace_block(text, name, make(schema))
    return text


TARGETS = [Target(PATH, render, "the field, code, flag and timing tables of section 4")]
