/* bench/state: how fast the state machine replays committed events, and how
 * much memory a live grant costs.
 *
 * Workload: a counter day. Each grant goes through grant, redeem (one in
 * twenty first with a wrong code), confirm, sign and photo; holders have two
 * grants each. Blocks of 4096 events; the results root is computed per block
 * and the state digest every 16 blocks (the fixture's checkpoint interval),
 * as a replaying validator does. Two passes over the same workload:
 *   replay: each block encoded as the log holds it (header, batches of
 *           canonical events) and applied with certa_state_apply_block:
 *           decoding, rules, results root, digests;
 *   apply:  the decoded events applied one by one (no decoding).
 * The clock runs only around applying and digesting: building and encoding
 * the events is not counted. One thread.
 *
 * Output: `name value` lines, including replay_events_per_s (target
 * >= 1,000,000 on one core) and state_bytes_per_grant (target <= 256).
 * The replay includes writing every block's records to the cold store
 * (a temporary LMDB environment, commits not fsynced): cold_write_* is
 * the applying thread's share (staging, and waiting when the store's
 * writer thread is a group behind), replay_hot_* the rest, and
 * cold_writer_* the writer thread's own time.
 * Usage: bench_state [EVENTS] (default 4,000,000).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/state_fixture.h"
#include "certa/codec.h"

#define BLOCK_EVENTS 4096u
#define WAVE 512u /* grants whose lifecycles run interleaved */

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }
/* CPU time of this thread: what one core spent, even when the machine is
 * shared and the thread waits for a core. */
static double cpu_s(void) { return clock_s(CLOCK_THREAD_CPUTIME_ID); }

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
        /* rules 2: sealed commitments and redeems */
        *ev = fx_grant_sealed(fx_grant(gid, gid / 2, 1, 0, 101,
                                       FX_LT(CERTA_LT_ID_CARD) | FX_LT(CERTA_LT_HOUSEHOLD_REGISTER),
                                       now - 1000, now + FX_DAY_MS, 1, CERTA_METHOD_CODE),
                              gid);
        *integ = FX_APP;
        break;
    case 1:
        made = gid % 20 == 0;
        if (made) {
            *ev = fx_sealed(fx_redeem(gid, 1, counter, 101, CERTA_LT_ID_CARD, true, false));
            *integ = FX_COUNTER_C1;
        }
        break;
    case 2:
        *ev = fx_sealed(fx_redeem(gid, 1, counter, 101, CERTA_LT_ID_CARD, true, true));
        *integ = FX_COUNTER_C1;
        break;
    default:
        *ev = fx_evidence((uint8_t)(CERTA_EV_CONFIRM + g->phase - 3), gid, 1, counter);
        ev->redeem = 1; /* the grant's one redeem (rules 2) */
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

/* Encodes n events as one block: a batch per run of the same integrator. */
static size_t encode_block(uint8_t *out, size_t cap, uint8_t *batch, uint64_t height,
                           uint64_t t, const certa_event *evs, const uint16_t *integ,
                           uint32_t n, uint64_t *seq)
{
    size_t pos = CERTA_HEADER_BYTES;
    uint32_t batches = 0;
    for (uint32_t i = 0; i < n;) {
        certa_batch_builder bb;
        certa_batch_begin(&bb, batch, CERTA_BATCH_BYTES_MAX, integ[i], ++seq[integ[i]]);
        uint32_t j = i;
        while (j < n && integ[j] == integ[i] && certa_batch_add(&bb, &evs[j], NULL) == CERTA_OK)
            j++;
        uint8_t digest[CERTA_HASH_BYTES], sig[CERTA_SIGNATURE_BYTES] = {0};
        certa_batch_digest(&bb, digest);
        size_t blen = certa_batch_seal(&bb, sig);
        pos = certa_block_put_batch(out, cap, pos, batch, blen);
        CERTA_ASSERT(pos > 0);
        batches++;
        i = j;
    }
    certa_block_header h = {.height = height, .timestamp_ms = t, .event_count = n,
                            .batch_count = batches};
    certa_err rc = certa_header_encode(&h, out);
    CERTA_ASSERT(rc == CERTA_OK);
    return pos;
}

typedef struct pass_result {
    uint64_t events, ok, blocks;
    double seconds, cpu_seconds, digest_seconds;
    uint8_t digest[CERTA_HASH_BYTES];
    certa_state_mem mem;
    certa_state_cold_info cold;
} pass_result;

static int run_pass(const fx_genesis *fx, uint64_t total, bool encoded, pass_result *pr)
{
    certa_state_opts o = {.hash_threads = 1,
                          .grants_reserve = (uint32_t)(total / 5 + WAVE),
                          .records_reserve = (uint32_t)total};
    certa_state *s = NULL;
    if (certa_state_create(&fx->g, &o, &s, NULL) != CERTA_OK)
        return -1;
    certa_event *evs = malloc(BLOCK_EVENTS * sizeof *evs);
    uint16_t *integ = malloc(BLOCK_EVENTS * sizeof *integ);
    size_t block_cap = 8u << 20;
    uint8_t *block = malloc(block_cap);
    uint8_t *batch = malloc(CERTA_BATCH_BYTES_MAX);
    uint64_t seq[8] = {0};
    if (evs == NULL || integ == NULL || block == NULL || batch == NULL)
        return -1;
    gen g = {0};
    uint64_t done = 0, ok = 0, height = 0, t = FX_T0 + 1000;
    double busy = 0, busy_cpu = 0, digest_s = 0;
    uint8_t root[CERTA_HASH_BYTES];
    while (done < total) {
        uint32_t n = 0;
        while (n < BLOCK_EVENTS && done + n < total)
            if (next_event(&g, t, &evs[n], &integ[n]))
                n++;
        height++;
        size_t len = encoded ? encode_block(block, block_cap, batch, height, t, evs, integ, n, seq) : 0;
        double t0 = now_s(), c0 = cpu_s();
        if (encoded) {
            certa_errinfo ei;
            if (certa_state_apply_block(s, block, len, root, &ei) != CERTA_OK) {
                fprintf(stderr, "bench_state: %s\n", certa_errmsg(&ei));
                return -1;
            }
        } else {
            certa_state_begin_block(s, height, t, NULL);
            for (uint32_t i = 0; i < n; i++)
                certa_state_apply(s, integ[i], &evs[i]);
            certa_state_end_block(s, root);
        }
        double t1 = now_s(), c1 = cpu_s();
        busy += t1 - t0;
        busy_cpu += c1 - c0;
        uint32_t nres = 0;
        const uint8_t *res = certa_state_block_results(s, &nres);
        for (uint32_t i = 0; i < nres; i++)
            ok += res[i] == CERTA_R_OK;
        if (height % fx->g.params.checkpoint_interval == 0) {
            certa_state_digest(s, pr->digest);
            double t2 = now_s();
            busy += t2 - t1;
            busy_cpu += cpu_s() - c1;
            digest_s += t2 - t1;
        }
        done += n;
        t += 200; /* a block every 200 ms */
    }
    certa_state_digest(s, pr->digest);
    certa_state_memory(s, &pr->mem);
    certa_state_cold(s, &pr->cold);
    pr->events = done;
    pr->ok = ok;
    pr->blocks = height;
    pr->seconds = busy;
    pr->cpu_seconds = busy_cpu;
    pr->digest_seconds = digest_s;
    free(evs);
    free(integ);
    free(block);
    free(batch);
    certa_state_free(s);
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t total = argc > 1 ? strtoull(argv[1], NULL, 10) : 4000000ull;
    if (total < BLOCK_EVENTS)
        total = BLOCK_EVENTS;
    fx_genesis fx;
    fx_genesis_init(&fx);
    fx.g.params.rules = 2; /* as `certa genesis` writes it */
    pass_result rp, ap;
    memset(&rp, 0, sizeof rp);
    memset(&ap, 0, sizeof ap);
    if (run_pass(&fx, total, true, &rp) != 0 || run_pass(&fx, total, false, &ap) != 0) {
        fprintf(stderr, "bench_state: failed\n");
        return 3;
    }
    if (memcmp(rp.digest, ap.digest, CERTA_HASH_BYTES) != 0 || rp.ok != ap.ok) {
        fprintf(stderr, "bench_state: replay and apply disagree\n");
        return 3;
    }
    /* every event but the wrong codes (one grant in twenty) is ok: a
     * workload the rules refuse would measure the refusals instead */
    if (rp.ok * 10 < rp.events * 9) {
        fprintf(stderr, "bench_state: only %llu of %llu events ok: the workload no longer "
                        "fits the rules\n", (unsigned long long)rp.ok,
                (unsigned long long)rp.events);
        return 3;
    }
    const certa_state_mem *m = &rp.mem;
    char hex[65];
    certa_hex_encode(rp.digest, 32, hex);
    printf("events %llu\n", (unsigned long long)rp.events);
    printf("events_ok %llu\n", (unsigned long long)rp.ok);
    printf("blocks %llu\n", (unsigned long long)rp.blocks);
    printf("replay_seconds %.3f\n", rp.seconds);
    printf("replay_events_per_s %.0f\n", (double)rp.events / rp.seconds);
    printf("replay_events_per_cpu_s %.0f\n", (double)rp.events / rp.cpu_seconds);
    printf("apply_events_per_s %.0f\n", (double)ap.events / ap.seconds);
    printf("apply_events_per_cpu_s %.0f\n", (double)ap.events / ap.cpu_seconds);
    printf("digest_seconds %.3f\n", rp.digest_seconds);
    /* the cold store's share (LMDB writes at each block's end, no fsync:
     * a temporary store) and the rest, the hot path */
    double cold_s = (double)rp.cold.write_ns * 1e-9;
    printf("cold_write_seconds %.3f\n", cold_s);
    printf("cold_write_us_per_event %.3f\n", cold_s * 1e6 / (double)rp.events);
    printf("cold_disk_bytes_per_event %.1f\n", (double)rp.cold.disk_bytes / (double)rp.events);
    printf("replay_hot_events_per_s %.0f\n", (double)rp.events / (rp.seconds - cold_s));
    printf("cold_write_cpu_us_per_event %.3f\n", (double)rp.cold.write_cpu_ns * 1e-3 / (double)rp.events);
    /* the store's writer thread: the LMDB transactions themselves */
    printf("cold_writer_cpu_us_per_event %.3f\n",
           (double)rp.cold.writer_cpu_ns * 1e-3 / (double)rp.events);
    printf("cold_writer_busy_share %.3f\n", (double)rp.cold.writer_ns * 1e-9 / rp.seconds);
    printf("replay_hot_events_per_cpu_s %.0f\n",
           (double)rp.events / (rp.cpu_seconds - (double)rp.cold.write_cpu_ns * 1e-9));
    printf("grants %u\n", m->grants);
    printf("holders %u\n", m->holders);
    printf("state_bytes_per_grant %.1f\n", (double)m->grant_bytes / m->grants);
    printf("record_bytes_per_event %.1f\n", (double)m->record_bytes / (double)m->records);
    printf("total_bytes_per_grant %.1f\n",
           (double)(m->grant_bytes + m->record_bytes) / m->grants);
    printf("digest %s\n", hex);
    return 0;
}
