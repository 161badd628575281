/* state_block: applies an encoded block (header then batches, as the codec
 * frames them) to the state: the path replay and the validator share.
 *
 * The whole block is decoded and checked (height, time, counts) before the
 * first event is applied, so a block that does not decode or does not follow
 * leaves the state untouched. Each event's submitter is its batch's
 * integrator. Signatures are not checked here: they were checked at the door
 * before the block was committed, and a committed block is applied as is.
 */
#include <stdlib.h>
#include <string.h>

#include "certa/codec.h"
#include "certa/state.h"

/* Batches of one block, kept between the check pass and the apply pass. */
#define BATCHES_MAX 65536u

certa_err certa_state_apply_block(certa_state *s, const uint8_t *block,
                                  size_t len, uint8_t results_root[CERTA_HASH_BYTES],
                                  certa_errinfo *ei)
{
    certa_block_header h;
    certa_err e = certa_block_decode_header(block, len, &h, ei);
    if (e != CERTA_OK)
        return e;
    if (h.height != certa_state_height(s) + 1)
        return certa_errorf(ei, CERTA_E_STATE, "block %llu does not follow height %llu",
                            (unsigned long long)h.height,
                            (unsigned long long)certa_state_height(s));
    if (h.timestamp_ms < certa_state_time_ms(s))
        return certa_errorf(ei, CERTA_E_TIME, "block %llu: time %llu ms is before %llu ms",
                            (unsigned long long)h.height,
                            (unsigned long long)h.timestamp_ms,
                            (unsigned long long)certa_state_time_ms(s));
    if (h.batch_count > BATCHES_MAX)
        return certa_errorf(ei, CERTA_E_TOO_LONG, "block %llu: %u batches, limit %u",
                            (unsigned long long)h.height, h.batch_count, BATCHES_MAX);
    /* the state has room for the most a committed block can carry */
    if (h.event_count > CERTA_STATE_BLOCK_EVENTS_MAX)
        return certa_errorf(ei, CERTA_E_TOO_LONG, "block %llu: %u events, limit %u",
                            (unsigned long long)h.height, h.event_count,
                            CERTA_STATE_BLOCK_EVENTS_MAX);

    /* check pass: every batch decodes (framing and every event) */
    certa_batch_view *views = malloc(((size_t)h.batch_count + 1) * sizeof *views);
    if (views == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "block %llu: out of memory",
                            (unsigned long long)h.height);
    size_t pos = CERTA_HEADER_BYTES;
    uint32_t nb = 0;
    uint64_t events = 0;
    for (;;) {
        certa_batch_view v;
        e = certa_block_next_batch(block, len, &pos, &v, ei);
        if (e == CERTA_E_NOTFOUND)
            break;
        if (e != CERTA_OK)
            goto out;
        if (nb == h.batch_count) {
            e = certa_errorf(ei, CERTA_E_BAD_FIELD, "block %llu: more batches than the header's %u",
                             (unsigned long long)h.height, h.batch_count);
            goto out;
        }
        views[nb++] = v;
        events += v.event_count;
    }
    if (nb != h.batch_count || events != h.event_count) {
        e = certa_errorf(ei, CERTA_E_BAD_FIELD,
                         "block %llu: header says %u batches and %u events, block holds %u and %llu",
                         (unsigned long long)h.height, h.batch_count, h.event_count, nb,
                         (unsigned long long)events);
        goto out;
    }

    /* apply pass */
    e = certa_state_begin_block(s, h.height, h.timestamp_ms, ei);
    CERTA_ASSERT(e == CERTA_OK); /* checked above */
    for (uint32_t b = 0; b < nb; b++) {
        size_t at = 0;
        const uint8_t *ev_bytes;
        size_t ev_len;
        while (certa_batch_next(&views[b], &at, &ev_bytes, &ev_len)) {
            certa_event ev;
            if (certa_event_decode(ev_bytes, ev_len, &ev, NULL) == CERTA_OK)
                certa_state_apply(s, views[b].integrator, &ev);
            else /* cannot happen after batch_decode; recorded, not dropped */
                certa_state_apply_malformed(s, views[b].integrator);
        }
    }
    certa_state_end_block(s, results_root);
    e = CERTA_OK;
out:
    free(views);
    return e;
}
