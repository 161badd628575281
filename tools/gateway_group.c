/* gateway_group: aggregation for the integrator API (--aggregate-ms),
 * small POSTs sharing one signed batch; the POSTs' own journal lines,
 * pending and outcome files are gateway_post.c's.
 *
 * With a window, a synchronous POST of at most CERTA_GW_BATCH_EVENTS events
 * joins the open group. The group's first POST (its leader) closes it once
 * the window has passed since it opened, or at once when a POST does not
 * fit, and submits it: the group's events as one signed batch, so that the
 * validators verify one signature where they verified one per POST. Every
 * POST keeps its own Idempotency-Key, journal line, pending file and status
 * document (its own events' receipts, "aggregated_in": the group's number).
 *
 * Nothing is submitted twice, in groups too: a group reserves and journals
 * a sequence range of its own, and writes DIR/batches/G.group (its POSTs,
 * in order) durably before the first send. Its batches are a function of
 * that list and the POSTs' pending files (packed as build_batches packs),
 * so a group found at a start is submitted again byte for byte and the
 * validators answer with the original receipts. A POST that was in a group
 * is never submitted alone: its retry (the same key) waits for the group,
 * and when the group failed, submits the group again. The group file and
 * its POSTs' pending files go once every POST of it has a committed
 * outcome; a failed group keeps them, for a retry or the next start.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "gateway_post_internal.h"

#define GROUP_POSTS_MAX CERTA_GW_BATCH_EVENTS
static const char group_magic[] = "certa-gateway-group 1\n";

typedef struct gmember {
    uint64_t seq; /* the POST's: its id */
    uint32_t events;
    bool again;
    char caller[CALLER_BYTES];
    char *jsonl;            /* its checked events (owned) */
    const certa_event *evs; /* as parsed (the POST's thread's), or NULL */
    certa_gw_reply *r;      /* its answer, or NULL (a resumed group) */
} gmember;

typedef struct group {
    uint64_t seq; /* its batches' first sequence number; 0 while open */
    uint32_t events, n;
    gmember m[GROUP_POSTS_MAX];
    uint64_t opened_ns; /* monotonic */
    bool closed, done;
    uint32_t refs;      /* threads holding it; the last one frees it */
    struct group *next; /* p->groups: open and running */
} group;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The open or running group that holds POST seq (p->mu held), or NULL. */
static group *group_of(certa_gw_post *p, uint64_t seq)
{
    for (group *g = p->groups; g != NULL; g = g->next)
        for (uint32_t i = 0; i < g->n; i++)
            if (g->m[i].seq == seq)
                return g;
    return NULL;
}

/* A running or resumed group by its number (p->mu held), or NULL. */
static group *group_numbered(certa_gw_post *p, uint64_t gseq)
{
    for (group *g = p->groups; g != NULL; g = g->next)
        if (g->seq == gseq)
            return g;
    return NULL;
}

/* Whether POST seq is on its way into a group (p->mu held). */
static bool joining_has(const certa_gw_post *p, uint64_t seq)
{
    for (uint32_t i = 0; i < p->njoining; i++)
        if (p->joining[i] == seq)
            return true;
    return false;
}

/* POST seq is in its group, or will not be (p->mu held). */
void gwp_joining_drop(certa_gw_post *p, uint64_t seq)
{
    for (uint32_t i = 0; i < p->njoining; i++)
        if (p->joining[i] == seq) {
            p->joining[i] = p->joining[--p->njoining];
            pthread_cond_broadcast(&p->group_cv);
            return;
        }
}

/* Drops a reference (p->mu held); the last frees the group. */
static void group_release(group *g)
{
    CERTA_ASSERT(g->refs > 0);
    if (--g->refs > 0)
        return;
    for (uint32_t i = 0; i < g->n; i++)
        free(g->m[i].jsonl);
    free(g);
}

/* Events from..from+count of bt's batches taken as one sequence. */
static void tally_range(const built *bt, uint32_t from, uint32_t count, certa_receipt *rc,
                        answer *a, tally *t)
{
    uint32_t start = 0;
    for (uint32_t i = 0; i < bt->n && count > 0; i++) {
        const certa_gw_pipe_batch *b = &bt->b[i];
        if (from < start + b->events) {
            uint32_t off = from - start, take = b->events - off < count ? b->events - off : count;
            gwp_tally_part(b, off, take, rc, a, t);
            from += take;
            count -= take;
        }
        start += b->events;
    }
    t->not_committed += count; /* events no batch holds: not committed */
}

/* Submits group g (numbered: g->seq set, its file written) and answers each
 * of its POSTs: its reply, when it waits, and its outcome file. True when
 * every POST of it committed. */
static bool group_submit(certa_gw_post *p, group *g)
{
    uint8_t *buf = malloc(CERTA_BATCH_BYTES_MAX);
    certa_receipt *rc = malloc(sizeof *rc);
    built bt = {0};
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e = buf == NULL || rc == NULL ? certa_errorf(&ei, CERTA_E_NOMEM, "out of memory")
                                            : CERTA_OK;
    if (e == CERTA_OK) {
        packer k = {.p = p, .buf = buf, .seq = g->seq, .bt = &bt};
        certa_batch_begin(&k.bb, buf, CERTA_BATCH_BYTES_MAX, (uint16_t)p->integrator_idx, g->seq);
        for (uint32_t i = 0; i < g->n && e == CERTA_OK; i++)
            e = gwp_pack_events(&k, g->m[i].jsonl, g->m[i].evs, g->m[i].events, &ei);
        if (e == CERTA_OK && k.bb.count > 0)
            e = gwp_pack_seal(&k, &ei);
        for (uint32_t i = 0; e == CERTA_OK && i < bt.n; i++)
            bt.b[i].bytes = bt.arena + bt.off[i];
        /* a group's range holds its events: a batch full in bytes early
         * takes the next number of it, never another POST's */
        CERTA_ASSERT(e != CERTA_OK || bt.n <= g->events);
    }
    free(buf);
    if (e == CERTA_OK)
        certa_gw_pipe_run(p->pipe, bt.b, bt.n);
    bool all = true;
    uint32_t from = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        gmember *m = &g->m[i];
        tally t = {0};
        answer a = {0};
        certa_gw_reply own, *r = m->r != NULL ? m->r : &own;
        memset(r, 0, sizeof *r);
        if (!gwp_answer_reserve(&a, ANSWER_HEAD_ROOM + (size_t)m->events * ANSWER_RECEIPT_BYTES)) {
            gwp_reply_error(r, 503, CERTA_E_NOMEM, "out of memory");
            r->retry_after_s = 1;
            all = false;
            from += m->events;
            continue;
        }
        a.len = ANSWER_HEAD_ROOM;
        if (e == CERTA_OK)
            tally_range(&bt, from, m->events, rc, &a, &t);
        from += m->events;
        bool complete = e == CERTA_OK && t.not_committed == 0;
        all = all && complete;
        char id[24];
        snprintf(id, sizeof id, "%" PRIu64, m->seq);
        char *head = gwp_answer_head(p, m->seq, complete, m->caller, g->seq, bt.n, m->events,
                                     t.ok, e != CERTA_OK ? m->events : t.not_committed,
                                     m->again, e != CERTA_OK ? certa_errmsg(&ei) : t.last_error,
                                     g->seq);
        gwp_answer_finish(r, complete ? 200 : 503, head, &a);
        free(head);
        if (!complete)
            r->retry_after_s = 1;
        snprintf(r->location, sizeof r->location, "/v1/batches/%s", id);
        /* the answer itself is its outcome file: a status document and a
         * retry serve it as it is */
        char path[4300];
        gwp_batch_path(p, m->seq, "json", path, sizeof path);
        if (r->body == NULL || !gwp_write_durable(p, path, r->body, r->len, "", 0)) {
            fprintf(stderr, "certa gateway: %s: cannot write the outcome of batch %s: %s\n",
                    path, id, strerror(errno));
            all = false;
        } else {
            pthread_mutex_lock(&p->mu);
            if (++p->outcomes > p->outcomes_max + p->outcomes_max / 8)
                gwp_outcomes_prune(p);
            pthread_mutex_unlock(&p->mu);
        }
        if (r == &own)
            free(own.body_alloc != NULL ? own.body_alloc : own.body);
    }
    free(rc);
    gwp_built_free(&bt);
    if (all) { /* the pending files, then the group's: each outcome is written */
        char path[4300];
        for (uint32_t i = 0; i < g->n; i++) {
            gwp_batch_path(p, g->m[i].seq, "events", path, sizeof path);
            unlink(path);
        }
        gwp_batch_path(p, g->seq, "group", path, sizeof path);
        unlink(path);
    }
    return all;
}

/* Runs a closed group (no lock held): numbers it (a journaled range of its
 * own) and writes its file unless it has both, submits it, marks it done. */
static void group_run(certa_gw_post *p, group *g)
{
    bool ok = true;
    const char *why = NULL;
    if (g->seq == 0) {
        pthread_mutex_lock(&p->mu);
        uint64_t now = gwp_wall_us(), gseq = p->next_seq > now ? p->next_seq : now;
        int fd = gwp_journal_append(p, gwp_zero_id, gwp_zero_id, gseq, g->events);
        if (fd >= 0) {
            p->next_seq = gseq + g->events;
            g->seq = gseq;
            if (p->journal_lines > p->journal_lines_max)
                (void)gwp_journal_compact(p);
        }
        pthread_mutex_unlock(&p->mu);
        ok = fd >= 0 && fdatasync(fd) == 0;
        if (fd >= 0)
            close(fd);
        why = "the gateway cannot write its journal";
        if (ok) {
            /* the list of its POSTs, durable before the first send */
            size_t cap = sizeof group_magic + (size_t)g->n * 48, len = 0;
            char *list = malloc(cap);
            ok = list != NULL;
            if (ok) {
                len = (size_t)snprintf(list, cap, "%s", group_magic);
                for (uint32_t i = 0; i < g->n; i++)
                    len += (size_t)snprintf(list + len, cap - len, "%" PRIu64 " %" PRIu32 "\n",
                                            g->m[i].seq, g->m[i].events);
                char path[4300];
                gwp_batch_path(p, g->seq, "group", path, sizeof path);
                ok = gwp_write_durable(p, path, list, len, "", 0);
            }
            free(list);
            why = "the gateway cannot write the group to its state directory";
        }
    }
    if (ok) {
        group_submit(p, g);
    } else {
        /* nothing was sent: each POST stays pending on its own (resumed
         * alone at the next start, or run alone by its retry) */
        for (uint32_t i = 0; i < g->n; i++)
            if (g->m[i].r != NULL) {
                gwp_reply_error(g->m[i].r, 503, CERTA_E_IO, why);
                g->m[i].r->retry_after_s = 5;
            }
    }
    pthread_mutex_lock(&p->mu);
    g->done = true;
    for (group **pp = &p->groups; *pp != NULL; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    pthread_cond_broadcast(&p->group_cv);
    pthread_mutex_unlock(&p->mu);
}

/* A synchronous POST (reserved, pending on disk) in the open group: returns
 * once r has its answer; false, with nothing done, when there is no room
 * for a group (the POST then runs alone). Takes jsonl on success. */
bool gwp_group_post(certa_gw_post *p, const char *caller, uint64_t seq, uint32_t events,
                       char *jsonl, const certa_event *evs, certa_gw_reply *r)
{
    pthread_mutex_lock(&p->mu);
    group *g = p->open;
    if (g != NULL && (g->events + events > CERTA_GW_BATCH_EVENTS || g->n == GROUP_POSTS_MAX)) {
        g->closed = true; /* full: its leader submits it now */
        p->open = NULL;
        pthread_cond_broadcast(&p->group_cv);
        g = NULL;
    }
    bool lead = g == NULL;
    if (lead) {
        if ((g = calloc(1, sizeof *g)) == NULL) {
            gwp_joining_drop(p, seq); /* alone, then: a retry runs alike */
            pthread_mutex_unlock(&p->mu);
            return false;
        }
        g->opened_ns = mono_ns();
        g->next = p->groups;
        p->groups = g;
        p->open = g;
    }
    gmember *me = &g->m[g->n++];
    *me = (gmember){.seq = seq, .events = events, .jsonl = jsonl, .evs = evs, .r = r};
    snprintf(me->caller, sizeof me->caller, "%s", caller);
    g->events += events;
    g->refs++;
    gwp_joining_drop(p, seq);
    if (lead) {
        uint64_t deadline = g->opened_ns + p->o.aggregate_us * 1000u;
        struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000u),
                              .tv_nsec = (long)(deadline % 1000000000u)};
        while (!g->closed && mono_ns() < deadline)
            pthread_cond_timedwait(&p->group_cv, &p->mu, &ts);
        if (p->open == g)
            p->open = NULL;
        g->closed = true;
        pthread_mutex_unlock(&p->mu);
        group_run(p, g);
        pthread_mutex_lock(&p->mu);
    }
    while (!g->done)
        pthread_cond_wait(&p->group_cv, &p->mu);
    group_release(g);
    pthread_mutex_unlock(&p->mu);
    return true;
}

/* The POSTs group gseq's file lists, in order (at most GROUP_POSTS_MAX);
 * false when it is unreadable. */
static bool group_list(const certa_gw_post *p, uint64_t gseq, uint64_t *seqs, uint32_t *events,
                       uint32_t *n)
{
    char path[4300];
    gwp_batch_path(p, gseq, "group", path, sizeof path);
    size_t len = 0;
    char *text = certa_read_file(path, sizeof group_magic + (size_t)GROUP_POSTS_MAX * 48, &len);
    bool ok = text != NULL && len >= sizeof group_magic - 1 &&
              memcmp(text, group_magic, sizeof group_magic - 1) == 0;
    char *at = ok ? text + sizeof group_magic - 1 : NULL;
    uint64_t total = 0;
    *n = 0;
    while (ok && at < text + len) {
        unsigned long long seq, ev;
        int used = 0;
        if (*n == GROUP_POSTS_MAX || sscanf(at, "%llu %llu\n%n", &seq, &ev, &used) != 2 ||
            used == 0 || ev == 0 || (total += ev) > CERTA_GW_BATCH_EVENTS) {
            ok = false;
            break;
        }
        at += used;
        seqs[*n] = seq;
        events[*n] = (uint32_t)ev;
        (*n)++;
    }
    free(text);
    return ok && *n > 0;
}

/* Group gseq as its file and its POSTs' pending files left it, registered
 * as running (p->mu held) with one reference, the runner's; NULL when they
 * cannot be read (logged). */
group *gwp_group_load(certa_gw_post *p, uint64_t gseq)
{
    group *g = calloc(1, sizeof *g);
    uint64_t seqs[GROUP_POSTS_MAX];
    uint32_t evn[GROUP_POSTS_MAX], n = 0;
    bool ok = g != NULL && group_list(p, gseq, seqs, evn, &n);
    for (uint32_t i = 0; ok && i < n; i++) {
        /* the POST's pending file: caller, events, the checked events */
        char pend[4300];
        gwp_batch_path(p, seqs[i], "events", pend, sizeof pend);
        size_t pl = 0;
        char *pt = certa_read_file(pend, 2 * CERTA_GW_BODY_BYTES_MAX + 4096, &pl);
        char *nl = pt != NULL ? strchr(pt, '\n') : NULL;
        json_t *h = nl != NULL ? json_loadb(pt, (size_t)(nl - pt), 0, NULL) : NULL;
        const char *caller = NULL;
        json_int_t ev = 0;
        gmember *m = &g->m[g->n];
        ok = h != NULL && json_unpack(h, "{s:s, s:I}", "caller", &caller, "events", &ev) == 0 &&
             ev == (json_int_t)evn[i] && (m->jsonl = strdup(nl + 1)) != NULL;
        if (ok) {
            m->seq = seqs[i];
            m->events = evn[i];
            m->again = true;
            snprintf(m->caller, sizeof m->caller, "%s", caller);
            g->n++;
            g->events += evn[i];
        }
        json_decref(h);
        free(pt);
    }
    if (!ok) {
        fprintf(stderr, "certa gateway: group %" PRIu64 ": its file or a pending file of its "
                        "POSTs is unreadable; not submitted again\n", gseq);
        if (g != NULL) {
            g->refs = 1;
            group_release(g);
        }
        return NULL;
    }
    g->seq = gseq;
    g->closed = true;
    g->refs = 1;
    g->next = p->groups;
    p->groups = g;
    return g;
}

/* Submits group gseq again from its files (a job's thread, or a retry's). */
void gwp_group_resume(certa_gw_post *p, group *g)
{
    group_run(p, g);
    pthread_mutex_lock(&p->mu);
    group_release(g);
    pthread_mutex_unlock(&p->mu);
}

/* A POST seen before (its key): when it was in a group, r gets its answer
 * (after waiting for the group, or submitting it again when it failed) and
 * true is returned; false for a POST that never was in a sent group. */
bool gwp_group_retry(certa_gw_post *p, uint64_t seq, certa_gw_reply *r)
{
    pthread_mutex_lock(&p->mu);
    group *g;
    for (;;) {
        if ((g = group_of(p, seq)) != NULL) {
            g->refs++;
            while (!g->done)
                pthread_cond_wait(&p->group_cv, &p->mu);
            group_release(g);
        } else if (joining_has(p, seq)) {
            pthread_cond_wait(&p->group_cv, &p->mu);
        } else {
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    for (int pass = 0; pass < 2; pass++) {
        char path[4300];
        gwp_batch_path(p, seq, "json", path, sizeof path);
        size_t len = 0;
        char *doc = certa_read_file(path, 64u << 20, &len);
        json_t *o = doc != NULL && (len < OUTCOME_MAGIC_LEN ||
                                    memcmp(doc, gwp_outcome_magic, OUTCOME_MAGIC_LEN) != 0)
                        ? json_loadb(doc, len, JSON_DISABLE_EOF_CHECK, NULL)
                        : NULL;
        const char *gid = NULL, *status = NULL;
        if (o == NULL || json_unpack(o, "{s:s, s:s}", "aggregated_in", &gid, "status",
                                     &status) != 0) {
            json_decref(o);
            free(doc);
            return false; /* not a group's POST: it runs as any POST */
        }
        unsigned long long gseq = strtoull(gid, NULL, 10);
        bool committed = strcmp(status, "committed") == 0;
        json_decref(o);
        char gpath[4300];
        gwp_batch_path(p, gseq, "group", gpath, sizeof gpath);
        if (committed || pass == 1 || access(gpath, F_OK) != 0) {
            memset(r, 0, sizeof *r);
            r->status = committed ? 200 : 503;
            r->retry_after_s = committed ? 0 : 1;
            r->body = doc;
            r->len = len;
            snprintf(r->location, sizeof r->location, "/v1/batches/%" PRIu64, seq);
            return true;
        }
        free(doc);
        /* the group failed: submitted again, whole (or waited for, when
         * another retry of it already runs) */
        pthread_mutex_lock(&p->mu);
        if ((g = group_numbered(p, gseq)) != NULL) {
            g->refs++;
            while (!g->done)
                pthread_cond_wait(&p->group_cv, &p->mu);
            group_release(g);
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        g = gwp_group_load(p, gseq);
        pthread_mutex_unlock(&p->mu);
        if (g != NULL)
            gwp_group_resume(p, g);
    }
    return false; /* not reached: the second pass answers */
}

/* Whether POST seq is listed by one of the n group files in gseqs. */
bool gwp_group_members(const certa_gw_post *p, const uint64_t *gseqs, size_t n,
                       uint64_t **out, size_t *count)
{
    uint64_t seqs[GROUP_POSTS_MAX];
    uint32_t evn[GROUP_POSTS_MAX], k = 0;
    uint64_t *all = NULL;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!group_list(p, gseqs[i], seqs, evn, &k))
            continue; /* unreadable: group_load says so */
        uint64_t *na = realloc(all, (m + k) * sizeof *na);
        if (na == NULL) {
            free(all);
            return false;
        }
        all = na;
        memcpy(all + m, seqs, k * sizeof *seqs);
        m += k;
    }
    *out = all;
    *count = m;
    return true;
}

uint32_t gwp_group_posts(const group *g)
{
    return g->n;
}
