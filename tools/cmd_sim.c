/* certa sim: runs the deterministic PBFT simulator (sim/) over a range
 * of seeds and prints what happened: blocks, view changes, drops, crashes,
 * Byzantine actions. A violating seed prints its replay command and trace. */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "sim.h"

static const char usage[] =
    "usage: certa sim [--seeds A..B] [--validators N] [--faults all|crash|byzantine|network|none]\n"
    "                 [--scenario random|crash-primary|laggard|overload|rejoin|lone]\n"
    "                 [--requests R] [--fault-ms T]\n"
    "                 [--mutation none|quorum-2f|nv-skip-prepared|\n"
    "                  skip-replay|lag-off-by-one|local-time] [--parent-gate]\n"
    "                 [--trace] [--quiet]\n\n"
    "Runs the real PBFT core through a simulated world decided by each seed\n"
    "(latency, loss, duplication, reordering, partitions, crashes and restarts,\n"
    "clock skew, up to f Byzantine replicas) and checks agreement, total order,\n"
    "validity, execution (the ledger's results and state digests agree, headers\n"
    "follow the LAG rule, replays are refused) and liveness after every step.\n"
    "--mutation plants a bug in the core or in the ledger (skip-replay,\n"
    "lag-off-by-one, local-time: every replica but the last) that the checks\n"
    "must catch. Prints per-run counts; exits 1 when\n"
    "any seed violates a property (its replay command and trace are printed).\n"
    "--parent-gate plugs app.can_propose: a block is proposed only once its\n"
    "parent is executed (hosts whose headers commit to execution results).\n"
    "Defaults: --seeds 1..100 --validators 4 --faults all --requests 48\n"
    "--fault-ms 4000 (simulated ms of faults before everything heals).\n";

static int parse_range(const char *s, uint64_t *a, uint64_t *b)
{
    const char *dots = strstr(s, "..");
    char tmp[64];
    if (dots == NULL) {
        unsigned long long v;
        if (certa_parse_u64(s, 0, UINT64_MAX, &v) != 0)
            return -1;
        *a = *b = v;
        return 0;
    }
    size_t n = (size_t)(dots - s);
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    unsigned long long x, y;
    if (certa_parse_u64(tmp, 0, UINT64_MAX, &x) != 0 ||
        certa_parse_u64(dots + 2, 0, UINT64_MAX, &y) != 0 || y < x)
        return -1;
    *a = x;
    *b = y;
    return 0;
}

int certa_cmd_sim(int argc, char **argv)
{
    if (certa_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CERTA_EXIT_OK;
    }
    uint64_t a = 1, b = 100;
    unsigned long long n = 4, reqs = 48, fault_ms = 4000;
    unsigned faults = CERTA_SIM_F_ALL;
    int scenario = CERTA_SIM_RANDOM, mutation = 0 /* none */, ledger_mutation = 0;
    bool trace = false, quiet = false, gate = false;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--seeds") == 0 && v) {
            if (parse_range(v, &a, &b) != 0)
                return certa_usage_error("sim", "bad --seeds '%s' (want A..B)", v);
            i++;
        } else if (strcmp(argv[i], "--validators") == 0 && v) {
            if (certa_parse_u64(v, 4, 64, &n) != 0 || (n - 1) % 3 != 0)
                return certa_usage_error("sim", "--validators must be 3f+1 in 4..64");
            i++;
        } else if (strcmp(argv[i], "--requests") == 0 && v) {
            if (certa_parse_u64(v, 1, 1000000, &reqs) != 0)
                return certa_usage_error("sim", "bad --requests '%s'", v);
            i++;
        } else if (strcmp(argv[i], "--fault-ms") == 0 && v) {
            if (certa_parse_u64(v, 0, 3600000, &fault_ms) != 0)
                return certa_usage_error("sim", "bad --fault-ms '%s'", v);
            i++;
        } else if (strcmp(argv[i], "--faults") == 0 && v) {
            if (strcmp(v, "all") == 0) faults = CERTA_SIM_F_ALL;
            else if (strcmp(v, "crash") == 0) faults = CERTA_SIM_F_CRASH;
            else if (strcmp(v, "byzantine") == 0) faults = CERTA_SIM_F_BYZ;
            else if (strcmp(v, "network") == 0) faults = CERTA_SIM_F_NET;
            else if (strcmp(v, "none") == 0) faults = 0;
            else return certa_usage_error("sim", "unknown --faults '%s'", v);
            i++;
        } else if (strcmp(argv[i], "--scenario") == 0 && v) {
            if (strcmp(v, "random") == 0) scenario = CERTA_SIM_RANDOM;
            else if (strcmp(v, "crash-primary") == 0) scenario = CERTA_SIM_CRASH_PRIMARY;
            else if (strcmp(v, "laggard") == 0) scenario = CERTA_SIM_LAGGARD;
            else if (strcmp(v, "overload") == 0) scenario = CERTA_SIM_OVERLOAD;
            else if (strcmp(v, "rejoin") == 0) scenario = CERTA_SIM_REJOIN;
            else if (strcmp(v, "lone") == 0) scenario = CERTA_SIM_LONE;
            else return certa_usage_error("sim", "unknown --scenario '%s'", v);
            i++;
        } else if (strcmp(argv[i], "--mutation") == 0 && v) {
            if (!certa_sim_mutation_parse(v, &mutation, &ledger_mutation))
                return certa_usage_error("sim", "unknown --mutation '%s'", v);
            i++;
        } else if (strcmp(argv[i], "--trace") == 0) {
            trace = true;
        } else if (strcmp(argv[i], "--parent-gate") == 0) {
            gate = true;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = true;
        } else {
            return certa_usage_error("sim", "unexpected argument '%s'", argv[i]);
        }
    }
    certa_sim_result tot;
    memset(&tot, 0, sizeof tot);
    uint64_t runs = 0, failed = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint64_t seed = a; seed <= b; seed++) {
        certa_sim_opts o;
        certa_sim_opts_default(&o, seed, (uint16_t)n, faults);
        o.scenario = (certa_sim_scenario)scenario;
        o.mutation = mutation;
        o.ledger_mutation = ledger_mutation;
        o.requests = (uint32_t)reqs;
        o.fault_ms = fault_ms;
        o.parent_gate = gate;
        o.trace = stderr;
        o.trace_all = trace;
        certa_sim_result r;
        bool ok = certa_sim_run(&o, &r);
        runs++;
        if (!ok) {
            failed++;
            char cmd[256];
            certa_sim_replay_cmd(&o, cmd, sizeof cmd);
            printf("seed %" PRIu64 ": VIOLATION %s\n  replay: %s\n", seed, r.violation, cmd);
        }
        if (!quiet && (a == b || !ok))
            printf("seed %" PRIu64 ": height %" PRIu64 ", %" PRIu64 " view changes, %" PRIu64
                   " messages, %" PRIu64 " steps, %" PRIu64 " ms simulated\n",
                   seed, r.height, r.view_changes, r.messages, r.steps, r.sim_ms);
        tot.height += r.height;
        tot.requests_executed += r.requests_executed;
        tot.duplicates_rejected += r.duplicates_rejected;
        tot.view_changes += r.view_changes;
        tot.new_views += r.new_views;
        tot.checkpoints += r.checkpoints;
        tot.blocks_fetched += r.blocks_fetched;
        tot.messages += r.messages;
        tot.net_dropped += r.net_dropped;
        tot.net_duplicated += r.net_duplicated;
        tot.replica_dropped += r.replica_dropped;
        tot.crashes += r.crashes;
        tot.repairs += r.repairs;
        tot.byz_actions += r.byz_actions;
        tot.lone_higher_view += r.lone_higher_view;
        tot.steps += r.steps;
        tot.sim_ms += r.sim_ms;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("seeds %" PRIu64 "..%" PRIu64 " (n=%llu): %" PRIu64 " runs, %" PRIu64 " violations\n"
           "  blocks committed (chain heights, summed)  %" PRIu64 "\n"
           "  requests executed (honest replicas)       %" PRIu64 "\n"
           "  duplicate requests rejected at execution  %" PRIu64 "\n"
           "  view changes started / new views          %" PRIu64 " / %" PRIu64 "\n"
           "  stable checkpoints                        %" PRIu64 "\n"
           "  blocks caught up by state transfer        %" PRIu64 "\n"
           "  messages sent                             %" PRIu64 "\n"
           "  messages dropped by the network           %" PRIu64 " (duplicated %" PRIu64 ")\n"
           "  messages dropped and counted by replicas  %" PRIu64 "\n"
           "  crashes (restarts that repaired blocks)   %" PRIu64 " (%" PRIu64 ")\n"
           "  Byzantine actions                         %" PRIu64 "\n"
           "  left alone in a higher view, following    %" PRIu64 "\n"
           "  steps / simulated seconds                 %" PRIu64 " / %.1f\n"
           "  wall time                                 %.2f s\n",
           a, b, n, runs, failed, tot.height, tot.requests_executed,
           tot.duplicates_rejected, tot.view_changes, tot.new_views, tot.checkpoints,
           tot.blocks_fetched, tot.messages, tot.net_dropped, tot.net_duplicated,
           tot.replica_dropped, tot.crashes, tot.repairs, tot.byz_actions, tot.lone_higher_view, tot.steps,
           (double)tot.sim_ms / 1000.0, secs);
    return failed ? CERTA_EXIT_FAIL : CERTA_EXIT_OK;
}
