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

#include <stddef.h>

#include "certa/receipt.h"

/* Room that any receipt's line fits in (with its NUL). */
#define CERTA_GW_RCPT_JSON_BYTES_MAX (24u * 1024u)

/* Writes r's JSON line (no newline, NUL-terminated) into out; returns its
 * length, or 0 when declined (a reason with a character to escape) or when
 * cap is too small. */
size_t certa_gw_receipt_json(const certa_receipt *r, char *out, size_t cap);

#endif
