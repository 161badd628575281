/* certa query: a holder's records or a grant's status and history, as JSON.
 *
 * The command is split in three so that another source can be added beside
 * the offline one: parse the command line into a query_request, answer it
 * from a source (today: a data directory, opened as snapshot + replay) into
 * a JSON object, print the object. A source fills exactly the JSON shape
 * documented in docs/OPERATIONS.md ("Queries"), whatever it reads from.
 */
#if __has_include("certa/store.h") /* offline queries read the block log */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "certa/codec.h"
#include "certa/genesis.h"
#include "certa/state.h"
#include "certa/store.h"
#include "cli.h"

static const char usage[] =
    "usage: certa query holder HOLDER_HEX --data DIR [--cursor C] [--limit N]\n"
    "       certa query grant GRANT_HEX --data DIR [--cursor C] [--limit N]\n\n"
    "Answers from a data directory, offline: the newest valid state snapshot\n"
    "plus a replay of the blocks after it.\n"
    "  holder  a holder's records, oldest first: time, kind, grant, matter,\n"
    "          centre, licence types and result of each event\n"
    "  grant   a grant's scope, status, uses and history\n"
    "  --cursor C  start after the previous page (its next_cursor)\n"
    "  --limit N   records per page (default 100, at most 1000)\n\n"
    "exit: 0 found, 1 no such holder or grant, 2 usage, 3 error.\n";

#define CMD "query"
#define LIMIT_DEFAULT 100u
#define LIMIT_MAX 1000u

typedef enum query_kind { Q_HOLDER, Q_GRANT } query_kind;

typedef struct query_request {
    query_kind kind;
    uint8_t holder_id[CERTA_HOLDER_ID_BYTES];
    uint8_t grant_id[CERTA_GRANT_ID_BYTES];
    uint64_t cursor;
    uint32_t limit;
    const char *data_dir; /* offline source */
} query_request;

/* What a source returns: the answer object (NULL when not found) or an
 * error. */
typedef struct query_answer {
    json_t *obj;
    bool not_found;
} query_answer;

/* ---- JSON shapes shared by every source ---- */

static json_t *hex_json(const uint8_t *b, size_t n)
{
    char hex[2 * CERTA_HOLDER_ID_BYTES + 1];
    CERTA_ASSERT(n <= CERTA_HOLDER_ID_BYTES);
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

/* ---- the offline source: a data directory ---- */

static int open_offline(const char *dir, certa_genesis **g, certa_store **store,
                        certa_state **s)
{
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    char path[4096], blocks[4096], snaps[4096];
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    snprintf(blocks, sizeof blocks, "%s/blocks", dir);
    snprintf(snaps, sizeof snaps, "%s/snapshots", dir);
    if (certa_genesis_load(path, g, &ei) != CERTA_OK)
        return certa_fail(CMD, "%s", certa_errmsg(&ei));
    certa_store_opts so;
    certa_store_opts_default(&so);
    so.dir = blocks;
    so.read_only = true;
    if (certa_store_open(&so, store, NULL, &ei) != CERTA_OK)
        return certa_fail(CMD, "%s", certa_errmsg(&ei));
    certa_state_opts o = {.hash_threads = 1};
    if (certa_state_create(*g, &o, s, &ei) != CERTA_OK ||
        certa_state_restore(*s, snaps, *store, NULL, &ei) != CERTA_OK)
        return certa_fail(CMD, "%s", certa_errmsg(&ei));
    return CERTA_EXIT_OK;
}

static int answer_from_state(const certa_state *s, const query_request *q, query_answer *a)
{
    certa_record *recs = calloc(q->limit + 1, sizeof *recs);
    if (recs == NULL)
        return certa_fail(CMD, "out of memory");
    uint32_t n = 0;
    uint64_t next = 0;
    certa_err e;
    json_t *o = json_object();
    if (q->kind == Q_HOLDER) {
        e = certa_state_holder_records(s, q->holder_id, q->cursor, q->limit, recs, &n, &next);
        json_object_set_new(o, "holder_id", hex_json(q->holder_id, CERTA_HOLDER_ID_BYTES));
    } else {
        certa_grant_info gi;
        e = certa_state_grant(s, q->grant_id, &gi);
        if (e == CERTA_OK) {
            json_object_set_new(o, "grant_id", hex_json(gi.grant_id, CERTA_GRANT_ID_BYTES));
            json_object_set_new(o, "holder_id", hex_json(gi.holder_id, CERTA_HOLDER_ID_BYTES));
            json_object_set_new(o, "status", json_string(certa_grant_status_name(gi.status)));
            json_object_set_new(o, "centre", json_integer(gi.centre));
            json_object_set_new(o, "counter", json_integer(gi.counter));
            json_object_set_new(o, "matter", json_integer(gi.matter));
            json_object_set_new(o, "licence_types", types_json(gi.licence_types));
            json_object_set_new(o, "not_before_ms", json_integer((json_int_t)gi.not_before_ms));
            json_object_set_new(o, "not_after_ms", json_integer((json_int_t)gi.not_after_ms));
            json_object_set_new(o, "method", json_string(certa_method_name(gi.method)));
            json_object_set_new(o, "max_uses", json_integer(gi.max_uses));
            json_object_set_new(o, "uses", json_integer(gi.uses));
            json_object_set_new(o, "failed_attempts", json_integer(gi.failed_attempts));
            json_object_set_new(o, "created_ms", json_integer((json_int_t)gi.created_ms));
            e = certa_state_grant_history(s, q->grant_id, q->cursor, q->limit, recs, &n, &next);
        }
    }
    if (e == CERTA_E_NOTFOUND) {
        free(recs);
        json_decref(o);
        a->not_found = true;
        return CERTA_EXIT_OK;
    }
    if (e != CERTA_OK) {
        free(recs);
        json_decref(o);
        return certa_usage_error(CMD, "--cursor %llu is not a cursor of this %s",
                                 (unsigned long long)q->cursor,
                                 q->kind == Q_HOLDER ? "holder" : "grant");
    }
    json_object_set_new(o, "height", json_integer((json_int_t)certa_state_height(s)));
    json_object_set_new(o, q->kind == Q_HOLDER ? "records" : "history", page_json(recs, n));
    if (next != 0)
        json_object_set_new(o, "next_cursor", json_integer((json_int_t)next));
    free(recs);
    a->obj = o;
    return CERTA_EXIT_OK;
}

static int answer_offline(const query_request *q, query_answer *a)
{
    certa_genesis *g = NULL;
    certa_store *store = NULL;
    certa_state *s = NULL;
    int rc = open_offline(q->data_dir, &g, &store, &s);
    if (rc == CERTA_EXIT_OK)
        rc = answer_from_state(s, q, a);
    certa_state_free(s);
    certa_store_close(store);
    certa_genesis_free(g);
    return rc;
}

/* ---- command line ---- */

static int parse(int argc, char **argv, query_request *q)
{
    memset(q, 0, sizeof *q);
    q->limit = LIMIT_DEFAULT;
    if (argc < 3)
        return certa_usage_error(CMD, "expected 'holder HEX' or 'grant HEX'");
    const char *what = argv[1], *hex = argv[2];
    if (strcmp(what, "holder") == 0) {
        q->kind = Q_HOLDER;
        if (certa_hex_decode(hex, q->holder_id, CERTA_HOLDER_ID_BYTES) != CERTA_OK)
            return certa_usage_error(CMD, "holder id must be %d hex digits",
                                     2 * CERTA_HOLDER_ID_BYTES);
    } else if (strcmp(what, "grant") == 0) {
        q->kind = Q_GRANT;
        if (certa_hex_decode(hex, q->grant_id, CERTA_GRANT_ID_BYTES) != CERTA_OK)
            return certa_usage_error(CMD, "grant id must be %d hex digits",
                                     2 * CERTA_GRANT_ID_BYTES);
    } else {
        return certa_usage_error(CMD, "unknown query '%s' (holder or grant)", what);
    }
    for (int i = 3; i < argc; i++) {
        unsigned long long v;
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            q->data_dir = argv[++i];
        } else if (strcmp(argv[i], "--cursor") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 0, UINT64_MAX, &v) != 0)
                return certa_usage_error(CMD, "--cursor: not a number: %s", argv[i]);
            q->cursor = v;
        } else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 1, LIMIT_MAX, &v) != 0)
                return certa_usage_error(CMD, "--limit: 1 to %u", LIMIT_MAX);
            q->limit = (uint32_t)v;
        } else {
            return certa_usage_error(CMD, "unexpected argument '%s'", argv[i]);
        }
    }
    if (q->data_dir == NULL)
        return certa_usage_error(CMD, "--data DIR is required");
    return CERTA_EXIT_OK;
}

int certa_cmd_query(int argc, char **argv)
{
    if (certa_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CERTA_EXIT_OK;
    }
    query_request q;
    int rc = parse(argc, argv, &q);
    if (rc != CERTA_EXIT_OK)
        return rc;
    query_answer a = {0};
    rc = answer_offline(&q, &a);
    if (rc != CERTA_EXIT_OK)
        return rc;
    if (a.not_found) {
        fprintf(stderr, "certa query: no such %s\n", q.kind == Q_HOLDER ? "holder" : "grant");
        return CERTA_EXIT_FAIL;
    }
    char *txt = json_dumps(a.obj, JSON_COMPACT);
    json_decref(a.obj);
    if (txt == NULL)
        return certa_fail(CMD, "out of memory");
    printf("%s\n", txt);
    free(txt);
    return CERTA_EXIT_OK;
}
#else
typedef int certa_cmd_query_needs_store_; /* ISO C: no empty unit */
#endif
