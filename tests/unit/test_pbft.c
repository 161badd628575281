/* Tests for engine/pbft_msg.c and the public API of engine/pbft.c: canonical
 * encoding round trips and refusals, a host's peek at a PRE-PREPARE
 * (certa_pbft_peek_preprepare), config validation, drops that are
 * counted (outsiders, bad signatures, garbage), and a 4-replica cluster with
 * real Ed25519 that commits blocks carrying verifiable commit certificates. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "certa/crypto.h"
#include "certa/pbft.h"
#include "certa/wire.h"
#include "pbft_msg.h"

/* Both clocks at one value: the tests that do not exercise their split. */
#define T(ms) ((certa_pbft_time){(ms), (ms)})

static void roundtrip(const certa_pbft_msg *m)
{
    size_t len = 0;
    uint8_t *b = certa_pbft_msg_encode(m, &len);
    cr_assert_not_null(b);
    certa_pbft_msg d;
    cr_assert_eq(certa_pbft_msg_decode(b, len, &d), CERTA_OK, "type %u", m->type);
    size_t len2 = 0;
    uint8_t *b2 = certa_pbft_msg_encode(&d, &len2);
    cr_assert_eq(len2, len);
    cr_assert(memcmp(b, b2, len) == 0, "type %u not canonical", m->type);
    /* every strict prefix is refused, and so is one trailing byte */
    for (size_t cut = 0; cut < len; cut += 1 + len / 64)
        cr_assert_neq(certa_pbft_msg_decode(b, cut, &d), CERTA_OK, "prefix %zu", cut);
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, b, len);
    longer[len] = 0;
    cr_assert_eq(certa_pbft_msg_decode(longer, len + 1, &d), CERTA_E_TRAILING);
    free(longer);
    free(b);
    free(b2);
}

Test(pbft_msg, every_type_round_trips_canonically)
{
    uint8_t item1[12] = {1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0xaa, 0xbb};
    const uint8_t *items[1] = {item1};
    size_t lens[1] = {sizeof item1};
    size_t ll = 0;
    uint8_t *list = certa_pbft_list_build(items, lens, 1, &ll);
    certa_pbft_list l;
    cr_assert(certa_pbft_list_parse(list, ll, &l));
    uint8_t sigs[66 * 2] = {0};
    sigs[66] = 3;
    for (int t = CERTA_PBFT_MSG_REQUEST; t <= CERTA_PBFT_REC_CERT; t++) {
        if (t > CERTA_PBFT_MSG_FETCH_REPLY && t < CERTA_PBFT_REC_BLOCK)
            continue;
        certa_pbft_msg m;
        memset(&m, 0, sizeof m);
        m.type = (uint8_t)t;
        m.sender = 2;
        m.view = 7;
        m.seq = 9;
        m.aux = 3;
        m.integrator = 1;
        m.body = item1;
        m.body_len = sizeof item1;
        m.digest[0] = 0x11;
        m.hdr.height = 9;
        m.hdr.timestamp_ms = 123456;
        m.hdr.prev_hash[31] = 0xfe;
        m.reqs = l;
        m.l1 = l;
        m.l2 = l;
        m.sig_count = 2;
        m.sigs = sigs;
        roundtrip(&m);
    }
    free(list);
}

Test(pbft_msg, refuses_bad_version_kind_and_order)
{
    certa_pbft_msg d;
    uint8_t bad[80] = {2, CERTA_PBFT_MSG_STATUS};
    cr_assert_eq(certa_pbft_msg_decode(bad, sizeof bad, &d), CERTA_E_BAD_VERSION);
    bad[0] = 1;
    bad[1] = 0x40;
    cr_assert_eq(certa_pbft_msg_decode(bad, sizeof bad, &d), CERTA_E_BAD_KIND);
    /* block record with signers out of order */
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_REC_BLOCK;
    uint8_t empty[4] = {0};
    certa_pbft_list_parse(empty, 4, &m.reqs);
    uint8_t sigs[132] = {0};
    sigs[0] = 2;
    sigs[66] = 1;
    m.sig_count = 2;
    m.sigs = sigs;
    size_t len;
    uint8_t *b = certa_pbft_msg_encode(&m, &len);
    cr_assert_neq(certa_pbft_msg_decode(b, len, &d), CERTA_OK);
    free(b);
}

/* A host's peek (certa_pbft_peek_preprepare): the height and the request
 * items of a well-formed PRE-PREPARE, pointing into its bytes; false for
 * any other type, a prefix, a trailing byte or another type byte. */
Test(pbft_msg, peek_preprepare_gives_height_and_items)
{
    uint8_t it0[11] = {1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0xaa};
    uint8_t it1[12] = {2, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0xbb, 0xcc};
    uint8_t it2[13] = {3, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0xdd, 0xee, 0xff};
    const uint8_t *src[3] = {it0, it1, it2};
    size_t src_lens[3] = {sizeof it0, sizeof it1, sizeof it2};
    size_t ll = 0;
    uint8_t *list = certa_pbft_list_build(src, src_lens, 3, &ll);
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_PRE_PREPARE;
    m.sender = 1;
    m.view = 7;
    m.seq = 42;
    m.hdr.height = 42;
    m.hdr.view = 7;
    cr_assert(certa_pbft_list_parse(list, ll, &m.reqs));
    size_t len = 0;
    uint8_t *b = certa_pbft_msg_encode(&m, &len);
    cr_assert_not_null(b);

    uint64_t height = 0;
    const uint8_t *items[4];
    size_t lens[4], count = 99;
    cr_assert(certa_pbft_peek_preprepare(b, len, &height, items, lens, 4, &count));
    cr_assert_eq(height, 42);
    cr_assert_eq(count, 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert(items[i] > b && items[i] + lens[i] <= b + len, "item %zu not in bytes", i);
        cr_assert_eq(lens[i], src_lens[i]);
        cr_assert(memcmp(items[i], src[i], lens[i]) == 0, "item %zu", i);
    }
    certa_block_batch bb;
    cr_assert(certa_block_batch_item(items[2], lens[2], &bb));
    cr_assert_eq(bb.integrator, 3);
    cr_assert_eq(bb.seq, 7);
    cr_assert_eq(bb.len, 3);
    /* fewer slots than items: the first ones; none: the height alone */
    cr_assert(certa_pbft_peek_preprepare(b, len, &height, items, lens, 2, &count));
    cr_assert_eq(count, 2);
    cr_assert(memcmp(items[1], it1, sizeof it1) == 0);
    height = 0;
    cr_assert(certa_pbft_peek_preprepare(b, len, &height, NULL, NULL, 0, &count));
    cr_assert_eq(height, 42);
    cr_assert_eq(count, 0);

    /* a PREPARE of the same slot */
    certa_pbft_msg p;
    memset(&p, 0, sizeof p);
    p.type = CERTA_PBFT_MSG_PREPARE;
    p.sender = 1;
    p.view = 7;
    p.seq = 42;
    size_t plen = 0;
    uint8_t *pb = certa_pbft_msg_encode(&p, &plen);
    cr_assert_not_null(pb);
    count = 99;
    cr_assert_not(certa_pbft_peek_preprepare(pb, plen, &height, items, lens, 4, &count));
    cr_assert_eq(count, 0);
    free(pb);
    /* truncated: every strict prefix; and one trailing byte */
    for (size_t cut = 0; cut < len; cut++)
        cr_assert_not(certa_pbft_peek_preprepare(b, cut, &height, items, lens, 4, &count),
                      "prefix %zu", cut);
    uint8_t *longer = malloc(len + 1);
    cr_assert_not_null(longer);
    memcpy(longer, b, len);
    longer[len] = 0;
    cr_assert_not(certa_pbft_peek_preprepare(longer, len + 1, &height, items, lens, 4, &count));
    free(longer);
    /* the type byte (the second) changed to any other value, one bit
     * flipped among them; the version byte flipped */
    for (unsigned v = 0; v < 256; v++) {
        if (v == CERTA_PBFT_MSG_PRE_PREPARE)
            continue;
        b[1] = (uint8_t)v;
        cr_assert_not(certa_pbft_peek_preprepare(b, len, &height, items, lens, 4, &count),
                      "type %u", v);
    }
    b[1] = CERTA_PBFT_MSG_PRE_PREPARE;
    b[0] ^= 0x01;
    cr_assert_not(certa_pbft_peek_preprepare(b, len, &height, items, lens, 4, &count));
    b[0] ^= 0x01;
    cr_assert(certa_pbft_peek_preprepare(b, len, &height, items, lens, 4, &count));
    free(b);
    free(list);
}

/* ---- a 4-replica cluster with real Ed25519 ---- */

#define N 4
typedef struct node {
    certa_pbft *r;
    int id;
    uint8_t **blocks;
    size_t *blens;
    size_t nblocks;
} node;

static certa_key *keys[N];
static certa_pubkey *pubs[N];
static node nodes[N];

static void ed_sign(void *ctx, const uint8_t *m, size_t len, uint8_t sig[64])
{
    node *nd = ctx;
    cr_assert_eq(certa_sign(keys[nd->id], m, len, sig, NULL), CERTA_OK);
}

static bool ed_verify(void *ctx, uint16_t signer, const uint8_t *m, size_t len,
                      const uint8_t sig[64])
{
    (void)ctx;
    return signer < N && certa_verify(pubs[signer], m, len, sig);
}

static bool v_req(void *ctx, const certa_pbft_request *q)
{
    (void)ctx;
    return q->len == 8 && q->bytes[0] == 'R';
}

static void build(void *ctx, const certa_block_header *parent, certa_block_header *h,
                  const certa_pbft_request *reqs, size_t n)
{
    (void)ctx;
    (void)parent;
    (void)reqs;
    h->event_count = (uint32_t)n;
    h->batch_count = (uint32_t)n;
}

static bool v_block(void *ctx, const certa_block_header *h,
                    const certa_pbft_request *reqs, size_t n)
{
    (void)ctx;
    (void)reqs;
    return h->event_count == n && h->batch_count == n;
}

static bool rd_block(void *ctx, uint64_t height, const uint8_t **out, size_t *len)
{
    node *nd = ctx;
    if (height == 0 || height > nd->nblocks)
        return false;
    *out = nd->blocks[height - 1];
    *len = nd->blens[height - 1];
    return true;
}

static const uint8_t chain_id[32] = {9, 9, 9};

static void config(certa_pbft_config *c, int id)
{
    certa_pbft_config_default(c, N, (uint16_t)id);
    memcpy(c->chain_id, chain_id, 32);
    c->checkpoint_interval = 2;
    c->window = 8;
    c->batch_requests_max = 2;
    c->crypto = (certa_pbft_crypto){&nodes[id], ed_sign, ed_verify};
    c->app = (certa_pbft_app){.ctx = &nodes[id],
                              .validate_request = v_req,
                              .build_block = build,
                              .validate_block = v_block,
                              .read_block = rd_block};
}

typedef struct qmsg {
    int to;
    uint8_t *b;
    size_t len;
} qmsg;
static qmsg q[100000];
static size_t qh, qt;

static void run_actions(int id, certa_pbft_actions a)
{
    for (size_t i = 0; i < a.count; i++) {
        const certa_pbft_action *x = &a.items[i];
        if (x->kind == CERTA_PBFT_ACT_SEND || x->kind == CERTA_PBFT_ACT_BROADCAST) {
            for (int j = 0; j < N; j++) {
                if (j == id || (x->kind == CERTA_PBFT_ACT_SEND && j != x->to))
                    continue;
                cr_assert_lt(qt, 100000u);
                q[qt].to = j;
                q[qt].b = malloc(x->len);
                memcpy(q[qt].b, x->bytes, x->len);
                q[qt].len = x->len;
                qt++;
            }
        } else if (x->kind == CERTA_PBFT_ACT_DELIVER) {
            node *nd = &nodes[id];
            cr_assert_eq(x->height, nd->nblocks + 1);
            nd->blocks = realloc(nd->blocks, (nd->nblocks + 1) * sizeof *nd->blocks);
            nd->blens = realloc(nd->blens, (nd->nblocks + 1) * sizeof *nd->blens);
            nd->blocks[nd->nblocks] = malloc(x->len);
            memcpy(nd->blocks[nd->nblocks], x->bytes, x->len);
            nd->blens[nd->nblocks++] = x->len;
        }
    }
}

static void cluster_create(void)
{
    qh = qt = 0;
    for (int i = 0; i < N; i++) {
        uint8_t seed[32] = {(uint8_t)(i + 1)};
        uint8_t pub[32];
        cr_assert_eq(certa_key_from_seed(seed, &keys[i], NULL), CERTA_OK);
        certa_key_public(keys[i], pub);
        cr_assert_eq(certa_pubkey_from_raw(pub, &pubs[i], NULL), CERTA_OK);
        memset(&nodes[i], 0, sizeof nodes[i]);
        nodes[i].id = i;
        certa_pbft_config c;
        config(&c, i);
        cr_assert_eq(certa_pbft_create(&c, &nodes[i].r, NULL), CERTA_OK);
    }
}

/* Every replica ticks, then every queued message is delivered, at one time. */
static void cluster_round(certa_pbft_time now)
{
    for (int i = 0; i < N; i++) {
        certa_pbft_input t = {CERTA_PBFT_IN_TICK, NULL, 0, 0, 0};
        run_actions(i, certa_pbft_step(nodes[i].r, &t, now));
    }
    while (qh < qt) {
        qmsg m = q[qh++];
        certa_pbft_input in = {CERTA_PBFT_IN_MESSAGE, m.b, m.len, 0, 0};
        run_actions(m.to, certa_pbft_step(nodes[m.to].r, &in, now));
        free(m.b);
    }
}

Test(pbft, cluster_with_ed25519_commits_with_certificates)
{
    cluster_create();
    uint64_t now = 1000;
    for (int k = 0; k < 10; k++) {
        uint8_t req[8] = {'R', (uint8_t)k};
        certa_pbft_input in = {CERTA_PBFT_IN_REQUEST, req, 8, 1, (uint64_t)k + 1};
        run_actions(k % N, certa_pbft_step(nodes[k % N].r, &in, T(now)));
    }
    for (int round = 0; round < 50; round++) {
        now += 10;
        cluster_round(T(now));
    }
    size_t height = nodes[0].nblocks;
    cr_assert_geq(height, 5, "10 requests in blocks of 2");
    for (int i = 0; i < N; i++) {
        cr_assert_eq(nodes[i].nblocks, height);
        for (size_t h = 0; h < height; h++) {
            cr_assert_eq(nodes[i].blens[h], nodes[0].blens[h] + 0 * h);
            certa_pbft_msg rec;
            cr_assert_eq(certa_pbft_msg_decode(nodes[i].blocks[h], nodes[i].blens[h], &rec),
                         CERTA_OK);
            uint8_t hb[CERTA_PBFT_HEADER_BYTES], hash[32];
            certa_pbft_header_encode(&rec.hdr, hb);
            certa_sha256(hb, sizeof hb, hash);
            uint16_t signers[N];
            uint8_t sigs[N][64];
            cr_assert_geq(rec.sig_count, 3);
            for (int s = 0; s < rec.sig_count; s++) {
                signers[s] = certa_get_le16(rec.sigs + 66 * s);
                memcpy(sigs[s], rec.sigs + 66 * s + 2, 64);
            }
            certa_pbft_crypto cr = {NULL, ed_sign, ed_verify};
            cr_assert(certa_pbft_verify_commit_cert(&cr, chain_id, N, rec.aux, h + 1, hash,
                                                    signers,
                                                    (const uint8_t(*)[64])sigs,
                                                    rec.sig_count));
            /* a certificate for another height does not verify */
            cr_assert(!certa_pbft_verify_commit_cert(&cr, chain_id, N, rec.aux, h + 2, hash,
                                                     signers,
                                                     (const uint8_t(*)[64])sigs,
                                                     rec.sig_count));
        }
    }
    cr_assert_geq(certa_pbft_stable_checkpoint(nodes[0].r), 2);

    /* drops are counted: garbage, an outsider, a bad signature */
    const certa_pbft_stats *st = certa_pbft_get_stats(nodes[1].r);
    uint64_t mal = st->dropped_malformed, out = st->dropped_outsider,
             bad = st->dropped_bad_signature;
    uint8_t junk[5] = {1, 2, 3, 4, 5};
    certa_pbft_input in = {CERTA_PBFT_IN_MESSAGE, junk, 5, 0, 0};
    certa_pbft_step(nodes[1].r, &in, T(now));
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_STATUS;
    m.sender = 9; /* not a validator */
    size_t len;
    uint8_t *b = certa_pbft_msg_encode(&m, &len);
    in.bytes = b;
    in.len = len;
    certa_pbft_step(nodes[1].r, &in, T(now));
    b[2] = 2; /* validator 2, but the signature is zeros */
    certa_pbft_step(nodes[1].r, &in, T(now));
    free(b);
    cr_assert_eq(st->dropped_malformed, mal + 1);
    cr_assert_eq(st->dropped_outsider, out + 1);
    cr_assert_eq(st->dropped_bad_signature, bad + 1);

    for (int i = 0; i < N; i++) {
        certa_pbft_free(nodes[i].r);
        for (size_t h = 0; h < nodes[i].nblocks; h++)
            free(nodes[i].blocks[h]);
        free(nodes[i].blocks);
        free(nodes[i].blens);
        certa_key_free(keys[i]);
        certa_pubkey_free(pubs[i]);
    }
}

/* The wall clock stepped an hour ahead (NTP, an operator) while requests
 * wait: timers run on the monotonic clock, so no view change starts, blocks
 * keep committing in view 0, and only their timestamps move. With one clock
 * for both, every replica's view timer would fire at the step. */
Test(pbft, a_stepped_wall_clock_fires_no_timer)
{
    cluster_create();
    const uint64_t hour_ms = 3600ull * 1000;
    certa_pbft_time now = {.mono_ms = 5000, .real_ms = 1000000};
    uint64_t before_jump = 0;
    for (int k = 0; k < 60; k++) {
        if (k == 30) {
            before_jump = nodes[0].nblocks;
            now.real_ms += hour_ms;
        }
        /* a request arrives every round, so some always wait */
        uint8_t req[8] = {'R', (uint8_t)k, (uint8_t)(k >> 8)};
        certa_pbft_input in = {CERTA_PBFT_IN_REQUEST, req, 8, 1, (uint64_t)k + 1};
        run_actions(k % N, certa_pbft_step(nodes[k % N].r, &in, now));
        now.mono_ms += 10;
        now.real_ms += 10;
        cluster_round(now);
    }
    cr_assert_gt(before_jump, 0);
    cr_assert_gt(nodes[0].nblocks, before_jump + 5, "blocks commit after the step");
    for (int i = 0; i < N; i++) {
        cr_assert_eq(certa_pbft_view(nodes[i].r), 0, "replica %d changed view", i);
        cr_assert(!certa_pbft_in_view_change(nodes[i].r));
        cr_assert_eq(certa_pbft_get_stats(nodes[i].r)->view_changes, 0);
    }
    /* the blocks after the step carry the stepped wall clock */
    certa_pbft_msg last;
    size_t h = nodes[0].nblocks;
    cr_assert_eq(certa_pbft_msg_decode(nodes[0].blocks[h - 1], nodes[0].blens[h - 1], &last),
                 CERTA_OK);
    cr_assert_geq(last.hdr.timestamp_ms, 1000000 + hour_ms);
    for (int i = 0; i < N; i++)
        certa_pbft_free(nodes[i].r);
}

/* A governed change of the timing reaches the core: a partial block waits
 * the new batch timeout (the primary's next timer), and values out of the
 * config's ranges are refused without changing anything. */
Test(pbft, set_timing_changes_the_batch_timer_and_refuses_bad_values)
{
    cluster_create();
    certa_pbft *r = nodes[0].r; /* the primary of view 0 */
    cr_assert(!certa_pbft_set_timing(r, 0, 1000, 65536), "batch timeout 0");
    cr_assert(!certa_pbft_set_timing(r, 100, 100, 65536), "view timeout not above");
    cr_assert(!certa_pbft_set_timing(r, 10, 1000, 0), "no bytes");
    cr_assert(!certa_pbft_set_timing(r, 10, 1000, CERTA_BLOCK_BYTES_MAX + 1), "too many bytes");
    /* a partial block (one request; blocks hold 2) closes after the batch
     * timeout: 5 ms by default, 150 once set (below the 200 ms resend) */
    cr_assert(certa_pbft_set_timing(r, 150, 5000, 65536));
    uint8_t req[8] = {'R', 1};
    certa_pbft_input in = {CERTA_PBFT_IN_REQUEST, req, 8, 1, 1};
    certa_pbft_actions a = certa_pbft_step(r, &in, T(1000));
    cr_assert_eq(a.timer_at_ms, 1150, "next timer %llu, not the new batch timeout",
                 (unsigned long long)a.timer_at_ms);
    certa_pbft_input tick = {CERTA_PBFT_IN_TICK, NULL, 0, 0, 0};
    a = certa_pbft_step(r, &tick, T(1149));
    cr_assert_eq(certa_pbft_get_stats(r)->proposals, 0, "closed before the timeout");
    a = certa_pbft_step(r, &tick, T(1150));
    cr_assert_eq(certa_pbft_get_stats(r)->proposals, 1, "not closed at the timeout");
    for (int i = 0; i < N; i++)
        certa_pbft_free(nodes[i].r);
}

Test(pbft, config_is_validated)
{
    certa_pbft_config c;
    certa_pbft *r = NULL;
    certa_pbft_config_default(&c, 5, 0);
    cr_assert_eq(certa_pbft_create(&c, &r, NULL), CERTA_E_ARG); /* not 3f+1 */
    certa_pbft_config_default(&c, 4, 4);
    cr_assert_eq(certa_pbft_create(&c, &r, NULL), CERTA_E_ARG); /* id >= n */
    certa_pbft_config_default(&c, 4, 0);
    cr_assert_eq(certa_pbft_create(&c, &r, NULL), CERTA_E_ARG); /* no callbacks */
    config(&c, 0);
    c.window = c.checkpoint_interval;
    cr_assert_eq(certa_pbft_create(&c, &r, NULL), CERTA_E_ARG); /* window < 2K */
    cr_assert_null(r);
}

/* ---- single-replica protocol checks, messages crafted and signed here ---- */

static void keys_up(void)
{
    for (int i = 0; i < N; i++) {
        uint8_t seed[32] = {(uint8_t)(i + 1)};
        uint8_t pub[32];
        cr_assert_eq(certa_key_from_seed(seed, &keys[i], NULL), CERTA_OK);
        certa_key_public(keys[i], pub);
        cr_assert_eq(certa_pubkey_from_raw(pub, &pubs[i], NULL), CERTA_OK);
        memset(&nodes[i], 0, sizeof nodes[i]);
        nodes[i].id = i;
    }
}

static void keys_down(void)
{
    for (int i = 0; i < N; i++) {
        certa_key_free(keys[i]);
        certa_pubkey_free(pubs[i]);
    }
}

/* Encodes m as validator `as` and signs it with that validator's key. */
static uint8_t *signed_as(int as, certa_pbft_msg *m, size_t *len)
{
    m->sender = (uint16_t)as;
    m->sig = NULL;
    uint8_t *b = certa_pbft_msg_encode(m, len);
    size_t sl = *len - 64;
    size_t need = certa_pbft_sig_input(chain_id, b, sl, NULL, 0);
    uint8_t *in = malloc(need);
    certa_pbft_sig_input(chain_id, b, sl, in, need);
    cr_assert_eq(certa_sign(keys[as], in, need, b + sl, NULL), CERTA_OK);
    free(in);
    return b;
}

/* Signs m over chain_id || all its bytes, whatever its type. */
static uint8_t *signed_direct_as(int as, certa_pbft_msg *m, size_t *len)
{
    m->sender = (uint16_t)as;
    m->sig = NULL;
    uint8_t *b = certa_pbft_msg_encode(m, len);
    size_t sl = *len - 64;
    uint8_t *in = malloc(32 + sl);
    memcpy(in, chain_id, 32);
    memcpy(in + 32, b, sl);
    cr_assert_eq(certa_sign(keys[as], in, 32 + sl, b + sl, NULL), CERTA_OK);
    free(in);
    return b;
}

/* lenp is read here, after the argument that fills it was evaluated (the
 * order of evaluation of arguments is unspecified) */
static certa_pbft_actions feed(certa_pbft *r, uint8_t *b, const size_t *lenp,
                               uint64_t now)
{
    certa_pbft_input in = {CERTA_PBFT_IN_MESSAGE, b, *lenp, 0, 0};
    certa_pbft_actions a = certa_pbft_step(r, &in, T(now));
    free(b);
    return a;
}

static uint8_t *pre_prepare(uint64_t view, uint64_t seq, uint64_t ts, int nreq,
                            size_t *len);

static uint8_t *view_change(int from, uint64_t view, size_t *len)
{
    static uint8_t empty[4];
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_VIEW_CHANGE;
    m.view = view;
    m.seq = 0; /* genesis checkpoint: header is the (zero) genesis header */
    certa_pbft_list_parse(empty, 4, &m.l1);
    certa_pbft_list_parse(empty, 4, &m.l2);
    return signed_as(from, &m, len);
}

Test(pbft, higher_views_only_on_f_plus_1_and_within_lookahead)
{
    keys_up();
    certa_pbft_config c;
    config(&c, 0);
    certa_pbft *r = NULL;
    cr_assert_eq(certa_pbft_create(&c, &r, NULL), CERTA_OK);
    const certa_pbft_stats *st = certa_pbft_get_stats(r);
    size_t len;
    /* a Byzantine replica announcing a huge view is dropped */
    feed(r, view_change(1, 1000000, &len), &len, 10);
    cr_assert_eq(st->dropped_view, 1);
    cr_assert_eq(certa_pbft_view(r), 0);
    /* one view-change (f = 1) does not move the replica */
    feed(r, view_change(1, 3, &len), &len, 11);
    cr_assert_eq(certa_pbft_view(r), 0);
    cr_assert(!certa_pbft_in_view_change(r));
    /* f+1 = 2 do: it joins the smallest of their views */
    certa_pbft_actions a = feed(r, view_change(2, 2, &len), &len, 12);
    cr_assert_eq(certa_pbft_view(r), 2);
    cr_assert(certa_pbft_in_view_change(r));
    /* and persisted its own view-change before broadcasting it */
    int persisted = -1, sent = -1;
    for (size_t i = 0; i < a.count; i++) {
        if (a.items[i].kind == CERTA_PBFT_ACT_PERSIST &&
            a.items[i].record_kind == CERTA_PBFT_MSG_VIEW_CHANGE && persisted < 0)
            persisted = (int)i;
        if (a.items[i].kind == CERTA_PBFT_ACT_BROADCAST && a.items[i].len > 2 &&
            a.items[i].bytes[1] == CERTA_PBFT_MSG_VIEW_CHANGE && sent < 0)
            sent = (int)i;
    }
    cr_assert(persisted >= 0 && sent > persisted);
    /* a view-change with a forged prepared certificate is refused */
    uint64_t inv = st->dropped_invalid;
    size_t pl, l1, l2, cl, vl;
    uint8_t *pp = pre_prepare(0, 1, 1000, 1, &pl);
    certa_pbft_msg ppm;
    cr_assert_eq(certa_pbft_msg_decode(pp, pl, &ppm), CERTA_OK);
    certa_pbft_msg pr;
    memset(&pr, 0, sizeof pr);
    pr.type = CERTA_PBFT_MSG_PREPARE;
    pr.view = 0;
    pr.seq = 1;
    uint8_t hb[CERTA_PBFT_HEADER_BYTES];
    certa_pbft_header_encode(&ppm.hdr, hb);
    certa_sha256(hb, sizeof hb, pr.digest);
    uint8_t *p1 = signed_as(3, &pr, &l1); /* honest prepare by 3 */
    uint8_t *p2 = signed_as(3, &pr, &l2);
    p2[2] = 1; /* claims to be from 1, signed by 3 */
    const uint8_t *ci[3] = {pp, p1, p2};
    size_t cls[3] = {pl, l1, l2};
    uint8_t *cert = certa_pbft_list_build(ci, cls, 3, &cl);
    const uint8_t *vi[1] = {cert};
    size_t vls[1] = {cl};
    uint8_t *certs = certa_pbft_list_build(vi, vls, 1, &vl);
    certa_pbft_msg vc;
    memset(&vc, 0, sizeof vc);
    static uint8_t empty[4];
    vc.type = CERTA_PBFT_MSG_VIEW_CHANGE;
    vc.view = 3;
    certa_pbft_list_parse(empty, 4, &vc.l1);
    certa_pbft_list_parse(certs, vl, &vc.l2);
    feed(r, signed_as(3, &vc, &len), &len, 13);
    cr_assert_eq(st->dropped_invalid, inv + 1);
    free(pp);
    free(p1);
    free(p2);
    free(cert);
    free(certs);
    certa_pbft_free(r);
    keys_down();
}

static uint8_t *pre_prepare(uint64_t view, uint64_t seq, uint64_t ts, int nreq,
                            size_t *len)
{
    static uint8_t item[18] = {1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 'R', 1, 2, 3, 4, 5, 6, 7};
    const uint8_t *items[1] = {item};
    size_t lens[1] = {sizeof item};
    size_t ll = 0;
    uint8_t *list = certa_pbft_list_build(items, lens, (size_t)nreq, &ll);
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_PRE_PREPARE;
    m.view = view;
    m.seq = seq;
    m.hdr.height = seq;
    m.hdr.view = view;
    m.hdr.timestamp_ms = ts;
    m.hdr.proposer = (uint16_t)(view % N);
    m.hdr.event_count = (uint32_t)nreq;
    m.hdr.batch_count = (uint32_t)nreq;
    certa_block_header g;
    memset(&g, 0, sizeof g);
    uint8_t gb[CERTA_PBFT_HEADER_BYTES];
    certa_pbft_header_encode(&g, gb);
    certa_sha256(gb, sizeof gb, m.hdr.prev_hash);
    certa_pbft_list_parse(list, ll, &m.reqs);
    uint8_t *b = signed_as((int)(view % N), &m, len);
    free(list);
    return b;
}

static bool sent_prepare(certa_pbft_actions a)
{
    for (size_t i = 0; i < a.count; i++)
        if (a.items[i].kind == CERTA_PBFT_ACT_BROADCAST &&
            a.items[i].bytes[1] == CERTA_PBFT_MSG_PREPARE)
            return true;
    return false;
}

Test(pbft, pre_prepare_time_window_and_sender_checks)
{
    keys_up();
    certa_pbft_config c;
    config(&c, 1);
    c.clock_skew_ms_max = 500;
    certa_pbft *r = NULL;
    cr_assert_eq(certa_pbft_create(&c, &r, NULL), CERTA_OK);
    const certa_pbft_stats *st = certa_pbft_get_stats(r);
    uint64_t now = 100000;
    size_t len;
    /* too far in the future */
    cr_assert(!sent_prepare(feed(r, pre_prepare(0, 1, now + 501, 1, &len), &len, now)));
    cr_assert_eq(st->dropped_invalid, 1);
    /* too old, with requests */
    cr_assert(!sent_prepare(feed(r, pre_prepare(0, 1, now - 501, 1, &len), &len, now)));
    cr_assert_eq(st->dropped_invalid, 2);
    /* beyond the high watermark (window 8) */
    cr_assert(!sent_prepare(feed(r, pre_prepare(0, 9, now, 1, &len), &len, now)));
    cr_assert_eq(st->dropped_window, 1);
    /* from a backup instead of the primary: its signature is fine, its role not */
    certa_pbft_msg m;
    uint8_t *b = pre_prepare(0, 1, now, 1, &len);
    cr_assert_eq(certa_pbft_msg_decode(b, len, &m), CERTA_OK);
    uint8_t *forged = signed_as(2, &m, &len);
    free(b);
    cr_assert(!sent_prepare(feed(r, forged, &len, now)));
    cr_assert_eq(st->dropped_invalid, 3);
    /* signed by the primary over all its bytes instead of their SHA-256:
     * a pre-prepare's signature covers the prehashed form only */
    b = pre_prepare(0, 1, now, 1, &len);
    cr_assert_eq(certa_pbft_msg_decode(b, len, &m), CERTA_OK);
    uint8_t *direct = signed_direct_as(0, &m, &len);
    free(b);
    cr_assert(!sent_prepare(feed(r, direct, &len, now)));
    cr_assert_eq(st->dropped_bad_signature, 1);
    /* a good one is prepared; a second, different one for the same slot is
     * a conflict */
    cr_assert(sent_prepare(feed(r, pre_prepare(0, 1, now, 1, &len), &len, now)));
    cr_assert(!sent_prepare(feed(r, pre_prepare(0, 1, now + 1, 1, &len), &len, now)));
    cr_assert_eq(st->dropped_conflict, 1);
    certa_pbft_free(r);
    keys_down();
}

static uint8_t *vote(int from, uint8_t type, uint64_t seq, const uint8_t d[32], size_t *len)
{
    certa_pbft_msg v;
    memset(&v, 0, sizeof v);
    v.type = type;
    v.view = 0;
    v.seq = seq;
    memcpy(v.digest, d, 32);
    return signed_as(from, &v, len);
}

/* Votes that arrive after their slot's quorum are dropped before their
 * signature is checked (a damaged signature there is not even noticed);
 * a vote that still counts is verified. */
Test(pbft, late_votes_are_not_verified)
{
    keys_up();
    certa_pbft_config c;
    config(&c, 1);
    c.clock_skew_ms_max = 500;
    certa_pbft *r = NULL;
    cr_assert_eq(certa_pbft_create(&c, &r, NULL), CERTA_OK);
    const certa_pbft_stats *st = certa_pbft_get_stats(r);
    uint64_t now = 100000;
    size_t len;
    uint8_t *pp = pre_prepare(0, 1, now, 1, &len);
    certa_pbft_msg ppm;
    cr_assert_eq(certa_pbft_msg_decode(pp, len, &ppm), CERTA_OK);
    uint8_t hb[CERTA_PBFT_HEADER_BYTES], d[32];
    certa_pbft_header_encode(&ppm.hdr, hb);
    certa_sha256(hb, sizeof hb, d);
    cr_assert(sent_prepare(feed(r, pp, &len, now)));
    /* a damaged vote that still counts is caught */
    uint8_t *bad = vote(2, CERTA_PBFT_MSG_PREPARE, 1, d, &len);
    bad[len - 1] ^= 1;
    feed(r, bad, &len, now);
    cr_assert_eq(st->dropped_bad_signature, 1);
    cr_assert_eq(st->late_votes, 0);
    /* own prepare + 2's: prepared */
    feed(r, vote(2, CERTA_PBFT_MSG_PREPARE, 1, d, &len), &len, now);
    bad = vote(3, CERTA_PBFT_MSG_PREPARE, 1, d, &len);
    bad[len - 1] ^= 1;
    feed(r, bad, &len, now);
    cr_assert_eq(st->late_votes, 1);
    cr_assert_eq(st->dropped_bad_signature, 1);
    /* own commit + 0's + 2's: committed; 3's comes late */
    feed(r, vote(0, CERTA_PBFT_MSG_COMMIT, 1, d, &len), &len, now);
    feed(r, vote(2, CERTA_PBFT_MSG_COMMIT, 1, d, &len), &len, now);
    cr_assert_eq(certa_pbft_last_executed(r), 1);
    bad = vote(3, CERTA_PBFT_MSG_COMMIT, 1, d, &len);
    bad[len - 1] ^= 1;
    feed(r, bad, &len, now);
    cr_assert_eq(st->late_votes, 2);
    cr_assert_eq(st->dropped_bad_signature, 1);
    certa_pbft_free(r);
    keys_down();
}

/* A forwarded REQUEST is judged by its content (validate_request), not by
 * the forwarder's signature: a damaged signature does not stop a genuine
 * request, and a well-signed request with bad content is still refused. */
Test(pbft, forwarded_requests_are_judged_by_content)
{
    keys_up();
    certa_pbft_config c;
    config(&c, 0);
    certa_pbft *r = NULL;
    cr_assert_eq(certa_pbft_create(&c, &r, NULL), CERTA_OK);
    const certa_pbft_stats *st = certa_pbft_get_stats(r);
    certa_pbft_msg m;
    memset(&m, 0, sizeof m);
    m.type = CERTA_PBFT_MSG_REQUEST;
    m.integrator = 1;
    m.seq = 7;
    static const uint8_t good_body[8] = {'R', 1, 2, 3, 4, 5, 6, 7};
    static const uint8_t bad_body[8] = {'X', 1, 2, 3, 4, 5, 6, 7};
    m.body = good_body;
    m.body_len = sizeof good_body;
    size_t len;
    uint8_t *b = signed_as(2, &m, &len);
    b[len - 1] ^= 1;
    feed(r, b, &len, 10);
    cr_assert_eq(st->dropped_bad_signature, 0);
    cr_assert_eq(st->dropped_requests, 0);
    m.seq = 8;
    m.body = bad_body;
    b = signed_as(2, &m, &len);
    feed(r, b, &len, 11);
    cr_assert_eq(st->dropped_requests, 1);
    certa_pbft_free(r);
    keys_down();
}

/* A replica restarts with a stable checkpoint above the block it last
 * executed (the CHECKPOINT record was persisted, the blocks up to it were
 * not yet written). It must not propose on a parent it does not have: as
 * primary of view 0 with a request pending it sends no PRE-PREPARE, and it
 * asks a peer for the blocks after its tip (FETCH from height 1). */
Test(pbft, restart_with_checkpoint_above_tip_fetches_before_proposing)
{
    keys_up();
    certa_pbft_config c;
    config(&c, 0);
    certa_pbft *r = NULL;
    cr_assert_eq(certa_pbft_create(&c, &r, NULL), CERTA_OK);
    static uint8_t empty[4];
    certa_pbft_msg ck;
    memset(&ck, 0, sizeof ck);
    ck.type = CERTA_PBFT_REC_CHECKPOINT;
    ck.seq = 4;
    ck.hdr.height = 4;
    cr_assert(certa_pbft_list_parse(empty, sizeof empty, &ck.l1));
    size_t ck_len = 0;
    uint8_t *rec = certa_pbft_msg_encode(&ck, &ck_len);
    const uint8_t *recs[1] = {rec};
    cr_assert_eq(certa_pbft_restore(r, NULL, 0, recs, &ck_len, 1, NULL), CERTA_OK);
    free(rec);
    cr_assert_eq(certa_pbft_last_executed(r), 0);
    static const uint8_t body[8] = {'R', 1, 2, 3, 4, 5, 6, 7};
    certa_pbft_input req = {CERTA_PBFT_IN_REQUEST, body, sizeof body, 1, 1};
    bool fetched = false;
    for (uint64_t now = 1000; now <= 1300; now += 100) {
        certa_pbft_input tick = {CERTA_PBFT_IN_TICK, NULL, 0, 0, 0};
        certa_pbft_actions a = certa_pbft_step(r, now == 1000 ? &req : &tick, T(now));
        for (size_t i = 0; i < a.count; i++) {
            const certa_pbft_action *x = &a.items[i];
            if (x->kind != CERTA_PBFT_ACT_SEND && x->kind != CERTA_PBFT_ACT_BROADCAST)
                continue;
            certa_pbft_msg m;
            cr_assert_eq(certa_pbft_msg_decode(x->bytes, x->len, &m), CERTA_OK);
            cr_assert_neq(m.type, CERTA_PBFT_MSG_PRE_PREPARE, "proposed at %llu",
                          (unsigned long long)now);
            if (m.type == CERTA_PBFT_MSG_FETCH) {
                cr_assert_eq(m.seq, 1);
                fetched = true;
            }
        }
    }
    cr_assert(fetched, "no FETCH for the blocks below the checkpoint");
    cr_assert_eq(certa_pbft_get_stats(r)->proposals, 0);
    certa_pbft_free(r);
    keys_down();
}
