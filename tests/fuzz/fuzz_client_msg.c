/* Fuzz target: every decoder of the client protocol (header, query,
 * accepted, error) and, when receipt.h is present, of receipts. The first
 * input byte picks the decoder; the rest is its input. A successful decode
 * must re-encode to the same bytes (canonical encoding). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certa/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned which = data[0] % 4;
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    static uint8_t out[16 + 10 + CERTA_CP_ERROR_MSG_MAX];
    switch (which) {
    case 0: {
        certa_cp_header h;
        if (certa_cp_header_decode(in, len, &h, NULL) == CERTA_OK) {
            certa_cp_header_encode(&h, out);
            if (memcmp(out, in, CERTA_CP_HEADER_BYTES) != 0)
                abort();
        }
        break;
    }
    case 1: {
        certa_cp_query q;
        if (certa_cp_query_decode(in, len, &q, NULL) == CERTA_OK) {
            size_t n = certa_cp_query_encode(&q, out);
            if (n != len || memcmp(out, in, n) != 0)
                abort();
        }
        break;
    }
    case 2: {
        certa_cp_accepted a;
        if (certa_cp_accepted_decode(in, len, &a, NULL) == CERTA_OK) {
            certa_cp_accepted_encode(&a, out);
            if (memcmp(out, in, CERTA_CP_ACCEPTED_BYTES) != 0)
                abort();
        }
        break;
    }
    case 3: {
        certa_cp_error e;
        if (certa_cp_error_decode(in, len, &e, NULL) == CERTA_OK) {
            size_t n = certa_cp_error_encode(&e, out);
            /* Control characters are replaced on decode; lengths agree. */
            if (n != len || memcmp(out, in, 10) != 0)
                abort();
        }
        break;
    }
    }
    return 0;
}
