/* pbft: the PBFT consensus core (Castro & Liskov) as a pure, deterministic
 * state machine.
 *
 * A replica is stepped by its host: certa_pbft_step(r, input, now) with a
 * received message, an integrator request or a timer tick, and returns the
 * actions the host must carry out. The core owns no socket, clock, thread,
 * file or random source: time comes in as now (two clocks: a monotonic one
 * for every timer, the wall clock for block timestamps only, so that a
 * wall clock stepped by NTP or by hand neither fires nor freezes a view
 * change), signatures go through
 * certa_pbft_crypto, block content and request checks through certa_pbft_app.
 * The same core runs in the validator daemon (ZeroMQ, io_uring store, Ed25519)
 * and in the simulator (sim/: fake network, storage, crypto).
 *
 * ---- How the host carries out the actions (persistence contract) ----
 * Actions are returned in the order they must be performed. The host must:
 *  1. make every PERSIST and DELIVER action durable (fdatasync or equivalent)
 *     BEFORE it performs any SEND or BROADCAST that follows it in the list:
 *     the core emits, before each vote it sends, the record that makes the
 *     vote survive a crash (own PRE-PREPARE before sending it, own PREPARE
 *     before sending it, the prepared certificate plus own COMMIT before
 *     sending the COMMIT, own VIEW-CHANGE before sending it, NEW-VIEW before
 *     sending it, the stable-checkpoint proof when it becomes stable).
 *     A crash after the persist and before the send is harmless; a send
 *     before the persist can make a restarted replica contradict itself.
 *  2. keep DELIVER records (committed blocks with their commit certificates)
 *     forever in height order and return them through app.read_block, and
 *     execute each delivered block exactly once, in height order.
 *  3. PERSIST_GC: records whose height is nonzero and <= action.height may be
 *     dropped, as may view-change and new-view records whose view is <
 *     action.view and checkpoint records with a lower height than the newest.
 *  4. call certa_pbft_step with a TICK input no later than timer_at_ms (on the monotonic clock).
 * After a crash, the host creates a new replica and calls certa_pbft_restore
 * with the last delivered block record and every persisted record it kept;
 * everything else (pending requests, received votes) is lost and rebuilt.
 * docs/OPERATIONS.md "Consensus persistence contract" says the same.
 *
 * Pointers in returned actions and stats live until the next call on the
 * same replica. A replica is not thread-safe; one host thread steps it.
 */
#ifndef CERTA_PBFT_H
#define CERTA_PBFT_H

#include "certa/certa.h"
#include "certa/codec.h"

#define CERTA_PBFT_VALIDATORS_MAX 64u
#define CERTA_PBFT_WINDOW_MAX 1024u
#define CERTA_PBFT_BLOCK_REQUESTS_MAX 1024u
#define CERTA_PBFT_REQUEST_BYTES_MAX (1024u * 1024u + 4096u)
#define CERTA_PBFT_MSG_BYTES_MAX (256u * 1024u * 1024u)
#define CERTA_PBFT_HEADER_BYTES 162u

/* The type codes of consensus messages (1..10) and of the records a
 * validator stores (0x81..0x83): a message's second byte, after its version
 * (its first two bytes: u8 version, u8 type). Wire format, never renumbered:
 * docs/PROTOCOL.md, "Consensus messages". A host needs them to tell records
 * apart (certa_pbft_action.record_kind, the GC of PERSIST_GC) and to spot a
 * PRE-PREPARE (certa_pbft_peek_preprepare); the codec itself stays private
 * to the core (engine/pbft_msg.h). */
enum {
    CERTA_PBFT_MSG_REQUEST = 1,
    CERTA_PBFT_MSG_PRE_PREPARE = 2,
    CERTA_PBFT_MSG_PREPARE = 3,
    CERTA_PBFT_MSG_COMMIT = 4,
    CERTA_PBFT_MSG_CHECKPOINT = 5,
    CERTA_PBFT_MSG_VIEW_CHANGE = 6,
    CERTA_PBFT_MSG_NEW_VIEW = 7,
    CERTA_PBFT_MSG_STATUS = 8,
    CERTA_PBFT_MSG_FETCH = 9,
    CERTA_PBFT_MSG_FETCH_REPLY = 10,
    CERTA_PBFT_REC_BLOCK = 0x81,      /* committed block + commit certificate */
    CERTA_PBFT_REC_CHECKPOINT = 0x82, /* stable checkpoint with its proof */
    CERTA_PBFT_REC_CERT = 0x83,       /* own prepared certificate */
};

/* One integrator request (a signed batch, opaque to the core). */
typedef struct certa_pbft_request {
    uint16_t integrator;
    uint64_t seq;
    const uint8_t *bytes;
    size_t len;
} certa_pbft_request;

/* Signatures. sign signs with the replica's own key; verify checks that
 * signer (a validator index) signed msg. The simulator plugs fast fakes. */
typedef struct certa_pbft_crypto {
    void *ctx;
    void (*sign)(void *ctx, const uint8_t *msg, size_t len,
                 uint8_t sig[CERTA_SIGNATURE_BYTES]);
    bool (*verify)(void *ctx, uint16_t signer, const uint8_t *msg, size_t len,
                   const uint8_t sig[CERTA_SIGNATURE_BYTES]);
} certa_pbft_crypto;

/* The application: everything about block content. All callbacks must be
 * deterministic functions of their arguments and of committed state. */
typedef struct certa_pbft_app {
    void *ctx;
    /* true when the request is well formed and correctly signed. */
    bool (*validate_request)(void *ctx, const certa_pbft_request *req);
    /* true when (integrator, seq) already executed (optional: NULL = never).
     * Used to keep duplicates out of proposals; execution must still treat
     * a committed duplicate as a rejected replay. */
    bool (*request_executed)(void *ctx, uint16_t integrator, uint64_t seq);
    /* Fills the application fields of hdr (events_root, prev_results_root,
     * event_count, batch_count, state_digest); height, view, timestamp_ms,
     * proposer and prev_hash are already set. parent is block height-1.
     * Called with n = 0 for the null blocks of a new view. */
    void (*build_block)(void *ctx, const certa_block_header *parent,
                        certa_block_header *hdr, const certa_pbft_request *reqs,
                        size_t n);
    /* true when hdr's application fields match reqs. */
    bool (*validate_block)(void *ctx, const certa_block_header *hdr,
                           const certa_pbft_request *reqs, size_t n);
    /* Block hash (optional: NULL = SHA-256 of the consensus header encoding). */
    void (*header_hash)(void *ctx, const certa_block_header *hdr,
                        uint8_t out[CERTA_HASH_BYTES]);
    /* The delivered record of a committed block, for serving state transfer.
     * Returns false when the host does not have it. *rec lives until the
     * next call of read_block. */
    bool (*read_block)(void *ctx, uint64_t height, const uint8_t **rec,
                       size_t *len);
    /* Whether the primary may propose block `height` now (optional: NULL =
     * always). A host whose headers commit to the execution of the parent
     * answers false until it executed height-1, then steps a TICK. */
    bool (*can_propose)(void *ctx, uint64_t height);
    /* A pending request left the pool without being ordered (optional:
     * NULL = not told): request_executed came to answer true for it while it
     * waited (a later block executed it, or the host can no longer tell it
     * from a replay), so no honest backup would accept a block holding it.
     * The host logs it and gives the waiting integrator its answer. */
    void (*request_dropped)(void *ctx, uint16_t integrator, uint64_t seq);
} certa_pbft_app;

typedef struct certa_pbft_config {
    uint16_t n;  /* validators, 3f+1, 4..CERTA_PBFT_VALIDATORS_MAX */
    uint16_t id; /* this replica's index */
    uint8_t chain_id[CERTA_HASH_BYTES]; /* signed into every message */
    certa_block_header genesis;          /* block 0 */
    uint32_t checkpoint_interval;        /* K */
    uint32_t window;                     /* high - low watermark, >= 2K */
    uint32_t batch_requests_max;         /* requests per block */
    uint32_t batch_bytes_max;            /* request bytes per block */
    uint32_t batch_timeout_ms;           /* close a partial block */
    uint32_t view_timeout_ms;            /* base view-change timer */
    uint32_t view_backoff_max;           /* cap of the doubling exponent */
    uint32_t resend_ms;                  /* retransmission / status period */
    uint32_t clock_skew_ms_max;          /* proposal timestamp tolerance */
    uint32_t view_lookahead;             /* farthest future view accepted */
    uint32_t pending_max;                /* pending request pool */
    uint32_t fetch_blocks_max;           /* blocks per state-transfer reply */
    int mutation;                        /* 0; tests only (engine/pbft_mut.h) */
    certa_pbft_crypto crypto;
    certa_pbft_app app;
} certa_pbft_config;

/* Fills c with defaults (K=64, window 128, ...) for n validators. */
void certa_pbft_config_default(certa_pbft_config *c, uint16_t n, uint16_t id);

typedef enum certa_pbft_input_kind {
    CERTA_PBFT_IN_TICK = 0,    /* time passed */
    CERTA_PBFT_IN_MESSAGE = 1, /* bytes from a peer validator */
    CERTA_PBFT_IN_REQUEST = 2, /* a request from an integrator */
} certa_pbft_input_kind;

typedef struct certa_pbft_input {
    certa_pbft_input_kind kind;
    const uint8_t *bytes; /* MESSAGE: the message; REQUEST: request bytes */
    size_t len;
    uint16_t integrator; /* REQUEST */
    uint64_t seq;        /* REQUEST */
} certa_pbft_input;

typedef enum certa_pbft_action_kind {
    CERTA_PBFT_ACT_PERSIST = 1,    /* make bytes durable (a record) */
    CERTA_PBFT_ACT_PERSIST_GC = 2, /* records below height/view may go */
    CERTA_PBFT_ACT_SEND = 3,       /* send bytes to validator `to` */
    CERTA_PBFT_ACT_BROADCAST = 4,  /* send bytes to every other validator */
    CERTA_PBFT_ACT_DELIVER = 5,    /* committed block record: store, execute */
} certa_pbft_action_kind;

typedef struct certa_pbft_action {
    certa_pbft_action_kind kind;
    uint16_t to;
    uint8_t record_kind; /* PERSIST: the record's type (CERTA_PBFT_REC_*,
                            CERTA_PBFT_MSG_* for own messages kept) */
    uint64_t height;     /* PERSIST: slot height (0: none); DELIVER; GC */
    uint64_t view;       /* PERSIST: view; GC: views below may go */
    const uint8_t *bytes;
    size_t len;
} certa_pbft_action;

typedef struct certa_pbft_actions {
    const certa_pbft_action *items;
    size_t count;
    uint64_t timer_at_ms; /* step again with a TICK at or before this (mono_ms) */
} certa_pbft_actions;

/* Counters, cumulative since create. */
typedef struct certa_pbft_stats {
    uint64_t blocks_committed;
    uint64_t blocks_fetched; /* committed through state transfer */
    uint64_t view_changes;   /* view changes started */
    uint64_t new_views;      /* new views installed */
    uint64_t checkpoints_stable;
    uint64_t proposals;
    uint64_t messages_sent;
    uint64_t dropped_malformed;
    uint64_t dropped_outsider;
    uint64_t dropped_bad_signature;
    uint64_t dropped_window;   /* sequence outside the watermarks */
    uint64_t dropped_view;     /* wrong or too distant view */
    uint64_t dropped_invalid;  /* well signed but breaks the protocol */
    uint64_t dropped_conflict; /* a second, different vote or proposal */
    uint64_t dropped_requests; /* invalid, duplicate or pool full */
    uint64_t requests_pruned;  /* left the pool: executed or refused while pending */
    uint64_t late_votes;       /* a vote for a slot that has its quorum: not verified */
    uint64_t fetches_sent;
    uint64_t chain_refusals;   /* commit withheld: chain or time mismatch */
} certa_pbft_stats;

typedef struct certa_pbft certa_pbft;

/* Creates a replica at genesis. The config is copied. */
certa_err certa_pbft_create(const certa_pbft_config *cfg, certa_pbft **out,
                            certa_errinfo *ei);
void certa_pbft_free(certa_pbft *r);

/* After a restart, before the first step: tip is the last DELIVER record the
 * host holds (NULL: none beyond genesis), records every PERSIST record kept. */
certa_err certa_pbft_restore(certa_pbft *r, const uint8_t *tip, size_t tip_len,
                             const uint8_t *const *records,
                             const size_t *record_lens, size_t count,
                             certa_errinfo *ei);

/* The host's two clocks at a step. mono_ms drives every timer (view change,
 * batching, resends, fetches, timer_at_ms of the actions): it must never go
 * back (CLOCK_MONOTONIC); a smaller value than the last is taken as the
 * last. real_ms (Unix ms, CLOCK_REALTIME) is used only for the timestamp of
 * a proposed block and for the clock-skew check of a received one; it may
 * jump either way without touching a timer. */
typedef struct certa_pbft_time {
    uint64_t mono_ms;
    uint64_t real_ms;
} certa_pbft_time;

/* One step. Never fails: bad inputs are dropped and counted. */
certa_pbft_actions certa_pbft_step(certa_pbft *r, const certa_pbft_input *in,
                                   certa_pbft_time now);

/* Changes the proposal limit and timers in force (a governed change the
 * host executed): batch_timeout_ms, view_timeout_ms and batch_bytes_max
 * as in certa_pbft_config, the same ranges (false, nothing changed, when
 * one is out of them or view_timeout_ms <= batch_timeout_ms). Timers
 * already armed keep their deadline; the next ones use the new values.
 * Safe for validators to apply a few blocks apart: these bound liveness
 * and the size of this replica's own proposals, never what it accepts. */
bool certa_pbft_set_timing(certa_pbft *r, uint32_t batch_timeout_ms, uint32_t view_timeout_ms,
                           uint32_t batch_bytes_max);

/* Aborts unless the replica's invariants hold (watermarks, slots in their
 * window, the pool's counters, view and checkpoint relations). For tests
 * and the simulator; certa_pbft_step calls it after every step in builds
 * that define CERTA_INVARIANTS (Debug, sanitizers). O(window * n + pending). */
void certa_pbft_check_invariants(const certa_pbft *r);

const certa_pbft_stats *certa_pbft_get_stats(const certa_pbft *r);
uint64_t certa_pbft_view(const certa_pbft *r);
bool certa_pbft_in_view_change(const certa_pbft *r);
/* True while this replica, alone in a view change to a higher view, follows
 * the lower view *view that 2f+1 others report: it executes their blocks
 * and forwards its clients' requests to that view's primary, without voting
 * until a view change reaches its own view. */
bool certa_pbft_following(const certa_pbft *r, uint64_t *view);
/* True while this replica orders nothing until a new view: in view change
 * and not following a lower view. */
bool certa_pbft_awaiting_view(const certa_pbft *r);
uint64_t certa_pbft_last_executed(const certa_pbft *r);
uint64_t certa_pbft_stable_checkpoint(const certa_pbft *r);
uint16_t certa_pbft_primary(const certa_pbft *r, uint64_t view);

/* A host's peek at a message before it steps the core with it: true only
 * when bytes are one well-formed PRE-PREPARE, decoded exactly as the core
 * decodes it (version, type, every length and count, no trailing bytes; the
 * signature is not checked). Then *height gets its height and items[0..
 * *count) the first min(items_max, its count) request items, each
 * `u16 integrator || u64 seq || batch` (certa_block_batch_item splits one),
 * pointing into bytes; items and lens may be NULL when items_max is 0.
 * For the host's own work around the step: checking the batches'
 * signatures in parallel first, holding a proposal back until its height
 * can be checked. The core judges the message itself when stepped. */
bool certa_pbft_peek_preprepare(const uint8_t *bytes, size_t len, uint64_t *height,
                                const uint8_t **items, size_t *lens,
                                size_t items_max, size_t *count);

/* Verifies a commit certificate: at least 2f+1 validators of n, ascending
 * (so distinct), signed COMMIT(view, height, hash) through c. A wrapper of
 * the one verifier, certa_block_cert_verify (include/certa/block.h), which
 * state transfer calls itself; kept for the simulator's checker. */
bool certa_pbft_verify_commit_cert(const certa_pbft_crypto *c,
                                   const uint8_t chain_id[CERTA_HASH_BYTES],
                                   uint16_t n, uint64_t view, uint64_t height,
                                   const uint8_t hash[CERTA_HASH_BYTES],
                                   const uint16_t *signers,
                                   const uint8_t (*sigs)[CERTA_SIGNATURE_BYTES],
                                   size_t count);

#endif
