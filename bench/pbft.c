/* bench_pbft: the PBFT core's own cost, in-process, with null crypto (sign
 * writes zeros, verify says yes), a trivial application and a lossless FIFO
 * network: n replicas, a primary kept saturated with 32-byte requests,
 * blocks of B requests. Prints committed blocks/s, requests/s and
 * messages/s (messages handed between replicas) per n, per second of
 * process CPU time (the wall time is printed too).
 * It also counts the heap allocations (malloc, calloc, realloc) made inside
 * certa_pbft_step, per committed block: the link wraps those functions
 * (-Wl,--wrap, CMakeLists.txt), and only calls made while a replica steps
 * are counted, not the bench's own queue nor certa_pbft_create.
 * Usage: bench_pbft [blocks per run (default 20000)] [batch (default 16)]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certa/pbft.h"

typedef struct msg {
    uint16_t to;
    uint8_t *b;
    size_t len;
} msg;

static msg *q;
static size_t qh, qt, qcap;
static uint64_t delivered[64];
static uint64_t msgs;

/* ---- allocation counter (the link passes every call through here) */
void *__real_malloc(size_t size);
void *__real_calloc(size_t nmemb, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t nmemb, size_t size);
void *__wrap_realloc(void *p, size_t size);

static bool counting; /* true while a replica steps */
static uint64_t allocs;

void *__wrap_malloc(size_t size)
{
    allocs += counting;
    return __real_malloc(size);
}

void *__wrap_calloc(size_t nmemb, size_t size)
{
    allocs += counting;
    return __real_calloc(nmemb, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    allocs += counting;
    return __real_realloc(p, size);
}

static certa_pbft_actions step(certa_pbft *r, const certa_pbft_input *in,
                               uint64_t now)
{
    counting = true;
    certa_pbft_actions a = certa_pbft_step(r, in, (certa_pbft_time){now, now});
    counting = false;
    return a;
}

static void null_sign(void *ctx, const uint8_t *m, size_t len, uint8_t sig[64])
{
    (void)ctx;
    (void)m;
    (void)len;
    memset(sig, 0, 64);
}

static bool null_verify(void *ctx, uint16_t s, const uint8_t *m, size_t len,
                        const uint8_t sig[64])
{
    (void)ctx;
    (void)s;
    (void)m;
    (void)len;
    (void)sig;
    return true;
}

static bool v_req(void *ctx, const certa_pbft_request *r)
{
    (void)ctx;
    return r->len > 0;
}

static void build(void *ctx, const certa_block_header *p, certa_block_header *h,
                  const certa_pbft_request *r, size_t n)
{
    (void)ctx;
    (void)p;
    (void)r;
    h->event_count = (uint32_t)n;
    h->batch_count = (uint32_t)n;
}

static bool v_block(void *ctx, const certa_block_header *h,
                    const certa_pbft_request *r, size_t n)
{
    (void)ctx;
    (void)r;
    return h->event_count == n;
}

static void push(uint16_t to, const uint8_t *b, size_t len)
{
    if (qt - qh == qcap || qcap == 0) {
        size_t ncap = qcap ? qcap * 2 : 4096;
        msg *nq = malloc(ncap * sizeof *nq);
        for (size_t i = 0; i < qt - qh; i++)
            nq[i] = q[(qh + i) % qcap];
        free(q);
        q = nq;
        qt -= qh;
        qh = 0;
        qcap = ncap;
    }
    msg *m = &q[qt++ % qcap];
    m->to = to;
    m->b = malloc(len);
    memcpy(m->b, b, len);
    m->len = len;
}

static void act(uint16_t n, uint16_t id, certa_pbft_actions a)
{
    for (size_t i = 0; i < a.count; i++) {
        const certa_pbft_action *x = &a.items[i];
        if (x->kind == CERTA_PBFT_ACT_SEND)
            push(x->to, x->bytes, x->len);
        else if (x->kind == CERTA_PBFT_ACT_BROADCAST) {
            for (uint16_t j = 0; j < n; j++)
                if (j != id)
                    push(j, x->bytes, x->len);
        } else if (x->kind == CERTA_PBFT_ACT_DELIVER)
            delivered[id]++;
    }
}

static double now_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void run(uint16_t n, uint64_t blocks, uint32_t batch)
{
    certa_pbft *r[64];
    for (uint16_t i = 0; i < n; i++) {
        certa_pbft_config c;
        certa_pbft_config_default(&c, n, i);
        c.batch_requests_max = batch;
        c.batch_timeout_ms = 1;
        c.crypto = (certa_pbft_crypto){NULL, null_sign, null_verify};
        c.app = (certa_pbft_app){.validate_request = v_req,
                                 .build_block = build,
                                 .validate_block = v_block};
        if (certa_pbft_create(&c, &r[i], NULL) != CERTA_OK) {
            fprintf(stderr, "create failed\n");
            exit(3);
        }
        delivered[i] = 0;
    }
    msgs = 0;
    allocs = 0;
    /* the second half of the run: buffers that take their storage at first
     * use have it by then, so this is the steady state */
    uint64_t allocs_half = 0, blocks_half = 0;
    uint64_t now = 1000, next_req = 1;
    uint8_t body[32];
    memset(body, 'x', sizeof body);
    double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    while (delivered[n - 1] < blocks) {
        /* keep the primary's pool fed: a few blocks' worth ahead */
        uint64_t target = (delivered[0] + 8) * batch;
        while (next_req <= target + 4u * batch) {
            certa_pbft_input in = {CERTA_PBFT_IN_REQUEST, body, sizeof body, 1, next_req};
            memcpy(body, &next_req, sizeof next_req);
            act(n, 0, step(r[0], &in, now));
            next_req++;
        }
        size_t end = qt;
        while (qh < end) {
            msg m = q[qh++ % qcap];
            certa_pbft_input in = {CERTA_PBFT_IN_MESSAGE, m.b, m.len, 0, 0};
            act(n, m.to, step(r[m.to], &in, now));
            free(m.b);
            msgs++;
        }
        if (blocks_half == 0 && delivered[n - 1] >= blocks / 2) {
            blocks_half = delivered[n - 1];
            allocs_half = allocs;
        }
        now++;
        for (uint16_t i = 0; i < n; i++) {
            certa_pbft_input t = {CERTA_PBFT_IN_TICK, NULL, 0, 0, 0};
            act(n, i, step(r[i], &t, now));
        }
    }
    double dt = now_s(CLOCK_MONOTONIC) - t0;
    double ct = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    /* per CPU second: on a shared machine wall time also counts other
     * processes' turns */
    printf("n=%-2u batch=%-3u blocks=%" PRIu64 "  %8.0f blocks/s  %9.0f requests/s  "
           "%9.0f messages/s per CPU second  (cpu %.2f s, wall %.2f s)\n",
           n, batch, delivered[n - 1], (double)delivered[n - 1] / ct,
           (double)delivered[n - 1] * batch / ct, (double)msgs / ct, ct, dt);
    /* all n replicas together, per block committed at the last one */
    printf("      allocations in certa_pbft_step: %" PRIu64 " total, %.2f per "
           "committed block (all %u replicas), %.3f per message; second half: "
           "%.3f per block\n",
           allocs, (double)allocs / (double)delivered[n - 1], n,
           (double)allocs / (double)msgs,
           (double)(allocs - allocs_half) /
               (double)(delivered[n - 1] - blocks_half + (delivered[n - 1] == blocks_half)));
    while (qh < qt)
        free(q[qh++ % qcap].b);
    for (uint16_t i = 0; i < n; i++)
        certa_pbft_free(r[i]);
}

int main(int argc, char **argv)
{
    uint64_t blocks = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    uint32_t batch = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 16;
    if (blocks == 0 || batch == 0 || batch > CERTA_PBFT_BLOCK_REQUESTS_MAX) {
        fprintf(stderr, "usage: bench_pbft [blocks] [batch]\n");
        return 2;
    }
    printf("PBFT core, null crypto, FIFO network, one thread\n");
    uint16_t ns[3] = {4, 7, 10};
    for (int i = 0; i < 3; i++)
        run(ns[i], blocks, batch);
    free(q);
    return 0;
}
