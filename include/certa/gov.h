/* gov: governance on chain. The tables a city changes while the chain runs
 * (integrators and their keys, the counters of each centre, the catalogue
 * per centre, a few rule parameters, the council itself) start from genesis and change only by
 * committed GOVERN events: a council member proposes one typed change with
 * an expiry, and it takes effect once `threshold` distinct members have
 * approved the same proposal digest (the proposer's propose counts as its
 * approval).
 *
 * Timing: a change whose last approval is committed in block h is in force
 * from block h + 1 (every event of block h, before or after that approval,
 * still sees the old tables). Validators admit batches with the tables of
 * the last block they executed; see docs/PROTOCOL.md, "Governance", for the
 * batches signed with a rotated-out key that the LAG rule lets into the
 * next CERTA_RESULTS_LAG_BLOCKS blocks (they are rejected, stale_key).
 *
 * Everything here is a function of the genesis and the chain: the tables
 * are covered by the state digest and saved in snapshots.
 */
#ifndef CERTA_GOV_H
#define CERTA_GOV_H

#include "certa/codec.h"
#include "certa/genesis.h"
#include "certa/state.h"

#define CERTA_COUNCIL_MAX 32u        /* council members */
#define CERTA_GOV_PROPOSALS_MAX 64u  /* open proposals at a time */
#define CERTA_GOV_CLOSED_MAX 4096u   /* closed counters, over all centres */
#define CERTA_GOV_CATALOGUE_MAX 4096u /* (centre, matter) entries */
#define CERTA_GOV_CENTRES_ADDED_MAX 256u /* centres opened after genesis */
#define CERTA_GOV_COUNTERS_MAX 4096u     /* counters of a centre opened by centre_add */

/* Change types of a proposal: published values, never renumber. */
typedef enum certa_gov_change {
    CERTA_GC_COUNCIL_ADD = 1,        /* integrator (an active admin) joins */
    CERTA_GC_COUNCIL_REMOVE = 2,     /* integrator leaves */
    CERTA_GC_COUNCIL_THRESHOLD = 3,  /* value: the new k, 1 <= k <= members */
    CERTA_GC_INTEGRATOR_ADD = 4,     /* name, role, centre (counter role), pub */
    CERTA_GC_INTEGRATOR_SUSPEND = 5, /* integrator: its batches are refused */
    CERTA_GC_INTEGRATOR_RESUME = 6,  /* integrator: suspended -> active */
    CERTA_GC_INTEGRATOR_REMOVE = 7,  /* integrator: for good (index kept) */
    CERTA_GC_INTEGRATOR_ROTATE = 8,  /* integrator, pub: its new key */
    CERTA_GC_COUNTER_ADD = 9,        /* centre: counter (counters + 1) opens */
    CERTA_GC_COUNTER_CLOSE = 10,     /* centre, counter */
    CERTA_GC_PARAM_SET = 11,         /* param, value (within its range) */
    CERTA_GC_CATALOGUE_SET = 12,     /* centre, matter, value: the licence types
                                      * the matter may use there (low 32 bits;
                                      * 0: the centre does not offer it) and
                                      * those it requires (high 32 bits) */
    CERTA_GC_CENTRE_ADD = 13,        /* centre (an id never used), value: its
                                      * counters (1 .. CERTA_GOV_COUNTERS_MAX),
                                      * name (unique among centres) */
    CERTA_GC_CENTRE_CLOSE = 14,      /* centre: for good; it refuses grants,
                                      * redeems and evidence (scope_centre) */
    CERTA_GC_COUNT = 15,
} certa_gov_change;

/* Governed parameters (param_set): published values. */
typedef enum certa_gov_param {
    CERTA_GP_CODE_ATTEMPTS_MAX = 1,   /* 1 .. 10 (as in genesis) */
    CERTA_GP_GRANT_WINDOW_MS_MAX = 2, /* 60000 .. 366 days in ms (as in genesis) */
    /* The block limit and timeouts (as in genesis; 0 when genesis leaves
     * them to the validator's defaults). Each validator's proposals and
     * timers follow them from the block after the change on: they bound
     * liveness and block size, never what a block may hold, so validators
     * that apply them a few blocks apart still agree. */
    CERTA_GP_BLOCK_EVENTS_MAX = 3, /* 1 .. 32768 */
    CERTA_GP_BLOCK_TIMEOUT_MS = 4, /* 1 .. 10000, below view_timeout_ms */
    CERTA_GP_VIEW_TIMEOUT_MS = 5,  /* 10 .. 600000, above block_timeout_ms */
    /* The version of the licence rules (1 .. 2; genesis "rules", 1 when
     * absent). 2 binds confirm, sign and photo to the redeem they document.
     * It only rises: a chain keeps the results its blocks committed. */
    CERTA_GP_RULES = 6,
    CERTA_GP_COUNT = 7,
} certa_gov_param;

typedef enum certa_integrator_status {
    CERTA_IS_ACTIVE = 0,
    CERTA_IS_SUSPENDED = 1,
    CERTA_IS_REMOVED = 2,
} certa_integrator_status;

/* Names ("council_add", "code_attempts_max", "active"); NULL when unknown.
 * _parse: -1 when unknown. */
const char *certa_gov_change_name(unsigned change);
int certa_gov_change_parse(const char *name);
const char *certa_gov_param_name(unsigned param);
int certa_gov_param_parse(const char *name);
const char *certa_integrator_status_name(unsigned status);
/* The safe range of a parameter; false for an unknown one. */
bool certa_gov_param_range(unsigned param, uint64_t *min, uint64_t *max);

/* A proposal's digest: SHA-256 of its propose event's canonical bytes
 * (what approvals name). CERTA_E_* when ev does not encode. */
certa_err certa_gov_proposal_digest(const certa_event *ev, uint8_t out[CERTA_HASH_BYTES],
                                    certa_errinfo *ei);

/* ---- the governed tables, as a state holds them after its last block
 * (read between blocks, like every query) */

typedef struct certa_gov_integrator {
    char name[CERTA_NAME_BYTES];
    uint8_t role;   /* certa_role */
    uint8_t status; /* certa_integrator_status */
    uint16_t centre;
    uint8_t pub[CERTA_PUBKEY_BYTES];
    uint64_t key_since; /* first block its current key is in force (0: genesis) */
} certa_gov_integrator;

uint32_t certa_state_integrator_count(const certa_state *s);
/* false when idx is out of range. */
bool certa_state_integrator(const certa_state *s, uint32_t idx, certa_gov_integrator *out);
/* index by name, or -1 */
int certa_state_integrator_find(const certa_state *s, const char *name);

typedef struct certa_gov_council {
    uint32_t count;
    uint16_t members[CERTA_COUNCIL_MAX]; /* integrator indexes */
    uint32_t threshold;
} certa_gov_council;
void certa_state_council(const certa_state *s, certa_gov_council *out);

typedef struct certa_gov_proposal {
    uint8_t digest[CERTA_HASH_BYTES];
    certa_gov_body change; /* op CERTA_GOV_PROPOSE */
    uint16_t proposer;
    uint64_t proposed_height;
    uint32_t approval_count;
    uint16_t approvals[CERTA_COUNCIL_MAX]; /* integrator indexes, in order */
} certa_gov_proposal;
uint32_t certa_state_proposal_count(const certa_state *s);
bool certa_state_proposal(const certa_state *s, uint32_t i, certa_gov_proposal *out);

/* A centre as the governed tables hold it: genesis's, then those the
 * council opened (centre_add), in the order they were opened. */
typedef struct certa_gov_centre {
    uint16_t id;
    char name[CERTA_NAME_BYTES];
    uint16_t counters; /* numbered 1..counters */
    bool open;         /* false once closed (centre_close) */
    bool added;        /* opened by the council, not in genesis */
} certa_gov_centre;
uint32_t certa_state_centre_count(const certa_state *s);
/* false when i is out of range. */
bool certa_state_centre_at(const certa_state *s, uint32_t i, certa_gov_centre *out);

/* Counters of a centre (numbered 1..n; 0 when the centre is unknown) and
 * whether one is open (in range, not closed, its centre not closed). */
uint16_t certa_state_centre_counters(const certa_state *s, uint16_t centre);
bool certa_state_counter_open(const certa_state *s, uint16_t centre, uint16_t counter);
/* Changes in force so far: grows by one with every change that takes
 * effect (hosts that copy the tables compare it). */
uint64_t certa_state_gov_generation(const certa_state *s);
/* The catalogue entry of (centre, matter): false when there is none (the
 * matter's genesis types, nothing required); else the types the matter may
 * use at that centre (0: not offered there) and those it requires. */
bool certa_state_catalogue(const certa_state *s, uint16_t centre, uint32_t matter,
                           uint32_t *allowed, uint32_t *required);
/* The catalogue's entries, by (centre, matter) ascending: count, and the
 * i-th (false when i is out of range). */
uint32_t certa_state_catalogue_count(const certa_state *s);
bool certa_state_catalogue_at(const certa_state *s, uint32_t i, uint16_t *centre,
                              uint32_t *matter, uint32_t *allowed, uint32_t *required);
/* The parameter's value in force; 0 for an unknown one. */
uint64_t certa_state_param(const certa_state *s, unsigned param);

#endif
