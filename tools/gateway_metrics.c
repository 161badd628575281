/* gateway_metrics: see gateway_metrics.h. The status codes are counted by
 * the handful the gateway answers with; any other lands in "other". The
 * histogram's buckets are cumulative only when rendered. */
#include "gateway_metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned statuses[] = {200, 202, 304, 400, 401, 404, 405, 413,
                                    422, 429, 431, 500, 502, 503};
#define STATUS_COUNT (sizeof statuses / sizeof statuses[0])
static const char *const class_names[CERTA_GW_CLASS_COUNT] = {
    "status", "block", "records", "genesis", "batch", "verify", "page", "other",
};
/* upper bounds in microseconds */
static const uint64_t bucket_us[] = {500, 1000, 2500, 5000, 10000, 25000, 50000,
                                     100000, 250000, 500000, 1000000, 2500000, 10000000};
#define BUCKETS (sizeof bucket_us / sizeof bucket_us[0])

static atomic_uint_fast64_t requests[CERTA_GW_CLASS_COUNT][STATUS_COUNT + 1];
static atomic_uint_fast64_t latency_bucket[CERTA_GW_CLASS_COUNT][BUCKETS + 1];
static atomic_uint_fast64_t latency_sum_us[CERTA_GW_CLASS_COUNT];
static atomic_uint_fast64_t upstream_errors, auth_failures;

certa_gw_class certa_gw_classify(const char *method, const char *path)
{
    (void)method;
    if (strcmp(path, "/v1/status") == 0)
        return CERTA_GW_CLASS_STATUS;
    if (strncmp(path, "/v1/blocks/", 11) == 0)
        return CERTA_GW_CLASS_BLOCK;
    if (strncmp(path, "/v1/grants/", 11) == 0 || strncmp(path, "/v1/holders/", 12) == 0 ||
        strncmp(path, "/v1/integrators/", 16) == 0)
        return CERTA_GW_CLASS_RECORDS;
    if (strcmp(path, "/v1/genesis") == 0)
        return CERTA_GW_CLASS_GENESIS;
    if (strcmp(path, "/v1/batches") == 0 || strncmp(path, "/v1/batches/", 12) == 0)
        return CERTA_GW_CLASS_BATCH;
    if (strcmp(path, "/v1/receipts/verify") == 0)
        return CERTA_GW_CLASS_VERIFY;
    if (strncmp(path, "/v1/", 4) != 0 && strcmp(path, "/healthz") != 0 &&
        strcmp(path, "/metrics") != 0)
        return CERTA_GW_CLASS_PAGE;
    return CERTA_GW_CLASS_OTHER;
}

void certa_gw_metrics_request(certa_gw_class c, unsigned status, uint64_t latency_us)
{
    if ((unsigned)c >= CERTA_GW_CLASS_COUNT)
        c = CERTA_GW_CLASS_OTHER;
    size_t s = STATUS_COUNT;
    for (size_t i = 0; i < STATUS_COUNT; i++)
        if (statuses[i] == status)
            s = i;
    atomic_fetch_add_explicit(&requests[c][s], 1, memory_order_relaxed);
    size_t b = 0;
    while (b < BUCKETS && latency_us > bucket_us[b])
        b++;
    atomic_fetch_add_explicit(&latency_bucket[c][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&latency_sum_us[c], latency_us, memory_order_relaxed);
}

void certa_gw_metrics_upstream_error(void)
{
    atomic_fetch_add_explicit(&upstream_errors, 1, memory_order_relaxed);
}

void certa_gw_metrics_auth_failure(void)
{
    atomic_fetch_add_explicit(&auth_failures, 1, memory_order_relaxed);
}

char *certa_gw_metrics_render(size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (f == NULL)
        return NULL;
    fputs("# HELP certa_gateway_requests_total HTTP requests answered, by path class and "
          "status.\n# TYPE certa_gateway_requests_total counter\n", f);
    for (size_t c = 0; c < CERTA_GW_CLASS_COUNT; c++)
        for (size_t s = 0; s <= STATUS_COUNT; s++) {
            uint64_t v = atomic_load_explicit(&requests[c][s], memory_order_relaxed);
            if (v == 0)
                continue;
            if (s < STATUS_COUNT)
                fprintf(f, "certa_gateway_requests_total{class=\"%s\",status=\"%u\"} %llu\n",
                        class_names[c], statuses[s], (unsigned long long)v);
            else
                fprintf(f, "certa_gateway_requests_total{class=\"%s\",status=\"other\"} %llu\n",
                        class_names[c], (unsigned long long)v);
        }
    fputs("# HELP certa_gateway_request_seconds Time from a request's arrival to its "
          "answer, by path class.\n# TYPE certa_gateway_request_seconds histogram\n", f);
    for (size_t c = 0; c < CERTA_GW_CLASS_COUNT; c++) {
        uint64_t cum = 0;
        for (size_t b = 0; b <= BUCKETS; b++) {
            cum += atomic_load_explicit(&latency_bucket[c][b], memory_order_relaxed);
            if (b < BUCKETS)
                fprintf(f, "certa_gateway_request_seconds_bucket{class=\"%s\",le=\"%g\"} "
                        "%llu\n", class_names[c], (double)bucket_us[b] / 1e6,
                        (unsigned long long)cum);
            else
                fprintf(f, "certa_gateway_request_seconds_bucket{class=\"%s\",le=\"+Inf\"} "
                        "%llu\n", class_names[c], (unsigned long long)cum);
        }
        fprintf(f, "certa_gateway_request_seconds_sum{class=\"%s\"} %.6f\n", class_names[c],
                (double)atomic_load_explicit(&latency_sum_us[c], memory_order_relaxed) / 1e6);
        fprintf(f, "certa_gateway_request_seconds_count{class=\"%s\"} %llu\n", class_names[c],
                (unsigned long long)cum);
    }
    fprintf(f, "# HELP certa_gateway_upstream_errors_total Validator queries that got no "
            "answer or a validator error.\n# TYPE certa_gateway_upstream_errors_total "
            "counter\ncerta_gateway_upstream_errors_total %llu\n",
            (unsigned long long)atomic_load_explicit(&upstream_errors, memory_order_relaxed));
    fprintf(f, "# HELP certa_gateway_auth_failures_total Requests refused for a missing or "
            "wrong bearer token.\n# TYPE certa_gateway_auth_failures_total counter\n"
            "certa_gateway_auth_failures_total %llu\n",
            (unsigned long long)atomic_load_explicit(&auth_failures, memory_order_relaxed));
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}
