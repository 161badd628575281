/* exec: the execution stage, from a durable committed block to its
 * results.
 *
 * One thread (certa-exec) owns the state and applies blocks in height
 * order; it is joined to the I/O thread by two bounded rings (exec_pipe,
 * node_internal.h). The I/O thread hands it durable blocks with their
 * replay verdicts already decided (the ledger's judge, app.c) and takes
 * back the executed jobs to complete them: its view of the executed
 * height, the ledger's record of it (what the headers LAG blocks later
 * carry), metrics and the receipts (clients.c). Executing a block is the
 * ledger's (certa_ledger_apply, engine/ledger.c), on this thread.
 *
 * Invariants:
 * - A block is executed only when durable, in height order, exactly once:
 *   a job whose height does not follow x_executed fails, and after one
 *   failure no later job is executed (the node stops).
 * - The execution thread touches nothing the I/O thread reads but the
 *   state, under state_mu, and the rings, under pipe.mu.
 * - Neither thread waits for the other: the done ring holds every
 *   outstanding job, and a durable block that finds the stage full stays
 *   in the I/O thread's queue (exq) for the next round.
 */
#include "node_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "certa/wire.h"

/* ------------------------------------------------------------ one block */

/* Decodes a committed block record (once: the job keeps the decoded form)
 * and lists its batches, filling *lh (capacity *lh_cap hashes, grown as
 * needed) with the leaf hash of every event. *batches_out is malloc'ed
 * (caller frees). */
certa_err node_block_open(certa_node *nd, const uint8_t *rec, size_t len,
                          certa_block *b, exec_batch **batches_out, size_t *nb_out,
                          uint32_t *leaves_out, uint8_t **lh, size_t *lh_cap,
                          certa_errinfo *ei)
{
    certa_errinfo sub;
    certa_errinfo_clear(&sub);
    if (certa_block_decode(rec, len, b, &sub) != CERTA_OK)
        return certa_errorf(ei, CERTA_E_CORRUPT, "%s", certa_errmsg(&sub));
    exec_batch *batches = calloc(b->batch_count ? b->batch_count : 1, sizeof *batches);
    if (batches == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "opening block");
    size_t pos = 0, nb = 0;
    uint32_t leaf = 0;
    certa_block_batch req;
    while (certa_block_next(b, &pos, &req)) {
        certa_batch_view v;
        if (certa_batch_frame(req.bytes, req.len, &v, NULL) != CERTA_OK ||
            leaf + (uint64_t)v.event_count > UINT32_MAX) {
            free(batches);
            return certa_errorf(ei, CERTA_E_CORRUPT, "block %llu: batch %zu does not decode",
                                (unsigned long long)b->hdr.height, nb);
        }
        CERTA_ASSERT(nb < b->batch_count);
        batches[nb++] = (exec_batch){req.integrator, req.seq, leaf, v.event_count,
                                     req.bytes, req.len};
        leaf += v.event_count;
    }
    CERTA_ASSERT(nb == b->batch_count);
    /* the leaf hashes of a block validated or built here are kept */
    if (leaf > 0 && !node_leaves_take(nd, b->hdr.height, b->hdr.events_root, leaf, lh, lh_cap)) {
        if (!certa_ledger_grow_hashes(lh, lh_cap, leaf)) {
            free(batches);
            return certa_errorf(ei, CERTA_E_NOMEM, "block %llu: %u leaf hashes",
                                (unsigned long long)b->hdr.height, leaf);
        }
        uint8_t leafbuf[10 + CERTA_EVENT_BYTES_MAX];
        for (size_t i = 0; i < nb; i++) {
            certa_batch_view v;
            certa_err fe = certa_batch_frame(batches[i].bytes, batches[i].len, &v, NULL);
            CERTA_ASSERT(fe == CERTA_OK); /* framed when the block was opened */
            (void)fe;
            uint32_t k = batches[i].first_leaf;
            size_t ep = 0;
            const uint8_t *ev;
            size_t ev_len;
            while (certa_batch_next(&v, &ep, &ev, &ev_len)) {
                size_t ll = certa_leaf_encode(batches[i].integrator, batches[i].seq, ev, ev_len,
                                              leafbuf, sizeof leafbuf);
                CERTA_ASSERT(ll > 0);
                certa_merkle_leaf_hash(leafbuf, ll, *lh + (size_t)k * CERTA_HASH_BYTES);
                k++;
            }
        }
    }
    *batches_out = batches;
    *nb_out = nb;
    *leaves_out = leaf;
    return CERTA_OK;
}

void node_block_cert(const certa_block *b, certa_commit_cert *cert)
{
    uint8_t hash[CERTA_HASH_BYTES];
    certa_header_hash(&b->hdr, hash);
    certa_block_cert(b, hash, cert);
}

/* Executes job's block into the state (the execution thread, or the
 * I/O thread while recovering before that thread starts). Fills the job's
 * results, roots and replay flags; touches nothing the I/O thread reads
 * but the state, under state_mu. */
static void execute_job(certa_node *nd, exec_job *job)
{
    certa_errinfo *ei = &job->ei;
    job->err = node_block_open(nd, job->rec, job->len, &job->blk, &job->batches, &job->nb,
                          &job->leaves, &nd->x_leaf_hashes, &nd->x_leaf_cap, ei);
    if (job->err != CERTA_OK)
        return;
    /* the job keeps the leaf hashes for its receipts */
    job->leaf_hashes = nd->x_leaf_hashes;
    job->leaf_cap = nd->x_leaf_cap;
    nd->x_leaf_hashes = NULL;
    nd->x_leaf_cap = 0;
    const certa_block_header *hdr = &job->blk.hdr;
    job->height = hdr->height;
    if (hdr->height != nd->x_executed + 1) {
        job->err = certa_errorf(ei, CERTA_E_STATE, "block %llu follows %llu",
                                (unsigned long long)hdr->height,
                                (unsigned long long)nd->x_executed);
        return;
    }
    job->results = malloc(job->leaves ? job->leaves : 1);
    if (job->verdicts == NULL) {
        job->err = certa_errorf(ei, CERTA_E_CORRUPT, "block %llu: no replay verdicts "
                                "(the record did not decode when delivered)",
                                (unsigned long long)hdr->height);
        return;
    }
    if (job->results == NULL) {
        job->err = certa_errorf(ei, CERTA_E_NOMEM, "block %llu: results",
                                (unsigned long long)hdr->height);
        return;
    }
    pthread_mutex_lock(&nd->state_mu);
    certa_ledger_exec x;
    job->err = certa_ledger_apply(nd->ledger, job->rec, job->len, job->verdicts, &x, ei);
    if (job->err != CERTA_OK) {
        pthread_mutex_unlock(&nd->state_mu);
        return;
    }
    /* the integrators' highest seq executed as new (gaps are allowed, so a
     * later block may carry a lower one), at the state's height */
    for (size_t i = 0; i < job->nb; i++) {
        const exec_batch *b = &job->batches[i];
        if (job->verdicts[i] == V_NEW && b->integrator < CERTA_INTEGRATORS_MAX &&
            b->seq > nd->x_seq_max[b->integrator])
            nd->x_seq_max[b->integrator] = b->seq;
    }
    memcpy(job->results_root, x.results_root, CERTA_HASH_BYTES);
    memcpy(job->state_digest, x.state_digest, CERTA_HASH_BYTES);
    job->admission = x.admission;
    CERTA_ASSERT(x.result_count == job->leaves);
    memcpy(job->results, x.results, x.result_count);
    /* the cold store could not be written (disk or map full, I/O) or
     * disagrees with the replay: the node stops; a restart replays from
     * the cold store's height once the cause is fixed */
    job->err = certa_state_cold_status(nd->state, ei);
    certa_state_cold_info ci;
    certa_state_cold(nd->state, &ci);
    job->cold_write_ns = ci.write_ns - nd->x_cold_write_ns;
    nd->x_cold_write_ns = ci.write_ns;
    pthread_mutex_unlock(&nd->state_mu);
    if (job->err != CERTA_OK)
        return;
    nd->x_executed = hdr->height;
    /* the event log: about one node hash per event (bench/merkle_log),
     * its root (at most 63 more) only where it is signed */
    certa_merkle_frontier_append(&nd->x_log, job->leaf_hashes, job->leaves);
    job->log_size = nd->x_log.size;
    job->log_checkpoint = hdr->height % nd->pc.checkpoint_interval == 0;
    if (job->log_checkpoint)
        certa_merkle_frontier_root(&nd->x_log, job->log_root);
}

static void job_free(exec_job *job)
{
    if (job == NULL)
        return;
    free(job->rec);
    free(job->batches);
    free(job->leaf_hashes);
    free(job->results);
    free(job->verdicts);
    certa_ledger_adm_free(job->admission);
    free(job);
}

/* The batch digest of a batch a block carries (framed before): SHA-256 of
 * every byte before its signature, as certa_batch_decode computes it. */
void node_batch_digest(const exec_batch *b, uint8_t out[CERTA_HASH_BYTES])
{
    CERTA_ASSERT(b->len > CERTA_SIGNATURE_BYTES);
    certa_sha256(b->bytes, b->len - CERTA_SIGNATURE_BYTES, out);
}

/* The I/O thread's side of an executed block: its view of the executed
 * height and results, metrics and, with replying set, the receipts of
 * every request waiting here for one of its batches. */
static void complete_job(certa_node *nd, exec_job *job, bool replying)
{
    CERTA_ASSERT(job->err == CERTA_OK && job->height == nd->executed + 1);
    /* judged before it executed */
    CERTA_ASSERT(job->height <= certa_ledger_judged_height(nd->ledger));
    const certa_block_header *hdr = &job->blk.hdr;
    nd->executed = job->height;
    memcpy(nd->results_root, job->results_root, CERTA_HASH_BYTES);
    memcpy(nd->state_digest, job->state_digest, CERTA_HASH_BYTES);
    node_admit(nd, job->admission);
    job->admission = NULL;
    certa_ledger_record(nd->ledger, hdr->height, job->results_root, job->state_digest);
    const uint8_t *results = job->results;
    uint32_t leaves = job->leaves;
    for (uint32_t i = 0; i < leaves; i++)
        if (results[i] < CERTA_R_COUNT)
            certa_metric_add(nd->m.results[results[i]], 1);
    certa_metric_add(nd->m.blocks, 1);
    certa_metric_observe(nd->m.cold_write, (double)job->cold_write_ns / 1e9);
    certa_metric_add(nd->m.events, leaves);
    if (leaves > 0 && replying)
        nd->last_commit_ms = mono_ms();
    certa_metric_set(nd->m.height, (double)hdr->height);
    nd->events_window_count += leaves;
    nd->events_total += leaves;
    /* a replay at start signs only what the ring will keep: years of
     * checkpoint heights would cost an Ed25519 signature each */
    if (job->log_checkpoint &&
        (replying || hdr->height + (uint64_t)NODE_NOTES_MAX * nd->pc.checkpoint_interval >
                         nd->recover_last))
        node_sign_checkpoint(nd, hdr->height, job->log_size, job->log_root);

    if (replying && nd->nwaiters > 0)
        node_answer_waiters(nd, job);
}

/* Signs the event log's checkpoint at a checkpoint height and keeps it
 * among the newest NODE_NOTES_MAX. A signing failure (none is expected
 * from a loaded key) loses that one note, logged: the next checkpoint
 * height signs again. */
void node_sign_checkpoint(certa_node *nd, uint64_t height, uint64_t size,
                          const uint8_t root[CERTA_HASH_BYTES])
{
    const certa_validator_info *me = &nd->g->validators[nd->self];
    node_note *n = &nd->notes[nd->notes_next];
    char body[CERTA_NOTE_BODY_BYTES], line[CERTA_NOTE_SIG_LINE_BYTES];
    size_t bl = certa_note_body(nd->g, size, root, body);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    size_t ll = certa_note_sign_line(nd->key, me->sign_pub, me->name, body, bl, line, &ei);
    if (ll == 0) {
        certa_log(CERTA_LOG_WARN, "checkpoint_unsigned", "\"height\":%llu,\"error\":\"%s\"",
                  (unsigned long long)height, certa_strerror(ei.code));
        return;
    }
    CERTA_ASSERT(bl + 1 + ll < sizeof n->text);
    memcpy(n->text, body, bl);
    n->text[bl] = '\n';
    memcpy(n->text + bl + 1, line, ll + 1);
    n->len = bl + 1 + ll;
    n->height = height;
    n->size = size;
    nd->notes_next = (nd->notes_next + 1) % NODE_NOTES_MAX;
    if (nd->notes_count < NODE_NOTES_MAX)
        nd->notes_count++;
}

/* Executes and completes a block on the calling thread (recovery). */
certa_err node_execute_now(certa_node *nd, const uint8_t *rec, size_t len,
                           certa_errinfo *ei)
{
    exec_job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "executing a block");
    job->rec = malloc(len ? len : 1);
    if (job->rec == NULL) {
        free(job);
        return certa_errorf(ei, CERTA_E_NOMEM, "executing a block");
    }
    memcpy(job->rec, rec, len);
    job->len = len;
    job->verdicts = node_judge_block(nd, rec, len);
    execute_job(nd, job);
    certa_err e = job->err;
    if (e == CERTA_OK)
        complete_job(nd, job, false);
    else
        *ei = job->ei;
    job_free(job);
    return e;
}

/* ------------------------------------------------------------ execution stage */

static void *exec_main(void *arg)
{
    certa_node *nd = arg;
    exec_pipe *p = &nd->pipe;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->in_count == 0)
            pthread_cond_wait(&p->work_cv, &p->mu);
        if (p->in_count == 0)
            break; /* stopping, and every queued block executed */
        exec_job *job = p->in[p->in_head];
        p->in_head = (p->in_head + 1) % EXEC_PIPE_MAX;
        p->in_count--;
        bool failed = p->failed;
        pthread_mutex_unlock(&p->mu);
        uint64_t t0 = mono_us();
        if (failed)
            job->err = certa_errorf(&job->ei, CERTA_E_STATE,
                                    "not executed: an earlier block failed");
        else
            execute_job(nd, job);
        certa_log(CERTA_LOG_DEBUG, "executed", "\"height\":%llu,\"us\":%llu",
                  (unsigned long long)job->height, (unsigned long long)(mono_us() - t0));
        pthread_mutex_lock(&p->mu);
        if (job->err != CERTA_OK)
            p->failed = true;
        CERTA_ASSERT(p->done_count < EXEC_PIPE_MAX);
        p->done[(p->done_head + p->done_count) % EXEC_PIPE_MAX] = job;
        p->done_count++;
        uint64_t one = 1;
        ssize_t wr = write(p->efd, &one, sizeof one);
        (void)wr; /* a full counter still wakes the poll */
    }
    pthread_mutex_unlock(&p->mu);
    /* the cold store's open group is handed over and written before the
     * state is freed elsewhere (a failure leaves it to the next replay) */
    certa_errinfo ei;
    pthread_mutex_lock(&nd->state_mu);
    (void)certa_state_cold_flush(nd->state, &ei);
    pthread_mutex_unlock(&nd->state_mu);
    return NULL;
}

/* Moves the done jobs to nd->completed. Call with p->mu held. */
static void pipe_take_done_locked(certa_node *nd)
{
    exec_pipe *p = &nd->pipe;
    while (p->done_count > 0) {
        CERTA_ASSERT(nd->ncompleted < EXEC_PIPE_MAX); /* completed is empty between calls */
        nd->completed[nd->ncompleted++] = p->done[p->done_head];
        p->done_head = (p->done_head + 1) % EXEC_PIPE_MAX;
        p->done_count--;
        p->outstanding--;
    }
}

/* Hands a durable block to the execution stage (which then owns its rec
 * and verdicts), or returns false, leaving them to the caller, while EXEC_PIPE_MAX blocks are
 * outstanding: the caller keeps it and tries again after completions. */
bool node_pipe_try_push(certa_node *nd, const exec_item *it)
{
    exec_pipe *p = &nd->pipe;
    pthread_mutex_lock(&p->mu);
    bool full = p->outstanding == EXEC_PIPE_MAX;
    if (!full) {
        exec_job *job = calloc(1, sizeof *job);
        CERTA_ASSERT(job != NULL); /* a few hundred bytes per committed block */
        job->height = it->height;
        job->rec = it->rec;
        job->len = it->len;
        job->verdicts = it->verdicts;
        p->in[(p->in_head + p->in_count) % EXEC_PIPE_MAX] = job;
        p->in_count++;
        p->outstanding++;
        pthread_cond_signal(&p->work_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return !full;
}

/* Completes the executed blocks, in height order. */
certa_err node_pipe_complete(certa_node *nd, bool replying, certa_errinfo *ei)
{
    exec_pipe *p = &nd->pipe;
    uint64_t cnt;
    ssize_t rd = read(p->efd, &cnt, sizeof cnt); /* non-blocking: reset the wake-up */
    (void)rd;
    pthread_mutex_lock(&p->mu);
    pipe_take_done_locked(nd);
    certa_metric_set(nd->m.exec_queue, p->outstanding);
    pthread_mutex_unlock(&p->mu);
    certa_err e = CERTA_OK;
    bool any = false;
    for (uint32_t i = 0; i < nd->ncompleted; i++) {
        exec_job *job = nd->completed[i];
        if (e == CERTA_OK && job->err != CERTA_OK) {
            certa_log(CERTA_LOG_ERROR, "execute_failed", "\"height\":%llu,\"error\":\"%s\"",
                      (unsigned long long)job->height, certa_errmsg(&job->ei));
            e = certa_errorf(ei, job->err, "executing block %llu: %s",
                             (unsigned long long)job->height, certa_errmsg(&job->ei));
        }
        if (e == CERTA_OK) {
            complete_job(nd, job, replying);
            any = true;
        }
        job_free(job);
    }
    nd->ncompleted = 0;
    if (any && replying) {
        node_release_held(nd);
        /* The core may now propose. */
        certa_pbft_input tick = {.kind = CERTA_PBFT_IN_TICK};
        node_step(nd, &tick);
    }
    return e;
}

certa_err node_pipe_start(certa_node *nd, certa_errinfo *ei)
{
    exec_pipe *p = &nd->pipe;
    nd->x_executed = nd->executed;
    /* the recovery replay's open group of cold writes is written before
     * the execution thread applies blocks: the store is at the replayed
     * height, and a failure to write it stops the start here */
    certa_err e = certa_state_cold_flush(nd->state, ei);
    if (e != CERTA_OK)
        return e;
    if (pthread_create(&p->thread, NULL, exec_main, nd) != 0)
        return certa_errorf(ei, CERTA_E_IO, "cannot start the execution thread");
    pthread_setname_np(p->thread, "certa-exec"); /* top -H, perf */
    p->running = true;
    return CERTA_OK;
}

/* Lets the execution thread finish what is queued, then joins it. */
void node_pipe_stop(certa_node *nd)
{
    exec_pipe *p = &nd->pipe;
    if (!p->running)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    p->running = false;
}

/* Frees the jobs still in the rings or taken back (close, after stop). */
void node_pipe_free(certa_node *nd)
{
    exec_pipe *p = &nd->pipe;
    CERTA_ASSERT(!p->running);
    for (uint32_t i = 0; i < p->in_count; i++)
        job_free(p->in[(p->in_head + i) % EXEC_PIPE_MAX]);
    for (uint32_t i = 0; i < p->done_count; i++)
        job_free(p->done[(p->done_head + i) % EXEC_PIPE_MAX]);
    if (nd->completed != NULL)
        for (uint32_t i = 0; i < nd->ncompleted; i++)
            job_free(nd->completed[i]);
}
