/* gen: scenario -> trace of signed batches (see gen.h).
 *
 * Three passes. (1) Arrivals: for every trace hour and scenario centre, a
 * Poisson number of cases at uniform times (one RNG stream, fixed loop
 * order). (2) Every case expands into compact timed event records (16 bytes
 * each) that are sorted by (time, case, step); a case's details (matter,
 * licences, code, salt, outcome, step times) are a pure function of
 * (seed, case id, arrival), recomputed when needed instead of stored.
 * (3) Batching: the sorted events go to their integrator's open batch; a
 * batch closes when its window ends (or it is full) and is then signed and
 * written with its close time, so records come out in time order.
 * Determinism: no wall clock, no unordered container, no threads.
 */
#include "gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certa/codec.h"
#include "certa/crypto.h"

#define US_PER_S 1000000ull
#define US_PER_HOUR (3600ull * US_PER_S)
#define ONLINE UINT32_MAX

/* ---- deterministic randomness (splitmix64) ---- */
typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_u64(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rng_unit(rng *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }
/* uniform in [lo, hi] */
static uint64_t rng_range(rng *r, uint64_t lo, uint64_t hi)
{
    CERTA_ASSERT(lo <= hi);
    return lo + rng_u64(r) % (hi - lo + 1);
}

static uint64_t poisson(rng *r, double lambda)
{
    if (!(lambda > 0))
        return 0;
    if (lambda < 30) {
        double l = exp(-lambda), p = 1;
        uint64_t k = 0;
        do {
            k++;
            p *= rng_unit(r);
        } while (p > l);
        return k - 1;
    }
    double u1 = rng_unit(r) + 1e-300, u2 = rng_unit(r);
    double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
    double v = floor(lambda + sqrt(lambda) * z + 0.5);
    return v < 0 ? 0 : (uint64_t)v;
}

/* ---- the generator's view of scenario and genesis ---- */

typedef struct centre_slot {
    uint32_t group;      /* scenario group */
    uint32_t gcentre;    /* index into genesis centres */
} centre_slot;

typedef struct matter_list {
    uint32_t n;
    const certa_matter_info **m;
    double *cum; /* cumulative Zipf weights, cum[n-1] = total */
} matter_list;

typedef struct gcase {
    uint64_t t0_us;
    uint32_t centre; /* flat scenario centre, or ONLINE */
    uint32_t pad_;
} gcase;

typedef struct gevent {
    uint64_t t_us;
    uint32_t case_id;
    uint8_t step;
    uint8_t pad_[3];
} gevent;
_Static_assert(sizeof(gevent) == 16, "event record size");

enum {
    ST_GRANT = 0,
    ST_WRONG = 1,
    ST_REDEEM = 2, /* 2..5: one per licence */
    ST_CONFIRM = 6,
    ST_SIGN = 7,
    ST_PHOTO = 8,
    ST_REVOKE = 9,
    ST_COUNT = 10,
};

enum { O_NORMAL = 0, O_EXPIRED = 1, O_REVOKED = 2 };

typedef struct case_attr {
    uint8_t outcome;
    uint8_t method;
    uint8_t nlic;
    uint8_t lic[CERTA_LOAD_LICENCES_PER_CASE_MAX];
    bool online, wrong, confirm, sign, photo, revoke_after;
    const certa_matter_info *matter;
    uint16_t centre_id, counter;
    uint16_t counter_integrator;
    char code[CERTA_CODE_DIGITS], wrong_code[CERTA_CODE_DIGITS];
    uint8_t salt[CERTA_SALT_BYTES];
    uint8_t commit[CERTA_HASH_BYTES];
    uint8_t holder[CERTA_HOLDER_ID_BYTES];
    uint8_t grant_id[CERTA_GRANT_ID_BYTES];
    uint64_t t[ST_COUNT]; /* step times; 0 with has[] false when absent */
    bool has[ST_COUNT];
    uint64_t not_before_ms, not_after_ms;
} case_attr;

typedef struct obatch {
    bool open;
    uint64_t close_us;
    uint64_t seq;
    uint32_t rejects;
    uint8_t *buf;
    certa_batch_builder bb;
} obatch;

typedef struct gen {
    const certa_load_gen_opts *o;
    const certa_load_scenario *s;
    certa_genesis *g;
    uint64_t start_ms;
    uint32_t ncentres;
    centre_slot *centres;
    matter_list personal, company;
    uint16_t app;
    uint16_t *counter_of_gcentre; /* integrator index per genesis centre index */
    certa_key **keys;             /* per integrator index, loaded when first used */
    obatch *ob;                   /* per integrator index */
    gcase *cases;
    uint64_t ncases, cases_cap;
    gevent *events;
    uint64_t nevents, events_cap;
    certa_load_trace_writer *w;
    certa_load_gen_stats *st;
    uint64_t progress_last_ns;
} gen;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void progress(gen *G, const char *phase, double frac, bool force)
{
    if (!G->o->progress)
        return;
    uint64_t now = mono_ns();
    if (!force && now - G->progress_last_ns < 250000000ull)
        return;
    G->progress_last_ns = now;
    fprintf(stderr, "\rgen: %-10s %5.1f%%  cases %llu  events %llu  batches %llu   ", phase,
            100.0 * frac, (unsigned long long)G->ncases, (unsigned long long)G->nevents,
            (unsigned long long)G->st->batches);
    fflush(stderr);
}

/* Hash-derived bytes: SHA-256(tag || seed || a || b), truncated to n. */
static void derive(const char *tag, uint64_t seed, uint64_t a, uint64_t b, uint8_t *out,
                   size_t n)
{
    uint8_t buf[64], h[CERTA_HASH_BYTES];
    size_t tl = strlen(tag);
    CERTA_ASSERT(tl <= 32 && n <= CERTA_HASH_BYTES);
    memcpy(buf, tag, tl);
    memcpy(buf + tl, &seed, 8);
    memcpy(buf + tl + 8, &a, 8);
    memcpy(buf + tl + 16, &b, 8);
    certa_sha256(buf, tl + 24, h);
    memcpy(out, h, n);
}

static certa_err build_matters(gen *G, certa_errinfo *ei)
{
    for (int company = 0; company <= 1; company++) {
        matter_list *ml = company ? &G->company : &G->personal;
        ml->m = calloc(G->g->matter_count + 1, sizeof *ml->m);
        ml->cum = calloc(G->g->matter_count + 1, sizeof *ml->cum);
        if (ml->m == NULL || ml->cum == NULL)
            return certa_errorf(ei, CERTA_E_NOMEM, "gen: matters");
        double total = 0;
        for (uint32_t i = 0; i < G->g->matter_count; i++) {
            const certa_matter_info *m = &G->g->matters[i];
            if (m->company != (company == 1) || m->licence_types == 0)
                continue;
            total += 1.0 / pow((double)(ml->n + 1), G->s->matter_zipf_s);
            ml->m[ml->n] = m;
            ml->cum[ml->n] = total;
            ml->n++;
        }
        double share = company ? G->s->company_share : 1 - G->s->company_share;
        if (ml->n == 0 && share > 0)
            return certa_errorf(ei, CERTA_E_GENESIS,
                                "gen: the genesis catalogue has no %s matter with licence "
                                "types, but the scenario asks for %.0f%% of them",
                                company ? "company" : "personal", 100 * share);
    }
    return CERTA_OK;
}

static const certa_matter_info *pick_matter(const matter_list *ml, rng *r)
{
    double u = rng_unit(r) * ml->cum[ml->n - 1];
    uint32_t lo = 0, hi = ml->n - 1;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (ml->cum[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return ml->m[lo];
}

static uint32_t pick_weighted(const double *w, uint32_t n, rng *r)
{
    double u = rng_unit(r), acc = 0;
    for (uint32_t i = 0; i < n; i++) {
        acc += w[i];
        if (u < acc)
            return i;
    }
    return n - 1;
}

static uint64_t gap_us(rng *r, uint32_t lo_s, uint32_t hi_s)
{
    return rng_range(r, (uint64_t)lo_s * US_PER_S, (uint64_t)hi_s * US_PER_S);
}

/* Everything about case `id`, from (seed, id, arrival) alone. The draw order
 * is part of the trace format's determinism: append, never reorder. */
static void case_derive(const gen *G, uint32_t id, case_attr *c)
{
    const certa_load_scenario *s = G->s;
    const gcase *gc = &G->cases[id];
    memset(c, 0, sizeof *c);
    rng r = {.s = G->o->seed ^ (0xd1b54a32d192ed03ull * ((uint64_t)id + 1))};
    rng_u64(&r);
    c->online = gc->centre == ONLINE;
    bool company = rng_unit(&r) < s->company_share;
    const matter_list *ml = company ? &G->company : &G->personal;
    if (ml->n == 0)
        ml = company ? &G->personal : &G->company;
    c->matter = pick_matter(ml, &r);

    /* licences: k distinct types of the matter's mask, in a random order */
    const double *w = company ? s->company_licences : s->personal_licences;
    uint32_t want = 1 + pick_weighted(w, CERTA_LOAD_LICENCES_PER_CASE_MAX, &r);
    uint8_t types[32];
    uint32_t nt = 0;
    for (uint8_t b = 0; b < 32; b++)
        if (c->matter->licence_types & (1u << b))
            types[nt++] = b;
    for (uint32_t i = 0; i < nt; i++) { /* Fisher-Yates */
        uint32_t j = i + (uint32_t)(rng_u64(&r) % (nt - i));
        uint8_t tmp = types[i];
        types[i] = types[j];
        types[j] = tmp;
    }
    c->nlic = (uint8_t)(want < nt ? want : nt);
    memcpy(c->lic, types, c->nlic);

    double um = rng_unit(&r);
    c->method = um < s->method_code ? CERTA_METHOD_CODE
                : um < s->method_code + s->method_qr ? CERTA_METHOD_QR
                                                     : CERTA_METHOD_DIRECT;
    double uo = rng_unit(&r);
    c->outcome = uo < s->expired_share ? O_EXPIRED
                 : uo < s->expired_share + s->revoke_before_share ? O_REVOKED
                                                                  : O_NORMAL;
    c->wrong = rng_unit(&r) < s->wrong_code_share && c->method == CERTA_METHOD_CODE;
    c->confirm = rng_unit(&r) < s->confirm_share;
    c->sign = rng_unit(&r) < s->sign_share;
    c->photo = rng_unit(&r) < s->photo_share;
    c->revoke_after = rng_unit(&r) < s->revoke_after_share;
    uint32_t gcentre;
    if (c->online) {
        gcentre = (uint32_t)(rng_u64(&r) % G->g->centre_count);
        c->counter = 0; /* any counter */
        c->method = CERTA_METHOD_DIRECT;
        c->outcome = O_NORMAL;
    } else {
        const centre_slot *cs = &G->centres[gc->centre];
        gcentre = cs->gcentre;
        uint32_t sc = (uint32_t)(rng_u64(&r) % s->groups[cs->group].counters);
        c->counter = (uint16_t)(1 + sc % G->g->centres[gcentre].counters);
    }
    c->centre_id = G->g->centres[gcentre].id;
    c->counter_integrator = G->counter_of_gcentre[gcentre];

    /* code, salt, commitment; the wrong code differs in its first digit */
    uint64_t code = rng_u64(&r) % 100000000ull;
    char tmp[CERTA_CODE_DIGITS + 1];
    snprintf(tmp, sizeof tmp, "%08llu", (unsigned long long)code);
    memcpy(c->code, tmp, CERTA_CODE_DIGITS);
    memcpy(c->wrong_code, c->code, CERTA_CODE_DIGITS);
    c->wrong_code[0] = (char)('0' + (c->code[0] - '0' + 1 + (int)(rng_u64(&r) % 9)) % 10);
    for (int i = 0; i < CERTA_SALT_BYTES; i += 8) {
        uint64_t v = rng_u64(&r);
        memcpy(c->salt + i, &v, 8);
    }
    /* Rules 2 (docs/OPERATIONS.md "Codes and QR"): the grant commits to
     * SHA-256 of the redeem's sealed proof; a QR grant's secret is the
     * signing pad's challenge (the salt here) with no code. */
    if (G->g->params.rules >= 2 && c->method == CERTA_METHOD_QR)
        memset(c->code, 0, CERTA_CODE_DIGITS);
    if (c->method != CERTA_METHOD_DIRECT) {
        if (G->g->params.rules >= 2)
            certa_code_commit_sealed(c->salt, c->code, c->commit);
        else
            certa_code_commit(c->salt, c->code, c->commit);
    }
    derive("holder", G->o->seed, id, 0, c->holder, sizeof c->holder);
    derive("grant", G->o->seed, id, 0, c->grant_id, sizeof c->grant_id);

    /* step times */
    uint64_t t = gc->t0_us;
    c->t[ST_GRANT] = t;
    c->has[ST_GRANT] = true;
    if (!c->online) {
        uint64_t red = t + gap_us(&r, s->redeem_after_grant_s_min, s->redeem_after_grant_s_max);
        if (c->outcome == O_REVOKED) {
            c->t[ST_REVOKE] = t + (red - t) / 2;
            c->has[ST_REVOKE] = true;
            c->t[ST_REDEEM] = red;
            c->has[ST_REDEEM] = true;
        } else if (c->outcome == O_EXPIRED) {
            /* the grant itself is refused (window closed), so the counter
             * never gets to redeem it */
        } else {
            if (c->wrong) {
                c->t[ST_WRONG] = red;
                c->has[ST_WRONG] = true;
                red += gap_us(&r, s->step_gap_s_min, s->step_gap_s_max);
            }
            uint64_t at = red;
            for (uint32_t i = 0; i < c->nlic; i++) {
                if (i > 0)
                    at += gap_us(&r, s->step_gap_s_min, s->step_gap_s_max);
                c->t[ST_REDEEM + i] = at;
                c->has[ST_REDEEM + i] = true;
            }
            const bool flags[3] = {c->confirm, c->sign, c->photo};
            for (int k = 0; k < 3; k++)
                if (flags[k]) {
                    at += gap_us(&r, s->step_gap_s_min, s->step_gap_s_max);
                    c->t[ST_CONFIRM + k] = at;
                    c->has[ST_CONFIRM + k] = true;
                }
            if (c->revoke_after) {
                c->t[ST_REVOKE] = at + gap_us(&r, 1, s->revoke_after_s_max);
                c->has[ST_REVOKE] = true;
            }
        }
    }

    /* the window: from the trace start (replay runs after it) to
     * grant_validity after the grant; an expired grant's window closed an
     * hour before the trace start, whenever the replay runs */
    uint64_t wmax = G->g->params.grant_window_ms_max;
    if (c->outcome == O_EXPIRED) {
        c->not_after_ms = G->start_ms - 3600 * 1000ull;
        c->not_before_ms = c->not_after_ms - 3600 * 1000ull;
    } else {
        c->not_before_ms = G->start_ms;
        c->not_after_ms = G->start_ms + gc->t0_us / 1000 + (uint64_t)s->grant_validity_s * 1000;
    }
    if (wmax > 0 && c->not_after_ms - c->not_before_ms > wmax)
        c->not_before_ms = c->not_after_ms - wmax;
}

static void case_event(const gen *G, const case_attr *c, uint32_t id, unsigned step,
                       certa_event *ev)
{
    memset(ev, 0, sizeof *ev);
    memcpy(ev->grant_id, c->grant_id, sizeof ev->grant_id);
    switch (step) {
    case ST_GRANT:
        ev->kind = CERTA_EV_GRANT;
        memcpy(ev->holder_id, c->holder, sizeof ev->holder_id);
        ev->centre = c->centre_id;
        ev->counter = c->counter;
        ev->matter = c->matter->id;
        for (uint32_t i = 0; i < c->nlic; i++)
            ev->licence_types |= 1u << c->lic[i];
        ev->not_before_ms = c->not_before_ms;
        ev->not_after_ms = c->not_after_ms;
        ev->max_uses = c->nlic;
        ev->method = c->method;
        memcpy(ev->code_commit, c->commit, sizeof ev->code_commit);
        break;
    case ST_REVOKE:
        ev->kind = CERTA_EV_REVOKE;
        memcpy(ev->holder_id, c->holder, sizeof ev->holder_id);
        break;
    case ST_CONFIRM:
    case ST_SIGN:
    case ST_PHOTO:
        ev->kind = step == ST_CONFIRM ? CERTA_EV_CONFIRM
                   : step == ST_SIGN  ? CERTA_EV_SIGN
                                      : CERTA_EV_PHOTO;
        ev->centre = c->centre_id;
        ev->counter = c->counter;
        derive("evidence", G->o->seed, id, step, ev->evidence, sizeof ev->evidence);
        /* it documents the case's last redeem (one per licence; the wrong
         * code, refused, is not one) */
        ev->redeem = (uint16_t)c->nlic;
        break;
    default: { /* wrong or a redeem */
        CERTA_ASSERT(step == ST_WRONG || (step >= ST_REDEEM && step < ST_REDEEM + 4));
        uint32_t li = step == ST_WRONG ? 0 : step - ST_REDEEM;
        CERTA_ASSERT(li < c->nlic);
        ev->kind = CERTA_EV_REDEEM;
        ev->centre = c->centre_id;
        ev->counter = c->counter;
        ev->matter = c->matter->id;
        if (c->method != CERTA_METHOD_DIRECT && G->g->params.rules >= 2) {
            certa_code_proof(c->salt, step == ST_WRONG ? c->wrong_code : c->code,
                             ev->code_proof);
        } else if (c->method != CERTA_METHOD_DIRECT) {
            memcpy(ev->code, step == ST_WRONG ? c->wrong_code : c->code, CERTA_CODE_DIGITS);
            memcpy(ev->salt, c->salt, CERTA_SALT_BYTES);
        }
        ev->licence_count = 1;
        certa_licence_ref *l = &ev->licences[0];
        derive("licence", G->o->seed, id, c->lic[li], l->id, sizeof l->id);
        l->type = c->lic[li];
        derive("document", G->o->seed, id, c->lic[li], l->digest, sizeof l->digest);
        break;
    }
    }
}

/* ---- passes ---- */

static certa_err push_case(gen *G, uint64_t t_us, uint32_t centre, certa_errinfo *ei)
{
    if (G->ncases == UINT32_MAX)
        return certa_errorf(ei, CERTA_E_LIMIT, "gen: more than 2^32 cases");
    if (G->ncases == G->cases_cap) {
        uint64_t cap = G->cases_cap ? 2 * G->cases_cap : 65536;
        gcase *n = realloc(G->cases, cap * sizeof *n);
        if (n == NULL)
            return certa_errorf(ei, CERTA_E_NOMEM, "gen: %llu cases", (unsigned long long)cap);
        G->cases = n;
        G->cases_cap = cap;
    }
    G->cases[G->ncases++] = (gcase){.t0_us = t_us, .centre = centre};
    return CERTA_OK;
}

static certa_err arrivals(gen *G, certa_errinfo *ei)
{
    const certa_load_scenario *s = G->s;
    rng r = {.s = G->o->seed ^ 0x6a09e667f3bcc908ull};
    for (uint32_t k = 0; k < G->o->hours; k++) {
        uint32_t hod = (s->start_hour + k) % 24;
        double total = 0;
        for (uint32_t i = 0; i < G->ncentres; i++) {
            double lambda = certa_load_scenario_rate(s, G->centres[i].group, hod) * G->o->scale;
            total += lambda;
            uint64_t n = poisson(&r, lambda);
            for (uint64_t j = 0; j < n; j++) {
                certa_err e = push_case(G, k * US_PER_HOUR + rng_u64(&r) % US_PER_HOUR, i, ei);
                if (e != CERTA_OK)
                    return e;
            }
        }
        uint64_t n = poisson(&r, total * s->online_only_share);
        for (uint64_t j = 0; j < n; j++) {
            certa_err e = push_case(G, k * US_PER_HOUR + rng_u64(&r) % US_PER_HOUR, ONLINE, ei);
            if (e != CERTA_OK)
                return e;
        }
        progress(G, "arrivals", (double)(k + 1) / G->o->hours, false);
    }
    return CERTA_OK;
}

static int cmp_event(const void *a, const void *b)
{
    const gevent *x = a, *y = b;
    if (x->t_us != y->t_us)
        return x->t_us < y->t_us ? -1 : 1;
    if (x->case_id != y->case_id)
        return x->case_id < y->case_id ? -1 : 1;
    return (x->step > y->step) - (x->step < y->step);
}

static certa_err expand(gen *G, certa_errinfo *ei)
{
    case_attr c;
    for (uint64_t id = 0; id < G->ncases; id++) {
        case_derive(G, (uint32_t)id, &c);
        for (unsigned st = 0; st < ST_COUNT; st++) {
            if (!c.has[st])
                continue;
            if (G->nevents == G->events_cap) {
                uint64_t cap = G->events_cap ? 2 * G->events_cap : 262144;
                gevent *n = realloc(G->events, cap * sizeof *n);
                if (n == NULL)
                    return certa_errorf(ei, CERTA_E_NOMEM, "gen: %llu events",
                                        (unsigned long long)cap);
                G->events = n;
                G->events_cap = cap;
            }
            G->events[G->nevents++] = (gevent){.t_us = c.t[st], .case_id = (uint32_t)id,
                                               .step = (uint8_t)st};
        }
        if (id % 4096 == 0)
            progress(G, "cases", (double)id / (double)G->ncases, false);
    }
    progress(G, "sorting", 0, true);
    qsort(G->events, G->nevents, sizeof *G->events, cmp_event);
    return CERTA_OK;
}

certa_err certa_load_integrator_key(const char *genesis_dir, const certa_genesis *g,
                                    uint16_t integ, certa_key **out, certa_errinfo *ei)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/integrators/%s.pem", genesis_dir, g->integrators[integ].name);
    certa_err e = certa_key_load_pem(path, out, ei);
    if (e != CERTA_OK)
        return e;
    uint8_t pub[CERTA_PUBKEY_BYTES];
    certa_key_public(*out, pub);
    if (memcmp(pub, g->integrators[integ].pub, CERTA_PUBKEY_BYTES) != 0) {
        certa_key_free(*out);
        *out = NULL;
        return certa_errorf(ei, CERTA_E_BAD_KEY,
                            "%s: not the key genesis registers for integrator %s", path,
                            g->integrators[integ].name);
    }
    return CERTA_OK;
}

static certa_err key_for(gen *G, uint16_t integ, certa_errinfo *ei)
{
    if (G->keys[integ] != NULL)
        return CERTA_OK;
    return certa_load_integrator_key(G->o->genesis_dir, G->g, integ, &G->keys[integ], ei);
}

static certa_err flush(gen *G, uint16_t integ, uint64_t at_us, certa_errinfo *ei)
{
    obatch *b = &G->ob[integ];
    CERTA_ASSERT(b->open && b->bb.count > 0);
    uint8_t digest[CERTA_HASH_BYTES], sig[CERTA_SIGNATURE_BYTES];
    certa_batch_digest(&b->bb, digest);
    uint64_t t0 = mono_ns();
    certa_err e = certa_sign(G->keys[integ], digest, sizeof digest, sig, ei);
    G->st->sign_seconds += (double)(mono_ns() - t0) / 1e9;
    if (e != CERTA_OK)
        return e;
    size_t len = certa_batch_seal(&b->bb, sig);
    CERTA_ASSERT(len > 0);
    certa_load_trace_rec rec = {.at_us = at_us, .events = b->bb.count, .integrator = integ,
                                .expected_rejects = b->rejects, .batch = b->buf,
                                .batch_bytes = (uint32_t)len};
    e = certa_load_trace_append(G->w, &rec, ei);
    b->open = false;
    G->st->batches++;
    return e;
}

/* Flushes, in close-time order, every open batch closing at or before t. */
static certa_err flush_due(gen *G, uint64_t t_us, certa_errinfo *ei)
{
    for (;;) {
        int best = -1;
        for (uint32_t i = 0; i < G->g->integrator_count; i++)
            if (G->ob[i].open && G->ob[i].close_us <= t_us &&
                (best < 0 || G->ob[i].close_us < G->ob[best].close_us))
                best = (int)i;
        if (best < 0)
            return CERTA_OK;
        certa_err e = flush(G, (uint16_t)best, G->ob[best].close_us, ei);
        if (e != CERTA_OK)
            return e;
    }
}

static certa_err open_batch(gen *G, uint16_t integ, uint64_t t_us, certa_errinfo *ei)
{
    obatch *b = &G->ob[integ];
    if (b->buf == NULL && (b->buf = malloc(CERTA_BATCH_BYTES_MAX)) == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "gen: batch buffer");
    certa_err e = key_for(G, integ, ei);
    if (e != CERTA_OK)
        return e;
    bool app = G->g->integrators[integ].role == CERTA_ROLE_APP;
    b->open = true;
    b->close_us = t_us + 1000ull * (app ? G->s->app_batch_ms : G->s->counter_batch_ms);
    b->rejects = 0;
    certa_batch_begin(&b->bb, b->buf, CERTA_BATCH_BYTES_MAX, integ, ++b->seq);
    return CERTA_OK;
}

static certa_err batches(gen *G, certa_errinfo *ei)
{
    case_attr c;
    certa_event ev;
    uint32_t cached = UINT32_MAX;
    for (uint64_t i = 0; i < G->nevents; i++) {
        const gevent *ge = &G->events[i];
        certa_err e = flush_due(G, ge->t_us, ei);
        if (e != CERTA_OK)
            return e;
        if (ge->case_id != cached) {
            case_derive(G, ge->case_id, &c);
            cached = ge->case_id;
        }
        case_event(G, &c, ge->case_id, ge->step, &ev);
        bool app_side = ge->step == ST_GRANT || ge->step == ST_REVOKE;
        uint16_t integ = app_side ? G->app : c.counter_integrator;
        obatch *b = &G->ob[integ];
        if (!b->open && (e = open_batch(G, integ, ge->t_us, ei)) != CERTA_OK)
            return e;
        e = certa_batch_add(&b->bb, &ev, ei);
        if (e == CERTA_E_LIMIT) { /* full: send it now, start the next */
            if ((e = flush(G, integ, ge->t_us, ei)) != CERTA_OK ||
                (e = open_batch(G, integ, ge->t_us, ei)) != CERTA_OK)
                return e;
            e = certa_batch_add(&b->bb, &ev, ei);
        }
        if (e != CERTA_OK)
            return e;
        int intent = -1;
        if (ge->step == ST_WRONG)
            intent = CERTA_LOAD_INTENT_BAD_CODE;
        else if (ge->step == ST_GRANT && c.outcome == O_EXPIRED)
            intent = CERTA_LOAD_INTENT_EXPIRED;
        else if (ge->step == ST_REDEEM && c.outcome == O_REVOKED)
            intent = CERTA_LOAD_INTENT_REVOKED;
        if (intent >= 0) {
            b->rejects++;
            certa_load_trace_intend(G->w, (certa_load_intent)intent, 1);
            G->st->expected_by_intent[intent]++;
        }
        G->st->events++;
        G->st->events_by_kind[ev.kind]++;
        if (i % 4096 == 0)
            progress(G, "signing", (double)i / (double)G->nevents, false);
    }
    return flush_due(G, UINT64_MAX, ei);
}

static certa_err setup(gen *G, certa_errinfo *ei)
{
    const certa_load_scenario *s = G->s;
    char path[4096];
    snprintf(path, sizeof path, "%s/genesis.json", G->o->genesis_dir);
    certa_err e = certa_genesis_load(path, &G->g, ei);
    if (e != CERTA_OK)
        return e;
    if (G->g->centre_count == 0)
        return certa_errorf(ei, CERTA_E_GENESIS, "%s: no centres", path);
    G->start_ms = G->o->start_unix_ms ? G->o->start_unix_ms : G->g->genesis_time_ms;
    if (G->start_ms < 2 * 3600 * 1000ull)
        return certa_errorf(ei, CERTA_E_ARG, "gen: start time %llu ms is too early",
                            (unsigned long long)G->start_ms);
    for (uint32_t g = 0; g < s->group_count; g++)
        G->ncentres += s->groups[g].count;
    G->centres = calloc(G->ncentres, sizeof *G->centres);
    G->counter_of_gcentre = calloc(G->g->centre_count, sizeof *G->counter_of_gcentre);
    G->keys = calloc(G->g->integrator_count, sizeof *G->keys);
    G->ob = calloc(G->g->integrator_count, sizeof *G->ob);
    if (G->centres == NULL || G->counter_of_gcentre == NULL || G->keys == NULL || G->ob == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "gen: tables");
    uint32_t flat = 0;
    for (uint32_t g = 0; g < s->group_count; g++)
        for (uint32_t i = 0; i < s->groups[g].count; i++, flat++)
            G->centres[flat] = (centre_slot){.group = g, .gcentre = flat % G->g->centre_count};
    int app = -1;
    for (uint32_t i = 0; i < G->g->integrator_count; i++)
        if (G->g->integrators[i].role == CERTA_ROLE_APP) {
            app = (int)i;
            break;
        }
    if (app < 0)
        return certa_errorf(ei, CERTA_E_GENESIS, "%s: no integrator with role app", path);
    G->app = (uint16_t)app;
    for (uint32_t c = 0; c < G->g->centre_count; c++) {
        int found = -1;
        for (uint32_t i = 0; i < G->g->integrator_count && found < 0; i++)
            if (G->g->integrators[i].role == CERTA_ROLE_COUNTER &&
                G->g->integrators[i].centre == G->g->centres[c].id)
                found = (int)i;
        if (found < 0)
            return certa_errorf(ei, CERTA_E_GENESIS,
                                "%s: centre %u has no counter integrator", path,
                                G->g->centres[c].id);
        G->counter_of_gcentre[c] = (uint16_t)found;
    }
    return build_matters(G, ei);
}

static void teardown(gen *G)
{
    if (G->g != NULL) {
        for (uint32_t i = 0; i < G->g->integrator_count; i++) {
            if (G->keys != NULL)
                certa_key_free(G->keys[i]);
            if (G->ob != NULL)
                free(G->ob[i].buf);
        }
        certa_genesis_free(G->g);
    }
    free(G->keys);
    free(G->ob);
    free(G->centres);
    free(G->counter_of_gcentre);
    free(G->personal.m);
    free(G->personal.cum);
    free(G->company.m);
    free(G->company.cum);
    free(G->cases);
    free(G->events);
}

certa_err certa_load_gen(const certa_load_gen_opts *o, certa_load_gen_stats *stats,
                         certa_errinfo *ei)
{
    CERTA_ASSERT(o != NULL && o->scenario != NULL && stats != NULL);
    if (o->hours == 0 || o->hours > 24 * 7 || !(o->scale > 0))
        return certa_errorf(ei, CERTA_E_ARG, "gen: hours must be 1..168 and scale > 0");
    memset(stats, 0, sizeof *stats);
    uint64_t t0 = mono_ns();
    gen G = {.o = o, .s = o->scenario, .st = stats};
    certa_err e = setup(&G, ei);
    if (e == CERTA_OK)
        e = arrivals(&G, ei);
    if (e == CERTA_OK)
        e = expand(&G, ei);
    if (e == CERTA_OK) {
        certa_load_trace_info info = {.seed = o->seed, .start_unix_ms = G.start_ms,
                                      .scale_milli = (uint32_t)llround(o->scale * 1000),
                                      .start_hour = G.s->start_hour, .hours = o->hours};
        memcpy(info.genesis_hash, G.g->hash, CERTA_HASH_BYTES);
        memcpy(info.scenario, G.s->name, strnlen(G.s->name, sizeof info.scenario - 1));
        e = certa_load_trace_create(o->out_path, &info, &G.w, ei);
    }
    if (e == CERTA_OK) {
        e = batches(&G, ei);
        if (e == CERTA_OK) {
            e = certa_load_trace_finish(G.w, ei);
        } else {
            certa_load_trace_abort(G.w);
        }
    }
    if (e == CERTA_OK) {
        for (uint64_t i = 0; i < G.ncases; i++)
            if (G.cases[i].centre == ONLINE)
                stats->online_grants++;
        stats->cases = G.ncases - stats->online_grants;
        FILE *f = fopen(o->out_path, "rb");
        if (f != NULL) {
            fseek(f, 0, SEEK_END);
            long sz = ftell(f);
            stats->bytes = sz > 0 ? (uint64_t)sz : 0;
            fclose(f);
        }
        progress(&G, "done", 1, true);
        if (o->progress)
            fputc('\n', stderr);
    }
    stats->seconds = (double)(mono_ns() - t0) / 1e9;
    teardown(&G);
    return e;
}
