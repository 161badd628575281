/* state_snap: snapshots of the licence state (part of the state, see
 * state_internal.h). A snapshot is written to a temporary file, hashed as
 * it goes, fsynced, renamed into place and its directory fsynced; a load
 * reads it whole and checks every stored index against its array's count
 * before the live state is replaced.
 *
 * Invariants kept by this file:
 *  - a snapshot file is either absent or complete and hashed (rename after
 *    fsync);
 *  - a failed load leaves the state unchanged.
 */
#include "state_internal.h"

/* ---------------------------------------------------------------- snapshots */

#define SNAP_MAGIC 0x53545243u /* "CRTS" */
/* 2: the governed tables (engine/gov.c) follow the records */
#define SNAP_VERSION 2u
#define SNAP_GOV_BYTES_MAX (8u * 1024u * 1024u)
#define SNAP_HEADER_BYTES (4 + 4 + 32 + 8 + 8 + 8 + 32 + 32 + 4 + 4 + 8)
#define SNAP_HOLDER_BYTES (32 + 4 + 4)
#define SNAP_GRANT_BYTES (16 + 32 + 8 + 8 + 4 * 5 + 2 * 4 + 3)
#define SNAP_RECORD_BYTES 36

typedef struct snap_writer {
    int fd;
    uint8_t buf[1 << 16];
    size_t len;
    certa_sha256_ctx hash;
    bool failed;
} snap_writer;

static void sw_flush(snap_writer *w)
{
    size_t off = 0;
    while (!w->failed && off < w->len) {
        ssize_t k = write(w->fd, w->buf + off, w->len - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            w->failed = true;
        else
            off += (size_t)k;
    }
    w->len = 0;
}

static void sw_put(snap_writer *w, const void *p, size_t n, bool hashed)
{
    if (hashed)
        certa_sha256_update(&w->hash, p, n);
    const uint8_t *b = p;
    while (n > 0) {
        if (w->len == sizeof w->buf)
            sw_flush(w);
        size_t k = sizeof w->buf - w->len;
        if (k > n)
            k = n;
        memcpy(w->buf + w->len, b, k);
        w->len += k;
        b += k;
        n -= k;
    }
}

static void snap_header(const certa_state *s, uint8_t *h)
{
    uint8_t *p = h;
    certa_put_le32(p, SNAP_MAGIC), p += 4;
    certa_put_le32(p, SNAP_VERSION), p += 4;
    memcpy(p, s->g->hash, 32), p += 32;
    certa_put_le64(p, s->height), p += 8;
    certa_put_le64(p, s->now_ms), p += 8;
    certa_put_le64(p, s->record_count), p += 8;
    memcpy(p, s->results_chain, 32), p += 32;
    memcpy(p, s->last_results_root, 32), p += 32;
    certa_put_le32(p, s->holder_count), p += 4;
    certa_put_le32(p, s->grant_count), p += 4;
    certa_put_le64(p, s->record_count), p += 8;
    CERTA_ASSERT(p == h + SNAP_HEADER_BYTES);
}

static certa_err fsync_dir_of(const char *path, certa_errinfo *ei)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        strcpy(dir, ".");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir)
            return certa_errorf(ei, CERTA_E_ARG, "snapshot path too long: %s", path);
        memcpy(dir, path, n);
        dir[n] = '\0';
        if (n == 0)
            strcpy(dir, "/");
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return certa_errorf(ei, CERTA_E_IO, "open directory %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0)
        return certa_errorf(ei, CERTA_E_IO, "fsync directory %s: %s", dir, strerror(e));
    return CERTA_OK;
}

certa_err certa_state_snapshot_save(certa_state *s, const char *path,
                                    certa_errinfo *ei)
{
    CERTA_ASSERT(!s->in_block);
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return certa_errorf(ei, CERTA_E_ARG, "snapshot path too long: %s", path);
    snap_writer *w = malloc(sizeof *w);
    if (w == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "snapshot %s: out of memory", path);
    w->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        certa_err e = certa_errorf(ei, CERTA_E_IO, "create %s: %s", tmp, strerror(errno));
        free(w);
        return e;
    }
    w->len = 0;
    w->failed = false;
    certa_sha256_init(&w->hash);

    uint8_t h[SNAP_HEADER_BYTES];
    snap_header(s, h);
    sw_put(w, h, sizeof h, true);
    for (uint32_t i = 0; i < s->holder_count; i++) {
        uint8_t b[SNAP_HOLDER_BYTES];
        memcpy(b, s->holders[i].id, 32);
        certa_put_le32(b + 32, s->holders[i].head);
        certa_put_le32(b + 36, s->holders[i].tail);
        sw_put(w, b, sizeof b, true);
    }
    for (uint32_t i = 0; i < s->grant_count; i++) {
        const grant *gr = &s->grants[i];
        uint8_t b[SNAP_GRANT_BYTES], *p = b;
        memcpy(p, gr->id, 16), p += 16;
        memcpy(p, gr->code_commit, 32), p += 32;
        certa_put_le64(p, gr->not_before_ms), p += 8;
        certa_put_le64(p, gr->not_after_ms), p += 8;
        certa_put_le32(p, gr->holder), p += 4;
        certa_put_le32(p, gr->matter), p += 4;
        certa_put_le32(p, gr->licence_types), p += 4;
        certa_put_le32(p, gr->hist_head), p += 4;
        certa_put_le32(p, gr->hist_tail), p += 4;
        certa_put_le16(p, gr->centre), p += 2;
        certa_put_le16(p, gr->counter), p += 2;
        certa_put_le16(p, gr->max_uses), p += 2;
        certa_put_le16(p, gr->uses), p += 2;
        *p++ = gr->fails;
        *p++ = gr->flags;
        *p++ = gr->method;
        CERTA_ASSERT(p == b + sizeof b);
        sw_put(w, b, sizeof b, true);
    }
    for (uint64_t i = 0; i < s->record_count; i++) {
        const record *r = &s->records[i];
        uint8_t b[SNAP_RECORD_BYTES], *p = b;
        certa_put_le64(p, r->time_ms), p += 8;
        certa_put_le32(p, r->grant), p += 4;
        certa_put_le32(p, r->holder), p += 4;
        certa_put_le32(p, r->next_holder), p += 4;
        certa_put_le32(p, r->next_grant), p += 4;
        certa_put_le32(p, r->matter), p += 4;
        certa_put_le32(p, r->licence_types), p += 4;
        certa_put_le16(p, r->centre), p += 2;
        *p++ = r->kind;
        *p++ = r->result;
        CERTA_ASSERT(p == b + sizeof b);
        sw_put(w, b, sizeof b, true);
    }
    /* the governed tables: u32 length, then gov.c's serial form */
    uint8_t *gov = NULL;
    size_t gov_len = 0;
    if (!gov_serialize(s->gov, &gov, &gov_len)) {
        close(w->fd);
        unlink(tmp);
        free(w);
        return certa_errorf(ei, CERTA_E_NOMEM, "snapshot %s: out of memory", path);
    }
    CERTA_ASSERT(gov_len <= SNAP_GOV_BYTES_MAX);
    uint8_t gl[4];
    certa_put_le32(gl, (uint32_t)gov_len);
    sw_put(w, gl, sizeof gl, true);
    sw_put(w, gov, gov_len, true);
    free(gov);
    uint8_t sum[CERTA_HASH_BYTES];
    certa_sha256_final(&w->hash, sum);
    sw_put(w, sum, sizeof sum, false);
    sw_flush(w);
    int err = w->failed ? errno : 0;
    if (!w->failed && fsync(w->fd) != 0) {
        w->failed = true;
        err = errno;
    }
    close(w->fd);
    bool failed = w->failed;
    free(w);
    if (failed) {
        unlink(tmp);
        return certa_errorf(ei, err == ENOSPC ? CERTA_E_NOSPACE : CERTA_E_IO,
                            "write %s: %s", tmp, strerror(err));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return certa_errorf(ei, CERTA_E_IO, "rename %s: %s", tmp, strerror(e));
    }
    return fsync_dir_of(path, ei);
}

typedef struct snap_reader {
    FILE *f;
    certa_sha256_ctx hash;
    bool failed;
} snap_reader;

static bool sr_get(snap_reader *r, void *p, size_t n)
{
    if (r->failed || fread(p, 1, n, r->f) != n) {
        r->failed = true;
        return false;
    }
    certa_sha256_update(&r->hash, p, n);
    return true;
}

/* Decodes one grant of a snapshot (SNAP_GRANT_BYTES); the caller checks its
 * indexes against the counts. */
static void snap_grant_decode(const uint8_t *b, grant *gr)
{
    const uint8_t *p = b;
    memset(gr, 0, sizeof *gr);
    memcpy(gr->id, p, 16), p += 16;
    memcpy(gr->code_commit, p, 32), p += 32;
    gr->not_before_ms = certa_get_le64(p), p += 8;
    gr->not_after_ms = certa_get_le64(p), p += 8;
    gr->holder = certa_get_le32(p), p += 4;
    gr->matter = certa_get_le32(p), p += 4;
    gr->licence_types = certa_get_le32(p), p += 4;
    gr->hist_head = certa_get_le32(p), p += 4;
    gr->hist_tail = certa_get_le32(p), p += 4;
    gr->centre = certa_get_le16(p), p += 2;
    gr->counter = certa_get_le16(p), p += 2;
    gr->max_uses = certa_get_le16(p), p += 2;
    gr->uses = certa_get_le16(p), p += 2;
    gr->fails = *p++;
    gr->flags = *p++;
    gr->method = *p++;
    CERTA_ASSERT(p == b + SNAP_GRANT_BYTES);
}

/* Decodes one event record of a snapshot (SNAP_RECORD_BYTES); the caller
 * checks its indexes against the counts. */
static void snap_record_decode(const uint8_t *b, record *rec)
{
    const uint8_t *p = b;
    rec->time_ms = certa_get_le64(p), p += 8;
    rec->grant = certa_get_le32(p), p += 4;
    rec->holder = certa_get_le32(p), p += 4;
    rec->next_holder = certa_get_le32(p), p += 4;
    rec->next_grant = certa_get_le32(p), p += 4;
    rec->matter = certa_get_le32(p), p += 4;
    rec->licence_types = certa_get_le32(p), p += 4;
    rec->centre = certa_get_le16(p), p += 2;
    rec->kind = *p++;
    rec->result = *p++;
    CERTA_ASSERT(p == b + SNAP_RECORD_BYTES);
}

/* Replaces the state's content with a snapshot's checked arrays (ownership
 * of holders, grants and records passes to s) and header h, rebuilds the
 * indexes and marks every grant for rehashing at the next digest. */
static void snap_install(certa_state *s, const uint8_t *h, holder *holders, uint32_t nh,
                         grant *grants, uint32_t ng, record *records, uint64_t nr)
{
    CERTA_ASSERT(!s->in_block);
    CERTA_ASSERT(holders != NULL && grants != NULL && records != NULL);
    free(s->holders);
    free(s->grants);
    free(s->records);
    s->holders = holders, s->holder_count = nh, s->holder_cap = nh + 1;
    s->grants = grants, s->grant_count = ng, s->grant_cap = ng + 1;
    s->records = records, s->record_count = nr, s->record_cap = nr + 1;
    s->height = certa_get_le64(h + 40);
    s->now_ms = certa_get_le64(h + 48);
    memcpy(s->results_chain, h + 64, 32);
    memcpy(s->last_results_root, h + 96, 32);
    free(s->grant_index.slots);
    free(s->holder_index.slots);
    state_index_init(&s->grant_index, ng);
    state_index_init(&s->holder_index, nh);
    for (uint32_t i = 0; i < nh; i++)
        state_index_insert(s, &s->holder_index, s->holders[i].id, CERTA_HOLDER_ID_BYTES, i, state_holder_key);
    for (uint32_t i = 0; i < ng; i++)
        state_index_insert(s, &s->grant_index, s->grants[i].id, CERTA_GRANT_ID_BYTES, i, state_grant_key);
    /* Every grant, chunk and page is rehashed at the next digest. */
    uint32_t chunks = (ng + CHUNK_GRANTS - 1) / CHUNK_GRANTS;
    state_chunks_reserve(s, chunks + 1);
    memset(s->chunk_dirty, 0, (size_t)s->chunk_cap * sizeof *s->chunk_dirty);
    memset(s->page_dirty, 0, s->page_cap);
    s->dirty_count = 0;
    s->page_dirty_count = 0;
    for (uint32_t i = 0; i < ng; i++)
        state_grant_touch(s, i);
    s->block_count = 0;
    CERTA_ASSERT(s->grant_count == ng && s->holder_count == nh);
}

certa_err certa_state_snapshot_load(certa_state *s, const char *path,
                                    certa_errinfo *ei)
{
    CERTA_ASSERT(!s->in_block);
    snap_reader r = {.f = fopen(path, "rb"), .failed = false};
    if (r.f == NULL)
        return certa_errorf(ei, errno == ENOENT ? CERTA_E_NOTFOUND : CERTA_E_IO,
                            "open snapshot %s: %s", path, strerror(errno));
    certa_sha256_init(&r.hash);
    certa_err rc = CERTA_OK;
    const char *why = NULL;
    holder *holders = NULL;
    grant *grants = NULL;
    record *records = NULL;
    uint8_t *gov = NULL;
    size_t gov_len = 0;
    uint8_t h[SNAP_HEADER_BYTES];
    uint32_t nh = 0, ng = 0;
    uint64_t nr = 0;
    if (!sr_get(&r, h, sizeof h)) {
        why = "truncated header";
        goto bad;
    }
    if (certa_get_le32(h) != SNAP_MAGIC || certa_get_le32(h + 4) != SNAP_VERSION) {
        why = "bad magic or version";
        goto bad;
    }
    if (memcmp(h + 8, s->g->hash, 32) != 0) {
        why = "made for another genesis";
        goto bad;
    }
    nh = certa_get_le32(h + 128);
    ng = certa_get_le32(h + 132);
    nr = certa_get_le64(h + 136);
    if (nr != certa_get_le64(h + 56) || nr >= NONE || nh >= NONE || ng >= NONE) {
        why = "counts out of range";
        goto bad;
    }
    struct stat st;
    uint64_t fixed_bytes = SNAP_HEADER_BYTES + (uint64_t)nh * SNAP_HOLDER_BYTES +
                           (uint64_t)ng * SNAP_GRANT_BYTES + nr * SNAP_RECORD_BYTES + 4 +
                           CERTA_HASH_BYTES;
    if (fstat(fileno(r.f), &st) != 0 || (uint64_t)st.st_size < fixed_bytes ||
        (uint64_t)st.st_size - fixed_bytes > SNAP_GOV_BYTES_MAX) {
        why = "size does not match its counts";
        goto bad;
    }
    gov_len = (size_t)((uint64_t)st.st_size - fixed_bytes);
    gov = malloc(gov_len + 1);
    holders = malloc(((size_t)nh + 1) * sizeof *holders);
    grants = malloc(((size_t)ng + 1) * sizeof *grants);
    records = malloc(((size_t)nr + 1) * sizeof *records);
    if (holders == NULL || grants == NULL || records == NULL || gov == NULL) {
        rc = certa_errorf(ei, CERTA_E_NOMEM, "snapshot %s: out of memory", path);
        goto out;
    }
#define IDX_OK(v, n) ((v) == NONE || (v) < (n))
    for (uint32_t i = 0; i < nh; i++) {
        uint8_t b[SNAP_HOLDER_BYTES];
        if (!sr_get(&r, b, sizeof b))
            break;
        memcpy(holders[i].id, b, 32);
        holders[i].head = certa_get_le32(b + 32);
        holders[i].tail = certa_get_le32(b + 36);
        if (!IDX_OK(holders[i].head, nr) || !IDX_OK(holders[i].tail, nr))
            why = "holder index out of range";
    }
    for (uint32_t i = 0; i < ng && !r.failed; i++) {
        uint8_t b[SNAP_GRANT_BYTES];
        if (!sr_get(&r, b, sizeof b))
            break;
        grant *gr = &grants[i];
        snap_grant_decode(b, gr);
        if (gr->holder >= nh || gr->hist_head >= nr || gr->hist_tail >= nr ||
            gr->uses > gr->max_uses)
            why = "grant field out of range";
    }
    for (uint64_t i = 0; i < nr && !r.failed; i++) {
        uint8_t b[SNAP_RECORD_BYTES];
        if (!sr_get(&r, b, sizeof b))
            break;
        record *rec = &records[i];
        snap_record_decode(b, rec);
        /* lists run forward in time: next > this keeps them acyclic */
        if (!IDX_OK(rec->grant, ng) || !IDX_OK(rec->holder, nh) ||
            (rec->next_holder != NONE && (rec->next_holder <= i || rec->next_holder >= nr)) ||
            (rec->next_grant != NONE && (rec->next_grant <= i || rec->next_grant >= nr)) ||
            rec->result >= CERTA_R_COUNT)
            why = "record field out of range";
    }
#undef IDX_OK
    uint8_t gl[4];
    if (sr_get(&r, gl, sizeof gl) && certa_get_le32(gl) != gov_len)
        why = "governed tables' length does not match the size";
    sr_get(&r, gov, gov_len);
    if (r.failed) {
        why = "truncated";
        goto bad;
    }
    uint8_t sum[CERTA_HASH_BYTES], want[CERTA_HASH_BYTES];
    certa_sha256_final(&r.hash, sum);
    if (fread(want, 1, sizeof want, r.f) != sizeof want || memcmp(sum, want, sizeof sum) != 0) {
        why = "checksum mismatch";
        goto bad;
    }
    if (why != NULL)
        goto bad;
    if (!gov_deserialize(s->gov, gov, gov_len)) {
        why = "governed tables do not parse";
        goto bad;
    }

    /* Valid: replace the content. */
    snap_install(s, h, holders, nh, grants, ng, records, nr);
    holders = NULL, grants = NULL, records = NULL;
    goto out;
bad:
    rc = certa_errorf(ei, CERTA_E_SNAPSHOT, "snapshot %s: %s", path, why);
out:
    fclose(r.f);
    free(holders);
    free(grants);
    free(records);
    free(gov);
    return rc;
}
