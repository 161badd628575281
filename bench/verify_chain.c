/* bench_verify_chain: `certa verify-chain` against the disk's own sequential
 * read speed, measured in the same run.
 *
 * Writes two synthetic chains of valid blocks (unsigned batches, real header
 * chain and event Merkle roots) with the store: DIR/confirm holds CONFIRM
 * events only (about 59 bytes each with framing: the most hashing per byte),
 * DIR/mix the events of counter cases (grant, redeem of 1-3 licences,
 * confirm, sign, photo, and a revoke every fourth case: what `certa load
 * gen` produces per case). For each chain and each round it drops the page
 * cache of the segment files (posix_fadvise DONTNEED after fdatasync),
 * reads them once sequentially (the disk's read limit), drops the cache
 * again and runs the `certa` binary built beside this one:
 * `certa verify-chain --data DIR/CHAIN --quiet` (its default reading,
 * O_DIRECT), timing it and its CPU time (getrusage of the child); then,
 * from a dropped cache again, with `--io cached` (*_io_cached), and once
 * more with the chain now in the page cache (verify_mbps_cached: the
 * hashing speed without the disk). Prints `name value` lines, medians over
 * the rounds: verify_ratio_to_disk_read (the CONFIRM chain; > 1 means the
 * audit keeps up with the disk), verify_ratio_to_disk_read_mix, the MB/s of
 * each, verify_mb_per_cpu_s(_mix) (MB verified per CPU-second, less
 * sensitive to other load on the machine) and the 1-minute load average
 * before and after.
 *
 * usage: bench_verify_chain [--dir DIR] [--mb N] [--events-per-block N]
 *                           [--runs N] [--keep]
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "certa/codec.h"
#include "certa/store.h"

#include "certa/merkle.h"
#include "certa/wire.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed * 31u + i * 7u + 1u);
}

/* Event `i` of block `height`: a CONFIRM, or in the mix the i-th event of
 * the repeating sequence of four counter cases and a revoke. */
static void make_event(bool mix, uint64_t height, uint32_t i, certa_event *ev)
{
    memset(ev, 0, sizeof *ev);
    memcpy(ev->grant_id, &height, 8);
    memcpy(ev->grant_id + 8, &i, 4);
    uint64_t seed = height * 7919u + i;
    static const uint8_t cycle[21] = {
        CERTA_EV_GRANT, CERTA_EV_REDEEM, CERTA_EV_CONFIRM, CERTA_EV_SIGN, CERTA_EV_PHOTO,
        CERTA_EV_GRANT, CERTA_EV_REDEEM, CERTA_EV_CONFIRM, CERTA_EV_SIGN, CERTA_EV_PHOTO,
        CERTA_EV_GRANT, CERTA_EV_REDEEM, CERTA_EV_CONFIRM, CERTA_EV_SIGN, CERTA_EV_PHOTO,
        CERTA_EV_GRANT, CERTA_EV_REDEEM, CERTA_EV_CONFIRM, CERTA_EV_SIGN, CERTA_EV_PHOTO,
        CERTA_EV_REVOKE};
    ev->kind = mix ? cycle[i % 21] : CERTA_EV_CONFIRM;
    switch (ev->kind) {
    case CERTA_EV_GRANT:
        fill(ev->holder_id, sizeof ev->holder_id, seed + 1);
        ev->licence_types = (1u << CERTA_LT_ID_CARD) | (1u << CERTA_LT_HOUSEHOLD_REGISTER);
        ev->centre = (uint16_t)(1 + seed % 17);
        ev->counter = (uint16_t)(seed % 5);
        ev->matter = 1000u + (uint32_t)(seed % 100);
        ev->not_before_ms = 1893456000000ull + seed;
        ev->not_after_ms = ev->not_before_ms + 30ull * 60 * 1000;
        ev->max_uses = 1;
        ev->method = CERTA_METHOD_CODE;
        fill(ev->code_commit, sizeof ev->code_commit, seed + 2);
        break;
    case CERTA_EV_REDEEM:
        ev->centre = (uint16_t)(1 + seed % 17);
        ev->counter = (uint16_t)(1 + seed % 5);
        ev->matter = 1000u + (uint32_t)(seed % 100);
        memcpy(ev->code, "12345678", 8);
        fill(ev->salt, sizeof ev->salt, seed + 3);
        ev->licence_count = (uint8_t)(1 + (i / 21) % 3);
        for (unsigned l = 0; l < ev->licence_count; l++) {
            fill(ev->licences[l].id, sizeof ev->licences[l].id, seed + 10 + l);
            ev->licences[l].type = (uint8_t)l;
            fill(ev->licences[l].digest, sizeof ev->licences[l].digest, seed + 40 + l);
        }
        break;
    case CERTA_EV_REVOKE:
        fill(ev->holder_id, sizeof ev->holder_id, seed + 1);
        break;
    default: /* confirm, sign, photo */
        ev->centre = 1;
        ev->counter = (uint16_t)(1 + i % 20);
        for (int b = 0; b < 32; b++)
            ev->evidence[b] = (uint8_t)(height + i + (uint32_t)b);
        break;
    }
}

/* Builds block `height` with `events` events into out; returns its length
 * and sets hash_out to its header hash. */
static size_t make_block(bool mix, uint64_t height, uint32_t events, const uint8_t prev[32],
                         uint8_t *out, size_t cap, uint8_t *batch_buf, uint8_t *leaf_hashes,
                         uint8_t hash_out[32])
{
    size_t len = CERTA_HEADER_BYTES;
    uint32_t done = 0, batches = 0;
    uint64_t seq = height * 1000 + 1;
    while (done < events) {
        certa_batch_builder bb;
        certa_batch_begin(&bb, batch_buf, CERTA_BATCH_BYTES_MAX, (uint16_t)(height % 7), seq);
        uint32_t in_batch = 0;
        for (; done < events && in_batch < 1000; done++, in_batch++) {
            certa_event ev;
            make_event(mix, height, done, &ev);
            certa_errinfo ei;
            if (certa_batch_add(&bb, &ev, &ei) != CERTA_OK) {
                fprintf(stderr, "bench_verify_chain: %s\n", certa_errmsg(&ei));
                exit(3);
            }
        }
        uint8_t digest[32], sig[64] = {0};
        certa_batch_digest(&bb, digest);
        size_t n = certa_batch_seal(&bb, sig);
        if (len + 4 + n > cap)
            exit(3);
        certa_put_le32(out + len, (uint32_t)n);
        memcpy(out + len + 4, batch_buf, n);
        len += 4 + n;
        batches++;
        seq++;
    }
    /* leaves, exactly as a verifier computes them */
    size_t pos = CERTA_HEADER_BYTES, k = 0;
    certa_batch_view bv;
    while (certa_block_next_batch(out, len, &pos, &bv, NULL) == CERTA_OK) {
        size_t ep = 0;
        const uint8_t *ev;
        size_t ev_len;
        while (certa_batch_next(&bv, &ep, &ev, &ev_len)) {
            uint8_t leaf[CERTA_EVENT_BYTES_MAX + 16];
            size_t ln = certa_leaf_encode(bv.integrator, bv.seq, ev, ev_len, leaf, sizeof leaf);
            certa_merkle_leaf_hash(leaf, ln, leaf_hashes + 32 * k++);
        }
    }
    certa_block_header h;
    memset(&h, 0, sizeof h);
    h.height = height;
    h.timestamp_ms = 1893456000000ull + height * 1000;
    h.event_count = events;
    h.batch_count = batches;
    memcpy(h.prev_hash, prev, 32);
    certa_merkle_root_hashes(NULL, leaf_hashes, k, h.events_root, NULL);
    certa_header_encode(&h, out);
    certa_header_hash(&h, hash_out);
    return len;
}

static void drop_cache(const char *blocks)
{
    for (uint32_t i = 0;; i++) {
        char p[4200];
        if (snprintf(p, sizeof p, "%s/%08u.seg", blocks, i) >= (int)sizeof p)
            break;
        int fd = open(p, O_RDONLY);
        if (fd < 0)
            break;
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

static double read_all(const char *blocks, uint64_t *bytes)
{
    size_t cap = 8u << 20;
    uint8_t *buf = malloc(cap);
    *bytes = 0;
    double t0 = now_s();
    for (uint32_t i = 0;; i++) {
        char p[4200];
        if (snprintf(p, sizeof p, "%s/%08u.seg", blocks, i) >= (int)sizeof p)
            break;
        int fd = open(p, O_RDONLY);
        if (fd < 0)
            break;
        ssize_t n;
        while ((n = read(fd, buf, cap)) > 0)
            *bytes += (uint64_t)n;
        close(fd);
    }
    free(buf);
    return now_s() - t0;
}

static double child_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* Runs verify-chain on dir (--io io); returns wall seconds, *cpu_s its CPU
 * seconds. */
static double run_verify(const char *certa, const char *dir, const char *io, double *cpu_s)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' verify-chain --data '%s' --io %s --quiet", certa, dir, io);
    double c0 = child_cpu_s(), t0 = now_s();
    int rc = system(cmd);
    double el = now_s() - t0;
    *cpu_s = child_cpu_s() - c0;
    if (rc != 0) {
        fprintf(stderr, "bench_verify_chain: verify-chain failed (%d)\n", rc);
        exit(3);
    }
    return el;
}

static double loadavg_1m(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* Writes a chain of about mb MiB into dir/blocks; returns blocks written. */
static uint64_t write_chain(const char *dir, bool mix, unsigned long mb, unsigned long epb)
{
    char blocks[4200];
    if (mkdir(dir, 0755) != 0) {
        fprintf(stderr, "bench_verify_chain: cannot create %s\n", dir);
        exit(3);
    }
    snprintf(blocks, sizeof blocks, "%s/blocks", dir);
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = blocks;
    o.create = true;
    certa_store *s = NULL;
    certa_errinfo ei;
    if (certa_store_open(&o, &s, NULL, &ei) != CERTA_OK) {
        fprintf(stderr, "bench_verify_chain: %s\n", certa_errmsg(&ei));
        exit(3);
    }
    size_t cap = 64u << 20;
    uint8_t *block = malloc(cap), *bbuf = malloc(CERTA_BATCH_BYTES_MAX),
            *leaves = malloc((size_t)epb * 32);
    uint8_t prev[32] = {0}, hash[32];
    uint64_t total = 0, h = 0;
    while (total < (uint64_t)mb << 20) {
        size_t len = make_block(mix, h, (uint32_t)epb, prev, block, cap, bbuf, leaves, hash);
        if (certa_store_append(s, h, block, len, &ei) != CERTA_OK) {
            fprintf(stderr, "bench_verify_chain: %s\n", certa_errmsg(&ei));
            exit(3);
        }
        memcpy(prev, hash, 32);
        total += len;
        h++;
    }
    certa_store_wait_durable(s, h - 1, NULL);
    certa_store_close(s);
    free(block);
    free(bbuf);
    free(leaves);
    return h;
}

#define RUNS_MAX 15

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Measures one chain over `runs` rounds; prints its lines with suffix. */
static void measure(const char *certa, const char *dir, uint64_t blocks_n, unsigned long epb,
                    int runs, const char *suffix)
{
    char blocks[4200];
    snprintf(blocks, sizeof blocks, "%s/blocks", dir);
    double rd[RUNS_MAX], vt[RUNS_MAX], vc[RUNS_MAX], ratio[RUNS_MAX], per_cpu[RUNS_MAX];
    double cached[RUNS_MAX], dt[RUNS_MAX], dratio[RUNS_MAX], dper_cpu[RUNS_MAX];
    uint64_t bytes = 0;
    for (int r = 0; r < runs; r++) {
        drop_cache(blocks);
        double t = read_all(blocks, &bytes);
        drop_cache(blocks);
        double cpu, ccpu, cpu2;
        double v = run_verify(certa, dir, "direct", &cpu); /* the default */
        drop_cache(blocks);
        double c = run_verify(certa, dir, "cached", &ccpu);
        cached[r] = (double)bytes / run_verify(certa, dir, "cached", &cpu2) / 1e6; /* in memory */
        rd[r] = (double)bytes / t / 1e6;
        vt[r] = (double)bytes / v / 1e6;
        vc[r] = cpu;
        ratio[r] = t / v;
        per_cpu[r] = (double)bytes / cpu / 1e6;
        dt[r] = (double)bytes / c / 1e6;
        dratio[r] = t / c;
        dper_cpu[r] = (double)bytes / ccpu / 1e6;
        fprintf(stderr, "# %s round %d: disk_read %.1f MB/s; verify %.1f MB/s (%.3f s, %.3f "
                "CPU-s), ratio %.3f; --io cached %.1f MB/s (%.3f s, %.3f CPU-s), ratio %.3f; "
                "in memory %.1f MB/s; load %.2f\n", suffix[0] ? suffix + 1 : "confirm", r + 1,
                rd[r], vt[r], v, cpu, ratio[r], dt[r], c, ccpu, dratio[r], cached[r],
                loadavg_1m());
    }
    printf("chain_blocks%s %llu\n", suffix, (unsigned long long)blocks_n);
    printf("chain_events%s %llu\n", suffix, (unsigned long long)(blocks_n * epb));
    printf("chain_mb%s %.1f\n", suffix, (double)bytes / 1e6);
    printf("disk_read_mbps%s %.1f\n", suffix, median(rd, runs));
    double vmed = median(vt, runs);
    printf("verify_mbps%s %.1f\n", suffix, vmed);
    printf("verify_mbps_cached%s %.1f\n", suffix, median(cached, runs));
    printf("verify_events_per_s%s %.0f\n", suffix,
           vmed * 1e6 / ((double)bytes / (double)(blocks_n * epb)));
    printf("verify_cpu_s%s %.3f\n", suffix, median(vc, runs));
    printf("verify_mb_per_cpu_s%s %.1f\n", suffix, median(per_cpu, runs));
    printf("verify_ratio_to_disk_read%s %.3f\n", suffix, median(ratio, runs));
    printf("verify_mbps_io_cached%s %.1f\n", suffix, median(dt, runs));
    printf("verify_mb_per_cpu_s_io_cached%s %.1f\n", suffix, median(dper_cpu, runs));
    printf("verify_ratio_to_disk_read_io_cached%s %.3f\n", suffix, median(dratio, runs));
}

int main(int argc, char **argv)
{
    const char *base = "bench_verify_chain.tmp";
    unsigned long mb = 256, epb = 2000, runs = 3;
    bool keep = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            base = argv[++i];
        else if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc)
            mb = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--keep") == 0)
            keep = true;
        else if (strcmp(argv[i], "--events-per-block") == 0 && i + 1 < argc)
            epb = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_verify_chain [--dir DIR] [--mb N] "
                    "[--events-per-block N] [--runs N] [--keep]\n");
            return 2;
        }
    }
    if (epb == 0 || epb > 100000 || mb == 0 || runs == 0 || runs > RUNS_MAX)
        return 2;
    char self[4096], certa[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 3;
    self[n] = '\0';
    snprintf(certa, sizeof certa, "%s/certa", dirname(self));

    char cmd[8192], dconf[4200], dmix[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0 || mkdir(base, 0755) != 0) {
        fprintf(stderr, "bench_verify_chain: cannot create %s\n", base);
        return 3;
    }
    snprintf(dconf, sizeof dconf, "%s/confirm", base);
    snprintf(dmix, sizeof dmix, "%s/mix", base);
    uint64_t hc = write_chain(dconf, false, mb, epb);
    uint64_t hm = write_chain(dmix, true, mb, epb);
    printf("loadavg_1m_before %.2f\n", loadavg_1m());
    measure(certa, dconf, hc, epb, (int)runs, "");
    measure(certa, dmix, hm, epb, (int)runs, "_mix");
    printf("loadavg_1m_after %.2f\n", loadavg_1m());
    printf("cpus_online %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (!keep && system(cmd) != 0)
        return 3;
    return 0;
}
