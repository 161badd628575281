/* receipt_json: the JSON line form of a receipt (one object per event, one
 * line each in a receipts file), kept apart from receipt.c so that the
 * binary codec and the offline verifier do not depend on jansson. The text
 * form (certa_receipt_format_json, certa_receipt_parse_json) is public in
 * certa/receipt.h; the json_t form is private (receipt_json.h) for the
 * engine's and tools' own JSON glue.
 */
#include "receipt_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certa/crypto.h"

static bool printable(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

/* ---- JSON ----
 * {"receipt":1,"integrator":N,"seq":N,"result":"ok"|"rejected","code":N,
 *  "reason":"...","height":N,"leaf_index":N,"event":"hex","header":"hex",
 *  "proof":["hex",...],"commit":{"view":N,"height":N,"block_hash":"hex",
 *  "signatures":[{"validator":N,"signature":"hex"},...]}} */

static json_t *hex_json(const uint8_t *b, size_t n)
{
    char buf[2 * CERTA_EVENT_BYTES_MAX + 1];
    CERTA_ASSERT(n <= CERTA_EVENT_BYTES_MAX);
    certa_hex_encode(b, n, buf);
    return json_string(buf);
}

static json_t *cert_json(const certa_commit_cert *c)
{
    json_t *sigs = json_array();
    for (size_t i = 0; sigs && i < c->count; i++)
        json_array_append_new(sigs, json_pack("{s:i,s:o}", "validator",
                              (json_int_t)c->sigs[i].validator, "signature",
                              hex_json(c->sigs[i].sig, CERTA_SIGNATURE_BYTES)));
    return json_pack("{s:I,s:I,s:o,s:o}", "view", (json_int_t)c->view,
                     "height", (json_int_t)c->height, "block_hash",
                     hex_json(c->block_hash, CERTA_HASH_BYTES), "signatures", sigs);
}

static json_t *path_json(const uint8_t (*path)[CERTA_HASH_BYTES], size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, hex_json(path[i], CERTA_HASH_BYTES));
    return a;
}

json_t *certa_receipt_to_json(const certa_receipt *r)
{
    /* height is for readers; from_json checks it against the header. */
    certa_block_header h;
    uint64_t height = 0;
    if (certa_header_decode(r->header, CERTA_HEADER_BYTES, &h, NULL) == CERTA_OK)
        height = h.height;
    json_t *o = json_pack("{s:i,s:i,s:I,s:s,s:i,s:s,s:I,s:I,s:o,s:o,s:o,s:o}",
                          "receipt", r->has_result_proof ? CERTA_RECEIPT_JSON_VERSION_RESULTS
                                                         : CERTA_RECEIPT_JSON_VERSION,
                          "integrator", (json_int_t)r->integrator,
                          "seq", (json_int_t)r->seq,
                          "result", r->result == CERTA_RESULT_OK ? "ok" : "rejected",
                          "code", (json_int_t)r->result,
                          "reason", r->reason,
                          "height", (json_int_t)height,
                          "leaf_index", (json_int_t)r->leaf_index,
                          "event", hex_json(r->event, r->event_len),
                          "header", hex_json(r->header, CERTA_HEADER_BYTES),
                          "proof", path_json((const uint8_t(*)[CERTA_HASH_BYTES])r->path,
                                             r->path_len),
                          "commit", cert_json(&r->cert));
    if (o != NULL && r->has_result_proof)
        json_object_set_new(o, "result_proof",
                            json_pack("{s:o,s:o,s:o}", "header",
                                      hex_json(r->result_header, CERTA_HEADER_BYTES),
                                      "path", path_json((const uint8_t(*)[CERTA_HASH_BYTES])
                                                            r->result_path,
                                                        r->result_path_len),
                                      "commit", cert_json(&r->result_cert)));
    return o;
}

static bool only_keys(const json_t *obj, const char *const *keys, size_t n,
                      const char **unknown)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
            found = strcmp(k, keys[i]) == 0;
        if (!found) {
            *unknown = k;
            return false;
        }
    }
    return true;
}

static certa_err get_uint(const json_t *obj, const char *key, uint64_t max,
                          uint64_t *out, certa_errinfo *ei)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return certa_errorf(ei, CERTA_E_JSON, "field \"%s\": missing", key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > max)
        return certa_errorf(ei, CERTA_E_JSON, "field \"%s\": expected an integer "
                            "in 0..%" PRIu64, key, max);
    *out = (uint64_t)json_integer_value(v);
    return CERTA_OK;
}

static certa_err get_hex(const json_t *obj, const char *key, uint8_t *out,
                         size_t min, size_t max, size_t *len_out, certa_errinfo *ei)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return certa_errorf(ei, CERTA_E_JSON, "field \"%s\": missing", key);
    const char *s = json_string_value(v);
    size_t sl = s ? strlen(s) : 0;
    if (s == NULL || sl % 2 != 0 || sl / 2 < min || sl / 2 > max ||
        certa_hex_decode(s, out, sl / 2) != CERTA_OK) {
        if (min == max)
            return certa_errorf(ei, CERTA_E_JSON, "field \"%s\": expected %zu hex "
                                "digits", key, 2 * min);
        return certa_errorf(ei, CERTA_E_JSON, "field \"%s\": expected %zu to %zu "
                            "hex digits", key, 2 * min, 2 * max);
    }
    if (len_out != NULL)
        *len_out = sl / 2;
    return CERTA_OK;
}

static certa_err cert_from_json(const json_t *c, const char *name,
                                certa_commit_cert *cert, certa_errinfo *ei)
{
    static const char *const keys[] = { "view", "height", "block_hash", "signatures" };
    const char *unknown = NULL;
    if (!json_is_object(c))
        return certa_errorf(ei, CERTA_E_JSON, "field \"%s\": expected an object", name);
    if (!only_keys(c, keys, 4, &unknown))
        return certa_errorf(ei, CERTA_E_JSON, "field \"%s.%s\": unknown field",
                            name, unknown);
    certa_err e;
    if ((e = get_uint(c, "view", INT64_MAX, &cert->view, ei)) != CERTA_OK ||
        (e = get_uint(c, "height", INT64_MAX, &cert->height, ei)) != CERTA_OK ||
        (e = get_hex(c, "block_hash", cert->block_hash, 32, 32, NULL, ei)) != CERTA_OK)
        return e;
    json_t *sigs = json_object_get(c, "signatures");
    if (!json_is_array(sigs) || json_array_size(sigs) == 0 ||
        json_array_size(sigs) > CERTA_VALIDATORS_MAX)
        return certa_errorf(ei, CERTA_E_JSON, "field \"%s.signatures\": expected "
                            "an array of 1 to %u signatures", name, CERTA_VALIDATORS_MAX);
    static const char *const skeys[] = { "validator", "signature" };
    for (size_t i = 0; i < json_array_size(sigs); i++) {
        json_t *s = json_array_get(sigs, i);
        uint64_t v;
        if (!json_is_object(s) || !only_keys(s, skeys, 2, &unknown) ||
            get_uint(s, "validator", UINT16_MAX, &v, NULL) != CERTA_OK ||
            get_hex(s, "signature", cert->sigs[i].sig, 64, 64, NULL, NULL) != CERTA_OK)
            return certa_errorf(ei, CERTA_E_JSON, "field \"%s.signatures[%zu]\": "
                                "expected {\"validator\": N, \"signature\": 128 hex "
                                "digits}", name, i);
        cert->sigs[i].validator = (uint16_t)v;
    }
    cert->count = (uint16_t)json_array_size(sigs);
    return CERTA_OK;
}

static certa_err path_from_json(const json_t *a, const char *name,
                                uint8_t (*path)[CERTA_HASH_BYTES], uint8_t *len,
                                certa_errinfo *ei)
{
    if (!json_is_array(a) || json_array_size(a) > CERTA_RECEIPT_PATH_MAX)
        return certa_errorf(ei, CERTA_E_JSON, "field \"%s\": expected an array of "
                            "at most %u hashes", name, CERTA_RECEIPT_PATH_MAX);
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *h = json_string_value(json_array_get(a, i));
        if (h == NULL || strlen(h) != 2 * CERTA_HASH_BYTES ||
            certa_hex_decode(h, path[i], CERTA_HASH_BYTES) != CERTA_OK)
            return certa_errorf(ei, CERTA_E_JSON, "field \"%s[%zu]\": expected 64 "
                                "hex digits", name, i);
    }
    *len = (uint8_t)json_array_size(a);
    return CERTA_OK;
}

/* "result_proof": {"header": hex, "path": [hex...], "commit": {...}}. */
static certa_err result_proof_from_json(const json_t *o, certa_receipt *r,
                                        certa_errinfo *ei)
{
    static const char *const keys[] = { "header", "path", "commit" };
    const char *unknown = NULL;
    if (!json_is_object(o))
        return certa_errorf(ei, CERTA_E_JSON, "field \"result_proof\": expected an "
                            "object (a version %u receipt has one)",
                            CERTA_RECEIPT_JSON_VERSION_RESULTS);
    if (!only_keys(o, keys, 3, &unknown))
        return certa_errorf(ei, CERTA_E_JSON, "field \"result_proof.%s\": unknown field",
                            unknown);
    certa_err e;
    if ((e = get_hex(o, "header", r->result_header, CERTA_HEADER_BYTES, CERTA_HEADER_BYTES,
                     NULL, ei)) != CERTA_OK ||
        (e = path_from_json(json_object_get(o, "path"), "result_proof.path", r->result_path,
                            &r->result_path_len, ei)) != CERTA_OK ||
        (e = cert_from_json(json_object_get(o, "commit"), "result_proof.commit",
                            &r->result_cert, ei)) != CERTA_OK)
        return e;
    r->has_result_proof = true;
    return CERTA_OK;
}

certa_err certa_receipt_from_json(const json_t *obj, certa_receipt *r,
                                  certa_errinfo *ei)
{
    static const char *const keys[] = { "receipt", "integrator", "seq", "result",
                                        "code", "reason", "height", "leaf_index",
                                        "event", "header", "proof", "commit",
                                        "result_proof" };
    CERTA_ASSERT(r != NULL);
    memset(r, 0, sizeof *r);
    if (!json_is_object(obj))
        return certa_errorf(ei, CERTA_E_JSON, "expected a JSON object");
    const char *unknown = NULL;
    if (!only_keys(obj, keys, sizeof keys / sizeof keys[0], &unknown))
        return certa_errorf(ei, CERTA_E_JSON, "field \"%s\": unknown field", unknown);
    uint64_t v, code, integ, height;
    certa_err e;
    if ((e = get_uint(obj, "receipt", 255, &v, ei)) != CERTA_OK)
        return e;
    if (v != CERTA_RECEIPT_JSON_VERSION && v != CERTA_RECEIPT_JSON_VERSION_RESULTS)
        return certa_errorf(ei, CERTA_E_BAD_VERSION, "field \"receipt\": version "
                            "%" PRIu64 ", this tool reads %u and %u", v,
                            CERTA_RECEIPT_JSON_VERSION, CERTA_RECEIPT_JSON_VERSION_RESULTS);
    json_t *rp = json_object_get(obj, "result_proof");
    if (v == CERTA_RECEIPT_JSON_VERSION && rp != NULL)
        return certa_errorf(ei, CERTA_E_JSON, "field \"result_proof\": not in a "
                            "version %u receipt", CERTA_RECEIPT_JSON_VERSION);
    if (v == CERTA_RECEIPT_JSON_VERSION_RESULTS &&
        (e = result_proof_from_json(rp, r, ei)) != CERTA_OK)
        return e;
    size_t el = 0;
    if ((e = get_uint(obj, "integrator", UINT16_MAX, &integ, ei)) != CERTA_OK ||
        (e = get_uint(obj, "seq", INT64_MAX, &r->seq, ei)) != CERTA_OK ||
        (e = get_uint(obj, "code", UINT16_MAX, &code, ei)) != CERTA_OK ||
        (e = get_uint(obj, "height", INT64_MAX, &height, ei)) != CERTA_OK ||
        (e = get_uint(obj, "leaf_index", INT64_MAX, &r->leaf_index, ei)) != CERTA_OK ||
        (e = get_hex(obj, "event", r->event, 1, CERTA_EVENT_BYTES_MAX, &el, ei)) != CERTA_OK ||
        (e = get_hex(obj, "header", r->header, CERTA_HEADER_BYTES, CERTA_HEADER_BYTES,
                     NULL, ei)) != CERTA_OK ||
        (e = cert_from_json(json_object_get(obj, "commit"), "commit", &r->cert, ei)) != CERTA_OK)
        return e;
    r->integrator = (uint16_t)integ;
    r->event_len = (uint16_t)el;
    r->result = (uint16_t)code;
    const char *result = json_string_value(json_object_get(obj, "result"));
    if (result == NULL || (strcmp(result, "ok") != 0 && strcmp(result, "rejected") != 0))
        return certa_errorf(ei, CERTA_E_JSON, "field \"result\": expected \"ok\" or "
                            "\"rejected\"");
    if ((strcmp(result, "ok") == 0) != (code == CERTA_RESULT_OK))
        return certa_errorf(ei, CERTA_E_JSON, "field \"result\": \"%s\" with code "
                            "%" PRIu64, result, code);
    const char *reason = json_string_value(json_object_get(obj, "reason"));
    if (reason == NULL || strlen(reason) > CERTA_RECEIPT_REASON_MAX ||
        !printable((const uint8_t *)reason, strlen(reason)))
        return certa_errorf(ei, CERTA_E_JSON, "field \"reason\": expected printable "
                            "text of at most %u bytes", CERTA_RECEIPT_REASON_MAX);
    snprintf(r->reason, sizeof r->reason, "%s", reason);
    if ((e = path_from_json(json_object_get(obj, "proof"), "proof", r->path, &r->path_len,
                            ei)) != CERTA_OK)
        return e;
    certa_block_header h;
    if (certa_header_decode(r->header, CERTA_HEADER_BYTES, &h, NULL) == CERTA_OK &&
        h.height != height)
        return certa_errorf(ei, CERTA_E_JSON, "field \"height\": %" PRIu64 ", the "
                            "header says %" PRIu64, height, h.height);
    return CERTA_OK;
}

char *certa_receipt_format_json(const certa_receipt *r)
{
    json_t *j = certa_receipt_to_json(r);
    if (j == NULL)
        return NULL;
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

certa_err certa_receipt_parse_json(const char *text, size_t len, certa_receipt *r,
                                   certa_errinfo *ei)
{
    CERTA_ASSERT(text != NULL && r != NULL);
    json_error_t jerr;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        memset(r, 0, sizeof *r);
        return certa_errorf(ei, CERTA_E_JSON, "json: %s (column %d)", jerr.text,
                            jerr.column);
    }
    certa_err e = certa_receipt_from_json(j, r, ei);
    json_decref(j);
    if (e != CERTA_OK && ei != NULL) {
        /* One prefix for every failure of the text, whatever part refused it. */
        char msg[CERTA_ERRINFO_MSG_BYTES];
        snprintf(msg, sizeof msg, "%s", ei->msg);
        certa_errorf(ei, e, "json: %s", msg);
    }
    return e;
}
