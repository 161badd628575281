/* aggregate: an integrator's batcher (include/certa/aggregate.h).
 *
 * The open batch is built in place with the codec's batch builder, so a
 * seal is one digest and one signature over bytes already laid out; the
 * sequence number is written at the seal. Each event is decoded before it
 * is added (a validator would refuse the whole batch for one malformed
 * event, and every other case in it with it) and re-encoded by the builder,
 * which for a canonical event gives the same bytes.
 */
#include "certa/aggregate.h"

#include <stdlib.h>
#include <string.h>

#include "certa/codec.h"

struct certa_agg {
    certa_agg_opts o;
    uint8_t *buf; /* bytes_max */
    certa_batch_builder bb;
    uint64_t first_us; /* now_us of the open batch's first event */
    bool open;         /* bb holds a begun batch (maybe sealed and not reset) */
};

certa_err certa_agg_new(const certa_agg_opts *o, certa_agg **out, certa_errinfo *ei)
{
    CERTA_ASSERT(o != NULL && out != NULL);
    *out = NULL;
    if (o->key == NULL)
        return certa_errorf(ei, CERTA_E_ARG, "aggregate: no signing key");
    if (o->events_max > CERTA_BATCH_EVENTS_MAX)
        return certa_errorf(ei, CERTA_E_ARG, "aggregate: events_max %u above the batch limit %u",
                            o->events_max, CERTA_BATCH_EVENTS_MAX);
    size_t bytes = o->bytes_max == 0 ? CERTA_BATCH_BYTES_MAX : o->bytes_max;
    /* room for a header, one short event and the signature */
    if (bytes > CERTA_BATCH_BYTES_MAX || bytes < CERTA_BATCH_HEADER_BYTES + CERTA_SIGNATURE_BYTES + 64)
        return certa_errorf(ei, CERTA_E_ARG, "aggregate: bytes_max %zu outside %u..%u", bytes,
                            CERTA_BATCH_HEADER_BYTES + CERTA_SIGNATURE_BYTES + 64,
                            CERTA_BATCH_BYTES_MAX);
    certa_agg *a = calloc(1, sizeof *a);
    if (a == NULL || (a->buf = malloc(bytes)) == NULL) {
        free(a);
        return certa_errorf(ei, CERTA_E_NOMEM, "aggregate: batch buffer of %zu bytes", bytes);
    }
    a->o = *o;
    a->o.bytes_max = bytes;
    if (a->o.events_max == 0)
        a->o.events_max = CERTA_BATCH_EVENTS_MAX;
    *out = a;
    return CERTA_OK;
}

void certa_agg_free(certa_agg *a)
{
    if (a == NULL)
        return;
    free(a->buf);
    free(a);
}

certa_err certa_agg_add(certa_agg *a, const uint8_t *ev, size_t len, uint64_t now_us,
                        certa_errinfo *ei)
{
    CERTA_ASSERT(a != NULL && (ev != NULL || len == 0));
    certa_event e;
    certa_err err = certa_event_decode(ev, len, &e, ei);
    if (err != CERTA_OK)
        return err;
    if (!a->open || a->bb.count == 0) {
        /* the real sequence number is written at the seal */
        certa_batch_begin(&a->bb, a->buf, a->o.bytes_max, a->o.integrator, 1);
        a->open = true;
    }
    if (a->bb.count >= a->o.events_max)
        return certa_errorf(ei, CERTA_E_LIMIT, "aggregate: the open batch holds %u events",
                            a->bb.count);
    uint32_t before = a->bb.count;
    err = certa_batch_add(&a->bb, &e, ei);
    if (err != CERTA_OK)
        return err; /* CERTA_E_LIMIT: full in bytes; the builder is unchanged */
    if (before == 0)
        a->first_us = now_us;
    return CERTA_OK;
}

uint32_t certa_agg_pending(const certa_agg *a)
{
    CERTA_ASSERT(a != NULL);
    return a->open ? a->bb.count : 0;
}

uint64_t certa_agg_due_us(const certa_agg *a)
{
    CERTA_ASSERT(a != NULL);
    if (certa_agg_pending(a) == 0)
        return UINT64_MAX;
    return a->first_us > UINT64_MAX - a->o.window_us ? UINT64_MAX : a->first_us + a->o.window_us;
}

certa_err certa_agg_seal(certa_agg *a, uint64_t seq, const uint8_t **batch, size_t *len,
                         uint32_t *events, certa_errinfo *ei)
{
    CERTA_ASSERT(a != NULL && batch != NULL && len != NULL && events != NULL);
    if (certa_agg_pending(a) == 0)
        return certa_errorf(ei, CERTA_E_STATE, "aggregate: no event to seal");
    if (seq == 0)
        return certa_errorf(ei, CERTA_E_ARG, "aggregate: sequence numbers start at 1");
    certa_batch_set_seq(&a->bb, seq);
    certa_err err = certa_batch_sign(&a->bb, a->o.key, ei);
    if (err != CERTA_OK)
        return err;
    *batch = a->bb.buf;
    *len = a->bb.len;
    *events = a->bb.count;
    a->open = false; /* the next add begins a new batch over this buffer */
    return CERTA_OK;
}
