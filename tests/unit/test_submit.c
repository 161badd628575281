/* Tests for net/submit.c, the pipeline behind `certa submit`: events from a
 * JSON Lines file are batched, signed with the integrator's key (checked by
 * the fake validator), sent pipelined, and the batch receipts are counted
 * and written as JSON lines; a refused batch counts as not committed; a
 * BUSY reply is retried. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "cp_server.h" /* the validator end; includes certa/client.h */
#include "event_json.h" /* engine-private: the json_t form */
#include "certa/genesis.h"
#include "receipt_json.h" /* engine-private: the json_t form */
#include "certa/state.h"
#include "sample_events.h"
#include "submit.h"

typedef struct fake {
    certa_cp_server *srv;
    pthread_t th;
    volatile int stop;
    char pub[41], sec[41];
    const certa_genesis *g;
    int busy_once_seq;   /* answer BUSY to the first attempt of this seq */
    int refuse_seq;      /* answer a non-retryable error to this seq */
    int busy_sent;
    int batches_ok;
    int bad_signatures;
} fake;

static void fake_submit(fake *f, certa_cp_request *rq)
{
    static uint8_t out[1 << 20];
    certa_batch_view v;
    uint64_t id = rq->header.request_id;
    if (certa_batch_decode(rq->body, rq->body_len, &v, NULL) != CERTA_OK ||
        v.integrator >= f->g->integrator_count ||
        certa_batch_verify(&v, f->g->integrators[v.integrator].key, NULL) != CERTA_OK) {
        f->bad_signatures++;
        certa_cp_server_error(f->srv, rq->peer, rq->peer_len, id, CERTA_E_BAD_SIGNATURE,
                              false, 0, "batch signature does not verify");
        return;
    }
    if ((int)v.seq == f->busy_once_seq && f->busy_sent == 0) {
        f->busy_sent++;
        certa_cp_server_error(f->srv, rq->peer, rq->peer_len, id, CERTA_E_BUSY, true, 10,
                              "queue full");
        return;
    }
    if ((int)v.seq == f->refuse_seq) {
        certa_cp_server_error(f->srv, rq->peer, rq->peer_len, id, CERTA_E_REFUSED, false, 0,
                              "sequence number already used");
        return;
    }
    certa_cp_accepted a = { .integrator = v.integrator, .seq = v.seq,
                            .event_count = v.event_count };
    memcpy(a.digest, v.digest, 32);
    uint8_t ab[CERTA_CP_ACCEPTED_BYTES];
    certa_cp_accepted_encode(&a, ab);
    certa_cp_server_reply(f->srv, rq->peer, rq->peer_len, CERTA_CP_ACCEPTED, id, ab, sizeof ab);

    /* Receipt with a dummy header and certificate: submit does not verify. */
    static certa_receipt_entry en[CERTA_BATCH_EVENTS_MAX];
    size_t pos = 0, k = 0;
    const uint8_t *evb;
    size_t evl;
    while (certa_batch_next(&v, &pos, &evb, &evl)) {
        certa_event ev;
        cr_assert_eq(certa_event_decode(evb, evl, &ev, NULL), CERTA_OK);
        bool rej = ev.kind == CERTA_EV_REVOKE;
        en[k] = (certa_receipt_entry){ .leaf_index = k, .result = rej ? CERTA_R_NOT_HOLDER : 0,
                                       .reason = rej ? certa_result_name(CERTA_R_NOT_HOLDER) : NULL,
                                       .event = evb, .event_len = evl };
        k++;
    }
    /* the batch is the whole block: its receipt needs no proof hashes */
    uint8_t header[CERTA_HEADER_BYTES] = { 0 };
    header[32] = (uint8_t)k, header[33] = (uint8_t)(k >> 8);
    certa_commit_cert cert = { .count = 1 };
    size_t len = 0;
    cr_assert_eq(certa_receipt_batch_encode(v.integrator, v.seq, header, &cert, en, (uint32_t)k,
                                            out, sizeof out, &len, NULL), CERTA_OK);
    certa_cp_server_reply(f->srv, rq->peer, rq->peer_len, CERTA_CP_RECEIPT, id, out, len);
    f->batches_ok++;
}

static void *fake_main(void *arg)
{
    fake *f = arg;
    while (!f->stop) {
        zmq_pollitem_t it = { certa_cp_server_socket(f->srv), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&it, 1, 5) <= 0)
            continue;
        certa_cp_request rq;
        while (certa_cp_server_recv(f->srv, &rq, NULL) == CERTA_OK) {
            if (rq.header.type == CERTA_CP_SUBMIT)
                fake_submit(f, &rq);
            certa_cp_request_release(&rq);
        }
    }
    return NULL;
}

static char dir[64];
static certa_genesis *gen;
static certa_key *app_key;
static char events_path[128], receipts_path[128];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/certa-submit-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    certa_genesis_opts go = { .validators = 4, .dir = dir, .base_port = 7000,
                              .host = "127.0.0.1" };
    certa_errinfo ei;
    cr_assert_eq(certa_genesis_write(&go, &ei), CERTA_OK, "%s", ei.msg);
    char path[256];
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    cr_assert_eq(certa_genesis_load(path, &gen, &ei), CERTA_OK, "%s", ei.msg);
    snprintf(path, sizeof path, "%s/integrators/app.pem", dir);
    cr_assert_eq(certa_key_load_pem(path, &app_key, &ei), CERTA_OK, "%s", ei.msg);

    /* 25 events: grants and revokes (the fake rejects revokes), one bad line. */
    snprintf(events_path, sizeof events_path, "%s/events.jsonl", dir);
    snprintf(receipts_path, sizeof receipts_path, "%s/receipts.jsonl", dir);
    FILE *f = fopen(events_path, "w");
    for (int i = 0; i < 25; i++) {
        certa_event ev = sample_event(i % 5 == 4 ? CERTA_EV_REVOKE : CERTA_EV_GRANT,
                                      (uint8_t)i, 0);
        json_t *j = certa_event_to_json(&ev, i == 0 ? "app" : NULL);
        cr_assert_not_null(j);
        json_dumpf(j, f, JSON_COMPACT);
        fputc('\n', f);
        json_decref(j);
    }
    fclose(f);
}

static void teardown(void)
{
    certa_key_free(app_key);
    certa_genesis_free(gen);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(submit, .init = setup, .fini = teardown);

static void fake_start(fake *f)
{
    memset(f, 0, sizeof *f);
    f->g = gen;
    f->busy_once_seq = -1;
    f->refuse_seq = -1;
    cr_assert_eq(zmq_curve_keypair(f->pub, f->sec), 0);
    cr_assert_eq(certa_cp_server_open(NULL, "tcp://127.0.0.1:*", f->sec, 0, &f->srv, NULL),
                 CERTA_OK);
}

static void run_submit(fake *f, certa_submit_summary *s, certa_err expect)
{
    cr_assert_eq(pthread_create(&f->th, NULL, fake_main, f), 0);
    const char *ep[1] = { certa_cp_server_endpoint(f->srv) };
    const char *key[1] = { f->pub };
    FILE *rf = fopen(receipts_path, "w");
    certa_submit_opts o = { .genesis = gen, .integrator = "app", .key = app_key,
                            .events_path = events_path, .endpoint_count = 1,
                            .endpoints = ep, .server_keys = key, .batch_events = 4,
                            .window = 3, .deadline_ms = 30000, .receipts = rf };
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_submit_run(&o, s, &ei), expect, "%s", ei.msg);
    fclose(rf);
    f->stop = 1;
    pthread_join(f->th, NULL);
    certa_cp_server_close(f->srv);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

Test(submit, all_committed_with_rejections_counted)
{
    fake f;
    fake_start(&f);
    f.busy_once_seq = 3;
    certa_submit_summary s;
    run_submit(&f, &s, CERTA_OK);
    cr_assert_eq(s.events, 25);
    cr_assert_eq(s.batches, 7); /* 6 x 4 + 1 */
    cr_assert_eq(s.ok, 20);
    cr_assert_eq(s.rejected, 5);
    cr_assert_eq(s.by_code[CERTA_R_NOT_HOLDER], 5);
    cr_assert_eq(s.not_committed, 0, "%s", s.last_error);
    cr_assert_eq(f.busy_sent, 1);
    cr_assert_eq(f.batches_ok, 7);
    cr_assert_eq(f.bad_signatures, 0);
    cr_assert_eq(count_lines(receipts_path), 25);

    /* Each line is a receipt that parses back. */
    FILE *rf = fopen(receipts_path, "r");
    char line[16384];
    static certa_receipt r;
    int rejected = 0;
    while (fgets(line, sizeof line, rf)) {
        json_t *j = json_loads(line, 0, NULL);
        certa_errinfo ei;
        cr_assert_eq(certa_receipt_from_json(j, &r, &ei), CERTA_OK, "%s", ei.msg);
        rejected += r.result != 0;
        json_decref(j);
    }
    fclose(rf);
    cr_assert_eq(rejected, 5);
}

Test(submit, refused_batch_is_not_committed)
{
    fake f;
    fake_start(&f);
    f.refuse_seq = 2;
    certa_submit_summary s;
    run_submit(&f, &s, CERTA_OK);
    cr_assert_eq(s.events, 25);
    cr_assert_eq(s.not_committed, 4);
    cr_assert_eq(s.ok + s.rejected, 21);
    cr_assert_not_null(strstr(s.last_error, "sequence number already used"), "%s", s.last_error);
    cr_assert_not_null(strstr(s.last_error, "batch seq 2 (lines 5-8)"), "%s", s.last_error);
}

Test(submit, wrong_key_is_refused_before_sending)
{
    fake f;
    fake_start(&f);
    cr_assert_eq(pthread_create(&f.th, NULL, fake_main, &f), 0);
    const char *ep[1] = { certa_cp_server_endpoint(f.srv) };
    const char *key[1] = { f.pub };
    certa_submit_opts o = { .genesis = gen, .integrator = "library", .key = app_key,
                            .events_path = events_path, .endpoint_count = 1,
                            .endpoints = ep, .server_keys = key };
    certa_submit_summary s;
    certa_errinfo ei;
    cr_assert_eq(certa_submit_run(&o, &s, &ei), CERTA_E_BAD_KEY);
    cr_assert_not_null(strstr(ei.msg, "\"library\""), "%s", ei.msg);
    o.integrator = "nobody";
    cr_assert_eq(certa_submit_run(&o, &s, &ei), CERTA_E_NOTFOUND);
    f.stop = 1;
    pthread_join(f.th, NULL);
    certa_cp_server_close(f.srv);
}
