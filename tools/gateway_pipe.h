/* gateway_pipe: the gateway's one long-lived submit session to the
 * validators, shared by every POST.
 *
 * One thread owns one client connection (CURVE handshake once, failover
 * and retries by the client library) and keeps up to `window` signed
 * batches in flight, taken in arrival order from the POSTs that wait on
 * it: POSTs from all HTTP threads feed one pipelined window instead of
 * each opening its own connection and draining its own batches to zero.
 *
 * Invariants: every batch handed in ends in exactly one final outcome (a
 * receipt body or an error), and certa_gw_pipe_run returns only once all
 * of its batches have theirs; a batch's bytes are only read (the client
 * library copies them). Memory: the in-flight table is fixed at `window`
 * entries; queued batches belong to the threads that wait on them, so the
 * queue is bounded by the number of such threads.
 */
#ifndef CERTA_TOOLS_GATEWAY_PIPE_H
#define CERTA_TOOLS_GATEWAY_PIPE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "certa/certa.h"
#include "certa/client.h"

typedef struct certa_gw_pipe certa_gw_pipe;

/* One signed batch of a POST and, once run, its outcome. */
typedef struct certa_gw_pipe_batch {
    const uint8_t *bytes; /* the signed batch (owned by the caller) */
    size_t len;
    uint64_t seq;
    uint32_t events;
    /* the outcome, set by the pipe */
    uint8_t type;       /* CERTA_CP_RECEIPT, or CERTA_CP_ERROR */
    uint8_t *body;      /* RECEIPT: the receipt body (malloc'ed; the caller frees) */
    size_t body_len;
    certa_cp_error error; /* ERROR: the validator's, or one made locally */
} certa_gw_pipe_batch;

/* Starts the pipe's thread. The connection is opened on first use and
 * opened again after it failed. co->window: batches in flight at most. */
certa_err certa_gw_pipe_open(const certa_client_opts *co, certa_gw_pipe **out,
                             certa_errinfo *ei);
/* Stops the thread once nothing is in flight or queued; batches still
 * queued then end with an error (the gateway is stopping). */
void certa_gw_pipe_close(certa_gw_pipe *p);

/* Submits the n batches (in order, interleaved with other callers') and
 * waits until every one has its outcome. */
void certa_gw_pipe_run(certa_gw_pipe *p, certa_gw_pipe_batch *b, uint32_t n);

#endif
