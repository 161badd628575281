/* bench_store: durable appends through engine/store against the disk's own
 * durable sequential bandwidth, measured in the same run.
 *
 * For each block size (16 KiB, 256 KiB, 1 MiB, 4 MiB):
 *   disk  a plain loop of write + fdatasync appending to a fresh file, with
 *         O_DIRECT and without; the better of the two is the limit;
 *   1w    one writer: append, wait until durable, repeat;
 *   4w    four writers, each appending its next block and waiting for it.
 * Prints one `name value` line per figure (machine-readable), including
 * durable_ratio_to_disk_256k and appends_per_flush_4writers.
 *
 * usage: bench_store [--dir DIR] [--seconds S] [--reps N] [--prewrite] [--dsync]
 * DIR must be on the disk to measure (default: bench_store.tmp in the
 * current directory); it is created and removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certa/store.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void rm_rf(const char *path)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_store: could not remove %s\n", path);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

/* write + fdatasync appending to a fresh file; returns MB/s. */
static double disk_mbps(const char *dir, size_t bs, double seconds, bool direct)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/disk.tmp", dir);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | (direct ? O_DIRECT : 0), 0644);
    if (fd < 0)
        return 0;
    uint8_t *buf = aligned_alloc(4096, bs);
    memset(buf, 0x5a, bs);
    uint64_t bytes = 0;
    double t0 = now_s(), t;
    do {
        if (pwrite(fd, buf, bs, (off_t)bytes) != (ssize_t)bs || fdatasync(fd) != 0) {
            bytes = 0;
            break;
        }
        bytes += bs;
        t = now_s();
    } while (t - t0 < seconds);
    double el = now_s() - t0;
    close(fd);
    unlink(path);
    free(buf);
    return (double)bytes / el / 1e6;
}

typedef struct run {
    certa_store *s;
    pthread_mutex_t mu;
    uint64_t next;
    double deadline;
    const uint8_t *block;
    size_t bs;
    double *lat_us;
    size_t lat_n, lat_cap;
    int failed;
} run;

static void *writer(void *arg)
{
    run *r = arg;
    for (;;) {
        if (now_s() >= r->deadline)
            break;
        double t0 = now_s();
        pthread_mutex_lock(&r->mu);
        uint64_t h = r->next++;
        certa_err err = certa_store_append(r->s, h, r->block, r->bs, NULL);
        pthread_mutex_unlock(&r->mu);
        if (err == CERTA_OK)
            err = certa_store_wait_durable(r->s, h, NULL);
        if (err != CERTA_OK) {
            __atomic_store_n(&r->failed, 1, __ATOMIC_RELAXED);
            break;
        }
        double us = (now_s() - t0) * 1e6;
        pthread_mutex_lock(&r->mu);
        if (r->lat_n < r->lat_cap)
            r->lat_us[r->lat_n++] = us;
        pthread_mutex_unlock(&r->mu);
    }
    return NULL;
}

typedef struct result {
    double blocks_per_s, mbps, p50_us, p99_us, appends_per_flush;
    bool direct;
} result;

static int store_run(const char *dir, size_t bs, int writers, double seconds,
                     bool prewrite, bool dsync, const uint8_t *block, result *res)
{
    rm_rf(dir);
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    o.create = true;
    o.prewrite = prewrite;
    o.dsync_writes = dsync;
    certa_store *s = NULL;
    certa_store_recovery rep;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (certa_store_open(&o, &s, &rep, &ei) != CERTA_OK) {
        fprintf(stderr, "bench_store: %s\n", certa_errmsg(&ei));
        return -1;
    }
    run r = {.s = s, .next = 0, .block = block, .bs = bs};
    pthread_mutex_init(&r.mu, NULL);
    r.lat_cap = 1u << 20;
    r.lat_us = malloc(r.lat_cap * sizeof *r.lat_us);
    double t0 = now_s();
    r.deadline = t0 + seconds;
    pthread_t t[16];
    for (int i = 0; i < writers; i++)
        pthread_create(&t[i], NULL, writer, &r);
    for (int i = 0; i < writers; i++)
        pthread_join(t[i], NULL);
    double el = now_s() - t0;
    certa_store_stats st;
    certa_store_get_stats(s, &st);
    certa_store_close(s);
    if (r.failed) {
        fprintf(stderr, "bench_store: an append failed\n");
        free(r.lat_us);
        return -1;
    }
    res->blocks_per_s = (double)r.lat_n / el;
    res->mbps = (double)r.lat_n * (double)bs / el / 1e6;
    res->p50_us = percentile(r.lat_us, r.lat_n, 0.50);
    res->p99_us = percentile(r.lat_us, r.lat_n, 0.99);
    res->appends_per_flush = st.flushes ? (double)st.appends / (double)st.flushes : 0;
    res->direct = rep.direct_io;
    free(r.lat_us);
    rm_rf(dir);
    return 0;
}

int main(int argc, char **argv)
{
    const char *base = "bench_store.tmp";
    double seconds = 1.0;
    int reps = 3;
    bool prewrite = false, dsync = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            base = argv[++i];
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--prewrite") == 0)
            prewrite = true;
        else if (strcmp(argv[i], "--dsync") == 0)
            dsync = true;
        else {
            fprintf(stderr, "usage: bench_store [--dir DIR] [--seconds S] [--reps N] [--prewrite] [--dsync]\n");
            return 2;
        }
    }
    if (seconds <= 0)
        seconds = 1.0;
    if (reps < 1 || reps > 9)
        reps = 3;
    if (mkdir(base, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "bench_store: mkdir %s: %s\n", base, strerror(errno));
        return 3;
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/log", base);
    static const size_t sizes[] = {16u << 10, 256u << 10, 1u << 20, 4u << 20};
    static const char *names[] = {"16k", "256k", "1m", "4m"};
    uint8_t *block = malloc(4u << 20);
    for (size_t i = 0; i < (4u << 20); i++)
        block[i] = (uint8_t)(i * 131u + 7u);
    printf("# bench_store: %.1f s per measurement, prewrite=%d, dsync=%d\n", seconds,
           prewrite, dsync);
    int rc = 0;
    enum { REPS_MAX = 9 };
    for (size_t k = 0; k < 4 && rc == 0; k++) {
        size_t bs = sizes[k];
        const char *nm = names[k];
        /* Interleaved repetitions; the median of each figure is printed. */
        double dd[REPS_MAX], db[REPS_MAX], dk[REPS_MAX], ratio[REPS_MAX], w41[REPS_MAX];
        double f[2][5][REPS_MAX];
        bool direct = false;
        for (int rep = 0; rep < reps; rep++) {
            dd[rep] = disk_mbps(base, bs, seconds, true);
            db[rep] = disk_mbps(base, bs, seconds, false);
            dk[rep] = dd[rep] > db[rep] ? dd[rep] : db[rep];
            result r[2];
            if (store_run(dir, bs, 1, seconds, prewrite, dsync, block, &r[0]) != 0 ||
                store_run(dir, bs, 4, seconds, prewrite, dsync, block, &r[1]) != 0) {
                rc = 3;
                break;
            }
            direct = r[0].direct;
            for (int w = 0; w < 2; w++) {
                f[w][0][rep] = r[w].blocks_per_s;
                f[w][1][rep] = r[w].mbps;
                f[w][2][rep] = r[w].p50_us;
                f[w][3][rep] = r[w].p99_us;
                f[w][4][rep] = r[w].appends_per_flush;
            }
            ratio[rep] = dk[rep] > 0 ? r[0].mbps / dk[rep] : 0;
            w41[rep] = r[0].mbps > 0 ? r[1].mbps / r[0].mbps : 0;
        }
        if (rc != 0)
            break;
        printf("disk_direct_mbps_%s %.1f\n", nm, percentile(dd, (size_t)reps, 0.5));
        printf("disk_buffered_mbps_%s %.1f\n", nm, percentile(db, (size_t)reps, 0.5));
        printf("disk_mbps_%s %.1f\n", nm, percentile(dk, (size_t)reps, 0.5));
        static const char *fn[5] = {"blocks_per_s", "mbps", "p50_us", "p99_us",
                                    "appends_per_flush"};
        const char *wn[2] = {"1w", "4w"};
        for (int w = 0; w < 2; w++)
            for (int i = 0; i < 5; i++)
                printf("store_%s_%s_%s %.2f\n", wn[w], fn[i], nm,
                       percentile(f[w][i], (size_t)reps, 0.5));
        /* Ratios are taken within each repetition (same moment), then the
         * median across repetitions. */
        printf("durable_ratio_to_disk_%s %.3f\n", nm, percentile(ratio, (size_t)reps, 0.5));
        printf("writers4_to_1_ratio_%s %.3f\n", nm, percentile(w41, (size_t)reps, 0.5));
        if (k == 1)
            printf("appends_per_flush_4writers %.2f\n", percentile(f[1][4], (size_t)reps, 0.5));
        if (k == 0)
            printf("store_direct_io %d\n", direct ? 1 : 0);
        fflush(stdout);
    }
    free(block);
    rmdir(base);
    return rc;
}
