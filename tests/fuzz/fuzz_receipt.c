/* Fuzz target: the binary batch receipt decoder (versions 2 and 3).
 * Decoding never crashes; an accepted receipt is canonical: encoding its
 * decoded entries again, with the inclusion paths (and result paths) the
 * decoder rebuilt from the range proofs, gives the identical bytes. */
#include <stdlib.h>
#include <string.h>

#include "certa/receipt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    certa_receipt_batch b;
    certa_errinfo ei;
    if (certa_receipt_batch_decode(data, size, &b, &ei) != CERTA_OK) {
        CERTA_ASSERT(ei.code != CERTA_OK && ei.msg[0] != '\0');
        return 0;
    }
    CERTA_ASSERT(b.entry_count >= 1 && b.has_result_proof == (data[4] == 3));
    certa_receipt *rs = malloc((size_t)b.entry_count * sizeof *rs);
    certa_receipt_entry *en = malloc((size_t)b.entry_count * sizeof *en);
    uint8_t *out = malloc(size);
    CERTA_ASSERT(rs != NULL && en != NULL && out != NULL);
    size_t off = 0, k = 0;
    while (certa_receipt_batch_next(&b, &off, &rs[k])) {
        const certa_receipt *r = &rs[k];
        en[k] = (certa_receipt_entry){
            .leaf_index = r->leaf_index, .result = r->result, .reason = r->reason,
            .event = r->event, .event_len = r->event_len,
            .path = (const uint8_t(*)[CERTA_HASH_BYTES])r->path, .path_len = r->path_len,
            .result_path = (const uint8_t(*)[CERTA_HASH_BYTES])r->result_path,
            .result_path_len = r->result_path_len};
        k++;
    }
    CERTA_ASSERT(k == b.entry_count);
    certa_receipt_results rp = {b.result_header, &b.result_cert};
    size_t len = 0;
    certa_err e = certa_receipt_batch_encode_results(b.integrator, b.seq, b.header, &b.cert,
                                                     en, b.entry_count,
                                                     b.has_result_proof ? &rp : NULL, out,
                                                     size, &len, &ei);
    CERTA_ASSERT(e == CERTA_OK && len == size);
    CERTA_ASSERT(memcmp(out, data, size) == 0);
    certa_receipt_batch_free(&b);
    free(out);
    free(en);
    free(rs);
    return 0;
}
