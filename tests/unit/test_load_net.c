/* Tests for load/net_transport.c: a replay over the real client
 * protocol (ZeroMQ + CURVE on 127.0.0.1) against a fake validator that
 * answers every batch with ACCEPTED and a receipt: the report's committed
 * counts equal the receipts the validator sent, results by code included;
 * receipt framing errors are refused. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "cp_server.h" /* the validator end; includes certa/client.h */
#include "certa/codec.h"
#include "certa/crypto.h"
#include "net_transport.h"
#include "replay.h"
#include "certa/wire.h"

typedef struct fakeval {
    certa_cp_server *srv;
    char pub[41], sec[41];
    pthread_t th;
    volatile int stop;
    uint64_t receipts, entries, rejected;
} fakeval;

/* A batch receipt per docs/PROTOCOL.md (version 2) with zeroed header and
 * certificate and a dummy range proof; every 7th event (counted over the
 * run) gets result 5 "bad code". */
static size_t make_receipt(fakeval *f, const certa_batch_view *v, uint8_t *out, size_t cap)
{
    size_t pos = 0;
    memset(out, 0, 232);
    certa_put_le32(out, 0x52545243u);
    out[4] = 2;
    certa_put_le16(out + 6, v->integrator);
    pos = 232;
    certa_put_le16(out + pos, 1);
    pos += 2 + 66;
    memset(out + pos, 0, 8); /* first leaf */
    pos += 8;
    certa_put_le32(out + pos, v->event_count);
    pos += 4;
    size_t p = 0;
    const uint8_t *eb;
    size_t el;
    while (certa_batch_next(v, &p, &eb, &el)) {
        cr_assert_lt(pos + 2 + 1 + 8 + 2 + el + 1 + 64, cap);
        bool rej = ++f->entries % 7 == 0;
        certa_put_le16(out + pos, rej ? 5 : 0);
        pos += 2;
        out[pos++] = rej ? 8 : 0;
        if (rej) {
            memcpy(out + pos, "bad code", 8);
            pos += 8;
            f->rejected++;
        }
        certa_put_le16(out + pos, (uint16_t)el);
        pos += 2;
        memcpy(out + pos, eb, el);
        pos += el;
    }
    out[pos++] = 2; /* two proof hashes */
    memset(out + pos, 0xee, 64);
    pos += 64;
    return pos;
}

static void *fake_main(void *arg)
{
    fakeval *f = arg;
    static uint8_t rbuf[1 << 20];
    while (!f->stop) {
        certa_cp_request rq;
        certa_err e = certa_cp_server_recv(f->srv, &rq, NULL);
        if (e == CERTA_E_NOTFOUND) {
            usleep(200);
            continue;
        }
        if (e != CERTA_OK)
            continue;
        certa_batch_view v;
        if (certa_batch_decode(rq.body, rq.body_len, &v, NULL) == CERTA_OK) {
            certa_cp_accepted a = {.integrator = v.integrator, .seq = v.seq,
                                   .event_count = v.event_count};
            memcpy(a.digest, v.digest, sizeof a.digest);
            uint8_t ab[CERTA_CP_ACCEPTED_BYTES];
            certa_cp_accepted_encode(&a, ab);
            certa_cp_server_reply(f->srv, rq.peer, rq.peer_len, CERTA_CP_ACCEPTED,
                                  rq.header.request_id, ab, sizeof ab);
            size_t n = make_receipt(f, &v, rbuf, sizeof rbuf);
            if (certa_cp_server_reply(f->srv, rq.peer, rq.peer_len, CERTA_CP_RECEIPT,
                                      rq.header.request_id, rbuf, n) == CERTA_OK)
                f->receipts++;
        } else {
            certa_cp_server_error(f->srv, rq.peer, rq.peer_len, rq.header.request_id,
                                  CERTA_E_BAD_FIELD, false, 0, "malformed");
        }
        certa_cp_request_release(&rq);
    }
    return NULL;
}

/* 400 batches of 3 confirm events, one every 500 us of trace time */
static certa_load_trace *make_trace(char *path, size_t cap)
{
    snprintf(path, cap, "/tmp/certa-net-%d.trc", (int)getpid());
    certa_load_trace_info info = {.seed = 1, .hours = 1, .scale_milli = 1000};
    certa_load_trace_writer *w = NULL;
    cr_assert_eq(certa_load_trace_create(path, &info, &w, NULL), CERTA_OK);
    certa_key *k = NULL;
    cr_assert_eq(certa_key_generate(&k, NULL), CERTA_OK);
    static uint8_t buf[8192];
    for (uint32_t i = 0; i < 400; i++) {
        certa_batch_builder bb;
        certa_batch_begin(&bb, buf, sizeof buf, 3, i + 1);
        for (int j = 0; j < 3; j++) {
            certa_event ev = {.kind = CERTA_EV_CONFIRM, .centre = 2, .counter = 1};
            ev.grant_id[0] = (uint8_t)i;
            ev.evidence[0] = (uint8_t)j;
            cr_assert_eq(certa_batch_add(&bb, &ev, NULL), CERTA_OK);
        }
        uint8_t d[32], sig[64];
        certa_batch_digest(&bb, d);
        cr_assert_eq(certa_sign(k, d, 32, sig, NULL), CERTA_OK);
        size_t len = certa_batch_seal(&bb, sig);
        certa_load_trace_rec r = {.at_us = i * 500ull, .events = 3, .integrator = 3,
                                  .batch = buf, .batch_bytes = (uint32_t)len};
        cr_assert_eq(certa_load_trace_append(w, &r, NULL), CERTA_OK);
    }
    certa_key_free(k);
    cr_assert_eq(certa_load_trace_finish(w, NULL), CERTA_OK);
    certa_load_trace *t = NULL;
    cr_assert_eq(certa_load_trace_open(path, &t, NULL), CERTA_OK);
    return t;
}

Test(load_net, replay_committed_equals_receipts)
{
    fakeval f;
    memset(&f, 0, sizeof f);
    cr_assert_eq(zmq_curve_keypair(f.pub, f.sec), 0);
    certa_errinfo ei;
    cr_assert_eq(certa_cp_server_open(NULL, "tcp://127.0.0.1:*", f.sec, 0, &f.srv, &ei),
                 CERTA_OK, "%s", ei.msg);
    cr_assert_eq(pthread_create(&f.th, NULL, fake_main, &f), 0);

    char path[128];
    certa_load_trace *t = make_trace(path, sizeof path);
    const char *ep[1] = {certa_cp_server_endpoint(f.srv)};
    const char *key[1] = {f.pub};
    certa_load_transport tr;
    cr_assert_eq(certa_load_net_new(1, ep, key, 1024, &tr, &ei), CERTA_OK, "%s", ei.msg);
    certa_load_replay_opts o;
    certa_load_replay_opts_default(&o);
    o.drain_s = 5;
    certa_load_run *run = certa_load_run_new(1);
    cr_assert_eq(certa_load_replay(t, &tr, &o, run, NULL, &ei), CERTA_OK);
    tr.destroy(tr.ctx);
    f.stop = 1;
    pthread_join(f.th, NULL);
    certa_cp_server_close(f.srv);

    cr_assert_eq(run->offered_batches, 400);
    cr_assert_eq(certa_load_run_failed_batches(run), 0);
    cr_assert_eq(run->committed_batches, f.receipts);
    cr_assert_eq(run->committed_events, f.entries);
    cr_assert_eq(run->committed_events, 1200);
    cr_assert_eq(run->reason_events[5], f.rejected);
    cr_assert_eq(run->reason_events[0], 1200 - f.rejected);
    cr_assert_str_eq(run->reason_names[5], "bad_code");
    cr_assert_gt(run->latency.count, 0);
    certa_load_run_free(run);
    certa_load_trace_close(t);
    remove(path);
}

Test(load_net, receipt_framing_is_checked)
{
    uint8_t b[400];
    memset(b, 0, sizeof b);
    certa_put_le32(b, 0x52545243u);
    b[4] = 2;
    certa_put_le16(b + 232, 1);
    size_t pos = 232 + 2 + 66;
    pos += 8; /* first leaf */
    certa_put_le32(b + pos, 1);
    pos += 4;
    certa_put_le16(b + pos, 0); /* result */
    pos += 2;
    b[pos++] = 0; /* reason length */
    certa_put_le16(b + pos, 3);
    pos += 2 + 3;
    b[pos++] = 1; /* one proof hash */
    pos += 32;
    uint32_t counts[CERTA_LOAD_REASONS_MAX] = {0}, n = 0;
    cr_assert_eq(certa_load_receipt_count(b, pos, counts, NULL, &n, NULL), CERTA_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(counts[0], 1);
    cr_assert_eq(certa_load_receipt_count(b, pos + 1, counts, NULL, &n, NULL), CERTA_E_TRAILING);
    cr_assert_eq(certa_load_receipt_count(b, pos - 1, counts, NULL, &n, NULL), CERTA_E_TRUNCATED);
    b[0] ^= 1;
    cr_assert_eq(certa_load_receipt_count(b, pos, counts, NULL, &n, NULL), CERTA_E_PROTOCOL);
}
