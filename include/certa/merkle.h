/* merkle: the Merkle Tree Hash of RFC 6962 / RFC 9162 section 2.1, with
 * inclusion and consistency proofs (RFC 9162 sections 2.1.3 and 2.1.4).
 *
 *   leaf hash  = SHA-256(0x00 || leaf bytes)
 *   node hash  = SHA-256(0x01 || left || right)
 *   MTH({})    = SHA-256() (the empty string)
 *   MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two
 *                smaller than n.
 *
 * Roots are computed in chunks of CERTA_MERKLE_CHUNK_LEAVES leaves spread over
 * a certa_pool (optional: NULL runs on the calling thread). Trees smaller
 * than CERTA_MERKLE_PARALLEL_MIN_LEAVES never use the pool. The root never
 * depends on the pool or its thread count. Working memory: 32 bytes per
 * chunk plus one chunk buffer on each worker's stack.
 *
 * Hashes are 32-byte arrays; a "path" is an array of such hashes, ordered
 * as RFC 9162 orders them (from the leaf's sibling up to the root's child).
 */
#ifndef CERTA_MERKLE_H
#define CERTA_MERKLE_H

#include "certa/certa.h"
#include "certa/pool.h"

#define CERTA_MERKLE_CHUNK_LEAVES 1024
#define CERTA_MERKLE_PARALLEL_MIN_LEAVES 8192
/* Longest inclusion path: one hash per level of a 2^64-leaf tree. */
#define CERTA_MERKLE_PATH_MAX 64
/* Longest consistency path (RFC 9162: at most ceil(log2 n) + 1 hashes). */
#define CERTA_MERKLE_CONSISTENCY_MAX 65

/* One leaf's bytes; the caller owns them. data may be NULL when len is 0. */
typedef struct certa_merkle_leaf {
    const uint8_t *data;
    size_t len_bytes;
} certa_merkle_leaf;

/* SHA-256(0x00 || data) and SHA-256(0x01 || left || right). */
void certa_merkle_leaf_hash(const void *data, size_t len_bytes,
                            uint8_t out[CERTA_HASH_BYTES]);
void certa_merkle_node_hash(const uint8_t left[CERTA_HASH_BYTES],
                            const uint8_t right[CERTA_HASH_BYTES],
                            uint8_t out[CERTA_HASH_BYTES]);
/* MTH of the empty tree: SHA-256 of nothing. */
void certa_merkle_empty_root(uint8_t out[CERTA_HASH_BYTES]);

/* A leaf in two pieces: its bytes are head (head_len bytes, at most
 * CERTA_MERKLE_HEAD_MAX) followed by data (len_bytes). For leaves that put
 * a little context before stored bytes (certa_leaf_encode's integrator and
 * seq before an event) without copying them. The caller owns both. */
#define CERTA_MERKLE_HEAD_MAX 16
typedef struct certa_merkle_split_leaf {
    const uint8_t *head;
    const uint8_t *data;
    uint32_t head_len;
    uint32_t len_bytes;
} certa_merkle_split_leaf;

/* Root over n leaves given as (pointer, length) pairs. */
certa_err certa_merkle_root_leaves(certa_pool *pool,
                                   const certa_merkle_leaf *leaves, size_t n,
                                   uint8_t root[CERTA_HASH_BYTES],
                                   certa_errinfo *ei);
/* Root over n split leaves (the same root as over their joined bytes). */
certa_err certa_merkle_root_split(certa_pool *pool,
                                  const certa_merkle_split_leaf *leaves, size_t n,
                                  uint8_t root[CERTA_HASH_BYTES],
                                  certa_errinfo *ei);
/* Root over n leaves of leaf_bytes each, stored back to back at data. */
certa_err certa_merkle_root_fixed(certa_pool *pool, const void *data,
                                  size_t leaf_bytes, size_t n,
                                  uint8_t root[CERTA_HASH_BYTES],
                                  certa_errinfo *ei);
/* Root over n precomputed leaf hashes (n * 32 bytes). */
certa_err certa_merkle_root_hashes(certa_pool *pool, const uint8_t *leaf_hashes,
                                   size_t n, uint8_t root[CERTA_HASH_BYTES],
                                   certa_errinfo *ei);
/* Leaf hashes of n leaves into out (n * 32 bytes), in parallel. */
certa_err certa_merkle_leaf_hashes(certa_pool *pool,
                                   const certa_merkle_leaf *leaves, size_t n,
                                   uint8_t *out, certa_errinfo *ei);
/* The same over n leaves of leaf_bytes each, back to back at data (the
 * leaves of certa_merkle_root_fixed). */
certa_err certa_merkle_fixed_leaf_hashes(certa_pool *pool, const void *data,
                                         size_t leaf_bytes, size_t n, uint8_t *out,
                                         certa_errinfo *ei);
/* The same over split leaves (each the hash of its joined bytes). */
certa_err certa_merkle_split_leaf_hashes(certa_pool *pool,
                                         const certa_merkle_split_leaf *leaves, size_t n,
                                         uint8_t *out, certa_errinfo *ei);

/* A whole tree kept in memory (every level, about 64 bytes per leaf) to
 * answer many proofs in O(log n) each, e.g. one per event of a block.
 * Immutable once built: any number of threads may read it. */
typedef struct certa_merkle_tree certa_merkle_tree;

/* Builds from n leaf hashes (copied). n may be 0. */
certa_err certa_merkle_tree_build(certa_pool *pool, const uint8_t *leaf_hashes,
                                  size_t n, certa_merkle_tree **out,
                                  certa_errinfo *ei);
void certa_merkle_tree_free(certa_merkle_tree *t);
size_t certa_merkle_tree_size(const certa_merkle_tree *t);
void certa_merkle_tree_root(const certa_merkle_tree *t,
                            uint8_t root[CERTA_HASH_BYTES]);
/* Leaf hash at index (< size). */
void certa_merkle_tree_leaf(const certa_merkle_tree *t, size_t index,
                            uint8_t out[CERTA_HASH_BYTES]);

/* Inclusion proof PATH(index, D[n]) of RFC 9162 2.1.3.1 into path (room for
 * CERTA_MERKLE_PATH_MAX hashes); *path_len gets its length.
 * CERTA_E_BAD_INDEX when index >= size. */
certa_err certa_merkle_tree_inclusion(const certa_merkle_tree *t, size_t index,
                                      uint8_t (*path)[CERTA_HASH_BYTES],
                                      size_t *path_len, certa_errinfo *ei);
/* Consistency proof PROOF(old_size, D[n]) of RFC 9162 2.1.4.1 (room for
 * CERTA_MERKLE_CONSISTENCY_MAX hashes). Empty when old_size is 0 or equals
 * the size. CERTA_E_BAD_INDEX when old_size > size. */
certa_err certa_merkle_tree_consistency(const certa_merkle_tree *t,
                                        size_t old_size,
                                        uint8_t (*path)[CERTA_HASH_BYTES],
                                        size_t *path_len, certa_errinfo *ei);

/* RFC 9162 2.1.3.2: CERTA_OK when path proves that leaf_hash is leaf
 * `index` of the tree of `size` leaves with root `root`; CERTA_E_BAD_INDEX
 * when index >= size; CERTA_E_BAD_PROOF otherwise (reason in ei).
 * The size is not committed to by the root itself: trust (size, root) only
 * as a pair that was signed together. */
certa_err certa_merkle_verify_inclusion(uint64_t index, uint64_t size,
                                        const uint8_t leaf_hash[CERTA_HASH_BYTES],
                                        const uint8_t (*path)[CERTA_HASH_BYTES],
                                        size_t path_len,
                                        const uint8_t root[CERTA_HASH_BYTES],
                                        certa_errinfo *ei);
/* RFC 9162 2.1.4.2: CERTA_OK when path proves that the tree of old_size
 * leaves with old_root is a prefix of the tree of new_size leaves with
 * new_root. By convention (as in RFC 9162's reference code) equal sizes need
 * an empty path and equal roots, and old_size 0 needs an empty path and
 * old_root = the empty-tree hash. CERTA_E_BAD_INDEX when old_size > new_size,
 * CERTA_E_BAD_PROOF otherwise. */
certa_err certa_merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
                                          const uint8_t old_root[CERTA_HASH_BYTES],
                                          const uint8_t new_root[CERTA_HASH_BYTES],
                                          const uint8_t (*path)[CERTA_HASH_BYTES],
                                          size_t path_len, certa_errinfo *ei);

/* The compact range [0, size) of a tree that only grows (an append-only
 * log): for every bit l set in size, the root of one perfect subtree of
 * 2^l leaves, the subtrees left to right from the highest bit down. That
 * is all the tree's future roots depend on, so appending n leaves costs
 * about n node hashes and the root at most 63 more, whatever the size
 * (RFC 9162 2.1: the root is the right-to-left fold of those subtrees).
 * Plain data: copy it to keep a size's state. */
typedef struct certa_merkle_frontier {
    uint64_t size; /* leaves appended */
    uint8_t hashes[CERTA_MERKLE_PATH_MAX][CERTA_HASH_BYTES]; /* [l] when bit l of size is set */
} certa_merkle_frontier;

/* The empty tree. */
void certa_merkle_frontier_init(certa_merkle_frontier *f);
/* Appends n leaf hashes (n * 32 bytes, already leaf-hashed). */
void certa_merkle_frontier_append(certa_merkle_frontier *f, const uint8_t *leaf_hashes,
                                  size_t n);
/* MTH of the size leaves appended so far (the empty-tree hash for 0). */
void certa_merkle_frontier_root(const certa_merkle_frontier *f,
                                uint8_t root[CERTA_HASH_BYTES]);

/* One level step: out[i] = node(in[2i], in[2i+1]) for i < pairs (in: 2 *
 * pairs hashes, out: pairs hashes; out may equal in), with the widest
 * kernel this machine has, one thread. With certa_merkle_leaf_hashes on
 * independent leaves it gives the kernels' own rate, the limit any tree
 * over them is measured against (bench/merkle.c). */
void certa_merkle_node_hashes(const uint8_t *in, size_t pairs, uint8_t *out);

/* Which SHA-256 kernels run: "avx512+sha-ni", "sha-ni" or "portable". */
const char *certa_merkle_backend(void);

#endif
