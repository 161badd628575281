/* state_data: the state's life on disk. Snapshots at checkpoint heights in
 * one directory (HEIGHT.snap, 20 digits, so names sort as heights), and
 * restore = newest valid snapshot the log covers + replay of the log after
 * it. A snapshot that fails its checks is skipped, never trusted: the next
 * older one (or the genesis) is used and more blocks are replayed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certa/codec.h"
#include "certa/state.h"
#include "certa/store.h"

#define SNAP_NAME_DIGITS 20
#define SNAPS_MAX 4096u

/* Heights of the snapshots in dir, newest first; *n gets the count. */
static certa_err list_snapshots(const char *dir, uint64_t *heights, uint32_t cap,
                                uint32_t *n, certa_errinfo *ei)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return CERTA_OK;
        return certa_errorf(ei, CERTA_E_IO, "open snapshot directory %s: %s", dir,
                            strerror(errno));
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL && *n < cap) {
        const char *nm = de->d_name;
        if (strlen(nm) != SNAP_NAME_DIGITS + 5 || strcmp(nm + SNAP_NAME_DIGITS, ".snap") != 0)
            continue;
        uint64_t h = 0;
        bool digits = true;
        for (int i = 0; i < SNAP_NAME_DIGITS; i++) {
            if (nm[i] < '0' || nm[i] > '9')
                digits = false;
            else
                h = h * 10 + (uint64_t)(nm[i] - '0');
        }
        if (digits)
            heights[(*n)++] = h;
    }
    closedir(d);
    /* newest first (insertion sort: few files) */
    for (uint32_t i = 1; i < *n; i++)
        for (uint32_t j = i; j > 0 && heights[j] > heights[j - 1]; j--) {
            uint64_t t = heights[j];
            heights[j] = heights[j - 1];
            heights[j - 1] = t;
        }
    return CERTA_OK;
}

static void snap_path(char *out, size_t cap, const char *dir, uint64_t h)
{
    snprintf(out, cap, "%s/%0*llu.snap", dir, SNAP_NAME_DIGITS, (unsigned long long)h);
}

certa_err certa_state_checkpoint(certa_state *s, const char *snap_dir,
                                 uint32_t keep, certa_errinfo *ei)
{
    if (keep == 0)
        keep = 1;
    if (mkdir(snap_dir, 0755) != 0 && errno != EEXIST)
        return certa_errorf(ei, CERTA_E_IO, "create %s: %s", snap_dir, strerror(errno));
    char path[4096];
    snap_path(path, sizeof path, snap_dir, certa_state_height(s));
    certa_err e = certa_state_snapshot_save(s, path, ei);
    if (e != CERTA_OK)
        return e;
    uint64_t *hs = malloc(SNAPS_MAX * sizeof *hs);
    if (hs == NULL)
        return CERTA_OK; /* the new snapshot is safe; pruning waits */
    uint32_t n = 0;
    if (list_snapshots(snap_dir, hs, SNAPS_MAX, &n, NULL) == CERTA_OK)
        for (uint32_t i = keep; i < n; i++) {
            snap_path(path, sizeof path, snap_dir, hs[i]);
            unlink(path);
        }
    free(hs);
    return CERTA_OK;
}

typedef struct replay_ctx {
    certa_state *s;
    certa_state_restore_report *rep;
    certa_err err;
    certa_errinfo *ei;
} replay_ctx;

static bool replay_one(void *arg, uint64_t height, const uint8_t *data, size_t len)
{
    replay_ctx *c = arg;
    if (height == 0)
        return true; /* the genesis block carries no events */
    uint8_t root[CERTA_HASH_BYTES];
    uint64_t before = certa_state_event_count(c->s);
    certa_errinfo inner;
    certa_err e = certa_state_apply_block(c->s, data, len, root, &inner);
    if (e != CERTA_OK) {
        c->err = certa_errorf(c->ei, e, "replay of block %llu: %s",
                              (unsigned long long)height, certa_errmsg(&inner));
        return false;
    }
    /* the cold store could not take the block (disk or map full) or
     * disagrees with the chain: replaying further would not write it */
    e = certa_state_cold_status(c->s, &inner);
    if (e != CERTA_OK) {
        c->err = certa_errorf(c->ei, e, "replay of block %llu: %s",
                              (unsigned long long)height, certa_errmsg(&inner));
        return false;
    }
    c->rep->replayed_blocks++;
    c->rep->replayed_events += certa_state_event_count(c->s) - before;
    return true;
}

certa_err certa_state_restore(certa_state *s, const char *snap_dir,
                              struct certa_store *store,
                              certa_state_restore_report *rep, certa_errinfo *ei)
{
    certa_state_restore_report local;
    if (rep == NULL)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    CERTA_ASSERT(certa_state_height(s) == 0);
    uint64_t first = 0, last = 0;
    bool any = certa_store_range(store, &first, &last);

    uint64_t *hs = malloc(SNAPS_MAX * sizeof *hs);
    if (hs == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "restore: out of memory");
    uint32_t n = 0;
    certa_err e = list_snapshots(snap_dir, hs, SNAPS_MAX, &n, ei);
    if (e != CERTA_OK) {
        free(hs);
        return e;
    }
    for (uint32_t i = 0; i < n && !rep->from_snapshot; i++) {
        /* a snapshot past the durable log (written, then the log lost its
         * tail) cannot be continued from */
        if (!any || hs[i] > last) {
            rep->snapshots_skipped++;
            continue;
        }
        char path[4096];
        snap_path(path, sizeof path, snap_dir, hs[i]);
        if (certa_state_snapshot_load(s, path, NULL) == CERTA_OK) {
            rep->from_snapshot = true;
            rep->snapshot_height = certa_state_height(s);
        } else {
            rep->snapshots_skipped++;
        }
    }
    free(hs);
    if (rep->from_snapshot && rep->snapshot_height > last)
        return certa_errorf(ei, CERTA_E_SNAPSHOT,
                            "restore: snapshot in %s holds height %llu, past the log's %llu",
                            snap_dir, (unsigned long long)rep->snapshot_height,
                            (unsigned long long)last);
    if (!any)
        return CERTA_OK;
    uint64_t from = certa_state_height(s) + 1;
    if (from < first)
        return certa_errorf(ei, CERTA_E_NOTFOUND,
                            "restore: state at height %llu but the log starts at %llu",
                            (unsigned long long)(from - 1), (unsigned long long)first);
    if (from > last)
        return CERTA_OK;
    replay_ctx c = {.s = s, .rep = rep, .err = CERTA_OK, .ei = ei};
    e = certa_store_scan(store, from, last, replay_one, &c, ei);
    if (e != CERTA_OK)
        return e;
    return c.err;
}
