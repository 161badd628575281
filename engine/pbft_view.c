/* pbft_view: the view change (part of the PBFT core, see pbft_internal.h):
 * VIEW-CHANGE messages and their certificates, the new primary's NEW-VIEW
 * plan and every replica's install of it, and the view timers.
 *
 * Invariants kept by this file:
 *  - a replica moves to a higher view only by its own timer (one step) or
 *    on f+1 view-changes for higher views; views beyond view+lookahead are
 *    dropped;
 *  - a NEW-VIEW is installed only when 2f+1 valid view-changes prove it, and
 *    every prepared certificate in them is re-proposed at its height;
 *  - the low watermark moves up, never down, when a new view is installed.
 */
#include "pbft_internal.h"

/* ---------------------------------------------------------------- view change */

/* Verifies a prepared certificate (a list: pre-prepare, 2f prepares) for a
 * view-change to new_view whose checkpoint is ck. */
static bool cert_ok(certa_pbft *r, const uint8_t *item, size_t len,
                    uint64_t new_view, uint64_t ck, certa_pbft_msg *pp,
                    uint8_t d[CERTA_HASH_BYTES])
{
    CERTA_ASSERT(item != NULL && pp != NULL && d != NULL);
    certa_pbft_list l;
    if (!certa_pbft_list_parse(item, len, &l) || l.count < r->q)
        return false;
    size_t pos = 0;
    const uint8_t *it;
    size_t il;
    certa_pbft_list_next(&l, &pos, &it, &il);
    if (certa_pbft_msg_decode(it, il, pp) != CERTA_OK ||
        pp->type != CERTA_PBFT_MSG_PRE_PREPARE || pp->view >= new_view ||
        pp->sender != certa_pbft_primary(r, pp->view) || pp->seq <= ck ||
        pp->seq > ck + r->c.window || !pbft_verify_signed(r, pp))
        return false;
    size_t nreq = 0;
    if (!pbft_pp_content_ok(r, pp, false, &nreq, d))
        return false;
    uint64_t seen = 0;
    uint16_t cnt = 0;
    while (certa_pbft_list_next(&l, &pos, &it, &il)) {
        certa_pbft_msg p;
        if (certa_pbft_msg_decode(it, il, &p) != CERTA_OK ||
            p.type != CERTA_PBFT_MSG_PREPARE || p.view != pp->view ||
            p.seq != pp->seq || memcmp(p.digest, d, CERTA_HASH_BYTES) != 0 ||
            p.sender >= r->c.n || p.sender == pp->sender || p.sender >= 64 ||
            (seen >> p.sender & 1u) || !pbft_verify_signed(r, &p))
            return false;
        seen |= 1ull << p.sender;
        cnt++;
    }
    return cnt + 1u >= r->q;
}

static bool ck_proof_ok(certa_pbft *r, uint64_t seq, const certa_block_header *hdr,
                        const certa_pbft_list *proof)
{
    CERTA_ASSERT(hdr != NULL && proof != NULL);
    uint8_t hh[CERTA_HASH_BYTES];
    pbft_hash_header(r, hdr, hh);
    if (seq == 0) {
        uint8_t g[CERTA_HASH_BYTES];
        pbft_hash_header(r, &r->c.genesis, g);
        return hdr->height == 0 && memcmp(g, hh, CERTA_HASH_BYTES) == 0;
    }
    if (hdr->height != seq)
        return false;
    uint64_t seen = 0;
    uint16_t cnt = 0;
    size_t pos = 0;
    const uint8_t *it;
    size_t il;
    while (certa_pbft_list_next(proof, &pos, &it, &il)) {
        certa_pbft_msg c;
        if (certa_pbft_msg_decode(it, il, &c) != CERTA_OK ||
            c.type != CERTA_PBFT_MSG_CHECKPOINT || c.seq != seq ||
            memcmp(c.digest, hh, CERTA_HASH_BYTES) != 0 || c.sender >= r->c.n ||
            c.sender >= 64 || (seen >> c.sender & 1u) || !pbft_verify_signed(r, &c))
            return false;
        seen |= 1ull << c.sender;
        cnt++;
    }
    return cnt >= r->q;
}

static bool vc_ok(certa_pbft *r, const certa_pbft_msg *m)
{
    CERTA_ASSERT(m->type == CERTA_PBFT_MSG_VIEW_CHANGE && m->sender < r->c.n);
    if (!ck_proof_ok(r, m->seq, &m->hdr, &m->l1))
        return false;
    size_t pos = 0;
    const uint8_t *it;
    size_t il;
    uint64_t last = m->seq;
    while (certa_pbft_list_next(&m->l2, &pos, &it, &il)) {
        certa_pbft_msg pp;
        uint8_t d[CERTA_HASH_BYTES];
        if (!cert_ok(r, it, il, m->view, m->seq, &pp, d) || pp.seq <= last)
            return false;
        last = pp.seq;
    }
    return true;
}

static void check_vc_quorum(certa_pbft *r);

static void start_view_change(certa_pbft *r, uint64_t v);

/* The view timer now. backoff counts the view changes this replica's timers
 * started since it last executed a block holding requests; as PBFT
 * prescribes, the wait for view v+1 (its new view and then its first
 * block) is T, for v+2 2T, for v+3 4T, and so on up to the cap, so that a
 * run of failing views cannot outpace what a correct primary needs. */
uint64_t pbft_view_timer_ms(const certa_pbft *r)
{
    CERTA_ASSERT(r != NULL && r->c.view_timeout_ms > 0);
    uint32_t e = r->backoff > 0 ? r->backoff - 1 : 0;
    if (e > r->c.view_backoff_max)
        e = r->c.view_backoff_max;
    CERTA_ASSERT(e <= r->c.view_backoff_max);
    return (uint64_t)r->c.view_timeout_ms << e;
}

/* A view change this replica's own timer started: the next waits longer. */
void pbft_timer_view_change(certa_pbft *r)
{
    CERTA_ASSERT(r != NULL);
    if (r->backoff <= r->c.view_backoff_max)
        r->backoff++;
    CERTA_ASSERT(r->backoff <= r->c.view_backoff_max + 1);
    uint64_t from = r->view;
    start_view_change(r, r->view + 1);
    /* (a primary holding the quorum already installed the new view) */
    CERTA_ASSERT(r->view == from + 1);
}

static void start_view_change(certa_pbft *r, uint64_t v)
{
    CERTA_ASSERT(v > r->view || (v == r->view && !r->in_vc));
    r->view = v;
    r->in_vc = true;
    r->vc_start_ms = r->now;
    r->vc_timer = false;
    pbft_buf_free(&r->nv);
    r->st.view_changes++;
    const uint8_t *items[CERTA_PBFT_WINDOW_MAX];
    size_t lens[CERTA_PBFT_WINDOW_MAX];
    size_t cnt = 0;
    for (uint64_t s = r->ck_seq + 1; s <= r->h + r->c.window; s++) {
        slot *sl = pbft_slot_peek(r, s);
        if (sl != NULL && sl->has_cert && cnt < CERTA_PBFT_WINDOW_MAX &&
            s <= r->ck_seq + r->c.window) {
            items[cnt] = sl->cert.p;
            lens[cnt++] = sl->cert.len;
        }
    }
    size_t l2len = 0;
    uint8_t *l2 = certa_pbft_list_build(items, lens, cnt, &l2len);
    CERTA_ASSERT(l2 != NULL);
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_VIEW_CHANGE;
    m.view = v;
    m.seq = r->ck_seq;
    m.hdr = r->ck_hdr;
    uint8_t empty[4] = {0, 0, 0, 0};
    bool l1_ok = r->ck_proof.len
                     ? certa_pbft_list_parse(r->ck_proof.p, r->ck_proof.len, &m.l1)
                     : certa_pbft_list_parse(empty, 4, &m.l1);
    CERTA_ASSERT(l1_ok);
    bool l2_ok = certa_pbft_list_parse(l2, l2len, &m.l2);
    CERTA_ASSERT(l2_ok);
    buf b = pbft_make_signed(r, &m);
    free(l2);
    pbft_persist(r, CERTA_PBFT_MSG_VIEW_CHANGE, 0, v, &b);
    pbft_bcast(r, &b);
    pbft_buf_set(&r->vcs[r->c.id], b.p, b.len);
    r->vc_views[r->c.id] = v;
    pbft_buf_set(&r->my_vc, b.p, b.len);
    check_vc_quorum(r);
}

/* The new view's pre-prepares, computed from 2f+1 view-changes: from the
 * highest stable checkpoint up to the highest prepared height, the prepared
 * certificate of the highest view when it chains onto the block chosen
 * below it, else a null block. Deterministic: every replica computes the
 * same from the same view-changes. */
typedef struct nv_plan {
    uint64_t base;
    certa_block_header base_hdr;
    uint8_t base_hash[CERTA_HASH_BYTES];
    const uint8_t *base_proof;
    size_t base_proof_len;
    size_t count;
    certa_pbft_msg pps[CERTA_PBFT_WINDOW_MAX]; /* unsigned, borrowed lists */
    uint8_t d[CERTA_PBFT_WINDOW_MAX][CERTA_HASH_BYTES];
} nv_plan;

/* The PRE-PREPARE at the head of a prepared certificate (a list: the
 * PRE-PREPARE, then 2f PREPAREs) from a view-change already checked by
 * vc_ok, so it decodes. */
static void cert_pre_prepare(const uint8_t *cert, size_t len, certa_pbft_msg *pp)
{
    certa_pbft_list l;
    certa_pbft_list_parse(cert, len, &l);
    size_t pos = 0;
    const uint8_t *it;
    size_t il;
    bool has = certa_pbft_list_next(&l, &pos, &it, &il);
    CERTA_ASSERT(has);
    certa_err rc = certa_pbft_msg_decode(it, il, pp);
    CERTA_ASSERT(rc == CERTA_OK);
}

static void plan_new_view(certa_pbft *r, uint64_t v, const buf *vcs, size_t nvc,
                          nv_plan *pl)
{
    static const uint8_t empty[4] = {0, 0, 0, 0};
    memset(pl, 0, offsetof(nv_plan, pps));
    pl->count = 0;
    certa_pbft_msg vm[CERTA_PBFT_VALIDATORS_MAX];
    for (size_t i = 0; i < nvc; i++) {
        certa_err rc = certa_pbft_msg_decode(vcs[i].p, vcs[i].len, &vm[i]);
        CERTA_ASSERT(rc == CERTA_OK);
        if (i == 0 || vm[i].seq > pl->base) {
            pl->base = vm[i].seq;
            pl->base_hdr = vm[i].hdr;
            pl->base_proof = vm[i].l1.p - 4;
            pl->base_proof_len = vm[i].l1.len + 4;
        }
    }
    pbft_hash_header(r, &pl->base_hdr, pl->base_hash);
    uint64_t top = pl->base;
    if (r->c.mutation != CERTA_PBFT_MUT_NV_SKIP_PREPARED)
        for (size_t i = 0; i < nvc; i++) {
            size_t pos = 0;
            const uint8_t *it;
            size_t il;
            while (certa_pbft_list_next(&vm[i].l2, &pos, &it, &il)) {
                certa_pbft_msg pp;
                cert_pre_prepare(it, il, &pp);
                if (pp.seq > top)
                    top = pp.seq;
            }
        }
    certa_block_header parent = pl->base_hdr;
    uint8_t ph[CERTA_HASH_BYTES];
    memcpy(ph, pl->base_hash, sizeof ph);
    for (uint64_t s = pl->base + 1; s <= top; s++) {
        certa_pbft_msg best;
        bool have = false;
        if (r->c.mutation != CERTA_PBFT_MUT_NV_SKIP_PREPARED)
            for (size_t i = 0; i < nvc; i++) {
                size_t pos = 0;
                const uint8_t *it;
                size_t il;
                while (certa_pbft_list_next(&vm[i].l2, &pos, &it, &il)) {
                    certa_pbft_msg pp;
                    cert_pre_prepare(it, il, &pp);
                    if (pp.seq == s && (!have || pp.view > best.view)) {
                        best = pp;
                        have = true;
                    }
                }
            }
        CERTA_ASSERT(pl->count < CERTA_PBFT_WINDOW_MAX);
        certa_pbft_msg *o = &pl->pps[pl->count];
        memset(o, 0, sizeof *o);
        o->type = CERTA_PBFT_MSG_PRE_PREPARE;
        o->view = v;
        o->seq = s;
        if (have && memcmp(best.hdr.prev_hash, ph, CERTA_HASH_BYTES) == 0 &&
            best.hdr.timestamp_ms >= parent.timestamp_ms) {
            o->hdr = best.hdr;
            o->reqs = best.reqs;
        } else {
            o->hdr.height = s;
            o->hdr.view = v;
            o->hdr.timestamp_ms = parent.timestamp_ms;
            o->hdr.proposer = certa_pbft_primary(r, v);
            memcpy(o->hdr.prev_hash, ph, CERTA_HASH_BYTES);
            r->c.app.build_block(r->c.app.ctx, &parent, &o->hdr, NULL, 0);
            certa_pbft_list_parse(empty, 4, &o->reqs);
        }
        pbft_hash_header(r, &o->hdr, pl->d[pl->count]);
        parent = o->hdr;
        memcpy(ph, pl->d[pl->count], sizeof ph);
        pl->count++;
    }
}

static void install_new_view(certa_pbft *r, uint64_t v, const nv_plan *pl,
                             const certa_pbft_list *pps)
{
    CERTA_ASSERT(v >= r->view && v > 0);
    r->view = v;
    r->in_vc = false;
    r->vc_timer = false;
    /* backoff is kept: a new view that orders nothing is no progress */
    r->view_start_ms = r->now;
    r->st.new_views++;
    /* the new view's base is a stable checkpoint (proved in its VC) */
    if (pl->base > r->h) {
        certa_pbft_list proof;
        if (certa_pbft_list_parse(pl->base_proof, pl->base_proof_len, &proof) &&
            pl->base > 0) {
            r->pend_ck_seq = pl->base;
            memcpy(r->pend_ck_hash, pl->base_hash, CERTA_HASH_BYTES);
            pbft_buf_set(&r->pend_ck_proof, pl->base_proof, pl->base_proof_len);
        }
        pbft_set_low(r, pl->base);
        pbft_adopt_ck(r);
    }
    for (uint32_t i = 0; i < r->c.window; i++) {
        slot *s = &r->slots[i];
        if (s->seq == 0 || s->committed || s->executed)
            continue;
        s->has_pp = false;
        pbft_buf_clear(&s->pp);
        s->commit_sent = false;
    }
    for (uint32_t i = 0; i < r->npool; i++)
        if (r->pool[i].live)
            pbft_pool_set_prop(r, i, 0);
    size_t pos = 0, k = 0;
    const uint8_t *it;
    size_t il;
    while (certa_pbft_list_next(pps, &pos, &it, &il)) {
        CERTA_ASSERT(k < pl->count);
        certa_pbft_msg m;
        certa_err rc = certa_pbft_msg_decode(it, il, &m);
        CERTA_ASSERT(rc == CERTA_OK);
        slot *s = pbft_slot_get(r, m.seq);
        size_t nreq = 0;
        pbft_decode_reqs(r, &m.reqs, &nreq);
        if (s != NULL && !s->committed && !s->executed) {
            pbft_install_pp(r, s, &m, it, il, pl->d[k], nreq);
            if (r->c.id == certa_pbft_primary(r, v)) {
                s->voted = true;
                s->vote_view = v;
                memcpy(s->vote_d, pl->d[k], CERTA_HASH_BYTES);
            } else {
                pbft_vote_prepare(r, s);
            }
        } else if (s != NULL) {
            pbft_mark_proposed(r, nreq, m.seq);
        }
        k++;
    }
    uint64_t top = pl->base + pl->count;
    if (top < r->last_exec)
        top = r->last_exec;
    r->next_seq = top + 1;
    r->parent_ok = true;
    if (top == r->last_exec) {
        r->parent = r->tip;
        memcpy(r->parent_hash, r->tip_hash, CERTA_HASH_BYTES);
    } else if (pl->count > 0 && top == pl->base + pl->count) {
        r->parent = pl->pps[pl->count - 1].hdr;
        memcpy(r->parent_hash, pl->d[pl->count - 1], CERTA_HASH_BYTES);
    } else if (top == pl->base) {
        r->parent = pl->base_hdr;
        memcpy(r->parent_hash, pl->base_hash, CERTA_HASH_BYTES);
    } else {
        r->parent_ok = false;
    }
    /* backups hand the new primary what is still pending */
    if (r->c.id != certa_pbft_primary(r, v))
        for (uint32_t i = 0; i < r->npool; i++)
            if (r->pool[i].live && r->pool[i].prop_seq == 0)
                pbft_forward_request(r, &r->pool[i], certa_pbft_primary(r, v));
    for (uint64_t s = r->h + 1; s <= r->h + r->c.window; s++) {
        slot *sl = pbft_slot_peek(r, s);
        if (sl != NULL && sl->has_pp) {
            pbft_check_prepared(r, sl);
            pbft_maybe_commit(r, sl);
        }
    }
    pbft_execute_ready(r);
}

static void build_new_view(certa_pbft *r)
{
    buf vcs[CERTA_PBFT_VALIDATORS_MAX];
    size_t nvc = 0;
    vcs[nvc++] = r->vcs[r->c.id];
    for (uint16_t i = 0; i < r->c.n && nvc < r->q; i++)
        if (i != r->c.id && r->vc_views[i] == r->view && r->vcs[i].len)
            vcs[nvc++] = r->vcs[i];
    CERTA_ASSERT(nvc == r->q);
    nv_plan *pl = malloc(sizeof *pl);
    CERTA_ASSERT(pl != NULL);
    plan_new_view(r, r->view, vcs, nvc, pl);
    buf *pps = calloc(pl->count + 1, sizeof *pps);
    const uint8_t *items[CERTA_PBFT_WINDOW_MAX];
    size_t lens[CERTA_PBFT_WINDOW_MAX];
    CERTA_ASSERT(pps != NULL);
    for (size_t i = 0; i < pl->count; i++) {
        buf signed_pp = pbft_make_signed(r, &pl->pps[i]);
        pbft_buf_set(&pps[i], signed_pp.p, signed_pp.len);
        items[i] = pps[i].p;
        lens[i] = pps[i].len;
    }
    size_t l2len = 0, l1len = 0;
    uint8_t *l2 = certa_pbft_list_build(items, lens, pl->count, &l2len);
    const uint8_t *vi[CERTA_PBFT_VALIDATORS_MAX];
    size_t vl[CERTA_PBFT_VALIDATORS_MAX];
    for (size_t i = 0; i < nvc; i++) {
        vi[i] = vcs[i].p;
        vl[i] = vcs[i].len;
    }
    uint8_t *l1 = certa_pbft_list_build(vi, vl, nvc, &l1len);
    CERTA_ASSERT(l1 != NULL && l2 != NULL);
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_NEW_VIEW;
    m.view = r->view;
    certa_pbft_list_parse(l1, l1len, &m.l1);
    certa_pbft_list_parse(l2, l2len, &m.l2);
    buf b = pbft_make_signed(r, &m);
    pbft_persist(r, CERTA_PBFT_MSG_NEW_VIEW, 0, r->view, &b);
    pbft_bcast(r, &b);
    pbft_buf_set(&r->nv, b.p, b.len);
    certa_pbft_msg nvm;
    certa_err rc = certa_pbft_msg_decode(r->nv.p, r->nv.len, &nvm);
    CERTA_ASSERT(rc == CERTA_OK);
    install_new_view(r, r->view, pl, &nvm.l2);
    for (size_t i = 0; i < pl->count; i++)
        pbft_buf_free(&pps[i]);
    free(pps);
    free(l1);
    free(l2);
    free(pl);
}

static void check_vc_quorum(certa_pbft *r)
{
    if (!r->in_vc)
        return;
    /* in a view change, this replica's own VIEW-CHANGE is kept */
    CERTA_ASSERT(r->view > 0 && r->my_vc.len > 0);
    uint16_t cnt = 0;
    for (uint16_t i = 0; i < r->c.n; i++)
        if (r->vc_views[i] == r->view && r->vcs[i].len)
            cnt++;
    if (cnt < r->q)
        return;
    if (!r->vc_timer) {
        r->vc_timer = true;
        r->vc_deadline = r->now + pbft_view_timer_ms(r);
    }
    if (certa_pbft_primary(r, r->view) == r->c.id && r->vcs[r->c.id].len &&
        r->vc_views[r->c.id] == r->view)
        build_new_view(r);
}

void pbft_on_view_change(certa_pbft *r, const certa_pbft_msg *m,
                         const uint8_t *raw, size_t len)
{
    CERTA_ASSERT(m->sender < r->c.n && m->sender != r->c.id);
    CERTA_ASSERT(m->type == CERTA_PBFT_MSG_VIEW_CHANGE);
    if (m->view > r->view + r->c.view_lookahead || m->view < r->view) {
        r->st.dropped_view++;
        return;
    }
    if (m->view == r->view && !r->in_vc) {
        /* a replica still asking for this view: whoever holds its NEW-VIEW
         * answers, since the primary's link to it may be the one down */
        if (r->nv.len)
            pbft_send_to(r, m->sender, &r->nv);
        return;
    }
    if (r->vc_views[m->sender] >= m->view && r->vcs[m->sender].len)
        return;
    if (!vc_ok(r, m)) {
        r->st.dropped_invalid++;
        return;
    }
    pbft_buf_set(&r->vcs[m->sender], raw, len);
    r->vc_views[m->sender] = m->view;
    /* f+1 view-changes for higher views: join the smallest of them */
    uint16_t cnt = 0;
    uint64_t smallest = UINT64_MAX;
    for (uint16_t i = 0; i < r->c.n; i++)
        if (i != r->c.id && r->vcs[i].len && r->vc_views[i] > r->view) {
            cnt++;
            if (r->vc_views[i] < smallest)
                smallest = r->vc_views[i];
        }
    if (cnt >= r->f + 1u)
        start_view_change(r, smallest);
    else
        check_vc_quorum(r);
}

void pbft_on_new_view(certa_pbft *r, const certa_pbft_msg *m, const uint8_t *raw,
                      size_t raw_len)
{
    CERTA_ASSERT(m->sender < r->c.n && m->sender != r->c.id);
    CERTA_ASSERT(m->type == CERTA_PBFT_MSG_NEW_VIEW);
    if (m->view > r->view + r->c.view_lookahead || m->view < r->view ||
        (m->view == r->view && !r->in_vc)) {
        r->st.dropped_view++;
        return;
    }
    if (m->sender != certa_pbft_primary(r, m->view) || m->l1.count != r->q) {
        r->st.dropped_invalid++;
        return;
    }
    buf vcs[CERTA_PBFT_VALIDATORS_MAX];
    size_t nvc = 0, pos = 0;
    const uint8_t *it;
    size_t il;
    uint64_t seen = 0;
    while (certa_pbft_list_next(&m->l1, &pos, &it, &il)) {
        certa_pbft_msg vc;
        if (certa_pbft_msg_decode(it, il, &vc) != CERTA_OK ||
            vc.type != CERTA_PBFT_MSG_VIEW_CHANGE || vc.view != m->view ||
            vc.sender >= r->c.n || vc.sender >= 64 || (seen >> vc.sender & 1u)) {
            r->st.dropped_invalid++;
            return;
        }
        seen |= 1ull << vc.sender;
        bool known = r->vcs[vc.sender].len == il &&
                     memcmp(r->vcs[vc.sender].p, it, il) == 0;
        if (!known && (!pbft_verify_signed(r, &vc) || !vc_ok(r, &vc))) {
            r->st.dropped_invalid++;
            return;
        }
        vcs[nvc++] = (buf){(uint8_t *)it, il};
    }
    nv_plan *pl = malloc(sizeof *pl);
    CERTA_ASSERT(pl != NULL);
    plan_new_view(r, m->view, vcs, nvc, pl);
    bool ok = m->l2.count == pl->count;
    pos = 0;
    size_t k = 0;
    while (ok && certa_pbft_list_next(&m->l2, &pos, &it, &il)) {
        certa_pbft_msg pp;
        uint8_t a[CERTA_PBFT_HEADER_BYTES], b[CERTA_PBFT_HEADER_BYTES];
        if (certa_pbft_msg_decode(it, il, &pp) != CERTA_OK ||
            pp.type != CERTA_PBFT_MSG_PRE_PREPARE || pp.sender != m->sender ||
            pp.view != m->view || pp.seq != pl->pps[k].seq) {
            ok = false;
            break;
        }
        certa_pbft_header_encode(&pp.hdr, a);
        certa_pbft_header_encode(&pl->pps[k].hdr, b);
        if (memcmp(a, b, sizeof a) != 0 || pp.reqs.count != pl->pps[k].reqs.count ||
            pp.reqs.len != pl->pps[k].reqs.len ||
            (pp.reqs.len && memcmp(pp.reqs.p, pl->pps[k].reqs.p, pp.reqs.len) != 0) ||
            !pbft_verify_signed(r, &pp))
            ok = false;
        k++;
    }
    if (!ok) {
        r->st.dropped_invalid++;
        free(pl);
        return;
    }
    install_new_view(r, m->view, pl, &m->l2);
    free(pl);
    if (r->view == m->view && !r->in_vc)
        pbft_buf_set(&r->nv, raw, raw_len);
}

