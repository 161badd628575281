/* gateway_route: the gateway's paths to queries (see gateway_route.h).
 * Every argument is checked as `certa query` checks its command line:
 * decimal numbers without sign or spaces, ids of exactly their hex length,
 * an integrator name of 1..63 bytes without '/'; the limits are those of
 * engine/query.h. */
#include "gateway_route.h"

#include <stdio.h>
#include <string.h>

#include "certa/certa.h"
#include "../engine/query.h"
#include "cli.h"

static bool paging(const char *cursor, const char *limit, certa_cp_query *q,
                   uint32_t limit_max, char *why, size_t why_len)
{
    unsigned long long v;
    q->limit = CERTA_QUERY_LIMIT_DEFAULT;
    if (cursor != NULL) {
        if (certa_parse_u64(cursor, 0, UINT64_MAX, &v) != 0) {
            snprintf(why, why_len, "cursor: not a number");
            return false;
        }
        q->cursor = v;
    }
    if (limit != NULL) {
        if (certa_parse_u64(limit, 1, limit_max, &v) != 0) {
            snprintf(why, why_len, "limit: 1 to %u", limit_max);
            return false;
        }
        q->limit = (uint32_t)v;
    }
    return true;
}

static bool hex_id(const char *arg, uint8_t *out, size_t bytes)
{
    return strlen(arg) == 2 * bytes && certa_hex_decode(arg, out, bytes) == CERTA_OK;
}

size_t certa_gw_unescape(char *s)
{
    static const char hexd[] = "0123456789abcdef0123456789ABCDEF";
    char *w = s;
    for (const char *r = s; *r != '\0'; r++) {
        const char *h1 = r[0] == '%' && r[1] != '\0' ? strchr(hexd, r[1]) : NULL;
        const char *h2 = h1 != NULL && r[2] != '\0' ? strchr(hexd, r[2]) : NULL;
        unsigned v = h2 != NULL ? (unsigned)((h1 - hexd) % 16) * 16u + (unsigned)((h2 - hexd) % 16)
                                : 0u;
        if (h2 != NULL && v != 0) {
            *w++ = (char)v;
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

unsigned certa_gw_route(const char *path, const char *cursor, const char *limit,
                        certa_cp_query *q, char *why, size_t why_len)
{
    memset(q, 0, sizeof *q);
    if (why_len > 0)
        why[0] = '\0';
    unsigned long long h;
    if (strcmp(path, "/v1/status") == 0) {
        q->kind = CERTA_QUERY_STATUS;
        return 0;
    }
    if (strncmp(path, "/v1/blocks/", 11) == 0) {
        if (certa_parse_u64(path + 11, 0, UINT64_MAX, &h) != 0) {
            snprintf(why, why_len, "block height: not a number");
            return 400;
        }
        q->kind = CERTA_QUERY_BLOCK;
        q->height = h;
        return paging(cursor, limit, q, CERTA_QUERY_BLOCK_EVENTS_MAX, why, why_len) ? 0 : 400;
    }
    if (strncmp(path, "/v1/grants/", 11) == 0) {
        if (!hex_id(path + 11, q->grant_id, CERTA_GRANT_ID_BYTES)) {
            snprintf(why, why_len, "grant id: %d hex digits", 2 * CERTA_GRANT_ID_BYTES);
            return 400;
        }
        q->kind = CERTA_QUERY_GRANT;
        return paging(cursor, limit, q, CERTA_QUERY_RECORDS_MAX, why, why_len) ? 0 : 400;
    }
    if (strncmp(path, "/v1/holders/", 12) == 0) {
        if (!hex_id(path + 12, q->holder_id, CERTA_HOLDER_ID_BYTES)) {
            snprintf(why, why_len, "holder id: %d hex digits", 2 * CERTA_HOLDER_ID_BYTES);
            return 400;
        }
        q->kind = CERTA_QUERY_HOLDER;
        return paging(cursor, limit, q, CERTA_QUERY_RECORDS_MAX, why, why_len) ? 0 : 400;
    }
    if (strncmp(path, "/v1/integrators/", 16) == 0) {
        const char *arg = path + 16;
        size_t n = strlen(arg);
        if (n == 0 || n > CERTA_CP_QUERY_NAME_MAX || strchr(arg, '/') != NULL) {
            snprintf(why, why_len, "integrator name: 1 to %u bytes without '/'",
                     CERTA_CP_QUERY_NAME_MAX);
            return 400;
        }
        q->kind = CERTA_QUERY_INTEGRATOR;
        memcpy(q->name, arg, n + 1);
        return 0;
    }
    return 404;
}

/* Reads a decimal in [min, max] without a leading zero (except "0"
 * itself); advances *p past it. */
static bool small_decimal(const char **p, unsigned min, unsigned max)
{
    const char *s = *p;
    unsigned v = 0;
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9' && n < 4)
        v = v * 10u + (unsigned)(s[n++] - '0');
    if (n == 0 || (n > 1 && s[0] == '0') || (s[n] >= '0' && s[n] <= '9') || v < min || v > max)
        return false;
    *p = s + n;
    return true;
}

bool certa_gw_tile_path(const char *path)
{
    if (strcmp(path, "/checkpoint") == 0)
        return true;
    if (strncmp(path, "/tile/", 6) != 0)
        return false;
    const char *p = path + 6;
    if (strncmp(p, "entries/", 8) == 0)
        p += 8;
    else if (!small_decimal(&p, 0, 63) || *p++ != '/')
        return false;
    /* x000/ ... elements, then the last three digits; at most 7 elements
     * (a 64-bit index has 20 digits) */
    for (int k = 0;; k++) {
        if (k == 7)
            return false;
        bool x = *p == 'x';
        p += x;
        for (int d = 0; d < 3; d++, p++)
            if (*p < '0' || *p > '9')
                return false;
        if (!x)
            break;
        if (*p++ != '/')
            return false;
    }
    if (*p == '\0')
        return true;
    if (strncmp(p, ".p/", 3) != 0)
        return false;
    p += 3;
    return small_decimal(&p, 1, 255) && *p == '\0';
}
