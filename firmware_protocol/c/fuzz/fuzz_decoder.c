/* fuzz_decoder.c: libFuzzer target for the C decoder (and the device that sits on it).
 *
 * Built and run by bench/fuzz_decoder.py --c (clang -fsanitize=fuzzer,address,undefined).
 * An input has the layout of bench/fuzz_target.py, the Python decoder's target, so both share
 * their seeds:
 *
 *   byte 0       mode: bits 0-2 k (chunk lengths that follow), bit 3 frame mode,
 *                bit 4 the device boots as after an unexpected reset, bits 5-7 the clock's
 *                step between chunks (STEPS_MS)
 *   bytes 1..k   chunk lengths, used over and over (none, or all 0: the stream in one piece);
 *                an empty chunk is a reconnect for the device
 *   the rest     the stream; in frame mode records: n < 0x80 and n bytes of header + payload
 *                sent as one frame (COBS, CRC, 0x00, encoded here independently of the
 *                library), or 0x80|n and n bytes put on the wire as they are
 *
 * Checked, on every input (a broken invariant aborts, and libFuzzer keeps the input):
 *
 *   - ss_decoder_feed never reads or writes out of bounds (ASan) and does nothing undefined
 *     (UBSan) whatever the bytes;
 *   - every event is FRAME, UNKNOWN or BAD with a known reason; BAD carries the header only
 *     for version and length; a FRAME is of a type the decoder accepts, in a version it
 *     accepts (or a frozen layout), with the payload size of that version, and its message
 *     encodes back to the same payload bytes, and (as a whole frame) to the same wire bytes,
 *     which this file's own encoder finds in the stream; UNKNOWN is of a type not accepted;
 *   - the events do not depend on the chunking (chunked against whole), and the counters add
 *     up to them;
 *   - ss_decode_payload of every message type in versions 0, 1, 2 and 15 on each checked payload:
 *     OK and a byte-exact round trip when the size is that version's, SS_DECODE_BAD_LENGTH
 *     otherwise; unknown types are refused;
 *   - the device (ss_device_*) fed the chunks, with stamps, replays and ticks between them:
 *     every write is a lone 0x00 or exactly one valid frame, and its non-volatile state
 *     stays valid (ss_nv_valid).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stampside.h"

#define SPLITS_MASK 0x07u
#define FRAME_MODE 0x08u
#define UNEXPECTED_BOOT 0x10u
#define MAX_EVENTS 8192u
#define RING 64u

static const uint32_t STEPS_MS[8] = {0, 10, 50, 200, 500, 1000, 3000, 10000};
static const uint8_t VERSIONS[] = {0, 1, 2, 15};

#define REQUIRE(cond, what)                                                                     \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "invariant broken: %s (%s) at %s:%d\n", what, #cond, __FILE__, __LINE__); \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

/* ---- an encoder of our own, to check the library's against ---------------------------------- */

static uint16_t fz_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xFFFFu;
    size_t i;
    int bit;
    for (i = 0; i < len; i++) {
        crc ^= (uint16_t)(data[i] << 8);
        for (bit = 0; bit < 8; bit++) {
            crc = (uint16_t)((crc & 0x8000u) ? ((unsigned)crc << 1) ^ 0x1021u : (unsigned)crc << 1);
        }
    }
    return crc;
}

/* raw (len bytes) + CRC little-endian, stuffed, then the delimiter; `out` has room for len + 5. */
static size_t fz_encode_frame(const uint8_t *raw, size_t len, uint8_t *out)
{
    uint16_t crc = fz_crc16(raw, len);
    size_t code_at = 0;
    size_t o = 1;
    uint8_t code = 1;
    size_t i;
    for (i = 0; i < len + 2; i++) {
        uint8_t b = i < len ? raw[i] : (uint8_t)(i == len ? crc & 0xFFu : crc >> 8);
        if (b == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = b;
            if (++code == 0xFFu) {
                out[code_at] = code;
                code_at = o++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    out[o++] = 0x00;
    return o;
}

/* Where `needle` first occurs in `hay` at or after `from`; SIZE_MAX if nowhere. */
static size_t find(const uint8_t *hay, size_t hay_len, size_t from, const uint8_t *needle, size_t len)
{
    size_t i;
    for (i = from; i + len <= hay_len; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, len) == 0) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* ---- collecting and checking events -------------------------------------------------------- */

typedef struct fz_event {
    ss_rx_kind_t kind;
    ss_bad_reason_t reason;
    int has_header;
    ss_header_t header;
    size_t payload_len;
    uint8_t payload[SS_MAX_RAW_FRAME];
} fz_event_t;

typedef struct fz_sink {
    uint8_t accept;
    const uint8_t *framed; /* 0x00 + stream + 0x00 */
    size_t framed_len;
    fz_event_t *events;
    size_t count;
    size_t frames, unknown, bad;
    /* One decoder also checks each frame against the stream and decodes each checked payload as
     * every type: */
    int matrix;
    size_t cursor; /* where the next frame may start in `framed` (events come in stream order) */
} fz_sink_t;

static void check_payload_matrix(const uint8_t *payload, size_t len);

static void on_rx(void *ctx, const ss_rx_t *rx)
{
    fz_sink_t *sink = ctx;
    fz_event_t *ev;
    REQUIRE(sink->count < MAX_EVENTS, "too many events");
    ev = &sink->events[sink->count++];
    memset(ev, 0, sizeof *ev);
    ev->kind = rx->kind;
    ev->reason = rx->reason;
    ev->has_header = rx->has_header;
    REQUIRE(rx->kind == SS_RX_FRAME || rx->kind == SS_RX_UNKNOWN || rx->kind == SS_RX_BAD, "event kind");
    if (rx->kind == SS_RX_BAD) {
        REQUIRE(rx->reason > SS_BAD_NONE && rx->reason < SS_BAD_COUNT, "bad reason");
        REQUIRE(ss_bad_reason_name(rx->reason)[0] != '\0', "bad reason has a name");
        REQUIRE(rx->has_header == (rx->reason == SS_BAD_VERSION || rx->reason == SS_BAD_LENGTH),
                "a header exactly for version and length");
        sink->bad++;
    } else {
        REQUIRE(rx->reason == SS_BAD_NONE, "reason on a good frame");
        REQUIRE(rx->has_header, "a checked frame has its header");
        if (rx->kind == SS_RX_FRAME) {
            sink->frames++;
        } else {
            sink->unknown++;
        }
    }
    if (!rx->has_header) {
        return;
    }
    {
        const ss_header_t *h = &rx->header;
        uint8_t senders = ss_message_senders(h->type);
        int frozen = ss_message_frozen(h->type);
        int size = ss_payload_size(h->type, h->version);
        int in_range = (h->version >= SS_VERSION_MIN && h->version <= SS_VERSION_MAX) || frozen;
        uint8_t raw[SS_MAX_RAW_FRAME];
        uint8_t mine[SS_MAX_RAW_FRAME + 8]; /* 0x00, then the frame */
        uint8_t theirs[SS_MAX_WIRE_FRAME];
        size_t mine_len;
        size_t theirs_len;

        REQUIRE(h->version <= 15 && h->flags <= 15, "header nibbles");
        REQUIRE(rx->payload != NULL && rx->payload_len <= SS_MAX_PAYLOAD, "payload size");
        ev->header = *h;
        ev->payload_len = rx->payload_len;
        memcpy(ev->payload, rx->payload, rx->payload_len); /* ASan: the payload is readable */

        /* The frame as this file encodes it is in the stream: canonical and really received. */
        raw[0] = (uint8_t)((h->version << 4) | h->flags);
        raw[1] = h->type;
        raw[2] = h->lseq;
        memcpy(raw + 3, rx->payload, rx->payload_len);
        mine[0] = 0x00;
        mine_len = fz_encode_frame(raw, SS_HEADER_SIZE + rx->payload_len, mine + 1);
        REQUIRE(mine_len <= SS_MAX_WIRE_FRAME, "a checked frame fits a wire frame");
        if (sink->matrix) {
            size_t at = find(sink->framed, sink->framed_len, sink->cursor, mine, mine_len + 1);
            REQUIRE(at != SIZE_MAX, "the checked frame is on the wire, after the one before");
            sink->cursor = at + mine_len; /* its delimiter opens the next run */
        }
        /* The library's frame encoder agrees. */
        theirs_len = ss_frame_encode(h, rx->payload, rx->payload_len, theirs);
        REQUIRE(theirs_len == mine_len && memcmp(theirs, mine + 1, mine_len) == 0, "ss_frame_encode");

        if (rx->kind == SS_RX_UNKNOWN) {
            REQUIRE(!(senders & sink->accept), "UNKNOWN of an accepted type");
        } else if (rx->kind == SS_RX_BAD) {
            REQUIRE(senders & sink->accept, "refused a type not accepted");
            if (rx->reason == SS_BAD_VERSION) {
                REQUIRE(!in_range, "refused a version in range");
            } else {
                REQUIRE(in_range && (size < 0 || (size_t)size != rx->payload_len), "refused the right length");
            }
        } else {
            uint8_t payload[SS_MAX_PAYLOAD];
            int n;
            REQUIRE(senders & sink->accept, "FRAME of a type not accepted");
            REQUIRE(in_range, "FRAME in a version not accepted");
            REQUIRE(size >= 0 && (size_t)size == rx->payload_len, "FRAME of the wrong size");
            REQUIRE(rx->message.type == h->type, "message type");
            n = ss_encode_payload(&rx->message, h->version, payload);
            REQUIRE(n == size && memcmp(payload, rx->payload, rx->payload_len) == 0, "payload round trip");
            if (!frozen || h->version == SS_BASE_VERSION) {
                theirs_len = ss_frame_encode_message(&rx->message, h->version, h->flags, h->lseq, theirs);
                REQUIRE(theirs_len == mine_len && memcmp(theirs, mine + 1, mine_len) == 0, "frame round trip");
            }
        }
        if (sink->matrix) {
            check_payload_matrix(rx->payload, rx->payload_len);
        }
    }
}

/* Every message type, in several versions, on one payload. */
static void check_payload_matrix(const uint8_t *payload, size_t len)
{
    static const uint8_t types[] = {
#define FZ_TYPE_(NAME, name, id, senders, frozen) id,
        SS_MESSAGES(FZ_TYPE_)
#undef FZ_TYPE_
    };
    ss_message_t m;
    uint8_t out[SS_MAX_PAYLOAD];
    size_t t;
    size_t v;
    for (t = 0; t < sizeof types; t++) {
        for (v = 0; v < sizeof VERSIONS; v++) {
            int size = ss_payload_size(types[t], VERSIONS[v]);
            int rc = ss_decode_payload(types[t], VERSIONS[v], payload, len, &m);
            REQUIRE(size >= 0 && size <= SS_MAX_PAYLOAD, "a known type has a size");
            if ((size_t)size != len) {
                REQUIRE(rc == SS_DECODE_BAD_LENGTH, "decode of the wrong length");
                continue;
            }
            REQUIRE(rc == SS_DECODE_OK && m.type == types[t], "decode");
            REQUIRE(ss_encode_payload(&m, VERSIONS[v], out) == size, "encode of a decoded payload");
            REQUIRE(memcmp(out, payload, len) == 0, "payload matrix round trip");
        }
    }
    REQUIRE(ss_payload_size(0x00, 1) < 0 && ss_message_senders(0x00) == 0, "type 0 is unknown");
    REQUIRE(ss_decode_payload(0xFF, 1, payload, len, &m) == SS_DECODE_UNKNOWN_TYPE, "type 0xFF is unknown");
}

static void check_stats(const ss_decoder_t *dec, const fz_sink_t *sink, size_t stream_len)
{
    uint32_t sum = 0;
    int r;
    for (r = 0; r < SS_BAD_COUNT; r++) {
        sum += dec->stats.bad[r];
    }
    REQUIRE(dec->stats.bad[SS_BAD_NONE] == 0, "no bad frame without a reason");
    REQUIRE(dec->stats.bytes == stream_len, "bytes counter");
    REQUIRE(dec->stats.bad_total == sink->bad && sum == sink->bad, "bad counter");
    REQUIRE(dec->stats.frames == sink->frames + sink->unknown, "frames counter");
    REQUIRE(dec->stats.unknown == sink->unknown, "unknown counter");
    REQUIRE(dec->len <= SS_MAX_ENCODED_FRAME, "holds more than a frame");
}

/* The same frame seen by two decoders, whatever types each accepts: the same framing verdict,
 * or the same header and payload. */
static int same_frame(const fz_event_t *a, const fz_event_t *b)
{
    int framing_a = a->kind == SS_RX_BAD && !a->has_header;
    int framing_b = b->kind == SS_RX_BAD && !b->has_header;
    if (framing_a || framing_b) {
        return framing_a && framing_b && a->reason == b->reason;
    }
    return a->has_header && b->has_header && a->header.version == b->header.version &&
           a->header.flags == b->header.flags && a->header.type == b->header.type &&
           a->header.lseq == b->header.lseq && a->payload_len == b->payload_len &&
           memcmp(a->payload, b->payload, a->payload_len) == 0;
}

/* ---- the input ------------------------------------------------------------------------------ */

typedef struct fz_chunk {
    size_t start;
    size_t len;
} fz_chunk_t;

static size_t build_stream(const uint8_t *body, size_t len, int frame_mode, uint8_t *out)
{
    size_t i = 0;
    size_t o = 0;
    if (!frame_mode) {
        memcpy(out, body, len);
        return len;
    }
    while (i < len) {
        uint8_t n = body[i++];
        size_t take = n & 0x7Fu;
        if (take > len - i) {
            take = len - i;
        }
        if (n & 0x80u) {
            memcpy(out + o, body + i, take);
            o += take;
        } else {
            o += fz_encode_frame(body + i, take, out + o);
        }
        i += take;
    }
    return o;
}

static size_t cut(const uint8_t *lengths, size_t k, size_t stream_len, fz_chunk_t *chunks, size_t cap)
{
    size_t n = 0;
    size_t pos = 0;
    size_t i;
    int any = 0;
    for (i = 0; i < k; i++) {
        any |= lengths[i] != 0;
    }
    if (!any) {
        chunks[0].start = 0;
        chunks[0].len = stream_len;
        return 1;
    }
    while (pos < stream_len) {
        for (i = 0; i < k; i++) {
            size_t len = lengths[i];
            if (pos + len > stream_len) {
                len = stream_len - pos;
            }
            REQUIRE(n < cap, "chunks");
            chunks[n].start = pos;
            chunks[n].len = len;
            n++;
            pos += len;
        }
    }
    REQUIRE(n < cap, "chunks");
    chunks[n].start = pos;
    chunks[n].len = 0;
    return n + 1;
}

/* ---- the device ----------------------------------------------------------------------------- */

typedef struct fz_host_view {
    ss_decoder_t dec;
    uint32_t writes;
} fz_host_view_t;

static void on_host_rx(void *ctx, const ss_rx_t *rx)
{
    (void)ctx;
    REQUIRE(rx->kind == SS_RX_FRAME, "the device sent a frame a host does not take");
}

static void on_write(void *ctx, const uint8_t *bytes, size_t len)
{
    fz_host_view_t *view = ctx;
    size_t events;
    REQUIRE(bytes != NULL && len >= 1 && len <= SS_MAX_WIRE_FRAME, "write size");
    REQUIRE(bytes[len - 1] == 0x00, "a write ends with the delimiter");
    events = ss_decoder_feed(&view->dec, bytes, len, on_host_rx, NULL);
    REQUIRE(events == (len == 1 ? 0u : 1u), "a write is one frame, or the lone 0x00");
    view->writes++;
}

static ss_nv_t nv;
static ss_device_t device;

static void drive_device(uint8_t mode, const uint8_t *stream, const fz_chunk_t *chunks, size_t n_chunks)
{
    ss_device_config_t cfg;
    fz_host_view_t view;
    uint32_t step = STEPS_MS[mode >> 5];
    uint32_t now = (mode & 1u) ? 0xFFFFE000u : 1000u; /* an odd k: the clock wraps soon */
    size_t i;
    ss_decoder_init(&view.dec, SS_SENDER_DEVICE);
    view.writes = 0;
    ss_nv_format(&nv, RING, 0x5EED0001u, 1, 0);
    ss_device_config_default(&cfg);
    cfg.write = on_write;
    cfg.ctx = &view;
    REQUIRE(ss_device_init(&device, &cfg, &nv) == 0, "device init");
    ss_device_boot(&device, now, (mode & UNEXPECTED_BOOT) ? SS_BOOT_UNEXPECTED : SS_BOOT_NORMAL);
    for (i = 0; i < n_chunks; i++) {
        const uint8_t *chunk = stream + chunks[i].start;
        size_t len = chunks[i].len;
        ss_device_tick(&device, now);
        if (len == 0 && n_chunks > 1) {
            ss_device_on_disconnect(&device, now);
            ss_device_on_connect(&device, now);
        }
        ss_device_on_bytes(&device, now, chunk, len);
        if (len > 0) {
            (void)ss_device_stamp(&device, now, chunk[0], (uint16_t)(len * 37u), (uint8_t)(chunk[len - 1] & 0x1Fu));
        }
        (void)ss_device_replay(&device, 4);
        REQUIRE(ss_nv_valid(&nv), "nv valid after the chunk's bytes, stamp and replay");
        REQUIRE(ss_device_pending(&device) <= RING, "pending within the ring");
        now += step;
    }
    ss_device_tick(&device, now);
    REQUIRE(ss_nv_valid(&nv), "nv valid at the end");
}

/* ---- the target ----------------------------------------------------------------------------- */

static fz_event_t events_a[MAX_EVENTS];
static fz_event_t events_b[MAX_EVENTS];

static void decode_into(fz_sink_t *sink, uint8_t accept, const uint8_t *stream, const fz_chunk_t *chunks,
                        size_t n_chunks, size_t stream_len)
{
    ss_decoder_t dec;
    size_t i;
    size_t events = 0;
    ss_decoder_init(&dec, accept);
    sink->accept = accept;
    for (i = 0; i < n_chunks; i++) {
        events += ss_decoder_feed(&dec, stream + chunks[i].start, chunks[i].len, on_rx, sink);
    }
    REQUIRE(events == sink->count, "ss_decoder_feed counts its events");
    check_stats(&dec, sink, stream_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int checked_crc;
    uint8_t mode;
    size_t k;
    size_t stream_len;
    size_t n_chunks;
    size_t i;
    uint8_t *stream;
    uint8_t *framed;
    fz_chunk_t *chunks;
    fz_chunk_t whole;
    fz_sink_t a = {0}, b = {0};

    if (!checked_crc) {
        REQUIRE(fz_crc16((const uint8_t *)"123456789", 9) == SS_CRC_CHECK, "this file's CRC");
        checked_crc = 1;
    }
    if (size == 0) {
        return 0;
    }
    mode = data[0];
    k = mode & SPLITS_MASK;
    if (k > size - 1) {
        k = size - 1;
    }
    /* A frame-mode record of n bytes takes n + 1 bytes of input and n + 4 of the stream at most. */
    stream = malloc(4 * size + 16);
    framed = malloc(4 * size + 18);
    REQUIRE(stream && framed, "memory");
    stream_len = build_stream(data + 1 + k, size - 1 - k, (mode & FRAME_MODE) != 0, stream);
    REQUIRE(stream_len <= 4 * size + 16, "stream size");
    framed[0] = 0x00;
    memcpy(framed + 1, stream, stream_len);
    framed[stream_len + 1] = 0x00;
    /* Chunk lengths like 1, 0, 0, 0, 0, 0, 0 cut k chunks per byte. */
    chunks = malloc(sizeof *chunks * (8 * stream_len + 16));
    REQUIRE(chunks, "memory");
    n_chunks = cut(data + 1, k, stream_len, chunks, 8 * stream_len + 16);
    whole.start = 0;
    whole.len = stream_len;

    /* A device's decoder (it takes what hosts send) fed the chunks, and a sniffer's (it takes
     * both ways) fed the whole stream: the same frames, whatever the chunks. */
    a.framed = b.framed = framed;
    a.framed_len = b.framed_len = stream_len + 2;
    a.events = events_a;
    b.events = events_b;
    b.matrix = 1;
    decode_into(&a, SS_SENDER_HOST, stream, chunks, n_chunks, stream_len);
    decode_into(&b, SS_SENDER_HOST | SS_SENDER_DEVICE, stream, &whole, 1, stream_len);
    REQUIRE(a.count == b.count, "chunked and whole give as many events");
    for (i = 0; i < a.count; i++) {
        REQUIRE(same_frame(&events_a[i], &events_b[i]), "chunked and whole give the same frames");
    }

    drive_device(mode, stream, chunks, n_chunks);

    free(chunks);
    free(framed);
    free(stream);
    return 0;
}
