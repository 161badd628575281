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
#include "store_internal.h"

void store_rec_encode(uint8_t *p, const rec_hdr *h)
{
    CERTA_ASSERT(h->kind == KIND_BLOCK || h->kind == KIND_PAD);
    CERTA_ASSERT((h->flags & ~FLAG_END_OF_FLUSH) == 0);
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
    CERTA_ASSERT(certa_get_le32(p) == REC_MAGIC && p[7] == 0);
}

/* Returns NULL when p holds a well-formed header, else why not. */
const char *store_rec_decode(const uint8_t *p, rec_hdr *h)
{
    CERTA_ASSERT(p != NULL && h != NULL);
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
    CERTA_ASSERT(h->kind == KIND_BLOCK || h->kind == KIND_PAD);
    return NULL;
}

bool store_all_zero(const uint8_t *p, size_t n)
{
    CERTA_ASSERT(p != NULL || n == 0);
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
    CERTA_ASSERT(i == n);
    return true;
}

void store_seg_hdr_encode(uint8_t *p, uint32_t index, uint64_t first_height,
                          uint64_t segment_bytes, uint32_t flags)
{
    CERTA_ASSERT((flags & ~(SEG_FLAG_PREWRITTEN | SEG_FLAG_SPARE)) == 0);
    memset(p, 0, SEG_HDR);
    certa_put_le32(p, SEG_MAGIC);
    certa_put_le32(p + 4, FORMAT_VERSION);
    certa_put_le32(p + 8, index);
    certa_put_le32(p + 12, flags);
    certa_put_le64(p + 16, first_height);
    certa_put_le64(p + 24, segment_bytes);
    certa_put_le32(p + 36, certa_crc32c(0, p, 36));
    uint64_t fh = 0;
    uint32_t fl = 0;
    CERTA_ASSERT(store_seg_hdr_decode(p, index, &fh, &fl) == NULL && fh == first_height &&
                 fl == flags);
}

const char *store_seg_hdr_decode(const uint8_t *p, uint32_t index,
                                 uint64_t *first_height, uint32_t *flags)
{
    CERTA_ASSERT(p != NULL && first_height != NULL && flags != NULL);
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
    CERTA_ASSERT((*flags & ~(SEG_FLAG_PREWRITTEN | SEG_FLAG_SPARE)) == 0);
    return NULL;
}

void certa_store_opts_default(certa_store_opts *o)
{
    CERTA_ASSERT(o != NULL);
    memset(o, 0, sizeof *o);
    o->segment_bytes = 64ull << 20;
    o->group_bytes = (64u << 20) + (64u << 10);
    o->group_buffers = 3;
    o->direct_io = -1;
    o->spare_segment = -1;
    o->prewrite = -1;
    o->dsync_writes = -1;
    CERTA_ASSERT(o->dir == NULL && o->group_buffers > 0);
    CERTA_ASSERT(o->group_bytes > 0 && o->segment_bytes > 0);
}

void store_seg_name(char *out, size_t cap, uint32_t index, bool tmp)
{
    CERTA_ASSERT(out != NULL && cap > 0);
    int w = snprintf(out, cap, "%08u.seg%s", index, tmp ? ".tmp" : "");
    CERTA_ASSERT(w > 0 && (size_t)w < cap); /* never truncated */
}

/* ---- index ---- */

certa_err store_idx_push(certa_store *s, uint64_t height, uint32_t seg,
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
    CERTA_ASSERT(s->idx_count <= s->idx_cap);
    return CERTA_OK;
}

certa_err store_seg_push(certa_store *s, int rfd, uint64_t first_height)
{
    CERTA_ASSERT(rfd >= 0);
    if (s->nsegs == s->segs_cap) {
        uint32_t cap = s->segs_cap ? s->segs_cap * 2 : 16;
        seg_info *n = realloc(s->segs, cap * sizeof *n);
        if (n == NULL)
            return CERTA_E_NOMEM;
        s->segs = n;
        s->segs_cap = cap;
    }
    s->segs[s->nsegs++] = (seg_info){.rfd = rfd, .first_height = first_height};
    CERTA_ASSERT(s->nsegs <= s->segs_cap);
    return CERTA_OK;
}

/* ---- flusher ---- */

static void set_failed(certa_store *s, certa_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_failed(certa_store *s, certa_err err, const char *fmt, ...)
{
    CERTA_ASSERT(err != CERTA_OK && fmt != NULL);
    if (s->failed != CERTA_OK)
        return;
    s->failed = err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->failmsg, sizeof s->failmsg, fmt, ap);
    va_end(ap);
    CERTA_ASSERT(s->failed == err); /* the first failure stays */
}

certa_err store_errno_code(int e)
{
    CERTA_ASSERT(e > 0); /* an errno value, never 0 */
    return (e == ENOSPC || e == EFBIG || e == EDQUOT) ? CERTA_E_NOSPACE : CERTA_E_IO;
}

static int open_wfd(certa_store *s, const char *nm)
{
    CERTA_ASSERT(nm != NULL && s->dirfd >= 0);
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
    CERTA_ASSERT(s->o.direct_io != 1 || !s->direct);
    return openat(s->dirfd, nm, O_WRONLY | O_CLOEXEC);
}

/* Registers segment `index`, whole on disk, as the current one for readers
 * (a new segment, or a spare the flusher has started to fill). */
static certa_err register_segment(certa_store *s, uint32_t index, uint64_t first_height,
                             char *msg, size_t msg_cap)
{
    CERTA_ASSERT(msg != NULL && msg_cap > 0);
    CERTA_ASSERT(s != NULL && s->dirfd >= 0);
    CERTA_ASSERT(first_height != NO_HEIGHT);
    char nm[32];
    store_seg_name(nm, sizeof nm, index, false);
    int rfd = openat(s->dirfd, nm, O_RDONLY | O_CLOEXEC);
    if (rfd < 0) {
        snprintf(msg, msg_cap, "store: open %s/%s: %s", s->dir, nm, strerror(errno));
        return CERTA_E_IO;
    }
    pthread_mutex_lock(&s->idx_mu);
    certa_err err = store_seg_push(s, rfd, first_height);
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
    CERTA_ASSERT(s->dirfd >= 0 && msg != NULL && msg_cap > 0);
    char tmp[32], nm[32];
    store_seg_name(tmp, sizeof tmp, index, true);
    store_seg_name(nm, sizeof nm, index, false);
    int fd = openat(s->dirfd, tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        snprintf(msg, msg_cap, "store: create %s/%s: %s", s->dir, tmp, strerror(e));
        return (e == EACCES || e == EROFS) ? CERTA_E_READONLY : store_errno_code(e);
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
    store_seg_hdr_encode(page, index, first_height, s->o.segment_bytes,
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
        return store_errno_code(e);
    }
    return register_segment(s, index, first_height, msg, msg_cap);
}

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
    CERTA_ASSERT(g->state == G_INFLIGHT && g->len > 0);
    /* every group starts and ends on a sector boundary */
    CERTA_ASSERT(g->off % SECTOR == 0 && g->len % SECTOR == 0);
    certa_err err;
    bool new_seg = false, with_header = false;
    if (g->seg >= s->nsegs) {
        CERTA_ASSERT(g->seg == s->nsegs && g->off == SEG_HDR);
        new_seg = true;
        bool prewritten = false;
        with_header = store_take_spare(s, g->seg, &prewritten);
        if (with_header) {
            /* The real header rides in the sector before the group. */
            store_seg_hdr_encode(g->buf - SECTOR, g->seg, g->first_height, s->o.segment_bytes,
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
    store_seg_name(nm, sizeof nm, g->seg, false);
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
        return store_errno_code(-rc);
    }
    CERTA_ASSERT(done == wlen);
    if (new_seg)
        store_spare_done(s, g->seg);
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
        store_rec_encode(g->buf + g->len, &h);
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
    CERTA_ASSERT(g->state == G_INFLIGHT && g->len % SECTOR == 0);
    pthread_mutex_lock(&s->idx_mu);
    for (uint64_t pos = 0; pos < g->len;) {
        rec_hdr h;
        const char *why = store_rec_decode(g->buf + pos, &h);
        CERTA_ASSERT(why == NULL);
        if (h.kind == KIND_BLOCK) {
            certa_err rc = store_idx_push(s, h.height, g->seg, g->off + pos, h.payload_bytes);
            CERTA_ASSERT(rc == CERTA_OK);
        }
        pos += rec_span(h.payload_bytes);
    }
    pthread_mutex_unlock(&s->idx_mu);
}

static bool group_ready(const group *g)
{
    CERTA_ASSERT(g != NULL && g->state <= G_INFLIGHT);
    CERTA_ASSERT(g->state != G_FREE || g->len == 0);
    return g->state == G_SEALED || (g->state == G_FILLING && g->len > 0);
}

/* Caller holds mu. Takes the next group to write when no flush is in flight
 * (sealing it if it is still filling) and marks a flush in flight; NULL when
 * there is nothing to do or another thread is flushing. */
static group *take_group(certa_store *s)
{
    CERTA_ASSERT(s != NULL && s->flush_next < s->ngroups);
    group *g = &s->groups[s->flush_next];
    if (s->flushing || s->failed != CERTA_OK || !group_ready(g))
        return NULL;
    if (g->state == G_FILLING) {
        seal(s, g);
        s->fill = (s->fill + 1) % s->ngroups;
    }
    g->state = G_INFLIGHT;
    s->flushing = true;
    CERTA_ASSERT(g->len > 0 && (g->off + g->len) % SECTOR == 0);
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
    int rc = clock_gettime(CLOCK_MONOTONIC, &ts);
    CERTA_ASSERT(rc == 0); /* CLOCK_MONOTONIC always exists on Linux */
    CERTA_ASSERT(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void flush_and_publish(certa_store *s, group *g)
{
    CERTA_ASSERT(s->flushing && g->state == G_INFLIGHT);
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
    CERTA_ASSERT(!advanced || g->first_height <= g->last_height);
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
    CERTA_ASSERT(arg != NULL);
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
    /* out of the loop only failed, or closing with nothing left to write */
    CERTA_ASSERT(failed != CERTA_OK || (s->closing && !s->flushing));
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
    CERTA_ASSERT(s != NULL);
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
        store_seg_name(nm, sizeof nm, s->spare_index, false);
        if (unlinkat(s->dirfd, nm, 0) == 0)
            (void)fsync(s->dirfd);
        s->spare_state = SP_NONE;
    }
    CERTA_ASSERT(!s->preparer_started && s->spare_state != SP_READY);
}

static void store_free(certa_store *s)
{
    if (s == NULL)
        return;
    /* no thread of the store runs any more */
    CERTA_ASSERT(!s->flusher_started || s->closing);
    CERTA_ASSERT(!s->preparer_started);
    store_ds_free(s->feed_ds);
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
    if ((err = store_open_dir(s, ei)) != CERTA_OK)
        goto fail;
    if ((err = store_recover(s, rep, ei)) != CERTA_OK)
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
        if (pthread_create(&s->preparer, NULL, store_preparer_main, s) != 0) {
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
    CERTA_ASSERT(s->idx_count == 0 || s->idx_first + s->idx_count == s->next_height);
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
    CERTA_ASSERT(!s->preparer_started && (!s->flusher_started || s->closing));
    store_free(s);
}

void certa_store_wait_spare(certa_store *s)
{
    CERTA_ASSERT(s != NULL);
    pthread_mutex_lock(&s->mu);
    while (s->preparer_started && !s->closing &&
           (s->spare_state == SP_PREPARING ||
            (s->spare_state == SP_NONE && s->spare_allowed)))
        pthread_cond_wait(&s->cv_spare, &s->mu);
    CERTA_ASSERT(!s->preparer_started || s->closing || s->spare_state != SP_PREPARING);
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
    CERTA_ASSERT(span >= HDR + len && span % 8 == 0);
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
        store_rec_encode(p, &h);
        memcpy(p + HDR, data, len);
        memset(p + HDR + len, 0, span - HDR - len);
        if (g->count == 0)
            g->first_height = height;
        g->last_height = height;
        g->last_rec = g->len;
        g->count++;
        g->len += span;
        g->payload_bytes += len;
        CERTA_ASSERT(g->len <= s->group_alloc && g->off + g->len <= s->o.segment_bytes);
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
    CERTA_ASSERT(s != NULL && (data != NULL || len == 0));
    CERTA_ASSERT(height != NO_HEIGHT);
    return append_impl(s, height, data, len, true, ei);
}

uint64_t certa_store_durable_height(const certa_store *s)
{
    CERTA_ASSERT(s != NULL);
    return __atomic_load_n(&s->durable, __ATOMIC_ACQUIRE);
}

static bool is_durable(const certa_store *s, uint64_t h)
{
    CERTA_ASSERT(s != NULL && h != NO_HEIGHT);
    uint64_t d = certa_store_durable_height(s);
    return d != NO_HEIGHT && d >= h;
}

certa_err certa_store_wait_durable(certa_store *s, uint64_t height, certa_errinfo *ei)
{
    CERTA_ASSERT(s != NULL);
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
    CERTA_ASSERT(err != CERTA_OK || is_durable(s, height));
    return err;
}

certa_err certa_store_append_sync(certa_store *s, uint64_t height, const void *data,
                                  size_t len, certa_errinfo *ei)
{
    CERTA_ASSERT(s != NULL && (data != NULL || len == 0));
    CERTA_ASSERT(height != NO_HEIGHT);
    certa_err err = append_impl(s, height, data, len, false, ei);
    if (err != CERTA_OK)
        return err;
    return certa_store_wait_durable(s, height, ei);
}

uint64_t certa_store_next_height(certa_store *s)
{
    CERTA_ASSERT(s != NULL);
    pthread_mutex_lock(&s->mu);
    uint64_t h = s->next_height;
    pthread_mutex_unlock(&s->mu);
    CERTA_ASSERT(h != NO_HEIGHT);
    return h;
}

bool certa_store_range(certa_store *s, uint64_t *first, uint64_t *last)
{
    CERTA_ASSERT(s != NULL && first != NULL && last != NULL);
    pthread_mutex_lock(&s->idx_mu);
    bool any = s->idx_count > 0;
    if (any) {
        *first = s->idx_first;
        *last = s->idx_first + s->idx_count - 1;
        CERTA_ASSERT(*first <= *last);
    }
    pthread_mutex_unlock(&s->idx_mu);
    return any;
}

static bool idx_lookup(certa_store *s, uint64_t height, idx_entry *e, int *rfd)
{
    CERTA_ASSERT(e != NULL && rfd != NULL);
    pthread_mutex_lock(&s->idx_mu);
    bool ok = s->idx_count > 0 && height >= s->idx_first &&
              height - s->idx_first < s->idx_count;
    if (ok) {
        *e = s->idx[height - s->idx_first];
        CERTA_ASSERT(e->seg < s->nsegs); /* indexed only once registered */
        *rfd = s->segs[e->seg].rfd;
    }
    pthread_mutex_unlock(&s->idx_mu);
    return ok;
}

certa_err certa_store_block_size(certa_store *s, uint64_t height, size_t *len)
{
    CERTA_ASSERT(s != NULL);
    idx_entry e;
    int fd;
    CERTA_ASSERT(len != NULL);
    if (!idx_lookup(s, height, &e, &fd))
        return CERTA_E_NOTFOUND;
    *len = e.len;
    CERTA_ASSERT(fd >= 0);
    return CERTA_OK;
}

certa_err certa_store_locate(certa_store *s, uint64_t height, uint32_t *segment,
                             uint64_t *offset)
{
    CERTA_ASSERT(s != NULL);
    idx_entry e;
    int fd;
    CERTA_ASSERT(segment != NULL && offset != NULL);
    if (!idx_lookup(s, height, &e, &fd))
        return CERTA_E_NOTFOUND;
    CERTA_ASSERT(fd >= 0);
    *segment = e.seg;
    *offset = e.off;
    return CERTA_OK;
}

/* Checks a record read back from disk against its index entry. */
static certa_err check_record(certa_store *s, const uint8_t *hdr, const uint8_t *payload,
                              const idx_entry *e, uint64_t height, certa_errinfo *ei)
{
    CERTA_ASSERT(hdr != NULL && payload != NULL && e != NULL);
    rec_hdr h;
    const char *why = store_rec_decode(hdr, &h);
    if (why == NULL && (h.kind != KIND_BLOCK || h.height != height || h.payload_bytes != e->len))
        why = "record header does not match the index";
    if (why == NULL && certa_crc32c(0, payload, e->len) != h.payload_crc)
        why = "payload checksum mismatch";
    if (why != NULL)
        return certa_errorf(ei, CERTA_E_CORRUPT,
                            "store: %s: segment %08u.seg, offset %llu, height %llu: %s",
                            s->dir, e->seg, (unsigned long long)e->off,
                            (unsigned long long)height, why);
    CERTA_ASSERT(h.kind == KIND_BLOCK && h.height == height && h.payload_bytes == e->len);
    return CERTA_OK;
}

certa_err certa_store_read(certa_store *s, uint64_t height, void *buf, size_t cap,
                           size_t *len, certa_errinfo *ei)
{
    CERTA_ASSERT(s != NULL && (buf != NULL || cap == 0));
    idx_entry e;
    int fd;
    if (!idx_lookup(s, height, &e, &fd))
        return certa_errorf(ei, CERTA_E_NOTFOUND, "store: no durable block at height %llu",
                            (unsigned long long)height);
    if (cap < e.len)
        return certa_errorf(ei, CERTA_E_LIMIT, "store: block %llu is %u bytes, buffer %zu",
                            (unsigned long long)height, e.len, cap);
    uint8_t hdr[HDR];
    if (store_pread_full(fd, hdr, HDR, e.off) != 0 || store_pread_full(fd, buf, e.len, e.off + HDR) != 0)
        return certa_errorf(ei, CERTA_E_IO, "store: read %08u.seg offset %llu: %s", e.seg,
                            (unsigned long long)e.off, strerror(errno));
    certa_err err = check_record(s, hdr, buf, &e, height, ei);
    if (err == CERTA_OK)
        *len = e.len;
    CERTA_ASSERT(err != CERTA_OK || *len <= cap);
    return err;
}

certa_err certa_store_scan(certa_store *s, uint64_t from, uint64_t to,
                           certa_store_scan_fn fn, void *ctx, certa_errinfo *ei)
{
    CERTA_ASSERT(s != NULL);
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
            r.fsize = store_file_size(fd);
            r.boff = 0;
            r.blen = 0;
        }
        const uint8_t *p = store_rd_get(&r, e.off, HDR + (size_t)e.len);
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
    CERTA_ASSERT(s != NULL && st != NULL);
    if (s->o.read_only) {
        memset(st, 0, sizeof *st);
        return;
    }
    pthread_mutex_lock(&s->mu);
    *st = s->stats;
    pthread_mutex_unlock(&s->mu);
}
