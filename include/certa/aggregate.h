/* aggregate: an integrator's batcher. Events come in one by one (a
 * centre's counter system hears its counters' cases as they happen); the
 * aggregator holds them in one open batch and seals it, signed, once its
 * first event has waited window_us or the batch is full.
 *
 * Why: every validator verifies every batch's Ed25519 signature, so with
 * one batch per counter case (about 1.8 events) the signature checks bound
 * a cluster's rate (docs/LOAD.md, "Small batches and aggregation"). A batch
 * sealed every few milliseconds for all of a centre's counters costs one
 * check for many cases; the price is the wait, at most window_us, which
 * counts in every case's latency.
 *
 * Invariants: events keep the order they were added in (a grant and the
 * redeem that follows it stay in order within and across batches); an open
 * batch never holds more than events_max events or bytes_max bytes; every
 * sealed batch is signed with the integrator's key under the sequence
 * number the caller gives (sequence numbers must rise per integrator, as
 * for any batch). Memory is one batch buffer, allocated at creation.
 * Not thread-safe: one thread adds and seals.
 */
#ifndef CERTA_AGGREGATE_H
#define CERTA_AGGREGATE_H

#include <stddef.h>
#include <stdint.h>

#include "certa/certa.h"
#include "certa/crypto.h"

typedef struct certa_agg_opts {
    uint16_t integrator;   /* the genesis index the batches are signed as */
    const certa_key *key;  /* its signing key; borrowed, outlives the aggregator */
    uint64_t window_us;    /* an open batch is due window_us after its first event */
    uint32_t events_max;   /* 1..CERTA_BATCH_EVENTS_MAX; 0: that limit */
    size_t bytes_max;      /* the sealed batch's size at most; 0: CERTA_BATCH_BYTES_MAX */
} certa_agg_opts;

typedef struct certa_agg certa_agg;

/* CERTA_E_ARG for a NULL key or a limit out of range; CERTA_E_NOMEM. */
certa_err certa_agg_new(const certa_agg_opts *o, certa_agg **out, certa_errinfo *ei);
void certa_agg_free(certa_agg *a);

/* Adds one event in its canonical binary form (docs/PROTOCOL.md, "Events
 * (binary)"), checked as a validator would (a malformed event is refused
 * with the codec's error and nothing changes). now_us is the caller's
 * clock; the first event of an open batch starts its window. CERTA_E_LIMIT:
 * the open batch cannot take it (seal, then add again). */
certa_err certa_agg_add(certa_agg *a, const uint8_t *ev, size_t len, uint64_t now_us,
                        certa_errinfo *ei);

/* Events in the open batch. */
uint32_t certa_agg_pending(const certa_agg *a);

/* When the open batch is due: its first event's now_us + window_us;
 * UINT64_MAX when it is empty. */
uint64_t certa_agg_due_us(const certa_agg *a);

/* Seals the open batch as sequence number seq (>= 1), signs it and empties
 * the aggregator. *batch (len bytes, *events events) lives until the next
 * add or seal. CERTA_E_STATE when the batch is empty; signing errors pass
 * through (the events are then kept). */
certa_err certa_agg_seal(certa_agg *a, uint64_t seq, const uint8_t **batch, size_t *len,
                         uint32_t *events, certa_errinfo *ei);

#endif
