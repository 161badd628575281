/* Fuzz target: block header and block decoders. Decoding never crashes; an
 * accepted header re-encodes to the identical 168 bytes, and an accepted
 * block is rebuilt byte for byte from its header and batches. */
#include <stdlib.h>
#include <string.h>

#include "certa/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    certa_block_header h;
    certa_errinfo ei;
    uint8_t out[CERTA_HEADER_BYTES];
    if (certa_header_decode(data, size, &h, &ei) == CERTA_OK) {
        CERTA_ASSERT(size == CERTA_HEADER_BYTES);
        certa_header_encode(&h, out);
        CERTA_ASSERT(memcmp(out, data, CERTA_HEADER_BYTES) == 0);
    } else {
        CERTA_ASSERT(ei.code != CERTA_OK && ei.msg[0] != '\0');
    }

    if (certa_block_check(data, size, &h, &ei) != CERTA_OK)
        return 0;
    uint8_t *buf = malloc(size);
    CERTA_ASSERT(buf != NULL);
    certa_header_encode(&h, buf);
    size_t pos = CERTA_HEADER_BYTES, end = CERTA_HEADER_BYTES;
    certa_batch_view v;
    certa_err e;
    while ((e = certa_block_next_batch(data, size, &pos, &v, NULL)) == CERTA_OK) {
        const uint8_t *start = v.body - CERTA_BATCH_HEADER_BYTES;
        end = certa_block_put_batch(buf, size, end, start, v.total_bytes);
        CERTA_ASSERT(end != 0);
    }
    CERTA_ASSERT(e == CERTA_E_NOTFOUND && end == size);
    CERTA_ASSERT(memcmp(buf, data, size) == 0);
    free(buf);
    return 0;
}
