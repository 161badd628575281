/* bench/state_grow: whether a block waits while the hot state grows.
 *
 * Workload: blocks of 4096 grants (valid 30 days, so none is archived)
 * until GRANTS hot grants, the state digest every 16 blocks (the
 * fixture's checkpoint interval) counted in that block's time, one
 * thread. A state whose tables grow by copying shows it as a few blocks
 * far slower than the rest, each time the table passes a power of two
 * beyond the reserve; a table reserved up front does not.
 *
 * Output: `name value` lines: the worst block (ms, and its height), the
 * median and the 99th percentile, the total.
 * Usage: bench_state_grow [GRANTS [RESERVE]] (defaults 4194304, 1024:
 * grants_reserve, the look-up index's size at start).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/state_fixture.h"

#define BLOCK_GRANTS 4096u

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    uint64_t grants = argc > 1 ? strtoull(argv[1], NULL, 10) : 4194304u;
    uint32_t reserve = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1024u;
    static fx_genesis fx;
    fx_genesis_init(&fx);
    certa_state_opts o = {.hash_threads = 1, .grants_reserve = reserve, .hash_seed = 7};
    certa_state *s = NULL;
    certa_errinfo ei;
    if (certa_state_create(&fx.g, &o, &s, &ei) != CERTA_OK) {
        fprintf(stderr, "bench_state_grow: %s\n", certa_errmsg(&ei));
        return 1;
    }
    uint64_t blocks = (grants + BLOCK_GRANTS - 1) / BLOCK_GRANTS;
    double *ms = malloc(blocks * sizeof *ms);
    certa_event *evs = malloc(BLOCK_GRANTS * sizeof *evs);
    if (ms == NULL || evs == NULL)
        return 1;
    uint64_t t = FX_T0 + 1000, done = 0, worst_h = 0;
    double total = 0, worst = 0;
    for (uint64_t h = 1; h <= blocks; h++, t += 200) {
        uint32_t n = 0;
        for (; n < BLOCK_GRANTS && done + n < grants; n++)
            evs[n] = fx_grant((uint32_t)(done + n), (uint32_t)((done + n) / 2), 1, 0, 101,
                              FX_LT(CERTA_LT_ID_CARD), t, t + 30 * FX_DAY_MS, 1,
                              CERTA_METHOD_DIRECT);
        double t0 = now_s();
        certa_state_begin_block(s, h, t, NULL);
        for (uint32_t i = 0; i < n; i++)
            if (certa_state_apply(s, FX_APP, &evs[i]) != CERTA_R_OK)
                return 1;
        uint8_t root[CERTA_HASH_BYTES];
        certa_state_end_block(s, root);
        if (h % fx.g.params.checkpoint_interval == 0)
            certa_state_digest(s, root);
        double d = (now_s() - t0) * 1e3;
        ms[h - 1] = d;
        total += d;
        if (d > worst)
            worst = d, worst_h = h;
        done += n;
    }
    uint8_t digest[CERTA_HASH_BYTES];
    certa_state_digest(s, digest);
    certa_state_free(s);
    qsort(ms, blocks, sizeof *ms, by_value);
    printf("grants %llu\nreserve %u\nblocks %llu\n", (unsigned long long)done, reserve,
           (unsigned long long)blocks);
    printf("block_ms_p50 %.2f\nblock_ms_p99 %.2f\nblock_ms_worst %.2f\nworst_height %llu\n",
           ms[blocks / 2], ms[blocks * 99 / 100], worst, (unsigned long long)worst_h);
    printf("total_s %.2f\ndigest %02x%02x%02x%02x\n", total / 1e3, digest[0], digest[1],
           digest[2], digest[3]);
    free(ms);
    free(evs);
    return 0;
}
