/* clients: the validator's side of the client protocol (integrators).
 *
 * A SUBMIT goes through one door (handle_submit): the batch is checked
 * (app.c), its (integrator, seq) looked up in the replay table, and then
 * answered at once (the original receipt, or a refusal that says why), or
 * refused BUSY (view change, admission control), or accepted: ACCEPTED is
 * sent, a waiter remembers the request, and the batch goes to the core.
 * When its block executes, every request waiting for it gets its receipt
 * (node_answer_waiters), built from the executed block and its commit
 * certificate; a batch the core drops unordered gets a true final answer
 * (node_request_dropped). A batch sent again once block h + L
 * (CERTA_RESULTS_LAG_BLOCKS) executed here gets its receipt with a result
 * proof (resend_receipt): that is how a client fetches the proof of its
 * results, off the path of the first receipt.
 *
 * Invariants:
 * - A receipt is built only from an executed block (so after it was
 *   committed by 2f+1 and durable here), and only for the bytes the
 *   request sent: a request whose bytes differ from what was committed
 *   under its sequence number is REFUSED, never given another's receipt.
 * - The waiter table is bounded (WAITERS_MAX, at most WAITER_REQUESTS_MAX
 *   requests per batch, admission limits, a TTL sweep); a full table
 *   answers BUSY, never grows.
 * - I/O thread only; the state is read under state_mu.
 */
#include "node_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* ------------------------------------------------------------ waiters */

static uint32_t waiter_hash(uint16_t integrator, uint64_t seq)
{
    uint64_t x = seq * 0x9E3779B97F4A7C15ull ^ ((uint64_t)integrator << 48);
    x ^= x >> 29;
    return (uint32_t)x & (WAITERS_MAX - 1u);
}

static waiter *waiter_find(certa_node *nd, uint16_t integrator, uint64_t seq)
{
    uint32_t h = waiter_hash(integrator, seq);
    for (uint32_t i = 0; i < WAITERS_MAX; i++) {
        waiter *w = &nd->waiters[(h + i) & (WAITERS_MAX - 1u)];
        if (!w->used)
            return NULL;
        if (w->integrator == integrator && w->seq == seq)
            return w;
    }
    return NULL;
}

/* The entry of this very request (same peer and request id: the client
 * re-sent it on the same connection), or NULL; *count gets how many
 * requests await (integrator, seq) and *oldest the longest waiting. */
static waiter *waiter_request(certa_node *nd, uint16_t integrator, uint64_t seq,
                              const uint8_t *peer, size_t peer_len, uint64_t request_id,
                              uint32_t *count, waiter **oldest)
{
    *count = 0;
    *oldest = NULL;
    waiter *same = NULL;
    uint32_t h = waiter_hash(integrator, seq);
    for (uint32_t i = 0; i < WAITERS_MAX; i++) {
        waiter *w = &nd->waiters[(h + i) & (WAITERS_MAX - 1u)];
        if (!w->used)
            break;
        if (w->integrator != integrator || w->seq != seq)
            continue;
        (*count)++;
        if (*oldest == NULL || w->accepted_ms < (*oldest)->accepted_ms)
            *oldest = w;
        if (w->request_id == request_id && w->peer_len == peer_len &&
            memcmp(w->peer, peer, peer_len) == 0)
            same = w;
    }
    return same;
}

/* Inserts a new entry for (integrator, seq), beside any others; NULL when
 * the table is past its load limit (caller answers BUSY). */
static waiter *waiter_insert(certa_node *nd, uint16_t integrator, uint64_t seq)
{
    if (nd->nwaiters >= WAITERS_MAX / 2)
        return NULL;
    uint32_t h = waiter_hash(integrator, seq);
    for (uint32_t i = 0; i < WAITERS_MAX; i++) {
        waiter *w = &nd->waiters[(h + i) & (WAITERS_MAX - 1u)];
        if (!w->used) {
            memset(w, 0, sizeof *w);
            nd->nwaiters++;
            w->used = true;
            w->integrator = integrator;
            w->seq = seq;
            return w;
        }
    }
    return NULL;
}

/* Removes w keeping linear probing intact (backward-shift deletion). */
static void waiter_remove(certa_node *nd, waiter *w)
{
    uint32_t i = (uint32_t)(w - nd->waiters);
    CERTA_ASSERT(nd->pending_events >= w->events);
    nd->pending_events -= w->events;
    w->used = false;
    nd->nwaiters--;
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & (WAITERS_MAX - 1u);
        waiter *x = &nd->waiters[j];
        if (!x->used)
            return;
        uint32_t k = waiter_hash(x->integrator, x->seq);
        bool movable = (i <= j) ? (k <= i || k > j) : (k <= i && k > j);
        if (movable) {
            nd->waiters[i] = *x;
            x->used = false;
            i = j;
        }
    }
}


/* ------------------------------------------------------------ receipts */

static void reply_error(certa_node *nd, const uint8_t *peer, size_t peer_len,
                        uint64_t rid, certa_err code, bool retryable,
                        uint32_t retry_ms, const char *msg)
{
    certa_cp_server_error(nd->cs, peer, peer_len, rid, code, retryable, retry_ms, msg);
}

static bool grow_entries(certa_node *nd, size_t n)
{
    if (n <= nd->entries_cap)
        return true;
    size_t cap = nd->entries_cap ? nd->entries_cap : 256;
    while (cap < n)
        cap *= 2;
    certa_receipt_entry *e = realloc(nd->entries, cap * sizeof *e);
    if (e == NULL)
        return false;
    nd->entries = e;
    void *p = realloc(nd->paths, cap * sizeof *nd->paths);
    if (p == NULL)
        return false;
    nd->paths = p;
    p = realloc(nd->result_paths, cap * sizeof *nd->result_paths);
    if (p == NULL)
        return false;
    nd->result_paths = p;
    nd->entries_cap = cap;
    return true;
}

/* What proves the results of a re-sent receipt's block h: the encoded
 * header of block h + L, its commit certificate, and block h's results
 * tree (whose root that header carries as prev_results_root). */
typedef struct result_proof {
    uint8_t header[CERTA_HEADER_BYTES];
    certa_commit_cert cert;
    certa_merkle_tree *tree;
} result_proof;

static void send_receipt(certa_node *nd, waiter *w, const certa_block_header *hdr,
                         const certa_commit_cert *cert, const exec_batch *b,
                         certa_merkle_tree *tree, const uint8_t *results,
                         const result_proof *rp)
{
    if (!grow_entries(nd, b->count))
        return;
    certa_batch_view v;
    certa_err fe = certa_batch_frame(b->bytes, b->len, &v, NULL);
    CERTA_ASSERT(fe == CERTA_OK); /* framed when the block was opened */
    (void)fe;
    size_t pos = 0;
    const uint8_t *ev;
    size_t ev_len;
    uint32_t k = 0;
    certa_err pe = CERTA_OK;
    while (certa_batch_next(&v, &pos, &ev, &ev_len)) {
        uint32_t leaf = b->first_leaf + k;
        certa_receipt_entry *e = &nd->entries[k];
        size_t plen = 0;
        /* the leaf is in the block's tree: the batch came from it */
        pe = certa_merkle_tree_inclusion(tree, leaf, nd->paths[k], &plen, NULL);
        CERTA_ASSERT(pe == CERTA_OK);
        e->leaf_index = leaf;
        e->result = results[leaf];
        e->reason = results[leaf] == CERTA_R_OK ? NULL : certa_result_name(results[leaf]);
        e->event = ev;
        e->event_len = ev_len;
        e->path = (const uint8_t(*)[CERTA_HASH_BYTES])nd->paths[k];
        e->path_len = plen;
        e->result_path = NULL;
        e->result_path_len = 0;
        if (rp != NULL) {
            pe = certa_merkle_tree_inclusion(rp->tree, leaf, nd->result_paths[k], &plen, NULL);
            CERTA_ASSERT(pe == CERTA_OK); /* the results tree has the block's leaves */
            e->result_path = (const uint8_t(*)[CERTA_HASH_BYTES])nd->result_paths[k];
            e->result_path_len = plen;
        }
        k++;
    }
    (void)pe;
    uint8_t hdr_bytes[CERTA_HEADER_BYTES];
    certa_header_encode(hdr, hdr_bytes);
    size_t len = 0;
    certa_errinfo ei;
    certa_receipt_results rr = {rp ? rp->header : NULL, rp ? &rp->cert : NULL};
    if (certa_receipt_batch_encode_results(b->integrator, b->seq, hdr_bytes, cert, nd->entries,
                                           k, rp ? &rr : NULL, nd->receipt_buf,
                                           RECEIPT_BYTES_MAX, &len, &ei) != CERTA_OK) {
        reply_error(nd, w->peer, w->peer_len, w->request_id, ei.code, false, 0,
                    certa_errmsg(&ei));
        return;
    }
    certa_cp_server_reply(nd->cs, w->peer, w->peer_len, CERTA_CP_RECEIPT, w->request_id,
                          nd->receipt_buf, len);
    certa_metric_add(nd->m.receipts, 1);
    certa_metric_observe(nd->m.commit_latency, (double)(mono_ms() - w->accepted_ms) / 1000.0);
}

/* Reads block height (h + L of a receipt's block) from the block log into
 * rp's header and certificate; false when it cannot be read. Call before
 * reading block h: both use the one read buffer. */
static bool result_proof_open(certa_node *nd, uint64_t height, result_proof *rp)
{
    CERTA_ASSERT(height <= nd->executed);
    const uint8_t *rec;
    size_t len;
    certa_block blk;
    if (!node_read_block(nd, height, &rec, &len) ||
        certa_block_decode(rec, len, &blk, NULL) != CERTA_OK || blk.hdr.height != height)
        return false;
    certa_err e = certa_header_encode(&blk.hdr, rp->header);
    CERTA_ASSERT(e == CERTA_OK);
    (void)e;
    node_block_cert(&blk, &rp->cert);
    rp->tree = NULL;
    return true;
}

/* Builds rp->tree, block h's results tree, from the results of all its
 * leaves (res) and its events' kinds, and checks its root against the
 * prev_results_root rp's header carries. False (why logged) otherwise. */
static bool result_proof_tree(certa_node *nd, const exec_batch *batches, size_t nb,
                              const uint8_t *res, uint32_t leaves, uint64_t height,
                              result_proof *rp)
{
    uint8_t (*lh)[CERTA_HASH_BYTES] = malloc(((size_t)leaves + 1) * CERTA_HASH_BYTES);
    if (lh == NULL)
        return false;
    uint32_t k = 0;
    for (size_t i = 0; i < nb; i++) {
        certa_batch_view v;
        certa_err fe = certa_batch_frame(batches[i].bytes, batches[i].len, &v, NULL);
        CERTA_ASSERT(fe == CERTA_OK); /* framed when the block was opened */
        (void)fe;
        size_t pos = 0;
        const uint8_t *ev;
        size_t ev_len;
        while (k < leaves && certa_batch_next(&v, &pos, &ev, &ev_len)) {
            uint8_t leaf[CERTA_RESULT_LEAF_BYTES];
            certa_result_leaf(certa_receipt_result_kind(res[k], ev, ev_len), res[k], leaf);
            certa_merkle_leaf_hash(leaf, sizeof leaf, lh[k]);
            k++;
        }
    }
    certa_block_header later;
    certa_err e = certa_header_decode(rp->header, CERTA_HEADER_BYTES, &later, NULL);
    CERTA_ASSERT(e == CERTA_OK);
    uint8_t root[CERTA_HASH_BYTES];
    bool ok = k == leaves &&
              certa_merkle_tree_build(nd->pool, &lh[0][0], leaves, &rp->tree, NULL) == CERTA_OK;
    free(lh);
    if (ok)
        certa_merkle_tree_root(rp->tree, root);
    if (ok && memcmp(root, later.prev_results_root, CERTA_HASH_BYTES) != 0) {
        /* never seen: the state's results are what this validator voted on */
        certa_log(CERTA_LOG_ERROR, "result_proof_mismatch",
                  "\"height\":%llu,\"proving_height\":%llu",
                  (unsigned long long)height, (unsigned long long)later.height);
        ok = false;
    }
    if (!ok) {
        certa_merkle_tree_free(rp->tree);
        rp->tree = NULL;
    }
    return ok;
}

/* A batch submitted again after it executed (the client lost the receipt,
 * failed over from a validator that died, or fetches the result proof):
 * answers w with the original receipt, rebuilt from the block log (block,
 * commit certificate, leaf hashes) and the state (each event's committed
 * result), so it works for the whole replay horizon. When block h + L
 * executed here too, the receipt carries the result proof (that header,
 * its certificate, the results paths), else it is the plain one. loc is
 * where the batch was committed new, an executed height. Returns CERTA_OK
 * when sent; CERTA_E_REFUSED when the batch committed under that
 * (integrator, seq) is not the bytes w sent; another error (why filled)
 * when the receipt cannot be rebuilt. */
static certa_err resend_receipt(certa_node *nd, waiter *w, const certa_dedup_loc *loc,
                                char *why, size_t why_len)
{
    CERTA_ASSERT(loc->height >= 1 && loc->height <= nd->executed);
    static result_proof rp; /* I/O thread only; a certificate is 4 KiB */
    bool proving = loc->height + CERTA_RESULTS_LAG_BLOCKS <= nd->executed &&
                   result_proof_open(nd, loc->height + CERTA_RESULTS_LAG_BLOCKS, &rp);
    const uint8_t *rec;
    size_t len;
    if (!node_read_block(nd, loc->height, &rec, &len)) {
        snprintf(why, why_len, "block %llu cannot be read from the block log",
                 (unsigned long long)loc->height);
        return CERTA_E_IO;
    }
    certa_block blk;
    exec_batch *batches = NULL;
    size_t nb = 0;
    uint32_t leaves = 0;
    certa_errinfo ei;
    certa_err e = node_block_open(nd, rec, len, &blk, &batches, &nb, &leaves, &nd->leaf_hashes,
                             &nd->leaf_cap, &ei);
    if (e != CERTA_OK) {
        snprintf(why, why_len, "%s", certa_errmsg(&ei));
        return e;
    }
    /* the first batch of the block with that (integrator, seq) is the one
     * committed new: a copy later in the same block was a replay */
    size_t i = 0;
    while (i < nb && !(batches[i].integrator == w->integrator && batches[i].seq == w->seq))
        i++;
    uint8_t *res = NULL;
    certa_merkle_tree *tree = NULL;
    uint8_t digest[CERTA_HASH_BYTES];
    if (i == nb) {
        e = certa_errorf(&ei, CERTA_E_CORRUPT, "block %llu holds no batch %u/%llu",
                         (unsigned long long)loc->height, w->integrator,
                         (unsigned long long)w->seq);
        goto out;
    }
    node_batch_digest(&batches[i], digest);
    if (memcmp(digest, w->digest, CERTA_HASH_BYTES) != 0) {
        e = certa_errorf(&ei, CERTA_E_REFUSED, "different bytes");
        goto out;
    }
    res = calloc(leaves ? leaves : 1, 1);
    if (res == NULL) {
        e = certa_errorf(&ei, CERTA_E_NOMEM, "results of block %llu",
                         (unsigned long long)loc->height);
        goto out;
    }
    /* the batch's events are events loc->first_event.. of the chain, the
     * block's from loc->first_event - first_leaf; a result proof needs
     * the results of the whole block, the plain receipt the batch's */
    uint64_t block_first = loc->first_event - batches[i].first_leaf;
    uint32_t from = batches[i].first_leaf, to = from + batches[i].count;
    pthread_mutex_lock(&nd->state_mu);
    bool have = true;
    for (uint32_t k = from; k < to && have; k++)
        have = certa_state_event_result(nd->state, block_first + k, &res[k]);
    for (uint32_t k = 0; k < leaves && have && proving; k++)
        proving = certa_state_event_result(nd->state, block_first + k, &res[k]);
    pthread_mutex_unlock(&nd->state_mu);
    if (!have) {
        e = certa_errorf(&ei, CERTA_E_STATE, "the state holds no result for the events of "
                         "block %llu from event %llu", (unsigned long long)loc->height,
                         (unsigned long long)block_first);
        goto out;
    }
    /* without every result of the block, the plain receipt */
    if (proving)
        proving = result_proof_tree(nd, batches, nb, res, leaves, loc->height, &rp);
    e = certa_merkle_tree_build(nd->pool, nd->leaf_hashes, leaves, &tree, &ei);
    if (e != CERTA_OK)
        goto out;
    certa_commit_cert cert;
    node_block_cert(&blk, &cert);
    send_receipt(nd, w, &blk.hdr, &cert, &batches[i], tree, res, proving ? &rp : NULL);
out:
    if (e != CERTA_OK)
        snprintf(why, why_len, "%s", certa_errmsg(&ei));
    certa_merkle_tree_free(tree);
    if (proving)
        certa_merkle_tree_free(rp.tree);
    rp.tree = NULL;
    free(res);
    free(batches);
    return e;
}

static void refuse_different(certa_node *nd, waiter *w, uint64_t height)
{
    char msg[300];
    snprintf(msg, sizeof msg,
             "batch: integrator %s sequence %llu was already executed in block %llu with "
             "different bytes (replay)",
             node_integrator_name(nd, w->integrator), (unsigned long long)w->seq,
             (unsigned long long)height);
    reply_error(nd, w->peer, w->peer_len, w->request_id, CERTA_E_REFUSED, false, 0, msg);
}

/* Answers one request awaiting batch i of an executed block: the batch's
 * own receipt, or for a batch committed again (replayed) the receipt of
 * the original when this request sent the original's bytes. A request
 * that sent other bytes than what was committed under that sequence
 * number gets REFUSED, never someone else's receipt. */
static void answer_waiter(certa_node *nd, waiter *w, const exec_job *job, size_t i,
                          const uint8_t digest[CERTA_HASH_BYTES],
                          certa_merkle_tree **tree, const certa_commit_cert *cert)
{
    const exec_batch *b = &job->batches[i];
    certa_dedup_loc loc;
    if (job->verdicts[i] == V_REPLAYED &&
        certa_dedup_lookup(nd->dedup, b->integrator, b->seq, &loc) == CERTA_DEDUP_EXECUTED &&
        loc.height <= nd->executed) {
        char why[300];
        certa_err e = resend_receipt(nd, w, &loc, why, sizeof why);
        if (e == CERTA_OK)
            return;
        if (e == CERTA_E_REFUSED && memcmp(w->digest, digest, CERTA_HASH_BYTES) != 0) {
            refuse_different(nd, w, loc.height);
            return;
        }
    }
    if (memcmp(w->digest, digest, CERTA_HASH_BYTES) != 0) {
        refuse_different(nd, w, job->height);
        return;
    }
    if (*tree == NULL && certa_merkle_tree_build(nd->pool, job->leaf_hashes, job->leaves,
                                                 tree, NULL) != CERTA_OK) {
        reply_error(nd, w->peer, w->peer_len, w->request_id, CERTA_E_NOMEM, true, 1000,
                    "validator out of memory building a receipt: send the batch again");
        return;
    }
    send_receipt(nd, w, &job->blk.hdr, cert, b, *tree, job->results, NULL);
}


void node_answer_waiters(certa_node *nd, const exec_job *job)
{
    certa_merkle_tree *tree = NULL;
    certa_commit_cert cert;
    node_block_cert(&job->blk, &cert);
    for (size_t i = 0; i < job->nb; i++) {
        const exec_batch *b = &job->batches[i];
        if (waiter_find(nd, b->integrator, b->seq) == NULL)
            continue;
        uint8_t digest[CERTA_HASH_BYTES];
        node_batch_digest(b, digest);
        waiter *w;
        while ((w = waiter_find(nd, b->integrator, b->seq)) != NULL) {
            answer_waiter(nd, w, job, i, digest, &tree, &cert);
            waiter_remove(nd, w);
        }
    }
    certa_merkle_tree_free(tree);
}

/* The core dropped a pending batch unordered because the replay table now
 * knows its (integrator, seq): another copy of it was committed, or it fell
 * out of the horizon. Every request waiting for it gets the true answer:
 * its receipt (now, or from execution when that block is still queued), a
 * refusal naming the block when the committed bytes differ, or "too old to
 * tell". Never a bare "already executed" for a batch that did not run. */
void node_request_dropped(void *ctx, uint16_t integrator, uint64_t seq)
{
    certa_node *nd = ctx;
    certa_metric_add(nd->m.dropped, 1);
    certa_dedup_loc loc = {0};
    certa_dedup_answer a = integrator < certa_ledger_integrator_count(nd->ledger)
                               ? certa_dedup_lookup(nd->dedup, integrator, seq, &loc)
                               : CERTA_DEDUP_NEW;
    certa_log(CERTA_LOG_WARN, "request_dropped",
              "\"integrator\":%u,\"seq\":%llu,\"reason\":\"%s\",\"height\":%llu", integrator,
              (unsigned long long)seq,
              a == CERTA_DEDUP_EXECUTED ? "committed in another copy"
              : a == CERTA_DEDUP_TOO_OLD ? "too old to tell"
                                         : "unknown integrator",
              (unsigned long long)loc.height);
    /* committed, not yet executed here: execution answers every waiter */
    if (a == CERTA_DEDUP_EXECUTED && loc.height > nd->executed)
        return;
    waiter *w;
    while ((w = waiter_find(nd, integrator, seq)) != NULL) {
        char msg[600], why[400];
        if (a == CERTA_DEDUP_EXECUTED) {
            certa_err e = resend_receipt(nd, w, &loc, why, sizeof why);
            if (e == CERTA_E_REFUSED) {
                snprintf(msg, sizeof msg,
                         "batch: sequence %llu was already executed in block %llu with "
                         "different bytes (replay)",
                         (unsigned long long)seq, (unsigned long long)loc.height);
                reply_error(nd, w->peer, w->peer_len, w->request_id, CERTA_E_REFUSED, false, 0,
                            msg);
            } else if (e != CERTA_OK) {
                snprintf(msg, sizeof msg,
                         "batch: sequence %llu was executed in block %llu, but its receipt "
                         "cannot be rebuilt on this validator: %.300s",
                         (unsigned long long)seq, (unsigned long long)loc.height, why);
                reply_error(nd, w->peer, w->peer_len, w->request_id, CERTA_E_IO, true, 1000,
                            msg);
            }
        } else if (a == CERTA_DEDUP_TOO_OLD) {
            certa_metric_add(nd->m.too_old, 1);
            snprintf(msg, sizeof msg,
                     "batch: sequence %llu fell outside the replay horizon before it was "
                     "ordered (too old to tell): if it did not execute, submit its events "
                     "again under a new sequence number",
                     (unsigned long long)seq);
            reply_error(nd, w->peer, w->peer_len, w->request_id, CERTA_E_TOO_OLD, false, 0, msg);
        } else {
            reply_error(nd, w->peer, w->peer_len, w->request_id, CERTA_E_REFUSED, false, 0,
                        "batch: dropped unordered: unknown integrator");
        }
        waiter_remove(nd, w);
    }
}

/* ------------------------------------------------------------ the door */

static void refuse_batch(certa_node *nd, const certa_cp_request *rq, certa_err code,
                         bool retryable, uint32_t retry_ms, const char *msg)
{
    certa_metric_add(nd->m.batches_refused, 1);
    char esc[1100];
    certa_log(CERTA_LOG_WARN, "batch_refused", "\"reason\":\"%s\"",
              certa_log_str(msg, esc, sizeof esc));
    reply_error(nd, rq->peer, rq->peer_len, rq->header.request_id, code, retryable, retry_ms,
                msg);
}

/* The door's answer for a batch whose (integrator, seq) the replay table
 * knows (docs/PROTOCOL.md, "Replay protection"): true when answered here
 * (the original receipt, or a refusal that says which case it is); false
 * when the batch is to be accepted (new, or committed and queued for
 * execution: the request then waits for that receipt). */
static bool door_replay(certa_node *nd, const certa_cp_request *rq, const certa_batch_view *v,
                        certa_dedup_answer known, const certa_dedup_loc *loc)
{
    const char *name = node_integrator_name(nd, v->integrator);
    char msg[900];
    if (known == CERTA_DEDUP_TOO_OLD) {
        certa_metric_add(nd->m.too_old, 1);
        snprintf(msg, sizeof msg,
                 "batch: integrator %s sequence %llu is outside the replay horizon (too old "
                 "to tell): whether it executed cannot be known any more; if it did not, "
                 "submit its events again under a new sequence number",
                 name, (unsigned long long)v->seq);
        refuse_batch(nd, rq, CERTA_E_TOO_OLD, false, 0, msg);
        return true;
    }
    if (known == CERTA_DEDUP_NEW || loc->height > nd->executed)
        return false;
    waiter tmp = {.used = true, .integrator = v->integrator, .seq = v->seq,
                  .request_id = rq->header.request_id, .accepted_ms = mono_ms(),
                  .peer_len = (uint8_t)rq->peer_len};
    memcpy(tmp.peer, rq->peer, rq->peer_len);
    memcpy(tmp.digest, v->digest, CERTA_HASH_BYTES);
    char why[400];
    certa_err e = resend_receipt(nd, &tmp, loc, why, sizeof why);
    if (e == CERTA_OK)
        return true;
    if (e == CERTA_E_REFUSED) {
        snprintf(msg, sizeof msg,
                 "batch: integrator %s sequence %llu was already executed in block %llu "
                 "with different bytes (replay)",
                 name, (unsigned long long)v->seq, (unsigned long long)loc->height);
        refuse_batch(nd, rq, CERTA_E_REFUSED, false, 0, msg);
        return true;
    }
    /* true, and the receipt exists on every validator: try another */
    snprintf(msg, sizeof msg,
             "batch: integrator %s sequence %llu was already executed in block %llu, but "
             "its receipt cannot be rebuilt on this validator: %.300s",
             name, (unsigned long long)v->seq, (unsigned long long)loc->height, why);
    certa_log(CERTA_LOG_ERROR, "receipt_rebuild_failed", "\"height\":%llu",
              (unsigned long long)loc->height);
    refuse_batch(nd, rq, CERTA_E_IO, true, 1000, msg);
    return true;
}

static void handle_submit(certa_node *nd, const certa_cp_request *rq)
{
    certa_batch_view v;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e = node_check_batch(nd, rq->body, rq->body_len, &v, &ei);
    if (e != CERTA_OK) {
        refuse_batch(nd, rq, e, false, 0, certa_errmsg(&ei));
        return;
    }
    certa_dedup_loc loc = {0};
    certa_dedup_answer known = certa_dedup_lookup(nd->dedup, v.integrator, v.seq, &loc);
    if (door_replay(nd, rq, &v, known, &loc))
        return;
    /* from here: new, or committed and awaiting execution here */
    bool committed = known == CERTA_DEDUP_EXECUTED;
    if (nd->round.failed && !committed) {
        reply_error(nd, rq->peer, rq->peer_len, rq->header.request_id, CERTA_E_NOSPACE,
                    true, 5000, "validator storage failed: new batches are refused");
        return;
    }
    /* In view change nothing is ordered here until a new view: holding the
     * batch would cost its client the whole wait. A retryable BUSY sends it
     * to another validator now. A batch already waiting is kept. Alone in a
     * higher view while the others order in a lower one, this validator
     * follows them and forwards the batch to their primary: it is kept. */
    if (certa_pbft_awaiting_view(nd->pbft) && waiter_find(nd, v.integrator, v.seq) == NULL) {
        certa_metric_add(nd->m.busy, 1);
        reply_error(nd, rq->peer, rq->peer_len, rq->header.request_id, CERTA_E_BUSY, true,
                    250, "validator in view change: new batches are not ordered here until "
                         "a new view; try another validator");
        return;
    }
    /* Admission control: a batch accepted here waits in the pipeline; past
     * a bounded backlog (a few blocks' worth) the wait would approach the
     * view-change timer, so new batches get a retryable BUSY with a hint
     * instead. A batch already waiting (the client re-sent it) or already
     * committed is kept. */
    if (!committed && waiter_find(nd, v.integrator, v.seq) == NULL &&
        (nd->nwaiters >= nd->admit_batches_max ||
         nd->pending_events + v.event_count > nd->admit_events_max)) {
        /* hint: a fraction of the time the backlog needs to drain at the
         * recent rate; short, since the client backs off further itself */
        double rate = nd->events_per_s > 20000.0 ? nd->events_per_s : 20000.0;
        double wait_ms = (double)nd->pending_events * 1000.0 / rate / 4.0;
        uint32_t hint = wait_ms < 10 ? 10 : wait_ms > 250 ? 250 : (uint32_t)wait_ms;
        certa_metric_add(nd->m.busy, 1);
        reply_error(nd, rq->peer, rq->peer_len, rq->header.request_id, CERTA_E_BUSY, true,
                    hint, "validator busy: its backlog of batches awaiting commit is full");
        return;
    }
    /* Every request for the batch gets its receipt: the same request sent
     * again keeps its entry, another request gets its own, up to
     * WAITER_REQUESTS_MAX; past that the longest waiting is told to send
     * again (retryable), so the table stays bounded. */
    uint32_t count = 0;
    waiter *oldest = NULL;
    waiter *w = waiter_request(nd, v.integrator, v.seq, rq->peer, rq->peer_len,
                               rq->header.request_id, &count, &oldest);
    if (w == NULL) {
        uint32_t events = count == 0 ? v.event_count : 0;
        if (count >= WAITER_REQUESTS_MAX) {
            CERTA_ASSERT(oldest != NULL);
            reply_error(nd, oldest->peer, oldest->peer_len, oldest->request_id,
                        CERTA_E_TIMEOUT, true, 0,
                        "batch awaited by too many requests: this one was superseded by a "
                        "newer one; send it again for its receipt");
            events = oldest->events;
            waiter_remove(nd, oldest);
        }
        w = waiter_insert(nd, v.integrator, v.seq);
        if (w == NULL) {
            reply_error(nd, rq->peer, rq->peer_len, rq->header.request_id, CERTA_E_BUSY,
                        true, 50, "validator busy: too many batches awaiting commit");
            return;
        }
        w->events = events;
        nd->pending_events += events;
    }
    w->request_id = rq->header.request_id;
    w->accepted_ms = mono_ms();
    w->peer_len = (uint8_t)rq->peer_len;
    memcpy(w->peer, rq->peer, rq->peer_len);
    memcpy(w->digest, v.digest, CERTA_HASH_BYTES);
    certa_metric_add(nd->m.batches_in, 1);
    certa_log(CERTA_LOG_DEBUG, "batch_accepted",
              "\"integrator\":%u,\"seq\":%llu,\"events\":%u,\"committed\":%s",
              v.integrator, (unsigned long long)v.seq, v.event_count,
              committed ? "true" : "false");

    certa_cp_accepted acc = {.integrator = v.integrator, .seq = v.seq,
                             .event_count = v.event_count};
    memcpy(acc.digest, v.digest, CERTA_HASH_BYTES);
    uint8_t body[CERTA_CP_ACCEPTED_BYTES];
    certa_cp_accepted_encode(&acc, body);
    certa_cp_server_reply(nd->cs, rq->peer, rq->peer_len, CERTA_CP_ACCEPTED,
                          rq->header.request_id, body, sizeof body);
    if (committed)
        return; /* its block executes soon: node_answer_waiters answers */
    certa_pbft_input in = {.kind = CERTA_PBFT_IN_REQUEST, .bytes = rq->body,
                           .len = rq->body_len, .integrator = v.integrator,
                           .seq = v.seq};
    node_step(nd, &in);
}

/* Time for queries per round: each query is bounded (engine/query.c, about
 * 2 ms at worst), and once this much went to queries the round goes on to
 * consensus; the requests left wait in the socket for the next round. */
#define QUERY_US_PER_ROUND 2000u

void node_serve_clients(certa_node *nd)
{
    uint64_t query_us = 0;
    for (uint32_t i = 0; i < CLIENT_RECV_PER_ROUND && query_us < QUERY_US_PER_ROUND; i++) {
        certa_cp_request rq;
        certa_errinfo ei;
        certa_err e = certa_cp_server_recv(nd->cs, &rq, &ei);
        if (e == CERTA_E_NOTFOUND)
            return;
        if (e != CERTA_OK) {
            certa_metric_add(nd->m.batches_refused, 1);
            char esc[600];
            certa_log(CERTA_LOG_WARN, "client_frame_refused", "\"reason\":\"%s\"",
                      certa_log_str(certa_errmsg(&ei), esc, sizeof esc));
            continue;
        }
        if (rq.header.type == CERTA_CP_SUBMIT)
            handle_submit(nd, &rq);
        else if (rq.header.type == CERTA_CP_QUERY) {
            uint64_t t0 = mono_us();
            node_handle_query(nd, &rq);
            query_us += mono_us() - t0;
        } else
            reply_error(nd, rq.peer, rq.peer_len, rq.header.request_id, CERTA_E_PROTOCOL,
                        false, 0, "unexpected message type from a client");
        certa_cp_request_release(&rq);
        if (nd->round.nout >= OUT_MAX / 2)
            return; /* let the round finish before taking more */
    }
}

/* Forgets batches accepted long ago that never committed (their request
 * was lost with a primary, or the client is gone): the client has its own
 * deadline and re-sends, so the slot is better given to new work. */
#define WAITER_TTL_MS 60000u

void node_sweep_waiters(certa_node *nd, uint64_t now)
{
    for (uint32_t i = 0; i < WAITERS_MAX && nd->nwaiters > 0;) {
        waiter *w = &nd->waiters[i];
        if (w->used && w->accepted_ms + WAITER_TTL_MS < now) {
            certa_metric_add(nd->m.expired, 1);
            waiter_remove(nd, w); /* may shift a later entry into slot i */
            continue;
        }
        i++;
    }
}
