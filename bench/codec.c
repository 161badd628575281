/* bench_codec: throughput of the codec on this machine: event encode and
 * decode, batch decode (framing + every event + digest), batch build+sign,
 * JSON event parse. Usage: bench_codec [iterations_scale] (default 1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/unit/sample_events.h"
#include "certa/codec.h"
#include "certa/crypto.h"
#include "certa/event_json.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const unsigned kinds[] = {CERTA_EV_GRANT, CERTA_EV_REDEEM, CERTA_EV_CONFIRM,
                                 CERTA_EV_SIGN,  CERTA_EV_PHOTO,  CERTA_EV_REVOKE};

int main(int argc, char **argv)
{
    long scale = argc > 1 ? atol(argv[1]) : 1;
    if (scale < 1)
        scale = 1;
    certa_event evs[6];
    uint8_t bytes[6][CERTA_EVENT_BYTES_MAX];
    size_t lens[6];
    for (int i = 0; i < 6; i++) {
        evs[i] = sample_event(kinds[i], (uint8_t)i, 2);
        certa_err ee = certa_event_encode(&evs[i], bytes[i], CERTA_EVENT_BYTES_MAX, &lens[i],
                                          NULL);
        CERTA_ASSERT(ee == CERTA_OK);
    }
    long n = 1000000 * scale;
    volatile size_t sink = 0;

    double t = now_s();
    for (long i = 0; i < n; i++) {
        size_t len;
        certa_event_encode(&evs[i % 6], bytes[i % 6], CERTA_EVENT_BYTES_MAX, &len, NULL);
        sink += len;
    }
    double dt = now_s() - t;
    printf("event encode (mix of 6 kinds): %.2f M events/s\n", (double)n / dt / 1e6);

    t = now_s();
    for (long i = 0; i < n; i++) {
        certa_event ev;
        sink += certa_event_decode(bytes[i % 6], lens[i % 6], &ev, NULL);
    }
    dt = now_s() - t;
    printf("event decode (mix of 6 kinds): %.2f M events/s\n", (double)n / dt / 1e6);

    size_t cap = CERTA_BATCH_BYTES_MAX;
    uint8_t *buf = malloc(cap);
    uint8_t seed[32] = {1};
    certa_key *k = NULL;
    certa_err rc = certa_key_from_seed(seed, &k, NULL);
    CERTA_ASSERT(rc == CERTA_OK);
    long batches = 200 * scale;
    unsigned per = 1000;
    t = now_s();
    certa_batch_builder bb;
    for (long b = 0; b < batches; b++) {
        certa_batch_begin(&bb, buf, cap, 1, (uint64_t)b + 1);
        for (unsigned i = 0; i < per; i++) {
            rc = certa_batch_add(&bb, &evs[i % 6], NULL);
            CERTA_ASSERT(rc == CERTA_OK);
        }
        rc = certa_batch_sign(&bb, k, NULL);
        CERTA_ASSERT(rc == CERTA_OK);
    }
    dt = now_s() - t;
    printf("batch build+sign (%u events, %zu bytes): %.0f batches/s, %.2f M events/s\n", per,
           bb.len, (double)batches / dt, (double)batches * per / dt / 1e6);

    t = now_s();
    for (long b = 0; b < batches; b++) {
        certa_batch_view v;
        rc = certa_batch_decode(buf, bb.len, &v, NULL);
        CERTA_ASSERT(rc == CERTA_OK);
        sink += v.event_count;
    }
    dt = now_s() - t;
    printf("batch decode (%u events, %zu bytes): %.0f batches/s, %.2f M events/s, %.0f MB/s\n",
           per, bb.len, (double)batches / dt, (double)batches * per / dt / 1e6,
           (double)batches * (double)bb.len / dt / 1e6);

    char *texts[6];
    for (int i = 0; i < 6; i++) {
        texts[i] = certa_event_format_json(&evs[i], NULL);
        CERTA_ASSERT(texts[i] != NULL);
    }
    long nj = 200000 * scale;
    t = now_s();
    for (long i = 0; i < nj; i++) {
        certa_event ev;
        sink += certa_event_parse_json(texts[i % 6], strlen(texts[i % 6]), &ev, NULL, NULL);
    }
    dt = now_s() - t;
    printf("JSON event parse (mix of 6 kinds): %.0f k events/s\n", (double)nj / dt / 1e3);
    for (int i = 0; i < 6; i++)
        free(texts[i]);
    free(buf);
    certa_key_free(k);
    return sink == 0xdeadbeef;
}
