/* event_json: the JSON form of events, the one integrators write, and the
 * JSON Lines reader the dry-run, submit and load tools feed from.
 *
 * One event is one JSON object with exactly the fields its kind carries
 * (docs/PROTOCOL.md, "Events (JSON)"): an unknown field, a field the kind
 * does not use, a missing field, a wrong type, bad hex or an out-of-range
 * number is an error whose message names the field, e.g.
 *     field "salt": expected 32 hex digits
 * and, from the JSONL reader, also the file and line:
 *     events.jsonl:12: field "salt": expected 32 hex digits
 * An optional "integrator" (a name from genesis) says who submits the event.
 * A parsed event passed certa_event_validate: it always encodes.
 */
#ifndef CERTA_EVENT_JSON_H
#define CERTA_EVENT_JSON_H

#include <stdio.h>

#include "certa/certa.h"
#include "certa/codec.h"

/* Longest integrator name, NUL included (same as genesis names). */
#define CERTA_EVENT_INTEGRATOR_BYTES 64u
/* Longest JSONL line, newline excluded. */
#define CERTA_JSONL_LINE_BYTES_MAX 65536u

/* Parses one JSON object (text, nothing after it but white space) into ev.
 * Duplicate keys are refused. integrator (capacity
 * CERTA_EVENT_INTEGRATOR_BYTES, may be NULL when the caller refuses the
 * field) gets the "integrator" name or "" when absent. */
certa_err certa_event_parse_json(const char *text, size_t len, certa_event *ev,
                                 char *integrator, certa_errinfo *ei);

/* ev as one compact JSON object, no newline, in a new string (free with
 * free()); NULL on allocation failure or when ev is not valid. Fields in
 * the documented order; integrator is written first when not NULL. Hex is
 * lower-case; licence types 7..31 are written "type_N". (The json_t form
 * of these two functions is private to the engine: engine/event_json.h.) */
char *certa_event_format_json(const certa_event *ev, const char *integrator);

/* ---- JSON Lines ----
 * Each non-blank line is an event object or a tick {"kind":"tick",
 * "time_ms":T} (the dry-run closes blocks on ticks). Lines are bounded by
 * CERTA_JSONL_LINE_BYTES_MAX; the buffer is allocated once at open. */
typedef struct certa_jsonl_reader certa_jsonl_reader;

typedef enum certa_jsonl_kind {
    CERTA_JSONL_EVENT = 1,
    CERTA_JSONL_TICK = 2,
} certa_jsonl_kind;

typedef struct certa_jsonl_item {
    certa_jsonl_kind kind;
    unsigned long line; /* 1-based line number in the file */
    certa_event event;  /* CERTA_JSONL_EVENT */
    char integrator[CERTA_EVENT_INTEGRATOR_BYTES]; /* "" when absent */
    uint64_t time_ms;   /* CERTA_JSONL_TICK, <= 2^63-1 */
} certa_jsonl_item;

/* Opens path ("-" reads standard input); messages name the path as given. */
certa_err certa_jsonl_open(const char *path, certa_jsonl_reader **out,
                           certa_errinfo *ei);
/* Reads from an open stream (not closed by certa_jsonl_close); name is used
 * in messages. */
certa_err certa_jsonl_open_stream(FILE *f, const char *name,
                                  certa_jsonl_reader **out, certa_errinfo *ei);
/* Next item: CERTA_OK, CERTA_E_NOTFOUND at the end of the file, or an error
 * naming file, line and field. After an error the reader continues with the
 * next line, so a caller may report and go on: after any error but a read
 * error (CERTA_E_IO) item->line is the refused line's number (kind is 0
 * unless the line parsed as a tick or an event object). */
certa_err certa_jsonl_next(certa_jsonl_reader *r, certa_jsonl_item *item,
                           certa_errinfo *ei);
void certa_jsonl_close(certa_jsonl_reader *r);

#endif
