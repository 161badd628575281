/* store: the durable block log.
 *
 * An append-only log of blocks in segment files under a data directory.
 * Every record is framed (magic, version, kind, height, flush number,
 * payload length, CRC32C of the payload, CRC32C of the header) so that a
 * reader tells a complete record from a torn or rotten one. Appends are
 * copied into aligned group buffers; one flusher thread writes a whole group
 * with io_uring (a write linked to an fdatasync in one submission, O_DIRECT
 * where the filesystem allows it) and reports the group durable when the
 * fdatasync completes. Appends that arrive while a flush is in flight share
 * the next flush (group commit). The layout is in docs/PROTOCOL.md, section
 * "Block log records (on disk)".
 *
 * Segments: a second thread prepares the next segment file (a "spare")
 * while the current one fills, so that the writer only switches files.
 * Where O_DIRECT works and it is cheap (small flushes, or a disk not kept
 * busy by the log) it also fills the spare with zeros, so that appends
 * overwrite written blocks and are made durable with RWF_DSYNC and no
 * metadata write; otherwise it allocates the spare (fallocate), which spares
 * the appends the block allocation. At most one spare exists; a clean close
 * removes it.
 *
 * Durability is a prefix: heights become durable in order, so "block h is
 * durable" is "certa_store_durable_height() >= h".
 *
 * Threads: certa_store_append, certa_store_wait_durable, the read functions
 * and certa_store_durable_height may be called from any number of threads at
 * once. certa_store_close must be called once, after every other call on the
 * handle has returned.
 *
 * Use from a validator: the consensus thread calls certa_store_append(h) for
 * each committed block (it returns once the bytes are copied) and learns of
 * durability either from on_durable (called on the flusher thread with the
 * new durable height), by polling certa_store_durable_height, or by blocking
 * in certa_store_wait_durable(h) (usable from several threads at once, as the
 * 4-writer benchmark does). Only after that may the block's receipt leave.
 * Readers fetch durable blocks by height concurrently with appends.
 *
 * Ownership: every pointer passed in is borrowed for the duration of the
 * call only (data is copied), except on_durable_ctx, which must stay valid
 * until certa_store_close returns. Pointers handed to callbacks are valid
 * during the callback only.
 */
#ifndef CERTA_STORE_H
#define CERTA_STORE_H

#include "certa/certa.h"

#define CERTA_STORE_RECORD_HEADER_BYTES 40u
#define CERTA_STORE_SEGMENT_HEADER_BYTES 4096u
#define CERTA_STORE_SECTOR_BYTES 4096u

/* Called each time the durable prefix advances (or with err != CERTA_OK
 * once, when the store fails), in order, by the thread that completed the
 * flush: the store's flusher thread, or a thread blocked in
 * certa_store_wait_durable that wrote the group itself. It must not call back
 * into the store except certa_store_durable_height, and should return
 * quickly. */
typedef void (*certa_store_durable_fn)(void *ctx, uint64_t durable_height,
                                       certa_err err);

typedef struct certa_store_opts {
    const char *dir;            /* data directory; borrowed during open only */
    bool create;                /* create dir (one level) when missing */
    bool read_only;             /* no writes, no repair; appends refused */
    uint64_t segment_bytes;     /* size of a segment file; default 64 MiB (a
                                 * spare's zero fill is one segment) */
    uint32_t group_bytes;       /* capacity of one group buffer; default 64 MiB + 64 KiB;
                                 * also the largest record accepted */
    uint32_t group_buffers;     /* buffers in the ring (bounded queue); default 3 */
    int direct_io;              /* 1 on (default), 0 off, -1 = default */
    int spare_segment;          /* 1: a background thread prepares the next
                                 * segment file while the current one fills
                                 * (at most one spare); 0: segments are created
                                 * on the write path; -1 = default (1) */
    int prewrite;               /* 1: fill new segments with zeros before use,
                                 * so that appends overwrite written blocks and
                                 * need no metadata write; 2: only allocate
                                 * spares (fallocate, no data written); 0:
                                 * neither; -1 = default: where O_DIRECT works
                                 * (not tmpfs), fill a spare when cheap (see
                                 * engine/store.c), else allocate it */
    int dsync_writes;           /* 1: RWF_DSYNC writes; 0: a write linked to an
                                 * fdatasync; -1 = default: RWF_DSYNC when
                                 * segments are pre-written */
    bool headers_only_on_open;  /* read_only opens: check record headers only
                                 * (a few KiB per block) and leave payload
                                 * checksums to the reads, which verify them
                                 * anyway; for audits that read everything */
    uint64_t first_height;      /* height of the first record of an empty log;
                                 * default 0 (the genesis block) */
    /* read_only opens, optional: called by the open scan for every block it
     * indexes, in height order, once its payload checksum has verified
     * (data borrowed for the call only). The scan then reads every payload
     * once, sequentially and ahead of use (headers_only_on_open is ignored):
     * with O_DIRECT through io_uring, several MiB in flight, unless
     * direct_io is 0 or the filesystem refuses it (then through the page
     * cache with read-ahead). So an audit that hashes the blocks here reads
     * the log exactly once, from the disk. Returning false stops the scan:
     * the open fails with CERTA_E_STATE. */
    bool (*on_open_block)(void *ctx, uint64_t height, const uint8_t *data,
                          size_t len);
    void *on_open_block_ctx;
    certa_store_durable_fn on_durable; /* optional */
    void *on_durable_ctx;
} certa_store_opts;

/* Sets the defaults above. */
void certa_store_opts_default(certa_store_opts *o);

/* What open found. damage_* describe the first damaged record when one was
 * found: on a writable open a torn tail is truncated (truncated_bytes > 0,
 * tail_repaired) and a damaged record before the tail makes the open fail
 * with CERTA_E_CORRUPT; a read-only open succeeds, indexes the blocks before
 * the damage and reports it here. */
typedef struct certa_store_recovery {
    uint64_t blocks;            /* blocks indexed */
    uint64_t first_height;      /* valid when blocks > 0 */
    uint64_t last_height;
    uint64_t payload_bytes;     /* sum of block payloads */
    uint32_t segments;          /* segment files holding the log (not the spare) */
    bool spare_found;           /* an unused spare segment file followed the log
                                 * (a writable open removes it and prepares a
                                 * new one; it never holds a durable block) */
    bool direct_io;             /* O_DIRECT in use for writes */
    bool prewrite;              /* new segments are pre-written with zeros */
    bool tail_repaired;         /* a torn tail was cut */
    uint64_t truncated_bytes;   /* bytes of the tail that were cut */
    bool damaged;               /* damage found (torn or corrupt) */
    bool damage_is_corrupt;     /* true: before the tail; false: torn tail */
    uint32_t damage_segment;
    uint64_t damage_offset;
    uint64_t damage_height;     /* height the damaged record holds or would hold */
    char damage_msg[256];
} certa_store_recovery;

typedef struct certa_store certa_store;

/* Opens (and, when writable, recovers) the log in o->dir. rep may be NULL.
 * Errors: CERTA_E_NOTFOUND (no directory and !create), CERTA_E_READONLY
 * (directory or segment not writable), CERTA_E_CORRUPT (damage before the
 * tail: the message names segment file, offset and height), CERTA_E_IO.
 * *out is owned by the caller until certa_store_close. */
certa_err certa_store_open(const certa_store_opts *o, certa_store **out,
                           certa_store_recovery *rep, certa_errinfo *ei);

/* Waits for every accepted append to become durable (or fail), stops the
 * flusher and frees s. NULL is a no-op. */
void certa_store_close(certa_store *s);

/* Queues block `height` for writing. data (len bytes, 1 .. group_bytes -
 * header) is copied before the call returns; the caller keeps ownership.
 * height must be next_height (last accepted + 1), else CERTA_E_STATE.
 * Blocks when every group buffer is full or in flight (backpressure).
 * Returns CERTA_E_LIMIT for a record that cannot fit a group, and the
 * store's failure code once a write or flush failed (the store is then
 * unusable and must be reopened). Does not wait for durability. */
certa_err certa_store_append(certa_store *s, uint64_t height, const void *data,
                             size_t len, certa_errinfo *ei);

/* Blocks until block `height` is durable (CERTA_OK) or the store failed
 * (its failure code). Usable from several threads at once. */
certa_err certa_store_wait_durable(certa_store *s, uint64_t height,
                                   certa_errinfo *ei);

/* Blocks until the spare segment is ready (or its preparation failed, or
 * there is none to prepare). For benchmarks and tests: the background fill
 * shares the disk with the appends, and a benchmark charges its time to the
 * store by waiting here. */
void certa_store_wait_spare(certa_store *s);

/* append + wait_durable; the calling thread writes its group itself when
 * no flush is in flight (no hand-off to the flusher thread). */
certa_err certa_store_append_sync(certa_store *s, uint64_t height,
                                  const void *data, size_t len,
                                  certa_errinfo *ei);

/* The height the next append must carry. */
uint64_t certa_store_next_height(certa_store *s);

/* Highest durable height; UINT64_MAX when nothing is durable yet. Lock-free. */
uint64_t certa_store_durable_height(const certa_store *s);

/* Range of readable (durable) blocks: false when the log is empty. */
bool certa_store_range(certa_store *s, uint64_t *first, uint64_t *last);

/* Payload size of a durable block; CERTA_E_NOTFOUND when absent. */
certa_err certa_store_block_size(certa_store *s, uint64_t height, size_t *len);

/* Copies durable block `height` into buf (cap bytes), verifying its
 * checksums; *len gets its size. CERTA_E_NOTFOUND when not durable or
 * absent, CERTA_E_LIMIT when cap is too small, CERTA_E_CORRUPT naming the
 * segment, offset and height when the bytes on disk no longer match. */
certa_err certa_store_read(certa_store *s, uint64_t height, void *buf,
                           size_t cap, size_t *len, certa_errinfo *ei);

/* Calls fn for each durable block in [from, to] in order. data is borrowed
 * for the call only. fn returns false to stop early. Reads sequentially with
 * a large buffer; checksums are verified. */
typedef bool (*certa_store_scan_fn)(void *ctx, uint64_t height,
                                    const uint8_t *data, size_t len);
certa_err certa_store_scan(certa_store *s, uint64_t from, uint64_t to,
                           certa_store_scan_fn fn, void *ctx,
                           certa_errinfo *ei);

/* Where durable block `height` sits: segment file index (NNNNNNNN.seg) and
 * byte offset of its record header. CERTA_E_NOTFOUND when absent. */
certa_err certa_store_locate(certa_store *s, uint64_t height, uint32_t *segment,
                             uint64_t *offset);

/* Counters since open. */
typedef struct certa_store_stats {
    uint64_t appends;
    uint64_t flushes;           /* write+fdatasync submissions */
    uint64_t bytes_written;     /* including framing and padding */
    uint64_t payload_bytes;
} certa_store_stats;
void certa_store_get_stats(certa_store *s, certa_store_stats *st);

/* CRC32C (Castagnoli), hardware-accelerated where the CPU has it. crc is
 * the running value (0 to start). */
uint32_t certa_crc32c(uint32_t crc, const void *data, size_t len);

#endif
