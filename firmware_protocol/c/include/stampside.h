/* stampside.h: the device side of the Stampside wire protocol (docs/protocol.md), in C99.
 *
 * A reference implementation for firmware teams: drop include/ and src/ (all but stampdev.c
 * and stampscript.c, which are POSIX programs on top) into an MCU project.
 *
 *   - no heap, no OS calls, no global state: every object lives in memory the caller owns;
 *   - time is passed in (`now_ms`, milliseconds on any monotonic clock that wraps at 2^32);
 *   - bytes go out through a callback (`ss_write_fn`), one call per frame;
 *   - the event buffer lives in `ss_nv_t`, a struct the firmware keeps in non-volatile memory.
 *
 * Layers, each usable on its own:
 *
 *   ss_crc16            CRC-16/CCITT-FALSE
 *   ss_cobs_*           Consistent Overhead Byte Stuffing
 *   ss_frame_encode*    header + payload -> bytes on the wire (COBS, CRC, delimiter)
 *   ss_decoder_*        bytes on the wire -> checked frames, or the reason they were dropped
 *   ss_*_payload        payload <-> ss_message_t, per protocol version (src/ss_codec.c, generated)
 *   ss_nv_* / ss_ring_* the ring buffer of unacknowledged stamps, kept across reboots
 *   ss_device_*         the device's side of the conversation (docs/protocol.md section 3)
 *
 * Constants, message structs and sizes come from stampside_schema.h, generated from
 * firmware_protocol/schema.toml. The behaviour mirrors the Python device model,
 * simulator/device.py: for the same events at the same times both send the same bytes.
 */
#ifndef STAMPSIDE_H
#define STAMPSIDE_H

#include <stddef.h>
#include <stdint.h>

#include "stampside_schema.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ===================================================================== CRC and COBS == */

/* CRC-16/CCITT-FALSE of `len` bytes (SS_CRC_CHECK for the ASCII bytes "123456789"). */
uint16_t ss_crc16(const uint8_t *data, size_t len);

/* Most bytes COBS turns `n` bytes into (without the delimiter). */
#define SS_COBS_ENCODED_MAX(n) ((n) + (n) / 254u + 1u)

/* Stuffs `len` bytes into `out` (room for SS_COBS_ENCODED_MAX(len) bytes); returns the length.
 * The result holds no 0x00 and no delimiter. */
size_t ss_cobs_encode(const uint8_t *in, size_t len, uint8_t *out);

/* Un-stuffs `len` bytes (without the delimiter) into `out` (room for `out_cap` bytes).
 * Returns the decoded length, or -1 if the input is not valid COBS (a 0x00 inside, a code
 * byte pointing past the end) or does not fit `out`. */
int ss_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap);

/* ========================================================================== frames == */

/* The 3-byte header, unpacked. */
typedef struct ss_header {
    uint8_t version; /* 1..15 */
    uint8_t flags;   /* SS_FLAG_* */
    uint8_t type;    /* SS_MESSAGE_TYPE_* */
    uint8_t lseq;    /* link sequence number */
} ss_header_t;

/* One frame on the wire: header + payload (`len` <= SS_MAX_PAYLOAD) -> COBS + CRC + 0x00
 * into `out`. Returns the number of bytes (at most SS_MAX_WIRE_FRAME), 0 if `len` is too big. */
size_t ss_frame_encode(const ss_header_t *header, const uint8_t *payload, size_t len,
                       uint8_t out[SS_MAX_WIRE_FRAME]);

/* A message as one frame: its payload in `version`'s layout (version SS_BASE_VERSION for the
 * frozen layouts HELLO, DEVICE_INFO and NACK, whatever `version` says). Returns the number of
 * bytes, 0 if the message cannot be encoded (unknown type, a bit field out of range). */
size_t ss_frame_encode_message(const ss_message_t *message, uint8_t version, uint8_t flags, uint8_t lseq,
                               uint8_t out[SS_MAX_WIRE_FRAME]);

/* ---- the streaming decoder ------------------------------------------------------------
 *
 *   ss_decoder_t dec;
 *   ss_rx_t rx;
 *   ss_decoder_init(&dec, SS_SENDER_HOST);       // a device accepts what hosts send
 *   for each received byte b:
 *       switch (ss_decoder_push(&dec, b, &rx)) {
 *       case SS_RX_FRAME:   ... rx.header, rx.message (decoded) ...
 *       case SS_RX_UNKNOWN: ... a checked frame of a type not accepted: rx.header ...
 *       case SS_RX_BAD:     ... dropped: rx.reason; rx.has_header for version/length ...
 *       case SS_RX_NONE:    break;               // mid-frame, idle fill, end of a bad run
 *       }
 *
 * The checks and their order are docs/protocol.md section 1 and firmware_protocol/framing.py
 * plus connection.py: more than SS_MAX_ENCODED_FRAME bytes without a delimiter (oversize;
 * reported at the first byte too many, then everything up to the next 0x00 is skipped),
 * then at the delimiter: cobs, short, crc; then the type (not accepted -> SS_RX_UNKNOWN,
 * the version is not checked), version (outside the decoder's range, unless the type has a
 * frozen layout), length (the payload size of the type in the frame's version). Nothing is
 * ever read beyond the decoder's fixed buffers: any byte sequence is safe to feed. */

typedef enum ss_rx_kind {
    SS_RX_NONE = 0,  /* nothing complete yet */
    SS_RX_FRAME,     /* a checked frame of an accepted type, decoded into rx.message */
    SS_RX_UNKNOWN,   /* a checked frame whose type this decoder does not accept */
    SS_RX_BAD        /* a frame dropped for rx.reason */
} ss_rx_kind_t;

typedef struct ss_rx {
    ss_rx_kind_t kind;
    ss_bad_reason_t reason; /* SS_RX_BAD: why; SS_BAD_NONE otherwise */
    int has_header;         /* the header is valid: FRAME, UNKNOWN, BAD for version and length */
    ss_header_t header;
    const uint8_t *payload; /* the unstuffed payload (has_header): valid until the next push */
    size_t payload_len;
    ss_message_t message;   /* SS_RX_FRAME: the decoded fields */
} ss_rx_t;

typedef struct ss_decoder_stats {
    uint32_t bytes;              /* bytes pushed */
    uint32_t frames;             /* checked frames (FRAME and UNKNOWN) */
    uint32_t bad[SS_BAD_COUNT];  /* dropped frames per reason (index: ss_bad_reason_t) */
    uint32_t bad_total;
    uint32_t resyncs;            /* a good frame after one or more bad ones */
    uint32_t unknown;            /* SS_RX_UNKNOWN frames */
    uint32_t lseq_gaps;          /* frames the peer sent that never arrived (from link seqs) */
} ss_decoder_stats_t;

typedef struct ss_decoder {
    uint8_t accept;        /* SS_SENDER_* bits: types sent by these roles are accepted */
    uint8_t min_version;   /* versions accepted (frozen layouts: any) */
    uint8_t max_version;
    uint8_t discarding;    /* skipping an oversize run up to the next delimiter */
    uint8_t in_bad_run;
    uint8_t have_lseq;     /* next_lseq is known */
    uint8_t next_lseq;
    uint8_t len;           /* bytes held in buf */
    uint8_t buf[SS_MAX_ENCODED_FRAME];
    uint8_t raw[SS_MAX_RAW_FRAME];
    ss_decoder_stats_t stats;
} ss_decoder_t;

/* A decoder that accepts the types sent by the roles in `accept` (SS_SENDER_HOST on a
 * device; both bits for a sniffer) in versions SS_VERSION_MIN..SS_VERSION_MAX. */
void ss_decoder_init(ss_decoder_t *dec, uint8_t accept);

/* The versions this decoder accepts (a device: the range it speaks). */
void ss_decoder_set_versions(ss_decoder_t *dec, uint8_t min_version, uint8_t max_version);

/* Forget any partial frame and the peer's link sequence number (after a reconnect). Keeps stats. */
void ss_decoder_reset(ss_decoder_t *dec);

/* Feed one byte; fills `rx` and returns its kind (SS_RX_NONE: nothing to report). */
ss_rx_kind_t ss_decoder_push(ss_decoder_t *dec, uint8_t byte, ss_rx_t *rx);

typedef void (*ss_rx_fn)(void *ctx, const ss_rx_t *rx);

/* Feed `len` bytes; calls `on_rx` (may be NULL) for every event but SS_RX_NONE, in order.
 * Returns the number of events. */
size_t ss_decoder_feed(ss_decoder_t *dec, const uint8_t *data, size_t len, ss_rx_fn on_rx, void *ctx);

/* The stable name of a reason ("cobs", "short", "crc", "oversize", "version", "length"). */
const char *ss_bad_reason_name(ss_bad_reason_t reason);

/* ======================================================================== payloads == */
/* (src/ss_codec.c, generated from the schema) */

/* Payload size of `type` in protocol `version` (the newest layout at or below it), -1 if the
 * type is unknown. */
int ss_payload_size(uint8_t type, uint8_t version);

/* Encodes `m`'s payload in `version`'s layout into `out`; returns its size, -1 for an unknown
 * type or a bit field out of its range (STAMP contact_ms > 4095, zone > 15). */
int ss_encode_payload(const ss_message_t *m, uint8_t version, uint8_t out[SS_MAX_PAYLOAD]);

#define SS_DECODE_OK 0
#define SS_DECODE_UNKNOWN_TYPE (-1)
#define SS_DECODE_BAD_LENGTH (-2)
/* Decodes a payload of `type` in `version`'s layout into `m` (fields the layout lacks are 0). */
int ss_decode_payload(uint8_t type, uint8_t version, const uint8_t *payload, size_t len, ss_message_t *m);

const char *ss_message_name(uint8_t type);   /* "HELLO", ..., "?" if unknown */
uint8_t ss_message_senders(uint8_t type);    /* SS_SENDER_* bits, 0 if unknown */
int ss_message_frozen(uint8_t type);         /* 1: sent with SS_BASE_VERSION in every version */

/* =============================================== the event buffer, in non-volatile memory == */

/* Stamps the buffer can hold at most (the struct's size); a device may use fewer
 * (ss_nv_t.capacity). Define it when compiling to fit your flash; the simulator's is 4,096. */
#ifndef SS_RING_CAPACITY
#define SS_RING_CAPACITY 4096u
#endif

/* ss_nv_t.magic of a formatted memory ("SSNV"), and the layout version of the struct. */
#define SS_NV_MAGIC 0x564E5353u
#define SS_NV_LAYOUT 1u
/* The boot counter wraps from its largest value to 1 (docs/protocol.md 3.5). */
#define SS_BOOT_MAX 0xFFFFu

/* What the device keeps across reboots: the boot counter, the newest seq, the numbering's
 * epoch and the unacknowledged stamps, oldest first, in a ring. The firmware keeps the whole
 * struct in non-volatile memory and must write it atomically (two copies and a sequence
 * number, or a journal) whenever ss_device_config_t.nv_changed is called: before the call
 * returns, the new state must be durable, because the frames that follow depend on it. */
typedef struct ss_nv {
    uint32_t magic;     /* SS_NV_MAGIC once formatted */
    uint32_t layout;    /* SS_NV_LAYOUT */
    uint32_t boot;      /* boot counter of the current power-up (0: never booted) */
    uint32_t last_seq;  /* seq of the newest counted stamp (0: none) */
    uint32_t epoch;     /* numbering epoch, non-zero, drawn when the numbering starts afresh */
    uint32_t capacity;  /* stamps this device keeps, 1..SS_RING_CAPACITY */
    uint32_t head;      /* index of the oldest stamp in events[] */
    uint32_t count;     /* stamps held */
    ss_stamp_t events[SS_RING_CAPACITY];
} ss_nv_t;

/* A wiped memory: a new numbering. The first ss_device_boot() makes the boot counter
 * `first_boot` (1 for a new device) and the first stamp gets seq `last_seq + 1` (0: seq 1).
 * `epoch` must be random and non-zero (the core has no random source: the firmware draws
 * it from its TRNG). `capacity` is clamped to 1..SS_RING_CAPACITY. */
void ss_nv_format(ss_nv_t *nv, uint32_t capacity, uint32_t epoch, uint16_t first_boot, uint32_t last_seq);

/* 1 if `nv` is a formatted memory that is consistent (counts within capacity, seqs of the
 * buffered stamps increasing and at most last_seq, non-zero epoch), else 0: format it. */
int ss_nv_valid(const ss_nv_t *nv);

uint32_t ss_ring_count(const ss_nv_t *nv);
int ss_ring_full(const ss_nv_t *nv);
/* The i-th oldest stamp (0 = oldest), NULL if i >= count. */
const ss_stamp_t *ss_ring_at(const ss_nv_t *nv, uint32_t i);
/* Appends a stamp; 0 on success, -1 (nothing kept) when full. Never overwrites. */
int ss_ring_push(ss_nv_t *nv, const ss_stamp_t *stamp);
/* Drops every stamp with a seq up to and including `seq`; returns how many. */
uint32_t ss_ring_ack(ss_nv_t *nv, uint32_t seq);
/* Index (for ss_ring_at) of the oldest stamp whose seq is >= `seq`; count if none. */
uint32_t ss_ring_lower_bound(const ss_nv_t *nv, uint32_t seq);

/* ========================================================================== device == */

/* Bytes to send to the host, in order: one call per frame (a lone 0x00 idle fill is its own
 * call). The callee queues or writes them; it must not call back into the device. */
typedef void (*ss_write_fn)(void *ctx, const uint8_t *bytes, size_t len);
/* `nv` changed (new boot, a stamp buffered, stamps acknowledged): make it durable now. */
typedef void (*ss_nv_fn)(void *ctx, const ss_nv_t *nv);

/* Unsolicited reports kept while no host listens (oldest dropped first); the simulator keeps 32. */
#ifndef SS_NOTICE_QUEUE_SIZE
#define SS_NOTICE_QUEUE_SIZE 32u
#endif

typedef struct ss_device_config {
    char serial[SS_DEVICE_INFO_SERIAL_LEN]; /* ASCII, padded with 0 (ss_device_config_default: SS-000001) */
    uint8_t hw_revision;
    uint8_t fw_major;
    uint8_t fw_minor;
    uint8_t fw_patch;
    uint8_t min_version;          /* protocol versions spoken */
    uint8_t max_version;
    uint16_t needle_um;
    uint32_t head_id;             /* the head fitted at power-up */
    uint16_t head_uses;
    uint16_t footprint_mm2;
    uint8_t battery_pct;          /* battery at power-up, 0..100 */
    uint16_t battery_mv;
    uint8_t low_battery_pct;      /* FAULT LOW_BATTERY at or below this */
    uint8_t start_armed;          /* count from a normal power-up without waiting for ARM */
    uint32_t heartbeat_interval_ms;
    uint32_t host_timeout_ms;     /* the host is present while it sent a valid frame this recently */
    ss_write_fn write;            /* required */
    ss_nv_fn nv_changed;          /* may be NULL (then nv is assumed durable as written) */
    void *ctx;                    /* passed to both callbacks */
} ss_device_config_t;

/* Counters, in RAM (ss_device_init zeroes them). Only stamps_refused goes on the wire: it is
 * FAULT BUFFER_FULL's detail. */
typedef struct ss_device_counters {
    uint32_t stamps_counted;
    uint32_t stamps_refused;  /* stamps not counted: buffer full */
    uint32_t hellos;
    uint32_t frames_sent;
    uint32_t replayed;
    uint32_t nacks;
} ss_device_counters_t;

/* The device's RAM state. Treat it as opaque: use the functions below. */
typedef struct ss_device {
    ss_device_config_t cfg;
    ss_nv_t *nv;
    ss_decoder_t rx;
    uint32_t now;              /* latest time seen */
    uint32_t boot_time;        /* `now` at power-up: device_time_ms = now - boot_time */
    uint32_t last_host_frame;  /* when the host last sent a valid frame (if host_seen) */
    uint32_t next_heartbeat;
    uint8_t host_seen;
    uint8_t ready;             /* a HELLO with a common version was answered on this link */
    uint8_t refused_version;   /* the last HELLO had no common version */
    uint8_t armed;
    uint8_t time_synced;
    uint8_t version;           /* version frames are sent with */
    uint8_t tx_lseq;
    uint8_t battery_pct;
    uint8_t reported_pct;
    uint8_t low_reported;
    uint8_t empty_reported;
    uint8_t link_restart;      /* a HELLO or a boot began a new link session */
    uint16_t battery_mv;
    uint32_t head_id;
    uint16_t head_uses;
    uint16_t footprint_mm2;
    uint32_t replay_slot;      /* index in nv->events[] of the next stamp to replay */
    uint32_t replay_sent_seq;  /* seq of the last stamp replayed (first_seq - 1 at the start) */
    uint32_t replay_last;      /* seq of the newest stamp of the replay */
    uint32_t replay_left;      /* slots of the replay still to go (0: no replay) */
    uint32_t notice_count;
    ss_message_t notices[SS_NOTICE_QUEUE_SIZE];
    ss_device_counters_t counters;
} ss_device_t;

/* The simulator's defaults (simulator/config.py DeviceConfig): SS-000001, hw 2, fw 1.0.0,
 * versions SS_VERSION_MIN..SS_VERSION_MAX, 2000 um, head 1001, 100 mm2, battery 100 %
 * (4200 mV), low at 15 %, heartbeat and host timeout from the schema. No callbacks. */
void ss_device_config_default(ss_device_config_t *cfg);

/* Sets up the RAM state (nothing is sent). `nv` must be valid (ss_nv_valid; else
 * ss_nv_format it first) and stays the caller's. Returns 0, or -1 if `nv` is not valid or
 * cfg->write is NULL. Call ss_device_boot() next. */
int ss_device_init(ss_device_t *dev, const ss_device_config_t *cfg, ss_nv_t *nv);

/* ss_device_boot flags. */
#define SS_BOOT_NORMAL 0u
/* The reset was not asked for (watchdog, brown-out, crash): the first HELLO is followed by
 * ARM_STATE(0, BOOT) and FAULT UNEXPECTED_REBOOT(boot). */
#define SS_BOOT_UNEXPECTED 1u

/* Power-up: the boot counter grows by one (65535 -> 1) and is made durable, then the device
 * announces itself (0x00, DEVICE_INFO with flag ANNOUNCE). It boots disarmed (unless
 * cfg.start_armed on a normal boot). */
void ss_device_boot(ss_device_t *dev, uint32_t now_ms, unsigned flags);

/* A transport connection opened or closed (TCP client, BLE central): a new link. The device
 * forgets the link state (link seqs, negotiated version, host presence, replay) and expects
 * HELLO. On a serial line, which cannot see the port reopen, never call these. */
void ss_device_on_connect(ss_device_t *dev, uint32_t now_ms);
void ss_device_on_disconnect(ss_device_t *dev, uint32_t now_ms);

/* Bytes from the host. Replies go out through cfg.write before it returns. */
void ss_device_on_bytes(ss_device_t *dev, uint32_t now_ms, const uint8_t *bytes, size_t len);

/* Let time pass: sends the heartbeat when due. Call it at least every few ms, or at
 * ss_device_next_due(). */
void ss_device_tick(ss_device_t *dev, uint32_t now_ms);

/* When ss_device_tick next has something to do: 1 and *when_ms, or 0 (nothing scheduled). */
int ss_device_next_due(const ss_device_t *dev, uint32_t *when_ms);

/* ss_device_stamp results. */
#define SS_STAMP_COUNTED 0      /* buffered as seq nv->last_seq (and sent live if a host listens) */
#define SS_STAMP_NOT_ARMED 1    /* the device does not count now: nothing happened */
#define SS_STAMP_REFUSED 2      /* the buffer is full: not counted; the device disarmed */

/* The practitioner stamped at `now_ms` (its device_time_ms). contact_ms saturates at 4095;
 * a zone above 15 is sent as 0 (unknown). */
int ss_device_stamp(ss_device_t *dev, uint32_t now_ms, uint8_t force_dn, uint16_t contact_ms, uint8_t zone);

/* Replayed stamps (the answer to RESUME) go out here, paced by the transport: call it when
 * the link has room for `max_frames` more frames (each SS_MAX_WIRE_FRAME bytes at most).
 * Returns the number sent. */
uint32_t ss_device_replay(ss_device_t *dev, uint32_t max_frames);
/* At most this many replayed stamps still to send (0: no replay in progress). */
uint32_t ss_device_replay_pending(const ss_device_t *dev);

/* 1 once after a HELLO or a boot (then 0 until the next one): bytes the transport still
 * queues from before it belong to the old link session and may be thrown away (they must be,
 * if the transport queues much: the host will not want them). */
int ss_device_take_link_restart(ss_device_t *dev);

/* The arm and disarm buttons. ss_device_arm returns 0, or -1 if refused (battery empty,
 * buffer full). */
int ss_device_arm(ss_device_t *dev, uint32_t now_ms);
void ss_device_disarm(ss_device_t *dev, uint32_t now_ms);
/* A new battery reading: BATTERY when the percentage changed, FAULT LOW_BATTERY at the
 * threshold, FAULT BATTERY_EMPTY (and a disarm) at 0 %. */
void ss_device_battery(ss_device_t *dev, uint32_t now_ms, uint8_t pct, uint16_t millivolts);
/* A head was fitted: HEAD_CHANGED. */
void ss_device_head_changed(ss_device_t *dev, uint32_t now_ms, uint32_t head_id, uint16_t head_uses,
                            uint16_t footprint_mm2);
/* The force sensor read out of range: FAULT SENSOR. */
void ss_device_sensor_fault(ss_device_t *dev, uint32_t now_ms, uint32_t raw);

int ss_device_armed(const ss_device_t *dev);
/* Live frames (stamps, heartbeats, reports) go out now: HELLO answered, host present. */
int ss_device_talking(const ss_device_t *dev);
/* Stamps waiting for an ACK. */
uint32_t ss_device_pending(const ss_device_t *dev);
/* Milliseconds since this boot at `now_ms`. */
uint32_t ss_device_time_ms(const ss_device_t *dev, uint32_t now_ms);

#ifdef __cplusplus
}
#endif

#endif /* STAMPSIDE_H */
