"""The C reference implementation's generated files (``firmware_protocol/c/``).

Three targets, all pure text from the schema (and, for the vectors, ``vectors.json``):

* ``include/stampside_schema.h``: every constant of the protocol as a C macro or enum
  (framing, CRC, header bits, message type ids, codes, flags, timing in milliseconds, GATT
  identifiers), the payload size of every message in every version, the byte offset (and bit
  position) of every field, one struct per message whose C field names are the schema's field
  names, and ``ss_message_t``, a tagged union of them.
* ``src/ss_codec.c``: encode and decode of every message's payload in every version, field by
  field, little-endian, from the same layouts (the hand-written code never spells an offset).
* ``tests/vectors.inc``: ``firmware_protocol/vectors.json`` as C arrays, so the C tests check
  every vector without a JSON parser.

The C sources are C99 with ``-Wall -Wextra -Werror -pedantic``: the header holds no object
definitions (an unused ``static const`` would be a warning), only macros, enums and types.
"""

from __future__ import annotations

import importlib
import json
import re
from importlib import resources
from typing import Any

from stampside.firmware_protocol.codegen import Target
from stampside.firmware_protocol.schema import EnumSpec, FieldSpec, MessageSpec, Schema

HEADER_PATH = "firmware_protocol/c/include/stampside_schema.h"
CODEC_PATH = "firmware_protocol/c/src/ss_codec.c"
VECTORS_PATH = "firmware_protocol/c/tests/vectors.inc"

_C_TYPES = {"u8": "uint8_t", "u16": "uint16_t", "u32": "uint32_t", "u64": "uint64_t"}
_BANNER = (
    "/* GENERATED from firmware_protocol/schema.toml by firmware_protocol/codegen/c_header.py:\n"
    " * generated, do not edit. Regenerate with `python scripts/generate_protocol.py`.\n"
)


def _snake(name: str) -> str:
    """``MessageType`` -> ``MESSAGE_TYPE`` (enum names to macro prefixes)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def _macro(*parts: str) -> str:
    return "SS_" + "_".join(p.upper() for p in parts)


def _comment(text: str) -> str:
    """``text`` safe inside a C block comment, ASCII only (the header is plain ASCII)."""
    replacements = {
        "–": "-",
        "—": "-",
        "−": "-",
        "→": "->",
        "…": "...",
        "×": "x",
        "µ": "u",
        "²": "2",
        "≥": ">=",
        "≤": "<=",
    }
    for old, new in replacements.items():
        text = text.replace(old, new)
    text = text.replace("*/", "* /")
    return text.encode("ascii", "replace").decode("ascii")


def _lower(message: MessageSpec) -> str:
    return message.name.lower()


def _c_type(field: FieldSpec) -> str:
    return "char" if field.is_char else _C_TYPES[field.type]


def _u(value: int, wire_type: str = "u32") -> str:
    """An unsigned C literal of the right width."""
    if wire_type == "u64":
        return f"UINT64_C({value})"
    return f"{value}u" if value > 0x7FFF else str(value)


# --- the header ---------------------------------------------------------------------


def _enum_block(spec: EnumSpec) -> list[str]:
    prefix = _snake(spec.name)
    out = [f"/* {spec.name}: {_comment(spec.meaning)} */"]
    if spec.is_flags:
        for v in spec.values:
            meaning = f" /* {_comment(v.meaning)} */" if v.meaning else ""
            out.append(f"#define {_macro(prefix, v.name)} 0x{v.value:02X}u{meaning}")
    else:
        out.append(f"enum ss_{prefix.lower()} {{")
        for v in spec.values:
            meaning = f" /* {_comment(v.meaning)} */" if v.meaning else ""
            out.append(f"    {_macro(prefix, v.name)} = 0x{v.value:02X},{meaning}")
        out.append("};")
    out.append("")
    return out


def _message_block(schema: Schema, message: MessageSpec) -> list[str]:
    name = message.name
    lower = _lower(message)
    senders = " and ".join(message.senders)
    out = [f"/* {name} (0x{message.type_id:02X}, sent by the {senders}): {_comment(message.meaning)} */"]
    for version in schema.versions:
        out.append(f"#define {_macro(name, 'SIZE_V' + str(version))} {message.payload_size(version)}")
    out.append(f"#define {_macro(name, 'SIZE_MAX')} {max(message.payload_size(v) for v in schema.versions)}")
    placed = {p.field.name: p.offset for p in message.placed(max(schema.versions))}
    for f in message.fields:
        base = _macro(name, f.name)
        out.append(f"#define {base}_OFFSET {placed[f.name]}")
        if f.is_char:
            out.append(f"#define {base}_LEN {f.size}")
        if f.since > 1:
            out.append(f"#define {base}_SINCE {f.since}")
        if f.bits is not None:
            width = f.bits[1] - f.bits[0] + 1
            out.append(f"#define {base}_SHIFT {f.shift}")
            out.append(f"#define {base}_MASK 0x{(1 << width) - 1:X}u")
        if f.range is not None:
            out.append(f"#define {base}_MIN {_u(f.range[0], f.type)}")
            out.append(f"#define {base}_MAX {_u(f.range[1], f.type)}")
    out.append(f"typedef struct ss_{lower}_s {{")
    if not message.fields:
        out.append("    uint8_t unused_; /* no fields: C99 structs may not be empty */")
    for f in message.fields:
        unit = f" [{_comment(f.unit)}]" if f.unit else ""
        since = f" (v{f.since}+; 0 in older versions)" if f.since > 1 else ""
        bits = f" (bits {f.bits[0]}-{f.bits[1]} of {f.word})" if f.bits is not None else ""
        doc = f"/* {_comment(f.meaning)}{unit}{bits}{since} */"
        if f.is_char:
            out.append(f"    char {f.name}[{f.size}]; {doc[:-3]}; padded with 0, not NUL-terminated when full */")
        else:
            out.append(f"    {_c_type(f)} {f.name}; {doc}")
    out.append(f"}} ss_{lower}_t;")
    out.append("")
    return out


def _timing_lines(schema: Schema) -> list[str]:
    out = ["/* --- timing (milliseconds) ------------------------------------------------ */"]
    for key, const in schema.timing.items():
        if key.endswith("_s"):
            ms = round(const.value * 1000)
            out.append(f"#define {_macro(key[:-2], 'MS')} {ms} /* {_comment(const.meaning)} */")
        else:
            out.append(f"#define {_macro(key)} {int(const.value)} /* {_comment(const.meaning)} */")
    out.append("")
    return out


def _gatt_lines(schema: Schema) -> list[str]:
    out = ["/* --- GATT profile (docs/protocol.md section 5) ------------------------------ */"]
    for key, value in schema.gatt.items():
        if isinstance(value, str):
            out.append(f'#define {_macro("GATT", key)} "{value}"')
        elif isinstance(value, int):
            out.append(f"#define {_macro('GATT', key)} {value}")
    for ch in schema.characteristics:
        out.append(f'#define {_macro("GATT_CHAR", ch.name, "UUID")} "{ch.uuid}" /* {_comment(ch.meaning)} */')
    out.append("")
    return out


def render_header(schema: Schema, current: str | None = None) -> str:
    framing = schema.framing
    crc = schema.crc
    out = [
        _BANNER + " *",
        " * The Stampside wire protocol (docs/protocol.md) as C99 constants and types: framing, CRC,",
        " * header bits, message type ids, codes and flags, payload sizes per protocol version,",
        " * field offsets, one struct per message (C field names = schema field names), timing",
        " * constants in milliseconds and the GATT identifiers. No object definitions: include it",
        " * anywhere. Integers on the wire are little-endian and unsigned.",
        " */",
        "#ifndef STAMPSIDE_SCHEMA_H",
        "#define STAMPSIDE_SCHEMA_H",
        "",
        "#include <stdint.h>",
        "",
        f'#define SS_PROTOCOL_NAME "{schema.name}"',
        "/* Protocol versions this schema describes (the header carries the version in 4 bits). */",
        f"#define SS_VERSION_MIN {min(schema.versions)}",
        f"#define SS_VERSION_MAX {max(schema.versions)}",
        "/* HELLO, DEVICE_INFO and NACK are always sent with this version (frozen layouts). */",
        f"#define SS_BASE_VERSION {schema.base_version}",
        "",
        "/* --- framing: COBS( header | payload | crc16_le ) 0x00 ------------------------ */",
        f"#define SS_DELIMITER 0x{framing['delimiter']:02X}u",
        f"#define SS_HEADER_SIZE {framing['header_size']}",
        f"#define SS_CRC_SIZE {framing['crc_size']}",
        f"#define SS_MAX_PAYLOAD {framing['max_payload']}",
        "/* Largest unstuffed frame: header + largest payload + CRC. */",
        f"#define SS_MAX_RAW_FRAME {framing['max_raw_frame']}",
        "/* Largest stuffed frame without its delimiter (COBS adds one byte below 254 bytes). */",
        f"#define SS_MAX_ENCODED_FRAME {framing['max_encoded_frame']}",
        "/* Largest frame on the wire, delimiter included. */",
        "#define SS_MAX_WIRE_FRAME (SS_MAX_ENCODED_FRAME + 1)",
        "/* Smallest unstuffed frame: a header with an empty payload, and the CRC. */",
        f"#define SS_MIN_RAW_FRAME {framing['min_raw_frame']}",
        "/* COBS: a code byte covers at most this many bytes (254 data bytes + itself). */",
        "#define SS_COBS_MAX_CODE 0xFFu",
        "",
        f"/* CRC: {crc['name']}, over {crc['covers']}, appended {crc['byte_order']}-endian. */",
        f"#define SS_CRC_WIDTH {crc['width']}",
        f"#define SS_CRC_POLY 0x{crc['poly']:04X}u",
        f"#define SS_CRC_INIT 0x{crc['init']:04X}u",
        f"#define SS_CRC_XOR_OUT 0x{crc['xor_out']:04X}u",
        f"#define SS_CRC_REFLECTED {1 if crc['reflect_in'] else 0}",
        '/* CRC of the ASCII bytes "123456789". */',
        f"#define SS_CRC_CHECK 0x{crc['check']:04X}u",
        "",
        "/* --- header ------------------------------------------------------------------ */",
    ]
    for h in schema.header:
        width = h.bits[1] - h.bits[0] + 1
        base = _macro("HEADER", h.name)
        out.append(f"/* {h.name}: {_comment(h.meaning)} */")
        out.append(f"#define {base}_BYTE {h.byte}")
        out.append(f"#define {base}_SHIFT {h.bits[0]}")
        out.append(f"#define {base}_MASK 0x{(1 << width) - 1:02X}u")
    out.append("")
    out.append("/* --- why a receiver drops a frame (stable names, counted per reason) ---------- */")
    out.append("typedef enum ss_bad_reason {")
    out.append("    SS_BAD_NONE = 0,")
    for reason, meaning in schema.bad_reasons.items():
        out.append(f"    {_macro('BAD', reason)}, /* {_comment(meaning)} */")
    out.append("    SS_BAD_COUNT")
    out.append("} ss_bad_reason_t;")
    out.append("/* X(ENUM, name): every reason with its stable name, in enum order. */")
    out.append("#define SS_BAD_REASONS(X) \\")
    out.extend(f'    X({_macro("BAD", reason)}, "{reason}") \\' for reason in schema.bad_reasons)
    out.append("")
    out.append("")
    out.append("/* --- enums and flags ---------------------------------------------------------- */")
    for spec in schema.enums.values():
        out.extend(_enum_block(spec))
    out.append("/* Who sends a message (bit set). */")
    out.append("#define SS_SENDER_HOST 0x01u")
    out.append("#define SS_SENDER_DEVICE 0x02u")
    out.append("")
    out.append("/* X(NAME, name, type id, senders, frozen layout): every message, in type order. */")
    out.append("#define SS_MESSAGES(X) \\")
    for m in schema.messages:
        senders = " | ".join(_macro("SENDER", s) for s in m.senders)
        out.append(f"    X({m.name}, {_lower(m)}, 0x{m.type_id:02X}, ({senders}), {1 if m.frozen_layout else 0}) \\")
    out.append("")
    out.append(f"#define SS_MESSAGE_COUNT {len(schema.messages)}")
    out.append("")
    out.append("/* --- messages: payload sizes per version, field offsets, structs ------------- */")
    for m in schema.messages:
        out.extend(_message_block(schema, m))
    out.append("/* Any message: `type` is its MessageType; `as` holds the fields of that type. */")
    out.append("typedef struct ss_message_s {")
    out.append("    uint8_t type;")
    out.append("    union {")
    out.extend(f"        ss_{_lower(m)}_t {_lower(m)};" for m in schema.messages)
    out.append("    } as;")
    out.append("} ss_message_t;")
    out.append("")
    out.extend(_timing_lines(schema))
    out.extend(_gatt_lines(schema))
    out.append("#endif /* STAMPSIDE_SCHEMA_H */")
    return "\n".join(out) + "\n"


# --- the codec ----------------------------------------------------------------------


def _words(message: MessageSpec, version: int) -> list[tuple[int, str, list[FieldSpec]]]:
    """(offset, wire type, fields) of every wire word in ``version``'s layout."""
    words: list[tuple[int, str, list[FieldSpec]]] = []
    by_word: dict[str, int] = {}
    for p in message.placed(version):
        f = p.field
        if f.word and f.word in by_word:
            words[by_word[f.word]][2].append(f)
            continue
        if f.word:
            by_word[f.word] = len(words)
        words.append((p.offset, f.type, [f]))
    return words


def _encode_fields(message: MessageSpec, version: int, indent: str) -> list[str]:
    lower = _lower(message)
    out: list[str] = []
    for _offset, wire, fields in _words(message, version):
        f = fields[0]
        src = f"m->as.{lower}"
        offset = _macro(message.name, f.name) + "_OFFSET"
        if f.is_char:
            out.append(f"{indent}memcpy(out + {offset}, {src}.{f.name}, {_macro(message.name, f.name)}_LEN);")
        elif f.bits is not None:
            for g in fields:
                base = _macro(message.name, g.name)
                out.append(f"{indent}if ({src}.{g.name} > {base}_MASK) {{")
                out.append(f"{indent}    return -1; /* {g.name} does not fit its bits */")
                out.append(f"{indent}}}")
            parts = " | ".join(
                f"(({_C_TYPES[wire]}){src}.{g.name} << {_macro(message.name, g.name)}_SHIFT)" for g in fields
            )
            out.append(f"{indent}ss_put_{wire}(out + {offset}, ({_C_TYPES[wire]})({parts}));")
        else:
            out.append(f"{indent}ss_put_{wire}(out + {offset}, {src}.{f.name});")
    return out


def _decode_fields(message: MessageSpec, version: int, indent: str) -> list[str]:
    lower = _lower(message)
    out: list[str] = []
    for _offset, wire, fields in _words(message, version):
        f = fields[0]
        dst = f"m->as.{lower}"
        offset = _macro(message.name, f.name) + "_OFFSET"
        if f.is_char:
            out.append(f"{indent}memcpy({dst}.{f.name}, p + {offset}, {_macro(message.name, f.name)}_LEN);")
        elif f.bits is not None:
            out.append(f"{indent}word = ss_get_{wire}(p + {offset});")
            for g in fields:
                base = _macro(message.name, g.name)
                out.append(f"{indent}{dst}.{g.name} = ({_C_TYPES[g.type]})((word >> {base}_SHIFT) & {base}_MASK);")
        else:
            out.append(f"{indent}{dst}.{f.name} = ss_get_{wire}(p + {offset});")
    return out


def _layout_versions(schema: Schema, message: MessageSpec) -> list[int]:
    """The versions whose layout differs from the one before (always 1 first), newest first."""
    return sorted({v for v in message.versions_with_own_layout if v <= max(schema.versions)}, reverse=True)


def render_codec(schema: Schema, current: str | None = None) -> str:
    out = [
        _BANNER + " *",
        " * Encode and decode of every message payload in every protocol version, from the layouts of",
        " * stampside_schema.h. Pure: no heap, no I/O. Declared in stampside.h.",
        " */",
        '#include "stampside.h"',
        "",
        "#include <string.h>",
        "",
        '#include "ss_bytes.h"',
        "",
        "int ss_payload_size(uint8_t type, uint8_t version)",
        "{",
        "    switch (type) {",
    ]
    for m in schema.messages:
        out.append(f"    case {_macro('MESSAGE_TYPE', m.name)}:")
        layouts = _layout_versions(schema, m)
        for v in layouts[:-1]:
            out.append(f"        if (version >= {v}) {{")
            out.append(f"            return {_macro(m.name, 'SIZE_V' + str(v))};")
            out.append("        }")
        out.append(f"        return {_macro(m.name, 'SIZE_V1')};")
    out += ["    default:", "        return -1;", "    }", "}", ""]
    out += [
        "int ss_encode_payload(const ss_message_t *m, uint8_t version, uint8_t out[SS_MAX_PAYLOAD])",
        "{",
        "    switch (m->type) {",
    ]
    for m in schema.messages:
        out.append(f"    case {_macro('MESSAGE_TYPE', m.name)}:")
        layouts = _layout_versions(schema, m)
        if not m.fields:
            out.append("        (void)out;")
        for v in layouts:
            cond = f"if (version >= {v}) " if v != 1 else ""
            if cond:
                out.append(f"        {cond}{{")
                out.extend(_encode_fields(m, v, "            "))
                out.append(f"            return {_macro(m.name, 'SIZE_V' + str(v))};")
                out.append("        }")
            else:
                out.extend(_encode_fields(m, v, "        "))
                out.append(f"        return {_macro(m.name, 'SIZE_V1')};")
    out += ["    default:", "        return -1;", "    }", "}", ""]
    out += [
        "int ss_decode_payload(uint8_t type, uint8_t version, const uint8_t *p, size_t len, ss_message_t *m)",
        "{",
        "    uint32_t word;",
        "    int size = ss_payload_size(type, version);",
        "    if (size < 0) {",
        "        return SS_DECODE_UNKNOWN_TYPE;",
        "    }",
        "    if (len != (size_t)size) {",
        "        return SS_DECODE_BAD_LENGTH;",
        "    }",
        "    memset(m, 0, sizeof *m);",
        "    m->type = type;",
        "    (void)word;",
        "    switch (type) {",
    ]
    for m in schema.messages:
        out.append(f"    case {_macro('MESSAGE_TYPE', m.name)}:")
        if not m.fields:
            out.append("        (void)p;")
            out.append("        break;")
            continue
        # The longest layout the version carries: fields it lacks stay 0 (memset above).
        layouts = _layout_versions(schema, m)
        for v in layouts:
            if v != 1:
                out.append(f"        if (version >= {v}) {{")
                out.extend(_decode_fields(m, v, "            "))
                out.append("            break;")
                out.append("        }")
            else:
                out.extend(_decode_fields(m, v, "        "))
                out.append("        break;")
    out += ["    default:", "        break;", "    }", "    return SS_DECODE_OK;", "}", ""]
    out += ["const char *ss_message_name(uint8_t type)", "{", "    switch (type) {"]
    for m in schema.messages:
        out.append(f'    case {_macro("MESSAGE_TYPE", m.name)}: return "{m.name}";')
    out += ['    default: return "?";', "    }", "}", ""]
    out += ["uint8_t ss_message_senders(uint8_t type)", "{", "    switch (type) {"]
    out.append("#define SS_SENDERS_CASE_(NAME, name, id, senders, frozen) case id: return (uint8_t)(senders);")
    out.append("    SS_MESSAGES(SS_SENDERS_CASE_)")
    out.append("#undef SS_SENDERS_CASE_")
    out += ["    default: return 0;", "    }", "}", ""]
    out += ["int ss_message_frozen(uint8_t type)", "{", "    switch (type) {"]
    out.append("#define SS_FROZEN_CASE_(NAME, name, id, senders, frozen) case id: return frozen;")
    out.append("    SS_MESSAGES(SS_FROZEN_CASE_)")
    out.append("#undef SS_FROZEN_CASE_")
    out += ["    default: return 0;", "    }", "}"]
    return "\n".join(out) + "\n"


# --- the vectors --------------------------------------------------------------------


def _vectors_document(schema: Schema) -> dict[str, Any]:
    """The vectors as ``vectors.json`` holds them, rendered afresh when that file is generated too.

    Rendering them from the schema here (rather than reading the file) keeps ``vectors.inc``
    current in the same ``generate_protocol.py`` run that rewrites ``vectors.json``.
    """
    try:
        render = getattr(importlib.import_module(f"{__package__}.vectors"), "render", None)
    except ImportError:
        render = None
    if callable(render):
        text = str(render(schema, None))
    else:
        text = resources.files("stampside.firmware_protocol").joinpath("vectors.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


def _bytes_literal(hex_text: str) -> str:
    data = bytes.fromhex(hex_text)
    return "{ " + ", ".join(f"0x{b:02x}" for b in data) + " }"


def _field_value(schema: Schema, field: FieldSpec, value: Any) -> str:
    if field.is_char:
        raw = str(value).encode("ascii")
        return "{ " + ", ".join(f"'{chr(b)}'" if chr(b) not in "'\\" else f"'\\{chr(b)}'" for b in raw) + " }"
    return _u(int(value), field.type)


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_vectors(schema: Schema, current: str | None = None) -> str:
    doc = _vectors_document(schema)
    by_name = {m.name: m for m in schema.messages}
    out = [
        _BANNER.replace("schema.toml", "vectors.json"),
        " * firmware_protocol/vectors.json as C data for the tests (include once, after stampside.h).",
        " */",
        "",
        "typedef struct ss_vector_s {",
        "    const char *name;",
        "    uint8_t sender; /* SS_SENDER_HOST or SS_SENDER_DEVICE */",
        "    uint8_t version;",
        "    uint8_t flags;",
        "    uint8_t lseq;",
        "    const uint8_t *wire; /* the bytes on the wire, delimiter included */",
        "    size_t wire_len;",
        "    ss_message_t message; /* the decoded fields */",
        "} ss_vector_t;",
        "",
        "typedef struct ss_bad_vector_s {",
        "    const char *name;",
        "    const uint8_t *wire;",
        "    size_t wire_len;",
        "    ss_bad_reason_t reason;",
        "} ss_bad_vector_t;",
        "",
    ]
    frames = doc["frames"]
    bad = doc["bad_frames"]
    for i, item in enumerate(frames):
        out.append(f"static const uint8_t ss_vector_wire_{i}[] = {_bytes_literal(item['hex'])};")
    for i, item in enumerate(bad):
        out.append(f"static const uint8_t ss_bad_vector_wire_{i}[] = {_bytes_literal(item['hex'])};")
    out.append("")
    out.append("static const ss_vector_t ss_vectors[] = {")
    for i, item in enumerate(frames):
        message = by_name[item["type"]]
        lower = _lower(message)
        fields = {f.name: f for f in message.fields}
        values = ", ".join(
            f".{key} = {_field_value(schema, fields[key], value)}" for key, value in item["fields"].items()
        )
        sender = _macro("SENDER", item["sender"])
        body = f"{{ {values} }}" if values else "{ 0 }"
        out.append(
            f"    {{ {_c_string(item['name'])}, {sender}, {item['version']}, {item['flags']}, {item['lseq']},"
            f" ss_vector_wire_{i}, sizeof ss_vector_wire_{i},"
            f" {{ {_macro('MESSAGE_TYPE', message.name)}, {{ .{lower} = {body} }} }} }},"
        )
    out.append("};")
    out.append("")
    out.append("static const ss_bad_vector_t ss_bad_vectors[] = {")
    for i, item in enumerate(bad):
        out.append(
            f"    {{ {_c_string(item['name'])}, ss_bad_vector_wire_{i}, sizeof ss_bad_vector_wire_{i},"
            f" {_macro('BAD', item['reason'])} }},"
        )
    out.append("};")
    out.append("")
    out.append(f"#define SS_VECTOR_COUNT {len(frames)}")
    out.append(f"#define SS_BAD_VECTOR_COUNT {len(bad)}")
    return "\n".join(out) + "\n"


TARGETS = [
    Target(HEADER_PATH, render_header, "C header: constants, sizes and structs of every message"),
    Target(CODEC_PATH, render_codec, "C codec: encode and decode of every payload in every version"),
    Target(VECTORS_PATH, render_vectors, "C test vectors from firmware_protocol/vectors.json"),
]
