/* metrics: registry and Prometheus text exposition over libmicrohttpd (see
 * metrics.h). Invariants: the metric table is fixed after start-up (the
 * server only reads it); values are C11 atomics, doubles stored as their
 * bit patterns and updated by compare-and-swap. */
#include "metrics.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <microhttpd.h>

typedef enum mtype { M_COUNTER = 1, M_GAUGE = 2, M_HISTOGRAM = 3 } mtype;

struct certa_metric {
    mtype type;
    char name[CERTA_METRICS_NAME_BYTES];
    char labels[CERTA_METRICS_LABELS_BYTES];
    char help[CERTA_METRICS_HELP_BYTES];
    _Atomic uint64_t count;   /* counter value; histogram observation count */
    _Atomic uint64_t dbits;   /* gauge value; histogram sum (double bits) */
    uint32_t nb;
    double bounds[CERTA_METRICS_BUCKETS_MAX];
    _Atomic uint64_t buckets[CERTA_METRICS_BUCKETS_MAX]; /* non-cumulative */
};

struct certa_metrics {
    certa_metric *items[CERTA_METRICS_MAX];
    uint32_t n;
    struct MHD_Daemon *daemon;
};

static uint64_t d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

certa_err certa_metrics_create(certa_metrics **out, certa_errinfo *ei)
{
    certa_metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "allocating the metrics registry");
    *out = m;
    return CERTA_OK;
}

void certa_metrics_free(certa_metrics *m)
{
    if (m == NULL)
        return;
    if (m->daemon != NULL)
        MHD_stop_daemon(m->daemon);
    for (uint32_t i = 0; i < m->n; i++)
        free(m->items[i]);
    free(m);
}

static bool name_ok(const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) >= CERTA_METRICS_NAME_BYTES)
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static certa_metric *reg(certa_metrics *m, mtype type, const char *name,
                         const char *labels, const char *help, certa_errinfo *ei)
{
    CERTA_ASSERT(m != NULL);
    if (m->daemon != NULL) {
        certa_errorf(ei, CERTA_E_STATE, "metric %s: registered after serving", name);
        return NULL;
    }
    if (!name_ok(name)) {
        certa_errorf(ei, CERTA_E_ARG, "metric name \"%s\" is not a Prometheus name",
                     name ? name : "(null)");
        return NULL;
    }
    if (labels == NULL)
        labels = "";
    if (strlen(labels) >= CERTA_METRICS_LABELS_BYTES || strchr(labels, '\n') ||
        (help && (strlen(help) >= CERTA_METRICS_HELP_BYTES || strchr(help, '\n')))) {
        certa_errorf(ei, CERTA_E_ARG, "metric %s: labels or help too long", name);
        return NULL;
    }
    for (uint32_t i = 0; i < m->n; i++) {
        certa_metric *x = m->items[i];
        if (strcmp(x->name, name) != 0)
            continue;
        if (x->type != type) {
            certa_errorf(ei, CERTA_E_EXISTS, "metric %s: registered with another type", name);
            return NULL;
        }
        if (strcmp(x->labels, labels) == 0) {
            certa_errorf(ei, CERTA_E_EXISTS, "metric %s{%s}: registered twice", name, labels);
            return NULL;
        }
    }
    if (m->n == CERTA_METRICS_MAX) {
        certa_errorf(ei, CERTA_E_LIMIT, "metric %s: more than %u metrics", name,
                     CERTA_METRICS_MAX);
        return NULL;
    }
    certa_metric *x = calloc(1, sizeof *x);
    if (x == NULL) {
        certa_errorf(ei, CERTA_E_NOMEM, "allocating metric %s", name);
        return NULL;
    }
    x->type = type;
    snprintf(x->name, sizeof x->name, "%s", name);
    snprintf(x->labels, sizeof x->labels, "%s", labels);
    snprintf(x->help, sizeof x->help, "%s", help ? help : "");
    atomic_init(&x->dbits, d2u(0.0));
    m->items[m->n++] = x;
    return x;
}

certa_metric *certa_metrics_counter(certa_metrics *m, const char *name,
                                    const char *labels, const char *help,
                                    certa_errinfo *ei)
{
    return reg(m, M_COUNTER, name, labels, help, ei);
}

certa_metric *certa_metrics_gauge(certa_metrics *m, const char *name,
                                  const char *labels, const char *help,
                                  certa_errinfo *ei)
{
    return reg(m, M_GAUGE, name, labels, help, ei);
}

certa_metric *certa_metrics_histogram(certa_metrics *m, const char *name,
                                      const char *labels, const char *help,
                                      const double *bounds, uint32_t n,
                                      certa_errinfo *ei)
{
    if (n == 0 || n > CERTA_METRICS_BUCKETS_MAX) {
        certa_errorf(ei, CERTA_E_ARG, "histogram %s: %u buckets (1..%u)", name, n,
                     CERTA_METRICS_BUCKETS_MAX);
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
            certa_errorf(ei, CERTA_E_ARG, "histogram %s: bounds must be finite and "
                         "strictly increasing", name);
            return NULL;
        }
    }
    certa_metric *x = reg(m, M_HISTOGRAM, name, labels, help, ei);
    if (x != NULL) {
        x->nb = n;
        memcpy(x->bounds, bounds, n * sizeof *bounds);
    }
    return x;
}

void certa_metric_add(certa_metric *c, uint64_t delta)
{
    CERTA_ASSERT(c != NULL && c->type == M_COUNTER);
    atomic_fetch_add_explicit(&c->count, delta, memory_order_relaxed);
}

static void dbits_add(_Atomic uint64_t *a, double delta)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, d2u(u2d(old) + delta),
                                                  memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

void certa_metric_set(certa_metric *g, double value)
{
    CERTA_ASSERT(g != NULL && g->type == M_GAUGE);
    atomic_store_explicit(&g->dbits, d2u(value), memory_order_relaxed);
}

void certa_metric_gauge_add(certa_metric *g, double delta)
{
    CERTA_ASSERT(g != NULL && g->type == M_GAUGE);
    dbits_add(&g->dbits, delta);
}

void certa_metric_observe(certa_metric *h, double value)
{
    CERTA_ASSERT(h != NULL && h->type == M_HISTOGRAM);
    uint32_t i = 0;
    while (i < h->nb && value > h->bounds[i])
        i++;
    if (i < h->nb)
        atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    dbits_add(&h->dbits, value);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

double certa_metric_value(const certa_metric *x)
{
    CERTA_ASSERT(x != NULL && x->type != M_HISTOGRAM);
    if (x->type == M_COUNTER)
        return (double)atomic_load_explicit(&((certa_metric *)x)->count, memory_order_relaxed);
    return u2d(atomic_load_explicit(&((certa_metric *)x)->dbits, memory_order_relaxed));
}

/* A growable text buffer used only while rendering a scrape. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *q = realloc(b->p, cap);
        if (q == NULL) {
            b->failed = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

/* Prometheus float: +Inf, -Inf, NaN, else shortest round-trip form. */
static void fmt_double(char out[40], double v)
{
    if (isnan(v))
        snprintf(out, 40, "NaN");
    else if (isinf(v))
        snprintf(out, 40, v > 0 ? "+Inf" : "-Inf");
    else {
        for (int prec = 6; prec <= 17; prec++) { /* shortest exact form */
            snprintf(out, 40, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                return;
        }
    }
}

char *certa_metrics_render(certa_metrics *m, size_t *len_out)
{
    sbuf b = { malloc(4096), 0, 4096, false };
    if (b.p == NULL)
        return NULL;
    b.p[0] = '\0';
    static const char *const tnames[] = { "", "counter", "gauge", "histogram" };
    for (uint32_t i = 0; i < m->n; i++) {
        certa_metric *x = m->items[i];
        bool first = true;
        for (uint32_t k = 0; k < i && first; k++)
            first = strcmp(m->items[k]->name, x->name) != 0;
        if (first) {
            if (x->help[0])
                sb_printf(&b, "# HELP %s %s\n", x->name, x->help);
            sb_printf(&b, "# TYPE %s %s\n", x->name, tnames[x->type]);
        }
        const char *lb = x->labels[0] ? "{" : "", *le = x->labels[0] ? "}" : "";
        char num[40];
        if (x->type == M_COUNTER) {
            sb_printf(&b, "%s%s%s%s %llu\n", x->name, lb, x->labels, le,
                      (unsigned long long)atomic_load(&x->count));
        } else if (x->type == M_GAUGE) {
            fmt_double(num, u2d(atomic_load(&x->dbits)));
            sb_printf(&b, "%s%s%s%s %s\n", x->name, lb, x->labels, le, num);
        } else {
            uint64_t cum = 0;
            const char *sep = x->labels[0] ? "," : "";
            for (uint32_t k = 0; k < x->nb; k++) {
                cum += atomic_load(&x->buckets[k]);
                fmt_double(num, x->bounds[k]);
                sb_printf(&b, "%s_bucket{%s%sle=\"%s\"} %llu\n", x->name, x->labels,
                          sep, num, (unsigned long long)cum);
            }
            uint64_t count = atomic_load(&x->count);
            if (count < cum)
                count = cum; /* a racing observation counted in a bucket first */
            sb_printf(&b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", x->name, x->labels, sep,
                      (unsigned long long)count);
            fmt_double(num, u2d(atomic_load(&x->dbits)));
            sb_printf(&b, "%s_sum%s%s%s %s\n", x->name, lb, x->labels, le, num);
            sb_printf(&b, "%s_count%s%s%s %llu\n", x->name, lb, x->labels, le,
                      (unsigned long long)count);
        }
    }
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    if (len_out != NULL)
        *len_out = b.len;
    return b.p;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_size;
    (void)con_cls;
    certa_metrics *m = cls;
    struct MHD_Response *resp;
    unsigned status;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char msg[] = "only GET\n";
        resp = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg,
                                               MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    } else if (strcmp(url, "/metrics") != 0) {
        static const char msg[] = "not found: metrics are at /metrics\n";
        resp = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg,
                                               MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_NOT_FOUND;
    } else {
        size_t len = 0;
        char *text = certa_metrics_render(m, &len);
        if (text == NULL)
            return MHD_NO;
        resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL) {
            free(text);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
        status = MHD_HTTP_OK;
    }
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

certa_err certa_metrics_serve(certa_metrics *m, const char *host, uint16_t port,
                              uint16_t *port_out, certa_errinfo *ei)
{
    CERTA_ASSERT(m != NULL && host != NULL);
    if (m->daemon != NULL)
        return certa_errorf(ei, CERTA_E_STATE, "metrics: already serving");
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return certa_errorf(ei, CERTA_E_CONFIG, "metrics: \"%s\" is not an IPv4 "
                            "address", host);
    m->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                                 port, NULL, NULL, on_request, m,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned int)16,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
                                 MHD_OPTION_END);
    if (m->daemon == NULL)
        return certa_errorf(ei, CERTA_E_NET, "metrics: cannot serve on %s:%u (port "
                            "in use?)", host, port);
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (port_out != NULL)
        *port_out = info != NULL ? info->port : port;
    return CERTA_OK;
}
