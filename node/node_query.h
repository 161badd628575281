/* node_query: how a validator answers QUERY requests from integrators
 * (the daemon's; node/clients.c calls it from its client dispatch).
 *
 * One call turns a request body into a reply (type and body): holder,
 * grant and block from the executed state and the block log through
 * engine/query.c, status through the node's own callback, integrator from
 * the per-integrator highest executed sequence numbers execution keeps
 * beside the state (seq_max). It never fails
 * silently: a body that does not decode gets ERROR 701 (PROTOCOL), an absent
 * item ERROR 4 (NOTFOUND), a foreign cursor ERROR 2 (ARG); each answer is
 * counted in certa_queries_total{kind,result} and timed in
 * certa_query_seconds.
 *
 * Bounded: pages are capped (engine/query.h), buffers are allocated
 * at open and reused; a reply larger than CERTA_NODE_QUERY_REPLY_MAX is
 * refused with ERROR LIMIT instead of being built further.
 *
 * Threads: one certa_node_query per thread answering queries; the state
 * must not change during a call (the node answers between rounds).
 */
#ifndef CERTA_ENGINE_NODE_QUERY_H
#define CERTA_ENGINE_NODE_QUERY_H

#include <jansson.h>

#include "certa/genesis.h"
#include "certa/state.h"
#include "certa/store.h"
#include "../net/metrics.h" /* by path: bench/query.c includes this header */

#define CERTA_NODE_QUERY_REPLY_MAX (4u * 1024u * 1024u)

typedef struct certa_node_query certa_node_query;

/* Registers its metrics in reg (before the registry is served). */
certa_err certa_node_query_open(certa_metrics *reg, certa_node_query **out,
                                certa_errinfo *ei);
void certa_node_query_close(certa_node_query *nq);

/* The status document (docs/PROTOCOL.md): a new JSON object, or NULL. */
typedef json_t *(*certa_node_status_fn)(void *ctx);

typedef struct certa_node_query_src {
    const certa_genesis *g;
    const certa_state *state; /* executed state */
    certa_store *blocks;      /* the block log */
    certa_node_status_fn status;
    /* the checkpoints document (docs/PROTOCOL.md, query checkpoint): a
     * new JSON object, or NULL; called with status_ctx */
    certa_node_status_fn checkpoints;
    void *status_ctx;
    /* g->integrator_count entries: the highest sequence number of a batch
     * of each integrator executed as new up to the state's height (0: none),
     * changed only with the state; NULL: integrator queries unsupported */
    const uint64_t *seq_max;
} certa_node_query_src;

/* Answers one QUERY body (req, len). Returns the reply type
 * (CERTA_CP_QUERY_RESULT or CERTA_CP_ERROR); *reply points to the reply
 * body, owned by nq and valid until the next call. */
uint8_t certa_node_query_answer(certa_node_query *nq, const certa_node_query_src *src,
                                const uint8_t *req, size_t len,
                                const uint8_t **reply, size_t *reply_len);

#endif
