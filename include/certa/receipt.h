/* receipt: proof, checkable offline with only the genesis file, that an
 * event was committed in a block, and what its result was.
 *
 * A receipt holds the event's bytes, who submitted it (integrator, batch
 * seq), its result, the block header, the RFC 6962 inclusion proof of the
 * event's leaf (codec: u16 integrator || u64 seq || event bytes) in the
 * header's events_root, and the commit certificate: at least 2f+1 distinct
 * validators' Ed25519 signatures over the commit message
 *     chain id || u8 1 || u8 4 || u16 validator || u64 view || u64 height
 *     || block hash                                                (84 bytes)
 * where the chain id is the genesis hash and the block hash is SHA-256 of
 * the encoded header: exactly the bytes each validator signed in its PBFT
 * COMMIT message (version 1, type COMMIT), so the certificate is the
 * quorum's own votes (certa_block_commit_message, include/certa/block.h).
 *
 * What a receipt proves: the event, as submitted by that integrator in that
 * batch, is leaf leaf_index of the block at that height which a quorum
 * committed. The result is committed CERTA_RESULTS_LAG_BLOCKS blocks later,
 * in that header's prev_results_root: a receipt with a result proof (binary
 * version 3, JSON version 2) also carries that later header, its commit
 * certificate and the path of the event's result leaf (u8 result || u8
 * kind) to its prev_results_root, so the result too is proven by a quorum.
 * Without one (binary version 2, JSON version 1) the result is only what
 * the replying validator reports. See docs/PROTOCOL.md "Receipts".
 *
 * Binary form: a batch receipt (the RECEIPT reply of the client protocol)
 * shares the header, the certificate and one range proof between the
 * entries of one batch (consecutive leaves), from which a reader rebuilds
 * each entry's inclusion path; a single receipt is a batch receipt of one
 * entry. JSON form: one object per
 * event, one line each in a receipts file.
 */
#ifndef CERTA_RECEIPT_H
#define CERTA_RECEIPT_H

#include <stddef.h>

#include "certa/block.h" /* the commit certificate */
#include "certa/certa.h"
#include "certa/codec.h"
#include "certa/genesis.h"

/* Longest inclusion path (= CERTA_MERKLE_PATH_MAX of merkle.h, asserted in
 * engine/receipt_verify.c). */
#define CERTA_RECEIPT_PATH_MAX 64u
#define CERTA_RESULT_OK 0u            /* result code of an accepted event */
#define CERTA_RECEIPT_REASON_MAX 128u /* bytes of a rejection reason */
#define CERTA_RECEIPT_MAGIC 0x52545243u /* "CRTR" */
#define CERTA_RECEIPT_VERSION 2u      /* binary batch receipt (range proof) */
#define CERTA_RECEIPT_VERSION_RESULTS 3u /* version 2 plus a result proof */
#define CERTA_RECEIPT_JSON_VERSION 1u /* the JSON line form */
#define CERTA_RECEIPT_JSON_VERSION_RESULTS 2u /* JSON with "result_proof" */
#define CERTA_RECEIPT_PROOF_MAX 128u /* hashes in a batch receipt's range proof */

/* One event's receipt, decoded. Self-contained (no pointers). */
typedef struct certa_receipt {
    uint16_t integrator;
    uint64_t seq;
    uint8_t header[CERTA_HEADER_BYTES]; /* the encoded block header */
    certa_commit_cert cert;
    uint64_t leaf_index;
    uint16_t result; /* CERTA_RESULT_OK or the state machine's reason code */
    char reason[CERTA_RECEIPT_REASON_MAX + 1]; /* "" when ok */
    uint16_t event_len;
    uint8_t event[CERTA_EVENT_BYTES_MAX];
    uint8_t path_len;
    uint8_t path[CERTA_RECEIPT_PATH_MAX][CERTA_HASH_BYTES];
    /* The result proof, when has_result_proof: the encoded header of block
     * height + CERTA_RESULTS_LAG_BLOCKS, its certificate, and the path of
     * this event's result leaf (leaf leaf_index of the block's results
     * tree) to that header's prev_results_root. */
    bool has_result_proof;
    uint8_t result_header[CERTA_HEADER_BYTES];
    certa_commit_cert result_cert;
    uint8_t result_path_len;
    uint8_t result_path[CERTA_RECEIPT_PATH_MAX][CERTA_HASH_BYTES];
} certa_receipt;

/* Checks r against g: the header decodes; the event decodes; the integrator
 * exists; the certificate is for this header's height and hash and verifies
 * (certa_block_cert_verify); the leaf index is below the header's
 * event_count and the path proves the leaf in events_root; an ok result
 * carries no reason. The first failure is returned with a message that
 * starts with the part that failed ("header: ", "event: ", "integrator: ",
 * "commit: ", "proof: ", "result: "). With a result proof it then checks
 * that the later header decodes and is at height + CERTA_RESULTS_LAG_BLOCKS,
 * that its certificate is for it and verifies, and that the path proves
 * the result leaf (u8 result || u8 the event's kind) as leaf leaf_index of
 * the event_count-leaf tree whose root is its prev_results_root; those
 * failures start with "result proof: header: ", "result proof: commit: "
 * or "result proof: path: ". skip_cert skips the signature checks of the
 * block's certificate (the caller verified this very certificate already;
 * the result certificate is always checked). In engine/receipt_verify.c. */
certa_err certa_receipt_verify(const certa_receipt *r, const certa_genesis *g,
                               bool skip_cert, certa_errinfo *ei);

/* The kind byte of an event's result leaf (u8 result || u8 kind), as the
 * state records it: the event's kind, but 0 for an event it did not
 * execute (result replayed or too_old) and for bytes that do not decode. */
uint8_t certa_receipt_result_kind(uint16_t result, const uint8_t *event, size_t len);

/* ---- binary, batch form ---- */
typedef struct certa_receipt_entry {
    uint64_t leaf_index;
    uint16_t result;
    const char *reason; /* NULL or "" when ok; at most CERTA_RECEIPT_REASON_MAX */
    const uint8_t *event;
    size_t event_len;
    const uint8_t (*path)[CERTA_HASH_BYTES];
    size_t path_len;
    /* The path of the entry's result leaf in the results tree; only read
     * by certa_receipt_batch_encode_results. */
    const uint8_t (*result_path)[CERTA_HASH_BYTES];
    size_t result_path_len;
} certa_receipt_entry;

/* What proves a batch's results: the header of block height +
 * CERTA_RESULTS_LAG_BLOCKS (its prev_results_root is the block's results
 * root) and that header's commit certificate. */
typedef struct certa_receipt_results {
    const uint8_t *header; /* CERTA_HEADER_BYTES */
    const certa_commit_cert *cert;
} certa_receipt_results;

/* Encodes a batch receipt into out (cap bytes); *len_out gets its length.
 * The entries are consecutive leaves (entries[i].leaf_index = first + i)
 * with their inclusion paths; the wire form carries, instead of a path per
 * entry, one range proof for the batch (the subtrees beside the range),
 * taken from those paths. CERTA_E_LIMIT when cap is too small, CERTA_E_ARG
 * for a field past its limit, leaves that are not consecutive or paths that
 * do not fit the header's tree. */
certa_err certa_receipt_batch_encode(uint16_t integrator, uint64_t seq,
                                     const uint8_t header[CERTA_HEADER_BYTES],
                                     const certa_commit_cert *cert,
                                     const certa_receipt_entry *entries,
                                     uint32_t count, uint8_t *out, size_t cap,
                                     size_t *len_out, certa_errinfo *ei);
/* The same with a result proof (version 3) when rp is not NULL: after the
 * range proof, rp's header and certificate and one range proof of the
 * entries' result leaves, taken from their result paths. */
certa_err certa_receipt_batch_encode_results(uint16_t integrator, uint64_t seq,
                                             const uint8_t header[CERTA_HEADER_BYTES],
                                             const certa_commit_cert *cert,
                                             const certa_receipt_entry *entries,
                                             uint32_t count,
                                             const certa_receipt_results *rp,
                                             uint8_t *out, size_t cap, size_t *len_out,
                                             certa_errinfo *ei);

/* A decoded batch receipt borrows from its buffer and owns the entries'
 * rebuilt inclusion paths (certa_receipt_batch_free). */
typedef struct certa_receipt_batch {
    uint16_t integrator;
    uint64_t seq;
    const uint8_t *header;
    certa_commit_cert cert;
    uint64_t first_leaf;
    uint32_t entry_count;
    const uint8_t *entries; /* validated entry records */
    size_t entries_len;
    uint32_t *entry_off; /* entry i at entries + entry_off[i] */
    const uint8_t *proof; /* proof_count hashes */
    uint8_t proof_count;
    uint8_t *paths; /* entry i's path at (i * path_stride) hashes */
    uint8_t *path_lens;
    uint32_t path_stride;
    /* version 3 only (has_result_proof): the later header, its certificate,
     * the results range proof and each entry's rebuilt result path (same
     * stride as paths) */
    bool has_result_proof;
    const uint8_t *result_header;
    certa_commit_cert result_cert;
    const uint8_t *result_proof;
    uint8_t result_proof_count;
    uint8_t *result_paths;
    uint8_t *result_path_lens;
} certa_receipt_batch;

/* Checks the whole framing (every length and limit, nothing trailing),
 * then rebuilds each entry's inclusion path from its leaf and the range
 * proof (a proof with too few or too many hashes is refused; whether the
 * paths lead to events_root is certa_receipt_verify's check). On success
 * free b with certa_receipt_batch_free. */
certa_err certa_receipt_batch_decode(const uint8_t *in, size_t len,
                                     certa_receipt_batch *b, certa_errinfo *ei);
/* Fills r with the entry at *offset (start at 0) and advances; false at
 * the end. b must come from certa_receipt_batch_decode. */
bool certa_receipt_batch_next(const certa_receipt_batch *b, size_t *offset,
                              certa_receipt *r);
void certa_receipt_batch_free(certa_receipt_batch *b);

/* Single receipt = batch receipt of one entry. */
certa_err certa_receipt_encode(const certa_receipt *r, uint8_t *out, size_t cap,
                               size_t *len_out, certa_errinfo *ei);
certa_err certa_receipt_decode(const uint8_t *in, size_t len, certa_receipt *r,
                               certa_errinfo *ei);

/* ---- JSON ----
 * The JSON line form, as text (no JSON library type crosses this header):
 * {"receipt":1,"integrator":N,"seq":N,"result":"ok"|"rejected","code":N,
 *  "reason":"...","height":N,"leaf_index":N,"event":"hex","header":"hex",
 *  "proof":["hex",...],"commit":{...}} (docs/PROTOCOL.md "Receipts");
 * version 2 ("receipt":2) adds "result_proof":{"header":"hex","path":[...],
 * "commit":{...}}. A receipt with a result proof is written as version 2,
 * one without as version 1; both are read. In engine/receipt_json.c. */
/* One compact JSON object, no newline, in a new string (free with free());
 * NULL on allocation failure. */
char *certa_receipt_format_json(const certa_receipt *r);
/* Parses one JSON object (len bytes of text, nothing after it but white
 * space). Strict: duplicate keys, unknown fields and missing fields are
 * refused, hex and ranges checked; CERTA_E_JSON (CERTA_E_BAD_VERSION for
 * another "receipt" version) with a message that starts with "json: " and
 * names the field (or the column, when the text is not JSON). */
certa_err certa_receipt_parse_json(const char *text, size_t len, certa_receipt *r,
                                   certa_errinfo *ei);

/* The same line as certa_receipt_format_json, byte for byte, written into
 * out (NUL-terminated) without a JSON library: the fast path for writers of
 * many receipts (engine/receipt_line.c). Returns its length, or 0 when it
 * declines (a reason with a character JSON must escape, a result proof) or
 * when cap is too small; the caller then uses certa_receipt_format_json. */
#define CERTA_RECEIPT_LINE_BYTES_MAX (24u * 1024u) /* any receipt's line, with its NUL */
/* A commit certificate's JSON, at most: 64 validators' signatures. */
#define CERTA_RECEIPT_LINE_COMMIT_BYTES \
    (160u + CERTA_VALIDATORS_MAX * (40u + 2u * CERTA_SIGNATURE_BYTES))
/* What the receipts of one block share: its header's hex and its commit
 * certificate's JSON, kept from the last receipt written through the
 * cache. A batch's receipts all come from one block, and these are about
 * half of each receipt's hex. Zeroed: empty. */
typedef struct certa_receipt_line_cache {
    bool have_header, have_commit;
    uint8_t header[CERTA_HEADER_BYTES];
    uint64_t height; /* the header's, 0 when it does not decode */
    char header_hex[2 * CERTA_HEADER_BYTES + 1];
    certa_commit_cert cert;
    size_t commit_len;
    char commit[CERTA_RECEIPT_LINE_COMMIT_BYTES];
} certa_receipt_line_cache;
/* c: NULL, or a cache to take r's shared parts from (and update). */
size_t certa_receipt_line(const certa_receipt *r, certa_receipt_line_cache *c, char *out,
                          size_t cap);

#endif
