/* query: a validator's answers to QUERY requests (node_query.h), and the
 * daemon's side of them: the status document and the call between rounds.
 *
 * Invariants:
 * - Every request gets exactly one reply: QUERY_RESULT or ERROR (never a
 *   silent drop), and is counted once in certa_queries_total.
 * - Read-only: the state and the block log are only read.
 * - Bounded: the reply buffer is allocated once (CERTA_NODE_QUERY_REPLY_MAX);
 *   pages are capped by engine/query.c, so one query costs at most one page
 *   of records or one block read plus one page of its events.
 */
#include "node_query.h"
#include "node_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cp_server.h" /* the validator end; includes certa/client.h */
#include "query.h"

enum { QR_OK, QR_NOT_FOUND, QR_BAD_REQUEST, QR_ERROR, QR_COUNT };
static const char *const result_names[QR_COUNT] = {"ok", "not_found", "bad_request", "error"};
#define KINDS 7u /* 0: a body that did not decode; 1..6: certa_query_kind */

struct certa_node_query {
    certa_query *qs;
    uint8_t *buf; /* CERTA_NODE_QUERY_REPLY_MAX */
    certa_metric *count[KINDS][QR_COUNT];
    certa_metric *seconds;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

certa_err certa_node_query_open(certa_metrics *reg, certa_node_query **out,
                                certa_errinfo *ei)
{
    CERTA_ASSERT(reg != NULL && out != NULL);
    certa_node_query *nq = calloc(1, sizeof *nq);
    if (nq == NULL || (nq->buf = malloc(CERTA_NODE_QUERY_REPLY_MAX)) == NULL) {
        certa_node_query_close(nq);
        return certa_errorf(ei, CERTA_E_NOMEM, "query: reply buffer");
    }
    certa_err e = certa_query_create(&nq->qs, ei);
    for (unsigned k = 0; e == CERTA_OK && k < KINDS; k++)
        for (unsigned r = 0; e == CERTA_OK && r < QR_COUNT; r++) {
            if (k == 0 && r != QR_BAD_REQUEST)
                continue;
            char labels[64];
            snprintf(labels, sizeof labels, "kind=\"%s\",result=\"%s\"",
                     k == 0 ? "invalid" : certa_query_kind_name(k), result_names[r]);
            nq->count[k][r] = certa_metrics_counter(reg, "certa_queries_total", labels,
                                                    "Client queries answered, by kind and "
                                                    "outcome", ei);
            if (nq->count[k][r] == NULL)
                e = ei->code;
        }
    static const double bounds_s[] = {0.00005, 0.0001, 0.0002, 0.0005, 0.001,
                                      0.002, 0.005, 0.01, 0.02, 0.05};
    if (e == CERTA_OK &&
        (nq->seconds = certa_metrics_histogram(reg, "certa_query_seconds", NULL,
                                               "Time to answer one client query",
                                               bounds_s, sizeof bounds_s / sizeof bounds_s[0],
                                               ei)) == NULL)
        e = ei->code;
    if (e != CERTA_OK) {
        certa_node_query_close(nq);
        return e;
    }
    *out = nq;
    return CERTA_OK;
}

void certa_node_query_close(certa_node_query *nq)
{
    if (nq == NULL)
        return;
    certa_query_free(nq->qs);
    free(nq->buf);
    free(nq);
}

static uint8_t error_reply(certa_node_query *nq, certa_err code, const char *msg,
                           const uint8_t **reply, size_t *reply_len)
{
    certa_cp_error er = {.code = (uint16_t)code};
    snprintf(er.message, sizeof er.message, "%s", msg);
    *reply_len = certa_cp_error_encode(&er, nq->buf);
    *reply = nq->buf;
    return CERTA_CP_ERROR;
}

/* The integrator query: its highest executed sequence number, exact at the
 * state's height (seq_max changes only with the state, under the same
 * lock). A name genesis does not hold is NOTFOUND, like an absent holder. */
static certa_err integrator_json(const certa_node_query_src *src, const char *name,
                                 json_t **out, certa_errinfo *ei)
{
    if (src->seq_max == NULL)
        return certa_errorf(ei, CERTA_E_UNSUPPORTED, "integrator queries are not answered "
                            "here");
    uint64_t height = certa_state_height(src->state);
    for (uint32_t i = 0; i < src->g->integrator_count; i++) {
        if (strcmp(src->g->integrators[i].name, name) != 0)
            continue;
        *out = json_pack("{s:s, s:I, s:I, s:I}", "integrator", name, "index", (json_int_t)i,
                         "highest_seq", (json_int_t)src->seq_max[i],
                         "height", (json_int_t)height);
        return *out != NULL ? CERTA_OK
                            : certa_errorf(ei, CERTA_E_NOMEM, "integrator: out of memory");
    }
    /* the message is UTF-8: a name with other bytes than a genesis name's
     * could hold is not echoed */
    bool plain = true;
    for (const char *c = name; *c != '\0'; c++)
        plain = plain && (unsigned char)*c > 0x20 && (unsigned char)*c < 0x7f;
    return certa_errorf(ei, CERTA_E_NOTFOUND, "no such integrator %s in genesis (at height "
                        "%llu)", plain ? name : "(not a genesis name)",
                        (unsigned long long)height);
}

static void count(certa_node_query *nq, unsigned kind, unsigned result, double t0)
{
    CERTA_ASSERT(kind < KINDS && result < QR_COUNT && nq->count[kind][result] != NULL);
    certa_metric_add(nq->count[kind][result], 1);
    certa_metric_observe(nq->seconds, mono_s() - t0);
}

uint8_t certa_node_query_answer(certa_node_query *nq, const certa_node_query_src *src,
                                const uint8_t *req, size_t len,
                                const uint8_t **reply, size_t *reply_len)
{
    CERTA_ASSERT(nq != NULL && src != NULL && reply != NULL && reply_len != NULL);
    double t0 = mono_s();
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_cp_query q;
    if (certa_cp_query_decode(req, len, &q, &ei) != CERTA_OK) {
        count(nq, 0, QR_BAD_REQUEST, t0);
        char msg[CERTA_CP_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "not a well-formed query: %s", certa_errmsg(&ei));
        return error_reply(nq, CERTA_E_PROTOCOL, msg, reply, reply_len);
    }
    json_t *doc = NULL;
    certa_err e;
    if (q.kind == CERTA_QUERY_STATUS) {
        doc = src->status(src->status_ctx);
        e = doc != NULL ? CERTA_OK : certa_errorf(&ei, CERTA_E_NOMEM, "status: out of memory");
    } else if (q.kind == CERTA_QUERY_CHECKPOINT) {
        if (src->checkpoints == NULL)
            e = certa_errorf(&ei, CERTA_E_NOTFOUND, "checkpoint: not served here");
        else if ((doc = src->checkpoints(src->status_ctx)) == NULL)
            e = certa_errorf(&ei, CERTA_E_NOMEM, "checkpoint: out of memory");
        else
            e = CERTA_OK;
    } else if (q.kind == CERTA_QUERY_INTEGRATOR) {
        e = integrator_json(src, q.name, &doc, &ei);
    } else {
        e = certa_query_answer(nq->qs, src->g, src->state, src->blocks, &q, &doc, &ei);
    }
    if (e != CERTA_OK) {
        count(nq, q.kind, e == CERTA_E_NOTFOUND ? QR_NOT_FOUND
                          : e == CERTA_E_ARG    ? QR_BAD_REQUEST
                                                : QR_ERROR, t0);
        return error_reply(nq, e, certa_errmsg(&ei), reply, reply_len);
    }
    nq->buf[0] = q.kind;
    size_t n = json_dumpb(doc, (char *)nq->buf + 1, CERTA_NODE_QUERY_REPLY_MAX - 1, JSON_COMPACT);
    json_decref(doc);
    if (n == 0 || n > CERTA_NODE_QUERY_REPLY_MAX - 1) {
        count(nq, q.kind, QR_ERROR, t0);
        char msg[160];
        snprintf(msg, sizeof msg, "the answer would exceed %u bytes: ask for a smaller page",
                 CERTA_NODE_QUERY_REPLY_MAX);
        return error_reply(nq, n == 0 ? CERTA_E_NOMEM : CERTA_E_LIMIT, msg, reply, reply_len);
    }
    count(nq, q.kind, QR_OK, t0);
    *reply = nq->buf;
    *reply_len = 1 + n;
    return CERTA_CP_QUERY_RESULT;
}

/* ------------------------------------------------------------ the daemon's side */

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
    /* Which chain: a client compares chain_id with SHA-256 of its own
     * genesis.json. The genesis hash is the chain id (one value, two names:
     * the documented shape has both). epoch counts validator-set changes;
     * there is no reconfiguration yet, so it is always 0. */
    char hex[2 * CERTA_HASH_BYTES + 1];
    certa_hex_encode(nd->g->hash, CERTA_HASH_BYTES, hex);
    json_object_set_new(o, "chain_id", json_string(hex));
    json_object_set_new(o, "chain_name", json_string(nd->g->chain_name));
    json_object_set_new(o, "genesis_hash", json_string(hex));
    json_object_set_new(o, "epoch", json_integer(0));
    json_object_set_new(o, "n", json_integer(nd->g->validator_count));
    json_object_set_new(o, "f", json_integer(nd->g->f));
    json_object_set_new(o, "height", json_integer((json_int_t)nd->executed));
    json_object_set_new(o, "view", json_integer((json_int_t)view));
    json_object_set_new(o, "primary", json_integer(certa_pbft_primary(nd->pbft, view)));
    uint64_t followed = 0;
    bool follows = certa_pbft_following(nd->pbft, &followed);
    json_object_set_new(o, "in_view_change",
                        json_boolean(certa_pbft_awaiting_view(nd->pbft)));
    /* alone in a higher view: it follows the others' view without voting */
    json_object_set_new(o, "votes_withheld", json_boolean(follows));
    if (follows)
        json_object_set_new(o, "follows_view", json_integer((json_int_t)followed));
    json_object_set_new(o, "stable_checkpoint",
                        json_integer((json_int_t)certa_pbft_stable_checkpoint(nd->pbft)));
    json_object_set_new(o, "peers_up", json_integer(st.peers_up));
    /* one entry per other validator: is our link to it up now */
    json_t *peers = json_array();
    for (uint32_t i = 0; peers != NULL && i < nd->g->validator_count; i++) {
        if (i == nd->self)
            continue;
        json_array_append_new(peers, json_pack("{s:i, s:s, s:b}", "validator", (int)i, "name",
                                               nd->g->validators[i].name, "up",
                                               certa_transport_peer_up(nd->tp, i)));
    }
    if (peers != NULL)
        json_object_set_new(o, "peers", peers);
    json_object_set_new(o, "events", json_integer((json_int_t)nd->events_total));
    json_object_set_new(o, "events_per_s", json_real(nd->events_per_s));
    json_object_set_new(o, "awaiting_receipt", json_integer(nd->nwaiters));
    certa_dedup_stats ds;
    certa_dedup_stats_get(nd->dedup, &ds);
    json_t *rh = json_pack("{s:I, s:I, s:I, s:I, s:I}", "batches", (json_int_t)ds.remembered,
                           "batches_max", (json_int_t)ds.batches_max,
                           "horizon_ms", (json_int_t)certa_ledger_horizon_ms(nd->ledger),
                           "oldest_height", (json_int_t)ds.oldest_height,
                           "oldest_time_ms", (json_int_t)ds.oldest_time_ms);
    if (rh != NULL)
        json_object_set_new(o, "replay_horizon", rh);
    return o;
}

/* The event log's checkpoints this validator signed (node_sign_checkpoint),
 * newest first: {"validator": name, "checkpoints": [{"height", "size",
 * "note"}]}, the note a whole signed note with this validator's line. */
static json_t *checkpoints_json(void *ctx)
{
    certa_node *nd = ctx;
    json_t *o = json_object(), *a = json_array();
    if (o == NULL || a == NULL) {
        json_decref(o);
        json_decref(a);
        return NULL;
    }
    json_object_set_new(o, "validator", json_string(nd->g->validators[nd->self].name));
    for (uint32_t k = 0; k < nd->notes_count; k++) {
        const node_note *n =
            &nd->notes[(nd->notes_next + NODE_NOTES_MAX - 1 - k) % NODE_NOTES_MAX];
        json_array_append_new(a, json_pack("{s:I,s:I,s:s%}", "height", (json_int_t)n->height,
                                           "size", (json_int_t)n->size, "note", n->text,
                                           n->len));
    }
    json_object_set_new(o, "checkpoints", a);
    return o;
}

/* Holder, grant and block answers come from the executed state and the
 * block log, between rounds (node_query.h bounds each one). */
void node_handle_query(certa_node *nd, const certa_cp_request *rq)
{
    certa_node_query_src src = {.g = nd->g, .state = nd->state, .blocks = nd->blocks,
                                .status = status_json, .checkpoints = checkpoints_json,
                                .status_ctx = nd,
                                .seq_max = nd->x_seq_max};
    const uint8_t *body;
    size_t len;
    /* the execution thread owns the state: wait out the block it applies */
    pthread_mutex_lock(&nd->state_mu);
    uint8_t type = certa_node_query_answer(nd->nq, &src, rq->body, rq->body_len, &body, &len);
    pthread_mutex_unlock(&nd->state_mu);
    certa_cp_server_reply(nd->cs, rq->peer, rq->peer_len, type, rq->header.request_id, body,
                          len);
}

