/* Fuzz target: batch decoder. Decoding never crashes; an accepted batch
 * iterates exactly event_count canonical events, its digest is the SHA-256
 * of everything before the signature, and rebuilding it with the builder
 * from the decoded events gives the identical bytes. */
#include <stdlib.h>
#include <string.h>

#include "certa/codec.h"
#include "certa/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    certa_batch_view v;
    certa_errinfo ei;
    if (certa_batch_decode(data, size, &v, &ei) != CERTA_OK) {
        CERTA_ASSERT(ei.code != CERTA_OK && ei.msg[0] != '\0');
        return 0;
    }
    CERTA_ASSERT(v.total_bytes == size);
    CERTA_ASSERT(v.event_count >= 1 && v.event_count <= CERTA_BATCH_EVENTS_MAX);
    uint8_t d[CERTA_HASH_BYTES];
    certa_sha256(data, size - CERTA_SIGNATURE_BYTES, d);
    CERTA_ASSERT(memcmp(d, v.digest, sizeof d) == 0);

    uint8_t *buf = malloc(size);
    CERTA_ASSERT(buf != NULL);
    certa_batch_builder bb;
    certa_batch_begin(&bb, buf, size, v.integrator, v.seq);
    size_t pos = 0, ev_len;
    const uint8_t *evb;
    uint32_t count = 0;
    while (certa_batch_next(&v, &pos, &evb, &ev_len)) {
        certa_event ev;
        CERTA_ASSERT(certa_event_decode(evb, ev_len, &ev, NULL) == CERTA_OK);
        CERTA_ASSERT(certa_batch_add(&bb, &ev, NULL) == CERTA_OK);
        count++;
    }
    CERTA_ASSERT(count == v.event_count);
    uint8_t d2[CERTA_HASH_BYTES];
    certa_batch_digest(&bb, d2);
    CERTA_ASSERT(memcmp(d2, v.digest, sizeof d2) == 0);
    CERTA_ASSERT(certa_batch_seal(&bb, v.signature) == size);
    CERTA_ASSERT(memcmp(buf, data, size) == 0);
    free(buf);
    return 0;
}
