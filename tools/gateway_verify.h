/* gateway_verify: POST /v1/receipts/verify, a receipt checked offline
 * against the gateway's genesis (certa_receipt_verify, the checks of
 * `certa receipt verify`), with no validator asked. */
#ifndef CERTA_TOOLS_GATEWAY_VERIFY_H
#define CERTA_TOOLS_GATEWAY_VERIFY_H

#include <stddef.h>

#include "certa/genesis.h"
#include "gateway_post.h"

/* body: one receipt as JSON (the receipts-file line form). 200 with the
 * verdict {"valid":true,...} or {"valid":false,"part":P,"message":M} (P the
 * part that failed: json, header, event, integrator, commit, proof,
 * result); 400 when the body is not JSON at all (invalid UTF-8, nesting
 * too deep, syntax), naming the line and column. */
void certa_gw_verify(const certa_genesis *g, const char *body, size_t len, certa_gw_reply *r);

#endif
