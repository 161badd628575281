/* gateway_post: POST /v1/batches (see gateway_post.h).
 *
 * Invariants: a POST's sequence range [seq, seq + events) is reserved under
 * the lock and journaled durably before its first batch is sent, so a range
 * is never used by two bodies, also across restarts (the next range starts
 * above every journaled one and above the wall clock in microseconds, so a
 * lost journal still cannot reuse a range below the time it was lost).
 * Memory is bounded: the key table is fixed at CERTA_GW_KEYS_MAX entries
 * (the oldest forgotten first), bodies at CERTA_GW_BODY_BYTES_MAX.
 */
#include "gateway_post.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "certa/codec.h"
#include "certa/crypto.h"
#include "certa/event_json.h"
#include "certa/receipt.h"
#include "certa/wire.h"
#include "cli.h"
#include "gateway_pipe.h"
#include "gateway_post_internal.h"


const uint8_t gwp_zero_id[CERTA_HASH_BYTES];

static void resume_pending(certa_gw_post *p);

void certa_gw_token_hash(const char *token_text, char hex[65])
{
    uint8_t h[CERTA_HASH_BYTES];
    certa_sha256(token_text, strlen(token_text), h);
    certa_hex_encode(h, sizeof h, hex);
}

uint64_t gwp_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- the key table ---- */

static keyent *key_slot(certa_gw_post *p, const uint8_t id[CERTA_HASH_BYTES], bool *found)
{
    uint32_t h = (uint32_t)id[0] | (uint32_t)id[1] << 8 | (uint32_t)id[2] << 16;
    keyent *oldest = NULL;
    for (uint32_t k = 0; k < 16; k++) {
        keyent *e = &p->keys[(h + k) % CERTA_GW_KEYS_MAX];
        if (memcmp(e->id, id, CERTA_HASH_BYTES) == 0) {
            *found = true;
            return e;
        }
        if (memcmp(e->id, gwp_zero_id, CERTA_HASH_BYTES) == 0) {
            *found = false;
            return e;
        }
        if (oldest == NULL || e->order < oldest->order)
            oldest = e;
    }
    /* a full run: the oldest key of the run is forgotten */
    *found = false;
    return oldest;
}

static void key_put(certa_gw_post *p, const uint8_t id[CERTA_HASH_BYTES],
                    const uint8_t body[CERTA_HASH_BYTES], uint64_t seq)
{
    bool found;
    keyent *e = key_slot(p, id, &found);
    memcpy(e->id, id, CERTA_HASH_BYTES);
    memcpy(e->body, body, CERTA_HASH_BYTES);
    e->seq = seq;
    e->order = ++p->nkeys_total;
}

/* ---- the journal: "ID_HEX BODY_HEX SEQ EVENTS\n" per POST ---- */

static certa_err journal_load(certa_gw_post *p, certa_errinfo *ei)
{
    FILE *f = fopen(p->journal_path, "r");
    if (f == NULL) {
        if (errno == ENOENT)
            return CERTA_OK;
        return certa_errorf(ei, CERTA_E_IO, "%s: %s", p->journal_path, strerror(errno));
    }
    char line[256];
    unsigned long n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        n++;
        char idh[65], bodyh[65];
        uint64_t seq, events;
        uint8_t id[CERTA_HASH_BYTES], body[CERTA_HASH_BYTES];
        if (sscanf(line, "%64s %64s %" SCNu64 " %" SCNu64, idh, bodyh, &seq, &events) != 4 ||
            certa_hex_decode(idh, id, sizeof id) != CERTA_OK ||
            certa_hex_decode(bodyh, body, sizeof body) != CERTA_OK || seq == 0 ||
            events == 0 || events > CERTA_GW_EVENTS_MAX || seq > UINT64_MAX - events) {
            /* a torn last line is a crash's remainder: nothing was sent
             * for it (the line is synced before the first send) */
            if (feof(f) || fgetc(f) == EOF)
                break;
            fclose(f);
            return certa_errorf(ei, CERTA_E_CORRUPT, "%s:%lu: not a journal line",
                                p->journal_path, n);
        }
        if (memcmp(id, gwp_zero_id, sizeof id) != 0)
            key_put(p, id, body, seq);
        if (seq + events > p->next_seq)
            p->next_seq = seq + events;
    }
    fclose(f);
    p->journal_lines = n;
    return CERTA_OK;
}

static certa_err load_tokens(certa_gw_post *p, certa_errinfo *ei)
{
    FILE *f = fopen(p->o.tokens_path, "r");
    if (f == NULL)
        return certa_errorf(ei, CERTA_E_IO, "--tokens %s: %s", p->o.tokens_path,
                            strerror(errno));
    char line[512];
    unsigned long n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        n++;
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '#' || *s == '\n' || *s == '\0')
            continue;
        char caller[CALLER_BYTES], hex[80];
        token *t = &p->tokens[p->ntokens];
        if (sscanf(s, "%63s %79s", caller, hex) != 2 || strlen(hex) != 64 ||
            certa_hex_decode(hex, t->hash, sizeof t->hash) != CERTA_OK) {
            fclose(f);
            return certa_errorf(ei, CERTA_E_CONFIG, "%s:%lu: expected \"CALLER "
                                "SHA256_HEX\" (certa gateway --hash-token prints the "
                                "hash)", p->o.tokens_path, n);
        }
        if (p->ntokens == TOKENS_MAX) {
            fclose(f);
            return certa_errorf(ei, CERTA_E_LIMIT, "%s: more than %u tokens",
                                p->o.tokens_path, TOKENS_MAX);
        }
        snprintf(t->caller, sizeof t->caller, "%s", caller);
        p->ntokens++;
    }
    fclose(f);
    if (p->ntokens == 0)
        return certa_errorf(ei, CERTA_E_CONFIG, "%s: no token", p->o.tokens_path);
    return CERTA_OK;
}

certa_err certa_gw_post_open(const certa_gw_post_opts *o, certa_gw_post **out,
                             certa_errinfo *ei)
{
    *out = NULL;
    if (certa_genesis_integrator_find(o->genesis, o->integrator) < 0)
        return certa_errorf(ei, CERTA_E_ARG, "--integrator %s: not an integrator of the "
                            "genesis", o->integrator);
    struct stat st;
    if (stat(o->key_path, &st) != 0)
        return certa_errorf(ei, CERTA_E_IO, "--key %s: %s", o->key_path, strerror(errno));
    if (st.st_mode & 077)
        return certa_errorf(ei, CERTA_E_ARG, "--key %s: readable by others (mode %03o); "
                            "chmod 600 it", o->key_path, (unsigned)(st.st_mode & 0777));
    certa_gw_post *p = calloc(1, sizeof *p);
    if (p == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "out of memory");
    p->o = *o;
    p->journal_fd = -1;
    p->journal_lines_max = CERTA_GW_JOURNAL_LINES_MAX;
    const char *jl = getenv("CERTA_GATEWAY_JOURNAL_LINES");
    if (jl != NULL && atoi(jl) > 0)
        p->journal_lines_max = (uint64_t)atoi(jl);
    p->outcomes_max = CERTA_GW_OUTCOMES_MAX;
    const char *bk = getenv("CERTA_GATEWAY_BATCHES_KEPT");
    if (bk != NULL && atoi(bk) > 0)
        p->outcomes_max = (uint64_t)atoi(bk);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->jobs_done, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->group_cv, &ca);
    pthread_condattr_destroy(&ca);
    p->keys = calloc(CERTA_GW_KEYS_MAX, sizeof *p->keys);
    certa_err e;
    if (p->keys == NULL) {
        e = certa_errorf(ei, CERTA_E_NOMEM, "out of memory");
        goto fail;
    }
    if ((e = certa_key_load_pem(o->key_path, &p->key, ei)) != CERTA_OK ||
        (e = load_tokens(p, ei)) != CERTA_OK)
        goto fail;
    p->integrator_idx = certa_genesis_integrator_find(o->genesis, o->integrator);
    uint8_t pub[CERTA_PUBKEY_BYTES];
    certa_key_public(p->key, pub);
    if (memcmp(pub, o->genesis->integrators[p->integrator_idx].pub, CERTA_PUBKEY_BYTES) != 0) {
        e = certa_errorf(ei, CERTA_E_BAD_KEY, "--key %s: not integrator \"%s\"'s key in "
                         "the genesis", o->key_path, o->integrator);
        goto fail;
    }
    certa_client_opts co = {.endpoint_count = o->endpoint_count, .endpoints = o->endpoints,
                            .server_keys = o->server_keys, .window = CERTA_GW_WINDOW,
                            .deadline_ms = o->deadline_ms ? o->deadline_ms : 60000};
    if ((e = certa_gw_pipe_open(&co, &p->pipe, ei)) != CERTA_OK)
        goto fail;
    if (mkdir(o->state_dir, 0700) != 0 && errno != EEXIST) {
        e = certa_errorf(ei, CERTA_E_IO, "--state %s: %s", o->state_dir, strerror(errno));
        goto fail;
    }
    char bdir[4200];
    snprintf(bdir, sizeof bdir, "%s/batches", o->state_dir);
    if (mkdir(bdir, 0700) != 0 && errno != EEXIST) {
        e = certa_errorf(ei, CERTA_E_IO, "%s: %s", bdir, strerror(errno));
        goto fail;
    }
    snprintf(p->journal_path, sizeof p->journal_path, "%s/batches.journal", o->state_dir);
    p->next_seq = 1;
    if ((e = journal_load(p, ei)) != CERTA_OK)
        goto fail;
    p->journal_fd = open(p->journal_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (p->journal_fd < 0) {
        e = certa_errorf(ei, CERTA_E_IO, "%s: %s", p->journal_path, strerror(errno));
        goto fail;
    }
    *out = p;
    resume_pending(p);
    return CERTA_OK;
fail:
    certa_gw_post_close(p);
    return e;
}

void certa_gw_post_close(certa_gw_post *p)
{
    if (p == NULL)
        return;
    /* a running batch ends by its deadline: its outcome is written first */
    pthread_mutex_lock(&p->mu);
    while (p->jobs > 0)
        pthread_cond_wait(&p->jobs_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    certa_gw_pipe_close(p->pipe);
    if (p->journal_fd >= 0)
        close(p->journal_fd);
    certa_key_free(p->key);
    free(p->keys);
    free(p);
}

const char *certa_gw_post_auth(const certa_gw_post *p, const char *authorization)
{
    if (authorization == NULL || strncmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    uint8_t h[CERTA_HASH_BYTES];
    certa_sha256(authorization + 7, strlen(authorization + 7), h);
    const char *who = NULL;
    /* every token is compared in full: the time says nothing of which */
    for (uint32_t i = 0; i < p->ntokens; i++) {
        uint8_t d = 0;
        for (size_t k = 0; k < CERTA_HASH_BYTES; k++)
            d |= (uint8_t)(h[k] ^ p->tokens[i].hash[k]);
        if (d == 0 && who == NULL)
            who = p->tokens[i].caller;
    }
    return who;
}

/* ---- one POST ---- */

static void reply_json(certa_gw_reply *r, unsigned status, json_t *o)
{
    char *t = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    r->status = status;
    r->body = NULL;
    r->len = 0;
    if (t == NULL) {
        r->status = 500;
        return;
    }
    size_t n = strlen(t);
    char *b = realloc(t, n + 2);
    if (b == NULL) {
        free(t);
        r->status = 500;
        return;
    }
    b[n] = '\n';
    r->body = b;
    r->len = n + 1;
}

void gwp_reply_error(certa_gw_reply *r, unsigned status, unsigned code, const char *msg)
{
    reply_json(r, status, json_pack("{s:{s:I, s:I, s:s}}", "error", "status",
                                    (json_int_t)status, "code", (json_int_t)code,
                                    "message", msg));
}

/* The body as JSON Lines, every event checked: a JSON array becomes one
 * line per element. Returns the text to submit (malloc'ed) and the event
 * count, or NULL with msg naming the line (or element) and field. */
static char *normalize(const certa_gw_post *p, const char *body, size_t len, uint32_t *events,
                       certa_event *evs, char *msg, size_t msg_len)
{
    *events = 0;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    json_t *arr = NULL;
    if (i < len && body[i] == '[') {
        json_error_t je;
        arr = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
        if (arr == NULL || !json_is_array(arr)) {
            snprintf(msg, msg_len, "body: not a JSON array of events: %s (line %d)", je.text,
                     je.line);
            json_decref(arr);
            return NULL;
        }
    }
    size_t cap = (arr != NULL ? len + json_array_size(arr) : len) + 2, out_len = 0;
    char *out = malloc(cap);
    if (out == NULL) {
        json_decref(arr);
        snprintf(msg, msg_len, "out of memory");
        return NULL;
    }
    unsigned long line = 0;
    size_t pos = 0, idx = 0;
    for (;;) {
        char *text = NULL;
        const char *s;
        size_t n;
        if (arr != NULL) {
            if (idx == json_array_size(arr))
                break;
            text = json_dumps(json_array_get(arr, idx), JSON_COMPACT);
            if (text == NULL) {
                snprintf(msg, msg_len, "element %zu: not an event object", idx);
                goto bad;
            }
            idx++;
            line = idx;
            s = text;
            n = strlen(text);
        } else {
            if (pos >= len)
                break;
            const char *nl = memchr(body + pos, '\n', len - pos);
            s = body + pos;
            n = nl != NULL ? (size_t)(nl - s) : len - pos;
            pos += n + 1;
            line++;
            size_t k = 0;
            while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r'))
                k++;
            if (k == n)
                continue; /* blank */
        }
        certa_event ev;
        char integ[CERTA_EVENT_INTEGRATOR_BYTES];
        certa_errinfo ei;
        certa_errinfo_clear(&ei);
        const char *what = arr != NULL ? "element" : "line";
        unsigned long at = arr != NULL ? line - 1 : line;
        if (certa_event_parse_json(s, n, &ev, integ, &ei) != CERTA_OK) {
            snprintf(msg, msg_len, "%s %lu: %s", what, at, certa_errmsg(&ei));
            free(text);
            goto bad;
        }
        if (integ[0] != '\0' && strcmp(integ, p->o.integrator) != 0) {
            snprintf(msg, msg_len, "%s %lu: field \"integrator\": \"%s\", but this gateway "
                     "submits as \"%s\"", what, at, integ, p->o.integrator);
            free(text);
            goto bad;
        }
        if (++*events > CERTA_GW_EVENTS_MAX) {
            snprintf(msg, msg_len, "more than %u events in one POST", CERTA_GW_EVENTS_MAX);
            free(text);
            goto bad;
        }
        if (evs != NULL)
            evs[*events - 1] = ev;
        if (out_len + n + 2 > cap) { /* an array's elements re-serialized longer */
            size_t nc = (out_len + n + 2) * 2;
            char *nb = realloc(out, nc);
            if (nb == NULL) {
                free(text);
                snprintf(msg, msg_len, "out of memory");
                goto bad;
            }
            out = nb;
            cap = nc;
        }
        memcpy(out + out_len, s, n);
        out_len += n;
        out[out_len++] = '\n';
        free(text);
    }
    json_decref(arr);
    if (*events == 0) {
        snprintf(msg, msg_len, "body: no event");
        free(out);
        return NULL;
    }
    out[out_len] = '\0';
    return out;
bad:
    json_decref(arr);
    free(out);
    return NULL;
}

static int journal_line(char *out, size_t cap, const uint8_t id[CERTA_HASH_BYTES],
                        const uint8_t body[CERTA_HASH_BYTES], uint64_t seq, uint64_t events)
{
    char idh[65], bh[65];
    certa_hex_encode(id, CERTA_HASH_BYTES, idh);
    certa_hex_encode(body, CERTA_HASH_BYTES, bh);
    return snprintf(out, cap, "%s %s %" PRIu64 " %" PRIu64 "\n", idh, bh, seq, events);
}

/* Rewrites the journal as the keys still remembered plus one line that
 * keeps the next sequence number, so that it never grows without bound;
 * written beside, synced, then renamed over the old one (a crash leaves
 * one or the other whole). Called with p->mu held. */
bool gwp_journal_compact(certa_gw_post *p)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.new", p->journal_path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return false;
    char line[200];
    bool ok = true;
    for (uint32_t i = 0; i < CERTA_GW_KEYS_MAX && ok; i++) {
        const keyent *e = &p->keys[i];
        if (memcmp(e->id, gwp_zero_id, CERTA_HASH_BYTES) == 0)
            continue;
        int n = journal_line(line, sizeof line, e->id, e->body, e->seq, 1);
        ok = n > 0 && fwrite(line, 1, (size_t)n, f) == (size_t)n;
    }
    /* no key: only the next sequence number (seq + events = next_seq) */
    int n = journal_line(line, sizeof line, gwp_zero_id, gwp_zero_id, p->next_seq - 1, 1);
    ok = ok && n > 0 && fwrite(line, 1, (size_t)n, f) == (size_t)n;
    ok = fflush(f) == 0 && ok && fdatasync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, p->journal_path) != 0) {
        unlink(tmp);
        return false;
    }
    /* the rename is made durable by syncing the directory */
    int dfd = open(p->o.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    int nfd = open(p->journal_path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (nfd < 0)
        return false;
    close(p->journal_fd);
    p->journal_fd = nfd;
    p->journal_lines = 0;
    for (uint32_t i = 0; i < CERTA_GW_KEYS_MAX; i++)
        p->journal_lines += memcmp(p->keys[i].id, gwp_zero_id, CERTA_HASH_BYTES) != 0;
    p->journal_lines++;
    return true;
}

/* Appends a POST's line (called with p->mu held) and returns a descriptor
 * of the journal for the caller to fdatasync once the lock is released
 * (then close), or -1. Syncing outside the lock lets concurrent POSTs share
 * the disk's flushes instead of queueing one fdatasync at a time; a
 * compaction in between is harmless: the rewritten journal already holds
 * the line's key and next sequence number, synced before its rename. */
int gwp_journal_append(certa_gw_post *p, const uint8_t id[CERTA_HASH_BYTES],
                          const uint8_t body[CERTA_HASH_BYTES], uint64_t seq, uint32_t events)
{
    char line[200];
    int n = journal_line(line, sizeof line, id, body, seq, events);
    if (n <= 0 || write(p->journal_fd, line, (size_t)n) != n)
        return -1;
    p->journal_lines++;
    return dup(p->journal_fd);
}

/* The answer to a POST, built in one buffer: the receipts are written
 * into it in place (one JSON object each, comma-separated: the array's
 * elements, in the receipts-file format) after room left at the front for
 * the answer's head, which goes in last. Parsing and re-serializing a
 * megabyte of receipts per POST, or growing it through a stream and copying
 * it into the answer, cost more than the POST's own work. */

bool gwp_answer_reserve(answer *a, size_t more)
{
    if (a->failed)
        return false;
    if (a->len + more <= a->cap)
        return true;
    size_t nc = a->cap ? a->cap : ANSWER_HEAD_ROOM + 64u * 1024u;
    while (nc < a->len + more)
        nc *= 2;
    char *np = realloc(a->p, nc);
    if (np == NULL) {
        a->failed = true;
        return false;
    }
    a->p = np;
    a->cap = nc;
    return true;
}

/* r's answer: head (a compact JSON object, or NULL: out of memory) with
 * "receipts":[...] as its last member, the receipts being a's bytes from
 * ANSWER_HEAD_ROOM on. Takes a's buffer. */
void gwp_answer_finish(certa_gw_reply *r, unsigned status, const char *head, answer *a)
{
    static const char open_rcpt[] = ",\"receipts\":[";
    static const char close_rcpt[] = "]}\n";
    size_t hl = head != NULL ? strlen(head) : 0;
    r->status = status;
    r->body = NULL;
    r->len = 0;
    /* the head without its closing brace, then the array's opening */
    size_t pre = hl > 0 ? hl - 1 + sizeof open_rcpt - 1 : 0;
    size_t rl = a->len - ANSWER_HEAD_ROOM;
    if (hl < 2 || a->failed || !gwp_answer_reserve(a, sizeof close_rcpt)) {
        free(a->p);
        r->status = 500;
        return;
    }
    char *b = a->p;
    size_t at = 0;
    if (pre <= ANSWER_HEAD_ROOM) {
        at = ANSWER_HEAD_ROOM - pre; /* the head right before the receipts */
    } else if ((b = malloc(pre + rl + sizeof close_rcpt)) != NULL) {
        memcpy(b + pre, a->p + ANSWER_HEAD_ROOM, rl); /* a head too long for the room */
        free(a->p);
    } else {
        free(a->p);
        r->status = 500;
        return;
    }
    memcpy(b + at, head, hl - 1);
    memcpy(b + at + hl - 1, open_rcpt, sizeof open_rcpt - 1);
    memcpy(b + at + pre + rl, close_rcpt, sizeof close_rcpt - 1);
    r->body = b + at;
    r->len = pre + rl + sizeof close_rcpt - 1;
    r->body_alloc = at > 0 ? b : NULL;
}

/* ---- batch files: DIR/batches/SEQ.events while pending, SEQ.json after ----
 *
 * A batch (one POST) is named by its first sequence number, which the
 * journal reserved for it alone. Before anything is sent, SEQ.events holds
 * the caller and the checked events; once the batch has its outcome,
 * SEQ.json holds the answer (its head and the receipts, see outcome
 * files) and SEQ.events is removed.
 * A gateway that starts and finds a SEQ.events without its SEQ.json was
 * stopped while submitting it: it submits it again under the same numbers
 * (the validators answer a batch they executed with its original receipts),
 * so an acknowledged batch always ends committed or failed. */

void gwp_batch_path(const certa_gw_post *p, uint64_t seq, const char *ext, char *out,
                       size_t cap)
{
    snprintf(out, cap, "%s/batches/%" PRIu64 ".%s", p->o.state_dir, seq, ext);
}

/* Writes head then body to path whole and durably: beside, synced, renamed
 * over (a crash leaves the old file or the new one, never a torn one). */
bool gwp_write_durable(const certa_gw_post *p, const char *path, const char *head,
                          size_t head_len, const char *body, size_t body_len)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    bool ok = write(fd, head, head_len) == (ssize_t)head_len &&
              write(fd, body, body_len) == (ssize_t)body_len && fdatasync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return false;
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/batches", p->o.state_dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Keeps the newest outcomes_max outcomes (the highest ids: ids grow with
 * time): the older ones are removed, their status URLs become 404. Runs
 * when the count passes the bound by an eighth, so the directory is listed
 * once per outcomes_max / 8 batches. */
/* The numbers of the NUM.EXT files in the directory d lists (from where
 * it stands), malloc'ed in *out (NULL when none); when out of memory, the
 * ones found until then, and *whole (may be NULL) false. */
size_t gwp_batches_with(DIR *d, const char *ext_want, uint64_t **out, bool *whole)
{
    if (whole != NULL)
        *whole = true;
    uint64_t *seqs = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        unsigned long long seq;
        char ext[16];
        if (sscanf(de->d_name, "%llu.%15s", &seq, ext) != 2 || strcmp(ext, ext_want) != 0)
            continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 1024;
            uint64_t *ns = realloc(seqs, nc * sizeof *ns);
            if (ns == NULL) {
                if (whole != NULL)
                    *whole = false;
                break;
            }
            seqs = ns;
            cap = nc;
        }
        seqs[n++] = seq;
    }
    *out = seqs;
    return n;
}

void gwp_outcomes_prune(certa_gw_post *p)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/batches", p->o.state_dir);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    uint64_t *seqs = NULL;
    size_t n = gwp_batches_with(d, "json", &seqs, NULL);
    closedir(d);
    if (seqs != NULL)
        qsort(seqs, n, sizeof *seqs, cmp_u64);
    size_t drop = n > p->outcomes_max ? n - (size_t)p->outcomes_max : 0;
    for (size_t i = 0; i < drop; i++) {
        char path[4300];
        gwp_batch_path(p, seqs[i], "json", path, sizeof path);
        unlink(path);
    }
    free(seqs);
    p->outcomes = n - drop;
}


void gwp_built_free(built *bt)
{
    for (uint32_t i = 0; i < bt->n; i++)
        free(bt->b[i].body);
    free(bt->arena);
    free(bt->b);
    free(bt->off);
}

static certa_err built_add(built *bt, const certa_batch_builder *bb, uint64_t seq,
                           certa_errinfo *ei)
{
    if (bt->n == bt->nmax) {
        uint32_t nm = bt->nmax ? 2 * bt->nmax : 16;
        certa_gw_pipe_batch *nb = realloc(bt->b, nm * sizeof *nb);
        if (nb != NULL)
            bt->b = nb;
        size_t *no = nb != NULL ? realloc(bt->off, nm * sizeof *no) : NULL;
        if (no == NULL)
            return certa_errorf(ei, CERTA_E_NOMEM, "out of memory");
        bt->off = no;
        bt->nmax = nm;
    }
    if (bt->len + bb->len > bt->cap) {
        size_t nc = (bt->len + bb->len) * 2;
        uint8_t *na = realloc(bt->arena, nc);
        if (na == NULL)
            return certa_errorf(ei, CERTA_E_NOMEM, "out of memory");
        bt->arena = na;
        bt->cap = nc;
    }
    memcpy(bt->arena + bt->len, bb->buf, bb->len);
    bt->off[bt->n] = bt->len;
    bt->b[bt->n] = (certa_gw_pipe_batch){.len = bb->len, .seq = seq, .events = bb->count};
    bt->len += bb->len;
    bt->n++;
    return CERTA_OK;
}


certa_err gwp_pack_seal(packer *k, certa_errinfo *ei)
{
    certa_err e;
    if ((e = certa_batch_sign(&k->bb, k->p->key, ei)) != CERTA_OK ||
        (e = built_add(k->bt, &k->bb, k->seq, ei)) != CERTA_OK)
        return e;
    certa_batch_begin(&k->bb, k->buf, CERTA_BATCH_BYTES_MAX, (uint16_t)k->p->integrator_idx,
                      ++k->seq);
    return CERTA_OK;
}

static certa_err pack_event(packer *k, const certa_event *ev, certa_errinfo *ei)
{
    certa_err e = certa_batch_add(&k->bb, ev, ei);
    if (e == CERTA_E_LIMIT && k->bb.count > 0) {
        /* full in bytes: sealed, and the event starts the next one */
        if ((e = gwp_pack_seal(k, ei)) != CERTA_OK)
            return e;
        e = certa_batch_add(&k->bb, ev, ei);
    }
    if (e == CERTA_OK && k->bb.count == CERTA_GW_BATCH_EVENTS)
        e = gwp_pack_seal(k, ei);
    return e;
}

/* Packs checked events: from evs (n of them, as normalize parsed them)
 * or, when evs is NULL, parsed again from the text. */
certa_err gwp_pack_events(packer *k, const char *jsonl, const certa_event *evs, uint32_t n,
                             certa_errinfo *ei)
{
    certa_err e = CERTA_OK;
    for (uint32_t i = 0; evs != NULL && i < n && e == CERTA_OK; i++)
        e = pack_event(k, &evs[i], ei);
    if (evs == NULL) {
        FILE *f = fmemopen((void *)jsonl, strlen(jsonl), "r");
        certa_jsonl_reader *rd = NULL;
        certa_jsonl_item *it = malloc(sizeof *it);
        if (f == NULL || it == NULL)
            e = certa_errorf(ei, CERTA_E_NOMEM, "out of memory");
        else
            e = certa_jsonl_open_stream(f, "body", &rd, ei);
        while (e == CERTA_OK) {
            e = certa_jsonl_next(rd, it, ei);
            if (e == CERTA_E_NOTFOUND) {
                e = CERTA_OK;
                break;
            }
            if (e == CERTA_OK && it->kind == CERTA_JSONL_EVENT) /* normalize let no tick in */
                e = pack_event(k, &it->event, ei);
        }
        free(it);
        certa_jsonl_close(rd);
        if (f != NULL)
            fclose(f);
    }
    return e;
}

/* The checked events as batches in bt (gwp_pack_events). */
static certa_err build_batches(certa_gw_post *p, const char *jsonl, const certa_event *evs,
                               uint32_t n, uint64_t seq, uint8_t *buf, built *bt,
                               certa_errinfo *ei)
{
    packer k = {.p = p, .buf = buf, .seq = seq, .bt = bt};
    certa_batch_begin(&k.bb, buf, CERTA_BATCH_BYTES_MAX, (uint16_t)p->integrator_idx, seq);
    certa_err e = gwp_pack_events(&k, jsonl, evs, n, ei);
    if (e == CERTA_OK && k.bb.count > 0)
        e = gwp_pack_seal(&k, ei);
    for (uint32_t i = 0; e == CERTA_OK && i < bt->n; i++)
        bt->b[i].bytes = bt->arena + bt->off[i];
    return e;
}


/* Events from..from+count of one batch's outcome (an aggregated batch
 * answers each of its POSTs with its own part): their receipts appended to
 * the answer's array in a, counted in t. */
void gwp_tally_part(const certa_gw_pipe_batch *b, uint32_t from, uint32_t count,
                       certa_receipt *rc, answer *a, tally *t)
{
    CERTA_ASSERT(from <= b->events && count <= b->events - from);
    uint32_t got = 0, skipped = 0;
    if (b->type != CERTA_CP_RECEIPT) {
        snprintf(t->last_error, sizeof t->last_error, "batch seq %" PRIu64 ": %.1100s (%.200s)",
                 b->seq, b->error.message, certa_strerror((certa_err)b->error.code));
        t->not_committed += count;
        return;
    }
    certa_receipt_batch rb;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (certa_receipt_batch_decode(b->body, b->body_len, &rb, &ei) != CERTA_OK) {
        snprintf(t->last_error, sizeof t->last_error, "batch seq %" PRIu64
                 ": unreadable receipt: %.1000s", b->seq, certa_errmsg(&ei));
    } else if (rb.seq != b->seq) {
        snprintf(t->last_error, sizeof t->last_error, "batch seq %" PRIu64
                 ": receipt is for seq %" PRIu64, b->seq, rb.seq);
    } else {
        size_t off = 0;
        while (got < count && certa_receipt_batch_next(&rb, &off, rc)) {
            if (skipped < from) {
                skipped++;
                continue;
            }
            got++;
            t->ok += rc->result == CERTA_RESULT_OK;
            /* a comma before every element but the first */
            size_t comma = a->len > ANSWER_HEAD_ROOM;
            if (!gwp_answer_reserve(a, comma + CERTA_RECEIPT_LINE_BYTES_MAX))
                continue;
            size_t n = certa_receipt_line(rc, &t->rcpt, a->p + a->len + comma,
                                          a->cap - a->len - comma);
            if (n > 0) {
                if (comma)
                    a->p[a->len] = ',';
                a->len += comma + n;
                continue;
            }
            char *slow = certa_receipt_format_json(rc); /* a reason to escape */
            size_t sl = slow != NULL ? strlen(slow) : 0;
            if (slow != NULL && gwp_answer_reserve(a, comma + sl)) {
                if (comma)
                    a->p[a->len] = ',';
                memcpy(a->p + a->len + comma, slow, sl);
                a->len += comma + sl;
            }
            free(slow);
        }
        if (got < count)
            snprintf(t->last_error, sizeof t->last_error, "batch seq %" PRIu64
                     ": receipt covers %u of %u events", b->seq, skipped + got,
                     from + count);
    }
    certa_receipt_batch_free(&rb);
    t->not_committed += count - got;
}

static void tally_batch(const certa_gw_pipe_batch *b, certa_receipt *rc, answer *a, tally *t)
{
    gwp_tally_part(b, 0, b->events, rc, a, t);
}

/* ---- outcome files ----
 *
 * SEQ.json holds OUTCOME_MAGIC, the answer's head (its JSON object without
 * the receipts, one line), then each batch's receipt as the validators sent
 * it: seq (u64), events (u32), length (u32), little-endian, and the bytes.
 * The answer is rebuilt from it byte for byte (tally_batch, gwp_answer_finish).
 * The binary receipts are about a sixteenth of the answer's JSON (mostly
 * hex: 126 KB against 2 MB for 1,024 events), and copying the answer into
 * the page cache cost the gateway more CPU than any other step of a POST.
 * A file without the magic line (an older gateway's) holds the answer
 * itself and is served as it is. */
const char gwp_outcome_magic[] = GWP_OUTCOME_MAGIC;
#define OUTCOME_RECORD_HEAD 16u

/* Writes SEQ.json for head and bt's receipts, durably; false on failure
 * (errno set). */
static bool outcome_write(const certa_gw_post *p, const char *path, const char *head,
                          const built *bt)
{
    size_t hl = strlen(head), n = OUTCOME_MAGIC_LEN + hl + 1;
    for (uint32_t i = 0; i < bt->n; i++)
        if (bt->b[i].type == CERTA_CP_RECEIPT)
            n += OUTCOME_RECORD_HEAD + bt->b[i].body_len;
    uint8_t *f = malloc(n);
    if (f == NULL) {
        errno = ENOMEM;
        return false;
    }
    size_t at = 0;
    memcpy(f, gwp_outcome_magic, OUTCOME_MAGIC_LEN);
    at += OUTCOME_MAGIC_LEN;
    memcpy(f + at, head, hl);
    at += hl;
    f[at++] = '\n';
    for (uint32_t i = 0; i < bt->n; i++) {
        const certa_gw_pipe_batch *b = &bt->b[i];
        if (b->type != CERTA_CP_RECEIPT)
            continue; /* no receipt: nothing in the answer's array */
        certa_put_le64(f + at, b->seq);
        certa_put_le32(f + at + 8, b->events);
        certa_put_le32(f + at + 12, (uint32_t)b->body_len);
        memcpy(f + at + OUTCOME_RECORD_HEAD, b->body, b->body_len);
        at += OUTCOME_RECORD_HEAD + b->body_len;
    }
    CERTA_ASSERT(at == n);
    bool ok = gwp_write_durable(p, path, (const char *)f, n, "", 0);
    free(f);
    return ok;
}

/* r: the answer an outcome file's records rebuild under head (its line,
 * NUL-terminated; events and not_committed are its numbers), as
 * certa_gw_post_batches gave it, with status 200 (the status document).
 * 500 when the records are not whole or do not hold the receipts the head
 * counts. */
static void outcome_answer(const char *head, uint64_t events, uint64_t not_committed,
                           const uint8_t *rec, size_t len, certa_gw_reply *r)
{
    memset(r, 0, sizeof *r);
    certa_receipt *rc = malloc(sizeof *rc);
    tally *t = calloc(1, sizeof *t);
    answer a = {0};
    uint64_t receipts = 0; /* the events of the records less those without a receipt */
    bool ok = events <= CERTA_GW_EVENTS_MAX && not_committed <= events && rc != NULL &&
              t != NULL &&
              gwp_answer_reserve(&a, ANSWER_HEAD_ROOM + (size_t)events * ANSWER_RECEIPT_BYTES);
    a.len = ANSWER_HEAD_ROOM;
    size_t at = 0;
    while (ok && at < len) {
        if (len - at < OUTCOME_RECORD_HEAD) {
            ok = false;
            break;
        }
        certa_gw_pipe_batch b = {.type = CERTA_CP_RECEIPT,
                                 .seq = certa_get_le64(rec + at),
                                 .events = certa_get_le32(rec + at + 8),
                                 .body_len = certa_get_le32(rec + at + 12)};
        at += OUTCOME_RECORD_HEAD;
        if (b.body_len > len - at) {
            ok = false;
            break;
        }
        b.body = (uint8_t *)(uintptr_t)(rec + at); /* only read */
        at += b.body_len;
        receipts += b.events;
        tally_batch(&b, rc, &a, t);
    }
    ok = ok && t->not_committed <= receipts && receipts - t->not_committed ==
                                                   events - not_committed;
    free(rc);
    free(t);
    if (!ok) {
        free(a.p);
        gwp_reply_error(r, 500, CERTA_E_CORRUPT, "the batch's outcome file is damaged");
        return;
    }
    gwp_answer_finish(r, 200, head, &a);
}

char *gwp_answer_head(const certa_gw_post *p, uint64_t id, bool complete, const char *caller,
                      uint64_t seq_first, uint32_t batches, uint32_t events, uint64_t ok,
                      uint64_t not_committed, bool repeated, const char *error,
                      uint64_t aggregated_in)
{
    char ids[24], gid[24];
    snprintf(ids, sizeof ids, "%" PRIu64, id);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:b}", "id", ids,
                          "status", complete ? "committed" : "failed", "integrator",
                          p->o.integrator, "caller", caller, "seq_first", (json_int_t)seq_first,
                          "batches", (json_int_t)batches, "events", (json_int_t)events, "ok",
                          (json_int_t)ok, "not_committed", (json_int_t)not_committed,
                          "repeated", repeated);
    if (o != NULL && aggregated_in != 0) {
        snprintf(gid, sizeof gid, "%" PRIu64, aggregated_in);
        json_object_set_new(o, "aggregated_in", json_string(gid));
    }
    if (o != NULL && !complete)
        json_object_set_new(o, "error", json_string(error));
    char *head = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return head;
}

/* One POST submitted to its end through the shared pipe; its answer in r
 * and in SEQ.json. */
static void run_batch(certa_gw_post *p, const char *caller, uint64_t seq, uint32_t events,
                      bool again, const char *jsonl, const certa_event *evs, certa_gw_reply *r)
{
    memset(r, 0, sizeof *r);
    uint8_t *buf = malloc(CERTA_BATCH_BYTES_MAX);
    certa_receipt *rc = malloc(sizeof *rc);
    tally *s = calloc(1, sizeof *s);
    answer a = {0};
    if (buf == NULL || rc == NULL || s == NULL ||
        !gwp_answer_reserve(&a, ANSWER_HEAD_ROOM + (size_t)events * ANSWER_RECEIPT_BYTES)) {
        free(buf);
        free(rc);
        free(s);
        free(a.p);
        gwp_reply_error(r, 503, CERTA_E_NOMEM, "out of memory");
        r->retry_after_s = 1;
        return;
    }
    a.len = ANSWER_HEAD_ROOM;
    built bt = {0};
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e = build_batches(p, jsonl, evs, events, seq, buf, &bt, &ei);
    free(buf);
    if (e == CERTA_OK) {
        certa_gw_pipe_run(p->pipe, bt.b, bt.n);
        for (uint32_t i = 0; i < bt.n; i++)
            tally_batch(&bt.b[i], rc, &a, s);
    }
    uint32_t nbatches = bt.n;
    free(rc);
    bool complete = e == CERTA_OK && s->not_committed == 0 && nbatches > 0;
    char id[24];
    snprintf(id, sizeof id, "%" PRIu64, seq);
    char *head = gwp_answer_head(p, seq, complete, caller, seq, nbatches, events, s->ok,
                                 e != CERTA_OK ? events : s->not_committed, again,
                                 e != CERTA_OK ? certa_errmsg(&ei) : s->last_error, 0);
    free(s);
    gwp_answer_finish(r, complete ? 200 : 503, head, &a);
    if (!complete)
        r->retry_after_s = 1;
    if (r->body != NULL) {
        char path[4300], pending[4300];
        gwp_batch_path(p, seq, "json", path, sizeof path);
        gwp_batch_path(p, seq, "events", pending, sizeof pending);
        /* the outcome first, then the pending file goes: a crash between
         * the two leaves both, and the outcome is what is served */
        if (outcome_write(p, path, head, &bt)) {
            unlink(pending);
            pthread_mutex_lock(&p->mu);
            if (++p->outcomes > p->outcomes_max + p->outcomes_max / 8)
                gwp_outcomes_prune(p);
            pthread_mutex_unlock(&p->mu);
        } else
            fprintf(stderr, "certa gateway: %s: cannot write the outcome of batch %s: %s\n",
                    path, id, strerror(errno));
    }
    free(head);
    gwp_built_free(&bt);
}

typedef struct batch_job {
    certa_gw_post *p;
    group *g; /* a group to submit again (resume_pending), or NULL */
    char caller[CALLER_BYTES];
    uint64_t seq;
    uint32_t events;
    bool again;
    char *jsonl;
} batch_job;

static void *job_main(void *arg)
{
    batch_job *j = arg;
    if (j->g != NULL) {
        gwp_group_resume(j->p, j->g);
    } else {
        certa_gw_reply r;
        run_batch(j->p, j->caller, j->seq, j->events, j->again, j->jsonl, NULL, &r);
        free(r.body_alloc != NULL ? r.body_alloc : r.body);
    }
    certa_gw_post *p = j->p;
    free(j->jsonl);
    free(j);
    pthread_mutex_lock(&p->mu);
    p->jobs--;
    pthread_cond_broadcast(&p->jobs_done);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Starts j on its own thread (it frees j); false when it cannot. */
static bool job_start(certa_gw_post *p, batch_job *j)
{
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    pthread_mutex_lock(&p->mu);
    p->jobs++;
    pthread_mutex_unlock(&p->mu);
    bool ok = pthread_create(&t, &at, job_main, j) == 0;
    pthread_attr_destroy(&at);
    if (!ok) {
        pthread_mutex_lock(&p->mu);
        p->jobs--;
        pthread_mutex_unlock(&p->mu);
    }
    return ok;
}

/* The pending batches a stopped gateway left: each submitted again. The
 * groups first, whole: a POST of a group is never submitted alone. */
static void resume_pending(certa_gw_post *p)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/batches", p->o.state_dir);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    uint64_t *gseqs = NULL, *grouped = NULL;
    size_t ngrouped = 0;
    bool whole;
    size_t ng = gwp_batches_with(d, "group", &gseqs, &whole);
    if (!whole || !gwp_group_members(p, gseqs, ng, &grouped, &ngrouped)) {
        /* a POST of a group missed would be submitted alone */
        fprintf(stderr, "certa gateway: out of memory listing the groups: nothing pending "
                        "is submitted again until the next start\n");
        free(gseqs);
        closedir(d);
        return;
    }
    rewinddir(d);
    while ((de = readdir(d)) != NULL) {
        unsigned long long seq;
        char ext[16];
        if (sscanf(de->d_name, "%llu.%15s", &seq, ext) != 2)
            continue;
        if (strcmp(ext, "json") == 0) {
            pthread_mutex_lock(&p->mu); /* resumed batches count theirs */
            p->outcomes++;
            pthread_mutex_unlock(&p->mu);
        }
        bool in_group = false;
        for (size_t k = 0; k < ngrouped && !in_group; k++)
            in_group = grouped[k] == seq;
        if (strcmp(ext, "events") != 0 || in_group)
            continue;
        char path[4300], done[4300];
        gwp_batch_path(p, seq, "events", path, sizeof path);
        gwp_batch_path(p, seq, "json", done, sizeof done);
        if (access(done, F_OK) == 0) {
            unlink(path); /* a crash after the outcome was written */
            continue;
        }
        size_t len = 0;
        char *text = certa_read_file(path, 2 * CERTA_GW_BODY_BYTES_MAX + 4096, &len);
        char *nl = text != NULL ? strchr(text, '\n') : NULL;
        batch_job *j = calloc(1, sizeof *j);
        json_t *h = nl != NULL ? json_loadb(text, (size_t)(nl - text), 0, NULL) : NULL;
        const char *caller = NULL;
        json_int_t events = 0;
        if (j == NULL || h == NULL ||
            json_unpack(h, "{s:s, s:I}", "caller", &caller, "events", &events) != 0 ||
            events <= 0 || events > CERTA_GW_EVENTS_MAX || (j->jsonl = strdup(nl + 1)) == NULL) {
            fprintf(stderr, "certa gateway: %s: unreadable, batch %llu not resumed\n", path,
                    seq);
            json_decref(h);
            free(text);
            free(j);
            continue;
        }
        j->p = p;
        snprintf(j->caller, sizeof j->caller, "%s", caller);
        j->seq = seq;
        j->events = (uint32_t)events;
        j->again = true;
        json_decref(h);
        free(text);
        fprintf(stderr, "certa gateway: batch %llu was pending at the last stop: submitting "
                        "it again\n", seq);
        if (!job_start(p, j)) {
            free(j->jsonl);
            free(j);
        }
    }
    closedir(d);
    free(grouped);
    for (size_t i = 0; i < ng; i++) {
        pthread_mutex_lock(&p->mu);
        group *g = gwp_group_load(p, gseqs[i]);
        pthread_mutex_unlock(&p->mu);
        if (g == NULL)
            continue;
        fprintf(stderr, "certa gateway: group %" PRIu64 " (%" PRIu32 " POSTs) was pending at "
                        "the last stop: submitting it again\n", gseqs[i], gwp_group_posts(g));
        batch_job *j = calloc(1, sizeof *j);
        if (j != NULL)
            *j = (batch_job){.p = p, .g = g};
        if (j == NULL || !job_start(p, j)) {
            free(j);
            gwp_group_resume(p, g); /* here, then */
        }
    }
    free(gseqs);
}

/* certa_gw_post_batches with evs: room for CERTA_GW_EVENTS_MAX events, or
 * NULL (the batches are then built from the text, as for async and resumed
 * batches) */
static void post_batches(certa_gw_post *p, const char *caller, const char *idem_key, bool async,
                         const char *body, size_t len, certa_event *evs, certa_gw_reply *r)
{
    memset(r, 0, sizeof *r);
    if (idem_key != NULL && (idem_key[0] == '\0' || strlen(idem_key) > CERTA_GW_KEY_BYTES_MAX)) {
        gwp_reply_error(r, 400, CERTA_E_ARG, "Idempotency-Key: 1 to 128 bytes");
        return;
    }
    char msg[600];
    uint32_t events = 0;
    char *jsonl = normalize(p, body, len, &events, evs, msg, sizeof msg);
    if (jsonl == NULL) {
        gwp_reply_error(r, 400, CERTA_E_JSON, msg);
        return;
    }
    uint8_t body_h[CERTA_HASH_BYTES], id[CERTA_HASH_BYTES];
    certa_sha256(jsonl, strlen(jsonl), body_h);
    memset(id, 0, sizeof id);
    if (idem_key != NULL) {
        certa_sha256_ctx c;
        certa_sha256_init(&c);
        certa_sha256_update(&c, caller, strlen(caller) + 1);
        certa_sha256_update(&c, idem_key, strlen(idem_key));
        certa_sha256_final(&c, id);
    }
    /* the range: the key's own when seen before, else a fresh one */
    uint64_t seq = 0;
    bool again = false;
    int sync_fd = -1;
    pthread_mutex_lock(&p->mu);
    if (async && p->jobs >= CERTA_GW_ASYNC_MAX) {
        pthread_mutex_unlock(&p->mu);
        free(jsonl);
        gwp_reply_error(r, 429, CERTA_E_BUSY, "too many batches pending: retry after Retry-After "
                                          "seconds");
        r->retry_after_s = 1;
        return;
    }
    if (idem_key != NULL) {
        bool found;
        keyent *e = key_slot(p, id, &found);
        if (found) {
            if (memcmp(e->body, body_h, CERTA_HASH_BYTES) != 0) {
                pthread_mutex_unlock(&p->mu);
                free(jsonl);
                gwp_reply_error(r, 422, CERTA_E_ARG, "Idempotency-Key already used with "
                                                 "another body");
                return;
            }
            seq = e->seq;
            again = true;
        }
    }
    bool aggregate = !async && p->o.aggregate_us > 0 && evs != NULL &&
                     events <= CERTA_GW_BATCH_EVENTS;
    if (!again) {
        uint64_t now = gwp_wall_us();
        seq = p->next_seq > now ? p->next_seq : now;
        if ((sync_fd = gwp_journal_append(p, id, body_h, seq, events)) < 0) {
            pthread_mutex_unlock(&p->mu);
            free(jsonl);
            gwp_reply_error(r, 503, CERTA_E_IO, "the gateway cannot write its journal");
            r->retry_after_s = 5;
            return;
        }
        p->next_seq = seq + events;
        if (aggregate && p->njoining < GROUP_JOINING_MAX)
            p->joining[p->njoining++] = seq; /* before its key is known */
        else
            aggregate = false;
        if (idem_key != NULL)
            key_put(p, id, body_h, seq);
        /* after the table has this POST: the rewrite keeps it. A failed
         * compaction leaves the journal as it was, only longer. */
        if (p->journal_lines > p->journal_lines_max)
            (void)gwp_journal_compact(p);
    }
    pthread_mutex_unlock(&p->mu);
    if (again && gwp_group_retry(p, seq, r)) { /* it was in a group: never alone */
        free(jsonl);
        return;
    }
    if (sync_fd >= 0) {
        /* the reservation is durable before anything is sent */
        bool synced = fdatasync(sync_fd) == 0;
        close(sync_fd);
        if (!synced) {
            if (aggregate) {
                pthread_mutex_lock(&p->mu);
                gwp_joining_drop(p, seq);
                pthread_mutex_unlock(&p->mu);
            }
            free(jsonl);
            gwp_reply_error(r, 503, CERTA_E_IO, "the gateway cannot sync its journal");
            r->retry_after_s = 5;
            return;
        }
    }

    /* pending on disk before the first send: a stop in between resumes it */
    char head[CALLER_BYTES + 64], path[4300];
    int hl = snprintf(head, sizeof head, "{\"caller\":\"%s\",\"events\":%" PRIu32 "}\n",
                      caller, events);
    gwp_batch_path(p, seq, "events", path, sizeof path);
    if (hl <= 0 || !gwp_write_durable(p, path, head, (size_t)hl, jsonl, strlen(jsonl))) {
        if (aggregate) {
            pthread_mutex_lock(&p->mu);
            gwp_joining_drop(p, seq);
            pthread_mutex_unlock(&p->mu);
        }
        free(jsonl);
        gwp_reply_error(r, 503, CERTA_E_IO, "the gateway cannot write the batch to its state "
                                        "directory");
        r->retry_after_s = 5;
        return;
    }
    snprintf(r->location, sizeof r->location, "/v1/batches/%" PRIu64, seq);
    if (aggregate && !again && gwp_group_post(p, caller, seq, events, jsonl, evs, r))
        return; /* answered with its group; jsonl is the group's */
    if (!async) {
        run_batch(p, caller, seq, events, again, jsonl, evs, r);
        snprintf(r->location, sizeof r->location, "/v1/batches/%" PRIu64, seq);
        free(jsonl);
        return;
    }
    batch_job *j = calloc(1, sizeof *j);
    if (j != NULL) {
        *j = (batch_job){.p = p, .seq = seq, .events = events, .again = again, .jsonl = jsonl};
        snprintf(j->caller, sizeof j->caller, "%s", caller);
    }
    if (j == NULL || !job_start(p, j)) {
        /* the pending file stays: the next start submits it */
        free(j);
        free(jsonl);
        gwp_reply_error(r, 503, CERTA_E_NOMEM, "cannot start the batch now; its status URL will "
                                           "tell");
        r->retry_after_s = 1;
        return;
    }
    char ids[24];
    snprintf(ids, sizeof ids, "%" PRIu64, seq);
    reply_json(r, 202, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:b}", "id", ids, "status",
                                 "pending", "integrator", p->o.integrator, "caller", caller,
                                 "seq_first", (json_int_t)seq, "events", (json_int_t)events,
                                 "repeated", again));
    snprintf(r->location, sizeof r->location, "/v1/batches/%" PRIu64, seq);
}

void certa_gw_post_batches(certa_gw_post *p, const char *caller, const char *idem_key,
                           bool async, const char *body, size_t len, certa_gw_reply *r)
{
    /* a synchronous POST keeps its events as parsed for its batches */
    certa_event *evs = async ? NULL : malloc(CERTA_GW_EVENTS_MAX * sizeof *evs);
    post_batches(p, caller, idem_key, async, body, len, evs, r);
    free(evs);
}

void certa_gw_post_status(certa_gw_post *p, const char *caller, const char *id,
                          certa_gw_reply *r)
{
    memset(r, 0, sizeof *r);
    unsigned long long seq;
    if (certa_parse_u64(id, 1, UINT64_MAX, &seq) != 0) {
        gwp_reply_error(r, 400, CERTA_E_ARG, "batch id: a decimal number");
        return;
    }
    char path[4300];
    size_t len = 0;
    gwp_batch_path(p, seq, "json", path, sizeof path);
    /* an outcome holds the receipts of up to CERTA_GW_EVENTS_MAX events */
    char *doc = certa_read_file(path, 64u << 20, &len);
    bool pending = false;
    if (doc == NULL) {
        gwp_batch_path(p, seq, "events", path, sizeof path);
        doc = certa_read_file(path, 2 * CERTA_GW_BODY_BYTES_MAX + 4096, &len);
        pending = doc != NULL;
    }
    /* a batch is shown to the caller who posted it only; to others it does
     * not exist */
    json_t *head = NULL;
    const char *who = NULL;
    json_int_t events = 0;
    char *at = doc, *nl = NULL;
    bool compact = doc != NULL && !pending && len >= OUTCOME_MAGIC_LEN &&
                   memcmp(doc, gwp_outcome_magic, OUTCOME_MAGIC_LEN) == 0;
    if (compact) {
        at = doc + OUTCOME_MAGIC_LEN;
        nl = memchr(at, '\n', len - OUTCOME_MAGIC_LEN);
    } else if (doc != NULL) {
        nl = pending ? strchr(doc, '\n') : doc + len;
    }
    if (nl != NULL)
        head = json_loadb(at, (size_t)(nl - at), JSON_DISABLE_EOF_CHECK, NULL);
    if (head == NULL || json_unpack(head, "{s:s, s:I}", "caller", &who, "events", &events) != 0 ||
        strcmp(who, caller) != 0) {
        json_decref(head);
        free(doc);
        gwp_reply_error(r, 404, CERTA_E_NOTFOUND, "no such batch of this caller");
        return;
    }
    if (compact) {
        json_t *nc = json_object_get(head, "not_committed");
        json_int_t not_committed = json_is_integer(nc) ? json_integer_value(nc) : -1;
        json_decref(head);
        *nl = '\0';
        if (events < 0 || not_committed < 0) {
            free(doc);
            gwp_reply_error(r, 500, CERTA_E_CORRUPT, "the batch's outcome file is damaged");
            return;
        }
        outcome_answer(at, (uint64_t)events, (uint64_t)not_committed, (const uint8_t *)nl + 1,
                       len - (size_t)(nl + 1 - doc), r);
        free(doc);
        return;
    }
    if (!pending) {
        json_decref(head);
        r->status = 200;
        r->body = doc;
        r->len = len;
        return;
    }
    char ids[24];
    snprintf(ids, sizeof ids, "%llu", seq);
    reply_json(r, 200, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "id", ids, "status",
                                 "pending", "integrator", p->o.integrator, "caller", who,
                                 "seq_first", (json_int_t)seq, "events", events));
    json_decref(head);
    free(doc);
}
