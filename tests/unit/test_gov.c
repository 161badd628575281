/* Tests for governance on chain (engine/gov.c through the state): the
 * council's threshold and timing (a change is in force from the block
 * after its last approval), every change type, every governance rejection,
 * the governed tables in the digest and in snapshots, the GOVERN codec and
 * JSON forms. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../state_fixture.h"
#include "certa/gov.h"
#include "event_json.h"
#include "gov_table.h"

/* The fixture's five integrators, then admins 5 and 6 (council with 4,
 * threshold 2) and admin 7 outside the council. */
#define ADMIN_B 5
#define ADMIN_C 6
#define ADMIN_X 7
#define NINT 8

static fx_genesis fx;
static certa_integrator_info ints[NINT];
static uint8_t keys[NINT + 4][CERTA_PUBKEY_BYTES]; /* 8..: fresh keys */

static void setup(void)
{
    fx_genesis_init(&fx);
    memcpy(ints, fx.integrators, 5 * sizeof ints[0]);
    static const char *const names[] = {"admin-b", "admin-c", "admin-x"};
    for (int i = 5; i < NINT; i++) {
        snprintf(ints[i].name, sizeof ints[i].name, "%s", names[i - 5]);
        ints[i].role = CERTA_ROLE_ADMIN;
    }
    for (int i = 0; i < NINT + 4; i++) {
        uint8_t seed[32];
        memset(seed, 0x30 + i, sizeof seed);
        certa_key *k = NULL;
        cr_assert_eq(certa_key_from_seed(seed, &k, NULL), CERTA_OK);
        certa_key_public(k, keys[i]);
        certa_key_free(k);
        if (i < NINT)
            memcpy(ints[i].pub, keys[i], CERTA_PUBKEY_BYTES);
    }
    fx.g.integrators = ints;
    fx.g.integrator_count = NINT;
    fx.g.council_count = 3;
    fx.g.council[0] = FX_ADMIN;
    fx.g.council[1] = ADMIN_B;
    fx.g.council[2] = ADMIN_C;
    fx.g.council_threshold = 2;
}

TestSuite(gov, .init = setup);

static certa_state *new_state(void)
{
    certa_state *s = NULL;
    cr_assert_eq(certa_state_create(&fx.g, NULL, &s, NULL), CERTA_OK);
    return s;
}

/* A state whose cold store lives in dir, so that a snapshot of it can be
 * loaded by the next state opened there. */
static certa_state *new_state_in(const char *dir)
{
    certa_state_opts o = {.hash_threads = 1, .cold_dir = dir};
    certa_state *s = NULL;
    cr_assert_eq(certa_state_create(&fx.g, &o, &s, NULL), CERTA_OK);
    return s;
}

/* A fresh directory for a cold store under $TMPDIR (cold_dir_remove ends it). */
static void cold_dir_make(char *dir, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, cap, "%s/certa-gov-cold-XXXXXX", tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
}

static void cold_dir_remove(const char *dir)
{
    certa_state_cold_remove(dir);
    rmdir(dir);
}

/* Saves t's snapshot, frees t (which flushes its cold store in dir) and
 * returns a new state over dir restored from that snapshot. */
static certa_state *restore_via_snapshot(certa_state *t, const char *dir)
{
    const char *tmp = getenv("TMPDIR");
    char buf[512];
    snprintf(buf, sizeof buf, "%s/certa-gov-snap-XXXXXX", tmp ? tmp : "/tmp");
    int fd = mkstemp(buf);
    cr_assert(fd >= 0);
    close(fd);
    cr_assert_eq(certa_state_snapshot_save(t, buf, NULL), CERTA_OK);
    certa_state_free(t);
    certa_state *c = new_state_in(dir);
    cr_assert_eq(certa_state_snapshot_load(c, buf, NULL), CERTA_OK);
    unlink(buf);
    return c;
}

static uint64_t height_of(certa_state *s) { return certa_state_height(s); }

static void begin(certa_state *s)
{
    uint64_t h = height_of(s) + 1;
    cr_assert_eq(certa_state_begin_block(s, h, FX_T0 + h * 1000, NULL), CERTA_OK);
}

static void end(certa_state *s)
{
    uint8_t root[CERTA_HASH_BYTES];
    certa_state_end_block(s, root);
}

static certa_event propose(uint8_t change, uint32_t nonce)
{
    certa_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = CERTA_EV_GOVERN;
    memcpy(ev.grant_id, &nonce, sizeof nonce);
    ev.gov.op = CERTA_GOV_PROPOSE;
    ev.gov.change = change;
    ev.gov.expires_ms = FX_T0 + 100000; /* block 100 */
    return ev;
}

static certa_event approve_of(const certa_event *p)
{
    certa_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = CERTA_EV_GOVERN;
    ev.gov.op = CERTA_GOV_APPROVE;
    cr_assert_eq(certa_gov_proposal_digest(p, ev.gov.proposal, NULL), CERTA_OK);
    return ev;
}

static void want(certa_state *s, uint16_t who, const certa_event *ev, certa_result r,
                 const char *what)
{
    certa_result got = certa_state_apply(s, who, ev);
    cr_assert_eq(got, r, "%s: got %s, want %s", what, certa_result_name(got),
                 certa_result_name(r));
}

/* Proposes by FX_ADMIN and approves by ADMIN_B in one block: in force
 * from the next. */
static void enact(certa_state *s, const certa_event *p)
{
    begin(s);
    want(s, FX_ADMIN, p, CERTA_R_OK, "propose");
    certa_event a = approve_of(p);
    want(s, ADMIN_B, &a, CERTA_R_OK, "approve");
    end(s);
}

static certa_event grant_at(uint32_t gid, uint16_t centre, uint16_t counter)
{
    uint64_t t = FX_T0;
    return fx_grant(gid, gid, centre, counter, 101, FX_LT(CERTA_LT_ID_CARD), t,
                    t + FX_DAY_MS, 1, CERTA_METHOD_DIRECT);
}

Test(gov, rotation_takes_effect_from_the_next_block)
{
    certa_state *s = new_state();
    certa_event p = propose(CERTA_GC_INTEGRATOR_ROTATE, 1);
    p.gov.integrator = FX_APP;
    memcpy(p.gov.pub, keys[NINT], CERTA_PUBKEY_BYTES);
    uint64_t gen0 = certa_state_gov_generation(s);
    begin(s);
    want(s, FX_ADMIN, &p, CERTA_R_OK, "propose");
    end(s);
    cr_assert_eq(certa_state_proposal_count(s), 1);
    certa_gov_proposal info;
    cr_assert(certa_state_proposal(s, 0, &info));
    cr_assert_eq(info.approval_count, 1);
    cr_assert_eq(info.approvals[0], FX_ADMIN);
    certa_gov_integrator gi;
    cr_assert(certa_state_integrator(s, FX_APP, &gi));
    cr_assert_eq(memcmp(gi.pub, keys[FX_APP], CERTA_PUBKEY_BYTES), 0, "one approval: no change");

    begin(s);
    certa_event a = approve_of(&p);
    want(s, ADMIN_C, &a, CERTA_R_OK, "second approval");
    /* the same block still sees the old table */
    certa_event g = grant_at(1, 1, 0);
    want(s, FX_APP, &g, CERTA_R_OK, "grant in the approving block");
    end(s);
    cr_assert(certa_state_integrator(s, FX_APP, &gi));
    cr_assert_eq(memcmp(gi.pub, keys[NINT], CERTA_PUBKEY_BYTES), 0);
    cr_assert_eq(gi.key_since, 3, "in force from the block after the approval");
    cr_assert_eq(certa_state_gov_generation(s), gen0 + 1);
    cr_assert_eq(certa_state_proposal_count(s), 0, "an enacted proposal leaves the table");
    begin(s);
    want(s, ADMIN_X, &a, CERTA_R_GOV_NOT_MEMBER, "approval by a non-member");
    want(s, FX_ADMIN, &a, CERTA_R_GOV_UNKNOWN_PROPOSAL, "approval after it took effect");
    end(s);
    certa_state_free(s);
}

Test(gov, council_rejections)
{
    certa_state *s = new_state();
    certa_event p = propose(CERTA_GC_COUNTER_ADD, 2);
    p.gov.centre = 1;
    certa_event a = approve_of(&p);
    begin(s);
    want(s, FX_APP, &p, CERTA_R_ROLE_FORBIDDEN, "GOVERN by an app integrator");
    want(s, ADMIN_X, &p, CERTA_R_GOV_NOT_MEMBER, "propose by an admin outside the council");
    want(s, ADMIN_B, &a, CERTA_R_GOV_UNKNOWN_PROPOSAL, "approve before any propose");
    want(s, FX_ADMIN, &p, CERTA_R_OK, "propose");
    want(s, FX_ADMIN, &p, CERTA_R_GOV_PROPOSAL_EXISTS, "the same proposal again");
    want(s, FX_ADMIN, &a, CERTA_R_GOV_DUPLICATE_APPROVAL, "the proposer approves again");
    certa_event late = propose(CERTA_GC_COUNTER_ADD, 3);
    late.gov.centre = 1;
    late.gov.expires_ms = FX_T0 + 1000; /* block 1's time: already expired */
    want(s, FX_ADMIN, &late, CERTA_R_GOV_EXPIRED, "propose with a past expiry");
    end(s);
    /* expires at block 3 */
    certa_event soon = propose(CERTA_GC_COUNTER_ADD, 4);
    soon.gov.centre = 2;
    soon.gov.expires_ms = FX_T0 + 3000;
    begin(s);
    want(s, FX_ADMIN, &soon, CERTA_R_OK, "propose expiring at block 3");
    end(s);
    begin(s);
    certa_event sa = approve_of(&soon);
    want(s, ADMIN_B, &sa, CERTA_R_GOV_EXPIRED, "approval at the expiry");
    end(s);
    cr_assert_eq(certa_state_centre_counters(s, 2), 2, "an expired proposal changes nothing");
    certa_state_free(s);
}

Test(gov, change_rejections)
{
    certa_state *s = new_state();
    begin(s);
    certa_event p = propose(CERTA_GC_COUNT, 10);
    want(s, FX_ADMIN, &p, CERTA_R_GOV_UNKNOWN_CHANGE, "unknown change type");
    p = propose(0, 11);
    want(s, FX_ADMIN, &p, CERTA_R_GOV_UNKNOWN_CHANGE, "change type 0");
    p = propose(CERTA_GC_COUNCIL_THRESHOLD, 12);
    p.gov.value = 4;
    want(s, FX_ADMIN, &p, CERTA_R_GOV_BAD_THRESHOLD, "threshold above the council size");
    p.gov.value = 0;
    want(s, FX_ADMIN, &p, CERTA_R_GOV_BAD_THRESHOLD, "threshold 0");
    p.gov.value = 2;
    p.gov.centre = 1;
    want(s, FX_ADMIN, &p, CERTA_R_MALFORMED, "a field the change type does not use");
    p = propose(CERTA_GC_INTEGRATOR_ROTATE, 13);
    p.gov.integrator = FX_APP;
    memcpy(p.gov.pub, keys[FX_LIBRARY], CERTA_PUBKEY_BYTES);
    want(s, FX_ADMIN, &p, CERTA_R_GOV_KEY_IN_USE, "rotate to another integrator's key");
    memcpy(p.gov.pub, keys[FX_APP], CERTA_PUBKEY_BYTES);
    want(s, FX_ADMIN, &p, CERTA_R_GOV_KEY_IN_USE, "rotate to its own key");
    memset(p.gov.pub, 0, CERTA_PUBKEY_BYTES);
    want(s, FX_ADMIN, &p, CERTA_R_GOV_BAD_KEY, "rotate to an all-zero key");
    p.gov.integrator = 200;
    memcpy(p.gov.pub, keys[NINT], CERTA_PUBKEY_BYTES);
    want(s, FX_ADMIN, &p, CERTA_R_GOV_BAD_TARGET, "rotate an unknown integrator");
    p = propose(CERTA_GC_INTEGRATOR_ADD, 14);
    p.gov.role = CERTA_ROLE_APP;
    snprintf(p.gov.name, sizeof p.gov.name, "app");
    memcpy(p.gov.pub, keys[NINT], CERTA_PUBKEY_BYTES);
    want(s, FX_ADMIN, &p, CERTA_R_GOV_BAD_TARGET, "add with a name in use");
    snprintf(p.gov.name, sizeof p.gov.name, "app-2");
    memcpy(p.gov.pub, keys[ADMIN_B], CERTA_PUBKEY_BYTES);
    want(s, FX_ADMIN, &p, CERTA_R_GOV_KEY_IN_USE, "add with a key in use");
    memcpy(p.gov.pub, keys[NINT], CERTA_PUBKEY_BYTES);
    p.gov.centre = 1;
    want(s, FX_ADMIN, &p, CERTA_R_GOV_BAD_TARGET, "an app integrator with a centre");
    p.gov.role = CERTA_ROLE_COUNTER;
    p.gov.centre = 9;
    want(s, FX_ADMIN, &p, CERTA_R_GOV_BAD_TARGET, "a counter integrator of no centre");
    p = propose(CERTA_GC_INTEGRATOR_SUSPEND, 15);
    p.gov.integrator = ADMIN_B;
    want(s, FX_ADMIN, &p, CERTA_R_GOV_BAD_TARGET, "suspend a council member");
    p = propose(CERTA_GC_INTEGRATOR_RESUME, 16);
    p.gov.integrator = FX_APP;
    want(s, FX_ADMIN, &p, CERTA_R_GOV_BAD_TARGET, "resume an active integrator");
    p = propose(CERTA_GC_COUNCIL_ADD, 17);
    p.gov.integrator = FX_APP;
    want(s, FX_ADMIN, &p, CERTA_R_GOV_BAD_TARGET, "an app integrator on the council");
    p.gov.integrator = ADMIN_B;
    want(s, FX_ADMIN, &p, CERTA_R_GOV_BAD_TARGET, "a member joins again");
    p = propose(CERTA_GC_COUNTER_CLOSE, 18);
    p.gov.centre = 1;
    p.gov.counter = 4;
    want(s, FX_ADMIN, &p, CERTA_R_GOV_BAD_TARGET, "close a counter past the centre's");
    p = propose(CERTA_GC_COUNTER_ADD, 19);
    p.gov.centre = 7;
    want(s, FX_ADMIN, &p, CERTA_R_GOV_BAD_TARGET, "add a counter to no centre");
    p = propose(CERTA_GC_PARAM_SET, 20);
    p.gov.param = CERTA_GP_CODE_ATTEMPTS_MAX;
    p.gov.value = 11;
    want(s, FX_ADMIN, &p, CERTA_R_GOV_PARAM_RANGE, "code_attempts_max 11");
    p.gov.param = 9;
    p.gov.value = 3;
    want(s, FX_ADMIN, &p, CERTA_R_GOV_PARAM_RANGE, "unknown parameter");
    p.gov.param = CERTA_GP_GRANT_WINDOW_MS_MAX;
    p.gov.value = 1000;
    want(s, FX_ADMIN, &p, CERTA_R_GOV_PARAM_RANGE, "grant window of one second");
    end(s);
    cr_assert_eq(certa_state_proposal_count(s), 0, "rejected proposals are not kept");
    certa_state_free(s);
}

Test(gov, council_changes_itself)
{
    certa_state *s = new_state();
    /* 3 members, threshold 2: raise to 3, then removing one must fail the
     * threshold check (2 members < 3) */
    certa_event p = propose(CERTA_GC_COUNCIL_THRESHOLD, 30);
    p.gov.value = 3;
    enact(s, &p);
    certa_gov_council c;
    certa_state_council(s, &c);
    cr_assert_eq(c.threshold, 3);
    certa_event r = propose(CERTA_GC_COUNCIL_REMOVE, 31);
    r.gov.integrator = ADMIN_C;
    begin(s);
    want(s, FX_ADMIN, &r, CERTA_R_GOV_BAD_THRESHOLD, "remove below the threshold");
    end(s);
    /* add admin-x: 4 members; now remove admin-c with 3 approvals */
    certa_event add = propose(CERTA_GC_COUNCIL_ADD, 32);
    add.gov.integrator = ADMIN_X;
    begin(s);
    want(s, FX_ADMIN, &add, CERTA_R_OK, "propose add");
    certa_event aa = approve_of(&add);
    want(s, ADMIN_B, &aa, CERTA_R_OK, "approve 2 of 3");
    certa_state_council(s, &c);
    cr_assert_eq(c.count, 3, "threshold 3 not reached yet");
    want(s, ADMIN_C, &aa, CERTA_R_OK, "approve 3 of 3");
    end(s);
    certa_state_council(s, &c);
    cr_assert_eq(c.count, 4);
    cr_assert_eq(c.members[3], ADMIN_X);
    begin(s);
    want(s, ADMIN_X, &r, CERTA_R_OK, "the new member proposes");
    certa_event ra = approve_of(&r);
    want(s, FX_ADMIN, &ra, CERTA_R_OK, "approve");
    want(s, ADMIN_C, &ra, CERTA_R_OK, "the leaving member approves last");
    end(s);
    certa_state_council(s, &c);
    cr_assert_eq(c.count, 3);
    begin(s);
    certa_event q = propose(CERTA_GC_COUNTER_ADD, 33);
    q.gov.centre = 1;
    want(s, ADMIN_C, &q, CERTA_R_GOV_NOT_MEMBER, "a removed member proposes");
    end(s);
    certa_state_free(s);
}

Test(gov, integrators_counters_params_take_effect)
{
    certa_state *s = new_state();
    /* suspend counter-c1: its events are refused from the next block */
    certa_event g1 = grant_at(1, 1, 0);
    begin(s);
    want(s, FX_APP, &g1, CERTA_R_OK, "grant");
    end(s);
    certa_event sus = propose(CERTA_GC_INTEGRATOR_SUSPEND, 40);
    sus.gov.integrator = FX_COUNTER_C1;
    enact(s, &sus);
    certa_event rd = fx_redeem(1, 1, 1, 101, CERTA_LT_ID_CARD, false, false);
    begin(s);
    want(s, FX_COUNTER_C1, &rd, CERTA_R_INTEGRATOR_INACTIVE, "redeem by a suspended counter");
    end(s);
    certa_event res = propose(CERTA_GC_INTEGRATOR_RESUME, 41);
    res.gov.integrator = FX_COUNTER_C1;
    enact(s, &res);
    begin(s);
    want(s, FX_COUNTER_C1, &rd, CERTA_R_OK, "redeem after resume");
    end(s);

    /* counter 4 of centre 1 exists only after counter_add; counter 2
     * closes */
    certa_event g4 = grant_at(2, 1, 4);
    begin(s);
    want(s, FX_APP, &g4, CERTA_R_SCOPE_COUNTER, "grant at counter 4 before it opens");
    end(s);
    certa_event ca = propose(CERTA_GC_COUNTER_ADD, 42);
    ca.gov.centre = 1;
    enact(s, &ca);
    cr_assert_eq(certa_state_centre_counters(s, 1), 4);
    certa_event cc = propose(CERTA_GC_COUNTER_CLOSE, 43);
    cc.gov.centre = 1;
    cc.gov.counter = 2;
    enact(s, &cc);
    cr_assert(!certa_state_counter_open(s, 1, 2));
    cr_assert(certa_state_counter_open(s, 1, 3));
    certa_event g2 = grant_at(3, 1, 2);
    begin(s);
    want(s, FX_APP, &g4, CERTA_R_OK, "grant at the new counter");
    want(s, FX_APP, &g2, CERTA_R_SCOPE_COUNTER, "grant at a closed counter");
    end(s);

    /* a new app integrator: unknown (role_forbidden) before, granting after */
    certa_event add = propose(CERTA_GC_INTEGRATOR_ADD, 44);
    add.gov.role = CERTA_ROLE_APP;
    snprintf(add.gov.name, sizeof add.gov.name, "app-new");
    memcpy(add.gov.pub, keys[NINT + 1], CERTA_PUBKEY_BYTES);
    certa_event g5 = grant_at(5, 1, 0);
    begin(s);
    want(s, NINT, &g5, CERTA_R_ROLE_FORBIDDEN, "grant by an integrator not added yet");
    end(s);
    enact(s, &add);
    cr_assert_eq(certa_state_integrator_count(s), NINT + 1);
    cr_assert_eq(certa_state_integrator_find(s, "app-new"), NINT);
    begin(s);
    want(s, NINT, &g5, CERTA_R_OK, "grant by the added integrator");
    end(s);
    certa_event rm = propose(CERTA_GC_INTEGRATOR_REMOVE, 45);
    rm.gov.integrator = NINT;
    enact(s, &rm);
    certa_event g6 = grant_at(6, 1, 0);
    begin(s);
    want(s, NINT, &g6, CERTA_R_INTEGRATOR_INACTIVE, "grant by a removed integrator");
    end(s);
    certa_event again = add;
    again.grant_id[0] ^= 1;
    snprintf(again.gov.name, sizeof again.gov.name, "app-newer");
    begin(s);
    want(s, FX_ADMIN, &again, CERTA_R_GOV_KEY_IN_USE, "a removed integrator's key");
    end(s);

    /* parameters */
    certa_event pw = propose(CERTA_GC_PARAM_SET, 46);
    pw.gov.param = CERTA_GP_GRANT_WINDOW_MS_MAX;
    pw.gov.value = 2 * FX_DAY_MS;
    enact(s, &pw);
    cr_assert_eq(certa_state_param(s, CERTA_GP_GRANT_WINDOW_MS_MAX), 2 * FX_DAY_MS);
    certa_event wide = fx_grant(7, 7, 1, 0, 101, FX_LT(CERTA_LT_ID_CARD), FX_T0,
                                FX_T0 + 3 * FX_DAY_MS, 1, CERTA_METHOD_DIRECT);
    begin(s);
    want(s, FX_APP, &wide, CERTA_R_BAD_WINDOW, "a window past the governed maximum");
    end(s);
    certa_event pa = propose(CERTA_GC_PARAM_SET, 47);
    pa.gov.param = CERTA_GP_CODE_ATTEMPTS_MAX;
    pa.gov.value = 2;
    enact(s, &pa);
    cr_assert_eq(certa_state_param(s, CERTA_GP_CODE_ATTEMPTS_MAX), 2);
    certa_state_free(s);
}

static certa_event centre_add(uint16_t id, uint64_t counters, const char *name, uint32_t nonce)
{
    certa_event p = propose(CERTA_GC_CENTRE_ADD, nonce);
    p.gov.centre = id;
    p.gov.value = counters;
    snprintf(p.gov.name, sizeof p.gov.name, "%s", name);
    return p;
}

/* The council opens a centre (grants, a counter integrator and redeems
 * there from the next block), then closes it and a genesis one: closed
 * centres refuse grants, redeems and evidence, keep their id and name for
 * good, and a revoke still goes through. Every rejection of the two
 * change types, and the table in snapshots. */
Test(gov, centres_open_and_close)
{
    certa_state *s = new_state();
    cr_assert_eq(certa_state_centre_count(s), 2, "the fixture's two genesis centres");
    certa_event g9 = grant_at(1, 9, 2);
    begin(s);
    want(s, FX_APP, &g9, CERTA_R_SCOPE_CENTRE, "grant at a centre not opened yet");
    end(s);
    certa_event add = centre_add(9, 2, "Chaoyang district centre", 60);
    begin(s);
    want(s, FX_ADMIN, &add, CERTA_R_OK, "propose centre_add");
    certa_event a = approve_of(&add);
    want(s, ADMIN_B, &a, CERTA_R_OK, "approve centre_add");
    want(s, FX_APP, &g9, CERTA_R_SCOPE_CENTRE, "grant in the approving block");
    end(s);
    cr_assert_eq(certa_state_centre_count(s), 3);
    certa_gov_centre ce;
    cr_assert(certa_state_centre_at(s, 2, &ce));
    cr_assert_eq(ce.id, 9);
    cr_assert_str_eq(ce.name, "Chaoyang district centre");
    cr_assert_eq(ce.counters, 2);
    cr_assert(ce.open && ce.added);
    cr_assert(certa_state_centre_at(s, 0, &ce));
    cr_assert(ce.id == 1 && ce.open && !ce.added);
    cr_assert(!certa_state_centre_at(s, 3, &ce));
    cr_assert_eq(certa_state_centre_counters(s, 9), 2);

    /* rejections, against the tables with centre 9 */
    struct {
        certa_event ev;
        certa_result want;
        const char *what;
    } bad[] = {
        {centre_add(1, 2, "again", 61), CERTA_R_GOV_BAD_TARGET, "a genesis centre's id"},
        {centre_add(9, 2, "again", 62), CERTA_R_GOV_BAD_TARGET, "an added centre's id"},
        {centre_add(0, 2, "zero", 63), CERTA_R_GOV_BAD_TARGET, "centre id 0"},
        {centre_add(10, 0, "none", 64), CERTA_R_GOV_BAD_TARGET, "no counters"},
        {centre_add(10, CERTA_GOV_COUNTERS_MAX + 1, "many", 65), CERTA_R_GOV_BAD_TARGET,
         "too many counters"},
        {centre_add(10, 2, "Chaoyang district centre", 66), CERTA_R_GOV_BAD_TARGET,
         "a name in use"},
        {centre_add(10, 2, "", 67), CERTA_R_GOV_BAD_TARGET, "an empty name"},
    };
    begin(s);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        want(s, FX_ADMIN, &bad[i].ev, bad[i].want, bad[i].what);
    certa_event stray = centre_add(10, 2, "stray", 69);
    stray.gov.counter = 1;
    want(s, FX_ADMIN, &stray, CERTA_R_MALFORMED, "centre_add with a counter");
    certa_event close_none = propose(CERTA_GC_CENTRE_CLOSE, 70);
    close_none.gov.centre = 11;
    want(s, FX_ADMIN, &close_none, CERTA_R_GOV_BAD_TARGET, "close an unknown centre");
    end(s);

    /* a counter integrator for the new centre; grants and redeems there */
    certa_event ci = propose(CERTA_GC_INTEGRATOR_ADD, 71);
    ci.gov.role = CERTA_ROLE_COUNTER;
    ci.gov.centre = 9;
    snprintf(ci.gov.name, sizeof ci.gov.name, "counter-c9");
    memcpy(ci.gov.pub, keys[NINT + 2], CERTA_PUBKEY_BYTES);
    enact(s, &ci);
    const uint16_t c9 = NINT;
    certa_event g9c3 = grant_at(2, 9, 3);
    certa_event ev9 = fx_evidence(CERTA_EV_SIGN, 1, 9, 2);
    begin(s);
    want(s, FX_APP, &g9, CERTA_R_OK, "grant at the opened centre");
    want(s, FX_APP, &g9c3, CERTA_R_SCOPE_COUNTER, "grant at a counter it does not have");
    end(s);
    certa_event rd9 = fx_redeem(1, 9, 2, 101, CERTA_LT_ID_CARD, false, false);
    begin(s);
    want(s, c9, &rd9, CERTA_R_OK, "redeem at the opened centre");
    end(s);
    certa_event grown = propose(CERTA_GC_COUNTER_ADD, 72);
    grown.gov.centre = 9;
    enact(s, &grown);
    cr_assert_eq(certa_state_centre_counters(s, 9), 3);

    /* closed: grants, redeems and evidence refused; the id stays taken */
    certa_event g9b = fx_grant(3, 3, 9, 0, 101, FX_LT(CERTA_LT_ID_CARD), FX_T0,
                               FX_T0 + FX_DAY_MS, 2, CERTA_METHOD_DIRECT);
    begin(s);
    want(s, FX_APP, &g9b, CERTA_R_OK, "a two-use grant before the close");
    end(s);
    certa_event close9 = propose(CERTA_GC_CENTRE_CLOSE, 73);
    close9.gov.centre = 9;
    enact(s, &close9);
    cr_assert(certa_state_centre_at(s, 2, &ce));
    cr_assert(!ce.open);
    cr_assert(!certa_state_counter_open(s, 9, 1));
    certa_event g9d = grant_at(4, 9, 0);
    certa_event rd9b = fx_redeem(3, 9, 1, 101, CERTA_LT_ID_CARD, false, false);
    certa_event again = close9;
    again.grant_id[0] ^= 1;
    certa_event reopen = centre_add(9, 2, "Chaoyang again", 74);
    certa_event more = propose(CERTA_GC_COUNTER_ADD, 75);
    more.gov.centre = 9;
    certa_event shut = propose(CERTA_GC_COUNTER_CLOSE, 76);
    shut.gov.centre = 9;
    shut.gov.counter = 1;
    begin(s);
    want(s, FX_APP, &g9d, CERTA_R_SCOPE_CENTRE, "grant at a closed centre");
    want(s, c9, &rd9b, CERTA_R_SCOPE_CENTRE, "redeem at a closed centre");
    want(s, c9, &ev9, CERTA_R_SCOPE_CENTRE, "evidence at a closed centre");
    want(s, FX_ADMIN, &again, CERTA_R_GOV_BAD_TARGET, "close it twice");
    want(s, FX_ADMIN, &reopen, CERTA_R_GOV_BAD_TARGET, "reuse a closed centre's id");
    want(s, FX_ADMIN, &more, CERTA_R_GOV_BAD_TARGET, "a counter at a closed centre");
    want(s, FX_ADMIN, &shut, CERTA_R_GOV_BAD_TARGET, "close a counter of a closed centre");
    certa_event rv = fx_revoke(3, 3);
    want(s, FX_APP, &rv, CERTA_R_OK, "the holder still revokes");
    end(s);

    /* a genesis centre closes the same way */
    certa_event close2 = propose(CERTA_GC_CENTRE_CLOSE, 77);
    close2.gov.centre = 2;
    enact(s, &close2);
    certa_event g2 = grant_at(5, 2, 0);
    begin(s);
    want(s, FX_APP, &g2, CERTA_R_SCOPE_CENTRE, "grant at a closed genesis centre");
    end(s);
    certa_state_free(s);
}

/* Opened and closed centres survive a snapshot: same digest, same table,
 * and the restored state goes on like the original. */
Test(gov, centres_in_snapshots)
{
    char cold[512];
    cold_dir_make(cold, sizeof cold);
    certa_state *a = new_state(), *t = new_state_in(cold);
    uint8_t d0[CERTA_HASH_BYTES], da[CERTA_HASH_BYTES], dt[CERTA_HASH_BYTES];
    certa_state_digest(a, d0);
    certa_event add = centre_add(9, 2, "Chaoyang", 80), add2 = centre_add(12, 5, "Haidian", 81);
    certa_event close9 = propose(CERTA_GC_CENTRE_CLOSE, 82);
    close9.gov.centre = 9;
    certa_state *both[] = {a, t};
    for (int i = 0; i < 2; i++) {
        enact(both[i], &add);
        enact(both[i], &add2);
        enact(both[i], &close9);
    }
    certa_state_digest(a, da);
    certa_state_digest(t, dt);
    cr_assert_neq(memcmp(d0, da, sizeof da), 0, "opened centres are in the digest");
    cr_assert_eq(memcmp(da, dt, sizeof da), 0, "twins agree");
    certa_state *c = restore_via_snapshot(t, cold);
    uint8_t dc[CERTA_HASH_BYTES];
    certa_state_digest(c, dc);
    cr_assert_eq(memcmp(da, dc, sizeof da), 0, "digest after restore");
    cr_assert_eq(certa_state_centre_count(c), 4);
    certa_gov_centre ce;
    cr_assert(certa_state_centre_at(c, 2, &ce));
    cr_assert(ce.id == 9 && !ce.open && ce.added && strcmp(ce.name, "Chaoyang") == 0);
    cr_assert(certa_state_centre_at(c, 3, &ce));
    cr_assert(ce.id == 12 && ce.open && ce.counters == 5);
    certa_event g = grant_at(1, 12, 5);
    certa_event more = propose(CERTA_GC_COUNTER_ADD, 83);
    more.gov.centre = 12;
    certa_state *after[] = {a, c};
    for (int i = 0; i < 2; i++) {
        begin(after[i]);
        want(after[i], FX_APP, &g, CERTA_R_OK, "grant at the restored centre");
        end(after[i]);
        enact(after[i], &more);
    }
    certa_state_digest(a, da);
    certa_state_digest(c, dc);
    cr_assert_eq(memcmp(da, dc, sizeof da), 0);
    cr_assert_eq(certa_state_centre_counters(c, 12), 6);
    certa_state_free(a);
    certa_state_free(c);
    cold_dir_remove(cold);
}

static certa_event param_set(uint8_t param, uint64_t value, uint32_t nonce)
{
    certa_event p = propose(CERTA_GC_PARAM_SET, nonce);
    p.gov.param = param;
    p.gov.value = value;
    return p;
}

/* The block limit and the two timeouts: ranges, the view timeout above the
 * block timeout whichever moves, in force from the next block, in the
 * digest and in snapshots; a chain that never sets them keeps the form it
 * had (no tagged section). */
Test(gov, timing_parameters)
{
    fx.g.params.block_timeout_ms = 5;
    fx.g.params.view_timeout_ms = 2000;
    char cold[512];
    cold_dir_make(cold, sizeof cold);
    certa_state *s = new_state(), *t = new_state_in(cold), *plain = new_state();
    cr_assert_eq(certa_state_param(s, CERTA_GP_VIEW_TIMEOUT_MS), 2000, "genesis's value");
    cr_assert_eq(certa_state_param(s, CERTA_GP_BLOCK_EVENTS_MAX), fx.g.params.block_events_max,
                 "genesis's value");
    struct {
        certa_event ev;
        const char *what;
    } bad[] = {
        {param_set(CERTA_GP_BLOCK_EVENTS_MAX, 0, 90), "block_events_max 0"},
        {param_set(CERTA_GP_BLOCK_EVENTS_MAX, 32769, 91), "block_events_max above 32768"},
        {param_set(CERTA_GP_BLOCK_TIMEOUT_MS, 0, 92), "block_timeout_ms 0"},
        {param_set(CERTA_GP_BLOCK_TIMEOUT_MS, 2000, 93), "block timeout not below the view's"},
        {param_set(CERTA_GP_VIEW_TIMEOUT_MS, 9, 94), "view_timeout_ms below 10"},
        {param_set(CERTA_GP_VIEW_TIMEOUT_MS, 600001, 95), "view_timeout_ms above 600000"},
        {param_set(CERTA_GP_VIEW_TIMEOUT_MS, 5, 96), "view timeout not above the block's"},
        {param_set(CERTA_GP_COUNT, 5, 97), "an unknown parameter"},
    };
    certa_state *twins[] = {s, t};
    for (int k = 0; k < 2; k++) {
        begin(twins[k]);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            want(twins[k], FX_ADMIN, &bad[i].ev, CERTA_R_GOV_PARAM_RANGE, bad[i].what);
        end(twins[k]);
    }
    begin(plain);
    end(plain);
    uint8_t dp[CERTA_HASH_BYTES];
    certa_event ev = param_set(CERTA_GP_BLOCK_EVENTS_MAX, 2048, 98);
    certa_event vt = param_set(CERTA_GP_VIEW_TIMEOUT_MS, 3000, 99);
    certa_event bt = param_set(CERTA_GP_BLOCK_TIMEOUT_MS, 20, 100);
    certa_state *both[] = {s, t};
    for (int i = 0; i < 2; i++) {
        enact(both[i], &ev);
        enact(both[i], &vt);
        enact(both[i], &bt);
    }
    cr_assert_eq(certa_state_param(s, CERTA_GP_BLOCK_EVENTS_MAX), 2048);
    cr_assert_eq(certa_state_param(s, CERTA_GP_VIEW_TIMEOUT_MS), 3000);
    cr_assert_eq(certa_state_param(s, CERTA_GP_BLOCK_TIMEOUT_MS), 20);
    for (int i = 0; i < 6; i++) {
        begin(plain);
        end(plain);
    }
    uint8_t ds[CERTA_HASH_BYTES], dt[CERTA_HASH_BYTES];
    certa_state_digest(s, ds);
    certa_state_digest(t, dt);
    certa_state_digest(plain, dp);
    cr_assert_eq(memcmp(ds, dt, sizeof ds), 0, "twins agree");
    cr_assert_neq(memcmp(ds, dp, sizeof ds), 0);
    certa_state *c = restore_via_snapshot(t, cold);
    uint8_t dc[CERTA_HASH_BYTES];
    certa_state_digest(c, dc);
    cr_assert_eq(memcmp(ds, dc, sizeof ds), 0, "digest after restore");
    cr_assert_eq(certa_state_param(c, CERTA_GP_VIEW_TIMEOUT_MS), 3000);
    cr_assert_eq(certa_state_param(c, CERTA_GP_BLOCK_EVENTS_MAX), 2048);
    certa_state_free(s);
    certa_state_free(c);
    certa_state_free(plain);
    cold_dir_remove(cold);
}

/* The governed tables' serial form (hence the state digest) of a chain
 * that never opened a centre nor set a later parameter is the first
 * version's, byte for byte in length: magic, version, the integrators,
 * the genesis centres' counters, closed counters, council, threshold, the
 * two first parameters, catalogue, proposals, generation; no tagged
 * section. A chain recorded before centre_add and the timing parameters
 * replays to the same digests. */
Test(gov, serial_form_of_an_ungoverned_chain_is_unchanged)
{
    certa_gov *v = gov_create(&fx.g);
    cr_assert_not_null(v);
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert(gov_serialize(v, &buf, &len));
    size_t want = 4 + 4 + 4 + (size_t)NINT * (64 + 2 + 2 + 32 + 8) + 4 +
                  (size_t)fx.g.centre_count * 2 + 4 + 4 + (size_t)fx.g.council_count * 2 + 4 +
                  2 * 8 + 4 + 4 + 8;
    cr_assert_eq(len, want, "serial form of %zu bytes, the first version's is %zu", len, want);
    free(buf);
    gov_free(v);
}

/* The rules' version: 1 for a genesis without it, raised by the council
 * to 2 (never down, never past 2), in force from the next block for every
 * replica, kept in the digest (its own tagged section) and in snapshots. */
Test(gov, rules_version)
{
    char cold[512];
    cold_dir_make(cold, sizeof cold);
    certa_state *s = new_state(), *t = new_state_in(cold);
    cr_assert_eq(certa_state_param(s, CERTA_GP_RULES), 1, "a genesis without rules");
    certa_event low = param_set(CERTA_GP_RULES, 1, 120), high = param_set(CERTA_GP_RULES, 3, 121);
    certa_state *twins[] = {s, t};
    for (int k = 0; k < 2; k++) {
        begin(twins[k]);
        want(twins[k], FX_ADMIN, &low, CERTA_R_GOV_PARAM_RANGE, "rules 1 on a rules-1 chain");
        want(twins[k], FX_ADMIN, &high, CERTA_R_GOV_PARAM_RANGE, "rules 3");
        end(twins[k]);
    }
    /* a grant redeemed under rules 1, then the rules move to 2 */
    certa_event g = fx_grant(1, 1, 1, 0, 101, FX_LT(CERTA_LT_ID_CARD), FX_T0, FX_T0 + FX_DAY_MS, 2,
                             CERTA_METHOD_DIRECT);
    certa_event r = fx_redeem(1, 1, 1, 101, CERTA_LT_ID_CARD, false, false);
    certa_event c = fx_evidence(CERTA_EV_CONFIRM, 1, 1, 1);
    certa_event two = param_set(CERTA_GP_RULES, 2, 122);
    for (int k = 0; k < 2; k++) {
        begin(twins[k]);
        want(twins[k], FX_APP, &g, CERTA_R_OK, "grant");
        want(twins[k], FX_COUNTER_C1, &r, CERTA_R_OK, "redeem");
        want(twins[k], FX_COUNTER_C1, &c, CERTA_R_OK, "rules 1: unbound confirm");
        want(twins[k], FX_COUNTER_C1, &c, CERTA_R_OK, "rules 1: a second confirm");
        end(twins[k]);
        enact(twins[k], &two);
        begin(twins[k]);
        want(twins[k], FX_COUNTER_C1, &c, CERTA_R_EVIDENCE_REDEEM, "rules 2: unbound confirm");
        /* its redeem happened under rules 1: no time or counter recorded */
        certa_event b = c;
        b.redeem = 1;
        want(twins[k], FX_COUNTER_C1, &b, CERTA_R_EVIDENCE_LATE, "rules 2: a rules-1 redeem");
        want(twins[k], FX_COUNTER_C1, &r, CERTA_R_OK, "second redeem, under rules 2");
        b.redeem = 2;
        want(twins[k], FX_COUNTER_C1, &b, CERTA_R_OK, "rules 2: bound confirm");
        end(twins[k]);
    }
    cr_assert_eq(certa_state_param(s, CERTA_GP_RULES), 2);
    begin(s);
    want(s, FX_ADMIN, &low, CERTA_R_GOV_PARAM_RANGE, "back to rules 1");
    end(s);
    uint8_t dt[CERTA_HASH_BYTES], dc[CERTA_HASH_BYTES];
    certa_state_digest(t, dt);
    certa_state *cst = restore_via_snapshot(t, cold);
    certa_state_digest(cst, dc);
    cr_assert_eq(memcmp(dt, dc, sizeof dt), 0, "digest after restore");
    cr_assert_eq(certa_state_param(cst, CERTA_GP_RULES), 2, "rules after restore");
    /* the binding survived the snapshot: a second confirm is a duplicate */
    begin(cst);
    certa_event b2 = c;
    b2.redeem = 2;
    want(cst, FX_COUNTER_C1, &b2, CERTA_R_EVIDENCE_DUPLICATE, "after restore");
    end(cst);
    certa_state_free(s);
    certa_state_free(cst);
    cold_dir_remove(cold);
}

/* Matter 103 (driving licence, id card, residence permit) at centre 1:
 * restricted to driving licence + id card with id card required; at
 * centre 2 not offered; then back to the default. */
Test(gov, catalogue_per_centre)
{
    certa_state *s = new_state();
    const uint32_t DL = FX_LT(CERTA_LT_DRIVING_LICENCE), ID = FX_LT(CERTA_LT_ID_CARD),
                   RP = FX_LT(CERTA_LT_RESIDENCE_PERMIT);
    uint64_t t = FX_T0;
    certa_event g_rp = fx_grant(1, 1, 1, 0, 103, RP | ID, t, t + FX_DAY_MS, 2,
                                CERTA_METHOD_DIRECT);
    certa_event p = propose(CERTA_GC_CATALOGUE_SET, 70);
    p.gov.centre = 1;
    p.gov.matter = 103;
    p.gov.value = (uint64_t)ID << 32 | (DL | ID);
    enact(s, &p);
    uint32_t allowed = 0, required = 0;
    cr_assert(certa_state_catalogue(s, 1, 103, &allowed, &required));
    cr_assert_eq(allowed, DL | ID);
    cr_assert_eq(required, ID);
    cr_assert(!certa_state_catalogue(s, 2, 103, &allowed, &required));
    certa_event g_dl = fx_grant(2, 2, 1, 0, 103, DL, t, t + FX_DAY_MS, 2, CERTA_METHOD_DIRECT);
    certa_event g_ok = fx_grant(3, 3, 1, 0, 103, DL | ID, t, t + FX_DAY_MS, 2,
                                CERTA_METHOD_DIRECT);
    certa_event g_c2 = fx_grant(4, 4, 2, 0, 103, RP, t, t + FX_DAY_MS, 2, CERTA_METHOD_DIRECT);
    begin(s);
    want(s, FX_APP, &g_rp, CERTA_R_LICENCE_TYPE_NOT_ALLOWED, "a type the centre took away");
    want(s, FX_APP, &g_dl, CERTA_R_LICENCE_TYPE_REQUIRED, "without the required id card");
    want(s, FX_APP, &g_ok, CERTA_R_OK, "with it");
    want(s, FX_APP, &g_c2, CERTA_R_OK, "another centre: the genesis catalogue");
    end(s);
    /* redeem at centre 1 must fetch the required id card */
    certa_event r_dl = fx_redeem(3, 1, 1, 103, CERTA_LT_DRIVING_LICENCE, false, false);
    certa_event r_id = fx_redeem(3, 1, 1, 103, CERTA_LT_ID_CARD, false, false);
    begin(s);
    want(s, FX_COUNTER_C1, &r_dl, CERTA_R_LICENCE_TYPE_REQUIRED, "redeem without the id card");
    want(s, FX_COUNTER_C1, &r_id, CERTA_R_OK, "redeem with it");
    end(s);
    /* centre 2 stops offering matter 103 */
    certa_event off = propose(CERTA_GC_CATALOGUE_SET, 71);
    off.gov.centre = 2;
    off.gov.matter = 103;
    enact(s, &off);
    certa_event r_c2 = fx_redeem(4, 2, 1, 103, CERTA_LT_RESIDENCE_PERMIT, false, false);
    certa_event g_c2b = fx_grant(5, 5, 2, 0, 103, RP, t, t + FX_DAY_MS, 1, CERTA_METHOD_DIRECT);
    begin(s);
    want(s, FX_COUNTER_C2, &r_c2, CERTA_R_SCOPE_MATTER, "redeem of a matter no longer offered");
    want(s, FX_APP, &g_c2b, CERTA_R_SCOPE_MATTER, "grant of a matter not offered");
    end(s);
    cr_assert_eq(certa_state_catalogue_count(s), 2);
    /* back to the default: the entry goes */
    certa_event back = propose(CERTA_GC_CATALOGUE_SET, 72);
    back.gov.centre = 2;
    back.gov.matter = 103;
    back.gov.value = DL | ID | RP;
    enact(s, &back);
    cr_assert_eq(certa_state_catalogue_count(s), 1);
    /* rejections */
    begin(s);
    certa_event bad = propose(CERTA_GC_CATALOGUE_SET, 73);
    bad.gov.centre = 1;
    bad.gov.matter = 999;
    want(s, FX_ADMIN, &bad, CERTA_R_GOV_BAD_TARGET, "an unknown matter");
    bad.gov.matter = 101;
    bad.gov.value = FX_LT(CERTA_LT_BUSINESS_LICENCE);
    want(s, FX_ADMIN, &bad, CERTA_R_GOV_BAD_TARGET, "a type the matter may not use");
    bad.gov.value = (uint64_t)FX_LT(CERTA_LT_HOUSEHOLD_REGISTER) << 32 | ID;
    want(s, FX_ADMIN, &bad, CERTA_R_GOV_BAD_TARGET, "a required type not allowed");
    end(s);
    certa_state_free(s);
}

Test(gov, proposals_table_bounded)
{
    certa_state *s = new_state();
    begin(s);
    for (uint32_t i = 0; i < CERTA_GOV_PROPOSALS_MAX; i++) {
        certa_event p = propose(CERTA_GC_COUNTER_ADD, 100 + i);
        p.gov.centre = 1;
        want(s, FX_ADMIN, &p, CERTA_R_OK, "fill");
    }
    certa_event p = propose(CERTA_GC_COUNTER_ADD, 999);
    p.gov.centre = 1;
    want(s, FX_ADMIN, &p, CERTA_R_GOV_FULL, "one more");
    end(s);
    cr_assert_eq(certa_state_proposal_count(s), CERTA_GOV_PROPOSALS_MAX);
    certa_state_free(s);
}

/* Same chain, same digest; governance moves the digest; a snapshot keeps
 * the governed tables and the open proposals. */
Test(gov, digest_and_snapshot)
{
    char cold[512];
    cold_dir_make(cold, sizeof cold);
    /* t: a twin of a whose snapshot and cold store a new state restores */
    certa_state *a = new_state(), *b = new_state(), *t = new_state_in(cold);
    uint8_t da[CERTA_HASH_BYTES], db[CERTA_HASH_BYTES];
    certa_event p = propose(CERTA_GC_COUNTER_ADD, 50);
    p.gov.centre = 2;
    certa_event open = propose(CERTA_GC_COUNTER_ADD, 51);
    open.gov.centre = 1;
    certa_event g = grant_at(1, 1, 0);
    begin(a);
    want(a, FX_APP, &g, CERTA_R_OK, "grant");
    end(a);
    begin(t);
    want(t, FX_APP, &g, CERTA_R_OK, "grant");
    end(t);
    begin(b);
    want(b, FX_APP, &g, CERTA_R_OK, "grant");
    end(b);
    certa_state_digest(a, da);
    certa_state_digest(b, db);
    cr_assert_eq(memcmp(da, db, sizeof da), 0);
    enact(a, &p);
    begin(a);
    want(a, ADMIN_C, &open, CERTA_R_OK, "an open proposal");
    end(a);
    enact(t, &p);
    begin(t);
    want(t, ADMIN_C, &open, CERTA_R_OK, "an open proposal");
    end(t);
    /* b: two empty blocks instead */
    begin(b);
    end(b);
    begin(b);
    end(b);
    certa_state_digest(a, da);
    certa_state_digest(b, db);
    cr_assert_neq(memcmp(da, db, sizeof da), 0, "governance is in the digest");

    uint8_t dt[CERTA_HASH_BYTES];
    certa_state_digest(t, dt);
    cr_assert_eq(memcmp(da, dt, sizeof da), 0, "twins agree");
    certa_state *c = restore_via_snapshot(t, cold);
    uint8_t dc[CERTA_HASH_BYTES];
    certa_state_digest(c, dc);
    cr_assert_eq(memcmp(da, dc, sizeof da), 0, "digest after restore");
    cr_assert_eq(certa_state_centre_counters(c, 2), 3);
    cr_assert_eq(certa_state_proposal_count(c), 1);
    /* the restored state goes on like the original */
    certa_event oa = approve_of(&open);
    begin(a);
    want(a, FX_ADMIN, &oa, CERTA_R_OK, "approve on the original");
    end(a);
    begin(c);
    want(c, FX_ADMIN, &oa, CERTA_R_OK, "approve on the restored");
    end(c);
    certa_state_digest(a, da);
    certa_state_digest(c, dc);
    cr_assert_eq(memcmp(da, dc, sizeof da), 0);
    cr_assert_eq(certa_state_centre_counters(c, 1), 4);
    certa_state_free(a);
    certa_state_free(b);
    certa_state_free(c);
    cold_dir_remove(cold);
}

Test(gov, codec_and_json)
{
    certa_event p = propose(CERTA_GC_INTEGRATOR_ADD, 60);
    p.gov.role = CERTA_ROLE_COUNTER;
    p.gov.centre = 2;
    snprintf(p.gov.name, sizeof p.gov.name, "counter-c2b");
    memcpy(p.gov.pub, keys[NINT], CERTA_PUBKEY_BYTES);
    uint8_t b[CERTA_EVENT_BYTES_MAX];
    size_t n = 0;
    cr_assert_eq(certa_event_encode(&p, b, sizeof b, &n, NULL), CERTA_OK);
    cr_assert_eq(n, 180);
    certa_event d;
    cr_assert_eq(certa_event_decode(b, n, &d, NULL), CERTA_OK);
    cr_assert_eq(memcmp(&d, &p, sizeof d), 0, "decode(encode(ev)) == ev");
    /* an approve carries only the digest */
    certa_event a = approve_of(&p);
    cr_assert_eq(certa_event_validate(&a, NULL), CERTA_OK);
    a.gov.centre = 1;
    cr_assert_eq(certa_event_validate(&a, NULL), CERTA_E_BAD_FIELD);
    /* the name is NUL-padded */
    certa_event q = p;
    q.gov.name[20] = 'x';
    cr_assert_eq(certa_event_encode(&q, b, sizeof b, &n, NULL), CERTA_E_BAD_FIELD);
    /* printable ASCII only, so that every decodable event has a JSON form
     * (the decoder once accepted a name JSON could not hold) */
    q = p;
    q.gov.name[2] = (char)0x84;
    cr_assert_eq(certa_event_encode(&q, b, sizeof b, &n, NULL), CERTA_E_BAD_FIELD);
    cr_assert_eq(certa_event_encode(&p, b, sizeof b, &n, NULL), CERTA_OK);
    b[84 + 2] = 0x84;
    cr_assert_eq(certa_event_decode(b, n, &d, NULL), CERTA_E_BAD_FIELD);
    b[84 + 2] = 0x1f;
    cr_assert_eq(certa_event_decode(b, n, &d, NULL), CERTA_E_BAD_FIELD);
    q = p;
    q.gov.op = 3;
    cr_assert_eq(certa_event_validate(&q, NULL), CERTA_E_BAD_ENUM);
    q = p;
    q.gov.expires_ms = 0;
    cr_assert_eq(certa_event_validate(&q, NULL), CERTA_E_BAD_FIELD);
    /* a grant may not carry a gov body */
    certa_event g = grant_at(1, 1, 0);
    g.gov.value = 1;
    cr_assert_eq(certa_event_validate(&g, NULL), CERTA_E_BAD_FIELD);
    /* reserved bytes on the wire */
    cr_assert_eq(certa_event_encode(&p, b, sizeof b, &n, NULL), CERTA_OK);
    b[30] = 1;
    cr_assert_eq(certa_event_decode(b, n, &d, NULL), CERTA_E_RESERVED);

    /* JSON both ways */
    char *text = certa_event_format_json(&p, NULL);
    cr_assert_not_null(text);
    cr_assert(strstr(text, "\"change\":\"integrator_add\"") != NULL, "%s", text);
    certa_event j;
    cr_assert_eq(certa_event_parse_json(text, strlen(text), &j, NULL, NULL), CERTA_OK, "%s", text);
    cr_assert_eq(memcmp(&j, &p, sizeof j), 0);
    free(text);
    certa_event a2 = approve_of(&p);
    text = certa_event_format_json(&a2, NULL);
    cr_assert_not_null(text);
    cr_assert_eq(certa_event_parse_json(text, strlen(text), &j, NULL, NULL), CERTA_OK, "%s", text);
    cr_assert_eq(memcmp(&j, &a2, sizeof j), 0);
    free(text);
    certa_errinfo ei;
    const char *bad = "{\"kind\":\"govern\",\"grant_id\":\"00000000000000000000000000000000\","
                      "\"gov\":{\"op\":\"propose\",\"change\":\"nope\",\"expires_ms\":5}}";
    cr_assert_eq(certa_event_parse_json(bad, strlen(bad), &j, NULL, &ei), CERTA_E_BAD_ENUM);
    cr_assert(strstr(certa_errmsg(&ei), "gov.change") != NULL, "%s", certa_errmsg(&ei));
}

Test(gov, names)
{
    for (unsigned c = 1; c < CERTA_GC_COUNT; c++)
        cr_assert_eq(certa_gov_change_parse(certa_gov_change_name(c)), (int)c);
    for (unsigned p = 1; p < CERTA_GP_COUNT; p++)
        cr_assert_eq(certa_gov_param_parse(certa_gov_param_name(p)), (int)p);
    cr_assert_null(certa_gov_change_name(CERTA_GC_COUNT));
    cr_assert_eq(certa_gov_change_parse("council_dissolve"), -1);
    cr_assert_str_eq(certa_result_name(CERTA_R_GOV_NOT_MEMBER), "gov_not_member");
    cr_assert_str_eq(certa_result_name(CERTA_R_STALE_KEY), "stale_key");
    cr_assert_eq(CERTA_R_GOV_NOT_MEMBER, 20, "new reasons follow the old ones");
}
