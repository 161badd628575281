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
 *    the pool (pool_prune) before it is proposed or accused over: proposed,
 *    every honest backup would refuse the block, and the view would change
 *    for ever with the same request at the head of every new primary's pool;
 *  - every vote is handed to the host to persist before it is sent.
 */
#include "certa/pbft.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "certa/crypto.h"
#include "pbft_msg.h"
#include "pbft_mut.h"
#include "certa/wire.h"

#define CKR 4      /* checkpoints remembered per peer */
#define OWNCK 8    /* own executed checkpoints remembered */
#define FORWARD_PER_TICK 64u

typedef struct buf {
    uint8_t *p;
    size_t len;
} buf;

static void buf_free(buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
}

static void buf_set(buf *b, const uint8_t *p, size_t len)
{
    uint8_t *q = malloc(len ? len : 1);
    CERTA_ASSERT(q != NULL);
    if (len)
        memcpy(q, p, len);
    free(b->p);
    b->p = q;
    b->len = len;
}

static void buf_take(buf *b, uint8_t *p, size_t len)
{
    free(b->p);
    b->p = p;
    b->len = len;
}

typedef struct pvote {
    bool has;
    uint64_t view;
    uint8_t d[CERTA_HASH_BYTES];
    buf raw;
} pvote;

typedef struct cvote {
    bool has;
    uint64_t view;
    uint8_t d[CERTA_HASH_BYTES];
    uint8_t sig[CERTA_SIGNATURE_BYTES];
} cvote;

typedef struct slot {
    uint64_t seq; /* 0: unused */
    bool has_pp;
    uint64_t pp_view;
    uint8_t d[CERTA_HASH_BYTES];
    certa_block_header hdr;
    buf pp;
    bool voted;
    uint64_t vote_view;
    uint8_t vote_d[CERTA_HASH_BYTES];
    bool commit_sent;
    uint64_t commit_view;
    pvote *prep; /* [n] */
    cvote *com;  /* [n] */
    bool has_cert;
    uint64_t cert_view;
    buf cert; /* list: pre-prepare, then 2f prepares */
    bool committed;
    uint64_t com_view;
    buf com_sigs; /* (u16 signer, sig) ascending */
    uint16_t com_nsig;
    bool executed;
} slot;

typedef struct pend {
    uint16_t integrator;
    uint64_t seq;
    buf bytes;
    uint64_t arrival_ms;
    uint64_t forwarded_ms;
    uint64_t prop_seq; /* height of the accepted proposal holding it, 0: none */
    bool live;         /* false: removed, awaiting compaction */
} pend;

typedef struct ckmsg {
    uint64_t seq;
    uint8_t d[CERTA_HASH_BYTES];
    buf raw;
} ckmsg;

typedef struct ownck {
    uint64_t seq;
    uint8_t hash[CERTA_HASH_BYTES];
    certa_block_header hdr;
    buf raw;
} ownck;

typedef struct out_action {
    certa_pbft_action a;
    size_t off;
} out_action;

struct certa_pbft {
    certa_pbft_config c;
    uint16_t f, q;
    uint64_t now;

    uint64_t view;
    bool in_vc;
    uint64_t view_start_ms;
    uint32_t backoff;
    bool vc_timer;
    uint64_t vc_deadline;
    buf my_vc;
    buf nv; /* the NEW-VIEW of the current view, when this replica sent or
             * installed it: any holder relays it to a replica still asking */
    buf *vcs; /* [n] latest VIEW-CHANGE per sender */
    uint64_t *vc_views;

    uint64_t h; /* low watermark */
    uint64_t ck_seq; /* stable checkpoint with header and proof */
    certa_block_header ck_hdr;
    uint8_t ck_hash[CERTA_HASH_BYTES];
    buf ck_proof; /* encoded list of 2f+1 CHECKPOINT messages */
    uint64_t pend_ck_seq; /* stable but not yet executed here */
    uint8_t pend_ck_hash[CERTA_HASH_BYTES];
    buf pend_ck_proof;

    uint64_t last_exec;
    certa_block_header tip;
    uint8_t tip_hash[CERTA_HASH_BYTES];
    uint64_t last_exec_ms;

    slot *slots; /* [window], slot of height s at s % window */

    uint64_t next_seq;
    bool parent_ok;
    certa_block_header parent;
    uint8_t parent_hash[CERTA_HASH_BYTES];

    /* pending requests in arrival order; removed entries stay as tombstones
     * until compaction so that order is kept and removal is O(1); ht maps
     * (integrator, seq) to index + 1 by linear probing */
    pend *pool;
    uint32_t npool;  /* entries used, live or not */
    uint32_t nlive;
    uint32_t *ht;
    uint32_t htmask;
    uint32_t live_lo;   /* no live entry below */
    uint32_t unprop_lo; /* no live unproposed entry below */
    uint32_t n_unprop;
    size_t bytes_unprop;

    ckmsg (*ckr)[CKR]; /* [n][CKR] */
    ownck own[OWNCK];

    uint64_t next_resend;
    uint64_t *peer_exec;
    uint64_t *peer_view; /* [n] the view in each peer's latest STATUS */
    uint64_t *peer_view_ms; /* [n] when it came */
    uint64_t vc_start_ms;   /* when this replica began its view change */
    bool fetching;
    uint64_t fetch_deadline;
    uint16_t fetch_rr;

    certa_pbft_request *reqs; /* scratch, CERTA_PBFT_BLOCK_REQUESTS_MAX */
    buf sigin;                /* scratch: chain_id || message */

    out_action *acts;
    size_t nacts, cap_acts;
    uint8_t *arena;
    size_t arena_len, arena_cap;
    certa_pbft_action *items;
    size_t cap_items;

    certa_pbft_stats st;
};

/* ---------------------------------------------------------------- helpers */

uint16_t certa_pbft_primary(const certa_pbft *r, uint64_t view)
{
    return (uint16_t)(view % r->c.n);
}

static uint16_t primary(const certa_pbft *r, uint64_t v)
{
    return certa_pbft_primary(r, v);
}

static void hash_header(const certa_pbft *r, const certa_block_header *h,
                        uint8_t out[CERTA_HASH_BYTES])
{
    if (r->c.app.header_hash != NULL) {
        r->c.app.header_hash(r->c.app.ctx, h, out);
        return;
    }
    uint8_t b[CERTA_PBFT_HEADER_BYTES];
    certa_pbft_header_encode(h, b);
    certa_sha256(b, sizeof b, out);
}

/* chain_id || message, or its prehashed form (certa_pbft_sig_input). */
static const uint8_t *sig_input(certa_pbft *r, const uint8_t *m, size_t len,
                                size_t *in_len)
{
    size_t need = certa_pbft_sig_input(r->c.chain_id, m, len, NULL, 0);
    if (r->sigin.len < need) {
        uint8_t *p = realloc(r->sigin.p, need);
        CERTA_ASSERT(p != NULL);
        r->sigin.p = p;
        r->sigin.len = need;
    }
    *in_len = certa_pbft_sig_input(r->c.chain_id, m, len, r->sigin.p, r->sigin.len);
    CERTA_ASSERT(*in_len == need);
    return r->sigin.p;
}

static bool verify_signed(certa_pbft *r, const certa_pbft_msg *m)
{
    if (m->sender >= r->c.n)
        return false;
    size_t in_len;
    const uint8_t *in = sig_input(r, m->signed_bytes, m->signed_len, &in_len);
    return r->c.crypto.verify(r->c.crypto.ctx, m->sender, in, in_len, m->sig);
}

/* Encodes m as this replica's message and signs it. */
static buf make_signed(certa_pbft *r, certa_pbft_msg *m)
{
    m->sender = r->c.id;
    m->sig = NULL;
    size_t len = 0;
    uint8_t *p = certa_pbft_msg_encode(m, &len);
    CERTA_ASSERT(p != NULL);
    size_t sl = len - CERTA_SIGNATURE_BYTES;
    size_t in_len;
    const uint8_t *in = sig_input(r, p, sl, &in_len);
    r->c.crypto.sign(r->c.crypto.ctx, in, in_len, p + sl);
    return (buf){p, len};
}

/* ---------------------------------------------------------------- output */

static void emit(certa_pbft *r, certa_pbft_action_kind kind, uint16_t to,
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

static void persist(certa_pbft *r, uint8_t rk, uint64_t height, uint64_t view,
                    const buf *b)
{
    emit(r, CERTA_PBFT_ACT_PERSIST, 0, rk, height, view, b->p, b->len);
}

static void bcast(certa_pbft *r, const buf *b)
{
    emit(r, CERTA_PBFT_ACT_BROADCAST, 0, 0, 0, 0, b->p, b->len);
}

static void send_to(certa_pbft *r, uint16_t to, const buf *b)
{
    CERTA_ASSERT(to < r->c.n && to != r->c.id);
    emit(r, CERTA_PBFT_ACT_SEND, to, 0, 0, 0, b->p, b->len);
}

/* ---------------------------------------------------------------- slots */

static void slot_reset(certa_pbft *r, slot *s)
{
    buf_free(&s->pp);
    buf_free(&s->cert);
    buf_free(&s->com_sigs);
    for (uint16_t i = 0; i < r->c.n; i++)
        buf_free(&s->prep[i].raw);
    pvote *prep = s->prep;
    cvote *com = s->com;
    memset(prep, 0, r->c.n * sizeof *prep);
    memset(com, 0, r->c.n * sizeof *com);
    memset(s, 0, sizeof *s);
    s->prep = prep;
    s->com = com;
}

/* The slot of height seq, or NULL when seq is outside (h, h+window]. */
static slot *slot_get(certa_pbft *r, uint64_t seq)
{
    if (seq <= r->h || seq > r->h + r->c.window)
        return NULL;
    slot *s = &r->slots[seq % r->c.window];
    if (s->seq != seq) {
        CERTA_ASSERT(s->seq < seq);
        slot_reset(r, s);
        s->seq = seq;
    }
    return s;
}

static slot *slot_peek(certa_pbft *r, uint64_t seq)
{
    if (seq <= r->h || seq > r->h + r->c.window)
        return NULL;
    slot *s = &r->slots[seq % r->c.window];
    return s->seq == seq ? s : NULL;
}

/* ---------------------------------------------------------------- pool */

static uint32_t pool_hash(uint16_t integ, uint64_t seq)
{
    uint64_t h = (seq ^ ((uint64_t)integ << 48)) * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h >> 32);
}

static int pool_find(const certa_pbft *r, uint16_t integ, uint64_t seq)
{
    for (uint32_t h = pool_hash(integ, seq) & r->htmask;; h = (h + 1) & r->htmask) {
        uint32_t v = r->ht[h];
        if (v == 0)
            return -1;
        const pend *p = &r->pool[v - 1];
        if (p->live && p->integrator == integ && p->seq == seq)
            return (int)(v - 1);
    }
}

static void ht_insert(certa_pbft *r, uint32_t i)
{
    uint32_t h = pool_hash(r->pool[i].integrator, r->pool[i].seq) & r->htmask;
    while (r->ht[h] != 0)
        h = (h + 1) & r->htmask;
    r->ht[h] = i + 1;
}

static void pool_set_prop(certa_pbft *r, uint32_t i, uint64_t seq)
{
    pend *p = &r->pool[i];
    CERTA_ASSERT(p->live);
    if (p->prop_seq == 0 && seq != 0) {
        r->n_unprop--;
        r->bytes_unprop -= p->bytes.len;
    } else if (p->prop_seq != 0 && seq == 0) {
        r->n_unprop++;
        r->bytes_unprop += p->bytes.len;
        if (i < r->unprop_lo)
            r->unprop_lo = i;
    }
    p->prop_seq = seq;
}

/* Drops tombstones, keeping arrival order, and rebuilds the index. */
static void pool_compact(certa_pbft *r)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < r->npool; i++)
        if (r->pool[i].live)
            r->pool[k++] = r->pool[i];
    CERTA_ASSERT(k == r->nlive);
    r->npool = k;
    memset(r->ht, 0, ((size_t)r->htmask + 1) * sizeof *r->ht);
    for (uint32_t i = 0; i < k; i++)
        ht_insert(r, i);
    r->live_lo = 0;
    r->unprop_lo = 0;
}

static void pool_remove(certa_pbft *r, uint32_t i)
{
    CERTA_ASSERT(i < r->npool && r->pool[i].live);
    pend *p = &r->pool[i];
    if (p->prop_seq == 0) {
        r->n_unprop--;
        r->bytes_unprop -= p->bytes.len;
    }
    buf_free(&p->bytes);
    p->live = false;
    r->nlive--;
    if (r->npool - r->nlive > r->nlive + 64)
        pool_compact(r);
}

/* Index of the oldest live entry, or -1. */
static int pool_oldest(certa_pbft *r)
{
    while (r->live_lo < r->npool && !r->pool[r->live_lo].live)
        r->live_lo++;
    return r->live_lo < r->npool ? (int)r->live_lo : -1;
}

/* Index of the oldest live entry not in a proposal, or -1. */
static int pool_first_unprop(certa_pbft *r)
{
    while (r->unprop_lo < r->npool &&
           (!r->pool[r->unprop_lo].live || r->pool[r->unprop_lo].prop_seq != 0))
        r->unprop_lo++;
    return r->unprop_lo < r->npool ? (int)r->unprop_lo : -1;
}

static bool executed_req(certa_pbft *r, uint16_t integ, uint64_t seq)
{
    return r->c.app.request_executed != NULL &&
           r->c.app.request_executed(r->c.app.ctx, integ, seq);
}

/* Removes a pending entry that will never be ordered and tells the host. */
static void pool_drop(certa_pbft *r, uint32_t i)
{
    pend *p = &r->pool[i];
    uint16_t integ = p->integrator;
    uint64_t seq = p->seq;
    pool_remove(r, i);
    r->st.requests_pruned++;
    if (r->c.app.request_dropped != NULL)
        r->c.app.request_dropped(r->c.app.ctx, integ, seq);
}

/* Drops entry i when the host now calls it executed; true when dropped. */
static bool pool_prune(certa_pbft *r, uint32_t i)
{
    const pend *p = &r->pool[i];
    CERTA_ASSERT(p->live);
    if (!executed_req(r, p->integrator, p->seq))
        return false;
    pool_drop(r, i);
    return true;
}

/* The oldest live entry after pruning executed ones off the front, or -1:
 * what the view timer measures, so that a request the host now refuses
 * never makes this replica accuse a primary that rightly left it out. */
static int pool_oldest_pruned(certa_pbft *r)
{
    int o;
    while ((o = pool_oldest(r)) >= 0 && r->pool[o].prop_seq == 0 &&
           pool_prune(r, (uint32_t)o))
        ;
    return o;
}

static int pool_add(certa_pbft *r, const certa_pbft_request *q)
{
    if (r->npool >= r->c.pending_max)
        pool_compact(r);
    if (r->npool >= r->c.pending_max)
        return -1;
    uint32_t i = r->npool++;
    pend *p = &r->pool[i];
    memset(p, 0, sizeof *p);
    p->integrator = q->integrator;
    p->seq = q->seq;
    buf_set(&p->bytes, q->bytes, q->len);
    p->arrival_ms = r->now;
    p->live = true;
    r->nlive++;
    r->n_unprop++;
    r->bytes_unprop += q->len;
    ht_insert(r, i);
    return (int)i;
}

static void forward_request(certa_pbft *r, pend *p, uint16_t to)
{
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_REQUEST;
    m.integrator = p->integrator;
    m.seq = p->seq;
    m.body = p->bytes.p;
    m.body_len = p->bytes.len;
    buf b = make_signed(r, &m);
    send_to(r, to, &b);
    buf_free(&b);
    p->forwarded_ms = r->now;
}

static bool following(const certa_pbft *r, uint64_t *view);

/* Where this replica sends the requests its clients give it: the primary of
 * its view, or, while it follows a lower view (see following()), that
 * view's primary; none while it is the primary or in a view change alone. */
static bool forward_target(const certa_pbft *r, uint16_t *to)
{
    uint64_t w = r->view;
    if (r->in_vc && !following(r, &w))
        return false;
    *to = primary(r, w);
    return *to != r->c.id;
}

static void add_request(certa_pbft *r, const certa_pbft_request *q, bool from_client)
{
    if (pool_find(r, q->integrator, q->seq) >= 0)
        return;
    if (executed_req(r, q->integrator, q->seq) ||
        !r->c.app.validate_request(r->c.app.ctx, q)) {
        r->st.dropped_requests++;
        return;
    }
    int i = pool_add(r, q);
    if (i < 0) {
        r->st.dropped_requests++;
        return;
    }
    uint16_t to;
    if (from_client && forward_target(r, &to))
        forward_request(r, &r->pool[i], to);
}

/* Decodes a request list into r->reqs; false when malformed or too long. */
static bool decode_reqs(certa_pbft *r, const certa_pbft_list *l, size_t *n)
{
    size_t pos = 0, k = 0;
    const uint8_t *it;
    size_t il;
    if (l->count > CERTA_PBFT_BLOCK_REQUESTS_MAX)
        return false;
    while (certa_pbft_list_next(l, &pos, &it, &il)) {
        if (!certa_pbft_request_item(it, il, &r->reqs[k]))
            return false;
        k++;
    }
    *n = k;
    return true;
}

static void mark_proposed(certa_pbft *r, size_t n, uint64_t seq)
{
    for (size_t i = 0; i < n; i++) {
        int k = pool_find(r, r->reqs[i].integrator, r->reqs[i].seq);
        if (k < 0 && !executed_req(r, r->reqs[i].integrator, r->reqs[i].seq))
            k = pool_add(r, &r->reqs[i]);
        if (k >= 0)
            pool_set_prop(r, (uint32_t)k, seq);
    }
}

/* ---------------------------------------------------------------- checkpoints */

static ownck *own_find(certa_pbft *r, uint64_t seq)
{
    for (int i = 0; i < OWNCK; i++)
        if (r->own[i].seq == seq && seq != 0)
            return &r->own[i];
    return NULL;
}

static void set_low(certa_pbft *r, uint64_t s)
{
    if (s <= r->h)
        return;
    for (uint32_t i = 0; i < r->c.window; i++)
        if (r->slots[i].seq != 0 && r->slots[i].seq <= s)
            slot_reset(r, &r->slots[i]);
    r->h = s;
    if (r->next_seq <= s) {
        r->next_seq = s + 1;
        r->parent_ok = false;
        if (r->last_exec == s) {
            r->parent = r->tip;
            memcpy(r->parent_hash, r->tip_hash, CERTA_HASH_BYTES);
            r->parent_ok = true;
        }
    }
    emit(r, CERTA_PBFT_ACT_PERSIST_GC, 0, 0, s, r->view, NULL, 0);
}

/* Adopts the pending stable checkpoint once this replica executed it. */
static void adopt_ck(certa_pbft *r)
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
        hash_header(r, &hdr, hash);
    }
    if (memcmp(hash, r->pend_ck_hash, CERTA_HASH_BYTES) != 0)
        return;
    r->ck_seq = r->pend_ck_seq;
    r->ck_hdr = hdr;
    memcpy(r->ck_hash, hash, CERTA_HASH_BYTES);
    buf_set(&r->ck_proof, r->pend_ck_proof.p, r->pend_ck_proof.len);
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_REC_CHECKPOINT;
    m.seq = r->ck_seq;
    m.hdr = r->ck_hdr;
    certa_pbft_list_parse(r->ck_proof.p, r->ck_proof.len, &m.l1);
    size_t len = 0;
    uint8_t *p = certa_pbft_msg_encode(&m, &len);
    CERTA_ASSERT(p != NULL);
    buf b = {p, len};
    persist(r, CERTA_PBFT_REC_CHECKPOINT, 0, 0, &b);
    buf_free(&b);
    r->st.checkpoints_stable++;
}

static void fetch_now(certa_pbft *r);

static void check_stable(certa_pbft *r)
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
    size_t pl = 0;
    uint8_t *proof = certa_pbft_list_build(items, lens, cnt, &pl);
    CERTA_ASSERT(proof != NULL);
    r->pend_ck_seq = best;
    memcpy(r->pend_ck_hash, bd, CERTA_HASH_BYTES);
    buf_take(&r->pend_ck_proof, proof, pl);
    set_low(r, best);
    adopt_ck(r);
    if (r->last_exec < best)
        fetch_now(r);
}

static void ck_store(certa_pbft *r, uint16_t sender, uint64_t seq,
                     const uint8_t d[CERTA_HASH_BYTES], const uint8_t *raw,
                     size_t len)
{
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
    buf_set(&row[low].raw, raw, len);
}

/* ---------------------------------------------------------------- execution */

static void maybe_commit(certa_pbft *r, slot *s);

static void apply_executed(certa_pbft *r, const certa_block_header *hdr,
                           const uint8_t hash[CERTA_HASH_BYTES], size_t nreq)
{
    CERTA_ASSERT(hdr->height == r->last_exec + 1);
    r->last_exec = hdr->height;
    r->tip = *hdr;
    memcpy(r->tip_hash, hash, CERTA_HASH_BYTES);
    r->last_exec_ms = r->now;
    r->st.blocks_committed++;
    if (nreq > 0)
        r->backoff = 0; /* progress: the view timer is back to its base */
    for (size_t i = 0; i < nreq; i++) {
        int k = pool_find(r, r->reqs[i].integrator, r->reqs[i].seq);
        if (k >= 0)
            pool_remove(r, (uint32_t)k);
    }
    slot *s = slot_peek(r, hdr->height);
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
        buf b = make_signed(r, &m);
        bcast(r, &b);
        ck_store(r, r->c.id, m.seq, m.digest, b.p, b.len);
        buf_free(&o->raw);
        o->raw = b;
        check_stable(r);
        adopt_ck(r);
    }
}

static void execute_ready(certa_pbft *r)
{
    for (;;) {
        slot *s = slot_peek(r, r->last_exec + 1);
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
        bool ok = decode_reqs(r, &pp.reqs, &nreq);
        CERTA_ASSERT(ok);
        certa_pbft_msg rec;
        memset(&rec, 0, sizeof rec);
        rec.type = CERTA_PBFT_REC_BLOCK;
        rec.hdr = s->hdr;
        rec.aux = s->com_view;
        rec.reqs = pp.reqs;
        rec.sig_count = s->com_nsig;
        rec.sigs = s->com_sigs.p;
        size_t len = 0;
        uint8_t *p = certa_pbft_msg_encode(&rec, &len);
        CERTA_ASSERT(p != NULL);
        emit(r, CERTA_PBFT_ACT_DELIVER, 0, CERTA_PBFT_REC_BLOCK, s->hdr.height,
             s->com_view, p, len);
        free(p);
        uint8_t d[CERTA_HASH_BYTES];
        memcpy(d, s->d, sizeof d);
        certa_block_header hdr = s->hdr;
        apply_executed(r, &hdr, d, nreq);
        slot *nx = slot_peek(r, r->last_exec + 1);
        if (nx != NULL)
            maybe_commit(r, nx);
    }
}

static void check_committed(certa_pbft *r, slot *s)
{
    if (s->committed || !s->has_pp || !s->has_cert || s->cert_view != s->pp_view)
        return;
    uint16_t cnt = 0;
    for (uint16_t i = 0; i < r->c.n; i++)
        if (s->com[i].has && s->com[i].view == s->pp_view &&
            memcmp(s->com[i].d, s->d, CERTA_HASH_BYTES) == 0)
            cnt++;
    if (cnt < r->q)
        return;
    uint8_t *sigs = malloc((size_t)cnt * 66u);
    CERTA_ASSERT(sigs != NULL);
    uint16_t k = 0;
    for (uint16_t i = 0; i < r->c.n; i++)
        if (s->com[i].has && s->com[i].view == s->pp_view &&
            memcmp(s->com[i].d, s->d, CERTA_HASH_BYTES) == 0) {
            certa_put_le16(sigs + 66u * k, i);
            memcpy(sigs + 66u * k + 2, s->com[i].sig, CERTA_SIGNATURE_BYTES);
            k++;
        }
    buf_take(&s->com_sigs, sigs, (size_t)cnt * 66u);
    s->com_nsig = cnt;
    s->com_view = s->pp_view;
    s->committed = true;
    execute_ready(r);
}

static void maybe_commit(certa_pbft *r, slot *s)
{
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
    if (memcmp(s->hdr.prev_hash, r->tip_hash, CERTA_HASH_BYTES) != 0 ||
        s->hdr.timestamp_ms < r->tip.timestamp_ms) {
        r->st.chain_refusals++;
        return;
    }
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_REC_CERT;
    certa_pbft_list_parse(s->cert.p, s->cert.len, &m.l1);
    size_t len = 0;
    uint8_t *p = certa_pbft_msg_encode(&m, &len);
    CERTA_ASSERT(p != NULL);
    buf rc = {p, len};
    persist(r, CERTA_PBFT_REC_CERT, s->seq, s->pp_view, &rc);
    buf_free(&rc);

    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_COMMIT;
    m.view = s->pp_view;
    m.seq = s->seq;
    memcpy(m.digest, s->d, CERTA_HASH_BYTES);
    buf b = make_signed(r, &m);
    persist(r, CERTA_PBFT_MSG_COMMIT, s->seq, s->pp_view, &b);
    bcast(r, &b);
    s->commit_sent = true;
    s->commit_view = s->pp_view;
    cvote *c = &s->com[r->c.id];
    c->has = true;
    c->view = s->pp_view;
    memcpy(c->d, s->d, CERTA_HASH_BYTES);
    memcpy(c->sig, b.p + b.len - CERTA_SIGNATURE_BYTES, CERTA_SIGNATURE_BYTES);
    buf_free(&b);
    check_committed(r, s);
}

static void check_prepared(certa_pbft *r, slot *s)
{
    if (!s->has_pp || (s->has_cert && s->cert_view == s->pp_view))
        return;
    uint16_t p = primary(r, s->pp_view);
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
    size_t len = 0;
    uint8_t *c = certa_pbft_list_build(items, lens, cnt, &len);
    CERTA_ASSERT(c != NULL);
    buf_take(&s->cert, c, len);
    s->has_cert = true;
    s->cert_view = s->pp_view;
    maybe_commit(r, s);
    check_committed(r, s);
}

/* ---------------------------------------------------------------- pre-prepare */

/* Checks a pre-prepare's content; fills r->reqs (*nreq) and digest. */
static bool pp_content_ok(certa_pbft *r, const certa_pbft_msg *m, bool fresh,
                          size_t *nreq, uint8_t digest[CERTA_HASH_BYTES])
{
    const certa_block_header *h = &m->hdr;
    if (h->height != m->seq || h->view > m->view ||
        h->proposer != primary(r, h->view))
        return false;
    if (!decode_reqs(r, &m->reqs, nreq))
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
        if (h->timestamp_ms > r->now + skew)
            return false;
        if (*nreq > 0 && h->timestamp_ms + skew < r->now)
            return false;
    }
    hash_header(r, h, digest);
    return true;
}

static void install_pp(certa_pbft *r, slot *s, const certa_pbft_msg *m,
                       const uint8_t *raw, size_t len,
                       const uint8_t d[CERTA_HASH_BYTES], size_t nreq)
{
    s->has_pp = true;
    s->pp_view = m->view;
    memcpy(s->d, d, CERTA_HASH_BYTES);
    s->hdr = m->hdr;
    buf_set(&s->pp, raw, len);
    mark_proposed(r, nreq, s->seq);
}

static void vote_prepare(certa_pbft *r, slot *s)
{
    if (r->c.id == primary(r, s->pp_view))
        return;
    if (s->voted && s->vote_view == s->pp_view)
        return;
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_PREPARE;
    m.view = s->pp_view;
    m.seq = s->seq;
    memcpy(m.digest, s->d, CERTA_HASH_BYTES);
    buf b = make_signed(r, &m);
    persist(r, CERTA_PBFT_MSG_PREPARE, s->seq, s->pp_view, &b);
    bcast(r, &b);
    s->voted = true;
    s->vote_view = s->pp_view;
    memcpy(s->vote_d, s->d, CERTA_HASH_BYTES);
    pvote *v = &s->prep[r->c.id];
    v->has = true;
    v->view = s->pp_view;
    memcpy(v->d, s->d, CERTA_HASH_BYTES);
    buf_free(&v->raw);
    v->raw = b;
}

static void on_pre_prepare(certa_pbft *r, const certa_pbft_msg *m,
                           const uint8_t *raw, size_t len)
{
    if (r->in_vc || m->view != r->view) {
        r->st.dropped_view++;
        return;
    }
    if (m->sender != primary(r, r->view)) {
        r->st.dropped_invalid++;
        return;
    }
    slot *s = slot_get(r, m->seq);
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
                hash_header(r, &m->hdr, d);
                if (memcmp(d, s->d, CERTA_HASH_BYTES) != 0)
                    r->st.dropped_conflict++;
            }
        }
        return;
    }
    size_t nreq = 0;
    if (!pp_content_ok(r, m, true, &nreq, d)) {
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
    slot *below = slot_peek(r, m->seq - 1);
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
        if (executed_req(r, r->reqs[i].integrator, r->reqs[i].seq)) {
            /* nor keep it pending here, to propose it as a later primary */
            int k = pool_find(r, r->reqs[i].integrator, r->reqs[i].seq);
            if (k >= 0 && r->pool[k].prop_seq == 0)
                pool_drop(r, (uint32_t)k);
            r->st.dropped_invalid++;
            return;
        }
        int k = pool_find(r, r->reqs[i].integrator, r->reqs[i].seq);
        if (k >= 0 && r->pool[k].prop_seq != 0 && r->pool[k].prop_seq != m->seq) {
            slot *o = slot_peek(r, r->pool[k].prop_seq);
            if (o != NULL && o->has_pp && o->pp_view == r->view && !o->executed) {
                r->st.dropped_invalid++;
                return;
            }
        }
    }
    install_pp(r, s, m, raw, len, d, nreq);
    vote_prepare(r, s);
    check_prepared(r, s);
}

/* ---------------------------------------------------------------- votes */

static void on_prepare(certa_pbft *r, const certa_pbft_msg *m,
                       const uint8_t *raw, size_t len)
{
    if (r->in_vc || m->view != r->view) {
        r->st.dropped_view++;
        return;
    }
    if (m->sender == primary(r, m->view)) {
        r->st.dropped_invalid++;
        return;
    }
    slot *s = slot_get(r, m->seq);
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
    buf_set(&v->raw, raw, len);
    check_prepared(r, s);
}

static void on_commit(certa_pbft *r, const certa_pbft_msg *m)
{
    if (r->in_vc || m->view != r->view) {
        r->st.dropped_view++;
        return;
    }
    slot *s = slot_get(r, m->seq);
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
    if (m->seq == 0 || m->seq % r->c.checkpoint_interval != 0) {
        r->st.dropped_invalid++;
        return;
    }
    if (m->seq <= r->h)
        return;
    ck_store(r, m->sender, m->seq, m->digest, raw, len);
    check_stable(r);
}

/* ---------------------------------------------------------------- proposing */

static void maybe_propose(certa_pbft *r)
{
    if (r->in_vc || primary(r, r->view) != r->c.id || !r->parent_ok)
        return;
    while (r->next_seq <= r->h + r->c.window) {
        if (r->c.app.can_propose != NULL &&
            !r->c.app.can_propose(r->c.app.ctx, r->next_seq))
            return;
        size_t cnt = r->n_unprop, bytes = r->bytes_unprop;
        int first = pool_first_unprop(r);
        uint64_t oldest = first >= 0 ? r->pool[first].arrival_ms : UINT64_MAX;
        if (cnt == 0)
            return;
        if (cnt < r->c.batch_requests_max && bytes < r->c.batch_bytes_max &&
            r->now < oldest + r->c.batch_timeout_ms)
            return;
        slot *s = slot_get(r, r->next_seq);
        if (s == NULL || s->has_pp) {
            /* a committed block above the new view's top: only a broken
             * quorum gets here; stop proposing until the next view */
            r->parent_ok = false;
            r->st.chain_refusals++;
            return;
        }
        size_t n = 0, nb = 0;
        const uint8_t *items[CERTA_PBFT_BLOCK_REQUESTS_MAX];
        size_t lens[CERTA_PBFT_BLOCK_REQUESTS_MAX];
        uint8_t *tmp[CERTA_PBFT_BLOCK_REQUESTS_MAX];
        for (uint32_t i = (uint32_t)first; i < r->npool && n < r->c.batch_requests_max;
             i++) {
            pend *p = &r->pool[i];
            if (!p->live || p->prop_seq != 0)
                continue;
            if (n > 0 && nb + p->bytes.len > r->c.batch_bytes_max)
                break;
            /* executed since it came (a later block, or the host's replay
             * horizon passed it): every backup would refuse the block */
            if (pool_prune(r, i))
                continue;
            uint8_t *it = malloc(10 + p->bytes.len);
            CERTA_ASSERT(it != NULL);
            certa_put_le16(it, p->integrator);
            certa_put_le64(it + 2, p->seq);
            memcpy(it + 10, p->bytes.p, p->bytes.len);
            tmp[n] = it;
            items[n] = it;
            lens[n] = 10 + p->bytes.len;
            r->reqs[n] = (certa_pbft_request){p->integrator, p->seq, it + 10,
                                              p->bytes.len};
            nb += p->bytes.len;
            n++;
        }
        if (n == 0)
            continue; /* all pruned: n_unprop fell, the loop re-checks */
        size_t ll = 0;
        uint8_t *list = certa_pbft_list_build(items, lens, n, &ll);
        CERTA_ASSERT(list != NULL);
        certa_pbft_msg m;
        memset(&m, 0, sizeof m);
        m.type = CERTA_PBFT_MSG_PRE_PREPARE;
        m.view = r->view;
        m.seq = r->next_seq;
        m.hdr.height = r->next_seq;
        m.hdr.view = r->view;
        m.hdr.timestamp_ms = r->now > r->parent.timestamp_ms ? r->now
                                                             : r->parent.timestamp_ms;
        m.hdr.proposer = r->c.id;
        memcpy(m.hdr.prev_hash, r->parent_hash, CERTA_HASH_BYTES);
        r->c.app.build_block(r->c.app.ctx, &r->parent, &m.hdr, r->reqs, n);
        bool ok = certa_pbft_list_parse(list, ll, &m.reqs);
        CERTA_ASSERT(ok);
        buf b = make_signed(r, &m);
        uint8_t d[CERTA_HASH_BYTES];
        hash_header(r, &m.hdr, d);
        persist(r, CERTA_PBFT_MSG_PRE_PREPARE, m.seq, m.view, &b);
        bcast(r, &b);
        install_pp(r, s, &m, b.p, b.len, d, n);
        s->voted = true;
        s->vote_view = r->view;
        memcpy(s->vote_d, d, CERTA_HASH_BYTES);
        r->parent = m.hdr;
        memcpy(r->parent_hash, d, CERTA_HASH_BYTES);
        r->next_seq++;
        r->st.proposals++;
        buf_free(&b);
        free(list);
        for (size_t i = 0; i < n; i++)
            free(tmp[i]);
        check_prepared(r, s);
    }
}

/* ---------------------------------------------------------------- view change */

/* Verifies a prepared certificate (a list: pre-prepare, 2f prepares) for a
 * view-change to new_view whose checkpoint is ck. */
static bool cert_ok(certa_pbft *r, const uint8_t *item, size_t len,
                    uint64_t new_view, uint64_t ck, certa_pbft_msg *pp,
                    uint8_t d[CERTA_HASH_BYTES])
{
    certa_pbft_list l;
    if (!certa_pbft_list_parse(item, len, &l) || l.count < r->q)
        return false;
    size_t pos = 0;
    const uint8_t *it;
    size_t il;
    certa_pbft_list_next(&l, &pos, &it, &il);
    if (certa_pbft_msg_decode(it, il, pp) != CERTA_OK ||
        pp->type != CERTA_PBFT_MSG_PRE_PREPARE || pp->view >= new_view ||
        pp->sender != primary(r, pp->view) || pp->seq <= ck ||
        pp->seq > ck + r->c.window || !verify_signed(r, pp))
        return false;
    size_t nreq = 0;
    if (!pp_content_ok(r, pp, false, &nreq, d))
        return false;
    uint64_t seen = 0;
    uint16_t cnt = 0;
    while (certa_pbft_list_next(&l, &pos, &it, &il)) {
        certa_pbft_msg p;
        if (certa_pbft_msg_decode(it, il, &p) != CERTA_OK ||
            p.type != CERTA_PBFT_MSG_PREPARE || p.view != pp->view ||
            p.seq != pp->seq || memcmp(p.digest, d, CERTA_HASH_BYTES) != 0 ||
            p.sender >= r->c.n || p.sender == pp->sender || p.sender >= 64 ||
            (seen >> p.sender & 1u) || !verify_signed(r, &p))
            return false;
        seen |= 1ull << p.sender;
        cnt++;
    }
    return cnt + 1u >= r->q;
}

static bool ck_proof_ok(certa_pbft *r, uint64_t seq, const certa_block_header *hdr,
                        const certa_pbft_list *proof)
{
    uint8_t hh[CERTA_HASH_BYTES];
    hash_header(r, hdr, hh);
    if (seq == 0) {
        uint8_t g[CERTA_HASH_BYTES];
        hash_header(r, &r->c.genesis, g);
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
            c.sender >= 64 || (seen >> c.sender & 1u) || !verify_signed(r, &c))
            return false;
        seen |= 1ull << c.sender;
        cnt++;
    }
    return cnt >= r->q;
}

static bool vc_ok(certa_pbft *r, const certa_pbft_msg *m)
{
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
static uint64_t view_timer_ms(const certa_pbft *r)
{
    uint32_t e = r->backoff > 0 ? r->backoff - 1 : 0;
    if (e > r->c.view_backoff_max)
        e = r->c.view_backoff_max;
    return (uint64_t)r->c.view_timeout_ms << e;
}

/* A view change this replica's own timer started: the next waits longer. */
static void timer_view_change(certa_pbft *r)
{
    if (r->backoff <= r->c.view_backoff_max)
        r->backoff++;
    start_view_change(r, r->view + 1);
}

static void start_view_change(certa_pbft *r, uint64_t v)
{
    CERTA_ASSERT(v > r->view || (v == r->view && !r->in_vc));
    r->view = v;
    r->in_vc = true;
    r->vc_start_ms = r->now;
    r->vc_timer = false;
    buf_free(&r->nv);
    r->st.view_changes++;
    const uint8_t *items[CERTA_PBFT_WINDOW_MAX];
    size_t lens[CERTA_PBFT_WINDOW_MAX];
    size_t cnt = 0;
    for (uint64_t s = r->ck_seq + 1; s <= r->h + r->c.window; s++) {
        slot *sl = slot_peek(r, s);
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
    buf b = make_signed(r, &m);
    free(l2);
    persist(r, CERTA_PBFT_MSG_VIEW_CHANGE, 0, v, &b);
    bcast(r, &b);
    buf_set(&r->vcs[r->c.id], b.p, b.len);
    r->vc_views[r->c.id] = v;
    buf_free(&r->my_vc);
    r->my_vc = b;
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
    hash_header(r, &pl->base_hdr, pl->base_hash);
    uint64_t top = pl->base;
    if (r->c.mutation != CERTA_PBFT_MUT_NV_SKIP_PREPARED)
        for (size_t i = 0; i < nvc; i++) {
            size_t pos = 0;
            const uint8_t *it;
            size_t il;
            while (certa_pbft_list_next(&vm[i].l2, &pos, &it, &il)) {
                certa_pbft_list l;
                certa_pbft_list_parse(it, il, &l);
                size_t p2 = 0;
                const uint8_t *pi;
                size_t pil;
                certa_pbft_list_next(&l, &p2, &pi, &pil);
                certa_pbft_msg pp;
                certa_err rc = certa_pbft_msg_decode(pi, pil, &pp);
                CERTA_ASSERT(rc == CERTA_OK);
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
                    certa_pbft_list l;
                    certa_pbft_list_parse(it, il, &l);
                    size_t p2 = 0;
                    const uint8_t *pi;
                    size_t pil;
                    certa_pbft_list_next(&l, &p2, &pi, &pil);
                    certa_pbft_msg pp;
                    certa_err rc = certa_pbft_msg_decode(pi, pil, &pp);
                    CERTA_ASSERT(rc == CERTA_OK);
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
            o->hdr.proposer = primary(r, v);
            memcpy(o->hdr.prev_hash, ph, CERTA_HASH_BYTES);
            r->c.app.build_block(r->c.app.ctx, &parent, &o->hdr, NULL, 0);
            certa_pbft_list_parse(empty, 4, &o->reqs);
        }
        hash_header(r, &o->hdr, pl->d[pl->count]);
        parent = o->hdr;
        memcpy(ph, pl->d[pl->count], sizeof ph);
        pl->count++;
    }
}

static void install_new_view(certa_pbft *r, uint64_t v, const nv_plan *pl,
                             const certa_pbft_list *pps)
{
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
            buf_set(&r->pend_ck_proof, pl->base_proof, pl->base_proof_len);
        }
        set_low(r, pl->base);
        adopt_ck(r);
    }
    for (uint32_t i = 0; i < r->c.window; i++) {
        slot *s = &r->slots[i];
        if (s->seq == 0 || s->committed || s->executed)
            continue;
        s->has_pp = false;
        buf_free(&s->pp);
        s->commit_sent = false;
    }
    for (uint32_t i = 0; i < r->npool; i++)
        if (r->pool[i].live)
            pool_set_prop(r, i, 0);
    size_t pos = 0, k = 0;
    const uint8_t *it;
    size_t il;
    while (certa_pbft_list_next(pps, &pos, &it, &il)) {
        CERTA_ASSERT(k < pl->count);
        certa_pbft_msg m;
        certa_err rc = certa_pbft_msg_decode(it, il, &m);
        CERTA_ASSERT(rc == CERTA_OK);
        slot *s = slot_get(r, m.seq);
        size_t nreq = 0;
        decode_reqs(r, &m.reqs, &nreq);
        if (s != NULL && !s->committed && !s->executed) {
            install_pp(r, s, &m, it, il, pl->d[k], nreq);
            if (r->c.id == primary(r, v)) {
                s->voted = true;
                s->vote_view = v;
                memcpy(s->vote_d, pl->d[k], CERTA_HASH_BYTES);
            } else {
                vote_prepare(r, s);
            }
        } else if (s != NULL) {
            mark_proposed(r, nreq, m.seq);
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
    if (r->c.id != primary(r, v))
        for (uint32_t i = 0; i < r->npool; i++)
            if (r->pool[i].live && r->pool[i].prop_seq == 0)
                forward_request(r, &r->pool[i], primary(r, v));
    for (uint64_t s = r->h + 1; s <= r->h + r->c.window; s++) {
        slot *sl = slot_peek(r, s);
        if (sl != NULL && sl->has_pp) {
            check_prepared(r, sl);
            maybe_commit(r, sl);
        }
    }
    execute_ready(r);
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
        pps[i] = make_signed(r, &pl->pps[i]);
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
    buf b = make_signed(r, &m);
    persist(r, CERTA_PBFT_MSG_NEW_VIEW, 0, r->view, &b);
    bcast(r, &b);
    buf_free(&r->nv);
    r->nv = b;
    certa_pbft_msg nvm;
    certa_err rc = certa_pbft_msg_decode(r->nv.p, r->nv.len, &nvm);
    CERTA_ASSERT(rc == CERTA_OK);
    install_new_view(r, r->view, pl, &nvm.l2);
    for (size_t i = 0; i < pl->count; i++)
        buf_free(&pps[i]);
    free(pps);
    free(l1);
    free(l2);
    free(pl);
}

static void check_vc_quorum(certa_pbft *r)
{
    if (!r->in_vc)
        return;
    uint16_t cnt = 0;
    for (uint16_t i = 0; i < r->c.n; i++)
        if (r->vc_views[i] == r->view && r->vcs[i].len)
            cnt++;
    if (cnt < r->q)
        return;
    if (!r->vc_timer) {
        r->vc_timer = true;
        r->vc_deadline = r->now + view_timer_ms(r);
    }
    if (primary(r, r->view) == r->c.id && r->vcs[r->c.id].len &&
        r->vc_views[r->c.id] == r->view)
        build_new_view(r);
}

static void on_view_change(certa_pbft *r, const certa_pbft_msg *m,
                           const uint8_t *raw, size_t len)
{
    if (m->view > r->view + r->c.view_lookahead || m->view < r->view) {
        r->st.dropped_view++;
        return;
    }
    if (m->view == r->view && !r->in_vc) {
        /* a replica still asking for this view: whoever holds its NEW-VIEW
         * answers, since the primary's link to it may be the one down */
        if (r->nv.len)
            send_to(r, m->sender, &r->nv);
        return;
    }
    if (r->vc_views[m->sender] >= m->view && r->vcs[m->sender].len)
        return;
    if (!vc_ok(r, m)) {
        r->st.dropped_invalid++;
        return;
    }
    buf_set(&r->vcs[m->sender], raw, len);
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

static void on_new_view(certa_pbft *r, const certa_pbft_msg *m, const uint8_t *raw,
                        size_t raw_len)
{
    if (m->view > r->view + r->c.view_lookahead || m->view < r->view ||
        (m->view == r->view && !r->in_vc)) {
        r->st.dropped_view++;
        return;
    }
    if (m->sender != primary(r, m->view) || m->l1.count != r->q) {
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
        if (!known && (!verify_signed(r, &vc) || !vc_ok(r, &vc))) {
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
            !verify_signed(r, &pp))
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
        buf_set(&r->nv, raw, raw_len);
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
    /* a report from before this view change says nothing of now (a peer
     * cut off since keeps its old view here), nor does an old one */
    return i != r->c.id && r->peer_view[i] != UINT64_MAX &&
           r->peer_view_ms[i] >= r->vc_start_ms &&
           r->now <= r->peer_view_ms[i] + r->c.view_timeout_ms;
}

static bool following(const certa_pbft *r, uint64_t *view)
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
    if (found)
        *view = best;
    return found;
}

bool certa_pbft_following(const certa_pbft *r, uint64_t *view)
{
    return following(r, view);
}

static uint64_t peer_ahead(const certa_pbft *r)
{
    /* the (f+1)-th highest reported height: at least one honest replica has
     * it, so a liar cannot stall us with a huge claim */
    uint64_t top[CERTA_PBFT_VALIDATORS_MAX];
    size_t k = 0;
    for (uint16_t i = 0; i < r->c.n; i++)
        if (i != r->c.id)
            top[k++] = r->peer_exec[i];
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
    buf b = make_signed(r, &m);
    send_to(r, to, &b);
    buf_free(&b);
    r->fetching = true;
    r->fetch_deadline = r->now + r->c.resend_ms;
    r->st.fetches_sent++;
}

static void maybe_fetch(certa_pbft *r)
{
    if (r->h > r->last_exec) {
        fetch_now(r);
        return;
    }
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

static void on_fetch(certa_pbft *r, const certa_pbft_msg *m)
{
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
        recs[k] = (buf){NULL, 0};
        buf_set(&recs[k], p, len);
        items[k] = recs[k].p;
        lens[k] = len;
        total += len;
        k++;
    }
    if (k == 0)
        return;
    size_t ll = 0;
    uint8_t *l = certa_pbft_list_build(items, lens, k, &ll);
    CERTA_ASSERT(l != NULL);
    certa_pbft_msg out;
    memset(&out, 0, sizeof out);
    out.type = CERTA_PBFT_MSG_FETCH_REPLY;
    certa_pbft_list_parse(l, ll, &out.l1);
    buf b = make_signed(r, &out);
    send_to(r, m->sender, &b);
    buf_free(&b);
    free(l);
    for (size_t i = 0; i < k; i++)
        buf_free(&recs[i]);
}

bool certa_pbft_verify_commit_cert(const certa_pbft_crypto *c,
                                   const uint8_t chain_id[CERTA_HASH_BYTES],
                                   uint16_t n, uint64_t view, uint64_t height,
                                   const uint8_t hash[CERTA_HASH_BYTES],
                                   const uint16_t *signers,
                                   const uint8_t (*sigs)[CERTA_SIGNATURE_BYTES],
                                   size_t count)
{
    uint16_t f = (uint16_t)((n - 1) / 3);
    uint64_t seen = 0;
    size_t ok = 0;
    for (size_t i = 0; i < count; i++) {
        uint16_t s = signers[i];
        if (s >= n || s >= 64 || (seen >> s & 1u))
            return false;
        seen |= 1ull << s;
        uint8_t msg[CERTA_HASH_BYTES + CERTA_PBFT_COMMIT_SIGNED_BYTES];
        memcpy(msg, chain_id, CERTA_HASH_BYTES);
        certa_pbft_commit_signed(s, view, height, hash, msg + CERTA_HASH_BYTES);
        if (!c->verify(c->ctx, s, msg, sizeof msg, sigs[i]))
            return false;
        ok++;
    }
    return ok >= 2u * f + 1u;
}

/* Verifies a block record against the tip; fills r->reqs (*nreq), hash. */
static bool record_ok(certa_pbft *r, const certa_pbft_msg *rec, size_t *nreq,
                      uint8_t hash[CERTA_HASH_BYTES])
{
    if (rec->type != CERTA_PBFT_REC_BLOCK || rec->hdr.height != r->last_exec + 1 ||
        memcmp(rec->hdr.prev_hash, r->tip_hash, CERTA_HASH_BYTES) != 0 ||
        rec->hdr.timestamp_ms < r->tip.timestamp_ms || rec->sig_count < r->q)
        return false;
    hash_header(r, &rec->hdr, hash);
    uint64_t seen = 0;
    for (uint16_t i = 0; i < rec->sig_count; i++) {
        const uint8_t *e = rec->sigs + 66u * i;
        uint16_t s = certa_get_le16(e);
        if (s >= r->c.n || s >= 64 || (seen >> s & 1u))
            return false;
        seen |= 1ull << s;
        uint8_t msg[CERTA_PBFT_COMMIT_SIGNED_BYTES];
        certa_pbft_commit_signed(s, rec->aux, rec->hdr.height, hash, msg);
        size_t in_len;
        const uint8_t *in = sig_input(r, msg, sizeof msg, &in_len);
        if (!r->c.crypto.verify(r->c.crypto.ctx, s, in, in_len, e + 2))
            return false;
    }
    if (r->pend_ck_seq == rec->hdr.height &&
        memcmp(r->pend_ck_hash, hash, CERTA_HASH_BYTES) != 0)
        return false;
    if (!decode_reqs(r, &rec->reqs, nreq))
        return false;
    for (size_t i = 0; i < *nreq; i++)
        if (!r->c.app.validate_request(r->c.app.ctx, &r->reqs[i]))
            return false;
    return r->c.app.validate_block(r->c.app.ctx, &rec->hdr, r->reqs, *nreq);
}

static void on_fetch_reply(certa_pbft *r, const certa_pbft_msg *m)
{
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
        emit(r, CERTA_PBFT_ACT_DELIVER, 0, CERTA_PBFT_REC_BLOCK, rec.hdr.height,
             rec.aux, it, il);
        r->st.blocks_fetched++;
        certa_block_header hdr = rec.hdr;
        apply_executed(r, &hdr, hash, nreq);
        progress = true;
    }
    if (progress) {
        r->fetching = false;
        execute_ready(r);
        slot *nx = slot_peek(r, r->last_exec + 1);
        if (nx != NULL)
            maybe_commit(r, nx);
        maybe_fetch(r);
    }
}

static void on_status(certa_pbft *r, const certa_pbft_msg *m)
{
    if (m->seq > r->peer_exec[m->sender])
        r->peer_exec[m->sender] = m->seq;
    r->peer_view[m->sender] = m->view;
    r->peer_view_ms[m->sender] = r->now;
    if (m->view < r->view && !r->in_vc && primary(r, r->view) == r->c.id &&
        r->nv.len)
        send_to(r, m->sender, &r->nv);
    maybe_fetch(r);
}

/* ---------------------------------------------------------------- dispatch */

/* A PREPARE for a slot already prepared (or committed), or a COMMIT for a
 * slot already committed, in the current view changes nothing: with n = 4
 * one vote in three arrives after the quorum. It is dropped before its
 * signature is checked, which is the costly part of a vote. */
static bool vote_late(certa_pbft *r, const certa_pbft_msg *m)
{
    if ((m->type != CERTA_PBFT_MSG_PREPARE && m->type != CERTA_PBFT_MSG_COMMIT) ||
        r->in_vc || m->view != r->view)
        return false;
    slot *s = slot_peek(r, m->seq);
    if (s == NULL)
        return false;
    if (m->type == CERTA_PBFT_MSG_PREPARE)
        return (s->has_cert && s->cert_view == m->view) ||
               (s->committed && s->com_view == m->view);
    return s->committed && s->com_view == m->view;
}

static void on_message(certa_pbft *r, const uint8_t *bytes, size_t len)
{
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
    if (m.type != CERTA_PBFT_MSG_REQUEST && !verify_signed(r, &m)) {
        r->st.dropped_bad_signature++;
        return;
    }
    switch (m.type) {
    case CERTA_PBFT_MSG_REQUEST: {
        certa_pbft_request q = {m.integrator, m.seq, m.body, m.body_len};
        add_request(r, &q, false);
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
        on_view_change(r, &m, bytes, len);
        break;
    case CERTA_PBFT_MSG_NEW_VIEW:
        on_new_view(r, &m, bytes, len);
        break;
    case CERTA_PBFT_MSG_STATUS:
        on_status(r, &m);
        break;
    case CERTA_PBFT_MSG_FETCH:
        on_fetch(r, &m);
        break;
    case CERTA_PBFT_MSG_FETCH_REPLY:
        on_fetch_reply(r, &m);
        break;
    default:
        r->st.dropped_malformed++;
    }
}

/* Requests not yet in a proposal, again to the primary (a forward may be
 * lost, or the primary changed), a bounded number per period. */
static void forward_pool(certa_pbft *r)
{
    uint16_t to;
    if (!forward_target(r, &to))
        return;
    uint32_t sent = 0;
    for (uint32_t i = 0; i < r->npool && sent < FORWARD_PER_TICK; i++)
        if (r->pool[i].live && r->pool[i].prop_seq == 0 &&
            r->now >= r->pool[i].forwarded_ms + r->c.resend_ms) {
            forward_request(r, &r->pool[i], to);
            sent++;
        }
}

static void resend(certa_pbft *r)
{
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_STATUS;
    m.view = r->view;
    m.seq = r->last_exec;
    m.aux = r->h;
    buf b = make_signed(r, &m);
    bcast(r, &b);
    buf_free(&b);
    ownck *latest = NULL;
    for (int i = 0; i < OWNCK; i++)
        if (r->own[i].seq > r->h && r->own[i].raw.len &&
            (latest == NULL || r->own[i].seq > latest->seq))
            latest = &r->own[i];
    if (latest != NULL)
        bcast(r, &latest->raw);
    if (r->in_vc) {
        if (r->my_vc.len)
            bcast(r, &r->my_vc);
        forward_pool(r);
        return;
    }
    uint16_t p = primary(r, r->view);
    for (uint64_t s = r->last_exec + 1; s <= r->h + r->c.window; s++) {
        slot *sl = slot_peek(r, s);
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
                send_to(r, i, &sl->pp);
            }
        } else if (sl->prep[r->c.id].has && sl->prep[r->c.id].view == r->view)
            bcast(r, &sl->prep[r->c.id].raw);
        if (sl->commit_sent && sl->commit_view == r->view) {
            certa_pbft_msg c;
            memset(&c, 0, sizeof c);
            c.type = CERTA_PBFT_MSG_COMMIT;
            c.sender = r->c.id;
            c.view = r->view;
            c.seq = s;
            memcpy(c.digest, sl->d, CERTA_HASH_BYTES);
            c.sig = sl->com[r->c.id].sig;
            size_t len = 0;
            uint8_t *q = certa_pbft_msg_encode(&c, &len);
            CERTA_ASSERT(q != NULL);
            buf cb = {q, len};
            bcast(r, &cb);
            buf_free(&cb);
        }
    }
    forward_pool(r);
}

static void on_tick(certa_pbft *r)
{
    maybe_propose(r);
    if (!r->in_vc) {
        int o0 = pool_oldest_pruned(r);
        if (o0 >= 0) {
            uint64_t tm = view_timer_ms(r);
            uint64_t ref = r->last_exec_ms;
            if (r->pool[o0].arrival_ms > ref)
                ref = r->pool[o0].arrival_ms;
            if (r->view_start_ms > ref)
                ref = r->view_start_ms;
            if (peer_ahead(r) > r->last_exec)
                ref = r->now; /* lagging: catch up rather than accuse */
            /* a request starved while others execute also accuses */
            uint64_t oldest = r->pool[o0].arrival_ms > r->view_start_ms
                                  ? r->pool[o0].arrival_ms
                                  : r->view_start_ms;
            if (r->now >= ref + tm ||
                (r->now >= oldest + 4ull * tm && peer_ahead(r) <= r->last_exec))
                timer_view_change(r);
        }
    } else if (r->vc_timer && r->now >= r->vc_deadline) {
        timer_view_change(r);
    }
    if (r->now >= r->next_resend) {
        resend(r);
        r->next_resend = r->now + r->c.resend_ms;
    }
    maybe_fetch(r);
}

static uint64_t next_timer(certa_pbft *r)
{
    int o0 = pool_oldest(r);
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
        AT(ref + view_timer_ms(r));
        /* a closed can_propose gate reopens with the host's TICK */
        if (primary(r, r->view) == r->c.id &&
            (r->c.app.can_propose == NULL ||
             r->c.app.can_propose(r->c.app.ctx, r->next_seq))) {
            int u = pool_first_unprop(r);
            if (u >= 0)
                AT(r->pool[u].arrival_ms + r->c.batch_timeout_ms);
        }
    }
#undef AT
    if (t <= r->now)
        t = r->now + 1;
    return t;
}

certa_pbft_actions certa_pbft_step(certa_pbft *r, const certa_pbft_input *in,
                                   uint64_t now_ms)
{
    CERTA_ASSERT(r != NULL && in != NULL);
    if (now_ms > r->now)
        r->now = now_ms;
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
            add_request(r, &q, true);
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
    return out;
}

/* ---------------------------------------------------------------- lifecycle */

void certa_pbft_config_default(certa_pbft_config *c, uint16_t n, uint16_t id)
{
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
    r->tip = cfg->genesis;
    hash_header(r, &cfg->genesis, r->tip_hash);
    r->ck_hdr = cfg->genesis;
    memcpy(r->ck_hash, r->tip_hash, CERTA_HASH_BYTES);
    r->next_seq = 1;
    r->parent = r->tip;
    memcpy(r->parent_hash, r->tip_hash, CERTA_HASH_BYTES);
    r->parent_ok = true;
    *out = r;
    return CERTA_OK;
}

void certa_pbft_free(certa_pbft *r)
{
    if (r == NULL)
        return;
    if (r->slots != NULL)
        for (uint32_t i = 0; i < r->c.window; i++) {
            if (r->slots[i].prep != NULL && r->slots[i].com != NULL)
                slot_reset(r, &r->slots[i]);
            free(r->slots[i].prep);
            free(r->slots[i].com);
        }
    for (uint32_t i = 0; r->pool && i < r->npool; i++)
        buf_free(&r->pool[i].bytes);
    free(r->ht);
    for (uint16_t i = 0; r->ckr && i < r->c.n; i++)
        for (int k = 0; k < CKR; k++)
            buf_free(&r->ckr[i][k].raw);
    for (uint16_t i = 0; r->vcs && i < r->c.n; i++)
        buf_free(&r->vcs[i]);
    for (int i = 0; i < OWNCK; i++)
        buf_free(&r->own[i].raw);
    buf_free(&r->my_vc);
    buf_free(&r->nv);
    buf_free(&r->ck_proof);
    buf_free(&r->pend_ck_proof);
    buf_free(&r->sigin);
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
    hash_header(r, &m->hdr, s->vote_d);
    if (m->view != r->view || r->in_vc)
        return;
    s->has_pp = true;
    s->pp_view = m->view;
    memcpy(s->d, s->vote_d, CERTA_HASH_BYTES);
    s->hdr = m->hdr;
    buf_set(&s->pp, raw, len);
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
    certa_pbft_msg m;
    if (tip != NULL) {
        if (certa_pbft_msg_decode(tip, tip_len, &m) != CERTA_OK ||
            m.type != CERTA_PBFT_REC_BLOCK)
            return certa_errorf(ei, CERTA_E_PBFT, "pbft restore: tip is not a block record");
        r->last_exec = m.hdr.height;
        r->tip = m.hdr;
        hash_header(r, &m.hdr, r->tip_hash);
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
            hash_header(r, &m.hdr, r->ck_hash);
            buf_set(&r->ck_proof, m.l1.p - 4, m.l1.len + 4);
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
            buf_set(&r->my_vc, records[i], record_lens[i]);
            buf_set(&r->vcs[r->c.id], records[i], record_lens[i]);
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
            slot *s = slot_get(r, pp.seq);
            if (s != NULL && (!s->has_cert || s->cert_view < pp.view)) {
                buf_set(&s->cert, m.l1.p - 4, m.l1.len + 4);
                s->has_cert = true;
                s->cert_view = pp.view;
            }
        }
        if (m.type == CERTA_PBFT_MSG_PREPARE || m.type == CERTA_PBFT_MSG_PRE_PREPARE) {
            slot *s = slot_get(r, m.seq);
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
                    buf_set(&s->prep[r->c.id].raw, records[i], record_lens[i]);
                }
            } else {
                restore_pp(r, s, &m, records[i], record_lens[i]);
            }
        }
        if (m.type == CERTA_PBFT_MSG_COMMIT) {
            slot *s = slot_get(r, m.seq);
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
    if (nvrec != NULL && !r->in_vc && primary(r, r->view) == r->c.id) {
        certa_pbft_msg_decode(nvrec, nvlen, &m);
        if (m.view == r->view) {
            buf_set(&r->nv, nvrec, nvlen);
            size_t pos = 0;
            const uint8_t *it;
            size_t il;
            while (certa_pbft_list_next(&m.l2, &pos, &it, &il)) {
                certa_pbft_msg pp;
                if (certa_pbft_msg_decode(it, il, &pp) != CERTA_OK)
                    continue;
                slot *s = slot_get(r, pp.seq);
                if (s != NULL && !(s->voted && s->vote_view > pp.view)) {
                    s->voted = true;
                    s->vote_view = pp.view;
                    restore_pp(r, s, &pp, it, il);
                }
            }
        }
    }
    /* the parent for the next proposal must be known, else wait for a view
     * change or for execution to reach it */
    r->parent_ok = r->next_seq == r->last_exec + 1;
    slot *below = slot_peek(r, r->next_seq - 1);
    if (below != NULL && below->has_pp && below->pp_view == r->view)
        r->parent_ok = true;
    r->nacts = 0;
    r->arena_len = 0;
    return CERTA_OK;
}

const certa_pbft_stats *certa_pbft_get_stats(const certa_pbft *r) { return &r->st; }
uint64_t certa_pbft_view(const certa_pbft *r) { return r->view; }
bool certa_pbft_in_view_change(const certa_pbft *r) { return r->in_vc; }
uint64_t certa_pbft_last_executed(const certa_pbft *r) { return r->last_exec; }
uint64_t certa_pbft_stable_checkpoint(const certa_pbft *r) { return r->h; }
