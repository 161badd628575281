/* pbft_pool: the replica's pending requests (part of the PBFT core, see
 * pbft_internal.h). Requests wait here in arrival order until a proposal
 * holding them executes; a hash index finds one by (integrator, seq).
 *
 * Invariants kept by this file:
 *  - nlive counts the live entries, n_unprop and bytes_unprop the live ones
 *    with no accepted proposal (prop_seq == 0);
 *  - no live entry below live_lo, no live unproposed one below unprop_lo;
 *  - a request request_executed calls executed leaves the pool before it is
 *    proposed or accused over (pbft_pool_prune).
 */
#include "pbft_internal.h"

/* ---------------------------------------------------------------- buffers */

/* Releases b's storage (replica teardown, rare large buffers). */
void pbft_buf_free(buf *b)
{
    CERTA_ASSERT(b != NULL);
    CERTA_ASSERT(b->cap > 0 || b->p == NULL);
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

/* Empties b, keeping its storage for the next message unless it is large. */
void pbft_buf_clear(buf *b)
{
    CERTA_ASSERT(b != NULL);
    CERTA_ASSERT(b->len <= b->cap);
    if (b->cap > PBFT_BUF_KEEP_BYTES)
        pbft_buf_free(b);
    b->len = 0;
}

/* Storage for len bytes at b->p (b->len unchanged); allocates only when
 * b's storage is shorter. Never NULL. */
uint8_t *pbft_buf_reserve(buf *b, size_t len)
{
    CERTA_ASSERT(b != NULL && b->len <= b->cap);
    size_t need = len ? len : 1;
    if (b->cap < need) {
        uint8_t *q = realloc(b->p, need);
        CERTA_ASSERT(q != NULL);
        b->p = q;
        b->cap = need;
    }
    CERTA_ASSERT(b->p != NULL && b->cap >= len);
    return b->p;
}

void pbft_buf_set(buf *b, const uint8_t *p, size_t len)
{
    CERTA_ASSERT(b != NULL && (p != NULL || len == 0));
    CERTA_ASSERT(p == NULL || p + len <= b->p || p >= b->p + b->cap);
    pbft_buf_reserve(b, len);
    if (len)
        memcpy(b->p, p, len);
    b->len = len;
    CERTA_ASSERT(b->p != NULL && b->len == len && b->len <= b->cap);
}

/* ---------------------------------------------------------------- pool */

static uint32_t pool_hash(uint16_t integ, uint64_t seq)
{
    uint64_t h = (seq ^ ((uint64_t)integ << 48)) * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h >> 32);
}

int pbft_pool_find(const certa_pbft *r, uint16_t integ, uint64_t seq)
{
    CERTA_ASSERT(r->ht != NULL);
    for (uint32_t h = pool_hash(integ, seq) & r->htmask;; h = (h + 1) & r->htmask) {
        uint32_t v = r->ht[h];
        if (v == 0)
            return -1;
        CERTA_ASSERT(v - 1 < r->npool);
        const pend *p = &r->pool[v - 1];
        if (p->live && p->integrator == integ && p->seq == seq)
            return (int)(v - 1);
    }
}

static void ht_insert(certa_pbft *r, uint32_t i)
{
    CERTA_ASSERT(i < r->npool && r->pool[i].live);
    CERTA_ASSERT(r->npool <= (r->htmask + 1) / 2); /* the table never fills */
    uint32_t h = pool_hash(r->pool[i].integrator, r->pool[i].seq) & r->htmask;
    while (r->ht[h] != 0)
        h = (h + 1) & r->htmask;
    r->ht[h] = i + 1;
}

void pbft_pool_set_prop(certa_pbft *r, uint32_t i, uint64_t seq)
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
    CERTA_ASSERT(r->n_unprop <= r->nlive);
}

/* Drops tombstones, keeping arrival order, and rebuilds the index. */
static void pool_compact(certa_pbft *r)
{
    CERTA_ASSERT(r->nlive <= r->npool);
    uint32_t k = 0;
    /* a swap, not a copy: each entry keeps its own byte storage, so the
     * tombstones' storage moves up to be reused by the next requests */
    for (uint32_t i = 0; i < r->npool; i++)
        if (r->pool[i].live) {
            if (k != i) {
                pend t = r->pool[k];
                r->pool[k] = r->pool[i];
                r->pool[i] = t;
            }
            k++;
        }
    CERTA_ASSERT(k == r->nlive);
    r->npool = k;
    memset(r->ht, 0, ((size_t)r->htmask + 1) * sizeof *r->ht);
    for (uint32_t i = 0; i < k; i++)
        ht_insert(r, i);
    r->live_lo = 0;
    r->unprop_lo = 0;
    CERTA_ASSERT(r->npool == r->nlive);
}

void pbft_pool_remove(certa_pbft *r, uint32_t i)
{
    CERTA_ASSERT(i < r->npool && r->pool[i].live);
    pend *p = &r->pool[i];
    if (p->prop_seq == 0) {
        r->n_unprop--;
        r->bytes_unprop -= p->bytes.len;
    }
    pbft_buf_clear(&p->bytes);
    p->live = false;
    r->nlive--;
    if (r->npool - r->nlive > r->nlive + 64)
        pool_compact(r);
    CERTA_ASSERT(r->n_unprop <= r->nlive && r->nlive <= r->npool);
}

/* Index of the oldest live entry, or -1. */
int pbft_pool_oldest(certa_pbft *r)
{
    while (r->live_lo < r->npool && !r->pool[r->live_lo].live)
        r->live_lo++;
    CERTA_ASSERT(r->live_lo == r->npool || r->pool[r->live_lo].live);
    return r->live_lo < r->npool ? (int)r->live_lo : -1;
}

/* Index of the oldest live entry not in a proposal, or -1. */
int pbft_pool_first_unprop(certa_pbft *r)
{
    while (r->unprop_lo < r->npool &&
           (!r->pool[r->unprop_lo].live || r->pool[r->unprop_lo].prop_seq != 0))
        r->unprop_lo++;
    CERTA_ASSERT(r->unprop_lo == r->npool || r->pool[r->unprop_lo].prop_seq == 0);
    return r->unprop_lo < r->npool ? (int)r->unprop_lo : -1;
}

bool pbft_executed_req(certa_pbft *r, uint16_t integ, uint64_t seq)
{
    CERTA_ASSERT(r != NULL);
    return r->c.app.request_executed != NULL &&
           r->c.app.request_executed(r->c.app.ctx, integ, seq);
}

/* Removes a pending entry that will never be ordered and tells the host. */
void pbft_pool_drop(certa_pbft *r, uint32_t i)
{
    CERTA_ASSERT(i < r->npool && r->pool[i].live);
    pend *p = &r->pool[i];
    uint16_t integ = p->integrator;
    uint64_t seq = p->seq;
    pbft_pool_remove(r, i);
    r->st.requests_pruned++;
    if (r->c.app.request_dropped != NULL)
        r->c.app.request_dropped(r->c.app.ctx, integ, seq);
}

/* Drops entry i when the host now calls it executed; true when dropped. */
bool pbft_pool_prune(certa_pbft *r, uint32_t i)
{
    CERTA_ASSERT(i < r->npool);
    const pend *p = &r->pool[i];
    CERTA_ASSERT(p->live);
    if (!pbft_executed_req(r, p->integrator, p->seq))
        return false;
    pbft_pool_drop(r, i);
    return true;
}

/* The oldest live entry after pruning executed ones off the front, or -1:
 * what the view timer measures, so that a request the host now refuses
 * never makes this replica accuse a primary that rightly left it out. */
int pbft_pool_oldest_pruned(certa_pbft *r)
{
    int o;
    while ((o = pbft_pool_oldest(r)) >= 0 && r->pool[o].prop_seq == 0 &&
           pbft_pool_prune(r, (uint32_t)o))
        ;
    CERTA_ASSERT(o < 0 || ((uint32_t)o < r->npool && r->pool[o].live));
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
    buf keep = p->bytes; /* emptied storage of an earlier request */
    CERTA_ASSERT(!p->live && keep.len == 0);
    memset(p, 0, sizeof *p);
    p->bytes = keep;
    p->integrator = q->integrator;
    p->seq = q->seq;
    pbft_buf_set(&p->bytes, q->bytes, q->len);
    p->arrival_ms = r->now;
    p->live = true;
    r->nlive++;
    r->n_unprop++;
    r->bytes_unprop += q->len;
    ht_insert(r, i);
    CERTA_ASSERT(r->nlive <= r->npool && r->npool <= r->c.pending_max);
    return (int)i;
}

void pbft_forward_request(certa_pbft *r, pend *p, uint16_t to)
{
    CERTA_ASSERT(p->live && p->bytes.p != NULL);
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_REQUEST;
    m.integrator = p->integrator;
    m.seq = p->seq;
    m.body = p->bytes.p;
    m.body_len = p->bytes.len;
    buf b = pbft_make_signed(r, &m);
    pbft_send_to(r, to, &b);
    p->forwarded_ms = r->now;
}


/* Where this replica sends the requests its clients give it: the primary of
 * its view, or, while it follows a lower view (see pbft_following()), that
 * view's primary; none while it is the primary or in a view change alone. */
bool pbft_forward_target(const certa_pbft *r, uint16_t *to)
{
    CERTA_ASSERT(r != NULL && to != NULL);
    uint64_t w = r->view;
    if (r->in_vc && !pbft_following(r, &w))
        return false;
    *to = certa_pbft_primary(r, w);
    CERTA_ASSERT(*to < r->c.n);
    return *to != r->c.id;
}

void pbft_add_request(certa_pbft *r, const certa_pbft_request *q, bool from_client)
{
    CERTA_ASSERT(q != NULL && (q->bytes != NULL || q->len == 0));
    if (pbft_pool_find(r, q->integrator, q->seq) >= 0)
        return;
    if (pbft_executed_req(r, q->integrator, q->seq) ||
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
    if (from_client && pbft_forward_target(r, &to))
        pbft_forward_request(r, &r->pool[i], to);
}

/* Decodes a request list into r->reqs; false when malformed or too long. */
bool pbft_decode_reqs(certa_pbft *r, const certa_pbft_list *l, size_t *n)
{
    CERTA_ASSERT(l != NULL && n != NULL);
    size_t pos = 0, k = 0;
    const uint8_t *it;
    size_t il;
    if (l->count > CERTA_PBFT_BLOCK_REQUESTS_MAX)
        return false;
    while (certa_pbft_list_next(l, &pos, &it, &il)) {
        CERTA_ASSERT(k < l->count);
        if (!certa_pbft_request_item(it, il, &r->reqs[k]))
            return false;
        k++;
    }
    *n = k;
    return true;
}

void pbft_mark_proposed(certa_pbft *r, size_t n, uint64_t seq)
{
    CERTA_ASSERT(n <= CERTA_PBFT_BLOCK_REQUESTS_MAX && seq > 0);
    for (size_t i = 0; i < n; i++) {
        int k = pbft_pool_find(r, r->reqs[i].integrator, r->reqs[i].seq);
        if (k < 0 && !pbft_executed_req(r, r->reqs[i].integrator, r->reqs[i].seq))
            k = pool_add(r, &r->reqs[i]);
        if (k >= 0)
            pbft_pool_set_prop(r, (uint32_t)k, seq);
    }
    CERTA_ASSERT(r->n_unprop <= r->nlive && r->nlive <= r->npool);
}

/* The pool's invariants (see the top of this file), for
 * certa_pbft_check_invariants: the counters match the entries, the low
 * marks hold, and the index finds every live entry. */
void pbft_pool_check_invariants(const certa_pbft *r)
{
    CERTA_ASSERT(r->npool <= r->c.pending_max && r->nlive <= r->npool);
    CERTA_ASSERT(r->live_lo <= r->npool && r->unprop_lo <= r->npool);
    uint32_t live = 0, unprop = 0;
    size_t bytes = 0;
    for (uint32_t i = 0; i < r->npool; i++) {
        const pend *p = &r->pool[i];
        if (!p->live)
            continue;
        CERTA_ASSERT(i >= r->live_lo);
        live++;
        if (p->prop_seq == 0) {
            CERTA_ASSERT(i >= r->unprop_lo);
            unprop++;
            bytes += p->bytes.len;
        }
        int k = pbft_pool_find(r, p->integrator, p->seq);
        CERTA_ASSERT(k >= 0 && r->pool[k].integrator == p->integrator &&
                     r->pool[k].seq == p->seq);
    }
    CERTA_ASSERT(live == r->nlive);
    CERTA_ASSERT(unprop == r->n_unprop && bytes == r->bytes_unprop);
}
