/* ledger: the PBFT application of a validator, pure (see ledger.h for the
 * rules it keeps and its threads).
 *
 * Invariants:
 * - judged >= executed: a block is judged (replay verdicts, fed to the
 *   replay table) when delivered and executed after, in the same order;
 * - the LAG ring holds the roots after every executed height in
 *   (executed - LAG_RING, executed]; header h is built only once h - lag
 *   executed (can_propose) and checked against the ring when h - lag did;
 * - nothing here reads a clock, a file or a random source: every answer
 *   depends on the genesis, the blocks fed and the callbacks only.
 *
 * Signatures: the ledger asks the verify callback once per check; a cache
 * of verified digests, if any, lives behind that callback (the daemon's,
 * node/app.c, which also pre-verifies a pre-prepare's batches in parallel
 * and fills the same cache), so the rule stays here and the speed there.
 */
#include "ledger.h"

#include "certa/block.h"
#include "ledger_mut.h"

#include <stdlib.h>
#include <string.h>

#include "certa/crypto.h"
#include "certa/gov.h"
#include "certa/merkle.h"

#define PF_AHEAD 8u /* events decoded ahead of being applied, for prefetching */

struct certa_ledger {
    const certa_genesis *g;
    certa_state *state;
    bool own_state;
    certa_pool *pool;
    certa_ledger_verify_fn verify;
    void *verify_ctx;
    certa_ledger_leaves_fn leaves;
    void *leaves_ctx;
    int mutation;
    uint64_t lag; /* CERTA_LEDGER_LAG (one less under MUT_LAG_OFF_BY_ONE) */

    /* admission: the governed integrators after the last recorded block
     * that changed them */
    certa_ledger_adm *adm;
    uint64_t exec_generation; /* execution side: the state's changes seen */

    /* replay (judge) */
    certa_dedup *dedup;
    uint32_t dedup_integrators; /* integrator indexes it holds */
    uint64_t horizon_ms;
    uint64_t judged;        /* last block judged */
    uint64_t judged_events; /* events in blocks 1..judged */
    uint64_t judged_tip_ms; /* timestamp of block judged */

    /* what executed: the LAG rule's history */
    uint64_t executed;
    uint8_t lag_results[CERTA_LEDGER_LAG_RING][CERTA_HASH_BYTES];
    uint8_t lag_digest[CERTA_LEDGER_LAG_RING][CERTA_HASH_BYTES];
    uint8_t empty_root[CERTA_HASH_BYTES];

    /* block content scratch (build and validate) */
    uint8_t *leaf_hashes;
    size_t leaf_cap;
    certa_merkle_split_leaf *split;
    size_t split_cap;
    uint8_t (*heads)[CERTA_LEAF_PREFIX_BYTES];
    size_t heads_cap;

    /* execution scratch (apply) */
    certa_event pf_ring[PF_AHEAD];
    bool pf_ok[PF_AHEAD];
};
_Static_assert(CERTA_LEDGER_LAG < CERTA_LEDGER_LAG_RING, "the ring must hold the lag");

static bool verify_ed25519(void *ctx, const certa_pubkey *key, uint16_t integrator,
                           const uint8_t digest[CERTA_HASH_BYTES],
                           const uint8_t sig[CERTA_SIGNATURE_BYTES])
{
    (void)ctx;
    (void)integrator;
    return certa_verify(key, digest, CERTA_HASH_BYTES, sig);
}

/* ------------------------------------------------------------ admission table */

typedef struct adm_integ {
    certa_pubkey *key; /* NULL when the integrator is removed */
    uint8_t status;    /* certa_integrator_status */
    char name[CERTA_NAME_BYTES];
} adm_integ;

struct certa_ledger_adm {
    uint32_t count;
    adm_integ *integ;
    certa_ledger_timing timing; /* the governed block limit and timeouts */
};

void certa_ledger_adm_free(certa_ledger_adm *a)
{
    if (a == NULL)
        return;
    for (uint32_t i = 0; i < a->count; i++)
        certa_pubkey_free(a->integ[i].key);
    free(a->integ);
    free(a);
}

/* The admission table of the state's governed integrators (keys parsed
 * once here); NULL when out of memory. */
static certa_ledger_adm *adm_build(const certa_state *s)
{
    uint32_t n = certa_state_integrator_count(s);
    CERTA_ASSERT(n <= CERTA_INTEGRATORS_MAX);
    certa_ledger_adm *a = calloc(1, sizeof *a);
    if (a == NULL || (a->integ = calloc(n ? n : 1, sizeof *a->integ)) == NULL) {
        free(a);
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        certa_gov_integrator gi;
        bool have = certa_state_integrator(s, i, &gi);
        CERTA_ASSERT(have);
        (void)have;
        adm_integ *o = &a->integ[i];
        memcpy(o->name, gi.name, sizeof o->name);
        o->status = gi.status;
        /* every key in the table parsed when it entered (genesis or gov.c) */
        if (gi.status != CERTA_IS_REMOVED && certa_pubkey_from_raw(gi.pub, &o->key, NULL) != CERTA_OK)
            o->status = CERTA_IS_REMOVED;
        a->count = i + 1;
    }
    a->timing.block_events_max = (uint32_t)certa_state_param(s, CERTA_GP_BLOCK_EVENTS_MAX);
    a->timing.block_timeout_ms = (uint32_t)certa_state_param(s, CERTA_GP_BLOCK_TIMEOUT_MS);
    a->timing.view_timeout_ms = (uint32_t)certa_state_param(s, CERTA_GP_VIEW_TIMEOUT_MS);
    return a;
}

certa_err certa_ledger_create(const certa_ledger_params *p, certa_ledger **out,
                              certa_errinfo *ei)
{
    *out = NULL;
    CERTA_ASSERT(p->g != NULL);
    if (p->mutation < 0 || p->mutation >= CERTA_LEDGER_MUT_COUNT)
        return certa_errorf(ei, CERTA_E_ARG, "ledger: unknown mutation %d", p->mutation);
    certa_ledger *l = calloc(1, sizeof *l);
    if (l == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "ledger");
    l->g = p->g;
    l->pool = p->pool;
    l->verify = p->verify ? p->verify : verify_ed25519;
    l->verify_ctx = p->verify ? p->verify_ctx : (void *)p->g;
    l->leaves = p->leaves;
    l->leaves_ctx = p->leaves_ctx;
    l->mutation = p->mutation;
    l->lag = p->mutation == CERTA_LEDGER_MUT_LAG_OFF_BY_ONE ? CERTA_LEDGER_LAG - 1
                                                          : CERTA_LEDGER_LAG;
    certa_merkle_empty_root(l->empty_root);
    /* The replay table, sized once from genesis: every replica must use
     * the same horizon, since it decides which batches execute. */
    certa_dedup_params dp;
    certa_dedup_params_genesis(p->g, &dp);
    l->horizon_ms = dp.horizon_ms;
    l->dedup_integrators = dp.integrators;
    certa_err e = certa_dedup_create(&dp, &l->dedup, ei);
    if (e != CERTA_OK) {
        free(l);
        return e;
    }
    if (p->state != NULL) {
        CERTA_ASSERT(certa_state_height(p->state) == 0);
        l->state = p->state;
    } else {
        e = certa_state_create(p->g, NULL, &l->state, ei);
        if (e != CERTA_OK) {
            certa_dedup_free(l->dedup);
            free(l);
            return e;
        }
        l->own_state = true;
    }
    l->adm = adm_build(l->state);
    if (l->adm == NULL) {
        certa_ledger_free(l);
        return certa_errorf(ei, CERTA_E_NOMEM, "ledger: admission table");
    }
    *out = l;
    return CERTA_OK;
}

void certa_ledger_free(certa_ledger *l)
{
    if (l == NULL)
        return;
    if (l->own_state)
        certa_state_free(l->state);
    certa_dedup_free(l->dedup);
    certa_ledger_adm_free(l->adm);
    free(l->leaf_hashes);
    free(l->split);
    free(l->heads);
    free(l);
}

/* ------------------------------------------------------------ admission */

certa_err certa_ledger_check_batch(certa_ledger *l, const uint8_t *bytes, size_t len,
                                   certa_batch_view *v, certa_errinfo *ei)
{
    certa_err e = certa_batch_decode(bytes, len, v, ei);
    if (e != CERTA_OK)
        return e;
    if (v->integrator >= l->adm->count)
        return certa_errorf(ei, CERTA_E_NOTFOUND,
                            "batch: integrator %u is not in genesis nor added by the council",
                            v->integrator);
    const adm_integ *in = &l->adm->integ[v->integrator];
    if (in->status != CERTA_IS_ACTIVE)
        return certa_errorf(ei, CERTA_E_REFUSED, "batch: integrator %s is %s by the council",
                            in->name, certa_integrator_status_name(in->status));
    if (!l->verify(l->verify_ctx, in->key, v->integrator, v->digest, v->signature))
        return certa_errorf(ei, CERTA_E_BAD_SIGNATURE,
                            "batch: signature of integrator %s (seq %llu) does not verify "
                            "under its current key", in->name, (unsigned long long)v->seq);
    return CERTA_OK;
}

bool certa_ledger_validate_request(certa_ledger *l, const certa_pbft_request *req)
{
    certa_batch_view v;
    if (certa_ledger_check_batch(l, req->bytes, req->len, &v, NULL) != CERTA_OK)
        return false;
    return v.integrator == req->integrator && v.seq == req->seq;
}

bool certa_ledger_request_executed(const certa_ledger *l, uint16_t integrator, uint64_t seq)
{
    if (integrator >= l->adm->count)
        return true;
    if (l->mutation == CERTA_LEDGER_MUT_SKIP_REPLAY)
        return false;
    return certa_dedup_lookup(l->dedup, integrator, seq, NULL) != CERTA_DEDUP_NEW;
}

/* ------------------------------------------------------------ replay */

const certa_dedup *certa_ledger_replay(const certa_ledger *l) { return l->dedup; }
uint64_t certa_ledger_horizon_ms(const certa_ledger *l) { return l->horizon_ms; }
uint64_t certa_ledger_judged_height(const certa_ledger *l) { return l->judged; }
uint64_t certa_ledger_judged_tip_ms(const certa_ledger *l) { return l->judged_tip_ms; }

uint8_t *certa_ledger_judge(certa_ledger *l, const uint8_t *rec, size_t len)
{
    certa_block blk;
    if (certa_block_decode(rec, len, &blk, NULL) != CERTA_OK ||
        blk.hdr.height != l->judged + 1)
        return NULL;
    uint8_t *verdicts = calloc(blk.batch_count ? blk.batch_count : 1, 1);
    CERTA_ASSERT(verdicts != NULL); /* one byte per batch of a committed block */
    certa_dedup_begin_block(l->dedup, blk.hdr.height, blk.hdr.timestamp_ms, l->judged_events);
    size_t pos = 0, nb = 0;
    uint32_t events = 0;
    certa_block_batch bb;
    while (certa_block_next(&blk, &pos, &bb)) {
        certa_batch_view v;
        if (certa_batch_frame(bb.bytes, bb.len, &v, NULL) != CERTA_OK) {
            free(verdicts);
            return NULL;
        }
        CERTA_ASSERT(nb < blk.batch_count);
        /* an integrator the table cannot hold is executed (role_forbidden
         * per event); validate_request keeps it out of blocks anyway. The
         * bound is the replay table's size, fixed by genesis, never the
         * governed count: judging runs ahead of execution. */
        certa_dedup_answer a = CERTA_DEDUP_NEW;
        if (bb.integrator < l->dedup_integrators)
            a = certa_dedup_commit(l->dedup, bb.integrator, bb.seq, events, NULL);
        if (l->mutation == CERTA_LEDGER_MUT_SKIP_REPLAY)
            a = CERTA_DEDUP_NEW;
        verdicts[nb++] = a == CERTA_DEDUP_NEW        ? CERTA_LEDGER_NEW
                         : a == CERTA_DEDUP_EXECUTED ? CERTA_LEDGER_REPLAYED
                                                     : CERTA_LEDGER_TOO_OLD;
        events += v.event_count;
    }
    CERTA_ASSERT(nb == blk.batch_count);
    l->judged = blk.hdr.height;
    l->judged_events += events;
    l->judged_tip_ms = blk.hdr.timestamp_ms;
    return verdicts;
}

/* ------------------------------------------------------------ execution */

/* Directly with Ed25519: a cache behind the verify callback knows digests,
 * not under which key they verified. */
bool certa_ledger_stale_batch(const certa_state *s, uint64_t height, uint16_t integrator,
                              const uint8_t *bytes, size_t len)
{
    certa_gov_integrator gi;
    if (!certa_state_integrator(s, integrator, &gi) || gi.key_since == 0 ||
        height < gi.key_since || height >= gi.key_since + CERTA_LEDGER_LAG)
        return false;
    CERTA_ASSERT(len > CERTA_SIGNATURE_BYTES); /* framed: it has a signature */
    uint8_t digest[CERTA_HASH_BYTES];
    certa_sha256(bytes, len - CERTA_SIGNATURE_BYTES, digest);
    certa_pubkey *pk = NULL;
    if (certa_pubkey_from_raw(gi.pub, &pk, NULL) != CERTA_OK)
        return true;
    bool ok = certa_verify(pk, digest, CERTA_HASH_BYTES,
                           bytes + len - CERTA_SIGNATURE_BYTES);
    certa_pubkey_free(pk);
    return !ok;
}

/* Applies the events of one NEW batch. Events are decoded PF_AHEAD ahead
 * of being applied, their index slots prefetched then and their records
 * halfway: the look-ups of a large state miss the caches otherwise. */
static void apply_new_batch(certa_ledger *l, uint16_t integrator, const certa_batch_view *v)
{
    size_t ep = 0;
    const uint8_t *ev;
    size_t ev_len;
    uint32_t n = v->event_count;
    for (uint32_t q = 0; q < n + PF_AHEAD; q++) {
        if (q >= PF_AHEAD) {
            uint32_t k = (q - PF_AHEAD) % PF_AHEAD;
            if (l->pf_ok[k])
                certa_state_apply(l->state, integrator, &l->pf_ring[k]);
            else
                certa_state_apply_malformed(l->state, integrator);
        }
        for (int st = 1; st <= 2; st++) {
            uint32_t back = st == 1 ? PF_AHEAD / 2 : PF_AHEAD / 4;
            uint32_t j = (q - back) % PF_AHEAD;
            if (q >= back && q - back < n && l->pf_ok[j])
                certa_state_prefetch(l->state, &l->pf_ring[j], st);
        }
        if (q < n) {
            bool more = certa_batch_next(v, &ep, &ev, &ev_len);
            CERTA_ASSERT(more); /* the batch was framed: n events */
            (void)more;
            certa_event *d = &l->pf_ring[q % PF_AHEAD];
            l->pf_ok[q % PF_AHEAD] = certa_event_decode(ev, ev_len, d, NULL) == CERTA_OK;
            if (l->pf_ok[q % PF_AHEAD])
                certa_state_prefetch(l->state, d, 0);
        }
    }
}

certa_err certa_ledger_apply(certa_ledger *l, const uint8_t *rec, size_t len,
                             const uint8_t *verdicts, certa_ledger_exec *out,
                             certa_errinfo *ei)
{
    certa_block blk;
    if (certa_block_decode(rec, len, &blk, NULL) != CERTA_OK)
        return certa_errorf(ei, CERTA_E_CORRUPT, "block record does not decode");
    if (verdicts == NULL)
        return certa_errorf(ei, CERTA_E_CORRUPT, "block %llu: no replay verdicts "
                            "(the record did not decode when delivered)",
                            (unsigned long long)blk.hdr.height);
    /* frame every batch before changing anything */
    size_t pos = 0;
    certa_block_batch bb;
    while (certa_block_next(&blk, &pos, &bb)) {
        certa_batch_view v;
        if (certa_batch_frame(bb.bytes, bb.len, &v, NULL) != CERTA_OK)
            return certa_errorf(ei, CERTA_E_CORRUPT, "block %llu: a batch does not decode",
                                (unsigned long long)blk.hdr.height);
    }
    uint64_t now_ms = blk.hdr.timestamp_ms;
    if (l->mutation == CERTA_LEDGER_MUT_LOCAL_TIME)
        now_ms += CERTA_LEDGER_MUT_LOCAL_TIME_MS;
    certa_err e = certa_state_begin_block(l->state, blk.hdr.height, now_ms, ei);
    if (e != CERTA_OK)
        return e;
    pos = 0;
    size_t nb = 0;
    while (certa_block_next(&blk, &pos, &bb)) {
        certa_batch_view v;
        certa_err fe = certa_batch_frame(bb.bytes, bb.len, &v, NULL);
        CERTA_ASSERT(fe == CERTA_OK); /* framed above */
        (void)fe;
        uint8_t verdict = verdicts[nb++];
        size_t ep = 0;
        const uint8_t *ev;
        size_t ev_len;
        if (verdict == CERTA_LEDGER_REPLAYED) {
            while (certa_batch_next(&v, &ep, &ev, &ev_len))
                certa_state_apply_replayed(l->state, bb.integrator);
        } else if (verdict == CERTA_LEDGER_TOO_OLD) {
            while (certa_batch_next(&v, &ep, &ev, &ev_len))
                certa_state_apply_too_old(l->state, bb.integrator);
        } else if (certa_ledger_stale_batch(l->state, blk.hdr.height, bb.integrator, bb.bytes,
                                            bb.len)) {
            CERTA_ASSERT(verdict == CERTA_LEDGER_NEW);
            while (certa_batch_next(&v, &ep, &ev, &ev_len))
                certa_state_apply_rejected(l->state, bb.integrator, CERTA_R_STALE_KEY);
        } else {
            CERTA_ASSERT(verdict == CERTA_LEDGER_NEW);
            apply_new_batch(l, bb.integrator, &v);
        }
    }
    out->height = blk.hdr.height;
    certa_state_end_block(l->state, out->results_root);
    certa_state_digest(l->state, out->state_digest);
    out->results = certa_state_block_results(l->state, &out->result_count);
    out->admission = NULL;
    uint64_t gen = certa_state_gov_generation(l->state);
    if (gen != l->exec_generation) { /* the council changed the integrators */
        l->exec_generation = gen;
        out->admission = adm_build(l->state);
        CERTA_ASSERT(out->admission != NULL); /* a few hundred kB at most */
    }
    return CERTA_OK;
}

void certa_ledger_record(certa_ledger *l, uint64_t height,
                         const uint8_t results_root[CERTA_HASH_BYTES],
                         const uint8_t state_digest[CERTA_HASH_BYTES])
{
    CERTA_ASSERT(height == l->executed + 1 && height <= l->judged);
    memcpy(l->lag_results[height % CERTA_LEDGER_LAG_RING], results_root, CERTA_HASH_BYTES);
    memcpy(l->lag_digest[height % CERTA_LEDGER_LAG_RING], state_digest, CERTA_HASH_BYTES);
    l->executed = height;
}

certa_err certa_ledger_execute(certa_ledger *l, const uint8_t *rec, size_t len,
                               certa_ledger_exec *out, certa_errinfo *ei)
{
    uint8_t *verdicts = certa_ledger_judge(l, rec, len);
    certa_err e = certa_ledger_apply(l, rec, len, verdicts, out, ei);
    free(verdicts);
    if (e == CERTA_OK) {
        certa_ledger_admit(l, out->admission);
        out->admission = NULL;
        certa_ledger_record(l, out->height, out->results_root, out->state_digest);
    }
    return e;
}

void certa_ledger_admit(certa_ledger *l, certa_ledger_adm *a)
{
    if (a == NULL)
        return;
    CERTA_ASSERT(a->count >= l->adm->count); /* integrators are never dropped */
    certa_ledger_adm_free(l->adm);
    l->adm = a;
}

uint32_t certa_ledger_integrator_count(const certa_ledger *l) { return l->adm->count; }

certa_ledger_timing certa_ledger_timing_of(const certa_ledger *l) { return l->adm->timing; }

const char *certa_ledger_integrator_name(const certa_ledger *l, uint32_t idx)
{
    return idx < l->adm->count ? l->adm->integ[idx].name : NULL;
}

bool certa_ledger_integrator_active(const certa_ledger *l, uint32_t idx)
{
    return idx < l->adm->count && l->adm->integ[idx].status == CERTA_IS_ACTIVE;
}

const certa_pubkey *certa_ledger_integrator_key(const certa_ledger *l, uint32_t idx)
{
    return idx < l->adm->count ? l->adm->integ[idx].key : NULL;
}

uint64_t certa_ledger_executed(const certa_ledger *l) { return l->executed; }

bool certa_ledger_roots(const certa_ledger *l, uint64_t height,
                        uint8_t results_root[CERTA_HASH_BYTES],
                        uint8_t state_digest[CERTA_HASH_BYTES])
{
    if (height == 0 || height > l->executed ||
        height + CERTA_LEDGER_LAG_RING <= l->executed)
        return false;
    memcpy(results_root, l->lag_results[height % CERTA_LEDGER_LAG_RING], CERTA_HASH_BYTES);
    memcpy(state_digest, l->lag_digest[height % CERTA_LEDGER_LAG_RING], CERTA_HASH_BYTES);
    return true;
}

/* ------------------------------------------------------------ block content */

bool certa_ledger_grow_hashes(uint8_t **buf, size_t *cap_io, size_t n)
{
    if (n <= *cap_io && *buf != NULL)
        return true;
    size_t cap = *cap_io ? *cap_io : 64;
    while (cap < n)
        cap *= 2;
    uint8_t *p = realloc(*buf, cap * CERTA_HASH_BYTES);
    if (p == NULL)
        return false;
    *buf = p;
    *cap_io = cap;
    return true;
}

/* Leaf hashes of every event of reqs, in order, into l->leaf_hashes: each
 * leaf (u16 integrator || u64 seq || event) is hashed where its event lies,
 * behind a 10-byte head per batch, on the Merkle module's wide kernels.
 * Returns the event count, or -1 when a batch does not frame. */
static long block_leaves(certa_ledger *l, const certa_pbft_request *reqs, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        certa_batch_view v;
        /* validate_request checked every batch before: framing is enough */
        if (certa_batch_frame(reqs[i].bytes, reqs[i].len, &v, NULL) != CERTA_OK)
            return -1;
        count += v.event_count;
    }
    if (!certa_ledger_grow_hashes(&l->leaf_hashes, &l->leaf_cap, count))
        return -1;
    if (count > l->split_cap || n > l->heads_cap) {
        size_t sc = count > l->split_cap ? count : l->split_cap;
        size_t hc = n > l->heads_cap ? n : l->heads_cap;
        certa_merkle_split_leaf *sp = realloc(l->split, (sc ? sc : 1) * sizeof *sp);
        if (sp == NULL)
            return -1;
        l->split = sp;
        l->split_cap = sc;
        uint8_t (*hd)[CERTA_LEAF_PREFIX_BYTES] = realloc(l->heads, (hc ? hc : 1) * sizeof *hd);
        if (hd == NULL)
            return -1;
        l->heads = hd;
        l->heads_cap = hc;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        certa_batch_view v;
        certa_err fe = certa_batch_frame(reqs[i].bytes, reqs[i].len, &v, NULL);
        CERTA_ASSERT(fe == CERTA_OK); /* admitted requests frame */
        (void)fe;
        uint8_t *h = l->heads[i];
        h[0] = (uint8_t)reqs[i].integrator;
        h[1] = (uint8_t)(reqs[i].integrator >> 8);
        for (int b = 0; b < 8; b++)
            h[2 + b] = (uint8_t)(reqs[i].seq >> (8 * b));
        size_t pos = 0;
        const uint8_t *ev;
        size_t ev_len;
        while (certa_batch_next(&v, &pos, &ev, &ev_len))
            l->split[k++] = (certa_merkle_split_leaf){.head = h, .data = ev,
                                                      .head_len = CERTA_LEAF_PREFIX_BYTES,
                                                      .len_bytes = (uint32_t)ev_len};
    }
    CERTA_ASSERT(k == count);
    if (count > 0 &&
        certa_merkle_split_leaf_hashes(l->pool, l->split, count, l->leaf_hashes, NULL) !=
            CERTA_OK)
        return -1;
    return (long)count;
}

/* What header h carries: the results root and state digest after block
 * h - lag (zero for the first lag blocks). h - lag must be executed. */
static void lagged_fields(const certa_ledger *l, uint64_t h, uint8_t res[CERTA_HASH_BYTES],
                          uint8_t dig[CERTA_HASH_BYTES])
{
    if (h <= l->lag) {
        memset(res, 0, CERTA_HASH_BYTES);
        memset(dig, 0, CERTA_HASH_BYTES);
        return;
    }
    bool have = certa_ledger_roots(l, h - l->lag, res, dig);
    CERTA_ASSERT(have);
}

void certa_ledger_build_block(certa_ledger *l, certa_block_header *hdr,
                              const certa_pbft_request *reqs, size_t n)
{
    long events = block_leaves(l, reqs, n);
    CERTA_ASSERT(events >= 0); /* requests were validated before */
    certa_err e = certa_merkle_root_hashes(l->pool, l->leaf_hashes, (size_t)events,
                                           hdr->events_root, NULL);
    CERTA_ASSERT(e == CERTA_OK);
    hdr->event_count = (uint32_t)events;
    hdr->batch_count = (uint32_t)n;
    if (events > 0 && l->leaves != NULL)
        l->leaves(l->leaves_ctx, hdr->height, hdr->events_root, (size_t)events,
                  &l->leaf_hashes, &l->leaf_cap);
    /* Null blocks of a new view may be built before h - LAG executed: they
     * carry no results root; every other block carries that of h - LAG. */
    if (n > 0) {
        lagged_fields(l, hdr->height, hdr->prev_results_root, hdr->state_digest);
    } else {
        memset(hdr->prev_results_root, 0, CERTA_HASH_BYTES);
        memset(hdr->state_digest, 0, CERTA_HASH_BYTES);
    }
}

bool certa_ledger_validate_block(certa_ledger *l, const certa_block_header *hdr,
                                 const certa_pbft_request *reqs, size_t n)
{
    static const uint8_t zero[CERTA_HASH_BYTES];
    if (hdr->batch_count != n || hdr->height <= l->executed)
        return false;
    if (n == 0)
        return hdr->event_count == 0 &&
               memcmp(hdr->events_root, l->empty_root, CERTA_HASH_BYTES) == 0 &&
               memcmp(hdr->prev_results_root, zero, CERTA_HASH_BYTES) == 0 &&
               memcmp(hdr->state_digest, zero, CERTA_HASH_BYTES) == 0;
    /* A fresh pre-prepare for h reaches the core only once h - LAG executed
     * here (the host holds it back until then), so the results root and
     * state digest are checked against our own. A block further ahead can
     * only be a fetched block whose commit certificate the core verified:
     * its content is checked, its execution fields are the quorum's. */
    if (hdr->height <= l->executed + l->lag) {
        uint8_t res[CERTA_HASH_BYTES], dig[CERTA_HASH_BYTES];
        lagged_fields(l, hdr->height, res, dig);
        if (memcmp(hdr->prev_results_root, res, CERTA_HASH_BYTES) != 0 ||
            memcmp(hdr->state_digest, dig, CERTA_HASH_BYTES) != 0)
            return false;
    }
    long events = block_leaves(l, reqs, n);
    if (events < 0 || (uint64_t)events != hdr->event_count)
        return false;
    uint8_t root[CERTA_HASH_BYTES];
    if (certa_merkle_root_hashes(l->pool, l->leaf_hashes, (size_t)events, root, NULL) !=
        CERTA_OK)
        return false;
    if (memcmp(root, hdr->events_root, CERTA_HASH_BYTES) != 0)
        return false;
    if (events > 0 && l->leaves != NULL)
        l->leaves(l->leaves_ctx, hdr->height, root, (size_t)events, &l->leaf_hashes,
                  &l->leaf_cap);
    return true;
}

bool certa_ledger_can_propose(const certa_ledger *l, uint64_t height)
{
    return height <= l->executed + l->lag;
}
