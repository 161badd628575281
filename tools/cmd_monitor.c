/* certa monitor: follows a gateway's (or any server's) published event log
 * (docs/PROTOCOL.md "Tiles") as an auditor's monitor does: each poll
 * fetches /checkpoint, checks it is this chain's and signed by 2f+1 genesis
 * validators, then fetches the entry bundles of every event added since
 * the last checkpoint it verified, checks that each leaf is a well-formed
 * event, and recomputes the log's root from the compact range it kept plus
 * those leaves. So every event is checked for inclusion, and each
 * checkpoint is proven an extension of the one before, without trusting
 * the server for either.
 *
 * What it reports (exit 1, the evidence written to the state directory):
 * a split view (a checkpoint of a size already verified with another root:
 * two quorum-signed histories), a rollback (a smaller checkpoint than one
 * already verified) and a rewritten history (leaves that do not lead from
 * the verified root to the new one). Invariant: the state (last verified
 * checkpoint, size, compact range) is replaced only after a checkpoint
 * verified, by a whole-file rename, so a crash never leaves it between two
 * checkpoints.
 *
 * With --receipts FILE it also checks the receipts it is given against
 * the log: each must verify offline (certa_receipt_verify: its block's
 * certificate, its inclusion, and with a result proof the result), and its
 * event must be in the log with its whole block where the log has it: the
 * leaves around it (leaf_index before, event_count in all) must have the
 * certified header's events_root. The first poll of a run then reads the
 * log from its start (rebuilding the compact range, which must give the
 * root verified before at the old size); later polls read new events
 * only. A receipt that fails, or whose event is not in the log by the end
 * of a --once poll, is reported (exit 1). Memory: about 130 bytes per
 * receipt and a ring of the last RING_LEAVES leaf hashes. */
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certa/certa.h"
#include "certa/codec.h"
#include "certa/genesis.h"
#include "certa/merkle.h"
#include "certa/receipt.h"
#include "checkpoint_note.h"
#include "cli.h"
#include "endpoints.h"

#define CMD "monitor"
#define NOTE_BYTES_MAX 65536
#define TILE_W 256u
#define BUNDLE_BYTES_MAX (TILE_W * (2u + CERTA_LEAF_PREFIX_BYTES + CERTA_EVENT_BYTES_MAX))
#define STATE_MAGIC "certa-monitor 1\n"
#define RECEIPTS_MAX 10000000u
#define RING_LEAVES (1u << 17) /* leaf hashes kept: a block's whole range */

/* A receipt given, reduced to what the log is checked against. */
typedef struct mreceipt {
    uint8_t leaf[CERTA_HASH_BYTES];        /* its event's leaf hash */
    uint8_t events_root[CERTA_HASH_BYTES]; /* its certified block's */
    uint64_t height, leaf_index, event_count;
    uint64_t found;  /* log index of its block's first event, once matched */
    uint64_t cand;   /* a candidate occurrence waiting for its block's end */
    uint32_t line;
    bool result_proven, matched, has_cand;
} mreceipt;

static const char usage[] =
    "usage: certa monitor --url URL --genesis FILE --state DIR [--once] [--interval-s S]\n"
    "                     [--witness VKEY]... [--witnesses-min K] [--receipts FILE]\n\n"
    "Follows the event log a gateway serves (certa gateway --tiles; any server of\n"
    "the C2SP tlog-tiles layout will do) and checks it without trusting the server:\n"
    "each poll fetches URL/checkpoint, which must be this chain's and signed by\n"
    "2f+1 genesis validators, then every event added since the last checkpoint\n"
    "verified (URL/tile/entries/...): each must decode as an event, and together\n"
    "with the log kept in DIR they must give the checkpoint's root. The first\n"
    "poll reads the whole log.\n\n"
    "Reports, exits 1 and writes DIR/evidence-*.txt on:\n"
    "  split view      a checkpoint of a size already verified, with another root\n"
    "  rollback        a checkpoint smaller than one already verified\n"
    "  rewritten       events that do not extend the verified log to the new root\n"
    "  bad checkpoint  another chain's origin, too few or bad signatures, or\n"
    "                  fewer than K witnesses' cosignatures\n\n"
    "Options:\n"
    "  --url URL         the server's base URL (http:// or https://)\n"
    "  --genesis FILE    the chain's genesis ($CERTA_GENESIS, else ./genesis.json)\n"
    "  --state DIR       where the last verified checkpoint and the log's compact\n"
    "                    range are kept (created if missing)\n"
    "  --once            one poll, then exit: 0 consistent, 1 a fault found, 3 the\n"
    "                    server could not be read\n"
    "  --interval-s S    seconds between polls (default 60); a server that cannot\n"
    "                    be read is tried again at the next poll\n"
    "  --witness VKEY    a witness's verifier key, as `certa witness serve` prints\n"
    "                    it (NAME+KEYID+base64); up to 8\n"
    "  --witnesses-min K checkpoints must carry valid cosignatures (C2SP\n"
    "                    cosignature/v1) of at least K of those witnesses\n"
    "                    (default: all of them)\n"
    "  --receipts FILE   receipts (JSON lines, as certa submit --receipts writes):\n"
    "                    each must verify offline (with a result proof, its result\n"
    "                    too) and its event be in the log inside its certified\n"
    "                    block (the leaves around it give the block's events_root);\n"
    "                    the run's first poll then reads the whole log. Reports\n"
    "                    bad-receipt, and with --once missing (exit 1) for an event\n"
    "                    not in the log\n";

#define WITNESSES_MAX 8

typedef struct monitor {
    const char *url, *dir;
    const char *witnesses[WITNESSES_MAX];
    unsigned nwitnesses, witnesses_min;
    certa_genesis *g;
    CURL *curl;
    /* receipts given (--receipts), sorted by leaf hash */
    mreceipt *rc;
    size_t nrc;
    size_t *pend; /* [nrc]: receipts with a candidate waiting for its block's end */
    size_t npend;
    bool rescan;      /* read the log from its start at the next poll */
    uint8_t (*ring)[CERTA_HASH_BYTES]; /* [RING_LEAVES]: leaf i at i % RING_LEAVES */
    /* verified state */
    certa_merkle_frontier f;
    bool have_cp;
    certa_note cp;
    char cp_text[NOTE_BYTES_MAX];
    size_t cp_len;
} monitor;

typedef struct buf {
    char *p;
    size_t len, max;
    bool over;
} buf;

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    buf *b = ctx;
    size_t k = size * n;
    if (b->len + k > b->max) {
        b->over = true;
        return 0;
    }
    memcpy(b->p + b->len, data, k);
    b->len += k;
    return k;
}

/* GET base/path into out (at most max bytes). 0 on a 200 with the body,
 * else -1 with err naming the path and the fault. */
static int get(monitor *m, const char *path, char *out, size_t max, size_t *len, char *err,
               size_t err_len)
{
    char url[2048];
    snprintf(url, sizeof url, "%s/%s", m->url, path);
    buf b = {.p = out, .max = max};
    curl_easy_setopt(m->curl, CURLOPT_URL, url);
    curl_easy_setopt(m->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(m->curl, CURLOPT_WRITEDATA, &b);
    CURLcode cc = curl_easy_perform(m->curl);
    long status = 0;
    curl_easy_getinfo(m->curl, CURLINFO_RESPONSE_CODE, &status);
    if (b.over) {
        snprintf(err, err_len, "GET %s: over %zu bytes", url, max);
        return -1;
    }
    if (cc != CURLE_OK) {
        snprintf(err, err_len, "GET %s: %s", url, curl_easy_strerror(cc));
        return -1;
    }
    if (status != 200) {
        snprintf(err, err_len, "GET %s: HTTP status %ld", url, status);
        return -1;
    }
    *len = b.len;
    return 0;
}

static bool write_whole(const char *path, const void *a, size_t alen, const void *b, size_t blen)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (f == NULL)
        return false;
    bool ok = fwrite(a, 1, alen, f) == alen && (blen == 0 || fwrite(b, 1, blen, f) == blen);
    ok = fflush(f) == 0 && ok && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    return ok && rename(tmp, path) == 0;
}

static bool load_state(monitor *m, char *err, size_t err_len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/monitor.state", m->dir);
    size_t len = 0;
    char *s = certa_read_file(path, sizeof STATE_MAGIC + sizeof m->f + NOTE_BYTES_MAX, &len);
    if (s == NULL) {
        if (errno == ENOENT)
            return true; /* the first poll */
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return false;
    }
    size_t head = sizeof STATE_MAGIC - 1;
    bool ok = len > head + sizeof m->f && memcmp(s, STATE_MAGIC, head) == 0;
    if (ok) {
        memcpy(&m->f, s + head, sizeof m->f);
        m->cp_len = len - head - sizeof m->f;
        memcpy(m->cp_text, s + head + sizeof m->f, m->cp_len);
        char why[256];
        ok = certa_note_parse(m->cp_text, m->cp_len, &m->cp, why, sizeof why) &&
             m->cp.size == m->f.size;
    }
    free(s);
    if (!ok) {
        snprintf(err, err_len, "%s: not a monitor state file (remove it to verify the "
                 "whole log again)", path);
        return false;
    }
    m->have_cp = true;
    return true;
}

static bool save_state(monitor *m, const certa_merkle_frontier *f, const char *text, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/monitor.state", m->dir);
    static uint8_t blob[sizeof STATE_MAGIC + sizeof *f];
    memcpy(blob, STATE_MAGIC, sizeof STATE_MAGIC - 1);
    memcpy(blob + sizeof STATE_MAGIC - 1, f, sizeof *f);
    return write_whole(path, blob, sizeof STATE_MAGIC - 1 + sizeof *f, text, len);
}

/* Writes both notes to DIR/evidence-KIND-TIME.txt and prints the report. */
static int report(monitor *m, const char *kind, const char *text, size_t len, const char *fmt,
                  ...) __attribute__((format(printf, 5, 6)));
static int report(monitor *m, const char *kind, const char *text, size_t len, const char *fmt,
                  ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char path[1100];
    snprintf(path, sizeof path, "%s/evidence-%s-%llu.txt", m->dir, kind,
             (unsigned long long)time(NULL));
    char head[1400];
    int hn = snprintf(head, sizeof head, "%s\n\n--- verified before (%zu bytes):\n", msg,
                      m->cp_len);
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        fwrite(head, 1, (size_t)hn, f);
        fwrite(m->cp_text, 1, m->cp_len, f);
        fprintf(f, "\n--- served now by %s (%zu bytes):\n", m->url, len);
        fwrite(text, 1, len, f);
        fclose(f);
    }
    printf("monitor: %s: %s (evidence: %s)\n", kind, msg, f != NULL ? path : "not written");
    fflush(stdout);
    return CERTA_EXIT_FAIL;
}

/* ---- receipts ---- */

static int cmp_leaf(const void *a, const void *b)
{
    return memcmp(((const mreceipt *)a)->leaf, ((const mreceipt *)b)->leaf, CERTA_HASH_BYTES);
}

/* Reads, verifies and reduces the receipts file. CERTA_EXIT_OK, or
 * CERTA_EXIT_FAIL (a receipt does not verify: printed, naming its line and
 * the part) or CERTA_EXIT_ERROR (err: unreadable, not JSON, too many). */
static int load_receipts(monitor *m, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, err_len, "--receipts %s: %s", path, strerror(errno));
        return CERTA_EXIT_ERROR;
    }
    size_t cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t ll;
    uint32_t no = 0;
    int rc = CERTA_EXIT_OK;
    static certa_receipt r;
    while (rc == CERTA_EXIT_OK && (ll = getline(&line, &lcap, f)) > 0) {
        no++;
        if (ll == 1 && line[0] == '\n')
            continue;
        certa_errinfo ei;
        certa_errinfo_clear(&ei);
        if (certa_receipt_parse_json(line, (size_t)ll, &r, &ei) != CERTA_OK) {
            snprintf(err, err_len, "--receipts %s: line %u: %s", path, no, certa_errmsg(&ei));
            rc = CERTA_EXIT_ERROR;
            break;
        }
        if (certa_receipt_verify(&r, m->g, false, &ei) != CERTA_OK) {
            printf("monitor: bad-receipt: %s line %u does not verify: %s\n", path, no,
                   certa_errmsg(&ei));
            rc = CERTA_EXIT_FAIL;
            break;
        }
        if (m->nrc == RECEIPTS_MAX) {
            snprintf(err, err_len, "--receipts %s: more than %u receipts", path, RECEIPTS_MAX);
            rc = CERTA_EXIT_ERROR;
            break;
        }
        if (m->nrc == cap) {
            cap = cap ? 2 * cap : 1024;
            mreceipt *n = realloc(m->rc, cap * sizeof *n);
            if (n == NULL) {
                snprintf(err, err_len, "--receipts %s: out of memory", path);
                rc = CERTA_EXIT_ERROR;
                break;
            }
            m->rc = n;
        }
        certa_block_header h;
        certa_err he = certa_header_decode(r.header, sizeof r.header, &h, &ei);
        CERTA_ASSERT(he == CERTA_OK); /* verified above */
        uint8_t leaf[CERTA_LEAF_PREFIX_BYTES + CERTA_EVENT_BYTES_MAX];
        size_t n = certa_leaf_encode(r.integrator, r.seq, r.event, r.event_len, leaf,
                                     sizeof leaf);
        CERTA_ASSERT(n > 0);
        mreceipt *x = &m->rc[m->nrc++];
        memset(x, 0, sizeof *x);
        certa_merkle_leaf_hash(leaf, n, x->leaf);
        memcpy(x->events_root, h.events_root, CERTA_HASH_BYTES);
        x->height = h.height;
        x->leaf_index = r.leaf_index;
        x->event_count = h.event_count;
        x->line = no;
        x->result_proven = r.has_result_proof;
    }
    free(line);
    fclose(f);
    if (rc == CERTA_EXIT_OK && m->nrc > 0) {
        qsort(m->rc, m->nrc, sizeof *m->rc, cmp_leaf);
        if ((m->pend = malloc(m->nrc * sizeof *m->pend)) == NULL) {
            snprintf(err, err_len, "--receipts %s: out of memory", path);
            rc = CERTA_EXIT_ERROR;
        }
    }
    return rc;
}

/* Leaf gi (hash h) of the log was read: a receipt of this event becomes a
 * candidate, checked once its block's last leaf is in the ring. */
static void receipts_see(monitor *m, uint64_t gi, const uint8_t h[CERTA_HASH_BYTES])
{
    memcpy(m->ring[gi % RING_LEAVES], h, CERTA_HASH_BYTES);
    if (m->nrc == 0)
        return;
    mreceipt key;
    memcpy(key.leaf, h, CERTA_HASH_BYTES);
    mreceipt *x = bsearch(&key, m->rc, m->nrc, sizeof *m->rc, cmp_leaf);
    if (x == NULL)
        return;
    while (x > m->rc && memcmp(x[-1].leaf, h, CERTA_HASH_BYTES) == 0)
        x--;
    for (; x < m->rc + m->nrc && memcmp(x->leaf, h, CERTA_HASH_BYTES) == 0; x++)
        if (!x->matched && !x->has_cand && x->leaf_index <= gi &&
            x->event_count <= RING_LEAVES - TILE_W) {
            x->cand = gi - x->leaf_index;
            x->has_cand = true;
            CERTA_ASSERT(m->npend < m->nrc);
            m->pend[m->npend++] = (size_t)(x - m->rc);
        }
}

/* After leaves [0, seen) were read: every candidate whose block ended is
 * checked against its certified events_root (a miss leaves the receipt for
 * a later occurrence: a batch replayed later repeats its events). */
static void receipts_settle(monitor *m, uint64_t seen)
{
    static uint8_t range[RING_LEAVES][CERTA_HASH_BYTES];
    size_t kept = 0;
    for (size_t p = 0; p < m->npend; p++) {
        mreceipt *x = &m->rc[m->pend[p]];
        CERTA_ASSERT(x->has_cand);
        if (x->cand + x->event_count > seen) {
            m->pend[kept++] = m->pend[p]; /* its block has not ended yet */
            continue;
        }
        x->has_cand = false;
        /* settled after every bundle, so the block is still in the ring */
        CERTA_ASSERT(x->cand + RING_LEAVES >= seen);
        for (uint64_t k = 0; k < x->event_count; k++)
            memcpy(range[k], m->ring[(x->cand + k) % RING_LEAVES], CERTA_HASH_BYTES);
        uint8_t root[CERTA_HASH_BYTES];
        certa_errinfo ei;
        if (certa_merkle_root_hashes(NULL, &range[0][0], x->event_count, root, &ei) ==
                CERTA_OK &&
            memcmp(root, x->events_root, CERTA_HASH_BYTES) == 0) {
            x->matched = true;
            x->found = x->cand;
        }
    }
    m->npend = kept;
}

/* The receipts' standing after a poll; with once, receipts whose events
 * are not in the log are a fault. */
static int receipts_report(monitor *m, bool once, const char *text, size_t len)
{
    size_t in = 0, proven = 0;
    const mreceipt *missing = NULL;
    for (size_t i = 0; i < m->nrc; i++) {
        in += m->rc[i].matched;
        proven += m->rc[i].matched && m->rc[i].result_proven;
        if (!m->rc[i].matched && (missing == NULL || m->rc[i].line < missing->line))
            missing = &m->rc[i];
    }
    printf("monitor: receipts: %zu given, %zu in the log with their blocks, %zu of them "
           "with results proven by a quorum (version 2), %zu not in the log\n", m->nrc, in,
           proven, m->nrc - in);
    fflush(stdout);
    if (once && missing != NULL)
        return report(m, "missing", text, len,
                      "%zu receipted event(s) are not in the log of size %llu with their "
                      "certified blocks (the first: line %u, block %llu, event %llu)",
                      m->nrc - in, (unsigned long long)m->f.size, missing->line,
                      (unsigned long long)missing->height,
                      (unsigned long long)missing->leaf_index);
    return CERTA_EXIT_OK;
}

/* One poll. CERTA_EXIT_OK, CERTA_EXIT_FAIL (a fault, reported) or
 * CERTA_EXIT_ERROR (the server could not be read; err says why). */
static int poll_once(monitor *m, bool once, char *err, size_t err_len)
{
    static char text[NOTE_BYTES_MAX];
    static certa_note n;
    size_t len = 0;
    if (get(m, "checkpoint", text, sizeof text - 1, &len, err, err_len) != 0)
        return CERTA_EXIT_ERROR;
    char why[512];
    if (!certa_note_parse(text, len, &n, why, sizeof why))
        return report(m, "bad-checkpoint", text, len, "the checkpoint does not parse: %s", why);
    uint32_t good = 0;
    if (!certa_note_quorum(m->g, &n, &good, NULL, why, sizeof why))
        return report(m, "bad-checkpoint", text, len, "checkpoint of size %llu: %s",
                      (unsigned long long)n.size, why);
    unsigned cosigned = 0;
    char wwhy[512] = "";
    for (unsigned i = 0; i < m->nwitnesses; i++)
        cosigned += certa_cosig_check(m->witnesses[i], &n, wwhy, sizeof wwhy);
    if (cosigned < m->witnesses_min)
        return report(m, "bad-checkpoint", text, len,
                      "checkpoint of size %llu: cosigned by %u of the %u witnesses, %u "
                      "required (%s)", (unsigned long long)n.size, cosigned, m->nwitnesses,
                      m->witnesses_min, wwhy);
    uint64_t old = m->f.size;
    if (m->have_cp && n.size < old)
        return report(m, "rollback", text, len,
                      "the log shrank: size %llu served, %llu verified before",
                      (unsigned long long)n.size, (unsigned long long)old);
    if (m->have_cp && n.size == old) {
        if (memcmp(n.root, m->cp.root, sizeof n.root) != 0)
            return report(m, "split-view", text, len,
                          "two checkpoints of size %llu, both signed by a quorum, with "
                          "different roots", (unsigned long long)old);
        if (!m->rescan) {
            printf("monitor: %s size %llu: unchanged, %u signatures\n", n.origin,
                   (unsigned long long)old, good);
            fflush(stdout);
            return m->nrc > 0 ? receipts_report(m, once, text, len) : CERTA_EXIT_OK;
        }
    }
    /* the new leaves (with receipts, at a run's first poll, all of them),
     * bundle by bundle, onto a copy of the compact range */
    static certa_merkle_frontier f;
    uint64_t from = m->rescan ? 0 : old;
    if (m->rescan)
        certa_merkle_frontier_init(&f);
    else
        f = m->f;
    static char bundle[BUNDLE_BYTES_MAX];
    uint64_t bad_events = 0, next_progress = from + 1000000;
    for (uint64_t b = from / TILE_W; b * TILE_W < n.size; b++) {
        uint64_t w = n.size - b * TILE_W < TILE_W ? n.size - b * TILE_W : TILE_W;
        char idx[64], path[128];
        certa_tile_index_path(b, idx, sizeof idx);
        if (w == TILE_W)
            snprintf(path, sizeof path, "tile/entries/%s", idx);
        else
            snprintf(path, sizeof path, "tile/entries/%s.p/%llu", idx, (unsigned long long)w);
        size_t blen = 0;
        if (get(m, path, bundle, sizeof bundle, &blen, err, err_len) != 0)
            return CERTA_EXIT_ERROR;
        size_t pos = 0;
        for (uint64_t i = 0; i < w; i++) {
            const uint8_t *leaf;
            size_t l;
            if (!certa_bundle_next((const uint8_t *)bundle, blen, &pos, &leaf, &l))
                return report(m, "rewritten", text, len, "%s: leaf %llu %s", path,
                              (unsigned long long)(b * TILE_W + i),
                              pos == blen ? "missing" : "truncated");
            if (b * TILE_W + i < from)
                continue; /* verified by an earlier poll */
            certa_event ev;
            certa_errinfo ei;
            certa_errinfo_clear(&ei);
            if (l < CERTA_LEAF_PREFIX_BYTES ||
                certa_event_decode(leaf + CERTA_LEAF_PREFIX_BYTES, l - CERTA_LEAF_PREFIX_BYTES,
                                   &ev, &ei) != CERTA_OK) {
                if (bad_events++ == 0)
                    fprintf(stderr, "certa monitor: leaf %llu is not an event: %s\n",
                            (unsigned long long)(b * TILE_W + i), certa_errmsg(&ei));
            }
            uint8_t h[CERTA_HASH_BYTES];
            certa_merkle_leaf_hash(leaf, l, h);
            certa_merkle_frontier_append(&f, h, 1);
            if (m->nrc > 0)
                receipts_see(m, f.size - 1, h);
            if (m->rescan && m->have_cp && f.size == old) {
                uint8_t was[CERTA_HASH_BYTES], now[CERTA_HASH_BYTES];
                certa_merkle_frontier_root(&m->f, was);
                certa_merkle_frontier_root(&f, now);
                if (memcmp(was, now, sizeof was) != 0)
                    return report(m, "rewritten", text, len,
                                  "the first %llu events served now do not give the root "
                                  "verified before at that size: history rewritten",
                                  (unsigned long long)old);
            }
        }
        if (m->nrc > 0)
            receipts_settle(m, f.size);
        if (pos != blen)
            return report(m, "rewritten", text, len, "%s: %zu bytes after its %llu leaves", path,
                          blen - pos, (unsigned long long)w);
        if (f.size >= next_progress) {
            fprintf(stderr, "certa monitor: %llu of %llu events verified\n",
                    (unsigned long long)f.size, (unsigned long long)n.size);
            next_progress += 1000000;
        }
    }
    uint8_t root[CERTA_HASH_BYTES];
    certa_merkle_frontier_root(&f, root);
    if (memcmp(root, n.root, sizeof root) != 0)
        return report(m, "rewritten", text, len,
                      "the %llu events served do not extend the log of size %llu verified "
                      "before to the checkpoint's root at size %llu: history rewritten, or "
                      "tiles that are not the checkpoint's",
                      (unsigned long long)(n.size - old), (unsigned long long)old,
                      (unsigned long long)n.size);
    if (bad_events > 0)
        return report(m, "bad-event", text, len, "%llu leaves of the log are not events",
                      (unsigned long long)bad_events);
    if (!save_state(m, &f, text, len)) {
        snprintf(err, err_len, "%s/monitor.state: %s", m->dir, strerror(errno));
        return CERTA_EXIT_ERROR;
    }
    m->f = f;
    memcpy(m->cp_text, text, len);
    m->cp_len = len;
    m->cp = n;
    m->have_cp = true;
    m->rescan = false;
    printf("monitor: %s size %llu -> %llu: %llu new events verified, consistent, "
           "%u signatures\n", n.origin, (unsigned long long)old, (unsigned long long)n.size,
           (unsigned long long)(n.size - old), good);
    fflush(stdout);
    return m->nrc > 0 ? receipts_report(m, once, text, len) : CERTA_EXIT_OK;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int certa_cmd_monitor(int argc, char **argv)
{
    if (certa_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CERTA_EXIT_OK;
    }
    const char *url = NULL, *gpath = NULL, *dir = NULL, *receipts = NULL;
    bool once = false;
    unsigned long long interval_s = 60, wmin = ULLONG_MAX;
    const char *witnesses[WITNESSES_MAX];
    unsigned nw = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(o, "--url") == 0 && has)
            url = argv[++i];
        else if (strcmp(o, "--genesis") == 0 && has)
            gpath = argv[++i];
        else if (strcmp(o, "--state") == 0 && has)
            dir = argv[++i];
        else if (strcmp(o, "--receipts") == 0 && has)
            receipts = argv[++i];
        else if (strcmp(o, "--witness") == 0 && has) {
            if (nw == WITNESSES_MAX)
                return certa_usage_error(CMD, "--witness: at most %d", WITNESSES_MAX);
            witnesses[nw++] = argv[++i];
        } else if (strcmp(o, "--witnesses-min") == 0 && has) {
            if (certa_parse_u64(argv[++i], 0, WITNESSES_MAX, &wmin) != 0)
                return certa_usage_error(CMD, "--witnesses-min: 0 to %d", WITNESSES_MAX);
        } else if (strcmp(o, "--once") == 0)
            once = true;
        else if (strcmp(o, "--interval-s") == 0 && has) {
            if (certa_parse_u64(argv[++i], 1, 86400, &interval_s) != 0)
                return certa_usage_error(CMD, "--interval-s: 1 to 86400");
        } else
            return certa_usage_error(CMD, "unexpected argument '%s' (see --help)", o);
    }
    if (url == NULL || dir == NULL)
        return certa_usage_error(CMD, "needs --url URL and --state DIR (see --help)");
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return certa_usage_error(CMD, "--url: expected http:// or https://, got '%s'", url);
    if (strlen(url) > 1024 || strlen(dir) > 900)
        return certa_usage_error(CMD, "--url or --state: too long");
    if (wmin != ULLONG_MAX && wmin > nw)
        return certa_usage_error(CMD, "--witnesses-min %llu: only %u --witness given", wmin, nw);
    static monitor m;
    memset(&m, 0, sizeof m);
    memcpy(m.witnesses, witnesses, nw * sizeof witnesses[0]);
    m.nwitnesses = nw;
    m.witnesses_min = wmin == ULLONG_MAX ? nw : (unsigned)wmin;
    for (unsigned i = 0; i < nw; i++) {
        static certa_note none;
        char why[512];
        if (!certa_cosig_check(witnesses[i], &none, why, sizeof why) &&
            strncmp(why, "witness key", 11) == 0)
            return certa_usage_error(CMD, "--witness: %s", why);
    }
    m.url = url;
    m.dir = dir;
    certa_merkle_frontier_init(&m.f);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (certa_genesis_load(certa_tool_genesis_path(gpath), &m.g, &ei) != CERTA_OK)
        return certa_fail(CMD, "%s", certa_errmsg(&ei));
    char err[2400] = "";
    int rc = CERTA_EXIT_OK;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        rc = certa_fail(CMD, "%s: %s", dir, strerror(errno));
        goto out;
    }
    if (!load_state(&m, err, sizeof err)) {
        rc = certa_fail(CMD, "%s", err);
        goto out;
    }
    if (receipts != NULL) {
        m.ring = malloc((size_t)RING_LEAVES * sizeof *m.ring);
        if (m.ring == NULL) {
            rc = certa_fail(CMD, "out of memory");
            goto out;
        }
        rc = load_receipts(&m, receipts, err, sizeof err);
        if (rc == CERTA_EXIT_ERROR)
            rc = certa_fail(CMD, "%s", err);
        if (rc != CERTA_EXIT_OK)
            goto out;
        m.rescan = true;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || (m.curl = curl_easy_init()) == NULL) {
        rc = certa_fail(CMD, "cannot start the HTTP client");
        goto out;
    }
    curl_easy_setopt(m.curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(m.curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(m.curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(m.curl, CURLOPT_USERAGENT, "certa-monitor");
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    for (;;) {
        err[0] = '\0';
        rc = poll_once(&m, once, err, sizeof err);
        if (rc == CERTA_EXIT_ERROR)
            fprintf(stderr, "certa monitor: %s%s\n", err, once ? "" : " (trying again)");
        if (once || rc == CERTA_EXIT_FAIL)
            break;
        for (unsigned long long s = 0; s < interval_s && !stop; s++)
            sleep(1);
        if (stop) {
            rc = CERTA_EXIT_OK;
            break;
        }
    }
out:
    if (m.curl != NULL)
        curl_easy_cleanup(m.curl);
    free(m.rc);
    free(m.pend);
    free(m.ring);
    certa_genesis_free(m.g);
    return rc;
}
