/* report: records a replay's samples (report.h) and writes the JSON and HTML
 * reports. The series keeps one point per interval, empty intervals included,
 * so that a stall shows as a gap in throughput rather than vanishing. When a
 * run outlives the series, adjacent points merge pairwise and the interval
 * doubles (merged p50/p99 take the larger of the two: an upper bound).
 * The HTML is self-contained: inline SVG and CSS, no scripts, no fetches.
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define NS_PER_S 1000000000ull

certa_load_run *certa_load_run_new(double expected_s)
{
    certa_load_run *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    certa_load_hist_reset(&r->latency);
    certa_load_hist_reset(&r->cur);
    certa_load_hist_reset(&r->agg_wait);
    double iv = expected_s / (CERTA_LOAD_SERIES_MAX / 2);
    if (!(iv >= 1.0))
        iv = 1.0;
    r->interval_ns = (uint64_t)ceil(iv) * NS_PER_S;
    r->point_count = 1;
    r->cur_index = 0;
    r->speed = 1.0;
    snprintf(r->reason_names[0], CERTA_LOAD_REASON_NAME_BYTES, "ok");
    return r;
}

void certa_load_run_free(certa_load_run *r) { free(r); }

void certa_load_run_name_reason(certa_load_run *r, uint32_t code, const char *name)
{
    if (code >= CERTA_LOAD_REASONS_MAX || name == NULL)
        return;
    snprintf(r->reason_names[code], CERTA_LOAD_REASON_NAME_BYTES, "%s", name);
}

static void close_point(certa_load_run *r)
{
    certa_load_point *p = &r->points[r->point_count - 1];
    p->p50_ns = certa_load_hist_percentile(&r->cur, 50);
    p->p99_ns = certa_load_hist_percentile(&r->cur, 99);
}

static void compact(certa_load_run *r)
{
    uint32_t n = r->point_count / 2;
    for (uint32_t i = 0; i < n; i++) {
        certa_load_point a = r->points[2 * i], b = r->points[2 * i + 1];
        certa_load_point *m = &r->points[i];
        m->t_s = a.t_s;
        m->offered_events = a.offered_events + b.offered_events;
        m->committed_events = a.committed_events + b.committed_events;
        m->failed_events = a.failed_events + b.failed_events;
        m->p50_ns = a.p50_ns > b.p50_ns ? a.p50_ns : b.p50_ns;
        m->p99_ns = a.p99_ns > b.p99_ns ? a.p99_ns : b.p99_ns;
    }
    if (r->point_count % 2 == 1) {
        r->points[n] = r->points[r->point_count - 1];
        n++;
    }
    r->point_count = n;
    r->interval_ns *= 2;
    r->cur_index = n - 1;
}

/* Moves the current interval forward to the one holding now_ns. */
static certa_load_point *point_at(certa_load_run *r, uint64_t now_ns)
{
    uint64_t k = now_ns / r->interval_ns;
    while (k > r->cur_index) {
        close_point(r);
        certa_load_hist_reset(&r->cur);
        if (r->point_count == CERTA_LOAD_SERIES_MAX) {
            compact(r);
            k = now_ns / r->interval_ns;
            continue;
        }
        r->cur_index++;
        certa_load_point *p = &r->points[r->point_count++];
        memset(p, 0, sizeof *p);
        p->t_s = (double)(r->cur_index * r->interval_ns) / NS_PER_S;
    }
    CERTA_ASSERT(r->point_count >= 1 && r->point_count <= CERTA_LOAD_SERIES_MAX);
    return &r->points[r->point_count - 1];
}

void certa_load_run_offer(certa_load_run *r, uint64_t now_ns, uint64_t sched_ns,
                          uint32_t events)
{
    certa_load_point *p = point_at(r, now_ns);
    p->offered_events += events;
    r->offered_batches++;
    r->offered_events += events;
    if (now_ns > sched_ns) {
        uint64_t lag = now_ns - sched_ns;
        if (lag > r->send_lag_max_ns)
            r->send_lag_max_ns = lag;
        if (lag > 1000000)
            r->late_sends++;
    }
}

static uint64_t count_reasons(certa_load_run *r, const uint32_t *reasons, uint32_t slots)
{
    uint64_t events = 0;
    for (uint32_t i = 0; i < slots; i++) {
        uint32_t k = i < CERTA_LOAD_REASONS_MAX ? i : CERTA_LOAD_REASONS_MAX - 1;
        r->reason_events[k] += reasons[i];
        events += reasons[i];
    }
    return events;
}

void certa_load_run_commit(certa_load_run *r, uint64_t now_ns, uint64_t sched_ns,
                           const uint32_t *reasons, uint32_t slots)
{
    uint64_t events = count_reasons(r, reasons, slots);
    uint64_t lat = now_ns > sched_ns ? now_ns - sched_ns : 0;
    certa_load_point *p = point_at(r, now_ns);
    p->committed_events += events;
    certa_load_hist_record_n(&r->cur, lat, events);
    certa_load_hist_record_n(&r->latency, lat, events);
    r->committed_batches++;
    r->committed_events += events;
}

void certa_load_run_commit_parts(certa_load_run *r, uint64_t now_ns,
                                 const uint64_t *parts_sched_ns, const uint32_t *parts_events,
                                 uint32_t parts, const uint32_t *reasons, uint32_t slots)
{
    uint64_t events = count_reasons(r, reasons, slots);
    certa_load_point *p = point_at(r, now_ns);
    p->committed_events += events;
    for (uint32_t i = 0; i < parts; i++) {
        uint64_t lat = now_ns > parts_sched_ns[i] ? now_ns - parts_sched_ns[i] : 0;
        certa_load_hist_record_n(&r->cur, lat, parts_events[i]);
        certa_load_hist_record_n(&r->latency, lat, parts_events[i]);
    }
    r->committed_batches++;
    r->committed_events += events;
}

void certa_load_run_fail(certa_load_run *r, uint64_t now_ns, certa_load_fail kind,
                         uint32_t events)
{
    CERTA_ASSERT(kind < CERTA_LOAD_FAIL_KINDS);
    certa_load_point *p = point_at(r, now_ns);
    p->failed_events += events;
    r->failed_batches[kind]++;
    r->failed_events[kind] += events;
}

void certa_load_run_finish(certa_load_run *r, uint64_t end_ns)
{
    point_at(r, end_ns);
    close_point(r);
    r->duration_s = (double)end_ns / NS_PER_S;
}

double certa_load_run_offered_eps(const certa_load_run *r)
{
    return r->duration_s > 0 ? (double)r->offered_events / r->duration_s : 0;
}

double certa_load_run_committed_eps(const certa_load_run *r)
{
    return r->duration_s > 0 ? (double)r->committed_events / r->duration_s : 0;
}

uint64_t certa_load_run_failed_batches(const certa_load_run *r)
{
    uint64_t n = 0;
    for (int k = 0; k < CERTA_LOAD_FAIL_KINDS; k++)
        n += r->failed_batches[k];
    return n;
}

static const char *reason_name(const certa_load_run *r, uint32_t i, char *buf,
                               size_t cap)
{
    if (r->reason_names[i][0] != '\0')
        return r->reason_names[i];
    snprintf(buf, cap, "code_%u", i);
    return buf;
}

static double ms(uint64_t ns) { return (double)ns / 1e6; }

static const char *const fail_names[CERTA_LOAD_FAIL_KINDS] = {"refused", "lost",
                                                               "error"};

char *certa_load_report_json_text(const certa_load_run *r)
{
    json_t *root = json_object();
    json_object_set_new(root, "scenario", json_string(r->scenario));
    json_object_set_new(root, "trace", json_string(r->trace));
    json_object_set_new(root, "endpoints", json_string(r->endpoints));
    json_object_set_new(root, "speed", json_real(r->speed));
    json_object_set_new(root, "started_unix_ms", json_integer((json_int_t)r->started_unix_ms));
    json_object_set_new(root, "duration_s", json_real(r->duration_s));
    json_object_set_new(root, "trace_span_s", json_real(r->trace_span_s));
    json_object_set_new(root, "offered",
                        json_pack("{s:I, s:I, s:f}", "batches",
                                  (json_int_t)r->offered_batches, "events",
                                  (json_int_t)r->offered_events, "events_per_s",
                                  certa_load_run_offered_eps(r)));
    json_object_set_new(root, "committed",
                        json_pack("{s:I, s:I, s:f}", "batches",
                                  (json_int_t)r->committed_batches, "events",
                                  (json_int_t)r->committed_events, "events_per_s",
                                  certa_load_run_committed_eps(r)));
    json_t *res = json_object();
    char buf[32];
    for (uint32_t i = 0; i < CERTA_LOAD_REASONS_MAX; i++)
        if (r->reason_events[i] > 0 || i == 0)
            json_object_set_new(res, reason_name(r, i, buf, sizeof buf),
                                json_integer((json_int_t)r->reason_events[i]));
    json_object_set_new(root, "results", res);
    json_object_set_new(root, "expected_rejected_events",
                        json_integer((json_int_t)r->expected_rejected_events));
    json_t *err = json_object();
    for (int k = 0; k < CERTA_LOAD_FAIL_KINDS; k++)
        json_object_set_new(err, fail_names[k],
                            json_pack("{s:I, s:I}", "batches",
                                      (json_int_t)r->failed_batches[k], "events",
                                      (json_int_t)r->failed_events[k]));
    json_object_set_new(root, "errors", err);
    json_object_set_new(root, "send",
                        json_pack("{s:I, s:f}", "late_sends_over_1ms",
                                  (json_int_t)r->late_sends, "lag_max_ms",
                                  ms(r->send_lag_max_ns)));
    const certa_load_hist *h = &r->latency;
    json_object_set_new(
        root, "latency_ms",
        json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "count",
                  (json_int_t)h->count, "min", h->count ? ms(h->min) : 0.0,
                  "mean", certa_load_hist_mean(h) / 1e6, "p50",
                  ms(certa_load_hist_percentile(h, 50)), "p90",
                  ms(certa_load_hist_percentile(h, 90)), "p99",
                  ms(certa_load_hist_percentile(h, 99)), "p99_9",
                  ms(certa_load_hist_percentile(h, 99.9)), "p99_99",
                  ms(certa_load_hist_percentile(h, 99.99)), "max", ms(h->max)));
    if (r->aggregate_window_us > 0) {
        const certa_load_hist *w = &r->agg_wait;
        json_object_set_new(
            root, "aggregation",
            json_pack("{s:f, s:I, s:f, s:f, s:f, s:f}", "window_ms",
                      (double)r->aggregate_window_us / 1e3, "batches_sent",
                      (json_int_t)r->aggregated_batches, "events_per_batch",
                      r->aggregated_batches ? (double)r->offered_events /
                                                  (double)r->aggregated_batches
                                            : 0.0,
                      "wait_p50_ms", ms(certa_load_hist_percentile(w, 50)), "wait_p99_ms",
                      ms(certa_load_hist_percentile(w, 99)), "wait_max_ms", ms(w->max)));
    }
    json_t *series = json_array();
    double iv = (double)r->interval_ns / NS_PER_S;
    for (uint32_t i = 0; i < r->point_count; i++) {
        const certa_load_point *p = &r->points[i];
        json_array_append_new(
            series,
            json_pack("{s:f, s:f, s:f, s:I, s:f, s:f}", "t_s", p->t_s,
                      "offered_eps", (double)p->offered_events / iv,
                      "committed_eps", (double)p->committed_events / iv,
                      "failed_events", (json_int_t)p->failed_events, "p50_ms",
                      ms(p->p50_ns), "p99_ms", ms(p->p99_ns)));
    }
    json_object_set_new(root, "interval_s", json_real(iv));
    json_object_set_new(root, "series", series);
    char *out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return out;
}

static certa_err write_text(const char *path, const char *text, certa_errinfo *ei)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return certa_errorf(ei, CERTA_E_IO, "%s: %s", path, strerror(errno));
    bool ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok)
        return certa_errorf(ei, CERTA_E_IO, "%s: write failed", path);
    return CERTA_OK;
}

certa_err certa_load_report_json(const certa_load_run *r, const char *path,
                                 certa_errinfo *ei)
{
    char *text = certa_load_report_json_text(r);
    if (text == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "report %s", path);
    certa_err e = write_text(path, text, ei);
    free(text);
    return e;
}

/* ---- SVG line charts ---- */

typedef struct series {
    const char *name;
    const char *color;
    const double *x, *y;
    size_t n;
} series;

#define W 760.0
#define H 300.0
#define ML 70.0
#define MR 20.0
#define MT 30.0
#define MB 45.0

/* A "nice" step (1, 2, 5 x 10^k) giving about `ticks` ticks over span. */
static double nice_step(double span, int ticks)
{
    if (!(span > 0))
        return 1;
    double raw = span / ticks;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    double step = f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10;
    return step * mag;
}

static void fmt_num(char *buf, size_t cap, double v)
{
    double a = fabs(v);
    if (a >= 1e6)
        snprintf(buf, cap, "%.3gM", v / 1e6);
    else if (a >= 1e4)
        snprintf(buf, cap, "%.3gk", v / 1e3);
    else
        snprintf(buf, cap, "%g", v);
}

static void svg_chart(FILE *f, const char *title, const char *xlabel,
                      const char *ylabel, bool logx, const series *s, size_t ns,
                      const char *extra)
{
    double xmin = INFINITY, xmax = -INFINITY, ymax = 0;
    for (size_t k = 0; k < ns; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            double x = s[k].x[i];
            if (logx && !(x > 0))
                continue;
            xmin = fmin(xmin, x);
            xmax = fmax(xmax, x);
            ymax = fmax(ymax, s[k].y[i]);
        }
    if (!isfinite(xmin)) {
        xmin = logx ? 0.1 : 0;
        xmax = logx ? 10 : 1;
    }
    if (logx) {
        xmin = pow(10, floor(log10(xmin)));
        xmax = pow(10, ceil(log10(xmax)));
        if (xmax <= xmin)
            xmax = xmin * 10;
    } else {
        if (xmax <= xmin)
            xmax = xmin + 1;
    }
    double ystep = nice_step(ymax > 0 ? ymax : 1, 5);
    double ytop = ceil((ymax > 0 ? ymax : 1) / ystep) * ystep;
    double pw = W - ML - MR, ph = H - MT - MB;
#define PX(x) (ML + (logx ? (log10(x) - log10(xmin)) / (log10(xmax) - log10(xmin)) \
                          : ((x) - xmin) / (xmax - xmin)) * pw)
#define PY(y) (MT + ph - (y) / ytop * ph)
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" role=\"img\">\n%s", W, H, W, H,
            extra != NULL ? extra : "");
    fprintf(f, "<text x=\"%.0f\" y=\"18\" class=\"t\">%s</text>\n", ML, title);
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" class=\"frame\"/>\n",
            ML, MT, pw, ph);
    char buf[32];
    for (double y = 0; y <= ytop + ystep / 2; y += ystep) {
        fmt_num(buf, sizeof buf, y);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" class=\"yl\">%s</text>\n",
                ML, PY(y), ML + pw, PY(y), ML - 6, PY(y) + 4, buf);
    }
    if (logx) {
        for (double x = xmin; x <= xmax * 1.0001; x *= 10) {
            fmt_num(buf, sizeof buf, x);
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\" class=\"xl\">%s</text>\n",
                    PX(x), MT, PX(x), MT + ph, PX(x), MT + ph + 16, buf);
        }
    } else {
        double xstep = nice_step(xmax - xmin, 8);
        for (double x = ceil(xmin / xstep) * xstep; x <= xmax + xstep / 1e6; x += xstep) {
            fmt_num(buf, sizeof buf, x);
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\" class=\"xl\">%s</text>\n",
                    PX(x), MT, PX(x), MT + ph, PX(x), MT + ph + 16, buf);
        }
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"xl\">%s</text>\n", ML + pw / 2,
            H - 6, xlabel);
    fprintf(f, "<text x=\"14\" y=\"%.1f\" class=\"yl\" transform=\"rotate(-90 14 %.1f)\">%s</text>\n",
            MT + ph / 2, MT + ph / 2, ylabel);
    for (size_t k = 0; k < ns; k++) {
        fprintf(f, "<polyline class=\"line\" stroke=\"%s\" points=\"", s[k].color);
        for (size_t i = 0; i < s[k].n; i++) {
            double x = s[k].x[i];
            if (logx && !(x > 0))
                continue;
            fprintf(f, "%.1f,%.1f ", PX(x), PY(s[k].y[i]));
        }
        fprintf(f, "\"/>\n");
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"3\" fill=\"%s\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" class=\"lg\">%s</text>\n",
                ML + pw - 170, MT + 12 + 16.0 * (double)k, s[k].color,
                ML + pw - 152, MT + 17 + 16.0 * (double)k, s[k].name);
    }
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
}

/* The plotted series of a run: time, offered and committed events/s, p50
 * and p99 per interval, and the CDF of the whole run. */
typedef struct plot_data {
    double *buf;
    size_t n, cn;
    double *t, *off, *com, *p50, *p99, *cx, *cy;
} plot_data;

static bool plot_data_make(const certa_load_run *r, plot_data *d)
{
    size_t n = r->point_count, cap = CERTA_LOAD_HIST_BUCKETS;
    d->buf = calloc(5 * n + 2 * cap + 2, sizeof *d->buf);
    if (d->buf == NULL)
        return false;
    d->n = n;
    d->t = d->buf;
    d->off = d->t + n;
    d->com = d->off + n;
    d->p50 = d->com + n;
    d->p99 = d->p50 + n;
    d->cx = d->p99 + n;
    d->cy = d->cx + cap;
    double iv = (double)r->interval_ns / NS_PER_S;
    for (size_t i = 0; i < n; i++) {
        d->t[i] = r->points[i].t_s;
        d->off[i] = (double)r->points[i].offered_events / iv;
        d->com[i] = (double)r->points[i].committed_events / iv;
        d->p50[i] = ms(r->points[i].p50_ns);
        d->p99[i] = ms(r->points[i].p99_ns);
    }
    uint64_t seen = 0;
    const certa_load_hist *h = &r->latency;
    d->cn = 0;
    for (uint32_t i = 0; i < CERTA_LOAD_HIST_BUCKETS && h->count > 0; i++) {
        if (h->buckets[i] == 0)
            continue;
        seen += h->buckets[i];
        d->cx[d->cn] = ms(certa_load_hist_bucket_value(h, i));
        d->cy[d->cn] = 100.0 * (double)seen / (double)h->count;
        d->cn++;
    }
    return true;
}

static void plot(FILE *f, const plot_data *d, int which, const char *extra)
{
    if (which == 0) {
        series thr[2] = {{"offered", "#1f77b4", d->t, d->off, d->n},
                         {"committed", "#2ca02c", d->t, d->com, d->n}};
        svg_chart(f, "Throughput", "seconds since start", "events/s", false, thr, 2, extra);
    } else if (which == 1) {
        series lat[2] = {{"p50", "#1f77b4", d->t, d->p50, d->n},
                         {"p99", "#d62728", d->t, d->p99, d->n}};
        svg_chart(f, "Commit latency from scheduled time", "seconds since start", "ms",
                  false, lat, 2, extra);
    } else {
        series cdf[1] = {{"events committed within", "#9467bd", d->cx, d->cy, d->cn}};
        svg_chart(f, "Latency CDF", "latency (ms, log scale)", "% of events", true, cdf, 1, extra);
    }
}

static const char svg_style[] =
    "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    "<style>text{font-family:sans-serif}.t{font-weight:bold;font-size:14px}"
    ".frame{fill:none;stroke:#888}.grid{stroke:#e4e4e4}"
    ".xl{font-size:11px;text-anchor:middle}.yl{font-size:11px;text-anchor:end}"
    ".lg{font-size:12px}.line{fill:none;stroke-width:1.6}</style>\n";

certa_err certa_load_report_svgs(const certa_load_run *r, const char *prefix,
                                 certa_errinfo *ei)
{
    plot_data d;
    if (!plot_data_make(r, &d))
        return certa_errorf(ei, CERTA_E_NOMEM, "report %s", prefix);
    static const char *const names[3] = {"throughput", "latency", "cdf"};
    for (int k = 0; k < 3; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s-%s.svg", prefix, names[k]);
        FILE *f = fopen(path, "w");
        if (f == NULL) {
            free(d.buf);
            return certa_errorf(ei, CERTA_E_IO, "%s: %s", path, strerror(errno));
        }
        /* standalone: a white background and the styles the page gives */
        plot(f, &d, k, svg_style);
        bool ok = ferror(f) == 0;
        ok = (fclose(f) == 0) && ok;
        if (!ok) {
            free(d.buf);
            return certa_errorf(ei, CERTA_E_IO, "%s: write failed", path);
        }
    }
    free(d.buf);
    return CERTA_OK;
}

certa_err certa_load_report_html(const certa_load_run *r, const char *path,
                                 certa_errinfo *ei)
{
    plot_data d;
    if (!plot_data_make(r, &d))
        return certa_errorf(ei, CERTA_E_NOMEM, "report %s", path);
    double *buf = d.buf;
    const certa_load_hist *h = &r->latency;

    FILE *f = fopen(path, "w");
    if (f == NULL) {
        free(buf);
        return certa_errorf(ei, CERTA_E_IO, "%s: %s", path, strerror(errno));
    }
    fprintf(f,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            "<title>certa load report: %s</title>\n<style>\n"
            "body{font-family:sans-serif;margin:2em;color:#222}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
            "th{background:#f4f4f4}svg{display:block;margin:1em 0}"
            ".t{font-weight:bold;font-size:14px}.frame{fill:none;stroke:#888}"
            ".grid{stroke:#e4e4e4}.xl{font-size:11px;text-anchor:middle}"
            ".yl{font-size:11px;text-anchor:end}.lg{font-size:12px}"
            ".line{fill:none;stroke-width:1.6}\n</style></head><body>\n",
            r->scenario);
    fprintf(f, "<h1>certa load report</h1>\n<table>\n");
    fprintf(f, "<tr><th>scenario</th><td>%s</td></tr><tr><th>trace</th><td>%s</td></tr>"
               "<tr><th>endpoints</th><td>%s</td></tr><tr><th>speed</th><td>%g&times;</td></tr>"
               "<tr><th>wall time</th><td>%.1f s</td></tr><tr><th>trace time</th><td>%.1f s</td></tr>\n",
            r->scenario, r->trace, r->endpoints, r->speed, r->duration_s, r->trace_span_s);
    fprintf(f, "<tr><th>offered</th><td>%llu events in %llu batches, %.1f events/s</td></tr>"
               "<tr><th>committed</th><td>%llu events in %llu batches, %.1f events/s</td></tr>\n",
            (unsigned long long)r->offered_events, (unsigned long long)r->offered_batches,
            certa_load_run_offered_eps(r), (unsigned long long)r->committed_events,
            (unsigned long long)r->committed_batches, certa_load_run_committed_eps(r));
    fprintf(f, "<tr><th>latency (ms)</th><td>p50 %.2f, p90 %.2f, p99 %.2f, p99.9 %.2f, max %.2f</td></tr>\n",
            ms(certa_load_hist_percentile(h, 50)), ms(certa_load_hist_percentile(h, 90)),
            ms(certa_load_hist_percentile(h, 99)), ms(certa_load_hist_percentile(h, 99.9)),
            ms(h->max));
    char nb[32];
    fprintf(f, "<tr><th>results</th><td>");
    for (uint32_t i = 0; i < CERTA_LOAD_REASONS_MAX; i++)
        if (r->reason_events[i] > 0 || i == 0)
            fprintf(f, "%s %llu; ", reason_name(r, i, nb, sizeof nb),
                    (unsigned long long)r->reason_events[i]);
    fprintf(f, "(trace intended %llu rejections)</td></tr>\n",
            (unsigned long long)r->expected_rejected_events);
    fprintf(f, "<tr><th>failures</th><td>");
    for (int k = 0; k < CERTA_LOAD_FAIL_KINDS; k++)
        fprintf(f, "%s %llu batches; ", fail_names[k],
                (unsigned long long)r->failed_batches[k]);
    fprintf(f, "</td></tr>\n</table>\n");

    for (int k = 0; k < 3; k++)
        plot(f, &d, k, NULL);
    fprintf(f, "<p>Latency is measured from each batch's scheduled send time (open "
               "loop), so a stall shows up here instead of being hidden.</p>\n"
               "</body></html>\n");
    bool ok = ferror(f) == 0;
    ok = (fclose(f) == 0) && ok;
    free(buf);
    if (!ok)
        return certa_errorf(ei, CERTA_E_IO, "%s: write failed", path);
    return CERTA_OK;
}
