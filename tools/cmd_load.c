/* certa load: the city load model's command line: describe a scenario,
 * generate a trace, show a trace, replay it open loop and find the maximum
 * speed within the latency SLO. The work lives in load/; this file
 * only parses options, prints and chooses exit codes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certa/codec.h"
#include "certa/crypto.h"
#include "certa/genesis.h"
#include "cli.h"
#include "gen.h"
#include "replay.h"
#include "report.h"
#include "scenario.h"
#include "trace.h"

static const char usage[] =
    "usage: certa load describe [--scenario FILE|beijing] [--scale X] [--json]\n"
    "       certa load gen --scenario FILE|beijing --hours H --out TRACE --genesis DIR\n"
    "                      [--seed S] [--scale X] [--start-ms MS] [--quiet]\n"
    "       certa load info --trace TRACE\n"
    "       certa load replay --trace TRACE --to ENDPOINTS [--genesis DIR] [--speed X]\n"
    "                      [--duration S] [--drain S] [--window N] [--report PREFIX]\n"
    "                      [--svg] [--quiet] [--aggregate-ms MS [--aggregate-events N]]\n"
    "       certa load find-max --trace TRACE --to ENDPOINTS [--genesis DIR] [--slo-ms MS]\n"
    "                      [--step-s S] [--start-speed X] [--factor F] [--refine N]\n"
    "                      [--confirm N] [--drain S] [--window N] [--report FILE.json]\n"
    "                      [--quiet] [--aggregate-ms MS [--aggregate-events N]]\n\n"
    "describe   prints a scenario's centres, counters and derived peak-hour rates.\n"
    "gen        writes a deterministic trace of signed event batches: the same\n"
    "           scenario, scale, hours, seed (default 1), start time (default: the\n"
    "           genesis time) and genesis give the same bytes. --scale is a number\n"
    "           or city (1), city10 (10) or country (64.5).\n"
    "info       checks a trace (checksum, records) and prints its header and counts.\n"
    "replay     sends each batch at its scheduled time divided by --speed, whether\n"
    "           or not earlier ones were answered; latency runs from the scheduled\n"
    "           time. Writes PREFIX.json and PREFIX.html (default load-report);\n"
    "           --svg also writes the plots as PREFIX-{throughput,latency,cdf}.svg.\n"
    "find-max   ramps the speed (x F per step while passing, then bisects) until p99\n"
    "           exceeds the SLO (default 100 ms) or a batch is refused or lost, and\n"
    "           prints the highest passing speed: the headroom over the trace. A\n"
    "           failing step is tried --confirm more times (default 1) first.\n\n"
    "ENDPOINTS: genesis (every validator of DIR/genesis.json), a comma-separated\n"
    "list of validators' client endpoints (tcp://HOST:PORT as in genesis.json),\n"
    "or loopback[:LATENCY_US[:EVENTS_PER_S[:QUEUE]]] (an in-process fake cluster).\n"
    "--window caps batches outstanding on the network (default 4096); a send\n"
    "that finds it full counts as refused.\n"
    "--aggregate-ms MS (replay, find-max) sends as integrators that aggregate:\n"
    "each integrator's events wait in one open batch, sealed and signed again\n"
    "(keys from --genesis DIR's integrators/) once its first event waited MS\n"
    "(a decimal, e.g. 2.5) or it holds --aggregate-events N (default 4096);\n"
    "latency still runs from each trace batch's scheduled time (docs/LOAD.md).\n"
    "Exit codes: 0 ok, 1 replay lost or refused batches / find-max found no\n"
    "passing speed, 2 usage, 3 runtime error.\n";

typedef struct opts {
    const char *scenario, *trace, *out, *genesis, *to, *report;
    double scale, speed, duration_s, drain_s, slo_ms, step_s, start_speed, factor, aggregate_ms;
    unsigned long long hours, seed, start_ms, refine, window, confirm, aggregate_events;
    bool json, quiet, svg;
} opts;

static int need(int argc, char **argv, int i)
{
    return i + 1 < argc && argv[i + 1][0] != '\0';
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    double d = strtod(s, &end);
    if (end == s || *end != '\0' || !(d >= lo && d <= hi))
        return -1;
    *out = d;
    return 0;
}

/* Parses the options every subcommand shares; returns -1 after printing a
 * usage error. */
static int parse(const char *cmd, int argc, char **argv, opts *o)
{
    *o = (opts){.scenario = "beijing", .scale = 1, .speed = 1, .drain_s = 10,
                .slo_ms = 100, .step_s = 10, .start_speed = 1, .factor = 2,
                .seed = 1, .refine = 3, .window = 4096, .confirm = 1, .report = NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define STR(name, field)                                                      \
    if (strcmp(a, name) == 0) {                                               \
        if (!need(argc, argv, i))                                             \
            return certa_usage_error(cmd, "%s needs a value", name), -1;      \
        o->field = argv[++i];                                                 \
        continue;                                                             \
    }
#define DBL(name, field, lo, hi)                                              \
    if (strcmp(a, name) == 0) {                                               \
        if (!need(argc, argv, i) || parse_double(argv[i + 1], lo, hi, &o->field) != 0) \
            return certa_usage_error(cmd, "%s needs a number in [%g, %g]", name, \
                                     (double)(lo), (double)(hi)), -1;         \
        i++;                                                                  \
        continue;                                                             \
    }
#define U64(name, field, lo, hi)                                              \
    if (strcmp(a, name) == 0) {                                               \
        if (!need(argc, argv, i) || certa_parse_u64(argv[i + 1], lo, hi, &o->field) != 0) \
            return certa_usage_error(cmd, "%s needs an integer in [%llu, %llu]", \
                                     name, (unsigned long long)(lo),          \
                                     (unsigned long long)(hi)), -1;           \
        i++;                                                                  \
        continue;                                                             \
    }
        STR("--scenario", scenario)
        STR("--trace", trace)
        STR("--out", out)
        STR("--genesis", genesis)
        STR("--to", to)
        STR("--report", report)
        DBL("--speed", speed, 1e-6, 1e9)
        DBL("--duration", duration_s, 0, 1e7)
        DBL("--drain", drain_s, 0, 3600)
        DBL("--slo-ms", slo_ms, 1e-3, 1e6)
        DBL("--step-s", step_s, 0.01, 86400)
        DBL("--start-speed", start_speed, 1e-6, 1e9)
        DBL("--factor", factor, 1.01, 100)
        U64("--hours", hours, 1, 168)
        U64("--seed", seed, 0, UINT64_MAX)
        U64("--start-ms", start_ms, 7200000, 1ull << 62)
        U64("--refine", refine, 0, 20)
        U64("--window", window, 1, 1u << 20)
        U64("--confirm", confirm, 0, 10)
        DBL("--aggregate-ms", aggregate_ms, 0.001, 60000)
        U64("--aggregate-events", aggregate_events, 1, CERTA_BATCH_EVENTS_MAX)
        if (strcmp(a, "--scale") == 0) {
            if (!need(argc, argv, i) || certa_load_scale_parse(argv[i + 1], &o->scale) != 0)
                return certa_usage_error(cmd, "--scale needs a positive number, city, "
                                              "city10 or country"), -1;
            i++;
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        }
        if (strcmp(a, "--svg") == 0) {
            o->svg = true;
            continue;
        }
        if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
            continue;
        }
        return certa_usage_error(cmd, "unexpected argument '%s'", a), -1;
#undef STR
#undef DBL
#undef U64
    }
    return 0;
}

static int cmd_describe(const opts *o)
{
    certa_load_scenario s;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (certa_load_scenario_load(o->scenario, &s, &ei) != CERTA_OK)
        return certa_fail("load describe", "%s", certa_errmsg(&ei));
    if (o->json) {
        char *j = certa_load_scenario_to_json(&s);
        if (j == NULL)
            return certa_fail("load describe", "out of memory");
        puts(j);
        free(j);
        return CERTA_EXIT_OK;
    }
    certa_load_summary m;
    certa_load_scenario_summarize(&s, o->scale, &m);
    printf("scenario %s (scale %g)\n", s.name, o->scale);
    for (uint32_t g = 0; g < s.group_count; g++)
        printf("  %-10s %6u centres x %4u counters, open %02u:00-%02u:00\n", s.groups[g].kind,
               s.groups[g].count, s.groups[g].counters, s.groups[g].open_hour,
               s.groups[g].close_hour);
    printf("centres                  %u\n", m.centres);
    printf("counters                 %u\n", m.counters);
    printf("peak hour                %02u:00-%02u:00\n", s.peak_hour, s.peak_hour + 1);
    printf("cases per counter-hour   %g (at the peak)\n", s.cases_per_counter_hour);
    printf("peak-hour counter cases  %.0f\n", m.peak_cases_per_hour);
    printf("day counter cases        %.0f (peak share %.1f%%)\n", m.day_cases,
           100 * m.peak_share);
    printf("events per case          %.2f (incl. online-only grants)\n", m.events_per_case);
    printf("peak-hour events         %.0f = %.1f events/s\n", m.peak_events_per_hour,
           m.peak_events_per_s);
    printf("intended rejections      %.2f%% of events\n", 100 * m.expected_reject_share);
    return CERTA_EXIT_OK;
}

static int cmd_gen(const opts *o)
{
    if (o->out == NULL || o->genesis == NULL || o->hours == 0)
        return certa_usage_error("load gen", "--hours H, --out TRACE and --genesis DIR are required");
    certa_load_scenario s;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (certa_load_scenario_load(o->scenario, &s, &ei) != CERTA_OK)
        return certa_fail("load gen", "%s", certa_errmsg(&ei));
    certa_load_gen_opts go = {.scenario = &s, .scale = o->scale, .hours = (uint32_t)o->hours,
                              .seed = o->seed, .start_unix_ms = o->start_ms,
                              .genesis_dir = o->genesis, .out_path = o->out,
                              .progress = !o->quiet && isatty(STDERR_FILENO)};
    certa_load_gen_stats st;
    if (certa_load_gen(&go, &st, &ei) != CERTA_OK)
        return certa_fail("load gen", "%s", certa_errmsg(&ei));
    printf("trace %s: scenario %s, scale %g, %llu h from %02u:00, seed %llu\n", o->out, s.name,
           o->scale, o->hours, s.start_hour, o->seed);
    printf("  %llu counter cases, %llu online-only grants\n", (unsigned long long)st.cases,
           (unsigned long long)st.online_grants);
    printf("  %llu events in %llu batches, %.1f MB\n", (unsigned long long)st.events,
           (unsigned long long)st.batches, (double)st.bytes / 1e6);
    printf("  events: grant %llu, redeem %llu, confirm %llu, sign %llu, photo %llu, revoke %llu\n",
           (unsigned long long)st.events_by_kind[1], (unsigned long long)st.events_by_kind[2],
           (unsigned long long)st.events_by_kind[3], (unsigned long long)st.events_by_kind[4],
           (unsigned long long)st.events_by_kind[5], (unsigned long long)st.events_by_kind[6]);
    printf("  intended rejections: wrong code %llu, expired %llu, revoked %llu\n",
           (unsigned long long)st.expected_by_intent[0], (unsigned long long)st.expected_by_intent[1],
           (unsigned long long)st.expected_by_intent[2]);
    printf("  generated in %.2f s (%.2f s signing): %.0f batches/s, %.0f events/s\n", st.seconds,
           st.sign_seconds, st.seconds > 0 ? (double)st.batches / st.seconds : 0,
           st.seconds > 0 ? (double)st.events / st.seconds : 0);
    return CERTA_EXIT_OK;
}

static int cmd_info(const opts *o)
{
    if (o->trace == NULL)
        return certa_usage_error("load info", "--trace TRACE is required");
    certa_load_trace *t = NULL;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (certa_load_trace_open(o->trace, &t, &ei) != CERTA_OK)
        return certa_fail("load info", "%s", certa_errmsg(&ei));
    const certa_load_trace_info *in = certa_load_trace_get_info(t);
    char gh[2 * CERTA_HASH_BYTES + 1];
    certa_hex_encode(in->genesis_hash, CERTA_HASH_BYTES, gh);
    printf("trace %s (checksum ok)\n", o->trace);
    printf("  scenario %s, scale %.3f, %u h from %02u:00, seed %llu\n", in->scenario,
           in->scale_milli / 1000.0, in->hours, in->start_hour, (unsigned long long)in->seed);
    printf("  start %llu ms (unix), genesis %s\n", (unsigned long long)in->start_unix_ms, gh);
    printf("  %llu batches, %llu events over %.1f s of trace time (%.1f events/s)\n",
           (unsigned long long)in->records, (unsigned long long)in->events,
           (double)in->last_at_us / 1e6,
           in->last_at_us > 0 ? (double)in->events / ((double)in->last_at_us / 1e6) : 0);
    /* the steady part: events per trace minute, busiest minute */
    uint64_t minute = UINT64_MAX, in_minute = 0, best = 0, best_minute = 0;
    size_t pos = CERTA_LOAD_TRACE_HEADER_BYTES;
    certa_load_trace_rec rec;
    while (certa_load_trace_next(t, &pos, &rec)) {
        uint64_t m = rec.at_us / 60000000ull;
        if (m != minute) {
            minute = m;
            in_minute = 0;
        }
        in_minute += rec.events;
        if (in_minute > best) {
            best = in_minute;
            best_minute = m;
        }
    }
    printf("  busiest minute: %llu events (%.1f events/s), minute %llu of the trace\n",
           (unsigned long long)best, (double)best / 60.0, (unsigned long long)best_minute);
    printf("  intended rejections %llu: wrong code %llu, expired %llu, revoked %llu\n",
           (unsigned long long)in->expected_rejects,
           (unsigned long long)in->expected_by_intent[0],
           (unsigned long long)in->expected_by_intent[1],
           (unsigned long long)in->expected_by_intent[2]);
    certa_load_trace_close(t);
    return CERTA_EXIT_OK;
}

static int open_both(const char *cmd, const opts *o, certa_load_trace **t,
                     certa_load_transport *tr)
{
    if (o->trace == NULL || o->to == NULL)
        return certa_usage_error(cmd, "--trace TRACE and --to ENDPOINTS are required");
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (certa_load_trace_open(o->trace, t, &ei) != CERTA_OK)
        return certa_fail(cmd, "%s", certa_errmsg(&ei));
    char gpath[4096];
    if (o->genesis != NULL)
        snprintf(gpath, sizeof gpath, "%s/genesis.json", o->genesis);
    if (certa_load_transport_open(o->to, o->genesis != NULL ? gpath : NULL,
                                  (uint32_t)o->window, tr, &ei) != CERTA_OK) {
        certa_load_trace_close(*t);
        return certa_fail(cmd, "%s", certa_errmsg(&ei));
    }
    return CERTA_EXIT_OK;
}

/* The integrators' keys for --aggregate-ms: DIR/integrators/NAME.pem for
 * every genesis integrator that has one there (checked against genesis). */
typedef struct keyset {
    certa_genesis *g;
    certa_key **keys;
} keyset;

static void keyset_free(keyset *k)
{
    if (k->g != NULL && k->keys != NULL)
        for (uint32_t i = 0; i < k->g->integrator_count; i++)
            certa_key_free(k->keys[i]);
    free(k->keys);
    certa_genesis_free(k->g);
    *k = (keyset){0};
}

static int aggregation(const char *cmd, const opts *o, keyset *k, certa_load_agg_opts *out)
{
    *out = (certa_load_agg_opts){0};
    if (o->aggregate_ms <= 0) {
        if (o->aggregate_events > 0)
            return certa_usage_error(cmd, "--aggregate-events needs --aggregate-ms");
        return CERTA_EXIT_OK;
    }
    if (o->genesis == NULL)
        return certa_usage_error(cmd, "--aggregate-ms needs --genesis DIR (the integrators' keys)");
    char path[4096];
    snprintf(path, sizeof path, "%s/genesis.json", o->genesis);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (certa_genesis_load(path, &k->g, &ei) != CERTA_OK)
        return certa_fail(cmd, "%s", certa_errmsg(&ei));
    k->keys = calloc(k->g->integrator_count ? k->g->integrator_count : 1, sizeof *k->keys);
    if (k->keys == NULL)
        return certa_fail(cmd, "out of memory");
    uint32_t loaded = 0;
    for (uint32_t i = 0; i < k->g->integrator_count; i++) {
        snprintf(path, sizeof path, "%s/integrators/%s.pem", o->genesis, k->g->integrators[i].name);
        if (access(path, F_OK) != 0)
            continue; /* a batch of this integrator will fail the replay, naming it */
        if (certa_load_integrator_key(o->genesis, k->g, (uint16_t)i, &k->keys[i], &ei) !=
            CERTA_OK)
            return certa_fail(cmd, "%s", certa_errmsg(&ei));
        loaded++;
    }
    if (loaded == 0)
        return certa_fail(cmd, "--aggregate-ms: no integrator key in %s/integrators", o->genesis);
    *out = (certa_load_agg_opts){.window_us = (uint64_t)llround(o->aggregate_ms * 1000.0),
                                 .events_max = (uint32_t)o->aggregate_events,
                                 .keys = k->keys,
                                 .key_count = k->g->integrator_count};
    return CERTA_EXIT_OK;
}

static int cmd_replay(const opts *o)
{
    certa_load_trace *t = NULL;
    certa_load_transport tr;
    keyset ks = {0};
    certa_load_agg_opts agg;
    int rc = aggregation("load replay", o, &ks, &agg);
    if (rc != CERTA_EXIT_OK) {
        keyset_free(&ks);
        return rc;
    }
    rc = open_both("load replay", o, &t, &tr);
    if (rc != CERTA_EXIT_OK) {
        keyset_free(&ks);
        return rc;
    }
    const certa_load_trace_info *in = certa_load_trace_get_info(t);
    double expected = o->duration_s > 0 ? o->duration_s
                                         : (double)in->last_at_us / 1e6 / o->speed;
    certa_load_run *run = certa_load_run_new(expected);
    if (run == NULL) {
        tr.destroy(tr.ctx);
        certa_load_trace_close(t);
        keyset_free(&ks);
        return certa_fail("load replay", "out of memory");
    }
    snprintf(run->scenario, sizeof run->scenario, "%s", in->scenario);
    snprintf(run->trace, sizeof run->trace, "%s", o->trace);
    snprintf(run->endpoints, sizeof run->endpoints, "%s", o->to);
    certa_load_replay_opts ro;
    certa_load_replay_opts_default(&ro);
    ro.speed = o->speed;
    ro.duration_s = o->duration_s;
    ro.drain_s = o->drain_s;
    ro.progress = !o->quiet;
    ro.agg = agg;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e = certa_load_replay(t, &tr, &ro, run, NULL, &ei);
    tr.destroy(tr.ctx);
    certa_load_trace_close(t);
    keyset_free(&ks);
    if (e != CERTA_OK) {
        certa_load_run_free(run);
        return certa_fail("load replay", "%s", certa_errmsg(&ei));
    }
    const char *prefix = o->report ? o->report : "load-report";
    char jp[4096], hp[4096];
    snprintf(jp, sizeof jp, "%s.json", prefix);
    snprintf(hp, sizeof hp, "%s.html", prefix);
    if (certa_load_report_json(run, jp, &ei) != CERTA_OK ||
        certa_load_report_html(run, hp, &ei) != CERTA_OK ||
        (o->svg && certa_load_report_svgs(run, prefix, &ei) != CERTA_OK)) {
        certa_load_run_free(run);
        return certa_fail("load replay", "%s", certa_errmsg(&ei));
    }
    const certa_load_hist *h = &run->latency;
    printf("offered   %llu events in %llu batches, %.1f events/s over %.1f s\n",
           (unsigned long long)run->offered_events, (unsigned long long)run->offered_batches,
           certa_load_run_offered_eps(run), run->duration_s);
    printf("committed %llu events in %llu batches, %.1f events/s\n",
           (unsigned long long)run->committed_events, (unsigned long long)run->committed_batches,
           certa_load_run_committed_eps(run));
    printf("latency   p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
           (double)certa_load_hist_percentile(h, 50) / 1e6, (double)certa_load_hist_percentile(h, 99) / 1e6,
           (double)certa_load_hist_percentile(h, 99.9) / 1e6, (double)h->max / 1e6);
    printf("failed    refused %llu, lost %llu, error %llu batches\n",
           (unsigned long long)run->failed_batches[CERTA_LOAD_FAIL_REFUSED],
           (unsigned long long)run->failed_batches[CERTA_LOAD_FAIL_LOST],
           (unsigned long long)run->failed_batches[CERTA_LOAD_FAIL_ERROR]);
    printf("reports   %s, %s\n", jp, hp);
    rc = certa_load_run_failed_batches(run) > 0 ? CERTA_EXIT_FAIL : CERTA_EXIT_OK;
    certa_load_run_free(run);
    return rc;
}

static int cmd_find_max(const opts *o)
{
    certa_load_trace *t = NULL;
    certa_load_transport tr;
    keyset ks = {0};
    certa_load_agg_opts agg;
    int rc = aggregation("load find-max", o, &ks, &agg);
    if (rc != CERTA_EXIT_OK) {
        keyset_free(&ks);
        return rc;
    }
    rc = open_both("load find-max", o, &t, &tr);
    if (rc != CERTA_EXIT_OK) {
        keyset_free(&ks);
        return rc;
    }
    const certa_load_trace_info *in = certa_load_trace_get_info(t);
    certa_load_findmax_opts fo;
    certa_load_findmax_opts_default(&fo);
    fo.speed_start = o->start_speed;
    fo.factor = o->factor;
    fo.step_s = o->step_s;
    fo.slo_p99_ms = o->slo_ms;
    fo.refine = (uint32_t)o->refine;
    fo.confirm = (uint32_t)o->confirm;
    fo.drain_s = o->drain_s;
    fo.progress = !o->quiet;
    fo.agg = agg;
    certa_load_findmax_result *res = calloc(1, sizeof *res);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e = res == NULL ? CERTA_E_NOMEM : certa_load_find_max(t, &tr, &fo, res, &ei);
    tr.destroy(tr.ctx);
    keyset_free(&ks);
    double trace_eps = in->last_at_us > 0 ? (double)in->events / ((double)in->last_at_us / 1e6) : 0;
    double scale = in->scale_milli / 1000.0;
    certa_load_trace_close(t);
    if (e != CERTA_OK) {
        free(res);
        return certa_fail("load find-max", "%s", certa_errmsg(&ei));
    }
    printf("%8s %12s %12s %9s %9s %7s  %s\n", "speed", "offered/s", "committed/s", "p50 ms",
           "p99 ms", "failed", "result");
    for (uint32_t i = 0; i < res->step_count; i++) {
        const certa_load_findmax_step *s = &res->steps[i];
        printf("%8.3g %12.0f %12.0f %9.2f %9.2f %7llu  %s%s\n", s->speed, s->offered_eps,
               s->committed_eps, s->p50_ms, s->p99_ms, (unsigned long long)s->failed_batches,
               s->exhausted ? "trace ran out" : s->pass ? "pass" : "FAIL",
               s->retry ? " (retry)" : "");
    }
    double best_offered = 0;
    for (uint32_t i = 0; i < res->step_count; i++)
        if (res->steps[i].pass && res->steps[i].speed == res->best_speed)
            best_offered = res->steps[i].offered_eps;
    if (res->best_speed > 0)
        printf("headroom: %.3g x the trace's load within p99 <= %g ms%s;\n"
               "          the trace is %g x the %s scenario, so %.4g x the scenario at scale 1;\n"
               "          the best passing step offered %.0f events/s\n",
               res->best_speed, o->slo_ms,
               res->bounded ? "" : " (no failing speed reached: a lower bound)", scale,
               in->scenario, res->best_speed * scale, best_offered);
    else
        printf("headroom: none: the first speed tried already failed the SLO\n");
    if (res->exhausted)
        printf("note: the trace ran out; generate a longer or larger one (--hours, --scale)\n");
    if (o->report != NULL) {
        FILE *f = fopen(o->report, "w");
        if (f == NULL) {
            free(res);
            return certa_fail("load find-max", "%s: cannot write", o->report);
        }
        fprintf(f, "{\n  \"trace\": \"%s\",\n  \"aggregate_ms\": %g,\n"
                   "  \"slo_p99_ms\": %g,\n  \"best_speed\": %g,\n"
                   "  \"bounded\": %s,\n  \"trace_scale\": %g,\n  \"best_offered_eps\": %.1f,\n"
                   "  \"trace_events_per_s\": %.3f,\n  \"steps\": [\n",
                o->trace, o->aggregate_ms, o->slo_ms, res->best_speed, res->bounded ? "true" : "false", scale,
                best_offered, trace_eps);
        for (uint32_t i = 0; i < res->step_count; i++) {
            const certa_load_findmax_step *s = &res->steps[i];
            fprintf(f, "    {\"speed\": %g, \"offered_eps\": %.1f, \"committed_eps\": %.1f, "
                       "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"failed_batches\": %llu, "
                       "\"committed_events\": %llu, \"committed_batches\": %llu, "
                       "\"aggregate_wait_p99_ms\": %.3f, "
                       "\"pass\": %s, \"retry\": %s}%s\n",
                    s->speed, s->offered_eps, s->committed_eps, s->p50_ms, s->p99_ms,
                    (unsigned long long)s->failed_batches,
                    (unsigned long long)s->committed_events,
                    (unsigned long long)s->committed_batches, s->agg_wait_p99_ms,
                    s->pass ? "true" : "false",
                    s->retry ? "true" : "false",
                    i + 1 < res->step_count ? "," : "");
        }
        fprintf(f, "  ]\n}\n");
        fclose(f);
    }
    rc = res->best_speed > 0 ? CERTA_EXIT_OK : CERTA_EXIT_FAIL;
    free(res);
    return rc;
}

int certa_cmd_load(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CERTA_EXIT_USAGE : CERTA_EXIT_OK;
    }
    if (certa_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CERTA_EXIT_OK;
    }
    const char *sub = argv[1];
    char cmd[64];
    snprintf(cmd, sizeof cmd, "load %s", sub);
    opts o;
    if (parse(cmd, argc - 1, argv + 1, &o) != 0)
        return CERTA_EXIT_USAGE;
    if (strcmp(sub, "describe") == 0)
        return cmd_describe(&o);
    if (strcmp(sub, "gen") == 0)
        return cmd_gen(&o);
    if (strcmp(sub, "info") == 0)
        return cmd_info(&o);
    if (strcmp(sub, "replay") == 0)
        return cmd_replay(&o);
    if (strcmp(sub, "find-max") == 0)
        return cmd_find_max(&o);
    return certa_usage_error("load", "unknown subcommand '%s'", sub);
}
