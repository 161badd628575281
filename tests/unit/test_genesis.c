/* Tests for engine/genesis.c, engine/genesis_write.c and node/config.c:
 * a written genesis reloads with the default catalogue's counts, keys on
 * disk match it, every validation rule refuses with a message naming the
 * field, n = 3, 5, 6 are refused, and node.json loads and matches. */
#define _XOPEN_SOURCE 700
#include <criterion/criterion.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "certa/crypto.h"
#include "certa/genesis.h"

#define GENESIS_TIME_MS 1700000000000ull

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes a default genesis for n validators into a fresh temporary dir. */
static void make_genesis(char dir[64], uint32_t n)
{
    snprintf(dir, 64, "/tmp/certa-test-genesis-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    certa_genesis_opts o = {.validators = n,
                            .dir = dir,
                            .base_port = 17000,
                            .host = "127.0.0.1",
                            .genesis_time_ms = GENESIS_TIME_MS};
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_genesis_write(&o, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static unsigned file_mode(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s", path);
    return (unsigned)(st.st_mode & 07777);
}

Test(genesis, write_reload_catalogue_counts)
{
    char dir[64], path[256];
    make_genesis(dir, 4);
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    certa_genesis *g = NULL;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_genesis_load(path, &g, &ei), CERTA_OK, "%s", certa_errmsg(&ei));

    cr_assert_eq(g->validator_count, 4);
    cr_assert_eq(g->f, 1);
    cr_assert_eq(g->genesis_time_ms, GENESIS_TIME_MS);
    cr_assert_eq(g->params.code_attempts_max, 5);
    cr_assert_eq(g->params.grant_window_ms_max, 24ull * 3600 * 1000);
    cr_assert_eq(g->params.replay_horizon_ms, CERTA_REPLAY_HORIZON_MS_DEFAULT);
    cr_assert_eq(g->params.replay_horizon_batches, CERTA_REPLAY_HORIZON_BATCHES_DEFAULT);
    cr_assert_eq(g->params.rules, 2, "certa genesis writes the newest rules");
    cr_assert_eq(g->licence_type_count, 7);
    cr_assert_eq(g->licence_type_mask, 0x7fu);
    cr_assert_eq(certa_genesis_licence_type_find(g, "business_licence"), 6);
    cr_assert_eq(certa_genesis_licence_type_find(g, "passport"), -1);

    /* The municipal centre plus the 16 districts. */
    cr_assert_eq(g->centre_count, 17);
    const char *districts[] = {"Dongcheng", "Xicheng", "Chaoyang", "Fengtai",
                               "Shijingshan", "Haidian", "Mentougou", "Fangshan",
                               "Tongzhou", "Shunyi", "Changping", "Daxing",
                               "Huairou", "Pinggu", "Miyun", "Yanqing"};
    for (size_t i = 0; i < 16; i++) {
        bool found = false;
        for (uint32_t c = 0; c < g->centre_count; c++)
            found |= strstr(g->centres[c].name, districts[i]) != NULL;
        cr_assert(found, "no centre for %s", districts[i]);
    }
    cr_assert_not_null(strstr(certa_genesis_centre(g, 1)->name, "Municipal"));

    /* 107 personal matters from 11 bureaus, 168 company from 14. */
    unsigned personal = 0, company = 0, pb = 0, cb = 0;
    bool seen_p[65536] = {false}, seen_c[65536] = {false};
    for (uint32_t i = 0; i < g->matter_count; i++) {
        const certa_matter_info *m = &g->matters[i];
        cr_assert_not_null(certa_genesis_bureau(g, m->bureau));
        cr_assert_eq(certa_genesis_matter(g, m->id), m);
        if (i > 0)
            cr_assert_gt(m->id, g->matters[i - 1].id);
        if (m->company) {
            company++;
            cr_assert_eq(m->licence_types, 1u << 6, "company matter %u", m->id);
            if (!seen_c[m->bureau]) {
                seen_c[m->bureau] = true;
                cb++;
            }
        } else {
            personal++;
            cr_assert_eq(m->licence_types & (1u << 6), 0, "personal matter %u", m->id);
            cr_assert_neq(m->licence_types, 0);
            if (!seen_p[m->bureau]) {
                seen_p[m->bureau] = true;
                pb++;
            }
        }
    }
    cr_assert_eq(personal, 107);
    cr_assert_eq(pb, 11);
    cr_assert_eq(company, 168);
    cr_assert_eq(cb, 14);
    cr_assert_geq(g->bureau_count, 14);
    cr_assert_null(certa_genesis_matter(g, 999999));

    /* Integrators: every role, one counter integrator per centre. */
    unsigned roles[5] = {0};
    for (uint32_t i = 0; i < g->integrator_count; i++) {
        const certa_integrator_info *it = &g->integrators[i];
        roles[it->role]++;
        if (it->role == CERTA_ROLE_COUNTER)
            cr_assert_not_null(certa_genesis_centre(g, it->centre));
        else
            cr_assert_eq(it->centre, 0);
        /* Its key file holds the private half of the key in genesis. */
        snprintf(path, sizeof path, "%s/integrators/%s.pem", dir, it->name);
        cr_assert_eq(file_mode(path), 0600, "%s", path);
        certa_key *k = NULL;
        cr_assert_eq(certa_key_load_pem(path, &k, NULL), CERTA_OK);
        uint8_t pub[32];
        certa_key_public(k, pub);
        cr_assert_eq(memcmp(pub, it->pub, 32), 0, "%s", it->name);
        uint8_t sig[64];
        cr_assert_eq(certa_sign(k, (const uint8_t *)"x", 1, sig, NULL), CERTA_OK);
        cr_assert(certa_verify(it->key, (const uint8_t *)"x", 1, sig));
        certa_key_free(k);
    }
    cr_assert_eq(roles[CERTA_ROLE_APP], 1);
    cr_assert_eq(roles[CERTA_ROLE_LIBRARY], 1);
    cr_assert_eq(roles[CERTA_ROLE_ADMIN], 1);
    cr_assert_eq(roles[CERTA_ROLE_COUNTER], 17);
    int dc = certa_genesis_integrator_find(g, "counter-dongcheng");
    cr_assert_geq(dc, 0);
    cr_assert_not_null(strstr(certa_genesis_centre(g, g->integrators[dc].centre)->name,
                              "Dongcheng"));
    cr_assert_eq(certa_genesis_integrator_find(g, "nobody"), -1);
    cr_assert_str_eq(certa_role_name(CERTA_ROLE_COUNTER), "counter");
    cr_assert_eq(certa_role_parse("library"), CERTA_ROLE_LIBRARY);
    cr_assert_eq(certa_role_parse("clerk"), -1);

    /* The chain id is SHA-256 of the file bytes. */
    size_t len;
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    char *bytes = slurp(path, &len);
    uint8_t h[32];
    certa_sha256(bytes, len, h);
    cr_assert_eq(memcmp(h, g->hash, 32), 0);
    free(bytes);
    certa_genesis_free(g);
    rm_rf(dir);
}

Test(genesis, node_dirs_keys_and_config)
{
    char dir[64], path[256];
    make_genesis(dir, 4);
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    certa_genesis *g = NULL;
    cr_assert_eq(certa_genesis_load(path, &g, NULL), CERTA_OK);
    for (uint32_t k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/node%u/sign.pem", dir, k);
        cr_assert_eq(file_mode(path), 0600);
        snprintf(path, sizeof path, "%s/node%u/curve.key", dir, k);
        cr_assert_eq(file_mode(path), 0600);
        snprintf(path, sizeof path, "%s/node%u/node.json", dir, k);
        certa_node_config cfg;
        certa_errinfo ei;
        certa_errinfo_clear(&ei);
        cr_assert_eq(certa_node_config_load(path, &cfg, &ei), CERTA_OK, "%s",
                     certa_errmsg(&ei));
        cr_assert_eq(cfg.validator_index, k);
        char want[300];
        snprintf(want, sizeof want, "%s/node%u/../genesis.json", dir, k);
        cr_assert_str_eq(cfg.genesis_path, want);
        snprintf(want, sizeof want, "%s/node%u/data", dir, k);
        cr_assert_str_eq(cfg.data_dir, want);
        snprintf(want, sizeof want, "tcp://127.0.0.1:%u", 17000 + 10 * k);
        cr_assert_str_eq(cfg.peer_bind, want);
        cr_assert_str_eq(cfg.peer_bind, g->validators[k].peer_endpoint);
        cr_assert_str_eq(cfg.client_bind, g->validators[k].client_endpoint);
        cr_assert_eq(cfg.metrics_port, 17000 + 10 * k + 2);

        certa_key *sk = NULL;
        char secret[41];
        cr_assert_eq(certa_node_keys_load(&cfg, g, &sk, secret, &ei), CERTA_OK,
                     "%s", certa_errmsg(&ei));
        cr_assert_eq(strlen(secret), 40);
        certa_key_free(sk);

        /* Another validator's index: both keys mismatch, named in the error. */
        cfg.validator_index = (k + 1) % 4;
        cr_assert_eq(certa_node_keys_load(&cfg, g, &sk, secret, &ei), CERTA_E_CONFIG);
        cr_assert_not_null(strstr(certa_errmsg(&ei), "sign_pub"), "%s", certa_errmsg(&ei));
        cfg.validator_index = 9;
        cr_assert_eq(certa_node_keys_load(&cfg, g, &sk, secret, &ei), CERTA_E_CONFIG);
        cr_assert_not_null(strstr(certa_errmsg(&ei), "validator_index"));
    }
    /* A key others can read is refused. */
    snprintf(path, sizeof path, "%s/node0/curve.key", dir);
    chmod(path, 0644);
    char secret[41];
    certa_errinfo ei;
    cr_assert_eq(certa_curve_secret_load(path, secret, NULL, &ei), CERTA_E_BAD_KEY);
    cr_assert_not_null(strstr(certa_errmsg(&ei), "chmod 600"));
    certa_genesis_free(g);
    rm_rf(dir);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(genesis, node_config_errors_name_the_field)
{
    char dir[] = "/tmp/certa-test-config-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/node.json", dir);
    static const struct {
        const char *text;
        const char *expect;
    } cases[] = {
        {"{\"version\":1}", "validator_index: missing"},
        {"[1]", "expected a JSON object"},
        {"{\"version\":1,", "line"},
        {"{\"version\":2,\"validator_index\":0}", "version"},
        {"{\"version\":1,\"validator_index\":0,\"metrics_port\":70000}", "metrics_port"},
        {"{\"version\":1,\"validator_index\":0,\"metrics_port\":1,\"bogus\":1}", "bogus: unknown field"},
        {"{\"version\":1,\"validator_index\":0,\"metrics_port\":1,\"genesis\":\"g\","
         "\"sign_key\":\"s\",\"curve_key\":\"c\",\"data_dir\":\"d\",\"peer_bind\":\"udp://x\","
         "\"client_bind\":\"tcp://x:2\",\"metrics_host\":\"h\"}", "peer_bind"},
        {"{\"version\":1,\"validator_index\":0,\"metrics_port\":1,\"genesis\":\"g\","
         "\"sign_key\":\"s\",\"curve_key\":7,\"data_dir\":\"d\",\"peer_bind\":\"tcp://x:1\","
         "\"client_bind\":\"tcp://x:2\",\"metrics_host\":\"h\"}", "curve_key: expected a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(path, cases[i].text);
        certa_node_config cfg;
        certa_errinfo ei;
        certa_errinfo_clear(&ei);
        cr_assert_neq(certa_node_config_load(path, &cfg, &ei), CERTA_OK, "case %zu", i);
        cr_assert_not_null(strstr(certa_errmsg(&ei), cases[i].expect),
                           "case %zu: '%s' lacks '%s'", i, certa_errmsg(&ei),
                           cases[i].expect);
        cr_assert_not_null(strstr(certa_errmsg(&ei), "node.json"), "case %zu", i);
    }
    /* Absolute paths stay as they are. */
    write_text(path, "{\"version\":1,\"validator_index\":3,\"metrics_port\":0,"
                     "\"genesis\":\"/etc/certa/genesis.json\",\"sign_key\":\"s\","
                     "\"curve_key\":\"c\",\"data_dir\":\"/var/lib/certa\","
                     "\"peer_bind\":\"tcp://0.0.0.0:1\",\"client_bind\":\"tcp://0.0.0.0:2\","
                     "\"metrics_host\":\"0.0.0.0\"}");
    certa_node_config cfg;
    cr_assert_eq(certa_node_config_load(path, &cfg, NULL), CERTA_OK);
    cr_assert_str_eq(cfg.genesis_path, "/etc/certa/genesis.json");
    cr_assert_str_eq(cfg.data_dir, "/var/lib/certa");
    cr_assert_eq(cfg.validator_index, 3);
    cr_assert_eq(cfg.metrics_port, 0);
    rm_rf(dir);
}

Test(genesis, refuses_overwrite_unless_forced)
{
    char dir[64], path[256];
    make_genesis(dir, 4);
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    certa_genesis *g1 = NULL, *g2 = NULL;
    cr_assert_eq(certa_genesis_load(path, &g1, NULL), CERTA_OK);
    certa_genesis_opts o = {.validators = 4, .dir = dir, .base_port = 17000,
                            .host = "127.0.0.1"};
    certa_errinfo ei;
    cr_assert_eq(certa_genesis_write(&o, &ei), CERTA_E_EXISTS);
    cr_assert_not_null(strstr(certa_errmsg(&ei), "--force"));
    o.force = true;
    cr_assert_eq(certa_genesis_write(&o, &ei), CERTA_OK, "%s", certa_errmsg(&ei));
    cr_assert_eq(certa_genesis_load(path, &g2, NULL), CERTA_OK);
    cr_assert_neq(memcmp(g1->hash, g2->hash, 32), 0);
    cr_assert_neq(memcmp(g1->validators[0].sign_pub, g2->validators[0].sign_pub, 32), 0);
    certa_genesis_free(g1);
    certa_genesis_free(g2);
    rm_rf(dir);
}

Test(genesis, writer_rejects_bad_validator_counts)
{
    static const uint32_t bad[] = {0, 1, 2, 3, 5, 6, 8, 9, 67};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        certa_genesis_opts o = {.validators = bad[i], .dir = "/nonexistent/x",
                                .base_port = 17000, .host = "127.0.0.1"};
        certa_errinfo ei;
        cr_assert_eq(certa_genesis_write(&o, &ei), CERTA_E_ARG, "n=%u", bad[i]);
        cr_assert_not_null(strstr(certa_errmsg(&ei), "3f+1"), "%s", certa_errmsg(&ei));
    }
    certa_genesis_opts o = {.validators = 4, .dir = "/nonexistent/x",
                            .base_port = 65530, .host = "127.0.0.1"};
    cr_assert_eq(certa_genesis_write(&o, NULL), CERTA_E_ARG);
    o.base_port = 17000;
    o.host = "bad host";
    cr_assert_eq(certa_genesis_write(&o, NULL), CERTA_E_ARG);
}

Test(genesis, seven_validators)
{
    char dir[64], path[256];
    make_genesis(dir, 7);
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    certa_genesis *g = NULL;
    cr_assert_eq(certa_genesis_load(path, &g, NULL), CERTA_OK);
    cr_assert_eq(g->validator_count, 7);
    cr_assert_eq(g->f, 2);
    certa_genesis_free(g);
    rm_rf(dir);
}

/* ---- validation: each mutation of a valid genesis must be refused with a
 * message naming the field ---- */

static json_t *at(json_t *root, const char *section, size_t i)
{
    json_t *e = json_array_get(json_object_get(root, section), i);
    cr_assert_not_null(e, "%s[%zu]", section, i);
    return e;
}

static json_t *copy_of(json_t *root, const char *section, size_t i,
                       const char *field)
{
    return json_deep_copy(json_object_get(at(root, section, i), field));
}

static void set(json_t *root, const char *section, size_t i, const char *field,
                json_t *v)
{
    json_object_set_new(at(root, section, i), field, v);
}

static void set_param(json_t *root, const char *field, json_t *v)
{
    json_object_set_new(json_object_get(root, "params"), field, v);
}

static void resize_validators(json_t *root, size_t n)
{
    json_t *vs = json_object_get(root, "validators");
    while (json_array_size(vs) > n)
        json_array_remove(vs, json_array_size(vs) - 1);
    while (json_array_size(vs) < n)
        json_array_append_new(vs, json_deep_copy(json_array_get(vs, 0)));
}

typedef struct mut {
    const char *expect; /* substring of the error message */
    certa_err code;
} mut;

#define Z85_BAD "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~"

static const mut cases[] = {
    /* 0 */ {"version: missing", CERTA_E_GENESIS},
    /* 1 */ {"version: 2 is not a supported version", CERTA_E_GENESIS},
    /* 2 */ {"genesis.json: unknown field \"extra\"", CERTA_E_GENESIS},
    /* 3 */ {"chain_name: must not be empty", CERTA_E_GENESIS},
    /* 4 */ {"params.checkpoint_interval: 0 is out of range", CERTA_E_GENESIS},
    /* 5 */ {"params.window_blocks: 100 must be a multiple", CERTA_E_GENESIS},
    /* 6 */ {"params.code_attempts_max: expected an integer, found a string", CERTA_E_GENESIS},
    /* 7 */ {"params.view_timeout_ms: 10 must exceed block_timeout_ms", CERTA_E_GENESIS},
    /* 8 */ {"params.grant_window_ms_max: 0 is out of range", CERTA_E_GENESIS},
    /* 9 */ {"licence_types[0]: id 0 must be named 'id_card'", CERTA_E_GENESIS},
    /* 10 */ {"licence_types[1]: id 0 appears twice", CERTA_E_GENESIS},
    /* 11 */ {"licence_types[7].id: 32 is out of range", CERTA_E_GENESIS},
    /* 12 */ {"bureaus: id 1 appears twice", CERTA_E_GENESIS},
    /* 13 */ {"centres[0].counters: 0 is out of range", CERTA_E_GENESIS},
    /* 14 */ {"matters[0].bureau: no bureau has id 99", CERTA_E_GENESIS},
    /* 15 */ {"matters[0].kind: 'family' is neither", CERTA_E_GENESIS},
    /* 16 */ {"matters[0].licence_types[0]: 'passport' is not in licence_types", CERTA_E_GENESIS},
    /* 17 */ {"matters[0].licence_types: has 0 entries", CERTA_E_GENESIS},
    /* 18 */ {"matters: id 1002 appears twice", CERTA_E_GENESIS},
    /* 19 */ {"validators[2].sign_pub: expected 64 hex digits", CERTA_E_GENESIS},
    /* 20 */ {"validators[2].sign_pub: same as validators[0].sign_pub", CERTA_E_GENESIS},
    /* 21 */ {"validators[1].curve_pub: expected a 40-character Z85", CERTA_E_GENESIS},
    /* 22 */ {"validators[1].curve_pub: expected a 40-character Z85", CERTA_E_GENESIS},
    /* 23 */ {"validators[3].name: same as validators[0].name", CERTA_E_GENESIS},
    /* 24 */ {"validators[0].peer_endpoint: 'udp://x:1' must start with tcp://", CERTA_E_GENESIS},
    /* 25 */ {"validators[0].metrics_endpoint", CERTA_E_GENESIS},
    /* 26 */ {"validators[0].name: '../x' must use only", CERTA_E_GENESIS},
    /* 27 */ {"integrators[0].role: 'clerk' is not one of", CERTA_E_GENESIS},
    /* 28 */ {"integrators[3].centre: missing", CERTA_E_GENESIS},
    /* 29 */ {"integrators[3].centre: no centre has id 99", CERTA_E_GENESIS},
    /* 30 */ {"integrators[0].centre: only a counter integrator", CERTA_E_GENESIS},
    /* 31 */ {"integrators[1].name: 'app' is also integrators[0].name", CERTA_E_GENESIS},
    /* 32 */ {"integrators[1].pub: same key as integrators[0]", CERTA_E_GENESIS},
    /* 33 */ {"integrators[0].pub: expected 64 hex digits", CERTA_E_GENESIS},
    /* 34 */ {"validators: expected an array, found an object", CERTA_E_GENESIS},
    /* 35 */ {"validators: n = 3 validators; PBFT needs n = 3f+1 >= 4", CERTA_E_GENESIS},
    /* 36 */ {"validators: n = 5 validators", CERTA_E_GENESIS},
    /* 37 */ {"validators: n = 6 validators", CERTA_E_GENESIS},
    /* 38 */ {"bureaus[0].name: contains a control character", CERTA_E_GENESIS},
    /* 39 */ {"validators[0]: unknown field \"port\"", CERTA_E_GENESIS},
    /* 40 */ {"genesis_time_ms: -1 is out of range", CERTA_E_GENESIS},
    /* 41 */ {"integrators: has 0 entries", CERTA_E_GENESIS},
    /* 42 */ {"centres[1].id: expected an integer, found a number with a fraction", CERTA_E_GENESIS},
    /* 43 */ {"matters[2]: expected an object, found null", CERTA_E_GENESIS},
    /* 44 */ {"params: missing", CERTA_E_GENESIS},
    /* 45 */ {"validators[1].client_endpoint: same as validators[0].client_endpoint", CERTA_E_GENESIS},
    /* 46 */ {"matters[0].licence_types[1]: 'id_card' appears twice", CERTA_E_GENESIS},
    /* 47 */ {"params.replay_horizon_batches: 15 is out of range", CERTA_E_GENESIS},
    /* 48 */ {"params.replay_horizon_ms: 1000 is out of range", CERTA_E_GENESIS},
    /* 49 */ {"params.rules: 3 is out of range", CERTA_E_GENESIS},
    /* 50 */ {"params.rules: 0 is out of range", CERTA_E_GENESIS},
};

static void mutate(json_t *r, int c)
{
    switch (c) {
    case 0: json_object_del(r, "version"); break;
    case 1: json_object_set_new(r, "version", json_integer(2)); break;
    case 2: json_object_set_new(r, "extra", json_true()); break;
    case 3: json_object_set_new(r, "chain_name", json_string("")); break;
    case 4: set_param(r, "checkpoint_interval", json_integer(0)); break;
    case 5: set_param(r, "window_blocks", json_integer(100)); break;
    case 6: set_param(r, "code_attempts_max", json_string("5")); break;
    case 7: set_param(r, "view_timeout_ms", json_integer(10)); break;
    case 8: set_param(r, "grant_window_ms_max", json_integer(0)); break;
    case 9: set(r, "licence_types", 0, "name", json_string("idcard")); break;
    case 10: set(r, "licence_types", 1, "id", json_integer(0)); break;
    case 11:
        json_array_append_new(json_object_get(r, "licence_types"),
                              json_pack("{s:i, s:s}", "id", 32, "name", "passport"));
        break;
    case 12: set(r, "bureaus", 1, "id", json_integer(1)); break;
    case 13: set(r, "centres", 0, "counters", json_integer(0)); break;
    case 14: set(r, "matters", 0, "bureau", json_integer(99)); break;
    case 15: set(r, "matters", 0, "kind", json_string("family")); break;
    case 16: set(r, "matters", 0, "licence_types", json_pack("[s]", "passport")); break;
    case 17: set(r, "matters", 0, "licence_types", json_array()); break;
    case 18: set(r, "matters", 0, "id", json_integer(1002)); break;
    case 19: set(r, "validators", 2, "sign_pub", json_string("abc")); break;
    case 20: set(r, "validators", 2, "sign_pub", copy_of(r, "validators", 0, "sign_pub")); break;
    case 21: set(r, "validators", 1, "curve_pub", json_string("short")); break;
    case 22: set(r, "validators", 1, "curve_pub", json_string(Z85_BAD)); break;
    case 23: set(r, "validators", 3, "name", json_string("node0")); break;
    case 24: set(r, "validators", 0, "peer_endpoint", json_string("udp://x:1")); break;
    case 25: set(r, "validators", 0, "metrics_endpoint", json_string("tcp://x:1")); break;
    case 26: set(r, "validators", 0, "name", json_string("../x")); break;
    case 27: set(r, "integrators", 0, "role", json_string("clerk")); break;
    case 28: json_object_del(at(r, "integrators", 3), "centre"); break;
    case 29: set(r, "integrators", 3, "centre", json_integer(99)); break;
    case 30: set(r, "integrators", 0, "centre", json_integer(1)); break;
    case 31: set(r, "integrators", 1, "name", json_string("app")); break;
    case 32: set(r, "integrators", 1, "pub", copy_of(r, "integrators", 0, "pub")); break;
    case 33:
        set(r, "integrators", 0, "pub",
            json_string("zz00000000000000000000000000000000000000000000000000000000000000"));
        break;
    case 34: json_object_set_new(r, "validators", json_object()); break;
    case 35: resize_validators(r, 3); break;
    case 36: resize_validators(r, 5); break;
    case 37: resize_validators(r, 6); break;
    case 38: set(r, "bureaus", 0, "name", json_string("Public\nSecurity")); break;
    case 39: set(r, "validators", 0, "port", json_integer(1)); break;
    case 40: json_object_set_new(r, "genesis_time_ms", json_integer(-1)); break;
    case 41: json_object_set_new(r, "integrators", json_array()); break;
    case 42: set(r, "centres", 1, "id", json_real(2.5)); break;
    case 43: json_array_set_new(json_object_get(r, "matters"), 2, json_null()); break;
    case 44: json_object_del(r, "params"); break;
    case 45:
        set(r, "validators", 1, "client_endpoint",
            copy_of(r, "validators", 0, "client_endpoint"));
        break;
    case 46: set(r, "matters", 0, "licence_types", json_pack("[s,s]", "id_card", "id_card")); break;
    case 47: set_param(r, "replay_horizon_batches", json_integer(15)); break;
    case 48: set_param(r, "replay_horizon_ms", json_integer(1000)); break;
    case 49: set_param(r, "rules", json_integer(3)); break;
    case 50: set_param(r, "rules", json_integer(0)); break;
    default: cr_assert_fail("no mutation %d", c);
    }
}

Test(genesis, every_rule_names_the_field)
{
    char dir[64], path[256];
    make_genesis(dir, 4);
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    size_t len;
    char *base = slurp(path, &len);

    /* The unmodified text, re-encoded, is still valid: the mutations are
     * what fails. */
    json_t *r0 = json_loadb(base, len, 0, NULL);
    char *t0 = json_dumps(r0, 0);
    certa_genesis *g = NULL;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_genesis_parse(t0, strlen(t0), "genesis.json", &g, &ei),
                 CERTA_OK, "%s", certa_errmsg(&ei));
    certa_genesis_free(g);
    free(t0);
    json_decref(r0);

    for (int c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++) {
        json_t *r = json_loadb(base, len, 0, NULL);
        cr_assert_not_null(r);
        mutate(r, c);
        char *t = json_dumps(r, JSON_INDENT(1));
        json_decref(r);
        g = NULL;
        certa_errinfo_clear(&ei);
        certa_err e = certa_genesis_parse(t, strlen(t), "genesis.json", &g, &ei);
        free(t);
        cr_assert_eq(e, cases[c].code, "case %d: got %d (%s)", c, e, certa_errmsg(&ei));
        cr_assert_null(g, "case %d", c);
        const char *msg = certa_errmsg(&ei);
        cr_assert(strncmp(msg, "genesis.json: ", 14) == 0, "case %d: %s", c, msg);
        cr_assert_not_null(strstr(msg, cases[c].expect), "case %d: '%s' lacks '%s'",
                           c, msg, cases[c].expect);
    }
    free(base);
    rm_rf(dir);
}

Test(genesis, syntax_errors_and_hash)
{
    certa_genesis *g = NULL;
    certa_errinfo ei;
    static const char *bad[] = {"", "{", "[]", "{\"version\": 1, \"version\": 1}",
                                "{\"version\": 1}\n{}", "nul\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        certa_errinfo_clear(&ei);
        certa_err e = certa_genesis_parse(bad[i], strlen(bad[i]), "g.json", &g, &ei);
        cr_assert_neq(e, CERTA_OK, "case %zu", i);
        cr_assert_null(g);
        cr_assert(strncmp(certa_errmsg(&ei), "g.json: ", 8) == 0, "%s", certa_errmsg(&ei));
    }
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_genesis_parse("{\n  \"version\": 1,\n  x\n}", 22, "g.json", &g, &ei),
                 CERTA_E_JSON);
    cr_assert_not_null(strstr(certa_errmsg(&ei), "line 3"), "%s", certa_errmsg(&ei));
    cr_assert_eq(certa_genesis_load("/nonexistent/genesis.json", &g, &ei), CERTA_E_IO);
    cr_assert_not_null(strstr(certa_errmsg(&ei), "/nonexistent/genesis.json"));

    /* Same bytes, same hash; one more space, another chain. */
    char dir[64], path[256];
    make_genesis(dir, 4);
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    size_t len;
    char *text = slurp(path, &len);
    certa_genesis *a = NULL, *b = NULL, *c = NULL;
    cr_assert_eq(certa_genesis_parse(text, len, "a", &a, NULL), CERTA_OK);
    cr_assert_eq(certa_genesis_parse(text, len, "b", &b, NULL), CERTA_OK);
    char *more = malloc(len + 2);
    memcpy(more, text, len);
    more[len] = ' ';
    cr_assert_eq(certa_genesis_parse(more, len + 1, "c", &c, NULL), CERTA_OK);
    cr_assert_eq(memcmp(a->hash, b->hash, 32), 0);
    cr_assert_neq(memcmp(a->hash, c->hash, 32), 0);
    certa_genesis_free(a);
    certa_genesis_free(b);
    certa_genesis_free(c);
    free(more);
    free(text);
    rm_rf(dir);
}
