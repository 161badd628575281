/* Tests for load/report.c, built from recorded samples (no cluster):
 * counts and rates in the JSON report, percentiles against exact ones, a
 * stall visible in the time series, failures by kind, series compaction, and
 * an HTML report that is self-contained with its three plots. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define MS 1000000ull

/* 60 s at 1,000 batches/s of 2 events; latency 5..6 ms, except a stall
 * between 30 s and 31 s where answers wait until 31.5 s. */
static certa_load_run *synthetic(uint64_t *lat_out, size_t *n_out)
{
    certa_load_run *r = certa_load_run_new(60);
    cr_assert_not_null(r);
    snprintf(r->scenario, sizeof r->scenario, "beijing");
    certa_load_run_name_reason(r, 3, "bad_code");
    size_t n = 0;
    for (uint64_t i = 0; i < 60000; i++) {
        uint64_t sched = i * MS;
        certa_load_run_offer(r, sched + 10000, sched, 2);
        uint64_t lat = 5 * MS + (i % 1000) * 1000;
        if (sched >= 30000 * MS && sched < 31000 * MS)
            lat = 31500 * MS - sched;
        lat_out[n++] = lat;
        lat_out[n++] = lat;
        uint32_t reasons[4] = {2, 0, 0, 0};
        if (i % 100 == 0) {
            reasons[0] = 1;
            reasons[3] = 1;
        }
        /* receipts arrive out of order relative to offers; feed them in
         * arrival order as replay does, by recording after the offer loop
         * has passed them: here simply at sched + lat (monotone enough for
         * the series since the recorder only moves forward) */
        certa_load_run_commit(r, sched + lat < sched + 10000 ? sched + 10000 : sched + lat,
                              sched, reasons, 4);
    }
    certa_load_run_fail(r, 59000 * MS, CERTA_LOAD_FAIL_LOST, 3);
    certa_load_run_fail(r, 59500 * MS, CERTA_LOAD_FAIL_REFUSED, 1);
    certa_load_run_finish(r, 60000 * MS);
    *n_out = n;
    return r;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

Test(load_report, json_counts_rates_and_percentiles)
{
    static uint64_t lat[120000];
    size_t n = 0;
    certa_load_run *r = synthetic(lat, &n);
    char *text = certa_load_report_json_text(r);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    cr_assert_not_null(j, "%s", je.text);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "offered"), "events")), 120000);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "committed"), "events")), 120000);
    cr_assert_float_eq(json_real_value(json_object_get(json_object_get(j, "committed"), "events_per_s")),
                       2000.0, 1e-6);
    json_t *res = json_object_get(j, "results");
    cr_assert_eq(json_integer_value(json_object_get(res, "ok")), 120000 - 600);
    cr_assert_eq(json_integer_value(json_object_get(res, "bad_code")), 600);
    json_t *err = json_object_get(j, "errors");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(err, "lost"), "events")), 3);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(err, "refused"), "batches")), 1);

    qsort(lat, n, sizeof lat[0], cmp_u64);
    json_t *l = json_object_get(j, "latency_ms");
    const double ps[] = {50, 90, 99, 99.9};
    const char *keys[] = {"p50", "p90", "p99", "p99_9"};
    for (int k = 0; k < 4; k++) {
        double want = (double)lat[(size_t)ceil(ps[k] / 100 * (double)n) - 1] / 1e6;
        double got = json_real_value(json_object_get(l, keys[k]));
        cr_assert(fabs(got - want) / want <= 0.01, "%s got %f want %f", keys[k], got, want);
    }
    /* the stall (30..31 s scheduled, answered at 31.5 s) is in the series */
    json_t *series = json_object_get(j, "series");
    cr_assert_eq(json_array_size(series), 61);
    double p99_stall = json_real_value(json_object_get(json_array_get(series, 31), "p99_ms"));
    double p99_calm = json_real_value(json_object_get(json_array_get(series, 10), "p99_ms"));
    cr_assert(p99_stall > 400, "p99 at 31 s = %f", p99_stall);
    cr_assert(p99_calm < 7, "p99 at 10 s = %f", p99_calm);
    double com_30 = json_real_value(json_object_get(json_array_get(series, 30), "committed_eps"));
    cr_assert(com_30 < 100, "committed during the stall = %f", com_30);
    json_decref(j);
    free(text);
    certa_load_run_free(r);
}

Test(load_report, html_is_self_contained_with_three_plots)
{
    static uint64_t lat[120000];
    size_t n = 0;
    certa_load_run *r = synthetic(lat, &n);
    char path[] = "/tmp/certa-report-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    certa_errinfo ei;
    cr_assert_eq(certa_load_report_html(r, path, &ei), CERTA_OK, "%s", ei.msg);
    FILE *f = fdopen(fd, "r");
    static char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    buf[len] = '\0';
    fclose(f);
    remove(path);
    int svgs = 0, lines = 0;
    for (const char *p = buf; (p = strstr(p, "<svg")) != NULL; p++)
        svgs++;
    for (const char *p = buf; (p = strstr(p, "<polyline")) != NULL; p++)
        lines++;
    cr_assert_eq(svgs, 3);
    cr_assert_eq(lines, 5);
    cr_assert_null(strstr(buf, "<script"));
    cr_assert_null(strstr(buf, "src="));
    cr_assert_null(strstr(buf, "nan"));
    cr_assert_not_null(strstr(buf, "Latency CDF"));
    cr_assert_not_null(strstr(buf, "</html>"));
    cr_assert_eq(certa_load_report_html(r, "/nonexistent/dir/r.html", &ei), CERTA_E_IO);
    certa_load_run_free(r);
}

Test(load_report, long_runs_compact_the_series)
{
    certa_load_run *r = certa_load_run_new(10); /* expects 10 s, runs 3,000 s */
    for (uint64_t s = 0; s < 3000; s++) {
        certa_load_run_offer(r, s * 1000 * MS, s * 1000 * MS, 1);
        uint32_t ok = 1;
        certa_load_run_commit(r, s * 1000 * MS + 2 * MS, s * 1000 * MS, &ok, 1);
    }
    certa_load_run_finish(r, 3000 * 1000 * MS);
    cr_assert_leq(r->point_count, CERTA_LOAD_SERIES_MAX);
    uint64_t off = 0, com = 0;
    for (uint32_t i = 0; i < r->point_count; i++) {
        off += r->points[i].offered_events;
        com += r->points[i].committed_events;
    }
    cr_assert_eq(off, 3000);
    cr_assert_eq(com, 3000);
    cr_assert_geq(r->interval_ns, 2000 * MS);
    cr_assert_float_eq(r->points[r->point_count - 1].t_s,
                       (double)((r->point_count - 1) * r->interval_ns) / 1e9, 1e-9);
    certa_load_run_free(r);
}

Test(load_report, empty_run_reports_zeros)
{
    certa_load_run *r = certa_load_run_new(0);
    certa_load_run_finish(r, 0);
    char *text = certa_load_report_json_text(r);
    json_t *j = json_loads(text, 0, NULL);
    cr_assert_not_null(j);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "committed"), "events")), 0);
    json_decref(j);
    free(text);
    certa_load_run_free(r);
}
