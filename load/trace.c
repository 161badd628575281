/* trace: writes and reads the load trace file (format in trace.h and
 * docs/LOAD.md). The writer hashes every byte as it goes, so the checksum
 * costs one pass; the reader maps the file and validates it whole before
 * handing out a single record: after certa_load_trace_open succeeds, every
 * record lies inside the file, times never decrease and the counts agree
 * with the trailer, so certa_load_trace_next needs no error path.
 */
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certa/codec.h"
#include "certa/crypto.h"
#include "certa/wire.h"

struct certa_load_trace_writer {
    FILE *f;
    char *path;
    certa_sha256_ctx sha;
    certa_load_trace_info info;
    uint64_t last_at_us;
    bool io_error;
};

struct certa_load_trace {
    uint8_t *map;
    size_t len;
    bool borrowed; /* map is the caller's memory (open_mem), not an mmap */
    size_t records_end; /* offset of the trailer */
    certa_load_trace_info info;
};

static void emit(certa_load_trace_writer *w, const void *data, size_t len)
{
    certa_sha256_update(&w->sha, data, len);
    if (fwrite(data, 1, len, w->f) != len)
        w->io_error = true;
}

static void encode_header(const certa_load_trace_info *in, uint8_t h[CERTA_LOAD_TRACE_HEADER_BYTES])
{
    memset(h, 0, CERTA_LOAD_TRACE_HEADER_BYTES);
    memcpy(h, CERTA_LOAD_TRACE_MAGIC, 8);
    certa_put_le32(h + 8, CERTA_LOAD_TRACE_VERSION);
    certa_put_le32(h + 12, CERTA_LOAD_TRACE_HEADER_BYTES);
    certa_put_le64(h + 16, in->seed);
    certa_put_le64(h + 24, in->start_unix_ms);
    certa_put_le32(h + 32, in->scale_milli);
    certa_put_le32(h + 36, in->start_hour);
    certa_put_le32(h + 40, in->hours);
    /* 44..47 reserved */
    memcpy(h + 48, in->genesis_hash, CERTA_HASH_BYTES);
    size_t n = strnlen(in->scenario, CERTA_LOAD_TRACE_NAME_BYTES - 1);
    memcpy(h + 80, in->scenario, n);
    /* 112..127 reserved */
}

certa_err certa_load_trace_create(const char *path, const certa_load_trace_info *info,
                                  certa_load_trace_writer **out, certa_errinfo *ei)
{
    certa_load_trace_writer *w = calloc(1, sizeof *w);
    if (w == NULL || (w->path = strdup(path)) == NULL) {
        free(w);
        return certa_errorf(ei, CERTA_E_NOMEM, "trace %s", path);
    }
    w->f = fopen(path, "wb");
    if (w->f == NULL) {
        certa_err e = certa_errorf(ei, CERTA_E_IO, "trace %s: %s", path, strerror(errno));
        free(w->path);
        free(w);
        return e;
    }
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    w->info = *info;
    w->info.records = w->info.events = w->info.expected_rejects = 0;
    memset(w->info.expected_by_intent, 0, sizeof w->info.expected_by_intent);
    certa_sha256_init(&w->sha);
    uint8_t h[CERTA_LOAD_TRACE_HEADER_BYTES];
    encode_header(&w->info, h);
    emit(w, h, sizeof h);
    *out = w;
    return CERTA_OK;
}

certa_err certa_load_trace_append(certa_load_trace_writer *w, const certa_load_trace_rec *rec,
                                  certa_errinfo *ei)
{
    CERTA_ASSERT(w != NULL && rec != NULL && rec->batch != NULL);
    if (rec->at_us < w->last_at_us)
        return certa_errorf(ei, CERTA_E_ARG, "trace %s: record at %llu us before %llu us",
                            w->path, (unsigned long long)rec->at_us,
                            (unsigned long long)w->last_at_us);
    if (rec->batch_bytes == 0 || rec->batch_bytes > CERTA_BATCH_BYTES_MAX ||
        rec->expected_rejects > rec->events)
        return certa_errorf(ei, CERTA_E_ARG, "trace %s: record of %u bytes, %u events, "
                            "%u rejects out of range", w->path, rec->batch_bytes,
                            rec->events, rec->expected_rejects);
    uint8_t r[CERTA_LOAD_TRACE_RECORD_BYTES];
    certa_put_le64(r, rec->at_us);
    certa_put_le32(r + 8, rec->batch_bytes);
    certa_put_le32(r + 12, rec->events);
    certa_put_le16(r + 16, rec->integrator);
    certa_put_le16(r + 18, 0);
    certa_put_le32(r + 20, rec->expected_rejects);
    emit(w, r, sizeof r);
    emit(w, rec->batch, rec->batch_bytes);
    w->last_at_us = rec->at_us;
    w->info.records++;
    w->info.events += rec->events;
    w->info.expected_rejects += rec->expected_rejects;
    if (w->io_error)
        return certa_errorf(ei, CERTA_E_IO, "trace %s: write failed", w->path);
    return CERTA_OK;
}

void certa_load_trace_intend(certa_load_trace_writer *w, certa_load_intent why, uint64_t n)
{
    CERTA_ASSERT(why < CERTA_LOAD_INTENTS);
    w->info.expected_by_intent[why] += n;
}

static void writer_free(certa_load_trace_writer *w)
{
    free(w->path);
    free(w);
}

void certa_load_trace_abort(certa_load_trace_writer *w)
{
    if (w == NULL)
        return;
    fclose(w->f);
    unlink(w->path);
    writer_free(w);
}

certa_err certa_load_trace_finish(certa_load_trace_writer *w, certa_errinfo *ei)
{
    uint8_t t[CERTA_LOAD_TRACE_TRAILER_BYTES];
    memset(t, 0, sizeof t);
    memcpy(t, CERTA_LOAD_TRACE_END_MAGIC, 8);
    certa_put_le64(t + 8, w->info.records);
    certa_put_le64(t + 16, w->info.events);
    certa_put_le64(t + 24, w->info.expected_rejects);
    certa_put_le64(t + 32, w->last_at_us);
    for (int i = 0; i < CERTA_LOAD_INTENTS; i++)
        certa_put_le64(t + 40 + 8 * i, w->info.expected_by_intent[i]);
    certa_sha256_update(&w->sha, t, 64);
    certa_sha256_final(&w->sha, t + 64);
    if (fwrite(t, 1, sizeof t, w->f) != sizeof t)
        w->io_error = true;
    if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)
        w->io_error = true;
    if (fclose(w->f) != 0)
        w->io_error = true;
    if (w->io_error) {
        certa_err e = certa_errorf(ei, CERTA_E_IO, "trace %s: write failed", w->path);
        unlink(w->path);
        writer_free(w);
        return e;
    }
    writer_free(w);
    return CERTA_OK;
}

/* ---- reading ---- */

static certa_err corrupt(certa_errinfo *ei, const char *path, const char *what)
{
    return certa_errorf(ei, CERTA_E_CORRUPT, "trace %s: %s", path, what);
}

static certa_err validate(certa_load_trace *t, const char *path, certa_errinfo *ei)
{
    const uint8_t *m = t->map;
    size_t len = t->len;
    if (len < CERTA_LOAD_TRACE_HEADER_BYTES + CERTA_LOAD_TRACE_TRAILER_BYTES)
        return corrupt(ei, path, "shorter than header and trailer");
    if (memcmp(m, CERTA_LOAD_TRACE_MAGIC, 8) != 0)
        return certa_errorf(ei, CERTA_E_BAD_MAGIC, "trace %s: not a certa trace", path);
    if (certa_get_le32(m + 8) != CERTA_LOAD_TRACE_VERSION)
        return certa_errorf(ei, CERTA_E_BAD_VERSION, "trace %s: version %u, expected %u",
                            path, certa_get_le32(m + 8), CERTA_LOAD_TRACE_VERSION);
    if (certa_get_le32(m + 12) != CERTA_LOAD_TRACE_HEADER_BYTES)
        return corrupt(ei, path, "header size");
    const uint8_t *tr = m + len - CERTA_LOAD_TRACE_TRAILER_BYTES;
    if (memcmp(tr, CERTA_LOAD_TRACE_END_MAGIC, 8) != 0)
        return corrupt(ei, path, "no trailer (truncated or still being written)");
    uint8_t sum[CERTA_HASH_BYTES];
    certa_sha256(m, len - CERTA_HASH_BYTES, sum);
    if (memcmp(sum, tr + 64, CERTA_HASH_BYTES) != 0)
        return corrupt(ei, path, "checksum mismatch");

    certa_load_trace_info *in = &t->info;
    in->seed = certa_get_le64(m + 16);
    in->start_unix_ms = certa_get_le64(m + 24);
    in->scale_milli = certa_get_le32(m + 32);
    in->start_hour = certa_get_le32(m + 36);
    in->hours = certa_get_le32(m + 40);
    memcpy(in->genesis_hash, m + 48, CERTA_HASH_BYTES);
    memcpy(in->scenario, m + 80, CERTA_LOAD_TRACE_NAME_BYTES);
    in->scenario[CERTA_LOAD_TRACE_NAME_BYTES - 1] = '\0';
    in->records = certa_get_le64(tr + 8);
    in->events = certa_get_le64(tr + 16);
    in->expected_rejects = certa_get_le64(tr + 24);
    in->last_at_us = certa_get_le64(tr + 32);
    for (int i = 0; i < CERTA_LOAD_INTENTS; i++)
        in->expected_by_intent[i] = certa_get_le64(tr + 40 + 8 * i);

    t->records_end = len - CERTA_LOAD_TRACE_TRAILER_BYTES;
    size_t pos = CERTA_LOAD_TRACE_HEADER_BYTES;
    uint64_t records = 0, events = 0, rejects = 0, last = 0;
    while (pos < t->records_end) {
        if (t->records_end - pos < CERTA_LOAD_TRACE_RECORD_BYTES)
            return corrupt(ei, path, "record header crosses the trailer");
        const uint8_t *r = m + pos;
        uint64_t at = certa_get_le64(r);
        uint32_t bytes = certa_get_le32(r + 8), ev = certa_get_le32(r + 12), rej = certa_get_le32(r + 20);
        if (at < last)
            return corrupt(ei, path, "record times go backwards");
        if (bytes == 0 || bytes > CERTA_BATCH_BYTES_MAX || rej > ev || certa_get_le16(r + 18) != 0)
            return corrupt(ei, path, "record fields out of range");
        if (t->records_end - pos - CERTA_LOAD_TRACE_RECORD_BYTES < bytes)
            return corrupt(ei, path, "record batch crosses the trailer");
        pos += CERTA_LOAD_TRACE_RECORD_BYTES + bytes;
        last = at;
        records++;
        events += ev;
        rejects += rej;
    }
    if (records != in->records || events != in->events || rejects != in->expected_rejects ||
        (records > 0 && last != in->last_at_us))
        return corrupt(ei, path, "trailer counts disagree with the records");
    return CERTA_OK;
}

certa_err certa_load_trace_open(const char *path, certa_load_trace **out, certa_errinfo *ei)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return certa_errorf(ei, CERTA_E_IO, "trace %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        certa_err e = certa_errorf(ei, CERTA_E_IO, "trace %s: %s", path, strerror(errno));
        close(fd);
        return e;
    }
    certa_load_trace *t = calloc(1, sizeof *t);
    if (t == NULL) {
        close(fd);
        return certa_errorf(ei, CERTA_E_NOMEM, "trace %s", path);
    }
    t->len = (size_t)st.st_size;
    if (t->len > 0) {
        void *m = mmap(NULL, t->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            certa_err e = certa_errorf(ei, CERTA_E_IO, "trace %s: mmap: %s", path,
                                       strerror(errno));
            close(fd);
            free(t);
            return e;
        }
        t->map = m;
        madvise(m, t->len, MADV_SEQUENTIAL);
    }
    close(fd);
    certa_err e = validate(t, path, ei);
    if (e != CERTA_OK) {
        certa_load_trace_close(t);
        return e;
    }
    *out = t;
    return CERTA_OK;
}

certa_err certa_load_trace_open_mem(const uint8_t *buf, size_t len, certa_load_trace **out,
                                    certa_errinfo *ei)
{
    certa_load_trace *t = calloc(1, sizeof *t);
    if (t == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "trace in memory");
    t->map = (uint8_t *)(uintptr_t)buf;
    t->len = len;
    t->borrowed = true;
    certa_err e = validate(t, "(memory)", ei);
    if (e != CERTA_OK) {
        free(t);
        return e;
    }
    *out = t;
    return CERTA_OK;
}

const certa_load_trace_info *certa_load_trace_get_info(const certa_load_trace *t)
{
    return &t->info;
}

bool certa_load_trace_next(const certa_load_trace *t, size_t *pos, certa_load_trace_rec *rec)
{
    CERTA_ASSERT(*pos >= CERTA_LOAD_TRACE_HEADER_BYTES && *pos <= t->records_end);
    if (*pos == t->records_end)
        return false;
    const uint8_t *r = t->map + *pos;
    rec->at_us = certa_get_le64(r);
    rec->batch_bytes = certa_get_le32(r + 8);
    rec->events = certa_get_le32(r + 12);
    rec->integrator = certa_get_le16(r + 16);
    rec->expected_rejects = certa_get_le32(r + 20);
    rec->batch = r + CERTA_LOAD_TRACE_RECORD_BYTES;
    *pos += CERTA_LOAD_TRACE_RECORD_BYTES + rec->batch_bytes;
    CERTA_ASSERT(*pos <= t->records_end);
    return true;
}

void certa_load_trace_close(certa_load_trace *t)
{
    if (t == NULL)
        return;
    if (t->map != NULL && !t->borrowed)
        munmap(t->map, t->len);
    free(t);
}
