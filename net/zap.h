/* zap: the ZeroMQ authentication (ZAP, RFC 27) handler of one context.
 *
 * A CURVE server socket in a context with a ZAP handler accepts a client only
 * when the handler says 200. Domain "certa-peer" (validator transport):
 * the client's CURVE public key must be one of the allowed keys, and the
 * connection's User-Id becomes that key's index ("0", "1", ...), which the
 * transport reads back from every message as the authenticated sender.
 * Domain "certa-client" (integrators): any key is accepted (the batch
 * signature authenticates the integrator), User-Id "client".
 * Any other domain is refused.
 */
#ifndef CERTA_NET_ZAP_H
#define CERTA_NET_ZAP_H

#include "certa/certa.h"

#define CERTA_ZAP_DOMAIN_PEER "certa-peer"
#define CERTA_ZAP_DOMAIN_CLIENT "certa-client"

typedef struct certa_zap certa_zap;

/* Binds inproc://zeromq.zap.01 in zmq_ctx and starts the handler thread.
 * allowed: count keys of 32 bytes each (copied). Must be called before any
 * CURVE server socket of the context binds. */
certa_err certa_zap_start(void *zmq_ctx, const uint8_t (*allowed)[32],
                          uint32_t count, certa_zap **out, certa_errinfo *ei);

/* Number of refused peer connections so far and the Z85 text of the last
 * refused key (buffer of 41 bytes; empty when none). Thread-safe. */
uint64_t certa_zap_refused(certa_zap *z, char last_key_z85[41]);

/* Joins the thread. Call after zmq_ctx_shutdown(zmq_ctx) (which wakes it),
 * before zmq_ctx_term. */
void certa_zap_stop(certa_zap *z);

#endif
