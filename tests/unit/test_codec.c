/* Tests for engine/codec.c: round trips of every event kind, the byte
 * layout, every rejection path of the event, batch, header and block
 * decoders, batch signing and verification, and the hard limits. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "certa/codec.h"
#include "certa/crypto.h"
#include "sample_events.h"
#include "certa/wire.h"

static const unsigned all_kinds[] = {CERTA_EV_GRANT,  CERTA_EV_REDEEM, CERTA_EV_CONFIRM,
                                     CERTA_EV_SIGN,   CERTA_EV_PHOTO,  CERTA_EV_REVOKE};

/* Field-by-field equality (structs may differ in padding). */
static bool event_eq(const certa_event *a, const certa_event *b)
{
    if (a->kind != b->kind || memcmp(a->grant_id, b->grant_id, 16) != 0 ||
        memcmp(a->holder_id, b->holder_id, 32) != 0 || a->centre != b->centre ||
        a->counter != b->counter || a->matter != b->matter ||
        a->licence_types != b->licence_types || a->not_before_ms != b->not_before_ms ||
        a->not_after_ms != b->not_after_ms || a->max_uses != b->max_uses ||
        a->method != b->method || memcmp(a->code_commit, b->code_commit, 32) != 0 ||
        memcmp(a->code, b->code, 8) != 0 || memcmp(a->salt, b->salt, 16) != 0 ||
        a->licence_count != b->licence_count || memcmp(a->evidence, b->evidence, 32) != 0 ||
        a->redeem != b->redeem || memcmp(a->code_proof, b->code_proof, 32) != 0)
        return false;
    for (unsigned i = 0; i < CERTA_REDEEM_LICENCES_MAX; i++) {
        const certa_licence_ref *x = &a->licences[i], *y = &b->licences[i];
        if (memcmp(x->id, y->id, 16) != 0 || x->type != y->type ||
            memcmp(x->digest, y->digest, 32) != 0)
            return false;
    }
    return true;
}

static size_t enc(const certa_event *ev, uint8_t *out)
{
    size_t n = 0;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e = certa_event_encode(ev, out, CERTA_EVENT_BYTES_MAX, &n, &ei);
    cr_assert_eq(e, CERTA_OK, "encode: %s", certa_errmsg(&ei));
    return n;
}

/* Decodes and expects code; returns the context message. */
static const char *dec_expect(const uint8_t *in, size_t len, certa_err code)
{
    static certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_event ev;
    certa_err e = certa_event_decode(in, len, &ev, &ei);
    cr_assert_eq(e, code, "decode gave %d (%s), expected %d", e, certa_errmsg(&ei), code);
    if (code != CERTA_OK)
        cr_assert_eq(ei.code, code);
    return ei.msg;
}

Test(codec, round_trip_every_kind)
{
    uint8_t buf[CERTA_EVENT_BYTES_MAX], buf2[CERTA_EVENT_BYTES_MAX];
    for (unsigned k = 0; k < 6; k++) {
        for (uint8_t seed = 0; seed < 6; seed++) {
            unsigned lic = 1 + seed % CERTA_REDEEM_LICENCES_MAX;
            certa_event ev = sample_event(all_kinds[k], seed, lic), back;
            size_t n = enc(&ev, buf);
            cr_assert_eq(certa_event_decode(buf, n, &back, NULL), CERTA_OK);
            cr_assert(event_eq(&ev, &back), "kind %u seed %u", all_kinds[k], seed);
            cr_assert_eq(enc(&back, buf2), n);
            cr_assert_eq(memcmp(buf, buf2, n), 0);
        }
    }
}

Test(codec, sizes_per_kind)
{
    uint8_t buf[CERTA_EVENT_BYTES_MAX];
    certa_event ev = sample_event(CERTA_EV_GRANT, 1, 0);
    cr_assert_eq(enc(&ev, buf), 116);
    ev = sample_event(CERTA_EV_REVOKE, 1, 0);
    cr_assert_eq(enc(&ev, buf), 52);
    for (unsigned k = CERTA_EV_CONFIRM; k <= CERTA_EV_PHOTO; k++) {
        ev = sample_event(k, 1, 0);
        cr_assert_eq(enc(&ev, buf), 56);
    }
    for (unsigned l = 1; l <= CERTA_REDEEM_LICENCES_MAX; l++) {
        ev = sample_event(CERTA_EV_REDEEM, 1, l);
        cr_assert_eq(enc(&ev, buf), 54 + 49 * l);
    }
    cr_assert_leq(54 + 49 * CERTA_REDEEM_LICENCES_MAX, CERTA_EVENT_BYTES_MAX);
}

Test(codec, grant_layout_is_little_endian_at_fixed_offsets)
{
    certa_event ev = sample_event(CERTA_EV_GRANT, 0, 0);
    ev.licence_types = 0x01020304u;
    ev.centre = 0x0506;
    ev.counter = 0x0708;
    ev.matter = 0x090a0b0cu;
    ev.not_before_ms = 0x1112131415161718ull;
    ev.not_after_ms = 0x2122232425262728ull;
    ev.max_uses = 0x3132;
    ev.method = CERTA_METHOD_QR;
    uint8_t b[CERTA_EVENT_BYTES_MAX];
    enc(&ev, b);
    cr_assert_eq(b[0], 1);
    cr_assert_eq(b[1], CERTA_EV_GRANT);
    cr_assert_eq(certa_get_le16(b + 2), 0);
    cr_assert_eq(memcmp(b + 4, ev.grant_id, 16), 0);
    cr_assert_eq(memcmp(b + 20, ev.holder_id, 32), 0);
    cr_assert_eq(certa_get_le32(b + 52), 0x01020304u);
    cr_assert_eq(certa_get_le16(b + 56), 0x0506);
    cr_assert_eq(certa_get_le16(b + 58), 0x0708);
    cr_assert_eq(certa_get_le32(b + 60), 0x090a0b0cu);
    cr_assert_eq(b[64], 0x18);
    cr_assert_eq(b[71], 0x11);
    cr_assert_eq(b[72], 0x28);
    cr_assert_eq(certa_get_le16(b + 80), 0x3132);
    cr_assert_eq(b[82], CERTA_METHOD_QR);
    cr_assert_eq(b[83], 0);
    cr_assert_eq(memcmp(b + 84, ev.code_commit, 32), 0);
}

Test(codec, redeem_layout)
{
    certa_event ev = sample_event(CERTA_EV_REDEEM, 3, 2);
    uint8_t b[CERTA_EVENT_BYTES_MAX];
    size_t n = enc(&ev, b);
    cr_assert_eq(n, 54 + 98);
    cr_assert_eq(certa_get_le16(b + 20), ev.centre);
    cr_assert_eq(certa_get_le16(b + 22), ev.counter);
    cr_assert_eq(certa_get_le32(b + 24), ev.matter);
    cr_assert_eq(memcmp(b + 28, ev.code, 8), 0);
    cr_assert_eq(memcmp(b + 36, ev.salt, 16), 0);
    cr_assert_eq(b[52], 2);
    cr_assert_eq(b[53], 0);
    cr_assert_eq(memcmp(b + 54 + 49, ev.licences[1].id, 16), 0);
    cr_assert_eq(b[54 + 49 + 16], ev.licences[1].type);
    cr_assert_eq(memcmp(b + 54 + 49 + 17, ev.licences[1].digest, 32), 0);
}

Test(codec, evidence_and_revoke_layout)
{
    certa_event ev = sample_event(CERTA_EV_PHOTO, 2, 0);
    uint8_t b[CERTA_EVENT_BYTES_MAX];
    enc(&ev, b);
    cr_assert_eq(certa_get_le16(b + 20), ev.centre);
    cr_assert_eq(certa_get_le16(b + 22), ev.counter);
    cr_assert_eq(memcmp(b + 24, ev.evidence, 32), 0);
    ev = sample_event(CERTA_EV_REVOKE, 2, 0);
    enc(&ev, b);
    cr_assert_eq(memcmp(b + 20, ev.holder_id, 32), 0);
}

/* Evidence naming its redeem: 60 bytes, the redeem's number at 56; the
 * 56-byte form names none. One encoding per event: 0 in the long form, a
 * reserved byte set or a length between the two are refused. */
Test(codec, evidence_bound_form)
{
    certa_event ev = sample_event(CERTA_EV_SIGN, 3, 0), back;
    uint8_t b[CERTA_EVENT_BYTES_MAX];
    cr_assert_eq(enc(&ev, b), 56);
    ev.redeem = 513;
    size_t n = enc(&ev, b);
    cr_assert_eq(n, 60);
    cr_assert_eq(certa_get_le16(b + 56), 513);
    cr_assert_eq(certa_get_le16(b + 58), 0);
    cr_assert_eq(certa_event_decode(b, n, &back, NULL), CERTA_OK);
    cr_assert(event_eq(&ev, &back));
    cr_assert_eq(back.redeem, 513);

    uint8_t bad[64];
    memcpy(bad, b, n);
    certa_put_le16(bad + 56, 0);
    cr_assert(strstr(dec_expect(bad, n, CERTA_E_BAD_FIELD), "redeem") != NULL);
    memcpy(bad, b, n);
    bad[59] = 1;
    dec_expect(bad, n, CERTA_E_RESERVED);
    dec_expect(b, 58, CERTA_E_TRAILING);
    dec_expect(b, 55, CERTA_E_TRUNCATED);

    /* only evidence carries it */
    certa_event r = sample_event(CERTA_EV_REVOKE, 3, 0);
    r.redeem = 1;
    size_t len = 0;
    cr_assert_eq(certa_event_encode(&r, b, sizeof b, &len, NULL), CERTA_E_BAD_FIELD);
}

Test(codec, deterministic_and_hash_is_identity)
{
    uint8_t a[CERTA_EVENT_BYTES_MAX], b[CERTA_EVENT_BYTES_MAX];
    uint8_t ha[32], hb[32];
    certa_event e1 = sample_event(CERTA_EV_REDEEM, 9, 5);
    certa_event e2 = sample_event(CERTA_EV_REDEEM, 9, 5);
    size_t na = enc(&e1, a), nb = enc(&e2, b);
    cr_assert_eq(na, nb);
    cr_assert_eq(memcmp(a, b, na), 0);
    certa_sha256(a, na, ha);
    certa_sha256(b, nb, hb);
    cr_assert_eq(memcmp(ha, hb, 32), 0);
    e2.licences[4].digest[31] ^= 1;
    nb = enc(&e2, b);
    certa_sha256(b, nb, hb);
    cr_assert_neq(memcmp(ha, hb, 32), 0);
}

Test(codec, direct_redeem_without_code)
{
    certa_event ev = sample_event(CERTA_EV_REDEEM, 1, 1), back;
    memset(ev.code, 0, 8);
    uint8_t b[CERTA_EVENT_BYTES_MAX];
    size_t n = enc(&ev, b);
    cr_assert_eq(certa_event_decode(b, n, &back, NULL), CERTA_OK);
    cr_assert(event_eq(&ev, &back));
}

Test(codec, licence_types_up_to_31)
{
    certa_event ev = sample_event(CERTA_EV_GRANT, 1, 0), back;
    ev.licence_types = 0xffffffffu;
    uint8_t b[CERTA_EVENT_BYTES_MAX];
    size_t n = enc(&ev, b);
    cr_assert_eq(certa_event_decode(b, n, &back, NULL), CERTA_OK);
    cr_assert_eq(back.licence_types, 0xffffffffu);
    ev = sample_event(CERTA_EV_REDEEM, 1, 1);
    ev.licences[0].type = 31;
    n = enc(&ev, b);
    cr_assert_eq(certa_event_decode(b, n, &back, NULL), CERTA_OK);
    cr_assert_eq(back.licences[0].type, 31);
}

/* ---- decoder rejections ---- */

Test(codec, reject_truncated_and_trailing)
{
    uint8_t b[CERTA_EVENT_BYTES_MAX + 8];
    memset(b, 0, sizeof b);
    dec_expect(b, 0, CERTA_E_TRUNCATED);
    dec_expect(NULL, 0, CERTA_E_TRUNCATED);
    for (unsigned k = 0; k < 6; k++) {
        certa_event ev = sample_event(all_kinds[k], 4, 3);
        size_t n = enc(&ev, b);
        for (size_t cut = 0; cut < n; cut++)
            dec_expect(b, cut, CERTA_E_TRUNCATED);
        b[n] = 0;
        const char *m = dec_expect(b, n + 1, CERTA_E_TRAILING);
        cr_assert(strstr(m, "trailing") != NULL, "%s", m);
    }
}

Test(codec, reject_too_long)
{
    uint8_t b[CERTA_EVENT_BYTES_MAX + 1];
    certa_event ev = sample_event(CERTA_EV_REVOKE, 1, 0);
    enc(&ev, b);
    dec_expect(b, sizeof b, CERTA_E_TOO_LONG);
    ev = sample_event(CERTA_EV_REDEEM, 1, 16);
    size_t n = enc(&ev, b);
    b[52] = 17;
    const char *m = dec_expect(b, n + 49, CERTA_E_TOO_LONG);
    cr_assert(strstr(m, "\"licences\" at byte 52") != NULL, "%s", m);
    b[52] = 255;
    dec_expect(b, n, CERTA_E_TOO_LONG);
}

Test(codec, reject_version_kind_flags)
{
    uint8_t b[CERTA_EVENT_BYTES_MAX];
    certa_event ev = sample_event(CERTA_EV_CONFIRM, 1, 0);
    size_t n = enc(&ev, b);
    b[0] = 2;
    cr_assert(strstr(dec_expect(b, n, CERTA_E_BAD_VERSION), "version") != NULL);
    b[0] = 0;
    dec_expect(b, n, CERTA_E_BAD_VERSION);
    b[0] = 1;
    const unsigned bad_kinds[] = {0, 8, 9, 100, 255};
    for (unsigned i = 0; i < 5; i++) {
        b[1] = (uint8_t)bad_kinds[i];
        const char *m = dec_expect(b, n, CERTA_E_BAD_KIND);
        cr_assert(strstr(m, "\"kind\" at byte 1") != NULL, "%s", m);
    }
    b[1] = CERTA_EV_CONFIRM;
    for (unsigned bit = 0; bit < 16; bit++) {
        certa_put_le16(b + 2, (uint16_t)(1u << bit));
        dec_expect(b, n, CERTA_E_RESERVED);
    }
    certa_put_le16(b + 2, 0);
    dec_expect(b, n, CERTA_OK);
}

Test(codec, reject_reserved_bytes)
{
    uint8_t b[CERTA_EVENT_BYTES_MAX];
    certa_event ev = sample_event(CERTA_EV_GRANT, 1, 0);
    size_t n = enc(&ev, b);
    b[83] = 0x80;
    cr_assert(strstr(dec_expect(b, n, CERTA_E_RESERVED), "byte 83") != NULL);
    ev = sample_event(CERTA_EV_REDEEM, 1, 1);
    n = enc(&ev, b);
    b[53] = 2; /* 1 is the sealed flag */
    cr_assert(strstr(dec_expect(b, n, CERTA_E_RESERVED), "byte 53") != NULL);
}

/* A sealed redeem (rules 2): flag 1 at byte 53, code and salt zero, the
 * 32-byte proof after the licences; one encoding per event. */
Test(codec, sealed_redeem_form)
{
    uint8_t b[CERTA_EVENT_BYTES_MAX], bad[CERTA_EVENT_BYTES_MAX];
    certa_event ev = sample_event(CERTA_EV_REDEEM, 5, 2), back;
    size_t plain = enc(&ev, b);
    memset(ev.code, 0, sizeof ev.code);
    memset(ev.salt, 0, sizeof ev.salt);
    certa_code_proof((const uint8_t *)"0123456789abcdef", "12345678", ev.code_proof);
    size_t n = enc(&ev, b);
    cr_assert_eq(n, plain + 32);
    cr_assert_eq(b[53], 1);
    cr_assert_eq(memcmp(b + 54 + 2 * 49, ev.code_proof, 32), 0);
    cr_assert_eq(certa_event_decode(b, n, &back, NULL), CERTA_OK);
    cr_assert(event_eq(&ev, &back));
    cr_assert_eq(memcmp(back.code_proof, ev.code_proof, 32), 0);
    /* the commitment is SHA-256 of the proof */
    uint8_t c1[32], c2[32];
    certa_code_commit_sealed((const uint8_t *)"0123456789abcdef", "12345678", c1);
    certa_sha256(ev.code_proof, 32, c2);
    cr_assert_eq(memcmp(c1, c2, 32), 0);

    memcpy(bad, b, n);
    memset(bad + 54 + 2 * 49, 0, 32);
    cr_assert(strstr(dec_expect(bad, n, CERTA_E_BAD_FIELD), "code_proof") != NULL);
    memcpy(bad, b, n);
    bad[28] = '1'; /* a code beside the proof */
    dec_expect(bad, n, CERTA_E_BAD_FIELD);
    dec_expect(b, n - 1, CERTA_E_TRUNCATED);
    /* the encoder refuses a proof beside a code */
    certa_event both = ev;
    memcpy(both.code, "12345678", 8);
    size_t len = 0;
    cr_assert_eq(certa_event_encode(&both, b, sizeof b, &len, NULL), CERTA_E_BAD_FIELD);
    certa_event g = sample_event(CERTA_EV_GRANT, 5, 0);
    g.code_proof[0] = 1;
    cr_assert_eq(certa_event_encode(&g, b, sizeof b, &len, NULL), CERTA_E_BAD_FIELD);
}

Test(codec, reject_grant_values)
{
    uint8_t b[CERTA_EVENT_BYTES_MAX], c[CERTA_EVENT_BYTES_MAX];
    certa_event ev = sample_event(CERTA_EV_GRANT, 0, 0); /* method code */
    cr_assert_eq(ev.method, CERTA_METHOD_CODE);
    size_t n = enc(&ev, b);

    memcpy(c, b, n);
    certa_put_le32(c + 52, 0);
    cr_assert(strstr(dec_expect(c, n, CERTA_E_BAD_FIELD), "\"licence_types\" at byte 52"));
    memcpy(c, b, n);
    certa_put_le16(c + 56, 0);
    cr_assert(strstr(dec_expect(c, n, CERTA_E_BAD_FIELD), "\"centre\" at byte 56"));
    memcpy(c, b, n);
    certa_put_le16(c + 58, 0); /* counter 0 = any counter: fine for a grant */
    dec_expect(c, n, CERTA_OK);
    memcpy(c, b, n);
    certa_put_le32(c + 60, 0);
    cr_assert(strstr(dec_expect(c, n, CERTA_E_BAD_FIELD), "\"matter\" at byte 60"));
    memcpy(c, b, n);
    certa_put_le64(c + 64, (uint64_t)INT64_MAX + 1);
    cr_assert(strstr(dec_expect(c, n, CERTA_E_BAD_FIELD), "\"not_before_ms\""));
    memcpy(c, b, n);
    certa_put_le64(c + 72, UINT64_MAX);
    cr_assert(strstr(dec_expect(c, n, CERTA_E_BAD_FIELD), "\"not_after_ms\""));
    memcpy(c, b, n);
    certa_put_le16(c + 80, 0);
    cr_assert(strstr(dec_expect(c, n, CERTA_E_BAD_FIELD), "\"max_uses\" at byte 80"));
    memcpy(c, b, n);
    c[82] = 3;
    cr_assert(strstr(dec_expect(c, n, CERTA_E_BAD_ENUM), "\"method\" at byte 82"));
    c[82] = 255;
    dec_expect(c, n, CERTA_E_BAD_ENUM);
    /* commitment required for code and qr ... */
    memcpy(c, b, n);
    memset(c + 84, 0, 32);
    cr_assert(strstr(dec_expect(c, n, CERTA_E_BAD_FIELD), "\"code_commit\" at byte 84"));
    c[82] = CERTA_METHOD_QR;
    dec_expect(c, n, CERTA_E_BAD_FIELD);
    c[82] = CERTA_METHOD_DIRECT; /* ... and zero for direct */
    dec_expect(c, n, CERTA_OK);
    c[84 + 31] = 1;
    dec_expect(c, n, CERTA_E_BAD_FIELD);
}

Test(codec, reject_redeem_values)
{
    uint8_t b[CERTA_EVENT_BYTES_MAX], c[CERTA_EVENT_BYTES_MAX];
    certa_event ev = sample_event(CERTA_EV_REDEEM, 0, 3);
    size_t n = enc(&ev, b);

    memcpy(c, b, n);
    certa_put_le16(c + 22, 0);
    cr_assert(strstr(dec_expect(c, n, CERTA_E_BAD_FIELD), "\"counter\" at byte 22"));
    memcpy(c, b, n);
    c[28 + 3] = 'x';
    cr_assert(strstr(dec_expect(c, n, CERTA_E_BAD_FIELD), "\"code\" at byte 28"));
    memcpy(c, b, n);
    c[28 + 7] = 0; /* partly absent is not absent */
    dec_expect(c, n, CERTA_E_BAD_FIELD);
    memcpy(c, b, n);
    c[52] = 0;
    cr_assert(strstr(dec_expect(c, 54, CERTA_E_BAD_FIELD), "\"licences\""));
    memcpy(c, b, n);
    c[54 + 2 * 49 + 16] = 32;
    cr_assert(strstr(dec_expect(c, n, CERTA_E_BAD_ENUM), "\"licences[2].type\" at byte 168"));
    c[54 + 2 * 49 + 16] = 31;
    dec_expect(c, n, CERTA_OK);
    /* count says 3, bytes for 2 or 4 */
    dec_expect(b, n - 49, CERTA_E_TRUNCATED);
    memset(c + n, 0, 49);
    dec_expect(c, n + 49, CERTA_E_TRAILING);
}

/* Every single-byte change of a valid event is either refused or decodes to
 * an event that re-encodes to exactly the changed bytes (canonicality). */
Test(codec, single_byte_mutations_are_canonical_or_refused)
{
    uint8_t b[CERTA_EVENT_BYTES_MAX], c[CERTA_EVENT_BYTES_MAX], d[CERTA_EVENT_BYTES_MAX];
    for (unsigned k = 0; k < 6; k++) {
        certa_event ev = sample_event(all_kinds[k], 5, 2), back;
        size_t n = enc(&ev, b);
        for (size_t i = 0; i < n; i++) {
            static const uint8_t vals[] = {0x00, 0x01, 0x02, 0x07, 0x20, 0x30, 0x39, 0x80, 0xff};
            for (unsigned v = 0; v < sizeof vals; v++) {
                memcpy(c, b, n);
                c[i] = vals[v];
                if (certa_event_decode(c, n, &back, NULL) != CERTA_OK)
                    continue;
                size_t m = 0;
                cr_assert_eq(certa_event_encode(&back, d, sizeof d, &m, NULL), CERTA_OK);
                cr_assert_eq(m, n);
                cr_assert_eq(memcmp(c, d, n), 0, "kind %u byte %zu", all_kinds[k], i);
            }
        }
    }
}

/* ---- encoder rejections ---- */

Test(codec, encode_rejects_unused_fields_and_bad_values)
{
    uint8_t b[CERTA_EVENT_BYTES_MAX];
    size_t n = 99;
    certa_errinfo ei;
    certa_event ev = sample_event(CERTA_EV_REVOKE, 1, 0);
    ev.centre = 3;
    cr_assert_eq(certa_event_encode(&ev, b, sizeof b, &n, &ei), CERTA_E_BAD_FIELD);
    cr_assert(strstr(ei.msg, "\"centre\"") && strstr(ei.msg, "revoke"), "%s", ei.msg);
    cr_assert_eq(n, 0);

    ev = sample_event(CERTA_EV_CONFIRM, 1, 0);
    ev.salt[3] = 1;
    cr_assert_eq(certa_event_encode(&ev, b, sizeof b, &n, &ei), CERTA_E_BAD_FIELD);
    cr_assert(strstr(ei.msg, "\"salt\""), "%s", ei.msg);
    ev = sample_event(CERTA_EV_CONFIRM, 1, 0);
    ev.matter = 1;
    cr_assert_eq(certa_event_encode(&ev, b, sizeof b, &n, &ei), CERTA_E_BAD_FIELD);
    ev = sample_event(CERTA_EV_GRANT, 1, 0);
    ev.evidence[0] = 1;
    cr_assert_eq(certa_event_encode(&ev, b, sizeof b, &n, &ei), CERTA_E_BAD_FIELD);
    ev = sample_event(CERTA_EV_REDEEM, 1, 2);
    ev.licences[5].type = 1; /* slot past licence_count */
    cr_assert_eq(certa_event_encode(&ev, b, sizeof b, &n, &ei), CERTA_E_BAD_FIELD);
    ev = sample_event(CERTA_EV_REDEEM, 1, 2);
    ev.licence_count = 17;
    cr_assert_eq(certa_event_encode(&ev, b, sizeof b, &n, &ei), CERTA_E_TOO_LONG);
    ev = sample_event(CERTA_EV_REDEEM, 1, 2);
    ev.max_uses = 1;
    cr_assert_eq(certa_event_encode(&ev, b, sizeof b, &n, &ei), CERTA_E_BAD_FIELD);
    ev = sample_event(CERTA_EV_GRANT, 1, 0);
    ev.method = 3;
    cr_assert_eq(certa_event_encode(&ev, b, sizeof b, &n, &ei), CERTA_E_BAD_ENUM);
    cr_assert_eq(certa_event_validate(&ev, NULL), CERTA_E_BAD_ENUM);
    ev.kind = 0;
    cr_assert_eq(certa_event_encode(&ev, b, sizeof b, &n, &ei), CERTA_E_BAD_KIND);
    ev.kind = 8;
    cr_assert_eq(certa_event_encode(&ev, b, sizeof b, &n, NULL), CERTA_E_BAD_KIND);

    ev = sample_event(CERTA_EV_GRANT, 1, 0);
    cr_assert_eq(certa_event_validate(&ev, NULL), CERTA_OK);
    cr_assert_eq(certa_event_encode(&ev, b, 115, &n, &ei), CERTA_E_LIMIT);
    cr_assert_eq(certa_event_encode(&ev, NULL, 0, &n, NULL), CERTA_E_LIMIT);
    cr_assert_eq(certa_event_encode(&ev, b, 116, &n, NULL), CERTA_OK);
    cr_assert_eq(n, 116);
}

Test(codec, names)
{
    for (unsigned k = CERTA_EV_GRANT; k <= CERTA_EV_GOVERN; k++)
        cr_assert_eq(certa_event_kind_parse(certa_event_kind_name(k)), (int)k);
    cr_assert_str_eq(certa_event_kind_name(CERTA_EV_PHOTO), "photo");
    cr_assert_str_eq(certa_event_kind_name(CERTA_EV_GOVERN), "govern");
    cr_assert_null(certa_event_kind_name(0));
    cr_assert_null(certa_event_kind_name(8));
    cr_assert_eq(certa_event_kind_parse("tick"), -1);
    cr_assert_eq(certa_event_kind_parse(NULL), -1);
    for (unsigned t = 0; t < CERTA_LT_KNOWN_COUNT; t++)
        cr_assert_eq(certa_licence_type_parse(certa_licence_type_name(t)), (int)t);
    cr_assert_str_eq(certa_licence_type_name(CERTA_LT_DRIVING_LICENCE), "driving_licence");
    cr_assert_null(certa_licence_type_name(7));
    cr_assert_eq(certa_licence_type_parse("type_7"), 7);
    cr_assert_eq(certa_licence_type_parse("type_31"), 31);
    cr_assert_eq(certa_licence_type_parse("type_32"), -1);
    cr_assert_eq(certa_licence_type_parse("type_3"), -1); /* has a name */
    cr_assert_eq(certa_licence_type_parse("type_07"), -1);
    cr_assert_eq(certa_licence_type_parse("type_"), -1);
    cr_assert_eq(certa_licence_type_parse("passport"), -1);
    for (unsigned m = 0; m < CERTA_METHOD_COUNT; m++)
        cr_assert_eq(certa_method_parse(certa_method_name(m)), (int)m);
    cr_assert_null(certa_method_name(3));
    cr_assert_eq(certa_method_parse("sms"), -1);
}

/* ---- batches ---- */

static certa_key *test_key(uint8_t s)
{
    uint8_t seed[32];
    memset(seed, s, sizeof seed);
    certa_key *k = NULL;
    cr_assert_eq(certa_key_from_seed(seed, &k, NULL), CERTA_OK);
    return k;
}

static certa_pubkey *test_pub(const certa_key *k)
{
    uint8_t raw[32];
    certa_key_public(k, raw);
    certa_pubkey *pk = NULL;
    cr_assert_eq(certa_pubkey_from_raw(raw, &pk, NULL), CERTA_OK);
    return pk;
}

/* Builds and signs a batch of count events cycling through every kind. */
static size_t build_batch(uint8_t *buf, size_t cap, uint16_t integ, uint64_t seq,
                          unsigned count, const certa_key *k)
{
    certa_batch_builder bb;
    certa_batch_begin(&bb, buf, cap, integ, seq);
    for (unsigned i = 0; i < count; i++) {
        certa_event ev = sample_event(all_kinds[i % 6], (uint8_t)i, 1 + i % 16);
        cr_assert_eq(certa_batch_add(&bb, &ev, NULL), CERTA_OK);
    }
    cr_assert_eq(certa_batch_sign(&bb, k, NULL), CERTA_OK);
    return bb.len;
}

static void batch_expect(const uint8_t *in, size_t len, certa_err code, const char *needle)
{
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_batch_view v;
    certa_err e = certa_batch_decode(in, len, &v, &ei);
    cr_assert_eq(e, code, "batch decode gave %d (%s), expected %d", e, certa_errmsg(&ei), code);
    if (needle != NULL)
        cr_assert(strstr(ei.msg, needle) != NULL, "'%s' not in '%s'", needle, ei.msg);
}

Test(codec, batch_build_sign_decode_verify)
{
    certa_key *k = test_key(7), *other = test_key(8);
    certa_pubkey *pk = test_pub(k), *opk = test_pub(other);
    uint8_t buf[16384];
    size_t n = build_batch(buf, sizeof buf, 3, 42, 12, k);

    certa_batch_view v;
    certa_errinfo ei;
    cr_assert_eq(certa_batch_decode(buf, n, &v, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    cr_assert_eq(v.integrator, 3);
    cr_assert_eq(v.seq, 42);
    cr_assert_eq(v.event_count, 12);
    cr_assert_eq(v.total_bytes, n);
    cr_assert_eq(v.body, buf + 24);
    cr_assert_eq(v.body_bytes, n - 24 - 64);
    cr_assert_eq(v.signature, buf + n - 64);
    uint8_t d[32];
    certa_sha256(buf, n - 64, d);
    cr_assert_eq(memcmp(d, v.digest, 32), 0);
    cr_assert_eq(certa_get_le32(buf), CERTA_BATCH_MAGIC);
    cr_assert_eq(memcmp(buf, "CRTB", 4), 0);
    cr_assert_eq(certa_batch_verify(&v, pk, NULL), CERTA_OK);
    cr_assert_eq(certa_batch_verify(&v, opk, &ei), CERTA_E_BAD_SIGNATURE);

    /* events come back in order and equal */
    size_t pos = 0, ev_len;
    const uint8_t *evb;
    unsigned i = 0;
    while (certa_batch_next(&v, &pos, &evb, &ev_len)) {
        certa_event want = sample_event(all_kinds[i % 6], (uint8_t)i, 1 + i % 16), got;
        cr_assert_eq(certa_event_decode(evb, ev_len, &got, NULL), CERTA_OK);
        cr_assert(event_eq(&want, &got), "event %u", i);
        i++;
    }
    cr_assert_eq(i, 12);
    cr_assert_eq(pos, v.body_bytes);

    /* any flipped bit in the signed part breaks the signature or the framing */
    for (size_t at = 0; at < n; at += 7) {
        buf[at] ^= 0x10;
        certa_batch_view t;
        if (certa_batch_decode(buf, n, &t, NULL) == CERTA_OK)
            cr_assert_eq(certa_batch_verify(&t, pk, NULL), CERTA_E_BAD_SIGNATURE, "at %zu", at);
        buf[at] ^= 0x10;
    }
    certa_pubkey_free(pk);
    certa_pubkey_free(opk);
    certa_key_free(k);
    certa_key_free(other);
}

/* Framing only: the same view as a decode but no digest; the event bodies
 * are not decoded, the lengths and the counts are checked. */
Test(codec, batch_frame_checks_framing_not_events)
{
    certa_key *k = test_key(7);
    uint8_t buf[16384];
    size_t n = build_batch(buf, sizeof buf, 3, 42, 12, k);
    certa_batch_view d, f;
    cr_assert_eq(certa_batch_decode(buf, n, &d, NULL), CERTA_OK);
    cr_assert_eq(certa_batch_frame(buf, n, &f, NULL), CERTA_OK);
    cr_assert_eq(f.integrator, d.integrator);
    cr_assert_eq(f.seq, d.seq);
    cr_assert_eq(f.event_count, d.event_count);
    cr_assert_eq(f.body, d.body);
    cr_assert_eq(f.body_bytes, d.body_bytes);
    cr_assert_eq(f.signature, d.signature);
    cr_assert_eq(f.total_bytes, d.total_bytes);
    static const uint8_t zero[32];
    cr_assert_eq(memcmp(f.digest, zero, 32), 0);
    size_t pd = 0, pf = 0, ld, lf;
    const uint8_t *ed, *ef;
    while (certa_batch_next(&d, &pd, &ed, &ld)) {
        cr_assert(certa_batch_next(&f, &pf, &ef, &lf));
        cr_assert_eq(ed, ef);
        cr_assert_eq(ld, lf);
    }
    cr_assert(!certa_batch_next(&f, &pf, &ef, &lf));
    /* a damaged event kind: decode refuses, framing passes */
    uint8_t *first = buf + 24 + 2;
    uint8_t kind = first[1];
    first[1] = 0xee;
    cr_assert_neq(certa_batch_decode(buf, n, &d, NULL), CERTA_OK);
    cr_assert_eq(certa_batch_frame(buf, n, &f, NULL), CERTA_OK);
    first[1] = kind;
    /* truncated, or an event length past the body: framing refuses */
    cr_assert_eq(certa_batch_frame(buf, n - 1, &f, NULL), CERTA_E_TRUNCATED);
    uint16_t l0 = (uint16_t)(buf[24] | buf[25] << 8);
    buf[24] = 0xff, buf[25] = 0x03;
    cr_assert_neq(certa_batch_frame(buf, n, &f, NULL), CERTA_OK);
    buf[24] = (uint8_t)l0, buf[25] = (uint8_t)(l0 >> 8);
    buf[16] = 11; /* event_count 12 -> 11 */
    cr_assert_neq(certa_batch_frame(buf, n, &f, NULL), CERTA_OK);
    certa_key_free(k);
}

Test(codec, batch_manual_digest_seal)
{
    certa_key *k = test_key(1);
    certa_pubkey *pk = test_pub(k);
    uint8_t buf[4096], d[32], sig[64];
    certa_batch_builder bb;
    certa_batch_begin(&bb, buf, sizeof buf, 9, 1);
    certa_event ev = sample_event(CERTA_EV_REVOKE, 1, 0);
    cr_assert_eq(certa_batch_add(&bb, &ev, NULL), CERTA_OK);
    certa_batch_digest(&bb, d);
    cr_assert_eq(certa_sign(k, d, 32, sig, NULL), CERTA_OK);
    size_t n = certa_batch_seal(&bb, sig);
    cr_assert_eq(n, 24 + 2 + 52 + 64);
    certa_batch_view v;
    cr_assert_eq(certa_batch_decode(buf, n, &v, NULL), CERTA_OK);
    cr_assert_eq(memcmp(v.digest, d, 32), 0);
    cr_assert_eq(certa_batch_verify(&v, pk, NULL), CERTA_OK);
    /* empty batch cannot be signed */
    certa_batch_begin(&bb, buf, sizeof buf, 9, 2);
    cr_assert_eq(certa_batch_sign(&bb, k, NULL), CERTA_E_STATE);
    certa_pubkey_free(pk);
    certa_key_free(k);
}

Test(codec, batch_rejections)
{
    certa_key *k = test_key(2);
    uint8_t buf[8192], c[8192];
    size_t n = build_batch(buf, sizeof buf, 1, 5, 4, k);
    batch_expect(buf, n, CERTA_OK, NULL);
    batch_expect(buf, 0, CERTA_E_TRUNCATED, NULL);
    batch_expect(NULL, 0, CERTA_E_TRUNCATED, NULL);
    batch_expect(buf, 23, CERTA_E_TRUNCATED, "header");
    batch_expect(buf, n - 1, CERTA_E_TRUNCATED, NULL);
    memcpy(c, buf, n);
    c[n] = 0;
    batch_expect(c, n + 1, CERTA_E_TRAILING, "trailing");

#define MUT(stmt, code, needle)                                                   \
    do {                                                                         \
        memcpy(c, buf, n);                                                       \
        stmt;                                                                    \
        batch_expect(c, n, code, needle);                                        \
    } while (0)
    MUT(c[0] ^= 1, CERTA_E_BAD_MAGIC, "magic");
    MUT(c[4] = 2, CERTA_E_BAD_VERSION, "version");
    MUT(c[5] = 1, CERTA_E_RESERVED, "flags");
    MUT(certa_put_le64(c + 8, 0), CERTA_E_BAD_FIELD, "seq");
    MUT(certa_put_le32(c + 16, 0), CERTA_E_BAD_FIELD, "event_count");
    MUT(certa_put_le32(c + 16, CERTA_BATCH_EVENTS_MAX + 1), CERTA_E_TOO_LONG, "event_count");
    MUT(certa_put_le32(c + 16, 0xffffffffu), CERTA_E_TOO_LONG, "event_count");
    MUT(certa_put_le32(c + 20, CERTA_BATCH_BYTES_MAX), CERTA_E_TOO_LONG, "body_bytes");
    MUT(certa_put_le32(c + 20, 0xffffffffu), CERTA_E_TOO_LONG, "body_bytes");
    MUT(certa_put_le32(c + 20, certa_get_le32(c + 20) + 1), CERTA_E_TRUNCATED, NULL);
    MUT(certa_put_le32(c + 20, certa_get_le32(c + 20) - 1), CERTA_E_TRAILING, NULL);
    /* count says 3 but the body holds 4 events; says 5, holds 4 */
    MUT(certa_put_le32(c + 16, 3), CERTA_E_TRAILING, "after event 3");
    MUT(certa_put_le32(c + 16, 5), CERTA_E_BAD_FIELD, "body holds 4");
    /* first event's length prefix: too long, past the end, zero */
    MUT(certa_put_le16(c + 24, CERTA_EVENT_BYTES_MAX + 1), CERTA_E_TOO_LONG, "event 0");
    MUT(certa_put_le16(c + 24, 0xffff), CERTA_E_TOO_LONG, NULL);
    MUT(certa_put_le16(c + 24, 0), CERTA_E_TRUNCATED, "event 0");
    /* a bad event inside: its code and its offset */
    MUT(c[24 + 2 + 1] = 99, CERTA_E_BAD_KIND, "batch event 0 (starts at byte 26)");
    MUT(c[24 + 2 + 0] = 9, CERTA_E_BAD_VERSION, "event 0");
#undef MUT

    /* body ends in the middle of a length prefix */
    certa_batch_builder bb;
    certa_batch_begin(&bb, c, sizeof c, 1, 1);
    certa_event ev = sample_event(CERTA_EV_REVOKE, 1, 0);
    cr_assert_eq(certa_batch_add(&bb, &ev, NULL), CERTA_OK);
    uint8_t d[32];
    certa_batch_digest(&bb, d);
    c[bb.len] = 0; /* one stray body byte */
    certa_put_le32(c + 20, (uint32_t)(bb.len - 24 + 1));
    certa_put_le32(c + 16, 2);
    memset(c + bb.len + 1, 0, 64);
    batch_expect(c, bb.len + 1 + 64, CERTA_E_TRUNCATED, "length prefix");

    /* the only event's length runs past the body end */
    certa_batch_begin(&bb, c, sizeof c, 1, 1);
    cr_assert_eq(certa_batch_add(&bb, &ev, NULL), CERTA_OK);
    cr_assert_eq(certa_batch_sign(&bb, k, NULL), CERTA_OK);
    batch_expect(c, bb.len, CERTA_OK, NULL);
    certa_put_le16(c + 24, 53);
    batch_expect(c, bb.len, CERTA_E_TRUNCATED, "past the body end");
    certa_key_free(k);
}

/* certa_batch_frame: the framing checks of certa_batch_decode, without
 * decoding the events or computing the digest. */
Test(codec, batch_frame_checks_framing_only)
{
    certa_key *k = test_key(3);
    uint8_t buf[8192], c[8192];
    size_t n = build_batch(buf, sizeof buf, 2, 9, 6, k);
    certa_batch_view v, w;
    cr_assert_eq(certa_batch_decode(buf, n, &v, NULL), CERTA_OK);
    cr_assert_eq(certa_batch_frame(buf, n, &w, NULL), CERTA_OK);
    cr_assert_eq(w.integrator, 2);
    cr_assert_eq(w.seq, 9);
    cr_assert_eq(w.event_count, v.event_count);
    cr_assert_eq(w.body, v.body);
    cr_assert_eq(w.body_bytes, v.body_bytes);
    cr_assert_eq(w.signature, v.signature);
    cr_assert_eq(w.total_bytes, v.total_bytes);
    /* framing damage: the same code as the full decode */
    struct { size_t off; uint8_t x; } muts[] = {
        {0, 1}, {4, 3}, {5, 1}, {16, 1}, {17, 1}, {20, 1}, {21, 1}, {25, 0x80},
    };
    for (size_t i = 0; i < sizeof muts / sizeof muts[0]; i++) {
        memcpy(c, buf, n);
        c[muts[i].off] ^= muts[i].x;
        certa_err full = certa_batch_decode(c, n, &v, NULL);
        cr_assert_neq(full, CERTA_OK, "mutation %zu", i);
        cr_assert_eq(certa_batch_frame(c, n, &w, NULL), full, "mutation %zu", i);
    }
    cr_assert_eq(certa_batch_frame(buf, n - 1, &w, NULL), CERTA_E_TRUNCATED);
    /* a bad event inside well-formed framing: only the full decode sees it */
    memcpy(c, buf, n);
    c[24 + 2 + 1] = 99;
    cr_assert_eq(certa_batch_decode(c, n, &v, NULL), CERTA_E_BAD_KIND);
    cr_assert_eq(certa_batch_frame(c, n, &w, NULL), CERTA_OK);
    /* blocks: the framing iterator walks the same batches */
    static uint8_t blk[CERTA_HEADER_BYTES + 3 * 8200];
    size_t end = CERTA_HEADER_BYTES;
    for (int b = 0; b < 3; b++)
        end = certa_block_put_batch(blk, sizeof blk, end, buf, n);
    cr_assert_gt(end, 0);
    size_t pos = CERTA_HEADER_BYTES;
    int seen = 0;
    while (certa_block_next_batch_frame(blk, end, &pos, &w, NULL) == CERTA_OK)
        seen++;
    cr_assert_eq(seen, 3);
    cr_assert_eq(pos, end);
    pos = CERTA_HEADER_BYTES;
    cr_assert_eq(certa_block_next_batch_frame(blk, end - 1, &pos, &w, NULL), CERTA_OK);
    cr_assert_eq(certa_block_next_batch_frame(blk, end - 1, &pos, &w, NULL), CERTA_OK);
    cr_assert_eq(certa_block_next_batch_frame(blk, end - 1, &pos, &w, NULL), CERTA_E_TRUNCATED);
    certa_key_free(k);
}

Test(codec, batch_event_count_limit)
{
    size_t cap = CERTA_BATCH_BYTES_MAX;
    uint8_t *buf = malloc(cap);
    cr_assert_not_null(buf);
    certa_key *k = test_key(3);
    certa_pubkey *pk = test_pub(k);
    certa_batch_builder bb;
    certa_batch_begin(&bb, buf, cap, 2, 7);
    certa_event ev = sample_event(CERTA_EV_REVOKE, 1, 0);
    for (unsigned i = 0; i < CERTA_BATCH_EVENTS_MAX; i++)
        cr_assert_eq(certa_batch_add(&bb, &ev, NULL), CERTA_OK, "event %u", i);
    certa_errinfo ei;
    cr_assert_eq(certa_batch_add(&bb, &ev, &ei), CERTA_E_LIMIT);
    cr_assert_eq(certa_batch_sign(&bb, k, NULL), CERTA_OK);
    certa_batch_view v;
    cr_assert_eq(certa_batch_decode(buf, bb.len, &v, NULL), CERTA_OK);
    cr_assert_eq(v.event_count, CERTA_BATCH_EVENTS_MAX);
    cr_assert_eq(certa_batch_verify(&v, pk, NULL), CERTA_OK);
    certa_pubkey_free(pk);
    certa_key_free(k);
    free(buf);
}

Test(codec, batch_byte_limit)
{
    size_t cap = CERTA_BATCH_BYTES_MAX + 4096; /* builder clamps to the limit */
    uint8_t *buf = malloc(cap);
    cr_assert_not_null(buf);
    certa_key *k = test_key(4);
    certa_batch_builder bb;
    certa_batch_begin(&bb, buf, cap, 2, 7);
    certa_event ev = sample_event(CERTA_EV_REDEEM, 1, CERTA_REDEEM_LICENCES_MAX);
    unsigned added = 0;
    certa_err e;
    while ((e = certa_batch_add(&bb, &ev, NULL)) == CERTA_OK)
        added++;
    cr_assert_eq(e, CERTA_E_LIMIT);
    size_t per = 2 + 54 + 49 * CERTA_REDEEM_LICENCES_MAX;
    cr_assert_eq(added, (CERTA_BATCH_BYTES_MAX - 24 - 64) / per);
    cr_assert_eq(certa_batch_sign(&bb, k, NULL), CERTA_OK);
    cr_assert_leq(bb.len, CERTA_BATCH_BYTES_MAX);
    certa_batch_view v;
    cr_assert_eq(certa_batch_decode(buf, bb.len, &v, NULL), CERTA_OK);
    cr_assert_eq(v.event_count, added);
    /* a batch claiming more bytes than the limit is refused from its header */
    certa_put_le32(buf + 20, (uint32_t)(CERTA_BATCH_BYTES_MAX - 24 - 64 + 1));
    batch_expect(buf, CERTA_BATCH_BYTES_MAX + 1, CERTA_E_TOO_LONG, "body_bytes");
    certa_key_free(k);
    free(buf);
}

Test(codec, batch_small_buffer)
{
    uint8_t buf[24 + 64 + 2 + 51];
    certa_batch_builder bb;
    certa_batch_begin(&bb, buf, sizeof buf, 1, 1);
    certa_event ev = sample_event(CERTA_EV_REVOKE, 1, 0); /* 52 bytes: one too many */
    cr_assert_eq(certa_batch_add(&bb, &ev, NULL), CERTA_E_LIMIT);
    cr_assert_eq(bb.count, 0);
    cr_assert_eq(bb.len, 24);
    ev.kind = 0;
    cr_assert_eq(certa_batch_add(&bb, &ev, NULL), CERTA_E_BAD_KIND);
    /* no room even for a length prefix next to the signature */
    certa_batch_begin(&bb, buf, 24 + 64 + 1, 1, 1);
    ev.kind = CERTA_EV_REVOKE;
    certa_errinfo ei;
    cr_assert_eq(certa_batch_add(&bb, &ev, &ei), CERTA_E_LIMIT);
    cr_assert(strstr(ei.msg, "batch full"), "%s", ei.msg);
}

/* ---- headers and blocks ---- */

static certa_block_header sample_header(void)
{
    certa_block_header h;
    memset(&h, 0, sizeof h);
    h.height = 0x0102030405060708ull;
    h.view = 3;
    h.timestamp_ms = 1700000000123ull;
    h.proposer = 2;
    h.event_count = 17;
    h.batch_count = 2;
    sample_fill(h.prev_hash, 32, 1);
    sample_fill(h.events_root, 32, 2);
    sample_fill(h.prev_results_root, 32, 3);
    sample_fill(h.state_digest, 32, 4);
    return h;
}

static bool header_eq(const certa_block_header *a, const certa_block_header *b)
{
    return a->height == b->height && a->view == b->view &&
           a->timestamp_ms == b->timestamp_ms && a->proposer == b->proposer &&
           a->event_count == b->event_count && a->batch_count == b->batch_count &&
           memcmp(a->prev_hash, b->prev_hash, 32) == 0 &&
           memcmp(a->events_root, b->events_root, 32) == 0 &&
           memcmp(a->prev_results_root, b->prev_results_root, 32) == 0 &&
           memcmp(a->state_digest, b->state_digest, 32) == 0;
}

Test(codec, header_round_trip_and_hash)
{
    certa_block_header h = sample_header(), back;
    uint8_t b[CERTA_HEADER_BYTES + 1], b2[CERTA_HEADER_BYTES];
    cr_assert_eq(certa_header_encode(&h, b), CERTA_OK);
    cr_assert_eq(memcmp(b, "CRTH", 4), 0);
    cr_assert_eq(b[4], 1);
    cr_assert_eq(b[8], 0x08);
    cr_assert_eq(b[15], 0x01);
    cr_assert_eq(memcmp(b + 40, h.prev_hash, 32), 0);
    cr_assert_eq(memcmp(b + 136, h.state_digest, 32), 0);
    cr_assert_eq(certa_header_decode(b, CERTA_HEADER_BYTES, &back, NULL), CERTA_OK);
    cr_assert(header_eq(&h, &back));
    certa_header_encode(&back, b2);
    cr_assert_eq(memcmp(b, b2, CERTA_HEADER_BYTES), 0);
    uint8_t h1[32], h2[32];
    certa_header_hash(&h, h1);
    certa_sha256(b, CERTA_HEADER_BYTES, h2);
    cr_assert_eq(memcmp(h1, h2, 32), 0);
}

Test(codec, header_rejections)
{
    certa_block_header h = sample_header(), back;
    uint8_t b[CERTA_HEADER_BYTES + 1], c[CERTA_HEADER_BYTES + 1];
    certa_header_encode(&h, b);
    certa_errinfo ei;
    cr_assert_eq(certa_header_decode(b, CERTA_HEADER_BYTES - 1, &back, &ei), CERTA_E_TRUNCATED);
    cr_assert_eq(certa_header_decode(NULL, 0, &back, &ei), CERTA_E_TRUNCATED);
    b[CERTA_HEADER_BYTES] = 0;
    cr_assert_eq(certa_header_decode(b, CERTA_HEADER_BYTES + 1, &back, &ei), CERTA_E_TRAILING);
    memcpy(c, b, sizeof b);
    c[3] ^= 1;
    cr_assert_eq(certa_header_decode(c, CERTA_HEADER_BYTES, &back, &ei), CERTA_E_BAD_MAGIC);
    cr_assert(strstr(ei.msg, "magic"));
    memcpy(c, b, sizeof b);
    c[4] = 0;
    cr_assert_eq(certa_header_decode(c, CERTA_HEADER_BYTES, &back, &ei), CERTA_E_BAD_VERSION);
    memcpy(c, b, sizeof b);
    c[5] = 0x40;
    cr_assert_eq(certa_header_decode(c, CERTA_HEADER_BYTES, &back, &ei), CERTA_E_RESERVED);
    cr_assert(strstr(ei.msg, "byte 5"), "%s", ei.msg);
}

Test(codec, block_iteration_and_check)
{
    certa_key *k = test_key(5);
    uint8_t b1[16384], b2[16384];
    size_t n1 = build_batch(b1, sizeof b1, 1, 10, 5, k);
    size_t n2 = build_batch(b2, sizeof b2, 4, 11, 12, k);
    certa_block_header h = sample_header();
    h.batch_count = 2;
    h.event_count = 17;
    size_t cap = 65536;
    uint8_t *blk = malloc(cap);
    certa_header_encode(&h, blk);
    size_t end = certa_block_put_batch(blk, cap, CERTA_HEADER_BYTES, b1, n1);
    cr_assert_eq(end, CERTA_HEADER_BYTES + 4 + n1);
    end = certa_block_put_batch(blk, cap, end, b2, n2);
    cr_assert_neq(end, 0);
    cr_assert_eq(certa_block_put_batch(blk, end + 4 + n2 - 1, end, b2, n2), 0);

    certa_block_header back;
    cr_assert_eq(certa_block_decode_header(blk, end, &back, NULL), CERTA_OK);
    cr_assert(header_eq(&h, &back));
    size_t pos = CERTA_HEADER_BYTES;
    certa_batch_view v;
    cr_assert_eq(certa_block_next_batch(blk, end, &pos, &v, NULL), CERTA_OK);
    cr_assert_eq(v.seq, 10);
    cr_assert_eq(v.event_count, 5);
    cr_assert_eq(certa_block_next_batch(blk, end, &pos, &v, NULL), CERTA_OK);
    cr_assert_eq(v.integrator, 4);
    cr_assert_eq(v.event_count, 12);
    cr_assert_eq(certa_block_next_batch(blk, end, &pos, &v, NULL), CERTA_E_NOTFOUND);
    cr_assert_eq(pos, end);
    certa_errinfo ei;
    cr_assert_eq(certa_block_check(blk, end, &back, &ei), CERTA_OK, "%s", certa_errmsg(&ei));

    /* header counts that lie */
    h.event_count = 16;
    certa_header_encode(&h, blk);
    cr_assert_eq(certa_block_check(blk, end, &back, &ei), CERTA_E_BAD_FIELD);
    cr_assert(strstr(ei.msg, "event_count"), "%s", ei.msg);
    h.event_count = 17;
    h.batch_count = 3;
    certa_header_encode(&h, blk);
    cr_assert_eq(certa_block_check(blk, end, &back, &ei), CERTA_E_BAD_FIELD);
    cr_assert(strstr(ei.msg, "batch_count"), "%s", ei.msg);
    h.batch_count = 2;
    certa_header_encode(&h, blk);

    /* framing faults */
    pos = CERTA_HEADER_BYTES;
    cr_assert_eq(certa_block_next_batch(blk, CERTA_HEADER_BYTES + 3, &pos, &v, &ei),
                 CERTA_E_TRUNCATED);
    cr_assert_eq(certa_block_check(blk, end - 1, &back, &ei), CERTA_E_TRUNCATED);
    certa_put_le32(blk + CERTA_HEADER_BYTES, CERTA_BATCH_BYTES_MAX + 1);
    cr_assert_eq(certa_block_next_batch(blk, end, &pos, &v, &ei), CERTA_E_TOO_LONG);
    certa_put_le32(blk + CERTA_HEADER_BYTES, (uint32_t)n1 - 1);
    cr_assert_eq(certa_block_next_batch(blk, end, &pos, &v, &ei), CERTA_E_TRUNCATED);
    cr_assert(strstr(ei.msg, "block: batch at byte 168"), "%s", ei.msg);
    certa_put_le32(blk + CERTA_HEADER_BYTES, (uint32_t)n1);
    blk[CERTA_HEADER_BYTES + 4] ^= 1; /* batch magic */
    cr_assert_eq(certa_block_next_batch(blk, end, &pos, &v, &ei), CERTA_E_BAD_MAGIC);
    cr_assert_eq(certa_block_decode_header(blk, 100, &back, NULL), CERTA_E_TRUNCATED);
    cr_assert_eq(certa_block_decode_header(blk, (size_t)CERTA_BLOCK_BYTES_MAX + 1, &back, NULL),
                 CERTA_E_TOO_LONG);
    blk[0] ^= 1;
    cr_assert_eq(certa_block_decode_header(blk, end, &back, NULL), CERTA_E_BAD_MAGIC);
    free(blk);
    certa_key_free(k);
}

Test(codec, leaf_encoding)
{
    uint8_t ev[CERTA_EVENT_BYTES_MAX], leaf[CERTA_EVENT_BYTES_MAX + 10];
    certa_event e = sample_event(CERTA_EV_SIGN, 1, 0);
    size_t n = enc(&e, ev);
    size_t m = certa_leaf_encode(0x0102, 0x0a0b0c0d0e0f1011ull, ev, n, leaf, sizeof leaf);
    cr_assert_eq(m, 10 + n);
    cr_assert_eq(certa_get_le16(leaf), 0x0102);
    cr_assert_eq(leaf[2], 0x11);
    cr_assert_eq(leaf[9], 0x0a);
    cr_assert_eq(memcmp(leaf + 10, ev, n), 0);
}
