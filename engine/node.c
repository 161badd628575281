/* node: the validator daemon's engine room.
 *
 * A pipeline of threads joined by bounded queues:
 * - the I/O thread runs the loop: poll the validator transport, the
 *   integrator endpoint and the execution stage's eventfd; step the PBFT
 *   core (pure) with every message, request and tick; carry out its actions
 *   (WAL and block log appends, sends); answer integrators;
 * - libzmq's I/O thread moves and encrypts (CURVE) the bytes;
 * - a fixed worker pool verifies batch signatures and hashes Merkle trees;
 * - io_uring and the store's flusher make the logs durable (group commit);
 * - the execution thread owns the state and applies committed, durable
 *   blocks in height order (exec_pipe); the I/O thread completes each one
 *   (receipts, its view of the executed height) when it comes back.
 *
 * Invariants:
 * - Persist before send: the actions of every step are applied in one round:
 *   records and delivered blocks are appended, both logs are waited durable,
 *   and only then are the round's messages sent (include/certa/pbft.h).
 * - A block is executed only when durable, in height order, exactly once;
 *   receipts are built from the executed block, so a receipt never precedes
 *   durability on this node.
 * - A proposal for height h is built only once h - LAG executed here, and a
 *   backup votes for h only once it executed h - LAG itself: the header of h
 *   carries the results root and state digest after h - LAG, checked by
 *   2f+1.
 * - Only the execution thread touches the state, except queries under
 *   state_mu; the two threads share nothing else but the rings (pipe.mu) and
 *   the kept leaf hashes (leaf_mu).
 * - Replay verdicts (new, replayed, too old) are decided once per committed
 *   block, in height order, by the I/O thread (judge_block) from the chain
 *   alone and the genesis horizon (engine/dedup.h); execution applies them.
 *   The door never calls a batch executed unless it was committed new.
 * - Bounded: the waiter table, the outgoing queue, the signature cache,
 *   the replay table and the execution rings have fixed capacities; a full one answers BUSY or
 *   keeps a durable block in the delivery queue until execution has room.
 */
#include "certa/node.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <zmq.h>

#include "certa/client.h"
#include "certa/codec.h"
#include "certa/crypto.h"
#include "certa/genesis.h"
#include "certa/log.h"
#include "certa/merkle.h"
#include "certa/pbft.h"
#include "certa/pool.h"
#include "certa/receipt.h"
#include "certa/state.h"
#include "certa/store.h"
#include "dedup.h"
#include "metrics.h"
#include "node_query.h"
#include "pbft_msg.h"
#include "transport.h"
#include "wal.h"

#define OUT_MAX 8192u            /* messages queued in one round */
#define WAITERS_MAX 65536u       /* batches awaiting a receipt (power of 2) */
#define SIGCACHE_SLOTS 16384u    /* verified batch digests (power of 2) */
#define EXEC_QUEUE_MAX 1024u     /* delivered blocks awaiting durability */
#define CLIENT_RECV_PER_ROUND 512u
#define RECEIPT_BYTES_MAX (8u * 1024u * 1024u)

#define LAG CERTA_RESULTS_LAG_BLOCKS
#define LAG_RING 64u
#define LEAF_RING 8u /* > LAG + 1: blocks validated ahead of execution */
#define PF_AHEAD 8u  /* events decoded ahead of execution, for prefetching */

typedef struct leaf_slot {
    uint64_t height; /* 0 = empty */
    uint8_t events_root[CERTA_HASH_BYTES];
    size_t n;
    uint8_t *hashes;
    size_t cap;
} leaf_slot;
_Static_assert(LAG < LAG_RING, "the ring must hold the lag");
_Static_assert(LAG + 1 < LEAF_RING, "kept leaves must outlive the blocks in flight");

typedef struct out_msg {
    uint32_t to; /* CERTA_TRANSPORT_ALL for a broadcast */
    uint8_t *bytes;
    size_t len;
} out_msg;

/* One request awaiting the receipt of a batch. Several requests may await
 * the same batch (a client re-sent it from another connection, or before
 * the first was answered): each has its own entry, and all are answered. */
typedef struct waiter {
    bool used;
    uint16_t integrator;
    uint64_t seq;
    uint64_t request_id;
    uint64_t accepted_ms;
    uint32_t events; /* counted in pending_events (0 for a second request) */
    uint8_t digest[CERTA_HASH_BYTES]; /* of the batch this request sent */
    uint8_t peer[CERTA_CP_PEER_BYTES_MAX];
    uint8_t peer_len;
} waiter;
#define WAITER_REQUESTS_MAX 4u /* requests awaiting one batch */

/* The replay verdict of each batch of a committed block (engine/dedup.h),
 * decided once when the block is delivered, in height order. */
enum { V_NEW = 0, V_REPLAYED = 1, V_TOO_OLD = 2 };

typedef struct exec_item {
    uint64_t height;
    uint8_t *rec;
    size_t len;
    uint8_t *verdicts; /* one per batch (owned) */
} exec_item;

typedef struct exec_batch {
    uint16_t integrator;
    uint64_t seq;
    uint32_t first_leaf;
    uint32_t count;
    const uint8_t *bytes;
    size_t len;
} exec_batch;

/* A committed, durable block on its way through execution. The I/O thread
 * creates it, the execution thread fills it, the I/O thread completes it
 * (receipts, caches, its view of the executed height) and frees it. */
typedef struct exec_job {
    uint64_t height;
    uint8_t *rec; /* the REC_BLOCK record (owned) */
    size_t len;
    certa_pbft_msg m; /* decoded from rec */
    exec_batch *batches; /* owned */
    size_t nb;
    uint32_t leaves;
    uint8_t *leaf_hashes; /* owned; leaves hashes */
    size_t leaf_cap;
    uint8_t *results;  /* owned; one per leaf */
    uint8_t *verdicts; /* owned; per batch, V_* */
    uint8_t results_root[CERTA_HASH_BYTES];
    uint8_t state_digest[CERTA_HASH_BYTES];
    certa_err err;
    certa_errinfo ei;
} exec_job;

/* The execution stage: one thread that owns the state and applies blocks
 * in height order, joined to the I/O thread by two bounded rings. At most
 * EXEC_PIPE_MAX jobs are outstanding (queued, executing or done and not yet
 * taken back); the done ring holds them all, so the execution thread never
 * waits for the I/O thread, and the I/O thread never waits for execution:
 * a durable block that finds the stage full stays in its queue (exq). */
#define EXEC_PIPE_MAX EXEC_QUEUE_MAX
typedef struct exec_pipe {
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* a job queued, or stop */
    exec_job *in[EXEC_PIPE_MAX];
    uint32_t in_head, in_count;
    exec_job *done[EXEC_PIPE_MAX];
    uint32_t done_head, done_count;
    uint32_t outstanding;
    bool stop;
    bool failed; /* a job failed: the rest are not executed */
    int efd;     /* eventfd: a job is done */
} exec_pipe;

#define HELD_MAX 64u /* pre-prepares waiting for their parent to execute */

typedef struct held_msg {
    uint64_t seq;
    uint8_t *bytes;
    size_t len;
} held_msg;

typedef struct node_metrics {
    certa_metrics *reg;
    certa_metric *blocks, *events, *batches_in, *batches_refused, *receipts;
    certa_metric *results[CERTA_R_COUNT];
    certa_metric *commit_latency, *fsync_latency;
    certa_metric *view, *view_changes, *height, *peers, *waiters, *exec_queue;
    certa_metric *bytes_in, *bytes_out, *store_failed, *busy, *expired;
    certa_metric *since_commit, *in_vc, *dropped;
    certa_metric *too_old, *replay_batches, *replay_seconds;
} node_metrics;

struct certa_node {
    certa_node_config cfg;
    certa_genesis *g;
    certa_key *key;
    char curve_secret[CERTA_CURVE_KEY_Z85_BYTES];
    uint16_t self;
    uint16_t n;

    certa_pool *pool;
    certa_store *blocks;
    certa_wal *wal;
    uint64_t blocks_last;
    bool blocks_dirty;

    /* The state, x_executed and the pf_ring belong to the execution thread
     * once certa_node_run started it; state_mu guards the state for the
     * queries and re-sent receipts the I/O thread answers. */
    certa_state *state;
    pthread_mutex_t state_mu;
    uint64_t x_executed;
    uint8_t *x_leaf_hashes; /* execution's scratch */
    size_t x_leaf_cap;
    exec_pipe pipe;
    exec_job **completed; /* taken back from the done ring, to complete */
    uint32_t ncompleted;
    uint64_t events_total;
    /* The I/O thread's view: what completed execution. */
    uint64_t executed;
    uint8_t results_root[CERTA_HASH_BYTES]; /* of block `executed` */
    uint8_t state_digest[CERTA_HASH_BYTES]; /* after block `executed` */
    /* results root and state digest after recent heights, by height % LAG_RING */
    uint8_t lag_results[LAG_RING][CERTA_HASH_BYTES];
    uint8_t lag_digest[LAG_RING][CERTA_HASH_BYTES];
    uint8_t empty_root[CERTA_HASH_BYTES];
    /* Replay protection (engine/dedup.h), the I/O thread's: fed with every
     * block as it is delivered (committed and durable) or recovered, in
     * height order, it decides each batch's verdict for execution, answers
     * the door and the core's request_executed (a batch committed but
     * still queued for execution is never proposed again), and locates
     * executed batches for re-sent receipts. */
    certa_dedup *dedup;
    uint64_t dlv_height; /* last block fed to dedup */
    uint64_t dlv_events; /* events in blocks 1..dlv_height */
    uint64_t dlv_tip_ms; /* timestamp of block dlv_height */
    uint64_t horizon_ms; /* the table's horizon in block time */

    certa_pbft *pbft;
    certa_pbft_config pc;
    uint64_t timer_at_ms;
    uint64_t last_view;
    uint64_t last_commit_ms; /* a block holding events last completed */
    uint64_t vc_since_ms;    /* in view change since (0: not) */
    uint64_t vc_warned_view; /* the view whose stall was logged */

    certa_transport *tp;
    certa_cp_server *cs;
    certa_node_query *nq; /* answers QUERY (engine/node_query.c) */
    node_metrics m;
    bool store_failed;

    out_msg *out;
    uint32_t nout;
    held_msg held[HELD_MAX];
    uint32_t nheld;
    exec_item *exq;
    uint32_t nexq;
    waiter *waiters;
    uint32_t nwaiters;
    uint64_t pending_events;     /* events of the waiters */
    uint32_t admit_batches_max;  /* admission control: see handle_submit */
    uint64_t admit_events_max;
    uint64_t last_sweep_ms;
    uint8_t (*sigcache)[CERTA_HASH_BYTES];

    /* scratch, reused */
    uint8_t *leaf_hashes;
    size_t leaf_cap;
    /* leaf hashes of blocks built or validated here, kept until they
     * execute so that execution does not hash every event again */
    leaf_slot leaf_ring[LEAF_RING];
    pthread_mutex_t leaf_mu; /* leaf_ring: kept by the I/O thread, taken by execution */
    certa_merkle_split_leaf *split; /* block_leaves' scratch */
    size_t split_cap;
    uint8_t (*heads)[CERTA_LEAF_PREFIX_BYTES];
    size_t heads_cap;
    /* events decoded ahead of execution (execute_job) */
    certa_event pf_ring[PF_AHEAD];
    bool pf_ok[PF_AHEAD];
    uint8_t *readbuf;
    size_t readcap;
    uint8_t *receipt_buf;
    certa_receipt_entry *entries;
    uint8_t (*paths)[CERTA_MERKLE_PATH_MAX][CERTA_HASH_BYTES];
    size_t entries_cap;
    uint64_t events_window_start_ms, events_window_count;
    double events_per_s;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

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
static certa_err check_batch(certa_node *nd, const uint8_t *bytes, size_t len,
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

static preverify_ctx *preverify_scratch;

static void preverify_preprepare(certa_node *nd, const uint8_t *bytes, size_t len)
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

static bool grow_hashes(uint8_t **buf, size_t *cap_io, size_t n)
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

static bool grow_leaves(certa_node *nd, size_t n)
{
    return grow_hashes(&nd->leaf_hashes, &nd->leaf_cap, n);
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
static bool leaves_take(certa_node *nd, uint64_t height,
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
    if (!grow_leaves(nd, count))
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
    if (check_batch(nd, req->bytes, req->len, &v, NULL) != CERTA_OK)
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
static uint8_t *judge_block(certa_node *nd, const uint8_t *rec, size_t len)
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

static void reply_error(certa_node *nd, const uint8_t *peer, size_t peer_len,
                        uint64_t rid, certa_err code, bool retryable,
                        uint32_t retry_ms, const char *msg);
static waiter *waiter_find(certa_node *nd, uint16_t integrator, uint64_t seq);
static void waiter_remove(certa_node *nd, waiter *w);

/* The core dropped a pending batch that request_executed came to call
 * executed (a later block holds it, or it fell out of the replay window):
 * proposing it would have every backup refuse the block. Said in the log,
 * and the integrator waiting here gets a final answer now rather than
 * none: a re-send is answered from the executed batches (its receipt) or
 * refused as a replay. */
static certa_err resend_receipt(certa_node *nd, waiter *w, const certa_dedup_loc *loc,
                                char *why, size_t why_len);

/* The core dropped a pending batch unordered because the replay table now
 * knows its (integrator, seq): another copy of it was committed, or it fell
 * out of the horizon. Every request waiting for it gets the true answer:
 * its receipt (now, or from execution when that block is still queued), a
 * refusal naming the block when the committed bytes differ, or "too old to
 * tell". Never a bare "already executed" for a batch that did not run. */
static void app_request_dropped(void *ctx, uint16_t integrator, uint64_t seq)
{
    certa_node *nd = ctx;
    certa_metric_add(nd->m.dropped, 1);
    certa_dedup_loc loc = {0};
    certa_dedup_answer a = integrator < nd->g->integrator_count
                               ? certa_dedup_lookup(nd->dedup, integrator, seq, &loc)
                               : CERTA_DEDUP_NEW;
    certa_log(CERTA_LOG_WARN, "request_dropped",
              "\"integrator\":%u,\"seq\":%llu,\"reason\":\"%s\",\"height\":%llu", integrator,
              (unsigned long long)seq,
              a == CERTA_DEDUP_EXECUTED ? "committed in another copy"
              : a == CERTA_DEDUP_TOO_OLD ? "too old to tell"
                                         : "unknown integrator",
              (unsigned long long)loc.height);
    /* committed, not yet executed here: execution answers every waiter */
    if (a == CERTA_DEDUP_EXECUTED && loc.height > nd->executed)
        return;
    waiter *w;
    while ((w = waiter_find(nd, integrator, seq)) != NULL) {
        char msg[600], why[400];
        if (a == CERTA_DEDUP_EXECUTED) {
            certa_err e = resend_receipt(nd, w, &loc, why, sizeof why);
            if (e == CERTA_E_REFUSED) {
                snprintf(msg, sizeof msg,
                         "batch: sequence %llu was already executed in block %llu with "
                         "different bytes (replay)",
                         (unsigned long long)seq, (unsigned long long)loc.height);
                reply_error(nd, w->peer, w->peer_len, w->request_id, CERTA_E_REFUSED, false, 0,
                            msg);
            } else if (e != CERTA_OK) {
                snprintf(msg, sizeof msg,
                         "batch: sequence %llu was executed in block %llu, but its receipt "
                         "cannot be rebuilt on this validator: %.300s",
                         (unsigned long long)seq, (unsigned long long)loc.height, why);
                reply_error(nd, w->peer, w->peer_len, w->request_id, CERTA_E_IO, true, 1000,
                            msg);
            }
        } else if (a == CERTA_DEDUP_TOO_OLD) {
            certa_metric_add(nd->m.too_old, 1);
            snprintf(msg, sizeof msg,
                     "batch: sequence %llu fell outside the replay horizon before it was "
                     "ordered (too old to tell): if it did not execute, submit its events "
                     "again under a new sequence number",
                     (unsigned long long)seq);
            reply_error(nd, w->peer, w->peer_len, w->request_id, CERTA_E_TOO_OLD, false, 0, msg);
        } else {
            reply_error(nd, w->peer, w->peer_len, w->request_id, CERTA_E_REFUSED, false, 0,
                        "batch: dropped unordered: unknown integrator");
        }
        waiter_remove(nd, w);
    }
}

static void app_header_hash(void *ctx, const certa_block_header *hdr,
                            uint8_t out[CERTA_HASH_BYTES])
{
    (void)ctx;
    certa_header_hash(hdr, out);
}

static bool app_read_block(void *ctx, uint64_t height, const uint8_t **rec,
                           size_t *len)
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

/* ------------------------------------------------------------ waiters */

static uint32_t waiter_hash(uint16_t integrator, uint64_t seq)
{
    uint64_t x = seq * 0x9E3779B97F4A7C15ull ^ ((uint64_t)integrator << 48);
    x ^= x >> 29;
    return (uint32_t)x & (WAITERS_MAX - 1u);
}

static waiter *waiter_find(certa_node *nd, uint16_t integrator, uint64_t seq)
{
    uint32_t h = waiter_hash(integrator, seq);
    for (uint32_t i = 0; i < WAITERS_MAX; i++) {
        waiter *w = &nd->waiters[(h + i) & (WAITERS_MAX - 1u)];
        if (!w->used)
            return NULL;
        if (w->integrator == integrator && w->seq == seq)
            return w;
    }
    return NULL;
}

/* The entry of this very request (same peer and request id: the client
 * re-sent it on the same connection), or NULL; *count gets how many
 * requests await (integrator, seq) and *oldest the longest waiting. */
static waiter *waiter_request(certa_node *nd, uint16_t integrator, uint64_t seq,
                              const uint8_t *peer, size_t peer_len, uint64_t request_id,
                              uint32_t *count, waiter **oldest)
{
    *count = 0;
    *oldest = NULL;
    waiter *same = NULL;
    uint32_t h = waiter_hash(integrator, seq);
    for (uint32_t i = 0; i < WAITERS_MAX; i++) {
        waiter *w = &nd->waiters[(h + i) & (WAITERS_MAX - 1u)];
        if (!w->used)
            break;
        if (w->integrator != integrator || w->seq != seq)
            continue;
        (*count)++;
        if (*oldest == NULL || w->accepted_ms < (*oldest)->accepted_ms)
            *oldest = w;
        if (w->request_id == request_id && w->peer_len == peer_len &&
            memcmp(w->peer, peer, peer_len) == 0)
            same = w;
    }
    return same;
}

/* Inserts a new entry for (integrator, seq), beside any others; NULL when
 * the table is past its load limit (caller answers BUSY). */
static waiter *waiter_insert(certa_node *nd, uint16_t integrator, uint64_t seq)
{
    if (nd->nwaiters >= WAITERS_MAX / 2)
        return NULL;
    uint32_t h = waiter_hash(integrator, seq);
    for (uint32_t i = 0; i < WAITERS_MAX; i++) {
        waiter *w = &nd->waiters[(h + i) & (WAITERS_MAX - 1u)];
        if (!w->used) {
            memset(w, 0, sizeof *w);
            nd->nwaiters++;
            w->used = true;
            w->integrator = integrator;
            w->seq = seq;
            return w;
        }
    }
    return NULL;
}

/* Removes w keeping linear probing intact (backward-shift deletion). */
static void waiter_remove(certa_node *nd, waiter *w)
{
    uint32_t i = (uint32_t)(w - nd->waiters);
    CERTA_ASSERT(nd->pending_events >= w->events);
    nd->pending_events -= w->events;
    w->used = false;
    nd->nwaiters--;
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & (WAITERS_MAX - 1u);
        waiter *x = &nd->waiters[j];
        if (!x->used)
            return;
        uint32_t k = waiter_hash(x->integrator, x->seq);
        bool movable = (i <= j) ? (k <= i || k > j) : (k <= i && k > j);
        if (movable) {
            nd->waiters[i] = *x;
            x->used = false;
            i = j;
        }
    }
}

/* ------------------------------------------------------------ actions */

static certa_err wal_append(certa_node *nd, const certa_pbft_action *a)
{
    certa_errinfo ei;
    certa_err e = certa_wal_append(nd->wal, a->record_kind, a->height, a->view, a->bytes,
                                   a->len, &ei);
    if (e != CERTA_OK)
        certa_log(CERTA_LOG_ERROR, "wal_append_failed", "\"error\":\"%s\"",
                  certa_errmsg(&ei));
    return e;
}

static certa_err deliver_append(certa_node *nd, const certa_pbft_action *a)
{
    certa_errinfo ei;
    if (nd->nexq >= EXEC_QUEUE_MAX)
        return certa_errorf(&ei, CERTA_E_LIMIT, "execution queue full");
    certa_log(CERTA_LOG_DEBUG, "deliver", "\"height\":%llu,\"bytes\":%zu",
              (unsigned long long)a->height, a->len);
    certa_err e = certa_store_append(nd->blocks, a->height, a->bytes, a->len, &ei);
    if (e != CERTA_OK) {
        certa_log(CERTA_LOG_ERROR, "block_append_failed",
                  "\"height\":%llu,\"error\":\"%s\"", (unsigned long long)a->height,
                  certa_errmsg(&ei));
        return e;
    }
    uint8_t *copy = malloc(a->len);
    CERTA_ASSERT(copy != NULL);
    memcpy(copy, a->bytes, a->len);
    /* the verdicts are decided here, once, in height order: the door and
     * the core see this block's batches as committed from now on */
    uint8_t *verdicts = judge_block(nd, a->bytes, a->len);
    nd->exq[nd->nexq++] = (exec_item){a->height, copy, a->len, verdicts};
    nd->blocks_last = a->height;
    nd->blocks_dirty = true;
    return CERTA_OK;
}

static void out_push(certa_node *nd, uint32_t to, const uint8_t *bytes, size_t len)
{
    if (nd->nout >= OUT_MAX)
        return; /* the protocol retransmits; dropping is safe, growing is not */
    uint8_t *copy = malloc(len);
    CERTA_ASSERT(copy != NULL);
    memcpy(copy, bytes, len);
    nd->out[nd->nout++] = (out_msg){to, copy, len};
}

static void take_actions(certa_node *nd, certa_pbft_actions acts)
{
    for (size_t i = 0; i < acts.count; i++) {
        const certa_pbft_action *a = &acts.items[i];
        switch (a->kind) {
        case CERTA_PBFT_ACT_PERSIST:
            if (wal_append(nd, a) != CERTA_OK)
                nd->store_failed = true;
            break;
        case CERTA_PBFT_ACT_PERSIST_GC:
            certa_wal_gc(nd->wal, a->height, a->view, CERTA_PBFT_MSG_VIEW_CHANGE,
                         CERTA_PBFT_MSG_NEW_VIEW, CERTA_PBFT_REC_CHECKPOINT);
            break;
        case CERTA_PBFT_ACT_SEND:
            out_push(nd, a->to, a->bytes, a->len);
            break;
        case CERTA_PBFT_ACT_BROADCAST:
            out_push(nd, CERTA_TRANSPORT_ALL, a->bytes, a->len);
            break;
        case CERTA_PBFT_ACT_DELIVER:
            if (deliver_append(nd, a) != CERTA_OK)
                nd->store_failed = true;
            break;
        }
    }
    nd->timer_at_ms = acts.timer_at_ms;
}

static void step(certa_node *nd, const certa_pbft_input *in)
{
    take_actions(nd, certa_pbft_step(nd->pbft, in, now_ms()));
}

/* ------------------------------------------------------------ execution */

static void reply_error(certa_node *nd, const uint8_t *peer, size_t peer_len,
                        uint64_t rid, certa_err code, bool retryable,
                        uint32_t retry_ms, const char *msg)
{
    certa_cp_server_error(nd->cs, peer, peer_len, rid, code, retryable, retry_ms, msg);
}

static bool grow_entries(certa_node *nd, size_t n)
{
    if (n <= nd->entries_cap)
        return true;
    size_t cap = nd->entries_cap ? nd->entries_cap : 256;
    while (cap < n)
        cap *= 2;
    certa_receipt_entry *e = realloc(nd->entries, cap * sizeof *e);
    if (e == NULL)
        return false;
    nd->entries = e;
    void *p = realloc(nd->paths, cap * sizeof *nd->paths);
    if (p == NULL)
        return false;
    nd->paths = p;
    nd->entries_cap = cap;
    return true;
}

static void send_receipt(certa_node *nd, waiter *w, const certa_block_header *hdr,
                         const certa_commit_cert *cert, const exec_batch *b,
                         certa_merkle_tree *tree, const uint8_t *results)
{
    if (!grow_entries(nd, b->count))
        return;
    certa_batch_view v;
    CERTA_ASSERT(certa_batch_frame(b->bytes, b->len, &v, NULL) == CERTA_OK);
    size_t pos = 0;
    const uint8_t *ev;
    size_t ev_len;
    uint32_t k = 0;
    while (certa_batch_next(&v, &pos, &ev, &ev_len)) {
        uint32_t leaf = b->first_leaf + k;
        certa_receipt_entry *e = &nd->entries[k];
        size_t plen = 0;
        CERTA_ASSERT(certa_merkle_tree_inclusion(tree, leaf, nd->paths[k], &plen, NULL) ==
                     CERTA_OK);
        e->leaf_index = leaf;
        e->result = results[leaf];
        e->reason = results[leaf] == CERTA_R_OK ? NULL : certa_result_name(results[leaf]);
        e->event = ev;
        e->event_len = ev_len;
        e->path = (const uint8_t(*)[CERTA_HASH_BYTES])nd->paths[k];
        e->path_len = plen;
        k++;
    }
    uint8_t hdr_bytes[CERTA_HEADER_BYTES];
    certa_header_encode(hdr, hdr_bytes);
    size_t len = 0;
    certa_errinfo ei;
    if (certa_receipt_batch_encode(b->integrator, b->seq, hdr_bytes, cert, nd->entries, k,
                                   nd->receipt_buf, RECEIPT_BYTES_MAX, &len, &ei) != CERTA_OK) {
        reply_error(nd, w->peer, w->peer_len, w->request_id, ei.code, false, 0,
                    certa_errmsg(&ei));
        return;
    }
    certa_cp_server_reply(nd->cs, w->peer, w->peer_len, CERTA_CP_RECEIPT, w->request_id,
                          nd->receipt_buf, len);
    certa_metric_add(nd->m.receipts, 1);
    certa_metric_observe(nd->m.commit_latency, (double)(now_ms() - w->accepted_ms) / 1000.0);
}

/* Decodes a committed block record and lists its batches, filling *lh
 * (capacity *lh_cap hashes, grown as needed) with the leaf hash of every
 * event. *batches_out is malloc'ed (caller frees). */
static certa_err block_open(certa_node *nd, const uint8_t *rec, size_t len,
                            certa_pbft_msg *m, exec_batch **batches_out, size_t *nb_out,
                            uint32_t *leaves_out, uint8_t **lh, size_t *lh_cap,
                            certa_errinfo *ei)
{
    certa_err e = certa_pbft_msg_decode(rec, len, m);
    if (e != CERTA_OK || m->type != CERTA_PBFT_REC_BLOCK)
        return certa_errorf(ei, CERTA_E_CORRUPT, "block record does not decode (%s)",
                            certa_strerror(e));
    exec_batch *batches = calloc(m->reqs.count ? m->reqs.count : 1, sizeof *batches);
    if (batches == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "opening block");
    size_t pos = 0, nb = 0;
    const uint8_t *it;
    size_t il;
    uint32_t leaf = 0;
    while (certa_pbft_list_next(&m->reqs, &pos, &it, &il)) {
        certa_pbft_request req;
        certa_batch_view v;
        if (!certa_pbft_request_item(it, il, &req) ||
            certa_batch_frame(req.bytes, req.len, &v, NULL) != CERTA_OK ||
            leaf + (uint64_t)v.event_count > UINT32_MAX) {
            free(batches);
            return certa_errorf(ei, CERTA_E_CORRUPT, "block %llu: batch %zu does not decode",
                                (unsigned long long)m->hdr.height, nb);
        }
        batches[nb++] = (exec_batch){req.integrator, req.seq, leaf, v.event_count,
                                     req.bytes, req.len};
        leaf += v.event_count;
    }
    /* the leaf hashes of a block validated or built here are kept */
    if (leaf > 0 && !leaves_take(nd, m->hdr.height, m->hdr.events_root, leaf, lh, lh_cap)) {
        if (!grow_hashes(lh, lh_cap, leaf)) {
            free(batches);
            return certa_errorf(ei, CERTA_E_NOMEM, "block %llu: %u leaf hashes",
                                (unsigned long long)m->hdr.height, leaf);
        }
        uint8_t leafbuf[10 + CERTA_EVENT_BYTES_MAX];
        for (size_t i = 0; i < nb; i++) {
            certa_batch_view v;
            CERTA_ASSERT(certa_batch_frame(batches[i].bytes, batches[i].len, &v, NULL) ==
                         CERTA_OK);
            uint32_t k = batches[i].first_leaf;
            size_t ep = 0;
            const uint8_t *ev;
            size_t ev_len;
            while (certa_batch_next(&v, &ep, &ev, &ev_len)) {
                size_t ll = certa_leaf_encode(batches[i].integrator, batches[i].seq, ev, ev_len,
                                              leafbuf, sizeof leafbuf);
                CERTA_ASSERT(ll > 0);
                certa_merkle_leaf_hash(leafbuf, ll, *lh + (size_t)k * CERTA_HASH_BYTES);
                k++;
            }
        }
    }
    *batches_out = batches;
    *nb_out = nb;
    *leaves_out = leaf;
    return CERTA_OK;
}

static void block_cert(const certa_pbft_msg *m, certa_commit_cert *cert)
{
    memset(cert, 0, sizeof *cert);
    cert->view = m->aux;
    cert->height = m->hdr.height;
    certa_header_hash(&m->hdr, cert->block_hash);
    uint16_t n = m->sig_count < CERTA_VALIDATORS_MAX ? m->sig_count : CERTA_VALIDATORS_MAX;
    for (uint16_t i = 0; i < n; i++) {
        const uint8_t *sg = m->sigs + (size_t)i * (2 + CERTA_SIGNATURE_BYTES);
        cert->sigs[i].validator = (uint16_t)(sg[0] | (sg[1] << 8));
        memcpy(cert->sigs[i].sig, sg + 2, CERTA_SIGNATURE_BYTES);
    }
    cert->count = n;
}

static void release_held(certa_node *nd);

/* Executes job's block into the state (the execution thread, or the
 * I/O thread while recovering before that thread starts). Fills the job's
 * results, roots and replay flags; touches nothing the I/O thread reads
 * but the state, under state_mu. */
static void execute_job(certa_node *nd, exec_job *job)
{
    certa_errinfo *ei = &job->ei;
    job->err = block_open(nd, job->rec, job->len, &job->m, &job->batches, &job->nb,
                          &job->leaves, &nd->x_leaf_hashes, &nd->x_leaf_cap, ei);
    if (job->err != CERTA_OK)
        return;
    /* the job keeps the leaf hashes for its receipts */
    job->leaf_hashes = nd->x_leaf_hashes;
    job->leaf_cap = nd->x_leaf_cap;
    nd->x_leaf_hashes = NULL;
    nd->x_leaf_cap = 0;
    const certa_block_header *hdr = &job->m.hdr;
    job->height = hdr->height;
    if (hdr->height != nd->x_executed + 1) {
        job->err = certa_errorf(ei, CERTA_E_STATE, "block %llu follows %llu",
                                (unsigned long long)hdr->height,
                                (unsigned long long)nd->x_executed);
        return;
    }
    job->results = malloc(job->leaves ? job->leaves : 1);
    if (job->verdicts == NULL) {
        job->err = certa_errorf(ei, CERTA_E_CORRUPT, "block %llu: no replay verdicts "
                                "(the record did not decode when delivered)",
                                (unsigned long long)hdr->height);
        return;
    }
    if (job->results == NULL) {
        job->err = certa_errorf(ei, CERTA_E_NOMEM, "block %llu: results",
                                (unsigned long long)hdr->height);
        return;
    }
    pthread_mutex_lock(&nd->state_mu);
    job->err = certa_state_begin_block(nd->state, hdr->height, hdr->timestamp_ms, ei);
    if (job->err != CERTA_OK) {
        pthread_mutex_unlock(&nd->state_mu);
        return;
    }
    for (size_t i = 0; i < job->nb; i++) {
        const exec_batch *b = &job->batches[i];
        certa_batch_view v;
        /* events are decoded one by one below; block_open framed the batch */
        CERTA_ASSERT(certa_batch_frame(b->bytes, b->len, &v, NULL) == CERTA_OK);
        uint8_t verdict = job->verdicts[i];
        size_t ep = 0;
        const uint8_t *ev;
        size_t ev_len;
        if (verdict == V_REPLAYED) {
            while (certa_batch_next(&v, &ep, &ev, &ev_len))
                certa_state_apply_replayed(nd->state, b->integrator);
        } else if (verdict == V_TOO_OLD) {
            while (certa_batch_next(&v, &ep, &ev, &ev_len))
                certa_state_apply_too_old(nd->state, b->integrator);
        } else {
            CERTA_ASSERT(verdict == V_NEW);
            /* Events are decoded PF_AHEAD ahead of being applied, their
             * index slots prefetched then and their records halfway: the
             * look-ups of a large state miss the caches otherwise. */
            uint32_t n = v.event_count;
            for (uint32_t q = 0; q < n + PF_AHEAD; q++) {
                if (q >= PF_AHEAD) {
                    uint32_t k = (q - PF_AHEAD) % PF_AHEAD;
                    if (nd->pf_ok[k])
                        certa_state_apply(nd->state, b->integrator, &nd->pf_ring[k]);
                    else
                        certa_state_apply_malformed(nd->state, b->integrator);
                }
                for (int st = 1; st <= 2; st++) {
                    uint32_t back = st == 1 ? PF_AHEAD / 2 : PF_AHEAD / 4;
                    uint32_t j = (q - back) % PF_AHEAD;
                    if (q >= back && q - back < n && nd->pf_ok[j])
                        certa_state_prefetch(nd->state, &nd->pf_ring[j], st);
                }
                if (q < n) {
                    CERTA_ASSERT(certa_batch_next(&v, &ep, &ev, &ev_len));
                    certa_event *d = &nd->pf_ring[q % PF_AHEAD];
                    nd->pf_ok[q % PF_AHEAD] = certa_event_decode(ev, ev_len, d, NULL) == CERTA_OK;
                    if (nd->pf_ok[q % PF_AHEAD])
                        certa_state_prefetch(nd->state, d, 0);
                }
            }
        }
    }
    certa_state_end_block(nd->state, job->results_root);
    certa_state_digest(nd->state, job->state_digest);
    uint32_t nres = 0;
    const uint8_t *results = certa_state_block_results(nd->state, &nres);
    CERTA_ASSERT(nres == job->leaves);
    memcpy(job->results, results, nres);
    pthread_mutex_unlock(&nd->state_mu);
    nd->x_executed = hdr->height;
}

static void job_free(exec_job *job)
{
    if (job == NULL)
        return;
    free(job->rec);
    free(job->batches);
    free(job->leaf_hashes);
    free(job->results);
    free(job->verdicts);
    free(job);
}

/* The batch digest of a batch a block carries (framed before): SHA-256 of
 * every byte before its signature, as certa_batch_decode computes it. */
static void batch_digest(const exec_batch *b, uint8_t out[CERTA_HASH_BYTES])
{
    CERTA_ASSERT(b->len > CERTA_SIGNATURE_BYTES);
    certa_sha256(b->bytes, b->len - CERTA_SIGNATURE_BYTES, out);
}

static void refuse_different(certa_node *nd, waiter *w, uint64_t height)
{
    char msg[300];
    snprintf(msg, sizeof msg,
             "batch: integrator %s sequence %llu was already executed in block %llu with "
             "different bytes (replay)",
             nd->g->integrators[w->integrator].name, (unsigned long long)w->seq,
             (unsigned long long)height);
    reply_error(nd, w->peer, w->peer_len, w->request_id, CERTA_E_REFUSED, false, 0, msg);
}

/* Answers one request awaiting batch i of an executed block: the batch's
 * own receipt, or for a batch committed again (replayed) the receipt of
 * the original when this request sent the original's bytes. A request
 * that sent other bytes than what was committed under that sequence
 * number gets REFUSED, never someone else's receipt. */
static void answer_waiter(certa_node *nd, waiter *w, const exec_job *job, size_t i,
                          const uint8_t digest[CERTA_HASH_BYTES],
                          certa_merkle_tree **tree, const certa_commit_cert *cert)
{
    const exec_batch *b = &job->batches[i];
    certa_dedup_loc loc;
    if (job->verdicts[i] == V_REPLAYED &&
        certa_dedup_lookup(nd->dedup, b->integrator, b->seq, &loc) == CERTA_DEDUP_EXECUTED &&
        loc.height <= nd->executed) {
        char why[300];
        certa_err e = resend_receipt(nd, w, &loc, why, sizeof why);
        if (e == CERTA_OK)
            return;
        if (e == CERTA_E_REFUSED && memcmp(w->digest, digest, CERTA_HASH_BYTES) != 0) {
            refuse_different(nd, w, loc.height);
            return;
        }
    }
    if (memcmp(w->digest, digest, CERTA_HASH_BYTES) != 0) {
        refuse_different(nd, w, job->height);
        return;
    }
    if (*tree == NULL && certa_merkle_tree_build(nd->pool, job->leaf_hashes, job->leaves,
                                                 tree, NULL) != CERTA_OK) {
        reply_error(nd, w->peer, w->peer_len, w->request_id, CERTA_E_NOMEM, true, 1000,
                    "validator out of memory building a receipt: send the batch again");
        return;
    }
    send_receipt(nd, w, &job->m.hdr, cert, b, *tree, job->results);
}

/* The I/O thread's side of an executed block: its view of the executed
 * height and results, metrics and, with replying set, the receipts of
 * every request waiting here for one of its batches. */
static void complete_job(certa_node *nd, exec_job *job, bool replying)
{
    CERTA_ASSERT(job->err == CERTA_OK && job->height == nd->executed + 1);
    CERTA_ASSERT(job->height <= nd->dlv_height); /* judged before it executed */
    const certa_block_header *hdr = &job->m.hdr;
    nd->executed = job->height;
    memcpy(nd->results_root, job->results_root, CERTA_HASH_BYTES);
    memcpy(nd->state_digest, job->state_digest, CERTA_HASH_BYTES);
    memcpy(nd->lag_results[hdr->height % LAG_RING], job->results_root, CERTA_HASH_BYTES);
    memcpy(nd->lag_digest[hdr->height % LAG_RING], job->state_digest, CERTA_HASH_BYTES);
    const uint8_t *results = job->results;
    uint32_t leaves = job->leaves;
    for (uint32_t i = 0; i < leaves; i++)
        if (results[i] < CERTA_R_COUNT)
            certa_metric_add(nd->m.results[results[i]], 1);
    certa_metric_add(nd->m.blocks, 1);
    certa_metric_add(nd->m.events, leaves);
    if (leaves > 0 && replying)
        nd->last_commit_ms = now_ms();
    certa_metric_set(nd->m.height, (double)hdr->height);
    nd->events_window_count += leaves;
    nd->events_total += leaves;

    if (replying && nd->nwaiters > 0) {
        certa_merkle_tree *tree = NULL;
        certa_commit_cert cert;
        block_cert(&job->m, &cert);
        for (size_t i = 0; i < job->nb; i++) {
            const exec_batch *b = &job->batches[i];
            if (waiter_find(nd, b->integrator, b->seq) == NULL)
                continue;
            uint8_t digest[CERTA_HASH_BYTES];
            batch_digest(b, digest);
            waiter *w;
            while ((w = waiter_find(nd, b->integrator, b->seq)) != NULL) {
                answer_waiter(nd, w, job, i, digest, &tree, &cert);
                waiter_remove(nd, w);
            }
        }
        certa_merkle_tree_free(tree);
    }
}

/* Executes and completes a block on the calling thread (recovery). */
static certa_err execute_now(certa_node *nd, const uint8_t *rec, size_t len,
                             certa_errinfo *ei)
{
    exec_job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "executing a block");
    job->rec = malloc(len ? len : 1);
    if (job->rec == NULL) {
        free(job);
        return certa_errorf(ei, CERTA_E_NOMEM, "executing a block");
    }
    memcpy(job->rec, rec, len);
    job->len = len;
    job->verdicts = judge_block(nd, rec, len);
    execute_job(nd, job);
    certa_err e = job->err;
    if (e == CERTA_OK)
        complete_job(nd, job, false);
    else
        *ei = job->ei;
    job_free(job);
    return e;
}

/* ------------------------------------------------------------ execution stage */

static void *exec_main(void *arg)
{
    certa_node *nd = arg;
    exec_pipe *p = &nd->pipe;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->in_count == 0)
            pthread_cond_wait(&p->work_cv, &p->mu);
        if (p->in_count == 0)
            break; /* stopping, and every queued block executed */
        exec_job *job = p->in[p->in_head];
        p->in_head = (p->in_head + 1) % EXEC_PIPE_MAX;
        p->in_count--;
        bool failed = p->failed;
        pthread_mutex_unlock(&p->mu);
        uint64_t t0 = mono_us();
        if (failed)
            job->err = certa_errorf(&job->ei, CERTA_E_STATE,
                                    "not executed: an earlier block failed");
        else
            execute_job(nd, job);
        certa_log(CERTA_LOG_DEBUG, "executed", "\"height\":%llu,\"us\":%llu",
                  (unsigned long long)job->height, (unsigned long long)(mono_us() - t0));
        pthread_mutex_lock(&p->mu);
        if (job->err != CERTA_OK)
            p->failed = true;
        CERTA_ASSERT(p->done_count < EXEC_PIPE_MAX);
        p->done[(p->done_head + p->done_count) % EXEC_PIPE_MAX] = job;
        p->done_count++;
        uint64_t one = 1;
        ssize_t wr = write(p->efd, &one, sizeof one);
        (void)wr; /* a full counter still wakes the poll */
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Moves the done jobs to nd->completed. Call with p->mu held. */
static void pipe_take_done_locked(certa_node *nd)
{
    exec_pipe *p = &nd->pipe;
    while (p->done_count > 0) {
        CERTA_ASSERT(nd->ncompleted < EXEC_PIPE_MAX); /* completed is empty between calls */
        nd->completed[nd->ncompleted++] = p->done[p->done_head];
        p->done_head = (p->done_head + 1) % EXEC_PIPE_MAX;
        p->done_count--;
        p->outstanding--;
    }
}

/* Hands a durable block to the execution stage (which then owns its rec
 * and verdicts), or returns false, leaving them to the caller, while EXEC_PIPE_MAX blocks are
 * outstanding: the caller keeps it and tries again after completions. */
static bool pipe_try_push(certa_node *nd, const exec_item *it)
{
    exec_pipe *p = &nd->pipe;
    pthread_mutex_lock(&p->mu);
    bool full = p->outstanding == EXEC_PIPE_MAX;
    if (!full) {
        exec_job *job = calloc(1, sizeof *job);
        CERTA_ASSERT(job != NULL); /* a few hundred bytes per committed block */
        job->height = it->height;
        job->rec = it->rec;
        job->len = it->len;
        job->verdicts = it->verdicts;
        p->in[(p->in_head + p->in_count) % EXEC_PIPE_MAX] = job;
        p->in_count++;
        p->outstanding++;
        pthread_cond_signal(&p->work_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return !full;
}

/* Completes the executed blocks, in height order. */
static certa_err pipe_complete(certa_node *nd, bool replying, certa_errinfo *ei)
{
    exec_pipe *p = &nd->pipe;
    uint64_t cnt;
    ssize_t rd = read(p->efd, &cnt, sizeof cnt); /* non-blocking: reset the wake-up */
    (void)rd;
    pthread_mutex_lock(&p->mu);
    pipe_take_done_locked(nd);
    certa_metric_set(nd->m.exec_queue, p->outstanding);
    pthread_mutex_unlock(&p->mu);
    certa_err e = CERTA_OK;
    bool any = false;
    for (uint32_t i = 0; i < nd->ncompleted; i++) {
        exec_job *job = nd->completed[i];
        if (e == CERTA_OK && job->err != CERTA_OK) {
            certa_log(CERTA_LOG_ERROR, "execute_failed", "\"height\":%llu,\"error\":\"%s\"",
                      (unsigned long long)job->height, certa_errmsg(&job->ei));
            e = certa_errorf(ei, job->err, "executing block %llu: %s",
                             (unsigned long long)job->height, certa_errmsg(&job->ei));
        }
        if (e == CERTA_OK) {
            complete_job(nd, job, replying);
            any = true;
        }
        job_free(job);
    }
    nd->ncompleted = 0;
    if (any && replying) {
        release_held(nd);
        /* The core may now propose. */
        certa_pbft_input tick = {.kind = CERTA_PBFT_IN_TICK};
        step(nd, &tick);
    }
    return e;
}

static certa_err pipe_start(certa_node *nd, certa_errinfo *ei)
{
    exec_pipe *p = &nd->pipe;
    nd->x_executed = nd->executed;
    if (pthread_create(&p->thread, NULL, exec_main, nd) != 0)
        return certa_errorf(ei, CERTA_E_IO, "cannot start the execution thread");
    pthread_setname_np(p->thread, "certa-exec"); /* top -H, perf */
    p->running = true;
    return CERTA_OK;
}

/* Lets the execution thread finish what is queued, then joins it. */
static void pipe_stop(certa_node *nd)
{
    exec_pipe *p = &nd->pipe;
    if (!p->running)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    p->running = false;
}

/* A batch submitted again after it executed (the client lost the receipt,
 * or failed over from a validator that died): answers w with the original
 * receipt, rebuilt from the block log (block, commit certificate, leaf
 * hashes) and the state (each event's committed result), so it works for
 * the whole replay horizon. loc is where the batch was committed new, an
 * executed height. Returns CERTA_OK when sent; CERTA_E_REFUSED when the
 * batch committed under that (integrator, seq) is not the bytes w sent;
 * another error (why filled) when the receipt cannot be rebuilt. */
static certa_err resend_receipt(certa_node *nd, waiter *w, const certa_dedup_loc *loc,
                                char *why, size_t why_len)
{
    CERTA_ASSERT(loc->height >= 1 && loc->height <= nd->executed);
    const uint8_t *rec;
    size_t len;
    if (!app_read_block(nd, loc->height, &rec, &len)) {
        snprintf(why, why_len, "block %llu cannot be read from the block log",
                 (unsigned long long)loc->height);
        return CERTA_E_IO;
    }
    certa_pbft_msg m;
    exec_batch *batches = NULL;
    size_t nb = 0;
    uint32_t leaves = 0;
    certa_errinfo ei;
    certa_err e = block_open(nd, rec, len, &m, &batches, &nb, &leaves, &nd->leaf_hashes,
                             &nd->leaf_cap, &ei);
    if (e != CERTA_OK) {
        snprintf(why, why_len, "%s", certa_errmsg(&ei));
        return e;
    }
    /* the first batch of the block with that (integrator, seq) is the one
     * committed new: a copy later in the same block was a replay */
    size_t i = 0;
    while (i < nb && !(batches[i].integrator == w->integrator && batches[i].seq == w->seq))
        i++;
    uint8_t *res = NULL;
    certa_merkle_tree *tree = NULL;
    uint8_t digest[CERTA_HASH_BYTES];
    if (i == nb) {
        e = certa_errorf(&ei, CERTA_E_CORRUPT, "block %llu holds no batch %u/%llu",
                         (unsigned long long)loc->height, w->integrator,
                         (unsigned long long)w->seq);
        goto out;
    }
    batch_digest(&batches[i], digest);
    if (memcmp(digest, w->digest, CERTA_HASH_BYTES) != 0) {
        e = certa_errorf(&ei, CERTA_E_REFUSED, "different bytes");
        goto out;
    }
    res = calloc(leaves ? leaves : 1, 1);
    if (res == NULL) {
        e = certa_errorf(&ei, CERTA_E_NOMEM, "results of block %llu",
                         (unsigned long long)loc->height);
        goto out;
    }
    /* the batch's events are events loc->first_event.. of the chain */
    pthread_mutex_lock(&nd->state_mu);
    bool have = true;
    for (uint32_t k = 0; k < batches[i].count && have; k++)
        have = certa_state_event_result(nd->state, loc->first_event + k,
                                        &res[batches[i].first_leaf + k]);
    pthread_mutex_unlock(&nd->state_mu);
    if (!have) {
        e = certa_errorf(&ei, CERTA_E_STATE, "the state holds no result for event %llu",
                         (unsigned long long)loc->first_event);
        goto out;
    }
    e = certa_merkle_tree_build(nd->pool, nd->leaf_hashes, leaves, &tree, &ei);
    if (e != CERTA_OK)
        goto out;
    certa_commit_cert cert;
    block_cert(&m, &cert);
    send_receipt(nd, w, &m.hdr, &cert, &batches[i], tree, res);
out:
    if (e != CERTA_OK)
        snprintf(why, why_len, "%s", certa_errmsg(&ei));
    certa_merkle_tree_free(tree);
    free(res);
    free(batches);
    return e;
}

/* ------------------------------------------------------------ the round */

static certa_err finish_round(certa_node *nd, certa_errinfo *ei)
{
    if (nd->store_failed)
        return certa_errorf(ei, CERTA_E_IO, "the block log or the WAL failed");
    uint64_t t0 = mono_us();
    if (certa_wal_dirty(nd->wal)) {
        certa_err e = certa_wal_sync(nd->wal, ei);
        if (e != CERTA_OK)
            return e;
    }
    if (nd->blocks_dirty) {
        certa_err e = certa_store_wait_durable(nd->blocks, nd->blocks_last, ei);
        if (e != CERTA_OK)
            return e;
        nd->blocks_dirty = false;
    }
    uint64_t t1 = mono_us();
    if (t1 > t0 + 1)
        certa_metric_observe(nd->m.fsync_latency, (double)(t1 - t0) / 1e6);

    for (uint32_t i = 0; i < nd->nout; i++) {
        out_msg *o = &nd->out[i];
        certa_transport_send(nd->tp, o->to, o->bytes, o->len);
        certa_metric_add(nd->m.bytes_out, o->len);
        free(o->bytes);
    }
    nd->nout = 0;

    /* durable: on to the execution stage, as far as it has room (it always
     * has in practice: consensus runs at most a window ahead of execution);
     * what does not fit waits here, in order, for the next round */
    uint32_t pushed = 0;
    while (pushed < nd->nexq && pipe_try_push(nd, &nd->exq[pushed]))
        pushed++;
    memmove(nd->exq, nd->exq + pushed, (nd->nexq - pushed) * sizeof *nd->exq);
    nd->nexq -= pushed;
    return CERTA_OK;
}

/* ------------------------------------------------------------ peers */

static void on_peer_event(void *ctx, uint32_t peer, certa_transport_event ev,
                          const char *text)
{
    certa_node *nd = ctx;
    char esc[512];
    static const char *const names[] = {"", "peer_up", "peer_down", "refused_by_peer",
                                        "refused_peer", "dropped"};
    certa_log(ev == CERTA_TEV_PEER_UP ? CERTA_LOG_INFO : CERTA_LOG_WARN,
              names[ev <= 5 ? ev : 0], "\"peer\":%d,\"msg\":\"%s\"",
              peer == CERTA_TRANSPORT_UNKNOWN ? -1 : (int)peer,
              certa_log_str(text, esc, sizeof esc));
    certa_transport_stats st;
    certa_transport_stats_get(nd->tp, &st);
    certa_metric_set(nd->m.peers, st.peers_up);
}

static void feed_peer_msg(certa_node *nd, const uint8_t *bytes, size_t len)
{
    bool pp = len > 2 && bytes[1] == CERTA_PBFT_MSG_PRE_PREPARE;
    if (pp)
        preverify_preprepare(nd, bytes, len);
    certa_pbft_input in = {.kind = CERTA_PBFT_IN_MESSAGE, .bytes = bytes, .len = len};
    preverify_scratch->active = pp;
    step(nd, &in);
    preverify_scratch->active = false;
    preverify_scratch->n = 0;
}

/* A pre-prepare for h is held back until h - LAG executed here: its header
 * commits to h - LAG's results, which only execution can check. */
static bool hold_preprepare(certa_node *nd, const uint8_t *bytes, size_t len)
{
    if (len < 2 || bytes[1] != CERTA_PBFT_MSG_PRE_PREPARE)
        return false;
    certa_pbft_msg m;
    if (certa_pbft_msg_decode(bytes, len, &m) != CERTA_OK ||
        m.seq <= nd->executed + LAG || m.seq > nd->executed + nd->pc.window)
        return false; /* the core judges these itself */
    for (uint32_t i = 0; i < nd->nheld; i++)
        if (nd->held[i].seq == m.seq && nd->held[i].len == len &&
            memcmp(nd->held[i].bytes, bytes, len) == 0)
            return true; /* a re-sent copy of one we hold */
    if (nd->nheld == HELD_MAX) {
        free(nd->held[0].bytes); /* the oldest; the primary retransmits */
        memmove(nd->held, nd->held + 1, (HELD_MAX - 1) * sizeof nd->held[0]);
        nd->nheld--;
    }
    uint8_t *copy = malloc(len);
    CERTA_ASSERT(copy != NULL);
    memcpy(copy, bytes, len);
    nd->held[nd->nheld++] = (held_msg){m.seq, copy, len};
    return true;
}

static void release_held(certa_node *nd)
{
    /* in height order: insertion sort of a short list */
    for (uint32_t i = 1; i < nd->nheld; i++)
        for (uint32_t j = i; j > 0 && nd->held[j - 1].seq > nd->held[j].seq; j--) {
            held_msg t = nd->held[j];
            nd->held[j] = nd->held[j - 1];
            nd->held[j - 1] = t;
        }
    uint32_t k = 0;
    for (uint32_t i = 0; i < nd->nheld; i++) {
        held_msg h = nd->held[i];
        if (h.seq <= nd->executed + LAG) {
            if (h.seq > nd->executed)
                feed_peer_msg(nd, h.bytes, h.len);
            free(h.bytes);
        } else {
            nd->held[k++] = h;
        }
    }
    nd->nheld = k;
}

static void on_peer_msg(void *ctx, uint32_t from, const uint8_t *bytes, size_t len)
{
    certa_node *nd = ctx;
    (void)from; /* the core authenticates the sender from the signed bytes */
    certa_metric_add(nd->m.bytes_in, len);
    if (hold_preprepare(nd, bytes, len)) {
        certa_log(CERTA_LOG_DEBUG, "preprepare_held", "\"executed\":%llu", (unsigned long long)nd->executed);
        return;
    }
    if (len > 2 && bytes[1] == CERTA_PBFT_MSG_PRE_PREPARE)
        certa_log(CERTA_LOG_DEBUG, "preprepare_in", "\"bytes\":%zu", len);
    feed_peer_msg(nd, bytes, len);
}

/* ------------------------------------------------------------ integrators */

static void refuse_batch(certa_node *nd, const certa_cp_request *rq, certa_err code,
                         bool retryable, uint32_t retry_ms, const char *msg)
{
    certa_metric_add(nd->m.batches_refused, 1);
    char esc[1100];
    certa_log(CERTA_LOG_WARN, "batch_refused", "\"reason\":\"%s\"",
              certa_log_str(msg, esc, sizeof esc));
    reply_error(nd, rq->peer, rq->peer_len, rq->header.request_id, code, retryable, retry_ms,
                msg);
}

/* The door's answer for a batch whose (integrator, seq) the replay table
 * knows (docs/PROTOCOL.md, "Replay protection"): true when answered here
 * (the original receipt, or a refusal that says which case it is); false
 * when the batch is to be accepted (new, or committed and queued for
 * execution: the request then waits for that receipt). */
static bool door_replay(certa_node *nd, const certa_cp_request *rq, const certa_batch_view *v,
                        certa_dedup_answer known, const certa_dedup_loc *loc)
{
    const char *name = nd->g->integrators[v->integrator].name;
    char msg[900];
    if (known == CERTA_DEDUP_TOO_OLD) {
        certa_metric_add(nd->m.too_old, 1);
        snprintf(msg, sizeof msg,
                 "batch: integrator %s sequence %llu is outside the replay horizon (too old "
                 "to tell): whether it executed cannot be known any more; if it did not, "
                 "submit its events again under a new sequence number",
                 name, (unsigned long long)v->seq);
        refuse_batch(nd, rq, CERTA_E_TOO_OLD, false, 0, msg);
        return true;
    }
    if (known == CERTA_DEDUP_NEW || loc->height > nd->executed)
        return false;
    waiter tmp = {.used = true, .integrator = v->integrator, .seq = v->seq,
                  .request_id = rq->header.request_id, .accepted_ms = now_ms(),
                  .peer_len = (uint8_t)rq->peer_len};
    memcpy(tmp.peer, rq->peer, rq->peer_len);
    memcpy(tmp.digest, v->digest, CERTA_HASH_BYTES);
    char why[400];
    certa_err e = resend_receipt(nd, &tmp, loc, why, sizeof why);
    if (e == CERTA_OK)
        return true;
    if (e == CERTA_E_REFUSED) {
        snprintf(msg, sizeof msg,
                 "batch: integrator %s sequence %llu was already executed in block %llu "
                 "with different bytes (replay)",
                 name, (unsigned long long)v->seq, (unsigned long long)loc->height);
        refuse_batch(nd, rq, CERTA_E_REFUSED, false, 0, msg);
        return true;
    }
    /* true, and the receipt exists on every validator: try another */
    snprintf(msg, sizeof msg,
             "batch: integrator %s sequence %llu was already executed in block %llu, but "
             "its receipt cannot be rebuilt on this validator: %.300s",
             name, (unsigned long long)v->seq, (unsigned long long)loc->height, why);
    certa_log(CERTA_LOG_ERROR, "receipt_rebuild_failed", "\"height\":%llu",
              (unsigned long long)loc->height);
    refuse_batch(nd, rq, CERTA_E_IO, true, 1000, msg);
    return true;
}

static void handle_submit(certa_node *nd, const certa_cp_request *rq)
{
    certa_batch_view v;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e = check_batch(nd, rq->body, rq->body_len, &v, &ei);
    if (e != CERTA_OK) {
        refuse_batch(nd, rq, e, false, 0, certa_errmsg(&ei));
        return;
    }
    certa_dedup_loc loc = {0};
    certa_dedup_answer known = certa_dedup_lookup(nd->dedup, v.integrator, v.seq, &loc);
    if (door_replay(nd, rq, &v, known, &loc))
        return;
    /* from here: new, or committed and awaiting execution here */
    bool committed = known == CERTA_DEDUP_EXECUTED;
    if (nd->store_failed && !committed) {
        reply_error(nd, rq->peer, rq->peer_len, rq->header.request_id, CERTA_E_NOSPACE,
                    true, 5000, "validator storage failed: new batches are refused");
        return;
    }
    /* In view change nothing is ordered here until a new view: holding the
     * batch would cost its client the whole wait (or for ever, when this
     * validator is alone in a higher view). A retryable BUSY sends it to
     * another validator now. A batch already waiting is kept. */
    if (certa_pbft_in_view_change(nd->pbft) && waiter_find(nd, v.integrator, v.seq) == NULL) {
        certa_metric_add(nd->m.busy, 1);
        reply_error(nd, rq->peer, rq->peer_len, rq->header.request_id, CERTA_E_BUSY, true,
                    250, "validator in view change: new batches are not ordered here until "
                         "a new view; try another validator");
        return;
    }
    /* Admission control: a batch accepted here waits in the pipeline; past
     * a bounded backlog (a few blocks' worth) the wait would approach the
     * view-change timer, so new batches get a retryable BUSY with a hint
     * instead. A batch already waiting (the client re-sent it) or already
     * committed is kept. */
    if (!committed && waiter_find(nd, v.integrator, v.seq) == NULL &&
        (nd->nwaiters >= nd->admit_batches_max ||
         nd->pending_events + v.event_count > nd->admit_events_max)) {
        /* hint: a fraction of the time the backlog needs to drain at the
         * recent rate; short, since the client backs off further itself */
        double rate = nd->events_per_s > 20000.0 ? nd->events_per_s : 20000.0;
        double wait_ms = (double)nd->pending_events * 1000.0 / rate / 4.0;
        uint32_t hint = wait_ms < 10 ? 10 : wait_ms > 250 ? 250 : (uint32_t)wait_ms;
        certa_metric_add(nd->m.busy, 1);
        reply_error(nd, rq->peer, rq->peer_len, rq->header.request_id, CERTA_E_BUSY, true,
                    hint, "validator busy: its backlog of batches awaiting commit is full");
        return;
    }
    /* Every request for the batch gets its receipt: the same request sent
     * again keeps its entry, another request gets its own, up to
     * WAITER_REQUESTS_MAX; past that the longest waiting is told to send
     * again (retryable), so the table stays bounded. */
    uint32_t count = 0;
    waiter *oldest = NULL;
    waiter *w = waiter_request(nd, v.integrator, v.seq, rq->peer, rq->peer_len,
                               rq->header.request_id, &count, &oldest);
    if (w == NULL) {
        uint32_t events = count == 0 ? v.event_count : 0;
        if (count >= WAITER_REQUESTS_MAX) {
            CERTA_ASSERT(oldest != NULL);
            reply_error(nd, oldest->peer, oldest->peer_len, oldest->request_id,
                        CERTA_E_TIMEOUT, true, 0,
                        "batch awaited by too many requests: this one was superseded by a "
                        "newer one; send it again for its receipt");
            events = oldest->events;
            waiter_remove(nd, oldest);
        }
        w = waiter_insert(nd, v.integrator, v.seq);
        if (w == NULL) {
            reply_error(nd, rq->peer, rq->peer_len, rq->header.request_id, CERTA_E_BUSY,
                        true, 50, "validator busy: too many batches awaiting commit");
            return;
        }
        w->events = events;
        nd->pending_events += events;
    }
    w->request_id = rq->header.request_id;
    w->accepted_ms = now_ms();
    w->peer_len = (uint8_t)rq->peer_len;
    memcpy(w->peer, rq->peer, rq->peer_len);
    memcpy(w->digest, v.digest, CERTA_HASH_BYTES);
    certa_metric_add(nd->m.batches_in, 1);
    certa_log(CERTA_LOG_DEBUG, "batch_accepted",
              "\"integrator\":%u,\"seq\":%llu,\"events\":%u,\"committed\":%s",
              v.integrator, (unsigned long long)v.seq, v.event_count,
              committed ? "true" : "false");

    certa_cp_accepted acc = {.integrator = v.integrator, .seq = v.seq,
                             .event_count = v.event_count};
    memcpy(acc.digest, v.digest, CERTA_HASH_BYTES);
    uint8_t body[CERTA_CP_ACCEPTED_BYTES];
    certa_cp_accepted_encode(&acc, body);
    certa_cp_server_reply(nd->cs, rq->peer, rq->peer_len, CERTA_CP_ACCEPTED,
                          rq->header.request_id, body, sizeof body);
    if (committed)
        return; /* its block executes soon: complete_job answers */
    certa_pbft_input in = {.kind = CERTA_PBFT_IN_REQUEST, .bytes = rq->body,
                           .len = rq->body_len, .integrator = v.integrator,
                           .seq = v.seq};
    step(nd, &in);
}

/* The status document (docs/PROTOCOL.md, "Query results"). */
static json_t *status_json(void *ctx)
{
    certa_node *nd = ctx;
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    certa_transport_stats st;
    certa_transport_stats_get(nd->tp, &st);
    uint64_t view = certa_pbft_view(nd->pbft);
    json_object_set_new(o, "validator", json_integer(nd->self));
    json_object_set_new(o, "name", json_string(nd->g->validators[nd->self].name));
    json_object_set_new(o, "height", json_integer((json_int_t)nd->executed));
    json_object_set_new(o, "view", json_integer((json_int_t)view));
    json_object_set_new(o, "primary", json_integer(certa_pbft_primary(nd->pbft, view)));
    json_object_set_new(o, "in_view_change", json_boolean(certa_pbft_in_view_change(nd->pbft)));
    json_object_set_new(o, "stable_checkpoint",
                        json_integer((json_int_t)certa_pbft_stable_checkpoint(nd->pbft)));
    json_object_set_new(o, "peers_up", json_integer(st.peers_up));
    json_object_set_new(o, "events", json_integer((json_int_t)nd->events_total));
    json_object_set_new(o, "events_per_s", json_real(nd->events_per_s));
    json_object_set_new(o, "awaiting_receipt", json_integer(nd->nwaiters));
    certa_dedup_stats ds;
    certa_dedup_stats_get(nd->dedup, &ds);
    json_t *rh = json_pack("{s:I, s:I, s:I, s:I, s:I}", "batches", (json_int_t)ds.remembered,
                           "batches_max", (json_int_t)ds.batches_max,
                           "horizon_ms", (json_int_t)nd->horizon_ms,
                           "oldest_height", (json_int_t)ds.oldest_height,
                           "oldest_time_ms", (json_int_t)ds.oldest_time_ms);
    if (rh != NULL)
        json_object_set_new(o, "replay_horizon", rh);
    return o;
}

/* Holder, grant and block answers come from the executed state and the
 * block log, between rounds (engine/node_query.c bounds each one). */
static void handle_query(certa_node *nd, const certa_cp_request *rq)
{
    certa_node_query_src src = {.g = nd->g, .state = nd->state, .blocks = nd->blocks,
                                .status = status_json, .status_ctx = nd};
    const uint8_t *body;
    size_t len;
    /* the execution thread owns the state: wait out the block it applies */
    pthread_mutex_lock(&nd->state_mu);
    uint8_t type = certa_node_query_answer(nd->nq, &src, rq->body, rq->body_len, &body, &len);
    pthread_mutex_unlock(&nd->state_mu);
    certa_cp_server_reply(nd->cs, rq->peer, rq->peer_len, type, rq->header.request_id, body,
                          len);
}

/* Time for queries per round: each query is bounded (engine/query.c, about
 * 2 ms at worst), and once this much went to queries the round goes on to
 * consensus; the requests left wait in the socket for the next round. */
#define QUERY_US_PER_ROUND 2000u

static void serve_clients(certa_node *nd)
{
    uint64_t query_us = 0;
    for (uint32_t i = 0; i < CLIENT_RECV_PER_ROUND && query_us < QUERY_US_PER_ROUND; i++) {
        certa_cp_request rq;
        certa_errinfo ei;
        certa_err e = certa_cp_server_recv(nd->cs, &rq, &ei);
        if (e == CERTA_E_NOTFOUND)
            return;
        if (e != CERTA_OK) {
            certa_metric_add(nd->m.batches_refused, 1);
            char esc[600];
            certa_log(CERTA_LOG_WARN, "client_frame_refused", "\"reason\":\"%s\"",
                      certa_log_str(certa_errmsg(&ei), esc, sizeof esc));
            continue;
        }
        if (rq.header.type == CERTA_CP_SUBMIT)
            handle_submit(nd, &rq);
        else if (rq.header.type == CERTA_CP_QUERY) {
            uint64_t t0 = mono_us();
            handle_query(nd, &rq);
            query_us += mono_us() - t0;
        } else
            reply_error(nd, rq.peer, rq.peer_len, rq.header.request_id, CERTA_E_PROTOCOL,
                        false, 0, "unexpected message type from a client");
        certa_cp_request_release(&rq);
        if (nd->nout >= OUT_MAX / 2)
            return; /* let the round finish before taking more */
    }
}

/* Forgets batches accepted long ago that never committed (their request
 * was lost with a primary, or the client is gone): the client has its own
 * deadline and re-sends, so the slot is better given to new work. */
#define WAITER_TTL_MS 60000u

static void sweep_waiters(certa_node *nd, uint64_t now)
{
    for (uint32_t i = 0; i < WAITERS_MAX && nd->nwaiters > 0;) {
        waiter *w = &nd->waiters[i];
        if (w->used && w->accepted_ms + WAITER_TTL_MS < now) {
            certa_metric_add(nd->m.expired, 1);
            waiter_remove(nd, w); /* may shift a later entry into slot i */
            continue;
        }
        i++;
    }
}

static void replay_gauges(certa_node *nd)
{
    certa_dedup_stats ds;
    certa_dedup_stats_get(nd->dedup, &ds);
    certa_metric_set(nd->m.replay_batches, ds.remembered);
    uint64_t newest = nd->dlv_tip_ms;
    double span = ds.remembered && newest > ds.oldest_time_ms
                      ? (double)(newest - ds.oldest_time_ms) / 1000.0 : 0.0;
    certa_metric_set(nd->m.replay_seconds, span);
}

/* ------------------------------------------------------------ open / run */

/* Says when this validator is in view change without progress: the gauges,
 * and one warning per view once the wait passed twice the base timer. */
static void watch_progress(certa_node *nd, uint64_t view, uint64_t now)
{
    bool in_vc = certa_pbft_in_view_change(nd->pbft);
    certa_metric_set(nd->m.in_vc, in_vc ? 1.0 : 0.0);
    certa_metric_set(nd->m.since_commit,
                     now > nd->last_commit_ms ? (double)(now - nd->last_commit_ms) / 1000.0 : 0.0);
    if (!in_vc) {
        nd->vc_since_ms = 0;
        return;
    }
    if (nd->vc_since_ms == 0)
        nd->vc_since_ms = now;
    if (now >= nd->vc_since_ms + 2ull * nd->pc.view_timeout_ms && nd->vc_warned_view != view) {
        nd->vc_warned_view = view;
        certa_log(CERTA_LOG_WARN, "view_change_stalled",
                  "\"view\":%llu,\"in_view_change_s\":%.1f,\"since_last_commit_s\":%.1f,"
                  "\"height\":%llu",
                  (unsigned long long)view, (double)(now - nd->vc_since_ms) / 1000.0,
                  (double)(now - nd->last_commit_ms) / 1000.0,
                  (unsigned long long)nd->executed);
    }
}

static certa_err metrics_open(certa_node *nd, certa_errinfo *ei)
{
    node_metrics *m = &nd->m;
    certa_err e = certa_metrics_create(&m->reg, ei);
    if (e != CERTA_OK)
        return e;
    static const double lat_s[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
                                   0.2, 0.5, 1, 2, 5};
    static const double fs_s[] = {0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005,
                                  0.01, 0.02, 0.05, 0.1};
#define C(field, name, help) \
    if ((m->field = certa_metrics_counter(m->reg, name, NULL, help, ei)) == NULL) return ei->code
#define G(field, name, help) \
    if ((m->field = certa_metrics_gauge(m->reg, name, NULL, help, ei)) == NULL) return ei->code
    C(blocks, "certa_blocks_committed_total", "Blocks committed and executed");
    C(events, "certa_events_committed_total", "Events committed and executed");
    C(batches_in, "certa_batches_accepted_total", "Batches accepted from integrators");
    C(batches_refused, "certa_batches_refused_total", "Batches or frames refused at the door");
    C(receipts, "certa_receipts_sent_total", "Batch receipts sent");
    C(busy, "certa_batches_busy_total", "Batches answered BUSY (backlog full)");
    C(expired, "certa_waiters_expired_total", "Accepted batches forgotten after the waiting limit");
    C(too_old, "certa_batches_too_old_total",
      "Batches refused at the door as outside the replay horizon (too old to tell)");
    G(replay_batches, "certa_replay_horizon_batches",
      "Executed batches remembered exactly for replay protection and re-sent receipts");
    G(replay_seconds, "certa_replay_horizon_seconds",
      "Block time covered by the replay horizon now (newest block - oldest remembered batch)");
    C(bytes_in, "certa_peer_bytes_in_total", "Bytes received from validators");
    C(bytes_out, "certa_peer_bytes_out_total", "Bytes sent to validators");
    G(view, "certa_view", "Current PBFT view");
    C(view_changes, "certa_view_changes_total", "View changes started");
    G(in_vc, "certa_view_change_in_progress", "1 while this validator waits for a new view");
    G(since_commit, "certa_seconds_since_last_commit",
      "Seconds since a block holding events last executed here (alert when it grows under load)");
    C(dropped, "certa_requests_dropped_total",
      "Pending batches dropped unordered: counted as executed while they waited");
    G(height, "certa_height", "Last executed block height");
    G(peers, "certa_peers_connected", "Validator links up");
    G(waiters, "certa_batches_awaiting_receipt", "Accepted batches not yet committed");
    G(exec_queue, "certa_exec_queue_depth", "Committed blocks queued for or back from the execution thread");
    G(store_failed, "certa_storage_failed", "1 when the block log or WAL failed (disk full?)");
#undef C
#undef G
    for (unsigned r = 0; r < CERTA_R_COUNT; r++) {
        char labels[64];
        snprintf(labels, sizeof labels, "result=\"%s\"", certa_result_name(r));
        m->results[r] = certa_metrics_counter(m->reg, "certa_results_total", labels,
                                              "Committed event results by reason", ei);
        if (m->results[r] == NULL)
            return ei->code;
    }
    m->commit_latency = certa_metrics_histogram(m->reg, "certa_commit_latency_seconds", NULL,
                                                "Batch accepted to receipt sent", lat_s,
                                                sizeof lat_s / sizeof lat_s[0], ei);
    m->fsync_latency = certa_metrics_histogram(m->reg, "certa_fsync_latency_seconds", NULL,
                                               "Wait for the logs to be durable", fs_s,
                                               sizeof fs_s / sizeof fs_s[0], ei);
    if (m->commit_latency == NULL || m->fsync_latency == NULL)
        return ei->code;
    e = certa_node_query_open(m->reg, &nd->nq, ei);
    if (e != CERTA_OK)
        return e;
    if (nd->cfg.metrics_port != 0) {
        uint16_t port = 0;
        e = certa_metrics_serve(m->reg, nd->cfg.metrics_host, nd->cfg.metrics_port, &port, ei);
        if (e != CERTA_OK)
            return e;
    }
    return CERTA_OK;
}

static certa_err open_store(const char *dir, const char *sub, uint64_t first,
                            certa_store **out, certa_errinfo *ei)
{
    char path[CERTA_PATH_BYTES + 16];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = path;
    o.create = true;
    o.first_height = first;
    o.segment_bytes = 256ull * 1024 * 1024;
    o.prewrite = 2; /* allocate the spare; zero-filling it would double the writes */
    o.group_bytes = 16u * 1024 * 1024 + 64 * 1024;
    certa_store_recovery rep;
    certa_err e = certa_store_open(&o, out, &rep, ei);
    if (e != CERTA_OK)
        return e;
    if (rep.tail_repaired)
        certa_log(CERTA_LOG_WARN, "torn_tail_repaired",
                  "\"log\":\"%s\",\"truncated_bytes\":%llu", sub,
                  (unsigned long long)rep.truncated_bytes);
    return CERTA_OK;
}

typedef struct replay_ctx {
    certa_node *nd;
    certa_err err;
    certa_errinfo ei;
} replay_ctx;

static bool replay_block_fn(void *vctx, uint64_t height, const uint8_t *data, size_t len)
{
    replay_ctx *c = vctx;
    (void)height;
    c->err = execute_now(c->nd, data, len, &c->ei);
    return c->err == CERTA_OK;
}

static certa_err recover(certa_node *nd, certa_errinfo *ei)
{
    replay_ctx c = {.nd = nd, .err = CERTA_OK};
    uint64_t first, last;
    uint8_t *tip = NULL;
    size_t tip_len = 0;
    if (certa_store_range(nd->blocks, &first, &last)) {
        certa_err e = certa_store_scan(nd->blocks, first, last, replay_block_fn, &c, ei);
        if (e == CERTA_OK && c.err != CERTA_OK) {
            *ei = c.ei;
            e = c.err;
        }
        if (e != CERTA_OK)
            return e;
        const uint8_t *rec;
        if (!app_read_block(nd, last, &rec, &tip_len))
            return certa_errorf(ei, CERTA_E_IO, "cannot read back block %llu",
                                (unsigned long long)last);
        tip = malloc(tip_len);
        if (tip == NULL)
            return certa_errorf(ei, CERTA_E_NOMEM, "recovering");
        memcpy(tip, rec, tip_len);
        certa_log(CERTA_LOG_INFO, "replayed", "\"blocks\":%llu,\"height\":%llu",
                  (unsigned long long)(last - first + 1), (unsigned long long)last);
    }
    size_t nrec = certa_wal_count(nd->wal);
    const uint8_t **recs = calloc(nrec ? nrec : 1, sizeof *recs);
    size_t *lens = calloc(nrec ? nrec : 1, sizeof *lens);
    if (recs == NULL || lens == NULL) {
        free(recs);
        free(lens);
        free(tip);
        return certa_errorf(ei, CERTA_E_NOMEM, "recovering");
    }
    for (size_t i = 0; i < nrec; i++)
        certa_wal_record(nd->wal, i, &recs[i], &lens[i]);
    certa_err e = certa_pbft_restore(nd->pbft, tip, tip_len, recs, lens, nrec, ei);
    if (e == CERTA_OK && nrec > 0)
        certa_log(CERTA_LOG_INFO, "wal_restored", "\"records\":%zu", nrec);
    free(recs);
    free(lens);
    free(tip);
    return e;
}

certa_err certa_node_open(const certa_node_config *cfg, const certa_node_opts *o,
                          certa_node **out, certa_errinfo *ei)
{
    certa_node *nd = calloc(1, sizeof *nd);
    if (nd == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "allocating the node");
    nd->cfg = *cfg;
    pthread_mutex_init(&nd->state_mu, NULL);
    pthread_mutex_init(&nd->leaf_mu, NULL);
    pthread_mutex_init(&nd->pipe.mu, NULL);
    pthread_cond_init(&nd->pipe.work_cv, NULL);
    nd->pipe.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (nd->pipe.efd < 0) {
        certa_err e0 = certa_errorf(ei, CERTA_E_IO, "eventfd: %s", strerror(errno));
        certa_node_close(nd);
        return e0;
    }
    certa_err e = certa_genesis_load(cfg->genesis_path, &nd->g, ei);
    if (e != CERTA_OK)
        goto fail;
    e = certa_node_keys_load(cfg, nd->g, &nd->key, nd->curve_secret, ei);
    if (e != CERTA_OK)
        goto fail;
    nd->self = (uint16_t)cfg->validator_index;
    nd->n = (uint16_t)nd->g->validator_count;
    certa_log_init(2, CERTA_LOG_INFO, nd->self);

    nd->out = calloc(OUT_MAX, sizeof *nd->out);
    nd->exq = calloc(EXEC_QUEUE_MAX, sizeof *nd->exq);
    nd->waiters = calloc(WAITERS_MAX, sizeof *nd->waiters);
    nd->sigcache = calloc(SIGCACHE_SLOTS, sizeof *nd->sigcache);
    nd->completed = calloc(EXEC_PIPE_MAX, sizeof *nd->completed);
    nd->receipt_buf = malloc(RECEIPT_BYTES_MAX);
    if (preverify_scratch == NULL)
        preverify_scratch = calloc(1, sizeof *preverify_scratch);
    if (!nd->out || !nd->exq || !nd->waiters || !nd->sigcache || !nd->completed ||
        !nd->receipt_buf || !preverify_scratch || !grow_leaves(nd, 16384)) {
        e = certa_errorf(ei, CERTA_E_NOMEM, "allocating node tables");
        goto fail;
    }
    /* The replay table, sized once from genesis: every replica must use
     * the same horizon, since it decides which batches execute. */
    certa_dedup_params dp;
    certa_dedup_params_genesis(nd->g, &dp);
    nd->horizon_ms = dp.horizon_ms;
    e = certa_dedup_create(&dp, &nd->dedup, ei);
    if (e != CERTA_OK)
        goto fail;
    certa_merkle_empty_root(nd->empty_root);

    e = certa_pool_create(o && o->verify_threads ? o->verify_threads : 2, &nd->pool, ei);
    if (e != CERTA_OK)
        goto fail;
    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        e = certa_errorf(ei, CERTA_E_IO, "data directory %s: %s", cfg->data_dir,
                         strerror(errno));
        goto fail;
    }
    e = open_store(cfg->data_dir, "blocks", 1, &nd->blocks, ei);
    if (e != CERTA_OK)
        goto fail;
    e = certa_wal_open(cfg->data_dir, 0, &nd->wal, ei);
    if (e != CERTA_OK)
        goto fail;
    /* Address space for 4M grants and 32M events up front (about 2 GiB,
     * touched only as the state grows): below that, growth never stops
     * execution to copy an array or rehash an index, which showed as
     * latency spikes of tens of ms once the state held millions of events. */
    certa_state_opts so = {.hash_threads = 1, .grants_reserve = 1u << 22,
                           .records_reserve = 1u << 25};
    e = certa_state_create(nd->g, &so, &nd->state, ei);
    if (e != CERTA_OK)
        goto fail;
    certa_state_digest(nd->state, nd->state_digest);
    memset(nd->results_root, 0, CERTA_HASH_BYTES);

    e = metrics_open(nd, ei);
    if (e != CERTA_OK)
        goto fail;

    /* The PBFT core. */
    certa_pbft_config *pc = &nd->pc;
    certa_pbft_config_default(pc, nd->n, nd->self);
    memcpy(pc->chain_id, nd->g->hash, CERTA_HASH_BYTES);
    memset(&pc->genesis, 0, sizeof pc->genesis);
    pc->genesis.timestamp_ms = nd->g->genesis_time_ms;
    const certa_genesis_params *gp = &nd->g->params;
    if (gp->checkpoint_interval)
        pc->checkpoint_interval = gp->checkpoint_interval;
    if (gp->window_blocks)
        pc->window = gp->window_blocks;
    if (pc->window < 2 * pc->checkpoint_interval)
        pc->window = 2 * pc->checkpoint_interval;
    pc->batch_requests_max = o && o->batch_requests_max ? o->batch_requests_max : 256;
    if (pc->batch_requests_max > CERTA_PBFT_BLOCK_REQUESTS_MAX)
        pc->batch_requests_max = CERTA_PBFT_BLOCK_REQUESTS_MAX;
    /* Blocks are bounded by bytes as a proxy for genesis' events per block
     * (about 150 bytes an event): a block must travel, be signed, verified
     * and persisted well within the view timeout. */
    uint64_t block_bytes = (uint64_t)(gp->block_events_max ? gp->block_events_max : 8192) * 192u;
    if (block_bytes < 64u * 1024)
        block_bytes = 64u * 1024;
    if (block_bytes > 4u * 1024 * 1024)
        block_bytes = 4u * 1024 * 1024;
    pc->batch_bytes_max = (uint32_t)block_bytes;
    nd->admit_events_max = 2ull * (gp->block_events_max ? gp->block_events_max : 8192);
    nd->admit_batches_max = 512;
    pc->batch_timeout_ms = o && o->batch_timeout_ms ? o->batch_timeout_ms
                           : gp->block_timeout_ms ? gp->block_timeout_ms : 5;
    if (gp->view_timeout_ms)
        pc->view_timeout_ms = gp->view_timeout_ms;
    /* view timers double per view change without progress (pbft.c); the
     * cap keeps the longest wait for one view at 8 base timers (16 s at the
     * default 2 s), so a cluster healed after a long outage resumes soon */
    pc->view_backoff_max = 3;
    /* Retransmission covers lost messages; with blocks of megabytes it must
     * stay well apart from the normal round trip. */
    pc->resend_ms = pc->view_timeout_ms / 4 > 200 ? pc->view_timeout_ms / 4 : 200;
    if (gp->clock_skew_ms_max)
        pc->clock_skew_ms_max = gp->clock_skew_ms_max;
    pc->crypto = (certa_pbft_crypto){nd, crypto_sign, crypto_verify};
    pc->app = (certa_pbft_app){.ctx = nd,
                               .validate_request = app_validate_request,
                               .request_executed = app_request_executed,
                               .build_block = app_build_block,
                               .validate_block = app_validate_block,
                               .can_propose = app_can_propose,
                               .header_hash = app_header_hash,
                               .read_block = app_read_block,
                               .request_dropped = app_request_dropped};
    e = certa_pbft_create(pc, &nd->pbft, ei);
    if (e != CERTA_OK)
        goto fail;
    e = recover(nd, ei);
    if (e != CERTA_OK)
        goto fail;

    /* Sockets last: nothing is served before the state is recovered. */
    const char(*keys)[41] = calloc(nd->n, 41);
    if (keys == NULL) {
        e = certa_errorf(ei, CERTA_E_NOMEM, "allocating keys");
        goto fail;
    }
    for (uint16_t i = 0; i < nd->n; i++)
        memcpy((char *)keys[i], nd->g->validators[i].curve_pub, 41);
    certa_transport_config tc;
    memset(&tc, 0, sizeof tc);
    tc.self = nd->self;
    tc.validator_count = nd->n;
    tc.curve_pub = keys;
    tc.curve_secret = nd->curve_secret;
    tc.bind_endpoint = cfg->peer_bind;
    memcpy(tc.genesis_hash, nd->g->hash, CERTA_HASH_BYTES);
    e = certa_transport_open(&tc, on_peer_event, nd, &nd->tp, ei);
    free((void *)keys);
    if (e != CERTA_OK)
        goto fail;
    for (uint16_t i = 0; i < nd->n; i++) {
        if (i == nd->self)
            continue;
        e = certa_transport_connect(nd->tp, i, nd->g->validators[i].peer_endpoint, ei);
        if (e != CERTA_OK)
            goto fail;
    }
    e = certa_cp_server_open(NULL, cfg->client_bind, nd->curve_secret, 4096, &nd->cs, ei);
    if (e != CERTA_OK)
        goto fail;
    certa_log(CERTA_LOG_INFO, "started",
              "\"height\":%llu,\"view\":%llu,\"peer\":\"%s\",\"client\":\"%s\",\"metrics_port\":%u",
              (unsigned long long)nd->executed,
              (unsigned long long)certa_pbft_view(nd->pbft),
              certa_transport_endpoint(nd->tp), certa_cp_server_endpoint(nd->cs),
              cfg->metrics_port);
    *out = nd;
    return CERTA_OK;
fail:
    certa_node_close(nd);
    return e;
}

certa_err certa_node_run(certa_node *nd, volatile sig_atomic_t *stop, certa_errinfo *ei)
{
    zmq_pollitem_t items[CERTA_TRANSPORT_POLLITEMS_MAX + 2];
    certa_pbft_input tick = {.kind = CERTA_PBFT_IN_TICK};
    certa_err pe = pipe_start(nd, ei);
    if (pe != CERTA_OK)
        return pe;
    step(nd, &tick);
    nd->events_window_start_ms = now_ms();
    nd->last_commit_ms = nd->events_window_start_ms;
    certa_err result = CERTA_OK;
    while (!*stop) {
        int ni = certa_transport_pollitems(nd->tp, items, CERTA_TRANSPORT_POLLITEMS_MAX);
        items[ni] = (zmq_pollitem_t){.socket = certa_cp_server_socket(nd->cs),
                                     .events = ZMQ_POLLIN};
        items[ni + 1] = (zmq_pollitem_t){.socket = NULL, .fd = nd->pipe.efd,
                                         .events = ZMQ_POLLIN};
        uint64_t now = now_ms();
        long timeout = 100;
        if (nd->timer_at_ms != 0)
            timeout = nd->timer_at_ms <= now ? 0
                      : (long)(nd->timer_at_ms - now < 100 ? nd->timer_at_ms - now : 100);
        int rc = zmq_poll(items, ni + 2, timeout);
        if (rc < 0) {
            if (zmq_errno() == EINTR)
                continue;
            result = certa_errorf(ei, CERTA_E_NET, "zmq_poll: %s", zmq_strerror(zmq_errno()));
            break;
        }
        certa_transport_process(nd->tp, items, ni, on_peer_msg, nd);
        if (items[ni].revents & ZMQ_POLLIN)
            serve_clients(nd);
        if (items[ni + 1].revents & ZMQ_POLLIN) {
            result = pipe_complete(nd, true, ei);
            if (result != CERTA_OK)
                break;
        }
        if (nd->timer_at_ms != 0 && now_ms() >= nd->timer_at_ms)
            step(nd, &tick);
        /* Finish the round; executing may let the core propose: repeat while
         * the round produced something, a bounded number of times. */
        for (int r = 0; r < 8 && (nd->nout || nd->nexq || certa_wal_dirty(nd->wal) || nd->blocks_dirty); r++) {
            certa_err e = finish_round(nd, ei);
            if (e != CERTA_OK) {
                certa_metric_set(nd->m.store_failed, 1);
                certa_log(CERTA_LOG_ERROR, "storage_failed", "\"error\":\"%s\"",
                          certa_errmsg(ei));
                result = e;
                break;
            }
        }
        if (result != CERTA_OK)
            break;
        uint64_t view = certa_pbft_view(nd->pbft);
        if (view != nd->last_view) {
            certa_log(CERTA_LOG_INFO, "view_change", "\"view\":%llu,\"primary\":%u",
                      (unsigned long long)view, certa_pbft_primary(nd->pbft, view));
            certa_metric_add(nd->m.view_changes, 1);
            nd->last_view = view;
        }
        certa_metric_set(nd->m.view, (double)view);
        certa_metric_set(nd->m.waiters, nd->nwaiters);
        replay_gauges(nd);
        now = now_ms();
        watch_progress(nd, view, now);
        if (now >= nd->last_sweep_ms + 1000) {
            sweep_waiters(nd, now);
            nd->last_sweep_ms = now;
        }
        if (now >= nd->events_window_start_ms + 1000) {
            nd->events_per_s = (double)nd->events_window_count * 1000.0 /
                               (double)(now - nd->events_window_start_ms);
            nd->events_window_count = 0;
            nd->events_window_start_ms = now;
        }
    }
    /* what is queued executes (it is durable; a restart would replay it) */
    pipe_stop(nd);
    certa_errinfo pei;
    if (pipe_complete(nd, false, &pei) != CERTA_OK && result == CERTA_OK)
        certa_log(CERTA_LOG_WARN, "execute_failed_at_stop", "\"error\":\"%s\"",
                  certa_errmsg(&pei));
    certa_log(CERTA_LOG_INFO, "stopping", "\"height\":%llu", (unsigned long long)nd->executed);
    return result;
}

void certa_node_close(certa_node *nd)
{
    if (nd == NULL)
        return;
    if (nd->cs)
        certa_cp_server_close(nd->cs);
    if (nd->tp)
        certa_transport_close(nd->tp);
    certa_pbft_free(nd->pbft);
    certa_wal_close(nd->wal);
    certa_store_close(nd->blocks);
    certa_state_free(nd->state);
    certa_pool_destroy(nd->pool);
    certa_node_query_close(nd->nq);
    if (nd->m.reg)
        certa_metrics_free(nd->m.reg);
    for (uint32_t i = 0; i < nd->nout; i++)
        free(nd->out[i].bytes);
    for (uint32_t i = 0; i < nd->nheld; i++)
        free(nd->held[i].bytes);
    for (uint32_t i = 0; i < nd->nexq; i++) {
        free(nd->exq[i].rec);
        free(nd->exq[i].verdicts);
    }
    free(nd->out);
    free(nd->exq);
    free(nd->waiters);
    free(nd->sigcache);
    certa_dedup_free(nd->dedup);
    exec_pipe *p = &nd->pipe;
    CERTA_ASSERT(!p->running);
    for (uint32_t i = 0; i < p->in_count; i++)
        job_free(p->in[(p->in_head + i) % EXEC_PIPE_MAX]);
    for (uint32_t i = 0; i < p->done_count; i++)
        job_free(p->done[(p->done_head + i) % EXEC_PIPE_MAX]);
    if (nd->completed != NULL)
        for (uint32_t i = 0; i < nd->ncompleted; i++)
            job_free(nd->completed[i]);
    free(nd->completed);
    if (p->efd >= 0)
        close(p->efd);
    free(nd->x_leaf_hashes);
    pthread_cond_destroy(&p->work_cv);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&nd->state_mu);
    pthread_mutex_destroy(&nd->leaf_mu);
    free(nd->receipt_buf);
    free(nd->leaf_hashes);
    free(nd->split);
    free(nd->heads);
    for (uint32_t i = 0; i < LEAF_RING; i++)
        free(nd->leaf_ring[i].hashes);
    free(nd->readbuf);
    free(nd->entries);
    free(nd->paths);
    certa_key_free(nd->key);
    certa_genesis_free(nd->g);
    memset(nd->curve_secret, 0, sizeof nd->curve_secret);
    free(nd);
}
