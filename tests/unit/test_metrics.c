/* Tests for net/metrics.c: registration rules, exact counts under
 * concurrent updates, histogram buckets, and a real scrape of /metrics over
 * 127.0.0.1 (plus 404 for other paths). */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics.h"

/* GET path from 127.0.0.1:port; returns the whole response (malloc'd). */
static char *http_get(uint16_t port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while ((r = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fd);
    return buf;
}

static certa_metric *ctr;
static void *bump(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++)
        certa_metric_add(ctr, 1);
    return NULL;
}

Test(metrics, registration_rules)
{
    certa_metrics *m = NULL;
    cr_assert_eq(certa_metrics_create(&m, NULL), CERTA_OK);
    certa_errinfo ei;
    cr_assert_not_null(certa_metrics_counter(m, "certa_events_total", "result=\"ok\"", "events", &ei));
    cr_assert_not_null(certa_metrics_counter(m, "certa_events_total", "result=\"bad_code\"", NULL, &ei));
    cr_assert_null(certa_metrics_counter(m, "certa_events_total", "result=\"ok\"", NULL, &ei));
    cr_assert_eq(ei.code, CERTA_E_EXISTS);
    cr_assert_null(certa_metrics_gauge(m, "certa_events_total", NULL, NULL, &ei));
    cr_assert_eq(ei.code, CERTA_E_EXISTS);
    cr_assert_null(certa_metrics_gauge(m, "9lives", NULL, NULL, &ei));
    cr_assert_eq(ei.code, CERTA_E_ARG);
    double bad[] = { 1.0, 1.0 };
    cr_assert_null(certa_metrics_histogram(m, "h", NULL, NULL, bad, 2, &ei));
    certa_metrics_free(m);
}

Test(metrics, scrape_over_http)
{
    certa_metrics *m = NULL;
    cr_assert_eq(certa_metrics_create(&m, NULL), CERTA_OK);
    ctr = certa_metrics_counter(m, "certa_blocks_committed_total", NULL, "Blocks committed", NULL);
    certa_metric *ok = certa_metrics_counter(m, "certa_events_total", "result=\"ok\"", "Events by result", NULL);
    certa_metric *rej = certa_metrics_counter(m, "certa_events_total", "result=\"code_wrong\"", NULL, NULL);
    certa_metric *view = certa_metrics_gauge(m, "certa_view", NULL, "Current view", NULL);
    double b[] = { 0.001, 0.01, 0.1 };
    certa_metric *lat = certa_metrics_histogram(m, "certa_commit_latency_seconds", NULL,
                                                "Submit to commit", b, 3, NULL);
    cr_assert(ctr && ok && rej && view && lat);

    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, bump, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(certa_metric_value(ctr), 200000.0);
    certa_metric_add(ok, 7);
    certa_metric_add(rej, 2);
    certa_metric_set(view, 3);
    certa_metric_gauge_add(view, 1.5);
    certa_metric_observe(lat, 0.0005);
    certa_metric_observe(lat, 0.005);
    certa_metric_observe(lat, 0.005);
    certa_metric_observe(lat, 5.0);

    uint16_t port = 0;
    certa_errinfo ei;
    cr_assert_eq(certa_metrics_serve(m, "127.0.0.1", 0, &port, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert_gt(port, 0);
    char *r = http_get(port, "/metrics");
    cr_assert_not_null(strstr(r, "HTTP/1.0 200") ?: strstr(r, "HTTP/1.1 200"), "%s", r);
    cr_assert_not_null(strstr(r, "text/plain; version=0.0.4"));
    cr_assert_not_null(strstr(r, "# TYPE certa_blocks_committed_total counter\n"
                                 "certa_blocks_committed_total 200000\n"), "%s", r);
    cr_assert_not_null(strstr(r, "certa_events_total{result=\"ok\"} 7\n"));
    cr_assert_not_null(strstr(r, "certa_events_total{result=\"code_wrong\"} 2\n"));
    const char *first = strstr(r, "# TYPE certa_events_total");
    cr_assert_not_null(first);
    cr_assert_null(strstr(first + 1, "# TYPE certa_events_total"), "TYPE once per name");
    cr_assert_not_null(strstr(r, "certa_view 4.5\n"), "%s", r);
    cr_assert_not_null(strstr(r, "certa_commit_latency_seconds_bucket{le=\"0.001\"} 1\n"), "%s", r);
    cr_assert_not_null(strstr(r, "certa_commit_latency_seconds_bucket{le=\"0.01\"} 3\n"));
    cr_assert_not_null(strstr(r, "certa_commit_latency_seconds_bucket{le=\"0.1\"} 3\n"), "%s", r);
    cr_assert_not_null(strstr(r, "certa_commit_latency_seconds_sum 5.0105\n"), "%s", r);
    cr_assert_not_null(strstr(r, "certa_commit_latency_seconds_bucket{le=\"+Inf\"} 4\n"));
    cr_assert_not_null(strstr(r, "certa_commit_latency_seconds_count 4\n"));
    free(r);

    /* Values move between scrapes; other paths are 404. */
    certa_metric_add(ok, 1);
    r = http_get(port, "/metrics");
    cr_assert_not_null(strstr(r, "certa_events_total{result=\"ok\"} 8\n"));
    free(r);
    r = http_get(port, "/");
    cr_assert_not_null(strstr(r, " 404 "), "%s", r);
    free(r);
    cr_assert_null(certa_metrics_counter(m, "late", NULL, NULL, &ei), "no registration after serving");
    certa_metrics_free(m);
}
