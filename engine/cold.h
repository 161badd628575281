/* cold: the licence state's history on disk, one LMDB environment.
 *
 * The state (state.c) keeps its active grants in RAM; what can no longer
 * change lives here: every event's record (by sequence number, and listed
 * per holder and per grant so either pages with a cursor) and the final
 * record of every archived grant. Everything here is derived from the block
 * log: the environment stores the height it reflects (meta), written in the
 * same write transaction as that height's records, so it is either at a
 * block boundary or absent; blocks above it are replayed.
 *
 * Databases (keys compare as bytes; numbers big-endian so they sort):
 *   meta          "state" -> u64 height, u64 events, u64 archived, root[32]
 *                 "format" -> u32 3 (another: the store is rebuilt)
 *                 "bucket_bits" -> u32 B, fixed when the store is created
 *   event_groups  u64 first seq -> the records of a group's events, in seq
 *                 order, COLD_EVENT_BYTES each (one entry per group)
 *   holder_runs   u32 bucket | holder_id[32] | u64 first seq -> the holder's
 *                 seqs in one group, u64 each, ascending (one entry per
 *                 holder per group); bucket = first seq >> B
 *   grant_runs    u32 bucket | grant_id[16] | u64 first seq -> the same for
 *                 a grant
 *   grants        grant_id[16] -> an archived grant's record (state.c's layout)
 * Entries per group rather than per event: a write costs a few B-tree
 * puts per group and per holder and grant in it, not three per event.
 * Lists are bucketed by sequence number (2^B events a bucket) because
 * holder and grant ids are random: keyed by id alone, a group's puts land
 * on random leaves of trees that grow with the chain, so once a tree has
 * more leaves than a group has entries every put dirties (copies, faults
 * and writes back) a page of its own, and the writer's cost per event
 * grew with the chain's age (0.2 to 2.6 us at 16 M events). With the
 * bucket first, a group's puts land in the newest bucket's subtree, whose
 * size is bounded by 2^B events whatever the chain's age. The price is on
 * reads: a list is read bucket by bucket (one seek per bucket below the
 * end asked for). A run never crosses a bucket's bound: a holder's seqs of
 * a group that straddles one are two runs, one in each bucket.
 *
 * Writes are behind: the caller (the thread applying blocks) stages a
 * group of blocks' puts in memory and commit hands the group to the
 * store's writer thread, which writes it in one LMDB transaction with its
 * meta while the caller stages the next. At most one group is in flight:
 * commit waits for the one before (bounded memory, and the caller feels a
 * writer that falls behind). Reads see everything staged or handed over
 * (from memory) and the rest through an LMDB read snapshot begun after the
 * last group that left memory was committed, so a read never misses a put.
 * Thread safety: the caller's thread and readers must be serialized by the
 * caller (the state's lock); the writer thread touches only the group in
 * flight, which nobody changes until it is written.
 */
#ifndef CERTA_COLD_H
#define CERTA_COLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "certa/certa.h"
#include "certa/codec.h"

/* time 8, kind 1, result 1, centre 2, matter 4, types 4, has_grant 1,
 * grant_id 16 */
#define COLD_EVENT_BYTES 37u
#define COLD_GRANT_BYTES_MAX 160u
#define COLD_LIST_MAX 1024u /* seqs per certa_cold_list call */

typedef struct certa_cold certa_cold;

typedef struct certa_cold_meta {
    uint64_t height;   /* the last block whose records are all here */
    uint64_t events;   /* records of events 0 .. events-1 are here */
    uint64_t archived; /* archived grants (leaves of the archive tree) */
    uint8_t root[CERTA_HASH_BYTES];
} certa_cold_meta;

/* 2^19 events a bucket: the newest bucket's holder list stays under about
 * 7,500 leaf pages, so a group of 32,768 events dirties at most that many;
 * a holder's records over 100 million events are read in 191 seeks. */
#define COLD_BUCKET_BITS_DEFAULT 19u
/* Tests use small buckets, so that lists cross many of them. */
#define COLD_BUCKET_BITS_MIN 1u
#define COLD_BUCKET_BITS_MAX 40u

typedef struct certa_cold_opts {
    uint64_t map_bytes; /* LMDB map_size: the file's size limit (0: 64 GiB) */
    bool scratch;       /* thrown away after use: no marker, no sync at close */
    unsigned bucket_bits; /* a new store's buckets (0: COLD_BUCKET_BITS_DEFAULT);
                           * an existing store keeps its own */
} certa_cold_opts;

/* Durability. Commits are never fsynced (they reach the page cache only):
 * the store is derived, so a commit's cost stays off the disk. A killed
 * process loses nothing (LMDB's copy-on-write tree is consistent at every
 * commit and the kernel keeps the pages); a system crash may leave any
 * unflushed tree torn. So while commits may be unflushed, the file
 * DIR/unsynced holds the boot id of the system that wrote them: it is
 * written (and fsynced) at open, removed at close after mdb_env_sync. An
 * open that finds it with another boot id treats the store as torn. When
 * the boot id cannot be read, every commit is fsynced instead. */

/* Opens (creating dir and the environment when missing) the cold store in
 * dir. An environment that does not open, is shorter than its pages say
 * (a torn copy), has no readable meta or was left unflushed by a system
 * that has since restarted is removed and created empty: *rebuilt is then
 * true (the caller logs it; replay refills it). */
certa_err certa_cold_open(const char *dir, const certa_cold_opts *o, certa_cold **out,
                          bool *rebuilt, certa_errinfo *ei);
/* Flushes every commit (mdb_env_sync), removes DIR/unsynced and closes. */
void certa_cold_close(certa_cold *c);
/* The meta of the last commit the writer made. */
certa_cold_meta certa_cold_meta_of(certa_cold *c);
/* Why the last open rebuilt the store ("" when it did not). */
const char *certa_cold_rebuilt_why(const certa_cold *c);
/* Bytes of the pages the environment uses (its file is longer: sparse to
 * the map's size, and a kept store reserves 512 MiB of disk past them). */
uint64_t certa_cold_disk_bytes(const certa_cold *c);

/* ---- writing: begin, puts, commit (one group, one transaction) ---- */
/* Opens a group. An error: the writer failed before (nothing more is
 * written; the state stops and a restart replays). */
certa_err certa_cold_begin(certa_cold *c, certa_errinfo *ei);
/* True between begin and commit (or abort). */
bool certa_cold_writing(const certa_cold *c);
/* Stages event seq's record (seqs consecutive from the group's first) and
 * its entries on a holder's and a grant's list (holder / grant may be
 * NULL: on no such list). */
certa_err certa_cold_put_event(certa_cold *c, uint64_t seq,
                               const uint8_t rec[COLD_EVENT_BYTES],
                               const uint8_t *holder_id, const uint8_t *grant_id,
                               certa_errinfo *ei);
certa_err certa_cold_put_grant(certa_cold *c, const uint8_t grant_id[CERTA_GRANT_ID_BYTES],
                               const uint8_t *rec, size_t len, certa_errinfo *ei);
/* Hands the group, to be stored with meta m, to the writer (waiting for the
 * group before it to be written first). Returns the writer's failure, if
 * it has had one. */
certa_err certa_cold_commit(certa_cold *c, const certa_cold_meta *m, certa_errinfo *ei);
/* Drops the open group (a restart replays its blocks). */
void certa_cold_abort(certa_cold *c);
/* Waits until every group handed over is written; the writer's failure. */
certa_err certa_cold_sync(certa_cold *c, certa_errinfo *ei);
/* The writer's failure so far, without waiting. */
certa_err certa_cold_failed(certa_cold *c, certa_errinfo *ei);
/* Time the writer thread has spent writing (wall and its CPU). */
void certa_cold_writer_time(certa_cold *c, uint64_t *wall_ns, uint64_t *cpu_ns);

/* ---- reading (memory first, then a read snapshot opened on first use;
 * read_end drops it) ---- */
/* CERTA_E_NOTFOUND when absent. */
certa_err certa_cold_get_grant(certa_cold *c, const uint8_t grant_id[CERTA_GRANT_ID_BYTES],
                               uint8_t *rec, size_t cap, size_t *len);
certa_err certa_cold_get_event(certa_cold *c, uint64_t seq, uint8_t rec[COLD_EVENT_BYTES]);
/* Sequence numbers on a holder's (by_holder) or a grant's list, from
 * `from` (inclusive), below seq_end, at most limit; *next gets the first
 * one left (UINT64_MAX when none); limit <= COLD_LIST_MAX. When must_have_from, CERTA_E_ARG unless
 * `from` itself is on the list; CERTA_E_NOTFOUND when the list is empty. */
certa_err certa_cold_list(certa_cold *c, bool by_holder, const uint8_t *key, uint64_t from,
                          bool must_have_from, uint64_t seq_end, uint64_t *seqs,
                          uint32_t limit, uint32_t *n, uint64_t *next);
void certa_cold_read_end(certa_cold *c);

/* Removes the environment's files in dir (data.mdb, lock.mdb). */
void certa_cold_remove(const char *dir);

/* Nanoseconds on clock id: the writer's and the staging's timings
 * (CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID). */
static inline uint64_t certa_cold_clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
