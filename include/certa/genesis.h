/* genesis: the chain's founding document (genesis.json), loaded and checked.
 *
 * It fixes everything validators must agree on before the first block: the
 * validator set (Ed25519 signing keys, CURVE transport keys, endpoints), the
 * integrators (key, role, scope), the catalogue (bureaus, centres with their
 * counters, matters with the licence types each may use) and the protocol
 * parameters. Its hash is the chain id: peers with another genesis are
 * refused. A loaded genesis is immutable and may be shared between threads.
 */
#ifndef CERTA_GENESIS_H
#define CERTA_GENESIS_H

#include "certa/certa.h"
#include "certa/crypto.h"

#define CERTA_VALIDATORS_MAX 64u
#define CERTA_NAME_BYTES 64u
#define CERTA_ENDPOINT_BYTES 128u
#define CERTA_INTEGRATORS_MAX 4096u
#define CERTA_GENESIS_LICENCE_TYPES_MAX 32u /* licence_types masks are 32 bits */
#define CERTA_GENESIS_BYTES_MAX (16u * 1024u * 1024u)
#define CERTA_GENESIS_VERSION 1
#define CERTA_GENESIS_COUNCIL_MAX 32u /* = CERTA_COUNCIL_MAX (certa/gov.h) */
/* params.replay_horizon_*: defaults and bounds (docs/PROTOCOL.md,
 * "Replay protection"). The batch count sizes a table of about 48 bytes a
 * batch that every validator allocates at start-up. */
#define CERTA_REPLAY_HORIZON_MS_DEFAULT (3600ull * 1000u)
#define CERTA_REPLAY_HORIZON_BATCHES_DEFAULT (1u << 21)
#define CERTA_REPLAY_HORIZON_BATCHES_MIN 16u
#define CERTA_REPLAY_HORIZON_BATCHES_MAX (1u << 26)

typedef enum certa_role {
    CERTA_ROLE_APP = 1,     /* holder side: grant, revoke */
    CERTA_ROLE_COUNTER = 2, /* one centre: redeem, confirm, sign, photo */
    CERTA_ROLE_LIBRARY = 3, /* licence registry */
    CERTA_ROLE_ADMIN = 4,   /* governance */
} certa_role;

const char *certa_role_name(unsigned role); /* "app", "counter", ... */
int certa_role_parse(const char *name);     /* -1 when unknown */

typedef struct certa_validator_info {
    char name[CERTA_NAME_BYTES];
    uint8_t sign_pub[CERTA_PUBKEY_BYTES];
    certa_pubkey *sign_key;                    /* parsed once at load */
    char curve_pub[CERTA_CURVE_KEY_Z85_BYTES];  /* ZeroMQ CURVE, Z85 */
    char peer_endpoint[CERTA_ENDPOINT_BYTES];   /* validator-to-validator */
    char client_endpoint[CERTA_ENDPOINT_BYTES]; /* integrators */
    char metrics_endpoint[CERTA_ENDPOINT_BYTES];/* http://host:port/metrics */
} certa_validator_info;

typedef struct certa_integrator_info {
    char name[CERTA_NAME_BYTES];
    uint8_t role;      /* certa_role */
    uint16_t centre;   /* COUNTER scope: its centre; 0 = no centre scope */
    uint8_t pub[CERTA_PUBKEY_BYTES];
    certa_pubkey *key; /* parsed once at load */
} certa_integrator_info;

/* A licence type of the catalogue: its id is its bit in licence_types masks.
 * Ids 0..6 carry the codec's names (id_card ... business_licence). */
typedef struct certa_licence_type_info {
    uint8_t id; /* < CERTA_GENESIS_LICENCE_TYPES_MAX */
    char name[CERTA_NAME_BYTES];
} certa_licence_type_info;

typedef struct certa_bureau_info {
    uint16_t id;
    char name[CERTA_NAME_BYTES];
} certa_bureau_info;

typedef struct certa_centre_info {
    uint16_t id; /* >= 1 */
    char name[CERTA_NAME_BYTES];
    uint16_t counters; /* counters are numbered 1..counters */
} certa_centre_info;

typedef struct certa_matter_info {
    uint32_t id; /* >= 1 */
    uint16_t bureau;
    bool company;           /* company matter (else personal) */
    uint32_t licence_types; /* mask of types this matter may use */
    char name[CERTA_NAME_BYTES];
} certa_matter_info;

typedef struct certa_genesis_params {
    uint32_t checkpoint_interval;   /* blocks between checkpoints (K) */
    uint32_t window_blocks;         /* PBFT high - low watermark */
    uint32_t block_events_max;      /* events per block */
    uint32_t block_timeout_ms;      /* close a partial block after this */
    uint32_t view_timeout_ms;       /* base view-change timer */
    uint32_t clock_skew_ms_max;     /* proposal timestamp tolerance */
    uint64_t grant_window_ms_max;   /* longest not_after - not_before */
    uint32_t code_attempts_max;     /* wrong codes before a grant locks (5) */
    uint32_t rules;                 /* licence rules version, 1..2 (gov.h
                                     * CERTA_GP_RULES); optional, 1 when absent */
    /* Replay horizon (engine/dedup.h): an executed batch is remembered
     * exactly for this long in block time, or until this many newer
     * batches executed, whichever comes first. Optional in the file. */
    uint64_t replay_horizon_ms;
    uint32_t replay_horizon_batches;
} certa_genesis_params;

typedef struct certa_genesis {
    char chain_name[CERTA_NAME_BYTES];
    uint64_t genesis_time_ms;
    uint8_t hash[CERTA_HASH_BYTES]; /* SHA-256 of the file's bytes: chain id */
    certa_genesis_params params;

    uint32_t validator_count; /* n = 3f + 1 */
    uint32_t f;
    certa_validator_info *validators;

    uint32_t integrator_count;
    certa_integrator_info *integrators;

    uint32_t licence_type_count;
    certa_licence_type_info *licence_types; /* sorted by id */
    uint32_t licence_type_mask;             /* bit i set: type i exists */

    uint32_t bureau_count;
    certa_bureau_info *bureaus; /* sorted by id */
    uint32_t centre_count;
    certa_centre_info *centres; /* sorted by id */
    uint32_t matter_count;
    certa_matter_info *matters; /* sorted by id */

    /* The governance council (optional "council" object): admin
     * integrators by index, and how many of them must approve a change.
     * No council: every GOVERN event is rejected (gov_not_member). */
    uint32_t council_count;
    uint16_t council[CERTA_GENESIS_COUNCIL_MAX];
    uint32_t council_threshold;
} certa_genesis;

/* Loads and validates path (at most CERTA_GENESIS_BYTES_MAX bytes). Errors
 * are CERTA_E_IO (unreadable), CERTA_E_JSON (syntax, with line and column)
 * or CERTA_E_GENESIS, and name the file and the JSON path of the field, e.g.
 * "genesis.json: validators[2].sign_pub: expected 64 hex digits".
 * On success *out is owned by the caller (certa_genesis_free). */
certa_err certa_genesis_load(const char *path, certa_genesis **out,
                             certa_errinfo *ei);
/* The same over len bytes of JSON in memory; name_for_errors prefixes every
 * message. g->hash is SHA-256 of exactly those bytes. */
certa_err certa_genesis_parse(const char *json, size_t len,
                              const char *name_for_errors, certa_genesis **out,
                              certa_errinfo *ei);
void certa_genesis_free(certa_genesis *g);

/* Look-ups; NULL when absent. O(log n). */
const certa_centre_info *certa_genesis_centre(const certa_genesis *g, uint16_t id);
const certa_matter_info *certa_genesis_matter(const certa_genesis *g, uint32_t id);
const certa_bureau_info *certa_genesis_bureau(const certa_genesis *g, uint16_t id);
/* Licence type id by catalogue name, or -1. */
int certa_genesis_licence_type_find(const certa_genesis *g, const char *name);
/* Integrator by name; returns its index or -1. */
int certa_genesis_integrator_find(const certa_genesis *g, const char *name);

/* Options of the genesis writer (`certa genesis`). */
typedef struct certa_genesis_opts {
    uint32_t validators;  /* n, must be 3f+1 >= 4 */
    const char *dir;      /* output directory */
    uint16_t base_port;   /* validator k uses base_port + 10k + {0,1,2} */
    const char *host;     /* "127.0.0.1" */
    bool force;           /* replace an existing genesis, keys and configs */
    uint64_t genesis_time_ms; /* 0: now */
    uint32_t council;     /* 0: no council; N: admin, admin-2 .. admin-N, a
                           * majority (N/2 + 1) to approve a change */
} certa_genesis_opts;

/* Writes dir/genesis.json, dir/nodeK/{node.json,sign.pem,curve.key} and
 * dir/integrators/NAME.pem for the default Beijing catalogue, then reloads
 * the genesis to check it. Refuses (CERTA_E_EXISTS) when dir/genesis.json
 * exists and force is false. Keys are written with mode 0600. */
certa_err certa_genesis_write(const certa_genesis_opts *o, certa_errinfo *ei);

#endif
