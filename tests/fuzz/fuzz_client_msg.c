/* Fuzz target: every decoder of the client protocol (header, query,
 * accepted, error, query result) and of receipts (binary batch form, JSON form). The
 * first input byte picks the decoder; the rest is its input. A successful
 * decode must re-encode to the same bytes (canonical encoding). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certa/client.h"
#include "receipt_json.h" /* engine-private: the json_t form */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned which = data[0] % 7;
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
    case 4: {
        certa_receipt_batch b;
        if (certa_receipt_batch_decode(in, len, &b, NULL) != CERTA_OK)
            break;
        static certa_receipt r[4];
        static certa_receipt_entry en[4];
        static uint8_t re[1u << 16];
        size_t off = 0;
        uint32_t n = 0;
        certa_receipt scratch;
        while (certa_receipt_batch_next(&b, &off, n < 4 ? &r[n] : &scratch)) {
            if (n < 4)
                en[n] = (certa_receipt_entry){ r[n].leaf_index, r[n].result, r[n].reason,
                                               r[n].event, r[n].event_len,
                                               (const uint8_t(*)[CERTA_HASH_BYTES])r[n].path,
                                               r[n].path_len };
            n++;
        }
        if (n != b.entry_count)
            abort();
        size_t rl = 0;
        /* the range proof comes back from the rebuilt paths, byte for byte */
        if (n <= 4 && certa_receipt_batch_encode(b.integrator, b.seq, b.header, &b.cert,
                                                 en, n, re, sizeof re, &rl, NULL) == CERTA_OK &&
            (rl != len || memcmp(re, in, len) != 0))
            abort();
        certa_receipt_batch_free(&b);
        break;
    }
    case 5: {
        json_t *j = json_loadb((const char *)in, len, JSON_REJECT_DUPLICATES, NULL);
        static certa_receipt r, r2;
        if (j != NULL && certa_receipt_from_json(j, &r, NULL) == CERTA_OK) {
            json_t *k = certa_receipt_to_json(&r);
            if (k == NULL || certa_receipt_from_json(k, &r2, NULL) != CERTA_OK ||
                memcmp(&r.cert, &r2.cert, sizeof r.cert) != 0 ||
                r.event_len != r2.event_len || memcmp(r.event, r2.event, r.event_len) != 0)
                abort();
            json_decref(k);
        }
        json_decref(j);
        break;
    }
    case 6: {
        uint8_t kind;
        const char *doc;
        size_t dl;
        if (certa_cp_query_result_decode(in, len, &kind, &doc, &dl, NULL) == CERTA_OK) {
            static uint8_t qr[1u << 16];
            size_t n = certa_cp_query_result_encode(kind, doc, dl, qr, sizeof qr);
            if (doc != (const char *)in + 1 || dl + 1 != len ||
                (len <= sizeof qr && (n != len || memcmp(qr, in, len) != 0)))
                abort();
        }
        break;
    }
    }
    return 0;
}
