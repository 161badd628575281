/* app: the validator's PBFT application (the callbacks of certa_pbft_app
 * and certa_pbft_crypto, include/certa/pbft.h), around the ledger.
 *
 * The rules are the ledger's (engine/ledger.h: admission, replay verdicts,
 * the LAG rule, block content); what lives here is how the daemon makes
 * them fast and wires them to its threads:
 * - the signature cache, behind the ledger's verify callback: the second
 *   check of the same batch bytes costs a look-up, not a verification;
 * - pre-verification: a pre-prepare's batches are checked in parallel on
 *   the pool just before its step (the ledger's admission check, split by
 *   batch), so the core's sequential validate_request calls during that
 *   step only look the outcome up;
 * - the leaf ring: leaf hashes the ledger computes while building or
 *   validating a block are kept until execution takes them, so no event
 *   is hashed twice.
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

/* The ledger's verify callback: the integrator's Ed25519 signature of a
 * batch digest under its key in the admission table, through the cache
 * (emptied whenever that table changes: node_admit). */
bool node_verify_batch(void *ctx, const certa_pubkey *key, uint16_t integrator,
                       const uint8_t digest[CERTA_HASH_BYTES],
                       const uint8_t sig[CERTA_SIGNATURE_BYTES])
{
    certa_node *nd = ctx;
    (void)integrator;
    if (sigcache_has(nd, digest))
        return true;
    if (!certa_verify(key, digest, CERTA_HASH_BYTES, sig))
        return false;
    sigcache_put(nd, digest);
    return true;
}

/* The ledger's admission check (framing, every event, integrator,
 * signature); the cache makes the second check of the same batch free. */
certa_err node_check_batch(certa_node *nd, const uint8_t *bytes, size_t len,
                           certa_batch_view *v, certa_errinfo *ei)
{
    return certa_ledger_check_batch(nd->ledger, bytes, len, v, ei);
}

/* Parallel pre-verification of a pre-prepare's batches: each is decoded,
 * checked and its signature verified on the pool, so that the core's
 * sequential validate_request calls, made on the very same bytes during the
 * same step, only look the outcome up. Its answer is the ledger's
 * admission check (certa_ledger_check_batch), batch by batch: decodes,
 * integrator in genesis, signature. */
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
    certa_block_batch req; /* u16 integrator || u64 seq || batch */
    certa_batch_view v;
    c->verified[i] = false;
    c->good[i] = false;
    c->bytes[i] = NULL;
    if (!certa_block_batch_item(c->items[i], c->lens[i], &req))
        return;
    /* the admission table does not change during the step (node_admit
     * runs on the I/O thread, which waits for these tasks) */
    const certa_pubkey *key = NULL;
    if (certa_batch_decode(req.bytes, req.len, &v, NULL) != CERTA_OK ||
        (key = certa_ledger_integrator_key(c->nd->ledger, v.integrator)) == NULL ||
        !certa_ledger_integrator_active(c->nd->ledger, v.integrator))
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
    c->verified[i] = certa_verify(key, v.digest,
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
    preverify_ctx *c = preverify_scratch;
    c->n = 0;
    c->cursor = 0;
    uint64_t height;
    size_t n = 0;
    if (!certa_pbft_peek_preprepare(bytes, len, &height, c->items, c->lens,
                                    CERTA_PBFT_BLOCK_REQUESTS_MAX, &n) ||
        n < 2)
        return;
    c->nd = nd;
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

/* The ledger's leaves hook: hands the ledger's buffer (n hashes whose root
 * is events_root, block height) to the ring and gives it the slot's old
 * buffer as scratch: no copy. */
static void leaves_keep(void *ctx, uint64_t height, const uint8_t events_root[CERTA_HASH_BYTES],
                        size_t n, uint8_t **hashes, size_t *cap_io)
{
    certa_node *nd = ctx;
    pthread_mutex_lock(&nd->leaf_mu);
    leaf_slot *sl = &nd->leaf_ring[height % LEAF_RING];
    uint8_t *p = sl->hashes;
    size_t cap = sl->cap;
    sl->hashes = *hashes;
    sl->cap = *cap_io;
    sl->height = height;
    sl->n = n;
    memcpy(sl->events_root, events_root, CERTA_HASH_BYTES);
    *hashes = p;
    *cap_io = cap;
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

/* Installs the admission table a block's execution produced (the council
 * changed the integrators) and empties the signature cache: a digest it
 * holds verified under a key that may be out now. */
void node_admit(certa_node *nd, certa_ledger_adm *a)
{
    if (a == NULL)
        return;
    certa_ledger_admit(nd->ledger, a);
    memset(nd->sigcache, 0, (size_t)SIGCACHE_SLOTS * sizeof *nd->sigcache);
    node_apply_timing(nd);
}

uint32_t node_block_bytes(uint32_t block_events_max)
{
    /* Blocks are bounded by bytes as a proxy for events per block (about
     * 150 bytes an event): a block must travel, be signed, verified and
     * persisted well within the view timeout. */
    uint64_t b = (uint64_t)(block_events_max ? block_events_max : 8192) * 192u;
    if (b < 64u * 1024)
        b = 64u * 1024;
    if (b > 4u * 1024 * 1024)
        b = 4u * 1024 * 1024;
    return (uint32_t)b;
}

void node_apply_timing(certa_node *nd)
{
    certa_ledger_timing t = certa_ledger_timing_of(nd->ledger), *was = &nd->timing_applied;
    if (t.block_events_max == was->block_events_max &&
        t.block_timeout_ms == was->block_timeout_ms && t.view_timeout_ms == was->view_timeout_ms)
        return;
    /* a value genesis left to the defaults and the council never set keeps
     * what the validator runs with */
    uint32_t batch_to = t.block_timeout_ms ? t.block_timeout_ms : nd->pc.batch_timeout_ms;
    uint32_t view_to = t.view_timeout_ms ? t.view_timeout_ms : nd->pc.view_timeout_ms;
    uint32_t bytes = t.block_events_max ? node_block_bytes(t.block_events_max)
                                        : nd->pc.batch_bytes_max;
    if (!certa_pbft_set_timing(nd->pbft, batch_to, view_to, bytes)) {
        certa_log(CERTA_LOG_WARN, "timing_refused",
                  "\"block_timeout_ms\":%u,\"view_timeout_ms\":%u,\"block_bytes\":%u",
                  batch_to, view_to, bytes);
        *was = t;
        return;
    }
    nd->pc.batch_timeout_ms = batch_to;
    nd->pc.view_timeout_ms = view_to;
    nd->pc.batch_bytes_max = bytes;
    if (t.block_events_max)
        nd->admit_events_max = 2ull * t.block_events_max;
    *was = t;
    certa_log(CERTA_LOG_INFO, "timing_changed",
              "\"block_events_max\":%u,\"block_timeout_ms\":%u,\"view_timeout_ms\":%u,"
              "\"block_bytes\":%u",
              t.block_events_max, batch_to, view_to, bytes);
}

const char *node_integrator_name(const certa_node *nd, uint32_t idx)
{
    const char *name = certa_ledger_integrator_name(nd->ledger, idx);
    return name != NULL ? name : "?";
}

certa_err node_ledger_open(certa_node *nd, certa_errinfo *ei)
{
    certa_ledger_params lp = {.g = nd->g,
                              .state = nd->state,
                              .pool = nd->pool,
                              .verify = node_verify_batch,
                              .verify_ctx = nd,
                              .leaves = leaves_keep,
                              .leaves_ctx = nd};
    certa_err e = certa_ledger_create(&lp, &nd->ledger, ei);
    if (e == CERTA_OK)
        nd->dedup = certa_ledger_replay(nd->ledger);
    return e;
}

static void app_build_block(void *ctx, const certa_block_header *parent,
                            certa_block_header *hdr, const certa_pbft_request *reqs,
                            size_t n)
{
    certa_node *nd = ctx;
    (void)parent;
    uint64_t t0 = mono_us();
    certa_ledger_build_block(nd->ledger, hdr, reqs, n);
    certa_log(CERTA_LOG_DEBUG, "block_built", "\"height\":%llu,\"batches\":%zu,\"events\":%u,\"us\":%llu",
              (unsigned long long)hdr->height, n, hdr->event_count,
              (unsigned long long)(mono_us() - t0));
}

static bool app_validate_block(void *ctx, const certa_block_header *hdr,
                               const certa_pbft_request *reqs, size_t n)
{
    certa_node *nd = ctx;
    return certa_ledger_validate_block(nd->ledger, hdr, reqs, n);
}

static bool app_can_propose(void *ctx, uint64_t height)
{
    const certa_node *nd = ctx;
    return certa_ledger_can_propose(nd->ledger, height);
}

static bool app_validate_request(void *ctx, const certa_pbft_request *req)
{
    certa_node *nd = ctx;
    int pv = preverified(req);
    if (pv >= 0)
        return pv == 1;
    return certa_ledger_validate_request(nd->ledger, req);
}

/* Committed already (executed, or queued for execution), or too old to
 * tell: either way not to be proposed again. */
static bool app_request_executed(void *ctx, uint16_t integrator, uint64_t seq)
{
    const certa_node *nd = ctx;
    return certa_ledger_request_executed(nd->ledger, integrator, seq);
}

/* The ledger's replay verdicts of a committed block record (delivered or
 * recovered; each height once, in order), from the chain alone, so every
 * replica executes alike; NULL for a record that does not decode:
 * execution then refuses it. */
uint8_t *node_judge_block(certa_node *nd, const uint8_t *rec, size_t len)
{
    return certa_ledger_judge(nd->ledger, rec, len);
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
