/* query: JSON answers to holder, grant and block queries, shared by the
 * offline command and the validator (query.h), and the replay
 * of a data directory's block log into a state for offline answers.
 *
 * Invariants:
 * - A page never holds more than the kind's maximum: the record buffer is
 *   allocated once for CERTA_QUERY_RECORDS_MAX records.
 * - The builder only reads the state and the store: answering never changes
 *   what a validator executes.
 * - The validator-log replay decides each batch's replay verdict with the
 *   validator's table (engine/dedup.h, same genesis parameters) and
 *   executes as node/exec.c execute_job does; the header checks of every block
 *   make any difference show as CERTA_E_CHAIN instead of a wrong answer.
 */
#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certa/block.h"
#include "certa/codec.h"
#include "event_json.h"
#include "certa/store.h"
#include "dedup.h"
#include "ledger.h"
#include "certa/wire.h"

struct certa_query {
    certa_record *recs; /* CERTA_QUERY_RECORDS_MAX */
    uint8_t *block;
    size_t block_cap;
};

uint32_t certa_query_page_limit(unsigned kind, uint32_t limit)
{
    uint32_t max = kind == CERTA_QUERY_BLOCK ? CERTA_QUERY_BLOCK_EVENTS_MAX
                                             : CERTA_QUERY_RECORDS_MAX;
    if (limit == 0)
        return CERTA_QUERY_LIMIT_DEFAULT < max ? CERTA_QUERY_LIMIT_DEFAULT : max;
    return limit < max ? limit : max;
}

certa_err certa_query_create(certa_query **out, certa_errinfo *ei)
{
    certa_query *qs = calloc(1, sizeof *qs);
    if (qs != NULL)
        qs->recs = calloc(CERTA_QUERY_RECORDS_MAX, sizeof *qs->recs);
    if (qs == NULL || qs->recs == NULL) {
        certa_query_free(qs);
        return certa_errorf(ei, CERTA_E_NOMEM, "query: allocating a record page");
    }
    *out = qs;
    return CERTA_OK;
}

void certa_query_free(certa_query *qs)
{
    if (qs == NULL)
        return;
    free(qs->recs);
    free(qs->block);
    free(qs);
}

/* ---- JSON pieces ---- */

static json_t *hex_json(const uint8_t *b, size_t n)
{
    char hex[2 * CERTA_SIGNATURE_BYTES + 1];
    CERTA_ASSERT(n <= CERTA_SIGNATURE_BYTES);
    certa_hex_encode(b, n, hex);
    return json_string(hex);
}

static json_t *types_json(uint32_t mask)
{
    json_t *a = json_array();
    for (unsigned t = 0; t < CERTA_LICENCE_TYPES_MAX; t++)
        if (mask & (1u << t)) {
            const char *nm = certa_licence_type_name(t);
            char buf[16];
            if (nm == NULL) {
                snprintf(buf, sizeof buf, "type_%u", t);
                nm = buf;
            }
            json_array_append_new(a, json_string(nm));
        }
    return a;
}

static json_t *record_json(const certa_record *r)
{
    const char *kind = certa_event_kind_name(r->kind);
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_integer((json_int_t)r->seq));
    json_object_set_new(o, "time_ms", json_integer((json_int_t)r->time_ms));
    json_object_set_new(o, "kind", kind ? json_string(kind) : json_null());
    if (r->has_grant)
        json_object_set_new(o, "grant_id", hex_json(r->grant_id, CERTA_GRANT_ID_BYTES));
    json_object_set_new(o, "matter", json_integer(r->matter));
    json_object_set_new(o, "centre", json_integer(r->centre));
    json_object_set_new(o, "licence_types", types_json(r->licence_types));
    if (r->result == CERTA_R_OK) {
        json_object_set_new(o, "result", json_string("ok"));
    } else {
        json_object_set_new(o, "result", json_string("rejected"));
        json_object_set_new(o, "reason", json_string(certa_result_name(r->result)));
    }
    return o;
}

static json_t *page_json(const certa_record *recs, uint32_t n)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < n; i++)
        json_array_append_new(a, record_json(&recs[i]));
    return a;
}

static void grant_fields(json_t *o, const certa_grant_info *gi)
{
    json_object_set_new(o, "grant_id", hex_json(gi->grant_id, CERTA_GRANT_ID_BYTES));
    json_object_set_new(o, "holder_id", hex_json(gi->holder_id, CERTA_HOLDER_ID_BYTES));
    json_object_set_new(o, "status", json_string(certa_grant_status_name(gi->status)));
    json_object_set_new(o, "centre", json_integer(gi->centre));
    json_object_set_new(o, "counter", json_integer(gi->counter));
    json_object_set_new(o, "matter", json_integer(gi->matter));
    json_object_set_new(o, "licence_types", types_json(gi->licence_types));
    json_object_set_new(o, "not_before_ms", json_integer((json_int_t)gi->not_before_ms));
    json_object_set_new(o, "not_after_ms", json_integer((json_int_t)gi->not_after_ms));
    json_object_set_new(o, "method", json_string(certa_method_name(gi->method)));
    json_object_set_new(o, "max_uses", json_integer(gi->max_uses));
    json_object_set_new(o, "uses", json_integer(gi->uses));
    json_object_set_new(o, "failed_attempts", json_integer(gi->failed_attempts));
    json_object_set_new(o, "created_ms", json_integer((json_int_t)gi->created_ms));
}

/* ---- holder and grant ---- */

/* A grant's history is public to whoever knows the grant id: a revoke
 * refused as not_holder came from another holder (her pseudonym is in the
 * event, her attempt in her own records), and is none of this grant's
 * business. The page keeps its cursor; it may hold fewer than limit. */
static uint32_t drop_other_holders(certa_record *recs, uint32_t n)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!(recs[i].kind == CERTA_EV_REVOKE && recs[i].result == CERTA_R_NOT_HOLDER))
            recs[k++] = recs[i];
    CERTA_ASSERT(k <= n);
    return k;
}

static certa_err answer_records(certa_query *qs, const certa_state *s,
                                const certa_cp_query *q, json_t **out, certa_errinfo *ei)
{
    char hex[2 * CERTA_HOLDER_ID_BYTES + 1];
    uint32_t limit = certa_query_page_limit(q->kind, q->limit);
    uint32_t n = 0;
    uint64_t next = 0;
    certa_err e;
    json_t *o = json_object();
    if (o == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "query: out of memory");
    if (q->kind == CERTA_QUERY_HOLDER) {
        certa_hex_encode(q->holder_id, CERTA_HOLDER_ID_BYTES, hex);
        json_object_set_new(o, "holder_id", json_string(hex));
        e = certa_state_holder_records(s, q->holder_id, q->cursor, limit, qs->recs, &n, &next);
    } else {
        certa_hex_encode(q->grant_id, CERTA_GRANT_ID_BYTES, hex);
        certa_grant_info gi;
        e = certa_state_grant(s, q->grant_id, &gi);
        if (e == CERTA_OK) {
            grant_fields(o, &gi);
            e = certa_state_grant_history(s, q->grant_id, q->cursor, limit, qs->recs, &n,
                                          &next);
        }
    }
    const char *what = q->kind == CERTA_QUERY_HOLDER ? "holder" : "grant";
    if (e != CERTA_OK) {
        json_decref(o);
        if (e == CERTA_E_NOTFOUND)
            return certa_errorf(ei, e, "no such %s %s at height %llu", what, hex,
                                (unsigned long long)certa_state_height(s));
        return certa_errorf(ei, CERTA_E_ARG, "cursor %llu is not a cursor of %s %s",
                            (unsigned long long)q->cursor, what, hex);
    }
    CERTA_ASSERT(n <= limit);
    if (q->kind == CERTA_QUERY_GRANT)
        n = drop_other_holders(qs->recs, n);
    json_object_set_new(o, "height", json_integer((json_int_t)certa_state_height(s)));
    json_object_set_new(o, q->kind == CERTA_QUERY_HOLDER ? "records" : "history",
                        page_json(qs->recs, n));
    if (next != 0)
        json_object_set_new(o, "next_cursor", json_integer((json_int_t)next));
    *out = o;
    return CERTA_OK;
}

/* ---- block ---- */

static json_t *header_json(const certa_block_header *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "height", json_integer((json_int_t)h->height));
    json_object_set_new(o, "view", json_integer((json_int_t)h->view));
    json_object_set_new(o, "timestamp_ms", json_integer((json_int_t)h->timestamp_ms));
    json_object_set_new(o, "proposer", json_integer(h->proposer));
    json_object_set_new(o, "event_count", json_integer(h->event_count));
    json_object_set_new(o, "batch_count", json_integer(h->batch_count));
    json_object_set_new(o, "prev_hash", hex_json(h->prev_hash, CERTA_HASH_BYTES));
    json_object_set_new(o, "events_root", hex_json(h->events_root, CERTA_HASH_BYTES));
    json_object_set_new(o, "prev_results_root",
                        hex_json(h->prev_results_root, CERTA_HASH_BYTES));
    json_object_set_new(o, "state_digest", hex_json(h->state_digest, CERTA_HASH_BYTES));
    return o;
}

/* A block's batches as (integrator, seq, bytes), from either record form. */
typedef struct block_walk {
    bool rec;            /* validator record (engine/block.c) */
    certa_block blk;     /* rec: decoded once */
    size_t pos;          /* in the record's batches (rec) or the block (codec) */
    const uint8_t *data; /* codec form */
    size_t len;
} block_walk;

static certa_err walk_open(block_walk *w, const uint8_t *data, size_t len,
                           certa_block_header *h, certa_errinfo *ei)
{
    memset(w, 0, sizeof *w);
    w->rec = certa_block_is_record(data, len);
    certa_errinfo inner;
    certa_errinfo_clear(&inner);
    if (w->rec) {
        if (certa_block_decode(data, len, &w->blk, &inner) != CERTA_OK)
            return certa_errorf(ei, CERTA_E_CORRUPT, "%s", certa_errmsg(&inner));
        *h = w->blk.hdr;
        return CERTA_OK;
    }
    if (certa_block_decode_header(data, len, h, &inner) != CERTA_OK)
        return certa_errorf(ei, CERTA_E_CORRUPT, "block does not decode: %s",
                            certa_errmsg(&inner));
    w->data = data;
    w->len = len;
    w->pos = CERTA_HEADER_BYTES;
    return CERTA_OK;
}

/* A batch as stored, not decoded: decoding (every event, the digest) costs
 * more than a page of answers, so a page decodes only the events it shows. */
typedef struct raw_batch {
    uint16_t integrator;
    uint64_t seq;
    const uint8_t *bytes;
    size_t len;
    uint32_t event_count; /* from the batch header */
    const uint8_t *body;  /* event records: u16 length, bytes */
    size_t body_bytes;
} raw_batch;

/* Next batch: CERTA_OK, CERTA_E_NOTFOUND at the end, CERTA_E_CORRUPT when
 * the framing (lengths, batch header) does not hold. */
static certa_err walk_next(block_walk *w, raw_batch *b)
{
    memset(b, 0, sizeof *b);
    if (w->rec) {
        certa_block_batch req;
        if (!certa_block_next(&w->blk, &w->pos, &req))
            return CERTA_E_NOTFOUND;
        b->integrator = req.integrator;
        b->seq = req.seq;
        b->bytes = req.bytes;
        b->len = req.len;
    } else {
        if (w->pos == w->len)
            return CERTA_E_NOTFOUND;
        if (w->len - w->pos < 4 || certa_get_le32(w->data + w->pos) > w->len - w->pos - 4)
            return CERTA_E_CORRUPT;
        b->len = certa_get_le32(w->data + w->pos);
        b->bytes = w->data + w->pos + 4;
        w->pos += 4 + b->len;
    }
    const uint8_t *p = b->bytes;
    if (b->len < CERTA_BATCH_HEADER_BYTES + CERTA_SIGNATURE_BYTES || certa_get_le32(p) != CERTA_BATCH_MAGIC ||
        (size_t)certa_get_le32(p + 20) != b->len - CERTA_BATCH_HEADER_BYTES - CERTA_SIGNATURE_BYTES)
        return CERTA_E_CORRUPT;
    if (!w->rec) {
        b->integrator = certa_get_le16(p + 6);
        b->seq = certa_get_le64(p + 8);
    }
    b->event_count = certa_get_le32(p + 16);
    b->body = p + CERTA_BATCH_HEADER_BYTES;
    b->body_bytes = certa_get_le32(p + 20);
    return CERTA_OK;
}

/* Next event record of a raw batch, bounds-checked: false at the end or on
 * a record running past the body. */
static bool raw_next(const raw_batch *b, size_t *pos, const uint8_t **ev, size_t *ev_len)
{
    if (b->body_bytes - *pos < 2)
        return false;
    size_t n = certa_get_le16(b->body + *pos);
    if (n > b->body_bytes - *pos - 2)
        return false;
    *ev = b->body + *pos + 2;
    *ev_len = n;
    *pos += 2 + n;
    return true;
}

static json_t *commit_json(const certa_block *b, const uint8_t hash[CERTA_HASH_BYTES])
{
    certa_commit_cert cert;
    certa_block_cert(b, hash, &cert);
    json_t *sigs = json_array();
    for (uint16_t i = 0; i < cert.count; i++)
        json_array_append_new(sigs, json_pack("{s:i,s:o}", "validator",
                                              (int)cert.sigs[i].validator, "signature",
                                              hex_json(cert.sigs[i].sig,
                                                       CERTA_SIGNATURE_BYTES)));
    return json_pack("{s:I,s:I,s:o,s:o}", "view", (json_int_t)cert.view, "height",
                     (json_int_t)cert.height, "block_hash",
                     hex_json(cert.block_hash, CERTA_HASH_BYTES), "signatures", sigs);
}

static json_t *block_event_json(const certa_genesis *g, uint64_t index, uint16_t integrator,
                                uint64_t seq, const uint8_t *ev, size_t ev_len)
{
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer((json_int_t)index));
    if (integrator < g->integrator_count)
        json_object_set_new(o, "integrator", json_string(g->integrators[integrator].name));
    else
        json_object_set_new(o, "integrator", json_integer(integrator));
    json_object_set_new(o, "batch_seq", json_integer((json_int_t)seq));
    certa_event d;
    json_t *ej = NULL;
    if (certa_event_decode(ev, ev_len, &d, NULL) == CERTA_OK)
        ej = certa_event_to_json(&d, NULL);
    /* An event the codec refuses never passes the door; show its bytes if
     * one is ever found in a block. */
    json_object_set_new(o, "event", ej != NULL ? ej : json_null());
    return o;
}

static certa_err answer_block(certa_query *qs, const certa_genesis *g, const certa_state *s,
                              struct certa_store *store, const certa_cp_query *q,
                              json_t **out, certa_errinfo *ei)
{
    uint64_t first = 0, last = 0;
    bool any = certa_store_range(store, &first, &last);
    uint64_t top = s != NULL ? certa_state_height(s) : last;
    if (!any || q->height < first || q->height > last || q->height > top) {
        if (!any)
            return certa_errorf(ei, CERTA_E_NOTFOUND, "no such block %llu: the block log "
                                "is empty", (unsigned long long)q->height);
        return certa_errorf(ei, CERTA_E_NOTFOUND, "no such block %llu: blocks %llu to %llu "
                            "are available", (unsigned long long)q->height,
                            (unsigned long long)first,
                            (unsigned long long)(top < last ? top : last));
    }
    size_t sz = 0;
    certa_err e = certa_store_block_size(store, q->height, &sz);
    if (e == CERTA_OK && sz > qs->block_cap) {
        uint8_t *p = realloc(qs->block, sz);
        if (p == NULL)
            return certa_errorf(ei, CERTA_E_NOMEM, "block %llu: %zu bytes",
                                (unsigned long long)q->height, sz);
        qs->block = p;
        qs->block_cap = sz;
    }
    size_t len = 0;
    certa_errinfo inner;
    certa_errinfo_clear(&inner);
    if (e == CERTA_OK)
        e = certa_store_read(store, q->height, qs->block, qs->block_cap, &len, &inner);
    if (e != CERTA_OK)
        return certa_errorf(ei, e == CERTA_E_NOTFOUND ? e : CERTA_E_CORRUPT,
                            "block %llu: %s", (unsigned long long)q->height,
                            inner.msg[0] ? certa_errmsg(&inner) : certa_strerror(e));
    block_walk w;
    certa_block_header h;
    if ((e = walk_open(&w, qs->block, len, &h, ei)) != CERTA_OK)
        return e;
    if (h.height != q->height)
        return certa_errorf(ei, CERTA_E_CORRUPT, "block %llu: the record holds height %llu",
                            (unsigned long long)q->height, (unsigned long long)h.height);
    if (q->cursor != 0 && q->cursor >= h.event_count)
        return certa_errorf(ei, CERTA_E_ARG, "cursor %llu is not a cursor of block %llu "
                            "(%u events)", (unsigned long long)q->cursor,
                            (unsigned long long)q->height, h.event_count);
    uint32_t limit = certa_query_page_limit(CERTA_QUERY_BLOCK, q->limit);
    uint8_t hash[CERTA_HASH_BYTES];
    uint8_t hdr_bytes[CERTA_HEADER_BYTES];
    certa_header_hash(&h, hash);
    certa_err rc = certa_header_encode(&h, hdr_bytes);
    CERTA_ASSERT(rc == CERTA_OK);
    char hdr_hex[2 * CERTA_HEADER_BYTES + 1];
    certa_hex_encode(hdr_bytes, CERTA_HEADER_BYTES, hdr_hex);

    json_t *events = json_array();
    uint64_t index = 0, end = q->cursor + limit;
    size_t page_bytes = 0;
    raw_batch b;
    while (index < end && (e = walk_next(&w, &b)) == CERTA_OK) {
        if (index + b.event_count <= q->cursor) { /* the whole batch is before the page */
            index += b.event_count;
            continue;
        }
        size_t ep = 0;
        const uint8_t *ev;
        size_t ev_len;
        uint32_t k = 0;
        while (index < end && k < b.event_count && raw_next(&b, &ep, &ev, &ev_len)) {
            if (index >= q->cursor) {
                /* The JSON of an event costs about its size: a page of
                 * large events ends early, next_cursor continues it. */
                if (page_bytes >= CERTA_QUERY_BLOCK_PAGE_BYTES_MAX) {
                    end = index;
                    break;
                }
                json_array_append_new(events, block_event_json(g, index, b.integrator, b.seq,
                                                               ev, ev_len));
                page_bytes += ev_len;
            }
            index++;
            k++;
        }
    }
    if (e == CERTA_E_CORRUPT) {
        json_decref(events);
        return certa_errorf(ei, CERTA_E_CORRUPT, "block %llu: a batch does not decode",
                            (unsigned long long)q->height);
    }
    json_t *o = json_object();
    json_object_set_new(o, "height", json_integer((json_int_t)h.height));
    json_object_set_new(o, "hash", hex_json(hash, CERTA_HASH_BYTES));
    json_object_set_new(o, "header", header_json(&h));
    json_object_set_new(o, "header_hex", json_string(hdr_hex));
    if (w.rec)
        json_object_set_new(o, "commit", commit_json(&w.blk, hash));
    json_object_set_new(o, "events", events);
    if (end < h.event_count)
        json_object_set_new(o, "next_cursor", json_integer((json_int_t)end));
    *out = o;
    return CERTA_OK;
}

certa_err certa_query_answer(certa_query *qs, const certa_genesis *g,
                             const certa_state *s, struct certa_store *store,
                             const certa_cp_query *q, json_t **out,
                             certa_errinfo *ei)
{
    CERTA_ASSERT(qs != NULL && g != NULL && q != NULL && out != NULL);
    *out = NULL;
    switch (q->kind) {
    case CERTA_QUERY_HOLDER:
    case CERTA_QUERY_GRANT:
        CERTA_ASSERT(s != NULL);
        return answer_records(qs, s, q, out, ei);
    case CERTA_QUERY_BLOCK:
        CERTA_ASSERT(store != NULL);
        return answer_block(qs, g, s, store, q, out, ei);
    default:
        return certa_errorf(ei, CERTA_E_UNSUPPORTED, "query kind %u is not answered "
                            "from a state", q->kind);
    }
}

/* ---- replay of a data directory ---- */

#define LAG CERTA_RESULTS_LAG_BLOCKS
#define RING (LAG + 1u)

typedef struct chain_replay {
    certa_state *s;
    const certa_genesis *g;
    certa_dedup *dedup; /* the validator's replay table, fed the same way */
    uint32_t dedup_integrators; /* indexes it holds */
    uint64_t events;    /* events in the blocks replayed so far */
    uint8_t results[RING][CERTA_HASH_BYTES];
    uint8_t digest[RING][CERTA_HASH_BYTES];
    uint64_t blocks;
    certa_err err;
    certa_errinfo *ei;
} chain_replay;

static const uint8_t zero32[CERTA_HASH_BYTES];

static certa_err replay_record(chain_replay *c, uint64_t height, const uint8_t *data,
                               size_t len)
{
    block_walk w;
    certa_block_header h;
    certa_errinfo inner;
    if (!certa_block_is_record(data, len) ||
        walk_open(&w, data, len, &h, &inner) != CERTA_OK || h.height != height)
        return certa_errorf(c->ei, CERTA_E_CORRUPT, "block %llu: not a committed block "
                            "record", (unsigned long long)height);
    if (height != certa_state_height(c->s) + 1)
        return certa_errorf(c->ei, CERTA_E_STATE, "block %llu follows height %llu",
                            (unsigned long long)height,
                            (unsigned long long)certa_state_height(c->s));
    /* Header h commits to the execution of h - LAG (zero for the first LAG
     * blocks and for null blocks). */
    if (height > LAG && (memcmp(h.prev_results_root, zero32, CERTA_HASH_BYTES) != 0 ||
                         memcmp(h.state_digest, zero32, CERTA_HASH_BYTES) != 0)) {
        uint64_t at = (height - LAG) % RING;
        if (memcmp(h.prev_results_root, c->results[at], CERTA_HASH_BYTES) != 0 ||
            memcmp(h.state_digest, c->digest[at], CERTA_HASH_BYTES) != 0)
            return certa_errorf(c->ei, CERTA_E_CHAIN, "block %llu: its header's results "
                                "root or state digest differs from this replay of block "
                                "%llu", (unsigned long long)height,
                                (unsigned long long)(height - LAG));
    }
    certa_err e = certa_state_begin_block(c->s, height, h.timestamp_ms, c->ei);
    if (e != CERTA_OK)
        return e;
    certa_dedup_begin_block(c->dedup, height, h.timestamp_ms, c->events);
    uint32_t in_block = 0;
    raw_batch b;
    certa_batch_view v;
    while ((e = walk_next(&w, &b)) == CERTA_OK) {
        /* The validator frames every batch of a committed block (and stops
         * on one that does not frame), then decodes event by event: the
         * same here. */
        if (certa_batch_frame(b.bytes, b.len, &v, NULL) != CERTA_OK) {
            e = CERTA_E_CORRUPT;
            break;
        }
        uint16_t integ = b.integrator;
        uint64_t seq = b.seq;
        certa_dedup_answer a = CERTA_DEDUP_NEW;
        if (integ < c->dedup_integrators)
            a = certa_dedup_commit(c->dedup, integ, seq, in_block, NULL);
        /* a batch signed with a key the council rotated out (ledger.h) */
        bool stale = a == CERTA_DEDUP_NEW &&
                     certa_ledger_stale_batch(c->s, height, integ, b.bytes, b.len);
        in_block += v.event_count;
        size_t ep = 0;
        const uint8_t *ev;
        size_t ev_len;
        while (certa_batch_next(&v, &ep, &ev, &ev_len)) {
            certa_event d;
            if (stale)
                certa_state_apply_rejected(c->s, integ, CERTA_R_STALE_KEY);
            else if (a == CERTA_DEDUP_EXECUTED)
                certa_state_apply_replayed(c->s, integ);
            else if (a == CERTA_DEDUP_TOO_OLD)
                certa_state_apply_too_old(c->s, integ);
            else if (certa_event_decode(ev, ev_len, &d, NULL) != CERTA_OK)
                certa_state_apply_malformed(c->s, integ);
            else
                certa_state_apply(c->s, integ, &d);
        }
    }
    c->events += in_block;
    uint8_t *res = c->results[height % RING];
    certa_state_end_block(c->s, res);
    certa_state_digest(c->s, c->digest[height % RING]);
    if (e != CERTA_E_NOTFOUND) /* the state advanced: the caller stops here */
        return certa_errorf(c->ei, CERTA_E_CORRUPT, "block %llu: a batch does not decode",
                            (unsigned long long)height);
    c->blocks++;
    return CERTA_OK;
}

static bool replay_fn(void *arg, uint64_t height, const uint8_t *data, size_t len)
{
    chain_replay *c = arg;
    c->err = replay_record(c, height, data, len);
    return c->err == CERTA_OK;
}

certa_err certa_query_restore(certa_state *s, const certa_genesis *g,
                              const char *snap_dir, struct certa_store *store,
                              uint64_t *blocks, certa_errinfo *ei)
{
    CERTA_ASSERT(certa_state_height(s) == 0);
    if (blocks != NULL)
        *blocks = 0;
    uint64_t first = 0, last = 0;
    if (!certa_store_range(store, &first, &last))
        return CERTA_OK;
    /* Which writer: look at the first block after genesis. */
    uint64_t probe = first == 0 ? 1 : first;
    size_t sz = 0;
    bool rec = false;
    if (probe <= last && certa_store_block_size(store, probe, &sz) == CERTA_OK) {
        uint8_t *b = malloc(sz ? sz : 1);
        size_t got = 0;
        if (b == NULL)
            return certa_errorf(ei, CERTA_E_NOMEM, "restore: block %llu",
                                (unsigned long long)probe);
        certa_err e = certa_store_read(store, probe, b, sz, &got, ei);
        rec = e == CERTA_OK && certa_block_is_record(b, got);
        free(b);
        if (e != CERTA_OK)
            return e;
    }
    if (!rec) {
        certa_state_restore_report rep;
        certa_err e = certa_state_restore(s, snap_dir, store, &rep, ei);
        if (blocks != NULL)
            *blocks = rep.replayed_blocks;
        return e;
    }
    if (first > 1)
        return certa_errorf(ei, CERTA_E_NOTFOUND, "restore: a validator's block log is "
                            "replayed from height 1, this one starts at %llu",
                            (unsigned long long)first);
    chain_replay *c = calloc(1, sizeof *c);
    if (c == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "restore: replaying the block log");
    certa_dedup_params dp;
    certa_dedup_params_genesis(g, &dp);
    c->dedup_integrators = dp.integrators;
    certa_err de = certa_dedup_create(&dp, &c->dedup, ei);
    if (de != CERTA_OK) {
        free(c);
        return de;
    }
    c->s = s;
    c->g = g;
    c->ei = ei;
    c->err = CERTA_OK;
    certa_err e = certa_store_scan(store, probe, last, replay_fn, c, ei);
    if (e == CERTA_OK)
        e = c->err;
    if (blocks != NULL)
        *blocks = c->blocks;
    certa_dedup_free(c->dedup);
    free(c);
    return e;
}
