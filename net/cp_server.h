/* cp_server (private to the daemon and the tests): the validator's end of
 * the client protocol, a CURVE-server ROUTER socket that receives SUBMIT and
 * QUERY requests and sends their replies. The integrator's end and the wire
 * codec are public (certa/client.h); this end is not, because only the
 * validator (node/clients.c, node/query.c) and the tests' fake validators
 * serve the protocol. In net/client_proto.c. */
#ifndef CERTA_NET_CP_SERVER_H
#define CERTA_NET_CP_SERVER_H

#include "certa/client.h"

typedef struct certa_cp_server certa_cp_server;

/* Binds a CURVE-server ROUTER at endpoint ("tcp://127.0.0.1:*" for an
 * ephemeral port). zmq_ctx may be NULL (own context) or a context whose ZAP
 * handler admits domain "certa-client". hwm_msgs 0 = 1024. */
certa_err certa_cp_server_open(void *zmq_ctx, const char *endpoint,
                               const char *curve_secret_z85, int hwm_msgs,
                               certa_cp_server **out, certa_errinfo *ei);
const char *certa_cp_server_endpoint(const certa_cp_server *s);
void *certa_cp_server_socket(certa_cp_server *s); /* for zmq_poll */
void certa_cp_server_close(certa_cp_server *s);

#define CERTA_CP_PEER_BYTES_MAX 32u
typedef struct certa_cp_request {
    uint8_t peer[CERTA_CP_PEER_BYTES_MAX]; /* ZeroMQ routing id of the client */
    size_t peer_len;
    certa_cp_header header;
    const uint8_t *body; /* valid until certa_cp_request_release or the next
                          * certa_cp_server_recv on the same server */
    size_t body_len;
    certa_cp_server *server_; /* internal: the server lending body */
} certa_cp_request;

/* Receives one request without blocking: CERTA_OK (release it after use;
 * the server lends one request's body at a time, so the next recv releases
 * the previous one),
 * CERTA_E_NOTFOUND when none is waiting. A malformed message is answered
 * with an ERROR reply (request id 0 when unreadable) and CERTA_E_PROTOCOL is
 * returned with the reason in ei; nothing needs releasing then. */
certa_err certa_cp_server_recv(certa_cp_server *s, certa_cp_request *rq,
                               certa_errinfo *ei);
void certa_cp_request_release(certa_cp_request *rq);

/* Sends a reply of type to the client with peer routing id. Never blocks:
 * CERTA_E_BUSY when the client's pipe is full, CERTA_E_NOTFOUND when the
 * client is gone. */
certa_err certa_cp_server_reply(certa_cp_server *s, const uint8_t *peer,
                                size_t peer_len, uint8_t type, uint64_t request_id,
                                const void *body, size_t body_len);
certa_err certa_cp_server_error(certa_cp_server *s, const uint8_t *peer,
                                size_t peer_len, uint64_t request_id,
                                certa_err code, bool retryable,
                                uint32_t retry_after_ms, const char *message);

#endif
