/* certa merkle tiles: the event log over the whole chain (cmd_merkle_log.c)
 * published in the C2SP tlog-tiles layout, as static files any HTTP server,
 * cache or CDN can serve and any tiles client can verify against a signed
 * checkpoint (docs/PROTOCOL.md "Tiles"):
 *
 *   tile/<L>/<N>[.p/<W>]        hashes: level 0 the leaf hashes, level L+1
 *                               the roots of level L's full tiles
 *   tile/entries/<N>[.p/<W>]    the leaves themselves, each u16 BE length || bytes
 *   checkpoint                  the signed checkpoint the tiles are for
 *
 * Invariants: every file is written whole to a temporary name and renamed,
 * so a reader never sees a torn file; no path is ever given other bytes (a
 * partial tile of width W is another path than the full tile), so all of
 * them are immutable for caches; the checkpoint is replaced last, after one
 * syncfs made every tile it needs durable, and only after its root was
 * recomputed here from the chain's own leaves. A run resumes where the last
 * one stopped (the size and compact range in .certa-tiles, written after
 * that syncfs; the partial tiles reread): leaves already published are
 * walked but not hashed again, and every file past that size is written
 * again, so one a crash left torn is mended by the next run. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certa/codec.h"
#include "certa/merkle.h"
#include "checkpoint_note.h"
#include "cli.h"

#define CMD "merkle"
#define TILE_W 256u    /* hashes per full tile: tile height 8 */
#define LEVELS 8       /* 8 levels of 8 bits cover a 64-bit size */
#define ENTRY_MAX (CERTA_LEAF_PREFIX_BYTES + CERTA_EVENT_BYTES_MAX)
#define STATE_MAGIC "certa-tiles 1\n"
#define STATE_FILE ".certa-tiles"
#define PATH_BYTES 1024 /* --out is at most 512 bytes: every tile path fits */

typedef struct tiles {
    const char *out;
    uint64_t start; /* leaves published by an earlier run */
    uint64_t stop;  /* publish the first stop leaves (UINT64_MAX: all) */
    uint64_t size;  /* leaves taken so far */
    certa_merkle_frontier f;
    /* the open (not yet full) tile of each level; level L holds
     * (size >> 8L) & 255 hashes */
    uint8_t open[LEVELS][TILE_W][CERTA_HASH_BYTES];
    uint8_t entries[TILE_W * (2 + ENTRY_MAX)]; /* the open entry bundle */
    size_t entries_len;
    uint64_t files; /* written by this run */
} tiles;

/* out/tile/<level or "entries">/<n>[.p/<w>]; w == TILE_W is a full tile. */
static void tile_path(const tiles *t, int level, uint64_t n, unsigned w, char *out,
                      size_t cap)
{
    char idx[64];
    certa_tile_index_path(n, idx, sizeof idx);
    char lv[16];
    if (level < 0)
        snprintf(lv, sizeof lv, "entries");
    else
        snprintf(lv, sizeof lv, "%d", level);
    if (w == TILE_W)
        snprintf(out, cap, "%s/tile/%s/%s", t->out, lv, idx);
    else
        snprintf(out, cap, "%s/tile/%s/%s.p/%u", t->out, lv, idx, w);
}

static bool mkdirs(char *path, char *err, size_t err_len)
{
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        bool ok = mkdir(path, 0755) == 0 || errno == EEXIST;
        if (!ok)
            snprintf(err, err_len, "%s: %s", path, strerror(errno));
        *p = '/';
        if (!ok)
            return false;
    }
    return true;
}

/* Writes path whole (temporary name, rename); durable: fsync before the
 * rename (the state and the checkpoint; tiles are made durable together
 * by one syncfs before those). */
static bool put_file(tiles *t, const char *path, const void *data, size_t len, bool durable,
                     char *err, size_t err_len)
{
    char tmp[PATH_BYTES + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!mkdirs(tmp, err, err_len))
        return false;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0;
    for (size_t off = 0; ok && off < len;) {
        ssize_t n = write(fd, (const uint8_t *)data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        off += ok ? (size_t)n : 0;
    }
    ok = ok && (!durable || fsync(fd) == 0);
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    ok = ok && rename(tmp, path) == 0;
    if (!ok) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return false;
    }
    t->files++;
    return true;
}

/* The root of a full tile's 256 hashes: the perfect subtree they span. */
static void tile_root(const uint8_t (*h)[CERTA_HASH_BYTES], uint8_t out[CERTA_HASH_BYTES])
{
    certa_merkle_frontier f;
    certa_merkle_frontier_init(&f);
    certa_merkle_frontier_append(&f, h[0], TILE_W);
    certa_merkle_frontier_root(&f, out);
}

/* Appends one hash at level (count before it: `before`), writing every
 * tile it fills and carrying the tile's root up a level. */
static bool push_hash(tiles *t, int level, uint64_t before, const uint8_t h[CERTA_HASH_BYTES],
                      char *err, size_t err_len)
{
    CERTA_ASSERT(level < LEVELS);
    memcpy(t->open[level][before % TILE_W], h, CERTA_HASH_BYTES);
    if ((before + 1) % TILE_W != 0)
        return true;
    char path[PATH_BYTES];
    uint64_t n = before / TILE_W;
    tile_path(t, level, n, TILE_W, path, sizeof path);
    if (!put_file(t, path, t->open[level], sizeof t->open[level], false, err, err_len))
        return false;
    uint8_t root[CERTA_HASH_BYTES];
    tile_root((const uint8_t (*)[CERTA_HASH_BYTES])t->open[level], root);
    return level + 1 < LEVELS ? push_hash(t, level + 1, n, root, err, err_len) : true;
}

static bool on_leaf(void *ctx, uint64_t index, const uint8_t *leaf, size_t len, char *err,
                    size_t err_len)
{
    tiles *t = ctx;
    if (index < t->start || index >= t->stop)
        return true;
    CERTA_ASSERT(index == t->size && len <= ENTRY_MAX);
    uint8_t h[CERTA_HASH_BYTES];
    certa_merkle_leaf_hash(leaf, len, h);
    certa_merkle_frontier_append(&t->f, h, 1);
    t->entries[t->entries_len] = (uint8_t)(len >> 8); /* big-endian u16 (tlog-tiles) */
    t->entries[t->entries_len + 1] = (uint8_t)len;
    memcpy(t->entries + t->entries_len + 2, leaf, len);
    t->entries_len += 2 + len;
    if ((index + 1) % TILE_W == 0) {
        char path[PATH_BYTES];
        tile_path(t, -1, index / TILE_W, TILE_W, path, sizeof path);
        if (!put_file(t, path, t->entries, t->entries_len, false, err, err_len))
            return false;
        t->entries_len = 0;
    }
    t->size++;
    return push_hash(t, 0, index, h, err, err_len);
}

/* The partial tiles of size t->size at every level, and its entries. */
static bool put_partials(tiles *t, char *err, size_t err_len)
{
    char path[PATH_BYTES];
    unsigned w0 = (unsigned)(t->size % TILE_W);
    if (w0 > 0) {
        tile_path(t, -1, t->size / TILE_W, w0, path, sizeof path);
        if (!put_file(t, path, t->entries, t->entries_len, false, err, err_len))
            return false;
    }
    for (int l = 0; l < LEVELS; l++) {
        uint64_t count = t->size >> (8 * l);
        unsigned w = (unsigned)(count % TILE_W);
        if (count == 0)
            break;
        if (w == 0)
            continue;
        tile_path(t, l, count / TILE_W, w, path, sizeof path);
        if (!put_file(t, path, t->open[l], (size_t)w * CERTA_HASH_BYTES, false, err, err_len))
            return false;
    }
    return true;
}

static bool read_exact(const char *path, void *buf, size_t want, size_t *got_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t got = 0;
    while (got < want) {
        ssize_t n = read(fd, (uint8_t *)buf + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    uint8_t extra;
    bool more = read(fd, &extra, 1) == 1;
    close(fd);
    if (got_out != NULL) {
        *got_out = got;
        return !more;
    }
    return got == want && !more;
}

/* Resumes from the last run: its size and compact range, and the open
 * tiles reread from its partial files. */
static bool load_state(tiles *t, char *err, size_t err_len)
{
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/%s", t->out, STATE_FILE);
    uint8_t buf[sizeof STATE_MAGIC - 1 + sizeof t->f];
    size_t got = 0;
    if (access(path, F_OK) != 0)
        return true; /* a new directory */
    if (!read_exact(path, buf, sizeof buf, &got) || got != sizeof buf ||
        memcmp(buf, STATE_MAGIC, sizeof STATE_MAGIC - 1) != 0) {
        snprintf(err, err_len, "%s: not a tiles state file (remove the directory to "
                 "publish it again from the chain)", path);
        return false;
    }
    memcpy(&t->f, buf + sizeof STATE_MAGIC - 1, sizeof t->f);
    t->start = t->size = t->f.size;
    unsigned w0 = (unsigned)(t->size % TILE_W);
    if (w0 > 0) {
        tile_path(t, -1, t->size / TILE_W, w0, path, sizeof path);
        if (!read_exact(path, t->entries, sizeof t->entries, &t->entries_len)) {
            snprintf(err, err_len, "%s: missing or too long (remove the directory to "
                     "publish it again)", path);
            return false;
        }
    }
    for (int l = 0; l < LEVELS; l++) {
        uint64_t count = t->size >> (8 * l);
        unsigned w = (unsigned)(count % TILE_W);
        if (count == 0)
            break;
        if (w == 0)
            continue;
        tile_path(t, l, count / TILE_W, w, path, sizeof path);
        if (!read_exact(path, t->open[l], (size_t)w * CERTA_HASH_BYTES, NULL)) {
            snprintf(err, err_len, "%s: missing or of the wrong length (remove the "
                     "directory to publish it again)", path);
            return false;
        }
    }
    /* the open entry bundle must hold exactly the open level-0 tile's leaves */
    size_t pos = 0, len = 0;
    const uint8_t *leaf = NULL;
    for (unsigned i = 0; i < w0; i++) {
        uint8_t h[CERTA_HASH_BYTES];
        bool ok = certa_bundle_next(t->entries, t->entries_len, &pos, &leaf, &len);
        if (ok)
            certa_merkle_leaf_hash(leaf, len, h);
        if (!ok || memcmp(h, t->open[0][i], CERTA_HASH_BYTES) != 0) {
            tile_path(t, -1, t->size / TILE_W, w0, path, sizeof path);
            snprintf(err, err_len, "%s: leaf %u is not the one its tile names (remove the "
                     "directory to publish it again)", path, i);
            return false;
        }
    }
    if (pos != t->entries_len) {
        tile_path(t, -1, t->size / TILE_W, w0, path, sizeof path);
        snprintf(err, err_len, "%s: bytes after its %u leaves (remove the directory to "
                 "publish it again)", path, w0);
        return false;
    }
    return true;
}

/* Every tile written so far on disk, before the state and checkpoint that
 * point at them. */
static bool sync_tiles(tiles *t, char *err, size_t err_len)
{
    int fd = open(t->out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool ok = fd >= 0 && syncfs(fd) == 0;
    if (!ok)
        snprintf(err, err_len, "%s: %s", t->out, strerror(errno));
    if (fd >= 0)
        close(fd);
    return ok;
}

static bool save_state(tiles *t, char *err, size_t err_len)
{
    uint8_t buf[sizeof STATE_MAGIC - 1 + sizeof t->f];
    memcpy(buf, STATE_MAGIC, sizeof STATE_MAGIC - 1);
    memcpy(buf + sizeof STATE_MAGIC - 1, &t->f, sizeof t->f);
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/%s", t->out, STATE_FILE);
    return put_file(t, path, buf, sizeof buf, true, err, err_len);
}

int certa_cmd_merkle_tiles(int argc, char **argv)
{
    const char *data = NULL, *out = NULL, *cp_path = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--checkpoint") == 0 && i + 1 < argc)
            cp_path = argv[++i];
        else
            return certa_usage_error(CMD, "tiles: unexpected argument '%s'", argv[i]);
    }
    if (data == NULL || out == NULL)
        return certa_usage_error(CMD, "tiles needs --data DIR and --out TILES_DIR");
    if (strlen(out) > 512)
        return certa_usage_error(CMD, "tiles: --out: at most 512 bytes");
    static tiles t;
    memset(&t, 0, sizeof t);
    t.out = out;
    t.stop = UINT64_MAX;
    certa_merkle_frontier_init(&t.f);
    char err[PATH_BYTES + 256] = "";
    certa_note note;
    char *cp_text = NULL;
    size_t cp_len = 0;
    if (cp_path != NULL) {
        cp_text = certa_read_file(cp_path, 64 * 1024, &cp_len);
        if (cp_text == NULL)
            return certa_fail(CMD, "%s: %s", cp_path, strerror(errno));
        if (!certa_note_parse(cp_text, cp_len, &note, err, sizeof err)) {
            free(cp_text);
            return certa_fail(CMD, "%s: %s", cp_path, err);
        }
        t.stop = note.size;
    }
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        free(cp_text);
        return certa_fail(CMD, "%s: %s", out, strerror(errno));
    }
    if (!load_state(&t, err, sizeof err)) {
        free(cp_text);
        return certa_fail(CMD, "%s", err);
    }
    if (t.stop < t.start) {
        free(cp_text);
        return certa_fail(CMD, "%s: the checkpoint's size %llu is below the %llu leaves "
                          "already published in %s", cp_path, (unsigned long long)t.stop,
                          (unsigned long long)t.start, out);
    }
    int rc = certa_merkle_log_each(data, on_leaf, &t);
    if (rc != CERTA_EXIT_OK) {
        free(cp_text);
        return rc;
    }
    uint8_t root[CERTA_HASH_BYTES];
    certa_merkle_frontier_root(&t.f, root);
    if (cp_path != NULL && (t.size != note.size || memcmp(root, note.root, sizeof root) != 0)) {
        free(cp_text);
        certa_fail(CMD, t.size != note.size
                                   ? "%s: the checkpoint is for %llu leaves, the log of %s "
                                     "has %llu"
                                   : "%s: the checkpoint's root for %llu leaves is not the "
                                     "root of %s's log (%llu leaves): nothing published",
                          cp_path, (unsigned long long)note.size, data,
                          (unsigned long long)t.size);
        return CERTA_EXIT_FAIL;
    }
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/checkpoint", out);
    bool ok = put_partials(&t, err, sizeof err) && sync_tiles(&t, err, sizeof err) &&
              save_state(&t, err, sizeof err) &&
              (cp_path == NULL || put_file(&t, path, cp_text, cp_len, true, err, sizeof err));
    free(cp_text);
    if (!ok)
        return certa_fail(CMD, "%s", err);
    char hex[2 * CERTA_HASH_BYTES + 1];
    certa_hex_encode(root, sizeof root, hex);
    printf("tiles: log_size %llu log_root %s (%llu new leaves, %llu files written)%s\n",
           (unsigned long long)t.size, hex, (unsigned long long)(t.size - t.start),
           (unsigned long long)t.files, cp_path != NULL ? ", checkpoint installed" : "");
    return CERTA_EXIT_OK;
}
