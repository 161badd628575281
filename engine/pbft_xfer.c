/* pbft_xfer: checkpoints and state transfer (part of the PBFT core, see
 * pbft_internal.h): CHECKPOINT quorums and the low watermark, following the
 * view of the others, and fetching committed blocks from peers ahead.
 *
 * Invariants kept by this file:
 *  - the low watermark h only moves up, on a stable checkpoint (2f+1
 *    matching CHECKPOINT messages) or a verified new view; slots <= h are
 *    freed;
 *  - a fetched block is delivered only with a valid commit certificate and
 *    in height order after the last executed one.
 */
#include "pbft_internal.h"

/* ---------------------------------------------------------------- checkpoints */

static ownck *own_find(certa_pbft *r, uint64_t seq)
{
    CERTA_ASSERT(seq <= r->last_exec); /* only executed checkpoints are kept */
    for (int i = 0; i < OWNCK; i++)
        if (r->own[i].seq == seq && seq != 0) {
            /* kept with the CHECKPOINT this replica signed for it */
            CERTA_ASSERT(r->own[i].raw.len > 0 && r->own[i].hdr.height == seq);
            return &r->own[i];
        }
    return NULL;
}

void pbft_set_low(certa_pbft *r, uint64_t s)
{
    if (s <= r->h)
        return;
    for (uint32_t i = 0; i < r->c.window; i++)
        if (r->slots[i].seq != 0 && r->slots[i].seq <= s)
            pbft_slot_reset(r, &r->slots[i]);
    r->h = s;
    CERTA_ASSERT(r->ck_seq <= r->h);
    if (r->next_seq <= s) {
        r->next_seq = s + 1;
        r->parent_ok = false;
        if (r->last_exec == s) {
            r->parent = r->tip;
            memcpy(r->parent_hash, r->tip_hash, CERTA_HASH_BYTES);
            r->parent_ok = true;
        }
    }
    CERTA_ASSERT(r->h == s && r->next_seq > s);
    pbft_emit(r, CERTA_PBFT_ACT_PERSIST_GC, 0, 0, s, r->view, NULL, 0);
}

/* Adopts the pending stable checkpoint once this replica executed it. */
void pbft_adopt_ck(certa_pbft *r)
{
    if (r->pend_ck_seq <= r->ck_seq || r->pend_ck_seq > r->last_exec)
        return;
    ownck *o = own_find(r, r->pend_ck_seq);
    certa_block_header hdr;
    uint8_t hash[CERTA_HASH_BYTES];
    if (o != NULL) {
        hdr = o->hdr;
        memcpy(hash, o->hash, CERTA_HASH_BYTES);
    } else {
        /* executed before a restart: the stored block has the header */
        const uint8_t *rec;
        size_t len;
        certa_pbft_msg m;
        if (r->c.app.read_block == NULL ||
            !r->c.app.read_block(r->c.app.ctx, r->pend_ck_seq, &rec, &len) ||
            certa_pbft_msg_decode(rec, len, &m) != CERTA_OK ||
            m.type != CERTA_PBFT_REC_BLOCK)
            return;
        hdr = m.hdr;
        pbft_hash_header(r, &hdr, hash);
    }
    if (memcmp(hash, r->pend_ck_hash, CERTA_HASH_BYTES) != 0)
        return;
    r->ck_seq = r->pend_ck_seq;
    r->ck_hdr = hdr;
    memcpy(r->ck_hash, hash, CERTA_HASH_BYTES);
    pbft_buf_set(&r->ck_proof, r->pend_ck_proof.p, r->pend_ck_proof.len);
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_REC_CHECKPOINT;
    m.seq = r->ck_seq;
    m.hdr = r->ck_hdr;
    certa_pbft_list_parse(r->ck_proof.p, r->ck_proof.len, &m.l1);
    buf b = pbft_encode_rec(r, &m);
    pbft_persist(r, CERTA_PBFT_REC_CHECKPOINT, 0, 0, &b);
    CERTA_ASSERT(r->ck_seq <= r->last_exec && r->ck_seq <= r->h);
    r->st.checkpoints_stable++;
}

static void fetch_now(certa_pbft *r);

void pbft_check_stable(certa_pbft *r)
{
    uint64_t best = 0;
    const uint8_t *bd = NULL;
    for (uint16_t i = 0; i < r->c.n; i++)
        for (int k = 0; k < CKR; k++) {
            const ckmsg *c = &r->ckr[i][k];
            if (c->seq <= r->h || c->seq <= best)
                continue;
            uint16_t cnt = 0;
            for (uint16_t j = 0; j < r->c.n; j++)
                for (int l = 0; l < CKR; l++)
                    if (r->ckr[j][l].seq == c->seq &&
                        memcmp(r->ckr[j][l].d, c->d, CERTA_HASH_BYTES) == 0)
                        cnt++;
            if (cnt >= r->q) {
                best = c->seq;
                bd = c->d;
            }
        }
    if (best == 0)
        return;
    const uint8_t *items[CERTA_PBFT_VALIDATORS_MAX];
    size_t lens[CERTA_PBFT_VALIDATORS_MAX];
    size_t cnt = 0;
    for (uint16_t j = 0; j < r->c.n && cnt < r->q; j++)
        for (int l = 0; l < CKR; l++)
            if (r->ckr[j][l].seq == best &&
                memcmp(r->ckr[j][l].d, bd, CERTA_HASH_BYTES) == 0) {
                items[cnt] = r->ckr[j][l].raw.p;
                lens[cnt] = r->ckr[j][l].raw.len;
                cnt++;
                break;
            }
    /* one CHECKPOINT per sender is kept per height: q matches, q senders */
    CERTA_ASSERT(cnt == r->q && best > r->h);
    size_t pl = 0;
    bool ok = certa_pbft_list_build_into(items, lens, cnt, &r->pend_ck_proof.p,
                                         &r->pend_ck_proof.cap, &pl);
    CERTA_ASSERT(ok && pl <= r->pend_ck_proof.cap);
    r->pend_ck_proof.len = pl;
    r->pend_ck_seq = best;
    memcpy(r->pend_ck_hash, bd, CERTA_HASH_BYTES);
    pbft_set_low(r, best);
    pbft_adopt_ck(r);
    if (r->last_exec < best)
        fetch_now(r);
}

void pbft_ck_store(certa_pbft *r, uint16_t sender, uint64_t seq,
                   const uint8_t d[CERTA_HASH_BYTES], const uint8_t *raw,
                   size_t len)
{
    CERTA_ASSERT(sender < r->c.n && seq > 0);
    CERTA_ASSERT(raw != NULL && len > 0);
    ckmsg *row = r->ckr[sender];
    int low = 0;
    for (int k = 0; k < CKR; k++) {
        if (row[k].seq == seq)
            return;
        if (row[k].seq < row[low].seq)
            low = k;
    }
    if (row[low].seq > seq)
        return;
    row[low].seq = seq;
    memcpy(row[low].d, d, CERTA_HASH_BYTES);
    pbft_buf_set(&row[low].raw, raw, len);
}

/* ---------------------------------------------------------------- state transfer */

/* A replica alone in a view change: it went to view v (its own timer, a
 * partition) while 2f+1 of the others report, in their STATUS, one lower
 * view w in which they order without it. Its VIEW-CHANGE for v promised not
 * to vote below v, and PBFT's safety rests on that promise (a NEW-VIEW for v
 * may yet be built from that message), so it keeps it: it follows w without
 * voting. It executes w's blocks by state transfer, which checks their
 * commit certificates and needs no vote, and forwards its clients' requests
 * to w's primary. Its votes come back with the next view change that
 * reaches v. The others commit in w with 2f+1 of themselves, as if it had
 * failed: while it follows, it counts against f. */
static bool status_fresh(const certa_pbft *r, uint16_t i)
{
    CERTA_ASSERT(i < r->c.n);
    CERTA_ASSERT(r->peer_view != NULL && r->peer_view_ms != NULL);
    /* a report from before this view change says nothing of now (a peer
     * cut off since keeps its old view here), nor does an old one */
    return i != r->c.id && r->peer_view[i] != UINT64_MAX &&
           r->peer_view_ms[i] >= r->vc_start_ms &&
           r->now <= r->peer_view_ms[i] + r->c.view_timeout_ms;
}

bool pbft_following(const certa_pbft *r, uint64_t *view)
{
    if (!r->in_vc)
        return false;
    bool found = false;
    uint64_t best = 0;
    for (uint16_t i = 0; i < r->c.n; i++) {
        uint64_t w = r->peer_view[i];
        if (!status_fresh(r, i) || w >= r->view || (found && w <= best))
            continue;
        uint16_t cnt = 0;
        for (uint16_t j = 0; j < r->c.n; j++)
            if (status_fresh(r, j) && r->peer_view[j] == w)
                cnt++;
        if (cnt >= r->q) {
            best = w;
            found = true;
        }
    }
    CERTA_ASSERT(!found || best < r->view);
    if (found)
        *view = best;
    return found;
}

bool certa_pbft_following(const certa_pbft *r, uint64_t *view)
{
    CERTA_ASSERT(r != NULL && view != NULL);
    return pbft_following(r, view);
}

bool certa_pbft_awaiting_view(const certa_pbft *r)
{
    CERTA_ASSERT(r != NULL);
    uint64_t w;
    return r->in_vc && !pbft_following(r, &w);
}

uint64_t pbft_peer_ahead(const certa_pbft *r)
{
    /* the (f+1)-th highest reported height: at least one honest replica has
     * it, so a liar cannot stall us with a huge claim */
    uint64_t top[CERTA_PBFT_VALIDATORS_MAX];
    size_t k = 0;
    for (uint16_t i = 0; i < r->c.n; i++)
        if (i != r->c.id)
            top[k++] = r->peer_exec[i];
    CERTA_ASSERT(k + 1 == r->c.n);
    for (size_t i = 0; i < k; i++)
        for (size_t j = i + 1; j < k; j++)
            if (top[j] > top[i]) {
                uint64_t t = top[i];
                top[i] = top[j];
                top[j] = t;
            }
    return r->f < k ? top[r->f] : 0;
}

static void fetch_now(certa_pbft *r)
{
    if (r->fetching && r->now < r->fetch_deadline)
        return;
    uint64_t maxpeer = 0;
    for (uint16_t i = 0; i < r->c.n; i++)
        if (i != r->c.id && r->peer_exec[i] > maxpeer)
            maxpeer = r->peer_exec[i];
    uint16_t to = r->c.id;
    for (uint16_t k = 0; k < r->c.n; k++) {
        uint16_t i = (uint16_t)((r->fetch_rr + 1u + k) % r->c.n);
        if (i == r->c.id)
            continue;
        if (r->peer_exec[i] > r->last_exec || maxpeer <= r->last_exec) {
            to = i;
            break;
        }
    }
    if (to == r->c.id)
        return;
    r->fetch_rr = to;
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_FETCH;
    m.seq = r->last_exec + 1;
    m.aux = r->c.fetch_blocks_max;
    buf b = pbft_make_signed(r, &m);
    pbft_send_to(r, to, &b);
    r->fetching = true;
    r->fetch_deadline = r->now + r->c.resend_ms;
    CERTA_ASSERT(r->fetch_deadline > r->now);
    r->st.fetches_sent++;
}

void pbft_maybe_fetch(certa_pbft *r)
{
    CERTA_ASSERT(r != NULL && r->peer_exec != NULL);
    if (r->h > r->last_exec) {
        /* a stable checkpoint above what this replica executed (after a
         * restart, or proofs from peers): the blocks up to h are below the
         * window, only state transfer brings them */
        fetch_now(r);
        return;
    }
    CERTA_ASSERT(r->h <= r->last_exec);
    /* one peer ahead is enough to ask: what it returns is checked against
     * commit certificates, and a liar only costs a FETCH per period (the
     * view-change timer, which a liar could stall, uses peer_ahead) */
    uint64_t maxpeer = 0;
    for (uint16_t i = 0; i < r->c.n; i++)
        if (i != r->c.id && r->peer_exec[i] > maxpeer)
            maxpeer = r->peer_exec[i];
    if (maxpeer > r->last_exec && r->now >= r->last_exec_ms + r->c.resend_ms)
        fetch_now(r);
}

void pbft_on_fetch(certa_pbft *r, const certa_pbft_msg *m)
{
    CERTA_ASSERT(m->sender < r->c.n && m->sender != r->c.id);
    CERTA_ASSERT(m->type == CERTA_PBFT_MSG_FETCH);
    if (m->seq == 0 || m->seq > r->last_exec || r->c.app.read_block == NULL)
        return;
    uint64_t cnt = m->aux < r->c.fetch_blocks_max ? m->aux : r->c.fetch_blocks_max;
    buf recs[CERTA_PBFT_WINDOW_MAX];
    const uint8_t *items[CERTA_PBFT_WINDOW_MAX];
    size_t lens[CERTA_PBFT_WINDOW_MAX];
    size_t k = 0, total = 0;
    for (uint64_t hgt = m->seq; hgt <= r->last_exec && k < cnt &&
                                k < CERTA_PBFT_WINDOW_MAX && total < (8u << 20);
         hgt++) {
        const uint8_t *p;
        size_t len;
        if (!r->c.app.read_block(r->c.app.ctx, hgt, &p, &len))
            break;
        recs[k] = (buf){NULL, 0, 0};
        pbft_buf_set(&recs[k], p, len);
        items[k] = recs[k].p;
        lens[k] = len;
        total += len;
        k++;
    }
    if (k == 0)
        return;
    CERTA_ASSERT(k <= cnt && m->seq + k - 1 <= r->last_exec);
    size_t ll = 0;
    uint8_t *l = certa_pbft_list_build(items, lens, k, &ll);
    CERTA_ASSERT(l != NULL);
    certa_pbft_msg out;
    memset(&out, 0, sizeof out);
    out.type = CERTA_PBFT_MSG_FETCH_REPLY;
    certa_pbft_list_parse(l, ll, &out.l1);
    buf b = pbft_make_signed(r, &out);
    pbft_send_to(r, m->sender, &b);
    free(l);
    for (size_t i = 0; i < k; i++)
        pbft_buf_free(&recs[i]);
}

/* The core's key set: its chain, n and quorum, and its pluggable crypto
 * (Ed25519 in the daemon, a fake in the simulator). */
static void pbft_keyset(const certa_pbft_crypto *c, const uint8_t chain_id[CERTA_HASH_BYTES],
                        uint16_t n, uint16_t quorum, certa_block_keyset *ks)
{
    CERTA_ASSERT(c != NULL && c->verify != NULL && quorum <= n);
    memset(ks, 0, sizeof *ks);
    memcpy(ks->chain_id, chain_id, CERTA_HASH_BYTES);
    ks->n = n;
    ks->quorum = quorum;
    ks->verify = c->verify;
    ks->ctx = c->ctx;
}

bool certa_pbft_verify_commit_cert(const certa_pbft_crypto *c,
                                   const uint8_t chain_id[CERTA_HASH_BYTES],
                                   uint16_t n, uint64_t view, uint64_t height,
                                   const uint8_t hash[CERTA_HASH_BYTES],
                                   const uint16_t *signers,
                                   const uint8_t (*sigs)[CERTA_SIGNATURE_BYTES],
                                   size_t count)
{
    CERTA_ASSERT(count == 0 || (c != NULL && chain_id != NULL && hash != NULL &&
                                signers != NULL && sigs != NULL));
    if (count == 0 || count > CERTA_PBFT_VALIDATORS_MAX || n == 0 ||
        n > CERTA_PBFT_VALIDATORS_MAX)
        return false; /* no quorum is empty */
    certa_commit_cert cert;
    memset(&cert, 0, sizeof cert);
    cert.view = view;
    cert.height = height;
    memcpy(cert.block_hash, hash, CERTA_HASH_BYTES);
    cert.count = (uint16_t)count;
    for (size_t i = 0; i < count; i++) {
        cert.sigs[i].validator = signers[i];
        memcpy(cert.sigs[i].sig, sigs[i], CERTA_SIGNATURE_BYTES);
    }
    certa_block_keyset ks;
    pbft_keyset(c, chain_id, n, (uint16_t)(2u * ((n - 1u) / 3u) + 1u), &ks);
    return certa_block_cert_verify(&cert, &ks, NULL) == CERTA_OK;
}

/* Verifies a block record against the tip; fills r->reqs (*nreq), hash. */
static bool record_ok(certa_pbft *r, const certa_pbft_msg *rec, size_t *nreq,
                      uint8_t hash[CERTA_HASH_BYTES])
{
    CERTA_ASSERT(rec != NULL && nreq != NULL);
    if (rec->type != CERTA_PBFT_REC_BLOCK || rec->hdr.height != r->last_exec + 1 ||
        memcmp(rec->hdr.prev_hash, r->tip_hash, CERTA_HASH_BYTES) != 0 ||
        rec->hdr.timestamp_ms < r->tip.timestamp_ms || rec->sig_count < r->q)
        return false;
    pbft_hash_header(r, &rec->hdr, hash);
    /* the one verifier of commit certificates (engine/block.c) */
    certa_block blk = {.hdr = rec->hdr, .commit_view = rec->aux,
                       .sig_count = rec->sig_count, .sigs = rec->sigs};
    certa_commit_cert cert;
    certa_block_cert(&blk, hash, &cert);
    certa_block_keyset ks;
    pbft_keyset(&r->c.crypto, r->c.chain_id, r->c.n, r->q, &ks);
    if (certa_block_cert_verify(&cert, &ks, NULL) != CERTA_OK)
        return false;
    if (r->pend_ck_seq == rec->hdr.height &&
        memcmp(r->pend_ck_hash, hash, CERTA_HASH_BYTES) != 0)
        return false;
    if (!pbft_decode_reqs(r, &rec->reqs, nreq))
        return false;
    CERTA_ASSERT(*nreq <= CERTA_PBFT_BLOCK_REQUESTS_MAX);
    for (size_t i = 0; i < *nreq; i++)
        if (!r->c.app.validate_request(r->c.app.ctx, &r->reqs[i]))
            return false;
    return r->c.app.validate_block(r->c.app.ctx, &rec->hdr, r->reqs, *nreq);
}

void pbft_on_fetch_reply(certa_pbft *r, const certa_pbft_msg *m)
{
    CERTA_ASSERT(m->sender < r->c.n && m->sender != r->c.id);
    CERTA_ASSERT(m->type == CERTA_PBFT_MSG_FETCH_REPLY);
    size_t pos = 0;
    const uint8_t *it;
    size_t il;
    bool progress = false;
    while (certa_pbft_list_next(&m->l1, &pos, &it, &il)) {
        certa_pbft_msg rec;
        if (certa_pbft_msg_decode(it, il, &rec) != CERTA_OK) {
            r->st.dropped_invalid++;
            break;
        }
        if (rec.type == CERTA_PBFT_REC_BLOCK && rec.hdr.height <= r->last_exec)
            continue;
        size_t nreq = 0;
        uint8_t hash[CERTA_HASH_BYTES];
        if (!record_ok(r, &rec, &nreq, hash)) {
            r->st.dropped_invalid++;
            break;
        }
        pbft_emit(r, CERTA_PBFT_ACT_DELIVER, 0, CERTA_PBFT_REC_BLOCK, rec.hdr.height,
             rec.aux, it, il);
        r->st.blocks_fetched++;
        certa_block_header hdr = rec.hdr;
        pbft_apply_executed(r, &hdr, hash, nreq);
        CERTA_ASSERT(r->last_exec == hdr.height);
        progress = true;
    }
    if (progress) {
        r->fetching = false;
        pbft_execute_ready(r);
        slot *nx = pbft_slot_peek(r, r->last_exec + 1);
        if (nx != NULL)
            pbft_maybe_commit(r, nx);
        pbft_maybe_fetch(r);
    }
}

void pbft_on_status(certa_pbft *r, const certa_pbft_msg *m)
{
    CERTA_ASSERT(m->sender < r->c.n && m->sender != r->c.id);
    CERTA_ASSERT(m->type == CERTA_PBFT_MSG_STATUS);
    if (m->seq > r->peer_exec[m->sender])
        r->peer_exec[m->sender] = m->seq;
    r->peer_view[m->sender] = m->view;
    r->peer_view_ms[m->sender] = r->now;
    if (m->view < r->view && !r->in_vc && certa_pbft_primary(r, r->view) == r->c.id &&
        r->nv.len)
        pbft_send_to(r, m->sender, &r->nv);
    pbft_maybe_fetch(r);
}

