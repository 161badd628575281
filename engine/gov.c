/* gov: the council's rules and the governed tables (see certa/gov.h for
 * the contract, gov_table.h for how the state uses them).
 *
 * Invariants:
 * - outside a block, cur == next; inside one, next = cur + the changes
 *   approved so far in the block, and every check of a change runs against
 *   next (so two changes of one block cannot both take the same key);
 * - 1 <= threshold <= council count whenever the council is not empty;
 *   every member is an active admin integrator;
 * - keys and names are never reused: a removed integrator keeps its index,
 *   name and key, so an old signature can never speak for a new integrator;
 *   a closed centre keeps its id and name (a centre's id, once used, names
 *   that centre forever, so an old record never points at a new place);
 * - centres: genesis's first (sorted by id, as genesis keeps them), then
 *   those centre_add opened, in order; a closed centre is the key
 *   centre << 16 | 0 in the closed list (counter 0 is no counter);
 * - an open proposal holds 1 .. CERTA_COUNCIL_MAX distinct approvals; it
 *   leaves the table when it takes effect, fails its final check, or (when
 *   room is needed) after it expired.
 * Pure: no clock, no I/O, no randomness.
 */
#include "gov_table.h"

#include <stdlib.h>
#include <string.h>

#include "certa/crypto.h"
#include "certa/wire.h"

#define GOV_SER_MAGIC 0x56474f47u /* "GOGV" */
#define GOV_SER_VERSION 1u
#define GOV_SER_TAG_CENTRES 1u /* the optional tagged sections, in this order */
#define GOV_SER_TAG_PARAMS 2u
#define GOV_SER_TAG_RULES 3u

typedef struct gov_tab {
    uint32_t integ_count;
    certa_gov_integrator *integ; /* CERTA_INTEGRATORS_MAX entries */
    uint32_t centre_count;       /* the genesis centres, in its order */
    uint16_t *centre_ids;
    uint16_t *counters;
    uint32_t added_count; /* centres opened by centre_add, in order */
    struct added_centre {
        uint16_t id, counters;
        char name[CERTA_NAME_BYTES];
    } added[CERTA_GOV_CENTRES_ADDED_MAX];
    uint32_t closed_count;
    uint32_t closed[CERTA_GOV_CLOSED_MAX]; /* sorted: centre << 16 | counter */
    uint32_t council_count;
    uint16_t council[CERTA_COUNCIL_MAX];
    uint32_t threshold;
    uint64_t params[CERTA_GP_COUNT];
    bool params_changed; /* a parameter >= GP_SER_V1 was set by the council */
    uint32_t cat_count; /* catalogue entries, sorted by key */
    struct cat_entry {
        uint64_t key; /* centre << 32 | matter */
        uint32_t allowed, required;
    } cat[CERTA_GOV_CATALOGUE_MAX];
} gov_tab;

struct certa_gov {
    const certa_genesis *g;
    gov_tab cur, next;
    bool next_dirty;
    uint64_t generation;
    uint32_t prop_count;
    certa_gov_proposal props[CERTA_GOV_PROPOSALS_MAX];
    bool digest_valid;
    uint8_t digest[CERTA_HASH_BYTES];
};

/* ------------------------------------------------------------ names */

static const char *const change_names[CERTA_GC_COUNT] = {
    NULL, "council_add", "council_remove", "council_threshold", "integrator_add",
    "integrator_suspend", "integrator_resume", "integrator_remove", "integrator_rotate",
    "counter_add", "counter_close", "param_set", "catalogue_set", "centre_add", "centre_close",
};
static const char *const param_names[CERTA_GP_COUNT] = {
    NULL, "code_attempts_max", "grant_window_ms_max", "block_events_max", "block_timeout_ms",
    "view_timeout_ms", "rules"};
/* The parameters of the serial form's first version; the later ones are
 * written in a tagged section only once the council changed one. */
#define GP_SER_V1 3u
/* Section 2 holds the parameters GP_SER_V1 .. GP_SER_V2 - 1; the rules
 * version has its own section 3, written once it is above 1. */
#define GP_SER_V2 6u
static const char *const status_names[] = {"active", "suspended", "removed"};

const char *certa_gov_change_name(unsigned change)
{
    return change < CERTA_GC_COUNT ? change_names[change] : NULL;
}

int certa_gov_change_parse(const char *name)
{
    for (unsigned i = 1; name != NULL && i < CERTA_GC_COUNT; i++)
        if (strcmp(name, change_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *certa_gov_param_name(unsigned param)
{
    return param < CERTA_GP_COUNT ? param_names[param] : NULL;
}

int certa_gov_param_parse(const char *name)
{
    for (unsigned i = 1; name != NULL && i < CERTA_GP_COUNT; i++)
        if (strcmp(name, param_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *certa_integrator_status_name(unsigned status)
{
    return status <= CERTA_IS_REMOVED ? status_names[status] : NULL;
}

/* The same bounds genesis.c puts on the parameters at start. */
bool certa_gov_param_range(unsigned param, uint64_t *min, uint64_t *max)
{
    switch (param) {
    case CERTA_GP_CODE_ATTEMPTS_MAX:
        *min = 1, *max = 10;
        return true;
    case CERTA_GP_GRANT_WINDOW_MS_MAX:
        *min = 60000, *max = 366ull * 24 * 3600 * 1000;
        return true;
    case CERTA_GP_BLOCK_EVENTS_MAX:
        *min = 1, *max = 32768;
        return true;
    case CERTA_GP_BLOCK_TIMEOUT_MS:
        *min = 1, *max = 10000;
        return true;
    case CERTA_GP_VIEW_TIMEOUT_MS:
        *min = 10, *max = 600000;
        return true;
    case CERTA_GP_RULES:
        *min = 1, *max = 2;
        return true;
    default:
        return false;
    }
}

certa_err certa_gov_proposal_digest(const certa_event *ev, uint8_t out[CERTA_HASH_BYTES],
                                    certa_errinfo *ei)
{
    uint8_t buf[CERTA_EVENT_BYTES_MAX];
    size_t n = 0;
    certa_err e = certa_event_encode(ev, buf, sizeof buf, &n, ei);
    if (e != CERTA_OK)
        return e;
    if (ev->kind != CERTA_EV_GOVERN || ev->gov.op != CERTA_GOV_PROPOSE)
        return certa_errorf(ei, CERTA_E_ARG, "proposal digest: not a govern propose event");
    certa_sha256(buf, n, out);
    return CERTA_OK;
}

/* ------------------------------------------------------------ tables */

static bool tab_alloc(gov_tab *t, uint32_t centres)
{
    t->integ = calloc(CERTA_INTEGRATORS_MAX, sizeof *t->integ);
    t->centre_ids = calloc(centres ? centres : 1, sizeof *t->centre_ids);
    t->counters = calloc(centres ? centres : 1, sizeof *t->counters);
    return t->integ != NULL && t->centre_ids != NULL && t->counters != NULL;
}

static void tab_free(gov_tab *t)
{
    free(t->integ);
    free(t->centre_ids);
    free(t->counters);
}

/* dst = src; both allocated for the same genesis. */
static void tab_copy(gov_tab *dst, const gov_tab *src)
{
    CERTA_ASSERT(dst->centre_count == src->centre_count);
    CERTA_ASSERT(src->integ_count <= CERTA_INTEGRATORS_MAX);
    memcpy(dst->integ, src->integ, (size_t)src->integ_count * sizeof *src->integ);
    dst->integ_count = src->integ_count;
    memcpy(dst->counters, src->counters, src->centre_count * sizeof *src->counters);
    dst->closed_count = src->closed_count;
    memcpy(dst->closed, src->closed, src->closed_count * sizeof *src->closed);
    dst->council_count = src->council_count;
    memcpy(dst->council, src->council, sizeof dst->council);
    dst->threshold = src->threshold;
    memcpy(dst->params, src->params, sizeof dst->params);
    dst->params_changed = src->params_changed;
    dst->cat_count = src->cat_count;
    memcpy(dst->cat, src->cat, src->cat_count * sizeof *src->cat);
    CERTA_ASSERT(src->added_count <= CERTA_GOV_CENTRES_ADDED_MAX);
    dst->added_count = src->added_count;
    memcpy(dst->added, src->added, src->added_count * sizeof *src->added);
}

static void tab_from_genesis(gov_tab *t, const certa_genesis *g)
{
    CERTA_ASSERT(g->integrator_count <= CERTA_INTEGRATORS_MAX);
    CERTA_ASSERT(g->council_count <= CERTA_COUNCIL_MAX);
    t->integ_count = g->integrator_count;
    for (uint32_t i = 0; i < g->integrator_count; i++) {
        const certa_integrator_info *in = &g->integrators[i];
        certa_gov_integrator *o = &t->integ[i];
        memcpy(o->name, in->name, sizeof o->name);
        o->role = in->role;
        o->status = CERTA_IS_ACTIVE;
        o->centre = in->centre;
        memcpy(o->pub, in->pub, CERTA_PUBKEY_BYTES);
        o->key_since = 0;
    }
    t->centre_count = g->centre_count;
    for (uint32_t i = 0; i < g->centre_count; i++) {
        t->centre_ids[i] = g->centres[i].id;
        t->counters[i] = g->centres[i].counters;
    }
    t->closed_count = 0;
    t->council_count = g->council_count;
    memcpy(t->council, g->council, g->council_count * sizeof *g->council);
    t->threshold = g->council_threshold;
    t->params[CERTA_GP_CODE_ATTEMPTS_MAX] =
        g->params.code_attempts_max ? g->params.code_attempts_max : 5;
    t->params[CERTA_GP_GRANT_WINDOW_MS_MAX] = g->params.grant_window_ms_max;
    t->params[CERTA_GP_BLOCK_EVENTS_MAX] = g->params.block_events_max;
    t->params[CERTA_GP_BLOCK_TIMEOUT_MS] = g->params.block_timeout_ms;
    t->params[CERTA_GP_VIEW_TIMEOUT_MS] = g->params.view_timeout_ms;
    t->params[CERTA_GP_RULES] = g->params.rules ? g->params.rules : 1;
    t->params_changed = false;
}

certa_gov *gov_create(const certa_genesis *g)
{
    CERTA_ASSERT(g != NULL);
    certa_gov *v = calloc(1, sizeof *v);
    if (v == NULL)
        return NULL;
    v->g = g;
    if (!tab_alloc(&v->cur, g->centre_count) || !tab_alloc(&v->next, g->centre_count)) {
        gov_free(v);
        return NULL;
    }
    tab_from_genesis(&v->cur, g);
    tab_from_genesis(&v->next, g);
    return v;
}

void gov_free(certa_gov *v)
{
    if (v == NULL)
        return;
    tab_free(&v->cur);
    tab_free(&v->next);
    free(v);
}

/* Index of centre id, or -1: genesis's (sorted) are 0 .. centre_count - 1,
 * an added one is centre_count + its place among the added. Open or not. */
static int centre_index(const gov_tab *t, uint16_t id)
{
    uint32_t lo = 0, hi = t->centre_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->centre_ids[mid] == id)
            return (int)mid;
        if (t->centre_ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (uint32_t i = 0; i < t->added_count; i++)
        if (t->added[i].id == id)
            return (int)(t->centre_count + i);
    return -1;
}

/* The counters of centre index c (as centre_index gives). */
static uint16_t *counters_of(gov_tab *t, int c)
{
    CERTA_ASSERT(c >= 0 && (uint32_t)c < t->centre_count + t->added_count);
    return (uint32_t)c < t->centre_count ? &t->counters[c]
                                         : &t->added[(uint32_t)c - t->centre_count].counters;
}

static uint16_t counters_at(const gov_tab *t, int c)
{
    CERTA_ASSERT(c >= 0 && (uint32_t)c < t->centre_count + t->added_count);
    return (uint32_t)c < t->centre_count ? t->counters[c]
                                         : t->added[(uint32_t)c - t->centre_count].counters;
}

static bool closed_has(const gov_tab *t, uint32_t key)
{
    uint32_t lo = 0, hi = t->closed_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->closed[mid] == key)
            return true;
        if (t->closed[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Position of key in the catalogue, or where it would go (*found false). */
static uint32_t cat_find(const gov_tab *t, uint64_t key, bool *found)
{
    uint32_t lo = 0, hi = t->cat_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->cat[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < t->cat_count && t->cat[lo].key == key;
    return lo;
}

static uint64_t cat_key(uint16_t centre, uint32_t matter)
{
    return (uint64_t)centre << 32 | matter;
}

static int council_pos(const gov_tab *t, uint16_t integrator)
{
    for (uint32_t i = 0; i < t->council_count; i++)
        if (t->council[i] == integrator)
            return (int)i;
    return -1;
}

const certa_gov_integrator *gov_integrator(const certa_gov *v, uint32_t idx)
{
    return idx < v->cur.integ_count ? &v->cur.integ[idx] : NULL;
}

uint32_t gov_integrator_count(const certa_gov *v) { return v->cur.integ_count; }

uint16_t gov_counters(const certa_gov *v, uint16_t centre)
{
    int c = centre_index(&v->cur, centre);
    return c < 0 ? 0 : counters_at(&v->cur, c);
}

static bool centre_closed(const gov_tab *t, uint16_t centre)
{
    return closed_has(t, (uint32_t)centre << 16);
}

bool gov_centre_open(const certa_gov *v, uint16_t centre)
{
    return centre_index(&v->cur, centre) >= 0 && !centre_closed(&v->cur, centre);
}

bool gov_counter_open(const certa_gov *v, uint16_t centre, uint16_t counter)
{
    return counter >= 1 && counter <= gov_counters(v, centre) &&
           !closed_has(&v->cur, (uint32_t)centre << 16 | counter) &&
           !centre_closed(&v->cur, centre);
}

uint32_t gov_centre_count(const certa_gov *v)
{
    return v->cur.centre_count + v->cur.added_count;
}

bool gov_centre_at(const certa_gov *v, uint32_t i, certa_gov_centre *out)
{
    const gov_tab *t = &v->cur;
    if (i >= t->centre_count + t->added_count)
        return false;
    memset(out, 0, sizeof *out);
    if (i < t->centre_count) {
        const certa_centre_info *ci = &v->g->centres[i];
        out->id = ci->id;
        memcpy(out->name, ci->name, sizeof out->name);
    } else {
        const struct added_centre *a = &t->added[i - t->centre_count];
        out->id = a->id;
        memcpy(out->name, a->name, sizeof out->name);
        out->added = true;
    }
    out->counters = counters_at(t, (int)i);
    out->open = !centre_closed(t, out->id);
    return true;
}

uint32_t gov_catalogue_count(const certa_gov *v) { return v->cur.cat_count; }

bool gov_catalogue_at(const certa_gov *v, uint32_t i, uint16_t *centre, uint32_t *matter,
                      uint32_t *allowed, uint32_t *required)
{
    if (i >= v->cur.cat_count)
        return false;
    const struct cat_entry *e = &v->cur.cat[i];
    *centre = (uint16_t)(e->key >> 32);
    *matter = (uint32_t)e->key;
    *allowed = e->allowed;
    *required = e->required;
    return true;
}

bool gov_catalogue(const certa_gov *v, uint16_t centre, uint32_t matter, uint32_t *allowed,
                   uint32_t *required)
{
    if (v->cur.cat_count == 0) /* the common case: nothing governed */
        return false;
    bool found;
    uint32_t i = cat_find(&v->cur, cat_key(centre, matter), &found);
    if (!found)
        return false;
    *allowed = v->cur.cat[i].allowed;
    *required = v->cur.cat[i].required;
    return true;
}

uint64_t gov_param(const certa_gov *v, unsigned param)
{
    return param > 0 && param < CERTA_GP_COUNT ? v->cur.params[param] : 0;
}

void gov_council(const certa_gov *v, certa_gov_council *out)
{
    memset(out, 0, sizeof *out);
    out->count = v->cur.council_count;
    memcpy(out->members, v->cur.council, sizeof out->members);
    out->threshold = v->cur.threshold;
}

uint32_t gov_proposal_count(const certa_gov *v) { return v->prop_count; }

const certa_gov_proposal *gov_proposal_at(const certa_gov *v, uint32_t i)
{
    return i < v->prop_count ? &v->props[i] : NULL;
}

uint64_t gov_generation(const certa_gov *v) { return v->generation; }

/* ------------------------------------------------------------ changes */

/* Which fields of a propose each change type uses; the others must be
 * zero (else the proposal is malformed). */
enum { U_INTEGRATOR = 1, U_CENTRE = 2, U_COUNTER = 4, U_ROLE = 8, U_PARAM = 16,
       U_VALUE = 32, U_PUB = 64, U_NAME = 128, U_MATTER = 256 };

static unsigned change_uses(unsigned change)
{
    switch (change) {
    case CERTA_GC_COUNCIL_ADD:
    case CERTA_GC_COUNCIL_REMOVE:
    case CERTA_GC_INTEGRATOR_SUSPEND:
    case CERTA_GC_INTEGRATOR_RESUME:
    case CERTA_GC_INTEGRATOR_REMOVE: return U_INTEGRATOR;
    case CERTA_GC_COUNCIL_THRESHOLD: return U_VALUE;
    case CERTA_GC_INTEGRATOR_ADD: return U_CENTRE | U_ROLE | U_PUB | U_NAME;
    case CERTA_GC_INTEGRATOR_ROTATE: return U_INTEGRATOR | U_PUB;
    case CERTA_GC_COUNTER_ADD: return U_CENTRE;
    case CERTA_GC_COUNTER_CLOSE: return U_CENTRE | U_COUNTER;
    case CERTA_GC_CENTRE_ADD: return U_CENTRE | U_VALUE | U_NAME;
    case CERTA_GC_CENTRE_CLOSE: return U_CENTRE;
    case CERTA_GC_PARAM_SET: return U_PARAM | U_VALUE;
    case CERTA_GC_CATALOGUE_SET: return U_CENTRE | U_MATTER | U_VALUE;
    default: return 0;
    }
}

static bool zero_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

static bool unused_zero(const certa_gov_body *b)
{
    unsigned u = change_uses(b->change);
    return ((u & U_INTEGRATOR) || b->integrator == 0) && ((u & U_CENTRE) || b->centre == 0) &&
           ((u & U_COUNTER) || b->counter == 0) && ((u & U_ROLE) || b->role == 0) &&
           ((u & U_PARAM) || b->param == 0) && ((u & U_VALUE) || b->value == 0) &&
           ((u & U_MATTER) || b->matter == 0) &&
           ((u & U_PUB) || zero_bytes(b->pub, sizeof b->pub)) &&
           ((u & U_NAME) || zero_bytes(b->name, sizeof b->name));
}

/* A key no integrator ever had (removed ones included), not all zero (a
 * forgotten field) and that parses. */
static certa_result check_new_key(const gov_tab *t, const uint8_t pub[CERTA_PUBKEY_BYTES])
{
    if (zero_bytes(pub, CERTA_PUBKEY_BYTES))
        return CERTA_R_GOV_BAD_KEY;
    for (uint32_t i = 0; i < t->integ_count; i++)
        if (memcmp(t->integ[i].pub, pub, CERTA_PUBKEY_BYTES) == 0)
            return CERTA_R_GOV_KEY_IN_USE;
    certa_pubkey *pk = NULL;
    if (certa_pubkey_from_raw(pub, &pk, NULL) != CERTA_OK)
        return CERTA_R_GOV_BAD_KEY;
    certa_pubkey_free(pk);
    return CERTA_R_OK;
}

/* An integrator name as genesis accepts one: [A-Za-z0-9_.-], 1..63 bytes. */
static bool name_ok(const char *name)
{
    size_t n = strnlen(name, CERTA_GOV_NAME_BYTES);
    if (n == 0 || n >= CERTA_GOV_NAME_BYTES)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.'))
            return false;
    }
    return true;
}

static certa_result check_integrator_add(const certa_gov *v, const certa_gov_body *b)
{
    const gov_tab *t = &v->next;
    if (t->integ_count >= CERTA_INTEGRATORS_MAX)
        return CERTA_R_GOV_FULL;
    if (!name_ok(b->name) || b->role < CERTA_ROLE_APP || b->role > CERTA_ROLE_ADMIN)
        return CERTA_R_GOV_BAD_TARGET;
    for (uint32_t i = 0; i < t->integ_count; i++)
        if (strncmp(t->integ[i].name, b->name, CERTA_NAME_BYTES) == 0)
            return CERTA_R_GOV_BAD_TARGET;
    if ((b->role == CERTA_ROLE_COUNTER) != (b->centre != 0) ||
        (b->centre != 0 && (centre_index(t, b->centre) < 0 || centre_closed(t, b->centre))))
        return CERTA_R_GOV_BAD_TARGET;
    return check_new_key(t, b->pub);
}

/* A centre's name: 1..63 bytes, no control character (the event codec
 * admits printable ASCII only; spaces are fine, as in genesis names). */
static bool centre_name_ok(const char *name)
{
    size_t n = strnlen(name, CERTA_GOV_NAME_BYTES);
    if (n == 0 || n >= CERTA_GOV_NAME_BYTES)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    return true;
}

/* A new centre: an id no centre ever had (closed ones included), a name
 * no centre has, 1..CERTA_GOV_COUNTERS_MAX counters, and room. */
static certa_result check_centre_add(const certa_gov *v, const certa_gov_body *b)
{
    const gov_tab *t = &v->next;
    if (b->centre == 0 || centre_index(t, b->centre) >= 0 || b->value < 1 ||
        b->value > CERTA_GOV_COUNTERS_MAX || !centre_name_ok(b->name))
        return CERTA_R_GOV_BAD_TARGET;
    for (uint32_t i = 0; i < t->centre_count; i++)
        if (strncmp(v->g->centres[i].name, b->name, CERTA_NAME_BYTES) == 0)
            return CERTA_R_GOV_BAD_TARGET;
    for (uint32_t i = 0; i < t->added_count; i++)
        if (strncmp(t->added[i].name, b->name, CERTA_NAME_BYTES) == 0)
            return CERTA_R_GOV_BAD_TARGET;
    return t->added_count < CERTA_GOV_CENTRES_ADDED_MAX ? CERTA_R_OK : CERTA_R_GOV_FULL;
}

/* Inserts key into the sorted closed list (room checked before). */
static void closed_insert(gov_tab *t, uint32_t key)
{
    CERTA_ASSERT(t->closed_count < CERTA_GOV_CLOSED_MAX && !closed_has(t, key));
    uint32_t i = t->closed_count;
    while (i > 0 && t->closed[i - 1] > key) {
        t->closed[i] = t->closed[i - 1];
        i--;
    }
    t->closed[i] = key;
    t->closed_count++;
}

/* A catalogue entry: the centre and the matter exist; the allowed types
 * are the matter's (genesis) or fewer; the required ones are allowed. */
static certa_result check_catalogue(const certa_gov *v, const certa_gov_body *b)
{
    const gov_tab *t = &v->next;
    uint32_t allowed = (uint32_t)b->value, required = (uint32_t)(b->value >> 32);
    const certa_matter_info *m = certa_genesis_matter(v->g, b->matter);
    if (centre_index(t, b->centre) < 0 || m == NULL || (allowed & ~m->licence_types) != 0 ||
        (required & ~allowed) != 0)
        return CERTA_R_GOV_BAD_TARGET;
    bool found;
    cat_find(t, cat_key(b->centre, b->matter), &found);
    if (!found && t->cat_count == CERTA_GOV_CATALOGUE_MAX)
        return CERTA_R_GOV_FULL;
    return CERTA_R_OK;
}

/* Sets (or, back to the genesis default, drops) a catalogue entry. */
static void apply_catalogue(gov_tab *t, const certa_gov_body *b, const certa_genesis *g)
{
    uint32_t allowed = (uint32_t)b->value, required = (uint32_t)(b->value >> 32);
    const certa_matter_info *m = certa_genesis_matter(g, b->matter);
    CERTA_ASSERT(m != NULL);
    bool found;
    uint32_t i = cat_find(t, cat_key(b->centre, b->matter), &found);
    bool is_default = allowed == m->licence_types && required == 0;
    if (found && is_default) {
        memmove(&t->cat[i], &t->cat[i + 1], (t->cat_count - i - 1) * sizeof t->cat[0]);
        t->cat_count--;
    } else if (found) {
        t->cat[i].allowed = allowed, t->cat[i].required = required;
    } else if (!is_default) {
        CERTA_ASSERT(t->cat_count < CERTA_GOV_CATALOGUE_MAX);
        memmove(&t->cat[i + 1], &t->cat[i], (t->cat_count - i) * sizeof t->cat[0]);
        t->cat[i] = (struct cat_entry){cat_key(b->centre, b->matter), allowed, required};
        t->cat_count++;
    }
}

/* Whether the change can take effect on the next tables; the result names
 * why not. */
static certa_result check_change(const certa_gov *v, const certa_gov_body *b)
{
    const gov_tab *t = &v->next;
    CERTA_ASSERT(b->op == CERTA_GOV_PROPOSE);
    if (b->change == 0 || b->change >= CERTA_GC_COUNT)
        return CERTA_R_GOV_UNKNOWN_CHANGE;
    if (!unused_zero(b))
        return CERTA_R_MALFORMED;
    const certa_gov_integrator *it = b->integrator < t->integ_count ? &t->integ[b->integrator]
                                                                    : NULL;
    bool member = council_pos(t, b->integrator) >= 0;
    int c = centre_index(t, b->centre);
    switch (b->change) {
    case CERTA_GC_COUNCIL_ADD:
        if (it == NULL || it->role != CERTA_ROLE_ADMIN || it->status != CERTA_IS_ACTIVE || member)
            return CERTA_R_GOV_BAD_TARGET;
        return t->council_count < CERTA_COUNCIL_MAX ? CERTA_R_OK : CERTA_R_GOV_FULL;
    case CERTA_GC_COUNCIL_REMOVE:
        if (!member)
            return CERTA_R_GOV_BAD_TARGET;
        return t->council_count - 1 >= t->threshold && t->council_count > 1
                   ? CERTA_R_OK
                   : CERTA_R_GOV_BAD_THRESHOLD;
    case CERTA_GC_COUNCIL_THRESHOLD:
        return b->value >= 1 && b->value <= t->council_count ? CERTA_R_OK
                                                             : CERTA_R_GOV_BAD_THRESHOLD;
    case CERTA_GC_INTEGRATOR_ADD:
        return check_integrator_add(v, b);
    case CERTA_GC_INTEGRATOR_SUSPEND:
    case CERTA_GC_INTEGRATOR_REMOVE:
        /* a member leaves the council first: the council never counts on
         * a key that cannot sign */
        if (it == NULL || member || it->status == CERTA_IS_REMOVED ||
            (b->change == CERTA_GC_INTEGRATOR_SUSPEND && it->status != CERTA_IS_ACTIVE))
            return CERTA_R_GOV_BAD_TARGET;
        return CERTA_R_OK;
    case CERTA_GC_INTEGRATOR_RESUME:
        return it != NULL && it->status == CERTA_IS_SUSPENDED ? CERTA_R_OK
                                                               : CERTA_R_GOV_BAD_TARGET;
    case CERTA_GC_INTEGRATOR_ROTATE:
        if (it == NULL || it->status == CERTA_IS_REMOVED)
            return CERTA_R_GOV_BAD_TARGET;
        return check_new_key(t, b->pub);
    case CERTA_GC_COUNTER_ADD:
        return c >= 0 && !centre_closed(t, b->centre) && counters_at(t, c) < UINT16_MAX
                   ? CERTA_R_OK
                   : CERTA_R_GOV_BAD_TARGET;
    case CERTA_GC_COUNTER_CLOSE:
        if (c < 0 || b->counter == 0 || b->counter > counters_at(t, c) ||
            centre_closed(t, b->centre) || closed_has(t, (uint32_t)b->centre << 16 | b->counter))
            return CERTA_R_GOV_BAD_TARGET;
        return t->closed_count < CERTA_GOV_CLOSED_MAX ? CERTA_R_OK : CERTA_R_GOV_FULL;
    case CERTA_GC_CENTRE_ADD:
        return check_centre_add(v, b);
    case CERTA_GC_CENTRE_CLOSE:
        if (c < 0 || centre_closed(t, b->centre))
            return CERTA_R_GOV_BAD_TARGET;
        return t->closed_count < CERTA_GOV_CLOSED_MAX ? CERTA_R_OK : CERTA_R_GOV_FULL;
    case CERTA_GC_CATALOGUE_SET:
        return check_catalogue(v, b);
    default: { /* param_set */
        uint64_t lo, hi;
        if (!certa_gov_param_range(b->param, &lo, &hi) || b->value < lo || b->value > hi)
            return CERTA_R_GOV_PARAM_RANGE;
        /* the view timer must outlast a block's batching (as genesis) */
        uint64_t block_to = t->params[CERTA_GP_BLOCK_TIMEOUT_MS],
                 view_to = t->params[CERTA_GP_VIEW_TIMEOUT_MS];
        if ((b->param == CERTA_GP_BLOCK_TIMEOUT_MS && view_to != 0 && b->value >= view_to) ||
            (b->param == CERTA_GP_VIEW_TIMEOUT_MS && b->value <= block_to))
            return CERTA_R_GOV_PARAM_RANGE;
        /* the rules only move forward: results once committed stay */
        if (b->param == CERTA_GP_RULES && b->value <= t->params[CERTA_GP_RULES])
            return CERTA_R_GOV_PARAM_RANGE;
        return CERTA_R_OK;
    }
    }
}

/* Applies a checked change to the next tables: in force from block
 * height + 1. */
static void apply_change(certa_gov *v, uint64_t height, const certa_gov_body *b)
{
    gov_tab *t = &v->next;
    CERTA_ASSERT(check_change(v, b) == CERTA_R_OK);
    certa_gov_integrator *it = b->integrator < t->integ_count ? &t->integ[b->integrator] : NULL;
    int c = centre_index(t, b->centre);
    switch (b->change) {
    case CERTA_GC_COUNCIL_ADD:
        t->council[t->council_count++] = b->integrator;
        break;
    case CERTA_GC_COUNCIL_REMOVE: {
        int p = council_pos(t, b->integrator);
        CERTA_ASSERT(p >= 0);
        memmove(&t->council[p], &t->council[p + 1],
                (t->council_count - (uint32_t)p - 1) * sizeof *t->council);
        t->council[--t->council_count] = 0;
        break;
    }
    case CERTA_GC_COUNCIL_THRESHOLD:
        t->threshold = (uint32_t)b->value;
        break;
    case CERTA_GC_INTEGRATOR_ADD: {
        certa_gov_integrator *n = &t->integ[t->integ_count++];
        memset(n, 0, sizeof *n);
        memcpy(n->name, b->name, CERTA_GOV_NAME_BYTES < CERTA_NAME_BYTES ? CERTA_GOV_NAME_BYTES
                                                                        : CERTA_NAME_BYTES);
        n->role = b->role;
        n->centre = b->centre;
        memcpy(n->pub, b->pub, CERTA_PUBKEY_BYTES);
        n->key_since = height + 1;
        break;
    }
    case CERTA_GC_INTEGRATOR_SUSPEND:
        it->status = CERTA_IS_SUSPENDED;
        break;
    case CERTA_GC_INTEGRATOR_RESUME:
        it->status = CERTA_IS_ACTIVE;
        break;
    case CERTA_GC_INTEGRATOR_REMOVE:
        it->status = CERTA_IS_REMOVED;
        break;
    case CERTA_GC_INTEGRATOR_ROTATE:
        memcpy(it->pub, b->pub, CERTA_PUBKEY_BYTES);
        it->key_since = height + 1;
        break;
    case CERTA_GC_COUNTER_ADD:
        (*counters_of(t, c))++;
        break;
    case CERTA_GC_COUNTER_CLOSE:
        closed_insert(t, (uint32_t)b->centre << 16 | b->counter);
        break;
    case CERTA_GC_CENTRE_ADD: {
        struct added_centre *a = &t->added[t->added_count++];
        memset(a, 0, sizeof *a);
        a->id = b->centre;
        a->counters = (uint16_t)b->value;
        memcpy(a->name, b->name, CERTA_GOV_NAME_BYTES < CERTA_NAME_BYTES ? CERTA_GOV_NAME_BYTES
                                                                        : CERTA_NAME_BYTES);
        break;
    }
    case CERTA_GC_CENTRE_CLOSE:
        closed_insert(t, (uint32_t)b->centre << 16);
        break;
    case CERTA_GC_CATALOGUE_SET:
        apply_catalogue(t, b, v->g);
        break;
    default:
        CERTA_ASSERT(b->change == CERTA_GC_PARAM_SET);
        t->params[b->param] = b->value;
        t->params_changed |= b->param >= GP_SER_V1 && b->param < GP_SER_V2;
        break;
    }
    v->next_dirty = true;
    v->generation++;
}

/* ------------------------------------------------------------ proposals */

static int prop_find(const certa_gov *v, const uint8_t digest[CERTA_HASH_BYTES])
{
    for (uint32_t i = 0; i < v->prop_count; i++)
        if (memcmp(v->props[i].digest, digest, CERTA_HASH_BYTES) == 0)
            return (int)i;
    return -1;
}

static void prop_drop(certa_gov *v, uint32_t i)
{
    CERTA_ASSERT(i < v->prop_count);
    memmove(&v->props[i], &v->props[i + 1], (v->prop_count - i - 1) * sizeof v->props[0]);
    v->prop_count--;
    v->digest_valid = false;
}

/* Approvals of proposal i by members of the current council. */
static uint32_t live_approvals(const certa_gov *v, uint32_t i)
{
    uint32_t n = 0;
    for (uint32_t a = 0; a < v->props[i].approval_count; a++)
        if (council_pos(&v->cur, v->props[i].approvals[a]) >= 0)
            n++;
    return n;
}

/* Proposal i reached the threshold, or not yet: applies it (or drops it
 * with the reason its final check gives). */
static certa_result maybe_enact(certa_gov *v, uint64_t height, uint32_t i)
{
    if (live_approvals(v, i) < v->cur.threshold)
        return CERTA_R_OK;
    certa_gov_body b = v->props[i].change;
    certa_result r = check_change(v, &b);
    if (r == CERTA_R_OK)
        apply_change(v, height, &b);
    prop_drop(v, i);
    return r;
}

static certa_result propose(certa_gov *v, uint64_t height, uint64_t now_ms, uint16_t who,
                            const certa_event *ev)
{
    const certa_gov_body *b = &ev->gov;
    if (b->expires_ms <= now_ms)
        return CERTA_R_GOV_EXPIRED;
    uint8_t digest[CERTA_HASH_BYTES];
    certa_err e = certa_gov_proposal_digest(ev, digest, NULL);
    CERTA_ASSERT(e == CERTA_OK); /* it decoded, so it encodes */
    (void)e;
    if (prop_find(v, digest) >= 0)
        return CERTA_R_GOV_PROPOSAL_EXISTS;
    certa_result r = check_change(v, b);
    if (r != CERTA_R_OK)
        return r;
    if (v->prop_count == CERTA_GOV_PROPOSALS_MAX) /* room: forget expired ones */
        for (uint32_t i = v->prop_count; i-- > 0;)
            if (v->props[i].change.expires_ms <= now_ms)
                prop_drop(v, i);
    if (v->prop_count == CERTA_GOV_PROPOSALS_MAX)
        return CERTA_R_GOV_FULL;
    certa_gov_proposal *p = &v->props[v->prop_count++];
    memset(p, 0, sizeof *p);
    memcpy(p->digest, digest, CERTA_HASH_BYTES);
    p->change = *b;
    p->proposer = who;
    p->proposed_height = height;
    p->approvals[p->approval_count++] = who;
    v->digest_valid = false;
    return maybe_enact(v, height, v->prop_count - 1);
}

static certa_result approve(certa_gov *v, uint64_t height, uint64_t now_ms, uint16_t who,
                            const certa_gov_body *b)
{
    int i = prop_find(v, b->proposal);
    if (i < 0)
        return CERTA_R_GOV_UNKNOWN_PROPOSAL;
    certa_gov_proposal *p = &v->props[i];
    if (p->change.expires_ms <= now_ms)
        return CERTA_R_GOV_EXPIRED;
    for (uint32_t a = 0; a < p->approval_count; a++)
        if (p->approvals[a] == who)
            return CERTA_R_GOV_DUPLICATE_APPROVAL;
    /* A long-open proposal may have collected approvals of members the
     * council has since removed: only current ones count, so those go
     * when room is needed (who is a member and not among the rest, so at
     * most CERTA_COUNCIL_MAX - 1 remain). */
    if (p->approval_count == CERTA_COUNCIL_MAX) {
        uint32_t k = 0;
        for (uint32_t a = 0; a < p->approval_count; a++)
            if (council_pos(&v->cur, p->approvals[a]) >= 0)
                p->approvals[k++] = p->approvals[a];
        p->approval_count = k;
    }
    CERTA_ASSERT(p->approval_count < CERTA_COUNCIL_MAX);
    p->approvals[p->approval_count++] = who;
    v->digest_valid = false;
    return maybe_enact(v, height, (uint32_t)i);
}

certa_result gov_apply(certa_gov *v, uint64_t height, uint64_t now_ms, uint16_t integrator,
                       const certa_event *ev)
{
    CERTA_ASSERT(ev->kind == CERTA_EV_GOVERN);
    CERTA_ASSERT(integrator < v->cur.integ_count);
    if (council_pos(&v->cur, integrator) < 0)
        return CERTA_R_GOV_NOT_MEMBER;
    if (ev->gov.op == CERTA_GOV_PROPOSE)
        return propose(v, height, now_ms, integrator, ev);
    return approve(v, height, now_ms, integrator, &ev->gov);
}

void gov_end_block(certa_gov *v)
{
    if (!v->next_dirty)
        return;
    tab_copy(&v->cur, &v->next);
    v->next_dirty = false;
    v->digest_valid = false;
}

/* ------------------------------------------------------------ serial form */

typedef struct ser {
    uint8_t *p;
    size_t len, cap;
    bool failed;
} ser;

static void put(ser *w, const void *p, size_t n)
{
    if (w->failed)
        return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *q = realloc(w->p, cap);
        if (q == NULL) {
            w->failed = true;
            return;
        }
        w->p = q, w->cap = cap;
    }
    memcpy(w->p + w->len, p, n);
    w->len += n;
}

static void put16(ser *w, uint16_t x)
{
    uint8_t b[2];
    certa_put_le16(b, x);
    put(w, b, 2);
}

static void put32(ser *w, uint32_t x)
{
    uint8_t b[4];
    certa_put_le32(b, x);
    put(w, b, 4);
}

static void put64(ser *w, uint64_t x)
{
    uint8_t b[8];
    certa_put_le64(b, x);
    put(w, b, 8);
}

static void put_body(ser *w, const certa_gov_body *b)
{
    uint8_t buf[8];
    buf[0] = b->op, buf[1] = b->change, buf[2] = b->role, buf[3] = b->param;
    put(w, buf, 4);
    put16(w, b->integrator), put16(w, b->centre), put16(w, b->counter), put16(w, b->reserved);
    put32(w, b->matter), put64(w, b->value), put64(w, b->expires_ms);
    put(w, b->pub, sizeof b->pub), put(w, b->name, sizeof b->name);
    put(w, b->proposal, sizeof b->proposal);
}

/* Layout (all little-endian): magic, version, integrators (name[64], role,
 * status, centre, pub, key_since), centres (count, then counters each),
 * closed counters, council (count, members, threshold), params, catalogue
 * entries (u64 centre << 32 | matter, u32 allowed, u32 required, sorted),
 * proposals (digest, body, proposer, height, approvals). */
bool gov_serialize(const certa_gov *v, uint8_t **out, size_t *len)
{
    const gov_tab *t = &v->cur;
    CERTA_ASSERT(!v->next_dirty); /* between blocks */
    ser w = {0};
    put32(&w, GOV_SER_MAGIC), put32(&w, GOV_SER_VERSION);
    put32(&w, t->integ_count);
    for (uint32_t i = 0; i < t->integ_count; i++) {
        const certa_gov_integrator *it = &t->integ[i];
        uint8_t rs[2] = {it->role, it->status};
        put(&w, it->name, sizeof it->name), put(&w, rs, 2), put16(&w, it->centre);
        put(&w, it->pub, sizeof it->pub), put64(&w, it->key_since);
    }
    put32(&w, t->centre_count);
    for (uint32_t i = 0; i < t->centre_count; i++)
        put16(&w, t->counters[i]);
    put32(&w, t->closed_count);
    for (uint32_t i = 0; i < t->closed_count; i++)
        put32(&w, t->closed[i]);
    put32(&w, t->council_count);
    for (uint32_t i = 0; i < t->council_count; i++)
        put16(&w, t->council[i]);
    put32(&w, t->threshold);
    for (unsigned p = 1; p < GP_SER_V1; p++)
        put64(&w, t->params[p]);
    put32(&w, t->cat_count);
    for (uint32_t i = 0; i < t->cat_count; i++)
        put64(&w, t->cat[i].key), put32(&w, t->cat[i].allowed), put32(&w, t->cat[i].required);
    put32(&w, v->prop_count);
    for (uint32_t i = 0; i < v->prop_count; i++) {
        const certa_gov_proposal *p = &v->props[i];
        put(&w, p->digest, sizeof p->digest), put_body(&w, &p->change);
        put16(&w, p->proposer), put64(&w, p->proposed_height), put32(&w, p->approval_count);
        for (uint32_t a = 0; a < p->approval_count; a++)
            put16(&w, p->approvals[a]);
    }
    put64(&w, v->generation);
    /* Tagged sections, each only when it holds something, so that the
     * form (and the digest) of a chain that never used these changes is
     * the same as before they existed. 1: centres the council opened. */
    if (t->added_count > 0) {
        put32(&w, GOV_SER_TAG_CENTRES), put32(&w, t->added_count);
        for (uint32_t i = 0; i < t->added_count; i++)
            put16(&w, t->added[i].id), put16(&w, t->added[i].counters),
                put(&w, t->added[i].name, sizeof t->added[i].name);
    }
    /* 2: the later parameters, once one differs from genesis's */
    if (t->params_changed) {
        put32(&w, GOV_SER_TAG_PARAMS), put32(&w, GP_SER_V2 - GP_SER_V1);
        for (unsigned p = GP_SER_V1; p < GP_SER_V2; p++)
            put64(&w, t->params[p]);
    }
    /* 3: the rules version, once above 1 */
    if (t->params[CERTA_GP_RULES] > 1)
        put32(&w, GOV_SER_TAG_RULES), put64(&w, t->params[CERTA_GP_RULES]);
    if (w.failed) {
        free(w.p);
        return false;
    }
    *out = w.p, *len = w.len;
    return true;
}

typedef struct des {
    const uint8_t *p;
    size_t len, off;
    bool failed;
} des;

static const uint8_t *get(des *r, size_t n)
{
    if (r->failed || r->len - r->off < n) {
        r->failed = true;
        return NULL;
    }
    const uint8_t *q = r->p + r->off;
    r->off += n;
    return q;
}

static void get_bytes(des *r, void *out, size_t n)
{
    const uint8_t *q = get(r, n);
    if (q != NULL)
        memcpy(out, q, n);
    else
        memset(out, 0, n);
}

static uint16_t get16(des *r)
{
    const uint8_t *q = get(r, 2);
    return q ? certa_get_le16(q) : 0;
}

static uint32_t get32(des *r)
{
    const uint8_t *q = get(r, 4);
    return q ? certa_get_le32(q) : 0;
}

static uint64_t get64(des *r)
{
    const uint8_t *q = get(r, 8);
    return q ? certa_get_le64(q) : 0;
}

static void get_body(des *r, certa_gov_body *b)
{
    uint8_t h[4];
    get_bytes(r, h, 4);
    b->op = h[0], b->change = h[1], b->role = h[2], b->param = h[3];
    b->integrator = get16(r), b->centre = get16(r), b->counter = get16(r);
    b->reserved = get16(r);
    b->matter = get32(r), b->value = get64(r), b->expires_ms = get64(r);
    get_bytes(r, b->pub, sizeof b->pub), get_bytes(r, b->name, sizeof b->name);
    get_bytes(r, b->proposal, sizeof b->proposal);
}

/* The tables part of the serial form into t (allocated for v's genesis). */
static bool des_tables(des *r, const certa_gov *v, gov_tab *t)
{
    t->integ_count = get32(r);
    if (t->integ_count > CERTA_INTEGRATORS_MAX || t->integ_count < v->g->integrator_count)
        return false;
    for (uint32_t i = 0; i < t->integ_count && !r->failed; i++) {
        certa_gov_integrator *it = &t->integ[i];
        uint8_t rs[2];
        get_bytes(r, it->name, sizeof it->name), get_bytes(r, rs, 2);
        it->role = rs[0], it->status = rs[1], it->centre = get16(r);
        get_bytes(r, it->pub, sizeof it->pub), it->key_since = get64(r);
        if (it->status > CERTA_IS_REMOVED || it->name[CERTA_NAME_BYTES - 1] != '\0')
            return false;
    }
    if (get32(r) != v->g->centre_count)
        return false;
    t->centre_count = v->g->centre_count;
    for (uint32_t i = 0; i < t->centre_count; i++) {
        t->centre_ids[i] = v->g->centres[i].id;
        t->counters[i] = get16(r);
    }
    t->closed_count = get32(r);
    if (t->closed_count > CERTA_GOV_CLOSED_MAX)
        return false;
    for (uint32_t i = 0; i < t->closed_count; i++) {
        t->closed[i] = get32(r);
        if (i > 0 && t->closed[i] <= t->closed[i - 1])
            return false;
    }
    t->council_count = get32(r);
    if (t->council_count > CERTA_COUNCIL_MAX)
        return false;
    memset(t->council, 0, sizeof t->council);
    for (uint32_t i = 0; i < t->council_count; i++)
        if ((t->council[i] = get16(r)) >= t->integ_count)
            return false;
    t->threshold = get32(r);
    if (t->council_count > 0 && (t->threshold < 1 || t->threshold > t->council_count))
        return false;
    for (unsigned p = 1; p < GP_SER_V1; p++)
        t->params[p] = get64(r);
    t->cat_count = get32(r);
    if (t->cat_count > CERTA_GOV_CATALOGUE_MAX)
        return false;
    for (uint32_t i = 0; i < t->cat_count; i++) {
        t->cat[i].key = get64(r), t->cat[i].allowed = get32(r), t->cat[i].required = get32(r);
        if (i > 0 && t->cat[i].key <= t->cat[i - 1].key)
            return false;
    }
    return !r->failed;
}

/* The later parameters: as many as this version knows, each in range. */
static bool des_params(des *r, gov_tab *t)
{
    if (get32(r) != GP_SER_V2 - GP_SER_V1)
        return false;
    for (unsigned p = GP_SER_V1; p < GP_SER_V2; p++) {
        uint64_t lo, hi;
        t->params[p] = get64(r);
        bool ok = certa_gov_param_range(p, &lo, &hi);
        CERTA_ASSERT(ok);
        if (t->params[p] != 0 && (t->params[p] < lo || t->params[p] > hi))
            return false;
    }
    t->params_changed = true;
    return !r->failed;
}

/* The added centres: 1..CERTA_GOV_CENTRES_ADDED_MAX, ids unused by genesis
 * and by each other, names as centre_add takes them. */
static bool des_added(des *r, const certa_gov *v, gov_tab *t)
{
    t->added_count = get32(r);
    if (t->added_count < 1 || t->added_count > CERTA_GOV_CENTRES_ADDED_MAX)
        return false;
    for (uint32_t i = 0; i < t->added_count && !r->failed; i++) {
        struct added_centre *a = &t->added[i];
        a->id = get16(r), a->counters = get16(r);
        get_bytes(r, a->name, sizeof a->name);
        if (a->id == 0 || certa_genesis_centre(v->g, a->id) != NULL || a->counters == 0 ||
            a->name[CERTA_NAME_BYTES - 1] != '\0' || !centre_name_ok(a->name))
            return false;
        for (uint32_t j = 0; j < i; j++)
            if (t->added[j].id == a->id)
                return false;
    }
    return !r->failed;
}

bool gov_deserialize(certa_gov *v, const uint8_t *in, size_t len)
{
    CERTA_ASSERT(!v->next_dirty);
    des r = {.p = in, .len = len};
    if (get32(&r) != GOV_SER_MAGIC || get32(&r) != GOV_SER_VERSION)
        return false;
    certa_gov *n = gov_create(v->g);
    if (n == NULL)
        return false;
    bool ok = des_tables(&r, v, &n->cur);
    n->cur.params[CERTA_GP_RULES] = 1; /* unless section 3 says otherwise */
    n->prop_count = get32(&r);
    ok = ok && n->prop_count <= CERTA_GOV_PROPOSALS_MAX;
    for (uint32_t i = 0; ok && i < n->prop_count; i++) {
        certa_gov_proposal *p = &n->props[i];
        get_bytes(&r, p->digest, sizeof p->digest), get_body(&r, &p->change);
        p->proposer = get16(&r), p->proposed_height = get64(&r);
        p->approval_count = get32(&r);
        ok = p->change.op == CERTA_GOV_PROPOSE && p->approval_count >= 1 &&
             p->approval_count <= CERTA_COUNCIL_MAX;
        for (uint32_t a = 0; ok && a < p->approval_count; a++)
            p->approvals[a] = get16(&r);
    }
    n->generation = get64(&r);
    uint32_t last_tag = 0;
    while (ok && !r.failed && r.off < r.len) {
        uint32_t tag = get32(&r);
        ok = tag > last_tag; /* each at most once, in order */
        last_tag = tag;
        if (ok && tag == GOV_SER_TAG_CENTRES)
            ok = des_added(&r, v, &n->cur);
        else if (ok && tag == GOV_SER_TAG_PARAMS)
            ok = des_params(&r, &n->cur);
        else if (ok && tag == GOV_SER_TAG_RULES) {
            uint64_t rules = get64(&r);
            ok = rules >= 2 && rules <= 2;
            n->cur.params[CERTA_GP_RULES] = rules;
        } else
            ok = false;
    }
    if (!ok || r.failed || r.off != r.len) {
        gov_free(n);
        return false;
    }
    tab_copy(&n->next, &n->cur);
    /* swap the content in; v keeps its address */
    certa_gov tmp = *v;
    *v = *n;
    *n = tmp;
    gov_free(n);
    v->digest_valid = false;
    return true;
}

void gov_digest(certa_gov *v, uint8_t out[CERTA_HASH_BYTES])
{
    if (!v->digest_valid) {
        uint8_t *buf = NULL;
        size_t len = 0;
        bool ok = gov_serialize(v, &buf, &len);
        CERTA_ASSERT(ok); /* a few hundred kB at most */
        certa_sha256(buf, len, v->digest);
        free(buf);
        v->digest_valid = true;
    }
    memcpy(out, v->digest, CERTA_HASH_BYTES);
}
