/* node: the validator daemon (`certa node`), the layer above net/ and
 * engine/; not part of the integrator library.
 *
 * One node = the PBFT core (engine/pbft), the block log and the consensus
 * write-ahead log (engine/store, io_uring), the authorization state machine
 * (engine/state), the validator transport and the integrator endpoint
 * (net/, ZeroMQ with CURVE) and a Prometheus endpoint (net/metrics). How
 * its files divide the work: node_internal.h.
 *
 * A receipt leaves only after its block is committed by 2f+1 validators and
 * durable on this node: delivered blocks are appended to the block log and
 * executed only once the log reports them durable. Every record the PBFT
 * core asks to persist is durable before any message that follows it is
 * sent (the persistence contract of include/certa/pbft.h), kept in one
 * place: node_round_finish in node/round.c, over the I/O interface of
 * node/io.h.
 */
#ifndef CERTA_NODE_H
#define CERTA_NODE_H

#include <signal.h>

#include "certa/certa.h"
#include "config.h"

typedef struct certa_node certa_node;

typedef struct certa_node_opts {
    uint32_t batch_requests_max; /* requests per block (0: genesis default) */
    uint32_t batch_timeout_ms;   /* close a partial block (0: genesis default) */
    uint32_t verify_threads;     /* worker pool size (0: 2) */
    uint32_t grants_max;         /* hot grants the state holds (0: the state's default) */
} certa_node_opts;

/* Opens everything the validator needs: genesis, keys, data directory
 * (recovering the block log and replaying it into the state), sockets.
 * *out is the caller's until certa_node_close. */
certa_err certa_node_open(const certa_node_config *cfg, const certa_node_opts *o,
                          certa_node **out, certa_errinfo *ei);

/* Runs the validator until *stop becomes non-zero (set it from a signal
 * handler) or a fatal error; returns CERTA_OK after a clean stop. */
certa_err certa_node_run(certa_node *n, volatile sig_atomic_t *stop,
                         certa_errinfo *ei);

/* Closes sockets, waits for the logs to be durable, frees n. */
void certa_node_close(certa_node *n);

#endif
