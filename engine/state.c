/* state: the licence rules, executed on every committed event in block order.
 *
 * Layout: the hot grants (those that can still change) live in a table of
 * slots sized at start; a grant takes the last freed slot or the next new
 * one, and leaves its slot when it is archived (state_cold.c), so which slot
 * a grant has is a function of the chain. An open-addressing index maps
 * grant_id to slot; it is used for look-ups only, never iterated, so its
 * layout (which depends on a per-process seed) can never leak into a
 * result or a digest. A grant not in RAM may be archived: the rules then
 * read its final record from the cold store (it can no longer change, see
 * CERTA_STATE_GRACE_MS). Event records are kept for the block being applied
 * only and written to the cold store at its end.
 *
 * The digest is a three-level hash over the grant slots (a free slot hashes
 * as an all-zero grant): each grant has its own hash, 16 grant hashes make a chunk hash, 64 chunk hashes
 * a page hash, and the page hashes go into the digest. Only the grants that
 * changed since the last digest, and the chunks and pages above them, are
 * rehashed, so a digest costs about 3 KiB of hashing per changed grant at
 * worst however large the state is (one level over 64 grants cost 7 KiB for
 * every scattered change). Each level's hashes are Merkle leaf hashes,
 * computed together on the Merkle module's wide kernels (and its pool for
 * large levels); the thread count changes who computes a hash, never its
 * value. The governed tables (gov.c: integrators, counters, parameters,
 * the council) add one hash of their own.
 *
 * Invariants: every slot index stored anywhere is < grant_slots and names a
 * live slot (free ones are all zero and on free_slots); the index, the
 * expiry heap and the live slots hold the same grants; a grant's uses <=
 * max_uses and failed attempts <= code_attempts_max; the state changes only
 * inside begin_block/apply/end_block and snapshot_load.
 */
#include "state_internal.h"

#include <sys/mman.h>

#include "certa/block.h"

_Static_assert(CERTA_STATE_BLOCK_EVENTS_MAX == CERTA_BLOCK_BATCHES_MAX * CERTA_BATCH_EVENTS_MAX,
               "the block bound is what a committed block can carry");
/* ---------------------------------------------------------------- names */

static const char *const result_names[CERTA_R_COUNT] = {
    "ok", "malformed", "role_forbidden", "unknown_grant", "duplicate_grant",
    "not_holder", "revoked", "exhausted", "not_yet_valid", "expired",
    "locked", "code_mismatch", "scope_centre", "scope_counter", "scope_matter",
    "licence_type_not_allowed", "bad_window", "not_redeemed", "replayed",
    "too_old", "gov_not_member", "gov_unknown_proposal", "gov_expired",
    "gov_duplicate_approval", "gov_unknown_change", "gov_bad_threshold",
    "gov_key_in_use", "gov_bad_key", "gov_bad_target", "gov_param_range",
    "gov_proposal_exists", "gov_full", "integrator_inactive", "stale_key",
    "licence_type_required", "evidence_redeem", "evidence_late", "evidence_counter",
    "evidence_duplicate", "code_unsealed",
};

const char *certa_result_name(unsigned r)
{
    return r < CERTA_R_COUNT ? result_names[r] : NULL;
}

int certa_result_parse(const char *name)
{
    for (unsigned i = 0; name != NULL && i < CERTA_R_COUNT; i++)
        if (strcmp(name, result_names[i]) == 0)
            return (int)i;
    return -1;
}

static const char *const status_names[] = {
    "active", "not_yet_valid", "expired", "exhausted", "locked", "revoked",
};

const char *certa_grant_status_name(unsigned st)
{
    return st < sizeof status_names / sizeof status_names[0] ? status_names[st] : NULL;
}

void certa_result_leaf(uint8_t kind, uint8_t result,
                       uint8_t out[CERTA_RESULT_LEAF_BYTES])
{
    out[0] = result;
    out[1] = kind;
}

/* ---------------------------------------------------------------- helpers */

static bool all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= b[i];
    return acc == 0;
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* Low 32 bits pick the slot, high 32 bits are the slot's tag. */
static uint64_t key_hash(const certa_state *s, const uint8_t *key, size_t len)
{
    uint64_t h = s->seed;
    for (size_t i = 0; i + 8 <= len; i += 8)
        h = mix64(h ^ load64(key + i));
    return h;
}

static void hash_result_leaf(const uint8_t leaf[CERTA_RESULT_LEAF_BYTES],
                             uint8_t out[CERTA_HASH_BYTES]);

/* ---------------------------------------------------------------- indexes */

void state_index_init(index_table *t, uint32_t reserve)
{
    uint32_t cap = 8; /* per shard */
    while ((uint64_t)cap * INDEX_SHARDS < 2ull * reserve && cap < (1u << 23))
        cap <<= 1;
    memset(t, 0, sizeof *t);
    t->first = calloc((size_t)cap * INDEX_SHARDS, sizeof *t->first);
    CERTA_ASSERT(t->first != NULL);
    for (uint32_t i = 0; i < INDEX_SHARDS; i++)
        t->shard[i] = (index_shard){.slots = t->first + (size_t)i * cap, .mask = cap - 1};
    t->slots_total = (uint64_t)cap * INDEX_SHARDS;
}

void state_index_free(index_table *t)
{
    for (uint32_t i = 0; i < INDEX_SHARDS; i++)
        if (t->shard[i].own)
            free(t->shard[i].slots);
    free(t->first);
    memset(t, 0, sizeof *t);
}

static index_shard *shard_of(const index_table *t, uint64_t h)
{
    return (index_shard *)&t->shard[(h >> 24) & (INDEX_SHARDS - 1)];
}

/* Returns the slot holding the key, or the empty slot where it would go. */

static bool grant_key_eq(const certa_state *s, uint32_t idx, const uint8_t *key)
{
    return memcmp(s->grants[idx].id, key, CERTA_GRANT_ID_BYTES) == 0;
}

static uint32_t index_find(const certa_state *s, const index_table *it,
                           const uint8_t *key, size_t len, key_eq_fn eq)
{
    uint64_t h = key_hash(s, key, len);
    uint64_t tag = h & 0xffffffff00000000ull;
    const index_shard *t = shard_of(it, h);
    uint32_t i = (uint32_t)h & t->mask;
    for (;;) {
        uint64_t v = t->slots[i];
        if (v == 0)
            return NONE;
        /* the tag spares the cache miss on the record for almost every
         * slot that holds another key */
        uint32_t idx = (uint32_t)v - 1;
        if ((v & 0xffffffff00000000ull) == tag && eq(s, idx, key))
            return idx;
        i = (i + 1) & t->mask;
    }
}

/* h: key_hash of the key (the caller has it: it chose the shard by it) */
static void index_insert_raw(index_shard *t, uint64_t h, uint32_t idx)
{
    uint32_t i = (uint32_t)h & t->mask;
    while (t->slots[i] != 0)
        i = (i + 1) & t->mask;
    CERTA_ASSERT(idx + 1 != 0);
    t->slots[i] = (h & 0xffffffff00000000ull) | (uint64_t)(idx + 1);
    t->count++;
}

const uint8_t *state_grant_key(const certa_state *s, uint32_t idx) { return s->grants[idx].id; }

void state_index_insert(const certa_state *s, index_table *it, const uint8_t *key,
                        size_t len, uint32_t idx, key_of_fn key_of)
{
    uint64_t h = key_hash(s, key, len);
    index_shard *t = shard_of(it, h);
    if (2ull * (t->count + 1) > (uint64_t)t->mask + 1) {
        uint32_t old_cap = t->mask + 1;
        uint64_t *old = t->slots;
        bool old_own = t->own;
        CERTA_ASSERT(old_cap < (1u << 23)); /* positions stay below the shard bits */
        t->slots = calloc(2ull * old_cap, sizeof *t->slots);
        CERTA_ASSERT(t->slots != NULL);
        t->own = true;
        t->mask = 2 * old_cap - 1;
        t->count = 0;
        for (uint32_t i = 0; i < old_cap; i++) {
            if (old[i] != 0) {
                uint32_t oi = (uint32_t)old[i] - 1;
                index_insert_raw(t, key_hash(s, key_of(s, oi), len), oi);
            }
        }
        if (old_own)
            free(old);
        it->slots_total += old_cap;
    }
    index_insert_raw(t, h, idx);
}

/* Backward-shift deletion: every entry after the removed one in its probe
 * run moves back if its home slot allows, so look-ups never need
 * tombstones. */
void state_index_remove(const certa_state *s, index_table *it, const uint8_t *key,
                        size_t len, uint32_t idx, key_of_fn key_of)
{
    uint64_t h = key_hash(s, key, len);
    index_shard *t = shard_of(it, h);
    uint32_t i = (uint32_t)h & t->mask;
    while ((uint32_t)t->slots[i] != idx + 1) {
        CERTA_ASSERT(t->slots[i] != 0); /* present */
        i = (i + 1) & t->mask;
    }
    uint32_t hole = i;
    for (uint32_t j = (hole + 1) & t->mask; t->slots[j] != 0; j = (j + 1) & t->mask) {
        uint32_t home = (uint32_t)key_hash(s, key_of(s, (uint32_t)t->slots[j] - 1), len) & t->mask;
        /* j may move to hole when home is not cyclically within (hole, j] */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole] = 0;
    t->count--;
}

uint32_t state_grant_find(const certa_state *s, const uint8_t *id)
{
    return index_find(s, &s->grant_index, id, CERTA_GRANT_ID_BYTES, grant_key_eq);
}

static uint32_t grant_find(const certa_state *s, const uint8_t *id)
{
    return state_grant_find(s, id);
}

/* Expiry heap (min by not_after_ms, then slot). */
static bool heap_less(const expiry *a, const expiry *b)
{
    return a->not_after_ms != b->not_after_ms ? a->not_after_ms < b->not_after_ms
                                              : a->slot < b->slot;
}

void state_heap_push(certa_state *s, uint64_t not_after_ms, uint32_t slot)
{
    CERTA_ASSERT(s->heap_count < s->grant_cap);
    uint32_t i = s->heap_count++;
    expiry x = {not_after_ms, slot};
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!heap_less(&x, &s->heap[p]))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = x;
}

void state_grant_touch(certa_state *s, uint32_t gi)
{
    uint32_t c = gi / CHUNK_GRANTS;
    CERTA_ASSERT(c < s->chunk_cap);
    if (s->chunk_dirty[c] == 0) {
        s->dirty_list[s->dirty_count++] = c;
        uint32_t p = c / PAGE_CHUNKS;
        if (!s->page_dirty[p]) {
            s->page_dirty[p] = 1;
            s->page_list[s->page_dirty_count++] = p;
        }
    }
    s->chunk_dirty[c] |= (uint16_t)(1u << (gi % CHUNK_GRANTS));
}

/* The hot table is full: the rules accepted the grant, so refusing it
 * here would make results depend on this validator's grants_max. It stops
 * instead; restarted with a larger grants_max it replays the same chain. */
static _Noreturn void grants_full(const certa_state *s)
{
    fprintf(stderr,
            "certa state: block %llu: more than %u hot grants (grants_max): this validator "
            "stops; restart it with a larger grants_max (up to %u) and it replays\n",
            (unsigned long long)s->height, s->grant_cap, CERTA_STATE_GRANTS_MAX_LIMIT);
    abort();
}

static uint32_t grant_new(certa_state *s, const certa_event *ev)
{
    uint32_t gi;
    if (s->free_count > 0) {
        gi = s->free_slots[--s->free_count];
    } else {
        if (s->grant_slots == s->grant_cap)
            grants_full(s);
        /* a new slot in reserved address space: already zero, and no
         * pointer into the table moves */
        gi = s->grant_slots++;
    }
    s->grant_live++;
    s->grants_created++;
    grant *gr = &s->grants[gi];
    CERTA_ASSERT(!gr->live);
    memset(gr, 0, sizeof *gr);
    gr->live = 1;
    memcpy(gr->id, ev->grant_id, CERTA_GRANT_ID_BYTES);
    memcpy(gr->holder_id, ev->holder_id, CERTA_HOLDER_ID_BYTES);
    memcpy(gr->code_commit, ev->code_commit, CERTA_HASH_BYTES);
    gr->not_before_ms = ev->not_before_ms;
    gr->not_after_ms = ev->not_after_ms;
    gr->created_ms = s->now_ms;
    gr->matter = ev->matter;
    gr->licence_types = ev->licence_types;
    gr->centre = ev->centre;
    gr->counter = ev->counter;
    gr->max_uses = ev->max_uses;
    gr->method = ev->method;
    state_index_insert(s, &s->grant_index, gr->id, CERTA_GRANT_ID_BYTES, gi, state_grant_key);
    state_heap_push(s, gr->not_after_ms, gi);
    state_grant_touch(s, gi);
    return gi;
}

/* ---------------------------------------------------------------- create */

/* The arrays sized by the hot table or by the block bound, in one mapping. */
enum {
    R_GRANTS, R_FREE_SLOTS, R_HEAP, R_ARCH_SCRATCH, R_GRANT_HASH, R_CHUNK_HASH,
    R_CHUNK_DIRTY, R_DIRTY_LIST, R_PAGE_HASH, R_PAGE_DIRTY, R_PAGE_LIST, R_DIG_ENC,
    R_DIG_SPLIT, R_DIG_HEADS, R_DIG_OUT, R_DIG_IDX, R_BLOCK_RESULTS, R_BLOCK_KINDS,
    R_RECORDS, R_SCRATCH, R_COUNT
};

/* A few released reservations, kept for the next states of the same
 * size: a process that creates many small states in turn (the simulator's
 * validators, the tests) would otherwise fault every page of each anew
 * (on a VM, twice) and unmap it with a TLB shootdown to every thread. Only
 * lightly used ones are kept (their written pages, at most some tens of
 * MiB each, stay resident until reused or the process ends). */
#define REGION_KEEP_SLOTS 65536u
#define REGION_KEEP_EVENTS 65536u
#define REGION_KEEP_MAX 8u
static pthread_mutex_t region_kept_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    uint8_t *base;
    size_t bytes;
} region_kept[REGION_KEEP_MAX];

/* Unmaps s's reservation, or keeps it after returning it to what a fresh
 * mapping reads where that matters: never-used slots zero, no dirty marks.
 * Everything else in it is written before it is read. */
static void region_release(certa_state *s)
{
    if (s->region == NULL)
        return;
    bool keep = s->grant_slots <= REGION_KEEP_SLOTS && s->block_count_max <= REGION_KEEP_EVENTS;
    if (keep) {
        memset(s->grants, 0, (size_t)s->grant_slots * sizeof *s->grants);
        for (uint32_t d = 0; d < s->dirty_count; d++)
            s->chunk_dirty[s->dirty_list[d]] = 0;
        for (uint32_t d = 0; d < s->page_dirty_count; d++)
            s->page_dirty[s->page_list[d]] = 0;
        pthread_mutex_lock(&region_kept_lock);
        for (unsigned i = 0; i < REGION_KEEP_MAX && s->region != NULL; i++) {
            if (region_kept[i].base == NULL) {
                region_kept[i].base = s->region;
                region_kept[i].bytes = s->region_bytes;
                s->region = NULL;
            }
        }
        pthread_mutex_unlock(&region_kept_lock);
    }
    if (s->region != NULL)
        munmap(s->region, s->region_bytes);
    s->region = NULL;
}

/* Reserves, once, room for grant_cap hot grants and the largest block.
 * Arrays grown by realloc copied (or remapped and zeroed) tables of up to
 * gigabytes inside a block, stopping execution meanwhile, and moved them
 * under every pointer into them. Address space is cheap instead: 47 bits
 * hold thousands of these reservations; MAP_NORESERVE keeps the kernel's
 * default (heuristic) overcommit from counting them as committed memory;
 * a page costs memory only once written, so what is used still follows
 * the hot grants and the largest block, and a slot never used reads as
 * zero (a free slot). */
static certa_err region_map(certa_state *s, certa_errinfo *ei)
{
    size_t slots = s->grant_cap, chunks = s->chunk_cap, pages = s->page_cap;
    size_t events = CERTA_STATE_BLOCK_EVENTS_MAX;
    size_t bytes[R_COUNT] = {
        [R_GRANTS] = slots * sizeof *s->grants,
        [R_FREE_SLOTS] = slots * sizeof *s->free_slots,
        [R_HEAP] = slots * sizeof *s->heap,
        [R_ARCH_SCRATCH] = slots * sizeof *s->arch_scratch,
        [R_GRANT_HASH] = chunks * CHUNK_GRANTS * sizeof *s->grant_hash,
        [R_CHUNK_HASH] = chunks * sizeof *s->chunk_hash,
        [R_CHUNK_DIRTY] = chunks * sizeof *s->chunk_dirty,
        [R_DIRTY_LIST] = chunks * sizeof *s->dirty_list,
        [R_PAGE_HASH] = pages * sizeof *s->page_hash,
        [R_PAGE_DIRTY] = pages * sizeof *s->page_dirty,
        [R_PAGE_LIST] = pages * sizeof *s->page_list,
        [R_DIG_ENC] = s->dig_cap * GRANT_HASH_BYTES_BOUND,
        [R_DIG_SPLIT] = s->dig_cap * sizeof *s->dig_split,
        [R_DIG_HEADS] = s->dig_cap * sizeof *s->dig_heads,
        [R_DIG_OUT] = s->dig_cap * CERTA_HASH_BYTES,
        [R_DIG_IDX] = s->dig_cap * sizeof *s->dig_idx,
        [R_BLOCK_RESULTS] = events * sizeof *s->block_results,
        [R_BLOCK_KINDS] = events * sizeof *s->block_kinds,
        [R_RECORDS] = events * sizeof *s->records,
        [R_SCRATCH] = (events + 1) / 2 * sizeof *s->scratch, /* a tree's lowest nodes */
    };
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t at[R_COUNT], total = 0;
    for (unsigned i = 0; i < R_COUNT; i++) {
        at[i] = total;
        total += (bytes[i] + page - 1) / page * page;
    }
    void *p = NULL;
    pthread_mutex_lock(&region_kept_lock);
    for (unsigned i = 0; i < REGION_KEEP_MAX && p == NULL; i++) {
        if (region_kept[i].base != NULL && region_kept[i].bytes == total) {
            p = region_kept[i].base;
            region_kept[i].base = NULL;
        }
    }
    pthread_mutex_unlock(&region_kept_lock);
    if (p == NULL)
        p = mmap(NULL, total, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return certa_errorf(ei, CERTA_E_NOMEM,
                            "state: cannot reserve %zu MiB of address space for %u hot "
                            "grants (grants_max): %s",
                            total >> 20, s->grant_cap, strerror(errno));
    uint8_t *b = p;
    s->region = b;
    s->region_bytes = total;
    s->grants = (grant *)(b + at[R_GRANTS]);
    s->free_slots = (uint32_t *)(b + at[R_FREE_SLOTS]);
    s->heap = (expiry *)(b + at[R_HEAP]);
    s->arch_scratch = (uint32_t *)(b + at[R_ARCH_SCRATCH]);
    s->grant_hash = (uint8_t(*)[CERTA_HASH_BYTES])(b + at[R_GRANT_HASH]);
    s->chunk_hash = (uint8_t(*)[CERTA_HASH_BYTES])(b + at[R_CHUNK_HASH]);
    s->chunk_dirty = (uint16_t *)(b + at[R_CHUNK_DIRTY]);
    s->dirty_list = (uint32_t *)(b + at[R_DIRTY_LIST]);
    s->page_hash = (uint8_t(*)[CERTA_HASH_BYTES])(b + at[R_PAGE_HASH]);
    s->page_dirty = b + at[R_PAGE_DIRTY];
    s->page_list = (uint32_t *)(b + at[R_PAGE_LIST]);
    s->dig_enc = b + at[R_DIG_ENC];
    s->dig_split = (certa_merkle_split_leaf *)(b + at[R_DIG_SPLIT]);
    s->dig_heads = (uint8_t(*)[8])(b + at[R_DIG_HEADS]);
    s->dig_out = b + at[R_DIG_OUT];
    s->dig_idx = (uint32_t *)(b + at[R_DIG_IDX]);
    s->block_results = b + at[R_BLOCK_RESULTS];
    s->block_kinds = b + at[R_BLOCK_KINDS];
    s->records = (record *)(b + at[R_RECORDS]);
    s->scratch = (uint8_t(*)[CERTA_HASH_BYTES])(b + at[R_SCRATCH]);
    return CERTA_OK;
}

certa_err certa_state_create(const certa_genesis *g, const certa_state_opts *o,
                             certa_state **out, certa_errinfo *ei)
{
    *out = NULL;
    if (g == NULL)
        return certa_errorf(ei, CERTA_E_ARG, "state: no genesis");
    uint32_t threads = o && o->hash_threads ? o->hash_threads : 1;
    if (threads > THREADS_MAX)
        return certa_errorf(ei, CERTA_E_ARG, "state: hash_threads %u > %u",
                            threads, THREADS_MAX);
    uint32_t gres = o && o->grants_reserve ? o->grants_reserve : 1024;
    uint32_t gmax = o && o->grants_max ? o->grants_max : CERTA_STATE_GRANTS_MAX_DEFAULT;
    if (gmax < gres)
        gmax = gres;
    if (gmax > CERTA_STATE_GRANTS_MAX_LIMIT)
        return certa_errorf(ei, CERTA_E_ARG, "state: grants_max (or grants_reserve) %u > %u",
                            gmax, CERTA_STATE_GRANTS_MAX_LIMIT);
    certa_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "state: out of memory");
    s->g = g;
    s->gov = gov_create(g);
    if (s->gov == NULL) {
        free(s);
        return certa_errorf(ei, CERTA_E_NOMEM, "state: out of memory (governed tables)");
    }
    /* Seeds look-up positions only: never observable in results. */
    if (o != NULL && o->hash_seed != 0) {
        s->seed = o->hash_seed;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s->seed = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uintptr_t)s);
    }
    s->now_ms = g->genesis_time_ms;
    certa_sha256("", 0, s->last_results_root); /* the genesis block has no events */
    for (unsigned r = 0; r < CERTA_R_COUNT; r++)
        for (unsigned k = 0; k < 8; k++) {
            uint8_t leaf[CERTA_RESULT_LEAF_BYTES];
            certa_result_leaf((uint8_t)k, (uint8_t)r, leaf);
            hash_result_leaf(leaf, s->leaf_hash[r][k]);
        }
    s->grant_cap = gmax;
    /* a chunk past the last slot, whole pages of chunks */
    s->chunk_cap = (gmax / CHUNK_GRANTS + 1 + PAGE_CHUNKS - 1) / PAGE_CHUNKS * PAGE_CHUNKS;
    s->page_cap = s->chunk_cap / PAGE_CHUNKS;
    /* the digest's scratch for every slot changing at once (a snapshot
     * load): each level hashes at most chunk_cap * CHUNK_GRANTS messages */
    s->dig_cap = (size_t)s->chunk_cap * CHUNK_GRANTS;
    certa_err ce = region_map(s, ei);
    if (ce != CERTA_OK) {
        certa_state_free(s);
        return ce;
    }
    s->grants_reserve = gres;
    state_index_init(&s->grant_index, gres);
    ce = state_cold_open(s, o, ei);
    if (ce != CERTA_OK) {
        certa_state_free(s);
        return ce;
    }
    if (threads > 1 && certa_pool_create(threads, &s->pool, NULL) != CERTA_OK) {
        certa_state_free(s);
        return certa_errorf(ei, CERTA_E_NOMEM, "state: cannot start %u hashing threads",
                            threads);
    }
    *out = s;
    return CERTA_OK;
}

void certa_state_free(certa_state *s)
{
    if (s == NULL)
        return;
    certa_pool_destroy(s->pool);
    state_cold_close(s);
    state_index_free(&s->grant_index);
    region_release(s);
    gov_free(s->gov);
    free(s);
}

void certa_state_last_results_root(const certa_state *s, uint8_t out[CERTA_HASH_BYTES])
{
    memcpy(out, s->last_results_root, CERTA_HASH_BYTES);
}

uint64_t certa_state_height(const certa_state *s) { return s->height; }
uint64_t certa_state_time_ms(const certa_state *s) { return s->now_ms; }
uint64_t certa_state_event_count(const certa_state *s) { return s->record_count; }

uint32_t certa_state_grant_count(const certa_state *s) { return (uint32_t)s->grants_created; }

/* ---------------------------------------------------------------- blocks */

certa_err certa_state_begin_block(certa_state *s, uint64_t height,
                                  uint64_t timestamp_ms, certa_errinfo *ei)
{
    CERTA_ASSERT(!s->in_block);
    if (height != s->height + 1)
        return certa_errorf(ei, CERTA_E_STATE,
                            "state: block height %llu does not follow %llu",
                            (unsigned long long)height, (unsigned long long)s->height);
    if (timestamp_ms < s->now_ms)
        return certa_errorf(ei, CERTA_E_TIME,
                            "state: block %llu time %llu ms is before the previous %llu ms",
                            (unsigned long long)height, (unsigned long long)timestamp_ms,
                            (unsigned long long)s->now_ms);
    s->in_block = true;
    s->height = height;
    s->now_ms = timestamp_ms;
    s->block_count = 0;
    s->record_base = s->record_count;
    return CERTA_OK;
}

/* Appends the event's record to the block's (gr: the grant it names, hot
 * or archived, or NULL; holder_id: whose history it is in, or NULL) and
 * its result to the block's results. */
static certa_result record_event(certa_state *s, const certa_event *ev,
                                 const grant *gr, const uint8_t *holder_id, certa_result r)
{
    CERTA_ASSERT(s->in_block);
    /* certa_state_apply_block refuses a larger block; a caller applying
     * events itself stays within the bound (state.h) */
    CERTA_ASSERT(s->block_count < CERTA_STATE_BLOCK_EVENTS_MAX);
    CERTA_ASSERT(s->record_count - s->record_base == s->block_count);
    record *rec = &s->records[s->block_count];
    s->record_count++;
    rec->time_ms = s->now_ms;
    uint8_t kind = ev ? ev->kind : 0;
    rec->kind = kind;
    rec->result = (uint8_t)r;
    rec->centre = ev ? ev->centre : 0;
    rec->matter = ev ? ev->matter : 0;
    /* confirm, sign, photo and revoke carry no matter: show the grant's */
    if (ev != NULL && gr != NULL && ev->kind != CERTA_EV_GRANT && ev->kind != CERTA_EV_REDEEM)
        rec->matter = gr->matter;
    uint32_t types = 0;
    if (ev != NULL && ev->kind == CERTA_EV_GRANT)
        types = ev->licence_types;
    else if (ev != NULL && ev->kind == CERTA_EV_REDEEM)
        for (unsigned i = 0; i < ev->licence_count && i < CERTA_REDEEM_LICENCES_MAX; i++)
            if (ev->licences[i].type < CERTA_LICENCE_TYPES_MAX)
                types |= 1u << ev->licences[i].type;
    rec->licence_types = types;
    rec->has_grant = gr != NULL;
    if (gr != NULL)
        memcpy(rec->grant_id, gr->id, CERTA_GRANT_ID_BYTES);
    rec->has_holder = holder_id != NULL;
    if (holder_id != NULL)
        memcpy(rec->holder_id, holder_id, CERTA_HOLDER_ID_BYTES);
    s->block_results[s->block_count] = (uint8_t)r;
    s->block_kinds[s->block_count] = kind;
    s->block_count++;
    if (s->block_count > s->block_count_max)
        s->block_count_max = s->block_count;
    return r;
}

/* Field checks that need neither state nor catalogue. */
static bool well_formed(const certa_event *ev)
{
    switch (ev->kind) {
    case CERTA_EV_GRANT:
        if (ev->licence_types == 0 || ev->max_uses == 0 ||
            ev->method >= CERTA_METHOD_COUNT ||
            all_zero(ev->holder_id, CERTA_HOLDER_ID_BYTES))
            return false;
        /* direct grants carry no commitment; code and qr grants must */
        return (ev->method == CERTA_METHOD_DIRECT) ==
               all_zero(ev->code_commit, CERTA_HASH_BYTES);
    case CERTA_EV_REDEEM: {
        if (ev->licence_count == 0 || ev->licence_count > CERTA_REDEEM_LICENCES_MAX)
            return false;
        for (unsigned i = 0; i < ev->licence_count; i++)
            if (ev->licences[i].type >= CERTA_LICENCE_TYPES_MAX)
                return false;
        if (all_zero(ev->code, CERTA_CODE_DIGITS))
            return true;
        for (unsigned i = 0; i < CERTA_CODE_DIGITS; i++)
            if (ev->code[i] < '0' || ev->code[i] > '9')
                return false;
        return true;
    }
    case CERTA_EV_CONFIRM:
    case CERTA_EV_SIGN:
    case CERTA_EV_PHOTO:
        return !all_zero(ev->evidence, CERTA_HASH_BYTES);
    case CERTA_EV_REVOKE:
        return !all_zero(ev->holder_id, CERTA_HOLDER_ID_BYTES);
    case CERTA_EV_GOVERN: /* the codec checked its framing; gov.c the rest */
        return true;
    default:
        return false;
    }
}

/* The governed integrator table decides (it starts as genesis's). */
static bool role_allows(const certa_gov_integrator *in, const certa_event *ev)
{
    switch (ev->kind) {
    case CERTA_EV_GRANT:
    case CERTA_EV_REVOKE:
        return in->role == CERTA_ROLE_APP;
    case CERTA_EV_GOVERN:
        return in->role == CERTA_ROLE_ADMIN;
    default: /* redeem, confirm, sign, photo: a counter system of that centre */
        return in->role == CERTA_ROLE_COUNTER && in->centre != 0 &&
               in->centre == ev->centre;
    }
}

/* The catalogue look-up: matters are sorted by id in genesis. */
static const certa_matter_info *matter_of(const certa_state *s, uint32_t id)
{
    uint32_t lo = 0, hi = s->g->matter_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t v = s->g->matters[mid].id;
        if (v == id)
            return &s->g->matters[mid];
        if (v < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Wrong codes before the lock (governed; a genesis without the parameter
 * starts at 5). */
static uint32_t attempts_max(const certa_state *s)
{
    uint64_t max = gov_param(s->gov, CERTA_GP_CODE_ATTEMPTS_MAX);
    return max > 255 ? 255 : (uint32_t)max;
}

/* exists: a grant with that id is hot or archived */
static certa_result apply_grant(certa_state *s, const certa_event *ev, bool exists)
{
    uint64_t window_max = gov_param(s->gov, CERTA_GP_GRANT_WINDOW_MS_MAX);
    if (exists)
        return CERTA_R_DUPLICATE_GRANT;
    if (!gov_centre_open(s->gov, ev->centre)) /* unknown or closed */
        return CERTA_R_SCOPE_CENTRE;
    if (ev->counter != 0 && !gov_counter_open(s->gov, ev->centre, ev->counter))
        return CERTA_R_SCOPE_COUNTER;
    /* rules 2: the QR the holder scanned names one counter's signing pad */
    if (ev->method == CERTA_METHOD_QR && ev->counter == 0 &&
        gov_param(s->gov, CERTA_GP_RULES) >= 2)
        return CERTA_R_SCOPE_COUNTER;
    const certa_matter_info *m = matter_of(s, ev->matter);
    if (m == NULL)
        return CERTA_R_SCOPE_MATTER;
    if ((ev->licence_types & ~m->licence_types) != 0)
        return CERTA_R_LICENCE_TYPE_NOT_ALLOWED;
    uint32_t allowed, required; /* the centre's catalogue, when governed */
    if (gov_catalogue(s->gov, ev->centre, ev->matter, &allowed, &required)) {
        if (allowed == 0)
            return CERTA_R_SCOPE_MATTER;
        if ((ev->licence_types & ~allowed) != 0)
            return CERTA_R_LICENCE_TYPE_NOT_ALLOWED;
        if ((required & ~ev->licence_types) != 0)
            return CERTA_R_LICENCE_TYPE_REQUIRED;
    }
    if (ev->not_after_ms <= ev->not_before_ms ||
        ev->not_after_ms - ev->not_before_ms > window_max)
        return CERTA_R_BAD_WINDOW;
    if (ev->not_after_ms <= s->now_ms)
        return CERTA_R_EXPIRED;
    return CERTA_R_OK;
}

static certa_result check_code(certa_state *s, grant *gr, const certa_event *ev)
{
    bool sealed = !all_zero(ev->code_proof, CERTA_HASH_BYTES);
    if (gr->method == CERTA_METHOD_DIRECT)
        return all_zero(ev->code, CERTA_CODE_DIGITS) && !sealed ? CERTA_R_OK
                                                                 : CERTA_R_CODE_MISMATCH;
    uint8_t h[CERTA_HASH_BYTES];
    if (gov_param(s->gov, CERTA_GP_RULES) >= 2) {
        /* the block must not publish what lets anyone test the code: the
         * redeem carries SHA-256(salt || code), the grant its hash. A
         * redeem without the proof is no guess: no attempt is counted. */
        if (!sealed)
            return CERTA_R_CODE_UNSEALED;
        certa_sha256(ev->code_proof, CERTA_HASH_BYTES, h);
    } else {
        certa_code_commit(ev->salt, ev->code, h);
    }
    if (certa_ct_equal(h, gr->code_commit, CERTA_HASH_BYTES))
        return CERTA_R_OK;
    /* A wrong (or missing) code is an attempt: it counts towards the lock. */
    uint32_t max = attempts_max(s);
    if (gr->fails < max)
        gr->fails++;
    if (gr->fails >= max)
        gr->flags |= GRANT_FLAG_LOCKED;
    return CERTA_R_CODE_MISMATCH;
}

/* gi: the grant's slot, NONE for an archived one (s->cold_grant, which
 * the checks before the code always refuse: it is past its window). */
static certa_result apply_redeem(certa_state *s, grant *gr, uint32_t gi, const certa_event *ev)
{
    if (gr->flags & GRANT_FLAG_REVOKED)
        return CERTA_R_REVOKED;
    if (gr->flags & GRANT_FLAG_LOCKED)
        return CERTA_R_LOCKED;
    if (gr->uses >= gr->max_uses)
        return CERTA_R_EXHAUSTED;
    if (s->now_ms < gr->not_before_ms)
        return CERTA_R_NOT_YET_VALID;
    if (s->now_ms >= gr->not_after_ms)
        return CERTA_R_EXPIRED;
    if (ev->centre != gr->centre)
        return CERTA_R_SCOPE_CENTRE;
    if (!gov_centre_open(s->gov, ev->centre)) /* closed since the grant */
        return CERTA_R_SCOPE_CENTRE;
    if (!gov_counter_open(s->gov, ev->centre, ev->counter) ||
        (gr->counter != 0 && ev->counter != gr->counter))
        return CERTA_R_SCOPE_COUNTER;
    /* rules 2: a grant's later uses stay at the counter of its first, so a
     * counter that merely saw a redeem cannot use the grant */
    if (gr->redeem_counter != 0 && ev->counter != gr->redeem_counter &&
        gov_param(s->gov, CERTA_GP_RULES) >= 2)
        return CERTA_R_SCOPE_COUNTER;
    uint32_t cat_allowed = UINT32_MAX, cat_required = 0;
    bool governed = gov_catalogue(s->gov, ev->centre, gr->matter, &cat_allowed, &cat_required);
    if (ev->matter != gr->matter || (governed && cat_allowed == 0))
        return CERTA_R_SCOPE_MATTER;
    const certa_matter_info *m = matter_of(s, gr->matter);
    uint32_t allowed = gr->licence_types & (m ? m->licence_types : 0) & cat_allowed;
    uint32_t fetched = 0;
    for (unsigned i = 0; i < ev->licence_count; i++) {
        if ((allowed & (1u << ev->licences[i].type)) == 0)
            return CERTA_R_LICENCE_TYPE_NOT_ALLOWED;
        fetched |= 1u << ev->licences[i].type;
    }
    if ((cat_required & ~fetched) != 0)
        return CERTA_R_LICENCE_TYPE_REQUIRED;
    CERTA_ASSERT(gi != NONE);
    certa_result r = check_code(s, gr, ev);
    state_grant_touch(s, gi);
    if (r != CERTA_R_OK)
        return r;
    gr->uses++;
    gr->flags |= GRANT_FLAG_REDEEMED;
    if (gov_param(s->gov, CERTA_GP_RULES) >= 2) {
        /* the evidence that follows documents this redeem */
        gr->redeem_ms = s->now_ms;
        gr->redeem_counter = ev->counter;
        gr->flags &= (uint8_t)~(GRANT_FLAG_CONFIRMED | GRANT_FLAG_SIGNED | GRANT_FLAG_PHOTOGRAPHED);
    }
    return CERTA_R_OK;
}

static uint8_t evidence_flag(unsigned kind)
{
    return kind == CERTA_EV_CONFIRM ? GRANT_FLAG_CONFIRMED
           : kind == CERTA_EV_SIGN  ? GRANT_FLAG_SIGNED
                                    : GRANT_FLAG_PHOTOGRAPHED;
}

/* gi: the grant's slot, NONE for an archived one (s->cold_grant, read
 * only: its archived record keeps no redeem time, and it is past its window
 * by the grace, so rules 2 refuse it as late before anything would change). */
static certa_result apply_evidence(certa_state *s, grant *gr, uint32_t gi, const certa_event *ev)
{
    if (gr->flags & GRANT_FLAG_REVOKED)
        return CERTA_R_REVOKED;
    if (gr->flags & GRANT_FLAG_LOCKED)
        return CERTA_R_LOCKED;
    if (ev->centre != gr->centre)
        return CERTA_R_SCOPE_CENTRE;
    if (!gov_centre_open(s->gov, ev->centre)) /* closed since the grant */
        return CERTA_R_SCOPE_CENTRE;
    if (!gov_counter_open(s->gov, ev->centre, ev->counter) ||
        (gr->counter != 0 && ev->counter != gr->counter))
        return CERTA_R_SCOPE_COUNTER;
    if ((gr->flags & GRANT_FLAG_REDEEMED) == 0)
        return CERTA_R_NOT_REDEEMED;
    if (gov_param(s->gov, CERTA_GP_RULES) < 2)
        return CERTA_R_OK; /* rules 1: evidence is not bound to a redeem */
    /* rules 2: it documents the grant's latest redeem, from its counter,
     * soon after it, once per kind */
    if (ev->redeem == 0 || ev->redeem != gr->uses)
        return CERTA_R_EVIDENCE_REDEEM;
    if (s->now_ms >= gr->redeem_ms + CERTA_STATE_EVIDENCE_WINDOW_MS)
        return CERTA_R_EVIDENCE_LATE;
    if (ev->counter != gr->redeem_counter)
        return CERTA_R_EVIDENCE_COUNTER;
    uint8_t bit = evidence_flag(ev->kind);
    if (gr->flags & bit)
        return CERTA_R_EVIDENCE_DUPLICATE;
    CERTA_ASSERT(gi != NONE);
    gr->flags |= bit;
    state_grant_touch(s, gi);
    return CERTA_R_OK;
}

static certa_result apply_revoke(certa_state *s, grant *gr, uint32_t gi, const certa_event *ev)
{
    if (memcmp(gr->holder_id, ev->holder_id, CERTA_HOLDER_ID_BYTES) != 0)
        return CERTA_R_NOT_HOLDER;
    if (gr->flags & GRANT_FLAG_REVOKED)
        return CERTA_R_REVOKED;
    /* past the grace the grant can no longer change (it is archived, or
     * will be at the end of this block) */
    if (s->now_ms >= gr->not_after_ms && s->now_ms - gr->not_after_ms >= CERTA_STATE_GRACE_MS)
        return CERTA_R_EXPIRED;
    CERTA_ASSERT(gi != NONE);
    gr->flags |= GRANT_FLAG_REVOKED;
    state_grant_touch(s, gi);
    return CERTA_R_OK;
}

/* GCC 12 at -O1 and above drops __builtin_prefetch of an address loaded
 * from memory in a function with no other effect (the whole hint became a
 * bare ret), so on x86-64 the instruction is written out. */
#if defined(__x86_64__)
#define PREFETCH(p) __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)(p)))
#else
#define PREFETCH(p) __builtin_prefetch(p)
#endif

static void index_prefetch(const certa_state *s, const index_table *t, const uint8_t *key,
                           size_t len, int stage, const void *records, size_t rec_bytes)
{
    uint64_t h = key_hash(s, key, len);
    const index_shard *sh = shard_of(t, h);
    const uint64_t *slot = &sh->slots[(uint32_t)h & sh->mask];
    if (stage == 0) {
        PREFETCH(slot);
        return;
    }
    uint64_t v = *slot; /* first probe only: the common case */
    if (v != 0 && (v & 0xffffffff00000000ull) == (h & 0xffffffff00000000ull))
        PREFETCH((const uint8_t *)records + (size_t)((uint32_t)v - 1) * rec_bytes);
}

/* The grant the event names when it is at its first probe (stage 2: the
 * slot and the record are cached by then), else NONE. */
static uint32_t grant_peek(const certa_state *s, const certa_event *ev)
{
    uint64_t h = key_hash(s, ev->grant_id, CERTA_GRANT_ID_BYTES);
    const index_shard *sh = shard_of(&s->grant_index, h);
    uint64_t v = sh->slots[(uint32_t)h & sh->mask];
    if (v == 0 || (v & 0xffffffff00000000ull) != (h & 0xffffffff00000000ull))
        return NONE;
    return (uint32_t)v - 1;
}

void certa_state_prefetch(const certa_state *s, const certa_event *ev, int stage)
{
    if (ev->kind < CERTA_EV_GRANT || ev->kind > CERTA_EV_REVOKE)
        return;
    if (stage >= 2) {
        /* what recording the event touches: its holder and the last
         * records of the holder's and the grant's histories */
        uint32_t gi = grant_peek(s, ev);
        if (gi == NONE || gi >= s->grant_slots)
            return;
        /* the grant's second cache line (holder id's end, window, counts) */
        PREFETCH((const uint8_t *)&s->grants[gi] + 64);
        return;
    }
    index_prefetch(s, &s->grant_index, ev->grant_id, CERTA_GRANT_ID_BYTES, stage, s->grants,
                   sizeof *s->grants);
}

certa_result certa_state_apply(certa_state *s, uint16_t integrator,
                               const certa_event *ev)
{
    CERTA_ASSERT(s->in_block && ev != NULL);
    bool names_holder = ev->kind == CERTA_EV_GRANT || ev->kind == CERTA_EV_REVOKE;
    uint32_t gi = NONE;
    grant *gr = NULL;
    if (ev->kind >= CERTA_EV_GRANT && ev->kind <= CERTA_EV_REVOKE) {
        gi = grant_find(s, ev->grant_id);
        if (gi != NONE)
            gr = &s->grants[gi];
        else if (state_cold_grant(s, ev->grant_id))
            gr = &s->cold_grant; /* archived: read only */
    }
    /* Whose history sees the record: the holder the event names (grant,
     * revoke), else the holder of the grant it uses. */
    const uint8_t *holder_id = names_holder ? ev->holder_id : gr ? gr->holder_id : NULL;

    if (!well_formed(ev))
        return record_event(s, ev, gr, holder_id, CERTA_R_MALFORMED);
    const certa_gov_integrator *in = gov_integrator(s->gov, integrator);
    if (in == NULL)
        return record_event(s, ev, gr, holder_id, CERTA_R_ROLE_FORBIDDEN);
    if (in->status != CERTA_IS_ACTIVE)
        return record_event(s, ev, gr, holder_id, CERTA_R_INTEGRATOR_INACTIVE);
    if (!role_allows(in, ev))
        return record_event(s, ev, gr, holder_id, CERTA_R_ROLE_FORBIDDEN);

    certa_result r;
    switch (ev->kind) {
    case CERTA_EV_GOVERN:
        r = gov_apply(s->gov, s->height, s->now_ms, integrator, ev);
        return record_event(s, ev, NULL, NULL, r);
    case CERTA_EV_GRANT:
        r = apply_grant(s, ev, gr != NULL);
        if (r == CERTA_R_OK) {
            uint32_t ni = grant_new(s, ev);
            gr = &s->grants[ni];
        }
        return record_event(s, ev, gr, holder_id, r);
    case CERTA_EV_REDEEM:
        r = gr == NULL ? CERTA_R_UNKNOWN_GRANT : apply_redeem(s, gr, gi, ev);
        return record_event(s, ev, gr, holder_id, r);
    case CERTA_EV_REVOKE:
        r = gr == NULL ? CERTA_R_UNKNOWN_GRANT : apply_revoke(s, gr, gi, ev);
        return record_event(s, ev, gr, holder_id, r);
    default: /* confirm, sign, photo (well_formed refused anything else) */
        r = gr == NULL ? CERTA_R_UNKNOWN_GRANT : apply_evidence(s, gr, gi, ev);
        return record_event(s, ev, gr, holder_id, r);
    }
}

certa_result certa_state_apply_rejected(certa_state *s, uint16_t integrator, certa_result r)
{
    (void)integrator;
    CERTA_ASSERT(r != CERTA_R_OK && r < CERTA_R_COUNT);
    return record_event(s, NULL, NULL, NULL, r);
}

certa_result certa_state_apply_malformed(certa_state *s, uint16_t integrator)
{
    (void)integrator;
    return record_event(s, NULL, NULL, NULL, CERTA_R_MALFORMED);
}

certa_result certa_state_apply_replayed(certa_state *s, uint16_t integrator)
{
    (void)integrator;
    return record_event(s, NULL, NULL, NULL, CERTA_R_REPLAYED);
}

certa_result certa_state_apply_too_old(certa_state *s, uint16_t integrator)
{
    (void)integrator;
    return record_event(s, NULL, NULL, NULL, CERTA_R_TOO_OLD);
}

const uint8_t *certa_state_block_results(const certa_state *s, uint32_t *count)
{
    *count = s->block_count;
    return s->block_results;
}

/* ---------------------------------------------------------------- roots */

/* Result leaves are 2 bytes: one SHA-256 call over 0x00 || leaf. */
static void hash_result_leaf(const uint8_t leaf[CERTA_RESULT_LEAF_BYTES],
                             uint8_t out[CERTA_HASH_BYTES])
{
    uint8_t buf[1 + CERTA_RESULT_LEAF_BYTES] = {0x00, leaf[0], leaf[1]};
    certa_sha256(buf, sizeof buf, out);
}

void certa_state_end_block(certa_state *s, uint8_t results_root[CERTA_HASH_BYTES])
{
    CERTA_ASSERT(s->in_block);
    uint32_t n = s->block_count;
    /* Results tree: the lowest level of nodes is built here from the pair
     * cache (an RFC 6962 tree of n leaves is the bottom-up pairing of its
     * leaves, the last odd one carried up), the rest by the Merkle module
     * over those nodes. */
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i += 2) {
        uint8_t ra = s->block_results[i], ka = s->block_kinds[i];
        CERTA_ASSERT(ra < CERTA_R_COUNT);
        uint8_t la[CERTA_HASH_BYTES], lb[CERTA_HASH_BYTES];
        const uint8_t *ha = la;
        if (ka < 8) {
            ha = s->leaf_hash[ra][ka];
        } else { /* a malformed event's unknown kind */
            uint8_t leaf[CERTA_RESULT_LEAF_BYTES];
            certa_result_leaf(ka, ra, leaf);
            hash_result_leaf(leaf, la);
        }
        if (i + 1 == n) {
            memcpy(s->scratch[m++], ha, CERTA_HASH_BYTES);
            break;
        }
        uint8_t rb = s->block_results[i + 1], kb = s->block_kinds[i + 1];
        CERTA_ASSERT(rb < CERTA_R_COUNT);
        if (ka < 8 && kb < 8) {
            uint8_t a = (uint8_t)(ra * 8 + ka), b = (uint8_t)(rb * 8 + kb);
            uint32_t slot = ((uint32_t)a * 31u + b) % PAIR_CACHE_SLOTS;
            struct pair_node *c = &s->pair_cache[slot];
            if (c->key == 0 || c->a != a || c->b != b) {
                certa_merkle_node_hash(s->leaf_hash[ra][ka], s->leaf_hash[rb][kb], c->h);
                c->key = 1;
                c->a = a;
                c->b = b;
            }
            memcpy(s->scratch[m++], c->h, CERTA_HASH_BYTES);
            continue;
        }
        const uint8_t *hb = lb;
        if (kb < 8) {
            hb = s->leaf_hash[rb][kb];
        } else {
            uint8_t leaf[CERTA_RESULT_LEAF_BYTES];
            certa_result_leaf(kb, rb, leaf);
            hash_result_leaf(leaf, lb);
        }
        certa_merkle_node_hash(ha, hb, s->scratch[m++]);
    }
    /* the rest of the tree: the Merkle module's RFC 6962 root */
    certa_err e = n == 0 ? certa_merkle_root_hashes(NULL, NULL, 0, results_root, NULL)
                         : certa_merkle_root_hashes(NULL, (const uint8_t *)s->scratch, m,
                                                    results_root, NULL);
    CERTA_ASSERT(e == CERTA_OK);
    memcpy(s->last_results_root, results_root, CERTA_HASH_BYTES);

    /* chain = SHA-256(chain || u64 height || results root) */
    uint8_t buf[CERTA_HASH_BYTES + 8 + CERTA_HASH_BYTES];
    memcpy(buf, s->results_chain, CERTA_HASH_BYTES);
    certa_put_le64(buf + CERTA_HASH_BYTES, s->height);
    memcpy(buf + CERTA_HASH_BYTES + 8, results_root, CERTA_HASH_BYTES);
    certa_sha256(buf, sizeof buf, s->results_chain);
    gov_end_block(s->gov); /* approved changes: in force from the next block */
    s->in_block = false;
    state_cold_end_block(s);
}

/* ---------------------------------------------------------------- digest */

/* The grant's hashed (and archived) encoding; a free slot encodes as all
 * zero bytes. */
void state_grant_encode(const grant *gr, uint8_t out[GRANT_HASH_BYTES])
{
    uint8_t *p = out;
    memcpy(p, gr->id, CERTA_GRANT_ID_BYTES), p += CERTA_GRANT_ID_BYTES;
    memcpy(p, gr->holder_id, CERTA_HOLDER_ID_BYTES), p += CERTA_HOLDER_ID_BYTES;
    memcpy(p, gr->code_commit, CERTA_HASH_BYTES), p += CERTA_HASH_BYTES;
    certa_put_le64(p, gr->not_before_ms), p += 8;
    certa_put_le64(p, gr->not_after_ms), p += 8;
    certa_put_le16(p, gr->centre), p += 2;
    certa_put_le16(p, gr->counter), p += 2;
    certa_put_le32(p, gr->matter), p += 4;
    certa_put_le32(p, gr->licence_types), p += 4;
    certa_put_le16(p, gr->max_uses), p += 2;
    certa_put_le16(p, gr->uses), p += 2;
    *p++ = gr->fails;
    *p++ = gr->flags;
    *p++ = gr->method;
    CERTA_ASSERT(p == out + GRANT_HASH_BYTES);
}

size_t state_grant_encode_digest(const grant *gr, uint8_t out[GRANT_HASH_BYTES_BOUND])
{
    state_grant_encode(gr, out);
    if (gr->redeem_ms == 0 && gr->redeem_counter == 0)
        return GRANT_HASH_BYTES;
    certa_put_le64(out + GRANT_HASH_BYTES, gr->redeem_ms);
    certa_put_le16(out + GRANT_HASH_BYTES + 8, gr->redeem_counter);
    return GRANT_HASH_BYTES_BOUND;
}

void state_grant_decode(const uint8_t in[GRANT_HASH_BYTES], grant *gr)
{
    const uint8_t *p = in;
    memset(gr, 0, sizeof *gr);
    memcpy(gr->id, p, CERTA_GRANT_ID_BYTES), p += CERTA_GRANT_ID_BYTES;
    memcpy(gr->holder_id, p, CERTA_HOLDER_ID_BYTES), p += CERTA_HOLDER_ID_BYTES;
    memcpy(gr->code_commit, p, CERTA_HASH_BYTES), p += CERTA_HASH_BYTES;
    gr->not_before_ms = certa_get_le64(p), p += 8;
    gr->not_after_ms = certa_get_le64(p), p += 8;
    gr->centre = certa_get_le16(p), p += 2;
    gr->counter = certa_get_le16(p), p += 2;
    gr->matter = certa_get_le32(p), p += 4;
    gr->licence_types = certa_get_le32(p), p += 4;
    gr->max_uses = certa_get_le16(p), p += 2;
    gr->uses = certa_get_le16(p), p += 2;
    gr->fails = *p++;
    gr->flags = *p++;
    gr->method = *p++;
    CERTA_ASSERT(p == in + GRANT_HASH_BYTES);
}

/* The digest's scratch (dig_enc ... dig_idx, dig_cap entries): the
 * messages of one level and their hashes, hashed together on the Merkle
 * module's wide kernels (each of the three levels is a Merkle leaf hash,
 * SHA-256(0x00 || message)). */
static void dig_run(certa_state *s, size_t n)
{
    certa_err e = certa_merkle_split_leaf_hashes(s->pool, s->dig_split, n, s->dig_out, NULL);
    CERTA_ASSERT(e == CERTA_OK);
}

void certa_state_digest(certa_state *s, uint8_t out[CERTA_HASH_BYTES])
{
    CERTA_ASSERT(!s->in_block);
    uint32_t chunks = (s->grant_slots + CHUNK_GRANTS - 1) / CHUNK_GRANTS;
    if (s->dirty_count > 0) {
        /* the changed grants */
        size_t k = 0;
        CERTA_ASSERT((size_t)s->dirty_count * CHUNK_GRANTS <= s->dig_cap);
        for (uint32_t d = 0; d < s->dirty_count; d++) {
            uint32_t c = s->dirty_list[d], mask = s->chunk_dirty[c];
            CERTA_ASSERT(mask != 0);
            for (uint32_t i = c * CHUNK_GRANTS; i < (c + 1) * CHUNK_GRANTS && i < s->grant_slots;
                 i++) {
                if (!(mask & (1u << (i % CHUNK_GRANTS))))
                    continue;
                uint8_t *enc = s->dig_enc + k * GRANT_HASH_BYTES_BOUND;
                size_t len = state_grant_encode_digest(&s->grants[i], enc);
                s->dig_split[k] = (certa_merkle_split_leaf){.data = enc, .len_bytes = (unsigned)len};
                s->dig_idx[k++] = i;
            }
        }
        dig_run(s, k);
        for (size_t j = 0; j < k; j++)
            memcpy(s->grant_hash[s->dig_idx[j]], s->dig_out + j * CERTA_HASH_BYTES,
                   CERTA_HASH_BYTES);
        /* their chunks: 0x02 || u32 c || the chunk's grant hashes */
        for (uint32_t d = 0; d < s->dirty_count; d++) {
            uint32_t c = s->dirty_list[d];
            uint32_t first = c * CHUNK_GRANTS, end = first + CHUNK_GRANTS;
            if (end > s->grant_slots)
                end = s->grant_slots;
            CERTA_ASSERT(first < end);
            s->dig_heads[d][0] = 0x02;
            certa_put_le32(s->dig_heads[d] + 1, c);
            s->dig_split[d] = (certa_merkle_split_leaf){
                .head = s->dig_heads[d], .head_len = 5, .data = s->grant_hash[first],
                .len_bytes = (end - first) * CERTA_HASH_BYTES};
        }
        dig_run(s, s->dirty_count);
        for (uint32_t d = 0; d < s->dirty_count; d++) {
            memcpy(s->chunk_hash[s->dirty_list[d]], s->dig_out + (size_t)d * CERTA_HASH_BYTES,
                   CERTA_HASH_BYTES);
            s->chunk_dirty[s->dirty_list[d]] = 0;
        }
        s->dirty_count = 0;
    }
    if (s->page_dirty_count > 0) {
        /* their pages: 0x03 || u32 p || the page's chunk hashes */
        CERTA_ASSERT(s->page_dirty_count <= s->dig_cap);
        for (uint32_t d = 0; d < s->page_dirty_count; d++) {
            uint32_t p = s->page_list[d];
            uint32_t first = p * PAGE_CHUNKS, end = first + PAGE_CHUNKS;
            if (end > chunks)
                end = chunks;
            CERTA_ASSERT(first < end);
            s->dig_heads[d][0] = 0x03;
            certa_put_le32(s->dig_heads[d] + 1, p);
            s->dig_split[d] = (certa_merkle_split_leaf){
                .head = s->dig_heads[d], .head_len = 5, .data = s->chunk_hash[first],
                .len_bytes = (end - first) * CERTA_HASH_BYTES};
        }
        dig_run(s, s->page_dirty_count);
        for (uint32_t d = 0; d < s->page_dirty_count; d++) {
            memcpy(s->page_hash[s->page_list[d]], s->dig_out + (size_t)d * CERTA_HASH_BYTES,
                   CERTA_HASH_BYTES);
            s->page_dirty[s->page_list[d]] = 0;
        }
        s->page_dirty_count = 0;
    }
    uint32_t pages = (chunks + PAGE_CHUNKS - 1) / PAGE_CHUNKS;
    static const char domain[] = "certa.state.v4";
    uint8_t gov_hash[CERTA_HASH_BYTES];
    gov_digest(s->gov, gov_hash);
    uint8_t hdr[sizeof domain + 8 * 5 + 2 * CERTA_HASH_BYTES];
    uint8_t *p = hdr;
    memcpy(p, domain, sizeof domain), p += sizeof domain;
    certa_put_le64(p, s->height), p += 8;
    certa_put_le64(p, s->grants_created), p += 8;
    certa_put_le64(p, s->record_count), p += 8;
    certa_put_le64(p, s->grant_slots), p += 8;
    memcpy(p, s->results_chain, CERTA_HASH_BYTES), p += CERTA_HASH_BYTES;
    /* the cold part: the archive tree over every archived grant */
    certa_put_le64(p, s->archived), p += 8;
    state_archive_root(s, p), p += CERTA_HASH_BYTES;
    CERTA_ASSERT(p == hdr + sizeof hdr);
    certa_sha256_ctx ctx;
    certa_sha256_init(&ctx);
    certa_sha256_update(&ctx, hdr, sizeof hdr);
    certa_sha256_update(&ctx, s->page_hash, (size_t)pages * CERTA_HASH_BYTES);
    certa_sha256_update(&ctx, gov_hash, CERTA_HASH_BYTES);
    certa_sha256_final(&ctx, out);
}

void certa_state_memory(const certa_state *s, certa_state_mem *m)
{
    memset(m, 0, sizeof *m);
    /* the reservation's pages written so far: the slots up to the most
     * ever used (grant_slots) and the largest block's records */
    size_t slots = s->grant_slots, chunks = slots / CHUNK_GRANTS + 1;
    size_t pages = chunks / PAGE_CHUNKS + 1;
    m->grant_bytes = slots * (sizeof(grant) + sizeof(uint32_t) * 2 + sizeof(expiry)) +
                     (size_t)s->grant_index.slots_total * sizeof(uint64_t) +
                     chunks * CHUNK_GRANTS * CERTA_HASH_BYTES +
                     chunks * (CERTA_HASH_BYTES + sizeof(uint16_t) + sizeof(uint32_t)) +
                     pages * (CERTA_HASH_BYTES + 1 + sizeof(uint32_t));
    m->record_bytes = (size_t)s->block_count_max * sizeof(record);
    m->grants = s->grant_live;
    m->holders = 0; /* holders are keys of the cold store's history only */
    m->records = s->record_count;
}

uint8_t state_grant_status(const certa_state *s, const grant *gr)
{
    if (gr->flags & GRANT_FLAG_REVOKED)
        return CERTA_GS_REVOKED;
    if (gr->flags & GRANT_FLAG_LOCKED)
        return CERTA_GS_LOCKED;
    if (gr->uses >= gr->max_uses)
        return CERTA_GS_EXHAUSTED;
    if (s->now_ms < gr->not_before_ms)
        return CERTA_GS_NOT_YET_VALID;
    if (s->now_ms >= gr->not_after_ms)
        return CERTA_GS_EXPIRED;
    return CERTA_GS_ACTIVE;
}
