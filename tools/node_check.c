/* node_check: `certa node --check --config node.json`.
 *
 * An operator runs it before (re)starting a validator, or a unit's
 * ExecStartPre does: it finds in one pass every problem the daemon would
 * stop at one by one (and some it would only hit later, such as a port in
 * use or a disk about to fill), so that a restart after a config change is
 * not a guess. It opens nothing for good: the data directory gets a probe
 * file that is removed at once, the ports are bound and released.
 *
 * It reuses the daemon's own loaders (certa_node_config_load,
 * certa_genesis_load, certa_node_keys_load), so that it can neither be
 * stricter nor laxer than `certa node` on what they check. Every message
 * names the file and the field.
 */
#include "node_check.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "certa/crypto.h"
#include "certa/genesis.h"
#include "../node/config.h"
#include "cli.h"

typedef struct check {
    unsigned errors;
    unsigned warnings;
} check;

static void error_at(check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn_at(check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void error_at(check *c, const char *fmt, ...)
{
    va_list ap;
    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    c->errors++;
}

static void warn_at(check *c, const char *fmt, ...)
{
    va_list ap;
    fputs("warning: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    c->warnings++;
}

/* A secret file: present, readable by us, and (as the daemon demands) not
 * readable by group or others. Returns true when the daemon's loader can be
 * asked about its content. */
static bool check_secret(check *c, const char *cfg, const char *field, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        error_at(c, "%s: %s: %s: %s", cfg, field, path, strerror(errno));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        error_at(c, "%s: %s: %s: not a regular file", cfg, field, path);
        return false;
    }
    if (access(path, R_OK) != 0) {
        error_at(c, "%s: %s: %s: not readable by this user: %s", cfg, field, path,
                 strerror(errno));
        return false;
    }
    if ((st.st_mode & 077) != 0) {
        /* An error, not a warning: the validator refuses to start with it. */
        error_at(c, "%s: %s: %s: mode %04o lets group or others read a secret key "
                 "(the validator refuses it); run chmod 600 %s",
                 cfg, field, path, (unsigned)(st.st_mode & 07777), path);
        return false;
    }
    if (st.st_uid != geteuid())
        warn_at(c, "%s: %s: %s: owned by uid %u, not by this user (uid %u)", cfg, field,
                path, (unsigned)st.st_uid, (unsigned)geteuid());
    return true;
}

/* The data directory: the daemon creates it (one level, mode 0700) when
 * missing, so its parent must exist and be writable; an existing one must
 * take a new file. Writability is probed by creating a file rather than
 * with access(), which says yes to root even on a read-only mount. Returns
 * the directory statvfs should look at, or NULL. */
static const char *check_data_dir(check *c, const char *cfg, const char *dir,
                                  char *parent, size_t cap, bool *exists)
{
    struct stat st;
    *exists = false;
    const char *probe_in = dir;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            error_at(c, "%s: data_dir: %s: not a directory", cfg, dir);
            return NULL;
        }
        *exists = true;
    } else if (errno == ENOENT) {
        snprintf(parent, cap, "%s", dir);
        size_t n = strlen(parent);
        while (n > 1 && parent[n - 1] == '/')
            parent[--n] = '\0';
        char *slash = strrchr(parent, '/');
        if (slash == NULL)
            snprintf(parent, cap, ".");
        else if (slash == parent)
            parent[1] = '\0';
        else
            *slash = '\0';
        if (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode)) {
            error_at(c, "%s: data_dir: %s does not exist and cannot be created: its parent "
                     "%s is not a directory", cfg, dir, parent);
            return NULL;
        }
        probe_in = parent;
    } else {
        error_at(c, "%s: data_dir: %s: %s", cfg, dir, strerror(errno));
        return NULL;
    }
    char probe[CERTA_PATH_BYTES + 32];
    snprintf(probe, sizeof probe, "%s/.certa-check-XXXXXX", probe_in);
    int fd = mkstemp(probe);
    if (fd < 0) {
        if (*exists)
            error_at(c, "%s: data_dir: %s is not writable: %s", cfg, dir, strerror(errno));
        else
            error_at(c, "%s: data_dir: %s does not exist and cannot be created in %s: %s",
                     cfg, dir, probe_in, strerror(errno));
        return NULL;
    }
    close(fd);
    unlink(probe);
    return probe_in;
}

/* Splits "tcp://HOST:PORT" (HOST may be *, a name, an IPv4 address or
 * [IPv6]) into host (NULL for any) and port. */
static bool split_endpoint(const char *ep, char *host, size_t cap, char *port, size_t pcap,
                           bool *any)
{
    const char *p = strncmp(ep, "tcp://", 6) == 0 ? ep + 6 : NULL;
    if (p == NULL)
        return false;
    const char *colon = strrchr(p, ':');
    if (colon == NULL || colon == p || colon[1] == '\0')
        return false;
    size_t hl = (size_t)(colon - p);
    if (p[0] == '[' && hl >= 2 && p[hl - 1] == ']') {
        p++;
        hl -= 2;
    }
    if (hl >= cap || strlen(colon + 1) >= pcap)
        return false;
    memcpy(host, p, hl);
    host[hl] = '\0';
    snprintf(port, pcap, "%s", colon + 1);
    *any = strcmp(host, "*") == 0;
    for (const char *d = port; *d; d++)
        if (*d < '0' || *d > '9')
            return false;
    return true;
}

/* Binds host:port as the validator would (SO_REUSEADDR, as libzmq and
 * libmicrohttpd set it, so that a port in TIME_WAIT is not reported) and
 * releases it at once. */
static void check_port(check *c, const char *cfg, const char *field, const char *shown,
                       const char *host, const char *port)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 && host != NULL && if_nametoindex(host) != 0) {
        /* libzmq also binds to an interface by name (tcp://eth0:7000). */
        warn_at(c, "%s: %s: %s: %s is an interface name: its port is not checked", cfg,
                field, shown, host);
        return;
    }
    if (rc != 0) {
        error_at(c, "%s: %s: %s: cannot resolve the address: %s", cfg, field, shown,
                 gai_strerror(rc));
        return;
    }
    int err = 0;
    for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 1) == 0) {
            close(fd);
            err = 0;
            break;
        }
        err = errno;
        close(fd);
    }
    freeaddrinfo(res);
    if (err == EADDRINUSE)
        error_at(c, "%s: %s: %s: port %s is in use (another validator or program "
                 "listens on it)", cfg, field, shown, port);
    else if (err == EADDRNOTAVAIL)
        error_at(c, "%s: %s: %s: address %s is not one of this machine's", cfg, field,
                 shown, host ? host : "*");
    else if (err != 0)
        error_at(c, "%s: %s: %s: cannot bind: %s", cfg, field, shown, strerror(err));
}

/* Warns when bind's port is not the port of genesis' endpoint. */
static void warn_port(check *c, const char *cfg, const char *field, const char *bind,
                      const char *genesis_ep, uint32_t index, const char *gfield)
{
    const char *p1 = strrchr(bind, ':'), *p2 = strrchr(genesis_ep, ':');
    if (p1 != NULL && p2 != NULL && strcmp(p1, p2) != 0)
        warn_at(c, "%s: %s: %s, but genesis validators[%u].%s is %s: the others dial "
                "that port", cfg, field, bind, index, gfield, genesis_ep);
}

/* The data directory: there or creatable, writable, and its free space. */
static void check_space(check *c, const char *f, const char *data_dir, uint64_t min_free_mb)
{
    char parent[CERTA_PATH_BYTES];
    bool exists = false;
    const char *fs = check_data_dir(c, f, data_dir, parent, sizeof parent, &exists);
    struct statvfs sv;
    if (fs == NULL || statvfs(fs, &sv) != 0)
        return;
    uint64_t free_mb = (uint64_t)sv.f_bavail * sv.f_frsize / (1024u * 1024u);
    printf("  data dir:        %s (%s), %llu MiB free\n", data_dir,
           exists ? "exists, writable" : "would be created", (unsigned long long)free_mb);
    if (free_mb < min_free_mb)
        warn_at(c, "%s: data_dir: %s: %llu MiB free, under %llu MiB: the "
                "validator stops when its block log cannot grow", f, data_dir,
                (unsigned long long)free_mb, (unsigned long long)min_free_mb);
}

int certa_node_check(const char *config, uint64_t min_free_mb)
{
    check c = {0, 0};
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    static certa_node_config cfg;
    printf("certa node --check: %s\n", config);
    certa_err e = certa_node_config_load(config, &cfg, &ei);
    if (e != CERTA_OK) {
        fprintf(stderr, "error: %s\n", certa_errmsg(&ei));
        /* An unreadable file is a runtime error (3), a bad one a "no" (1),
         * as for `certa genesis check`. */
        return e == CERTA_E_IO ? CERTA_EXIT_ERROR : CERTA_EXIT_FAIL;
    }
    const char *f = cfg.path;

    /* Genesis: the daemon's loader names the genesis file and the field. */
    certa_genesis *g = NULL;
    if (certa_genesis_load(cfg.genesis_path, &g, &ei) != CERTA_OK) {
        error_at(&c, "%s: genesis: %s", f, certa_errmsg(&ei));
        g = NULL;
    } else {
        char hex[2 * CERTA_HASH_BYTES + 1];
        for (unsigned i = 0; i < CERTA_HASH_BYTES; i++)
            snprintf(hex + 2 * i, 3, "%02x", g->hash[i]);
        printf("  chain:           %s, chain id %s\n", g->chain_name, hex);
        printf("  genesis:         %s (n %u, f %u)\n", cfg.genesis_path, g->validator_count,
               g->f);
        if (cfg.validator_index >= g->validator_count) {
            error_at(&c, "%s: validator_index: %u but the genesis %s has %u validators", f,
                     cfg.validator_index, cfg.genesis_path, g->validator_count);
        } else {
            const certa_validator_info *v = &g->validators[cfg.validator_index];
            printf("  validator:       %u (%s) of %u\n", cfg.validator_index, v->name,
                   g->validator_count);
            printf("  endpoints:       peers %s, integrators %s, metrics %s (genesis)\n",
                   v->peer_endpoint, v->client_endpoint, v->metrics_endpoint);
            /* The others dial genesis' endpoints: a bind on another port is
             * reachable by nobody. The host may differ (a wildcard bind). */
            warn_port(&c, f, "peer_bind", cfg.peer_bind, v->peer_endpoint,
                      cfg.validator_index, "peer_endpoint");
            warn_port(&c, f, "client_bind", cfg.client_bind, v->client_endpoint,
                      cfg.validator_index, "client_endpoint");
            if (cfg.metrics_port != 0) {
                char mp[16];
                snprintf(mp, sizeof mp, ":%u/", (unsigned)cfg.metrics_port);
                if (strstr(v->metrics_endpoint, mp) == NULL)
                    warn_at(&c, "%s: metrics_port: %u, but genesis validators[%u]."
                            "metrics_endpoint is %s", f, (unsigned)cfg.metrics_port,
                            cfg.validator_index, v->metrics_endpoint);
            }
        }
    }

    /* Keys: readable and private here; type and match with genesis through
     * the daemon's loader once both are readable and a validator entry
     * exists to compare with. */
    bool sign_ok = check_secret(&c, f, "sign_key", cfg.sign_key_path);
    bool curve_ok = check_secret(&c, f, "curve_key", cfg.curve_key_path);
    if (sign_ok) {
        /* The type first, alone, so that a wrong file is named as such even
         * without a genesis to compare with. */
        certa_key *k = NULL;
        if (certa_key_load_pem(cfg.sign_key_path, &k, &ei) != CERTA_OK) {
            error_at(&c, "%s: sign_key: not an Ed25519 private key (PEM): %s", f,
                     certa_errmsg(&ei));
            sign_ok = false;
        }
        certa_key_free(k);
    }
    if (curve_ok) {
        char secret[CERTA_CURVE_KEY_Z85_BYTES];
        if (certa_curve_secret_load(cfg.curve_key_path, secret, NULL, &ei) != CERTA_OK) {
            error_at(&c, "%s: curve_key: %s", f, certa_errmsg(&ei));
            curve_ok = false;
        }
        memset(secret, 0, sizeof secret);
    }
    if (sign_ok && curve_ok && g != NULL && cfg.validator_index < g->validator_count) {
        certa_key *k = NULL;
        char secret[CERTA_CURVE_KEY_Z85_BYTES];
        if (certa_node_keys_load(&cfg, g, &k, secret, &ei) != CERTA_OK)
            error_at(&c, "%s: %s", f, certa_errmsg(&ei));
        else
            printf("  keys:            %s (Ed25519), %s (CURVE): match genesis "
                   "validators[%u]\n", cfg.sign_key_path, cfg.curve_key_path,
                   cfg.validator_index);
        certa_key_free(k);
        memset(secret, 0, sizeof secret);
    }

    check_space(&c, f, cfg.data_dir, min_free_mb);

    /* Ports: each bound and released; two fields on one port are caught
     * as the second bind fails only if the first were held, so compare. */
    char host[CERTA_ENDPOINT_BYTES], port[16], ports[3][16] = {"", "", ""};
    bool any = false;
    static const char *const fields[2] = {"peer_bind", "client_bind"};
    const char *binds[2] = {cfg.peer_bind, cfg.client_bind};
    for (int i = 0; i < 2; i++) {
        if (!split_endpoint(binds[i], host, sizeof host, port, sizeof port, &any)) {
            error_at(&c, "%s: %s: '%s' is not tcp://HOST:PORT", f, fields[i], binds[i]);
            continue;
        }
        snprintf(ports[i], sizeof ports[i], "%s", port);
        check_port(&c, f, fields[i], binds[i], any ? NULL : host, port);
    }
    printf("  binds:           peers %s, integrators %s\n", cfg.peer_bind, cfg.client_bind);
    if (cfg.metrics_port == 0) {
        printf("  metrics:         disabled (metrics_port 0)\n");
    } else {
        snprintf(ports[2], sizeof ports[2], "%u", (unsigned)cfg.metrics_port);
        char shown[CERTA_ENDPOINT_BYTES + 32];
        snprintf(shown, sizeof shown, "http://%s:%u/metrics", cfg.metrics_host,
                 (unsigned)cfg.metrics_port);
        bool wild = strcmp(cfg.metrics_host, "*") == 0 || strcmp(cfg.metrics_host, "0.0.0.0") == 0;
        check_port(&c, f, "metrics_port", shown, wild ? NULL : cfg.metrics_host, ports[2]);
        printf("  metrics:         %s\n", shown);
    }
    static const char *const pfields[3] = {"peer_bind", "client_bind", "metrics_port"};
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (ports[i][0] != '\0' && strcmp(ports[i], ports[j]) == 0)
                error_at(&c, "%s: %s: port %s is also %s's", f, pfields[j], ports[j],
                         pfields[i]);

    certa_genesis_free(g);
    if (c.errors != 0) {
        printf("%s: %u error(s), %u warning(s): the validator would not start\n", f,
               c.errors, c.warnings);
        return CERTA_EXIT_FAIL;
    }
    printf("%s: OK (%u warning(s)): 'certa node --config %s' would run validator %u\n", f,
           c.warnings, f, cfg.validator_index);
    return CERTA_EXIT_OK;
}
