/* replay: the open-loop sender, the loopback fake transport and find-max.
 *
 * One thread does everything: it sends each batch when its scheduled time
 * comes and, in between, polls the transport for answers with a timeout that
 * ends at the next scheduled send. Outstanding batches sit in a fixed ring
 * indexed by token (the send counter): memory stays bounded however far the
 * cluster falls behind, and a batch pushed out of the ring counts as lost.
 * Latency is always answer time minus scheduled time.
 *
 * Aggregation (opts.agg) puts a per-integrator aggregator between the trace
 * and the transport: a slot then holds the parts (scheduled time, events)
 * of the trace batches its sealed batch carries, so each part's latency
 * runs from its own schedule. Open aggregators are kept in a short list
 * (integrators with events waiting) scanned for the earliest due time.
 */
#include "replay.h"

#include "certa/aggregate.h"
#include "certa/codec.h"

#include "net_transport.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until_ns(uint64_t when)
{
    struct timespec ts = {.tv_sec = (time_t)(when / 1000000000ull),
                          .tv_nsec = (long)(when % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
    }
}

/* ---- loopback fake ---- */

typedef struct fake_item {
    uint64_t token;
    uint64_t ready_ns;
    uint32_t events;
} fake_item;

typedef struct fake {
    certa_load_fake_opts o;
    fake_item *q;
    uint32_t cap, head, count;
    uint64_t server_free_ns;
    uint64_t event_counter;
} fake;

static certa_err fake_submit(void *ctx, uint64_t token, const uint8_t *batch, size_t len,
                             uint32_t events, certa_errinfo *ei)
{
    fake *f = ctx;
    (void)batch;
    if (len == 0)
        return certa_errorf(ei, CERTA_E_ARG, "empty batch");
    if (f->count == f->cap)
        return certa_errorf(ei, CERTA_E_BUSY, "fake cluster queue full (%u batches)", f->cap);
    uint64_t now = mono_ns();
    uint64_t start = f->server_free_ns > now ? f->server_free_ns : now;
    uint64_t service = f->o.events_per_s > 0 ? (uint64_t)(1e9 * events / f->o.events_per_s) : 0;
    f->server_free_ns = start + service;
    fake_item *it = &f->q[(f->head + f->count) % f->cap];
    it->token = token;
    it->events = events;
    it->ready_ns = f->server_free_ns + f->o.base_latency_us * 1000;
    f->count++;
    return CERTA_OK;
}

static size_t fake_poll(void *ctx, certa_load_answer *out, size_t cap, uint64_t timeout_us)
{
    fake *f = ctx;
    uint64_t now = mono_ns();
    uint64_t until = now + timeout_us * 1000;
    if (f->count == 0 || f->q[f->head].ready_ns > now) {
        uint64_t wake = until;
        if (f->count > 0 && f->q[f->head].ready_ns < wake)
            wake = f->q[f->head].ready_ns;
        if (wake > now)
            sleep_until_ns(wake);
        now = mono_ns();
    }
    size_t n = 0;
    while (n < cap && f->count > 0 && f->q[f->head].ready_ns <= now) {
        fake_item *it = &f->q[f->head];
        certa_load_answer *a = &out[n++];
        memset(a, 0, sizeof *a);
        a->token = it->token;
        a->status = CERTA_LOAD_COMMITTED;
        for (uint32_t i = 0; i < it->events; i++) {
            f->event_counter++;
            bool rej = f->o.reject_every > 0 && f->event_counter % f->o.reject_every == 0;
            a->reason_counts[rej ? 1 : 0]++;
        }
        f->head = (f->head + 1) % f->cap;
        f->count--;
    }
    return n;
}

static const char *fake_reason(void *ctx, uint32_t code)
{
    (void)ctx;
    return code == 0 ? "ok" : code == 1 ? "rejected" : NULL;
}

static void fake_destroy(void *ctx)
{
    fake *f = ctx;
    if (f == NULL)
        return;
    free(f->q);
    free(f);
}

certa_err certa_load_fake_new(const certa_load_fake_opts *o, certa_load_transport *out,
                              certa_errinfo *ei)
{
    fake *f = calloc(1, sizeof *f);
    uint32_t cap = o->queue_batches > 0 ? o->queue_batches : 65536;
    if (f == NULL || (f->q = calloc(cap, sizeof *f->q)) == NULL) {
        free(f);
        return certa_errorf(ei, CERTA_E_NOMEM, "fake transport");
    }
    f->o = *o;
    f->cap = cap;
    *out = (certa_load_transport){.ctx = f, .submit = fake_submit, .poll = fake_poll,
                                  .reason_name = fake_reason, .destroy = fake_destroy};
    return CERTA_OK;
}

/* ---- replay ---- */

void certa_load_replay_opts_default(certa_load_replay_opts *o)
{
    *o = (certa_load_replay_opts){.speed = 1.0, .drain_s = 10.0, .inflight_max = 1u << 20};
}

typedef struct slot {
    uint64_t token;
    uint64_t sched_ns;
    uint32_t events;
    bool used;
    /* aggregated: the trace batches' parts (malloc'ed), else NULL */
    uint64_t *parts_sched_ns;
    uint32_t *parts_events;
    uint32_t parts;
} slot;

/* One integrator's aggregator and the parts of its open batch. */
typedef struct aggq {
    certa_agg *agg;
    uint64_t first_seq; /* of the open batch's first trace batch */
    uint64_t last_seq;  /* the last sealed batch's */
    uint64_t *parts_sched_ns;
    uint32_t *parts_events;
    uint32_t parts, parts_cap;
    bool listed; /* in replayer.open */
} aggq;

typedef struct replayer {
    certa_load_run *run;
    certa_load_transport *tr;
    slot *ring;
    uint64_t mask;
    uint64_t inflight;
    uint64_t token;
    certa_load_answer answers[256];
    /* aggregation: one per integrator index (created when first used) */
    const certa_load_agg_opts *agg;
    aggq *q;
    uint16_t *open; /* integrators with events waiting */
    uint32_t open_count;
    /* progress */
    bool progress;
    bool first_error_kept;
    uint64_t last_print_ns, last_offered, last_committed;
} replayer;

static void slot_clear(slot *s)
{
    free(s->parts_sched_ns);
    free(s->parts_events);
    *s = (slot){0};
}

static void handle_answers(replayer *rp, size_t n, uint64_t now)
{
    for (size_t i = 0; i < n; i++) {
        const certa_load_answer *a = &rp->answers[i];
        slot *s = &rp->ring[a->token & rp->mask];
        if (!s->used || s->token != a->token)
            continue; /* already counted as lost */
        if (a->status == CERTA_LOAD_COMMITTED && s->parts > 0)
            certa_load_run_commit_parts(rp->run, now, s->parts_sched_ns, s->parts_events,
                                        s->parts, a->reason_counts, CERTA_LOAD_REASONS_MAX);
        else if (a->status == CERTA_LOAD_COMMITTED)
            certa_load_run_commit(rp->run, now, s->sched_ns, a->reason_counts,
                                  CERTA_LOAD_REASONS_MAX);
        else
            certa_load_run_fail(rp->run, now,
                                a->status == CERTA_LOAD_REFUSED ? CERTA_LOAD_FAIL_REFUSED
                                : a->status == CERTA_LOAD_LOST  ? CERTA_LOAD_FAIL_LOST
                                                                : CERTA_LOAD_FAIL_ERROR,
                                s->events);
        slot_clear(s);
        rp->inflight--;
    }
}

/* Hands one batch to the transport under the next token; on success the
 * slot takes the parts (*parts_sched_ns, *parts_events: malloc'ed, NULL
 * for a plain batch; freed here when the send fails). */
static void send_batch(replayer *rp, uint64_t now, uint64_t sched, const uint8_t *batch,
                       size_t len, uint32_t events, uint64_t *parts_sched_ns,
                       uint32_t *parts_events, uint32_t parts)
{
    slot *s = &rp->ring[rp->token & rp->mask];
    if (s->used) {
        certa_load_run_fail(rp->run, now, CERTA_LOAD_FAIL_LOST, s->events);
        slot_clear(s);
        rp->inflight--;
    }
    certa_errinfo sub_ei;
    certa_errinfo_clear(&sub_ei);
    certa_err e = rp->tr->submit(rp->tr->ctx, rp->token, batch, len, events, &sub_ei);
    if (e == CERTA_OK) {
        *s = (slot){.token = rp->token, .sched_ns = sched, .events = events, .used = true,
                    .parts_sched_ns = parts_sched_ns, .parts_events = parts_events,
                    .parts = parts};
        rp->inflight++;
    } else {
        free(parts_sched_ns);
        free(parts_events);
        certa_load_run_fail(rp->run, now,
                            e == CERTA_E_BUSY ? CERTA_LOAD_FAIL_REFUSED : CERTA_LOAD_FAIL_ERROR,
                            events);
        if (e != CERTA_E_BUSY && !rp->first_error_kept && rp->progress) {
            fprintf(stderr, "\nreplay: first send error: %s\n", certa_errmsg(&sub_ei));
            rp->first_error_kept = true;
        }
    }
    rp->token++;
}

/* Seals integrator i's open batch and sends it. */
static certa_err agg_send(replayer *rp, uint16_t i, uint64_t now, certa_errinfo *ei)
{
    aggq *q = &rp->q[i];
    CERTA_ASSERT(q->parts > 0 && certa_agg_pending(q->agg) > 0);
    uint64_t seq = q->first_seq > q->last_seq ? q->first_seq : q->last_seq + 1;
    const uint8_t *batch;
    size_t len;
    uint32_t events;
    certa_err e = certa_agg_seal(q->agg, seq, &batch, &len, &events, ei);
    if (e != CERTA_OK)
        return e;
    q->last_seq = seq;
    uint64_t *ps = malloc(q->parts * sizeof *ps);
    uint32_t *pe = malloc(q->parts * sizeof *pe);
    if (ps == NULL || pe == NULL) {
        free(ps);
        free(pe);
        return certa_errorf(ei, CERTA_E_NOMEM, "replay: parts of an aggregated batch");
    }
    memcpy(ps, q->parts_sched_ns, q->parts * sizeof *ps);
    memcpy(pe, q->parts_events, q->parts * sizeof *pe);
    for (uint32_t k = 0; k < q->parts; k++)
        certa_load_hist_record_n(&rp->run->agg_wait, now > ps[k] ? now - ps[k] : 0, pe[k]);
    rp->run->aggregated_batches++;
    uint32_t parts = q->parts;
    q->parts = 0;
    send_batch(rp, now, ps[0], batch, len, events, ps, pe, parts);
    return CERTA_OK;
}

/* Records that the open batch of q gained one event of a trace batch
 * scheduled at sched (one part per trace batch and sealed batch: at most
 * one per event, so parts_cap, the batch's events_max, always holds). */
static void agg_part(aggq *q, uint64_t sched)
{
    if (q->parts > 0 && q->parts_sched_ns[q->parts - 1] == sched) {
        q->parts_events[q->parts - 1]++;
        return;
    }
    CERTA_ASSERT(q->parts < q->parts_cap);
    q->parts_sched_ns[q->parts] = sched;
    q->parts_events[q->parts] = 1;
    q->parts++;
}

/* Feeds a due trace batch's events to its integrator's aggregator, sealing
 * and sending whenever the open batch is full. */
static certa_err agg_feed(replayer *rp, const certa_load_trace_rec *rec, uint64_t sched,
                          uint64_t now, uint64_t *next_ns, certa_errinfo *ei)
{
    certa_batch_view v;
    certa_err e = certa_batch_frame(rec->batch, rec->batch_bytes, &v, ei);
    if (e != CERTA_OK)
        return e;
    uint16_t i = v.integrator;
    if (i >= rp->agg->key_count || rp->agg->keys[i] == NULL)
        return certa_errorf(ei, CERTA_E_ARG,
                            "replay: no key to aggregate the batches of integrator %u", i);
    aggq *q = &rp->q[i];
    if (q->agg == NULL) {
        certa_agg_opts ao = {.integrator = i, .key = rp->agg->keys[i],
                             .window_us = rp->agg->window_us,
                             .events_max = rp->agg->events_max};
        e = certa_agg_new(&ao, &q->agg, ei);
        if (e != CERTA_OK)
            return e;
        q->parts_cap = ao.events_max ? ao.events_max : CERTA_BATCH_EVENTS_MAX;
        q->parts_sched_ns = malloc(q->parts_cap * sizeof *q->parts_sched_ns);
        q->parts_events = malloc(q->parts_cap * sizeof *q->parts_events);
        if (q->parts_sched_ns == NULL || q->parts_events == NULL)
            return certa_errorf(ei, CERTA_E_NOMEM, "replay: aggregator parts");
    }
    size_t pos = 0;
    const uint8_t *ev;
    size_t ev_len;
    while (certa_batch_next(&v, &pos, &ev, &ev_len)) {
        if (certa_agg_pending(q->agg) == 0)
            q->first_seq = v.seq;
        e = certa_agg_add(q->agg, ev, ev_len, sched / 1000, ei);
        if (e == CERTA_E_LIMIT) {
            e = agg_send(rp, i, now, ei);
            if (e != CERTA_OK)
                return e;
            q->first_seq = v.seq;
            e = certa_agg_add(q->agg, ev, ev_len, sched / 1000, ei);
        }
        if (e != CERTA_OK)
            return e;
        agg_part(q, sched);
    }
    if (!q->listed && certa_agg_pending(q->agg) > 0) {
        rp->open[rp->open_count++] = i;
        q->listed = true;
    }
    uint64_t due_us = certa_agg_due_us(q->agg);
    if (due_us != UINT64_MAX && due_us < *next_ns / 1000)
        *next_ns = due_us * 1000;
    return CERTA_OK;
}

/* Sends every open batch due by now (all of them when flush); returns the
 * earliest due time (ns) of those left, UINT64_MAX when none. */
static certa_err agg_due(replayer *rp, uint64_t now, bool flush, uint64_t *next_ns,
                         certa_errinfo *ei)
{
    uint64_t next = UINT64_MAX;
    for (uint32_t k = 0; k < rp->open_count;) {
        aggq *q = &rp->q[rp->open[k]];
        uint64_t due_us = certa_agg_due_us(q->agg);
        uint64_t due = due_us > UINT64_MAX / 1000 ? UINT64_MAX : due_us * 1000;
        if (due_us != UINT64_MAX && (flush || due <= now)) {
            certa_err e = agg_send(rp, rp->open[k], now, ei);
            if (e != CERTA_OK)
                return e;
            due = UINT64_MAX;
        }
        if (due == UINT64_MAX) { /* empty: off the list */
            q->listed = false;
            rp->open[k] = rp->open[--rp->open_count];
            continue;
        }
        if (due < next)
            next = due;
        k++;
    }
    *next_ns = next;
    return CERTA_OK;
}

static void agg_free(replayer *rp)
{
    if (rp->q == NULL)
        return;
    for (uint32_t i = 0; i < rp->agg->key_count; i++) {
        certa_agg_free(rp->q[i].agg);
        free(rp->q[i].parts_sched_ns);
        free(rp->q[i].parts_events);
    }
    free(rp->q);
    free(rp->open);
}

static void print_progress(replayer *rp, uint64_t now, double frac, bool final)
{
    if (!rp->progress)
        return;
    /* on a terminal, one line redrawn 4 times a second; in a log, a line
     * every 5 s */
    bool tty = isatty(STDERR_FILENO) != 0;
    if (!final && now - rp->last_print_ns < (tty ? 250000000ull : 5000000000ull))
        return;
    double dt = (double)(now - rp->last_print_ns) / 1e9;
    const certa_load_run *r = rp->run;
    double off = dt > 0 ? (double)(r->offered_events - rp->last_offered) / dt : 0;
    double com = dt > 0 ? (double)(r->committed_events - rp->last_committed) / dt : 0;
    if (final) {
        off = certa_load_run_offered_eps(r);
        com = certa_load_run_committed_eps(r);
    }
    if (frac < 0)
        frac = 0;
    if (frac > 1)
        frac = 1;
    char bar[21];
    int fill = (int)(frac * 20);
    for (int i = 0; i < 20; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[20] = '\0';
    fprintf(stderr,
            "%s[%s] %3.0f%% %6.1fs  sent %9.0f ev/s  committed %9.0f ev/s  p99 %8.2f ms  "
            "in flight %6llu  failed %llu%s",
            tty ? "\r" : "", bar, frac * 100, (double)now / 1e9, off, com,
            (double)certa_load_hist_percentile(&r->latency, 99) / 1e6,
            (unsigned long long)rp->inflight,
            (unsigned long long)certa_load_run_failed_batches(r), final || !tty ? "\n" : "  ");
    fflush(stderr);
    rp->last_print_ns = now;
    rp->last_offered = r->offered_events;
    rp->last_committed = r->committed_events;
}

certa_err certa_load_replay(const certa_load_trace *t, certa_load_transport *tr,
                            const certa_load_replay_opts *o, certa_load_run *run,
                            size_t *end_pos, certa_errinfo *ei)
{
    CERTA_ASSERT(t != NULL && tr != NULL && o != NULL && run != NULL);
    if (!(o->speed > 0) || o->inflight_max == 0 ||
        (o->inflight_max & (o->inflight_max - 1)) != 0)
        return certa_errorf(ei, CERTA_E_ARG,
                            "replay: speed must be > 0 and inflight_max a power of two");
    replayer rp = {.run = run, .tr = tr, .mask = o->inflight_max - 1, .progress = o->progress};
    rp.ring = calloc(o->inflight_max, sizeof *rp.ring);
    if (rp.ring == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "replay: in-flight table");
    bool aggregate = o->agg.window_us > 0;
    if (aggregate) {
        rp.agg = &o->agg;
        rp.q = calloc(o->agg.key_count ? o->agg.key_count : 1, sizeof *rp.q);
        rp.open = calloc(o->agg.key_count ? o->agg.key_count : 1, sizeof *rp.open);
        if (rp.q == NULL || rp.open == NULL) {
            free(rp.q);
            free(rp.open);
            free(rp.ring);
            return certa_errorf(ei, CERTA_E_NOMEM, "replay: aggregators");
        }
        run->aggregate_window_us = o->agg.window_us;
    }
    run->speed = o->speed;

    const certa_load_trace_info *info = certa_load_trace_get_info(t);
    size_t pos = o->start_pos >= CERTA_LOAD_TRACE_HEADER_BYTES ? o->start_pos
                                                                : CERTA_LOAD_TRACE_HEADER_BYTES;
    size_t pos_unsent = pos;
    certa_load_trace_rec rec;
    bool have = certa_load_trace_next(t, &pos, &rec);
    uint64_t base_us = have ? rec.at_us : 0;
    uint64_t span_us = have && info->last_at_us > base_us ? info->last_at_us - base_us : 1;
    uint64_t send_deadline = o->duration_s > 0 ? (uint64_t)(o->duration_s * 1e9) : UINT64_MAX;
    uint64_t drain_ns = (uint64_t)(o->drain_s * 1e9);
    uint64_t sends_since_poll = 0, done_at = 0, last_sched_us = base_us;
    uint64_t agg_next = UINT64_MAX; /* the earliest open batch's due time */
    bool flushed = false;
    certa_err failed = CERTA_OK;

    uint64_t start = mono_ns();
    run->started_unix_ms = (uint64_t)time(NULL) * 1000;
    uint64_t now = 0;
    for (;;) {
        now = mono_ns() - start;
        uint64_t sched = have ? (uint64_t)((double)(rec.at_us - base_us) * 1000.0 / o->speed) : 0;
        bool sending = have && sched < send_deadline;
        if (aggregate && (agg_next <= now || (!sending && !flushed))) {
            /* open batches due; all of them once the sending is over */
            if ((failed = agg_due(&rp, now, !sending, &agg_next, ei)) != CERTA_OK)
                break;
            flushed = !sending;
            continue;
        }
        if (sending && sched <= now) {
            certa_load_run_offer(run, now, sched, rec.events);
            run->expected_rejected_events += rec.expected_rejects;
            if (aggregate) {
                if ((failed = agg_feed(&rp, &rec, sched, now, &agg_next, ei)) != CERTA_OK)
                    break;
            } else {
                send_batch(&rp, now, sched, rec.batch, rec.batch_bytes, rec.events, NULL, NULL, 0);
            }
            last_sched_us = rec.at_us;
            pos_unsent = pos;
            have = certa_load_trace_next(t, &pos, &rec);
            if (++sends_since_poll >= 32) {
                sends_since_poll = 0;
                handle_answers(&rp, tr->poll(tr->ctx, rp.answers, 256, 0), mono_ns() - start);
            }
            continue;
        }
        uint64_t timeout_ns;
        if (!sending) {
            if (done_at == 0)
                done_at = now > 0 ? now : 1;
            if (rp.inflight == 0 || now >= done_at + drain_ns)
                break;
            timeout_ns = done_at + drain_ns - now;
        } else {
            timeout_ns = sched - now;
        }
        if (agg_next != UINT64_MAX && agg_next - now < timeout_ns)
            timeout_ns = agg_next - now; /* agg_next > now here */
        if (timeout_ns > 50000000ull)
            timeout_ns = 50000000ull;
        sends_since_poll = 0;
        size_t n = tr->poll(tr->ctx, rp.answers, 256, timeout_ns / 1000);
        handle_answers(&rp, n, mono_ns() - start);
        double frac = o->duration_s > 0 ? (double)now / (o->duration_s * 1e9)
                                         : (double)(last_sched_us - base_us) / (double)span_us;
        print_progress(&rp, mono_ns() - start, frac, false);
    }
    /* whatever is still outstanding after the drain is lost */
    for (uint64_t i = 0; i <= rp.mask; i++)
        if (rp.ring[i].used) {
            certa_load_run_fail(run, now, CERTA_LOAD_FAIL_LOST, rp.ring[i].events);
            rp.inflight--;
            slot_clear(&rp.ring[i]);
        }
    agg_free(&rp);
    if (failed != CERTA_OK) {
        free(rp.ring);
        return failed;
    }
    /* reason names are known once receipts have named them */
    for (uint32_t c = 1; c < CERTA_LOAD_REASONS_MAX && tr->reason_name != NULL; c++) {
        const char *nm = tr->reason_name(tr->ctx, c);
        if (nm != NULL)
            certa_load_run_name_reason(run, c, nm);
    }
    run->trace_span_s = (double)(last_sched_us - base_us) / 1e6;
    certa_load_run_finish(run, now);
    print_progress(&rp, now, 1.0, true);
    if (end_pos != NULL)
        *end_pos = have ? pos_unsent : pos;
    free(rp.ring);
    return CERTA_OK;
}

/* ---- find-max ---- */

void certa_load_findmax_opts_default(certa_load_findmax_opts *o)
{
    *o = (certa_load_findmax_opts){.speed_start = 1.0, .factor = 2.0, .step_s = 10.0,
                                   .slo_p99_ms = 100.0, .refine = 3, .confirm = 1,
                                   .drain_s = 10.0};
}

certa_err certa_load_find_max(const certa_load_trace *t, certa_load_transport *tr,
                              const certa_load_findmax_opts *o,
                              certa_load_findmax_result *res, certa_errinfo *ei)
{
    if (!(o->speed_start > 0) || !(o->factor > 1) || !(o->step_s > 0) ||
        !(o->slo_p99_ms > 0))
        return certa_errorf(ei, CERTA_E_ARG,
                            "find-max: speed_start > 0, factor > 1, step_s > 0, slo > 0");
    memset(res, 0, sizeof *res);
    size_t pos = CERTA_LOAD_TRACE_HEADER_BYTES;
    double speed = o->speed_start, bad = 0;
    uint32_t refine_left = o->refine, tries_left = o->confirm;
    bool retrying = false;
    while (res->step_count < CERTA_LOAD_FINDMAX_STEPS_MAX) {
        certa_load_run *run = certa_load_run_new(o->step_s);
        if (run == NULL)
            return certa_errorf(ei, CERTA_E_NOMEM, "find-max");
        certa_load_replay_opts ro;
        certa_load_replay_opts_default(&ro);
        ro.speed = speed;
        ro.duration_s = o->step_s;
        ro.drain_s = o->drain_s;
        ro.start_pos = pos;
        ro.progress = o->progress;
        ro.agg = o->agg;
        if (o->progress)
            fprintf(stderr, "find-max: step %u at speed %.3g\n", res->step_count + 1, speed);
        size_t end = pos;
        certa_err e = certa_load_replay(t, tr, &ro, run, &end, ei);
        if (e != CERTA_OK) {
            certa_load_run_free(run);
            return e;
        }
        certa_load_findmax_step *st = &res->steps[res->step_count++];
        st->speed = speed;
        st->offered_eps = certa_load_run_offered_eps(run);
        st->committed_eps = certa_load_run_committed_eps(run);
        st->p50_ms = (double)certa_load_hist_percentile(&run->latency, 50) / 1e6;
        st->p99_ms = (double)certa_load_hist_percentile(&run->latency, 99) / 1e6;
        st->offered_events = run->offered_events;
        st->committed_events = run->committed_events;
        st->committed_batches = run->committed_batches;
        st->agg_wait_p99_ms = (double)certa_load_hist_percentile(&run->agg_wait, 99) / 1e6;
        st->failed_batches = certa_load_run_failed_batches(run);
        size_t probe = end;
        certa_load_trace_rec rec;
        st->exhausted = !certa_load_trace_next(t, &probe, &rec);
        /* a step cut short by the end of the trace measured less than
         * step_s of load: it cannot vouch for the speed */
        st->pass = !st->exhausted && st->p99_ms <= o->slo_p99_ms && st->failed_batches == 0 &&
                   st->committed_events > 0;
        st->retry = retrying;
        certa_load_run_free(run);
        pos = end;
        if (st->exhausted) {
            res->exhausted = true;
            if (retrying) { /* the failure it was confirming stands */
                if (bad == 0 || speed < bad)
                    bad = speed;
                res->bounded = res->best_speed > 0;
            }
            break;
        }
        if (!st->pass && tries_left > 0 && res->step_count < CERTA_LOAD_FINDMAX_STEPS_MAX) {
            tries_left--; /* same speed once more before it counts */
            retrying = true;
            continue;
        }
        tries_left = o->confirm;
        retrying = false;
        if (st->pass) {
            if (speed > res->best_speed)
                res->best_speed = speed;
        } else if (bad == 0 || speed < bad) {
            bad = speed;
        }
        if (bad == 0) {
            speed *= o->factor;
            continue;
        }
        res->bounded = res->best_speed > 0;
        if (refine_left == 0)
            break;
        refine_left--;
        speed = res->best_speed > 0 ? sqrt(res->best_speed * bad) : bad / o->factor;
    }
    return CERTA_OK;
}

certa_err certa_load_transport_open(const char *endpoints, const char *genesis_path,
                                    uint32_t window, certa_load_transport *out,
                                    certa_errinfo *ei)
{
    if (strncmp(endpoints, "loopback", 8) == 0 &&
        (endpoints[8] == '\0' || endpoints[8] == ':')) {
        certa_load_fake_opts fo = {.base_latency_us = 1000};
        unsigned long long v[3] = {fo.base_latency_us, 0, 0};
        const char *p = endpoints + 8;
        for (int i = 0; i < 3 && *p == ':'; i++) {
            char *end = NULL;
            v[i] = strtoull(p + 1, &end, 10);
            if (end == p + 1)
                return certa_errorf(ei, CERTA_E_ARG, "endpoints %s: expected a number after ':'",
                                    endpoints);
            p = end;
        }
        if (*p != '\0')
            return certa_errorf(ei, CERTA_E_ARG, "endpoints %s: trailing '%s'", endpoints, p);
        fo.base_latency_us = v[0];
        fo.events_per_s = (double)v[1];
        fo.queue_batches = v[2] > 0 && v[2] < (1ull << 24) ? (uint32_t)v[2] : 0;
        return certa_load_fake_new(&fo, out, ei);
    }
    if (strncmp(endpoints, "tcp://", 6) == 0 || strcmp(endpoints, "genesis") == 0)
        return certa_load_net_open(endpoints, genesis_path, window, out, ei);
    return certa_errorf(ei, CERTA_E_ARG,
                        "endpoints %s: expected loopback[:...], genesis or tcp://HOST:PORT",
                        endpoints);
}
