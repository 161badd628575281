/* store_recover: reading the block log back (part of the block log, see
 * store_internal.h): the buffered sequential reader and the O_DIRECT stream
 * used by recovery and scans, and recovery at open: every segment scanned,
 * damage classified as a torn tail (repaired: truncated) or corruption
 * (refused), the index rebuilt.
 *
 * Invariants kept by this file:
 *  - a damaged record followed by a valid record of a later flush, or by a
 *    later segment file, is corruption, never a torn write;
 *  - after recovery the index holds exactly the valid blocks, consecutive
 *    heights from idx_first, and the durable height is the last of them.
 */
#include "store_internal.h"

static uint64_t ds_nchunks(const dstream *d)
{
    CERTA_ASSERT(d != NULL);
    CERTA_ASSERT(d->chunks != NULL);
    return (d->fsize + DS_CHUNK - 1) / DS_CHUNK;
}

/* Waits for the reads still in flight (they target the chunks) and closes
 * the segment; the buffers stay for the next segment. NULL is a no-op. */
static void ds_detach(dstream *d)
{
    if (d == NULL || d->fd < 0)
        return;
    CERTA_ASSERT(d->inflight <= DS_CHUNKS); /* one read per chunk at most */
    while (d->inflight > 0) {
        struct io_uring_cqe *cqe;
        if (io_uring_wait_cqe(&d->ring, &cqe) != 0)
            break;
        io_uring_cqe_seen(&d->ring, cqe);
        d->inflight--;
    }
    close(d->fd);
    d->fd = -1;
    CERTA_ASSERT(d->fd < 0);
}

void store_ds_free(dstream *d)
{
    if (d == NULL)
        return;
    ds_detach(d);
    CERTA_ASSERT(d->fd < 0);
    CERTA_ASSERT(d->chunks != NULL); /* ds_new returns none without */
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
    CERTA_ASSERT(d->fd < 0 && d->inflight == 0 && d->first == 0 && d->next == 0);
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
    CERTA_ASSERT(d->fd >= 0 && d->inflight == 0);
    return true;
}

/* Submits reads for every free ring slot; 0 or -errno. */
static int ds_fill(dstream *d)
{
    CERTA_ASSERT(d->fd >= 0 && d->first <= d->next);
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
    CERTA_ASSERT(d->next <= d->first + DS_CHUNKS);
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
    CERTA_ASSERT(d->fd >= 0 && d->first <= d->next);
    if (c > d->first)
        d->first = c < d->next ? c : d->next;
    CERTA_ASSERT(d->first <= d->next);
    return ds_fill(d);
}

/* Like rd_get: [off, off + len) of the file, valid until the next call. */
static const uint8_t *ds_get(dstream *d, uint64_t off, size_t len)
{
    CERTA_ASSERT(d->fd >= 0);
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

int store_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    CERTA_ASSERT(fd >= 0 && (buf != NULL || len == 0));
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
        CERTA_ASSERT((size_t)n <= len); /* pread never returns more */
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Returns a pointer to [off, off+len) of the file, valid until the next call,
 * or NULL (errno set; ERANGE when past the end of the file). */
const uint8_t *store_rd_get(reader *r, uint64_t off, size_t len)
{
    CERTA_ASSERT(r->buf != NULL && r->cap > 0);
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
    if (store_pread_full(r->fd, r->buf, want, off) != 0)
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
    CERTA_ASSERT(fd >= 0 && max_flush != NULL);
    reader r = {.fd = fd, .fsize = fsize, .cap = READ_CHUNK_BYTES};
    r.buf = malloc(r.cap);
    if (r.buf == NULL)
        return CERTA_E_NOMEM;
    (void)s;
    *max_flush = 0;
    for (uint64_t pos = align_up(from, 8); pos + HDR <= fsize; pos += 8) {
        const uint8_t *p = store_rd_get(&r, pos, HDR);
        if (p == NULL) {
            free(r.buf);
            return CERTA_E_IO;
        }
        rec_hdr h;
        if (certa_get_le32(p) == REC_MAGIC && store_rec_decode(p, &h) == NULL && h.flush > *max_flush)
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
    CERTA_ASSERT(fd >= 0);
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
        const uint8_t *p = store_rd_get(&r, pos, n);
        found = p == NULL || !store_all_zero(p, n);
        pos += n;
    }
    free(r.buf);
    return found;
}

uint64_t store_file_size(int fd)
{
    CERTA_ASSERT(fd >= 0);
    struct stat st;
    if (fstat(fd, &st) != 0)
        return 0;
    CERTA_ASSERT(st.st_size >= 0);
    return (uint64_t)st.st_size;
}

/* Sets up the reader of segment k (file fd of fsize bytes) for a scan: one
 * sector at a time when only headers are read, else in large chunks; when
 * every block is fed to the caller, one pass over everything: O_DIRECT where
 * allowed, else through the cache with read-ahead. r->buf is left to the
 * caller to allocate (r->cap bytes). */
static void scan_reader_init(certa_store *s, uint32_t k, int fd, uint64_t fsize, bool feed,
                             bool headers_only, reader *r)
{
    CERTA_ASSERT(fd >= 0);
    CERTA_ASSERT(!(feed && headers_only));
    *r = (reader){.fd = fd, .fsize = fsize, .cap = headers_only ? SECTOR : READ_CHUNK_BYTES,
                  .ahead = feed};
    if (feed) {
        char nm[32];
        store_seg_name(nm, sizeof nm, k, false);
        if (s->o.direct_io != 0 && s->feed_ds == NULL)
            s->feed_ds = ds_new();
        if (s->o.direct_io != 0 && s->feed_ds != NULL &&
            ds_attach(s->feed_ds, s->dirfd, nm, fsize))
            r->ds = s->feed_ds;
        if (r->ds == NULL)
            (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
}

/* Scans segment k, indexing its blocks, until its end or the first damage.
 * A spare (never used) segment is not registered: as the last file it ends
 * the log (st->spare), anywhere else it is damage. */
static certa_err scan_segment(certa_store *s, uint32_t k, int fd, bool last, scan_state *st,
                              damage *dm, certa_errinfo *ei)
{
    CERTA_ASSERT(fd >= 0 && st != NULL && dm != NULL && !dm->found);
    uint64_t fsize = store_file_size(fd);
    bool feed = s->o.on_open_block != NULL;
    bool headers_only = s->o.read_only && s->o.headers_only_on_open && !feed;
    reader r;
    scan_reader_init(s, k, fd, fsize, feed, headers_only, &r);
    r.buf = malloc(r.cap);
    if (r.buf == NULL) {
        ds_detach(r.ds);
        return certa_errorf(ei, CERTA_E_NOMEM, "store: no memory to scan");
    }
    certa_err err = CERTA_OK;
    const uint8_t *p = store_rd_get(&r, 0, SEG_HDR);
    uint64_t first_height = 0;
    uint32_t seg_flags = 0;
    const char *why = NULL;
    if (p == NULL)
        why = errno == ERANGE ? "segment shorter than its header" : NULL;
    else
        why = store_seg_hdr_decode(p, k, &first_height, &seg_flags);
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
    if ((err = store_seg_push(s, fd, first_height)) != CERTA_OK)
        goto out;

    uint64_t pos = SEG_HDR;
    for (;;) {
        if (pos + HDR > fsize) {
            /* Fewer bytes than a header left: the end, unless they hold data. */
            if (pos < fsize) {
                p = store_rd_get(&r, pos, (size_t)(fsize - pos));
                if (p == NULL) {
                    err = certa_errorf(ei, CERTA_E_IO, "store: read %08u.seg: %s", k,
                                       strerror(errno));
                    goto out;
                }
                if (!store_all_zero(p, (size_t)(fsize - pos)))
                    *dm = (damage){true, k, pos, "partial record header at end of file"};
            }
            break;
        }
        p = store_rd_get(&r, pos, HDR);
        if (p == NULL) {
            err = certa_errorf(ei, CERTA_E_IO, "store: read %08u.seg: %s", k, strerror(errno));
            goto out;
        }
        if (store_all_zero(p, HDR)) {
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
        why = store_rec_decode(p, &h);
        if (why == NULL && (uint64_t)h.payload_bytes + HDR > fsize - pos)
            why = "record length runs past the end of the segment";
        if (why == NULL && h.kind == KIND_BLOCK && headers_only) {
            if (h.height != st->expected)
                why = "height out of sequence";
        } else if (why == NULL && h.kind == KIND_BLOCK) {
            pl = store_rd_get(&r, pos + HDR, h.payload_bytes);
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
            err = store_idx_push(s, h.height, k, pos, h.payload_bytes);
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
    CERTA_ASSERT(a != NULL && b != NULL);
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists NNNNNNNN.seg files; removes leftover .seg.tmp files when writable. */
static certa_err list_segments(certa_store *s, uint32_t **out, uint32_t *n,
                               certa_errinfo *ei)
{
    CERTA_ASSERT(out != NULL && n != NULL && s->dirfd >= 0);
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
            store_seg_name(nm, sizeof nm, i, false);
            free(v);
            return certa_errorf(ei, CERTA_E_CORRUPT,
                                "store: %s: segment file %s is missing (segments must be "
                                "numbered from 00000000 without gaps)", s->dir, nm);
        }
    }
    CERTA_ASSERT(cnt == 0 || v[cnt - 1] == cnt - 1); /* 0..cnt-1, no gap */
    *out = v;
    *n = cnt;
    return CERTA_OK;
}

certa_err store_open_dir(certa_store *s, certa_errinfo *ei)
{
    CERTA_ASSERT(s != NULL && s->dir != NULL);
    CERTA_ASSERT(s->dirfd < 0 && s->lockfd < 0); /* once, at open */
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
    CERTA_ASSERT(s->dirfd >= 0 && s->lockfd >= 0);
    return CERTA_OK;
}

/* Cuts the log at (seg, off): truncates that segment, pads it to a sector
 * and removes every later segment. */
static certa_err repair_tail(certa_store *s, const damage *dm, uint32_t nfiles,
                             const scan_state *st, uint64_t *cut,
                             certa_errinfo *ei)
{
    CERTA_ASSERT(dm->found && dm->seg < nfiles);
    char nm[32];
    *cut = 0;
    for (uint32_t k = nfiles; k-- > dm->seg + 1;) {
        store_seg_name(nm, sizeof nm, k, false);
        struct stat sb;
        if (fstatat(s->dirfd, nm, &sb, 0) == 0)
            *cut += (uint64_t)sb.st_size;
        if (unlinkat(s->dirfd, nm, 0) != 0)
            return certa_errorf(ei, CERTA_E_IO, "store: remove %s/%s: %s", s->dir, nm,
                                strerror(errno));
    }
    store_seg_name(nm, sizeof nm, dm->seg, false);
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
        uint64_t size = store_file_size(fd);
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
            store_rec_encode(pad, &h);
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
    CERTA_ASSERT(dm->found && dm->seg < nfiles);
    *corrupt = false;
    if (dm->seg + 1 < nfiles) {
        /* A later segment gets its real header only with its first group,
         * written after every earlier group completed. Only an unused later
         * segment (a spare, or header-less) without records is harmless;
         * records even in a spare prove the damaged flush had completed. */
        for (uint32_t k = dm->seg + 1; k < nfiles; k++) {
            char nm[32];
            store_seg_name(nm, sizeof nm, k, false);
            int fd = openat(s->dirfd, nm, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                return certa_errorf(ei, CERTA_E_IO, "store: open %s/%s: %s", s->dir, nm,
                                    strerror(errno));
            uint8_t hdr[SEG_HDR];
            uint64_t fh, mf = 0;
            uint32_t fl;
            bool valid_hdr = store_file_size(fd) >= SEG_HDR &&
                             store_pread_full(fd, hdr, SEG_HDR, 0) == 0 &&
                             store_seg_hdr_decode(hdr, k, &fh, &fl) == NULL &&
                             (fl & SEG_FLAG_SPARE) == 0;
            certa_err err = max_flush_after(s, fd, store_file_size(fd), SEG_HDR, &mf);
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
    certa_err err = max_flush_after(s, dm_fd, store_file_size(dm_fd), dm->off + 8, &mf);
    if (err != CERTA_OK)
        return certa_errorf(ei, err, "store: scan segment %08u.seg", dm->seg);
    if (mf > f_x)
        *corrupt = true;
    return CERTA_OK;
}

certa_err store_recover(certa_store *s, certa_store_recovery *rep,
                        certa_errinfo *ei)
{
    CERTA_ASSERT(rep != NULL && s->nsegs == 0 && s->idx_count == 0);
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
        store_seg_name(nm, sizeof nm, k, false);
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
    store_ds_free(s->feed_ds);
    s->feed_ds = NULL;
    rep->segments = nfiles - (st.spare ? 1 : 0);
    rep->spare_found = st.spare;
    if (st.spare && !s->o.read_only) {
        /* Nothing in it was ever durable (its header would be real): remove
         * it; the preparer makes a fresh one. */
        char nm[32];
        store_seg_name(nm, sizeof nm, nfiles - 1, false);
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
    /* the index holds consecutive heights up to where the writer continues */
    CERTA_ASSERT(s->idx_count == 0 || s->idx_first + s->idx_count == s->next_height);
    return CERTA_OK;
}

