/* Tests for engine/state.c: a table that reaches every rejection reason and
 * every success path; grant status, holder records and grant history with
 * paging; the results root against a plain recursive RFC 6962; random valid
 * and invalid streams on replicas (one snapshotted and restored midway, at 1,
 * 2 and 8 hashing threads) giving equal results and digests; damaged
 * snapshots refused. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../state_fixture.h"

static fx_genesis fx;

static certa_state *new_state(uint32_t threads)
{
    certa_state_opts o = {.hash_threads = threads};
    certa_state *s = NULL;
    cr_assert_eq(certa_state_create(&fx.g, &o, &s, NULL), CERTA_OK);
    return s;
}

/* A state whose cold store is in dir (kept across a restart). */
static certa_state *new_state_in(uint32_t threads, const char *dir)
{
    certa_state_opts o = {.hash_threads = threads, .cold_dir = dir};
    certa_state *s = NULL;
    certa_errinfo ei;
    cr_assert_eq(certa_state_create(&fx.g, &o, &s, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    return s;
}

static void rm_rf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static void setup(void) { fx_genesis_init(&fx); }

/* ---- the rules table ---- */

typedef struct step {
    const char *what;
    uint16_t integrator;
    certa_event ev;
    certa_result want;
} step;

static bool hit[CERTA_R_COUNT];
static unsigned ok_kinds; /* bit per kind that succeeded */

static void run(certa_state *s, const step *st, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        certa_result r = certa_state_apply(s, st[i].integrator, &st[i].ev);
        cr_assert_eq(r, st[i].want, "step '%s': got %s, want %s", st[i].what,
                     certa_result_name(r), certa_result_name(st[i].want));
        hit[r] = true;
        if (r == CERTA_R_OK)
            ok_kinds |= 1u << st[i].ev.kind;
    }
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define ID FX_LT(CERTA_LT_ID_CARD)
#define HR FX_LT(CERTA_LT_HOUSEHOLD_REGISTER)
#define DL FX_LT(CERTA_LT_DRIVING_LICENCE)
#define BL FX_LT(CERTA_LT_BUSINESS_LICENCE)

TestSuite(state, .init = setup);

Test(state, rules_table)
{
    memset(hit, 0, sizeof hit);
    ok_kinds = 0;
    certa_state *s = new_state(1);
    const uint64_t T = FX_T0, D = FX_DAY_MS;
    cr_assert_eq(certa_state_begin_block(s, 1, T + 3600000, NULL), CERTA_OK);

    certa_event zero_types = fx_grant(2, 1, 1, 0, 101, 0, T, T + D, 1, CERTA_METHOD_CODE);
    certa_event direct_commit = fx_grant(2, 1, 1, 0, 101, ID, T, T + D, 1, CERTA_METHOD_DIRECT);
    memset(direct_commit.code_commit, 1, CERTA_HASH_BYTES);
    certa_event code_no_commit = fx_grant(2, 1, 1, 0, 101, ID, T, T + D, 1, CERTA_METHOD_CODE);
    memset(code_no_commit.code_commit, 0, CERTA_HASH_BYTES);
    certa_event zero_holder = fx_grant(2, 1, 1, 0, 101, ID, T, T + D, 1, CERTA_METHOD_CODE);
    memset(zero_holder.holder_id, 0, CERTA_HOLDER_ID_BYTES);
    certa_event bad_kind = fx_revoke(1, 1);
    bad_kind.kind = 9;

    const step grants[] = {
        {"grant g1 code", FX_APP, fx_grant(1, 1, 1, 0, 101, ID, T, T + D, 2, CERTA_METHOD_CODE), CERTA_R_OK},
        {"grant g1 again", FX_APP, fx_grant(1, 2, 1, 0, 101, ID, T, T + D, 2, CERTA_METHOD_CODE), CERTA_R_DUPLICATE_GRANT},
        {"grant by a counter", FX_COUNTER_C1, fx_grant(2, 1, 1, 0, 101, ID, T, T + D, 1, CERTA_METHOD_CODE), CERTA_R_ROLE_FORBIDDEN},
        {"grant by the library", FX_LIBRARY, fx_grant(2, 1, 1, 0, 101, ID, T, T + D, 1, CERTA_METHOD_CODE), CERTA_R_ROLE_FORBIDDEN},
        {"grant by admin", FX_ADMIN, fx_grant(2, 1, 1, 0, 101, ID, T, T + D, 1, CERTA_METHOD_CODE), CERTA_R_ROLE_FORBIDDEN},
        {"grant by unknown integrator", 77, fx_grant(2, 1, 1, 0, 101, ID, T, T + D, 1, CERTA_METHOD_CODE), CERTA_R_ROLE_FORBIDDEN},
        {"grant no types", FX_APP, zero_types, CERTA_R_MALFORMED},
        {"grant zero uses", FX_APP, fx_grant(2, 1, 1, 0, 101, ID, T, T + D, 0, CERTA_METHOD_CODE), CERTA_R_MALFORMED},
        {"grant bad method", FX_APP, fx_grant(2, 1, 1, 0, 101, ID, T, T + D, 1, 3), CERTA_R_MALFORMED},
        {"grant direct with commit", FX_APP, direct_commit, CERTA_R_MALFORMED},
        {"grant code without commit", FX_APP, code_no_commit, CERTA_R_MALFORMED},
        {"grant zero holder", FX_APP, zero_holder, CERTA_R_MALFORMED},
        {"unknown kind", FX_APP, bad_kind, CERTA_R_MALFORMED},
        {"grant unknown centre", FX_APP, fx_grant(2, 1, 9, 0, 101, ID, T, T + D, 1, CERTA_METHOD_CODE), CERTA_R_SCOPE_CENTRE},
        {"grant unknown counter", FX_APP, fx_grant(2, 1, 1, 7, 101, ID, T, T + D, 1, CERTA_METHOD_CODE), CERTA_R_SCOPE_COUNTER},
        {"grant unknown matter", FX_APP, fx_grant(2, 1, 1, 0, 999, ID, T, T + D, 1, CERTA_METHOD_CODE), CERTA_R_SCOPE_MATTER},
        {"grant type not for matter", FX_APP, fx_grant(2, 1, 1, 0, 101, BL, T, T + D, 1, CERTA_METHOD_CODE), CERTA_R_LICENCE_TYPE_NOT_ALLOWED},
        {"grant empty window", FX_APP, fx_grant(2, 1, 1, 0, 101, ID, T + D, T + D, 1, CERTA_METHOD_CODE), CERTA_R_BAD_WINDOW},
        {"grant window too long", FX_APP, fx_grant(2, 1, 1, 0, 101, ID, T, T + 31 * D, 1, CERTA_METHOD_CODE), CERTA_R_BAD_WINDOW},
        {"grant already over", FX_APP, fx_grant(2, 1, 1, 0, 101, ID, T - 2 * D, T - D, 1, CERTA_METHOD_CODE), CERTA_R_EXPIRED},
        {"grant g3 future direct", FX_APP, fx_grant(3, 1, 1, 0, 101, ID, T + 2 * D, T + 3 * D, 1, CERTA_METHOD_DIRECT), CERTA_R_OK},
        {"grant g4 qr counter 2", FX_APP, fx_grant(4, 1, 1, 2, 103, DL | ID, T, T + D, 1, CERTA_METHOD_QR), CERTA_R_OK},
        {"grant g5 direct holder 2", FX_APP, fx_grant(5, 2, 1, 0, 101, ID | HR, T, T + D, 1, CERTA_METHOD_DIRECT), CERTA_R_OK},
        {"grant g6 code", FX_APP, fx_grant(6, 1, 1, 0, 101, ID, T, T + D, 3, CERTA_METHOD_CODE), CERTA_R_OK},
        {"grant g7 centre 2", FX_APP, fx_grant(7, 1, 2, 0, 102, BL, T, T + D, 1, CERTA_METHOD_CODE), CERTA_R_OK},
        {"grant g8 direct", FX_APP, fx_grant(8, 1, 1, 0, 101, ID, T, T + D, 3, CERTA_METHOD_DIRECT), CERTA_R_OK},
    };
    run(s, grants, N(grants));

    certa_event no_licence = fx_redeem(1, 1, 1, 101, CERTA_LT_ID_CARD, true, true);
    no_licence.licence_count = 0;
    certa_event bad_code = fx_redeem(1, 1, 1, 101, CERTA_LT_ID_CARD, true, true);
    memcpy(bad_code.code, "12ab5678", 8);
    certa_event bad_type = fx_redeem(1, 1, 1, 101, 40, true, true);
    certa_event no_evidence = fx_evidence(CERTA_EV_CONFIRM, 1, 1, 1);
    memset(no_evidence.evidence, 0, CERTA_HASH_BYTES);

    const step uses[] = {
        {"redeem unknown grant", FX_COUNTER_C1, fx_redeem(99, 1, 1, 101, CERTA_LT_ID_CARD, true, true), CERTA_R_UNKNOWN_GRANT},
        {"redeem by the app", FX_APP, fx_redeem(1, 1, 1, 101, CERTA_LT_ID_CARD, true, true), CERTA_R_ROLE_FORBIDDEN},
        {"redeem by another centre's counter", FX_COUNTER_C2, fx_redeem(1, 1, 1, 101, CERTA_LT_ID_CARD, true, true), CERTA_R_ROLE_FORBIDDEN},
        {"redeem no licence", FX_COUNTER_C1, no_licence, CERTA_R_MALFORMED},
        {"redeem code not digits", FX_COUNTER_C1, bad_code, CERTA_R_MALFORMED},
        {"redeem type out of range", FX_COUNTER_C1, bad_type, CERTA_R_MALFORMED},
        {"redeem before the window", FX_COUNTER_C1, fx_redeem(3, 1, 1, 101, CERTA_LT_ID_CARD, false, false), CERTA_R_NOT_YET_VALID},
        {"redeem at another centre", FX_COUNTER_C1, fx_redeem(7, 1, 1, 102, CERTA_LT_BUSINESS_LICENCE, true, true), CERTA_R_SCOPE_CENTRE},
        {"redeem at another counter", FX_COUNTER_C1, fx_redeem(4, 1, 1, 103, CERTA_LT_ID_CARD, true, true), CERTA_R_SCOPE_COUNTER},
        {"redeem at counter 0", FX_COUNTER_C1, fx_redeem(1, 1, 0, 101, CERTA_LT_ID_CARD, true, true), CERTA_R_SCOPE_COUNTER},
        {"redeem at a counter the centre lacks", FX_COUNTER_C1, fx_redeem(1, 1, 9, 101, CERTA_LT_ID_CARD, true, true), CERTA_R_SCOPE_COUNTER},
        {"redeem for another matter", FX_COUNTER_C1, fx_redeem(1, 1, 1, 103, CERTA_LT_ID_CARD, true, true), CERTA_R_SCOPE_MATTER},
        {"redeem type not granted", FX_COUNTER_C1, fx_redeem(1, 1, 1, 101, CERTA_LT_HOUSEHOLD_REGISTER, true, true), CERTA_R_LICENCE_TYPE_NOT_ALLOWED},
        {"redeem type not granted (qr)", FX_COUNTER_C1, fx_redeem(4, 1, 2, 103, CERTA_LT_RESIDENCE_PERMIT, true, true), CERTA_R_LICENCE_TYPE_NOT_ALLOWED},
        {"confirm before redeem", FX_COUNTER_C1, fx_evidence(CERTA_EV_CONFIRM, 1, 1, 1), CERTA_R_NOT_REDEEMED},
        {"redeem wrong code", FX_COUNTER_C1, fx_redeem(1, 1, 1, 101, CERTA_LT_ID_CARD, true, false), CERTA_R_CODE_MISMATCH},
        {"redeem no code on a code grant", FX_COUNTER_C1, fx_redeem(1, 1, 1, 101, CERTA_LT_ID_CARD, false, false), CERTA_R_CODE_MISMATCH},
        {"redeem g1 right code", FX_COUNTER_C1, fx_redeem(1, 1, 1, 101, CERTA_LT_ID_CARD, true, true), CERTA_R_OK},
        {"confirm g1", FX_COUNTER_C1, fx_evidence(CERTA_EV_CONFIRM, 1, 1, 1), CERTA_R_OK},
        {"sign g1", FX_COUNTER_C1, fx_evidence(CERTA_EV_SIGN, 1, 1, 2), CERTA_R_OK},
        {"photo g1", FX_COUNTER_C1, fx_evidence(CERTA_EV_PHOTO, 1, 1, 3), CERTA_R_OK},
        {"confirm no evidence", FX_COUNTER_C1, no_evidence, CERTA_R_MALFORMED},
        {"photo at another centre", FX_COUNTER_C2, fx_evidence(CERTA_EV_PHOTO, 1, 2, 1), CERTA_R_SCOPE_CENTRE},
        {"sign by the app", FX_APP, fx_evidence(CERTA_EV_SIGN, 1, 1, 1), CERTA_R_ROLE_FORBIDDEN},
        {"sign unknown grant", FX_COUNTER_C1, fx_evidence(CERTA_EV_SIGN, 98, 1, 1), CERTA_R_UNKNOWN_GRANT},
        {"redeem g1 second use", FX_COUNTER_C1, fx_redeem(1, 1, 2, 101, CERTA_LT_ID_CARD, true, true), CERTA_R_OK},
        {"redeem g1 third use", FX_COUNTER_C1, fx_redeem(1, 1, 2, 101, CERTA_LT_ID_CARD, true, true), CERTA_R_EXHAUSTED},
        {"confirm after last use", FX_COUNTER_C1, fx_evidence(CERTA_EV_CONFIRM, 1, 1, 2), CERTA_R_OK},
        {"redeem g4 qr", FX_COUNTER_C1, fx_redeem(4, 1, 2, 103, CERTA_LT_DRIVING_LICENCE, true, true), CERTA_R_OK},
        {"photo g4 at its counter", FX_COUNTER_C1, fx_evidence(CERTA_EV_PHOTO, 4, 1, 2), CERTA_R_OK},
        {"photo g4 at another counter", FX_COUNTER_C1, fx_evidence(CERTA_EV_PHOTO, 4, 1, 1), CERTA_R_SCOPE_COUNTER},
        {"sign g1 at counter 0", FX_COUNTER_C1, fx_evidence(CERTA_EV_SIGN, 1, 1, 0), CERTA_R_SCOPE_COUNTER},
        {"sign g1 at a counter the centre lacks", FX_COUNTER_C1, fx_evidence(CERTA_EV_SIGN, 1, 1, 4), CERTA_R_SCOPE_COUNTER},
        {"redeem g5 direct", FX_COUNTER_C1, fx_redeem(5, 1, 3, 101, CERTA_LT_HOUSEHOLD_REGISTER, false, false), CERTA_R_OK},
        {"redeem g8 direct with a code", FX_COUNTER_C1, fx_redeem(8, 1, 3, 101, CERTA_LT_ID_CARD, true, true), CERTA_R_CODE_MISMATCH},
        {"g6 wrong 1", FX_COUNTER_C1, fx_redeem(6, 1, 1, 101, CERTA_LT_ID_CARD, true, false), CERTA_R_CODE_MISMATCH},
        {"g6 wrong 2", FX_COUNTER_C1, fx_redeem(6, 1, 1, 101, CERTA_LT_ID_CARD, true, false), CERTA_R_CODE_MISMATCH},
        {"g6 wrong 3", FX_COUNTER_C1, fx_redeem(6, 1, 1, 101, CERTA_LT_ID_CARD, true, false), CERTA_R_CODE_MISMATCH},
        {"g6 wrong 4", FX_COUNTER_C1, fx_redeem(6, 1, 1, 101, CERTA_LT_ID_CARD, true, false), CERTA_R_CODE_MISMATCH},
        {"g6 right code after 4 wrong", FX_COUNTER_C1, fx_redeem(6, 1, 1, 101, CERTA_LT_ID_CARD, true, true), CERTA_R_OK},
        {"g6 wrong 5 locks", FX_COUNTER_C1, fx_redeem(6, 1, 1, 101, CERTA_LT_ID_CARD, true, false), CERTA_R_CODE_MISMATCH},
        {"g6 right code when locked", FX_COUNTER_C1, fx_redeem(6, 1, 1, 101, CERTA_LT_ID_CARD, true, true), CERTA_R_LOCKED},
        {"confirm g6 when locked", FX_COUNTER_C1, fx_evidence(CERTA_EV_CONFIRM, 6, 1, 1), CERTA_R_LOCKED},
        {"revoke g4 by another holder", FX_APP, fx_revoke(4, 2), CERTA_R_NOT_HOLDER},
        {"revoke g4 by a counter", FX_COUNTER_C1, fx_revoke(4, 1), CERTA_R_ROLE_FORBIDDEN},
        {"revoke unknown grant", FX_APP, fx_revoke(97, 1), CERTA_R_UNKNOWN_GRANT},
        {"revoke by an unknown holder", FX_APP, fx_revoke(4, 0x7fffffff), CERTA_R_NOT_HOLDER},
        {"revoke g4", FX_APP, fx_revoke(4, 1), CERTA_R_OK},
        {"revoke g4 again", FX_APP, fx_revoke(4, 1), CERTA_R_REVOKED},
        {"redeem g4 revoked", FX_COUNTER_C1, fx_redeem(4, 1, 2, 103, CERTA_LT_ID_CARD, true, true), CERTA_R_REVOKED},
        {"photo g4 revoked", FX_COUNTER_C1, fx_evidence(CERTA_EV_PHOTO, 4, 1, 2), CERTA_R_REVOKED},
        {"revoke g6 locked", FX_APP, fx_revoke(6, 1), CERTA_R_OK},
    };
    run(s, uses, N(uses));
    certa_event zero_revoke = fx_revoke(5, 2);
    memset(zero_revoke.holder_id, 0, CERTA_HOLDER_ID_BYTES);
    const step more[] = {{"revoke all-zero holder", FX_APP, zero_revoke, CERTA_R_MALFORMED}};
    run(s, more, N(more));
    cr_assert_eq(certa_state_apply_malformed(s, FX_APP), CERTA_R_MALFORMED);
    uint8_t root[CERTA_HASH_BYTES];
    certa_state_end_block(s, root);

    /* time goes on: the windows decide */
    cr_assert_eq(certa_state_begin_block(s, 2, T + 1000, NULL), CERTA_E_TIME);
    cr_assert_eq(certa_state_begin_block(s, 3, T + 2 * D + 3600000, NULL), CERTA_E_STATE);
    cr_assert_eq(certa_state_begin_block(s, 2, T + 2 * D + 3600000, NULL), CERTA_OK);
    const step later[] = {
        {"redeem g8 expired", FX_COUNTER_C1, fx_redeem(8, 1, 1, 101, CERTA_LT_ID_CARD, false, false), CERTA_R_EXPIRED},
        {"redeem g3 in its window", FX_COUNTER_C1, fx_redeem(3, 1, 1, 101, CERTA_LT_ID_CARD, false, false), CERTA_R_OK},
        {"sign g3", FX_COUNTER_C1, fx_evidence(CERTA_EV_SIGN, 3, 1, 1), CERTA_R_OK},
        /* a day past its window: the grace is over, it can no longer change */
        {"revoke g1 past its window and the grace", FX_APP, fx_revoke(1, 1), CERTA_R_EXPIRED},
    };
    run(s, later, N(later));
    certa_state_end_block(s, root);

    for (unsigned r = 0; r < CERTA_R_COUNT; r++)
        cr_expect(hit[r] || r == CERTA_R_REPLAYED || r == CERTA_R_TOO_OLD ||
                      r >= CERTA_R_GOV_NOT_MEMBER, /* governance: test_gov.c */
                  "reason %s never reached",
                  certa_result_name(r));
    for (unsigned k = CERTA_EV_GRANT; k <= CERTA_EV_REVOKE; k++)
        cr_expect(ok_kinds & (1u << k), "kind %u never succeeded", k);

    /* statuses */
    certa_grant_info gi;
    uint8_t id[CERTA_GRANT_ID_BYTES];
    fx_grant_id(1, id);
    /* g1 is archived by now (window + grace ended before block 2's end):
     * answered from the cold store, its revoke refused */
    cr_assert_eq(certa_state_grant(s, id, &gi), CERTA_OK);
    cr_assert_eq(gi.status, CERTA_GS_EXHAUSTED);
    cr_assert_eq(gi.uses, 2);
    cr_assert_eq(gi.failed_attempts, 2);
    cr_assert_eq(gi.created_ms, T + 3600000);
    fx_grant_id(6, id);
    cr_assert_eq(certa_state_grant(s, id, &gi), CERTA_OK);
    cr_assert_eq(gi.status, CERTA_GS_REVOKED);
    cr_assert_eq(gi.failed_attempts, 5);
    cr_assert_eq(gi.uses, 1);
    fx_grant_id(5, id);
    cr_assert_eq(certa_state_grant(s, id, &gi), CERTA_OK);
    cr_assert_eq(gi.status, CERTA_GS_EXHAUSTED);
    fx_grant_id(8, id);
    cr_assert_eq(certa_state_grant(s, id, &gi), CERTA_OK);
    cr_assert_eq(gi.status, CERTA_GS_EXPIRED);
    fx_grant_id(7, id);
    cr_assert_eq(certa_state_grant(s, id, &gi), CERTA_OK);
    cr_assert_eq(gi.status, CERTA_GS_EXPIRED);
    fx_grant_id(2, id);
    cr_assert_eq(certa_state_grant(s, id, &gi), CERTA_E_NOTFOUND);
    certa_state_free(s);
}

static certa_event bound(uint8_t kind, uint32_t gid, uint16_t counter, uint16_t redeem)
{
    certa_event ev = fx_evidence(kind, gid, 1, counter);
    ev.redeem = redeem;
    return ev;
}

/* Rules 2: confirm, sign and photo document the grant's latest redeem, come
 * from its counter, within CERTA_STATE_EVIDENCE_WINDOW_MS, one of each. The
 * binding is state: it survives a snapshot and a restart. */
Test(state, evidence_bound_to_its_redeem)
{
    fx.g.params.rules = 2;
    const uint64_t T = FX_T0, H = 3600000, W = CERTA_STATE_EVIDENCE_WINDOW_MS;
    char cold[] = "/tmp/certa-test-cold-XXXXXX", snap[] = "/tmp/certa-test-snap-XXXXXX";
    cr_assert_not_null(mkdtemp(cold));
    int fd = mkstemp(snap);
    cr_assert(fd >= 0);
    close(fd);
    certa_state *s = new_state_in(1, cold);
    uint8_t root[32], d1[32], d2[32];
    cr_assert_eq(certa_state_begin_block(s, 1, T + H, NULL), CERTA_OK);
    const step grants[] = {
        {"grant g1, two uses, any counter", FX_APP, fx_grant_sealed(fx_grant(1, 1, 1, 0, 101, ID, T, T + FX_DAY_MS, 2, CERTA_METHOD_CODE), 1), CERTA_R_OK},
    };
    run(s, grants, N(grants));
    certa_state_end_block(s, root);

    cr_assert_eq(certa_state_begin_block(s, 2, T + 2 * H, NULL), CERTA_OK);
    certa_event unbound = fx_evidence(CERTA_EV_CONFIRM, 1, 1, 1);
    const step first[] = {
        {"confirm before a redeem", FX_COUNTER_C1, bound(CERTA_EV_CONFIRM, 1, 1, 1), CERTA_R_NOT_REDEEMED},
        {"redeem 1 at counter 1", FX_COUNTER_C1, fx_sealed(fx_redeem(1, 1, 1, 101, CERTA_LT_ID_CARD, true, true)), CERTA_R_OK},
        {"confirm naming no redeem", FX_COUNTER_C1, unbound, CERTA_R_EVIDENCE_REDEEM},
        {"confirm naming redeem 2", FX_COUNTER_C1, bound(CERTA_EV_CONFIRM, 1, 1, 2), CERTA_R_EVIDENCE_REDEEM},
        {"confirm from counter 2", FX_COUNTER_C1, bound(CERTA_EV_CONFIRM, 1, 2, 1), CERTA_R_EVIDENCE_COUNTER},
        {"confirm redeem 1", FX_COUNTER_C1, bound(CERTA_EV_CONFIRM, 1, 1, 1), CERTA_R_OK},
        {"confirm redeem 1 again", FX_COUNTER_C1, bound(CERTA_EV_CONFIRM, 1, 1, 1), CERTA_R_EVIDENCE_DUPLICATE},
        {"sign redeem 1", FX_COUNTER_C1, bound(CERTA_EV_SIGN, 1, 1, 1), CERTA_R_OK},
        {"redeem 2 at counter 2 (uses stay at the first's counter)", FX_COUNTER_C1, fx_sealed(fx_redeem(1, 1, 2, 101, CERTA_LT_ID_CARD, true, true)), CERTA_R_SCOPE_COUNTER},
        {"redeem 2 at counter 1", FX_COUNTER_C1, fx_sealed(fx_redeem(1, 1, 1, 101, CERTA_LT_ID_CARD, true, true)), CERTA_R_OK},
        {"photo of redeem 1 after redeem 2", FX_COUNTER_C1, bound(CERTA_EV_PHOTO, 1, 1, 1), CERTA_R_EVIDENCE_REDEEM},
        {"photo of redeem 2 from counter 2", FX_COUNTER_C1, bound(CERTA_EV_PHOTO, 1, 2, 2), CERTA_R_EVIDENCE_COUNTER},
        {"confirm redeem 2 (a new redeem, a new set)", FX_COUNTER_C1, bound(CERTA_EV_CONFIRM, 1, 1, 2), CERTA_R_OK},
    };
    run(s, first, N(first));
    certa_state_end_block(s, root);
    certa_state_digest(s, d1);
    cr_assert_eq(certa_state_snapshot_save(s, snap, NULL), CERTA_OK);
    certa_state_free(s);

    /* restarted from the snapshot: the same digest, the same binding */
    s = new_state_in(1, cold);
    certa_errinfo ei;
    cr_assert_eq(certa_state_snapshot_load(s, snap, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    certa_state_digest(s, d2);
    cr_assert_eq(memcmp(d1, d2, 32), 0);
    /* the last block time before the window closes, then the first after */
    cr_assert_eq(certa_state_begin_block(s, 3, T + 2 * H + W - 1, NULL), CERTA_OK);
    const step in_time[] = {
        {"confirm redeem 2 again", FX_COUNTER_C1, bound(CERTA_EV_CONFIRM, 1, 1, 2), CERTA_R_EVIDENCE_DUPLICATE},
        {"sign redeem 2, the last ms", FX_COUNTER_C1, bound(CERTA_EV_SIGN, 1, 1, 2), CERTA_R_OK},
    };
    run(s, in_time, N(in_time));
    certa_state_end_block(s, root);
    cr_assert_eq(certa_state_begin_block(s, 4, T + 2 * H + W, NULL), CERTA_OK);
    const step late[] = {
        {"photo redeem 2, window over", FX_COUNTER_C1, bound(CERTA_EV_PHOTO, 1, 1, 2), CERTA_R_EVIDENCE_LATE},
        {"sign redeem 2 late (late before duplicate)", FX_COUNTER_C1, bound(CERTA_EV_SIGN, 1, 1, 2), CERTA_R_EVIDENCE_LATE},
    };
    run(s, late, N(late));
    certa_state_end_block(s, root);
    /* past its window and the grace the grant is archived: still refused */
    cr_assert_eq(certa_state_begin_block(s, 5, T + 3 * FX_DAY_MS, NULL), CERTA_OK);
    certa_state_end_block(s, root);
    cr_assert_eq(certa_state_begin_block(s, 6, T + 3 * FX_DAY_MS + 1, NULL), CERTA_OK);
    const step archived[] = {
        {"photo on the archived grant", FX_COUNTER_C1, bound(CERTA_EV_PHOTO, 1, 1, 2), CERTA_R_EVIDENCE_LATE},
    };
    run(s, archived, N(archived));
    certa_state_end_block(s, root);
    certa_state_free(s);
    unlink(snap);
    rm_rf(cold);
}

/* Rules 2, codes that stay secret: the redeem carries SHA-256(salt || code)
 * and never the code or salt; one in the clear is refused without spending
 * an attempt; a wrong proof is an attempt and five lock the grant. A QR
 * grant names its counter; its proof is the pad's challenge's. */
Test(state, sealed_codes_and_qr)
{
    fx.g.params.rules = 2;
    const uint64_t T = FX_T0;
    certa_state *s = new_state(1);
    uint8_t root[32];
    cr_assert_eq(certa_state_begin_block(s, 1, T + 3600000, NULL), CERTA_OK);
    certa_event clear = fx_redeem(1, 1, 1, 101, CERTA_LT_ID_CARD, true, true);
    certa_event qr_any = fx_grant(3, 1, 1, 0, 101, ID, T, T + FX_DAY_MS, 1, CERTA_METHOD_QR);
    /* the QR secret: the challenge (the fixture's salt of grant 2), no code */
    uint8_t challenge[CERTA_SALT_BYTES];
    fx_salt(2, challenge);
    static const char no_code[CERTA_CODE_DIGITS];
    certa_event qr = fx_grant(2, 1, 1, 2, 101, ID, T, T + FX_DAY_MS, 1, CERTA_METHOD_QR);
    certa_code_commit_sealed(challenge, no_code, qr.code_commit);
    certa_event qr_redeem = fx_redeem(2, 1, 2, 101, CERTA_LT_ID_CARD, false, false);
    certa_code_proof(challenge, no_code, qr_redeem.code_proof);
    certa_event qr_guess = qr_redeem;
    qr_guess.code_proof[0] ^= 1;
    const step steps[] = {
        {"grant g1 code", FX_APP, fx_grant_sealed(fx_grant(1, 1, 1, 0, 101, ID, T, T + FX_DAY_MS, 1, CERTA_METHOD_CODE), 1), CERTA_R_OK},
        {"redeem in the clear", FX_COUNTER_C1, clear, CERTA_R_CODE_UNSEALED},
        {"wrong proof 1", FX_COUNTER_C1, fx_sealed(fx_redeem(1, 1, 1, 101, CERTA_LT_ID_CARD, true, false)), CERTA_R_CODE_MISMATCH},
        {"right proof", FX_COUNTER_C1, fx_sealed(fx_redeem(1, 1, 1, 101, CERTA_LT_ID_CARD, true, true)), CERTA_R_OK},
        {"a QR grant for any counter", FX_APP, qr_any, CERTA_R_SCOPE_COUNTER},
        {"a QR grant for counter 2", FX_APP, qr, CERTA_R_OK},
        {"QR redeem at counter 1", FX_COUNTER_C1, fx_redeem(2, 1, 1, 101, CERTA_LT_ID_CARD, false, false), CERTA_R_SCOPE_COUNTER},
        {"QR redeem without the proof", FX_COUNTER_C1, fx_redeem(2, 1, 2, 101, CERTA_LT_ID_CARD, false, false), CERTA_R_CODE_UNSEALED},
        {"QR redeem guessing", FX_COUNTER_C1, qr_guess, CERTA_R_CODE_MISMATCH},
        {"QR redeem with the challenge's proof", FX_COUNTER_C1, qr_redeem, CERTA_R_OK},
    };
    run(s, steps, N(steps));
    certa_state_end_block(s, root);
    certa_grant_info gi;
    uint8_t id[CERTA_GRANT_ID_BYTES];
    fx_grant_id(1, id);
    cr_assert_eq(certa_state_grant(s, id, &gi), CERTA_OK);
    cr_assert_eq(gi.failed_attempts, 1, "the clear redeem spent no attempt");
    fx_grant_id(2, id);
    cr_assert_eq(certa_state_grant(s, id, &gi), CERTA_OK);
    cr_assert_eq(gi.failed_attempts, 1);
    cr_assert_eq(gi.uses, 1);
    certa_state_free(s);
}

Test(state, statuses_over_time)
{
    certa_state *s = new_state(1);
    const uint64_t T = FX_T0, D = FX_DAY_MS;
    cr_assert_eq(certa_state_begin_block(s, 1, T, NULL), CERTA_OK);
    certa_event g = fx_grant(1, 1, 1, 0, 101, ID, T + D, T + 2 * D, 1, CERTA_METHOD_CODE);
    cr_assert_eq(certa_state_apply(s, FX_APP, &g), CERTA_R_OK);
    uint8_t root[32], id[16];
    certa_state_end_block(s, root);
    certa_grant_info gi;
    fx_grant_id(1, id);
    cr_assert_eq(certa_state_grant(s, id, &gi), CERTA_OK);
    cr_assert_eq(gi.status, CERTA_GS_NOT_YET_VALID);
    cr_assert_eq(certa_state_begin_block(s, 2, T + D, NULL), CERTA_OK);
    certa_state_end_block(s, root);
    cr_assert_eq(certa_state_grant(s, id, &gi), CERTA_OK);
    cr_assert_eq(gi.status, CERTA_GS_ACTIVE);
    /* not_after is exclusive */
    cr_assert_eq(certa_state_begin_block(s, 3, T + 2 * D, NULL), CERTA_OK);
    certa_event r = fx_redeem(1, 1, 1, 101, CERTA_LT_ID_CARD, true, true);
    cr_assert_eq(certa_state_apply(s, FX_COUNTER_C1, &r), CERTA_R_EXPIRED);
    certa_state_end_block(s, root);
    cr_assert_eq(certa_state_grant(s, id, &gi), CERTA_OK);
    cr_assert_eq(gi.status, CERTA_GS_EXPIRED);
    certa_state_free(s);
}

/* ---- queries ---- */

/* Holder 1's records over `blocks` blocks, paged `limit` at a time. With
 * more blocks than a cold group holds (64), the pages cross the records
 * already in LMDB, the group the cold writer has and the one being staged;
 * after a flush, everything is in LMDB. */
static void holder_records_paged_over(uint64_t blocks, uint32_t limit, bool flush)
{
    certa_state *s = new_state(1);
    const uint64_t T = FX_T0, D = FX_DAY_MS;
    uint64_t want_seq[400];
    unsigned want_n = 0;
    uint64_t seq = 0;
    cr_assert(2 * blocks <= 400);
    for (uint64_t b = 1; b <= blocks; b++) {
        cr_assert_eq(certa_state_begin_block(s, b, T + b * 1000, NULL), CERTA_OK);
        /* holder 1's grant, then someone else's, then a use of holder 1's */
        certa_event g = fx_grant((uint32_t)b, 1, 1, 0, 101, ID, T, T + D, 1, CERTA_METHOD_DIRECT);
        certa_event o = fx_grant((uint32_t)(1000 + b), 2, 1, 0, 101, ID, T, T + D, 1, CERTA_METHOD_DIRECT);
        certa_event r = fx_redeem((uint32_t)b, 1, 1, 101, CERTA_LT_ID_CARD, false, false);
        cr_assert_eq(certa_state_apply(s, FX_APP, &g), CERTA_R_OK);
        want_seq[want_n++] = seq++;
        cr_assert_eq(certa_state_apply(s, FX_APP, &o), CERTA_R_OK);
        seq++;
        cr_assert_eq(certa_state_apply(s, FX_COUNTER_C1, &r), CERTA_R_OK);
        want_seq[want_n++] = seq++;
        uint8_t root[32];
        certa_state_end_block(s, root);
    }
    certa_errinfo ei;
    if (flush)
        cr_assert_eq(certa_state_cold_flush(s, &ei), CERTA_OK);
    uint8_t h[32];
    fx_holder_id(1, h);
    certa_record page[16];
    cr_assert(limit <= 16);
    uint64_t cursor = 0;
    unsigned got = 0;
    do {
        uint32_t n = 0;
        uint64_t next = 0;
        cr_assert_eq(certa_state_holder_records(s, h, cursor, limit, page, &n, &next), CERTA_OK);
        cr_assert(n > 0);
        for (uint32_t i = 0; i < n; i++, got++) {
            cr_assert_eq(page[i].seq, want_seq[got]);
            cr_assert_eq(page[i].kind, got % 2 == 0 ? CERTA_EV_GRANT : CERTA_EV_REDEEM);
            cr_assert_eq(page[i].time_ms, T + (uint64_t)(got / 2 + 1) * 1000);
            cr_assert_eq(page[i].result, CERTA_R_OK);
            cr_assert_eq(page[i].matter, 101);
            cr_assert_eq(page[i].centre, 1);
            cr_assert_eq(page[i].licence_types, ID);
            cr_assert(page[i].has_grant);
        }
        cursor = next;
    } while (cursor != 0);
    cr_assert_eq(got, want_n);

    /* a cursor from another holder's list is refused */
    uint32_t n = 0;
    uint64_t next = 0;
    cr_assert_eq(certa_state_holder_records(s, h, 2 /* seq 1: holder 2 */, 3, page, &n, &next),
                 CERTA_E_ARG);
    uint8_t nobody[32];
    fx_holder_id(55, nobody);
    cr_assert_eq(certa_state_holder_records(s, nobody, 0, 3, page, &n, &next), CERTA_E_NOTFOUND);

    /* grant history: grant then redeem */
    uint8_t gid[16];
    fx_grant_id(4, gid);
    cr_assert_eq(certa_state_grant_history(s, gid, 0, 3, page, &n, &next), CERTA_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(next, 0);
    cr_assert_eq(page[0].kind, CERTA_EV_GRANT);
    cr_assert_eq(page[1].kind, CERTA_EV_REDEEM);
    cr_assert_eq(memcmp(page[1].grant_id, gid, 16), 0);
    certa_state_free(s);
}

Test(state, holder_records_paged) { holder_records_paged_over(10, 3, false); }

Test(state, holder_records_paged_across_cold_groups)
{
    holder_records_paged_over(150, 3, false);
    holder_records_paged_over(150, 7, false);
    holder_records_paged_over(150, 16, true);
}

/* ---- results root ---- */

static void ref_mth(const uint8_t (*leaves)[2], uint32_t n, uint8_t out[32])
{
    if (n == 0) {
        certa_sha256("", 0, out);
        return;
    }
    if (n == 1) {
        uint8_t b[3] = {0, leaves[0][0], leaves[0][1]};
        certa_sha256(b, 3, out);
        return;
    }
    uint32_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t b[65];
    b[0] = 1;
    ref_mth(leaves, k, b + 1);
    ref_mth(leaves + k, n - k, b + 33);
    certa_sha256(b, 65, out);
}

Test(state, results_root_is_rfc6962)
{
    certa_state *s = new_state(1);
    uint64_t st = 7;
    uint8_t (*leaves)[2] = malloc(300 * 2);
    for (uint32_t n = 0; n <= 300; n += (n < 20 ? 1 : 37)) {
        cr_assert_eq(certa_state_begin_block(s, certa_state_height(s) + 1, FX_T0 + n, NULL), CERTA_OK);
        for (uint32_t i = 0; i < n; i++) {
            uint16_t integ;
            certa_event ev = fx_random_event(&st, FX_T0, 32, &integ);
            if (i == 1)
                ev.kind = 9; /* an unknown kind: malformed, still a leaf */
            certa_result r = certa_state_apply(s, integ, &ev);
            certa_result_leaf(ev.kind, (uint8_t)r, leaves[i]);
        }
        uint32_t cnt = 0;
        const uint8_t *res = certa_state_block_results(s, &cnt);
        cr_assert_eq(cnt, n);
        for (uint32_t i = 0; i < n; i++)
            cr_assert_eq(res[i], leaves[i][0]);
        uint8_t root[32], want[32];
        certa_state_end_block(s, root);
        ref_mth((const uint8_t(*)[2])leaves, n, want);
        cr_assert_eq(memcmp(root, want, 32), 0, "root differs at n=%u", n);
    }
    free(leaves);
    certa_state_free(s);
}

/* ---- replicas ---- */

typedef struct replica {
    certa_state *s;
    uint32_t threads;
} replica;

static void block_on(replica *r, uint64_t height, uint64_t t, const certa_event *evs,
                     const uint16_t *integ, uint32_t n, uint8_t *results, uint8_t root[32])
{
    cr_assert_eq(certa_state_begin_block(r->s, height, t, NULL), CERTA_OK);
    for (uint32_t i = 0; i < n; i++)
        results[i] = (uint8_t)certa_state_apply(r->s, integ[i], &evs[i]);
    certa_state_end_block(r->s, root);
}

static void compare_queries(certa_state *a, certa_state *b, uint32_t grant_space)
{
    certa_record pa[16], pb[16];
    for (uint32_t h = 0; h < 8; h++) {
        uint8_t hid[32];
        fx_holder_id(h, hid);
        uint64_t ca = 0, cb = 0;
        do {
            uint32_t na = 0, nb = 0;
            certa_err ea = certa_state_holder_records(a, hid, ca, 16, pa, &na, &ca);
            certa_err eb = certa_state_holder_records(b, hid, cb, 16, pb, &nb, &cb);
            cr_assert_eq(ea, eb);
            cr_assert_eq(na, nb);
            cr_assert_eq(ca, cb);
            cr_assert_eq(memcmp(pa, pb, na * sizeof pa[0]), 0);
        } while (ca != 0);
    }
    for (uint32_t g = 0; g < grant_space; g++) {
        uint8_t gid[16];
        fx_grant_id(g, gid);
        certa_grant_info ia, ib;
        certa_err ea = certa_state_grant(a, gid, &ia);
        cr_assert_eq(ea, certa_state_grant(b, gid, &ib));
        if (ea == CERTA_OK)
            cr_assert_eq(memcmp(&ia, &ib, sizeof ia), 0);
    }
}

Test(state, replicas_agree_with_snapshot_and_threads)
{
    enum { BLOCKS = 60, PER_BLOCK = 150, GRANT_SPACE = 100 };
    replica reps[3] = {{NULL, 1}, {NULL, 2}, {NULL, 8}};
    /* replica 1 keeps its cold store in a directory of its own: the
     * restart below reopens it, as a validator's data directory */
    char cold1[] = "/tmp/certa-test-cold-XXXXXX";
    cr_assert_not_null(mkdtemp(cold1));
    for (int i = 0; i < 3; i++)
        reps[i].s = i == 1 ? new_state_in(reps[i].threads, cold1) : new_state(reps[i].threads);
    char path[] = "/tmp/certa-test-state-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);

    uint64_t st = 12345, t = FX_T0;
    certa_event evs[PER_BLOCK];
    uint16_t integ[PER_BLOCK];
    unsigned seen[CERTA_R_COUNT] = {0};
    for (uint64_t b = 1; b <= BLOCKS; b++) {
        t += fx_rand(&st) % (FX_DAY_MS / 4);
        for (uint32_t i = 0; i < PER_BLOCK; i++)
            evs[i] = fx_random_event(&st, t, GRANT_SPACE, &integ[i]);
        uint8_t res[3][PER_BLOCK], root[3][32];
        for (int i = 0; i < 3; i++)
            block_on(&reps[i], b, t, evs, integ, PER_BLOCK, res[i], root[i]);
        for (int i = 1; i < 3; i++) {
            cr_assert_eq(memcmp(res[0], res[i], PER_BLOCK), 0, "results differ at block %llu",
                         (unsigned long long)b);
            cr_assert_eq(memcmp(root[0], root[i], 32), 0);
        }
        for (uint32_t i = 0; i < PER_BLOCK; i++)
            seen[res[0][i]]++;
        /* replica 0 digests every block, the others only now and then: the
         * incremental digest must not depend on when it was taken */
        uint8_t d[3][32];
        certa_state_digest(reps[0].s, d[0]);
        if (b % 7 == 0 || b == BLOCKS) {
            certa_state_digest(reps[1].s, d[1]);
            certa_state_digest(reps[2].s, d[2]);
            cr_assert_eq(memcmp(d[0], d[1], 32), 0, "digest differs at block %llu",
                         (unsigned long long)b);
            cr_assert_eq(memcmp(d[0], d[2], 32), 0);
        }
        if (b == BLOCKS / 2) {
            /* replica 1 stops, restarts from its snapshot */
            cr_assert_eq(certa_state_snapshot_save(reps[1].s, path, NULL), CERTA_OK);
            certa_state_free(reps[1].s);
            reps[1].s = new_state_in(reps[1].threads, cold1);
            cr_assert_eq(certa_state_snapshot_load(reps[1].s, path, NULL), CERTA_OK);
            cr_assert_eq(certa_state_height(reps[1].s), b);
            uint8_t d1[32];
            certa_state_digest(reps[1].s, d1);
            cr_assert_eq(memcmp(d[0], d1, 32), 0, "digest differs after restore");
        }
    }
    compare_queries(reps[0].s, reps[1].s, 3000);
    compare_queries(reps[0].s, reps[2].s, 3000);
    /* the stream must exercise both outcomes broadly */
    for (unsigned r = 0; r < CERTA_R_COUNT; r++)
        cr_log_info("%s %u", certa_result_name(r), seen[r]);
    cr_assert(seen[CERTA_R_OK] > 1000, "only %u ok", seen[CERTA_R_OK]);
    unsigned reasons = 0;
    for (unsigned r = 1; r < CERTA_R_COUNT; r++)
        reasons += seen[r] > 0;
    cr_assert(reasons >= 12, "only %u reasons in the random stream", reasons);
    /* the stream outlived many grants: the rules read archived ones */
    certa_state_cold_info ci;
    certa_state_cold(reps[1].s, &ci);
    cr_assert(ci.archived > 100, "only %llu grants archived", (unsigned long long)ci.archived);
    cr_assert_eq(ci.height, BLOCKS);
    unlink(path);
    for (int i = 0; i < 3; i++)
        certa_state_free(reps[i].s);
    rm_rf(cold1);
}

Test(state, digest_changes_with_state)
{
    certa_state *a = new_state(1), *b = new_state(1);
    uint8_t da[32], db[32], root[32];
    certa_state_digest(a, da);
    certa_state_digest(b, db);
    cr_assert_eq(memcmp(da, db, 32), 0);
    certa_event g = fx_grant(1, 1, 1, 0, 101, ID, FX_T0, FX_T0 + FX_DAY_MS, 2, CERTA_METHOD_CODE);
    certa_event w = fx_redeem(1, 1, 1, 101, CERTA_LT_ID_CARD, true, false);
    certa_state_begin_block(a, 1, FX_T0 + 1, NULL);
    certa_state_begin_block(b, 1, FX_T0 + 1, NULL);
    certa_state_apply(a, FX_APP, &g);
    certa_state_apply(b, FX_APP, &g);
    certa_state_end_block(a, root);
    certa_state_end_block(b, root);
    certa_state_digest(a, da);
    certa_state_digest(b, db);
    cr_assert_eq(memcmp(da, db, 32), 0);
    /* one wrong code on a only: the failed-attempt count is state */
    certa_state_begin_block(a, 2, FX_T0 + 2, NULL);
    certa_state_begin_block(b, 2, FX_T0 + 2, NULL);
    cr_assert_eq(certa_state_apply(a, FX_COUNTER_C1, &w), CERTA_R_CODE_MISMATCH);
    certa_state_apply_malformed(b, FX_COUNTER_C1);
    certa_state_end_block(a, root);
    certa_state_end_block(b, root);
    certa_state_digest(a, da);
    certa_state_digest(b, db);
    cr_assert_neq(memcmp(da, db, 32), 0);
    certa_state_free(a);
    certa_state_free(b);
}

/* Prefetch hints read only: a state given hints for every event (known
 * grants and unknown ones, both stages) ends with the same results root and
 * digest as one given none. */
Test(state, prefetch_changes_nothing)
{
    certa_state *a = new_state(1), *b = new_state(1);
    uint8_t ra[32], rb[32], da[32], db[32];
    for (uint64_t blk = 1; blk <= 2; blk++) {
        certa_state_begin_block(a, blk, FX_T0 + blk, NULL);
        certa_state_begin_block(b, blk, FX_T0 + blk, NULL);
        for (uint32_t i = 0; i < 3000; i++) {
            uint32_t gid = blk == 1 ? i : (i * 7919u) % 4000u; /* some unknown */
            certa_event ev = blk == 1
                ? fx_grant(gid, gid % 700, 1, 0, 101, ID, FX_T0, FX_T0 + FX_DAY_MS, 2,
                           CERTA_METHOD_CODE)
                : fx_redeem(gid, 1, 1, 101, CERTA_LT_ID_CARD, true, i % 3 != 0);
            uint16_t who = blk == 1 ? FX_APP : FX_COUNTER_C1;
            certa_state_prefetch(b, &ev, 0);
            certa_state_prefetch(b, &ev, 1);
            certa_state_prefetch(b, &ev, 2);
            cr_assert_eq(certa_state_apply(a, who, &ev), certa_state_apply(b, who, &ev));
        }
        certa_state_end_block(a, ra);
        certa_state_end_block(b, rb);
        cr_assert_eq(memcmp(ra, rb, 32), 0);
    }
    certa_state_digest(a, da);
    certa_state_digest(b, db);
    cr_assert_eq(memcmp(da, db, 32), 0);
    certa_state_free(a);
    certa_state_free(b);
}

/* ---- damaged snapshots ---- */

static void flip_byte(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    cr_assert_eq(fseek(f, off, off < 0 ? SEEK_END : SEEK_SET), 0);
    int c = fgetc(f);
    fseek(f, -1, SEEK_CUR);
    fputc(c ^ 0x01, f);
    fclose(f);
}

Test(state, damaged_snapshots_refused)
{
    char cold[] = "/tmp/certa-test-cold-XXXXXX";
    cr_assert_not_null(mkdtemp(cold));
    certa_state *s = new_state_in(1, cold);
    uint64_t st = 99;
    uint8_t root[32];
    for (uint64_t b = 1; b <= 5; b++) {
        certa_state_begin_block(s, b, FX_T0 + b, NULL);
        for (int i = 0; i < 50; i++) {
            uint16_t integ;
            certa_event ev = fx_random_event(&st, FX_T0, 40, &integ);
            certa_state_apply(s, integ, &ev);
        }
        certa_state_end_block(s, root);
    }
    char path[] = "/tmp/certa-test-snap-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    cr_assert_eq(certa_state_snapshot_save(s, path, NULL), CERTA_OK);
    uint8_t want[32];
    certa_state_digest(s, want);
    /* the loads below reopen the same cold store (one open at a time) */
    char pristine[300];
    snprintf(pristine, sizeof pristine, "%s.pristine", path);
    cr_assert_eq(certa_state_snapshot_save(s, pristine, NULL), CERTA_OK);
    certa_state_free(s);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", pristine, path);

    long offsets[] = {0, 9, 200, -40, -1};
    for (size_t i = 0; i < N(offsets); i++) {
        cr_assert_eq(system(cmd), 0);
        flip_byte(path, offsets[i]);
        certa_state *t = new_state_in(1, cold);
        certa_errinfo ei;
        cr_assert_eq(certa_state_snapshot_load(t, path, &ei), CERTA_E_SNAPSHOT,
                     "flip at %ld accepted", offsets[i]);
        cr_assert_eq(certa_state_height(t), 0);
        certa_state_free(t);
    }
    /* truncated */
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(truncate(path, 100), 0);
    certa_state *t = new_state_in(1, cold);
    cr_assert_eq(certa_state_snapshot_load(t, path, NULL), CERTA_E_SNAPSHOT);
    /* another genesis */
    cr_assert_eq(system(cmd), 0);
    fx.g.hash[0] ^= 1;
    cr_assert_eq(certa_state_snapshot_load(t, path, NULL), CERTA_E_SNAPSHOT);
    fx.g.hash[0] ^= 1;
    /* intact */
    cr_assert_eq(certa_state_snapshot_load(t, path, NULL), CERTA_OK);
    uint8_t got[32];
    certa_state_digest(t, got);
    cr_assert_eq(memcmp(got, want, 32), 0);
    cr_assert_eq(certa_state_snapshot_load(t, "/nonexistent/snap", NULL), CERTA_E_NOTFOUND);
    certa_state_free(t);
    /* intact, but the cold store it names is gone: refused, not trusted */
    rm_rf(cold);
    t = new_state_in(1, cold);
    certa_errinfo ei;
    cr_assert_eq(certa_state_snapshot_load(t, path, &ei), CERTA_E_SNAPSHOT);
    cr_assert(strstr(certa_errmsg(&ei), "cold store") != NULL, "%s", certa_errmsg(&ei));
    certa_state_free(t);
    unlink(path);
    unlink(pristine);
    rm_rf(cold);
}

/* The cold store's commits are not fsynced: a copy of its files taken while
 * it is open is what the disk holds after a kill -9 (the page cache
 * survives) and, with another boot id in its marker, what a system crash
 * may have left. The first is trusted at its last commit (the blocks of
 * the group still open are lost, for the replay), the second rebuilt. */
static void copy_cold(const char *from, const char *to, const char *boot)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s/data.mdb' '%s/unsynced' '%s/'", to, from,
             from, to);
    cr_assert_eq(system(cmd), 0);
    if (boot != NULL) {
        snprintf(cmd, sizeof cmd, "%s/unsynced", to);
        FILE *f = fopen(cmd, "w");
        cr_assert_not_null(f);
        fprintf(f, "%s\n", boot);
        cr_assert_eq(fclose(f), 0);
    }
}

static bool cold_marked(const char *dir)
{
    char p[300];
    snprintf(p, sizeof p, "%s/unsynced", dir);
    return access(p, F_OK) == 0;
}

Test(state, cold_store_after_kill_and_system_crash)
{
    char cold[] = "/tmp/certa-test-cold-XXXXXX", killed[64], crashed[64];
    cr_assert_not_null(mkdtemp(cold));
    snprintf(killed, sizeof killed, "%s.killed", cold);
    snprintf(crashed, sizeof crashed, "%s.crashed", cold);
    certa_state *s = new_state_in(1, cold);
    cr_assert(cold_marked(cold), "no unsynced marker while open");
    uint64_t st = 5, events4 = 0;
    uint8_t root[32];
    char snap[100];
    snprintf(snap, sizeof snap, "%s.snap", cold);
    certa_state_cold_info ci;
    for (uint64_t b = 1; b <= 6; b++) {
        certa_state_begin_block(s, b, FX_T0 + b * FX_DAY_MS, NULL);
        for (int i = 0; i < 80; i++) {
            uint16_t integ;
            certa_event ev = fx_random_event(&st, FX_T0 + b * FX_DAY_MS, 40, &integ);
            certa_state_apply(s, integ, &ev);
        }
        certa_state_end_block(s, root);
        if (b == 4) {
            /* a snapshot commits the open group: the store at height 4 */
            cr_assert_eq(certa_state_snapshot_save(s, snap, NULL), CERTA_OK);
            certa_state_cold(s, &ci);
            cr_assert_eq(ci.committed_height, 4);
            events4 = ci.events;
        }
    }
    copy_cold(cold, killed, NULL);
    copy_cold(cold, crashed, "00000000-0000-0000-0000-000000000000");
    certa_state_cold(s, &ci);
    cr_assert_eq(ci.height, 6);
    cr_assert_eq(ci.committed_height, 4, "6 blocks of 80 events made a group of their own");
    certa_state_free(s);
    cr_assert(!cold_marked(cold), "the marker outlived a clean close");

    certa_state *k = new_state_in(1, killed);
    certa_state_cold(k, &ci);
    cr_assert(!ci.rebuilt, "a killed process's store rebuilt: %s", ci.rebuilt_why);
    cr_assert_eq(ci.height, 4);
    cr_assert_eq(ci.events, events4);
    certa_state_free(k);

    certa_state *c = new_state_in(1, crashed);
    certa_state_cold(c, &ci);
    cr_assert(ci.rebuilt, "a store left unflushed by another boot was trusted");
    cr_assert(strstr(ci.rebuilt_why, "unflushed") != NULL, "%s", ci.rebuilt_why);
    cr_assert_eq(ci.height, 0);
    cr_assert_eq(ci.events, 0);
    cr_assert(cold_marked(crashed));
    certa_state_free(c);
    unlink(snap);
    rm_rf(cold);
    rm_rf(killed);
    rm_rf(crashed);
}

Test(state, names)
{
    for (unsigned r = 0; r < CERTA_R_COUNT; r++) {
        cr_assert_not_null(certa_result_name(r));
        cr_assert_eq(certa_result_parse(certa_result_name(r)), (int)r);
    }
    cr_assert_null(certa_result_name(CERTA_R_COUNT));
    cr_assert_eq(certa_result_parse("nope"), -1);
    cr_assert_str_eq(certa_result_name(CERTA_R_LICENCE_TYPE_NOT_ALLOWED), "licence_type_not_allowed");
}

/* Many grants changed between digests: the hashing pool splits the chunks
 * (more than its threshold), and 1, 2 and 8 threads agree. */
Test(state, digest_threads_on_many_chunks)
{
    const uint32_t threads[3] = {1, 2, 8};
    uint8_t d[3][3][32];
    for (int k = 0; k < 3; k++) {
        certa_state *s = new_state(threads[k]);
        uint8_t root[32];
        for (uint64_t b = 1; b <= 3; b++) {
            cr_assert_eq(certa_state_begin_block(s, b, FX_T0 + b, NULL), CERTA_OK);
            for (uint32_t i = 0; i < 4000; i++) {
                /* block 1 creates grants 0..3999; later blocks use some */
                uint32_t gid = b == 1 ? i : (i * 7919u) % 4000u;
                certa_event ev = b == 1
                    ? fx_grant(gid, gid % 500, 1, 0, 101, ID, FX_T0, FX_T0 + FX_DAY_MS, 2,
                               CERTA_METHOD_CODE)
                    : fx_redeem(gid, 1, 1, 101, CERTA_LT_ID_CARD, true, (i + b) % 3 != 0);
                certa_state_apply(s, b == 1 ? FX_APP : FX_COUNTER_C1, &ev);
            }
            certa_state_end_block(s, root);
            certa_state_digest(s, d[k][b - 1]);
        }
        certa_state_free(s);
    }
    for (int b = 0; b < 3; b++) {
        cr_assert_eq(memcmp(d[0][b], d[1][b], 32), 0, "2 threads differ at block %d", b + 1);
        cr_assert_eq(memcmp(d[0][b], d[2][b], 32), 0, "8 threads differ at block %d", b + 1);
    }
    cr_assert_neq(memcmp(d[0][0], d[0][1], 32), 0);
}

/* A batch carried again after it executed: each of its events is recorded
 * as replayed, in the results and the results root, and changes no grant. */
Test(state, replayed_events_are_recorded_and_change_nothing)
{
    certa_state *s = new_state(1);
    uint8_t before[CERTA_HASH_BYTES];
    cr_assert_eq(certa_state_begin_block(s, 1, 1700000000000ull, NULL), CERTA_OK);
    uint64_t events = certa_state_event_count(s);
    uint32_t grants = certa_state_grant_count(s);
    cr_assert_eq(certa_state_apply_replayed(s, 0), CERTA_R_REPLAYED);
    cr_assert_eq(certa_state_apply_replayed(s, 0), CERTA_R_REPLAYED);
    cr_assert_eq(certa_state_apply_too_old(s, 0), CERTA_R_TOO_OLD);
    uint32_t n = 0;
    const uint8_t *res = certa_state_block_results(s, &n);
    cr_assert_eq(n, 3);
    cr_assert_eq(res[0], CERTA_R_REPLAYED);
    cr_assert_eq(res[1], CERTA_R_REPLAYED);
    cr_assert_eq(res[2], CERTA_R_TOO_OLD);
    cr_assert_eq(certa_state_event_count(s), events + 3);
    uint8_t r0 = 0xff;
    cr_assert(certa_state_event_result(s, events + 2, &r0));
    cr_assert_eq(r0, CERTA_R_TOO_OLD);
    cr_assert_not(certa_state_event_result(s, events + 3, &r0));
    cr_assert_eq(certa_state_grant_count(s), grants);
    certa_state_end_block(s, before);
    uint8_t empty[CERTA_HASH_BYTES];
    certa_sha256("", 0, empty);
    cr_assert_neq(memcmp(before, empty, CERTA_HASH_BYTES), 0, "results root covers them");
    cr_assert_str_eq(certa_result_name(CERTA_R_REPLAYED), "replayed");
    cr_assert_eq(certa_result_parse("replayed"), CERTA_R_REPLAYED);
    cr_assert_str_eq(certa_result_name(CERTA_R_TOO_OLD), "too_old");
    certa_state_free(s);
}
