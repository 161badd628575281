/* Tests for engine/merkle.c: RFC 6962 reference values, roots of every
 * size 0..300 and 2^k-1, 2^k, 2^k+1 up to 2^16 against a plain recursive
 * reference written here (from the RFC's definitions, over OpenSSL
 * SHA-256), the SHA-NI and portable kernels against OpenSSL, equal roots at
 * 1, 2 and 8 threads, every proof of every index of small trees, and
 * rejection of any flipped bit of a proof, leaf, root, size or index. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certa/crypto.h"
#include "certa/merkle.h"
#include "certa/pool.h"
#include "merkle_hash.h"

typedef uint8_t h32[32];

/* ---- the reference: RFC 6962 section 2.1, written as the RFC reads ---- */

static void ref_leaf(const uint8_t *d, size_t len, uint8_t out[32])
{
    uint8_t *buf = malloc(len + 1);
    cr_assert(buf != NULL);
    buf[0] = 0x00;
    if (len > 0)
        memcpy(buf + 1, d, len);
    certa_sha256(buf, len + 1, out);
    free(buf);
}

static void ref_node(const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
    uint8_t buf[65];
    buf[0] = 0x01;
    memcpy(buf + 1, l, 32);
    memcpy(buf + 33, r, 32);
    certa_sha256(buf, sizeof buf, out);
}

static size_t ref_k(size_t n)
{
    size_t k = 1;
    while (k <= (n - 1) / 2)
        k *= 2;
    return k;
}

/* MTH(D[lo:hi]) over leaf hashes. */
static void ref_mth(const h32 *lh, size_t lo, size_t hi, uint8_t out[32])
{
    if (hi == lo) {
        certa_sha256("", 0, out);
        return;
    }
    if (hi - lo == 1) {
        memcpy(out, lh[lo], 32);
        return;
    }
    size_t k = ref_k(hi - lo);
    uint8_t l[32], r[32];
    ref_mth(lh, lo, lo + k, l);
    ref_mth(lh, lo + k, hi, r);
    ref_node(l, r, out);
}

/* PATH(m, D[lo:hi]) */
static void ref_path(const h32 *lh, size_t m, size_t lo, size_t hi, h32 *path,
                     size_t *len)
{
    if (hi - lo <= 1)
        return;
    size_t k = ref_k(hi - lo);
    if (m < k) {
        ref_path(lh, m, lo, lo + k, path, len);
        ref_mth(lh, lo + k, hi, path[(*len)++]);
    } else {
        ref_path(lh, m - k, lo + k, hi, path, len);
        ref_mth(lh, lo, lo + k, path[(*len)++]);
    }
}

/* SUBPROOF(m, D[lo:hi], b) */
static void ref_subproof(const h32 *lh, size_t m, size_t lo, size_t hi, bool b,
                         h32 *path, size_t *len)
{
    size_t n = hi - lo;
    if (m == n) {
        if (!b)
            ref_mth(lh, lo, hi, path[(*len)++]);
        return;
    }
    size_t k = ref_k(n);
    if (m <= k) {
        ref_subproof(lh, m, lo, lo + k, b, path, len);
        ref_mth(lh, lo + k, hi, path[(*len)++]);
    } else {
        ref_subproof(lh, m - k, lo + k, hi, false, path, len);
        ref_mth(lh, lo, lo + k, path[(*len)++]);
    }
}

/* A second verifier, recursive over the RFC's PATH definition: rebuilds the
 * root from the leaf and the path (consumed from its top end). */
static bool ref_incl_root(uint64_t m, uint64_t n, const uint8_t leaf[32],
                          const h32 *path, size_t len, uint8_t out[32])
{
    if (n == 1) {
        if (len != 0)
            return false;
        memcpy(out, leaf, 32);
        return true;
    }
    if (len == 0)
        return false;
    uint64_t k = 1;
    while (k <= (n - 1) / 2)
        k *= 2;
    uint8_t sub[32];
    if (m < k) {
        if (!ref_incl_root(m, k, leaf, path, len - 1, sub))
            return false;
        ref_node(sub, path[len - 1], out);
    } else {
        if (!ref_incl_root(m - k, n - k, leaf, path, len - 1, sub))
            return false;
        ref_node(path[len - 1], sub, out);
    }
    return true;
}

static bool ref_verify_inclusion(uint64_t m, uint64_t n, const uint8_t leaf[32],
                                 const h32 *path, size_t len,
                                 const uint8_t root[32])
{
    if (m >= n || len > 64)
        return false;
    uint8_t r[32];
    return ref_incl_root(m, n, leaf, path, len, r) && memcmp(r, root, 32) == 0;
}

/* Recursive over SUBPROOF: rebuilds (old root, new root). */
static bool ref_sub(uint64_t m, uint64_t n, bool b, const uint8_t old_root[32],
                    const h32 *path, size_t len, uint8_t o[32], uint8_t nw[32])
{
    if (m == n) {
        if (b) {
            if (len != 0)
                return false;
            memcpy(o, old_root, 32);
            memcpy(nw, old_root, 32);
        } else {
            if (len != 1)
                return false;
            memcpy(o, path[0], 32);
            memcpy(nw, path[0], 32);
        }
        return true;
    }
    if (len == 0)
        return false;
    uint64_t k = 1;
    while (k <= (n - 1) / 2)
        k *= 2;
    uint8_t so[32], sn[32];
    const uint8_t *top = path[len - 1];
    if (m <= k) {
        if (!ref_sub(m, k, b, old_root, path, len - 1, so, sn))
            return false;
        memcpy(o, so, 32);
        ref_node(sn, top, nw);
    } else {
        if (!ref_sub(m - k, n - k, false, old_root, path, len - 1, so, sn))
            return false;
        ref_node(top, so, o);
        ref_node(top, sn, nw);
    }
    return true;
}

static bool ref_verify_consistency(uint64_t m, uint64_t n,
                                   const uint8_t old_root[32],
                                   const uint8_t new_root[32], const h32 *path,
                                   size_t len)
{
    if (m > n || len > 130)
        return false;
    if (m == 0 || m == n) {
        uint8_t want[32];
        if (m == 0)
            certa_sha256("", 0, want);
        else
            memcpy(want, new_root, 32);
        return len == 0 && memcmp(old_root, want, 32) == 0;
    }
    uint8_t o[32], nw[32];
    return ref_sub(m, n, true, old_root, path, len, o, nw) &&
           memcmp(o, old_root, 32) == 0 && memcmp(nw, new_root, 32) == 0;
}

/* ---- fixtures ---- */

static void hex32(const uint8_t *h, char out[65]) { certa_hex_encode(h, 32, out); }

static void unhex32(const char *s, uint8_t out[32])
{
    cr_assert_eq(certa_hex_decode(s, out, 32), CERTA_OK, "%s", s);
}

/* Deterministic leaf data: leaf i has (i * 37) % 200 bytes. */
typedef struct leafset {
    size_t n;
    uint8_t *bytes;
    certa_merkle_leaf *leaves;
    h32 *lh; /* reference leaf hashes */
} leafset;

static void leafset_make(leafset *s, size_t n)
{
    s->n = n;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += (i * 37) % 200;
    s->bytes = malloc(total + 1);
    s->leaves = calloc(n + 1, sizeof *s->leaves);
    s->lh = malloc((n + 1) * sizeof *s->lh);
    cr_assert(s->bytes && s->leaves && s->lh);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = (i * 37) % 200;
        for (size_t j = 0; j < len; j++)
            s->bytes[off + j] = (uint8_t)(i * 131 + j * 7 + (i >> 8));
        s->leaves[i].data = len ? s->bytes + off : NULL;
        s->leaves[i].len_bytes = len;
        ref_leaf(s->bytes + off, len, s->lh[i]);
        off += len;
    }
}

static void leafset_free(leafset *s)
{
    free(s->bytes);
    free(s->leaves);
    free(s->lh);
}

/* ---- RFC reference values ---- */

static const char *const ct_leaves[8] = {
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};
static const char *const ct_roots[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void check_rfc_vectors(void)
{
    uint8_t data[8][16];
    certa_merkle_leaf leaves[8];
    h32 lh[8];
    for (int i = 0; i < 8; i++) {
        size_t len = strlen(ct_leaves[i]) / 2;
        cr_assert_eq(certa_hex_decode(ct_leaves[i], data[i], len), CERTA_OK);
        leaves[i].data = data[i];
        leaves[i].len_bytes = len;
        certa_merkle_leaf_hash(data[i], len, lh[i]);
    }
    for (size_t n = 0; n <= 8; n++) {
        uint8_t root[32];
        char hex[65];
        cr_assert_eq(certa_merkle_root_leaves(NULL, leaves, n, root, NULL), CERTA_OK);
        hex32(root, hex);
        cr_assert_str_eq(hex, ct_roots[n], "size %zu (%s)", n, certa_merkle_backend());
        cr_assert_eq(certa_merkle_root_hashes(NULL, (const uint8_t *)lh, n, root, NULL), CERTA_OK);
        hex32(root, hex);
        cr_assert_str_eq(hex, ct_roots[n], "hashes, size %zu", n);
        certa_merkle_tree *t = NULL;
        cr_assert_eq(certa_merkle_tree_build(NULL, (const uint8_t *)lh, n, &t, NULL), CERTA_OK);
        certa_merkle_tree_root(t, root);
        hex32(root, hex);
        cr_assert_str_eq(hex, ct_roots[n], "tree, size %zu", n);
        certa_merkle_tree_free(t);
    }

    certa_merkle_tree *t = NULL;
    cr_assert_eq(certa_merkle_tree_build(NULL, (const uint8_t *)lh, 8, &t, NULL), CERTA_OK);
    static const struct { size_t index; const char *path[3]; } incl[] = {
        {0, {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
        {5, {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    };
    uint8_t root8[32];
    unhex32(ct_roots[8], root8);
    for (size_t v = 0; v < 2; v++) {
        h32 path[CERTA_MERKLE_PATH_MAX];
        size_t len = 0;
        cr_assert_eq(certa_merkle_tree_inclusion(t, incl[v].index, path, &len, NULL), CERTA_OK);
        cr_assert_eq(len, 3);
        for (size_t i = 0; i < 3; i++) {
            char hex[65];
            hex32(path[i], hex);
            cr_assert_str_eq(hex, incl[v].path[i], "inclusion %zu [%zu]", incl[v].index, i);
        }
        cr_assert_eq(certa_merkle_verify_inclusion(incl[v].index, 8, lh[incl[v].index],
                                                   (const h32 *)path, len, root8, NULL),
                     CERTA_OK);
    }
    static const struct { size_t old; size_t len; const char *path[3]; } cons[] = {
        {2, 2, {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
        {6, 3, {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    };
    for (size_t v = 0; v < 2; v++) {
        h32 path[CERTA_MERKLE_CONSISTENCY_MAX];
        size_t len = 0;
        cr_assert_eq(certa_merkle_tree_consistency(t, cons[v].old, path, &len, NULL), CERTA_OK);
        cr_assert_eq(len, cons[v].len);
        for (size_t i = 0; i < len; i++) {
            char hex[65];
            hex32(path[i], hex);
            cr_assert_str_eq(hex, cons[v].path[i], "consistency %zu [%zu]", cons[v].old, i);
        }
        uint8_t old_root[32];
        unhex32(ct_roots[cons[v].old], old_root);
        cr_assert_eq(certa_merkle_verify_consistency(cons[v].old, 8, old_root, root8,
                                                     (const h32 *)path, len, NULL),
                     CERTA_OK);
    }
    certa_merkle_tree_free(t);
}

Test(merkle, rfc6962_reference_values)
{
    check_rfc_vectors();
    certa_mh_force_portable(true);
    check_rfc_vectors();
    certa_mh_force_portable(false);
}

/* ---- kernels against OpenSSL ---- */

static void check_kernels(void)
{
    uint8_t data[400], buf[401], want[32], got[32];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 29 + 3);
    for (size_t len = 0; len <= 300; len++) {
        buf[0] = 0x00;
        memcpy(buf + 1, data, len);
        certa_sha256(buf, len + 1, want);
        certa_merkle_leaf_hash(data, len, got);
        cr_assert_eq(memcmp(want, got, 32), 0, "leaf length %zu (%s)", len,
                     certa_merkle_backend());
    }
    /* pairs of leaves of every pair of lengths with different block counts,
     * at every alignment */
    for (size_t la = 0; la <= 200; la += 7)
        for (size_t lb = 0; lb <= 200; lb += 11) {
            certa_merkle_leaf two[2] = {{data + 1, la}, {data + 3, lb}};
            certa_mh_src src = {.leaves = two};
            uint8_t out[64], wa[32], wb[32];
            certa_mh_leaf_hashes(&src, 0, 2, out);
            ref_leaf(data + 1, la, wa);
            ref_leaf(data + 3, lb, wb);
            cr_assert_eq(memcmp(out, wa, 32), 0, "pair %zu/%zu a", la, lb);
            cr_assert_eq(memcmp(out + 32, wb, 32), 0, "pair %zu/%zu b", la, lb);
        }
    /* node levels of 1..9 pairs, in place and not */
    uint8_t in[18 * 32], out[9 * 32];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(i * 13 + 1);
    for (size_t pairs = 1; pairs <= 9; pairs++) {
        certa_mh_nodes(in, pairs, out);
        uint8_t copy[18 * 32];
        memcpy(copy, in, sizeof in);
        certa_mh_nodes(copy, pairs, copy);
        for (size_t p = 0; p < pairs; p++) {
            ref_node(in + 64 * p, in + 64 * p + 32, want);
            cr_assert_eq(memcmp(out + 32 * p, want, 32), 0, "node %zu/%zu", p, pairs);
            cr_assert_eq(memcmp(copy + 32 * p, want, 32), 0, "in place %zu/%zu", p, pairs);
        }
    }
}

Test(merkle, kernels_match_openssl)
{
    cr_log_info("SHA-NI available: %d", certa_mh_have_shani());
    check_kernels();
    certa_mh_force_portable(true);
    cr_assert_str_eq(certa_merkle_backend(), "portable");
    check_kernels();
    certa_mh_force_portable(false);
}

/* ---- whole levels: the 16-lane kernels and their leftovers ---- */

/* Batches of n leaves of mixed lengths (every block-count class the wide
 * kernels take, and longer ones they leave to the narrow kernels), and node
 * levels of n pairs in place and not, each hash against the reference. */
static void check_levels(void)
{
    enum { NMAX = 150, LMAX = 700 };
    static uint8_t data[NMAX * LMAX];
    static uint8_t got[NMAX * 32], in[2 * NMAX * 32], copy[2 * NMAX * 32];
    certa_merkle_leaf leaves[NMAX];
    uint8_t want[32];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 31 + (i >> 8));
    uint32_t x = 12345;
    for (size_t n = 1; n <= NMAX; n += (n < 70 ? 1 : 13)) {
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            /* mostly short (the common case), some up to 8 blocks, a few
             * beyond */
            size_t len = (x >> 16) % 10 < 6 ? 40 + (x >> 8) % 80
                                            : (x >> 8) % LMAX;
            leaves[i] = (certa_merkle_leaf){data + i * LMAX + (x & 7) % (LMAX - len + 1), len};
        }
        certa_mh_src src = {.leaves = leaves};
        certa_mh_leaf_hashes(&src, 0, n, got);
        for (size_t i = 0; i < n; i++) {
            ref_leaf(leaves[i].data, leaves[i].len_bytes, want);
            cr_assert_eq(memcmp(got + 32 * i, want, 32), 0,
                         "leaf %zu of %zu, %zu bytes (%s)", i, n,
                         leaves[i].len_bytes, certa_merkle_backend());
        }
        /* the same leaves split in two at 0..16 bytes: same hashes */
        certa_merkle_split_leaf split[NMAX];
        for (size_t i = 0; i < n; i++) {
            size_t hl = (i * 7 + n) % (CERTA_MERKLE_HEAD_MAX + 1);
            if (hl > leaves[i].len_bytes)
                hl = leaves[i].len_bytes;
            split[i] = (certa_merkle_split_leaf){
                .head = leaves[i].data, .head_len = (uint32_t)hl,
                .data = leaves[i].data + hl,
                .len_bytes = (uint32_t)(leaves[i].len_bytes - hl)};
        }
        certa_mh_src ssrc = {.split = split};
        memset(got, 0, 32 * n);
        certa_mh_leaf_hashes(&ssrc, 0, n, got);
        for (size_t i = 0; i < n; i++) {
            ref_leaf(leaves[i].data, leaves[i].len_bytes, want);
            cr_assert_eq(memcmp(got + 32 * i, want, 32), 0,
                         "split leaf %zu of %zu, %u + %u bytes (%s)", i, n,
                         split[i].head_len, split[i].len_bytes, certa_merkle_backend());
        }
        for (size_t i = 0; i < 2 * n * 32; i++)
            in[i] = (uint8_t)(i * 7 + n);
        memcpy(copy, in, 2 * n * 32);
        certa_mh_nodes(in, n, got);
        certa_mh_nodes(copy, n, copy);
        for (size_t p = 0; p < n; p++) {
            ref_node(in + 64 * p, in + 64 * p + 32, want);
            cr_assert_eq(memcmp(got + 32 * p, want, 32), 0, "node %zu of %zu (%s)",
                         p, n, certa_merkle_backend());
            cr_assert_eq(memcmp(copy + 32 * p, want, 32), 0,
                         "in place: node %zu of %zu", p, n);
        }
    }
}

Test(merkle, levels_match_reference_in_every_kernel)
{
    cr_log_info("AVX-512 available: %d", certa_mh_have_wide());
    check_levels();
    certa_mh_force_narrow(true);
    cr_assert(strcmp(certa_merkle_backend(), "avx512+sha-ni") != 0);
    check_levels();
    certa_mh_force_narrow(false);
    certa_mh_force_portable(true);
    check_levels();
    certa_mh_force_portable(false);
    if (certa_mh_have_wide() && certa_mh_have_shani())
        cr_assert_str_eq(certa_merkle_backend(), "avx512+sha-ni");
}

/* ---- roots of every size against the reference ---- */

static void check_size(const leafset *s, size_t n, certa_pool *pool)
{
    uint8_t want[32], got[32];
    ref_mth(s->lh, 0, n, want);
    cr_assert_eq(certa_merkle_root_leaves(pool, s->leaves, n, got, NULL), CERTA_OK);
    cr_assert_eq(memcmp(want, got, 32), 0, "leaves, size %zu (%s)", n,
                 certa_merkle_backend());
    cr_assert_eq(certa_merkle_root_hashes(pool, (const uint8_t *)s->lh, n, got, NULL),
                 CERTA_OK);
    cr_assert_eq(memcmp(want, got, 32), 0, "hashes, size %zu", n);
    /* split leaves (a 10-byte head as verify-chain uses, where it fits) */
    certa_merkle_split_leaf *sp = malloc((n + 1) * sizeof *sp);
    cr_assert(sp != NULL);
    for (size_t i = 0; i < n; i++) {
        size_t hl = s->leaves[i].len_bytes < 10 ? s->leaves[i].len_bytes : 10;
        sp[i] = (certa_merkle_split_leaf){.head = s->leaves[i].data, .head_len = (uint32_t)hl,
                                          .data = s->leaves[i].data + hl,
                                          .len_bytes = (uint32_t)(s->leaves[i].len_bytes - hl)};
    }
    cr_assert_eq(certa_merkle_root_split(pool, sp, n, got, NULL), CERTA_OK);
    cr_assert_eq(memcmp(want, got, 32), 0, "split, size %zu", n);
    free(sp);
}

static void check_fixed(size_t n, size_t leaf_bytes, certa_pool *pool)
{
    uint8_t *data = malloc(n * leaf_bytes + 1);
    h32 *lh = malloc((n + 1) * sizeof *lh);
    cr_assert(data && lh);
    for (size_t i = 0; i < n * leaf_bytes; i++)
        data[i] = (uint8_t)(i * 7 + (i >> 9));
    for (size_t i = 0; i < n; i++)
        ref_leaf(data + i * leaf_bytes, leaf_bytes, lh[i]);
    uint8_t want[32], got[32];
    ref_mth(lh, 0, n, want);
    cr_assert_eq(certa_merkle_root_fixed(pool, data, leaf_bytes, n, got, NULL), CERTA_OK);
    cr_assert_eq(memcmp(want, got, 32), 0, "fixed %zu x %zu bytes", n, leaf_bytes);
    free(data);
    free(lh);
}

Test(merkle, roots_match_reference_every_size)
{
    leafset s;
    leafset_make(&s, (1u << 16) + 1);
    for (int portable = 0; portable <= 1; portable++) {
        certa_mh_force_portable(portable);
        for (size_t n = 0; n <= 300; n++)
            check_size(&s, n, NULL);
        for (unsigned k = 2; k <= 16; k++)
            for (size_t n = ((size_t)1 << k) - 1; n <= ((size_t)1 << k) + 1; n++)
                check_size(&s, n, NULL);
    }
    certa_mh_force_portable(false);
    leafset_free(&s);
    for (size_t n = 0; n <= 40; n++)
        check_fixed(n, 128, NULL);
    check_fixed(5000, 128, NULL);
    check_fixed(2049, 0, NULL);
    check_fixed(3000, 63, NULL);
}

Test(merkle, roots_equal_at_1_2_8_threads)
{
    static const size_t sizes[] = {0, 1, 2, 1023, 1024, 1025, 8191, 8192, 8193,
                                   16384, 65535, 65536, 65537, 100003};
    leafset s;
    leafset_make(&s, 100003);
    certa_pool *pools[3] = {NULL, NULL, NULL};
    unsigned threads[3] = {1, 2, 8};
    for (int p = 0; p < 3; p++) {
        cr_assert_eq(certa_pool_create(threads[p], &pools[p], NULL), CERTA_OK);
        cr_assert_eq(certa_pool_threads(pools[p]), threads[p]);
    }
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t want[32], r[3][32];
        ref_mth(s.lh, 0, n, want);
        for (int p = 0; p < 3; p++) {
            cr_assert_eq(certa_merkle_root_leaves(pools[p], s.leaves, n, r[p], NULL), CERTA_OK);
            cr_assert_eq(memcmp(r[p], want, 32), 0, "size %zu, %u threads", n, threads[p]);
            check_size(&s, n, pools[p]);
        }
        /* leaf hashes and trees built in parallel agree too */
        h32 *lh = malloc((n + 1) * sizeof *lh);
        cr_assert_eq(certa_merkle_leaf_hashes(pools[1], s.leaves, n, (uint8_t *)lh, NULL),
                     CERTA_OK);
        cr_assert_eq(memcmp(lh, s.lh, 32 * n), 0, "leaf hashes, size %zu", n);
        certa_merkle_tree *t = NULL;
        cr_assert_eq(certa_merkle_tree_build(pools[2], (const uint8_t *)lh, n, &t, NULL), CERTA_OK);
        uint8_t tr[32];
        certa_merkle_tree_root(t, tr);
        cr_assert_eq(memcmp(tr, want, 32), 0, "tree, size %zu", n);
        certa_merkle_tree_free(t);
        free(lh);
    }
    for (int p = 0; p < 3; p++)
        certa_pool_destroy(pools[p]);
    check_fixed(70001, 128, NULL);
    leafset_free(&s);
}

/* ---- proofs ---- */

static void flip(uint8_t *p, size_t bit) { p[bit / 8] ^= (uint8_t)(1u << (bit % 8)); }

/* Bits to flip in a 32-byte hash: all of them for small trees, a spread
 * otherwise (keeps the run short). */
static size_t bit_step(size_t n) { return n <= 20 ? 1 : 29; }

Test(merkle, inclusion_every_index_and_every_flip)
{
    leafset s;
    leafset_make(&s, 64);
    size_t size_flips_valid = 0, size_flips = 0;
    for (size_t n = 1; n <= 64; n++) {
        certa_merkle_tree *t = NULL;
        cr_assert_eq(certa_merkle_tree_build(NULL, (const uint8_t *)s.lh, n, &t, NULL), CERTA_OK);
        uint8_t root[32];
        certa_merkle_tree_root(t, root);
        h32 want[64];
        size_t want_len;
        for (size_t m = 0; m < n; m++) {
            h32 path[CERTA_MERKLE_PATH_MAX + 1];
            size_t len = 0;
            cr_assert_eq(certa_merkle_tree_inclusion(t, m, path, &len, NULL), CERTA_OK);
            want_len = 0;
            ref_path(s.lh, m, 0, n, want, &want_len);
            cr_assert_eq(len, want_len, "n %zu m %zu", n, m);
            cr_assert_eq(memcmp(path, want, 32 * len), 0, "path n %zu m %zu", n, m);
            uint8_t leaf[32];
            certa_merkle_tree_leaf(t, m, leaf);
            cr_assert_eq(memcmp(leaf, s.lh[m], 32), 0);
            cr_assert_eq(certa_merkle_verify_inclusion(m, n, leaf, (const h32 *)path, len,
                                                       root, NULL),
                         CERTA_OK, "n %zu m %zu", n, m);
            cr_assert(ref_verify_inclusion(m, n, leaf, (const h32 *)path, len, root));

            for (size_t i = 0; i < len; i++)
                for (size_t b = 0; b < 256; b += bit_step(n)) {
                    flip(path[i], b);
                    cr_assert_neq(certa_merkle_verify_inclusion(m, n, leaf, (const h32 *)path,
                                                                len, root, NULL),
                                  CERTA_OK, "path[%zu] bit %zu n %zu m %zu", i, b, n, m);
                    flip(path[i], b);
                }
            for (size_t b = 0; b < 256; b += bit_step(n)) {
                flip(leaf, b);
                cr_assert_neq(certa_merkle_verify_inclusion(m, n, leaf, (const h32 *)path, len,
                                                            root, NULL), CERTA_OK);
                flip(leaf, b);
                flip(root, b);
                cr_assert_neq(certa_merkle_verify_inclusion(m, n, leaf, (const h32 *)path, len,
                                                            root, NULL), CERTA_OK);
                flip(root, b);
            }
            for (unsigned b = 0; b < 64; b++) {
                uint64_t m2 = (uint64_t)m ^ ((uint64_t)1 << b);
                cr_assert_neq(certa_merkle_verify_inclusion(m2, n, leaf, (const h32 *)path,
                                                            len, root, NULL),
                              CERTA_OK, "index bit %u n %zu m %zu", b, n, m);
                /* The root does not commit to the size (RFC 9162: the size
                 * is signed with the root). A flipped size must fail unless
                 * the same path is, by the RFC's definition, also a valid
                 * path for that size; the recursive reference decides. */
                uint64_t n2 = (uint64_t)n ^ ((uint64_t)1 << b);
                bool lib = certa_merkle_verify_inclusion(m, n2, leaf, (const h32 *)path, len,
                                                         root, NULL) == CERTA_OK;
                bool ref = ref_verify_inclusion(m, n2, leaf, (const h32 *)path, len, root);
                cr_assert_eq(lib, ref, "size bit %u n %zu m %zu: lib %d ref %d", b, n, m,
                             lib, ref);
                size_flips++;
                size_flips_valid += lib;
            }
            /* truncated and extended paths */
            if (len > 0)
                cr_assert_neq(certa_merkle_verify_inclusion(m, n, leaf, (const h32 *)path,
                                                            len - 1, root, NULL), CERTA_OK);
            memset(path[len], 0xab, 32);
            cr_assert_neq(certa_merkle_verify_inclusion(m, n, leaf, (const h32 *)path, len + 1,
                                                        root, NULL), CERTA_OK);
        }
        h32 path[CERTA_MERKLE_PATH_MAX];
        size_t len = 99;
        cr_assert_eq(certa_merkle_tree_inclusion(t, n, path, &len, NULL), CERTA_E_BAD_INDEX);
        cr_assert_eq(certa_merkle_verify_inclusion(n, n, s.lh[0], (const h32 *)path, 0, root,
                                                   NULL), CERTA_E_BAD_INDEX);
        certa_merkle_tree_free(t);
    }
    cr_log_info("size flips that stay valid proofs: %zu of %zu", size_flips_valid, size_flips);
    cr_assert_lt(size_flips_valid * 10, size_flips);
    leafset_free(&s);
}

Test(merkle, consistency_every_pair_and_every_flip)
{
    leafset s;
    leafset_make(&s, 48);
    h32 roots[49];
    for (size_t n = 0; n <= 48; n++)
        ref_mth(s.lh, 0, n, roots[n]);
    size_t size_flips_valid = 0, size_flips = 0;
    for (size_t n = 1; n <= 48; n++) {
        certa_merkle_tree *t = NULL;
        cr_assert_eq(certa_merkle_tree_build(NULL, (const uint8_t *)s.lh, n, &t, NULL), CERTA_OK);
        for (size_t m = 0; m <= n; m++) {
            h32 path[CERTA_MERKLE_CONSISTENCY_MAX + 1], want[CERTA_MERKLE_CONSISTENCY_MAX];
            size_t len = 0, want_len = 0;
            cr_assert_eq(certa_merkle_tree_consistency(t, m, path, &len, NULL), CERTA_OK);
            if (m > 0 && m < n)
                ref_subproof(s.lh, m, 0, n, true, want, &want_len);
            cr_assert_eq(len, want_len, "m %zu n %zu", m, n);
            cr_assert_eq(memcmp(path, want, 32 * len), 0, "m %zu n %zu", m, n);
            uint8_t o[32], nw[32];
            memcpy(o, roots[m], 32);
            memcpy(nw, roots[n], 32);
            cr_assert_eq(certa_merkle_verify_consistency(m, n, o, nw, (const h32 *)path, len,
                                                         NULL),
                         CERTA_OK, "m %zu n %zu", m, n);
            cr_assert(ref_verify_consistency(m, n, o, nw, (const h32 *)path, len));
            for (size_t i = 0; i < len; i++)
                for (size_t b = 0; b < 256; b += bit_step(n)) {
                    flip(path[i], b);
                    cr_assert_neq(certa_merkle_verify_consistency(m, n, o, nw,
                                                                  (const h32 *)path, len, NULL),
                                  CERTA_OK, "path[%zu] bit %zu m %zu n %zu", i, b, m, n);
                    flip(path[i], b);
                }
            for (size_t b = 0; b < 256; b += bit_step(n)) {
                flip(o, b);
                cr_assert_neq(certa_merkle_verify_consistency(m, n, o, nw, (const h32 *)path,
                                                              len, NULL),
                              CERTA_OK, "old root bit %zu m %zu n %zu", b, m, n);
                flip(o, b);
                /* every tree extends the empty one: from size 0 nothing
                 * about the new root can be checked */
                if (m == 0)
                    continue;
                flip(nw, b);
                cr_assert_neq(certa_merkle_verify_consistency(m, n, o, nw, (const h32 *)path,
                                                              len, NULL),
                              CERTA_OK, "new root bit %zu m %zu n %zu", b, m, n);
                flip(nw, b);
            }
            for (unsigned b = 0; b < 64; b++) {
                uint64_t m2 = (uint64_t)m ^ ((uint64_t)1 << b);
                uint64_t n2 = (uint64_t)n ^ ((uint64_t)1 << b);
                /* as for inclusion: a flipped size may only pass where the
                 * RFC's definition makes the same proof valid for it */
                bool lib = certa_merkle_verify_consistency(m2, n, o, nw, (const h32 *)path, len,
                                                           NULL) == CERTA_OK;
                bool ref = ref_verify_consistency(m2, n, o, nw, (const h32 *)path, len);
                cr_assert_eq(lib, ref, "old size bit %u m %zu n %zu", b, m, n);
                size_flips_valid += lib;
                lib = certa_merkle_verify_consistency(m, n2, o, nw, (const h32 *)path, len,
                                                      NULL) == CERTA_OK;
                ref = ref_verify_consistency(m, n2, o, nw, (const h32 *)path, len);
                cr_assert_eq(lib, ref, "new size bit %u m %zu n %zu", b, m, n);
                size_flips_valid += lib;
                size_flips += 2;
            }
            if (len > 0)
                cr_assert_neq(certa_merkle_verify_consistency(m, n, o, nw, (const h32 *)path,
                                                              len - 1, NULL), CERTA_OK);
            memset(path[len], 0xcd, 32);
            cr_assert_neq(certa_merkle_verify_consistency(m, n, o, nw, (const h32 *)path,
                                                          len + 1, NULL), CERTA_OK);
        }
        h32 path[CERTA_MERKLE_CONSISTENCY_MAX];
        size_t len = 0;
        cr_assert_eq(certa_merkle_tree_consistency(t, n + 1, path, &len, NULL),
                     CERTA_E_BAD_INDEX);
        cr_assert_eq(certa_merkle_verify_consistency(n + 1, n, roots[n], roots[n],
                                                     (const h32 *)path, 0, NULL),
                     CERTA_E_BAD_INDEX);
        certa_merkle_tree_free(t);
    }
    cr_log_info("size flips that stay valid proofs: %zu of %zu", size_flips_valid, size_flips);
    cr_assert_lt(size_flips_valid * 10, size_flips);
    leafset_free(&s);
}

Test(merkle, proofs_in_a_large_tree)
{
    const size_t n = 70001;
    leafset s;
    leafset_make(&s, n);
    certa_pool *pool = NULL;
    cr_assert_eq(certa_pool_create(2, &pool, NULL), CERTA_OK);
    certa_merkle_tree *t = NULL;
    cr_assert_eq(certa_merkle_tree_build(pool, (const uint8_t *)s.lh, n, &t, NULL), CERTA_OK);
    uint8_t root[32];
    certa_merkle_tree_root(t, root);
    static const size_t idx[] = {0, 1, 4095, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++) {
        h32 path[CERTA_MERKLE_PATH_MAX], want[CERTA_MERKLE_PATH_MAX];
        size_t len = 0, want_len = 0;
        cr_assert_eq(certa_merkle_tree_inclusion(t, idx[i], path, &len, NULL), CERTA_OK);
        ref_path(s.lh, idx[i], 0, n, want, &want_len);
        cr_assert_eq(len, want_len);
        cr_assert_eq(memcmp(path, want, 32 * len), 0, "index %zu", idx[i]);
        cr_assert_eq(certa_merkle_verify_inclusion(idx[i], n, s.lh[idx[i]], (const h32 *)path,
                                                   len, root, NULL), CERTA_OK);
        /* consistency from a prefix of the same size as the index + 1 */
        size_t m = idx[i] + 1;
        cr_assert_eq(certa_merkle_tree_consistency(t, m, path, &len, NULL), CERTA_OK);
        want_len = 0;
        if (m < n)
            ref_subproof(s.lh, m, 0, n, true, want, &want_len);
        cr_assert_eq(len, want_len);
        cr_assert_eq(memcmp(path, want, 32 * len), 0, "old size %zu", m);
        uint8_t old_root[32];
        ref_mth(s.lh, 0, m, old_root);
        cr_assert_eq(certa_merkle_verify_consistency(m, n, old_root, root, (const h32 *)path,
                                                     len, NULL), CERTA_OK);
    }
    certa_merkle_tree_free(t);
    certa_pool_destroy(pool);
    leafset_free(&s);
}

/* Split leaf hashes equal the hashes of the joined bytes, for every head and
 * data length mix (the node hashes each event behind its 10-byte head). */
Test(merkle, split_leaf_hashes_match_joined)
{
    enum { N = 300 };
    static uint8_t data[N][200], heads[N][16], joined[N][216];
    static certa_merkle_split_leaf sp[N];
    static uint8_t got[N][32];
    for (int i = 0; i < N; i++) {
        uint32_t hl = (uint32_t)(i % 17), dl = (uint32_t)((i * 37) % 200);
        for (uint32_t b = 0; b < hl; b++)
            heads[i][b] = (uint8_t)(i + 3 * b);
        for (uint32_t b = 0; b < dl; b++)
            data[i][b] = (uint8_t)(i * 7 + b);
        if (hl > CERTA_MERKLE_HEAD_MAX)
            hl = CERTA_MERKLE_HEAD_MAX;
        memcpy(joined[i], heads[i], hl);
        memcpy(joined[i] + hl, data[i], dl);
        sp[i] = (certa_merkle_split_leaf){.head = heads[i], .data = data[i], .head_len = hl,
                                          .len_bytes = dl};
    }
    cr_assert_eq(certa_merkle_split_leaf_hashes(NULL, sp, N, &got[0][0], NULL), CERTA_OK);
    for (int i = 0; i < N; i++) {
        uint8_t want[32];
        certa_merkle_leaf_hash(joined[i], sp[i].head_len + sp[i].len_bytes, want);
        cr_assert_eq(memcmp(want, got[i], 32), 0, "leaf %d", i);
    }
}

/* Groups of leaves whose last block holds little or no data in every lane
 * (the wide kernels build such a block without transposing rows): every
 * leaf length around each block boundary, all leaves of one length, and
 * lengths mixed within a few bytes, joined and split. */
Test(merkle, wide_last_block_tails)
{
    enum { N = 70, LMAX = 520 };
    static uint8_t data[N][LMAX];
    static certa_merkle_leaf lv[N];
    static certa_merkle_split_leaf sp[N];
    static uint8_t got[N][32];
    for (int i = 0; i < N; i++)
        for (int b = 0; b < LMAX; b++)
            data[i][b] = (uint8_t)(i * 13 + b * 7 + (b >> 3));
    for (size_t len = 40; len <= 8 * 64 - 10; len++) {
        for (int mix = 0; mix < 2; mix++) {
            for (int i = 0; i < N; i++) {
                /* mixed: lengths len-4 .. len, some leaves with a head */
                size_t l = mix ? len - (size_t)(i % 5) : len;
                lv[i] = (certa_merkle_leaf){data[i], l};
                uint32_t hl = mix ? (uint32_t)(i % 11) : 10;
                sp[i] = (certa_merkle_split_leaf){.head = data[i], .head_len = hl,
                                                  .data = data[i] + hl,
                                                  .len_bytes = (uint32_t)(l - hl)};
            }
            certa_mh_src src = {.leaves = lv};
            certa_mh_leaf_hashes(&src, 0, N, &got[0][0]);
            for (int i = 0; i < N; i++) {
                uint8_t want[32];
                ref_leaf(lv[i].data, lv[i].len_bytes, want);
                cr_assert_eq(memcmp(want, got[i], 32), 0, "leaf %d of length %zu (%s)", i,
                             lv[i].len_bytes, certa_merkle_backend());
            }
            certa_mh_src ssrc = {.split = sp};
            memset(got, 0, sizeof got);
            certa_mh_leaf_hashes(&ssrc, 0, N, &got[0][0]);
            for (int i = 0; i < N; i++) {
                uint8_t want[32];
                ref_leaf(lv[i].data, lv[i].len_bytes, want);
                cr_assert_eq(memcmp(want, got[i], 32), 0, "split leaf %d of length %zu", i,
                             lv[i].len_bytes);
            }
        }
    }
}

/* The compact range of an append-only log, fed block by block (blocks of
 * 0, 1, 2, 3, 5, ... leaves as a chain's blocks come), equals the RFC 6962
 * root recomputed from all leaves at every size, both by the reference
 * recursion and by the engine's root over leaf hashes. */
Test(merkle, frontier_matches_full_recomputation_at_every_size)
{
    enum { N = 2200 };
    h32 *lh = malloc(N * sizeof *lh);
    cr_assert_not_null(lh);
    for (size_t i = 0; i < N; i++) {
        uint8_t d[12];
        memcpy(d, &i, sizeof i);
        memcpy(d + 8, "leaf", 4);
        ref_leaf(d, sizeof d, lh[i]);
    }
    certa_merkle_frontier f;
    certa_merkle_frontier_init(&f);
    uint8_t root[32], want[32];
    certa_merkle_frontier_root(&f, root);
    certa_sha256("", 0, want);
    cr_assert_eq(memcmp(root, want, 32), 0, "empty log");
    size_t size = 0;
    static const size_t blocks[] = { 0, 1, 2, 3, 5, 8, 13, 1, 0, 64, 100, 255, 256, 257, 1 };
    size_t b = 0;
    while (size < N) {
        size_t n = blocks[b++ % (sizeof blocks / sizeof blocks[0])];
        if (n > N - size)
            n = N - size;
        /* the block's leaves one at a time: every size on the way */
        certa_merkle_frontier g = f;
        for (size_t k = 0; k < n; k++) {
            certa_merkle_frontier_append(&g, lh[size + k], 1);
            certa_merkle_frontier_root(&g, root);
            ref_mth(lh, 0, size + k + 1, want);
            cr_assert_eq(memcmp(root, want, 32), 0, "size %zu", size + k + 1);
        }
        /* and the whole block at once, as a validator feeds it */
        certa_merkle_frontier_append(&f, lh[size], n);
        size += n;
        cr_assert_eq(f.size, size);
        cr_assert_eq(memcmp(&f, &g, sizeof f), 0, "block to size %zu", size);
        certa_merkle_frontier_root(&f, root);
        cr_assert_eq(certa_merkle_root_hashes(NULL, lh[0], size, want, NULL), CERTA_OK);
        cr_assert_eq(memcmp(root, want, 32), 0, "block to size %zu", size);
    }
    /* the RFC 6962 test vector: the 8 reference leaves */
    static const char *const hexes[] = { "", "00", "10", "2021", "3031", "40414243",
                                         "5051525354555657",
                                         "606162636465666768696a6b6c6d6e6f" };
    certa_merkle_frontier_init(&f);
    for (int i = 0; i < 8; i++) {
        uint8_t d[16], h[32];
        size_t len = strlen(hexes[i]) / 2;
        cr_assert_eq(certa_hex_decode(hexes[i], d, len), CERTA_OK);
        certa_merkle_leaf_hash(d, len, h);
        certa_merkle_frontier_append(&f, h, 1);
    }
    certa_merkle_frontier_root(&f, root);
    cr_assert_eq(certa_hex_decode("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
                                  want, 32), CERTA_OK);
    cr_assert_eq(memcmp(root, want, 32), 0);
    free(lh);
}

/* The level step and the fixed-stride leaf hashes the kernel-limit
 * benchmark times are the same hashes one at a time, in every kernel. */
Test(merkle, node_hashes_and_fixed_leaf_hashes)
{
    enum { N = 1037, LB = 128 };
    uint8_t *data = malloc((size_t)N * LB), *got = malloc(64 * N), *one = malloc(32);
    cr_assert(data != NULL && got != NULL && one != NULL);
    for (size_t i = 0; i < (size_t)N * LB; i++)
        data[i] = (uint8_t)(i * 131 + 7);
    for (int k = 0; k < 3; k++) {
        certa_mh_force_portable(k == 2);
        certa_mh_force_narrow(k >= 1);
        cr_assert_eq(certa_merkle_fixed_leaf_hashes(NULL, data, LB, N, got, NULL), CERTA_OK);
        for (size_t i = 0; i < N; i++) {
            certa_merkle_leaf_hash(data + i * LB, LB, one);
            cr_assert_eq(memcmp(got + 32 * i, one, 32), 0, "leaf %zu, kernel %d", i, k);
        }
        /* N/2 pairs of those hashes, in place as a tree level does it */
        uint8_t *in = malloc(64 * N);
        cr_assert(in != NULL);
        memcpy(in, got, 32 * N);
        certa_merkle_node_hashes(got, N / 2, got);
        for (size_t i = 0; i < N / 2; i++) {
            certa_merkle_node_hash(in + 64 * i, in + 64 * i + 32, one);
            cr_assert_eq(memcmp(got + 32 * i, one, 32), 0, "node %zu, kernel %d", i, k);
        }
        free(in);
    }
    certa_mh_force_portable(false);
    certa_mh_force_narrow(false);
    free(data);
    free(got);
    free(one);
}
