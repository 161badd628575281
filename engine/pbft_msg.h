/* pbft_msg: consensus messages and records, their canonical binary form.
 *
 * Layout (docs/PROTOCOL.md "Consensus messages"): u8 version, u8 type, then
 * for signed messages u16 sender, the fields of the type, and a 64-byte
 * signature over chain_id || every byte before the signature. Records (types
 * >= 0x80) are not signed. Variable parts are lists: u32 count then count
 * items, each u32 length and bytes. Decoding accepts only what encoding
 * produces (exact lengths, no trailing bytes, bounded counts) and borrows
 * from the input buffer: list items and bodies point into it.
 */
#ifndef CERTA_PBFT_MSG_H
#define CERTA_PBFT_MSG_H

#include "certa/block.h"
#include "certa/pbft.h"

#define CERTA_PBFT_MSG_VERSION 1u

/* The type codes (CERTA_PBFT_MSG_*, CERTA_PBFT_REC_*) are wire format and
 * public: certa/pbft.h. */

#define CERTA_PBFT_LIST_ITEMS_MAX 65536u

/* A list inside a message: count items of (u32 len, bytes) at p. */
typedef struct certa_pbft_list {
    const uint8_t *p;
    size_t len; /* bytes of the items (after the count) */
    uint32_t count;
} certa_pbft_list;

/* Walks a validated list: *pos starts at 0. */
bool certa_pbft_list_next(const certa_pbft_list *l, size_t *pos,
                          const uint8_t **item, size_t *item_len);

/* Splits a request list item into a request (false when malformed). */
bool certa_pbft_request_item(const uint8_t *item, size_t len,
                             certa_pbft_request *req);

typedef struct certa_pbft_msg {
    uint8_t type;
    uint16_t sender;
    uint64_t view;   /* PP PREPARE COMMIT: view; VC, NV: the new view; STATUS */
    uint64_t seq;    /* PP PREPARE COMMIT CHECKPOINT: height; VC and
                        REC_CHECKPOINT: checkpoint height; STATUS: last
                        executed; FETCH: first height; REQUEST: request seq */
    uint64_t aux;    /* STATUS: stable checkpoint; FETCH: count;
                        REC_BLOCK: commit view */
    uint16_t integrator;                 /* REQUEST */
    uint8_t digest[CERTA_HASH_BYTES];    /* PREPARE COMMIT CHECKPOINT */
    certa_block_header hdr;              /* PP, VC, REC_BLOCK, REC_CHECKPOINT */
    const uint8_t *body;                 /* REQUEST payload */
    size_t body_len;
    certa_pbft_list reqs; /* PP, REC_BLOCK: request items */
    certa_pbft_list l1;   /* VC: checkpoint proof; NV: view changes;
                             FETCH_REPLY: block records; REC_CHECKPOINT: proof;
                             REC_CERT: pre-prepare then prepares */
    certa_pbft_list l2;   /* VC: prepared certs (each a list); NV: pre-prepares */
    uint16_t sig_count;   /* REC_BLOCK */
    const uint8_t *sigs;  /* REC_BLOCK: sig_count x (u16 signer, 64 sig) */
    const uint8_t *signed_bytes; /* signed messages: what the signature covers */
    size_t signed_len;
    const uint8_t *sig; /* CERTA_SIGNATURE_BYTES */
} certa_pbft_msg;

/* Decodes exactly len bytes. CERTA_OK or a codec error code. */
certa_err certa_pbft_msg_decode(const uint8_t *in, size_t len, certa_pbft_msg *m);

/* Encodes m (sig left zero for signed types) into a malloc'ed buffer;
 * *out_len gets its length. The caller frees it. NULL on allocation failure. */
uint8_t *certa_pbft_msg_encode(const certa_pbft_msg *m, size_t *out_len);

/* Encodes m into *p, a malloc'ed buffer of *cap bytes (NULL and 0 for none)
 * that the caller keeps and reuses: it is grown with realloc only when the
 * message does not fit, so a caller encoding into the same buffer stops
 * allocating once it has seen its largest message. *p and *cap are updated
 * even on failure (false: allocation failed); *out_len gets the length. */
bool certa_pbft_msg_encode_into(const certa_pbft_msg *m, uint8_t **p, size_t *cap,
                                size_t *out_len);

/* Bytes before the signature of a signed message, or 0 for records. */
size_t certa_pbft_msg_signed_len(const uint8_t *enc, size_t len);
bool certa_pbft_msg_is_signed(uint8_t type);

/* What the Ed25519 signature of a message covers. For the messages that
 * carry requests or proofs (REQUEST, PRE-PREPARE, VIEW-CHANGE, NEW-VIEW:
 * kilobytes to megabytes) it is chain_id || 0x00 || SHA-256(signed bytes), 65 bytes, so
 * that signing and verifying hash the message once with SHA-256 (SHA-NI)
 * instead of Ed25519's SHA-512, twice when signing; the 0x00 cannot start
 * a message (byte 0 is the version, 1). For every other message it is
 * chain_id || signed bytes. Writes into out when it fits in cap and returns
 * the length either way. */
#define CERTA_PBFT_SIG_PREHASHED_BYTES (2 * CERTA_HASH_BYTES + 1)
bool certa_pbft_msg_prehashed(uint8_t type);
size_t certa_pbft_sig_input(const uint8_t chain_id[CERTA_HASH_BYTES],
                            const uint8_t *signed_bytes, size_t len,
                            uint8_t *out, size_t cap);

void certa_pbft_header_encode(const certa_block_header *h,
                              uint8_t out[CERTA_PBFT_HEADER_BYTES]);
void certa_pbft_header_decode(const uint8_t in[CERTA_PBFT_HEADER_BYTES],
                              certa_block_header *h);

/* Encodes a list from items: u32 count then (u32 len, bytes) each.
 * Returns a malloc'ed buffer, NULL on failure. */
uint8_t *certa_pbft_list_build(const uint8_t *const *items, const size_t *lens,
                               size_t count, size_t *out_len);
/* The same into a caller's reusable buffer, as certa_pbft_msg_encode_into. */
bool certa_pbft_list_build_into(const uint8_t *const *items, const size_t *lens,
                                size_t count, uint8_t **p, size_t *cap,
                                size_t *out_len);
/* Makes a list view over an encoded list (as certa_pbft_list_build returns). */
bool certa_pbft_list_parse(const uint8_t *p, size_t len, certa_pbft_list *l);

const char *certa_pbft_msg_name(uint8_t type);

#endif
