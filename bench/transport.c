/* bench/transport: throughput of the validator transport (ZeroMQ over tcp
 * loopback with CURVE encryption, net/transport.c) for several message
 * sizes, against plain ZeroMQ DEALER -> ROUTER without CURVE measured in the
 * same run (the limit: what the copies and syscalls alone cost).
 * One sender thread, one receiver thread. Output: `name value` lines.
 *   bench_transport [--seconds S]   (default 2 per measurement)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "../net/transport.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct rx {
    certa_transport *t;
    void *sock; /* plain mode */
    volatile int stop;
    uint64_t msgs, bytes;
} rx;

static void on_msg(void *ctx, uint32_t from, const uint8_t *b, size_t len)
{
    (void)from;
    (void)b;
    rx *r = ctx;
    r->msgs++;
    r->bytes += len;
}

static void *rx_main(void *arg)
{
    rx *r = arg;
    while (!r->stop) {
        if (r->t != NULL) {
            certa_transport_poll(r->t, 10, on_msg, r);
        } else {
            zmq_pollitem_t it = { r->sock, 0, ZMQ_POLLIN, 0 };
            if (zmq_poll(&it, 1, 10) <= 0)
                continue;
            for (int k = 0; k < 4096; k++) {
                zmq_msg_t m;
                zmq_msg_init(&m);
                if (zmq_msg_recv(&m, r->sock, ZMQ_DONTWAIT) < 0) {
                    zmq_msg_close(&m);
                    break;
                }
                if (!zmq_msg_more(&m)) {
                    r->msgs++;
                    r->bytes += zmq_msg_size(&m);
                }
                zmq_msg_close(&m);
            }
        }
    }
    return NULL;
}

static void noop_event(void *ctx, uint32_t peer, certa_transport_event ev, const char *t)
{
    (void)ctx;
    (void)peer;
    (void)ev;
    (void)t;
}

static double run_certa(size_t size, double seconds, double *mbps)
{
    char pub[2][41], sec[2][41];
    for (int i = 0; i < 2; i++)
        zmq_curve_keypair(pub[i], sec[i]);
    certa_transport *t[2];
    for (uint32_t i = 0; i < 2; i++) {
        certa_transport_config c = { .self = i, .validator_count = 2,
                                     .curve_pub = (const char(*)[41])pub,
                                     .curve_secret = sec[i],
                                     .bind_endpoint = "tcp://127.0.0.1:*" };
        if (certa_transport_open(&c, noop_event, NULL, &t[i], NULL) != CERTA_OK) {
            fprintf(stderr, "bench_transport: open failed\n");
            exit(3);
        }
    }
    certa_transport_connect(t[1], 0, certa_transport_endpoint(t[0]), NULL);
    rx r = { .t = t[0] };
    pthread_t th;
    pthread_create(&th, NULL, rx_main, &r);
    double end = now_s() + 5;
    while (!certa_transport_peer_up(t[1], 0) && now_s() < end)
        certa_transport_poll(t[1], 5, on_msg, &r);
    uint8_t *buf = calloc(1, size);
    double t0 = now_s(), stop = t0 + seconds;
    uint64_t sent = 0;
    while (now_s() < stop) {
        for (int k = 0; k < 256; k++) {
            if (certa_transport_send(t[1], 0, buf, size) == CERTA_OK)
                sent++;
            else
                certa_transport_poll(t[1], 0, on_msg, &r);
        }
    }
    uint64_t got = r.msgs;
    double el = now_s() - t0;
    r.stop = 1;
    pthread_join(th, NULL);
    (void)sent;
    free(buf);
    certa_transport_close(t[1]);
    certa_transport_close(t[0]);
    *mbps = (double)got * (double)size / el / 1e6;
    return (double)got / el;
}

static double run_plain(size_t size, double seconds, double *mbps)
{
    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    int hwm = 1024, linger = 0;
    zmq_setsockopt(router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_bind(router, "tcp://127.0.0.1:*");
    char ep[256];
    size_t epl = sizeof ep;
    zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, ep, &epl);
    zmq_connect(dealer, ep);
    rx r = { .sock = router };
    pthread_t th;
    pthread_create(&th, NULL, rx_main, &r);
    uint8_t *buf = calloc(1, size);
    uint8_t hdr[8] = { 0 };
    double t0 = now_s(), stop = t0 + seconds;
    while (now_s() < stop) {
        for (int k = 0; k < 256; k++) {
            /* Same shape as the transport: header frame + body frame. */
            if (zmq_send(dealer, hdr, sizeof hdr, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
                zmq_send(dealer, buf, size, ZMQ_DONTWAIT);
        }
    }
    uint64_t got = r.msgs;
    double el = now_s() - t0;
    r.stop = 1;
    pthread_join(th, NULL);
    free(buf);
    zmq_close(dealer);
    zmq_close(router);
    zmq_ctx_term(ctx);
    *mbps = (double)got * (double)size / el / 1e6;
    return (double)got / el;
}

int main(int argc, char **argv)
{
    double seconds = 2;
    if (argc == 3 && strcmp(argv[1], "--seconds") == 0)
        seconds = atof(argv[2]);
    if (seconds <= 0 || seconds > 60) {
        fprintf(stderr, "usage: bench_transport [--seconds S]\n");
        return 2;
    }
    static const size_t sizes[] = { 256, 4096, 65536 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        double pm, cm;
        double p = run_plain(sizes[i], seconds, &pm);
        double c = run_certa(sizes[i], seconds, &cm);
        printf("plain_zmq_msgs_per_s_%zu %.0f\n", sizes[i], p);
        printf("plain_zmq_mb_per_s_%zu %.1f\n", sizes[i], pm);
        printf("transport_curve_msgs_per_s_%zu %.0f\n", sizes[i], c);
        printf("transport_curve_mb_per_s_%zu %.1f\n", sizes[i], cm);
        printf("transport_curve_ratio_%zu %.2f\n", sizes[i], p > 0 ? c / p : 0.0);
        fflush(stdout);
    }
    return 0;
}
