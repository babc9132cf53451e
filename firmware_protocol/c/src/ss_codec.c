/* GENERATED from firmware_protocol/schema.toml by firmware_protocol/codegen/c_header.py:
 * generated, do not edit. Regenerate with `python scripts/generate_protocol.py`.
 *
 * Encode and decode of every message payload in every protocol version, from the layouts of
 * stampside_schema.h. Pure: no heap, no I/O. Declared in stampside.h.
 */
#include "stampside.h"

#include <string.h>

#include "ss_bytes.h"

int ss_payload_size(uint8_t type, uint8_t version)
{
    switch (type) {
    case SS_MESSAGE_TYPE_HELLO:
        return SS_HELLO_SIZE_V1;
    case SS_MESSAGE_TYPE_TIME_SYNC:
        return SS_TIME_SYNC_SIZE_V1;
    case SS_MESSAGE_TYPE_ARM:
        return SS_ARM_SIZE_V1;
    case SS_MESSAGE_TYPE_DISARM:
        return SS_DISARM_SIZE_V1;
    case SS_MESSAGE_TYPE_ACK:
        return SS_ACK_SIZE_V1;
    case SS_MESSAGE_TYPE_RESUME:
        if (version >= 2) {
            return SS_RESUME_SIZE_V2;
        }
        return SS_RESUME_SIZE_V1;
    case SS_MESSAGE_TYPE_PING:
        return SS_PING_SIZE_V1;
    case SS_MESSAGE_TYPE_DEVICE_INFO:
        return SS_DEVICE_INFO_SIZE_V1;
    case SS_MESSAGE_TYPE_STAMP:
        return SS_STAMP_SIZE_V1;
    case SS_MESSAGE_TYPE_BATTERY:
        return SS_BATTERY_SIZE_V1;
    case SS_MESSAGE_TYPE_HEAD_CHANGED:
        return SS_HEAD_CHANGED_SIZE_V1;
    case SS_MESSAGE_TYPE_FAULT:
        return SS_FAULT_SIZE_V1;
    case SS_MESSAGE_TYPE_TIME_SYNC_REPLY:
        return SS_TIME_SYNC_REPLY_SIZE_V1;
    case SS_MESSAGE_TYPE_RESUME_REPLY:
        if (version >= 2) {
            return SS_RESUME_REPLY_SIZE_V2;
        }
        return SS_RESUME_REPLY_SIZE_V1;
    case SS_MESSAGE_TYPE_PONG:
        return SS_PONG_SIZE_V1;
    case SS_MESSAGE_TYPE_ARM_STATE:
        return SS_ARM_STATE_SIZE_V1;
    case SS_MESSAGE_TYPE_NACK:
        return SS_NACK_SIZE_V1;
    case SS_MESSAGE_TYPE_HEARTBEAT:
        return SS_HEARTBEAT_SIZE_V1;
    default:
        return -1;
    }
}

int ss_encode_payload(const ss_message_t *m, uint8_t version, uint8_t out[SS_MAX_PAYLOAD])
{
    switch (m->type) {
    case SS_MESSAGE_TYPE_HELLO:
        ss_put_u8(out + SS_HELLO_MIN_VERSION_OFFSET, m->as.hello.min_version);
        ss_put_u8(out + SS_HELLO_MAX_VERSION_OFFSET, m->as.hello.max_version);
        return SS_HELLO_SIZE_V1;
    case SS_MESSAGE_TYPE_TIME_SYNC:
        ss_put_u64(out + SS_TIME_SYNC_HOST_UNIX_MS_OFFSET, m->as.time_sync.host_unix_ms);
        return SS_TIME_SYNC_SIZE_V1;
    case SS_MESSAGE_TYPE_ARM:
        (void)out;
        return SS_ARM_SIZE_V1;
    case SS_MESSAGE_TYPE_DISARM:
        (void)out;
        return SS_DISARM_SIZE_V1;
    case SS_MESSAGE_TYPE_ACK:
        ss_put_u16(out + SS_ACK_BOOT_OFFSET, m->as.ack.boot);
        ss_put_u32(out + SS_ACK_SEQ_OFFSET, m->as.ack.seq);
        return SS_ACK_SIZE_V1;
    case SS_MESSAGE_TYPE_RESUME:
        if (version >= 2) {
            ss_put_u16(out + SS_RESUME_BOOT_OFFSET, m->as.resume.boot);
            ss_put_u32(out + SS_RESUME_SEQ_OFFSET, m->as.resume.seq);
            ss_put_u32(out + SS_RESUME_EPOCH_OFFSET, m->as.resume.epoch);
            return SS_RESUME_SIZE_V2;
        }
        ss_put_u16(out + SS_RESUME_BOOT_OFFSET, m->as.resume.boot);
        ss_put_u32(out + SS_RESUME_SEQ_OFFSET, m->as.resume.seq);
        return SS_RESUME_SIZE_V1;
    case SS_MESSAGE_TYPE_PING:
        ss_put_u32(out + SS_PING_NONCE_OFFSET, m->as.ping.nonce);
        return SS_PING_SIZE_V1;
    case SS_MESSAGE_TYPE_DEVICE_INFO:
        memcpy(out + SS_DEVICE_INFO_SERIAL_OFFSET, m->as.device_info.serial, SS_DEVICE_INFO_SERIAL_LEN);
        ss_put_u8(out + SS_DEVICE_INFO_HW_REVISION_OFFSET, m->as.device_info.hw_revision);
        ss_put_u8(out + SS_DEVICE_INFO_FW_MAJOR_OFFSET, m->as.device_info.fw_major);
        ss_put_u8(out + SS_DEVICE_INFO_FW_MINOR_OFFSET, m->as.device_info.fw_minor);
        ss_put_u8(out + SS_DEVICE_INFO_FW_PATCH_OFFSET, m->as.device_info.fw_patch);
        ss_put_u8(out + SS_DEVICE_INFO_MIN_VERSION_OFFSET, m->as.device_info.min_version);
        ss_put_u8(out + SS_DEVICE_INFO_MAX_VERSION_OFFSET, m->as.device_info.max_version);
        ss_put_u8(out + SS_DEVICE_INFO_SELECTED_VERSION_OFFSET, m->as.device_info.selected_version);
        ss_put_u16(out + SS_DEVICE_INFO_NEEDLE_UM_OFFSET, m->as.device_info.needle_um);
        ss_put_u32(out + SS_DEVICE_INFO_HEAD_ID_OFFSET, m->as.device_info.head_id);
        ss_put_u16(out + SS_DEVICE_INFO_HEAD_USES_OFFSET, m->as.device_info.head_uses);
        ss_put_u16(out + SS_DEVICE_INFO_FOOTPRINT_MM2_OFFSET, m->as.device_info.footprint_mm2);
        ss_put_u8(out + SS_DEVICE_INFO_BATTERY_PCT_OFFSET, m->as.device_info.battery_pct);
        ss_put_u16(out + SS_DEVICE_INFO_BOOT_OFFSET, m->as.device_info.boot);
        ss_put_u32(out + SS_DEVICE_INFO_LAST_SEQ_OFFSET, m->as.device_info.last_seq);
        return SS_DEVICE_INFO_SIZE_V1;
    case SS_MESSAGE_TYPE_STAMP:
        ss_put_u16(out + SS_STAMP_BOOT_OFFSET, m->as.stamp.boot);
        ss_put_u32(out + SS_STAMP_SEQ_OFFSET, m->as.stamp.seq);
        ss_put_u32(out + SS_STAMP_DEVICE_TIME_MS_OFFSET, m->as.stamp.device_time_ms);
        ss_put_u8(out + SS_STAMP_FORCE_DN_OFFSET, m->as.stamp.force_dn);
        if (m->as.stamp.contact_ms > SS_STAMP_CONTACT_MS_MASK) {
            return -1; /* contact_ms does not fit its bits */
        }
        if (m->as.stamp.zone > SS_STAMP_ZONE_MASK) {
            return -1; /* zone does not fit its bits */
        }
        ss_put_u16(out + SS_STAMP_CONTACT_MS_OFFSET, (uint16_t)(((uint16_t)m->as.stamp.contact_ms << SS_STAMP_CONTACT_MS_SHIFT) | ((uint16_t)m->as.stamp.zone << SS_STAMP_ZONE_SHIFT)));
        return SS_STAMP_SIZE_V1;
    case SS_MESSAGE_TYPE_BATTERY:
        ss_put_u8(out + SS_BATTERY_PCT_OFFSET, m->as.battery.pct);
        ss_put_u16(out + SS_BATTERY_MILLIVOLTS_OFFSET, m->as.battery.millivolts);
        return SS_BATTERY_SIZE_V1;
    case SS_MESSAGE_TYPE_HEAD_CHANGED:
        ss_put_u32(out + SS_HEAD_CHANGED_HEAD_ID_OFFSET, m->as.head_changed.head_id);
        ss_put_u16(out + SS_HEAD_CHANGED_HEAD_USES_OFFSET, m->as.head_changed.head_uses);
        ss_put_u16(out + SS_HEAD_CHANGED_FOOTPRINT_MM2_OFFSET, m->as.head_changed.footprint_mm2);
        return SS_HEAD_CHANGED_SIZE_V1;
    case SS_MESSAGE_TYPE_FAULT:
        ss_put_u8(out + SS_FAULT_CODE_OFFSET, m->as.fault.code);
        ss_put_u32(out + SS_FAULT_DETAIL_OFFSET, m->as.fault.detail);
        return SS_FAULT_SIZE_V1;
    case SS_MESSAGE_TYPE_TIME_SYNC_REPLY:
        ss_put_u64(out + SS_TIME_SYNC_REPLY_HOST_UNIX_MS_OFFSET, m->as.time_sync_reply.host_unix_ms);
        ss_put_u32(out + SS_TIME_SYNC_REPLY_DEVICE_TIME_MS_OFFSET, m->as.time_sync_reply.device_time_ms);
        return SS_TIME_SYNC_REPLY_SIZE_V1;
    case SS_MESSAGE_TYPE_RESUME_REPLY:
        if (version >= 2) {
            ss_put_u16(out + SS_RESUME_REPLY_BOOT_OFFSET, m->as.resume_reply.boot);
            ss_put_u32(out + SS_RESUME_REPLY_FIRST_SEQ_OFFSET, m->as.resume_reply.first_seq);
            ss_put_u32(out + SS_RESUME_REPLY_COUNT_OFFSET, m->as.resume_reply.count);
            ss_put_u32(out + SS_RESUME_REPLY_EPOCH_OFFSET, m->as.resume_reply.epoch);
            return SS_RESUME_REPLY_SIZE_V2;
        }
        ss_put_u16(out + SS_RESUME_REPLY_BOOT_OFFSET, m->as.resume_reply.boot);
        ss_put_u32(out + SS_RESUME_REPLY_FIRST_SEQ_OFFSET, m->as.resume_reply.first_seq);
        ss_put_u32(out + SS_RESUME_REPLY_COUNT_OFFSET, m->as.resume_reply.count);
        return SS_RESUME_REPLY_SIZE_V1;
    case SS_MESSAGE_TYPE_PONG:
        ss_put_u32(out + SS_PONG_NONCE_OFFSET, m->as.pong.nonce);
        ss_put_u32(out + SS_PONG_DEVICE_TIME_MS_OFFSET, m->as.pong.device_time_ms);
        return SS_PONG_SIZE_V1;
    case SS_MESSAGE_TYPE_ARM_STATE:
        ss_put_u8(out + SS_ARM_STATE_ARMED_OFFSET, m->as.arm_state.armed);
        ss_put_u8(out + SS_ARM_STATE_REASON_OFFSET, m->as.arm_state.reason);
        return SS_ARM_STATE_SIZE_V1;
    case SS_MESSAGE_TYPE_NACK:
        ss_put_u8(out + SS_NACK_REFUSED_TYPE_OFFSET, m->as.nack.refused_type);
        ss_put_u8(out + SS_NACK_REFUSED_LSEQ_OFFSET, m->as.nack.refused_lseq);
        ss_put_u8(out + SS_NACK_CODE_OFFSET, m->as.nack.code);
        return SS_NACK_SIZE_V1;
    case SS_MESSAGE_TYPE_HEARTBEAT:
        ss_put_u16(out + SS_HEARTBEAT_BOOT_OFFSET, m->as.heartbeat.boot);
        ss_put_u32(out + SS_HEARTBEAT_SEQ_OFFSET, m->as.heartbeat.seq);
        ss_put_u16(out + SS_HEARTBEAT_PENDING_OFFSET, m->as.heartbeat.pending);
        ss_put_u8(out + SS_HEARTBEAT_STATE_OFFSET, m->as.heartbeat.state);
        return SS_HEARTBEAT_SIZE_V1;
    default:
        return -1;
    }
}

int ss_decode_payload(uint8_t type, uint8_t version, const uint8_t *p, size_t len, ss_message_t *m)
{
    uint32_t word;
    int size = ss_payload_size(type, version);
    if (size < 0) {
        return SS_DECODE_UNKNOWN_TYPE;
    }
    if (len != (size_t)size) {
        return SS_DECODE_BAD_LENGTH;
    }
    memset(m, 0, sizeof *m);
    m->type = type;
    (void)word;
    switch (type) {
    case SS_MESSAGE_TYPE_HELLO:
        m->as.hello.min_version = ss_get_u8(p + SS_HELLO_MIN_VERSION_OFFSET);
        m->as.hello.max_version = ss_get_u8(p + SS_HELLO_MAX_VERSION_OFFSET);
        break;
    case SS_MESSAGE_TYPE_TIME_SYNC:
        m->as.time_sync.host_unix_ms = ss_get_u64(p + SS_TIME_SYNC_HOST_UNIX_MS_OFFSET);
        break;
    case SS_MESSAGE_TYPE_ARM:
        (void)p;
        break;
    case SS_MESSAGE_TYPE_DISARM:
        (void)p;
        break;
    case SS_MESSAGE_TYPE_ACK:
        m->as.ack.boot = ss_get_u16(p + SS_ACK_BOOT_OFFSET);
        m->as.ack.seq = ss_get_u32(p + SS_ACK_SEQ_OFFSET);
        break;
    case SS_MESSAGE_TYPE_RESUME:
        if (version >= 2) {
            m->as.resume.boot = ss_get_u16(p + SS_RESUME_BOOT_OFFSET);
            m->as.resume.seq = ss_get_u32(p + SS_RESUME_SEQ_OFFSET);
            m->as.resume.epoch = ss_get_u32(p + SS_RESUME_EPOCH_OFFSET);
            break;
        }
        m->as.resume.boot = ss_get_u16(p + SS_RESUME_BOOT_OFFSET);
        m->as.resume.seq = ss_get_u32(p + SS_RESUME_SEQ_OFFSET);
        break;
    case SS_MESSAGE_TYPE_PING:
        m->as.ping.nonce = ss_get_u32(p + SS_PING_NONCE_OFFSET);
        break;
    case SS_MESSAGE_TYPE_DEVICE_INFO:
        memcpy(m->as.device_info.serial, p + SS_DEVICE_INFO_SERIAL_OFFSET, SS_DEVICE_INFO_SERIAL_LEN);
        m->as.device_info.hw_revision = ss_get_u8(p + SS_DEVICE_INFO_HW_REVISION_OFFSET);
        m->as.device_info.fw_major = ss_get_u8(p + SS_DEVICE_INFO_FW_MAJOR_OFFSET);
        m->as.device_info.fw_minor = ss_get_u8(p + SS_DEVICE_INFO_FW_MINOR_OFFSET);
        m->as.device_info.fw_patch = ss_get_u8(p + SS_DEVICE_INFO_FW_PATCH_OFFSET);
        m->as.device_info.min_version = ss_get_u8(p + SS_DEVICE_INFO_MIN_VERSION_OFFSET);
        m->as.device_info.max_version = ss_get_u8(p + SS_DEVICE_INFO_MAX_VERSION_OFFSET);
        m->as.device_info.selected_version = ss_get_u8(p + SS_DEVICE_INFO_SELECTED_VERSION_OFFSET);
        m->as.device_info.needle_um = ss_get_u16(p + SS_DEVICE_INFO_NEEDLE_UM_OFFSET);
        m->as.device_info.head_id = ss_get_u32(p + SS_DEVICE_INFO_HEAD_ID_OFFSET);
        m->as.device_info.head_uses = ss_get_u16(p + SS_DEVICE_INFO_HEAD_USES_OFFSET);
        m->as.device_info.footprint_mm2 = ss_get_u16(p + SS_DEVICE_INFO_FOOTPRINT_MM2_OFFSET);
        m->as.device_info.battery_pct = ss_get_u8(p + SS_DEVICE_INFO_BATTERY_PCT_OFFSET);
        m->as.device_info.boot = ss_get_u16(p + SS_DEVICE_INFO_BOOT_OFFSET);
        m->as.device_info.last_seq = ss_get_u32(p + SS_DEVICE_INFO_LAST_SEQ_OFFSET);
        break;
    case SS_MESSAGE_TYPE_STAMP:
        m->as.stamp.boot = ss_get_u16(p + SS_STAMP_BOOT_OFFSET);
        m->as.stamp.seq = ss_get_u32(p + SS_STAMP_SEQ_OFFSET);
        m->as.stamp.device_time_ms = ss_get_u32(p + SS_STAMP_DEVICE_TIME_MS_OFFSET);
        m->as.stamp.force_dn = ss_get_u8(p + SS_STAMP_FORCE_DN_OFFSET);
        word = ss_get_u16(p + SS_STAMP_CONTACT_MS_OFFSET);
        m->as.stamp.contact_ms = (uint16_t)((word >> SS_STAMP_CONTACT_MS_SHIFT) & SS_STAMP_CONTACT_MS_MASK);
        m->as.stamp.zone = (uint16_t)((word >> SS_STAMP_ZONE_SHIFT) & SS_STAMP_ZONE_MASK);
        break;
    case SS_MESSAGE_TYPE_BATTERY:
        m->as.battery.pct = ss_get_u8(p + SS_BATTERY_PCT_OFFSET);
        m->as.battery.millivolts = ss_get_u16(p + SS_BATTERY_MILLIVOLTS_OFFSET);
        break;
    case SS_MESSAGE_TYPE_HEAD_CHANGED:
        m->as.head_changed.head_id = ss_get_u32(p + SS_HEAD_CHANGED_HEAD_ID_OFFSET);
        m->as.head_changed.head_uses = ss_get_u16(p + SS_HEAD_CHANGED_HEAD_USES_OFFSET);
        m->as.head_changed.footprint_mm2 = ss_get_u16(p + SS_HEAD_CHANGED_FOOTPRINT_MM2_OFFSET);
        break;
    case SS_MESSAGE_TYPE_FAULT:
        m->as.fault.code = ss_get_u8(p + SS_FAULT_CODE_OFFSET);
        m->as.fault.detail = ss_get_u32(p + SS_FAULT_DETAIL_OFFSET);
        break;
    case SS_MESSAGE_TYPE_TIME_SYNC_REPLY:
        m->as.time_sync_reply.host_unix_ms = ss_get_u64(p + SS_TIME_SYNC_REPLY_HOST_UNIX_MS_OFFSET);
        m->as.time_sync_reply.device_time_ms = ss_get_u32(p + SS_TIME_SYNC_REPLY_DEVICE_TIME_MS_OFFSET);
        break;
    case SS_MESSAGE_TYPE_RESUME_REPLY:
        if (version >= 2) {
            m->as.resume_reply.boot = ss_get_u16(p + SS_RESUME_REPLY_BOOT_OFFSET);
            m->as.resume_reply.first_seq = ss_get_u32(p + SS_RESUME_REPLY_FIRST_SEQ_OFFSET);
            m->as.resume_reply.count = ss_get_u32(p + SS_RESUME_REPLY_COUNT_OFFSET);
            m->as.resume_reply.epoch = ss_get_u32(p + SS_RESUME_REPLY_EPOCH_OFFSET);
            break;
        }
        m->as.resume_reply.boot = ss_get_u16(p + SS_RESUME_REPLY_BOOT_OFFSET);
        m->as.resume_reply.first_seq = ss_get_u32(p + SS_RESUME_REPLY_FIRST_SEQ_OFFSET);
        m->as.resume_reply.count = ss_get_u32(p + SS_RESUME_REPLY_COUNT_OFFSET);
        break;
    case SS_MESSAGE_TYPE_PONG:
        m->as.pong.nonce = ss_get_u32(p + SS_PONG_NONCE_OFFSET);
        m->as.pong.device_time_ms = ss_get_u32(p + SS_PONG_DEVICE_TIME_MS_OFFSET);
        break;
    case SS_MESSAGE_TYPE_ARM_STATE:
        m->as.arm_state.armed = ss_get_u8(p + SS_ARM_STATE_ARMED_OFFSET);
        m->as.arm_state.reason = ss_get_u8(p + SS_ARM_STATE_REASON_OFFSET);
        break;
    case SS_MESSAGE_TYPE_NACK:
        m->as.nack.refused_type = ss_get_u8(p + SS_NACK_REFUSED_TYPE_OFFSET);
        m->as.nack.refused_lseq = ss_get_u8(p + SS_NACK_REFUSED_LSEQ_OFFSET);
        m->as.nack.code = ss_get_u8(p + SS_NACK_CODE_OFFSET);
        break;
    case SS_MESSAGE_TYPE_HEARTBEAT:
        m->as.heartbeat.boot = ss_get_u16(p + SS_HEARTBEAT_BOOT_OFFSET);
        m->as.heartbeat.seq = ss_get_u32(p + SS_HEARTBEAT_SEQ_OFFSET);
        m->as.heartbeat.pending = ss_get_u16(p + SS_HEARTBEAT_PENDING_OFFSET);
        m->as.heartbeat.state = ss_get_u8(p + SS_HEARTBEAT_STATE_OFFSET);
        break;
    default:
        break;
    }
    return SS_DECODE_OK;
}

const char *ss_message_name(uint8_t type)
{
    switch (type) {
    case SS_MESSAGE_TYPE_HELLO: return "HELLO";
    case SS_MESSAGE_TYPE_TIME_SYNC: return "TIME_SYNC";
    case SS_MESSAGE_TYPE_ARM: return "ARM";
    case SS_MESSAGE_TYPE_DISARM: return "DISARM";
    case SS_MESSAGE_TYPE_ACK: return "ACK";
    case SS_MESSAGE_TYPE_RESUME: return "RESUME";
    case SS_MESSAGE_TYPE_PING: return "PING";
    case SS_MESSAGE_TYPE_DEVICE_INFO: return "DEVICE_INFO";
    case SS_MESSAGE_TYPE_STAMP: return "STAMP";
    case SS_MESSAGE_TYPE_BATTERY: return "BATTERY";
    case SS_MESSAGE_TYPE_HEAD_CHANGED: return "HEAD_CHANGED";
    case SS_MESSAGE_TYPE_FAULT: return "FAULT";
    case SS_MESSAGE_TYPE_TIME_SYNC_REPLY: return "TIME_SYNC_REPLY";
    case SS_MESSAGE_TYPE_RESUME_REPLY: return "RESUME_REPLY";
    case SS_MESSAGE_TYPE_PONG: return "PONG";
    case SS_MESSAGE_TYPE_ARM_STATE: return "ARM_STATE";
    case SS_MESSAGE_TYPE_NACK: return "NACK";
    case SS_MESSAGE_TYPE_HEARTBEAT: return "HEARTBEAT";
    default: return "?";
    }
}

uint8_t ss_message_senders(uint8_t type)
{
    switch (type) {
#define SS_SENDERS_CASE_(NAME, name, id, senders, frozen) case id: return (uint8_t)(senders);
    SS_MESSAGES(SS_SENDERS_CASE_)
#undef SS_SENDERS_CASE_
    default: return 0;
    }
}

int ss_message_frozen(uint8_t type)
{
    switch (type) {
#define SS_FROZEN_CASE_(NAME, name, id, senders, frozen) case id: return frozen;
    SS_MESSAGES(SS_FROZEN_CASE_)
#undef SS_FROZEN_CASE_
    default: return 0;
    }
}
