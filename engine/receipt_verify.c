/* receipt_verify: offline verification of a receipt against a genesis (see
 * receipt.h): header, event, integrator, commit certificate, RFC 6962
 * inclusion proof, result, and the result proof when there is one. Kept
 * apart from the codec in receipt.c because it needs the Merkle module.
 *
 * Why the later header proves the result: a quorum commits one header per
 * height, and every validator votes for header h + L only when its
 * prev_results_root equals the results root of block h by its own
 * execution (engine/ledger.c, the LAG rule); so a certified header at
 * height h + L fixes block h's results whatever the chain between. */
#include "certa/receipt.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "certa/crypto.h"
#include "certa/merkle.h"

_Static_assert(CERTA_RECEIPT_PATH_MAX == CERTA_MERKLE_PATH_MAX,
               "receipt proofs hold exactly the longest Merkle path");

/* The result proof of r, whose block header is h and event kind kind. */
static certa_err verify_result_proof(const certa_receipt *r, const certa_block_header *h,
                                     uint8_t kind, const certa_genesis *g,
                                     certa_errinfo *ei)
{
    CERTA_ASSERT(r->has_result_proof);
    certa_errinfo sub;
    certa_errinfo_clear(&sub);
    certa_block_header later;
    certa_err e = certa_header_decode(r->result_header, CERTA_HEADER_BYTES, &later, &sub);
    if (e != CERTA_OK)
        return certa_errorf(ei, e, "result proof: header: %s", certa_errmsg(&sub));
    if (later.height != h->height + CERTA_RESULTS_LAG_BLOCKS)
        return certa_errorf(ei, CERTA_E_CHAIN, "result proof: header: height %" PRIu64
                            ", the results of block %" PRIu64 " are committed at %" PRIu64,
                            later.height, h->height, h->height + CERTA_RESULTS_LAG_BLOCKS);
    uint8_t hash[CERTA_HASH_BYTES];
    certa_sha256(r->result_header, CERTA_HEADER_BYTES, hash);
    if (r->result_cert.height != later.height ||
        memcmp(r->result_cert.block_hash, hash, CERTA_HASH_BYTES) != 0)
        return certa_errorf(ei, CERTA_E_CHAIN, "result proof: commit: the certificate "
                            "(height %" PRIu64 ") is not for the header at height %" PRIu64,
                            r->result_cert.height, later.height);
    certa_block_keyset ks;
    certa_block_keyset_genesis(g, &ks);
    e = certa_block_cert_verify(&r->result_cert, &ks, &sub);
    if (e != CERTA_OK)
        return certa_errorf(ei, e, "result proof: %s", certa_errmsg(&sub));
    if (r->result > UINT8_MAX)
        return certa_errorf(ei, CERTA_E_BAD_PROOF, "result proof: path: result code %u "
                            "has no result leaf (a byte)", r->result);
    uint8_t leaf[2] = {(uint8_t)r->result, kind};
    uint8_t leaf_hash[CERTA_HASH_BYTES];
    certa_merkle_leaf_hash(leaf, sizeof leaf, leaf_hash);
    e = certa_merkle_verify_inclusion(r->leaf_index, h->event_count, leaf_hash,
                                      (const uint8_t(*)[CERTA_HASH_BYTES])r->result_path,
                                      r->result_path_len, later.prev_results_root, &sub);
    if (e != CERTA_OK)
        return certa_errorf(ei, CERTA_E_BAD_PROOF, "result proof: path: result %u is not "
                            "leaf %" PRIu64 " of the results root of block %" PRIu64
                            " (prev_results_root at height %" PRIu64 "): %s", r->result,
                            r->leaf_index, h->height, later.height, certa_errmsg(&sub));
    return CERTA_OK;
}

certa_err certa_receipt_verify(const certa_receipt *r, const certa_genesis *g,
                               bool skip_cert, certa_errinfo *ei)
{
    CERTA_ASSERT(r != NULL && g != NULL);
    certa_errinfo sub;
    certa_errinfo_clear(&sub);
    certa_block_header h;
    certa_err e = certa_header_decode(r->header, CERTA_HEADER_BYTES, &h, &sub);
    if (e != CERTA_OK)
        return certa_errorf(ei, e, "header: %s", certa_errmsg(&sub));
    certa_event ev;
    e = certa_event_decode(r->event, r->event_len, &ev, &sub);
    if (e != CERTA_OK)
        return certa_errorf(ei, e, "event: %s", certa_errmsg(&sub));
    if (r->integrator >= g->integrator_count)
        return certa_errorf(ei, CERTA_E_NOTFOUND, "integrator: index %u, genesis "
                            "has %u integrators", r->integrator, g->integrator_count);

    uint8_t block_hash[CERTA_HASH_BYTES];
    certa_sha256(r->header, CERTA_HEADER_BYTES, block_hash);
    if (r->cert.height != h.height)
        return certa_errorf(ei, CERTA_E_CHAIN, "commit: certificate is for height "
                            "%" PRIu64 ", the header is height %" PRIu64,
                            r->cert.height, h.height);
    if (memcmp(r->cert.block_hash, block_hash, CERTA_HASH_BYTES) != 0) {
        char a[65], b[65];
        certa_hex_encode(r->cert.block_hash, CERTA_HASH_BYTES, a);
        certa_hex_encode(block_hash, CERTA_HASH_BYTES, b);
        return certa_errorf(ei, CERTA_E_CHAIN, "commit: certificate signs block "
                            "%s, the header hashes to %s", a, b);
    }
    if (!skip_cert) {
        certa_block_keyset ks;
        certa_block_keyset_genesis(g, &ks);
        e = certa_block_cert_verify(&r->cert, &ks, ei);
        if (e != CERTA_OK)
            return e;
    }

    if (r->leaf_index >= h.event_count)
        return certa_errorf(ei, CERTA_E_BAD_PROOF, "proof: leaf %" PRIu64 " of a "
                            "block with %u events", r->leaf_index, h.event_count);
    uint8_t leaf[CERTA_LEAF_PREFIX_BYTES + CERTA_EVENT_BYTES_MAX];
    size_t leaf_len = certa_leaf_encode(r->integrator, r->seq, r->event, r->event_len,
                                        leaf, sizeof leaf);
    CERTA_ASSERT(leaf_len == CERTA_LEAF_PREFIX_BYTES + r->event_len);
    uint8_t leaf_hash[CERTA_HASH_BYTES];
    certa_merkle_leaf_hash(leaf, leaf_len, leaf_hash);
    e = certa_merkle_verify_inclusion(r->leaf_index, h.event_count, leaf_hash,
                                      (const uint8_t(*)[CERTA_HASH_BYTES])r->path,
                                      r->path_len, h.events_root, &sub);
    if (e != CERTA_OK)
        return certa_errorf(ei, CERTA_E_BAD_PROOF, "proof: the event is not leaf "
                            "%" PRIu64 " of events_root at height %" PRIu64 ": %s",
                            r->leaf_index, h.height, certa_errmsg(&sub));
    if (r->result == CERTA_RESULT_OK && r->reason[0] != '\0')
        return certa_errorf(ei, CERTA_E_BAD_FIELD, "result: ok with a rejection "
                            "reason \"%s\"", r->reason);
    if (r->has_result_proof)
        return verify_result_proof(r, &h, certa_receipt_result_kind(r->result, r->event,
                                                                    r->event_len), g, ei);
    return CERTA_OK;
}

