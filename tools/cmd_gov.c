/* certa gov: the council's commands (docs/OPERATIONS.md, "Governance").
 *
 * propose and approve build one GOVERN event, sign it as a batch of the
 * council member's admin integrator and submit it like `certa submit`
 * (net/submit.c), then print the committed result as JSON. status and show
 * read a data directory offline (its state rebuilt like `certa query
 * --data`) and print the governed tables as JSON.
 *
 * The batch's sequence number defaults to the wall clock in milliseconds,
 * so that successive commands of one member never reuse a number (gaps are
 * allowed; docs/PROTOCOL.md "Replay protection").
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "certa/gov.h"
#include "certa/state.h"
#include "certa/store.h"
#include "cli.h"
#include "endpoints.h"
#include "../engine/event_json.h"
#include "../engine/query.h"
#include "../net/submit.h"

#define CMD "gov"

static const char usage[] =
    "usage: certa gov propose --change TYPE [change options] --expires-in-ms MS\n"
    "                         --to ENDPOINT[,...] --integrator ADMIN --key FILE [common]\n"
    "       certa gov approve --proposal HEX\n"
    "                         --to ENDPOINT[,...] --integrator ADMIN --key FILE [common]\n"
    "       certa gov status --data DIR [--genesis FILE]\n"
    "       certa gov show   --data DIR [--genesis FILE]\n\n"
    "The council (genesis \"council\": admin integrators and a threshold k)\n"
    "changes integrators, centres, counters and parameters on chain: a member proposes\n"
    "one change, and it is in force from the block after the one that commits\n"
    "its k-th approval (the proposer's propose counts as one).\n\n"
    "propose and approve print {\"op\", \"proposal\" (the digest approvals name),\n"
    "\"seq\", \"result\"} (result: ok or a rejection reason, docs/OPERATIONS.md\n"
    "\"Rejection reasons\"); exit 0 when the result is ok, 1 otherwise.\n"
    "status prints the council, the open proposals and the height; show adds\n"
    "every integrator (index, name, role, status, key), the counters of every\n"
    "centre and the parameters. Both read DIR (a validator's nodeK/data)\n"
    "offline, like 'certa query --data'.\n\n"
    "Change types and their options:\n"
    "  council_add | council_remove        --target ADMIN\n"
    "  council_threshold                   --value K\n"
    "  integrator_add                      --name NAME --role ROLE --pub HEX|--pub-key PEM\n"
    "                                      [--centre ID] (counter role)\n"
    "  integrator_suspend | integrator_resume | integrator_remove   --target NAME\n"
    "  integrator_rotate                   --target NAME --pub HEX|--pub-key PEM\n"
    "  counter_add                         --centre ID\n"
    "  counter_close                       --centre ID --counter N\n"
    "  centre_add                          --centre ID --value COUNTERS --name NAME\n"
    "                                      (a centre id never used; 1..4096 counters;\n"
    "                                      a name no centre has, 1..63 bytes)\n"
    "  centre_close                        --centre ID (for good: it refuses grants,\n"
    "                                      redeems and evidence)\n"
    "  param_set                           --param P --value V, P one of:\n"
    "                                      code_attempts_max (1..10), grant_window_ms_max\n"
    "                                      (60000..31622400000), block_events_max (1..32768),\n"
    "                                      block_timeout_ms (1..10000, below the view\n"
    "                                      timeout), view_timeout_ms (10..600000)\n"
    "  catalogue_set                       --centre ID --matter ID --allowed TYPES\n"
    "                                      [--required TYPES]  (TYPES: comma-separated\n"
    "                                      licence type names, or \"none\": the centre does\n"
    "                                      not offer the matter; the matter's genesis\n"
    "                                      types and no required one: back to default)\n"
    "--target is a name from genesis or an index (integrators the council\n"
    "added: see 'certa gov show').\n\n"
    "Common options:\n"
    "  --genesis FILE   default $CERTA_GENESIS, else ./genesis.json\n"
    "  --seq N          the batch's sequence number (default: now in ms)\n"
    "  --nonce HEX      16 bytes telling two equal proposals apart (default random)\n"
    "  --deadline-ms MS give up after MS (default 60000)\n"
    "exit: 0 ok, 1 rejected or not committed, 2 usage, 3 error.\n";

typedef struct gov_args {
    const char *op, *to, *integrator, *key, *genesis, *data;
    const char *change, *target, *name, *role, *pub, *pub_key, *param, *proposal, *nonce;
    const char *allowed, *required;
    unsigned long long centre, counter, matter, value, expires_in_ms, seq, deadline_ms;
    bool has_value, has_expires;
} gov_args;

static int parse_args(int argc, char **argv, gov_args *a)
{
    memset(a, 0, sizeof *a);
    a->op = argv[1];
    a->deadline_ms = 60000;
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            return certa_usage_error(CMD, "%s needs a value (or is unknown)", k);
        const char **s = strcmp(k, "--to") == 0           ? &a->to
                         : strcmp(k, "--integrator") == 0 ? &a->integrator
                         : strcmp(k, "--key") == 0        ? &a->key
                         : strcmp(k, "--genesis") == 0    ? &a->genesis
                         : strcmp(k, "--data") == 0       ? &a->data
                         : strcmp(k, "--change") == 0     ? &a->change
                         : strcmp(k, "--target") == 0     ? &a->target
                         : strcmp(k, "--name") == 0       ? &a->name
                         : strcmp(k, "--role") == 0       ? &a->role
                         : strcmp(k, "--pub") == 0        ? &a->pub
                         : strcmp(k, "--pub-key") == 0    ? &a->pub_key
                         : strcmp(k, "--param") == 0      ? &a->param
                         : strcmp(k, "--proposal") == 0   ? &a->proposal
                         : strcmp(k, "--nonce") == 0      ? &a->nonce
                         : strcmp(k, "--allowed") == 0    ? &a->allowed
                         : strcmp(k, "--required") == 0   ? &a->required
                                                          : NULL;
        unsigned long long *n = strcmp(k, "--centre") == 0          ? &a->centre
                                : strcmp(k, "--counter") == 0       ? &a->counter
                                : strcmp(k, "--matter") == 0        ? &a->matter
                                : strcmp(k, "--value") == 0         ? &a->value
                                : strcmp(k, "--expires-in-ms") == 0 ? &a->expires_in_ms
                                : strcmp(k, "--seq") == 0           ? &a->seq
                                : strcmp(k, "--deadline-ms") == 0   ? &a->deadline_ms
                                                                    : NULL;
        if (s != NULL) {
            *s = v;
        } else if (n != NULL) {
            unsigned long long max = n == &a->centre || n == &a->counter ? UINT16_MAX
                                     : n == &a->matter                      ? UINT32_MAX
                                                                            : (unsigned long long)INT64_MAX;
            if (certa_parse_u64(v, 0, max, n) != 0)
                return certa_usage_error(CMD, "%s needs a number in 0..%llu, got '%s'", k, max, v);
            a->has_value |= n == &a->value;
            a->has_expires |= n == &a->expires_in_ms;
        } else {
            return certa_usage_error(CMD, "unknown option '%s'", k);
        }
        i++;
    }
    return CERTA_EXIT_OK;
}

/* --target: a genesis name, or an index. */
static int resolve_target(const certa_genesis *g, const char *t, uint16_t *out)
{
    int idx = certa_genesis_integrator_find(g, t);
    unsigned long long n;
    if (idx < 0 && certa_parse_u64(t, 0, CERTA_INTEGRATORS_MAX - 1, &n) == 0)
        idx = (int)n;
    if (idx < 0)
        return certa_usage_error(CMD, "--target '%s' is neither an integrator of genesis nor "
                                 "an index (see 'certa gov show')", t);
    *out = (uint16_t)idx;
    return CERTA_EXIT_OK;
}

static int read_pub(const gov_args *a, uint8_t pub[CERTA_PUBKEY_BYTES])
{
    if ((a->pub == NULL) == (a->pub_key == NULL))
        return certa_usage_error(CMD, "--change %s needs one of --pub HEX and --pub-key PEM",
                                 a->change);
    if (a->pub != NULL) {
        if (strlen(a->pub) != 2 * CERTA_PUBKEY_BYTES ||
            certa_hex_decode(a->pub, pub, CERTA_PUBKEY_BYTES) != CERTA_OK)
            return certa_usage_error(CMD, "--pub needs 64 hex digits (an Ed25519 public key)");
        return CERTA_EXIT_OK;
    }
    certa_errinfo ei;
    certa_key *k = NULL;
    if (certa_key_load_pem(a->pub_key, &k, &ei) != CERTA_OK)
        return certa_fail(CMD, "%s", certa_errmsg(&ei));
    certa_key_public(k, pub);
    certa_key_free(k);
    return CERTA_EXIT_OK;
}

/* A licence types mask from "id_card,household_register" ("none": 0). */
static int parse_types(const char *opt, const char *list, uint32_t *mask)
{
    *mask = 0;
    if (list == NULL || strcmp(list, "none") == 0)
        return CERTA_EXIT_OK;
    char buf[1024];
    if (strlen(list) >= sizeof buf)
        return certa_usage_error(CMD, "%s: list too long", opt);
    strcpy(buf, list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        int lt = certa_licence_type_parse(t);
        if (lt < 0)
            return certa_usage_error(CMD, "%s: '%s' is not a licence type", opt, t);
        *mask |= 1u << lt;
    }
    return CERTA_EXIT_OK;
}

/* The change's fields from the options (only those its type uses). */
static int build_change(const certa_genesis *g, const gov_args *a, certa_gov_body *b)
{
    int c = certa_gov_change_parse(a->change);
    if (c < 0)
        return certa_usage_error(CMD, "--change '%s' is not a change type (see --help)",
                                 a->change);
    if (!a->has_expires || a->expires_in_ms == 0)
        return certa_usage_error(CMD, "propose needs --expires-in-ms MS (> 0): approvals "
                                 "after that fail (gov_expired)");
    b->op = CERTA_GOV_PROPOSE;
    b->change = (uint8_t)c;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    b->expires_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u +
                    a->expires_in_ms;
    int rc = CERTA_EXIT_OK;
    bool target = c == CERTA_GC_COUNCIL_ADD || c == CERTA_GC_COUNCIL_REMOVE ||
                  (c >= CERTA_GC_INTEGRATOR_SUSPEND && c <= CERTA_GC_INTEGRATOR_ROTATE);
    if (target) {
        if (a->target == NULL)
            return certa_usage_error(CMD, "--change %s needs --target", a->change);
        if ((rc = resolve_target(g, a->target, &b->integrator)) != CERTA_EXIT_OK)
            return rc;
    }
    if ((c == CERTA_GC_INTEGRATOR_ADD || c == CERTA_GC_INTEGRATOR_ROTATE) &&
        (rc = read_pub(a, b->pub)) != CERTA_EXIT_OK)
        return rc;
    if (c == CERTA_GC_INTEGRATOR_ADD) {
        int role = a->role ? certa_role_parse(a->role) : -1;
        if (a->name == NULL || strlen(a->name) >= CERTA_GOV_NAME_BYTES || role < 0)
            return certa_usage_error(CMD, "integrator_add needs --name (1..63 bytes) and "
                                     "--role app|counter|library|admin");
        memcpy(b->name, a->name, strlen(a->name));
        b->role = (uint8_t)role;
    }
    if (c == CERTA_GC_INTEGRATOR_ADD || c == CERTA_GC_COUNTER_ADD ||
        c == CERTA_GC_COUNTER_CLOSE || c == CERTA_GC_CATALOGUE_SET ||
        c == CERTA_GC_CENTRE_ADD || c == CERTA_GC_CENTRE_CLOSE)
        b->centre = (uint16_t)a->centre;
    if ((c == CERTA_GC_CENTRE_ADD || c == CERTA_GC_CENTRE_CLOSE || c == CERTA_GC_COUNTER_ADD ||
         c == CERTA_GC_COUNTER_CLOSE) && a->centre == 0)
        return certa_usage_error(CMD, "--change %s needs --centre ID (>= 1)", a->change);
    if (c == CERTA_GC_CENTRE_ADD) {
        if (a->name == NULL || a->name[0] == '\0' || strlen(a->name) >= CERTA_GOV_NAME_BYTES)
            return certa_usage_error(CMD, "centre_add needs --name (1..63 bytes)");
        if (!a->has_value || a->value < 1 || a->value > CERTA_GOV_COUNTERS_MAX)
            return certa_usage_error(CMD, "centre_add needs --value COUNTERS in 1..%u",
                                     CERTA_GOV_COUNTERS_MAX);
        memcpy(b->name, a->name, strlen(a->name));
        b->value = a->value;
    }
    if (c == CERTA_GC_CATALOGUE_SET) {
        uint32_t allowed, required;
        if (a->allowed == NULL || a->matter == 0)
            return certa_usage_error(CMD, "catalogue_set needs --centre, --matter and --allowed");
        if ((rc = parse_types("--allowed", a->allowed, &allowed)) != CERTA_EXIT_OK ||
            (rc = parse_types("--required", a->required, &required)) != CERTA_EXIT_OK)
            return rc;
        b->matter = (uint32_t)a->matter;
        b->value = (uint64_t)required << 32 | allowed;
    }
    if (c == CERTA_GC_COUNTER_CLOSE)
        b->counter = (uint16_t)a->counter;
    if (c == CERTA_GC_COUNCIL_THRESHOLD || c == CERTA_GC_PARAM_SET) {
        if (!a->has_value)
            return certa_usage_error(CMD, "--change %s needs --value", a->change);
        b->value = a->value;
    }
    if (c == CERTA_GC_PARAM_SET) {
        int p = a->param ? certa_gov_param_parse(a->param) : -1;
        if (p < 0)
            return certa_usage_error(CMD, "param_set needs --param code_attempts_max, "
                                     "grant_window_ms_max, block_events_max, "
                                     "block_timeout_ms or view_timeout_ms");
        b->param = (uint8_t)p;
    }
    return CERTA_EXIT_OK;
}

/* Builds the event of propose or approve into ev. */
static int build_event(const certa_genesis *g, const gov_args *a, certa_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = CERTA_EV_GOVERN;
    if (a->nonce != NULL) {
        if (strlen(a->nonce) != 2 * CERTA_GRANT_ID_BYTES ||
            certa_hex_decode(a->nonce, ev->grant_id, CERTA_GRANT_ID_BYTES) != CERTA_OK)
            return certa_usage_error(CMD, "--nonce needs 32 hex digits");
    } else {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        bool ok = fd >= 0 && read(fd, ev->grant_id, CERTA_GRANT_ID_BYTES) ==
                                 (ssize_t)CERTA_GRANT_ID_BYTES;
        if (fd >= 0)
            close(fd);
        if (!ok)
            return certa_fail(CMD, "/dev/urandom: cannot read a nonce: %m");
    }
    if (strcmp(a->op, "approve") == 0) {
        if (a->proposal == NULL || strlen(a->proposal) != 2 * CERTA_HASH_BYTES ||
            certa_hex_decode(a->proposal, ev->gov.proposal, CERTA_HASH_BYTES) != CERTA_OK)
            return certa_usage_error(CMD, "approve needs --proposal (64 hex digits, the "
                                     "digest propose printed)");
        ev->gov.op = CERTA_GOV_APPROVE;
        memset(ev->grant_id, 0, CERTA_GRANT_ID_BYTES); /* equal approvals are one */
        return CERTA_EXIT_OK;
    }
    if (a->change == NULL)
        return certa_usage_error(CMD, "propose needs --change TYPE");
    return build_change(g, a, &ev->gov);
}

static int submit_one(const gov_args *a)
{
    if (a->to == NULL || a->integrator == NULL || a->key == NULL)
        return certa_usage_error(CMD, "%s needs --to, --integrator and --key", a->op);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_genesis *g = NULL;
    certa_key *key = NULL;
    FILE *f = NULL;
    char *text = NULL;
    int rc = CERTA_EXIT_ERROR;
    static certa_tool_endpoints eps;
    if (certa_genesis_load(certa_tool_genesis_path(a->genesis), &g, &ei) != CERTA_OK ||
        certa_tool_endpoints_resolve(g, a->to, &eps, &ei) != CERTA_OK ||
        certa_key_load_pem(a->key, &key, &ei) != CERTA_OK) {
        rc = certa_fail(CMD, "%s", certa_errmsg(&ei));
        goto out;
    }
    certa_event ev;
    if ((rc = build_event(g, a, &ev)) != CERTA_EXIT_OK)
        goto out;
    rc = CERTA_EXIT_ERROR;
    if (certa_event_validate(&ev, &ei) != CERTA_OK) {
        rc = certa_usage_error(CMD, "the event does not encode: %s", certa_errmsg(&ei));
        goto out;
    }
    uint8_t digest[CERTA_HASH_BYTES];
    const uint8_t *named = ev.gov.proposal;
    if (ev.gov.op == CERTA_GOV_PROPOSE) {
        certa_err e = certa_gov_proposal_digest(&ev, digest, &ei);
        CERTA_ASSERT(e == CERTA_OK); /* validated above */
        (void)e;
        named = digest;
    }
    text = certa_event_format_json(&ev, NULL);
    if (text == NULL || (f = tmpfile()) == NULL || fprintf(f, "%s\n", text) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        rc = certa_fail(CMD, "cannot stage the event: %m");
        goto out;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seq = a->seq ? a->seq : (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    certa_submit_opts o = {
        .genesis = g, .integrator = a->integrator, .key = key, .events_path = "(gov event)",
        .events = f, .endpoint_count = eps.count, .endpoints = eps.endpoints,
        .server_keys = eps.server_keys, .batch_events = 1, .seq_first = seq, .window = 1,
        .deadline_ms = (uint32_t)a->deadline_ms, .key_rotated = true,
    };
    static certa_submit_summary s;
    if (certa_submit_run(&o, &s, &ei) != CERTA_OK) {
        rc = certa_fail(CMD, "%s", certa_errmsg(&ei));
        goto out;
    }
    const char *result = "not_committed";
    for (unsigned c = 0; c < CERTA_SUBMIT_CODES_MAX; c++)
        if (s.by_code[c] > 0)
            result = certa_result_name(c) ? certa_result_name(c) : "unknown";
    char hex[2 * CERTA_HASH_BYTES + 1];
    certa_hex_encode(named, CERTA_HASH_BYTES, hex);
    json_t *out = json_pack("{s:s, s:s, s:I, s:s}", "op", a->op, "proposal", hex, "seq",
                            (json_int_t)seq, "result", result);
    if (out != NULL && s.not_committed > 0 && s.last_error[0] != '\0')
        json_object_set_new(out, "error", json_string(s.last_error));
    char *line = out ? json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(out);
    if (line == NULL) {
        rc = certa_fail(CMD, "out of memory");
        goto out;
    }
    printf("%s\n", line);
    free(line);
    rc = s.ok == 1 ? CERTA_EXIT_OK : CERTA_EXIT_FAIL;
out:
    if (f != NULL)
        fclose(f);
    free(text);
    certa_key_free(key);
    certa_genesis_free(g);
    return rc;
}

/* ---- status and show: the governed tables of a data directory ---- */

static json_t *integrator_json(const certa_state *s, uint32_t i)
{
    certa_gov_integrator gi;
    if (!certa_state_integrator(s, i, &gi))
        return json_null();
    char pub[2 * CERTA_PUBKEY_BYTES + 1];
    certa_hex_encode(gi.pub, CERTA_PUBKEY_BYTES, pub);
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I}", "index", (int)i, "name", gi.name,
                          "role", certa_role_name(gi.role) ? certa_role_name(gi.role) : "?",
                          "status", certa_integrator_status_name(gi.status), "pub", pub,
                          "key_since", (json_int_t)gi.key_since);
    if (o != NULL && gi.centre != 0)
        json_object_set_new(o, "centre", json_integer(gi.centre));
    return o;
}

static json_t *member_names(const certa_state *s, const uint16_t *idx, uint32_t n)
{
    json_t *arr = json_array();
    for (uint32_t i = 0; arr != NULL && i < n; i++) {
        certa_gov_integrator gi;
        json_array_append_new(arr, certa_state_integrator(s, idx[i], &gi) ? json_string(gi.name)
                                                                         : json_integer(idx[i]));
    }
    return arr;
}

static json_t *types_json(uint32_t mask)
{
    json_t *arr = json_array();
    for (unsigned t = 0; arr != NULL && t < CERTA_LICENCE_TYPES_MAX; t++) {
        char name[16];
        const char *n = certa_licence_type_name(t);
        if (n == NULL) {
            snprintf(name, sizeof name, "type_%u", t);
            n = name;
        }
        if (mask & (1u << t))
            json_array_append_new(arr, json_string(n));
    }
    return arr;
}

static json_t *status_json(const certa_state *s, bool full)
{
    certa_gov_council c;
    certa_state_council(s, &c);
    json_t *doc = json_pack("{s:I, s:{s:o, s:i}, s:I, s:i}", "height",
                            (json_int_t)certa_state_height(s), "council", "members",
                            member_names(s, c.members, c.count), "threshold", (int)c.threshold,
                            "generation", (json_int_t)certa_state_gov_generation(s),
                            "integrators", (int)certa_state_integrator_count(s));
    json_t *props = json_array();
    for (uint32_t i = 0; doc != NULL && props != NULL && i < certa_state_proposal_count(s);
         i++) {
        certa_gov_proposal p;
        if (!certa_state_proposal(s, i, &p))
            break;
        certa_event ev = {.kind = CERTA_EV_GOVERN, .gov = p.change};
        json_t *ej = certa_event_to_json(&ev, NULL);
        char hex[2 * CERTA_HASH_BYTES + 1];
        certa_hex_encode(p.digest, CERTA_HASH_BYTES, hex);
        json_array_append_new(
            props, json_pack("{s:s, s:o, s:I, s:o}", "proposal", hex, "change",
                             ej ? json_incref(json_object_get(ej, "gov")) : json_null(),
                             "proposed_height", (json_int_t)p.proposed_height, "approvals",
                             member_names(s, p.approvals, p.approval_count)));
        json_decref(ej);
    }
    json_object_set_new(doc, "proposals", props);
    if (!full || doc == NULL)
        return doc;
    json_t *ints = json_array(), *centres = json_array();
    for (uint32_t i = 0; ints != NULL && i < certa_state_integrator_count(s); i++)
        json_array_append_new(ints, integrator_json(s, i));
    certa_gov_centre ce;
    for (uint32_t i = 0; centres != NULL && certa_state_centre_at(s, i, &ce); i++) {
        /* a closed centre's counters are all closed with it: list those
         * closed one by one only while it is open */
        json_t *closed = json_array();
        for (uint16_t k = 1; closed != NULL && ce.open && k <= ce.counters; k++)
            if (!certa_state_counter_open(s, ce.id, k))
                json_array_append_new(closed, json_integer(k));
        json_array_append_new(centres, json_pack("{s:i, s:s, s:i, s:b, s:b, s:o}", "id",
                                                 (int)ce.id, "name", ce.name, "counters",
                                                 (int)ce.counters, "open", ce.open, "added",
                                                 ce.added, "closed", closed));
    }
    json_object_set_new(doc, "integrator_table", ints);
    json_object_set_new(doc, "centres", centres);
    json_t *params = json_object();
    for (unsigned p = 1; params != NULL && p < CERTA_GP_COUNT; p++)
        json_object_set_new(params, certa_gov_param_name(p),
                            json_integer((json_int_t)certa_state_param(s, p)));
    json_object_set_new(doc, "params", params);
    json_t *cat = json_array();
    for (uint32_t i = 0; cat != NULL && i < certa_state_catalogue_count(s); i++) {
        uint16_t centre;
        uint32_t matter, allowed, required;
        if (!certa_state_catalogue_at(s, i, &centre, &matter, &allowed, &required))
            break;
        json_array_append_new(cat, json_pack("{s:i, s:I, s:o, s:o}", "centre", (int)centre,
                                             "matter", (json_int_t)matter, "allowed",
                                             types_json(allowed), "required",
                                             types_json(required)));
    }
    json_object_set_new(doc, "catalogue", cat);
    return doc;
}

static int show_offline(const gov_args *a, bool full)
{
    if (a->data == NULL)
        return certa_usage_error(CMD, "%s needs --data DIR", a->op);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    char gpath[4096], blocks[4096], snaps[4096];
    snprintf(gpath, sizeof gpath, "%s/genesis.json", a->data);
    snprintf(blocks, sizeof blocks, "%s/blocks", a->data);
    snprintf(snaps, sizeof snaps, "%s/snapshots", a->data);
    struct stat st;
    const char *gp = a->genesis != NULL                                       ? a->genesis
                     : stat(gpath, &st) == 0 && S_ISREG(st.st_mode) ? gpath
                                                                            : certa_tool_genesis_path(NULL);
    certa_genesis *g = NULL;
    certa_store *store = NULL;
    certa_state *s = NULL;
    int rc = CERTA_EXIT_OK;
    certa_store_opts so;
    certa_store_opts_default(&so);
    so.dir = blocks;
    so.read_only = true;
    certa_state_opts o = {.hash_threads = 1};
    if (certa_genesis_load(gp, &g, &ei) != CERTA_OK ||
        certa_store_open(&so, &store, NULL, &ei) != CERTA_OK ||
        certa_state_create(g, &o, &s, &ei) != CERTA_OK ||
        certa_query_restore(s, g, snaps, store, NULL, &ei) != CERTA_OK) {
        rc = certa_fail(CMD, "%s", certa_errmsg(&ei));
        goto out;
    }
    json_t *doc = status_json(s, full);
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (text == NULL) {
        rc = certa_fail(CMD, "out of memory");
        goto out;
    }
    printf("%s\n", text);
    free(text);
out:
    certa_state_free(s);
    certa_store_close(store);
    certa_genesis_free(g);
    return rc;
}

int certa_cmd_gov(int argc, char **argv)
{
    if (certa_wants_help(argc, argv) || argc < 2) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CERTA_EXIT_USAGE : CERTA_EXIT_OK;
    }
    gov_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != CERTA_EXIT_OK)
        return rc;
    if (strcmp(a.op, "propose") == 0 || strcmp(a.op, "approve") == 0)
        return submit_one(&a);
    if (strcmp(a.op, "status") == 0 || strcmp(a.op, "show") == 0)
        return show_offline(&a, strcmp(a.op, "show") == 0);
    return certa_usage_error(CMD, "unknown subcommand '%s' (propose, approve, status, show)",
                             a.op);
}
