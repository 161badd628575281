/* node: the validator daemon: open, run, close, and the round (the other
 * files of node/ are listed in node_internal.h).
 *
 * A pipeline of threads joined by bounded queues:
 * - the I/O thread runs the loop: poll the validator transport, the
 *   integrator endpoint and the execution stage's eventfd; step the PBFT
 *   core (pure) with every message, request and tick; carry out its actions
 *   (WAL and block log appends, sends); answer integrators;
 * - libzmq's I/O thread moves and encrypts (CURVE) the bytes;
 * - a fixed worker pool verifies batch signatures and hashes Merkle trees;
 * - io_uring and the store's flusher make the logs durable (group commit);
 * - the execution thread owns the state and applies committed, durable
 *   blocks in height order (exec_pipe); the I/O thread completes each one
 *   (receipts, its view of the executed height) when it comes back.
 *
 * Invariants:
 * - Persist before send: the actions of every step are applied in one round:
 *   records and delivered blocks are appended, both logs are waited durable,
 *   and only then are the round's messages sent (include/certa/pbft.h).
 *   node_round_finish (node/round.c) is the one place messages leave; the
 *   round touches the world only through node_io (node/io.h, node/io.c).
 * - Timers run on the monotonic clock; the wall clock only stamps blocks.
 * - A block is executed only when durable, in height order, exactly once;
 *   receipts are built from the executed block, so a receipt never precedes
 *   durability on this node.
 * - A proposal for height h is built only once h - LAG executed here, and a
 *   backup votes for h only once it executed h - LAG itself: the header of h
 *   carries the results root and state digest after h - LAG, checked by
 *   2f+1.
 * - Only the execution thread touches the state, except queries under
 *   state_mu; the two threads share nothing else but the rings (pipe.mu) and
 *   the kept leaf hashes (leaf_mu).
 * - Replay verdicts (new, replayed, too old) are decided once per committed
 *   block, in height order, by the I/O thread (the ledger's judge,
 *   engine/ledger.c, through app.c node_judge_block) from the chain alone
 *   and the genesis horizon (engine/dedup.h); execution applies them.
 *   The door never calls a batch executed unless it was committed new.
 * - Bounded: the waiter table, the outgoing queue, the signature cache,
 *   the replay table and the execution rings have fixed capacities; a full one answers BUSY or
 *   keeps a durable block in the delivery queue until execution has room.
 */
#include "node_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "log.h"

/* ------------------------------------------------------------ the round */

/* A committed block was appended to the block log (node/round.c calls
 * this for each DELIVER): its replay verdicts are decided here, once, in
 * height order, and it waits in the delivery queue for the round's sync. */
static certa_err on_deliver(void *ctx, uint64_t height, const uint8_t *bytes, size_t len,
                            certa_errinfo *ei)
{
    certa_node *nd = ctx;
    if (nd->nexq >= EXEC_QUEUE_MAX)
        return certa_errorf(ei, CERTA_E_LIMIT, "execution queue full");
    uint8_t *copy = malloc(len);
    CERTA_ASSERT(copy != NULL);
    memcpy(copy, bytes, len);
    /* the door and the core see this block's batches as committed from now on */
    uint8_t *verdicts = node_judge_block(nd, bytes, len);
    nd->exq[nd->nexq++] = (exec_item){height, copy, len, verdicts};
    return CERTA_OK;
}

void node_step(certa_node *nd, const certa_pbft_input *in)
{
    node_round_step(&nd->round, nd->pbft, in);
}

static certa_err finish_round(certa_node *nd, certa_errinfo *ei)
{
    certa_err e = node_round_finish(&nd->round, ei);
    if (e != CERTA_OK)
        return e;
    if (nd->round.heap_messages > nd->heap_reported) {
        certa_metric_add(nd->m.heap_copies, nd->round.heap_messages - nd->heap_reported);
        nd->heap_reported = nd->round.heap_messages;
    }
    /* durable: on to the execution stage, as far as it has room (it always
     * has in practice: consensus runs at most a window ahead of execution);
     * what does not fit waits here, in order, for the next round */
    uint32_t pushed = 0;
    while (pushed < nd->nexq && node_pipe_try_push(nd, &nd->exq[pushed]))
        pushed++;
    memmove(nd->exq, nd->exq + pushed, (nd->nexq - pushed) * sizeof *nd->exq);
    nd->nexq -= pushed;
    return CERTA_OK;
}

/* ------------------------------------------------------------ peers */

static void on_peer_event(void *ctx, uint32_t peer, certa_transport_event ev,
                          const char *text)
{
    certa_node *nd = ctx;
    char esc[512];
    static const char *const names[] = {"", "peer_up", "peer_down", "refused_by_peer",
                                        "refused_peer", "dropped"};
    certa_log(ev == CERTA_TEV_PEER_UP ? CERTA_LOG_INFO : CERTA_LOG_WARN,
              names[ev <= 5 ? ev : 0], "\"peer\":%d,\"msg\":\"%s\"",
              peer == CERTA_TRANSPORT_UNKNOWN ? -1 : (int)peer,
              certa_log_str(text, esc, sizeof esc));
    certa_transport_stats st;
    certa_transport_stats_get(nd->tp, &st);
    certa_metric_set(nd->m.peers, st.peers_up);
}

static void feed_peer_msg(certa_node *nd, const uint8_t *bytes, size_t len)
{
    bool pp = len > 2 && bytes[1] == CERTA_PBFT_MSG_PRE_PREPARE;
    if (pp)
        node_preverify_preprepare(nd, bytes, len);
    certa_pbft_input in = {.kind = CERTA_PBFT_IN_MESSAGE, .bytes = bytes, .len = len};
    node_preverify_arm(pp);
    node_step(nd, &in);
    node_preverify_disarm();
}

/* A pre-prepare for h is held back until h - LAG executed here: its header
 * commits to h - LAG's results, which only execution can check. */
static bool hold_preprepare(certa_node *nd, const uint8_t *bytes, size_t len)
{
    uint64_t height;
    size_t nitems;
    if (!certa_pbft_peek_preprepare(bytes, len, &height, NULL, NULL, 0, &nitems) ||
        height <= nd->executed + LAG || height > nd->executed + nd->pc.window)
        return false; /* the core judges these itself */
    for (uint32_t i = 0; i < nd->nheld; i++)
        if (nd->held[i].seq == height && nd->held[i].len == len &&
            memcmp(nd->held[i].bytes, bytes, len) == 0)
            return true; /* a re-sent copy of one we hold */
    if (nd->nheld == HELD_MAX) {
        free(nd->held[0].bytes); /* the oldest; the primary retransmits */
        memmove(nd->held, nd->held + 1, (HELD_MAX - 1) * sizeof nd->held[0]);
        nd->nheld--;
    }
    uint8_t *copy = malloc(len);
    CERTA_ASSERT(copy != NULL);
    memcpy(copy, bytes, len);
    nd->held[nd->nheld++] = (held_msg){height, copy, len};
    return true;
}

void node_release_held(certa_node *nd)
{
    /* in height order: insertion sort of a short list */
    for (uint32_t i = 1; i < nd->nheld; i++)
        for (uint32_t j = i; j > 0 && nd->held[j - 1].seq > nd->held[j].seq; j--) {
            held_msg t = nd->held[j];
            nd->held[j] = nd->held[j - 1];
            nd->held[j - 1] = t;
        }
    uint32_t k = 0;
    for (uint32_t i = 0; i < nd->nheld; i++) {
        held_msg h = nd->held[i];
        if (h.seq <= nd->executed + LAG) {
            if (h.seq > nd->executed)
                feed_peer_msg(nd, h.bytes, h.len);
            free(h.bytes);
        } else {
            nd->held[k++] = h;
        }
    }
    nd->nheld = k;
}

static void on_peer_msg(void *ctx, uint32_t from, const uint8_t *bytes, size_t len)
{
    certa_node *nd = ctx;
    (void)from; /* the core authenticates the sender from the signed bytes */
    certa_metric_add(nd->m.bytes_in, len);
    if (hold_preprepare(nd, bytes, len)) {
        certa_log(CERTA_LOG_DEBUG, "preprepare_held", "\"executed\":%llu", (unsigned long long)nd->executed);
        return;
    }
    if (len > 2 && bytes[1] == CERTA_PBFT_MSG_PRE_PREPARE)
        certa_log(CERTA_LOG_DEBUG, "preprepare_in", "\"bytes\":%zu", len);
    feed_peer_msg(nd, bytes, len);
}

/* ------------------------------------------------------------ open */

/* The fixed tables of the I/O thread, sized once: none grows at run time. */
static certa_err tables_alloc(certa_node *nd, certa_errinfo *ei)
{
    certa_err e = node_round_init(&nd->round, &nd->io, OUT_MAX, OUT_BYTES, on_deliver, nd, ei);
    if (e != CERTA_OK)
        return e;
    nd->exq = calloc(EXEC_QUEUE_MAX, sizeof *nd->exq);
    nd->waiters = calloc(WAITERS_MAX, sizeof *nd->waiters);
    nd->sigcache = calloc(SIGCACHE_SLOTS, sizeof *nd->sigcache);
    nd->completed = calloc(EXEC_PIPE_MAX, sizeof *nd->completed);
    nd->receipt_buf = malloc(RECEIPT_BYTES_MAX);
    if (!nd->exq || !nd->waiters || !nd->sigcache || !nd->completed ||
        !nd->receipt_buf || !node_preverify_init() ||
        !certa_ledger_grow_hashes(&nd->leaf_hashes, &nd->leaf_cap, 16384))
        return certa_errorf(ei, CERTA_E_NOMEM, "allocating node tables");
    /* bounded by genesis: one number per integrator, never grows */
    /* every index the council can add (certa/gov.h): 32 kB */
    nd->x_seq_max = calloc(CERTA_INTEGRATORS_MAX, sizeof *nd->x_seq_max);
    if (nd->x_seq_max == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "allocating node tables");
    return CERTA_OK;
}

/* The data directory, both logs and an empty state (recover fills it). */
static certa_err storage_open(certa_node *nd, uint32_t grants_max, certa_errinfo *ei)
{
    const certa_node_config *cfg = &nd->cfg;
    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST)
        return certa_errorf(ei, CERTA_E_IO, "data directory %s: %s", cfg->data_dir,
                            strerror(errno));
    certa_err e = node_open_store(cfg->data_dir, "blocks", 1, &nd->blocks, ei);
    if (e != CERTA_OK)
        return e;
    e = certa_wal_open(cfg->data_dir, 0, &nd->wal, ei);
    if (e != CERTA_OK)
        return e;
    /* The index sized for 4M hot grants up front (the grants of about two
     * days at 64 times Beijing's load), so that it never stops execution
     * to rehash below that; the table itself is reserved for grants_max
     * and never copied (engine/state.c).
     * History lives in the cold store (DATA/cold, LMDB), derived from the
     * block log: torn, it is rebuilt by the replay; ahead of the log (a
     * log restored from elsewhere), it is removed and rebuilt. */
    char cold[CERTA_PATH_BYTES + 8];
    snprintf(cold, sizeof cold, "%s/cold", cfg->data_dir);
    certa_state_opts so = {.hash_threads = 1, .grants_reserve = 1u << 22,
                           .grants_max = grants_max, .cold_dir = cold};
    nd->io.random(nd->io.ctx, (uint8_t *)&so.hash_seed, sizeof so.hash_seed);
    e = certa_state_create(nd->g, &so, &nd->state, ei);
    if (e != CERTA_OK)
        return e;
    certa_state_cold_info ci;
    certa_state_cold(nd->state, &ci);
    uint64_t first = 0, last = 0;
    if (!certa_store_range(nd->blocks, &first, &last))
        last = 0;
    if (ci.height > last) {
        certa_log(CERTA_LOG_WARN, "cold_store_rebuilt",
                  "\"dir\":\"%s\",\"reason\":\"at height %llu, past the block log's %llu\"",
                  cold, (unsigned long long)ci.height, (unsigned long long)last);
        certa_state_free(nd->state);
        nd->state = NULL;
        certa_state_cold_remove(cold);
        e = certa_state_create(nd->g, &so, &nd->state, ei);
        if (e != CERTA_OK)
            return e;
    } else if (ci.rebuilt) {
        certa_log(CERTA_LOG_WARN, "cold_store_rebuilt",
                  "\"dir\":\"%s\",\"reason\":\"%s: replaying the block log\"", cold,
                  ci.rebuilt_why);
    }
    if (ci.height < last)
        certa_log(ci.height == 0 ? CERTA_LOG_WARN : CERTA_LOG_INFO, "cold_store_behind",
                  "\"dir\":\"%s\",\"height\":%llu,\"log_height\":%llu,"
                  "\"action\":\"the replay writes the blocks above its height\"",
                  cold, (unsigned long long)ci.height, (unsigned long long)last);
    certa_state_digest(nd->state, nd->state_digest);
    memset(nd->results_root, 0, CERTA_HASH_BYTES);
    certa_merkle_frontier_init(&nd->x_log); /* block 1 appends the first leaves */
    return CERTA_OK;
}

/* The PBFT core's configuration: genesis parameters, the operator's
 * options, and the node's callbacks (app.c). */
static void pbft_configure(certa_node *nd, const certa_node_opts *o)
{
    certa_pbft_config *pc = &nd->pc;
    certa_pbft_config_default(pc, nd->n, nd->self);
    memcpy(pc->chain_id, nd->g->hash, CERTA_HASH_BYTES);
    memset(&pc->genesis, 0, sizeof pc->genesis);
    pc->genesis.timestamp_ms = nd->g->genesis_time_ms;
    const certa_genesis_params *gp = &nd->g->params;
    if (gp->checkpoint_interval)
        pc->checkpoint_interval = gp->checkpoint_interval;
    if (gp->window_blocks)
        pc->window = gp->window_blocks;
    if (pc->window < 2 * pc->checkpoint_interval)
        pc->window = 2 * pc->checkpoint_interval;
    pc->batch_requests_max = o && o->batch_requests_max ? o->batch_requests_max : 256;
    if (pc->batch_requests_max > CERTA_PBFT_BLOCK_REQUESTS_MAX)
        pc->batch_requests_max = CERTA_PBFT_BLOCK_REQUESTS_MAX;
    pc->batch_bytes_max = node_block_bytes(gp->block_events_max);
    nd->admit_events_max = 2ull * (gp->block_events_max ? gp->block_events_max : 8192);
    nd->timing_applied = (certa_ledger_timing){gp->block_events_max, gp->block_timeout_ms,
                                               gp->view_timeout_ms};
    nd->admit_batches_max = 512;
    pc->batch_timeout_ms = o && o->batch_timeout_ms ? o->batch_timeout_ms
                           : gp->block_timeout_ms ? gp->block_timeout_ms : 5;
    if (gp->view_timeout_ms)
        pc->view_timeout_ms = gp->view_timeout_ms;
    /* view timers double per view change without progress (pbft.c); the
     * cap keeps the longest wait for one view at 8 base timers (16 s at the
     * default 2 s), so a cluster healed after a long outage resumes soon */
    pc->view_backoff_max = 3;
    /* Retransmission covers lost messages; with blocks of megabytes it must
     * stay well apart from the normal round trip. */
    pc->resend_ms = pc->view_timeout_ms / 4 > 200 ? pc->view_timeout_ms / 4 : 200;
    if (gp->clock_skew_ms_max)
        pc->clock_skew_ms_max = gp->clock_skew_ms_max;
    node_app_bind(nd, pc);
}

/* The validator transport (connected to every peer) and the integrator
 * endpoint. */
static certa_err sockets_open(certa_node *nd, certa_errinfo *ei)
{
    const char(*keys)[41] = calloc(nd->n, 41);
    if (keys == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "allocating keys");
    for (uint16_t i = 0; i < nd->n; i++)
        memcpy((char *)keys[i], nd->g->validators[i].curve_pub, 41);
    certa_transport_config tc;
    memset(&tc, 0, sizeof tc);
    tc.self = nd->self;
    tc.validator_count = nd->n;
    tc.curve_pub = keys;
    tc.curve_secret = nd->curve_secret;
    tc.bind_endpoint = nd->cfg.peer_bind;
    memcpy(tc.genesis_hash, nd->g->hash, CERTA_HASH_BYTES);
    certa_err e = certa_transport_open(&tc, on_peer_event, nd, &nd->tp, ei);
    free((void *)keys);
    if (e != CERTA_OK)
        return e;
    for (uint16_t i = 0; i < nd->n; i++) {
        if (i == nd->self)
            continue;
        e = certa_transport_connect(nd->tp, i, nd->g->validators[i].peer_endpoint, ei);
        if (e != CERTA_OK)
            return e;
    }
    return certa_cp_server_open(NULL, nd->cfg.client_bind, nd->curve_secret, 4096, &nd->cs,
                                ei);
}

certa_err certa_node_open(const certa_node_config *cfg, const certa_node_opts *o,
                          certa_node **out, certa_errinfo *ei)
{
    certa_node *nd = calloc(1, sizeof *nd);
    if (nd == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "allocating the node");
    nd->cfg = *cfg;
    node_io_init(nd);
    pthread_mutex_init(&nd->state_mu, NULL);
    pthread_mutex_init(&nd->leaf_mu, NULL);
    pthread_mutex_init(&nd->pipe.mu, NULL);
    pthread_cond_init(&nd->pipe.work_cv, NULL);
    nd->pipe.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (nd->pipe.efd < 0) {
        certa_err e0 = certa_errorf(ei, CERTA_E_IO, "eventfd: %s", strerror(errno));
        certa_node_close(nd);
        return e0;
    }
    certa_err e = certa_genesis_load(cfg->genesis_path, &nd->g, ei);
    if (e != CERTA_OK)
        goto fail;
    e = certa_node_keys_load(cfg, nd->g, &nd->key, nd->curve_secret, ei);
    if (e != CERTA_OK)
        goto fail;
    nd->self = (uint16_t)cfg->validator_index;
    nd->n = (uint16_t)nd->g->validator_count;
    certa_log_init(2, CERTA_LOG_INFO, nd->self);

    if ((e = tables_alloc(nd, ei)) != CERTA_OK)
        goto fail;
    e = certa_pool_create(o && o->verify_threads ? o->verify_threads : 2, &nd->pool, ei);
    if (e != CERTA_OK)
        goto fail;
    /* the ledger (its replay table sized once from genesis: every replica
     * must use the same horizon, since it decides which batches execute) */
    if ((e = storage_open(nd, o ? o->grants_max : 0, ei)) != CERTA_OK ||
        (e = node_ledger_open(nd, ei)) != CERTA_OK || (e = node_metrics_open(nd, ei)) != CERTA_OK)
        goto fail;
    pbft_configure(nd, o);
    if ((e = certa_pbft_create(&nd->pc, &nd->pbft, ei)) != CERTA_OK ||
        (e = node_recover(nd, ei)) != CERTA_OK)
        goto fail;
    /* Sockets last: nothing is served before the state is recovered. */
    if ((e = sockets_open(nd, ei)) != CERTA_OK)
        goto fail;
    certa_log(CERTA_LOG_INFO, "started",
              "\"height\":%llu,\"view\":%llu,\"peer\":\"%s\",\"client\":\"%s\",\"metrics_port\":%u",
              (unsigned long long)nd->executed,
              (unsigned long long)certa_pbft_view(nd->pbft),
              certa_transport_endpoint(nd->tp), certa_cp_server_endpoint(nd->cs),
              cfg->metrics_port);
    *out = nd;
    return CERTA_OK;
fail:
    certa_node_close(nd);
    return e;
}

/* ------------------------------------------------------------ run */

certa_err certa_node_run(certa_node *nd, volatile sig_atomic_t *stop, certa_errinfo *ei)
{
    zmq_pollitem_t items[CERTA_TRANSPORT_POLLITEMS_MAX + 2];
    certa_pbft_input tick = {.kind = CERTA_PBFT_IN_TICK};
    certa_err pe = node_pipe_start(nd, ei);
    if (pe != CERTA_OK)
        return pe;
    node_apply_timing(nd); /* a change the recovery replayed */
    node_step(nd, &tick);
    nd->events_window_start_ms = mono_ms();
    nd->last_commit_ms = nd->events_window_start_ms;
    certa_err result = CERTA_OK;
    while (!*stop) {
        int ni = certa_transport_pollitems(nd->tp, items, CERTA_TRANSPORT_POLLITEMS_MAX);
        items[ni] = (zmq_pollitem_t){.socket = certa_cp_server_socket(nd->cs),
                                     .events = ZMQ_POLLIN};
        items[ni + 1] = (zmq_pollitem_t){.socket = NULL, .fd = nd->pipe.efd,
                                         .events = ZMQ_POLLIN};
        uint64_t now = mono_ms();
        uint64_t timer_at = nd->round.timer_at_ms;
        long timeout = 100;
        if (timer_at != 0)
            timeout = timer_at <= now ? 0 : (long)(timer_at - now < 100 ? timer_at - now : 100);
        int rc = zmq_poll(items, ni + 2, timeout);
        if (rc < 0) {
            if (zmq_errno() == EINTR)
                continue;
            result = certa_errorf(ei, CERTA_E_NET, "zmq_poll: %s", zmq_strerror(zmq_errno()));
            break;
        }
        certa_transport_process(nd->tp, items, ni, on_peer_msg, nd);
        if (items[ni].revents & ZMQ_POLLIN)
            node_serve_clients(nd);
        if (items[ni + 1].revents & ZMQ_POLLIN) {
            result = node_pipe_complete(nd, true, ei);
            if (result != CERTA_OK)
                break;
        }
        if (nd->round.timer_at_ms != 0 && mono_ms() >= nd->round.timer_at_ms)
            node_step(nd, &tick);
        /* Finish the round; executing may let the core propose: repeat while
         * the round produced something, a bounded number of times. */
        for (int r = 0; r < 8 && (node_round_pending(&nd->round) || nd->nexq); r++) {
            certa_err e = finish_round(nd, ei);
            if (e != CERTA_OK) {
                certa_metric_set(nd->m.store_failed, 1);
                certa_log(CERTA_LOG_ERROR, "storage_failed", "\"error\":\"%s\"",
                          certa_errmsg(ei));
                result = e;
                break;
            }
        }
        if (result != CERTA_OK)
            break;
        uint64_t view = certa_pbft_view(nd->pbft);
        if (view != nd->last_view) {
            certa_log(CERTA_LOG_INFO, "view_change", "\"view\":%llu,\"primary\":%u",
                      (unsigned long long)view, certa_pbft_primary(nd->pbft, view));
            certa_metric_add(nd->m.view_changes, 1);
            nd->last_view = view;
        }
        certa_metric_set(nd->m.waiters, nd->nwaiters);
        node_replay_gauges(nd);
        node_pbft_counters(nd);
        now = mono_ms();
        node_watch_progress(nd, view, now);
        if (now >= nd->last_sweep_ms + 1000) {
            node_sweep_waiters(nd, now);
            nd->last_sweep_ms = now;
        }
        if (now >= nd->events_window_start_ms + 1000) {
            nd->events_per_s = (double)nd->events_window_count * 1000.0 /
                               (double)(now - nd->events_window_start_ms);
            nd->events_window_count = 0;
            nd->events_window_start_ms = now;
        }
    }
    /* what is queued executes (it is durable; a restart would replay it) */
    node_pipe_stop(nd);
    certa_errinfo pei;
    if (node_pipe_complete(nd, false, &pei) != CERTA_OK && result == CERTA_OK)
        certa_log(CERTA_LOG_WARN, "execute_failed_at_stop", "\"error\":\"%s\"",
                  certa_errmsg(&pei));
    certa_log(CERTA_LOG_INFO, "stopping", "\"height\":%llu", (unsigned long long)nd->executed);
    return result;
}

void certa_node_close(certa_node *nd)
{
    if (nd == NULL)
        return;
    if (nd->cs)
        certa_cp_server_close(nd->cs);
    if (nd->tp)
        certa_transport_close(nd->tp);
    certa_pbft_free(nd->pbft);
    certa_wal_close(nd->wal);
    certa_store_close(nd->blocks);
    certa_ledger_free(nd->ledger);
    certa_state_free(nd->state);
    certa_pool_destroy(nd->pool);
    certa_node_query_close(nd->nq);
    if (nd->m.reg)
        certa_metrics_free(nd->m.reg);
    node_round_free(&nd->round);
    for (uint32_t i = 0; i < nd->nheld; i++)
        free(nd->held[i].bytes);
    for (uint32_t i = 0; i < nd->nexq; i++) {
        free(nd->exq[i].rec);
        free(nd->exq[i].verdicts);
    }
    free(nd->exq);
    free(nd->waiters);
    free(nd->sigcache);
    free(nd->x_seq_max);
    node_pipe_free(nd);
    exec_pipe *p = &nd->pipe;
    free(nd->completed);
    if (p->efd >= 0)
        close(p->efd);
    free(nd->x_leaf_hashes);
    pthread_cond_destroy(&p->work_cv);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&nd->state_mu);
    pthread_mutex_destroy(&nd->leaf_mu);
    free(nd->receipt_buf);
    free(nd->leaf_hashes);
    for (uint32_t i = 0; i < LEAF_RING; i++)
        free(nd->leaf_ring[i].hashes);
    free(nd->readbuf);
    free(nd->entries);
    free(nd->paths);
    free(nd->result_paths);
    certa_key_free(nd->key);
    certa_genesis_free(nd->g);
    memset(nd->curve_secret, 0, sizeof nd->curve_secret);
    free(nd);
}
