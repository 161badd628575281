/* pbft_msg: canonical encoding of consensus messages and records.
 *
 * Invariants: decode(encode(m)) == m and encode(decode(b)) == b for every b
 * that decodes (the fuzz target tests/fuzz/fuzz_pbft_msg.c checks both);
 * the decoder never reads past len, never allocates, and bounds every count.
 * Lists are decoded by framing only; their items are decoded when used.
 * The committed block record (REC_BLOCK), its header form and the COMMIT's
 * signed bytes are engine/block.c's: this codec hands them over.
 */
#include "pbft_msg.h"

#include "certa/crypto.h"

#include <stdlib.h>
#include <string.h>

#include "certa/wire.h"

typedef struct rd {
    const uint8_t *p;
    size_t len;
    size_t pos;
    bool bad;
} rd;

static bool rd_need(rd *r, size_t n)
{
    CERTA_ASSERT(r->pos <= r->len);
    if (r->bad || r->len - r->pos < n) {
        r->bad = true;
        return false;
    }
    return true;
}

static uint64_t rd_uint(rd *r, unsigned bytes)
{
    CERTA_ASSERT(bytes == 1 || bytes == 2 || bytes == 4 || bytes == 8);
    if (!rd_need(r, bytes))
        return 0;
    const uint8_t *q = r->p + r->pos;
    r->pos += bytes;
    switch (bytes) {
    case 1:
        return q[0];
    case 2:
        return certa_get_le16(q);
    case 4:
        return certa_get_le32(q);
    default:
        CERTA_ASSERT(bytes == 8);
        return certa_get_le64(q);
    }
}

static const uint8_t *rd_bytes(rd *r, size_t n)
{
    CERTA_ASSERT(r != NULL && r->pos <= r->len);
    if (!rd_need(r, n))
        return NULL;
    const uint8_t *q = r->p + r->pos;
    r->pos += n;
    CERTA_ASSERT(r->pos <= r->len);
    return q;
}

static void rd_list(rd *r, certa_pbft_list *l, uint32_t max)
{
    CERTA_ASSERT(l != NULL && r->pos <= r->len);
    memset(l, 0, sizeof *l);
    uint64_t count = rd_uint(r, 4);
    if (r->bad)
        return;
    if (count > max) {
        r->bad = true;
        return;
    }
    size_t start = r->pos;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t n = rd_uint(r, 4);
        if (rd_bytes(r, n) == NULL)
            return;
    }
    CERTA_ASSERT(!r->bad && r->pos <= r->len);
    l->p = r->p + start;
    l->len = r->pos - start;
    l->count = (uint32_t)count;
}

bool certa_pbft_list_parse(const uint8_t *p, size_t len, certa_pbft_list *l)
{
    CERTA_ASSERT(l != NULL && (p != NULL || len == 0));
    rd r = {p, len, 0, false};
    rd_list(&r, l, CERTA_PBFT_LIST_ITEMS_MAX);
    CERTA_ASSERT(r.bad || (l->count <= CERTA_PBFT_LIST_ITEMS_MAX && l->len <= len));
    return !r.bad && r.pos == len;
}

bool certa_pbft_list_next(const certa_pbft_list *l, size_t *pos,
                          const uint8_t **item, size_t *item_len)
{
    if (*pos >= l->len)
        return false;
    CERTA_ASSERT(l->len - *pos >= 4);
    const uint8_t *q = l->p + *pos;
    size_t n = certa_get_le32(q);
    CERTA_ASSERT(l->len - *pos - 4 >= n);
    *item = q + 4;
    *item_len = n;
    *pos += 4 + n;
    return true;
}

bool certa_pbft_request_item(const uint8_t *item, size_t len,
                             certa_pbft_request *req)
{
    CERTA_ASSERT(item != NULL && req != NULL);
    certa_block_batch b;
    if (!certa_block_batch_item(item, len, &b))
        return false;
    *req = (certa_pbft_request){b.integrator, b.seq, b.bytes, b.len};
    CERTA_ASSERT(req->len < len && (req->bytes != NULL || req->len == 0));
    return true;
}

bool certa_pbft_peek_preprepare(const uint8_t *bytes, size_t len, uint64_t *height,
                                const uint8_t **items, size_t *lens,
                                size_t items_max, size_t *count)
{
    CERTA_ASSERT(height != NULL && count != NULL);
    CERTA_ASSERT(items_max == 0 || (items != NULL && lens != NULL));
    *count = 0;
    if (bytes == NULL || len < 2 || bytes[1] != CERTA_PBFT_MSG_PRE_PREPARE)
        return false; /* not one: no decode */
    certa_pbft_msg m;
    if (certa_pbft_msg_decode(bytes, len, &m) != CERTA_OK ||
        m.type != CERTA_PBFT_MSG_PRE_PREPARE)
        return false;
    size_t pos = 0, n = 0;
    const uint8_t *it;
    size_t il;
    while (n < items_max && certa_pbft_list_next(&m.reqs, &pos, &it, &il)) {
        items[n] = it;
        lens[n] = il;
        n++;
    }
    CERTA_ASSERT(n <= items_max && n <= m.reqs.count);
    *height = m.seq;
    *count = n;
    return true;
}

/* ---- writer ---- */
typedef struct wr {
    uint8_t *p;
    size_t len;
    size_t cap;
    bool bad;
} wr;

static void wr_need(wr *w, size_t n)
{
    CERTA_ASSERT(w->len <= w->cap);
    if (w->bad || w->cap - w->len >= n)
        return;
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len < n)
        cap *= 2;
    uint8_t *q = realloc(w->p, cap);
    if (q == NULL) {
        w->bad = true;
        return;
    }
    w->p = q;
    w->cap = cap;
    CERTA_ASSERT(w->cap - w->len >= n);
}

static void wr_uint(wr *w, uint64_t v, unsigned bytes)
{
    CERTA_ASSERT(bytes == 1 || bytes == 2 || bytes == 4 || bytes == 8);
    wr_need(w, bytes);
    if (w->bad)
        return;
    uint8_t *q = w->p + w->len;
    w->len += bytes;
    switch (bytes) {
    case 1:
        q[0] = (uint8_t)v;
        break;
    case 2:
        certa_put_le16(q, (uint16_t)v);
        break;
    case 4:
        certa_put_le32(q, (uint32_t)v);
        break;
    default:
        CERTA_ASSERT(bytes == 8);
        certa_put_le64(q, v);
        break;
    }
}

static void wr_bytes(wr *w, const void *b, size_t n)
{
    CERTA_ASSERT(b != NULL || n == 0);
    wr_need(w, n);
    if (w->bad || n == 0)
        return;
    memcpy(w->p + w->len, b, n);
    w->len += n;
    CERTA_ASSERT(w->len <= w->cap);
}

static void wr_list(wr *w, const certa_pbft_list *l)
{
    CERTA_ASSERT(w != NULL && l != NULL);
    CERTA_ASSERT(l->p != NULL || l->len == 0);
    wr_uint(w, l->count, 4);
    wr_bytes(w, l->p, l->len);
}

/* The header form is the block record's (engine/block.c owns it); the
 * core's messages that carry a header use the same bytes. */
void certa_pbft_header_encode(const certa_block_header *h,
                              uint8_t out[CERTA_PBFT_HEADER_BYTES])
{
    CERTA_ASSERT(h != NULL && out != NULL);
    certa_block_header_put(h, out);
}

void certa_pbft_header_decode(const uint8_t in[CERTA_PBFT_HEADER_BYTES],
                              certa_block_header *h)
{
    CERTA_ASSERT(in != NULL && h != NULL);
    certa_block_header_get(in, h);
}

static void rd_header(rd *r, certa_block_header *h)
{
    CERTA_ASSERT(h != NULL);
    const uint8_t *b = rd_bytes(r, CERTA_PBFT_HEADER_BYTES);
    CERTA_ASSERT(b != NULL || r->bad);
    if (b != NULL)
        certa_pbft_header_decode(b, h);
}

static void wr_header(wr *w, const certa_block_header *h)
{
    CERTA_ASSERT(h != NULL);
    uint8_t b[CERTA_PBFT_HEADER_BYTES];
    certa_pbft_header_encode(h, b);
    wr_bytes(w, b, sizeof b);
    CERTA_ASSERT(w->bad || w->len >= sizeof b);
}

bool certa_pbft_msg_is_signed(uint8_t type)
{
    return type >= CERTA_PBFT_MSG_REQUEST && type <= CERTA_PBFT_MSG_FETCH_REPLY;
}

/* Fields after (version, type[, sender]) and before the signature, in both
 * directions: one table keeps encoder and decoder in step. */
static void body_rd(rd *r, certa_pbft_msg *m)
{
    CERTA_ASSERT(r->pos <= r->len);
    switch (m->type) {
    case CERTA_PBFT_MSG_REQUEST: {
        m->integrator = (uint16_t)rd_uint(r, 2);
        m->seq = rd_uint(r, 8);
        uint64_t n = rd_uint(r, 4);
        if (n > CERTA_PBFT_REQUEST_BYTES_MAX) {
            r->bad = true;
            return;
        }
        m->body = rd_bytes(r, n);
        m->body_len = n;
        break;
    }
    case CERTA_PBFT_MSG_PRE_PREPARE:
        m->view = rd_uint(r, 8);
        m->seq = rd_uint(r, 8);
        rd_header(r, &m->hdr);
        rd_list(r, &m->reqs, CERTA_PBFT_BLOCK_REQUESTS_MAX);
        break;
    case CERTA_PBFT_MSG_PREPARE:
    case CERTA_PBFT_MSG_COMMIT: {
        m->view = rd_uint(r, 8);
        m->seq = rd_uint(r, 8);
        const uint8_t *d = rd_bytes(r, 32);
        if (d)
            memcpy(m->digest, d, 32);
        break;
    }
    case CERTA_PBFT_MSG_CHECKPOINT: {
        m->seq = rd_uint(r, 8);
        const uint8_t *d = rd_bytes(r, 32);
        if (d)
            memcpy(m->digest, d, 32);
        break;
    }
    case CERTA_PBFT_MSG_VIEW_CHANGE:
        m->view = rd_uint(r, 8);
        m->seq = rd_uint(r, 8);
        rd_header(r, &m->hdr);
        rd_list(r, &m->l1, CERTA_PBFT_VALIDATORS_MAX);
        rd_list(r, &m->l2, CERTA_PBFT_WINDOW_MAX);
        break;
    case CERTA_PBFT_MSG_NEW_VIEW:
        m->view = rd_uint(r, 8);
        rd_list(r, &m->l1, CERTA_PBFT_VALIDATORS_MAX);
        rd_list(r, &m->l2, 2 * CERTA_PBFT_WINDOW_MAX);
        break;
    case CERTA_PBFT_MSG_STATUS:
        m->view = rd_uint(r, 8);
        m->seq = rd_uint(r, 8);
        m->aux = rd_uint(r, 8);
        break;
    case CERTA_PBFT_MSG_FETCH:
        m->seq = rd_uint(r, 8);
        m->aux = rd_uint(r, 4);
        break;
    case CERTA_PBFT_MSG_FETCH_REPLY:
        rd_list(r, &m->l1, CERTA_PBFT_WINDOW_MAX);
        break;
    case CERTA_PBFT_REC_BLOCK: /* decoded by engine/block.c, never here */
        CERTA_ASSERT(m->type != CERTA_PBFT_REC_BLOCK);
        r->bad = true;
        break;
    case CERTA_PBFT_REC_CHECKPOINT:
        m->seq = rd_uint(r, 8);
        rd_header(r, &m->hdr);
        rd_list(r, &m->l1, CERTA_PBFT_VALIDATORS_MAX);
        break;
    case CERTA_PBFT_REC_CERT:
        rd_list(r, &m->l1, CERTA_PBFT_VALIDATORS_MAX + 1);
        break;
    default:
        r->bad = true;
    }
}

static void body_wr(wr *w, const certa_pbft_msg *m)
{
    CERTA_ASSERT(w->bad || w->len <= w->cap);
    switch (m->type) {
    case CERTA_PBFT_MSG_REQUEST:
        wr_uint(w, m->integrator, 2);
        wr_uint(w, m->seq, 8);
        wr_uint(w, m->body_len, 4);
        wr_bytes(w, m->body, m->body_len);
        break;
    case CERTA_PBFT_MSG_PRE_PREPARE:
        wr_uint(w, m->view, 8);
        wr_uint(w, m->seq, 8);
        wr_header(w, &m->hdr);
        wr_list(w, &m->reqs);
        break;
    case CERTA_PBFT_MSG_PREPARE:
    case CERTA_PBFT_MSG_COMMIT:
        wr_uint(w, m->view, 8);
        wr_uint(w, m->seq, 8);
        wr_bytes(w, m->digest, 32);
        break;
    case CERTA_PBFT_MSG_CHECKPOINT:
        wr_uint(w, m->seq, 8);
        wr_bytes(w, m->digest, 32);
        break;
    case CERTA_PBFT_MSG_VIEW_CHANGE:
        wr_uint(w, m->view, 8);
        wr_uint(w, m->seq, 8);
        wr_header(w, &m->hdr);
        wr_list(w, &m->l1);
        wr_list(w, &m->l2);
        break;
    case CERTA_PBFT_MSG_NEW_VIEW:
        wr_uint(w, m->view, 8);
        wr_list(w, &m->l1);
        wr_list(w, &m->l2);
        break;
    case CERTA_PBFT_MSG_STATUS:
        wr_uint(w, m->view, 8);
        wr_uint(w, m->seq, 8);
        wr_uint(w, m->aux, 8);
        break;
    case CERTA_PBFT_MSG_FETCH:
        wr_uint(w, m->seq, 8);
        wr_uint(w, m->aux, 4);
        break;
    case CERTA_PBFT_MSG_FETCH_REPLY:
        wr_list(w, &m->l1);
        break;
    case CERTA_PBFT_REC_BLOCK: /* encoded by engine/block.c, never here */
        CERTA_ASSERT(m->type != CERTA_PBFT_REC_BLOCK);
        w->bad = true;
        break;
    case CERTA_PBFT_REC_CHECKPOINT:
        wr_uint(w, m->seq, 8);
        wr_header(w, &m->hdr);
        wr_list(w, &m->l1);
        break;
    case CERTA_PBFT_REC_CERT:
        wr_list(w, &m->l1);
        break;
    default:
        w->bad = true;
    }
}

/* The block record is engine/block.c's format: the core's view of it is
 * the same fields under the message's names. */
static certa_err rec_block_decode(const uint8_t *in, size_t len, certa_pbft_msg *m)
{
    certa_block b;
    certa_err e = certa_block_decode(in, len, &b, NULL);
    if (e != CERTA_OK)
        return e;
    m->type = CERTA_PBFT_REC_BLOCK;
    m->hdr = b.hdr;
    m->aux = b.commit_view;
    m->reqs = (certa_pbft_list){b.batches, b.batches_len, b.batch_count};
    m->sig_count = b.sig_count;
    m->sigs = b.sigs;
    CERTA_ASSERT(m->reqs.count <= CERTA_PBFT_BLOCK_REQUESTS_MAX);
    return CERTA_OK;
}

/* Encodes a block record into *p (capacity *cap), growing it when short. */
static bool rec_block_encode(const certa_pbft_msg *m, uint8_t **p, size_t *cap,
                             size_t *out_len)
{
    CERTA_ASSERT(m->type == CERTA_PBFT_REC_BLOCK);
    CERTA_ASSERT(p != NULL && cap != NULL && out_len != NULL);
    certa_block b = {.hdr = m->hdr, .commit_view = m->aux, .batch_count = m->reqs.count,
                     .batches = m->reqs.p, .batches_len = m->reqs.len,
                     .sig_count = m->sig_count, .sigs = m->sigs};
    size_t need = certa_block_encoded_len(&b);
    if (*cap < need) {
        uint8_t *q = realloc(*p, need);
        if (q == NULL)
            return false;
        *p = q;
        *cap = need;
    }
    if (certa_block_encode(&b, *p, *cap, out_len, NULL) != CERTA_OK)
        return false;
    CERTA_ASSERT(*out_len == need && *out_len <= *cap);
    return true;
}

certa_err certa_pbft_msg_decode(const uint8_t *in, size_t len, certa_pbft_msg *m)
{
    memset(m, 0, sizeof *m);
    if (in == NULL || len < 2)
        return CERTA_E_TRUNCATED;
    if (len > CERTA_PBFT_MSG_BYTES_MAX)
        return CERTA_E_TOO_LONG;
    if (in[0] != CERTA_PBFT_MSG_VERSION)
        return CERTA_E_BAD_VERSION;
    if (in[1] == CERTA_PBFT_REC_BLOCK)
        return rec_block_decode(in, len, m);
    rd r = {in, len, 2, false};
    m->type = in[1];
    bool sig = certa_pbft_msg_is_signed(m->type);
    if (sig)
        m->sender = (uint16_t)rd_uint(&r, 2);
    body_rd(&r, m);
    if (r.bad)
        return m->type == 0 || (m->type > CERTA_PBFT_MSG_FETCH_REPLY &&
                                (m->type < CERTA_PBFT_REC_BLOCK ||
                                 m->type > CERTA_PBFT_REC_CERT))
                   ? CERTA_E_BAD_KIND
                   : CERTA_E_TRUNCATED;
    if (sig) {
        m->signed_bytes = in;
        m->signed_len = r.pos;
        m->sig = rd_bytes(&r, CERTA_SIGNATURE_BYTES);
        if (r.bad)
            return CERTA_E_TRUNCATED;
    }
    if (r.pos != len)
        return CERTA_E_TRAILING;
    CERTA_ASSERT(!sig || (m->sig != NULL && m->signed_len + CERTA_SIGNATURE_BYTES == len));
    return CERTA_OK;
}

bool certa_pbft_msg_encode_into(const certa_pbft_msg *m, uint8_t **p, size_t *cap,
                                size_t *out_len)
{
    CERTA_ASSERT(m != NULL && p != NULL && cap != NULL && out_len != NULL);
    CERTA_ASSERT(*p != NULL || *cap == 0);
    if (m->type == CERTA_PBFT_REC_BLOCK)
        return rec_block_encode(m, p, cap, out_len);
    wr w = {*p, 0, *cap, false};
    wr_uint(&w, CERTA_PBFT_MSG_VERSION, 1);
    wr_uint(&w, m->type, 1);
    bool sig = certa_pbft_msg_is_signed(m->type);
    if (sig)
        wr_uint(&w, m->sender, 2);
    body_wr(&w, m);
    if (sig) {
        wr_need(&w, CERTA_SIGNATURE_BYTES);
        if (!w.bad) {
            if (m->sig != NULL)
                memcpy(w.p + w.len, m->sig, CERTA_SIGNATURE_BYTES);
            else
                memset(w.p + w.len, 0, CERTA_SIGNATURE_BYTES);
            w.len += CERTA_SIGNATURE_BYTES;
        }
    }
    /* the buffer stays the caller's, moved or not, even on failure */
    *p = w.p;
    *cap = w.cap;
    if (w.bad)
        return false;
    CERTA_ASSERT(w.p != NULL && w.len >= 2 && w.len <= w.cap);
    *out_len = w.len;
    return true;
}

uint8_t *certa_pbft_msg_encode(const certa_pbft_msg *m, size_t *out_len)
{
    CERTA_ASSERT(m != NULL && out_len != NULL);
    uint8_t *p = NULL;
    size_t cap = 0;
    if (!certa_pbft_msg_encode_into(m, &p, &cap, out_len)) {
        free(p);
        return NULL;
    }
    CERTA_ASSERT(p != NULL && *out_len <= cap);
    return p;
}

bool certa_pbft_msg_prehashed(uint8_t type)
{
    return type == CERTA_PBFT_MSG_REQUEST || type == CERTA_PBFT_MSG_PRE_PREPARE ||
           type == CERTA_PBFT_MSG_VIEW_CHANGE || type == CERTA_PBFT_MSG_NEW_VIEW;
}

size_t certa_pbft_sig_input(const uint8_t chain_id[CERTA_HASH_BYTES],
                            const uint8_t *signed_bytes, size_t len,
                            uint8_t *out, size_t cap)
{
    CERTA_ASSERT(chain_id != NULL && signed_bytes != NULL && len >= 2);
    CERTA_ASSERT(out != NULL || cap == 0);
    if (certa_pbft_msg_prehashed(signed_bytes[1])) {
        if (cap >= CERTA_PBFT_SIG_PREHASHED_BYTES) {
            memcpy(out, chain_id, CERTA_HASH_BYTES);
            out[CERTA_HASH_BYTES] = 0x00;
            certa_sha256(signed_bytes, len, out + CERTA_HASH_BYTES + 1);
        }
        return CERTA_PBFT_SIG_PREHASHED_BYTES;
    }
    if (cap >= CERTA_HASH_BYTES + len) {
        memcpy(out, chain_id, CERTA_HASH_BYTES);
        memcpy(out + CERTA_HASH_BYTES, signed_bytes, len);
    }
    return CERTA_HASH_BYTES + len;
}

size_t certa_pbft_msg_signed_len(const uint8_t *enc, size_t len)
{
    CERTA_ASSERT(enc != NULL || len == 0);
    if (len < 2 + CERTA_SIGNATURE_BYTES || !certa_pbft_msg_is_signed(enc[1]))
        return 0;
    CERTA_ASSERT(len - CERTA_SIGNATURE_BYTES >= 2);
    return len - CERTA_SIGNATURE_BYTES;
}

bool certa_pbft_list_build_into(const uint8_t *const *items, const size_t *lens,
                                size_t count, uint8_t **p, size_t *cap,
                                size_t *out_len)
{
    CERTA_ASSERT(count == 0 || (items != NULL && lens != NULL));
    CERTA_ASSERT(p != NULL && cap != NULL && out_len != NULL);
    wr w = {*p, 0, *cap, false};
    wr_uint(&w, count, 4);
    for (size_t i = 0; i < count; i++) {
        wr_uint(&w, lens[i], 4);
        wr_bytes(&w, items[i], lens[i]);
    }
    *p = w.p;
    *cap = w.cap;
    if (w.bad || w.p == NULL)
        return false;
    CERTA_ASSERT(w.len >= 4 + 4 * count && w.len <= w.cap);
    *out_len = w.len;
    return true;
}

uint8_t *certa_pbft_list_build(const uint8_t *const *items, const size_t *lens,
                               size_t count, size_t *out_len)
{
    uint8_t *p = NULL;
    size_t cap = 0;
    if (!certa_pbft_list_build_into(items, lens, count, &p, &cap, out_len)) {
        free(p);
        return NULL;
    }
    CERTA_ASSERT(p != NULL && *out_len <= cap);
    return p;
}

const char *certa_pbft_msg_name(uint8_t type)
{
    switch (type) {
    case CERTA_PBFT_MSG_REQUEST: return "request";
    case CERTA_PBFT_MSG_PRE_PREPARE: return "pre-prepare";
    case CERTA_PBFT_MSG_PREPARE: return "prepare";
    case CERTA_PBFT_MSG_COMMIT: return "commit";
    case CERTA_PBFT_MSG_CHECKPOINT: return "checkpoint";
    case CERTA_PBFT_MSG_VIEW_CHANGE: return "view-change";
    case CERTA_PBFT_MSG_NEW_VIEW: return "new-view";
    case CERTA_PBFT_MSG_STATUS: return "status";
    case CERTA_PBFT_MSG_FETCH: return "fetch";
    case CERTA_PBFT_MSG_FETCH_REPLY: return "fetch-reply";
    case CERTA_PBFT_REC_BLOCK: return "block-record";
    case CERTA_PBFT_REC_CHECKPOINT: return "checkpoint-record";
    case CERTA_PBFT_REC_CERT: return "cert-record";
    default: return "unknown";
    }
}
