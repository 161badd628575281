/* log: JSON-lines logging shared by the validator and the tools.
 * Invariant: one write(2) per line (lines never interleave), lines are valid
 * JSON whatever the caller's strings hold (certa_log_str escapes them). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = 2;
static certa_log_level log_min = CERTA_LOG_INFO;
static int log_node = -1;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void certa_log_init(int fd, certa_log_level min_level, int node)
{
    log_fd = fd;
    log_min = min_level;
    log_node = node;
}

int certa_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

const char *certa_log_str(const char *s, char *out, size_t cap)
{
    CERTA_ASSERT(cap >= 1);
    size_t o = 0;
    for (; s != NULL && *s != '\0' && o + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}

void certa_log(certa_log_level level, const char *event, const char *fields_fmt,
               ...)
{
    if (level < log_min)
        return;
    char line[4096];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long ms =
        (unsigned long long)ts.tv_sec * 1000ull + (unsigned long long)ts.tv_nsec / 1000000ull;
    int n = snprintf(line, sizeof line, "{\"ts_ms\":%llu,\"level\":\"%s\"", ms,
                     level_names[level]);
    if (log_node >= 0)
        n += snprintf(line + n, sizeof line - (size_t)n, ",\"node\":%d", log_node);
    n += snprintf(line + n, sizeof line - (size_t)n, ",\"event\":\"%s\"", event);
    if (fields_fmt != NULL && (size_t)n + 2 < sizeof line) {
        line[n++] = ',';
        va_list ap;
        va_start(ap, fields_fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fields_fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if ((size_t)n > sizeof line - 3)
        n = (int)sizeof line - 3; /* cut: keep the line closed */
    line[n++] = '}';
    line[n++] = '\n';
    ssize_t w = write(log_fd, line, (size_t)n);
    (void)w; /* a log line that cannot be written is not worth failing for */
}
