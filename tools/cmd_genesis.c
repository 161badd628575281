/* certa genesis: writes a new chain's genesis directory (genesis.json,
 * validator keys and configs, demo integrator keys) or checks an existing
 * genesis.json and prints what it contains. */
#include <string.h>

#include "certa/genesis.h"
#include "cli.h"

static const char usage[] =
    "usage: certa genesis --validators N --dir DIR [--base-port P] [--host H]\n"
    "                     [--council N] [--force]\n"
    "       certa genesis check FILE\n\n"
    "The first form creates a new chain for the default Beijing catalogue\n"
    "(municipal centre and 16 district centres, 16 bureaus, 107 personal and\n"
    "168 company matters, 7 licence types) and writes:\n"
    "  DIR/genesis.json               the chain's founding document\n"
    "  DIR/nodeK/sign.pem             validator K's Ed25519 key (0600)\n"
    "  DIR/nodeK/curve.key            its ZeroMQ CURVE secret, Z85 (0600)\n"
    "  DIR/nodeK/node.json            its configuration\n"
    "  DIR/integrators/NAME.pem       demo integrator keys (0600): app,\n"
    "                                 library, admin, counter-<centre>\n"
    "N must be 3f+1 >= 4 (4, 7, 10, ...). Validator K listens on ports\n"
    "P+10K (peers), P+10K+1 (integrators) and P+10K+2 (metrics) of H.\n"
    "--council N names a governance council (docs/OPERATIONS.md \"Governance\"):\n"
    "admin plus N-1 more admin integrators (admin-2 .. admin-N, keys in\n"
    "DIR/integrators), a majority of them (N/2+1) to approve a change;\n"
    "without it the chain's integrators, counters and parameters stay as\n"
    "genesis says.\n"
    "Defaults: --base-port 7000, --host 127.0.0.1. An existing\n"
    "DIR/genesis.json is kept unless --force (which makes new keys).\n\n"
    "'check' loads and validates FILE and prints a summary.\n\n"
    "exit codes: 0 ok, 1 the genesis is invalid (check), 2 usage,\n"
    "3 runtime error (I/O, existing genesis without --force).\n";

static void print_summary(const char *path, const certa_genesis *g)
{
    char hash[2 * CERTA_HASH_BYTES + 1];
    certa_hex_encode(g->hash, sizeof g->hash, hash);
    unsigned roles[5] = {0};
    for (uint32_t i = 0; i < g->integrator_count; i++)
        roles[g->integrators[i].role]++;
    unsigned long counters = 0;
    for (uint32_t i = 0; i < g->centre_count; i++)
        counters += g->centres[i].counters;
    unsigned personal = 0, company = 0;
    bool pb[UINT16_MAX + 1u], cb[UINT16_MAX + 1u];
    memset(pb, 0, sizeof pb);
    memset(cb, 0, sizeof cb);
    unsigned personal_bureaus = 0, company_bureaus = 0;
    for (uint32_t i = 0; i < g->matter_count; i++) {
        const certa_matter_info *m = &g->matters[i];
        bool *seen = m->company ? cb : pb;
        if (m->company)
            company++;
        else
            personal++;
        if (!seen[m->bureau]) {
            seen[m->bureau] = true;
            if (m->company)
                company_bureaus++;
            else
                personal_bureaus++;
        }
    }
    printf("%s: valid\n", path);
    printf("chain:         %s\n", g->chain_name);
    printf("chain hash:    %s\n", hash);
    printf("validators:    %u (f = %u, quorum %u)\n", g->validator_count, g->f,
           2 * g->f + 1);
    printf("integrators:   %u (app %u, counter %u, library %u, admin %u)\n",
           g->integrator_count, roles[CERTA_ROLE_APP], roles[CERTA_ROLE_COUNTER],
           roles[CERTA_ROLE_LIBRARY], roles[CERTA_ROLE_ADMIN]);
    printf("centres:       %u with %lu counters\n", g->centre_count, counters);
    printf("bureaus:       %u\n", g->bureau_count);
    printf("matters:       %u (personal %u from %u bureaus, company %u from %u "
           "bureaus)\n",
           g->matter_count, personal, personal_bureaus, company, company_bureaus);
    printf("licence types: %u\n", g->licence_type_count);
}

static int cmd_check(int argc, char **argv)
{
    if (argc != 3)
        return certa_usage_error("genesis", "check takes exactly one FILE");
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_genesis *g = NULL;
    certa_err e = certa_genesis_load(argv[2], &g, &ei);
    if (e != CERTA_OK) {
        fprintf(stderr, "certa genesis: %s\n", certa_errmsg(&ei));
        return e == CERTA_E_IO || e == CERTA_E_NOMEM ? CERTA_EXIT_ERROR
                                                      : CERTA_EXIT_FAIL;
    }
    print_summary(argv[2], g);
    certa_genesis_free(g);
    return CERTA_EXIT_OK;
}

int certa_cmd_genesis(int argc, char **argv)
{
    if (certa_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CERTA_EXIT_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "check") == 0)
        return cmd_check(argc, argv);

    certa_genesis_opts o = {.base_port = 7000, .host = "127.0.0.1"};
    bool have_n = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        unsigned long long v = 0;
        if (strcmp(a, "--force") == 0) {
            o.force = true;
        } else if (i + 1 >= argc) {
            return certa_usage_error("genesis", "unexpected argument '%s'", a);
        } else if (strcmp(a, "--validators") == 0) {
            if (certa_parse_u64(argv[++i], 0, 1000, &v) != 0)
                return certa_usage_error("genesis",
                                         "--validators wants a number, not '%s'",
                                         argv[i]);
            o.validators = (uint32_t)v;
            have_n = true;
        } else if (strcmp(a, "--dir") == 0) {
            o.dir = argv[++i];
        } else if (strcmp(a, "--base-port") == 0) {
            if (certa_parse_u64(argv[++i], 1024, 65535, &v) != 0)
                return certa_usage_error("genesis",
                                         "--base-port wants 1024..65535, not '%s'",
                                         argv[i]);
            o.base_port = (uint16_t)v;
        } else if (strcmp(a, "--host") == 0) {
            o.host = argv[++i];
        } else if (strcmp(a, "--council") == 0) {
            if (certa_parse_u64(argv[++i], 1, CERTA_GENESIS_COUNCIL_MAX, &v) != 0)
                return certa_usage_error("genesis", "--council wants 1..%u, not '%s'",
                                         CERTA_GENESIS_COUNCIL_MAX, argv[i]);
            o.council = (uint32_t)v;
        } else {
            return certa_usage_error("genesis", "unexpected argument '%s'", a);
        }
    }
    if (!have_n)
        return certa_usage_error("genesis", "--validators N is required");
    if (o.dir == NULL)
        return certa_usage_error("genesis", "--dir DIR is required");
    if (o.validators < 4 || o.validators % 3 != 1 ||
        o.validators > CERTA_VALIDATORS_MAX)
        return certa_usage_error(
            "genesis",
            "--validators %u: PBFT needs n = 3f+1 >= 4 validators, at most "
            "%u (4, 7, 10, ...)",
            o.validators, CERTA_VALIDATORS_MAX);

    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e = certa_genesis_write(&o, &ei);
    if (e == CERTA_E_ARG)
        return certa_usage_error("genesis", "%s", certa_errmsg(&ei));
    if (e != CERTA_OK)
        return certa_fail("genesis", "%s", certa_errmsg(&ei));
    printf("wrote %s/genesis.json, %u validator directories (%s/node0 .. "
           "node%u) and %s/integrators/\n",
           o.dir, o.validators, o.dir, o.validators - 1, o.dir);
    return CERTA_EXIT_OK;
}
