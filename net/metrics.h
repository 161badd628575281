/* metrics: Prometheus counters, gauges and histograms, served over HTTP at
 * /metrics (text exposition format 0.0.4) by libmicrohttpd.
 *
 * Metrics are registered at start-up, before certa_metrics_serve, up to
 * CERTA_METRICS_MAX; registration allocates, updates never do. Updates are
 * lock-free atomics, safe from any thread; a scrape reads each value once
 * (a histogram's buckets, sum and count are read without a common lock, so
 * a scrape racing an observation may see it in some of them only, as with
 * every Prometheus client library). Several metrics may share a name with
 * different label sets (e.g. results by reason); HELP and TYPE are written
 * once per name, for the first registered.
 */
#ifndef CERTA_NET_METRICS_H
#define CERTA_NET_METRICS_H

#include "certa/certa.h"

#define CERTA_METRICS_MAX 256u
#define CERTA_METRICS_BUCKETS_MAX 32u
#define CERTA_METRICS_NAME_BYTES 96u
#define CERTA_METRICS_LABELS_BYTES 128u
#define CERTA_METRICS_HELP_BYTES 160u

typedef struct certa_metrics certa_metrics;
typedef struct certa_metric certa_metric;

certa_err certa_metrics_create(certa_metrics **out, certa_errinfo *ei);
/* Stops the server (if any) and frees every metric. */
void certa_metrics_free(certa_metrics *m);

/* Registration. name: [a-zA-Z_:][a-zA-Z0-9_:]*; labels: NULL or the inside
 * of the braces, e.g. "reason=\"bad_code\"". Returns NULL (and fills ei)
 * on a bad name, a duplicate (name, labels), a type clash with an earlier
 * metric of the same name, or when CERTA_METRICS_MAX is reached. */
certa_metric *certa_metrics_counter(certa_metrics *m, const char *name,
                                    const char *labels, const char *help,
                                    certa_errinfo *ei);
certa_metric *certa_metrics_gauge(certa_metrics *m, const char *name,
                                  const char *labels, const char *help,
                                  certa_errinfo *ei);
/* bounds: n strictly increasing upper bounds (n <= CERTA_METRICS_BUCKETS_MAX);
 * the +Inf bucket is implied. */
certa_metric *certa_metrics_histogram(certa_metrics *m, const char *name,
                                      const char *labels, const char *help,
                                      const double *bounds, uint32_t n,
                                      certa_errinfo *ei);

/* Updates (thread-safe, no allocation). The metric's type is asserted. */
void certa_metric_add(certa_metric *c, uint64_t delta);   /* counter */
void certa_metric_set(certa_metric *g, double value);     /* gauge */
void certa_metric_gauge_add(certa_metric *g, double delta);
void certa_metric_observe(certa_metric *h, double value); /* histogram */
/* Current value of a counter or gauge (tests, status). */
double certa_metric_value(const certa_metric *x);

/* Renders the exposition text into a new buffer (free with free()). */
char *certa_metrics_render(certa_metrics *m, size_t *len_out);

/* Serves GET /metrics on host:port (port 0: ephemeral) from a libmicrohttpd
 * thread; *port_out gets the bound port. Registration must be finished. */
certa_err certa_metrics_serve(certa_metrics *m, const char *host, uint16_t port,
                              uint16_t *port_out, certa_errinfo *ei);

#endif
