/* Tests for engine/dedup.c: exact answers inside the horizon (in batches and
 * in block time), TOO_OLD only for forgotten ranges, out-of-order and
 * parallel sequence ranges of one integrator, and never a false NEW or a
 * false EXECUTED against a reference model over a long random run. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"

static certa_dedup *make(uint32_t batches, uint64_t horizon_ms)
{
    certa_dedup_params p = {.integrators = 4, .batches_max = batches, .horizon_ms = horizon_ms};
    certa_dedup *d = NULL;
    cr_assert_eq(certa_dedup_create(&p, &d, NULL), CERTA_OK);
    return d;
}

/* One block holding one batch per seq in [lo, hi] of integrator i. */
static uint64_t height_, events_;
static void block_of(certa_dedup *d, uint16_t i, uint64_t lo, uint64_t hi, uint64_t t)
{
    certa_dedup_begin_block(d, ++height_, t, events_);
    uint32_t k = 0;
    for (uint64_t s = lo; s <= hi; s++, k++)
        cr_assert_eq(certa_dedup_commit(d, i, s, k, NULL), CERTA_DEDUP_NEW,
                     "seq %llu of integrator %u not new", (unsigned long long)s, i);
    events_ += k;
}

static void reset(void)
{
    height_ = 0;
    events_ = 0;
}

TestSuite(dedup, .init = reset);

Test(dedup, parameters_out_of_range_are_refused)
{
    certa_dedup *d = NULL;
    certa_errinfo ei;
    certa_dedup_params p = {.integrators = 1, .batches_max = 8, .horizon_ms = 1000};
    cr_assert_eq(certa_dedup_create(&p, &d, &ei), CERTA_E_ARG);
    cr_assert_null(d);
    cr_assert(strstr(certa_errmsg(&ei), "8 batches") != NULL, "%s", certa_errmsg(&ei));
    p = (certa_dedup_params){.integrators = 1, .batches_max = 16, .horizon_ms = 0};
    cr_assert_eq(certa_dedup_create(&p, &d, NULL), CERTA_E_ARG);
}

Test(dedup, executed_batch_is_found_with_its_location)
{
    certa_dedup *d = make(1024, 60000);
    certa_dedup_begin_block(d, 1, 1000, 0);
    cr_assert_eq(certa_dedup_commit(d, 2, 7, 0, NULL), CERTA_DEDUP_NEW);
    cr_assert_eq(certa_dedup_commit(d, 2, 9, 3, NULL), CERTA_DEDUP_NEW);
    certa_dedup_begin_block(d, 2, 1010, 5);
    certa_dedup_loc loc;
    cr_assert_eq(certa_dedup_lookup(d, 2, 9, &loc), CERTA_DEDUP_EXECUTED);
    cr_assert_eq(loc.height, 1);
    cr_assert_eq(loc.time_ms, 1000);
    cr_assert_eq(loc.first_event, 3);
    /* committed again: a replay, the original location is kept */
    cr_assert_eq(certa_dedup_commit(d, 2, 9, 0, &loc), CERTA_DEDUP_EXECUTED);
    cr_assert_eq(loc.height, 1);
    cr_assert_eq(certa_dedup_lookup(d, 2, 9, &loc), CERTA_DEDUP_EXECUTED);
    cr_assert_eq(loc.first_event, 3);
    /* the same seq of another integrator, and its neighbours, are new */
    cr_assert_eq(certa_dedup_lookup(d, 1, 9, NULL), CERTA_DEDUP_NEW);
    cr_assert_eq(certa_dedup_lookup(d, 2, 8, NULL), CERTA_DEDUP_NEW);
    cr_assert_eq(certa_dedup_lookup(d, 2, 10, NULL), CERTA_DEDUP_NEW);
    /* nothing to execute: an unknown integrator or seq 0 */
    cr_assert_eq(certa_dedup_lookup(d, 4, 9, NULL), CERTA_DEDUP_TOO_OLD);
    cr_assert_eq(certa_dedup_lookup(d, 2, 0, NULL), CERTA_DEDUP_TOO_OLD);
    certa_dedup_free(d);
}

/* The repro: 50001..51199 executed, then 50000 is new, not a replay. */
Test(dedup, a_lower_sequence_after_many_higher_ones_is_new)
{
    certa_dedup *d = make(1u << 16, 3600000);
    for (uint64_t s = 50001; s <= 51199; s += 100)
        block_of(d, 1, s, s + 99 > 51199 ? 51199 : s + 99, 1000 + s);
    cr_assert_eq(certa_dedup_lookup(d, 1, 50000, NULL), CERTA_DEDUP_NEW);
    cr_assert_eq(certa_dedup_lookup(d, 1, 1, NULL), CERTA_DEDUP_NEW);
    cr_assert_eq(certa_dedup_lookup(d, 1, 50001, NULL), CERTA_DEDUP_EXECUTED);
    cr_assert_eq(certa_dedup_lookup(d, 1, 51199, NULL), CERTA_DEDUP_EXECUTED);
    block_of(d, 1, 50000, 50000, 60000);
    cr_assert_eq(certa_dedup_lookup(d, 1, 50000, NULL), CERTA_DEDUP_EXECUTED);
    certa_dedup_free(d);
}

Test(dedup, out_of_order_sequences_are_exact)
{
    certa_dedup *d = make(4096, 3600000);
    certa_dedup_begin_block(d, 1, 1, 0);
    static const uint64_t order[] = {500, 3, 9000, 4, 1, 2, 7000000, 501};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        cr_assert_eq(certa_dedup_commit(d, 0, order[i], (uint32_t)i, NULL), CERTA_DEDUP_NEW);
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        cr_assert_eq(certa_dedup_lookup(d, 0, order[i], NULL), CERTA_DEDUP_EXECUTED);
    static const uint64_t gaps[] = {5, 6, 499, 502, 8999, 9001, 6999999};
    for (size_t i = 0; i < sizeof gaps / sizeof gaps[0]; i++)
        cr_assert_eq(certa_dedup_lookup(d, 0, gaps[i], NULL), CERTA_DEDUP_NEW);
    certa_dedup_free(d);
}

/* Two submitters of one integrator on separate ranges, interleaved, and far
 * past the capacity: both ranges keep going, nothing is refused. */
Test(dedup, parallel_ranges_of_one_integrator_stay_independent)
{
    certa_dedup *d = make(64, 3600000);
    uint64_t a = 1, b = 1000000;
    for (int round = 0; round < 200; round++) {
        certa_dedup_begin_block(d, ++height_, 10 + (uint64_t)round, events_);
        for (int k = 0; k < 3; k++) {
            cr_assert_eq(certa_dedup_commit(d, 3, a, (uint32_t)(2 * k), NULL), CERTA_DEDUP_NEW,
                         "range A seq %llu", (unsigned long long)a);
            cr_assert_eq(certa_dedup_commit(d, 3, b, (uint32_t)(2 * k + 1), NULL),
                         CERTA_DEDUP_NEW, "range B seq %llu", (unsigned long long)b);
            a++;
            b++;
        }
        events_ += 6;
    }
    /* the last 64 are remembered, older ones of either range are too old,
     * the next numbers of either range are new */
    cr_assert_eq(certa_dedup_lookup(d, 3, a - 1, NULL), CERTA_DEDUP_EXECUTED);
    cr_assert_eq(certa_dedup_lookup(d, 3, b - 1, NULL), CERTA_DEDUP_EXECUTED);
    cr_assert_eq(certa_dedup_lookup(d, 3, 1, NULL), CERTA_DEDUP_TOO_OLD);
    cr_assert_eq(certa_dedup_lookup(d, 3, 1000000, NULL), CERTA_DEDUP_TOO_OLD);
    cr_assert_eq(certa_dedup_lookup(d, 3, a, NULL), CERTA_DEDUP_NEW);
    cr_assert_eq(certa_dedup_lookup(d, 3, b, NULL), CERTA_DEDUP_NEW);
    /* between the ranges, never touched: new */
    cr_assert_eq(certa_dedup_lookup(d, 3, 500000, NULL), CERTA_DEDUP_NEW);
    certa_dedup_free(d);
}

Test(dedup, horizon_in_batches_edge)
{
    certa_dedup *d = make(16, 3600000);
    block_of(d, 0, 1, 16, 100);
    for (uint64_t s = 1; s <= 16; s++)
        cr_assert_eq(certa_dedup_lookup(d, 0, s, NULL), CERTA_DEDUP_EXECUTED);
    block_of(d, 0, 17, 17, 101); /* pushes 1 out, exactly */
    cr_assert_eq(certa_dedup_lookup(d, 0, 1, NULL), CERTA_DEDUP_TOO_OLD);
    cr_assert_eq(certa_dedup_lookup(d, 0, 2, NULL), CERTA_DEDUP_EXECUTED);
    cr_assert_eq(certa_dedup_lookup(d, 0, 18, NULL), CERTA_DEDUP_NEW);
    /* a too-old batch committed again is not executed, and not remembered */
    certa_dedup_begin_block(d, ++height_, 102, events_);
    cr_assert_eq(certa_dedup_commit(d, 0, 1, 0, NULL), CERTA_DEDUP_TOO_OLD);
    cr_assert_eq(certa_dedup_lookup(d, 0, 2, NULL), CERTA_DEDUP_EXECUTED);
    certa_dedup_stats st;
    certa_dedup_stats_get(d, &st);
    cr_assert_eq(st.remembered, 16);
    cr_assert_eq(st.forgotten, 1);
    cr_assert_eq(st.oldest_height, 1);
    certa_dedup_free(d);
}

Test(dedup, horizon_in_block_time_edge)
{
    certa_dedup *d = make(1024, 1000);
    block_of(d, 0, 1, 1, 5000);
    block_of(d, 0, 2, 2, 5500);
    certa_dedup_begin_block(d, ++height_, 5999, events_); /* 999 ms later: kept */
    cr_assert_eq(certa_dedup_lookup(d, 0, 1, NULL), CERTA_DEDUP_EXECUTED);
    certa_dedup_begin_block(d, ++height_, 6000, events_); /* 1000 ms: forgotten */
    cr_assert_eq(certa_dedup_lookup(d, 0, 1, NULL), CERTA_DEDUP_TOO_OLD);
    cr_assert_eq(certa_dedup_lookup(d, 0, 2, NULL), CERTA_DEDUP_EXECUTED);
    /* a timestamp going back does not bring anything back or move time */
    certa_dedup_begin_block(d, ++height_, 10, events_);
    cr_assert_eq(certa_dedup_lookup(d, 0, 2, NULL), CERTA_DEDUP_EXECUTED);
    certa_dedup_begin_block(d, ++height_, 6500, events_);
    cr_assert_eq(certa_dedup_lookup(d, 0, 2, NULL), CERTA_DEDUP_TOO_OLD);
    cr_assert_eq(certa_dedup_lookup(d, 0, 3, NULL), CERTA_DEDUP_NEW);
    certa_dedup_free(d);
}

/* Sequence numbers that collided in a 16-bit hash (10010 and 18361, as
 * seen on a validator) and many more: all remembered at once, exactly. */
Test(dedup, no_eviction_by_hash_collision)
{
    const uint32_t n = 1u << 16;
    certa_dedup *d = make(n, 3600000);
    certa_dedup_begin_block(d, 1, 1, 0);
    for (uint32_t s = 1; s <= n; s++)
        cr_assert_eq(certa_dedup_commit(d, (uint16_t)(s % 4), s * 7919ull, s, NULL),
                     CERTA_DEDUP_NEW);
    for (uint32_t s = 1; s <= n; s++) {
        certa_dedup_loc loc;
        cr_assert_eq(certa_dedup_lookup(d, (uint16_t)(s % 4), s * 7919ull, &loc),
                     CERTA_DEDUP_EXECUTED);
        cr_assert_eq(loc.first_event, s);
    }
    certa_dedup_free(d);
    d = make(1024, 3600000);
    block_of(d, 0, 10010, 10010, 1);
    block_of(d, 0, 18361, 18361, 2);
    cr_assert_eq(certa_dedup_lookup(d, 0, 10010, NULL), CERTA_DEDUP_EXECUTED);
    certa_dedup_free(d);
}

/* Out-of-order forgetting fragments the retired ranges; past the limit the
 * closest merge. A number far from every range stays new. */
Test(dedup, retired_ranges_merge_closest_first)
{
    certa_dedup *d = make(16, 3600000);
    /* every third number, so no two forgotten numbers are adjacent */
    uint64_t s = 3;
    for (int i = 0; i < 16 + 40; i++, s += 3)
        block_of(d, 1, s, s, 10 + (uint64_t)i);
    /* 40 forgotten singletons: 3, 6, ..., 120; the closest merge */
    cr_assert_eq(certa_dedup_lookup(d, 1, 3, NULL), CERTA_DEDUP_TOO_OLD);
    cr_assert_eq(certa_dedup_lookup(d, 1, 120, NULL), CERTA_DEDUP_TOO_OLD);
    cr_assert_eq(certa_dedup_lookup(d, 1, 1, NULL), CERTA_DEDUP_NEW);
    cr_assert_eq(certa_dedup_lookup(d, 1, 2, NULL), CERTA_DEDUP_NEW);
    /* some gaps became too old to tell (merged), all are not new-or-executed lies */
    int too_old_gaps = 0;
    for (uint64_t g = 4; g < 120; g++)
        if (g % 3 != 0)
            too_old_gaps += certa_dedup_lookup(d, 1, g, NULL) == CERTA_DEDUP_TOO_OLD;
    cr_assert_gt(too_old_gaps, 0);
    cr_assert_eq(certa_dedup_lookup(d, 1, 1000000, NULL), CERTA_DEDUP_NEW);
    certa_dedup_free(d);
}

/* A long random run against a model that knows every executed batch:
 * NEW never for an executed one, EXECUTED only for an executed one with
 * its true location, every batch of the last `cap` exactly remembered. */
Test(dedup, random_run_never_lies)
{
    enum { CAP = 256, SEQS = 4096, ROUNDS = 20000 };
    certa_dedup *d = make(CAP, 50);
    static uint64_t exec_height[4][SEQS]; /* 0: not executed */
    memset(exec_height, 0, sizeof exec_height);
    uint64_t x = 88172645463325252ull, t = 0;
    uint64_t recent[CAP];
    uint64_t recent_t[CAP];
    uint32_t nrecent = 0;
    for (uint64_t h = 1; h <= ROUNDS; h++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        t += x % 3; /* often the same millisecond */
        certa_dedup_begin_block(d, h, t, h * 8);
        for (uint32_t k = 0; k < 1 + x % 4; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            uint16_t integ = (uint16_t)(x % 4);
            /* clustered ranges per integrator, out of order, with repeats */
            uint64_t seq = 1 + ((x >> 8) % 64) + (integ * 977 + (h / 16) * 37) % (SEQS - 80);
            certa_dedup_loc loc;
            certa_dedup_answer a = certa_dedup_commit(d, integ, seq, k, &loc);
            if (a == CERTA_DEDUP_NEW) {
                cr_assert_eq(exec_height[integ][seq], 0, "NEW for an executed batch");
                exec_height[integ][seq] = h;
                recent[nrecent % CAP] = ((uint64_t)integ << 32) | seq;
                recent_t[nrecent % CAP] = t;
                nrecent++;
            } else if (a == CERTA_DEDUP_EXECUTED) {
                cr_assert_eq(loc.height, exec_height[integ][seq], "EXECUTED at a wrong height");
            }
        }
        /* the last CAP batches younger than the horizon are remembered */
        for (uint32_t i = 0; i < CAP && i < nrecent; i++) {
            uint32_t at = (nrecent - 1 - i) % CAP;
            if (t - recent_t[at] >= 50)
                break;
            uint16_t integ = (uint16_t)(recent[at] >> 32);
            uint64_t seq = recent[at] & 0xffffffffu;
            cr_assert_eq(certa_dedup_lookup(d, integ, seq, NULL), CERTA_DEDUP_EXECUTED);
        }
    }
    certa_dedup_free(d);
}
