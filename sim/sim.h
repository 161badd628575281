/* sim: a deterministic fault simulator for the PBFT core (engine/pbft.c).
 *
 * One seed decides everything: message latency, loss, duplication and
 * reordering, partitions and their healing, crashes (also between a step's
 * persists and its sends) and restarts that lose whatever was not declared
 * durable, clock skew, and Byzantine replicas (at most f) that equivocate,
 * replay, forge senders, withhold, send bogus view-change certificates and
 * vote twice; a restarted replica may also find its newest blocks corrupt
 * and truncated. The real protocol code runs unchanged, with fake fast crypto,
 * an in-memory durable store and the real application: the ledger
 * (engine/ledger.c) on the licence state, over a genesis generated from the
 * seed, fed with signed event batches (grants, revokes, redeems).
 *
 * After every step the checkers test agreement (no two honest replicas
 * deliver different blocks at one height), total order without gaps,
 * validity (every delivered request was submitted and correctly signed;
 * each executes once), and execution: honest replicas at the same executed
 * height have the same results root and state digest, each header carries
 * the roots of its height minus the LAG, and a batch executed before is
 * answered replayed or too old; at the end, liveness: after the faults heal, every
 * submitted request is executed by every honest replica within the bound
 * (or, with a replay horizon, answered as too old); in the overload and
 * rejoin scenarios the views must then stay put for a quiet period, every
 * honest replica in the same view and none in view change.
 */
#ifndef CERTA_SIM_H
#define CERTA_SIM_H

#include <stdio.h>

#include "certa/pbft.h"

enum {
    CERTA_SIM_F_CRASH = 1,
    CERTA_SIM_F_BYZ = 2,
    CERTA_SIM_F_NET = 4,
    CERTA_SIM_F_ALL = 7,
};

typedef enum certa_sim_scenario {
    CERTA_SIM_RANDOM = 0,        /* faults drawn from the seed */
    CERTA_SIM_CRASH_PRIMARY = 1, /* the view-0 primary dies early: view change */
    CERTA_SIM_LAGGARD = 2,       /* one replica cut off, then healed: state transfer */
    /* many pipelined clients far above capacity, arriving out of order,
     * retrying in-flight and committed requests at other replicas, a host
     * with a bounded replay horizon and a bounded pool; then normal load */
    CERTA_SIM_OVERLOAD = 3,
    /* the view-0 primary cut off while clients keep sending to it (it
     * moves to a higher view alone), then healed, then normal load */
    CERTA_SIM_REJOIN = 4,
    /* a backup cut off while clients send to it (its own timer takes it
     * alone to view 1; the others stay in view 0), then healed; after the
     * heal new requests go to it alone and are never re-sent elsewhere, so
     * they commit only if it forwards them while it follows view 0 */
    CERTA_SIM_LONE = 5,
} certa_sim_scenario;

typedef struct certa_sim_opts {
    uint64_t seed;
    uint16_t n;
    unsigned faults;    /* CERTA_SIM_F_* */
    certa_sim_scenario scenario;
    uint32_t requests;  /* client requests submitted */
    uint64_t fault_ms;  /* length of the faulty phase (simulated) */
    uint64_t liveness_ms; /* bound after healing */
    uint32_t checkpoint_interval;
    uint32_t window;
    uint32_t batch;
    int mutation;       /* CERTA_PBFT_MUT_* (engine/pbft_mut.h) planted in
                         * every replica */
    int ledger_mutation; /* CERTA_LEDGER_MUT_* (engine/ledger_mut.h) planted in
                          * every replica's ledger but the last one's */
    bool parent_gate;   /* app.can_propose: propose h only after executing h-1 */
    /* > 0: request_executed also answers true for a sequence this many or
     * more below the integrator's highest delivered one (a host's bounded
     * replay horizon: too old to tell); such a request counts as answered */
    uint32_t replay_horizon;
    FILE *trace;        /* when set: the trace is printed on a violation */
    bool trace_all;     /* print every step as it happens */
} certa_sim_opts;

void certa_sim_opts_default(certa_sim_opts *o, uint64_t seed, uint16_t n,
                            unsigned faults);

typedef struct certa_sim_result {
    bool ok;
    char violation[512];
    uint64_t height;        /* longest honest chain */
    uint64_t requests_executed;
    uint64_t duplicates_rejected;
    uint64_t view_changes;
    uint64_t new_views;
    uint64_t checkpoints;
    uint64_t blocks_fetched;
    uint64_t messages;      /* handed to the network */
    uint64_t net_dropped;   /* lost, partitioned or to a dead replica */
    uint64_t net_duplicated;
    uint64_t replica_dropped; /* dropped and counted by the replicas */
    uint64_t crashes;
    uint64_t repairs;       /* restarts that lost their newest blocks */
    uint64_t byz_actions;
    uint64_t lone_higher_view; /* replicas the faults left alone in a higher
                                * view, following the chain (quiet_check) */
    uint64_t steps;
    uint64_t sim_ms;
} certa_sim_result;

/* Runs one seed. Returns true when no checker fired. */
bool certa_sim_run(const certa_sim_opts *o, certa_sim_result *res);

/* The command that replays a seed. */
/* The --mutation name into *mutation (the core's: "none", "quorum-2f",
 * "nv-skip-prepared") or *ledger_mutation (the ledger's: "skip-replay",
 * "lag-off-by-one", "local-time"), the other set to none; false for an
 * unknown name. */
bool certa_sim_mutation_parse(const char *name, int *mutation, int *ledger_mutation);

void certa_sim_replay_cmd(const certa_sim_opts *o, char *out, size_t cap);

#endif
