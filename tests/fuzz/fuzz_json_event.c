/* Fuzz target: JSON event parser and JSON Lines reader. Parsing never
 * crashes; an accepted event encodes, decodes back to the same bytes, and
 * its own JSON output parses to the same bytes again. The input is also read
 * as a JSON Lines file to exercise line splitting and tick lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certa/codec.h"
#include "event_json.h" /* engine-private: the json_t form */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_event(const certa_event *ev)
{
    uint8_t a[CERTA_EVENT_BYTES_MAX], b[CERTA_EVENT_BYTES_MAX];
    size_t na = 0, nb = 0;
    CERTA_ASSERT(certa_event_encode(ev, a, sizeof a, &na, NULL) == CERTA_OK);
    certa_event d, j;
    CERTA_ASSERT(certa_event_decode(a, na, &d, NULL) == CERTA_OK);
    json_t *o = certa_event_to_json(&d, NULL);
    CERTA_ASSERT(o != NULL);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    CERTA_ASSERT(text != NULL);
    CERTA_ASSERT(certa_event_parse_json(text, strlen(text), &j, NULL, NULL) == CERTA_OK);
    free(text);
    CERTA_ASSERT(certa_event_encode(&j, b, sizeof b, &nb, NULL) == CERTA_OK);
    CERTA_ASSERT(na == nb && memcmp(a, b, na) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    certa_event ev;
    char integ[CERTA_EVENT_INTEGRATOR_BYTES];
    certa_errinfo ei;
    if (certa_event_parse_json((const char *)data, size, &ev, integ, &ei) == CERTA_OK) {
        CERTA_ASSERT(strlen(integ) < CERTA_EVENT_INTEGRATOR_BYTES);
        check_event(&ev);
    } else {
        CERTA_ASSERT(ei.code != CERTA_OK && ei.msg[0] != '\0');
    }

    if (size == 0)
        return 0;
    FILE *f = fmemopen((void *)data, size, "r");
    CERTA_ASSERT(f != NULL);
    certa_jsonl_reader *r = NULL;
    CERTA_ASSERT(certa_jsonl_open_stream(f, "fuzz.jsonl", &r, NULL) == CERTA_OK);
    certa_jsonl_item it;
    certa_err e;
    unsigned long last = 0;
    while ((e = certa_jsonl_next(r, &it, &ei)) != CERTA_E_NOTFOUND) {
        CERTA_ASSERT(e != CERTA_E_IO);
        if (e == CERTA_OK) {
            CERTA_ASSERT(it.line > last);
            last = it.line;
            if (it.kind == CERTA_JSONL_EVENT)
                check_event(&it.event);
            else
                CERTA_ASSERT(it.kind == CERTA_JSONL_TICK && it.time_ms <= (uint64_t)INT64_MAX);
        }
    }
    certa_jsonl_close(r);
    fclose(f);
    return 0;
}
