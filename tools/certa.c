/* certa: the command-line entry point; dispatches git-style subcommands.
 * Every program of the project links jemalloc as its allocator (except the
 * sanitizer and fuzz builds); --version says which allocator is in use. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <zmq.h>

#include "cli.h"

#ifdef CERTA_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

static const certa_cmd commands[] = {
    {"keygen", certa_cmd_keygen, "generate an Ed25519 key (PEM, mode 0600)"},
    {"genesis", certa_cmd_genesis, "write or check a genesis with validator keys and configs"},
    {"node", certa_cmd_node, "run a validator"},
    {"up", certa_cmd_up, "start a local cluster of validators"},
    {"submit", certa_cmd_submit, "sign and submit event batches, collect receipts"},
    {"status", certa_cmd_status, "show validators' height, view and lag"},
    {"gov", certa_cmd_gov, "council governance: propose, approve, status, show"},
    {"query", certa_cmd_query, "query a holder's records, a grant or a block"},
    {"gateway", certa_cmd_gateway, "serve the validators' public read API over HTTP/JSON"},
    {"receipt", certa_cmd_receipt, "verify receipts offline against a genesis"},
    {"code", certa_cmd_code, "a grant's code commitment and a redeem's sealed proof"},
    {"dry-run", certa_cmd_dry_run, "apply events through the rules on one local node"},
    {"verify-chain", certa_cmd_verify_chain, "audit a data directory's block log"},
    {"merkle", certa_cmd_merkle, "RFC 6962 roots and proofs"},
    {"witness", certa_cmd_witness, "cosign the event log's checkpoints as it grows (C2SP witness)"},
    {"monitor", certa_cmd_monitor, "follow a gateway's event log and check every checkpoint"},
    {"sim", certa_cmd_sim, "run the deterministic consensus simulator"},
    {"load", certa_cmd_load, "generate and replay city peak-hour load"},
};

static void print_usage(FILE *out)
{
    fprintf(out,
            "usage: certa <command> [options]\n"
            "       certa --version | --help\n\n"
            "certa orders e-licence authorization events into blocks with PBFT,\n"
            "stores them durably and proves each event's result offline.\n\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].fn != NULL)
            fprintf(out, "  %-20s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n'certa <command> --help' describes a command.\n"
            "exit codes: 0 success, 1 check failed or rejected, 2 usage error,\n"
            "3 runtime error (unreadable or malformed input, I/O).\n");
}

static void print_version(void)
{
    const char *alloc = "glibc malloc";
#ifdef CERTA_HAVE_JEMALLOC
    const char *jv = NULL;
    size_t jv_len = sizeof jv;
    static char alloc_buf[96];
    if (mallctl("version", &jv, &jv_len, NULL, 0) == 0 && jv != NULL) {
        snprintf(alloc_buf, sizeof alloc_buf, "jemalloc %s", jv);
        alloc = alloc_buf;
    } else {
        alloc = "jemalloc";
    }
#elif defined(__SANITIZE_ADDRESS__)
    alloc = "AddressSanitizer";
#endif
    int zmaj = 0, zmin = 0, zpat = 0;
    zmq_version(&zmaj, &zmin, &zpat);
    printf("certa %s\n", CERTA_VERSION_STRING);
    printf("allocator: %s\n", alloc);
    printf("openssl: %s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("libsodium: %s (Ed25519 signatures)\n", sodium_version_string());
    printf("liburing: %s (built against)\n", CERTA_URING_VERSION);
    printf("libzmq: %d.%d.%d\n", zmaj, zmin, zpat);
    printf("jansson: %s\n", jansson_version_str());
    printf("libmicrohttpd: %s\n", MHD_get_version());
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return CERTA_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
        strcmp(name, "help") == 0) {
        print_usage(stdout);
        return CERTA_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        print_version();
        return CERTA_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0) {
            if (commands[i].fn == NULL) {
                fprintf(stderr, "certa: command '%s' is not built into this binary\n", name);
                return CERTA_EXIT_USAGE;
            }
            return commands[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "certa: unknown command '%s'\n\n", name);
    print_usage(stderr);
    return CERTA_EXIT_USAGE;
}
