/* Tests for engine/wal.c: records survive reopening, garbage collection
 * drops exactly what the PBFT contract allows, compaction keeps the live set
 * and bounds the log, and a leftover generation is ignored. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wal.h"

enum { K_VOTE = 3, K_VC = 6, K_NV = 7, K_CK = 0x82 };

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/certa-wal-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static void rec_bytes(uint32_t i, uint8_t *out, size_t *len)
{
    *len = 10 + i % 50;
    for (size_t k = 0; k < *len; k++)
        out[k] = (uint8_t)(i * 31 + k);
}

static void assert_live(certa_wal *w, const uint32_t *ids, size_t n)
{
    cr_assert_eq(certa_wal_count(w), n);
    for (size_t i = 0; i < n; i++) {
        uint8_t want[64];
        size_t wl;
        rec_bytes(ids[i], want, &wl);
        const uint8_t *b;
        size_t l;
        certa_wal_record(w, i, &b, &l);
        cr_assert_eq(l, wl, "record %zu", i);
        cr_assert_eq(memcmp(b, want, l), 0, "record %zu", i);
    }
}

TestSuite(wal, .init = setup, .fini = teardown);

Test(wal, reopen_keeps_records_and_gc_drops_by_contract)
{
    certa_wal *w = NULL;
    cr_assert_eq(certa_wal_open(dir, 0, &w, NULL), CERTA_OK);
    uint8_t b[64];
    size_t l;
    /* heights 1..10 votes in view 0, a view change for view 1 and one for
     * view 2, two checkpoints */
    for (uint32_t i = 1; i <= 10; i++) {
        rec_bytes(i, b, &l);
        cr_assert_eq(certa_wal_append(w, K_VOTE, i, 0, b, l, NULL), CERTA_OK);
    }
    rec_bytes(11, b, &l);
    cr_assert_eq(certa_wal_append(w, K_VC, 0, 1, b, l, NULL), CERTA_OK);
    rec_bytes(12, b, &l);
    cr_assert_eq(certa_wal_append(w, K_CK, 0, 0, b, l, NULL), CERTA_OK);
    rec_bytes(13, b, &l);
    cr_assert_eq(certa_wal_append(w, K_VC, 0, 2, b, l, NULL), CERTA_OK);
    rec_bytes(14, b, &l);
    cr_assert_eq(certa_wal_append(w, K_CK, 0, 0, b, l, NULL), CERTA_OK);
    cr_assert(certa_wal_dirty(w));
    cr_assert_eq(certa_wal_sync(w, NULL), CERTA_OK);
    certa_wal_close(w);

    cr_assert_eq(certa_wal_open(dir, 0, &w, NULL), CERTA_OK);
    uint32_t all[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    assert_live(w, all, 14);
    certa_wal_gc(w, 6, 2, K_VC, K_NV, K_CK);
    uint32_t kept[] = {7, 8, 9, 10, 13, 14};
    assert_live(w, kept, 6);
    certa_wal_close(w);
}

Test(wal, compaction_bounds_the_log_and_keeps_the_live_set)
{
    certa_wal *w = NULL;
    cr_assert_eq(certa_wal_open(dir, 4096, &w, NULL), CERTA_OK);
    uint8_t b[64];
    size_t l;
    for (uint32_t i = 1; i <= 2000; i++) {
        rec_bytes(i, b, &l);
        cr_assert_eq(certa_wal_append(w, K_VOTE, i, 0, b, l, NULL), CERTA_OK);
        if (i % 100 == 0) {
            certa_wal_gc(w, i - 20, 0, K_VC, K_NV, K_CK); /* keep the last 20 */
            cr_assert_eq(certa_wal_sync(w, NULL), CERTA_OK);
        }
    }
    certa_wal_stats st;
    certa_wal_get_stats(w, &st);
    cr_assert_gt(st.compactions, 5, "compactions %llu", (unsigned long long)st.compactions);
    cr_assert_eq(st.live_records, 20);
    certa_wal_close(w);

    /* Only the current generation is left, and it reopens to the live set. */
    cr_assert_eq(certa_wal_open(dir, 4096, &w, NULL), CERTA_OK);
    uint32_t ids[20];
    for (uint32_t i = 0; i < 20; i++)
        ids[i] = 1981 + i;
    assert_live(w, ids, 20);
    certa_wal_close(w);
    DIR *d = opendir(dir);
    int gens = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        gens += strncmp(de->d_name, "wal-", 4) == 0;
    closedir(d);
    cr_assert_eq(gens, 1);
}

Test(wal, unfinished_compaction_is_ignored)
{
    certa_wal *w = NULL;
    cr_assert_eq(certa_wal_open(dir, 0, &w, NULL), CERTA_OK);
    uint8_t b[64];
    size_t l;
    rec_bytes(1, b, &l);
    cr_assert_eq(certa_wal_append(w, K_VOTE, 1, 0, b, l, NULL), CERTA_OK);
    cr_assert_eq(certa_wal_sync(w, NULL), CERTA_OK);
    certa_wal_close(w);
    /* A crash during compaction leaves wal-1 without wal.gen naming it. */
    char p[128];
    snprintf(p, sizeof p, "%s/wal-1", dir);
    cr_assert_eq(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/wal-1/00000000.seg", dir);
    FILE *f = fopen(p, "w");
    fputs("garbage", f);
    fclose(f);
    cr_assert_eq(certa_wal_open(dir, 0, &w, NULL), CERTA_OK);
    uint32_t ids[] = {1};
    assert_live(w, ids, 1);
    certa_wal_close(w);
    snprintf(p, sizeof p, "%s/wal-1", dir);
    struct stat st;
    cr_assert_neq(stat(p, &st), 0, "leftover generation removed");
}
