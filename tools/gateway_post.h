/* gateway_post: the gateway's integrator API, POST /v1/batches.
 *
 * A caller (bearer token, stored as its SHA-256) posts events as JSON Lines
 * or as one JSON array; the gateway checks every event first (400 naming
 * the line and field), signs them in batches as its own integrator and
 * submits them with failover through the one submit session all POSTs
 * share (gateway_pipe.h), and answers once each batch has its final
 * outcome: the receipts (200), or which events are not committed (503:
 * post again with the same Idempotency-Key).
 *
 * Nothing is submitted twice: a POST's sequence numbers are reserved and
 * written to a journal (fdatasync) with its Idempotency-Key and the
 * SHA-256 of its body before anything is sent. A POST with a key seen
 * before (also after a restart of the gateway) is submitted again under
 * the same sequence numbers; the same body gives byte-identical batches,
 * which the validators answer with their original receipts (replay
 * protection), never a second execution. The same key with another body is
 * refused (422). Keys are remembered for the last CERTA_GW_KEYS_MAX POSTs.
 *
 * Every POST is a batch named by its first sequence number: written to
 * the state directory before its first send, its outcome (the answer with
 * the receipts) written there after, served by certa_gw_post_status; a
 * batch found pending at start is submitted again (gateway_post.c). The
 * newest CERTA_GW_OUTCOMES_MAX outcomes are kept, older ones removed. */
#ifndef CERTA_TOOLS_GATEWAY_POST_H
#define CERTA_TOOLS_GATEWAY_POST_H

#include <stddef.h>
#include <stdint.h>

#include "certa/certa.h"
#include "certa/genesis.h"

#define CERTA_GW_BODY_BYTES_MAX (1u << 20) /* a POST body, larger: 413 */
#define CERTA_GW_EVENTS_MAX 4096u          /* events in one POST */
#define CERTA_GW_KEYS_MAX 65536u           /* Idempotency-Keys remembered */
#define CERTA_GW_KEY_BYTES_MAX 128u        /* an Idempotency-Key's length */
#define CERTA_GW_ASYNC_MAX 16u             /* batches pending at once (Prefer: respond-async) */
#define CERTA_GW_WINDOW 16u                /* signed batches in flight to the validators, all POSTs */
#define CERTA_GW_BATCH_EVENTS 256u         /* events per signed batch, as certa submit --batch */
#define CERTA_GW_OUTCOMES_MAX 65536u       /* batch outcomes kept on disk, the newest */

typedef struct certa_gw_post certa_gw_post;

typedef struct certa_gw_post_opts {
    const certa_genesis *genesis;
    const char *integrator;  /* the gateway's integrator, a name in genesis */
    const char *key_path;    /* its Ed25519 key (PEM, mode 0600) */
    const char *tokens_path; /* lines "CALLER SHA256_HEX_OF_TOKEN" */
    const char *state_dir;   /* the journal of reserved sequence numbers */
    uint32_t endpoint_count;
    const char *const *endpoints;
    const char *const *server_keys;
    uint32_t deadline_ms;    /* per batch */
    /* > 0: synchronous POSTs of at most CERTA_GW_BATCH_EVENTS events that
     * arrive within aggregate_us of a group's first share one signed batch
     * (gateway_post.c, "aggregation") */
    uint64_t aggregate_us;
} certa_gw_post_opts;

certa_err certa_gw_post_open(const certa_gw_post_opts *o, certa_gw_post **out,
                             certa_errinfo *ei);
void certa_gw_post_close(certa_gw_post *p);

/* The caller named by an "Authorization: Bearer TOKEN" header, or NULL. */
const char *certa_gw_post_auth(const certa_gw_post *p, const char *authorization);

typedef struct certa_gw_reply {
    unsigned status;
    char *body; /* JSON, newline-terminated */
    size_t len;
    /* what to free(): body itself when NULL, else the buffer that body lies
     * in (an answer is built after room for its head, which goes right
     * before the receipts: moving 2 MB of them to the buffer's start cost
     * more than any other copy of a POST) */
    void *body_alloc;
    unsigned retry_after_s;
    char location[48]; /* the batch's status path, "" when none */
} certa_gw_reply;

/* Handles one POST /v1/batches; idem_key may be NULL (no idempotency).
 * Synchronous: answers with the outcome (200 committed, 503 failed).
 * async: answers 202 at once, the batch pending on its status path. Either
 * way the batch is on disk before anything is sent, and its outcome is
 * served by certa_gw_post_status, also after a restart. */
void certa_gw_post_batches(certa_gw_post *p, const char *caller, const char *idem_key,
                           bool async, const char *body, size_t len, certa_gw_reply *r);

/* GET /v1/batches/ID for caller: 200 with the status document (pending,
 * or the outcome with its receipts), 404 for an id not of this caller. */
void certa_gw_post_status(certa_gw_post *p, const char *caller, const char *id,
                          certa_gw_reply *r);

/* SHA-256 of a token as 64 hex digits (for the tokens file). */
void certa_gw_token_hash(const char *token, char hex[65]);

#endif
