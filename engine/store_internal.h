/* store_internal: what the parts of the block log share and nothing else
 * sees: the record and segment header layouts, the handle, the sequential
 * readers, and the helpers one part calls in another. The public contract
 * is include/certa/store.h; the on-disk layout is in docs/PROTOCOL.md.
 *
 * The parts, one job each:
 *   store.c          record and segment headers, the index, the flusher
 *                    (group commit on io_uring) and the public API
 *   store_recover.c  sequential reading (buffered and O_DIRECT streams),
 *                    and recovery at open: scan, classify damage, repair a
 *                    torn tail
 *   store_spare.c    the preparer thread and its spare segment
 * The invariants of the block log are stated in store.c.
 */
#ifndef CERTA_STORE_INTERNAL_H
#define CERTA_STORE_INTERNAL_H

#include "certa/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certa/wire.h"

#define REC_MAGIC 0x52545243u /* "CRTR" */
#define SEG_MAGIC 0x53545243u /* "CRTS" */
#define FORMAT_VERSION 1u
#define KIND_BLOCK 1u
#define KIND_PAD 2u
#define FLAG_END_OF_FLUSH 0x01u
#define HDR CERTA_STORE_RECORD_HEADER_BYTES
#define SECTOR CERTA_STORE_SECTOR_BYTES
#define SEG_HDR CERTA_STORE_SEGMENT_HEADER_BYTES
#define SEGMENTS_MAX 1000000u
#define READ_CHUNK_BYTES (8u << 20)
#define NO_HEIGHT UINT64_MAX

static inline uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
static inline uint64_t rec_span(uint64_t payload) { return align_up(HDR + payload, 8); }

/* ---- record header: 40 bytes ----
 *  0 u32 magic "CRTR"   4 u8 version   5 u8 kind   6 u8 flags   7 u8 0
 *  8 u64 height (0 for pad)   16 u64 flush number
 * 24 u32 payload_bytes   28 u32 CRC32C(payload) (0 for pad)   32 u32 0
 * 36 u32 CRC32C(bytes 0..35) */
typedef struct rec_hdr {
    uint8_t kind, flags;
    uint64_t height, flush;
    uint32_t payload_bytes, payload_crc;
} rec_hdr;

/* ---- segment header: one sector ----
 *  0 u32 magic "CRTS"  4 u32 version  8 u32 index  12 u32 flags (bit 0:
 *  pre-written with zeros; bit 1: spare, not yet used)
 * 16 u64 first height (0 in a spare)  24 u64 segment bytes  32 u32 0
 * 36 u32 CRC32C(bytes 0..35); the rest of the sector is zero.
 * A spare's header is replaced by the real one in the same write as the
 * segment's first group, so a spare header proves that no group of the
 * segment ever became durable. */
#define SEG_FLAG_PREWRITTEN 0x01u
#define SEG_FLAG_SPARE 0x02u

/* ---- the handle ---- */

enum { G_FREE, G_FILLING, G_SEALED, G_INFLIGHT };
enum { SP_NONE, SP_PREPARING, SP_READY, SP_FAILED };

typedef struct group {
    uint8_t *base; /* allocation: one sector of headroom, then buf */
    uint8_t *buf;
    uint64_t len;
    uint32_t seg;
    uint64_t off;
    uint64_t flush;
    uint64_t first_height, last_height;
    uint32_t count;
    uint64_t last_rec; /* offset in buf of the last block record */
    uint64_t payload_bytes;
    int state;
} group;

typedef struct idx_entry {
    uint64_t off;
    uint32_t seg;
    uint32_t len;
} idx_entry;

typedef struct seg_info {
    int rfd;
    uint64_t first_height;
} seg_info;

struct dstream;

struct certa_store {
    certa_store_opts o;
    struct dstream *feed_ds; /* read-ahead stream of a fed open, reused per segment */
    char *dir;
    int dirfd;
    int lockfd;

    pthread_mutex_t idx_mu; /* guards idx*, segs, nsegs */
    uint64_t idx_first;
    size_t idx_count, idx_cap;
    idx_entry *idx;
    seg_info *segs;
    uint32_t nsegs, segs_cap;

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv_work, cv_space, cv_durable;
    group *groups;
    uint32_t ngroups;
    uint64_t group_alloc;
    uint32_t fill, flush_next;
    uint64_t next_height;
    uint64_t next_flush;
    uint32_t wseg; /* where the next group starts */
    uint64_t woff;
    certa_err failed;
    char failmsg[320];
    bool closing;
    bool flushing; /* a group is being written (by the flusher or a leader) */
    certa_store_stats stats;

    uint64_t durable; /* atomic; NO_HEIGHT when none */
    pthread_mutex_t cb_mu; /* serializes on_durable calls */
    uint64_t cb_reported;  /* last height passed to on_durable */

    /* The spare segment (guarded by mu). The preparer thread prepares
     * segment spare_index once spare_allowed (the previous segment's header
     * is durable, so at most one spare exists and it is the last file). */
    pthread_cond_t cv_spare;
    int spare_state;
    uint32_t spare_index;
    bool spare_allowed;
    bool spare_prewritten;
    bool spare_cut; /* the writer waits for the spare: stop filling */
    uint64_t avg_flush_bytes; /* moving average of the bytes per flush */
    double avg_busy;          /* moving average of flush time / (flush time +
                               * idle time before it) */
    double last_flush_end_s;
    pthread_t preparer;
    bool preparer_started;
    bool prewrite; /* resolved option */
    bool prep_direct; /* the preparer writes with O_DIRECT */
    bool dsync;    /* resolved option */

    /* flusher-thread only */
    int wfd;
    uint32_t wfd_seg;
    bool direct;
    struct io_uring ring;
    bool ring_ready;
    pthread_t flusher;
    bool flusher_started;
};

/* ---- sequential reader used by recovery and scans ---- */

typedef struct reader {
    int fd;
    uint64_t fsize;
    uint8_t *buf;
    size_t cap;
    uint64_t boff;
    size_t blen;
    bool ahead; /* ask the kernel for the next chunk after each read */
    struct dstream *ds; /* when set, reads come from it (O_DIRECT, io_uring) */
} reader;

/* ---- direct sequential stream (audits: one pass over a whole segment) ----
 * O_DIRECT reads of DS_CHUNK bytes into a ring of DS_CHUNKS aligned chunk
 * buffers, all of them in flight through io_uring ahead of the reader. No
 * page cache: the disk writes straight into the chunks, so a scan costs
 * little CPU beyond its checksums, and it checks what is on the disk. A
 * range inside one chunk is returned in place; one that crosses chunks is
 * copied piece by piece into a side buffer (a record every few MiB, or a
 * record larger than a chunk). Reads must go forward.
 * Invariant: chunk number c (file bytes [c * DS_CHUNK, ...)) lives in ring
 * slot c % DS_CHUNKS; the chunks in [first, next) are submitted, and those
 * below `first` are released for reuse. */
#define DS_CHUNK (2u << 20)
#define DS_CHUNKS 8u

typedef struct dstream {
    int fd;
    uint64_t fsize;
    struct io_uring ring;
    uint8_t *chunks; /* DS_CHUNKS x DS_CHUNK, aligned */
    int res[DS_CHUNKS];
    bool done[DS_CHUNKS];
    uint64_t first, next; /* chunk numbers */
    unsigned inflight;
    uint8_t *side;        /* for ranges that cross chunks */
    size_t side_cap;
} dstream;

/* ---- helpers shared between the parts, by the file that defines them */
/* store.c */
void store_rec_encode(uint8_t *p, const rec_hdr *h);
const char *store_rec_decode(const uint8_t *p, rec_hdr *h);
bool store_all_zero(const uint8_t *p, size_t n);
void store_seg_hdr_encode(uint8_t *p, uint32_t index, uint64_t first_height,
                          uint64_t segment_bytes, uint32_t flags);
const char *store_seg_hdr_decode(const uint8_t *p, uint32_t index,
                                 uint64_t *first_height, uint32_t *flags);
void store_seg_name(char *out, size_t cap, uint32_t index, bool tmp);
certa_err store_idx_push(certa_store *s, uint64_t height, uint32_t seg,
                         uint64_t off, uint32_t len);
certa_err store_seg_push(certa_store *s, int rfd, uint64_t first_height);
certa_err store_errno_code(int e);

/* store_recover.c */
void store_ds_free(dstream *d);
int store_pread_full(int fd, void *buf, size_t len, uint64_t off);
const uint8_t *store_rd_get(reader *r, uint64_t off, size_t len);
uint64_t store_file_size(int fd);
certa_err store_open_dir(certa_store *s, certa_errinfo *ei);
certa_err store_recover(certa_store *s, certa_store_recovery *rep,
                        certa_errinfo *ei);

/* store_spare.c */
void *store_preparer_main(void *arg);
bool store_take_spare(certa_store *s, uint32_t index, bool *prewritten);
void store_spare_done(certa_store *s, uint32_t index);

#endif
