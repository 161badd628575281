/* net_transport: the replayer's transport over the validators' integrator
 * client protocol (ZeroMQ + CURVE, include/certa/client.h). */
#ifndef CERTA_LOAD_NET_TRANSPORT_H
#define CERTA_LOAD_NET_TRANSPORT_H

#include "replay.h"

/* A transport to n validators given by client endpoint and Z85 CURVE
 * public key, with at most `window` batches outstanding (0 = 64). */
certa_err certa_load_net_new(uint32_t n, const char *const *endpoints,
                             const char *const *server_keys, uint32_t window,
                             certa_load_transport *out, certa_errinfo *ei);

/* endpoints: "genesis" (every validator of the genesis) or a comma-separated
 * list of validators' client endpoints as genesis.json names them; their
 * CURVE keys come from the genesis at genesis_path. */
certa_err certa_load_net_open(const char *endpoints, const char *genesis_path,
                              uint32_t window, certa_load_transport *out,
                              certa_errinfo *ei);

/* Counts a batch receipt's entries (docs/PROTOCOL.md "Receipts", binary) by
 * result code into counts[min(code, 31)]; names (may be NULL) gets the first
 * reason text seen for each code. Checks framing only, not proofs. */
certa_err certa_load_receipt_count(const uint8_t *body, size_t len, uint32_t *counts,
                                   char (*names)[CERTA_LOAD_REASON_NAME_BYTES],
                                   uint32_t *entries, certa_errinfo *ei);

#endif
