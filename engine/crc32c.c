/* crc32c: CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum
 * of block log records and state file slots. Uses the SSE4.2 crc32
 * instruction when the CPU has it (checked once), a slicing table otherwise;
 * both give the same values (test_store checks the RFC 3720 vectors). */
#include "certa/store.h"

#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

static uint32_t table8[8][256];
static int table_ready;

static void table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table8[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table8[t][i] = (table8[t - 1][i] >> 8) ^ table8[0][table8[t - 1][i] & 0xffu];
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

static uint32_t crc_soft(uint32_t crc, const uint8_t *p, size_t len)
{
    if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE))
        table_init(); /* idempotent: racing initialisers write equal values */
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        v ^= crc;
        crc = table8[7][v & 0xff] ^ table8[6][(v >> 8) & 0xff] ^
              table8[5][(v >> 16) & 0xff] ^ table8[4][(v >> 24) & 0xff] ^
              table8[3][(v >> 32) & 0xff] ^ table8[2][(v >> 40) & 0xff] ^
              table8[1][(v >> 48) & 0xff] ^ table8[0][v >> 56];
        p += 8;
        len -= 8;
    }
    while (len-- > 0)
        crc = (crc >> 8) ^ table8[0][(crc ^ *p++) & 0xffu];
    return crc;
}

#if defined(__x86_64__)
/* The crc32 instruction has a latency of 3 cycles and a throughput of 1:
 * one stream runs at a third of the unit's speed. Long inputs are cut into
 * three interleaved streams whose registers are combined with "append n
 * zero bytes" operators (linear over GF(2)), precomputed once as four
 * byte-indexed tables per block length (the method of zlib's
 * crc32_combine and of Mark Adler's crc32c). */
#define CRC_LONG 8192u
#define CRC_SHORT 256u

static uint32_t zeros_long[4][256];
static uint32_t zeros_short[4][256];
static int zeros_ready;

static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
    uint32_t sum = 0;
    for (int i = 0; vec != 0; i++, vec >>= 1)
        if (vec & 1u)
            sum ^= mat[i];
    return sum;
}

static void gf2_square(uint32_t *sq, const uint32_t *mat)
{
    for (int n = 0; n < 32; n++)
        sq[n] = gf2_times(mat, mat[n]);
}

/* tables[k][b] = the register (b << 8k) after len zero bytes. */
static void zeros_op(uint32_t tables[4][256], size_t len)
{
    uint32_t op[32], sq[32], acc[32];
    /* one zero bit on the reflected register */
    op[0] = 0x82F63B78u;
    for (int n = 1; n < 32; n++)
        op[n] = 1u << (n - 1);
    gf2_square(sq, op); /* 2 bits */
    gf2_square(op, sq); /* 4 bits */
    gf2_square(sq, op); /* 8 bits = one byte: in sq */
    memcpy(op, sq, sizeof op);
    bool have = false;
    while (len > 0) { /* acc = op^len by squaring */
        if (len & 1u) {
            if (!have) {
                memcpy(acc, op, sizeof acc);
                have = true;
            } else {
                uint32_t t[32];
                for (int n = 0; n < 32; n++)
                    t[n] = gf2_times(op, acc[n]);
                memcpy(acc, t, sizeof acc);
            }
        }
        len >>= 1;
        if (len == 0)
            break;
        gf2_square(sq, op);
        memcpy(op, sq, sizeof op);
    }
    for (uint32_t b = 0; b < 256; b++)
        for (int k = 0; k < 4; k++)
            tables[k][b] = gf2_times(acc, b << (8 * k));
}

static void zeros_init(void)
{
    zeros_op(zeros_long, CRC_LONG);
    zeros_op(zeros_short, CRC_SHORT);
    __atomic_store_n(&zeros_ready, 1, __ATOMIC_RELEASE);
}

static uint32_t zeros_shift(const uint32_t t[4][256], uint32_t crc)
{
    return t[0][crc & 0xffu] ^ t[1][(crc >> 8) & 0xffu] ^ t[2][(crc >> 16) & 0xffu] ^
           t[3][crc >> 24];
}

__attribute__((target("sse4.2"))) static uint64_t crc_hw_3way(uint64_t c0,
                                                            const uint8_t **pp,
                                                            size_t *lenp, size_t block,
                                                            const uint32_t t[4][256])
{
    const uint8_t *p = *pp;
    size_t len = *lenp;
    while (len >= 3 * block) {
        uint64_t c1 = 0, c2 = 0;
        for (size_t i = 0; i < block; i += 8) {
            uint64_t a, b, d;
            memcpy(&a, p + i, 8);
            memcpy(&b, p + block + i, 8);
            memcpy(&d, p + 2 * block + i, 8);
            c0 = _mm_crc32_u64(c0, a);
            c1 = _mm_crc32_u64(c1, b);
            c2 = _mm_crc32_u64(c2, d);
        }
        c0 = zeros_shift(t, (uint32_t)c0) ^ c1;
        c0 = zeros_shift(t, (uint32_t)c0) ^ c2;
        p += 3 * block;
        len -= 3 * block;
    }
    *pp = p;
    *lenp = len;
    return c0;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc,
                                                         const uint8_t *p,
                                                         size_t len)
{
    uint64_t c = crc;
    if (len >= 3 * CRC_SHORT) {
        if (!__atomic_load_n(&zeros_ready, __ATOMIC_ACQUIRE))
            zeros_init(); /* idempotent: racing initialisers write equal values */
        c = crc_hw_3way(c, &p, &len, CRC_LONG, zeros_long);
        c = crc_hw_3way(c, &p, &len, CRC_SHORT, zeros_short);
    }
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len-- > 0)
        c32 = _mm_crc32_u8(c32, *p++);
    return c32;
}
#endif

uint32_t certa_crc32c(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    crc = ~crc;
#if defined(__x86_64__)
    static int hw = -1;
    int use = __atomic_load_n(&hw, __ATOMIC_RELAXED);
    if (use < 0) {
        __builtin_cpu_init();
        use = __builtin_cpu_supports("sse4.2") ? 1 : 0;
        __atomic_store_n(&hw, use, __ATOMIC_RELAXED);
    }
    if (use)
        return ~crc_hw(crc, p, len);
#endif
    return ~crc_soft(crc, p, len);
}
