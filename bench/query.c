/* bench_query: what one client query costs a validator, worst cases, through
 * the validator's own path (node/query.c: decode, answer, JSON into
 * the reply buffer). The node answers between consensus rounds, at most
 * 16 per round, so these figures bound the delay queries add to a round.
 *
 * Data: a validator block log (block records with a commit certificate) of
 * one ~4 MiB block of the largest events (redeems with 16 licences) and
 * blocks of grants giving one holder 2,000 records.
 * Prints `name value` lines:
 *   query_block_last_page_us_p50 / _max   256 events at the end of the big
 *                                         block (reads and walks all of it)
 *   query_block_reply_bytes
 *   query_block_last_event_us_p50         1 event at the end: the read and
 *                                         walk alone
 *   query_holder_page1000_us_p50 / _max   a 1,000-record page
 *   query_holder_reply_bytes
 *   query_not_found_us_p50
 * usage: bench_query [ROUNDS] (default 50)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/state_fixture.h"
#include "certa/block.h"
#include "certa/codec.h"
#include "../engine/query.h"
#include "certa/store.h"
#include "../net/metrics.h"
#include "../node/node_query.h"

static fx_genesis fx;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what, const certa_errinfo *ei)
{
    fprintf(stderr, "bench_query: %s: %s\n", what, ei ? certa_errmsg(ei) : "failed");
    exit(3);
}

/* Appends block h made of batches [items] as a validator block record. */
static void put_block(certa_store *st, uint64_t h, uint64_t t, uint8_t **items, size_t *lens,
                      size_t n, uint32_t events)
{
    certa_block_header hdr;
    memset(&hdr, 0, sizeof hdr);
    hdr.height = h;
    hdr.timestamp_ms = t;
    hdr.event_count = events;
    hdr.batch_count = (uint32_t)n;
    certa_block_batch *batches = calloc(n ? n : 1, sizeof *batches);
    if (batches == NULL)
        die("batches", NULL);
    for (size_t i = 0; i < n; i++)
        if (!certa_block_batch_item(items[i], lens[i], &batches[i]))
            die("request item", NULL);
    certa_commit_sig sigs[3];
    memset(sigs, 0, sizeof sigs);
    for (uint16_t i = 0; i < 3; i++)
        sigs[i].validator = i;
    uint8_t *rec = NULL;
    size_t len;
    certa_errinfo ei;
    if (certa_block_build(&hdr, 0, batches, (uint32_t)n, sigs, 3, &rec, &len, &ei) != CERTA_OK ||
        certa_store_append_sync(st, h, rec, len, &ei) != CERTA_OK)
        die("append", &ei);
    free(rec);
    free(batches);
}

/* A request item: integrator, seq, then a batch of the events. */
static uint8_t *item(uint16_t integ, uint64_t seq, const certa_event *evs, uint32_t n,
                     size_t *len)
{
    uint8_t *p = malloc(10 + CERTA_BATCH_BYTES_MAX);
    certa_batch_builder bb;
    certa_batch_begin(&bb, p + 10, CERTA_BATCH_BYTES_MAX, integ, seq);
    for (uint32_t i = 0; i < n; i++)
        if (certa_batch_add(&bb, &evs[i], NULL) != CERTA_OK)
            die("batch add", NULL);
    uint8_t digest[32], sig[64] = {0};
    certa_batch_digest(&bb, digest);
    size_t bl = certa_batch_seal(&bb, sig);
    p[0] = (uint8_t)integ;
    p[1] = (uint8_t)(integ >> 8);
    for (int i = 0; i < 8; i++)
        p[2 + i] = (uint8_t)(seq >> (8 * i));
    *len = 10 + bl;
    return p;
}

static void run(certa_node_query *nq, const certa_node_query_src *src, const certa_cp_query *q,
                int rounds, double *p50, double *max, size_t *bytes, uint8_t want)
{
    uint8_t body[CERTA_CP_QUERY_BYTES_MAX];
    size_t bl = certa_cp_query_encode(q, body);
    double *t = malloc((size_t)rounds * sizeof *t);
    for (int r = 0; r < rounds; r++) {
        const uint8_t *reply;
        size_t rl;
        double t0 = now_us();
        uint8_t type = certa_node_query_answer(nq, src, body, bl, &reply, &rl);
        t[r] = now_us() - t0;
        if (type != want)
            die("unexpected reply type", NULL);
        *bytes = rl;
    }
    qsort(t, (size_t)rounds, sizeof *t, cmp_d);
    *p50 = t[rounds / 2];
    *max = t[rounds - 1];
    free(t);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 50;
    if (rounds < 1)
        rounds = 1;
    fx_genesis_init(&fx);
    char dir[] = "/tmp/certa-bench-query-XXXXXX";
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", NULL);
    char blocks[256];
    snprintf(blocks, sizeof blocks, "%s/blocks", dir);
    certa_store_opts so;
    certa_store_opts_default(&so);
    so.dir = blocks;
    so.create = true;
    so.first_height = 1;
    certa_store *st = NULL;
    certa_errinfo ei;
    if (certa_store_open(&so, &st, NULL, &ei) != CERTA_OK)
        die("store", &ei);

    /* block 1: ~4 MiB of redeems with 16 licences (838 bytes each) */
    enum { PER_BATCH = 64, BATCHES = 75 };
    static certa_event evs[2000];
    for (uint32_t i = 0; i < PER_BATCH; i++) {
        evs[i] = fx_redeem(i, 1, 1, 101, 0, true, true);
        evs[i].licence_count = CERTA_REDEEM_LICENCES_MAX;
        for (uint32_t k = 0; k < CERTA_REDEEM_LICENCES_MAX; k++) {
            memset(evs[i].licences[k].id, (int)(k + 1), sizeof evs[i].licences[k].id);
            evs[i].licences[k].type = 0;
            memset(evs[i].licences[k].digest, (int)(i + k), sizeof evs[i].licences[k].digest);
        }
    }
    uint8_t *items[BATCHES];
    size_t lens[BATCHES];
    for (uint32_t b = 0; b < BATCHES; b++)
        items[b] = item(FX_COUNTER_C1, b + 1, evs, PER_BATCH, &lens[b]);
    uint64_t t = FX_T0 + 1000;
    put_block(st, 1, t, items, lens, BATCHES, PER_BATCH * BATCHES);
    for (uint32_t b = 0; b < BATCHES; b++)
        free(items[b]);
    /* blocks 2..3: 2,000 grants of holder 1 */
    for (uint64_t h = 2; h <= 3; h++) {
        for (uint32_t i = 0; i < 1000; i++) {
            uint32_t gid = (uint32_t)(h * 100000 + i);
            evs[i] = fx_grant(gid, 1, 1, 0, 101, FX_LT(0), t, t + FX_DAY_MS, 1,
                              CERTA_METHOD_CODE);
        }
        uint8_t *it[1];
        size_t il[1];
        it[0] = item(FX_APP, h, evs, 1000, &il[0]);
        put_block(st, h, t + h, it, il, 1, 1000);
        free(it[0]);
    }

    certa_state *s = NULL;
    certa_state_opts o = {.hash_threads = 1};
    if (certa_state_create(&fx.g, &o, &s, &ei) != CERTA_OK ||
        certa_query_restore(s, &fx.g, "/nonexistent", st, NULL, &ei) != CERTA_OK)
        die("restore", &ei);
    certa_metrics *reg = NULL;
    certa_node_query *nq = NULL;
    if (certa_metrics_create(&reg, &ei) != CERTA_OK || certa_node_query_open(reg, &nq, &ei) != CERTA_OK)
        die("node query", &ei);
    certa_node_query_src src = {.g = &fx.g, .state = s, .blocks = st};

    double p50, max;
    size_t bytes;
    uint32_t n = PER_BATCH * BATCHES;
    certa_cp_query bq = {.kind = CERTA_QUERY_BLOCK, .height = 1, .cursor = n - 256, .limit = 256};
    run(nq, &src, &bq, rounds, &p50, &max, &bytes, CERTA_CP_QUERY_RESULT);
    size_t block_bytes = 0;
    certa_store_block_size(st, 1, &block_bytes);
    printf("query_block_bytes %zu\nquery_block_events %u\n", block_bytes, n);
    printf("query_block_last_page_us_p50 %.0f\nquery_block_last_page_us_max %.0f\n"
           "query_block_reply_bytes %zu\n", p50, max, bytes);
    bq.cursor = n - 1;
    bq.limit = 1;
    run(nq, &src, &bq, rounds, &p50, &max, &bytes, CERTA_CP_QUERY_RESULT);
    printf("query_block_last_event_us_p50 %.0f\n", p50);
    certa_cp_query hq = {.kind = CERTA_QUERY_HOLDER, .limit = 1000};
    fx_holder_id(1, hq.holder_id);
    run(nq, &src, &hq, rounds, &p50, &max, &bytes, CERTA_CP_QUERY_RESULT);
    printf("query_holder_page1000_us_p50 %.0f\nquery_holder_page1000_us_max %.0f\n"
           "query_holder_reply_bytes %zu\n", p50, max, bytes);
    certa_cp_query gq = {.kind = CERTA_QUERY_GRANT};
    memset(gq.grant_id, 0xee, sizeof gq.grant_id);
    run(nq, &src, &gq, rounds, &p50, &max, &bytes, CERTA_CP_ERROR);
    printf("query_not_found_us_p50 %.0f\n", p50);

    certa_node_query_close(nq);
    certa_metrics_free(reg);
    certa_state_free(s);
    certa_store_close(st);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 3;
}
