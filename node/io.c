/* io: the daemon's implementation of node_io (node/io.h): the WAL for
 * consensus records, the io_uring block log for committed blocks, the
 * ZeroMQ transport for peers, the kernel's two clocks and getrandom.
 *
 * sync covers both logs: the WAL is fsynced when it holds new records and
 * the block log is waited durable up to the last block appended. Its time
 * is the certa_fsync_seconds histogram. Called from the I/O thread only.
 */
#include "node_internal.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"

_Static_assert(NODE_IO_TO_ALL == CERTA_TRANSPORT_ALL, "one meaning of `every peer`");

static certa_err persist_record(void *ctx, uint8_t kind, uint64_t height, uint64_t view,
                                const uint8_t *bytes, size_t len, certa_errinfo *ei)
{
    certa_node *nd = ctx;
    certa_err e = certa_wal_append(nd->wal, kind, height, view, bytes, len, ei);
    if (e != CERTA_OK)
        certa_log(CERTA_LOG_ERROR, "wal_append_failed", "\"error\":\"%s\"", certa_errmsg(ei));
    return e;
}

static void persist_gc(void *ctx, uint64_t height, uint64_t view)
{
    certa_node *nd = ctx;
    /* the core's rule 3 (include/certa/pbft.h): view changes and new views
     * below the view, checkpoints below the newest, the rest below height */
    certa_wal_gc(nd->wal, height, view, CERTA_PBFT_MSG_VIEW_CHANGE, CERTA_PBFT_MSG_NEW_VIEW,
                 CERTA_PBFT_REC_CHECKPOINT);
}

static certa_err persist_block(void *ctx, uint64_t height, const uint8_t *bytes, size_t len,
                               certa_errinfo *ei)
{
    certa_node *nd = ctx;
    certa_log(CERTA_LOG_DEBUG, "deliver", "\"height\":%llu,\"bytes\":%zu",
              (unsigned long long)height, len);
    certa_err e = certa_store_append(nd->blocks, height, bytes, len, ei);
    if (e != CERTA_OK) {
        certa_log(CERTA_LOG_ERROR, "block_append_failed", "\"height\":%llu,\"error\":\"%s\"",
                  (unsigned long long)height, certa_errmsg(ei));
        return e;
    }
    nd->blocks_last = height;
    nd->blocks_dirty = true;
    return CERTA_OK;
}

static certa_err sync_logs(void *ctx, certa_errinfo *ei)
{
    certa_node *nd = ctx;
    uint64_t t0 = mono_us();
    if (certa_wal_dirty(nd->wal)) {
        certa_err e = certa_wal_sync(nd->wal, ei);
        if (e != CERTA_OK)
            return e;
    }
    if (nd->blocks_dirty) {
        certa_err e = certa_store_wait_durable(nd->blocks, nd->blocks_last, ei);
        if (e != CERTA_OK)
            return e;
        nd->blocks_dirty = false;
    }
    uint64_t t1 = mono_us();
    if (t1 > t0 + 1)
        certa_metric_observe(nd->m.fsync_latency, (double)(t1 - t0) / 1e6);
    CERTA_ASSERT(!certa_wal_dirty(nd->wal) && !nd->blocks_dirty);
    return CERTA_OK;
}

static void send_peer(void *ctx, uint32_t to, const uint8_t *bytes, size_t len)
{
    certa_node *nd = ctx;
    certa_transport_send(nd->tp, to, bytes, len);
    certa_metric_add(nd->m.bytes_out, len);
    certa_metric_add(nd->m.msgs_out, 1);
}

static uint64_t clock_mono_ms(void *ctx)
{
    (void)ctx;
    return mono_ms();
}

/* The wall clock: block timestamps only; nothing else in the daemon reads
 * it (timers, ages and rates use mono_ms). */
static uint64_t clock_real_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void fill_random(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        CERTA_ASSERT(n > 0); /* the kernel's generator does not fail once seeded */
        got += (size_t)n;
    }
}

void node_io_init(certa_node *nd)
{
    nd->io = (node_io){.ctx = nd,
                       .persist_record = persist_record,
                       .persist_gc = persist_gc,
                       .persist_block = persist_block,
                       .sync = sync_logs,
                       .send = send_peer,
                       .mono_ms = clock_mono_ms,
                       .real_ms = clock_real_ms,
                       .random = fill_random};
}
