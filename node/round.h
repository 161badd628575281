/* round: the daemon's round, the one place consensus messages leave.
 *
 * A round steps the PBFT core with inputs (node_round_step), carrying out
 * each step's actions at once: records and committed blocks are persisted
 * through the io (node/io.h), messages are queued. node_round_finish then
 * syncs what was persisted and only after that sends what was queued:
 * persist before send (include/certa/pbft.h), kept here and nowhere else.
 *
 * Invariants:
 * - a queued message is sent only by node_round_finish, after a sync that
 *   returned CERTA_OK and covered every persist of the steps that queued it;
 * - after a failed persist or sync the round is failed for good: it sends
 *   nothing more and every finish reports the failure;
 * - the queue is bounded (out_max); a message that does not fit is dropped
 *   (the protocol retransmits; growing would not be safe);
 * - queued bytes are copied into an arena allocated once (out_bytes), reset
 *   by every finish: no allocation per message. Only a message larger than
 *   what is left of the arena is copied to the heap (counted in
 *   heap_messages), so that no message is ever refused for its size.
 */
#ifndef CERTA_NODE_ROUND_H
#define CERTA_NODE_ROUND_H

#include <stdbool.h>
#include <stdint.h>

#include "certa/pbft.h"
#include "io.h"

/* Called for each DELIVER action once its block is persisted (not yet
 * durable: the block reaches execution after the round's sync). An error
 * fails the round. */
typedef certa_err (*node_round_deliver_fn)(void *ctx, uint64_t height, const uint8_t *bytes,
                                           size_t len, certa_errinfo *ei);

typedef struct node_round_msg {
    uint32_t to;
    uint8_t *bytes;
    size_t len;
    bool heap; /* bytes are malloc'ed, not in the arena */
} node_round_msg;

typedef struct node_round {
    const node_io *io;
    node_round_deliver_fn deliver;
    void *deliver_ctx;
    node_round_msg *out;
    uint32_t nout, out_max;
    uint8_t *arena; /* the queued messages' bytes */
    size_t arena_used, arena_bytes;
    uint64_t dropped;       /* messages that found the queue full */
    uint64_t messages;      /* messages queued so far */
    uint64_t heap_messages; /* of which copied to the heap (the arena was full) */
    bool unsynced;        /* persisted since the last sync */
    bool failed;
    uint64_t timer_at_ms; /* the core's next timer (monotonic ms; 0: none) */
} node_round;

/* out_max messages and out_bytes of their bytes per round, allocated now. */
certa_err node_round_init(node_round *r, const node_io *io, uint32_t out_max, size_t out_bytes,
                          node_round_deliver_fn deliver, void *deliver_ctx, certa_errinfo *ei);
void node_round_free(node_round *r);

/* Steps the core with one input at the io's two clocks and carries out its
 * actions: persists now, queues the messages for node_round_finish. */
void node_round_step(node_round *r, certa_pbft *core, const certa_pbft_input *in);
/* Carries out actions (what node_round_step does after stepping). */
void node_round_take(node_round *r, const certa_pbft_actions *acts);
/* Syncs what was persisted, then sends what was queued. CERTA_E_IO (and
 * nothing sent) once a persist or a sync failed. */
certa_err node_round_finish(node_round *r, certa_errinfo *ei);

/* Messages queued or records unsynced: a finish has work to do. */
static inline bool node_round_pending(const node_round *r)
{
    return r->nout > 0 || r->unsynced;
}

#endif
