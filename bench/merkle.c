/* bench_merkle: RFC 6962 root throughput over 128-byte events, against the
 * limit the SHA-256 compression rate of this machine allows, measured in the
 * same run.
 *
 * Limit: OpenSSL SHA-256 over 64 KiB buffers gives ns per 64-byte
 * compression (one thread, then two threads at once); a 128-byte leaf costs
 * 5 compressions (3 for the 129-byte leaf message, 2 for the 65-byte node
 * above it, as a tree of n leaves has n-1 nodes), so
 *   limit leaves/s = compressions/s / 5.
 * Each round measures the limit right before the trees so that a ratio
 * compares figures taken under the same machine load; every printed figure
 * is the median over the rounds (--runs, default 5).
 * "plain" is the textbook implementation: one-shot SHA256() per leaf and per
 * node, one thread.
 * cpu_time_* figures use process CPU time instead of wall time, as a
 * diagnostic for loaded machines (not the target figures):
 * cpu_time_ratio_to_limit_1t_N is leaves per CPU second over the limit per
 * CPU second; cpu_time_efficiency_2t_N is leaves per CPU second at 2 threads
 * over the same at 1 thread (1.0 = the pool costs nothing, so on an idle
 * machine speedup_2t_N would approach 2 x this).
 *
 * Kernel limit: the same machine's widest kernels on independent work,
 * cache-resident: KERNEL_BATCH leaf hashes of 128-byte leaves
 * (certa_merkle_fixed_leaf_hashes, the leaves of certa_merkle_root_fixed)
 * and KERNEL_BATCH node hashes
 * (certa_merkle_node_hashes), repeated; a tree of n leaves does exactly n
 * leaf hashes and n-1 node hashes, so
 *   kernel limit leaves/s = 1 / (time of one leaf hash + one node hash)
 * and ratio_to_kernel_limit_{1t,2t}_N is a tree's rate over it. At 2
 * threads both run the kernels at once: kernel_speedup_2t is what the two
 * vCPUs give each other (two hyperthreads of one core share its vector
 * units), the bound on any speedup_2t_N.
 * Output: one `name value` line per figure; lines starting with # are notes.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "certa/crypto.h"
#include "certa/merkle.h"
#include "certa/pool.h"

#define LEAF_BYTES 128
#define RUNS_MAX 15
#define COMPRESSIONS_PER_LEAF 5.0

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process: on a loaded machine, the one-thread
 * figures per CPU second show the kernel's own cost whatever the share of
 * the CPU the scheduler gave us. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double last_cpu_rate; /* per CPU second, of the last measurement */

/* ---- the limit: OpenSSL bulk SHA-256 ---- */

typedef struct bulk_arg {
    double seconds;
    double compressions_per_s;
} bulk_arg;

static void *bulk_thread(void *p)
{
    bulk_arg *a = p;
    enum { BUF = 64 * 1024 };
    static _Thread_local uint8_t buf[BUF];
    memset(buf, 0x5a, sizeof buf);
    uint8_t out[32];
    size_t bufs = 0;
    double c0 = cpu_s();
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 16; i++) {
            certa_sha256_ctx c;
            certa_sha256_init(&c);
            certa_sha256_update(&c, buf, BUF);
            certa_sha256_final(&c, out);
            buf[0] ^= out[0];
        }
        bufs += 16;
        t = now_s() - t0;
    } while (t < a->seconds);
    /* one more block per buffer for the padding */
    a->compressions_per_s = (double)bufs * (BUF / 64 + 1) / t;
    last_cpu_rate = (double)bufs * (BUF / 64 + 1) / (cpu_s() - c0);
    return NULL;
}

static double bulk_rate(unsigned threads, double seconds)
{
    pthread_t tid[2];
    bulk_arg a[2] = {{seconds, 0}, {seconds, 0}};
    for (unsigned i = 1; i < threads; i++)
        pthread_create(&tid[i], NULL, bulk_thread, &a[i]);
    bulk_thread(&a[0]);
    double total = a[0].compressions_per_s;
    for (unsigned i = 1; i < threads; i++) {
        pthread_join(tid[i], NULL);
        total += a[i].compressions_per_s;
    }
    return total;
}

/* ---- the kernel limit: the widest kernels on independent hashes ---- */

#define KERNEL_BATCH 1024u

typedef struct kernel_arg {
    const uint8_t *data; /* KERNEL_BATCH leaves of LEAF_BYTES */
    double seconds;
    double leaves_per_s;
} kernel_arg;

static void *kernel_thread(void *p)
{
    kernel_arg *a = p;
    static _Thread_local uint8_t hashes[2 * KERNEL_BATCH * 32], nodes[KERNEL_BATCH * 32];
    memset(hashes, 0x3c, sizeof hashes);
    size_t iters = 0;
    double t0 = now_s(), t;
    do {
        certa_errinfo ei;
        /* the leaf hashes land in the first half: the node step reads
         * them with the second half as their siblings */
        if (certa_merkle_fixed_leaf_hashes(NULL, a->data, LEAF_BYTES, KERNEL_BATCH, hashes,
                                           &ei) != CERTA_OK) {
            fprintf(stderr, "bench_merkle: %s\n", certa_errmsg(&ei));
            exit(3);
        }
        certa_merkle_node_hashes(hashes, KERNEL_BATCH, nodes);
        hashes[KERNEL_BATCH * 32] ^= nodes[0];
        iters++;
        t = now_s() - t0;
    } while (t < a->seconds);
    a->leaves_per_s = (double)KERNEL_BATCH * (double)iters / t;
    return NULL;
}

static double kernel_rate(const uint8_t *data, unsigned threads, double seconds)
{
    pthread_t tid[2];
    kernel_arg a[2] = {{data, seconds, 0}, {data + KERNEL_BATCH * LEAF_BYTES, seconds, 0}};
    for (unsigned i = 1; i < threads; i++)
        pthread_create(&tid[i], NULL, kernel_thread, &a[i]);
    kernel_thread(&a[0]);
    double total = a[0].leaves_per_s;
    for (unsigned i = 1; i < threads; i++) {
        pthread_join(tid[i], NULL);
        total += a[i].leaves_per_s;
    }
    return total;
}

/* ---- the plain implementation: one-shot SHA256() per hash ---- */

static void plain_root(const uint8_t *data, size_t n, uint8_t *scratch,
                       uint8_t root[32])
{
    uint8_t buf[1 + LEAF_BYTES];
    buf[0] = 0x00;
    for (size_t i = 0; i < n; i++) {
        memcpy(buf + 1, data + i * LEAF_BYTES, LEAF_BYTES);
        SHA256(buf, sizeof buf, scratch + 32 * i);
    }
    size_t m = n;
    uint8_t node[65];
    node[0] = 0x01;
    while (m > 1) {
        size_t pairs = m / 2;
        for (size_t i = 0; i < pairs; i++) {
            memcpy(node + 1, scratch + 64 * i, 64);
            SHA256(node, sizeof node, scratch + 32 * i);
        }
        if (m & 1)
            memmove(scratch + 32 * pairs, scratch + 32 * (m - 1), 32);
        m = pairs + (m & 1);
    }
    memcpy(root, scratch, 32);
}

/* ---- measurement ---- */

static double min_seconds = 0.3;

/* leaves/s of the engine over n leaves, repeating for min_seconds. */
static double engine_rate(certa_pool *pool, const uint8_t *data, size_t n,
                          uint8_t root[32])
{
    size_t iters = 0;
    double c0 = cpu_s();
    double t0 = now_s(), t;
    do {
        certa_errinfo ei;
        if (certa_merkle_root_fixed(pool, data, LEAF_BYTES, n, root, &ei) !=
            CERTA_OK) {
            fprintf(stderr, "bench_merkle: %s\n", certa_errmsg(&ei));
            exit(3);
        }
        iters++;
        t = now_s() - t0;
    } while (t < min_seconds);
    last_cpu_rate = (double)n * (double)iters / (cpu_s() - c0);
    return (double)n * (double)iters / t;
}

static double plain_rate(const uint8_t *data, size_t n, uint8_t *scratch,
                         uint8_t root[32])
{
    size_t iters = 0;
    double t0 = now_s(), t;
    do {
        plain_root(data, n, scratch, root);
        iters++;
        t = now_s() - t0;
    } while (t < min_seconds);
    return (double)n * (double)iters / t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    double s[RUNS_MAX];
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

#define NSIZES 4
static const size_t sizes[NSIZES] = {1u << 10, 1u << 16, 1u << 20, 1u << 24};
static const char *const size_names[NSIZES] = {"1k", "64k", "1m", "16m"};

typedef struct figures {
    double ns_per_compression_1t[RUNS_MAX];
    double cpu_limit_1t[RUNS_MAX];
    double cpu_ratio_1t[NSIZES][RUNS_MAX];
    double cpu_eff_2t[NSIZES][RUNS_MAX];
    double limit_1t[RUNS_MAX], limit_2t[RUNS_MAX];
    double rate[2][NSIZES][RUNS_MAX];
    double ratio[2][NSIZES][RUNS_MAX];
    double speedup_2t[NSIZES][RUNS_MAX];
    double kernel_1t[RUNS_MAX], kernel_2t[RUNS_MAX];
    double kratio[2][NSIZES][RUNS_MAX];
    double plain[NSIZES][RUNS_MAX];
    double vs_plain[NSIZES][RUNS_MAX];
} figures;

static figures fig;

static void usage(void)
{
    fputs("usage: bench_merkle [--runs N] [--max-leaves N] [--plain-max-leaves N]\n"
          "                    [--seconds S]\n"
          "  --runs N              rounds; every figure is their median (default 5)\n"
          "  --max-leaves N        skip trees above N leaves (default 16777216)\n"
          "  --plain-max-leaves N  one-shot SHA256() baseline only up to N leaves\n"
          "                        (default 1048576: it is ~10x slower)\n"
          "  --seconds S           minimum time per measurement (default 0.3)\n",
          stderr);
}

int main(int argc, char **argv)
{
    int runs = 5;
    size_t max_leaves = sizes[NSIZES - 1], plain_max = 1u << 20;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--max-leaves") == 0 && i + 1 < argc)
            max_leaves = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--plain-max-leaves") == 0 && i + 1 < argc)
            plain_max = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            min_seconds = atof(argv[++i]);
        else {
            usage();
            return 2;
        }
    }
    if (runs < 1 || runs > RUNS_MAX || min_seconds <= 0) {
        usage();
        return 2;
    }
    size_t nmax = 0;
    for (int s = 0; s < NSIZES; s++)
        if (sizes[s] <= max_leaves)
            nmax = sizes[s];
    uint8_t *data = malloc(nmax * LEAF_BYTES + 1);
    uint8_t *scratch = malloc(32 * (plain_max < nmax ? plain_max : nmax) + 32);
    if (data == NULL || scratch == NULL) {
        fprintf(stderr, "bench_merkle: cannot allocate %zu leaves\n", nmax);
        return 3;
    }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < nmax * LEAF_BYTES / 8; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(data + 8 * i, &x, 8);
    }
    certa_pool *pool2 = NULL;
    certa_errinfo ei;
    if (certa_pool_create(2, &pool2, &ei) != CERTA_OK) {
        fprintf(stderr, "bench_merkle: %s\n", certa_errmsg(&ei));
        return 3;
    }

    printf("# bench_merkle: %d rounds, medians; %d-byte leaves; kernel %s\n",
           runs, LEAF_BYTES, certa_merkle_backend());
    for (int r = 0; r < runs; r++) {
        double c1 = bulk_rate(1, min_seconds);
        fig.cpu_limit_1t[r] = last_cpu_rate / COMPRESSIONS_PER_LEAF;
        double c2 = bulk_rate(2, min_seconds);
        fig.ns_per_compression_1t[r] = 1e9 / c1;
        fig.limit_1t[r] = c1 / COMPRESSIONS_PER_LEAF;
        fig.limit_2t[r] = c2 / COMPRESSIONS_PER_LEAF;
        fig.kernel_1t[r] = kernel_rate(data, 1, min_seconds);
        fig.kernel_2t[r] = kernel_rate(data, 2, min_seconds);
        for (int s = 0; s < NSIZES; s++) {
            size_t n = sizes[s];
            if (n > nmax)
                continue;
            uint8_t r1[32], r2[32], rp[32];
            fig.rate[0][s][r] = engine_rate(NULL, data, n, r1);
            double cpu_rate_1t = last_cpu_rate;
            fig.cpu_ratio_1t[s][r] = cpu_rate_1t / fig.cpu_limit_1t[r];
            fig.rate[1][s][r] = engine_rate(pool2, data, n, r2);
            fig.cpu_eff_2t[s][r] = last_cpu_rate / cpu_rate_1t;
            if (memcmp(r1, r2, 32) != 0) {
                fprintf(stderr, "bench_merkle: roots differ at 1 and 2 threads\n");
                return 3;
            }
            fig.ratio[0][s][r] = fig.rate[0][s][r] / fig.limit_1t[r];
            fig.ratio[1][s][r] = fig.rate[1][s][r] / fig.limit_2t[r];
            fig.speedup_2t[s][r] = fig.rate[1][s][r] / fig.rate[0][s][r];
            fig.kratio[0][s][r] = fig.rate[0][s][r] / fig.kernel_1t[r];
            fig.kratio[1][s][r] = fig.rate[1][s][r] / fig.kernel_2t[r];
            if (n <= plain_max) {
                fig.plain[s][r] = plain_rate(data, n, scratch, rp);
                if (memcmp(r1, rp, 32) != 0) {
                    fprintf(stderr, "bench_merkle: plain root differs\n");
                    return 3;
                }
                fig.vs_plain[s][r] = fig.rate[0][s][r] / fig.plain[s][r];
            }
        }
        fprintf(stderr, "# round %d of %d done\n", r + 1, runs);
    }

    printf("ns_per_compression_1t %.2f\n", median(fig.ns_per_compression_1t, runs));
    printf("limit_leaves_per_s_1t %.0f\n", median(fig.limit_1t, runs));
    printf("limit_leaves_per_s_2t %.0f\n", median(fig.limit_2t, runs));
    printf("kernel_limit_leaves_per_s_1t %.0f\n", median(fig.kernel_1t, runs));
    printf("kernel_limit_leaves_per_s_2t %.0f\n", median(fig.kernel_2t, runs));
    double ks[RUNS_MAX];
    for (int r = 0; r < runs; r++)
        ks[r] = fig.kernel_2t[r] / fig.kernel_1t[r];
    printf("kernel_speedup_2t %.3f\n", median(ks, runs));
    /* the kernels' compressions: 3 per 129-byte leaf message, 2 per node */
    printf("kernel_ns_per_compression_1t %.3f\n",
           1e9 / (median(fig.kernel_1t, runs) * COMPRESSIONS_PER_LEAF));
    for (int s = 0; s < NSIZES; s++) {
        if (sizes[s] > nmax)
            continue;
        const char *nm = size_names[s];
        printf("leaves_per_s_1t_%s %.0f\n", nm, median(fig.rate[0][s], runs));
        printf("leaves_per_s_2t_%s %.0f\n", nm, median(fig.rate[1][s], runs));
        printf("ratio_to_limit_1t_%s %.3f\n", nm, median(fig.ratio[0][s], runs));
        printf("ratio_to_limit_2t_%s %.3f\n", nm, median(fig.ratio[1][s], runs));
        printf("speedup_2t_%s %.3f\n", nm, median(fig.speedup_2t[s], runs));
        printf("ratio_to_kernel_limit_1t_%s %.3f\n", nm, median(fig.kratio[0][s], runs));
        printf("ratio_to_kernel_limit_2t_%s %.3f\n", nm, median(fig.kratio[1][s], runs));
        printf("cpu_time_ratio_to_limit_1t_%s %.3f\n", nm, median(fig.cpu_ratio_1t[s], runs));
        printf("cpu_time_efficiency_2t_%s %.3f\n", nm, median(fig.cpu_eff_2t[s], runs));
        if (sizes[s] <= plain_max) {
            printf("plain_leaves_per_s_1t_%s %.0f\n", nm, median(fig.plain[s], runs));
            printf("speedup_vs_plain_1t_%s %.2f\n", nm, median(fig.vs_plain[s], runs));
        }
    }
    certa_pool_destroy(pool2);
    free(scratch);
    free(data);
    return 0;
}
