/* certa node: runs one validator from its node.json until SIGTERM/SIGINT. */
#include <signal.h>
#include <string.h>

#include "../node/config.h"
#include "../node/log.h"
#include "../node/node.h"
#include "cli.h"
#include "certa/state.h"
#include "node_check.h"

static const char usage[] =
    "usage: certa node --config FILE [--batch N] [--block-timeout-ms T]\n"
    "                  [--threads N] [--grants-max N]\n"
    "                  [--log-level debug|info|warn|error]\n"
    "       certa node --check --config FILE [--min-free-mb N]\n\n"
    "Runs a validator: PBFT with its peers over ZeroMQ (CURVE), the block log\n"
    "on io_uring, the licence rules, receipts and queries for integrators, and\n"
    "Prometheus metrics at http://HOST:PORT/metrics (node.json metrics_port).\n"
    "Logs are JSON lines on standard error. SIGTERM or SIGINT stops it\n"
    "cleanly; after a crash it recovers from its data directory and catches\n"
    "up with its peers.\n\n"
    "  --config FILE       the node.json written by 'certa genesis'\n"
    "  --batch N           batches per block at most (default 256)\n"
    "  --block-timeout-ms  close a partial block after T ms (default: genesis)\n"
    "  --threads N         signature and hashing workers (default 2)\n"
    "  --grants-max N      hot grants the state can hold, address space reserved\n"
    "                      at start (default 67108864, at most 1073741824); past\n"
    "                      it the validator stops: restart it with a larger N\n\n"
    "--check validates without starting the validator: node.json, its genesis,\n"
    "the keys (readable, Ed25519 and CURVE, matching genesis, mode 0600), the\n"
    "data directory (exists or can be created, writable; warns under\n"
    "--min-free-mb of free space, default 1024), and the peer, client and\n"
    "metrics ports (bound and released at once). It prints the chain, the\n"
    "validator index, the endpoints and the data directory, and every problem\n"
    "naming its file and field. Exit 0: it would start (warnings allowed);\n"
    "1: errors found; 2: usage; 3: node.json unreadable.\n";

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

int certa_cmd_node(int argc, char **argv)
{
    if (certa_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CERTA_EXIT_OK;
    }
    const char *config = NULL;
    certa_node_opts o;
    memset(&o, 0, sizeof o);
    int level = CERTA_LOG_INFO;
    bool check = false;
    unsigned long long min_free_mb = CERTA_NODE_CHECK_MIN_FREE_MB;
    for (int i = 1; i < argc; i++) {
        unsigned long long v = 0;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--check") == 0) {
            check = true;
        } else if (strcmp(argv[i], "--min-free-mb") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 0, 1ull << 40, &min_free_mb) != 0)
                return certa_usage_error("node", "--min-free-mb takes 0..2^40");
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 1, 1024, &v) != 0)
                return certa_usage_error("node", "--batch takes 1..1024");
            o.batch_requests_max = (uint32_t)v;
        } else if (strcmp(argv[i], "--block-timeout-ms") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 1, 10000, &v) != 0)
                return certa_usage_error("node", "--block-timeout-ms takes 1..10000");
            o.batch_timeout_ms = (uint32_t)v;
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 1, 64, &v) != 0)
                return certa_usage_error("node", "--threads takes 1..64");
            o.verify_threads = (uint32_t)v;
        } else if (strcmp(argv[i], "--grants-max") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 1024, CERTA_STATE_GRANTS_MAX_LIMIT, &v) != 0)
                return certa_usage_error("node", "--grants-max takes 1024..%u",
                                         CERTA_STATE_GRANTS_MAX_LIMIT);
            o.grants_max = (uint32_t)v;
        } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            level = certa_log_level_parse(argv[++i]);
            if (level < 0)
                return certa_usage_error("node", "unknown log level '%s'", argv[i]);
        } else {
            return certa_usage_error("node", "unexpected argument '%s'", argv[i]);
        }
    }
    if (config == NULL)
        return certa_usage_error("node", "--config FILE is required");
    if (check)
        return certa_node_check(config, min_free_mb);

    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    static certa_node_config cfg;
    if (certa_node_config_load(config, &cfg, &ei) != CERTA_OK)
        return certa_fail("node", "%s", certa_errmsg(&ei));
    certa_log_init(2, (certa_log_level)level, (int)cfg.validator_index);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    certa_node *n = NULL;
    if (certa_node_open(&cfg, &o, &n, &ei) != CERTA_OK)
        return certa_fail("node", "%s", certa_errmsg(&ei));
    certa_log_init(2, (certa_log_level)level, (int)cfg.validator_index);
    certa_err e = certa_node_run(n, &stop_flag, &ei);
    certa_node_close(n);
    if (e != CERTA_OK)
        return certa_fail("node", "%s", certa_errmsg(&ei));
    return CERTA_EXIT_OK;
}
