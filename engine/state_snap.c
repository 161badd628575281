/* state_snap: snapshots of the licence state (part of the state, see
 * state_internal.h). A snapshot is written to a temporary file, hashed as
 * it goes, fsynced, renamed into place and its directory fsynced; a load
 * reads it whole and checks every slot and the free list before the live
 * state is replaced. It holds the hot state only: the event records and
 * archived grants are the cold store's, which the snapshot names by height,
 * event count and archive root (a load needs the cold store at or past
 * that height).
 *
 * Invariants kept by this file:
 *  - a snapshot file is either absent or complete and hashed (rename after
 *    fsync);
 *  - a failed load leaves the state unchanged.
 */
#include "state_internal.h"

#include "cold.h"

/* ---------------------------------------------------------------- snapshots */

#define SNAP_MAGIC 0x53545243u /* "CRTS" */
/* 2: hot state only (the cold store holds the history); 3: the governed
 * tables (engine/gov.c) follow the free list; 4: each grant slot ends with
 * its latest redeem's time and counter (rules 2). Version 3 still loads. */
#define SNAP_VERSION 4u
#define SNAP_VERSION_V3 3u
#define SNAP_GOV_BYTES_MAX (8u * 1024u * 1024u)
#define SNAP_HEADER_BYTES (4 + 4 + 32 + 8 + 8 + 8 + 32 + 32 + 4 + 4 + 8 + 8)
#define SNAP_FRONTIER_BYTES (FRONTIER_MAX * CERTA_HASH_BYTES)
#define SNAP_GRANT_BYTES_V3 (16 + 32 + 32 + 8 + 8 + 8 + 4 + 4 + 2 * 4 + 4)
#define SNAP_GRANT_BYTES (SNAP_GRANT_BYTES_V3 + 8 + 2)

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
    certa_put_le32(p, s->grant_slots), p += 4;
    certa_put_le32(p, s->free_count), p += 4;
    certa_put_le64(p, s->grants_created), p += 8;
    certa_put_le64(p, s->archived), p += 8;
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
    /* a load needs the cold store at the snapshot's height: commit the
     * group of blocks still open */
    certa_err fe = state_cold_flush(s, ei);
    if (fe != CERTA_OK)
        return fe;
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
    sw_put(w, s->frontier, SNAP_FRONTIER_BYTES, true);
    for (uint32_t i = 0; i < s->grant_slots; i++) {
        const grant *gr = &s->grants[i];
        uint8_t b[SNAP_GRANT_BYTES], *p = b;
        memcpy(p, gr->id, 16), p += 16;
        memcpy(p, gr->holder_id, 32), p += 32;
        memcpy(p, gr->code_commit, 32), p += 32;
        certa_put_le64(p, gr->not_before_ms), p += 8;
        certa_put_le64(p, gr->not_after_ms), p += 8;
        certa_put_le64(p, gr->created_ms), p += 8;
        certa_put_le32(p, gr->matter), p += 4;
        certa_put_le32(p, gr->licence_types), p += 4;
        certa_put_le16(p, gr->centre), p += 2;
        certa_put_le16(p, gr->counter), p += 2;
        certa_put_le16(p, gr->max_uses), p += 2;
        certa_put_le16(p, gr->uses), p += 2;
        *p++ = gr->fails;
        *p++ = gr->flags;
        *p++ = gr->method;
        *p++ = gr->live;
        certa_put_le64(p, gr->redeem_ms), p += 8;
        certa_put_le16(p, gr->redeem_counter), p += 2;
        CERTA_ASSERT(p == b + sizeof b);
        sw_put(w, b, sizeof b, true);
    }
    for (uint32_t i = 0; i < s->free_count; i++) {
        uint8_t b[4];
        certa_put_le32(b, s->free_slots[i]);
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

/* Decodes one grant slot of a snapshot (SNAP_GRANT_BYTES, or
 * SNAP_GRANT_BYTES_V3 when !bound); false when its fields are out of range
 * (the caller rejects the snapshot). */
static bool snap_grant_decode(const uint8_t *b, bool bound, grant *gr)
{
    const uint8_t *p = b;
    memset(gr, 0, sizeof *gr);
    memcpy(gr->id, p, 16), p += 16;
    memcpy(gr->holder_id, p, 32), p += 32;
    memcpy(gr->code_commit, p, 32), p += 32;
    gr->not_before_ms = certa_get_le64(p), p += 8;
    gr->not_after_ms = certa_get_le64(p), p += 8;
    gr->created_ms = certa_get_le64(p), p += 8;
    gr->matter = certa_get_le32(p), p += 4;
    gr->licence_types = certa_get_le32(p), p += 4;
    gr->centre = certa_get_le16(p), p += 2;
    gr->counter = certa_get_le16(p), p += 2;
    gr->max_uses = certa_get_le16(p), p += 2;
    gr->uses = certa_get_le16(p), p += 2;
    gr->fails = *p++;
    gr->flags = *p++;
    gr->method = *p++;
    gr->live = *p++;
    if (bound) {
        gr->redeem_ms = certa_get_le64(p), p += 8;
        gr->redeem_counter = certa_get_le16(p), p += 2;
    }
    CERTA_ASSERT(p == b + (bound ? SNAP_GRANT_BYTES : SNAP_GRANT_BYTES_V3));
    if (gr->live > 1 || gr->uses > gr->max_uses)
        return false;
    /* a free slot is all zero: its hash is the empty grant's */
    static const grant zero;
    return gr->live == 1 || memcmp(gr, &zero, sizeof zero) == 0;
}

/* Replaces the hot state with a snapshot's checked slots and free list
 * (copied into the table reserved at create, which they fit) and header
 * h, rebuilds the index and the expiry heap and marks every slot for
 * rehashing at the next digest. */
static void snap_install(certa_state *s, const uint8_t *h, const uint8_t *frontier,
                         const grant *grants, uint32_t slots, const uint32_t *free_slots,
                         uint32_t nfree)
{
    CERTA_ASSERT(!s->in_block && slots <= s->grant_cap);
    memcpy(s->grants, grants, (size_t)slots * sizeof *grants);
    /* slots the state used past the snapshot's become never-used ones:
     * zero, as the untouched rest of the table is */
    if (s->grant_slots > slots)
        memset(s->grants + slots, 0, (size_t)(s->grant_slots - slots) * sizeof *s->grants);
    memcpy(s->free_slots, free_slots, (size_t)nfree * sizeof *free_slots);
    s->grant_slots = slots;
    s->free_count = nfree;
    s->heap_count = 0;
    s->grant_live = 0;
    s->height = certa_get_le64(h + 40);
    s->now_ms = certa_get_le64(h + 48);
    s->record_count = certa_get_le64(h + 56);
    s->record_base = s->record_count;
    memcpy(s->results_chain, h + 64, 32);
    memcpy(s->last_results_root, h + 96, 32);
    s->grants_created = certa_get_le64(h + 136);
    s->archived = certa_get_le64(h + 144);
    memcpy(s->frontier, frontier, SNAP_FRONTIER_BYTES);
    state_index_free(&s->grant_index);
    state_index_init(&s->grant_index, slots > s->grants_reserve ? slots : s->grants_reserve);
    for (uint32_t i = 0; i < slots; i++) {
        if (!s->grants[i].live)
            continue;
        s->grant_live++;
        state_index_insert(s, &s->grant_index, s->grants[i].id, CERTA_GRANT_ID_BYTES, i,
                           state_grant_key);
        state_heap_push(s, s->grants[i].not_after_ms, i);
    }
    /* Every grant, chunk and page is rehashed at the next digest. Only
     * the listed chunks and pages have dirty marks: clearing those leaves
     * the unused rest of the reservation untouched. */
    for (uint32_t d = 0; d < s->dirty_count; d++)
        s->chunk_dirty[s->dirty_list[d]] = 0;
    for (uint32_t d = 0; d < s->page_dirty_count; d++)
        s->page_dirty[s->page_list[d]] = 0;
    s->dirty_count = 0;
    s->page_dirty_count = 0;
    for (uint32_t i = 0; i < slots; i++)
        state_grant_touch(s, i);
    s->block_count = 0;
    s->cold_skip_to = certa_cold_meta_of(s->cold).height;
}

certa_err certa_state_snapshot_load(certa_state *s, const char *path,
                                    certa_errinfo *ei)
{
    CERTA_ASSERT(!s->in_block);
    /* blocks applied before the load are committed at their own height
     * (the check below then compares the store with the snapshot) */
    certa_err fe = state_cold_flush(s, ei);
    if (fe != CERTA_OK)
        return fe;
    snap_reader r = {.f = fopen(path, "rb"), .failed = false};
    if (r.f == NULL)
        return certa_errorf(ei, errno == ENOENT ? CERTA_E_NOTFOUND : CERTA_E_IO,
                            "open snapshot %s: %s", path, strerror(errno));
    certa_sha256_init(&r.hash);
    certa_err rc = CERTA_OK;
    const char *why = NULL;
    grant *grants = NULL;
    uint32_t *free_slots = NULL;
    uint8_t *seen = NULL;
    uint8_t *gov = NULL;
    size_t gov_len = 0;
    uint8_t h[SNAP_HEADER_BYTES];
    uint8_t *frontier = NULL;
    uint32_t slots = 0, nfree = 0;
    if (!sr_get(&r, h, sizeof h)) {
        why = "truncated header";
        goto bad;
    }
    uint32_t version = certa_get_le32(h + 4);
    bool bound = version == SNAP_VERSION;
    size_t grant_bytes = bound ? SNAP_GRANT_BYTES : SNAP_GRANT_BYTES_V3;
    if (certa_get_le32(h) != SNAP_MAGIC || (version != SNAP_VERSION && version != SNAP_VERSION_V3)) {
        why = "bad magic or version";
        goto bad;
    }
    if (memcmp(h + 8, s->g->hash, 32) != 0) {
        why = "made for another genesis";
        goto bad;
    }
    slots = certa_get_le32(h + 128);
    nfree = certa_get_le32(h + 132);
    if (slots >= NONE || nfree > slots) {
        why = "counts out of range";
        goto bad;
    }
    if (slots > s->grant_cap) {
        rc = certa_errorf(ei, CERTA_E_SNAPSHOT,
                          "snapshot %s: %u grant slots, more than this state's grants_max "
                          "%u: start it with a larger grants_max",
                          path, slots, s->grant_cap);
        goto out;
    }
    struct stat st;
    uint64_t fixed_bytes = SNAP_HEADER_BYTES + SNAP_FRONTIER_BYTES +
                           (uint64_t)slots * grant_bytes + 4ull * nfree + 4 +
                           CERTA_HASH_BYTES;
    if (fstat(fileno(r.f), &st) != 0 || (uint64_t)st.st_size < fixed_bytes ||
        (uint64_t)st.st_size - fixed_bytes > SNAP_GOV_BYTES_MAX) {
        why = "size does not match its counts";
        goto bad;
    }
    gov_len = (size_t)((uint64_t)st.st_size - fixed_bytes);
    gov = malloc(gov_len + 1);
    grants = malloc(((size_t)slots + 1) * sizeof *grants);
    free_slots = malloc(((size_t)slots + 1) * sizeof *free_slots);
    seen = calloc((size_t)slots + 1, 1);
    frontier = malloc(SNAP_FRONTIER_BYTES);
    if (grants == NULL || free_slots == NULL || seen == NULL || frontier == NULL ||
        gov == NULL) {
        rc = certa_errorf(ei, CERTA_E_NOMEM, "snapshot %s: out of memory", path);
        goto out;
    }
    sr_get(&r, frontier, SNAP_FRONTIER_BYTES);
    uint32_t live = 0;
    for (uint32_t i = 0; i < slots && !r.failed; i++) {
        uint8_t b[SNAP_GRANT_BYTES];
        if (!sr_get(&r, b, grant_bytes))
            break;
        if (!snap_grant_decode(b, bound, &grants[i]))
            why = "grant slot out of range";
        live += grants[i].live;
    }
    for (uint32_t i = 0; i < nfree && !r.failed; i++) {
        uint8_t b[4];
        if (!sr_get(&r, b, sizeof b))
            break;
        free_slots[i] = certa_get_le32(b);
        /* each free slot once, and only free ones */
        if (free_slots[i] >= slots || grants[free_slots[i]].live || seen[free_slots[i]]++)
            why = "free list out of range";
    }
    uint8_t gl[4];
    if (sr_get(&r, gl, sizeof gl) && certa_get_le32(gl) != gov_len)
        why = "governed tables' length does not match the size";
    sr_get(&r, gov, gov_len);
    if (r.failed) {
        why = "truncated";
        goto bad;
    }
    if (why == NULL && live + nfree != slots)
        why = "free list does not match the slots";
    uint8_t sum[CERTA_HASH_BYTES], want[CERTA_HASH_BYTES];
    certa_sha256_final(&r.hash, sum);
    if (fread(want, 1, sizeof want, r.f) != sizeof want || memcmp(sum, want, sizeof sum) != 0) {
        why = "checksum mismatch";
        goto bad;
    }
    if (why != NULL)
        goto bad;
    /* the cold half: the store must already hold what the snapshot names */
    {
        uint64_t archived = certa_get_le64(h + 144);
        uint8_t root[CERTA_HASH_BYTES];
        state_archive_root_of(archived, (const uint8_t(*)[CERTA_HASH_BYTES])frontier, root);
        rc = state_cold_check_snapshot(s, certa_get_le64(h + 40), certa_get_le64(h + 56),
                                       archived, root, path, ei);
        if (rc != CERTA_OK)
            goto out;
    }
    /* last: it replaces the governed tables when they parse */
    if (!gov_deserialize(s->gov, gov, gov_len)) {
        why = "governed tables do not parse";
        goto bad;
    }

    /* Valid: replace the content. */
    snap_install(s, h, frontier, grants, slots, free_slots, nfree);
    goto out;
bad:
    rc = certa_errorf(ei, CERTA_E_SNAPSHOT, "snapshot %s: %s", path, why);
out:
    fclose(r.f);
    free(grants);
    free(free_slots);
    free(seen);
    free(frontier);
    free(gov);
    return rc;
}
