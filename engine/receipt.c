/* receipt: receipts in binary
 * (see receipt.h; layouts in docs/PROTOCOL.md "Receipts"). The JSON form is
 * in receipt_json.c and the offline verification in receipt_verify.c, so
 * that neither the codec nor the verifier depends on jansson.
 *
 * Invariants: decoders check every length before reading and accept only
 * the canonical encoding (no trailing bytes, reserved bytes zero, limits
 * enforced, signatures in strictly increasing validator order); verification
 * never trusts a field it has not checked against the genesis or a hash.
 */
#include "certa/receipt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certa/merkle.h"
#include "certa/state.h" /* result codes */

#include "certa/crypto.h"
#include "certa/wire.h"

#define ENTRY_FIXED_BYTES (2u + 1u + 2u)
#define BATCH_FIXED_BYTES (4u + 1u + 1u + 2u + 8u + CERTA_HEADER_BYTES + 8u + 8u + \
                           CERTA_HASH_BYTES + 2u)
#define HEADER_EVENT_COUNT_AT 32u /* u32 event_count in the encoded header */

/* ---- binary ---- */

static size_t cert_bytes(const certa_commit_cert *c)
{
    return 8u + 8u + CERTA_HASH_BYTES + 2u + (size_t)c->count * (2u + CERTA_SIGNATURE_BYTES);
}

/* Largest power of two strictly smaller than n (n >= 2): RFC 9162 split. */
static uint64_t split_point(uint64_t n)
{
    CERTA_ASSERT(n >= 2);
    uint64_t k = 1;
    while (k <= (n - 1) / 2)
        k *= 2;
    return k;
}

/* The range proof of leaves [first, first + count) of a tree of n leaves:
 * the hashes of the subtrees that hold none of those leaves but whose
 * parent holds some, left to right in a depth-first walk (RFC 9162
 * splits). Built here from the entries' own inclusion paths: the subtree
 * beside the child that holds leaf m at depth d + 1 is m's path element
 * path_len - 1 - d. */
typedef struct proof_build {
    uint64_t first, count;
    const certa_receipt_entry *entries;
    bool results; /* walk the entries' result paths, not their event paths */
    uint8_t (*out)[CERTA_HASH_BYTES];
    size_t len, cap;
    bool ok;
} proof_build;

static void proof_emit(proof_build *pb, uint64_t m, unsigned depth)
{
    const certa_receipt_entry *en = &pb->entries[m - pb->first];
    const uint8_t (*path)[CERTA_HASH_BYTES] = pb->results ? en->result_path : en->path;
    size_t path_len = pb->results ? en->result_path_len : en->path_len;
    if (path_len <= depth || path == NULL || pb->len == pb->cap) {
        pb->ok = false;
        return;
    }
    memcpy(pb->out[pb->len++], path[path_len - 1 - depth], CERTA_HASH_BYTES);
}

static void proof_walk(proof_build *pb, uint64_t lo, uint64_t hi, unsigned depth)
{
    if (!pb->ok || hi - lo <= 1)
        return;
    uint64_t mid = lo + split_point(hi - lo);
    uint64_t end = pb->first + pb->count;
    bool left_in = pb->first < mid && end > lo;
    bool right_in = pb->first < hi && end > mid;
    if (left_in)
        proof_walk(pb, lo, mid, depth + 1);
    else
        proof_emit(pb, pb->first > mid ? pb->first : mid, depth);
    if (right_in)
        proof_walk(pb, mid, hi, depth + 1);
    else
        proof_emit(pb, pb->first > lo ? pb->first : lo, depth); /* range leaves are left */
}

static uint8_t *cert_put(uint8_t *p, const certa_commit_cert *cert)
{
    CERTA_ASSERT(cert->count <= CERTA_VALIDATORS_MAX);
    certa_put_le64(p, cert->view);
    certa_put_le64(p + 8, cert->height);
    memcpy(p + 16, cert->block_hash, CERTA_HASH_BYTES);
    certa_put_le16(p + 48, cert->count);
    p += 50;
    for (uint32_t i = 0; i < cert->count; i++) {
        certa_put_le16(p, cert->sigs[i].validator);
        memcpy(p + 2, cert->sigs[i].sig, CERTA_SIGNATURE_BYTES);
        p += 2 + CERTA_SIGNATURE_BYTES;
    }
    return p;
}

certa_err certa_receipt_batch_encode(uint16_t integrator, uint64_t seq,
                                     const uint8_t header[CERTA_HEADER_BYTES],
                                     const certa_commit_cert *cert,
                                     const certa_receipt_entry *entries,
                                     uint32_t count, uint8_t *out, size_t cap,
                                     size_t *len_out, certa_errinfo *ei)
{
    return certa_receipt_batch_encode_results(integrator, seq, header, cert, entries, count,
                                              NULL, out, cap, len_out, ei);
}

certa_err certa_receipt_batch_encode_results(uint16_t integrator, uint64_t seq,
                                             const uint8_t header[CERTA_HEADER_BYTES],
                                             const certa_commit_cert *cert,
                                             const certa_receipt_entry *entries,
                                             uint32_t count,
                                             const certa_receipt_results *rp,
                                             uint8_t *out, size_t cap, size_t *len_out,
                                             certa_errinfo *ei)
{
    CERTA_ASSERT(header != NULL && cert != NULL && out != NULL && len_out != NULL);
    if (count == 0 || count > CERTA_BATCH_EVENTS_MAX)
        return certa_errorf(ei, CERTA_E_ARG, "receipt: %u entries (1..%u)", count,
                            CERTA_BATCH_EVENTS_MAX);
    if (cert->count == 0 || cert->count > CERTA_VALIDATORS_MAX)
        return certa_errorf(ei, CERTA_E_ARG, "receipt: %u signatures", cert->count);
    if (rp != NULL && (rp->header == NULL || rp->cert == NULL || rp->cert->count == 0 ||
                       rp->cert->count > CERTA_VALIDATORS_MAX))
        return certa_errorf(ei, CERTA_E_ARG, "receipt: result proof without a header "
                            "or with %u signatures", rp->cert ? rp->cert->count : 0);
    uint64_t first = entries[0].leaf_index;
    uint64_t n = certa_get_le32(header + HEADER_EVENT_COUNT_AT);
    if (first + count > n)
        return certa_errorf(ei, CERTA_E_ARG, "receipt: leaves %" PRIu64 "..%" PRIu64
                            " past the header's %" PRIu64 " events", first,
                            first + count - 1, n);
    size_t need = 16u + CERTA_HEADER_BYTES + cert_bytes(cert) + 8u + 4u + 1u;
    for (uint32_t i = 0; i < count; i++) {
        const certa_receipt_entry *en = &entries[i];
        size_t rl = en->reason ? strlen(en->reason) : 0;
        if (rl > CERTA_RECEIPT_REASON_MAX || en->event_len == 0 ||
            en->event_len > CERTA_EVENT_BYTES_MAX || en->path_len > CERTA_RECEIPT_PATH_MAX ||
            (en->result == CERTA_RESULT_OK && rl != 0))
            return certa_errorf(ei, CERTA_E_ARG, "receipt: entry %u has a field "
                                "past its limit", i);
        if (en->leaf_index != first + i)
            return certa_errorf(ei, CERTA_E_ARG, "receipt: entry %u is leaf %" PRIu64
                                ", not %" PRIu64 " (the entries of a batch are "
                                "consecutive leaves)", i, en->leaf_index, first + i);
        need += ENTRY_FIXED_BYTES + rl + en->event_len;
    }
    uint8_t proof[CERTA_RECEIPT_PROOF_MAX][CERTA_HASH_BYTES];
    proof_build pb = {first, count, entries, false, proof, 0, CERTA_RECEIPT_PROOF_MAX, true};
    proof_walk(&pb, 0, n, 0);
    if (!pb.ok)
        return certa_errorf(ei, CERTA_E_ARG, "receipt: the entries' inclusion paths do "
                            "not fit a tree of %" PRIu64 " leaves", n);
    need += pb.len * CERTA_HASH_BYTES;
    /* The results tree has the events tree's shape (leaf i is event i's
     * result), so the same walk gives its range proof. */
    uint8_t rproof[CERTA_RECEIPT_PROOF_MAX][CERTA_HASH_BYTES];
    proof_build rb = {first, count, entries, true, rproof, 0, CERTA_RECEIPT_PROOF_MAX, true};
    if (rp != NULL) {
        proof_walk(&rb, 0, n, 0);
        if (!rb.ok)
            return certa_errorf(ei, CERTA_E_ARG, "receipt: the entries' result paths do "
                                "not fit a tree of %" PRIu64 " leaves", n);
        need += CERTA_HEADER_BYTES + cert_bytes(rp->cert) + 1u + rb.len * CERTA_HASH_BYTES;
    }
    if (need > cap)
        return certa_errorf(ei, CERTA_E_LIMIT, "receipt: needs %zu bytes, buffer "
                            "has %zu", need, cap);
    uint8_t *p = out;
    certa_put_le32(p, CERTA_RECEIPT_MAGIC);
    p[4] = rp != NULL ? CERTA_RECEIPT_VERSION_RESULTS : CERTA_RECEIPT_VERSION;
    p[5] = 0;
    certa_put_le16(p + 6, integrator);
    certa_put_le64(p + 8, seq);
    p += 16;
    memcpy(p, header, CERTA_HEADER_BYTES);
    p += CERTA_HEADER_BYTES;
    p = cert_put(p, cert);
    certa_put_le64(p, first);
    certa_put_le32(p + 8, count);
    p += 12;
    for (uint32_t i = 0; i < count; i++) {
        const certa_receipt_entry *en = &entries[i];
        size_t rl = en->reason ? strlen(en->reason) : 0;
        certa_put_le16(p, en->result);
        p[2] = (uint8_t)rl;
        p += 3;
        if (rl > 0)
            memcpy(p, en->reason, rl);
        p += rl;
        certa_put_le16(p, (uint16_t)en->event_len);
        p += 2;
        memcpy(p, en->event, en->event_len);
        p += en->event_len;
    }
    *p++ = (uint8_t)pb.len;
    memcpy(p, proof, pb.len * CERTA_HASH_BYTES);
    p += pb.len * CERTA_HASH_BYTES;
    if (rp != NULL) {
        memcpy(p, rp->header, CERTA_HEADER_BYTES);
        p = cert_put(p + CERTA_HEADER_BYTES, rp->cert);
        *p++ = (uint8_t)rb.len;
        memcpy(p, rproof, rb.len * CERTA_HASH_BYTES);
        p += rb.len * CERTA_HASH_BYTES;
    }
    CERTA_ASSERT((size_t)(p - out) == need);
    *len_out = need;
    return CERTA_OK;
}

static bool printable(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

/* Length of the entry at in (avail bytes), or 0 when malformed (reason in ei). */
static size_t entry_len(const uint8_t *in, size_t avail, uint32_t index,
                        certa_err *code, certa_errinfo *ei)
{
    *code = CERTA_E_TRUNCATED;
    if (avail < 3) {
        certa_errorf(ei, CERTA_E_TRUNCATED, "receipt entry %u: truncated", index);
        return 0;
    }
    uint16_t result = certa_get_le16(in);
    size_t rl = in[2];
    if (rl > CERTA_RECEIPT_REASON_MAX || (result == CERTA_RESULT_OK && rl != 0)) {
        *code = CERTA_E_BAD_FIELD;
        certa_errorf(ei, CERTA_E_BAD_FIELD, "receipt entry %u: reason of %zu bytes "
                     "with result %u", index, rl, result);
        return 0;
    }
    size_t off = 3 + rl;
    if (avail < off + 2) {
        certa_errorf(ei, CERTA_E_TRUNCATED, "receipt entry %u: truncated", index);
        return 0;
    }
    if (!printable(in + 3, rl)) {
        *code = CERTA_E_BAD_FIELD;
        certa_errorf(ei, CERTA_E_BAD_FIELD, "receipt entry %u: reason is not "
                     "printable ASCII", index);
        return 0;
    }
    size_t el = certa_get_le16(in + off);
    if (el == 0 || el > CERTA_EVENT_BYTES_MAX) {
        *code = CERTA_E_TOO_LONG;
        certa_errorf(ei, CERTA_E_TOO_LONG, "receipt entry %u: event of %zu bytes "
                     "(1..%u)", index, el, CERTA_EVENT_BYTES_MAX);
        return 0;
    }
    off += 2 + el;
    if (avail < off) {
        certa_errorf(ei, CERTA_E_TRUNCATED, "receipt entry %u: truncated", index);
        return 0;
    }
    return off;
}

/* Rebuilds every entry's path in one tree (events or results) from the
 * entries' leaf hashes and that tree's range proof (the inverse of
 * proof_walk); ok false when the proof has too few hashes. */
typedef struct expand_ctx {
    const certa_receipt_batch *b;
    const uint8_t (*leaf)[CERTA_HASH_BYTES];
    const uint8_t *proof;
    size_t proof_count;
    size_t next; /* proof hashes consumed */
    uint8_t *paths; /* entry k's path at k * b->path_stride hashes */
    uint8_t *lens;
    bool ok;
} expand_ctx;

static void path_push(expand_ctx *x, uint64_t m, const uint8_t h[CERTA_HASH_BYTES])
{
    uint32_t k = (uint32_t)(m - x->b->first_leaf);
    CERTA_ASSERT(x->lens[k] < x->b->path_stride);
    memcpy(x->paths + ((size_t)k * x->b->path_stride + x->lens[k]) * CERTA_HASH_BYTES, h,
           CERTA_HASH_BYTES);
    x->lens[k]++;
}

static void expand_rec(expand_ctx *x, uint64_t lo, uint64_t hi, uint8_t out[CERTA_HASH_BYTES])
{
    const certa_receipt_batch *b = x->b;
    uint64_t first = b->first_leaf, end = b->first_leaf + b->entry_count;
    if (!x->ok)
        return;
    if (hi <= first || lo >= end) {
        if (x->next == x->proof_count) {
            x->ok = false;
            return;
        }
        memcpy(out, x->proof + x->next * CERTA_HASH_BYTES, CERTA_HASH_BYTES);
        x->next++;
        return;
    }
    if (hi - lo == 1) {
        memcpy(out, x->leaf[lo - first], CERTA_HASH_BYTES);
        return;
    }
    uint64_t mid = lo + split_point(hi - lo);
    uint8_t l[CERTA_HASH_BYTES], r[CERTA_HASH_BYTES];
    expand_rec(x, lo, mid, l);
    expand_rec(x, mid, hi, r);
    if (!x->ok)
        return;
    for (uint64_t m = lo > first ? lo : first; m < mid && m < end; m++)
        path_push(x, m, r);
    for (uint64_t m = mid > first ? mid : first; m < hi && m < end; m++)
        path_push(x, m, l);
    certa_merkle_node_hash(l, r, out);
}

void certa_receipt_batch_free(certa_receipt_batch *b)
{
    if (b == NULL)
        return;
    free(b->entry_off);
    free(b->paths);
    free(b->path_lens);
    free(b->result_paths);
    free(b->result_path_lens);
    b->entry_off = NULL;
    b->paths = NULL;
    b->path_lens = NULL;
    b->result_paths = NULL;
    b->result_path_lens = NULL;
}

/* Reads a certificate at *p (rest bytes left): count, then the signatures.
 * Advances *p; false (reason in ei) when truncated or the count is off. */
static certa_err cert_get(const uint8_t **p, size_t rest, certa_commit_cert *cert,
                          const char *what, certa_errinfo *ei)
{
    if (rest < 50)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "receipt: truncated in the %s", what);
    const uint8_t *q = *p;
    cert->view = certa_get_le64(q);
    cert->height = certa_get_le64(q + 8);
    memcpy(cert->block_hash, q + 16, CERTA_HASH_BYTES);
    uint16_t n = certa_get_le16(q + 48);
    if (n == 0 || n > CERTA_VALIDATORS_MAX)
        return certa_errorf(ei, CERTA_E_TOO_LONG, "receipt: %u signatures in the %s "
                            "(1..%u)", n, what, CERTA_VALIDATORS_MAX);
    if (rest - 50 < (size_t)n * (2 + CERTA_SIGNATURE_BYTES))
        return certa_errorf(ei, CERTA_E_TRUNCATED, "receipt: truncated in the %s", what);
    cert->count = n;
    q += 50;
    for (uint16_t i = 0; i < n; i++) {
        cert->sigs[i].validator = certa_get_le16(q);
        memcpy(cert->sigs[i].sig, q + 2, CERTA_SIGNATURE_BYTES);
        q += 2 + CERTA_SIGNATURE_BYTES;
    }
    *p = q;
    return CERTA_OK;
}

/* Reads a range proof at *p (rest bytes left): u8 count, the hashes. */
static certa_err proof_get(const uint8_t **p, size_t rest, const uint8_t **proof,
                           uint8_t *count, const char *what, certa_errinfo *ei)
{
    if (rest < 1)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "receipt: truncated before the %s", what);
    size_t pc = **p;
    if (pc > CERTA_RECEIPT_PROOF_MAX || rest - 1 < pc * CERTA_HASH_BYTES)
        return certa_errorf(ei, pc > CERTA_RECEIPT_PROOF_MAX ? CERTA_E_TOO_LONG
                                                             : CERTA_E_TRUNCATED,
                            "receipt: %s of %zu hashes (max %u) in %zu bytes", what, pc,
                            CERTA_RECEIPT_PROOF_MAX, rest - 1);
    *proof = *p + 1;
    *count = (uint8_t)pc;
    *p += 1 + pc * CERTA_HASH_BYTES;
    return CERTA_OK;
}

/* The result section of a version 3 receipt at p (rest bytes, all of it
 * must be the section): later header, its certificate, results proof. */
static certa_err results_rd(certa_receipt_batch *b, const uint8_t *p, size_t rest,
                            certa_errinfo *ei)
{
    const uint8_t *start = p;
    if (rest < CERTA_HEADER_BYTES)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "receipt: truncated in the result "
                            "proof's header");
    b->result_header = p;
    p += CERTA_HEADER_BYTES;
    certa_err e = cert_get(&p, rest - (size_t)(p - start), &b->result_cert,
                           "result proof's certificate", ei);
    if (e == CERTA_OK)
        e = proof_get(&p, rest - (size_t)(p - start), &b->result_proof,
                      &b->result_proof_count, "results range proof", ei);
    if (e != CERTA_OK)
        return e;
    if ((size_t)(p - start) != rest)
        return certa_errorf(ei, CERTA_E_TRAILING, "receipt: %zu bytes after the results "
                            "range proof", rest - (size_t)(p - start));
    b->has_result_proof = true;
    return CERTA_OK;
}

uint8_t certa_receipt_result_kind(uint16_t result, const uint8_t *event, size_t len)
{
    CERTA_ASSERT(event != NULL || len == 0);
    if (result == CERTA_R_REPLAYED || result == CERTA_R_TOO_OLD)
        return 0;
    certa_event d;
    if (certa_event_decode(event, len, &d, NULL) != CERTA_OK)
        return 0;
    return d.kind;
}

/* Rebuilds every entry's event path (and result path in version 3) from
 * its leaves and the range proofs; CERTA_E_BAD_FIELD when a proof has too
 * few or too many hashes. */
static certa_err paths_rebuild(certa_receipt_batch *b, uint64_t leaves, certa_errinfo *ei)
{
    uint32_t count = b->entry_count;
    unsigned depth = 0;
    while (((uint64_t)1 << depth) < leaves)
        depth++;
    b->path_stride = depth ? depth : 1;
    size_t path_bytes = (size_t)count * b->path_stride * CERTA_HASH_BYTES;
    b->paths = malloc(path_bytes);
    b->path_lens = calloc(count, 1);
    if (b->has_result_proof) {
        b->result_paths = malloc(path_bytes);
        b->result_path_lens = calloc(count, 1);
    }
    uint8_t (*leaf)[CERTA_HASH_BYTES] = malloc((size_t)count * 2 * CERTA_HASH_BYTES);
    if (b->paths == NULL || b->path_lens == NULL || leaf == NULL ||
        (b->has_result_proof && (b->result_paths == NULL || b->result_path_lens == NULL))) {
        free(leaf);
        return certa_errorf(ei, CERTA_E_NOMEM, "receipt: %u paths", count);
    }
    uint8_t (*rleaf)[CERTA_HASH_BYTES] = leaf + count;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = b->entries + b->entry_off[i];
        size_t ev_at = 3 + (size_t)e[2];
        size_t el = certa_get_le16(e + ev_at);
        uint8_t lb[10 + CERTA_EVENT_BYTES_MAX];
        size_t ll = certa_leaf_encode(b->integrator, b->seq, e + ev_at + 2, el, lb, sizeof lb);
        CERTA_ASSERT(ll > 0);
        certa_merkle_leaf_hash(lb, ll, leaf[i]);
        /* a result code above a byte has no result leaf: leave it to the
         * verifier to refuse (it names the result) */
        uint16_t code = certa_get_le16(e);
        uint8_t rl[2] = {(uint8_t)code, certa_receipt_result_kind(code, e + ev_at + 2, el)};
        certa_merkle_leaf_hash(rl, sizeof rl, rleaf[i]);
    }
    uint8_t root[CERTA_HASH_BYTES];
    expand_ctx x = {b, (const uint8_t(*)[CERTA_HASH_BYTES])leaf, b->proof, b->proof_count,
                    0, b->paths, b->path_lens, true};
    expand_rec(&x, 0, leaves, root);
    bool ok = x.ok && x.next == b->proof_count;
    const char *which = "proof";
    if (ok && b->has_result_proof) {
        expand_ctx y = {b, (const uint8_t(*)[CERTA_HASH_BYTES])rleaf, b->result_proof,
                        b->result_proof_count, 0, b->result_paths, b->result_path_lens, true};
        expand_rec(&y, 0, leaves, root);
        ok = y.ok && y.next == b->result_proof_count;
        which = "result proof";
    }
    free(leaf);
    if (!ok)
        return certa_errorf(ei, CERTA_E_BAD_FIELD, "%s: the hashes do not fit leaves "
                            "%" PRIu64 "..%" PRIu64 " of %" PRIu64, which, b->first_leaf,
                            b->first_leaf + count - 1, leaves);
    return CERTA_OK;
}

certa_err certa_receipt_batch_decode(const uint8_t *in, size_t len,
                                     certa_receipt_batch *b, certa_errinfo *ei)
{
    CERTA_ASSERT(b != NULL);
    memset(b, 0, sizeof *b);
    if (len < BATCH_FIXED_BYTES)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "receipt: %zu bytes, need at "
                            "least %u", len, BATCH_FIXED_BYTES);
    if (certa_get_le32(in) != CERTA_RECEIPT_MAGIC)
        return certa_errorf(ei, CERTA_E_BAD_MAGIC, "receipt: bad magic");
    if (in[4] != CERTA_RECEIPT_VERSION && in[4] != CERTA_RECEIPT_VERSION_RESULTS)
        return certa_errorf(ei, CERTA_E_BAD_VERSION, "receipt: version %u", in[4]);
    if (in[5] != 0)
        return certa_errorf(ei, CERTA_E_RESERVED, "receipt: reserved byte set");
    bool v3 = in[4] == CERTA_RECEIPT_VERSION_RESULTS;
    b->integrator = certa_get_le16(in + 6);
    b->seq = certa_get_le64(in + 8);
    b->header = in + 16;
    const uint8_t *p = in + 16 + CERTA_HEADER_BYTES;
    certa_err e = cert_get(&p, len - (size_t)(p - in), &b->cert, "commit certificate", ei);
    if (e != CERTA_OK)
        return e;
    size_t rest = len - (size_t)(p - in);
    if (rest < 12)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "receipt: truncated in the "
                            "commit certificate");
    uint64_t first = certa_get_le64(p);
    uint32_t count = certa_get_le32(p + 8);
    p += 12;
    if (count == 0 || count > CERTA_BATCH_EVENTS_MAX)
        return certa_errorf(ei, CERTA_E_TOO_LONG, "receipt: %u entries (1..%u)",
                            count, CERTA_BATCH_EVENTS_MAX);
    uint64_t leaves = certa_get_le32(b->header + HEADER_EVENT_COUNT_AT);
    if (first > leaves || count > leaves - first)
        return certa_errorf(ei, CERTA_E_BAD_FIELD, "receipt: leaves %" PRIu64 "..%" PRIu64
                            " past the header's %" PRIu64 " events", first,
                            first + count - 1, leaves);
    rest = len - (size_t)(p - in);
    b->entries = p;
    b->entry_off = malloc(((size_t)count + 1) * sizeof *b->entry_off);
    if (b->entry_off == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "receipt: %u entries", count);
    size_t off = 0;
    for (uint32_t i = 0; i < count; i++) {
        certa_err code;
        b->entry_off[i] = (uint32_t)off;
        size_t el = entry_len(p + off, rest - off, i, &code, ei);
        if (el == 0) {
            certa_receipt_batch_free(b);
            return code;
        }
        off += el;
    }
    b->entry_off[count] = (uint32_t)off;
    b->first_leaf = first;
    b->entry_count = count;
    b->entries_len = off;
    p += off;
    e = proof_get(&p, len - (size_t)(p - in), &b->proof, &b->proof_count, "proof", ei);
    if (e == CERTA_OK && v3)
        e = results_rd(b, p, len - (size_t)(p - in), ei);
    else if (e == CERTA_OK && p != in + len)
        e = certa_errorf(ei, CERTA_E_TRAILING, "receipt: %zu bytes after the proof",
                         len - (size_t)(p - in));
    if (e == CERTA_OK)
        e = paths_rebuild(b, leaves, ei);
    if (e != CERTA_OK) {
        certa_receipt_batch_free(b);
        return e;
    }
    CERTA_ASSERT(b->has_result_proof == v3);
    return CERTA_OK;
}

bool certa_receipt_batch_next(const certa_receipt_batch *b, size_t *offset,
                              certa_receipt *r)
{
    if (*offset >= b->entry_count)
        return false;
    uint32_t k = (uint32_t)*offset;
    const uint8_t *p = b->entries + b->entry_off[k];
    r->integrator = b->integrator;
    r->seq = b->seq;
    memcpy(r->header, b->header, CERTA_HEADER_BYTES);
    r->cert = b->cert;
    r->leaf_index = b->first_leaf + k;
    r->result = certa_get_le16(p);
    size_t rl = p[2];
    memcpy(r->reason, p + 3, rl);
    r->reason[rl] = '\0';
    p += 3 + rl;
    r->event_len = certa_get_le16(p);
    memcpy(r->event, p + 2, r->event_len);
    r->path_len = b->path_lens[k];
    memcpy(r->path, b->paths + (size_t)k * b->path_stride * CERTA_HASH_BYTES,
           (size_t)r->path_len * CERTA_HASH_BYTES);
    r->has_result_proof = b->has_result_proof;
    r->result_path_len = 0;
    if (b->has_result_proof) {
        memcpy(r->result_header, b->result_header, CERTA_HEADER_BYTES);
        r->result_cert = b->result_cert;
        r->result_path_len = b->result_path_lens[k];
        memcpy(r->result_path, b->result_paths + (size_t)k * b->path_stride * CERTA_HASH_BYTES,
               (size_t)r->result_path_len * CERTA_HASH_BYTES);
    }
    *offset = k + 1;
    return true;
}

certa_err certa_receipt_encode(const certa_receipt *r, uint8_t *out, size_t cap,
                               size_t *len_out, certa_errinfo *ei)
{
    certa_receipt_entry en = {
        .leaf_index = r->leaf_index, .result = r->result, .reason = r->reason,
        .event = r->event, .event_len = r->event_len,
        .path = (const uint8_t(*)[CERTA_HASH_BYTES])r->path, .path_len = r->path_len,
        .result_path = (const uint8_t(*)[CERTA_HASH_BYTES])r->result_path,
        .result_path_len = r->result_path_len,
    };
    certa_receipt_results rp = {r->result_header, &r->result_cert};
    return certa_receipt_batch_encode_results(r->integrator, r->seq, r->header, &r->cert,
                                              &en, 1, r->has_result_proof ? &rp : NULL,
                                              out, cap, len_out, ei);
}

certa_err certa_receipt_decode(const uint8_t *in, size_t len, certa_receipt *r,
                               certa_errinfo *ei)
{
    certa_receipt_batch b;
    certa_err e = certa_receipt_batch_decode(in, len, &b, ei);
    if (e != CERTA_OK)
        return e;
    if (b.entry_count != 1) {
        certa_receipt_batch_free(&b);
        return certa_errorf(ei, CERTA_E_BAD_FIELD, "receipt: %u entries, a single "
                            "receipt has 1", b.entry_count);
    }
    size_t off = 0;
    bool ok = certa_receipt_batch_next(&b, &off, r);
    CERTA_ASSERT(ok);
    certa_receipt_batch_free(&b);
    return CERTA_OK;
}
