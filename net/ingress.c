/* ingress: door checks of a submitted batch (see ingress.h). Invariant: a
 * batch that passes decodes exactly and carries a valid signature of a
 * genesis integrator; nothing about it is trusted before that. */
#include "ingress.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

certa_err certa_ingress_check(const certa_genesis *g, const uint8_t *batch,
                              size_t len, certa_batch_view *view,
                              certa_ingress_verdict *verdict)
{
    CERTA_ASSERT(g != NULL && view != NULL && verdict != NULL);
    memset(verdict, 0, sizeof *verdict);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e;
    if (batch == NULL || len == 0) {
        e = certa_errorf(&ei, CERTA_E_TRUNCATED, "empty SUBMIT body: a batch is required");
    } else if (len > CERTA_BATCH_BYTES_MAX) {
        e = certa_errorf(&ei, CERTA_E_TOO_LONG, "batch of %zu bytes, the limit is %u",
                         len, CERTA_BATCH_BYTES_MAX);
    } else if ((e = certa_batch_decode(batch, len, view, &ei)) != CERTA_OK) {
        /* the codec's message names the field */
    } else if (view->integrator >= g->integrator_count) {
        e = certa_errorf(&ei, CERTA_E_NOTFOUND, "unknown integrator %u: genesis has %u",
                         view->integrator, g->integrator_count);
    } else if (certa_batch_verify(view, g->integrators[view->integrator].key, NULL) != CERTA_OK) {
        e = certa_errorf(&ei, CERTA_E_BAD_SIGNATURE, "batch seq %" PRIu64 ": signature "
                         "does not verify under integrator \"%s\"'s key", view->seq,
                         g->integrators[view->integrator].name);
    }
    verdict->code = e;
    verdict->retryable = false;
    if (e != CERTA_OK)
        snprintf(verdict->message, sizeof verdict->message, "%s", certa_errmsg(&ei));
    return e;
}
