/* transport: validator-to-validator links over ZeroMQ with CURVE, a ZAP
 * key check and a genesis handshake (see transport.h for the contract and
 * docs/PROTOCOL.md for the frames).
 *
 * Invariants:
 * - Data is delivered only from an inbound connection whose HELLO was
 *   accepted, and is attributed to the index the ZAP handler derived from
 *   the connection's CURVE key (the User-Id property), never to a claim.
 * - Data is sent only on a link in state UP (WELCOME received).
 * - Every socket has a high-water mark and every send is ZMQ_DONTWAIT: the
 *   I/O thread never blocks on a slow peer, and memory stays bounded.
 * - Events are reported on state transitions, so a peer that keeps failing
 *   the same way does not flood the log.
 */
#include "transport.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certa/genesis.h"
#include "frames.h"
#include "certa/wire.h"
#include "zap.h"

#define RID_BYTES_MAX 32
#define ROUTER_BURST 4096 /* inbound messages handled per process call */
#define POST_BURST 1024   /* posted messages sent per process call */

typedef enum link_state {
    LINK_IDLE = 0, /* not connected (self, or connect not called) */
    LINK_DOWN,     /* connecting / reconnecting */
    LINK_HELLO,    /* CURVE handshake done, HELLO sent, waiting WELCOME */
    LINK_UP,       /* WELCOME received: data flows */
    LINK_REFUSED,  /* peer refused us; retried on the next reconnection */
} link_state;

typedef struct post_item {
    uint32_t to;
    void *data;
    size_t len;
    certa_transport_free_fn free_fn;
    void *hint;
} post_item;

typedef struct peer_link {
    void *dealer;
    void *mon;
    link_state state;
    uint64_t hello_ms;
    char endpoint[256];
    /* inbound: the routing id of this peer's accepted connection */
    uint8_t in_rid[RID_BYTES_MAX];
    size_t in_rid_len;
} peer_link;

typedef enum item_kind { IT_ROUTER, IT_ROUTER_MON, IT_WAKE, IT_DEALER, IT_MON } item_kind;

struct certa_transport {
    certa_transport_config cfg;
    char (*pub)[41];
    uint8_t (*pub_raw)[32];
    char secret[41];
    void *ctx;
    certa_zap *zap;
    void *router;
    void *router_mon;
    char endpoint[256];
    peer_link peers[CERTA_TRANSPORT_PEERS_MAX];

    void *wake_rx;
    void *wake_tx; /* used only under mu */
    pthread_mutex_t mu;
    post_item *ring;
    uint32_t head, count;

    certa_transport_event_fn on_event;
    void *ev_ctx;
    certa_transport_stats st;

    item_kind item_kind[CERTA_TRANSPORT_POLLITEMS_MAX];
    uint32_t item_peer[CERTA_TRANSPORT_POLLITEMS_MAX];
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void emit(certa_transport *t, uint32_t peer, certa_transport_event ev,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void emit(certa_transport *t, uint32_t peer, certa_transport_event ev,
                 const char *fmt, ...)
{
    if (t->on_event == NULL)
        return;
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    t->on_event(t->ev_ctx, peer, ev, text);
}

static void hdr_encode(uint8_t out[CERTA_PEER_HEADER_BYTES], unsigned type,
                       uint32_t index)
{
    certa_put_le32(out, CERTA_PEER_MAGIC);
    out[4] = CERTA_PEER_VERSION;
    out[5] = (uint8_t)type;
    certa_put_le16(out + 6, (uint16_t)index);
}

/* Returns false when the frame is not a certa peer header of version 1. */
static bool hdr_decode(const zmq_msg_t *m, unsigned *type, uint32_t *index,
                       unsigned *version)
{
    if (zmq_msg_size((zmq_msg_t *)m) != CERTA_PEER_HEADER_BYTES)
        return false;
    const uint8_t *p = zmq_msg_data((zmq_msg_t *)m);
    if (certa_get_le32(p) != CERTA_PEER_MAGIC)
        return false;
    *version = p[4];
    *type = p[5];
    *index = certa_get_le16(p + 6);
    return true;
}

static void hex_short(const uint8_t *h, char out[17])
{
    certa_hex_encode(h, 8, out);
}

static int setopt_int(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v);
}

/* Without heartbeats a link that a network cut silently (no FIN, no RST)
 * stays "up" until TCP gives up retransmitting, whose back-off had grown to
 * tens of seconds after a one-minute cut: the healed validator then waited
 * for its next retransmission before hearing anyone (measured 53 s). ZMTP
 * PINGs declare such a link dead after heartbeat_timeout_ms; the DEALER
 * reconnects at once (reconnect_ivl), each attempt bounded by the same
 * timeout. The PINGs are answered by ZeroMQ's own I/O thread, so a busy
 * validator does not look dead; a full receive pipe (HWM) for the whole
 * timeout does, which is why the default is several times the interval. */
static int set_liveness(const certa_transport *t, void *s, bool dealer)
{
    int ttl = t->cfg.heartbeat_timeout_ms;
    if (setopt_int(s, ZMQ_HEARTBEAT_IVL, t->cfg.heartbeat_ivl_ms) != 0 ||
        setopt_int(s, ZMQ_HEARTBEAT_TIMEOUT, t->cfg.heartbeat_timeout_ms) != 0 ||
        setopt_int(s, ZMQ_HEARTBEAT_TTL, ttl) != 0)
        return -1;
    if (dealer && setopt_int(s, ZMQ_CONNECT_TIMEOUT, t->cfg.heartbeat_timeout_ms) != 0)
        return -1;
    return 0;
}

static void close_socket(void **s)
{
    if (*s != NULL) {
        setopt_int(*s, ZMQ_LINGER, 0);
        zmq_close(*s);
        *s = NULL;
    }
}

/* Opens a PAIR connected to a new monitor of sock. */
static void *monitor_open(certa_transport *t, void *sock, const char *name,
                          int events)
{
    char ep[96];
    snprintf(ep, sizeof ep, "inproc://certa-mon-%s", name);
    if (zmq_socket_monitor(sock, ep, events) != 0)
        return NULL;
    void *m = zmq_socket(t->ctx, ZMQ_PAIR);
    if (m == NULL)
        return NULL;
    if (zmq_connect(m, ep) != 0) {
        zmq_close(m);
        return NULL;
    }
    return m;
}

/* Sends header (+ optional body) on sock, after an optional routing id. */
static int send_frames(void *sock, const uint8_t *rid, size_t rid_len,
                       unsigned type, uint32_t index, const void *body,
                       size_t body_len)
{
    uint8_t hdr[CERTA_PEER_HEADER_BYTES];
    hdr_encode(hdr, type, index);
    if (rid != NULL && zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    if (zmq_send(sock, hdr, sizeof hdr, ZMQ_DONTWAIT | (body ? ZMQ_SNDMORE : 0)) < 0)
        return -1;
    /* Multipart messages are atomic with respect to the HWM: once the first
     * frame is accepted the rest are too. */
    if (body != NULL && zmq_send(sock, body, body_len, ZMQ_DONTWAIT) < 0)
        return -1;
    return 0;
}

static void send_hello(certa_transport *t, uint32_t j)
{
    peer_link *p = &t->peers[j];
    p->hello_ms = now_ms();
    (void)send_frames(p->dealer, NULL, 0, CERTA_PEER_HELLO, t->cfg.self,
                      t->cfg.genesis_hash, CERTA_HASH_BYTES);
}

static void send_reject(certa_transport *t, const uint8_t *rid, size_t rid_len,
                        unsigned reason, const char *text)
{
    uint8_t body[CERTA_HASH_BYTES + 2 + 200];
    size_t tl = strlen(text);
    if (tl > 200)
        tl = 200;
    memcpy(body, t->cfg.genesis_hash, CERTA_HASH_BYTES);
    certa_put_le16(body + 32, (uint16_t)reason);
    memcpy(body + 34, text, tl);
    (void)send_frames(t->router, rid, rid_len, CERTA_PEER_REJECT, t->cfg.self,
                      body, 34 + tl);
}

certa_err certa_transport_open(const certa_transport_config *cfg,
                               certa_transport_event_fn on_event, void *ev_ctx,
                               certa_transport **out, certa_errinfo *ei)
{
    CERTA_ASSERT(cfg != NULL && out != NULL);
    if (cfg->validator_count == 0 || cfg->validator_count > CERTA_TRANSPORT_PEERS_MAX ||
        cfg->self >= cfg->validator_count || cfg->curve_pub == NULL ||
        cfg->curve_secret == NULL || cfg->bind_endpoint == NULL)
        return certa_errorf(ei, CERTA_E_ARG, "transport: bad configuration "
                            "(self %u of %u validators)", cfg->self,
                            cfg->validator_count);
    if (strlen(cfg->curve_secret) != 40)
        return certa_errorf(ei, CERTA_E_BAD_KEY,
                            "transport: CURVE secret key must be 40 Z85 characters");
    certa_transport *t = calloc(1, sizeof *t);
    if (t == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "allocating the transport");
    t->cfg = *cfg;
    if (t->cfg.hwm_msgs <= 0)
        t->cfg.hwm_msgs = 1024;
    if (t->cfg.post_capacity == 0)
        t->cfg.post_capacity = 4096;
    if (t->cfg.msg_bytes_max == 0)
        t->cfg.msg_bytes_max = 64u * 1024u * 1024u;
    if (t->cfg.reconnect_ivl_ms <= 0)
        t->cfg.reconnect_ivl_ms = 100;
    if (t->cfg.reconnect_ivl_max_ms <= 0)
        t->cfg.reconnect_ivl_max_ms = 2000;
    if (t->cfg.hello_retry_ms <= 0)
        t->cfg.hello_retry_ms = 500;
    if (t->cfg.heartbeat_ivl_ms <= 0)
        t->cfg.heartbeat_ivl_ms = 1000;
    if (t->cfg.heartbeat_timeout_ms <= 0)
        t->cfg.heartbeat_timeout_ms = 5000;
    t->on_event = on_event;
    t->ev_ctx = ev_ctx;
    pthread_mutex_init(&t->mu, NULL);
    uint32_t n = cfg->validator_count;
    t->pub = calloc(n, sizeof *t->pub);
    t->pub_raw = calloc(n, sizeof *t->pub_raw);
    t->ring = calloc(t->cfg.post_capacity, sizeof *t->ring);
    certa_err e = CERTA_OK;
    if (t->pub == NULL || t->pub_raw == NULL || t->ring == NULL) {
        e = certa_errorf(ei, CERTA_E_NOMEM, "allocating the transport tables");
        goto err;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (strlen(cfg->curve_pub[i]) != 40 ||
            zmq_z85_decode(t->pub_raw[i], cfg->curve_pub[i]) == NULL) {
            e = certa_errorf(ei, CERTA_E_BAD_KEY,
                             "transport: CURVE public key of validator %u is "
                             "not 40 Z85 characters", i);
            goto err;
        }
        memcpy(t->pub[i], cfg->curve_pub[i], 41);
    }
    memcpy(t->secret, cfg->curve_secret, 41);
    t->cfg.curve_pub = (const char(*)[41])t->pub;
    t->cfg.curve_secret = t->secret;

    t->ctx = zmq_ctx_new();
    if (t->ctx == NULL) {
        e = certa_errorf(ei, CERTA_E_NET, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
        goto err;
    }
    e = certa_zap_start(t->ctx, (const uint8_t(*)[32])t->pub_raw, n, &t->zap, ei);
    if (e != CERTA_OK)
        goto err;

    t->router = zmq_socket(t->ctx, ZMQ_ROUTER);
    int64_t maxmsg = (int64_t)t->cfg.msg_bytes_max + 64;
    if (t->router == NULL ||
        setopt_int(t->router, ZMQ_CURVE_SERVER, 1) != 0 ||
        zmq_setsockopt(t->router, ZMQ_CURVE_SECRETKEY, t->secret, 40) != 0 ||
        zmq_setsockopt(t->router, ZMQ_ZAP_DOMAIN, CERTA_ZAP_DOMAIN_PEER,
                       strlen(CERTA_ZAP_DOMAIN_PEER)) != 0 ||
        setopt_int(t->router, ZMQ_RCVHWM, t->cfg.hwm_msgs) != 0 ||
        setopt_int(t->router, ZMQ_SNDHWM, t->cfg.hwm_msgs) != 0 ||
        setopt_int(t->router, ZMQ_ROUTER_MANDATORY, 1) != 0 ||
        zmq_setsockopt(t->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        set_liveness(t, t->router, false) != 0 ||
        setopt_int(t->router, ZMQ_LINGER, 0) != 0) {
        e = certa_errorf(ei, CERTA_E_NET, "transport: ROUTER socket: %s",
                         zmq_strerror(zmq_errno()));
        goto err;
    }
    t->router_mon = monitor_open(t, t->router, "router",
                                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL);
    if (t->router_mon == NULL) {
        e = certa_errorf(ei, CERTA_E_NET, "transport: ROUTER monitor: %s",
                         zmq_strerror(zmq_errno()));
        goto err;
    }
    if (zmq_bind(t->router, cfg->bind_endpoint) != 0) {
        e = certa_errorf(ei, CERTA_E_NET, "transport: bind %s: %s",
                         cfg->bind_endpoint, zmq_strerror(zmq_errno()));
        goto err;
    }
    size_t eplen = sizeof t->endpoint;
    if (zmq_getsockopt(t->router, ZMQ_LAST_ENDPOINT, t->endpoint, &eplen) != 0) {
        e = certa_errorf(ei, CERTA_E_NET, "transport: endpoint: %s",
                         zmq_strerror(zmq_errno()));
        goto err;
    }

    t->wake_rx = zmq_socket(t->ctx, ZMQ_PAIR);
    t->wake_tx = zmq_socket(t->ctx, ZMQ_PAIR);
    if (t->wake_rx == NULL || t->wake_tx == NULL ||
        zmq_bind(t->wake_rx, "inproc://certa-wake") != 0 ||
        zmq_connect(t->wake_tx, "inproc://certa-wake") != 0) {
        e = certa_errorf(ei, CERTA_E_NET, "transport: wake-up socket: %s",
                         zmq_strerror(zmq_errno()));
        goto err;
    }
    setopt_int(t->wake_tx, ZMQ_SNDHWM, 16);
    *out = t;
    return CERTA_OK;
err:
    certa_transport_close(t);
    return e;
}

const char *certa_transport_endpoint(const certa_transport *t)
{
    return t->endpoint;
}

certa_err certa_transport_connect(certa_transport *t, uint32_t peer,
                                  const char *endpoint, certa_errinfo *ei)
{
    CERTA_ASSERT(t != NULL && endpoint != NULL);
    if (peer >= t->cfg.validator_count || peer == t->cfg.self)
        return certa_errorf(ei, CERTA_E_ARG, "transport: cannot connect to "
                            "validator %u (self %u, n %u)", peer, t->cfg.self,
                            t->cfg.validator_count);
    peer_link *p = &t->peers[peer];
    if (p->dealer != NULL)
        return certa_errorf(ei, CERTA_E_STATE, "transport: validator %u "
                            "already connected", peer);
    snprintf(p->endpoint, sizeof p->endpoint, "%s", endpoint);
    char pub[41];
    zmq_z85_encode(pub, t->pub_raw[t->cfg.self], 32);
    p->dealer = zmq_socket(t->ctx, ZMQ_DEALER);
    if (p->dealer == NULL ||
        zmq_setsockopt(p->dealer, ZMQ_CURVE_SERVERKEY, t->pub[peer], 40) != 0 ||
        zmq_setsockopt(p->dealer, ZMQ_CURVE_PUBLICKEY, pub, 40) != 0 ||
        zmq_setsockopt(p->dealer, ZMQ_CURVE_SECRETKEY, t->secret, 40) != 0 ||
        setopt_int(p->dealer, ZMQ_SNDHWM, t->cfg.hwm_msgs) != 0 ||
        setopt_int(p->dealer, ZMQ_RCVHWM, t->cfg.hwm_msgs) != 0 ||
        setopt_int(p->dealer, ZMQ_IMMEDIATE, 1) != 0 ||
        setopt_int(p->dealer, ZMQ_RECONNECT_IVL, t->cfg.reconnect_ivl_ms) != 0 ||
        setopt_int(p->dealer, ZMQ_RECONNECT_IVL_MAX, t->cfg.reconnect_ivl_max_ms) != 0 ||
        set_liveness(t, p->dealer, true) != 0 ||
        setopt_int(p->dealer, ZMQ_LINGER, 0) != 0) {
        close_socket(&p->dealer);
        return certa_errorf(ei, CERTA_E_NET, "transport: DEALER to validator %u: %s",
                            peer, zmq_strerror(zmq_errno()));
    }
    char name[32];
    snprintf(name, sizeof name, "peer-%u", peer);
    p->mon = monitor_open(t, p->dealer, name,
                          ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                              ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                              ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                              ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
    if (p->mon == NULL || zmq_connect(p->dealer, endpoint) != 0) {
        certa_err e = certa_errorf(ei, CERTA_E_NET, "transport: connect to "
                                   "validator %u at %s: %s", peer, endpoint,
                                   zmq_strerror(zmq_errno()));
        close_socket(&p->mon);
        close_socket(&p->dealer);
        return e;
    }
    p->state = LINK_DOWN;
    return CERTA_OK;
}

bool certa_transport_peer_up(const certa_transport *t, uint32_t peer)
{
    return peer < t->cfg.validator_count && t->peers[peer].state == LINK_UP;
}

static certa_err send_msg_to(certa_transport *t, uint32_t peer, zmq_msg_t *body)
{
    peer_link *p = &t->peers[peer];
    if (p->state != LINK_UP)
        return CERTA_E_STATE;
    uint8_t hdr[CERTA_PEER_HEADER_BYTES];
    hdr_encode(hdr, CERTA_PEER_DATA, t->cfg.self);
    size_t len = zmq_msg_size(body);
    if (zmq_send(p->dealer, hdr, sizeof hdr, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (zmq_errno() == EAGAIN) {
            t->st.send_busy++;
            return CERTA_E_BUSY;
        }
        return CERTA_E_NET;
    }
    int rc = zmq_msg_send(body, p->dealer, ZMQ_DONTWAIT);
    CERTA_ASSERT(rc >= 0); /* second frame of an accepted multipart */
    t->st.msgs_out++;
    t->st.bytes_out += len;
    return CERTA_OK;
}

/* Sends body (consumed) to peer or to every up peer. */
static certa_err send_msg(certa_transport *t, uint32_t peer, zmq_msg_t *body)
{
    if (peer != CERTA_TRANSPORT_ALL) {
        if (peer >= t->cfg.validator_count || peer == t->cfg.self) {
            zmq_msg_close(body);
            return CERTA_E_ARG;
        }
        certa_err e = send_msg_to(t, peer, body);
        zmq_msg_close(body);
        return e;
    }
    certa_err first = CERTA_OK;
    for (uint32_t j = 0; j < t->cfg.validator_count; j++) {
        if (j == t->cfg.self || t->peers[j].dealer == NULL)
            continue;
        zmq_msg_t c;
        zmq_msg_init(&c);
        zmq_msg_copy(&c, body); /* shares the buffer, reference counted */
        certa_err e = send_msg_to(t, j, &c);
        zmq_msg_close(&c);
        if (e != CERTA_OK && first == CERTA_OK)
            first = e;
    }
    zmq_msg_close(body);
    return first;
}

certa_err certa_transport_send(certa_transport *t, uint32_t peer,
                               const void *bytes, size_t len)
{
    CERTA_ASSERT(t != NULL && (bytes != NULL || len == 0));
    zmq_msg_t m;
    if (zmq_msg_init_size(&m, len) != 0)
        return CERTA_E_NOMEM;
    if (len > 0)
        memcpy(zmq_msg_data(&m), bytes, len);
    return send_msg(t, peer, &m);
}

certa_err certa_transport_post(certa_transport *t, uint32_t peer, void *data,
                               size_t len, certa_transport_free_fn free_fn,
                               void *hint)
{
    CERTA_ASSERT(t != NULL && data != NULL);
    pthread_mutex_lock(&t->mu);
    if (t->count == t->cfg.post_capacity) {
        pthread_mutex_unlock(&t->mu);
        return CERTA_E_BUSY;
    }
    uint32_t slot = (t->head + t->count) % t->cfg.post_capacity;
    t->ring[slot] = (post_item){ peer, data, len, free_fn, hint };
    t->count++;
    if (t->count == 1) /* a wake-up already pending covers later posts */
        (void)zmq_send(t->wake_tx, "", 0, ZMQ_DONTWAIT);
    pthread_mutex_unlock(&t->mu);
    return CERTA_OK;
}

static void free_none(void *data, void *hint)
{
    (void)data;
    (void)hint;
}

static void drain_posts(certa_transport *t)
{
    char b;
    while (zmq_recv(t->wake_rx, &b, 1, ZMQ_DONTWAIT) >= 0) {
    }
    for (int k = 0; k < POST_BURST; k++) {
        pthread_mutex_lock(&t->mu);
        if (t->count == 0) {
            pthread_mutex_unlock(&t->mu);
            return;
        }
        post_item it = t->ring[t->head];
        t->head = (t->head + 1) % t->cfg.post_capacity;
        t->count--;
        pthread_mutex_unlock(&t->mu);
        zmq_msg_t m;
        if (zmq_msg_init_data(&m, it.data, it.len,
                              it.free_fn ? it.free_fn : free_none, it.hint) != 0) {
            if (it.free_fn)
                it.free_fn(it.data, it.hint);
            t->st.posted_dropped++;
            continue;
        }
        certa_err e = send_msg(t, it.to, &m);
        if (e != CERTA_OK && it.to != CERTA_TRANSPORT_ALL) {
            t->st.posted_dropped++;
            emit(t, it.to, CERTA_TEV_DROPPED, "message to validator %u dropped: %s",
                 it.to, e == CERTA_E_BUSY ? "link full (high-water mark)"
                                          : "link not up");
        }
    }
    /* More remain: make sure the next poll wakes up again. */
    pthread_mutex_lock(&t->mu);
    if (t->count > 0)
        (void)zmq_send(t->wake_tx, "", 0, ZMQ_DONTWAIT);
    pthread_mutex_unlock(&t->mu);
}

/* Reads one monitor event: returns false when none. */
static bool monitor_read(void *mon, uint16_t *event, uint32_t *value)
{
    zmq_msg_t a, b;
    zmq_msg_init(&a);
    if (zmq_msg_recv(&a, mon, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&a);
        return false;
    }
    bool ok = zmq_msg_size(&a) == 6;
    if (ok) {
        const uint8_t *p = zmq_msg_data(&a);
        memcpy(event, p, 2);
        memcpy(value, p + 2, 4);
    }
    bool more = zmq_msg_more(&a);
    zmq_msg_close(&a);
    while (more) {
        zmq_msg_init(&b);
        if (zmq_msg_recv(&b, mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&b);
            break;
        }
        more = zmq_msg_more(&b);
        zmq_msg_close(&b);
    }
    if (!ok)
        *event = 0;
    return true;
}

static void link_refused(certa_transport *t, uint32_t j, const char *why)
{
    peer_link *p = &t->peers[j];
    if (p->state == LINK_REFUSED)
        return;
    if (p->state == LINK_UP)
        t->st.peers_up--;
    p->state = LINK_REFUSED;
    emit(t, j, CERTA_TEV_REFUSED_BY_PEER, "validator %u at %s refused us: %s", j,
         p->endpoint, why);
}

static void dealer_monitor(certa_transport *t, uint32_t j)
{
    peer_link *p = &t->peers[j];
    uint16_t ev;
    uint32_t val;
    while (monitor_read(p->mon, &ev, &val)) {
        char why[200];
        switch (ev) {
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
            if (p->state == LINK_UP)
                t->st.peers_up--;
            p->state = LINK_HELLO;
            send_hello(t, j);
            break;
        case ZMQ_EVENT_DISCONNECTED:
            if (p->state == LINK_UP) {
                t->st.peers_up--;
                emit(t, j, CERTA_TEV_PEER_DOWN,
                     "link to validator %u at %s lost; reconnecting", j, p->endpoint);
            }
            if (p->state != LINK_REFUSED)
                p->state = LINK_DOWN;
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
            snprintf(why, sizeof why, "CURVE authentication failed (ZAP status "
                     "%u): our key is not in its validator set", val);
            link_refused(t, j, why);
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            snprintf(why, sizeof why, "CURVE handshake failed (code 0x%x): is "
                     "its public key in our genesis the one it uses?", val);
            link_refused(t, j, why);
            break;
        default:
            break;
        }
    }
}

static void router_monitor(certa_transport *t)
{
    uint16_t ev;
    uint32_t val;
    while (monitor_read(t->router_mon, &ev, &val)) {
        if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            char key[41] = "";
            uint64_t n = certa_zap_refused(t->zap, key);
            t->st.refused_keys = n;
            emit(t, CERTA_TRANSPORT_UNKNOWN, CERTA_TEV_REFUSED_PEER,
                 "refused a connection with CURVE key %s: not in the validator "
                 "set (%" PRIu64 " refused so far)", key[0] ? key : "?", n);
        } else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
            emit(t, CERTA_TRANSPORT_UNKNOWN, CERTA_TEV_REFUSED_PEER,
                 "inbound CURVE handshake failed (code 0x%x)", val);
        }
    }
}

static void router_hello(certa_transport *t, uint32_t u, uint32_t claimed,
                         const uint8_t *rid, size_t rid_len, zmq_msg_t *body)
{
    char ours[17], theirs[17] = "(none)";
    hex_short(t->cfg.genesis_hash, ours);
    if (claimed != u) {
        t->st.refused_handshakes++;
        emit(t, u, CERTA_TEV_REFUSED_PEER, "validator %u (by its key) claimed "
             "index %u in HELLO: refused", u, claimed);
        send_reject(t, rid, rid_len, CERTA_PEER_REJECT_INDEX,
                    "claimed index differs from the CURVE key's index");
        return;
    }
    bool match = body != NULL && zmq_msg_size(body) == CERTA_HASH_BYTES &&
                 memcmp(zmq_msg_data(body), t->cfg.genesis_hash, CERTA_HASH_BYTES) == 0;
    if (!match) {
        if (body != NULL && zmq_msg_size(body) == CERTA_HASH_BYTES)
            hex_short(zmq_msg_data(body), theirs);
        t->st.refused_handshakes++;
        emit(t, u, CERTA_TEV_REFUSED_PEER, "validator %u presents genesis %s..., "
             "ours is %s...: refused (different chain)", u, theirs, ours);
        send_reject(t, rid, rid_len, CERTA_PEER_REJECT_GENESIS, "genesis hash differs");
        return;
    }
    peer_link *p = &t->peers[u];
    memcpy(p->in_rid, rid, rid_len);
    p->in_rid_len = rid_len;
    (void)send_frames(t->router, rid, rid_len, CERTA_PEER_WELCOME, t->cfg.self,
                      t->cfg.genesis_hash, CERTA_HASH_BYTES);
}

static int router_read(certa_transport *t, certa_transport_deliver_fn deliver,
                       void *ctx)
{
    int delivered = 0;
    for (int k = 0; k < ROUTER_BURST; k++) {
        zmq_msg_t f[3];
        int frames = certa_frames_recv(t->router, f, 3);
        if (frames == 0)
            break;
        unsigned type, version;
        uint32_t claimed;
        const char *uid = frames >= 2 ? zmq_msg_gets(&f[1], "User-Id") : NULL;
        char *end = NULL;
        unsigned long u = uid ? strtoul(uid, &end, 10) : ULONG_MAX;
        size_t rid_len = zmq_msg_size(&f[0]);
        if (frames < 2 || frames > 3 || uid == NULL || end == uid || *end != '\0' ||
            u >= t->cfg.validator_count || rid_len > RID_BYTES_MAX ||
            !hdr_decode(&f[1], &type, &claimed, &version)) {
            certa_frames_close(f, frames, 3); /* not our protocol: ignore */
            continue;
        }
        const uint8_t *rid = zmq_msg_data(&f[0]);
        zmq_msg_t *body = frames == 3 ? &f[2] : NULL;
        peer_link *p = &t->peers[u];
        if (version != CERTA_PEER_VERSION) {
            send_reject(t, rid, rid_len, CERTA_PEER_REJECT_VERSION,
                        "unsupported peer protocol version");
        } else if (type == CERTA_PEER_HELLO) {
            router_hello(t, (uint32_t)u, claimed, rid, rid_len, body);
        } else if (type == CERTA_PEER_DATA) {
            if (p->in_rid_len != rid_len || memcmp(p->in_rid, rid, rid_len) != 0) {
                send_reject(t, rid, rid_len, CERTA_PEER_REJECT_HANDSHAKE,
                            "HELLO required before data");
            } else {
                size_t len = body ? zmq_msg_size(body) : 0;
                t->st.msgs_in++;
                t->st.bytes_in += len;
                deliver(ctx, (uint32_t)u, body ? zmq_msg_data(body) : NULL, len);
                delivered++;
            }
        }
        certa_frames_close(f, frames, 3);
    }
    return delivered;
}

static void dealer_read(certa_transport *t, uint32_t j)
{
    peer_link *p = &t->peers[j];
    for (;;) {
        zmq_msg_t f[2];
        int frames = certa_frames_recv(p->dealer, f, 2);
        if (frames == 0)
            return;
        unsigned type, version;
        uint32_t index;
        if (frames < 1 || frames > 2 || !hdr_decode(&f[0], &type, &index, &version) ||
            index != j) {
            certa_frames_close(f, frames, 2);
            continue;
        }
        const uint8_t *b = frames == 2 ? zmq_msg_data(&f[1]) : NULL;
        size_t blen = frames == 2 ? zmq_msg_size(&f[1]) : 0;
        char ours[17], theirs[17] = "(none)";
        hex_short(t->cfg.genesis_hash, ours);
        if (b != NULL && blen >= CERTA_HASH_BYTES)
            hex_short(b, theirs);
        if (type == CERTA_PEER_WELCOME) {
            if (blen == CERTA_HASH_BYTES &&
                memcmp(b, t->cfg.genesis_hash, CERTA_HASH_BYTES) == 0) {
                if (p->state != LINK_UP) {
                    p->state = LINK_UP;
                    t->st.peers_up++;
                    emit(t, j, CERTA_TEV_PEER_UP, "link to validator %u at %s is up",
                         j, p->endpoint);
                }
            } else {
                char why[160];
                snprintf(why, sizeof why, "its genesis is %s..., ours is %s... "
                         "(different chain)", theirs, ours);
                link_refused(t, j, why);
            }
        } else if (type == CERTA_PEER_REJECT && blen >= CERTA_HASH_BYTES + 2) {
            unsigned reason = certa_get_le16(b + 32);
            if (reason == CERTA_PEER_REJECT_HANDSHAKE) {
                if (p->state == LINK_UP)
                    t->st.peers_up--;
                p->state = LINK_HELLO; /* it restarted: introduce ourselves again */
                send_hello(t, j);
            } else {
                char why[240];
                char text[201];
                size_t tl = blen - 34 < 200 ? blen - 34 : 200;
                memcpy(text, b + 34, tl);
                text[tl] = '\0';
                if (reason == CERTA_PEER_REJECT_GENESIS)
                    snprintf(why, sizeof why, "genesis mismatch: its genesis is "
                             "%s..., ours is %s...", theirs, ours);
                else
                    snprintf(why, sizeof why, "reason %u: %s", reason, text);
                link_refused(t, j, why);
            }
        }
        certa_frames_close(f, frames, 2);
    }
}

int certa_transport_pollitems(certa_transport *t, zmq_pollitem_t *items, int cap)
{
    CERTA_ASSERT(cap >= (int)CERTA_TRANSPORT_POLLITEMS_MAX);
    int k = 0;
    items[k] = (zmq_pollitem_t){ t->router, 0, ZMQ_POLLIN, 0 };
    t->item_kind[k++] = IT_ROUTER;
    items[k] = (zmq_pollitem_t){ t->router_mon, 0, ZMQ_POLLIN, 0 };
    t->item_kind[k++] = IT_ROUTER_MON;
    items[k] = (zmq_pollitem_t){ t->wake_rx, 0, ZMQ_POLLIN, 0 };
    t->item_kind[k++] = IT_WAKE;
    for (uint32_t j = 0; j < t->cfg.validator_count; j++) {
        if (t->peers[j].dealer == NULL)
            continue;
        items[k] = (zmq_pollitem_t){ t->peers[j].dealer, 0, ZMQ_POLLIN, 0 };
        t->item_peer[k] = j;
        t->item_kind[k++] = IT_DEALER;
        items[k] = (zmq_pollitem_t){ t->peers[j].mon, 0, ZMQ_POLLIN, 0 };
        t->item_peer[k] = j;
        t->item_kind[k++] = IT_MON;
    }
    return k;
}

int certa_transport_process(certa_transport *t, const zmq_pollitem_t *items,
                            int count, certa_transport_deliver_fn deliver,
                            void *ctx)
{
    int delivered = 0;
    /* Monitors first, so a reconnection's HELLO precedes any data we send. */
    for (int k = 0; k < count; k++) {
        if (!(items[k].revents & ZMQ_POLLIN))
            continue;
        if (t->item_kind[k] == IT_MON)
            dealer_monitor(t, t->item_peer[k]);
        else if (t->item_kind[k] == IT_ROUTER_MON)
            router_monitor(t);
    }
    for (int k = 0; k < count; k++) {
        if (!(items[k].revents & ZMQ_POLLIN))
            continue;
        if (t->item_kind[k] == IT_DEALER)
            dealer_read(t, t->item_peer[k]);
        else if (t->item_kind[k] == IT_ROUTER)
            delivered += router_read(t, deliver, ctx);
        else if (t->item_kind[k] == IT_WAKE)
            drain_posts(t);
    }
    uint64_t now = now_ms();
    for (uint32_t j = 0; j < t->cfg.validator_count; j++) {
        peer_link *p = &t->peers[j];
        if (p->state == LINK_HELLO &&
            now - p->hello_ms >= (uint64_t)t->cfg.hello_retry_ms)
            send_hello(t, j);
    }
    return delivered;
}

int certa_transport_poll(certa_transport *t, int timeout_ms,
                         certa_transport_deliver_fn deliver, void *ctx)
{
    zmq_pollitem_t items[CERTA_TRANSPORT_POLLITEMS_MAX];
    int n = certa_transport_pollitems(t, items, (int)CERTA_TRANSPORT_POLLITEMS_MAX);
    /* Wake for HELLO retries even when nothing arrives. */
    for (uint32_t j = 0; j < t->cfg.validator_count; j++)
        if (t->peers[j].state == LINK_HELLO && timeout_ms > t->cfg.hello_retry_ms)
            timeout_ms = t->cfg.hello_retry_ms;
    if (zmq_poll(items, n, timeout_ms) < 0)
        return -1;
    return certa_transport_process(t, items, n, deliver, ctx);
}

void certa_transport_stats_get(const certa_transport *t, certa_transport_stats *s)
{
    *s = t->st;
    s->refused_keys = t->zap ? certa_zap_refused(t->zap, NULL) : 0;
}

void certa_transport_close(certa_transport *t)
{
    if (t == NULL)
        return;
    for (uint32_t j = 0; j < CERTA_TRANSPORT_PEERS_MAX; j++) {
        if (t->peers[j].dealer != NULL)
            zmq_socket_monitor(t->peers[j].dealer, NULL, 0);
        close_socket(&t->peers[j].mon);
        close_socket(&t->peers[j].dealer);
    }
    if (t->router != NULL)
        zmq_socket_monitor(t->router, NULL, 0);
    close_socket(&t->router_mon);
    close_socket(&t->router);
    close_socket(&t->wake_rx);
    close_socket(&t->wake_tx);
    if (t->ring != NULL) {
        for (uint32_t k = 0; k < t->count; k++) {
            post_item *it = &t->ring[(t->head + k) % t->cfg.post_capacity];
            if (it->free_fn)
                it->free_fn(it->data, it->hint);
        }
    }
    if (t->ctx != NULL) {
        zmq_ctx_shutdown(t->ctx);
        certa_zap_stop(t->zap);
        zmq_ctx_term(t->ctx);
    }
    pthread_mutex_destroy(&t->mu);
    free(t->ring);
    free(t->pub);
    free(t->pub_raw);
    free(t);
}

certa_err certa_transport_open_genesis(const certa_genesis *g, uint32_t self,
                                       const char *bind_endpoint,
                                       const char *curve_secret,
                                       const certa_transport_config *cfg_extra,
                                       certa_transport_event_fn on_event,
                                       void *ev_ctx, certa_transport **out,
                                       certa_errinfo *ei)
{
    CERTA_ASSERT(g != NULL && out != NULL);
    if (self >= g->validator_count || g->validator_count > CERTA_TRANSPORT_PEERS_MAX)
        return certa_errorf(ei, CERTA_E_CONFIG, "transport: validator %u of %u", self,
                            g->validator_count);
    char(*pub)[41] = calloc(g->validator_count, sizeof *pub);
    if (pub == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "allocating the CURVE key table");
    for (uint32_t i = 0; i < g->validator_count; i++)
        memcpy(pub[i], g->validators[i].curve_pub, 41);
    certa_transport_config c = { 0 };
    if (cfg_extra != NULL)
        c = *cfg_extra;
    c.self = self;
    c.validator_count = g->validator_count;
    c.curve_pub = (const char(*)[41])pub;
    c.curve_secret = curve_secret;
    c.bind_endpoint = bind_endpoint;
    memcpy(c.genesis_hash, g->hash, CERTA_HASH_BYTES);
    certa_transport *t = NULL;
    certa_err e = certa_transport_open(&c, on_event, ev_ctx, &t, ei); /* copies keys */
    free(pub);
    if (e != CERTA_OK)
        return e;
    for (uint32_t i = 0; i < g->validator_count; i++) {
        if (i == self)
            continue;
        e = certa_transport_connect(t, i, g->validators[i].peer_endpoint, ei);
        if (e != CERTA_OK) {
            certa_transport_close(t);
            return e;
        }
    }
    *out = t;
    return CERTA_OK;
}
