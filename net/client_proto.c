/* client_proto: the integrator protocol (frames, client library, validator
 * socket). Framing in docs/PROTOCOL.md "Client protocol".
 *
 * Invariants:
 * - Decoders read only within the given length, check every length before
 *   use, and accept exactly what the encoders produce.
 * - The client never has more than `window` requests outstanding, never
 *   retries a request more than retries_max times, and finishes every request
 *   by its deadline at the latest: each request ends in exactly one final
 *   reply.
 * - Every socket has a high-water mark; sends never block.
 */
#include "certa/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "cp_server.h"
#include "frames.h"
#include "certa/wire.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- frames ---- */

void certa_cp_header_encode(const certa_cp_header *h, uint8_t out[CERTA_CP_HEADER_BYTES])
{
    certa_put_le32(out, CERTA_CP_MAGIC);
    out[4] = h->version;
    out[5] = h->type;
    certa_put_le16(out + 6, h->flags);
    certa_put_le64(out + 8, h->request_id);
}

static bool type_known(unsigned t)
{
    return t == CERTA_CP_SUBMIT || t == CERTA_CP_QUERY || t == CERTA_CP_ACCEPTED ||
           t == CERTA_CP_RECEIPT || t == CERTA_CP_ERROR || t == CERTA_CP_QUERY_RESULT;
}

certa_err certa_cp_header_decode(const uint8_t *in, size_t len, certa_cp_header *h,
                                 certa_errinfo *ei)
{
    if (len < CERTA_CP_HEADER_BYTES)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "client header: %zu bytes, "
                            "need %u", len, CERTA_CP_HEADER_BYTES);
    if (len > CERTA_CP_HEADER_BYTES)
        return certa_errorf(ei, CERTA_E_TRAILING, "client header: %zu bytes, "
                            "expected %u", len, CERTA_CP_HEADER_BYTES);
    if (certa_get_le32(in) != CERTA_CP_MAGIC)
        return certa_errorf(ei, CERTA_E_BAD_MAGIC, "client header: bad magic");
    h->version = in[4];
    h->type = in[5];
    h->flags = certa_get_le16(in + 6);
    h->request_id = certa_get_le64(in + 8);
    if (h->version != CERTA_CP_VERSION)
        return certa_errorf(ei, CERTA_E_BAD_VERSION, "client header: version %u, "
                            "this validator speaks %u", h->version, CERTA_CP_VERSION);
    if (!type_known(h->type))
        return certa_errorf(ei, CERTA_E_BAD_KIND, "client header: unknown "
                            "message type %u", h->type);
    if (h->flags != 0)
        return certa_errorf(ei, CERTA_E_RESERVED, "client header: reserved "
                            "flags 0x%x set", h->flags);
    return CERTA_OK;
}

const char *certa_query_kind_name(unsigned kind)
{
    switch (kind) {
    case CERTA_QUERY_HOLDER: return "holder";
    case CERTA_QUERY_GRANT: return "grant";
    case CERTA_QUERY_BLOCK: return "block";
    case CERTA_QUERY_STATUS: return "status";
    case CERTA_QUERY_INTEGRATOR: return "integrator";
    case CERTA_QUERY_CHECKPOINT: return "checkpoint";
    default: return NULL;
    }
}

/* The argument's length for the fixed-size kinds; integrator's is
 * variable (its first byte says) and is handled apart. */
static size_t query_arg_bytes(unsigned kind)
{
    switch (kind) {
    case CERTA_QUERY_HOLDER: return 32 + 12;
    case CERTA_QUERY_GRANT: return 16 + 12;
    case CERTA_QUERY_BLOCK: return 8 + 12;
    case CERTA_QUERY_STATUS: return 0;
    case CERTA_QUERY_CHECKPOINT: return 0;
    case CERTA_QUERY_INTEGRATOR: return 1; /* the length byte; the name follows */
    default: return SIZE_MAX;
    }
}

size_t certa_cp_query_encode(const certa_cp_query *q, uint8_t out[CERTA_CP_QUERY_BYTES_MAX])
{
    CERTA_ASSERT(query_arg_bytes(q->kind) != SIZE_MAX);
    out[0] = q->kind;
    if (q->kind == CERTA_QUERY_INTEGRATOR) {
        size_t nl = strnlen(q->name, CERTA_CP_QUERY_NAME_MAX + 1);
        CERTA_ASSERT(nl >= 1 && nl <= CERTA_CP_QUERY_NAME_MAX);
        out[1] = (uint8_t)nl;
        memcpy(out + 2, q->name, nl);
        return 2 + nl;
    }
    switch (q->kind) {
    case CERTA_QUERY_HOLDER:
        memcpy(out + 1, q->holder_id, 32);
        certa_put_le64(out + 33, q->cursor);
        certa_put_le32(out + 41, q->limit);
        break;
    case CERTA_QUERY_GRANT:
        memcpy(out + 1, q->grant_id, 16);
        certa_put_le64(out + 17, q->cursor);
        certa_put_le32(out + 25, q->limit);
        break;
    case CERTA_QUERY_BLOCK:
        certa_put_le64(out + 1, q->height);
        certa_put_le64(out + 9, q->cursor);
        certa_put_le32(out + 17, q->limit);
        break;
    default: break;
    }
    return 1 + query_arg_bytes(q->kind);
}

certa_err certa_cp_query_decode(const uint8_t *in, size_t len, certa_cp_query *q,
                                certa_errinfo *ei)
{
    memset(q, 0, sizeof *q);
    if (len < 1)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "query: empty body");
    size_t need = query_arg_bytes(in[0]);
    if (need == SIZE_MAX)
        return certa_errorf(ei, CERTA_E_BAD_ENUM, "query: unknown kind %u", in[0]);
    if (in[0] == CERTA_QUERY_INTEGRATOR && len >= 2) {
        /* variable length: the length byte, then exactly that many bytes */
        size_t nl = in[1];
        if (nl < 1 || nl > CERTA_CP_QUERY_NAME_MAX)
            return certa_errorf(ei, CERTA_E_BAD_FIELD, "query integrator: name length %zu, "
                                "must be 1..%u", nl, CERTA_CP_QUERY_NAME_MAX);
        need = 1 + nl;
    }
    if (len < 1 + need)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "query %s: %zu argument "
                            "bytes, need %zu", certa_query_kind_name(in[0]),
                            len - 1, need);
    if (len > 1 + need)
        return certa_errorf(ei, CERTA_E_TRAILING, "query %s: %zu argument "
                            "bytes, expected %zu", certa_query_kind_name(in[0]),
                            len - 1, need);
    q->kind = in[0];
    switch (q->kind) {
    case CERTA_QUERY_HOLDER:
        memcpy(q->holder_id, in + 1, 32);
        q->cursor = certa_get_le64(in + 33);
        q->limit = certa_get_le32(in + 41);
        break;
    case CERTA_QUERY_GRANT:
        memcpy(q->grant_id, in + 1, 16);
        q->cursor = certa_get_le64(in + 17);
        q->limit = certa_get_le32(in + 25);
        break;
    case CERTA_QUERY_BLOCK:
        q->height = certa_get_le64(in + 1);
        q->cursor = certa_get_le64(in + 9);
        q->limit = certa_get_le32(in + 17);
        break;
    case CERTA_QUERY_INTEGRATOR:
        if (memchr(in + 2, 0, in[1]) != NULL) {
            memset(q, 0, sizeof *q);
            return certa_errorf(ei, CERTA_E_BAD_FIELD, "query integrator: NUL byte in the "
                                "name");
        }
        memcpy(q->name, in + 2, in[1]);
        q->name[in[1]] = '\0';
        break;
    default: break;
    }
    return CERTA_OK;
}

size_t certa_cp_query_result_encode(uint8_t kind, const char *json, size_t json_len,
                                    uint8_t *out, size_t cap)
{
    CERTA_ASSERT(certa_query_kind_name(kind) != NULL && json != NULL);
    if (json_len == 0 || 1 + json_len > cap || 1 + json_len > CERTA_CP_BODY_BYTES_MAX)
        return 0;
    out[0] = kind;
    memcpy(out + 1, json, json_len);
    return 1 + json_len;
}

certa_err certa_cp_query_result_decode(const uint8_t *in, size_t len, uint8_t *kind,
                                       const char **json, size_t *json_len,
                                       certa_errinfo *ei)
{
    *kind = 0;
    *json = NULL;
    *json_len = 0;
    if (len < 2)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "query result: %zu bytes, need "
                            "a kind byte and a JSON document", len);
    if (len > CERTA_CP_BODY_BYTES_MAX)
        return certa_errorf(ei, CERTA_E_TOO_LONG, "query result: %zu bytes, limit %u",
                            len, CERTA_CP_BODY_BYTES_MAX);
    if (certa_query_kind_name(in[0]) == NULL)
        return certa_errorf(ei, CERTA_E_BAD_ENUM, "query result: unknown kind %u", in[0]);
    /* A JSON document is an object: the first and last non-blank bytes are
     * braces. The full parse is the caller's (it knows what it asked). */
    size_t a = 1, b = len;
    while (a < b && (in[a] == ' ' || in[a] == '\n' || in[a] == '\r' || in[a] == '\t'))
        a++;
    while (b > a && (in[b - 1] == ' ' || in[b - 1] == '\n' || in[b - 1] == '\r' ||
                     in[b - 1] == '\t'))
        b--;
    if (b - a < 2 || in[a] != '{' || in[b - 1] != '}')
        return certa_errorf(ei, CERTA_E_JSON, "query result %s: the document is not a "
                            "JSON object", certa_query_kind_name(in[0]));
    for (size_t i = 1; i < len; i++)
        if (in[i] == 0)
            return certa_errorf(ei, CERTA_E_JSON, "query result: NUL byte at %zu", i);
    *kind = in[0];
    *json = (const char *)in + 1;
    *json_len = len - 1;
    return CERTA_OK;
}

void certa_cp_accepted_encode(const certa_cp_accepted *a,
                              uint8_t out[CERTA_CP_ACCEPTED_BYTES])
{
    certa_put_le16(out, a->integrator);
    certa_put_le64(out + 2, a->seq);
    memcpy(out + 10, a->digest, CERTA_HASH_BYTES);
    certa_put_le32(out + 42, a->event_count);
}

certa_err certa_cp_accepted_decode(const uint8_t *in, size_t len,
                                   certa_cp_accepted *a, certa_errinfo *ei)
{
    if (len != CERTA_CP_ACCEPTED_BYTES)
        return certa_errorf(ei, len < CERTA_CP_ACCEPTED_BYTES ? CERTA_E_TRUNCATED
                                                              : CERTA_E_TRAILING,
                            "accepted: %zu bytes, expected %u", len,
                            CERTA_CP_ACCEPTED_BYTES);
    a->integrator = certa_get_le16(in);
    a->seq = certa_get_le64(in + 2);
    memcpy(a->digest, in + 10, CERTA_HASH_BYTES);
    a->event_count = certa_get_le32(in + 42);
    return CERTA_OK;
}

size_t certa_cp_error_encode(const certa_cp_error *e, uint8_t *out)
{
    size_t ml = strnlen(e->message, CERTA_CP_ERROR_MSG_MAX);
    certa_put_le16(out, e->code);
    out[2] = e->retryable ? 1 : 0;
    out[3] = 0;
    certa_put_le32(out + 4, e->retry_after_ms);
    certa_put_le16(out + 8, (uint16_t)ml);
    memcpy(out + 10, e->message, ml);
    return 10 + ml;
}

certa_err certa_cp_error_decode(const uint8_t *in, size_t len, certa_cp_error *e,
                                certa_errinfo *ei)
{
    memset(e, 0, sizeof *e);
    if (len < 10)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "error reply: %zu bytes, need "
                            "at least 10", len);
    if ((in[2] & ~1u) != 0 || in[3] != 0)
        return certa_errorf(ei, CERTA_E_RESERVED, "error reply: reserved bits set");
    size_t ml = certa_get_le16(in + 8);
    if (ml > CERTA_CP_ERROR_MSG_MAX)
        return certa_errorf(ei, CERTA_E_TOO_LONG, "error reply: message of %zu "
                            "bytes, limit %u", ml, CERTA_CP_ERROR_MSG_MAX);
    if (len != 10 + ml)
        return certa_errorf(ei, len < 10 + ml ? CERTA_E_TRUNCATED : CERTA_E_TRAILING,
                            "error reply: %zu bytes, message length says %zu",
                            len, 10 + ml);
    e->code = certa_get_le16(in);
    e->retryable = in[2] & 1;
    e->retry_after_ms = certa_get_le32(in + 4);
    memcpy(e->message, in + 10, ml);
    for (size_t i = 0; i < ml; i++) /* keep it printable in logs */
        if ((unsigned char)e->message[i] < 0x20 || e->message[i] == 0x7f)
            e->message[i] = '?';
    e->message[ml] = '\0';
    return CERTA_OK;
}

static int setopt_int(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v);
}

/* ---- client library ---- */

typedef struct cslot {
    bool used;
    bool accepted;
    uint8_t type; /* SUBMIT or QUERY */
    uint32_t endpoint;
    uint32_t attempts;
    uint64_t id, tag;
    uint64_t deadline_ms, next_send_ms;
    uint16_t last_code; /* last retryable error, 0 = none */
    uint8_t *body;
    size_t len;
} cslot;

struct certa_client {
    certa_client_opts o;
    void *ctx;
    void **dealers;
    uint32_t n;
    cslot *slots;
    uint32_t used;
    uint64_t next_id;
    zmq_msg_t held; /* body of the last reply handed out */
    bool holding;
    uint64_t rng; /* xorshift state for retry jitter; never 0 */
    uint32_t answered; /* the endpoint that last answered; n: none yet */
};

/* A retry waits a random time in [wait/2, wait]: clients that were refused
 * together (an overloaded validator answers BUSY to all of them at once)
 * do not all come back in the same millisecond. */
static uint64_t jitter(certa_client *c, uint64_t wait)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    uint64_t half = wait / 2;
    return half + (half ? c->rng % (half + 1) : 0) + (wait & 1);
}

certa_err certa_client_open(const certa_client_opts *o, certa_client **out,
                            certa_errinfo *ei)
{
    CERTA_ASSERT(o != NULL && out != NULL);
    if (o->endpoint_count == 0 || o->endpoints == NULL || o->server_keys == NULL)
        return certa_errorf(ei, CERTA_E_ARG, "client: no validator endpoint");
    if (o->endpoint_count > CERTA_CLIENT_ENDPOINTS_MAX)
        return certa_errorf(ei, CERTA_E_ARG, "client: %u endpoints, at most %u",
                            o->endpoint_count, CERTA_CLIENT_ENDPOINTS_MAX);
    certa_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "allocating the client");
    c->o = *o;
    if (c->o.window == 0)
        c->o.window = 64;
    if (c->o.deadline_ms == 0)
        c->o.deadline_ms = 30000;
    if (c->o.attempt_timeout_ms == 0)
        c->o.attempt_timeout_ms = 2000;
    if (c->o.retries_max == 0)
        c->o.retries_max = 5;
    if (c->o.retry_base_ms == 0)
        c->o.retry_base_ms = 50;
    c->n = o->endpoint_count;
    c->answered = c->n;
    c->next_id = 1;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    c->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)(uintptr_t)c << 7) ^
             0x9E3779B97F4A7C15ull;
    c->slots = calloc(c->o.window, sizeof *c->slots);
    c->dealers = calloc(c->n, sizeof *c->dealers);
    c->ctx = zmq_ctx_new();
    certa_err e = CERTA_OK;
    if (c->slots == NULL || c->dealers == NULL || c->ctx == NULL) {
        e = certa_errorf(ei, CERTA_E_NOMEM, "allocating the client tables");
        goto err;
    }
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0) {
        e = certa_errorf(ei, CERTA_E_NET, "client: CURVE key pair: %s",
                         zmq_strerror(zmq_errno()));
        goto err;
    }
    int64_t maxmsg = (int64_t)CERTA_CP_BODY_BYTES_MAX + 64;
    for (uint32_t i = 0; i < c->n; i++) {
        void *d = zmq_socket(c->ctx, ZMQ_DEALER);
        c->dealers[i] = d;
        if (d == NULL || strlen(o->server_keys[i]) != 40 ||
            zmq_setsockopt(d, ZMQ_CURVE_SERVERKEY, o->server_keys[i], 40) != 0 ||
            zmq_setsockopt(d, ZMQ_CURVE_PUBLICKEY, pub, 40) != 0 ||
            zmq_setsockopt(d, ZMQ_CURVE_SECRETKEY, sec, 40) != 0 ||
            setopt_int(d, ZMQ_SNDHWM, (int)c->o.window + 16) != 0 ||
            setopt_int(d, ZMQ_RCVHWM, 2 * (int)c->o.window + 16) != 0 ||
            setopt_int(d, ZMQ_IMMEDIATE, 1) != 0 ||
            setopt_int(d, ZMQ_LINGER, 0) != 0 ||
            setopt_int(d, ZMQ_RECONNECT_IVL, 50) != 0 ||
            setopt_int(d, ZMQ_RECONNECT_IVL_MAX, 1000) != 0 ||
            zmq_setsockopt(d, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
            zmq_connect(d, o->endpoints[i]) != 0) {
            e = certa_errorf(ei, CERTA_E_NET, "client: validator %u at %s: %s", i,
                             o->endpoints[i], d != NULL && strlen(o->server_keys[i]) != 40
                                 ? "server key is not 40 Z85 characters"
                                 : zmq_strerror(zmq_errno()));
            goto err;
        }
    }
    *out = c;
    return CERTA_OK;
err:
    certa_client_close(c);
    return e;
}

void certa_client_close(certa_client *c)
{
    if (c == NULL)
        return;
    if (c->holding)
        zmq_msg_close(&c->held);
    for (uint32_t i = 0; c->dealers != NULL && i < c->n; i++)
        if (c->dealers[i] != NULL)
            zmq_close(c->dealers[i]);
    if (c->ctx != NULL)
        zmq_ctx_term(c->ctx);
    for (uint32_t i = 0; c->slots != NULL && i < c->o.window; i++)
        free(c->slots[i].body);
    free(c->slots);
    free(c->dealers);
    free(c);
}

uint32_t certa_client_outstanding(const certa_client *c)
{
    return c->used;
}

static certa_err enqueue(certa_client *c, uint8_t type, const uint8_t *body,
                         size_t len, uint64_t tag, uint64_t *request_id)
{
    if (c->used == c->o.window)
        return CERTA_E_BUSY;
    if (len > CERTA_CP_BODY_BYTES_MAX)
        return CERTA_E_TOO_LONG;
    cslot *s = NULL;
    for (uint32_t i = 0; i < c->o.window; i++) {
        if (!c->slots[i].used) {
            s = &c->slots[i];
            break;
        }
    }
    CERTA_ASSERT(s != NULL);
    uint8_t *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL)
        return CERTA_E_NOMEM;
    memcpy(copy, body, len);
    uint64_t now = now_ms();
    *s = (cslot){ .used = true, .type = type, .id = c->next_id++, .tag = tag,
                  .body = copy, .len = len, .deadline_ms = now + c->o.deadline_ms,
                  .next_send_ms = now };
    /* sticky clients of one list start apart (rng differs per client) */
    s->endpoint = !c->o.sticky        ? (uint32_t)(s->id % c->n)
                  : c->answered < c->n ? c->answered
                                       : (uint32_t)(c->rng % c->n);
    c->used++;
    if (request_id != NULL)
        *request_id = s->id;
    return CERTA_OK;
}

certa_err certa_client_submit(certa_client *c, const uint8_t *batch, size_t len,
                              uint64_t tag, uint64_t *request_id)
{
    CERTA_ASSERT(c != NULL && batch != NULL);
    return enqueue(c, CERTA_CP_SUBMIT, batch, len, tag, request_id);
}

certa_err certa_client_query(certa_client *c, const certa_cp_query *q,
                             uint64_t tag, uint64_t *request_id)
{
    CERTA_ASSERT(c != NULL && q != NULL);
    if (certa_query_kind_name(q->kind) == NULL)
        return CERTA_E_BAD_ENUM;
    if (q->kind == CERTA_QUERY_INTEGRATOR &&
        (q->name[0] == '\0' || strnlen(q->name, sizeof q->name) > CERTA_CP_QUERY_NAME_MAX))
        return CERTA_E_ARG; /* no name, or not NUL-ended within 63 */
    uint8_t body[CERTA_CP_QUERY_BYTES_MAX];
    size_t len = certa_cp_query_encode(q, body);
    return enqueue(c, CERTA_CP_QUERY, body, len, tag, request_id);
}

static void slot_free(certa_client *c, cslot *s)
{
    free(s->body);
    *s = (cslot){ 0 };
    CERTA_ASSERT(c->used > 0);
    c->used--;
}

static void finish_local(certa_client *c, cslot *s, certa_client_reply *r,
                         certa_err code, const char *fmt, uint32_t arg)
{
    memset(r, 0, sizeof *r);
    r->request_id = s->id;
    r->tag = s->tag;
    r->type = CERTA_CP_ERROR;
    r->final = true;
    r->endpoint = s->endpoint;
    r->attempts = s->attempts;
    r->error.code = (uint16_t)code;
    snprintf(r->error.message, sizeof r->error.message, fmt, arg);
    slot_free(c, s);
}

/* Sends what is due; finishes one expired request into r (returns true). */
static bool run_timers(certa_client *c, uint64_t now, certa_client_reply *r,
                       uint64_t *next_event_ms)
{
    for (uint32_t i = 0; i < c->o.window; i++) {
        cslot *s = &c->slots[i];
        if (!s->used)
            continue;
        if (now >= s->deadline_ms) {
            finish_local(c, s, r, CERTA_E_TIMEOUT, "deadline of %u ms passed "
                         "without a final reply", c->o.deadline_ms);
            return true;
        }
        if (now >= s->next_send_ms) {
            /* Before ACCEPTED, attempts are bounded; after it, resends only
             * look for the receipt (idempotent) and the deadline bounds them. */
            if (!s->accepted && s->attempts > c->o.retries_max) {
                if (s->last_code == CERTA_E_BUSY)
                    finish_local(c, s, r, CERTA_E_BUSY, "validators busy: gave "
                                 "up after %u attempts", s->attempts);
                else
                    finish_local(c, s, r, CERTA_E_TIMEOUT, "no final reply after "
                                 "%u attempts", s->attempts);
                return true;
            }
            if (s->attempts > 0 && c->n > 1)
                s->endpoint = (s->endpoint + 1) % c->n; /* fail over */
            certa_cp_header h = { CERTA_CP_VERSION, s->type, 0, s->id };
            uint8_t hdr[CERTA_CP_HEADER_BYTES];
            certa_cp_header_encode(&h, hdr);
            void *d = c->dealers[s->endpoint];
            if (zmq_send(d, hdr, sizeof hdr, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
                /* Not connected or full: try again (elsewhere) shortly,
                 * without spending an attempt; the deadline still bounds it. */
                if (c->n > 1)
                    s->endpoint = (s->endpoint + 1) % c->n;
                s->next_send_ms = now + 10;
            } else {
                int rc = zmq_send(d, s->body, s->len, ZMQ_DONTWAIT);
                CERTA_ASSERT(rc >= 0);
                s->attempts++;
                s->next_send_ms = now + (s->accepted ? 4ull : 1ull) * c->o.attempt_timeout_ms;
            }
        }
        uint64_t t = s->next_send_ms < s->deadline_ms ? s->next_send_ms : s->deadline_ms;
        if (t < *next_event_ms)
            *next_event_ms = t;
    }
    return false;
}

static cslot *find_slot(certa_client *c, uint64_t id)
{
    for (uint32_t i = 0; i < c->o.window; i++)
        if (c->slots[i].used && c->slots[i].id == id)
            return &c->slots[i];
    return NULL;
}

/* Handles one message from endpoint e; true when it produced a reply in r. */
static bool handle_reply(certa_client *c, uint32_t e, certa_client_reply *r,
                         uint64_t now)
{
    zmq_msg_t f[2];
    int frames = certa_frames_recv(c->dealers[e], f, 2);
    if (frames == 0)
        return false;
    certa_cp_header h;
    cslot *s = NULL;
    if (frames != 2 ||
        certa_cp_header_decode(zmq_msg_data(&f[0]), zmq_msg_size(&f[0]), &h, NULL) != CERTA_OK ||
        (s = find_slot(c, h.request_id)) == NULL) {
        certa_frames_close(f, frames, 2); /* malformed, or a late duplicate */
        return false;
    }
    const uint8_t *body = zmq_msg_data(&f[1]);
    size_t blen = zmq_msg_size(&f[1]);
    c->answered = e; /* it is up: a sticky client starts there next */
    memset(r, 0, sizeof *r);
    r->request_id = s->id;
    r->tag = s->tag;
    r->type = h.type;
    r->endpoint = e;
    r->attempts = s->attempts;
    bool out = false;
    switch (h.type) {
    case CERTA_CP_ACCEPTED:
        if (!s->accepted && s->type == CERTA_CP_SUBMIT &&
            certa_cp_accepted_decode(body, blen, &r->accepted, NULL) == CERTA_OK) {
            s->accepted = true;
            s->next_send_ms = now + 4ull * c->o.attempt_timeout_ms;
            out = true;
        }
        break;
    case CERTA_CP_RECEIPT:
    case CERTA_CP_QUERY_RESULT:
        if ((h.type == CERTA_CP_RECEIPT) != (s->type == CERTA_CP_SUBMIT))
            break;
        r->final = true;
        if (c->holding)
            zmq_msg_close(&c->held);
        c->held = f[1]; /* keep the body alive until the next poll */
        c->holding = true;
        zmq_msg_init(&f[1]);
        r->body = zmq_msg_data(&c->held);
        r->body_len = zmq_msg_size(&c->held);
        slot_free(c, s);
        out = true;
        break;
    case CERTA_CP_ERROR:
        if (certa_cp_error_decode(body, blen, &r->error, NULL) != CERTA_OK)
            break;
        if (r->error.retryable && s->attempts <= c->o.retries_max) {
            uint32_t shift = s->attempts < 6 ? s->attempts : 6;
            uint64_t wait = jitter(c, (uint64_t)c->o.retry_base_ms << shift);
            if (r->error.retry_after_ms > wait)
                wait = r->error.retry_after_ms;
            s->last_code = r->error.code;
            s->accepted = false;
            s->next_send_ms = now + wait;
            break; /* retried in run_timers, not surfaced */
        }
        if (r->error.retryable) {
            size_t ml = strlen(r->error.message);
            snprintf(r->error.message + ml, sizeof r->error.message - ml,
                     " (gave up after %u attempts)", s->attempts);
        }
        r->final = true;
        slot_free(c, s);
        out = true;
        break;
    default:
        break;
    }
    certa_frames_close(f, 2, 2);
    return out;
}

certa_err certa_client_poll(certa_client *c, int timeout_ms, certa_client_reply *r)
{
    CERTA_ASSERT(c != NULL && r != NULL);
    if (c->holding) {
        zmq_msg_close(&c->held);
        c->holding = false;
    }
    uint64_t end = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    zmq_pollitem_t items[CERTA_CLIENT_ENDPOINTS_MAX];
    uint32_t np = c->n;
    for (;;) {
        if (c->used == 0)
            return CERTA_E_NOTFOUND;
        uint64_t now = now_ms();
        uint64_t next = end;
        if (run_timers(c, now, r, &next))
            return CERTA_OK;
        for (uint32_t i = 0; i < np; i++) {
            items[i] = (zmq_pollitem_t){ c->dealers[i], 0, ZMQ_POLLIN, 0 };
            /* Drain what is already there before waiting. */
            if (handle_reply(c, i, r, now))
                return CERTA_OK;
        }
        now = now_ms();
        if (now >= end)
            return CERTA_E_TIMEOUT;
        long wait = next > now ? (long)(next - now) : 0;
        if (zmq_poll(items, (int)np, wait) < 0 && zmq_errno() != EINTR)
            return CERTA_E_NET;
        for (uint32_t i = 0; i < np; i++)
            if ((items[i].revents & ZMQ_POLLIN) && handle_reply(c, i, r, now_ms()))
                return CERTA_OK;
    }
}

/* ---- validator side ---- */

struct certa_cp_server {
    void *ctx;
    bool own_ctx;
    void *router;
    char endpoint[256];
    /* The body frame of the request in hand, lent to the caller as
     * certa_cp_request.body without a copy (a batch is up to 1 MiB). It
     * lives here, not in the request, so that no ZeroMQ type reaches the
     * public header: one request at a time per server. */
    zmq_msg_t body;
    bool body_held;
};

/* Closes the body frame lent out by the last recv, if any. */
static void release_body(certa_cp_server *s)
{
    if (s->body_held) {
        zmq_msg_close(&s->body);
        s->body_held = false;
    }
}

certa_err certa_cp_server_open(void *zmq_ctx, const char *endpoint,
                               const char *curve_secret_z85, int hwm_msgs,
                               certa_cp_server **out, certa_errinfo *ei)
{
    CERTA_ASSERT(endpoint != NULL && curve_secret_z85 != NULL && out != NULL);
    if (strlen(curve_secret_z85) != 40)
        return certa_errorf(ei, CERTA_E_BAD_KEY, "client endpoint: CURVE secret "
                            "key must be 40 Z85 characters");
    certa_cp_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "allocating the client endpoint");
    s->own_ctx = zmq_ctx == NULL;
    s->ctx = zmq_ctx != NULL ? zmq_ctx : zmq_ctx_new();
    int64_t maxmsg = (int64_t)CERTA_CP_BODY_BYTES_MAX + 64;
    if (hwm_msgs <= 0)
        hwm_msgs = 1024;
    s->router = s->ctx ? zmq_socket(s->ctx, ZMQ_ROUTER) : NULL;
    size_t eplen = sizeof s->endpoint;
    if (s->router == NULL || setopt_int(s->router, ZMQ_CURVE_SERVER, 1) != 0 ||
        zmq_setsockopt(s->router, ZMQ_CURVE_SECRETKEY, curve_secret_z85, 40) != 0 ||
        zmq_setsockopt(s->router, ZMQ_ZAP_DOMAIN, "certa-client", 12) != 0 ||
        setopt_int(s->router, ZMQ_SNDHWM, hwm_msgs) != 0 ||
        setopt_int(s->router, ZMQ_RCVHWM, hwm_msgs) != 0 ||
        setopt_int(s->router, ZMQ_ROUTER_MANDATORY, 1) != 0 ||
        setopt_int(s->router, ZMQ_LINGER, 0) != 0 ||
        zmq_setsockopt(s->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_bind(s->router, endpoint) != 0 ||
        zmq_getsockopt(s->router, ZMQ_LAST_ENDPOINT, s->endpoint, &eplen) != 0) {
        certa_err e = certa_errorf(ei, CERTA_E_NET, "client endpoint %s: %s",
                                   endpoint, zmq_strerror(zmq_errno()));
        certa_cp_server_close(s);
        return e;
    }
    *out = s;
    return CERTA_OK;
}

const char *certa_cp_server_endpoint(const certa_cp_server *s)
{
    return s->endpoint;
}

void *certa_cp_server_socket(certa_cp_server *s)
{
    return s->router;
}

void certa_cp_server_close(certa_cp_server *s)
{
    if (s == NULL)
        return;
    release_body(s);
    if (s->router != NULL)
        zmq_close(s->router);
    if (s->own_ctx && s->ctx != NULL)
        zmq_ctx_term(s->ctx);
    free(s);
}

certa_err certa_cp_server_reply(certa_cp_server *s, const uint8_t *peer,
                                size_t peer_len, uint8_t type, uint64_t request_id,
                                const void *body, size_t body_len)
{
    CERTA_ASSERT(s != NULL && peer != NULL);
    certa_cp_header h = { CERTA_CP_VERSION, type, 0, request_id };
    uint8_t hdr[CERTA_CP_HEADER_BYTES];
    certa_cp_header_encode(&h, hdr);
    if (zmq_send(s->router, peer, peer_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return zmq_errno() == EAGAIN ? CERTA_E_BUSY : CERTA_E_NOTFOUND;
    /* The routing frame was accepted: the rest of the message will be. */
    if (zmq_send(s->router, hdr, sizeof hdr, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(s->router, body_len ? body : "", body_len, ZMQ_DONTWAIT) < 0)
        return CERTA_E_NET;
    return CERTA_OK;
}

certa_err certa_cp_server_error(certa_cp_server *s, const uint8_t *peer,
                                size_t peer_len, uint64_t request_id,
                                certa_err code, bool retryable,
                                uint32_t retry_after_ms, const char *message)
{
    certa_cp_error e = { .code = (uint16_t)code, .retryable = retryable,
                         .retry_after_ms = retry_after_ms };
    snprintf(e.message, sizeof e.message, "%s", message ? message : certa_strerror(code));
    uint8_t buf[10 + CERTA_CP_ERROR_MSG_MAX];
    size_t len = certa_cp_error_encode(&e, buf);
    return certa_cp_server_reply(s, peer, peer_len, CERTA_CP_ERROR, request_id, buf, len);
}

certa_err certa_cp_server_recv(certa_cp_server *s, certa_cp_request *rq,
                               certa_errinfo *ei)
{
    CERTA_ASSERT(s != NULL && rq != NULL);
    release_body(s); /* the previous request's body, if still held */
    rq->body = NULL;
    rq->body_len = 0;
    rq->server_ = NULL;
    zmq_msg_t f[3];
    int frames = certa_frames_recv(s->router, f, 3);
    if (frames == 0)
        return CERTA_E_NOTFOUND;
    size_t plen = zmq_msg_size(&f[0]);
    if (plen > CERTA_CP_PEER_BYTES_MAX) {
        /* libzmq's own routing ids are 5 bytes; a longer one is not ours to
         * answer to. */
        certa_frames_close(f, frames, 3);
        return certa_errorf(ei, CERTA_E_PROTOCOL, "client routing id of %zu bytes", plen);
    }
    memcpy(rq->peer, zmq_msg_data(&f[0]), plen);
    rq->peer_len = plen;
    certa_errinfo local;
    certa_errinfo_clear(&local);
    certa_err e = CERTA_OK;
    uint64_t rid = 0;
    if (frames >= 2 && zmq_msg_size(&f[1]) == CERTA_CP_HEADER_BYTES)
        rid = certa_get_le64((const uint8_t *)zmq_msg_data(&f[1]) + 8);
    if (frames != 3) {
        e = certa_errorf(&local, CERTA_E_PROTOCOL, "a request has 2 frames "
                         "(header, body), got %d", frames - 1);
    } else if ((e = certa_cp_header_decode(zmq_msg_data(&f[1]), zmq_msg_size(&f[1]),
                                           &rq->header, &local)) != CERTA_OK) {
        e = CERTA_E_PROTOCOL;
    } else if (rq->header.type != CERTA_CP_SUBMIT && rq->header.type != CERTA_CP_QUERY) {
        e = certa_errorf(&local, CERTA_E_PROTOCOL, "message type %u is a reply, "
                         "not a request", rq->header.type);
    }
    if (e != CERTA_OK) {
        (void)certa_cp_server_error(s, rq->peer, rq->peer_len, rid, CERTA_E_PROTOCOL,
                                    false, 0, local.msg);
        certa_frames_close(f, frames, 3);
        return certa_errorf(ei, CERTA_E_PROTOCOL, "%s", local.msg);
    }
    zmq_msg_close(&f[0]);
    zmq_msg_close(&f[1]);
    zmq_msg_init(&s->body);
    zmq_msg_move(&s->body, &f[2]);
    zmq_msg_close(&f[2]);
    s->body_held = true;
    rq->body = zmq_msg_data(&s->body);
    rq->body_len = zmq_msg_size(&s->body);
    rq->server_ = s;
    return CERTA_OK;
}

void certa_cp_request_release(certa_cp_request *rq)
{
    if (rq == NULL || rq->body == NULL)
        return;
    /* Only the request the server still holds: one released implicitly by
     * a later recv has nothing left to close. */
    certa_cp_server *s = rq->server_;
    if (s != NULL && s->body_held && zmq_msg_data(&s->body) == (void *)rq->body)
        release_body(s);
    rq->body = NULL;
    rq->server_ = NULL;
}
