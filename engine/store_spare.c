/* store_spare: the spare segment (part of the block log, see
 * store_internal.h). The preparer thread writes segment N+1 while N fills,
 * so that the flusher never waits on creating and allocating a file.
 *
 * Invariants kept by this file:
 *  - a spare carries a spare header until the flusher replaces it in the
 *    same write as the segment's first group;
 *  - at most one spare is prepared at a time (spare_state, under mu).
 */
#include "store_internal.h"

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
    CERTA_ASSERT(s != NULL && s->dirfd >= 0);
    pthread_mutex_lock(&s->mu);
    int c = s->closing ? 1 : s->spare_cut ? 2 : 0;
    pthread_mutex_unlock(&s->mu);
    CERTA_ASSERT(c >= 0 && c <= 2);
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
    CERTA_ASSERT(zeroed != NULL && zbuf != NULL && msg != NULL && msg_cap > 0);
    CERTA_ASSERT((uintptr_t)zbuf % SECTOR == 0); /* O_DIRECT writes from it */
    *zeroed = prewrite;
    char tmp[32], nm[32];
    store_seg_name(tmp, sizeof tmp, index, true);
    store_seg_name(nm, sizeof nm, index, false);
    int flags = O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC;
    int fd = openat(s->dirfd, tmp, flags | (s->prep_direct ? O_DIRECT : 0), 0644);
    if (fd < 0 && s->prep_direct && errno == EINVAL)
        fd = openat(s->dirfd, tmp, flags, 0644);
    if (fd < 0) {
        int e = errno;
        snprintf(msg, msg_cap, "store: create %s/%s: %s", s->dir, tmp, strerror(e));
        return store_errno_code(e);
    }
    certa_err err = CERTA_OK;
    int e = 0;
    store_seg_hdr_encode(zbuf, index, 0, s->o.segment_bytes,
                   SEG_FLAG_SPARE | (prewrite ? SEG_FLAG_PREWRITTEN : 0));
    ssize_t w = pwrite(fd, zbuf, SEG_HDR, 0);
    memset(zbuf, 0, SEG_HDR);
    if (w != (ssize_t)SEG_HDR) {
        e = w < 0 ? errno : ENOSPC;
        err = store_errno_code(e);
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
            err = store_errno_code(e);
        }
    }
    if (*zeroed && !prewrite) {
        /* the header says so: zeros may follow the last flush */
        store_seg_hdr_encode(zbuf, index, 0, s->o.segment_bytes,
                       SEG_FLAG_SPARE | SEG_FLAG_PREWRITTEN);
        w = pwrite(fd, zbuf, SEG_HDR, 0);
        memset(zbuf, 0, SEG_HDR);
        if (w != (ssize_t)SEG_HDR) {
            e = w < 0 ? errno : ENOSPC;
            err = store_errno_code(e);
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
            err = store_errno_code(e);
        } else {
            off += (uint64_t)w;
        }
    }
    if (err == CERTA_OK && fdatasync(fd) != 0) {
        e = errno;
        err = store_errno_code(e);
    }
    close(fd);
    if (err == CERTA_OK && renameat(s->dirfd, tmp, s->dirfd, nm) != 0) {
        e = errno;
        err = store_errno_code(e);
    }
    if (err == CERTA_OK && fsync(s->dirfd) != 0) {
        e = errno;
        err = store_errno_code(e);
    }
    if (err != CERTA_OK) {
        unlinkat(s->dirfd, tmp, 0);
        snprintf(msg, msg_cap, "store: prepare spare segment %s/%s: %s", s->dir, nm,
                 strerror(e));
    }
    return err;
}

void *store_preparer_main(void *arg)
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
bool store_take_spare(certa_store *s, uint32_t index, bool *prewritten)
{
    CERTA_ASSERT(prewritten != NULL);
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
    /* no spare is prepared until this segment's header is durable */
    CERTA_ASSERT(!s->spare_allowed);
    pthread_mutex_unlock(&s->mu);
    return took;
}

/* The header of segment `index` is durable: the next spare may be made. */
void store_spare_done(certa_store *s, uint32_t index)
{
    CERTA_ASSERT(s != NULL && !s->o.read_only);
    CERTA_ASSERT(index < UINT32_MAX); /* index + 1 names the next segment */
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
