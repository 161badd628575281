/* A small hand-built genesis and event builders shared by the state tests,
 * the state fuzz target and bench/state. Header-only (static functions).
 *
 * Catalogue: centre 1 with 3 counters, centre 2 with 2 counters; matters
 * 101 (id card, household register), 102 (business licence, id card),
 * 103 (driving licence, id card, residence permit). Integrators: 0 app (APP),
 * 1 counter-c1 (COUNTER, centre 1), 2 counter-c2 (COUNTER, centre 2),
 * 3 library (LIBRARY), 4 admin (ADMIN). Grant windows up to 30 days, 5 wrong
 * codes lock a grant. */
#ifndef CERTA_TESTS_STATE_FIXTURE_H
#define CERTA_TESTS_STATE_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "certa/crypto.h"
#include "certa/genesis.h"
#include "certa/state.h"

#define FX_T0 1700000000000ull /* genesis time, ms */
#define FX_DAY_MS 86400000ull
#define FX_APP 0
#define FX_COUNTER_C1 1
#define FX_COUNTER_C2 2
#define FX_LIBRARY 3
#define FX_ADMIN 4
#define FX_LT(t) (1u << (t))

typedef struct fx_genesis {
    certa_genesis g;
    certa_integrator_info integrators[5];
    certa_centre_info centres[2];
    certa_matter_info matters[3];
    certa_bureau_info bureaus[1];
} fx_genesis;

static inline void fx_genesis_init(fx_genesis *f)
{
    memset(f, 0, sizeof *f);
    certa_genesis *g = &f->g;
    snprintf(g->chain_name, sizeof g->chain_name, "fixture");
    g->genesis_time_ms = FX_T0;
    for (int i = 0; i < CERTA_HASH_BYTES; i++)
        g->hash[i] = (uint8_t)(0xa0 + i);
    g->params.checkpoint_interval = 16;
    g->params.window_blocks = 64;
    g->params.block_events_max = 4096;
    g->params.block_timeout_ms = 50;
    g->params.view_timeout_ms = 1000;
    g->params.clock_skew_ms_max = 1000;
    g->params.grant_window_ms_max = 30 * FX_DAY_MS;
    g->params.code_attempts_max = 5;

    static const struct { const char *name; uint8_t role; uint16_t centre; } ints[5] = {
        {"app", CERTA_ROLE_APP, 0},
        {"counter-c1", CERTA_ROLE_COUNTER, 1},
        {"counter-c2", CERTA_ROLE_COUNTER, 2},
        {"library", CERTA_ROLE_LIBRARY, 0},
        {"admin", CERTA_ROLE_ADMIN, 0},
    };
    for (int i = 0; i < 5; i++) {
        snprintf(f->integrators[i].name, sizeof f->integrators[i].name, "%s", ints[i].name);
        f->integrators[i].role = ints[i].role;
        f->integrators[i].centre = ints[i].centre;
    }
    g->integrators = f->integrators;
    g->integrator_count = 5;

    f->bureaus[0].id = 1;
    snprintf(f->bureaus[0].name, sizeof f->bureaus[0].name, "bureau");
    g->bureaus = f->bureaus;
    g->bureau_count = 1;

    f->centres[0] = (certa_centre_info){.id = 1, .counters = 3};
    f->centres[1] = (certa_centre_info){.id = 2, .counters = 2};
    g->centres = f->centres;
    g->centre_count = 2;

    f->matters[0] = (certa_matter_info){
        .id = 101, .bureau = 1,
        .licence_types = FX_LT(CERTA_LT_ID_CARD) | FX_LT(CERTA_LT_HOUSEHOLD_REGISTER)};
    f->matters[1] = (certa_matter_info){
        .id = 102, .bureau = 1, .company = true,
        .licence_types = FX_LT(CERTA_LT_BUSINESS_LICENCE) | FX_LT(CERTA_LT_ID_CARD)};
    f->matters[2] = (certa_matter_info){
        .id = 103, .bureau = 1,
        .licence_types = FX_LT(CERTA_LT_DRIVING_LICENCE) | FX_LT(CERTA_LT_ID_CARD) |
                         FX_LT(CERTA_LT_RESIDENCE_PERMIT)};
    g->matters = f->matters;
    g->matter_count = 3;
}

/* Ids from small integers: grant n -> {n, 0x47, ...}, holder n -> {n, 0x48, ...}. */
static inline void fx_grant_id(uint32_t n, uint8_t id[CERTA_GRANT_ID_BYTES])
{
    memset(id, 0x47, CERTA_GRANT_ID_BYTES);
    memcpy(id, &n, sizeof n);
}

static inline void fx_holder_id(uint32_t n, uint8_t id[CERTA_HOLDER_ID_BYTES])
{
    memset(id, 0x48, CERTA_HOLDER_ID_BYTES);
    memcpy(id, &n, sizeof n);
}

/* The code of grant n is "1234" followed by n mod 10000 on 4 digits, and its
 * salt is 16 bytes of (n + 1). */
static inline void fx_code(uint32_t n, char code[CERTA_CODE_DIGITS])
{
    char buf[16];
    snprintf(buf, sizeof buf, "1234%04u", n % 10000u);
    memcpy(code, buf, CERTA_CODE_DIGITS);
}

static inline void fx_salt(uint32_t n, uint8_t salt[CERTA_SALT_BYTES])
{
    memset(salt, (int)((n + 1) & 0xff), CERTA_SALT_BYTES);
}

static inline void fx_commit(const uint8_t salt[CERTA_SALT_BYTES],
                             const char code[CERTA_CODE_DIGITS],
                             uint8_t out[CERTA_HASH_BYTES])
{
    uint8_t buf[CERTA_SALT_BYTES + CERTA_CODE_DIGITS];
    memcpy(buf, salt, CERTA_SALT_BYTES);
    memcpy(buf + CERTA_SALT_BYTES, code, CERTA_CODE_DIGITS);
    certa_sha256(buf, sizeof buf, out);
}

static inline certa_event fx_grant(uint32_t gid, uint32_t holder, uint16_t centre,
                                   uint16_t counter, uint32_t matter, uint32_t types,
                                   uint64_t nb, uint64_t na, uint16_t max_uses,
                                   uint8_t method)
{
    certa_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = CERTA_EV_GRANT;
    fx_grant_id(gid, ev.grant_id);
    fx_holder_id(holder, ev.holder_id);
    ev.centre = centre;
    ev.counter = counter;
    ev.matter = matter;
    ev.licence_types = types;
    ev.not_before_ms = nb;
    ev.not_after_ms = na;
    ev.max_uses = max_uses;
    ev.method = method;
    if (method != CERTA_METHOD_DIRECT) {
        char code[CERTA_CODE_DIGITS];
        uint8_t salt[CERTA_SALT_BYTES];
        fx_code(gid, code);
        fx_salt(gid, salt);
        fx_commit(salt, code, ev.code_commit);
    }
    return ev;
}

/* A redeem of grant gid with its right code (right_code) or a wrong one,
 * fetching one licence of type t. */
static inline certa_event fx_redeem(uint32_t gid, uint16_t centre, uint16_t counter,
                                    uint32_t matter, uint8_t type, bool with_code,
                                    bool right_code)
{
    certa_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = CERTA_EV_REDEEM;
    fx_grant_id(gid, ev.grant_id);
    ev.centre = centre;
    ev.counter = counter;
    ev.matter = matter;
    if (with_code) {
        fx_code(gid, ev.code);
        fx_salt(gid, ev.salt);
        if (!right_code)
            ev.code[7] = ev.code[7] == '9' ? '0' : (char)(ev.code[7] + 1);
    }
    ev.licence_count = 1;
    memset(ev.licences[0].id, 0x4c, CERTA_LICENCE_ID_BYTES);
    ev.licences[0].type = type;
    memset(ev.licences[0].digest, 0x44, CERTA_HASH_BYTES);
    return ev;
}

/* Rules 2: the same redeem, sealed (the proof instead of code and salt). */
static inline certa_event fx_sealed(certa_event ev)
{
    if (ev.code[0] != '\0')
        certa_code_proof(ev.salt, ev.code, ev.code_proof);
    memset(ev.code, 0, sizeof ev.code);
    memset(ev.salt, 0, sizeof ev.salt);
    return ev;
}

/* Rules 2: a code grant's commitment to its sealed proof. */
static inline certa_event fx_grant_sealed(certa_event g, uint32_t gid)
{
    char code[CERTA_CODE_DIGITS];
    uint8_t salt[CERTA_SALT_BYTES];
    fx_code(gid, code);
    fx_salt(gid, salt);
    if (g.method != CERTA_METHOD_DIRECT)
        certa_code_commit_sealed(salt, code, g.code_commit);
    return g;
}

static inline certa_event fx_evidence(uint8_t kind, uint32_t gid, uint16_t centre,
                                      uint16_t counter)
{
    certa_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    fx_grant_id(gid, ev.grant_id);
    ev.centre = centre;
    ev.counter = counter;
    memset(ev.evidence, 0x45, CERTA_HASH_BYTES);
    return ev;
}

static inline certa_event fx_revoke(uint32_t gid, uint32_t holder)
{
    certa_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = CERTA_EV_REVOKE;
    fx_grant_id(gid, ev.grant_id);
    fx_holder_id(holder, ev.holder_id);
    return ev;
}

/* A pseudo-random stream (splitmix64): the same seed gives the same stream. */
static inline uint64_t fx_rand(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A random event, valid or not, over a small id space so that events of one
 * stream hit each other's grants: sets *integrator. Grant n's scope is a
 * function of n, so that most uses of it are in scope; one field in four is
 * perturbed to reach the rejections. */
static inline certa_event fx_random_event(uint64_t *st, uint64_t now_ms,
                                          uint32_t grant_space, uint16_t *integrator)
{
    static const uint32_t matters[3] = {101, 102, 103};
    static const uint8_t types[3] = {CERTA_LT_ID_CARD, CERTA_LT_BUSINESS_LICENCE,
                                     CERTA_LT_DRIVING_LICENCE};
    uint64_t r = fx_rand(st);
    /* the ids in use slide with time: old grants fall out of use */
    uint32_t base = (uint32_t)((now_ms - FX_T0) / (FX_DAY_MS / 256));
    uint32_t gid = base + (uint32_t)(fx_rand(st) % grant_space);
    uint32_t holder = gid % 8;
    uint16_t centre = (uint16_t)(1 + gid % 2);
    uint16_t counter = (uint16_t)(gid % 3 == 0 ? 0 : 1 + gid % 2);
    uint32_t matter = matters[gid % 3];
    uint8_t type = types[gid % 3];
    bool perturb = fx_rand(st) % 4 == 0;
    if (perturb) {
        switch (fx_rand(st) % 5) {
        case 0: holder = (uint32_t)(fx_rand(st) % 8); break;
        case 1: centre = (uint16_t)(1 + fx_rand(st) % 3); break;
        case 2: counter = (uint16_t)(fx_rand(st) % 5); break;
        case 3: matter = fx_rand(st) % 2 ? 999 : matters[fx_rand(st) % 3]; break;
        default: type = (uint8_t)(fx_rand(st) % 8); break;
        }
    }
    uint16_t use_counter = counter != 0 ? counter : (uint16_t)(1 + fx_rand(st) % 2);
    certa_event ev;
    switch (r % 10) {
    case 0:
    case 1: {
        uint64_t nb = now_ms - FX_DAY_MS / 2 + fx_rand(st) % FX_DAY_MS;
        uint64_t len = perturb && fx_rand(st) % 3 == 0 ? 40 * FX_DAY_MS
                                                      : 1 + fx_rand(st) % (3 * FX_DAY_MS);
        ev = fx_grant(gid, holder, centre, counter, matter, FX_LT(type), nb, nb + len,
                      (uint16_t)(1 + fx_rand(st) % 3), (uint8_t)(fx_rand(st) % 3));
        *integrator = FX_APP;
        break;
    }
    case 2:
    case 3:
    case 4:
        ev = fx_redeem(gid, centre, use_counter, matter, type, fx_rand(st) % 8 != 0,
                       fx_rand(st) % 6 != 0);
        *integrator = centre == 2 ? FX_COUNTER_C2 : FX_COUNTER_C1;
        break;
    case 5:
    case 6:
    case 7:
    case 8:
        ev = fx_evidence((uint8_t)(CERTA_EV_CONFIRM + fx_rand(st) % 3), gid, centre,
                         use_counter);
        *integrator = centre == 2 ? FX_COUNTER_C2 : FX_COUNTER_C1;
        break;
    default:
        ev = fx_revoke(gid, fx_rand(st) % 3 == 0 ? (uint32_t)(fx_rand(st) % 8) : holder);
        *integrator = FX_APP;
        break;
    }
    if (fx_rand(st) % 32 == 0)
        *integrator = (uint16_t)(fx_rand(st) % 6); /* 5 is out of range */
    if (fx_rand(st) % 64 == 0)
        memset(ev.evidence, 0, sizeof ev.evidence), ev.max_uses = 0; /* malformed kinds */
    return ev;
}

#endif
