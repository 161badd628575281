/* Fuzz target for engine/pbft_msg.c: decoding arbitrary bytes never crashes
 * or reads out of bounds, and whatever decodes re-encodes to the very same
 * bytes (the encoding is canonical). Nested lists are walked and their
 * items decoded too, as the replica does. */
#include <stdlib.h>
#include <string.h>

#include "pbft_msg.h"

static void walk(const certa_pbft_list *l, int depth)
{
    size_t pos = 0;
    const uint8_t *it;
    size_t il;
    while (certa_pbft_list_next(l, &pos, &it, &il)) {
        certa_pbft_msg m;
        if (certa_pbft_msg_decode(it, il, &m) == CERTA_OK && depth < 3) {
            walk(&m.l1, depth + 1);
            walk(&m.l2, depth + 1);
        }
        certa_pbft_request q;
        (void)certa_pbft_request_item(it, il, &q);
        certa_pbft_list sub;
        if (depth < 3 && certa_pbft_list_parse(it, il, &sub))
            walk(&sub, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    certa_pbft_msg m;
    if (certa_pbft_msg_decode(data, size, &m) != CERTA_OK)
        return 0;
    size_t len = 0;
    uint8_t *b = certa_pbft_msg_encode(&m, &len);
    if (b == NULL || len != size || memcmp(b, data, size) != 0)
        abort();
    free(b);
    walk(&m.reqs, 0);
    walk(&m.l1, 0);
    walk(&m.l2, 0);
    return 0;
}
