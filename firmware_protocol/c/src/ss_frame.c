/* Frames: encoding, and the streaming decoder with the rejection reasons of
 * firmware_protocol/framing.py and connection.py (docs/protocol.md section 1). */
#include "stampside.h"

#include <string.h>

#include "ss_bytes.h"

#define SS_CRC_OFFSET_LOW 0
#define SS_CRC_OFFSET_HIGH 1
/* Half of the link sequence circle: a jump back by more is a restarted sender, not a loss. */
#define SS_LSEQ_HALF 128u

size_t ss_frame_encode(const ss_header_t *header, const uint8_t *payload, size_t len,
                       uint8_t out[SS_MAX_WIRE_FRAME])
{
    uint8_t raw[SS_MAX_RAW_FRAME];
    uint16_t crc;
    size_t raw_len;
    size_t n;
    if (len > SS_MAX_PAYLOAD) {
        return 0;
    }
    raw[SS_HEADER_VERSION_BYTE] = (uint8_t)(((header->version & SS_HEADER_VERSION_MASK) << SS_HEADER_VERSION_SHIFT) |
                                            ((header->flags & SS_HEADER_FLAGS_MASK) << SS_HEADER_FLAGS_SHIFT));
    raw[SS_HEADER_TYPE_BYTE] = header->type;
    raw[SS_HEADER_LSEQ_BYTE] = header->lseq;
    if (len > 0) {
        memcpy(raw + SS_HEADER_SIZE, payload, len);
    }
    raw_len = SS_HEADER_SIZE + len;
    crc = ss_crc16(raw, raw_len);
    ss_put_u16(raw + raw_len, crc); /* little-endian: low byte first */
    raw_len += SS_CRC_SIZE;
    n = ss_cobs_encode(raw, raw_len, out);
    out[n++] = SS_DELIMITER;
    return n;
}

size_t ss_frame_encode_message(const ss_message_t *message, uint8_t version, uint8_t flags, uint8_t lseq,
                               uint8_t out[SS_MAX_WIRE_FRAME])
{
    uint8_t payload[SS_MAX_PAYLOAD];
    ss_header_t header;
    int len;
    if (ss_message_frozen(message->type)) {
        version = SS_BASE_VERSION;
    }
    len = ss_encode_payload(message, version, payload);
    if (len < 0) {
        return 0;
    }
    header.version = version;
    header.flags = flags;
    header.type = message->type;
    header.lseq = lseq;
    return ss_frame_encode(&header, payload, (size_t)len, out);
}

/* ---- decoder ------------------------------------------------------------------------ */

const char *ss_bad_reason_name(ss_bad_reason_t reason)
{
    switch (reason) {
#define SS_REASON_CASE_(ENUM, name) \
    case ENUM:                      \
        return name;
        SS_BAD_REASONS(SS_REASON_CASE_)
#undef SS_REASON_CASE_
    default:
        return "";
    }
}

void ss_decoder_init(ss_decoder_t *dec, uint8_t accept)
{
    memset(dec, 0, sizeof *dec);
    dec->accept = accept;
    dec->min_version = SS_VERSION_MIN;
    dec->max_version = SS_VERSION_MAX;
}

void ss_decoder_set_versions(ss_decoder_t *dec, uint8_t min_version, uint8_t max_version)
{
    dec->min_version = min_version;
    dec->max_version = max_version;
}

void ss_decoder_reset(ss_decoder_t *dec)
{
    dec->len = 0;
    dec->discarding = 0;
    dec->have_lseq = 0;
}

static ss_rx_kind_t bad(ss_decoder_t *dec, ss_rx_t *rx, ss_bad_reason_t reason)
{
    dec->stats.bad[reason]++;
    dec->stats.bad_total++;
    dec->in_bad_run = 1;
    rx->kind = SS_RX_BAD;
    rx->reason = reason;
    return SS_RX_BAD;
}

/* A whole run of bytes between two delimiters: check it in the spec's order. */
static ss_rx_kind_t check_frame(ss_decoder_t *dec, ss_rx_t *rx)
{
    int raw_len = ss_cobs_decode(dec->buf, dec->len, dec->raw, sizeof dec->raw);
    size_t body_len;
    uint8_t type;
    uint8_t version;
    int size;
    memset(rx, 0, sizeof *rx);
    if (raw_len < 0) {
        return bad(dec, rx, SS_BAD_COBS);
    }
    if (raw_len < SS_MIN_RAW_FRAME) {
        return bad(dec, rx, SS_BAD_SHORT);
    }
    body_len = (size_t)raw_len - SS_CRC_SIZE;
    if (ss_crc16(dec->raw, body_len) != ss_get_u16(dec->raw + body_len)) {
        return bad(dec, rx, SS_BAD_CRC);
    }
    /* The frame is intact: whatever comes next, the peer sent it. */
    if (dec->in_bad_run) {
        dec->in_bad_run = 0;
        dec->stats.resyncs++;
    }
    dec->stats.frames++;
    version = (uint8_t)((dec->raw[SS_HEADER_VERSION_BYTE] >> SS_HEADER_VERSION_SHIFT) & SS_HEADER_VERSION_MASK);
    type = dec->raw[SS_HEADER_TYPE_BYTE];
    rx->has_header = 1;
    rx->header.version = version;
    rx->header.flags = (uint8_t)((dec->raw[SS_HEADER_FLAGS_BYTE] >> SS_HEADER_FLAGS_SHIFT) & SS_HEADER_FLAGS_MASK);
    rx->header.type = type;
    rx->header.lseq = dec->raw[SS_HEADER_LSEQ_BYTE];
    rx->payload = dec->raw + SS_HEADER_SIZE;
    rx->payload_len = body_len - SS_HEADER_SIZE;
    if (dec->have_lseq && rx->header.lseq != dec->next_lseq) {
        uint8_t missed = (uint8_t)(rx->header.lseq - dec->next_lseq);
        if (missed < SS_LSEQ_HALF) {
            dec->stats.lseq_gaps += missed;
        }
    }
    dec->have_lseq = 1;
    dec->next_lseq = (uint8_t)(rx->header.lseq + 1u);
    if (!(ss_message_senders(type) & dec->accept)) {
        dec->stats.unknown++;
        rx->kind = SS_RX_UNKNOWN;
        return SS_RX_UNKNOWN;
    }
    if ((version < dec->min_version || version > dec->max_version) && !ss_message_frozen(type)) {
        dec->stats.frames--;
        return bad(dec, rx, SS_BAD_VERSION);
    }
    size = ss_payload_size(type, version);
    if (size < 0 || rx->payload_len != (size_t)size) {
        dec->stats.frames--;
        return bad(dec, rx, SS_BAD_LENGTH);
    }
    (void)ss_decode_payload(type, version, rx->payload, rx->payload_len, &rx->message);
    rx->kind = SS_RX_FRAME;
    return SS_RX_FRAME;
}

ss_rx_kind_t ss_decoder_push(ss_decoder_t *dec, uint8_t byte, ss_rx_t *rx)
{
    ss_rx_kind_t kind = SS_RX_NONE;
    rx->kind = SS_RX_NONE;
    dec->stats.bytes++;
    if (byte != SS_DELIMITER) {
        if (dec->discarding) {
            return SS_RX_NONE;
        }
        if (dec->len >= SS_MAX_ENCODED_FRAME) {
            /* One byte too many without a delimiter: drop the run up to the next 0x00. */
            dec->len = 0;
            dec->discarding = 1;
            memset(rx, 0, sizeof *rx);
            return bad(dec, rx, SS_BAD_OVERSIZE);
        }
        dec->buf[dec->len++] = byte;
        return SS_RX_NONE;
    }
    if (dec->discarding) {
        dec->discarding = 0; /* the end of an oversize run, already reported */
    } else if (dec->len > 0) {
        kind = check_frame(dec, rx);
    } /* else: an empty frame is idle fill */
    dec->len = 0;
    return kind;
}

size_t ss_decoder_feed(ss_decoder_t *dec, const uint8_t *data, size_t len, ss_rx_fn on_rx, void *ctx)
{
    size_t events = 0;
    size_t i;
    ss_rx_t rx;
    for (i = 0; i < len; i++) {
        if (ss_decoder_push(dec, data[i], &rx) != SS_RX_NONE) {
            events++;
            if (on_rx != NULL) {
                on_rx(ctx, &rx);
            }
        }
    }
    return events;
}
