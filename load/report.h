/* report: what a replay measured, and its JSON and offline HTML reports.
 *
 * certa_load_run collects a replay's samples as they happen: each offered
 * batch, each receipt (latency from the batch's scheduled time, results by
 * reason) and each failure (refused, lost, transport error). It keeps a
 * whole-run latency histogram and a time series of fixed-width intervals
 * (throughput, p50 and p99 per interval), all in fixed memory. The report
 * writers turn a finished run into JSON (report.json) and into one HTML file
 * with inline SVG plots (throughput and p50/p99 over time, latency CDF) that
 * needs nothing but a browser. Times are nanoseconds since the run's start.
 * One thread records into a run.
 */
#ifndef CERTA_LOAD_REPORT_H
#define CERTA_LOAD_REPORT_H

#include <stdio.h>

#include "hist.h"

#define CERTA_LOAD_SERIES_MAX 1024u
#define CERTA_LOAD_REASONS_MAX 32u
#define CERTA_LOAD_REASON_NAME_BYTES 32u

typedef struct certa_load_point {
    double t_s;                /* interval start, seconds since run start */
    uint64_t offered_events;   /* events whose batch was sent in the interval */
    uint64_t committed_events; /* events whose receipt came in the interval */
    uint64_t failed_events;    /* refused, lost or errored in the interval */
    uint64_t p50_ns, p99_ns;   /* of receipts in the interval; 0 if none */
} certa_load_point;

/* Why a batch got no receipt. */
typedef enum certa_load_fail {
    CERTA_LOAD_FAIL_REFUSED = 0, /* the validator refused it (overload, busy) */
    CERTA_LOAD_FAIL_LOST = 1,    /* no answer before the drain deadline */
    CERTA_LOAD_FAIL_ERROR = 2,   /* transport or protocol error */
    CERTA_LOAD_FAIL_KINDS = 3,
} certa_load_fail;

typedef struct certa_load_run {
    char scenario[64];
    char trace[256];
    char endpoints[256];
    double speed;
    uint64_t started_unix_ms; /* wall clock at the start, for the report */
    double duration_s;        /* wall time from start to finish */
    double trace_span_s;      /* trace time covered */

    uint64_t offered_batches, offered_events;
    uint64_t committed_batches, committed_events;
    uint64_t reason_events[CERTA_LOAD_REASONS_MAX]; /* index 0 = OK */
    char reason_names[CERTA_LOAD_REASONS_MAX][CERTA_LOAD_REASON_NAME_BYTES];
    uint64_t failed_batches[CERTA_LOAD_FAIL_KINDS];
    uint64_t failed_events[CERTA_LOAD_FAIL_KINDS];
    uint64_t expected_rejected_events; /* what the trace intended */
    uint64_t send_lag_max_ns; /* worst lateness of a send vs its schedule */
    uint64_t late_sends;      /* sends more than 1 ms late */

    certa_load_hist latency;  /* per event, ns from scheduled time to receipt */
    /* aggregation (replay's agg.window_us > 0): per event, ns from its
     * scheduled time to the send of the batch it was sealed in (part of
     * latency); aggregated_batches: batches sealed and sent */
    uint64_t aggregate_window_us;
    certa_load_hist agg_wait;
    uint64_t aggregated_batches;

    /* time series */
    uint64_t interval_ns;
    uint32_t point_count;
    certa_load_point points[CERTA_LOAD_SERIES_MAX];
    certa_load_hist cur; /* receipts of the current interval */
    uint64_t cur_index;  /* interval index of points[point_count - 1] */
} certa_load_run;

/* Allocates a run whose series interval fits expected_s into the series
 * (at least 1 s wide). Returns NULL when out of memory. */
certa_load_run *certa_load_run_new(double expected_s);
void certa_load_run_free(certa_load_run *r);

/* Names reason code `code` (0 is "ok"). Unnamed codes print as "code_N". */
void certa_load_run_name_reason(certa_load_run *r, uint32_t code, const char *name);

/* Times passed to offer, commit and fail must not decrease (replay calls
 * them in wall-clock order); an earlier time counts in the current interval.
 * A batch of `events` was sent at now_ns (scheduled at sched_ns). */
void certa_load_run_offer(certa_load_run *r, uint64_t now_ns, uint64_t sched_ns,
                          uint32_t events);
/* A receipt came at now_ns for a batch scheduled at sched_ns: its events'
 * results by reason code (reasons[0] = OK; codes >= CERTA_LOAD_REASONS_MAX
 * count in the last slot). */
void certa_load_run_commit(certa_load_run *r, uint64_t now_ns, uint64_t sched_ns,
                           const uint32_t *reason_counts, uint32_t reason_slots);
/* The same for a batch an aggregator sealed from parts of the trace's
 * batches: part i's parts_events[i] events were scheduled at
 * parts_sched_ns[i], and each counts its own latency. */
void certa_load_run_commit_parts(certa_load_run *r, uint64_t now_ns,
                                 const uint64_t *parts_sched_ns, const uint32_t *parts_events,
                                 uint32_t parts, const uint32_t *reason_counts,
                                 uint32_t reason_slots);
void certa_load_run_fail(certa_load_run *r, uint64_t now_ns, certa_load_fail kind,
                         uint32_t events);
/* Closes the last interval; duration_s = end_ns. */
void certa_load_run_finish(certa_load_run *r, uint64_t end_ns);

/* Rates over the run's wall duration. */
double certa_load_run_offered_eps(const certa_load_run *r);
double certa_load_run_committed_eps(const certa_load_run *r);
uint64_t certa_load_run_failed_batches(const certa_load_run *r);

/* Reports. Return CERTA_E_IO naming the path on failure. */
certa_err certa_load_report_json(const certa_load_run *r, const char *path,
                                 certa_errinfo *ei);
certa_err certa_load_report_html(const certa_load_run *r, const char *path,
                                 certa_errinfo *ei);
/* The three plots as standalone SVG files PREFIX-throughput.svg,
 * PREFIX-latency.svg and PREFIX-cdf.svg (for documents that embed images). */
certa_err certa_load_report_svgs(const certa_load_run *r, const char *prefix,
                                 certa_errinfo *ei);
/* The same JSON as text (caller frees with free()). */
char *certa_load_report_json_text(const certa_load_run *r);

#endif
