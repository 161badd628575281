/* bench_verify_chain: `certa verify-chain` against the disk's own sequential
 * read speed, measured in the same run.
 *
 * Writes a synthetic chain of valid blocks (CONFIRM events in unsigned
 * batches, real header chain and event Merkle roots) into DIR/blocks with
 * the store, drops the page cache of its segment files, reads them once
 * sequentially (the disk's read limit), drops the cache again and runs the
 * `certa` binary built beside this one: `certa verify-chain --data DIR`.
 * Prints `name value` lines, including verify_ratio_to_disk_read (> 1 means
 * the audit keeps up with the disk) and verify_mbps_cached (hashing speed
 * once the data is in memory).
 *
 * usage: bench_verify_chain [--dir DIR] [--mb N] [--events-per-block N] [--keep]
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certa/codec.h"
#include "certa/store.h"

#if __has_include("certa/merkle.h")
#include "certa/merkle.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Builds block `height` with `events` CONFIRM events into out; returns its
 * length and sets hash_out to its header hash. */
static size_t make_block(uint64_t height, uint32_t events, const uint8_t prev[32],
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
            memset(&ev, 0, sizeof ev);
            ev.kind = CERTA_EV_CONFIRM;
            memcpy(ev.grant_id, &height, 8);
            memcpy(ev.grant_id + 8, &done, 4);
            ev.centre = 1;
            ev.counter = (uint16_t)(1 + done % 20);
            for (int i = 0; i < 32; i++)
                ev.evidence[i] = (uint8_t)(height + done + (uint32_t)i);
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
        put32(out + len, (uint32_t)n);
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

static double run_verify(const char *certa, const char *dir)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' verify-chain --data '%s' --quiet", certa, dir);
    double t0 = now_s();
    int rc = system(cmd);
    double el = now_s() - t0;
    if (rc != 0) {
        fprintf(stderr, "bench_verify_chain: verify-chain failed (%d)\n", rc);
        exit(3);
    }
    return el;
}

int main(int argc, char **argv)
{
    const char *base = "bench_verify_chain.tmp";
    unsigned long mb = 256, epb = 2000;
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
        else {
            fprintf(stderr, "usage: bench_verify_chain [--dir DIR] [--mb N] [--events-per-block N] [--keep]\n");
            return 2;
        }
    }
    if (epb == 0 || epb > 100000 || mb == 0)
        return 2;
    char self[4096], certa[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 3;
    self[n] = '\0';
    snprintf(certa, sizeof certa, "%s/certa", dirname(self));

    char blocks[4200], cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0 || mkdir(base, 0755) != 0) {
        fprintf(stderr, "bench_verify_chain: cannot create %s\n", base);
        return 3;
    }
    snprintf(blocks, sizeof blocks, "%s/blocks", base);
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = blocks;
    o.create = true;
    certa_store *s = NULL;
    certa_errinfo ei;
    if (certa_store_open(&o, &s, NULL, &ei) != CERTA_OK) {
        fprintf(stderr, "bench_verify_chain: %s\n", certa_errmsg(&ei));
        return 3;
    }
    size_t cap = 64u << 20;
    uint8_t *block = malloc(cap), *bbuf = malloc(CERTA_BATCH_BYTES_MAX),
            *leaves = malloc((size_t)epb * 32);
    uint8_t prev[32] = {0}, hash[32];
    uint64_t total = 0, h = 0;
    while (total < (uint64_t)mb << 20) {
        size_t len = make_block(h, (uint32_t)epb, prev, block, cap, bbuf, leaves, hash);
        if (certa_store_append(s, h, block, len, &ei) != CERTA_OK) {
            fprintf(stderr, "bench_verify_chain: %s\n", certa_errmsg(&ei));
            return 3;
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

    drop_cache(blocks);
    uint64_t bytes;
    double rd = read_all(blocks, &bytes);
    drop_cache(blocks);
    double vt = run_verify(certa, base);
    double vc = run_verify(certa, base); /* now (partly) cached */
    printf("chain_blocks %llu\n", (unsigned long long)h);
    printf("chain_events %llu\n", (unsigned long long)(h * epb));
    printf("chain_mb %.1f\n", (double)bytes / 1e6);
    printf("disk_read_mbps %.1f\n", (double)bytes / rd / 1e6);
    printf("verify_mbps %.1f\n", (double)bytes / vt / 1e6);
    printf("verify_mbps_cached %.1f\n", (double)bytes / vc / 1e6);
    printf("verify_events_per_s %.0f\n", (double)(h * epb) / vt);
    printf("verify_ratio_to_disk_read %.3f\n", rd / vt);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (!keep && system(cmd) != 0)
        return 3;
    return 0;
}
#else
int main(void)
{
    printf("# bench_verify_chain: needs the merkle module; skipped\n");
    return 0;
}
#endif
