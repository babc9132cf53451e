/* The device side of the conversation (docs/protocol.md section 3), driven by events and a
 * clock passed in. It mirrors the Python device model, simulator/device.py, rule for rule, so
 * that both send the same bytes for the same events; the comments name the spec's rules.
 *
 * Time: every entry point takes `now_ms`. The device keeps the latest time it was given
 * (dev->now; an earlier time never moves it back) and compares times by their signed
 * difference, so the 32-bit clock may wrap. */
#include "stampside.h"

#include <string.h>

/* The STAMP contact_ms saturates at the largest value its 12 bits hold. */
#define SS_CONTACT_MAX ((uint16_t)SS_STAMP_CONTACT_MS_MAX)
/* HEARTBEAT pending saturates at the largest u16. */
#define SS_PENDING_MAX 0xFFFFu
#define SS_LSEQ_MASK 0xFFu
#define SS_BATTERY_FULL_PCT 100u
#define SS_BATTERY_FULL_MV 4200u
#define SS_LOW_BATTERY_DEFAULT_PCT 15u
/* The simulator's identity defaults (simulator/config.py DeviceConfig). */
#define SS_DEFAULT_SERIAL "SS-000001"
#define SS_DEFAULT_HW_REVISION 2u
#define SS_DEFAULT_FW_MAJOR 1u
#define SS_DEFAULT_NEEDLE_UM 2000u
#define SS_DEFAULT_HEAD_ID 1001u
#define SS_DEFAULT_FOOTPRINT_MM2 100u

static const uint8_t idle_fill[1] = {SS_DELIMITER};

/* ---- time ---------------------------------------------------------------------------- */

/* a - b as a signed distance on the wrapping 32-bit clock. */
static int32_t elapsed(uint32_t a, uint32_t b)
{
    uint32_t d = a - b;
    return d <= 0x7FFFFFFFu ? (int32_t)d : -(int32_t)(~d) - 1;
}

static void advance_to(ss_device_t *dev, uint32_t now_ms)
{
    if (elapsed(now_ms, dev->now) > 0) {
        dev->now = now_ms;
    }
}

uint32_t ss_device_time_ms(const ss_device_t *dev, uint32_t now_ms)
{
    return now_ms - dev->boot_time;
}

/* ---- state ----------------------------------------------------------------------------- */

static int host_present(const ss_device_t *dev)
{
    return dev->host_seen && elapsed(dev->now, dev->last_host_frame) < (int32_t)dev->cfg.host_timeout_ms;
}

int ss_device_talking(const ss_device_t *dev)
{
    return dev->ready && host_present(dev);
}

int ss_device_armed(const ss_device_t *dev)
{
    return dev->armed;
}

uint32_t ss_device_pending(const ss_device_t *dev)
{
    return ss_ring_count(dev->nv);
}

uint32_t ss_device_replay_pending(const ss_device_t *dev)
{
    return dev->replay_left;
}

int ss_device_take_link_restart(ss_device_t *dev)
{
    int restart = dev->link_restart;
    dev->link_restart = 0;
    return restart;
}

int ss_device_next_due(const ss_device_t *dev, uint32_t *when_ms)
{
    if (!ss_device_talking(dev)) {
        return 0;
    }
    *when_ms = dev->next_heartbeat;
    return 1;
}

static void nv_changed(ss_device_t *dev)
{
    if (dev->cfg.nv_changed != NULL) {
        dev->cfg.nv_changed(dev->cfg.ctx, dev->nv);
    }
}

/* ---- output ---------------------------------------------------------------------------- */

static void emit(ss_device_t *dev, const ss_message_t *m, uint8_t flags)
{
    uint8_t wire[SS_MAX_WIRE_FRAME];
    size_t n = ss_frame_encode_message(m, dev->version, flags, dev->tx_lseq, wire);
    if (n == 0) {
        return; /* cannot happen for the messages built here: every field is in range */
    }
    dev->tx_lseq = (uint8_t)((dev->tx_lseq + 1u) & SS_LSEQ_MASK);
    dev->counters.frames_sent++;
    dev->cfg.write(dev->cfg.ctx, wire, n);
}

static void flush_line(ss_device_t *dev)
{
    dev->cfg.write(dev->cfg.ctx, idle_fill, sizeof idle_fill);
}

static void nack(ss_device_t *dev, uint8_t type, uint8_t lseq, uint8_t code)
{
    ss_message_t m;
    memset(&m, 0, sizeof m);
    m.type = SS_MESSAGE_TYPE_NACK;
    m.as.nack.refused_type = type;
    m.as.nack.refused_lseq = lseq;
    m.as.nack.code = code;
    dev->counters.nacks++;
    emit(dev, &m, 0);
}

static void device_info(const ss_device_t *dev, uint8_t selected, ss_message_t *m)
{
    ss_device_info_t *d = &m->as.device_info;
    memset(m, 0, sizeof *m);
    m->type = SS_MESSAGE_TYPE_DEVICE_INFO;
    memcpy(d->serial, dev->cfg.serial, sizeof d->serial);
    d->hw_revision = dev->cfg.hw_revision;
    d->fw_major = dev->cfg.fw_major;
    d->fw_minor = dev->cfg.fw_minor;
    d->fw_patch = dev->cfg.fw_patch;
    d->min_version = dev->cfg.min_version;
    d->max_version = dev->cfg.max_version;
    d->selected_version = selected;
    d->needle_um = dev->cfg.needle_um;
    d->head_id = dev->head_id;
    d->head_uses = dev->head_uses;
    d->footprint_mm2 = dev->footprint_mm2;
    d->battery_pct = dev->battery_pct;
    d->boot = (uint16_t)dev->nv->boot;
    d->last_seq = dev->nv->last_seq;
}

/* DEVICE_INFO with flag ANNOUNCE, after a leading 0x00: sent at every boot, whoever listens. */
static void announce(ss_device_t *dev)
{
    ss_message_t m;
    device_info(dev, 0, &m);
    dev->link_restart = 1;
    flush_line(dev);
    emit(dev, &m, SS_FLAG_ANNOUNCE);
}

static void arm_state_message(ss_message_t *m, uint8_t armed, uint8_t reason)
{
    memset(m, 0, sizeof *m);
    m->type = SS_MESSAGE_TYPE_ARM_STATE;
    m->as.arm_state.armed = armed;
    m->as.arm_state.reason = reason;
}

static void fault_message(ss_message_t *m, uint8_t code, uint32_t detail)
{
    memset(m, 0, sizeof *m);
    m->type = SS_MESSAGE_TYPE_FAULT;
    m->as.fault.code = code;
    m->as.fault.detail = detail;
}

static void flush_notices(ss_device_t *dev)
{
    uint32_t i;
    uint32_t n = dev->notice_count;
    dev->notice_count = 0;
    for (i = 0; i < n; i++) {
        emit(dev, &dev->notices[i], 0);
    }
}

/* An unsolicited report: now if the host listens, else queued until it is back (3.4). Of
 * BATTERY, HEAD_CHANGED and ARM_STATE only the newest matters; the queue drops its oldest. */
static void notify(ss_device_t *dev, const ss_message_t *m)
{
    uint32_t i;
    uint32_t kept = 0;
    if (ss_device_talking(dev)) {
        emit(dev, m, 0);
        return;
    }
    if (m->type == SS_MESSAGE_TYPE_BATTERY || m->type == SS_MESSAGE_TYPE_HEAD_CHANGED ||
        m->type == SS_MESSAGE_TYPE_ARM_STATE) {
        for (i = 0; i < dev->notice_count; i++) {
            if (dev->notices[i].type != m->type) {
                dev->notices[kept++] = dev->notices[i];
            }
        }
        dev->notice_count = kept;
    }
    if (dev->notice_count == SS_NOTICE_QUEUE_SIZE) {
        memmove(&dev->notices[0], &dev->notices[1], (SS_NOTICE_QUEUE_SIZE - 1u) * sizeof dev->notices[0]);
        dev->notice_count--;
    }
    dev->notices[dev->notice_count++] = *m;
}

/* ---- battery ----------------------------------------------------------------------------- */

static void check_battery(ss_device_t *dev)
{
    ss_message_t m;
    uint8_t pct = dev->battery_pct;
    if (pct != dev->reported_pct) {
        dev->reported_pct = pct;
        memset(&m, 0, sizeof m);
        m.type = SS_MESSAGE_TYPE_BATTERY;
        m.as.battery.pct = pct;
        m.as.battery.millivolts = dev->battery_mv;
        notify(dev, &m);
    }
    if (pct <= dev->cfg.low_battery_pct && !dev->low_reported) {
        dev->low_reported = 1;
        fault_message(&m, SS_FAULT_CODE_LOW_BATTERY, pct);
        notify(dev, &m);
    } else if (pct > dev->cfg.low_battery_pct) {
        dev->low_reported = 0;
    }
    if (pct == 0u && !dev->empty_reported) {
        dev->empty_reported = 1;
        if (dev->armed) {
            dev->armed = 0;
            arm_state_message(&m, 0, SS_ARM_REASON_BATTERY_EMPTY);
            notify(dev, &m);
        }
        fault_message(&m, SS_FAULT_CODE_BATTERY_EMPTY, 0);
        notify(dev, &m);
    } else if (pct > 0u) {
        dev->empty_reported = 0;
    }
}

static int can_arm(const ss_device_t *dev)
{
    return dev->battery_pct > 0u && !ss_ring_full(dev->nv);
}

/* ---- setup ------------------------------------------------------------------------------- */

void ss_device_config_default(ss_device_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    memcpy(cfg->serial, SS_DEFAULT_SERIAL, sizeof SS_DEFAULT_SERIAL - 1u);
    cfg->hw_revision = SS_DEFAULT_HW_REVISION;
    cfg->fw_major = SS_DEFAULT_FW_MAJOR;
    cfg->min_version = SS_VERSION_MIN;
    cfg->max_version = SS_VERSION_MAX;
    cfg->needle_um = SS_DEFAULT_NEEDLE_UM;
    cfg->head_id = SS_DEFAULT_HEAD_ID;
    cfg->footprint_mm2 = SS_DEFAULT_FOOTPRINT_MM2;
    cfg->battery_pct = SS_BATTERY_FULL_PCT;
    cfg->battery_mv = SS_BATTERY_FULL_MV;
    cfg->low_battery_pct = SS_LOW_BATTERY_DEFAULT_PCT;
    cfg->heartbeat_interval_ms = SS_HEARTBEAT_INTERVAL_MS;
    cfg->host_timeout_ms = SS_LINK_TIMEOUT_MS;
}

static void new_link(ss_device_t *dev)
{
    ss_decoder_reset(&dev->rx);
    dev->tx_lseq = 0;
    dev->version = SS_BASE_VERSION;
    dev->ready = 0;
    dev->refused_version = 0;
    dev->host_seen = 0;
    dev->replay_left = 0;
}

int ss_device_init(ss_device_t *dev, const ss_device_config_t *cfg, ss_nv_t *nv)
{
    memset(dev, 0, sizeof *dev);
    if (cfg->write == NULL || !ss_nv_valid(nv)) {
        return -1;
    }
    dev->cfg = *cfg;
    dev->nv = nv;
    ss_decoder_init(&dev->rx, SS_SENDER_HOST);
    ss_decoder_set_versions(&dev->rx, cfg->min_version, cfg->max_version);
    dev->battery_pct = cfg->battery_pct;
    dev->reported_pct = cfg->battery_pct;
    dev->battery_mv = cfg->battery_mv;
    dev->head_id = cfg->head_id;
    dev->head_uses = cfg->head_uses;
    dev->footprint_mm2 = cfg->footprint_mm2;
    new_link(dev);
    return 0;
}

void ss_device_boot(ss_device_t *dev, uint32_t now_ms, unsigned flags)
{
    ss_message_t m;
    dev->now = now_ms;
    dev->boot_time = now_ms;
    /* 3.5: the boot counter only grows; it wraps from 65,535 to 1. Durable before it is sent. */
    dev->nv->boot = dev->nv->boot >= SS_BOOT_MAX ? 1u : dev->nv->boot + 1u;
    nv_changed(dev);
    dev->armed = 0;
    dev->time_synced = 0;
    dev->low_reported = 0;
    dev->empty_reported = 0;
    dev->notice_count = 0;
    new_link(dev);
    announce(dev);
    if (flags & SS_BOOT_UNEXPECTED) {
        /* 3.4: after a reboot the first successful HELLO is followed by these two. */
        arm_state_message(&m, 0, SS_ARM_REASON_BOOT);
        notify(dev, &m);
        fault_message(&m, SS_FAULT_CODE_UNEXPECTED_REBOOT, dev->nv->boot);
        notify(dev, &m);
    } else if (dev->cfg.start_armed) {
        dev->armed = 1;
    }
    check_battery(dev);
}

void ss_device_on_connect(ss_device_t *dev, uint32_t now_ms)
{
    advance_to(dev, now_ms);
    new_link(dev);
}

void ss_device_on_disconnect(ss_device_t *dev, uint32_t now_ms)
{
    advance_to(dev, now_ms);
    new_link(dev);
}

/* ---- commands ---------------------------------------------------------------------------- */

static void on_hello(ss_device_t *dev, const ss_header_t *header, const ss_hello_t *hello)
{
    ss_message_t m;
    uint8_t low = hello->min_version > dev->cfg.min_version ? hello->min_version : dev->cfg.min_version;
    uint8_t high = hello->max_version < dev->cfg.max_version ? hello->max_version : dev->cfg.max_version;
    /* 3.3: the highest version both ranges hold, 0 if none. */
    uint8_t selected = (low > high || low < 1u) ? 0u : high;
    dev->counters.hellos++;
    /* A new link session: a HELLO ends any replay in progress. */
    dev->replay_left = 0;
    dev->link_restart = 1;
    dev->version = selected ? selected : (uint8_t)SS_BASE_VERSION;
    flush_line(dev);
    device_info(dev, selected, &m);
    emit(dev, &m, 0);
    if (!selected) {
        dev->ready = 0;
        dev->refused_version = 1;
        nack(dev, SS_MESSAGE_TYPE_HELLO, header->lseq, SS_NACK_CODE_VERSION_UNSUPPORTED);
        return;
    }
    dev->ready = 1;
    dev->refused_version = 0;
    dev->next_heartbeat = dev->now + dev->cfg.heartbeat_interval_ms;
    flush_notices(dev);
}

static void on_resume(ss_device_t *dev, const ss_resume_t *resume)
{
    ss_message_t m;
    const ss_stamp_t *first;
    uint32_t count;
    /* 3.5: a cursor of another numbering acknowledges nothing (a v1 RESUME has epoch 0). */
    if (resume->epoch == 0u || resume->epoch == dev->nv->epoch) {
        if (ss_ring_ack(dev->nv, resume->seq) > 0u) {
            nv_changed(dev);
        }
    }
    count = ss_ring_count(dev->nv);
    first = ss_ring_at(dev->nv, 0);
    memset(&m, 0, sizeof m);
    m.type = SS_MESSAGE_TYPE_RESUME_REPLY;
    m.as.resume_reply.count = count;
    m.as.resume_reply.epoch = dev->nv->epoch;
    if (first != NULL) {
        m.as.resume_reply.boot = first->boot;
        m.as.resume_reply.first_seq = first->seq;
        /* The replay is a snapshot of the buffer now: these slots, in order. */
        dev->replay_slot = dev->nv->head;
        dev->replay_sent_seq = first->seq - 1u;
        dev->replay_last = ss_ring_at(dev->nv, count - 1u)->seq;
    } else {
        /* 3.2: with an empty buffer, the current boot and the next seq it will assign. */
        m.as.resume_reply.boot = (uint16_t)dev->nv->boot;
        m.as.resume_reply.first_seq = dev->nv->last_seq + 1u;
    }
    emit(dev, &m, 0);
    dev->replay_left = count;
}

static void on_frame(ss_device_t *dev, const ss_rx_t *rx)
{
    const ss_message_t *msg = &rx->message;
    ss_message_t m;
    if (msg->type == SS_MESSAGE_TYPE_HELLO) {
        on_hello(dev, &rx->header, &msg->as.hello);
        return;
    }
    if (!dev->ready) {
        /* 3.4: before HELLO every other command gets NOT_READY (VERSION_UNSUPPORTED after a
         * failed negotiation). */
        nack(dev, msg->type, rx->header.lseq,
             dev->refused_version ? SS_NACK_CODE_VERSION_UNSUPPORTED : SS_NACK_CODE_NOT_READY);
        return;
    }
    switch (msg->type) {
    case SS_MESSAGE_TYPE_ACK:
        if (ss_ring_ack(dev->nv, msg->as.ack.seq) > 0u) {
            nv_changed(dev);
        }
        break;
    case SS_MESSAGE_TYPE_HEARTBEAT:
        break; /* presence only */
    case SS_MESSAGE_TYPE_RESUME:
        on_resume(dev, &msg->as.resume);
        break;
    case SS_MESSAGE_TYPE_ARM:
        if (!can_arm(dev)) {
            nack(dev, msg->type, rx->header.lseq, SS_NACK_CODE_REFUSED);
            break;
        }
        dev->armed = 1;
        arm_state_message(&m, 1, SS_ARM_REASON_COMMAND);
        emit(dev, &m, 0);
        break;
    case SS_MESSAGE_TYPE_DISARM:
        dev->armed = 0;
        arm_state_message(&m, 0, SS_ARM_REASON_COMMAND);
        emit(dev, &m, 0);
        break;
    case SS_MESSAGE_TYPE_TIME_SYNC:
        dev->time_synced = 1;
        memset(&m, 0, sizeof m);
        m.type = SS_MESSAGE_TYPE_TIME_SYNC_REPLY;
        m.as.time_sync_reply.host_unix_ms = msg->as.time_sync.host_unix_ms;
        m.as.time_sync_reply.device_time_ms = ss_device_time_ms(dev, dev->now);
        emit(dev, &m, 0);
        break;
    case SS_MESSAGE_TYPE_PING:
        memset(&m, 0, sizeof m);
        m.type = SS_MESSAGE_TYPE_PONG;
        m.as.pong.nonce = msg->as.ping.nonce;
        m.as.pong.device_time_ms = ss_device_time_ms(dev, dev->now);
        emit(dev, &m, 0);
        break;
    default:
        /* A host message this device does not handle: say so rather than ignore it. */
        nack(dev, msg->type, rx->header.lseq, SS_NACK_CODE_UNKNOWN_TYPE);
        break;
    }
}

static void on_rx(ss_device_t *dev, const ss_rx_t *rx)
{
    switch (rx->kind) {
    case SS_RX_BAD:
        if (rx->has_header) {
            /* The CRC passed: the host sent it, and it is wrong above framing. */
            dev->last_host_frame = dev->now;
            dev->host_seen = 1;
            nack(dev, rx->header.type, rx->header.lseq,
                 rx->reason == SS_BAD_LENGTH ? SS_NACK_CODE_BAD_LENGTH : SS_NACK_CODE_VERSION_UNSUPPORTED);
        }
        break; /* damaged frames are dropped (and counted by the decoder) */
    case SS_RX_UNKNOWN:
        dev->last_host_frame = dev->now;
        dev->host_seen = 1;
        nack(dev, rx->header.type, rx->header.lseq, SS_NACK_CODE_UNKNOWN_TYPE);
        break;
    case SS_RX_FRAME:
        dev->last_host_frame = dev->now;
        dev->host_seen = 1;
        on_frame(dev, rx);
        break;
    case SS_RX_NONE:
    default:
        break;
    }
}

void ss_device_on_bytes(ss_device_t *dev, uint32_t now_ms, const uint8_t *bytes, size_t len)
{
    ss_rx_t rx;
    size_t i;
    int was_talking;
    advance_to(dev, now_ms);
    was_talking = ss_device_talking(dev);
    for (i = 0; i < len; i++) {
        if (ss_decoder_push(&dev->rx, bytes[i], &rx) != SS_RX_NONE) {
            on_rx(dev, &rx);
        }
    }
    /* The host is back (after a silence): the reports queued meanwhile go out. */
    if (!was_talking && ss_device_talking(dev)) {
        flush_notices(dev);
    }
}

/* ---- time passing ------------------------------------------------------------------------- */

void ss_device_tick(ss_device_t *dev, uint32_t now_ms)
{
    ss_message_t m;
    uint32_t pending;
    advance_to(dev, now_ms);
    if (!ss_device_talking(dev) || elapsed(dev->now, dev->next_heartbeat) < 0) {
        return;
    }
    pending = ss_ring_count(dev->nv);
    memset(&m, 0, sizeof m);
    m.type = SS_MESSAGE_TYPE_HEARTBEAT;
    m.as.heartbeat.boot = (uint16_t)dev->nv->boot;
    m.as.heartbeat.seq = dev->nv->last_seq;
    m.as.heartbeat.pending = (uint16_t)(pending > SS_PENDING_MAX ? SS_PENDING_MAX : pending);
    m.as.heartbeat.state = (uint8_t)((dev->armed ? SS_HEARTBEAT_STATE_ARMED : 0u) |
                                     (ss_ring_full(dev->nv) ? SS_HEARTBEAT_STATE_BUFFER_FULL : 0u) |
                                     (dev->battery_pct <= dev->cfg.low_battery_pct ? SS_HEARTBEAT_STATE_LOW_BATTERY : 0u) |
                                     (dev->time_synced ? SS_HEARTBEAT_STATE_TIME_SYNCED : 0u));
    emit(dev, &m, 0);
    dev->next_heartbeat = dev->now + dev->cfg.heartbeat_interval_ms;
}

/* ---- stamps --------------------------------------------------------------------------------- */

int ss_device_stamp(ss_device_t *dev, uint32_t now_ms, uint8_t force_dn, uint16_t contact_ms, uint8_t zone)
{
    ss_message_t m;
    ss_stamp_t *s = &m.as.stamp;
    advance_to(dev, now_ms);
    if (!dev->armed) {
        return SS_STAMP_NOT_ARMED;
    }
    if (ss_ring_full(dev->nv)) {
        /* 3.1: a full buffer stops counting; the stamp gets no seq and nothing is overwritten. */
        dev->counters.stamps_refused++;
        dev->armed = 0;
        arm_state_message(&m, 0, SS_ARM_REASON_BUFFER_FULL);
        notify(dev, &m);
        fault_message(&m, SS_FAULT_CODE_BUFFER_FULL, dev->counters.stamps_refused);
        notify(dev, &m);
        return SS_STAMP_REFUSED;
    }
    memset(&m, 0, sizeof m);
    m.type = SS_MESSAGE_TYPE_STAMP;
    s->boot = (uint16_t)dev->nv->boot;
    s->seq = dev->nv->last_seq + 1u;
    s->device_time_ms = ss_device_time_ms(dev, now_ms);
    s->force_dn = force_dn;
    s->contact_ms = contact_ms > SS_CONTACT_MAX ? SS_CONTACT_MAX : contact_ms;
    s->zone = zone > SS_STAMP_ZONE_MAX ? (uint8_t)SS_ZONE_UNKNOWN : zone;
    /* 3.1: buffered (durably) before it is sent. */
    dev->nv->last_seq = s->seq;
    (void)ss_ring_push(dev->nv, s);
    nv_changed(dev);
    dev->counters.stamps_counted++;
    /* Sent live once, if a host listens; otherwise the host asks with RESUME. */
    if (ss_device_talking(dev)) {
        emit(dev, &m, 0);
    }
    return SS_STAMP_COUNTED;
}

uint32_t ss_device_replay(ss_device_t *dev, uint32_t max_frames)
{
    ss_message_t m;
    uint32_t sent = 0;
    memset(&m, 0, sizeof m);
    m.type = SS_MESSAGE_TYPE_STAMP;
    while (sent < max_frames && dev->replay_left > 0u) {
        const ss_stamp_t *s = &dev->nv->events[dev->replay_slot];
        dev->replay_slot = dev->replay_slot + 1u >= dev->nv->capacity ? 0u : dev->replay_slot + 1u;
        dev->replay_left--;
        /* 3.2: the replay is the snapshot the RESUME saw, stamps acknowledged since included (as
         * the simulator does; the host ignores them). A slot freed by an ACK keeps its stamp
         * until a new stamp reuses it; a reused slot holds a newer seq and is skipped: it only
         * ever held an acknowledged stamp, so nothing the host lacks is lost. */
        if (s->seq <= dev->replay_sent_seq || s->seq > dev->replay_last) {
            continue;
        }
        m.as.stamp = *s;
        emit(dev, &m, SS_FLAG_REPLAY);
        dev->replay_sent_seq = s->seq;
        dev->counters.replayed++;
        sent++;
    }
    return sent;
}

/* ---- things that happen to the device ------------------------------------------------------ */

int ss_device_arm(ss_device_t *dev, uint32_t now_ms)
{
    ss_message_t m;
    advance_to(dev, now_ms);
    if (!can_arm(dev)) {
        return -1;
    }
    if (!dev->armed) {
        dev->armed = 1;
        arm_state_message(&m, 1, SS_ARM_REASON_COMMAND);
        notify(dev, &m);
    }
    return 0;
}

void ss_device_disarm(ss_device_t *dev, uint32_t now_ms)
{
    ss_message_t m;
    advance_to(dev, now_ms);
    if (dev->armed) {
        dev->armed = 0;
        arm_state_message(&m, 0, SS_ARM_REASON_COMMAND);
        notify(dev, &m);
    }
}

void ss_device_battery(ss_device_t *dev, uint32_t now_ms, uint8_t pct, uint16_t millivolts)
{
    advance_to(dev, now_ms);
    dev->battery_pct = pct > SS_BATTERY_FULL_PCT ? (uint8_t)SS_BATTERY_FULL_PCT : pct;
    dev->battery_mv = millivolts;
    check_battery(dev);
}

void ss_device_head_changed(ss_device_t *dev, uint32_t now_ms, uint32_t head_id, uint16_t head_uses,
                            uint16_t footprint_mm2)
{
    ss_message_t m;
    advance_to(dev, now_ms);
    dev->head_id = head_id;
    dev->head_uses = head_uses;
    dev->footprint_mm2 = footprint_mm2;
    memset(&m, 0, sizeof m);
    m.type = SS_MESSAGE_TYPE_HEAD_CHANGED;
    m.as.head_changed.head_id = head_id;
    m.as.head_changed.head_uses = head_uses;
    m.as.head_changed.footprint_mm2 = footprint_mm2;
    notify(dev, &m);
}

void ss_device_sensor_fault(ss_device_t *dev, uint32_t now_ms, uint32_t raw)
{
    ss_message_t m;
    advance_to(dev, now_ms);
    fault_message(&m, SS_FAULT_CODE_SENSOR, raw);
    notify(dev, &m);
}
