/* metrics: the validator's Prometheus registry (net/metrics) and the
 * gauges the round refreshes.
 *
 * Every counter, gauge and histogram is registered once at open, before
 * the registry is served; the round only adds, sets and observes (no
 * allocation, no lock beyond the metric's own atomics). Names and help
 * texts are part of the operations contract (docs/OPERATIONS.md).
 */
#include "node_internal.h"

#include <stdio.h>

#include "log.h"

void node_replay_gauges(certa_node *nd)
{
    certa_dedup_stats ds;
    certa_dedup_stats_get(nd->dedup, &ds);
    certa_metric_set(nd->m.replay_batches, ds.remembered);
    uint64_t newest = certa_ledger_judged_tip_ms(nd->ledger);
    double span = ds.remembered && newest > ds.oldest_time_ms
                      ? (double)(newest - ds.oldest_time_ms) / 1000.0 : 0.0;
    certa_metric_set(nd->m.replay_seconds, span);
}

/* The reasons of certa_pbft_stats' dropped_* counters, in the order of
 * pbft_drops below. */
static const char *const pbft_drop_reason[NODE_PBFT_DROP_REASONS] = {
    "malformed", "outsider", "bad_signature", "window", "view", "invalid", "conflict", "requests",
};

static void pbft_drops(const certa_pbft_stats *st, uint64_t v[NODE_PBFT_DROP_REASONS])
{
    v[0] = st->dropped_malformed;
    v[1] = st->dropped_outsider;
    v[2] = st->dropped_bad_signature;
    v[3] = st->dropped_window;
    v[4] = st->dropped_view;
    v[5] = st->dropped_invalid;
    v[6] = st->dropped_conflict;
    v[7] = st->dropped_requests;
}

void node_pbft_counters(certa_node *nd)
{
    const certa_pbft_stats *st = certa_pbft_get_stats(nd->pbft);
    uint64_t v[NODE_PBFT_DROP_REASONS];
    pbft_drops(st, v);
    for (unsigned i = 0; i < NODE_PBFT_DROP_REASONS; i++) {
        CERTA_ASSERT(v[i] >= nd->m.pbft_dropped_seen[i]); /* the core only counts up */
        certa_metric_add(nd->m.pbft_dropped[i], v[i] - nd->m.pbft_dropped_seen[i]);
        nd->m.pbft_dropped_seen[i] = v[i];
    }
    CERTA_ASSERT(st->new_views >= nd->m.new_views_seen);
    certa_metric_add(nd->m.new_views, st->new_views - nd->m.new_views_seen);
    nd->m.new_views_seen = st->new_views;
}

/* Says when this validator is in view change without progress: the gauges,
 * and one warning per view once the wait passed twice the base timer. */
void node_watch_progress(certa_node *nd, uint64_t view, uint64_t now)
{
    /* Alone in a higher view, it follows the others' lower view (see
     * certa_pbft_following): it executes and serves clients, so it is not
     * waiting for a view, but its votes are missing from the quorum. */
    uint64_t followed = 0;
    bool follows = certa_pbft_following(nd->pbft, &followed);
    bool in_vc = certa_pbft_awaiting_view(nd->pbft);
    certa_metric_set(nd->m.view, (double)(follows ? followed : view));
    certa_metric_set(nd->m.withheld, follows ? 1.0 : 0.0);
    if (follows && nd->follow_logged != view + 1) {
        nd->follow_logged = view + 1;
        certa_log(CERTA_LOG_WARN, "following_without_vote",
                  "\"view\":%llu,\"follows\":%llu,\"height\":%llu",
                  (unsigned long long)view, (unsigned long long)followed,
                  (unsigned long long)nd->executed);
    }
    certa_metric_set(nd->m.in_vc, in_vc ? 1.0 : 0.0);
    certa_metric_set(nd->m.since_commit,
                     now > nd->last_commit_ms ? (double)(now - nd->last_commit_ms) / 1000.0 : 0.0);
    if (!in_vc) {
        nd->vc_since_ms = 0;
        return;
    }
    if (nd->vc_since_ms == 0)
        nd->vc_since_ms = now;
    if (now >= nd->vc_since_ms + 2ull * nd->pc.view_timeout_ms && nd->vc_warned_view != view) {
        nd->vc_warned_view = view;
        certa_log(CERTA_LOG_WARN, "view_change_stalled",
                  "\"view\":%llu,\"in_view_change_s\":%.1f,\"since_last_commit_s\":%.1f,"
                  "\"height\":%llu",
                  (unsigned long long)view, (double)(now - nd->vc_since_ms) / 1000.0,
                  (double)(now - nd->last_commit_ms) / 1000.0,
                  (unsigned long long)nd->executed);
    }
}

certa_err node_metrics_open(certa_node *nd, certa_errinfo *ei)
{
    node_metrics *m = &nd->m;
    certa_err e = certa_metrics_create(&m->reg, ei);
    if (e != CERTA_OK)
        return e;
    static const double lat_s[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
                                   0.2, 0.5, 1, 2, 5};
    static const double fs_s[] = {0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005,
                                  0.01, 0.02, 0.05, 0.1};
#define C(field, name, help) \
    if ((m->field = certa_metrics_counter(m->reg, name, NULL, help, ei)) == NULL) return ei->code
#define G(field, name, help) \
    if ((m->field = certa_metrics_gauge(m->reg, name, NULL, help, ei)) == NULL) return ei->code
    C(blocks, "certa_blocks_committed_total", "Blocks committed and executed");
    C(events, "certa_events_committed_total", "Events committed and executed");
    C(batches_in, "certa_batches_accepted_total", "Batches accepted from integrators");
    C(batches_refused, "certa_batches_refused_total", "Batches or frames refused at the door");
    C(receipts, "certa_receipts_sent_total", "Batch receipts sent");
    C(busy, "certa_batches_busy_total", "Batches answered BUSY (backlog full)");
    C(expired, "certa_waiters_expired_total", "Accepted batches forgotten after the waiting limit");
    C(too_old, "certa_batches_too_old_total",
      "Batches refused at the door as outside the replay horizon (too old to tell)");
    G(replay_batches, "certa_replay_horizon_batches",
      "Executed batches remembered exactly for replay protection and re-sent receipts");
    G(replay_seconds, "certa_replay_horizon_seconds",
      "Block time covered by the replay horizon now (newest block - oldest remembered batch)");
    C(bytes_in, "certa_peer_bytes_in_total", "Bytes received from validators");
    C(bytes_out, "certa_peer_bytes_out_total", "Bytes sent to validators");
    C(msgs_out, "certa_peer_messages_out_total", "Messages sent to validators (a broadcast counts once)");
    C(heap_copies, "certa_round_heap_copies_total",
      "Outgoing messages copied to the heap: the round's fixed buffer (8 MiB) was full");
    G(view, "certa_view",
      "Current PBFT view (while votes are withheld: the peers' view it follows)");
    C(view_changes, "certa_view_changes_total", "View changes started");
    C(new_views, "certa_pbft_new_views_total", "NEW-VIEW messages installed by the PBFT core");
    G(in_vc, "certa_view_change_in_progress", "1 while this validator waits for a new view");
    G(withheld, "certa_votes_withheld",
      "1 while this validator, alone in a higher view, follows its peers' view without voting");
    G(since_commit, "certa_seconds_since_last_commit",
      "Seconds since a block holding events last executed here (alert when it grows under load)");
    C(dropped, "certa_requests_dropped_total",
      "Pending batches dropped unordered: counted as executed while they waited");
    G(height, "certa_height", "Last executed block height");
    G(peers, "certa_peers_connected", "Validator links up");
    G(waiters, "certa_batches_awaiting_receipt", "Accepted batches not yet committed");
    G(exec_queue, "certa_exec_queue_depth", "Committed blocks queued for or back from the execution thread");
    G(store_failed, "certa_storage_failed", "1 when the block log or WAL failed (disk full?)");
#undef C
#undef G
    for (unsigned r = 0; r < CERTA_R_COUNT; r++) {
        char labels[64];
        snprintf(labels, sizeof labels, "result=\"%s\"", certa_result_name(r));
        m->results[r] = certa_metrics_counter(m->reg, "certa_results_total", labels,
                                              "Committed event results by reason", ei);
        if (m->results[r] == NULL)
            return ei->code;
    }
    for (unsigned i = 0; i < NODE_PBFT_DROP_REASONS; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "reason=\"%s\"", pbft_drop_reason[i]);
        m->pbft_dropped[i] = certa_metrics_counter(
            m->reg, "certa_pbft_messages_dropped_total", labels,
            "Validator messages and requests the PBFT core dropped, by reason", ei);
        if (m->pbft_dropped[i] == NULL)
            return ei->code;
    }
    m->commit_latency = certa_metrics_histogram(m->reg, "certa_commit_latency_seconds", NULL,
                                                "Batch accepted to receipt sent", lat_s,
                                                sizeof lat_s / sizeof lat_s[0], ei);
    m->fsync_latency = certa_metrics_histogram(m->reg, "certa_fsync_latency_seconds", NULL,
                                               "Wait for the logs to be durable", fs_s,
                                               sizeof fs_s / sizeof fs_s[0], ei);
    m->cold_write = certa_metrics_histogram(m->reg, "certa_cold_write_seconds", NULL,
                                            "The cold store's write of one executed block",
                                            fs_s, sizeof fs_s / sizeof fs_s[0], ei);
    if (m->commit_latency == NULL || m->fsync_latency == NULL || m->cold_write == NULL)
        return ei->code;
    e = certa_node_query_open(m->reg, &nd->nq, ei);
    if (e != CERTA_OK)
        return e;
    if (nd->cfg.metrics_port != 0) {
        uint16_t port = 0;
        e = certa_metrics_serve(m->reg, nd->cfg.metrics_host, nd->cfg.metrics_port, &port, ei);
        if (e != CERTA_OK)
            return e;
    }
    return CERTA_OK;
}
