/* Tests for load/gen.c against a freshly written default genesis:
 * the same seed gives identical bytes and another seed different ones;
 * every batch decodes, is signed by the integrator it names with its genesis
 * key, comes from the right integrator (app: grant and revoke; the case
 * centre's counter integrator: the rest) with per-integrator sequence
 * numbers 1, 2, 3...; every code commitment opens with the redeem's salt and
 * code except exactly the intended wrong codes; the intended expired grants
 * are exactly those whose window closed before the trace start; and applied
 * through the state machine (engine/state.c) in trace order, every event is
 * ok except the intended rejections, each for its intended reason. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certa/codec.h"
#include "certa/crypto.h"
#include "certa/genesis.h"
#include "certa/state.h"
#include "gen.h"
#include "trace.h"

static char dir[64];

static void make_genesis(void)
{
    snprintf(dir, sizeof dir, "/tmp/certa-gen-%d", (int)getpid());
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    certa_genesis_opts go = {.validators = 4, .dir = dir, .base_port = 17000,
                             .host = "127.0.0.1"};
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_genesis_write(&go, &ei), CERTA_OK, "%s", ei.msg);
}

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* a small scenario: the Beijing one at 2 % of its arrivals, one hour */
static void gen_trace(const char *out, uint64_t seed, certa_load_gen_stats *st)
{
    static certa_load_scenario s;
    cr_assert_eq(certa_load_scenario_load("beijing", &s, NULL), CERTA_OK);
    certa_load_gen_opts o = {.scenario = &s, .scale = 0.02, .hours = 1, .seed = seed,
                             .start_unix_ms = 1800000000000ull, .genesis_dir = dir,
                             .out_path = out};
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_load_gen(&o, st, &ei), CERTA_OK, "%s", ei.msg);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

Test(load_gen, same_seed_same_bytes, .init = make_genesis, .fini = cleanup)
{
    char a[96], b[96], c[96];
    snprintf(a, sizeof a, "%s/a.trc", dir);
    snprintf(b, sizeof b, "%s/b.trc", dir);
    snprintf(c, sizeof c, "%s/c.trc", dir);
    certa_load_gen_stats sa, sb, sc;
    gen_trace(a, 42, &sa);
    gen_trace(b, 42, &sb);
    gen_trace(c, 43, &sc);
    size_t la, lb, lc;
    char *x = slurp(a, &la), *y = slurp(b, &lb), *z = slurp(c, &lc);
    cr_assert_gt(sa.events, 1000);
    cr_assert_eq(la, lb);
    cr_assert_eq(memcmp(x, y, la), 0, "same seed gave different bytes");
    cr_assert(lc != la || memcmp(x, z, la) != 0, "another seed gave the same bytes");
    free(x);
    free(y);
    free(z);
}

typedef struct grant_rec {
    uint8_t id[CERTA_GRANT_ID_BYTES];
    uint8_t commit[CERTA_HASH_BYTES];
    uint64_t not_after_ms;
    uint16_t centre;
} grant_rec;

static int cmp_grant(const void *a, const void *b)
{
    return memcmp(a, b, CERTA_GRANT_ID_BYTES);
}

Test(load_gen, batches_are_signed_scoped_and_codes_open, .init = make_genesis, .fini = cleanup)
{
    char path[96], gpath[96];
    snprintf(path, sizeof path, "%s/t.trc", dir);
    snprintf(gpath, sizeof gpath, "%s/genesis.json", dir);
    certa_load_gen_stats st;
    gen_trace(path, 7, &st);
    certa_genesis *g = NULL;
    cr_assert_eq(certa_genesis_load(gpath, &g, NULL), CERTA_OK);
    certa_load_trace *t = NULL;
    cr_assert_eq(certa_load_trace_open(path, &t, NULL), CERTA_OK);
    const certa_load_trace_info *in = certa_load_trace_get_info(t);
    cr_assert_eq(memcmp(in->genesis_hash, g->hash, CERTA_HASH_BYTES), 0);
    cr_assert_eq(in->events, st.events);

    uint64_t *seq = calloc(g->integrator_count, sizeof *seq);
    uint64_t expired = 0;
    grant_rec *grants = calloc(st.events, sizeof *grants);
    size_t ngrants = 0;
    /* pass 1: signatures, roles, sequence numbers, collect grants */
    size_t pos = CERTA_LOAD_TRACE_HEADER_BYTES;
    certa_load_trace_rec r;
    uint64_t events = 0;
    while (certa_load_trace_next(t, &pos, &r)) {
        certa_batch_view v;
        certa_errinfo ei;
        cr_assert_eq(certa_batch_decode(r.batch, r.batch_bytes, &v, &ei), CERTA_OK, "%s", ei.msg);
        cr_assert_eq(v.integrator, r.integrator);
        cr_assert_eq(v.event_count, r.events);
        cr_assert_lt(v.integrator, g->integrator_count);
        const certa_integrator_info *it = &g->integrators[v.integrator];
        cr_assert(certa_verify(it->key, v.digest, CERTA_HASH_BYTES, v.signature),
                  "bad signature from %s", it->name);
        cr_assert_eq(v.seq, ++seq[v.integrator], "sequence of %s", it->name);
        size_t p = 0;
        const uint8_t *eb;
        size_t el;
        while (certa_batch_next(&v, &p, &eb, &el)) {
            certa_event ev;
            cr_assert_eq(certa_event_decode(eb, el, &ev, NULL), CERTA_OK);
            events++;
            if (ev.kind == CERTA_EV_GRANT || ev.kind == CERTA_EV_REVOKE) {
                cr_assert_eq(it->role, CERTA_ROLE_APP);
            } else {
                cr_assert_eq(it->role, CERTA_ROLE_COUNTER);
                cr_assert_eq(it->centre, ev.centre, "counter integrator out of its centre");
                const certa_centre_info *c = certa_genesis_centre(g, ev.centre);
                cr_assert_not_null(c);
                cr_assert(ev.counter >= 1 && ev.counter <= c->counters);
            }
            if (ev.kind == CERTA_EV_GRANT) {
                const certa_matter_info *m = certa_genesis_matter(g, ev.matter);
                cr_assert_not_null(m);
                cr_assert_eq(ev.licence_types & ~m->licence_types, 0, "types outside the matter");
                cr_assert_leq(ev.not_after_ms - ev.not_before_ms, g->params.grant_window_ms_max);
                grant_rec *gr = &grants[ngrants++];
                memcpy(gr->id, ev.grant_id, sizeof gr->id);
                memcpy(gr->commit, ev.code_commit, sizeof gr->commit);
                gr->not_after_ms = ev.not_after_ms;
                gr->centre = ev.centre;
                if (ev.not_after_ms <= in->start_unix_ms)
                    expired++;
            }
        }
    }
    cr_assert_eq(events, st.events);
    qsort(grants, ngrants, sizeof *grants, cmp_grant);
    for (size_t i = 1; i < ngrants; i++)
        cr_assert_neq(memcmp(grants[i - 1].id, grants[i].id, CERTA_GRANT_ID_BYTES), 0,
                      "duplicate grant id");

    /* pass 2: every redeem refers to an earlier grant; codes open the
     * commitment except the intended wrong ones */
    uint64_t wrong = 0, redeems = 0;
    pos = CERTA_LOAD_TRACE_HEADER_BYTES;
    while (certa_load_trace_next(t, &pos, &r)) {
        certa_batch_view v;
        cr_assert_eq(certa_batch_decode(r.batch, r.batch_bytes, &v, NULL), CERTA_OK);
        size_t p = 0;
        const uint8_t *eb;
        size_t el;
        while (certa_batch_next(&v, &p, &eb, &el)) {
            certa_event ev;
            cr_assert_eq(certa_event_decode(eb, el, &ev, NULL), CERTA_OK);
            if (ev.kind != CERTA_EV_REDEEM)
                continue;
            redeems++;
            grant_rec *gr = bsearch(ev.grant_id, grants, ngrants, sizeof *grants, cmp_grant);
            cr_assert_not_null(gr, "redeem of an unknown grant");
            cr_assert_eq(gr->centre, ev.centre);
            cr_assert_gt(gr->not_after_ms, in->start_unix_ms, "redeem of an expired grant");
            static const uint8_t zero[CERTA_HASH_BYTES];
            if (memcmp(gr->commit, zero, CERTA_HASH_BYTES) == 0) {
                cr_assert_eq(memcmp(ev.code, zero, CERTA_CODE_DIGITS), 0);
                continue;
            }
            /* rules 2 (the genesis certa genesis writes): sealed, so the
             * trace reveals neither code nor salt */
            cr_assert_eq(memcmp(ev.code, zero, CERTA_CODE_DIGITS), 0, "a code in the clear");
            cr_assert_eq(memcmp(ev.salt, zero, CERTA_SALT_BYTES), 0, "a salt in the clear");
            cr_assert_neq(memcmp(ev.code_proof, zero, CERTA_HASH_BYTES), 0, "not sealed");
            uint8_t h[CERTA_HASH_BYTES];
            certa_sha256(ev.code_proof, CERTA_HASH_BYTES, h);
            if (memcmp(h, gr->commit, CERTA_HASH_BYTES) != 0)
                wrong++;
        }
    }
    cr_assert_gt(redeems, 100);
    cr_assert_eq(wrong, in->expected_by_intent[CERTA_LOAD_INTENT_BAD_CODE]);
    cr_assert_eq(expired, in->expected_by_intent[CERTA_LOAD_INTENT_EXPIRED]);
    cr_assert_eq(in->expected_rejects, in->expected_by_intent[0] + in->expected_by_intent[1] +
                                           in->expected_by_intent[2]);
    free(grants);
    free(seq);
    certa_load_trace_close(t);
    certa_genesis_free(g);
}

Test(load_gen, missing_genesis_is_an_error)
{
    certa_load_scenario s;
    cr_assert_eq(certa_load_scenario_load("beijing", &s, NULL), CERTA_OK);
    certa_load_gen_opts o = {.scenario = &s, .scale = 1, .hours = 1, .seed = 1,
                             .genesis_dir = "/nonexistent", .out_path = "/tmp/x.trc"};
    certa_load_gen_stats st;
    certa_errinfo ei;
    cr_assert_neq(certa_load_gen(&o, &st, &ei), CERTA_OK);
    cr_assert_not_null(strstr(ei.msg, "/nonexistent"), "%s", ei.msg);
}

Test(load_gen, state_machine_gives_the_intended_results, .init = make_genesis, .fini = cleanup)
{
    char path[96], gpath[96];
    snprintf(path, sizeof path, "%s/s.trc", dir);
    snprintf(gpath, sizeof gpath, "%s/genesis.json", dir);
    certa_load_gen_stats st;
    gen_trace(path, 11, &st);
    certa_genesis *g = NULL;
    cr_assert_eq(certa_genesis_load(gpath, &g, NULL), CERTA_OK);
    certa_state *s = NULL;
    cr_assert_eq(certa_state_create(g, NULL, &s, NULL), CERTA_OK);
    certa_load_trace *t = NULL;
    cr_assert_eq(certa_load_trace_open(path, &t, NULL), CERTA_OK);
    const certa_load_trace_info *in = certa_load_trace_get_info(t);
    uint64_t by[CERTA_R_COUNT] = {0};
    uint64_t height = 0;
    size_t pos = CERTA_LOAD_TRACE_HEADER_BYTES;
    certa_load_trace_rec r;
    while (certa_load_trace_next(t, &pos, &r)) {
        /* one block per batch, committed 50 ms after the batch was sent */
        certa_errinfo ei;
        cr_assert_eq(certa_state_begin_block(s, ++height, in->start_unix_ms + r.at_us / 1000 + 50,
                                             &ei), CERTA_OK, "%s", ei.msg);
        certa_batch_view v;
        cr_assert_eq(certa_batch_decode(r.batch, r.batch_bytes, &v, NULL), CERTA_OK);
        size_t p = 0;
        const uint8_t *eb;
        size_t el;
        while (certa_batch_next(&v, &p, &eb, &el)) {
            certa_event ev;
            cr_assert_eq(certa_event_decode(eb, el, &ev, NULL), CERTA_OK);
            certa_result res = certa_state_apply(s, v.integrator, &ev);
            cr_assert_lt(res, CERTA_R_COUNT);
            by[res]++;
        }
        uint8_t root[CERTA_HASH_BYTES];
        certa_state_end_block(s, root);
    }
    uint64_t total = 0;
    for (int i = 0; i < CERTA_R_COUNT; i++)
        total += by[i];
    cr_assert_eq(total, st.events);
    cr_assert_eq(by[CERTA_R_CODE_MISMATCH], in->expected_by_intent[CERTA_LOAD_INTENT_BAD_CODE]);
    cr_assert_eq(by[CERTA_R_EXPIRED], in->expected_by_intent[CERTA_LOAD_INTENT_EXPIRED]);
    cr_assert_eq(by[CERTA_R_REVOKED], in->expected_by_intent[CERTA_LOAD_INTENT_REVOKED]);
    cr_assert_eq(by[CERTA_R_OK], total - in->expected_rejects,
                 "unintended rejections: unknown_grant %llu, scope_counter %llu, "
                 "not_redeemed %llu, exhausted %llu, role %llu",
                 (unsigned long long)by[CERTA_R_UNKNOWN_GRANT],
                 (unsigned long long)by[CERTA_R_SCOPE_COUNTER],
                 (unsigned long long)by[CERTA_R_NOT_REDEEMED],
                 (unsigned long long)by[CERTA_R_EXHAUSTED],
                 (unsigned long long)by[CERTA_R_ROLE_FORBIDDEN]);
    cr_assert_gt(by[CERTA_R_CODE_MISMATCH] + by[CERTA_R_EXPIRED] + by[CERTA_R_REVOKED], 0);
    certa_load_trace_close(t);
    certa_state_free(s);
    certa_genesis_free(g);
}
