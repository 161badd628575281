/* Tests for load/replay.c against the loopback fake: an open-loop
 * replay's committed count equals the answers and the offered events; a
 * cluster slower than the offered rate shows up as growing latency measured
 * from the schedule (no coordinated omission); a full queue is counted as
 * refused; continuing from end_pos sends every batch exactly once; find-max
 * lands near the fake's capacity. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certa/codec.h"
#include "certa/crypto.h"
#include "replay.h"

/* records batches of `events` every `gap_us` for `count` records */
static certa_load_trace *make_trace(char *path, size_t cap, uint32_t count, uint64_t gap_us,
                                    uint32_t events)
{
    static int n;
    snprintf(path, cap, "/tmp/certa-replay-%d-%d.trc", (int)getpid(), n++);
    certa_load_trace_info info = {.seed = 1, .hours = 1, .scale_milli = 1000};
    certa_load_trace_writer *w = NULL;
    cr_assert_eq(certa_load_trace_create(path, &info, &w, NULL), CERTA_OK);
    uint8_t batch[64] = {1};
    for (uint32_t i = 0; i < count; i++) {
        certa_load_trace_rec r = {.at_us = 5000000 + i * gap_us, .events = events,
                                  .expected_rejects = i % 10 == 0, .batch = batch,
                                  .batch_bytes = sizeof batch};
        cr_assert_eq(certa_load_trace_append(w, &r, NULL), CERTA_OK);
    }
    cr_assert_eq(certa_load_trace_finish(w, NULL), CERTA_OK);
    certa_load_trace *t = NULL;
    cr_assert_eq(certa_load_trace_open(path, &t, NULL), CERTA_OK);
    return t;
}

Test(load_replay, committed_equals_answers)
{
    char path[128];
    certa_load_trace *t = make_trace(path, sizeof path, 2000, 1000, 4); /* 2 s, 4,000 ev/s */
    certa_load_transport tr;
    certa_load_fake_opts fo = {.base_latency_us = 2000, .reject_every = 50};
    cr_assert_eq(certa_load_fake_new(&fo, &tr, NULL), CERTA_OK);
    certa_load_replay_opts o;
    certa_load_replay_opts_default(&o);
    o.speed = 4;
    certa_load_run *run = certa_load_run_new(1);
    size_t end = 0;
    cr_assert_eq(certa_load_replay(t, &tr, &o, run, &end, NULL), CERTA_OK);
    cr_assert_eq(run->offered_batches, 2000);
    cr_assert_eq(run->committed_batches, 2000);
    cr_assert_eq(run->committed_events, 8000);
    cr_assert_eq(run->reason_events[0] + run->reason_events[1], 8000);
    cr_assert_eq(run->reason_events[1], 8000 / 50);
    cr_assert_str_eq(run->reason_names[1], "rejected");
    cr_assert_eq(run->expected_rejected_events, 200);
    cr_assert_eq(certa_load_run_failed_batches(run), 0);
    cr_assert(run->duration_s > 0.45 && run->duration_s < 3, "duration %f", run->duration_s);
    double p50 = (double)certa_load_hist_percentile(&run->latency, 50) / 1e6;
    cr_assert(p50 >= 1.9 && p50 < 20, "p50 %f ms", p50);
    certa_load_trace_rec rec;
    cr_assert(!certa_load_trace_next(t, &end, &rec), "end_pos is not the end");
    tr.destroy(tr.ctx);
    certa_load_run_free(run);
    certa_load_trace_close(t);
    remove(path);
}

Test(load_replay, slow_cluster_shows_as_latency_from_schedule)
{
    char path[128];
    certa_load_trace *t = make_trace(path, sizeof path, 500, 1000, 10); /* 10,000 ev/s */
    certa_load_transport tr;
    certa_load_fake_opts fo = {.base_latency_us = 1000, .events_per_s = 5000};
    cr_assert_eq(certa_load_fake_new(&fo, &tr, NULL), CERTA_OK);
    certa_load_replay_opts o;
    certa_load_replay_opts_default(&o);
    certa_load_run *run = certa_load_run_new(1);
    cr_assert_eq(certa_load_replay(t, &tr, &o, run, NULL, NULL), CERTA_OK);
    cr_assert_eq(run->committed_events, 5000);
    /* 0.5 s of load at twice the capacity: the last batch waits ~0.5 s */
    double p99 = (double)certa_load_hist_percentile(&run->latency, 99) / 1e6;
    double mx = (double)run->latency.max / 1e6;
    cr_assert(mx > 400 && mx < 1500, "max %f ms", mx);
    cr_assert(p99 > 350, "p99 %f ms", p99);
    tr.destroy(tr.ctx);
    certa_load_run_free(run);
    certa_load_trace_close(t);
    remove(path);
}

Test(load_replay, full_queue_is_refused_and_unanswered_is_lost)
{
    char path[128];
    certa_load_trace *t = make_trace(path, sizeof path, 300, 1000, 10);
    certa_load_transport tr;
    certa_load_fake_opts fo = {.base_latency_us = 1000, .events_per_s = 1000, .queue_batches = 20};
    cr_assert_eq(certa_load_fake_new(&fo, &tr, NULL), CERTA_OK);
    certa_load_replay_opts o;
    certa_load_replay_opts_default(&o);
    o.drain_s = 0.05; /* the 20 queued need 0.2 s: some must end up lost */
    certa_load_run *run = certa_load_run_new(1);
    cr_assert_eq(certa_load_replay(t, &tr, &o, run, NULL, NULL), CERTA_OK);
    cr_assert_gt(run->failed_batches[CERTA_LOAD_FAIL_REFUSED], 200);
    cr_assert_gt(run->failed_batches[CERTA_LOAD_FAIL_LOST], 0);
    cr_assert_eq(run->committed_batches + certa_load_run_failed_batches(run), 300);
    tr.destroy(tr.ctx);
    certa_load_run_free(run);
    certa_load_trace_close(t);
    remove(path);
}

Test(load_replay, duration_then_continue_sends_each_batch_once)
{
    char path[128];
    certa_load_trace *t = make_trace(path, sizeof path, 1000, 1000, 1); /* 1 s */
    certa_load_transport tr;
    certa_load_fake_opts fo = {.base_latency_us = 100};
    cr_assert_eq(certa_load_fake_new(&fo, &tr, NULL), CERTA_OK);
    certa_load_replay_opts o;
    certa_load_replay_opts_default(&o);
    o.speed = 2;
    o.duration_s = 0.2; /* 0.4 s of trace */
    certa_load_run *a = certa_load_run_new(1), *b = certa_load_run_new(1);
    size_t end = 0;
    cr_assert_eq(certa_load_replay(t, &tr, &o, a, &end, NULL), CERTA_OK);
    cr_assert(a->offered_batches > 300 && a->offered_batches < 500, "%llu",
              (unsigned long long)a->offered_batches);
    o.duration_s = 0;
    o.start_pos = end;
    cr_assert_eq(certa_load_replay(t, &tr, &o, b, NULL, NULL), CERTA_OK);
    cr_assert_eq(a->offered_batches + b->offered_batches, 1000);
    cr_assert_eq(a->committed_batches + b->committed_batches, 1000);
    tr.destroy(tr.ctx);
    certa_load_run_free(a);
    certa_load_run_free(b);
    certa_load_trace_close(t);
    remove(path);
}

Test(load_replay, find_max_lands_near_capacity)
{
    char path[128];
    /* 1,000 ev/s at speed 1, 120 s of trace; the fake serves 16,000 ev/s */
    certa_load_trace *t = make_trace(path, sizeof path, 12000, 10000, 10);
    certa_load_transport tr;
    certa_load_fake_opts fo = {.base_latency_us = 500, .events_per_s = 16000};
    cr_assert_eq(certa_load_fake_new(&fo, &tr, NULL), CERTA_OK);
    certa_load_findmax_opts o;
    certa_load_findmax_opts_default(&o);
    o.step_s = 0.4;
    o.drain_s = 2;
    o.refine = 2;
    certa_load_findmax_result res;
    cr_assert_eq(certa_load_find_max(t, &tr, &o, &res, NULL), CERTA_OK);
    cr_assert(!res.exhausted);
    cr_assert(res.bounded);
    cr_assert(res.best_speed >= 8 && res.best_speed <= 21, "best %f", res.best_speed);
    cr_assert(!res.steps[res.step_count - 1].exhausted);
    int fails = 0;
    for (uint32_t i = 0; i < res.step_count; i++)
        fails += !res.steps[i].pass;
    cr_assert_geq(fails, 1);
    tr.destroy(tr.ctx);
    certa_load_trace_close(t);
    remove(path);
}

/* ---- aggregation: a capturing transport that answers every batch at once */

#define CAP_MAX 4096
typedef struct capture {
    uint8_t *bytes[CAP_MAX];
    size_t len[CAP_MAX];
    uint32_t events[CAP_MAX];
    uint64_t token[CAP_MAX];
    uint32_t n, answered;
} capture;

static certa_err cap_submit(void *ctx, uint64_t token, const uint8_t *batch, size_t len,
                            uint32_t events, certa_errinfo *ei)
{
    (void)ei;
    capture *c = ctx;
    cr_assert_lt(c->n, CAP_MAX);
    c->bytes[c->n] = malloc(len);
    memcpy(c->bytes[c->n], batch, len);
    c->len[c->n] = len;
    c->events[c->n] = events;
    c->token[c->n] = token;
    c->n++;
    return CERTA_OK;
}

static size_t cap_poll(void *ctx, certa_load_answer *out, size_t cap, uint64_t timeout_us)
{
    capture *c = ctx;
    size_t k = 0;
    while (c->answered < c->n && k < cap) {
        out[k] = (certa_load_answer){.token = c->token[c->answered],
                                     .status = CERTA_LOAD_COMMITTED};
        out[k].reason_counts[0] = c->events[c->answered];
        c->answered++;
        k++;
    }
    if (k == 0 && timeout_us > 0)
        usleep(timeout_us < 2000 ? (useconds_t)timeout_us : 2000);
    return k;
}

static void cap_destroy(void *ctx) { (void)ctx; }

static size_t confirm_event(uint32_t i, uint8_t out[CERTA_EVENT_BYTES_MAX])
{
    certa_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = CERTA_EV_CONFIRM;
    memcpy(ev.grant_id, &i, sizeof i);
    ev.centre = 1;
    ev.counter = 1;
    memset(ev.evidence, 0xe1, sizeof ev.evidence);
    size_t len = 0;
    cr_assert_eq(certa_event_encode(&ev, out, CERTA_EVENT_BYTES_MAX, &len, NULL), CERTA_OK);
    return len;
}

/* Two integrators, a signed batch of 2 events each every 1 ms (event
 * numbers 0, 1, 2, ... per integrator in trace order), sent through
 * aggregators with a 5 ms window and at most 3 events a batch: what leaves
 * is every event exactly once, in order, in fewer batches, each signed and
 * under rising sequence numbers, and latency counts the wait. */
Test(load_replay, aggregation_keeps_every_event_in_order_and_counts_the_wait)
{
    certa_key *keys[2];
    certa_pubkey *pubs[2];
    for (int k = 0; k < 2; k++) {
        uint8_t seed[32], raw[CERTA_PUBKEY_BYTES];
        memset(seed, 0x30 + k, sizeof seed);
        cr_assert_eq(certa_key_from_seed(seed, &keys[k], NULL), CERTA_OK);
        certa_key_public(keys[k], raw);
        cr_assert_eq(certa_pubkey_from_raw(raw, &pubs[k], NULL), CERTA_OK);
    }
    char path[128];
    snprintf(path, sizeof path, "/tmp/certa-replay-agg-%d.trc", (int)getpid());
    certa_load_trace_info info = {.seed = 1, .hours = 1, .scale_milli = 1000};
    certa_load_trace_writer *w = NULL;
    cr_assert_eq(certa_load_trace_create(path, &info, &w, NULL), CERTA_OK);
    enum { RECS = 200 };
    uint32_t next_ev[2] = {0, 0};
    for (uint32_t r = 0; r < RECS; r++) {
        uint16_t integ = (uint16_t)(r % 2);
        uint8_t buf[4096];
        certa_batch_builder bb;
        certa_batch_begin(&bb, buf, sizeof buf, integ, 1000 + r); /* rising per integrator */
        for (int e = 0; e < 2; e++) {
            uint8_t evb[CERTA_EVENT_BYTES_MAX];
            certa_event ev;
            size_t len = confirm_event(next_ev[integ]++, evb);
            cr_assert_eq(certa_event_decode(evb, len, &ev, NULL), CERTA_OK);
            cr_assert_eq(certa_batch_add(&bb, &ev, NULL), CERTA_OK);
        }
        cr_assert_eq(certa_batch_sign(&bb, keys[integ], NULL), CERTA_OK);
        certa_load_trace_rec rec = {.at_us = 1000000 + (uint64_t)(r / 2) * 1000, .events = 2,
                                    .integrator = integ, .batch = buf,
                                    .batch_bytes = (uint32_t)bb.len};
        cr_assert_eq(certa_load_trace_append(w, &rec, NULL), CERTA_OK);
    }
    cr_assert_eq(certa_load_trace_finish(w, NULL), CERTA_OK);
    certa_load_trace *t = NULL;
    cr_assert_eq(certa_load_trace_open(path, &t, NULL), CERTA_OK);

    static capture c;
    memset(&c, 0, sizeof c);
    certa_load_transport tr = {.ctx = &c, .submit = cap_submit, .poll = cap_poll,
                               .destroy = cap_destroy};
    certa_load_replay_opts o;
    certa_load_replay_opts_default(&o);
    o.drain_s = 1;
    o.agg = (certa_load_agg_opts){.window_us = 5000, .events_max = 3, .keys = keys,
                                  .key_count = 2};
    certa_load_run *run = certa_load_run_new(1);
    cr_assert_eq(certa_load_replay(t, &tr, &o, run, NULL, NULL), CERTA_OK);

    cr_assert_eq(run->offered_batches, RECS);
    cr_assert_eq(run->committed_events, 2 * RECS, "every event answered once");
    cr_assert_eq(certa_load_run_failed_batches(run), 0);
    cr_assert_eq(run->aggregated_batches, c.n);
    cr_assert_lt(c.n, RECS, "%u batches sent for %u trace batches", c.n, RECS);
    uint32_t seen[2] = {0, 0};
    uint64_t last_seq[2] = {0, 0};
    for (uint32_t b = 0; b < c.n; b++) {
        certa_batch_view v;
        certa_errinfo ei;
        cr_assert_eq(certa_batch_decode(c.bytes[b], c.len[b], &v, &ei), CERTA_OK, "%s", ei.msg);
        cr_assert_lt(v.integrator, 2);
        cr_assert_eq(certa_batch_verify(&v, pubs[v.integrator], NULL), CERTA_OK,
                     "batch %u signed by its integrator", b);
        cr_assert_leq(v.event_count, 3, "events_max holds");
        cr_assert_gt(v.seq, last_seq[v.integrator], "sequence numbers rise");
        last_seq[v.integrator] = v.seq;
        size_t pos = 0;
        const uint8_t *e;
        size_t elen;
        while (certa_batch_next(&v, &pos, &e, &elen)) {
            certa_event ev;
            cr_assert_eq(certa_event_decode(e, elen, &ev, NULL), CERTA_OK);
            uint32_t num;
            memcpy(&num, ev.grant_id, sizeof num);
            cr_assert_eq(num, seen[v.integrator], "integrator %u: event %u where %u was due",
                         v.integrator, num, seen[v.integrator]);
            seen[v.integrator]++;
        }
        free(c.bytes[b]);
    }
    cr_assert_eq(seen[0], RECS, "integrator 0 sent all its events");
    cr_assert_eq(seen[1], RECS);
    /* a 3-event cap on 2-event trace batches splits some: the wait stays
     * under the window, and it counts in the latency */
    cr_assert_gt(run->agg_wait.count, 0);
    cr_assert_geq(certa_load_hist_percentile(&run->latency, 50),
                  certa_load_hist_percentile(&run->agg_wait, 50));
    for (int k = 0; k < 2; k++) {
        certa_key_free(keys[k]);
        certa_pubkey_free(pubs[k]);
    }
    tr.destroy(tr.ctx);
    certa_load_run_free(run);
    certa_load_trace_close(t);
    remove(path);
}
