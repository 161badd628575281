/* block: the durable record of a committed block, its commit certificate
 * and the commit message validators sign.
 *
 * A validator keeps every committed block as one record in its block log
 * (and sends the same bytes in state transfer). Layout, little-endian
 * (docs/PROTOCOL.md "Consensus messages", REC_BLOCK):
 *     u8 version (1) || u8 type (0x81)
 *     || header (162 bytes: u64 height, u64 view, u64 timestamp_ms,
 *        u16 proposer, u32 event_count, u32 batch_count, prev_hash,
 *        events_root, prev_results_root, state_digest)
 *     || u64 commit view
 *     || u32 batch count, then each batch as u32 length
 *        || (u16 integrator || u64 seq || the signed batch bytes)
 *     || u16 signature count, then each u16 validator || 64-byte signature,
 *        validators strictly ascending
 * The signatures are the quorum's COMMIT votes: each validator's Ed25519
 * signature over the commit message (certa_block_commit_message).
 *
 * Decoding is done once, bounds-checked and canonical (decode then encode
 * gives the same bytes); the decoded form (certa_block) borrows from the
 * record and is what callers pass down instead of the bytes. Nothing here
 * allocates except certa_block_build, which returns one buffer.
 */
#ifndef CERTA_BLOCK_H
#define CERTA_BLOCK_H

#include <stddef.h>

#include "certa/certa.h"
#include "certa/codec.h"
#include "certa/genesis.h"

#define CERTA_BLOCK_RECORD_VERSION 1u
#define CERTA_BLOCK_RECORD_TYPE 0x81u
#define CERTA_BLOCK_HEADER_BYTES 162u /* the header as the record holds it */
#define CERTA_BLOCK_BATCHES_MAX 1024u /* batches of one block */
#define CERTA_BLOCK_BATCH_BYTES_MAX (1024u * 1024u + 4096u) /* one batch */
#define CERTA_BLOCK_ITEM_PREFIX_BYTES 10u /* u16 integrator || u64 seq */
#define CERTA_BLOCK_RECORD_BYTES_MAX (256u * 1024u * 1024u)
#define CERTA_BLOCK_SIG_BYTES (2u + CERTA_SIGNATURE_BYTES) /* validator, sig */

/* A committed block record, decoded: pointers into the record, which must
 * outlive it. */
typedef struct certa_block {
    certa_block_header hdr;
    uint64_t commit_view;    /* the view whose COMMITs the signatures are */
    uint32_t batch_count;    /* batches in the record (not hdr.batch_count) */
    const uint8_t *batches;  /* batch_count items (u32 len || item), validated */
    size_t batches_len;
    uint16_t sig_count;
    const uint8_t *sigs;     /* sig_count x CERTA_BLOCK_SIG_BYTES, ascending */
    const uint8_t *rec;      /* the whole record */
    size_t rec_len;
} certa_block;

/* One batch of a block, as ordered: who sent it and its signed bytes. */
typedef struct certa_block_batch {
    uint16_t integrator;
    uint64_t seq;
    const uint8_t *bytes;
    size_t len;
} certa_block_batch;

/* True when the bytes start like a block record (version and type); the
 * codec block form of `certa dry-run` does not. */
bool certa_block_is_record(const uint8_t *rec, size_t len);

/* Decodes exactly len bytes into *b. CERTA_OK, or CERTA_E_TRUNCATED,
 * CERTA_E_TRAILING, CERTA_E_BAD_VERSION, CERTA_E_BAD_KIND (not a block
 * record), CERTA_E_TOO_LONG (a count or length past its limit) or
 * CERTA_E_NONCANONICAL (signers not strictly ascending), with the field
 * that failed in ei. */
certa_err certa_block_decode(const uint8_t *rec, size_t len, certa_block *b,
                             certa_errinfo *ei);

/* The record's length for b's parts (batches_len, sig_count). */
size_t certa_block_encoded_len(const certa_block *b);
/* Encodes b's parts (hdr, commit_view, batch_count/batches/batches_len as
 * decoded, sig_count/sigs) into out (cap bytes); *len_out gets the length.
 * The inverse of certa_block_decode. CERTA_E_LIMIT when cap is too small,
 * CERTA_E_ARG for parts that would not decode. */
certa_err certa_block_encode(const certa_block *b, uint8_t *out, size_t cap,
                             size_t *len_out, certa_errinfo *ei);
/* Walks the batches of a decoded block: *pos starts at 0. False at the end. */
bool certa_block_next(const certa_block *b, size_t *pos, certa_block_batch *out);
/* Parses one batch item (u16 integrator || u64 seq || bytes); false when
 * shorter than the prefix or longer than CERTA_BLOCK_BATCH_BYTES_MAX. */
bool certa_block_batch_item(const uint8_t *item, size_t len, certa_block_batch *out);

/* The record's header form (162 bytes, no magic: not certa_header_encode). */
void certa_block_header_put(const certa_block_header *h,
                            uint8_t out[CERTA_BLOCK_HEADER_BYTES]);
void certa_block_header_get(const uint8_t in[CERTA_BLOCK_HEADER_BYTES],
                            certa_block_header *h);

/* ---- commit certificate ----
 * The commit message a validator signs to commit a block:
 *     chain id || u8 1 || u8 4 || u16 validator || u64 view || u64 height
 *     || block hash                                              (84 bytes)
 * exactly the bytes its PBFT COMMIT's signature covers (version 1, type
 * COMMIT), so a certificate is the quorum's own votes. The chain id is the
 * genesis hash; the block hash is the host's hash of the header (the
 * daemon's: certa_header_hash). */
#define CERTA_COMMIT_SIGNED_BYTES 52u /* the message without the chain id */
#define CERTA_COMMIT_MSG_BYTES (CERTA_HASH_BYTES + CERTA_COMMIT_SIGNED_BYTES)

void certa_block_commit_signed(uint16_t validator, uint64_t view, uint64_t height,
                               const uint8_t block_hash[CERTA_HASH_BYTES],
                               uint8_t out[CERTA_COMMIT_SIGNED_BYTES]);
void certa_block_commit_message(const uint8_t chain_id[CERTA_HASH_BYTES],
                                uint16_t validator, uint64_t view, uint64_t height,
                                const uint8_t block_hash[CERTA_HASH_BYTES],
                                uint8_t out[CERTA_COMMIT_MSG_BYTES]);

typedef struct certa_commit_sig {
    uint16_t validator; /* index in genesis */
    uint8_t sig[CERTA_SIGNATURE_BYTES];
} certa_commit_sig;

typedef struct certa_commit_cert {
    uint64_t view;
    uint64_t height;
    uint8_t block_hash[CERTA_HASH_BYTES];
    uint16_t count; /* signatures, in increasing validator order */
    certa_commit_sig sigs[CERTA_VALIDATORS_MAX];
} certa_commit_cert;

/* Builds a record from its parts in one malloc'ed buffer (*out, *len_out;
 * the caller frees it): sigs[i].validator strictly ascending. */
certa_err certa_block_build(const certa_block_header *hdr, uint64_t commit_view,
                            const certa_block_batch *batches, uint32_t batch_count,
                            const certa_commit_sig *sigs, uint16_t sig_count,
                            uint8_t **out, size_t *len_out, certa_errinfo *ei);

/* The certificate a decoded block carries, for the block hash the caller
 * computed (the record holds no hash). */
void certa_block_cert(const certa_block *b, const uint8_t block_hash[CERTA_HASH_BYTES],
                      certa_commit_cert *cert);

/* The validators who may sign and how many must: a genesis (Ed25519 keys
 * through certa/crypto.h), or a host's own verifier (the consensus core's
 * pluggable crypto, which the simulator fakes). */
typedef struct certa_block_keyset {
    uint8_t chain_id[CERTA_HASH_BYTES];
    uint16_t n;      /* validators */
    uint16_t quorum; /* signatures needed: 2f + 1 */
    const certa_validator_info *validators; /* n keys, or NULL with verify */
    bool (*verify)(void *ctx, uint16_t signer, const uint8_t *msg, size_t len,
                   const uint8_t sig[CERTA_SIGNATURE_BYTES]);
    void *ctx;
} certa_block_keyset;

/* The key set of a genesis: its hash, validators and quorum 2f + 1. */
void certa_block_keyset_genesis(const certa_genesis *g, certa_block_keyset *ks);

/* The one commit-certificate verifier. CERTA_OK when cert holds at least
 * quorum signatures, by validators of ks, each index above the previous
 * one (so distinct), each verifying over the commit message; otherwise
 * CERTA_E_BAD_SIGNATURE with which signature and why in ei (the message
 * starts with "commit: "). */
certa_err certa_block_cert_verify(const certa_commit_cert *cert,
                                  const certa_block_keyset *ks, certa_errinfo *ei);

#endif
