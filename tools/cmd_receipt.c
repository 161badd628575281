/* certa receipt verify: checks a receipts file (JSON Lines, one receipt per
 * event, as `certa submit --receipts` writes it) offline against a genesis
 * file alone, and says which line fails and why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certa/crypto.h"
#include "certa/receipt.h"
#include "cli.h"

#define LINE_BYTES_MAX (1024u * 1024u)

static const char usage[] =
    "usage: certa receipt verify --genesis FILE RECEIPTS.jsonl [--quiet]\n\n"
    "Verifies each receipt (one JSON object per line, docs/PROTOCOL.md\n"
    "\"Receipts\") with nothing but the genesis file: the block header, the\n"
    "commit certificate (2f+1 distinct validators' signatures over the block\n"
    "hash), the Merkle inclusion proof of the event in the header's\n"
    "events_root, and the integrator; for a receipt with a result proof\n"
    "(\"receipt\": 2) also the header of block height + 4, its certificate\n"
    "and the path of the result to that header's prev_results_root. Prints\n"
    "'line N: PART: why' for each failing line, then a summary. \"-\" reads\n"
    "standard input.\n\n"
    "Exit status: 0 every receipt verifies, 1 some line fails (or the file has\n"
    "no receipt), 2 usage, 3 unreadable genesis or file.\n";

/* Digest of the certificate, to verify each distinct one once. */
static void cert_digest(const certa_commit_cert *c, uint8_t out[CERTA_HASH_BYTES])
{
    certa_sha256_ctx x;
    uint8_t n[18];
    memcpy(n, &c->view, 8);
    memcpy(n + 8, &c->height, 8);
    memcpy(n + 16, &c->count, 2);
    certa_sha256_init(&x);
    certa_sha256_update(&x, n, sizeof n);
    certa_sha256_update(&x, c->block_hash, CERTA_HASH_BYTES);
    for (uint32_t i = 0; i < c->count && i < CERTA_VALIDATORS_MAX; i++) {
        certa_sha256_update(&x, &c->sigs[i].validator, 2);
        certa_sha256_update(&x, c->sigs[i].sig, CERTA_SIGNATURE_BYTES);
    }
    certa_sha256_final(&x, out);
}

static int verify_file(const char *genesis_path, const char *path, bool quiet)
{
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_genesis *g = NULL;
    if (certa_genesis_load(genesis_path, &g, &ei) != CERTA_OK)
        return certa_fail("receipt", "%s", certa_errmsg(&ei));
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (f == NULL) {
        certa_genesis_free(g);
        return certa_fail("receipt", "%s: %m", path);
    }
    certa_receipt *r = malloc(sizeof *r);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0, total = 0, failed = 0, certs = 0, proven = 0;
    uint8_t last_cert[CERTA_HASH_BYTES];
    bool have_last = false;
    while (r != NULL && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t len = (size_t)n;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                           line[len - 1] == ' ' || line[len - 1] == '\t'))
            len--;
        if (len == 0)
            continue;
        total++;
        if (len > LINE_BYTES_MAX) {
            failed++;
            printf("line %lu: longer than %u bytes\n", lineno, LINE_BYTES_MAX);
            continue;
        }
        certa_err e = certa_receipt_parse_json(line, len, r, &ei);
        if (e == CERTA_OK) {
            uint8_t d[CERTA_HASH_BYTES];
            cert_digest(&r->cert, d);
            bool skip = have_last && memcmp(d, last_cert, sizeof d) == 0;
            e = certa_receipt_verify(r, g, skip, &ei);
            if (e == CERTA_OK && !skip) {
                memcpy(last_cert, d, sizeof d);
                have_last = true;
                certs++;
            }
        }
        if (e != CERTA_OK) {
            failed++;
            printf("line %lu: %s\n", lineno, certa_errmsg(&ei));
        } else if (r->has_result_proof) {
            proven++;
        }
    }
    bool read_error = ferror(f) != 0;
    if (f != stdin)
        fclose(f);
    free(line);
    free(r);
    certa_genesis_free(g);
    if (read_error)
        return certa_fail("receipt", "%s: read error", path);
    if (!quiet || failed > 0)
        printf("%s: %lu receipts, %lu verified, %lu failed (%lu distinct commit "
               "certificates checked; %lu results proven)\n", path, total, total - failed,
               failed, certs, proven);
    if (total == 0) {
        fprintf(stderr, "certa receipt: %s holds no receipt\n", path);
        return CERTA_EXIT_FAIL;
    }
    return failed == 0 ? CERTA_EXIT_OK : CERTA_EXIT_FAIL;
}

int certa_cmd_receipt(int argc, char **argv)
{
    if (certa_wants_help(argc, argv) || argc < 2) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CERTA_EXIT_USAGE : CERTA_EXIT_OK;
    }
    if (strcmp(argv[1], "verify") != 0)
        return certa_usage_error("receipt", "unknown action '%s' (only 'verify')", argv[1]);
    const char *genesis = NULL, *path = NULL;
    bool quiet = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--genesis") == 0 && i + 1 < argc)
            genesis = argv[++i];
        else if (strcmp(argv[i], "--quiet") == 0)
            quiet = true;
        else if ((argv[i][0] != '-' || strcmp(argv[i], "-") == 0) && path == NULL)
            path = argv[i];
        else
            return certa_usage_error("receipt", "unexpected argument '%s'", argv[i]);
    }
    if (genesis == NULL || path == NULL)
        return certa_usage_error("receipt", "--genesis FILE and RECEIPTS.jsonl are required");
    return verify_file(genesis, path, quiet);
}
