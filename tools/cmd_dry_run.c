/* certa dry-run: applies a JSON Lines file of events through the licence
 * rules on one local node, without consensus, and prints one result line per
 * event line. Ticks close blocks and set the next block's time. With --data
 * the blocks go to a block log (unsigned batches: nobody signs in a dry run;
 * replay does not check signatures, the door does) with state snapshots at
 * checkpoint heights, so that `certa query ... --data DIR` can answer.
 *
 * The results printed are the results the state machine records: the events
 * are applied as they are read, in the order replay will apply the written
 * blocks (same integrator per event, same block boundaries, same times).
 */
#include <errno.h>
#include <jansson.h> /* the tool's own JSON output */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "certa/codec.h"
#include "certa/event_json.h"
#include "certa/genesis.h"
#include "certa/merkle.h"
#include "certa/state.h"
#include "certa/store.h"
#include "certa/wire.h"
#include "cli.h"

static const char usage[] =
    "usage: certa dry-run --genesis FILE [--data DIR] [--as NAME] EVENTS.jsonl\n\n"
    "Applies events through the licence rules on one local node, without\n"
    "consensus, and prints one JSON line per event line:\n"
    "  {\"line\":N,\"result\":\"ok\"}\n"
    "  {\"line\":N,\"result\":\"rejected\",\"reason\":\"...\"}\n"
    "EVENTS.jsonl holds one event per line (\"-\" reads standard input); each\n"
    "names its submitter with \"integrator\": NAME (a genesis integrator).\n"
    "A line {\"kind\":\"tick\",\"time_ms\":T} closes the current block; T is the\n"
    "next block's time (\"now\" for the rules) and never goes back.\n\n"
    "  --genesis FILE  the chain's genesis.json\n"
    "  --data DIR      write blocks to DIR/blocks and snapshots to DIR/snapshots\n"
    "                  (continues the chain already in DIR); then\n"
    "                  'certa query holder|grant HEX --data DIR' answers offline\n"
    "  --as NAME       submitting integrator for lines that name none\n\n"
    "A line that is not a valid event (bad JSON or field, over 65536 bytes, no\n"
    "integrator and no --as) is reported \"malformed\" and the run goes on.\n\n"
    "exit: 0 all accepted, 1 some rejected, 2 usage, 3 error (unreadable input,\n"
    "time going back, unknown integrator, I/O).\n";

#define CMD "dry-run"
#define SNAPSHOTS_KEPT 2u

typedef struct dry {
    const certa_genesis *g;
    certa_state *s;
    uint64_t next_time_ms; /* time of the next block to open */
    bool in_block;
    uint32_t block_events;
    uint64_t ok, rejected, malformed_lines;

    /* --data */
    certa_store *store;
    char snap_dir[4096];
    uint8_t prev_hash[CERTA_HASH_BYTES];
    uint8_t prev_results_root[CERTA_HASH_BYTES]; /* of the block before the open one */
    uint8_t checkpoint_digest[CERTA_HASH_BYTES];
    uint64_t checkpoint_height;
    uint8_t *block;
    size_t block_len, block_cap;
    uint32_t block_batches;
    uint8_t *leaf_hashes;
    size_t leaf_cap; /* in leaves */
    uint8_t *batch_buf;
    certa_batch_builder bb;
    bool batch_open;
    uint16_t batch_integrator;
    uint64_t batch_seq; /* seq of the open batch */
} dry;

static int fail_ei(const certa_errinfo *ei) { return certa_fail(CMD, "%s", certa_errmsg(ei)); }

static void open_block(dry *d)
{
    if (d->in_block)
        return;
    certa_errinfo ei;
    certa_err e = certa_state_begin_block(d->s, certa_state_height(d->s) + 1,
                                          d->next_time_ms, &ei);
    CERTA_ASSERT(e == CERTA_OK); /* ticks never go back */
    d->in_block = true;
    d->block_events = 0;
    d->block_batches = 0;
    d->block_len = 0; /* with --data, the header's room is reserved by the first event */
}

static certa_err data_close_block(dry *d, const uint8_t results_root[CERTA_HASH_BYTES],
                                  certa_errinfo *ei);
static certa_err data_add_event(dry *d, uint16_t integrator, const certa_event *ev,
                                certa_errinfo *ei);
static certa_err data_finish(dry *d, certa_errinfo *ei);
static void data_close(dry *d);

/* Closes the open block: results root, and with --data the block record and
 * at a checkpoint height the digest and a snapshot. */
static certa_err close_block(dry *d, certa_errinfo *ei)
{
    if (!d->in_block)
        return CERTA_OK;
    uint8_t results_root[CERTA_HASH_BYTES];
    certa_state_end_block(d->s, results_root);
    d->in_block = false;
    return d->store == NULL ? CERTA_OK : data_close_block(d, results_root, ei);
}

static certa_err add_event(dry *d, uint16_t integrator, const certa_event *ev,
                           certa_result *r, certa_errinfo *ei)
{
    open_block(d);
    if (d->store != NULL) {
        certa_err e = data_add_event(d, integrator, ev, ei);
        if (e != CERTA_OK)
            return e;
    }
    *r = certa_state_apply(d->s, integrator, ev);
    d->block_events++;
    uint32_t max = d->g->params.block_events_max;
    if (max != 0 && d->block_events >= max) {
        d->next_time_ms = certa_state_time_ms(d->s);
        return close_block(d, ei);
    }
    return CERTA_OK;
}

static certa_err block_put(dry *d, const uint8_t *p, size_t n, certa_errinfo *ei)
{
    if (d->block_len + n > CERTA_BLOCK_BYTES_MAX)
        return certa_errorf(ei, CERTA_E_LIMIT, "block over %u bytes", CERTA_BLOCK_BYTES_MAX);
    if (d->block_len + n > d->block_cap) {
        size_t cap = d->block_cap ? d->block_cap : 1u << 20;
        while (cap < d->block_len + n)
            cap *= 2;
        uint8_t *b = realloc(d->block, cap);
        if (b == NULL)
            return certa_errorf(ei, CERTA_E_NOMEM, "out of memory");
        d->block = b;
        d->block_cap = cap;
    }
    memcpy(d->block + d->block_len, p, n);
    d->block_len += n;
    return CERTA_OK;
}

static certa_err seal_batch(dry *d, certa_errinfo *ei)
{
    if (!d->batch_open)
        return CERTA_OK;
    uint8_t digest[CERTA_HASH_BYTES], sig[CERTA_SIGNATURE_BYTES];
    certa_batch_digest(&d->bb, digest);
    memset(sig, 0, sizeof sig); /* unsigned: see the file comment */
    size_t n = certa_batch_seal(&d->bb, sig);
    CERTA_ASSERT(n > 0);
    uint8_t len4[4];
    certa_put_le32(len4, (uint32_t)n);
    d->batch_open = false;
    d->block_batches++;
    certa_err e = block_put(d, len4, 4, ei);
    return e != CERTA_OK ? e : block_put(d, d->batch_buf, n, ei);
}

static certa_err write_block(dry *d, uint64_t height, uint64_t time_ms,
                             const uint8_t events_root[CERTA_HASH_BYTES],
                             certa_errinfo *ei)
{
    certa_block_header h;
    memset(&h, 0, sizeof h);
    h.height = height;
    h.timestamp_ms = time_ms;
    h.event_count = d->block_events;
    h.batch_count = d->block_batches;
    memcpy(h.prev_hash, d->prev_hash, CERTA_HASH_BYTES);
    memcpy(h.events_root, events_root, CERTA_HASH_BYTES);
    memcpy(h.prev_results_root, d->prev_results_root, CERTA_HASH_BYTES);
    memcpy(h.state_digest, d->checkpoint_digest, CERTA_HASH_BYTES);
    certa_err e = certa_header_encode(&h, d->block);
    if (e != CERTA_OK)
        return certa_errorf(ei, e, "block %llu: header does not encode",
                            (unsigned long long)height);
    certa_header_hash(&h, d->prev_hash);
    return certa_store_append(d->store, height, d->block, d->block_len, ei);
}

static certa_err data_close_block(dry *d, const uint8_t results_root[CERTA_HASH_BYTES],
                                  certa_errinfo *ei)
{
    certa_err e = seal_batch(d, ei);
    uint8_t events_root[CERTA_HASH_BYTES];
    if (e == CERTA_OK)
        e = certa_merkle_root_hashes(NULL, d->leaf_hashes, d->block_events, events_root, ei);
    uint64_t height = certa_state_height(d->s);
    if (e == CERTA_OK)
        e = write_block(d, height, certa_state_time_ms(d->s), events_root, ei);
    if (e != CERTA_OK)
        return e;
    memcpy(d->prev_results_root, results_root, CERTA_HASH_BYTES);
    uint32_t k = d->g->params.checkpoint_interval ? d->g->params.checkpoint_interval : 1;
    if (height % k == 0) {
        /* the snapshot must never be ahead of the durable log */
        if ((e = certa_store_wait_durable(d->store, height, ei)) != CERTA_OK ||
            (e = certa_state_checkpoint(d->s, d->snap_dir, SNAPSHOTS_KEPT, ei)) != CERTA_OK)
            return e;
        certa_state_digest(d->s, d->checkpoint_digest);
        d->checkpoint_height = height;
    }
    return CERTA_OK;
}

/* Frames the event into the open batch (a new one when the integrator
 * changes or the batch is full) and hashes its Merkle leaf. */
static certa_err data_add_event(dry *d, uint16_t integrator, const certa_event *ev,
                                certa_errinfo *ei)
{
    if (d->block_len == 0) {
        uint8_t zero[CERTA_HEADER_BYTES] = {0};
        certa_err e = block_put(d, zero, sizeof zero, ei); /* header written at close */
        if (e != CERTA_OK)
            return e;
    }
    if (d->batch_open && d->batch_integrator != integrator) {
        certa_err e = seal_batch(d, ei);
        if (e != CERTA_OK)
            return e;
    }
    for (int attempt = 0;; attempt++) {
        if (!d->batch_open) {
            /* height << 16 | batch number in the block: increasing for
             * every integrator across runs without keeping a counter */
            d->batch_seq = (certa_state_height(d->s) << 16) + d->block_batches + 1;
            certa_batch_begin(&d->bb, d->batch_buf, CERTA_BATCH_BYTES_MAX, integrator,
                              d->batch_seq);
            d->batch_open = true;
            d->batch_integrator = integrator;
        }
        size_t before = d->bb.len;
        certa_err e = certa_batch_add(&d->bb, ev, ei);
        if (e == CERTA_E_LIMIT && attempt == 0) {
            if ((e = seal_batch(d, ei)) != CERTA_OK)
                return e;
            continue;
        }
        if (e != CERTA_OK)
            return e;
        if (d->block_events == d->leaf_cap) {
            size_t cap = d->leaf_cap ? 2 * d->leaf_cap : 4096;
            uint8_t *p = realloc(d->leaf_hashes, cap * CERTA_HASH_BYTES);
            if (p == NULL)
                return certa_errorf(ei, CERTA_E_NOMEM, "out of memory");
            d->leaf_hashes = p;
            d->leaf_cap = cap;
        }
        uint8_t leaf[CERTA_EVENT_BYTES_MAX + 16];
        size_t n = certa_leaf_encode(integrator, d->batch_seq,
                                     d->bb.buf + before + 2, d->bb.len - before - 2,
                                     leaf, sizeof leaf);
        certa_merkle_leaf_hash(leaf, n, d->leaf_hashes + (size_t)d->block_events * CERTA_HASH_BYTES);
        break;
    }
    return CERTA_OK;
}

/* --data: copies the genesis into DIR (or checks it is the same), opens the
 * block log (writing the genesis block into an empty one) and brings the
 * state to the end of the log. */
static int open_data(dry *d, const char *dir, const char *genesis_path)
{
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return certa_fail(CMD, "create %s: %s", dir, strerror(errno));
    char path[4096];
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    certa_genesis *have = NULL;
    if (certa_genesis_load(path, &have, &ei) == CERTA_OK) {
        bool same = memcmp(have->hash, d->g->hash, CERTA_HASH_BYTES) == 0;
        certa_genesis_free(have);
        if (!same)
            return certa_fail(CMD, "%s holds another chain (genesis differs from %s)", dir,
                              genesis_path);
    } else {
        FILE *in = fopen(genesis_path, "rb"), *out = fopen(path, "wb");
        int ok = in != NULL && out != NULL;
        char buf[65536];
        size_t n;
        while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
            ok = fwrite(buf, 1, n, out) == n;
        if (in != NULL)
            fclose(in);
        if (out != NULL && fclose(out) != 0)
            ok = 0;
        if (!ok)
            return certa_fail(CMD, "copy %s to %s failed", genesis_path, path);
    }
    char blocks[4096];
    snprintf(blocks, sizeof blocks, "%s/blocks", dir);
    snprintf(d->snap_dir, sizeof d->snap_dir, "%s/snapshots", dir);
    certa_store_opts so;
    certa_store_opts_default(&so);
    so.dir = blocks;
    so.create = true;
    so.segment_bytes = 64ull << 20;
    if (certa_store_open(&so, &d->store, NULL, &ei) != CERTA_OK)
        return fail_ei(&ei);
    uint64_t first, last;
    if (!certa_store_range(d->store, &first, &last)) {
        /* the genesis block: no events, its results root the empty tree's */
        d->block_len = 0;
        d->block_events = 0;
        d->block_batches = 0;
        uint8_t zero[CERTA_HEADER_BYTES] = {0}, empty[CERTA_HASH_BYTES];
        certa_merkle_empty_root(empty);
        if (block_put(d, zero, sizeof zero, &ei) != CERTA_OK ||
            write_block(d, 0, d->g->genesis_time_ms, empty, &ei) != CERTA_OK ||
            certa_store_wait_durable(d->store, 0, &ei) != CERTA_OK)
            return fail_ei(&ei);
        certa_state_last_results_root(d->s, d->prev_results_root);
        return CERTA_EXIT_OK;
    }
    certa_state_restore_report rep;
    if (certa_state_restore(d->s, d->snap_dir, d->store, &rep, &ei) != CERTA_OK)
        return fail_ei(&ei);
    /* continue the chain after its last block */
    size_t len = 0;
    if (certa_store_block_size(d->store, last, &len) != CERTA_OK)
        return certa_fail(CMD, "%s: cannot read block %llu", blocks, (unsigned long long)last);
    uint8_t *buf = malloc(len);
    certa_block_header h;
    if (buf == NULL || certa_store_read(d->store, last, buf, len, &len, &ei) != CERTA_OK ||
        certa_block_decode_header(buf, len, &h, &ei) != CERTA_OK) {
        free(buf);
        return fail_ei(&ei);
    }
    free(buf);
    certa_header_hash(&h, d->prev_hash);
    memcpy(d->checkpoint_digest, h.state_digest, CERTA_HASH_BYTES);
    uint32_t k = d->g->params.checkpoint_interval ? d->g->params.checkpoint_interval : 1;
    if (last % k == 0 && last > 0)
        certa_state_digest(d->s, d->checkpoint_digest);
    certa_state_last_results_root(d->s, d->prev_results_root);
    d->next_time_ms = certa_state_time_ms(d->s);
    fprintf(stderr, "certa dry-run: %s at height %llu (snapshot %llu, %llu blocks replayed)\n",
            dir, (unsigned long long)last, (unsigned long long)rep.snapshot_height,
            (unsigned long long)rep.replayed_blocks);
    return CERTA_EXIT_OK;
}

/* Waits for the log and leaves a snapshot at the final height. */
static certa_err data_finish(dry *d, certa_errinfo *ei)
{
    uint64_t h = certa_state_height(d->s);
    certa_err e = certa_store_wait_durable(d->store, h, ei);
    if (e == CERTA_OK && d->checkpoint_height != h && h > 0)
        e = certa_state_checkpoint(d->s, d->snap_dir, SNAPSHOTS_KEPT, ei);
    return e;
}

static void data_close(dry *d)
{
    certa_store_close(d->store);
    d->store = NULL;
}

static void print_malformed(unsigned long line, const char *msg)
{
    json_t *o = json_pack("{s:I,s:s,s:s,s:s}", "line", (json_int_t)line, "result", "rejected",
                          "reason", "malformed", "error", msg);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (txt != NULL)
        printf("%s\n", txt);
    free(txt);
    json_decref(o);
}

static int run(dry *d, const char *events_path, int as_integrator)
{
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_jsonl_reader *rd = NULL;
    if (certa_jsonl_open(events_path, &rd, &ei) != CERTA_OK)
        return fail_ei(&ei);
    certa_jsonl_item *it = malloc(sizeof *it);
    int rc = CERTA_EXIT_OK;
    if (it == NULL) {
        certa_jsonl_close(rd);
        return certa_fail(CMD, "out of memory");
    }
    for (;;) {
        it->line = 0;
        it->kind = 0;
        certa_errinfo_clear(&ei);
        certa_err e = certa_jsonl_next(rd, it, &ei);
        if (e == CERTA_E_NOTFOUND)
            break;
        if (e != CERTA_OK) {
            if (it->line == 0 || it->kind == CERTA_JSONL_TICK || e == CERTA_E_IO) {
                rc = fail_ei(&ei);
                break;
            }
            print_malformed(it->line, certa_errmsg(&ei));
            d->malformed_lines++;
            continue;
        }
        if (it->kind == CERTA_JSONL_TICK) {
            uint64_t now = d->in_block ? certa_state_time_ms(d->s) : d->next_time_ms;
            if (it->time_ms < now) {
                rc = certa_fail(CMD, "%s:%lu: tick to %llu ms goes back in time (now %llu ms)",
                                events_path, it->line, (unsigned long long)it->time_ms,
                                (unsigned long long)now);
                break;
            }
            if (close_block(d, &ei) != CERTA_OK) {
                rc = fail_ei(&ei);
                break;
            }
            d->next_time_ms = it->time_ms;
            continue;
        }
        int integ = as_integrator;
        if (it->integrator[0] != '\0') {
            integ = certa_genesis_integrator_find(d->g, it->integrator);
            if (integ < 0) {
                rc = certa_fail(CMD, "%s:%lu: integrator '%s' is not in the genesis",
                                events_path, it->line, it->integrator);
                break;
            }
        }
        if (integ < 0) {
            /* a fault of this line alone: reported, and the run goes on */
            char msg[512];
            snprintf(msg, sizeof msg, "%s:%lu: no \"integrator\" field and no --as NAME",
                     events_path, it->line);
            print_malformed(it->line, msg);
            d->malformed_lines++;
            continue;
        }
        certa_result r = CERTA_R_MALFORMED;
        if (add_event(d, (uint16_t)integ, &it->event, &r, &ei) != CERTA_OK) {
            rc = fail_ei(&ei);
            break;
        }
        if (r == CERTA_R_OK) {
            d->ok++;
            printf("{\"line\":%lu,\"result\":\"ok\"}\n", it->line);
        } else {
            d->rejected++;
            printf("{\"line\":%lu,\"result\":\"rejected\",\"reason\":\"%s\"}\n", it->line,
                   certa_result_name(r));
        }
    }
    free(it);
    certa_jsonl_close(rd);
    if (rc == CERTA_EXIT_OK && close_block(d, &ei) != CERTA_OK)
        rc = fail_ei(&ei);
    if (rc == CERTA_EXIT_OK && d->store != NULL && data_finish(d, &ei) != CERTA_OK)
        rc = fail_ei(&ei);
    return rc;
}

int certa_cmd_dry_run(int argc, char **argv)
{
    if (certa_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CERTA_EXIT_OK;
    }
    const char *genesis_path = NULL, *data = NULL, *as = NULL, *events = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--genesis") == 0 && i + 1 < argc)
            genesis_path = argv[++i];
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--as") == 0 && i + 1 < argc)
            as = argv[++i];
        else if ((argv[i][0] != '-' || strcmp(argv[i], "-") == 0) && events == NULL)
            events = argv[i];
        else
            return certa_usage_error(CMD, "unexpected argument '%s'", argv[i]);
    }
    if (genesis_path == NULL)
        return certa_usage_error(CMD, "--genesis FILE is required");
    if (events == NULL)
        return certa_usage_error(CMD, "EVENTS.jsonl is required (- for standard input)");

    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_genesis *g = NULL;
    if (certa_genesis_load(genesis_path, &g, &ei) != CERTA_OK)
        return fail_ei(&ei);
    int as_integrator = -1;
    if (as != NULL && (as_integrator = certa_genesis_integrator_find(g, as)) < 0) {
        certa_genesis_free(g);
        return certa_usage_error(CMD, "--as %s: no such integrator in %s", as, genesis_path);
    }
    dry d;
    memset(&d, 0, sizeof d);
    d.g = g;
    d.next_time_ms = g->genesis_time_ms;
    int rc = CERTA_EXIT_OK;
    certa_state_opts so = {.hash_threads = 1};
    if (certa_state_create(g, &so, &d.s, &ei) != CERTA_OK) {
        rc = fail_ei(&ei);
        goto out;
    }
    if (data != NULL) {
        d.batch_buf = malloc(CERTA_BATCH_BYTES_MAX);
        if (d.batch_buf == NULL) {
            rc = certa_fail(CMD, "out of memory");
            goto out;
        }
        if ((rc = open_data(&d, data, genesis_path)) != CERTA_EXIT_OK)
            goto out;
    }
    rc = run(&d, events, as_integrator);
    if (rc == CERTA_EXIT_OK && (d.rejected > 0 || d.malformed_lines > 0))
        rc = CERTA_EXIT_FAIL;
    fflush(stdout);
    fprintf(stderr, "certa dry-run: %llu ok, %llu rejected, %llu malformed lines, height %llu\n",
            (unsigned long long)d.ok, (unsigned long long)d.rejected,
            (unsigned long long)d.malformed_lines, (unsigned long long)certa_state_height(d.s));
out:
    data_close(&d);
    certa_state_free(d.s);
    free(d.block);
    free(d.leaf_hashes);
    free(d.batch_buf);
    certa_genesis_free(g);
    return rc;
}
