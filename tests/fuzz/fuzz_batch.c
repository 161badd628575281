/* Fuzz target: batch decoder. Decoding never crashes; an accepted batch
 * iterates exactly event_count canonical events, its digest is the SHA-256
 * of everything before the signature, and rebuilding it with the builder
 * from the decoded events gives the identical bytes. Framing only
 * (certa_batch_frame) accepts whatever decoding accepts, with the same view,
 * and when it accepts, iterating stays inside the input. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "certa/codec.h"
#include "certa/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    certa_batch_view v, f;
    certa_errinfo ei;
    bool framed = certa_batch_frame(data, size, &f, NULL) == CERTA_OK;
    if (framed) {
        size_t fp = 0, fl;
        const uint8_t *fe;
        uint32_t fc = 0;
        while (certa_batch_next(&f, &fp, &fe, &fl)) {
            CERTA_ASSERT(fe >= data && fe + fl <= data + size);
            fc++;
        }
        CERTA_ASSERT(fc == f.event_count);
    }
    if (certa_batch_decode(data, size, &v, &ei) != CERTA_OK) {
        CERTA_ASSERT(ei.code != CERTA_OK && ei.msg[0] != '\0');
        return 0;
    }
    CERTA_ASSERT(v.total_bytes == size);
    CERTA_ASSERT(framed && f.integrator == v.integrator && f.seq == v.seq &&
                 f.event_count == v.event_count && f.body == v.body &&
                 f.body_bytes == v.body_bytes && f.signature == v.signature);
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
