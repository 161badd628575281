/* certa: common definitions shared by every module.
 * CERTA_ASSERT stays on in every build type: the consensus and storage paths
 * rely on it to stop before a broken invariant can reach the disk or a peer. */
#ifndef CERTA_CERTA_H
#define CERTA_CERTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certa/error.h"

#ifndef CERTA_VERSION_STRING
#define CERTA_VERSION_STRING "0.0.0"
#endif

#define CERTA_HASH_BYTES 32
#define CERTA_PUBKEY_BYTES 32
#define CERTA_SIGNATURE_BYTES 64

/* Aborts with file and line when cond is false, in every build type. */
#define CERTA_ASSERT(cond)                                                    \
    do {                                                                      \
        if (__builtin_expect(!(cond), 0))                                     \
            certa_assert_fail(#cond, __FILE__, __LINE__, __func__);           \
    } while (0)

_Noreturn void certa_assert_fail(const char *expr, const char *file, int line,
                                 const char *func);

/* Hex helpers: lower-case output, strict input (exact length, [0-9a-fA-F]).
 * certa_hex_encode writes 2*len chars plus NUL into out (size 2*len+1).
 * certa_hex_decode returns CERTA_OK or CERTA_E_HEX. */
void certa_hex_encode(const uint8_t *in, size_t len, char *out);
certa_err certa_hex_decode(const char *hex, uint8_t *out, size_t out_len);

#endif
