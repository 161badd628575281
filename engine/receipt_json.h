/* receipt_json (private): the json_t form of a receipt, for JSON glue that
 * builds or reads larger documents (the submit tool's receipts file, tests).
 * Integrators use the text form in certa/receipt.h, which keeps jansson out
 * of the public headers (tests/integration/check_layers.py). */
#ifndef CERTA_ENGINE_RECEIPT_JSON_H
#define CERTA_ENGINE_RECEIPT_JSON_H

#include <jansson.h>

#include "certa/receipt.h"

/* New object (a new reference; NULL on allocation failure). */
json_t *certa_receipt_to_json(const certa_receipt *r);
/* Strict: every field required, no unknown field, hex and ranges checked;
 * the message names the field. */
certa_err certa_receipt_from_json(const json_t *obj, certa_receipt *r,
                                  certa_errinfo *ei);

#endif
