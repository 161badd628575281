/* cold: the licence state's history in one LMDB environment (see cold.h
 * for the layout, its invariants and the durability rule).
 *
 * LMDB was chosen for crash safety (copy-on-write B+trees: a commit is
 * atomic, a killed process leaves the last commit), readers that never
 * block the writer and reads served from the page cache through one mmap.
 * Commits are not fsynced (MDB_NOSYNC | MDB_NOMETASYNC): an fdatasync per
 * block on the execution thread held up the whole pipeline (a 4-validator
 * cluster fell from tens of thousands of events/s to a few thousand), and
 * the store is derived from the block log, which is durable. Pages go out
 * through the file (pwrite), not the map, so a full disk is an error from
 * the commit rather than a SIGBUS. The DIR/unsynced marker (cold.h) tells
 * a kill, after which the store is whole, from a system crash, after which
 * it is rebuilt. Scratch stores write through the map and keep no marker.
 */
#include "cold.h"

#include <errno.h>
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
#define META_BYTES (8 + 8 + 8 + CERTA_HASH_BYTES)
#define BOOT_ID_BYTES 64
#define PATH_BYTES 4200

struct certa_cold {
    MDB_env *env;
    MDB_dbi meta, events, by_holder, by_grant, grants;
    MDB_txn *wtxn; /* open between begin and commit */
    MDB_cursor *wcur[2]; /* by_grant, by_holder cursors of wtxn */
    MDB_txn *rtxn; /* read snapshot, NULL or reset when not in use */
    bool rtxn_live;
    certa_cold_meta m;
    bool scratch;
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

/* Opens env and its databases, reads meta. rc != 0 on any failure.
 * nosync: commits are not fsynced (cold.h). */
static int open_env(certa_cold *c, const certa_cold_opts *o, bool nosync)
{
    int rc = mdb_env_create(&c->env);
    if (rc != 0)
        return rc;
    uint64_t map = o && o->map_bytes ? o->map_bytes : COLD_MAP_DEFAULT;
    if ((rc = mdb_env_set_mapsize(c->env, (size_t)map)) != 0 ||
        (rc = mdb_env_set_maxdbs(c->env, 8)) != 0)
        return rc;
    unsigned flags = MDB_NOTLS | MDB_NOMETASYNC | MDB_NORDAHEAD;
    if (nosync)
        flags |= MDB_NOSYNC;
    /* A scratch store's pages are written in place through the map (half
     * the CPU of a write); a kept one's through the file, so that a full
     * disk fails the commit instead of faulting a write to the map. */
    if (c->scratch)
        flags |= MDB_WRITEMAP;
    if ((rc = mdb_env_open(c->env, c->path, flags, 0644)) != 0)
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
    MDB_txn *t;
    if ((rc = mdb_txn_begin(c->env, NULL, 0, &t)) != 0)
        return rc;
    if ((rc = mdb_dbi_open(t, "meta", MDB_CREATE, &c->meta)) != 0 ||
        (rc = mdb_dbi_open(t, "events", MDB_CREATE, &c->events)) != 0 ||
        (rc = mdb_dbi_open(t, "by_holder", MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED,
                           &c->by_holder)) != 0 ||
        (rc = mdb_dbi_open(t, "by_grant", MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED,
                           &c->by_grant)) != 0 ||
        (rc = mdb_dbi_open(t, "grants", MDB_CREATE, &c->grants)) != 0) {
        mdb_txn_abort(t);
        return rc;
    }
    MDB_val k = {5, "state"}, v;
    rc = mdb_get(t, c->meta, &k, &v);
    memset(&c->m, 0, sizeof c->m);
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
    } else if (rc == 0) {
        rc = MDB_CORRUPTED;
    }
    if (rc != 0) {
        mdb_txn_abort(t);
        return rc;
    }
    return mdb_txn_commit(t);
}

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
    *rebuilt = c->why[0] != '\0';
    *out = c;
    return CERTA_OK;
}

void certa_cold_close(certa_cold *c)
{
    if (c == NULL)
        return;
    if (c->wtxn != NULL)
        mdb_txn_abort(c->wtxn);
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

const certa_cold_meta *certa_cold_meta_of(const certa_cold *c) { return &c->m; }

const char *certa_cold_rebuilt_why(const certa_cold *c) { return c->why; }

uint64_t certa_cold_disk_bytes(const certa_cold *c)
{
    char p[PATH_BYTES];
    struct stat fs;
    snprintf(p, sizeof p, "%s/data.mdb", c->path);
    return stat(p, &fs) == 0 ? (uint64_t)fs.st_blocks * 512u : 0;
}

/* ---------------------------------------------------------------- writing */

certa_err certa_cold_begin(certa_cold *c, certa_errinfo *ei)
{
    CERTA_ASSERT(c->wtxn == NULL);
    certa_cold_read_end(c); /* one transaction per thread at a time */
    int rc = mdb_txn_begin(c->env, NULL, 0, &c->wtxn);
    if (rc != 0) {
        c->wtxn = NULL;
        return lmdb_err(ei, rc, "begin", c->path);
    }
    if ((rc = mdb_cursor_open(c->wtxn, c->by_grant, &c->wcur[0])) != 0 ||
        (rc = mdb_cursor_open(c->wtxn, c->by_holder, &c->wcur[1])) != 0) {
        mdb_txn_abort(c->wtxn); /* frees its cursors */
        c->wtxn = NULL;
        return lmdb_err(ei, rc, "begin", c->path);
    }
    return CERTA_OK;
}

bool certa_cold_writing(const certa_cold *c) { return c->wtxn != NULL; }

certa_err certa_cold_put_event(certa_cold *c, uint64_t seq,
                               const uint8_t rec[COLD_EVENT_BYTES],
                               const uint8_t *holder_id, const uint8_t *grant_id,
                               certa_errinfo *ei)
{
    CERTA_ASSERT(c->wtxn != NULL);
    uint8_t kb[8];
    be64(kb, seq);
    MDB_val k = {8, kb}, v = {COLD_EVENT_BYTES, (void *)rec}, s = {8, kb};
    /* sequence numbers only grow: append at the right edge, pages full */
    int rc = mdb_put(c->wtxn, c->events, &k, &v, MDB_APPEND);
    if (rc == 0 && holder_id != NULL) {
        MDB_val hk = {CERTA_HOLDER_ID_BYTES, (void *)holder_id};
        rc = mdb_put(c->wtxn, c->by_holder, &hk, &s, 0);
    }
    if (rc == 0 && grant_id != NULL) {
        MDB_val gk = {CERTA_GRANT_ID_BYTES, (void *)grant_id};
        rc = mdb_put(c->wtxn, c->by_grant, &gk, &s, 0);
    }
    return rc == 0 ? CERTA_OK : lmdb_err(ei, rc, "put event", c->path);
}

certa_err certa_cold_put_list(certa_cold *c, bool by_holder, const uint8_t *key, uint64_t seq,
                              certa_errinfo *ei)
{
    CERTA_ASSERT(c->wtxn != NULL);
    uint8_t sb[8];
    be64(sb, seq);
    MDB_val k = {by_holder ? CERTA_HOLDER_ID_BYTES : CERTA_GRANT_ID_BYTES, (void *)key};
    MDB_val v = {8, sb};
    int rc = mdb_cursor_put(c->wcur[by_holder], &k, &v, 0);
    return rc == 0 ? CERTA_OK : lmdb_err(ei, rc, "put list", c->path);
}

certa_err certa_cold_put_grant(certa_cold *c, const uint8_t grant_id[CERTA_GRANT_ID_BYTES],
                               const uint8_t *rec, size_t len, certa_errinfo *ei)
{
    CERTA_ASSERT(c->wtxn != NULL && len <= COLD_GRANT_BYTES_MAX);
    MDB_val k = {CERTA_GRANT_ID_BYTES, (void *)grant_id}, v = {len, (void *)rec};
    int rc = mdb_put(c->wtxn, c->grants, &k, &v, MDB_NOOVERWRITE);
    return rc == 0 ? CERTA_OK : lmdb_err(ei, rc, "put grant", c->path);
}

certa_err certa_cold_commit(certa_cold *c, const certa_cold_meta *m, certa_errinfo *ei)
{
    CERTA_ASSERT(c->wtxn != NULL);
    CERTA_ASSERT(m->height >= c->m.height && m->events >= c->m.events);
    uint8_t b[META_BYTES];
    be64(b, m->height);
    be64(b + 8, m->events);
    be64(b + 16, m->archived);
    memcpy(b + 24, m->root, CERTA_HASH_BYTES);
    MDB_val k = {5, "state"}, v = {sizeof b, b};
    int rc = mdb_put(c->wtxn, c->meta, &k, &v, 0);
    if (rc != 0) {
        certa_cold_abort(c);
        return lmdb_err(ei, rc, "put meta", c->path);
    }
    rc = mdb_txn_commit(c->wtxn);
    c->wtxn = NULL;
    if (rc != 0)
        return lmdb_err(ei, rc, "commit", c->path);
    c->m = *m;
    return CERTA_OK;
}

void certa_cold_abort(certa_cold *c)
{
    if (c->wtxn != NULL)
        mdb_txn_abort(c->wtxn);
    c->wtxn = NULL;
}

/* ---------------------------------------------------------------- reading */

static MDB_txn *rtxn(certa_cold *c)
{
    if (c->wtxn != NULL)
        return c->wtxn; /* inside a write: it sees its own puts */
    if (c->rtxn_live)
        return c->rtxn;
    int rc = c->rtxn == NULL ? mdb_txn_begin(c->env, NULL, MDB_RDONLY, &c->rtxn)
                             : mdb_txn_renew(c->rtxn);
    if (rc != 0) {
        c->rtxn = NULL;
        return NULL;
    }
    c->rtxn_live = true;
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
    MDB_txn *t = rtxn(c);
    if (t == NULL)
        return CERTA_E_IO;
    uint8_t kb[8];
    be64(kb, seq);
    MDB_val k = {8, kb}, v;
    int rc = mdb_get(t, c->events, &k, &v);
    if (rc == MDB_NOTFOUND)
        return CERTA_E_NOTFOUND;
    if (rc != 0 || v.mv_size != COLD_EVENT_BYTES)
        return CERTA_E_IO;
    memcpy(rec, v.mv_data, COLD_EVENT_BYTES);
    return CERTA_OK;
}

certa_err certa_cold_list(certa_cold *c, bool by_holder, const uint8_t *key, uint64_t from,
                          bool must_have_from, uint64_t seq_end, uint64_t *seqs,
                          uint32_t limit, uint32_t *n, uint64_t *next)
{
    *n = 0;
    *next = UINT64_MAX;
    MDB_txn *t = rtxn(c);
    if (t == NULL)
        return CERTA_E_IO;
    MDB_cursor *cur;
    if (mdb_cursor_open(t, by_holder ? c->by_holder : c->by_grant, &cur) != 0)
        return CERTA_E_IO;
    uint8_t fb[8];
    be64(fb, from);
    MDB_val k = {by_holder ? CERTA_HOLDER_ID_BYTES : CERTA_GRANT_ID_BYTES, (void *)key};
    MDB_val v = {8, fb};
    certa_err e = CERTA_OK;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
    if (rc == MDB_NOTFOUND) {
        e = CERTA_E_NOTFOUND;
        goto out;
    }
    /* the first record is below seq_end: a list whose first record a
     * replay has not reached yet is not there yet */
    if (rc != 0 || v.mv_size != 8) {
        e = CERTA_E_IO;
        goto out;
    }
    if (get_be64(v.mv_data) >= seq_end) {
        e = CERTA_E_NOTFOUND;
        goto out;
    }
    v = (MDB_val){8, fb};
    rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH_RANGE);
    if (rc == 0 && must_have_from && get_be64(v.mv_data) != from)
        rc = MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND) {
        e = must_have_from ? CERTA_E_ARG : CERTA_OK;
        goto out;
    }
    while (rc == 0) {
        uint64_t q = get_be64(v.mv_data);
        if (q >= seq_end)
            break;
        if (*n == limit) {
            *next = q;
            break;
        }
        seqs[(*n)++] = q;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        e = CERTA_E_IO;
out:
    mdb_cursor_close(cur);
    return e;
}
