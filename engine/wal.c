/* wal: the consensus write-ahead log (see wal.h for the contract).
 *
 * On disk: dir/wal.gen holds the current generation number as text;
 * dir/wal-N/ is a block log whose record i is
 *     u8 kind || u64 height || u64 view || the core's record bytes.
 * Invariants: the in-memory live list equals the log's records minus those
 * garbage-collected since the last compaction; a generation named by
 * wal.gen is always complete and durable.
 */
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certa/store.h"
#include "certa/wire.h"

#define WAL_META_BYTES 17u
#define WAL_PATH_BYTES 4200u

typedef struct wal_rec {
    uint8_t kind;
    uint64_t height;
    uint64_t view;
    uint8_t *bytes; /* the core's record (after the metadata) */
    size_t len;
} wal_rec;

struct certa_wal {
    char dir[WAL_PATH_BYTES];
    uint64_t gen;
    certa_store *st;
    uint64_t last; /* last appended height in st; 0 none */
    bool dirty;
    wal_rec *recs;
    size_t nrecs, cap;
    uint64_t live_bytes;
    uint64_t since_compact;
    uint64_t compact_min;
    uint64_t compactions;
    uint8_t *scratch;
    size_t scratch_cap;
};

static void gen_dir(const certa_wal *w, uint64_t gen, char *out, size_t cap)
{
    CERTA_ASSERT(w != NULL && out != NULL && cap > 0);
    int n = snprintf(out, cap, "%s/wal-%llu", w->dir, (unsigned long long)gen);
    CERTA_ASSERT(n > 0 && (size_t)n < cap); /* cap leaves room past dir */
}

static certa_err fsync_dir(const char *dir, certa_errinfo *ei)
{
    CERTA_ASSERT(dir != NULL && dir[0] != '\0');
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return certa_errorf(ei, CERTA_E_IO, "fsync %s: %s", dir, strerror(e));
    }
    close(fd);
    CERTA_ASSERT(fd >= 0);
    return CERTA_OK;
}

static certa_err write_gen(certa_wal *w, uint64_t gen, certa_errinfo *ei)
{
    CERTA_ASSERT(w != NULL && w->dir[0] != '\0');
    CERTA_ASSERT(gen >= w->gen); /* generations only move forward */
    char tmp[WAL_PATH_BYTES + 16], path[WAL_PATH_BYTES + 16];
    snprintf(tmp, sizeof tmp, "%s/wal.gen.tmp", w->dir);
    snprintf(path, sizeof path, "%s/wal.gen", w->dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return certa_errorf(ei, CERTA_E_IO, "%s: %s", tmp, strerror(errno));
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%llu\n", (unsigned long long)gen);
    CERTA_ASSERT(n > 1 && (size_t)n < sizeof buf);
    bool ok = write(fd, buf, (size_t)n) == n && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok || rename(tmp, path) != 0)
        return certa_errorf(ei, CERTA_E_IO, "%s: %s", path, strerror(ok ? errno : e));
    return fsync_dir(w->dir, ei);
}

static uint64_t read_gen(const certa_wal *w)
{
    CERTA_ASSERT(w != NULL && w->dir[0] != '\0');
    char path[WAL_PATH_BYTES + 16];
    snprintf(path, sizeof path, "%s/wal.gen", w->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    unsigned long long g = 0;
    if (fscanf(f, "%llu", &g) != 1)
        g = 0;
    fclose(f);
    return g;
}

static void remove_tree(const char *path)
{
    CERTA_ASSERT(path != NULL && path[0] != '\0');
    CERTA_ASSERT(strstr(path, "/wal-") != NULL); /* only a WAL generation */
    DIR *d = opendir(path);
    if (d == NULL)
        return;
    struct dirent *de;
    char p[WAL_PATH_BYTES + 300];
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", path, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(path);
}

/* Removes wal-N directories other than the current generation. */
static void remove_stale(const certa_wal *w)
{
    CERTA_ASSERT(w != NULL && w->st == NULL); /* at open, before the log */
    CERTA_ASSERT(w->dir[0] != '\0');
    DIR *d = opendir(w->dir);
    if (d == NULL)
        return;
    struct dirent *de;
    char keep[64], p[WAL_PATH_BYTES + 300];
    snprintf(keep, sizeof keep, "wal-%llu", (unsigned long long)w->gen);
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "wal-", 4) != 0 || strcmp(de->d_name, keep) == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", w->dir, de->d_name);
        remove_tree(p);
    }
    closedir(d);
}

static certa_err open_gen(certa_wal *w, uint64_t gen, certa_store **out,
                          certa_errinfo *ei)
{
    CERTA_ASSERT(w != NULL && out != NULL);
    CERTA_ASSERT(gen == w->gen || gen == w->gen + 1); /* current or next */
    char path[WAL_PATH_BYTES + 32];
    gen_dir(w, gen, path, sizeof path);
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = path;
    o.create = true;
    o.first_height = 1;
    /* Large segments and a spare allocated (not zero-filled) in the
     * background: a WAL's flushes are small, and a zero fill would double
     * its disk writes and slow the fsyncs consensus waits for. */
    o.segment_bytes = 256ull * 1024 * 1024;
    o.group_bytes = 64u * 1024 * 1024 + 64 * 1024; /* largest record: a view change */
    o.spare_segment = 1;
    o.prewrite = 2;
    return certa_store_open(&o, out, NULL, ei);
}

static certa_err push_rec(certa_wal *w, uint8_t kind, uint64_t height, uint64_t view,
                          const uint8_t *bytes, size_t len)
{
    CERTA_ASSERT(w != NULL && (bytes != NULL || len == 0));
    CERTA_ASSERT(w->nrecs <= w->cap);
    if (w->nrecs == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        wal_rec *r = realloc(w->recs, cap * sizeof *r);
        if (r == NULL)
            return CERTA_E_NOMEM;
        w->recs = r;
        w->cap = cap;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return CERTA_E_NOMEM;
    memcpy(copy, bytes, len);
    w->recs[w->nrecs++] = (wal_rec){kind, height, view, copy, len};
    w->live_bytes += len;
    CERTA_ASSERT(w->nrecs <= w->cap && w->live_bytes >= len);
    return CERTA_OK;
}

static bool load_fn(void *ctx, uint64_t height, const uint8_t *data, size_t len)
{
    certa_wal *w = ctx;
    CERTA_ASSERT(w != NULL && (data != NULL || len == 0));
    /* the scan hands the log's records in order, one per height */
    CERTA_ASSERT(height >= 1);
    if (len < WAL_META_BYTES)
        return false;
    return push_rec(w, data[0], certa_get_le64(data + 1), certa_get_le64(data + 9), data + WAL_META_BYTES,
                    len - WAL_META_BYTES) == CERTA_OK;
}

certa_err certa_wal_open(const char *dir, uint64_t compact_min_bytes, certa_wal **out,
                         certa_errinfo *ei)
{
    CERTA_ASSERT(dir != NULL && out != NULL);
    certa_wal *w = calloc(1, sizeof *w);
    if (w == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "allocating the WAL");
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    /* compaction copies the live records and stops the caller while it
     * does: rare is better (about every 25 s at 10 MB/s of proposals) */
    w->compact_min = compact_min_bytes ? compact_min_bytes : 256ull * 1024 * 1024;
    w->gen = read_gen(w);
    remove_stale(w);
    certa_err e = open_gen(w, w->gen, &w->st, ei);
    if (e != CERTA_OK) {
        certa_wal_close(w);
        return e;
    }
    uint64_t first, last;
    if (certa_store_range(w->st, &first, &last)) {
        e = certa_store_scan(w->st, first, last, load_fn, w, ei);
        if (e == CERTA_OK && w->nrecs != last - first + 1)
            e = certa_errorf(ei, CERTA_E_CORRUPT, "WAL %s/wal-%llu: a record is malformed",
                             dir, (unsigned long long)w->gen);
        if (e != CERTA_OK) {
            certa_wal_close(w);
            return e;
        }
        w->last = last;
    }
    CERTA_ASSERT(w->st != NULL && w->nrecs <= w->last);
    *out = w;
    return CERTA_OK;
}

void certa_wal_close(certa_wal *w)
{
    if (w == NULL)
        return;
    CERTA_ASSERT(w->nrecs <= w->cap);
    CERTA_ASSERT(w->recs != NULL || w->nrecs == 0);
    certa_store_close(w->st);
    for (size_t i = 0; i < w->nrecs; i++)
        free(w->recs[i].bytes);
    free(w->recs);
    free(w->scratch);
    free(w);
}

static certa_err store_put(certa_wal *w, certa_store *st, uint64_t height, uint8_t kind,
                           uint64_t h, uint64_t v, const uint8_t *bytes, size_t len,
                           certa_errinfo *ei)
{
    CERTA_ASSERT(w != NULL && st != NULL && (bytes != NULL || len == 0));
    CERTA_ASSERT(height >= 1);
    size_t need = WAL_META_BYTES + len;
    if (need > w->scratch_cap) {
        uint8_t *p = realloc(w->scratch, need);
        if (p == NULL)
            return certa_errorf(ei, CERTA_E_NOMEM, "WAL record of %zu bytes", len);
        w->scratch = p;
        w->scratch_cap = need;
    }
    w->scratch[0] = kind;
    certa_put_le64(w->scratch + 1, h);
    certa_put_le64(w->scratch + 9, v);
    memcpy(w->scratch + WAL_META_BYTES, bytes, len);
    CERTA_ASSERT(need <= w->scratch_cap && w->scratch[0] == kind);
    return certa_store_append(st, height, w->scratch, need, ei);
}

certa_err certa_wal_append(certa_wal *w, uint8_t kind, uint64_t height, uint64_t view,
                           const uint8_t *bytes, size_t len, certa_errinfo *ei)
{
    CERTA_ASSERT(w != NULL && bytes != NULL);
    CERTA_ASSERT(w->st != NULL && w->nrecs <= w->last);
    certa_err e = store_put(w, w->st, w->last + 1, kind, height, view, bytes, len, ei);
    if (e != CERTA_OK)
        return e;
    w->last++;
    w->dirty = true;
    w->since_compact += WAL_META_BYTES + len;
    if (push_rec(w, kind, height, view, bytes, len) != CERTA_OK)
        return certa_errorf(ei, CERTA_E_NOMEM, "WAL live copy");
    return CERTA_OK;
}

bool certa_wal_dirty(const certa_wal *w)
{
    CERTA_ASSERT(w != NULL);
    CERTA_ASSERT(!w->dirty || w->last > 0); /* dirty: something appended */
    return w->dirty;
}

static certa_err compact(certa_wal *w, certa_errinfo *ei)
{
    CERTA_ASSERT(w != NULL && w->st != NULL && !w->dirty);
    CERTA_ASSERT(w->nrecs <= w->last);
    certa_store *ns = NULL;
    uint64_t ng = w->gen + 1;
    char path[WAL_PATH_BYTES + 32];
    gen_dir(w, ng, path, sizeof path);
    remove_tree(path); /* a leftover of a compaction that did not finish */
    certa_err e = open_gen(w, ng, &ns, ei);
    if (e != CERTA_OK)
        return e;
    for (size_t i = 0; i < w->nrecs && e == CERTA_OK; i++)
        e = store_put(w, ns, i + 1, w->recs[i].kind, w->recs[i].height, w->recs[i].view,
                      w->recs[i].bytes, w->recs[i].len, ei);
    if (e == CERTA_OK && w->nrecs > 0)
        e = certa_store_wait_durable(ns, w->nrecs, ei);
    if (e == CERTA_OK)
        e = write_gen(w, ng, ei);
    if (e != CERTA_OK) {
        certa_store_close(ns);
        remove_tree(path);
        return e;
    }
    certa_store_close(w->st);
    char old[WAL_PATH_BYTES + 32];
    gen_dir(w, w->gen, old, sizeof old);
    remove_tree(old);
    w->st = ns;
    w->gen = ng;
    w->last = w->nrecs;
    w->since_compact = 0;
    w->compactions++;
    CERTA_ASSERT(w->gen == ng && w->last == w->nrecs);
    return CERTA_OK;
}

certa_err certa_wal_sync(certa_wal *w, certa_errinfo *ei)
{
    CERTA_ASSERT(w != NULL && w->st != NULL);
    if (w->dirty) {
        certa_err e = certa_store_wait_durable(w->st, w->last, ei);
        if (e != CERTA_OK)
            return e;
        w->dirty = false;
    }
    CERTA_ASSERT(!w->dirty);
    uint64_t limit = 4 * w->live_bytes;
    if (limit < w->compact_min)
        limit = w->compact_min;
    if (w->since_compact > limit)
        return compact(w, ei);
    return CERTA_OK;
}

void certa_wal_gc(certa_wal *w, uint64_t height, uint64_t view, uint8_t kind_view_change,
                  uint8_t kind_new_view, uint8_t kind_checkpoint)
{
    CERTA_ASSERT(w != NULL && w->nrecs <= w->cap);
    CERTA_ASSERT(kind_checkpoint != kind_view_change && kind_checkpoint != kind_new_view);
    size_t newest_ck = SIZE_MAX;
    for (size_t i = 0; i < w->nrecs; i++)
        if (w->recs[i].kind == kind_checkpoint)
            newest_ck = i;
    size_t k = 0;
    for (size_t i = 0; i < w->nrecs; i++) {
        wal_rec *r = &w->recs[i];
        bool drop = (r->height != 0 && r->height <= height) ||
                    ((r->kind == kind_view_change || r->kind == kind_new_view) &&
                     r->view < view) ||
                    (r->kind == kind_checkpoint && i != newest_ck);
        if (drop) {
            w->live_bytes -= r->len;
            free(r->bytes);
        } else {
            w->recs[k++] = *r;
        }
    }
    CERTA_ASSERT(k <= w->nrecs);
    w->nrecs = k;
}

size_t certa_wal_count(const certa_wal *w)
{
    CERTA_ASSERT(w != NULL);
    CERTA_ASSERT(w->nrecs <= w->cap);
    return w->nrecs;
}

void certa_wal_record(const certa_wal *w, size_t i, const uint8_t **bytes, size_t *len)
{
    CERTA_ASSERT(w != NULL && bytes != NULL && len != NULL);
    CERTA_ASSERT(i < w->nrecs);
    *bytes = w->recs[i].bytes;
    *len = w->recs[i].len;
}

void certa_wal_get_stats(const certa_wal *w, certa_wal_stats *st)
{
    CERTA_ASSERT(w != NULL && st != NULL);
    CERTA_ASSERT(w->nrecs <= w->cap);
    st->live_records = w->nrecs;
    st->live_bytes = w->live_bytes;
    st->bytes_since_compaction = w->since_compact;
    st->compactions = w->compactions;
    st->generation = w->gen;
}
