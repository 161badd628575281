/* sim_app: the application the simulated replicas run (part of the
 * simulator, see sim_internal.h): the real ledger (engine/ledger.c) on the
 * real licence state, over a genesis generated from the seed, fed with
 * real signed event batches (grants, revokes, redeems with right and wrong
 * codes, referring to grants of other batches, so results depend on the
 * order) under fake signatures (a keyed 64-bit hash per integrator).
 *
 * Checkers of execution, run whenever a replica executes a block (it
 * executes as it delivers, so after every step):
 * - honest replicas that executed the same height have the same results
 *   root and state digest;
 * - header h (with batches, h > LAG) carries the results root and state
 *   digest this replica had after h - LAG (the LAG rule);
 * - a batch this replica executed before is answered replayed or too_old
 *   for every event, a batch it never executed never replayed (the replay
 *   window).
 * A restarted replica rebuilds its ledger by executing its durable blocks
 * again, as the daemon's recovery does.
 */
#include "sim_internal.h"

#include "certa/state.h"

/* ---------------------------------------------------------------- genesis */

void sim_genesis_init(sim *s)
{
    certa_genesis *g = &s->gen;
    memset(g, 0, sizeof *g);
    snprintf(g->chain_name, sizeof g->chain_name, "sim");
    g->genesis_time_ms = START_MS - 1000;
    memcpy(g->hash, s->chain_id, CERTA_HASH_BYTES);
    g->params.checkpoint_interval = s->o.checkpoint_interval;
    g->params.window_blocks = s->o.window;
    g->params.block_events_max = 4096;
    g->params.block_timeout_ms = 5;
    g->params.view_timeout_ms = VIEW_TIMEOUT_MS;
    g->params.clock_skew_ms_max = 1000;
    g->params.grant_window_ms_max = 30ull * 86400000ull;
    g->params.code_attempts_max = 3;
    g->params.rules = 2; /* the rules certa genesis writes */
    /* the replay horizon: bounded in the busy scenarios (as many batches as
     * the host horizon per integrator), else wider than the run */
    uint64_t batches = s->horizon ? (uint64_t)s->horizon * NINTEG : 2ull * s->o.requests;
    if (batches < CERTA_REPLAY_HORIZON_BATCHES_MIN)
        batches = CERTA_REPLAY_HORIZON_BATCHES_MIN;
    g->params.replay_horizon_batches = (uint32_t)batches;
    g->params.replay_horizon_ms = 3600ull * 1000u;
    /* integrators: 0 and 3 apps (grant, revoke), 1 and 2 the counters of
     * centres 1 and 2 (redeem) */
    static const struct { const char *name; uint8_t role; uint16_t centre; } ints[NINTEG] = {
        {"app", CERTA_ROLE_APP, 0},
        {"counter-c1", CERTA_ROLE_COUNTER, 1},
        {"counter-c2", CERTA_ROLE_COUNTER, 2},
        {"app-2", CERTA_ROLE_APP, 0},
    };
    for (unsigned i = 0; i < NINTEG; i++) {
        snprintf(s->g_integ[i].name, sizeof s->g_integ[i].name, "%s", ints[i].name);
        s->g_integ[i].role = ints[i].role;
        s->g_integ[i].centre = ints[i].centre;
        memcpy(s->g_integ[i].pub, &s->integ_keys[i], sizeof s->integ_keys[i]);
    }
    g->integrators = s->g_integ;
    g->integrator_count = NINTEG;
    s->g_bureau = (certa_bureau_info){.id = 1};
    snprintf(s->g_bureau.name, sizeof s->g_bureau.name, "bureau");
    g->bureaus = &s->g_bureau;
    g->bureau_count = 1;
    s->g_centres[0] = (certa_centre_info){.id = 1, .counters = 3};
    s->g_centres[1] = (certa_centre_info){.id = 2, .counters = 2};
    g->centres = s->g_centres;
    g->centre_count = 2;
    s->g_matter = (certa_matter_info){
        .id = 101, .bureau = 1,
        .licence_types = (1u << CERTA_LT_ID_CARD) | (1u << CERTA_LT_HOUSEHOLD_REGISTER)};
    g->matters = &s->g_matter;
    g->matter_count = 1;
}

/* ---------------------------------------------------------------- batches */

static void fake_batch_sig(const sim *s, uint16_t integ, const uint8_t digest[CERTA_HASH_BYTES],
                           uint8_t sig[CERTA_SIGNATURE_BYTES])
{
    memset(sig, 0, CERTA_SIGNATURE_BYTES);
    uint64_t h = h64(s->integ_keys[integ], digest, CERTA_HASH_BYTES);
    memcpy(sig, &h, 8);
}

static bool fake_batch_verify(void *ctx, const certa_pubkey *key, uint16_t integrator,
                              const uint8_t digest[CERTA_HASH_BYTES],
                              const uint8_t sig[CERTA_SIGNATURE_BYTES])
{
    const sim *s = ctx;
    (void)key; /* fake signatures: the key is the integrator's index */
    if (integrator >= NINTEG)
        return false;
    uint8_t want[CERTA_SIGNATURE_BYTES];
    fake_batch_sig(s, integrator, digest, want);
    return memcmp(want, sig, CERTA_SIGNATURE_BYTES) == 0;
}

/* Grant n's code and salt, from the seed. */
static void grant_secret(const sim *s, uint64_t n, char code[CERTA_CODE_DIGITS],
                         uint8_t salt[CERTA_SALT_BYTES])
{
    uint64_t h = h64(s->o.seed ^ 0x5eedc0deull, (const uint8_t *)&n, sizeof n);
    for (int i = 0; i < CERTA_CODE_DIGITS; i++)
        code[i] = (char)('0' + (h >> (4 * i)) % 10);
    memset(salt, (int)(h & 0xff), CERTA_SALT_BYTES);
}

static void grant_id(uint64_t n, uint8_t id[CERTA_GRANT_ID_BYTES])
{
    memset(id, 0x47, CERTA_GRANT_ID_BYTES);
    memcpy(id, &n, sizeof n);
}

/* The events of request idx (1 or 2), drawn from (seed, idx) alone so that
 * any replica or the checker regenerates them without the sim's stream:
 * an app grants (grant numbers 2 idx, 2 idx + 1) or revokes an older grant;
 * a counter redeems a grant of an app batch near it, mostly with the right
 * code, at its own centre (the grant's may differ: scope_centre). */
static uint32_t request_events(const sim *s, uint64_t idx, certa_event evs[2])
{
    uint16_t integ = (uint16_t)(idx % NINTEG);
    uint64_t r = h64(s->o.seed, (const uint8_t *)&idx, sizeof idx);
    uint32_t n = 1 + (uint32_t)(r & 1);
    for (uint32_t k = 0; k < n; k++) {
        certa_event *e = &evs[k];
        memset(e, 0, sizeof *e);
        uint64_t rk = r >> (8 + 16 * k);
        if (s->g_integ[integ].role == CERTA_ROLE_APP) {
            uint64_t gid = 2 * idx + k;
            if (k == 1 && idx >= 8 && (rk & 3) == 0) {
                e->kind = CERTA_EV_REVOKE;
                uint64_t old = idx - 2 * NINTEG; /* the same app's batch two rounds back */
                grant_id(2 * old, e->grant_id);
                memset(e->holder_id, 0x48, CERTA_HOLDER_ID_BYTES);
                memcpy(e->holder_id, &old, sizeof old);
                continue;
            }
            e->kind = CERTA_EV_GRANT;
            grant_id(gid, e->grant_id);
            memset(e->holder_id, 0x48, CERTA_HOLDER_ID_BYTES);
            memcpy(e->holder_id, &idx, sizeof idx);
            e->centre = (uint16_t)(1 + (rk & 1));
            e->counter = 1;
            e->matter = 101;
            e->licence_types = 1u << CERTA_LT_ID_CARD;
            e->not_before_ms = START_MS - 1000;
            /* a quarter expire during the run: time rules meet the faults */
            e->not_after_ms = (rk >> 2) & 3 ? START_MS + 86400000ull
                                            : START_MS + 1000 + (rk >> 4) % 6000;
            e->max_uses = (uint16_t)(1 + ((rk >> 1) & 1));
            e->method = CERTA_METHOD_CODE;
            char code[CERTA_CODE_DIGITS];
            uint8_t salt[CERTA_SALT_BYTES];
            grant_secret(s, gid, code, salt);
            certa_code_commit_sealed(salt, code, e->code_commit); /* rules 2 */
        } else {
            /* an app batch (index = 0 or 3 mod NINTEG) up to 12 back or ahead */
            uint64_t near = idx + (rk % 25);
            near = near >= 12 ? near - 12 : near;
            near = near - near % NINTEG + ((rk >> 5) & 1 ? 3 : 0);
            uint64_t gid = 2 * near + ((rk >> 6) & 1);
            e->kind = CERTA_EV_REDEEM;
            grant_id(gid, e->grant_id);
            e->centre = s->g_integ[integ].centre;
            e->counter = 1;
            e->matter = 101;
            char code[CERTA_CODE_DIGITS];
            uint8_t salt[CERTA_SALT_BYTES];
            grant_secret(s, gid, code, salt);
            if (((rk >> 7) & 7) == 0) /* a wrong code now and then */
                code[0] = code[0] == '9' ? '0' : (char)(code[0] + 1);
            certa_code_proof(salt, code, e->code_proof); /* sealed: rules 2 */
            e->licence_count = 1;
            memset(e->licences[0].id, 0x4c, CERTA_LICENCE_ID_BYTES);
            e->licences[0].type = CERTA_LT_ID_CARD;
            memset(e->licences[0].digest, 0x44, CERTA_HASH_BYTES);
        }
    }
    return n;
}

/* Request idx as its integrator signs it, built once per run. */
const uint8_t *sim_request(sim *s, uint64_t idx, size_t *len)
{
    CERTA_ASSERT(idx < s->o.requests);
    if (s->req_bytes[idx] == NULL) {
        uint16_t integ = (uint16_t)(idx % NINTEG);
        uint64_t seq = idx / NINTEG + 1;
        certa_event evs[2];
        uint32_t n = request_events(s, idx, evs);
        uint8_t buf[REQ_BYTES_MAX];
        certa_batch_builder bb;
        certa_batch_begin(&bb, buf, sizeof buf, integ, seq);
        for (uint32_t k = 0; k < n; k++) {
            certa_err e = certa_batch_add(&bb, &evs[k], NULL);
            CERTA_ASSERT(e == CERTA_OK);
        }
        uint8_t digest[CERTA_HASH_BYTES], sig[CERTA_SIGNATURE_BYTES];
        certa_batch_digest(&bb, digest);
        fake_batch_sig(s, integ, digest, sig);
        size_t bl = certa_batch_seal(&bb, sig);
        CERTA_ASSERT(bl > 0);
        s->req_bytes[idx] = malloc(bl);
        CERTA_ASSERT(s->req_bytes[idx] != NULL);
        memcpy(s->req_bytes[idx], buf, bl);
        s->req_len[idx] = bl;
    }
    *len = s->req_len[idx];
    return s->req_bytes[idx];
}

bool sim_req_genuine(sim *s, const certa_pbft_request *q)
{
    if (q->integrator >= NINTEG || q->seq == 0)
        return false;
    uint64_t idx = sim_req_index(q->integrator, q->seq);
    if (idx >= s->o.requests)
        return false;
    size_t len;
    const uint8_t *want = sim_request(s, idx, &len);
    return len == q->len && memcmp(want, q->bytes, len) == 0;
}

/* ---------------------------------------------------------------- callbacks */

static bool app_validate_request(void *ctx, const certa_pbft_request *q)
{
    rep *p = ctx;
    return certa_ledger_validate_request(p->L, q);
}

static bool app_executed(void *ctx, uint16_t integ, uint64_t seq)
{
    rep *p = ctx;
    return certa_ledger_request_executed(p->L, integ, seq);
}

static void app_build(void *ctx, const certa_block_header *parent, certa_block_header *hdr,
                      const certa_pbft_request *reqs, size_t n)
{
    rep *p = ctx;
    (void)parent;
    certa_ledger_build_block(p->L, hdr, reqs, n);
}

static bool app_validate_block(void *ctx, const certa_block_header *hdr,
                               const certa_pbft_request *reqs, size_t n)
{
    rep *p = ctx;
    return certa_ledger_validate_block(p->L, hdr, reqs, n);
}

/* The ledger's LAG gate; with parent_gate, a stricter host that proposes
 * h only once h - 1 executed. */
static bool app_can_propose(void *ctx, uint64_t height)
{
    rep *p = ctx;
    bool open = (!p->s->o.parent_gate || p->nblocks + 1 >= height) &&
                certa_ledger_can_propose(p->L, height);
    p->gate_closed |= !open; /* the host steps a TICK once it executed more */
    return open;
}

static void app_header_hash(void *ctx, const certa_block_header *hdr,
                            uint8_t out[CERTA_HASH_BYTES])
{
    (void)ctx;
    certa_header_hash(hdr, out);
}

static bool app_read_block(void *ctx, uint64_t height, const uint8_t **out, size_t *len)
{
    rep *p = ctx;
    if (height == 0 || height > p->nblocks)
        return false;
    *out = p->blocks[height - 1];
    *len = p->blens[height - 1];
    return true;
}

void sim_app_bind(rep *p, certa_pbft_app *app)
{
    *app = (certa_pbft_app){.ctx = p,
                            .validate_request = app_validate_request,
                            .request_executed = app_executed,
                            .build_block = app_build,
                            .validate_block = app_validate_block,
                            .can_propose = app_can_propose,
                            .header_hash = app_header_hash,
                            .read_block = app_read_block};
}

/* Request idx has its final answer at p: executed, or too old to tell. */
bool sim_settled(const rep *p, uint64_t idx)
{
    if (p->exec[idx])
        return true;
    return p->L != NULL &&
           certa_ledger_request_executed(p->L, (uint16_t)(idx % NINTEG), idx / NINTEG + 1);
}

uint64_t sim_unsettled(const sim *s, const rep *p)
{
    if (s->horizon == 0)
        return s->o.requests - p->executed;
    uint64_t k = 0;
    for (uint64_t i = 0; i < s->o.requests; i++)
        k += !sim_settled(p, i);
    return k;
}

/* ---------------------------------------------------------------- execution */

/* Remembers p's roots after height (its own history, for the LAG check). */
static void keep_roots(rep *p, uint64_t height, const certa_ledger_exec *x)
{
    if (height >= p->roots_cap) {
        size_t cap = p->roots_cap ? p->roots_cap * 2 : 256;
        while (cap <= height)
            cap *= 2;
        p->roots = realloc(p->roots, cap * sizeof *p->roots);
        CERTA_ASSERT(p->roots != NULL);
        p->roots_cap = cap;
    }
    memcpy(p->roots[height][0], x->results_root, CERTA_HASH_BYTES);
    memcpy(p->roots[height][1], x->state_digest, CERTA_HASH_BYTES);
}

void sim_ledger_start(sim *s, rep *p)
{
    certa_ledger_params lp = {.g = &s->gen,
                              .verify = fake_batch_verify,
                              .verify_ctx = s,
                              /* all but one replica: the last one shows what
                               * an unmutated ledger would do beside them */
                              .mutation = p->id + 1 < s->o.n ? s->o.ledger_mutation : 0};
    certa_errinfo ei;
    certa_err e = certa_ledger_create(&lp, &p->L, &ei);
    CERTA_ASSERT(e == CERTA_OK);
    /* recovery: the durable blocks again, in order */
    for (size_t i = 0; i < p->nblocks; i++) {
        certa_ledger_exec x;
        e = certa_ledger_execute(p->L, p->blocks[i], p->blens[i], &x, &ei);
        if (e != CERTA_OK) {
            sim_violation(s, "recovery: replica %u cannot execute its block %zu again: %s",
                          p->id, i + 1, certa_errmsg(&ei));
            return;
        }
        keep_roots(p, i + 1, &x);
    }
}

void sim_ledger_stop(rep *p)
{
    certa_ledger_free(p->L);
    p->L = NULL;
}

/* The replay answers of one executed block: the results of a batch p had
 * executed before (was_exec) are all replayed or too_old; of one it never
 * had, never replayed. */
static void check_replay_results(sim *s, rep *p, const certa_pbft_msg *m,
                                 const uint8_t *was_exec, const certa_ledger_exec *x)
{
    size_t pos = 0, nb = 0;
    uint32_t ev0 = 0;
    const uint8_t *it;
    size_t il;
    while (certa_pbft_list_next(&m->reqs, &pos, &it, &il)) {
        certa_pbft_request q;
        certa_batch_view v;
        if (!certa_pbft_request_item(it, il, &q) ||
            certa_batch_frame(q.bytes, q.len, &v, NULL) != CERTA_OK)
            return; /* validity reported it */
        for (uint32_t k = 0; k < v.event_count && ev0 + k < x->result_count; k++) {
            uint8_t r = x->results[ev0 + k];
            bool again = r == CERTA_R_REPLAYED || r == CERTA_R_TOO_OLD;
            if (was_exec[nb] && !again) {
                sim_violation(s, "replay: replica %u block %" PRIu64 " executed batch "
                              "(%u, %" PRIu64 ") again (result %s)", p->id, m->hdr.height,
                              q.integrator, q.seq, certa_result_name(r));
                return;
            }
            if (!was_exec[nb] && r == CERTA_R_REPLAYED) {
                sim_violation(s, "replay: replica %u block %" PRIu64 " called batch "
                              "(%u, %" PRIu64 ") replayed, never executed before", p->id,
                              m->hdr.height, q.integrator, q.seq);
                return;
            }
        }
        ev0 += v.event_count;
        nb++;
    }
}

void sim_ledger_execute(sim *s, rep *p, const certa_pbft_msg *m, const uint8_t *b,
                        size_t len, const uint8_t *was_exec)
{
    uint64_t h = m->hdr.height;
    /* the LAG rule, against this replica's own history */
    if (m->hdr.batch_count > 0 && h > CERTA_RESULTS_LAG_BLOCKS) {
        uint64_t at = h - CERTA_RESULTS_LAG_BLOCKS;
        CERTA_ASSERT(at < p->roots_cap);
        if (memcmp(m->hdr.prev_results_root, p->roots[at][0], CERTA_HASH_BYTES) != 0 ||
            memcmp(m->hdr.state_digest, p->roots[at][1], CERTA_HASH_BYTES) != 0) {
            sim_violation(s, "lag: replica %u block %" PRIu64 " header does not carry the "
                          "results root and state digest it had after block %" PRIu64,
                          p->id, h, at);
            return;
        }
    }
    certa_ledger_exec x;
    certa_errinfo ei;
    if (certa_ledger_execute(p->L, b, len, &x, &ei) != CERTA_OK) {
        sim_violation(s, "execution: replica %u block %" PRIu64 ": %s", p->id, h,
                      certa_errmsg(&ei));
        return;
    }
    keep_roots(p, h, &x);
    check_replay_results(s, p, m, was_exec, &x);
    if (p->byz || s->failed)
        return;
    /* honest replicas at the same executed height agree on its results */
    if (h >= s->xcap) {
        size_t cap = s->xcap ? s->xcap * 2 : 1024;
        while (cap <= h)
            cap *= 2;
        s->xroots = realloc(s->xroots, cap * sizeof *s->xroots);
        s->xset = realloc(s->xset, cap);
        CERTA_ASSERT(s->xroots && s->xset);
        memset(s->xset + s->xcap, 0, cap - s->xcap);
        s->xcap = cap;
    }
    if (!s->xset[h]) {
        s->xset[h] = 1;
        memcpy(s->xroots[h][0], x.results_root, CERTA_HASH_BYTES);
        memcpy(s->xroots[h][1], x.state_digest, CERTA_HASH_BYTES);
        return;
    }
    if (memcmp(s->xroots[h][0], x.results_root, CERTA_HASH_BYTES) != 0)
        sim_violation(s, "execution: replica %u has another results root at height %" PRIu64,
                      p->id, h);
    else if (memcmp(s->xroots[h][1], x.state_digest, CERTA_HASH_BYTES) != 0)
        sim_violation(s, "execution: replica %u has another state digest after height %" PRIu64,
                      p->id, h);
}
