/* node_internal: what the daemon's rooms share (the .c files of node/ only).
 *
 * The validator daemon is one struct certa_node, owned by the I/O thread,
 * with a few fields handed to the execution thread. Its files:
 *   node.c     open, run, close and the loop; peers and pre-prepare
 *              hold-back
 *   round.c    the round: step -> persist -> sync -> send (round.h)
 *   io.c       the I/O interface the round uses (io.h): WAL, block log,
 *              transport, the two clocks, randomness
 *   app.c      the PBFT application callbacks around the ledger
 *              (engine/ledger.h: admission, replay verdicts, the LAG rule,
 *              block content): the signature cache, parallel
 *              pre-verification, the leaf-hash ring
 *   exec.c     the execution stage: a thread that owns the state and
 *              applies durable blocks in height order (certa_ledger_apply)
 *   clients.c  integrators: admission, waiters, receipts and re-sent
 *              receipts, answers for batches the core dropped
 *   query.c    online queries and the status document
 *   metrics.c  the Prometheus registry and the gauges refreshed per round
 *   recover.c  opening the block log and replaying it and the WAL
 *   config.c   node.json and the key files
 *
 * Threads and ownership (the invariants are stated in full in node.c):
 * the I/O thread owns everything here except the state, x_executed,
 * x_seq_max, x_leaf_* and the ledger's execution part (the execution
 * thread's once certa_node_run
 * started it; state_mu guards the state and x_seq_max for queries and
 * re-sent receipts), the
 * execution rings (pipe.mu) and the kept leaf hashes (leaf_mu).
 */
#ifndef CERTA_NODE_INTERNAL_H
#define CERTA_NODE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cp_server.h" /* the validator end; includes certa/client.h */
#include "certa/block.h"
#include "certa/codec.h"
#include "certa/crypto.h"
#include "certa/genesis.h"
#include "certa/merkle.h"
#include "certa/pbft.h"
#include "certa/pool.h"
#include "certa/receipt.h"
#include "certa/state.h"
#include "certa/store.h"
#include "config.h"
#include "dedup.h"
#include "io.h"
#include "ledger.h"
#include "metrics.h"
#include "node.h"
#include "note.h"
#include "node_query.h"
#include "round.h"
#include "transport.h"
#include "wal.h"


#define OUT_MAX 8192u            /* messages queued in one round */
/* their bytes: votes are ~200 bytes, a PRE-PREPARE carries its block's
 * batches (16,384 events are ~4 MiB); a larger round spills to the heap */
#define OUT_BYTES (8u * 1024u * 1024u)
#define WAITERS_MAX 65536u       /* batches awaiting a receipt (power of 2) */
#define SIGCACHE_SLOTS 16384u    /* verified batch digests (power of 2) */
#define EXEC_QUEUE_MAX 1024u     /* delivered blocks awaiting durability */
#define CLIENT_RECV_PER_ROUND 512u
#define RECEIPT_BYTES_MAX (8u * 1024u * 1024u)

#define LAG CERTA_LEDGER_LAG
#define LEAF_RING 8u /* > LAG + 1: blocks validated ahead of execution */

typedef struct leaf_slot {
    uint64_t height; /* 0 = empty */
    uint8_t events_root[CERTA_HASH_BYTES];
    size_t n;
    uint8_t *hashes;
    size_t cap;
} leaf_slot;
_Static_assert(LAG + 1 < LEAF_RING, "kept leaves must outlive the blocks in flight");


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
enum { V_NEW = CERTA_LEDGER_NEW, V_REPLAYED = CERTA_LEDGER_REPLAYED,
       V_TOO_OLD = CERTA_LEDGER_TOO_OLD };

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

/* A checkpoint note this validator signed: text and its signature line. */
#define NODE_NOTES_MAX 16u
typedef struct node_note {
    uint64_t height, size;
    size_t len;
    char text[CERTA_NOTE_BODY_BYTES + CERTA_NOTE_SIG_LINE_BYTES + 2];
} node_note;

/* A committed, durable block on its way through execution. The I/O thread
 * creates it, the execution thread fills it, the I/O thread completes it
 * (receipts, caches, its view of the executed height) and frees it. */
typedef struct exec_job {
    uint64_t height;
    uint8_t *rec; /* the REC_BLOCK record (owned) */
    size_t len;
    certa_block blk; /* decoded from rec, once; points into rec */
    exec_batch *batches; /* owned */
    size_t nb;
    uint32_t leaves;
    uint8_t *leaf_hashes; /* owned; leaves hashes */
    size_t leaf_cap;
    uint8_t *results;  /* owned; one per leaf */
    uint8_t *verdicts; /* owned; per batch, V_* */
    uint8_t results_root[CERTA_HASH_BYTES];
    uint8_t state_digest[CERTA_HASH_BYTES];
    certa_ledger_adm *admission; /* owned; non-NULL: the council changed the integrators */
    uint64_t cold_write_ns; /* the block's cold store write (wall) */
    /* the event log after this block (docs/PROTOCOL.md "The event log
     * over the whole chain"); its root only at a checkpoint height */
    uint64_t log_size;
    bool log_checkpoint;
    uint8_t log_root[CERTA_HASH_BYTES];
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
    certa_metric *commit_latency, *fsync_latency, *cold_write;
    certa_metric *view, *view_changes, *height, *peers, *waiters, *exec_queue;
    certa_metric *bytes_in, *bytes_out, *store_failed, *busy, *expired;
    certa_metric *since_commit, *in_vc, *dropped, *withheld;
    certa_metric *too_old, *replay_batches, *replay_seconds;
    certa_metric *msgs_out, *heap_copies;
    /* the PBFT core's own counters (certa_pbft_stats), by what they saw
     * last: the core counts, the round adds the difference */
#define NODE_PBFT_DROP_REASONS 8
    certa_metric *pbft_dropped[NODE_PBFT_DROP_REASONS], *new_views;
    uint64_t pbft_dropped_seen[NODE_PBFT_DROP_REASONS], new_views_seen;
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

    /* The state, x_executed and the ledger's execution part
     * (certa_ledger_apply) belong to the execution thread once
     * certa_node_run started it; state_mu guards the state for the queries
     * and re-sent receipts the I/O thread answers. */
    certa_state *state;
    /* The application (engine/ledger.h) on that state: the I/O thread
     * judges, records executed heights and builds and validates blocks
     * with it; the execution thread applies blocks with it. */
    certa_ledger *ledger;
    pthread_mutex_t state_mu;
    uint64_t x_executed;
    uint64_t x_cold_write_ns; /* the state's cold write time so far */
    /* per genesis integrator, the highest seq of a batch executed as new
     * (0: none); written with the state under state_mu, so a query reads
     * it at the state's height */
    uint64_t *x_seq_max;
    uint8_t *x_leaf_hashes; /* execution's scratch */
    size_t x_leaf_cap;
    certa_merkle_frontier x_log; /* the event log's compact range */
    exec_pipe pipe;
    exec_job **completed; /* taken back from the done ring, to complete */
    uint32_t ncompleted;
    uint64_t events_total;
    /* The I/O thread's view: what completed execution. */
    uint64_t executed;
    uint8_t results_root[CERTA_HASH_BYTES]; /* of block `executed` */
    uint8_t state_digest[CERTA_HASH_BYTES]; /* after block `executed` */
    /* The ledger's replay table (engine/dedup.h), read by the I/O thread:
     * fed by the ledger's judge with every block as it is delivered
     * (committed and durable) or recovered, in height order, it answers
     * the door and locates executed batches for re-sent receipts. */
    const certa_dedup *dedup;
    /* The checkpoints of the event log this validator signed by itself,
     * one per checkpoint height, the newest NODE_NOTES_MAX (a ring): what
     * a CHECKPOINT query answers, for a gateway or `certa merkle
     * checkpoint fetch` to merge with the others' signatures. */
    node_note notes[NODE_NOTES_MAX];
    uint32_t notes_next, notes_count;
    /* the block log's last height while it is replayed at start: only the
     * newest NODE_NOTES_MAX checkpoints of the replay are signed */
    uint64_t recover_last;

    certa_pbft *pbft;
    certa_pbft_config pc;
    /* How the round touches the world (node/io.c) and the round itself:
     * step, persist, sync, send (node/round.h keeps persist before send). */
    node_io io;
    node_round round;
    uint64_t heap_reported; /* round.heap_messages already in the metric */
    /* the governed block limit and timeouts the core runs with (genesis's
     * at start; node_apply_timing follows the council's changes) */
    certa_ledger_timing timing_applied;
    uint64_t last_view;
    uint64_t last_commit_ms; /* a block holding events last completed */
    uint64_t vc_since_ms;    /* in view change since (0: not) */
    uint64_t vc_warned_view; /* the view whose stall was logged */
    uint64_t follow_logged;  /* the own view whose following was logged, +1 */

    certa_transport *tp;
    certa_cp_server *cs;
    certa_node_query *nq; /* answers QUERY (node/query.c) */
    node_metrics m;

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

    /* scratch, reused: leaf hashes of re-sent receipts (clients.c) */
    uint8_t *leaf_hashes;
    size_t leaf_cap;
    /* leaf hashes of blocks built or validated here, kept until they
     * execute so that execution does not hash every event again */
    leaf_slot leaf_ring[LEAF_RING];
    pthread_mutex_t leaf_mu; /* leaf_ring: kept by the I/O thread, taken by execution */
    uint8_t *readbuf;
    size_t readcap;
    uint8_t *receipt_buf;
    certa_receipt_entry *entries;
    uint8_t (*paths)[CERTA_MERKLE_PATH_MAX][CERTA_HASH_BYTES];
    uint8_t (*result_paths)[CERTA_MERKLE_PATH_MAX][CERTA_HASH_BYTES]; /* re-sent receipts */
    size_t entries_cap;
    uint64_t events_window_start_ms, events_window_count;
    double events_per_s;
};

/* A monotonic clock for durations (metrics, logs, query budgets). */
static inline uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The same in ms: timers, waiter ages, progress watch (never goes back). */
static inline uint64_t mono_ms(void)
{
    return mono_us() / 1000u;
}

/* ---- node.c: the round */

/* Steps the PBFT core with one input and queues its actions for the
 * round: records and blocks appended, messages held until the round's
 * finish (node/round.c). */
void node_step(certa_node *nd, const certa_pbft_input *in);
/* app.c: the block byte limit for an events-per-block limit (0: default),
 * and the governed timing applied to the core once it changed. */
uint32_t node_block_bytes(uint32_t block_events_max);
void node_apply_timing(certa_node *nd);
/* io.c: fills nd->io with the daemon's operations. */
void node_io_init(certa_node *nd);
/* Feeds the pre-prepares held back whose parent executed meanwhile. */
void node_release_held(certa_node *nd);

/* ---- app.c: the PBFT application */

/* Fills pc->crypto and pc->app with the node's callbacks (ctx = nd). */
void node_app_bind(certa_node *nd, certa_pbft_config *pc);
/* Creates nd->ledger on nd->state (after the state, pool and tables). */
certa_err node_ledger_open(certa_node *nd, certa_errinfo *ei);
/* Installs a new admission table (NULL: none) and empties the signature
 * cache. I/O thread. */
void node_admit(certa_node *nd, certa_ledger_adm *a);
/* An integrator's name in the admission table ("?" when out of range). */
const char *node_integrator_name(const certa_node *nd, uint32_t idx);
/* The ledger's verify callback: Ed25519 through the signature cache. */
bool node_verify_batch(void *ctx, const certa_pubkey *key, uint16_t integrator, const uint8_t digest[CERTA_HASH_BYTES],
                       const uint8_t sig[CERTA_SIGNATURE_BYTES]);
/* The ledger's admission check (framing, events, integrator, signature),
 * through the signature cache. */
certa_err node_check_batch(certa_node *nd, const uint8_t *bytes, size_t len,
                           certa_batch_view *v, certa_errinfo *ei);
/* The pre-verification scratch, allocated once per process; false on OOM. */
bool node_preverify_init(void);
/* Verifies a pre-prepare's batch signatures on the pool before its step;
 * node_preverify_arm(true) lets that step's validate_request calls look
 * the outcomes up, node_preverify_disarm() forgets them after it. */
void node_preverify_preprepare(certa_node *nd, const uint8_t *bytes, size_t len);
void node_preverify_arm(bool active);
void node_preverify_disarm(void);
/* Grows a buffer of hashes to hold n; false on OOM. */
/* Moves the kept leaf hashes of (height, events_root, n) into *buf,
 * swapping buffers; false when they are not kept. */
bool node_leaves_take(certa_node *nd, uint64_t height,
                      const uint8_t events_root[CERTA_HASH_BYTES], size_t n,
                      uint8_t **buf, size_t *cap_io);
/* The replay verdicts (V_*) of a committed block record, decided once per
 * height in order; malloc'ed, or NULL when the record does not decode. */
uint8_t *node_judge_block(certa_node *nd, const uint8_t *rec, size_t len);
/* Reads block height from the log into nd->readbuf (the core's read_block
 * callback; ctx = nd). */
bool node_read_block(void *ctx, uint64_t height, const uint8_t **rec, size_t *len);

/* ---- exec.c: the execution stage */

/* Decodes a committed block record into *b (engine/block.c), lists its
 * batches (*batches_out malloc'ed) and fills *lh with the leaf hash of
 * every event. */
certa_err node_block_open(certa_node *nd, const uint8_t *rec, size_t len,
                          certa_block *b, exec_batch **batches_out, size_t *nb_out,
                          uint32_t *leaves_out, uint8_t **lh, size_t *lh_cap,
                          certa_errinfo *ei);
/* The commit certificate a decoded block carries, for its header's hash. */
void node_block_cert(const certa_block *b, certa_commit_cert *cert);
/* SHA-256 of a framed batch's signed bytes (its digest). */
void node_batch_digest(const exec_batch *b, uint8_t out[CERTA_HASH_BYTES]);
/* Signs and keeps the event log's checkpoint after block height. */
void node_sign_checkpoint(certa_node *nd, uint64_t height, uint64_t size,
                          const uint8_t root[CERTA_HASH_BYTES]);
/* Executes and completes a block on the calling thread (recovery). */
certa_err node_execute_now(certa_node *nd, const uint8_t *rec, size_t len,
                           certa_errinfo *ei);
certa_err node_pipe_start(certa_node *nd, certa_errinfo *ei);
void node_pipe_stop(certa_node *nd);
/* Hands a durable block to the stage; false (the caller keeps it) while
 * EXEC_PIPE_MAX blocks are outstanding. */
bool node_pipe_try_push(certa_node *nd, const exec_item *it);
/* Completes the executed blocks in height order (receipts when replying). */
certa_err node_pipe_complete(certa_node *nd, bool replying, certa_errinfo *ei);
/* Frees the jobs left in the stage (close). */
void node_pipe_free(certa_node *nd);

/* ---- clients.c: integrators */

/* Serves the integrator socket for one round (bounded). */
void node_serve_clients(certa_node *nd);
/* Answers every request waiting for a batch of an executed block. */
void node_answer_waiters(certa_node *nd, const exec_job *job);
/* The core's request_dropped callback (ctx = nd). */
void node_request_dropped(void *ctx, uint16_t integrator, uint64_t seq);
/* Forgets waiters accepted more than WAITER_TTL_MS ago. */
void node_sweep_waiters(certa_node *nd, uint64_t now);

/* ---- query.c */

/* Answers one QUERY request between rounds, under state_mu. */
void node_handle_query(certa_node *nd, const certa_cp_request *rq);

/* ---- metrics.c */

certa_err node_metrics_open(certa_node *nd, certa_errinfo *ei);
void node_replay_gauges(certa_node *nd);
/* The view-change gauges and the stall warning. */
void node_watch_progress(certa_node *nd, uint64_t view, uint64_t now);
/* certa_pbft_stats' drops and new views into their counters. */
void node_pbft_counters(certa_node *nd);

/* ---- recover.c */

certa_err node_open_store(const char *dir, const char *sub, uint64_t first,
                          certa_store **out, certa_errinfo *ei);
/* Replays the block log into the state and restores the core from its
 * tip and the WAL. */
certa_err node_recover(certa_node *nd, certa_errinfo *ei);

#endif
