/* bench/state_years: the licence state over a long chain, with its cold
 * store on disk: does memory stay flat while history grows?
 *
 * Workload (generated, nothing stored): a counter service's days. Each
 * simulated day has GRANTS grants spread evenly over it; each is redeemed
 * an hour after it was granted (one in twenty first with a wrong code),
 * then confirmed, signed and photographed: about 5.05 events a grant. A
 * holder population of HOLDERS people, each grant for a pseudo-random one
 * (so holders come back across months). Blocks cover BLOCK_MS of chain
 * time each. Grants have a 24-hour window, so each is archived a day after
 * it ends (CERTA_STATE_GRACE_MS).
 *
 * Per simulated day it prints a line: events so far, RSS (anonymous: the
 * hot state; file: pages of the LMDB map the process has touched, which
 * the kernel may reclaim), hot grants, archived grants, the cold store's
 * bytes on disk, and rates. At the end: events/s of the whole run, the
 * cold store's write cost per event (wall and CPU), disk bytes per event,
 * and holder / grant query latency percentiles on archived history.
 *
 * Usage: bench_state_years DIR [DAYS [EVENTS_PER_DAY [HOLDERS [BLOCK_MS [SECONDS]]]]]
 *   defaults: 30 days, 82,000 events a day (about 30 million a year),
 *   3,000,000 holders, 10,000 ms blocks. DIR gets the cold store (removed
 *   first), kept as a validator keeps it: commits reach the page cache,
 *   the kernel writes them back, one flush at the end (engine/cold.h). With
 *   SECONDS, the run stops at the first day's end past that wall time
 *   (a shared machine) and reports the days it ran.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tests/state_fixture.h"
#include "certa/codec.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* RssAnon and RssFile of this process, in KiB. */
static void rss_kib(long *anon, long *file)
{
    *anon = *file = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return;
    char line[256];
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "RssAnon:", 8) == 0)
            *anon = strtol(line + 8, NULL, 10);
        else if (strncmp(line, "RssFile:", 8) == 0)
            *file = strtol(line + 8, NULL, 10);
    }
    fclose(f);
}

/* Holder of grant gid: a fixed pseudo-random person. */
static uint32_t holder_of(uint32_t gid, uint32_t holders)
{
    uint64_t x = (uint64_t)gid * 0x9e3779b97f4a7c15ull;
    x ^= x >> 29;
    return (uint32_t)(x % holders);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define HOUR_MS 3600000ull
#define SAMPLES 2000u

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_state_years DIR [DAYS [EVENTS_PER_DAY [HOLDERS [BLOCK_MS "
                        "[SECONDS]]]]]\n");
        return 2;
    }
    const char *dir = argv[1];
    uint64_t days = argc > 2 ? strtoull(argv[2], NULL, 10) : 30;
    uint64_t per_day = argc > 3 ? strtoull(argv[3], NULL, 10) : 82000;
    uint32_t holders = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 3000000u;
    uint64_t block_ms = argc > 5 ? strtoull(argv[5], NULL, 10) : 10000;
    double limit_s = argc > 6 ? strtod(argv[6], NULL) : 0;
    if (days == 0 || per_day < 100 || holders == 0 || block_ms == 0 || block_ms > HOUR_MS)
        return 2;
    uint64_t grants_per_day = per_day * 100 / 505;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 3;

    fx_genesis fx;
    fx_genesis_init(&fx);
    fx.g.params.rules = 2; /* as `certa genesis` writes it */
    /* hot: the grants of the last two days and a margin */
    certa_state_opts o = {.hash_threads = 1, .grants_reserve = (uint32_t)(3 * grants_per_day + 1024),
                          .cold_dir = dir};
    certa_state *s = NULL;
    certa_errinfo ei;
    if (certa_state_create(&fx.g, &o, &s, &ei) != CERTA_OK) {
        fprintf(stderr, "bench_state_years: %s\n", certa_errmsg(&ei));
        return 3;
    }
    size_t cap = 1u << 16;
    certa_event *evs = malloc(cap * sizeof *evs);
    uint16_t *integ = malloc(cap * sizeof *integ);
    if (evs == NULL || integ == NULL)
        return 3;
    const uint64_t day_ms = FX_DAY_MS, t0 = FX_T0 + 1000;
    uint64_t total_grants = days * grants_per_day;
    uint64_t events = 0, events_ok = 0, height = 0;
    double busy = 0, busy_cpu = 0, start = now_s();
    uint8_t root[CERTA_HASH_BYTES], digest[CERTA_HASH_BYTES];
    printf("# day events rss_anon_kib rss_file_kib hot_grants archived cold_disk_bytes "
           "events_per_s_day cold_us_per_event_day\n");
    uint64_t day_events = 0;
    double day_busy = 0;
    uint64_t day_cold_ns = 0, cold_ns_seen = 0;
    /* grant g is created at t0 + g * day_ms / grants_per_day; its redeem and
     * evidence come an hour later */
    for (uint64_t bt = t0; bt < t0 + days * day_ms; bt += block_ms) {
        uint64_t bend = bt + block_ms;
        uint64_t ga = (bt - t0) * grants_per_day / day_ms;
        uint64_t gb = (bend - t0) * grants_per_day / day_ms;
        uint64_t ra = bt - t0 < HOUR_MS ? 0 : (bt - t0 - HOUR_MS) * grants_per_day / day_ms;
        uint64_t rb = bend - t0 < HOUR_MS ? 0 : (bend - t0 - HOUR_MS) * grants_per_day / day_ms;
        if (gb > total_grants)
            gb = total_grants;
        size_t n = 0;
        for (uint64_t g = ga; g < gb && n < cap; g++) {
            uint32_t gid = (uint32_t)g;
            /* rules 2: sealed commitments and redeems */
            evs[n] = fx_grant_sealed(
                fx_grant(gid, holder_of(gid, holders), 1, 0, 101,
                         FX_LT(CERTA_LT_ID_CARD) | FX_LT(CERTA_LT_HOUSEHOLD_REGISTER), bt - 1000,
                         bt + day_ms - 1000, 1, CERTA_METHOD_CODE),
                gid);
            integ[n++] = FX_APP;
        }
        for (uint64_t g = ra; g < rb && n + 5 <= cap; g++) {
            uint32_t gid = (uint32_t)g;
            uint16_t counter = (uint16_t)(1 + gid % 3);
            if (gid % 20 == 0) {
                evs[n] = fx_sealed(fx_redeem(gid, 1, counter, 101, CERTA_LT_ID_CARD, true, false));
                integ[n++] = FX_COUNTER_C1;
            }
            evs[n] = fx_sealed(fx_redeem(gid, 1, counter, 101, CERTA_LT_ID_CARD, true, true));
            integ[n++] = FX_COUNTER_C1;
            for (uint8_t k = CERTA_EV_CONFIRM; k <= CERTA_EV_PHOTO; k++) {
                evs[n] = fx_evidence(k, gid, 1, counter);
                evs[n].redeem = 1; /* the grant's one redeem (rules 2) */
                integ[n++] = FX_COUNTER_C1;
            }
        }
        height++;
        double a = now_s(), c = cpu_s();
        certa_state_begin_block(s, height, bt, NULL);
        for (size_t i = 0; i < n; i++)
            events_ok += certa_state_apply(s, integ[i], &evs[i]) == CERTA_R_OK;
        certa_state_end_block(s, root);
        if (height % fx.g.params.checkpoint_interval == 0)
            certa_state_digest(s, digest);
        double b = now_s();
        busy += b - a;
        busy_cpu += cpu_s() - c;
        day_busy += b - a;
        events += n;
        day_events += n;
        if (certa_state_cold_status(s, &ei) != CERTA_OK) {
            fprintf(stderr, "bench_state_years: %s\n", certa_errmsg(&ei));
            return 3;
        }
        if ((bend - t0) % day_ms < block_ms) { /* a day ended */
            certa_state_cold_info ci;
            certa_state_cold(s, &ci);
            long anon, file;
            rss_kib(&anon, &file);
            day_cold_ns = ci.write_ns - cold_ns_seen;
            cold_ns_seen = ci.write_ns;
            printf("%llu %llu %ld %ld %u %llu %llu %.0f %.3f\n",
                   (unsigned long long)((bend - t0) / day_ms), (unsigned long long)events, anon,
                   file, ci.hot_grants, (unsigned long long)ci.archived,
                   (unsigned long long)ci.disk_bytes, (double)day_events / day_busy,
                   (double)day_cold_ns * 1e-3 / (double)(day_events ? day_events : 1));
            fflush(stdout);
            day_events = 0;
            day_busy = 0;
            if (limit_s > 0 && now_s() - start > limit_s) {
                days = (bend - t0) / day_ms;
                break;
            }
        }
    }
    total_grants = days * grants_per_day; /* the days run */
    certa_state_digest(s, digest);
    certa_state_cold_info ci;
    certa_state_cold(s, &ci);

    /* queries on archived history: holders of grants from the first half */
    double *lat = malloc(SAMPLES * sizeof *lat);
    certa_record *page = malloc(50 * sizeof *page);
    uint64_t st = 77, found = 0;
    for (uint32_t i = 0; i < SAMPLES; i++) {
        uint32_t gid = (uint32_t)(fx_rand(&st) % (total_grants / 2 + 1));
        uint8_t hid[CERTA_HOLDER_ID_BYTES];
        fx_holder_id(holder_of(gid, holders), hid);
        uint32_t got = 0;
        uint64_t next = 0;
        double a = now_s();
        certa_err e = certa_state_holder_records(s, hid, 0, 50, page, &got, &next);
        lat[i] = now_s() - a;
        found += e == CERTA_OK && got > 0;
    }
    qsort(lat, SAMPLES, sizeof *lat, cmp_double);
    double hp50 = lat[SAMPLES / 2], hp99 = lat[SAMPLES * 99 / 100];
    for (uint32_t i = 0; i < SAMPLES; i++) {
        uint32_t gid = (uint32_t)(fx_rand(&st) % (total_grants / 2 + 1));
        uint8_t id[CERTA_GRANT_ID_BYTES];
        fx_grant_id(gid, id);
        certa_grant_info gi;
        double a = now_s();
        certa_err e = certa_state_grant(s, id, &gi);
        lat[i] = now_s() - a;
        found += e == CERTA_OK;
    }
    qsort(lat, SAMPLES, sizeof *lat, cmp_double);
    long anon, file;
    rss_kib(&anon, &file);
    char hex[65];
    certa_hex_encode(digest, 32, hex);
    /* every event but the wrong codes (one grant in twenty) is ok: a
     * workload the rules refuse would measure the refusals instead */
    if (events_ok * 10 < events * 9) {
        fprintf(stderr, "bench_state_years: only %llu of %llu events ok: the workload no "
                        "longer fits the rules\n", (unsigned long long)events_ok,
                (unsigned long long)events);
        return 3;
    }
    printf("days %llu\n", (unsigned long long)days);
    printf("block_ms %llu\n", (unsigned long long)block_ms);
    printf("events %llu\n", (unsigned long long)events);
    printf("events_ok %llu\n", (unsigned long long)events_ok);
    printf("blocks %llu\n", (unsigned long long)height);
    printf("grants %llu\n", (unsigned long long)total_grants);
    printf("hot_grants %u\n", ci.hot_grants);
    printf("archived_grants %llu\n", (unsigned long long)ci.archived);
    printf("elapsed_seconds %.1f\n", now_s() - start);
    printf("events_per_s %.0f\n", (double)events / busy);
    printf("events_per_cpu_s %.0f\n", (double)events / busy_cpu);
    printf("cold_write_us_per_event %.3f\n", (double)ci.write_ns * 1e-3 / (double)events);
    printf("cold_write_cpu_us_per_event %.3f\n", (double)ci.write_cpu_ns * 1e-3 / (double)events);
    printf("cold_writer_cpu_us_per_event %.3f\n", (double)ci.writer_cpu_ns * 1e-3 / (double)events);
    printf("hot_events_per_cpu_s %.0f\n",
           (double)events / (busy_cpu - (double)ci.write_cpu_ns * 1e-9));
    printf("cold_disk_bytes %llu\n", (unsigned long long)ci.disk_bytes);
    printf("cold_disk_bytes_per_event %.1f\n", (double)ci.disk_bytes / (double)events);
    printf("rss_anon_kib %ld\n", anon);
    printf("rss_file_kib %ld\n", file);
    printf("holder_query_p50_us %.1f\n", hp50 * 1e6);
    printf("holder_query_p99_us %.1f\n", hp99 * 1e6);
    printf("grant_query_p50_us %.1f\n", lat[SAMPLES / 2] * 1e6);
    printf("grant_query_p99_us %.1f\n", lat[SAMPLES * 99 / 100] * 1e6);
    printf("queries_answered %llu of %u\n", (unsigned long long)found, 2 * SAMPLES);
    printf("digest %s\n", hex);
    free(lat);
    free(page);
    free(evs);
    free(integ);
    certa_state_free(s);
    return 0;
}
