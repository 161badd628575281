/* hist: log-linear latency histogram (see hist.h for the layout and its
 * error bound). Index arithmetic: for v >= 256 with top bit e, shift = e - 7
 * (>= 1) and v >> shift lies in [128, 255]; the bucket is
 * 256 + (shift - 1) * 128 + ((v >> shift) - 128).
 */
#include "hist.h"

#include <math.h>
#include <string.h>

_Static_assert(CERTA_LOAD_HIST_BUCKETS == 7424, "histogram layout changed");

uint32_t certa_load_hist_index(uint64_t v)
{
    if (v < CERTA_LOAD_HIST_LINEAR)
        return (uint32_t)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = e - CERTA_LOAD_HIST_SUB_BITS;
    uint64_t m = v >> shift;
    CERTA_ASSERT(m >= CERTA_LOAD_HIST_SUB && m < CERTA_LOAD_HIST_LINEAR);
    uint32_t idx = CERTA_LOAD_HIST_LINEAR + (shift - 1u) * CERTA_LOAD_HIST_SUB +
                   (uint32_t)(m - CERTA_LOAD_HIST_SUB);
    CERTA_ASSERT(idx < CERTA_LOAD_HIST_BUCKETS);
    return idx;
}

uint64_t certa_load_hist_bucket_low(uint32_t idx)
{
    CERTA_ASSERT(idx < CERTA_LOAD_HIST_BUCKETS);
    if (idx < CERTA_LOAD_HIST_LINEAR)
        return idx;
    uint32_t k = idx - CERTA_LOAD_HIST_LINEAR;
    unsigned shift = k / CERTA_LOAD_HIST_SUB + 1u;
    uint64_t m = CERTA_LOAD_HIST_SUB + k % CERTA_LOAD_HIST_SUB;
    return m << shift;
}

static uint64_t bucket_mid(uint32_t idx)
{
    uint64_t low = certa_load_hist_bucket_low(idx);
    if (idx < CERTA_LOAD_HIST_LINEAR)
        return low;
    unsigned shift = (idx - CERTA_LOAD_HIST_LINEAR) / CERTA_LOAD_HIST_SUB + 1u;
    uint64_t width = (uint64_t)1 << shift;
    return low + (width - 1) / 2;
}

uint64_t certa_load_hist_bucket_value(const certa_load_hist *h, uint32_t idx)
{
    uint64_t v = bucket_mid(idx);
    if (h->count > 0) {
        if (v < h->min)
            v = h->min;
        if (v > h->max)
            v = h->max;
    }
    return v;
}

void certa_load_hist_reset(certa_load_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void certa_load_hist_record_n(certa_load_hist *h, uint64_t v, uint64_t n)
{
    if (n == 0)
        return;
    h->buckets[certa_load_hist_index(v)] += n;
    h->count += n;
    h->sum += (double)v * (double)n;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void certa_load_hist_record(certa_load_hist *h, uint64_t v)
{
    certa_load_hist_record_n(h, v, 1);
}

void certa_load_hist_merge(certa_load_hist *dst, const certa_load_hist *src)
{
    if (src->count == 0)
        return;
    for (uint32_t i = 0; i < CERTA_LOAD_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t certa_load_hist_percentile(const certa_load_hist *h, double p)
{
    if (h->count == 0)
        return 0;
    if (p <= 0)
        return h->min;
    if (p >= 100)
        return h->max;
    uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < CERTA_LOAD_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank)
            return certa_load_hist_bucket_value(h, i);
    }
    /* the buckets must add up to count, which is >= rank */
    CERTA_ASSERT(seen >= rank);
    return h->max;
}

double certa_load_hist_mean(const certa_load_hist *h)
{
    return h->count == 0 ? 0.0 : h->sum / (double)h->count;
}
