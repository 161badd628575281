/* io: every way the validator daemon's round touches the world, as one
 * table of operations (in the spirit of canonical/raft's raft_io): persist
 * a consensus record or a committed block, make what was persisted
 * durable, send to a peer, read the two clocks, draw randomness.
 *
 * The daemon's round (node/round.h) is the only caller of persist, sync and
 * send, and it keeps the rule the consensus core relies on
 * (include/certa/pbft.h, "persistence contract"):
 *
 *   PERSIST BEFORE SEND. A message produced by a step leaves through send
 *   only after sync returned CERTA_OK for every record and block persisted
 *   by that step and the steps before it. If a persist or the sync fails,
 *   nothing more is sent, ever: the daemon stops.
 *
 * node/io.c is the daemon's implementation (the WAL, the io_uring block
 * log, the ZeroMQ transport, CLOCK_MONOTONIC and CLOCK_REALTIME,
 * getrandom); tests give the round another one (tests/unit/test_node_round.c)
 * to check the rule and its failure paths without disks or sockets.
 */
#ifndef CERTA_NODE_IO_H
#define CERTA_NODE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certa/error.h"

/* send's `to` for every other validator. */
#define NODE_IO_TO_ALL UINT32_MAX

typedef struct node_io {
    void *ctx; /* passed to every operation */
    /* Appends one consensus record (a PERSIST action) to the write-ahead
     * log; durable only after the next sync. */
    certa_err (*persist_record)(void *ctx, uint8_t kind, uint64_t height, uint64_t view,
                                const uint8_t *bytes, size_t len, certa_errinfo *ei);
    /* Lets records below height / view go (a PERSIST_GC action). */
    void (*persist_gc)(void *ctx, uint64_t height, uint64_t view);
    /* Appends a committed block record (a DELIVER action) to the block
     * log; durable only after the next sync. */
    certa_err (*persist_block)(void *ctx, uint64_t height, const uint8_t *bytes, size_t len,
                               certa_errinfo *ei);
    /* Makes every record and block appended so far durable. */
    certa_err (*sync)(void *ctx, certa_errinfo *ei);
    /* Sends bytes to validator `to` (NODE_IO_TO_ALL: every other);
     * best effort, the protocol retransmits. */
    void (*send)(void *ctx, uint32_t to, const uint8_t *bytes, size_t len);
    /* Timers and durations: never goes back. */
    uint64_t (*mono_ms)(void *ctx);
    /* Unix time, for block timestamps only: may jump either way. */
    uint64_t (*real_ms)(void *ctx);
    /* Fills buf with unpredictable bytes (hash-table seeds). */
    void (*random)(void *ctx, uint8_t *buf, size_t len);
} node_io;

#endif
