/* Fuzz target: binary event decoder. Decoding never crashes, and any input
 * it accepts re-encodes to the identical bytes (canonicality) and survives
 * the JSON form unchanged (JSON <-> binary equivalence). */
#include <string.h>

#include "certa/codec.h"
#include "event_json.h" /* engine-private: the json_t form */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    certa_event ev, back;
    certa_errinfo ei;
    if (certa_event_decode(data, size, &ev, &ei) != CERTA_OK) {
        CERTA_ASSERT(ei.code != CERTA_OK && ei.msg[0] != '\0');
        return 0;
    }
    uint8_t out[CERTA_EVENT_BYTES_MAX];
    size_t n = 0;
    CERTA_ASSERT(certa_event_encode(&ev, out, sizeof out, &n, NULL) == CERTA_OK);
    CERTA_ASSERT(n == size && memcmp(out, data, size) == 0);

    json_t *o = certa_event_to_json(&ev, NULL);
    CERTA_ASSERT(o != NULL);
    CERTA_ASSERT(certa_event_from_json(o, &back, NULL, NULL) == CERTA_OK);
    json_decref(o);
    CERTA_ASSERT(certa_event_encode(&back, out, sizeof out, &n, NULL) == CERTA_OK);
    CERTA_ASSERT(n == size && memcmp(out, data, size) == 0);
    return 0;
}
