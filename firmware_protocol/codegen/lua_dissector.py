"""The Wireshark Lua dissector of the Stampside link, generated from the schema.

``stampside link dissector`` prints it; ``firmware_protocol/wireshark/stampside.lua`` is a
committed copy (a test keeps it current). It dissects captures of link type
``LINKTYPE_USER0`` (147) as ``stampside link capture URL FILE.pcapng`` writes them: one packet
per frame, the packet's direction (``epb_flags``) saying who sent it. It needs Lua 5.2 with
``bit32`` or LuaBitOp's ``bit``, as Wireshark 4.0 embeds it (tested with Debian's tshark 4.0).

What it shows, per frame: the header (``stampside.version``, ``stampside.flags`` and its bits,
``stampside.type`` with the message names, ``stampside.lseq``), one field per schema field
named ``stampside.<message>.<field>`` (``stampside.stamp.force_dn``; enums with their names,
bit fields with their masks, flag sets with a boolean per bit, ``char[N]`` as text), the CRC
(checked). A frame the receiver's decoder would drop gets ``stampside.kind == "bad_frame"``,
``stampside.bad_reason`` (``cobs``, ``short``, ``crc``, ``oversize``, ``version``,
``length``: the Python decoder's reasons) and the expert info ``stampside.malformed``
(group Malformed, so ``_ws.malformed`` matches it too).
"""

from __future__ import annotations

from stampside.firmware_protocol.codegen import Target
from stampside.firmware_protocol.schema import EnumSpec, FieldSpec, MessageSpec, Schema

PATH = "firmware_protocol/wireshark/stampside.lua"

#: The pcapng link type the dissector registers for (LINKTYPE_USER0; Wireshark's WTAP_ENCAP_USER0).
LINKTYPE = 147


def lua_string(text: str) -> str:
    """``text`` as a Lua string literal (UTF-8 kept; quotes, backslashes and control characters escaped)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\{ord(ch):03d}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def field_abbrev(message: MessageSpec, field: FieldSpec) -> str:
    """The display-filter name of a message field: ``stampside.stamp.force_dn``."""
    return f"stampside.{message.name.lower()}.{field.name}"


def _crc_table(poly: int, width: int) -> list[int]:
    top = 1 << (width - 1)
    mask = (1 << width) - 1
    table = []
    for i in range(256):
        crc = i << (width - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) if crc & top else crc << 1
        table.append(crc & mask)
    return table


def _value_table(spec: EnumSpec) -> str:
    items = ", ".join(f"[{v.value}] = {lua_string(v.name)}" for v in spec.values)
    return "{ " + items + " }"


def _unit_note(field: FieldSpec) -> str:
    if field.scale is not None:
        return f" (× {field.scale:g} {field.unit})".rstrip()
    return f" ({field.unit})" if field.unit else ""


def _protofields(schema: Schema) -> list[str]:
    """``F["abbrev"] = ProtoField...`` lines for every message field (and each bit of a flag set)."""
    lines = []
    for message in schema.messages:
        for field in message.fields:
            abbrev = field_abbrev(message, field)
            label = lua_string(field.name)
            desc = lua_string(field.meaning + _unit_note(field))
            if field.is_char:
                name = lua_string(abbrev)
                lines.append(f"F[{name}] = ProtoField.string({name}, {label}, base.ASCII, {desc})")
                continue
            bits = 8 * field.size
            base = "base.HEX" if field.flags else "base.DEC"
            values = f"VALUES.{field.enum}" if field.enum else "nil"
            mask = f"0x{field.mask:X}" if field.bits else "nil"
            lines.append(
                f"F[{lua_string(abbrev)}] = ProtoField.uint{bits}({lua_string(abbrev)}, {label}, {base}, "
                f"{values}, {mask}, {desc})"
            )
            if field.flags:
                for flag in schema.enums[field.flags].values:
                    sub = f"{abbrev}.{flag.name.lower()}"
                    lines.append(
                        f"F[{lua_string(sub)}] = ProtoField.bool({lua_string(sub)}, {lua_string(flag.name)}, {bits}, "
                        f"nil, 0x{flag.value:X}, {lua_string(flag.meaning)})"
                    )
    return lines


def _layout(schema: Schema, message: MessageSpec) -> str:
    """One entry of the LAYOUTS table: the message's fields at their offsets, sizes per version."""
    newest = max(schema.versions)
    senders = ", ".join(f"{s} = true" for s in message.senders)
    sizes = ", ".join(f"[{v}] = {message.payload_size(v)}" for v in schema.versions)
    fields = []
    for placed in message.placed(newest):
        field = placed.field
        abbrev = field_abbrev(message, field)
        parts = [
            f"pf = F[{lua_string(abbrev)}]",
            f"name = {lua_string(field.name)}",
            f"offset = {placed.offset}",
            f"size = {field.size}",
            f"since = {field.since}",
            f"char = {'true' if field.is_char else 'false'}",
        ]
        if field.bits:
            parts += [f"mask = 0x{field.mask:X}", f"shift = {field.shift}"]
        if field.enum:
            parts.append(f"values = VALUES.{field.enum}")
        if field.flags:
            bits = ", ".join(
                f"{{ pf = F[{lua_string(f'{abbrev}.{flag.name.lower()}')}], name = {lua_string(flag.name)}, "
                f"value = 0x{flag.value:X} }}"
                for flag in schema.enums[field.flags].values
            )
            parts.append(f"flags = {{ {bits} }}")
        if field.scale is not None:
            parts.append(f"scale = {field.scale!r}")
        if field.unit:
            parts.append(f"unit = {lua_string(field.unit)}")
        fields.append("            { " + ", ".join(parts) + " },")
    body = "\n".join(fields)
    return (
        f"    [0x{message.type_id:02X}] = {{\n"
        f"        name = {lua_string(message.name)}, senders = {{ {senders} }}, "
        f"frozen = {'true' if message.frozen_layout else 'false'},\n"
        f"        sizes = {{ {sizes} }},\n"
        f"        fields = {{\n{body}\n        }},\n"
        f"    }},"
    )


def render_dissector(schema: Schema) -> str:
    """The whole Lua dissector for ``schema``."""
    framing = schema.framing
    crc = schema.crc
    flags_enum = next(h.flags for h in schema.header if h.name == "flags")
    type_enum = next(h.enum for h in schema.header if h.name == "type")
    enums = "\n".join(f"VALUES.{name} = {_value_table(spec)}" for name, spec in schema.enums.items())
    header_flags = schema.enums[flags_enum].values
    flag_fields = "\n".join(
        f'F["stampside.flags.{flag.name.lower()}"] = ProtoField.bool("stampside.flags.{flag.name.lower()}", '
        f"{lua_string(flag.name)}, 8, nil, 0x{flag.value:X}, {lua_string(flag.meaning)})"
        for flag in header_flags
    )
    header_flag_list = ", ".join(
        f'{{ pf = F["stampside.flags.{flag.name.lower()}"], name = {lua_string(flag.name)}, value = 0x{flag.value:X} }}'
        for flag in header_flags
    )
    table = _crc_table(int(crc["poly"]), int(crc["width"]))
    crc_rows = ",\n".join(
        "    " + ", ".join(f"0x{value:04X}" for value in table[row : row + 8]) for row in range(0, 256, 8)
    )
    reasons = "\n".join(f"    {name} = {lua_string(text)}," for name, text in schema.bad_reasons.items())
    layouts = "\n".join(_layout(schema, message) for message in schema.messages)
    values = {
        "@VERSIONS@": ", ".join(str(v) for v in schema.versions),
        "@VMIN@": str(min(schema.versions)),
        "@VMAX@": str(max(schema.versions)),
        "@BASE_VERSION@": str(schema.base_version),
        "@MAX_ENCODED@": str(framing["max_encoded_frame"]),
        "@MIN_RAW@": str(framing["min_raw_frame"]),
        "@HEADER_SIZE@": str(framing["header_size"]),
        "@CRC_SIZE@": str(framing["crc_size"]),
        "@CRC_INIT@": f"0x{int(crc['init']):04X}",
        "@CRC_NAME@": str(crc["name"]),
        "@CRC_TABLE@": crc_rows,
        "@ENUMS@": enums,
        "@TYPE_ENUM@": type_enum,
        "@FLAG_FIELDS@": flag_fields,
        "@HEADER_FLAGS@": header_flag_list,
        "@PROTOFIELDS@": "\n".join(_protofields(schema)),
        "@REASONS@": reasons,
        "@LAYOUTS@": layouts,
        "@LINKTYPE@": str(LINKTYPE),
    }
    text = _TEMPLATE
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def _render(schema: Schema, current: str | None) -> str:
    return render_dissector(schema)


TARGETS = [Target(PATH, _render, "the Wireshark Lua dissector (stampside link dissector)")]


_TEMPLATE = r"""-- Wireshark dissector for the Stampside link protocol (versions @VERSIONS@).
--
-- GENERATED from firmware_protocol/schema.toml by firmware_protocol/codegen/lua_dissector.py:
-- do not edit. Print a fresh copy with:  stampside link dissector --out stampside.lua
--
-- Use:   tshark -X lua_script:stampside.lua -r capture.pcapng
--        wireshark -X lua_script:stampside.lua capture.pcapng
--        (or copy it into Wireshark's personal Lua plugins folder: Help > About > Folders)
-- Captures: stampside link capture URL capture.pcapng (link type @LINKTYPE@, LINKTYPE_USER0;
-- one packet per frame; epb_flags inbound = device -> host, outbound = host -> device).
-- Filters:  stampside   stampside.stamp.seq > 100   stampside.message == "HEARTBEAT"
--           stampside.malformed   stampside.bad_reason == "crc"   stampside.flags.replay == 1
--
-- Every packet is dissected on its own, with one exception: after an oversize run (more than
-- @MAX_ENCODED@ bytes without a delimiter) the bytes up to the next delimiter in the same direction are
-- dropped by the receiver, and are shown as such ("discarded").

local bxor, band, rshift, lshift
if bit32 then
    bxor, band, rshift, lshift = bit32.bxor, bit32.band, bit32.rshift, bit32.lshift
else
    bxor, band, rshift, lshift = bit.bxor, bit.band, bit.rshift, bit.lshift
end

local VMIN, VMAX, BASE_VERSION = @VMIN@, @VMAX@, @BASE_VERSION@
local MAX_ENCODED, MIN_RAW, HEADER_SIZE, CRC_SIZE = @MAX_ENCODED@, @MIN_RAW@, @HEADER_SIZE@, @CRC_SIZE@
local CRC_INIT = @CRC_INIT@

-- @CRC_NAME@, table-driven.
local CRC_TABLE = {
@CRC_TABLE@
}

local function crc16(raw, count)
    local crc = CRC_INIT
    for i = 1, count do
        crc = band(bxor(lshift(crc, 8), CRC_TABLE[band(bxor(rshift(crc, 8), raw[i]), 0xFF) + 1]), 0xFFFF)
    end
    return crc
end

local REASONS = {
@REASONS@
}

local VALUES = {}
@ENUMS@

local stampside = Proto("stampside", "Stampside link protocol")

local F = {}
F["stampside.kind"] = ProtoField.string("stampside.kind", "Kind", base.ASCII,
    "frame, unknown (a type the receiver does not accept), bad_frame, idle, incomplete, discarded or event")
F["stampside.message"] = ProtoField.string("stampside.message", "Message", base.ASCII, "the message type's name")
F["stampside.version"] = ProtoField.uint8("stampside.version", "Version", base.DEC, nil, 0xF0,
    "protocol version the frame is sent with")
F["stampside.flags"] = ProtoField.uint8("stampside.flags", "Flags", base.HEX, nil, 0x0F, "header flags")
@FLAG_FIELDS@
F["stampside.type"] = ProtoField.uint8("stampside.type", "Type", base.HEX, VALUES.@TYPE_ENUM@, nil, "message type")
F["stampside.lseq"] = ProtoField.uint8("stampside.lseq", "Link sequence number", base.DEC)
F["stampside.crc"] = ProtoField.uint16("stampside.crc", "CRC", base.HEX)
F["stampside.crc.computed"] = ProtoField.uint16("stampside.crc.computed", "CRC computed", base.HEX)
F["stampside.bad_reason"] = ProtoField.string("stampside.bad_reason", "Bad frame reason", base.ASCII,
    "why the receiver drops the frame: cobs, short, crc, oversize, version or length")
F["stampside.stuffed_length"] = ProtoField.uint32("stampside.stuffed_length", "Stuffed length", base.DEC, nil, nil,
    "bytes before the delimiter")
F["stampside.idle_fill"] = ProtoField.uint32("stampside.idle_fill", "Idle fill", base.DEC, nil, nil,
    "0x00 bytes before the frame (ignored by the receiver)")
F["stampside.event"] = ProtoField.string("stampside.event", "Transport event", base.ASCII,
    "open or close: the decoders start afresh at open")
@PROTOFIELDS@

local HEADER_FLAGS = { @HEADER_FLAGS@ }

-- Message layouts by type: fields at their offsets (the newest version's; `since` says which
-- version added a field), payload sizes per version. Frozen layouts are the same in every version.
local LAYOUTS = {
@LAYOUTS@
}

local field_list = {}
for _, field in pairs(F) do
    field_list[#field_list + 1] = field
end
stampside.fields = field_list

local E = {
    malformed = ProtoExpert.new("stampside.malformed", "Bad Stampside frame", expert.group.MALFORMED,
        expert.severity.ERROR),
    unknown = ProtoExpert.new("stampside.unknown_type", "A message type the receiver does not accept",
        expert.group.PROTOCOL, expert.severity.WARN),
    incomplete = ProtoExpert.new("stampside.incomplete", "No delimiter: the frame was cut short",
        expert.group.SEQUENCE, expert.severity.NOTE),
    discarded = ProtoExpert.new("stampside.discarded", "The rest of an oversize run, dropped by the receiver",
        expert.group.SEQUENCE, expert.severity.NOTE),
}
stampside.experts = { E.malformed, E.unknown, E.incomplete, E.discarded }

local f_comment = Field.new("frame.comment")

-- Whether a direction is inside the rest of an oversize run, during the first pass; per packet
-- afterwards (Wireshark dissects packets again, in any order, when one is clicked).
local discarding_now = {}
local discarding_at = {}

function stampside.init()
    discarding_now = {}
    discarding_at = {}
end

local function cobs_decode(p, first, stop)
    -- p[first .. stop-1] holds no 0x00. Returns the decoded bytes (1-based) or nil.
    local out, idx = {}, first
    while true do
        local code = p[idx]
        idx = idx + 1
        local finish = idx + code - 1
        if finish > stop then
            return nil
        end
        for i = idx, finish - 1 do
            out[#out + 1] = p[i]
        end
        idx = finish
        if idx < stop then
            if code < 0xFF then
                out[#out + 1] = 0
            end
        else
            return out
        end
    end
end

local function to_tvb(raw, name)
    local ba = ByteArray.new()
    ba:set_size(#raw)
    for i = 1, #raw do
        ba:set_index(i - 1, raw[i])
    end
    return ba:tvb(name)
end

local function uint_le(raw, first, size)
    local value = 0
    for i = size, 1, -1 do
        value = value * 256 + raw[first + i - 1]
    end
    return value
end

local function generated(item, field, value)
    item:add(field, value):set_generated()
end

local function bad(item, reason, detail, head)
    -- `head` ("STAMP #3") when the header passed its CRC (reasons version and length).
    item:set_text("Stampside " .. (head and head .. " " or "") .. "BAD FRAME (" .. reason .. ")")
    generated(item, F["stampside.kind"], "bad_frame")
    generated(item, F["stampside.bad_reason"], reason)
    local text = "Bad frame (" .. reason .. "): " .. REASONS[reason]
    if detail ~= "" then
        text = text .. ": " .. detail
    end
    item:add_proto_expert_info(E.malformed, text)
    return "BAD " .. reason
end

local function payload_fields(tree, rtvb, raw, layout, version)
    local shown = {}
    for _, fd in ipairs(layout.fields) do
        if fd.since <= version then
            local first = HEADER_SIZE + fd.offset
            local range = rtvb(first, fd.size)
            local item, text
            if fd.char then
                local chars = {}
                for i = 1, fd.size do
                    local byte = raw[first + i]
                    if byte == 0 then
                        break
                    end
                    chars[#chars + 1] = string.char(byte)
                end
                text = table.concat(chars)
                item = tree:add(fd.pf, range, text)
            elseif fd.size == 8 then
                item = tree:add_le(fd.pf, range)
                text = tostring(range:le_uint64())
            else
                item = tree:add_le(fd.pf, range)
                local value = uint_le(raw, first + 1, fd.size)
                if fd.mask then
                    value = rshift(band(value, fd.mask), fd.shift)
                end
                text = tostring(value)
                if fd.scale then
                    item:append_text(string.format(" (%g %s)", value * fd.scale, fd.unit))
                elseif fd.unit then
                    item:append_text(" " .. fd.unit)
                end
                if fd.values and fd.values[value] then
                    text = fd.values[value]
                end
                if fd.flags then
                    local names = {}
                    for _, flag in ipairs(fd.flags) do
                        item:add_le(flag.pf, range)
                        if band(value, flag.value) ~= 0 then
                            names[#names + 1] = flag.name
                        end
                    end
                    text = #names > 0 and table.concat(names, "|") or "0"
                end
            end
            shown[#shown + 1] = fd.name .. "=" .. text
        end
    end
    return table.concat(shown, " ")
end

local function dissect_frame(tvb, pinfo, root, p, first, stop, idle, receiver)
    -- The frame p[first .. stop-1] (stuffed), its delimiter at p[stop], `idle` fill bytes before it.
    local item = root:add(stampside, tvb(first - idle, stop - first + idle + 1), "Frame")
    if idle > 0 then
        item:add(F["stampside.idle_fill"], tvb(first - idle, idle), idle)
    end
    local stuffed = stop - first
    item:add(F["stampside.stuffed_length"], tvb(first, stuffed), stuffed)
    if stuffed > MAX_ENCODED then
        return bad(item, "oversize", stuffed .. " bytes")
    end
    local raw = cobs_decode(p, first, stop)
    if raw == nil then
        return bad(item, "cobs", "not enough input bytes for length code")
    end
    if #raw < MIN_RAW then
        return bad(item, "short", #raw .. " bytes")
    end
    local body = #raw - CRC_SIZE
    local rtvb = to_tvb(raw, "Unstuffed frame")
    local received = raw[body + 1] + 256 * raw[body + 2]
    local computed = crc16(raw, body)
    local crc_item = item:add_le(F["stampside.crc"], rtvb(body, CRC_SIZE))
    if received ~= computed then
        crc_item:append_text(string.format(" [incorrect, should be 0x%04x]", computed))
        generated(item, F["stampside.crc.computed"], computed)
        return bad(item, "crc", string.format("received 0x%04X, computed 0x%04X", received, computed))
    end
    crc_item:append_text(" [correct]")
    local version = rshift(raw[1], 4)
    local flags = band(raw[1], 0x0F)
    local mtype = raw[2]
    local lseq = raw[3]
    item:add(F["stampside.version"], rtvb(0, 1))
    local flags_item = item:add(F["stampside.flags"], rtvb(0, 1))
    local flag_names = {}
    for _, flag in ipairs(HEADER_FLAGS) do
        flags_item:add(flag.pf, rtvb(0, 1))
        if band(flags, flag.value) ~= 0 then
            flag_names[#flag_names + 1] = " [" .. flag.name .. "]"
        end
    end
    item:add(F["stampside.type"], rtvb(1, 1))
    item:add(F["stampside.lseq"], rtvb(2, 1))
    local layout = LAYOUTS[mtype]
    local name = layout and layout.name or string.format("0x%02X", mtype)
    generated(item, F["stampside.message"], name)
    local head = name .. " #" .. lseq
    item:set_text("Stampside " .. head .. table.concat(flag_names))
    if layout == nil or (receiver ~= nil and not layout.senders[receiver]) then
        generated(item, F["stampside.kind"], "unknown")
        item:add_proto_expert_info(E.unknown, name .. " is not a message the receiver accepts")
        return head .. " (not accepted)"
    end
    if not layout.frozen and (version < VMIN or version > VMAX) then
        return head .. " " .. bad(item, "version",
            string.format("%s in v%d, this end speaks v%d-v%d", name, version, VMIN, VMAX), head)
    end
    local lv = layout.frozen and BASE_VERSION or version
    local size = layout.sizes[lv]
    local payload = body - HEADER_SIZE
    if payload ~= size then
        return head .. " " .. bad(item, "length",
            string.format("%s v%d payload is %d bytes, expected %d", name, version, payload, size), head)
    end
    generated(item, F["stampside.kind"], "frame")
    local message = item:add(stampside, rtvb(HEADER_SIZE, payload), name)
    local text = payload_fields(message, rtvb, raw, layout, lv)
    return head .. table.concat(flag_names) .. (text ~= "" and " " .. text or "")
end

function stampside.dissector(tvb, pinfo, tree)
    pinfo.cols.protocol = "Stampside"
    local n = tvb:len()
    local root = tree:add(stampside, tvb(), "Stampside link")
    if n == 0 then
        local comment = f_comment()
        local text = comment and tostring(comment.value) or ""
        local event = string.match(text, "^stampside%-link event: (%S+)")
        if event then
            generated(root, F["stampside.kind"], "event")
            generated(root, F["stampside.event"], event)
            if event == "open" and not pinfo.visited then
                discarding_now = {}
            end
            pinfo.cols.info = "transport " .. event
        end
        return
    end
    -- p2p_dir: 1 received by the capturing host (from the device), 0 sent by it, -1 not known.
    local dir = pinfo.p2p_dir
    local receiver, arrow
    if dir == 1 then
        receiver, arrow = "device", "<- "
    elseif dir == 0 then
        receiver, arrow = "host", "-> "
    else
        arrow = ""
    end
    if not pinfo.visited then
        discarding_at[pinfo.number] = discarding_now[dir] or false
    end
    local discarding = discarding_at[pinfo.number]
    local p = {}
    local bytes = tvb:range(0, n):bytes()
    for i = 0, n - 1 do
        p[i] = bytes:get_index(i)
    end
    local infos = {}
    local pos, idle = 0, 0
    while pos < n do
        local z = pos
        while z < n and p[z] ~= 0 do
            z = z + 1
        end
        if z >= n then
            local item = root:add(stampside, tvb(pos - idle, n - pos + idle), "Bytes without a delimiter")
            if discarding then
                generated(item, F["stampside.kind"], "discarded")
                item:add_proto_expert_info(E.discarded)
                infos[#infos + 1] = "discarded"
            elseif n - pos > MAX_ENCODED then
                infos[#infos + 1] = bad(item, "oversize", "no delimiter")
                discarding = true
            else
                generated(item, F["stampside.kind"], "incomplete")
                item:add_proto_expert_info(E.incomplete)
                infos[#infos + 1] = "incomplete"
            end
            idle = 0
            break
        end
        if discarding then
            local item = root:add(stampside, tvb(pos, z - pos + 1), "Discarded")
            generated(item, F["stampside.kind"], "discarded")
            item:add_proto_expert_info(E.discarded)
            infos[#infos + 1] = "discarded"
            discarding = false
        elseif z == pos then
            idle = idle + 1
        else
            infos[#infos + 1] = dissect_frame(tvb, pinfo, root, p, pos, z, idle, receiver)
            idle = 0
        end
        pos = z + 1
    end
    if idle > 0 then
        local item = root:add(stampside, tvb(n - idle, idle), "Idle fill")
        generated(item, F["stampside.kind"], "idle")
        item:add(F["stampside.idle_fill"], tvb(n - idle, idle), idle)
        infos[#infos + 1] = "idle fill"
    end
    if not pinfo.visited then
        discarding_now[dir] = discarding
    end
    pinfo.cols.info = arrow .. table.concat(infos, "; ")
end

DissectorTable.get("wtap_encap"):add(wtap_encaps and wtap_encaps.USER0 or wtap.USER0, stampside)
"""
