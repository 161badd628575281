/* genesis: parses and validates genesis.json into an immutable certa_genesis.
 *
 * Everything validators must agree on before block 1 passes through here, so
 * the parser is strict: unknown fields, duplicate keys, wrong types, values
 * out of range, dangling references (a matter's bureau, a counter
 * integrator's centre, a licence type name) and duplicate names, ids or keys
 * are all refused, each with the file name and the JSON path of the field.
 * n must be 3f+1 >= 4. The chain id is SHA-256 of the file's exact bytes.
 * Invariants after a successful parse: every array is sorted by id (where it
 * has one) with unique ids, every key is parsed once into an EVP key, and
 * every cross-reference resolves.
 */
#include "certa/genesis.h"
#include "certa/codec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static const char *const role_names[] = {NULL, "app", "counter", "library",
                                         "admin"};

const char *certa_role_name(unsigned role)
{
    if (role == 0 || role >= sizeof role_names / sizeof role_names[0])
        return NULL;
    return role_names[role];
}

int certa_role_parse(const char *name)
{
    if (name == NULL)
        return -1;
    for (unsigned i = 1; i < sizeof role_names / sizeof role_names[0]; i++)
        if (strcmp(name, role_names[i]) == 0)
            return (int)i;
    return -1;
}

/* ---- error context ---- */

typedef struct gctx {
    const char *file;
    certa_errinfo *ei;
} gctx;

#define PATH_BYTES 96

static certa_err gfail(gctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static certa_err gfail(gctx *c, const char *path, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (path[0] == '\0')
        return certa_errorf(c->ei, CERTA_E_GENESIS, "%s: %s", c->file, msg);
    return certa_errorf(c->ei, CERTA_E_GENESIS, "%s: %s: %s", c->file, path,
                        msg);
}

/* An untrusted string shown in a message: at most 40 bytes, control
 * characters replaced, so that a hostile file cannot garble a terminal. */
static const char *shown(const char *s, char out[48])
{
    size_t i = 0;
    for (; s[i] != '\0' && i < 40; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    if (s[i] != '\0') {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

static void join(char out[PATH_BYTES], const char *path, const char *key)
{
    /* Paths are built from this file's field names and bounded indexes;
     * a truncated one would still name the field well enough. */
    int n;
    if (path[0] == '\0')
        n = snprintf(out, PATH_BYTES, "%s", key);
    else
        n = snprintf(out, PATH_BYTES, "%s.%s", path, key);
    CERTA_ASSERT(n >= 0);
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "something else";
}

/* Refuses any key of obj not in allowed (NULL-terminated): a typo in a
 * genesis must not silently become a default. */
static certa_err check_keys(gctx *c, const json_t *obj, const char *path,
                            const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok) {
            char buf[48];
            return gfail(c, path, "unknown field \"%s\"", shown(key, buf));
        }
    }
    return CERTA_OK;
}

static certa_err get_field(gctx *c, const json_t *obj, const char *path,
                           const char *key, json_type type, json_t **out)
{
    char p[PATH_BYTES];
    join(p, path, key);
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return gfail(c, p, "missing");
    if (json_typeof(v) != type) {
        const char *want = type == JSON_OBJECT   ? "an object"
                           : type == JSON_ARRAY  ? "an array"
                           : type == JSON_STRING ? "a string"
                                                 : "an integer";
        return gfail(c, p, "expected %s, found %s", want, type_name(v));
    }
    *out = v;
    return CERTA_OK;
}

static certa_err get_u64(gctx *c, const json_t *obj, const char *path,
                         const char *key, uint64_t min, uint64_t max,
                         uint64_t *out)
{
    json_t *v;
    certa_err e = get_field(c, obj, path, key, JSON_INTEGER, &v);
    if (e != CERTA_OK)
        return e;
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x < min || (uint64_t)x > max) {
        char p[PATH_BYTES];
        join(p, path, key);
        return gfail(c, p, "%lld is out of range [%llu, %llu]", (long long)x,
                     (unsigned long long)min, (unsigned long long)max);
    }
    *out = (uint64_t)x;
    return CERTA_OK;
}

static certa_err get_u32(gctx *c, const json_t *obj, const char *path,
                         const char *key, uint32_t min, uint32_t max,
                         uint32_t *out)
{
    uint64_t v = 0;
    certa_err e = get_u64(c, obj, path, key, min, max, &v);
    *out = (uint32_t)v;
    return e;
}

static certa_err get_u16(gctx *c, const json_t *obj, const char *path,
                         const char *key, uint16_t min, uint16_t max,
                         uint16_t *out)
{
    uint64_t v = 0;
    certa_err e = get_u64(c, obj, path, key, min, max, &v);
    *out = (uint16_t)v;
    return e;
}

/* Identifier-like names (validators, integrators) become file names in a
 * genesis directory: [A-Za-z0-9._-], not starting with '.' or '-'. */
static bool ident_ok(const char *s)
{
    if (s[0] == '\0' || s[0] == '.' || s[0] == '-')
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

enum str_kind { STR_TEXT, STR_IDENT };

/* Copies a string field of 1..cap-1 bytes into out; text may be any UTF-8
 * without control characters. */
static certa_err get_str(gctx *c, const json_t *obj, const char *path,
                         const char *key, enum str_kind kind, char *out,
                         size_t cap)
{
    json_t *v;
    certa_err e = get_field(c, obj, path, key, JSON_STRING, &v);
    if (e != CERTA_OK)
        return e;
    char p[PATH_BYTES];
    join(p, path, key);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0)
        return gfail(c, p, "must not be empty");
    if (len >= cap)
        return gfail(c, p, "longer than %zu bytes", cap - 1);
    if (strlen(s) != len)
        return gfail(c, p, "contains a NUL character");
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f)
            return gfail(c, p, "contains a control character");
    }
    if (kind == STR_IDENT && !ident_ok(s))
        return gfail(c, p,
                     "'%s' must use only letters, digits, '.', '_', '-' and "
                     "not start with '.' or '-'",
                     s);
    memcpy(out, s, len + 1);
    return CERTA_OK;
}

static certa_err get_hex(gctx *c, const json_t *obj, const char *path,
                         const char *key, uint8_t *out, size_t n)
{
    json_t *v;
    certa_err e = get_field(c, obj, path, key, JSON_STRING, &v);
    if (e != CERTA_OK)
        return e;
    if (json_string_length(v) != 2 * n ||
        certa_hex_decode(json_string_value(v), out, n) != CERTA_OK) {
        char p[PATH_BYTES];
        join(p, path, key);
        return gfail(c, p, "expected %zu hex digits", 2 * n);
    }
    return CERTA_OK;
}

/* Z85 (ZeroMQ RFC 32): 40 characters encode a 32-byte CURVE key; every group
 * of 5 must stay below 2^32. */
static bool z85_key_ok(const char *s, size_t len)
{
    static const char alphabet[] =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
        ".-:+=^!/*?&<>()[]{}@%$#";
    if (len != 40)
        return false;
    for (size_t g = 0; g < 8; g++) {
        uint64_t value = 0;
        for (size_t i = 0; i < 5; i++) {
            const char *hit = strchr(alphabet, s[5 * g + i]);
            if (s[5 * g + i] == '\0' || hit == NULL)
                return false;
            value = value * 85 + (uint64_t)(hit - alphabet);
        }
        if (value > 0xffffffffu)
            return false;
    }
    return true;
}

static certa_err get_array(gctx *c, const json_t *obj, const char *key,
                           size_t min, size_t max, json_t **out)
{
    certa_err e = get_field(c, obj, "", key, JSON_ARRAY, out);
    if (e != CERTA_OK)
        return e;
    size_t n = json_array_size(*out);
    if (n < min || n > max)
        return gfail(c, key, "has %zu entries; expected %zu to %zu", n, min,
                     max);
    return CERTA_OK;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- sections ---- */

static certa_err parse_params(gctx *c, const json_t *root, certa_genesis *g)
{
    static const char *const keys[] = {
        "checkpoint_interval", "window_blocks",     "block_events_max",
        "block_timeout_ms",    "view_timeout_ms",   "clock_skew_ms_max",
        "grant_window_ms_max", "code_attempts_max", "replay_horizon_ms",
        "replay_horizon_batches", "rules", NULL};
    json_t *p;
    certa_err e = get_field(c, root, "", "params", JSON_OBJECT, &p);
    if (e != CERTA_OK || (e = check_keys(c, p, "params", keys)) != CERTA_OK)
        return e;
    certa_genesis_params *q = &g->params;
    const char *at = "params";
    if ((e = get_u32(c, p, at, "checkpoint_interval", 1, 100000,
                     &q->checkpoint_interval)) != CERTA_OK ||
        (e = get_u32(c, p, at, "window_blocks", 2, 1000000,
                     &q->window_blocks)) != CERTA_OK ||
        (e = get_u32(c, p, at, "block_events_max", 1, 32768,
                     &q->block_events_max)) != CERTA_OK ||
        (e = get_u32(c, p, at, "block_timeout_ms", 1, 10000,
                     &q->block_timeout_ms)) != CERTA_OK ||
        (e = get_u32(c, p, at, "view_timeout_ms", 10, 600000,
                     &q->view_timeout_ms)) != CERTA_OK ||
        (e = get_u32(c, p, at, "clock_skew_ms_max", 1, 600000,
                     &q->clock_skew_ms_max)) != CERTA_OK ||
        (e = get_u64(c, p, at, "grant_window_ms_max", 60000,
                     366ull * 24 * 3600 * 1000,
                     &q->grant_window_ms_max)) != CERTA_OK ||
        (e = get_u32(c, p, at, "code_attempts_max", 1, 10,
                     &q->code_attempts_max)) != CERTA_OK)
        return e;
    /* optional: older genesis files do not name them */
    q->replay_horizon_ms = CERTA_REPLAY_HORIZON_MS_DEFAULT;
    q->replay_horizon_batches = CERTA_REPLAY_HORIZON_BATCHES_DEFAULT;
    q->rules = 1; /* the rules before evidence was bound to its redeem */
    if ((json_object_get(p, "rules") != NULL &&
         (e = get_u32(c, p, at, "rules", 1, 2, &q->rules)) != CERTA_OK) ||
        (json_object_get(p, "replay_horizon_ms") != NULL &&
         (e = get_u64(c, p, at, "replay_horizon_ms", 60000, 7ull * 24 * 3600 * 1000,
                      &q->replay_horizon_ms)) != CERTA_OK) ||
        (json_object_get(p, "replay_horizon_batches") != NULL &&
         (e = get_u32(c, p, at, "replay_horizon_batches", CERTA_REPLAY_HORIZON_BATCHES_MIN,
                      CERTA_REPLAY_HORIZON_BATCHES_MAX,
                      &q->replay_horizon_batches)) != CERTA_OK))
        return e;
    /* PBFT needs room for at least two checkpoints in the window, and stable
     * checkpoints must fall on window boundaries. */
    if (q->window_blocks < 2 * q->checkpoint_interval ||
        q->window_blocks % q->checkpoint_interval != 0)
        return gfail(c, "params.window_blocks",
                     "%u must be a multiple of checkpoint_interval (%u) and "
                     "at least twice it",
                     q->window_blocks, q->checkpoint_interval);
    if (q->view_timeout_ms <= q->block_timeout_ms)
        return gfail(c, "params.view_timeout_ms",
                     "%u must exceed block_timeout_ms (%u)", q->view_timeout_ms,
                     q->block_timeout_ms);
    return CERTA_OK;
}

static int cmp_lt(const void *a, const void *b)
{
    const certa_licence_type_info *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static certa_err parse_licence_types(gctx *c, const json_t *root,
                                     certa_genesis *g)
{
    static const char *const keys[] = {"id", "name", NULL};
    json_t *arr;
    certa_err e = get_array(c, root, "licence_types", 1,
                            CERTA_GENESIS_LICENCE_TYPES_MAX, &arr);
    if (e != CERTA_OK)
        return e;
    size_t n = json_array_size(arr);
    g->licence_types = calloc(n, sizeof *g->licence_types);
    if (g->licence_types == NULL)
        return certa_errorf(c->ei, CERTA_E_NOMEM, "%s: licence_types", c->file);
    for (size_t i = 0; i < n; i++) {
        char at[PATH_BYTES];
        snprintf(at, sizeof at, "licence_types[%zu]", i);
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return gfail(c, at, "expected an object, found %s", type_name(o));
        certa_licence_type_info *t = &g->licence_types[i];
        uint16_t id = 0;
        if ((e = check_keys(c, o, at, keys)) != CERTA_OK ||
            (e = get_u16(c, o, at, "id", 0,
                         CERTA_GENESIS_LICENCE_TYPES_MAX - 1, &id)) != CERTA_OK ||
            (e = get_str(c, o, at, "name", STR_IDENT, t->name,
                         sizeof t->name)) != CERTA_OK)
            return e;
        t->id = (uint8_t)id;
        if (g->licence_type_mask & (1u << id))
            return gfail(c, at, "id %u appears twice", id);
        /* The known types keep the codec's (and JSON events') names. */
        if (id < CERTA_LT_KNOWN_COUNT &&
            strcmp(t->name, certa_licence_type_name(id)) != 0)
            return gfail(c, at, "id %u must be named '%s', not '%s'", id,
                         certa_licence_type_name(id), t->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(g->licence_types[j].name, t->name) == 0)
                return gfail(c, at, "name '%s' appears twice", t->name);
        g->licence_type_mask |= 1u << id;
        g->licence_type_count++;
    }
    qsort(g->licence_types, n, sizeof *g->licence_types, cmp_lt);
    return CERTA_OK;
}

static int cmp_bureau(const void *a, const void *b)
{
    const certa_bureau_info *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static int cmp_centre(const void *a, const void *b)
{
    const certa_centre_info *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static int cmp_matter(const void *a, const void *b)
{
    const certa_matter_info *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* After sorting by id, reports the first duplicate id, if any. */
static certa_err dup_ids(gctx *c, const char *section, const void *base,
                         size_t n, size_t stride, size_t id_offset,
                         size_t id_size)
{
    const uint8_t *b = base;
    for (size_t i = 1; i < n; i++) {
        uint64_t prev = 0, cur = 0;
        memcpy(&prev, b + (i - 1) * stride + id_offset, id_size);
        memcpy(&cur, b + i * stride + id_offset, id_size);
        if (prev == cur)
            return gfail(c, section, "id %llu appears twice",
                         (unsigned long long)cur);
    }
    return CERTA_OK;
}

static certa_err parse_bureaus(gctx *c, const json_t *root, certa_genesis *g)
{
    static const char *const keys[] = {"id", "name", NULL};
    json_t *arr;
    certa_err e = get_array(c, root, "bureaus", 1, UINT16_MAX, &arr);
    if (e != CERTA_OK)
        return e;
    size_t n = json_array_size(arr);
    g->bureaus = calloc(n, sizeof *g->bureaus);
    if (g->bureaus == NULL)
        return certa_errorf(c->ei, CERTA_E_NOMEM, "%s: bureaus", c->file);
    for (size_t i = 0; i < n; i++) {
        char at[PATH_BYTES];
        snprintf(at, sizeof at, "bureaus[%zu]", i);
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return gfail(c, at, "expected an object, found %s", type_name(o));
        certa_bureau_info *b = &g->bureaus[i];
        if ((e = check_keys(c, o, at, keys)) != CERTA_OK ||
            (e = get_u16(c, o, at, "id", 1, UINT16_MAX, &b->id)) != CERTA_OK ||
            (e = get_str(c, o, at, "name", STR_TEXT, b->name,
                         sizeof b->name)) != CERTA_OK)
            return e;
        g->bureau_count++;
    }
    qsort(g->bureaus, n, sizeof *g->bureaus, cmp_bureau);
    return dup_ids(c, "bureaus", g->bureaus, n, sizeof *g->bureaus,
                   offsetof(certa_bureau_info, id), sizeof(uint16_t));
}

static certa_err parse_centres(gctx *c, const json_t *root, certa_genesis *g)
{
    static const char *const keys[] = {"id", "name", "counters", NULL};
    json_t *arr;
    certa_err e = get_array(c, root, "centres", 1, UINT16_MAX, &arr);
    if (e != CERTA_OK)
        return e;
    size_t n = json_array_size(arr);
    g->centres = calloc(n, sizeof *g->centres);
    if (g->centres == NULL)
        return certa_errorf(c->ei, CERTA_E_NOMEM, "%s: centres", c->file);
    for (size_t i = 0; i < n; i++) {
        char at[PATH_BYTES];
        snprintf(at, sizeof at, "centres[%zu]", i);
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return gfail(c, at, "expected an object, found %s", type_name(o));
        certa_centre_info *ce = &g->centres[i];
        if ((e = check_keys(c, o, at, keys)) != CERTA_OK ||
            (e = get_u16(c, o, at, "id", 1, UINT16_MAX, &ce->id)) != CERTA_OK ||
            (e = get_str(c, o, at, "name", STR_TEXT, ce->name,
                         sizeof ce->name)) != CERTA_OK ||
            (e = get_u16(c, o, at, "counters", 1, UINT16_MAX,
                         &ce->counters)) != CERTA_OK)
            return e;
        g->centre_count++;
    }
    qsort(g->centres, n, sizeof *g->centres, cmp_centre);
    return dup_ids(c, "centres", g->centres, n, sizeof *g->centres,
                   offsetof(certa_centre_info, id), sizeof(uint16_t));
}

static certa_err parse_matters(gctx *c, const json_t *root, certa_genesis *g)
{
    static const char *const keys[] = {"id",   "bureau",        "kind",
                                       "name", "licence_types", NULL};
    json_t *arr;
    certa_err e = get_array(c, root, "matters", 1, 1000000, &arr);
    if (e != CERTA_OK)
        return e;
    size_t n = json_array_size(arr);
    g->matters = calloc(n, sizeof *g->matters);
    if (g->matters == NULL)
        return certa_errorf(c->ei, CERTA_E_NOMEM, "%s: matters", c->file);
    for (size_t i = 0; i < n; i++) {
        char at[PATH_BYTES], p[PATH_BYTES];
        snprintf(at, sizeof at, "matters[%zu]", i);
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return gfail(c, at, "expected an object, found %s", type_name(o));
        certa_matter_info *m = &g->matters[i];
        char kind[16];
        json_t *lts;
        if ((e = check_keys(c, o, at, keys)) != CERTA_OK ||
            (e = get_u32(c, o, at, "id", 1, UINT32_MAX, &m->id)) != CERTA_OK ||
            (e = get_u16(c, o, at, "bureau", 1, UINT16_MAX, &m->bureau)) !=
                CERTA_OK ||
            (e = get_str(c, o, at, "kind", STR_IDENT, kind, sizeof kind)) !=
                CERTA_OK ||
            (e = get_str(c, o, at, "name", STR_TEXT, m->name,
                         sizeof m->name)) != CERTA_OK ||
            (e = get_field(c, o, at, "licence_types", JSON_ARRAY, &lts)) !=
                CERTA_OK)
            return e;
        if (certa_genesis_bureau(g, m->bureau) == NULL) {
            join(p, at, "bureau");
            return gfail(c, p, "no bureau has id %u", m->bureau);
        }
        if (strcmp(kind, "personal") == 0) {
            m->company = false;
        } else if (strcmp(kind, "company") == 0) {
            m->company = true;
        } else {
            join(p, at, "kind");
            return gfail(c, p, "'%s' is neither 'personal' nor 'company'", kind);
        }
        size_t nl = json_array_size(lts);
        if (nl == 0 || nl > CERTA_GENESIS_LICENCE_TYPES_MAX) {
            join(p, at, "licence_types");
            return gfail(c, p, "has %zu entries; expected 1 to %u", nl,
                         CERTA_GENESIS_LICENCE_TYPES_MAX);
        }
        for (size_t j = 0; j < nl; j++) {
            char lp[PATH_BYTES];
            int pn = snprintf(lp, sizeof lp, "%s.licence_types[%zu]", at, j);
            CERTA_ASSERT(pn >= 0);
            json_t *s = json_array_get(lts, j);
            if (!json_is_string(s))
                return gfail(c, lp, "expected a string, found %s",
                             type_name(s));
            char buf[48];
            int t = certa_genesis_licence_type_find(g, json_string_value(s));
            if (t < 0)
                return gfail(c, lp, "'%s' is not in licence_types",
                             shown(json_string_value(s), buf));
            if (m->licence_types & (1u << t))
                return gfail(c, lp, "'%s' appears twice",
                             shown(json_string_value(s), buf));
            m->licence_types |= 1u << t;
        }
        g->matter_count++;
    }
    qsort(g->matters, n, sizeof *g->matters, cmp_matter);
    return dup_ids(c, "matters", g->matters, n, sizeof *g->matters,
                   offsetof(certa_matter_info, id), sizeof(uint32_t));
}

static certa_err parse_validators(gctx *c, const json_t *root, certa_genesis *g)
{
    static const char *const keys[] = {
        "name",          "sign_pub",        "curve_pub",
        "peer_endpoint", "client_endpoint", "metrics_endpoint", NULL};
    json_t *arr;
    certa_err e = get_field(c, root, "", "validators", JSON_ARRAY, &arr);
    if (e != CERTA_OK)
        return e;
    size_t n = json_array_size(arr);
    if (n < 4 || n % 3 != 1 || n > CERTA_VALIDATORS_MAX)
        return gfail(c, "validators",
                     "n = %zu validators; PBFT needs n = 3f+1 >= 4 and at most "
                     "%u (4, 7, 10, ...)",
                     n, CERTA_VALIDATORS_MAX);
    g->validators = calloc(n, sizeof *g->validators);
    if (g->validators == NULL)
        return certa_errorf(c->ei, CERTA_E_NOMEM, "%s: validators", c->file);
    for (size_t i = 0; i < n; i++) {
        char at[PATH_BYTES], p[PATH_BYTES];
        snprintf(at, sizeof at, "validators[%zu]", i);
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return gfail(c, at, "expected an object, found %s", type_name(o));
        certa_validator_info *v = &g->validators[i];
        json_t *cp;
        if ((e = check_keys(c, o, at, keys)) != CERTA_OK ||
            (e = get_str(c, o, at, "name", STR_IDENT, v->name,
                         sizeof v->name)) != CERTA_OK ||
            (e = get_hex(c, o, at, "sign_pub", v->sign_pub,
                         sizeof v->sign_pub)) != CERTA_OK ||
            (e = get_field(c, o, at, "curve_pub", JSON_STRING, &cp)) !=
                CERTA_OK)
            return e;
        if (!z85_key_ok(json_string_value(cp), json_string_length(cp))) {
            join(p, at, "curve_pub");
            return gfail(c, p, "expected a 40-character Z85 CURVE public key");
        }
        memcpy(v->curve_pub, json_string_value(cp), 41);
        if ((e = get_str(c, o, at, "peer_endpoint", STR_TEXT, v->peer_endpoint,
                         sizeof v->peer_endpoint)) != CERTA_OK ||
            (e = get_str(c, o, at, "client_endpoint", STR_TEXT,
                         v->client_endpoint, sizeof v->client_endpoint)) !=
                CERTA_OK ||
            (e = get_str(c, o, at, "metrics_endpoint", STR_TEXT,
                         v->metrics_endpoint, sizeof v->metrics_endpoint)) !=
                CERTA_OK)
            return e;
        if (!has_prefix(v->peer_endpoint, "tcp://")) {
            join(p, at, "peer_endpoint");
            return gfail(c, p, "'%s' must start with tcp://", v->peer_endpoint);
        }
        if (!has_prefix(v->client_endpoint, "tcp://")) {
            join(p, at, "client_endpoint");
            return gfail(c, p, "'%s' must start with tcp://",
                         v->client_endpoint);
        }
        if (!has_prefix(v->metrics_endpoint, "http://")) {
            join(p, at, "metrics_endpoint");
            return gfail(c, p, "'%s' must start with http://",
                         v->metrics_endpoint);
        }
        for (size_t j = 0; j < i; j++) {
            const certa_validator_info *w = &g->validators[j];
            const char *same = NULL;
            if (strcmp(w->name, v->name) == 0)
                same = "name";
            else if (memcmp(w->sign_pub, v->sign_pub, sizeof v->sign_pub) == 0)
                same = "sign_pub";
            else if (strcmp(w->curve_pub, v->curve_pub) == 0)
                same = "curve_pub";
            else if (strcmp(w->peer_endpoint, v->peer_endpoint) == 0)
                same = "peer_endpoint";
            else if (strcmp(w->client_endpoint, v->client_endpoint) == 0)
                same = "client_endpoint";
            if (same != NULL) {
                join(p, at, same);
                return gfail(c, p, "same as validators[%zu].%s", j, same);
            }
        }
        if (certa_pubkey_from_raw(v->sign_pub, &v->sign_key, NULL) != CERTA_OK) {
            join(p, at, "sign_pub");
            return gfail(c, p, "not a valid Ed25519 public key");
        }
        g->validator_count++;
    }
    g->f = (g->validator_count - 1) / 3;
    return CERTA_OK;
}

static certa_err parse_integrators(gctx *c, const json_t *root,
                                   certa_genesis *g)
{
    static const char *const keys[] = {"name", "role", "centre", "pub", NULL};
    json_t *arr;
    certa_err e = get_array(c, root, "integrators", 1, CERTA_INTEGRATORS_MAX,
                            &arr);
    if (e != CERTA_OK)
        return e;
    size_t n = json_array_size(arr);
    g->integrators = calloc(n, sizeof *g->integrators);
    if (g->integrators == NULL)
        return certa_errorf(c->ei, CERTA_E_NOMEM, "%s: integrators", c->file);
    for (size_t i = 0; i < n; i++) {
        char at[PATH_BYTES], p[PATH_BYTES];
        snprintf(at, sizeof at, "integrators[%zu]", i);
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return gfail(c, at, "expected an object, found %s", type_name(o));
        certa_integrator_info *it = &g->integrators[i];
        char role[16];
        if ((e = check_keys(c, o, at, keys)) != CERTA_OK ||
            (e = get_str(c, o, at, "name", STR_IDENT, it->name,
                         sizeof it->name)) != CERTA_OK ||
            (e = get_str(c, o, at, "role", STR_IDENT, role, sizeof role)) !=
                CERTA_OK ||
            (e = get_hex(c, o, at, "pub", it->pub, sizeof it->pub)) != CERTA_OK)
            return e;
        int r = certa_role_parse(role);
        if (r < 0) {
            join(p, at, "role");
            return gfail(c, p,
                         "'%s' is not one of app, counter, library, admin",
                         role);
        }
        it->role = (uint8_t)r;
        bool has_centre = json_object_get(o, "centre") != NULL;
        if (it->role == CERTA_ROLE_COUNTER) {
            if ((e = get_u16(c, o, at, "centre", 1, UINT16_MAX, &it->centre)) !=
                CERTA_OK)
                return e;
            if (certa_genesis_centre(g, it->centre) == NULL) {
                join(p, at, "centre");
                return gfail(c, p, "no centre has id %u", it->centre);
            }
        } else if (has_centre) {
            join(p, at, "centre");
            return gfail(c, p, "only a counter integrator has a centre");
        }
        for (size_t j = 0; j < i; j++) {
            const certa_integrator_info *w = &g->integrators[j];
            if (strcmp(w->name, it->name) == 0) {
                join(p, at, "name");
                return gfail(c, p, "'%s' is also integrators[%zu].name",
                             it->name, j);
            }
            if (memcmp(w->pub, it->pub, sizeof it->pub) == 0) {
                join(p, at, "pub");
                return gfail(c, p, "same key as integrators[%zu]", j);
            }
        }
        if (certa_pubkey_from_raw(it->pub, &it->key, NULL) != CERTA_OK) {
            join(p, at, "pub");
            return gfail(c, p, "not a valid Ed25519 public key");
        }
        g->integrator_count++;
    }
    return CERTA_OK;
}

/* "council": {"members": [admin integrator names], "threshold": k}, with
 * 1 <= k <= members; optional (no council: nothing can be governed). */
static certa_err parse_council(gctx *c, const json_t *root, certa_genesis *g)
{
    static const char *const keys[] = {"members", "threshold", NULL};
    const json_t *o = json_object_get(root, "council");
    if (o == NULL)
        return CERTA_OK;
    if (!json_is_object(o))
        return gfail(c, "council", "expected an object, found %s", type_name(o));
    certa_err e = check_keys(c, o, "council", keys);
    if (e != CERTA_OK)
        return e;
    const json_t *arr = json_object_get(o, "members");
    if (!json_is_array(arr) || json_array_size(arr) < 1 ||
        json_array_size(arr) > CERTA_GENESIS_COUNCIL_MAX)
        return gfail(c, "council.members", "expected an array of 1 to %u integrator names",
                     CERTA_GENESIS_COUNCIL_MAX);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char at[PATH_BYTES];
        snprintf(at, sizeof at, "council.members[%zu]", i);
        const char *name = json_string_value(json_array_get(arr, i));
        int idx = name ? certa_genesis_integrator_find(g, name) : -1;
        if (idx < 0)
            return gfail(c, at, "'%s' is not an integrator", name ? name : "(not a string)");
        if (g->integrators[idx].role != CERTA_ROLE_ADMIN)
            return gfail(c, at, "'%s' is not an admin integrator", name);
        for (uint32_t j = 0; j < g->council_count; j++)
            if (g->council[j] == idx)
                return gfail(c, at, "'%s' is listed twice", name);
        g->council[g->council_count++] = (uint16_t)idx;
    }
    return get_u32(c, o, "council", "threshold", 1, g->council_count, &g->council_threshold);
}

static certa_err parse_root(gctx *c, const json_t *root, certa_genesis *g)
{
    static const char *const keys[] = {
        "version",  "chain_name", "genesis_time_ms", "params",
        "licence_types", "bureaus", "centres",        "matters",
        "validators",    "integrators", "council", NULL};
    if (!json_is_object(root))
        return certa_errorf(c->ei, CERTA_E_GENESIS,
                            "%s: the top level must be an object, found %s",
                            c->file, type_name(root));
    uint64_t version = 0;
    certa_err e;
    if ((e = check_keys(c, root, "", keys)) != CERTA_OK ||
        (e = get_u64(c, root, "", "version", 0, UINT32_MAX, &version)) !=
            CERTA_OK)
        return e;
    if (version != CERTA_GENESIS_VERSION)
        return gfail(c, "version", "%llu is not a supported version (%d)",
                     (unsigned long long)version, CERTA_GENESIS_VERSION);
    if ((e = get_str(c, root, "", "chain_name", STR_IDENT, g->chain_name,
                     sizeof g->chain_name)) != CERTA_OK ||
        (e = get_u64(c, root, "", "genesis_time_ms", 0, INT64_MAX,
                     &g->genesis_time_ms)) != CERTA_OK ||
        (e = parse_params(c, root, g)) != CERTA_OK ||
        (e = parse_licence_types(c, root, g)) != CERTA_OK ||
        (e = parse_bureaus(c, root, g)) != CERTA_OK ||
        (e = parse_centres(c, root, g)) != CERTA_OK ||
        (e = parse_matters(c, root, g)) != CERTA_OK ||
        (e = parse_validators(c, root, g)) != CERTA_OK ||
        (e = parse_integrators(c, root, g)) != CERTA_OK ||
        (e = parse_council(c, root, g)) != CERTA_OK)
        return e;
    return CERTA_OK;
}

certa_err certa_genesis_parse(const char *json, size_t len,
                              const char *name_for_errors, certa_genesis **out,
                              certa_errinfo *ei)
{
    CERTA_ASSERT(out != NULL);
    *out = NULL;
    gctx c = {.file = name_for_errors != NULL ? name_for_errors : "genesis",
              .ei = ei};
    if (len > CERTA_GENESIS_BYTES_MAX)
        return certa_errorf(ei, CERTA_E_GENESIS,
                            "%s: %zu bytes is larger than the %u-byte limit",
                            c.file, len, CERTA_GENESIS_BYTES_MAX);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return certa_errorf(ei, CERTA_E_JSON, "%s: line %d column %d: %s",
                            c.file, jerr.line, jerr.column, jerr.text);
    certa_genesis *g = calloc(1, sizeof *g);
    if (g == NULL) {
        json_decref(root);
        return certa_errorf(ei, CERTA_E_NOMEM, "%s: allocating", c.file);
    }
    certa_err e = parse_root(&c, root, g);
    json_decref(root);
    if (e != CERTA_OK) {
        certa_genesis_free(g);
        return e;
    }
    certa_sha256(json, len, g->hash);
    CERTA_ASSERT(g->validator_count == 3 * g->f + 1 && g->f >= 1);
    *out = g;
    return CERTA_OK;
}

certa_err certa_genesis_load(const char *path, certa_genesis **out,
                             certa_errinfo *ei)
{
    CERTA_ASSERT(path != NULL && out != NULL);
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return certa_errorf(ei, CERTA_E_IO, "%s: %s", path, strerror(errno));
    char *buf = malloc(CERTA_GENESIS_BYTES_MAX + 1u);
    if (buf == NULL) {
        fclose(f);
        return certa_errorf(ei, CERTA_E_NOMEM, "%s: allocating", path);
    }
    size_t len = fread(buf, 1, CERTA_GENESIS_BYTES_MAX + 1u, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    certa_err e;
    if (failed)
        e = certa_errorf(ei, CERTA_E_IO, "%s: read error", path);
    else if (len > CERTA_GENESIS_BYTES_MAX)
        e = certa_errorf(ei, CERTA_E_GENESIS, "%s: larger than %u bytes", path,
                         CERTA_GENESIS_BYTES_MAX);
    else
        e = certa_genesis_parse(buf, len, path, out, ei);
    free(buf);
    return e;
}

void certa_genesis_free(certa_genesis *g)
{
    if (g == NULL)
        return;
    if (g->validators != NULL)
        for (uint32_t i = 0; i < g->validator_count; i++)
            certa_pubkey_free(g->validators[i].sign_key);
    if (g->integrators != NULL)
        for (uint32_t i = 0; i < g->integrator_count; i++)
            certa_pubkey_free(g->integrators[i].key);
    free(g->validators);
    free(g->integrators);
    free(g->licence_types);
    free(g->bureaus);
    free(g->centres);
    free(g->matters);
    free(g);
}

/* ---- look-ups: binary search over the id-sorted arrays ---- */

const certa_centre_info *certa_genesis_centre(const certa_genesis *g, uint16_t id)
{
    certa_centre_info key = {.id = id};
    if (g->centre_count == 0)
        return NULL;
    return bsearch(&key, g->centres, g->centre_count, sizeof key, cmp_centre);
}

const certa_matter_info *certa_genesis_matter(const certa_genesis *g, uint32_t id)
{
    certa_matter_info key = {.id = id};
    if (g->matter_count == 0)
        return NULL;
    return bsearch(&key, g->matters, g->matter_count, sizeof key, cmp_matter);
}

const certa_bureau_info *certa_genesis_bureau(const certa_genesis *g, uint16_t id)
{
    certa_bureau_info key = {.id = id};
    if (g->bureau_count == 0)
        return NULL;
    return bsearch(&key, g->bureaus, g->bureau_count, sizeof key, cmp_bureau);
}

int certa_genesis_integrator_find(const certa_genesis *g, const char *name)
{
    for (uint32_t i = 0; i < g->integrator_count; i++)
        if (strcmp(g->integrators[i].name, name) == 0)
            return (int)i;
    return -1;
}

int certa_genesis_licence_type_find(const certa_genesis *g, const char *name)
{
    for (uint32_t i = 0; i < g->licence_type_count; i++)
        if (strcmp(g->licence_types[i].name, name) == 0)
            return g->licence_types[i].id;
    return -1;
}
