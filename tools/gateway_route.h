/* gateway_route: maps an HTTP request path (and its cursor and limit query
 * arguments) of the gateway's public read API to a client-protocol query.
 * Pure and bounded: no allocation, no I/O; the fuzz target
 * tests/fuzz/fuzz_gateway_route.c drives it with hostile paths. */
#ifndef CERTA_TOOLS_GATEWAY_ROUTE_H
#define CERTA_TOOLS_GATEWAY_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "certa/client.h"

/* Returns 0 with q filled, 404 for a path that is none of the API's, or 400
 * with why (NUL-terminated, at most why_len bytes) naming the bad argument.
 * cursor and limit are the query-string values, NULL when absent. */
unsigned certa_gw_route(const char *path, const char *cursor, const char *limit,
                        certa_cp_query *q, char *why, size_t why_len);

/* True when path is "/checkpoint" or a path of the C2SP tlog-tiles layout:
 * "/tile/" then a level (0..63, no leading zero) or "entries", then an
 * index as three-digit elements, all but the last prefixed with "x", then
 * optionally ".p/" and a width of 1..255 (no leading zero). Nothing else,
 * so a path that passes names a file under the tiles directory and no
 * other ("..", "//", a dot file, a NUL never pass). */
bool certa_gw_tile_path(const char *path);

/* Percent-decodes s in place (%XX, either case), as libmicrohttpd does, but
 * keeps "%00" as it is, so that a decoded NUL never cuts a path short
 * ("/index.html%00.js" is not "/index.html"). Returns the new length,
 * never more than the old one. */
size_t certa_gw_unescape(char *s);

#endif
