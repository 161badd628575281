/* transport: authenticated, encrypted messages between validators over
 * ZeroMQ (libzmq, CURVE).
 *
 * Each validator binds one ROUTER socket (a CURVE server) and keeps one
 * DEALER (a CURVE client) connected to every peer's ROUTER; libzmq
 * reconnects by itself. A ZAP handler admits only the CURVE keys of the
 * validator set, and tags each inbound connection with the key's index: the
 * sender index delivered with a message is the authenticated one, never a
 * claim from the bytes. On every (re)connection the DEALER sends HELLO with
 * the genesis hash; the peer answers WELCOME or REJECT(reason), and only
 * after WELCOME does the link carry data. A genesis mismatch is reported
 * through the event callback on both sides. Wire format: docs/PROTOCOL.md
 * "Consensus messages (validator to validator)".
 *
 * Memory is bounded everywhere: high-water marks on every socket (a send
 * that would block returns CERTA_E_BUSY), a fixed-capacity queue for
 * messages posted by other threads, a maximum message size. Delivery is at
 * most once and in order per link; the consensus protocol retransmits.
 *
 * Threading: all functions except certa_transport_post must be called from
 * one thread (the I/O thread). certa_transport_post is thread-safe and wakes
 * the I/O thread through an inproc socket.
 */
#ifndef CERTA_NET_TRANSPORT_H
#define CERTA_NET_TRANSPORT_H

#include <zmq.h>

#include "certa/certa.h"

#define CERTA_TRANSPORT_ALL UINT32_MAX /* post/send to every connected peer */
#define CERTA_TRANSPORT_UNKNOWN UINT32_MAX /* event about a key not in the set */
#define CERTA_TRANSPORT_PEERS_MAX 64u
#define CERTA_TRANSPORT_POLLITEMS_MAX (2u + 2u * CERTA_TRANSPORT_PEERS_MAX + 1u)

typedef struct certa_transport_config {
    uint32_t self;            /* this validator's index */
    uint32_t validator_count; /* n, at most CERTA_TRANSPORT_PEERS_MAX */
    const char (*curve_pub)[41]; /* n Z85 CURVE public keys, by index */
    const char *curve_secret; /* this validator's Z85 CURVE secret key */
    const char *bind_endpoint; /* "tcp://127.0.0.1:7000"; port "*" = ephemeral */
    uint8_t genesis_hash[CERTA_HASH_BYTES];
    int hwm_msgs;               /* per-link send and receive HWM; 0 = 1024 */
    uint32_t post_capacity;     /* messages queued by other threads; 0 = 4096 */
    size_t msg_bytes_max;       /* larger inbound messages cut the link; 0 = 64 MiB */
    int reconnect_ivl_ms;       /* first reconnect delay; 0 = 100 */
    int reconnect_ivl_max_ms;   /* reconnect back-off cap; 0 = 2000 */
    int hello_retry_ms;         /* resend HELLO while unanswered; 0 = 500 */
    int heartbeat_ivl_ms;       /* ZMTP PING on an idle link; 0 = 1000 */
    int heartbeat_timeout_ms;   /* no traffic this long: the link is dead,
                                   closed and reconnected; 0 = 5000 */
} certa_transport_config;

typedef enum certa_transport_event {
    CERTA_TEV_PEER_UP = 1,      /* our link to peer is established (WELCOME) */
    CERTA_TEV_PEER_DOWN = 2,    /* our link to peer is lost; reconnecting */
    CERTA_TEV_REFUSED_BY_PEER = 3, /* peer refused us (key, genesis, index) */
    CERTA_TEV_REFUSED_PEER = 4, /* we refused an inbound connection */
    CERTA_TEV_DROPPED = 5,      /* a posted message was dropped (link full/down) */
} certa_transport_event;

/* Called from the I/O thread. text is a full sentence, valid during the call. */
typedef void (*certa_transport_event_fn)(void *ctx, uint32_t peer,
                                         certa_transport_event ev,
                                         const char *text);

/* Called from the I/O thread for each data message; bytes are valid during
 * the call only. from is the authenticated sender index. */
typedef void (*certa_transport_deliver_fn)(void *ctx, uint32_t from,
                                           const uint8_t *bytes, size_t len);

typedef void (*certa_transport_free_fn)(void *data, void *hint);

typedef struct certa_transport_stats {
    uint64_t msgs_in, msgs_out;
    uint64_t bytes_in, bytes_out;
    uint64_t send_busy;        /* sends refused by a full high-water mark */
    uint64_t posted_dropped;   /* posted messages dropped (link full or down) */
    uint64_t refused_keys;     /* inbound connections with a key not in the set */
    uint64_t refused_handshakes; /* inbound HELLOs refused (genesis, index) */
    uint32_t peers_up;         /* outbound links established */
} certa_transport_stats;

typedef struct certa_transport certa_transport;

/* Creates the context, the ZAP handler, binds the ROUTER. Does not connect:
 * call certa_transport_connect for each peer (its endpoint may only be known
 * after it bound an ephemeral port). on_event may be NULL. */
certa_err certa_transport_open(const certa_transport_config *cfg,
                               certa_transport_event_fn on_event, void *ev_ctx,
                               certa_transport **out, certa_errinfo *ei);

/* Opens the transport of validator self of genesis g: binds bind_endpoint
 * (node.json peer_bind), takes every validator's CURVE key and the genesis
 * hash from g, and connects to every other validator's peer_endpoint.
 * cfg_extra may be NULL (defaults) or supply hwm_msgs, post_capacity,
 * msg_bytes_max and the intervals; its other fields are ignored. */
struct certa_genesis;
certa_err certa_transport_open_genesis(const struct certa_genesis *g, uint32_t self,
                                       const char *bind_endpoint,
                                       const char *curve_secret,
                                       const certa_transport_config *cfg_extra,
                                       certa_transport_event_fn on_event,
                                       void *ev_ctx, certa_transport **out,
                                       certa_errinfo *ei);

/* The endpoint actually bound ("tcp://127.0.0.1:41234"); lives as long as t. */
const char *certa_transport_endpoint(const certa_transport *t);

/* Starts the DEALER link to peer (not self) at endpoint; reconnects forever. */
certa_err certa_transport_connect(certa_transport *t, uint32_t peer,
                                  const char *endpoint, certa_errinfo *ei);

/* true once WELCOME came back on our link to peer. */
bool certa_transport_peer_up(const certa_transport *t, uint32_t peer);

/* Sends a copy of bytes to peer (or CERTA_TRANSPORT_ALL: to every peer that
 * is up; returns the first failure but tries all). CERTA_E_BUSY when the
 * link's high-water mark is reached (the caller decides: drop or retry
 * later), CERTA_E_STATE when the link is not up. Never blocks. */
certa_err certa_transport_send(certa_transport *t, uint32_t peer,
                               const void *bytes, size_t len);

/* Thread-safe: queues data (ownership passes to the transport on CERTA_OK;
 * free_fn(data, hint) is called once it is sent or dropped) for the I/O
 * thread. CERTA_E_BUSY when the queue is full (the caller keeps data). */
certa_err certa_transport_post(certa_transport *t, uint32_t peer, void *data,
                               size_t len, certa_transport_free_fn free_fn,
                               void *hint);

/* One-call I/O step: polls every socket of t for up to timeout_ms, then
 * runs certa_transport_process. Returns messages delivered, or -1 when
 * zmq_poll failed (EINTR included). */
int certa_transport_poll(certa_transport *t, int timeout_ms,
                         certa_transport_deliver_fn deliver, void *ctx);

/* For an I/O thread that polls other sockets too: fills items (capacity
 * CERTA_TRANSPORT_POLLITEMS_MAX) and returns their count; after zmq_poll on
 * them, pass the same items to certa_transport_process. */
int certa_transport_pollitems(certa_transport *t, zmq_pollitem_t *items, int cap);
int certa_transport_process(certa_transport *t, const zmq_pollitem_t *items,
                            int count, certa_transport_deliver_fn deliver,
                            void *ctx);

void certa_transport_stats_get(const certa_transport *t, certa_transport_stats *s);

/* Closes every socket (linger 0), stops the ZAP thread, frees queued posts. */
void certa_transport_close(certa_transport *t);

/* Wire constants (docs/PROTOCOL.md). */
#define CERTA_PEER_MAGIC 0x56545243u /* "CRTV" */
#define CERTA_PEER_VERSION 1u
#define CERTA_PEER_HEADER_BYTES 8u
enum {
    CERTA_PEER_HELLO = 1,
    CERTA_PEER_WELCOME = 2,
    CERTA_PEER_REJECT = 3,
    CERTA_PEER_DATA = 4,
};
enum {
    CERTA_PEER_REJECT_GENESIS = 1,   /* genesis hash differs */
    CERTA_PEER_REJECT_INDEX = 2,     /* claimed index is not the key's index */
    CERTA_PEER_REJECT_HANDSHAKE = 3, /* data before HELLO on this connection */
    CERTA_PEER_REJECT_VERSION = 4,   /* unsupported protocol version */
};

#endif
