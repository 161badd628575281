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
