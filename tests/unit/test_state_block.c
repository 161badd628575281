/* Tests for engine/state_block.c and engine/state_data.c: an encoded block
 * applied whole gives the same results, roots and digests as its events
 * applied one by one; blocks that do not decode or do not follow are refused
 * with the state unchanged; restore from the block log picks the newest
 * valid snapshot, skips a damaged one and replays the rest to the same
 * digest. */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../state_fixture.h"
#include "certa/codec.h"

static fx_genesis fx;
static void setup(void) { fx_genesis_init(&fx); }

static certa_state *new_state(void)
{
    certa_state *s = NULL;
    cr_assert_eq(certa_state_create(&fx.g, NULL, &s, NULL), CERTA_OK);
    return s;
}

/* A state whose cold store is in dir, as a data directory keeps it. */
static certa_state *new_state_in(const char *dir)
{
    certa_state_opts o = {.hash_threads = 1, .cold_dir = dir};
    certa_state *s = NULL;
    certa_errinfo ei;
    cr_assert_eq(certa_state_create(&fx.g, &o, &s, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    return s;
}

/* Builds block `height` at time t from n events, one batch per run of the
 * same integrator; returns its length (block buffer owned by the caller). */
static size_t build_block(uint8_t *out, size_t cap, uint64_t height, uint64_t t,
                          const certa_event *evs, const uint16_t *integ, uint32_t n)
{
    static uint8_t batch[CERTA_BATCH_BYTES_MAX];
    static uint64_t seq[8];
    size_t pos = CERTA_HEADER_BYTES;
    uint32_t batches = 0;
    for (uint32_t i = 0; i < n;) {
        certa_batch_builder bb;
        certa_batch_begin(&bb, batch, sizeof batch, integ[i], ++seq[integ[i] % 8]);
        uint32_t j = i;
        while (j < n && integ[j] == integ[i]) {
            cr_assert_eq(certa_batch_add(&bb, &evs[j], NULL), CERTA_OK, "event %u", j);
            j++;
        }
        uint8_t digest[32], sig[64] = {0};
        certa_batch_digest(&bb, digest);
        size_t blen = certa_batch_seal(&bb, sig);
        cr_assert(blen > 0);
        pos = certa_block_put_batch(out, cap, pos, batch, blen);
        cr_assert(pos > 0);
        batches++;
        i = j;
    }
    certa_block_header h;
    memset(&h, 0, sizeof h);
    h.height = height;
    h.timestamp_ms = t;
    h.event_count = n;
    h.batch_count = batches;
    cr_assert_eq(certa_header_encode(&h, out), CERTA_OK);
    return pos;
}

/* Random events that the codec can encode (the state's malformed checks
 * that the codec shares are exercised by test_state). */
static uint32_t make_events(uint64_t *st, uint64_t t, certa_event *evs, uint16_t *integ,
                            uint32_t n)
{
    uint32_t k = 0;
    while (k < n) {
        evs[k] = fx_random_event(st, t, 64, &integ[k]);
        if (integ[k] >= fx.g.integrator_count)
            integ[k] = FX_APP;
        uint8_t buf[CERTA_EVENT_BYTES_MAX];
        size_t len;
        if (certa_event_encode(&evs[k], buf, sizeof buf, &len, NULL) == CERTA_OK)
            k++;
    }
    return k;
}

TestSuite(state_block, .init = setup);

Test(state_block, block_equals_events)
{
    enum { N = 300 };
    certa_state *a = new_state(), *b = new_state();
    static certa_event evs[N];
    static uint16_t integ[N];
    uint8_t *block = malloc(8u << 20);
    uint64_t st = 4242, t = FX_T0;
    for (uint64_t h = 1; h <= 20; h++) {
        t += fx_rand(&st) % (FX_DAY_MS / 64);
        uint32_t n = (uint32_t)(h == 5 ? 0 : 1 + fx_rand(&st) % N);
        make_events(&st, t, evs, integ, n);
        size_t len = build_block(block, 8u << 20, h, t, evs, integ, n);
        uint8_t ra[32], rb[32];
        certa_errinfo ei;
        cr_assert_eq(certa_state_apply_block(a, block, len, ra, &ei), CERTA_OK, "%s",
                     certa_errmsg(&ei));
        cr_assert_eq(certa_state_begin_block(b, h, t, NULL), CERTA_OK);
        for (uint32_t i = 0; i < n; i++)
            certa_state_apply(b, integ[i], &evs[i]);
        certa_state_end_block(b, rb);
        cr_assert_eq(memcmp(ra, rb, 32), 0, "results root differs at %llu", (unsigned long long)h);
        uint32_t na, nb;
        const uint8_t *xa = certa_state_block_results(a, &na);
        const uint8_t *xb = certa_state_block_results(b, &nb);
        cr_assert_eq(na, n);
        cr_assert_eq(nb, n);
        cr_assert_eq(memcmp(xa, xb, n), 0);
    }
    uint8_t da[32], db[32];
    certa_state_digest(a, da);
    certa_state_digest(b, db);
    cr_assert_eq(memcmp(da, db, 32), 0);
    free(block);
    certa_state_free(a);
    certa_state_free(b);
}

Test(state_block, bad_blocks_leave_state_unchanged)
{
    certa_state *s = new_state();
    static certa_event evs[10];
    static uint16_t integ[10];
    uint8_t *block = malloc(1u << 20);
    uint64_t st = 1;
    make_events(&st, FX_T0 + 1000, evs, integ, 10);
    size_t len = build_block(block, 1u << 20, 1, FX_T0 + 1000, evs, integ, 10);
    uint8_t root[32], d0[32], d1[32];
    certa_state_digest(s, d0);
    certa_errinfo ei;
    /* truncated in a batch */
    cr_assert_neq(certa_state_apply_block(s, block, len - 3, root, &ei), CERTA_OK);
    /* a byte of an event flipped into an unknown kind or a bad field */
    block[CERTA_HEADER_BYTES + 4 + CERTA_BATCH_HEADER_BYTES + 2] = 0x7f;
    cr_assert_neq(certa_state_apply_block(s, block, len, root, &ei), CERTA_OK);
    len = build_block(block, 1u << 20, 1, FX_T0 + 1000, evs, integ, 10);
    /* header counts that do not match the block */
    certa_block_header h;
    cr_assert_eq(certa_block_decode_header(block, len, &h, NULL), CERTA_OK);
    h.event_count++;
    certa_header_encode(&h, block);
    cr_assert_eq(certa_state_apply_block(s, block, len, root, &ei), CERTA_E_BAD_FIELD);
    /* a height that does not follow */
    len = build_block(block, 1u << 20, 2, FX_T0 + 1000, evs, integ, 10);
    cr_assert_eq(certa_state_apply_block(s, block, len, root, &ei), CERTA_E_STATE);
    cr_assert_eq(certa_state_height(s), 0);
    cr_assert_eq(certa_state_event_count(s), 0);
    certa_state_digest(s, d1);
    cr_assert_eq(memcmp(d0, d1, 32), 0);
    /* time going back */
    len = build_block(block, 1u << 20, 1, FX_T0 + 1000, evs, integ, 10);
    cr_assert_eq(certa_state_apply_block(s, block, len, root, &ei), CERTA_OK);
    len = build_block(block, 1u << 20, 2, FX_T0 + 999, evs, integ, 10);
    cr_assert_eq(certa_state_apply_block(s, block, len, root, &ei), CERTA_E_TIME);
    cr_assert_eq(certa_state_height(s), 1);
    free(block);
    certa_state_free(s);
}

#if __has_include("certa/store.h")
#include "certa/store.h"

Test(state_block, restore_from_snapshot_and_log)
{
    char dir[] = "/tmp/certa-test-restore-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char blocks[256], snaps[256], cold[256];
    snprintf(blocks, sizeof blocks, "%s/blocks", dir);
    snprintf(snaps, sizeof snaps, "%s/snapshots", dir);
    snprintf(cold, sizeof cold, "%s/cold", dir);
    certa_store_opts so;
    certa_store_opts_default(&so);
    so.dir = blocks;
    so.create = true;
    so.first_height = 1;
    so.segment_bytes = 8u << 20;
    certa_store *store = NULL;
    certa_errinfo ei;
    cr_assert_eq(certa_store_open(&so, &store, NULL, &ei), CERTA_OK, "%s", certa_errmsg(&ei));

    enum { N = 200 };
    static certa_event evs[N];
    static uint16_t integ[N];
    uint8_t *block = malloc(8u << 20);
    certa_state *live = new_state_in(cold);
    uint64_t st = 777, t = FX_T0;
    uint8_t digest_at[31][32];
    for (uint64_t h = 1; h <= 30; h++) {
        t += fx_rand(&st) % (FX_DAY_MS / 64);
        uint32_t n = (uint32_t)(1 + fx_rand(&st) % N);
        make_events(&st, t, evs, integ, n);
        size_t len = build_block(block, 8u << 20, h, t, evs, integ, n);
        uint8_t root[32];
        cr_assert_eq(certa_state_apply_block(live, block, len, root, &ei), CERTA_OK);
        cr_assert_eq(certa_store_append_sync(store, h, block, len, &ei), CERTA_OK, "%s",
                     certa_errmsg(&ei));
        if (h % 10 == 0)
            cr_assert_eq(certa_state_checkpoint(live, snaps, 2, &ei), CERTA_OK);
        certa_state_digest(live, digest_at[h]);
    }
    /* snapshots kept: 20 and 30 */
    char p20[512], p30[512], p10[512];
    snprintf(p10, sizeof p10, "%s/%020d.snap", snaps, 10);
    snprintf(p20, sizeof p20, "%s/%020d.snap", snaps, 20);
    snprintf(p30, sizeof p30, "%s/%020d.snap", snaps, 30);
    cr_assert_neq(access(p10, F_OK), 0);
    cr_assert_eq(access(p20, F_OK), 0);
    cr_assert_eq(access(p30, F_OK), 0);

    certa_state_free(live); /* the restarts below reopen its cold store */
    live = NULL;
    certa_state_restore_report rep;
    certa_state *r = new_state_in(cold);
    cr_assert_eq(certa_state_restore(r, snaps, store, &rep, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    cr_assert(rep.from_snapshot);
    cr_assert_eq(rep.snapshot_height, 30);
    cr_assert_eq(rep.replayed_blocks, 0);
    uint8_t d[32];
    certa_state_digest(r, d);
    cr_assert_eq(memcmp(d, digest_at[30], 32), 0);
    certa_state_free(r);

    /* the newest snapshot damaged: 20 plus 10 blocks of replay */
    FILE *f = fopen(p30, "r+b");
    fseek(f, 500, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    r = new_state_in(cold);
    cr_assert_eq(certa_state_restore(r, snaps, store, &rep, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    cr_assert_eq(rep.snapshot_height, 20);
    cr_assert_eq(rep.snapshots_skipped, 1);
    cr_assert_eq(rep.replayed_blocks, 10);
    certa_state_digest(r, d);
    cr_assert_eq(memcmp(d, digest_at[30], 32), 0);
    certa_state_free(r);

    /* no snapshot at all: everything replayed */
    unlink(p20);
    unlink(p30);
    r = new_state_in(cold);
    cr_assert_eq(certa_state_restore(r, snaps, store, &rep, &ei), CERTA_OK);
    cr_assert(!rep.from_snapshot);
    cr_assert_eq(rep.replayed_blocks, 30);
    certa_state_digest(r, d);
    cr_assert_eq(memcmp(d, digest_at[30], 32), 0);
    certa_state_free(r);

    certa_store_close(store);
    certa_state_free(live);
    free(block);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
#endif

/* ---- the cold store ---- */

#include "cold.h"
#include "state_internal.h"

typedef struct chain {
    char dir[64], blocks[128], snaps[128], cold[128];
    certa_store *store;
    uint8_t digest[32];
    certa_state_cold_info cold_info;
    uint64_t blocks_n;
} chain;

/* A chain of n blocks a quarter of a day apart on average (grants outlive
 * their window and grace, and get archived), applied by a state whose cold
 * store is in c->cold and appended to a block log. The state is freed:
 * what remains is the data directory. */
static void chain_build(chain *c, uint64_t n, uint64_t seed)
{
    strcpy(c->dir, "/tmp/certa-test-cold-XXXXXX");
    cr_assert_not_null(mkdtemp(c->dir));
    snprintf(c->blocks, sizeof c->blocks, "%s/blocks", c->dir);
    snprintf(c->snaps, sizeof c->snaps, "%s/snapshots", c->dir);
    snprintf(c->cold, sizeof c->cold, "%s/cold", c->dir);
    certa_store_opts so;
    certa_store_opts_default(&so);
    so.dir = c->blocks;
    so.create = true;
    so.first_height = 1;
    so.segment_bytes = 8u << 20;
    certa_errinfo ei;
    cr_assert_eq(certa_store_open(&so, &c->store, NULL, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    enum { N = 300 };
    static certa_event evs[N];
    static uint16_t integ[N];
    uint8_t *block = malloc(8u << 20);
    certa_state *live = new_state_in(c->cold);
    uint64_t st = seed, t = FX_T0;
    for (uint64_t h = 1; h <= n; h++) {
        t += fx_rand(&st) % (FX_DAY_MS / 2);
        uint32_t k = (uint32_t)(1 + fx_rand(&st) % N);
        make_events(&st, t, evs, integ, k);
        size_t len = build_block(block, 8u << 20, h, t, evs, integ, k);
        uint8_t root[32];
        cr_assert_eq(certa_state_apply_block(live, block, len, root, &ei), CERTA_OK);
        cr_assert_eq(certa_store_append_sync(c->store, h, block, len, &ei), CERTA_OK);
        cr_assert_eq(certa_state_cold_status(live, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    }
    certa_state_digest(live, c->digest);
    certa_state_cold(live, &c->cold_info);
    c->blocks_n = n;
    cr_assert_eq(c->cold_info.height, n);
    cr_assert(c->cold_info.archived > 50, "only %llu archived",
              (unsigned long long)c->cold_info.archived);
    cr_assert(c->cold_info.hot_grants < c->cold_info.archived);
    certa_state_free(live);
    free(block);
}

static void chain_free(chain *c)
{
    certa_store_close(c->store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", c->dir);
    cr_assert_eq(system(cmd), 0);
}

/* Restores a state on c's data directory from its log; checks that it
 * reaches the live run's digest and cold store. */
static certa_state *chain_restore(chain *c, bool want_rebuilt)
{
    certa_state *r = new_state_in(c->cold);
    certa_state_cold_info ci;
    certa_state_cold(r, &ci);
    cr_assert_eq(ci.rebuilt, want_rebuilt);
    cr_assert(ci.height == 0 || ci.height == c->blocks_n);
    certa_state_restore_report rep;
    certa_errinfo ei;
    cr_assert_eq(certa_state_restore(r, c->snaps, c->store, &rep, &ei), CERTA_OK, "%s",
                 certa_errmsg(&ei));
    cr_assert_eq(rep.replayed_blocks, c->blocks_n);
    cr_assert_eq(certa_state_cold_status(r, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    uint8_t d[32];
    certa_state_digest(r, d);
    cr_assert_eq(memcmp(d, c->digest, 32), 0, "digest differs after the restart");
    certa_state_cold(r, &ci);
    cr_assert_eq(ci.height, c->blocks_n);
    cr_assert_eq(ci.events, c->cold_info.events);
    cr_assert_eq(ci.archived, c->cold_info.archived);
    cr_assert_eq(memcmp(ci.root, c->cold_info.root, 32), 0);
    return r;
}

/* The archive root the state commits to is the RFC 6962 root over the
 * archived grants' leaves, in archive order, as the cold store holds them;
 * a restart that finds the cold store whole replays the log without
 * writing it and agrees with it at its height. */
Test(state_block, archive_root_is_rfc6962_over_the_cold_records)
{
    chain c;
    chain_build(&c, 40, 4242);
    certa_state *r = chain_restore(&c, false);
    /* every archived grant's record, by its leaf index */
    uint64_t n = c.cold_info.archived;
    uint8_t *hashes = calloc(n, 32);
    uint8_t *seen = calloc(n, 1);
    uint64_t found = 0;
    for (uint32_t g = 0; g < 64 * 256 * 8; g++) { /* fx_random_event's id space */
        uint8_t id[16], rec[COLD_GRANT_BYTES_MAX];
        fx_grant_id(g, id);
        size_t len;
        if (certa_cold_get_grant(r->cold, id, rec, sizeof rec, &len) != CERTA_OK)
            continue;
        cr_assert_eq(len, ARCHIVE_REC_BYTES);
        uint64_t leaf = certa_get_le64(rec + ARCHIVE_LEAF_BYTES);
        cr_assert(leaf < n && !seen[leaf]);
        seen[leaf] = 1;
        certa_merkle_leaf_hash(rec, ARCHIVE_LEAF_BYTES, hashes + leaf * 32);
        found++;
        /* answered from the cold store, as it was archived */
        certa_grant_info gi;
        cr_assert_eq(certa_state_grant(r, id, &gi), CERTA_OK);
        cr_assert_eq(memcmp(gi.grant_id, id, 16), 0);
        cr_assert_neq(gi.status, CERTA_GS_ACTIVE);
    }
    cr_assert_eq(found, n);
    uint8_t want[32];
    cr_assert_eq(certa_merkle_root_hashes(NULL, hashes, n, want, NULL), CERTA_OK);
    cr_assert_eq(memcmp(want, c.cold_info.root, 32), 0, "archive root is not RFC 6962");
    free(hashes);
    free(seen);
    certa_state_free(r);
    chain_free(&c);
}

/* The LMDB file deleted, then torn (cut short): the state starts it empty,
 * says so, and the replay of the block log rebuilds the same history. */
Test(state_block, missing_or_torn_cold_store_rebuilt_from_the_log)
{
    chain c;
    chain_build(&c, 30, 4242);
    char data[200];
    snprintf(data, sizeof data, "%s/data.mdb", c.cold);
    /* a holder's history as the live run left it */
    certa_state *r = chain_restore(&c, false);
    uint8_t hid[32];
    fx_holder_id(3, hid);
    certa_record before[64], after[64];
    uint32_t nb = 0, na = 0;
    uint64_t cur = 0;
    cr_assert_eq(certa_state_holder_records(r, hid, 0, 64, before, &nb, &cur), CERTA_OK);
    cr_assert(nb > 0);
    certa_state_free(r);

    cr_assert_eq(unlink(data), 0); /* missing: created anew, empty */
    r = chain_restore(&c, false);
    cr_assert_eq(certa_state_holder_records(r, hid, 0, 64, after, &na, &cur), CERTA_OK);
    cr_assert_eq(na, nb);
    cr_assert_eq(memcmp(before, after, nb * sizeof before[0]), 0);
    certa_state_free(r);

    /* written in another layout (here: no format record): rebuilt, and the
     * history reads the same after the replay */
    MDB_env *env;
    MDB_txn *t;
    MDB_dbi meta;
    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_set_maxdbs(env, 8), 0);
    cr_assert_eq(mdb_env_open(env, c.cold, 0, 0644), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &t), 0);
    cr_assert_eq(mdb_dbi_open(t, "meta", 0, &meta), 0);
    MDB_val fk = {6, "format"};
    cr_assert_eq(mdb_del(t, meta, &fk, NULL), 0);
    cr_assert_eq(mdb_txn_commit(t), 0);
    mdb_env_close(env);
    r = chain_restore(&c, true);
    certa_state_cold_info ci;
    certa_state_cold(r, &ci);
    cr_assert(strstr(ci.rebuilt_why, "format") != NULL, "%s", ci.rebuilt_why);
    cr_assert_eq(certa_state_holder_records(r, hid, 0, 64, after, &na, &cur), CERTA_OK);
    cr_assert_eq(na, nb);
    cr_assert_eq(memcmp(before, after, nb * sizeof before[0]), 0);
    certa_state_free(r);

    cr_assert_eq(truncate(data, 8192), 0);
    r = chain_restore(&c, true);
    certa_state_free(r);
    chain_free(&c);
}

/* A snapshot names the cold store's height: restoring from it with the
 * cold store whole replays only the blocks after it; with the cold store
 * gone, the snapshot is refused (its history would be missing) and the
 * whole log is replayed instead. */
Test(state_block, snapshot_needs_its_cold_store)
{
    chain c;
    chain_build(&c, 30, 4242);
    certa_state *r = chain_restore(&c, false);
    certa_errinfo ei;
    cr_assert_eq(certa_state_checkpoint(r, c.snaps, 2, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    certa_state_free(r);
    r = new_state_in(c.cold);
    certa_state_restore_report rep;
    cr_assert_eq(certa_state_restore(r, c.snaps, c.store, &rep, &ei), CERTA_OK);
    cr_assert(rep.from_snapshot);
    cr_assert_eq(rep.replayed_blocks, 0);
    uint8_t d[32];
    certa_state_digest(r, d);
    cr_assert_eq(memcmp(d, c.digest, 32), 0);
    certa_state_free(r);
    certa_state_cold_remove(c.cold);
    r = chain_restore(&c, false); /* files gone: a new, empty store */
    certa_state_free(r);
    chain_free(&c);
}

/* A cold store from another chain (same height): the replay finds that it
 * disagrees at its height and refuses to go on, naming the remedy. */
Test(state_block, cold_store_of_another_chain_refused)
{
    chain a, b;
    chain_build(&a, 30, 4242);
    chain_build(&b, 30, 999);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "cp %s/data.mdb %s/data.mdb", a.cold, b.cold);
    cr_assert_eq(system(cmd), 0);
    certa_state *r = new_state_in(b.cold);
    certa_state_restore_report rep;
    certa_errinfo ei;
    cr_assert_eq(certa_state_restore(r, b.snaps, b.store, &rep, &ei), CERTA_E_CORRUPT);
    cr_assert(strstr(certa_errmsg(&ei), "disagrees with the chain") != NULL, "%s",
              certa_errmsg(&ei));
    certa_state_free(r);
    chain_free(&a);
    chain_free(&b);
}

/* ---- the reserved tables: never grown, never moved ---- */

#include <signal.h>

/* A state of grants_max hot grants whose index is sized for reserve. */
static certa_state *new_state_sized(uint32_t reserve, uint32_t max)
{
    certa_state_opts o = {.hash_threads = 1, .grants_reserve = reserve, .grants_max = max};
    certa_state *s = NULL;
    certa_errinfo ei;
    cr_assert_eq(certa_state_create(&fx.g, &o, &s, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    return s;
}

/* Block `height` granting grants [first, first + n) (valid ten days). */
static void grant_block(certa_state *s, uint64_t height, uint32_t first, uint32_t n)
{
    uint64_t t = FX_T0 + height * 1000;
    cr_assert_eq(certa_state_begin_block(s, height, t, NULL), CERTA_OK);
    for (uint32_t i = first; i < first + n; i++) {
        certa_event ev = fx_grant(i, i % 97, 1, 0, 101, FX_LT(CERTA_LT_ID_CARD), t,
                                  t + 10 * FX_DAY_MS, 1, CERTA_METHOD_DIRECT);
        cr_assert_eq(certa_state_apply(s, FX_APP, &ev), CERTA_R_OK);
    }
    uint8_t root[32];
    certa_state_end_block(s, root);
}

/* Far past the index's reserve, past the old table's doublings and with a
 * block larger than genesis's block_events_max, nothing moves: a pointer
 * taken at the start still reads the first grant, and the digest is the
 * one a state sized for all of it from the start computes. A table grown
 * by copying (realloc) would have moved. */
Test(state_block, tables_never_move_past_the_reserve)
{
    certa_state *s = new_state_sized(16, 1u << 16);
    certa_state *big = new_state_sized(1u << 15, 1u << 16);
    const grant *base = s->grants;
    const record *records = s->records;
    uint32_t n0;
    const uint8_t *results = certa_state_block_results(s, &n0);
    grant_block(s, 1, 0, 1);
    grant_block(big, 1, 0, 1);
    const grant *first = &s->grants[0];
    uint8_t id0[CERTA_GRANT_ID_BYTES];
    fx_grant_id(0, id0);
    cr_assert_eq(memcmp(first->id, id0, sizeof id0), 0);
    /* 4096 + 904 events: one block past block_events_max (4096) */
    grant_block(s, 2, 1, 5000);
    grant_block(big, 2, 1, 5000);
    for (uint64_t h = 3; h <= 6; h++) {
        grant_block(s, h, 5001 + (uint32_t)(h - 3) * 3000, 3000);
        grant_block(big, h, 5001 + (uint32_t)(h - 3) * 3000, 3000);
    }
    cr_assert_eq(s->grant_slots, 17001u);
    cr_assert_eq(s->grants, base, "the grant table moved");
    cr_assert_eq(s->records, records, "the block's records moved");
    uint32_t n;
    cr_assert_eq(certa_state_block_results(s, &n), results, "the block's results moved");
    cr_assert_eq(n, 3000u);
    cr_assert_eq(memcmp(first->id, id0, sizeof id0), 0);
    cr_assert_eq(first->live, 1);
    uint8_t d1[32], d2[32];
    certa_state_digest(s, d1);
    certa_state_digest(big, d2);
    cr_assert_eq(memcmp(d1, d2, 32), 0, "the digest depends on the reserve");
    certa_state_mem m;
    certa_state_memory(s, &m);
    cr_assert_eq(m.grants, 17001u);
    cr_assert(m.grant_bytes < 16u << 20, "%zu bytes for 17001 grants", m.grant_bytes);
    certa_state_free(s);
    certa_state_free(big);
}

/* A grant the rules accept past grants_max stops the validator: refusing
 * it would make its result depend on this validator's option. */
Test(state_block, a_grant_past_grants_max_stops, .signal = SIGABRT)
{
    certa_state *s = new_state_sized(16, 64);
    grant_block(s, 1, 0, 64);
    grant_block(s, 2, 64, 1);
}

/* Options out of range, and a snapshot with more slots than grants_max,
 * are refused with the remedy; the state is left as it was. */
Test(state_block, grants_max_bounds_refused)
{
    certa_state_opts o = {.grants_max = CERTA_STATE_GRANTS_MAX_LIMIT + 1};
    certa_state *s = NULL;
    certa_errinfo ei;
    cr_assert_eq(certa_state_create(&fx.g, &o, &s, &ei), CERTA_E_ARG);
    cr_assert_null(s);

    char dir[] = "/tmp/certa-test-gmax-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char cold[64], snap[64];
    snprintf(cold, sizeof cold, "%s/cold", dir);
    snprintf(snap, sizeof snap, "%s/1.snap", dir);
    certa_state_opts oc = {.hash_threads = 1, .cold_dir = cold};
    cr_assert_eq(certa_state_create(&fx.g, &oc, &s, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    grant_block(s, 1, 0, 100);
    cr_assert_eq(certa_state_cold_flush(s, &ei), CERTA_OK);
    cr_assert_eq(certa_state_snapshot_save(s, snap, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    certa_state_free(s);
    certa_state_opts small = {.hash_threads = 1, .cold_dir = cold, .grants_reserve = 16,
                              .grants_max = 64};
    cr_assert_eq(certa_state_create(&fx.g, &small, &s, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    uint64_t h = certa_state_height(s);
    cr_assert_eq(certa_state_snapshot_load(s, snap, &ei), CERTA_E_SNAPSHOT);
    cr_assert(strstr(certa_errmsg(&ei), "grants_max") != NULL, "%s", certa_errmsg(&ei));
    cr_assert_eq(certa_state_height(s), h);
    certa_state_free(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
