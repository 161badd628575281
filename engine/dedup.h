/* dedup: exact replay protection for committed batches, over a bounded
 * horizon (docs/PROTOCOL.md, "Replay protection").
 *
 * Fed with the chain's batches in block order, it answers for any
 * (integrator, seq) one of three things, each of them true:
 * - NEW: no batch with that (integrator, seq) was ever committed as new;
 * - EXECUTED: it was, in block `height` (its location is returned);
 * - TOO_OLD: it lies in a range whose batches were forgotten: it may or may
 *   not have executed, this table cannot tell.
 *
 * Horizon: every batch committed as new is remembered exactly (with its
 * location) until either `horizon_ms` of block time passed since its block,
 * or `batches_max` newer batches were committed as new, whichever comes
 * first. A forgotten batch's sequence number joins its integrator's retired
 * ranges (at most CERTA_DEDUP_RANGES per integrator; past that the two
 * closest ranges merge, and the numbers between them become TOO_OLD too).
 *
 * Invariants:
 * - every (integrator, seq) committed as new is either remembered or inside
 *   a retired range of its integrator: NEW is never said of an executed
 *   batch, EXECUTED only of one that was committed as new;
 * - answers depend only on the sequence of blocks fed (heights, block
 *   timestamps, batches) and the two parameters: never on hashing, memory
 *   layout or the wall clock, so every replica decides alike;
 * - memory is allocated once by certa_dedup_create and never grows; the
 *   index never evicts on a hash collision (keys are compared exactly).
 *
 * Single-threaded: one owner feeds and asks.
 */
#ifndef CERTA_DEDUP_H
#define CERTA_DEDUP_H

#include <stdbool.h>
#include <stdint.h>

#include "certa/error.h"
#include "certa/genesis.h"

#define CERTA_DEDUP_RANGES 32u /* retired ranges kept per integrator */
#define CERTA_DEDUP_BATCHES_MIN CERTA_REPLAY_HORIZON_BATCHES_MIN
#define CERTA_DEDUP_BATCHES_MAX CERTA_REPLAY_HORIZON_BATCHES_MAX

typedef enum certa_dedup_answer {
    CERTA_DEDUP_NEW = 0,
    CERTA_DEDUP_EXECUTED = 1,
    CERTA_DEDUP_TOO_OLD = 2,
} certa_dedup_answer;

/* Where a remembered batch was committed. */
typedef struct certa_dedup_loc {
    uint64_t height;
    uint64_t time_ms;     /* its block's timestamp */
    uint64_t first_event; /* chain-wide index of its first event (from 0) */
} certa_dedup_loc;

typedef struct certa_dedup_params {
    uint32_t integrators; /* integrator indexes are < this */
    uint32_t batches_max; /* CERTA_DEDUP_BATCHES_MIN .. CERTA_DEDUP_BATCHES_MAX */
    uint64_t horizon_ms;  /* >= 1 */
} certa_dedup_params;

typedef struct certa_dedup certa_dedup;

/* The parameters genesis sets (params.replay_horizon_*; zero fields, as in
 * a genesis built by hand, take the documented defaults). */
void certa_dedup_params_genesis(const certa_genesis *g, certa_dedup_params *p);

/* Allocates everything the table will ever use. CERTA_E_ARG on parameters
 * out of range, CERTA_E_NOMEM. */
certa_err certa_dedup_create(const certa_dedup_params *p, certa_dedup **out,
                             certa_errinfo *ei);
void certa_dedup_free(certa_dedup *d);

/* Starts block `height` (each height once, increasing) with its timestamp
 * (never below the previous block's) and the chain-wide index of its first
 * event; forgets what the block's time puts outside the horizon. */
void certa_dedup_begin_block(certa_dedup *d, uint64_t height, uint64_t time_ms,
                             uint64_t first_event);

/* The verdict for a batch of the current block whose first event is the
 * block's event number `event_in_block`: NEW (then remembered at this
 * location), EXECUTED (*orig = the original, which is kept) or TOO_OLD.
 * An integrator index out of range is TOO_OLD (nothing to execute). */
certa_dedup_answer certa_dedup_commit(certa_dedup *d, uint16_t integrator, uint64_t seq,
                                      uint32_t event_in_block, certa_dedup_loc *orig);

/* The same question without changing anything; loc may be NULL. */
certa_dedup_answer certa_dedup_lookup(const certa_dedup *d, uint16_t integrator,
                                      uint64_t seq, certa_dedup_loc *loc);

/* What the horizon covers now: remembered batches, and the height and time
 * of the oldest remembered one (0 when none). */
typedef struct certa_dedup_stats {
    uint32_t remembered;
    uint32_t batches_max;
    uint64_t oldest_height;
    uint64_t oldest_time_ms;
    uint64_t forgotten; /* batches forgotten since creation */
} certa_dedup_stats;
void certa_dedup_stats_get(const certa_dedup *d, certa_dedup_stats *st);

#endif
