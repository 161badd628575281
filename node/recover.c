/* recover: a validator's start from its data directory.
 *
 * The block log is the truth: every durable block is replayed into a
 * fresh state, in height order, through the same execution as live blocks
 * (exec.c) and the same replay verdicts (app.c), so a restarted validator
 * reaches the digest its peers have. The PBFT core is then restored from
 * the log's tip and the consensus WAL: what it promised (votes, view
 * changes, checkpoints) before a crash it keeps promising.
 * A torn tail (a crash mid-append) is repaired by the store and logged.
 */
#include "node_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

certa_err node_open_store(const char *dir, const char *sub, uint64_t first,
                          certa_store **out, certa_errinfo *ei)
{
    char path[CERTA_PATH_BYTES + 16];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = path;
    o.create = true;
    o.first_height = first;
    o.segment_bytes = 256ull * 1024 * 1024;
    o.prewrite = 2; /* allocate the spare; zero-filling it would double the writes */
    o.group_bytes = 16u * 1024 * 1024 + 64 * 1024;
    certa_store_recovery rep;
    certa_err e = certa_store_open(&o, out, &rep, ei);
    if (e != CERTA_OK)
        return e;
    if (rep.tail_repaired)
        certa_log(CERTA_LOG_WARN, "torn_tail_repaired",
                  "\"log\":\"%s\",\"truncated_bytes\":%llu", sub,
                  (unsigned long long)rep.truncated_bytes);
    return CERTA_OK;
}

typedef struct replay_ctx {
    certa_node *nd;
    certa_err err;
    certa_errinfo ei;
} replay_ctx;

static bool replay_block_fn(void *vctx, uint64_t height, const uint8_t *data, size_t len)
{
    replay_ctx *c = vctx;
    (void)height;
    c->err = node_execute_now(c->nd, data, len, &c->ei);
    return c->err == CERTA_OK;
}

certa_err node_recover(certa_node *nd, certa_errinfo *ei)
{
    replay_ctx c = {.nd = nd, .err = CERTA_OK};
    uint64_t first, last;
    uint8_t *tip = NULL;
    size_t tip_len = 0;
    if (certa_store_range(nd->blocks, &first, &last)) {
        nd->recover_last = last;
        certa_err e = certa_store_scan(nd->blocks, first, last, replay_block_fn, &c, ei);
        if (e == CERTA_OK && c.err != CERTA_OK) {
            *ei = c.ei;
            e = c.err;
        }
        if (e != CERTA_OK)
            return e;
        const uint8_t *rec;
        if (!node_read_block(nd, last, &rec, &tip_len))
            return certa_errorf(ei, CERTA_E_IO, "cannot read back block %llu",
                                (unsigned long long)last);
        tip = malloc(tip_len);
        if (tip == NULL)
            return certa_errorf(ei, CERTA_E_NOMEM, "recovering");
        memcpy(tip, rec, tip_len);
        certa_log(CERTA_LOG_INFO, "replayed", "\"blocks\":%llu,\"height\":%llu",
                  (unsigned long long)(last - first + 1), (unsigned long long)last);
    }
    size_t nrec = certa_wal_count(nd->wal);
    const uint8_t **recs = calloc(nrec ? nrec : 1, sizeof *recs);
    size_t *lens = calloc(nrec ? nrec : 1, sizeof *lens);
    if (recs == NULL || lens == NULL) {
        free(recs);
        free(lens);
        free(tip);
        return certa_errorf(ei, CERTA_E_NOMEM, "recovering");
    }
    for (size_t i = 0; i < nrec; i++)
        certa_wal_record(nd->wal, i, &recs[i], &lens[i]);
    certa_err e = certa_pbft_restore(nd->pbft, tip, tip_len, recs, lens, nrec, ei);
    if (e == CERTA_OK && nrec > 0)
        certa_log(CERTA_LOG_INFO, "wal_restored", "\"records\":%zu", nrec);
    free(recs);
    free(lens);
    free(tip);
    return e;
}
