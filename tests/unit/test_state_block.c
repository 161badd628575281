/* Tests for engine/state_block.c and engine/state_data.c: an encoded block
 * applied whole gives the same results, roots and digests as its events
 * applied one by one; blocks that do not decode or do not follow are refused
 * with the state unchanged; restore from the block log picks the newest
 * valid snapshot, skips a damaged one and replays the rest to the same
 * digest. */
#include <criterion/criterion.h>
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
    char blocks[256], snaps[256];
    snprintf(blocks, sizeof blocks, "%s/blocks", dir);
    snprintf(snaps, sizeof snaps, "%s/snapshots", dir);
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
    certa_state *live = new_state();
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

    certa_state_restore_report rep;
    certa_state *r = new_state();
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
    r = new_state();
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
    r = new_state();
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
