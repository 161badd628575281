/* certa merkle log: the one RFC 6962 tree over every event of a data
 * directory's chain (docs/PROTOCOL.md "The event log over the whole
 * chain"): leaf number global_seq is the event's leaf (u16 integrator ||
 * u64 batch seq || event bytes), blocks in height order, events in block
 * order. Prints the log's size and root after each block, computed
 * incrementally (certa_merkle_frontier: a block costs about one node hash
 * per event, whatever the chain's length), or with --leaves every leaf in
 * hex, one per line, which `certa merkle prove` and `certa merkle
 * consistency` take to prove inclusion at any size and consistency between
 * any two sizes (the first N lines are the log of size N).
 * Invariant: blocks come from the store's one sequential, checksummed pass
 * in height order; a block that does not decode stops the pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "certa/block.h"
#include "certa/codec.h"
#include "certa/merkle.h"
#include "certa/store.h"
#include "cli.h"

#define CMD "merkle"

typedef struct log_walk {
    bool leaves;                /* print leaves, not roots */
    bool quiet;                 /* print nothing: a checkpoint's walk */
    uint64_t at_size;           /* quiet: keep the root when the log has this size */
    bool at_found;
    uint8_t at_root[CERTA_HASH_BYTES];
    certa_merkle_frontier f;
    certa_log_leaf_fn each;     /* set: hand every leaf to it, nothing else */
    void *each_ctx;
    uint64_t index;             /* each: the next leaf's number */
    uint8_t (*hashes)[CERTA_HASH_BYTES]; /* one block's leaf hashes */
    size_t cap;
    char err[512];
} log_walk;

/* Feeds one batch's events: prints their leaves, or appends their leaf
 * hashes to w->hashes[*n..]. False when out of memory. */
static bool batch_leaves(log_walk *w, const certa_batch_view *bv, size_t *n)
{
    size_t pos = 0;
    const uint8_t *ev;
    size_t ev_len;
    while (certa_batch_next(bv, &pos, &ev, &ev_len)) {
        uint8_t leaf[CERTA_LEAF_PREFIX_BYTES + CERTA_EVENT_BYTES_MAX];
        size_t ll = certa_leaf_encode(bv->integrator, bv->seq, ev, ev_len, leaf, sizeof leaf);
        if (ll == 0)
            continue; /* longer than an event: certa_batch_frame refuses it first */
        if (w->each != NULL) {
            if (!w->each(w->each_ctx, w->index++, leaf, ll, w->err, sizeof w->err))
                return false;
            continue;
        }
        if (w->leaves) {
            char hex[2 * sizeof leaf + 1];
            certa_hex_encode(leaf, ll, hex);
            puts(hex);
            continue;
        }
        if (*n == w->cap) {
            size_t cap = w->cap ? 2 * w->cap : 4096;
            void *p = realloc(w->hashes, cap * CERTA_HASH_BYTES);
            if (p == NULL)
                return false;
            w->hashes = p;
            w->cap = cap;
        }
        certa_merkle_leaf_hash(leaf, ll, w->hashes[(*n)++]);
    }
    return true;
}

static bool on_block(void *ctx, uint64_t height, const uint8_t *data, size_t len)
{
    log_walk *w = ctx;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_block blk;
    certa_block_header h;
    bool rec = certa_block_is_record(data, len);
    if (rec ? certa_block_decode(data, len, &blk, &ei) != CERTA_OK
            : certa_block_decode_header(data, len, &h, &ei) != CERTA_OK) {
        snprintf(w->err, sizeof w->err, "block %llu does not decode: %s",
                 (unsigned long long)height, certa_errmsg(&ei));
        return false;
    }
    if (rec)
        h = blk.hdr;
    size_t n = 0, pos = CERTA_HEADER_BYTES, lpos = 0;
    for (;;) {
        certa_batch_view bv;
        certa_err e;
        if (rec) {
            certa_block_batch req;
            if (!certa_block_next(&blk, &lpos, &req))
                break;
            e = certa_batch_frame(req.bytes, req.len, &bv, &ei);
        } else {
            e = certa_block_next_batch_frame(data, len, &pos, &bv, &ei);
            if (e == CERTA_E_NOTFOUND)
                break;
        }
        if (e != CERTA_OK) {
            snprintf(w->err, sizeof w->err, "block %llu: %s", (unsigned long long)height,
                     certa_errmsg(&ei));
            return false;
        }
        if (!batch_leaves(w, &bv, &n)) {
            if (w->err[0] == '\0')
                snprintf(w->err, sizeof w->err, "out of memory at block %llu",
                         (unsigned long long)height);
            return false;
        }
    }
    if (w->leaves || w->each != NULL)
        return true;
    certa_merkle_frontier_append(&w->f, w->hashes ? w->hashes[0] : NULL, n);
    uint8_t root[CERTA_HASH_BYTES];
    char hex[2 * CERTA_HASH_BYTES + 1];
    certa_merkle_frontier_root(&w->f, root);
    if (w->quiet) {
        if (w->f.size == w->at_size || w->at_size == UINT64_MAX) {
            w->at_found = w->f.size == w->at_size;
            memcpy(w->at_root, root, CERTA_HASH_BYTES);
        }
        return true;
    }
    certa_hex_encode(root, CERTA_HASH_BYTES, hex);
    printf("height %llu events %zu log_size %llu log_root %s\n", (unsigned long long)h.height,
           n, (unsigned long long)w->f.size, hex);
    return true;
}

/* Walks data's log: with print, the per-block lines (or leaves); else only
 * the root at size at_size (UINT64_MAX: the last block's), into *size and
 * root. Returns a CERTA_EXIT_ code; failures are printed. */
static int walk_log(const char *data, bool print, bool leaves, uint64_t at_size,
                    uint64_t *size, uint8_t root[CERTA_HASH_BYTES], certa_log_leaf_fn each,
                    void *each_ctx)
{
    char dir[4096];
    struct stat st;
    snprintf(dir, sizeof dir, "%s/blocks", data);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        snprintf(dir, sizeof dir, "%s", data);
    static log_walk w;
    memset(&w, 0, sizeof w);
    w.leaves = leaves;
    w.quiet = !print;
    w.at_size = at_size;
    w.each = each;
    w.each_ctx = each_ctx;
    certa_merkle_frontier_init(&w.f);
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    o.read_only = true;
    o.on_open_block = on_block;
    o.on_open_block_ctx = &w;
    certa_store *s = NULL;
    certa_store_recovery rep;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e = certa_store_open(&o, &s, &rep, &ei);
    certa_store_close(s);
    free(w.hashes);
    if (w.err[0] != '\0')
        return certa_fail(CMD, "%s: %s", data, w.err);
    if (e != CERTA_OK)
        return certa_fail(CMD, "%s: %s", data, certa_errmsg(&ei));
    if (rep.damaged)
        return certa_fail(CMD, "%s: height %llu: %s", data,
                          (unsigned long long)rep.damage_height, rep.damage_msg);
    if (!print) {
        if (at_size == UINT64_MAX) {
            *size = w.f.size;
            if (w.f.size == 0)
                certa_merkle_frontier_root(&w.f, w.at_root);
        } else if (!w.at_found) {
            return certa_fail(CMD, "%s: the log is never %llu events long at a block's end "
                              "(it is %llu)", data, (unsigned long long)at_size,
                              (unsigned long long)w.f.size);
        } else {
            *size = at_size;
        }
        memcpy(root, w.at_root, CERTA_HASH_BYTES);
    }
    return CERTA_EXIT_OK;
}

int certa_merkle_log_root(const char *data, uint64_t at_size, uint64_t *size,
                          uint8_t root[CERTA_HASH_BYTES])
{
    return walk_log(data, false, false, at_size, size, root, NULL, NULL);
}

int certa_merkle_log_each(const char *data, certa_log_leaf_fn each, void *ctx)
{
    uint64_t size;
    uint8_t root[CERTA_HASH_BYTES];
    return walk_log(data, false, false, UINT64_MAX, &size, root, each, ctx);
}

int certa_cmd_merkle_log(int argc, char **argv)
{
    const char *data = NULL;
    bool leaves = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--leaves") == 0)
            leaves = true;
        else
            return certa_usage_error(CMD, "log: unexpected argument '%s'", argv[i]);
    }
    if (data == NULL)
        return certa_usage_error(CMD, "log needs --data DIR");
    return walk_log(data, true, leaves, 0, NULL, NULL, NULL, NULL);
}
