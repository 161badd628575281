/* Unit tests for engine/ledger.c: admission (decoding, integrator,
 * signature through the verify callback), replay verdicts and what they do
 * to execution, the LAG rule of build/validate/can_propose, null blocks,
 * and the planted bugs the simulator relies on. Blocks are REC_BLOCK
 * records as the core delivers them, over the state fixture's genesis. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "ledger_mut.h"
#include "certa/wire.h"
#include "pbft_msg.h"
#include "../state_fixture.h"

#define GOOD_SIG 0xab

static bool fake_verify(void *ctx, const certa_pubkey *key, uint16_t integrator,
                        const uint8_t digest[CERTA_HASH_BYTES],
                        const uint8_t sig[CERTA_SIGNATURE_BYTES])
{
    (void)ctx;
    (void)key;
    (void)integrator;
    (void)digest;
    return sig[0] == GOOD_SIG;
}

static fx_genesis fx;
static uint64_t grant_not_after_ms = FX_T0 + FX_DAY_MS;

static certa_ledger *make(int mutation)
{
    fx_genesis_init(&fx);
    fx.g.params.replay_horizon_batches = CERTA_REPLAY_HORIZON_BATCHES_MIN;
    fx.g.params.replay_horizon_ms = 3600u * 1000u;
    certa_ledger_params p = {.g = &fx.g, .verify = fake_verify, .mutation = mutation};
    certa_ledger *l = NULL;
    cr_assert_eq(certa_ledger_create(&p, &l, NULL), CERTA_OK);
    return l;
}

/* A batch of one grant (grant number gid) by the app, signed or not. */
static size_t batch(uint64_t seq, uint32_t gid, uint8_t sig0, uint8_t *out, size_t cap)
{
    certa_batch_builder bb;
    certa_batch_begin(&bb, out, cap, FX_APP, seq);
    certa_event ev = fx_grant(gid, gid, 1, 1, 101, FX_LT(CERTA_LT_ID_CARD), FX_T0,
                              grant_not_after_ms, 1, CERTA_METHOD_DIRECT);
    cr_assert_eq(certa_batch_add(&bb, &ev, NULL), CERTA_OK);
    uint8_t digest[CERTA_HASH_BYTES], sig[CERTA_SIGNATURE_BYTES] = {sig0};
    certa_batch_digest(&bb, digest);
    size_t n = certa_batch_seal(&bb, sig);
    cr_assert_gt(n, 0);
    return n;
}

/* A REC_BLOCK record of height h holding app batches (seq, grant) pairs;
 * malloc'ed. */
static uint8_t *block(uint64_t h, const uint64_t *seqs, const uint32_t *gids, size_t n,
                      size_t *len)
{
    uint8_t *items[4];
    size_t lens[4];
    cr_assert_leq(n, 4);
    for (size_t i = 0; i < n; i++) {
        items[i] = malloc(10 + 4096);
        cr_assert_not_null(items[i]);
        certa_put_le16(items[i], FX_APP);
        certa_put_le64(items[i] + 2, seqs[i]);
        lens[i] = 10 + batch(seqs[i], gids[i], GOOD_SIG, items[i] + 10, 4096);
    }
    size_t ll = 0;
    uint8_t *list = certa_pbft_list_build((const uint8_t *const *)items, lens, n, &ll);
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_REC_BLOCK;
    m.hdr.height = h;
    m.hdr.timestamp_ms = FX_T0 + 1000 * h;
    m.hdr.batch_count = (uint32_t)n;
    m.hdr.event_count = (uint32_t)n;
    cr_assert(certa_pbft_list_parse(list, ll, &m.reqs));
    uint8_t *rec = certa_pbft_msg_encode(&m, len);
    cr_assert_not_null(rec);
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(list);
    return rec;
}

static certa_ledger_exec run(certa_ledger *l, uint64_t h, uint64_t seq, uint32_t gid)
{
    size_t len;
    uint8_t *rec = block(h, &seq, &gid, 1, &len);
    certa_ledger_exec x;
    certa_errinfo ei;
    cr_assert_eq(certa_ledger_execute(l, rec, len, &x, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    free(rec);
    return x;
}

Test(ledger, admission_is_one_check)
{
    certa_ledger *l = make(0);
    uint8_t b[4096];
    certa_batch_view v;
    size_t n = batch(1, 1, GOOD_SIG, b, sizeof b);
    cr_assert_eq(certa_ledger_check_batch(l, b, n, &v, NULL), CERTA_OK);
    certa_pbft_request q = {FX_APP, 1, b, n};
    cr_assert(certa_ledger_validate_request(l, &q));
    q.seq = 2; /* the request must be the batch's (integrator, seq) */
    cr_assert_not(certa_ledger_validate_request(l, &q));
    n = batch(1, 1, 0, b, sizeof b);
    cr_assert_eq(certa_ledger_check_batch(l, b, n, &v, NULL), CERTA_E_BAD_SIGNATURE);
    b[0] ^= 0xff; /* framing */
    cr_assert_neq(certa_ledger_check_batch(l, b, n, &v, NULL), CERTA_OK);
    certa_ledger_free(l);
}

Test(ledger, a_replayed_batch_is_not_executed_again)
{
    certa_ledger *l = make(0);
    cr_assert_not(certa_ledger_request_executed(l, FX_APP, 1));
    certa_ledger_exec x = run(l, 1, 1, 7);
    cr_assert_eq(x.result_count, 1);
    cr_assert_eq(x.results[0], CERTA_R_OK);
    cr_assert(certa_ledger_request_executed(l, FX_APP, 1));
    cr_assert_not(certa_ledger_request_executed(l, FX_APP, 2));
    x = run(l, 2, 1, 7);
    cr_assert_eq(x.results[0], CERTA_R_REPLAYED);
    certa_ledger_free(l);

    /* without the replay window the same chain grants twice */
    l = make(CERTA_LEDGER_MUT_SKIP_REPLAY);
    run(l, 1, 1, 7);
    cr_assert_not(certa_ledger_request_executed(l, FX_APP, 1));
    x = run(l, 2, 1, 7);
    cr_assert_eq(x.results[0], CERTA_R_DUPLICATE_GRANT);
    certa_ledger_free(l);
}

Test(ledger, blocks_are_judged_and_executed_in_height_order)
{
    certa_ledger *l = make(0);
    size_t len;
    uint64_t seq = 1;
    uint32_t gid = 1;
    uint8_t *rec = block(2, &seq, &gid, 1, &len);
    cr_assert_null(certa_ledger_judge(l, rec, len)); /* 2 does not follow 0 */
    certa_ledger_exec x;
    certa_errinfo ei;
    cr_assert_neq(certa_ledger_apply(l, rec, len, NULL, &x, &ei), CERTA_OK);
    cr_assert_eq(certa_ledger_executed(l), 0);
    free(rec);
    certa_ledger_free(l);
}

/* Header h carries the roots after h - LAG; a primary proposes h only once
 * h - LAG executed; a backup that executed h - LAG checks them. */
static void lag_rule(int mutation, uint64_t lag)
{
    certa_ledger *l = make(mutation);
    cr_assert(certa_ledger_can_propose(l, lag));
    cr_assert_not(certa_ledger_can_propose(l, lag + 1));
    certa_ledger_exec x1 = run(l, 1, 1, 1);
    cr_assert(certa_ledger_can_propose(l, lag + 1));
    cr_assert_not(certa_ledger_can_propose(l, lag + 2));
    uint8_t b[4096];
    size_t n = batch(2, 2, GOOD_SIG, b, sizeof b);
    certa_pbft_request q = {FX_APP, 2, b, n};
    certa_block_header h;
    memset(&h, 0, sizeof h);
    h.height = lag + 1;
    certa_ledger_build_block(l, &h, &q, 1);
    cr_assert_eq(h.batch_count, 1);
    cr_assert_eq(h.event_count, 1);
    cr_assert_arr_eq(h.prev_results_root, x1.results_root, CERTA_HASH_BYTES);
    cr_assert_arr_eq(h.state_digest, x1.state_digest, CERTA_HASH_BYTES);
    cr_assert(certa_ledger_validate_block(l, &h, &q, 1));
    certa_block_header bad = h;
    bad.state_digest[0] ^= 1;
    cr_assert_not(certa_ledger_validate_block(l, &bad, &q, 1));
    bad = h;
    bad.events_root[0] ^= 1;
    cr_assert_not(certa_ledger_validate_block(l, &bad, &q, 1));
    /* a null block of a view change carries nothing */
    certa_block_header null_hdr;
    memset(&null_hdr, 0, sizeof null_hdr);
    null_hdr.height = lag + 1;
    certa_ledger_build_block(l, &null_hdr, NULL, 0);
    cr_assert(certa_ledger_validate_block(l, &null_hdr, NULL, 0));
    null_hdr.state_digest[0] = 1;
    cr_assert_not(certa_ledger_validate_block(l, &null_hdr, NULL, 0));
    certa_ledger_free(l);
}

Test(ledger, headers_carry_the_roots_lag_blocks_back)
{
    lag_rule(0, CERTA_LEDGER_LAG);
}

Test(ledger, the_planted_lag_bug_uses_one_block_less)
{
    lag_rule(CERTA_LEDGER_MUT_LAG_OFF_BY_ONE, CERTA_LEDGER_LAG - 1);
}

/* Block 1's time is FX_T0 + 1 s: a grant valid until FX_T0 + 2 s is
 * accepted at the block's time and not 1.5 s later. */
Test(ledger, execution_depends_on_the_block_time_only)
{
    grant_not_after_ms = FX_T0 + 2000;
    certa_ledger *a = make(0), *b = make(0), *c = make(CERTA_LEDGER_MUT_LOCAL_TIME);
    certa_ledger_exec xa = run(a, 1, 1, 1), xb = run(b, 1, 1, 1), xc = run(c, 1, 1, 1);
    cr_assert_eq(xa.results[0], CERTA_R_OK);
    cr_assert_arr_eq(xa.state_digest, xb.state_digest, CERTA_HASH_BYTES);
    cr_assert_arr_eq(xa.results_root, xb.results_root, CERTA_HASH_BYTES);
    cr_assert_neq(xc.results[0], CERTA_R_OK);
    cr_assert_arr_neq(xa.results_root, xc.results_root, CERTA_HASH_BYTES);
    certa_ledger_free(a);
    certa_ledger_free(b);
    certa_ledger_free(c);
}
