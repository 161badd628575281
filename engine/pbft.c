/* pbft: a PBFT replica (Castro & Liskov, OSDI 1999 / TOCS 2002) as a pure
 * state machine: messages, requests and ticks in; persist, send, deliver and
 * the next timer out. No clock, socket, thread, file or random source here
 * (tests/integration/it_pbft_pure.sh keeps it so).
 *
 * Invariants kept by this file:
 *  - one accepted pre-prepare and one own vote per (view, height); a second,
 *    different one is dropped and counted;
 *  - a COMMIT for height s is sent only after s is prepared (2f+1 in the
 *    view: pre-prepare plus 2f prepares) AND block s-1 is executed with
 *    hash == s.prev_hash: the hash chain therefore follows from per-height
 *    agreement, and new-view never has to re-chain a committed block;
 *  - blocks are delivered in height order without gaps, each with a commit
 *    certificate of 2f+1 COMMIT signatures over (view, height, block hash);
 *  - the low watermark h only moves up, on a stable checkpoint (2f+1
 *    matching CHECKPOINT messages) or a verified new view; slots <= h are
 *    freed; messages for heights outside (h, h+window] are dropped;
 *  - a replica moves to a higher view only by its own timer (one step) or on
 *    f+1 view-changes for higher views; views beyond view+lookahead are
 *    dropped; the view timer (normal and view-change) doubles, up to a cap,
 *    with each view change started on a timer since this replica last
 *    executed a block holding requests, and only such progress resets it
 *    (a new view that orders nothing is no progress);
 *  - a pending request that request_executed came to call executed leaves
 *    the pool (pbft_pool_prune) before it is proposed or accused over: proposed,
 *    every honest backup would refuse the block, and the view would change
 *    for ever with the same request at the head of every new primary's pool;
 *  - every vote is handed to the host to persist before it is sent.
 */
#include "pbft_internal.h"

/* ---------------------------------------------------------------- helpers */

uint16_t certa_pbft_primary(const certa_pbft *r, uint64_t view)
{
    CERTA_ASSERT(r != NULL && r->c.n > 0);
    CERTA_ASSERT(r->c.n <= CERTA_PBFT_VALIDATORS_MAX);
    return (uint16_t)(view % r->c.n);
}

void pbft_hash_header(const certa_pbft *r, const certa_block_header *h,
                      uint8_t out[CERTA_HASH_BYTES])
{
    CERTA_ASSERT(h != NULL && out != NULL);
    CERTA_ASSERT(r != NULL);
    if (r->c.app.header_hash != NULL) {
        r->c.app.header_hash(r->c.app.ctx, h, out);
        return;
    }
    uint8_t b[CERTA_PBFT_HEADER_BYTES];
    certa_pbft_header_encode(h, b);
    certa_sha256(b, sizeof b, out);
}

/* chain_id || message, or its prehashed form (certa_pbft_sig_input). */
const uint8_t *pbft_sig_input(certa_pbft *r, const uint8_t *m, size_t len,
                              size_t *in_len)
{
    CERTA_ASSERT(r != NULL && m != NULL && in_len != NULL);
    size_t need = certa_pbft_sig_input(r->c.chain_id, m, len, NULL, 0);
    pbft_buf_reserve(&r->sigin, need);
    r->sigin.len = need;
    *in_len = certa_pbft_sig_input(r->c.chain_id, m, len, r->sigin.p, r->sigin.len);
    CERTA_ASSERT(*in_len == need);
    return r->sigin.p;
}

bool pbft_verify_signed(certa_pbft *r, const certa_pbft_msg *m)
{
    CERTA_ASSERT(r != NULL && m != NULL);
    if (m->sender >= r->c.n)
        return false;
    CERTA_ASSERT(m->sig != NULL && m->signed_bytes != NULL && m->signed_len >= 2);
    size_t in_len;
    const uint8_t *in = pbft_sig_input(r, m->signed_bytes, m->signed_len, &in_len);
    return r->c.crypto.verify(r->c.crypto.ctx, m->sender, in, in_len, m->sig);
}

/* Encodes m as this replica's message and signs it, into the replica's
 * out_msg scratch. The result is a view (cap 0): valid until the next
 * pbft_make_signed, copied (pbft_buf_set, pbft_emit) by whoever keeps it,
 * never freed. */
buf pbft_make_signed(certa_pbft *r, certa_pbft_msg *m)
{
    CERTA_ASSERT(certa_pbft_msg_is_signed(m->type));
    m->sender = r->c.id;
    m->sig = NULL;
    size_t len = 0;
    bool ok = certa_pbft_msg_encode_into(m, &r->out_msg.p, &r->out_msg.cap, &len);
    CERTA_ASSERT(ok);
    CERTA_ASSERT(len > CERTA_SIGNATURE_BYTES && len <= r->out_msg.cap);
    r->out_msg.len = len;
    uint8_t *p = r->out_msg.p;
    size_t sl = len - CERTA_SIGNATURE_BYTES;
    size_t in_len;
    const uint8_t *in = pbft_sig_input(r, p, sl, &in_len);
    r->c.crypto.sign(r->c.crypto.ctx, in, in_len, p + sl);
    return (buf){p, len, 0};
}

/* Encodes the record (or unsigned message) m into the out_rec scratch; a
 * view valid until the next pbft_encode_rec, as pbft_make_signed. */
buf pbft_encode_rec(certa_pbft *r, const certa_pbft_msg *m)
{
    CERTA_ASSERT(m != NULL);
    size_t len = 0;
    bool ok = certa_pbft_msg_encode_into(m, &r->out_rec.p, &r->out_rec.cap, &len);
    CERTA_ASSERT(ok);
    CERTA_ASSERT(len >= 2 && len <= r->out_rec.cap);
    r->out_rec.len = len;
    return (buf){r->out_rec.p, len, 0};
}

/* ---------------------------------------------------------------- output */

void pbft_emit(certa_pbft *r, certa_pbft_action_kind kind, uint16_t to,
               uint8_t rk, uint64_t height, uint64_t view,
               const uint8_t *bytes, size_t len)
{
    if (r->nacts == r->cap_acts) {
        size_t cap = r->cap_acts ? 2 * r->cap_acts : 64;
        out_action *a = realloc(r->acts, cap * sizeof *a);
        CERTA_ASSERT(a != NULL);
        r->acts = a;
        r->cap_acts = cap;
    }
    if (r->arena_cap - r->arena_len < len) {
        size_t cap = r->arena_cap ? r->arena_cap : 65536;
        while (cap - r->arena_len < len)
            cap *= 2;
        uint8_t *p = realloc(r->arena, cap);
        CERTA_ASSERT(p != NULL);
        r->arena = p;
        r->arena_cap = cap;
    }
    out_action *o = &r->acts[r->nacts++];
    memset(o, 0, sizeof *o);
    o->a.kind = kind;
    o->a.to = to;
    o->a.record_kind = rk;
    o->a.height = height;
    o->a.view = view;
    o->a.len = len;
    o->off = r->arena_len;
    if (len)
        memcpy(r->arena + r->arena_len, bytes, len);
    r->arena_len += len;
    if (kind == CERTA_PBFT_ACT_SEND)
        r->st.messages_sent++;
    if (kind == CERTA_PBFT_ACT_BROADCAST)
        r->st.messages_sent += r->c.n - 1u;
}

void pbft_persist(certa_pbft *r, uint8_t rk, uint64_t height, uint64_t view,
                  const buf *b)
{
    CERTA_ASSERT(b->p != NULL && b->len > 0);
    CERTA_ASSERT(rk != 0); /* a record kind names what is persisted */
    pbft_emit(r, CERTA_PBFT_ACT_PERSIST, 0, rk, height, view, b->p, b->len);
}

void pbft_bcast(certa_pbft *r, const buf *b)
{
    CERTA_ASSERT(b->p != NULL && b->len > 0);
    CERTA_ASSERT(b->len <= CERTA_PBFT_MSG_BYTES_MAX && r->c.n > 1);
    pbft_emit(r, CERTA_PBFT_ACT_BROADCAST, 0, 0, 0, 0, b->p, b->len);
}

void pbft_send_to(certa_pbft *r, uint16_t to, const buf *b)
{
    CERTA_ASSERT(b->p != NULL && b->len > 0);
    CERTA_ASSERT(to < r->c.n && to != r->c.id);
    pbft_emit(r, CERTA_PBFT_ACT_SEND, to, 0, 0, 0, b->p, b->len);
}

/* ---------------------------------------------------------------- slots */

void pbft_slot_reset(certa_pbft *r, slot *s)
{
    CERTA_ASSERT(s->prep != NULL && s->com != NULL);
    pbft_buf_clear(&s->pp);
    pbft_buf_clear(&s->cert);
    pbft_buf_clear(&s->com_sigs);
    for (uint16_t i = 0; i < r->c.n; i++) {
        pbft_buf_clear(&s->prep[i].raw);
        buf keep = s->prep[i].raw;
        memset(&s->prep[i], 0, sizeof s->prep[i]);
        s->prep[i].raw = keep;
    }
    pvote *prep = s->prep;
    cvote *com = s->com;
    buf pp = s->pp, cert = s->cert, com_sigs = s->com_sigs;
    memset(com, 0, r->c.n * sizeof *com);
    memset(s, 0, sizeof *s);
    s->prep = prep;
    s->com = com;
    s->pp = pp;
    s->cert = cert;
    s->com_sigs = com_sigs;
    CERTA_ASSERT(s->seq == 0 && !s->has_pp && !s->committed);
    CERTA_ASSERT(s->pp.len == 0 && s->cert.len == 0 && s->com_sigs.len == 0);
}

/* The slot of height seq, or NULL when seq is outside (h, h+window]. */
slot *pbft_slot_get(certa_pbft *r, uint64_t seq)
{
    if (seq <= r->h || seq > r->h + r->c.window)
        return NULL;
    slot *s = &r->slots[seq % r->c.window];
    if (s->seq != seq) {
        CERTA_ASSERT(s->seq < seq);
        pbft_slot_reset(r, s);
        s->seq = seq;
    }
    CERTA_ASSERT(s->seq == seq);
    return s;
}

slot *pbft_slot_peek(certa_pbft *r, uint64_t seq)
{
    CERTA_ASSERT(r != NULL && r->slots != NULL);
    if (seq <= r->h || seq > r->h + r->c.window)
        return NULL;
    slot *s = &r->slots[seq % r->c.window];
    CERTA_ASSERT(s->seq == 0 || s->seq % r->c.window == seq % r->c.window);
    return s->seq == seq ? s : NULL;
}

/* ---------------------------------------------------------------- execution */


void pbft_apply_executed(certa_pbft *r, const certa_block_header *hdr,
                         const uint8_t hash[CERTA_HASH_BYTES], size_t nreq)
{
    CERTA_ASSERT(nreq <= CERTA_PBFT_BLOCK_REQUESTS_MAX);
    CERTA_ASSERT(hdr->height == r->last_exec + 1);
    r->last_exec = hdr->height;
    r->tip = *hdr;
    memcpy(r->tip_hash, hash, CERTA_HASH_BYTES);
    r->last_exec_ms = r->now;
    r->st.blocks_committed++;
    if (nreq > 0)
        r->backoff = 0; /* progress: the view timer is back to its base */
    for (size_t i = 0; i < nreq; i++) {
        int k = pbft_pool_find(r, r->reqs[i].integrator, r->reqs[i].seq);
        if (k >= 0)
            pbft_pool_remove(r, (uint32_t)k);
    }
    slot *s = pbft_slot_peek(r, hdr->height);
    if (s != NULL)
        s->executed = true;
    if (!r->parent_ok && r->next_seq == hdr->height + 1) {
        r->parent = *hdr;
        memcpy(r->parent_hash, hash, CERTA_HASH_BYTES);
        r->parent_ok = true;
    }
    if (r->next_seq <= hdr->height) {
        r->next_seq = hdr->height + 1;
        r->parent = *hdr;
        memcpy(r->parent_hash, hash, CERTA_HASH_BYTES);
        r->parent_ok = true;
    }
    if (hdr->height % r->c.checkpoint_interval == 0) {
        int low = 0;
        for (int i = 1; i < OWNCK; i++)
            if (r->own[i].seq < r->own[low].seq)
                low = i;
        ownck *o = &r->own[low];
        o->seq = hdr->height;
        o->hdr = *hdr;
        memcpy(o->hash, hash, CERTA_HASH_BYTES);
        certa_pbft_msg m;
        memset(&m, 0, sizeof m);
        m.type = CERTA_PBFT_MSG_CHECKPOINT;
        m.seq = hdr->height;
        memcpy(m.digest, hash, CERTA_HASH_BYTES);
        buf b = pbft_make_signed(r, &m);
        pbft_bcast(r, &b);
        pbft_ck_store(r, r->c.id, m.seq, m.digest, b.p, b.len);
        pbft_buf_set(&o->raw, b.p, b.len);
        pbft_check_stable(r);
        pbft_adopt_ck(r);
    }
    CERTA_ASSERT(r->last_exec == hdr->height && r->next_seq > r->last_exec);
}

void pbft_execute_ready(certa_pbft *r)
{
    for (;;) {
        slot *s = pbft_slot_peek(r, r->last_exec + 1);
        if (s == NULL || !s->committed || s->executed)
            break;
        if (memcmp(s->hdr.prev_hash, r->tip_hash, CERTA_HASH_BYTES) != 0 ||
            s->hdr.height != r->last_exec + 1) {
            r->st.chain_refusals++;
            break;
        }
        certa_pbft_msg pp;
        certa_err rc = certa_pbft_msg_decode(s->pp.p, s->pp.len, &pp);
        CERTA_ASSERT(rc == CERTA_OK);
        size_t nreq = 0;
        bool ok = pbft_decode_reqs(r, &pp.reqs, &nreq);
        CERTA_ASSERT(ok);
        certa_pbft_msg rec;
        memset(&rec, 0, sizeof rec);
        rec.type = CERTA_PBFT_REC_BLOCK;
        rec.hdr = s->hdr;
        rec.aux = s->com_view;
        rec.reqs = pp.reqs;
        rec.sig_count = s->com_nsig;
        rec.sigs = s->com_sigs.p;
        buf blk = pbft_encode_rec(r, &rec);
        pbft_emit(r, CERTA_PBFT_ACT_DELIVER, 0, CERTA_PBFT_REC_BLOCK, s->hdr.height,
                  s->com_view, blk.p, blk.len);
        uint8_t d[CERTA_HASH_BYTES];
        memcpy(d, s->d, sizeof d);
        certa_block_header hdr = s->hdr;
        pbft_apply_executed(r, &hdr, d, nreq);
        slot *nx = pbft_slot_peek(r, r->last_exec + 1);
        if (nx != NULL)
            pbft_maybe_commit(r, nx);
    }
}

/* s may have been reset by the execution its caller triggered (a stable
 * checkpoint frees the slots at or below it): then it holds no pre-prepare
 * and nothing happens. */
static void check_committed(certa_pbft *r, slot *s)
{
    CERTA_ASSERT(r != NULL && s != NULL && s->com != NULL);
    if (s->committed || !s->has_pp || !s->has_cert || s->cert_view != s->pp_view)
        return;
    uint16_t cnt = 0;
    for (uint16_t i = 0; i < r->c.n; i++)
        if (s->com[i].has && s->com[i].view == s->pp_view &&
            memcmp(s->com[i].d, s->d, CERTA_HASH_BYTES) == 0)
            cnt++;
    if (cnt < r->q)
        return;
    uint8_t *sigs = pbft_buf_reserve(&s->com_sigs, (size_t)cnt * 66u);
    uint16_t k = 0;
    for (uint16_t i = 0; i < r->c.n; i++)
        if (s->com[i].has && s->com[i].view == s->pp_view &&
            memcmp(s->com[i].d, s->d, CERTA_HASH_BYTES) == 0) {
            certa_put_le16(sigs + 66u * k, i);
            memcpy(sigs + 66u * k + 2, s->com[i].sig, CERTA_SIGNATURE_BYTES);
            k++;
        }
    CERTA_ASSERT(k == cnt);
    s->com_sigs.len = (size_t)cnt * 66u;
    s->com_nsig = cnt;
    s->com_view = s->pp_view;
    s->committed = true;
    CERTA_ASSERT(s->com_nsig >= r->q && s->com_sigs.len <= s->com_sigs.cap);
    pbft_execute_ready(r);
}

void pbft_maybe_commit(certa_pbft *r, slot *s)
{
    CERTA_ASSERT(r != NULL && s != NULL);
    if (!s->has_pp || !s->has_cert || s->cert_view != s->pp_view)
        return;
    if (s->pp_view != r->view || r->in_vc)
        return;
    if (s->commit_sent && s->commit_view == s->pp_view)
        return;
    if (s->seq != r->last_exec + 1)
        return;
    /* a view-change reports certificates up to checkpoint + window only:
     * never commit what could not be reported */
    if (s->seq > r->ck_seq + r->c.window)
        return;
    /* only the next block commits: its parent is executed here */
    CERTA_ASSERT(s->seq == r->last_exec + 1 && r->tip.height == r->last_exec);
    if (memcmp(s->hdr.prev_hash, r->tip_hash, CERTA_HASH_BYTES) != 0 ||
        s->hdr.timestamp_ms < r->tip.timestamp_ms) {
        r->st.chain_refusals++;
        return;
    }
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_REC_CERT;
    certa_pbft_list_parse(s->cert.p, s->cert.len, &m.l1);
    buf rc = pbft_encode_rec(r, &m);
    pbft_persist(r, CERTA_PBFT_REC_CERT, s->seq, s->pp_view, &rc);

    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_COMMIT;
    m.view = s->pp_view;
    m.seq = s->seq;
    memcpy(m.digest, s->d, CERTA_HASH_BYTES);
    buf b = pbft_make_signed(r, &m);
    pbft_persist(r, CERTA_PBFT_MSG_COMMIT, s->seq, s->pp_view, &b);
    pbft_bcast(r, &b);
    s->commit_sent = true;
    s->commit_view = s->pp_view;
    cvote *c = &s->com[r->c.id];
    c->has = true;
    c->view = s->pp_view;
    memcpy(c->d, s->d, CERTA_HASH_BYTES);
    memcpy(c->sig, b.p + b.len - CERTA_SIGNATURE_BYTES, CERTA_SIGNATURE_BYTES);
    CERTA_ASSERT(s->commit_sent && s->com[r->c.id].has);
    check_committed(r, s);
}

void pbft_check_prepared(certa_pbft *r, slot *s)
{
    CERTA_ASSERT(s->seq > r->h && s->seq <= r->h + r->c.window);
    if (!s->has_pp || (s->has_cert && s->cert_view == s->pp_view))
        return;
    uint16_t p = certa_pbft_primary(r, s->pp_view);
    const uint8_t *items[CERTA_PBFT_VALIDATORS_MAX + 1];
    size_t lens[CERTA_PBFT_VALIDATORS_MAX + 1];
    size_t cnt = 0;
    items[cnt] = s->pp.p;
    lens[cnt++] = s->pp.len;
    for (uint16_t i = 0; i < r->c.n && cnt < r->q; i++)
        if (i != p && s->prep[i].has && s->prep[i].view == s->pp_view &&
            memcmp(s->prep[i].d, s->d, CERTA_HASH_BYTES) == 0) {
            items[cnt] = s->prep[i].raw.p;
            lens[cnt++] = s->prep[i].raw.len;
        }
    if (cnt < r->q) /* pre-prepare + 2f prepares */
        return;
    CERTA_ASSERT(cnt <= r->c.n && items[0] == s->pp.p && lens[0] == s->pp.len);
    size_t len = 0;
    bool ok = certa_pbft_list_build_into(items, lens, cnt, &s->cert.p, &s->cert.cap,
                                         &len);
    CERTA_ASSERT(ok && len <= s->cert.cap);
    s->cert.len = len;
    s->has_cert = true;
    s->cert_view = s->pp_view;
    pbft_maybe_commit(r, s);
    check_committed(r, s);
}

/* ---------------------------------------------------------------- pre-prepare */

/* Checks a pre-prepare's content; fills r->reqs (*nreq) and digest. */
bool pbft_pp_content_ok(certa_pbft *r, const certa_pbft_msg *m, bool fresh,
                        size_t *nreq, uint8_t digest[CERTA_HASH_BYTES])
{
    CERTA_ASSERT(m->type == CERTA_PBFT_MSG_PRE_PREPARE);
    CERTA_ASSERT(nreq != NULL && digest != NULL);
    const certa_block_header *h = &m->hdr;
    if (h->height != m->seq || h->view > m->view ||
        h->proposer != certa_pbft_primary(r, h->view))
        return false;
    if (!pbft_decode_reqs(r, &m->reqs, nreq))
        return false;
    for (size_t i = 0; i < *nreq; i++) {
        for (size_t j = 0; j < i; j++)
            if (r->reqs[i].integrator == r->reqs[j].integrator &&
                r->reqs[i].seq == r->reqs[j].seq)
                return false;
        if (fresh && !r->c.app.validate_request(r->c.app.ctx, &r->reqs[i]))
            return false;
    }
    if (fresh && !r->c.app.validate_block(r->c.app.ctx, h, r->reqs, *nreq))
        return false;
    if (fresh && h->view == m->view) {
        uint64_t skew = r->c.clock_skew_ms_max;
        if (h->timestamp_ms > r->real_now + skew)
            return false;
        if (*nreq > 0 && h->timestamp_ms + skew < r->real_now)
            return false;
    }
    pbft_hash_header(r, h, digest);
    return true;
}

void pbft_install_pp(certa_pbft *r, slot *s, const certa_pbft_msg *m,
                     const uint8_t *raw, size_t len,
                     const uint8_t d[CERTA_HASH_BYTES], size_t nreq)
{
    CERTA_ASSERT(m->type == CERTA_PBFT_MSG_PRE_PREPARE && s->seq == m->seq);
    CERTA_ASSERT(raw != NULL && len > 0);
    s->has_pp = true;
    s->pp_view = m->view;
    memcpy(s->d, d, CERTA_HASH_BYTES);
    s->hdr = m->hdr;
    pbft_buf_set(&s->pp, raw, len);
    pbft_mark_proposed(r, nreq, s->seq);
    CERTA_ASSERT(s->has_pp && s->pp.len == len);
}

void pbft_vote_prepare(certa_pbft *r, slot *s)
{
    CERTA_ASSERT(s->has_pp && s->seq > r->h);
    if (r->c.id == certa_pbft_primary(r, s->pp_view))
        return;
    if (s->voted && s->vote_view == s->pp_view)
        return;
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_PREPARE;
    m.view = s->pp_view;
    m.seq = s->seq;
    memcpy(m.digest, s->d, CERTA_HASH_BYTES);
    buf b = pbft_make_signed(r, &m);
    pbft_persist(r, CERTA_PBFT_MSG_PREPARE, s->seq, s->pp_view, &b);
    pbft_bcast(r, &b);
    s->voted = true;
    s->vote_view = s->pp_view;
    memcpy(s->vote_d, s->d, CERTA_HASH_BYTES);
    pvote *v = &s->prep[r->c.id];
    v->has = true;
    v->view = s->pp_view;
    memcpy(v->d, s->d, CERTA_HASH_BYTES);
    pbft_buf_set(&v->raw, b.p, b.len);
}

static void on_pre_prepare(certa_pbft *r, const certa_pbft_msg *m,
                           const uint8_t *raw, size_t len)
{
    CERTA_ASSERT(m->sender < r->c.n && m->sender != r->c.id);
    CERTA_ASSERT(m->type == CERTA_PBFT_MSG_PRE_PREPARE);
    if (r->in_vc || m->view != r->view) {
        r->st.dropped_view++;
        return;
    }
    if (m->sender != certa_pbft_primary(r, r->view)) {
        r->st.dropped_invalid++;
        return;
    }
    slot *s = pbft_slot_get(r, m->seq);
    if (s == NULL) {
        r->st.dropped_window++;
        return;
    }
    if (s->committed || s->executed)
        return;
    uint8_t d[CERTA_HASH_BYTES];
    if (s->has_pp && s->pp_view == m->view) {
        if (len != s->pp.len || memcmp(raw, s->pp.p, len) != 0) {
            certa_pbft_msg old;
            if (certa_pbft_msg_decode(s->pp.p, s->pp.len, &old) == CERTA_OK) {
                pbft_hash_header(r, &m->hdr, d);
                if (memcmp(d, s->d, CERTA_HASH_BYTES) != 0)
                    r->st.dropped_conflict++;
            }
        }
        return;
    }
    size_t nreq = 0;
    if (!pbft_pp_content_ok(r, m, true, &nreq, d)) {
        r->st.dropped_invalid++;
        return;
    }
    if (s->voted && s->vote_view == m->view &&
        memcmp(s->vote_d, d, CERTA_HASH_BYTES) != 0) {
        r->st.dropped_conflict++;
        return;
    }
    /* an old header in a normal pre-prepare is only the re-sent new-view
     * proposal this replica already voted for (before a restart) */
    if (m->hdr.view != m->view &&
        !(s->voted && s->vote_view == m->view &&
          memcmp(s->vote_d, d, CERTA_HASH_BYTES) == 0)) {
        r->st.dropped_invalid++;
        return;
    }
    /* chain and time against the block below, when known */
    slot *below = pbft_slot_peek(r, m->seq - 1);
    if (below != NULL && below->has_pp && below->pp_view == m->view) {
        if (memcmp(m->hdr.prev_hash, below->d, CERTA_HASH_BYTES) != 0 ||
            m->hdr.timestamp_ms < below->hdr.timestamp_ms) {
            r->st.dropped_invalid++;
            return;
        }
    } else if (m->seq - 1 == r->last_exec) {
        if (memcmp(m->hdr.prev_hash, r->tip_hash, CERTA_HASH_BYTES) != 0 ||
            m->hdr.timestamp_ms < r->tip.timestamp_ms) {
            r->st.dropped_invalid++;
            return;
        }
    }
    /* no request twice in flight or again after it executed */
    for (size_t i = 0; i < nreq; i++) {
        if (pbft_executed_req(r, r->reqs[i].integrator, r->reqs[i].seq)) {
            /* nor keep it pending here, to propose it as a later primary */
            int k = pbft_pool_find(r, r->reqs[i].integrator, r->reqs[i].seq);
            if (k >= 0 && r->pool[k].prop_seq == 0)
                pbft_pool_drop(r, (uint32_t)k);
            r->st.dropped_invalid++;
            return;
        }
        int k = pbft_pool_find(r, r->reqs[i].integrator, r->reqs[i].seq);
        if (k >= 0 && r->pool[k].prop_seq != 0 && r->pool[k].prop_seq != m->seq) {
            slot *o = pbft_slot_peek(r, r->pool[k].prop_seq);
            if (o != NULL && o->has_pp && o->pp_view == r->view && !o->executed) {
                r->st.dropped_invalid++;
                return;
            }
        }
    }
    pbft_install_pp(r, s, m, raw, len, d, nreq);
    pbft_vote_prepare(r, s);
    pbft_check_prepared(r, s);
}

/* ---------------------------------------------------------------- votes */

static void on_prepare(certa_pbft *r, const certa_pbft_msg *m,
                       const uint8_t *raw, size_t len)
{
    CERTA_ASSERT(m->sender < r->c.n && m->sender != r->c.id);
    CERTA_ASSERT(m->type == CERTA_PBFT_MSG_PREPARE);
    if (r->in_vc || m->view != r->view) {
        r->st.dropped_view++;
        return;
    }
    if (m->sender == certa_pbft_primary(r, m->view)) {
        r->st.dropped_invalid++;
        return;
    }
    slot *s = pbft_slot_get(r, m->seq);
    if (s == NULL) {
        r->st.dropped_window++;
        return;
    }
    pvote *v = &s->prep[m->sender];
    if (v->has && v->view == m->view) {
        if (memcmp(v->d, m->digest, CERTA_HASH_BYTES) != 0)
            r->st.dropped_conflict++;
        return;
    }
    v->has = true;
    v->view = m->view;
    memcpy(v->d, m->digest, CERTA_HASH_BYTES);
    pbft_buf_set(&v->raw, raw, len);
    pbft_check_prepared(r, s);
}

static void on_commit(certa_pbft *r, const certa_pbft_msg *m)
{
    CERTA_ASSERT(m->sender < r->c.n && m->sender != r->c.id);
    CERTA_ASSERT(m->type == CERTA_PBFT_MSG_COMMIT);
    if (r->in_vc || m->view != r->view) {
        r->st.dropped_view++;
        return;
    }
    slot *s = pbft_slot_get(r, m->seq);
    if (s == NULL) {
        r->st.dropped_window++;
        return;
    }
    cvote *c = &s->com[m->sender];
    if (c->has && c->view == m->view) {
        if (memcmp(c->d, m->digest, CERTA_HASH_BYTES) != 0)
            r->st.dropped_conflict++;
        return;
    }
    c->has = true;
    c->view = m->view;
    memcpy(c->d, m->digest, CERTA_HASH_BYTES);
    memcpy(c->sig, m->sig, CERTA_SIGNATURE_BYTES);
    check_committed(r, s);
}

static void on_checkpoint(certa_pbft *r, const certa_pbft_msg *m,
                          const uint8_t *raw, size_t len)
{
    CERTA_ASSERT(m->sender < r->c.n && m->sender != r->c.id);
    CERTA_ASSERT(m->type == CERTA_PBFT_MSG_CHECKPOINT);
    if (m->seq == 0 || m->seq % r->c.checkpoint_interval != 0) {
        r->st.dropped_invalid++;
        return;
    }
    if (m->seq <= r->h)
        return;
    pbft_ck_store(r, m->sender, m->seq, m->digest, raw, len);
    pbft_check_stable(r);
}

/* ---------------------------------------------------------------- proposing */

static void maybe_propose(certa_pbft *r)
{
    if (r->in_vc || certa_pbft_primary(r, r->view) != r->c.id || !r->parent_ok)
        return;
    while (r->next_seq <= r->h + r->c.window) {
        if (r->c.app.can_propose != NULL &&
            !r->c.app.can_propose(r->c.app.ctx, r->next_seq))
            return;
        size_t cnt = r->n_unprop, bytes = r->bytes_unprop;
        int first = pbft_pool_first_unprop(r);
        uint64_t oldest = first >= 0 ? r->pool[first].arrival_ms : UINT64_MAX;
        if (cnt == 0)
            return;
        if (cnt < r->c.batch_requests_max && bytes < r->c.batch_bytes_max &&
            r->now < oldest + r->c.batch_timeout_ms)
            return;
        slot *s = pbft_slot_get(r, r->next_seq);
        if (s == NULL || s->has_pp) {
            /* a committed block above the new view's top: only a broken
             * quorum gets here; stop proposing until the next view */
            r->parent_ok = false;
            r->st.chain_refusals++;
            return;
        }
        /* first the pool entries the block takes, then their items in the
         * prop_reqs scratch (one reserve, so the pointers into it hold) */
        size_t n = 0, nb = 0;
        uint32_t pick[CERTA_PBFT_BLOCK_REQUESTS_MAX];
        for (uint32_t i = (uint32_t)first; i < r->npool && n < r->c.batch_requests_max;
             i++) {
            pend *p = &r->pool[i];
            if (!p->live || p->prop_seq != 0)
                continue;
            if (n > 0 && nb + p->bytes.len > r->c.batch_bytes_max)
                break;
            /* executed since it came (a later block, or the host's replay
             * horizon passed it): every backup would refuse the block */
            if (pbft_pool_prune(r, i))
                continue;
            pick[n++] = i;
            nb += p->bytes.len;
        }
        if (n == 0)
            continue; /* all pruned: n_unprop fell, the loop re-checks */
        CERTA_ASSERT(n <= r->c.batch_requests_max && n <= CERTA_PBFT_BLOCK_REQUESTS_MAX);
        const uint8_t *items[CERTA_PBFT_BLOCK_REQUESTS_MAX];
        size_t lens[CERTA_PBFT_BLOCK_REQUESTS_MAX];
        uint8_t *it = pbft_buf_reserve(&r->prop_reqs, nb + 10u * n);
        for (size_t k = 0; k < n; k++) {
            const pend *p = &r->pool[pick[k]];
            CERTA_ASSERT(p->live && p->prop_seq == 0);
            certa_put_le16(it, p->integrator);
            certa_put_le64(it + 2, p->seq);
            memcpy(it + 10, p->bytes.p, p->bytes.len);
            items[k] = it;
            lens[k] = 10 + p->bytes.len;
            r->reqs[k] = (certa_pbft_request){p->integrator, p->seq, it + 10,
                                              p->bytes.len};
            it += lens[k];
        }
        r->prop_reqs.len = nb + 10u * n;
        CERTA_ASSERT(it == r->prop_reqs.p + r->prop_reqs.len);
        size_t ll = 0;
        bool built = certa_pbft_list_build_into(items, lens, n, &r->prop_list.p,
                                                &r->prop_list.cap, &ll);
        CERTA_ASSERT(built);
        r->prop_list.len = ll;
        const uint8_t *list = r->prop_list.p;
        certa_pbft_msg m;
        memset(&m, 0, sizeof m);
        m.type = CERTA_PBFT_MSG_PRE_PREPARE;
        m.view = r->view;
        m.seq = r->next_seq;
        m.hdr.height = r->next_seq;
        m.hdr.view = r->view;
        m.hdr.timestamp_ms = r->real_now > r->parent.timestamp_ms ? r->real_now
                                                                  : r->parent.timestamp_ms;
        m.hdr.proposer = r->c.id;
        memcpy(m.hdr.prev_hash, r->parent_hash, CERTA_HASH_BYTES);
        r->c.app.build_block(r->c.app.ctx, &r->parent, &m.hdr, r->reqs, n);
        bool ok = certa_pbft_list_parse(list, ll, &m.reqs);
        CERTA_ASSERT(ok);
        buf b = pbft_make_signed(r, &m);
        uint8_t d[CERTA_HASH_BYTES];
        pbft_hash_header(r, &m.hdr, d);
        pbft_persist(r, CERTA_PBFT_MSG_PRE_PREPARE, m.seq, m.view, &b);
        pbft_bcast(r, &b);
        pbft_install_pp(r, s, &m, b.p, b.len, d, n);
        s->voted = true;
        s->vote_view = r->view;
        memcpy(s->vote_d, d, CERTA_HASH_BYTES);
        r->parent = m.hdr;
        memcpy(r->parent_hash, d, CERTA_HASH_BYTES);
        r->next_seq++;
        r->st.proposals++;
        pbft_check_prepared(r, s);
    }
}

/* ---------------------------------------------------------------- dispatch */

/* A PREPARE for a slot already prepared (or committed), or a COMMIT for a
 * slot already committed, in the current view changes nothing: with n = 4
 * one vote in three arrives after the quorum. It is dropped before its
 * signature is checked, which is the costly part of a vote. */
static bool vote_late(certa_pbft *r, const certa_pbft_msg *m)
{
    CERTA_ASSERT(m->sender < r->c.n && m->sender != r->c.id);
    if ((m->type != CERTA_PBFT_MSG_PREPARE && m->type != CERTA_PBFT_MSG_COMMIT) ||
        r->in_vc || m->view != r->view)
        return false;
    slot *s = pbft_slot_peek(r, m->seq);
    if (s == NULL)
        return false;
    CERTA_ASSERT(s->seq == m->seq);
    if (m->type == CERTA_PBFT_MSG_PREPARE)
        return (s->has_cert && s->cert_view == m->view) ||
               (s->committed && s->com_view == m->view);
    return s->committed && s->com_view == m->view;
}

static void on_message(certa_pbft *r, const uint8_t *bytes, size_t len)
{
    CERTA_ASSERT(r != NULL && (bytes != NULL || len == 0));
    CERTA_ASSERT(r->c.n >= 4 && r->c.id < r->c.n);
    certa_pbft_msg m;
    if (certa_pbft_msg_decode(bytes, len, &m) != CERTA_OK ||
        !certa_pbft_msg_is_signed(m.type)) {
        r->st.dropped_malformed++;
        return;
    }
    if (m.sender >= r->c.n || m.sender == r->c.id) {
        r->st.dropped_outsider++;
        return;
    }
    if (vote_late(r, &m)) {
        r->st.late_votes++;
        return;
    }
    /* A REQUEST carries an integrator's signed batch, which validate_request
     * checks in full, and grants its sender nothing else; the link it came
     * over is authenticated by the host (CURVE). Its own signature is not
     * checked, so a forwarded batch costs the primary one verification, not
     * two. */
    if (m.type != CERTA_PBFT_MSG_REQUEST && !pbft_verify_signed(r, &m)) {
        r->st.dropped_bad_signature++;
        return;
    }
    switch (m.type) {
    case CERTA_PBFT_MSG_REQUEST: {
        certa_pbft_request q = {m.integrator, m.seq, m.body, m.body_len};
        pbft_add_request(r, &q, false);
        break;
    }
    case CERTA_PBFT_MSG_PRE_PREPARE:
        on_pre_prepare(r, &m, bytes, len);
        break;
    case CERTA_PBFT_MSG_PREPARE:
        on_prepare(r, &m, bytes, len);
        break;
    case CERTA_PBFT_MSG_COMMIT:
        on_commit(r, &m);
        break;
    case CERTA_PBFT_MSG_CHECKPOINT:
        on_checkpoint(r, &m, bytes, len);
        break;
    case CERTA_PBFT_MSG_VIEW_CHANGE:
        pbft_on_view_change(r, &m, bytes, len);
        break;
    case CERTA_PBFT_MSG_NEW_VIEW:
        pbft_on_new_view(r, &m, bytes, len);
        break;
    case CERTA_PBFT_MSG_STATUS:
        pbft_on_status(r, &m);
        break;
    case CERTA_PBFT_MSG_FETCH:
        pbft_on_fetch(r, &m);
        break;
    case CERTA_PBFT_MSG_FETCH_REPLY:
        pbft_on_fetch_reply(r, &m);
        break;
    default:
        /* certa_pbft_msg_is_signed let only the types above through */
        CERTA_ASSERT(!certa_pbft_msg_is_signed(m.type));
        r->st.dropped_malformed++;
    }
}

/* Requests not yet in a proposal, again to the pbft_primary (a forward may be
 * lost, or the primary changed), a bounded number per period. */
static void forward_pool(certa_pbft *r)
{
    CERTA_ASSERT(r->npool <= r->c.pending_max);
    uint16_t to;
    if (!pbft_forward_target(r, &to))
        return;
    uint32_t sent = 0;
    for (uint32_t i = 0; i < r->npool && sent < FORWARD_PER_TICK; i++)
        if (r->pool[i].live && r->pool[i].prop_seq == 0 &&
            r->now >= r->pool[i].forwarded_ms + r->c.resend_ms) {
            pbft_forward_request(r, &r->pool[i], to);
            sent++;
        }
}

static void resend(certa_pbft *r)
{
    CERTA_ASSERT(r != NULL && r->now >= r->next_resend);
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_STATUS;
    m.view = r->view;
    m.seq = r->last_exec;
    m.aux = r->h;
    buf b = pbft_make_signed(r, &m);
    pbft_bcast(r, &b);
    ownck *latest = NULL;
    for (int i = 0; i < OWNCK; i++)
        if (r->own[i].seq > r->h && r->own[i].raw.len &&
            (latest == NULL || r->own[i].seq > latest->seq))
            latest = &r->own[i];
    if (latest != NULL)
        pbft_bcast(r, &latest->raw);
    if (r->in_vc) {
        if (r->my_vc.len)
            pbft_bcast(r, &r->my_vc);
        forward_pool(r);
        return;
    }
    uint16_t p = certa_pbft_primary(r, r->view);
    for (uint64_t s = r->last_exec + 1; s <= r->h + r->c.window; s++) {
        slot *sl = pbft_slot_peek(r, s);
        if (sl == NULL || !sl->has_pp || sl->pp_view != r->view || sl->executed)
            continue;
        if (p == r->c.id) {
            /* only to backups that have not voted on it: a block can be
             * megabytes, and re-sending it to all every period would cost
             * more than the consensus itself */
            for (uint16_t i = 0; i < r->c.n; i++) {
                if (i == r->c.id ||
                    (sl->prep[i].has && sl->prep[i].view == r->view) ||
                    (sl->com[i].has && sl->com[i].view == r->view))
                    continue;
                pbft_send_to(r, i, &sl->pp);
            }
        } else if (sl->prep[r->c.id].has && sl->prep[r->c.id].view == r->view)
            pbft_bcast(r, &sl->prep[r->c.id].raw);
        if (sl->commit_sent && sl->commit_view == r->view) {
            certa_pbft_msg c;
            memset(&c, 0, sizeof c);
            c.type = CERTA_PBFT_MSG_COMMIT;
            c.sender = r->c.id;
            c.view = r->view;
            c.seq = s;
            memcpy(c.digest, sl->d, CERTA_HASH_BYTES);
            c.sig = sl->com[r->c.id].sig;
            buf cb = pbft_encode_rec(r, &c);
            pbft_bcast(r, &cb);
        }
    }
    forward_pool(r);
}

static void on_tick(certa_pbft *r)
{
    CERTA_ASSERT(r != NULL && r->slots != NULL);
    maybe_propose(r);
    if (!r->in_vc) {
        int o0 = pbft_pool_oldest_pruned(r);
        if (o0 >= 0) {
            uint64_t tm = pbft_view_timer_ms(r);
            uint64_t ref = r->last_exec_ms;
            if (r->pool[o0].arrival_ms > ref)
                ref = r->pool[o0].arrival_ms;
            if (r->view_start_ms > ref)
                ref = r->view_start_ms;
            if (pbft_peer_ahead(r) > r->last_exec)
                ref = r->now; /* lagging: catch up rather than accuse */
            /* a request starved while others execute also accuses */
            uint64_t oldest = r->pool[o0].arrival_ms > r->view_start_ms
                                  ? r->pool[o0].arrival_ms
                                  : r->view_start_ms;
            if (r->now >= ref + tm ||
                (r->now >= oldest + 4ull * tm && pbft_peer_ahead(r) <= r->last_exec))
                pbft_timer_view_change(r);
        }
    } else if (r->vc_timer && r->now >= r->vc_deadline) {
        pbft_timer_view_change(r);
    }
    if (r->now >= r->next_resend) {
        resend(r);
        r->next_resend = r->now + r->c.resend_ms;
    }
    CERTA_ASSERT(r->next_resend > r->now);
    pbft_maybe_fetch(r);
}

static uint64_t next_timer(certa_pbft *r)
{
    CERTA_ASSERT(r != NULL && r->next_resend > 0);
    int o0 = pbft_pool_oldest(r);
    uint64_t t = r->next_resend;
#define AT(x) do { if ((x) < t) t = (x); } while (0)
    if (r->fetching)
        AT(r->fetch_deadline);
    if (r->in_vc) {
        if (r->vc_timer)
            AT(r->vc_deadline);
    } else if (o0 >= 0) {
        uint64_t ref = r->last_exec_ms;
        if (r->pool[o0].arrival_ms > ref)
            ref = r->pool[o0].arrival_ms;
        if (r->view_start_ms > ref)
            ref = r->view_start_ms;
        AT(ref + pbft_view_timer_ms(r));
        /* a closed can_propose gate reopens with the host's TICK */
        if (certa_pbft_primary(r, r->view) == r->c.id &&
            (r->c.app.can_propose == NULL ||
             r->c.app.can_propose(r->c.app.ctx, r->next_seq))) {
            int u = pbft_pool_first_unprop(r);
            if (u >= 0)
                AT(r->pool[u].arrival_ms + r->c.batch_timeout_ms);
        }
    }
#undef AT
    if (t <= r->now)
        t = r->now + 1;
    CERTA_ASSERT(t > r->now);
    return t;
}

certa_pbft_actions certa_pbft_step(certa_pbft *r, const certa_pbft_input *in,
                                   certa_pbft_time now)
{
    CERTA_ASSERT(r != NULL && in != NULL);
    if (now.mono_ms > r->now)
        r->now = now.mono_ms;
    r->real_now = now.real_ms; /* may go back: only timestamps read it */
    r->nacts = 0;
    r->arena_len = 0;
    switch (in->kind) {
    case CERTA_PBFT_IN_MESSAGE:
        on_message(r, in->bytes, in->len);
        break;
    case CERTA_PBFT_IN_REQUEST: {
        certa_pbft_request q = {in->integrator, in->seq, in->bytes, in->len};
        if (in->len > CERTA_PBFT_REQUEST_BYTES_MAX)
            r->st.dropped_requests++;
        else
            pbft_add_request(r, &q, true);
        break;
    }
    case CERTA_PBFT_IN_TICK:
    default:
        break;
    }
    on_tick(r);
    if (r->cap_items < r->nacts) {
        certa_pbft_action *it = realloc(r->items, r->nacts * sizeof *it);
        CERTA_ASSERT(it != NULL);
        r->items = it;
        r->cap_items = r->nacts;
    }
    for (size_t i = 0; i < r->nacts; i++) {
        r->items[i] = r->acts[i].a;
        r->items[i].bytes = r->acts[i].a.len ? r->arena + r->acts[i].off : NULL;
    }
    certa_pbft_actions out = {r->items, r->nacts, next_timer(r)};
#ifdef CERTA_INVARIANTS
    certa_pbft_check_invariants(r);
#endif
    return out;
}

/* ---------------------------------------------------------------- invariants */

/* Aborts (CERTA_ASSERT) unless the replica's own invariants hold: what is
 * true between any two steps whatever the inputs were, since every input is
 * untrusted. Costs O(window * n + pool), so certa_pbft_step calls it only
 * when CERTA_INVARIANTS is defined (Debug, sanitizer and CI builds); the
 * simulator calls it after every step in any build. Relations that do not
 * hold are left out on purpose: a restart may restore a stable checkpoint
 * above the last executed block (the WAL and block log are synced
 * separately), and a new view may start below this replica's h. */
void certa_pbft_check_invariants(const certa_pbft *r)
{
    CERTA_ASSERT(r != NULL);
    /* quorums: n >= 3f+1 replicas, quorum 2f+1 (2f only under the mutation
     * that proves the simulator catches it) */
    CERTA_ASSERT(r->c.n >= 1 && r->c.id < r->c.n && r->f == (r->c.n - 1) / 3);
    CERTA_ASSERT(r->q == 2 * r->f + 1 ||
                 (r->c.mutation == CERTA_PBFT_MUT_QUORUM_2F && r->q == 2 * r->f));
    /* execution: the tip is the last executed block, and the next height
     * this replica proposes or accepts as primary follows it */
    CERTA_ASSERT(r->tip.height == r->last_exec);
    CERTA_ASSERT(r->next_seq > r->last_exec);
    /* a known parent is the block just below the next height */
    CERTA_ASSERT(!r->parent_ok || r->parent.height + 1 == r->next_seq);
    /* watermarks: the stable checkpoints, adopted or pending, are <= h */
    CERTA_ASSERT(r->ck_seq <= r->h);
    CERTA_ASSERT(r->pend_ck_seq <= r->h);
    for (int i = 0; i < OWNCK; i++)
        CERTA_ASSERT(r->own[i].seq <= r->last_exec &&
                     r->own[i].seq % r->c.checkpoint_interval == 0);
    /* view: a view change is to a view above 0 and this replica's own
     * VIEW-CHANGE for it is kept, to be re-sent */
    CERTA_ASSERT(!r->in_vc || (r->view > 0 && r->my_vc.len > 0));
    /* slots: each in its place and in the window (h, h + window] */
    for (uint32_t i = 0; i < r->c.window; i++) {
        const slot *s = &r->slots[i];
        CERTA_ASSERT(s->prep != NULL && s->com != NULL);
        if (s->seq == 0)
            continue;
        CERTA_ASSERT(s->seq % r->c.window == i);
        CERTA_ASSERT(s->seq > r->h && s->seq <= r->h + r->c.window);
        CERTA_ASSERT(!s->executed || s->seq <= r->last_exec);
        CERTA_ASSERT(!s->has_pp || s->pp.len > 0);
        /* a committed slot keeps its pre-prepare, prepared certificate and
         * a quorum of COMMIT signatures (u16 signer + signature each) */
        if (s->committed) {
            CERTA_ASSERT(s->has_pp && s->has_cert);
            CERTA_ASSERT(s->com_nsig >= r->q &&
                         s->com_sigs.len == (size_t)s->com_nsig * (2u + CERTA_SIGNATURE_BYTES));
        }
    }
    pbft_pool_check_invariants(r);
    /* output: the actions of the last step fit their buffers */
    CERTA_ASSERT(r->nacts <= r->cap_acts && r->arena_len <= r->arena_cap);
}

/* ---------------------------------------------------------------- lifecycle */

bool certa_pbft_set_timing(certa_pbft *r, uint32_t batch_timeout_ms, uint32_t view_timeout_ms,
                           uint32_t batch_bytes_max)
{
    CERTA_ASSERT(r != NULL && r->c.view_timeout_ms > 0);
    if (batch_timeout_ms == 0 || view_timeout_ms <= batch_timeout_ms || batch_bytes_max == 0 ||
        batch_bytes_max > CERTA_BLOCK_BYTES_MAX)
        return false;
    r->c.batch_timeout_ms = batch_timeout_ms;
    r->c.view_timeout_ms = view_timeout_ms;
    r->c.batch_bytes_max = batch_bytes_max;
    CERTA_ASSERT(r->c.view_timeout_ms > r->c.batch_timeout_ms);
    return true;
}

void certa_pbft_config_default(certa_pbft_config *c, uint16_t n, uint16_t id)
{
    CERTA_ASSERT(c != NULL);
    memset(c, 0, sizeof *c);
    c->n = n;
    c->id = id;
    c->checkpoint_interval = 64;
    c->window = 128;
    c->batch_requests_max = 256;
    c->batch_bytes_max = 4u << 20;
    c->batch_timeout_ms = 5;
    c->view_timeout_ms = 1000;
    c->view_backoff_max = 6;
    c->resend_ms = 200;
    c->clock_skew_ms_max = 2000;
    c->view_lookahead = 64;
    c->pending_max = 4096;
    c->fetch_blocks_max = 64;
    /* the defaults pass certa_pbft_create's checks for any n */
    CERTA_ASSERT(c->window >= 2 * c->checkpoint_interval && c->window <= CERTA_PBFT_WINDOW_MAX);
}

/* Sizes at creation the buffers every block uses: the output queue, the
 * scratch encoders, and in every slot the commit signatures (n x 66 bytes)
 * and the n prepare votes (the encoded size of a PREPARE). What depends on
 * the requests (pre-prepares, certificates, request bodies) takes its
 * storage at first use and keeps it (pbft_buf_clear). */
static void presize(certa_pbft *r)
{
    CERTA_ASSERT(r->slots != NULL && r->acts == NULL && r->arena == NULL);
    r->cap_acts = 64;
    r->acts = malloc(r->cap_acts * sizeof *r->acts);
    r->arena_cap = 65536;
    r->arena = malloc(r->arena_cap);
    r->cap_items = 64;
    r->items = malloc(r->cap_items * sizeof *r->items);
    CERTA_ASSERT(r->acts != NULL && r->arena != NULL && r->items != NULL);
    pbft_buf_reserve(&r->out_msg, 4096);
    pbft_buf_reserve(&r->out_rec, 4096);
    pbft_buf_reserve(&r->sigin, 4096);
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_PREPARE;
    size_t vote_len = 0;
    bool ok = certa_pbft_msg_encode_into(&m, &r->out_msg.p, &r->out_msg.cap, &vote_len);
    CERTA_ASSERT(ok && vote_len > CERTA_SIGNATURE_BYTES);
    for (uint32_t i = 0; i < r->c.window; i++) {
        slot *s = &r->slots[i];
        pbft_buf_reserve(&s->com_sigs, (size_t)r->c.n * 66u);
        for (uint16_t k = 0; k < r->c.n; k++)
            pbft_buf_reserve(&s->prep[k].raw, vote_len);
    }
}

certa_err certa_pbft_create(const certa_pbft_config *cfg, certa_pbft **out,
                            certa_errinfo *ei)
{
    *out = NULL;
    if (cfg->n < 4 || cfg->n > CERTA_PBFT_VALIDATORS_MAX || (cfg->n - 1) % 3 != 0)
        return certa_errorf(ei, CERTA_E_ARG, "pbft: n = %u is not 3f+1 in 4..%u",
                            cfg->n, CERTA_PBFT_VALIDATORS_MAX);
    if (cfg->id >= cfg->n)
        return certa_errorf(ei, CERTA_E_ARG, "pbft: id %u >= n %u", cfg->id, cfg->n);
    if (cfg->checkpoint_interval == 0 || cfg->window < 2 * cfg->checkpoint_interval ||
        cfg->window > CERTA_PBFT_WINDOW_MAX)
        return certa_errorf(ei, CERTA_E_ARG,
                            "pbft: window %u must be >= 2 x checkpoint interval %u "
                            "and <= %u",
                            cfg->window, cfg->checkpoint_interval, CERTA_PBFT_WINDOW_MAX);
    if (cfg->batch_requests_max == 0 ||
        cfg->batch_requests_max > CERTA_PBFT_BLOCK_REQUESTS_MAX ||
        cfg->pending_max == 0 || cfg->pending_max > (1u << 24) ||
        cfg->fetch_blocks_max == 0 ||
        cfg->fetch_blocks_max > CERTA_PBFT_WINDOW_MAX || cfg->resend_ms == 0 ||
        cfg->view_timeout_ms == 0 || cfg->view_backoff_max > 20)
        return certa_errorf(ei, CERTA_E_ARG, "pbft: a limit in the config is 0 or too large");
    if (cfg->crypto.sign == NULL || cfg->crypto.verify == NULL ||
        cfg->app.validate_request == NULL || cfg->app.build_block == NULL ||
        cfg->app.validate_block == NULL)
        return certa_errorf(ei, CERTA_E_ARG, "pbft: crypto or app callback missing");
    certa_pbft *r = calloc(1, sizeof *r);
    if (r == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "pbft: replica");
    r->c = *cfg;
    r->f = (uint16_t)((cfg->n - 1) / 3);
    r->q = (uint16_t)(2 * r->f + 1);
    if (cfg->mutation == CERTA_PBFT_MUT_QUORUM_2F)
        r->q = (uint16_t)(2 * r->f);
    r->slots = calloc(cfg->window, sizeof *r->slots);
    r->pool = calloc(cfg->pending_max, sizeof *r->pool);
    r->ckr = calloc(cfg->n, sizeof *r->ckr);
    r->vcs = calloc(cfg->n, sizeof *r->vcs);
    r->vc_views = calloc(cfg->n, sizeof *r->vc_views);
    r->peer_exec = calloc(cfg->n, sizeof *r->peer_exec);
    r->peer_view = malloc(cfg->n * sizeof *r->peer_view);
    r->peer_view_ms = calloc(cfg->n, sizeof *r->peer_view_ms);
    r->reqs = calloc(CERTA_PBFT_BLOCK_REQUESTS_MAX, sizeof *r->reqs);
    uint32_t htcap = 16;
    while (htcap < 2u * cfg->pending_max)
        htcap *= 2;
    r->htmask = htcap - 1;
    r->ht = calloc(htcap, sizeof *r->ht);
    bool ok = r->slots && r->pool && r->ckr && r->vcs && r->vc_views &&
              r->peer_exec && r->peer_view && r->peer_view_ms && r->reqs && r->ht;
    for (uint16_t i = 0; ok && i < cfg->n; i++)
        r->peer_view[i] = UINT64_MAX; /* not reported yet */
    for (uint32_t i = 0; ok && i < cfg->window; i++) {
        r->slots[i].prep = calloc(cfg->n, sizeof(pvote));
        r->slots[i].com = calloc(cfg->n, sizeof(cvote));
        ok = r->slots[i].prep && r->slots[i].com;
    }
    if (!ok) {
        certa_pbft_free(r);
        return certa_errorf(ei, CERTA_E_NOMEM, "pbft: replica tables");
    }
    presize(r);
    r->tip = cfg->genesis;
    pbft_hash_header(r, &cfg->genesis, r->tip_hash);
    r->ck_hdr = cfg->genesis;
    memcpy(r->ck_hash, r->tip_hash, CERTA_HASH_BYTES);
    r->next_seq = 1;
    r->parent = r->tip;
    memcpy(r->parent_hash, r->tip_hash, CERTA_HASH_BYTES);
    r->parent_ok = true;
    CERTA_ASSERT(r->q <= r->c.n && r->next_seq == r->last_exec + 1);
    *out = r;
    return CERTA_OK;
}

void certa_pbft_free(certa_pbft *r)
{
    if (r == NULL)
        return;
    if (r->slots != NULL)
        for (uint32_t i = 0; i < r->c.window; i++) {
            slot *s = &r->slots[i];
            if (s->prep != NULL)
                for (uint16_t k = 0; k < r->c.n; k++)
                    pbft_buf_free(&s->prep[k].raw);
            pbft_buf_free(&s->pp);
            pbft_buf_free(&s->cert);
            pbft_buf_free(&s->com_sigs);
            free(r->slots[i].prep);
            free(r->slots[i].com);
        }
    /* every entry, not only the first npool: emptied ones keep storage */
    for (uint32_t i = 0; r->pool && i < r->c.pending_max; i++)
        pbft_buf_free(&r->pool[i].bytes);
    free(r->ht);
    for (uint16_t i = 0; r->ckr && i < r->c.n; i++)
        for (int k = 0; k < CKR; k++)
            pbft_buf_free(&r->ckr[i][k].raw);
    for (uint16_t i = 0; r->vcs && i < r->c.n; i++)
        pbft_buf_free(&r->vcs[i]);
    for (int i = 0; i < OWNCK; i++)
        pbft_buf_free(&r->own[i].raw);
    pbft_buf_free(&r->my_vc);
    pbft_buf_free(&r->nv);
    pbft_buf_free(&r->ck_proof);
    pbft_buf_free(&r->pend_ck_proof);
    pbft_buf_free(&r->sigin);
    pbft_buf_free(&r->out_msg);
    pbft_buf_free(&r->out_rec);
    pbft_buf_free(&r->prop_reqs);
    pbft_buf_free(&r->prop_list);
    free(r->slots);
    free(r->pool);
    free(r->ckr);
    free(r->vcs);
    free(r->vc_views);
    free(r->peer_exec);
    free(r->peer_view);
    free(r->peer_view_ms);
    free(r->reqs);
    free(r->acts);
    free(r->arena);
    free(r->items);
    free(r);
}

static void restore_pp(certa_pbft *r, slot *s, const certa_pbft_msg *m,
                       const uint8_t *raw, size_t len)
{
    CERTA_ASSERT(m->type == CERTA_PBFT_MSG_PRE_PREPARE && s->seq == m->seq);
    pbft_hash_header(r, &m->hdr, s->vote_d);
    if (m->view != r->view || r->in_vc)
        return;
    s->has_pp = true;
    s->pp_view = m->view;
    memcpy(s->d, s->vote_d, CERTA_HASH_BYTES);
    s->hdr = m->hdr;
    pbft_buf_set(&s->pp, raw, len);
    if (m->seq >= r->next_seq) {
        r->next_seq = m->seq + 1;
        r->parent = m->hdr;
        memcpy(r->parent_hash, s->d, CERTA_HASH_BYTES);
    }
}

certa_err certa_pbft_restore(certa_pbft *r, const uint8_t *tip, size_t tip_len,
                             const uint8_t *const *records,
                             const size_t *record_lens, size_t count,
                             certa_errinfo *ei)
{
    CERTA_ASSERT(r != NULL && (records != NULL || count == 0));
    certa_pbft_msg m;
    if (tip != NULL) {
        if (certa_pbft_msg_decode(tip, tip_len, &m) != CERTA_OK ||
            m.type != CERTA_PBFT_REC_BLOCK)
            return certa_errorf(ei, CERTA_E_PBFT, "pbft restore: tip is not a block record");
        r->last_exec = m.hdr.height;
        r->tip = m.hdr;
        pbft_hash_header(r, &m.hdr, r->tip_hash);
        r->next_seq = r->last_exec + 1;
        r->parent = r->tip;
        memcpy(r->parent_hash, r->tip_hash, CERTA_HASH_BYTES);
    }
    uint64_t vmax = 0, vc_view = 0;
    bool other_at = false;
    const uint8_t *nvrec = NULL;
    size_t nvlen = 0;
    for (size_t i = 0; i < count; i++) {
        if (certa_pbft_msg_decode(records[i], record_lens[i], &m) != CERTA_OK)
            return certa_errorf(ei, CERTA_E_PBFT, "pbft restore: record %zu malformed", i);
        if (m.type == CERTA_PBFT_REC_CHECKPOINT && m.seq > r->ck_seq) {
            r->ck_seq = m.seq;
            r->ck_hdr = m.hdr;
            pbft_hash_header(r, &m.hdr, r->ck_hash);
            pbft_buf_set(&r->ck_proof, m.l1.p - 4, m.l1.len + 4);
            if (m.seq > r->h)
                r->h = m.seq;
        }
        if (m.type == CERTA_PBFT_MSG_VIEW_CHANGE && m.view >= vc_view)
            vc_view = m.view;
        if (m.type == CERTA_PBFT_MSG_NEW_VIEW && m.view >= vmax) {
            nvrec = records[i];
            nvlen = record_lens[i];
        }
        if (m.type == CERTA_PBFT_MSG_PRE_PREPARE || m.type == CERTA_PBFT_MSG_PREPARE ||
            m.type == CERTA_PBFT_MSG_COMMIT || m.type == CERTA_PBFT_MSG_NEW_VIEW) {
            if (m.view > vmax)
                vmax = m.view;
        }
    }
    other_at = vmax >= vc_view;
    r->view = vmax > vc_view ? vmax : vc_view;
    r->in_vc = !other_at && vc_view > 0;
    if (r->next_seq <= r->h)
        r->next_seq = r->h + 1;
    for (size_t i = 0; i < count; i++) {
        certa_pbft_msg_decode(records[i], record_lens[i], &m);
        if (m.type == CERTA_PBFT_MSG_VIEW_CHANGE && r->in_vc && m.view == r->view) {
            pbft_buf_set(&r->my_vc, records[i], record_lens[i]);
            pbft_buf_set(&r->vcs[r->c.id], records[i], record_lens[i]);
            r->vc_views[r->c.id] = m.view;
        }
        if (m.type == CERTA_PBFT_REC_CERT) {
            size_t pos = 0;
            const uint8_t *it;
            size_t il;
            certa_pbft_msg pp;
            if (!certa_pbft_list_next(&m.l1, &pos, &it, &il) ||
                certa_pbft_msg_decode(it, il, &pp) != CERTA_OK)
                continue;
            slot *s = pbft_slot_get(r, pp.seq);
            if (s != NULL && (!s->has_cert || s->cert_view < pp.view)) {
                pbft_buf_set(&s->cert, m.l1.p - 4, m.l1.len + 4);
                s->has_cert = true;
                s->cert_view = pp.view;
            }
        }
        if (m.type == CERTA_PBFT_MSG_PREPARE || m.type == CERTA_PBFT_MSG_PRE_PREPARE) {
            slot *s = pbft_slot_get(r, m.seq);
            if (s == NULL || (s->voted && s->vote_view >= m.view))
                continue;
            s->voted = true;
            s->vote_view = m.view;
            if (m.type == CERTA_PBFT_MSG_PREPARE) {
                memcpy(s->vote_d, m.digest, CERTA_HASH_BYTES);
                if (m.view == r->view) {
                    s->prep[r->c.id].has = true;
                    s->prep[r->c.id].view = m.view;
                    memcpy(s->prep[r->c.id].d, m.digest, CERTA_HASH_BYTES);
                    pbft_buf_set(&s->prep[r->c.id].raw, records[i], record_lens[i]);
                }
            } else {
                restore_pp(r, s, &m, records[i], record_lens[i]);
            }
        }
        if (m.type == CERTA_PBFT_MSG_COMMIT) {
            slot *s = pbft_slot_get(r, m.seq);
            if (s != NULL && m.view == r->view) {
                s->commit_sent = true;
                s->commit_view = m.view;
                s->com[r->c.id].has = true;
                s->com[r->c.id].view = m.view;
                memcpy(s->com[r->c.id].d, m.digest, CERTA_HASH_BYTES);
                memcpy(s->com[r->c.id].sig, m.sig, CERTA_SIGNATURE_BYTES);
            }
        }
    }
    if (nvrec != NULL && !r->in_vc && certa_pbft_primary(r, r->view) == r->c.id) {
        certa_pbft_msg_decode(nvrec, nvlen, &m);
        if (m.view == r->view) {
            pbft_buf_set(&r->nv, nvrec, nvlen);
            size_t pos = 0;
            const uint8_t *it;
            size_t il;
            while (certa_pbft_list_next(&m.l2, &pos, &it, &il)) {
                certa_pbft_msg pp;
                if (certa_pbft_msg_decode(it, il, &pp) != CERTA_OK)
                    continue;
                slot *s = pbft_slot_get(r, pp.seq);
                if (s != NULL && !(s->voted && s->vote_view > pp.view)) {
                    s->voted = true;
                    s->vote_view = pp.view;
                    restore_pp(r, s, &pp, it, il);
                }
            }
        }
    }
    /* the parent for the next proposal must be known, else wait for a view
     * change or for execution to reach it.
     * A stable checkpoint above the tip (its record persisted, the blocks
     * up to it not yet: the host writes them apart) leaves h above
     * last_exec and next_seq at h + 1 while parent is still the tip. That is
     * consistent, not a gap: parent_ok is false then (next_seq is not
     * last_exec + 1 and the slot of h is below the window), so this replica
     * proposes nothing; it cannot commit either (only last_exec + 1
     * commits, and that is below the window); pbft_maybe_fetch asks for the
     * blocks up to h at the first tick (h > last_exec), and executing
     * block h = next_seq - 1 makes it the parent (pbft_apply_executed). */
    r->parent_ok = r->next_seq == r->last_exec + 1;
    slot *below = pbft_slot_peek(r, r->next_seq - 1);
    if (below != NULL && below->has_pp && below->pp_view == r->view)
        r->parent_ok = true;
    CERTA_ASSERT(r->next_seq > r->h && r->next_seq > r->last_exec);
    CERTA_ASSERT(!r->parent_ok || r->parent.height + 1 == r->next_seq);
    CERTA_ASSERT(r->ck_seq <= r->h && r->tip.height == r->last_exec);
    r->nacts = 0;
    r->arena_len = 0;
    return CERTA_OK;
}

const certa_pbft_stats *certa_pbft_get_stats(const certa_pbft *r) { return &r->st; }
uint64_t certa_pbft_view(const certa_pbft *r) { return r->view; }
bool certa_pbft_in_view_change(const certa_pbft *r) { return r->in_vc; }
uint64_t certa_pbft_last_executed(const certa_pbft *r) { return r->last_exec; }
uint64_t certa_pbft_stable_checkpoint(const certa_pbft *r) { return r->h; }
