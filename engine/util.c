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

void certa_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
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
