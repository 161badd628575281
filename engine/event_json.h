/* event_json (private): the json_t form of events, for the engine's JSON
 * glue that nests events in larger documents (query answers) and for
 * tests. Integrators use the text form in certa/event_json.h, which keeps
 * jansson out of the public headers (tests/integration/check_layers.py). */
#ifndef CERTA_ENGINE_EVENT_JSON_H
#define CERTA_ENGINE_EVENT_JSON_H

#include <jansson.h>

#include "certa/event_json.h"

/* Parses one JSON object into ev; integrator as in certa_event_parse_json. */
certa_err certa_event_from_json(const json_t *obj, certa_event *ev,
                                char *integrator, certa_errinfo *ei);

/* New JSON object for ev (a new reference, NULL on allocation failure or
 * when ev is not valid); fields as in certa_event_format_json. */
json_t *certa_event_to_json(const certa_event *ev, const char *integrator);

#endif
