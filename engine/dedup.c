/* dedup: exact replay protection over a bounded horizon (engine/dedup.h).
 *
 * Layout: a ring of the remembered batches in commit order (the oldest at
 * head), an open-addressing index from (integrator, seq) to ring positions
 * (linear probing, at most half full, keys compared exactly: a collision
 * costs a probe, never an answer), and per integrator a short sorted list
 * of retired ranges [lo, hi] of sequence numbers that were forgotten.
 *
 * Forgetting always goes oldest first, so block time and commit order agree:
 * the head is the first to pass the time horizon and the first pushed out
 * by a full ring. A forgotten number is added to its integrator's ranges
 * before it leaves the index, which keeps the invariant of dedup.h: every
 * batch committed as new is remembered or retired.
 */
#include "dedup.h"

#include <stdlib.h>
#include <string.h>

#include "certa/certa.h"

typedef struct entry {
    uint64_t seq;
    uint64_t height;
    uint64_t time_ms;
    uint64_t first_event;
    uint16_t integrator;
} entry;

typedef struct range {
    uint64_t lo, hi; /* inclusive */
} range;

typedef struct retired {
    uint32_t count;
    /* one spare: an insertion may overflow by one before the merge */
    range r[CERTA_DEDUP_RANGES + 1];
} retired;

struct certa_dedup {
    certa_dedup_params p;
    entry *ring; /* p.batches_max */
    uint32_t head, count;
    uint32_t *index; /* ring position + 1; 0 = empty */
    uint32_t mask;   /* index capacity - 1 */
    retired *ret;    /* p.integrators */
    uint64_t height, time_ms, first_event;
    uint64_t forgotten;
};

static uint32_t slot_of(const certa_dedup *d, uint16_t integrator, uint64_t seq)
{
    /* splitmix64 finaliser over both fields: spreads sequential numbers */
    uint64_t x = seq ^ ((uint64_t)integrator * 0x9E3779B97F4A7C15ull);
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return (uint32_t)(x & d->mask);
}

void certa_dedup_params_genesis(const certa_genesis *g, certa_dedup_params *p)
{
    const certa_genesis_params *gp = &g->params;
    /* with a council the integrators may grow (certa/gov.h): room for
     * every index they can reach, fixed at start like the rest */
    p->integrators = g->council_count > 0       ? CERTA_INTEGRATORS_MAX
                     : g->integrator_count > 0 ? g->integrator_count
                                               : 1;
    p->batches_max = gp->replay_horizon_batches ? gp->replay_horizon_batches
                                                : CERTA_REPLAY_HORIZON_BATCHES_DEFAULT;
    p->horizon_ms = gp->replay_horizon_ms ? gp->replay_horizon_ms
                                          : CERTA_REPLAY_HORIZON_MS_DEFAULT;
}

certa_err certa_dedup_create(const certa_dedup_params *p, certa_dedup **out,
                             certa_errinfo *ei)
{
    *out = NULL;
    if (p->batches_max < CERTA_DEDUP_BATCHES_MIN || p->batches_max > CERTA_DEDUP_BATCHES_MAX ||
        p->horizon_ms == 0 || p->integrators == 0 || p->integrators > 65536u)
        return certa_errorf(ei, CERTA_E_ARG,
                            "replay horizon: %u batches, %llu ms, %u integrators is out of range",
                            p->batches_max, (unsigned long long)p->horizon_ms, p->integrators);
    certa_dedup *d = calloc(1, sizeof *d);
    if (d == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "replay horizon table");
    d->p = *p;
    uint32_t cap = 1;
    while (cap < 2u * p->batches_max)
        cap *= 2;
    d->mask = cap - 1;
    /* calloc: pages are touched as the table fills, the size is fixed now */
    d->ring = calloc(p->batches_max, sizeof *d->ring);
    d->index = calloc(cap, sizeof *d->index);
    d->ret = calloc(p->integrators, sizeof *d->ret);
    if (d->ring == NULL || d->index == NULL || d->ret == NULL) {
        certa_dedup_free(d);
        return certa_errorf(ei, CERTA_E_NOMEM, "replay horizon table of %u batches",
                            p->batches_max);
    }
    *out = d;
    return CERTA_OK;
}

void certa_dedup_free(certa_dedup *d)
{
    if (d == NULL)
        return;
    free(d->ring);
    free(d->index);
    free(d->ret);
    free(d);
}

/* Index slot holding (integrator, seq), or the empty slot where it would go. */
static uint32_t index_probe(const certa_dedup *d, uint16_t integrator, uint64_t seq)
{
    uint32_t i = slot_of(d, integrator, seq);
    for (;;) {
        uint32_t v = d->index[i];
        if (v == 0)
            return i;
        const entry *e = &d->ring[v - 1];
        if (e->seq == seq && e->integrator == integrator)
            return i;
        i = (i + 1) & d->mask;
    }
}

/* Backward-shift deletion keeps every key reachable from its home slot. */
static void index_remove(certa_dedup *d, uint32_t i)
{
    CERTA_ASSERT(d->index[i] != 0);
    d->index[i] = 0;
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & d->mask;
        uint32_t v = d->index[j];
        if (v == 0)
            return;
        const entry *e = &d->ring[v - 1];
        uint32_t k = slot_of(d, e->integrator, e->seq);
        bool movable = (i <= j) ? (k <= i || k > j) : (k <= i && k > j);
        if (movable) {
            d->index[i] = v;
            d->index[j] = 0;
            i = j;
        }
    }
}

static bool retired_has(const retired *r, uint64_t seq)
{
    for (uint32_t k = 0; k < r->count; k++)
        if (seq >= r->r[k].lo && seq <= r->r[k].hi)
            return true;
    return false;
}

/* Adds seq to the sorted, disjoint, non-adjacent ranges; past
 * CERTA_DEDUP_RANGES merges the two closest (the lowest pair on a tie). */
static void retired_add(retired *r, uint64_t seq)
{
    if (retired_has(r, seq))
        return;
    uint32_t j = 0;
    while (j < r->count && r->r[j].lo < seq)
        j++;
    /* r[j-1].hi < seq < r[j].lo */
    bool join_left = j > 0 && r->r[j - 1].hi + 1 == seq;
    bool join_right = j < r->count && r->r[j].lo == seq + 1;
    if (join_left && join_right) {
        r->r[j - 1].hi = r->r[j].hi;
        memmove(&r->r[j], &r->r[j + 1], (r->count - j - 1) * sizeof r->r[0]);
        r->count--;
    } else if (join_left) {
        r->r[j - 1].hi = seq;
    } else if (join_right) {
        r->r[j].lo = seq;
    } else {
        CERTA_ASSERT(r->count <= CERTA_DEDUP_RANGES);
        memmove(&r->r[j + 1], &r->r[j], (r->count - j) * sizeof r->r[0]);
        r->r[j] = (range){seq, seq};
        r->count++;
    }
    if (r->count > CERTA_DEDUP_RANGES) {
        uint32_t best = 0;
        for (uint32_t k = 1; k + 1 < r->count; k++)
            if (r->r[k + 1].lo - r->r[k].hi < r->r[best + 1].lo - r->r[best].hi)
                best = k;
        r->r[best].hi = r->r[best + 1].hi;
        memmove(&r->r[best + 1], &r->r[best + 2], (r->count - best - 2) * sizeof r->r[0]);
        r->count--;
    }
    CERTA_ASSERT(r->count <= CERTA_DEDUP_RANGES);
}

/* Forgets the oldest remembered batch: retired first, then unindexed. */
static void forget_oldest(certa_dedup *d)
{
    CERTA_ASSERT(d->count > 0);
    entry *e = &d->ring[d->head];
    retired_add(&d->ret[e->integrator], e->seq);
    uint32_t i = index_probe(d, e->integrator, e->seq);
    CERTA_ASSERT(d->index[i] == d->head + 1);
    index_remove(d, i);
    d->head = (d->head + 1) % d->p.batches_max;
    d->count--;
    d->forgotten++;
}

void certa_dedup_begin_block(certa_dedup *d, uint64_t height, uint64_t time_ms,
                             uint64_t first_event)
{
    CERTA_ASSERT(height > d->height);
    CERTA_ASSERT(first_event >= d->first_event);
    /* the chain never goes back in time (state refuses it); should a
     * timestamp do so anyway, the horizon simply does not move */
    if (time_ms > d->time_ms)
        d->time_ms = time_ms;
    d->height = height;
    d->first_event = first_event;
    while (d->count > 0 && d->time_ms - d->ring[d->head].time_ms >= d->p.horizon_ms)
        forget_oldest(d);
}

certa_dedup_answer certa_dedup_lookup(const certa_dedup *d, uint16_t integrator,
                                      uint64_t seq, certa_dedup_loc *loc)
{
    if (integrator >= d->p.integrators || seq == 0)
        return CERTA_DEDUP_TOO_OLD;
    uint32_t v = d->index[index_probe(d, integrator, seq)];
    if (v != 0) {
        const entry *e = &d->ring[v - 1];
        CERTA_ASSERT(e->seq == seq && e->integrator == integrator);
        if (loc != NULL)
            *loc = (certa_dedup_loc){e->height, e->time_ms, e->first_event};
        return CERTA_DEDUP_EXECUTED;
    }
    return retired_has(&d->ret[integrator], seq) ? CERTA_DEDUP_TOO_OLD : CERTA_DEDUP_NEW;
}

certa_dedup_answer certa_dedup_commit(certa_dedup *d, uint16_t integrator, uint64_t seq,
                                      uint32_t event_in_block, certa_dedup_loc *orig)
{
    certa_dedup_answer a = certa_dedup_lookup(d, integrator, seq, orig);
    if (a != CERTA_DEDUP_NEW)
        return a;
    if (d->count == d->p.batches_max)
        forget_oldest(d);
    uint32_t pos = (d->head + d->count) % d->p.batches_max;
    d->ring[pos] = (entry){.seq = seq, .height = d->height, .time_ms = d->time_ms,
                           .first_event = d->first_event + event_in_block,
                           .integrator = integrator};
    uint32_t i = index_probe(d, integrator, seq);
    CERTA_ASSERT(d->index[i] == 0);
    d->index[i] = pos + 1;
    d->count++;
    CERTA_ASSERT(certa_dedup_lookup(d, integrator, seq, NULL) == CERTA_DEDUP_EXECUTED);
    return CERTA_DEDUP_NEW;
}

void certa_dedup_stats_get(const certa_dedup *d, certa_dedup_stats *st)
{
    memset(st, 0, sizeof *st);
    st->remembered = d->count;
    st->batches_max = d->p.batches_max;
    st->forgotten = d->forgotten;
    if (d->count > 0) {
        st->oldest_height = d->ring[d->head].height;
        st->oldest_time_ms = d->ring[d->head].time_ms;
    }
}
