/* Tests for engine/receipt_line.c: the fast receipt JSON writer (the
 * gateway's answers, `certa submit --receipts`) gives exactly certa_receipt_format_json's bytes for receipts of every
 * shape (ok and rejected, empty and long proofs, 1 to 64 signatures, short
 * and longest events, heights that decode and headers that do not, numbers
 * past 2^32), declines reasons that need escaping and receipts with a result proof, and never writes past
 * its buffer. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certa/certa.h"
#include "certa/codec.h"
#include "certa/receipt.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void fill(uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)next();
}

/* A receipt of shape k: its sizes and numbers vary with k. */
static void make(certa_receipt *r, unsigned k)
{
    memset(r, 0, sizeof *r);
    r->integrator = (uint16_t)(k * 7);
    r->seq = k % 3 == 0 ? 1765000000000000ull + k : (uint64_t)k + 1;
    if (k % 2 == 0) {
        certa_block_header h;
        memset(&h, 0, sizeof h);
        h.height = k % 4 == 0 ? 5000000000ull + k : k;
        h.view = k;
        h.event_count = 256;
        h.batch_count = 1;
        fill(h.prev_hash, sizeof h.prev_hash);
        fill(h.events_root, sizeof h.events_root);
        cr_assert_eq(certa_header_encode(&h, r->header), CERTA_OK);
    } else {
        fill(r->header, sizeof r->header); /* may not decode: height 0 */
    }
    r->cert.view = k * 3;
    r->cert.height = k * 1000003ull;
    fill(r->cert.block_hash, sizeof r->cert.block_hash);
    r->cert.count = (uint16_t)(1 + k % CERTA_VALIDATORS_MAX);
    for (unsigned i = 0; i < r->cert.count; i++) {
        r->cert.sigs[i].validator = (uint16_t)i;
        fill(r->cert.sigs[i].sig, CERTA_SIGNATURE_BYTES);
    }
    r->leaf_index = k % 5 == 0 ? 4294967296ull + k : k;
    r->result = k % 3 == 1 ? (uint16_t)(k % 40 + 1) : CERTA_RESULT_OK;
    if (r->result != CERTA_RESULT_OK)
        snprintf(r->reason, sizeof r->reason, "grant %u: not active (used %u/%u times)", k,
                 k, k + 1);
    r->event_len = (uint16_t)(k % 11 == 0 ? CERTA_EVENT_BYTES_MAX : 40 + k % 200);
    fill(r->event, r->event_len);
    r->path_len = (uint8_t)(k % (CERTA_RECEIPT_PATH_MAX + 1));
    for (unsigned i = 0; i < r->path_len; i++)
        fill(r->path[i], CERTA_HASH_BYTES);
}

Test(receipt_line, same_bytes_as_the_jansson_form)
{
    static certa_receipt r;
    static char buf[CERTA_RECEIPT_LINE_BYTES_MAX];
    for (unsigned k = 0; k < 300; k++) {
        make(&r, k);
        char *want = certa_receipt_format_json(&r);
        cr_assert_not_null(want, "shape %u", k);
        size_t n = certa_receipt_line(&r, NULL, buf, sizeof buf);
        cr_assert_eq(n, strlen(want), "shape %u: length %zu, jansson %zu", k, n, strlen(want));
        cr_assert_str_eq(buf, want, "shape %u", k);
        free(want);
    }
}

Test(receipt_line, declines_reasons_that_need_escaping)
{
    static certa_receipt r;
    static char buf[CERTA_RECEIPT_LINE_BYTES_MAX];
    const char *bad[] = {"say \"no\"", "back\\slash", "line\nbreak", "tab\there", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        make(&r, 1);
        snprintf(r.reason, sizeof r.reason, "%s", bad[i]);
        cr_assert_eq(certa_receipt_line(&r, NULL, buf, sizeof buf), 0, "reason %zu", i);
    }
    make(&r, 1);
    snprintf(r.reason, sizeof r.reason, "a/b {x} <y> 'z' ~");
    char *want = certa_receipt_format_json(&r);
    cr_assert_not_null(want);
    cr_assert_gt(certa_receipt_line(&r, NULL, buf, sizeof buf), 0);
    cr_assert_str_eq(buf, want);
    free(want);
}

/* A result proof makes the line version 2: the fast writer leaves it to
 * the jansson form (it once wrote such a receipt as version 1, without the
 * proof), with or without a cache. */
Test(receipt_line, declines_receipts_with_a_result_proof)
{
    static certa_receipt r;
    static char buf[CERTA_RECEIPT_LINE_BYTES_MAX];
    static certa_receipt_line_cache c;
    make(&r, 4);
    r.has_result_proof = true;
    cr_assert_eq(certa_receipt_line(&r, NULL, buf, sizeof buf), 0);
    cr_assert_eq(certa_receipt_line(&r, &c, buf, sizeof buf), 0);
    r.has_result_proof = false;
    cr_assert_gt(certa_receipt_line(&r, &c, buf, sizeof buf), 0);
}

Test(receipt_line, never_writes_past_a_short_buffer)
{
    static certa_receipt r;
    static char buf[CERTA_RECEIPT_LINE_BYTES_MAX + 16];
    make(&r, 22); /* the longest event */
    size_t full = certa_receipt_line(&r, NULL, buf, CERTA_RECEIPT_LINE_BYTES_MAX);
    cr_assert_gt(full, 0);
    for (size_t cap = 0; cap <= full; cap += 97) {
        memset(buf, 'Z', sizeof buf);
        cr_assert_eq(certa_receipt_line(&r, NULL, buf, cap), 0, "cap %zu", cap);
        for (size_t i = cap; i < sizeof buf; i++)
            cr_assert_eq(buf[i], 'Z', "cap %zu: byte %zu written", cap, i);
    }
    cr_assert_eq(certa_receipt_line(&r, NULL, buf, full + 1), full);
}

Test(receipt_line, the_largest_receipt_fits)
{
    static certa_receipt r;
    static char buf[CERTA_RECEIPT_LINE_BYTES_MAX];
    make(&r, 0);
    r.event_len = CERTA_EVENT_BYTES_MAX;
    r.path_len = CERTA_RECEIPT_PATH_MAX;
    r.cert.count = CERTA_VALIDATORS_MAX;
    snprintf(r.reason, sizeof r.reason, "%0*d", (int)CERTA_RECEIPT_REASON_MAX, 7);
    r.result = 9;
    cr_assert_gt(certa_receipt_line(&r, NULL, buf, sizeof buf), 0);
}

/* Through a cache: the same bytes, receipt after receipt, whether the next
 * one shares the last one's block (header and commit), only its header,
 * only its commit, or neither. */
Test(receipt_line, cached_same_bytes)
{
    static certa_receipt r, prev;
    static char buf[CERTA_RECEIPT_LINE_BYTES_MAX];
    static certa_receipt_line_cache c;
    memset(&c, 0, sizeof c);
    for (unsigned k = 0; k < 400; k++) {
        make(&r, k);
        if (k > 0 && k % 4 != 3) /* the same header, mostly, as a batch's receipts */
            memcpy(r.header, prev.header, sizeof r.header);
        if (k > 0 && k % 5 != 4)
            r.cert = prev.cert;
        if (k % 7 == 6 && r.cert.count > 0) /* one signature differs */
            r.cert.sigs[r.cert.count - 1].sig[5] ^= 1;
        char *want = certa_receipt_format_json(&r);
        cr_assert_not_null(want, "shape %u", k);
        size_t n = certa_receipt_line(&r, &c, buf, sizeof buf);
        cr_assert_eq(n, strlen(want), "shape %u: length %zu, jansson %zu", k, n, strlen(want));
        cr_assert_str_eq(buf, want, "shape %u", k);
        free(want);
        prev = r;
    }
}
