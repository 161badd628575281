/* block: the committed block record, its commit certificate and the one
 * verifier of commit certificates (see include/certa/block.h).
 *
 * Invariants: the decoder reads nothing past len, never allocates, bounds
 * every count and length, and accepts only what the encoder produces
 * (encode(decode(b)) == b; tests/fuzz/fuzz_block.c checks it), so a record
 * that decoded once needs no check again: certa_block_next cannot fail on
 * it. The consensus core (engine/pbft_msg.c) decodes and encodes its
 * REC_BLOCK through these functions, so the format has one owner.
 */
#include "certa/block.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "certa/crypto.h"
#include "certa/pbft.h"
#include "certa/wire.h"

_Static_assert(CERTA_BLOCK_HEADER_BYTES == CERTA_PBFT_HEADER_BYTES,
               "the record's header is the core's header form");
_Static_assert(CERTA_BLOCK_BATCHES_MAX == CERTA_PBFT_BLOCK_REQUESTS_MAX,
               "a block holds at most the core's requests per block");
_Static_assert(CERTA_BLOCK_BATCH_BYTES_MAX == CERTA_PBFT_REQUEST_BYTES_MAX,
               "a batch is at most one core request");
_Static_assert(CERTA_BLOCK_RECORD_BYTES_MAX == CERTA_PBFT_MSG_BYTES_MAX,
               "a record is at most one core message");
_Static_assert(CERTA_VALIDATORS_MAX == CERTA_PBFT_VALIDATORS_MAX,
               "one validator limit");

/* Fixed parts: version, type, header, commit view, batch count, sig count. */
#define FIXED_BYTES (2u + CERTA_BLOCK_HEADER_BYTES + 8u + 4u + 2u)
#define COMMIT_TYPE 4u /* the PBFT COMMIT message type (engine/pbft_msg.h) */

bool certa_block_is_record(const uint8_t *rec, size_t len)
{
    CERTA_ASSERT(rec != NULL || len == 0);
    return len >= 2 && rec[0] == CERTA_BLOCK_RECORD_VERSION &&
           rec[1] == CERTA_BLOCK_RECORD_TYPE;
}

void certa_block_header_put(const certa_block_header *h,
                            uint8_t out[CERTA_BLOCK_HEADER_BYTES])
{
    CERTA_ASSERT(h != NULL && out != NULL);
    certa_put_le64(out, h->height);
    certa_put_le64(out + 8, h->view);
    certa_put_le64(out + 16, h->timestamp_ms);
    certa_put_le16(out + 24, h->proposer);
    certa_put_le32(out + 26, h->event_count);
    certa_put_le32(out + 30, h->batch_count);
    memcpy(out + 34, h->prev_hash, CERTA_HASH_BYTES);
    memcpy(out + 66, h->events_root, CERTA_HASH_BYTES);
    memcpy(out + 98, h->prev_results_root, CERTA_HASH_BYTES);
    memcpy(out + 130, h->state_digest, CERTA_HASH_BYTES);
    _Static_assert(130 + CERTA_HASH_BYTES == CERTA_BLOCK_HEADER_BYTES, "header layout");
}

void certa_block_header_get(const uint8_t in[CERTA_BLOCK_HEADER_BYTES],
                            certa_block_header *h)
{
    CERTA_ASSERT(h != NULL && in != NULL);
    memset(h, 0, sizeof *h);
    h->height = certa_get_le64(in);
    h->view = certa_get_le64(in + 8);
    h->timestamp_ms = certa_get_le64(in + 16);
    h->proposer = certa_get_le16(in + 24);
    h->event_count = certa_get_le32(in + 26);
    h->batch_count = certa_get_le32(in + 30);
    memcpy(h->prev_hash, in + 34, CERTA_HASH_BYTES);
    memcpy(h->events_root, in + 66, CERTA_HASH_BYTES);
    memcpy(h->prev_results_root, in + 98, CERTA_HASH_BYTES);
    memcpy(h->state_digest, in + 130, CERTA_HASH_BYTES);
}

bool certa_block_batch_item(const uint8_t *item, size_t len, certa_block_batch *out)
{
    CERTA_ASSERT(item != NULL && out != NULL);
    if (len < CERTA_BLOCK_ITEM_PREFIX_BYTES ||
        len - CERTA_BLOCK_ITEM_PREFIX_BYTES > CERTA_BLOCK_BATCH_BYTES_MAX)
        return false;
    out->integrator = certa_get_le16(item);
    out->seq = certa_get_le64(item + 2);
    out->bytes = item + CERTA_BLOCK_ITEM_PREFIX_BYTES;
    out->len = len - CERTA_BLOCK_ITEM_PREFIX_BYTES;
    return true;
}

/* Checks the batch list at in[*pos..len): count, then each item framed and
 * well formed. Advances *pos past it. */
static certa_err batches_rd(const uint8_t *in, size_t len, size_t *pos, certa_block *b,
                            certa_errinfo *ei)
{
    CERTA_ASSERT(*pos <= len);
    if (len - *pos < 4)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "block record: ends before its batch count");
    uint32_t count = certa_get_le32(in + *pos);
    *pos += 4;
    if (count > CERTA_BLOCK_BATCHES_MAX)
        return certa_errorf(ei, CERTA_E_TOO_LONG, "block record: %" PRIu32 " batches, "
                            "at most %u", count, CERTA_BLOCK_BATCHES_MAX);
    size_t start = *pos;
    for (uint32_t i = 0; i < count; i++) {
        if (len - *pos < 4)
            return certa_errorf(ei, CERTA_E_TRUNCATED, "block record: ends in the "
                                "length of batch %" PRIu32, i);
        uint32_t n = certa_get_le32(in + *pos);
        *pos += 4;
        if (len - *pos < n)
            return certa_errorf(ei, CERTA_E_TRUNCATED, "block record: ends in batch "
                                "%" PRIu32 " (%" PRIu32 " bytes)", i, n);
        certa_block_batch bb;
        if (!certa_block_batch_item(in + *pos, n, &bb))
            return certa_errorf(ei, n < CERTA_BLOCK_ITEM_PREFIX_BYTES ? CERTA_E_TRUNCATED
                                                                      : CERTA_E_TOO_LONG,
                                "block record: batch %" PRIu32 " is %" PRIu32 " bytes "
                                "(%u..%u)", i, n, CERTA_BLOCK_ITEM_PREFIX_BYTES,
                                CERTA_BLOCK_ITEM_PREFIX_BYTES + CERTA_BLOCK_BATCH_BYTES_MAX);
        *pos += n;
    }
    CERTA_ASSERT(*pos <= len);
    b->batch_count = count;
    b->batches = in + start;
    b->batches_len = *pos - start;
    return CERTA_OK;
}

/* Checks the signatures at in[*pos..len): count, bytes, ascending signers. */
static certa_err sigs_rd(const uint8_t *in, size_t len, size_t *pos, certa_block *b,
                         certa_errinfo *ei)
{
    CERTA_ASSERT(*pos <= len);
    if (len - *pos < 2)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "block record: ends before its "
                            "signature count");
    uint16_t count = certa_get_le16(in + *pos);
    *pos += 2;
    if (count > CERTA_VALIDATORS_MAX)
        return certa_errorf(ei, CERTA_E_TOO_LONG, "block record: %u signatures, at most %u",
                            count, CERTA_VALIDATORS_MAX);
    size_t need = (size_t)count * CERTA_BLOCK_SIG_BYTES;
    if (len - *pos < need)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "block record: ends in its %u "
                            "signatures", count);
    const uint8_t *s = in + *pos;
    for (uint16_t i = 1; i < count; i++) {
        uint16_t prev = certa_get_le16(s + (size_t)(i - 1) * CERTA_BLOCK_SIG_BYTES);
        uint16_t cur = certa_get_le16(s + (size_t)i * CERTA_BLOCK_SIG_BYTES);
        if (cur <= prev)
            return certa_errorf(ei, CERTA_E_NONCANONICAL, "block record: signer %u after "
                                "%u (signers strictly ascending)", cur, prev);
    }
    *pos += need;
    b->sig_count = count;
    b->sigs = s;
    return CERTA_OK;
}

certa_err certa_block_decode(const uint8_t *rec, size_t len, certa_block *b,
                             certa_errinfo *ei)
{
    CERTA_ASSERT(b != NULL);
    memset(b, 0, sizeof *b);
    if (rec == NULL || len < 2)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "block record: %zu bytes", len);
    if (len > CERTA_BLOCK_RECORD_BYTES_MAX)
        return certa_errorf(ei, CERTA_E_TOO_LONG, "block record: %zu bytes, at most %u",
                            len, CERTA_BLOCK_RECORD_BYTES_MAX);
    if (rec[0] != CERTA_BLOCK_RECORD_VERSION)
        return certa_errorf(ei, CERTA_E_BAD_VERSION, "block record: version %u", rec[0]);
    if (rec[1] != CERTA_BLOCK_RECORD_TYPE)
        return certa_errorf(ei, CERTA_E_BAD_KIND, "block record: type 0x%02x, not 0x%02x",
                            rec[1], CERTA_BLOCK_RECORD_TYPE);
    if (len < 2 + CERTA_BLOCK_HEADER_BYTES + 8)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "block record: ends in its header "
                            "(%zu bytes)", len);
    certa_block_header_get(rec + 2, &b->hdr);
    b->commit_view = certa_get_le64(rec + 2 + CERTA_BLOCK_HEADER_BYTES);
    size_t pos = 2 + CERTA_BLOCK_HEADER_BYTES + 8;
    certa_err e = batches_rd(rec, len, &pos, b, ei);
    if (e == CERTA_OK)
        e = sigs_rd(rec, len, &pos, b, ei);
    if (e == CERTA_OK && pos != len)
        e = certa_errorf(ei, CERTA_E_TRAILING, "block record: %zu bytes after its end",
                         len - pos);
    if (e != CERTA_OK) {
        memset(b, 0, sizeof *b);
        return e;
    }
    CERTA_ASSERT(pos == len && b->batches_len >= 4u * b->batch_count);
    b->rec = rec;
    b->rec_len = len;
    return CERTA_OK;
}

size_t certa_block_encoded_len(const certa_block *b)
{
    CERTA_ASSERT(b != NULL);
    return FIXED_BYTES + b->batches_len + (size_t)b->sig_count * CERTA_BLOCK_SIG_BYTES;
}

certa_err certa_block_encode(const certa_block *b, uint8_t *out, size_t cap,
                             size_t *len_out, certa_errinfo *ei)
{
    CERTA_ASSERT(b != NULL && len_out != NULL && (out != NULL || cap == 0));
    CERTA_ASSERT(b->batches != NULL || b->batches_len == 0);
    if (b->batch_count > CERTA_BLOCK_BATCHES_MAX || b->sig_count > CERTA_VALIDATORS_MAX)
        return certa_errorf(ei, CERTA_E_ARG, "block record: %u batches, %u signatures",
                            b->batch_count, b->sig_count);
    size_t need = certa_block_encoded_len(b);
    if (need > CERTA_BLOCK_RECORD_BYTES_MAX)
        return certa_errorf(ei, CERTA_E_ARG, "block record: %zu bytes, at most %u",
                            need, CERTA_BLOCK_RECORD_BYTES_MAX);
    if (need > cap)
        return certa_errorf(ei, CERTA_E_LIMIT, "block record: %zu bytes, buffer %zu",
                            need, cap);
    out[0] = CERTA_BLOCK_RECORD_VERSION;
    out[1] = CERTA_BLOCK_RECORD_TYPE;
    certa_block_header_put(&b->hdr, out + 2);
    size_t pos = 2 + CERTA_BLOCK_HEADER_BYTES;
    certa_put_le64(out + pos, b->commit_view);
    certa_put_le32(out + pos + 8, b->batch_count);
    pos += 12;
    if (b->batches_len > 0)
        memcpy(out + pos, b->batches, b->batches_len);
    pos += b->batches_len;
    certa_put_le16(out + pos, b->sig_count);
    pos += 2;
    size_t sl = (size_t)b->sig_count * CERTA_BLOCK_SIG_BYTES;
    if (sl > 0)
        memcpy(out + pos, b->sigs, sl);
    pos += sl;
    CERTA_ASSERT(pos == need);
    /* parts that would not decode are the caller's bug, not a record */
    certa_block check;
    certa_errinfo sub;
    certa_errinfo_clear(&sub);
    if (certa_block_decode(out, pos, &check, &sub) != CERTA_OK)
        return certa_errorf(ei, CERTA_E_ARG, "%s", certa_errmsg(&sub));
    *len_out = pos;
    return CERTA_OK;
}

certa_err certa_block_build(const certa_block_header *hdr, uint64_t commit_view,
                            const certa_block_batch *batches, uint32_t batch_count,
                            const certa_commit_sig *sigs, uint16_t sig_count,
                            uint8_t **out, size_t *len_out, certa_errinfo *ei)
{
    CERTA_ASSERT(hdr != NULL && out != NULL && len_out != NULL);
    CERTA_ASSERT((batches != NULL || batch_count == 0) && (sigs != NULL || sig_count == 0));
    *out = NULL;
    if (batch_count > CERTA_BLOCK_BATCHES_MAX || sig_count > CERTA_VALIDATORS_MAX)
        return certa_errorf(ei, CERTA_E_ARG, "block record: %u batches, %u signatures",
                            batch_count, sig_count);
    size_t items = 0;
    for (uint32_t i = 0; i < batch_count; i++) {
        if (batches[i].len > CERTA_BLOCK_BATCH_BYTES_MAX)
            return certa_errorf(ei, CERTA_E_ARG, "block record: batch %u is %zu bytes",
                                i, batches[i].len);
        items += 4 + CERTA_BLOCK_ITEM_PREFIX_BYTES + batches[i].len;
    }
    size_t sl = (size_t)sig_count * CERTA_BLOCK_SIG_BYTES;
    size_t cap = FIXED_BYTES + items + sl;
    /* one buffer: the items and signatures are laid out in it, then the
     * record is written around them */
    uint8_t *p = malloc(cap + items + sl);
    if (p == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "block record: %zu bytes", cap);
    uint8_t *it = p + cap, *sg = it + items;
    size_t pos = 0;
    for (uint32_t i = 0; i < batch_count; i++) {
        certa_put_le32(it + pos, (uint32_t)(CERTA_BLOCK_ITEM_PREFIX_BYTES + batches[i].len));
        certa_put_le16(it + pos + 4, batches[i].integrator);
        certa_put_le64(it + pos + 6, batches[i].seq);
        if (batches[i].len > 0)
            memcpy(it + pos + 14, batches[i].bytes, batches[i].len);
        pos += 4 + CERTA_BLOCK_ITEM_PREFIX_BYTES + batches[i].len;
    }
    CERTA_ASSERT(pos == items);
    for (uint16_t i = 0; i < sig_count; i++) {
        certa_put_le16(sg + (size_t)i * CERTA_BLOCK_SIG_BYTES, sigs[i].validator);
        memcpy(sg + (size_t)i * CERTA_BLOCK_SIG_BYTES + 2, sigs[i].sig, CERTA_SIGNATURE_BYTES);
    }
    certa_block b = {.hdr = *hdr, .commit_view = commit_view, .batch_count = batch_count,
                     .batches = it, .batches_len = items, .sig_count = sig_count,
                     .sigs = sg};
    certa_err e = certa_block_encode(&b, p, cap, len_out, ei);
    if (e != CERTA_OK) {
        free(p);
        return e;
    }
    CERTA_ASSERT(*len_out == cap);
    *out = p;
    return CERTA_OK;
}

bool certa_block_next(const certa_block *b, size_t *pos, certa_block_batch *out)
{
    CERTA_ASSERT(b != NULL && pos != NULL && out != NULL);
    if (*pos >= b->batches_len)
        return false;
    /* the decoder checked every item: a failure here is memory corruption */
    CERTA_ASSERT(b->batches_len - *pos >= 4);
    const uint8_t *q = b->batches + *pos;
    size_t n = certa_get_le32(q);
    CERTA_ASSERT(b->batches_len - *pos - 4 >= n);
    bool ok = certa_block_batch_item(q + 4, n, out);
    CERTA_ASSERT(ok);
    *pos += 4 + n;
    return true;
}

/* ---- commit certificate ---- */

void certa_block_commit_signed(uint16_t validator, uint64_t view, uint64_t height,
                               const uint8_t block_hash[CERTA_HASH_BYTES],
                               uint8_t out[CERTA_COMMIT_SIGNED_BYTES])
{
    CERTA_ASSERT(block_hash != NULL && out != NULL);
    out[0] = CERTA_BLOCK_RECORD_VERSION; /* the PBFT message version */
    out[1] = COMMIT_TYPE;
    certa_put_le16(out + 2, validator);
    certa_put_le64(out + 4, view);
    certa_put_le64(out + 12, height);
    memcpy(out + 20, block_hash, CERTA_HASH_BYTES);
    _Static_assert(20 + CERTA_HASH_BYTES == CERTA_COMMIT_SIGNED_BYTES, "commit layout");
}

void certa_block_commit_message(const uint8_t chain_id[CERTA_HASH_BYTES],
                                uint16_t validator, uint64_t view, uint64_t height,
                                const uint8_t block_hash[CERTA_HASH_BYTES],
                                uint8_t out[CERTA_COMMIT_MSG_BYTES])
{
    CERTA_ASSERT(chain_id != NULL && out != NULL);
    memcpy(out, chain_id, CERTA_HASH_BYTES);
    certa_block_commit_signed(validator, view, height, block_hash, out + CERTA_HASH_BYTES);
}

void certa_block_cert(const certa_block *b, const uint8_t block_hash[CERTA_HASH_BYTES],
                      certa_commit_cert *cert)
{
    CERTA_ASSERT(b != NULL && block_hash != NULL && cert != NULL);
    CERTA_ASSERT(b->sig_count <= CERTA_VALIDATORS_MAX);
    memset(cert, 0, sizeof *cert);
    cert->view = b->commit_view;
    cert->height = b->hdr.height;
    memcpy(cert->block_hash, block_hash, CERTA_HASH_BYTES);
    for (uint16_t i = 0; i < b->sig_count; i++) {
        const uint8_t *s = b->sigs + (size_t)i * CERTA_BLOCK_SIG_BYTES;
        cert->sigs[i].validator = certa_get_le16(s);
        memcpy(cert->sigs[i].sig, s + 2, CERTA_SIGNATURE_BYTES);
    }
    cert->count = b->sig_count;
}

void certa_block_keyset_genesis(const certa_genesis *g, certa_block_keyset *ks)
{
    CERTA_ASSERT(g != NULL && ks != NULL);
    CERTA_ASSERT(g->validator_count <= CERTA_VALIDATORS_MAX && 2 * g->f + 1 <= g->validator_count);
    memset(ks, 0, sizeof *ks);
    memcpy(ks->chain_id, g->hash, CERTA_HASH_BYTES);
    ks->n = (uint16_t)g->validator_count;
    ks->quorum = (uint16_t)(2 * g->f + 1);
    ks->validators = g->validators;
}

certa_err certa_block_cert_verify(const certa_commit_cert *cert,
                                  const certa_block_keyset *ks, certa_errinfo *ei)
{
    CERTA_ASSERT(cert != NULL && ks != NULL);
    CERTA_ASSERT((ks->validators != NULL) != (ks->verify != NULL));
    if (cert->count < ks->quorum)
        return certa_errorf(ei, CERTA_E_BAD_SIGNATURE, "commit: %u signatures, "
                            "a quorum of this genesis is %u", cert->count, ks->quorum);
    if (cert->count > CERTA_VALIDATORS_MAX)
        return certa_errorf(ei, CERTA_E_BAD_SIGNATURE, "commit: %u signatures, "
                            "more than %u", cert->count, CERTA_VALIDATORS_MAX);
    uint8_t msg[CERTA_COMMIT_MSG_BYTES];
    for (uint32_t i = 0; i < cert->count; i++) {
        uint16_t v = cert->sigs[i].validator;
        if (v >= ks->n)
            return certa_errorf(ei, CERTA_E_BAD_SIGNATURE, "commit: signature %u "
                                "is by validator %u, genesis has %u", i, v, ks->n);
        if (i > 0 && v <= cert->sigs[i - 1].validator)
            return certa_errorf(ei, CERTA_E_BAD_SIGNATURE, "commit: validator %u "
                                "signs twice or out of order (signature %u)", v, i);
        certa_block_commit_message(ks->chain_id, v, cert->view, cert->height,
                                   cert->block_hash, msg);
        bool ok = ks->verify != NULL
                      ? ks->verify(ks->ctx, v, msg, sizeof msg, cert->sigs[i].sig)
                      : certa_verify(ks->validators[v].sign_key, msg, sizeof msg,
                                     cert->sigs[i].sig);
        if (!ok)
            return certa_errorf(ei, CERTA_E_BAD_SIGNATURE, "commit: signature of "
                                "validator %u (%s) does not verify", v,
                                ks->validators != NULL ? ks->validators[v].name : "-");
    }
    CERTA_ASSERT(cert->count >= ks->quorum);
    return CERTA_OK;
}
