/* replay: open-loop replay of a load trace through a pluggable transport,
 * and the find-max ramp.
 *
 * Open loop: each batch is handed to the transport at its scheduled time
 * (trace time divided by the speed factor) whether or not earlier batches
 * were answered, and its latency runs from that scheduled time, not from
 * when it was actually sent: a stall in the cluster or in the sender shows
 * up in the figures instead of hiding (no coordinated omission).
 *
 * The transport is a small interface (submit a batch without waiting, poll
 * for answers) so that the validator's client protocol plugs in beside the
 * loopback fake the tests use. All calls come from the replay thread.
 */
#ifndef CERTA_LOAD_REPLAY_H
#define CERTA_LOAD_REPLAY_H

#include "certa/crypto.h"
#include "report.h"
#include "trace.h"

typedef enum certa_load_status {
    CERTA_LOAD_COMMITTED = 0, /* committed; reason_counts holds the results */
    CERTA_LOAD_REFUSED = 1,   /* refused for overload or by admission */
    CERTA_LOAD_ERROR = 2,     /* transport or protocol error */
    CERTA_LOAD_LOST = 3,      /* gave up waiting (deadline passed) */
} certa_load_status;

/* One answer for one submitted batch. */
typedef struct certa_load_answer {
    uint64_t token;  /* as given to submit */
    uint8_t status;  /* certa_load_status */
    uint32_t reason_counts[CERTA_LOAD_REASONS_MAX]; /* events by result code, 0 = OK */
} certa_load_answer;

typedef struct certa_load_transport {
    void *ctx;
    /* Hands one signed batch (len bytes, `events` events) to the transport
     * without waiting for its answer. Returns CERTA_OK when accepted for
     * sending, CERTA_E_BUSY when refused at once for overload (counted as
     * refused), anything else for an error (counted as an error). The batch
     * bytes are only borrowed for the call. */
    certa_err (*submit)(void *ctx, uint64_t token, const uint8_t *batch, size_t len,
                        uint32_t events, certa_errinfo *ei);
    /* Waits at most timeout_us for answers and stores up to cap of them;
     * returns how many. */
    size_t (*poll)(void *ctx, certa_load_answer *out, size_t cap, uint64_t timeout_us);
    /* Name of a result code for reports; may be NULL. */
    const char *(*reason_name)(void *ctx, uint32_t code);
    void (*destroy)(void *ctx);
} certa_load_transport;

/* ---- loopback fake ----
 * Commits every batch after base_latency_us, served first in first out by a
 * single server of capacity events_per_s (0 = unlimited); at most
 * queue_batches outstanding, beyond which submit refuses with CERTA_E_BUSY.
 * reject_every > 0 makes every reject_every-th event fail with code 1
 * ("rejected"). Uses the monotonic clock: behaves like a cluster in time. */
typedef struct certa_load_fake_opts {
    uint64_t base_latency_us;
    double events_per_s;
    uint32_t queue_batches;
    uint32_t reject_every;
} certa_load_fake_opts;

certa_err certa_load_fake_new(const certa_load_fake_opts *o, certa_load_transport *out,
                              certa_errinfo *ei);

/* ---- aggregation ----
 * A centre's counter system that signs one batch every few milliseconds
 * for all its counters instead of one per counter case
 * (certa/aggregate.h): each trace batch's events go to its integrator's
 * aggregator when the batch is due, and the aggregator's batch is sealed,
 * signed again with the integrator's key and sent once its first event
 * waited window_us (or it is full). A sealed batch takes the sequence
 * number of the first trace batch in it (one above the integrator's last
 * when that is not higher). Every event's latency still runs from its own
 * trace batch's scheduled time, so the wait counts. */
typedef struct certa_load_agg_opts {
    uint64_t window_us;     /* 0: off, each trace batch sent as it is */
    uint32_t events_max;    /* events a sealed batch holds at most; 0: the batch limit */
    certa_key *const *keys; /* per genesis integrator index (NULL: none) */
    uint32_t key_count;
} certa_load_agg_opts;

/* ---- replay ---- */
typedef struct certa_load_replay_opts {
    double speed;          /* > 0: 2 sends the trace twice as fast */
    double duration_s;     /* stop sending after this wall time; 0 = to the end */
    double drain_s;        /* after the last send, wait this long for answers */
    size_t start_pos;      /* trace position to start from (0 = first record) */
    uint32_t inflight_max; /* outstanding batches tracked (power of two) */
    bool progress;         /* progress line on stderr */
    certa_load_agg_opts agg;
} certa_load_replay_opts;

void certa_load_replay_opts_default(certa_load_replay_opts *o);

/* Replays t through tr into run (allocated by the caller with
 * certa_load_run_new). *end_pos (may be NULL) gets the trace position after
 * the last record sent, so a later replay can continue from it. A batch
 * without an answer after drain_s, or pushed out of a full in-flight table,
 * counts as lost. Returns CERTA_OK unless the replay itself could not run. */
certa_err certa_load_replay(const certa_load_trace *t, certa_load_transport *tr,
                            const certa_load_replay_opts *o, certa_load_run *run,
                            size_t *end_pos, certa_errinfo *ei);

/* ---- find-max ---- */
#define CERTA_LOAD_FINDMAX_STEPS_MAX 64u

typedef struct certa_load_findmax_opts {
    double speed_start;  /* first speed tried (default 1) */
    double factor;       /* ramp multiplier while passing (default 2) */
    double step_s;       /* wall seconds per step (default 10) */
    double slo_p99_ms;   /* pass: p99 <= this (default 100) */
    uint32_t refine;     /* bisection steps after the first failure (default 3) */
    uint32_t confirm;    /* a failing step is repeated this many times at the
                          * same speed and fails only if every try fails
                          * (default 1: noise on a shared machine) */
    double drain_s;
    bool progress;
    certa_load_agg_opts agg;
} certa_load_findmax_opts;

typedef struct certa_load_findmax_step {
    double speed;
    double offered_eps, committed_eps;
    double p50_ms, p99_ms;
    uint64_t offered_events, committed_events;
    uint64_t committed_batches; /* as sent: sealed ones when aggregating */
    double agg_wait_p99_ms;     /* aggregation: p99 of the wait before the send */
    uint64_t failed_batches; /* refused + lost + error */
    bool exhausted;          /* the trace ran out during the step */
    bool pass;
    bool retry;              /* a repeat of the previous speed after a failure */
} certa_load_findmax_step;

typedef struct certa_load_findmax_result {
    uint32_t step_count;
    certa_load_findmax_step steps[CERTA_LOAD_FINDMAX_STEPS_MAX];
    double best_speed;       /* highest passing speed; 0 when none passed */
    bool bounded;            /* a failing speed was found above best_speed */
    bool exhausted;          /* stopped because the trace ran out */
} certa_load_findmax_result;

void certa_load_findmax_opts_default(certa_load_findmax_opts *o);

/* Ramps the speed from speed_start by factor while steps pass (p99 within
 * the SLO, nothing refused, lost or errored), then bisects (geometric mean)
 * between the best pass and the first failure. A failing step is tried
 * again `confirm` times at the same speed before it counts as a failure. Each step continues the
 * trace where the previous one stopped, so no batch is sent twice. */
certa_err certa_load_find_max(const certa_load_trace *t, certa_load_transport *tr,
                              const certa_load_findmax_opts *o,
                              certa_load_findmax_result *res, certa_errinfo *ei);

/* Opens the transport named by endpoints:
 *   loopback[:LATENCY_US[:EVENTS_PER_S[:QUEUE_BATCHES]]]  the in-process fake
 *   genesis | tcp://HOST:PORT[,tcp://...]                 validators' client
 *                                                         endpoints (keys from
 *                                                         genesis_path)
 * window: batches outstanding at most on the network transport. */
certa_err certa_load_transport_open(const char *endpoints, const char *genesis_path,
                                    uint32_t window, certa_load_transport *out,
                                    certa_errinfo *ei);
#endif
