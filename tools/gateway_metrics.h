/* gateway_metrics: the gateway's own counters, served on GET /metrics in
 * the Prometheus text format (0.0.4), named as the validators' metrics are
 * (docs/OPERATIONS.md "Gateway"): requests by path class and status,
 * request latency as a histogram, upstream (validator) errors, refused
 * tokens. Lock-free: relaxed atomic counters in a fixed table, so counting
 * costs no allocation and no lock on the request path. */
#ifndef CERTA_TOOLS_GATEWAY_METRICS_H
#define CERTA_TOOLS_GATEWAY_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef enum certa_gw_class {
    CERTA_GW_CLASS_STATUS,    /* /v1/status */
    CERTA_GW_CLASS_BLOCK,     /* /v1/blocks/H */
    CERTA_GW_CLASS_RECORDS,   /* /v1/grants, /v1/holders, /v1/integrators */
    CERTA_GW_CLASS_GENESIS,   /* /v1/genesis */
    CERTA_GW_CLASS_BATCH,     /* POST /v1/batches, GET /v1/batches/ID */
    CERTA_GW_CLASS_VERIFY,    /* POST /v1/receipts/verify */
    CERTA_GW_CLASS_PAGE,      /* the web page's assets */
    CERTA_GW_CLASS_OTHER,     /* /healthz, /metrics, unknown paths */
    CERTA_GW_CLASS_COUNT
} certa_gw_class;

/* The class of a request path (no allocation, any string). */
certa_gw_class certa_gw_classify(const char *method, const char *path);

/* Counts one answered request; latency_us from its first byte seen. */
void certa_gw_metrics_request(certa_gw_class c, unsigned status, uint64_t latency_us);
/* Counts one validator query that got no answer or a validator error. */
void certa_gw_metrics_upstream_error(void);
/* Counts one refused bearer token. */
void certa_gw_metrics_auth_failure(void);

/* The exposition text, malloc'ed (free()), *len its length; NULL when out
 * of memory. */
char *certa_gw_metrics_render(size_t *len);

#endif
