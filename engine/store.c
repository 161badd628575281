/* store: the durable block log (see include/certa/store.h and the on-disk
 * layout in docs/PROTOCOL.md "Block log records (on disk)").
 *
 * Write path: appenders copy framed records into the FILLING group buffer
 * (a ring of group_buffers aligned buffers, the bounded queue). One flusher
 * thread seals the oldest non-empty group (padding it to a 4 KiB sector with
 * a pad record), writes it at a sector-aligned offset of the current segment
 * with io_uring (a write linked to an fdatasync, or one RWF_DSYNC write) and,
 * when the completion arrives, indexes its blocks and advances the durable
 * height. Only one group is in flight at a time, so everything appended
 * while it flies lands in the next group (group commit), and group k+1 is
 * submitted only after group k is durable. That ordering is what recovery
 * relies on: every record carries its group's flush number, and a damaged
 * record followed by a valid record of a later flush (or by a later segment
 * file) cannot be a torn write; it is corruption.
 *
 * Invariants: groups are flushed in ring order; a group never spans two
 * segments; every group starts and ends on a sector boundary; the index
 * holds exactly the durable blocks, consecutive heights from idx_first.
 */
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

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
static uint64_t rec_span(uint64_t payload) { return align_up(HDR + payload, 8); }

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

static void rec_encode(uint8_t *p, const rec_hdr *h)
{
    memset(p, 0, HDR);
    certa_put_le32(p, REC_MAGIC);
    p[4] = FORMAT_VERSION;
    p[5] = h->kind;
    p[6] = h->flags;
    certa_put_le64(p + 8, h->height);
    certa_put_le64(p + 16, h->flush);
    certa_put_le32(p + 24, h->payload_bytes);
    certa_put_le32(p + 28, h->payload_crc);
    certa_put_le32(p + 36, certa_crc32c(0, p, 36));
}

/* Returns NULL when p holds a well-formed header, else why not. */
static const char *rec_decode(const uint8_t *p, rec_hdr *h)
{
    if (certa_get_le32(p) != REC_MAGIC)
        return "bad record magic";
    if (certa_get_le32(p + 36) != certa_crc32c(0, p, 36))
        return "record header checksum mismatch";
    if (p[4] != FORMAT_VERSION)
        return "unknown record version";
    h->kind = p[5];
    h->flags = p[6];
    h->height = certa_get_le64(p + 8);
    h->flush = certa_get_le64(p + 16);
    h->payload_bytes = certa_get_le32(p + 24);
    h->payload_crc = certa_get_le32(p + 28);
    if (h->kind != KIND_BLOCK && h->kind != KIND_PAD)
        return "unknown record kind";
    if (p[7] != 0 || certa_get_le32(p + 32) != 0 || (h->flags & ~FLAG_END_OF_FLUSH) != 0)
        return "reserved header bits set";
    return NULL;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    /* word-wise, OR-reduced a cache line at a time: segment tails of
     * hundreds of MiB go through here */
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint64_t w[8];
        memcpy(w, p + i, sizeof w);
        if ((w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) != 0)
            return false;
    }
    for (; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

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

static void seg_hdr_encode(uint8_t *p, uint32_t index, uint64_t first_height,
                           uint64_t segment_bytes, uint32_t flags)
{
    memset(p, 0, SEG_HDR);
    certa_put_le32(p, SEG_MAGIC);
    certa_put_le32(p + 4, FORMAT_VERSION);
    certa_put_le32(p + 8, index);
    certa_put_le32(p + 12, flags);
    certa_put_le64(p + 16, first_height);
    certa_put_le64(p + 24, segment_bytes);
    certa_put_le32(p + 36, certa_crc32c(0, p, 36));
}

static const char *seg_hdr_decode(const uint8_t *p, uint32_t index,
                                  uint64_t *first_height, uint32_t *flags)
{
    if (certa_get_le32(p) != SEG_MAGIC)
        return "bad segment magic";
    if (certa_get_le32(p + 36) != certa_crc32c(0, p, 36))
        return "segment header checksum mismatch";
    if (certa_get_le32(p + 4) != FORMAT_VERSION)
        return "unknown segment version";
    if (certa_get_le32(p + 8) != index)
        return "segment header names another index";
    *flags = certa_get_le32(p + 12);
    if ((*flags & ~(SEG_FLAG_PREWRITTEN | SEG_FLAG_SPARE)) != 0)
        return "reserved segment flags set";
    *first_height = certa_get_le64(p + 16);
    return NULL;
}

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

void certa_store_opts_default(certa_store_opts *o)
{
    memset(o, 0, sizeof *o);
    o->segment_bytes = 64ull << 20;
    o->group_bytes = (64u << 20) + (64u << 10);
    o->group_buffers = 3;
    o->direct_io = -1;
    o->spare_segment = -1;
    o->prewrite = -1;
    o->dsync_writes = -1;
}

static void seg_name(char *out, size_t cap, uint32_t index, bool tmp)
{
    snprintf(out, cap, "%08u.seg%s", index, tmp ? ".tmp" : "");
}

/* ---- index ---- */

static certa_err idx_push(certa_store *s, uint64_t height, uint32_t seg,
                          uint64_t off, uint32_t len)
{
    if (s->idx_count == 0)
        s->idx_first = height;
    CERTA_ASSERT(height == s->idx_first + s->idx_count);
    if (s->idx_count == s->idx_cap) {
        size_t cap = s->idx_cap ? s->idx_cap * 2 : 1024;
        idx_entry *n = realloc(s->idx, cap * sizeof *n);
        if (n == NULL)
            return CERTA_E_NOMEM;
        s->idx = n;
        s->idx_cap = cap;
    }
    s->idx[s->idx_count++] = (idx_entry){.off = off, .seg = seg, .len = len};
    return CERTA_OK;
}

static certa_err seg_push(certa_store *s, int rfd, uint64_t first_height)
{
    if (s->nsegs == s->segs_cap) {
        uint32_t cap = s->segs_cap ? s->segs_cap * 2 : 16;
        seg_info *n = realloc(s->segs, cap * sizeof *n);
        if (n == NULL)
            return CERTA_E_NOMEM;
        s->segs = n;
        s->segs_cap = cap;
    }
    s->segs[s->nsegs++] = (seg_info){.rfd = rfd, .first_height = first_height};
    return CERTA_OK;
}

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

static uint64_t ds_nchunks(const dstream *d)
{
    return (d->fsize + DS_CHUNK - 1) / DS_CHUNK;
}

/* Waits for the reads still in flight (they target the chunks) and closes
 * the segment; the buffers stay for the next segment. NULL is a no-op. */
static void ds_detach(dstream *d)
{
    if (d == NULL || d->fd < 0)
        return;
    while (d->inflight > 0) {
        struct io_uring_cqe *cqe;
        if (io_uring_wait_cqe(&d->ring, &cqe) != 0)
            break;
        io_uring_cqe_seen(&d->ring, cqe);
        d->inflight--;
    }
    close(d->fd);
    d->fd = -1;
}

static void ds_free(dstream *d)
{
    if (d == NULL)
        return;
    ds_detach(d);
    io_uring_queue_exit(&d->ring);
    free(d->chunks);
    free(d->side);
    free(d);
}

/* The chunks and the ring, once per open: 2 MiB aligned, on huge pages
 * where the kernel allows (the reads then pin a few large pages instead of
 * thousands of small ones). NULL when they cannot be had. */
static dstream *ds_new(void)
{
    dstream *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->fd = -1;
    void *b = NULL;
    if (posix_memalign(&b, 2u << 20, (size_t)DS_CHUNKS * DS_CHUNK) != 0 ||
        io_uring_queue_init(DS_CHUNKS, &d->ring, 0) != 0) {
        free(b);
        free(d);
        return NULL;
    }
    (void)madvise(b, (size_t)DS_CHUNKS * DS_CHUNK, MADV_HUGEPAGE);
    d->chunks = b;
    return d;
}

/* Points d at segment file nm with O_DIRECT; false where the filesystem or
 * kernel refuses it (the caller then reads through the cache). */
static bool ds_attach(dstream *d, int dirfd, const char *nm, uint64_t fsize)
{
    CERTA_ASSERT(d->fd < 0 && d->inflight == 0);
    d->fd = openat(dirfd, nm, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (d->fd < 0)
        return false;
    d->fsize = fsize;
    d->first = d->next = 0;
    memset(d->done, 0, sizeof d->done);
    return true;
}

/* Submits reads for every free ring slot; 0 or -errno. */
static int ds_fill(dstream *d)
{
    unsigned queued = 0;
    while (d->next < ds_nchunks(d) && d->next < d->first + DS_CHUNKS) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);
        if (sqe == NULL)
            break;
        unsigned i = (unsigned)(d->next % DS_CHUNKS);
        uint64_t off = d->next * DS_CHUNK;
        uint64_t left = align_up(d->fsize - off, SECTOR);
        io_uring_prep_read(sqe, d->fd, d->chunks + (size_t)i * DS_CHUNK,
                           (unsigned)(left < DS_CHUNK ? left : DS_CHUNK), off);
        io_uring_sqe_set_data64(sqe, i);
        d->done[i] = false;
        d->inflight++;
        d->next++;
        queued++;
    }
    if (queued == 0)
        return 0;
    int rc = io_uring_submit(&d->ring);
    return rc < 0 ? rc : 0;
}

/* Chunk c (first <= c < next) once its read completed; NULL with errno. */
static const uint8_t *ds_chunk(dstream *d, uint64_t c)
{
    CERTA_ASSERT(c >= d->first && c < d->next);
    unsigned i = (unsigned)(c % DS_CHUNKS);
    while (!d->done[i]) {
        struct io_uring_cqe *cqe;
        int rc = io_uring_wait_cqe(&d->ring, &cqe);
        if (rc == -EINTR)
            continue;
        if (rc != 0) {
            errno = -rc;
            return NULL;
        }
        unsigned k = (unsigned)io_uring_cqe_get_data64(cqe);
        CERTA_ASSERT(k < DS_CHUNKS && !d->done[k]);
        d->res[k] = cqe->res;
        d->done[k] = true;
        d->inflight--;
        io_uring_cqe_seen(&d->ring, cqe);
    }
    uint64_t off = c * DS_CHUNK;
    uint64_t want = d->fsize - off < DS_CHUNK ? d->fsize - off : DS_CHUNK;
    if (d->res[i] < 0 || (uint64_t)d->res[i] < want) {
        /* only the end of the file may come short, and not before fsize */
        errno = d->res[i] < 0 ? -d->res[i] : EIO;
        return NULL;
    }
    return d->chunks + (size_t)i * DS_CHUNK;
}

/* Releases the chunks below c and keeps the ring full. */
static int ds_advance(dstream *d, uint64_t c)
{
    if (c > d->first)
        d->first = c < d->next ? c : d->next;
    return ds_fill(d);
}

/* Like rd_get: [off, off + len) of the file, valid until the next call. */
static const uint8_t *ds_get(dstream *d, uint64_t off, size_t len)
{
    if (off > d->fsize || len > d->fsize - off) {
        errno = ERANGE;
        return NULL;
    }
    uint64_t c0 = off / DS_CHUNK, c1 = len ? (off + len - 1) / DS_CHUNK : c0;
    if (c0 < d->first) {
        errno = EINVAL; /* backwards */
        return NULL;
    }
    int rc = ds_advance(d, c0);
    if (rc != 0) {
        errno = -rc;
        return NULL;
    }
    if (c0 == c1 || len == 0) {
        const uint8_t *p = ds_chunk(d, c0);
        return p == NULL ? NULL : p + (off - c0 * DS_CHUNK);
    }
    if (len > d->side_cap) {
        uint8_t *n = realloc(d->side, len);
        if (n == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        d->side = n;
        d->side_cap = len;
    }
    /* piece by piece, releasing each chunk once copied */
    size_t done = 0;
    for (uint64_t c = c0; c <= c1; c++) {
        if ((rc = ds_advance(d, c)) != 0) {
            errno = -rc;
            return NULL;
        }
        const uint8_t *p = ds_chunk(d, c);
        if (p == NULL)
            return NULL;
        uint64_t from = c == c0 ? off - c0 * DS_CHUNK : 0;
        size_t n = (size_t)(DS_CHUNK - from) < len - done ? (size_t)(DS_CHUNK - from) : len - done;
        memcpy(d->side + done, p + from, n);
        done += n;
    }
    CERTA_ASSERT(done == len);
    return d->side;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Returns a pointer to [off, off+len) of the file, valid until the next call,
 * or NULL (errno set; ERANGE when past the end of the file). */
static const uint8_t *rd_get(reader *r, uint64_t off, size_t len)
{
    if (r->ds != NULL)
        return ds_get(r->ds, off, len);
    if (off > r->fsize || len > r->fsize - off) {
        errno = ERANGE;
        return NULL;
    }
    if (off >= r->boff && off + len <= r->boff + r->blen)
        return r->buf + (off - r->boff);
    if (len > r->cap) {
        uint8_t *n = realloc(r->buf, len);
        if (n == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        r->buf = n;
        r->cap = len;
    }
    size_t want = r->cap;
    if (want > r->fsize - off)
        want = (size_t)(r->fsize - off);
    if (pread_full(r->fd, r->buf, want, off) != 0)
        return NULL;
    if (r->ahead && off + want < r->fsize)
        /* the next chunk: the disk reads it while the caller works on this
         * one (advice only, errors do not matter) */
        (void)posix_fadvise(r->fd, (off_t)(off + want), (off_t)(2 * r->cap),
                            POSIX_FADV_WILLNEED);
    r->boff = off;
    r->blen = want;
    return r->buf;
}

/* ---- recovery ---- */

typedef struct scan_state {
    bool have_prev;
    uint64_t prev_flush;
    bool prev_end;
    uint64_t expected;     /* next height */
    bool expected_known;
    uint64_t max_flush;
    uint64_t end_off;      /* where the last good record of the last segment ends */
    uint64_t payload_bytes;
    bool spare;            /* the last file is an unused spare */
} scan_state;

typedef struct damage {
    bool found;
    uint32_t seg;
    uint64_t off;
    const char *why;
} damage;

/* Largest flush number of any well-formed record header at or after `from`
 * (8-byte steps) in segment seg; 0 when none. */
static certa_err max_flush_after(certa_store *s, int fd, uint64_t fsize,
                                 uint64_t from, uint64_t *max_flush)
{
    reader r = {.fd = fd, .fsize = fsize, .cap = READ_CHUNK_BYTES};
    r.buf = malloc(r.cap);
    if (r.buf == NULL)
        return CERTA_E_NOMEM;
    (void)s;
    *max_flush = 0;
    for (uint64_t pos = align_up(from, 8); pos + HDR <= fsize; pos += 8) {
        const uint8_t *p = rd_get(&r, pos, HDR);
        if (p == NULL) {
            free(r.buf);
            return CERTA_E_IO;
        }
        rec_hdr h;
        if (certa_get_le32(p) == REC_MAGIC && rec_decode(p, &h) == NULL && h.flush > *max_flush)
            *max_flush = h.flush;
    }
    free(r.buf);
    return CERTA_OK;
}

/* true when any byte of [from, fsize) is not zero (or it cannot be read).
 * Holes and unwritten extents (SEEK_HOLE) read as zeros and are skipped:
 * the tail of an allocated segment is mostly that. A filesystem without
 * SEEK_DATA reports the whole file as data, which is read. */
static bool any_nonzero_after(int fd, uint64_t fsize, uint64_t from)
{
    reader r = {.fd = fd, .fsize = fsize, .cap = READ_CHUNK_BYTES};
    r.buf = malloc(r.cap);
    if (r.buf == NULL)
        return true;
    bool found = false;
    uint64_t data_end = from; /* [pos, data_end) is known to hold data */
    for (uint64_t pos = from; pos < fsize && !found;) {
        if (pos >= data_end) {
            off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
            if (d < 0 && errno == ENXIO)
                break; /* nothing but holes up to the end */
            if (d < 0) {
                data_end = fsize;
            } else {
                off_t h = lseek(fd, d, SEEK_HOLE);
                pos = (uint64_t)d;
                data_end = h < 0 ? fsize : (uint64_t)h;
                if (data_end > fsize)
                    data_end = fsize;
                if (pos >= fsize)
                    break;
            }
        }
        uint64_t lim = data_end < fsize ? data_end : fsize;
        size_t n = (size_t)(lim - pos < r.cap ? lim - pos : r.cap);
        const uint8_t *p = rd_get(&r, pos, n);
        found = p == NULL || !all_zero(p, n);
        pos += n;
    }
    free(r.buf);
    return found;
}

static uint64_t file_size(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return 0;
    return (uint64_t)st.st_size;
}

/* Scans segment k, indexing its blocks, until its end or the first damage.
 * A spare (never used) segment is not registered: as the last file it ends
 * the log (st->spare), anywhere else it is damage. */
static certa_err scan_segment(certa_store *s, uint32_t k, int fd, bool last, scan_state *st,
                              damage *dm, certa_errinfo *ei)
{
    uint64_t fsize = file_size(fd);
    bool feed = s->o.on_open_block != NULL;
    bool headers_only = s->o.read_only && s->o.headers_only_on_open && !feed;
    reader r = {.fd = fd, .fsize = fsize, .cap = headers_only ? SECTOR : READ_CHUNK_BYTES,
                .ahead = feed};
    if (feed) {
        /* one pass over everything: O_DIRECT where allowed, else through
         * the cache with read-ahead */
        char nm[32];
        seg_name(nm, sizeof nm, k, false);
        if (s->o.direct_io != 0 && s->feed_ds == NULL)
            s->feed_ds = ds_new();
        if (s->o.direct_io != 0 && s->feed_ds != NULL &&
            ds_attach(s->feed_ds, s->dirfd, nm, fsize))
            r.ds = s->feed_ds;
        if (r.ds == NULL)
            (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    r.buf = malloc(r.cap);
    if (r.buf == NULL) {
        ds_detach(r.ds);
        return certa_errorf(ei, CERTA_E_NOMEM, "store: no memory to scan");
    }
    certa_err err = CERTA_OK;
    const uint8_t *p = rd_get(&r, 0, SEG_HDR);
    uint64_t first_height = 0;
    uint32_t seg_flags = 0;
    const char *why = NULL;
    if (p == NULL)
        why = errno == ERANGE ? "segment shorter than its header" : NULL;
    else
        why = seg_hdr_decode(p, k, &first_height, &seg_flags);
    if (p == NULL && why == NULL) {
        err = certa_errorf(ei, CERTA_E_IO, "store: read segment %08u.seg: %s", k,
                           strerror(errno));
        goto out;
    }
    if (why != NULL && last && !any_nonzero_after(fd, fsize, 0)) {
        /* An all-zero last file holds nothing: an unused segment, like a
         * spare. */
        st->spare = true;
        goto out;
    }
    if (why == NULL && (seg_flags & SEG_FLAG_SPARE) != 0) {
        if (last) {
            st->spare = true;
            goto out;
        }
        why = "unused spare segment before the end of the log";
    }
    if (why == NULL && st->expected_known && first_height != st->expected)
        why = "segment header first height does not follow the previous segment";
    if (why != NULL) {
        *dm = (damage){.found = true, .seg = k, .off = 0, .why = why};
        goto out;
    }
    if (!st->expected_known) {
        st->expected = first_height;
        st->expected_known = true;
    }
    if ((err = seg_push(s, fd, first_height)) != CERTA_OK)
        goto out;

    uint64_t pos = SEG_HDR;
    for (;;) {
        if (pos + HDR > fsize) {
            /* Fewer bytes than a header left: the end, unless they hold data. */
            if (pos < fsize) {
                p = rd_get(&r, pos, (size_t)(fsize - pos));
                if (p == NULL) {
                    err = certa_errorf(ei, CERTA_E_IO, "store: read %08u.seg: %s", k,
                                       strerror(errno));
                    goto out;
                }
                if (!all_zero(p, (size_t)(fsize - pos)))
                    *dm = (damage){true, k, pos, "partial record header at end of file"};
            }
            break;
        }
        p = rd_get(&r, pos, HDR);
        if (p == NULL) {
            err = certa_errorf(ei, CERTA_E_IO, "store: read %08u.seg: %s", k, strerror(errno));
            goto out;
        }
        if (all_zero(p, HDR)) {
            /* A clean end: sector-aligned, after a complete flush, in a
             * pre-written segment whose rest is all zeros (elsewhere the
             * file ends with the last flush, so zeros before the end mean a
             * torn write). Anything else after it makes it damage. */
            bool clean = pos % SECTOR == 0 && (!st->have_prev || st->prev_end) &&
                         (seg_flags & SEG_FLAG_PREWRITTEN) != 0 &&
                         !any_nonzero_after(fd, fsize, pos);
            /* (all zeros after pos hold no record: one pass is enough) */
            if (!clean)
                *dm = (damage){true, k, pos, "zeroed record header"};
            break;
        }
        rec_hdr h;
        const uint8_t *pl = NULL; /* the payload, when read */
        why = rec_decode(p, &h);
        if (why == NULL && (uint64_t)h.payload_bytes + HDR > fsize - pos)
            why = "record length runs past the end of the segment";
        if (why == NULL && h.kind == KIND_BLOCK && headers_only) {
            if (h.height != st->expected)
                why = "height out of sequence";
        } else if (why == NULL && h.kind == KIND_BLOCK) {
            pl = rd_get(&r, pos + HDR, h.payload_bytes);
            if (pl == NULL) {
                err = certa_errorf(ei, CERTA_E_IO, "store: read %08u.seg: %s", k,
                                   strerror(errno));
                goto out;
            }
            if (certa_crc32c(0, pl, h.payload_bytes) != h.payload_crc)
                why = "payload checksum mismatch";
            else if (h.height != st->expected)
                why = "height out of sequence";
        }
        if (why != NULL) {
            *dm = (damage){true, k, pos, why};
            break;
        }
        if (h.kind == KIND_BLOCK) {
            pthread_mutex_lock(&s->idx_mu);
            err = idx_push(s, h.height, k, pos, h.payload_bytes);
            pthread_mutex_unlock(&s->idx_mu);
            if (err != CERTA_OK) {
                certa_errorf(ei, err, "store: no memory for the index");
                goto out;
            }
            CERTA_ASSERT(!feed || pl != NULL);
            if (feed && !s->o.on_open_block(s->o.on_open_block_ctx, h.height, pl,
                                            h.payload_bytes)) {
                err = certa_errorf(ei, CERTA_E_STATE,
                                   "store: open stopped by the caller at height %llu",
                                   (unsigned long long)h.height);
                goto out;
            }
            st->expected++;
            st->payload_bytes += h.payload_bytes;
        }
        st->have_prev = true;
        st->prev_flush = h.flush;
        st->prev_end = (h.flags & FLAG_END_OF_FLUSH) != 0;
        if (h.flush > st->max_flush)
            st->max_flush = h.flush;
        pos += rec_span(h.payload_bytes);
    }
    st->end_off = pos;
out:
    ds_detach(r.ds);
    free(r.buf);
    return err;
}

/* ---- open ---- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists NNNNNNNN.seg files; removes leftover .seg.tmp files when writable. */
static certa_err list_segments(certa_store *s, uint32_t **out, uint32_t *n,
                               certa_errinfo *ei)
{
    int fd = dup(s->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return certa_errorf(ei, CERTA_E_IO, "store: list %s: %s", s->dir, strerror(errno));
    }
    uint32_t cap = 64, cnt = 0;
    uint32_t *v = malloc(cap * sizeof *v);
    if (v == NULL) {
        closedir(d);
        return certa_errorf(ei, CERTA_E_NOMEM, "store: no memory");
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        size_t l = strlen(nm);
        bool digits = l >= 12;
        for (size_t i = 0; digits && i < 8; i++)
            digits = nm[i] >= '0' && nm[i] <= '9';
        if (!digits)
            continue;
        if (l == 16 && strcmp(nm + 8, ".seg.tmp") == 0) {
            if (!s->o.read_only)
                unlinkat(s->dirfd, nm, 0);
            continue;
        }
        if (l != 12 || strcmp(nm + 8, ".seg") != 0)
            continue;
        if (cnt == cap) {
            cap *= 2;
            uint32_t *nv = realloc(v, cap * sizeof *v);
            if (nv == NULL) {
                free(v);
                closedir(d);
                return certa_errorf(ei, CERTA_E_NOMEM, "store: no memory");
            }
            v = nv;
        }
        v[cnt++] = (uint32_t)strtoul(nm, NULL, 10);
    }
    closedir(d);
    qsort(v, cnt, sizeof *v, cmp_u32);
    for (uint32_t i = 0; i < cnt; i++) {
        if (v[i] != i) {
            char nm[32];
            seg_name(nm, sizeof nm, i, false);
            free(v);
            return certa_errorf(ei, CERTA_E_CORRUPT,
                                "store: %s: segment file %s is missing (segments must be "
                                "numbered from 00000000 without gaps)", s->dir, nm);
        }
    }
    *out = v;
    *n = cnt;
    return CERTA_OK;
}

static certa_err open_dir(certa_store *s, certa_errinfo *ei)
{
    struct stat st;
    if (stat(s->dir, &st) != 0) {
        if (errno != ENOENT)
            return certa_errorf(ei, CERTA_E_IO, "store: data directory %s: %s", s->dir,
                                strerror(errno));
        if (!s->o.create || s->o.read_only)
            return certa_errorf(ei, CERTA_E_NOTFOUND,
                                "store: data directory %s does not exist", s->dir);
        if (mkdir(s->dir, 0755) != 0) {
            certa_err c = (errno == EACCES || errno == EROFS || errno == EPERM)
                              ? CERTA_E_READONLY : CERTA_E_IO;
            return certa_errorf(ei, c, "store: cannot create data directory %s: %s",
                                s->dir, strerror(errno));
        }
    } else if (!S_ISDIR(st.st_mode)) {
        return certa_errorf(ei, CERTA_E_ARG, "store: %s is not a directory", s->dir);
    }
    s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0)
        return certa_errorf(ei, errno == EACCES ? CERTA_E_READONLY : CERTA_E_IO,
                            "store: open data directory %s: %s", s->dir, strerror(errno));
    if (s->o.read_only)
        return CERTA_OK;
    /* The lock file proves the directory is writable and keeps a second
     * writer out (two flushers would interleave groups). */
    s->lockfd = openat(s->dirfd, "LOCK", O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (s->lockfd < 0) {
        certa_err c = (errno == EACCES || errno == EROFS || errno == EPERM)
                          ? CERTA_E_READONLY : CERTA_E_IO;
        return certa_errorf(ei, c, "store: data directory %s is not writable: %s",
                            s->dir, strerror(errno));
    }
    if (flock(s->lockfd, LOCK_EX | LOCK_NB) != 0)
        return certa_errorf(ei, CERTA_E_BUSY,
                            "store: data directory %s is in use by another process",
                            s->dir);
    return CERTA_OK;
}

/* Cuts the log at (seg, off): truncates that segment, pads it to a sector
 * and removes every later segment. */
static certa_err repair_tail(certa_store *s, const damage *dm, uint32_t nfiles,
                             const scan_state *st, uint64_t *cut,
                             certa_errinfo *ei)
{
    char nm[32];
    *cut = 0;
    for (uint32_t k = nfiles; k-- > dm->seg + 1;) {
        seg_name(nm, sizeof nm, k, false);
        struct stat sb;
        if (fstatat(s->dirfd, nm, &sb, 0) == 0)
            *cut += (uint64_t)sb.st_size;
        if (unlinkat(s->dirfd, nm, 0) != 0)
            return certa_errorf(ei, CERTA_E_IO, "store: remove %s/%s: %s", s->dir, nm,
                                strerror(errno));
    }
    seg_name(nm, sizeof nm, dm->seg, false);
    if (dm->off == 0) {
        /* The segment's own header is damaged and nothing after it is valid:
         * it was never used. */
        struct stat sb;
        if (fstatat(s->dirfd, nm, &sb, 0) == 0)
            *cut += (uint64_t)sb.st_size;
        if (unlinkat(s->dirfd, nm, 0) != 0)
            return certa_errorf(ei, CERTA_E_IO, "store: remove %s/%s: %s", s->dir, nm,
                                strerror(errno));
    } else {
        int fd = openat(s->dirfd, nm, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            return certa_errorf(ei, CERTA_E_IO, "store: open %s/%s: %s", s->dir, nm,
                                strerror(errno));
        uint64_t size = file_size(fd);
        *cut += size > dm->off ? size - dm->off : 0;
        uint64_t gap = align_up(dm->off, SECTOR) - dm->off;
        if (gap != 0 && gap < HDR)
            gap += SECTOR;
        int rc = ftruncate(fd, (off_t)dm->off);
        if (rc == 0 && gap != 0) {
            /* The next group must start on a sector: fill the gap with a pad
             * record that closes the cut flush. */
            uint8_t *pad = calloc(1, gap);
            if (pad == NULL) {
                close(fd);
                return certa_errorf(ei, CERTA_E_NOMEM, "store: no memory");
            }
            rec_hdr h = {.kind = KIND_PAD, .flags = FLAG_END_OF_FLUSH,
                         .flush = st->have_prev ? st->prev_flush : 0,
                         .payload_bytes = (uint32_t)(gap - HDR)};
            rec_encode(pad, &h);
            rc = pwrite(fd, pad, gap, (off_t)dm->off) == (ssize_t)gap ? 0 : -1;
            free(pad);
        }
        if (rc == 0)
            rc = fdatasync(fd);
        int e = errno;
        close(fd);
        if (rc != 0)
            return certa_errorf(ei, e == ENOSPC ? CERTA_E_NOSPACE : CERTA_E_IO,
                                "store: repair %s/%s: %s", s->dir, nm, strerror(e));
    }
    if (fsync(s->dirfd) != 0)
        return certa_errorf(ei, CERTA_E_IO, "store: fsync %s: %s", s->dir, strerror(errno));
    return CERTA_OK;
}

/* Decides whether damage is a torn tail (only the last flush is affected)
 * or corruption (a later flush or segment exists, so the damaged flush had
 * completed). */
static certa_err classify(certa_store *s, const damage *dm, uint32_t nfiles,
                          const scan_state *st, int dm_fd, bool *corrupt,
                          certa_errinfo *ei)
{
    *corrupt = false;
    if (dm->seg + 1 < nfiles) {
        /* A later segment gets its real header only with its first group,
         * written after every earlier group completed. Only an unused later
         * segment (a spare, or header-less) without records is harmless;
         * records even in a spare prove the damaged flush had completed. */
        for (uint32_t k = dm->seg + 1; k < nfiles; k++) {
            char nm[32];
            seg_name(nm, sizeof nm, k, false);
            int fd = openat(s->dirfd, nm, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                return certa_errorf(ei, CERTA_E_IO, "store: open %s/%s: %s", s->dir, nm,
                                    strerror(errno));
            uint8_t hdr[SEG_HDR];
            uint64_t fh, mf = 0;
            uint32_t fl;
            bool valid_hdr = file_size(fd) >= SEG_HDR &&
                             pread_full(fd, hdr, SEG_HDR, 0) == 0 &&
                             seg_hdr_decode(hdr, k, &fh, &fl) == NULL &&
                             (fl & SEG_FLAG_SPARE) == 0;
            certa_err err = max_flush_after(s, fd, file_size(fd), SEG_HDR, &mf);
            close(fd);
            if (err != CERTA_OK)
                return certa_errorf(ei, err, "store: scan %s/%s", s->dir, nm);
            if (valid_hdr || mf != 0) {
                *corrupt = true;
                return CERTA_OK;
            }
        }
    }
    uint64_t f_x = st->have_prev ? st->prev_flush + (st->prev_end ? 1 : 0) : 1;
    uint64_t mf = 0;
    certa_err err = max_flush_after(s, dm_fd, file_size(dm_fd), dm->off + 8, &mf);
    if (err != CERTA_OK)
        return certa_errorf(ei, err, "store: scan segment %08u.seg", dm->seg);
    if (mf > f_x)
        *corrupt = true;
    return CERTA_OK;
}

static certa_err recover(certa_store *s, certa_store_recovery *rep,
                         certa_errinfo *ei)
{
    uint32_t *files = NULL, nfiles = 0;
    certa_err err = list_segments(s, &files, &nfiles, ei);
    if (err != CERTA_OK)
        return err;
    free(files); /* list_segments proved they are 0..nfiles-1 */
    scan_state st = {.expected = s->o.first_height};
    damage dm = {0};
    int dm_fd = -1;
    for (uint32_t k = 0; k < nfiles && !dm.found; k++) {
        char nm[32];
        seg_name(nm, sizeof nm, k, false);
        int fd = openat(s->dirfd, nm, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return certa_errorf(ei, CERTA_E_IO, "store: open %s/%s: %s", s->dir, nm,
                                strerror(errno));
        uint32_t before = s->nsegs;
        err = scan_segment(s, k, fd, k + 1 == nfiles, &st, &dm, ei);
        if (err != CERTA_OK) {
            if (s->nsegs == before)
                close(fd);
            return err;
        }
        if (st.spare)
            close(fd); /* not registered */
        if (dm.found)
            dm_fd = fd; /* registered in segs unless its header was damaged */
    }
    /* the audit's read-ahead buffers are not needed past the scan */
    ds_free(s->feed_ds);
    s->feed_ds = NULL;
    rep->segments = nfiles - (st.spare ? 1 : 0);
    rep->spare_found = st.spare;
    if (st.spare && !s->o.read_only) {
        /* Nothing in it was ever durable (its header would be real): remove
         * it; the preparer makes a fresh one. */
        char nm[32];
        seg_name(nm, sizeof nm, nfiles - 1, false);
        if (unlinkat(s->dirfd, nm, 0) != 0 || fsync(s->dirfd) != 0)
            return certa_errorf(ei, CERTA_E_IO, "store: remove spare %s/%s: %s", s->dir, nm,
                                strerror(errno));
    }
    if (dm.found) {
        bool corrupt = false;
        err = classify(s, &dm, nfiles, &st, dm_fd, &corrupt, ei);
        if (dm.off == 0)
            close(dm_fd); /* not registered in segs */
        if (err != CERTA_OK)
            return err;
        rep->damaged = true;
        rep->damage_is_corrupt = corrupt;
        rep->damage_segment = dm.seg;
        rep->damage_offset = dm.off;
        rep->damage_height = st.expected;
        snprintf(rep->damage_msg, sizeof rep->damage_msg,
                 "%s record in segment %08u.seg at offset %llu (height %llu): %s",
                 corrupt ? "corrupt" : "torn", dm.seg, (unsigned long long)dm.off,
                 (unsigned long long)st.expected, dm.why);
        if (corrupt && !s->o.read_only)
            return certa_errorf(ei, CERTA_E_CORRUPT,
                                "store: %s: corrupt record before the tail: segment %08u.seg, "
                                "offset %llu, height %llu (%s); restore this block from a "
                                "peer", s->dir, dm.seg, (unsigned long long)dm.off,
                                (unsigned long long)st.expected, dm.why);
        if (!corrupt && !s->o.read_only) {
            uint64_t cut = 0;
            err = repair_tail(s, &dm, nfiles, &st, &cut, ei);
            if (err != CERTA_OK)
                return err;
            rep->tail_repaired = true;
            rep->truncated_bytes = cut;
            if (dm.off != 0) {
                uint64_t gap = align_up(dm.off, SECTOR) - dm.off;
                if (gap != 0 && gap < HDR)
                    gap += SECTOR;
                st.end_off = dm.off + gap;
            }
        }
    }
    /* Where the writer continues. */
    s->next_height = st.expected;
    s->next_flush = st.max_flush + 1;
    if (s->nsegs == 0) {
        s->wseg = 0;
        s->woff = SEG_HDR;
    } else {
        s->wseg = s->nsegs - 1;
        s->woff = st.end_off;
        if (!s->o.read_only && s->woff % SECTOR != 0)
            return certa_errorf(ei, CERTA_E_INTERNAL,
                                "store: segment %08u.seg ends at unaligned offset %llu",
                                s->wseg, (unsigned long long)s->woff);
    }
    rep->blocks = s->idx_count;
    rep->first_height = s->idx_first;
    rep->last_height = s->idx_count ? s->idx_first + s->idx_count - 1 : 0;
    rep->payload_bytes = st.payload_bytes;
    if (s->idx_count > 0)
        __atomic_store_n(&s->durable, rep->last_height, __ATOMIC_RELEASE);
    return CERTA_OK;
}

/* ---- flusher ---- */

static void set_failed(certa_store *s, certa_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_failed(certa_store *s, certa_err err, const char *fmt, ...)
{
    if (s->failed != CERTA_OK)
        return;
    s->failed = err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->failmsg, sizeof s->failmsg, fmt, ap);
    va_end(ap);
}

static certa_err errno_code(int e)
{
    return (e == ENOSPC || e == EFBIG || e == EDQUOT) ? CERTA_E_NOSPACE : CERTA_E_IO;
}

static int open_wfd(certa_store *s, const char *nm)
{
    int fd = -1;
    if (s->o.direct_io != 0) {
        fd = openat(s->dirfd, nm, O_WRONLY | O_CLOEXEC | O_DIRECT);
        if (fd >= 0) {
            s->direct = true;
            return fd;
        }
        if (errno != EINVAL)
            return -1;
    }
    s->direct = false;
    return openat(s->dirfd, nm, O_WRONLY | O_CLOEXEC);
}

/* Registers segment `index`, whole on disk, as the current one for readers
 * (a new segment, or a spare the flusher has started to fill). */
static certa_err register_segment(certa_store *s, uint32_t index, uint64_t first_height,
                             char *msg, size_t msg_cap)
{
    char nm[32];
    seg_name(nm, sizeof nm, index, false);
    int rfd = openat(s->dirfd, nm, O_RDONLY | O_CLOEXEC);
    if (rfd < 0) {
        snprintf(msg, msg_cap, "store: open %s/%s: %s", s->dir, nm, strerror(errno));
        return CERTA_E_IO;
    }
    pthread_mutex_lock(&s->idx_mu);
    certa_err err = seg_push(s, rfd, first_height);
    pthread_mutex_unlock(&s->idx_mu);
    if (err != CERTA_OK) {
        close(rfd);
        snprintf(msg, msg_cap, "store: no memory");
    }
    return err;
}

/* Creates segment `index` whose first block is first_height: written under
 * a temporary name, synced, renamed, directory synced, so that a segment
 * file either is whole or does not exist. Called from the flusher. */
static certa_err create_segment(certa_store *s, uint32_t index, uint64_t first_height,
                                char *msg, size_t msg_cap)
{
    char tmp[32], nm[32];
    seg_name(tmp, sizeof tmp, index, true);
    seg_name(nm, sizeof nm, index, false);
    int fd = openat(s->dirfd, tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        snprintf(msg, msg_cap, "store: create %s/%s: %s", s->dir, tmp, strerror(e));
        return (e == EACCES || e == EROFS) ? CERTA_E_READONLY : errno_code(e);
    }
    uint8_t *page = aligned_alloc(SECTOR, 1u << 20);
    if (page == NULL) {
        close(fd);
        snprintf(msg, msg_cap, "store: no memory");
        return CERTA_E_NOMEM;
    }
    /* On the write path the zero fill stalls the appends: only when asked
     * for explicitly (prewrite 1), not by default. */
    bool prewrite = s->prewrite && s->o.prewrite == 1;
    seg_hdr_encode(page, index, first_height, s->o.segment_bytes,
                   prewrite ? SEG_FLAG_PREWRITTEN : 0);
    int rc = pwrite(fd, page, SEG_HDR, 0) == (ssize_t)SEG_HDR ? 0 : -1;
    if (rc == 0 && prewrite) {
        /* Overwriting written blocks needs no metadata at fdatasync time. */
        memset(page, 0, 1u << 20);
        for (uint64_t off = SEG_HDR; rc == 0 && off < s->o.segment_bytes;) {
            size_t n = (size_t)(s->o.segment_bytes - off < (1u << 20)
                                    ? s->o.segment_bytes - off : (1u << 20));
            ssize_t w = pwrite(fd, page, n, (off_t)off);
            if (w <= 0) {
                rc = -1;
                if (w == 0)
                    errno = ENOSPC;
            } else {
                off += (uint64_t)w;
            }
        }
    }
    free(page);
    if (rc == 0)
        rc = fdatasync(fd);
    int e = errno;
    close(fd);
    if (rc == 0 && renameat(s->dirfd, tmp, s->dirfd, nm) != 0) {
        rc = -1;
        e = errno;
    }
    if (rc == 0 && fsync(s->dirfd) != 0) {
        rc = -1;
        e = errno;
    }
    if (rc != 0) {
        unlinkat(s->dirfd, tmp, 0);
        snprintf(msg, msg_cap, "store: create segment %s/%s: %s", s->dir, nm, strerror(e));
        return errno_code(e);
    }
    return register_segment(s, index, first_height, msg, msg_cap);
}

/* ---- the spare segment ----
 * The preparer thread writes segment N+1 while N fills: under a temporary
 * name, a spare header, zeros up to segment_bytes when pre-writing (real
 * writes, so that the extents are written and an append over them needs no
 * journal commit), fdatasync, rename, fsync of the directory. When the
 * writer reaches N+1 it only opens the file and puts the real header into
 * the segment's first group write. */

#define PREP_CHUNK_BYTES (1u << 20)
/* Pre-writing saves a fixed cost per flush (an append's fdatasync also
 * writes the inode and allocation metadata; an overwrite's does not: on the
 * development disk 0.15-0.2 ms instead of 0.3 ms per 256 KiB flush) but costs
 * disk time per byte (every byte is written twice). With the default
 * (prewrite -1) a spare is pre-written when that is cheap: while the recent
 * flushes average at most PREWRITE_FLUSH_BYTES_MAX (16 KiB flushes: half the
 * latency for a 6 % larger write), or while the flushes keep the disk busy
 * at most PREWRITE_BUSY_MAX of the time (the fill then uses idle time). A
 * saturating writer of 256 KiB blocks and more gains nothing from it:
 * measured, the fill costs as much disk time as the overwrites save. */
#define PREWRITE_FLUSH_BYTES_MAX (128u << 10)
#define PREWRITE_BUSY_MAX 0.5

/* 1: the store closes (give up), 2: the writer needs the spare now (stop
 * filling and hand over what is written), 0: go on. */
static int fill_stop(certa_store *s)
{
    pthread_mutex_lock(&s->mu);
    int c = s->closing ? 1 : s->spare_cut ? 2 : 0;
    pthread_mutex_unlock(&s->mu);
    return c;
}

/* Prepares spare segment `index`; zbuf is PREP_CHUNK_BYTES of zeros,
 * sector-aligned. Gives up (CERTA_E_STATE) when the store closes. When the
 * writer reaches the segment before the fill is done, the fill stops where
 * it is: the segment is pre-written up to there, and appends beyond it
 * extend the file as in a segment that was not pre-written. */
static certa_err prepare_spare(certa_store *s, uint32_t index, bool prewrite, bool alloc,
                               bool *zeroed, uint8_t *zbuf, char *msg, size_t msg_cap)
{
    *zeroed = prewrite;
    char tmp[32], nm[32];
    seg_name(tmp, sizeof tmp, index, true);
    seg_name(nm, sizeof nm, index, false);
    int flags = O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC;
    int fd = openat(s->dirfd, tmp, flags | (s->prep_direct ? O_DIRECT : 0), 0644);
    if (fd < 0 && s->prep_direct && errno == EINVAL)
        fd = openat(s->dirfd, tmp, flags, 0644);
    if (fd < 0) {
        int e = errno;
        snprintf(msg, msg_cap, "store: create %s/%s: %s", s->dir, tmp, strerror(e));
        return errno_code(e);
    }
    certa_err err = CERTA_OK;
    int e = 0;
    seg_hdr_encode(zbuf, index, 0, s->o.segment_bytes,
                   SEG_FLAG_SPARE | (prewrite ? SEG_FLAG_PREWRITTEN : 0));
    ssize_t w = pwrite(fd, zbuf, SEG_HDR, 0);
    memset(zbuf, 0, SEG_HDR);
    if (w != (ssize_t)SEG_HDR) {
        e = w < 0 ? errno : ENOSPC;
        err = errno_code(e);
    }
    if (err == CERTA_OK && !prewrite && alloc) {
        /* No fill: allocate the whole segment instead (unwritten extents,
         * read as zeros). An append then only converts extents at its
         * flush instead of allocating blocks and growing the file, for no
         * data written now. Where fallocate is refused, plain appends. */
        if (fallocate(fd, 0, (off_t)SEG_HDR, (off_t)(s->o.segment_bytes - SEG_HDR)) == 0) {
            *zeroed = true;
        } else if (errno != EOPNOTSUPP && errno != ENOSYS) {
            e = errno;
            err = errno_code(e);
        }
    }
    if (*zeroed && !prewrite) {
        /* the header says so: zeros may follow the last flush */
        seg_hdr_encode(zbuf, index, 0, s->o.segment_bytes,
                       SEG_FLAG_SPARE | SEG_FLAG_PREWRITTEN);
        w = pwrite(fd, zbuf, SEG_HDR, 0);
        memset(zbuf, 0, SEG_HDR);
        if (w != (ssize_t)SEG_HDR) {
            e = w < 0 ? errno : ENOSPC;
            err = errno_code(e);
        }
    }
    for (uint64_t off = SEG_HDR; err == CERTA_OK && prewrite && off < s->o.segment_bytes;) {
        int stop = fill_stop(s);
        if (stop == 1) {
            err = CERTA_E_STATE;
            e = ECANCELED;
        }
        if (stop != 0)
            break;
        uint64_t n = s->o.segment_bytes - off < PREP_CHUNK_BYTES ? s->o.segment_bytes - off
                                                                 : PREP_CHUNK_BYTES;
        w = pwrite(fd, zbuf, (size_t)n, (off_t)off);
        if (w <= 0) {
            e = w < 0 ? errno : ENOSPC;
            err = errno_code(e);
        } else {
            off += (uint64_t)w;
        }
    }
    if (err == CERTA_OK && fdatasync(fd) != 0) {
        e = errno;
        err = errno_code(e);
    }
    close(fd);
    if (err == CERTA_OK && renameat(s->dirfd, tmp, s->dirfd, nm) != 0) {
        e = errno;
        err = errno_code(e);
    }
    if (err == CERTA_OK && fsync(s->dirfd) != 0) {
        e = errno;
        err = errno_code(e);
    }
    if (err != CERTA_OK) {
        unlinkat(s->dirfd, tmp, 0);
        snprintf(msg, msg_cap, "store: prepare spare segment %s/%s: %s", s->dir, nm,
                 strerror(e));
    }
    return err;
}

static void *preparer_main(void *arg)
{
    certa_store *s = arg;
    uint8_t *zbuf = aligned_alloc(SECTOR, PREP_CHUNK_BYTES);
    if (zbuf != NULL)
        memset(zbuf, 0, PREP_CHUNK_BYTES);
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->closing && !(s->spare_allowed && s->spare_state == SP_NONE))
            pthread_cond_wait(&s->cv_spare, &s->mu);
        if (s->closing)
            break;
        uint32_t index = s->spare_index;
        bool prewrite = s->prewrite && s->o.prewrite != 2 &&
                        (s->o.prewrite == 1 || s->avg_flush_bytes <= PREWRITE_FLUSH_BYTES_MAX ||
                         s->avg_busy <= PREWRITE_BUSY_MAX);
        bool alloc = s->prewrite; /* where O_DIRECT works and prewrite is not 0 */
        s->spare_state = SP_PREPARING;
        pthread_mutex_unlock(&s->mu);
        char msg[256] = "store: no memory for the spare segment";
        bool zeroed = false;
        certa_err err = zbuf == NULL ? CERTA_E_NOMEM
                                     : prepare_spare(s, index, prewrite, alloc, &zeroed, zbuf, msg,
                                                     sizeof msg);
        pthread_mutex_lock(&s->mu);
        CERTA_ASSERT(s->spare_state == SP_PREPARING && s->spare_index == index);
        /* A failure is not the store's: the writer creates the segment
         * itself and reports what it meets. */
        s->spare_state = err == CERTA_OK ? SP_READY : SP_FAILED;
        s->spare_prewritten = zeroed;
        s->spare_cut = false;
        pthread_mutex_unlock(&s->mu);
        pthread_cond_broadcast(&s->cv_spare);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    free(zbuf);
    return NULL;
}

/* Called by the writer that needs segment `index`: waits while the spare is
 * being prepared and returns true when it may use the spare (then it must
 * write the real header with its first group). Either way no spare is
 * prepared until the segment's header is durable (spare_done). */
static bool take_spare(certa_store *s, uint32_t index, bool *prewritten)
{
    pthread_mutex_lock(&s->mu);
    while (s->spare_state == SP_PREPARING && s->spare_index == index) {
        s->spare_cut = true;
        pthread_cond_wait(&s->cv_spare, &s->mu);
    }
    bool took = s->spare_state == SP_READY && s->spare_index == index;
    *prewritten = s->spare_prewritten;
    s->spare_allowed = false;
    if (s->spare_state != SP_PREPARING)
        s->spare_state = SP_NONE;
    pthread_mutex_unlock(&s->mu);
    return took;
}

/* The header of segment `index` is durable: the next spare may be made. */
static void spare_done(certa_store *s, uint32_t index)
{
    pthread_mutex_lock(&s->mu);
    if (s->preparer_started && s->spare_state != SP_PREPARING) {
        s->spare_index = index + 1;
        s->spare_state = SP_NONE;
        s->spare_allowed = true;
    }
    pthread_mutex_unlock(&s->mu);
    pthread_cond_broadcast(&s->cv_spare);
}

/* Submits one write (+ linked fdatasync unless RWF_DSYNC) and waits for it.
 * Returns 0, or -errno; *written gets the bytes the write reported. */
static int uring_write_sync(certa_store *s, const uint8_t *buf, uint64_t len,
                            uint64_t off, uint64_t *written)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    CERTA_ASSERT(sqe != NULL);
    io_uring_prep_write(sqe, s->wfd, buf, (unsigned)len, off);
    sqe->user_data = 1;
    unsigned want = 1;
    if (s->dsync) {
        sqe->rw_flags = RWF_DSYNC;
    } else {
        sqe->flags |= IOSQE_IO_LINK;
        struct io_uring_sqe *fs = io_uring_get_sqe(&s->ring);
        CERTA_ASSERT(fs != NULL);
        io_uring_prep_fsync(fs, s->wfd, IORING_FSYNC_DATASYNC);
        fs->user_data = 2;
        want = 2;
    }
    /* One system call submits both and sleeps until both completed. */
    int rc;
    do {
        rc = io_uring_submit_and_wait(&s->ring, want);
    } while (rc == -EINTR);
    if (rc < 0)
        return rc;
    int wres = 0, fres = 0;
    for (unsigned i = 0; i < want; i++) {
        struct io_uring_cqe *cqe;
        do {
            rc = io_uring_wait_cqe(&s->ring, &cqe); /* already there: no sleep */
        } while (rc == -EINTR);
        if (rc < 0)
            return rc;
        if (cqe->user_data == 1)
            wres = cqe->res;
        else
            fres = cqe->res;
        io_uring_cqe_seen(&s->ring, cqe);
    }
    *written = wres > 0 ? (uint64_t)wres : 0;
    if (wres < 0)
        return wres;
    if ((uint64_t)wres < len)
        return -EAGAIN; /* short write: caller continues; the fsync was cancelled */
    if (fres < 0)
        return fres;
    return 0;
}

static certa_err flush_group(certa_store *s, group *g, char *msg, size_t msg_cap)
{
    certa_err err;
    bool new_seg = false, with_header = false;
    if (g->seg >= s->nsegs) {
        CERTA_ASSERT(g->seg == s->nsegs && g->off == SEG_HDR);
        new_seg = true;
        bool prewritten = false;
        with_header = take_spare(s, g->seg, &prewritten);
        if (with_header) {
            /* The real header rides in the sector before the group. */
            seg_hdr_encode(g->buf - SECTOR, g->seg, g->first_height, s->o.segment_bytes,
                           prewritten ? SEG_FLAG_PREWRITTEN : 0);
            err = register_segment(s, g->seg, g->first_height, msg, msg_cap);
        } else {
            err = create_segment(s, g->seg, g->first_height, msg, msg_cap);
        }
        if (err != CERTA_OK)
            return err;
    }
    const uint8_t *wbuf = with_header ? g->buf - SECTOR : g->buf;
    uint64_t wlen = with_header ? g->len + SECTOR : g->len;
    uint64_t woff = with_header ? 0 : g->off;
    char nm[32];
    seg_name(nm, sizeof nm, g->seg, false);
    if (s->wfd < 0 || s->wfd_seg != g->seg) {
        if (s->wfd >= 0)
            close(s->wfd);
        s->wfd = open_wfd(s, nm);
        s->wfd_seg = g->seg;
        if (s->wfd < 0) {
            int e = errno;
            snprintf(msg, msg_cap, "store: open %s/%s for writing: %s", s->dir, nm, strerror(e));
            return (e == EACCES || e == EROFS) ? CERTA_E_READONLY : CERTA_E_IO;
        }
    }
    uint64_t done = 0;
    bool retried_buffered = false;
    while (done < wlen) {
        uint64_t w = 0;
        int rc = uring_write_sync(s, wbuf + done, wlen - done, woff + done, &w);
        done += w;
        if (rc == 0)
            continue;
        if (rc == -EAGAIN && w > 0)
            continue;
        if (rc == -EINVAL && s->direct && !retried_buffered) {
            /* The filesystem refused O_DIRECT at write time: go buffered. */
            close(s->wfd);
            s->o.direct_io = 0;
            s->wfd = open_wfd(s, nm);
            retried_buffered = true;
            done = 0;
            if (s->wfd >= 0)
                continue;
            rc = -errno;
        }
        snprintf(msg, msg_cap, "store: write %llu bytes at offset %llu of %s/%s: %s",
                 (unsigned long long)(wlen - done), (unsigned long long)(woff + done),
                 s->dir, nm, strerror(-rc));
        return errno_code(-rc);
    }
    if (new_seg)
        spare_done(s, g->seg);
    return CERTA_OK;
}

/* Pads g to a sector boundary and marks its last record as the end of its
 * flush. Caller holds mu. */
static void seal(certa_store *s, group *g)
{
    CERTA_ASSERT(g->state == G_FILLING && g->len > 0);
    uint64_t end = g->off + g->len;
    uint64_t gap = align_up(end, SECTOR) - end;
    if (gap != 0 && gap < HDR)
        gap += SECTOR;
    if (gap != 0) {
        CERTA_ASSERT(g->len + gap <= s->group_alloc);
        memset(g->buf + g->len, 0, gap);
        rec_hdr h = {.kind = KIND_PAD, .flags = FLAG_END_OF_FLUSH, .flush = g->flush,
                     .payload_bytes = (uint32_t)(gap - HDR)};
        rec_encode(g->buf + g->len, &h);
        g->len += gap;
    } else {
        uint8_t *p = g->buf + g->last_rec;
        p[6] |= FLAG_END_OF_FLUSH;
        certa_put_le32(p + 36, certa_crc32c(0, p, 36));
    }
    CERTA_ASSERT((g->off + g->len) % SECTOR == 0);
    CERTA_ASSERT(g->off + g->len <= s->o.segment_bytes);
    g->state = G_SEALED;
    s->wseg = g->seg;
    s->woff = g->off + g->len;
}

static void index_group(certa_store *s, const group *g)
{
    pthread_mutex_lock(&s->idx_mu);
    for (uint64_t pos = 0; pos < g->len;) {
        rec_hdr h;
        const char *why = rec_decode(g->buf + pos, &h);
        CERTA_ASSERT(why == NULL);
        if (h.kind == KIND_BLOCK) {
            certa_err rc = idx_push(s, h.height, g->seg, g->off + pos, h.payload_bytes);
            CERTA_ASSERT(rc == CERTA_OK);
        }
        pos += rec_span(h.payload_bytes);
    }
    pthread_mutex_unlock(&s->idx_mu);
}

static bool group_ready(const group *g)
{
    return g->state == G_SEALED || (g->state == G_FILLING && g->len > 0);
}

/* Caller holds mu. Takes the next group to write when no flush is in flight
 * (sealing it if it is still filling) and marks a flush in flight; NULL when
 * there is nothing to do or another thread is flushing. */
static group *take_group(certa_store *s)
{
    group *g = &s->groups[s->flush_next];
    if (s->flushing || s->failed != CERTA_OK || !group_ready(g))
        return NULL;
    if (g->state == G_FILLING) {
        seal(s, g);
        s->fill = (s->fill + 1) % s->ngroups;
    }
    g->state = G_INFLIGHT;
    s->flushing = true;
    return g;
}

/* Caller holds mu and took g with take_group. Writes g without the lock,
 * then publishes it (index, durable height, waiters, callback) and returns
 * with mu held again. Whichever thread calls it (the flusher, or a thread
 * blocked in certa_store_wait_durable acting as the group's leader) is the
 * only one flushing, so groups stay in order and one at a time. */
static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void flush_and_publish(certa_store *s, group *g)
{
    pthread_mutex_unlock(&s->mu);
    pthread_cond_broadcast(&s->cv_space); /* a sealed group freed the fill slot */
    char msg[256] = "";
    double t0 = mono_s();
    certa_err err = flush_group(s, g, msg, sizeof msg);
    double t1 = mono_s();
    if (err == CERTA_OK)
        index_group(s, g);
    pthread_mutex_lock(&s->mu);
    CERTA_ASSERT(s->flushing && g->state == G_INFLIGHT);
    s->flushing = false;
    if (err != CERTA_OK) {
        set_failed(s, err, "%s", msg);
        pthread_mutex_unlock(&s->mu);
        pthread_cond_broadcast(&s->cv_space);
        pthread_cond_broadcast(&s->cv_durable);
        pthread_cond_broadcast(&s->cv_work);
        pthread_mutex_lock(&s->mu);
        return;
    }
    s->stats.flushes++;
    s->stats.bytes_written += g->len;
    s->avg_flush_bytes = s->avg_flush_bytes == 0 ? g->len
                                                 : (s->avg_flush_bytes * 15 + g->len) / 16;
    if (s->last_flush_end_s > 0) {
        double idle = t0 > s->last_flush_end_s ? t0 - s->last_flush_end_s : 0;
        double busy = t1 - t0 > 0 ? (t1 - t0) / (t1 - t0 + idle) : 0;
        s->avg_busy = (s->avg_busy * 15 + busy) / 16;
    }
    s->last_flush_end_s = t1;
    s->stats.payload_bytes += g->payload_bytes;
    uint64_t durable = g->last_height;
    bool advanced = g->count > 0;
    if (advanced)
        __atomic_store_n(&s->durable, durable, __ATOMIC_RELEASE);
    g->state = G_FREE;
    g->len = 0;
    g->count = 0;
    g->payload_bytes = 0;
    s->flush_next = (s->flush_next + 1) % s->ngroups;
    /* Wake waiters after unlocking (they need the mutex at once). */
    pthread_mutex_unlock(&s->mu);
    pthread_cond_broadcast(&s->cv_space);
    pthread_cond_broadcast(&s->cv_durable);
    pthread_cond_broadcast(&s->cv_work);
    if (advanced && s->o.on_durable != NULL) {
        /* Two threads may publish consecutive groups back to back (the
         * flusher and a leader); cb_mu and the monotonic check keep the
         * reports in order (a later report may cover an earlier group). */
        pthread_mutex_lock(&s->cb_mu);
        durable = certa_store_durable_height(s);
        if (s->cb_reported == NO_HEIGHT || durable > s->cb_reported) {
            s->cb_reported = durable;
            s->o.on_durable(s->o.on_durable_ctx, durable, CERTA_OK);
        }
        pthread_mutex_unlock(&s->cb_mu);
    }
    pthread_mutex_lock(&s->mu);
}

static void *flusher_main(void *arg)
{
    certa_store *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        group *g;
        while ((g = take_group(s)) == NULL && !s->closing && s->failed == CERTA_OK)
            pthread_cond_wait(&s->cv_work, &s->mu);
        if (g == NULL)
            break; /* failed, or closing and drained */
        flush_and_publish(s, g);
    }
    certa_err failed = s->failed;
    pthread_mutex_unlock(&s->mu);
    if (failed != CERTA_OK && s->o.on_durable != NULL)
        s->o.on_durable(s->o.on_durable_ctx, certa_store_durable_height(s), failed);
    return NULL;
}

/* ---- public API ---- */

/* Stops the preparer and removes an unused spare, so that a closed log
 * holds only used segments. Called once every writer is done. */
static void stop_preparer(certa_store *s)
{
    if (!s->preparer_started)
        return;
    pthread_mutex_lock(&s->mu);
    s->closing = true;
    pthread_mutex_unlock(&s->mu);
    pthread_cond_broadcast(&s->cv_spare);
    pthread_join(s->preparer, NULL);
    s->preparer_started = false;
    if (s->spare_state == SP_READY) {
        char nm[32];
        seg_name(nm, sizeof nm, s->spare_index, false);
        if (unlinkat(s->dirfd, nm, 0) == 0)
            (void)fsync(s->dirfd);
        s->spare_state = SP_NONE;
    }
}

static void store_free(certa_store *s)
{
    if (s == NULL)
        return;
    ds_free(s->feed_ds);
    if (s->ring_ready)
        io_uring_queue_exit(&s->ring);
    if (s->wfd >= 0)
        close(s->wfd);
    for (uint32_t i = 0; i < s->nsegs; i++)
        close(s->segs[i].rfd);
    if (s->groups != NULL)
        for (uint32_t i = 0; i < s->ngroups; i++)
            free(s->groups[i].base);
    free(s->groups);
    free(s->segs);
    free(s->idx);
    if (s->lockfd >= 0)
        close(s->lockfd);
    if (s->dirfd >= 0)
        close(s->dirfd);
    pthread_mutex_destroy(&s->idx_mu);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv_work);
    pthread_cond_destroy(&s->cv_space);
    pthread_cond_destroy(&s->cv_durable);
    pthread_cond_destroy(&s->cv_spare);
    pthread_mutex_destroy(&s->cb_mu);
    free(s->dir);
    free(s);
}

certa_err certa_store_open(const certa_store_opts *opts, certa_store **out,
                           certa_store_recovery *rep, certa_errinfo *ei)
{
    certa_store_recovery dummy;
    if (rep == NULL)
        rep = &dummy;
    memset(rep, 0, sizeof *rep);
    *out = NULL;
    if (opts == NULL || opts->dir == NULL || opts->dir[0] == '\0')
        return certa_errorf(ei, CERTA_E_ARG, "store: no data directory given");
    if (opts->on_open_block != NULL && !opts->read_only)
        return certa_errorf(ei, CERTA_E_ARG, "store: on_open_block needs a read-only open");
    certa_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "store: no memory");
    s->o = *opts;
    certa_store_opts d;
    certa_store_opts_default(&d);
    if (s->o.segment_bytes == 0)
        s->o.segment_bytes = d.segment_bytes;
    if (s->o.group_bytes == 0)
        s->o.group_bytes = d.group_bytes;
    if (s->o.group_buffers == 0)
        s->o.group_buffers = d.group_buffers;
    s->dirfd = s->lockfd = s->wfd = -1;
    s->durable = NO_HEIGHT;
    pthread_mutex_init(&s->idx_mu, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv_work, NULL);
    pthread_cond_init(&s->cv_space, NULL);
    pthread_cond_init(&s->cv_durable, NULL);
    pthread_cond_init(&s->cv_spare, NULL);
    pthread_mutex_init(&s->cb_mu, NULL);
    s->cb_reported = NO_HEIGHT;
    s->dir = strdup(opts->dir);
    certa_err err = CERTA_OK;
    if (s->dir == NULL) {
        err = certa_errorf(ei, CERTA_E_NOMEM, "store: no memory");
        goto fail;
    }
    if (s->o.segment_bytes % SECTOR != 0 || s->o.segment_bytes < 4 * SECTOR ||
        s->o.group_buffers < 2 || s->o.group_buffers > 64 || s->o.group_bytes < SECTOR) {
        err = certa_errorf(ei, CERTA_E_ARG,
                           "store: segment_bytes must be a multiple of %u and >= %u, "
                           "group_buffers in 2..64", SECTOR, 4 * SECTOR);
        goto fail;
    }
    if ((err = open_dir(s, ei)) != CERTA_OK)
        goto fail;
    if ((err = recover(s, rep, ei)) != CERTA_OK)
        goto fail;
    if (s->o.read_only) {
        *out = s;
        return CERTA_OK;
    }

    s->ngroups = s->o.group_buffers;
    s->group_alloc = align_up((uint64_t)s->o.group_bytes + 2 * SECTOR + HDR, SECTOR);
    s->groups = calloc(s->ngroups, sizeof *s->groups);
    if (s->groups == NULL) {
        err = certa_errorf(ei, CERTA_E_NOMEM, "store: no memory");
        goto fail;
    }
    for (uint32_t i = 0; i < s->ngroups; i++) {
        s->groups[i].base = aligned_alloc(SECTOR, s->group_alloc + SECTOR);
        s->groups[i].buf = s->groups[i].base + SECTOR;
        if (s->groups[i].base == NULL) {
            err = certa_errorf(ei, CERTA_E_NOMEM, "store: no memory for group buffers");
            goto fail;
        }
    }
    int rc = io_uring_queue_init(8, &s->ring, 0);
    if (rc < 0) {
        err = certa_errorf(ei, CERTA_E_IO, "store: io_uring_queue_init: %s", strerror(-rc));
        goto fail;
    }
    s->ring_ready = true;
    /* Report whether O_DIRECT will be used on this filesystem. */
    if (s->o.direct_io != 0) {
        int fd = openat(s->dirfd, "LOCK", O_RDONLY | O_DIRECT | O_CLOEXEC);
        rep->direct_io = fd >= 0;
        if (fd >= 0)
            close(fd);
        else
            s->o.direct_io = 0;
    }
    /* Pre-writing pays where appends then overwrite written blocks with
     * O_DIRECT; on tmpfs (no O_DIRECT) it would only spend memory, and
     * without a spare it would run on the write path. */
    bool spare = s->o.spare_segment != 0;
    s->prep_direct = rep->direct_io;
    s->prewrite = s->o.prewrite < 0 ? spare && rep->direct_io : s->o.prewrite != 0;
    s->dsync = s->o.dsync_writes < 0 ? s->prewrite : s->o.dsync_writes != 0;
    rep->prewrite = s->prewrite;
    if (spare) {
        s->spare_index = s->nsegs;
        s->spare_state = SP_NONE;
        s->spare_allowed = true;
        if (pthread_create(&s->preparer, NULL, preparer_main, s) != 0) {
            err = certa_errorf(ei, CERTA_E_INTERNAL, "store: cannot start the preparer thread");
            goto fail;
        }
        s->preparer_started = true;
    }
    if (pthread_create(&s->flusher, NULL, flusher_main, s) != 0) {
        err = certa_errorf(ei, CERTA_E_INTERNAL, "store: cannot start the flusher thread");
        goto fail;
    }
    s->flusher_started = true;
    *out = s;
    return CERTA_OK;
fail:
    if (s->flusher_started) {
        pthread_mutex_lock(&s->mu);
        s->closing = true;
        pthread_mutex_unlock(&s->mu);
        pthread_cond_broadcast(&s->cv_work);
        pthread_join(s->flusher, NULL);
    }
    stop_preparer(s);
    store_free(s);
    return err;
}

void certa_store_close(certa_store *s)
{
    if (s == NULL)
        return;
    if (s->flusher_started) {
        pthread_mutex_lock(&s->mu);
        s->closing = true;
        pthread_cond_broadcast(&s->cv_work);
        pthread_cond_broadcast(&s->cv_space);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->flusher, NULL);
    }
    stop_preparer(s);
    store_free(s);
}

void certa_store_wait_spare(certa_store *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->preparer_started && !s->closing &&
           (s->spare_state == SP_PREPARING ||
            (s->spare_state == SP_NONE && s->spare_allowed)))
        pthread_cond_wait(&s->cv_spare, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

/* wake: hand the group to the flusher thread. append_sync does not: its
 * caller leads the flush itself at once, and a woken flusher would only
 * race it for the group and add a thread switch to the wait. */
static certa_err append_impl(certa_store *s, uint64_t height, const void *data, size_t len,
                             bool wake, certa_errinfo *ei)
{
    CERTA_ASSERT(s != NULL);
    if (s->o.read_only)
        return certa_errorf(ei, CERTA_E_READONLY, "store: %s opened read-only", s->dir);
    uint64_t span = rec_span(len);
    if (len == 0 || len > UINT32_MAX || span + HDR + SECTOR > s->group_alloc ||
        span + 2 * (uint64_t)SECTOR + HDR > s->o.segment_bytes - SEG_HDR)
        return certa_errorf(ei, CERTA_E_LIMIT,
                            "store: block %llu of %zu bytes does not fit a group (%u bytes) "
                            "or a segment (%llu bytes)", (unsigned long long)height, len,
                            s->o.group_bytes, (unsigned long long)s->o.segment_bytes);
    uint32_t crc = certa_crc32c(0, data, len); /* outside the lock */
    pthread_mutex_lock(&s->mu);
    certa_err err = CERTA_OK;
    for (;;) {
        if (s->failed != CERTA_OK) {
            err = certa_errorf(ei, s->failed, "%s", s->failmsg);
            break;
        }
        if (s->closing) {
            err = certa_errorf(ei, CERTA_E_STATE, "store: closing");
            break;
        }
        if (height != s->next_height) {
            err = certa_errorf(ei, CERTA_E_STATE, "store: append of height %llu, expected %llu",
                               (unsigned long long)height, (unsigned long long)s->next_height);
            break;
        }
        group *g = &s->groups[s->fill];
        if (g->state == G_FREE) {
            g->state = G_FILLING;
            g->len = 0;
            g->count = 0;
            g->payload_bytes = 0;
            g->seg = s->wseg;
            g->off = s->woff;
            g->flush = s->next_flush++;
        }
        if (g->state != G_FILLING) {
            pthread_cond_wait(&s->cv_space, &s->mu); /* backpressure */
            continue;
        }
        bool fits_buf = g->len + span + HDR + SECTOR <= s->group_alloc;
        bool fits_seg = g->off + g->len + span + HDR + SECTOR <= s->o.segment_bytes;
        if (!fits_seg && g->len == 0) {
            g->seg = g->seg + 1;
            g->off = SEG_HDR;
            fits_seg = true;
        }
        if (!fits_buf || !fits_seg) {
            seal(s, g);
            s->fill = (s->fill + 1) % s->ngroups;
            pthread_cond_signal(&s->cv_work);
            continue;
        }
        uint8_t *p = g->buf + g->len;
        rec_hdr h = {.kind = KIND_BLOCK, .height = height, .flush = g->flush,
                     .payload_bytes = (uint32_t)len,
                     .payload_crc = crc};
        rec_encode(p, &h);
        memcpy(p + HDR, data, len);
        memset(p + HDR + len, 0, span - HDR - len);
        if (g->count == 0)
            g->first_height = height;
        g->last_height = height;
        g->last_rec = g->len;
        g->count++;
        g->len += span;
        g->payload_bytes += len;
        s->next_height++;
        s->stats.appends++;
        break;
    }
    pthread_mutex_unlock(&s->mu);
    /* Signalled after unlocking so that the flusher does not wake up only
     * to block on the mutex this thread still holds. */
    if (err == CERTA_OK && wake)
        pthread_cond_signal(&s->cv_work);
    return err;
}

certa_err certa_store_append(certa_store *s, uint64_t height, const void *data,
                             size_t len, certa_errinfo *ei)
{
    return append_impl(s, height, data, len, true, ei);
}

uint64_t certa_store_durable_height(const certa_store *s)
{
    return __atomic_load_n(&s->durable, __ATOMIC_ACQUIRE);
}

static bool is_durable(const certa_store *s, uint64_t h)
{
    uint64_t d = certa_store_durable_height(s);
    return d != NO_HEIGHT && d >= h;
}

certa_err certa_store_wait_durable(certa_store *s, uint64_t height, certa_errinfo *ei)
{
    if (is_durable(s, height))
        return CERTA_OK;
    pthread_mutex_lock(&s->mu);
    certa_err err = CERTA_OK;
    if (height >= s->next_height) {
        err = certa_errorf(ei, CERTA_E_STATE, "store: height %llu was never appended",
                           (unsigned long long)height);
    } else {
        while (!is_durable(s, height) && s->failed == CERTA_OK) {
            /* Leader: when no flush is in flight, write the next group from
             * this thread instead of handing it to the flusher and waiting
             * for two thread switches. */
            group *g = take_group(s);
            if (g != NULL)
                flush_and_publish(s, g);
            else
                pthread_cond_wait(&s->cv_durable, &s->mu);
        }
        if (!is_durable(s, height))
            err = certa_errorf(ei, s->failed, "%s", s->failmsg);
    }
    pthread_mutex_unlock(&s->mu);
    return err;
}

certa_err certa_store_append_sync(certa_store *s, uint64_t height, const void *data,
                                  size_t len, certa_errinfo *ei)
{
    certa_err err = append_impl(s, height, data, len, false, ei);
    if (err != CERTA_OK)
        return err;
    return certa_store_wait_durable(s, height, ei);
}

uint64_t certa_store_next_height(certa_store *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t h = s->next_height;
    pthread_mutex_unlock(&s->mu);
    return h;
}

bool certa_store_range(certa_store *s, uint64_t *first, uint64_t *last)
{
    pthread_mutex_lock(&s->idx_mu);
    bool any = s->idx_count > 0;
    if (any) {
        *first = s->idx_first;
        *last = s->idx_first + s->idx_count - 1;
    }
    pthread_mutex_unlock(&s->idx_mu);
    return any;
}

static bool idx_lookup(certa_store *s, uint64_t height, idx_entry *e, int *rfd)
{
    pthread_mutex_lock(&s->idx_mu);
    bool ok = s->idx_count > 0 && height >= s->idx_first &&
              height - s->idx_first < s->idx_count;
    if (ok) {
        *e = s->idx[height - s->idx_first];
        *rfd = s->segs[e->seg].rfd;
    }
    pthread_mutex_unlock(&s->idx_mu);
    return ok;
}

certa_err certa_store_block_size(certa_store *s, uint64_t height, size_t *len)
{
    idx_entry e;
    int fd;
    if (!idx_lookup(s, height, &e, &fd))
        return CERTA_E_NOTFOUND;
    *len = e.len;
    return CERTA_OK;
}

certa_err certa_store_locate(certa_store *s, uint64_t height, uint32_t *segment,
                             uint64_t *offset)
{
    idx_entry e;
    int fd;
    if (!idx_lookup(s, height, &e, &fd))
        return CERTA_E_NOTFOUND;
    *segment = e.seg;
    *offset = e.off;
    return CERTA_OK;
}

/* Checks a record read back from disk against its index entry. */
static certa_err check_record(certa_store *s, const uint8_t *hdr, const uint8_t *payload,
                              const idx_entry *e, uint64_t height, certa_errinfo *ei)
{
    rec_hdr h;
    const char *why = rec_decode(hdr, &h);
    if (why == NULL && (h.kind != KIND_BLOCK || h.height != height || h.payload_bytes != e->len))
        why = "record header does not match the index";
    if (why == NULL && certa_crc32c(0, payload, e->len) != h.payload_crc)
        why = "payload checksum mismatch";
    if (why != NULL)
        return certa_errorf(ei, CERTA_E_CORRUPT,
                            "store: %s: segment %08u.seg, offset %llu, height %llu: %s",
                            s->dir, e->seg, (unsigned long long)e->off,
                            (unsigned long long)height, why);
    return CERTA_OK;
}

certa_err certa_store_read(certa_store *s, uint64_t height, void *buf, size_t cap,
                           size_t *len, certa_errinfo *ei)
{
    idx_entry e;
    int fd;
    if (!idx_lookup(s, height, &e, &fd))
        return certa_errorf(ei, CERTA_E_NOTFOUND, "store: no durable block at height %llu",
                            (unsigned long long)height);
    if (cap < e.len)
        return certa_errorf(ei, CERTA_E_LIMIT, "store: block %llu is %u bytes, buffer %zu",
                            (unsigned long long)height, e.len, cap);
    uint8_t hdr[HDR];
    if (pread_full(fd, hdr, HDR, e.off) != 0 || pread_full(fd, buf, e.len, e.off + HDR) != 0)
        return certa_errorf(ei, CERTA_E_IO, "store: read %08u.seg offset %llu: %s", e.seg,
                            (unsigned long long)e.off, strerror(errno));
    certa_err err = check_record(s, hdr, buf, &e, height, ei);
    if (err == CERTA_OK)
        *len = e.len;
    return err;
}

certa_err certa_store_scan(certa_store *s, uint64_t from, uint64_t to,
                           certa_store_scan_fn fn, void *ctx, certa_errinfo *ei)
{
    reader r = {.fd = -1, .cap = READ_CHUNK_BYTES * 2};
    uint32_t rseg = UINT32_MAX;
    r.buf = malloc(r.cap);
    if (r.buf == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "store: no memory");
    certa_err err = CERTA_OK;
    for (uint64_t h = from; h <= to; h++) {
        idx_entry e;
        int fd;
        if (!idx_lookup(s, h, &e, &fd))
            break;
        if (e.seg != rseg) {
            rseg = e.seg;
            r.fd = fd;
            r.fsize = file_size(fd);
            r.boff = 0;
            r.blen = 0;
        }
        const uint8_t *p = rd_get(&r, e.off, HDR + (size_t)e.len);
        if (p == NULL) {
            err = certa_errorf(ei, CERTA_E_IO, "store: read %08u.seg offset %llu: %s", e.seg,
                               (unsigned long long)e.off, strerror(errno));
            break;
        }
        if ((err = check_record(s, p, p + HDR, &e, h, ei)) != CERTA_OK)
            break;
        if (!fn(ctx, h, p + HDR, e.len))
            break;
        if (h == UINT64_MAX)
            break;
    }
    free(r.buf);
    return err;
}

void certa_store_get_stats(certa_store *s, certa_store_stats *st)
{
    if (s->o.read_only) {
        memset(st, 0, sizeof *st);
        return;
    }
    pthread_mutex_lock(&s->mu);
    *st = s->stats;
    pthread_mutex_unlock(&s->mu);
}
