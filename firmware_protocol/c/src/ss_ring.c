/* The ring buffer of unacknowledged stamps, in the caller's non-volatile ss_nv_t
 * (docs/protocol.md 3.1): stamps are appended at the tail and dropped from the head when the
 * host acknowledges them. It never overwrites: a full ring refuses the new stamp. */
#include "stampside.h"

#include <string.h>

void ss_nv_format(ss_nv_t *nv, uint32_t capacity, uint32_t epoch, uint16_t first_boot, uint32_t last_seq)
{
    memset(nv, 0, sizeof *nv);
    nv->magic = SS_NV_MAGIC;
    nv->layout = SS_NV_LAYOUT;
    if (capacity < 1u) {
        capacity = 1u;
    }
    if (capacity > SS_RING_CAPACITY) {
        capacity = SS_RING_CAPACITY;
    }
    nv->capacity = capacity;
    nv->epoch = epoch;
    /* ss_device_boot adds one: store the boot before the first one. */
    nv->boot = first_boot > 1u ? (uint32_t)first_boot - 1u : 0u;
    nv->last_seq = last_seq;
}

static uint32_t slot(const ss_nv_t *nv, uint32_t i)
{
    uint32_t s = nv->head + i;
    return s >= nv->capacity ? s - nv->capacity : s;
}

int ss_nv_valid(const ss_nv_t *nv)
{
    uint32_t i;
    uint32_t previous = 0;
    if (nv->magic != SS_NV_MAGIC || nv->layout != SS_NV_LAYOUT || nv->epoch == 0u) {
        return 0;
    }
    if (nv->capacity < 1u || nv->capacity > SS_RING_CAPACITY || nv->head >= nv->capacity ||
        nv->count > nv->capacity || nv->boot > SS_BOOT_MAX) {
        return 0;
    }
    for (i = 0; i < nv->count; i++) {
        const ss_stamp_t *e = &nv->events[slot(nv, i)];
        if (e->seq <= previous || e->seq > nv->last_seq) {
            return 0;
        }
        previous = e->seq;
    }
    return 1;
}

uint32_t ss_ring_count(const ss_nv_t *nv)
{
    return nv->count;
}

int ss_ring_full(const ss_nv_t *nv)
{
    return nv->count >= nv->capacity;
}

const ss_stamp_t *ss_ring_at(const ss_nv_t *nv, uint32_t i)
{
    return i < nv->count ? &nv->events[slot(nv, i)] : NULL;
}

int ss_ring_push(ss_nv_t *nv, const ss_stamp_t *stamp)
{
    if (ss_ring_full(nv)) {
        return -1;
    }
    nv->events[slot(nv, nv->count)] = *stamp;
    nv->count++;
    return 0;
}

uint32_t ss_ring_ack(ss_nv_t *nv, uint32_t seq)
{
    uint32_t dropped = 0;
    while (nv->count > 0u && nv->events[nv->head].seq <= seq) {
        nv->head = slot(nv, 1u);
        nv->count--;
        dropped++;
    }
    /* head is not rewound when the ring empties: the slots just freed keep their stamps until
     * the ring comes round to them (a replay in progress may still read them, ss_device.c). */
    return dropped;
}

uint32_t ss_ring_lower_bound(const ss_nv_t *nv, uint32_t seq)
{
    /* Seqs grow along the ring: binary search. */
    uint32_t lo = 0;
    uint32_t hi = nv->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2u;
        if (nv->events[slot(nv, mid)].seq < seq) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}
