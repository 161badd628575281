/* Tests for net/client_proto.c: the client library against an in-process
 * fake validator (a thread serving the validator-side socket): submit with
 * ACCEPTED then RECEIPT, error replies, BUSY with retry, silence with resend,
 * deadlines, bounded retries, the window, failover, garbage at the door, and
 * the frame codec's round trips and refusals. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "cp_server.h" /* the validator end; includes certa/client.h */

typedef struct fake {
    certa_cp_server *srv;
    pthread_t th;
    volatile int stop;
    char pub[41], sec[41];
    int attempts[16]; /* per batch tag byte */
    int protocol_errors;
    volatile int silent; /* connected, but answers nothing */
} fake;

static void fake_handle(fake *f, certa_cp_request *rq)
{
    if (f->silent)
        return;
    if (rq->header.type == CERTA_CP_QUERY) {
        certa_cp_query q;
        if (certa_cp_query_decode(rq->body, rq->body_len, &q, NULL) != CERTA_OK) {
            certa_cp_server_error(f->srv, rq->peer, rq->peer_len, rq->header.request_id,
                                  CERTA_E_PROTOCOL, false, 0, "bad query");
            return;
        }
        char json[128];
        int n = snprintf(json + 1, sizeof json - 1, "{\"height\":42,\"kind\":\"%s\"}",
                         certa_query_kind_name(q.kind));
        json[0] = (char)q.kind;
        certa_cp_server_reply(f->srv, rq->peer, rq->peer_len, CERTA_CP_QUERY_RESULT,
                              rq->header.request_id, json, (size_t)n + 1);
        return;
    }
    /* SUBMIT: the first body byte says how to behave, the second is a tag. */
    if (rq->body_len < 2)
        return;
    unsigned mode = rq->body[0], tag = rq->body[1] % 16;
    int attempt = ++f->attempts[tag];
    uint64_t id = rq->header.request_id;
    switch (mode) {
    case 'b': /* busy for the first two attempts */
    case 'B': /* busy forever */
        if (mode == 'B' || attempt <= 2) {
            certa_cp_server_error(f->srv, rq->peer, rq->peer_len, id, CERTA_E_BUSY,
                                  true, 20, "queue full");
            return;
        }
        break;
    case 'x':
        certa_cp_server_error(f->srv, rq->peer, rq->peer_len, id, CERTA_E_BAD_SIGNATURE,
                              false, 0, "batch signature does not verify");
        return;
    case 's': /* silent forever */
        return;
    case 'd': /* ignore the first attempt */
        if (attempt == 1)
            return;
        break;
    case 'r': { /* accept the first attempt but lose its receipt */
        if (attempt == 1) {
            certa_cp_accepted a = { .integrator = 3, .seq = 100 + tag, .event_count = 1 };
            uint8_t ab[CERTA_CP_ACCEPTED_BYTES];
            certa_cp_accepted_encode(&a, ab);
            certa_cp_server_reply(f->srv, rq->peer, rq->peer_len, CERTA_CP_ACCEPTED, id,
                                  ab, sizeof ab);
            return;
        }
        break;
    }
    default:
        break;
    }
    certa_cp_accepted a = { .integrator = 3, .seq = 100 + tag, .event_count = 1 };
    uint8_t ab[CERTA_CP_ACCEPTED_BYTES];
    certa_cp_accepted_encode(&a, ab);
    certa_cp_server_reply(f->srv, rq->peer, rq->peer_len, CERTA_CP_ACCEPTED, id, ab, sizeof ab);
    char rc[64];
    int n = snprintf(rc, sizeof rc, "receipt-%u", tag);
    certa_cp_server_reply(f->srv, rq->peer, rq->peer_len, CERTA_CP_RECEIPT, id, rc, (size_t)n);
}

static void *fake_main(void *arg)
{
    fake *f = arg;
    while (!f->stop) {
        zmq_pollitem_t it = { certa_cp_server_socket(f->srv), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&it, 1, 5) <= 0)
            continue;
        for (;;) {
            certa_cp_request rq;
            certa_err e = certa_cp_server_recv(f->srv, &rq, NULL);
            if (e == CERTA_E_NOTFOUND)
                break;
            if (e == CERTA_E_PROTOCOL) {
                f->protocol_errors++;
                continue;
            }
            cr_assert_eq(e, CERTA_OK);
            fake_handle(f, &rq);
            certa_cp_request_release(&rq);
        }
    }
    return NULL;
}

static void fake_start(fake *f)
{
    memset(f, 0, sizeof *f);
    cr_assert_eq(zmq_curve_keypair(f->pub, f->sec), 0);
    certa_errinfo ei;
    cr_assert_eq(certa_cp_server_open(NULL, "tcp://127.0.0.1:*", f->sec, 0, &f->srv, &ei),
                 CERTA_OK, "%s", ei.msg);
    cr_assert_eq(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(fake *f)
{
    f->stop = 1;
    pthread_join(f->th, NULL);
    certa_cp_server_close(f->srv);
}

static certa_client *client_for(fake *f, uint32_t window, uint32_t deadline_ms,
                                uint32_t attempt_ms, uint32_t retries)
{
    const char *ep[1] = { certa_cp_server_endpoint(f->srv) };
    const char *key[1] = { f->pub };
    certa_client_opts o = { .endpoint_count = 1, .endpoints = ep, .server_keys = key,
                            .window = window, .deadline_ms = deadline_ms,
                            .attempt_timeout_ms = attempt_ms, .retries_max = retries,
                            .retry_base_ms = 5 };
    certa_client *c = NULL;
    certa_errinfo ei;
    cr_assert_eq(certa_client_open(&o, &c, &ei), CERTA_OK, "%s", ei.msg);
    return c;
}

/* Polls until the request's final reply; counts ACCEPTED replies seen. */
static certa_client_reply wait_final(certa_client *c, uint64_t id, int *accepted)
{
    certa_client_reply r;
    for (int i = 0; i < 1000; i++) {
        certa_err e = certa_client_poll(c, 100, &r);
        if (e == CERTA_E_TIMEOUT)
            continue;
        cr_assert_eq(e, CERTA_OK, "poll: %s", certa_strerror(e));
        cr_assert_eq(r.request_id, id);
        if (r.type == CERTA_CP_ACCEPTED && accepted)
            (*accepted)++;
        if (r.final)
            return r;
    }
    cr_assert_fail("no final reply");
    return r;
}

Test(client, submit_gets_accepted_then_receipt)
{
    fake f;
    fake_start(&f);
    certa_client *c = client_for(&f, 8, 5000, 1000, 3);
    uint64_t id;
    uint8_t batch[] = { 'o', 1, 0xaa };
    cr_assert_eq(certa_client_submit(c, batch, sizeof batch, 77, &id), CERTA_OK);
    cr_assert_eq(certa_client_outstanding(c), 1);
    int acc = 0;
    certa_client_reply r = wait_final(c, id, &acc);
    cr_assert_eq(acc, 1);
    cr_assert_eq(r.type, CERTA_CP_RECEIPT);
    cr_assert_eq(r.tag, 77);
    cr_assert_eq(r.body_len, 9);
    cr_assert_eq(memcmp(r.body, "receipt-1", 9), 0);
    cr_assert_eq(certa_client_outstanding(c), 0);
    cr_assert_eq(certa_client_poll(c, 10, &r), CERTA_E_NOTFOUND);
    certa_client_close(c);
    fake_stop(&f);
}

Test(client, non_retryable_error_is_final)
{
    fake f;
    fake_start(&f);
    certa_client *c = client_for(&f, 8, 5000, 1000, 3);
    uint64_t id;
    uint8_t batch[] = { 'x', 2 };
    cr_assert_eq(certa_client_submit(c, batch, sizeof batch, 0, &id), CERTA_OK);
    certa_client_reply r = wait_final(c, id, NULL);
    cr_assert_eq(r.type, CERTA_CP_ERROR);
    cr_assert_eq(r.error.code, CERTA_E_BAD_SIGNATURE);
    cr_assert(!r.error.retryable);
    cr_assert_str_eq(r.error.message, "batch signature does not verify");
    cr_assert_eq(r.attempts, 1);
    cr_assert_eq(f.attempts[2], 1, "a non-retryable error is not retried");
    certa_client_close(c);
    fake_stop(&f);
}

Test(client, busy_is_retried_after_the_hint)
{
    fake f;
    fake_start(&f);
    certa_client *c = client_for(&f, 8, 5000, 1000, 3);
    uint64_t id;
    uint8_t batch[] = { 'b', 3 };
    cr_assert_eq(certa_client_submit(c, batch, sizeof batch, 0, &id), CERTA_OK);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    certa_client_reply r = wait_final(c, id, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    cr_assert_eq(r.type, CERTA_CP_RECEIPT);
    cr_assert_eq(r.attempts, 3);
    cr_assert_eq(f.attempts[3], 3);
    cr_assert_geq(ms, 40.0, "two BUSY replies with a 20 ms hint took %.1f ms", ms);
    certa_client_close(c);
    fake_stop(&f);
}

Test(client, busy_forever_gives_up_after_bounded_retries)
{
    fake f;
    fake_start(&f);
    certa_client *c = client_for(&f, 8, 10000, 1000, 4);
    uint64_t id;
    uint8_t batch[] = { 'B', 4 };
    cr_assert_eq(certa_client_submit(c, batch, sizeof batch, 0, &id), CERTA_OK);
    certa_client_reply r = wait_final(c, id, NULL);
    cr_assert_eq(r.type, CERTA_CP_ERROR);
    cr_assert_eq(r.error.code, CERTA_E_BUSY);
    cr_assert_eq(f.attempts[4], 5, "1 send + 4 retries, got %d", f.attempts[4]);
    cr_assert_not_null(strstr(r.error.message, "gave up after 5 attempts"), "%s",
                       r.error.message);
    certa_client_close(c);
    fake_stop(&f);
}

Test(client, silence_is_resent_then_answered)
{
    fake f;
    fake_start(&f);
    certa_client *c = client_for(&f, 8, 5000, 50, 3);
    uint64_t id;
    uint8_t batch[] = { 'd', 5 };
    cr_assert_eq(certa_client_submit(c, batch, sizeof batch, 0, &id), CERTA_OK);
    certa_client_reply r = wait_final(c, id, NULL);
    cr_assert_eq(r.type, CERTA_CP_RECEIPT);
    /* Resent at least once; on busy cores the answer to the resend can
     * itself take longer than the 50 ms attempt timeout and cause a third. */
    cr_assert_geq(f.attempts[5], 2);
    certa_client_close(c);
    fake_stop(&f);
}

Test(client, lost_receipt_is_fetched_by_a_resend_after_accepted)
{
    fake f;
    fake_start(&f);
    /* One retry allowed before ACCEPTED; after it, resends are bounded by
     * the deadline only. */
    certa_client *c = client_for(&f, 8, 5000, 50, 1);
    uint64_t id;
    uint8_t batch[] = { 'r', 11 };
    cr_assert_eq(certa_client_submit(c, batch, sizeof batch, 0, &id), CERTA_OK);
    int acc = 0;
    certa_client_reply r = wait_final(c, id, &acc);
    cr_assert_eq(r.type, CERTA_CP_RECEIPT);
    cr_assert_eq(acc, 1, "ACCEPTED is reported once");
    cr_assert_geq(f.attempts[11], 2); /* one resend, or more on busy cores */
    certa_client_close(c);
    fake_stop(&f);
}

Test(client, deadline_ends_a_silent_request)
{
    fake f;
    fake_start(&f);
    certa_client *c = client_for(&f, 8, 300, 1000, 3);
    uint64_t id;
    uint8_t batch[] = { 's', 6 };
    cr_assert_eq(certa_client_submit(c, batch, sizeof batch, 0, &id), CERTA_OK);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    certa_client_reply r = wait_final(c, id, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    cr_assert_eq(r.type, CERTA_CP_ERROR);
    cr_assert_eq(r.error.code, CERTA_E_TIMEOUT);
    cr_assert_geq(ms, 290.0);
    /* ended by the deadline: without it, four 1,000 ms attempts would run */
    cr_assert_lt(ms, 2500.0);
    cr_assert_eq(certa_client_outstanding(c), 0);
    certa_client_close(c);
    fake_stop(&f);
}

Test(client, window_is_bounded)
{
    fake f;
    fake_start(&f);
    certa_client *c = client_for(&f, 4, 5000, 1000, 3);
    uint8_t batch[] = { 'o', 7 };
    uint64_t ids[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(certa_client_submit(c, batch, sizeof batch, (uint64_t)i, &ids[i]), CERTA_OK);
    uint64_t extra;
    cr_assert_eq(certa_client_submit(c, batch, sizeof batch, 9, &extra), CERTA_E_BUSY);
    int finals = 0;
    certa_client_reply r;
    while (finals < 4) {
        certa_err e = certa_client_poll(c, 2000, &r);
        cr_assert_eq(e, CERTA_OK);
        if (r.final)
            finals++;
    }
    cr_assert_eq(certa_client_submit(c, batch, sizeof batch, 9, &extra), CERTA_OK);
    certa_client_close(c);
    fake_stop(&f);
}

Test(client, query_status)
{
    fake f;
    fake_start(&f);
    certa_client *c = client_for(&f, 8, 5000, 1000, 3);
    certa_cp_query q = { .kind = CERTA_QUERY_STATUS };
    uint64_t id;
    cr_assert_eq(certa_client_query(c, &q, 0, &id), CERTA_OK);
    certa_client_reply r = wait_final(c, id, NULL);
    cr_assert_eq(r.type, CERTA_CP_QUERY_RESULT);
    cr_assert_eq(r.body[0], CERTA_QUERY_STATUS);
    cr_assert_not_null(strstr((const char *)r.body + 1, "\"status\""));
    certa_client_close(c);
    fake_stop(&f);
}

Test(client, failover_to_the_live_validator)
{
    fake f;
    fake_start(&f);
    /* Endpoint 0 has nobody listening (a port we bind then release). */
    void *ctx = zmq_ctx_new();
    void *tmp = zmq_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmq_bind(tmp, "tcp://127.0.0.1:*"), 0);
    char dead[256];
    size_t dl = sizeof dead;
    zmq_getsockopt(tmp, ZMQ_LAST_ENDPOINT, dead, &dl);
    zmq_close(tmp);
    zmq_ctx_term(ctx);
    const char *ep[2] = { dead, certa_cp_server_endpoint(f.srv) };
    const char *key[2] = { f.pub, f.pub };
    certa_client_opts o = { .endpoint_count = 2, .endpoints = ep, .server_keys = key,
                            .deadline_ms = 30000, .attempt_timeout_ms = 100 };
    certa_client *c = NULL;
    cr_assert_eq(certa_client_open(&o, &c, NULL), CERTA_OK);
    for (int i = 0; i < 4; i++) {
        uint8_t batch[] = { 'o', (uint8_t)(8 + i) };
        uint64_t id;
        cr_assert_eq(certa_client_submit(c, batch, sizeof batch, 0, &id), CERTA_OK);
        certa_client_reply r = wait_final(c, id, NULL);
        cr_assert_eq(r.type, CERTA_CP_RECEIPT);
        cr_assert_eq(r.endpoint, 1);
    }
    certa_client_close(c);
    fake_stop(&f);
}

/* A sticky client (the gateway's reads) starts each request at the
 * validator that last answered: with one validator silent, only the first
 * request waits out an attempt; a spreading client pays it on every other
 * request. */
Test(client, sticky_client_pays_a_silent_validator_once)
{
    fake hung, f;
    fake_start(&hung);
    hung.silent = 1; /* a validator up but stuck: the client waits it out */
    fake_start(&f);
    const char *ep[2] = { certa_cp_server_endpoint(hung.srv), certa_cp_server_endpoint(f.srv) };
    const char *key[2] = { hung.pub, f.pub };
    for (int sticky = 0; sticky < 2; sticky++) {
        certa_client_opts o = { .endpoint_count = 2, .endpoints = ep, .server_keys = key,
                                .deadline_ms = 30000, .attempt_timeout_ms = 100,
                                .sticky = sticky != 0 };
        certa_client *c = NULL;
        cr_assert_eq(certa_client_open(&o, &c, NULL), CERTA_OK);
        uint32_t waited = 0;
        for (int i = 0; i < 8; i++) {
            certa_cp_query q = { .kind = CERTA_QUERY_STATUS };
            uint64_t id;
            cr_assert_eq(certa_client_query(c, &q, 0, &id), CERTA_OK);
            certa_client_reply r = wait_final(c, id, NULL);
            cr_assert_eq(r.type, CERTA_CP_QUERY_RESULT);
            cr_assert_eq(r.endpoint, 1);
            waited += r.attempts > 1; /* its first attempt went to the silent one */
        }
        if (sticky)
            cr_assert_leq(waited, 1, "sticky: %u of 8 queries waited", waited);
        else
            cr_assert_geq(waited, 4, "spread: %u of 8 queries waited", waited);
        certa_client_close(c);
    }
    fake_stop(&f);
    fake_stop(&hung);
}

Test(client, garbage_at_the_door_gets_an_error_reply)
{
    fake f;
    fake_start(&f);
    void *ctx = zmq_ctx_new();
    void *d = zmq_socket(ctx, ZMQ_DEALER);
    char pub[41], sec[41];
    zmq_curve_keypair(pub, sec);
    zmq_setsockopt(d, ZMQ_CURVE_SERVERKEY, f.pub, 40);
    zmq_setsockopt(d, ZMQ_CURVE_PUBLICKEY, pub, 40);
    zmq_setsockopt(d, ZMQ_CURVE_SECRETKEY, sec, 40);
    int rcvto = 3000, linger = 0;
    zmq_setsockopt(d, ZMQ_RCVTIMEO, &rcvto, sizeof rcvto);
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert_eq(zmq_connect(d, certa_cp_server_endpoint(f.srv)), 0);

    /* One frame of garbage, then a header with an unknown version. */
    zmq_send(d, "garbage", 7, 0);
    uint8_t hdr[16];
    certa_cp_header h = { 9, CERTA_CP_SUBMIT, 0, 1234 };
    certa_cp_header_encode(&h, hdr);
    zmq_send(d, hdr, 16, ZMQ_SNDMORE);
    zmq_send(d, "x", 1, 0);
    for (int k = 0; k < 2; k++) {
        uint8_t rh[16], body[2048];
        cr_assert_eq(zmq_recv(d, rh, sizeof rh, 0), 16);
        int bl = zmq_recv(d, body, sizeof body, 0);
        cr_assert_gt(bl, 0);
        certa_cp_header got;
        cr_assert_eq(certa_cp_header_decode(rh, 16, &got, NULL), CERTA_OK);
        cr_assert_eq(got.type, CERTA_CP_ERROR);
        cr_assert_eq(got.request_id, k == 0 ? 0u : 1234u);
        certa_cp_error e;
        cr_assert_eq(certa_cp_error_decode(body, (size_t)bl, &e, NULL), CERTA_OK);
        cr_assert_eq(e.code, CERTA_E_PROTOCOL);
        cr_assert(!e.retryable);
        if (k == 1)
            cr_assert_not_null(strstr(e.message, "version 9"), "%s", e.message);
    }
    zmq_close(d);
    zmq_ctx_term(ctx);
    cr_assert_eq(f.protocol_errors, 2);
    fake_stop(&f);
}

Test(client_codec, round_trips_and_refusals)
{
    uint8_t buf[16 + 10 + CERTA_CP_ERROR_MSG_MAX];
    certa_cp_header h = { CERTA_CP_VERSION, CERTA_CP_RECEIPT, 0, 0x0102030405060708ull }, g;
    certa_cp_header_encode(&h, buf);
    cr_assert_eq(certa_cp_header_decode(buf, 16, &g, NULL), CERTA_OK);
    cr_assert_eq(g.request_id, h.request_id);
    cr_assert_eq(certa_cp_header_decode(buf, 15, &g, NULL), CERTA_E_TRUNCATED);
    cr_assert_eq(certa_cp_header_decode(buf, 17, &g, NULL), CERTA_E_TRAILING);
    buf[5] = 99;
    cr_assert_eq(certa_cp_header_decode(buf, 16, &g, NULL), CERTA_E_BAD_KIND);
    buf[5] = CERTA_CP_RECEIPT;
    buf[6] = 1;
    cr_assert_eq(certa_cp_header_decode(buf, 16, &g, NULL), CERTA_E_RESERVED);
    buf[0] ^= 1;
    cr_assert_eq(certa_cp_header_decode(buf, 16, &g, NULL), CERTA_E_BAD_MAGIC);

    certa_cp_error e = { .code = CERTA_E_BUSY, .retryable = true, .retry_after_ms = 250 }, e2;
    strcpy(e.message, "queue full");
    size_t n = certa_cp_error_encode(&e, buf);
    cr_assert_eq(n, 20);
    cr_assert_eq(certa_cp_error_decode(buf, n, &e2, NULL), CERTA_OK);
    cr_assert_eq(e2.retry_after_ms, 250);
    cr_assert(e2.retryable);
    cr_assert_str_eq(e2.message, "queue full");
    cr_assert_eq(certa_cp_error_decode(buf, n - 1, &e2, NULL), CERTA_E_TRUNCATED);
    buf[2] = 3;
    cr_assert_eq(certa_cp_error_decode(buf, n, &e2, NULL), CERTA_E_RESERVED);

    certa_cp_query q = { .kind = CERTA_QUERY_BLOCK, .height = 99, .cursor = 7,
                         .limit = 3 }, q2;
    n = certa_cp_query_encode(&q, buf);
    cr_assert_eq(n, 21);
    /* byte by byte as docs/PROTOCOL.md says: kind, u64 height, u64 cursor, u32 limit */
    cr_assert_eq(buf[0], 3);
    cr_assert_eq(buf[1], 99);
    cr_assert_eq(buf[9], 7);
    cr_assert_eq(buf[17], 3);
    cr_assert_eq(certa_cp_query_decode(buf, n, &q2, NULL), CERTA_OK);
    cr_assert_eq(q2.height, 99);
    cr_assert_eq(q2.cursor, 7);
    cr_assert_eq(q2.limit, 3);
    cr_assert_eq(certa_cp_query_decode(buf, 9, &q2, NULL), CERTA_E_TRUNCATED);
    cr_assert_eq(certa_cp_query_decode(buf, n + 1, &q2, NULL), CERTA_E_TRAILING);
    buf[0] = 7;
    cr_assert_eq(certa_cp_query_decode(buf, n, &q2, NULL), CERTA_E_BAD_ENUM);
    certa_cp_query hq = { .kind = CERTA_QUERY_HOLDER, .cursor = 12345, .limit = 50 };
    memset(hq.holder_id, 0x77, 32);
    n = certa_cp_query_encode(&hq, buf);
    cr_assert_eq(n, 45);
    cr_assert_eq(certa_cp_query_decode(buf, n, &q2, NULL), CERTA_OK);
    cr_assert_eq(q2.cursor, 12345);
    cr_assert_eq(q2.limit, 50);
    cr_assert_eq(memcmp(q2.holder_id, hq.holder_id, 32), 0);
    cr_assert_eq(certa_cp_query_decode(buf, 33, &q2, NULL), CERTA_E_TRUNCATED);

    certa_cp_accepted a = { .integrator = 5, .seq = 77, .event_count = 12 }, a2;
    memset(a.digest, 0xcd, 32);
    certa_cp_accepted_encode(&a, buf);
    cr_assert_eq(certa_cp_accepted_decode(buf, CERTA_CP_ACCEPTED_BYTES, &a2, NULL), CERTA_OK);
    cr_assert_eq(a2.seq, 77);
    cr_assert_eq(a2.event_count, 12);
    cr_assert_eq(memcmp(a2.digest, a.digest, 32), 0);
    cr_assert_eq(certa_cp_accepted_decode(buf, 45, &a2, NULL), CERTA_E_TRUNCATED);
}

/* The integrator query's body: kind 5, u8 name length (1..63), the name;
 * anything else is refused (the validator answers ERROR 701). */
Test(client_codec, integrator_query)
{
    uint8_t buf[CERTA_CP_QUERY_BYTES_MAX + 2];
    certa_cp_query q = { .kind = CERTA_QUERY_INTEGRATOR }, q2;
    strcpy(q.name, "counter-dongcheng");
    size_t n = certa_cp_query_encode(&q, buf);
    cr_assert_eq(n, 2 + strlen("counter-dongcheng"));
    cr_assert_eq(buf[0], 5);
    cr_assert_eq(buf[1], strlen("counter-dongcheng"));
    cr_assert_eq(memcmp(buf + 2, "counter-dongcheng", buf[1]), 0);
    cr_assert_eq(certa_cp_query_decode(buf, n, &q2, NULL), CERTA_OK);
    cr_assert_eq(q2.kind, CERTA_QUERY_INTEGRATOR);
    cr_assert_str_eq(q2.name, "counter-dongcheng");
    cr_assert_str_eq(certa_query_kind_name(CERTA_QUERY_INTEGRATOR), "integrator");
    cr_assert_eq(certa_cp_query_decode(buf, n - 1, &q2, NULL), CERTA_E_TRUNCATED);
    cr_assert_eq(certa_cp_query_decode(buf, n + 1, &q2, NULL), CERTA_E_TRAILING);
    cr_assert_eq(certa_cp_query_decode(buf, 1, &q2, NULL), CERTA_E_TRUNCATED);
    buf[1] = 0;
    cr_assert_eq(certa_cp_query_decode(buf, 2, &q2, NULL), CERTA_E_BAD_FIELD);
    buf[1] = 64;
    cr_assert_eq(certa_cp_query_decode(buf, 66, &q2, NULL), CERTA_E_BAD_FIELD);
    buf[1] = 3;
    memcpy(buf + 2, "a\0b", 3);
    cr_assert_eq(certa_cp_query_decode(buf, 5, &q2, NULL), CERTA_E_BAD_FIELD);
    /* the longest name fills the largest body */
    memset(q.name, 'x', CERTA_CP_QUERY_NAME_MAX);
    q.name[CERTA_CP_QUERY_NAME_MAX] = '\0';
    n = certa_cp_query_encode(&q, buf);
    cr_assert_eq(n, CERTA_CP_QUERY_BYTES_MAX);
    cr_assert_eq(certa_cp_query_decode(buf, n, &q2, NULL), CERTA_OK);
    cr_assert_eq(strlen(q2.name), CERTA_CP_QUERY_NAME_MAX);
}

/* The checkpoint query's body: kind 6 alone. */
Test(client_codec, checkpoint_query)
{
    uint8_t buf[CERTA_CP_QUERY_BYTES_MAX];
    certa_cp_query q = { .kind = CERTA_QUERY_CHECKPOINT }, q2;
    size_t n = certa_cp_query_encode(&q, buf);
    cr_assert_eq(n, 1);
    cr_assert_eq(buf[0], 6);
    cr_assert_eq(certa_cp_query_decode(buf, n, &q2, NULL), CERTA_OK);
    cr_assert_eq(q2.kind, CERTA_QUERY_CHECKPOINT);
    cr_assert_str_eq(certa_query_kind_name(CERTA_QUERY_CHECKPOINT), "checkpoint");
    buf[1] = 0;
    cr_assert_eq(certa_cp_query_decode(buf, 2, &q2, NULL), CERTA_E_TRAILING);
    buf[0] = 7;
    cr_assert_eq(certa_cp_query_decode(buf, 1, &q2, NULL), CERTA_E_BAD_ENUM);
}

Test(client_codec, query_result_body)
{
    static const char doc[] = "{\"holder_id\":\"ab\",\"height\":7}";
    uint8_t buf[128];
    size_t n = certa_cp_query_result_encode(CERTA_QUERY_HOLDER, doc, strlen(doc), buf,
                                            sizeof buf);
    cr_assert_eq(n, 1 + strlen(doc));
    cr_assert_eq(buf[0], CERTA_QUERY_HOLDER);
    uint8_t kind;
    const char *j;
    size_t jl;
    cr_assert_eq(certa_cp_query_result_decode(buf, n, &kind, &j, &jl, NULL), CERTA_OK);
    cr_assert_eq(kind, CERTA_QUERY_HOLDER);
    cr_assert_eq(jl, strlen(doc));
    cr_assert_eq(memcmp(j, doc, jl), 0);
    /* too small a buffer, an empty document */
    cr_assert_eq(certa_cp_query_result_encode(CERTA_QUERY_HOLDER, doc, strlen(doc), buf, 8), 0);
    cr_assert_eq(certa_cp_query_result_encode(CERTA_QUERY_BLOCK, doc, 0, buf, sizeof buf), 0);
    /* refusals: no document, unknown kind, not an object, a NUL inside */
    cr_assert_eq(certa_cp_query_result_decode(buf, 1, &kind, &j, &jl, NULL), CERTA_E_TRUNCATED);
    buf[0] = 9;
    cr_assert_eq(certa_cp_query_result_decode(buf, n, &kind, &j, &jl, NULL), CERTA_E_BAD_ENUM);
    buf[0] = CERTA_QUERY_GRANT;
    buf[n - 1] = ']';
    cr_assert_eq(certa_cp_query_result_decode(buf, n, &kind, &j, &jl, NULL), CERTA_E_JSON);
    buf[n - 1] = '}';
    buf[5] = 0;
    cr_assert_eq(certa_cp_query_result_decode(buf, n, &kind, &j, &jl, NULL), CERTA_E_JSON);
    cr_assert_null(j);
}
