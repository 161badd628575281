/* Tests for load/hist.c: percentiles against exact nearest-rank
 * percentiles of known data (within 1 %), the bucket layout's bounds, and
 * merging (two halves merged equal the whole). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_u64(void)
{
    /* splitmix64: fixed sequence, so a failure reproduces */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double next_unit(void) { return (double)(next_u64() >> 11) / 9007199254740992.0; }

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t exact(const uint64_t *sorted, size_t n, double p)
{
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1];
}

static void check_against_exact(uint64_t *v, size_t n)
{
    certa_load_hist *h = malloc(sizeof *h);
    certa_load_hist_reset(h);
    for (size_t i = 0; i < n; i++)
        certa_load_hist_record(h, v[i]);
    qsort(v, n, sizeof *v, cmp_u64);
    static const double ps[] = {1, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        double want = (double)exact(v, n, ps[i]);
        double got = (double)certa_load_hist_percentile(h, ps[i]);
        double err = want == 0 ? got : fabs(got - want) / want;
        cr_assert(err <= 0.01, "p%g: got %.0f want %.0f (error %.4f)", ps[i], got,
                  want, err);
    }
    cr_assert_eq(certa_load_hist_percentile(h, 100), v[n - 1]);
    cr_assert_eq(certa_load_hist_percentile(h, 0), v[0]);
    cr_assert_eq(h->count, n);
    free(h);
}

Test(load_hist, lognormal_latencies_match_exact_percentiles)
{
    size_t n = 200000;
    uint64_t *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        /* Box-Muller: median 2 ms in ns, heavy right tail */
        double u1 = next_unit() + 1e-12, u2 = next_unit();
        double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
        v[i] = (uint64_t)(2e6 * exp(0.8 * z));
    }
    check_against_exact(v, n);
    free(v);
}

Test(load_hist, uniform_and_bimodal_match_exact_percentiles)
{
    size_t n = 100000;
    uint64_t *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = 1 + next_u64() % 1000000;
    check_against_exact(v, n);
    for (size_t i = 0; i < n; i++) /* 98 % fast, 2 % stalled at ~1 s */
        v[i] = (i % 50 == 0) ? 900000000 + next_u64() % 200000000
                             : 50000 + next_u64() % 10000;
    check_against_exact(v, n);
    free(v);
}

Test(load_hist, small_values_are_exact)
{
    uint64_t v[300];
    for (size_t i = 0; i < 300; i++)
        v[i] = i;
    check_against_exact(v, 300);
}

Test(load_hist, bucket_bounds_hold_every_value)
{
    for (int i = 0; i < 200000; i++) {
        uint64_t v = next_u64() >> (next_u64() % 64);
        uint32_t idx = certa_load_hist_index(v);
        cr_assert_lt(idx, CERTA_LOAD_HIST_BUCKETS);
        uint64_t low = certa_load_hist_bucket_low(idx);
        cr_assert_leq(low, v, "v=%llu idx=%u low=%llu", (unsigned long long)v, idx,
                      (unsigned long long)low);
        if (idx + 1 < CERTA_LOAD_HIST_BUCKETS)
            cr_assert_gt(certa_load_hist_bucket_low(idx + 1), v);
        /* above the exact range a bucket is at most 1/128 of its low end wide */
        if (idx + 1 < CERTA_LOAD_HIST_BUCKETS && idx >= CERTA_LOAD_HIST_LINEAR)
            cr_assert_leq((double)(certa_load_hist_bucket_low(idx + 1) - low) / (double)low,
                          1.0 / 128 + 1e-12);
    }
    cr_assert_eq(certa_load_hist_index(UINT64_MAX), CERTA_LOAD_HIST_BUCKETS - 1);
}

Test(load_hist, merge_equals_recording_everything)
{
    certa_load_hist *a = malloc(sizeof *a), *b = malloc(sizeof *b),
                    *all = malloc(sizeof *all);
    certa_load_hist_reset(a);
    certa_load_hist_reset(b);
    certa_load_hist_reset(all);
    for (int i = 0; i < 50000; i++) {
        uint64_t v = next_u64() % 100000000;
        certa_load_hist_record(i % 3 ? a : b, v);
        certa_load_hist_record(all, v);
    }
    certa_load_hist_merge(a, b);
    cr_assert_eq(a->count, all->count);
    cr_assert_eq(a->min, all->min);
    cr_assert_eq(a->max, all->max);
    cr_assert_eq(memcmp(a->buckets, all->buckets, sizeof a->buckets), 0);
    cr_assert_eq(certa_load_hist_percentile(a, 99.9), certa_load_hist_percentile(all, 99.9));
    free(a);
    free(b);
    free(all);
}

Test(load_hist, empty_histogram)
{
    certa_load_hist *h = malloc(sizeof *h);
    certa_load_hist_reset(h);
    cr_assert_eq(certa_load_hist_percentile(h, 99), 0);
    cr_assert_eq(certa_load_hist_mean(h), 0.0);
    free(h);
}
