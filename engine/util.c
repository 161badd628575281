/* util: assertion failure reporting and hex conversion used by every module. */
#include "certa/certa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void certa_assert_fail(const char *expr, const char *file, int line,
                                 const char *func)
{
    fprintf(stderr, "certa: assertion failed: %s at %s:%d in %s\n", expr, file,
            line, func);
    fflush(stderr);
    abort();
}

/* Every byte's two digits: one lookup and one two-byte copy per byte
 * (receipts are mostly hex, and the gateway writes a megabyte of them per
 * POST). */
static const char hex_pairs[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

void certa_hex_encode(const uint8_t *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        memcpy(out + 2 * i, hex_pairs + 2 * in[i], 2);
    out[2 * len] = '\0';
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

certa_err certa_hex_decode(const char *hex, uint8_t *out, size_t out_len)
{
    if (hex == NULL || strlen(hex) != 2 * out_len)
        return CERTA_E_HEX;
    for (size_t i = 0; i < out_len; i++) {
        int hi = hex_nibble(hex[2 * i]);
        int lo = hex_nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return CERTA_E_HEX;
        out[i] = (uint8_t)((hi << 4) | lo);
    }
    return CERTA_OK;
}
