/* Unit tests of the C reference implementation: every vector of firmware_protocol/vectors.json
 * (tests/vectors.inc), the decoder's rejection reasons, the ring buffer across a reboot and a
 * scripted conversation with the device. Prints one line per failed check and a summary;
 * exits 1 if anything failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stampside.h"
#include "vectors.inc"

static int checks;
static int failures;

#define CHECK(cond)                                                          \
    do {                                                                     \
        checks++;                                                            \
        if (!(cond)) {                                                       \
            failures++;                                                      \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                    \
    } while (0)

#define CHECK_EQ(a, b)                                                                            \
    do {                                                                                          \
        unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);            \
        checks++;                                                                                 \
        if (a_ != b_) {                                                                           \
            failures++;                                                                           \
            printf("FAIL %s:%d: %s == %s (%llu != %llu)\n", __FILE__, __LINE__, #a, #b, a_, b_); \
        }                                                                                         \
    } while (0)

/* ---- helpers ------------------------------------------------------------------------------ */

/* Collects decoder events. */
#define MAX_EVENTS 256
typedef struct events {
    size_t n;
    ss_rx_t rx[MAX_EVENTS];
} events_t;

static void collect(void *ctx, const ss_rx_t *rx)
{
    events_t *ev = ctx;
    if (ev->n < MAX_EVENTS) {
        ev->rx[ev->n] = *rx;
        ev->rx[ev->n].payload = NULL; /* points into the decoder: not valid later */
        ev->n++;
    }
}

/* The device under test writes here; a host-side decoder reads it back. */
#define OUT_CAP 65536
typedef struct link {
    uint8_t out[OUT_CAP];
    size_t len;
    unsigned nv_writes;
} link_t;

static void link_write(void *ctx, const uint8_t *bytes, size_t len)
{
    link_t *l = ctx;
    if (l->len + len <= OUT_CAP) {
        memcpy(l->out + l->len, bytes, len);
        l->len += len;
    }
}

static void link_nv(void *ctx, const ss_nv_t *nv)
{
    link_t *l = ctx;
    (void)nv;
    l->nv_writes++;
}

/* Everything the device sent since the last call, decoded as a host decodes it. */
static void take(link_t *l, events_t *ev)
{
    ss_decoder_t host;
    ss_decoder_init(&host, SS_SENDER_DEVICE);
    ev->n = 0;
    ss_decoder_feed(&host, l->out, l->len, collect, ev);
    l->len = 0;
}

/* Sends a host message to the device with the host's link seq counter. */
typedef struct host {
    uint8_t lseq;
    uint8_t version;
} host_t;

static void host_send(ss_device_t *dev, host_t *h, uint32_t now, const ss_message_t *m)
{
    uint8_t wire[SS_MAX_WIRE_FRAME];
    size_t n = ss_frame_encode_message(m, h->version, 0, h->lseq++, wire);
    ss_device_on_bytes(dev, now, wire, n);
}

static ss_message_t msg(uint8_t type)
{
    ss_message_t m;
    memset(&m, 0, sizeof m);
    m.type = type;
    return m;
}

static void hello(ss_device_t *dev, host_t *h, uint32_t now, uint8_t lo, uint8_t hi)
{
    ss_message_t m = msg(SS_MESSAGE_TYPE_HELLO);
    m.as.hello.min_version = lo;
    m.as.hello.max_version = hi;
    host_send(dev, h, now, &m);
}

static void resume(ss_device_t *dev, host_t *h, uint32_t now, uint16_t boot, uint32_t seq, uint32_t epoch)
{
    ss_message_t m = msg(SS_MESSAGE_TYPE_RESUME);
    m.as.resume.boot = boot;
    m.as.resume.seq = seq;
    m.as.resume.epoch = epoch;
    host_send(dev, h, now, &m);
}

static void ack(ss_device_t *dev, host_t *h, uint32_t now, uint32_t seq)
{
    ss_message_t m = msg(SS_MESSAGE_TYPE_ACK);
    m.as.ack.seq = seq;
    host_send(dev, h, now, &m);
}

static int is(const events_t *ev, size_t i, uint8_t type)
{
    return i < ev->n && ev->rx[i].kind == SS_RX_FRAME && ev->rx[i].message.type == type;
}

static ss_nv_t nv_a;
static ss_nv_t nv_b;
static link_t link_a;

static void start_device(ss_device_t *dev, ss_nv_t *nv, link_t *l, uint32_t capacity)
{
    ss_device_config_t cfg;
    ss_device_config_default(&cfg);
    cfg.write = link_write;
    cfg.nv_changed = link_nv;
    cfg.ctx = l;
    memset(l, 0, sizeof *l);
    ss_nv_format(nv, capacity, 0x5EED1234u, 1, 0);
    CHECK(ss_device_init(dev, &cfg, nv) == 0);
    ss_device_boot(dev, 1000, SS_BOOT_NORMAL);
}

/* ---- CRC and COBS ---------------------------------------------------------------------------- */

static void test_crc(void)
{
    static const uint8_t check[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
    CHECK_EQ(ss_crc16(check, sizeof check), SS_CRC_CHECK);
    CHECK_EQ(ss_crc16(check, 0), SS_CRC_INIT);
}

static void test_cobs(void)
{
    uint8_t in[600];
    uint8_t enc[SS_COBS_ENCODED_MAX(sizeof in)];
    uint8_t dec[sizeof in];
    size_t sizes[] = {0, 1, 2, 69, 253, 254, 255, 508, 600};
    size_t s;
    int pattern;
    for (pattern = 0; pattern < 3; pattern++) {
        for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t n = sizes[s];
            size_t i;
            size_t e;
            int d;
            for (i = 0; i < n; i++) {
                in[i] = pattern == 0 ? 0 : pattern == 1 ? (uint8_t)(i % 255u + 1u) : (uint8_t)(i * 7u);
            }
            e = ss_cobs_encode(in, n, enc);
            CHECK(e <= SS_COBS_ENCODED_MAX(n));
            CHECK(memchr(enc, 0, e) == NULL);
            d = ss_cobs_decode(enc, e, dec, sizeof dec);
            CHECK_EQ(d, n);
            CHECK(d >= 0 && memcmp(in, dec, n) == 0);
        }
    }
    {
        /* invalid: a code byte past the end, a zero inside, output too small */
        static const uint8_t past[] = {0x05, 0x01};
        static const uint8_t zero[] = {0x03, 0x00, 0x01};
        static const uint8_t ok[] = {0x03, 0x01, 0x02};
        CHECK_EQ(ss_cobs_decode(past, sizeof past, dec, sizeof dec), -1);
        CHECK_EQ(ss_cobs_decode(zero, sizeof zero, dec, sizeof dec), -1);
        CHECK_EQ(ss_cobs_decode(ok, sizeof ok, dec, 1), -1);
        CHECK_EQ(ss_cobs_decode(ok, sizeof ok, dec, 2), 2);
    }
}

/* ---- vectors ----------------------------------------------------------------------------------- */

static void test_vectors(void)
{
    size_t i;
    size_t versions_seen = 0;
    for (i = 0; i < SS_VECTOR_COUNT; i++) {
        const ss_vector_t *v = &ss_vectors[i];
        uint8_t wire[SS_MAX_WIRE_FRAME];
        uint8_t again[SS_MAX_WIRE_FRAME];
        size_t n;
        size_t n2;
        events_t ev;
        ss_decoder_t dec;
        /* fields -> bytes: exactly the vector's bytes */
        n = ss_frame_encode_message(&v->message, v->version, v->flags, v->lseq, wire);
        if (n != v->wire_len || memcmp(wire, v->wire, n) != 0) {
            printf("FAIL vector %s: encodes to other bytes\n", v->name);
            failures++;
        }
        checks++;
        /* bytes -> fields, in the receiving role */
        ss_decoder_init(&dec, v->sender == SS_SENDER_HOST ? SS_SENDER_HOST : SS_SENDER_DEVICE);
        ev.n = 0;
        ss_decoder_feed(&dec, v->wire, v->wire_len, collect, &ev);
        CHECK_EQ(ev.n, 1);
        CHECK_EQ(ev.rx[0].kind, SS_RX_FRAME);
        CHECK_EQ(ev.rx[0].header.version, v->version);
        CHECK_EQ(ev.rx[0].header.flags, v->flags);
        CHECK_EQ(ev.rx[0].header.lseq, v->lseq);
        CHECK_EQ(ev.rx[0].message.type, v->message.type);
        /* the decoded fields are the vector's: they encode to the same bytes */
        n2 = ss_frame_encode_message(&ev.rx[0].message, v->version, v->flags, v->lseq, again);
        if (n2 != v->wire_len || memcmp(again, v->wire, n2) != 0) {
            printf("FAIL vector %s: decodes to other fields\n", v->name);
            failures++;
        }
        checks++;
        CHECK(strcmp(ss_message_name(v->message.type), "?") != 0);
        versions_seen |= (size_t)1u << v->version;
    }
    CHECK(versions_seen & (1u << SS_VERSION_MAX));
    printf("vectors: %d frames checked\n", SS_VECTOR_COUNT);
}

static void test_vector_fields(void)
{
    /* A few fields spelled out, so a generator bug that is consistent both ways still fails. */
    size_t i;
    for (i = 0; i < SS_VECTOR_COUNT; i++) {
        const ss_vector_t *v = &ss_vectors[i];
        ss_decoder_t dec;
        events_t ev;
        ss_decoder_init(&dec, SS_SENDER_HOST | SS_SENDER_DEVICE);
        ev.n = 0;
        ss_decoder_feed(&dec, v->wire, v->wire_len, collect, &ev);
        if (ev.n != 1) {
            continue;
        }
        if (v->message.type == SS_MESSAGE_TYPE_STAMP) {
            const ss_stamp_t *a = &ev.rx[0].message.as.stamp;
            const ss_stamp_t *b = &v->message.as.stamp;
            CHECK_EQ(a->boot, b->boot);
            CHECK_EQ(a->seq, b->seq);
            CHECK_EQ(a->device_time_ms, b->device_time_ms);
            CHECK_EQ(a->force_dn, b->force_dn);
            CHECK_EQ(a->contact_ms, b->contact_ms);
            CHECK_EQ(a->zone, b->zone);
        } else if (v->message.type == SS_MESSAGE_TYPE_DEVICE_INFO) {
            const ss_device_info_t *a = &ev.rx[0].message.as.device_info;
            const ss_device_info_t *b = &v->message.as.device_info;
            CHECK(memcmp(a->serial, b->serial, sizeof a->serial) == 0);
            CHECK_EQ(a->last_seq, b->last_seq);
            CHECK_EQ(a->head_id, b->head_id);
            CHECK_EQ(a->boot, b->boot);
        } else if (v->message.type == SS_MESSAGE_TYPE_RESUME_REPLY) {
            CHECK_EQ(ev.rx[0].message.as.resume_reply.epoch, v->message.as.resume_reply.epoch);
            CHECK_EQ(ev.rx[0].message.as.resume_reply.count, v->message.as.resume_reply.count);
        } else if (v->message.type == SS_MESSAGE_TYPE_TIME_SYNC) {
            CHECK_EQ(ev.rx[0].message.as.time_sync.host_unix_ms, v->message.as.time_sync.host_unix_ms);
        }
    }
}

static void test_bad_vectors(void)
{
    size_t i;
    for (i = 0; i < SS_BAD_VECTOR_COUNT; i++) {
        const ss_bad_vector_t *v = &ss_bad_vectors[i];
        ss_decoder_t dec;
        events_t ev;
        ss_decoder_init(&dec, SS_SENDER_DEVICE); /* a host receives them */
        ev.n = 0;
        ss_decoder_feed(&dec, v->wire, v->wire_len, collect, &ev);
        if (ev.n != 1 || ev.rx[0].kind != SS_RX_BAD || ev.rx[0].reason != v->reason) {
            printf("FAIL bad vector %s: want %s, got %zu events (%s)\n", v->name, ss_bad_reason_name(v->reason), ev.n,
                   ev.n ? ss_bad_reason_name(ev.rx[0].reason) : "-");
            failures++;
        }
        checks++;
        CHECK_EQ(dec.stats.bad[v->reason], 1);
        CHECK_EQ(dec.stats.frames, 0);
    }
    printf("bad vectors: %d checked\n", SS_BAD_VECTOR_COUNT);
}

/* ---- decoder --------------------------------------------------------------------------------- */

static size_t frame_of(uint8_t type, uint8_t version, uint8_t lseq, uint8_t out[SS_MAX_WIRE_FRAME])
{
    ss_message_t m = msg(type);
    if (type == SS_MESSAGE_TYPE_HELLO) {
        m.as.hello.min_version = 1;
        m.as.hello.max_version = 2;
    }
    return ss_frame_encode_message(&m, version, 0, lseq, out);
}

static void test_decoder(void)
{
    ss_decoder_t dec;
    events_t ev;
    uint8_t f[SS_MAX_WIRE_FRAME];
    size_t n;
    size_t i;
    uint8_t junk[200];

    /* idle fill, then a frame split into single bytes */
    ss_decoder_init(&dec, SS_SENDER_HOST);
    ev.n = 0;
    n = frame_of(SS_MESSAGE_TYPE_PING, 1, 0, f);
    ss_decoder_feed(&dec, (const uint8_t *)"\0\0\0", 3, collect, &ev);
    for (i = 0; i < n; i++) {
        ss_decoder_feed(&dec, f + i, 1, collect, &ev);
    }
    CHECK_EQ(ev.n, 1);
    CHECK(is(&ev, 0, SS_MESSAGE_TYPE_PING));

    /* oversize: reported once, then the next frame after the delimiter decodes */
    memset(junk, 0x01, sizeof junk);
    ev.n = 0;
    ss_decoder_feed(&dec, junk, sizeof junk, collect, &ev);
    CHECK_EQ(ev.n, 1);
    CHECK_EQ(ev.rx[0].reason, SS_BAD_OVERSIZE);
    n = frame_of(SS_MESSAGE_TYPE_ARM, 1, 1, f);
    ss_decoder_feed(&dec, (const uint8_t *)"\0", 1, collect, &ev);
    ss_decoder_feed(&dec, f, n, collect, &ev);
    CHECK_EQ(ev.n, 2);
    CHECK(is(&ev, 1, SS_MESSAGE_TYPE_ARM));
    CHECK_EQ(dec.stats.resyncs, 1);

    /* exactly SS_MAX_ENCODED_FRAME bytes is not oversize (it fails later checks) */
    ev.n = 0;
    ss_decoder_feed(&dec, junk, SS_MAX_ENCODED_FRAME, collect, &ev);
    ss_decoder_feed(&dec, (const uint8_t *)"\0", 1, collect, &ev);
    CHECK_EQ(ev.n, 1);
    CHECK(ev.rx[0].reason != SS_BAD_OVERSIZE);

    /* a frame cut short by the next one's start: dropped, the next survives */
    ev.n = 0;
    n = frame_of(SS_MESSAGE_TYPE_PING, 1, 2, f);
    ss_decoder_feed(&dec, f, n / 2, collect, &ev);
    ss_decoder_feed(&dec, (const uint8_t *)"\0", 1, collect, &ev);
    ss_decoder_feed(&dec, f, n, collect, &ev);
    CHECK_EQ(ev.n, 2);
    CHECK_EQ(ev.rx[0].kind, SS_RX_BAD);
    CHECK(is(&ev, 1, SS_MESSAGE_TYPE_PING));

    /* a type this role does not accept: UNKNOWN, header kept */
    ev.n = 0;
    n = frame_of(SS_MESSAGE_TYPE_PONG, 1, 9, f);
    ss_decoder_feed(&dec, f, n, collect, &ev);
    CHECK_EQ(ev.n, 1);
    CHECK_EQ(ev.rx[0].kind, SS_RX_UNKNOWN);
    CHECK_EQ(ev.rx[0].header.lseq, 9);
    CHECK_EQ(dec.stats.lseq_gaps, 6); /* 3 .. 8 never came */

    /* a frozen layout is accepted in any version; other types are not */
    {
        ss_header_t h = {9, 0, SS_MESSAGE_TYPE_HELLO, 10};
        static const uint8_t payload[SS_HELLO_SIZE_V1] = {1, 2};
        ev.n = 0;
        n = ss_frame_encode(&h, payload, sizeof payload, f);
        ss_decoder_feed(&dec, f, n, collect, &ev);
        h.type = SS_MESSAGE_TYPE_ARM;
        n = ss_frame_encode(&h, payload, 0, f);
        ss_decoder_feed(&dec, f, n, collect, &ev);
        CHECK_EQ(ev.n, 2);
        CHECK(is(&ev, 0, SS_MESSAGE_TYPE_HELLO));
        CHECK_EQ(ev.rx[1].reason, SS_BAD_VERSION);
        CHECK_EQ(ev.rx[1].has_header, 1);
        CHECK_EQ(ev.rx[1].header.type, SS_MESSAGE_TYPE_ARM);
    }

    /* RESUME in v1 and v2 layouts; a v1-sized RESUME in v2 is a length error */
    {
        ss_message_t m = msg(SS_MESSAGE_TYPE_RESUME);
        ss_header_t h = {2, 0, SS_MESSAGE_TYPE_RESUME, 0};
        uint8_t payload[SS_MAX_PAYLOAD];
        m.as.resume.seq = 7;
        m.as.resume.epoch = 0xABCDu;
        ev.n = 0;
        n = ss_frame_encode_message(&m, 2, 0, 0, f);
        ss_decoder_feed(&dec, f, n, collect, &ev);
        n = ss_frame_encode_message(&m, 1, 0, 1, f);
        ss_decoder_feed(&dec, f, n, collect, &ev);
        CHECK_EQ(ss_encode_payload(&m, 1, payload), SS_RESUME_SIZE_V1);
        n = ss_frame_encode(&h, payload, SS_RESUME_SIZE_V1, f);
        ss_decoder_feed(&dec, f, n, collect, &ev);
        CHECK_EQ(ev.n, 3);
        CHECK_EQ(ev.rx[0].message.as.resume.epoch, 0xABCDu);
        CHECK_EQ(ev.rx[1].message.as.resume.epoch, 0);
        CHECK_EQ(ev.rx[1].message.as.resume.seq, 7);
        CHECK_EQ(ev.rx[2].reason, SS_BAD_LENGTH);
    }

    /* encoding refuses bit fields out of range */
    {
        ss_message_t m = msg(SS_MESSAGE_TYPE_STAMP);
        m.as.stamp.contact_ms = SS_STAMP_CONTACT_MS_MAX + 1;
        CHECK_EQ(ss_frame_encode_message(&m, 1, 0, 0, f), 0);
        m.as.stamp.contact_ms = 0;
        m.as.stamp.zone = SS_STAMP_ZONE_MAX + 1;
        CHECK_EQ(ss_frame_encode_message(&m, 1, 0, 0, f), 0);
    }

    /* every reason has its stable name */
    CHECK(strcmp(ss_bad_reason_name(SS_BAD_COBS), "cobs") == 0);
    CHECK(strcmp(ss_bad_reason_name(SS_BAD_LENGTH), "length") == 0);

    /* random bytes: never a crash, every event consistent */
    {
        uint32_t x = 12345u;
        ss_rx_t rx;
        for (i = 0; i < 200000u; i++) {
            ss_rx_kind_t k;
            x = x * 1103515245u + 12345u;
            k = ss_decoder_push(&dec, (uint8_t)((x >> 16) % 7u == 0u ? 0u : (x >> 8)), &rx);
            CHECK(k == SS_RX_NONE || k == rx.kind);
        }
    }
}

/* ---- the ring buffer --------------------------------------------------------------------------- */

static void test_ring(void)
{
    ss_stamp_t s;
    uint32_t i;
    memset(&s, 0, sizeof s);
    ss_nv_format(&nv_a, 3, 1, 1, 0);
    CHECK(ss_nv_valid(&nv_a));
    for (i = 1; i <= 3; i++) {
        s.seq = i;
        nv_a.last_seq = i;
        CHECK_EQ(ss_ring_push(&nv_a, &s), 0);
    }
    s.seq = 4;
    CHECK_EQ(ss_ring_push(&nv_a, &s), -1);
    CHECK(ss_ring_full(&nv_a));
    CHECK_EQ(ss_ring_ack(&nv_a, 2), 2);
    CHECK_EQ(ss_ring_ack(&nv_a, 2), 0);
    for (i = 4; i <= 5; i++) {
        s.seq = i;
        nv_a.last_seq = i;
        CHECK_EQ(ss_ring_push(&nv_a, &s), 0); /* wraps around */
    }
    CHECK_EQ(ss_ring_count(&nv_a), 3);
    CHECK_EQ(ss_ring_at(&nv_a, 0)->seq, 3);
    CHECK_EQ(ss_ring_at(&nv_a, 2)->seq, 5);
    CHECK(ss_ring_at(&nv_a, 3) == NULL);
    CHECK_EQ(ss_ring_lower_bound(&nv_a, 4), 1);
    CHECK_EQ(ss_ring_lower_bound(&nv_a, 99), 3);
    CHECK(ss_nv_valid(&nv_a));
    CHECK_EQ(ss_ring_ack(&nv_a, 100), 3);
    nv_a.epoch = 0;
    CHECK(!ss_nv_valid(&nv_a));
    nv_a.epoch = 1;
    nv_a.count = 9;
    CHECK(!ss_nv_valid(&nv_a));
}

/* The buffer and numbering survive a reboot: the firmware's flash is nv; RAM is the device. */
static void test_reboot_keeps_buffer(void)
{
    static ss_device_t dev;
    host_t h = {0, 1};
    events_t ev;
    ss_device_config_t cfg;
    uint32_t i;
    start_device(&dev, &nv_a, &link_a, 8);
    take(&link_a, &ev);
    CHECK_EQ(ev.n, 1);
    CHECK(is(&ev, 0, SS_MESSAGE_TYPE_DEVICE_INFO));
    CHECK_EQ(ev.rx[0].header.flags, SS_FLAG_ANNOUNCE);
    CHECK_EQ(ev.rx[0].message.as.device_info.boot, 1);
    CHECK_EQ(ss_device_arm(&dev, 1100), 0);
    for (i = 0; i < 3; i++) {
        CHECK_EQ(ss_device_stamp(&dev, 1200 + i * 10, 60, 180, 0), SS_STAMP_COUNTED);
    }
    CHECK_EQ(nv_a.last_seq, 3);
    /* power loss: only nv survives (copied, as flash would keep it) */
    memcpy(&nv_b, &nv_a, sizeof nv_b);
    memset(&dev, 0xA5, sizeof dev);
    cfg = link_a.nv_writes ? dev.cfg : dev.cfg; /* garbage: build a fresh config */
    ss_device_config_default(&cfg);
    cfg.write = link_write;
    cfg.ctx = &link_a;
    link_a.len = 0;
    CHECK_EQ(ss_device_init(&dev, &cfg, &nv_b), 0);
    ss_device_boot(&dev, 50, SS_BOOT_UNEXPECTED);
    CHECK_EQ(nv_b.boot, 2);
    CHECK_EQ(ss_device_pending(&dev), 3);
    CHECK(!ss_device_armed(&dev));
    take(&link_a, &ev);
    CHECK_EQ(ev.n, 1);
    CHECK_EQ(ev.rx[0].message.as.device_info.boot, 2);
    CHECK_EQ(ev.rx[0].message.as.device_info.last_seq, 3);
    /* HELLO: DEVICE_INFO, then ARM_STATE(0, BOOT) and FAULT UNEXPECTED_REBOOT(2) */
    hello(&dev, &h, 100, 1, 1);
    take(&link_a, &ev);
    CHECK_EQ(ev.n, 3);
    CHECK(is(&ev, 0, SS_MESSAGE_TYPE_DEVICE_INFO));
    CHECK_EQ(ev.rx[0].message.as.device_info.selected_version, 1);
    CHECK(is(&ev, 1, SS_MESSAGE_TYPE_ARM_STATE));
    CHECK_EQ(ev.rx[1].message.as.arm_state.reason, SS_ARM_REASON_BOOT);
    CHECK(is(&ev, 2, SS_MESSAGE_TYPE_FAULT));
    CHECK_EQ(ev.rx[2].message.as.fault.code, SS_FAULT_CODE_UNEXPECTED_REBOOT);
    CHECK_EQ(ev.rx[2].message.as.fault.detail, 2);
    /* RESUME(0, 0): everything from boot 1 comes back with REPLAY */
    resume(&dev, &h, 110, 0, 0, 0);
    CHECK_EQ(ss_device_replay(&dev, 100), 3);
    take(&link_a, &ev);
    CHECK_EQ(ev.n, 4);
    CHECK(is(&ev, 0, SS_MESSAGE_TYPE_RESUME_REPLY));
    CHECK_EQ(ev.rx[0].message.as.resume_reply.boot, 1);
    CHECK_EQ(ev.rx[0].message.as.resume_reply.first_seq, 1);
    CHECK_EQ(ev.rx[0].message.as.resume_reply.count, 3);
    for (i = 1; i < 4; i++) {
        CHECK(is(&ev, i, SS_MESSAGE_TYPE_STAMP));
        CHECK_EQ(ev.rx[i].header.flags, SS_FLAG_REPLAY);
        CHECK_EQ(ev.rx[i].message.as.stamp.seq, i);
        CHECK_EQ(ev.rx[i].message.as.stamp.device_time_ms, 200 + (i - 1) * 10);
    }
    ack(&dev, &h, 120, 2);
    CHECK_EQ(ss_device_pending(&dev), 1);
    /* the numbering carries on: the next stamp is seq 4 of boot 2 */
    ss_device_arm(&dev, 130);
    take(&link_a, &ev);
    CHECK(is(&ev, 0, SS_MESSAGE_TYPE_ARM_STATE));
    CHECK_EQ(ss_device_stamp(&dev, 140, 61, 170, 3), SS_STAMP_COUNTED);
    take(&link_a, &ev);
    CHECK(is(&ev, 0, SS_MESSAGE_TYPE_STAMP));
    CHECK_EQ(ev.rx[0].message.as.stamp.boot, 2);
    CHECK_EQ(ev.rx[0].message.as.stamp.seq, 4);
    CHECK_EQ(ev.rx[0].message.as.stamp.zone, 3);
}

/* A replay is the RESUME's snapshot: stamps acknowledged meanwhile still go out, unless a new
 * stamp has reused their slot (then they are skipped: the host has them). */
static void test_replay_snapshot(void)
{
    static ss_device_t dev;
    host_t h = {0, 1};
    events_t ev;
    uint32_t i;
    start_device(&dev, &nv_a, &link_a, 3);
    hello(&dev, &h, 1000, 1, 1);
    ss_device_arm(&dev, 1000);
    for (i = 0; i < 3; i++) {
        ss_device_stamp(&dev, 1001 + i, 60, 180, 0);
    }
    take(&link_a, &ev);
    resume(&dev, &h, 1010, 0, 0, 0);
    ack(&dev, &h, 1011, 3);
    CHECK_EQ(ss_device_pending(&dev), 0);
    CHECK_EQ(ss_device_stamp(&dev, 1012, 61, 181, 1), SS_STAMP_COUNTED); /* seq 4 reuses seq 1's slot */
    take(&link_a, &ev);
    CHECK_EQ(ss_device_replay(&dev, 10), 2);
    take(&link_a, &ev);
    CHECK_EQ(ev.n, 2);
    CHECK_EQ(ev.rx[0].message.as.stamp.seq, 2);
    CHECK_EQ(ev.rx[1].message.as.stamp.seq, 3);
    CHECK_EQ(ev.rx[1].header.flags, SS_FLAG_REPLAY);
    /* a HELLO ends a replay */
    resume(&dev, &h, 1020, 0, 0, 0);
    CHECK_EQ(ss_device_replay_pending(&dev), 1);
    hello(&dev, &h, 1021, 1, 1);
    CHECK_EQ(ss_device_replay_pending(&dev), 0);
    CHECK_EQ(ss_device_replay(&dev, 10), 0);
}

/* ---- a scripted conversation --------------------------------------------------------------------- */

static void test_conversation(void)
{
    static ss_device_t dev;
    host_t h = {0, 1};
    events_t ev;
    ss_message_t m;
    uint32_t t = 1000;
    start_device(&dev, &nv_a, &link_a, 4);
    take(&link_a, &ev);

    /* before HELLO: NOT_READY, nothing live */
    m = msg(SS_MESSAGE_TYPE_PING);
    host_send(&dev, &h, t, &m);
    take(&link_a, &ev);
    CHECK_EQ(ev.n, 1);
    CHECK(is(&ev, 0, SS_MESSAGE_TYPE_NACK));
    CHECK_EQ(ev.rx[0].message.as.nack.code, SS_NACK_CODE_NOT_READY);
    CHECK_EQ(ev.rx[0].message.as.nack.refused_type, SS_MESSAGE_TYPE_PING);
    ss_device_tick(&dev, t + 5000);
    take(&link_a, &ev);
    CHECK_EQ(ev.n, 0);

    /* no common version: DEVICE_INFO(selected 0) + NACK; then VERSION_UNSUPPORTED */
    t = 7000;
    hello(&dev, &h, t, 3, 4);
    take(&link_a, &ev);
    CHECK_EQ(ev.n, 2);
    CHECK_EQ(ev.rx[0].message.as.device_info.selected_version, 0);
    CHECK_EQ(ev.rx[1].message.as.nack.code, SS_NACK_CODE_VERSION_UNSUPPORTED);
    m = msg(SS_MESSAGE_TYPE_ARM);
    host_send(&dev, &h, t, &m);
    take(&link_a, &ev);
    CHECK_EQ(ev.rx[0].message.as.nack.code, SS_NACK_CODE_VERSION_UNSUPPORTED);

    /* v2 handshake: the reply starts with 0x00 (idle fill), selected 2 */
    hello(&dev, &h, t, 1, 2);
    CHECK(link_a.len > 0 && link_a.out[0] == SS_DELIMITER);
    take(&link_a, &ev);
    CHECK_EQ(ev.n, 1);
    CHECK_EQ(ev.rx[0].message.as.device_info.selected_version, 2);
    CHECK_EQ(ev.rx[0].header.version, 1); /* frozen layout */
    h.version = 2;
    m = msg(SS_MESSAGE_TYPE_TIME_SYNC);
    m.as.time_sync.host_unix_ms = 1764067200123ull;
    host_send(&dev, &h, t + 3, &m);
    resume(&dev, &h, t + 3, 0, 0, 0);
    m = msg(SS_MESSAGE_TYPE_ARM);
    host_send(&dev, &h, t + 3, &m);
    take(&link_a, &ev);
    CHECK_EQ(ev.n, 3);
    CHECK(is(&ev, 0, SS_MESSAGE_TYPE_TIME_SYNC_REPLY));
    CHECK_EQ(ev.rx[0].message.as.time_sync_reply.device_time_ms, t + 3 - 1000);
    CHECK_EQ(ev.rx[0].header.version, 2);
    CHECK(is(&ev, 1, SS_MESSAGE_TYPE_RESUME_REPLY));
    CHECK_EQ(ev.rx[1].message.as.resume_reply.first_seq, 1);
    CHECK_EQ(ev.rx[1].message.as.resume_reply.count, 0);
    CHECK_EQ(ev.rx[1].message.as.resume_reply.epoch, 0x5EED1234u);
    CHECK(is(&ev, 2, SS_MESSAGE_TYPE_ARM_STATE));
    CHECK_EQ(ev.rx[2].message.as.arm_state.armed, 1);

    /* live stamps; the heartbeat after 500 ms shows them */
    CHECK_EQ(ss_device_stamp(&dev, t + 100, 64, 5000, 99), SS_STAMP_COUNTED);
    CHECK_EQ(ss_device_stamp(&dev, t + 200, 65, 181, 1), SS_STAMP_COUNTED);
    ss_device_tick(&dev, t + 499);
    take(&link_a, &ev);
    CHECK_EQ(ev.n, 2);
    CHECK_EQ(ev.rx[0].message.as.stamp.contact_ms, SS_STAMP_CONTACT_MS_MAX);
    CHECK_EQ(ev.rx[0].message.as.stamp.zone, SS_ZONE_UNKNOWN);
    CHECK_EQ(ev.rx[0].header.flags, 0);
    ss_device_tick(&dev, t + 500);
    take(&link_a, &ev);
    CHECK_EQ(ev.n, 1);
    CHECK(is(&ev, 0, SS_MESSAGE_TYPE_HEARTBEAT));
    CHECK_EQ(ev.rx[0].message.as.heartbeat.seq, 2);
    CHECK_EQ(ev.rx[0].message.as.heartbeat.pending, 2);
    CHECK_EQ(ev.rx[0].message.as.heartbeat.state, SS_HEARTBEAT_STATE_ARMED | SS_HEARTBEAT_STATE_TIME_SYNCED);

    /* RESUME with another numbering's epoch acknowledges nothing */
    resume(&dev, &h, t + 600, 1, 2, 0x0BADF00Du);
    CHECK_EQ(ss_device_pending(&dev), 2);
    CHECK_EQ(ss_device_replay_pending(&dev), 2);
    ack(&dev, &h, t + 601, 1); /* acknowledged meanwhile: still part of the snapshot */
    CHECK_EQ(ss_device_pending(&dev), 1);
    CHECK_EQ(ss_device_replay(&dev, 1), 1);
    CHECK_EQ(ss_device_replay(&dev, 10), 1);
    CHECK_EQ(ss_device_replay_pending(&dev), 0);
    take(&link_a, &ev);
    CHECK_EQ(ev.n, 3);
    CHECK_EQ(ev.rx[0].message.as.resume_reply.count, 2);
    CHECK_EQ(ev.rx[1].message.as.stamp.seq, 1);
    CHECK_EQ(ev.rx[2].message.as.stamp.seq, 2);
    resume(&dev, &h, t + 602, 1, 2, 0x5EED1234u);
    CHECK_EQ(ss_device_pending(&dev), 0);
    take(&link_a, &ev);
    CHECK_EQ(ev.rx[0].message.as.resume_reply.first_seq, 3);

    /* a bad length, an unknown type: NACKs with the refused frame's type and link seq */
    {
        ss_header_t hdr = {2, 0, SS_MESSAGE_TYPE_PING, 77};
        static const uint8_t three[3] = {1, 2, 3};
        uint8_t f[SS_MAX_WIRE_FRAME];
        size_t n = ss_frame_encode(&hdr, three, sizeof three, f);
        ss_device_on_bytes(&dev, t + 700, f, n);
        hdr.type = SS_MESSAGE_TYPE_STAMP;
        n = ss_frame_encode(&hdr, three, sizeof three, f);
        ss_device_on_bytes(&dev, t + 700, f, n);
        take(&link_a, &ev);
        CHECK_EQ(ev.n, 2);
        CHECK_EQ(ev.rx[0].message.as.nack.code, SS_NACK_CODE_BAD_LENGTH);
        CHECK_EQ(ev.rx[0].message.as.nack.refused_lseq, 77);
        CHECK_EQ(ev.rx[1].message.as.nack.code, SS_NACK_CODE_UNKNOWN_TYPE);
        CHECK_EQ(ev.rx[1].message.as.nack.refused_type, SS_MESSAGE_TYPE_STAMP);
    }

    /* the host goes quiet: stamps are buffered, not sent; reports wait for its return */
    t += 800;
    ss_device_stamp(&dev, t + 2000, 60, 180, 0);
    ss_device_battery(&dev, t + 2001, 14, 3426);
    ss_device_head_changed(&dev, t + 2002, 77, 1, 120);
    ss_device_battery(&dev, t + 2003, 13, 3417);
    ss_device_tick(&dev, t + 2500);
    take(&link_a, &ev);
    CHECK_EQ(ev.n, 0);
    m = msg(SS_MESSAGE_TYPE_HEARTBEAT);
    host_send(&dev, &h, t + 2600, &m);
    take(&link_a, &ev);
    /* FAULT LOW_BATTERY, HEAD_CHANGED, then only the newest BATTERY */
    CHECK_EQ(ev.n, 3);
    CHECK(is(&ev, 0, SS_MESSAGE_TYPE_FAULT));
    CHECK_EQ(ev.rx[0].message.as.fault.code, SS_FAULT_CODE_LOW_BATTERY);
    CHECK(is(&ev, 1, SS_MESSAGE_TYPE_HEAD_CHANGED));
    CHECK(is(&ev, 2, SS_MESSAGE_TYPE_BATTERY));
    CHECK_EQ(ev.rx[2].message.as.battery.pct, 13);

    /* buffer full (capacity 4): refused, disarmed, FAULT BUFFER_FULL; ARM refused */
    ss_device_stamp(&dev, t + 2700, 60, 180, 0);
    ss_device_stamp(&dev, t + 2701, 60, 180, 0);
    ss_device_stamp(&dev, t + 2702, 60, 180, 0);
    take(&link_a, &ev);
    CHECK_EQ(ss_device_pending(&dev), 4);
    CHECK_EQ(ss_device_stamp(&dev, t + 2703, 60, 180, 0), SS_STAMP_REFUSED);
    CHECK(!ss_device_armed(&dev));
    take(&link_a, &ev);
    CHECK_EQ(ev.n, 2);
    CHECK_EQ(ev.rx[0].message.as.arm_state.reason, SS_ARM_REASON_BUFFER_FULL);
    CHECK_EQ(ev.rx[1].message.as.fault.code, SS_FAULT_CODE_BUFFER_FULL);
    CHECK_EQ(ev.rx[1].message.as.fault.detail, 1);
    CHECK_EQ(ss_device_stamp(&dev, t + 2704, 60, 180, 0), SS_STAMP_NOT_ARMED);
    m = msg(SS_MESSAGE_TYPE_ARM);
    host_send(&dev, &h, t + 2705, &m);
    ss_device_tick(&dev, t + 3200);
    take(&link_a, &ev);
    CHECK_EQ(ev.rx[0].message.as.nack.code, SS_NACK_CODE_REFUSED);
    CHECK(is(&ev, 1, SS_MESSAGE_TYPE_HEARTBEAT));
    CHECK(ev.rx[1].message.as.heartbeat.state & SS_HEARTBEAT_STATE_BUFFER_FULL);
    CHECK(ev.rx[1].message.as.heartbeat.state & SS_HEARTBEAT_STATE_LOW_BATTERY);

    /* a new connection: link seqs restart at 0, HELLO needed again */
    ss_device_on_connect(&dev, t + 3300);
    m = msg(SS_MESSAGE_TYPE_PING);
    h.lseq = 0;
    host_send(&dev, &h, t + 3300, &m);
    take(&link_a, &ev);
    CHECK_EQ(ev.rx[0].message.as.nack.code, SS_NACK_CODE_NOT_READY);
    CHECK_EQ(ev.rx[0].header.lseq, 0);

    /* the clock may wrap: time moves on in steps below half the circle; an older time is ignored */
    {
        uint32_t start = dev.now;
        ss_device_tick(&dev, start + 0x70000000u);
        ss_device_tick(&dev, start + 0xE0000000u);
        ss_device_tick(&dev, start + 0x50000000u); /* wrapped past 2^32 */
        CHECK_EQ(dev.now, (uint32_t)(start + 0x50000000u));
        ss_device_tick(&dev, start);
        CHECK_EQ(dev.now, (uint32_t)(start + 0x50000000u));
    }
}

int main(void)
{
    test_crc();
    test_cobs();
    test_vectors();
    test_vector_fields();
    test_bad_vectors();
    test_decoder();
    test_ring();
    test_reboot_keeps_buffer();
    test_replay_snapshot();
    test_conversation();
    printf("%d checks, %d failed\n", checks, failures);
    if (failures == 0) {
        printf("ALL TESTS PASSED\n");
    }
    return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
