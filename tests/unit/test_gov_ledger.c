/* Tests for governance through the ledger (engine/ledger.c) with real
 * Ed25519 signatures: after a key rotation commits, admission refuses the
 * old key and takes the new one; a batch signed with the old key that
 * reaches a block in the LAG window after the rotation is rejected
 * stale_key at execution (and, past the window, admission alone keeps it
 * out); a suspended integrator is refused at admission; an added one is
 * admitted; the chain replay of query.c agrees with the ledger. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../state_fixture.h"
#include "certa/gov.h"
#include "certa/pbft.h"
#include "certa/wire.h"
#include "ledger.h"
#include "pbft_msg.h"

#define ADMIN_B 5
#define NINT 6
#define NKEYS 9 /* 6 integrators, then spare keys */

static fx_genesis fx;
static certa_integrator_info ints[NINT];
static certa_key *keys[NKEYS];

static void setup(void)
{
    fx_genesis_init(&fx);
    memcpy(ints, fx.integrators, 5 * sizeof ints[0]);
    snprintf(ints[ADMIN_B].name, sizeof ints[ADMIN_B].name, "admin-b");
    ints[ADMIN_B].role = CERTA_ROLE_ADMIN;
    for (int i = 0; i < NKEYS; i++) {
        uint8_t seed[32];
        memset(seed, 0x60 + i, sizeof seed);
        cr_assert_eq(certa_key_from_seed(seed, &keys[i], NULL), CERTA_OK);
        if (i < NINT)
            certa_key_public(keys[i], ints[i].pub);
    }
    fx.g.integrators = ints;
    fx.g.integrator_count = NINT;
    fx.g.council_count = 2;
    fx.g.council[0] = FX_ADMIN;
    fx.g.council[1] = ADMIN_B;
    fx.g.council_threshold = 2;
    fx.g.params.replay_horizon_batches = CERTA_REPLAY_HORIZON_BATCHES_MIN;
    fx.g.params.replay_horizon_ms = 3600u * 1000u;
}

static void teardown(void)
{
    for (int i = 0; i < NKEYS; i++)
        certa_key_free(keys[i]);
}

TestSuite(gov_ledger, .init = setup, .fini = teardown);

typedef struct item {
    uint16_t integrator;
    uint64_t seq;
    uint8_t bytes[4096];
    size_t len;
} item;

/* A batch of one event by integrator, signed with key. */
static void sign_one(item *it, uint16_t integrator, uint64_t seq, const certa_event *ev,
                     const certa_key *key)
{
    certa_batch_builder bb;
    certa_batch_begin(&bb, it->bytes, sizeof it->bytes, integrator, seq);
    cr_assert_eq(certa_batch_add(&bb, ev, NULL), CERTA_OK);
    cr_assert_eq(certa_batch_sign(&bb, key, NULL), CERTA_OK);
    it->integrator = integrator;
    it->seq = seq;
    it->len = bb.len;
}

/* A REC_BLOCK record of height h holding the batches; malloc'ed. */
static uint8_t *block(uint64_t h, const item *its, size_t n, size_t *len)
{
    const uint8_t *items[4];
    uint8_t *bufs[4];
    size_t lens[4];
    uint32_t events = 0;
    cr_assert_leq(n, 4);
    for (size_t i = 0; i < n; i++) {
        bufs[i] = malloc(10 + its[i].len);
        cr_assert_not_null(bufs[i]);
        certa_put_le16(bufs[i], its[i].integrator);
        certa_put_le64(bufs[i] + 2, its[i].seq);
        memcpy(bufs[i] + 10, its[i].bytes, its[i].len);
        items[i] = bufs[i];
        lens[i] = 10 + its[i].len;
        events++;
    }
    size_t ll = 0;
    uint8_t *list = certa_pbft_list_build(items, lens, n, &ll);
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_REC_BLOCK;
    m.hdr.height = h;
    m.hdr.timestamp_ms = FX_T0 + 1000 * h;
    m.hdr.batch_count = (uint32_t)n;
    m.hdr.event_count = events;
    cr_assert(certa_pbft_list_parse(list, ll, &m.reqs));
    uint8_t *rec = certa_pbft_msg_encode(&m, len);
    cr_assert_not_null(rec);
    for (size_t i = 0; i < n; i++)
        free(bufs[i]);
    free(list);
    return rec;
}

static const uint8_t *exec(certa_ledger *l, uint64_t h, const item *its, size_t n)
{
    size_t len;
    uint8_t *rec = block(h, its, n, &len);
    static certa_ledger_exec x;
    certa_errinfo ei;
    cr_assert_eq(certa_ledger_execute(l, rec, len, &x, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    free(rec);
    cr_assert_eq(x.result_count, n);
    return x.results;
}

static certa_event grant(uint32_t gid)
{
    return fx_grant(gid, gid, 1, 0, 101, FX_LT(CERTA_LT_ID_CARD), FX_T0, FX_T0 + FX_DAY_MS, 1,
                    CERTA_METHOD_DIRECT);
}

static certa_event gov_propose(uint8_t change, uint16_t integrator, const certa_key *pub_of)
{
    certa_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = CERTA_EV_GOVERN;
    ev.grant_id[0] = change;
    ev.gov.op = CERTA_GOV_PROPOSE;
    ev.gov.change = change;
    ev.gov.integrator = integrator;
    ev.gov.expires_ms = FX_T0 + 3600000;
    if (pub_of != NULL)
        certa_key_public(pub_of, ev.gov.pub);
    return ev;
}

static certa_event gov_approve(const certa_event *p)
{
    certa_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = CERTA_EV_GOVERN;
    ev.gov.op = CERTA_GOV_APPROVE;
    cr_assert_eq(certa_gov_proposal_digest(p, ev.gov.proposal, NULL), CERTA_OK);
    return ev;
}

static certa_ledger *make(certa_state **s)
{
    cr_assert_eq(certa_state_create(&fx.g, NULL, s, NULL), CERTA_OK);
    certa_ledger_params p = {.g = &fx.g, .state = *s};
    certa_ledger *l = NULL;
    cr_assert_eq(certa_ledger_create(&p, &l, NULL), CERTA_OK);
    return l;
}

/* Rotates FX_APP to keys[NINT] in block 1 (in force from block 2). */
static void rotate_app(certa_ledger *l)
{
    item its[2];
    certa_event p = gov_propose(CERTA_GC_INTEGRATOR_ROTATE, FX_APP, keys[NINT]);
    certa_event a = gov_approve(&p);
    sign_one(&its[0], FX_ADMIN, 1, &p, keys[FX_ADMIN]);
    sign_one(&its[1], ADMIN_B, 1, &a, keys[ADMIN_B]);
    const uint8_t *r = exec(l, 1, its, 2);
    cr_assert_eq(r[0], CERTA_R_OK);
    cr_assert_eq(r[1], CERTA_R_OK);
}

Test(gov_ledger, rotation_admission_and_stale_window)
{
    certa_state *s;
    certa_ledger *l = make(&s);
    item old1, new1;
    certa_event g1 = grant(1), g2 = grant(2);
    sign_one(&old1, FX_APP, 1, &g1, keys[FX_APP]);
    certa_batch_view v;
    cr_assert_eq(certa_ledger_check_batch(l, old1.bytes, old1.len, &v, NULL), CERTA_OK);
    rotate_app(l);

    /* admission: the table after block 1 */
    certa_errinfo ei;
    cr_assert_eq(certa_ledger_check_batch(l, old1.bytes, old1.len, &v, &ei),
                 CERTA_E_BAD_SIGNATURE);
    cr_assert(strstr(certa_errmsg(&ei), "current key") != NULL, "%s", certa_errmsg(&ei));
    sign_one(&new1, FX_APP, 2, &g2, keys[NINT]);
    cr_assert_eq(certa_ledger_check_batch(l, new1.bytes, new1.len, &v, NULL), CERTA_OK);

    /* execution: a batch admitted before the rotation, in block 2 */
    item b2[2] = {old1, new1};
    const uint8_t *r = exec(l, 2, b2, 2);
    cr_assert_eq(r[0], CERTA_R_STALE_KEY, "old key in the window: %s", certa_result_name(r[0]));
    cr_assert_eq(r[1], CERTA_R_OK, "new key: %s", certa_result_name(r[1]));
    certa_grant_info gi;
    uint8_t id[CERTA_GRANT_ID_BYTES];
    fx_grant_id(1, id);
    cr_assert_eq(certa_state_grant(s, id, &gi), CERTA_E_NOTFOUND, "stale batch not executed");

    /* blocks 3..5 are in the window too; block 6 (= 2 + LAG) is not: an
     * old-key batch only reaches it past admission, which refuses it */
    for (uint64_t h = 3; h <= 5; h++) {
        item o;
        certa_event g = grant((uint32_t)(10 + h));
        sign_one(&o, FX_APP, 10 + h, &g, keys[FX_APP]);
        r = exec(l, h, &o, 1);
        cr_assert_eq(r[0], CERTA_R_STALE_KEY, "block %llu", (unsigned long long)h);
    }
    item o6;
    certa_event g6 = grant(16);
    sign_one(&o6, FX_APP, 16, &g6, keys[FX_APP]);
    cr_assert_eq(certa_ledger_check_batch(l, o6.bytes, o6.len, &v, NULL), CERTA_E_BAD_SIGNATURE);
    r = exec(l, 6, &o6, 1);
    cr_assert_eq(r[0], CERTA_R_OK, "past the window execution does not re-verify");
    certa_ledger_free(l);
    certa_state_free(s);
}

Test(gov_ledger, suspended_refused_and_added_admitted)
{
    certa_state *s;
    certa_ledger *l = make(&s);
    item its[2];
    certa_event p = gov_propose(CERTA_GC_INTEGRATOR_SUSPEND, FX_COUNTER_C1, NULL);
    certa_event a = gov_approve(&p);
    sign_one(&its[0], FX_ADMIN, 1, &p, keys[FX_ADMIN]);
    sign_one(&its[1], ADMIN_B, 1, &a, keys[ADMIN_B]);
    exec(l, 1, its, 2);
    item c;
    certa_event ev = fx_evidence(CERTA_EV_CONFIRM, 1, 1, 1);
    sign_one(&c, FX_COUNTER_C1, 1, &ev, keys[FX_COUNTER_C1]);
    certa_batch_view v;
    certa_errinfo ei;
    cr_assert_eq(certa_ledger_check_batch(l, c.bytes, c.len, &v, &ei), CERTA_E_REFUSED);
    cr_assert(strstr(certa_errmsg(&ei), "suspended") != NULL, "%s", certa_errmsg(&ei));
    const uint8_t *r = exec(l, 2, &c, 1);
    cr_assert_eq(r[0], CERTA_R_INTEGRATOR_INACTIVE);

    /* an added app integrator: index NINT, unknown before */
    certa_event add = gov_propose(CERTA_GC_INTEGRATOR_ADD, 0, keys[NINT + 1]);
    add.gov.role = CERTA_ROLE_APP;
    snprintf(add.gov.name, sizeof add.gov.name, "app-2");
    item n;
    certa_event g = grant(7);
    sign_one(&n, NINT, 1, &g, keys[NINT + 1]);
    cr_assert_eq(certa_ledger_check_batch(l, n.bytes, n.len, &v, NULL), CERTA_E_NOTFOUND);
    certa_event aa = gov_approve(&add);
    sign_one(&its[0], FX_ADMIN, 2, &add, keys[FX_ADMIN]);
    sign_one(&its[1], ADMIN_B, 2, &aa, keys[ADMIN_B]);
    exec(l, 3, its, 2);
    cr_assert_eq(certa_ledger_integrator_count(l), NINT + 1);
    cr_assert_str_eq(certa_ledger_integrator_name(l, NINT), "app-2");
    cr_assert_eq(certa_ledger_check_batch(l, n.bytes, n.len, &v, NULL), CERTA_OK);
    r = exec(l, 4, &n, 1);
    cr_assert_eq(r[0], CERTA_R_OK, "%s", certa_result_name(r[0]));
    cr_assert(!certa_ledger_request_executed(l, NINT, 2));
    cr_assert(certa_ledger_request_executed(l, NINT, 1), "the added integrator's batches are "
                                                          "in the replay table");
    certa_ledger_free(l);
    certa_state_free(s);
}
