/* receipt_line: a receipt's JSON line written straight into a buffer,
 * without jansson (declared in certa/receipt.h). The gateway answers a POST
 * of 1,024 events with 2 MB of these and `certa submit --receipts` writes
 * one per event; built through jansson (certa_receipt_format_json) they cost
 * more CPU than everything else of a POST together.
 *
 * Invariant: for every receipt it does not decline, the output equals
 * certa_receipt_format_json's byte for byte: jansson writes compact JSON in
 * insertion order, integers as "%lld" of json_int_t, strings unescaped
 * when they hold printable ASCII other than '"' and '\\' (the only reasons
 * accepted here); hex is certa_hex_encode's lower case.
 */
#include <stdio.h>
#include <string.h>

#include "certa/block.h"
#include "certa/codec.h"
#include "certa/receipt.h"

typedef struct out {
    char *p;
    size_t cap, len;
    bool full;
} out;

static void put(out *o, const char *s, size_t n)
{
    if (o->full || o->len + n + 1 > o->cap) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void put_s(out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* as jansson prints a json_int_t */
static void put_int(out *o, long long v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", v);
    put(o, b, (size_t)n);
}

static void put_hex(out *o, const uint8_t *b, size_t n)
{
    if (o->full || o->len + 2 * n + 3 > o->cap) {
        o->full = true;
        return;
    }
    o->p[o->len++] = '"';
    certa_hex_encode(b, n, o->p + o->len);
    o->len += 2 * n;
    o->p[o->len++] = '"';
    o->p[o->len] = '\0';
}

static bool plain(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || *s == '"' || *s == '\\')
            return false;
    return true;
}

/* {"view":V,"height":H,"block_hash":"..","signatures":[...]} */
static void commit_json(out *o, const certa_commit_cert *c)
{
    put_s(o, "{\"view\":");
    put_int(o, (long long)c->view);
    put_s(o, ",\"height\":");
    put_int(o, (long long)c->height);
    put_s(o, ",\"block_hash\":");
    put_hex(o, c->block_hash, CERTA_HASH_BYTES);
    put_s(o, ",\"signatures\":[");
    for (size_t i = 0; i < c->count; i++) {
        put_s(o, i > 0 ? ",{\"validator\":" : "{\"validator\":");
        put_int(o, c->sigs[i].validator);
        put_s(o, ",\"signature\":");
        put_hex(o, c->sigs[i].sig, CERTA_SIGNATURE_BYTES);
        put_s(o, "}");
    }
    put_s(o, "]}");
}

static bool same_cert(const certa_commit_cert *a, const certa_commit_cert *b)
{
    if (a->view != b->view || a->height != b->height || a->count != b->count ||
        memcmp(a->block_hash, b->block_hash, CERTA_HASH_BYTES) != 0)
        return false;
    for (size_t i = 0; i < a->count; i++)
        if (a->sigs[i].validator != b->sigs[i].validator ||
            memcmp(a->sigs[i].sig, b->sigs[i].sig, CERTA_SIGNATURE_BYTES) != 0)
            return false;
    return true;
}

static uint64_t header_height(const uint8_t header[CERTA_HEADER_BYTES])
{
    certa_block_header h;
    return certa_header_decode(header, CERTA_HEADER_BYTES, &h, NULL) == CERTA_OK ? h.height : 0;
}

size_t certa_receipt_line(const certa_receipt *r, certa_receipt_line_cache *c, char *buf,
                          size_t cap)
{
    CERTA_ASSERT(r != NULL && buf != NULL);
    /* a result proof makes it version 2, written by the slow path only */
    if (r->has_result_proof || !plain(r->reason) || r->event_len > CERTA_EVENT_BYTES_MAX ||
        r->path_len > CERTA_RECEIPT_PATH_MAX || r->cert.count > CERTA_VALIDATORS_MAX)
        return 0;
    if (c != NULL && (!c->have_header || memcmp(c->header, r->header, CERTA_HEADER_BYTES) != 0)) {
        memcpy(c->header, r->header, CERTA_HEADER_BYTES);
        c->height = header_height(r->header);
        certa_hex_encode(r->header, CERTA_HEADER_BYTES, c->header_hex);
        c->have_header = true;
    }
    if (c != NULL && (!c->have_commit || !same_cert(&c->cert, &r->cert))) {
        out co = {c->commit, sizeof c->commit, 0, false};
        commit_json(&co, &r->cert);
        c->have_commit = !co.full; /* cannot be full: sized for 64 signatures */
        c->commit_len = co.len;
        c->cert = r->cert;
    }
    uint64_t height = c != NULL ? c->height : header_height(r->header);
    out o = {buf, cap, 0, cap == 0};
    put_s(&o, "{\"receipt\":");
    put_int(&o, CERTA_RECEIPT_JSON_VERSION);
    put_s(&o, ",\"integrator\":");
    put_int(&o, r->integrator);
    put_s(&o, ",\"seq\":");
    put_int(&o, (long long)r->seq);
    put_s(&o, r->result == CERTA_RESULT_OK ? ",\"result\":\"ok\",\"code\":"
                                           : ",\"result\":\"rejected\",\"code\":");
    put_int(&o, r->result);
    put_s(&o, ",\"reason\":\"");
    put_s(&o, r->reason);
    put_s(&o, "\",\"height\":");
    put_int(&o, (long long)height);
    put_s(&o, ",\"leaf_index\":");
    put_int(&o, (long long)r->leaf_index);
    put_s(&o, ",\"event\":");
    put_hex(&o, r->event, r->event_len);
    put_s(&o, ",\"header\":");
    if (c != NULL) {
        put_s(&o, "\"");
        put(&o, c->header_hex, 2 * CERTA_HEADER_BYTES);
        put_s(&o, "\"");
    } else {
        put_hex(&o, r->header, CERTA_HEADER_BYTES);
    }
    put_s(&o, ",\"proof\":[");
    for (size_t i = 0; i < r->path_len; i++) {
        if (i > 0)
            put_s(&o, ",");
        put_hex(&o, r->path[i], CERTA_HASH_BYTES);
    }
    put_s(&o, "],\"commit\":");
    if (c != NULL && c->have_commit)
        put(&o, c->commit, c->commit_len);
    else
        commit_json(&o, &r->cert);
    put_s(&o, "}");
    CERTA_ASSERT(o.full || o.len < cap);
    return o.full ? 0 : o.len;
}
