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

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define MH_X86 1
#endif

static const uint32_t sha256_iv[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

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
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(st[i] >> 24);
        out[4 * i + 1] = (uint8_t)(st[i] >> 16);
        out[4 * i + 2] = (uint8_t)(st[i] >> 8);
        out[4 * i + 3] = (uint8_t)st[i];
    }
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
#endif /* MH_X86 */

/* ---- selection ---- */

static pthread_once_t mh_once = PTHREAD_ONCE_INIT;
static bool mh_shani;
static atomic_bool mh_portable_forced;

static void mh_init(void)
{
    memcpy(be_portable.iv, sha256_iv, sizeof sha256_iv);
#ifdef MH_X86
    mh_shani = cpu_has_shani();
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

const char *certa_mh_backend(void)
{
    return backend()->name;
}

/* ---- message assembly ---- */

static inline void store_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* Blocks of the padded message prefix || d (len data bytes). */
static inline size_t msg_blocks(size_t len)
{
    return (len + 1 + 8) / 64 + 1;
}

/* Block j of the padded message: a pointer into d when the block lies
 * inside the data, else assembled in buf. */
static inline const uint8_t *msg_block(uint8_t prefix, const uint8_t *d,
                                       size_t len, size_t j, size_t nb,
                                       uint8_t *buf)
{
    size_t total = len + 1, start = 64 * j;
    if (j > 0 && start + 64 <= total)
        return d + start - 1;
    memset(buf, 0, 64);
    size_t q = 0;
    if (j == 0) {
        buf[0] = prefix;
        q = 1;
    }
    size_t end = total < start + 64 ? total : start + 64;
    if (end > start + q)
        memcpy(buf + q, d + start + q - 1, end - start - q);
    if (total >= start && total < start + 64)
        buf[total - start] = 0x80;
    if (j == nb - 1)
        store_be64(buf + 56, (uint64_t)total * 8);
    return buf;
}

static inline void leaf_at(const certa_mh_src *src, size_t i,
                           const uint8_t **d, size_t *len)
{
    if (src->leaves != NULL) {
        *d = src->leaves[i].data;
        *len = src->leaves[i].len_bytes;
    } else {
        *d = src->base + i * src->leaf_bytes;
        *len = src->leaf_bytes;
    }
}

static void leaf1(const mh_backend *be, const uint8_t *d, size_t len,
                  uint8_t *out)
{
    uint32_t st[8] __attribute__((aligned(16)));
    uint8_t buf[64];
    memcpy(st, be->iv, sizeof st);
    size_t nb = msg_blocks(len);
    for (size_t j = 0; j < nb; j++)
        be->c1(st, msg_block(0x00, d, len, j, nb, buf));
    be->digest(st, out);
}

static void leaf2(const mh_backend *be, const uint8_t *da, size_t la,
                  uint8_t *outa, const uint8_t *db, size_t lb, uint8_t *outb)
{
    uint32_t sa[8] __attribute__((aligned(16)));
    uint32_t sb[8] __attribute__((aligned(16)));
    uint8_t bufa[64], bufb[64];
    memcpy(sa, be->iv, sizeof sa);
    memcpy(sb, be->iv, sizeof sb);
    size_t na = msg_blocks(la), nb = msg_blocks(lb);
    size_t both = na < nb ? na : nb;
    for (size_t j = 0; j < both; j++)
        be->c2(sa, msg_block(0x00, da, la, j, na, bufa),
               sb, msg_block(0x00, db, lb, j, nb, bufb));
    for (size_t j = both; j < na; j++)
        be->c1(sa, msg_block(0x00, da, la, j, na, bufa));
    for (size_t j = both; j < nb; j++)
        be->c1(sb, msg_block(0x00, db, lb, j, nb, bufb));
    be->digest(sa, outa);
    be->digest(sb, outb);
}

void certa_mh_leaf_hashes(const certa_mh_src *src, size_t first, size_t count,
                          uint8_t *out)
{
    CERTA_ASSERT(src != NULL && (src->leaves != NULL || src->base != NULL ||
                                 count == 0 || src->leaf_bytes == 0));
    const mh_backend *be = backend();
    size_t i = 0;
    for (; i + 1 < count; i += 2) {
        const uint8_t *da, *db;
        size_t la, lb;
        if (src->base != NULL) {
            /* Fixed-size leaves stream from memory: ask for the pair 8
             * leaves ahead (prefetches never fault, even past the end). */
            const uint8_t *ahead = src->base + (first + i + 8) * src->leaf_bytes;
            for (size_t o = 0; o < 2 * src->leaf_bytes; o += 64)
                __builtin_prefetch(ahead + o);
        }
        leaf_at(src, first + i, &da, &la);
        leaf_at(src, first + i + 1, &db, &lb);
        leaf2(be, da, la, out + 32 * i, db, lb, out + 32 * (i + 1));
    }
    if (i < count) {
        const uint8_t *d;
        size_t len;
        leaf_at(src, first + i, &d, &len);
        leaf1(be, d, len, out + 32 * i);
    }
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

void certa_mh_nodes(const uint8_t *in, size_t pairs, uint8_t *out)
{
    const mh_backend *be = backend();
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
