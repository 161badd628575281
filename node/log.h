/* log: the validator's structured logs as JSON lines, one line per notable
 * event (daemon-internal: node/ and `certa node` use it, no library code).
 *
 * Every line is one JSON object: {"ts_ms":..., "level":"info", "node":K,
 * "event":"view_change", ...fields}. Lines are written with one write(2)
 * each so that concurrent threads never interleave within a line. The level
 * threshold and the node index are process-wide, set once at start-up.
 */
#ifndef CERTA_NODE_LOG_H
#define CERTA_NODE_LOG_H

#include "certa/certa.h"

typedef enum certa_log_level {
    CERTA_LOG_DEBUG = 0,
    CERTA_LOG_INFO = 1,
    CERTA_LOG_WARN = 2,
    CERTA_LOG_ERROR = 3,
} certa_log_level;

/* fd to write to (2 = stderr), minimum level, node index (-1: none). */
void certa_log_init(int fd, certa_log_level min_level, int node);
/* "debug", "info", ...; -1 when unknown. */
int certa_log_level_parse(const char *name);

/* Logs event with extra fields given as a printf format producing the inner
 * part of a JSON object (e.g. "\"view\":%llu"), or NULL for none. The caller
 * escapes strings with certa_log_str. */
void certa_log(certa_log_level level, const char *event, const char *fields_fmt,
               ...) __attribute__((format(printf, 3, 4)));

/* Writes s as a JSON string body (escaped, without quotes) into out (cap
 * bytes, NUL-terminated, cut when too long) and returns out. */
const char *certa_log_str(const char *s, char *out, size_t cap);

#endif
