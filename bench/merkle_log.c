/* bench_merkle_log: what the event log over the whole chain costs per
 * event (certa_merkle_frontier, docs/PROTOCOL.md "The event log over the
 * whole chain"): a chain of blocks of B events whose leaf hashes are
 * given (a validator has them from the block's own tree), each block
 * appended to the compact range and its root taken, as a validator would
 * do once per block. Prints ns per event for B = 1,024 and 16,384 (the
 * cluster benchmark's block sizes), the median of --runs rounds (default
 * 5) of about 2^21 events each after a chain of --chain events (default
 * 2^30, appended as a block too: the cost must not depend on it).
 * Output: one `name value` line per figure. One thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certa/crypto.h"
#include "certa/merkle.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int runs = 5;
    unsigned long long chain = 1ull << 30;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--chain") == 0)
            chain = strtoull(argv[i + 1], NULL, 10);
    }
    if (runs < 1 || runs > 101)
        runs = 5;
    enum { EVENTS = 1 << 21 };
    uint8_t *lh = malloc((size_t)16384 * CERTA_HASH_BYTES);
    double *ns = malloc((size_t)runs * sizeof *ns);
    if (lh == NULL || ns == NULL)
        return 3;
    for (size_t i = 0; i < 16384; i++)
        certa_merkle_leaf_hash(&i, sizeof i, lh + i * CERTA_HASH_BYTES);
    static const size_t sizes[] = { 1024, 16384 };
    for (size_t s = 0; s < 2; s++) {
        size_t b = sizes[s];
        for (int r = 0; r < runs; r++) {
            /* a long chain before: its compact range has many subtrees
             * set, as a validator's has after months */
            certa_merkle_frontier f;
            certa_merkle_frontier_init(&f);
            f.size = chain;
            for (unsigned l = 0; l < 64; l++)
                memcpy(f.hashes[l], lh + (l % 16384) * CERTA_HASH_BYTES, CERTA_HASH_BYTES);
            uint8_t root[CERTA_HASH_BYTES];
            double t0 = now_s();
            for (size_t done = 0; done < EVENTS; done += b) {
                certa_merkle_frontier_append(&f, lh, b);
                certa_merkle_frontier_root(&f, root);
            }
            ns[r] = (now_s() - t0) * 1e9 / EVENTS;
            if (root[0] == 0 && root[1] == 0 && root[2] == 0 && root[3] == 0)
                fprintf(stderr, "#\n"); /* keeps the root computed */
        }
        qsort(ns, (size_t)runs, sizeof *ns, cmp_double);
        printf("merkle_log_ns_per_event_b%zu %.1f\n", b, ns[runs / 2]);
    }
    printf("merkle_backend %s\n", certa_merkle_backend());
    free(ns);
    free(lh);
    return 0;
}
