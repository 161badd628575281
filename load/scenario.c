/* scenario: parses and checks the city load model (JSON, jansson) and holds
 * the built-in Beijing scenario. The built-in one goes through the same parser
 * as a file, so that what docs/LOAD.md shows is exactly what runs.
 * Invariants after a successful load: every share lies in [0, 1], the method
 * shares and each licence-count distribution sum to 1 (within 1e-6), the
 * hourly profile's maximum is exactly 1 at peak_hour, every group's opening
 * hours lie inside the day and the wrong-going shares leave room for normal
 * cases (expired + revoke_before <= 1).
 */
#include "scenario.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The numbers are reasoned in docs/LOAD.md, section "The beijing scenario". */
static const char beijing_json[] =
    "{\n"
    "  \"name\": \"beijing\",\n"
    "  \"description\": \"Beijing's government service counters on a weekday: "
    "1 municipal centre, 16 district centres, 343 street-level centres; "
    "every counter case uses e-licences (full adoption).\",\n"
    "  \"centres\": [\n"
    "    {\"kind\": \"municipal\", \"count\": 1, \"counters\": 200, \"open_hour\": 9, \"close_hour\": 17},\n"
    "    {\"kind\": \"district\", \"count\": 16, \"counters\": 60, \"open_hour\": 9, \"close_hour\": 17},\n"
    "    {\"kind\": \"street\", \"count\": 343, \"counters\": 6, \"open_hour\": 9, \"close_hour\": 17}\n"
    "  ],\n"
    "  \"cases_per_counter_hour\": 4,\n"
    "  \"hourly_profile\": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0.8, 1.0, 0.9,\n"
    "                     0.5, 0.7, 0.85, 0.8, 0.6, 0, 0, 0, 0, 0, 0, 0],\n"
    "  \"elicence_share\": 1.0,\n"
    "  \"growth\": 1.0,\n"
    "  \"matters\": {\"company_share\": 0.3, \"zipf_s\": 1.0,\n"
    "              \"personal_licences\": [0.5, 0.35, 0.15, 0],\n"
    "              \"company_licences\": [0.7, 0.3, 0, 0]},\n"
    "  \"methods\": {\"code\": 0.45, \"qr\": 0.45, \"direct\": 0.1},\n"
    "  \"events\": {\"confirm\": 1.0, \"sign\": 1.0, \"photo\": 1.0,\n"
    "             \"wrong_code\": 0.03, \"revoke_after\": 0.1,\n"
    "             \"revoke_before\": 0.01, \"expired\": 0.01,\n"
    "             \"online_only\": 0.15},\n"
    "  \"timing_s\": {\"redeem_after_grant\": [60, 180], \"step_gap\": [5, 30],\n"
    "               \"revoke_after_max\": 1800, \"grant_validity\": 7200},\n"
    "  \"batching_ms\": {\"app\": 100, \"counter\": 1000}\n"
    "}\n";

const char *certa_load_scenario_beijing_json(void) { return beijing_json; }

/* ---- strict JSON field access ---- */

typedef struct pctx {
    const char *origin;
    certa_errinfo *ei;
} pctx;

static certa_err bad(pctx *p, const char *field, const char *what)
{
    return certa_errorf(p->ei, CERTA_E_JSON, "%s: field %s: %s", p->origin,
                        field, what);
}

/* Refuses keys of obj not listed in allowed (NULL-terminated). */
static certa_err only_keys(pctx *p, json_t *obj, const char *where,
                           const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool known = false;
        for (size_t i = 0; allowed[i] != NULL; i++)
            if (strcmp(key, allowed[i]) == 0)
                known = true;
        if (!known) {
            char f[160];
            snprintf(f, sizeof f, "%s%s", where, key);
            return bad(p, f, "unknown field");
        }
    }
    (void)v;
    return CERTA_OK;
}

static certa_err get_num(pctx *p, json_t *obj, const char *key,
                         const char *where, bool required, double dflt,
                         double lo, double hi, double *out)
{
    char f[160];
    snprintf(f, sizeof f, "%s%s", where, key);
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        if (required)
            return bad(p, f, "missing");
        *out = dflt;
        return CERTA_OK;
    }
    if (!json_is_number(v))
        return bad(p, f, "not a number");
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi)) {
        char msg[96];
        snprintf(msg, sizeof msg, "%g out of range [%g, %g]", d, lo, hi);
        return bad(p, f, msg);
    }
    *out = d;
    return CERTA_OK;
}

static certa_err get_u32(pctx *p, json_t *obj, const char *key,
                         const char *where, bool required, uint32_t dflt,
                         uint32_t lo, uint32_t hi, uint32_t *out)
{
    char f[160];
    snprintf(f, sizeof f, "%s%s", where, key);
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        if (required)
            return bad(p, f, "missing");
        *out = dflt;
        return CERTA_OK;
    }
    if (!json_is_integer(v))
        return bad(p, f, "not an integer");
    json_int_t i = json_integer_value(v);
    if (i < (json_int_t)lo || i > (json_int_t)hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "%lld out of range [%u, %u]", (long long)i,
                 lo, hi);
        return bad(p, f, msg);
    }
    *out = (uint32_t)i;
    return CERTA_OK;
}

/* Reads an array of exactly n numbers in [lo, hi]. */
static certa_err get_array(pctx *p, json_t *obj, const char *key,
                           const char *where, size_t n, double lo, double hi,
                           double *out)
{
    char f[160];
    snprintf(f, sizeof f, "%s%s", where, key);
    json_t *a = json_object_get(obj, key);
    if (a == NULL)
        return bad(p, f, "missing");
    if (!json_is_array(a) || json_array_size(a) != n) {
        char msg[64];
        snprintf(msg, sizeof msg, "must be an array of %zu numbers", n);
        return bad(p, f, msg);
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_number(v))
            return bad(p, f, "element not a number");
        double d = json_number_value(v);
        if (!(d >= lo && d <= hi)) {
            char msg[96];
            snprintf(msg, sizeof msg, "element %zu = %g out of range [%g, %g]",
                     i, d, lo, hi);
            return bad(p, f, msg);
        }
        out[i] = d;
    }
    return CERTA_OK;
}

static json_t *get_obj(pctx *p, json_t *obj, const char *key, certa_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || !json_is_object(v)) {
        *err = bad(p, key, v == NULL ? "missing" : "not an object");
        return NULL;
    }
    *err = CERTA_OK;
    return v;
}

static certa_err check_sum1(pctx *p, const char *field, const double *v,
                            size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    if (fabs(sum - 1.0) > 1e-6) {
        char msg[64];
        snprintf(msg, sizeof msg, "shares sum to %g, not 1", sum);
        return bad(p, field, msg);
    }
    return CERTA_OK;
}

#define TRY(x)                                                                \
    do {                                                                      \
        certa_err e_ = (x);                                                   \
        if (e_ != CERTA_OK) {                                                 \
            json_decref(root);                                                \
            return e_;                                                        \
        }                                                                     \
    } while (0)

static certa_err parse_groups(pctx *p, json_t *root, certa_load_scenario *s)
{
    static const char *const keys[] = {"kind", "count", "counters",
                                       "open_hour", "close_hour", NULL};
    json_t *a = json_object_get(root, "centres");
    if (a == NULL || !json_is_array(a) || json_array_size(a) == 0 ||
        json_array_size(a) > CERTA_LOAD_GROUPS_MAX)
        return bad(p, "centres", "must be an array of 1..16 centre groups");
    s->group_count = (uint32_t)json_array_size(a);
    for (uint32_t i = 0; i < s->group_count; i++) {
        json_t *g = json_array_get(a, i);
        char where[32];
        snprintf(where, sizeof where, "centres[%u].", i);
        if (!json_is_object(g))
            return bad(p, where, "not an object");
        certa_err e = only_keys(p, g, where, keys);
        if (e != CERTA_OK)
            return e;
        certa_load_centre_group *cg = &s->groups[i];
        json_t *kind = json_object_get(g, "kind");
        if (!json_is_string(kind) || json_string_length(kind) == 0 ||
            json_string_length(kind) >= sizeof cg->kind) {
            char f[48];
            snprintf(f, sizeof f, "%skind", where);
            return bad(p, f, "must be a non-empty string under 64 bytes");
        }
        snprintf(cg->kind, sizeof cg->kind, "%s", json_string_value(kind));
        if ((e = get_u32(p, g, "count", where, true, 0, 1, 100000, &cg->count)) ||
            (e = get_u32(p, g, "counters", where, true, 0, 1, 10000, &cg->counters)) ||
            (e = get_u32(p, g, "open_hour", where, false, 9, 0, 23, &cg->open_hour)) ||
            (e = get_u32(p, g, "close_hour", where, false, 17, 1, 24, &cg->close_hour)))
            return e;
        if (cg->close_hour <= cg->open_hour) {
            char f[48];
            snprintf(f, sizeof f, "%sclose_hour", where);
            return bad(p, f, "must be after open_hour");
        }
    }
    return CERTA_OK;
}

certa_err certa_load_scenario_parse(const char *json, const char *origin,
                                    certa_load_scenario *s, certa_errinfo *ei)
{
    CERTA_ASSERT(json != NULL && s != NULL);
    pctx pc = {.origin = origin != NULL ? origin : "scenario", .ei = ei};
    pctx *p = &pc;
    memset(s, 0, sizeof *s);
    json_error_t je;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL)
        return certa_errorf(ei, CERTA_E_JSON, "%s line %d column %d: %s",
                            pc.origin, je.line, je.column, je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return bad(p, "(top)", "not an object");
    }
    static const char *const top[] = {
        "name", "description", "centres", "cases_per_counter_hour",
        "hourly_profile", "start_hour", "elicence_share", "growth", "matters",
        "methods", "events", "timing_s", "batching_ms", NULL};
    TRY(only_keys(p, root, "", top));

    json_t *name = json_object_get(root, "name");
    if (!json_is_string(name) || json_string_length(name) == 0 ||
        json_string_length(name) >= sizeof s->name)
        TRY(bad(p, "name", "must be a non-empty string under 64 bytes"));
    snprintf(s->name, sizeof s->name, "%s", json_string_value(name));
    json_t *desc = json_object_get(root, "description");
    if (desc != NULL) {
        if (!json_is_string(desc))
            TRY(bad(p, "description", "not a string"));
        snprintf(s->description, sizeof s->description, "%s",
                 json_string_value(desc));
    }

    TRY(parse_groups(p, root, s));
    TRY(get_num(p, root, "cases_per_counter_hour", "", true, 0, 0.01, 1000,
                &s->cases_per_counter_hour));
    TRY(get_array(p, root, "hourly_profile", "", 24, 0, 1, s->hourly));
    s->peak_hour = 24;
    for (uint32_t h = 0; h < 24; h++)
        if (s->hourly[h] == 1.0 && s->peak_hour == 24)
            s->peak_hour = h;
    if (s->peak_hour == 24)
        TRY(bad(p, "hourly_profile", "the peak hour must have weight 1"));
    TRY(get_u32(p, root, "start_hour", "", false, s->peak_hour, 0, 23,
                &s->start_hour));
    TRY(get_num(p, root, "elicence_share", "", false, 1.0, 0, 1,
                &s->elicence_share));
    TRY(get_num(p, root, "growth", "", false, 1.0, 0.001, 1000, &s->growth));

    certa_err e;
    json_t *m = get_obj(p, root, "matters", &e);
    TRY(e);
    static const char *const mk[] = {"company_share", "zipf_s",
                                     "personal_licences", "company_licences",
                                     NULL};
    TRY(only_keys(p, m, "matters.", mk));
    TRY(get_num(p, m, "company_share", "matters.", true, 0, 0, 1,
                &s->company_share));
    TRY(get_num(p, m, "zipf_s", "matters.", false, 0, 0, 5, &s->matter_zipf_s));
    TRY(get_array(p, m, "personal_licences", "matters.",
                  CERTA_LOAD_LICENCES_PER_CASE_MAX, 0, 1, s->personal_licences));
    TRY(check_sum1(p, "matters.personal_licences", s->personal_licences,
                   CERTA_LOAD_LICENCES_PER_CASE_MAX));
    TRY(get_array(p, m, "company_licences", "matters.",
                  CERTA_LOAD_LICENCES_PER_CASE_MAX, 0, 1, s->company_licences));
    TRY(check_sum1(p, "matters.company_licences", s->company_licences,
                   CERTA_LOAD_LICENCES_PER_CASE_MAX));

    json_t *me = get_obj(p, root, "methods", &e);
    TRY(e);
    static const char *const mek[] = {"code", "qr", "direct", NULL};
    TRY(only_keys(p, me, "methods.", mek));
    TRY(get_num(p, me, "code", "methods.", true, 0, 0, 1, &s->method_code));
    TRY(get_num(p, me, "qr", "methods.", true, 0, 0, 1, &s->method_qr));
    TRY(get_num(p, me, "direct", "methods.", true, 0, 0, 1, &s->method_direct));
    double ms[3] = {s->method_code, s->method_qr, s->method_direct};
    TRY(check_sum1(p, "methods", ms, 3));

    json_t *ev = get_obj(p, root, "events", &e);
    TRY(e);
    static const char *const evk[] = {"confirm", "sign", "photo", "wrong_code",
                                      "revoke_after", "revoke_before",
                                      "expired", "online_only", NULL};
    TRY(only_keys(p, ev, "events.", evk));
    TRY(get_num(p, ev, "confirm", "events.", false, 1, 0, 1, &s->confirm_share));
    TRY(get_num(p, ev, "sign", "events.", false, 1, 0, 1, &s->sign_share));
    TRY(get_num(p, ev, "photo", "events.", false, 1, 0, 1, &s->photo_share));
    TRY(get_num(p, ev, "wrong_code", "events.", false, 0, 0, 1,
                &s->wrong_code_share));
    TRY(get_num(p, ev, "revoke_after", "events.", false, 0, 0, 1,
                &s->revoke_after_share));
    TRY(get_num(p, ev, "revoke_before", "events.", false, 0, 0, 1,
                &s->revoke_before_share));
    TRY(get_num(p, ev, "expired", "events.", false, 0, 0, 1, &s->expired_share));
    TRY(get_num(p, ev, "online_only", "events.", false, 0, 0, 10,
                &s->online_only_share));
    if (s->expired_share + s->revoke_before_share > 1.0)
        TRY(bad(p, "events.expired", "expired + revoke_before must not exceed 1"));

    json_t *t = get_obj(p, root, "timing_s", &e);
    TRY(e);
    static const char *const tk[] = {"redeem_after_grant", "step_gap",
                                     "revoke_after_max", "grant_validity", NULL};
    TRY(only_keys(p, t, "timing_s.", tk));
    double r[2], g[2], x;
    TRY(get_array(p, t, "redeem_after_grant", "timing_s.", 2, 1, 86400, r));
    TRY(get_array(p, t, "step_gap", "timing_s.", 2, 0, 86400, g));
    if (r[0] > r[1] || g[0] > g[1])
        TRY(bad(p, "timing_s", "each [min, max] must have min <= max"));
    s->redeem_after_grant_s_min = (uint32_t)r[0];
    s->redeem_after_grant_s_max = (uint32_t)r[1];
    s->step_gap_s_min = (uint32_t)g[0];
    s->step_gap_s_max = (uint32_t)g[1];
    TRY(get_num(p, t, "revoke_after_max", "timing_s.", true, 0, 1, 86400, &x));
    s->revoke_after_s_max = (uint32_t)x;
    TRY(get_num(p, t, "grant_validity", "timing_s.", true, 0, 60, 7 * 86400, &x));
    s->grant_validity_s = (uint32_t)x;
    if (s->grant_validity_s <= s->redeem_after_grant_s_max + 4 * s->step_gap_s_max)
        TRY(bad(p, "timing_s.grant_validity",
                "must outlast the redeems (redeem_after_grant max + 4 step gaps)"));

    json_t *b = get_obj(p, root, "batching_ms", &e);
    TRY(e);
    static const char *const bk[] = {"app", "counter", NULL};
    TRY(only_keys(p, b, "batching_ms.", bk));
    TRY(get_u32(p, b, "app", "batching_ms.", true, 0, 1, 60000, &s->app_batch_ms));
    TRY(get_u32(p, b, "counter", "batching_ms.", true, 0, 1, 60000,
                &s->counter_batch_ms));

    json_decref(root);
    return CERTA_OK;
}

certa_err certa_load_scenario_load(const char *name_or_path,
                                   certa_load_scenario *out, certa_errinfo *ei)
{
    CERTA_ASSERT(name_or_path != NULL && out != NULL);
    if (strcmp(name_or_path, "beijing") == 0)
        return certa_load_scenario_parse(beijing_json, "built-in scenario beijing",
                                         out, ei);
    FILE *f = fopen(name_or_path, "rb");
    if (f == NULL)
        return certa_errorf(ei, CERTA_E_IO, "scenario %s: cannot open", name_or_path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            if (cap > (1u << 22)) {
                free(buf);
                fclose(f);
                return certa_errorf(ei, CERTA_E_LIMIT,
                                    "scenario %s: larger than 4 MiB", name_or_path);
            }
            cap = cap == 0 ? 8192 : 2 * cap;
            char *nb = realloc(buf, cap + 1);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return certa_errorf(ei, CERTA_E_NOMEM, "scenario %s", name_or_path);
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    bool io_err = ferror(f) != 0;
    fclose(f);
    if (io_err) {
        free(buf);
        return certa_errorf(ei, CERTA_E_IO, "scenario %s: read error", name_or_path);
    }
    buf[len] = '\0';
    certa_err e = certa_load_scenario_parse(buf, name_or_path, out, ei);
    free(buf);
    return e;
}

int certa_load_scale_parse(const char *s, double *out)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "city") == 0) {
        *out = 1.0;
        return 0;
    }
    if (strcmp(s, "city10") == 0) {
        *out = CERTA_LOAD_SCALE_CITY10;
        return 0;
    }
    if (strcmp(s, "country") == 0) {
        *out = CERTA_LOAD_SCALE_COUNTRY;
        return 0;
    }
    char *end = NULL;
    double d = strtod(s, &end);
    if (end == s || *end != '\0' || !(d > 0 && d <= 100000))
        return -1;
    *out = d;
    return 0;
}

double certa_load_scenario_rate(const certa_load_scenario *s, uint32_t g,
                                uint32_t hour)
{
    CERTA_ASSERT(g < s->group_count && hour < 24);
    const certa_load_centre_group *cg = &s->groups[g];
    if (hour < cg->open_hour || hour >= cg->close_hour)
        return 0;
    return cg->counters * s->cases_per_counter_hour * s->hourly[hour] *
           s->elicence_share * s->growth;
}

static double mean_licences(const double *w)
{
    double m = 0;
    for (uint32_t i = 0; i < CERTA_LOAD_LICENCES_PER_CASE_MAX; i++)
        m += (i + 1) * w[i];
    return m;
}

void certa_load_scenario_summarize(const certa_load_scenario *s, double scale,
                                   certa_load_summary *o)
{
    memset(o, 0, sizeof *o);
    for (uint32_t g = 0; g < s->group_count; g++) {
        o->centres += s->groups[g].count;
        o->counters += s->groups[g].count * s->groups[g].counters;
        o->peak_cases_per_hour +=
            s->groups[g].count * certa_load_scenario_rate(s, g, s->peak_hour);
        for (uint32_t h = 0; h < 24; h++)
            o->day_cases += s->groups[g].count * certa_load_scenario_rate(s, g, h);
    }
    o->peak_cases_per_hour *= scale;
    o->day_cases *= scale;
    o->peak_share = o->day_cases > 0 ? o->peak_cases_per_hour / o->day_cases : 0;

    /* Case outcomes are drawn in this order: expired (a refused grant, no
     * redeem), revoked before the redeem (grant, revoke, refused redeem),
     * else normal (see gen.c); a normal case may start with a wrong code
     * (code method only) and may end with a revoke. */
    double e = s->expired_share, rb = s->revoke_before_share;
    double normal = 1.0 - e - rb;
    double lic = (1 - s->company_share) * mean_licences(s->personal_licences) +
                 s->company_share * mean_licences(s->company_licences);
    double wrong = s->wrong_code_share * s->method_code;
    double per_normal = 1 + lic + wrong + s->confirm_share + s->sign_share +
                        s->photo_share + s->revoke_after_share;
    o->events_per_case = e * 1 + rb * 3 + normal * per_normal + s->online_only_share;
    double rejects = e + rb + normal * wrong;
    o->expected_reject_share = o->events_per_case > 0 ? rejects / o->events_per_case : 0;
    o->peak_events_per_hour = o->peak_cases_per_hour * o->events_per_case;
    o->peak_events_per_s = o->peak_events_per_hour / 3600.0;
}

char *certa_load_scenario_to_json(const certa_load_scenario *s)
{
    json_t *root = json_object();
    json_object_set_new(root, "name", json_string(s->name));
    json_object_set_new(root, "description", json_string(s->description));
    json_t *cs = json_array();
    for (uint32_t g = 0; g < s->group_count; g++) {
        const certa_load_centre_group *cg = &s->groups[g];
        json_array_append_new(
            cs, json_pack("{s:s, s:I, s:I, s:I, s:I}", "kind", cg->kind,
                          "count", (json_int_t)cg->count, "counters",
                          (json_int_t)cg->counters, "open_hour",
                          (json_int_t)cg->open_hour, "close_hour",
                          (json_int_t)cg->close_hour));
    }
    json_object_set_new(root, "centres", cs);
    json_object_set_new(root, "cases_per_counter_hour",
                        json_real(s->cases_per_counter_hour));
    json_t *hp = json_array();
    for (uint32_t h = 0; h < 24; h++)
        json_array_append_new(hp, json_real(s->hourly[h]));
    json_object_set_new(root, "hourly_profile", hp);
    json_object_set_new(root, "start_hour", json_integer(s->start_hour));
    json_object_set_new(root, "elicence_share", json_real(s->elicence_share));
    json_object_set_new(root, "growth", json_real(s->growth));
    json_t *pl = json_array(), *cl = json_array();
    for (uint32_t i = 0; i < CERTA_LOAD_LICENCES_PER_CASE_MAX; i++) {
        json_array_append_new(pl, json_real(s->personal_licences[i]));
        json_array_append_new(cl, json_real(s->company_licences[i]));
    }
    json_object_set_new(root, "matters",
                        json_pack("{s:f, s:f, s:o, s:o}", "company_share",
                                  s->company_share, "zipf_s", s->matter_zipf_s,
                                  "personal_licences", pl, "company_licences", cl));
    json_object_set_new(root, "methods",
                        json_pack("{s:f, s:f, s:f}", "code", s->method_code,
                                  "qr", s->method_qr, "direct", s->method_direct));
    json_object_set_new(
        root, "events",
        json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "confirm",
                  s->confirm_share, "sign", s->sign_share, "photo",
                  s->photo_share, "wrong_code", s->wrong_code_share,
                  "revoke_after", s->revoke_after_share, "revoke_before",
                  s->revoke_before_share, "expired", s->expired_share,
                  "online_only", s->online_only_share));
    json_object_set_new(
        root, "timing_s",
        json_pack("{s:[I, I], s:[I, I], s:I, s:I}", "redeem_after_grant",
                  (json_int_t)s->redeem_after_grant_s_min,
                  (json_int_t)s->redeem_after_grant_s_max, "step_gap",
                  (json_int_t)s->step_gap_s_min, (json_int_t)s->step_gap_s_max,
                  "revoke_after_max", (json_int_t)s->revoke_after_s_max,
                  "grant_validity", (json_int_t)s->grant_validity_s));
    json_object_set_new(root, "batching_ms",
                        json_pack("{s:I, s:I}", "app", (json_int_t)s->app_batch_ms,
                                  "counter", (json_int_t)s->counter_batch_ms));
    char *out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return out;
}
