/* certa witness: an independent party (the city's audit office, a
 * newspaper) that cosigns the event log's checkpoints only as they grow
 * append-only, in the C2SP formats: the tlog-witness protocol over HTTP
 * (POST /add-checkpoint: "old N", a consistency proof, a blank line, the
 * checkpoint) and tlog-cosignature/v1 Ed25519 cosignatures (key id type
 * 0x04; signed message "cosignature/v1\ntime T\n" + the checkpoint's text).
 *
 * `serve` is the witness; `add` is the log side: it asks the witness's
 * size, computes the consistency proof from a data directory and prints
 * the note with the witness's cosignature appended.
 *
 * Invariants (serve): requests are handled one at a time (one
 * libmicrohttpd thread and a mutex), so checking "old" against the
 * recorded size and recording the new checkpoint are one step; the new
 * checkpoint is on disk (written whole, fsynced, renamed) before the
 * cosignature is sent; a checkpoint is cosigned only with 2f+1 genesis
 * validators' signatures and a consistency proof from the recorded one.
 * A refused checkpoint that a quorum signed (another root at the recorded
 * size, or a proof that fails) is kept in DIR as evidence. */
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>

#include "certa/crypto.h"
#include "certa/genesis.h"
#include "certa/merkle.h"
#include "checkpoint_note.h"
#include "cli.h"
#include "endpoints.h"

#define CMD "witness"
#define BODY_BYTES_MAX 65536

static const char usage[] =
    "usage: certa witness serve --genesis FILE --key PEM --name NAME --state DIR\n"
    "                           [--listen HOST:PORT]\n"
    "       certa witness add --url URL --data DIR NOTE\n\n"
    "A witness cosigns the event log's checkpoints only as the log grows\n"
    "append-only (C2SP tlog-witness, tlog-cosignature/v1 with Ed25519).\n\n"
    "  serve   answers POST /add-checkpoint (default 127.0.0.1:8090): the\n"
    "          checkpoint must be this chain's and signed by 2f+1 genesis\n"
    "          validators (else 403; another origin 404); \"old\" must be the\n"
    "          size it last cosigned (else 409 with that size, text/x.tlog.size);\n"
    "          the consistency proof from there must verify (else 422), and at\n"
    "          an equal size the root must be the same (else 409). Then it\n"
    "          records the checkpoint in DIR and answers the cosignature line.\n"
    "          KEY is the witness's own Ed25519 key (certa keygen), NAME its\n"
    "          name in signature lines. Refused checkpoints that a quorum\n"
    "          signed are kept in DIR/refused-*.txt: proof of a split view.\n"
    "  add     the log side: submits NOTE (a checkpoint of DIR's log) to the\n"
    "          witness at URL with the consistency proof from the size the\n"
    "          witness holds, computed from DIR, and prints NOTE with the\n"
    "          witness's cosignature appended. Exit 1 when the witness refuses.\n";

/* ---- shared ---- */

static size_t b64(const uint8_t *in, size_t n, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* The cosignature/v1 key id: SHA-256(name || "\n" || 0x04 || pub)[:4]. */
static void cosig_key_id(const char *name, const uint8_t pub[CERTA_PUBKEY_BYTES], uint8_t out[4])
{
    certa_sha256_ctx c;
    uint8_t h[CERTA_HASH_BYTES];
    certa_sha256_init(&c);
    certa_sha256_update(&c, name, strlen(name));
    certa_sha256_update(&c, "\n\x04", 2);
    certa_sha256_update(&c, pub, CERTA_PUBKEY_BYTES);
    certa_sha256_final(&c, h);
    memcpy(out, h, 4);
}

/* ---- serve ---- */

typedef struct witness {
    certa_genesis *g;
    certa_key *key;
    uint8_t pub[CERTA_PUBKEY_BYTES];
    const char *name, *dir;
    pthread_mutex_t mu;
    uint64_t size; /* the last checkpoint cosigned (0, empty: none) */
    uint8_t root[CERTA_HASH_BYTES];
} witness;

typedef struct wreq {
    char body[BODY_BYTES_MAX];
    size_t len;
    bool over;
} wreq;

static bool load_state(witness *w, char *err, size_t err_len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/witness.state", w->dir);
    size_t len = 0;
    char *s = certa_read_file(path, 4096, &len);
    if (s == NULL) {
        if (errno != ENOENT) {
            snprintf(err, err_len, "%s: %s", path, strerror(errno));
            return false;
        }
        w->size = 0;
        certa_merkle_empty_root(w->root);
        return true;
    }
    unsigned long long size = 0;
    char root64[64] = "";
    bool ok = sscanf(s, "size %llu\nroot %60s\n", &size, root64) == 2 &&
              certa_note_unb64(root64, strlen(root64), w->root, CERTA_HASH_BYTES);
    free(s);
    if (!ok) {
        snprintf(err, err_len, "%s: not a witness state file", path);
        return false;
    }
    w->size = size;
    return true;
}

static bool save_state(witness *w, uint64_t size, const uint8_t root[CERTA_HASH_BYTES])
{
    char path[1024], tmp[1100], root64[64], text[160];
    snprintf(path, sizeof path, "%s/witness.state", w->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    b64(root, CERTA_HASH_BYTES, root64);
    int n = snprintf(text, sizeof text, "size %" PRIu64 "\nroot %s\n", size, root64);
    FILE *f = fopen(tmp, "wb");
    if (f == NULL)
        return false;
    bool ok = fwrite(text, 1, (size_t)n, f) == (size_t)n && fflush(f) == 0 &&
              fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    return ok && rename(tmp, path) == 0;
}

static void keep_refused(witness *w, const char *why, const char *body, size_t len)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/refused-%lld-%d.txt", w->dir, (long long)time(NULL),
             (int)getpid());
    FILE *f = fopen(path, "ab");
    if (f == NULL)
        return;
    fprintf(f, "%s\n--- request:\n", why);
    fwrite(body, 1, len, f);
    fclose(f);
    fprintf(stderr, "certa witness: refused a quorum-signed checkpoint: %s (kept in %s)\n", why,
            path);
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type,
                              const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type,
                              const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
    struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* The add-checkpoint request in body: its answer. Holds w->mu. */
static enum MHD_Result add_checkpoint(witness *w, struct MHD_Connection *conn, const char *body,
                                      size_t len)
{
    const char *text = "text/plain; charset=utf-8";
    static uint8_t proof[CERTA_WITNESS_PROOF_MAX][CERTA_HASH_BYTES];
    static certa_note n;
    size_t nproof = 0;
    uint64_t old = 0;
    char why[512];
    if (!certa_witness_request_parse(body, len, &old, proof, &nproof, &n, why, sizeof why))
        return answer(conn, 400, text, "%s\n", why);
    uint32_t good = 0;
    if (!certa_note_quorum(w->g, &n, &good, NULL, why, sizeof why)) {
        if (strncmp(why, "origin", 6) == 0)
            return answer(conn, 404, text, "unknown log: %s\n", why);
        return answer(conn, 403, text, "%s\n", why);
    }
    if (old > n.size)
        return answer(conn, 400, text,
                      "old size %" PRIu64 " is over the checkpoint's %" PRIu64 "\n", old, n.size);
    if (old != w->size)
        return answer(conn, 409, "text/x.tlog.size", "%" PRIu64 "\n", w->size);
    if (n.size == w->size) {
        if (nproof != 0 || memcmp(n.root, w->root, CERTA_HASH_BYTES) != 0) {
            snprintf(why, sizeof why, "a root at size %" PRIu64 " other than the one cosigned",
                     n.size);
            keep_refused(w, why, body, len);
            return answer(conn, 409, "text/x.tlog.size", "%" PRIu64 "\n", w->size);
        }
    } else {
        certa_errinfo ei;
        certa_errinfo_clear(&ei);
        if ((old == 0 && nproof != 0) ||
            (old > 0 && certa_merkle_verify_consistency(old, n.size, w->root, n.root,
                                                        (const uint8_t (*)[CERTA_HASH_BYTES])proof,
                                                        nproof, &ei) != CERTA_OK)) {
            snprintf(why, sizeof why, "no consistency from size %" PRIu64 " to %" PRIu64 ": %s", old,
                     n.size, old == 0 ? "a proof from size 0 must be empty" : certa_errmsg(&ei));
            keep_refused(w, why, body, len);
            return answer(conn, 422, text, "%s\n", why);
        }
    }
    if (!save_state(w, n.size, n.root))
        return answer(conn, 500, text, "cannot record the checkpoint: %s\n", strerror(errno));
    w->size = n.size;
    memcpy(w->root, n.root, CERTA_HASH_BYTES);
    uint64_t ts = (uint64_t)time(NULL);
    static char msg[CERTA_NOTE_TEXT_MAX + 64];
    int ml = snprintf(msg, sizeof msg, "cosignature/v1\ntime %" PRIu64 "\n", ts);
    memcpy(msg + ml, n.text, n.text_len);
    uint8_t blob[4 + 8 + CERTA_SIGNATURE_BYTES];
    cosig_key_id(w->name, w->pub, blob);
    for (int i = 0; i < 8; i++)
        blob[4 + i] = (uint8_t)(ts >> (56 - 8 * i));
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (certa_sign(w->key, (const uint8_t *)msg, (size_t)ml + n.text_len, blob + 12, &ei) !=
        CERTA_OK)
        return answer(conn, 500, text, "cannot sign: %s\n", certa_errmsg(&ei));
    char sig64[160];
    b64(blob, sizeof blob, sig64);
    fprintf(stderr, "certa witness: cosigned %s size %" PRIu64 "\n", n.origin, n.size);
    return answer(conn, 200, text, "%s %s %s\n", CERTA_NOTE_DASH, w->name, sig64);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    witness *w = cls;
    wreq *rq = *con_cls;
    if (rq == NULL) {
        rq = calloc(1, sizeof *rq);
        if (rq == NULL)
            return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (rq->len + *upload_size > sizeof rq->body)
            rq->over = true;
        else
            memcpy(rq->body + rq->len, upload, *upload_size), rq->len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    const char *text = "text/plain; charset=utf-8";
    if (strcmp(url, "/add-checkpoint") != 0)
        return answer(conn, 404, text, "no such path (POST /add-checkpoint)\n");
    if (strcmp(method, "POST") != 0)
        return answer(conn, 405, text, "POST only\n");
    if (rq->over)
        return answer(conn, 413, text, "over %d bytes\n", BODY_BYTES_MAX);
    pthread_mutex_lock(&w->mu);
    enum MHD_Result rc = add_checkpoint(w, conn, rq->body, rq->len);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int cmd_serve(int argc, char **argv)
{
    const char *gpath = NULL, *kpath = NULL, *name = NULL, *dir = NULL,
               *listen = "127.0.0.1:8090";
    for (int i = 2; i < argc; i++) {
        bool has = i + 1 < argc;
        if (strcmp(argv[i], "--genesis") == 0 && has)
            gpath = argv[++i];
        else if (strcmp(argv[i], "--key") == 0 && has)
            kpath = argv[++i];
        else if (strcmp(argv[i], "--name") == 0 && has)
            name = argv[++i];
        else if (strcmp(argv[i], "--state") == 0 && has)
            dir = argv[++i];
        else if (strcmp(argv[i], "--listen") == 0 && has)
            listen = argv[++i];
        else
            return certa_usage_error(CMD, "serve: unexpected argument '%s' (see --help)", argv[i]);
    }
    if (kpath == NULL || name == NULL || dir == NULL)
        return certa_usage_error(CMD, "serve needs --key, --name and --state");
    if (strlen(name) == 0 || strlen(name) > 200 || strpbrk(name, " \n+") != NULL)
        return certa_usage_error(CMD, "--name: 1 to 200 bytes without space, newline or '+'");
    if (strlen(dir) > 900)
        return certa_usage_error(CMD, "--state: too long");
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    char host[64];
    unsigned long long port = 0;
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || (size_t)(colon - listen) >= sizeof host ||
        certa_parse_u64(colon + 1, 0, 65535, &port) != 0)
        return certa_usage_error(CMD, "--listen: expected IPV4:PORT, got '%s'", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return certa_usage_error(CMD, "--listen: expected IPV4:PORT, got '%s'", listen);
    sa.sin_port = htons((uint16_t)port);
    static witness w;
    memset(&w, 0, sizeof w);
    w.name = name;
    w.dir = dir;
    pthread_mutex_init(&w.mu, NULL);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (certa_genesis_load(certa_tool_genesis_path(gpath), &w.g, &ei) != CERTA_OK)
        return certa_fail(CMD, "%s", certa_errmsg(&ei));
    int rc = CERTA_EXIT_OK;
    char err[1200] = "";
    if (certa_key_load_pem(kpath, &w.key, &ei) != CERTA_OK) {
        rc = certa_fail(CMD, "%s", certa_errmsg(&ei));
        goto out;
    }
    certa_key_public(w.key, w.pub);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        rc = certa_fail(CMD, "%s: %s", dir, strerror(errno));
        goto out;
    }
    if (!load_state(&w, err, sizeof err)) {
        rc = certa_fail(CMD, "%s", err);
        goto out;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL,
        on_request, &w, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_LIMIT, 64u,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (d == NULL) {
        rc = certa_fail(CMD, "cannot listen on %s: %s", listen, strerror(errno));
        goto out;
    }
    char vpub[64], kid_hex[9];
    uint8_t vk[1 + CERTA_PUBKEY_BYTES], kid[4];
    vk[0] = 0x04;
    memcpy(vk + 1, w.pub, CERTA_PUBKEY_BYTES);
    b64(vk, sizeof vk, vpub);
    cosig_key_id(name, w.pub, kid);
    certa_hex_encode(kid, 4, kid_hex);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, "certa witness: %s (verifier key %s+%s+%s) on %s:%u, at size %" PRIu64 "\n",
            name, name, kid_hex, vpub, host, di != NULL ? di->port : (unsigned)port, w.size);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!stop)
        pause();
    MHD_stop_daemon(d);
    fprintf(stderr, "certa witness: stopped\n");
out:
    certa_key_free(w.key);
    certa_genesis_free(w.g);
    return rc;
}

/* ---- add: the log's side ---- */

typedef struct rbuf {
    char p[4096];
    size_t len;
} rbuf;

static size_t on_reply(char *data, size_t size, size_t n, void *ctx)
{
    rbuf *b = ctx;
    size_t k = size * n, room = sizeof b->p - 1 - b->len;
    size_t take = k < room ? k : room;
    memcpy(b->p + b->len, data, take);
    b->len += take;
    b->p[b->len] = '\0';
    return k;
}

static int post(CURL *c, const char *url, const char *body, size_t len, rbuf *out, long *status,
                char *err, size_t err_len)
{
    out->len = 0;
    out->p[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_reply);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(err, err_len, "POST %s: %s", url, curl_easy_strerror(cc));
        return -1;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

typedef struct leaves {
    uint64_t stop;
    uint8_t (*h)[CERTA_HASH_BYTES];
    size_t n, cap;
} leaves;

static bool take_leaf(void *ctx, uint64_t index, const uint8_t *leaf, size_t len, char *err,
                      size_t err_len)
{
    leaves *l = ctx;
    if (index >= l->stop)
        return true;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 65536;
        void *p = realloc(l->h, cap * CERTA_HASH_BYTES);
        if (p == NULL) {
            snprintf(err, err_len, "out of memory at leaf %llu", (unsigned long long)index);
            return false;
        }
        l->h = p;
        l->cap = cap;
    }
    certa_merkle_leaf_hash(leaf, len, l->h[l->n++]);
    return true;
}

static int cmd_add(int argc, char **argv)
{
    const char *url = NULL, *data = NULL, *note_path = NULL;
    for (int i = 2; i < argc; i++) {
        bool has = i + 1 < argc;
        if (strcmp(argv[i], "--url") == 0 && has)
            url = argv[++i];
        else if (strcmp(argv[i], "--data") == 0 && has)
            data = argv[++i];
        else if (argv[i][0] != '-' && note_path == NULL)
            note_path = argv[i];
        else
            return certa_usage_error(CMD, "add: unexpected argument '%s' (see --help)", argv[i]);
    }
    if (url == NULL || data == NULL || note_path == NULL)
        return certa_usage_error(CMD, "add needs --url URL --data DIR and a NOTE file");
    size_t nlen = 0;
    char *note = certa_read_file(note_path, BODY_BYTES_MAX / 2, &nlen);
    if (note == NULL)
        return certa_fail(CMD, "%s: unreadable or over %d bytes", note_path, BODY_BYTES_MAX / 2);
    static certa_note n;
    char why[512];
    if (!certa_note_parse(note, nlen, &n, why, sizeof why)) {
        free(note);
        return certa_fail(CMD, "%s: %s", note_path, why);
    }
    char endpoint[1200];
    snprintf(endpoint, sizeof endpoint, "%s/add-checkpoint", url);
    CURL *c = curl_easy_init();
    static char body[BODY_BYTES_MAX];
    static leaves lv;
    certa_merkle_tree *t = NULL;
    int rc = CERTA_EXIT_OK;
    rbuf reply;
    long status = 0;
    char err[1400];
    /* ask with old 0: the witness answers 409 with its size (or cosigns a first checkpoint) */
    int bl = snprintf(body, sizeof body, "old 0\n\n");
    memcpy(body + bl, note, nlen);
    if (c == NULL || post(c, endpoint, body, (size_t)bl + nlen, &reply, &status, err,
                          sizeof err) != 0) {
        rc = certa_fail(CMD, "%s", c == NULL ? "cannot start the HTTP client" : err);
        goto out;
    }
    if (status == 409) {
        unsigned long long wsize = 0;
        char *e = strchr(reply.p, '\n');
        if (e != NULL)
            *e = '\0';
        if (certa_parse_u64(reply.p, 0, UINT64_MAX, &wsize) != 0) {
            rc = certa_fail(CMD, "the witness answered 409 without a size: '%s'", reply.p);
            goto out;
        }
        if (wsize > n.size) {
            printf("witness: it holds size %llu, beyond this checkpoint's %llu: not submitted\n",
                   wsize, (unsigned long long)n.size);
            rc = CERTA_EXIT_FAIL;
            goto out;
        }
        /* the proof from the witness's size, from this data directory's log */
        memset(&lv, 0, sizeof lv);
        lv.stop = n.size;
        if ((rc = certa_merkle_log_each(data, take_leaf, &lv)) != CERTA_EXIT_OK)
            goto out;
        certa_errinfo ei;
        certa_errinfo_clear(&ei);
        uint8_t root[CERTA_HASH_BYTES];
        if (lv.n != n.size ||
            certa_merkle_tree_build(NULL, lv.h ? lv.h[0] : NULL, lv.n, &t, &ei) != CERTA_OK) {
            rc = certa_fail(CMD, "%s: the log has %zu events, the checkpoint %llu", data, lv.n,
                            (unsigned long long)n.size);
            goto out;
        }
        certa_merkle_tree_root(t, root);
        if (memcmp(root, n.root, sizeof root) != 0) {
            rc = certa_fail(CMD, "%s: the checkpoint's root is not this log's at size %llu",
                            note_path, (unsigned long long)n.size);
            goto out;
        }
        static uint8_t path[CERTA_MERKLE_CONSISTENCY_MAX][CERTA_HASH_BYTES];
        size_t plen = 0;
        if (certa_merkle_tree_consistency(t, wsize, path, &plen, &ei) != CERTA_OK) {
            rc = certa_fail(CMD, "%s", certa_errmsg(&ei));
            goto out;
        }
        bl = snprintf(body, sizeof body, "old %llu\n", wsize);
        for (size_t i = 0; i < plen; i++) {
            char h64[64];
            b64(path[i], CERTA_HASH_BYTES, h64);
            bl += snprintf(body + bl, sizeof body - (size_t)bl, "%s\n", h64);
        }
        body[bl++] = '\n';
        memcpy(body + bl, note, nlen);
        if (post(c, endpoint, body, (size_t)bl + nlen, &reply, &status, err, sizeof err) != 0) {
            rc = certa_fail(CMD, "%s", err);
            goto out;
        }
    }
    if (status != 200) {
        printf("witness: refused with HTTP %ld: %s%s", status, reply.p,
               reply.len > 0 && reply.p[reply.len - 1] == '\n' ? "" : "\n");
        rc = CERTA_EXIT_FAIL;
        goto out;
    }
    fwrite(note, 1, nlen, stdout);
    fputs(reply.p, stdout);
out:
    certa_merkle_tree_free(t);
    free(lv.h);
    if (c != NULL)
        curl_easy_cleanup(c);
    free(note);
    return rc;
}

int certa_cmd_witness(int argc, char **argv)
{
    if (certa_wants_help(argc, argv) || argc < 2) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CERTA_EXIT_USAGE : CERTA_EXIT_OK;
    }
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc, argv);
    if (strcmp(argv[1], "add") == 0)
        return cmd_add(argc, argv);
    return certa_usage_error(CMD, "unknown action '%s' (serve, add)", argv[1]);
}

bool certa_cosig_check(const char *vkey, const certa_note *n, char *why, size_t why_len)
{
    /* NAME+KEYID(8 hex)+base64(0x04 || public key): a name has no '+',
     * base64 may */
    const char *plus1 = strchr(vkey, '+');
    const char *plus2 = plus1 != NULL ? strchr(plus1 + 1, '+') : NULL;
    uint8_t kid[4], raw[1 + CERTA_PUBKEY_BYTES], want[4];
    char name[CERTA_NAME_BYTES];
    if (plus1 == NULL || plus2 == NULL || plus1 == vkey || plus2 - plus1 != 9 ||
        (size_t)(plus1 - vkey) >= sizeof name ||
        !certa_note_unb64(plus2 + 1, strlen(plus2 + 1), raw, sizeof raw) || raw[0] != 0x04) {
        snprintf(why, why_len, "witness key '%s': expected NAME+KEYID+base64(0x04 || key)",
                 vkey);
        return false;
    }
    memcpy(name, vkey, (size_t)(plus1 - vkey));
    name[plus1 - vkey] = '\0';
    char kid_hex[9];
    memcpy(kid_hex, plus1 + 1, 8);
    kid_hex[8] = '\0';
    cosig_key_id(name, raw + 1, want);
    if (certa_hex_decode(kid_hex, kid, 4) != CERTA_OK || memcmp(kid, want, 4) != 0) {
        snprintf(why, why_len, "witness key '%s': its key id is not that of its name and key",
                 vkey);
        return false;
    }
    certa_pubkey *pk = NULL;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (certa_pubkey_from_raw(raw + 1, &pk, &ei) != CERTA_OK) {
        snprintf(why, why_len, "witness key '%s': %s", vkey, certa_errmsg(&ei));
        return false;
    }
    bool ok = false;
    for (uint32_t s = 0; s < n->nsigs && !ok; s++) {
        uint8_t blob[4 + 8 + CERTA_SIGNATURE_BYTES];
        const char *b = n->sigs[s].b64;
        if (strcmp(n->sigs[s].name, name) != 0 ||
            !certa_note_unb64(b, strlen(b), blob, sizeof blob) || memcmp(blob, want, 4) != 0)
            continue;
        uint64_t ts = 0;
        for (int i = 0; i < 8; i++)
            ts = ts << 8 | blob[4 + i];
        char msg[CERTA_NOTE_TEXT_MAX + 64];
        int ml = snprintf(msg, sizeof msg, "cosignature/v1\ntime %" PRIu64 "\n", ts);
        memcpy(msg + ml, n->text, n->text_len);
        ok = certa_verify(pk, (const uint8_t *)msg, (size_t)ml + n->text_len, blob + 12);
    }
    certa_pubkey_free(pk);
    if (!ok)
        snprintf(why, why_len, "no valid cosignature by witness %s", name);
    return ok;
}
