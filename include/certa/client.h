/* client: the integrator protocol over ZeroMQ, the integrator's end.
 *
 * Integrators talk to a validator's client endpoint: a ZeroMQ ROUTER on the
 * validator, a DEALER on the client, encrypted with CURVE (the validator's
 * public key comes from genesis; the client's key is ephemeral, since the
 * Ed25519 batch signature is what authenticates an integrator). Every message
 * is two frames, a 16-byte header and a body; the framing is specified in
 * docs/PROTOCOL.md "Client protocol".
 *
 * This header holds the frame codec (pure functions, fuzzed) and the client
 * library (asynchronous submit with a bounded window, per-request deadline,
 * bounded retries, failover across validators). The client is an opaque
 * handle: no ZeroMQ type or storage appears here. The validator's end of
 * the protocol is daemon-internal (net/cp_server.h).
 */
#ifndef CERTA_CLIENT_H
#define CERTA_CLIENT_H

#include "certa/certa.h"

/* ---- frames ---- */
#define CERTA_CP_MAGIC 0x43545243u /* "CRTC" */
#define CERTA_CP_VERSION 1u
#define CERTA_CP_HEADER_BYTES 16u
#define CERTA_CP_ERROR_MSG_MAX 1024u
#define CERTA_CP_BODY_BYTES_MAX (64u * 1024u * 1024u)

typedef enum certa_cp_type {
    /* requests, client -> validator */
    CERTA_CP_SUBMIT = 1, /* body: one signed batch (codec) */
    CERTA_CP_QUERY = 2,  /* body: certa_cp_query encoding */
    /* replies, validator -> client, echoing the request id */
    CERTA_CP_ACCEPTED = 16,     /* body: certa_cp_accepted encoding */
    CERTA_CP_RECEIPT = 17,      /* body: a batch receipt (receipt.h) */
    CERTA_CP_ERROR = 18,        /* body: certa_cp_error encoding */
    CERTA_CP_QUERY_RESULT = 19, /* body: u8 query kind, then UTF-8 JSON */
} certa_cp_type;

typedef struct certa_cp_header {
    uint8_t version; /* CERTA_CP_VERSION */
    uint8_t type;    /* certa_cp_type */
    uint16_t flags;  /* 0; reserved */
    uint64_t request_id;
} certa_cp_header;

void certa_cp_header_encode(const certa_cp_header *h, uint8_t out[CERTA_CP_HEADER_BYTES]);
/* CERTA_E_TRUNCATED/TRAILING (size), BAD_MAGIC, BAD_VERSION, BAD_KIND
 * (unknown type), RESERVED (flags). */
certa_err certa_cp_header_decode(const uint8_t *in, size_t len, certa_cp_header *h,
                                 certa_errinfo *ei);

typedef enum certa_query_kind {
    CERTA_QUERY_HOLDER = 1, /* arg: holder_id (32) · u64 cursor · u32 limit */
    CERTA_QUERY_GRANT = 2,  /* arg: grant_id (16) · u64 cursor · u32 limit */
    CERTA_QUERY_BLOCK = 3,  /* arg: u64 height · u64 cursor · u32 limit */
    CERTA_QUERY_STATUS = 4, /* arg: none */
    CERTA_QUERY_INTEGRATOR = 5, /* arg: u8 name length L (1..63) · L name bytes */
    CERTA_QUERY_CHECKPOINT = 6, /* arg: none; the event log's checkpoints it signed */
} certa_query_kind;

#define CERTA_CP_QUERY_NAME_MAX 63u /* a genesis name's longest */

typedef struct certa_cp_query {
    uint8_t kind; /* certa_query_kind */
    uint8_t holder_id[32];
    uint8_t grant_id[16];
    uint64_t height;
    uint64_t cursor; /* holder, grant: the previous page's next_cursor;
                      * block: index of the first event to list (0: start) */
    uint32_t limit;  /* records or events per page (0: server default) */
    char name[CERTA_CP_QUERY_NAME_MAX + 1]; /* integrator: its genesis name, NUL-ended */
} certa_cp_query;

/* the longest body: integrator, 1 + 1 + 63 (holder is 45) */
#define CERTA_CP_QUERY_BYTES_MAX 65u
/* Query body: u8 kind, then the kind's argument; returns bytes written
 * (out needs CERTA_CP_QUERY_BYTES_MAX bytes at most). */
size_t certa_cp_query_encode(const certa_cp_query *q, uint8_t out[CERTA_CP_QUERY_BYTES_MAX]);
certa_err certa_cp_query_decode(const uint8_t *in, size_t len, certa_cp_query *q,
                                certa_errinfo *ei);
const char *certa_query_kind_name(unsigned kind); /* "holder", ...; NULL */

/* QUERY_RESULT body: u8 query kind, then a UTF-8 JSON object (no NUL).
 * encode returns the bytes written, 0 when cap (or the body limit) is too
 * small or the document is empty. decode checks the kind, that the document
 * looks like one JSON object (braces, no NUL) and points *json into in. */
size_t certa_cp_query_result_encode(uint8_t kind, const char *json, size_t json_len,
                                    uint8_t *out, size_t cap);
certa_err certa_cp_query_result_decode(const uint8_t *in, size_t len, uint8_t *kind,
                                       const char **json, size_t *json_len,
                                       certa_errinfo *ei);

typedef struct certa_cp_accepted {
    uint16_t integrator;
    uint64_t seq;
    uint8_t digest[CERTA_HASH_BYTES]; /* the batch digest */
    uint32_t event_count;
} certa_cp_accepted;

#define CERTA_CP_ACCEPTED_BYTES 46u
void certa_cp_accepted_encode(const certa_cp_accepted *a,
                              uint8_t out[CERTA_CP_ACCEPTED_BYTES]);
certa_err certa_cp_accepted_decode(const uint8_t *in, size_t len,
                                   certa_cp_accepted *a, certa_errinfo *ei);

typedef struct certa_cp_error {
    uint16_t code;       /* certa_err */
    bool retryable;      /* the same request may succeed later */
    uint32_t retry_after_ms; /* hint for BUSY; 0 = none */
    char message[CERTA_CP_ERROR_MSG_MAX + 1]; /* NUL-terminated */
} certa_cp_error;

/* Error body: u16 code, u8 flags (bit 0 retryable), u8 0, u32 retry_after_ms,
 * u16 message length, message (UTF-8, no NUL). Returns bytes written;
 * out needs 10 + CERTA_CP_ERROR_MSG_MAX bytes; longer messages are cut. */
size_t certa_cp_error_encode(const certa_cp_error *e, uint8_t *out);
certa_err certa_cp_error_decode(const uint8_t *in, size_t len, certa_cp_error *e,
                                certa_errinfo *ei);

/* ---- the client library ---- */
typedef struct certa_client certa_client;

#define CERTA_CLIENT_ENDPOINTS_MAX 64u

typedef struct certa_client_opts {
    uint32_t endpoint_count;          /* validators to use, >= 1 */
    const char *const *endpoints;     /* "tcp://127.0.0.1:7001" */
    const char *const *server_keys;   /* their Z85 CURVE public keys */
    uint32_t window;           /* requests in flight at most; 0 = 64 */
    uint32_t deadline_ms;      /* whole-request deadline; 0 = 30000 */
    uint32_t attempt_timeout_ms; /* resend when unanswered; 0 = 2000 */
    uint32_t retries_max;      /* sends after the first before ACCEPTED, at
                                * most; 0 = 5 (after ACCEPTED the library
                                * resends every 4 x attempt_timeout_ms until
                                * the receipt or the deadline) */
    uint32_t retry_base_ms;    /* back-off base for BUSY and other retryable
                                * errors: retry k waits a random time in
                                * [B*2^k/2, B*2^k] (k at most 6), and never
                                * less than the validator's retry_after_ms;
                                * 0 = 50 */
    bool sticky;               /* start each request at the validator that
                                * last answered (one found silent then costs
                                * one attempt, not one request in n); false:
                                * spread requests over the validators */
} certa_client_opts;

certa_err certa_client_open(const certa_client_opts *o, certa_client **out,
                            certa_errinfo *ei);
void certa_client_close(certa_client *c);

/* Queues a signed batch (copied). *request_id gets the id that the replies
 * carry. CERTA_E_BUSY when the window is full: poll for replies first.
 * Resending the identical batch is idempotent at the validator, so the
 * library resends on silence and on retryable errors. */
certa_err certa_client_submit(certa_client *c, const uint8_t *batch, size_t len,
                              uint64_t tag, uint64_t *request_id);
/* Queues a query. CERTA_E_BAD_ENUM for an unknown kind, CERTA_E_ARG for an
 * integrator query whose name is empty or longer than 63 bytes. */
certa_err certa_client_query(certa_client *c, const certa_cp_query *q,
                             uint64_t tag, uint64_t *request_id);

typedef struct certa_client_reply {
    uint64_t request_id;
    uint64_t tag;          /* the caller's tag from submit/query */
    uint8_t type;          /* CERTA_CP_ACCEPTED, RECEIPT, QUERY_RESULT, ERROR */
    bool final;            /* the request is finished and its slot freed */
    uint32_t endpoint;     /* index of the validator that answered */
    uint32_t attempts;     /* sends made for this request */
    certa_cp_accepted accepted; /* type ACCEPTED */
    certa_cp_error error;  /* type ERROR: from the validator, or made locally
                            * (CERTA_E_TIMEOUT: deadline; CERTA_E_BUSY: retries
                            * exhausted) */
    const uint8_t *body;   /* RECEIPT / QUERY_RESULT body; valid until the next
                            * certa_client_poll or certa_client_close */
    size_t body_len;
} certa_client_reply;

/* Drives sends, retries and deadlines, and returns the next reply:
 * CERTA_OK with *r filled, CERTA_E_TIMEOUT when none came within timeout_ms,
 * CERTA_E_NOTFOUND when nothing is outstanding. Retryable errors are retried
 * here and surface only once retries are exhausted. */
certa_err certa_client_poll(certa_client *c, int timeout_ms, certa_client_reply *r);

/* Requests submitted and not yet final. */
uint32_t certa_client_outstanding(const certa_client *c);

/* The validator's end of this protocol (the ROUTER socket the daemon
 * serves) is daemon-internal: net/cp_server.h. */

#endif
