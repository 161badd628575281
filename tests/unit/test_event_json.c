/* Tests for engine/event_json.c: JSON round trips of every kind, JSON <->
 * binary equivalence, the documented examples, every rejection with the
 * field named, and the JSON Lines reader (ticks, blank lines, file:line
 * messages, recovery after a bad line, line limits). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certa/codec.h"
#include "certa/crypto.h"
#include "event_json.h" /* engine-private: the json_t form */
#include "sample_events.h"

static const unsigned all_kinds[] = {CERTA_EV_GRANT,  CERTA_EV_REDEEM, CERTA_EV_CONFIRM,
                                     CERTA_EV_SIGN,   CERTA_EV_PHOTO,  CERTA_EV_REVOKE};

static size_t enc(const certa_event *ev, uint8_t *out)
{
    size_t n = 0;
    certa_errinfo ei;
    cr_assert_eq(certa_event_encode(ev, out, CERTA_EVENT_BYTES_MAX, &n, &ei), CERTA_OK, "%s",
                 ei.msg);
    return n;
}

/* event -> JSON text -> event gives the same binary bytes. */
static void json_round_trip(const certa_event *ev, const char *integ)
{
    json_t *o = certa_event_to_json(ev, integ);
    cr_assert_not_null(o);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    /* the public text form writes the same bytes */
    char *pub = certa_event_format_json(ev, integ);
    cr_assert_not_null(pub);
    cr_assert_str_eq(pub, text);
    free(pub);
    certa_event back;
    char name[CERTA_EVENT_INTEGRATOR_BYTES];
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_event_parse_json(text, strlen(text), &back, name, &ei), CERTA_OK,
                 "%s: %s", text, ei.msg);
    cr_assert_str_eq(name, integ != NULL ? integ : "");
    uint8_t a[CERTA_EVENT_BYTES_MAX], b[CERTA_EVENT_BYTES_MAX];
    size_t na = enc(ev, a), nb = enc(&back, b);
    cr_assert_eq(na, nb, "%s", text);
    cr_assert_eq(memcmp(a, b, na), 0, "%s", text);
    free(text);
}

Test(event_json, round_trip_every_kind)
{
    for (unsigned k = 0; k < 6; k++) {
        for (uint8_t seed = 0; seed < 6; seed++) {
            certa_event ev = sample_event(all_kinds[k], seed, 1 + seed * 3 % 16);
            json_round_trip(&ev, NULL);
            json_round_trip(&ev, "dongcheng-counter-1");
        }
    }
    certa_event ev = sample_event(CERTA_EV_REDEEM, 2, 3);
    memset(ev.code, 0, sizeof ev.code); /* direct: no code */
    json_round_trip(&ev, NULL);
    ev.licences[1].type = 31;
    json_round_trip(&ev, NULL);
    ev = sample_event(CERTA_EV_GRANT, 2, 0);
    ev.licence_types = 0xffffffffu;
    ev.not_after_ms = (uint64_t)INT64_MAX;
    json_round_trip(&ev, NULL);
}

/* Binary -> event -> JSON -> event -> binary: the same bytes. */
Test(event_json, binary_json_binary)
{
    for (unsigned k = 0; k < 6; k++) {
        certa_event ev = sample_event(all_kinds[k], 9, 16), d1, d2;
        uint8_t a[CERTA_EVENT_BYTES_MAX], b[CERTA_EVENT_BYTES_MAX];
        size_t na = enc(&ev, a);
        cr_assert_eq(certa_event_decode(a, na, &d1, NULL), CERTA_OK);
        json_t *o = certa_event_to_json(&d1, NULL);
        cr_assert_eq(certa_event_from_json(o, &d2, NULL, NULL), CERTA_OK);
        json_decref(o);
        size_t nb = enc(&d2, b);
        cr_assert_eq(na, nb);
        cr_assert_eq(memcmp(a, b, na), 0);
    }
}

/* The examples of docs/PROTOCOL.md, "Events (JSON)". */
static const char *const ex_grant =
    "{\"kind\":\"grant\",\"grant_id\":\"0f1e2d3c4b5a69788796a5b4c3d2e1f0\","
    "\"holder_id\":\"9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab\","
    "\"licence_types\":[\"id_card\",\"household_register\"],\"centre\":2,\"counter\":0,"
    "\"matter\":1017,\"not_before_ms\":1710000000000,\"not_after_ms\":1710001800000,"
    "\"max_uses\":1,\"method\":\"code\","
    "\"code_commit\":\"e206cc41b6b36ea93a98db85315ea1ab63374945253ddfd959933d465b6bc269\"}";
static const char *const ex_redeem =
    "{\"integrator\":\"dongcheng-counter\",\"kind\":\"redeem\","
    "\"grant_id\":\"0f1e2d3c4b5a69788796a5b4c3d2e1f0\",\"centre\":2,\"counter\":7,"
    "\"matter\":1017,\"code\":\"48213907\",\"salt\":\"a1b2c3d4e5f60718293a4b5c6d7e8f90\","
    "\"licences\":[{\"id\":\"00112233445566778899aabbccddeeff\",\"type\":\"id_card\","
    "\"digest\":\"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\"}]}";
static const char *const ex_photo =
    "{\"kind\":\"photo\",\"grant_id\":\"0f1e2d3c4b5a69788796a5b4c3d2e1f0\",\"centre\":2,"
    "\"counter\":7,\"evidence\":\"fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9\","
    "\"redeem\":1}";
static const char *const ex_revoke =
    "{\"kind\":\"revoke\",\"grant_id\":\"0f1e2d3c4b5a69788796a5b4c3d2e1f0\","
    "\"holder_id\":\"9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab\"}";

static certa_event parse_ok(const char *text, char *integ)
{
    certa_event ev;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_event_parse_json(text, strlen(text), &ev, integ, &ei), CERTA_OK, "%s",
                 ei.msg);
    return ev;
}

Test(event_json, documented_examples)
{
    char integ[CERTA_EVENT_INTEGRATOR_BYTES];
    certa_event g = parse_ok(ex_grant, integ);
    cr_assert_str_eq(integ, "");
    cr_assert_eq(g.kind, CERTA_EV_GRANT);
    cr_assert_eq(g.grant_id[0], 0x0f);
    cr_assert_eq(g.licence_types, 3u);
    cr_assert_eq(g.centre, 2);
    cr_assert_eq(g.counter, 0);
    cr_assert_eq(g.matter, 1017);
    cr_assert_eq(g.not_before_ms, 1710000000000ull);
    cr_assert_eq(g.not_after_ms, 1710001800000ull);
    cr_assert_eq(g.max_uses, 1);
    cr_assert_eq(g.method, CERTA_METHOD_CODE);
    cr_assert_eq(g.code_commit[0], 0xe2);

    certa_event r = parse_ok(ex_redeem, integ);
    cr_assert_str_eq(integ, "dongcheng-counter");
    cr_assert_eq(r.kind, CERTA_EV_REDEEM);
    cr_assert_eq(r.counter, 7);
    cr_assert_eq(memcmp(r.code, "48213907", 8), 0);
    cr_assert_eq(r.salt[15], 0x90);
    cr_assert_eq(r.licence_count, 1);
    cr_assert_eq(r.licences[0].type, CERTA_LT_ID_CARD);
    cr_assert_eq(r.licences[0].id[15], 0xff);
    cr_assert_eq(r.licences[0].digest[31], 0xae);

    certa_event p = parse_ok(ex_photo, integ);
    cr_assert_eq(p.kind, CERTA_EV_PHOTO);
    cr_assert_eq(p.evidence[0], 0xfc);
    cr_assert_eq(p.redeem, 1);
    certa_event v = parse_ok(ex_revoke, NULL);
    cr_assert_eq(v.kind, CERTA_EV_REVOKE);
    cr_assert_eq(v.holder_id[31], 0xab);

    /* Output is the same text, field for field and in order. */
    const char *const all[] = {ex_grant, ex_redeem, ex_photo, ex_revoke};
    for (unsigned i = 0; i < 4; i++) {
        certa_event ev = parse_ok(all[i], integ);
        json_t *o = certa_event_to_json(&ev, integ[0] ? integ : NULL);
        char *text = json_dumps(o, JSON_COMPACT);
        cr_assert_str_eq(text, all[i]);
        free(text);
        json_decref(o);
    }
}

Test(event_json, upper_case_hex_accepted)
{
    certa_event ev = parse_ok(
        "{\"kind\":\"revoke\",\"grant_id\":\"0F1E2D3C4B5A69788796A5B4C3D2E1F0\","
        "\"holder_id\":\"9C56CC51B374C3BA189210D5B6D4BF57790D351C96C47C02190ECF1E430635AB\"}",
        NULL);
    cr_assert_eq(ev.grant_id[1], 0x1e);
}

Test(event_json, direct_grant_has_no_commitment)
{
    certa_event ev = sample_event(CERTA_EV_GRANT, 2, 0);
    cr_assert_eq(ev.method, CERTA_METHOD_DIRECT);
    json_t *o = certa_event_to_json(&ev, NULL);
    cr_assert_null(json_object_get(o, "code_commit"));
    json_decref(o);
    ev = sample_event(CERTA_EV_REDEEM, 2, 1);
    memset(ev.code, 0, 8);
    o = certa_event_to_json(&ev, NULL);
    cr_assert_null(json_object_get(o, "code"));
    cr_assert_not_null(json_object_get(o, "salt"));
    json_decref(o);
}

Test(event_json, to_json_refuses_invalid_event)
{
    certa_event ev = sample_event(CERTA_EV_GRANT, 1, 0);
    ev.centre = 0;
    cr_assert_null(certa_event_to_json(&ev, NULL));
    ev = sample_event(CERTA_EV_REVOKE, 1, 0);
    ev.matter = 3;
    cr_assert_null(certa_event_to_json(&ev, NULL));
}

/* Replaces field key of the JSON text with raw value (NULL removes it) and
 * expects code plus needle in the message. */
static void reject(const char *base, const char *key, const char *raw, certa_err code,
                   const char *needle)
{
    json_t *o = json_loads(base, 0, NULL);
    cr_assert_not_null(o);
    if (raw == NULL) {
        json_object_del(o, key);
    } else {
        json_error_t jerr;
        json_t *v = json_loads(raw, JSON_DECODE_ANY, &jerr);
        cr_assert_not_null(v, "bad test value %s", raw);
        json_object_set_new(o, key, v);
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    certa_event ev;
    char integ[CERTA_EVENT_INTEGRATOR_BYTES];
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e = certa_event_parse_json(text, strlen(text), &ev, integ, &ei);
    cr_assert_eq(e, code, "%s -> %d (%s), expected %d", text, e, ei.msg, code);
    cr_assert(strstr(ei.msg, needle) != NULL, "'%s' not in '%s' for %s", needle, ei.msg, text);
    free(text);
}

Test(event_json, rejections_name_the_field)
{
    reject(ex_grant, "kind", NULL, CERTA_E_JSON, "field \"kind\": missing");
    reject(ex_grant, "kind", "\"tick\"", CERTA_E_BAD_KIND, "field \"kind\": unknown kind");
    reject(ex_grant, "kind", "3", CERTA_E_JSON, "field \"kind\": expected a string");
    reject(ex_grant, "colour", "\"red\"", CERTA_E_JSON, "field \"colour\": unknown field");
    reject(ex_grant, "evidence", "\"00\"", CERTA_E_JSON,
           "field \"evidence\": not used by kind grant");
    reject(ex_revoke, "centre", "1", CERTA_E_JSON, "field \"centre\": not used by kind revoke");
    reject(ex_photo, "salt", "\"00\"", CERTA_E_JSON, "field \"salt\": not used by kind photo");
    reject(ex_grant, "grant_id", NULL, CERTA_E_JSON, "field \"grant_id\": missing");
    reject(ex_grant, "grant_id", "\"0f1e\"", CERTA_E_HEX,
           "field \"grant_id\": expected 32 hex digits");
    reject(ex_grant, "grant_id", "\"0f1e2d3c4b5a69788796a5b4c3d2e1fg\"", CERTA_E_HEX,
           "\"grant_id\"");
    reject(ex_grant, "grant_id", "17", CERTA_E_JSON, "\"grant_id\": expected 32 hex");
    reject(ex_grant, "holder_id", "\"00\"", CERTA_E_HEX, "field \"holder_id\": expected 64");
    reject(ex_grant, "licence_types", "[]", CERTA_E_BAD_FIELD, "field \"licence_types\"");
    reject(ex_grant, "licence_types", "\"id_card\"", CERTA_E_JSON, "\"licence_types\"");
    reject(ex_grant, "licence_types", "[\"passport\"]", CERTA_E_BAD_ENUM,
           "field \"licence_types[0]\": unknown licence type \"passport\"");
    reject(ex_grant, "licence_types", "[\"id_card\",7]", CERTA_E_JSON, "\"licence_types[1]\"");
    reject(ex_grant, "licence_types", "[\"id_card\",\"id_card\"]", CERTA_E_BAD_FIELD,
           "listed twice");
    reject(ex_grant, "centre", "0", CERTA_E_BAD_FIELD, "field \"centre\": must be >= 1");
    reject(ex_grant, "centre", "65536", CERTA_E_BAD_FIELD, "field \"centre\": 65536 is not in");
    reject(ex_grant, "centre", "-1", CERTA_E_BAD_FIELD, "\"centre\"");
    reject(ex_grant, "centre", "2.0", CERTA_E_JSON, "\"centre\": expected an integer");
    reject(ex_grant, "centre", "\"2\"", CERTA_E_JSON, "\"centre\": expected an integer");
    reject(ex_grant, "counter", NULL, CERTA_E_JSON, "field \"counter\": missing");
    reject(ex_grant, "matter", "0", CERTA_E_BAD_FIELD, "field \"matter\"");
    reject(ex_grant, "matter", "4294967296", CERTA_E_BAD_FIELD, "field \"matter\"");
    reject(ex_grant, "not_before_ms", "-5", CERTA_E_BAD_FIELD, "field \"not_before_ms\"");
    reject(ex_grant, "not_after_ms", "null", CERTA_E_JSON, "field \"not_after_ms\"");
    reject(ex_grant, "max_uses", "0", CERTA_E_BAD_FIELD, "field \"max_uses\": must be >= 1");
    reject(ex_grant, "method", "\"sms\"", CERTA_E_BAD_ENUM, "field \"method\": unknown method");
    reject(ex_grant, "method", "\"direct\"", CERTA_E_BAD_FIELD,
           "field \"code_commit\": not used with method direct");
    reject(ex_grant, "code_commit", NULL, CERTA_E_JSON, "field \"code_commit\": missing");
    reject(ex_grant, "code_commit",
           "\"0000000000000000000000000000000000000000000000000000000000000000\"",
           CERTA_E_BAD_FIELD, "field \"code_commit\": required");
    reject(ex_redeem, "code", "\"1234567\"", CERTA_E_BAD_FIELD,
           "field \"code\": expected a string of 8 digits");
    reject(ex_redeem, "code", "\"1234567a\"", CERTA_E_BAD_FIELD, "field \"code\"");
    reject(ex_redeem, "code", "12345678", CERTA_E_JSON, "field \"code\"");
    reject(ex_redeem, "salt", "\"a1b2\"", CERTA_E_HEX, "field \"salt\": expected 32 hex digits");
    reject(ex_redeem, "counter", "0", CERTA_E_BAD_FIELD, "field \"counter\": must be >= 1");
    reject(ex_redeem, "licences", "[]", CERTA_E_BAD_FIELD, "field \"licences\"");
    reject(ex_redeem, "licences", "{}", CERTA_E_JSON, "field \"licences\"");
    reject(ex_redeem, "licences", "[1]", CERTA_E_JSON, "field \"licences[0]\"");
    reject(ex_redeem, "licences",
           "[{\"id\":\"00112233445566778899aabbccddeeff\",\"type\":\"id_card\"}]", CERTA_E_JSON,
           "field \"licences[0].digest\": missing");
    reject(ex_redeem, "licences",
           "[{\"id\":\"0011\",\"type\":\"id_card\",\"digest\":\"00\"}]", CERTA_E_HEX,
           "field \"licences[0].id\": expected 32 hex digits");
    reject(ex_redeem, "licences",
           "[{\"id\":\"00112233445566778899aabbccddeeff\",\"type\":\"visa\",\"digest\":\"00\"}]",
           CERTA_E_BAD_ENUM, "field \"licences[0].type\": unknown licence type");
    reject(ex_redeem, "licences",
           "[{\"id\":\"00112233445566778899aabbccddeeff\",\"type\":\"id_card\",\"digest\":"
           "\"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\",\"x\":1}]",
           CERTA_E_JSON, "field \"licences[0].x\": unknown field");
    reject(ex_redeem, "integrator", "5", CERTA_E_JSON, "field \"integrator\"");
    reject(ex_redeem, "integrator", "\"\"", CERTA_E_JSON, "field \"integrator\"");
    reject(ex_redeem, "integrator",
           "\"0123456789012345678901234567890123456789012345678901234567890123\"", CERTA_E_JSON,
           "field \"integrator\"");
    reject(ex_photo, "evidence", "\"xyz\"", CERTA_E_HEX, "field \"evidence\": expected 64 hex");
    reject(ex_photo, "redeem", "\"1\"", CERTA_E_JSON, "field \"redeem\"");
    reject(ex_photo, "redeem", "65536", CERTA_E_BAD_FIELD, "field \"redeem\": 65536 is not in");
    reject(ex_revoke, "redeem", "1", CERTA_E_JSON, "field \"redeem\": not used by kind revoke");
    /* sealed redeems: the proof instead of code and salt, never beside them */
    reject(ex_redeem, "code_proof", "\"00\"", CERTA_E_HEX, "field \"code_proof\": expected 64 hex");
    reject(ex_redeem, "code_proof",
           "\"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\"",
           CERTA_E_BAD_FIELD, "field \"code_proof\": a sealed redeem carries no code and no salt");
    reject(ex_grant, "code_proof", "\"00\"", CERTA_E_JSON,
           "field \"code_proof\": not used by kind grant");
}

/* A sealed redeem reads and writes back field for field; all-zero proofs
 * are refused. */
Test(event_json, sealed_redeem)
{
    static const char *const text =
        "{\"kind\":\"redeem\",\"grant_id\":\"0f1e2d3c4b5a69788796a5b4c3d2e1f0\",\"centre\":2,"
        "\"counter\":7,\"matter\":1017,\"licences\":[{\"id\":\"00112233445566778899aabbccddeeff\","
        "\"type\":\"id_card\",\"digest\":"
        "\"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\"}],"
        "\"code_proof\":\"9a0b5e0d1c2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3\"}";
    certa_event ev = parse_ok(text, NULL);
    cr_assert_eq(ev.code_proof[0], 0x9a);
    cr_assert_eq(ev.code[0], 0);
    json_t *o = certa_event_to_json(&ev, NULL);
    char *out = json_dumps(o, JSON_COMPACT);
    cr_assert_str_eq(out, text);
    free(out);
    json_decref(o);
    char zero[1024];
    snprintf(zero, sizeof zero, "%s", text);
    char *p = strstr(zero, "9a0b5e");
    memset(p, '0', 64);
    certa_event z;
    cr_assert_eq(certa_event_parse_json(zero, strlen(zero), &z, NULL, NULL), CERTA_E_BAD_FIELD);
}

Test(event_json, too_many_licences)
{
    json_t *o = json_loads(ex_redeem, 0, NULL);
    json_t *arr = json_object_get(o, "licences");
    json_t *first = json_array_get(arr, 0);
    for (unsigned i = 1; i < 17; i++)
        json_array_append(arr, first);
    char *text = json_dumps(o, JSON_COMPACT);
    certa_event ev;
    char integ[CERTA_EVENT_INTEGRATOR_BYTES];
    certa_errinfo ei;
    cr_assert_eq(certa_event_parse_json(text, strlen(text), &ev, integ, &ei), CERTA_E_TOO_LONG);
    cr_assert(strstr(ei.msg, "\"licences\""), "%s", ei.msg);
    free(text);
    json_array_remove(arr, 16); /* 16 is the limit */
    text = json_dumps(o, JSON_COMPACT);
    cr_assert_eq(certa_event_parse_json(text, strlen(text), &ev, integ, &ei), CERTA_OK, "%s",
                 ei.msg);
    cr_assert_eq(ev.licence_count, 16);
    free(text);
    json_decref(o);
}

Test(event_json, syntax_and_shape)
{
    certa_event ev;
    char integ[CERTA_EVENT_INTEGRATOR_BYTES];
    certa_errinfo ei;
    const char *bad[] = {
        "",
        "{",
        "[]",
        "{\"kind\":\"revoke\"} {}",
        "{\"kind\":\"revoke\",\"kind\":\"revoke\"}", /* duplicate key */
        "{\"kind\":\"grant\",\"max_uses\":9223372036854775808}",
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(certa_event_parse_json(bad[i], strlen(bad[i]), &ev, integ, &ei),
                     CERTA_E_JSON, "%s", bad[i]);
    /* integrator refused when the caller gives no place for it */
    cr_assert_eq(certa_event_parse_json(ex_redeem, strlen(ex_redeem), &ev, NULL, &ei),
                 CERTA_E_JSON);
    cr_assert(strstr(ei.msg, "\"integrator\""));
    json_t *arr = json_array();
    cr_assert_eq(certa_event_from_json(arr, &ev, NULL, &ei), CERTA_E_JSON);
    cr_assert_eq(certa_event_from_json(NULL, &ev, NULL, &ei), CERTA_E_JSON);
    json_decref(arr);
}

/* ---- JSON Lines ---- */

static char *write_temp(const char *content, size_t len)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/certa_jsonl_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

Test(event_json, jsonl_reader)
{
    char text[4096];
    snprintf(text, sizeof text,
             "%s\n"
             "\n"
             "   \t \n"
             "{\"kind\":\"tick\",\"time_ms\":1710000000500}\r\n"
             "%s\n"
             "{\"kind\":\"photo\",\"grant_id\":\"0f1e2d3c4b5a69788796a5b4c3d2e1f0\",\"centre\":2,"
             "\"counter\":7,\"salt\":\"00\"}\n"
             "{\"kind\":\"tick\",\"time_ms\":-1}\n"
             "{\"kind\":\"tick\",\"time_ms\":5,\"x\":1}\n"
             "not json\n"
             "%s",
             ex_grant, ex_redeem, ex_revoke /* last line without newline */);
    char *path = write_temp(text, strlen(text));
    certa_jsonl_reader *r = NULL;
    certa_errinfo ei;
    cr_assert_eq(certa_jsonl_open(path, &r, &ei), CERTA_OK);
    certa_jsonl_item it;

    cr_assert_eq(certa_jsonl_next(r, &it, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert_eq(it.kind, CERTA_JSONL_EVENT);
    cr_assert_eq(it.line, 1);
    cr_assert_eq(it.event.kind, CERTA_EV_GRANT);
    cr_assert_str_eq(it.integrator, "");

    cr_assert_eq(certa_jsonl_next(r, &it, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert_eq(it.kind, CERTA_JSONL_TICK);
    cr_assert_eq(it.line, 4);
    cr_assert_eq(it.time_ms, 1710000000500ull);

    cr_assert_eq(certa_jsonl_next(r, &it, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert_eq(it.line, 5);
    cr_assert_eq(it.event.kind, CERTA_EV_REDEEM);
    cr_assert_str_eq(it.integrator, "dongcheng-counter");

    char want[256];
    cr_assert_eq(certa_jsonl_next(r, &it, &ei), CERTA_E_JSON);
    snprintf(want, sizeof want, "%s:6: field \"salt\": not used by kind photo", path);
    cr_assert_str_eq(ei.msg, want);
    cr_assert_eq(certa_jsonl_next(r, &it, &ei), CERTA_E_BAD_FIELD);
    snprintf(want, sizeof want, "%s:7: field \"time_ms\"", path);
    cr_assert(strstr(ei.msg, want), "%s", ei.msg);
    cr_assert_eq(certa_jsonl_next(r, &it, &ei), CERTA_E_JSON);
    snprintf(want, sizeof want, "%s:8: field \"x\"", path);
    cr_assert(strstr(ei.msg, want), "%s", ei.msg);
    cr_assert_eq(certa_jsonl_next(r, &it, &ei), CERTA_E_JSON);
    snprintf(want, sizeof want, "%s:9: JSON syntax", path);
    cr_assert(strstr(ei.msg, want), "%s", ei.msg);

    cr_assert_eq(certa_jsonl_next(r, &it, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert_eq(it.line, 10);
    cr_assert_eq(it.event.kind, CERTA_EV_REVOKE);
    cr_assert_eq(certa_jsonl_next(r, &it, &ei), CERTA_E_NOTFOUND);
    cr_assert_eq(certa_jsonl_next(r, &it, &ei), CERTA_E_NOTFOUND);
    certa_jsonl_close(r);
    unlink(path);
}

Test(event_json, jsonl_salt_message_format)
{
    const char *text = "{\"kind\":\"redeem\",\"grant_id\":\"0f1e2d3c4b5a69788796a5b4c3d2e1f0\","
                       "\"centre\":2,\"counter\":7,\"matter\":1,\"salt\":\"zz\",\"licences\":[]}\n";
    char *path = write_temp(text, strlen(text));
    FILE *f = fopen(path, "r");
    certa_jsonl_reader *r = NULL;
    cr_assert_eq(certa_jsonl_open_stream(f, "events.jsonl", &r, NULL), CERTA_OK);
    certa_jsonl_item it;
    certa_errinfo ei;
    cr_assert_eq(certa_jsonl_next(r, &it, &ei), CERTA_E_HEX);
    cr_assert_str_eq(ei.msg, "events.jsonl:1: field \"salt\": expected 32 hex digits");
    certa_jsonl_close(r);
    fclose(f);
    unlink(path);
}

Test(event_json, jsonl_limits)
{
    size_t big = CERTA_JSONL_LINE_BYTES_MAX + 10;
    size_t total = big + 1 + strlen(ex_revoke) + 1 + 5;
    char *text = malloc(total);
    memset(text, ' ', big);
    text[0] = '{';
    size_t n = big;
    text[n++] = '\n';
    memcpy(text + n, ex_revoke, strlen(ex_revoke));
    n += strlen(ex_revoke);
    text[n++] = '\n';
    memcpy(text + n, "{\0}\n", 4); /* a NUL inside a line */
    n += 4;
    char *path = write_temp(text, n);
    free(text);
    certa_jsonl_reader *r = NULL;
    certa_errinfo ei;
    cr_assert_eq(certa_jsonl_open(path, &r, &ei), CERTA_OK);
    certa_jsonl_item it;
    cr_assert_eq(certa_jsonl_next(r, &it, &ei), CERTA_E_TOO_LONG);
    cr_assert(strstr(ei.msg, ":1: line longer than"), "%s", ei.msg);
    cr_assert_eq(it.line, 1, "a refused line still names its number");
    cr_assert_eq(it.kind, 0);
    cr_assert_eq(certa_jsonl_next(r, &it, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert_eq(it.line, 2);
    cr_assert_eq(certa_jsonl_next(r, &it, &ei), CERTA_E_JSON);
    cr_assert(strstr(ei.msg, ":3: NUL byte"), "%s", ei.msg);
    cr_assert_eq(it.line, 3);
    cr_assert_eq(certa_jsonl_next(r, &it, &ei), CERTA_E_NOTFOUND);
    certa_jsonl_close(r);
    unlink(path);

    cr_assert_eq(certa_jsonl_open("/nonexistent/x.jsonl", &r, &ei), CERTA_E_IO);
    cr_assert(strstr(ei.msg, "/nonexistent/x.jsonl"), "%s", ei.msg);
}

/* The examples in docs/PROTOCOL.md parse: every line of the ```json blocks
 * of the "Events (JSON)" section goes through the JSONL reader. */
Test(event_json, protocol_doc_examples_parse)
{
    const char *src = getenv("CERTA_SOURCE_DIR");
    cr_assert_not_null(src, "CERTA_SOURCE_DIR not set (run under ctest)");
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/PROTOCOL.md", src);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char line[4096];
    char *out = NULL;
    size_t out_len = 0;
    FILE *mem = open_memstream(&out, &out_len);
    bool in_section = false, in_block = false;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "## ", 3) == 0)
            in_section = strcmp(line, "## Events (JSON)\n") == 0;
        else if (in_section && strncmp(line, "```", 3) == 0)
            in_block = !in_block && strcmp(line, "```json\n") == 0;
        else if (in_section && in_block)
            fputs(line, mem);
    }
    fclose(f);
    fclose(mem);
    cr_assert_gt(out_len, 0);
    FILE *lines = fmemopen(out, out_len, "r");
    certa_jsonl_reader *r = NULL;
    cr_assert_eq(certa_jsonl_open_stream(lines, "PROTOCOL.md", &r, NULL), CERTA_OK);
    certa_jsonl_item it;
    certa_errinfo ei;
    certa_err e;
    unsigned events = 0, ticks = 0, seen_kinds = 0;
    while ((e = certa_jsonl_next(r, &it, &ei)) == CERTA_OK) {
        if (it.kind == CERTA_JSONL_TICK) {
            ticks++;
            continue;
        }
        events++;
        seen_kinds |= 1u << it.event.kind;
    }
    cr_assert_eq(e, CERTA_E_NOTFOUND, "%s", ei.msg);
    cr_assert_eq(seen_kinds, 0x7eu, "an example per kind");
    cr_assert_geq(events, 6);
    cr_assert_eq(ticks, 1);
    certa_jsonl_close(r);
    fclose(lines);
    free(out);
}

/* The documented commitment is SHA-256(salt bytes || ASCII code). */
Test(event_json, documented_commitment)
{
    certa_event g = parse_ok(ex_grant, NULL);
    char integ[CERTA_EVENT_INTEGRATOR_BYTES];
    certa_event r = parse_ok(ex_redeem, integ);
    uint8_t buf[CERTA_SALT_BYTES + CERTA_CODE_DIGITS], h[32];
    memcpy(buf, r.salt, CERTA_SALT_BYTES);
    memcpy(buf + CERTA_SALT_BYTES, r.code, CERTA_CODE_DIGITS);
    certa_sha256(buf, sizeof buf, h);
    cr_assert_eq(memcmp(h, g.code_commit, 32), 0);
    memset(h, 0, sizeof h);
    certa_code_commit(r.salt, r.code, h);
    cr_assert_eq(memcmp(h, g.code_commit, 32), 0);
    /* rules 2, PROTOCOL.md's sealed pair: the proof is the rules-1
     * commitment's bytes, the commitment SHA-256 of the proof */
    uint8_t proof[32], sealed[32], want_proof[32], want_commit[32];
    certa_hex_decode("e206cc41b6b36ea93a98db85315ea1ab63374945253ddfd959933d465b6bc269",
                     want_proof, 32);
    certa_hex_decode("c2b8eeec88fae73633877667703475c13e453addd8808502a37a70227171c1f3",
                     want_commit, 32);
    certa_code_proof(r.salt, r.code, proof);
    certa_code_commit_sealed(r.salt, r.code, sealed);
    cr_assert_eq(memcmp(proof, want_proof, 32), 0);
    cr_assert_eq(memcmp(sealed, want_commit, 32), 0);
}
