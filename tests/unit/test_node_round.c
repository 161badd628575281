/* Tests for node/round.c against a fake node_io that records every call:
 * persist before send (the consensus core's contract) and the failure paths
 * (a failed persist, block, deliver or sync sends nothing, then or later),
 * the bounded queue, and that the core's timers run on the monotonic clock
 * while block timestamps take the wall clock. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "certa/pbft.h"
#include "pbft_msg.h"
#include "round.h"

typedef struct fake {
    char log[4096]; /* one letter per call: R record, G gc, B block, Y sync, S send */
    size_t n;
    int fail_record, fail_block, fail_sync, fail_deliver; /* fail the k-th call (1-based) */
    int records, blocks, syncs, delivers;
    uint32_t sent_to[64];
    uint8_t sent_first[64];
    uint32_t sent_sum[64]; /* sum of the bytes, times their position */
    size_t nsent;
    uint8_t first[65536]; /* the first message sent, whole */
    size_t first_len;
    uint64_t mono, real;
} fake;

static void note(fake *f, char c)
{
    cr_assert_lt(f->n, sizeof f->log - 1);
    f->log[f->n++] = c;
    f->log[f->n] = 0;
}

static certa_err f_record(void *ctx, uint8_t kind, uint64_t height, uint64_t view,
                          const uint8_t *bytes, size_t len, certa_errinfo *ei)
{
    (void)kind, (void)height, (void)view, (void)bytes, (void)len;
    fake *f = ctx;
    note(f, 'R');
    if (++f->records == f->fail_record)
        return certa_errorf(ei, CERTA_E_IO, "disk full");
    return CERTA_OK;
}

static void f_gc(void *ctx, uint64_t height, uint64_t view)
{
    (void)height, (void)view;
    note(ctx, 'G');
}

static certa_err f_block(void *ctx, uint64_t height, const uint8_t *bytes, size_t len,
                         certa_errinfo *ei)
{
    (void)height, (void)bytes, (void)len;
    fake *f = ctx;
    note(f, 'B');
    if (++f->blocks == f->fail_block)
        return certa_errorf(ei, CERTA_E_IO, "disk full");
    return CERTA_OK;
}

static certa_err f_sync(void *ctx, certa_errinfo *ei)
{
    fake *f = ctx;
    note(f, 'Y');
    if (++f->syncs == f->fail_sync)
        return certa_errorf(ei, CERTA_E_IO, "fsync: EIO");
    return CERTA_OK;
}

static void f_send(void *ctx, uint32_t to, const uint8_t *bytes, size_t len)
{
    fake *f = ctx;
    note(f, 'S');
    cr_assert_lt(f->nsent, 64u);
    f->sent_to[f->nsent] = to;
    uint32_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += (uint32_t)bytes[i] * (uint32_t)(i + 1);
    f->sent_sum[f->nsent] = sum;
    f->sent_first[f->nsent++] = len > 0 ? bytes[0] : 0;
    if (f->nsent == 1 && len <= sizeof f->first) {
        memcpy(f->first, bytes, len);
        f->first_len = len;
    }
}

static uint64_t f_mono(void *ctx)
{
    return ((fake *)ctx)->mono;
}

static uint64_t f_real(void *ctx)
{
    return ((fake *)ctx)->real;
}

static void f_random(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    memset(buf, 7, len);
}

static certa_err f_deliver(void *ctx, uint64_t height, const uint8_t *bytes, size_t len,
                           certa_errinfo *ei)
{
    (void)height, (void)bytes, (void)len;
    fake *f = ctx;
    note(f, 'D');
    if (++f->delivers == f->fail_deliver)
        return certa_errorf(ei, CERTA_E_LIMIT, "execution queue full");
    return CERTA_OK;
}

static fake F;
static node_io IO;
static node_round RD;

static void setup(uint32_t out_max)
{
    memset(&F, 0, sizeof F);
    IO = (node_io){&F, f_record, f_gc, f_block, f_sync, f_send, f_mono, f_real, f_random};
    cr_assert_eq(node_round_init(&RD, &IO, out_max, 64, f_deliver, &F, NULL), CERTA_OK);
}

static const uint8_t M1[] = {1, 1}, M2[] = {2, 2}, REC[] = {9}, BLK[] = {8, 8, 8};

/* PERSIST, BROADCAST, DELIVER, SEND, GC: what one step of a primary may ask */
static void take_step(void)
{
    certa_pbft_action a[5] = {
        {.kind = CERTA_PBFT_ACT_PERSIST, .record_kind = 2, .height = 5, .bytes = REC, .len = 1},
        {.kind = CERTA_PBFT_ACT_BROADCAST, .bytes = M1, .len = 2},
        {.kind = CERTA_PBFT_ACT_DELIVER, .height = 4, .bytes = BLK, .len = 3},
        {.kind = CERTA_PBFT_ACT_SEND, .to = 2, .bytes = M2, .len = 2},
        {.kind = CERTA_PBFT_ACT_PERSIST_GC, .height = 3},
    };
    certa_pbft_actions acts = {.items = a, .count = 5, .timer_at_ms = 777};
    node_round_take(&RD, &acts);
}

Test(node_round, sends_only_after_the_sync_that_covers_its_records)
{
    setup(16);
    take_step();
    cr_assert_str_eq(F.log, "RBDG", "persisted at once, nothing sent yet");
    cr_assert(node_round_pending(&RD));
    cr_assert_eq(RD.timer_at_ms, 777);
    take_step(); /* a second step in the same round */
    cr_assert_eq(node_round_finish(&RD, NULL), CERTA_OK);
    cr_assert_str_eq(F.log, "RBDGRBDGYSSSS", "one sync, then every message in order");
    cr_assert_eq(F.sent_to[0], NODE_IO_TO_ALL);
    cr_assert_eq(F.sent_first[0], 1);
    cr_assert_eq(F.sent_to[1], 2);
    cr_assert_eq(F.sent_first[1], 2);
    cr_assert(!node_round_pending(&RD));
    /* nothing persisted: a round of sends only needs no sync */
    certa_pbft_action s = {.kind = CERTA_PBFT_ACT_SEND, .to = 1, .bytes = M2, .len = 2};
    certa_pbft_actions acts = {.items = &s, .count = 1};
    node_round_take(&RD, &acts);
    cr_assert_eq(node_round_finish(&RD, NULL), CERTA_OK);
    cr_assert_str_eq(F.log, "RBDGRBDGYSSSSS");
    node_round_free(&RD);
}

static void assert_never_sends_again(void)
{
    size_t before = F.nsent;
    certa_errinfo ei;
    cr_assert_eq(node_round_finish(&RD, &ei), CERTA_E_IO);
    take_step();
    cr_assert_neq(node_round_finish(&RD, &ei), CERTA_OK);
    cr_assert_eq(F.nsent, before, "a failed round sent %zu messages", F.nsent - before);
    cr_assert_eq(RD.nout, 0u, "nothing is even queued once failed");
}

Test(node_round, a_failed_record_sends_nothing_then_or_later)
{
    setup(16);
    F.fail_record = 1;
    take_step();
    cr_assert(RD.failed);
    certa_errinfo ei;
    cr_assert_eq(node_round_finish(&RD, &ei), CERTA_E_IO);
    cr_assert_null(strchr(F.log, 'Y'), "no sync after a failed append: %s", F.log);
    cr_assert_null(strchr(F.log, 'S'), "sent after a failed append: %s", F.log);
    cr_assert_null(strchr(F.log, 'B'), "kept appending after a failure: %s", F.log);
    assert_never_sends_again();
    node_round_free(&RD);
}

Test(node_round, a_failed_block_or_deliver_fails_the_round)
{
    setup(16);
    F.fail_block = 1;
    take_step();
    cr_assert(RD.failed);
    cr_assert_null(strchr(F.log, 'D'), "a block that was not appended reached execution");
    assert_never_sends_again();
    node_round_free(&RD);

    setup(16);
    F.fail_deliver = 1;
    take_step();
    cr_assert(RD.failed);
    assert_never_sends_again();
    node_round_free(&RD);
}

Test(node_round, a_failed_sync_sends_nothing)
{
    setup(16);
    F.fail_sync = 1;
    take_step();
    certa_errinfo ei;
    cr_assert_eq(node_round_finish(&RD, &ei), CERTA_E_IO);
    cr_assert_str_eq(F.log, "RBDGY");
    cr_assert_eq(F.nsent, 0u);
    assert_never_sends_again();
    cr_assert_eq(F.syncs, 1, "a failed round does not try to sync again");
    node_round_free(&RD);
}

Test(node_round, the_queue_is_bounded_and_drops_the_excess)
{
    setup(3);
    take_step(); /* 2 messages */
    take_step(); /* 2 more: one fits */
    cr_assert_eq(RD.nout, 3u);
    cr_assert_eq(RD.dropped, 1u);
    cr_assert_eq(node_round_finish(&RD, NULL), CERTA_OK);
    cr_assert_eq(F.nsent, 3u);
    node_round_free(&RD);
}

/* The arena (64 bytes here) takes a round's messages without a heap copy;
 * one that does not fit is copied to the heap, never refused; every finish
 * empties the arena for the next round. */
Test(node_round, the_arena_holds_a_round_and_spills_to_the_heap)
{
    setup(16);
    uint8_t m[4][20];
    uint32_t want[4];
    certa_pbft_action a[4];
    for (int k = 0; k < 4; k++) {
        want[k] = 0;
        for (int i = 0; i < 20; i++) {
            m[k][i] = (uint8_t)(k * 31 + i);
            want[k] += (uint32_t)m[k][i] * (uint32_t)(i + 1);
        }
        a[k] = (certa_pbft_action){.kind = CERTA_PBFT_ACT_SEND, .to = (uint16_t)k,
                                   .bytes = m[k], .len = 20};
    }
    for (int round = 0; round < 3; round++) {
        certa_pbft_actions three = {.items = a, .count = 3};
        node_round_take(&RD, &three);
        cr_assert_eq(RD.heap_messages, (uint64_t)round, "three of 20 bytes fit in 64");
        certa_pbft_actions one = {.items = &a[3], .count = 1};
        node_round_take(&RD, &one);
        cr_assert_eq(RD.heap_messages, (uint64_t)round + 1, "the fourth spills");
        size_t before = F.nsent;
        cr_assert_eq(node_round_finish(&RD, NULL), CERTA_OK);
        cr_assert_eq(F.nsent, before + 4);
        for (int k = 0; k < 4; k++) {
            cr_assert_eq(F.sent_to[before + k], (uint32_t)k);
            cr_assert_eq(F.sent_sum[before + k], want[k], "message %d altered", k);
        }
        cr_assert_eq(RD.arena_used, 0u);
    }
    cr_assert_eq(RD.messages, 12u);
    node_round_free(&RD);
}

/* ---- the two clocks, through a real replica */

static void null_sign(void *ctx, const uint8_t *m, size_t len, uint8_t sig[64])
{
    (void)ctx, (void)m, (void)len;
    memset(sig, 0, 64);
}

static bool null_verify(void *ctx, uint16_t signer, const uint8_t *m, size_t len,
                        const uint8_t sig[64])
{
    (void)ctx, (void)signer, (void)m, (void)len, (void)sig;
    return true;
}

static bool any_request(void *ctx, const certa_pbft_request *q)
{
    (void)ctx, (void)q;
    return true;
}

static void build(void *ctx, const certa_block_header *parent, certa_block_header *h,
                  const certa_pbft_request *reqs, size_t n)
{
    (void)ctx, (void)parent, (void)reqs;
    h->event_count = h->batch_count = (uint32_t)n;
}

static bool any_block(void *ctx, const certa_block_header *h, const certa_pbft_request *reqs,
                      size_t n)
{
    (void)ctx, (void)h, (void)reqs, (void)n;
    return true;
}

Test(node_round, timers_run_on_the_monotonic_clock_timestamps_on_the_wall)
{
    setup(64);
    certa_pbft_config c;
    certa_pbft_config_default(&c, 4, 0); /* replica 0: the primary of view 0 */
    c.batch_requests_max = 1;
    c.crypto = (certa_pbft_crypto){NULL, null_sign, null_verify};
    c.app = (certa_pbft_app){.validate_request = any_request, .build_block = build,
                             .validate_block = any_block};
    certa_pbft *core;
    cr_assert_eq(certa_pbft_create(&c, &core, NULL), CERTA_OK);
    F.mono = 5000;                      /* ms since boot */
    F.real = 1800000000000ull;          /* Unix ms, 2027 */
    uint8_t req[8] = {'R'};
    certa_pbft_input in = {CERTA_PBFT_IN_REQUEST, req, 8, 1, 1};
    node_round_step(&RD, core, &in);
    cr_assert_neq(RD.timer_at_ms, 0u);
    cr_assert_lt(RD.timer_at_ms, F.mono + 3600000u,
                 "the next timer %llu is not on the monotonic clock",
                 (unsigned long long)RD.timer_at_ms);
    cr_assert_eq(node_round_finish(&RD, NULL), CERTA_OK);
    /* the proposal went out after the sync of its own record */
    const char *s = strchr(F.log, 'S');
    cr_assert_not_null(s, "the primary proposed nothing: %s", F.log);
    cr_assert_not_null(strchr(F.log, 'Y'));
    cr_assert_lt(strchr(F.log, 'Y'), s, "sent before the sync: %s", F.log);
    certa_pbft_msg pp;
    cr_assert_eq(certa_pbft_msg_decode(F.first, F.first_len, &pp), CERTA_OK);
    cr_assert_eq(pp.type, CERTA_PBFT_MSG_PRE_PREPARE);
    cr_assert_eq(pp.hdr.timestamp_ms, F.real, "the block's timestamp is not the wall clock");
    certa_pbft_free(core);
    node_round_free(&RD);
}
