/* state_cold: the licence state's cold half (part of the state, see
 * state_internal.h). At the end of every block it archives the hot grants
 * whose window ended at least CERTA_STATE_GRACE_MS before the block's time
 * (they can no longer change), appends their final records to the archive
 * tree (RFC 6962, kept as its frontier: O(log n) hashes per grant) and
 * writes the block's event records and archived grants to the cold store.
 * One LMDB write transaction holds a group of consecutive blocks (up to
 * COLD_GROUP_BLOCKS blocks or COLD_GROUP_EVENTS events) and is committed
 * with the height, event count and archive root they bring it to: random
 * inserts into the holder and grant lists copy and write each touched
 * B-tree page once per transaction, not once per block. Reads go through
 * the open transaction, so the rules and the queries see every executed
 * block. The queries that read history are answered here.
 *
 * Invariants:
 *  - which grants a block archives, and in which order (not_after_ms, then
 *    slot), is a function of the chain: every validator's archive root and
 *    free-slot order are the same;
 *  - the cold store's meta (height, events, archived, root) is written in
 *    the transaction that brings its content to that height; a group left
 *    uncommitted by a kill is replayed from the block log like any block
 *    above the stored height;
 *  - blocks at or below cold_skip_to are already in the cold store (a
 *    restarted validator replays them): nothing is written for them, and
 *    at cold_skip_to the state must agree with the stored meta;
 *  - an archived grant is visible to the rules only from the block after
 *    the one that archived it, so a replay behind the cold store sees what
 *    the live run saw.
 */
#include "state_internal.h"

#include "cold.h"

/* A group's bounds: about 3 x COLD_GROUP_EVENTS dirty pages at worst (an
 * event record and two list entries on pages of their own), below LMDB's
 * 131,072-page dirty list, past which it spills pages mid-transaction. */
#define COLD_GROUP_BLOCKS 64u
#define COLD_GROUP_EVENTS 32768u

/* ---------------------------------------------------------------- open */

certa_err state_cold_open(certa_state *s, const certa_state_opts *o, certa_errinfo *ei)
{
    certa_cold_opts co = {.map_bytes = o ? o->cold_map_bytes : 0};
    if (o != NULL && o->cold_dir != NULL) {
        if (strlen(o->cold_dir) >= sizeof s->cold_dir)
            return certa_errorf(ei, CERTA_E_ARG, "state: cold store path too long");
        strcpy(s->cold_dir, o->cold_dir);
    } else {
        /* private and thrown away: nothing to make durable */
        const char *tmp = getenv("TMPDIR");
        snprintf(s->cold_dir, sizeof s->cold_dir, "%s/certa-cold-XXXXXX",
                 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
        if (mkdtemp(s->cold_dir) == NULL)
            return certa_errorf(ei, CERTA_E_IO, "state: temporary cold store %s: %s",
                                s->cold_dir, strerror(errno));
        s->cold_private = true;
        co.scratch = true;
        if (co.map_bytes == 0)
            co.map_bytes = 4ull << 30;
    }
    certa_err e = certa_cold_open(s->cold_dir, &co, &s->cold, &s->cold_rebuilt, ei);
    if (e != CERTA_OK)
        return e;
    s->cold_skip_to = certa_cold_meta_of(s->cold).height;
    return CERTA_OK;
}

void state_cold_close(certa_state *s)
{
    if (s->cold != NULL && !s->in_block) {
        certa_errinfo ei;
        (void)state_cold_flush(s, &ei); /* a failure: the replay redoes the group */
    }
    if (s->cold != NULL)
        certa_cold_close(s->cold);
    s->cold = NULL;
    if (s->cold_private && s->cold_dir[0] != '\0') {
        certa_cold_remove(s->cold_dir);
        rmdir(s->cold_dir);
    }
}

/* ---------------------------------------------------------------- archive */

static void frontier_append(certa_state *s, const uint8_t leaf_hash[CERTA_HASH_BYTES])
{
    uint8_t h[CERTA_HASH_BYTES], t[CERTA_HASH_BYTES];
    memcpy(h, leaf_hash, CERTA_HASH_BYTES);
    uint64_t n = s->archived;
    unsigned lvl = 0;
    while (n & 1) {
        certa_merkle_node_hash(s->frontier[lvl], h, t);
        memcpy(h, t, CERTA_HASH_BYTES);
        n >>= 1;
        lvl++;
    }
    CERTA_ASSERT(lvl < FRONTIER_MAX);
    memcpy(s->frontier[lvl], h, CERTA_HASH_BYTES);
    s->archived++;
}

/* The RFC 6962 root: complete subtrees from the smallest up, each larger
 * one on the left. */
void state_archive_root(const certa_state *s, uint8_t out[CERTA_HASH_BYTES])
{
    state_archive_root_of(s->archived, (const uint8_t(*)[CERTA_HASH_BYTES])s->frontier, out);
}

void state_archive_root_of(uint64_t archived, const uint8_t (*frontier)[CERTA_HASH_BYTES],
                           uint8_t out[CERTA_HASH_BYTES])
{
    if (archived == 0) {
        certa_merkle_empty_root(out);
        return;
    }
    bool have = false;
    uint8_t r[CERTA_HASH_BYTES], t[CERTA_HASH_BYTES];
    for (unsigned lvl = 0; lvl < FRONTIER_MAX; lvl++) {
        if (!(archived >> lvl & 1))
            continue;
        if (!have) {
            memcpy(r, frontier[lvl], CERTA_HASH_BYTES);
            have = true;
        } else {
            certa_merkle_node_hash(frontier[lvl], r, t);
            memcpy(r, t, CERTA_HASH_BYTES);
        }
    }
    memcpy(out, r, CERTA_HASH_BYTES);
}

static bool heap_less(const expiry *a, const expiry *b)
{
    return a->not_after_ms != b->not_after_ms ? a->not_after_ms < b->not_after_ms
                                              : a->slot < b->slot;
}

static uint32_t heap_pop(certa_state *s)
{
    CERTA_ASSERT(s->heap_count > 0);
    uint32_t top = s->heap[0].slot;
    expiry x = s->heap[--s->heap_count];
    uint32_t n = s->heap_count, i = 0;
    if (n == 0)
        return top;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_less(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!heap_less(&s->heap[c], &x))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    s->heap[i] = x;
    return top;
}

static void set_cold_err(certa_state *s, certa_err e, const char *msg)
{
    if (s->cold_err != CERTA_OK)
        return;
    s->cold_err = e;
    snprintf(s->cold_msg, sizeof s->cold_msg, "%s", msg);
}

static void event_encode(const record *r, uint8_t out[COLD_EVENT_BYTES])
{
    uint8_t *p = out;
    certa_put_le64(p, r->time_ms), p += 8;
    *p++ = r->kind;
    *p++ = r->result;
    certa_put_le16(p, r->centre), p += 2;
    certa_put_le32(p, r->matter), p += 4;
    certa_put_le32(p, r->licence_types), p += 4;
    *p++ = r->has_grant;
    memcpy(p, r->grant_id, CERTA_GRANT_ID_BYTES), p += CERTA_GRANT_ID_BYTES;
    CERTA_ASSERT(p == out + COLD_EVENT_BYTES);
}

/* Archives the slots in s->arch_scratch[0..n) (archive order): leaf, tree,
 * cold record when writing, then the slot is freed. */
static certa_err archive_slots(certa_state *s, uint32_t n, bool write, certa_errinfo *ei)
{
    certa_err e = CERTA_OK;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t gi = s->arch_scratch[i];
        grant *gr = &s->grants[gi];
        CERTA_ASSERT(gr->live);
        uint8_t rec[ARCHIVE_REC_BYTES], h[CERTA_HASH_BYTES];
        state_grant_encode(gr, rec);
        certa_put_le64(rec + GRANT_HASH_BYTES, gr->created_ms);
        certa_put_le64(rec + GRANT_HASH_BYTES + 8, s->height);
        certa_put_le64(rec + ARCHIVE_LEAF_BYTES, s->archived);
        certa_merkle_leaf_hash(rec, ARCHIVE_LEAF_BYTES, h);
        frontier_append(s, h);
        if (write && e == CERTA_OK)
            e = certa_cold_put_grant(s->cold, gr->id, rec, sizeof rec, ei);
        state_index_remove(s, &s->grant_index, gr->id, CERTA_GRANT_ID_BYTES, gi, state_grant_key);
        memset(gr, 0, sizeof *gr);
        s->free_slots[s->free_count++] = gi;
        s->grant_live--;
        state_grant_touch(s, gi);
    }
    return e;
}

/* The meta the state's position gives the cold store. */
static void cold_meta(const certa_state *s, certa_cold_meta *m)
{
    memset(m, 0, sizeof *m);
    m->height = s->height;
    m->events = s->record_count;
    m->archived = s->archived;
    state_archive_root(s, m->root);
}

/* Hands the open group to the writer: the cold store reaches the state's
 * height once the writer has written it. */
static certa_err cold_seal(certa_state *s, certa_errinfo *ei)
{
    certa_cold_meta m;
    cold_meta(s, &m);
    certa_errinfo sub;
    certa_errinfo_clear(&sub);
    certa_err e = certa_cold_commit(s->cold, &m, &sub);
    s->cold_group_blocks = 0;
    s->cold_group_events = 0;
    if (e != CERTA_OK) {
        set_cold_err(s, e, certa_errmsg(&sub));
        return certa_errorf(ei, e, "%s", certa_errmsg(&sub));
    }
    return CERTA_OK;
}

certa_err state_cold_flush(certa_state *s, certa_errinfo *ei)
{
    CERTA_ASSERT(!s->in_block);
    if (certa_cold_writing(s->cold)) {
        certa_err e = cold_seal(s, ei);
        if (e != CERTA_OK)
            return e;
    }
    certa_errinfo sub;
    certa_errinfo_clear(&sub);
    certa_err e = certa_cold_sync(s->cold, &sub);
    if (e != CERTA_OK) {
        set_cold_err(s, e, certa_errmsg(&sub));
        return certa_errorf(ei, e, "%s", certa_errmsg(&sub));
    }
    if (s->cold_err != CERTA_OK)
        return certa_state_cold_status(s, ei);
    CERTA_ASSERT(s->height <= s->cold_skip_to ||
                 certa_cold_meta_of(s->cold).height == s->height);
    return CERTA_OK;
}

/* Replaying blocks the cold store already holds: at its height, the state
 * must agree with what it recorded. */
static void cold_check_skipped(certa_state *s)
{
    certa_cold_read_end(s->cold); /* the next block reads a fresh snapshot */
    if (s->height != s->cold_skip_to || s->cold_err != CERTA_OK)
        return;
    certa_cold_meta cm = certa_cold_meta_of(s->cold), m, *c = &cm;
    cold_meta(s, &m);
    if (c->events != m.events || c->archived != m.archived ||
        memcmp(c->root, m.root, CERTA_HASH_BYTES) != 0) {
        char msg[sizeof s->cold_msg];
        snprintf(msg, sizeof msg,
                 "cold store %.100s disagrees with the chain at height %llu "
                 "(events %llu/%llu, archived %llu/%llu): remove it to rebuild",
                 s->cold_dir, (unsigned long long)s->height,
                 (unsigned long long)c->events, (unsigned long long)m.events,
                 (unsigned long long)c->archived, (unsigned long long)m.archived);
        set_cold_err(s, CERTA_E_CORRUPT, msg);
    }
}

void state_cold_end_block(certa_state *s)
{
    CERTA_ASSERT(!s->in_block);
    uint32_t n = 0;
    if (s->now_ms >= CERTA_STATE_GRACE_MS)
        while (s->heap_count > 0 && s->heap[0].not_after_ms <= s->now_ms - CERTA_STATE_GRACE_MS)
            s->arch_scratch[n++] = heap_pop(s);
    bool write = s->cold_err == CERTA_OK && s->height > s->cold_skip_to;
    certa_errinfo ei;
    certa_err e = CERTA_OK;
    uint64_t t0 = certa_cold_clock_ns(CLOCK_MONOTONIC), c0 = certa_cold_clock_ns(CLOCK_THREAD_CPUTIME_ID);
    if (write && !certa_cold_writing(s->cold))
        e = certa_cold_begin(s->cold, &ei);
    if (archive_slots(s, n, write && e == CERTA_OK, &ei) != CERTA_OK && e == CERTA_OK)
        e = CERTA_E_IO;
    for (uint32_t i = 0; write && e == CERTA_OK && i < s->block_count; i++) {
        const record *r = &s->records[i];
        uint8_t b[COLD_EVENT_BYTES];
        event_encode(r, b);
        e = certa_cold_put_event(s->cold, s->record_base + i, b,
                                 r->has_holder ? r->holder_id : NULL,
                                 r->has_grant ? r->grant_id : NULL, &ei);
    }
    if (write && e == CERTA_OK)
        e = certa_cold_failed(s->cold, &ei); /* an earlier group's write */
    if (write && e == CERTA_OK) {
        s->cold_group_blocks++;
        s->cold_group_events += s->block_count;
        if (s->cold_group_blocks >= COLD_GROUP_BLOCKS ||
            s->cold_group_events >= COLD_GROUP_EVENTS)
            e = cold_seal(s, &ei);
    } else if (write) {
        /* the group is lost with its transaction: a restart replays it */
        certa_cold_abort(s->cold);
        s->cold_group_blocks = 0;
        s->cold_group_events = 0;
        set_cold_err(s, e, certa_errmsg(&ei));
    }
    if (!write)
        cold_check_skipped(s);
    s->cold_write_ns += certa_cold_clock_ns(CLOCK_MONOTONIC) - t0;
    s->cold_write_cpu_ns += certa_cold_clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
}

/* An archived grant into *out, if the state's position can see it. A read
 * failure of the cold store cannot be told from an absent grant by the
 * rules: it stops the process rather than give a divergent result. */
static bool cold_grant_get(certa_state *s, const uint8_t *id, grant *out)
{
    if (s->archived == 0)
        return false; /* nothing archived up to this height */
    uint8_t rec[COLD_GRANT_BYTES_MAX];
    size_t len = 0;
    certa_err e = certa_cold_get_grant(s->cold, id, rec, sizeof rec, &len);
    if (e == CERTA_E_NOTFOUND)
        return false;
    CERTA_ASSERT(e == CERTA_OK && len == ARCHIVE_REC_BYTES);
    uint64_t archived_at = certa_get_le64(rec + GRANT_HASH_BYTES + 8);
    /* archived at the end of block h: seen from block h + 1 on */
    if (s->in_block ? archived_at >= s->height : archived_at > s->height)
        return false;
    state_grant_decode(rec, out);
    out->created_ms = certa_get_le64(rec + GRANT_HASH_BYTES);
    return true;
}

bool state_cold_grant(certa_state *s, const uint8_t *id)
{
    return cold_grant_get(s, id, &s->cold_grant);
}

certa_err state_cold_check_snapshot(const certa_state *s, uint64_t height, uint64_t events,
                                    uint64_t archived, const uint8_t root[CERTA_HASH_BYTES],
                                    const char *path, certa_errinfo *ei)
{
    certa_cold_meta cm = certa_cold_meta_of(s->cold), *c = &cm;
    if (c->height < height)
        return certa_errorf(ei, CERTA_E_SNAPSHOT,
                            "snapshot %s: height %llu, but the cold store %s holds only up "
                            "to %llu", path, (unsigned long long)height, s->cold_dir,
                            (unsigned long long)c->height);
    if (c->height == height &&
        (c->events != events || c->archived != archived ||
         memcmp(c->root, root, CERTA_HASH_BYTES) != 0))
        return certa_errorf(ei, CERTA_E_SNAPSHOT,
                            "snapshot %s disagrees with the cold store %s at height %llu",
                            path, s->cold_dir, (unsigned long long)height);
    return CERTA_OK;
}

/* ---------------------------------------------------------------- status */

void certa_state_cold(const certa_state *s, certa_state_cold_info *out)
{
    certa_cold_meta c = certa_cold_meta_of(s->cold);
    memset(out, 0, sizeof *out);
    out->rebuilt = s->cold_rebuilt;
    out->rebuilt_why = certa_cold_rebuilt_why(s->cold);
    out->committed_height = c.height;
    certa_cold_meta now;
    if (s->height > s->cold_skip_to && !s->in_block)
        cold_meta(s, &now); /* staged and in flight included: what reads see */
    else
        now = c;
    out->height = now.height;
    out->events = now.events;
    out->archived = now.archived;
    memcpy(out->root, now.root, CERTA_HASH_BYTES);
    out->disk_bytes = certa_cold_disk_bytes(s->cold);
    out->write_ns = s->cold_write_ns;
    out->write_cpu_ns = s->cold_write_cpu_ns;
    certa_cold_writer_time(s->cold, &out->writer_ns, &out->writer_cpu_ns);
    out->hot_grants = s->grant_live;
}

certa_err certa_state_cold_status(const certa_state *s, certa_errinfo *ei)
{
    if (s->cold_err == CERTA_OK)
        return CERTA_OK;
    return certa_errorf(ei, s->cold_err, "%s", s->cold_msg);
}

void certa_state_cold_remove(const char *dir) { certa_cold_remove(dir); }

certa_err certa_state_cold_flush(certa_state *s, certa_errinfo *ei)
{
    return state_cold_flush(s, ei);
}

/* ---------------------------------------------------------------- queries */
/* Queries read the cold store through its read snapshot: they change no
 * state, so they take the state const and the store's cursor as a cache. */

bool certa_state_event_result(const certa_state *s, uint64_t index, uint8_t *result)
{
    if (index >= s->record_count)
        return false;
    if (index >= s->record_base) {
        *result = s->records[index - s->record_base].result;
    } else {
        uint8_t b[COLD_EVENT_BYTES];
        certa_err e = certa_cold_get_event(((certa_state *)s)->cold, index, b);
        if (e != CERTA_OK)
            return false;
        *result = b[9];
    }
    CERTA_ASSERT(*result < CERTA_R_COUNT);
    return true;
}

certa_err certa_state_grant(const certa_state *s,
                            const uint8_t grant_id[CERTA_GRANT_ID_BYTES],
                            certa_grant_info *out)
{
    grant cold;
    const grant *gr;
    uint32_t gi = state_grant_find(s, grant_id);
    if (gi != NONE)
        gr = &s->grants[gi];
    else if (cold_grant_get((certa_state *)s, grant_id, &cold))
        gr = &cold;
    else
        return CERTA_E_NOTFOUND;
    memset(out, 0, sizeof *out);
    memcpy(out->grant_id, gr->id, CERTA_GRANT_ID_BYTES);
    memcpy(out->holder_id, gr->holder_id, CERTA_HOLDER_ID_BYTES);
    out->centre = gr->centre;
    out->counter = gr->counter;
    out->matter = gr->matter;
    out->licence_types = gr->licence_types;
    out->not_before_ms = gr->not_before_ms;
    out->not_after_ms = gr->not_after_ms;
    out->max_uses = gr->max_uses;
    out->uses = gr->uses;
    out->failed_attempts = gr->fails;
    out->method = gr->method;
    out->status = state_grant_status(s, gr);
    out->created_ms = gr->created_ms;
    return CERTA_OK;
}

static void record_out(uint64_t seq, const uint8_t b[COLD_EVENT_BYTES], certa_record *o)
{
    memset(o, 0, sizeof *o);
    o->seq = seq;
    o->time_ms = certa_get_le64(b);
    o->kind = b[8];
    o->result = b[9];
    o->centre = certa_get_le16(b + 10);
    o->matter = certa_get_le32(b + 12);
    o->licence_types = certa_get_le32(b + 16);
    o->has_grant = b[20] != 0;
    if (o->has_grant)
        memcpy(o->grant_id, b + 21, CERTA_GRANT_ID_BYTES);
}

#define PAGE_MAX 1024u

static certa_err page(const certa_state *s, bool by_holder, const uint8_t *key,
                      uint64_t cursor, uint32_t limit, certa_record *out, uint32_t *n_out,
                      uint64_t *next_cursor)
{
    certa_state *w = (certa_state *)s;
    *n_out = 0;
    *next_cursor = 0;
    CERTA_ASSERT(!s->in_block);
    uint64_t seqs[PAGE_MAX];
    uint64_t from = cursor == 0 ? 0 : cursor - 1;
    uint32_t got = 0;
    while (true) {
        uint32_t want = limit - got < PAGE_MAX ? limit - got : PAGE_MAX, n = 0;
        uint64_t next = UINT64_MAX;
        certa_err e = certa_cold_list(w->cold, by_holder, key, from, cursor != 0 && got == 0,
                                      s->record_count, seqs, want, &n, &next);
        if (e != CERTA_OK)
            return e;
        if (cursor != 0 && got == 0 && from >= s->record_count)
            return CERTA_E_ARG;
        for (uint32_t i = 0; i < n; i++) {
            uint8_t b[COLD_EVENT_BYTES];
            if (certa_cold_get_event(w->cold, seqs[i], b) != CERTA_OK)
                return CERTA_E_IO;
            record_out(seqs[i], b, &out[got++]);
        }
        if (next == UINT64_MAX || got == limit) {
            *next_cursor = next == UINT64_MAX ? 0 : next + 1;
            break;
        }
        from = next;
    }
    *n_out = got;
    return CERTA_OK;
}

certa_err certa_state_holder_records(const certa_state *s,
                                     const uint8_t holder_id[CERTA_HOLDER_ID_BYTES],
                                     uint64_t cursor, uint32_t limit,
                                     certa_record *out, uint32_t *n_out,
                                     uint64_t *next_cursor)
{
    return page(s, true, holder_id, cursor, limit, out, n_out, next_cursor);
}

certa_err certa_state_grant_history(const certa_state *s,
                                    const uint8_t grant_id[CERTA_GRANT_ID_BYTES],
                                    uint64_t cursor, uint32_t limit,
                                    certa_record *out, uint32_t *n_out,
                                    uint64_t *next_cursor)
{
    return page(s, false, grant_id, cursor, limit, out, n_out, next_cursor);
}
