/* app: the validator's PBFT application (the callbacks of certa_pbft_app
 * and certa_pbft_crypto, include/certa/pbft.h).
 *
 * The core is pure; everything it asks of the ledger is answered here:
 * - validate_request: a batch decodes, its integrator is in genesis and
 *   its signature verifies. The signature cache makes the second check of
 *   the same bytes free, and a pre-prepare's batches are verified in
 *   parallel on the pool just before its step (pre-verification), so the
 *   core's sequential calls during that step only look the outcome up.
 * - build_block / validate_block: the events' Merkle root and counts, and
 *   the LAG rule: header h carries the results root and state digest after
 *   h - LAG, which must have executed here (can_propose).
 *   Leaf hashes computed here are kept (leaf ring) until execution takes
 *   them, so no event is hashed twice.
 * - request_executed and the replay verdicts (judge_block): from the chain
 *   alone and the genesis horizon (engine/dedup.h), in height order, so
 *   every replica executes alike.
 * Runs on the I/O thread, except leaves_take (execution, under leaf_mu).
 */
#include "node_internal.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

/* ------------------------------------------------------------ signature cache */

static uint32_t sigcache_slot(const uint8_t digest[CERTA_HASH_BYTES])
{
    uint32_t v;
    memcpy(&v, digest, sizeof v);
    return v & (SIGCACHE_SLOTS - 1u);
}

static bool sigcache_has(const certa_node *nd, const uint8_t d[CERTA_HASH_BYTES])
{
    return memcmp(nd->sigcache[sigcache_slot(d)], d, CERTA_HASH_BYTES) == 0;
}

static void sigcache_put(certa_node *nd, const uint8_t d[CERTA_HASH_BYTES])
{
    memcpy(nd->sigcache[sigcache_slot(d)], d, CERTA_HASH_BYTES);
}

/* Decodes and fully checks a signed batch: framing, every event, integrator,
 * signature. The cache makes the second check of the same batch free. */
certa_err node_check_batch(certa_node *nd, const uint8_t *bytes, size_t len,
                           certa_batch_view *v, certa_errinfo *ei)
{
    certa_err e = certa_batch_decode(bytes, len, v, ei);
    if (e != CERTA_OK)
        return e;
    if (v->integrator >= nd->g->integrator_count)
        return certa_errorf(ei, CERTA_E_NOTFOUND,
                            "batch: integrator %u is not in genesis", v->integrator);
    if (sigcache_has(nd, v->digest))
        return CERTA_OK;
    if (!certa_verify(nd->g->integrators[v->integrator].key, v->digest,
                      CERTA_HASH_BYTES, v->signature))
        return certa_errorf(ei, CERTA_E_BAD_SIGNATURE,
                            "batch: signature of integrator %s (seq %llu) does not verify",
                            nd->g->integrators[v->integrator].name,
                            (unsigned long long)v->seq);
    sigcache_put(nd, v->digest);
    return CERTA_OK;
}

/* Parallel pre-verification of a pre-prepare's batches: each is decoded,
 * checked and its signature verified on the pool, so that the core's
 * sequential validate_request calls, made on the very same bytes during the
 * same step, only look the outcome up. */
typedef struct preverify_ctx {
    certa_node *nd;
    size_t n;
    bool active; /* during the step of the message the items point into */
    size_t cursor;
    const uint8_t *items[CERTA_PBFT_BLOCK_REQUESTS_MAX];
    size_t lens[CERTA_PBFT_BLOCK_REQUESTS_MAX];
    const uint8_t *bytes[CERTA_PBFT_BLOCK_REQUESTS_MAX]; /* the batch in the item */
    size_t blens[CERTA_PBFT_BLOCK_REQUESTS_MAX];
    uint16_t integrator[CERTA_PBFT_BLOCK_REQUESTS_MAX];
    uint64_t seq[CERTA_PBFT_BLOCK_REQUESTS_MAX];
    bool verified[CERTA_PBFT_BLOCK_REQUESTS_MAX]; /* signature verified here now */
    bool good[CERTA_PBFT_BLOCK_REQUESTS_MAX];     /* decodes, known integrator, signed */
    uint8_t digests[CERTA_PBFT_BLOCK_REQUESTS_MAX][CERTA_HASH_BYTES];
} preverify_ctx;

static void preverify_task(void *vctx, size_t i, unsigned worker)
{
    (void)worker;
    preverify_ctx *c = vctx;
    certa_pbft_request req;
    certa_batch_view v;
    c->verified[i] = false;
    c->good[i] = false;
    c->bytes[i] = NULL;
    if (!certa_pbft_request_item(c->items[i], c->lens[i], &req))
        return;
    if (certa_batch_decode(req.bytes, req.len, &v, NULL) != CERTA_OK ||
        v.integrator >= c->nd->g->integrator_count)
        return;
    c->bytes[i] = req.bytes;
    c->blens[i] = req.len;
    c->integrator[i] = v.integrator;
    c->seq[i] = v.seq;
    memcpy(c->digests[i], v.digest, CERTA_HASH_BYTES);
    if (sigcache_has(c->nd, v.digest)) { /* racy read: a miss only costs a verify */
        c->good[i] = true;
        return;
    }
    c->verified[i] = certa_verify(c->nd->g->integrators[v.integrator].key, v.digest,
                                  CERTA_HASH_BYTES, v.signature);
    c->good[i] = c->verified[i];
}

static preverify_ctx *preverify_scratch; /* one I/O thread per process */

bool node_preverify_init(void)
{
    if (preverify_scratch == NULL)
        preverify_scratch = calloc(1, sizeof *preverify_scratch);
    return preverify_scratch != NULL;
}

void node_preverify_arm(bool active)
{
    preverify_scratch->active = active;
}

void node_preverify_disarm(void)
{
    preverify_scratch->active = false;
    preverify_scratch->n = 0;
}

void node_preverify_preprepare(certa_node *nd, const uint8_t *bytes, size_t len)
{
    certa_pbft_msg m;
    preverify_ctx *c = preverify_scratch;
    c->n = 0;
    c->cursor = 0;
    if (certa_pbft_msg_decode(bytes, len, &m) != CERTA_OK ||
        m.type != CERTA_PBFT_MSG_PRE_PREPARE || m.reqs.count < 2)
        return;
    c->nd = nd;
    size_t pos = 0, n = 0;
    const uint8_t *it;
    size_t il;
    while (n < CERTA_PBFT_BLOCK_REQUESTS_MAX && certa_pbft_list_next(&m.reqs, &pos, &it, &il)) {
        c->items[n] = it;
        c->lens[n] = il;
        n++;
    }
    if (certa_pool_run(nd->pool, n, preverify_task, c, 10000, NULL) != CERTA_OK)
        return;
    for (size_t i = 0; i < n; i++)
        if (c->verified[i])
            sigcache_put(nd, c->digests[i]);
    c->n = n;
}

/* The pre-verified outcome for these bytes: 1 good, 0 bad, -1 not seen. */
static int preverified(const certa_pbft_request *req)
{
    preverify_ctx *c = preverify_scratch;
    if (c == NULL || !c->active || c->n == 0)
        return -1;
    /* the core asks in list order: start where the last answer was */
    for (size_t k = 0; k < c->n; k++) {
        size_t i = (c->cursor + k) % c->n;
        if (c->bytes[i] == req->bytes && c->blens[i] == req->len) {
            c->cursor = i + 1;
            return c->good[i] && c->integrator[i] == req->integrator && c->seq[i] == req->seq;
        }
    }
    return -1;
}

/* ------------------------------------------------------------ block content */

bool node_grow_hashes(uint8_t **buf, size_t *cap_io, size_t n)
{
    if (n <= *cap_io && *buf != NULL)
        return true;
    size_t cap = *cap_io ? *cap_io : 4096;
    while (cap < n)
        cap *= 2;
    uint8_t *p = realloc(*buf, cap * CERTA_HASH_BYTES);
    if (p == NULL)
        return false;
    *buf = p;
    *cap_io = cap;
    return true;
}

bool node_grow_leaves(certa_node *nd, size_t n)
{
    return node_grow_hashes(&nd->leaf_hashes, &nd->leaf_cap, n);
}

/* Hands nd->leaf_hashes (n hashes whose root is events_root, block height)
 * to the ring and takes the slot's old buffer as scratch: no copy. */
static void leaves_keep(certa_node *nd, uint64_t height,
                        const uint8_t events_root[CERTA_HASH_BYTES], size_t n)
{
    pthread_mutex_lock(&nd->leaf_mu);
    leaf_slot *sl = &nd->leaf_ring[height % LEAF_RING];
    uint8_t *p = sl->hashes;
    size_t cap = sl->cap;
    sl->hashes = nd->leaf_hashes;
    sl->cap = nd->leaf_cap;
    sl->height = height;
    sl->n = n;
    memcpy(sl->events_root, events_root, CERTA_HASH_BYTES);
    nd->leaf_hashes = p;
    nd->leaf_cap = cap;
    pthread_mutex_unlock(&nd->leaf_mu);
}

/* Moves the kept leaf hashes of (height, events_root, n) into
 * nd->leaf_hashes; false when they are not kept. */
bool node_leaves_take(certa_node *nd, uint64_t height,
                      const uint8_t events_root[CERTA_HASH_BYTES], size_t n,
                      uint8_t **buf, size_t *cap_io)
{
    pthread_mutex_lock(&nd->leaf_mu);
    leaf_slot *sl = &nd->leaf_ring[height % LEAF_RING];
    if (sl->height != height || sl->n != n || sl->hashes == NULL ||
        memcmp(sl->events_root, events_root, CERTA_HASH_BYTES) != 0) {
        pthread_mutex_unlock(&nd->leaf_mu);
        return false;
    }
    uint8_t *p = *buf;
    size_t cap = *cap_io;
    *buf = sl->hashes;
    *cap_io = sl->cap;
    sl->hashes = p;
    sl->cap = cap;
    sl->height = 0;
    pthread_mutex_unlock(&nd->leaf_mu);
    return true;
}

/* Leaf hashes of every event of reqs, in order, into nd->leaf_hashes: each
 * leaf (u16 integrator || u64 seq || event) is hashed where its event lies,
 * behind a 10-byte head per batch, on the Merkle module's wide kernels.
 * Returns the event count, or -1 when a batch does not frame. */
static long block_leaves(certa_node *nd, const certa_pbft_request *reqs, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        certa_batch_view v;
        /* validate_request checked every batch before: framing is enough */
        if (certa_batch_frame(reqs[i].bytes, reqs[i].len, &v, NULL) != CERTA_OK)
            return -1;
        count += v.event_count;
    }
    if (!node_grow_leaves(nd, count))
        return -1;
    if (count > nd->split_cap || n > nd->heads_cap) {
        size_t sc = count > nd->split_cap ? count : nd->split_cap;
        size_t hc = n > nd->heads_cap ? n : nd->heads_cap;
        certa_merkle_split_leaf *sp = realloc(nd->split, sc * sizeof *sp);
        if (sp == NULL)
            return -1;
        nd->split = sp;
        nd->split_cap = sc;
        uint8_t (*hd)[CERTA_LEAF_PREFIX_BYTES] = realloc(nd->heads, hc * sizeof *hd);
        if (hd == NULL)
            return -1;
        nd->heads = hd;
        nd->heads_cap = hc;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        certa_batch_view v;
        CERTA_ASSERT(certa_batch_frame(reqs[i].bytes, reqs[i].len, &v, NULL) == CERTA_OK);
        uint8_t *h = nd->heads[i];
        h[0] = (uint8_t)reqs[i].integrator;
        h[1] = (uint8_t)(reqs[i].integrator >> 8);
        for (int b = 0; b < 8; b++)
            h[2 + b] = (uint8_t)(reqs[i].seq >> (8 * b));
        size_t pos = 0;
        const uint8_t *ev;
        size_t ev_len;
        while (certa_batch_next(&v, &pos, &ev, &ev_len))
            nd->split[k++] = (certa_merkle_split_leaf){.head = h, .data = ev,
                                                       .head_len = CERTA_LEAF_PREFIX_BYTES,
                                                       .len_bytes = (uint32_t)ev_len};
    }
    CERTA_ASSERT(k == count);
    if (certa_merkle_split_leaf_hashes(nd->pool, nd->split, count, nd->leaf_hashes, NULL) !=
        CERTA_OK)
        return -1;
    return (long)count;
}

/* What header h carries: the results root and state digest after block
 * h - LAG (zero for the first LAG blocks). h - LAG must be executed. */
static void lagged_fields(const certa_node *nd, uint64_t h, uint8_t res[CERTA_HASH_BYTES],
                          uint8_t dig[CERTA_HASH_BYTES])
{
    if (h <= LAG) {
        memset(res, 0, CERTA_HASH_BYTES);
        memset(dig, 0, CERTA_HASH_BYTES);
        return;
    }
    CERTA_ASSERT(h - LAG <= nd->executed && h - LAG + LAG_RING > nd->executed);
    memcpy(res, nd->lag_results[(h - LAG) % LAG_RING], CERTA_HASH_BYTES);
    memcpy(dig, nd->lag_digest[(h - LAG) % LAG_RING], CERTA_HASH_BYTES);
}

static void app_build_block(void *ctx, const certa_block_header *parent,
                            certa_block_header *hdr, const certa_pbft_request *reqs,
                            size_t n)
{
    certa_node *nd = ctx;
    uint64_t t0 = mono_us();
    long events = block_leaves(nd, reqs, n);
    CERTA_ASSERT(events >= 0); /* requests were validated before */
    certa_err e = certa_merkle_root_hashes(nd->pool, nd->leaf_hashes, (size_t)events,
                                           hdr->events_root, NULL);
    CERTA_ASSERT(e == CERTA_OK);
    hdr->event_count = (uint32_t)events;
    hdr->batch_count = (uint32_t)n;
    if (events > 0)
        leaves_keep(nd, hdr->height, hdr->events_root, (size_t)events);
    /* Null blocks of a new view may be built before h - LAG executed: they
     * carry no results root; every other block carries that of h - LAG. */
    (void)parent;
    if (n > 0) {
        lagged_fields(nd, hdr->height, hdr->prev_results_root, hdr->state_digest);
    } else {
        memset(hdr->prev_results_root, 0, CERTA_HASH_BYTES);
        memset(hdr->state_digest, 0, CERTA_HASH_BYTES);
    }
    certa_log(CERTA_LOG_DEBUG, "block_built", "\"height\":%llu,\"batches\":%zu,\"events\":%ld,\"us\":%llu",
              (unsigned long long)hdr->height, n, events,
              (unsigned long long)(mono_us() - t0));
}

static bool app_validate_block(void *ctx, const certa_block_header *hdr,
                               const certa_pbft_request *reqs, size_t n)
{
    certa_node *nd = ctx;
    static const uint8_t zero[CERTA_HASH_BYTES];
    if (hdr->batch_count != n || hdr->height <= nd->executed)
        return false;
    if (n == 0)
        return hdr->event_count == 0 &&
               memcmp(hdr->events_root, nd->empty_root, CERTA_HASH_BYTES) == 0 &&
               memcmp(hdr->prev_results_root, zero, CERTA_HASH_BYTES) == 0 &&
               memcmp(hdr->state_digest, zero, CERTA_HASH_BYTES) == 0;
    /* A fresh pre-prepare for h reaches the core only once h - LAG executed
     * here (on_peer_msg holds it back until then), so the results root and
     * state digest are checked against our own. A block further ahead can
     * only be a fetched block whose commit certificate the core verified:
     * its content is checked, its execution fields are the quorum's. */
    if (hdr->height <= nd->executed + LAG) {
        uint8_t res[CERTA_HASH_BYTES], dig[CERTA_HASH_BYTES];
        lagged_fields(nd, hdr->height, res, dig);
        if (memcmp(hdr->prev_results_root, res, CERTA_HASH_BYTES) != 0 ||
            memcmp(hdr->state_digest, dig, CERTA_HASH_BYTES) != 0)
            return false;
    }
    long events = block_leaves(nd, reqs, n);
    if (events < 0 || (uint64_t)events != hdr->event_count)
        return false;
    uint8_t root[CERTA_HASH_BYTES];
    if (certa_merkle_root_hashes(nd->pool, nd->leaf_hashes, (size_t)events, root,
                                 NULL) != CERTA_OK)
        return false;
    if (memcmp(root, hdr->events_root, CERTA_HASH_BYTES) != 0)
        return false;
    if (events > 0)
        leaves_keep(nd, hdr->height, root, (size_t)events);
    return true;
}

static bool app_can_propose(void *ctx, uint64_t height)
{
    const certa_node *nd = ctx;
    return height <= nd->executed + LAG;
}

static bool app_validate_request(void *ctx, const certa_pbft_request *req)
{
    certa_node *nd = ctx;
    int pv = preverified(req);
    if (pv >= 0)
        return pv == 1;
    certa_batch_view v;
    if (node_check_batch(nd, req->bytes, req->len, &v, NULL) != CERTA_OK)
        return false;
    return v.integrator == req->integrator && v.seq == req->seq;
}

/* Committed already (executed, or queued for execution), or too old to
 * tell: either way not to be proposed again. */
static bool app_request_executed(void *ctx, uint16_t integrator, uint64_t seq)
{
    const certa_node *nd = ctx;
    if (integrator >= nd->g->integrator_count)
        return true;
    return certa_dedup_lookup(nd->dedup, integrator, seq, NULL) != CERTA_DEDUP_NEW;
}

/* Decides the replay verdict of every batch of a committed block record
 * (delivered or recovered; each height once, in order) and feeds the
 * replay table with it. Depends only on the chain, so every replica
 * executes alike. Returns the verdicts (malloc'ed, one per batch), or NULL
 * for a record that does not decode: execution then refuses it. */
uint8_t *node_judge_block(certa_node *nd, const uint8_t *rec, size_t len)
{
    certa_pbft_msg m;
    if (certa_pbft_msg_decode(rec, len, &m) != CERTA_OK || m.type != CERTA_PBFT_REC_BLOCK ||
        m.hdr.height != nd->dlv_height + 1)
        return NULL;
    uint8_t *verdicts = calloc(m.reqs.count ? m.reqs.count : 1, 1);
    CERTA_ASSERT(verdicts != NULL); /* one byte per batch of a committed block */
    certa_dedup_begin_block(nd->dedup, m.hdr.height, m.hdr.timestamp_ms, nd->dlv_events);
    size_t pos = 0, nb = 0;
    uint32_t events = 0;
    const uint8_t *it;
    size_t il;
    while (certa_pbft_list_next(&m.reqs, &pos, &it, &il)) {
        certa_pbft_request req;
        certa_batch_view v;
        if (!certa_pbft_request_item(it, il, &req) ||
            certa_batch_frame(req.bytes, req.len, &v, NULL) != CERTA_OK) {
            free(verdicts);
            return NULL;
        }
        CERTA_ASSERT(nb < m.reqs.count);
        /* an integrator genesis does not know is executed (role_forbidden
         * per event); validate_request keeps it out of blocks anyway */
        certa_dedup_answer a = CERTA_DEDUP_NEW;
        if (req.integrator < nd->g->integrator_count)
            a = certa_dedup_commit(nd->dedup, req.integrator, req.seq, events, NULL);
        verdicts[nb++] = a == CERTA_DEDUP_NEW ? V_NEW
                         : a == CERTA_DEDUP_EXECUTED ? V_REPLAYED : V_TOO_OLD;
        events += v.event_count;
    }
    nd->dlv_height = m.hdr.height;
    nd->dlv_events += events;
    nd->dlv_tip_ms = m.hdr.timestamp_ms;
    return verdicts;
}

static void app_header_hash(void *ctx, const certa_block_header *hdr,
                            uint8_t out[CERTA_HASH_BYTES])
{
    (void)ctx;
    certa_header_hash(hdr, out);
}

bool node_read_block(void *ctx, uint64_t height, const uint8_t **rec, size_t *len)
{
    certa_node *nd = ctx;
    size_t sz = 0;
    if (certa_store_block_size(nd->blocks, height, &sz) != CERTA_OK)
        return false;
    if (sz > nd->readcap) {
        uint8_t *p = realloc(nd->readbuf, sz);
        if (p == NULL)
            return false;
        nd->readbuf = p;
        nd->readcap = sz;
    }
    if (certa_store_read(nd->blocks, height, nd->readbuf, nd->readcap, len, NULL) != CERTA_OK)
        return false;
    *rec = nd->readbuf;
    return true;
}

static void crypto_sign(void *ctx, const uint8_t *msg, size_t len,
                        uint8_t sig[CERTA_SIGNATURE_BYTES])
{
    certa_node *nd = ctx;
    certa_err e = certa_sign(nd->key, msg, len, sig, NULL);
    CERTA_ASSERT(e == CERTA_OK);
}

static bool crypto_verify(void *ctx, uint16_t signer, const uint8_t *msg,
                          size_t len, const uint8_t sig[CERTA_SIGNATURE_BYTES])
{
    certa_node *nd = ctx;
    if (signer >= nd->g->validator_count)
        return false;
    return certa_verify(nd->g->validators[signer].sign_key, msg, len, sig);
}

/* ------------------------------------------------------------ binding */

void node_app_bind(certa_node *nd, certa_pbft_config *pc)
{
    pc->crypto = (certa_pbft_crypto){nd, crypto_sign, crypto_verify};
    pc->app = (certa_pbft_app){.ctx = nd,
                               .validate_request = app_validate_request,
                               .request_executed = app_request_executed,
                               .build_block = app_build_block,
                               .validate_block = app_validate_block,
                               .can_propose = app_can_propose,
                               .header_hash = app_header_hash,
                               .read_block = node_read_block,
                               .request_dropped = node_request_dropped};
}
