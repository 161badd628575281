/* net_transport: the replayer's transport over the integrator client
 * protocol (include/certa/client.h, docs/PROTOCOL.md "Client protocol").
 *
 * submit hands the batch to the client library with the replay token as its
 * tag; poll drains the library's final replies: a RECEIPT counts the results
 * of its entries by result code (the receipt is parsed for its entries but
 * not verified: proving receipts is `certa receipt`'s job, measuring is
 * ours), an ERROR maps to refused (BUSY, NOSPACE, REFUSED), lost (TIMEOUT)
 * or error (anything else). ACCEPTED replies are not final and are skipped.
 * A full client window is reported as CERTA_E_BUSY: the replayer counts it
 * as refused, since the cluster is that far behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certa/client.h"
#include "certa/genesis.h"
#include "net_transport.h"
#include "certa/wire.h"

typedef struct net_tr {
    certa_client *c;
    char names[CERTA_LOAD_REASONS_MAX][CERTA_LOAD_REASON_NAME_BYTES];
} net_tr;

certa_err certa_load_receipt_count(const uint8_t *b, size_t len, uint32_t *counts,
                                   char (*names)[CERTA_LOAD_REASON_NAME_BYTES],
                                   uint32_t *entries_out, certa_errinfo *ei)
{
    /* magic, version, reserved, integrator, seq, header, view, height, hash */
    const size_t fixed = 4 + 1 + 1 + 2 + 8 + 168 + 8 + 8 + 32;
    if (len < fixed + 2 || certa_get_le32(b) != 0x52545243u || b[4] != 2)
        return certa_errorf(ei, CERTA_E_PROTOCOL, "receipt: bad magic, version or size");
    size_t pos = fixed;
    uint16_t sigs = certa_get_le16(b + pos);
    pos += 2;
    if (sigs == 0 || sigs > 64 || len - pos < (size_t)sigs * 66 + 12)
        return certa_errorf(ei, CERTA_E_PROTOCOL, "receipt: %u signatures", sigs);
    pos += (size_t)sigs * 66 + 8; /* and the first leaf index */
    uint32_t n = certa_get_le32(b + pos);
    pos += 4;
    if (n == 0 || n > 4096)
        return certa_errorf(ei, CERTA_E_PROTOCOL, "receipt: %u entries", n);
    for (uint32_t i = 0; i < n; i++) {
        if (len - pos < 2 + 1)
            return certa_errorf(ei, CERTA_E_TRUNCATED, "receipt: entry %u", i);
        uint16_t code = certa_get_le16(b + pos);
        uint8_t rl = b[pos + 2];
        pos += 3;
        if (len - pos < (size_t)rl + 2)
            return certa_errorf(ei, CERTA_E_TRUNCATED, "receipt: entry %u reason", i);
        uint32_t slot = code < CERTA_LOAD_REASONS_MAX ? code : CERTA_LOAD_REASONS_MAX - 1;
        if (names != NULL && code != 0 && rl > 0 && names[slot][0] == '\0') {
            size_t k = rl < CERTA_LOAD_REASON_NAME_BYTES - 1 ? rl : CERTA_LOAD_REASON_NAME_BYTES - 1;
            for (size_t j = 0; j < k; j++) {
                char ch = (char)b[pos + j];
                names[slot][j] = (ch == ' ' || ch == '"' || ch == '\\') ? '_' : ch;
            }
            names[slot][k] = '\0';
        }
        pos += rl;
        uint16_t el = certa_get_le16(b + pos);
        pos += 2;
        if (len - pos < (size_t)el)
            return certa_errorf(ei, CERTA_E_TRUNCATED, "receipt: entry %u event", i);
        pos += el;
        counts[slot]++;
    }
    /* the batch's range proof */
    if (len - pos < 1 || b[pos] > 128 || len - pos - 1 < (size_t)b[pos] * 32)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "receipt: proof");
    pos += 1 + (size_t)b[pos] * 32;
    if (pos != len)
        return certa_errorf(ei, CERTA_E_TRAILING, "receipt: %zu bytes after the proof",
                            len - pos);
    if (entries_out != NULL)
        *entries_out = n;
    return CERTA_OK;
}

static certa_err net_submit(void *ctx, uint64_t token, const uint8_t *batch, size_t len,
                            uint32_t events, certa_errinfo *ei)
{
    net_tr *t = ctx;
    (void)events;
    uint64_t rid = 0;
    certa_err e = certa_client_submit(t->c, batch, len, token, &rid);
    if (e == CERTA_E_BUSY)
        return certa_errorf(ei, e, "client window full");
    if (e != CERTA_OK)
        return certa_errorf(ei, e, "submit: %s", certa_strerror(e));
    return CERTA_OK;
}

static size_t net_poll(void *ctx, certa_load_answer *out, size_t cap, uint64_t timeout_us)
{
    net_tr *t = ctx;
    size_t n = 0;
    int wait_ms = (int)((timeout_us + 999) / 1000);
    while (n < cap) {
        certa_client_reply r;
        certa_err e = certa_client_poll(t->c, n == 0 ? wait_ms : 0, &r);
        if (e != CERTA_OK)
            break;
        if (!r.final)
            continue;
        certa_load_answer *a = &out[n++];
        memset(a, 0, sizeof *a);
        a->token = r.tag;
        if (r.type == CERTA_CP_RECEIPT) {
            if (certa_load_receipt_count(r.body, r.body_len, a->reason_counts, t->names, NULL,
                                         NULL) == CERTA_OK)
                a->status = CERTA_LOAD_COMMITTED;
            else
                a->status = CERTA_LOAD_ERROR;
        } else if (r.type == CERTA_CP_ERROR) {
            uint16_t c = r.error.code;
            a->status = (c == CERTA_E_BUSY || c == CERTA_E_NOSPACE || c == CERTA_E_REFUSED)
                            ? CERTA_LOAD_REFUSED
                        : c == CERTA_E_TIMEOUT ? CERTA_LOAD_LOST
                                               : CERTA_LOAD_ERROR;
        } else {
            a->status = CERTA_LOAD_ERROR;
        }
    }
    return n;
}

static const char *net_reason(void *ctx, uint32_t code)
{
    net_tr *t = ctx;
    if (code >= CERTA_LOAD_REASONS_MAX || t->names[code][0] == '\0')
        return NULL;
    return t->names[code];
}

static void net_destroy(void *ctx)
{
    net_tr *t = ctx;
    if (t == NULL)
        return;
    certa_client_close(t->c);
    free(t);
}

certa_err certa_load_net_new(uint32_t n, const char *const *endpoints,
                             const char *const *server_keys, uint32_t window,
                             certa_load_transport *out, certa_errinfo *ei)
{
    net_tr *t = calloc(1, sizeof *t);
    if (t == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "net transport");
    certa_client_opts o = {.endpoint_count = n, .endpoints = endpoints,
                           .server_keys = server_keys, .window = window};
    certa_err e = certa_client_open(&o, &t->c, ei);
    if (e != CERTA_OK) {
        free(t);
        return e;
    }
    snprintf(t->names[0], sizeof t->names[0], "ok");
    *out = (certa_load_transport){.ctx = t, .submit = net_submit, .poll = net_poll,
                                  .reason_name = net_reason, .destroy = net_destroy};
    return CERTA_OK;
}

certa_err certa_load_net_open(const char *endpoints, const char *genesis_path,
                              uint32_t window, certa_load_transport *out, certa_errinfo *ei)
{
    if (genesis_path == NULL)
        return certa_errorf(ei, CERTA_E_ARG,
                            "endpoints %s: --genesis is needed for the validators' keys",
                            endpoints);
    certa_genesis *g = NULL;
    certa_err e = certa_genesis_load(genesis_path, &g, ei);
    if (e != CERTA_OK)
        return e;
    const char *eps[CERTA_VALIDATORS_MAX], *keys[CERTA_VALIDATORS_MAX];
    char buf[4096];
    uint32_t n = 0;
    if (strcmp(endpoints, "genesis") == 0) {
        for (uint32_t i = 0; i < g->validator_count && n < CERTA_VALIDATORS_MAX; i++, n++) {
            eps[n] = g->validators[i].client_endpoint;
            keys[n] = g->validators[i].curve_pub;
        }
    } else {
        snprintf(buf, sizeof buf, "%s", endpoints);
        char *save = NULL;
        for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
            int found = -1;
            for (uint32_t i = 0; i < g->validator_count; i++)
                if (strcmp(g->validators[i].client_endpoint, tok) == 0)
                    found = (int)i;
            if (found < 0) {
                e = certa_errorf(ei, CERTA_E_ARG,
                                 "endpoint %s is no validator's client endpoint in %s", tok,
                                 genesis_path);
                certa_genesis_free(g);
                return e;
            }
            if (n == CERTA_VALIDATORS_MAX)
                break;
            eps[n] = g->validators[found].client_endpoint;
            keys[n] = g->validators[found].curve_pub;
            n++;
        }
    }
    if (n == 0) {
        certa_genesis_free(g);
        return certa_errorf(ei, CERTA_E_ARG, "endpoints %s: none given", endpoints);
    }
    /* the client copies what it needs at open: endpoints are connected and
     * keys set on the sockets there */
    e = certa_load_net_new(n, eps, keys, window, out, ei);
    certa_genesis_free(g);
    return e;
}
