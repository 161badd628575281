/* event_json: JSON <-> certa_event, and the JSON Lines reader.
 *
 * The JSON layer only maps names and checks types and ranges of the wire
 * integers; every value rule (centre >= 1, commitment iff method, ...) is
 * certa_event_validate's, so JSON and binary accept exactly the same events.
 * Each field is looked up once and the object's keys are checked against the
 * kind's field list, so an unknown or misplaced field is always reported.
 * The reader owns one line buffer, allocated at open: lines longer than
 * CERTA_JSONL_LINE_BYTES_MAX are refused, never grown into.
 */
#include "event_json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certa/gov.h"

/* ---- field table ---- */

enum {
    J_KIND = 1u << 0,
    J_GRANT_ID = 1u << 1,
    J_HOLDER_ID = 1u << 2,
    J_LICENCE_TYPES = 1u << 3,
    J_CENTRE = 1u << 4,
    J_COUNTER = 1u << 5,
    J_MATTER = 1u << 6,
    J_NOT_BEFORE = 1u << 7,
    J_NOT_AFTER = 1u << 8,
    J_MAX_USES = 1u << 9,
    J_METHOD = 1u << 10,
    J_CODE_COMMIT = 1u << 11,
    J_CODE = 1u << 12,
    J_SALT = 1u << 13,
    J_LICENCES = 1u << 14,
    J_EVIDENCE = 1u << 15,
    J_INTEGRATOR = 1u << 16,
    J_GOV = 1u << 17,
    J_REDEEM = 1u << 18,
    J_CODE_PROOF = 1u << 19,
};

static const struct {
    const char *name;
    unsigned bit;
} json_fields[] = {
    {"kind", J_KIND},
    {"grant_id", J_GRANT_ID},
    {"holder_id", J_HOLDER_ID},
    {"licence_types", J_LICENCE_TYPES},
    {"centre", J_CENTRE},
    {"counter", J_COUNTER},
    {"matter", J_MATTER},
    {"not_before_ms", J_NOT_BEFORE},
    {"not_after_ms", J_NOT_AFTER},
    {"max_uses", J_MAX_USES},
    {"method", J_METHOD},
    {"code_commit", J_CODE_COMMIT},
    {"code", J_CODE},
    {"salt", J_SALT},
    {"licences", J_LICENCES},
    {"evidence", J_EVIDENCE},
    {"redeem", J_REDEEM},
    {"code_proof", J_CODE_PROOF},
    {"integrator", J_INTEGRATOR},
    {"gov", J_GOV},
};

static unsigned kind_json_fields(unsigned kind)
{
    const unsigned common = J_KIND | J_GRANT_ID | J_INTEGRATOR;
    switch (kind) {
    case CERTA_EV_GRANT:
        return common | J_HOLDER_ID | J_LICENCE_TYPES | J_CENTRE | J_COUNTER | J_MATTER |
               J_NOT_BEFORE | J_NOT_AFTER | J_MAX_USES | J_METHOD | J_CODE_COMMIT;
    case CERTA_EV_REDEEM:
        return common | J_CENTRE | J_COUNTER | J_MATTER | J_CODE | J_SALT | J_LICENCES |
               J_CODE_PROOF;
    case CERTA_EV_CONFIRM:
    case CERTA_EV_SIGN:
    case CERTA_EV_PHOTO: return common | J_CENTRE | J_COUNTER | J_EVIDENCE | J_REDEEM;
    case CERTA_EV_REVOKE: return common | J_HOLDER_ID;
    case CERTA_EV_GOVERN: return common | J_GOV;
    default: return 0;
    }
}

static unsigned field_bit(const char *name)
{
    for (size_t i = 0; i < sizeof json_fields / sizeof json_fields[0]; i++)
        if (strcmp(json_fields[i].name, name) == 0)
            return json_fields[i].bit;
    return 0;
}

__attribute__((format(printf, 4, 5))) static certa_err
jfail(certa_errinfo *ei, certa_err code, const char *field, const char *fmt, ...)
{
    if (ei == NULL)
        return code;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return certa_errorf(ei, code, "field \"%s\": %s", field, what);
}

/* ---- typed getters: name is the field's full name for messages ---- */

static certa_err get_required(const json_t *obj, const char *key, const char *name,
                              const json_t **out, certa_errinfo *ei)
{
    *out = json_object_get(obj, key);
    if (*out == NULL)
        return jfail(ei, CERTA_E_JSON, name, "missing");
    return CERTA_OK;
}

static certa_err get_uint(const json_t *obj, const char *key, uint64_t max, uint64_t *out,
                          certa_errinfo *ei)
{
    const json_t *v;
    certa_err e = get_required(obj, key, key, &v, ei);
    if (e != CERTA_OK)
        return e;
    if (!json_is_integer(v))
        return jfail(ei, CERTA_E_JSON, key, "expected an integer in 0..%llu",
                     (unsigned long long)max);
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x > max)
        return jfail(ei, CERTA_E_BAD_FIELD, key, "%lld is not in 0..%llu", (long long)x,
                     (unsigned long long)max);
    *out = (uint64_t)x;
    return CERTA_OK;
}

static certa_err get_u16(const json_t *obj, const char *key, uint16_t *out, certa_errinfo *ei)
{
    uint64_t v = 0;
    certa_err e = get_uint(obj, key, UINT16_MAX, &v, ei);
    *out = (uint16_t)v;
    return e;
}

static certa_err get_u32(const json_t *obj, const char *key, uint32_t *out, certa_errinfo *ei)
{
    uint64_t v = 0;
    certa_err e = get_uint(obj, key, UINT32_MAX, &v, ei);
    *out = (uint32_t)v;
    return e;
}

static certa_err hex_value(const json_t *v, const char *name, uint8_t *out, size_t n,
                           certa_errinfo *ei)
{
    if (!json_is_string(v) || json_string_length(v) != 2 * n ||
        certa_hex_decode(json_string_value(v), out, n) != CERTA_OK)
        return jfail(ei, json_is_string(v) ? CERTA_E_HEX : CERTA_E_JSON, name,
                     "expected %zu hex digits", 2 * n);
    return CERTA_OK;
}

static certa_err get_hex(const json_t *obj, const char *key, uint8_t *out, size_t n,
                         certa_errinfo *ei)
{
    const json_t *v;
    certa_err e = get_required(obj, key, key, &v, ei);
    if (e != CERTA_OK)
        return e;
    return hex_value(v, key, out, n, ei);
}

static certa_err get_name(const json_t *obj, const char *key, const char *name,
                          const char **out, certa_errinfo *ei)
{
    const json_t *v;
    certa_err e = get_required(obj, key, name, &v, ei);
    if (e != CERTA_OK)
        return e;
    if (!json_is_string(v))
        return jfail(ei, CERTA_E_JSON, name, "expected a string");
    *out = json_string_value(v);
    return CERTA_OK;
}

/* ---- JSON -> event ---- */

static certa_err parse_licence_types(const json_t *obj, uint32_t *mask, certa_errinfo *ei)
{
    const json_t *arr;
    certa_err e = get_required(obj, "licence_types", "licence_types", &arr, ei);
    if (e != CERTA_OK)
        return e;
    if (!json_is_array(arr))
        return jfail(ei, CERTA_E_JSON, "licence_types", "expected an array of licence type names");
    *mask = 0;
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        char name[40];
        snprintf(name, sizeof name, "licence_types[%zu]", i);
        if (!json_is_string(v))
            return jfail(ei, CERTA_E_JSON, name, "expected a licence type name");
        int t = certa_licence_type_parse(json_string_value(v));
        if (t < 0)
            return jfail(ei, CERTA_E_BAD_ENUM, name, "unknown licence type \"%s\"",
                         json_string_value(v));
        if (*mask & (1u << t))
            return jfail(ei, CERTA_E_BAD_FIELD, name, "\"%s\" listed twice",
                         json_string_value(v));
        *mask |= 1u << t;
    }
    return CERTA_OK;
}

static certa_err parse_licences(const json_t *obj, certa_event *ev, certa_errinfo *ei)
{
    const json_t *arr;
    certa_err e = get_required(obj, "licences", "licences", &arr, ei);
    if (e != CERTA_OK)
        return e;
    if (!json_is_array(arr))
        return jfail(ei, CERTA_E_JSON, "licences", "expected an array of {id, type, digest}");
    size_t n = json_array_size(arr);
    if (n > CERTA_REDEEM_LICENCES_MAX)
        return jfail(ei, CERTA_E_TOO_LONG, "licences", "%zu licences, limit %u", n,
                     CERTA_REDEEM_LICENCES_MAX);
    for (size_t i = 0; i < n; i++) {
        const json_t *l = json_array_get(arr, i);
        char name[48];
        snprintf(name, sizeof name, "licences[%zu]", i);
        if (!json_is_object(l))
            return jfail(ei, CERTA_E_JSON, name, "expected an object {id, type, digest}");
        const char *key;
        const json_t *val;
        json_object_foreach((json_t *)l, key, val)
        {
            if (strcmp(key, "id") != 0 && strcmp(key, "type") != 0 && strcmp(key, "digest") != 0) {
                snprintf(name, sizeof name, "licences[%zu].%.20s", i, key);
                return jfail(ei, CERTA_E_JSON, name, "unknown field");
            }
        }
        certa_licence_ref *ref = &ev->licences[i];
        const json_t *v;
        snprintf(name, sizeof name, "licences[%zu].id", i);
        if ((e = get_required(l, "id", name, &v, ei)) != CERTA_OK ||
            (e = hex_value(v, name, ref->id, CERTA_LICENCE_ID_BYTES, ei)) != CERTA_OK)
            return e;
        snprintf(name, sizeof name, "licences[%zu].type", i);
        const char *tname;
        if ((e = get_name(l, "type", name, &tname, ei)) != CERTA_OK)
            return e;
        int t = certa_licence_type_parse(tname);
        if (t < 0)
            return jfail(ei, CERTA_E_BAD_ENUM, name, "unknown licence type \"%s\"", tname);
        ref->type = (uint8_t)t;
        snprintf(name, sizeof name, "licences[%zu].digest", i);
        if ((e = get_required(l, "digest", name, &v, ei)) != CERTA_OK ||
            (e = hex_value(v, name, ref->digest, CERTA_HASH_BYTES, ei)) != CERTA_OK)
            return e;
    }
    ev->licence_count = (uint8_t)n;
    return CERTA_OK;
}

static int set_hex(json_t *o, const char *key, const uint8_t *b, size_t n);

/* The "gov" object of a govern event: "op" (propose, approve), then what
 * the op uses; absent members are zero (the state judges what a change
 * type needs). Names for change, role and param; hex for pub and
 * proposal; numbers for the rest. */
static certa_err parse_gov(const json_t *obj, certa_gov_body *g, certa_errinfo *ei)
{
    static const char *const keys[] = {"op", "change", "integrator", "centre", "counter",
                                       "matter", "role", "param", "value", "expires_ms",
                                       "pub", "name", "proposal", "change_code", "role_code",
                                       "param_code", NULL};
    const json_t *o = json_object_get(obj, "gov");
    if (!json_is_object(o))
        return jfail(ei, CERTA_E_JSON, "gov", "expected an object");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)o, key, val)
    {
        bool known = false;
        for (size_t i = 0; keys[i] != NULL && !known; i++)
            known = strcmp(keys[i], key) == 0;
        if (!known)
            return jfail(ei, CERTA_E_JSON, key, "unknown field of gov");
    }
    certa_err e;
    const char *s;
    if ((e = get_name(o, "op", "gov.op", &s, ei)) != CERTA_OK)
        return e;
    if (strcmp(s, "propose") != 0 && strcmp(s, "approve") != 0)
        return jfail(ei, CERTA_E_BAD_ENUM, "gov.op", "\"%s\" is not propose or approve", s);
    g->op = strcmp(s, "propose") == 0 ? CERTA_GOV_PROPOSE : CERTA_GOV_APPROVE;
    if (json_object_get(o, "change") != NULL) {
        if ((e = get_name(o, "change", "gov.change", &s, ei)) != CERTA_OK)
            return e;
        int c = certa_gov_change_parse(s);
        if (c < 0)
            return jfail(ei, CERTA_E_BAD_ENUM, "gov.change", "unknown change \"%s\"", s);
        g->change = (uint8_t)c;
    }
    if (json_object_get(o, "role") != NULL) {
        if ((e = get_name(o, "role", "gov.role", &s, ei)) != CERTA_OK)
            return e;
        int r = certa_role_parse(s);
        if (r < 0)
            return jfail(ei, CERTA_E_BAD_ENUM, "gov.role", "unknown role \"%s\"", s);
        g->role = (uint8_t)r;
    }
    if (json_object_get(o, "param") != NULL) {
        if ((e = get_name(o, "param", "gov.param", &s, ei)) != CERTA_OK)
            return e;
        int p = certa_gov_param_parse(s);
        if (p < 0)
            return jfail(ei, CERTA_E_BAD_ENUM, "gov.param", "unknown parameter \"%s\"", s);
        g->param = (uint8_t)p;
    }
    if (json_object_get(o, "name") != NULL) {
        if ((e = get_name(o, "name", "gov.name", &s, ei)) != CERTA_OK)
            return e;
        if (strlen(s) >= CERTA_GOV_NAME_BYTES)
            return jfail(ei, CERTA_E_TOO_LONG, "gov.name", "at most %u bytes",
                         CERTA_GOV_NAME_BYTES - 1);
        memcpy(g->name, s, strlen(s));
    }
    uint64_t v = 0;
#define OPT_UINT(k, max, type, dst)                                                        \
    do {                                                                             \
        if (json_object_get(o, k) != NULL) {                                         \
            if ((e = get_uint(o, k, max, &v, ei)) != CERTA_OK)                       \
                return e;                                                            \
            dst = (type)v; /* get_uint checked max */                          \
        }                                                                            \
    } while (0)
    OPT_UINT("change_code", UINT8_MAX, uint8_t, g->change);
    OPT_UINT("role_code", UINT8_MAX, uint8_t, g->role);
    OPT_UINT("param_code", UINT8_MAX, uint8_t, g->param);
    OPT_UINT("integrator", UINT16_MAX, uint16_t, g->integrator);
    OPT_UINT("centre", UINT16_MAX, uint16_t, g->centre);
    OPT_UINT("counter", UINT16_MAX, uint16_t, g->counter);
    OPT_UINT("matter", UINT32_MAX, uint32_t, g->matter);
    OPT_UINT("value", (uint64_t)INT64_MAX, uint64_t, g->value);
    OPT_UINT("expires_ms", (uint64_t)INT64_MAX, uint64_t, g->expires_ms);
#undef OPT_UINT
    if (json_object_get(o, "pub") != NULL &&
        (e = get_hex(o, "pub", g->pub, CERTA_PUBKEY_BYTES, ei)) != CERTA_OK)
        return e;
    if (json_object_get(o, "proposal") != NULL &&
        (e = get_hex(o, "proposal", g->proposal, CERTA_HASH_BYTES, ei)) != CERTA_OK)
        return e;
    return CERTA_OK;
}

static json_t *gov_json(const certa_gov_body *g)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int rc = json_object_set_new(o, "op", json_string(g->op == CERTA_GOV_PROPOSE ? "propose"
                                                                                 : "approve"));
    if (g->op == CERTA_GOV_APPROVE) {
        rc |= set_hex(o, "proposal", g->proposal, CERTA_HASH_BYTES);
    } else {
        const char *c = certa_gov_change_name(g->change);
        rc |= c != NULL ? json_object_set_new(o, "change", json_string(c))
                        : json_object_set_new(o, "change_code", json_integer(g->change));
        if (g->integrator)
            rc |= json_object_set_new(o, "integrator", json_integer(g->integrator));
        if (g->centre)
            rc |= json_object_set_new(o, "centre", json_integer(g->centre));
        if (g->counter)
            rc |= json_object_set_new(o, "counter", json_integer(g->counter));
        if (g->matter)
            rc |= json_object_set_new(o, "matter", json_integer(g->matter));
        /* codes without a name keep their number, so every decodable
         * event survives the JSON form (the rules reject them later) */
        if (g->role && certa_role_name(g->role) != NULL)
            rc |= json_object_set_new(o, "role", json_string(certa_role_name(g->role)));
        else if (g->role)
            rc |= json_object_set_new(o, "role_code", json_integer(g->role));
        if (g->param && certa_gov_param_name(g->param) != NULL)
            rc |= json_object_set_new(o, "param", json_string(certa_gov_param_name(g->param)));
        else if (g->param)
            rc |= json_object_set_new(o, "param_code", json_integer(g->param));
        if (g->value)
            rc |= json_object_set_new(o, "value", json_integer((json_int_t)g->value));
        rc |= json_object_set_new(o, "expires_ms", json_integer((json_int_t)g->expires_ms));
        bool has_pub = false;
        for (unsigned i = 0; i < CERTA_PUBKEY_BYTES; i++)
            has_pub |= g->pub[i] != 0;
        if (has_pub)
            rc |= set_hex(o, "pub", g->pub, CERTA_PUBKEY_BYTES);
        if (g->name[0] != '\0')
            rc |= json_object_set_new(o, "name", json_string(g->name));
    }
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static certa_err parse_fields(const json_t *obj, certa_event *ev, certa_errinfo *ei)
{
    certa_err e;
#define TRY(x)                                                                     \
    do {                                                                           \
        if ((e = (x)) != CERTA_OK)                                                 \
            return e;                                                              \
    } while (0)
    TRY(get_hex(obj, "grant_id", ev->grant_id, CERTA_GRANT_ID_BYTES, ei));
    switch (ev->kind) {
    case CERTA_EV_GRANT: {
        TRY(get_hex(obj, "holder_id", ev->holder_id, CERTA_HOLDER_ID_BYTES, ei));
        TRY(parse_licence_types(obj, &ev->licence_types, ei));
        TRY(get_u16(obj, "centre", &ev->centre, ei));
        TRY(get_u16(obj, "counter", &ev->counter, ei));
        TRY(get_u32(obj, "matter", &ev->matter, ei));
        TRY(get_uint(obj, "not_before_ms", (uint64_t)INT64_MAX, &ev->not_before_ms, ei));
        TRY(get_uint(obj, "not_after_ms", (uint64_t)INT64_MAX, &ev->not_after_ms, ei));
        TRY(get_u16(obj, "max_uses", &ev->max_uses, ei));
        const char *m;
        TRY(get_name(obj, "method", "method", &m, ei));
        int method = certa_method_parse(m);
        if (method < 0)
            return jfail(ei, CERTA_E_BAD_ENUM, "method",
                         "unknown method \"%s\" (code, qr or direct)", m);
        ev->method = (uint8_t)method;
        const json_t *cc = json_object_get(obj, "code_commit");
        if (method == CERTA_METHOD_DIRECT) {
            if (cc != NULL)
                return jfail(ei, CERTA_E_BAD_FIELD, "code_commit",
                             "not used with method direct");
        } else {
            if (cc == NULL)
                return jfail(ei, CERTA_E_JSON, "code_commit", "missing (method %s needs it)", m);
            TRY(hex_value(cc, "code_commit", ev->code_commit, CERTA_HASH_BYTES, ei));
        }
        break;
    }
    case CERTA_EV_REDEEM: {
        TRY(get_u16(obj, "centre", &ev->centre, ei));
        TRY(get_u16(obj, "counter", &ev->counter, ei));
        TRY(get_u32(obj, "matter", &ev->matter, ei));
        const json_t *c = json_object_get(obj, "code");
        if (c != NULL) {
            const char *s = json_is_string(c) ? json_string_value(c) : NULL;
            bool ok = s != NULL && json_string_length(c) == CERTA_CODE_DIGITS;
            for (size_t i = 0; ok && i < CERTA_CODE_DIGITS; i++)
                ok = s[i] >= '0' && s[i] <= '9';
            if (!ok)
                return jfail(ei, s != NULL ? CERTA_E_BAD_FIELD : CERTA_E_JSON, "code",
                             "expected a string of 8 digits");
            memcpy(ev->code, s, CERTA_CODE_DIGITS);
        }
        /* sealed (rules 2): the proof instead of code and salt */
        const json_t *pf = json_object_get(obj, "code_proof");
        if (pf != NULL) {
            TRY(hex_value(pf, "code_proof", ev->code_proof, CERTA_HASH_BYTES, ei));
            static const uint8_t zero[CERTA_HASH_BYTES];
            if (memcmp(ev->code_proof, zero, sizeof zero) == 0)
                return jfail(ei, CERTA_E_BAD_FIELD, "code_proof", "all zero");
            if (c != NULL || json_object_get(obj, "salt") != NULL)
                return jfail(ei, CERTA_E_BAD_FIELD, "code_proof",
                             "a sealed redeem carries no code and no salt");
        } else {
            TRY(get_hex(obj, "salt", ev->salt, CERTA_SALT_BYTES, ei));
        }
        TRY(parse_licences(obj, ev, ei));
        break;
    }
    case CERTA_EV_CONFIRM:
    case CERTA_EV_SIGN:
    case CERTA_EV_PHOTO:
        TRY(get_u16(obj, "centre", &ev->centre, ei));
        TRY(get_u16(obj, "counter", &ev->counter, ei));
        TRY(get_hex(obj, "evidence", ev->evidence, CERTA_HASH_BYTES, ei));
        /* optional: the redeem it documents (rules 2 require it) */
        if (json_object_get(obj, "redeem") != NULL)
            TRY(get_u16(obj, "redeem", &ev->redeem, ei));
        break;
    case CERTA_EV_REVOKE:
        TRY(get_hex(obj, "holder_id", ev->holder_id, CERTA_HOLDER_ID_BYTES, ei));
        break;
    case CERTA_EV_GOVERN:
        TRY(parse_gov(obj, &ev->gov, ei));
        break;
    default:
        CERTA_ASSERT(false); /* kind checked by the caller */
    }
#undef TRY
    return CERTA_OK;
}

certa_err certa_event_from_json(const json_t *obj, certa_event *ev, char *integrator,
                                certa_errinfo *ei)
{
    CERTA_ASSERT(ev != NULL);
    memset(ev, 0, sizeof *ev);
    if (integrator != NULL)
        integrator[0] = '\0';
    if (!json_is_object(obj))
        return certa_errorf(ei, CERTA_E_JSON, "expected a JSON object");

    const char *kname;
    certa_err e = get_name(obj, "kind", "kind", &kname, ei);
    if (e != CERTA_OK)
        return e;
    int kind = certa_event_kind_parse(kname);
    if (kind < 0)
        return jfail(ei, CERTA_E_BAD_KIND, "kind",
                     "unknown kind \"%s\" (grant, redeem, confirm, sign, photo, revoke, govern)", kname);
    ev->kind = (uint8_t)kind;

    unsigned allowed = kind_json_fields((unsigned)kind);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        unsigned bit = field_bit(key);
        if (bit == 0)
            return jfail(ei, CERTA_E_JSON, key, "unknown field");
        if (!(allowed & bit))
            return jfail(ei, CERTA_E_JSON, key, "not used by kind %s", kname);
    }

    const json_t *in = json_object_get(obj, "integrator");
    if (in != NULL) {
        if (integrator == NULL)
            return jfail(ei, CERTA_E_JSON, "integrator", "not accepted here");
        size_t n = json_is_string(in) ? json_string_length(in) : 0;
        if (n == 0 || n >= CERTA_EVENT_INTEGRATOR_BYTES ||
            strlen(json_string_value(in)) != n)
            return jfail(ei, CERTA_E_JSON, "integrator", "expected a name of 1..%u bytes",
                         CERTA_EVENT_INTEGRATOR_BYTES - 1);
        memcpy(integrator, json_string_value(in), n + 1);
    }

    if ((e = parse_fields(obj, ev, ei)) != CERTA_OK)
        return e;
    /* The value rules; messages name the field like ours do. */
    return certa_event_validate(ev, ei);
}

certa_err certa_event_parse_json(const char *text, size_t len, certa_event *ev,
                                 char *integrator, certa_errinfo *ei)
{
    CERTA_ASSERT(text != NULL || len == 0);
    json_error_t jerr;
    json_t *obj = json_loadb(text != NULL ? text : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL) {
        memset(ev, 0, sizeof *ev);
        return certa_errorf(ei, CERTA_E_JSON, "JSON syntax at column %d: %s", jerr.column,
                            jerr.text);
    }
    certa_err e = certa_event_from_json(obj, ev, integrator, ei);
    json_decref(obj);
    return e;
}

/* ---- event -> JSON ---- */

static int set_hex(json_t *o, const char *key, const uint8_t *b, size_t n)
{
    char hex[2 * CERTA_HASH_BYTES + 1];
    CERTA_ASSERT(n <= CERTA_HASH_BYTES);
    certa_hex_encode(b, n, hex);
    return json_object_set_new(o, key, json_string(hex));
}

static json_t *licence_type_json(unsigned t)
{
    const char *name = certa_licence_type_name(t);
    if (name != NULL)
        return json_string(name);
    char buf[16];
    snprintf(buf, sizeof buf, "type_%u", t);
    return json_string(buf);
}

json_t *certa_event_to_json(const certa_event *ev, const char *integrator)
{
    CERTA_ASSERT(ev != NULL);
    if (certa_event_validate(ev, NULL) != CERTA_OK)
        return NULL;
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int rc = 0;
    if (integrator != NULL)
        rc |= json_object_set_new(o, "integrator", json_string(integrator));
    rc |= json_object_set_new(o, "kind", json_string(certa_event_kind_name(ev->kind)));
    rc |= set_hex(o, "grant_id", ev->grant_id, CERTA_GRANT_ID_BYTES);
    switch (ev->kind) {
    case CERTA_EV_GRANT: {
        rc |= set_hex(o, "holder_id", ev->holder_id, CERTA_HOLDER_ID_BYTES);
        json_t *types = json_array();
        for (unsigned t = 0; types != NULL && t < CERTA_LICENCE_TYPES_MAX; t++)
            if (ev->licence_types & (1u << t))
                rc |= json_array_append_new(types, licence_type_json(t));
        rc |= json_object_set_new(o, "licence_types", types);
        rc |= json_object_set_new(o, "centre", json_integer(ev->centre));
        rc |= json_object_set_new(o, "counter", json_integer(ev->counter));
        rc |= json_object_set_new(o, "matter", json_integer(ev->matter));
        rc |= json_object_set_new(o, "not_before_ms", json_integer((json_int_t)ev->not_before_ms));
        rc |= json_object_set_new(o, "not_after_ms", json_integer((json_int_t)ev->not_after_ms));
        rc |= json_object_set_new(o, "max_uses", json_integer(ev->max_uses));
        rc |= json_object_set_new(o, "method", json_string(certa_method_name(ev->method)));
        if (ev->method != CERTA_METHOD_DIRECT)
            rc |= set_hex(o, "code_commit", ev->code_commit, CERTA_HASH_BYTES);
        break;
    }
    case CERTA_EV_REDEEM: {
        rc |= json_object_set_new(o, "centre", json_integer(ev->centre));
        rc |= json_object_set_new(o, "counter", json_integer(ev->counter));
        rc |= json_object_set_new(o, "matter", json_integer(ev->matter));
        if (ev->code[0] != '\0')
            rc |= json_object_set_new(o, "code", json_stringn(ev->code, CERTA_CODE_DIGITS));
        bool sealed = false;
        for (unsigned i = 0; i < CERTA_HASH_BYTES; i++)
            sealed |= ev->code_proof[i] != 0;
        if (!sealed)
            rc |= set_hex(o, "salt", ev->salt, CERTA_SALT_BYTES);
        json_t *arr = json_array();
        for (unsigned i = 0; arr != NULL && i < ev->licence_count; i++) {
            json_t *l = json_object();
            if (l == NULL) {
                rc = -1;
                break;
            }
            rc |= set_hex(l, "id", ev->licences[i].id, CERTA_LICENCE_ID_BYTES);
            rc |= json_object_set_new(l, "type", licence_type_json(ev->licences[i].type));
            rc |= set_hex(l, "digest", ev->licences[i].digest, CERTA_HASH_BYTES);
            rc |= json_array_append_new(arr, l);
        }
        rc |= json_object_set_new(o, "licences", arr);
        if (sealed)
            rc |= set_hex(o, "code_proof", ev->code_proof, CERTA_HASH_BYTES);
        break;
    }
    case CERTA_EV_CONFIRM:
    case CERTA_EV_SIGN:
    case CERTA_EV_PHOTO:
        rc |= json_object_set_new(o, "centre", json_integer(ev->centre));
        rc |= json_object_set_new(o, "counter", json_integer(ev->counter));
        rc |= set_hex(o, "evidence", ev->evidence, CERTA_HASH_BYTES);
        if (ev->redeem != 0)
            rc |= json_object_set_new(o, "redeem", json_integer(ev->redeem));
        break;
    case CERTA_EV_REVOKE:
        rc |= set_hex(o, "holder_id", ev->holder_id, CERTA_HOLDER_ID_BYTES);
        break;
    case CERTA_EV_GOVERN: {
        json_t *gj = gov_json(&ev->gov);
        rc |= gj != NULL ? json_object_set_new(o, "gov", gj) : -1;
        break;
    }
    default:
        CERTA_ASSERT(false); /* validated kind */
    }
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *certa_event_format_json(const certa_event *ev, const char *integrator)
{
    json_t *o = certa_event_to_json(ev, integrator);
    if (o == NULL)
        return NULL;
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}

/* ---- JSON Lines ---- */

struct certa_jsonl_reader {
    FILE *f;
    bool own;
    unsigned long line;
    char *name;
    char *buf; /* CERTA_JSONL_LINE_BYTES_MAX + 1 */
};

certa_err certa_jsonl_open_stream(FILE *f, const char *name, certa_jsonl_reader **out,
                                  certa_errinfo *ei)
{
    CERTA_ASSERT(f != NULL && name != NULL && out != NULL);
    *out = NULL;
    certa_jsonl_reader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "%s: no memory for the reader", name);
    r->name = strdup(name);
    r->buf = malloc(CERTA_JSONL_LINE_BYTES_MAX + 1);
    if (r->name == NULL || r->buf == NULL) {
        free(r->name);
        free(r->buf);
        free(r);
        return certa_errorf(ei, CERTA_E_NOMEM, "%s: no memory for the reader", name);
    }
    r->f = f;
    *out = r;
    return CERTA_OK;
}

certa_err certa_jsonl_open(const char *path, certa_jsonl_reader **out, certa_errinfo *ei)
{
    CERTA_ASSERT(path != NULL && out != NULL);
    *out = NULL;
    bool std = strcmp(path, "-") == 0;
    FILE *f = std ? stdin : fopen(path, "r");
    if (f == NULL)
        return certa_errorf(ei, CERTA_E_IO, "%s: %s", path, strerror(errno));
    certa_err e = certa_jsonl_open_stream(f, std ? "<stdin>" : path, out, ei);
    if (e != CERTA_OK) {
        if (!std)
            fclose(f);
        return e;
    }
    (*out)->own = !std;
    return CERTA_OK;
}

void certa_jsonl_close(certa_jsonl_reader *r)
{
    if (r == NULL)
        return;
    if (r->own)
        fclose(r->f);
    free(r->name);
    free(r->buf);
    free(r);
}

typedef enum { LINE_OK, LINE_EOF, LINE_TOO_LONG, LINE_NUL, LINE_IO } line_status;

/* Reads one line (without its newline) into r->buf; *len_out its length. */
static line_status read_line(certa_jsonl_reader *r, size_t *len_out)
{
    size_t n = 0;
    bool too_long = false, nul = false, any = false;
    int c;
    while ((c = getc_unlocked(r->f)) != EOF) {
        any = true;
        if (c == '\n')
            break;
        if (c == '\0')
            nul = true;
        if (n < CERTA_JSONL_LINE_BYTES_MAX)
            r->buf[n++] = (char)c;
        else
            too_long = true;
    }
    if (c == EOF && ferror(r->f))
        return LINE_IO;
    if (!any)
        return LINE_EOF;
    if (n > 0 && r->buf[n - 1] == '\r')
        n--;
    r->buf[n] = '\0';
    *len_out = n;
    if (too_long)
        return LINE_TOO_LONG;
    return nul ? LINE_NUL : LINE_OK;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static certa_err parse_tick(const json_t *obj, uint64_t *time_ms, certa_errinfo *ei)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        if (strcmp(key, "kind") != 0 && strcmp(key, "time_ms") != 0)
            return jfail(ei, CERTA_E_JSON, key, "unknown field (a tick has kind and time_ms)");
    }
    return get_uint(obj, "time_ms", (uint64_t)INT64_MAX, time_ms, ei);
}

certa_err certa_jsonl_next(certa_jsonl_reader *r, certa_jsonl_item *item, certa_errinfo *ei)
{
    CERTA_ASSERT(r != NULL && item != NULL);
    for (;;) {
        size_t n = 0;
        line_status st = read_line(r, &n);
        if (st == LINE_EOF)
            return CERTA_E_NOTFOUND;
        if (st == LINE_IO)
            return certa_errorf(ei, CERTA_E_IO, "%s:%lu: read error", r->name, r->line + 1);
        r->line++;
        if (st == LINE_TOO_LONG || st == LINE_NUL) {
            /* the line is consumed whole: the caller may report it (by its
             * number) and read on */
            memset(item, 0, sizeof *item);
            item->line = r->line;
            if (st == LINE_TOO_LONG)
                return certa_errorf(ei, CERTA_E_TOO_LONG, "%s:%lu: line longer than %u bytes",
                                    r->name, r->line, CERTA_JSONL_LINE_BYTES_MAX);
            return certa_errorf(ei, CERTA_E_JSON, "%s:%lu: NUL byte in line", r->name, r->line);
        }
        if (blank(r->buf, n))
            continue;

        memset(item, 0, sizeof *item);
        item->line = r->line;
        json_error_t jerr;
        json_t *obj = json_loadb(r->buf, n, JSON_REJECT_DUPLICATES, &jerr);
        if (obj == NULL)
            return certa_errorf(ei, CERTA_E_JSON, "%s:%lu: JSON syntax at column %d: %s",
                                r->name, r->line, jerr.column, jerr.text);
        certa_errinfo inner;
        certa_errinfo_clear(&inner);
        certa_err e;
        const json_t *k = json_is_object(obj) ? json_object_get(obj, "kind") : NULL;
        if (json_is_string(k) && strcmp(json_string_value(k), "tick") == 0) {
            item->kind = CERTA_JSONL_TICK;
            e = parse_tick(obj, &item->time_ms, &inner);
        } else {
            item->kind = CERTA_JSONL_EVENT;
            e = certa_event_from_json(obj, &item->event, item->integrator, &inner);
        }
        json_decref(obj);
        if (e != CERTA_OK)
            return certa_errorf(ei, e, "%s:%lu: %s", r->name, r->line, certa_errmsg(&inner));
        return CERTA_OK;
    }
}
