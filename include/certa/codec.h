/* codec: the canonical binary form of events, batches and block headers.
 *
 * Little-endian, versioned, explicit lengths, hard limits. Encoding is
 * deterministic: an event always encodes to the same bytes, and the SHA-256
 * of those bytes is its identity. Decoding accepts exactly the bytes that
 * encoding produces and nothing else (unknown kind, bad enum, reserved bits,
 * trailing bytes, lengths past the buffer or past a limit are refused with a
 * specific certa_err), never reads out of bounds, and never allocates in
 * proportion to an untrusted length. The layouts are in docs/PROTOCOL.md.
 */
#ifndef CERTA_CODEC_H
#define CERTA_CODEC_H

#include "certa/certa.h"
#include "certa/crypto.h"

#define CERTA_CODEC_VERSION 1

/* Hard limits. A batch over any of them is refused whole. */
#define CERTA_EVENT_BYTES_MAX 1024u
#define CERTA_BATCH_EVENTS_MAX 4096u
#define CERTA_BATCH_BYTES_MAX (1024u * 1024u)
#define CERTA_REDEEM_LICENCES_MAX 16u
#define CERTA_LICENCE_TYPES_MAX 32u /* licence_types is a 32-bit mask */

#define CERTA_GRANT_ID_BYTES 16
#define CERTA_HOLDER_ID_BYTES 32
#define CERTA_LICENCE_ID_BYTES 16
#define CERTA_SALT_BYTES 16
#define CERTA_CODE_DIGITS 8

typedef enum certa_event_kind {
    CERTA_EV_GRANT = 1,
    CERTA_EV_REDEEM = 2,
    CERTA_EV_CONFIRM = 3,
    CERTA_EV_SIGN = 4,
    CERTA_EV_PHOTO = 5,
    CERTA_EV_REVOKE = 6,
    CERTA_EV_GOVERN = 7, /* council proposal or approval (include/certa/gov.h) */
} certa_event_kind;

/* Licence types: bit i of a licence_types mask. Values 7..31 are reserved for
 * types a later genesis catalogue adds; the codec accepts any value < 32 and
 * the state machine checks it against the catalogue. */
typedef enum certa_licence_type {
    CERTA_LT_ID_CARD = 0,
    CERTA_LT_HOUSEHOLD_REGISTER = 1,
    CERTA_LT_RESIDENCE_PERMIT = 2,
    CERTA_LT_DRIVING_LICENCE = 3,
    CERTA_LT_MARRIAGE_CERTIFICATE = 4,
    CERTA_LT_DIVORCE_CERTIFICATE = 5,
    CERTA_LT_BUSINESS_LICENCE = 6,
    CERTA_LT_KNOWN_COUNT = 7,
} certa_licence_type;

typedef enum certa_method {
    CERTA_METHOD_CODE = 0,   /* holder tells the clerk an 8-digit code */
    CERTA_METHOD_QR = 1,     /* holder scans the counter's QR code */
    CERTA_METHOD_DIRECT = 2, /* authorized in the app; no code at redeem */
    CERTA_METHOD_COUNT = 3,
} certa_method;

typedef struct certa_licence_ref {
    uint8_t id[CERTA_LICENCE_ID_BYTES];
    uint8_t type; /* certa_licence_type, < CERTA_LICENCE_TYPES_MAX */
    uint8_t digest[CERTA_HASH_BYTES];
} certa_licence_ref;

/* The body of a GOVERN event (docs/PROTOCOL.md, "GOVERN events"). A
 * propose names one change (change, the fields that change type uses, the
 * rest zero) and an expiry; an approve names a proposal by its digest
 * (SHA-256 of the propose event's canonical bytes) and nothing else. The
 * codec checks the framing (op, reserved bytes, the name's padding, approve
 * carries only the digest); what a change type means, and whether its
 * fields fit it, the state machine judges (a committed rejection). */
#define CERTA_GOV_NAME_BYTES 64u /* name: NUL-padded, at most 63 bytes */
typedef enum certa_gov_op {
    CERTA_GOV_PROPOSE = 1,
    CERTA_GOV_APPROVE = 2,
} certa_gov_op;

typedef struct certa_gov_body {
    uint8_t op;          /* certa_gov_op */
    uint8_t change;      /* propose: certa_gov_change (include/certa/gov.h) */
    uint8_t role;        /* integrator_add: certa_role */
    uint8_t param;       /* param_set: certa_gov_param */
    uint16_t integrator; /* the integrator the change is about */
    uint16_t centre;
    uint16_t counter;
    uint16_t reserved;   /* zero (so the struct has no padding) */
    uint32_t matter;     /* catalogue_set */
    uint64_t value;      /* param_set: the value; council_threshold: k;
                          * catalogue_set: allowed types | required << 32 */
    uint64_t expires_ms; /* propose: approvals at or after this block time fail */
    uint8_t pub[CERTA_PUBKEY_BYTES];        /* integrator_add, integrator_rotate */
    char name[CERTA_GOV_NAME_BYTES];        /* integrator_add */
    uint8_t proposal[CERTA_HASH_BYTES];     /* approve: the proposal's digest */
} certa_gov_body;

/* One event, decoded. Fields a kind does not use are zero (the decoder
 * guarantees it, the encoder requires it). */
typedef struct certa_event {
    uint8_t kind; /* certa_event_kind */
    uint8_t grant_id[CERTA_GRANT_ID_BYTES];

    /* grant, revoke */
    uint8_t holder_id[CERTA_HOLDER_ID_BYTES];

    /* grant: scope; redeem/confirm/sign/photo: where it happens */
    uint16_t centre;
    uint16_t counter; /* grant: 0 = any counter of the centre */
    uint32_t matter;  /* grant, redeem */

    /* grant */
    uint32_t licence_types; /* mask of certa_licence_type bits */
    uint64_t not_before_ms;
    uint64_t not_after_ms;
    uint16_t max_uses;
    uint8_t method; /* certa_method */
    uint8_t code_commit[CERTA_HASH_BYTES]; /* SHA-256(salt || code); zero for direct */

    /* redeem: code is 8 ASCII digits, or 8 zero bytes when absent (direct) */
    char code[CERTA_CODE_DIGITS];
    uint8_t salt[CERTA_SALT_BYTES];
    uint8_t licence_count;
    certa_licence_ref licences[CERTA_REDEEM_LICENCES_MAX];
    /* redeem, sealed form (rules 2): SHA-256(salt || code), revealing
     * neither; all zero when the redeem is not sealed. A sealed redeem has
     * no code and no salt. */
    uint8_t code_proof[CERTA_HASH_BYTES];

    /* confirm, sign, photo */
    uint8_t evidence[CERTA_HASH_BYTES];
    /* confirm, sign, photo: the number (1, 2, ...) of the grant's redeem the
     * evidence documents; 0 = none named (the 56-byte form, rules 1) */
    uint16_t redeem;

    /* govern (grant_id is then a nonce that tells equal proposals apart) */
    certa_gov_body gov;
} certa_event;

/* Encodes ev into out (capacity cap bytes); *len_out gets the length.
 * Returns CERTA_E_BAD_FIELD/BAD_KIND/... when ev is not encodable (a field a
 * kind does not use is not zero, an enum is out of range) and CERTA_E_LIMIT
 * when cap is too small. Output is at most CERTA_EVENT_BYTES_MAX bytes. */
certa_err certa_event_encode(const certa_event *ev, uint8_t *out, size_t cap,
                             size_t *len_out, certa_errinfo *ei);

/* Decodes exactly len bytes into ev. */
certa_err certa_event_decode(const uint8_t *in, size_t len, certa_event *ev,
                             certa_errinfo *ei);

/* The grant's code commitment: SHA-256(salt || code), the 16 salt bytes
 * followed by the 8 ASCII digits of the code. */
void certa_code_commit(const uint8_t salt[CERTA_SALT_BYTES],
                       const char code[CERTA_CODE_DIGITS],
                       uint8_t out[CERTA_HASH_BYTES]);

/* Rules 2 (docs/OPERATIONS.md "Codes and QR"): the redeem's sealed proof,
 * SHA-256(salt || code) (the same bytes as certa_code_commit), and the
 * grant's commitment, SHA-256 of that proof. For a QR grant, salt is the
 * signing pad's 16-byte challenge and code 8 zero bytes. */
void certa_code_proof(const uint8_t salt[CERTA_SALT_BYTES], const char code[CERTA_CODE_DIGITS],
                      uint8_t out[CERTA_HASH_BYTES]);
void certa_code_commit_sealed(const uint8_t salt[CERTA_SALT_BYTES],
                              const char code[CERTA_CODE_DIGITS], uint8_t out[CERTA_HASH_BYTES]);

/* The value rules alone (what encode checks before writing): CERTA_OK when
 * ev is encodable. For producers that want to refuse input early. */
certa_err certa_event_validate(const certa_event *ev, certa_errinfo *ei);

/* Names: "grant", "id_card", "code" ...; NULL for an unknown value.
 * The _parse functions return -1 for an unknown name. Licence types 7..31
 * have no name; certa_licence_type_parse also accepts "type_N" for them. */
const char *certa_event_kind_name(unsigned kind);
int certa_event_kind_parse(const char *name);
const char *certa_licence_type_name(unsigned type);
int certa_licence_type_parse(const char *name);
const char *certa_method_name(unsigned method);
int certa_method_parse(const char *name);

/* ---- batches ----
 * An integrator signs a batch: header, events, then an Ed25519 signature over
 * the batch digest = SHA-256 of every byte before the signature. */
#define CERTA_BATCH_MAGIC 0x42545243u /* "CRTB" */
#define CERTA_BATCH_HEADER_BYTES 24u

/* A decoded batch borrows from the buffer it was decoded from: events[i]
 * points into that buffer and lives as long as it does. */
typedef struct certa_batch_view {
    uint16_t integrator; /* index in genesis integrators */
    uint64_t seq;        /* per-integrator sequence number, from 1 */
    uint32_t event_count;
    const uint8_t *body; /* the event records */
    size_t body_bytes;
    uint8_t digest[CERTA_HASH_BYTES];        /* SHA-256 of all bytes before sig */
    const uint8_t *signature;                /* CERTA_SIGNATURE_BYTES */
    size_t total_bytes;
} certa_batch_view;

/* Iterates the events of a batch view: *pos starts at 0; returns true and
 * sets (ev_bytes, ev_len) while events remain. The view must come from
 * certa_batch_decode, which validated every length. */
bool certa_batch_next(const certa_batch_view *b, size_t *pos,
                      const uint8_t **ev_bytes, size_t *ev_len);

/* Checks framing, limits and every event's canonical encoding; fills v and
 * computes the digest. Does not verify the signature (crypto does). */
certa_err certa_batch_decode(const uint8_t *in, size_t len, certa_batch_view *v,
                             certa_errinfo *ei);
/* Framing only: the header, the limits and every event's length prefix,
 * without decoding the events or computing the digest (v->digest is left
 * zero). For bytes this process already checked with certa_batch_decode
 * and reads again, whose events are decoded one by one afterwards, or that
 * an audit hashes as stored (certa verify-chain); the view iterates with
 * certa_batch_next like a decoded one. */
certa_err certa_batch_frame(const uint8_t *in, size_t len, certa_batch_view *v,
                            certa_errinfo *ei);

/* Batch builder: the caller owns buf (capacity cap, at most
 * CERTA_BATCH_BYTES_MAX). begin, add events, then finish computes the digest
 * into digest_out; the caller signs it and calls certa_batch_seal. */
typedef struct certa_batch_builder {
    uint8_t *buf;
    size_t cap;
    size_t len;
    uint32_t count;
} certa_batch_builder;

/* begin: cap >= CERTA_BATCH_HEADER_BYTES + CERTA_SIGNATURE_BYTES and
 * seq >= 1 (asserted). A cap above CERTA_BATCH_BYTES_MAX is used only up
 * to that limit. */
void certa_batch_begin(certa_batch_builder *bb, uint8_t *buf, size_t cap,
                       uint16_t integrator, uint64_t seq);
certa_err certa_batch_add(certa_batch_builder *bb, const certa_event *ev,
                          certa_errinfo *ei);
/* Sets the sequence number (>= 1) of a batch being built, before its
 * digest: for a batcher that learns it only when it seals
 * (certa/aggregate.h). */
void certa_batch_set_seq(certa_batch_builder *bb, uint64_t seq);
void certa_batch_digest(certa_batch_builder *bb, uint8_t digest_out[CERTA_HASH_BYTES]);
/* Appends the signature; returns total length or 0 when cap is too small. */
size_t certa_batch_seal(certa_batch_builder *bb,
                        const uint8_t sig[CERTA_SIGNATURE_BYTES]);
/* digest + sign with key + seal. The batch is then bb->buf[0 .. bb->len).
 * CERTA_E_STATE when the batch has no event; crypto errors pass through.
 * certa_batch_add always keeps room for the signature. */
certa_err certa_batch_sign(certa_batch_builder *bb, const certa_key *key,
                           certa_errinfo *ei);
/* CERTA_OK when the view's signature verifies under pk (the integrator's
 * key), else CERTA_E_BAD_SIGNATURE. */
certa_err certa_batch_verify(const certa_batch_view *v, const certa_pubkey *pk,
                             certa_errinfo *ei);

/* ---- block headers ----
 * Fixed size. The block hash is SHA-256 of the encoded header. */
#define CERTA_HEADER_MAGIC 0x48545243u /* "CRTH" */
#define CERTA_HEADER_BYTES 168u

/* Header h commits to the execution of block h - CERTA_RESULTS_LAG_BLOCKS:
 * prev_results_root is that block's results root and state_digest the state
 * digest after it (both zero for h <= the lag and for the null blocks of a
 * view change). The lag lets a primary propose that many blocks before the
 * first of them executed. */
#define CERTA_RESULTS_LAG_BLOCKS 4u

typedef struct certa_block_header {
    uint64_t height;       /* genesis block is height 0; first real block 1 */
    uint64_t view;
    uint64_t timestamp_ms; /* the block's "now" for the rules */
    uint16_t proposer;     /* validator index */
    uint32_t event_count;
    uint32_t batch_count;
    uint8_t prev_hash[CERTA_HASH_BYTES];         /* hash of header height-1 */
    uint8_t events_root[CERTA_HASH_BYTES];       /* RFC 6962 root of event leaves */
    uint8_t prev_results_root[CERTA_HASH_BYTES]; /* results root of height - lag */
    uint8_t state_digest[CERTA_HASH_BYTES];      /* state digest after height - lag */
} certa_block_header;

certa_err certa_header_encode(const certa_block_header *h,
                              uint8_t out[CERTA_HEADER_BYTES]);
certa_err certa_header_decode(const uint8_t *in, size_t len,
                              certa_block_header *h, certa_errinfo *ei);
void certa_header_hash(const certa_block_header *h, uint8_t out[CERTA_HASH_BYTES]);

/* ---- blocks ----
 * A block is the encoded header followed by its batches (each exactly as the
 * integrator signed it, prefixed by a u32 length). The Merkle leaves of a
 * block are its events in order; leaf i's data is
 *     u16 integrator || u64 batch seq || event bytes
 * so that a receipt proves who submitted the event. */
#define CERTA_BLOCK_BYTES_MAX (64u * 1024u * 1024u)

certa_err certa_block_decode_header(const uint8_t *in, size_t len,
                                    certa_block_header *h, certa_errinfo *ei);

/* Iterates a block's batches after its header: *pos starts at
 * CERTA_HEADER_BYTES. Returns CERTA_OK with *batch filled, CERTA_E_NOTFOUND
 * at the end, or a decode error. */
certa_err certa_block_next_batch(const uint8_t *in, size_t len, size_t *pos,
                                 certa_batch_view *batch, certa_errinfo *ei);
/* The same with certa_batch_frame for each batch. */
certa_err certa_block_next_batch_frame(const uint8_t *in, size_t len, size_t *pos,
                                       certa_batch_view *batch, certa_errinfo *ei);

/* Appends one batch (u32 length + bytes) to a block being built in out at
 * pos (pos >= CERTA_HEADER_BYTES; the caller writes the header at 0).
 * Returns the new end, or 0 when cap or CERTA_BLOCK_BYTES_MAX would be
 * exceeded. */
size_t certa_block_put_batch(uint8_t *out, size_t cap, size_t pos,
                             const uint8_t *batch, size_t batch_len);

/* Decodes a whole block: header, every batch (framing and events, not
 * signatures), and checks the header's batch_count and event_count against
 * what the block holds (CERTA_E_BAD_FIELD when they differ). */
certa_err certa_block_check(const uint8_t *in, size_t len,
                            certa_block_header *h, certa_errinfo *ei);

/* Leaf data of one event: writes into out (cap >= 10 + ev_len). */
#define CERTA_LEAF_PREFIX_BYTES 10u
size_t certa_leaf_encode(uint16_t integrator, uint64_t seq,
                         const uint8_t *ev, size_t ev_len, uint8_t *out,
                         size_t cap);

#endif
