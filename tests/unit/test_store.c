/* Tests for engine/store.c: CRC32C vectors, appends and reads across
 * segments, group commit with concurrent writers, reads during appends, and
 * the fault cases: SIGKILL of an appending child at random points, a torn
 * tail, a zeroed 4 KiB page and a flipped bit in the last and in a middle
 * record, a full disk (RLIMIT_FSIZE), a read-only and a missing directory. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "certa/store.h"
#include "rounds.h"

#define SEG_BYTES (64u * 1024u)

static char *make_dir(void)
{
    char *d = strdup("/tmp/certa-store-XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

static void remove_dir(const char *d)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    cr_assert_eq(system(cmd), 0);
}

/* Deterministic block contents: length and bytes derived from the height. */
static size_t block_len(uint64_t h) { return 1 + (size_t)((h * 2654435761u) % 9000u); }

static void block_fill(uint64_t h, uint8_t *buf, size_t len)
{
    uint64_t x = h * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
}

static void check_block(certa_store *s, uint64_t h)
{
    static uint8_t want[16384], got[16384];
    size_t len = 0;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_store_read(s, h, got, sizeof got, &len, &ei), CERTA_OK,
                 "read %llu: %s", (unsigned long long)h, certa_errmsg(&ei));
    cr_assert_eq(len, block_len(h), "height %llu length", (unsigned long long)h);
    block_fill(h, want, len);
    cr_assert(memcmp(want, got, len) == 0, "height %llu contents", (unsigned long long)h);
}

/* prewrite option of the stores open_store opens (-1: the default) */
static int g_prewrite = -1;

static certa_store *open_store_seg(const char *dir, certa_store_recovery *rep,
                                   certa_err want, uint64_t seg_bytes)
{
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.prewrite = g_prewrite;
    o.dir = dir;
    o.create = true;
    o.segment_bytes = seg_bytes;
    o.group_bytes = 32u * 1024u;
    certa_store *s = NULL;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err err = certa_store_open(&o, &s, rep, &ei);
    cr_assert_eq(err, want, "open %s: got %d (%s), want %d", dir, err, certa_errmsg(&ei), want);
    return s;
}

static certa_store *open_store(const char *dir, certa_store_recovery *rep, certa_err want)
{
    return open_store_seg(dir, rep, want, SEG_BYTES);
}

static void append_range(certa_store *s, uint64_t from, uint64_t to_incl, bool sync)
{
    static uint8_t buf[16384];
    certa_errinfo ei;
    for (uint64_t h = from; h <= to_incl; h++) {
        size_t len = block_len(h);
        block_fill(h, buf, len);
        certa_errinfo_clear(&ei);
        certa_err err = sync ? certa_store_append_sync(s, h, buf, len, &ei)
                             : certa_store_append(s, h, buf, len, &ei);
        cr_assert_eq(err, CERTA_OK, "append %llu: %s", (unsigned long long)h, certa_errmsg(&ei));
    }
}

static void seg_path(const char *dir, uint32_t seg, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%08u.seg", dir, seg);
}

Test(store, crc32c_vectors)
{
    cr_assert_eq(certa_crc32c(0, "123456789", 9), 0xE3069283u);
    uint8_t z[32] = {0}, f[32];
    memset(f, 0xff, sizeof f);
    cr_assert_eq(certa_crc32c(0, z, 32), 0x8A9136AAu); /* RFC 3720 B.4 */
    cr_assert_eq(certa_crc32c(0, f, 32), 0x62A8AB43u);
    /* incremental equals one shot */
    cr_assert_eq(certa_crc32c(certa_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
}

/* Bit-at-a-time CRC32C: the reference for the fast paths. */
static uint32_t crc32c_ref(const uint8_t *p, size_t len)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

/* Long inputs go through three interleaved streams combined by zero-shift
 * tables: every length around the block boundaries, every alignment, and
 * split computations must give the reference's value. */
Test(store, crc32c_long_inputs_match_reference)
{
    enum { MAX = 3 * 8192 * 2 + 3 * 256 + 64 };
    static uint8_t buf[MAX + 8];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < sizeof buf; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    static const size_t lens[] = {0, 1, 7, 8, 255, 256, 767, 768, 769, 1000, 3 * 256 * 2,
                                  24575, 24576, 24577, 24576 + 768, 30000, 49152,
                                  49152 + 767, MAX};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++)
        for (size_t off = 0; off < 8; off += 3) {
            size_t n = lens[k];
            uint32_t want = crc32c_ref(buf + off, n);
            cr_assert_eq(certa_crc32c(0, buf + off, n), want, "len %zu off %zu", n, off);
            size_t cut = n / 3;
            cr_assert_eq(certa_crc32c(certa_crc32c(0, buf + off, cut), buf + off + cut, n - cut),
                         want, "split len %zu off %zu", n, off);
        }
}

Test(store, append_read_reopen_across_segments)
{
    char *dir = make_dir();
    certa_store_recovery rep;
    certa_store *s = open_store(dir, &rep, CERTA_OK);
    cr_assert_eq(rep.blocks, 0);
    cr_assert_eq(certa_store_durable_height(s), UINT64_MAX);
    append_range(s, 0, 99, true);
    append_range(s, 100, 299, false);
    cr_assert_eq(certa_store_wait_durable(s, 299, NULL), CERTA_OK);
    cr_assert_eq(certa_store_durable_height(s), 299);
    for (uint64_t h = 0; h < 300; h += 7)
        check_block(s, h);
    /* out-of-order and oversized appends are refused */
    uint8_t b[8] = {0};
    cr_assert_eq(certa_store_append(s, 305, b, 8, NULL), CERTA_E_STATE);
    static uint8_t big[SEG_BYTES];
    cr_assert_eq(certa_store_append(s, 300, big, sizeof big, NULL), CERTA_E_LIMIT);
    cr_assert_eq(certa_store_wait_durable(s, 300, NULL), CERTA_E_STATE);
    certa_store_stats st;
    certa_store_get_stats(s, &st);
    cr_assert_eq(st.appends, 300);
    cr_assert_leq(st.flushes, 300);
    certa_store_close(s);

    s = open_store(dir, &rep, CERTA_OK);
    cr_assert_eq(rep.blocks, 300);
    cr_assert_eq(rep.first_height, 0);
    cr_assert_eq(rep.last_height, 299);
    cr_assert(!rep.damaged);
    cr_assert_gt(rep.segments, 5, "segments %u", rep.segments);
    for (uint64_t h = 0; h < 300; h++)
        check_block(s, h);
    uint64_t first, last;
    cr_assert(certa_store_range(s, &first, &last));
    cr_assert_eq(first, 0);
    cr_assert_eq(last, 299);
    cr_assert_eq(certa_store_next_height(s), 300);
    append_range(s, 300, 320, true);
    check_block(s, 320);
    certa_store_close(s);
    remove_dir(dir);
    free(dir);
}

typedef struct scan_ctx {
    uint64_t next;
    uint64_t count;
} scan_ctx;

static bool scan_cb(void *ctx, uint64_t h, const uint8_t *data, size_t len)
{
    scan_ctx *c = ctx;
    static uint8_t want[16384];
    cr_assert_eq(h, c->next);
    cr_assert_eq(len, block_len(h));
    block_fill(h, want, len);
    cr_assert(memcmp(want, data, len) == 0);
    c->next++;
    c->count++;
    return true;
}

Test(store, range_scan)
{
    char *dir = make_dir();
    certa_store *s = open_store(dir, NULL, CERTA_OK);
    append_range(s, 0, 149, false);
    cr_assert_eq(certa_store_wait_durable(s, 149, NULL), CERTA_OK);
    scan_ctx c = {.next = 10};
    cr_assert_eq(certa_store_scan(s, 10, 120, scan_cb, &c, NULL), CERTA_OK);
    cr_assert_eq(c.count, 111);
    c = (scan_ctx){.next = 140};
    cr_assert_eq(certa_store_scan(s, 140, 1000, scan_cb, &c, NULL), CERTA_OK);
    cr_assert_eq(c.count, 10);
    certa_store_close(s);
    remove_dir(dir);
    free(dir);
}

Test(store, first_height_option_and_buffered_io)
{
    char *dir = make_dir();
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    o.create = true;
    o.segment_bytes = SEG_BYTES;
    o.group_bytes = 32768;
    o.first_height = 1;
    o.direct_io = 0;
    o.dsync_writes = true;
    certa_store *s = NULL;
    cr_assert_eq(certa_store_open(&o, &s, NULL, NULL), CERTA_OK);
    uint8_t b[4] = {1, 2, 3, 4};
    cr_assert_eq(certa_store_append(s, 0, b, 4, NULL), CERTA_E_STATE);
    append_range(s, 1, 40, true);
    certa_store_close(s);
    certa_store_recovery rep;
    s = open_store(dir, &rep, CERTA_OK);
    cr_assert_eq(rep.first_height, 1);
    cr_assert_eq(rep.last_height, 40);
    check_block(s, 1);
    check_block(s, 40);
    cr_assert_eq(certa_store_read(s, 0, b, 4, NULL, NULL), CERTA_E_NOTFOUND);
    certa_store_close(s);
    remove_dir(dir);
    free(dir);
}

/* ---- concurrency ---- */

typedef struct writers {
    certa_store *s;
    pthread_mutex_t mu;
    uint64_t next;
    uint64_t end;
} writers;

static void *writer_main(void *arg)
{
    writers *w = arg;
    uint8_t *buf = malloc(16384);
    for (;;) {
        pthread_mutex_lock(&w->mu);
        uint64_t h = w->next;
        if (h >= w->end) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        w->next++;
        size_t len = block_len(h);
        block_fill(h, buf, len);
        certa_err err = certa_store_append(w->s, h, buf, len, NULL);
        pthread_mutex_unlock(&w->mu);
        cr_assert_eq(err, CERTA_OK);
        cr_assert_eq(certa_store_wait_durable(w->s, h, NULL), CERTA_OK);
        cr_assert_geq(certa_store_durable_height(w->s), h);
    }
    free(buf);
    return NULL;
}

Test(store, group_commit_four_writers)
{
    char *dir = make_dir();
    certa_store *s = open_store(dir, NULL, CERTA_OK);
    writers w = {.s = s, .next = 0, .end = 400};
    pthread_mutex_init(&w.mu, NULL);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, writer_main, &w);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    certa_store_stats st;
    certa_store_get_stats(s, &st);
    cr_assert_eq(st.appends, 400);
    /* While one flush is in flight the other writers' appends wait for the
     * next one, so flushes must be fewer than appends. */
    cr_assert_lt(st.flushes, st.appends, "flushes %llu appends %llu",
                 (unsigned long long)st.flushes, (unsigned long long)st.appends);
    for (uint64_t h = 0; h < 400; h += 3)
        check_block(s, h);
    certa_store_close(s);
    remove_dir(dir);
    free(dir);
}

typedef struct reader_arg {
    certa_store *s;
    volatile int stop;
    uint64_t reads;
} reader_arg;

static void *reader_main(void *arg)
{
    reader_arg *r = arg;
    while (!r->stop) {
        uint64_t d = certa_store_durable_height(r->s);
        if (d == UINT64_MAX)
            continue;
        check_block(r->s, d);
        check_block(r->s, d / 2);
        r->reads++;
    }
    return NULL;
}

static uint64_t cb_last = UINT64_MAX;
static int cb_calls;
static void on_durable(void *ctx, uint64_t h, certa_err err)
{
    (void)ctx;
    cr_assert_eq(err, CERTA_OK);
    cr_assert(cb_last == UINT64_MAX || h > cb_last);
    cb_last = h;
    cb_calls++;
}

Test(store, reads_during_appends_and_callback)
{
    char *dir = make_dir();
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    o.create = true;
    o.segment_bytes = SEG_BYTES;
    o.group_bytes = 32768;
    o.on_durable = on_durable;
    certa_store *s = NULL;
    cr_assert_eq(certa_store_open(&o, &s, NULL, NULL), CERTA_OK);
    reader_arg r = {.s = s};
    pthread_t t;
    pthread_create(&t, NULL, reader_main, &r);
    append_range(s, 0, 299, false);
    cr_assert_eq(certa_store_wait_durable(s, 299, NULL), CERTA_OK);
    r.stop = 1;
    pthread_join(t, NULL);
    certa_store_close(s);
    cr_assert_eq(cb_last, 299);
    cr_assert_gt(cb_calls, 0);
    cr_assert_gt(r.reads, 0);
    remove_dir(dir);
    free(dir);
}

/* ---- faults ---- */

/* Shared with the child: the highest height the store reported durable. */
typedef struct shared {
    volatile uint64_t acked;
    volatile int ready;
} shared;

static void child_on_durable(void *ctx, uint64_t h, certa_err err)
{
    shared *sh = ctx;
    if (err == CERTA_OK)
        sh->acked = h;
}

static _Noreturn void child_appender(const char *dir, shared *sh, uint64_t from,
                                     uint64_t seg_bytes, int prewrite)
{
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    o.create = true;
    o.segment_bytes = seg_bytes;
    o.prewrite = prewrite;
    o.group_bytes = 32768;
    o.on_durable = child_on_durable;
    o.on_durable_ctx = sh;
    certa_store *s = NULL;
    if (certa_store_open(&o, &s, NULL, NULL) != CERTA_OK)
        _exit(10);
    sh->ready = 1;
    static uint8_t buf[16384];
    for (uint64_t h = from;; h++) {
        size_t len = block_len(h);
        block_fill(h, buf, len);
        if (certa_store_append(s, h, buf, len, NULL) != CERTA_OK)
            _exit(11);
    }
}

/* Bounds of sigkill_rounds: the minimum always runs and is checked; more
 * rounds run while the budget lasts. The log restarts empty once it holds
 * SIGKILL_LOG_BLOCKS blocks, so a round's cost (the child's open and the
 * parent's recovery and full scan) does not grow with the round number. */
#define SIGKILL_MIN_ROUNDS 8
#define SIGKILL_BUDGET_MS 20000u
#define SIGKILL_LOG_BLOCKS 1000u

/* Kills an appending child at random points, SIGKILL_MIN_ROUNDS times at
 * least and up to max_rounds while the budget lasts, and checks after each
 * kill that every append reported durable survives and nothing half-written
 * does. */
static void sigkill_rounds(uint64_t seg_bytes, int prewrite, int max_rounds, int max_sleep_us)
{
    char *dir = make_dir();
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                      -1, 0);
    cr_assert_neq(sh, MAP_FAILED);
    srand((unsigned)time(NULL));
    uint64_t next = 0;
    uint64_t repaired = 0, spares = 0, survived = 0, restarts = 0;
    test_rounds tr = test_rounds_start(SIGKILL_MIN_ROUNDS, max_rounds, SIGKILL_BUDGET_MS);
    for (; test_rounds_more(&tr); tr.done++) {
        int round = tr.done;
        if (next >= SIGKILL_LOG_BLOCKS) {
            survived += next;
            restarts++;
            remove_dir(dir);
            cr_assert_eq(mkdir(dir, 0700), 0);
            next = 0;
        }
        sh->acked = UINT64_MAX;
        sh->ready = 0;
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0)
            child_appender(dir, sh, next, seg_bytes, prewrite);
        while (!sh->ready) {
            int st;
            cr_assert_eq(waitpid(pid, &st, WNOHANG), 0, "child died early");
            usleep(100);
        }
        usleep((useconds_t)(rand() % max_sleep_us));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        cr_assert(WIFSIGNALED(st));
        uint64_t acked = sh->acked;

        certa_store_recovery rep;
        certa_store *s = open_store_seg(dir, &rep, CERTA_OK, seg_bytes);
        cr_assert(!rep.damaged || !rep.damage_is_corrupt, "%s", rep.damage_msg);
        repaired += rep.tail_repaired;
        spares += rep.spare_found;
        if (acked != UINT64_MAX) {
            cr_assert_gt(rep.blocks, 0);
            cr_assert_geq(rep.last_height, acked, "round %d: acked %llu, reopened up to %llu",
                          round, (unsigned long long)acked,
                          (unsigned long long)rep.last_height);
        }
        uint64_t first, last;
        if (certa_store_range(s, &first, &last)) {
            cr_assert_eq(first, 0);
            /* every kept block is whole */
            scan_ctx c = {.next = 0};
            cr_assert_eq(certa_store_scan(s, 0, last, scan_cb, &c, NULL), CERTA_OK);
            cr_assert_eq(c.count, last + 1);
            next = last + 1;
        } else {
            next = 0;
        }
        cr_assert_eq(certa_store_next_height(s), next);
        certa_store_close(s);
    }
    cr_log_info("sigkill: %d kills in %llu ms (at least %d, at most %d), %llu blocks "
                "survived in %llu logs, %llu tails repaired, %llu spares found",
                tr.done, (unsigned long long)test_rounds_elapsed_ms(&tr), SIGKILL_MIN_ROUNDS,
                max_rounds, (unsigned long long)(survived + next),
                (unsigned long long)restarts + 1, (unsigned long long)repaired,
                (unsigned long long)spares);
    cr_assert_geq(tr.done, SIGKILL_MIN_ROUNDS);
    cr_assert_gt(survived + next, 0);
    /* no leftover temporary file of an interrupted preparation */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q 'seg.tmp'", dir);
    cr_assert_neq(system(cmd), 0, "a .seg.tmp survived the writable open");
    munmap(sh, sizeof *sh);
    remove_dir(dir);
    free(dir);
}

Test(store, sigkill_at_random_points_keeps_every_durable_append)
{
    sigkill_rounds(SEG_BYTES, -1, 25, 40000);
}

/* Segments of 4 MiB pre-written with zeros by the preparer: most kills land
 * while a spare is being filled, renamed, or adopted by the writer. */
Test(store, sigkill_while_spare_segments_are_prepared)
{
    sigkill_rounds(4u << 20, 1, 20, 60000);
}

/* Writes heights 0..n-1, one flush each, and returns where h sits. */
static void build_log(const char *dir, uint64_t n)
{
    certa_store *s = open_store(dir, NULL, CERTA_OK);
    append_range(s, 0, n - 1, true);
    certa_store_close(s);
}

static void locate(const char *dir, uint64_t h, uint32_t *seg, uint64_t *off)
{
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    o.read_only = true;
    certa_store *s = NULL;
    cr_assert_eq(certa_store_open(&o, &s, NULL, NULL), CERTA_OK);
    cr_assert_eq(certa_store_locate(s, h, seg, off), CERTA_OK);
    certa_store_close(s);
}

static void damage_file(const char *path, uint64_t off, int how)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0, "%s", path);
    if (how == 0) { /* zero a 4 KiB page */
        uint8_t z[4096] = {0};
        cr_assert_eq(pwrite(fd, z, sizeof z, (off_t)off), (ssize_t)sizeof z);
    } else if (how == 1) { /* flip one bit */
        uint8_t b;
        cr_assert_eq(pread(fd, &b, 1, (off_t)off), 1);
        b ^= 0x10;
        cr_assert_eq(pwrite(fd, &b, 1, (off_t)off), 1);
    } else { /* truncate */
        cr_assert_eq(ftruncate(fd, (off_t)off), 0);
    }
    fsync(fd);
    close(fd);
}

/* In segments pre-written with zeros, a last flush zeroed whole looks
 * exactly like one never written: the log then ends before it without a
 * damage report (the same cut, unreported). Elsewhere the damage is seen. */
static void expect_tail_repair_pw(int how, uint64_t delta, int prewrite)
{
    g_prewrite = prewrite;
    char *dir = make_dir();
    build_log(dir, 60);
    uint32_t seg;
    uint64_t off;
    locate(dir, 59, &seg, &off);
    char path[512];
    seg_path(dir, seg, path, sizeof path);
    damage_file(path, off + delta, how);

    certa_store_recovery rep;
    certa_store *s = open_store(dir, &rep, CERTA_OK);
    bool whole_flush_zeroed = how == 0 && rep.prewrite && !rep.damaged;
    if (!whole_flush_zeroed) {
        cr_assert(rep.damaged, "prewrite %d how %d", rep.prewrite, how);
        cr_assert(!rep.damage_is_corrupt, "%s", rep.damage_msg);
        cr_assert(rep.tail_repaired);
        cr_assert_gt(rep.truncated_bytes, 0);
        cr_assert_eq(rep.damage_height, 59);
    }
    cr_assert_eq(rep.last_height, 58);
    for (uint64_t h = 0; h <= 58; h++)
        check_block(s, h);
    /* the log continues where it was cut */
    append_range(s, 59, 70, true);
    certa_store_close(s);
    s = open_store(dir, &rep, CERTA_OK);
    cr_assert(!rep.damaged, "%s", rep.damage_msg);
    cr_assert_eq(rep.last_height, 70);
    check_block(s, 59);
    check_block(s, 70);
    certa_store_close(s);
    remove_dir(dir);
    free(dir);
    g_prewrite = -1;
}

static void expect_tail_repair(int how, uint64_t delta)
{
    expect_tail_repair_pw(how, delta, 0);
    expect_tail_repair_pw(how, delta, 1);
}

Test(store, truncated_tail_is_cut) { expect_tail_repair(2, 30); }
Test(store, truncated_tail_inside_payload_is_cut) { expect_tail_repair(2, 100); }
Test(store, zeroed_page_in_last_record_is_cut) { expect_tail_repair(0, 0); }
Test(store, flipped_bit_in_last_record_payload_is_cut) { expect_tail_repair(1, 60); }
Test(store, flipped_bit_in_last_record_header_is_cut) { expect_tail_repair(1, 9); }

static void expect_corrupt_refused(int how, uint64_t delta)
{
    char *dir = make_dir();
    build_log(dir, 60);
    uint32_t seg;
    uint64_t off;
    locate(dir, 30, &seg, &off);
    char path[512];
    seg_path(dir, seg, path, sizeof path);
    damage_file(path, off + delta, how);

    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    o.segment_bytes = SEG_BYTES;
    certa_store *s = NULL;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_store_open(&o, &s, NULL, &ei), CERTA_E_CORRUPT, "%s", certa_errmsg(&ei));
    char want[128];
    snprintf(want, sizeof want, "segment %08u.seg, offset %llu, height 30", seg,
             (unsigned long long)off);
    cr_assert(strstr(ei.msg, want) != NULL, "message '%s' lacks '%s'", ei.msg, want);

    /* Read-only: the blocks before the damage stay readable. */
    o.read_only = true;
    certa_store_recovery rep;
    cr_assert_eq(certa_store_open(&o, &s, &rep, NULL), CERTA_OK);
    cr_assert(rep.damaged && rep.damage_is_corrupt);
    cr_assert_eq(rep.damage_height, 30);
    cr_assert_eq(rep.damage_segment, seg);
    cr_assert_eq(rep.damage_offset, off);
    cr_assert_eq(rep.last_height, 29);
    check_block(s, 29);
    certa_store_close(s);
    /* Nothing was changed on disk by the refused open. */
    o.read_only = false;
    cr_assert_eq(certa_store_open(&o, &s, NULL, NULL), CERTA_E_CORRUPT);
    remove_dir(dir);
    free(dir);
}

Test(store, zeroed_page_in_middle_is_refused) { expect_corrupt_refused(0, 0); }
Test(store, flipped_bit_in_middle_payload_is_refused) { expect_corrupt_refused(1, 50); }
Test(store, flipped_bit_in_middle_header_is_refused) { expect_corrupt_refused(1, 17); }

Test(store, missing_segment_is_refused)
{
    char *dir = make_dir();
    build_log(dir, 60);
    char path[512];
    seg_path(dir, 1, path, sizeof path);
    cr_assert_eq(unlink(path), 0);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    certa_store *s = NULL;
    cr_assert_eq(certa_store_open(&o, &s, NULL, &ei), CERTA_E_CORRUPT);
    cr_assert(strstr(ei.msg, "00000001.seg") != NULL, "%s", ei.msg);
    remove_dir(dir);
    free(dir);
}

/* A child appends until the disk is "full"; returns the durable height it
 * was told about. The child's error must be NOSPACE with a clear message. */
static uint64_t fill_disk(const char *dir, bool rlimit, bool prewrite)
{
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                      -1, 0);
    cr_assert_neq(sh, MAP_FAILED);
    sh->acked = UINT64_MAX;
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        certa_store_opts o;
        certa_store_opts_default(&o);
        o.dir = dir;
        o.create = true;
        o.segment_bytes = SEG_BYTES;
        o.group_bytes = 32768;
        o.prewrite = prewrite;
        o.on_durable = child_on_durable;
        o.on_durable_ctx = sh;
        certa_store *s = NULL;
        if (certa_store_open(&o, &s, NULL, NULL) != CERTA_OK)
            _exit(10);
        static uint8_t buf[16384];
        certa_errinfo ei;
        certa_errinfo_clear(&ei);
        certa_err err = CERTA_OK;
        for (uint64_t h = 0; h < 4000 && err == CERTA_OK; h++) {
            if (rlimit && h == 3) {
                /* Segments are pre-written to 64 KiB: the next one to be
                 * created passes the limit. */
                signal(SIGXFSZ, SIG_IGN);
                struct rlimit rl = {.rlim_cur = SEG_BYTES - 8192, .rlim_max = SEG_BYTES - 8192};
                setrlimit(RLIMIT_FSIZE, &rl);
            }
            size_t len = block_len(h);
            block_fill(h, buf, len);
            err = certa_store_append_sync(s, h, buf, len, &ei);
        }
        (void)!write(pfd[1], ei.msg, strlen(ei.msg));
        /* Appends after the failure get the same error. */
        if (err == CERTA_E_NOSPACE && certa_store_append(s, certa_store_next_height(s), "x", 1,
                                                         NULL) != CERTA_E_NOSPACE)
            _exit(30);
        certa_store_close(s);
        _exit(err == CERTA_E_NOSPACE ? 0 : 20 + (err % 100));
    }
    close(pfd[1]);
    char msg[600] = {0};
    size_t got = 0;
    ssize_t n;
    while ((n = read(pfd[0], msg + got, sizeof msg - 1 - got)) > 0)
        got += (size_t)n;
    close(pfd[0]);
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d, message '%s'", st, msg);
    cr_assert(strstr(msg, "File too large") != NULL || strstr(msg, "No space") != NULL,
              "unclear message '%s'", msg);
    cr_assert(strstr(msg, ".seg") != NULL, "message names no file: '%s'", msg);
    uint64_t acked = sh->acked;
    cr_assert_neq(acked, UINT64_MAX);
    munmap(sh, sizeof *sh);

    certa_store_recovery rep;
    certa_store *s = open_store(dir, &rep, CERTA_OK);
    cr_assert(!rep.damaged || !rep.damage_is_corrupt, "%s", rep.damage_msg);
    cr_assert_geq(rep.last_height, acked);
    for (uint64_t h = 0; h <= rep.last_height; h++)
        check_block(s, h);
    certa_store_close(s);
    return acked;
}

Test(store, file_size_limit_gives_clear_error_and_log_stays_readable, .timeout = 300)
{
    /* io_uring writes are not subject to RLIMIT_FSIZE; segment creation
     * (pre-written with zeros here) is. */
    char *dir = make_dir();
    fill_disk(dir, true, true);
    remove_dir(dir);
    free(dir);
}

Test(store, full_tmpfs_gives_clear_error_and_log_stays_readable, .timeout = 300)
{
    /* A 256 KiB tmpfs: io_uring writes fail with ENOSPC. tmpfs also checks
     * the O_DIRECT fallback. Needs the right to mount (root in CI). */
    char *dir = make_dir();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=256k certa-test '%s' 2>/dev/null", dir);
    if (geteuid() != 0 || system(cmd) != 0) {
        cr_log_warn("cannot mount a tmpfs here: full-disk test on tmpfs skipped");
        remove_dir(dir);
        free(dir);
        cr_skip_test("needs root to mount a tmpfs");
    }
    uint64_t acked = fill_disk(dir, false, false);
    cr_assert_gt(acked, 5);
    snprintf(cmd, sizeof cmd, "umount '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    remove_dir(dir);
    free(dir);
}

Test(store, missing_dir_is_a_clear_error)
{
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = "/tmp/certa-store-does-not-exist/sub";
    certa_store *s = NULL;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_store_open(&o, &s, NULL, &ei), CERTA_E_NOTFOUND);
    cr_assert(strstr(ei.msg, "does not exist") != NULL, "%s", ei.msg);
    o.create = true; /* only one level is created */
    cr_assert_eq(certa_store_open(&o, &s, NULL, &ei), CERTA_E_IO);
    o.read_only = true;
    cr_assert_eq(certa_store_open(&o, &s, NULL, &ei), CERTA_E_NOTFOUND);
}

Test(store, read_only_dir_is_a_clear_error)
{
    char *dir = make_dir();
    build_log(dir, 5);
    cr_assert_eq(chmod(dir, 0555), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* root ignores permissions: drop to nobody for the check */
        if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0)
            _exit(9);
        certa_store_opts o;
        certa_store_opts_default(&o);
        o.dir = dir;
        certa_store *s = NULL;
        certa_errinfo ei;
        certa_errinfo_clear(&ei);
        certa_err err = certa_store_open(&o, &s, NULL, &ei);
        if (err != CERTA_E_READONLY || strstr(ei.msg, "not writable") == NULL)
            _exit(1);
        /* read-only opening still works */
        o.read_only = true;
        certa_store_recovery rep;
        if (certa_store_open(&o, &s, &rep, NULL) != CERTA_OK || rep.last_height != 4)
            _exit(2);
        if (certa_store_append(s, 5, "x", 1, NULL) != CERTA_E_READONLY)
            _exit(3);
        certa_store_close(s);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    chmod(dir, 0755);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    remove_dir(dir);
    free(dir);
}

Test(store, second_writer_is_refused)
{
    char *dir = make_dir();
    certa_store *s = open_store(dir, NULL, CERTA_OK);
    certa_store *t = open_store(dir, NULL, CERTA_E_BUSY);
    cr_assert_null(t);
    certa_store_close(s);
    remove_dir(dir);
    free(dir);
}

/* Regression (found by fuzz_store): in a pre-written segment, non-zero bytes
 * after the clean end used to survive the open, and resurfaced as damage
 * behind the next flush. They are now cut as a torn tail. */
Test(store, prewritten_segment_stale_bytes_after_end_are_cut)
{
    char *dir = make_dir();
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    o.create = true;
    o.segment_bytes = SEG_BYTES;
    o.group_bytes = 32768;
    o.prewrite = true;
    certa_store *s = NULL;
    cr_assert_eq(certa_store_open(&o, &s, NULL, NULL), CERTA_OK);
    certa_store_wait_spare(s); /* else the first append may cut its fill short */
    uint8_t b[100];
    for (uint64_t h = 0; h < 10; h++) {
        memset(b, (int)h, sizeof b);
        cr_assert_eq(certa_store_append_sync(s, h, b, sizeof b, NULL), CERTA_OK);
    }
    uint32_t seg;
    uint64_t off;
    cr_assert_eq(certa_store_locate(s, 9, &seg, &off), CERTA_OK);
    certa_store_close(s);
    char path[512];
    seg_path(dir, seg, path, sizeof path);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq((uint64_t)sb.st_size, SEG_BYTES, "segment is pre-written to full size");

    certa_store_recovery rep;
    cr_assert_eq(certa_store_open(&o, &s, &rep, NULL), CERTA_OK);
    cr_assert(!rep.damaged, "%s", rep.damage_msg);
    certa_store_close(s);

    cr_assert_lt(off + 8192 + 8, SEG_BYTES);
    damage_file(path, off + 8192 + 3, 1); /* one stale bit beyond the end */
    cr_assert_eq(certa_store_open(&o, &s, &rep, NULL), CERTA_OK);
    cr_assert(rep.damaged && !rep.damage_is_corrupt, "%s", rep.damage_msg);
    cr_assert(rep.tail_repaired);
    cr_assert_eq(rep.last_height, 9);
    memset(b, 10, sizeof b);
    cr_assert_eq(certa_store_append_sync(s, 10, b, sizeof b, NULL), CERTA_OK);
    certa_store_close(s);
    cr_assert_eq(certa_store_open(&o, &s, &rep, NULL), CERTA_OK);
    cr_assert(!rep.damaged, "%s", rep.damage_msg);
    cr_assert_eq(rep.last_height, 10);
    size_t len;
    cr_assert_eq(certa_store_read(s, 10, b, sizeof b, &len, NULL), CERTA_OK);
    certa_store_close(s);
    remove_dir(dir);
    free(dir);
}

/* ---- spare segments (prepared in the background) ---- */

/* A child appends heights 0..n-1 with pre-written segments, waits until the
 * spare segment is ready and exits without closing (a crash): the spare
 * stays on disk. Returns the index of the spare file. */
static uint32_t build_log_with_spare_pw(const char *dir, uint64_t n, int prewrite)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        certa_store_opts o;
        certa_store_opts_default(&o);
        o.dir = dir;
        o.create = true;
        o.segment_bytes = SEG_BYTES;
        o.group_bytes = 32768;
        o.prewrite = prewrite;
        certa_store *s = NULL;
        if (certa_store_open(&o, &s, NULL, NULL) != CERTA_OK)
            _exit(10);
        static uint8_t buf[16384];
        for (uint64_t h = 0; h < n; h++) {
            size_t len = block_len(h);
            block_fill(h, buf, len);
            /* never overtake the fill: every segment is pre-written whole */
            certa_store_wait_spare(s);
            if (certa_store_append_sync(s, h, buf, len, NULL) != CERTA_OK)
                _exit(11);
        }
        certa_store_wait_spare(s);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    uint32_t k = 0;
    char path[512];
    for (;; k++) {
        seg_path(dir, k + 1, path, sizeof path);
        if (access(path, F_OK) != 0)
            break;
    }
    seg_path(dir, k, path, sizeof path);
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    uint8_t hdr[16];
    cr_assert_eq(pread(fd, hdr, sizeof hdr, 0), (ssize_t)sizeof hdr);
    struct stat sb;
    cr_assert_eq(fstat(fd, &sb), 0);
    close(fd);
    cr_assert(hdr[12] & 0x02, "last file %s is not a spare (flags %u)", path, hdr[12]);
    cr_assert(hdr[12] & 0x01, "the spare is zero-filled or allocated (flags %u)", hdr[12]);
    cr_assert_eq((uint64_t)sb.st_size, SEG_BYTES, "the spare is pre-written whole");
    return k;
}

static uint32_t build_log_with_spare(const char *dir, uint64_t n)
{
    return build_log_with_spare_pw(dir, n, 1);
}

static certa_store *open_ro(const char *dir, certa_store_recovery *rep, bool headers_only)
{
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    o.read_only = true;
    o.headers_only_on_open = headers_only;
    certa_store *s = NULL;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_store_open(&o, &s, rep, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    return s;
}

static void reopen_with_spare(int prewrite)
{
    char *dir = make_dir();
    uint32_t spare = build_log_with_spare_pw(dir, 40, prewrite);
    cr_assert_gt(spare, 1);

    /* Read-only (what verify-chain and query do): the spare ends the log. */
    for (int ho = 0; ho < 2; ho++) {
        certa_store_recovery rep;
        certa_store *s = open_ro(dir, &rep, ho == 1);
        cr_assert(!rep.damaged, "%s", rep.damage_msg);
        cr_assert(rep.spare_found);
        cr_assert_eq(rep.segments, spare);
        cr_assert_eq(rep.last_height, 39);
        for (uint64_t h = 0; h <= 39; h++)
            check_block(s, h);
        certa_store_close(s);
    }
    /* Writable: the spare is replaced, the log continues across segments. */
    certa_store_recovery rep;
    g_prewrite = prewrite;
    certa_store *s = open_store(dir, &rep, CERTA_OK);
    cr_assert(!rep.damaged, "%s", rep.damage_msg);
    cr_assert(rep.spare_found);
    cr_assert_eq(rep.last_height, 39);
    append_range(s, 40, 120, true);
    certa_store_close(s);
    /* a clean close leaves no spare behind */
    s = open_store(dir, &rep, CERTA_OK);
    g_prewrite = -1;
    cr_assert(!rep.damaged, "%s", rep.damage_msg);
    cr_assert(!rep.spare_found);
    cr_assert_eq(rep.last_height, 120);
    for (uint64_t h = 0; h <= 120; h++)
        check_block(s, h);
    certa_store_close(s);
    remove_dir(dir);
    free(dir);
}

Test(store, reopen_with_spare_segment_present) { reopen_with_spare(1); }

/* Spares allocated with fallocate (unwritten extents, read as zeros). */
Test(store, reopen_with_allocated_spare_segment_present) { reopen_with_spare(2); }

Test(store, sigkill_with_allocated_spare_segments)
{
    sigkill_rounds(1u << 20, 2, 15, 40000);
}

/* Replaces segment `spare` by a sparse all-zero file of the segment size;
 * returns it open for writing. */
static int zero_spare(const char *dir, uint32_t spare)
{
    char path[512];
    seg_path(dir, spare, path, sizeof path);
    int fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, SEG_BYTES), 0);
    return fd;
}

Test(store, zero_filled_tail_and_zero_next_segment_are_not_damage)
{
    char *dir = make_dir();
    uint32_t spare = build_log_with_spare(dir, 25);
    uint32_t seg;
    uint64_t off;
    locate(dir, 24, &seg, &off);
    char path[512];
    seg_path(dir, seg, path, sizeof path);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq((uint64_t)sb.st_size, SEG_BYTES, "the last segment ends in pre-written zeros");
    close(zero_spare(dir, spare)); /* an all-zero file, no header at all */
    for (int pass = 0; pass < 2; pass++) {
        certa_store_recovery rep;
        certa_store *s = open_ro(dir, &rep, pass == 1);
        cr_assert(!rep.damaged, "%s", rep.damage_msg);
        cr_assert_eq(rep.last_height, 24);
        certa_store_close(s);
    }
    certa_store_recovery rep;
    certa_store *s = open_store(dir, &rep, CERTA_OK);
    cr_assert(!rep.damaged && !rep.tail_repaired, "%s", rep.damage_msg);
    cr_assert_eq(rep.last_height, 24);
    append_range(s, 25, 60, true);
    certa_store_close(s);
    s = open_store(dir, &rep, CERTA_OK);
    cr_assert(!rep.damaged, "%s", rep.damage_msg);
    cr_assert_eq(rep.last_height, 60);
    check_block(s, 25);
    check_block(s, 60);
    certa_store_close(s);
    remove_dir(dir);
    free(dir);
}

/* The same all-zero last file, sparse, but with one byte written deep in
 * it: not an unused segment (the holes around the byte are skipped when
 * looking for data, the byte itself is not). */
Test(store, sparse_zero_last_file_with_a_stray_byte_is_damage)
{
    char *dir = make_dir();
    int fd = zero_spare(dir, build_log_with_spare(dir, 25));
    const uint8_t one = 0x5a;
    cr_assert_eq(pwrite(fd, &one, 1, (off_t)(SEG_BYTES - 5000)), 1);
    close(fd);
    for (int pass = 0; pass < 2; pass++) {
        certa_store_recovery rep;
        certa_store *s = open_ro(dir, &rep, pass == 1);
        cr_assert(rep.damaged, "a stray byte in an otherwise zero last file went unseen");
        cr_assert_eq(rep.last_height, 24);
        certa_store_close(s);
    }
    remove_dir(dir);
    free(dir);
}

/* A crash during the first group write into a spare: the header is still
 * the spare's, records behind it were never durable. */
Test(store, torn_first_write_into_spare_is_dropped)
{
    char *dir = make_dir();
    uint32_t spare = build_log_with_spare(dir, 30);
    char path[512];
    seg_path(dir, spare, path, sizeof path);
    uint8_t junk[6000];
    block_fill(999, junk, sizeof junk);
    int fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, junk, sizeof junk, 4096), (ssize_t)sizeof junk);
    close(fd);
    certa_store_recovery rep;
    certa_store *s = open_ro(dir, &rep, false);
    cr_assert(!rep.damaged, "%s", rep.damage_msg);
    cr_assert(rep.spare_found);
    cr_assert_eq(rep.last_height, 29);
    certa_store_close(s);
    s = open_store(dir, &rep, CERTA_OK);
    cr_assert(!rep.damaged, "%s", rep.damage_msg);
    cr_assert_eq(rep.last_height, 29);
    append_range(s, 30, 50, true);
    certa_store_close(s);
    s = open_store(dir, &rep, CERTA_OK);
    cr_assert(!rep.damaged, "%s", rep.damage_msg);
    cr_assert_eq(rep.last_height, 50);
    for (uint64_t h = 0; h <= 50; h++)
        check_block(s, h);
    certa_store_close(s);
    remove_dir(dir);
    free(dir);
}

/* With a spare present, damage in a middle record is still refused, and
 * damage in the last record is still a torn tail (the spare is no proof of
 * a later flush). */
Test(store, spare_present_middle_corruption_refused_tail_repaired)
{
    char *dir = make_dir();
    build_log_with_spare(dir, 60);
    uint32_t seg;
    uint64_t off;
    locate(dir, 30, &seg, &off);
    char path[512];
    seg_path(dir, seg, path, sizeof path);
    damage_file(path, off + 50, 1);
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    o.segment_bytes = SEG_BYTES;
    certa_store *s = NULL;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_store_open(&o, &s, NULL, &ei), CERTA_E_CORRUPT, "%s", certa_errmsg(&ei));
    char want[128];
    snprintf(want, sizeof want, "segment %08u.seg, offset %llu, height 30", seg,
             (unsigned long long)off);
    cr_assert(strstr(ei.msg, want) != NULL, "message '%s' lacks '%s'", ei.msg, want);
    certa_store_recovery rep;
    s = open_ro(dir, &rep, false);
    cr_assert(rep.damaged && rep.damage_is_corrupt);
    cr_assert_eq(rep.damage_height, 30);
    certa_store_close(s);
    damage_file(path, off + 50, 1); /* undo */

    locate(dir, 59, &seg, &off);
    seg_path(dir, seg, path, sizeof path);
    damage_file(path, off + 60, 1);
    s = open_store(dir, &rep, CERTA_OK);
    cr_assert(rep.damaged && !rep.damage_is_corrupt, "%s", rep.damage_msg);
    cr_assert(rep.tail_repaired);
    cr_assert_eq(rep.damage_height, 59);
    cr_assert_eq(rep.last_height, 58);
    append_range(s, 59, 80, true);
    certa_store_close(s);
    s = open_store(dir, &rep, CERTA_OK);
    cr_assert(!rep.damaged, "%s", rep.damage_msg);
    cr_assert_eq(rep.last_height, 80);
    certa_store_close(s);
    remove_dir(dir);
    free(dir);
}

/* Crash while a spare was being written: its temporary file is removed. */
Test(store, interrupted_spare_preparation_is_removed)
{
    char *dir = make_dir();
    build_log_with_spare(dir, 20);
    uint32_t seg;
    uint64_t off;
    locate(dir, 19, &seg, &off);
    char path[512];
    /* the spare's file removed and a half-written preparation of it left */
    seg_path(dir, seg + 1, path, sizeof path);
    cr_assert_eq(unlink(path), 0);
    strcat(path, ".tmp");
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 12345), 0);
    close(fd);
    certa_store_recovery rep;
    certa_store *s = open_ro(dir, &rep, false);
    cr_assert(!rep.damaged && !rep.spare_found, "%s", rep.damage_msg);
    certa_store_close(s);
    cr_assert_eq(access(path, F_OK), 0, "a read-only open changes nothing");
    s = open_store(dir, &rep, CERTA_OK);
    cr_assert(!rep.damaged, "%s", rep.damage_msg);
    cr_assert_eq(rep.last_height, 19);
    append_range(s, 20, 40, true);
    certa_store_close(s);
    /* (the preparer may reuse the name while open; none is left after) */
    cr_assert_neq(access(path, F_OK), 0, "a temporary file is left");
    s = open_store(dir, &rep, CERTA_OK);
    cr_assert_eq(rep.last_height, 40);
    certa_store_close(s);
    remove_dir(dir);
    free(dir);
}

/* ---- on_open_block: the read-only open feeds each verified block ---- */

typedef struct feed {
    uint64_t next;      /* height expected next */
    uint64_t stop_at;   /* return false at this height */
    int calls;
} feed;

static bool feed_cb(void *ctx, uint64_t h, const uint8_t *data, size_t len)
{
    feed *f = ctx;
    static uint8_t want[16384];
    cr_assert_eq(h, f->next, "fed %llu, expected %llu", (unsigned long long)h,
                 (unsigned long long)f->next);
    cr_assert_eq(len, block_len(h));
    block_fill(h, want, len);
    cr_assert(memcmp(want, data, len) == 0, "height %llu contents", (unsigned long long)h);
    f->next++;
    f->calls++;
    return h != f->stop_at;
}

static certa_err open_fed(const char *dir, feed *f, certa_store_recovery *rep,
                          certa_errinfo *ei)
{
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    o.read_only = true;
    o.headers_only_on_open = true; /* ignored when fed: payloads are read */
    o.on_open_block = feed_cb;
    o.on_open_block_ctx = f;
    certa_store *s = NULL;
    certa_err err = certa_store_open(&o, &s, rep, ei);
    certa_store_close(s);
    return err;
}

Test(store, open_feeds_every_block_in_order_and_stops_at_damage)
{
    char *dir = make_dir();
    build_log(dir, 60); /* several segments */
    certa_store_recovery rep;
    feed f = {.stop_at = UINT64_MAX};
    cr_assert_eq(open_fed(dir, &f, &rep, NULL), CERTA_OK);
    cr_assert_eq(f.calls, 60);
    cr_assert(!rep.damaged);
    cr_assert_gt(rep.segments, 1);

    /* stopping early fails the open */
    f = (feed){.stop_at = 17};
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(open_fed(dir, &f, &rep, &ei), CERTA_E_STATE);
    cr_assert_eq(f.calls, 18);
    cr_assert(strstr(ei.msg, "height 17") != NULL, "%s", ei.msg);

    /* a flipped payload bit: only the blocks before it are fed */
    uint32_t seg;
    uint64_t off;
    locate(dir, 30, &seg, &off);
    char path[512];
    seg_path(dir, seg, path, sizeof path);
    damage_file(path, off + 50, 1);
    f = (feed){.stop_at = UINT64_MAX};
    cr_assert_eq(open_fed(dir, &f, &rep, NULL), CERTA_OK);
    cr_assert_eq(f.calls, 30);
    cr_assert(rep.damaged && rep.damage_is_corrupt);
    cr_assert_eq(rep.damage_height, 30);

    /* a writable open cannot be fed */
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    o.on_open_block = feed_cb;
    certa_store *s = NULL;
    cr_assert_eq(certa_store_open(&o, &s, NULL, NULL), CERTA_E_ARG);
    remove_dir(dir);
    free(dir);
}

/* The feed reads big segments through a window of a few MiB that slides
 * (and grows for a record larger than it): every byte must arrive intact,
 * with O_DIRECT and through the page cache. */
typedef struct big_feed {
    uint64_t next;
    uint64_t bytes;
} big_feed;

static size_t big_len(uint64_t h) { return h == 40 ? (40u << 20) + 123 : 100000 + (size_t)(h * 7919 % 50000); }

static void big_fill(uint64_t h, uint8_t *buf, size_t len)
{
    uint64_t x = h * 0x9E3779B97F4A7C15ull + 7;
    for (size_t i = 0; i + 8 <= len; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(buf + i, &x, 8);
    }
    for (size_t i = len / 8 * 8; i < len; i++)
        buf[i] = (uint8_t)(h + i);
}

static uint8_t *big_want;

static bool big_cb(void *ctx, uint64_t h, const uint8_t *data, size_t len)
{
    big_feed *f = ctx;
    cr_assert_eq(h, f->next);
    cr_assert_eq(len, big_len(h), "height %llu", (unsigned long long)h);
    big_fill(h, big_want, len);
    cr_assert(memcmp(big_want, data, len) == 0, "height %llu contents", (unsigned long long)h);
    f->next++;
    f->bytes += len;
    return true;
}

Test(store, open_feed_streams_big_segments_intact, .timeout = 300)
{
    char *dir = make_dir();
    big_want = malloc(64u << 20);
    uint8_t *buf = malloc(64u << 20);
    cr_assert(big_want != NULL && buf != NULL);
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    o.create = true;
    o.segment_bytes = 96u << 20;
    certa_store *s = NULL;
    cr_assert_eq(certa_store_open(&o, &s, NULL, NULL), CERTA_OK);
    const uint64_t n = 400; /* ~50 MB of 100-150 KB blocks and one of 40 MiB */
    for (uint64_t h = 0; h < n; h++) {
        big_fill(h, buf, big_len(h));
        cr_assert_eq(certa_store_append(s, h, buf, big_len(h), NULL), CERTA_OK);
    }
    cr_assert_eq(certa_store_wait_durable(s, n - 1, NULL), CERTA_OK);
    certa_store_close(s);
    for (int direct = 1; direct >= 0; direct--) {
        certa_store_opts_default(&o);
        o.dir = dir;
        o.read_only = true;
        o.direct_io = direct;
        big_feed f = {0};
        o.on_open_block = big_cb;
        o.on_open_block_ctx = &f;
        certa_store_recovery rep;
        certa_errinfo ei;
        certa_errinfo_clear(&ei);
        cr_assert_eq(certa_store_open(&o, &s, &rep, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
        cr_assert_eq(f.next, n, "direct %d: fed %llu", direct, (unsigned long long)f.next);
        cr_assert(!rep.damaged, "%s", rep.damage_msg);
        cr_assert_eq(rep.payload_bytes, f.bytes);
        certa_store_close(s);
    }
    free(buf);
    free(big_want);
    remove_dir(dir);
    free(dir);
}
