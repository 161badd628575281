/* gateway_rcpt: a receipt's JSON line, written straight into a buffer.
 *
 * POST /v1/batches answers with a JSON line per event; built through
 * jansson (certa_receipt_format_json) that cost more CPU than everything
 * else of a POST together. This writes the very same bytes (same fields,
 * order and number forms: tests/unit/test_gateway_receipt.c compares the
 * two) with snprintf and hex, and declines a receipt whose rejection reason
 * would need JSON escaping: the caller then uses certa_receipt_format_json.
 */
#ifndef CERTA_TOOLS_GATEWAY_RCPT_H
#define CERTA_TOOLS_GATEWAY_RCPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certa/receipt.h"

/* Room that any receipt's line fits in (with its NUL). */
#define CERTA_GW_RCPT_JSON_BYTES_MAX (24u * 1024u)

/* Writes r's JSON line (no newline, NUL-terminated) into out; returns its
 * length, or 0 when declined (a reason with a character to escape) or when
 * cap is too small. */
size_t certa_gw_receipt_json(const certa_receipt *r, char *out, size_t cap);

/* A commit certificate's JSON, at most: 64 validators' signatures. */
#define CERTA_GW_RCPT_COMMIT_BYTES (160u + CERTA_VALIDATORS_MAX * (40u + 2u * CERTA_SIGNATURE_BYTES))

/* What the receipts of one block share: its header's hex and its commit
 * certificate's JSON, kept from the last receipt written through the
 * cache. A batch's receipts all come from one block, and these are about
 * half of each receipt's hex. Zeroed: empty. */
typedef struct certa_gw_rcpt_cache {
    bool have_header, have_commit;
    uint8_t header[CERTA_HEADER_BYTES];
    uint64_t height; /* the header's, 0 when it does not decode */
    char header_hex[2 * CERTA_HEADER_BYTES + 1];
    certa_commit_cert cert;
    size_t commit_len;
    char commit[CERTA_GW_RCPT_COMMIT_BYTES];
} certa_gw_rcpt_cache;

/* certa_gw_receipt_json, the same bytes, with the parts r shares with the
 * last receipt written through c copied from c (and c updated). */
size_t certa_gw_receipt_json_cached(const certa_receipt *r, certa_gw_rcpt_cache *c, char *out,
                                    size_t cap);

#endif
