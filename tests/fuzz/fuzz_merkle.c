/* Fuzz target: Merkle proofs. The input is cut into leaves (first byte:
 * leaf length bound); for the tree of those leaves every root function
 * agrees, the proof of a chosen index and of a chosen old size verify, and
 * one flipped bit (chosen by the input) in the path, leaf hash, index or
 * roots makes verification fail. The raw input is also fed to both
 * verifiers as sizes + path, which must never crash. */
#include <stdlib.h>
#include <string.h>

#include "certa/merkle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rd64(const uint8_t *p, size_t avail)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8 && i < avail; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void raw_verifiers(const uint8_t *data, size_t size)
{
    if (size < 16 + 64)
        return;
    uint64_t a = rd64(data, size), b = rd64(data + 8, size - 8);
    const uint8_t *h1 = data + 16, *h2 = data + 48;
    size_t len = (size - 80) / 32;
    if (len > CERTA_MERKLE_CONSISTENCY_MAX)
        len = CERTA_MERKLE_CONSISTENCY_MAX;
    uint8_t path[CERTA_MERKLE_CONSISTENCY_MAX][32];
    memcpy(path, data + 80, 32 * len);
    (void)certa_merkle_verify_inclusion(a, b, h1, (const uint8_t(*)[32])path,
                                        len < CERTA_MERKLE_PATH_MAX ? len
                                                                    : CERTA_MERKLE_PATH_MAX,
                                        h2, NULL);
    (void)certa_merkle_verify_consistency(a, b, h1, h2, (const uint8_t(*)[32])path,
                                          len, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    raw_verifiers(data, size);
    if (size < 4)
        return 0;
    size_t max_leaf = data[0] % 40;
    uint16_t sel = (uint16_t)(data[1] | data[2] << 8);
    uint8_t flip_sel = data[3];
    data += 4;
    size -= 4;

    certa_merkle_leaf leaves[512];
    size_t n = 0, off = 0;
    while (off < size && n < 512) {
        size_t len = max_leaf == 0 ? 0 : data[off] % (max_leaf + 1);
        if (len > size - off)
            len = size - off;
        leaves[n].data = data + off;
        leaves[n].len_bytes = len;
        n++;
        off += len > 0 ? len : 1;
    }
    uint8_t lh[512][32];
    CERTA_ASSERT(certa_merkle_leaf_hashes(NULL, leaves, n, &lh[0][0], NULL) == CERTA_OK);
    uint8_t r1[32], r2[32];
    CERTA_ASSERT(certa_merkle_root_leaves(NULL, leaves, n, r1, NULL) == CERTA_OK);
    CERTA_ASSERT(certa_merkle_root_hashes(NULL, &lh[0][0], n, r2, NULL) == CERTA_OK);
    CERTA_ASSERT(memcmp(r1, r2, 32) == 0);
    certa_merkle_tree *t = NULL;
    CERTA_ASSERT(certa_merkle_tree_build(NULL, &lh[0][0], n, &t, NULL) == CERTA_OK);
    certa_merkle_tree_root(t, r2);
    CERTA_ASSERT(memcmp(r1, r2, 32) == 0);
    if (n == 0) {
        certa_merkle_tree_free(t);
        return 0;
    }

    uint8_t path[CERTA_MERKLE_CONSISTENCY_MAX][32];
    size_t len = 0, m = sel % n;
    CERTA_ASSERT(certa_merkle_tree_inclusion(t, m, path, &len, NULL) == CERTA_OK);
    const uint8_t(*cp)[32] = (const uint8_t(*)[32])path;
    CERTA_ASSERT(certa_merkle_verify_inclusion(m, n, lh[m], cp, len, r1, NULL) == CERTA_OK);
    /* one flipped bit of the path, the leaf hash, the root or the index */
    uint8_t leaf[32], root[32];
    memcpy(leaf, lh[m], 32);
    memcpy(root, r1, 32);
    size_t bit = (size_t)flip_sel * 7 % 256;
    switch (flip_sel % 4) {
    case 0:
        if (len == 0)
            break;
        path[sel % len][bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CERTA_ASSERT(certa_merkle_verify_inclusion(m, n, leaf, cp, len, root, NULL) != CERTA_OK);
        break;
    case 1:
        leaf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CERTA_ASSERT(certa_merkle_verify_inclusion(m, n, leaf, cp, len, root, NULL) != CERTA_OK);
        break;
    case 2:
        root[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CERTA_ASSERT(certa_merkle_verify_inclusion(m, n, leaf, cp, len, root, NULL) != CERTA_OK);
        break;
    default: {
        /* Passing is only right when leaf m2 really is that leaf with that
         * path (the input may repeat leaves): a verified path pins every
         * node on it, short of a SHA-256 collision. */
        uint64_t m2 = m ^ ((uint64_t)1 << (bit % 64));
        bool same = false;
        if (m2 < n) {
            uint8_t p2[CERTA_MERKLE_PATH_MAX][32];
            size_t len2 = 0;
            CERTA_ASSERT(certa_merkle_tree_inclusion(t, (size_t)m2, p2, &len2, NULL) == CERTA_OK);
            same = len2 == len && memcmp(p2, path, 32 * len) == 0 &&
                   memcmp(lh[m2], leaf, 32) == 0;
        }
        bool ok = certa_merkle_verify_inclusion(m2, n, leaf, cp, len, root, NULL) == CERTA_OK;
        CERTA_ASSERT(ok == same);
        break;
    }
    }

    size_t old = sel % (n + 1);
    CERTA_ASSERT(certa_merkle_tree_consistency(t, old, path, &len, NULL) == CERTA_OK);
    uint8_t old_root[32];
    CERTA_ASSERT(certa_merkle_root_hashes(NULL, &lh[0][0], old, old_root, NULL) == CERTA_OK);
    CERTA_ASSERT(certa_merkle_verify_consistency(old, n, old_root, r1, cp, len, NULL) ==
                 CERTA_OK);
    if (len > 0) {
        path[flip_sel % len][bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CERTA_ASSERT(certa_merkle_verify_consistency(old, n, old_root, r1, cp, len, NULL) !=
                     CERTA_OK);
    }
    certa_merkle_tree_free(t);
    return 0;
}
