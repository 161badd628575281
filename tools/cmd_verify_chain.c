/* certa verify-chain: audits a data directory's block log offline.
 *
 * Every record's checksums (the store opened read-only reports any torn or
 * corrupt record with its height), every block's header (its height field
 * equals the record's), the header hash chain (each header names the
 * previous header's SHA-256) and every block's event Merkle root (RFC 6962
 * over the leaves certa_leaf_encode gives, as docs/PROTOCOL.md describes),
 * plus the header's event and batch counts. Exits 0 when all hold, 1 naming
 * the first bad height, 3 on a runtime error.
 *
 * Speed: the store scan reads blocks in large sequential chunks into one of
 * two batch arenas while a verifier thread hashes the other arena's blocks,
 * one block per task, across a certa_pool (parallel hashing), then checks
 * the links in order. Reading and hashing overlap.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#if __has_include("certa/store.h") && __has_include("certa/merkle.h")
#include "certa/codec.h"
#include "certa/merkle.h"
#include "certa/pool.h"
#include "certa/store.h"
#include "pbft_msg.h"

#define CMD "verify-chain"
#define ARENA_BYTES (64u << 20)
#define ARENA_BLOCKS 4096u

static const char usage[] =
    "usage: certa verify-chain --data DIR [--threads N] [--quiet] [--list]\n\n"
    "Audits the block log of a data directory (DIR/blocks, or DIR itself when\n"
    "it holds the segment files): every record's CRC32C, the header hash chain\n"
    "(each block names the previous header's hash), every block's event Merkle\n"
    "root and event count. Prints blocks, events, bytes and elapsed time.\n\n"
    "  --threads N   hashing threads, 1..64 (default: the number of CPUs)\n"
    "  --quiet       print nothing on success\n"
    "  --list        first print where each block is: height, segment file,\n"
    "                byte offset of its record and payload bytes\n\n"
    "exit: 0 the chain verifies; 1 damage found (the first bad height is\n"
    "named); 2 usage; 3 runtime error (unreadable directory).\n";

typedef struct blk_result {
    bool bad;
    char why[240];
    uint8_t hash[CERTA_HASH_BYTES];
    uint8_t prev[CERTA_HASH_BYTES];
    uint64_t events;
} blk_result;

typedef struct arena {
    uint8_t *data;
    size_t used;
    uint64_t heights[ARENA_BLOCKS];
    size_t offs[ARENA_BLOCKS];
    size_t lens[ARENA_BLOCKS];
    blk_result res[ARENA_BLOCKS];
    uint32_t n;
} arena;

typedef struct scratch {
    uint8_t *hashes;
    size_t cap; /* hashes */
} scratch;

typedef struct verifier {
    certa_pool *pool;
    scratch scr[CERTA_POOL_THREADS_MAX];
    arena ar[2];
    int filling;           /* arena the scan fills */
    int full;              /* arena handed to the verifier, -1 none */
    bool done;             /* no more arenas */
    bool stop;             /* a failure was found: stop scanning */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* verifier-thread state */
    bool have_last;
    uint8_t last_hash[CERTA_HASH_BYTES];
    uint64_t last_height;
    uint64_t blocks, events, bytes;
    bool failed;
    uint64_t fail_height;
    char fail_msg[400];
    bool nomem;
} verifier;

static void set_bad(blk_result *r, const char *fmt, const char *detail)
{
    r->bad = true;
    snprintf(r->why, sizeof r->why, fmt, detail);
}

/* Verifies one block: decode, counts, Merkle root; computes its hash. */
static void verify_block(verifier *v, const uint8_t *b, size_t len, uint64_t height,
                         blk_result *r, unsigned worker)
{
    memset(r, 0, sizeof *r);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    /* Two record forms: the codec block (header, length-prefixed batches:
     * what `certa dry-run --data` writes) and a validator's committed block
     * (PBFT REC_BLOCK: header, batches as request items, commit signatures). */
    certa_block_header h;
    certa_pbft_msg m;
    bool rec = len >= 2 && b[0] == CERTA_PBFT_MSG_VERSION && b[1] == CERTA_PBFT_REC_BLOCK;
    size_t lpos = 0;
    if (rec) {
        certa_err de = certa_pbft_msg_decode(b, len, &m);
        if (de != CERTA_OK) {
            set_bad(r, "committed block record does not decode: %s", certa_strerror(de));
            return;
        }
        if (m.sig_count == 0) {
            set_bad(r, "%s", "committed block record carries no commit signature");
            return;
        }
        h = m.hdr;
    } else if (certa_block_decode_header(b, len, &h, &ei) != CERTA_OK) {
        set_bad(r, "header does not decode: %s", certa_errmsg(&ei));
        return;
    }
    certa_header_hash(&h, r->hash);
    memcpy(r->prev, h.prev_hash, CERTA_HASH_BYTES);
    if (h.height != height) {
        char d[64];
        snprintf(d, sizeof d, "%llu", (unsigned long long)h.height);
        set_bad(r, "header says height %s", d);
        return;
    }
    scratch *sc = &v->scr[worker];
    size_t pos = CERTA_HEADER_BYTES, n = 0;
    uint32_t batches = 0;
    uint8_t leaf[CERTA_EVENT_BYTES_MAX + 16];
    for (;;) {
        certa_batch_view bv;
        certa_err e;
        if (rec) {
            const uint8_t *it;
            size_t il;
            certa_pbft_request req;
            if (!certa_pbft_list_next(&m.reqs, &lpos, &it, &il))
                break;
            if (!certa_pbft_request_item(it, il, &req)) {
                set_bad(r, "%s", "a request item does not decode");
                return;
            }
            e = certa_batch_decode(req.bytes, req.len, &bv, &ei);
            if (e == CERTA_OK && (bv.integrator != req.integrator || bv.seq != req.seq))
                e = certa_errorf(&ei, CERTA_E_CHAIN, "batch %u: its integrator or seq "
                                 "differs from the request item's", batches);
        } else {
            e = certa_block_next_batch(b, len, &pos, &bv, &ei);
            if (e == CERTA_E_NOTFOUND)
                break;
        }
        if (e != CERTA_OK) {
            set_bad(r, "%s", certa_errmsg(&ei));
            return;
        }
        batches++;
        size_t epos = 0;
        const uint8_t *ev;
        size_t ev_len;
        while (certa_batch_next(&bv, &epos, &ev, &ev_len)) {
            if (n == sc->cap) {
                size_t cap = sc->cap ? sc->cap * 2 : 4096;
                uint8_t *nh = realloc(sc->hashes, cap * CERTA_HASH_BYTES);
                if (nh == NULL) {
                    set_bad(r, "%s", "out of memory");
                    v->nomem = true;
                    return;
                }
                sc->hashes = nh;
                sc->cap = cap;
            }
            size_t ln = certa_leaf_encode(bv.integrator, bv.seq, ev, ev_len, leaf, sizeof leaf);
            certa_merkle_leaf_hash(leaf, ln, sc->hashes + n * CERTA_HASH_BYTES);
            n++;
        }
    }
    r->events = n;
    if (n != h.event_count || batches != h.batch_count) {
        char d[128];
        snprintf(d, sizeof d, "%u events in %u batches, the block holds %zu in %u",
                 h.event_count, h.batch_count, n, batches);
        set_bad(r, "header counts %s", d);
        return;
    }
    uint8_t root[CERTA_HASH_BYTES];
    if (certa_merkle_root_hashes(NULL, sc->hashes, n, root, &ei) != CERTA_OK) {
        set_bad(r, "merkle: %s", certa_errmsg(&ei));
        return;
    }
    if (memcmp(root, h.events_root, CERTA_HASH_BYTES) != 0) {
        char hex[2 * CERTA_HASH_BYTES + 1];
        certa_hex_encode(root, CERTA_HASH_BYTES, hex);
        set_bad(r, "event Merkle root does not match the header (computed %s)", hex);
    }
}

typedef struct task_ctx {
    verifier *v;
    arena *a;
} task_ctx;

static void task(void *ctx, size_t i, unsigned worker)
{
    task_ctx *t = ctx;
    arena *a = t->a;
    verify_block(t->v, a->data + a->offs[i], a->lens[i], a->heights[i], &a->res[i], worker);
}

/* Checks one full arena in order; records the first failure. */
static void check_arena(verifier *v, arena *a)
{
    task_ctx t = {.v = v, .a = a};
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (certa_pool_run(v->pool, a->n, task, &t, 0, &ei) != CERTA_OK) {
        v->failed = true;
        v->fail_height = a->n ? a->heights[0] : 0;
        snprintf(v->fail_msg, sizeof v->fail_msg, "hashing failed: %s", certa_errmsg(&ei));
        return;
    }
    for (uint32_t i = 0; i < a->n && !v->failed; i++) {
        blk_result *r = &a->res[i];
        uint64_t h = a->heights[i];
        if (r->bad) {
            v->failed = true;
            v->fail_height = h;
            snprintf(v->fail_msg, sizeof v->fail_msg, "%s", r->why);
            break;
        }
        if (v->have_last && memcmp(r->prev, v->last_hash, CERTA_HASH_BYTES) != 0) {
            v->failed = true;
            v->fail_height = h;
            snprintf(v->fail_msg, sizeof v->fail_msg,
                     "previous-header hash does not match the hash of block %llu",
                     (unsigned long long)v->last_height);
            break;
        }
        memcpy(v->last_hash, r->hash, CERTA_HASH_BYTES);
        v->have_last = true;
        v->last_height = h;
        v->blocks++;
        v->events += r->events;
        v->bytes += a->lens[i];
    }
}

static void *verifier_main(void *arg)
{
    verifier *v = arg;
    pthread_mutex_lock(&v->mu);
    for (;;) {
        while (v->full < 0 && !v->done)
            pthread_cond_wait(&v->cv, &v->mu);
        if (v->full < 0)
            break;
        arena *a = &v->ar[v->full];
        pthread_mutex_unlock(&v->mu);
        if (!v->failed)
            check_arena(v, a);
        pthread_mutex_lock(&v->mu);
        a->n = 0;
        a->used = 0;
        v->full = -1;
        if (v->failed)
            v->stop = true;
        pthread_cond_broadcast(&v->cv);
    }
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

/* Hands the filling arena to the verifier (waiting while it is busy). */
static void hand_off(verifier *v)
{
    pthread_mutex_lock(&v->mu);
    while (v->full >= 0)
        pthread_cond_wait(&v->cv, &v->mu);
    v->full = v->filling;
    v->filling = 1 - v->filling;
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
}

static bool on_block(void *ctx, uint64_t height, const uint8_t *data, size_t len)
{
    verifier *v = ctx;
    arena *a = &v->ar[v->filling];
    if (a->n == ARENA_BLOCKS || (a->n > 0 && a->used + len > ARENA_BYTES)) {
        hand_off(v);
        a = &v->ar[v->filling];
    }
    if (len > ARENA_BYTES) {
        /* bigger than the arena: cannot happen for CERTA_BLOCK_BYTES_MAX */
        v->nomem = true;
        return false;
    }
    memcpy(a->data + a->used, data, len);
    a->heights[a->n] = height;
    a->offs[a->n] = a->used;
    a->lens[a->n] = len;
    a->n++;
    a->used += len;
    pthread_mutex_lock(&v->mu);
    bool stop = v->stop;
    pthread_mutex_unlock(&v->mu);
    return !stop;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void list_blocks(certa_store *s)
{
    uint64_t first, last;
    if (!certa_store_range(s, &first, &last))
        return;
    for (uint64_t h = first;; h++) {
        uint32_t seg;
        uint64_t off;
        size_t len;
        if (certa_store_locate(s, h, &seg, &off) == CERTA_OK &&
            certa_store_block_size(s, h, &len) == CERTA_OK)
            printf("block %llu segment %08u.seg offset %llu bytes %zu\n", (unsigned long long)h,
                   seg, (unsigned long long)off, len);
        if (h == last)
            break;
    }
}

static int run(const char *data, unsigned threads, bool quiet, bool list)
{
    char dir[4096];
    struct stat st;
    snprintf(dir, sizeof dir, "%s/blocks", data);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        snprintf(dir, sizeof dir, "%s", data);
    double t0 = now_s();
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    o.read_only = true;
    o.headers_only_on_open = true; /* the scan below checks every payload CRC */
    certa_store *s = NULL;
    certa_store_recovery rep;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err err = certa_store_open(&o, &s, &rep, &ei);
    if (err == CERTA_E_CORRUPT) {
        printf("FAIL %s\n", certa_errmsg(&ei));
        return CERTA_EXIT_FAIL;
    }
    if (err != CERTA_OK)
        return certa_fail(CMD, "%s", certa_errmsg(&ei));

    if (list)
        list_blocks(s);
    static verifier v;
    memset(&v, 0, sizeof v);
    v.full = -1;
    pthread_mutex_init(&v.mu, NULL);
    pthread_cond_init(&v.cv, NULL);
    int rc = CERTA_EXIT_OK;
    for (int i = 0; i < 2; i++) {
        v.ar[i].data = malloc(ARENA_BYTES);
        if (v.ar[i].data == NULL) {
            rc = certa_fail(CMD, "out of memory");
            goto out;
        }
    }
    if (threads > 1 && certa_pool_create(threads, &v.pool, &ei) != CERTA_OK) {
        rc = certa_fail(CMD, "%s", certa_errmsg(&ei));
        goto out;
    }
    pthread_t th;
    if (pthread_create(&th, NULL, verifier_main, &v) != 0) {
        rc = certa_fail(CMD, "cannot start a thread");
        goto out;
    }
    uint64_t first = 0, last = 0;
    certa_err scan_err = CERTA_OK;
    certa_errinfo sei;
    certa_errinfo_clear(&sei);
    if (certa_store_range(s, &first, &last))
        scan_err = certa_store_scan(s, first, last, on_block, &v, &sei);
    if (v.ar[v.filling].n > 0)
        hand_off(&v);
    pthread_mutex_lock(&v.mu);
    while (v.full >= 0)
        pthread_cond_wait(&v.cv, &v.mu);
    v.done = true;
    pthread_cond_broadcast(&v.cv);
    pthread_mutex_unlock(&v.mu);
    pthread_join(th, NULL);
    double el = now_s() - t0;

    if (v.nomem) {
        rc = certa_fail(CMD, "out of memory");
        goto out;
    }
    /* The first bad height wins: a bad block found by hashing comes before
     * a read failure or damage found later in the log. */
    if (v.failed) {
        printf("FAIL height %llu: %s\n", (unsigned long long)v.fail_height, v.fail_msg);
        rc = CERTA_EXIT_FAIL;
    } else if (scan_err == CERTA_E_CORRUPT) {
        printf("FAIL %s\n", certa_errmsg(&sei));
        rc = CERTA_EXIT_FAIL;
    } else if (scan_err != CERTA_OK) {
        rc = certa_fail(CMD, "%s", certa_errmsg(&sei));
    } else if (rep.damaged) {
        printf("FAIL height %llu: %s\n", (unsigned long long)rep.damage_height, rep.damage_msg);
        rc = CERTA_EXIT_FAIL;
    }
    if (rc == CERTA_EXIT_OK && !quiet) {
        if (v.blocks > 0)
            printf("blocks %llu (heights %llu..%llu)\n", (unsigned long long)v.blocks,
                   (unsigned long long)first, (unsigned long long)last);
        else
            printf("blocks 0\n");
        printf("events %llu\n", (unsigned long long)v.events);
        printf("bytes %llu\n", (unsigned long long)v.bytes);
        printf("segments %u\n", rep.segments);
        printf("elapsed_s %.3f\n", el);
        printf("mb_per_s %.1f\n", el > 0 ? (double)v.bytes / el / 1e6 : 0.0);
        printf("threads %u\n", threads);
        printf("OK\n");
    } else if (rc == CERTA_EXIT_FAIL) {
        printf("verified %llu blocks before the failure\n", (unsigned long long)v.blocks);
    }
out:
    for (int i = 0; i < 2; i++)
        free(v.ar[i].data);
    for (unsigned i = 0; i < CERTA_POOL_THREADS_MAX; i++)
        free(v.scr[i].hashes);
    certa_pool_destroy(v.pool);
    certa_store_close(s);
    return rc;
}

int certa_cmd_verify_chain(int argc, char **argv)
{
    if (certa_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CERTA_EXIT_OK;
    }
    const char *data = NULL;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned long long threads = ncpu > 0 ? (unsigned long long)ncpu : 1;
    if (threads > CERTA_POOL_THREADS_MAX)
        threads = CERTA_POOL_THREADS_MAX;
    bool quiet = false, list = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 1, CERTA_POOL_THREADS_MAX, &threads) != 0)
                return certa_usage_error(CMD, "--threads needs a number in 1..%d",
                                         CERTA_POOL_THREADS_MAX);
        } else if (strcmp(argv[i], "--quiet") == 0)
            quiet = true;
        else if (strcmp(argv[i], "--list") == 0)
            list = true;
        else
            return certa_usage_error(CMD, "unexpected argument '%s'", argv[i]);
    }
    if (data == NULL)
        return certa_usage_error(CMD, "--data DIR is required");
    return run(data, (unsigned)threads, quiet, list);
}

#else
int certa_cmd_verify_chain(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "certa verify-chain: not built into this binary (needs the merkle module)\n");
    return CERTA_EXIT_ERROR;
}
#endif
