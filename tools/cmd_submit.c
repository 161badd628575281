/* certa submit: sends a JSON Lines file of events to validators as signed,
 * pipelined batches, waits for every receipt, and prints a summary. Exit 0
 * when every event was committed (ok or rejected), 1 when any was not. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certa/state.h"
#include "cli.h"
#include "endpoints.h"
#include "../net/submit.h"

static const char usage[] =
    "usage: certa submit --to ENDPOINT[,ENDPOINT...] --integrator NAME --key FILE\n"
    "                    [--genesis FILE] [--batch N] [--seq N] [--receipts OUT.jsonl]\n"
    "                    [--window N] [--deadline-ms MS] [--quiet]\n"
    "                    [--rotated-key] [--index N] EVENTS.jsonl\n\n"
    "Reads events (JSON Lines, docs/PROTOCOL.md \"Events (JSON)\"; \"-\" is standard\n"
    "input), packs them into batches of N events (default 256), signs each with\n"
    "the integrator's Ed25519 key, sends them pipelined (at most --window batches,\n"
    "default 32, in flight) and waits for the receipts. Progress goes to stderr\n"
    "every second; the summary (ok, rejected by reason, not committed) to stdout.\n\n"
    "  --to        validator client endpoints or names from genesis, comma-\n"
    "              separated, or \"all\"; requests fail over between them\n"
    "  --genesis   genesis.json (default: $CERTA_GENESIS, else ./genesis.json):\n"
    "              gives the integrator's index and the validators' CURVE keys\n"
    "  --seq       sequence number of the first batch (default 1); batches\n"
    "              follow in file order, one number each; a batch sent again\n"
    "              with its number gets its original receipt within the replay\n"
    "              horizon, and \"too old to tell\" outside it; several submit\n"
    "              runs of one integrator may use separate number ranges\n"
    "  --receipts  write one receipt per event as JSON Lines (check them with\n"
    "              'certa receipt verify')\n"
    "  --deadline-ms  give up on a batch after this long (default 60000)\n"
    "  --rotated-key  the key is not the one genesis gives: the council rotated\n"
    "              it (docs/OPERATIONS.md \"Governance\"); the validators judge it\n"
    "  --index N   the integrator's index, for one the council added (genesis\n"
    "              does not know it; 'certa gov show' lists the indexes)\n\n"
    "Exit status: 0 every event was committed (ok or rejected), 1 some event\n"
    "was not (refused at the door, deadline, unreadable line), 2 usage, 3 error.\n";

static int parse_num(const char *opt, const char *v, unsigned long long min,
                     unsigned long long max, unsigned long long *out)
{
    if (certa_parse_u64(v, min, max, out) != 0)
        return certa_usage_error("submit", "%s needs a number in %llu..%llu, got '%s'",
                                 opt, min, max, v);
    return 0;
}

int certa_cmd_submit(int argc, char **argv)
{
    if (certa_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CERTA_EXIT_OK;
    }
    const char *to = NULL, *integrator = NULL, *key_path = NULL, *genesis = NULL;
    const char *receipts = NULL, *events = NULL;
    unsigned long long batch = 256, seq = 1, window = 32, deadline = 60000;
    bool quiet = false, rotated = false, by_index = false;
    unsigned long long index = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(a, "--to") == 0 && v) { to = v; i++; }
        else if (strcmp(a, "--integrator") == 0 && v) { integrator = v; i++; }
        else if (strcmp(a, "--key") == 0 && v) { key_path = v; i++; }
        else if (strcmp(a, "--genesis") == 0 && v) { genesis = v; i++; }
        else if (strcmp(a, "--receipts") == 0 && v) { receipts = v; i++; }
        else if (strcmp(a, "--batch") == 0 && v) { rc = parse_num(a, v, 1, CERTA_BATCH_EVENTS_MAX, &batch); i++; }
        else if (strcmp(a, "--seq") == 0 && v) { rc = parse_num(a, v, 1, INT64_MAX, &seq); i++; }
        else if (strcmp(a, "--window") == 0 && v) { rc = parse_num(a, v, 1, 4096, &window); i++; }
        else if (strcmp(a, "--deadline-ms") == 0 && v) { rc = parse_num(a, v, 1, 86400000, &deadline); i++; }
        else if (strcmp(a, "--quiet") == 0) quiet = true;
        else if (strcmp(a, "--rotated-key") == 0) rotated = true;
        else if (strcmp(a, "--index") == 0 && v) {
            rc = parse_num(a, v, 0, CERTA_INTEGRATORS_MAX - 1, &index);
            by_index = true;
            i++;
        }
        else if ((a[0] != '-' || strcmp(a, "-") == 0) && events == NULL) events = a;
        else return certa_usage_error("submit", "unexpected argument '%s'", a);
        if (rc != 0)
            return rc;
    }
    if (to == NULL || integrator == NULL || key_path == NULL || events == NULL)
        return certa_usage_error("submit", "--to, --integrator, --key and EVENTS.jsonl "
                                 "are required");

    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_genesis *g = NULL;
    certa_key *key = NULL;
    FILE *rf = NULL;
    int exit_code = CERTA_EXIT_ERROR;
    static certa_tool_endpoints eps;
    if (certa_genesis_load(certa_tool_genesis_path(genesis), &g, &ei) != CERTA_OK ||
        certa_tool_endpoints_resolve(g, to, &eps, &ei) != CERTA_OK ||
        certa_key_load_pem(key_path, &key, &ei) != CERTA_OK) {
        certa_fail("submit", "%s", certa_errmsg(&ei));
        goto out;
    }
    if (receipts != NULL && (rf = fopen(receipts, "w")) == NULL) {
        certa_fail("submit", "%s: cannot create: %m", receipts);
        goto out;
    }
    certa_submit_opts o = {
        .genesis = g, .integrator = integrator, .key = key, .events_path = events,
        .key_rotated = rotated, .by_index = by_index, .index = (uint16_t)index,
        .endpoint_count = eps.count, .endpoints = eps.endpoints,
        .server_keys = eps.server_keys, .batch_events = (uint32_t)batch,
        .seq_first = seq, .window = (uint32_t)window, .deadline_ms = (uint32_t)deadline,
        .receipts = rf, .progress = quiet ? NULL : stderr,
    };
    static certa_submit_summary s;
    certa_err e = certa_submit_run(&o, &s, &ei);
    if (rf != NULL && fclose(rf) != 0) {
        rf = NULL;
        certa_fail("submit", "%s: write failed: %m", receipts);
        goto out;
    }
    rf = NULL;
    printf("submitted %" PRIu64 " events in %" PRIu64 " batches in %.2f s (%.0f events/s)\n",
           s.events, s.batches, s.seconds, s.seconds > 0 ? (double)s.events / s.seconds : 0.0);
    printf("  ok             %" PRIu64 "\n", s.ok);
    printf("  rejected       %" PRIu64, s.rejected);
    const char *sep = ": ";
    for (unsigned c = 1; c < CERTA_SUBMIT_CODES_MAX; c++) {
        if (s.by_code[c] == 0)
            continue;
        const char *name = certa_result_name(c);
        if (name != NULL)
            printf("%s%s %" PRIu64, sep, name, s.by_code[c]);
        else
            printf("%scode_%u %" PRIu64, sep, c, s.by_code[c]);
        sep = ", ";
    }
    printf("\n  not committed  %" PRIu64 "\n", s.not_committed);
    /* the replay answers, apart: neither says the events were lost */
    if (s.too_old > 0)
        printf("    too old to tell  %" PRIu64 " (outside the replay horizon: whether they "
               "executed is unknown; resubmit under new sequence numbers if they did not)\n",
               s.too_old);
    if (s.seq_used > 0)
        printf("    sequence used    %" PRIu64 " (already executed with other bytes)\n",
               s.seq_used);
    if (s.bad_lines > 0)
        printf("  skipped lines  %" PRIu64 "\n", s.bad_lines);
    if (s.last_error[0] != '\0' && (s.not_committed > 0 || s.bad_lines > 0))
        printf("  last error     %s\n", s.last_error);
    if (e != CERTA_OK) {
        certa_fail("submit", "%s", certa_errmsg(&ei));
        goto out;
    }
    exit_code = s.not_committed == 0 && s.bad_lines == 0 ? CERTA_EXIT_OK : CERTA_EXIT_FAIL;
out:
    if (rf != NULL)
        fclose(rf);
    certa_key_free(key);
    certa_genesis_free(g);
    return exit_code;
}
