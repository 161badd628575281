/* Tests for engine/query.c (the JSON answers and the replay of a validator's
 * block log) and node/query.c (how a validator turns a QUERY body
 * into a reply, counted in metrics). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "certa/codec.h"
#include "query.h"
#include "certa/store.h"
#include "metrics.h"
#include "node_query.h"
#include "certa/block.h"
#include "../state_fixture.h"

static fx_genesis fx;

/* One app batch holding a single grant (grant gid, holder 1). */
static size_t grant_batch(uint8_t *buf, size_t cap, uint64_t seq, uint32_t gid, uint64_t t)
{
    certa_batch_builder bb;
    certa_batch_begin(&bb, buf, cap, FX_APP, seq);
    certa_event ev = fx_grant(gid, 1, 1, 0, 101, FX_LT(0), t, t + FX_DAY_MS, 1,
                              CERTA_METHOD_CODE);
    cr_assert_eq(certa_batch_add(&bb, &ev, NULL), CERTA_OK);
    certa_event ev2 = fx_grant(gid + 1000, 2, 1, 0, 101, FX_LT(0), t, t + FX_DAY_MS, 1,
                               CERTA_METHOD_CODE);
    cr_assert_eq(certa_batch_add(&bb, &ev2, NULL), CERTA_OK);
    uint8_t digest[32], sig[64] = {0};
    certa_batch_digest(&bb, digest);
    size_t n = certa_batch_seal(&bb, sig);
    cr_assert(n > 0);
    return n;
}

/* A validator block record (REC_BLOCK) at height h with one request item. */
static uint8_t *rec_block(uint64_t h, uint64_t t, uint64_t seq, const uint8_t *batch,
                          size_t blen, const uint8_t res[32], const uint8_t dig[32],
                          size_t *len)
{
    static uint8_t item[4096];
    item[0] = FX_APP;
    item[1] = 0;
    for (int i = 0; i < 8; i++)
        item[2 + i] = (uint8_t)(seq >> (8 * i));
    memcpy(item + 10, batch, blen);
    certa_block_batch bb;
    cr_assert(certa_block_batch_item(item, 10 + blen, &bb));
    certa_block_header hdr;
    memset(&hdr, 0, sizeof hdr);
    hdr.height = h;
    hdr.timestamp_ms = t;
    hdr.event_count = 2;
    hdr.batch_count = 1;
    memcpy(hdr.prev_results_root, res, 32);
    memcpy(hdr.state_digest, dig, 32);
    certa_commit_sig sigs[3];
    for (uint16_t i = 0; i < 3; i++) {
        sigs[i].validator = i;
        memset(sigs[i].sig, 0x11 * (i + 1), 64);
    }
    uint8_t *b = NULL;
    cr_assert_eq(certa_block_build(&hdr, 0, &bb, 1, sigs, 3, &b, len, NULL), CERTA_OK);
    return b;
}

/* The batch sequence numbers of the log and whether the validator's rules
 * execute each one: exactly once per (integrator, seq), in any order (476
 * is far below 1500 and never ran: it executes, it is no replay). */
static const uint64_t seqs[] = {1, 3, 2, 2, 1500, 476, 477, 1470, 1600, 1500, 1470, 1530};
static const bool executed[] = {1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1};
#define NB (sizeof seqs / sizeof seqs[0])

/* Writes the log into dir/blocks; corrupt_at (0 = none) gets a wrong state
 * digest. A mirror state applies the expected results to fill the lagged
 * header fields. */
static certa_store *write_log(const char *dir, uint64_t corrupt_at)
{
    char blocks[512];
    snprintf(blocks, sizeof blocks, "%s/blocks", dir);
    certa_store_opts so;
    certa_store_opts_default(&so);
    so.dir = blocks;
    so.create = true;
    so.first_height = 1;
    so.segment_bytes = 8u << 20;
    certa_store *store = NULL;
    certa_errinfo ei;
    cr_assert_eq(certa_store_open(&so, &store, NULL, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    certa_state *mirror = NULL;
    certa_state_opts o = {.hash_threads = 1};
    cr_assert_eq(certa_state_create(&fx.g, &o, &mirror, NULL), CERTA_OK);
    uint8_t res[NB + 1][32], dig[NB + 1][32];
    static uint8_t batch[4096];
    for (uint64_t h = 1; h <= NB; h++) {
        uint64_t t = FX_T0 + h * 1000;
        size_t blen = grant_batch(batch, sizeof batch, seqs[h - 1], (uint32_t)h, t);
        uint8_t zero[32] = {0}, lres[32], ldig[32];
        memcpy(lres, h > CERTA_RESULTS_LAG_BLOCKS ? res[h - CERTA_RESULTS_LAG_BLOCKS] : zero, 32);
        memcpy(ldig, h > CERTA_RESULTS_LAG_BLOCKS ? dig[h - CERTA_RESULTS_LAG_BLOCKS] : zero, 32);
        if (h == corrupt_at)
            ldig[0] ^= 1;
        size_t len;
        uint8_t *rec = rec_block(h, t, seqs[h - 1], batch, blen, lres, ldig, &len);
        cr_assert_eq(certa_store_append_sync(store, h, rec, len, &ei), CERTA_OK, "%s",
                     certa_errmsg(&ei));
        free(rec);
        cr_assert_eq(certa_state_begin_block(mirror, h, t, NULL), CERTA_OK);
        for (uint32_t k = 0; k < 2; k++) {
            certa_event ev = fx_grant(k == 0 ? (uint32_t)h : (uint32_t)h + 1000, k + 1, 1, 0,
                                      101, FX_LT(0), t, t + FX_DAY_MS, 1, CERTA_METHOD_CODE);
            if (executed[h - 1])
                certa_state_apply(mirror, FX_APP, &ev);
            else
                certa_state_apply_replayed(mirror, FX_APP);
        }
        certa_state_end_block(mirror, res[h]);
        certa_state_digest(mirror, dig[h]);
    }
    certa_state_free(mirror);
    return store;
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    cr_assert_not_null(s);
    return s;
}

Test(query, validator_log_replay_windows_and_answers)
{
    fx_genesis_init(&fx);
    char dir[] = "/tmp/certa-test-query-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    certa_store *store = write_log(dir, 0);
    certa_state *s = NULL;
    certa_state_opts o = {.hash_threads = 1};
    cr_assert_eq(certa_state_create(&fx.g, &o, &s, NULL), CERTA_OK);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    uint64_t nblocks = 0;
    cr_assert_eq(certa_query_restore(s, &fx.g, "/nonexistent", store, &nblocks, &ei), CERTA_OK,
                 "%s", certa_errmsg(&ei));
    cr_assert_eq(nblocks, NB);
    cr_assert_eq(certa_state_height(s), NB);

    certa_query *qs = NULL;
    cr_assert_eq(certa_query_create(&qs, NULL), CERTA_OK);
    /* which batches executed: their grants exist */
    for (uint64_t h = 1; h <= NB; h++) {
        certa_cp_query q = {.kind = CERTA_QUERY_GRANT};
        fx_grant_id((uint32_t)h, q.grant_id);
        json_t *doc = NULL;
        certa_err e = certa_query_answer(qs, &fx.g, s, store, &q, &doc, &ei);
        cr_assert_eq(e, executed[h - 1] ? CERTA_OK : CERTA_E_NOTFOUND,
                     "block %llu seq %llu: %s", (unsigned long long)h,
                     (unsigned long long)seqs[h - 1], certa_errmsg(&ei));
        if (e == CERTA_OK) {
            cr_assert_eq(json_integer_value(json_object_get(doc, "height")), (json_int_t)NB);
            cr_assert_str_eq(json_string_value(json_object_get(doc, "status")), "active");
        } else {
            cr_assert(strstr(certa_errmsg(&ei), "no such grant") != NULL);
        }
        json_decref(doc);
    }
    /* holder 1: every grant event, executed or replayed; pages of 3 */
    certa_cp_query hq = {.kind = CERTA_QUERY_HOLDER, .limit = 3};
    fx_holder_id(1, hq.holder_id);
    json_t *doc = NULL;
    cr_assert_eq(certa_query_answer(qs, &fx.g, s, store, &hq, &doc, &ei), CERTA_OK);
    json_t *recs = json_object_get(doc, "records");
    cr_assert_eq(json_array_size(recs), 3);
    json_int_t next = json_integer_value(json_object_get(doc, "next_cursor"));
    cr_assert(next > 0);
    json_decref(doc);
    hq.cursor = (uint64_t)next;
    cr_assert_eq(certa_query_answer(qs, &fx.g, s, store, &hq, &doc, &ei), CERTA_OK);
    cr_assert_eq(json_array_size(json_object_get(doc, "records")), 3);
    json_decref(doc);
    hq.cursor = 999999;
    cr_assert_eq(certa_query_answer(qs, &fx.g, s, store, &hq, &doc, &ei), CERTA_E_ARG);
    cr_assert_null(doc);
    fx_holder_id(77, hq.holder_id);
    hq.cursor = 0;
    cr_assert_eq(certa_query_answer(qs, &fx.g, s, store, &hq, &doc, &ei), CERTA_E_NOTFOUND);

    /* block 4: header, commit certificate, events paged by one */
    certa_cp_query bq = {.kind = CERTA_QUERY_BLOCK, .height = 4, .limit = 1};
    cr_assert_eq(certa_query_answer(qs, &fx.g, s, store, &bq, &doc, &ei), CERTA_OK, "%s",
                 certa_errmsg(&ei));
    char *txt = dump(doc);
    cr_assert(strstr(txt, "\"height\":4,") == txt + 1, "%s", txt);
    json_t *commit = json_object_get(doc, "commit");
    cr_assert_eq(json_array_size(json_object_get(commit, "signatures")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(commit, "block_hash")),
                     json_string_value(json_object_get(doc, "hash")));
    json_t *evs = json_object_get(doc, "events");
    cr_assert_eq(json_array_size(evs), 1);
    json_t *e0 = json_array_get(evs, 0);
    cr_assert_str_eq(json_string_value(json_object_get(e0, "integrator")), "app");
    cr_assert_eq(json_integer_value(json_object_get(e0, "batch_seq")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e0, "event"), "kind")),
                     "grant");
    cr_assert_eq(json_integer_value(json_object_get(doc, "next_cursor")), 1);
    free(txt);
    json_decref(doc);
    bq.cursor = 1;
    cr_assert_eq(certa_query_answer(qs, &fx.g, s, store, &bq, &doc, &ei), CERTA_OK);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(json_object_get(doc, "events"), 0),
                                                    "index")), 1);
    cr_assert_null(json_object_get(doc, "next_cursor"));
    json_decref(doc);
    bq.cursor = 2; /* the block has 2 events */
    cr_assert_eq(certa_query_answer(qs, &fx.g, s, store, &bq, &doc, &ei), CERTA_E_ARG);
    bq.cursor = 0;
    bq.height = NB + 1;
    cr_assert_eq(certa_query_answer(qs, &fx.g, s, store, &bq, &doc, &ei), CERTA_E_NOTFOUND);
    cr_assert(strstr(certa_errmsg(&ei), "blocks 1 to 12") != NULL, "%s", certa_errmsg(&ei));
    bq.height = 0;
    cr_assert_eq(certa_query_answer(qs, &fx.g, s, store, &bq, &doc, &ei), CERTA_E_NOTFOUND);
    certa_cp_query sq = {.kind = CERTA_QUERY_STATUS};
    cr_assert_eq(certa_query_answer(qs, &fx.g, s, store, &sq, &doc, &ei), CERTA_E_UNSUPPORTED);

    /* the validator's side: the same bytes in a QUERY_RESULT; bad bodies
     * and absent items are answered with ERROR and counted */
    certa_metrics *reg = NULL;
    cr_assert_eq(certa_metrics_create(&reg, NULL), CERTA_OK);
    certa_node_query *nq = NULL;
    cr_assert_eq(certa_node_query_open(reg, &nq, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    certa_node_query_src src = {.g = &fx.g, .state = s, .blocks = store};
    uint8_t body[CERTA_CP_QUERY_BYTES_MAX];
    certa_cp_query gq = {.kind = CERTA_QUERY_GRANT};
    fx_grant_id(5, gq.grant_id);
    size_t bl = certa_cp_query_encode(&gq, body);
    const uint8_t *reply;
    size_t rl;
    cr_assert_eq(certa_node_query_answer(nq, &src, body, bl, &reply, &rl), CERTA_CP_QUERY_RESULT);
    cr_assert_eq(certa_query_answer(qs, &fx.g, s, store, &gq, &doc, &ei), CERTA_OK);
    txt = dump(doc);
    cr_assert_eq(rl, 1 + strlen(txt));
    cr_assert_eq(reply[0], CERTA_QUERY_GRANT);
    cr_assert_eq(memcmp(reply + 1, txt, strlen(txt)), 0);
    free(txt);
    json_decref(doc);
    certa_cp_error er;
    cr_assert_eq(certa_node_query_answer(nq, &src, body, bl - 1, &reply, &rl), CERTA_CP_ERROR);
    cr_assert_eq(certa_cp_error_decode(reply, rl, &er, NULL), CERTA_OK);
    cr_assert_eq(er.code, CERTA_E_PROTOCOL);
    cr_assert(!er.retryable);
    cr_assert(strstr(er.message, "not a well-formed query") != NULL, "%s", er.message);
    fx_grant_id(4, gq.grant_id); /* replayed: never created */
    bl = certa_cp_query_encode(&gq, body);
    cr_assert_eq(certa_node_query_answer(nq, &src, body, bl, &reply, &rl), CERTA_CP_ERROR);
    cr_assert_eq(certa_cp_error_decode(reply, rl, &er, NULL), CERTA_OK);
    cr_assert_eq(er.code, CERTA_E_NOTFOUND);
    /* integrator: the highest executed seq the node keeps, at the state's
     * height; an unknown name is NOTFOUND; no table, UNSUPPORTED */
    certa_cp_query iq = {.kind = CERTA_QUERY_INTEGRATOR};
    snprintf(iq.name, sizeof iq.name, "%s", fx.g.integrators[fx.g.integrator_count - 1].name);
    bl = certa_cp_query_encode(&iq, body);
    cr_assert_eq(certa_node_query_answer(nq, &src, body, bl, &reply, &rl), CERTA_CP_ERROR);
    cr_assert_eq(certa_cp_error_decode(reply, rl, &er, NULL), CERTA_OK);
    cr_assert_eq(er.code, CERTA_E_UNSUPPORTED);
    uint64_t *seq_max = calloc(fx.g.integrator_count, sizeof *seq_max);
    cr_assert(seq_max != NULL);
    seq_max[fx.g.integrator_count - 1] = 9;
    src.seq_max = seq_max;
    cr_assert_eq(certa_node_query_answer(nq, &src, body, bl, &reply, &rl), CERTA_CP_QUERY_RESULT);
    cr_assert_eq(reply[0], CERTA_QUERY_INTEGRATOR);
    json_t *ij = json_loadb((const char *)reply + 1, rl - 1, 0, NULL);
    cr_assert(json_is_object(ij));
    cr_assert_str_eq(json_string_value(json_object_get(ij, "integrator")), iq.name);
    cr_assert_eq(json_integer_value(json_object_get(ij, "index")), fx.g.integrator_count - 1);
    cr_assert_eq(json_integer_value(json_object_get(ij, "highest_seq")), 9);
    cr_assert_eq(json_integer_value(json_object_get(ij, "height")),
                 (json_int_t)certa_state_height(s));
    json_decref(ij);
    snprintf(iq.name, sizeof iq.name, "%s", fx.g.integrators[0].name);
    bl = certa_cp_query_encode(&iq, body);
    cr_assert_eq(certa_node_query_answer(nq, &src, body, bl, &reply, &rl), CERTA_CP_QUERY_RESULT);
    cr_assert(memmem(reply, rl, "\"highest_seq\":0", 15) != NULL, "none executed: 0");
    snprintf(iq.name, sizeof iq.name, "nobody");
    bl = certa_cp_query_encode(&iq, body);
    cr_assert_eq(certa_node_query_answer(nq, &src, body, bl, &reply, &rl), CERTA_CP_ERROR);
    cr_assert_eq(certa_cp_error_decode(reply, rl, &er, NULL), CERTA_OK);
    cr_assert_eq(er.code, CERTA_E_NOTFOUND);
    cr_assert(!er.retryable);
    cr_assert(strstr(er.message, "no such integrator nobody in genesis") != NULL, "%s",
              er.message);
    free(seq_max);
    size_t ml;
    char *m = certa_metrics_render(reg, &ml);
    cr_assert(strstr(m, "certa_queries_total{kind=\"grant\",result=\"ok\"} 1") != NULL, "%s", m);
    cr_assert(strstr(m, "certa_queries_total{kind=\"invalid\",result=\"bad_request\"} 1") != NULL);
    cr_assert(strstr(m, "certa_queries_total{kind=\"grant\",result=\"not_found\"} 1") != NULL);
    cr_assert(strstr(m, "certa_queries_total{kind=\"integrator\",result=\"ok\"} 2") != NULL);
    cr_assert(strstr(m, "certa_queries_total{kind=\"integrator\",result=\"not_found\"} 1") !=
              NULL);
    cr_assert(strstr(m, "certa_query_seconds_count 7") != NULL, "%s", m);
    free(m);
    certa_node_query_close(nq);
    certa_metrics_free(reg);

    certa_query_free(qs);
    certa_state_free(s);
    certa_store_close(store);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(query, a_header_that_disagrees_with_the_replay_is_refused)
{
    fx_genesis_init(&fx);
    char dir[] = "/tmp/certa-test-query-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    certa_store *store = write_log(dir, 7);
    certa_state *s = NULL;
    certa_state_opts o = {.hash_threads = 1};
    cr_assert_eq(certa_state_create(&fx.g, &o, &s, NULL), CERTA_OK);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_query_restore(s, &fx.g, "/nonexistent", store, NULL, &ei), CERTA_E_CHAIN);
    cr_assert(strstr(certa_errmsg(&ei), "block 7") != NULL, "%s", certa_errmsg(&ei));
    certa_state_free(s);
    certa_store_close(store);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* A grant's history leaves out another holder's refused revoke (her
 * attempt stays in her own records); the grant's holder sees every event. */
Test(query, grant_history_omits_other_holders_attempts)
{
    fx_genesis_init(&fx);
    certa_state *s = NULL;
    certa_state_opts o = {.hash_threads = 1};
    cr_assert_eq(certa_state_create(&fx.g, &o, &s, NULL), CERTA_OK);
    uint64_t t = FX_T0 + 1000;
    cr_assert_eq(certa_state_begin_block(s, 1, t, NULL), CERTA_OK);
    certa_event g = fx_grant(7, 1, 1, 0, 101, FX_LT(0), t, t + FX_DAY_MS, 2, CERTA_METHOD_DIRECT);
    cr_assert_eq(certa_state_apply(s, FX_APP, &g), CERTA_R_OK);
    certa_event other = fx_revoke(7, 2);
    cr_assert_eq(certa_state_apply(s, FX_APP, &other), CERTA_R_NOT_HOLDER);
    certa_event own = fx_revoke(7, 1);
    cr_assert_eq(certa_state_apply(s, FX_APP, &own), CERTA_R_OK);
    uint8_t root[32];
    certa_state_end_block(s, root);
    certa_query *qs = NULL;
    cr_assert_eq(certa_query_create(&qs, NULL), CERTA_OK);
    certa_errinfo ei;
    certa_cp_query q = {.kind = CERTA_QUERY_GRANT};
    fx_grant_id(7, q.grant_id);
    json_t *doc = NULL;
    cr_assert_eq(certa_query_answer(qs, &fx.g, s, NULL, &q, &doc, &ei), CERTA_OK, "%s",
                 certa_errmsg(&ei));
    json_t *h = json_object_get(doc, "history");
    cr_assert_eq(json_array_size(h), 2, "grant and its holder's revoke only");
    for (size_t i = 0; i < json_array_size(h); i++) {
        json_t *reason = json_object_get(json_array_get(h, i), "reason");
        cr_assert(reason == NULL || strcmp(json_string_value(reason), "not_holder") != 0);
    }
    cr_assert_str_eq(json_string_value(json_object_get(doc, "status")), "revoked");
    json_decref(doc);
    /* the other holder still finds her own attempt */
    certa_cp_query hq = {.kind = CERTA_QUERY_HOLDER};
    fx_holder_id(2, hq.holder_id);
    cr_assert_eq(certa_query_answer(qs, &fx.g, s, NULL, &hq, &doc, &ei), CERTA_OK, "%s",
                 certa_errmsg(&ei));
    json_t *r = json_object_get(doc, "records");
    cr_assert_eq(json_array_size(r), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(r, 0), "reason")),
                     "not_holder");
    json_decref(doc);
    certa_query_free(qs);
    certa_state_free(s);
}

Test(query, page_limits)
{
    cr_assert_eq(certa_query_page_limit(CERTA_QUERY_HOLDER, 0), CERTA_QUERY_LIMIT_DEFAULT);
    cr_assert_eq(certa_query_page_limit(CERTA_QUERY_GRANT, 5), 5);
    cr_assert_eq(certa_query_page_limit(CERTA_QUERY_GRANT, 1u << 30), CERTA_QUERY_RECORDS_MAX);
    cr_assert_eq(certa_query_page_limit(CERTA_QUERY_BLOCK, 1u << 30), CERTA_QUERY_BLOCK_EVENTS_MAX);
    cr_assert_eq(certa_query_page_limit(CERTA_QUERY_BLOCK, 0), CERTA_QUERY_LIMIT_DEFAULT);
}
