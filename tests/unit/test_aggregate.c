/* Tests for engine/aggregate.c: an integrator's batcher seals what it was
 * given, in order, under the sequence number of the seal, signed so that a
 * validator accepts it; its window starts at each batch's first event; its
 * limits hold; malformed events are refused without touching the batch. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "certa/aggregate.h"
#include "certa/codec.h"
#include "certa/crypto.h"

static certa_key *key;
static certa_pubkey *pub;

static void setup(void)
{
    uint8_t seed[32], raw[CERTA_PUBKEY_BYTES];
    memset(seed, 0x5a, sizeof seed);
    cr_assert_eq(certa_key_from_seed(seed, &key, NULL), CERTA_OK);
    certa_key_public(key, raw);
    cr_assert_eq(certa_pubkey_from_raw(raw, &pub, NULL), CERTA_OK);
}

static void teardown(void)
{
    certa_key_free(key);
    certa_pubkey_free(pub);
}

TestSuite(aggregate, .init = setup, .fini = teardown);

static size_t make_event(int i, uint8_t out[CERTA_EVENT_BYTES_MAX])
{
    certa_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = CERTA_EV_CONFIRM;
    memset(ev.grant_id, 0x10 + i, sizeof ev.grant_id);
    ev.centre = 1;
    ev.counter = (uint16_t)(1 + i);
    memset(ev.evidence, 0xe0 + i, sizeof ev.evidence);
    size_t len = 0;
    certa_errinfo ei;
    cr_assert_eq(certa_event_encode(&ev, out, CERTA_EVENT_BYTES_MAX, &len, &ei), CERTA_OK, "%s",
                 ei.msg);
    return len;
}

static certa_agg *agg_new(uint32_t events_max, size_t bytes_max)
{
    certa_agg_opts o = {.integrator = 7, .key = key, .window_us = 5000,
                        .events_max = events_max, .bytes_max = bytes_max};
    certa_agg *a = NULL;
    certa_errinfo ei;
    cr_assert_eq(certa_agg_new(&o, &a, &ei), CERTA_OK, "%s", ei.msg);
    return a;
}

Test(aggregate, seals_in_order_signed_under_the_given_seq)
{
    certa_agg *a = agg_new(0, 0);
    uint8_t ev[3][CERTA_EVENT_BYTES_MAX];
    size_t len[3];
    cr_assert_eq(certa_agg_due_us(a), UINT64_MAX);
    for (int i = 0; i < 3; i++) {
        len[i] = make_event(i, ev[i]);
        cr_assert_eq(certa_agg_add(a, ev[i], len[i], 1000 + 10 * (uint64_t)i, NULL), CERTA_OK);
    }
    cr_assert_eq(certa_agg_pending(a), 3);
    cr_assert_eq(certa_agg_due_us(a), 1000 + 5000, "the window runs from the first event");
    const uint8_t *b;
    size_t blen;
    uint32_t n;
    cr_assert_eq(certa_agg_seal(a, 42, &b, &blen, &n, NULL), CERTA_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(certa_agg_pending(a), 0);
    cr_assert_eq(certa_agg_due_us(a), UINT64_MAX);
    certa_batch_view v;
    certa_errinfo ei;
    cr_assert_eq(certa_batch_decode(b, blen, &v, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert_eq(v.integrator, 7);
    cr_assert_eq(v.seq, 42);
    cr_assert_eq(v.event_count, 3);
    cr_assert_eq(certa_batch_verify(&v, pub, NULL), CERTA_OK);
    size_t pos = 0;
    const uint8_t *e;
    size_t elen;
    for (int i = 0; i < 3; i++) {
        cr_assert(certa_batch_next(&v, &pos, &e, &elen));
        cr_assert_eq(elen, len[i]);
        cr_assert_eq(memcmp(e, ev[i], elen), 0, "event %d kept as given, in order", i);
    }
    cr_assert_not(certa_batch_next(&v, &pos, &e, &elen));

    /* the next batch starts a window of its own, under its own seq */
    cr_assert_eq(certa_agg_add(a, ev[2], len[2], 90000, NULL), CERTA_OK);
    cr_assert_eq(certa_agg_due_us(a), 95000);
    cr_assert_eq(certa_agg_seal(a, 43, &b, &blen, &n, NULL), CERTA_OK);
    cr_assert_eq(certa_batch_decode(b, blen, &v, NULL), CERTA_OK);
    cr_assert_eq(v.seq, 43);
    cr_assert_eq(v.event_count, 1);
    cr_assert_eq(certa_batch_verify(&v, pub, NULL), CERTA_OK);
    certa_agg_free(a);
}

Test(aggregate, limits_hold_and_a_full_batch_says_so)
{
    certa_agg *a = agg_new(2, 0);
    uint8_t ev[CERTA_EVENT_BYTES_MAX];
    size_t len = make_event(0, ev);
    cr_assert_eq(certa_agg_add(a, ev, len, 1, NULL), CERTA_OK);
    cr_assert_eq(certa_agg_add(a, ev, len, 2, NULL), CERTA_OK);
    cr_assert_eq(certa_agg_add(a, ev, len, 3, NULL), CERTA_E_LIMIT);
    cr_assert_eq(certa_agg_pending(a), 2);
    const uint8_t *b;
    size_t blen;
    uint32_t n;
    cr_assert_eq(certa_agg_seal(a, 1, &b, &blen, &n, NULL), CERTA_OK);
    cr_assert_eq(n, 2);
    certa_agg_free(a);

    /* in bytes: a batch of at most 300 bytes takes as many events as fit */
    a = agg_new(0, 300);
    uint32_t fitted = 0;
    while (certa_agg_add(a, ev, len, 1, NULL) == CERTA_OK)
        fitted++;
    cr_assert_gt(fitted, 0);
    cr_assert_eq(certa_agg_seal(a, 9, &b, &blen, &n, NULL), CERTA_OK);
    cr_assert_eq(n, fitted);
    cr_assert_leq(blen, 300);
    cr_assert_gt(blen + len + 2, 300, "one more event would not have fitted");
    certa_batch_view v;
    cr_assert_eq(certa_batch_decode(b, blen, &v, NULL), CERTA_OK);
    cr_assert_eq(certa_batch_verify(&v, pub, NULL), CERTA_OK);
    certa_agg_free(a);
}

Test(aggregate, bad_input_refused_and_nothing_changes)
{
    certa_agg *a = agg_new(0, 0);
    uint8_t ev[CERTA_EVENT_BYTES_MAX];
    size_t len = make_event(0, ev);
    const uint8_t *b;
    size_t blen;
    uint32_t n;
    cr_assert_eq(certa_agg_seal(a, 1, &b, &blen, &n, NULL), CERTA_E_STATE, "nothing to seal");
    cr_assert_eq(certa_agg_add(a, ev, len, 5, NULL), CERTA_OK);
    uint8_t bad[CERTA_EVENT_BYTES_MAX];
    memcpy(bad, ev, len);
    bad[0] = 0xee; /* no such kind */
    cr_assert_neq(certa_agg_add(a, bad, len, 6, NULL), CERTA_OK);
    cr_assert_neq(certa_agg_add(a, ev, len - 1, 6, NULL), CERTA_OK, "a truncated event");
    cr_assert_eq(certa_agg_pending(a), 1);
    cr_assert_eq(certa_agg_due_us(a), 5005);
    cr_assert_eq(certa_agg_seal(a, 0, &b, &blen, &n, NULL), CERTA_E_ARG, "seq 0");
    cr_assert_eq(certa_agg_seal(a, 3, &b, &blen, &n, NULL), CERTA_OK);
    cr_assert_eq(n, 1);
    certa_agg_free(a);

    certa_agg_opts o = {.integrator = 1, .key = NULL};
    cr_assert_eq(certa_agg_new(&o, &a, NULL), CERTA_E_ARG);
    o.key = key;
    o.events_max = CERTA_BATCH_EVENTS_MAX + 1;
    cr_assert_eq(certa_agg_new(&o, &a, NULL), CERTA_E_ARG);
}
