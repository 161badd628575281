/* trace: the load trace file (what `certa load gen` writes and
 * `certa load replay` sends), binary and little-endian:
 *
 *   header  (128 bytes)  magic "CERTATRC", version, seed, trace start time,
 *                        scale, hours, genesis hash, scenario name
 *   records (repeated)   u64 at_us (since the trace start, non-decreasing),
 *                        u32 batch_bytes, u32 events, u16 integrator,
 *                        u16 flags (0), u32 expected_rejects, then the signed
 *                        batch exactly as an integrator submits it
 *   trailer (96 bytes)   magic "CERTAEND", record, event and intended
 *                        rejection counts (total, wrong code, expired,
 *                        revoked), last at_us, then SHA-256 of every byte of
 *                        the file before this checksum
 *
 * docs/LOAD.md has the byte offsets. Opening a trace checks the checksum,
 * every record's bounds and the counts, so replay never sends a torn file.
 */
#ifndef CERTA_LOAD_TRACE_H
#define CERTA_LOAD_TRACE_H

#include "certa/certa.h"

#define CERTA_LOAD_TRACE_MAGIC "CERTATRC"
#define CERTA_LOAD_TRACE_END_MAGIC "CERTAEND"
#define CERTA_LOAD_TRACE_VERSION 1u
#define CERTA_LOAD_TRACE_HEADER_BYTES 128u
#define CERTA_LOAD_TRACE_RECORD_BYTES 24u
#define CERTA_LOAD_TRACE_TRAILER_BYTES 96u
#define CERTA_LOAD_TRACE_NAME_BYTES 32u

/* Intended rejection reasons (what the generator meant to go wrong). */
typedef enum certa_load_intent {
    CERTA_LOAD_INTENT_BAD_CODE = 0, /* a wrong 8-digit code */
    CERTA_LOAD_INTENT_EXPIRED = 1,  /* a grant whose window already closed */
    CERTA_LOAD_INTENT_REVOKED = 2,  /* a redeem after the holder revoked */
    CERTA_LOAD_INTENTS = 3,
} certa_load_intent;

typedef struct certa_load_trace_info {
    uint64_t seed;
    uint64_t start_unix_ms; /* absolute time of at_us = 0 (grant windows use it) */
    uint32_t scale_milli;   /* scale factor x 1000 */
    uint32_t start_hour;
    uint32_t hours;
    uint8_t genesis_hash[CERTA_HASH_BYTES];
    char scenario[CERTA_LOAD_TRACE_NAME_BYTES]; /* NUL-terminated */

    /* from the trailer */
    uint64_t records;
    uint64_t events;
    uint64_t expected_rejects;
    uint64_t expected_by_intent[CERTA_LOAD_INTENTS];
    uint64_t last_at_us;
} certa_load_trace_info;

typedef struct certa_load_trace_rec {
    uint64_t at_us;
    uint32_t events;
    uint16_t integrator;
    uint32_t expected_rejects;
    const uint8_t *batch; /* borrowed from the open trace */
    uint32_t batch_bytes;
} certa_load_trace_rec;

/* ---- writing ---- */
typedef struct certa_load_trace_writer certa_load_trace_writer;

/* Creates path (truncating) and writes the header from info (its trailer
 * fields are ignored). */
certa_err certa_load_trace_create(const char *path, const certa_load_trace_info *info,
                                  certa_load_trace_writer **out, certa_errinfo *ei);
/* Appends a record. at_us must not go below the previous record's. */
certa_err certa_load_trace_append(certa_load_trace_writer *w, const certa_load_trace_rec *rec,
                                  certa_errinfo *ei);
/* Adds intended rejections of one reason to the trailer's counts. */
void certa_load_trace_intend(certa_load_trace_writer *w, certa_load_intent why, uint64_t n);
/* Writes the trailer, flushes and closes; frees w in every case. On error
 * the partial file is removed. */
certa_err certa_load_trace_finish(certa_load_trace_writer *w, certa_errinfo *ei);
/* Closes and removes the partial file (after an error elsewhere). */
void certa_load_trace_abort(certa_load_trace_writer *w);

/* ---- reading ---- */
typedef struct certa_load_trace certa_load_trace;

/* Maps path read-only and checks magic, version, checksum, every record's
 * bounds, the non-decreasing times and the trailer's counts. */
certa_err certa_load_trace_open(const char *path, certa_load_trace **out,
                                certa_errinfo *ei);
/* The same checks over len bytes in memory; buf must outlive the trace. */
certa_err certa_load_trace_open_mem(const uint8_t *buf, size_t len, certa_load_trace **out,
                                    certa_errinfo *ei);
const certa_load_trace_info *certa_load_trace_get_info(const certa_load_trace *t);
/* Iterates records: *pos starts at CERTA_LOAD_TRACE_HEADER_BYTES; returns
 * false at the end. The record's batch lives as long as the trace. */
bool certa_load_trace_next(const certa_load_trace *t, size_t *pos,
                           certa_load_trace_rec *rec);
void certa_load_trace_close(certa_load_trace *t);

#endif
