/* Tests for the cold store's holder and grant lists (engine/cold.c), which
 * are kept in buckets of sequence numbers (cold.h). With buckets of 8 seqs
 * a list crosses hundreds of them, groups straddle their bounds and a
 * holder's run in one group is split in two; every page asked for, from
 * every cursor, is checked against the list kept here in plain arrays,
 * with the groups written to LMDB, handed over and still staged, and after
 * the store is opened again (with other options: it keeps its buckets). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certa/crypto.h"
#include "cold.h"

#define KEYS 6u
#define EVENTS_MAX 3000u

typedef struct oracle {
    uint64_t seqs[2][KEYS][EVENTS_MAX]; /* [by_holder][key] */
    uint32_t n[2][KEYS];
} oracle;

static void key_of(bool by_holder, unsigned k, uint8_t out[CERTA_HOLDER_ID_BYTES])
{
    memset(out, 0, CERTA_HOLDER_ID_BYTES);
    /* ids that sort apart and share prefixes, as random ids may */
    out[0] = (uint8_t)(k / 2);
    out[CERTA_GRANT_ID_BYTES - 1] = (uint8_t)(k % 2 + (by_holder ? 0x40 : 0x80));
}

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Every page of every list from every cursor in [0, seq_end + 2) matches
 * the oracle's list below seq_end. */
static void check_lists(certa_cold *c, const oracle *o, uint64_t seq_end, uint64_t *x)
{
    for (int bh = 0; bh < 2; bh++)
        for (unsigned k = 0; k < KEYS; k++) {
            uint8_t key[CERTA_HOLDER_ID_BYTES];
            key_of(bh, k, key);
            const uint64_t *want = o->seqs[bh][k];
            uint32_t wn = 0;
            while (wn < o->n[bh][k] && want[wn] < seq_end)
                wn++;
            for (uint64_t from = 0; from < seq_end + 2; from += 1 + rnd(x) % 7) {
                uint32_t limit = 1 + (uint32_t)(rnd(x) % 40), n = 0;
                uint64_t got[64], next = 0;
                certa_err e = certa_cold_list(c, bh, key, from, false, seq_end, got, limit,
                                              &n, &next);
                if (wn == 0) {
                    cr_assert_eq(e, CERTA_E_NOTFOUND, "list %d/%u from %llu: %d", bh, k,
                                 (unsigned long long)from, e);
                    continue;
                }
                cr_assert_eq(e, CERTA_OK, "list %d/%u from %llu: %d", bh, k,
                             (unsigned long long)from, e);
                uint32_t i = 0;
                while (i < wn && want[i] < from)
                    i++;
                uint32_t expect = wn - i < limit ? wn - i : limit;
                cr_assert_eq(n, expect, "list %d/%u from %llu limit %u: %u seqs, not %u", bh,
                             k, (unsigned long long)from, limit, n, expect);
                for (uint32_t j = 0; j < n; j++)
                    cr_assert_eq(got[j], want[i + j], "list %d/%u from %llu: [%u] %llu, not %llu",
                                 bh, k, (unsigned long long)from, j,
                                 (unsigned long long)got[j], (unsigned long long)want[i + j]);
                uint64_t want_next = i + n < wn ? want[i + n] : UINT64_MAX;
                cr_assert_eq(next, want_next, "list %d/%u from %llu: next %llu, not %llu", bh,
                             k, (unsigned long long)from, (unsigned long long)next,
                             (unsigned long long)want_next);
                /* a cursor that is on the list is accepted as one */
                if (n > 0) {
                    e = certa_cold_list(c, bh, key, got[0], true, seq_end, got, 1, &n, &next);
                    cr_assert_eq(e, CERTA_OK);
                }
                if (i < wn && want[i] != from) {
                    e = certa_cold_list(c, bh, key, from, true, seq_end, got, 1, &n, &next);
                    cr_assert_eq(e, CERTA_E_ARG, "from %llu is not on list %d/%u",
                                 (unsigned long long)from, bh, k);
                }
            }
            /* paged to its end, one cursor after another */
            uint64_t from = 0, got[16];
            uint32_t seen = 0, n;
            while (from != UINT64_MAX) {
                uint64_t next;
                cr_assert_eq(certa_cold_list(c, bh, key, from, seen > 0, seq_end, got, 16, &n,
                                             &next),
                             CERTA_OK);
                for (uint32_t j = 0; j < n; j++, seen++)
                    cr_assert_eq(got[j], want[seen]);
                from = next;
            }
            cr_assert_eq(seen, wn);
        }
    certa_cold_read_end(c);
}

Test(cold_lists, lists_read_across_buckets_match_the_events, .timeout = 120)
{
    char dir[] = "/tmp/certa-test-coldlists-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    certa_cold_opts co = {.map_bytes = 64u << 20, .scratch = true, .bucket_bits = 3};
    certa_cold *c = NULL;
    bool rebuilt;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_cold_open(dir, &co, &c, &rebuilt, &ei), CERTA_OK, "%s",
                 certa_errmsg(&ei));
    oracle *o = calloc(1, sizeof *o);
    cr_assert_not_null(o);
    uint64_t x = 88172645463325252ull, seq = 0;
    uint8_t rec[COLD_EVENT_BYTES] = {0};
    for (uint64_t group = 0; seq < EVENTS_MAX - 64; group++) {
        cr_assert_eq(certa_cold_begin(c, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
        /* groups of 0 to 40 events: inside a bucket, across one, across many */
        uint32_t events = (uint32_t)(rnd(&x) % 41);
        for (uint32_t i = 0; i < events; i++, seq++) {
            /* a few busy keys make runs of several events in a group */
            unsigned hk = (unsigned)(rnd(&x) % (KEYS + 2)), gk = (unsigned)(rnd(&x) % (KEYS + 2));
            uint8_t h[CERTA_HOLDER_ID_BYTES], g[CERTA_HOLDER_ID_BYTES];
            key_of(true, hk % KEYS, h);
            key_of(false, gk % KEYS, g);
            bool has_h = hk < KEYS, has_g = gk < KEYS;
            memcpy(rec, &seq, sizeof seq);
            cr_assert_eq(certa_cold_put_event(c, seq, rec, has_h ? h : NULL, has_g ? g : NULL,
                                              &ei),
                         CERTA_OK, "%s", certa_errmsg(&ei));
            if (has_h)
                o->seqs[1][hk][o->n[1][hk]++] = seq;
            if (has_g)
                o->seqs[0][gk][o->n[0][gk]++] = seq;
        }
        certa_cold_meta m = {.height = group + 1, .events = seq};
        cr_assert_eq(certa_cold_commit(c, &m, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
        /* now and then, with the last groups still in memory */
        if (group % 37 == 5)
            check_lists(c, o, seq, &x);
    }
    cr_assert_eq(certa_cold_sync(c, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    check_lists(c, o, seq, &x);
    /* an end below the last event: the lists end there */
    check_lists(c, o, seq / 3, &x);
    certa_cold_close(c);

    /* opened again asking for other buckets: the store keeps its own */
    co = (certa_cold_opts){.map_bytes = 64u << 20, .scratch = true, .bucket_bits = 12};
    cr_assert_eq(certa_cold_open(dir, &co, &c, &rebuilt, &ei), CERTA_OK, "%s",
                 certa_errmsg(&ei));
    cr_assert(!rebuilt, "%s", certa_cold_rebuilt_why(c));
    cr_assert_eq(certa_cold_meta_of(c).events, seq);
    check_lists(c, o, seq, &x);
    certa_cold_close(c);

    co.bucket_bits = COLD_BUCKET_BITS_MAX + 1;
    cr_assert_eq(certa_cold_open(dir, &co, &c, &rebuilt, &ei), CERTA_E_ARG);
    cr_assert(strstr(certa_errmsg(&ei), "bucket_bits") != NULL, "%s", certa_errmsg(&ei));
    certa_cold_remove(dir);
    rmdir(dir);
    free(o);
}
