/* certa gateway: the validators' public read API over HTTP/JSON.
 *
 * A separate process in front of the validators: it asks them over the
 * client protocol (CURVE, with failover between them, exactly as `certa
 * query --to` does) and serves the same JSON documents over HTTP
 * (libmicrohttpd; HTTPS through its GnuTLS support when given a certificate
 * and a key; plain HTTP on 127.0.0.1 by default). The documents are passed
 * through byte for byte: PROTOCOL.md ("Query results") defines them, and
 * docs/OPERATIONS.md ("Gateway") the paths and status codes.
 *
 * Invariants: memory is bounded whatever clients do: a fixed pool of
 * upstream connections, a fixed table of per-address token buckets (a new
 * address evicts the stalest of its probe run), libmicrohttpd's connection,
 * per-address and per-connection memory limits, a connection timeout
 * against slow senders, a direct-mapped cache of block pages (a committed
 * block never changes) and of holders' record pages (kept 1 s: a page
 * may lag the chain by that much, and says at which height it was read),
 * 256 pages of at most 256 KiB, and POST bodies
 * bounded at 1 MiB (gateway_post.c), whose batches all go through one
 * shared submit session with a fixed window (gateway_pipe.c). A handler holds at most one upstream connection, and each upstream
 * query ends (answer, validator error or the client library's deadline)
 * before the connection is handed on, so a late reply can never be taken
 * for the next query's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "certa/certa.h"
#include "certa/client.h"
#include "certa/crypto.h"
#include "certa/genesis.h"
#include "cli.h"
#include "checkpoint_fetch.h"
#include "endpoints.h"
#include "gateway_metrics.h"
#include "gateway_post.h"
#include "gateway_route.h"
#include "gateway_verify.h"
#include "gateway_web.h"

#define CMD "gateway"
#define GW_UPSTREAMS 4u          /* validator connections, one query each at a time */
#define GW_RATE_SLOTS 4096u      /* client addresses remembered for rate limits */
#define GW_RATE_PROBE 8u         /* slots looked at per address */
/* HTTP threads, each polling its share of the connections. More threads
 * let more requests wait on a validator at once, but every request then
 * costs context switches: on 2 cores (bench/gateway.sh, reads) 4 threads
 * served cached blocks and holders 1.4 times faster than 16 (14,375 and
 * 16,537 against 10,282 and 11,909 reads/s), status asked of a validator
 * at 0.91 of the rate with half the p99. POSTs wait on their own workers. */
#define GW_THREADS 4u
#define GW_STOP_SEND_S 5        /* at a stop, how long answers to POSTs may take to send */
#define GW_POST_WORKERS 16u      /* POST /v1/batches handled at once, each on a worker of its
                                  * own while its connection is suspended: a POST holds no
                                  * HTTP thread, so the other connections of that thread go
                                  * on, and POSTs overlap to keep the shared submit window
                                  * (gateway_pipe.c) full */
#define GW_POST_WORKERS_AGGREGATING 64u /* with --aggregate-ms: a POST waits for its
                                  * group on its worker, so the workers bound how many
                                  * POSTs one group can take */
#define GW_CONNECTIONS_MAX 512u  /* open HTTP connections, all clients */
#define GW_PER_ADDR_MAX 64u      /* open HTTP connections per client address */
#define GW_CONN_MEMORY_BYTES (32u * 1024u) /* request line and headers, per connection */
#define GW_CONN_TIMEOUT_S 10u    /* idle or slow connections are closed */
#define GW_BLOCK_CACHE_SLOTS 256u             /* block and holder pages kept, direct-mapped */
#define GW_BLOCK_CACHE_DOC_MAX (256u * 1024u) /* larger pages are not kept */
#define GW_HOLDER_CACHE_MS 1000u              /* how long a holder's page is served again */
#define GW_CHECKPOINT_MS 1000u /* how long a merged checkpoint is served before asking again */
#define GW_VERIFY_BODY_BYTES_MAX (64u * 1024u) /* a receipt is a few KiB */
#define GW_GENESIS_BYTES_MAX (16u << 20)       /* as certa_genesis_load allows */

static const char usage[] =
    "usage: certa gateway [--listen HOST:PORT] [--to ENDPOINT[,...]] [--genesis FILE]\n"
    "                     [--rate-per-s R] [--burst B] [--timeout-ms MS]\n"
    "                     [--tls-cert FILE --tls-key FILE]\n"
    "                     [--integrator NAME --key FILE --tokens FILE --state DIR\n"
    "                      [--aggregate-ms MS]]\n"
    "                     [--tiles DIR]\n"
    "       certa gateway --hash-token < TOKEN\n\n"
    "Serves the validators' public read API over HTTP/JSON (docs/OPERATIONS.md,\n"
    "\"Gateway\"); the documents are those of `certa query`:\n"
    "  GET /v1/status                      chain status of the validator that answers\n"
    "  GET /v1/blocks/HEIGHT               a block: header, certificate, events\n"
    "  GET /v1/grants/GRANT_HEX            a grant's scope, status and history\n"
    "  GET /v1/holders/HOLDER_HEX          a holder's records, oldest first\n"
    "  GET /v1/integrators/NAME            an integrator's highest executed sequence\n"
    "  GET /healthz                        the gateway itself is up\n"
    "  GET /v1/genesis                     the genesis file's bytes (its SHA-256: chain id)\n"
    "  POST /v1/receipts/verify            a receipt (JSON) checked against the genesis:\n"
    "                                      the verdict and the part that failed\n"
    "  GET /  (/app.js, /app.css)          the web page: explorer, holder records, an\n"
    "                                      in-browser receipt verifier (compiled in)\n"
    "  GET /metrics                        the gateway's metrics (Prometheus text)\n"
    "  POST /v1/batches                    events (JSON Lines or a JSON array), signed\n"
    "                                      and submitted as --integrator; answers with\n"
    "                                      the receipts (Authorization: Bearer TOKEN;\n"
    "                                      Idempotency-Key: a retry never submits twice;\n"
    "                                      Prefer: respond-async: 202 at once)\n"
    "  GET /v1/batches/ID                  a posted batch: pending, committed (receipts)\n"
    "                                      or failed (why); the poster's token only\n"
    "  GET /checkpoint                     the event log's newest checkpoint that 2f+1\n"
    "                                      validators signed by themselves, one signed\n"
    "                                      note (C2SP; asked again at most once a second)\n"
    "  GET /checkpoint, /tile/...          with --tiles: DIR's checkpoint instead, and its\n"
    "                                      C2SP tlog-tiles (certa merkle tiles)\n"
    "  ?cursor=C&limit=N                   paging, as certa query --cursor/--limit\n"
    "Status codes: 200; 202 accepted (async); 400 a bad path argument, event or\n"
    "JSON (named); 401 no valid token; 404 no such item or path; 405 other\n"
    "methods; 413 a body over 1 MiB (a receipt: 64 KiB); 422 an Idempotency-Key\n"
    "reused with another body; 429 over this address's rate (Retry-After); 503 no\n"
    "validator answered or events not committed (Retry-After; post again with the\n"
    "same Idempotency-Key); 502 a validator's error. Blocks are immutable and served\n"
    "with a long Cache-Control; everything else with no-cache.\n\n"
    "Options:\n"
    "  --listen HOST:PORT  address to serve on (default 127.0.0.1:8080; port 0:\n"
    "                      any free port, printed at start)\n"
    "  --to LIST           validators to ask, tried in turn: client endpoints or\n"
    "                      names from genesis, comma-separated (default all)\n"
    "  --genesis FILE      genesis ($CERTA_GENESIS, else ./genesis.json)\n"
    "  --rate-per-s R      requests per second per client address (default 200)\n"
    "  --burst B           requests a client address may make at once (default 400)\n"
    "  --timeout-ms MS     give up on the validators after MS (default 5000)\n"
    "  --tls-cert FILE     serve HTTPS with this PEM certificate (and --tls-key)\n"
    "  --tls-key FILE      its PEM private key\n"
    "  --tiles DIR         serve DIR/checkpoint and DIR/tile/... as written by\n"
    "                      `certa merkle tiles --out DIR` (tiles immutable, the\n"
    "                      checkpoint no-cache)\n"
    "  --integrator NAME   serve POST /v1/batches, signing as this genesis integrator\n"
    "  --key FILE          its Ed25519 key (PEM, mode 0600)\n"
    "  --tokens FILE       callers: lines \"CALLER SHA256_HEX\" (--hash-token)\n"
    "  --state DIR         the journal of sequence numbers reserved per POST\n"
    "  --aggregate-ms MS   POSTs of at most 256 events arriving within MS of one\n"
    "                      another share one signed batch (each keeps its own\n"
    "                      answer, receipts and Idempotency-Key); default: each\n"
    "                      POST its own batches\n"
    "  --hash-token        print the SHA-256 of the token read from standard input\n\n"
    "Runs until SIGINT or SIGTERM. exit: 0 stopped, 2 usage, 3 error.\n";

typedef struct upstream {
    pthread_mutex_t mu;
    certa_client *c; /* NULL: opened on first use, and again after a failure */
} upstream;

typedef struct rate_slot {
    uint8_t addr[16];
    bool used;
    double tokens;
    uint64_t last_ms;
} rate_slot;

typedef struct gateway {
    certa_tool_endpoints eps;
    certa_client_opts copts;
    upstream up[GW_UPSTREAMS];
    atomic_uint next_up;
    pthread_mutex_t rate_mu;
    rate_slot *rates; /* [GW_RATE_SLOTS] */
    double rate_per_s, burst;
    certa_gw_post *post; /* the integrator API; NULL: not served */
    /* POST /v1/batches waiting for or running on a POST worker; the
     * connection of each is suspended until its answer is ready */
    pthread_mutex_t jobs_mu;
    pthread_cond_t jobs_ready, jobs_idle;
    struct req *jobs_head, *jobs_tail;
    unsigned jobs_busy; /* queued and running */
    unsigned posts_open; /* queued, running, or answered but not yet sent */
    bool jobs_stop;     /* stopping: no more are queued */
    pthread_t workers[GW_POST_WORKERS_AGGREGATING];
    uint32_t workers_max; /* GW_POST_WORKERS, or _AGGREGATING */
    unsigned nworkers;
    const certa_genesis *genesis;
    const char *tiles_dir; /* --tiles; NULL: not served */
    char *genesis_doc; /* the genesis file's exact bytes, for GET /v1/genesis */
    size_t genesis_len;
    atomic_uint_fast64_t auth_refused;
    atomic_uint_fast64_t auth_log_s; /* second of the last refusal logged */
    /* Block pages, immutable once committed, and holders' pages for
     * GW_HOLDER_CACHE_MS, answered without asking a validator: at most
     * SLOTS x DOC_MAX bytes (64 MiB). */
    pthread_mutex_t cache_mu;
    struct cached_block {
        uint8_t kind; /* CERTA_QUERY_BLOCK or CERTA_QUERY_HOLDER */
        uint8_t holder_id[32];
        uint64_t height, cursor;
        uint32_t limit;
        uint64_t until_ms; /* holder pages: served until (monotonic ms) */
        char *doc;         /* NULL: empty slot */
        size_t len;
    } *cache; /* [GW_BLOCK_CACHE_SLOTS] */
    /* Without --tiles, /checkpoint is the validators' own checkpoints
     * merged (tools/checkpoint_fetch.h), fetched again at most once per
     * GW_CHECKPOINT_MS: a burst of readers costs the validators one query
     * each. cp_mu is held across a fetch, so concurrent readers wait for
     * it rather than each asking. */
    pthread_mutex_t cp_mu;
    certa_checkpoint_fetched *cp; /* the last merged note (len 0: none yet) */
    uint64_t cp_at_ms;
} gateway;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- per-address rate limit ---- */

/* A token bucket per client address. Returns 0 when the request may go on,
 * else the seconds to wait for a token. */
static unsigned rate_take(gateway *gw, const struct sockaddr *sa, double cost)
{
    uint8_t key[16] = {0};
    if (sa != NULL && sa->sa_family == AF_INET) {
        memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    uint64_t now = mono_ms();
    unsigned wait_s = 0;
    pthread_mutex_lock(&gw->rate_mu);
    rate_slot *hit = NULL, *victim = NULL;
    for (uint32_t k = 0; k < GW_RATE_PROBE && hit == NULL; k++) {
        rate_slot *s = &gw->rates[(h + k) % GW_RATE_SLOTS];
        if (s->used && memcmp(s->addr, key, 16) == 0)
            hit = s;
        else if (victim == NULL || !s->used || (victim->used && s->last_ms < victim->last_ms))
            victim = s;
    }
    if (hit == NULL) {
        /* an address not seen lately starts with a full bucket; the slot it
         * takes was the stalest of its run, so the table never grows */
        hit = victim;
        memcpy(hit->addr, key, 16);
        hit->used = true;
        hit->tokens = gw->burst;
        hit->last_ms = now;
    }
    double t = hit->tokens + (double)(now - hit->last_ms) * gw->rate_per_s / 1000.0;
    hit->tokens = t > gw->burst ? gw->burst : t;
    hit->last_ms = now;
    if (hit->tokens >= 1.0)
        hit->tokens -= cost; /* may go below 0: a costly miss waits longer */
    else
        wait_s = (unsigned)ceil((1.0 - hit->tokens) / gw->rate_per_s);
    pthread_mutex_unlock(&gw->rate_mu);
    return wait_s;
}

/* ---- the validators ---- */

typedef struct answer {
    unsigned status;     /* HTTP status */
    char *doc;           /* malloc'ed JSON document (status 200) */
    size_t len;
    unsigned code;       /* validator or local error code (status != 200) */
    char msg[CERTA_CP_ERROR_MSG_MAX + 64];
    unsigned retry_after_s;
} answer;

static upstream *up_take(gateway *gw)
{
    unsigned start = atomic_fetch_add(&gw->next_up, 1u);
    for (unsigned k = 0; k < GW_UPSTREAMS; k++) {
        upstream *u = &gw->up[(start + k) % GW_UPSTREAMS];
        if (pthread_mutex_trylock(&u->mu) == 0)
            return u;
    }
    upstream *u = &gw->up[start % GW_UPSTREAMS];
    pthread_mutex_lock(&u->mu);
    return u;
}

static void set_error(answer *a, unsigned status, unsigned code, const char *msg)
{
    a->status = status;
    a->code = code;
    snprintf(a->msg, sizeof a->msg, "%s", msg);
}

/* Asks the validators one query; the library fails over between them and
 * bounds the whole by the deadline. */
static void ask(gateway *gw, const certa_cp_query *q, answer *a)
{
    upstream *u = up_take(gw);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (u->c == NULL && certa_client_open(&gw->copts, &u->c, &ei) != CERTA_OK) {
        u->c = NULL;
        set_error(a, 503, CERTA_E_NET, certa_errmsg(&ei));
        a->retry_after_s = 1;
        certa_gw_metrics_upstream_error();
        pthread_mutex_unlock(&u->mu);
        return;
    }
    uint64_t rid = 0;
    certa_err e = certa_client_query(u->c, q, 0, &rid);
    if (e != CERTA_OK) {
        set_error(a, 400, e, certa_strerror(e));
        pthread_mutex_unlock(&u->mu);
        return;
    }
    certa_client_reply r;
    for (;;) {
        e = certa_client_poll(u->c, (int)gw->copts.deadline_ms, &r);
        if (e != CERTA_OK || (r.final && r.request_id == rid))
            break;
    }
    if (e != CERTA_OK) {
        /* the library always ends a request with a final reply before its
         * deadline; anything else leaves the connection in doubt: renew it */
        certa_client_close(u->c);
        u->c = NULL;
        set_error(a, 503, e, "no validator answered");
        a->retry_after_s = 1;
        certa_gw_metrics_upstream_error();
    } else if (r.type == CERTA_CP_ERROR) {
        unsigned c = r.error.code;
        unsigned st = c == CERTA_E_NOTFOUND ? 404
                      : c == CERTA_E_ARG ? 400
                      : c == CERTA_E_BUSY ? 429
                      : c == CERTA_E_TIMEOUT ? 503
                                             : 502;
        set_error(a, st, c, r.error.message);
        if (st >= 429)
            certa_gw_metrics_upstream_error();
        if (st == 429 || st == 503)
            a->retry_after_s = r.error.retry_after_ms > 1000 ? r.error.retry_after_ms / 1000 : 1;
    } else {
        uint8_t kind;
        const char *doc;
        size_t dl;
        if (r.type != CERTA_CP_QUERY_RESULT ||
            certa_cp_query_result_decode(r.body, r.body_len, &kind, &doc, &dl, &ei) != CERTA_OK ||
            kind != q->kind) {
            set_error(a, 502, CERTA_E_PROTOCOL, "a validator answered with an unreadable result");
        } else if ((a->doc = malloc(dl)) == NULL) {
            set_error(a, 503, CERTA_E_NOMEM, "out of memory");
        } else {
            memcpy(a->doc, doc, dl);
            a->len = dl;
            a->status = 200;
        }
    }
    pthread_mutex_unlock(&u->mu);
}

/* ---- the block cache ---- */

static bool cacheable(const certa_cp_query *q)
{
    return q->kind == CERTA_QUERY_BLOCK || q->kind == CERTA_QUERY_HOLDER;
}

static struct cached_block *cache_slot(gateway *gw, const certa_cp_query *q)
{
    uint64_t h = q->height * 0x9e3779b97f4a7c15ull ^ q->cursor * 0xc2b2ae3d27d4eb4full ^ q->limit;
    if (q->kind == CERTA_QUERY_HOLDER) {
        uint64_t x;
        memcpy(&x, q->holder_id, sizeof x); /* a pseudonym: already uniform */
        h ^= x * 0x165667b19e3779f9ull;
    }
    return &gw->cache[(h >> 32) % GW_BLOCK_CACHE_SLOTS];
}

/* A copy of the cached page (with room for a newline), or NULL. */
static char *cache_get(gateway *gw, const certa_cp_query *q, size_t *len)
{
    char *out = NULL;
    uint64_t now = mono_ms();
    pthread_mutex_lock(&gw->cache_mu);
    struct cached_block *c = cache_slot(gw, q);
    bool same = c->doc != NULL && c->kind == q->kind && c->cursor == q->cursor &&
                c->limit == q->limit &&
                (q->kind == CERTA_QUERY_BLOCK
                     ? c->height == q->height
                     : memcmp(c->holder_id, q->holder_id, sizeof c->holder_id) == 0 &&
                           now < c->until_ms);
    if (same && (out = malloc(c->len + 1)) != NULL) {
        memcpy(out, c->doc, c->len);
        *len = c->len;
    }
    pthread_mutex_unlock(&gw->cache_mu);
    return out;
}

static void cache_put(gateway *gw, const certa_cp_query *q, const char *doc, size_t len)
{
    if (len > GW_BLOCK_CACHE_DOC_MAX)
        return;
    char *copy = malloc(len);
    if (copy == NULL)
        return;
    memcpy(copy, doc, len);
    struct cached_block n = {.kind = q->kind, .height = q->height, .cursor = q->cursor,
                             .limit = q->limit, .doc = copy, .len = len};
    if (q->kind == CERTA_QUERY_HOLDER) {
        memcpy(n.holder_id, q->holder_id, sizeof n.holder_id);
        n.until_ms = mono_ms() + GW_HOLDER_CACHE_MS;
    }
    pthread_mutex_lock(&gw->cache_mu);
    struct cached_block *c = cache_slot(gw, q);
    free(c->doc);
    *c = n;
    pthread_mutex_unlock(&gw->cache_mu);
}

/* ---- HTTP ---- */

/* One request, from its first line (on_uri) to its end (on_completed):
 * when it came, its class and status for the metrics, and a POST's body. */
typedef struct req {
    uint64_t t0_us;
    certa_gw_class cls;
    unsigned status;
    bool body_started; /* a POST's headers were checked */
    char *buf;
    size_t len, cap, max;
    bool too_big;
    /* POST /v1/batches handed to a POST worker (its connection suspended) */
    struct MHD_Connection *conn;
    const char *caller; /* the token's caller (owned by the gateway's token table) */
    char *idem_key;     /* a copy of the Idempotency-Key header, or NULL */
    bool async;
    bool answered;      /* reply is ready: the connection was resumed for it */
    certa_gw_reply reply;
    struct req *next;   /* in the queue of POSTs */
} req;

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static const char page_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/* Queues body as the answer; body_alloc (freed with the response), when
 * not NULL, is the buffer body lies in. */
static enum MHD_Result send_raw_in(struct MHD_Connection *conn, req *rq, unsigned status,
                                   void *body, size_t len, void *body_alloc,
                                   const char *type, const char *cache,
                                   unsigned retry_after_s, const char *location)
{
    struct MHD_Response *resp =
        body_alloc != NULL
            ? MHD_create_response_from_buffer_with_free_callback_cls(len, body, free, body_alloc)
            : MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        free(body_alloc);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", cache);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (strncmp(type, "text/html", 9) == 0)
        MHD_add_response_header(resp, "Content-Security-Policy", page_csp);
    if (status == 405)
        MHD_add_response_header(resp, "Allow", "GET, HEAD, POST");
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    if (location != NULL && location[0] != '\0')
        MHD_add_response_header(resp, "Location", location);
    if (retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", retry_after_s);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    if (rq != NULL)
        rq->status = status;
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Queues body (freed with the response when must_free) as the answer. */
static enum MHD_Result send_raw(struct MHD_Connection *conn, req *rq, unsigned status,
                                void *body, size_t len, bool must_free, const char *type,
                                const char *cache, unsigned retry_after_s,
                                const char *location)
{
    return send_raw_in(conn, rq, status, body, len, must_free ? body : NULL, type, cache,
                       retry_after_s, location);
}

static enum MHD_Result send_buf(struct MHD_Connection *conn, req *rq, unsigned status,
                                char *body, size_t len, const char *cache,
                                unsigned retry_after_s)
{
    return send_raw(conn, rq, status, body, len, true, "application/json; charset=utf-8",
                    cache, retry_after_s, NULL);
}

static enum MHD_Result send_error(struct MHD_Connection *conn, req *rq, unsigned status,
                                  unsigned code, const char *msg, unsigned retry_after_s)
{
    json_t *o = json_pack("{s:{s:I, s:I, s:s}}", "error", "status", (json_int_t)status,
                          "code", (json_int_t)code, "message", msg);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text == NULL)
        return MHD_NO;
    size_t n = strlen(text);
    char *body = realloc(text, n + 2);
    if (body == NULL) {
        free(text);
        return MHD_NO;
    }
    body[n] = '\n';
    return send_buf(conn, rq, status, body, n + 1, "no-store", retry_after_s);
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, req *rq, certa_gw_reply *r)
{
    if (r->body == NULL)
        return send_error(conn, rq, 500, CERTA_E_NOMEM, "out of memory", 1);
    return send_raw_in(conn, rq, r->status, r->body, r->len,
                       r->body_alloc != NULL ? r->body_alloc : r->body,
                       "application/json; charset=utf-8", "no-store", r->retry_after_s,
                       r->location);
}

static const struct sockaddr *client_addr(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci != NULL ? ci->client_addr : NULL;
}

/* The caller of a valid bearer token, or NULL: then the refusal is counted,
 * costs the address 20 requests of its rate (guessing tokens is as slow as
 * the rate makes it) and is logged, at most one line a second. */
static const char *authenticate(gateway *gw, struct MHD_Connection *conn)
{
    const char *caller = certa_gw_post_auth(
        gw->post, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"));
    if (caller != NULL)
        return caller;
    const struct sockaddr *sa = client_addr(conn);
    rate_take(gw, sa, 20.0);
    certa_gw_metrics_auth_failure();
    uint64_t refused = atomic_fetch_add(&gw->auth_refused, 1u) + 1;
    uint64_t now_s = mono_ms() / 1000u, last = atomic_load(&gw->auth_log_s);
    if (now_s != last && atomic_compare_exchange_strong(&gw->auth_log_s, &last, now_s)) {
        char host[INET6_ADDRSTRLEN] = "?";
        if (sa != NULL && sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof host);
        else if (sa != NULL && sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host,
                      sizeof host);
        fprintf(stderr, "certa gateway: refused a missing or wrong bearer token from %s "
                        "(%" PRIu64 " refused since start)\n", host, refused);
    }
    return NULL;
}

/* ---- POST workers ----
 *
 * A POST /v1/batches waits for its batches' outcomes (a few hundred ms);
 * run in the HTTP thread that read it, it would stop every other
 * connection of that thread meanwhile (libmicrohttpd gives each connection
 * to one thread for its life), so POSTs from separate connections that
 * landed on one thread ran one after another. Instead its connection is
 * suspended and the POST queued for GW_POST_WORKERS workers; the worker
 * resumes the connection with the answer ready. Invariant: a queued or
 * running POST keeps its connection suspended, and the daemon is stopped
 * only once none is (gateway_stop_posts), so a worker never resumes a
 * connection that is gone. */

/* Suspends rq's connection and queues it; false (nothing done) when the
 * gateway is stopping. The connection is suspended before a worker can
 * see the POST: a worker may resume it at once. */
static bool post_queue(gateway *gw, struct MHD_Connection *conn, req *rq)
{
    pthread_mutex_lock(&gw->jobs_mu);
    bool ok = !gw->jobs_stop && gw->nworkers > 0;
    if (ok) {
        rq->conn = conn;
        MHD_suspend_connection(conn);
        rq->next = NULL;
        if (gw->jobs_tail != NULL)
            gw->jobs_tail->next = rq;
        else
            gw->jobs_head = rq;
        gw->jobs_tail = rq;
        gw->jobs_busy++;
        gw->posts_open++;
        pthread_cond_signal(&gw->jobs_ready);
    }
    pthread_mutex_unlock(&gw->jobs_mu);
    return ok;
}

static void *post_worker(void *arg)
{
    gateway *gw = arg;
    for (;;) {
        pthread_mutex_lock(&gw->jobs_mu);
        while (gw->jobs_head == NULL && !gw->jobs_stop)
            pthread_cond_wait(&gw->jobs_ready, &gw->jobs_mu);
        req *rq = gw->jobs_head;
        if (rq == NULL) { /* stopping, and nothing is left */
            pthread_mutex_unlock(&gw->jobs_mu);
            return NULL;
        }
        gw->jobs_head = rq->next;
        if (gw->jobs_head == NULL)
            gw->jobs_tail = NULL;
        pthread_mutex_unlock(&gw->jobs_mu);
        struct MHD_Connection *conn = rq->conn;
        certa_gw_post_batches(gw->post, rq->caller, rq->idem_key, rq->async,
                              rq->buf != NULL ? rq->buf : "", rq->len, &rq->reply);
        rq->answered = true;
        /* rq may be freed from here on: its thread answers and completes it
         * (the resume's lock orders the writes above before that thread's
         * reads) */
        MHD_resume_connection(conn);
        pthread_mutex_lock(&gw->jobs_mu);
        if (--gw->jobs_busy == 0)
            pthread_cond_broadcast(&gw->jobs_idle);
        pthread_mutex_unlock(&gw->jobs_mu);
    }
}

static void post_workers_start(gateway *gw)
{
    pthread_mutex_init(&gw->jobs_mu, NULL);
    pthread_cond_init(&gw->jobs_ready, NULL);
    pthread_cond_init(&gw->jobs_idle, NULL);
    if (gw->post == NULL)
        return;
    while (gw->nworkers < gw->workers_max &&
           pthread_create(&gw->workers[gw->nworkers], NULL, post_worker, gw) == 0)
        gw->nworkers++;
}

/* A POST's request ended (its answer sent, or its connection closed). */
static void post_closed(gateway *gw)
{
    pthread_mutex_lock(&gw->jobs_mu);
    if (--gw->posts_open == 0)
        pthread_cond_broadcast(&gw->jobs_idle);
    pthread_mutex_unlock(&gw->jobs_mu);
}

/* No more POSTs are queued (they are answered 503); those queued or
 * running end first, each by its batches' deadline, and their answers are
 * sent (for at most GW_STOP_SEND_S more: a client that does not read does
 * not hold the stop; its batch's outcome is on its status URL anyway). */
static void post_workers_stop(gateway *gw)
{
    pthread_mutex_lock(&gw->jobs_mu);
    gw->jobs_stop = true;
    pthread_cond_broadcast(&gw->jobs_ready);
    while (gw->jobs_busy > 0)
        pthread_cond_wait(&gw->jobs_idle, &gw->jobs_mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += GW_STOP_SEND_S;
    while (gw->posts_open > 0 &&
           pthread_cond_timedwait(&gw->jobs_idle, &gw->jobs_mu, &until) == 0) {
    }
    pthread_mutex_unlock(&gw->jobs_mu);
    for (unsigned i = 0; i < gw->nworkers; i++)
        pthread_join(gw->workers[i], NULL);
    gw->nworkers = 0;
}

/* A POST's body is gathered (at most rq->max bytes, the rest read and
 * dropped for a 413), then handled: POST /v1/batches needs a token, checked
 * with the headers (before the body is read); POST /v1/receipts/verify is
 * public. */
static enum MHD_Result on_post(gateway *gw, struct MHD_Connection *conn, req *rq,
                               bool batches, const char *data, size_t *data_size)
{
    if (rq->answered) /* back from its POST worker */
        return send_reply(conn, rq, &rq->reply);
    if (!rq->body_started) {
        unsigned wait_s = rate_take(gw, client_addr(conn), batches ? 1.0 : 5.0);
        if (wait_s > 0)
            return send_error(conn, rq, 429, CERTA_E_BUSY, "too many requests from this "
                              "address: retry after Retry-After seconds", wait_s);
        rq->max = batches ? CERTA_GW_BODY_BYTES_MAX : GW_VERIFY_BODY_BYTES_MAX;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        unsigned long long n;
        if (cl != NULL && (certa_parse_u64(cl, 0, rq->max, &n) != 0))
            return send_error(conn, rq, 413, CERTA_E_LIMIT, batches ? "body larger than 1 MiB"
                              : "body larger than 64 KiB", 0);
        if (batches && authenticate(gw, conn) == NULL)
            return send_error(conn, rq, 401, CERTA_E_ARG, "a valid bearer token is required",
                              0);
        rq->body_started = true;
        return MHD_YES;
    }
    if (*data_size > 0) {
        if (!rq->too_big && rq->len + *data_size <= rq->max) {
            if (rq->len + *data_size + 1 > rq->cap) {
                /* the body comes in pieces of a few KiB: the buffer grows
                 * by doubling (at most to max + 1), not by each piece,
                 * which copied a megabyte body some hundred times */
                size_t nc = rq->cap ? 2 * rq->cap : 64u * 1024u;
                while (nc < rq->len + *data_size + 1)
                    nc *= 2;
                if (nc > rq->max + 1)
                    nc = rq->max + 1;
                char *nb = realloc(rq->buf, nc);
                if (nb == NULL)
                    return MHD_NO;
                rq->buf = nb;
                rq->cap = nc;
            }
            memcpy(rq->buf + rq->len, data, *data_size);
            rq->len += *data_size;
        } else {
            rq->too_big = true; /* the rest is read and dropped */
        }
        *data_size = 0;
        return MHD_YES;
    }
    if (rq->too_big)
        return send_error(conn, rq, 413, CERTA_E_LIMIT, batches ? "body larger than 1 MiB"
                          : "body larger than 64 KiB", 0);
    certa_gw_reply r;
    if (!batches) {
        certa_gw_verify(gw->genesis, rq->buf != NULL ? rq->buf : "", rq->len, &r);
        return send_reply(conn, rq, &r);
    }
    rq->caller = certa_gw_post_auth(
        gw->post, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"));
    const char *prefer = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Prefer");
    rq->async = prefer != NULL && strstr(prefer, "respond-async") != NULL;
    const char *idem = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");
    if (idem != NULL && (rq->idem_key = strdup(idem)) == NULL)
        return send_error(conn, rq, 503, CERTA_E_NOMEM, "out of memory", 1);
    if (post_queue(gw, conn, rq))
        return MHD_YES; /* answered when a worker resumes the connection */
    return send_error(conn, rq, 503, CERTA_E_STATE, "the gateway is stopping", 1);
}

/* Percent-decoding of the path and query arguments: certa_gw_unescape. */
static size_t on_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return certa_gw_unescape(s);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)uri;
    (void)conn;
    req *rq = calloc(1, sizeof *rq);
    if (rq != NULL)
        rq->t0_us = mono_us();
    return rq; /* NULL: the request is refused in on_request */
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    gateway *gw = cls;
    (void)conn;
    (void)toe;
    req *rq = *con_cls;
    if (rq != NULL) {
        if (rq->conn != NULL) /* a POST handed to a worker, now answered */
            post_closed(gw);
        if (rq->status != 0)
            certa_gw_metrics_request(rq->cls, rq->status, mono_us() - rq->t0_us);
        free(rq->buf);
        free(rq->idem_key);
        free(rq);
        *con_cls = NULL;
    }
}

/* A file of the tiles directory, sent from its descriptor (no copy). Every
 * path but the checkpoint names one content forever (cmd_merkle_tiles.c),
 * so caches may keep it; a path that is not there (yet) is a 404. */
static enum MHD_Result send_tile(gateway *gw, struct MHD_Connection *conn, req *rq,
                                 const char *url)
{
    char path[1024];
    int n = snprintf(path, sizeof path, "%s%s", gw->tiles_dir, url);
    int fd = n > 0 && (size_t)n < sizeof path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
                                              : -1;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return send_error(conn, rq, 404, CERTA_E_NOTFOUND, "no such tile or checkpoint", 0);
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (resp == NULL) {
        close(fd);
        return MHD_NO;
    }
    bool cp = strcmp(url, "/checkpoint") == 0;
    MHD_add_response_header(resp, "Content-Type",
                            cp ? "text/plain; charset=utf-8" : "application/octet-stream");
    MHD_add_response_header(resp, "Cache-Control",
                            cp ? "no-cache" : "public, max-age=31536000, immutable");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    rq->status = 200;
    enum MHD_Result rc = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* GET /checkpoint without --tiles: the newest checkpoint 2f+1 validators
 * signed alike, as one signed note (the C2SP formats, text/plain), or 503
 * naming what was missing. */
static enum MHD_Result send_checkpoint(gateway *gw, struct MHD_Connection *conn, req *rq)
{
    pthread_mutex_lock(&gw->cp_mu);
    uint64_t now = mono_ms();
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e = CERTA_OK;
    if (gw->cp_at_ms == 0 || now >= gw->cp_at_ms + GW_CHECKPOINT_MS) {
        static certa_checkpoint_fetched f;
        uint32_t t = gw->copts.deadline_ms < 2000 ? gw->copts.deadline_ms : 2000;
        e = certa_checkpoint_fetch(gw->genesis, &gw->eps, t, &f, &ei);
        /* asked at most once a second, answered or not: readers queue on
         * cp_mu behind one fetch, not behind one each */
        gw->cp_at_ms = mono_ms();
        if (e == CERTA_OK && f.size >= gw->cp->size)
            *gw->cp = f; /* never a smaller log than one already served */
        if (f.conflicts > 0)
            fprintf(stderr, "gateway: checkpoint: %u conflicting signature(s): %s\n",
                    f.conflicts, f.conflict);
    }
    char *body = NULL;
    size_t len = gw->cp->len;
    if (len > 0 && (body = malloc(len)) != NULL)
        memcpy(body, gw->cp->note, len);
    pthread_mutex_unlock(&gw->cp_mu);
    if (len == 0)
        return send_error(conn, rq, 503, e != CERTA_OK ? (unsigned)e : CERTA_E_NOTFOUND,
                          e != CERTA_OK ? certa_errmsg(&ei) : "no checkpoint yet", 1);
    if (body == NULL)
        return MHD_NO;
    return send_raw(conn, rq, 200, body, len, true, "text/plain; charset=utf-8", "no-cache", 0,
                    NULL);
}

/* The web page's assets, /v1/genesis, /healthz, /metrics and the tiles:
 * answered by the gateway itself. Returns MHD_NO with *handled false for
 * other paths. */
static enum MHD_Result local_get(gateway *gw, struct MHD_Connection *conn, req *rq,
                                 const char *url, bool *handled)
{
    *handled = true;
    if (strcmp(url, "/healthz") == 0) {
        char *b = strdup("{\"ok\":true}\n");
        return b != NULL ? send_buf(conn, rq, 200, b, strlen(b), "no-store", 0) : MHD_NO;
    }
    if (strcmp(url, "/metrics") == 0) {
        size_t n = 0;
        char *b = certa_gw_metrics_render(&n);
        return b != NULL ? send_raw(conn, rq, 200, b, n, true,
                                    "text/plain; version=0.0.4; charset=utf-8", "no-store", 0,
                                    NULL)
                         : MHD_NO;
    }
    if (gw->tiles_dir != NULL && certa_gw_tile_path(url))
        return send_tile(gw, conn, rq, url);
    if (gw->tiles_dir == NULL && strcmp(url, "/checkpoint") == 0)
        return send_checkpoint(gw, conn, rq);
    if (strcmp(url, "/v1/genesis") == 0)
        return send_raw(conn, rq, 200, gw->genesis_doc, gw->genesis_len, false,
                        "application/json; charset=utf-8", "no-cache", 0, NULL);
    const certa_gw_asset *a = strncmp(url, "/v1/", 4) != 0 ? certa_gw_asset_find(url) : NULL;
    if (a != NULL)
        return send_raw(conn, rq, 200, (void *)a->data, a->len, false, a->type, "no-cache", 0,
                        NULL);
    *handled = false;
    return MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    gateway *gw = cls;
    req *rq = *con_cls;
    if (rq == NULL)
        return MHD_NO; /* out of memory at its first line: the connection is closed */
    rq->cls = certa_gw_classify(method, url);
    bool post = strcmp(method, "POST") == 0;
    if (post && strcmp(url, "/v1/batches") == 0 && gw->post != NULL)
        return on_post(gw, conn, rq, true, upload_data, upload_data_size);
    if (post && strcmp(url, "/v1/receipts/verify") == 0)
        return on_post(gw, conn, rq, false, upload_data, upload_data_size);
    /* every other path is a GET: a request with another method is answered
     * at once, and its body, if any, is never read */
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_error(conn, rq, 405, CERTA_E_ARG,
                          gw->post != NULL ? "only GET and HEAD are served here (POST: "
                                             "/v1/batches, /v1/receipts/verify)"
                                           : "only GET and HEAD are served here (POST: "
                                             "/v1/receipts/verify)", 0);
    unsigned wait_s = rate_take(gw, client_addr(conn), 1.0);
    if (wait_s > 0)
        return send_error(conn, rq, 429, CERTA_E_BUSY,
                          "too many requests from this address: retry after Retry-After seconds",
                          wait_s);
    bool handled;
    enum MHD_Result lr = local_get(gw, conn, rq, url, &handled);
    if (handled)
        return lr;
    if (strncmp(url, "/v1/batches/", 12) == 0 && gw->post != NULL) {
        const char *caller = authenticate(gw, conn);
        if (caller == NULL)
            return send_error(conn, rq, 401, CERTA_E_ARG, "a valid bearer token is required",
                              0);
        certa_gw_reply r;
        certa_gw_post_status(gw->post, caller, url + 12, &r);
        return send_reply(conn, rq, &r);
    }
    certa_cp_query q;
    char why[128] = "";
    unsigned st = certa_gw_route(
        url, MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "cursor"),
        MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit"), &q, why, sizeof why);
    if (st == 404)
        return send_error(conn, rq, 404, CERTA_E_NOTFOUND, "no such path", 0);
    if (st != 0)
        return send_error(conn, rq, st, CERTA_E_ARG, why, 0);
    answer a;
    memset(&a, 0, sizeof a);
    if (cacheable(&q) && (a.doc = cache_get(gw, &q, &a.len)) != NULL) {
        a.status = 200;
    } else {
        ask(gw, &q, &a);
        if (a.status != 200)
            return send_error(conn, rq, a.status, a.code, a.msg, a.retry_after_s);
        if (cacheable(&q))
            cache_put(gw, &q, a.doc, a.len);
    }
    char *body = realloc(a.doc, a.len + 1);
    if (body == NULL) {
        free(a.doc);
        return send_error(conn, rq, 503, CERTA_E_NOMEM, "out of memory", 1);
    }
    body[a.len] = '\n';
    /* a committed block never changes; a holder's page is served again for
     * a second (so may any HTTP cache); a grant's records and the status
     * move with every block */
    const char *cache = q.kind == CERTA_QUERY_BLOCK    ? "public, max-age=31536000, immutable"
                        : q.kind == CERTA_QUERY_HOLDER ? "public, max-age=1"
                                                       : "no-cache";
    return send_buf(conn, rq, 200, body, a.len + 1, cache, 0);
}

/* ---- command line ---- */

static char *read_file(const char *path, size_t max, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > max + 4096 + 1) {
                free(buf);
                fclose(f);
                errno = EFBIG;
                return NULL;
            }
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    if (len_out != NULL)
        *len_out = len;
    return buf;
}

static int parse_listen(const char *s, struct sockaddr_in *sa)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s || (size_t)(colon - s) >= 64)
        return -1;
    char host[64];
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    unsigned long long port;
    if (certa_parse_u64(colon + 1, 0, 65535, &port) != 0)
        return -1;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return -1;
    return 0;
}

typedef struct gw_args {
    const char *listen, *to, *genesis, *cert_path, *key_path;
    const char *integrator, *ikey, *tokens, *state, *tiles;
    unsigned long long rate, burst, timeout_ms, aggregate_ms;
    struct sockaddr_in sa;
} gw_args;

/* --hash-token: the token from standard input, one line; prints what the
 * tokens file holds for it */
static int hash_token(void)
{
    char tok[512];
    if (fgets(tok, sizeof tok, stdin) == NULL)
        return certa_usage_error(CMD, "--hash-token: no token on standard input");
    tok[strcspn(tok, "\r\n")] = '\0';
    if (strlen(tok) < 16)
        return certa_usage_error(CMD, "--hash-token: a token of 16 characters or more");
    char hex[65];
    certa_gw_token_hash(tok, hex);
    printf("%s\n", hex);
    return CERTA_EXIT_OK;
}

/* Returns CERTA_EXIT_OK with *a filled, a usage error, or -1 when
 * --hash-token ran (its exit code in *done). */
static int parse_args(int argc, char **argv, gw_args *a, int *done)
{
    *a = (gw_args){.listen = "127.0.0.1:8080", .to = "all", .rate = 200, .burst = 400,
                   .timeout_ms = 5000};
    struct { const char *name; const char **dst; } str[] = {
        {"--listen", &a->listen},         {"--to", &a->to},
        {"--genesis", &a->genesis},       {"--tls-cert", &a->cert_path},
        {"--tls-key", &a->key_path},      {"--integrator", &a->integrator},
        {"--key", &a->ikey},              {"--tokens", &a->tokens},
        {"--state", &a->state},           {"--tiles", &a->tiles},
    };
    struct { const char *name; unsigned long long *dst, min, max; } num[] = {
        {"--rate-per-s", &a->rate, 1, 1000000},
        {"--burst", &a->burst, 1, 1000000},
        {"--timeout-ms", &a->timeout_ms, 100, 600000},
        {"--aggregate-ms", &a->aggregate_ms, 1, 10000},
    };
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        bool has = i + 1 < argc, known = false;
        if (strcmp(o, "--hash-token") == 0) {
            *done = hash_token();
            return -1;
        }
        for (size_t k = 0; k < sizeof str / sizeof str[0] && !known; k++)
            if (strcmp(o, str[k].name) == 0 && has) {
                *str[k].dst = argv[++i];
                known = true;
            }
        for (size_t k = 0; k < sizeof num / sizeof num[0] && !known; k++)
            if (strcmp(o, num[k].name) == 0 && has) {
                if (certa_parse_u64(argv[++i], num[k].min, num[k].max, num[k].dst) != 0)
                    return certa_usage_error(CMD, "%s: %llu to %llu", o, num[k].min,
                                             num[k].max);
                known = true;
            }
        if (!known)
            return certa_usage_error(CMD, "unexpected argument '%s' (see --help)", o);
    }
    if (parse_listen(a->listen, &a->sa) != 0)
        return certa_usage_error(CMD, "--listen: expected IPV4:PORT, got '%s'", a->listen);
    if ((a->cert_path == NULL) != (a->key_path == NULL))
        return certa_usage_error(CMD, "--tls-cert and --tls-key go together");
    int nint = (a->integrator != NULL) + (a->ikey != NULL) + (a->tokens != NULL) +
               (a->state != NULL);
    if (nint != 0 && nint != 4)
        return certa_usage_error(CMD, "the integrator API needs --integrator, --key, --tokens "
                                      "and --state together");
    if (a->aggregate_ms > 0 && nint == 0)
        return certa_usage_error(CMD, "--aggregate-ms is for the integrator API (--integrator ...)");
    return CERTA_EXIT_OK;
}

int certa_cmd_gateway(int argc, char **argv)
{
    if (certa_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CERTA_EXIT_OK;
    }
    gw_args args;
    int done = 0, rc = parse_args(argc, argv, &args, &done);
    if (rc < 0)
        return done;
    if (rc != CERTA_EXIT_OK)
        return rc;
    static gateway gw; /* large (the endpoint table) and lives as long as the process */
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_genesis *g = NULL;
    const char *gp = certa_tool_genesis_path(args.genesis);
    if (certa_genesis_load(gp, &g, &ei) != CERTA_OK ||
        certa_tool_endpoints_resolve(g, args.to, &gw.eps, &ei) != CERTA_OK) {
        certa_genesis_free(g);
        return certa_fail(CMD, "%s", certa_errmsg(&ei));
    }
    gw.copts = certa_tool_query_opts(&gw.eps, (uint32_t)args.timeout_ms);
    /* a read holds an HTTP thread until answered: with a validator down,
     * spreading reads would make one in n wait out its silence */
    gw.copts.sticky = true;
    /* GET /v1/genesis serves the very bytes whose hash is the chain id, so
     * that a browser verifies receipts against them */
    gw.genesis = g;
    gw.tiles_dir = args.tiles;
    gw.genesis_doc = read_file(gp, GW_GENESIS_BYTES_MAX, &gw.genesis_len);
    uint8_t gh[CERTA_HASH_BYTES];
    if (gw.genesis_doc != NULL)
        certa_sha256(gw.genesis_doc, gw.genesis_len, gh);
    if (gw.genesis_doc == NULL || memcmp(gh, g->hash, CERTA_HASH_BYTES) != 0) {
        certa_genesis_free(g);
        return certa_fail(CMD, "%s: changed while read, or unreadable", gp);
    }
    if (args.integrator != NULL) {
        certa_gw_post_opts po = {.genesis = g, .integrator = args.integrator,
                                 .key_path = args.ikey, .tokens_path = args.tokens,
                                 .state_dir = args.state,
                                 .endpoint_count = gw.eps.count, .endpoints = gw.eps.endpoints,
                                 .server_keys = gw.eps.server_keys,
                                 .deadline_ms = (uint32_t)args.timeout_ms * 6,
                                 .aggregate_us = args.aggregate_ms * 1000u};
        if (certa_gw_post_open(&po, &gw.post, &ei) != CERTA_OK) {
            certa_genesis_free(g);
            return certa_fail(CMD, "%s", certa_errmsg(&ei));
        }
    }
    gw.workers_max = args.aggregate_ms > 0 ? GW_POST_WORKERS_AGGREGATING : GW_POST_WORKERS;
    gw.rate_per_s = (double)args.rate;
    gw.burst = (double)args.burst;
    gw.rates = calloc(GW_RATE_SLOTS, sizeof *gw.rates);
    gw.cache = calloc(GW_BLOCK_CACHE_SLOTS, sizeof *gw.cache);
    gw.cp = calloc(1, sizeof *gw.cp);
    if (gw.rates == NULL || gw.cache == NULL || gw.cp == NULL)
        return certa_fail(CMD, "out of memory");
    pthread_mutex_init(&gw.rate_mu, NULL);
    pthread_mutex_init(&gw.cache_mu, NULL);
    pthread_mutex_init(&gw.cp_mu, NULL);
    for (unsigned i = 0; i < GW_UPSTREAMS; i++)
        pthread_mutex_init(&gw.up[i].mu, NULL);

    char *cert = NULL, *key = NULL;
    if (args.cert_path != NULL) {
        if ((cert = read_file(args.cert_path, 1u << 20, NULL)) == NULL)
            return certa_fail(CMD, "--tls-cert %s: %s", args.cert_path, strerror(errno));
        if ((key = read_file(args.key_path, 1u << 20, NULL)) == NULL) {
            free(cert);
            return certa_fail(CMD, "--tls-key %s: %s", args.key_path, strerror(errno));
        }
    }
    /* the signals that stop us are taken by sigwait below, in this thread
     * only: block them before the server's threads inherit the mask */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    /* Each of the GW_THREADS threads gets its share of GW_CONNECTIONS_MAX.
     * Without the inter-thread channel a thread whose share is full still
     * accepts and at once closes, so one address holding its 64 slow
     * connections made other clients fail at random; with it, a full
     * thread stops listening and the others take the connection. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (cert != NULL)
        flags |= MHD_USE_TLS;
    /* HTTPS adds its two options to the same list: a MHD_OPTION_END there
     * ends the list early for plain HTTP */
    struct MHD_OptionItem tls[] = {
        {cert != NULL ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
        {MHD_OPTION_END, 0, NULL},
    };
    post_workers_start(&gw);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, ntohs(args.sa.sin_port), NULL, NULL, on_request, &gw, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&args.sa, MHD_OPTION_THREAD_POOL_SIZE, GW_THREADS,
        MHD_OPTION_CONNECTION_LIMIT, GW_CONNECTIONS_MAX, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        GW_PER_ADDR_MAX, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)GW_CONN_MEMORY_BYTES,
        MHD_OPTION_CONNECTION_TIMEOUT, GW_CONN_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, &gw, MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
        MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, NULL, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    if (d == NULL) {
        post_workers_stop(&gw);
        certa_gw_post_close(gw.post);
        certa_genesis_free(g);
        free(cert);
        free(key);
        return certa_fail(CMD, "cannot serve on %s (address in use, or %s)", args.listen,
                          cert != NULL ? "a certificate or key GnuTLS cannot read"
                                       : "not an address of this machine");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &args.sa.sin_addr, host, sizeof host);
    printf("certa gateway: serving %s://%s:%u/ for %u validator(s)\n",
           cert != NULL ? "https" : "http", host,
           info != NULL ? info->port : ntohs(args.sa.sin_port), gw.eps.count);
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    /* the POSTs being handled end and are answered before the daemon
     * stops (their connections are suspended until then) */
    post_workers_stop(&gw);
    MHD_stop_daemon(d);
    for (unsigned i = 0; i < GW_UPSTREAMS; i++)
        certa_client_close(gw.up[i].c);
    certa_gw_post_close(gw.post);
    certa_genesis_free(g);
    free(gw.genesis_doc);
    for (unsigned i = 0; i < GW_BLOCK_CACHE_SLOTS; i++)
        free(gw.cache[i].doc);
    free(gw.cache);
    free(gw.cp);
    free(gw.rates);
    free(cert);
    free(key);
    fprintf(stderr, "certa gateway: stopped (%s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    return CERTA_EXIT_OK;
}
