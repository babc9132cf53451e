/* GENERATED from firmware_protocol/schema.toml by firmware_protocol/codegen/c_header.py:
 * generated, do not edit. Regenerate with `python scripts/generate_protocol.py`.
 *
 * The Stampside wire protocol (docs/protocol.md) as C99 constants and types: framing, CRC,
 * header bits, message type ids, codes and flags, payload sizes per protocol version,
 * field offsets, one struct per message (C field names = schema field names), timing
 * constants in milliseconds and the GATT identifiers. No object definitions: include it
 * anywhere. Integers on the wire are little-endian and unsigned.
 */
#ifndef STAMPSIDE_SCHEMA_H
#define STAMPSIDE_SCHEMA_H

#include <stdint.h>

#define SS_PROTOCOL_NAME "stampside"
/* Protocol versions this schema describes (the header carries the version in 4 bits). */
#define SS_VERSION_MIN 1
#define SS_VERSION_MAX 2
/* HELLO, DEVICE_INFO and NACK are always sent with this version (frozen layouts). */
#define SS_BASE_VERSION 1

/* --- framing: COBS( header | payload | crc16_le ) 0x00 ------------------------ */
#define SS_DELIMITER 0x00u
#define SS_HEADER_SIZE 3
#define SS_CRC_SIZE 2
#define SS_MAX_PAYLOAD 64
/* Largest unstuffed frame: header + largest payload + CRC. */
#define SS_MAX_RAW_FRAME 69
/* Largest stuffed frame without its delimiter (COBS adds one byte below 254 bytes). */
#define SS_MAX_ENCODED_FRAME 70
/* Largest frame on the wire, delimiter included. */
#define SS_MAX_WIRE_FRAME (SS_MAX_ENCODED_FRAME + 1)
/* Smallest unstuffed frame: a header with an empty payload, and the CRC. */
#define SS_MIN_RAW_FRAME 5
/* COBS: a code byte covers at most this many bytes (254 data bytes + itself). */
#define SS_COBS_MAX_CODE 0xFFu

/* CRC: CRC-16/CCITT-FALSE, over header and payload, appended little-endian. */
#define SS_CRC_WIDTH 16
#define SS_CRC_POLY 0x1021u
#define SS_CRC_INIT 0xFFFFu
#define SS_CRC_XOR_OUT 0x0000u
#define SS_CRC_REFLECTED 0
/* CRC of the ASCII bytes "123456789". */
#define SS_CRC_CHECK 0x29B1u

/* --- header ------------------------------------------------------------------ */
/* version: protocol version the frame is sent with (the negotiated one; 1 for HELLO, DEVICE_INFO and NACK) */
#define SS_HEADER_VERSION_BYTE 0
#define SS_HEADER_VERSION_SHIFT 4
#define SS_HEADER_VERSION_MASK 0x0Fu
/* flags: header flags */
#define SS_HEADER_FLAGS_BYTE 0
#define SS_HEADER_FLAGS_SHIFT 0
#define SS_HEADER_FLAGS_MASK 0x0Fu
/* type: message type */
#define SS_HEADER_TYPE_BYTE 1
#define SS_HEADER_TYPE_SHIFT 0
#define SS_HEADER_TYPE_MASK 0xFFu
/* lseq: link sequence number: per direction, 0...255 then 0, restarts with every link */
#define SS_HEADER_LSEQ_BYTE 2
#define SS_HEADER_LSEQ_SHIFT 0
#define SS_HEADER_LSEQ_MASK 0xFFu

/* --- why a receiver drops a frame (stable names, counted per reason) ---------- */
typedef enum ss_bad_reason {
    SS_BAD_NONE = 0,
    SS_BAD_COBS, /* the bytes between two delimiters are not valid COBS */
    SS_BAD_SHORT, /* fewer than 5 bytes once unstuffed */
    SS_BAD_CRC, /* the CRC does not match */
    SS_BAD_OVERSIZE, /* more than 70 bytes arrived without a delimiter */
    SS_BAD_VERSION, /* the header's version is not one the receiver speaks */
    SS_BAD_LENGTH, /* the payload length is not the message type's */
    SS_BAD_COUNT
} ss_bad_reason_t;
/* X(ENUM, name): every reason with its stable name, in enum order. */
#define SS_BAD_REASONS(X) \
    X(SS_BAD_COBS, "cobs") \
    X(SS_BAD_SHORT, "short") \
    X(SS_BAD_CRC, "crc") \
    X(SS_BAD_OVERSIZE, "oversize") \
    X(SS_BAD_VERSION, "version") \
    X(SS_BAD_LENGTH, "length") \


/* --- enums and flags ---------------------------------------------------------- */
/* MessageType: the message type, header byte 1 */
enum ss_message_type {
    SS_MESSAGE_TYPE_HELLO = 0x01,
    SS_MESSAGE_TYPE_TIME_SYNC = 0x02,
    SS_MESSAGE_TYPE_ARM = 0x03,
    SS_MESSAGE_TYPE_DISARM = 0x04,
    SS_MESSAGE_TYPE_ACK = 0x05,
    SS_MESSAGE_TYPE_RESUME = 0x06,
    SS_MESSAGE_TYPE_PING = 0x07,
    SS_MESSAGE_TYPE_DEVICE_INFO = 0x10,
    SS_MESSAGE_TYPE_STAMP = 0x11,
    SS_MESSAGE_TYPE_BATTERY = 0x12,
    SS_MESSAGE_TYPE_HEAD_CHANGED = 0x13,
    SS_MESSAGE_TYPE_FAULT = 0x14,
    SS_MESSAGE_TYPE_TIME_SYNC_REPLY = 0x15,
    SS_MESSAGE_TYPE_RESUME_REPLY = 0x16,
    SS_MESSAGE_TYPE_PONG = 0x17,
    SS_MESSAGE_TYPE_ARM_STATE = 0x18,
    SS_MESSAGE_TYPE_NACK = 0x1F,
    SS_MESSAGE_TYPE_HEARTBEAT = 0x20,
};

/* FaultCode: what FAULT reports */
enum ss_fault_code {
    SS_FAULT_CODE_BUFFER_FULL = 0x01, /* the event buffer is full: new stamps are not counted; detail = stamps refused since the buffer last had room */
    SS_FAULT_CODE_LOW_BATTERY = 0x02, /* battery at or below the low threshold; detail = battery % */
    SS_FAULT_CODE_BATTERY_EMPTY = 0x03, /* battery empty, the device disarmed itself; detail = battery % */
    SS_FAULT_CODE_SENSOR = 0x04, /* the force sensor read out of range; detail = raw reading */
    SS_FAULT_CODE_UNEXPECTED_REBOOT = 0x05, /* the device rebooted (watchdog, brown-out, power cycle); detail = the new boot counter */
};

/* NackCode: why the device refused a command */
enum ss_nack_code {
    SS_NACK_CODE_UNKNOWN_TYPE = 0x01, /* the message type is not one the device accepts */
    SS_NACK_CODE_BAD_LENGTH = 0x02, /* the payload length is wrong for a known type */
    SS_NACK_CODE_VERSION_UNSUPPORTED = 0x03, /* no common protocol version was negotiated */
    SS_NACK_CODE_REFUSED = 0x04, /* known but not allowed now (ARM with an empty battery or a full buffer) */
    SS_NACK_CODE_BAD_ARGUMENT = 0x05, /* a field is out of its range */
    SS_NACK_CODE_NOT_READY = 0x06, /* a command other than HELLO before HELLO (the device rebooted) */
};

/* ArmReason: why the arm state changed */
enum ss_arm_reason {
    SS_ARM_REASON_COMMAND = 0x00, /* ARM or DISARM from the host */
    SS_ARM_REASON_BOOT = 0x01, /* the device booted (it boots disarmed) */
    SS_ARM_REASON_BATTERY_EMPTY = 0x02, /* the battery ran empty */
    SS_ARM_REASON_BUFFER_FULL = 0x03, /* the event buffer filled up */
};

/* Zone: treatment zone a stamp was counted in */
enum ss_zone {
    SS_ZONE_UNKNOWN = 0x00, /* not known: the host assigns its active zone */
    SS_ZONE_FRONTAL = 0x01,
    SS_ZONE_MID_SCALP = 0x02,
    SS_ZONE_VERTEX = 0x03,
    SS_ZONE_LEFT_TEMPORAL = 0x04,
    SS_ZONE_RIGHT_TEMPORAL = 0x05,
};

/* Flag: header flags, the low nibble of header byte 0 (bits 2-3 reserved: send 0, ignore) */
#define SS_FLAG_REPLAY 0x01u /* a STAMP resent from the buffer in answer to RESUME */
#define SS_FLAG_ANNOUNCE 0x02u /* a DEVICE_INFO the device sent on its own after booting */

/* HeartbeatState: HEARTBEAT state bits (0 from the host) */
#define SS_HEARTBEAT_STATE_ARMED 0x01u /* the device counts stamps */
#define SS_HEARTBEAT_STATE_BUFFER_FULL 0x02u /* the buffer is full and stamps are refused */
#define SS_HEARTBEAT_STATE_LOW_BATTERY 0x04u /* battery at or below the low threshold */
#define SS_HEARTBEAT_STATE_TIME_SYNCED 0x08u /* a TIME_SYNC was received since this boot */

/* Who sends a message (bit set). */
#define SS_SENDER_HOST 0x01u
#define SS_SENDER_DEVICE 0x02u

/* X(NAME, name, type id, senders, frozen layout): every message, in type order. */
#define SS_MESSAGES(X) \
    X(HELLO, hello, 0x01, (SS_SENDER_HOST), 1) \
    X(TIME_SYNC, time_sync, 0x02, (SS_SENDER_HOST), 0) \
    X(ARM, arm, 0x03, (SS_SENDER_HOST), 0) \
    X(DISARM, disarm, 0x04, (SS_SENDER_HOST), 0) \
    X(ACK, ack, 0x05, (SS_SENDER_HOST), 0) \
    X(RESUME, resume, 0x06, (SS_SENDER_HOST), 0) \
    X(PING, ping, 0x07, (SS_SENDER_HOST), 0) \
    X(DEVICE_INFO, device_info, 0x10, (SS_SENDER_DEVICE), 1) \
    X(STAMP, stamp, 0x11, (SS_SENDER_DEVICE), 0) \
    X(BATTERY, battery, 0x12, (SS_SENDER_DEVICE), 0) \
    X(HEAD_CHANGED, head_changed, 0x13, (SS_SENDER_DEVICE), 0) \
    X(FAULT, fault, 0x14, (SS_SENDER_DEVICE), 0) \
    X(TIME_SYNC_REPLY, time_sync_reply, 0x15, (SS_SENDER_DEVICE), 0) \
    X(RESUME_REPLY, resume_reply, 0x16, (SS_SENDER_DEVICE), 0) \
    X(PONG, pong, 0x17, (SS_SENDER_DEVICE), 0) \
    X(ARM_STATE, arm_state, 0x18, (SS_SENDER_DEVICE), 0) \
    X(NACK, nack, 0x1F, (SS_SENDER_DEVICE), 1) \
    X(HEARTBEAT, heartbeat, 0x20, (SS_SENDER_HOST | SS_SENDER_DEVICE), 0) \

#define SS_MESSAGE_COUNT 18

/* --- messages: payload sizes per version, field offsets, structs ------------- */
/* HELLO (0x01, sent by the host): opens (or reopens) a link: the host's supported protocol version range */
#define SS_HELLO_SIZE_V1 2
#define SS_HELLO_SIZE_V2 2
#define SS_HELLO_SIZE_MAX 2
#define SS_HELLO_MIN_VERSION_OFFSET 0
#define SS_HELLO_MIN_VERSION_MIN 1
#define SS_HELLO_MIN_VERSION_MAX 15
#define SS_HELLO_MAX_VERSION_OFFSET 1
#define SS_HELLO_MAX_VERSION_MIN 1
#define SS_HELLO_MAX_VERSION_MAX 15
typedef struct ss_hello_s {
    uint8_t min_version; /* lowest protocol version the host speaks */
    uint8_t max_version; /* highest protocol version the host speaks */
} ss_hello_t;

/* TIME_SYNC (0x02, sent by the host): the host's wall clock; the device answers TIME_SYNC_REPLY */
#define SS_TIME_SYNC_SIZE_V1 8
#define SS_TIME_SYNC_SIZE_V2 8
#define SS_TIME_SYNC_SIZE_MAX 8
#define SS_TIME_SYNC_HOST_UNIX_MS_OFFSET 0
typedef struct ss_time_sync_s {
    uint64_t host_unix_ms; /* Unix time in milliseconds [ms] */
} ss_time_sync_t;

/* ARM (0x03, sent by the host): start counting stamps; the device answers ARM_STATE (or NACK REFUSED) */
#define SS_ARM_SIZE_V1 0
#define SS_ARM_SIZE_V2 0
#define SS_ARM_SIZE_MAX 0
typedef struct ss_arm_s {
    uint8_t unused_; /* no fields: C99 structs may not be empty */
} ss_arm_t;

/* DISARM (0x04, sent by the host): stop counting stamps; the device answers ARM_STATE */
#define SS_DISARM_SIZE_V1 0
#define SS_DISARM_SIZE_V2 0
#define SS_DISARM_SIZE_MAX 0
typedef struct ss_disarm_s {
    uint8_t unused_; /* no fields: C99 structs may not be empty */
} ss_disarm_t;

/* ACK (0x05, sent by the host): cumulative: the host has durably stored every event up to and including seq */
#define SS_ACK_SIZE_V1 6
#define SS_ACK_SIZE_V2 6
#define SS_ACK_SIZE_MAX 6
#define SS_ACK_BOOT_OFFSET 0
#define SS_ACK_SEQ_OFFSET 2
typedef struct ss_ack_s {
    uint16_t boot; /* boot counter of the event seq */
    uint32_t seq; /* newest event stored (the device uses seq alone) */
} ss_ack_t;

/* RESUME (0x06, sent by the host): acknowledges every event up to seq like ACK, then asks for the rest of the buffer again */
#define SS_RESUME_SIZE_V1 6
#define SS_RESUME_SIZE_V2 10
#define SS_RESUME_SIZE_MAX 10
#define SS_RESUME_BOOT_OFFSET 0
#define SS_RESUME_SEQ_OFFSET 2
#define SS_RESUME_EPOCH_OFFSET 6
#define SS_RESUME_EPOCH_SINCE 2
typedef struct ss_resume_s {
    uint16_t boot; /* boot counter of the event seq */
    uint32_t seq; /* newest event the host has durably stored (0: none) */
    uint32_t epoch; /* numbering epoch the host's cursor belongs to (0: not known) (v2+; 0 in older versions) */
} ss_resume_t;

/* PING (0x07, sent by the host): round-trip probe; the device answers PONG with the same nonce */
#define SS_PING_SIZE_V1 4
#define SS_PING_SIZE_V2 4
#define SS_PING_SIZE_MAX 4
#define SS_PING_NONCE_OFFSET 0
typedef struct ss_ping_s {
    uint32_t nonce; /* any value, echoed in PONG */
} ss_ping_t;

/* DEVICE_INFO (0x10, sent by the device): the device's identity and state: the answer to HELLO, and its announcement at boot (flag ANNOUNCE) */
#define SS_DEVICE_INFO_SIZE_V1 36
#define SS_DEVICE_INFO_SIZE_V2 36
#define SS_DEVICE_INFO_SIZE_MAX 36
#define SS_DEVICE_INFO_SERIAL_OFFSET 0
#define SS_DEVICE_INFO_SERIAL_LEN 12
#define SS_DEVICE_INFO_HW_REVISION_OFFSET 12
#define SS_DEVICE_INFO_FW_MAJOR_OFFSET 13
#define SS_DEVICE_INFO_FW_MINOR_OFFSET 14
#define SS_DEVICE_INFO_FW_PATCH_OFFSET 15
#define SS_DEVICE_INFO_MIN_VERSION_OFFSET 16
#define SS_DEVICE_INFO_MIN_VERSION_MIN 1
#define SS_DEVICE_INFO_MIN_VERSION_MAX 15
#define SS_DEVICE_INFO_MAX_VERSION_OFFSET 17
#define SS_DEVICE_INFO_MAX_VERSION_MIN 1
#define SS_DEVICE_INFO_MAX_VERSION_MAX 15
#define SS_DEVICE_INFO_SELECTED_VERSION_OFFSET 18
#define SS_DEVICE_INFO_SELECTED_VERSION_MIN 0
#define SS_DEVICE_INFO_SELECTED_VERSION_MAX 15
#define SS_DEVICE_INFO_NEEDLE_UM_OFFSET 19
#define SS_DEVICE_INFO_HEAD_ID_OFFSET 21
#define SS_DEVICE_INFO_HEAD_USES_OFFSET 25
#define SS_DEVICE_INFO_FOOTPRINT_MM2_OFFSET 27
#define SS_DEVICE_INFO_BATTERY_PCT_OFFSET 29
#define SS_DEVICE_INFO_BATTERY_PCT_MIN 0
#define SS_DEVICE_INFO_BATTERY_PCT_MAX 100
#define SS_DEVICE_INFO_BOOT_OFFSET 30
#define SS_DEVICE_INFO_LAST_SEQ_OFFSET 32
typedef struct ss_device_info_s {
    char serial[12]; /* serial number, ASCII, padded with 0x00; padded with 0, not NUL-terminated when full */
    uint8_t hw_revision; /* hardware revision */
    uint8_t fw_major; /* firmware version, major */
    uint8_t fw_minor; /* firmware version, minor */
    uint8_t fw_patch; /* firmware version, patch */
    uint8_t min_version; /* lowest protocol version the device speaks */
    uint8_t max_version; /* highest protocol version the device speaks */
    uint8_t selected_version; /* the version chosen from the host's HELLO; 0 if none in common or when announcing */
    uint16_t needle_um; /* needle length (2000 = 2.0 mm) [um] */
    uint32_t head_id; /* id of the stamp head fitted */
    uint16_t head_uses; /* sessions this head has been used in */
    uint16_t footprint_mm2; /* area the head covers per stamp [mm2] */
    uint8_t battery_pct; /* battery charge [%] */
    uint16_t boot; /* boot counter */
    uint32_t last_seq; /* seq of the newest counted event, 0 if none */
} ss_device_info_t;

/* STAMP (0x11, sent by the device): one stamp the device counted (flag REPLAY: resent from the buffer in answer to RESUME) */
#define SS_STAMP_SIZE_V1 13
#define SS_STAMP_SIZE_V2 13
#define SS_STAMP_SIZE_MAX 13
#define SS_STAMP_BOOT_OFFSET 0
#define SS_STAMP_SEQ_OFFSET 2
#define SS_STAMP_SEQ_MIN 1
#define SS_STAMP_SEQ_MAX 4294967295u
#define SS_STAMP_DEVICE_TIME_MS_OFFSET 6
#define SS_STAMP_FORCE_DN_OFFSET 10
#define SS_STAMP_CONTACT_MS_OFFSET 11
#define SS_STAMP_CONTACT_MS_SHIFT 0
#define SS_STAMP_CONTACT_MS_MASK 0xFFFu
#define SS_STAMP_CONTACT_MS_MIN 0
#define SS_STAMP_CONTACT_MS_MAX 4095
#define SS_STAMP_ZONE_OFFSET 11
#define SS_STAMP_ZONE_SHIFT 12
#define SS_STAMP_ZONE_MASK 0xFu
#define SS_STAMP_ZONE_MIN 0
#define SS_STAMP_ZONE_MAX 15
typedef struct ss_stamp_s {
    uint16_t boot; /* boot counter when the stamp was counted */
    uint32_t seq; /* event sequence number */
    uint32_t device_time_ms; /* milliseconds since that boot [ms] */
    uint8_t force_dn; /* peak force in 0.1 N (0-25.5 N; 255 means 25.5 N or more) [N] */
    uint16_t contact_ms; /* contact duration, saturating at 4095 [ms] (bits 0-11 of contact_zone) */
    uint16_t zone; /* zone id (6-15 reserved) (bits 12-15 of contact_zone) */
} ss_stamp_t;

/* BATTERY (0x12, sent by the device): battery state, sent when the percentage changes */
#define SS_BATTERY_SIZE_V1 3
#define SS_BATTERY_SIZE_V2 3
#define SS_BATTERY_SIZE_MAX 3
#define SS_BATTERY_PCT_OFFSET 0
#define SS_BATTERY_PCT_MIN 0
#define SS_BATTERY_PCT_MAX 100
#define SS_BATTERY_MILLIVOLTS_OFFSET 1
typedef struct ss_battery_s {
    uint8_t pct; /* battery charge [%] */
    uint16_t millivolts; /* battery voltage [mV] */
} ss_battery_t;

/* HEAD_CHANGED (0x13, sent by the device): a stamp head was fitted */
#define SS_HEAD_CHANGED_SIZE_V1 8
#define SS_HEAD_CHANGED_SIZE_V2 8
#define SS_HEAD_CHANGED_SIZE_MAX 8
#define SS_HEAD_CHANGED_HEAD_ID_OFFSET 0
#define SS_HEAD_CHANGED_HEAD_USES_OFFSET 4
#define SS_HEAD_CHANGED_FOOTPRINT_MM2_OFFSET 6
typedef struct ss_head_changed_s {
    uint32_t head_id; /* id of the head now fitted */
    uint16_t head_uses; /* sessions this head has been used in */
    uint16_t footprint_mm2; /* area the head covers per stamp [mm2] */
} ss_head_changed_t;

/* FAULT (0x14, sent by the device): something is wrong on the device */
#define SS_FAULT_SIZE_V1 5
#define SS_FAULT_SIZE_V2 5
#define SS_FAULT_SIZE_MAX 5
#define SS_FAULT_CODE_OFFSET 0
#define SS_FAULT_DETAIL_OFFSET 1
typedef struct ss_fault_s {
    uint8_t code; /* what is wrong */
    uint32_t detail; /* depends on the code (see FaultCode) */
} ss_fault_t;

/* TIME_SYNC_REPLY (0x15, sent by the device): echoes the host's time and gives the device's clock when the TIME_SYNC arrived */
#define SS_TIME_SYNC_REPLY_SIZE_V1 12
#define SS_TIME_SYNC_REPLY_SIZE_V2 12
#define SS_TIME_SYNC_REPLY_SIZE_MAX 12
#define SS_TIME_SYNC_REPLY_HOST_UNIX_MS_OFFSET 0
#define SS_TIME_SYNC_REPLY_DEVICE_TIME_MS_OFFSET 8
typedef struct ss_time_sync_reply_s {
    uint64_t host_unix_ms; /* the TIME_SYNC's value, echoed [ms] */
    uint32_t device_time_ms; /* milliseconds since this boot when the TIME_SYNC arrived [ms] */
} ss_time_sync_reply_t;

/* RESUME_REPLY (0x16, sent by the device): the answer to RESUME: count events follow, from first_seq on, each with the REPLAY flag */
#define SS_RESUME_REPLY_SIZE_V1 10
#define SS_RESUME_REPLY_SIZE_V2 14
#define SS_RESUME_REPLY_SIZE_MAX 14
#define SS_RESUME_REPLY_BOOT_OFFSET 0
#define SS_RESUME_REPLY_FIRST_SEQ_OFFSET 2
#define SS_RESUME_REPLY_COUNT_OFFSET 6
#define SS_RESUME_REPLY_EPOCH_OFFSET 10
#define SS_RESUME_REPLY_EPOCH_SINCE 2
typedef struct ss_resume_reply_s {
    uint16_t boot; /* boot counter of the event first_seq (the current boot when count is 0) */
    uint32_t first_seq; /* seq of the first replayed event; with count 0 the next seq the device will assign */
    uint32_t count; /* number of replayed events that follow */
    uint32_t epoch; /* the device's numbering epoch (0 in v1: not known) (v2+; 0 in older versions) */
} ss_resume_reply_t;

/* PONG (0x17, sent by the device): the answer to PING */
#define SS_PONG_SIZE_V1 8
#define SS_PONG_SIZE_V2 8
#define SS_PONG_SIZE_MAX 8
#define SS_PONG_NONCE_OFFSET 0
#define SS_PONG_DEVICE_TIME_MS_OFFSET 4
typedef struct ss_pong_s {
    uint32_t nonce; /* the PING's nonce, echoed */
    uint32_t device_time_ms; /* milliseconds since this boot when the PING arrived [ms] */
} ss_pong_t;

/* ARM_STATE (0x18, sent by the device): whether the device counts stamps, and why that changed */
#define SS_ARM_STATE_SIZE_V1 2
#define SS_ARM_STATE_SIZE_V2 2
#define SS_ARM_STATE_SIZE_MAX 2
#define SS_ARM_STATE_ARMED_OFFSET 0
#define SS_ARM_STATE_ARMED_MIN 0
#define SS_ARM_STATE_ARMED_MAX 1
#define SS_ARM_STATE_REASON_OFFSET 1
typedef struct ss_arm_state_s {
    uint8_t armed; /* 1: counting stamps */
    uint8_t reason; /* why the state changed */
} ss_arm_state_t;

/* NACK (0x1F, sent by the device): the device's error reply to a command it does not know or refuses */
#define SS_NACK_SIZE_V1 3
#define SS_NACK_SIZE_V2 3
#define SS_NACK_SIZE_MAX 3
#define SS_NACK_REFUSED_TYPE_OFFSET 0
#define SS_NACK_REFUSED_LSEQ_OFFSET 1
#define SS_NACK_CODE_OFFSET 2
typedef struct ss_nack_s {
    uint8_t refused_type; /* message type of the refused frame */
    uint8_t refused_lseq; /* link sequence number of the refused frame */
    uint8_t code; /* why it was refused */
} ss_nack_t;

/* HEARTBEAT (0x20, sent by the host and device): liveness, sent every heartbeat interval by both ends */
#define SS_HEARTBEAT_SIZE_V1 9
#define SS_HEARTBEAT_SIZE_V2 9
#define SS_HEARTBEAT_SIZE_MAX 9
#define SS_HEARTBEAT_BOOT_OFFSET 0
#define SS_HEARTBEAT_SEQ_OFFSET 2
#define SS_HEARTBEAT_PENDING_OFFSET 6
#define SS_HEARTBEAT_STATE_OFFSET 8
typedef struct ss_heartbeat_s {
    uint16_t boot; /* device: its boot counter; host: the boot of its last ACK */
    uint32_t seq; /* device: newest counted event; host: seq of its last ACK */
    uint16_t pending; /* device: unacknowledged events, saturating at 65535; host: 0 */
    uint8_t state; /* device: state bits; host: 0 */
} ss_heartbeat_t;

/* Any message: `type` is its MessageType; `as` holds the fields of that type. */
typedef struct ss_message_s {
    uint8_t type;
    union {
        ss_hello_t hello;
        ss_time_sync_t time_sync;
        ss_arm_t arm;
        ss_disarm_t disarm;
        ss_ack_t ack;
        ss_resume_t resume;
        ss_ping_t ping;
        ss_device_info_t device_info;
        ss_stamp_t stamp;
        ss_battery_t battery;
        ss_head_changed_t head_changed;
        ss_fault_t fault;
        ss_time_sync_reply_t time_sync_reply;
        ss_resume_reply_t resume_reply;
        ss_pong_t pong;
        ss_arm_state_t arm_state;
        ss_nack_t nack;
        ss_heartbeat_t heartbeat;
    } as;
} ss_message_t;

/* --- timing (milliseconds) ------------------------------------------------ */
#define SS_HEARTBEAT_INTERVAL_MS 500 /* both ends send HEARTBEAT this often once negotiated */
#define SS_LINK_TIMEOUT_MS 2000 /* no valid frame for this long: the host declares the link lost, the device considers the host gone */
#define SS_REPLY_TIMEOUT_INITIAL_MS 300 /* the host's reply timeout before any round trip is measured */
#define SS_REPLY_TIMEOUT_MIN_MS 50 /* lower bound of the measured reply timeout (smoothed RTT + 4 x variation) */
#define SS_REPLY_TIMEOUT_MAX_MS 1000 /* upper bound of the measured reply timeout */
#define SS_COMMAND_TRIES 5 /* times the host sends a command (TIME_SYNC, ARM, PING, ...) before it gives up, the wait doubling up to 8 x the reply timeout; HELLO, and RESUME in v2, are repeated until answered */
#define SS_HELLO_BACKOFF_MAX_MS 1000 /* HELLO is repeated at most this far apart while nothing at all comes back */
#define SS_REOPEN_AFTER_MS 10000 /* nothing at all during HELLO for this long: the host closes and reopens the transport */
#define SS_REOPEN_BACKOFF_INITIAL_MS 100 /* first wait before reopening a transport, doubling */
#define SS_REOPEN_BACKOFF_MAX_MS 2000 /* longest wait before reopening a transport */
#define SS_REPLAY_QUIET_MS 500 /* a RESUME is over once neither its reply nor a replayed STAMP came for this long; only then may another RESUME follow for a gap still open */
#define SS_REARM_INTERVAL_MS 1000 /* the host repeats ARM (DISARM) at most this often while heartbeats show the wrong arm state */

/* --- GATT profile (docs/protocol.md section 5) ------------------------------ */
#define SS_GATT_SERVICE_UUID "5a3e0001-7d2c-4c1b-9f4e-2b6a5d8c1e70"
#define SS_GATT_RX_UUID "5a3e0002-7d2c-4c1b-9f4e-2b6a5d8c1e70"
#define SS_GATT_TX_UUID "5a3e0003-7d2c-4c1b-9f4e-2b6a5d8c1e70"
#define SS_GATT_BATTERY_SERVICE_UUID "0000180f-0000-1000-8000-00805f9b34fb"
#define SS_GATT_BATTERY_LEVEL_UUID "00002a19-0000-1000-8000-00805f9b34fb"
#define SS_GATT_DEVICE_INFORMATION_SERVICE_UUID "0000180a-0000-1000-8000-00805f9b34fb"
#define SS_GATT_DEFAULT_ATT_MTU 23
#define SS_GATT_PREFERRED_ATT_MTU 247
#define SS_GATT_ATT_OVERHEAD 3
#define SS_GATT_MAX_NAME_LENGTH 8
#define SS_GATT_CHAR_RX_UUID "5a3e0002-7d2c-4c1b-9f4e-2b6a5d8c1e70" /* host -> device bytes, in writes of at most ATT MTU - 3 bytes */
#define SS_GATT_CHAR_TX_UUID "5a3e0003-7d2c-4c1b-9f4e-2b6a5d8c1e70" /* device -> host bytes, in notifications of at most ATT MTU - 3 bytes */

#endif /* STAMPSIDE_SCHEMA_H */
