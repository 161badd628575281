/* cluster_badclient: sends malformed and hostile requests to one validator's
 * client endpoint, the way only a broken or malicious integrator would, and
 * prints each reply, for tests/integration/it_cluster_badinput.sh. Built
 * from the same codec as the real client so that only the intended part of
 * each request is wrong.
 *
 * usage: cluster_badclient GENESIS VALIDATOR KEY.pem INTEGRATOR EVENTS.jsonl
 *                          SEQ CASE...
 * Each CASE prints one line: "CASE reply TYPE CODE MESSAGE" per reply
 * (type 16 ACCEPTED, 17 RECEIPT, 18 ERROR with its code) or
 * "CASE no-reply". Cases: garbage1, garbage3, badmagic, badtype, truncated,
 * oversized, badsig, unknown, valid (a good batch at SEQ; waits for the
 * receipt), replay (different bytes at SEQ); and malformed QUERY bodies:
 * query-short (a holder query cut to 10 bytes), query-long (a block query
 * with a byte too many), query-kind (kind 9), query-empty (no body). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "certa/client.h"
#include "certa/codec.h"
#include "certa/crypto.h"
#include "certa/event_json.h"
#include "certa/genesis.h"

static void *sock;
static uint64_t next_id = 1;

static void send_frames(const void *h, size_t hl, const void *b, size_t bl, bool two)
{
    zmq_send(sock, h, hl, two ? ZMQ_SNDMORE : 0);
    if (two)
        zmq_send(sock, b, bl, 0);
}

static void send_req(uint8_t type, const uint8_t *body, size_t len)
{
    certa_cp_header h = {.version = CERTA_CP_VERSION, .type = type, .request_id = next_id++};
    uint8_t hb[CERTA_CP_HEADER_BYTES];
    certa_cp_header_encode(&h, hb);
    send_frames(hb, sizeof hb, body, len, true);
}

/* Prints replies until a final one (not ACCEPTED) or timeout_ms of silence. */
static void print_replies(const char *name, int timeout_ms)
{
    zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    for (;;) {
        uint8_t hb[64];
        int n = zmq_recv(sock, hb, sizeof hb, 0);
        if (n < 0) {
            printf("%s no-reply\n", name);
            return;
        }
        zmq_msg_t body;
        zmq_msg_init(&body);
        int more = 0;
        size_t ml = sizeof more;
        zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &ml);
        if (more)
            zmq_msg_recv(&body, sock, 0);
        certa_cp_header h;
        certa_errinfo ei;
        certa_errinfo_clear(&ei);
        if (certa_cp_header_decode(hb, (size_t)n, &h, &ei) != CERTA_OK) {
            printf("%s unreadable-reply %s\n", name, certa_errmsg(&ei));
            zmq_msg_close(&body);
            return;
        }
        if (h.type == CERTA_CP_ERROR) {
            static certa_cp_error e;
            if (certa_cp_error_decode(zmq_msg_data(&body), zmq_msg_size(&body), &e, &ei) != CERTA_OK)
                printf("%s reply 18 ? unreadable error body\n", name);
            else
                printf("%s reply 18 %u %s%s\n", name, e.code, e.retryable ? "(retryable) " : "",
                       e.message);
        } else {
            printf("%s reply %u 0 request %llu, %zu bytes\n", name, h.type,
                   (unsigned long long)h.request_id, zmq_msg_size(&body));
        }
        fflush(stdout);
        zmq_msg_close(&body);
        if (h.type != CERTA_CP_ACCEPTED)
            return;
    }
}

int main(int argc, char **argv)
{
    if (argc < 8) {
        fprintf(stderr, "usage: cluster_badclient GENESIS VALIDATOR KEY.pem INTEGRATOR "
                        "EVENTS.jsonl SEQ CASE...\n");
        return 2;
    }
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_genesis *g = NULL;
    certa_key *key = NULL;
    certa_jsonl_reader *rd = NULL;
    if (certa_genesis_load(argv[1], &g, &ei) != CERTA_OK ||
        certa_key_load_pem(argv[3], &key, &ei) != CERTA_OK ||
        certa_jsonl_open(argv[5], &rd, &ei) != CERTA_OK) {
        fprintf(stderr, "cluster_badclient: %s\n", certa_errmsg(&ei));
        return 3;
    }
    unsigned vi = (unsigned)atoi(argv[2]);
    int idx = certa_genesis_integrator_find(g, argv[4]);
    uint64_t seq = strtoull(argv[6], NULL, 10);
    if (vi >= g->validator_count || idx < 0 || seq == 0) {
        fprintf(stderr, "cluster_badclient: bad validator, integrator or seq\n");
        return 2;
    }
    certa_jsonl_item it[2];
    for (int i = 0; i < 2; i++)
        if (certa_jsonl_next(rd, &it[i], &ei) != CERTA_OK || it[i].kind != CERTA_JSONL_EVENT) {
            fprintf(stderr, "cluster_badclient: need 2 events: %s\n", certa_errmsg(&ei));
            return 3;
        }

    void *ctx = zmq_ctx_new();
    sock = zmq_socket(ctx, ZMQ_DEALER);
    char pub[41], sec[41];
    zmq_curve_keypair(pub, sec);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, g->validators[vi].curve_pub, 40);
    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pub, 40);
    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, 40);
    if (zmq_connect(sock, g->validators[vi].client_endpoint) != 0) {
        fprintf(stderr, "cluster_badclient: connect: %s\n", zmq_strerror(zmq_errno()));
        return 3;
    }

    size_t big = CERTA_BATCH_BYTES_MAX + 4096;
    uint8_t *buf = calloc(1, big);
    certa_batch_builder bb;
    for (int a = 7; a < argc; a++) {
        const char *c = argv[a];
        /* A good one-event batch at seq (event 0), or event 1 for replay. */
        certa_batch_begin(&bb, buf, CERTA_BATCH_BYTES_MAX, (uint16_t)idx, seq);
        certa_batch_add(&bb, &it[strcmp(c, "replay") == 0 ? 1 : 0].event, &ei);
        if (strcmp(c, "unknown") == 0) {
            certa_batch_begin(&bb, buf, CERTA_BATCH_BYTES_MAX, 999, seq);
            certa_batch_add(&bb, &it[0].event, &ei);
        }
        certa_batch_sign(&bb, key, &ei);
        if (strcmp(c, "garbage1") == 0) {
            send_frames("\x01\x02\x03garbage", 10, NULL, 0, false);
        } else if (strcmp(c, "garbage3") == 0) {
            zmq_send(sock, "abc", 3, ZMQ_SNDMORE);
            zmq_send(sock, "defghijklmnopqrstuvwxyz", 23, ZMQ_SNDMORE);
            zmq_send(sock, "0", 1, 0);
        } else if (strcmp(c, "badmagic") == 0) {
            uint8_t hb[CERTA_CP_HEADER_BYTES] = {'X', 'X', 'X', 'X', 1, 1};
            send_frames(hb, sizeof hb, bb.buf, bb.len, true);
        } else if (strcmp(c, "badtype") == 0) {
            send_req(99, bb.buf, bb.len);
        } else if (strcmp(c, "truncated") == 0) {
            send_req(CERTA_CP_SUBMIT, bb.buf, bb.len - 20);
        } else if (strcmp(c, "oversized") == 0) {
            send_req(CERTA_CP_SUBMIT, buf, big); /* the batch, then zeros */
        } else if (strcmp(c, "badsig") == 0) {
            bb.buf[bb.len - 1] ^= 0x40;
            send_req(CERTA_CP_SUBMIT, bb.buf, bb.len);
        } else if (strcmp(c, "unknown") == 0 || strcmp(c, "valid") == 0 ||
                   strcmp(c, "replay") == 0) {
            send_req(CERTA_CP_SUBMIT, bb.buf, bb.len);
        } else if (strncmp(c, "query-", 6) == 0) {
            certa_cp_query q = {.kind = CERTA_QUERY_HOLDER};
            uint8_t qb[CERTA_CP_QUERY_BYTES_MAX + 1] = {0};
            size_t ql = certa_cp_query_encode(&q, qb);
            if (strcmp(c, "query-short") == 0) {
                ql = 10;
            } else if (strcmp(c, "query-long") == 0) {
                q.kind = CERTA_QUERY_BLOCK;
                ql = certa_cp_query_encode(&q, qb) + 1;
            } else if (strcmp(c, "query-kind") == 0) {
                qb[0] = 9;
            } else if (strcmp(c, "query-empty") == 0) {
                ql = 0;
            } else {
                fprintf(stderr, "cluster_badclient: unknown case %s\n", c);
                return 2;
            }
            send_req(CERTA_CP_QUERY, qb, ql);
        } else {
            fprintf(stderr, "cluster_badclient: unknown case %s\n", c);
            return 2;
        }
        print_replies(c, strcmp(c, "valid") == 0 ? 10000 : 3000);
    }
    free(buf);
    zmq_close(sock);
    zmq_ctx_term(ctx);
    certa_jsonl_close(rd);
    certa_key_free(key);
    certa_genesis_free(g);
    return 0;
}
