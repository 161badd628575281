/* Tests for net/transport.c: in-process validators on 127.0.0.1 ephemeral
 * ports. Messages flow over CURVE with authenticated sender indexes; an
 * outsider key is refused; a different genesis is refused on both sides; a
 * full high-water mark is reported as CERTA_E_BUSY instead of growing. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "config.h"
#include "certa/genesis.h"
#include "transport.h"

#define N_MAX 5

typedef struct tev {
    int up, refused_by_peer, refused_peer, dropped;
    char last[512];
} tev;

typedef struct inbox {
    int count;
    int from_count[N_MAX];
    uint32_t last_from;
    size_t last_len;
    uint8_t last[64];
} inbox;

typedef struct node {
    certa_transport *t;
    tev ev;
    inbox in;
} node;

static char pubs[N_MAX][41], secs[N_MAX][41];

static void on_event(void *ctx, uint32_t peer, certa_transport_event ev, const char *text)
{
    (void)peer;
    tev *e = ctx;
    if (ev == CERTA_TEV_PEER_UP)
        e->up++;
    else if (ev == CERTA_TEV_REFUSED_BY_PEER)
        e->refused_by_peer++;
    else if (ev == CERTA_TEV_REFUSED_PEER)
        e->refused_peer++;
    else if (ev == CERTA_TEV_DROPPED)
        e->dropped++;
    snprintf(e->last, sizeof e->last, "%s", text);
}

static void deliver(void *ctx, uint32_t from, const uint8_t *b, size_t len)
{
    inbox *in = ctx;
    in->count++;
    if (from < N_MAX)
        in->from_count[from]++;
    in->last_from = from;
    in->last_len = len;
    memcpy(in->last, b, len < 64 ? len : 64);
}

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void keys(int n)
{
    for (int i = 0; i < n; i++)
        cr_assert_eq(zmq_curve_keypair(pubs[i], secs[i]), 0);
}

static void open_node(node *nd, uint32_t self, uint32_t n, const char (*pub)[41],
                      const char *sec, uint8_t genesis_byte, int hwm)
{
    certa_transport_config c = { 0 };
    c.self = self;
    c.validator_count = n;
    c.curve_pub = pub;
    c.curve_secret = sec;
    c.bind_endpoint = "tcp://127.0.0.1:*";
    memset(c.genesis_hash, genesis_byte, sizeof c.genesis_hash);
    c.hwm_msgs = hwm;
    c.reconnect_ivl_ms = 20;
    c.hello_retry_ms = 50;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    memset(nd, 0, sizeof *nd);
    cr_assert_eq(certa_transport_open(&c, on_event, &nd->ev, &nd->t, &ei), CERTA_OK,
                 "%s", certa_errmsg(&ei));
    cr_assert(strncmp(certa_transport_endpoint(nd->t), "tcp://127.0.0.1:", 16) == 0);
}

/* Polls every node until pred holds or timeout_ms passes. */
static bool pump(node *nodes, int n, int timeout_ms, bool (*pred)(node *, int))
{
    uint64_t end = ms_now() + (uint64_t)timeout_ms;
    while (ms_now() < end) {
        for (int i = 0; i < n; i++)
            if (nodes[i].t != NULL)
                certa_transport_poll(nodes[i].t, 2, deliver, &nodes[i].in);
        if (pred(nodes, n))
            return true;
    }
    return false;
}

static bool all_up(node *nodes, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j && !certa_transport_peer_up(nodes[i].t, (uint32_t)j))
                return false;
    return true;
}

static int expected_msgs;
static bool all_received(node *nodes, int n)
{
    for (int i = 0; i < n; i++)
        if (nodes[i].in.count < expected_msgs)
            return false;
    return true;
}

static int freed;
static void free_hint(void *data, void *hint)
{
    (void)hint;
    free(data);
    __atomic_add_fetch(&freed, 1, __ATOMIC_SEQ_CST);
}

typedef struct post_arg {
    certa_transport *t;
    certa_err rc;
} post_arg;

static void *poster(void *arg)
{
    post_arg *pa = arg;
    char *m = strdup("broadcast");
    pa->rc = certa_transport_post(pa->t, CERTA_TRANSPORT_ALL, m, 9, free_hint, NULL);
    if (pa->rc != CERTA_OK)
        free(m);
    return NULL;
}

static bool others_got_broadcast(node *nodes, int n)
{
    (void)n;
    return nodes[0].in.count == 4 && nodes[1].in.count == 4 && nodes[3].in.count == 4;
}

static void connect_all(node *nodes, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j)
                cr_assert_eq(certa_transport_connect(nodes[i].t, (uint32_t)j,
                             certa_transport_endpoint(nodes[j].t), NULL), CERTA_OK);
}

Test(transport, four_validators_exchange_messages)
{
    node nodes[4];
    keys(4);
    for (uint32_t i = 0; i < 4; i++)
        open_node(&nodes[i], i, 4, (const char(*)[41])pubs, secs[i], 0xab, 0);
    connect_all(nodes, 4);
    cr_assert(pump(nodes, 4, 30000, all_up), "links did not come up");
    for (int i = 0; i < 4; i++)
        cr_assert_eq(nodes[i].ev.up, 3);

    /* Sending to a peer that is not connected or to self is refused. */
    cr_assert_eq(certa_transport_send(nodes[0].t, 0, "x", 1), CERTA_E_ARG);

    for (uint32_t i = 0; i < 4; i++) {
        for (uint32_t j = 0; j < 4; j++) {
            if (i == j)
                continue;
            char msg[32];
            int len = snprintf(msg, sizeof msg, "from %u to %u", i, j);
            cr_assert_eq(certa_transport_send(nodes[i].t, j, msg, (size_t)len), CERTA_OK);
        }
    }
    expected_msgs = 3;
    cr_assert(pump(nodes, 4, 30000, all_received));
    for (uint32_t i = 0; i < 4; i++) {
        for (uint32_t j = 0; j < 4; j++)
            cr_assert_eq(nodes[i].in.from_count[j], i == j ? 0 : 1);
    }

    /* Broadcast from a foreign thread through the bounded post queue. */
    post_arg pa = { nodes[2].t, 0 };
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, poster, &pa), 0);
    pthread_join(th, NULL);
    cr_assert_eq(pa.rc, CERTA_OK);
    expected_msgs = 4;
    cr_assert(pump(nodes, 4, 30000, others_got_broadcast));
    cr_assert_eq(nodes[0].in.last_from, 2);
    cr_assert_eq(nodes[0].in.last_len, 9);
    cr_assert_eq(memcmp(nodes[3].in.last, "broadcast", 9), 0);
    cr_assert_eq(nodes[2].in.count, 3);
    cr_assert_eq(freed, 1, "the posted buffer is freed once, after the sends");

    certa_transport_stats st;
    certa_transport_stats_get(nodes[2].t, &st);
    cr_assert_eq(st.peers_up, 3);
    cr_assert_eq(st.msgs_out, 6);
    for (int i = 0; i < 4; i++)
        certa_transport_close(nodes[i].t);
}

static bool refused_both(node *nodes, int n)
{
    (void)n;
    return nodes[0].ev.refused_peer > 0 && nodes[1].ev.refused_by_peer > 0;
}

Test(transport, outsider_key_is_refused)
{
    keys(3);
    /* Validator set {0, 1}; the outsider uses key 2 but claims index 1 with
     * the right server key for validator 0. */
    char set[2][41], outsider_view[2][41];
    memcpy(set[0], pubs[0], 41);
    memcpy(set[1], pubs[1], 41);
    memcpy(outsider_view[0], pubs[0], 41);
    memcpy(outsider_view[1], pubs[2], 41);
    node nodes[2];
    open_node(&nodes[0], 0, 2, (const char(*)[41])set, secs[0], 0x11, 0);
    open_node(&nodes[1], 1, 2, (const char(*)[41])outsider_view, secs[2], 0x11, 0);
    cr_assert_eq(certa_transport_connect(nodes[1].t, 0,
                 certa_transport_endpoint(nodes[0].t), NULL), CERTA_OK);
    cr_assert(pump(nodes, 2, 30000, refused_both), "refusal not reported");
    cr_assert(!certa_transport_peer_up(nodes[1].t, 0));
    cr_assert_not_null(strstr(nodes[1].ev.last, "not in its validator set"), "%s",
                       nodes[1].ev.last);
    cr_assert_not_null(strstr(nodes[0].ev.last, pubs[2]), "%s", nodes[0].ev.last);
    /* Nothing can be sent over a refused link. */
    cr_assert_eq(certa_transport_send(nodes[1].t, 0, "x", 1), CERTA_E_STATE);
    certa_transport_stats st;
    certa_transport_stats_get(nodes[0].t, &st);
    cr_assert_geq(st.refused_keys, 1);
    cr_assert_eq(nodes[0].in.count, 0);
    certa_transport_close(nodes[0].t);
    certa_transport_close(nodes[1].t);
}

Test(transport, different_genesis_is_refused_on_both_sides)
{
    keys(2);
    node nodes[2];
    open_node(&nodes[0], 0, 2, (const char(*)[41])pubs, secs[0], 0x11, 0);
    open_node(&nodes[1], 1, 2, (const char(*)[41])pubs, secs[1], 0x22, 0);
    cr_assert_eq(certa_transport_connect(nodes[1].t, 0,
                 certa_transport_endpoint(nodes[0].t), NULL), CERTA_OK);
    cr_assert(pump(nodes, 2, 30000, refused_both), "refusal not reported");
    cr_assert_not_null(strstr(nodes[0].ev.last, "genesis 2222222222222222"), "%s",
                       nodes[0].ev.last);
    cr_assert_not_null(strstr(nodes[0].ev.last, "ours is 1111111111111111"), "%s",
                       nodes[0].ev.last);
    cr_assert_not_null(strstr(nodes[1].ev.last, "genesis mismatch"), "%s",
                       nodes[1].ev.last);
    cr_assert(!certa_transport_peer_up(nodes[1].t, 0));
    cr_assert_eq(certa_transport_send(nodes[1].t, 0, "x", 1), CERTA_E_STATE);
    certa_transport_stats st;
    certa_transport_stats_get(nodes[0].t, &st);
    cr_assert_eq(st.refused_handshakes, 1);
    certa_transport_close(nodes[0].t);
    certa_transport_close(nodes[1].t);
}

static bool pair_up(node *nodes, int n)
{
    (void)n;
    return certa_transport_peer_up(nodes[1].t, 0);
}

Test(transport, full_high_water_mark_reports_busy)
{
    keys(2);
    node nodes[2];
    open_node(&nodes[0], 0, 2, (const char(*)[41])pubs, secs[0], 0x33, 4);
    open_node(&nodes[1], 1, 2, (const char(*)[41])pubs, secs[1], 0x33, 4);
    cr_assert_eq(certa_transport_connect(nodes[1].t, 0,
                 certa_transport_endpoint(nodes[0].t), NULL), CERTA_OK);
    cr_assert(pump(nodes, 2, 30000, pair_up));
    /* Validator 0 stops reading. 64 KiB messages: without a bound, 20,000 of
     * them would be 1.3 GB queued. */
    size_t len = 64 * 1024;
    uint8_t *buf = calloc(1, len);
    int sent = 0, busy_in_a_row = 0;
    certa_err rc = CERTA_OK;
    /* Keep offering for as long as the link makes progress; once it has been
     * full for 300 ms straight, every buffer on the path is full. */
    while (sent < 20000 && busy_in_a_row < 300) {
        rc = certa_transport_send(nodes[1].t, 0, buf, len);
        if (rc == CERTA_OK) {
            sent++;
            busy_in_a_row = 0;
        } else {
            cr_assert_eq(rc, CERTA_E_BUSY);
            busy_in_a_row++;
            certa_transport_poll(nodes[1].t, 1, deliver, &nodes[1].in);
        }
    }
    cr_assert_eq(rc, CERTA_E_BUSY, "sent %d without backpressure", sent);
    cr_assert_lt(sent, 2000, "%d messages accepted before BUSY", sent);
    certa_transport_stats st;
    certa_transport_stats_get(nodes[1].t, &st);
    cr_assert_geq(st.send_busy, 300);
    cr_assert(certa_transport_peer_up(nodes[1].t, 0), "BUSY does not cut the link");

    /* Once the receiver drains, sending works again and messages arrive. */
    uint64_t end = ms_now() + 5000;
    while (ms_now() < end && nodes[0].in.count < sent)
        certa_transport_poll(nodes[0].t, 5, deliver, &nodes[0].in);
    cr_assert_eq(nodes[0].in.count, sent);
    /* The sender learns of the freed space asynchronously. */
    end = ms_now() + 5000;
    while (ms_now() < end && (rc = certa_transport_send(nodes[1].t, 0, buf, len)) != CERTA_OK)
        certa_transport_poll(nodes[1].t, 5, deliver, &nodes[1].in);
    cr_assert_eq(rc, CERTA_OK);
    cr_log_info("HWM 4: %d messages of 64 KiB accepted before BUSY", sent);
    free(buf);
    certa_transport_close(nodes[0].t);
    certa_transport_close(nodes[1].t);
}

static bool link_up_again(node *nodes, int n)
{
    (void)n;
    return nodes[0].t != NULL && certa_transport_peer_up(nodes[1].t, 0) &&
           nodes[1].ev.up >= 2;
}

Test(transport, reconnects_after_peer_restart)
{
    keys(2);
    node nodes[2];
    open_node(&nodes[0], 0, 2, (const char(*)[41])pubs, secs[0], 0x44, 0);
    open_node(&nodes[1], 1, 2, (const char(*)[41])pubs, secs[1], 0x44, 0);
    char ep[256];
    snprintf(ep, sizeof ep, "%s", certa_transport_endpoint(nodes[0].t));
    cr_assert_eq(certa_transport_connect(nodes[1].t, 0, ep, NULL), CERTA_OK);
    cr_assert(pump(nodes, 2, 30000, pair_up));
    certa_transport_close(nodes[0].t);

    /* Validator 0 restarts on the same port, with a fresh process state. */
    certa_transport_config c = { 0 };
    c.self = 0;
    c.validator_count = 2;
    c.curve_pub = (const char(*)[41])pubs;
    c.curve_secret = secs[0];
    c.bind_endpoint = ep;
    memset(c.genesis_hash, 0x44, 32);
    tev ev0 = { 0 };
    memset(&nodes[0], 0, sizeof nodes[0]);
    cr_assert_eq(certa_transport_open(&c, on_event, &ev0, &nodes[0].t, NULL), CERTA_OK);
    cr_assert(pump(nodes, 2, 30000, link_up_again), "link did not come back");
    cr_assert_eq(certa_transport_send(nodes[1].t, 0, "again", 5), CERTA_OK);
    expected_msgs = 1;
    uint64_t end = ms_now() + 5000;
    while (ms_now() < end && nodes[0].in.count < 1)
        certa_transport_poll(nodes[0].t, 5, deliver, &nodes[0].in);
    cr_assert_eq(nodes[0].in.count, 1);
    cr_assert_eq(nodes[0].in.last_from, 1);
    certa_transport_close(nodes[0].t);
    certa_transport_close(nodes[1].t);
}

Test(transport, four_validators_from_a_genesis_file)
{
    char dir[] = "/tmp/certa-transport-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    /* Ports base+10k of 127.0.0.1; vary the base per process to avoid other
     * test runs on the same machine. */
    uint16_t base = (uint16_t)(20000 + (getpid() % 2000) * 10);
    certa_genesis_opts go = { .validators = 4, .dir = dir, .base_port = base,
                              .host = "127.0.0.1" };
    certa_errinfo ei;
    cr_assert_eq(certa_genesis_write(&go, &ei), CERTA_OK, "%s", ei.msg);
    char path[256];
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    certa_genesis *g = NULL;
    cr_assert_eq(certa_genesis_load(path, &g, &ei), CERTA_OK, "%s", ei.msg);
    node nodes[4];
    for (uint32_t i = 0; i < 4; i++) {
        char sec[41];
        snprintf(path, sizeof path, "%s/node%u/curve.key", dir, i);
        cr_assert_eq(certa_curve_secret_load(path, sec, NULL, &ei), CERTA_OK, "%s", ei.msg);
        memset(&nodes[i], 0, sizeof nodes[i]);
        certa_transport_config extra = { .reconnect_ivl_ms = 20, .hello_retry_ms = 50 };
        cr_assert_eq(certa_transport_open_genesis(g, i, g->validators[i].peer_endpoint, sec,
                                                  &extra, on_event, &nodes[i].ev,
                                                  &nodes[i].t, &ei), CERTA_OK, "%s", ei.msg);
    }
    cr_assert(pump(nodes, 4, 30000, all_up), "links did not come up");
    cr_assert_eq(certa_transport_send(nodes[3].t, CERTA_TRANSPORT_ALL, "hi", 2), CERTA_OK);
    uint64_t end = ms_now() + 5000;
    while (ms_now() < end && !(nodes[0].in.count && nodes[1].in.count && nodes[2].in.count))
        for (int i = 0; i < 4; i++)
            certa_transport_poll(nodes[i].t, 2, deliver, &nodes[i].in);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(nodes[i].in.count, 1);
        cr_assert_eq(nodes[i].in.last_from, 3);
    }
    for (int i = 0; i < 4; i++)
        certa_transport_close(nodes[i].t);
    certa_genesis_free(g);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(transport, claimed_index_must_match_the_key)
{
    keys(3);
    /* Validator 2's key, configured as if it were validator 1. */
    char view[3][41];
    memcpy(view[0], pubs[0], 41);
    memcpy(view[1], pubs[2], 41);
    memcpy(view[2], pubs[1], 41);
    node nodes[2];
    open_node(&nodes[0], 0, 3, (const char(*)[41])pubs, secs[0], 0x55, 0);
    open_node(&nodes[1], 1, 3, (const char(*)[41])view, secs[2], 0x55, 0);
    cr_assert_eq(certa_transport_connect(nodes[1].t, 0,
                 certa_transport_endpoint(nodes[0].t), NULL), CERTA_OK);
    cr_assert(pump(nodes, 2, 30000, refused_both), "refusal not reported");
    cr_assert_not_null(strstr(nodes[0].ev.last, "claimed index 1"), "%s", nodes[0].ev.last);
    cr_assert_not_null(strstr(nodes[1].ev.last, "reason 2"), "%s", nodes[1].ev.last);
    cr_assert(!certa_transport_peer_up(nodes[1].t, 0));
    certa_transport_close(nodes[0].t);
    certa_transport_close(nodes[1].t);
}

Test(transport, posted_message_to_a_down_link_is_dropped_and_freed)
{
    keys(2);
    node nodes[1];
    open_node(&nodes[0], 0, 2, (const char(*)[41])pubs, secs[0], 0x66, 0);
    /* Validator 1 does not exist: the link never comes up. */
    cr_assert_eq(certa_transport_connect(nodes[0].t, 1, "tcp://127.0.0.1:1", NULL), CERTA_OK);
    freed = 0;
    char *m = strdup("lost");
    cr_assert_eq(certa_transport_post(nodes[0].t, 1, m, 4, free_hint, NULL), CERTA_OK);
    uint64_t end = ms_now() + 2000;
    while (ms_now() < end && nodes[0].ev.dropped == 0)
        certa_transport_poll(nodes[0].t, 5, deliver, &nodes[0].in);
    cr_assert_eq(nodes[0].ev.dropped, 1);
    cr_assert_not_null(strstr(nodes[0].ev.last, "link not up"), "%s", nodes[0].ev.last);
    cr_assert_eq(freed, 1);
    certa_transport_stats st;
    certa_transport_stats_get(nodes[0].t, &st);
    cr_assert_eq(st.posted_dropped, 1);

    /* The bounded queue refuses when full and the caller keeps the data. */
    certa_transport_close(nodes[0].t);
    certa_transport_config c = { .self = 0, .validator_count = 2,
                                 .curve_pub = (const char(*)[41])pubs, .curve_secret = secs[0],
                                 .bind_endpoint = "tcp://127.0.0.1:*", .post_capacity = 2 };
    memset(c.genesis_hash, 0x66, 32);
    cr_assert_eq(certa_transport_open(&c, NULL, NULL, &nodes[0].t, NULL), CERTA_OK);
    static char a[] = "a", b[] = "b", d[] = "d";
    cr_assert_eq(certa_transport_post(nodes[0].t, 1, a, 1, NULL, NULL), CERTA_OK);
    cr_assert_eq(certa_transport_post(nodes[0].t, 1, b, 1, NULL, NULL), CERTA_OK);
    cr_assert_eq(certa_transport_post(nodes[0].t, 1, d, 1, NULL, NULL), CERTA_E_BUSY);
    certa_transport_close(nodes[0].t);
}
