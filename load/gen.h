/* gen: turns a scenario into a load trace of signed event batches.
 *
 * Deterministic: the same scenario, scale, hours, seed, start time and
 * genesis (with its integrator keys) give the same bytes. Cases arrive at
 * each centre as a Poisson process at the scenario's hourly rate; each case
 * becomes timed events (grant by the APP integrator; redeems, confirm, sign,
 * photo by the COUNTER integrator of the case's centre; revokes by APP),
 * with a real code and salt behind each commitment so that the intended
 * events succeed and the intended share is rejected for its reason (wrong
 * code, a grant whose window has already closed, a redeem of a revoked grant). Each integrator collects its events
 * for its batching window, then signs the batch with its genesis key and
 * the next sequence number. Scenario centres map onto genesis centres
 * round-robin (docs/LOAD.md, "From scenario to genesis").
 */
#ifndef CERTA_LOAD_GEN_H
#define CERTA_LOAD_GEN_H

#include "certa/crypto.h"
#include "certa/genesis.h"
#include "scenario.h"
#include "trace.h"

typedef struct certa_load_gen_opts {
    const certa_load_scenario *scenario;
    double scale;            /* multiplies arrivals (1 = the scenario as is) */
    uint32_t hours;          /* trace length in hours, from scenario->start_hour */
    uint64_t seed;
    uint64_t start_unix_ms;  /* absolute time of trace time 0; 0 = genesis time */
    const char *genesis_dir; /* holds genesis.json and integrators/NAME.pem */
    const char *out_path;
    bool progress;           /* progress on stderr */
} certa_load_gen_opts;

typedef struct certa_load_gen_stats {
    uint64_t cases;          /* counter cases */
    uint64_t online_grants;  /* online-only grants */
    uint64_t events;
    uint64_t batches;
    uint64_t bytes;          /* trace file size */
    uint64_t expected_by_intent[CERTA_LOAD_INTENTS];
    uint64_t events_by_kind[8]; /* index: certa_event_kind */
    double seconds;          /* wall time of the generation */
    double sign_seconds;     /* of which signing batches */
} certa_load_gen_stats;

/* Generates the trace at o->out_path. On error the partial file is removed. */
certa_err certa_load_gen(const certa_load_gen_opts *o, certa_load_gen_stats *stats,
                         certa_errinfo *ei);

/* Integrator integ's signing key, genesis_dir/integrators/NAME.pem, checked
 * against the key genesis registers for it (CERTA_E_BAD_KEY otherwise,
 * naming the file). */
certa_err certa_load_integrator_key(const char *genesis_dir, const certa_genesis *g,
                                    uint16_t integ, certa_key **out, certa_errinfo *ei);

#endif
