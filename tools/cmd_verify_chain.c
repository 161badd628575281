/* certa verify-chain: audits a data directory's block log offline.
 *
 * Every record's checksums (the store, opened read-only, reports any torn or
 * corrupt record with its height), every block's header (its height field
 * equals the record's), the header hash chain (each header names the
 * previous header's SHA-256) and every block's event Merkle root (RFC 6962
 * over the leaves certa_leaf_encode gives, as docs/PROTOCOL.md describes),
 * plus the header's event and batch counts; with --genesis, every validator
 * record's commit certificate too (certa_block_cert_verify, the verifier
 * receipts use). Exits 0 when all hold, 1 naming the first bad height, 3 on
 * a runtime error.
 *
 * Speed: the audit does only the work it needs. Batches are walked for
 * their framing (certa_batch_frame: lengths and counts, not each event's
 * fields, not the batch digest), and each event is hashed where it lies,
 * as a split leaf (its batch's 10-byte leaf prefix, then its bytes), by
 * the merkle module's multi-message kernels. Pipeline: the read-only store
 * open reads every segment once, sequentially, several MiB ahead (O_DIRECT
 * through io_uring, or the page cache with --io cached; on_open_block),
 * and this thread copies each verified block into a bounded window
 * (RING_BYTES of block bytes, SLOTS blocks). --threads N workers (default
 * one per CPU) take blocks in height order and verify each on its own, and
 * this thread, whenever the window is full, hashes the next block itself
 * instead of sleeping (the submitted reads go on meanwhile).
 * This thread retires results strictly in height order and checks the
 * hash links there: the first bad height is reported even when a later
 * block finished first, and memory stays bounded whatever the log's size.
 * Invariants: slots [head, tail) are in flight in height order; a slot's
 * bytes stay put until it is retired; only this thread allocates window
 * space and retires.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#if __has_include("certa/store.h") && __has_include("certa/merkle.h")
#include "certa/block.h"
#include "certa/codec.h"
#include "certa/genesis.h"
#include "certa/merkle.h"
#include "certa/pool.h"
#include "certa/store.h"

#define CMD "verify-chain"
#define RING_BYTES (32u << 20) /* block bytes in flight */
#define SLOTS 1024u            /* blocks in flight */
/* A larger block gets a buffer of its own; such buffers hold at most
 * BIG_BUDGET bytes together (or one block, whatever its size), so several
 * big blocks are hashed at once and memory stays bounded. */
#define BIG_BYTES (RING_BYTES / 4)
#define BIG_BUDGET (128u << 20)

static const char usage[] =
    "usage: certa verify-chain --data DIR [--threads N] [--io direct|cached]\n"
    "                          [--quiet] [--list] [--progress|--no-progress]\n\n"
    "Audits the block log of a data directory (DIR/blocks, or DIR itself when\n"
    "it holds the segment files): every record's CRC32C, the header hash chain\n"
    "(each block names the previous header's hash), every block's event Merkle\n"
    "root and its event and batch counts, and the framing of every batch (not\n"
    "each event's fields, nor batch signatures); with --genesis, also each\n"
    "validator block's commit certificate (a quorum of the genesis validators\n"
    "signed it). Reads the log once,\n"
    "sequentially and ahead; blocks are hashed in parallel and checked in\n"
    "height order. Prints blocks, events, bytes, elapsed and CPU seconds.\n\n"
    "  --genesis F   verify commit certificates against genesis file F\n"
    "  --threads N   hashing threads, 1..63 (default: the number of CPUs);\n"
    "                the reading thread also hashes while its window is full\n"
    "  --io MODE     direct (default): O_DIRECT reads, several MiB in flight:\n"
    "                what is on the disk, no page cache, less CPU (through the\n"
    "                cache where the filesystem refuses O_DIRECT); cached:\n"
    "                through the page cache with read-ahead\n"
    "  --quiet       print nothing on success\n"
    "  --progress    a progress line on stderr every second (height, blocks,\n"
    "                events, MB, MB/s); the default when stderr is a\n"
    "                terminal and --quiet is not given\n"
    "  --no-progress no progress lines\n"
    "  --list        also print where each block is: height, segment file,\n"
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

enum { SLOT_FREE, SLOT_QUEUED, SLOT_DONE };

typedef struct slot {
    uint64_t height;
    uint8_t *data; /* into the ring, or its own allocation when big */
    size_t len;
    size_t span;   /* ring bytes it holds (with any skipped ring end) */
    bool own;
    int state;
    blk_result res;
} slot;

/* One worker's buffers, grown on demand and kept: the leaf head of each
 * batch (u16 integrator || u64 seq) and the leaf list, whose data points
 * at the events where they lie in the block. */
typedef struct scratch {
    uint8_t *heads;
    size_t heads_cap; /* bytes */
    certa_merkle_split_leaf *leaves;
    size_t leaves_cap;
} scratch;

typedef struct verifier {
    pthread_mutex_t mu;
    pthread_cond_t cv_work; /* workers: a slot was queued, or quit */
    pthread_cond_t cv_done; /* this thread: a slot is done */
    slot *slots;
    uint64_t head, tail, next_job; /* head <= next_job <= tail */
    uint8_t *ring;
    size_t ring_tail, ring_used;
    size_t big_used; /* bytes in own buffers of big blocks in flight */
    bool quit;
    unsigned workers; /* hashing threads besides the reading one */
    pthread_t th[CERTA_POOL_THREADS_MAX];
    scratch scr[CERTA_POOL_THREADS_MAX];
    unsigned started;
    /* retirement, on the reading thread */
    bool have_last;
    uint8_t last_hash[CERTA_HASH_BYTES];
    uint64_t last_height;
    uint64_t blocks, events, bytes;
    /* progress lines on stderr (retiring thread, mu held) */
    bool progress, progress_tty, progress_shown, progress_asked;
    double progress_t0, progress_last;
    bool failed;
    uint64_t fail_height;
    char fail_msg[400];
    bool nomem; /* set under mu by any thread */
} verifier;

static void set_bad(blk_result *r, const char *fmt, const char *detail)
{
    r->bad = true;
    snprintf(r->why, sizeof r->why, fmt, detail);
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    void *n = realloc(*p, c * elem);
    if (n == NULL)
        return false;
    *p = n;
    *cap = c;
    return true;
}

/* Appends the leaves of batch number `batch` to sc: its head (the leaf
 * prefix certa_leaf_encode writes) once, and for each event a split leaf
 * of head || event bytes, in place. False when out of memory. Heads are
 * referred to by offset until the block is complete (the buffer may move);
 * the caller fixes them up. */
static bool add_batch_leaves(scratch *sc, const certa_batch_view *bv, uint32_t batch,
                             size_t *n)
{
    size_t hoff = (size_t)batch * CERTA_LEAF_PREFIX_BYTES;
    if (!grow((void **)&sc->heads, &sc->heads_cap, hoff + CERTA_LEAF_PREFIX_BYTES, 1) ||
        !grow((void **)&sc->leaves, &sc->leaves_cap, *n + bv->event_count,
              sizeof *sc->leaves))
        return false;
    static const uint8_t none[1];
    size_t hl = certa_leaf_encode(bv->integrator, bv->seq, none, 0, sc->heads + hoff,
                                  CERTA_LEAF_PREFIX_BYTES);
    CERTA_ASSERT(hl == CERTA_LEAF_PREFIX_BYTES && hl <= CERTA_MERKLE_HEAD_MAX);
    size_t epos = 0;
    const uint8_t *ev;
    size_t ev_len;
    while (certa_batch_next(bv, &epos, &ev, &ev_len)) {
        CERTA_ASSERT(*n < sc->leaves_cap);
        sc->leaves[*n] = (certa_merkle_split_leaf){
            .head = (const uint8_t *)(uintptr_t)hoff, .head_len = (uint32_t)hl,
            .data = ev, .len_bytes = (uint32_t)ev_len};
        (*n)++;
    }
    return true;
}

/* With --genesis: the key set commit certificates are verified against
 * (read-only while the workers run). */
static const certa_block_keyset *cert_keys;

/* Verifies one block: framing, counts, Merkle root, with --genesis its
 * commit certificate; computes its hash.
 * Returns false only when out of memory. */
static bool verify_block(scratch *sc, const uint8_t *b, size_t len, uint64_t height,
                         blk_result *r)
{
    memset(r, 0, sizeof *r);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    /* Two record forms: the codec block (header, length-prefixed batches:
     * what `certa dry-run --data` writes) and a validator's committed block
     * (certa/block.h: header, batches, commit signatures). */
    certa_block_header h;
    certa_block blk;
    bool rec = certa_block_is_record(b, len);
    size_t lpos = 0;
    if (rec) {
        if (certa_block_decode(b, len, &blk, &ei) != CERTA_OK) {
            set_bad(r, "committed block record does not decode: %s", certa_errmsg(&ei));
            return true;
        }
        if (blk.sig_count == 0) {
            set_bad(r, "%s", "committed block record carries no commit signature");
            return true;
        }
        h = blk.hdr;
    } else if (certa_block_decode_header(b, len, &h, &ei) != CERTA_OK) {
        set_bad(r, "header does not decode: %s", certa_errmsg(&ei));
        return true;
    }
    certa_header_hash(&h, r->hash);
    memcpy(r->prev, h.prev_hash, CERTA_HASH_BYTES);
    if (rec && cert_keys != NULL) {
        certa_commit_cert cert;
        certa_block_cert(&blk, r->hash, &cert);
        if (certa_block_cert_verify(&cert, cert_keys, &ei) != CERTA_OK) {
            set_bad(r, "%s", certa_errmsg(&ei));
            return true;
        }
    }
    if (h.height != height) {
        char d[64];
        snprintf(d, sizeof d, "%llu", (unsigned long long)h.height);
        set_bad(r, "header says height %s", d);
        return true;
    }
    size_t pos = CERTA_HEADER_BYTES, n = 0;
    uint32_t batches = 0;
    for (;;) {
        certa_batch_view bv;
        certa_err e;
        if (rec) {
            certa_block_batch req;
            if (!certa_block_next(&blk, &lpos, &req))
                break;
            e = certa_batch_frame(req.bytes, req.len, &bv, &ei);
            if (e == CERTA_OK && (bv.integrator != req.integrator || bv.seq != req.seq))
                e = certa_errorf(&ei, CERTA_E_CHAIN, "batch %u: its integrator or seq "
                                 "differs from the request item's", batches);
        } else {
            e = certa_block_next_batch_frame(b, len, &pos, &bv, &ei);
            if (e == CERTA_E_NOTFOUND)
                break;
        }
        if (e != CERTA_OK) {
            set_bad(r, "%s", certa_errmsg(&ei));
            return true;
        }
        if (!add_batch_leaves(sc, &bv, batches, &n))
            return false;
        batches++;
    }
    r->events = n;
    if (n != h.event_count || batches != h.batch_count) {
        char d[128];
        snprintf(d, sizeof d, "%u events in %u batches, the block holds %zu in %u",
                 h.event_count, h.batch_count, n, batches);
        set_bad(r, "header counts %s", d);
        return true;
    }
    for (size_t i = 0; i < n; i++)
        sc->leaves[i].head = sc->heads + (uintptr_t)sc->leaves[i].head;
    uint8_t root[CERTA_HASH_BYTES];
    if (certa_merkle_root_split(NULL, sc->leaves, n, root, &ei) != CERTA_OK)
        return false; /* its only failure: no memory for chunk roots */
    if (memcmp(root, h.events_root, CERTA_HASH_BYTES) != 0) {
        char hex[2 * CERTA_HASH_BYTES + 1];
        certa_hex_encode(root, CERTA_HASH_BYTES, hex);
        set_bad(r, "event Merkle root does not match the header (computed %s)", hex);
    }
    return true;
}

typedef struct worker_arg {
    verifier *v;
    unsigned id;
} worker_arg;

/* Test hook: CERTA_VERIFY_CHAIN_SLOW_HEIGHT=H makes the worker that takes
 * block H wait 200 ms first, so that later blocks finish on the other
 * workers before it (tests/integration/it_verify_chain.sh checks that the
 * first bad height is still the one reported). */
static uint64_t slow_height = UINT64_MAX;

/* Test hook: CERTA_VERIFY_CHAIN_PROGRESS_MS sets the progress interval
 * (default 1000 ms), so a test sees lines from a short chain. */
static double progress_every_s = 1.0;

static void read_test_hook(void)
{
    const char *e = getenv("CERTA_VERIFY_CHAIN_SLOW_HEIGHT");
    unsigned long long h;
    if (e != NULL && certa_parse_u64(e, 0, UINT64_MAX - 1, &h) == 0)
        slow_height = h;
    e = getenv("CERTA_VERIFY_CHAIN_PROGRESS_MS");
    if (e != NULL && certa_parse_u64(e, 0, 3600000, &h) == 0)
        progress_every_s = (double)h / 1000.0;
}

/* Takes the next queued block and verifies it on the calling thread; mu is
 * held on entry and on return. */
static void hash_one_locked(verifier *v, scratch *sc)
{
    CERTA_ASSERT(v->next_job < v->tail);
    slot *s = &v->slots[v->next_job % SLOTS];
    v->next_job++;
    CERTA_ASSERT(s->state == SLOT_QUEUED);
    pthread_mutex_unlock(&v->mu);
    if (s->height == slow_height)
        nanosleep(&(struct timespec){.tv_nsec = 200000000}, NULL);
    bool ok = verify_block(sc, s->data, s->len, s->height, &s->res);
    pthread_mutex_lock(&v->mu);
    if (!ok) {
        v->nomem = true;
        set_bad(&s->res, "%s", "out of memory");
    }
    s->state = SLOT_DONE;
    pthread_cond_signal(&v->cv_done);
}

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    verifier *v = wa->v;
    scratch *sc = &v->scr[wa->id];
    pthread_mutex_lock(&v->mu);
    for (;;) {
        while (v->next_job == v->tail && !v->quit)
            pthread_cond_wait(&v->cv_work, &v->mu);
        if (v->next_job == v->tail)
            break; /* quit and nothing left */
        hash_one_locked(v, sc);
    }
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

static double now_s(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A line on stderr at most every progress_every_s: where the audit is and
 * how fast it goes (on a terminal, one line rewritten in place). */
static void progress_tick(verifier *v, bool final)
{
    double t = now_s(CLOCK_MONOTONIC);
    if (!final && t - v->progress_last < progress_every_s)
        return;
    if (final && !v->progress_shown && !v->progress_asked)
        return; /* a short run on a terminal: no line at all */
    v->progress_last = t;
    v->progress_shown = true;
    double el = t - v->progress_t0;
    fprintf(stderr, "%sverify-chain: height %llu, %llu blocks, %llu events, %.1f MB, %.0f MB/s, %.1f s%s",
            v->progress_tty ? "\r" : "", (unsigned long long)v->last_height,
            (unsigned long long)v->blocks, (unsigned long long)v->events,
            (double)v->bytes / 1e6, el > 0 ? (double)v->bytes / el / 1e6 : 0.0, el,
            v->progress_tty ? (final ? "\033[K\n" : "\033[K") : "\n");
    fflush(stderr);
}

/* In height order: records the first failure, else extends the chain. */
static void check_result(verifier *v, const slot *s)
{
    const blk_result *r = &s->res;
    if (v->failed)
        return;
    if (r->bad) {
        v->failed = true;
        v->fail_height = s->height;
        snprintf(v->fail_msg, sizeof v->fail_msg, "%s", r->why);
        return;
    }
    if (v->have_last && memcmp(r->prev, v->last_hash, CERTA_HASH_BYTES) != 0) {
        v->failed = true;
        v->fail_height = s->height;
        snprintf(v->fail_msg, sizeof v->fail_msg,
                 "previous-header hash does not match the hash of block %llu",
                 (unsigned long long)v->last_height);
        return;
    }
    memcpy(v->last_hash, r->hash, CERTA_HASH_BYTES);
    v->have_last = true;
    v->last_height = s->height;
    v->blocks++;
    v->events += r->events;
    v->bytes += s->len;
    if (v->progress && (v->blocks & 15) == 0)
        progress_tick(v, false);
}

/* Retires the done slots at the head, in order (mu held). */
static void retire_locked(verifier *v)
{
    while (v->head < v->tail) {
        slot *s = &v->slots[v->head % SLOTS];
        if (s->state != SLOT_DONE)
            break;
        check_result(v, s);
        if (s->own) {
            free(s->data);
            v->big_used -= s->len;
        } else {
            v->ring_used -= s->span;
        }
        s->state = SLOT_FREE;
        v->head++;
    }
}

/* Ring bytes a block of len bytes would take now (skipping the ring's end
 * when it does not fit there) and where it would start. */
static size_t ring_span(const verifier *v, size_t len, size_t *start)
{
    if (v->ring_tail + len <= RING_BYTES) {
        *start = v->ring_tail;
        return len;
    }
    *start = 0;
    return RING_BYTES - v->ring_tail + len;
}

/* The store's open calls this for each block whose checksum verified. */
static bool on_block(void *ctx, uint64_t height, const uint8_t *data, size_t len)
{
    verifier *v = ctx;
    bool big = len > BIG_BYTES;
    size_t start = 0, span = 0;
    pthread_mutex_lock(&v->mu);
    for (;;) {
        retire_locked(v);
        if (v->failed || v->nomem) {
            pthread_mutex_unlock(&v->mu);
            return false;
        }
        bool room = v->tail - v->head < SLOTS;
        if (room && big)
            room = v->big_used == 0 || v->big_used + len <= BIG_BUDGET;
        if (room && !big) {
            span = ring_span(v, len, &start);
            room = v->ring_used + span <= RING_BYTES;
        }
        if (room)
            break;
        /* The window is full: hash a block here rather than sleep (the
         * reads already submitted go on meanwhile). */
        if (v->next_job < v->tail)
            hash_one_locked(v, &v->scr[v->workers]);
        else
            pthread_cond_wait(&v->cv_done, &v->mu);
    }
    slot *s = &v->slots[v->tail % SLOTS];
    CERTA_ASSERT(s->state == SLOT_FREE);
    s->height = height;
    s->len = len;
    s->own = big;
    if (big) {
        s->data = malloc(len > 0 ? len : 1);
        s->span = 0;
        if (s->data == NULL) {
            v->nomem = true;
            pthread_mutex_unlock(&v->mu);
            return false;
        }
        v->big_used += len;
    } else {
        s->data = v->ring + start;
        s->span = span;
        v->ring_used += span;
        v->ring_tail = start + len;
    }
    pthread_mutex_unlock(&v->mu);
    /* only this thread writes the slot until it is queued */
    memcpy(s->data, data, len);
    pthread_mutex_lock(&v->mu);
    s->state = SLOT_QUEUED;
    v->tail++;
    pthread_cond_signal(&v->cv_work);
    pthread_mutex_unlock(&v->mu);
    return true;
}

/* Waits for every block in flight and retires it. */
static void drain(verifier *v)
{
    pthread_mutex_lock(&v->mu);
    for (;;) {
        retire_locked(v);
        if (v->head == v->tail)
            break;
        if (v->next_job < v->tail)
            hash_one_locked(v, &v->scr[v->workers]);
        else
            pthread_cond_wait(&v->cv_done, &v->mu);
    }
    pthread_mutex_unlock(&v->mu);
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

static int start_workers(verifier *v, worker_arg *args)
{
    for (unsigned i = 0; i < v->workers; i++) {
        args[i] = (worker_arg){.v = v, .id = i};
        if (pthread_create(&v->th[i], NULL, worker_main, &args[i]) != 0)
            return -1;
        v->started++;
    }
    return 0;
}

static void stop_workers(verifier *v)
{
    pthread_mutex_lock(&v->mu);
    v->quit = true;
    pthread_cond_broadcast(&v->cv_work);
    pthread_mutex_unlock(&v->mu);
    for (unsigned i = 0; i < v->started; i++)
        pthread_join(v->th[i], NULL);
    v->started = 0;
}

static int run(const char *data, unsigned threads, bool direct, bool quiet, bool list,
               int progress)
{
    char dir[4096];
    struct stat st;
    snprintf(dir, sizeof dir, "%s/blocks", data);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        snprintf(dir, sizeof dir, "%s", data);
    double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);

    static verifier v;
    static worker_arg args[CERTA_POOL_THREADS_MAX];
    memset(&v, 0, sizeof v);
    v.workers = threads; /* and this thread hashes when the window is full */
    v.progress_tty = isatty(STDERR_FILENO) == 1;
    v.progress_asked = progress > 0;
    v.progress = progress > 0 || (progress < 0 && !quiet && v.progress_tty);
    v.progress_t0 = v.progress_last = t0;
    pthread_mutex_init(&v.mu, NULL);
    pthread_cond_init(&v.cv_work, NULL);
    pthread_cond_init(&v.cv_done, NULL);
    int rc = CERTA_EXIT_OK;
    certa_store *s = NULL;
    v.slots = calloc(SLOTS, sizeof *v.slots);
    /* huge pages where the kernel allows: 16 page faults, not 8192 */
    void *ring = NULL;
    if (posix_memalign(&ring, 2u << 20, RING_BYTES) == 0) {
        (void)madvise(ring, RING_BYTES, MADV_HUGEPAGE);
        v.ring = ring;
    }
    if (v.slots == NULL || v.ring == NULL) {
        rc = certa_fail(CMD, "out of memory");
        goto out;
    }
    if (start_workers(&v, args) != 0) {
        rc = certa_fail(CMD, "cannot start a thread");
        goto out;
    }

    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    o.read_only = true;
    o.direct_io = direct ? 1 : 0;
    o.on_open_block = on_block; /* one sequential pass: checksums, then us */
    o.on_open_block_ctx = &v;
    certa_store_recovery rep;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err err = certa_store_open(&o, &s, &rep, &ei);
    drain(&v);
    stop_workers(&v);
    if (v.progress)
        progress_tick(&v, true); /* the last line: asked for, or after others */
    double el = now_s(CLOCK_MONOTONIC) - t0;
    double cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;

    if (v.nomem) {
        rc = certa_fail(CMD, "out of memory");
        goto out;
    }
    /* The first bad height wins: the open feeds only blocks before any
     * damage it finds, so a bad block found by hashing comes first. */
    if (v.failed) {
        printf("FAIL height %llu: %s\n", (unsigned long long)v.fail_height, v.fail_msg);
        rc = CERTA_EXIT_FAIL;
    } else if (err == CERTA_E_CORRUPT) {
        printf("FAIL %s\n", certa_errmsg(&ei));
        rc = CERTA_EXIT_FAIL;
    } else if (err != CERTA_OK) {
        rc = certa_fail(CMD, "%s", certa_errmsg(&ei));
        goto out;
    } else if (rep.damaged) {
        printf("FAIL height %llu: %s\n", (unsigned long long)rep.damage_height, rep.damage_msg);
        rc = CERTA_EXIT_FAIL;
    }
    if (list && s != NULL)
        list_blocks(s);
    if (rc == CERTA_EXIT_OK && !quiet) {
        if (v.blocks > 0)
            printf("blocks %llu (heights %llu..%llu)\n", (unsigned long long)v.blocks,
                   (unsigned long long)rep.first_height, (unsigned long long)rep.last_height);
        else
            printf("blocks 0\n");
        printf("events %llu\n", (unsigned long long)v.events);
        printf("bytes %llu\n", (unsigned long long)v.bytes);
        printf("segments %u\n", rep.segments);
        printf("elapsed_s %.3f\n", el);
        printf("cpu_s %.3f\n", cpu);
        printf("mb_per_s %.1f\n", el > 0 ? (double)v.bytes / el / 1e6 : 0.0);
        printf("threads %u\n", threads);
        printf("io %s\n", direct ? "direct" : "cached");
        printf("OK\n");
    } else if (rc == CERTA_EXIT_FAIL) {
        printf("verified %llu blocks before the failure\n", (unsigned long long)v.blocks);
    }
out:
    stop_workers(&v);
    for (uint64_t i = v.head; i < v.tail; i++)
        if (v.slots[i % SLOTS].own)
            free(v.slots[i % SLOTS].data);
    for (unsigned i = 0; i < CERTA_POOL_THREADS_MAX; i++) {
        free(v.scr[i].heads);
        free(v.scr[i].leaves);
    }
    free(v.slots);
    free(v.ring);
    certa_store_close(s);
    return rc;
}

int certa_cmd_verify_chain(int argc, char **argv)
{
    if (certa_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CERTA_EXIT_OK;
    }
    const char *data = NULL, *genesis = NULL;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned long long threads = ncpu > 0 ? (unsigned long long)ncpu : 1;
    if (threads > CERTA_POOL_THREADS_MAX - 1)
        threads = CERTA_POOL_THREADS_MAX - 1;
    bool quiet = false, list = false, direct = true;
    int progress = -1; /* -1: when stderr is a terminal */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--genesis") == 0 && i + 1 < argc)
            genesis = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 1, CERTA_POOL_THREADS_MAX - 1, &threads) != 0)
                return certa_usage_error(CMD, "--threads needs a number in 1..%d",
                                         CERTA_POOL_THREADS_MAX - 1);
        } else if (strcmp(argv[i], "--io") == 0 && i + 1 < argc) {
            const char *m = argv[++i];
            if (strcmp(m, "direct") == 0)
                direct = true;
            else if (strcmp(m, "cached") == 0)
                direct = false;
            else
                return certa_usage_error(CMD, "--io is direct or cached, not '%s'", m);
        } else if (strcmp(argv[i], "--quiet") == 0)
            quiet = true;
        else if (strcmp(argv[i], "--list") == 0)
            list = true;
        else if (strcmp(argv[i], "--progress") == 0)
            progress = 1;
        else if (strcmp(argv[i], "--no-progress") == 0)
            progress = 0;
        else
            return certa_usage_error(CMD, "unexpected argument '%s'", argv[i]);
    }
    if (data == NULL)
        return certa_usage_error(CMD, "--data DIR is required");
    read_test_hook();
    certa_genesis *g = NULL;
    static certa_block_keyset keys;
    if (genesis != NULL) {
        certa_errinfo ei;
        certa_errinfo_clear(&ei);
        if (certa_genesis_load(genesis, &g, &ei) != CERTA_OK)
            return certa_fail(CMD, "%s", certa_errmsg(&ei));
        certa_block_keyset_genesis(g, &keys);
        cert_keys = &keys;
    }
    int rc = run(data, (unsigned)threads, direct, quiet, list, progress);
    cert_keys = NULL;
    certa_genesis_free(g);
    return rc;
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
