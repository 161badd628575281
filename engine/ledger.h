/* ledger: the application a validator runs under the PBFT core, as one
 * pure module: batch admission, the replay windows, the LAG rule, block
 * content and the execution of committed blocks on the licence state.
 *
 * The daemon (node/app.c, node/exec.c) and the simulator (sim/) run this
 * same code; what differs is around it: the daemon verifies signatures with
 * Ed25519 behind a cache and its pre-verification pool, executes on its own
 * thread and keeps leaf hashes for receipts; the simulator plugs a fake
 * signature check and executes synchronously.
 *
 * Rules kept here, and nowhere else:
 * - admission: a batch decodes (framing and every event), its integrator
 *   is in the admission table (the governed integrators after the last
 *   executed block, certa/gov.h) and active, and its signature verifies
 *   under the key that table gives (certa_ledger_check_batch; the door,
 *   validate_request and pre-verification all mean this check);
 * - stale keys: a batch of an integrator whose key changed in force from
 *   block s, carried by a block h with s <= h < s + LAG, was perhaps
 *   admitted under the old key (validators admit with the tables of the
 *   last block they executed, h - LAG at the earliest): its signature is
 *   checked again at execution under the key in force, and its events are
 *   rejected (stale_key) when it does not verify. From s + LAG on, every
 *   validator that admitted the block had executed s - 1.
 * - replay: each committed block is judged once, in height order, from the
 *   chain alone and the genesis horizon (engine/dedup.h): every batch is
 *   NEW, REPLAYED or TOO_OLD, so every replica executes alike; a batch the
 *   table does not call NEW is never proposed again (request_executed);
 * - LAG: header h carries the results root and state digest after block
 *   h - CERTA_RESULTS_LAG_BLOCKS (zero for h <= LAG and for the null blocks
 *   of a view change); a primary proposes h only once h - LAG executed
 *   (can_propose), and a backup that executed h - LAG checks them;
 * - block content: events root (RFC 6962 over the leaves), counts.
 *
 * Purity: no thread, clock, file, socket or randomness in ledger.c
 * (it_pbft_pure.sh checks it). Time enters as block timestamps, signatures
 * through the verify callback, and hashing may be spread over a pool the
 * caller owns (NULL: the caller's thread).
 *
 * Threads: a ledger is single-threaded, with one split the daemon uses:
 * certa_ledger_apply touches only the state and the execution scratch, so
 * it may run on another thread than everything else as long as the state
 * is not read meanwhile (the daemon holds its state mutex). The other
 * calls (admission, judge, record, block content) share one thread.
 */
#ifndef CERTA_ENGINE_LEDGER_H
#define CERTA_ENGINE_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "certa/codec.h"
#include "certa/genesis.h"
#include "certa/pbft.h"
#include "certa/pool.h"
#include "certa/state.h"
#include "dedup.h"

#define CERTA_LEDGER_LAG CERTA_RESULTS_LAG_BLOCKS
#define CERTA_LEDGER_LAG_RING 64u /* executed heights remembered (> LAG) */

/* The replay verdict of a committed batch, decided once at judge time. */
enum { CERTA_LEDGER_NEW = 0, CERTA_LEDGER_REPLAYED = 1, CERTA_LEDGER_TOO_OLD = 2 };

/* true when sig is the integrator's signature of the batch digest under
 * key, the integrator's key in the admission table (a cache behind this
 * callback must be emptied when that table changes: certa_ledger_admit). */
typedef bool (*certa_ledger_verify_fn)(void *ctx, const certa_pubkey *key, uint16_t integrator,
                                       const uint8_t digest[CERTA_HASH_BYTES],
                                       const uint8_t sig[CERTA_SIGNATURE_BYTES]);

/* The admission table: the governed integrators (keys parsed, status) as
 * of one executed height. Built by the execution side, installed by the
 * admission side (certa_ledger_admit). */
typedef struct certa_ledger_adm certa_ledger_adm;
void certa_ledger_adm_free(certa_ledger_adm *a);

/* Build and validate computed the n leaf hashes (*hashes, capacity *cap)
 * of block height with events_root: the hook may take the buffer by
 * swapping in another (the daemon keeps them for execution). */
typedef void (*certa_ledger_leaves_fn)(void *ctx, uint64_t height,
                                       const uint8_t events_root[CERTA_HASH_BYTES],
                                       size_t n, uint8_t **hashes, size_t *cap);

typedef struct certa_ledger_params {
    const certa_genesis *g; /* outlives the ledger */
    /* the licence state to execute on (borrowed, at height 0); NULL: the
     * ledger creates and owns an empty one (one hashing thread) */
    certa_state *state;
    certa_pool *pool;             /* optional: leaf hashing spread over it */
    certa_ledger_verify_fn verify; /* NULL: Ed25519 under the given key */
    void *verify_ctx;
    certa_ledger_leaves_fn leaves; /* optional */
    void *leaves_ctx;
    int mutation; /* 0; tests only (engine/ledger_mut.h) */
} certa_ledger_params;

typedef struct certa_ledger certa_ledger;

certa_err certa_ledger_create(const certa_ledger_params *p, certa_ledger **out,
                              certa_errinfo *ei);
void certa_ledger_free(certa_ledger *l);

/* ---- admission */

/* Decodes and fully checks a signed batch: framing, every event,
 * integrator, signature. */
certa_err certa_ledger_check_batch(certa_ledger *l, const uint8_t *bytes, size_t len,
                                   certa_batch_view *v, certa_errinfo *ei);
/* check_batch, and the request's (integrator, seq) are the batch's. */
bool certa_ledger_validate_request(certa_ledger *l, const certa_pbft_request *req);
/* Grows a buffer of hashes (realloc, capacity doubling) to hold n; false
 * when out of memory, the buffer then unchanged. */
bool certa_ledger_grow_hashes(uint8_t **buf, size_t *cap_io, size_t n);
/* Committed already (judged), or too old to tell. */
bool certa_ledger_request_executed(const certa_ledger *l, uint16_t integrator, uint64_t seq);

/* ---- replay */

/* The replay table (read only: door look-ups, re-sent receipts, gauges). */
const certa_dedup *certa_ledger_replay(const certa_ledger *l);
uint64_t certa_ledger_horizon_ms(const certa_ledger *l);
/* Judges every batch of a committed block record (each height once, in
 * order: the height must follow the last judged); returns the verdicts
 * (malloc'ed, one per batch), or NULL for a record that does not decode
 * or does not follow. */
uint8_t *certa_ledger_judge(certa_ledger *l, const uint8_t *rec, size_t len);
uint64_t certa_ledger_judged_height(const certa_ledger *l);
uint64_t certa_ledger_judged_tip_ms(const certa_ledger *l);

/* ---- execution */

typedef struct certa_ledger_exec {
    uint64_t height;
    uint8_t results_root[CERTA_HASH_BYTES];
    uint8_t state_digest[CERTA_HASH_BYTES];
    const uint8_t *results; /* one per event; lives until the next apply */
    uint32_t result_count;
    /* non-NULL when the block changed the governed integrators: the new
     * admission table, owned by the caller, for certa_ledger_admit */
    certa_ledger_adm *admission;
} certa_ledger_exec;

/* Executes a judged block record on the state with its verdicts: every
 * event of a NEW batch applied, those of REPLAYED and TOO_OLD batches
 * recorded as such. The height must follow the state's. Touches only the
 * state and the execution scratch (see Threads above). */
certa_err certa_ledger_apply(certa_ledger *l, const uint8_t *rec, size_t len,
                             const uint8_t *verdicts, certa_ledger_exec *out,
                             certa_errinfo *ei);
/* Records that block height executed with these roots: what header
 * height + LAG will carry. Heights follow one another. */
void certa_ledger_record(certa_ledger *l, uint64_t height,
                         const uint8_t results_root[CERTA_HASH_BYTES],
                         const uint8_t state_digest[CERTA_HASH_BYTES]);
/* Whether a NEW batch (its signed bytes) carried by block height must be
 * refused as signed with a key rotated out (stale keys, above): only in
 * the LAG blocks from the one its integrator's key took effect in, checked
 * then under the key in force. Every replay of a chain asks this (the
 * ledger, engine/query.c). */
bool certa_ledger_stale_batch(const certa_state *s, uint64_t height, uint16_t integrator,
                              const uint8_t *bytes, size_t len);
/* Installs an admission table that execution produced (takes ownership;
 * NULL: nothing changes). Called on the admission side, with the record
 * of the block that produced it, before the next admission check. */
void certa_ledger_admit(certa_ledger *l, certa_ledger_adm *a);
/* The admission table's view: its size, and an integrator's name and key
 * (NULL when idx is out of range). Admission side only. */
uint32_t certa_ledger_integrator_count(const certa_ledger *l);
const char *certa_ledger_integrator_name(const certa_ledger *l, uint32_t idx);
const certa_pubkey *certa_ledger_integrator_key(const certa_ledger *l, uint32_t idx);
bool certa_ledger_integrator_active(const certa_ledger *l, uint32_t idx);
/* The governed block limit and timeouts of the admission table (0: genesis
 * left it to the validator's default; certa/gov.h CERTA_GP_BLOCK_*,
 * CERTA_GP_VIEW_TIMEOUT_MS): what the host's proposals and timers follow
 * once it installed the table. Admission side only. */
typedef struct certa_ledger_timing {
    uint32_t block_events_max, block_timeout_ms, view_timeout_ms;
} certa_ledger_timing;
certa_ledger_timing certa_ledger_timing_of(const certa_ledger *l);
/* judge + apply + admit + record, for a host that executes as it delivers. */
certa_err certa_ledger_execute(certa_ledger *l, const uint8_t *rec, size_t len,
                               certa_ledger_exec *out, certa_errinfo *ei);
uint64_t certa_ledger_executed(const certa_ledger *l);
/* The results root and state digest after an executed height still in the
 * ring (false otherwise). */
bool certa_ledger_roots(const certa_ledger *l, uint64_t height,
                        uint8_t results_root[CERTA_HASH_BYTES],
                        uint8_t state_digest[CERTA_HASH_BYTES]);

/* ---- block content and the LAG rule
 * The core's callbacks map one to one: validate_request, request_executed,
 * build_block, validate_block, can_propose above and below, header_hash is
 * certa_header_hash. A host wraps them because the core hands every
 * callback one context, which read_block and request_dropped (the host's)
 * need too. */

/* The application fields of header h (the core's build_block). */
void certa_ledger_build_block(certa_ledger *l, certa_block_header *hdr,
                              const certa_pbft_request *reqs, size_t n);
/* The core's validate_block. */
bool certa_ledger_validate_block(certa_ledger *l, const certa_block_header *hdr,
                                 const certa_pbft_request *reqs, size_t n);
/* A primary may propose height once height - LAG executed. */
bool certa_ledger_can_propose(const certa_ledger *l, uint64_t height);

#endif
