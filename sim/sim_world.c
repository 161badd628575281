/* sim_world: the simulated world around the PBFT cores (part of the
 * simulator, see sim_internal.h): fake crypto (a keyed 64-bit hash per
 * validator, unforgeable by the Byzantine code since it signs only with its
 * own key), starting (its ledger from its durable blocks, sim_app.c) and crashing a replica from what it persisted, and the network:
 * delays, loss, partitions and the Byzantine senders.
 *
 * Invariants kept by this file: everything random comes from the sim's one
 * seeded stream, so a seed replays exactly; a restarted replica sees only
 * what it handed out in PERSIST and DELIVER actions.
 */
#include "sim_internal.h"

/* ---------------------------------------------------------------- crypto */

static void fake_sign_as(sim *s, uint16_t id, const uint8_t *msg, size_t len,
                         uint8_t sig[CERTA_SIGNATURE_BYTES])
{
    memset(sig, 0, CERTA_SIGNATURE_BYTES);
    uint64_t h = h64(s->keys[id], msg, len);
    memcpy(sig, &h, 8);
}

void sim_fake_sign(void *ctx, const uint8_t *msg, size_t len,
                   uint8_t sig[CERTA_SIGNATURE_BYTES])
{
    rep *p = ctx;
    fake_sign_as(p->s, p->id, msg, len, sig);
}

bool sim_fake_verify(void *ctx, uint16_t signer, const uint8_t *msg, size_t len,
                     const uint8_t sig[CERTA_SIGNATURE_BYTES])
{
    rep *p = ctx;
    if (signer >= p->s->o.n)
        return false;
    uint8_t want[CERTA_SIGNATURE_BYTES];
    fake_sign_as(p->s, signer, msg, len, want);
    return memcmp(want, sig, CERTA_SIGNATURE_BYTES) == 0;
}

/* ---------------------------------------------------------------- requests */

uint64_t sim_req_index(uint16_t integ, uint64_t seq)
{
    return (seq - 1) * NINTEG + integ;
}

/* ---------------------------------------------------------------- replicas */

static void make_config(sim *s, rep *p, certa_pbft_config *c)
{
    certa_pbft_config_default(c, s->o.n, p->id);
    memcpy(c->chain_id, s->chain_id, CERTA_HASH_BYTES);
    c->genesis = s->genesis;
    c->checkpoint_interval = s->o.checkpoint_interval;
    c->window = s->o.window;
    c->batch_requests_max = s->o.batch;
    c->batch_timeout_ms = 5;
    c->view_timeout_ms = VIEW_TIMEOUT_MS;
    c->view_backoff_max = VIEW_BACKOFF_MAX;
    c->resend_ms = 100;
    c->clock_skew_ms_max = 1000;
    c->view_lookahead = 32;
    c->pending_max = s->horizon ? 32 : s->o.requests + 16; /* bounded: overload */
    c->fetch_blocks_max = 32;
    c->mutation = s->o.mutation;
    c->crypto = (certa_pbft_crypto){p, sim_fake_sign, sim_fake_verify};
    sim_app_bind(p, &c->app);
}

void sim_rep_accumulate(rep *p)
{
    if (p->r == NULL)
        return;
    const certa_pbft_stats *st = certa_pbft_get_stats(p->r);
    uint64_t *a = (uint64_t *)&p->acc;
    const uint64_t *b = (const uint64_t *)st;
    for (size_t i = 0; i < sizeof *st / sizeof(uint64_t); i++)
        a[i] += b[i];
}

void sim_rep_start(sim *s, rep *p)
{
    sim_ledger_start(s, p);
    certa_pbft_config c;
    make_config(s, p, &c);
    certa_errinfo ei;
    certa_err rc = certa_pbft_create(&c, &p->r, &ei);
    CERTA_ASSERT(rc == CERTA_OK);
    if (p->nblocks > 0 || p->nrec > 0) {
        const uint8_t **rs = malloc((p->nrec + 1) * sizeof *rs);
        size_t *ls = malloc((p->nrec + 1) * sizeof *ls);
        CERTA_ASSERT(rs != NULL && ls != NULL);
        for (size_t i = 0; i < p->nrec; i++) {
            rs[i] = p->recs[i].p;
            ls[i] = p->recs[i].len;
        }
        const uint8_t *tip = p->nblocks ? p->blocks[p->nblocks - 1] : NULL;
        size_t tl = p->nblocks ? p->blens[p->nblocks - 1] : 0;
        certa_err e = certa_pbft_restore(p->r, tip, tl, rs, ls, p->nrec, &ei);
        if (e != CERTA_OK)
            sim_violation(s, "replica %u restore failed: %s", p->id, certa_errmsg(&ei));
        free(rs);
        free(ls);
    }
    p->up = true;
    p->gen++;
    ev e;
    memset(&e, 0, sizeof e);
    e.t = s->t;
    e.kind = EV_TICK;
    e.dst = p->id;
    e.gen = p->gen;
    sim_heap_push(s, e);
}

void sim_rep_crash(sim *s, rep *p)
{
    if (!p->up)
        return;
    sim_rep_accumulate(p);
    certa_pbft_free(p->r);
    p->r = NULL;
    sim_ledger_stop(p);
    p->up = false;
    p->gen++;
    s->res->crashes++;
    sim_trace_add(s, EV_CRASH, 0, p->id, NULL, 0);
}

uint16_t sim_faulty_now(sim *s)
{
    uint16_t k = 0;
    for (uint16_t i = 0; i < s->o.n; i++)
        if (s->reps[i].byz || !s->reps[i].up)
            k++;
    return k;
}

/* ---------------------------------------------------------------- network */

static void deliver_later(sim *s, uint16_t src, uint16_t dst, const uint8_t *m,
                          size_t len)
{
    uint64_t lat = 1 + below(&s->rng, 5);
    if (s->net_faults && chance(&s->rng, 100000))
        lat += below(&s->rng, 150); /* reordering */
    ev e;
    memset(&e, 0, sizeof e);
    e.t = s->t + lat;
    e.kind = EV_MSG;
    e.src = src;
    e.dst = dst;
    e.msg = malloc(len);
    CERTA_ASSERT(e.msg != NULL);
    memcpy(e.msg, m, len);
    e.len = len;
    sim_heap_push(s, e);
}

static void net_send_plain(sim *s, uint16_t src, uint16_t dst, const uint8_t *m,
                           size_t len)
{
    s->res->messages++;
    if (s->net_faults) {
        if ((s->partitioned && s->side[src] != s->side[dst]) ||
            chance(&s->rng, 50000)) {
            s->res->net_dropped++;
            sim_trace_add(s, 13, src, dst, m, len);
            return;
        }
        if (chance(&s->rng, 20000)) {
            s->res->net_duplicated++;
            deliver_later(s, src, dst, m, len);
        }
    }
    deliver_later(s, src, dst, m, len);
}

/* Re-signs an encoded signed message as `as` (its real signer's key: the
 * Byzantine code only ever holds its own key). */
static void resign(sim *s, uint16_t as, uint8_t *m, size_t len)
{
    size_t sl = certa_pbft_msg_signed_len(m, len);
    if (sl == 0)
        return;
    size_t need = certa_pbft_sig_input(s->chain_id, m, sl, NULL, 0);
    uint8_t *in = malloc(need);
    CERTA_ASSERT(in != NULL);
    certa_pbft_sig_input(s->chain_id, m, sl, in, need);
    fake_sign_as(s, as, in, need, m + sl);
    free(in);
}

void sim_byz_ring_add(rep *p, const uint8_t *m, size_t len)
{
    unsigned k = p->ringpos++ % BYZ_RING;
    free(p->ring[k]);
    p->ring[k] = malloc(len);
    CERTA_ASSERT(p->ring[k] != NULL);
    memcpy(p->ring[k], m, len);
    p->ringlen[k] = len;
}

/* A bogus view-change: a forged prepared certificate (prepares that claim
 * other senders) or a far-future view. */
static void byz_bogus_vc(sim *s, rep *p, uint16_t dst)
{
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_VIEW_CHANGE;
    m.sender = p->id;
    uint64_t v = p->r ? certa_pbft_view(p->r) : 0;
    m.view = chance(&s->rng, 300000) ? v + 1000000 : v + 1;
    m.seq = 0;
    m.hdr = s->genesis;
    uint8_t empty[4] = {0};
    certa_pbft_list_parse(empty, 4, &m.l1);
    /* one cert: a pre-prepare we saw, with prepares forged for others */
    const uint8_t *items[CERTA_PBFT_VALIDATORS_MAX];
    size_t lens[CERTA_PBFT_VALIDATORS_MAX];
    uint8_t *prep[CERTA_PBFT_VALIDATORS_MAX];
    size_t cnt = 0, npre = 0;
    for (unsigned k = 0; k < BYZ_RING && cnt == 0; k++)
        if (p->ring[k] && p->ringlen[k] > 2 && p->ring[k][1] == CERTA_PBFT_MSG_PRE_PREPARE) {
            items[cnt] = p->ring[k];
            lens[cnt++] = p->ringlen[k];
        }
    uint8_t *certl = NULL, *l2 = NULL;
    size_t certlen = 0, l2len = 0;
    if (cnt == 1) {
        certa_pbft_msg pp;
        if (certa_pbft_msg_decode(items[0], lens[0], &pp) == CERTA_OK) {
            for (uint16_t i = 0; i < 2 * s->f; i++) {
                certa_pbft_msg pr;
                memset(&pr, 0, sizeof pr);
                pr.type = CERTA_PBFT_MSG_PREPARE;
                pr.sender = (uint16_t)((p->id + 1 + i) % s->o.n);
                pr.view = pp.view;
                pr.seq = pp.seq;
                for (int b = 0; b < 32; b++)
                    pr.digest[b] = (uint8_t)rnd(&s->rng);
                size_t pl = 0;
                prep[npre] = certa_pbft_msg_encode(&pr, &pl);
                resign(s, p->id, prep[npre], pl); /* not the claimed sender's key */
                items[cnt] = prep[npre];
                lens[cnt++] = pl;
                npre++;
            }
        }
        certl = certa_pbft_list_build(items, lens, cnt, &certlen);
        const uint8_t *ci[1] = {certl};
        size_t cl[1] = {certlen};
        l2 = certa_pbft_list_build(ci, cl, 1, &l2len);
    } else {
        l2 = certa_pbft_list_build(NULL, NULL, 0, &l2len);
    }
    certa_pbft_list_parse(l2, l2len, &m.l2);
    size_t len = 0;
    uint8_t *enc = certa_pbft_msg_encode(&m, &len);
    resign(s, p->id, enc, len);
    net_send_plain(s, p->id, dst, enc, len);
    free(enc);
    free(l2);
    free(certl);
    for (size_t i = 0; i < npre; i++)
        free(prep[i]);
}

void sim_net_send(sim *s, uint16_t src, uint16_t dst, const uint8_t *m, size_t len)
{
    rep *p = &s->reps[src];
    if (!p->byz) {
        net_send_plain(s, src, dst, m, len);
        return;
    }
    /* Byzantine sender */
    if (chance(&s->rng, 150000)) { /* withhold */
        s->res->byz_actions++;
        return;
    }
    uint8_t type = len > 2 ? m[1] : 0;
    if (type == CERTA_PBFT_MSG_PRE_PREPARE && (dst & 1u)) { /* equivocate */
        certa_pbft_msg pp;
        if (certa_pbft_msg_decode(m, len, &pp) == CERTA_OK) {
            pp.hdr.timestamp_ms += 1 + below(&s->rng, 3);
            pp.sig = NULL;
            size_t l2 = 0;
            uint8_t *e = certa_pbft_msg_encode(&pp, &l2);
            resign(s, src, e, l2);
            net_send_plain(s, src, dst, e, l2);
            free(e);
            s->res->byz_actions++;
            return;
        }
    }
    net_send_plain(s, src, dst, m, len);
    if ((type == CERTA_PBFT_MSG_PREPARE || type == CERTA_PBFT_MSG_COMMIT) &&
        chance(&s->rng, 200000)) { /* vote twice */
        certa_pbft_msg v;
        if (certa_pbft_msg_decode(m, len, &v) == CERTA_OK) {
            for (int b = 0; b < 32; b++)
                v.digest[b] = (uint8_t)rnd(&s->rng);
            v.sig = NULL;
            size_t l2 = 0;
            uint8_t *e = certa_pbft_msg_encode(&v, &l2);
            resign(s, src, e, l2);
            net_send_plain(s, src, (uint16_t)((dst + 1) % s->o.n == src
                                                  ? dst
                                                  : (dst + 1) % s->o.n),
                           e, l2);
            free(e);
            s->res->byz_actions++;
        }
    }
    if (chance(&s->rng, 50000) && len > 4) { /* forge another sender */
        uint8_t *e = malloc(len);
        CERTA_ASSERT(e != NULL);
        memcpy(e, m, len);
        uint16_t other = (uint16_t)((src + 1 + below(&s->rng, s->o.n - 1)) % s->o.n);
        certa_put_le16(e + 2, other);
        resign(s, src, e, len);
        net_send_plain(s, src, dst, e, len);
        free(e);
        s->res->byz_actions++;
    }
    if (chance(&s->rng, 50000)) { /* replay something old */
        unsigned k = (unsigned)below(&s->rng, BYZ_RING);
        if (p->ring[k] != NULL) {
            net_send_plain(s, src, dst, p->ring[k], p->ringlen[k]);
            s->res->byz_actions++;
        }
    }
    if (chance(&s->rng, 20000)) {
        byz_bogus_vc(s, p, dst);
        s->res->byz_actions++;
    }
}

