/* gateway_web: asset lookup (see gateway_web.h); the table itself is
 * generated at build time. */
#include "gateway_web.h"

#include <string.h>

const certa_gw_asset *certa_gw_asset_find(const char *path)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (size_t i = 0; i < certa_gw_asset_count; i++)
        if (strcmp(path, certa_gw_assets[i].path) == 0)
            return &certa_gw_assets[i];
    return NULL;
}
