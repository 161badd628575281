/* codec: canonical binary form of events, batches, block headers and blocks.
 *
 * One rule for canonicality: the decoder accepts exactly the bytes the
 * encoder produces. Both go through event_check(), which holds every value
 * rule (non-zero scope ids, enums in range, code digits, commitment present
 * iff the method needs one); the decoder adds the framing rules (version,
 * reserved bytes, exact length). Decoded structs are zeroed first, so a field
 * a kind does not carry is always zero, which the encoder in turn requires.
 * Every read is bounds-checked against the caller's length before it happens;
 * nothing is allocated. Layouts: docs/PROTOCOL.md.
 */
#include "certa/codec.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "certa/crypto.h"
#include "certa/wire.h"

static const uint8_t zeros[CERTA_REDEEM_LICENCES_MAX * sizeof(certa_licence_ref)];

/* memcmp against zeros: vectorized by libc, which the encoder's
 * unused-field checks (up to 800 bytes per event) need. */
static bool all_zero(const void *p, size_t n)
{
    CERTA_ASSERT(n <= sizeof zeros);
    return memcmp(p, zeros, n) == 0;
}

/* ---- event layout (byte offsets; docs/PROTOCOL.md has the tables) ---- */

enum {
    OFF_VERSION = 0,
    OFF_KIND = 1,
    OFF_FLAGS = 2,
    OFF_GRANT_ID = 4,
    EV_COMMON_BYTES = 20,

    G_HOLDER = 20,
    G_TYPES = 52,
    G_CENTRE = 56,
    G_COUNTER = 58,
    G_MATTER = 60,
    G_NOT_BEFORE = 64,
    G_NOT_AFTER = 72,
    G_MAX_USES = 80,
    G_METHOD = 82,
    G_RESERVED = 83,
    G_COMMIT = 84,
    G_BYTES = 116,

    R_CENTRE = 20,
    R_COUNTER = 22,
    R_MATTER = 24,
    R_CODE = 28,
    R_SALT = 36,
    R_COUNT = 52,
    R_RESERVED = 53, /* flags: R_FLAG_SEALED, else 0 */
    R_LICENCES = 54,
    R_FLAG_SEALED = 1, /* code and salt zero; the proof follows the licences */
    R_PROOF_BYTES = 32,
    R_LIC_ID = 0,
    R_LIC_TYPE = 16,
    R_LIC_DIGEST = 17,
    R_LIC_BYTES = 49,

    E_CENTRE = 20,
    E_COUNTER = 22,
    E_EVIDENCE = 24,
    E_BYTES = 56,
    /* the bound form: the redeem it documents follows */
    E_REDEEM = 56,
    E_RESERVED = 58,
    E_BOUND_BYTES = 60,

    V_HOLDER = 20,
    V_BYTES = 52,

    GV_OP = 20,
    GV_CHANGE = 21,
    GV_ROLE = 22,
    GV_PARAM = 23,
    GV_INTEGRATOR = 24,
    GV_CENTRE = 26,
    GV_COUNTER = 28,
    GV_RESERVED = 30,
    GV_MATTER = 32,
    GV_VALUE = 36,
    GV_EXPIRES = 44,
    GV_PUB = 52,
    GV_NAME = 84,
    GV_PROPOSAL = 148,
    GV_BYTES = 180,
};

_Static_assert(R_LICENCES + CERTA_REDEEM_LICENCES_MAX * R_LIC_BYTES <= CERTA_EVENT_BYTES_MAX,
               "largest redeem must fit the event limit");
_Static_assert(sizeof(certa_gov_body) == 4 + 4 + 4 + 4 + 8 + 8 + CERTA_PUBKEY_BYTES +
                   CERTA_GOV_NAME_BYTES + CERTA_HASH_BYTES,
               "certa_gov_body has no padding");
_Static_assert(GV_BYTES == GV_PROPOSAL + CERTA_HASH_BYTES, "govern event layout");
_Static_assert(GV_BYTES - GV_OP == sizeof(certa_gov_body), "the wire is the struct's order");
_Static_assert(CERTA_BATCH_HEADER_BYTES == 24, "batch header layout is 24 bytes");
_Static_assert(CERTA_HEADER_BYTES == 4 + 1 + 1 + 2 + 8 + 8 + 8 + 4 + 4 + 4 * CERTA_HASH_BYTES,
               "block header layout");

_Static_assert(sizeof(certa_licence_ref) == CERTA_LICENCE_ID_BYTES + 1 + CERTA_HASH_BYTES,
               "certa_licence_ref has no padding");

#define NO_OFFSET ((size_t)-1)

/* Fails with a message naming the field and, when decoding, its byte offset. */
__attribute__((format(printf, 5, 6))) static certa_err
field_fail(certa_errinfo *ei, certa_err code, const char *field, size_t off,
           const char *fmt, ...)
{
    if (ei == NULL)
        return code;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (off == NO_OFFSET)
        return certa_errorf(ei, code, "field \"%s\": %s", field, what);
    return certa_errorf(ei, code, "field \"%s\" at byte %zu: %s", field, off, what);
}

/* ---- names ---- */

static const char *const kind_names[] = {
    NULL, "grant", "redeem", "confirm", "sign", "photo", "revoke", "govern",
};
static const char *const licence_names[CERTA_LT_KNOWN_COUNT] = {
    "id_card",          "household_register",   "residence_permit",
    "driving_licence",  "marriage_certificate", "divorce_certificate",
    "business_licence",
};
static const char *const method_names[CERTA_METHOD_COUNT] = {"code", "qr", "direct"};

const char *certa_event_kind_name(unsigned kind)
{
    if (kind < CERTA_EV_GRANT || kind > CERTA_EV_GOVERN)
        return NULL;
    return kind_names[kind];
}

int certa_event_kind_parse(const char *name)
{
    if (name == NULL)
        return -1;
    for (unsigned k = CERTA_EV_GRANT; k <= CERTA_EV_GOVERN; k++)
        if (strcmp(name, kind_names[k]) == 0)
            return (int)k;
    return -1;
}

const char *certa_licence_type_name(unsigned type)
{
    if (type >= CERTA_LT_KNOWN_COUNT)
        return NULL;
    return licence_names[type];
}

/* Known names, plus "type_N" (N < 32, no leading zeros) for the types a
 * later catalogue adds, so that every encodable type has a JSON spelling. */
int certa_licence_type_parse(const char *name)
{
    if (name == NULL)
        return -1;
    for (unsigned t = 0; t < CERTA_LT_KNOWN_COUNT; t++)
        if (strcmp(name, licence_names[t]) == 0)
            return (int)t;
    if (strncmp(name, "type_", 5) == 0) {
        const char *d = name + 5;
        size_t n = strlen(d);
        if (n < 1 || n > 2 || (n == 2 && d[0] == '0'))
            return -1;
        int v = 0;
        for (size_t i = 0; i < n; i++) {
            if (d[i] < '0' || d[i] > '9')
                return -1;
            v = v * 10 + (d[i] - '0');
        }
        if (v >= (int)CERTA_LT_KNOWN_COUNT && v < (int)CERTA_LICENCE_TYPES_MAX)
            return v;
    }
    return -1;
}

const char *certa_method_name(unsigned method)
{
    if (method >= CERTA_METHOD_COUNT)
        return NULL;
    return method_names[method];
}

int certa_method_parse(const char *name)
{
    if (name == NULL)
        return -1;
    for (unsigned m = 0; m < CERTA_METHOD_COUNT; m++)
        if (strcmp(name, method_names[m]) == 0)
            return (int)m;
    return -1;
}

/* ---- event value rules (shared by encoder, decoder and JSON) ---- */

static size_t off_or_none(bool with_off, size_t off)
{
    return with_off ? off : NO_OFFSET;
}

#define OFF(o) off_or_none(with_off, (size_t)(o))

static bool code_is_absent(const char code[CERTA_CODE_DIGITS])
{
    return all_zero(code, CERTA_CODE_DIGITS);
}

static bool code_is_digits(const char code[CERTA_CODE_DIGITS])
{
    for (int i = 0; i < CERTA_CODE_DIGITS; i++)
        if (code[i] < '0' || code[i] > '9')
            return false;
    return true;
}

/* The framing rules of a GOVERN body: a known op; the name printable
 * ASCII, NUL-padded (nothing after its first NUL, the last byte NUL); an approve carries the
 * proposal digest and nothing else, a propose everything but it. */
static certa_err gov_check(const certa_gov_body *g, bool with_off, certa_errinfo *ei)
{
    if (g->reserved != 0)
        return field_fail(ei, CERTA_E_RESERVED, "reserved", OFF(GV_RESERVED),
                          "reserved bytes are 0x%04x", g->reserved);
    if (g->op != CERTA_GOV_PROPOSE && g->op != CERTA_GOV_APPROVE)
        return field_fail(ei, CERTA_E_BAD_ENUM, "op", OFF(GV_OP),
                          "value %u is not propose(1) or approve(2)", g->op);
    size_t n = strnlen(g->name, CERTA_GOV_NAME_BYTES);
    if (n == CERTA_GOV_NAME_BYTES || !all_zero(g->name + n, CERTA_GOV_NAME_BYTES - n))
        return field_fail(ei, CERTA_E_BAD_FIELD, "name", OFF(GV_NAME),
                          "must be at most %u bytes, NUL-padded", CERTA_GOV_NAME_BYTES - 1);
    /* printable ASCII: every decodable event has a JSON form */
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)g->name[i] < 0x20 || (uint8_t)g->name[i] > 0x7e)
            return field_fail(ei, CERTA_E_BAD_FIELD, "name", OFF(GV_NAME + i),
                              "byte 0x%02x is not printable ASCII", (uint8_t)g->name[i]);
    if (g->op == CERTA_GOV_APPROVE) {
        /* the struct has no padding: everything before the digest is
         * op followed by zeros */
        if (!all_zero((const uint8_t *)g + 1, offsetof(certa_gov_body, proposal) - 1))
            return field_fail(ei, CERTA_E_BAD_FIELD, "approve", OFF(GV_CHANGE),
                              "an approve carries only the proposal digest");
        if (all_zero(g->proposal, CERTA_HASH_BYTES))
            return field_fail(ei, CERTA_E_BAD_FIELD, "proposal", OFF(GV_PROPOSAL),
                              "required (non-zero) for approve");
        return CERTA_OK;
    }
    if (!all_zero(g->proposal, CERTA_HASH_BYTES))
        return field_fail(ei, CERTA_E_BAD_FIELD, "proposal", OFF(GV_PROPOSAL),
                          "must be zero for propose");
    if (g->expires_ms == 0 || g->expires_ms > (uint64_t)INT64_MAX)
        return field_fail(ei, CERTA_E_BAD_FIELD, "expires_ms", OFF(GV_EXPIRES),
                          "must be in 1 .. 2^63-1");
    if (g->value > (uint64_t)INT64_MAX) /* JSON holds it */
        return field_fail(ei, CERTA_E_BAD_FIELD, "value", OFF(GV_VALUE),
                          "must be at most 2^63-1");
    return CERTA_OK;
}

/* The value rules of one event. with_off: name byte offsets (decoding). */
static certa_err event_check(const certa_event *ev, bool with_off, certa_errinfo *ei)
{
    switch (ev->kind) {
    case CERTA_EV_GRANT:
        if (ev->licence_types == 0)
            return field_fail(ei, CERTA_E_BAD_FIELD, "licence_types", OFF(G_TYPES),
                              "must name at least one licence type");
        if (ev->centre == 0)
            return field_fail(ei, CERTA_E_BAD_FIELD, "centre", OFF(G_CENTRE), "must be >= 1");
        if (ev->matter == 0)
            return field_fail(ei, CERTA_E_BAD_FIELD, "matter", OFF(G_MATTER), "must be >= 1");
        if (ev->not_before_ms > (uint64_t)INT64_MAX)
            return field_fail(ei, CERTA_E_BAD_FIELD, "not_before_ms", OFF(G_NOT_BEFORE),
                              "must be <= 2^63-1");
        if (ev->not_after_ms > (uint64_t)INT64_MAX)
            return field_fail(ei, CERTA_E_BAD_FIELD, "not_after_ms", OFF(G_NOT_AFTER),
                              "must be <= 2^63-1");
        if (ev->max_uses == 0)
            return field_fail(ei, CERTA_E_BAD_FIELD, "max_uses", OFF(G_MAX_USES), "must be >= 1");
        if (ev->method >= CERTA_METHOD_COUNT)
            return field_fail(ei, CERTA_E_BAD_ENUM, "method", OFF(G_METHOD),
                              "value %u is not code(0), qr(1) or direct(2)", ev->method);
        if (ev->method == CERTA_METHOD_DIRECT && !all_zero(ev->code_commit, CERTA_HASH_BYTES))
            return field_fail(ei, CERTA_E_BAD_FIELD, "code_commit", OFF(G_COMMIT),
                              "must be all zero for method direct");
        if (ev->method != CERTA_METHOD_DIRECT && all_zero(ev->code_commit, CERTA_HASH_BYTES))
            return field_fail(ei, CERTA_E_BAD_FIELD, "code_commit", OFF(G_COMMIT),
                              "required (non-zero) for method %s", method_names[ev->method]);
        return CERTA_OK;
    case CERTA_EV_REDEEM:
        if (ev->counter == 0)
            return field_fail(ei, CERTA_E_BAD_FIELD, "counter", OFF(R_COUNTER), "must be >= 1");
        if (!code_is_absent(ev->code) && !code_is_digits(ev->code))
            return field_fail(ei, CERTA_E_BAD_FIELD, "code", OFF(R_CODE),
                              "must be 8 ASCII digits or 8 zero bytes");
        /* sealed: the proof stands for code and salt, which stay with the
         * holder and the counter */
        if (!all_zero(ev->code_proof, sizeof ev->code_proof) &&
            (!code_is_absent(ev->code) || !all_zero(ev->salt, sizeof ev->salt)))
            return field_fail(ei, CERTA_E_BAD_FIELD, "code_proof", NO_OFFSET,
                              "a sealed redeem carries no code and no salt");
        if (ev->licence_count == 0)
            return field_fail(ei, CERTA_E_BAD_FIELD, "licences", OFF(R_COUNT),
                              "must list at least one licence");
        if (ev->licence_count > CERTA_REDEEM_LICENCES_MAX)
            return field_fail(ei, CERTA_E_TOO_LONG, "licences", OFF(R_COUNT),
                              "%u licences, limit %u", ev->licence_count,
                              CERTA_REDEEM_LICENCES_MAX);
        for (unsigned i = 0; i < ev->licence_count; i++) {
            if (ev->licences[i].type >= CERTA_LICENCE_TYPES_MAX) {
                char name[40];
                snprintf(name, sizeof name, "licences[%u].type", i);
                return field_fail(ei, CERTA_E_BAD_ENUM, name,
                                  OFF(R_LICENCES + i * R_LIC_BYTES + R_LIC_TYPE),
                                  "value %u, limit %u", ev->licences[i].type,
                                  CERTA_LICENCE_TYPES_MAX - 1);
            }
        }
        return CERTA_OK;
    case CERTA_EV_CONFIRM:
    case CERTA_EV_SIGN:
    case CERTA_EV_PHOTO:
    case CERTA_EV_REVOKE:
        return CERTA_OK;
    case CERTA_EV_GOVERN:
        return gov_check(&ev->gov, with_off, ei);
    default:
        return field_fail(ei, CERTA_E_BAD_KIND, "kind", OFF(OFF_KIND), "unknown kind %u",
                          ev->kind);
    }
}

/* Which optional fields a kind carries. */
enum {
    F_HOLDER = 1 << 0,
    F_CENTRE = 1 << 1,
    F_COUNTER = 1 << 2,
    F_MATTER = 1 << 3,
    F_GRANT = 1 << 4, /* licence_types, window, max_uses, method, code_commit */
    F_REDEEM = 1 << 5, /* code, salt, licences */
    F_EVIDENCE = 1 << 6,
    F_GOV = 1 << 7,
};

static unsigned kind_fields(unsigned kind)
{
    switch (kind) {
    case CERTA_EV_GRANT: return F_HOLDER | F_CENTRE | F_COUNTER | F_MATTER | F_GRANT;
    case CERTA_EV_REDEEM: return F_CENTRE | F_COUNTER | F_MATTER | F_REDEEM;
    case CERTA_EV_CONFIRM:
    case CERTA_EV_SIGN:
    case CERTA_EV_PHOTO: return F_CENTRE | F_COUNTER | F_EVIDENCE;
    case CERTA_EV_REVOKE: return F_HOLDER;
    case CERTA_EV_GOVERN: return F_GOV;
    default: return 0;
    }
}

/* The encoder's extra rule: fields the kind does not carry are zero, so
 * that decode(encode(ev)) == ev for every encodable ev. */
static certa_err event_check_unused(const certa_event *ev, certa_errinfo *ei)
{
    unsigned f = kind_fields(ev->kind);
    const char *k = kind_names[ev->kind];
#define UNUSED(cond, name)                                                          \
    do {                                                                           \
        if (cond)                                                                  \
            return field_fail(ei, CERTA_E_BAD_FIELD, name, NO_OFFSET,              \
                              "not used by kind %s: must be zero", k);             \
    } while (0)
    UNUSED(!(f & F_HOLDER) && !all_zero(ev->holder_id, sizeof ev->holder_id), "holder_id");
    UNUSED(!(f & F_CENTRE) && ev->centre != 0, "centre");
    UNUSED(!(f & F_COUNTER) && ev->counter != 0, "counter");
    UNUSED(!(f & F_MATTER) && ev->matter != 0, "matter");
    if (!(f & F_GRANT)) {
        UNUSED(ev->licence_types != 0, "licence_types");
        UNUSED(ev->not_before_ms != 0, "not_before_ms");
        UNUSED(ev->not_after_ms != 0, "not_after_ms");
        UNUSED(ev->max_uses != 0, "max_uses");
        UNUSED(ev->method != 0, "method");
        UNUSED(!all_zero(ev->code_commit, sizeof ev->code_commit), "code_commit");
    }
    if (!(f & F_REDEEM)) {
        UNUSED(!all_zero(ev->code, sizeof ev->code), "code");
        UNUSED(!all_zero(ev->salt, sizeof ev->salt), "salt");
        UNUSED(ev->licence_count != 0, "licences");
        UNUSED(!all_zero(ev->code_proof, sizeof ev->code_proof), "code_proof");
    }
    UNUSED(!(f & F_EVIDENCE) && !all_zero(ev->evidence, sizeof ev->evidence), "evidence");
    UNUSED(!(f & F_EVIDENCE) && ev->redeem != 0, "redeem");
    UNUSED(!(f & F_GOV) && !all_zero(&ev->gov, sizeof ev->gov), "gov");
    /* Licence slots past licence_count (<= max, checked): one byte run,
     * as certa_licence_ref has no padding. */
    size_t unused_slots = CERTA_REDEEM_LICENCES_MAX - ev->licence_count;
    UNUSED(!all_zero(&ev->licences[ev->licence_count], unused_slots * sizeof(certa_licence_ref)),
           "licences (slots past licence_count)");
#undef UNUSED
    return CERTA_OK;
}

static void gov_encode(const certa_gov_body *g, uint8_t *out)
{
    out[GV_OP] = g->op;
    out[GV_CHANGE] = g->change;
    certa_put_le16(out + GV_INTEGRATOR, g->integrator);
    certa_put_le16(out + GV_CENTRE, g->centre);
    certa_put_le16(out + GV_COUNTER, g->counter);
    out[GV_ROLE] = g->role;
    out[GV_PARAM] = g->param;
    certa_put_le16(out + GV_RESERVED, 0);
    certa_put_le32(out + GV_MATTER, g->matter);
    certa_put_le64(out + GV_VALUE, g->value);
    certa_put_le64(out + GV_EXPIRES, g->expires_ms);
    memcpy(out + GV_PUB, g->pub, CERTA_PUBKEY_BYTES);
    memcpy(out + GV_NAME, g->name, CERTA_GOV_NAME_BYTES);
    memcpy(out + GV_PROPOSAL, g->proposal, CERTA_HASH_BYTES);
}

static void gov_decode(const uint8_t *in, certa_gov_body *g)
{
    g->op = in[GV_OP];
    g->change = in[GV_CHANGE];
    g->integrator = certa_get_le16(in + GV_INTEGRATOR);
    g->centre = certa_get_le16(in + GV_CENTRE);
    g->counter = certa_get_le16(in + GV_COUNTER);
    g->role = in[GV_ROLE];
    g->param = in[GV_PARAM];
    g->matter = certa_get_le32(in + GV_MATTER);
    g->value = certa_get_le64(in + GV_VALUE);
    g->expires_ms = certa_get_le64(in + GV_EXPIRES);
    memcpy(g->pub, in + GV_PUB, CERTA_PUBKEY_BYTES);
    memcpy(g->name, in + GV_NAME, CERTA_GOV_NAME_BYTES);
    memcpy(g->proposal, in + GV_PROPOSAL, CERTA_HASH_BYTES);
}

static size_t event_size(const certa_event *ev)
{
    switch (ev->kind) {
    case CERTA_EV_GRANT: return G_BYTES;
    case CERTA_EV_REDEEM:
        return R_LICENCES + (size_t)ev->licence_count * R_LIC_BYTES +
               (all_zero(ev->code_proof, sizeof ev->code_proof) ? 0 : R_PROOF_BYTES);
    case CERTA_EV_CONFIRM:
    case CERTA_EV_SIGN:
    case CERTA_EV_PHOTO: return ev->redeem != 0 ? E_BOUND_BYTES : E_BYTES;
    case CERTA_EV_REVOKE: return V_BYTES;
    case CERTA_EV_GOVERN: return GV_BYTES;
    default: return 0;
    }
}

certa_err certa_event_encode(const certa_event *ev, uint8_t *out, size_t cap,
                             size_t *len_out, certa_errinfo *ei)
{
    CERTA_ASSERT(ev != NULL && len_out != NULL);
    *len_out = 0;
    certa_err e = event_check(ev, false, ei);
    if (e != CERTA_OK)
        return e;
    if ((e = event_check_unused(ev, ei)) != CERTA_OK)
        return e;
    size_t need = event_size(ev);
    CERTA_ASSERT(need >= EV_COMMON_BYTES && need <= CERTA_EVENT_BYTES_MAX);
    if (out == NULL || cap < need)
        return certa_errorf(ei, CERTA_E_LIMIT, "event needs %zu bytes, buffer has %zu",
                            need, cap);

    memset(out, 0, need);
    out[OFF_VERSION] = CERTA_CODEC_VERSION;
    out[OFF_KIND] = ev->kind;
    certa_put_le16(out + OFF_FLAGS, 0);
    memcpy(out + OFF_GRANT_ID, ev->grant_id, CERTA_GRANT_ID_BYTES);
    switch (ev->kind) {
    case CERTA_EV_GRANT:
        memcpy(out + G_HOLDER, ev->holder_id, CERTA_HOLDER_ID_BYTES);
        certa_put_le32(out + G_TYPES, ev->licence_types);
        certa_put_le16(out + G_CENTRE, ev->centre);
        certa_put_le16(out + G_COUNTER, ev->counter);
        certa_put_le32(out + G_MATTER, ev->matter);
        certa_put_le64(out + G_NOT_BEFORE, ev->not_before_ms);
        certa_put_le64(out + G_NOT_AFTER, ev->not_after_ms);
        certa_put_le16(out + G_MAX_USES, ev->max_uses);
        out[G_METHOD] = ev->method;
        out[G_RESERVED] = 0;
        memcpy(out + G_COMMIT, ev->code_commit, CERTA_HASH_BYTES);
        break;
    case CERTA_EV_REDEEM:
        certa_put_le16(out + R_CENTRE, ev->centre);
        certa_put_le16(out + R_COUNTER, ev->counter);
        certa_put_le32(out + R_MATTER, ev->matter);
        memcpy(out + R_CODE, ev->code, CERTA_CODE_DIGITS);
        memcpy(out + R_SALT, ev->salt, CERTA_SALT_BYTES);
        out[R_COUNT] = ev->licence_count;
        bool sealed = !all_zero(ev->code_proof, sizeof ev->code_proof);
        out[R_RESERVED] = sealed ? R_FLAG_SEALED : 0;
        for (unsigned i = 0; i < ev->licence_count; i++) {
            uint8_t *p = out + R_LICENCES + i * R_LIC_BYTES;
            memcpy(p + R_LIC_ID, ev->licences[i].id, CERTA_LICENCE_ID_BYTES);
            p[R_LIC_TYPE] = ev->licences[i].type;
            memcpy(p + R_LIC_DIGEST, ev->licences[i].digest, CERTA_HASH_BYTES);
        }
        if (sealed)
            memcpy(out + R_LICENCES + ev->licence_count * R_LIC_BYTES, ev->code_proof,
                   R_PROOF_BYTES);
        break;
    case CERTA_EV_CONFIRM:
    case CERTA_EV_SIGN:
    case CERTA_EV_PHOTO:
        certa_put_le16(out + E_CENTRE, ev->centre);
        certa_put_le16(out + E_COUNTER, ev->counter);
        memcpy(out + E_EVIDENCE, ev->evidence, CERTA_HASH_BYTES);
        if (ev->redeem != 0)
            certa_put_le16(out + E_REDEEM, ev->redeem); /* E_RESERVED stays 0 */
        break;
    case CERTA_EV_REVOKE:
        memcpy(out + V_HOLDER, ev->holder_id, CERTA_HOLDER_ID_BYTES);
        break;
    case CERTA_EV_GOVERN:
        gov_encode(&ev->gov, out);
        break;
    default:
        CERTA_ASSERT(false); /* event_check let an unknown kind through */
    }
    *len_out = need;
    return CERTA_OK;
}

static certa_err want_exact(size_t len, size_t need, const char *what, certa_errinfo *ei)
{
    if (len < need)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "%s: needs %zu bytes, input has %zu",
                            what, need, len);
    if (len > need)
        return certa_errorf(ei, CERTA_E_TRAILING, "%s: %zu trailing bytes at byte %zu",
                            what, len - need, need);
    return CERTA_OK;
}

certa_err certa_event_decode(const uint8_t *in, size_t len, certa_event *ev,
                             certa_errinfo *ei)
{
    CERTA_ASSERT(ev != NULL);
    CERTA_ASSERT(in != NULL || len == 0);
    memset(ev, 0, sizeof *ev);
    if (len > CERTA_EVENT_BYTES_MAX)
        return certa_errorf(ei, CERTA_E_TOO_LONG, "event of %zu bytes, limit %u", len,
                            CERTA_EVENT_BYTES_MAX);
    if (len < EV_COMMON_BYTES)
        return certa_errorf(ei, CERTA_E_TRUNCATED,
                            "event: needs at least %d bytes, input has %zu",
                            EV_COMMON_BYTES, len);
    if (in[OFF_VERSION] != CERTA_CODEC_VERSION)
        return field_fail(ei, CERTA_E_BAD_VERSION, "version", OFF_VERSION,
                          "version %u, expected %u", in[OFF_VERSION], CERTA_CODEC_VERSION);
    unsigned kind = in[OFF_KIND];
    if (certa_event_kind_name(kind) == NULL)
        return field_fail(ei, CERTA_E_BAD_KIND, "kind", OFF_KIND, "unknown kind %u", kind);
    if (certa_get_le16(in + OFF_FLAGS) != 0)
        return field_fail(ei, CERTA_E_RESERVED, "flags", OFF_FLAGS, "reserved flags 0x%04x set",
                          certa_get_le16(in + OFF_FLAGS));
    ev->kind = (uint8_t)kind;
    memcpy(ev->grant_id, in + OFF_GRANT_ID, CERTA_GRANT_ID_BYTES);

    certa_err e;
    switch (kind) {
    case CERTA_EV_GRANT:
        if ((e = want_exact(len, G_BYTES, "grant event", ei)) != CERTA_OK)
            return e;
        if (in[G_RESERVED] != 0)
            return field_fail(ei, CERTA_E_RESERVED, "reserved", G_RESERVED,
                              "reserved byte is 0x%02x", in[G_RESERVED]);
        memcpy(ev->holder_id, in + G_HOLDER, CERTA_HOLDER_ID_BYTES);
        ev->licence_types = certa_get_le32(in + G_TYPES);
        ev->centre = certa_get_le16(in + G_CENTRE);
        ev->counter = certa_get_le16(in + G_COUNTER);
        ev->matter = certa_get_le32(in + G_MATTER);
        ev->not_before_ms = certa_get_le64(in + G_NOT_BEFORE);
        ev->not_after_ms = certa_get_le64(in + G_NOT_AFTER);
        ev->max_uses = certa_get_le16(in + G_MAX_USES);
        ev->method = in[G_METHOD];
        memcpy(ev->code_commit, in + G_COMMIT, CERTA_HASH_BYTES);
        break;
    case CERTA_EV_REDEEM: {
        if (len < R_LICENCES)
            return certa_errorf(ei, CERTA_E_TRUNCATED,
                                "redeem event: needs at least %d bytes, input has %zu",
                                R_LICENCES, len);
        unsigned count = in[R_COUNT];
        if (count == 0)
            return field_fail(ei, CERTA_E_BAD_FIELD, "licences", R_COUNT,
                              "must list at least one licence");
        if (count > CERTA_REDEEM_LICENCES_MAX)
            return field_fail(ei, CERTA_E_TOO_LONG, "licences", R_COUNT,
                              "%u licences, limit %u", count, CERTA_REDEEM_LICENCES_MAX);
        if (in[R_RESERVED] != 0 && in[R_RESERVED] != R_FLAG_SEALED)
            return field_fail(ei, CERTA_E_RESERVED, "flags", R_RESERVED,
                              "redeem flags 0x%02x (only 0x01, sealed, is defined)",
                              in[R_RESERVED]);
        bool sealed = in[R_RESERVED] == R_FLAG_SEALED;
        size_t body = R_LICENCES + count * R_LIC_BYTES;
        if ((e = want_exact(len, body + (sealed ? R_PROOF_BYTES : 0), "redeem event", ei)) !=
            CERTA_OK)
            return e;
        if (sealed) {
            memcpy(ev->code_proof, in + body, R_PROOF_BYTES);
            if (all_zero(ev->code_proof, R_PROOF_BYTES))
                return field_fail(ei, CERTA_E_BAD_FIELD, "code_proof", body,
                                  "all zero in a sealed redeem");
            if (!all_zero(in + R_CODE, CERTA_CODE_DIGITS + CERTA_SALT_BYTES))
                return field_fail(ei, CERTA_E_BAD_FIELD, "code", R_CODE,
                                  "a sealed redeem carries no code and no salt");
        }
        ev->centre = certa_get_le16(in + R_CENTRE);
        ev->counter = certa_get_le16(in + R_COUNTER);
        ev->matter = certa_get_le32(in + R_MATTER);
        memcpy(ev->code, in + R_CODE, CERTA_CODE_DIGITS);
        memcpy(ev->salt, in + R_SALT, CERTA_SALT_BYTES);
        ev->licence_count = (uint8_t)count;
        for (unsigned i = 0; i < count; i++) {
            const uint8_t *p = in + R_LICENCES + i * R_LIC_BYTES;
            memcpy(ev->licences[i].id, p + R_LIC_ID, CERTA_LICENCE_ID_BYTES);
            ev->licences[i].type = p[R_LIC_TYPE];
            memcpy(ev->licences[i].digest, p + R_LIC_DIGEST, CERTA_HASH_BYTES);
        }
        break;
    }
    case CERTA_EV_CONFIRM:
    case CERTA_EV_SIGN:
    case CERTA_EV_PHOTO:
        /* two forms: 56 bytes names no redeem, 60 bytes names one */
        if (len != E_BOUND_BYTES && (e = want_exact(len, E_BYTES, kind_names[kind], ei)) != CERTA_OK)
            return e;
        ev->centre = certa_get_le16(in + E_CENTRE);
        ev->counter = certa_get_le16(in + E_COUNTER);
        memcpy(ev->evidence, in + E_EVIDENCE, CERTA_HASH_BYTES);
        if (len == E_BOUND_BYTES) {
            ev->redeem = certa_get_le16(in + E_REDEEM);
            if (ev->redeem == 0) /* one encoding per event: that is the short form */
                return field_fail(ei, CERTA_E_BAD_FIELD, "redeem", E_REDEEM,
                                  "0 in the 60-byte form (an event naming no redeem has 56 bytes)");
            if (certa_get_le16(in + E_RESERVED) != 0)
                return field_fail(ei, CERTA_E_RESERVED, "reserved", E_RESERVED,
                                  "reserved bytes are 0x%04x", certa_get_le16(in + E_RESERVED));
        }
        break;
    case CERTA_EV_REVOKE:
        if ((e = want_exact(len, V_BYTES, "revoke event", ei)) != CERTA_OK)
            return e;
        memcpy(ev->holder_id, in + V_HOLDER, CERTA_HOLDER_ID_BYTES);
        break;
    case CERTA_EV_GOVERN:
        if ((e = want_exact(len, GV_BYTES, "govern event", ei)) != CERTA_OK)
            return e;
        if (certa_get_le16(in + GV_RESERVED) != 0)
            return field_fail(ei, CERTA_E_RESERVED, "reserved", GV_RESERVED,
                              "reserved bytes are 0x%04x", certa_get_le16(in + GV_RESERVED));
        gov_decode(in, &ev->gov);
        break;
    default:
        CERTA_ASSERT(false); /* kind checked above */
    }
    return event_check(ev, true, ei);
}

void certa_code_commit(const uint8_t salt[CERTA_SALT_BYTES], const char code[CERTA_CODE_DIGITS],
                       uint8_t out[CERTA_HASH_BYTES])
{
    uint8_t buf[CERTA_SALT_BYTES + CERTA_CODE_DIGITS];
    memcpy(buf, salt, CERTA_SALT_BYTES);
    memcpy(buf + CERTA_SALT_BYTES, code, CERTA_CODE_DIGITS);
    certa_sha256(buf, sizeof buf, out);
}

void certa_code_proof(const uint8_t salt[CERTA_SALT_BYTES], const char code[CERTA_CODE_DIGITS],
                      uint8_t out[CERTA_HASH_BYTES])
{
    certa_code_commit(salt, code, out);
}

void certa_code_commit_sealed(const uint8_t salt[CERTA_SALT_BYTES],
                              const char code[CERTA_CODE_DIGITS], uint8_t out[CERTA_HASH_BYTES])
{
    uint8_t proof[CERTA_HASH_BYTES];
    certa_code_proof(salt, code, proof);
    certa_sha256(proof, sizeof proof, out);
}

certa_err certa_event_validate(const certa_event *ev, certa_errinfo *ei)
{
    CERTA_ASSERT(ev != NULL);
    certa_err e = event_check(ev, false, ei);
    if (e != CERTA_OK)
        return e;
    return event_check_unused(ev, ei);
}

/* ---- batches ---- */

enum {
    B_MAGIC = 0,
    B_VERSION = 4,
    B_FLAGS = 5,
    B_INTEGRATOR = 6,
    B_SEQ = 8,
    B_COUNT = 16,
    B_BODY_BYTES = 20,
};

/* Largest body that still leaves room for the header and the signature. */
#define BATCH_BODY_MAX                                                          \
    ((size_t)CERTA_BATCH_BYTES_MAX - CERTA_BATCH_HEADER_BYTES - CERTA_SIGNATURE_BYTES)

/* full: decode every event and compute the digest; otherwise framing only. */
static certa_err batch_parse(const uint8_t *in, size_t len, certa_batch_view *v,
                             bool full, certa_errinfo *ei)
{
    CERTA_ASSERT(v != NULL);
    CERTA_ASSERT(in != NULL || len == 0);
    memset(v, 0, sizeof *v);
    if (len < CERTA_BATCH_HEADER_BYTES)
        return certa_errorf(ei, CERTA_E_TRUNCATED,
                            "batch: header needs %u bytes, input has %zu",
                            CERTA_BATCH_HEADER_BYTES, len);
    if (certa_get_le32(in + B_MAGIC) != CERTA_BATCH_MAGIC)
        return field_fail(ei, CERTA_E_BAD_MAGIC, "batch magic", B_MAGIC, "0x%08x, expected 0x%08x",
                          certa_get_le32(in + B_MAGIC), CERTA_BATCH_MAGIC);
    if (in[B_VERSION] != CERTA_CODEC_VERSION)
        return field_fail(ei, CERTA_E_BAD_VERSION, "batch version", B_VERSION,
                          "version %u, expected %u", in[B_VERSION], CERTA_CODEC_VERSION);
    if (in[B_FLAGS] != 0)
        return field_fail(ei, CERTA_E_RESERVED, "batch flags", B_FLAGS,
                          "reserved flags 0x%02x set", in[B_FLAGS]);
    uint64_t seq = certa_get_le64(in + B_SEQ);
    if (seq == 0)
        return field_fail(ei, CERTA_E_BAD_FIELD, "batch seq", B_SEQ, "must be >= 1");
    uint32_t count = certa_get_le32(in + B_COUNT);
    if (count == 0)
        return field_fail(ei, CERTA_E_BAD_FIELD, "batch event_count", B_COUNT,
                          "must be >= 1");
    if (count > CERTA_BATCH_EVENTS_MAX)
        return field_fail(ei, CERTA_E_TOO_LONG, "batch event_count", B_COUNT,
                          "%u events, limit %u", count, CERTA_BATCH_EVENTS_MAX);
    uint32_t body_bytes = certa_get_le32(in + B_BODY_BYTES);
    if (body_bytes > BATCH_BODY_MAX)
        return field_fail(ei, CERTA_E_TOO_LONG, "batch body_bytes", B_BODY_BYTES,
                          "%u bytes, limit %zu", body_bytes, BATCH_BODY_MAX);
    size_t total = CERTA_BATCH_HEADER_BYTES + (size_t)body_bytes + CERTA_SIGNATURE_BYTES;
    if (len < total)
        return certa_errorf(ei, CERTA_E_TRUNCATED,
                            "batch: header says %zu bytes (body %u + signature), input has %zu",
                            total, body_bytes, len);
    if (len > total)
        return certa_errorf(ei, CERTA_E_TRAILING, "batch: %zu trailing bytes at byte %zu",
                            len - total, total);

    const uint8_t *body = in + CERTA_BATCH_HEADER_BYTES;
    size_t pos = 0;
    uint32_t seen = 0;
    certa_event ev;
    certa_errinfo inner;
    while (pos < body_bytes) {
        size_t at = CERTA_BATCH_HEADER_BYTES + pos;
        if (seen == count)
            return certa_errorf(ei, CERTA_E_TRAILING,
                                "batch: %zu body bytes after event %u (event_count) at byte %zu",
                                body_bytes - pos, count, at);
        if (body_bytes - pos < 2)
            return certa_errorf(ei, CERTA_E_TRUNCATED,
                                "batch event %u: length prefix cut at byte %zu", seen, at);
        size_t ev_len = certa_get_le16(body + pos);
        if (ev_len > CERTA_EVENT_BYTES_MAX)
            return certa_errorf(ei, CERTA_E_TOO_LONG,
                                "batch event %u at byte %zu: %zu bytes, limit %u", seen, at,
                                ev_len, CERTA_EVENT_BYTES_MAX);
        if (ev_len > body_bytes - pos - 2)
            return certa_errorf(ei, CERTA_E_TRUNCATED,
                                "batch event %u at byte %zu: %zu bytes past the body end",
                                seen, at, ev_len);
        certa_err e = full ? certa_event_decode(body + pos + 2, ev_len, &ev,
                                                ei != NULL ? &inner : NULL)
                           : CERTA_OK;
        if (e != CERTA_OK)
            return certa_errorf(ei, e, "batch event %u (starts at byte %zu): %s", seen,
                                at + 2, ei != NULL ? certa_errmsg(&inner) : "");
        pos += 2 + ev_len;
        seen++;
    }
    if (seen != count)
        return field_fail(ei, CERTA_E_BAD_FIELD, "batch event_count", B_COUNT,
                          "says %u events, body holds %u", count, seen);

    v->integrator = certa_get_le16(in + B_INTEGRATOR);
    v->seq = seq;
    v->event_count = count;
    v->body = body;
    v->body_bytes = body_bytes;
    if (full)
        certa_sha256(in, CERTA_BATCH_HEADER_BYTES + (size_t)body_bytes, v->digest);
    v->signature = in + CERTA_BATCH_HEADER_BYTES + body_bytes;
    v->total_bytes = total;
    return CERTA_OK;
}

certa_err certa_batch_decode(const uint8_t *in, size_t len, certa_batch_view *v,
                             certa_errinfo *ei)
{
    return batch_parse(in, len, v, true, ei);
}

certa_err certa_batch_frame(const uint8_t *in, size_t len, certa_batch_view *v,
                            certa_errinfo *ei)
{
    return batch_parse(in, len, v, false, ei);
}

bool certa_batch_next(const certa_batch_view *b, size_t *pos, const uint8_t **ev_bytes,
                      size_t *ev_len)
{
    CERTA_ASSERT(b != NULL && pos != NULL && ev_bytes != NULL && ev_len != NULL);
    CERTA_ASSERT(*pos <= b->body_bytes);
    if (*pos == b->body_bytes)
        return false;
    /* certa_batch_decode validated every record; a failure here is a bug. */
    CERTA_ASSERT(b->body_bytes - *pos >= 2);
    size_t n = certa_get_le16(b->body + *pos);
    CERTA_ASSERT(n <= b->body_bytes - *pos - 2);
    *ev_bytes = b->body + *pos + 2;
    *ev_len = n;
    *pos += 2 + n;
    return true;
}

certa_err certa_batch_verify(const certa_batch_view *v, const certa_pubkey *pk,
                             certa_errinfo *ei)
{
    CERTA_ASSERT(v != NULL && pk != NULL && v->signature != NULL);
    if (!certa_verify(pk, v->digest, CERTA_HASH_BYTES, v->signature))
        return certa_errorf(ei, CERTA_E_BAD_SIGNATURE,
                            "batch of integrator %u seq %llu: signature does not verify",
                            v->integrator, (unsigned long long)v->seq);
    return CERTA_OK;
}

static size_t builder_cap(const certa_batch_builder *bb)
{
    return bb->cap < CERTA_BATCH_BYTES_MAX ? bb->cap : CERTA_BATCH_BYTES_MAX;
}

void certa_batch_begin(certa_batch_builder *bb, uint8_t *buf, size_t cap,
                       uint16_t integrator, uint64_t seq)
{
    CERTA_ASSERT(bb != NULL && buf != NULL);
    CERTA_ASSERT(cap >= CERTA_BATCH_HEADER_BYTES + CERTA_SIGNATURE_BYTES);
    CERTA_ASSERT(seq >= 1);
    bb->buf = buf;
    bb->cap = cap;
    bb->len = CERTA_BATCH_HEADER_BYTES;
    bb->count = 0;
    memset(buf, 0, CERTA_BATCH_HEADER_BYTES);
    certa_put_le32(buf + B_MAGIC, CERTA_BATCH_MAGIC);
    buf[B_VERSION] = CERTA_CODEC_VERSION;
    buf[B_FLAGS] = 0;
    certa_put_le16(buf + B_INTEGRATOR, integrator);
    certa_put_le64(buf + B_SEQ, seq);
}

certa_err certa_batch_add(certa_batch_builder *bb, const certa_event *ev, certa_errinfo *ei)
{
    CERTA_ASSERT(bb != NULL && bb->buf != NULL && ev != NULL);
    CERTA_ASSERT(bb->len >= CERTA_BATCH_HEADER_BYTES);
    if (bb->count >= CERTA_BATCH_EVENTS_MAX)
        return certa_errorf(ei, CERTA_E_LIMIT, "batch already holds %u events (the limit)",
                            bb->count);
    size_t cap = builder_cap(bb);
    /* Room for the length prefix now and the signature later. */
    size_t room = cap - bb->len;
    if (room < 2 + CERTA_SIGNATURE_BYTES)
        return certa_errorf(ei, CERTA_E_LIMIT, "batch full at %zu bytes", bb->len);
    size_t ev_len = 0;
    certa_err e = certa_event_encode(ev, bb->buf + bb->len + 2, room - 2 - CERTA_SIGNATURE_BYTES,
                                     &ev_len, ei);
    if (e != CERTA_OK) {
        if (e == CERTA_E_LIMIT)
            return certa_errorf(ei, CERTA_E_LIMIT, "batch full at %zu bytes", bb->len);
        return e;
    }
    certa_put_le16(bb->buf + bb->len, (uint16_t)ev_len);
    bb->len += 2 + ev_len;
    bb->count++;
    CERTA_ASSERT(bb->len + CERTA_SIGNATURE_BYTES <= cap);
    return CERTA_OK;
}

void certa_batch_set_seq(certa_batch_builder *bb, uint64_t seq)
{
    CERTA_ASSERT(bb != NULL && bb->buf != NULL && seq >= 1);
    certa_put_le64(bb->buf + B_SEQ, seq);
}

void certa_batch_digest(certa_batch_builder *bb, uint8_t digest_out[CERTA_HASH_BYTES])
{
    CERTA_ASSERT(bb != NULL && bb->buf != NULL);
    CERTA_ASSERT(bb->count >= 1 && bb->count <= CERTA_BATCH_EVENTS_MAX);
    CERTA_ASSERT(bb->len > CERTA_BATCH_HEADER_BYTES);
    certa_put_le32(bb->buf + B_COUNT, bb->count);
    certa_put_le32(bb->buf + B_BODY_BYTES, (uint32_t)(bb->len - CERTA_BATCH_HEADER_BYTES));
    certa_sha256(bb->buf, bb->len, digest_out);
}

size_t certa_batch_seal(certa_batch_builder *bb, const uint8_t sig[CERTA_SIGNATURE_BYTES])
{
    CERTA_ASSERT(bb != NULL && sig != NULL);
    CERTA_ASSERT(certa_get_le32(bb->buf + B_COUNT) == bb->count); /* digest came first */
    if (builder_cap(bb) - bb->len < CERTA_SIGNATURE_BYTES)
        return 0;
    memcpy(bb->buf + bb->len, sig, CERTA_SIGNATURE_BYTES);
    bb->len += CERTA_SIGNATURE_BYTES;
    return bb->len;
}

certa_err certa_batch_sign(certa_batch_builder *bb, const certa_key *key, certa_errinfo *ei)
{
    CERTA_ASSERT(bb != NULL && key != NULL);
    if (bb->count == 0)
        return certa_errorf(ei, CERTA_E_STATE, "batch has no events to sign");
    uint8_t digest[CERTA_HASH_BYTES], sig[CERTA_SIGNATURE_BYTES];
    certa_batch_digest(bb, digest);
    certa_err e = certa_sign(key, digest, sizeof digest, sig, ei);
    if (e != CERTA_OK)
        return e;
    /* add() always keeps room for the signature. */
    size_t n = certa_batch_seal(bb, sig);
    CERTA_ASSERT(n != 0);
    return CERTA_OK;
}

/* ---- block headers ---- */

enum {
    H_MAGIC = 0,
    H_VERSION = 4,
    H_FLAGS = 5,
    H_PROPOSER = 6,
    H_HEIGHT = 8,
    H_VIEW = 16,
    H_TIMESTAMP = 24,
    H_EVENT_COUNT = 32,
    H_BATCH_COUNT = 36,
    H_PREV_HASH = 40,
    H_EVENTS_ROOT = 72,
    H_PREV_RESULTS_ROOT = 104,
    H_STATE_DIGEST = 136,
};

certa_err certa_header_encode(const certa_block_header *h, uint8_t out[CERTA_HEADER_BYTES])
{
    CERTA_ASSERT(h != NULL && out != NULL);
    certa_put_le32(out + H_MAGIC, CERTA_HEADER_MAGIC);
    out[H_VERSION] = CERTA_CODEC_VERSION;
    out[H_FLAGS] = 0;
    certa_put_le16(out + H_PROPOSER, h->proposer);
    certa_put_le64(out + H_HEIGHT, h->height);
    certa_put_le64(out + H_VIEW, h->view);
    certa_put_le64(out + H_TIMESTAMP, h->timestamp_ms);
    certa_put_le32(out + H_EVENT_COUNT, h->event_count);
    certa_put_le32(out + H_BATCH_COUNT, h->batch_count);
    memcpy(out + H_PREV_HASH, h->prev_hash, CERTA_HASH_BYTES);
    memcpy(out + H_EVENTS_ROOT, h->events_root, CERTA_HASH_BYTES);
    memcpy(out + H_PREV_RESULTS_ROOT, h->prev_results_root, CERTA_HASH_BYTES);
    memcpy(out + H_STATE_DIGEST, h->state_digest, CERTA_HASH_BYTES);
    return CERTA_OK;
}

/* Decodes the fixed header at in (at least CERTA_HEADER_BYTES readable). */
static certa_err header_fields(const uint8_t *in, certa_block_header *h, certa_errinfo *ei)
{
    if (certa_get_le32(in + H_MAGIC) != CERTA_HEADER_MAGIC)
        return field_fail(ei, CERTA_E_BAD_MAGIC, "header magic", H_MAGIC,
                          "0x%08x, expected 0x%08x", certa_get_le32(in + H_MAGIC), CERTA_HEADER_MAGIC);
    if (in[H_VERSION] != CERTA_CODEC_VERSION)
        return field_fail(ei, CERTA_E_BAD_VERSION, "header version", H_VERSION,
                          "version %u, expected %u", in[H_VERSION], CERTA_CODEC_VERSION);
    if (in[H_FLAGS] != 0)
        return field_fail(ei, CERTA_E_RESERVED, "header flags", H_FLAGS,
                          "reserved flags 0x%02x set", in[H_FLAGS]);
    h->proposer = certa_get_le16(in + H_PROPOSER);
    h->height = certa_get_le64(in + H_HEIGHT);
    h->view = certa_get_le64(in + H_VIEW);
    h->timestamp_ms = certa_get_le64(in + H_TIMESTAMP);
    h->event_count = certa_get_le32(in + H_EVENT_COUNT);
    h->batch_count = certa_get_le32(in + H_BATCH_COUNT);
    memcpy(h->prev_hash, in + H_PREV_HASH, CERTA_HASH_BYTES);
    memcpy(h->events_root, in + H_EVENTS_ROOT, CERTA_HASH_BYTES);
    memcpy(h->prev_results_root, in + H_PREV_RESULTS_ROOT, CERTA_HASH_BYTES);
    memcpy(h->state_digest, in + H_STATE_DIGEST, CERTA_HASH_BYTES);
    return CERTA_OK;
}

certa_err certa_header_decode(const uint8_t *in, size_t len, certa_block_header *h,
                              certa_errinfo *ei)
{
    CERTA_ASSERT(h != NULL);
    CERTA_ASSERT(in != NULL || len == 0);
    memset(h, 0, sizeof *h);
    if (len < CERTA_HEADER_BYTES)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "block header: needs %u bytes, input has %zu",
                            CERTA_HEADER_BYTES, len);
    if (len > CERTA_HEADER_BYTES)
        return certa_errorf(ei, CERTA_E_TRAILING, "block header: %zu trailing bytes at byte %u",
                            len - CERTA_HEADER_BYTES, CERTA_HEADER_BYTES);
    return header_fields(in, h, ei);
}

void certa_header_hash(const certa_block_header *h, uint8_t out[CERTA_HASH_BYTES])
{
    uint8_t buf[CERTA_HEADER_BYTES];
    certa_header_encode(h, buf);
    certa_sha256(buf, sizeof buf, out);
}

/* ---- blocks ---- */

certa_err certa_block_decode_header(const uint8_t *in, size_t len, certa_block_header *h,
                                    certa_errinfo *ei)
{
    CERTA_ASSERT(h != NULL);
    CERTA_ASSERT(in != NULL || len == 0);
    memset(h, 0, sizeof *h);
    if (len > CERTA_BLOCK_BYTES_MAX)
        return certa_errorf(ei, CERTA_E_TOO_LONG, "block of %zu bytes, limit %u", len,
                            CERTA_BLOCK_BYTES_MAX);
    if (len < CERTA_HEADER_BYTES)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "block: header needs %u bytes, input has %zu",
                            CERTA_HEADER_BYTES, len);
    return header_fields(in, h, ei);
}

static certa_err block_next(const uint8_t *in, size_t len, size_t *pos,
                            certa_batch_view *batch, bool full, certa_errinfo *ei)
{
    CERTA_ASSERT(in != NULL && pos != NULL && batch != NULL);
    CERTA_ASSERT(*pos >= CERTA_HEADER_BYTES && *pos <= len);
    if (*pos == len)
        return CERTA_E_NOTFOUND;
    size_t at = *pos;
    if (len - at < 4)
        return certa_errorf(ei, CERTA_E_TRUNCATED, "block: batch length cut at byte %zu", at);
    size_t n = certa_get_le32(in + at);
    if (n > CERTA_BATCH_BYTES_MAX)
        return certa_errorf(ei, CERTA_E_TOO_LONG, "block: batch at byte %zu of %zu bytes, limit %u",
                            at, n, CERTA_BATCH_BYTES_MAX);
    if (n > len - at - 4)
        return certa_errorf(ei, CERTA_E_TRUNCATED,
                            "block: batch at byte %zu claims %zu bytes, %zu remain", at, n,
                            len - at - 4);
    certa_errinfo inner;
    certa_err e = batch_parse(in + at + 4, n, batch, full, ei != NULL ? &inner : NULL);
    if (e != CERTA_OK)
        return certa_errorf(ei, e, "block: batch at byte %zu: %s", at,
                            ei != NULL ? certa_errmsg(&inner) : "");
    *pos = at + 4 + n;
    return CERTA_OK;
}

certa_err certa_block_next_batch(const uint8_t *in, size_t len, size_t *pos,
                                 certa_batch_view *batch, certa_errinfo *ei)
{
    return block_next(in, len, pos, batch, true, ei);
}

certa_err certa_block_next_batch_frame(const uint8_t *in, size_t len, size_t *pos,
                                       certa_batch_view *batch, certa_errinfo *ei)
{
    return block_next(in, len, pos, batch, false, ei);
}

size_t certa_block_put_batch(uint8_t *out, size_t cap, size_t pos, const uint8_t *batch,
                             size_t batch_len)
{
    CERTA_ASSERT(out != NULL && batch != NULL);
    CERTA_ASSERT(pos >= CERTA_HEADER_BYTES && pos <= cap);
    CERTA_ASSERT(batch_len <= CERTA_BATCH_BYTES_MAX);
    if (cap - pos < 4 + batch_len || pos + 4 + batch_len > CERTA_BLOCK_BYTES_MAX)
        return 0;
    certa_put_le32(out + pos, (uint32_t)batch_len);
    memcpy(out + pos + 4, batch, batch_len);
    return pos + 4 + batch_len;
}

certa_err certa_block_check(const uint8_t *in, size_t len, certa_block_header *h,
                            certa_errinfo *ei)
{
    certa_err e = certa_block_decode_header(in, len, h, ei);
    if (e != CERTA_OK)
        return e;
    size_t pos = CERTA_HEADER_BYTES;
    uint64_t batches = 0, events = 0;
    certa_batch_view b;
    while ((e = certa_block_next_batch(in, len, &pos, &b, ei)) == CERTA_OK) {
        batches++;
        events += b.event_count;
    }
    if (e != CERTA_E_NOTFOUND)
        return e;
    if (batches != h->batch_count)
        return field_fail(ei, CERTA_E_BAD_FIELD, "header batch_count", H_BATCH_COUNT,
                          "says %u batches, block holds %llu", h->batch_count,
                          (unsigned long long)batches);
    if (events != h->event_count)
        return field_fail(ei, CERTA_E_BAD_FIELD, "header event_count", H_EVENT_COUNT,
                          "says %u events, block holds %llu", h->event_count,
                          (unsigned long long)events);
    return CERTA_OK;
}

size_t certa_leaf_encode(uint16_t integrator, uint64_t seq, const uint8_t *ev, size_t ev_len,
                         uint8_t *out, size_t cap)
{
    CERTA_ASSERT(ev != NULL && out != NULL);
    CERTA_ASSERT(ev_len <= CERTA_EVENT_BYTES_MAX);
    CERTA_ASSERT(cap >= CERTA_LEAF_PREFIX_BYTES + ev_len);
    certa_put_le16(out, integrator);
    certa_put_le64(out + 2, seq);
    memcpy(out + CERTA_LEAF_PREFIX_BYTES, ev, ev_len);
    return CERTA_LEAF_PREFIX_BYTES + ev_len;
}
