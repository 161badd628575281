/* gateway_verify: see gateway_verify.h. The verdict's "part" is the prefix
 * certa_receipt_parse_json and certa_receipt_verify put before their first
 * failure ("json: ", "commit: ", ...), so it names exactly what
 * `certa receipt verify` would print for the same line. */
#include "gateway_verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "certa/receipt.h"

static void reply(certa_gw_reply *r, unsigned status, json_t *o)
{
    char *t = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    size_t n = t != NULL ? strlen(t) : 0;
    char *b = t != NULL ? realloc(t, n + 2) : NULL;
    if (b == NULL) {
        free(t);
        r->status = 500;
        return;
    }
    b[n] = '\n';
    r->status = status;
    r->body = b;
    r->len = n + 1;
}

/* The part named at the head of msg ("proof: path ..." -> "proof",
 * "result proof: path: ..." -> "result proof"). */
static void part_of(const char *msg, char *part, size_t cap)
{
    static const char two_words[] = "result proof";
    size_t k = strncmp(msg, two_words, sizeof two_words - 1) == 0 ? sizeof two_words - 1
                                                                    : strcspn(msg, ": ");
    if (msg[k] != ':' || k == 0 || k >= cap)
        k = 0;
    memcpy(part, msg, k);
    part[k] = '\0';
    if (k == 0)
        snprintf(part, cap, "receipt");
}

void certa_gw_verify(const certa_genesis *g, const char *body, size_t len, certa_gw_reply *r)
{
    memset(r, 0, sizeof *r);
    /* first as plain JSON: invalid UTF-8, nesting past jansson's depth limit
     * or a syntax error are a bad request, not a receipt that fails */
    json_error_t je;
    json_t *any = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (any == NULL) {
        char msg[256];
        snprintf(msg, sizeof msg, "body: not JSON: %s (line %d, column %d)", je.text, je.line,
                 je.column);
        reply(r, 400, json_pack("{s:{s:i, s:i, s:s}}", "error", "status", 400, "code",
                                (int)CERTA_E_JSON, "message", msg));
        return;
    }
    json_decref(any);
    certa_receipt *rc = malloc(sizeof *rc);
    if (rc == NULL) {
        r->status = 500;
        return;
    }
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e = certa_receipt_parse_json(body, len, rc, &ei);
    if (e == CERTA_OK)
        e = certa_receipt_verify(rc, g, false, &ei);
    if (e != CERTA_OK) {
        char part[32];
        const char *msg = certa_errmsg(&ei);
        part_of(msg, part, sizeof part);
        reply(r, 200, json_pack("{s:b, s:s, s:s}", "valid", 0, "part", part, "message", msg));
    } else {
        reply(r, 200, json_pack("{s:b, s:s, s:I, s:I, s:I, s:s, s:i, s:b}", "valid", 1,
                                "integrator", g->integrators[rc->integrator].name, "seq",
                                (json_int_t)rc->seq, "height", (json_int_t)rc->cert.height,
                                "leaf_index", (json_int_t)rc->leaf_index, "result",
                                rc->result == CERTA_RESULT_OK ? "ok" : "rejected",
                                "signatures", (int)rc->cert.count, "result_proven",
                                (int)rc->has_result_proof));
    }
    free(rc);
}
