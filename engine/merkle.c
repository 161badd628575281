/* merkle: RFC 6962 / RFC 9162 Merkle Tree Hash, proofs and their checks.
 *
 * Root computation is bottom-up: pair neighbours level by level and carry a
 * level's odd last node up unchanged. This gives exactly the RFC's
 * recursive MTH (split at the largest power of two below n) because every
 * RFC subtree is a node of this level structure (node j of level L covers
 * leaves [j*2^L, min((j+1)*2^L, n))). The same fact cuts the leaves into
 * aligned chunks of CERTA_MERKLE_CHUNK_LEAVES (a power of two): each chunk's
 * root is a node of level log2(chunk), so chunks are hashed independently on
 * the pool's workers and their roots reduced afterwards; the result does not
 * depend on how chunks were spread over threads.
 * Memory: one chunk buffer (32 KiB) on each worker's stack, 32 bytes per
 * chunk for the chunk roots (one allocation per call, only when n spans more
 * than one chunk).
 * Proof verification follows RFC 9162 2.1.3.2 and 2.1.4.2 step by step.
 */
#include "certa/merkle.h"

#include <stdlib.h>
#include <string.h>

#include "certa/crypto.h"
#include "merkle_hash.h"

#define CHUNK CERTA_MERKLE_CHUNK_LEAVES
_Static_assert((CHUNK & (CHUNK - 1)) == 0, "chunk must be a power of two");
#define LEVELS_MAX 65

void certa_merkle_leaf_hash(const void *data, size_t len_bytes,
                            uint8_t out[CERTA_HASH_BYTES])
{
    certa_merkle_leaf leaf = {.data = data, .len_bytes = len_bytes};
    certa_mh_src src = {.leaves = &leaf};
    certa_mh_leaf_hashes(&src, 0, 1, out);
}

void certa_merkle_node_hash(const uint8_t left[CERTA_HASH_BYTES],
                            const uint8_t right[CERTA_HASH_BYTES],
                            uint8_t out[CERTA_HASH_BYTES])
{
    uint8_t lr[2 * CERTA_HASH_BYTES];
    memcpy(lr, left, CERTA_HASH_BYTES);
    memcpy(lr + CERTA_HASH_BYTES, right, CERTA_HASH_BYTES);
    certa_mh_nodes(lr, 1, out);
}

void certa_merkle_empty_root(uint8_t out[CERTA_HASH_BYTES])
{
    certa_sha256("", 0, out);
}

const char *certa_merkle_backend(void)
{
    return certa_mh_backend();
}

void certa_merkle_node_hashes(const uint8_t *in, size_t pairs, uint8_t *out)
{
    CERTA_ASSERT((in != NULL && out != NULL) || pairs == 0);
    certa_mh_nodes(in, pairs, out);
}

/* Reduces m hashes at h, in place, to their Merkle root in h[0]. */
static void reduce_in_place(uint8_t *h, size_t m)
{
    CERTA_ASSERT(m >= 1);
    while (m > 1) {
        size_t pairs = m / 2;
        certa_mh_nodes(h, pairs, h);
        if (m & 1)
            memmove(h + 32 * pairs, h + 32 * (m - 1), 32);
        m = pairs + (m & 1);
    }
}

typedef struct root_job {
    certa_mh_src src;
    const uint8_t *hashes; /* leaf hashes, or NULL to hash src */
    size_t n;
    uint8_t *roots; /* one per chunk */
} root_job;

static void chunk_root(const root_job *j, size_t c, uint8_t out[32])
{
    uint8_t buf[CHUNK * 32] __attribute__((aligned(64)));
    size_t first = c * CHUNK;
    CERTA_ASSERT(first < j->n);
    size_t m = j->n - first < CHUNK ? j->n - first : CHUNK;
    if (j->hashes == NULL) {
        certa_mh_leaf_hashes(&j->src, first, m, buf);
    } else {
        /* the first level reads the caller's hashes and writes our buffer */
        const uint8_t *in = j->hashes + 32 * first;
        size_t pairs = m / 2;
        certa_mh_nodes(in, pairs, buf);
        if (m & 1)
            memcpy(buf + 32 * pairs, in + 32 * (m - 1), 32);
        m = pairs + (m & 1);
    }
    reduce_in_place(buf, m);
    memcpy(out, buf, 32);
}

static void chunk_root_task(void *ctx, size_t c, unsigned worker)
{
    (void)worker;
    const root_job *j = ctx;
    chunk_root(j, c, j->roots + 32 * c);
}

static certa_err root_run(certa_pool *pool, root_job *j, uint8_t root[32],
                          certa_errinfo *ei)
{
    if (j->n == 0) {
        certa_merkle_empty_root(root);
        return CERTA_OK;
    }
    size_t chunks = (j->n + CHUNK - 1) / CHUNK;
    if (chunks == 1) {
        chunk_root(j, 0, root);
        return CERTA_OK;
    }
    j->roots = malloc(32 * chunks);
    if (j->roots == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM,
                            "merkle: %zu chunk roots for %zu leaves", chunks,
                            j->n);
    certa_pool *use = j->n >= CERTA_MERKLE_PARALLEL_MIN_LEAVES ? pool : NULL;
    certa_err err = certa_pool_run(use, chunks, chunk_root_task, j, 0, ei);
    if (err == CERTA_OK) {
        reduce_in_place(j->roots, chunks);
        memcpy(root, j->roots, 32);
    }
    free(j->roots);
    j->roots = NULL;
    return err;
}

certa_err certa_merkle_root_leaves(certa_pool *pool,
                                   const certa_merkle_leaf *leaves, size_t n,
                                   uint8_t root[CERTA_HASH_BYTES],
                                   certa_errinfo *ei)
{
    CERTA_ASSERT(leaves != NULL || n == 0);
    root_job j = {.src = {.leaves = leaves}, .n = n};
    return root_run(pool, &j, root, ei);
}

certa_err certa_merkle_root_split(certa_pool *pool,
                                  const certa_merkle_split_leaf *leaves, size_t n,
                                  uint8_t root[CERTA_HASH_BYTES],
                                  certa_errinfo *ei)
{
    CERTA_ASSERT(leaves != NULL || n == 0);
    root_job j = {.src = {.split = leaves}, .n = n};
    return root_run(pool, &j, root, ei);
}

certa_err certa_merkle_root_fixed(certa_pool *pool, const void *data,
                                  size_t leaf_bytes, size_t n,
                                  uint8_t root[CERTA_HASH_BYTES],
                                  certa_errinfo *ei)
{
    CERTA_ASSERT(data != NULL || n == 0 || leaf_bytes == 0);
    static const uint8_t none[1];
    root_job j = {.src = {.base = data != NULL ? data : none,
                          .leaf_bytes = leaf_bytes},
                  .n = n};
    return root_run(pool, &j, root, ei);
}

certa_err certa_merkle_root_hashes(certa_pool *pool, const uint8_t *leaf_hashes,
                                   size_t n, uint8_t root[CERTA_HASH_BYTES],
                                   certa_errinfo *ei)
{
    CERTA_ASSERT(leaf_hashes != NULL || n == 0);
    root_job j = {.hashes = leaf_hashes, .n = n};
    return root_run(pool, &j, root, ei);
}

/* ---- parallel leaf hashing and level building ---- */

#define SPAN 4096 /* leaves or pairs per task */

typedef struct span_job {
    certa_mh_src src;
    const uint8_t *in;
    uint8_t *out;
    size_t count;
} span_job;

static void leaf_span_task(void *ctx, size_t s, unsigned worker)
{
    (void)worker;
    const span_job *j = ctx;
    size_t first = s * SPAN;
    size_t m = j->count - first < SPAN ? j->count - first : SPAN;
    certa_mh_leaf_hashes(&j->src, first, m, j->out + 32 * first);
}

static void node_span_task(void *ctx, size_t s, unsigned worker)
{
    (void)worker;
    const span_job *j = ctx;
    size_t first = s * SPAN;
    size_t m = j->count - first < SPAN ? j->count - first : SPAN;
    certa_mh_nodes(j->in + 64 * first, m, j->out + 32 * first);
}

static certa_pool *pool_for(certa_pool *pool, size_t count)
{
    return count >= CERTA_MERKLE_PARALLEL_MIN_LEAVES ? pool : NULL;
}

certa_err certa_merkle_leaf_hashes(certa_pool *pool,
                                   const certa_merkle_leaf *leaves, size_t n,
                                   uint8_t *out, certa_errinfo *ei)
{
    CERTA_ASSERT((leaves != NULL && out != NULL) || n == 0);
    span_job j = {.src = {.leaves = leaves}, .out = out, .count = n};
    return certa_pool_run(pool_for(pool, n), (n + SPAN - 1) / SPAN,
                          leaf_span_task, &j, 0, ei);
}

certa_err certa_merkle_fixed_leaf_hashes(certa_pool *pool, const void *data,
                                         size_t leaf_bytes, size_t n, uint8_t *out,
                                         certa_errinfo *ei)
{
    CERTA_ASSERT((data != NULL && out != NULL) || n == 0);
    span_job j = {.src = {.base = data, .leaf_bytes = leaf_bytes}, .out = out, .count = n};
    return certa_pool_run(pool_for(pool, n), (n + SPAN - 1) / SPAN,
                          leaf_span_task, &j, 0, ei);
}

certa_err certa_merkle_split_leaf_hashes(certa_pool *pool,
                                         const certa_merkle_split_leaf *leaves, size_t n,
                                         uint8_t *out, certa_errinfo *ei)
{
    CERTA_ASSERT((leaves != NULL && out != NULL) || n == 0);
    span_job j = {.src = {.split = leaves}, .out = out, .count = n};
    return certa_pool_run(pool_for(pool, n), (n + SPAN - 1) / SPAN,
                          leaf_span_task, &j, 0, ei);
}

/* ---- trees kept in memory ---- */

struct certa_merkle_tree {
    size_t n;
    unsigned levels;             /* level 0 = leaves ... levels-1 = root */
    size_t count[LEVELS_MAX];    /* nodes per level */
    uint8_t *level[LEVELS_MAX];  /* into nodes */
    uint8_t *nodes;
};

certa_err certa_merkle_tree_build(certa_pool *pool, const uint8_t *leaf_hashes,
                                  size_t n, certa_merkle_tree **out,
                                  certa_errinfo *ei)
{
    CERTA_ASSERT(leaf_hashes != NULL || n == 0);
    certa_merkle_tree *t = calloc(1, sizeof *t);
    if (t == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "merkle: allocating a tree");
    t->n = n;
    size_t total = 0, m = n;
    t->levels = 0;
    for (;;) {
        CERTA_ASSERT(t->levels < LEVELS_MAX);
        t->count[t->levels++] = m;
        total += m;
        if (m <= 1)
            break;
        m = (m + 1) / 2;
    }
    t->nodes = malloc(total > 0 ? 32 * total : 32);
    if (t->nodes == NULL) {
        free(t);
        return certa_errorf(ei, CERTA_E_NOMEM,
                            "merkle: %zu nodes for a tree of %zu leaves",
                            total, n);
    }
    uint8_t *p = t->nodes;
    for (unsigned l = 0; l < t->levels; l++) {
        t->level[l] = p;
        p += 32 * t->count[l];
    }
    if (n > 0)
        memcpy(t->level[0], leaf_hashes, 32 * n);
    for (unsigned l = 0; l + 1 < t->levels; l++) {
        size_t cnt = t->count[l], pairs = cnt / 2;
        span_job j = {.in = t->level[l], .out = t->level[l + 1], .count = pairs};
        certa_err err = certa_pool_run(pool_for(pool, pairs),
                                       (pairs + SPAN - 1) / SPAN,
                                       node_span_task, &j, 0, ei);
        if (err != CERTA_OK) {
            certa_merkle_tree_free(t);
            return err;
        }
        if (cnt & 1)
            memcpy(t->level[l + 1] + 32 * pairs, t->level[l] + 32 * (cnt - 1),
                   32);
        CERTA_ASSERT(t->count[l + 1] == pairs + (cnt & 1));
    }
    *out = t;
    return CERTA_OK;
}

void certa_merkle_tree_free(certa_merkle_tree *t)
{
    if (t == NULL)
        return;
    free(t->nodes);
    free(t);
}

size_t certa_merkle_tree_size(const certa_merkle_tree *t)
{
    CERTA_ASSERT(t != NULL);
    return t->n;
}

void certa_merkle_tree_root(const certa_merkle_tree *t,
                            uint8_t root[CERTA_HASH_BYTES])
{
    CERTA_ASSERT(t != NULL);
    if (t->n == 0) {
        certa_merkle_empty_root(root);
        return;
    }
    CERTA_ASSERT(t->count[t->levels - 1] == 1);
    memcpy(root, t->level[t->levels - 1], 32);
}

void certa_merkle_tree_leaf(const certa_merkle_tree *t, size_t index,
                            uint8_t out[CERTA_HASH_BYTES])
{
    CERTA_ASSERT(t != NULL && index < t->n);
    memcpy(out, t->level[0] + 32 * index, 32);
}

/* MTH(D[lo:hi]) for a range that is a node of the tree: lo = j*2^L and
 * hi = min(lo + 2^L, n) with 2^L the smallest power of two >= hi - lo. */
static const uint8_t *tree_node(const certa_merkle_tree *t, size_t lo,
                                size_t hi)
{
    CERTA_ASSERT(lo < hi && hi <= t->n);
    unsigned l = 0;
    while (((size_t)1 << l) < hi - lo)
        l++;
    size_t width = (size_t)1 << l;
    CERTA_ASSERT(lo % width == 0);
    CERTA_ASSERT(hi == (lo + width < t->n ? lo + width : t->n));
    CERTA_ASSERT(l < t->levels && (lo >> l) < t->count[l]);
    return t->level[l] + 32 * (lo >> l);
}

/* Largest power of two strictly smaller than n (n >= 2). */
static size_t split_point(size_t n)
{
    CERTA_ASSERT(n >= 2);
    size_t k = 1;
    while (k <= (n - 1) / 2)
        k *= 2;
    return k;
}

static void path_append(uint8_t (*path)[32], size_t *len, size_t cap,
                        const uint8_t *h)
{
    CERTA_ASSERT(*len < cap);
    memcpy(path[(*len)++], h, 32);
}

/* RFC 9162 2.1.3.1: PATH(m, D[lo:hi]). */
static void inclusion_rec(const certa_merkle_tree *t, size_t m, size_t lo,
                          size_t hi, uint8_t (*path)[32], size_t *len)
{
    if (hi - lo <= 1)
        return;
    size_t k = split_point(hi - lo);
    if (m < k) {
        inclusion_rec(t, m, lo, lo + k, path, len);
        path_append(path, len, CERTA_MERKLE_PATH_MAX, tree_node(t, lo + k, hi));
    } else {
        inclusion_rec(t, m - k, lo + k, hi, path, len);
        path_append(path, len, CERTA_MERKLE_PATH_MAX, tree_node(t, lo, lo + k));
    }
}

certa_err certa_merkle_tree_inclusion(const certa_merkle_tree *t, size_t index,
                                      uint8_t (*path)[CERTA_HASH_BYTES],
                                      size_t *path_len, certa_errinfo *ei)
{
    CERTA_ASSERT(t != NULL && path != NULL && path_len != NULL);
    *path_len = 0;
    if (index >= t->n)
        return certa_errorf(ei, CERTA_E_BAD_INDEX,
                            "merkle: leaf index %zu not below tree size %zu",
                            index, t->n);
    inclusion_rec(t, index, 0, t->n, path, path_len);
    return CERTA_OK;
}

/* RFC 9162 2.1.4.1: SUBPROOF(m, D[lo:hi], b). */
static void subproof_rec(const certa_merkle_tree *t, size_t m, size_t lo,
                         size_t hi, bool b, uint8_t (*path)[32], size_t *len)
{
    size_t n = hi - lo;
    if (m == n) {
        if (!b)
            path_append(path, len, CERTA_MERKLE_CONSISTENCY_MAX,
                        tree_node(t, lo, hi));
        return;
    }
    CERTA_ASSERT(m < n);
    size_t k = split_point(n);
    if (m <= k) {
        subproof_rec(t, m, lo, lo + k, b, path, len);
        path_append(path, len, CERTA_MERKLE_CONSISTENCY_MAX,
                    tree_node(t, lo + k, hi));
    } else {
        subproof_rec(t, m - k, lo + k, hi, false, path, len);
        path_append(path, len, CERTA_MERKLE_CONSISTENCY_MAX,
                    tree_node(t, lo, lo + k));
    }
}

certa_err certa_merkle_tree_consistency(const certa_merkle_tree *t,
                                        size_t old_size,
                                        uint8_t (*path)[CERTA_HASH_BYTES],
                                        size_t *path_len, certa_errinfo *ei)
{
    CERTA_ASSERT(t != NULL && path != NULL && path_len != NULL);
    *path_len = 0;
    if (old_size > t->n)
        return certa_errorf(ei, CERTA_E_BAD_INDEX,
                            "merkle: old size %zu above tree size %zu",
                            old_size, t->n);
    if (old_size == 0 || old_size == t->n)
        return CERTA_OK;
    subproof_rec(t, old_size, 0, t->n, true, path, path_len);
    return CERTA_OK;
}

/* ---- verification, RFC 9162 2.1.3.2 and 2.1.4.2 ---- */

certa_err certa_merkle_verify_inclusion(uint64_t index, uint64_t size,
                                        const uint8_t leaf_hash[CERTA_HASH_BYTES],
                                        const uint8_t (*path)[CERTA_HASH_BYTES],
                                        size_t path_len,
                                        const uint8_t root[CERTA_HASH_BYTES],
                                        certa_errinfo *ei)
{
    CERTA_ASSERT(leaf_hash != NULL && root != NULL);
    CERTA_ASSERT(path != NULL || path_len == 0);
    if (index >= size)
        return certa_errorf(ei, CERTA_E_BAD_INDEX,
                            "leaf index %llu not below tree size %llu",
                            (unsigned long long)index, (unsigned long long)size);
    uint64_t fn = index, sn = size - 1;
    uint8_t r[32];
    memcpy(r, leaf_hash, 32);
    for (size_t i = 0; i < path_len; i++) {
        if (sn == 0)
            return certa_errorf(ei, CERTA_E_BAD_PROOF,
                                "path has %zu hashes, more than a tree of "
                                "size %llu allows for leaf %llu",
                                path_len, (unsigned long long)size,
                                (unsigned long long)index);
        if ((fn & 1) || fn == sn) {
            certa_merkle_node_hash(path[i], r, r);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            certa_merkle_node_hash(r, path[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return certa_errorf(ei, CERTA_E_BAD_PROOF,
                            "path has %zu hashes, fewer than a tree of size "
                            "%llu needs for leaf %llu",
                            path_len, (unsigned long long)size,
                            (unsigned long long)index);
    if (memcmp(r, root, 32) != 0)
        return certa_errorf(ei, CERTA_E_BAD_PROOF,
                            "the path leads to another root: leaf %llu is not "
                            "in this tree", (unsigned long long)index);
    return CERTA_OK;
}

certa_err certa_merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
                                          const uint8_t old_root[CERTA_HASH_BYTES],
                                          const uint8_t new_root[CERTA_HASH_BYTES],
                                          const uint8_t (*path)[CERTA_HASH_BYTES],
                                          size_t path_len, certa_errinfo *ei)
{
    CERTA_ASSERT(old_root != NULL && new_root != NULL);
    CERTA_ASSERT(path != NULL || path_len == 0);
    if (old_size > new_size)
        return certa_errorf(ei, CERTA_E_BAD_INDEX,
                            "old size %llu above new size %llu",
                            (unsigned long long)old_size,
                            (unsigned long long)new_size);
    if (old_size == 0 || old_size == new_size) {
        if (path_len != 0)
            return certa_errorf(ei, CERTA_E_BAD_PROOF,
                                "a proof from size %llu to %llu must be empty, "
                                "it has %zu hashes",
                                (unsigned long long)old_size,
                                (unsigned long long)new_size, path_len);
        uint8_t want[32];
        if (old_size == 0)
            certa_merkle_empty_root(want);
        else
            memcpy(want, new_root, 32);
        if (memcmp(old_root, want, 32) != 0)
            return certa_errorf(ei, CERTA_E_BAD_PROOF,
                                old_size == 0
                                    ? "old root is not the empty-tree hash"
                                    : "equal sizes but different roots");
        return CERTA_OK;
    }
    /* 1. */
    if (path_len == 0)
        return certa_errorf(ei, CERTA_E_BAD_PROOF, "empty consistency path");
    /* 2. a power-of-two old tree is a node of the new one: its root starts
     * the path */
    bool pow2 = (old_size & (old_size - 1)) == 0;
    size_t start = pow2 ? 0 : 1;
    const uint8_t *first = pow2 ? old_root : path[0];
    /* 3., 4. */
    uint64_t fn = old_size - 1, sn = new_size - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    /* 5. */
    uint8_t fr[32], sr[32];
    memcpy(fr, first, 32);
    memcpy(sr, first, 32);
    /* 6. */
    for (size_t i = start; i < path_len; i++) {
        const uint8_t *c = path[i];
        if (sn == 0)
            return certa_errorf(ei, CERTA_E_BAD_PROOF,
                                "path has %zu hashes, more than sizes %llu to "
                                "%llu allow", path_len,
                                (unsigned long long)old_size,
                                (unsigned long long)new_size);
        if ((fn & 1) || fn == sn) {
            certa_merkle_node_hash(c, fr, fr);
            certa_merkle_node_hash(c, sr, sr);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            certa_merkle_node_hash(sr, c, sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    /* 7. */
    if (sn != 0)
        return certa_errorf(ei, CERTA_E_BAD_PROOF,
                            "path has %zu hashes, fewer than sizes %llu to "
                            "%llu need", path_len,
                            (unsigned long long)old_size,
                            (unsigned long long)new_size);
    if (memcmp(fr, old_root, 32) != 0)
        return certa_errorf(ei, CERTA_E_BAD_PROOF,
                            "the path does not lead to the old root");
    if (memcmp(sr, new_root, 32) != 0)
        return certa_errorf(ei, CERTA_E_BAD_PROOF,
                            "the path does not lead to the new root");
    return CERTA_OK;
}

/* ---- the compact range of an append-only tree ---- */

void certa_merkle_frontier_init(certa_merkle_frontier *f)
{
    CERTA_ASSERT(f != NULL);
    memset(f, 0, sizeof *f);
}

void certa_merkle_frontier_append(certa_merkle_frontier *f, const uint8_t *leaf_hashes,
                                  size_t n)
{
    CERTA_ASSERT(f != NULL && (leaf_hashes != NULL || n == 0));
    CERTA_ASSERT(n <= UINT64_MAX - f->size);
    for (size_t i = 0; i < n; i++) {
        /* like incrementing a binary counter: each carry merges two
         * perfect subtrees of 2^l leaves into one of 2^(l+1) */
        uint8_t carry[CERTA_HASH_BYTES];
        memcpy(carry, leaf_hashes + i * CERTA_HASH_BYTES, CERTA_HASH_BYTES);
        unsigned l = 0;
        while (f->size >> l & 1u) {
            certa_merkle_node_hash(f->hashes[l], carry, carry);
            l++;
        }
        CERTA_ASSERT(l < CERTA_MERKLE_PATH_MAX);
        memcpy(f->hashes[l], carry, CERTA_HASH_BYTES);
        f->size++;
    }
}

void certa_merkle_frontier_root(const certa_merkle_frontier *f,
                                uint8_t root[CERTA_HASH_BYTES])
{
    CERTA_ASSERT(f != NULL && root != NULL);
    if (f->size == 0) {
        certa_merkle_empty_root(root);
        return;
    }
    /* the smallest subtree is the rightmost; each larger one is the left
     * child of the node over everything right of it */
    unsigned l = 0;
    while (!(f->size >> l & 1u))
        l++;
    uint8_t acc[CERTA_HASH_BYTES];
    memcpy(acc, f->hashes[l], CERTA_HASH_BYTES);
    for (l++; l < 64; l++)
        if (f->size >> l & 1u)
            certa_merkle_node_hash(f->hashes[l], acc, acc);
    memcpy(root, acc, CERTA_HASH_BYTES);
}
