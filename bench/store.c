/* bench_store: durable appends through engine/store against the disk's own
 * durable sequential bandwidth, measured in the same run.
 *
 * For each block size (16 KiB, 256 KiB, 1 MiB, 4 MiB), four contenders:
 *   disk_direct, disk_buffered  a plain loop of pwrite + fdatasync appending
 *         to one file (with and without O_DIRECT); the better is the limit;
 *   1w    one writer: append, wait until durable, repeat;
 *   4w    four writers, each appending its next block and waiting for it.
 * The machine this runs on is shared, so the contenders take turns in short
 * slices (--slices rounds of --slice-ms each, the order rotating every
 * round) and each figure sums its own slices: a load spike hits all four
 * alike and the ratios stay meaningful.
 * Prints one `name value` line per figure (machine-readable), including
 * durable_ratio_to_disk_256k and appends_per_flush_4writers.
 *
 * The store prepares its next segment in the background (pre-written with
 * zeros by default where O_DIRECT works). That fill shares the disk with
 * the appends, so each store slice ends only when the spare is ready again
 * (certa_store_wait_spare), inside the slice's time: every fill the store
 * made is charged to the store (the first one, at open, included), none to
 * the disk loop.
 *
 * usage: bench_store [--dir DIR] [--slices N] [--slice-ms MS]
 *                    [--prewrite|--no-prewrite|--alloc-only] [--dsync|--no-dsync] [--no-spare]
 *                    [--segment-mb N] [--size 16k|256k|1m|4m]
 * (without these flags the store's defaults apply; --size runs one size). DIR must be on the disk
 * to measure (default: bench_store.tmp in the current directory); it is
 * created and removed.
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
    char cmd[1100];
    if (snprintf(cmd, sizeof cmd, "rm -rf '%s'", path) >= (int)sizeof cmd || system(cmd) != 0)
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

/* ---- the disk's own limit ---- */

typedef struct disk {
    int fd;
    uint64_t off;
    uint64_t bytes;
    double secs;
    bool failed;
} disk;

static void disk_slice(disk *d, const uint8_t *buf, size_t bs, double seconds)
{
    double t0 = now_s(), t;
    do {
        if (pwrite(d->fd, buf, bs, (off_t)d->off) != (ssize_t)bs || fdatasync(d->fd) != 0) {
            d->failed = true;
            break;
        }
        d->off += bs;
        d->bytes += bs;
        t = now_s();
    } while (t - t0 < seconds);
    d->secs += now_s() - t0;
}

/* ---- the store ---- */

typedef struct run {
    certa_store *s;
    int writers; /* of the current slice */
    pthread_mutex_t mu;
    uint64_t next;
    double deadline;
    const uint8_t *block;
    size_t bs;
    double *lat_us;
    size_t lat_n, lat_cap;
    uint64_t blocks;
    double secs;
    int failed;
    bool direct;
    bool prewrite;
} run;

typedef struct bench_cfg {
    int prewrite, dsync, spare; /* -1: the store's default */
    uint64_t segment_bytes;     /* 0: the store's default */
} bench_cfg;

static void *writer(void *arg)
{
    run *r = arg;
    for (;;) {
        if (now_s() >= r->deadline)
            break;
        double t0 = now_s();
        certa_err err;
        if (r->writers == 1) {
            /* the one writer: append, wait until durable, repeat */
            err = certa_store_append_sync(r->s, r->next++, r->block, r->bs, NULL);
        } else {
            pthread_mutex_lock(&r->mu);
            uint64_t h = r->next++;
            err = certa_store_append(r->s, h, r->block, r->bs, NULL);
            pthread_mutex_unlock(&r->mu);
            if (err == CERTA_OK)
                err = certa_store_wait_durable(r->s, h, NULL);
        }
        if (err != CERTA_OK) {
            __atomic_store_n(&r->failed, 1, __ATOMIC_RELAXED);
            break;
        }
        double us = (now_s() - t0) * 1e6;
        pthread_mutex_lock(&r->mu);
        if (r->lat_n < r->lat_cap)
            r->lat_us[r->lat_n++] = us;
        r->blocks++;
        pthread_mutex_unlock(&r->mu);
    }
    return NULL;
}

static int run_open(run *r, const char *dir, const bench_cfg *cfg, const uint8_t *block,
                    size_t bs)
{
    rm_rf(dir);
    memset(r, 0, sizeof *r);
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    o.create = true;
    o.prewrite = cfg->prewrite;
    o.dsync_writes = cfg->dsync;
    o.spare_segment = cfg->spare;
    o.segment_bytes = cfg->segment_bytes;
    certa_store_recovery rep;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (certa_store_open(&o, &r->s, &rep, &ei) != CERTA_OK) {
        fprintf(stderr, "bench_store: %s\n", certa_errmsg(&ei));
        return -1;
    }
    pthread_mutex_init(&r->mu, NULL);
    r->lat_cap = 1u << 20;
    r->lat_us = malloc(r->lat_cap * sizeof *r->lat_us);
    r->block = block;
    r->bs = bs;
    r->direct = rep.direct_io;
    r->prewrite = rep.prewrite;
    /* The first segment, prepared at open, is charged too. */
    double t0 = now_s();
    certa_store_wait_spare(r->s);
    r->secs += now_s() - t0;
    return 0;
}

static void run_slice(run *r, int writers, double seconds)
{
    double t0 = now_s();
    r->deadline = t0 + seconds;
    r->writers = writers;
    pthread_t t[16];
    for (int i = 0; i < writers; i++)
        pthread_create(&t[i], NULL, writer, r);
    for (int i = 0; i < writers; i++)
        pthread_join(t[i], NULL);
    certa_store_wait_spare(r->s); /* charge the background fill to the store */
    r->secs += now_s() - t0;
}

static void print_run(run *r, const char *wn, const char *nm)
{
    certa_store_stats st;
    certa_store_get_stats(r->s, &st);
    printf("store_%s_blocks_per_s_%s %.1f\n", wn, nm, (double)r->blocks / r->secs);
    printf("store_%s_mbps_%s %.1f\n", wn, nm, (double)r->blocks * (double)r->bs / r->secs / 1e6);
    printf("store_%s_p50_us_%s %.0f\n", wn, nm, percentile(r->lat_us, r->lat_n, 0.50));
    printf("store_%s_p99_us_%s %.0f\n", wn, nm, percentile(r->lat_us, r->lat_n, 0.99));
    printf("store_%s_appends_per_flush_%s %.2f\n", wn, nm,
           st.flushes ? (double)st.appends / (double)st.flushes : 0.0);
}

static double run_flush_ratio(run *r)
{
    certa_store_stats st;
    certa_store_get_stats(r->s, &st);
    return st.flushes ? (double)st.appends / (double)st.flushes : 0.0;
}

static void run_close(run *r, const char *dir)
{
    certa_store_close(r->s);
    free(r->lat_us);
    rm_rf(dir);
}

int main(int argc, char **argv)
{
    const char *base = "bench_store.tmp";
    int slices = 8;
    double slice_s = 0.25;
    bench_cfg cfg = {-1, -1, -1, 0};
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            base = argv[++i];
        else if (strcmp(argv[i], "--slices") == 0 && i + 1 < argc)
            slices = atoi(argv[++i]);
        else if (strcmp(argv[i], "--slice-ms") == 0 && i + 1 < argc)
            slice_s = atof(argv[++i]) / 1000.0;
        else if (strcmp(argv[i], "--prewrite") == 0)
            cfg.prewrite = 1;
        else if (strcmp(argv[i], "--no-prewrite") == 0)
            cfg.prewrite = 0;
        else if (strcmp(argv[i], "--alloc-only") == 0)
            cfg.prewrite = 2;
        else if (strcmp(argv[i], "--dsync") == 0)
            cfg.dsync = 1;
        else if (strcmp(argv[i], "--no-dsync") == 0)
            cfg.dsync = 0;
        else if (strcmp(argv[i], "--no-spare") == 0)
            cfg.spare = 0;
        else if (strcmp(argv[i], "--segment-mb") == 0 && i + 1 < argc)
            cfg.segment_bytes = (uint64_t)atoi(argv[++i]) << 20;
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: bench_store [--dir DIR] [--slices N] [--slice-ms MS] "
                            "[--prewrite|--no-prewrite|--alloc-only] [--dsync|--no-dsync] "
                            "[--no-spare] [--segment-mb N] [--size 16k|256k|1m|4m]\n");
            return 2;
        }
    }
    if (slices < 1 || slices > 1000)
        slices = 8;
    if (slice_s <= 0)
        slice_s = 0.25;
    if (mkdir(base, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "bench_store: mkdir %s: %s\n", base, strerror(errno));
        return 3;
    }
    char dir1[1024], dir4[1024], pd[1024], pb[1024];
    snprintf(dir1, sizeof dir1, "%s/log1", base);
    snprintf(dir4, sizeof dir4, "%s/log4", base);
    snprintf(pd, sizeof pd, "%s/disk_direct.tmp", base);
    snprintf(pb, sizeof pb, "%s/disk_buffered.tmp", base);
    static const size_t sizes[] = {16u << 10, 256u << 10, 1u << 20, 4u << 20};
    static const char *names[] = {"16k", "256k", "1m", "4m"};
    uint8_t *block = aligned_alloc(4096, 4u << 20);
    for (size_t i = 0; i < (4u << 20); i++)
        block[i] = (uint8_t)(i * 131u + 7u);
    printf("# bench_store: %d slices of %.0f ms per contender and size, options prewrite=%d "
           "dsync=%d spare=%d (-1: default)\n", slices, slice_s * 1000, cfg.prewrite, cfg.dsync,
           cfg.spare);
    int rc = 0;
    for (size_t k = 0; k < 4 && rc == 0; k++) {
        size_t bs = sizes[k];
        const char *nm = names[k];
        if (only != NULL && strcmp(only, nm) != 0)
            continue;
        disk dd = {.fd = open(pd, O_CREAT | O_TRUNC | O_WRONLY | O_DIRECT, 0644)};
        disk db = {.fd = open(pb, O_CREAT | O_TRUNC | O_WRONLY, 0644)};
        run r1, r4;
        if (dd.fd < 0 || db.fd < 0 || run_open(&r1, dir1, &cfg, block, bs) != 0 ||
            run_open(&r4, dir4, &cfg, block, bs) != 0) {
            fprintf(stderr, "bench_store: cannot open the files under %s\n", base);
            return 3;
        }
        for (int sl = 0; sl < slices; sl++) {
            for (int j = 0; j < 4; j++) {
                switch ((sl + j) % 4) {
                case 0: disk_slice(&dd, block, bs, slice_s); break;
                case 1: disk_slice(&db, block, bs, slice_s); break;
                case 2: run_slice(&r1, 1, slice_s); break;
                default: run_slice(&r4, 4, slice_s); break;
                }
            }
        }
        close(dd.fd);
        close(db.fd);
        unlink(pd);
        unlink(pb);
        if (dd.failed || db.failed || r1.failed || r4.failed) {
            fprintf(stderr, "bench_store: a write failed\n");
            rc = 3;
        }
        double mdd = (double)dd.bytes / dd.secs / 1e6, mdb = (double)db.bytes / db.secs / 1e6;
        double disk_best = mdd > mdb ? mdd : mdb;
        double m1 = (double)r1.blocks * (double)bs / r1.secs / 1e6;
        double m4 = (double)r4.blocks * (double)bs / r4.secs / 1e6;
        printf("disk_direct_mbps_%s %.1f\n", nm, mdd);
        printf("disk_buffered_mbps_%s %.1f\n", nm, mdb);
        printf("disk_mbps_%s %.1f\n", nm, disk_best);
        print_run(&r1, "1w", nm);
        print_run(&r4, "4w", nm);
        printf("durable_ratio_to_disk_%s %.3f\n", nm, disk_best > 0 ? m1 / disk_best : 0);
        printf("writers4_to_1_ratio_%s %.3f\n", nm, m1 > 0 ? m4 / m1 : 0);
        if (k == 1)
            printf("appends_per_flush_4writers %.2f\n", run_flush_ratio(&r4));
        if (k == 0 || only != NULL) {
            printf("store_direct_io %d\n", r1.direct ? 1 : 0);
            printf("store_prewrite %d\n", r1.prewrite ? 1 : 0);
        }
        fflush(stdout);
        run_close(&r1, dir1);
        run_close(&r4, dir4);
    }
    free(block);
    rmdir(base);
    return rc;
}
