/* bench/state: how fast the state machine replays committed events, and how
 * much memory a live grant costs.
 *
 * Workload: a counter day. Each grant goes through grant, redeem (one in
 * twenty first with a wrong code), confirm, sign and photo; holders have two
 * grants each. Blocks of 4096 events; the results root is computed per block
 * and the state digest every 16 blocks (the fixture's checkpoint interval),
 * as a replaying validator does. The clock runs only around apply, end_block
 * and digest: building the events is not counted.
 *
 * Output: `name value` lines, including replay_events_per_s (target
 * >= 1,000,000 on one core) and state_bytes_per_grant (target <= 256).
 * Usage: bench_state [EVENTS] (default 4,000,000).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/state_fixture.h"

#define BLOCK_EVENTS 4096u
#define WAVE 512u /* grants whose lifecycles run interleaved */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct gen {
    uint32_t wave;  /* current wave of grants */
    uint32_t phase; /* 0 grant, 1 wrong code, 2 redeem, 3 confirm, 4 sign, 5 photo */
    uint32_t i;     /* index in the wave */
} gen;

/* Next event of the workload; false when the phase has nothing for i. */
static bool next_event(gen *g, uint64_t now, certa_event *ev, uint16_t *integ)
{
    uint32_t gid = g->wave * WAVE + g->i;
    uint16_t counter = (uint16_t)(1 + gid % 3);
    bool made = true;
    switch (g->phase) {
    case 0:
        *ev = fx_grant(gid, gid / 2, 1, 0, 101, FX_LT(CERTA_LT_ID_CARD) | FX_LT(CERTA_LT_HOUSEHOLD_REGISTER),
                       now - 1000, now + FX_DAY_MS, 1, CERTA_METHOD_CODE);
        *integ = FX_APP;
        break;
    case 1:
        made = gid % 20 == 0;
        if (made) {
            *ev = fx_redeem(gid, 1, counter, 101, CERTA_LT_ID_CARD, true, false);
            *integ = FX_COUNTER_C1;
        }
        break;
    case 2:
        *ev = fx_redeem(gid, 1, counter, 101, CERTA_LT_ID_CARD, true, true);
        *integ = FX_COUNTER_C1;
        break;
    default:
        *ev = fx_evidence((uint8_t)(CERTA_EV_CONFIRM + g->phase - 3), gid, 1, counter);
        *integ = FX_COUNTER_C1;
        break;
    }
    if (++g->i == WAVE) {
        g->i = 0;
        if (++g->phase == 6) {
            g->phase = 0;
            g->wave++;
        }
    }
    return made;
}

int main(int argc, char **argv)
{
    uint64_t total = argc > 1 ? strtoull(argv[1], NULL, 10) : 4000000ull;
    if (total < BLOCK_EVENTS)
        total = BLOCK_EVENTS;
    fx_genesis fx;
    fx_genesis_init(&fx);
    certa_state_opts o = {.hash_threads = 1,
                          .grants_reserve = (uint32_t)(total / 5 + WAVE),
                          .records_reserve = (uint32_t)total};
    certa_state *s = NULL;
    if (certa_state_create(&fx.g, &o, &s, NULL) != CERTA_OK) {
        fprintf(stderr, "bench_state: cannot create state\n");
        return 3;
    }
    certa_event *evs = malloc(BLOCK_EVENTS * sizeof *evs);
    uint16_t *integ = malloc(BLOCK_EVENTS * sizeof *integ);
    if (evs == NULL || integ == NULL)
        return 3;
    gen g = {0};
    uint64_t done = 0, ok = 0, height = 0, t = FX_T0 + 1000;
    double busy = 0, digest_s = 0;
    uint8_t root[CERTA_HASH_BYTES], digest[CERTA_HASH_BYTES];
    while (done < total) {
        uint32_t n = 0;
        while (n < BLOCK_EVENTS && done + n < total)
            if (next_event(&g, t, &evs[n], &integ[n]))
                n++;
        height++;
        double t0 = now_s();
        certa_state_begin_block(s, height, t, NULL);
        for (uint32_t i = 0; i < n; i++)
            ok += certa_state_apply(s, integ[i], &evs[i]) == CERTA_R_OK;
        certa_state_end_block(s, root);
        double t1 = now_s();
        busy += t1 - t0;
        if (height % fx.g.params.checkpoint_interval == 0) {
            certa_state_digest(s, digest);
            double t2 = now_s();
            busy += t2 - t1;
            digest_s += t2 - t1;
        }
        done += n;
        t += 200; /* a block every 200 ms */
    }
    certa_state_digest(s, digest);

    certa_state_mem m;
    certa_state_memory(s, &m);
    char hex[65];
    certa_hex_encode(digest, 32, hex);
    printf("events %llu\n", (unsigned long long)done);
    printf("events_ok %llu\n", (unsigned long long)ok);
    printf("blocks %llu\n", (unsigned long long)height);
    printf("replay_seconds %.3f\n", busy);
    printf("replay_events_per_s %.0f\n", (double)done / busy);
    printf("digest_seconds %.3f\n", digest_s);
    printf("grants %u\n", m.grants);
    printf("holders %u\n", m.holders);
    printf("state_bytes_per_grant %.1f\n", (double)m.grant_bytes / m.grants);
    printf("record_bytes_per_event %.1f\n", (double)m.record_bytes / (double)m.records);
    printf("total_bytes_per_grant %.1f\n",
           (double)(m.grant_bytes + m.record_bytes) / m.grants);
    printf("digest %s\n", hex);
    free(evs);
    free(integ);
    certa_state_free(s);
    return 0;
}
