/* endpoints: genesis path default and endpoint -> CURVE key resolution for
 * the client-side subcommands (see endpoints.h). */
#include "endpoints.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *certa_tool_genesis_path(const char *path)
{
    if (path != NULL)
        return path;
    const char *env = getenv("CERTA_GENESIS");
    return env != NULL && env[0] != '\0' ? env : "genesis.json";
}

static int find(const certa_genesis *g, const char *item)
{
    for (uint32_t v = 0; v < g->validator_count; v++)
        if (strcmp(g->validators[v].client_endpoint, item) == 0 ||
            strcmp(g->validators[v].name, item) == 0)
            return (int)v;
    return -1;
}

certa_err certa_tool_endpoints_resolve(const certa_genesis *g, const char *list,
                                       certa_tool_endpoints *out,
                                       certa_errinfo *ei)
{
    memset(out, 0, sizeof *out);
    if (strcmp(list, "all") == 0) {
        for (uint32_t v = 0; v < g->validator_count && v < CERTA_TOOL_ENDPOINTS_MAX; v++) {
            snprintf(out->endpoint[v], CERTA_ENDPOINT_BYTES, "%s",
                     g->validators[v].client_endpoint);
            out->validator[v] = v;
            out->count++;
        }
    } else {
        const char *p = list;
        while (*p != '\0') {
            size_t n = strcspn(p, ",");
            if (n == 0 || n >= CERTA_ENDPOINT_BYTES || out->count == CERTA_TOOL_ENDPOINTS_MAX)
                return certa_errorf(ei, CERTA_E_ARG, "bad endpoint list \"%s\"", list);
            char item[CERTA_ENDPOINT_BYTES];
            memcpy(item, p, n);
            item[n] = '\0';
            int v = find(g, item);
            if (v < 0) {
                char known[1024] = "";
                for (uint32_t k = 0; k < g->validator_count && strlen(known) < 900; k++) {
                    size_t kl = strlen(known);
                    snprintf(known + kl, sizeof known - kl, "%s%s (%s)", k ? ", " : "",
                             g->validators[k].client_endpoint, g->validators[k].name);
                }
                return certa_errorf(ei, CERTA_E_NOTFOUND, "\"%s\" is not a validator "
                                    "client endpoint of this genesis; known: %s",
                                    item, known);
            }
            snprintf(out->endpoint[out->count], CERTA_ENDPOINT_BYTES, "%s",
                     g->validators[v].client_endpoint);
            out->validator[out->count++] = (uint32_t)v;
            p += n;
            if (*p == ',')
                p++;
        }
    }
    if (out->count == 0)
        return certa_errorf(ei, CERTA_E_ARG, "no endpoint given");
    for (uint32_t i = 0; i < out->count; i++) {
        out->endpoints[i] = out->endpoint[i];
        out->server_keys[i] = g->validators[out->validator[i]].curve_pub;
    }
    return CERTA_OK;
}

certa_client_opts certa_tool_query_opts(const certa_tool_endpoints *eps, uint32_t timeout_ms)
{
    uint32_t attempt = timeout_ms / (eps->count + 1);
    return (certa_client_opts){.endpoint_count = eps->count, .endpoints = eps->endpoints,
                               .server_keys = eps->server_keys, .window = 1,
                               .deadline_ms = timeout_ms,
                               .attempt_timeout_ms = attempt > 100 ? attempt : 100,
                               .retries_max = eps->count};
}

certa_err certa_tool_query_all(const certa_tool_endpoints *eps, const certa_cp_query *q,
                               uint32_t timeout_ms, size_t body_max,
                               certa_tool_answer *answers, certa_errinfo *ei)
{
    certa_client *c[CERTA_TOOL_ENDPOINTS_MAX] = {0};
    bool done[CERTA_TOOL_ENDPOINTS_MAX] = {false};
    certa_err e = CERTA_OK;
    memset(answers, 0, (size_t)eps->count * sizeof *answers);
    for (uint32_t i = 0; i < eps->count && e == CERTA_OK; i++) {
        certa_client_opts o = {.endpoint_count = 1, .endpoints = &eps->endpoints[i],
                               .server_keys = &eps->server_keys[i], .window = 1,
                               .deadline_ms = timeout_ms, .attempt_timeout_ms = timeout_ms,
                               .retries_max = 1};
        if ((e = certa_client_open(&o, &c[i], ei)) == CERTA_OK &&
            (e = certa_client_query(c[i], q, i, NULL)) != CERTA_OK)
            certa_errorf(ei, e, "query %s: %s", eps->endpoints[i], certa_strerror(e));
    }
    for (uint32_t left = e == CERTA_OK ? eps->count : 0; left > 0;) {
        for (uint32_t i = 0; i < eps->count; i++) {
            if (done[i])
                continue;
            certa_client_reply r;
            certa_err pe = certa_client_poll(c[i], 5, &r);
            if (pe == CERTA_E_TIMEOUT || (pe == CERTA_OK && !r.final))
                continue;
            done[i] = true;
            left--;
            certa_tool_answer *a = &answers[i];
            if (pe != CERTA_OK)
                snprintf(a->why, sizeof a->why, "%s", certa_strerror(pe));
            else if (r.type != CERTA_CP_QUERY_RESULT || r.body_len < 1 ||
                     r.body_len > body_max || (a->body = malloc(r.body_len)) == NULL)
                snprintf(a->why, sizeof a->why, "%s",
                         r.type == CERTA_CP_ERROR          ? r.error.message
                         : r.type == CERTA_CP_QUERY_RESULT ? "answer too large"
                                                           : "unexpected reply");
            else {
                memcpy(a->body, r.body, r.body_len);
                a->len = r.body_len;
            }
        }
    }
    for (uint32_t i = 0; i < eps->count; i++)
        certa_client_close(c[i]);
    return e;
}

void certa_tool_answers_free(certa_tool_answer *answers, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        free(answers[i].body);
        answers[i].body = NULL;
    }
}
