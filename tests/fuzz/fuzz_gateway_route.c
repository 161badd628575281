/* Fuzz target: the gateway's request routing (tools/gateway_route.c). The
 * input is split at its first two NUL bytes into path, cursor and limit.
 * Routing never crashes and never reads past its strings; an accepted path
 * gives a query of a known kind whose body encodes and decodes back to the
 * same query, and a refused one names its reason. The path is also
 * percent-decoded as the gateway decodes it (certa_gw_unescape): never
 * longer, never a NUL from "%00", and routed again. A path the tiles
 * grammar takes (certa_gw_tile_path) has no "..", "//" or dot file. */
#include <stdlib.h>
#include <string.h>

#include "certa/client.h"
#include "gateway_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *buf = malloc(size + 3);
    CERTA_ASSERT(buf != NULL);
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = buf[size + 2] = '\0';
    const char *path = buf;
    const char *cursor = path + strlen(path) + 1;
    const char *limit = cursor + strlen(cursor) + 1;
    if ((size_t)(cursor - buf) > size)
        cursor = NULL;
    if (cursor == NULL || (size_t)(limit - buf) > size)
        limit = NULL;
    certa_cp_query q;
    char why[128];
    char *decoded = strdup(path);
    CERTA_ASSERT(decoded != NULL);
    size_t before = strlen(decoded), after = certa_gw_unescape(decoded);
    CERTA_ASSERT(after <= before && after == strlen(decoded));
    unsigned dst = certa_gw_route(decoded, NULL, NULL, &q, why, sizeof why);
    CERTA_ASSERT(dst == 0 || dst == 404 || (dst == 400 && why[0] != '\0'));
    if (certa_gw_tile_path(decoded)) {
        CERTA_ASSERT(strstr(decoded, "..") == NULL && strstr(decoded, "//") == NULL &&
                     strstr(decoded, "/.") == NULL && decoded[0] == '/');
        CERTA_ASSERT(strcmp(decoded, "/checkpoint") == 0 || strncmp(decoded, "/tile/", 6) == 0);
    }
    free(decoded);
    unsigned st = certa_gw_route(path, cursor && *cursor ? cursor : NULL,
                                 limit && *limit ? limit : NULL, &q, why, sizeof why);
    if (st == 0) {
        CERTA_ASSERT(certa_query_kind_name(q.kind) != NULL);
        uint8_t body[CERTA_CP_QUERY_BYTES_MAX];
        size_t n = certa_cp_query_encode(&q, body);
        certa_cp_query back;
        certa_errinfo ei;
        CERTA_ASSERT(certa_cp_query_decode(body, n, &back, &ei) == CERTA_OK);
        CERTA_ASSERT(back.kind == q.kind);
    } else {
        CERTA_ASSERT(st == 404 || (st == 400 && why[0] != '\0'));
    }
    free(buf);
    return 0;
}
