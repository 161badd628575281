/* round: step -> persist -> sync -> send (the rules are in round.h). */
#include "round.h"

#include <stdlib.h>
#include <string.h>

#include "certa/certa.h"

certa_err node_round_init(node_round *r, const node_io *io, uint32_t out_max, size_t out_bytes,
                          node_round_deliver_fn deliver, void *deliver_ctx, certa_errinfo *ei)
{
    CERTA_ASSERT(r != NULL && io != NULL && deliver != NULL && out_max > 0 && out_bytes > 0);
    memset(r, 0, sizeof *r);
    r->io = io;
    r->deliver = deliver;
    r->deliver_ctx = deliver_ctx;
    r->out_max = out_max;
    r->arena_bytes = out_bytes;
    r->out = calloc(out_max, sizeof *r->out);
    r->arena = malloc(out_bytes);
    if (r->out == NULL || r->arena == NULL) {
        free(r->out);
        free(r->arena);
        memset(r, 0, sizeof *r);
        return certa_errorf(ei, CERTA_E_NOMEM, "round: out of memory (%u messages, %zu bytes)",
                            out_max, out_bytes);
    }
    return CERTA_OK;
}

static void discard(node_round *r);

void node_round_free(node_round *r)
{
    if (r == NULL || r->out == NULL)
        return;
    discard(r);
    free(r->out);
    free(r->arena);
    memset(r, 0, sizeof *r);
}

static void queue(node_round *r, uint32_t to, const uint8_t *bytes, size_t len)
{
    CERTA_ASSERT(r->nout <= r->out_max);
    if (r->failed)
        return; /* a failed round sends nothing more */
    if (r->nout == r->out_max) {
        r->dropped++; /* the protocol retransmits; dropping is safe, growing is not */
        return;
    }
    CERTA_ASSERT(r->arena_used <= r->arena_bytes);
    uint8_t *copy;
    bool heap = len > r->arena_bytes - r->arena_used;
    if (heap) {
        copy = malloc(len ? len : 1);
        CERTA_ASSERT(copy != NULL);
        r->heap_messages++;
    } else {
        copy = r->arena + r->arena_used;
        r->arena_used += len;
    }
    memcpy(copy, bytes, len);
    r->out[r->nout++] = (node_round_msg){to, copy, len, heap};
    r->messages++;
}

void node_round_take(node_round *r, const certa_pbft_actions *acts)
{
    CERTA_ASSERT(r != NULL && r->io != NULL && acts != NULL);
    const node_io *io = r->io;
    for (size_t i = 0; i < acts->count; i++) {
        const certa_pbft_action *a = &acts->items[i];
        certa_errinfo ei;
        switch (a->kind) {
        case CERTA_PBFT_ACT_PERSIST:
            /* a record that did not reach the log must not be followed by
             * the vote it protects: fail before anything is queued */
            if (!r->failed && io->persist_record(io->ctx, a->record_kind, a->height, a->view,
                                                 a->bytes, a->len, &ei) != CERTA_OK)
                r->failed = true;
            r->unsynced = true;
            break;
        case CERTA_PBFT_ACT_PERSIST_GC:
            io->persist_gc(io->ctx, a->height, a->view);
            break;
        case CERTA_PBFT_ACT_SEND:
            queue(r, a->to, a->bytes, a->len);
            break;
        case CERTA_PBFT_ACT_BROADCAST:
            queue(r, NODE_IO_TO_ALL, a->bytes, a->len);
            break;
        case CERTA_PBFT_ACT_DELIVER:
            if (!r->failed &&
                (io->persist_block(io->ctx, a->height, a->bytes, a->len, &ei) != CERTA_OK ||
                 r->deliver(r->deliver_ctx, a->height, a->bytes, a->len, &ei) != CERTA_OK))
                r->failed = true;
            r->unsynced = true;
            break;
        }
    }
    r->timer_at_ms = acts->timer_at_ms;
    CERTA_ASSERT(!r->failed || r->unsynced);
}

void node_round_step(node_round *r, certa_pbft *core, const certa_pbft_input *in)
{
    CERTA_ASSERT(r != NULL && core != NULL && in != NULL);
    const node_io *io = r->io;
    certa_pbft_time now = {io->mono_ms(io->ctx), io->real_ms(io->ctx)};
    certa_pbft_actions acts = certa_pbft_step(core, in, now);
    node_round_take(r, &acts);
}

/* A failed round's queue goes unsent: the records those votes needed may
 * not be durable. */
static void discard(node_round *r)
{
    for (uint32_t i = 0; i < r->nout; i++)
        if (r->out[i].heap)
            free(r->out[i].bytes);
    r->nout = 0;
    r->arena_used = 0;
}

certa_err node_round_finish(node_round *r, certa_errinfo *ei)
{
    CERTA_ASSERT(r != NULL && r->io != NULL);
    if (r->failed) {
        discard(r);
        return certa_errorf(ei, CERTA_E_IO, "the block log or the WAL failed");
    }
    const node_io *io = r->io;
    if (r->unsynced) {
        certa_err e = io->sync(io->ctx, ei);
        if (e != CERTA_OK) {
            r->failed = true;
            discard(r);
            return e;
        }
        r->unsynced = false;
    }
    /* durable: now, and only now, the votes those records protect leave */
    CERTA_ASSERT(!r->unsynced && !r->failed);
    for (uint32_t i = 0; i < r->nout; i++) {
        io->send(io->ctx, r->out[i].to, r->out[i].bytes, r->out[i].len);
        if (r->out[i].heap)
            free(r->out[i].bytes);
    }
    r->nout = 0;
    r->arena_used = 0;
    return CERTA_OK;
}
