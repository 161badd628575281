/* hist: an HDR-style latency histogram with log-linear buckets.
 *
 * Values (any unit; replay records nanoseconds) below 256 get a bucket each;
 * above, every power of two is split into 128 equal buckets, so a bucket is
 * at most 1/128 of its lower bound wide and the value reported for it (its
 * midpoint, clamped to the recorded min and max) is within 0.4 % of every
 * value it holds. That covers the whole uint64 range in a fixed 7,424
 * counters (59 KiB): recording never allocates and never saturates.
 * Histograms with the same layout merge by adding counters.
 * Not thread-safe: one writer per histogram, merge to combine threads.
 */
#ifndef CERTA_LOAD_HIST_H
#define CERTA_LOAD_HIST_H

#include "certa/certa.h"

#define CERTA_LOAD_HIST_SUB_BITS 7u
#define CERTA_LOAD_HIST_SUB (1u << CERTA_LOAD_HIST_SUB_BITS) /* 128 */
#define CERTA_LOAD_HIST_LINEAR (2u * CERTA_LOAD_HIST_SUB)    /* 256 exact */
#define CERTA_LOAD_HIST_BUCKETS                                               \
    (CERTA_LOAD_HIST_LINEAR + (64u - CERTA_LOAD_HIST_SUB_BITS - 1u) * CERTA_LOAD_HIST_SUB)

typedef struct certa_load_hist {
    uint64_t count;
    uint64_t min; /* UINT64_MAX when empty */
    uint64_t max;
    double sum;   /* for the mean; double so that it cannot wrap */
    uint64_t buckets[CERTA_LOAD_HIST_BUCKETS];
} certa_load_hist;

void certa_load_hist_reset(certa_load_hist *h);
void certa_load_hist_record(certa_load_hist *h, uint64_t value);
void certa_load_hist_record_n(certa_load_hist *h, uint64_t value, uint64_t n);
/* Adds every count of src into dst. */
void certa_load_hist_merge(certa_load_hist *dst, const certa_load_hist *src);

/* Nearest-rank percentile (p in [0, 100]): the reported value of the bucket
 * holding the ceil(p/100 * count)-th smallest value; 0 when empty. */
uint64_t certa_load_hist_percentile(const certa_load_hist *h, double p);
double certa_load_hist_mean(const certa_load_hist *h);

/* Bucket layout, for plots: index of a value, a bucket's lowest value and
 * its reported (representative) value. */
uint32_t certa_load_hist_index(uint64_t value);
uint64_t certa_load_hist_bucket_low(uint32_t index);
uint64_t certa_load_hist_bucket_value(const certa_load_hist *h, uint32_t index);

#endif
