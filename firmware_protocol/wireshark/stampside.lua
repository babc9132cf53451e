-- Wireshark dissector for the Stampside link protocol (versions 1, 2).
--
-- GENERATED from firmware_protocol/schema.toml by firmware_protocol/codegen/lua_dissector.py:
-- do not edit. Print a fresh copy with:  stampside link dissector --out stampside.lua
--
-- Use:   tshark -X lua_script:stampside.lua -r capture.pcapng
--        wireshark -X lua_script:stampside.lua capture.pcapng
--        (or copy it into Wireshark's personal Lua plugins folder: Help > About > Folders)
-- Captures: stampside link capture URL capture.pcapng (link type 147, LINKTYPE_USER0;
-- one packet per frame; epb_flags inbound = device -> host, outbound = host -> device).
-- Filters:  stampside   stampside.stamp.seq > 100   stampside.message == "HEARTBEAT"
--           stampside.malformed   stampside.bad_reason == "crc"   stampside.flags.replay == 1
--
-- Every packet is dissected on its own, with one exception: after an oversize run (more than
-- 70 bytes without a delimiter) the bytes up to the next delimiter in the same direction are
-- dropped by the receiver, and are shown as such ("discarded").

local bxor, band, rshift, lshift
if bit32 then
    bxor, band, rshift, lshift = bit32.bxor, bit32.band, bit32.rshift, bit32.lshift
else
    bxor, band, rshift, lshift = bit.bxor, bit.band, bit.rshift, bit.lshift
end

local VMIN, VMAX, BASE_VERSION = 1, 2, 1
local MAX_ENCODED, MIN_RAW, HEADER_SIZE, CRC_SIZE = 70, 5, 3, 2
local CRC_INIT = 0xFFFF

-- CRC-16/CCITT-FALSE, table-driven.
local CRC_TABLE = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50A5, 0x60C6, 0x70E7,
    0x8108, 0x9129, 0xA14A, 0xB16B, 0xC18C, 0xD1AD, 0xE1CE, 0xF1EF,
    0x1231, 0x0210, 0x3273, 0x2252, 0x52B5, 0x4294, 0x72F7, 0x62D6,
    0x9339, 0x8318, 0xB37B, 0xA35A, 0xD3BD, 0xC39C, 0xF3FF, 0xE3DE,
    0x2462, 0x3443, 0x0420, 0x1401, 0x64E6, 0x74C7, 0x44A4, 0x5485,
    0xA56A, 0xB54B, 0x8528, 0x9509, 0xE5EE, 0xF5CF, 0xC5AC, 0xD58D,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76D7, 0x66F6, 0x5695, 0x46B4,
    0xB75B, 0xA77A, 0x9719, 0x8738, 0xF7DF, 0xE7FE, 0xD79D, 0xC7BC,
    0x48C4, 0x58E5, 0x6886, 0x78A7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xC9CC, 0xD9ED, 0xE98E, 0xF9AF, 0x8948, 0x9969, 0xA90A, 0xB92B,
    0x5AF5, 0x4AD4, 0x7AB7, 0x6A96, 0x1A71, 0x0A50, 0x3A33, 0x2A12,
    0xDBFD, 0xCBDC, 0xFBBF, 0xEB9E, 0x9B79, 0x8B58, 0xBB3B, 0xAB1A,
    0x6CA6, 0x7C87, 0x4CE4, 0x5CC5, 0x2C22, 0x3C03, 0x0C60, 0x1C41,
    0xEDAE, 0xFD8F, 0xCDEC, 0xDDCD, 0xAD2A, 0xBD0B, 0x8D68, 0x9D49,
    0x7E97, 0x6EB6, 0x5ED5, 0x4EF4, 0x3E13, 0x2E32, 0x1E51, 0x0E70,
    0xFF9F, 0xEFBE, 0xDFDD, 0xCFFC, 0xBF1B, 0xAF3A, 0x9F59, 0x8F78,
    0x9188, 0x81A9, 0xB1CA, 0xA1EB, 0xD10C, 0xC12D, 0xF14E, 0xE16F,
    0x1080, 0x00A1, 0x30C2, 0x20E3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83B9, 0x9398, 0xA3FB, 0xB3DA, 0xC33D, 0xD31C, 0xE37F, 0xF35E,
    0x02B1, 0x1290, 0x22F3, 0x32D2, 0x4235, 0x5214, 0x6277, 0x7256,
    0xB5EA, 0xA5CB, 0x95A8, 0x8589, 0xF56E, 0xE54F, 0xD52C, 0xC50D,
    0x34E2, 0x24C3, 0x14A0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405,
    0xA7DB, 0xB7FA, 0x8799, 0x97B8, 0xE75F, 0xF77E, 0xC71D, 0xD73C,
    0x26D3, 0x36F2, 0x0691, 0x16B0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xD94C, 0xC96D, 0xF90E, 0xE92F, 0x99C8, 0x89E9, 0xB98A, 0xA9AB,
    0x5844, 0x4865, 0x7806, 0x6827, 0x18C0, 0x08E1, 0x3882, 0x28A3,
    0xCB7D, 0xDB5C, 0xEB3F, 0xFB1E, 0x8BF9, 0x9BD8, 0xABBB, 0xBB9A,
    0x4A75, 0x5A54, 0x6A37, 0x7A16, 0x0AF1, 0x1AD0, 0x2AB3, 0x3A92,
    0xFD2E, 0xED0F, 0xDD6C, 0xCD4D, 0xBDAA, 0xAD8B, 0x9DE8, 0x8DC9,
    0x7C26, 0x6C07, 0x5C64, 0x4C45, 0x3CA2, 0x2C83, 0x1CE0, 0x0CC1,
    0xEF1F, 0xFF3E, 0xCF5D, 0xDF7C, 0xAF9B, 0xBFBA, 0x8FD9, 0x9FF8,
    0x6E17, 0x7E36, 0x4E55, 0x5E74, 0x2E93, 0x3EB2, 0x0ED1, 0x1EF0
}

local function crc16(raw, count)
    local crc = CRC_INIT
    for i = 1, count do
        crc = band(bxor(lshift(crc, 8), CRC_TABLE[band(bxor(rshift(crc, 8), raw[i]), 0xFF) + 1]), 0xFFFF)
    end
    return crc
end

local REASONS = {
    cobs = "the bytes between two delimiters are not valid COBS",
    short = "fewer than 5 bytes once unstuffed",
    crc = "the CRC does not match",
    oversize = "more than 70 bytes arrived without a delimiter",
    version = "the header's version is not one the receiver speaks",
    length = "the payload length is not the message type's",
}

local VALUES = {}
VALUES.MessageType = { [1] = "HELLO", [2] = "TIME_SYNC", [3] = "ARM", [4] = "DISARM", [5] = "ACK", [6] = "RESUME", [7] = "PING", [16] = "DEVICE_INFO", [17] = "STAMP", [18] = "BATTERY", [19] = "HEAD_CHANGED", [20] = "FAULT", [21] = "TIME_SYNC_REPLY", [22] = "RESUME_REPLY", [23] = "PONG", [24] = "ARM_STATE", [31] = "NACK", [32] = "HEARTBEAT" }
VALUES.FaultCode = { [1] = "BUFFER_FULL", [2] = "LOW_BATTERY", [3] = "BATTERY_EMPTY", [4] = "SENSOR", [5] = "UNEXPECTED_REBOOT" }
VALUES.NackCode = { [1] = "UNKNOWN_TYPE", [2] = "BAD_LENGTH", [3] = "VERSION_UNSUPPORTED", [4] = "REFUSED", [5] = "BAD_ARGUMENT", [6] = "NOT_READY" }
VALUES.ArmReason = { [0] = "COMMAND", [1] = "BOOT", [2] = "BATTERY_EMPTY", [3] = "BUFFER_FULL" }
VALUES.Zone = { [0] = "UNKNOWN", [1] = "FRONTAL", [2] = "MID_SCALP", [3] = "VERTEX", [4] = "LEFT_TEMPORAL", [5] = "RIGHT_TEMPORAL" }
VALUES.Flag = { [1] = "REPLAY", [2] = "ANNOUNCE" }
VALUES.HeartbeatState = { [1] = "ARMED", [2] = "BUFFER_FULL", [4] = "LOW_BATTERY", [8] = "TIME_SYNCED" }

local stampside = Proto("stampside", "Stampside link protocol")

local F = {}
F["stampside.kind"] = ProtoField.string("stampside.kind", "Kind", base.ASCII,
    "frame, unknown (a type the receiver does not accept), bad_frame, idle, incomplete, discarded or event")
F["stampside.message"] = ProtoField.string("stampside.message", "Message", base.ASCII, "the message type's name")
F["stampside.version"] = ProtoField.uint8("stampside.version", "Version", base.DEC, nil, 0xF0,
    "protocol version the frame is sent with")
F["stampside.flags"] = ProtoField.uint8("stampside.flags", "Flags", base.HEX, nil, 0x0F, "header flags")
F["stampside.flags.replay"] = ProtoField.bool("stampside.flags.replay", "REPLAY", 8, nil, 0x1, "a STAMP resent from the buffer in answer to RESUME")
F["stampside.flags.announce"] = ProtoField.bool("stampside.flags.announce", "ANNOUNCE", 8, nil, 0x2, "a DEVICE_INFO the device sent on its own after booting")
F["stampside.type"] = ProtoField.uint8("stampside.type", "Type", base.HEX, VALUES.MessageType, nil, "message type")
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
F["stampside.hello.min_version"] = ProtoField.uint8("stampside.hello.min_version", "min_version", base.DEC, nil, nil, "lowest protocol version the host speaks")
F["stampside.hello.max_version"] = ProtoField.uint8("stampside.hello.max_version", "max_version", base.DEC, nil, nil, "highest protocol version the host speaks")
F["stampside.time_sync.host_unix_ms"] = ProtoField.uint64("stampside.time_sync.host_unix_ms", "host_unix_ms", base.DEC, nil, nil, "Unix time in milliseconds (ms)")
F["stampside.ack.boot"] = ProtoField.uint16("stampside.ack.boot", "boot", base.DEC, nil, nil, "boot counter of the event seq")
F["stampside.ack.seq"] = ProtoField.uint32("stampside.ack.seq", "seq", base.DEC, nil, nil, "newest event stored (the device uses seq alone)")
F["stampside.resume.boot"] = ProtoField.uint16("stampside.resume.boot", "boot", base.DEC, nil, nil, "boot counter of the event seq")
F["stampside.resume.seq"] = ProtoField.uint32("stampside.resume.seq", "seq", base.DEC, nil, nil, "newest event the host has durably stored (0: none)")
F["stampside.resume.epoch"] = ProtoField.uint32("stampside.resume.epoch", "epoch", base.DEC, nil, nil, "numbering epoch the host's cursor belongs to (0: not known)")
F["stampside.ping.nonce"] = ProtoField.uint32("stampside.ping.nonce", "nonce", base.DEC, nil, nil, "any value, echoed in PONG")
F["stampside.device_info.serial"] = ProtoField.string("stampside.device_info.serial", "serial", base.ASCII, "serial number, ASCII, padded with 0x00")
F["stampside.device_info.hw_revision"] = ProtoField.uint8("stampside.device_info.hw_revision", "hw_revision", base.DEC, nil, nil, "hardware revision")
F["stampside.device_info.fw_major"] = ProtoField.uint8("stampside.device_info.fw_major", "fw_major", base.DEC, nil, nil, "firmware version, major")
F["stampside.device_info.fw_minor"] = ProtoField.uint8("stampside.device_info.fw_minor", "fw_minor", base.DEC, nil, nil, "firmware version, minor")
F["stampside.device_info.fw_patch"] = ProtoField.uint8("stampside.device_info.fw_patch", "fw_patch", base.DEC, nil, nil, "firmware version, patch")
F["stampside.device_info.min_version"] = ProtoField.uint8("stampside.device_info.min_version", "min_version", base.DEC, nil, nil, "lowest protocol version the device speaks")
F["stampside.device_info.max_version"] = ProtoField.uint8("stampside.device_info.max_version", "max_version", base.DEC, nil, nil, "highest protocol version the device speaks")
F["stampside.device_info.selected_version"] = ProtoField.uint8("stampside.device_info.selected_version", "selected_version", base.DEC, nil, nil, "the version chosen from the host's HELLO; 0 if none in common or when announcing")
F["stampside.device_info.needle_um"] = ProtoField.uint16("stampside.device_info.needle_um", "needle_um", base.DEC, nil, nil, "needle length (2000 = 2.0 mm) (µm)")
F["stampside.device_info.head_id"] = ProtoField.uint32("stampside.device_info.head_id", "head_id", base.DEC, nil, nil, "id of the stamp head fitted")
F["stampside.device_info.head_uses"] = ProtoField.uint16("stampside.device_info.head_uses", "head_uses", base.DEC, nil, nil, "sessions this head has been used in")
F["stampside.device_info.footprint_mm2"] = ProtoField.uint16("stampside.device_info.footprint_mm2", "footprint_mm2", base.DEC, nil, nil, "area the head covers per stamp (mm²)")
F["stampside.device_info.battery_pct"] = ProtoField.uint8("stampside.device_info.battery_pct", "battery_pct", base.DEC, nil, nil, "battery charge (%)")
F["stampside.device_info.boot"] = ProtoField.uint16("stampside.device_info.boot", "boot", base.DEC, nil, nil, "boot counter")
F["stampside.device_info.last_seq"] = ProtoField.uint32("stampside.device_info.last_seq", "last_seq", base.DEC, nil, nil, "seq of the newest counted event, 0 if none")
F["stampside.stamp.boot"] = ProtoField.uint16("stampside.stamp.boot", "boot", base.DEC, nil, nil, "boot counter when the stamp was counted")
F["stampside.stamp.seq"] = ProtoField.uint32("stampside.stamp.seq", "seq", base.DEC, nil, nil, "event sequence number")
F["stampside.stamp.device_time_ms"] = ProtoField.uint32("stampside.stamp.device_time_ms", "device_time_ms", base.DEC, nil, nil, "milliseconds since that boot (ms)")
F["stampside.stamp.force_dn"] = ProtoField.uint8("stampside.stamp.force_dn", "force_dn", base.DEC, nil, nil, "peak force in 0.1 N (0–25.5 N; 255 means 25.5 N or more) (× 0.1 N)")
F["stampside.stamp.contact_ms"] = ProtoField.uint16("stampside.stamp.contact_ms", "contact_ms", base.DEC, nil, 0xFFF, "contact duration, saturating at 4095 (ms)")
F["stampside.stamp.zone"] = ProtoField.uint16("stampside.stamp.zone", "zone", base.DEC, VALUES.Zone, 0xF000, "zone id (6–15 reserved)")
F["stampside.battery.pct"] = ProtoField.uint8("stampside.battery.pct", "pct", base.DEC, nil, nil, "battery charge (%)")
F["stampside.battery.millivolts"] = ProtoField.uint16("stampside.battery.millivolts", "millivolts", base.DEC, nil, nil, "battery voltage (mV)")
F["stampside.head_changed.head_id"] = ProtoField.uint32("stampside.head_changed.head_id", "head_id", base.DEC, nil, nil, "id of the head now fitted")
F["stampside.head_changed.head_uses"] = ProtoField.uint16("stampside.head_changed.head_uses", "head_uses", base.DEC, nil, nil, "sessions this head has been used in")
F["stampside.head_changed.footprint_mm2"] = ProtoField.uint16("stampside.head_changed.footprint_mm2", "footprint_mm2", base.DEC, nil, nil, "area the head covers per stamp (mm²)")
F["stampside.fault.code"] = ProtoField.uint8("stampside.fault.code", "code", base.DEC, VALUES.FaultCode, nil, "what is wrong")
F["stampside.fault.detail"] = ProtoField.uint32("stampside.fault.detail", "detail", base.DEC, nil, nil, "depends on the code (see FaultCode)")
F["stampside.time_sync_reply.host_unix_ms"] = ProtoField.uint64("stampside.time_sync_reply.host_unix_ms", "host_unix_ms", base.DEC, nil, nil, "the TIME_SYNC's value, echoed (ms)")
F["stampside.time_sync_reply.device_time_ms"] = ProtoField.uint32("stampside.time_sync_reply.device_time_ms", "device_time_ms", base.DEC, nil, nil, "milliseconds since this boot when the TIME_SYNC arrived (ms)")
F["stampside.resume_reply.boot"] = ProtoField.uint16("stampside.resume_reply.boot", "boot", base.DEC, nil, nil, "boot counter of the event first_seq (the current boot when count is 0)")
F["stampside.resume_reply.first_seq"] = ProtoField.uint32("stampside.resume_reply.first_seq", "first_seq", base.DEC, nil, nil, "seq of the first replayed event; with count 0 the next seq the device will assign")
F["stampside.resume_reply.count"] = ProtoField.uint32("stampside.resume_reply.count", "count", base.DEC, nil, nil, "number of replayed events that follow")
F["stampside.resume_reply.epoch"] = ProtoField.uint32("stampside.resume_reply.epoch", "epoch", base.DEC, nil, nil, "the device's numbering epoch (0 in v1: not known)")
F["stampside.pong.nonce"] = ProtoField.uint32("stampside.pong.nonce", "nonce", base.DEC, nil, nil, "the PING's nonce, echoed")
F["stampside.pong.device_time_ms"] = ProtoField.uint32("stampside.pong.device_time_ms", "device_time_ms", base.DEC, nil, nil, "milliseconds since this boot when the PING arrived (ms)")
F["stampside.arm_state.armed"] = ProtoField.uint8("stampside.arm_state.armed", "armed", base.DEC, nil, nil, "1: counting stamps")
F["stampside.arm_state.reason"] = ProtoField.uint8("stampside.arm_state.reason", "reason", base.DEC, VALUES.ArmReason, nil, "why the state changed")
F["stampside.nack.refused_type"] = ProtoField.uint8("stampside.nack.refused_type", "refused_type", base.DEC, nil, nil, "message type of the refused frame")
F["stampside.nack.refused_lseq"] = ProtoField.uint8("stampside.nack.refused_lseq", "refused_lseq", base.DEC, nil, nil, "link sequence number of the refused frame")
F["stampside.nack.code"] = ProtoField.uint8("stampside.nack.code", "code", base.DEC, VALUES.NackCode, nil, "why it was refused")
F["stampside.heartbeat.boot"] = ProtoField.uint16("stampside.heartbeat.boot", "boot", base.DEC, nil, nil, "device: its boot counter; host: the boot of its last ACK")
F["stampside.heartbeat.seq"] = ProtoField.uint32("stampside.heartbeat.seq", "seq", base.DEC, nil, nil, "device: newest counted event; host: seq of its last ACK")
F["stampside.heartbeat.pending"] = ProtoField.uint16("stampside.heartbeat.pending", "pending", base.DEC, nil, nil, "device: unacknowledged events, saturating at 65535; host: 0")
F["stampside.heartbeat.state"] = ProtoField.uint8("stampside.heartbeat.state", "state", base.HEX, nil, nil, "device: state bits; host: 0")
F["stampside.heartbeat.state.armed"] = ProtoField.bool("stampside.heartbeat.state.armed", "ARMED", 8, nil, 0x1, "the device counts stamps")
F["stampside.heartbeat.state.buffer_full"] = ProtoField.bool("stampside.heartbeat.state.buffer_full", "BUFFER_FULL", 8, nil, 0x2, "the buffer is full and stamps are refused")
F["stampside.heartbeat.state.low_battery"] = ProtoField.bool("stampside.heartbeat.state.low_battery", "LOW_BATTERY", 8, nil, 0x4, "battery at or below the low threshold")
F["stampside.heartbeat.state.time_synced"] = ProtoField.bool("stampside.heartbeat.state.time_synced", "TIME_SYNCED", 8, nil, 0x8, "a TIME_SYNC was received since this boot")

local HEADER_FLAGS = { { pf = F["stampside.flags.replay"], name = "REPLAY", value = 0x1 }, { pf = F["stampside.flags.announce"], name = "ANNOUNCE", value = 0x2 } }

-- Message layouts by type: fields at their offsets (the newest version's; `since` says which
-- version added a field), payload sizes per version. Frozen layouts are the same in every version.
local LAYOUTS = {
    [0x01] = {
        name = "HELLO", senders = { host = true }, frozen = true,
        sizes = { [1] = 2, [2] = 2 },
        fields = {
            { pf = F["stampside.hello.min_version"], name = "min_version", offset = 0, size = 1, since = 1, char = false },
            { pf = F["stampside.hello.max_version"], name = "max_version", offset = 1, size = 1, since = 1, char = false },
        },
    },
    [0x02] = {
        name = "TIME_SYNC", senders = { host = true }, frozen = false,
        sizes = { [1] = 8, [2] = 8 },
        fields = {
            { pf = F["stampside.time_sync.host_unix_ms"], name = "host_unix_ms", offset = 0, size = 8, since = 1, char = false, unit = "ms" },
        },
    },
    [0x03] = {
        name = "ARM", senders = { host = true }, frozen = false,
        sizes = { [1] = 0, [2] = 0 },
        fields = {

        },
    },
    [0x04] = {
        name = "DISARM", senders = { host = true }, frozen = false,
        sizes = { [1] = 0, [2] = 0 },
        fields = {

        },
    },
    [0x05] = {
        name = "ACK", senders = { host = true }, frozen = false,
        sizes = { [1] = 6, [2] = 6 },
        fields = {
            { pf = F["stampside.ack.boot"], name = "boot", offset = 0, size = 2, since = 1, char = false },
            { pf = F["stampside.ack.seq"], name = "seq", offset = 2, size = 4, since = 1, char = false },
        },
    },
    [0x06] = {
        name = "RESUME", senders = { host = true }, frozen = false,
        sizes = { [1] = 6, [2] = 10 },
        fields = {
            { pf = F["stampside.resume.boot"], name = "boot", offset = 0, size = 2, since = 1, char = false },
            { pf = F["stampside.resume.seq"], name = "seq", offset = 2, size = 4, since = 1, char = false },
            { pf = F["stampside.resume.epoch"], name = "epoch", offset = 6, size = 4, since = 2, char = false },
        },
    },
    [0x07] = {
        name = "PING", senders = { host = true }, frozen = false,
        sizes = { [1] = 4, [2] = 4 },
        fields = {
            { pf = F["stampside.ping.nonce"], name = "nonce", offset = 0, size = 4, since = 1, char = false },
        },
    },
    [0x10] = {
        name = "DEVICE_INFO", senders = { device = true }, frozen = true,
        sizes = { [1] = 36, [2] = 36 },
        fields = {
            { pf = F["stampside.device_info.serial"], name = "serial", offset = 0, size = 12, since = 1, char = true },
            { pf = F["stampside.device_info.hw_revision"], name = "hw_revision", offset = 12, size = 1, since = 1, char = false },
            { pf = F["stampside.device_info.fw_major"], name = "fw_major", offset = 13, size = 1, since = 1, char = false },
            { pf = F["stampside.device_info.fw_minor"], name = "fw_minor", offset = 14, size = 1, since = 1, char = false },
            { pf = F["stampside.device_info.fw_patch"], name = "fw_patch", offset = 15, size = 1, since = 1, char = false },
            { pf = F["stampside.device_info.min_version"], name = "min_version", offset = 16, size = 1, since = 1, char = false },
            { pf = F["stampside.device_info.max_version"], name = "max_version", offset = 17, size = 1, since = 1, char = false },
            { pf = F["stampside.device_info.selected_version"], name = "selected_version", offset = 18, size = 1, since = 1, char = false },
            { pf = F["stampside.device_info.needle_um"], name = "needle_um", offset = 19, size = 2, since = 1, char = false, unit = "µm" },
            { pf = F["stampside.device_info.head_id"], name = "head_id", offset = 21, size = 4, since = 1, char = false },
            { pf = F["stampside.device_info.head_uses"], name = "head_uses", offset = 25, size = 2, since = 1, char = false },
            { pf = F["stampside.device_info.footprint_mm2"], name = "footprint_mm2", offset = 27, size = 2, since = 1, char = false, unit = "mm²" },
            { pf = F["stampside.device_info.battery_pct"], name = "battery_pct", offset = 29, size = 1, since = 1, char = false, unit = "%" },
            { pf = F["stampside.device_info.boot"], name = "boot", offset = 30, size = 2, since = 1, char = false },
            { pf = F["stampside.device_info.last_seq"], name = "last_seq", offset = 32, size = 4, since = 1, char = false },
        },
    },
    [0x11] = {
        name = "STAMP", senders = { device = true }, frozen = false,
        sizes = { [1] = 13, [2] = 13 },
        fields = {
            { pf = F["stampside.stamp.boot"], name = "boot", offset = 0, size = 2, since = 1, char = false },
            { pf = F["stampside.stamp.seq"], name = "seq", offset = 2, size = 4, since = 1, char = false },
            { pf = F["stampside.stamp.device_time_ms"], name = "device_time_ms", offset = 6, size = 4, since = 1, char = false, unit = "ms" },
            { pf = F["stampside.stamp.force_dn"], name = "force_dn", offset = 10, size = 1, since = 1, char = false, scale = 0.1, unit = "N" },
            { pf = F["stampside.stamp.contact_ms"], name = "contact_ms", offset = 11, size = 2, since = 1, char = false, mask = 0xFFF, shift = 0, unit = "ms" },
            { pf = F["stampside.stamp.zone"], name = "zone", offset = 11, size = 2, since = 1, char = false, mask = 0xF000, shift = 12, values = VALUES.Zone },
        },
    },
    [0x12] = {
        name = "BATTERY", senders = { device = true }, frozen = false,
        sizes = { [1] = 3, [2] = 3 },
        fields = {
            { pf = F["stampside.battery.pct"], name = "pct", offset = 0, size = 1, since = 1, char = false, unit = "%" },
            { pf = F["stampside.battery.millivolts"], name = "millivolts", offset = 1, size = 2, since = 1, char = false, unit = "mV" },
        },
    },
    [0x13] = {
        name = "HEAD_CHANGED", senders = { device = true }, frozen = false,
        sizes = { [1] = 8, [2] = 8 },
        fields = {
            { pf = F["stampside.head_changed.head_id"], name = "head_id", offset = 0, size = 4, since = 1, char = false },
            { pf = F["stampside.head_changed.head_uses"], name = "head_uses", offset = 4, size = 2, since = 1, char = false },
            { pf = F["stampside.head_changed.footprint_mm2"], name = "footprint_mm2", offset = 6, size = 2, since = 1, char = false, unit = "mm²" },
        },
    },
    [0x14] = {
        name = "FAULT", senders = { device = true }, frozen = false,
        sizes = { [1] = 5, [2] = 5 },
        fields = {
            { pf = F["stampside.fault.code"], name = "code", offset = 0, size = 1, since = 1, char = false, values = VALUES.FaultCode },
            { pf = F["stampside.fault.detail"], name = "detail", offset = 1, size = 4, since = 1, char = false },
        },
    },
    [0x15] = {
        name = "TIME_SYNC_REPLY", senders = { device = true }, frozen = false,
        sizes = { [1] = 12, [2] = 12 },
        fields = {
            { pf = F["stampside.time_sync_reply.host_unix_ms"], name = "host_unix_ms", offset = 0, size = 8, since = 1, char = false, unit = "ms" },
            { pf = F["stampside.time_sync_reply.device_time_ms"], name = "device_time_ms", offset = 8, size = 4, since = 1, char = false, unit = "ms" },
        },
    },
    [0x16] = {
        name = "RESUME_REPLY", senders = { device = true }, frozen = false,
        sizes = { [1] = 10, [2] = 14 },
        fields = {
            { pf = F["stampside.resume_reply.boot"], name = "boot", offset = 0, size = 2, since = 1, char = false },
            { pf = F["stampside.resume_reply.first_seq"], name = "first_seq", offset = 2, size = 4, since = 1, char = false },
            { pf = F["stampside.resume_reply.count"], name = "count", offset = 6, size = 4, since = 1, char = false },
            { pf = F["stampside.resume_reply.epoch"], name = "epoch", offset = 10, size = 4, since = 2, char = false },
        },
    },
    [0x17] = {
        name = "PONG", senders = { device = true }, frozen = false,
        sizes = { [1] = 8, [2] = 8 },
        fields = {
            { pf = F["stampside.pong.nonce"], name = "nonce", offset = 0, size = 4, since = 1, char = false },
            { pf = F["stampside.pong.device_time_ms"], name = "device_time_ms", offset = 4, size = 4, since = 1, char = false, unit = "ms" },
        },
    },
    [0x18] = {
        name = "ARM_STATE", senders = { device = true }, frozen = false,
        sizes = { [1] = 2, [2] = 2 },
        fields = {
            { pf = F["stampside.arm_state.armed"], name = "armed", offset = 0, size = 1, since = 1, char = false },
            { pf = F["stampside.arm_state.reason"], name = "reason", offset = 1, size = 1, since = 1, char = false, values = VALUES.ArmReason },
        },
    },
    [0x1F] = {
        name = "NACK", senders = { device = true }, frozen = true,
        sizes = { [1] = 3, [2] = 3 },
        fields = {
            { pf = F["stampside.nack.refused_type"], name = "refused_type", offset = 0, size = 1, since = 1, char = false },
            { pf = F["stampside.nack.refused_lseq"], name = "refused_lseq", offset = 1, size = 1, since = 1, char = false },
            { pf = F["stampside.nack.code"], name = "code", offset = 2, size = 1, since = 1, char = false, values = VALUES.NackCode },
        },
    },
    [0x20] = {
        name = "HEARTBEAT", senders = { host = true, device = true }, frozen = false,
        sizes = { [1] = 9, [2] = 9 },
        fields = {
            { pf = F["stampside.heartbeat.boot"], name = "boot", offset = 0, size = 2, since = 1, char = false },
            { pf = F["stampside.heartbeat.seq"], name = "seq", offset = 2, size = 4, since = 1, char = false },
            { pf = F["stampside.heartbeat.pending"], name = "pending", offset = 6, size = 2, since = 1, char = false },
            { pf = F["stampside.heartbeat.state"], name = "state", offset = 8, size = 1, since = 1, char = false, flags = { { pf = F["stampside.heartbeat.state.armed"], name = "ARMED", value = 0x1 }, { pf = F["stampside.heartbeat.state.buffer_full"], name = "BUFFER_FULL", value = 0x2 }, { pf = F["stampside.heartbeat.state.low_battery"], name = "LOW_BATTERY", value = 0x4 }, { pf = F["stampside.heartbeat.state.time_synced"], name = "TIME_SYNCED", value = 0x8 } } },
        },
    },
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
