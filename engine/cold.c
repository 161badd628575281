/* cold: the licence state's history in one LMDB environment (see cold.h
 * for the layout, its invariants and the durability rule).
 *
 * LMDB was chosen for crash safety (copy-on-write B+trees: a commit is
 * atomic, a killed process leaves the last commit), readers that never
 * block the writer and reads served from the page cache through one mmap.
 * Commits are not fsynced (MDB_NOSYNC | MDB_NOMETASYNC): an fdatasync per
 * block on the execution thread held up the whole pipeline (a 4-validator
 * cluster fell from tens of thousands of events/s to a few thousand), and
 * the store is derived from the block log, which is durable. Pages are
 * written in place through the map (MDB_WRITEMAP): written out through the
 * file instead (pwrite), a page cost a copy into a buffer and the kernel's
 * write path, and the writer spent 2.8 times the CPU per event once the
 * trees were large (7.5 against 2.7 us at 5.7 M events, bench/state_years).
 * Through the map, a page that lands on a hole of the (sparse) file gets
 * its disk block only when written back, so a full disk would be a SIGBUS
 * rather than an error: a kept store therefore reserves the disk ahead of
 * its last page before each write transaction (reserve_ahead), and a disk
 * that cannot hold that fails the commit. The DIR/unsynced marker (cold.h) tells
 * a kill, after which the store is whole, from a system crash, after which
 * it is rebuilt. Scratch stores reserve nothing and keep no marker.
 */
#include "cold.h"

#include <errno.h>
#include <pthread.h>
#include <sys/random.h>
#include <time.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certa/crypto.h"
#include "certa/wire.h"

#define COLD_MAP_DEFAULT (64ull << 30)
#define COLD_FORMAT 3u        /* meta "format": the layout in cold.h */
#define COLD_OLD_FORMAT (-1)  /* open_env: a store of another format (rebuilt) */
#define META_BYTES (8 + 8 + 8 + CERTA_HASH_BYTES)
#define BOOT_ID_BYTES 64
#define PATH_BYTES 4200
/* A write transaction dirties at most LMDB's MDB_IDL_UM_MAX pages (2^17 - 1;
 * one more is MDB_TXN_FULL): 512 MiB of 4 KiB pages. Reserved past the last
 * page before each one, no page it writes can land on an unreserved hole.
 * Reserved in steps, so that most transactions find it done. */
#define COLD_AHEAD_BYTES (512ull << 20)
#define COLD_RESERVE_STEP_BYTES (64ull << 20)

/* A group of blocks' writes, held in memory from the first put until the
 * writer thread has committed it and the next group takes its place. */
typedef struct cold_ev {
    uint8_t rec[COLD_EVENT_BYTES];
    uint8_t has_holder, has_grant;
    uint8_t holder[CERTA_HOLDER_ID_BYTES];
    uint8_t grant[CERTA_GRANT_ID_BYTES];
} cold_ev;

typedef struct cold_gr {
    uint8_t id[CERTA_GRANT_ID_BYTES];
    uint32_t len;
    uint8_t rec[COLD_GRANT_BYTES_MAX];
} cold_gr;

typedef struct cold_group {
    bool open;          /* begun and not yet handed to the writer */
    uint64_t first_seq; /* seq of evs[0] */
    cold_ev *evs;
    uint32_t n_evs, cap_evs;
    cold_gr *grs;
    uint32_t n_grs, cap_grs;
    uint32_t *slot;     /* open addressing over grs: index + 1, 0 free */
    uint32_t slot_cap;  /* a power of two, at least twice n_grs */
    certa_cold_meta meta; /* what the store reflects once it is written */
} cold_group;

/* A (key, seq) pair of a holder's or a grant's list, sorted by the writer. */
typedef struct cold_li {
    const uint8_t *key;
    uint64_t seq;
} cold_li;

struct certa_cold {
    MDB_env *env;
    MDB_dbi meta, events, by_holder, by_grant, grants;
    MDB_txn *rtxn; /* read snapshot, NULL or reset when not in use */
    bool rtxn_live;
    bool rtxn_stale; /* a group left memory since the snapshot began */
    uint64_t seed[2]; /* keys the grant hash (ids are chosen by integrators) */
    unsigned bucket_bits; /* meta "bucket_bits": 2^bucket_bits seqs a list bucket */
    /* the groups: `stage` is filled by the caller's thread; `flight` is the
     * last group handed over, written by the writer thread while
     * flight_todo, and readable by both until the next handover */
    cold_group g[2];
    cold_group *stage, *flight;
    cold_li *wl; /* the writer's sort scratch */
    uint32_t wl_cap;
    pthread_t writer;
    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t cv;
    bool flight_todo, stop;
    certa_cold_meta m;  /* the last commit's */
    certa_err werr;     /* the first write failure; nothing is written after it */
    char werr_msg[256];
    uint64_t writer_cpu_ns, writer_ns;
    bool scratch;
    uint64_t page_bytes;     /* LMDB's page size */
    uint64_t reserved_bytes; /* the file's first bytes known reserved on disk */
    bool marked; /* DIR/unsynced written by this open: removed at close */
    char why[96]; /* why the open rebuilt the store, "" when it did not */
    char path[4096];
};

static certa_err lmdb_err(certa_errinfo *ei, int rc, const char *what, const char *dir)
{
    certa_err code = rc == MDB_MAP_FULL ? CERTA_E_NOSPACE
                     : rc == ENOSPC     ? CERTA_E_NOSPACE
                     : rc == ENOMEM     ? CERTA_E_NOMEM
                                        : CERTA_E_IO;
    return certa_errorf(ei, code, "cold store %s: %s: %s", dir, what, mdb_strerror(rc));
}

static void be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

static void be32(uint8_t out[4], uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

void certa_cold_remove(const char *dir)
{
    char p[PATH_BYTES];
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/unsynced", dir);
    unlink(p);
}

/* ------------------------------------------------------ the unsynced marker */

/* The running system's boot id into out ("" when it cannot be read). */
static void boot_id(char out[BOOT_ID_BYTES])
{
    out[0] = '\0';
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f == NULL)
        return;
    if (fgets(out, BOOT_ID_BYTES, f) == NULL)
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

/* True when DIR/unsynced exists and names another boot than `now` (or
 * cannot be read whole): commits of a system that has since stopped may
 * never have reached the disk. */
static bool marker_stale(const char *dir, const char *now)
{
    char p[PATH_BYTES], id[BOOT_ID_BYTES] = "";
    snprintf(p, sizeof p, "%s/unsynced", dir);
    FILE *f = fopen(p, "r");
    if (f == NULL)
        return errno != ENOENT;
    bool ok = fgets(id, sizeof id, f) != NULL;
    fclose(f);
    id[strcspn(id, "\n")] = '\0';
    return !ok || now[0] == '\0' || strcmp(id, now) != 0;
}

static int fsync_path(const char *p, int flags)
{
    int fd = open(p, flags);
    if (fd < 0)
        return errno;
    int rc = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

/* Writes DIR/unsynced (the boot id, fsynced with its directory) before the
 * first unsynced commit can exist. 0 or an errno. */
static int marker_write(const char *dir, const char *now)
{
    CERTA_ASSERT(now != NULL && now[0] != '\0');
    char p[PATH_BYTES];
    snprintf(p, sizeof p, "%s/unsynced", dir);
    FILE *f = fopen(p, "w");
    if (f == NULL)
        return errno;
    bool ok = fprintf(f, "%s\n", now) > 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int rc = ok ? 0 : errno != 0 ? errno : EIO;
    if (fclose(f) != 0 && rc == 0)
        rc = errno;
    return rc != 0 ? rc : fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

/* c->env, created and opened with flags; on failure the caller closes it. */
static int env_open_flags(certa_cold *c, uint64_t map, unsigned flags)
{
    int rc = mdb_env_create(&c->env);
    if (rc != 0)
        return rc;
    if ((rc = mdb_env_set_mapsize(c->env, (size_t)map)) != 0 ||
        (rc = mdb_env_set_maxdbs(c->env, 8)) != 0)
        return rc;
    return mdb_env_open(c->env, c->path, flags, 0644);
}

/* Reserves the disk for the file's pages and COLD_AHEAD_BYTES past the last
 * one (a kept store; see the top of this file). 0, or an errno (ENOSPC:
 * the disk cannot hold the reserve). */
static int reserve_ahead(certa_cold *c)
{
    if (c->scratch)
        return 0;
    CERTA_ASSERT(c->env != NULL && c->page_bytes > 0);
    MDB_envinfo info;
    int rc = mdb_env_info(c->env, &info);
    if (rc != 0)
        return rc;
    uint64_t map = info.me_mapsize;
    uint64_t want = ((uint64_t)info.me_last_pgno + 1) * c->page_bytes + COLD_AHEAD_BYTES;
    if (want > map)
        want = map;
    if (want <= c->reserved_bytes)
        return 0;
    uint64_t to = want + COLD_RESERVE_STEP_BYTES < map ? want + COLD_RESERVE_STEP_BYTES : map;
    CERTA_ASSERT(to >= want && to > c->reserved_bytes);
    mdb_filehandle_t fd;
    if ((rc = mdb_env_get_fd(c->env, &fd)) != 0)
        return rc;
    /* blocks already allocated are kept as they are: the first call after
     * an open goes over the whole file at little cost */
    if ((rc = posix_fallocate(fd, (off_t)c->reserved_bytes, (off_t)(to - c->reserved_bytes))) != 0)
        return rc;
    c->reserved_bytes = to;
    return 0;
}

/* Opens env and its databases, reads meta. rc != 0 on any failure.
 * nosync: commits are not fsynced (cold.h). */
static int open_env(certa_cold *c, const certa_cold_opts *o, bool nosync)
{
    uint64_t map = o && o->map_bytes ? o->map_bytes : COLD_MAP_DEFAULT;
    unsigned flags = MDB_NOTLS | MDB_NOMETASYNC | MDB_NORDAHEAD;
    if (nosync)
        flags |= MDB_NOSYNC;
    /* Opened through the file first: with MDB_WRITEMAP, LMDB extends the
     * file to the map's size, which would hide a torn (short) copy. */
    int rc = env_open_flags(c, map, flags);
    if (rc != 0)
        return rc;
    /* a file shorter than its last page (a torn copy) would fault on read */
    MDB_envinfo info;
    MDB_stat st;
    struct stat fs;
    char p[PATH_BYTES];
    snprintf(p, sizeof p, "%s/data.mdb", c->path);
    if ((rc = mdb_env_info(c->env, &info)) != 0 || (rc = mdb_env_stat(c->env, &st)) != 0)
        return rc;
    if (stat(p, &fs) != 0)
        return errno;
    if ((uint64_t)fs.st_size < ((uint64_t)info.me_last_pgno + 1) * st.ms_psize)
        return MDB_CORRUPTED;
    /* whole: from here on, pages are written in place through the map */
    c->page_bytes = st.ms_psize;
    mdb_env_close(c->env);
    c->env = NULL;
    if ((rc = env_open_flags(c, map, flags | MDB_WRITEMAP)) != 0 || (rc = reserve_ahead(c)) != 0)
        return rc;
    MDB_txn *t;
    if ((rc = mdb_txn_begin(c->env, NULL, 0, &t)) != 0)
        return rc;
    if ((rc = mdb_dbi_open(t, "meta", MDB_CREATE, &c->meta)) != 0 ||
        (rc = mdb_dbi_open(t, "event_groups", MDB_CREATE, &c->events)) != 0 ||
        (rc = mdb_dbi_open(t, "holder_runs", MDB_CREATE, &c->by_holder)) != 0 ||
        (rc = mdb_dbi_open(t, "grant_runs", MDB_CREATE, &c->by_grant)) != 0 ||
        (rc = mdb_dbi_open(t, "grants", MDB_CREATE, &c->grants)) != 0) {
        mdb_txn_abort(t);
        return rc;
    }
    MDB_val k = {5, "state"}, v, fk = {6, "format"}, fv, bk = {11, "bucket_bits"}, bv;
    rc = mdb_get(t, c->meta, &k, &v);
    memset(&c->m, 0, sizeof c->m);
    if (rc == 0) {
        int fr = mdb_get(t, c->meta, &fk, &fv);
        if (fr != 0 || fv.mv_size != 4 || get_be32(fv.mv_data) != COLD_FORMAT) {
            mdb_txn_abort(t);
            return fr == 0 || fr == MDB_NOTFOUND ? COLD_OLD_FORMAT : fr;
        }
        /* the store's own buckets, whatever this open asked for */
        fr = mdb_get(t, c->meta, &bk, &bv);
        uint32_t bits = fr == 0 && bv.mv_size == 4 ? get_be32(bv.mv_data) : 0;
        if (bits < COLD_BUCKET_BITS_MIN || bits > COLD_BUCKET_BITS_MAX) {
            mdb_txn_abort(t);
            return fr == 0 || fr == MDB_NOTFOUND ? MDB_CORRUPTED : fr;
        }
        c->bucket_bits = bits;
    }
    if (rc == 0 && v.mv_size == META_BYTES) {
        const uint8_t *b = v.mv_data;
        c->m.height = get_be64(b);
        c->m.events = get_be64(b + 8);
        c->m.archived = get_be64(b + 16);
        memcpy(c->m.root, b + 24, CERTA_HASH_BYTES);
    } else if (rc == MDB_NOTFOUND) {
        /* new (or emptied): nothing may be in it without a meta */
        MDB_stat es;
        rc = mdb_stat(t, c->events, &es);
        if (rc == 0 && es.ms_entries != 0)
            rc = MDB_CORRUPTED;
        else if (rc == 0)
            certa_sha256("", 0, c->m.root);
        uint8_t fb[4], bb[4];
        be32(fb, COLD_FORMAT);
        fv = (MDB_val){sizeof fb, fb};
        if (rc == 0)
            rc = mdb_put(t, c->meta, &fk, &fv, 0);
        c->bucket_bits = o && o->bucket_bits ? o->bucket_bits : COLD_BUCKET_BITS_DEFAULT;
        be32(bb, c->bucket_bits);
        bv = (MDB_val){sizeof bb, bb};
        if (rc == 0)
            rc = mdb_put(t, c->meta, &bk, &bv, 0);
    } else if (rc == 0) {
        rc = MDB_CORRUPTED;
    }
    if (rc != 0) {
        mdb_txn_abort(t);
        return rc;
    }
    return mdb_txn_commit(t);
}

static void *writer_main(void *arg);

certa_err certa_cold_open(const char *dir, const certa_cold_opts *o, certa_cold **out,
                          bool *rebuilt, certa_errinfo *ei)
{
    *out = NULL;
    *rebuilt = false;
    if (strlen(dir) >= sizeof((certa_cold *)0)->path)
        return certa_errorf(ei, CERTA_E_ARG, "cold store path too long: %s", dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return certa_errorf(ei, CERTA_E_IO, "create %s: %s", dir, strerror(errno));
    certa_cold *c = calloc(1, sizeof *c);
    if (c == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "cold store: out of memory");
    strcpy(c->path, dir);
    c->scratch = o != NULL && o->scratch;
    if (o != NULL && o->bucket_bits != 0 &&
        (o->bucket_bits < COLD_BUCKET_BITS_MIN || o->bucket_bits > COLD_BUCKET_BITS_MAX)) {
        free(c);
        return certa_errorf(ei, CERTA_E_ARG, "cold store %s: bucket_bits %u is outside %u..%u",
                            dir, o->bucket_bits, COLD_BUCKET_BITS_MIN, COLD_BUCKET_BITS_MAX);
    }
    char now[BOOT_ID_BYTES] = "";
    if (!c->scratch)
        boot_id(now);
    /* without a boot id to tell a kill from a system crash, sync each commit */
    bool nosync = c->scratch || now[0] != '\0';
    int rc = 0;
    if (!c->scratch && marker_stale(dir, now)) {
        snprintf(c->why, sizeof c->why, "left unflushed by a system that has since stopped");
        certa_cold_remove(dir);
    } else {
        rc = open_env(c, o, nosync);
        if (rc != 0 && rc != ENOMEM && rc != EACCES && rc != ENOSPC) {
            /* derived data that cannot be trusted: start it again */
            if (c->env != NULL)
                mdb_env_close(c->env);
            c->env = NULL;
            if (rc == COLD_OLD_FORMAT)
                snprintf(c->why, sizeof c->why, "written in another format than %u",
                         COLD_FORMAT);
            else
                snprintf(c->why, sizeof c->why, "torn or unreadable (%s)", mdb_strerror(rc));
            certa_cold_remove(dir);
            rc = 0;
        }
    }
    if (rc == 0 && c->env == NULL)
        rc = open_env(c, o, nosync); /* empty: the replay refills it */
    if (rc == 0 && !c->scratch && nosync) {
        rc = marker_write(dir, now);
        c->marked = rc == 0;
    }
    if (rc != 0) {
        certa_err e = lmdb_err(ei, rc, "open", dir);
        if (c->env != NULL)
            mdb_env_close(c->env);
        free(c);
        return e;
    }
    if (getrandom(c->seed, sizeof c->seed, 0) != (ssize_t)sizeof c->seed)
        c->seed[0] = (uint64_t)time(NULL), c->seed[1] = (uint64_t)getpid();
    c->stage = &c->g[0];
    c->flight = &c->g[1];
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->writer, NULL, writer_main, c) != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        mdb_env_close(c->env);
        free(c);
        return certa_errorf(ei, CERTA_E_IO, "cold store %s: cannot start its writer thread",
                            dir);
    }
    pthread_setname_np(c->writer, "certa-cold"); /* top -H, perf */
    *rebuilt = c->why[0] != '\0';
    *out = c;
    return CERTA_OK;
}

void certa_cold_close(certa_cold *c)
{
    if (c == NULL)
        return;
    /* the group in flight is written; an open one is dropped (replayed) */
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->writer, NULL); /* a store exists only with its writer */
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    for (int i = 0; i < 2; i++) {
        free(c->g[i].evs);
        free(c->g[i].grs);
        free(c->g[i].slot);
    }
    free(c->wl);
    if (c->rtxn != NULL)
        mdb_txn_abort(c->rtxn);
    /* every commit on disk: the marker may go. A failed flush (a write-back
     * error) may have lost pages the next boot would read: the marker then
     * names no boot, so the next open rebuilds. */
    if (!c->scratch && c->marked) {
        if (mdb_env_sync(c->env, 1) != 0) {
            (void)marker_write(c->path, "flush-failed");
        } else {
            char p[PATH_BYTES];
            snprintf(p, sizeof p, "%s/unsynced", c->path);
            if (unlink(p) == 0)
                (void)fsync_path(c->path, O_RDONLY | O_DIRECTORY);
        }
    } else if (!c->scratch) {
        (void)mdb_env_sync(c->env, 1);
    }
    mdb_env_close(c->env);
    free(c);
}

certa_cold_meta certa_cold_meta_of(certa_cold *c)
{
    pthread_mutex_lock(&c->mu);
    certa_cold_meta m = c->m;
    pthread_mutex_unlock(&c->mu);
    return m;
}

const char *certa_cold_rebuilt_why(const certa_cold *c) { return c->why; }

uint64_t certa_cold_disk_bytes(const certa_cold *c)
{
    MDB_envinfo info;
    return mdb_env_info(c->env, &info) == 0 ? ((uint64_t)info.me_last_pgno + 1) * c->page_bytes
                                            : 0;
}

/* ---------------------------------------------------------------- groups */

static void *grow(void *p, uint32_t *cap, uint32_t need, size_t size)
{
    if (need <= *cap)
        return p;
    uint32_t n = *cap ? *cap : 1024u;
    while (n < need)
        n *= 2;
    void *q = realloc(p, (size_t)n * size);
    CERTA_ASSERT(q != NULL); /* as the state's own tables: no way on without it */
    *cap = n;
    return q;
}

static uint32_t grant_hash(const certa_cold *c, const uint8_t id[CERTA_GRANT_ID_BYTES])
{
    uint64_t h = (certa_get_le64(id) ^ c->seed[0]) * 0x9e3779b97f4a7c15ull;
    h ^= (certa_get_le64(id + 8) ^ c->seed[1]) * 0xc2b2ae3d27d4eb4full;
    return (uint32_t)(h >> 32 ^ h);
}

static void slot_insert(const certa_cold *c, cold_group *g, uint32_t gi)
{
    uint32_t mask = g->slot_cap - 1, i = grant_hash(c, g->grs[gi].id) & mask;
    while (g->slot[i] != 0)
        i = (i + 1) & mask;
    g->slot[i] = gi + 1;
}

static const cold_gr *group_grant(const certa_cold *c, const cold_group *g,
                                  const uint8_t id[CERTA_GRANT_ID_BYTES])
{
    if (g->n_grs == 0)
        return NULL;
    uint32_t mask = g->slot_cap - 1, i = grant_hash(c, id) & mask;
    for (uint32_t probes = 0; g->slot[i] != 0 && probes <= mask; probes++) {
        const cold_gr *r = &g->grs[g->slot[i] - 1];
        if (memcmp(r->id, id, CERTA_GRANT_ID_BYTES) == 0)
            return r;
        i = (i + 1) & mask;
    }
    return NULL;
}

static const cold_ev *group_event(const cold_group *g, uint64_t seq)
{
    if (g->n_evs == 0 || seq < g->first_seq || seq - g->first_seq >= g->n_evs)
        return NULL;
    return &g->evs[seq - g->first_seq];
}

static void group_clear(cold_group *g)
{
    g->open = false;
    g->n_evs = 0;
    g->n_grs = 0;
    if (g->slot != NULL)
        memset(g->slot, 0, (size_t)g->slot_cap * sizeof *g->slot);
}

/* ---------------------------------------------------------------- writer */

static int cmp_li(const void *a, const void *b, size_t key_bytes)
{
    const cold_li *x = a, *y = b;
    int c = memcmp(x->key, y->key, key_bytes);
    return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}
static int cmp_holder(const void *a, const void *b) { return cmp_li(a, b, CERTA_HOLDER_ID_BYTES); }
static int cmp_grant(const void *a, const void *b) { return cmp_li(a, b, CERTA_GRANT_ID_BYTES); }

/* A list's run key: u32 bucket | KEY | u64 first seq (cold.h). The bucket
 * fits in 32 bits for 2^(32 + bucket_bits) events (2^51 by default). */
static size_t run_key(const certa_cold *c, uint8_t *out, const uint8_t *key, size_t kb,
                      uint64_t first)
{
    uint64_t b = first >> c->bucket_bits;
    CERTA_ASSERT(b <= UINT32_MAX);
    be32(out, (uint32_t)b);
    memcpy(out + 4, key, kb);
    be64(out + 4 + kb, first);
    return 4 + kb + 8;
}

/* A list's entries of the group in key order, one LMDB entry per run of
 * one key in one bucket (its seqs, u64 each): a holder's five events of a
 * counter case cost one put, not five. */
static int put_runs(certa_cold *c, MDB_txn *t, const cold_group *g, bool by_holder)
{
    c->wl = grow(c->wl, &c->wl_cap, g->n_evs, sizeof *c->wl);
    uint32_t n = 0;
    for (uint32_t i = 0; i < g->n_evs; i++) {
        const cold_ev *e = &g->evs[i];
        if (by_holder ? e->has_holder : e->has_grant)
            c->wl[n++] = (cold_li){by_holder ? e->holder : e->grant, g->first_seq + i};
    }
    if (n > 1) /* a group of empty blocks has no list (wl may be NULL) */
        qsort(c->wl, n, sizeof *c->wl, by_holder ? cmp_holder : cmp_grant);
    size_t kb = by_holder ? CERTA_HOLDER_ID_BYTES : CERTA_GRANT_ID_BYTES;
    MDB_dbi dbi = by_holder ? c->by_holder : c->by_grant;
    int rc = 0;
    for (uint32_t i = 0, j; i < n && rc == 0; i = j) {
        uint64_t bucket = c->wl[i].seq >> c->bucket_bits;
        for (j = i + 1; j < n && memcmp(c->wl[j].key, c->wl[i].key, kb) == 0 &&
                        c->wl[j].seq >> c->bucket_bits == bucket;
             j++)
            ;
        uint8_t key[4 + CERTA_HOLDER_ID_BYTES + 8];
        MDB_val k = {run_key(c, key, c->wl[i].key, kb, c->wl[i].seq), key},
                v = {(size_t)(j - i) * 8u, NULL};
        if ((rc = mdb_put(t, dbi, &k, &v, MDB_NOOVERWRITE | MDB_RESERVE)) == 0)
            for (uint32_t x = i; x < j; x++)
                be64((uint8_t *)v.mv_data + (size_t)(x - i) * 8u, c->wl[x].seq);
    }
    return rc;
}

/* One write transaction: the group's records (one entry: first seq ->
 * the records in seq order), lists, grants and meta. */
static certa_err group_write(certa_cold *c, const cold_group *g, certa_errinfo *ei)
{
    MDB_txn *t;
    int rc = reserve_ahead(c);
    if (rc != 0)
        return lmdb_err(ei, rc, "reserving the disk ahead of the next write", c->path);
    if ((rc = mdb_txn_begin(c->env, NULL, 0, &t)) != 0)
        return lmdb_err(ei, rc, "begin", c->path);
    const char *what = "put events";
    if (g->n_evs != 0) {
        uint8_t kb[8];
        be64(kb, g->first_seq);
        MDB_val k = {8, kb}, v = {(size_t)g->n_evs * COLD_EVENT_BYTES, NULL};
        /* sequence numbers only grow: append at the right edge */
        rc = mdb_put(t, c->events, &k, &v, MDB_APPEND | MDB_RESERVE);
        for (uint32_t i = 0; rc == 0 && i < g->n_evs; i++)
            memcpy((uint8_t *)v.mv_data + (size_t)i * COLD_EVENT_BYTES, g->evs[i].rec,
                   COLD_EVENT_BYTES);
    }
    if (rc == 0 && (rc = put_runs(c, t, g, true)) != 0)
        what = "put holder list";
    if (rc == 0 && (rc = put_runs(c, t, g, false)) != 0)
        what = "put grant list";
    for (uint32_t i = 0; i < g->n_grs && rc == 0; i++) {
        MDB_val k = {CERTA_GRANT_ID_BYTES, (void *)g->grs[i].id};
        MDB_val v = {g->grs[i].len, (void *)g->grs[i].rec};
        if ((rc = mdb_put(t, c->grants, &k, &v, MDB_NOOVERWRITE)) != 0)
            what = "put grant";
    }
    if (rc == 0) {
        uint8_t b[META_BYTES];
        be64(b, g->meta.height);
        be64(b + 8, g->meta.events);
        be64(b + 16, g->meta.archived);
        memcpy(b + 24, g->meta.root, CERTA_HASH_BYTES);
        MDB_val k = {5, "state"}, v = {sizeof b, b};
        if ((rc = mdb_put(t, c->meta, &k, &v, 0)) != 0)
            what = "put meta";
    }
    if (rc != 0) {
        mdb_txn_abort(t);
        return lmdb_err(ei, rc, what, c->path);
    }
    if ((rc = mdb_txn_commit(t)) != 0)
        return lmdb_err(ei, rc, "commit", c->path);
    return CERTA_OK;
}

/* The writer thread: writes each group handed over, in order, one
 * transaction each; after a failure it writes nothing more (the failure is
 * the caller's to see, and a restart replays from the last commit). */
static void *writer_main(void *arg)
{
    certa_cold *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->flight_todo && !c->stop)
            pthread_cond_wait(&c->cv, &c->mu);
        if (!c->flight_todo)
            break;
        bool skip = c->werr != CERTA_OK;
        const cold_group *g = c->flight;
        pthread_mutex_unlock(&c->mu);
        uint64_t t0 = certa_cold_clock_ns(CLOCK_MONOTONIC), c0 = certa_cold_clock_ns(CLOCK_THREAD_CPUTIME_ID);
        certa_errinfo ei;
        certa_errinfo_clear(&ei);
        certa_err e = skip ? CERTA_OK : group_write(c, g, &ei);
        uint64_t dt = certa_cold_clock_ns(CLOCK_MONOTONIC) - t0, dc = certa_cold_clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
        pthread_mutex_lock(&c->mu);
        c->writer_ns += dt;
        c->writer_cpu_ns += dc;
        if (e != CERTA_OK) {
            c->werr = e;
            snprintf(c->werr_msg, sizeof c->werr_msg, "%s", certa_errmsg(&ei));
        } else if (!skip) {
            CERTA_ASSERT(g->meta.height >= c->m.height && g->meta.events >= c->m.events);
            c->m = g->meta;
        }
        c->flight_todo = false;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---------------------------------------------------------------- writing */

static certa_err werr_get(certa_cold *c, certa_errinfo *ei)
{
    pthread_mutex_lock(&c->mu);
    certa_err e = c->werr;
    char msg[sizeof c->werr_msg];
    memcpy(msg, c->werr_msg, sizeof msg);
    pthread_mutex_unlock(&c->mu);
    return e == CERTA_OK ? CERTA_OK : certa_errorf(ei, e, "%s", msg);
}

certa_err certa_cold_begin(certa_cold *c, certa_errinfo *ei)
{
    CERTA_ASSERT(!c->stage->open);
    group_clear(c->stage);
    c->stage->open = true;
    return werr_get(c, ei);
}

bool certa_cold_writing(const certa_cold *c) { return c->stage->open; }

certa_err certa_cold_put_event(certa_cold *c, uint64_t seq,
                               const uint8_t rec[COLD_EVENT_BYTES],
                               const uint8_t *holder_id, const uint8_t *grant_id,
                               certa_errinfo *ei)
{
    (void)ei;
    cold_group *g = c->stage;
    CERTA_ASSERT(g->open);
    if (g->n_evs == 0)
        g->first_seq = seq;
    CERTA_ASSERT(seq == g->first_seq + g->n_evs); /* records come in order, none missing */
    g->evs = grow(g->evs, &g->cap_evs, g->n_evs + 1, sizeof *g->evs);
    cold_ev *e = &g->evs[g->n_evs++];
    memcpy(e->rec, rec, COLD_EVENT_BYTES);
    e->has_holder = holder_id != NULL;
    e->has_grant = grant_id != NULL;
    if (holder_id != NULL)
        memcpy(e->holder, holder_id, CERTA_HOLDER_ID_BYTES);
    if (grant_id != NULL)
        memcpy(e->grant, grant_id, CERTA_GRANT_ID_BYTES);
    return CERTA_OK;
}

certa_err certa_cold_put_grant(certa_cold *c, const uint8_t grant_id[CERTA_GRANT_ID_BYTES],
                               const uint8_t *rec, size_t len, certa_errinfo *ei)
{
    (void)ei;
    cold_group *g = c->stage;
    CERTA_ASSERT(g->open && len <= COLD_GRANT_BYTES_MAX);
    CERTA_ASSERT(group_grant(c, g, grant_id) == NULL); /* archived once */
    g->grs = grow(g->grs, &g->cap_grs, g->n_grs + 1, sizeof *g->grs);
    cold_gr *r = &g->grs[g->n_grs++];
    memcpy(r->id, grant_id, CERTA_GRANT_ID_BYTES);
    r->len = (uint32_t)len;
    memcpy(r->rec, rec, len);
    if (2u * g->n_grs > g->slot_cap) {
        uint32_t cap = g->slot_cap ? 2u * g->slot_cap : 1024u;
        free(g->slot);
        g->slot = calloc(cap, sizeof *g->slot);
        CERTA_ASSERT(g->slot != NULL);
        g->slot_cap = cap;
        for (uint32_t i = 0; i < g->n_grs; i++)
            slot_insert(c, g, i);
    } else {
        slot_insert(c, g, g->n_grs - 1);
    }
    return CERTA_OK;
}

certa_err certa_cold_commit(certa_cold *c, const certa_cold_meta *m, certa_errinfo *ei)
{
    CERTA_ASSERT(c->stage->open);
    c->stage->meta = *m;
    c->stage->open = false;
    pthread_mutex_lock(&c->mu);
    /* the writer is at most one group behind: wait for the one it has */
    while (c->flight_todo)
        pthread_cond_wait(&c->cv, &c->mu);
    CERTA_ASSERT(m->height >= c->flight->meta.height && m->events >= c->flight->meta.events);
    cold_group *done = c->flight;
    c->flight = c->stage;
    c->flight_todo = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    /* the group written before leaves memory: reads find it in LMDB, with
     * a snapshot begun after its commit */
    group_clear(done);
    c->stage = done;
    c->rtxn_stale = true;
    return werr_get(c, ei);
}

void certa_cold_abort(certa_cold *c) { group_clear(c->stage); }

certa_err certa_cold_sync(certa_cold *c, certa_errinfo *ei)
{
    pthread_mutex_lock(&c->mu);
    while (c->flight_todo)
        pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    return werr_get(c, ei);
}

certa_err certa_cold_failed(certa_cold *c, certa_errinfo *ei) { return werr_get(c, ei); }

void certa_cold_writer_time(certa_cold *c, uint64_t *wall_ns, uint64_t *cpu_ns)
{
    pthread_mutex_lock(&c->mu);
    *wall_ns = c->writer_ns;
    *cpu_ns = c->writer_cpu_ns;
    pthread_mutex_unlock(&c->mu);
}

/* ---------------------------------------------------------------- reading */

static MDB_txn *rtxn(certa_cold *c)
{
    if (c->rtxn_live && c->rtxn_stale)
        certa_cold_read_end(c);
    if (c->rtxn_live)
        return c->rtxn;
    int rc = c->rtxn == NULL ? mdb_txn_begin(c->env, NULL, MDB_RDONLY, &c->rtxn)
                             : mdb_txn_renew(c->rtxn);
    if (rc != 0) {
        if (c->rtxn != NULL)
            mdb_txn_abort(c->rtxn);
        c->rtxn = NULL;
        return NULL;
    }
    c->rtxn_live = true;
    c->rtxn_stale = false;
    return c->rtxn;
}

void certa_cold_read_end(certa_cold *c)
{
    if (c->rtxn_live)
        mdb_txn_reset(c->rtxn);
    c->rtxn_live = false;
}

certa_err certa_cold_get_grant(certa_cold *c, const uint8_t grant_id[CERTA_GRANT_ID_BYTES],
                               uint8_t *rec, size_t cap, size_t *len)
{
    const cold_gr *r = group_grant(c, c->stage, grant_id);
    if (r == NULL)
        r = group_grant(c, c->flight, grant_id);
    if (r != NULL) {
        if (r->len > cap)
            return CERTA_E_IO;
        memcpy(rec, r->rec, r->len);
        *len = r->len;
        return CERTA_OK;
    }
    MDB_txn *t = rtxn(c);
    if (t == NULL)
        return CERTA_E_IO;
    MDB_val k = {CERTA_GRANT_ID_BYTES, (void *)grant_id}, v;
    int rc = mdb_get(t, c->grants, &k, &v);
    if (rc == MDB_NOTFOUND)
        return CERTA_E_NOTFOUND;
    if (rc != 0 || v.mv_size > cap)
        return CERTA_E_IO;
    memcpy(rec, v.mv_data, v.mv_size);
    *len = v.mv_size;
    return CERTA_OK;
}

certa_err certa_cold_get_event(certa_cold *c, uint64_t seq, uint8_t rec[COLD_EVENT_BYTES])
{
    const cold_ev *m = group_event(c->stage, seq);
    if (m == NULL)
        m = group_event(c->flight, seq);
    if (m != NULL) {
        memcpy(rec, m->rec, COLD_EVENT_BYTES);
        return CERTA_OK;
    }
    MDB_txn *t = rtxn(c);
    if (t == NULL)
        return CERTA_E_IO;
    MDB_cursor *cur;
    if (mdb_cursor_open(t, c->events, &cur) != 0)
        return CERTA_E_IO;
    /* the group entry whose first seq is the greatest at or below seq */
    uint8_t kb[8];
    be64(kb, seq);
    MDB_val k = {8, kb}, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && (k.mv_size != 8 || get_be64(k.mv_data) != seq))
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    certa_err e = CERTA_OK;
    if (rc == MDB_NOTFOUND) {
        e = CERTA_E_NOTFOUND;
    } else if (rc != 0 || k.mv_size != 8 || v.mv_size % COLD_EVENT_BYTES != 0) {
        e = CERTA_E_IO;
    } else {
        uint64_t first = get_be64(k.mv_data);
        if (seq < first || seq - first >= v.mv_size / COLD_EVENT_BYTES)
            e = CERTA_E_NOTFOUND;
        else
            memcpy(rec, (const uint8_t *)v.mv_data + (seq - first) * COLD_EVENT_BYTES,
                   COLD_EVENT_BYTES);
    }
    mdb_cursor_close(cur);
    return e;
}

/* The first seq held in memory (the groups are consecutive: flight, then
 * stage); UINT64_MAX when neither holds a record. LMDB answers below it. */
static uint64_t mem_first(const certa_cold *c)
{
    if (c->flight->n_evs != 0)
        return c->flight->first_seq;
    return c->stage->n_evs != 0 ? c->stage->first_seq : UINT64_MAX;
}

/* k is a run of prefix (bucket | KEY, pl bytes). */
static bool on_prefix(const MDB_val *k, const uint8_t *prefix, size_t pl)
{
    return k->mv_size == pl + 8 && memcmp(k->mv_data, prefix, pl) == 0;
}

/* Places cur on the run of prefix (bucket | KEY, pl bytes) that holds
 * `from` (the last one starting at or below it) or else the first one above
 * it; *mine: cur is on a run of prefix. 0 or an LMDB error. */
static int seek_run(MDB_cursor *cur, uint8_t *probe, size_t pl, uint64_t from, MDB_val *k,
                    MDB_val *v, bool *mine)
{
    be64(probe + pl, from);
    *k = (MDB_val){pl + 8, probe};
    int rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    bool exact = rc == 0 && k->mv_size == pl + 8 && memcmp(k->mv_data, probe, pl + 8) == 0;
    if (!exact) {
        bool past_end = rc == MDB_NOTFOUND;
        if (rc == 0)
            rc = mdb_cursor_get(cur, k, v, MDB_PREV);
        else if (past_end)
            rc = mdb_cursor_get(cur, k, v, MDB_LAST);
        if (rc == MDB_NOTFOUND && !past_end) /* it was the first entry of all */
            rc = mdb_cursor_get(cur, k, v, MDB_FIRST);
        if (rc == 0 && !on_prefix(k, probe, pl))
            rc = mdb_cursor_get(cur, k, v, MDB_NEXT); /* from precedes the prefix's runs */
    }
    *mine = rc == 0 && on_prefix(k, probe, pl);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* A list's seqs in LMDB in [from, end), at most limit into seqs; *any:
 * the list has an entry below end at all. 0 or an LMDB error. A key's runs
 * are consecutive entries (bucket | KEY | first seq) within each bucket,
 * and each run lies within its bucket (cold.h), so the list is read bucket
 * by bucket from from's, with one seek each. */
static int db_list(certa_cold *c, bool by_holder, const uint8_t *key, uint64_t from,
                   uint64_t end, uint64_t *seqs, uint32_t limit, uint32_t *n, bool *any)
{
    *n = 0;
    *any = false;
    if (end == 0)
        return 0;
    MDB_txn *t = rtxn(c);
    if (t == NULL)
        return EIO;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t, by_holder ? c->by_holder : c->by_grant, &cur);
    if (rc != 0)
        return rc;
    size_t kb = by_holder ? CERTA_HOLDER_ID_BYTES : CERTA_GRANT_ID_BYTES, pl = 4 + kb;
    uint8_t probe[4 + CERTA_HOLDER_ID_BYTES + 8];
    memcpy(probe + 4, key, kb);
    uint64_t b_from = from >> c->bucket_bits, b_last = (end - 1) >> c->bucket_bits;
    bool done = false;
    for (uint64_t b = b_from; rc == 0 && !done && b <= b_last; b++) {
        be32(probe, (uint32_t)b);
        MDB_val k, v;
        bool mine;
        rc = seek_run(cur, probe, pl, b == b_from ? from : 0, &k, &v, &mine);
        while (rc == 0 && mine && !done) {
            if (v.mv_size % 8 != 0 || v.mv_size == 0) {
                rc = MDB_CORRUPTED;
                break;
            }
            for (size_t i = 0; i < v.mv_size / 8; i++) {
                uint64_t q = get_be64((const uint8_t *)v.mv_data + i * 8);
                if (q >= end || *n == limit) {
                    done = true;
                    break;
                }
                *any = true;
                if (q >= from)
                    seqs[(*n)++] = q;
            }
            if (!done) {
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
                mine = rc == 0 && on_prefix(&k, probe, pl);
                if (rc == MDB_NOTFOUND)
                    rc = 0;
            }
        }
    }
    /* nothing from `from` on: is there anything below it (below end)? The
     * buckets above from's were read whole; in the others, a bucket's
     * first run of the key starts below end or none of it does. */
    uint64_t b_below = b_from < b_last ? b_from : b_last;
    for (uint64_t b = 0; rc == 0 && !*any && b <= b_below; b++) {
        be32(probe, (uint32_t)b);
        be64(probe + pl, 0);
        MDB_val k = {pl + 8, probe}, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        *any = rc == 0 && on_prefix(&k, probe, pl) &&
               get_be64((const uint8_t *)k.mv_data + pl) < end;
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The same from a group in memory. */
static void mem_list(const cold_group *g, bool by_holder, const uint8_t *key, uint64_t from,
                     uint64_t end, uint64_t *seqs, uint32_t limit, uint32_t *n, bool *any)
{
    size_t kb = by_holder ? CERTA_HOLDER_ID_BYTES : CERTA_GRANT_ID_BYTES;
    for (uint32_t i = 0; i < g->n_evs && *n < limit; i++) {
        const cold_ev *e = &g->evs[i];
        uint64_t q = g->first_seq + i;
        if (q >= end)
            break;
        if (!(by_holder ? e->has_holder : e->has_grant) ||
            memcmp(by_holder ? e->holder : e->grant, key, kb) != 0)
            continue;
        *any = true;
        if (q >= from)
            seqs[(*n)++] = q;
    }
}

certa_err certa_cold_list(certa_cold *c, bool by_holder, const uint8_t *key, uint64_t from,
                          bool must_have_from, uint64_t seq_end, uint64_t *seqs,
                          uint32_t limit, uint32_t *n, uint64_t *next)
{
    *n = 0;
    *next = UINT64_MAX;
    /* one more than asked: the first one left is the next page's cursor */
    uint64_t got[COLD_LIST_MAX + 1];
    CERTA_ASSERT(limit <= COLD_LIST_MAX);
    uint32_t k = 0;
    bool any = false, a = false;
    uint64_t mf = mem_first(c);
    uint64_t db_end = seq_end < mf ? seq_end : mf;
    int rc = db_list(c, by_holder, key, from, db_end, got, limit + 1, &k, &a);
    if (rc != 0)
        return CERTA_E_IO;
    any = a;
    const cold_group *gs[2] = {c->flight, c->stage};
    for (int i = 0; i < 2; i++) {
        const cold_group *g = gs[i];
        if (g->n_evs == 0)
            continue;
        uint32_t m = 0;
        a = false;
        mem_list(g, by_holder, key, from, seq_end, got + k, limit + 1 - k, &m, &a);
        k += m;
        any = any || a;
        if (k == limit + 1)
            break;
    }
    /* a list whose first record a replay has not reached yet is not there yet */
    if (!any)
        return CERTA_E_NOTFOUND;
    if (must_have_from && (k == 0 || got[0] != from))
        return CERTA_E_ARG;
    *n = k > limit ? limit : k;
    memcpy(seqs, got, (size_t)*n * sizeof *seqs);
    if (k > limit)
        *next = got[limit];
    return CERTA_OK;
}
