/* wal: the consensus write-ahead log of a validator.
 *
 * Holds the records the PBFT core asks to persist (its votes, proposals,
 * certificates, view changes; include/certa/pbft.h). It is a block log
 * (engine/store, io_uring, group commit) plus an in-memory copy of the live
 * records, so that garbage collection can drop records and compaction can
 * rewrite the log without reading it back.
 *
 * Bounded: once the bytes appended since the last compaction exceed
 * max(compact_min_bytes, 4 x live bytes), the live records are written to a
 * new generation directory, made durable, and the generation file is
 * switched atomically (write temp, fsync, rename, fsync dir); the old
 * directory is then removed. A crash at any point leaves one complete
 * generation named by the generation file; leftovers are removed on open.
 * Disk use stays within about 5 x the live set, and the copying costs at most
 * a quarter of the bytes written.
 *
 * Not thread-safe: the validator's I/O thread owns it.
 */
#ifndef CERTA_ENGINE_WAL_H
#define CERTA_ENGINE_WAL_H

#include "certa/certa.h"

typedef struct certa_wal certa_wal;

/* Opens (creating) the WAL under dir (dir/wal.gen, dir/wal-N/). */
certa_err certa_wal_open(const char *dir, uint64_t compact_min_bytes,
                         certa_wal **out, certa_errinfo *ei);
void certa_wal_close(certa_wal *w);

/* Queues a record (copied). Durable after certa_wal_sync. */
certa_err certa_wal_append(certa_wal *w, uint8_t kind, uint64_t height,
                           uint64_t view, const uint8_t *bytes, size_t len,
                           certa_errinfo *ei);

/* Waits until every appended record is durable; compacts when due. */
certa_err certa_wal_sync(certa_wal *w, certa_errinfo *ei);
bool certa_wal_dirty(const certa_wal *w);

/* Drops live records: those with a nonzero height <= height, view-change
 * and new-view records (kinds given) with a view < view, and every
 * checkpoint record but the newest. */
void certa_wal_gc(certa_wal *w, uint64_t height, uint64_t view,
                  uint8_t kind_view_change, uint8_t kind_new_view,
                  uint8_t kind_checkpoint);

/* The live records, oldest first: pointers live until the next call that
 * changes w. */
size_t certa_wal_count(const certa_wal *w);
void certa_wal_record(const certa_wal *w, size_t i, const uint8_t **bytes,
                      size_t *len);

typedef struct certa_wal_stats {
    uint64_t live_records;
    uint64_t live_bytes;
    uint64_t bytes_since_compaction;
    uint64_t compactions;
    uint64_t generation;
} certa_wal_stats;
void certa_wal_get_stats(const certa_wal *w, certa_wal_stats *st);

#endif
