/* crc32c: CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum
 * of block log records and state file slots. Uses the SSE4.2 crc32
 * instruction when the CPU has it (checked once), a slicing table otherwise;
 * both give the same values (test_store checks the RFC 3720 vectors). */
#include "certa/store.h"

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
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc,
                                                         const uint8_t *p,
                                                         size_t len)
{
    uint64_t c = crc;
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
