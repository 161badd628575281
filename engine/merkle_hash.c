/* merkle_hash: SHA-256 compression kernels for RFC 6962 leaves and nodes.
 *
 * The message of a leaf is 0x00 || data; of a node 0x01 || left || right
 * (65 bytes: two blocks, the second one constant but for its first byte).
 * Blocks that lie wholly inside the data are compressed in place; the first
 * (prefix) and the last (padding) are assembled in a 64-byte buffer.
 * Two messages are hashed together: SHA-NI round instructions have a latency
 * several times their throughput, so a second independent chain fills the
 * gaps.
 * The SHA-NI state is kept in the instructions' own layout (ABEF, CDGH) from
 * the IV to the digest; the portable state is the standard H0..H7.
 * Invariant: every kernel's output equals SHA-256 of the message (tested
 * against OpenSSL for every length 0..300 in both back ends).
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "merkle_hash.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/sha.h>

#include "certa/wire.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define MH_X86 1
#endif

static const uint32_t sha256_iv[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/* One leaf as the kernels see it: its bytes are head[0..hl) || d[0..len)
 * (hl is 0 but for split leaves). */
typedef struct leaf_ref {
    const uint8_t *h;
    const uint8_t *d;
    size_t hl, len;
} leaf_ref;

/* ---- message assembly ---- */

/* Blocks of the padded message 0x00 || leaf bytes (len of them). */
static inline size_t msg_blocks(size_t len)
{
    return (len + 1 + 8) / 64 + 1;
}

/* Block j of the padded leaf message: a pointer into the data when the
 * block lies inside it, else assembled in buf. */
static inline const uint8_t *msg_block(const leaf_ref *l, size_t j, size_t nb,
                                       uint8_t *buf)
{
    size_t dstart = 1 + l->hl;          /* message offset of d[0] */
    size_t total = dstart + l->len, start = 64 * j;
    if (start >= dstart && start + 64 <= total)
        return l->d + (start - dstart);
    memset(buf, 0, 64);
    size_t end = total < start + 64 ? total : start + 64;
    if (j == 0) {
        /* buf[0] = 0x00, the leaf prefix */
        if (l->hl > 0)
            memcpy(buf + 1, l->h, l->hl); /* hl <= CERTA_MERKLE_HEAD_MAX < 63 */
    }
    size_t from = start > dstart ? start : dstart;
    if (end > from)
        memcpy(buf + (from - start), l->d + (from - dstart), end - from);
    if (total >= start && total < start + 64)
        buf[total - start] = 0x80;
    if (j == nb - 1)
        certa_put_be64(buf + 56, (uint64_t)total * 8);
    return buf;
}

typedef struct mh_backend {
    const char *name;
    uint32_t iv[8] __attribute__((aligned(16)));
    void (*c1)(uint32_t *st, const uint8_t *blk);
    void (*c2)(uint32_t *sa, const uint8_t *ba, uint32_t *sb, const uint8_t *bb);
    void (*digest)(const uint32_t *st, uint8_t *out);
} mh_backend;

/* ---- portable back end: OpenSSL's block function ---- */

static void port_c1(uint32_t *st, const uint8_t *blk)
{
    SHA256_CTX c;
    memcpy(c.h, st, 32);
    SHA256_Transform(&c, blk);
    memcpy(st, c.h, 32);
}

static void port_c2(uint32_t *sa, const uint8_t *ba, uint32_t *sb,
                    const uint8_t *bb)
{
    port_c1(sa, ba);
    port_c1(sb, bb);
}

static void port_digest(const uint32_t *st, uint8_t *out)
{
    for (int i = 0; i < 8; i++)
        certa_put_be32(out + 4 * i, st[i]);
}

static mh_backend be_portable = {
    .name = "portable", .c1 = port_c1, .c2 = port_c2, .digest = port_digest,
};

/* ---- SHA-NI back end ---- */
#ifdef MH_X86
#define NI_TARGET __attribute__((target("sha,sse4.1,ssse3")))

static const uint32_t K256[64] __attribute__((aligned(16))) = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define NI_BSWAP_MASK _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL)

/* Four rounds (group g of 16) of one message: cur holds W[4g..4g+3]; the
 * schedule for later groups is advanced in nxt and prv. */
#define NI_GROUP(g, S0, S1, cur, nxt, prv)                                    \
    do {                                                                      \
        __m128i m_ = _mm_add_epi32(                                           \
            cur, _mm_load_si128((const __m128i *)&K256[4 * (g)]));            \
        S1 = _mm_sha256rnds2_epu32(S1, S0, m_);                               \
        if ((g) >= 3 && (g) <= 14)                                            \
            nxt = _mm_sha256msg2_epu32(                                       \
                _mm_add_epi32(nxt, _mm_alignr_epi8(cur, prv, 4)), cur);       \
        m_ = _mm_shuffle_epi32(m_, 0x0E);                                     \
        S0 = _mm_sha256rnds2_epu32(S0, S1, m_);                               \
        if ((g) >= 1 && (g) <= 12)                                            \
            prv = _mm_sha256msg1_epu32(prv, cur);                             \
    } while (0)

#define NI_GROUP2(g, c, n, p)                                                 \
    do {                                                                      \
        NI_GROUP(g, a0, a1, A##c, A##n, A##p);                                \
        NI_GROUP(g, b0, b1, B##c, B##n, B##p);                                \
    } while (0)

#define NI_ALL_GROUPS(G)                                                      \
    G(0, 0, 1, 3); G(1, 1, 2, 0); G(2, 2, 3, 1); G(3, 3, 0, 2);               \
    G(4, 0, 1, 3); G(5, 1, 2, 0); G(6, 2, 3, 1); G(7, 3, 0, 2);               \
    G(8, 0, 1, 3); G(9, 1, 2, 0); G(10, 2, 3, 1); G(11, 3, 0, 2);             \
    G(12, 0, 1, 3); G(13, 1, 2, 0); G(14, 2, 3, 1); G(15, 3, 0, 2)

NI_TARGET static void ni_c2(uint32_t *sa, const uint8_t *ba, uint32_t *sb,
                            const uint8_t *bb)
{
    const __m128i mask = NI_BSWAP_MASK;
    __m128i a0 = _mm_load_si128((const __m128i *)sa);
    __m128i a1 = _mm_load_si128((const __m128i *)(sa + 4));
    __m128i b0 = _mm_load_si128((const __m128i *)sb);
    __m128i b1 = _mm_load_si128((const __m128i *)(sb + 4));
    const __m128i a0s = a0, a1s = a1, b0s = b0, b1s = b1;
    __m128i A0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)ba), mask);
    __m128i A1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(ba + 16)), mask);
    __m128i A2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(ba + 32)), mask);
    __m128i A3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(ba + 48)), mask);
    __m128i B0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)bb), mask);
    __m128i B1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(bb + 16)), mask);
    __m128i B2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(bb + 32)), mask);
    __m128i B3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(bb + 48)), mask);
    NI_ALL_GROUPS(NI_GROUP2);
    _mm_store_si128((__m128i *)sa, _mm_add_epi32(a0, a0s));
    _mm_store_si128((__m128i *)(sa + 4), _mm_add_epi32(a1, a1s));
    _mm_store_si128((__m128i *)sb, _mm_add_epi32(b0, b0s));
    _mm_store_si128((__m128i *)(sb + 4), _mm_add_epi32(b1, b1s));
}

#define NI_GROUP1(g, c, n, p) NI_GROUP(g, a0, a1, A##c, A##n, A##p)

NI_TARGET static void ni_c1(uint32_t *sa, const uint8_t *ba)
{
    const __m128i mask = NI_BSWAP_MASK;
    __m128i a0 = _mm_load_si128((const __m128i *)sa);
    __m128i a1 = _mm_load_si128((const __m128i *)(sa + 4));
    const __m128i a0s = a0, a1s = a1;
    __m128i A0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)ba), mask);
    __m128i A1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(ba + 16)), mask);
    __m128i A2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(ba + 32)), mask);
    __m128i A3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(ba + 48)), mask);
    NI_ALL_GROUPS(NI_GROUP1);
    _mm_store_si128((__m128i *)sa, _mm_add_epi32(a0, a0s));
    _mm_store_si128((__m128i *)(sa + 4), _mm_add_epi32(a1, a1s));
}

/* Standard H0..H7 -> (ABEF, CDGH) as the round instructions want them. */
NI_TARGET static void ni_from_std(const uint32_t *h, uint32_t *st)
{
    __m128i tmp = _mm_loadu_si128((const __m128i *)h);
    __m128i s1 = _mm_loadu_si128((const __m128i *)(h + 4));
    tmp = _mm_shuffle_epi32(tmp, 0xB1);          /* CDAB */
    s1 = _mm_shuffle_epi32(s1, 0x1B);            /* EFGH */
    __m128i s0 = _mm_alignr_epi8(tmp, s1, 8);    /* ABEF */
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);         /* CDGH */
    _mm_store_si128((__m128i *)st, s0);
    _mm_store_si128((__m128i *)(st + 4), s1);
}

NI_TARGET static void ni_digest(const uint32_t *st, uint8_t *out)
{
    __m128i s0 = _mm_load_si128((const __m128i *)st);
    __m128i s1 = _mm_load_si128((const __m128i *)(st + 4));
    __m128i tmp = _mm_shuffle_epi32(s0, 0x1B);  /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);           /* DCHG */
    s0 = _mm_blend_epi16(tmp, s1, 0xF0);        /* DCBA */
    s1 = _mm_alignr_epi8(s1, tmp, 8);           /* HGFE */
    const __m128i mask = NI_BSWAP_MASK;
    _mm_storeu_si128((__m128i *)out, _mm_shuffle_epi8(s0, mask));
    _mm_storeu_si128((__m128i *)(out + 16), _mm_shuffle_epi8(s1, mask));
}

static mh_backend be_shani = {
    .name = "sha-ni", .c1 = ni_c1, .c2 = ni_c2, .digest = ni_digest,
};

static bool cpu_has_shani(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) ||
        !(c & bit_SSSE3))
        return false;
    if (__get_cpuid_max(0, NULL) < 7)
        return false;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & bit_SHA) != 0;
}

/* ---- AVX-512 back end: 16 messages per vector, two vectors at a time ----
 * Each 512-bit register holds one state (or message) word of 16 messages,
 * so one pass of the 64 rounds advances 16 independent hashes; two such
 * sets are interleaved because one alone waits on the rounds' latency.
 * State words are kept in the standard H0..H7 order. Used for whole levels
 * (32 leaves or nodes at a time); the few left over go to the SHA-NI or
 * portable kernels above. */
#define X16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))
#define X16_LANES 16
#define X16_MAX_BLOCKS 8 /* leaves up to 8 blocks (<= 502 bytes) go wide */

/* Message words of two sets, word-major: w[set][t][lane], host order. */
typedef struct x16_msg {
    uint32_t w[2][16][X16_LANES] __attribute__((aligned(64)));
} x16_msg;

/* State of two sets: s[set][i][lane], H0..H7. */
typedef struct x16_state {
    uint32_t s[2][8][X16_LANES] __attribute__((aligned(64)));
} x16_state;

#define X16_ROR(x, n) _mm512_ror_epi32(x, n)
#define X16_XOR3(a, b, c) _mm512_ternarylogic_epi32(a, b, c, 0x96)
#define X16_CH(e, f, g) _mm512_ternarylogic_epi32(e, f, g, 0xCA)
#define X16_MAJ(a, b, c) _mm512_ternarylogic_epi32(a, b, c, 0xE8)
#define X16_ADD(a, b) _mm512_add_epi32(a, b)

/* One round on one set of 16 messages; wk is W[t] + K[t]. */
X16_TARGET static inline void x16_round(__m512i *a, __m512i *b, __m512i *c, __m512i *d,
                                        __m512i *e, __m512i *f, __m512i *g, __m512i *h,
                                        __m512i wk)
{
    __m512i t1 = X16_ADD(X16_ADD(*h, wk),
                         X16_ADD(X16_XOR3(X16_ROR(*e, 6), X16_ROR(*e, 11), X16_ROR(*e, 25)),
                                 X16_CH(*e, *f, *g)));
    __m512i t2 = X16_ADD(X16_XOR3(X16_ROR(*a, 2), X16_ROR(*a, 13), X16_ROR(*a, 22)),
                         X16_MAJ(*a, *b, *c));
    *h = *g;
    *g = *f;
    *f = *e;
    *e = X16_ADD(*d, t1);
    *d = *c;
    *c = *b;
    *b = *a;
    *a = X16_ADD(t1, t2);
}

/* One compression of 32 messages; lanes outside mask[set] keep their
 * state (their message words are ignored). */
X16_TARGET static void x16_compress(x16_state *st, const x16_msg *m,
                                    const __mmask16 mask[2])
{
    __m512i w[2][64];
    for (int s = 0; s < 2; s++) {
        for (int t = 0; t < 16; t++)
            w[s][t] = _mm512_load_si512((const void *)m->w[s][t]);
#pragma GCC unroll 48
        for (int t = 16; t < 64; t++) {
            __m512i w15 = w[s][t - 15], w2 = w[s][t - 2];
            __m512i s0 = X16_XOR3(X16_ROR(w15, 7), X16_ROR(w15, 18),
                                  _mm512_srli_epi32(w15, 3));
            __m512i s1 = X16_XOR3(X16_ROR(w2, 17), X16_ROR(w2, 19),
                                  _mm512_srli_epi32(w2, 10));
            w[s][t] = X16_ADD(X16_ADD(w[s][t - 16], s0),
                              X16_ADD(s1, w[s][t - 7]));
            /* w[t - 16] has had its last use in the schedule: fold its
             * round constant in now, off the rounds' dependency chain */
            w[s][t - 16] = X16_ADD(w[s][t - 16],
                                   _mm512_set1_epi32((int)K256[t - 16]));
        }
        for (int t = 48; t < 64; t++)
            w[s][t] = X16_ADD(w[s][t], _mm512_set1_epi32((int)K256[t]));
    }
    __m512i a = _mm512_load_si512((const void *)st->s[0][0]);
    __m512i b = _mm512_load_si512((const void *)st->s[0][1]);
    __m512i c = _mm512_load_si512((const void *)st->s[0][2]);
    __m512i d = _mm512_load_si512((const void *)st->s[0][3]);
    __m512i e = _mm512_load_si512((const void *)st->s[0][4]);
    __m512i f = _mm512_load_si512((const void *)st->s[0][5]);
    __m512i g = _mm512_load_si512((const void *)st->s[0][6]);
    __m512i h = _mm512_load_si512((const void *)st->s[0][7]);
    __m512i A = _mm512_load_si512((const void *)st->s[1][0]);
    __m512i B = _mm512_load_si512((const void *)st->s[1][1]);
    __m512i C = _mm512_load_si512((const void *)st->s[1][2]);
    __m512i D = _mm512_load_si512((const void *)st->s[1][3]);
    __m512i E = _mm512_load_si512((const void *)st->s[1][4]);
    __m512i F = _mm512_load_si512((const void *)st->s[1][5]);
    __m512i G = _mm512_load_si512((const void *)st->s[1][6]);
    __m512i H = _mm512_load_si512((const void *)st->s[1][7]);
#pragma GCC unroll 64
    for (int t = 0; t < 64; t++) {
        /* the two sets' rounds side by side: each one alone waits on its
         * own dependency chain */
        x16_round(&a, &b, &c, &d, &e, &f, &g, &h, w[0][t]);
        x16_round(&A, &B, &C, &D, &E, &F, &G, &H, w[1][t]);
    }
    const __m512i out0[8] = {a, b, c, d, e, f, g, h};
    const __m512i out1[8] = {A, B, C, D, E, F, G, H};
    for (int i = 0; i < 8; i++) {
        __m512i o = _mm512_load_si512((const void *)st->s[0][i]);
        _mm512_store_si512((void *)st->s[0][i],
                           _mm512_mask_add_epi32(o, mask[0], o, out0[i]));
        o = _mm512_load_si512((const void *)st->s[1][i]);
        _mm512_store_si512((void *)st->s[1][i],
                           _mm512_mask_add_epi32(o, mask[1], o, out1[i]));
    }
}

/* Node level words: w = 0x01 || x (the 16 big-endian words of left||right)
 * shifted by one byte, and the constant second block around x's last byte. */
X16_TARGET static void x16_node_blocks(const x16_msg *x, x16_msg *b0,
                                       x16_msg *b1)
{
    for (int s = 0; s < 2; s++) {
        __m512i prev = _mm512_set1_epi32(0x01);
        for (int t = 0; t < 16; t++) {
            __m512i cur = _mm512_load_si512((const void *)x->w[s][t]);
            __m512i v = _mm512_or_si512(_mm512_slli_epi32(prev, 24),
                                        _mm512_srli_epi32(cur, 8));
            _mm512_store_si512((void *)b0->w[s][t], v);
            prev = cur;
        }
        _mm512_store_si512((void *)b1->w[s][0],
                           _mm512_or_si512(_mm512_slli_epi32(prev, 24),
                                           _mm512_set1_epi32(0x00800000)));
    }
}

/* Rows r[0..15] of 16 words each become columns: r[w] lane i = old r[i]
 * word w. Unpacks within 128-bit lanes, then 128-bit shuffles. */
X16_TARGET static inline void x16_transpose(__m512i r[16])
{
    __m512i t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    /* u[4q + c] 128-bit lane L = word 4L + c of rows 4q .. 4q + 3 */
    for (int q = 0; q < 4; q++) {
        u[4 * q + 0] = _mm512_unpacklo_epi64(t[4 * q + 0], t[4 * q + 2]);
        u[4 * q + 1] = _mm512_unpackhi_epi64(t[4 * q + 0], t[4 * q + 2]);
        u[4 * q + 2] = _mm512_unpacklo_epi64(t[4 * q + 1], t[4 * q + 3]);
        u[4 * q + 3] = _mm512_unpackhi_epi64(t[4 * q + 1], t[4 * q + 3]);
    }
    for (int c = 0; c < 4; c++) {
        __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x44);
        __m512i v1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xEE);
        __m512i w0 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x44);
        __m512i w1 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xEE);
        r[0 + c] = _mm512_shuffle_i32x4(v0, w0, 0x88);
        r[4 + c] = _mm512_shuffle_i32x4(v0, w0, 0xDD);
        r[8 + c] = _mm512_shuffle_i32x4(v1, w1, 0x88);
        r[12 + c] = _mm512_shuffle_i32x4(v1, w1, 0xDD);
    }
}

/* Byte order of each 32-bit word reversed (big-endian message words). */
X16_TARGET static inline __m512i x16_bswap(__m512i v)
{
    const __m512i m = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607,
                                        0x00010203);
    return _mm512_shuffle_epi8(v, m);
}

/* Bytes [lo, hi) of a 64-byte block as a load mask. */
static inline uint64_t x16_byte_mask(size_t lo, size_t hi)
{
    if (hi <= lo)
        return 0;
    return (hi >= 64 ? ~0ull : (1ull << hi) - 1) & ~((1ull << lo) - 1);
}

/* Block j (of nb) of the padded message 0x00 || head || data, as 16
 * host-order words. Masked byte loads never touch memory outside the head
 * and the data (masked-off bytes do not fault). */
X16_TARGET static inline __m512i x16_leaf_row(const leaf_ref *l, size_t j, size_t nb)
{
    size_t start = 64 * j;          /* message offset of the block */
    size_t dstart = 1 + l->hl;      /* message offset of the data */
    size_t end = dstart + l->len;   /* the data ends there */
    size_t lo = dstart > start ? dstart - start : 0;
    size_t hi = end > start ? (end - start < 64 ? end - start : 64) : 0;
    uintptr_t at = (uintptr_t)l->d + start - dstart;
    if (hi > lo && ((at ^ (at + lo)) >= 4096 || ((at + 63) ^ (at + hi - 1)) >= 4096)) {
        /* The 64 bytes at `at` reach into a page the data does not touch:
         * a masked load may take a slow path there (fault suppression), so
         * assemble this block byte by byte instead. */
        uint8_t buf[64];
        return x16_bswap(_mm512_loadu_si512((const void *)msg_block(l, j, nb, buf)));
    }
    __m512i v = _mm512_maskz_loadu_epi8((__mmask64)x16_byte_mask(lo, hi),
                                        (const void *)at);
    if (j == 0 && l->hl > 0) {
        /* the head (<= 16 bytes) into message bytes 1..hl: loaded from h
         * itself, then moved up one byte (a masked load that starts before
         * h can take a slow path where h begins its page) */
        __m128i hd = _mm_maskz_loadu_epi8((__mmask16)((1u << l->hl) - 1), l->h);
        if (l->hl == CERTA_MERKLE_HEAD_MAX) /* its last byte lands in lane 1 */
            v = _mm512_mask_set1_epi8(v, (__mmask64)1 << 16,
                                      (char)l->h[CERTA_MERKLE_HEAD_MAX - 1]);
        v = _mm512_or_si512(v, _mm512_zextsi128_si512(_mm_bslli_si128(hd, 1)));
    }
    if (end >= start && end < start + 64)
        v = _mm512_mask_set1_epi8(v, (__mmask64)(1ull << (end - start)),
                                  (char)0x80);
    if (j == nb - 1)
        v = _mm512_mask_set1_epi64(
            v, 0x80, (long long)__builtin_bswap64((uint64_t)end * 8));
    return x16_bswap(v);
}

/* Message words of block j for n (1..32) leaves into m (lanes >= n zero). */
X16_TARGET static void x16_leaf_block(const leaf_ref *lv, unsigned n, size_t j,
                                      size_t nb, x16_msg *m)
{
    if (j > 0 && j == nb - 1) {
        /* A last block whose data, in every lane, ends within its first 3
         * bytes (or ended before it): word 0 holds that tail and the 0x80,
         * word 15 the bit length, the rest is zero; no rows to build and
         * transpose. Short leaves such as a CONFIRM event are that way.
         * Leaves of <= 8 blocks keep the bit length below 2^32, so word 14
         * is zero. */
        size_t start = 64 * j;
        bool short_tail = true;
        for (unsigned k = 0; k < n && short_tail; k++)
            short_tail = 1 + lv[k].hl + lv[k].len <= start + 3;
        if (short_tail) {
            memset(m, 0, sizeof *m);
            for (unsigned k = 0; k < n; k++) {
                const leaf_ref *l = &lv[k];
                size_t end = 1 + l->hl + l->len; /* message bytes */
                uint32_t w0 = 0;
                for (size_t p = start; p < end; p++) /* data: start > 1 + hl */
                    w0 |= (uint32_t)l->d[p - 1 - l->hl] << (24 - 8 * (p - start));
                if (end >= start)
                    w0 |= 0x80u << (24 - 8 * (end - start));
                m->w[k / 16][0][k % 16] = w0;
                m->w[k / 16][15][k % 16] = (uint32_t)(end * 8);
            }
            return;
        }
    }
    for (unsigned s = 0; s < 2; s++) {
        __m512i r[16];
        for (unsigned l = 0; l < 16; l++) {
            unsigned k = 16 * s + l;
            r[l] = k < n ? x16_leaf_row(&lv[k], j, nb) : _mm512_setzero_si512();
        }
        x16_transpose(r);
        for (int t = 0; t < 16; t++)
            _mm512_store_si512((void *)m->w[s][t], r[t]);
    }
}

/* The 16 big-endian words of left || right of n (1..32) pairs at in. */
X16_TARGET static void x16_pair_words(const uint8_t *in, unsigned n, x16_msg *x)
{
    for (unsigned s = 0; s < 2; s++) {
        __m512i r[16];
        for (unsigned l = 0; l < 16; l++) {
            unsigned k = 16 * s + l;
            r[l] = k < n ? x16_bswap(_mm512_loadu_si512((const void *)(in + 64 * (size_t)k)))
                         : _mm512_setzero_si512();
        }
        x16_transpose(r);
        for (int t = 0; t < 16; t++)
            _mm512_store_si512((void *)x->w[s][t], r[t]);
    }
}

/* Digests of lanes 0..n-1 to dst[k] (32 bytes each). */
X16_TARGET static void x16_digests(const x16_state *st, unsigned n,
                                   uint8_t *const *dst)
{
    for (unsigned s = 0; s < 2 && 16 * s < n; s++) {
        __m512i r[16];
        for (int i = 0; i < 8; i++)
            r[i] = _mm512_load_si512((const void *)st->s[s][i]);
        for (int i = 8; i < 16; i++)
            r[i] = _mm512_setzero_si512();
        x16_transpose(r);
        for (unsigned l = 0; l < 16 && 16 * s + l < n; l++)
            _mm256_storeu_si256((__m256i *)(void *)dst[16 * s + l],
                                _mm512_castsi512_si256(x16_bswap(r[l])));
    }
}

static bool cpu_has_avx512(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
        return false;
    if (__get_cpuid_max(0, NULL) < 7)
        return false;
    __cpuid_count(7, 0, a, b, c, d);
    if (!(b & bit_AVX512F) || !(b & bit_AVX512BW) || !(b & bit_AVX512VL))
        return false;
    /* the OS must save the opmask and zmm registers (XCR0 bits 1,2,5,6,7) */
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & 0xE6u) == 0xE6u;
}
#endif /* MH_X86 */

/* ---- selection ---- */

static pthread_once_t mh_once = PTHREAD_ONCE_INIT;
static bool mh_shani;
static bool mh_wide;
static atomic_bool mh_portable_forced;
static atomic_bool mh_wide_off;

static void mh_init(void)
{
    memcpy(be_portable.iv, sha256_iv, sizeof sha256_iv);
#ifdef MH_X86
    mh_shani = cpu_has_shani();
    mh_wide = cpu_has_avx512();
    if (mh_shani)
        ni_from_std(sha256_iv, be_shani.iv);
#endif
}

static const mh_backend *backend(void)
{
    pthread_once(&mh_once, mh_init);
#ifdef MH_X86
    if (mh_shani && !atomic_load_explicit(&mh_portable_forced,
                                          memory_order_relaxed))
        return &be_shani;
#endif
    return &be_portable;
}

bool certa_mh_have_shani(void)
{
    pthread_once(&mh_once, mh_init);
    return mh_shani;
}

void certa_mh_force_portable(bool on)
{
    atomic_store(&mh_portable_forced, on);
}

bool certa_mh_have_wide(void)
{
    pthread_once(&mh_once, mh_init);
    return mh_wide;
}

void certa_mh_force_narrow(bool on)
{
    atomic_store(&mh_wide_off, on);
}

/* The 16-lane kernels run for whole levels when the CPU has them and
 * neither the portable nor the narrow kernels are forced. */
static bool wide(void)
{
    pthread_once(&mh_once, mh_init);
    return mh_wide &&
           !atomic_load_explicit(&mh_portable_forced, memory_order_relaxed) &&
           !atomic_load_explicit(&mh_wide_off, memory_order_relaxed);
}

const char *certa_mh_backend(void)
{
    const mh_backend *be = backend();
    if (wide())
        return be == &be_shani ? "avx512+sha-ni" : "avx512+portable";
    return be->name;
}

static inline void leaf_at(const certa_mh_src *src, size_t i, leaf_ref *l)
{
    if (src->split != NULL) {
        const certa_merkle_split_leaf *x = &src->split[i];
        *l = (leaf_ref){.h = x->head, .hl = x->head_len, .d = x->data, .len = x->len_bytes};
        CERTA_ASSERT(l->hl <= CERTA_MERKLE_HEAD_MAX);
    } else if (src->leaves != NULL) {
        *l = (leaf_ref){.d = src->leaves[i].data, .len = src->leaves[i].len_bytes};
    } else {
        *l = (leaf_ref){.d = src->base + i * src->leaf_bytes, .len = src->leaf_bytes};
    }
}

static void leaf1(const mh_backend *be, const leaf_ref *l, uint8_t *out)
{
    uint32_t st[8] __attribute__((aligned(16)));
    uint8_t buf[64];
    memcpy(st, be->iv, sizeof st);
    size_t nb = msg_blocks(l->hl + l->len);
    for (size_t j = 0; j < nb; j++)
        be->c1(st, msg_block(l, j, nb, buf));
    be->digest(st, out);
}

static void leaf2(const mh_backend *be, const leaf_ref *a, uint8_t *outa,
                  const leaf_ref *b, uint8_t *outb)
{
    uint32_t sa[8] __attribute__((aligned(16)));
    uint32_t sb[8] __attribute__((aligned(16)));
    uint8_t bufa[64], bufb[64];
    memcpy(sa, be->iv, sizeof sa);
    memcpy(sb, be->iv, sizeof sb);
    size_t na = msg_blocks(a->hl + a->len), nb = msg_blocks(b->hl + b->len);
    size_t both = na < nb ? na : nb;
    for (size_t j = 0; j < both; j++)
        be->c2(sa, msg_block(a, j, na, bufa), sb, msg_block(b, j, nb, bufb));
    for (size_t j = both; j < na; j++)
        be->c1(sa, msg_block(a, j, na, bufa));
    for (size_t j = both; j < nb; j++)
        be->c1(sb, msg_block(b, j, nb, bufb));
    be->digest(sa, outa);
    be->digest(sb, outb);
}

static void leaves_narrow(const mh_backend *be, const certa_mh_src *src,
                          size_t first, size_t count, uint8_t *out)
{
    size_t i = 0;
    for (; i + 1 < count; i += 2) {
        if (src->base != NULL) {
            /* Fixed-size leaves stream from memory: ask for the pair 8
             * leaves ahead (prefetches never fault, even past the end). */
            const uint8_t *ahead = src->base + (first + i + 8) * src->leaf_bytes;
            for (size_t o = 0; o < 2 * src->leaf_bytes; o += 64)
                __builtin_prefetch(ahead + o);
        }
        leaf_ref a, b;
        leaf_at(src, first + i, &a);
        leaf_at(src, first + i + 1, &b);
        leaf2(be, &a, out + 32 * i, &b, out + 32 * (i + 1));
    }
    if (i < count) {
        leaf_ref a;
        leaf_at(src, first + i, &a);
        leaf1(be, &a, out + 32 * i);
    }
}

#ifdef MH_X86
#define WIDE_GROUP (2 * X16_LANES)
/* Fewer than this many go to the narrow kernels: a half-empty wide pass
 * costs about what the 2-way SHA-NI kernel does. */
#define WIDE_MIN 20

static void wide_masks(unsigned n, __mmask16 mask[2])
{
    CERTA_ASSERT(n >= 1 && n <= WIDE_GROUP);
    mask[0] = (__mmask16)(n >= 16 ? 0xFFFFu : (1u << n) - 1);
    mask[1] = (__mmask16)(n <= 16 ? 0u : n >= 32 ? 0xFFFFu : (1u << (n - 16)) - 1);
}

static void wide_init(x16_state *st)
{
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 8; i++)
            for (int l = 0; l < X16_LANES; l++)
                st->s[s][i][l] = sha256_iv[i];
}

/* Leaf hashes of the n (1..32) leaves first+idx[k], all of nb blocks, into
 * out + 32 * idx[k]. */
static void wide_leaves(const certa_mh_src *src, size_t first,
                        const uint32_t *idx, unsigned n, size_t nb,
                        uint8_t *out)
{
    x16_state st;
    x16_msg m;
    __mmask16 mask[2];
    wide_masks(n, mask);
    wide_init(&st);
    leaf_ref l[WIDE_GROUP];
    uint8_t *dst[WIDE_GROUP];
    for (unsigned k = 0; k < n; k++) {
        leaf_at(src, first + idx[k], &l[k]);
        CERTA_ASSERT(msg_blocks(l[k].hl + l[k].len) == nb);
        dst[k] = out + 32 * (size_t)idx[k];
    }
    for (size_t j = 0; j < nb; j++) {
        x16_leaf_block(l, n, j, nb, &m);
        x16_compress(&st, &m, mask);
    }
    x16_digests(&st, n, dst);
}

/* Sorts leaves by block count so that each wide pass hashes 32 leaves of
 * one length class; leftovers and long leaves take the narrow kernels. */
static void leaves_wide(const mh_backend *be, const certa_mh_src *src,
                        size_t first, size_t count, uint8_t *out)
{
    uint32_t pend[X16_MAX_BLOCKS + 1][WIDE_GROUP];
    unsigned np[X16_MAX_BLOCKS + 1] = {0};
    CERTA_ASSERT(count <= UINT32_MAX);
    for (size_t i = 0; i < count; i++) {
        leaf_ref l;
        leaf_at(src, first + i, &l);
        size_t nb = msg_blocks(l.hl + l.len);
        if (nb > X16_MAX_BLOCKS) {
            leaf1(be, &l, out + 32 * i);
            continue;
        }
        pend[nb][np[nb]++] = (uint32_t)i;
        if (np[nb] == WIDE_GROUP) {
            wide_leaves(src, first, pend[nb], WIDE_GROUP, nb, out);
            np[nb] = 0;
        }
    }
    for (size_t nb = 1; nb <= X16_MAX_BLOCKS; nb++) {
        unsigned n = np[nb], k = 0;
        if (n >= WIDE_MIN) {
            wide_leaves(src, first, pend[nb], n, nb, out);
            continue;
        }
        for (; k + 1 < n; k += 2) {
            leaf_ref a, b;
            leaf_at(src, first + pend[nb][k], &a);
            leaf_at(src, first + pend[nb][k + 1], &b);
            leaf2(be, &a, out + 32 * (size_t)pend[nb][k], &b,
                  out + 32 * (size_t)pend[nb][k + 1]);
        }
        if (k < n) {
            leaf_ref a;
            leaf_at(src, first + pend[nb][k], &a);
            leaf1(be, &a, out + 32 * (size_t)pend[nb][k]);
        }
    }
}
#endif /* MH_X86 */

void certa_mh_leaf_hashes(const certa_mh_src *src, size_t first, size_t count,
                          uint8_t *out)
{
    CERTA_ASSERT(src != NULL && (src->leaves != NULL || src->split != NULL ||
                                 src->base != NULL || count == 0 ||
                                 src->leaf_bytes == 0));
    const mh_backend *be = backend();
#ifdef MH_X86
    if (count >= WIDE_MIN && wide()) {
        leaves_wide(be, src, first, count, out);
        return;
    }
#endif
    leaves_narrow(be, src, first, count, out);
}

/* The two blocks of node(l, r): block 0 = 0x01 || l || r[0..30], block 1 =
 * r[31] || 0x80 || zeros || bit length 520 (0x0208). */
static inline void node_block0(uint8_t *b0, const uint8_t *lr)
{
    b0[0] = 0x01;
    memcpy(b0 + 1, lr, 63);
}

static inline void node_block1_init(uint8_t *b1)
{
    memset(b1, 0, 64);
    b1[1] = 0x80;
    b1[62] = 0x02;
    b1[63] = 0x08;
}

static void nodes_narrow(const mh_backend *be, const uint8_t *in,
                         size_t pairs, uint8_t *out)
{
    uint32_t sa[8] __attribute__((aligned(16)));
    uint32_t sb[8] __attribute__((aligned(16)));
    uint8_t a0[64], a1[64], b0[64], b1[64];
    node_block1_init(a1);
    node_block1_init(b1);
    size_t i = 0;
    for (; i + 1 < pairs; i += 2) {
        const uint8_t *la = in + 64 * i, *lb = in + 64 * (i + 1);
        node_block0(a0, la);
        a1[0] = la[63];
        node_block0(b0, lb);
        b1[0] = lb[63];
        memcpy(sa, be->iv, sizeof sa);
        memcpy(sb, be->iv, sizeof sb);
        be->c2(sa, a0, sb, b0);
        be->c2(sa, a1, sb, b1);
        /* all input of this step is in the block buffers: out may alias in */
        be->digest(sa, out + 32 * i);
        be->digest(sb, out + 32 * (i + 1));
    }
    if (i < pairs) {
        const uint8_t *la = in + 64 * i;
        node_block0(a0, la);
        a1[0] = la[63];
        memcpy(sa, be->iv, sizeof sa);
        be->c1(sa, a0);
        be->c1(sa, a1);
        be->digest(sa, out + 32 * i);
    }
}

#ifdef MH_X86
/* Nodes of the n (1..32) pairs at in into out; reads every input before it
 * writes, so out may alias in. */
static void wide_nodes(const uint8_t *in, unsigned n, uint8_t *out)
{
    x16_msg x, b0, b1;
    x16_state st;
    __mmask16 mask[2];
    wide_masks(n, mask);
    x16_pair_words(in, n, &x);
    memset(&b1, 0, sizeof b1);
    for (int s = 0; s < 2; s++)
        for (int l = 0; l < X16_LANES; l++)
            b1.w[s][15][l] = 0x208; /* 65 bytes = 520 bits */
    x16_node_blocks(&x, &b0, &b1);
    wide_init(&st);
    x16_compress(&st, &b0, mask);
    x16_compress(&st, &b1, mask);
    uint8_t *dst[WIDE_GROUP];
    for (unsigned k = 0; k < n; k++)
        dst[k] = out + 32 * (size_t)k;
    x16_digests(&st, n, dst);
}
#endif

void certa_mh_nodes(const uint8_t *in, size_t pairs, uint8_t *out)
{
    const mh_backend *be = backend();
    size_t i = 0;
#ifdef MH_X86
    if (pairs >= WIDE_MIN && wide()) {
        for (; i + WIDE_MIN <= pairs; i += WIDE_GROUP) {
            size_t n = pairs - i < WIDE_GROUP ? pairs - i : WIDE_GROUP;
            wide_nodes(in + 64 * i, (unsigned)n, out + 32 * i);
        }
        if (i >= pairs)
            return;
    }
#endif
    nodes_narrow(be, in + 64 * i, pairs - i, out + 32 * i);
}
