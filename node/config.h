/* config: a validator's node.json, written by `certa genesis` into each
 * DIR/nodeK/ and read by the validator daemon.
 *
 * Relative paths in node.json are relative to the directory holding
 * node.json, so a genesis directory can be moved or copied whole; the loader
 * resolves them. Unknown fields are refused (a typo must not become a
 * default). The fields are documented in docs/OPERATIONS.md.
 */
#ifndef CERTA_CONFIG_H
#define CERTA_CONFIG_H

#include "certa/certa.h"
#include "certa/crypto.h"
#include "certa/genesis.h"

#define CERTA_PATH_BYTES 4096u
#define CERTA_NODE_CONFIG_VERSION 1

typedef struct certa_node_config {
    char path[CERTA_PATH_BYTES];           /* the node.json loaded */
    char genesis_path[CERTA_PATH_BYTES];   /* resolved */
    uint32_t validator_index;              /* index in genesis validators */
    char sign_key_path[CERTA_PATH_BYTES];  /* Ed25519 PEM, mode 0600 */
    char curve_key_path[CERTA_PATH_BYTES]; /* CURVE secret, Z85, mode 0600 */
    char data_dir[CERTA_PATH_BYTES];       /* block log, snapshots */
    char peer_bind[CERTA_ENDPOINT_BYTES];  /* ZeroMQ endpoint for validators */
    char client_bind[CERTA_ENDPOINT_BYTES];/* ZeroMQ endpoint for integrators */
    char metrics_host[CERTA_ENDPOINT_BYTES];/* HTTP /metrics listen address */
    uint16_t metrics_port;                 /* 0: no metrics endpoint */
} certa_node_config;

/* Loads and checks path into *out (caller-owned, about 20 KiB). Errors are
 * CERTA_E_IO, CERTA_E_JSON or CERTA_E_CONFIG and name the file and field. */
certa_err certa_node_config_load(const char *path, certa_node_config *out,
                                 certa_errinfo *ei);

/* Reads a CURVE secret key file: 40 Z85 characters and an optional newline.
 * Refuses a file that group or others can read. Fills secret_z85 and, when
 * not NULL, the matching public key public_z85 (both 40 chars + NUL). */
certa_err certa_curve_secret_load(const char *path,
                                  char secret_z85[CERTA_CURVE_KEY_Z85_BYTES],
                                  char public_z85[CERTA_CURVE_KEY_Z85_BYTES],
                                  certa_errinfo *ei);

/* Loads the node's two keys and checks them against genesis validator
 * cfg->validator_index: the signing key's public half must equal sign_pub
 * and the CURVE key's must equal curve_pub. Key files readable by group or
 * others are refused. On success *sign_out is the caller's (certa_key_free)
 * and curve_secret_out holds the Z85 secret (wipe it after use). */
certa_err certa_node_keys_load(const certa_node_config *cfg,
                               const certa_genesis *g, certa_key **sign_out,
                               char curve_secret_out[CERTA_CURVE_KEY_Z85_BYTES],
                               certa_errinfo *ei);

#endif
