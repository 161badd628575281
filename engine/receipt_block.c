/* receipt_block: the receipts of one committed block, built by the
 * validator that answers the integrators (see receipt.h).
 *
 * Invariants: a receipt is produced only for a block whose header matches
 * the commit certificate (height, SHA-256 of the header bytes) and whose
 * events hash to the header's events_root; every receipt handed out
 * therefore verifies with certa_receipt_verify (given a valid certificate).
 * Memory: 32 bytes per event for leaf hashes plus the tree (about 64 bytes
 * per event), allocated once per block; a batch receipt allocates its
 * output and its proofs (event count x depth x 32 bytes) per call.
 */
#include "certa/receipt.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "certa/crypto.h"
#include "certa/merkle.h"

typedef struct batch_ref {
    certa_batch_view v;
    uint64_t first_leaf;
} batch_ref;

struct certa_block_receipts {
    const uint8_t *block;
    certa_commit_cert cert;
    certa_block_header h;
    uint32_t batches;
    batch_ref *refs;
    uint8_t *results;
    size_t events;
    const char *(*reason)(unsigned code);
    certa_merkle_tree *tree;
};

void certa_block_receipts_free(certa_block_receipts *br)
{
    if (br == NULL)
        return;
    certa_merkle_tree_free(br->tree);
    free(br->refs);
    free(br->results);
    free(br);
}

certa_err certa_block_receipts_build(const uint8_t *block, size_t len,
                                     const certa_commit_cert *cert,
                                     const uint8_t *results, size_t result_count,
                                     const char *(*reason)(unsigned code),
                                     struct certa_pool *pool,
                                     certa_block_receipts **out, certa_errinfo *ei)
{
    CERTA_ASSERT(block != NULL && cert != NULL && out != NULL);
    certa_block_receipts *br = calloc(1, sizeof *br);
    if (br == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "allocating block receipts");
    certa_err e = certa_block_check(block, len, &br->h, ei);
    if (e != CERTA_OK)
        goto err;
    uint8_t hash[CERTA_HASH_BYTES];
    certa_sha256(block, CERTA_HEADER_BYTES, hash);
    if (cert->height != br->h.height || memcmp(cert->block_hash, hash, CERTA_HASH_BYTES) != 0) {
        e = certa_errorf(ei, CERTA_E_CHAIN, "block receipts: the certificate is for "
                         "height %" PRIu64 ", not this block (height %" PRIu64 ") or "
                         "not its hash", cert->height, br->h.height);
        goto err;
    }
    if (result_count != br->h.event_count) {
        e = certa_errorf(ei, CERTA_E_ARG, "block receipts: %zu results for %u events",
                         result_count, br->h.event_count);
        goto err;
    }
    br->block = block;
    br->cert = *cert;
    br->reason = reason;
    br->events = br->h.event_count;
    br->batches = br->h.batch_count;
    br->refs = calloc(br->batches ? br->batches : 1, sizeof *br->refs);
    br->results = malloc(br->events ? br->events : 1);
    uint8_t *leaf_hashes = malloc(br->events ? br->events * CERTA_HASH_BYTES : 1);
    if (br->refs == NULL || br->results == NULL || leaf_hashes == NULL) {
        free(leaf_hashes);
        e = certa_errorf(ei, CERTA_E_NOMEM, "allocating block receipts");
        goto err;
    }
    if (br->events > 0)
        memcpy(br->results, results, br->events);
    size_t pos = CERTA_HEADER_BYTES, leaf = 0;
    uint8_t buf[CERTA_LEAF_PREFIX_BYTES + CERTA_EVENT_BYTES_MAX];
    for (uint32_t b = 0; b < br->batches; b++) {
        batch_ref *r = &br->refs[b];
        e = certa_block_next_batch(block, len, &pos, &r->v, ei);
        CERTA_ASSERT(e == CERTA_OK); /* certa_block_check validated the block */
        r->first_leaf = leaf;
        size_t epos = 0;
        const uint8_t *ev;
        size_t evl;
        while (certa_batch_next(&r->v, &epos, &ev, &evl)) {
            size_t ll = certa_leaf_encode(r->v.integrator, r->v.seq, ev, evl, buf, sizeof buf);
            certa_merkle_leaf_hash(buf, ll, leaf_hashes + leaf * CERTA_HASH_BYTES);
            leaf++;
        }
    }
    CERTA_ASSERT(leaf == br->events);
    e = certa_merkle_tree_build(pool, leaf_hashes, br->events, &br->tree, ei);
    free(leaf_hashes);
    if (e != CERTA_OK)
        goto err;
    uint8_t root[CERTA_HASH_BYTES];
    certa_merkle_tree_root(br->tree, root);
    if (memcmp(root, br->h.events_root, CERTA_HASH_BYTES) != 0) {
        e = certa_errorf(ei, CERTA_E_CHAIN, "block %" PRIu64 ": events do not hash "
                         "to the header's events_root", br->h.height);
        goto err;
    }
    *out = br;
    return CERTA_OK;
err:
    certa_block_receipts_free(br);
    return e;
}

uint32_t certa_block_receipts_count(const certa_block_receipts *br)
{
    return br->batches;
}

certa_err certa_block_receipts_batch(const certa_block_receipts *br, uint32_t i,
                                     uint16_t *integrator, uint64_t *seq,
                                     uint8_t **out, size_t *len, certa_errinfo *ei)
{
    CERTA_ASSERT(br != NULL && i < br->batches && out != NULL && len != NULL);
    const batch_ref *r = &br->refs[i];
    uint32_t n = r->v.event_count;
    size_t depth = 0;
    while (((size_t)1 << depth) < br->events)
        depth++;
    certa_receipt_entry *en = calloc(n, sizeof *en);
    uint8_t(*paths)[CERTA_HASH_BYTES] = malloc((size_t)n * (depth ? depth : 1) * CERTA_HASH_BYTES);
    /* an upper bound: the range proof has at most two hashes per level */
    size_t need = 16u + CERTA_HEADER_BYTES + 50u + (size_t)br->cert.count * 66u + 12u + 1u +
                  2u * (depth ? depth : 1) * CERTA_HASH_BYTES;
    if (en == NULL || paths == NULL) {
        free(en);
        free(paths);
        return certa_errorf(ei, CERTA_E_NOMEM, "allocating a batch receipt");
    }
    size_t epos = 0, k = 0;
    const uint8_t *ev;
    size_t evl;
    certa_err e = CERTA_OK;
    while (e == CERTA_OK && certa_batch_next(&r->v, &epos, &ev, &evl)) {
        uint64_t leaf = r->first_leaf + k;
        uint8_t code = br->results[leaf];
        uint8_t(*p)[CERTA_HASH_BYTES] = paths + k * depth;
        uint8_t full[CERTA_MERKLE_PATH_MAX][CERTA_HASH_BYTES];
        size_t pl = 0;
        e = certa_merkle_tree_inclusion(br->tree, leaf, full, &pl, ei);
        CERTA_ASSERT(e != CERTA_OK || pl <= depth);
        if (pl > 0)
            memcpy(p, full, pl * CERTA_HASH_BYTES);
        const char *why = code != 0 && br->reason ? br->reason(code) : NULL;
        if (why != NULL && strlen(why) > CERTA_RECEIPT_REASON_MAX)
            why = NULL;
        en[k] = (certa_receipt_entry){ leaf, code, why, ev, evl,
                                       (const uint8_t(*)[CERTA_HASH_BYTES])p, pl };
        need += 5u + (why ? strlen(why) : 0) + evl;
        k++;
    }
    uint8_t *buf = e == CERTA_OK ? malloc(need) : NULL;
    if (e == CERTA_OK && buf == NULL)
        e = certa_errorf(ei, CERTA_E_NOMEM, "allocating a batch receipt");
    if (e == CERTA_OK)
        e = certa_receipt_batch_encode(r->v.integrator, r->v.seq, br->block, &br->cert,
                                       en, n, buf, need, len, ei);
    free(en);
    free(paths);
    if (e != CERTA_OK) {
        free(buf);
        return e;
    }
    CERTA_ASSERT(*len <= need);
    if (integrator != NULL)
        *integrator = r->v.integrator;
    if (seq != NULL)
        *seq = r->v.seq;
    *out = buf;
    return CERTA_OK;
}
