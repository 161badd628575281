/* ingress: the checks a validator runs on a SUBMIT at its door, and the
 * ERROR reply each failure gets (docs/PROTOCOL.md "Client protocol").
 *
 * A batch passes when it decodes (framing, limits, every event canonical),
 * names an integrator of genesis, and its Ed25519 signature verifies under
 * that integrator's key. Sequence numbers and roles are not checked here:
 * the first needs the validator's state, the second gives a committed
 * rejection result per event (state machine). Pure and thread-safe: the
 * daemon runs it on its verification workers, and PBFT's validate_request
 * can call it too.
 */
#ifndef CERTA_NET_INGRESS_H
#define CERTA_NET_INGRESS_H

#include "certa/codec.h"
#include "certa/genesis.h"

typedef struct certa_ingress_verdict {
    certa_err code;      /* CERTA_OK when the batch may enter */
    bool retryable;      /* false for every failure found here */
    char message[256];   /* for the ERROR reply and the log */
} certa_ingress_verdict;

/* Checks batch (len bytes); on CERTA_OK *view describes it (borrowing from
 * batch). Returns verdict->code. */
certa_err certa_ingress_check(const certa_genesis *g, const uint8_t *batch,
                              size_t len, certa_batch_view *view,
                              certa_ingress_verdict *verdict);

#endif
