/* certa status: asks each named validator for its status over the client
 * protocol (QUERY status) and prints height, view, primary, events/s, its
 * chain (checked against the local genesis) and whether each of its links
 * to the other validators is up. Exit 1 when a validator did not answer or
 * runs another chain than the local genesis.json says. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "certa/client.h"
#include "cli.h"
#include "endpoints.h"

static const char usage[] =
    "usage: certa status --to ENDPOINT[,ENDPOINT...]|all [--genesis FILE]\n"
    "                    [--timeout-ms MS] [--json]\n\n"
    "Queries each validator's status: height, view, primary, recent events/s,\n"
    "validator set (n, f, epoch) and, per peer, whether its link is up. The\n"
    "validator's chain_id is compared with SHA-256 of the local genesis file:\n"
    "\"chain ok\", or \"CHAIN MISMATCH\" and exit 1.\n"
    "ENDPOINTs are client endpoints or validator names from genesis (default\n"
    "genesis: $CERTA_GENESIS, else ./genesis.json), or \"all\". --json prints\n"
    "each answer as one JSON line. Exit status: 0 all answered on the expected\n"
    "chain, 1 some did not (within --timeout-ms, default 3000) or run another\n"
    "chain, 2 usage, 3 error.\n";

/* Whether a status document names the chain of the local genesis (its
 * chain_id is SHA-256 of genesis.json's bytes, docs/PROTOCOL.md). */
static bool same_chain(const char *doc, size_t len, const char *want_hex)
{
    json_t *j = json_loadb(doc, len, 0, NULL);
    const char *got = json_string_value(json_object_get(j, "chain_id"));
    bool ok = got != NULL && strcmp(got, want_hex) == 0;
    json_decref(j);
    return ok;
}

static void print_human(const char *name, const char *ep, const char *doc, size_t len,
                        bool chain_ok)
{
    json_error_t jerr;
    json_t *j = json_loadb(doc, len, 0, &jerr);
    if (!json_is_object(j)) {
        printf("%-10s %-24s answered with unreadable JSON: %s\n", name, ep, jerr.text);
        json_decref(j);
        return;
    }
    printf("%-10s %-24s height %" JSON_INTEGER_FORMAT "  view %" JSON_INTEGER_FORMAT
           "  primary %" JSON_INTEGER_FORMAT "  events/s %.0f", name, ep,
           json_integer_value(json_object_get(j, "height")),
           json_integer_value(json_object_get(j, "view")),
           json_integer_value(json_object_get(j, "primary")),
           json_number_value(json_object_get(j, "events_per_s")));
    printf("  n %" JSON_INTEGER_FORMAT " f %" JSON_INTEGER_FORMAT " epoch %" JSON_INTEGER_FORMAT,
           json_integer_value(json_object_get(j, "n")),
           json_integer_value(json_object_get(j, "f")),
           json_integer_value(json_object_get(j, "epoch")));
    const char *cid = json_string_value(json_object_get(j, "chain_id"));
    if (chain_ok)
        printf("  chain ok");
    else
        printf("  CHAIN MISMATCH (its chain_id %.16s...)", cid != NULL ? cid : "absent");
    json_t *peers = json_object_get(j, "peers");
    size_t i;
    json_t *p;
    if (json_is_array(peers) && json_array_size(peers) > 0) {
        printf("  peers");
        json_array_foreach(peers, i, p) {
            const char *pn = json_string_value(json_object_get(p, "name"));
            printf(" %s:%s", pn != NULL ? pn : "?",
                   json_is_true(json_object_get(p, "up")) ? "up" : "down");
        }
    }
    printf("\n");
    json_decref(j);
}

int certa_cmd_status(int argc, char **argv)
{
    if (certa_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CERTA_EXIT_OK;
    }
    const char *to = NULL, *genesis = NULL;
    unsigned long long timeout = 3000;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            to = argv[++i];
        else if (strcmp(argv[i], "--genesis") == 0 && i + 1 < argc)
            genesis = argv[++i];
        else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 1, 600000, &timeout) != 0)
                return certa_usage_error("status", "--timeout-ms needs 1..600000");
        } else if (strcmp(argv[i], "--json") == 0)
            as_json = true;
        else
            return certa_usage_error("status", "unexpected argument '%s'", argv[i]);
    }
    if (to == NULL)
        return certa_usage_error("status", "--to ENDPOINT[,...] is required");
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_genesis *g = NULL;
    static certa_tool_endpoints eps;
    if (certa_genesis_load(certa_tool_genesis_path(genesis), &g, &ei) != CERTA_OK ||
        certa_tool_endpoints_resolve(g, to, &eps, &ei) != CERTA_OK) {
        certa_genesis_free(g);
        return certa_fail("status", "%s", certa_errmsg(&ei));
    }
    char want_chain[2 * CERTA_HASH_BYTES + 1];
    certa_hex_encode(g->hash, CERTA_HASH_BYTES, want_chain);
    /* One client per validator, all queried at once; a status of 64
     * validators, peers listed, stays well below 16 KiB. */
    static certa_tool_answer ans[CERTA_TOOL_ENDPOINTS_MAX];
    certa_cp_query q = { .kind = CERTA_QUERY_STATUS };
    int rc = CERTA_EXIT_OK;
    if (certa_tool_query_all(&eps, &q, (uint32_t)timeout, 16384, ans, &ei) != CERTA_OK) {
        rc = certa_fail("status", "%s", certa_errmsg(&ei));
        goto out;
    }
    for (uint32_t i = 0; i < eps.count; i++) {
        const char *name = g->validators[eps.validator[i]].name;
        if (ans[i].body == NULL) {
            const char *why = ans[i].why;
            if (as_json) {
                json_t *j = json_pack("{s:i,s:s,s:s}", "validator", (int)eps.validator[i],
                                      "endpoint", eps.endpoints[i], "error", why);
                if (j != NULL) {
                    json_dumpf(j, stdout, JSON_COMPACT);
                    putchar('\n');
                    json_decref(j);
                }
            } else
                printf("%-10s %-24s no answer: %s\n", name, eps.endpoints[i], why);
            rc = CERTA_EXIT_FAIL;
            continue;
        }
        const char *doc = (const char *)ans[i].body + 1;
        size_t dl = ans[i].len - 1;
        bool chain_ok = same_chain(doc, dl, want_chain);
        if (!chain_ok)
            rc = CERTA_EXIT_FAIL;
        if (as_json)
            printf("%.*s\n", (int)dl, doc);
        else
            print_human(name, eps.endpoints[i], doc, dl, chain_ok);
        if (!chain_ok && as_json)
            fprintf(stderr, "certa status: %s at %s runs another chain than %s\n", name,
                    eps.endpoints[i], certa_tool_genesis_path(genesis));
    }
out:
    certa_tool_answers_free(ans, eps.count);
    certa_genesis_free(g);
    return rc;
}
