/* certa up: a local cluster in one command. Creates a genesis when DIR has
 * none, starts one `certa node` process per validator on 127.0.0.1, prints
 * their endpoints and metrics URLs, and stops them all on Ctrl-C (or after
 * --duration seconds). A validator that dies is reported and not restarted:
 * the others go on (PBFT tolerates f), and the operator may restart it by
 * hand with `certa node --config DIR/nodeK/node.json`. With --gateway PORT
 * a `certa gateway` in front of them serves the read API and the web page
 * on 127.0.0.1:PORT (log DIR/gateway.log), and is stopped with them. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "certa/genesis.h"
#include "cli.h"

static const char usage[] =
    "usage: certa up [--validators N] [--dir DIR] [--base-port P]\n"
    "                [--duration S] [--gateway PORT] [-- NODE-OPTIONS...]\n\n"
    "Starts a local cluster of N validators (default 4) on 127.0.0.1 and stays\n"
    "in the foreground; Ctrl-C (SIGINT) or SIGTERM stops them all. When DIR\n"
    "(default ./certa-local) holds no genesis.json, one is created first with\n"
    "'certa genesis'. Each validator logs to DIR/nodeK/node.log and keeps its\n"
    "data in DIR/nodeK/data, so a second 'certa up' resumes the same chain.\n"
    "Options after -- are passed to every 'certa node'.\n\n"
    "  --duration S   stop the cluster after S seconds (scripts, demos)\n"
    "  --gateway PORT also start 'certa gateway' on 127.0.0.1:PORT: the read API\n"
    "                 and the web page at http://127.0.0.1:PORT/ (log DIR/gateway.log)\n";

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* certa gateway on 127.0.0.1:port for the cluster of DIR, logging to
 * DIR/gateway.log. */
static pid_t spawn_gateway(const char *self_exe, const char *dir, unsigned port)
{
    char gpath[4096], log[4096], listen[32];
    snprintf(gpath, sizeof gpath, "%s/genesis.json", dir);
    snprintf(log, sizeof log, "%s/gateway.log", dir);
    snprintf(listen, sizeof listen, "127.0.0.1:%u", port);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    FILE *lf = fopen(log, "a");
    if (lf != NULL) {
        dup2(fileno(lf), 1);
        dup2(fileno(lf), 2);
        fclose(lf);
    }
    char *args[] = {(char *)"certa", (char *)"gateway", (char *)"--genesis", gpath,
                    (char *)"--listen", listen, NULL};
    execv(self_exe, args);
    fprintf(stderr, "certa up: exec %s: %s\n", self_exe, strerror(errno));
    _exit(127);
}

static pid_t spawn_node(const char *self_exe, const char *dir, unsigned k,
                        int extra_argc, char **extra_argv)
{
    char cfg[4096], log[4096];
    snprintf(cfg, sizeof cfg, "%s/node%u/node.json", dir, k);
    snprintf(log, sizeof log, "%s/node%u/node.log", dir, k);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    FILE *lf = fopen(log, "a");
    if (lf != NULL) {
        dup2(fileno(lf), 2);
        fclose(lf);
    }
    char *args[64];
    int a = 0;
    args[a++] = (char *)"certa";
    args[a++] = (char *)"node";
    args[a++] = (char *)"--config";
    args[a++] = cfg;
    for (int i = 0; i < extra_argc && a < 62; i++)
        args[a++] = extra_argv[i];
    args[a] = NULL;
    execv(self_exe, args);
    fprintf(stderr, "certa up: exec %s: %s\n", self_exe, strerror(errno));
    _exit(127);
}

int certa_cmd_up(int argc, char **argv)
{
    if (certa_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CERTA_EXIT_OK;
    }
    unsigned long long n = 4, base_port = 7000, duration_s = 0, gw_port = 0;
    const char *dir = "certa-local";
    int extra_argc = 0;
    char **extra_argv = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            extra_argc = argc - i - 1;
            extra_argv = argv + i + 1;
            break;
        } else if (strcmp(argv[i], "--validators") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 4, CERTA_VALIDATORS_MAX, &n) != 0 || (n - 1) % 3 != 0)
                return certa_usage_error("up", "--validators must be 3f+1 >= 4, not '%s'", argv[i]);
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--base-port") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 1024, 65000, &base_port) != 0)
                return certa_usage_error("up", "--base-port takes 1024..65000");
        } else if (strcmp(argv[i], "--gateway") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 1, 65535, &gw_port) != 0)
                return certa_usage_error("up", "--gateway takes a port, 1..65535");
        } else if (strcmp(argv[i], "--duration") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 1, 86400, &duration_s) != 0)
                return certa_usage_error("up", "--duration takes 1..86400 seconds");
        } else {
            return certa_usage_error("up", "unexpected argument '%s'", argv[i]);
        }
    }

    char gpath[4096];
    snprintf(gpath, sizeof gpath, "%s/genesis.json", dir);
    struct stat st;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (stat(gpath, &st) != 0) {
        certa_genesis_opts go = {.validators = (uint32_t)n, .dir = dir,
                                 .base_port = (uint16_t)base_port, .host = "127.0.0.1"};
        if (certa_genesis_write(&go, &ei) != CERTA_OK)
            return certa_fail("up", "%s", certa_errmsg(&ei));
        printf("created %s for %llu validators\n", gpath, n);
    }
    certa_genesis *g = NULL;
    if (certa_genesis_load(gpath, &g, &ei) != CERTA_OK)
        return certa_fail("up", "%s", certa_errmsg(&ei));
    n = g->validator_count;

    char self_exe[4096];
    ssize_t sl = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (sl <= 0) {
        certa_genesis_free(g);
        return certa_fail("up", "cannot find the certa binary: %s", strerror(errno));
    }
    self_exe[sl] = '\0';

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    pid_t pids[CERTA_VALIDATORS_MAX + 1] = {0};
    for (unsigned k = 0; k < n; k++) {
        pids[k] = spawn_node(self_exe, dir, k, extra_argc, extra_argv);
        if (pids[k] < 0) {
            stop_flag = 1;
            break;
        }
        printf("validator %u (%s): client %s  metrics %s  log %s/node%u/node.log\n", k,
               g->validators[k].name, g->validators[k].client_endpoint,
               g->validators[k].metrics_endpoint, dir, k);
    }
    /* the gateway is one more child, in the slot after the validators: it
     * is reported and stopped as they are */
    pid_t *gw_pid = &pids[n];
    *gw_pid = 0;
    if (gw_port != 0 && !stop_flag) {
        *gw_pid = spawn_gateway(self_exe, dir, (unsigned)gw_port);
        if (*gw_pid > 0)
            printf("gateway: http://127.0.0.1:%llu/  (read API /v1/..., log %s/gateway.log)\n",
                   gw_port, dir);
        else
            *gw_pid = 0;
    }
    printf("cluster of %llu validators up (genesis %s); Ctrl-C stops it\n", n, gpath);
    fflush(stdout);

    time_t start = time(NULL);
    int rc = CERTA_EXIT_OK;
    unsigned alive = (unsigned)n;
    while (!stop_flag && alive > 0) {
        if (duration_s && (unsigned long long)(time(NULL) - start) >= duration_s)
            break;
        int status;
        pid_t p = waitpid(-1, &status, WNOHANG);
        if (p > 0) {
            if (gw_port != 0 && pids[n] == p) {
                fprintf(stderr, "certa up: the gateway exited; see %s/gateway.log\n", dir);
                pids[n] = 0;
                rc = CERTA_EXIT_FAIL;
            }
            for (unsigned k = 0; k < n; k++)
                if (pids[k] == p) {
                    fprintf(stderr, "certa up: validator %u exited (%s %d); see %s/node%u/node.log\n",
                            k, WIFEXITED(status) ? "status" : "signal",
                            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), dir, k);
                    pids[k] = 0;
                    alive--;
                    rc = CERTA_EXIT_FAIL;
                }
            continue;
        }
        usleep(100 * 1000);
    }
    for (unsigned k = 0; k <= n; k++)
        if (pids[k] > 0)
            kill(pids[k], SIGTERM);
    for (int waited_ms = 0; waited_ms < 10000; waited_ms += 100) {
        bool any = false;
        for (unsigned k = 0; k <= n; k++)
            if (pids[k] > 0) {
                if (waitpid(pids[k], NULL, WNOHANG) == pids[k])
                    pids[k] = 0;
                else
                    any = true;
            }
        if (!any)
            break;
        usleep(100 * 1000);
    }
    for (unsigned k = 0; k <= n; k++)
        if (pids[k] > 0) {
            kill(pids[k], SIGKILL);
            waitpid(pids[k], NULL, 0);
        }
    printf("cluster stopped\n");
    certa_genesis_free(g);
    return rc;
}
