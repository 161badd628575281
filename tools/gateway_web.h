/* gateway_web: the gateway's web page (the HTML, JS and CSS files of web/), compiled
 * into the binary by cmake/embed_web.cmake. A path is looked up in that
 * fixed table by exact comparison: no file system is touched, so no path
 * ("/../x", "%2e%2e", "//etc/passwd") can reach anything but the table. */
#ifndef CERTA_TOOLS_GATEWAY_WEB_H
#define CERTA_TOOLS_GATEWAY_WEB_H

#include <stddef.h>

typedef struct certa_gw_asset {
    const char *path; /* "/index.html", "/app.js", ... */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
} certa_gw_asset;

extern const certa_gw_asset certa_gw_assets[];
extern const size_t certa_gw_asset_count;

/* The asset served at path ("/" is /index.html), or NULL. */
const certa_gw_asset *certa_gw_asset_find(const char *path);

#endif
