/* certa query: a holder's records, a grant's status and history, a block,
 * or an integrator's highest executed sequence number, as one JSON document.
 *
 * Two sources give the same document: a data directory read offline (--data:
 * the state is rebuilt from its snapshots and block log) and a running
 * validator asked over the client protocol (--to: QUERY, answered with
 * QUERY_RESULT or ERROR). Both build the document with engine/query.c, so
 * the bytes printed are the same for the same state; docs/PROTOCOL.md
 * ("Query results") specifies them. The integrator query is online only:
 * a validator keeps that number beside its state as it executes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "certa/client.h"
#include "certa/codec.h"
#include "certa/genesis.h"
#include "../engine/query.h"
#include "certa/state.h"
#include "certa/store.h"
#include "cli.h"
#include "endpoints.h"

static const char usage[] =
    "usage: certa query holder HOLDER_HEX (--data DIR | --to ENDPOINT[,...]) [options]\n"
    "       certa query grant GRANT_HEX   (--data DIR | --to ENDPOINT[,...]) [options]\n"
    "       certa query block HEIGHT      (--data DIR | --to ENDPOINT[,...]) [options]\n"
    "       certa query integrator NAME   --to ENDPOINT[,...] [options]\n\n"
    "Prints one JSON document (docs/PROTOCOL.md, \"Query results\"):\n"
    "  holder  a holder's records, oldest first: time, kind, grant, matter,\n"
    "          centre, licence types and result of each event\n"
    "  grant   a grant's scope, status, uses and history\n"
    "  block   a block's header, hash, commit certificate (validator logs)\n"
    "          and its events\n"
    "  integrator  the highest sequence number of the integrator's batches\n"
    "          executed so far (0: none), with the height it is true at; a\n"
    "          validator that is behind answers lower: ask f+1 validators\n"
    "          (--to a,b,...: tried in turn, the first answer is printed)\n"
    "Every answer carries \"height\": the executed height it reflects (for a\n"
    "block, the block's own).\n\n"
    "Sources (one of):\n"
    "  --data DIR      offline: a data directory (a validator's nodeK/data or a\n"
    "                  dry run's), rebuilt from its snapshots and block log\n"
    "  --to ENDPOINT   online: a validator's client endpoint or name from\n"
    "                  genesis; several, comma-separated, are tried in turn\n"
    "Options:\n"
    "  --genesis FILE  genesis (--data: default DIR/genesis.json when present;\n"
    "                  otherwise and for --to: $CERTA_GENESIS, else ./genesis.json)\n"
    "  --cursor C      start at the previous page's next_cursor (block: the\n"
    "                  index of the first event)\n"
    "  --limit N       records per page (default 100, at most 1000); block:\n"
    "                  events per page (default 100, at most 256; a page also\n"
    "                  ends after 32 KiB of events: follow next_cursor)\n"
    "  --timeout-ms MS --to: give up after MS (default 5000)\n\n"
    "exit: 0 found, 1 no such holder, grant, block or integrator, 2 usage (or a cursor\n"
    "that is not one of that item's), 3 error (unreadable data, no answer, or\n"
    "--data on a block log damaged before its end: the damage and the blocks\n"
    "the answer covers go to stderr, the document gets a \"damage\" field).\n";

#define CMD "query"

typedef struct query_args {
    certa_cp_query q;
    const char *data_dir; /* offline source */
    const char *to;       /* online source */
    const char *genesis;
    uint32_t timeout_ms;
} query_args;

/* What a source returns: the document, or not found (with why). */
typedef struct query_answer {
    char *text; /* malloc'ed, NUL-terminated */
    bool not_found;
    char why[CERTA_CP_ERROR_MSG_MAX + 1];
    /* Offline only: the block log is damaged before its end, so the answer
     * holds for the heights below the damage and nothing after it. */
    bool damaged;
    uint64_t vouched_blocks; /* blocks 0..vouched_blocks-1 are intact */
    char damage[300];
} query_answer;

/* Maps an answer error to an exit code, as the offline and online paths
 * share it: not found 1, a bad cursor 2, anything else 3. */
static int answer_error(query_answer *a, certa_err code, const char *msg)
{
    if (code == CERTA_E_NOTFOUND) {
        a->not_found = true;
        snprintf(a->why, sizeof a->why, "%s", msg);
        return CERTA_EXIT_OK;
    }
    if (code == CERTA_E_ARG)
        return certa_usage_error(CMD, "%s", msg);
    return certa_fail(CMD, "%s", msg);
}

/* ---- the offline source: a data directory ---- */

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int answer_offline(const query_args *qa, query_answer *a)
{
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    char gpath[4096], blocks[4096], snaps[4096];
    snprintf(gpath, sizeof gpath, "%s/genesis.json", qa->data_dir);
    snprintf(blocks, sizeof blocks, "%s/blocks", qa->data_dir);
    snprintf(snaps, sizeof snaps, "%s/snapshots", qa->data_dir);
    const char *gp = qa->genesis != NULL ? qa->genesis
                     : file_exists(gpath) ? gpath
                                          : certa_tool_genesis_path(NULL);
    certa_genesis *g = NULL;
    certa_store *store = NULL;
    certa_state *s = NULL;
    certa_query *qs = NULL;
    json_t *doc = NULL;
    int rc = CERTA_EXIT_OK;
    if (certa_genesis_load(gp, &g, &ei) != CERTA_OK) {
        rc = certa_fail(CMD, "%s", certa_errmsg(&ei));
        goto out;
    }
    certa_store_opts so;
    certa_store_opts_default(&so);
    so.dir = blocks;
    so.read_only = true;
    certa_state_opts o = {.hash_threads = 1};
    certa_store_recovery rep;
    memset(&rep, 0, sizeof rep);
    if (certa_store_open(&so, &store, &rep, &ei) != CERTA_OK ||
        certa_query_create(&qs, &ei) != CERTA_OK) {
        rc = certa_fail(CMD, "%s", certa_errmsg(&ei));
        goto out;
    }
    /* A read-only open indexes a damaged log up to the damage and says so;
     * a torn tail is a crash's normal remainder (the validator cuts it), a
     * corrupt record before the end is not: everything past it is unknown,
     * so the answer must not pass for the whole chain's. */
    if (rep.damaged && rep.damage_is_corrupt) {
        a->damaged = true;
        a->vouched_blocks = rep.damage_height;
        snprintf(a->damage, sizeof a->damage, "the block log is damaged: %s", rep.damage_msg);
    }
    /* A block needs no state: its answer is the log's, up to its end. */
    if (qa->q.kind != CERTA_QUERY_BLOCK &&
        (certa_state_create(g, &o, &s, &ei) != CERTA_OK ||
         certa_query_restore(s, g, snaps, store, NULL, &ei) != CERTA_OK)) {
        rc = certa_fail(CMD, "%s", certa_errmsg(&ei));
        goto out;
    }
    certa_err e = certa_query_answer(qs, g, s, store, &qa->q, &doc, &ei);
    if (e != CERTA_OK) {
        rc = answer_error(a, e, certa_errmsg(&ei));
        goto out;
    }
    if (a->damaged) {
        json_t *d = json_pack("{s:s, s:I, s:s}", "message", a->damage, "vouched_blocks",
                              (json_int_t)a->vouched_blocks, "check",
                              "certa verify-chain --data DIR/blocks; restore the log from a peer");
        if (d == NULL || json_object_set_new(doc, "damage", d) != 0) {
            rc = certa_fail(CMD, "out of memory");
            goto out;
        }
    }
    a->text = json_dumps(doc, JSON_COMPACT);
    if (a->text == NULL)
        rc = certa_fail(CMD, "out of memory");
out:
    json_decref(doc);
    certa_query_free(qs);
    certa_state_free(s);
    certa_store_close(store);
    certa_genesis_free(g);
    return rc;
}

/* ---- the online source: a validator's client endpoint ---- */

static int answer_online(const query_args *qa, query_answer *a)
{
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_genesis *g = NULL;
    static certa_tool_endpoints eps;
    if (certa_genesis_load(certa_tool_genesis_path(qa->genesis), &g, &ei) != CERTA_OK ||
        certa_tool_endpoints_resolve(g, qa->to, &eps, &ei) != CERTA_OK) {
        certa_genesis_free(g);
        return certa_fail(CMD, "%s", certa_errmsg(&ei));
    }
    certa_client_opts o = certa_tool_query_opts(&eps, qa->timeout_ms);
    certa_client *c = NULL;
    int rc = CERTA_EXIT_OK;
    certa_err e;
    if (certa_client_open(&o, &c, &ei) != CERTA_OK) {
        rc = certa_fail(CMD, "%s", certa_errmsg(&ei));
        goto out;
    }
    if ((e = certa_client_query(c, &qa->q, 0, NULL)) != CERTA_OK) {
        rc = certa_fail(CMD, "sending the query: %s", certa_strerror(e));
        goto out;
    }
    certa_client_reply r;
    do {
        e = certa_client_poll(c, (int)qa->timeout_ms, &r);
    } while (e == CERTA_OK && !r.final);
    if (e != CERTA_OK) {
        rc = certa_fail(CMD, "no answer from %s: %s", qa->to, certa_strerror(e));
        goto out;
    }
    const char *ep = eps.endpoints[r.endpoint < eps.count ? r.endpoint : 0];
    if (r.type == CERTA_CP_ERROR) {
        char msg[CERTA_CP_ERROR_MSG_MAX + 300];
        snprintf(msg, sizeof msg, "%s (validator at %s, error %u %s)", r.error.message, ep,
                 r.error.code, certa_strerror((certa_err)r.error.code));
        rc = answer_error(a, (certa_err)r.error.code, msg);
        goto out;
    }
    uint8_t kind;
    const char *doc;
    size_t dl;
    if (r.type != CERTA_CP_QUERY_RESULT ||
        certa_cp_query_result_decode(r.body, r.body_len, &kind, &doc, &dl, &ei) != CERTA_OK ||
        kind != qa->q.kind) {
        rc = certa_fail(CMD, "validator at %s answered with an unreadable result: %s", ep,
                        r.type != CERTA_CP_QUERY_RESULT ? "not a QUERY_RESULT"
                        : kind != qa->q.kind && ei.code == CERTA_OK ? "another query kind"
                                                                    : certa_errmsg(&ei));
        goto out;
    }
    a->text = malloc(dl + 1);
    if (a->text == NULL) {
        rc = certa_fail(CMD, "out of memory");
        goto out;
    }
    memcpy(a->text, doc, dl);
    a->text[dl] = '\0';
out:
    certa_client_close(c);
    certa_genesis_free(g);
    return rc;
}

/* ---- command line ---- */

static int parse(int argc, char **argv, query_args *qa)
{
    memset(qa, 0, sizeof *qa);
    qa->timeout_ms = 5000;
    if (argc < 3)
        return certa_usage_error(CMD, "expected 'holder HEX', 'grant HEX', 'block HEIGHT' or "
                                      "'integrator NAME'");
    const char *what = argv[1], *arg = argv[2];
    certa_cp_query *q = &qa->q;
    unsigned long long v;
    if (strcmp(what, "holder") == 0) {
        q->kind = CERTA_QUERY_HOLDER;
        if (certa_hex_decode(arg, q->holder_id, CERTA_HOLDER_ID_BYTES) != CERTA_OK)
            return certa_usage_error(CMD, "holder id must be %d hex digits",
                                     2 * CERTA_HOLDER_ID_BYTES);
    } else if (strcmp(what, "grant") == 0) {
        q->kind = CERTA_QUERY_GRANT;
        if (certa_hex_decode(arg, q->grant_id, CERTA_GRANT_ID_BYTES) != CERTA_OK)
            return certa_usage_error(CMD, "grant id must be %d hex digits",
                                     2 * CERTA_GRANT_ID_BYTES);
    } else if (strcmp(what, "block") == 0) {
        q->kind = CERTA_QUERY_BLOCK;
        if (certa_parse_u64(arg, 0, UINT64_MAX, &v) != 0)
            return certa_usage_error(CMD, "block height: not a number: %s", arg);
        q->height = v;
    } else if (strcmp(what, "integrator") == 0) {
        q->kind = CERTA_QUERY_INTEGRATOR;
        if (arg[0] == '\0' || strlen(arg) > CERTA_CP_QUERY_NAME_MAX)
            return certa_usage_error(CMD, "integrator name: 1 to %u bytes",
                                     CERTA_CP_QUERY_NAME_MAX);
        snprintf(q->name, sizeof q->name, "%s", arg);
    } else {
        return certa_usage_error(CMD, "unknown query '%s' (holder, grant, block or integrator)",
                                 what);
    }
    uint32_t limit_max = q->kind == CERTA_QUERY_BLOCK ? CERTA_QUERY_BLOCK_EVENTS_MAX
                                                      : CERTA_QUERY_RECORDS_MAX;
    q->limit = CERTA_QUERY_LIMIT_DEFAULT;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            qa->data_dir = argv[++i];
        } else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc) {
            qa->to = argv[++i];
        } else if (strcmp(argv[i], "--genesis") == 0 && i + 1 < argc) {
            qa->genesis = argv[++i];
        } else if (strcmp(argv[i], "--cursor") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 0, UINT64_MAX, &v) != 0)
                return certa_usage_error(CMD, "--cursor: not a number: %s", argv[i]);
            q->cursor = v;
        } else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 1, limit_max, &v) != 0)
                return certa_usage_error(CMD, "--limit: 1 to %u", limit_max);
            q->limit = (uint32_t)v;
        } else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 1, 600000, &v) != 0)
                return certa_usage_error(CMD, "--timeout-ms: 1 to 600000");
            qa->timeout_ms = (uint32_t)v;
        } else {
            return certa_usage_error(CMD, "unexpected argument '%s'", argv[i]);
        }
    }
    if ((qa->data_dir == NULL) == (qa->to == NULL))
        return certa_usage_error(CMD, "give one source: --data DIR or --to ENDPOINT");
    if (q->kind == CERTA_QUERY_INTEGRATOR && qa->data_dir != NULL)
        return certa_usage_error(CMD, "integrator is answered by a running validator only: "
                                      "use --to");
    return CERTA_EXIT_OK;
}

int certa_cmd_query(int argc, char **argv)
{
    if (certa_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CERTA_EXIT_OK;
    }
    query_args qa;
    int rc = parse(argc, argv, &qa);
    if (rc != CERTA_EXIT_OK)
        return rc;
    query_answer a = {0};
    rc = qa.data_dir != NULL ? answer_offline(&qa, &a) : answer_online(&qa, &a);
    if (rc != CERTA_EXIT_OK)
        return rc;
    if (a.damaged) {
        /* The answer covers heights below the damage only: a "not found"
         * there says nothing of the rest, so it is an error, not a no. */
        fprintf(stderr,
                "certa query: %s/blocks: %s; this answer covers blocks 0..%lld only (%llu "
                "intact blocks); run certa verify-chain --data %s/blocks and restore the "
                "log from a peer\n",
                qa.data_dir, a.damage, (long long)a.vouched_blocks - 1,
                (unsigned long long)a.vouched_blocks, qa.data_dir);
        if (a.not_found) {
            fprintf(stderr, "certa query: %s in the intact blocks; it may be in the damaged "
                            "part\n", a.why);
            return CERTA_EXIT_ERROR;
        }
        printf("%s\n", a.text);
        free(a.text);
        return CERTA_EXIT_ERROR;
    }
    if (a.not_found) {
        fprintf(stderr, "certa query: %s\n", a.why);
        return CERTA_EXIT_FAIL;
    }
    printf("%s\n", a.text);
    free(a.text);
    return CERTA_EXIT_OK;
}
