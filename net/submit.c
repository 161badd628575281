/* submit: JSON Lines events -> signed batches -> client library ->
 * receipts (see submit.h). Invariants: batch sequence numbers increase by
 * one from seq_first in file order; at most `window` batches are in flight;
 * every event read is counted exactly once as ok, rejected or not committed
 * (or as a bad line when it did not parse). */
#include "submit.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certa/codec.h"
#include "certa/event_json.h"
#include "certa/receipt.h"

typedef struct inflight {
    bool used;
    uint64_t seq;
    uint32_t events;
    unsigned long line_first, line_last;
} inflight;

typedef struct run {
    const certa_submit_opts *o;
    certa_submit_summary *s;
    certa_client *c;
    inflight *slots;
    uint32_t window;
    uint64_t started_ns, last_progress_ns;
    certa_receipt *rc; /* scratch, ~8 KiB */
    certa_receipt_line_cache *line; /* --receipts: the last block's shared parts */
    char *line_buf;                 /* --receipts: CERTA_RECEIPT_LINE_BYTES_MAX */
} run;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void progress(run *r, bool force)
{
    if (r->o->progress == NULL)
        return;
    uint64_t now = now_ns();
    uint64_t every = (uint64_t)(r->o->progress_ms ? r->o->progress_ms : 1000) * 1000000ull;
    if (!force && now - r->last_progress_ns < every)
        return;
    r->last_progress_ns = now;
    const certa_submit_summary *s = r->s;
    fprintf(r->o->progress, "submitted %" PRIu64 " events in %" PRIu64 " batches, "
            "committed %" PRIu64 " (ok %" PRIu64 ", rejected %" PRIu64 "), not "
            "committed %" PRIu64 ", in flight %u batches, %.1f s\n", s->events,
            s->batches, s->ok + s->rejected, s->ok, s->rejected, s->not_committed,
            certa_client_outstanding(r->c), (double)(now - r->started_ns) / 1e9);
    fflush(r->o->progress);
}

static void on_receipt(run *r, inflight *f, const certa_client_reply *rep)
{
    certa_receipt_batch b;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    uint32_t got = 0;
    if (certa_receipt_batch_decode(rep->body, rep->body_len, &b, &ei) != CERTA_OK) {
        snprintf(r->s->last_error, sizeof r->s->last_error, "batch seq %" PRIu64
                 ": unreadable receipt: %.1000s", f->seq, certa_errmsg(&ei));
    } else if (b.seq != f->seq) {
        snprintf(r->s->last_error, sizeof r->s->last_error, "batch seq %" PRIu64
                 ": receipt is for seq %" PRIu64, f->seq, b.seq);
    } else {
        size_t off = 0;
        while (got < f->events && certa_receipt_batch_next(&b, &off, r->rc)) {
            got++;
            if (r->rc->result == CERTA_RESULT_OK)
                r->s->ok++;
            else
                r->s->rejected++;
            if (r->rc->result < CERTA_SUBMIT_CODES_MAX)
                r->s->by_code[r->rc->result]++;
            if (r->o->receipts != NULL) {
                size_t n = certa_receipt_line(r->rc, r->line, r->line_buf,
                                              CERTA_RECEIPT_LINE_BYTES_MAX);
                if (n > 0) {
                    r->line_buf[n] = '\n';
                    fwrite(r->line_buf, 1, n + 1, r->o->receipts);
                    continue;
                }
                char *line = certa_receipt_format_json(r->rc); /* a reason to escape */
                if (line != NULL) {
                    fputs(line, r->o->receipts);
                    fputc('\n', r->o->receipts);
                    free(line);
                }
            }
        }
        if (got < f->events)
            snprintf(r->s->last_error, sizeof r->s->last_error, "batch seq %" PRIu64
                     ": receipt covers %u of %u events", f->seq, got, f->events);
    }
    certa_receipt_batch_free(&b);
    r->s->not_committed += f->events - got;
}

/* Waits for one final reply (up to timeout_ms) and accounts for it. */
static void pump(run *r, int timeout_ms)
{
    certa_client_reply rep;
    certa_err e = certa_client_poll(r->c, timeout_ms, &rep);
    if (e != CERTA_OK)
        return;
    if (!rep.final)
        return; /* ACCEPTED: the receipt follows */
    CERTA_ASSERT(rep.tag < r->window);
    inflight *f = &r->slots[rep.tag];
    CERTA_ASSERT(f->used);
    if (rep.type == CERTA_CP_RECEIPT) {
        on_receipt(r, f, &rep);
    } else {
        r->s->not_committed += f->events;
        if (rep.error.code == CERTA_E_TOO_OLD)
            r->s->too_old += f->events;
        else if (rep.error.code == CERTA_E_REFUSED)
            r->s->seq_used += f->events;
        snprintf(r->s->last_error, sizeof r->s->last_error, "batch seq %" PRIu64
                 " (lines %lu-%lu): %.1100s (%.200s)", f->seq, f->line_first, f->line_last,
                 rep.error.message, certa_strerror((certa_err)rep.error.code));
        if (r->o->progress != NULL)
            fprintf(r->o->progress, "%s\n", r->s->last_error);
    }
    f->used = false;
    progress(r, false);
}

static certa_err send_batch(run *r, certa_batch_builder *bb, uint64_t seq,
                            unsigned long first, unsigned long last,
                            certa_errinfo *ei)
{
    certa_err e = certa_batch_sign(bb, r->o->key, ei);
    if (e != CERTA_OK)
        return e;
    while (certa_client_outstanding(r->c) >= r->window)
        pump(r, 100);
    uint32_t k = 0;
    while (r->slots[k].used)
        k++;
    CERTA_ASSERT(k < r->window);
    uint64_t id;
    e = certa_client_submit(r->c, bb->buf, bb->len, k, &id);
    if (e != CERTA_OK)
        return certa_errorf(ei, e, "submitting batch seq %" PRIu64 ": %s", seq,
                            certa_strerror(e));
    r->slots[k] = (inflight){ true, seq, bb->count, first, last };
    r->s->batches++;
    r->s->events += bb->count;
    progress(r, false);
    return CERTA_OK;
}

certa_err certa_submit_run(const certa_submit_opts *o, certa_submit_summary *s,
                           certa_errinfo *ei)
{
    CERTA_ASSERT(o != NULL && s != NULL && o->genesis != NULL && o->key != NULL);
    memset(s, 0, sizeof *s);
    int idx = o->by_index ? (int)o->index
                          : certa_genesis_integrator_find(o->genesis, o->integrator);
    if (idx < 0)
        return certa_errorf(ei, CERTA_E_NOTFOUND, "integrator \"%s\" is not in "
                            "genesis (one the council added: give its index)",
                            o->integrator);
    uint8_t pub[CERTA_PUBKEY_BYTES];
    certa_key_public(o->key, pub);
    if (!o->by_index && !o->key_rotated &&
        memcmp(pub, o->genesis->integrators[idx].pub, CERTA_PUBKEY_BYTES) != 0)
        return certa_errorf(ei, CERTA_E_BAD_KEY, "the key is not integrator "
                            "\"%s\"'s key in genesis (if the council rotated it, "
                            "say so: --rotated-key)", o->integrator);
    uint32_t per_batch = o->batch_events ? o->batch_events : 256;
    if (per_batch > CERTA_BATCH_EVENTS_MAX)
        return certa_errorf(ei, CERTA_E_ARG, "batch of %u events: the limit is %u",
                            per_batch, CERTA_BATCH_EVENTS_MAX);

    run r = { .o = o, .s = s, .window = o->window ? o->window : 32 };
    certa_client_opts co = {
        .endpoint_count = o->endpoint_count, .endpoints = o->endpoints,
        .server_keys = o->server_keys, .window = r.window,
        .deadline_ms = o->deadline_ms ? o->deadline_ms : 60000,
        .attempt_timeout_ms = o->attempt_timeout_ms, .retries_max = o->retries_max,
    };
    certa_jsonl_reader *rd = NULL;
    uint8_t *buf = malloc(CERTA_BATCH_BYTES_MAX);
    r.slots = calloc(r.window, sizeof *r.slots);
    r.rc = malloc(sizeof *r.rc);
    if (o->receipts != NULL) {
        r.line = calloc(1, sizeof *r.line);
        r.line_buf = malloc(CERTA_RECEIPT_LINE_BYTES_MAX);
    }
    certa_err e = CERTA_OK;
    if (buf == NULL || r.slots == NULL || r.rc == NULL ||
        (o->receipts != NULL && (r.line == NULL || r.line_buf == NULL))) {
        e = certa_errorf(ei, CERTA_E_NOMEM, "allocating the submit buffers");
        goto out;
    }
    if ((e = o->events != NULL ? certa_jsonl_open_stream(o->events, o->events_path, &rd, ei)
                               : certa_jsonl_open(o->events_path, &rd, ei)) != CERTA_OK ||
        (e = certa_client_open(&co, &r.c, ei)) != CERTA_OK)
        goto out;
    r.started_ns = r.last_progress_ns = now_ns();

    uint64_t seq = o->seq_first ? o->seq_first : 1;
    certa_batch_builder bb;
    certa_batch_begin(&bb, buf, CERTA_BATCH_BYTES_MAX, (uint16_t)idx, seq);
    unsigned long first = 0, last = 0;
    for (;;) {
        certa_jsonl_item it;
        certa_errinfo lei;
        certa_errinfo_clear(&lei);
        certa_err le = certa_jsonl_next(rd, &it, &lei);
        if (le == CERTA_E_NOTFOUND)
            break;
        if (le != CERTA_OK) {
            s->bad_lines++;
            snprintf(s->last_error, sizeof s->last_error, "%s", certa_errmsg(&lei));
            fprintf(stderr, "certa submit: skipped: %s\n", certa_errmsg(&lei));
            continue;
        }
        if (it.kind != CERTA_JSONL_EVENT)
            continue; /* ticks only matter to the dry run */
        if (it.integrator[0] != '\0' && strcmp(it.integrator, o->integrator) != 0) {
            s->bad_lines++;
            snprintf(s->last_error, sizeof s->last_error, "%s:%lu: event names "
                     "integrator \"%s\", submitting as \"%s\"", o->events_path,
                     it.line, it.integrator, o->integrator);
            fprintf(stderr, "certa submit: skipped: %s\n", s->last_error);
            continue;
        }
        certa_errinfo aei;
        certa_err ae = certa_batch_add(&bb, &it.event, &aei);
        if (ae == CERTA_E_LIMIT && bb.count > 0) {
            /* Full in bytes: send it and start the next batch. */
            if ((e = send_batch(&r, &bb, seq, first, last, ei)) != CERTA_OK)
                goto out;
            certa_batch_begin(&bb, buf, CERTA_BATCH_BYTES_MAX, (uint16_t)idx, ++seq);
            ae = certa_batch_add(&bb, &it.event, &aei);
        }
        if (ae != CERTA_OK) {
            s->bad_lines++;
            snprintf(s->last_error, sizeof s->last_error, "%s:%lu: %s",
                     o->events_path, it.line, certa_errmsg(&aei));
            fprintf(stderr, "certa submit: skipped: %s\n", s->last_error);
            continue;
        }
        if (bb.count == 1)
            first = it.line;
        last = it.line;
        if (bb.count == per_batch) {
            if ((e = send_batch(&r, &bb, seq, first, last, ei)) != CERTA_OK)
                goto out;
            certa_batch_begin(&bb, buf, CERTA_BATCH_BYTES_MAX, (uint16_t)idx, ++seq);
        }
    }
    if (bb.count > 0 && (e = send_batch(&r, &bb, seq, first, last, ei)) != CERTA_OK)
        goto out;
    while (certa_client_outstanding(r.c) > 0)
        pump(&r, 100);
    s->seconds = (double)(now_ns() - r.started_ns) / 1e9;
    progress(&r, true);
out:
    if (e != CERTA_OK && r.c != NULL) {
        /* Stopped early: what was in flight is not known to be committed. */
        for (uint32_t k = 0; k < r.window; k++)
            if (r.slots[k].used)
                s->not_committed += r.slots[k].events;
    }
    certa_client_close(r.c);
    certa_jsonl_close(rd);
    free(r.rc);
    free(r.line);
    free(r.line_buf);
    free(r.slots);
    free(buf);
    return e;
}
