/* gateway_pipe: one shared, pipelined submit session (see gateway_pipe.h).
 *
 * Invariants: only the pipe's thread touches the client connection and the
 * in-flight table; tickets (one per certa_gw_pipe_run call) are queued and
 * counted down under the mutex. A ticket leaves the queue once all of its
 * batches are sent, and its caller wakes once all have their outcome, so
 * a ticket is never freed while the pipe can still reach it. The client
 * library ends every request with one final reply (receipt, validator
 * error, or its own deadline), so every in-flight entry is freed in time.
 */
#include "gateway_pipe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Polling while batches are in flight: new POSTs are picked up within this
 * (the client library has no descriptor to wake its poll with). */
#define PIPE_IDLE_POLL_MS 1
/* With the window full nothing new can be sent: wait longer for a reply. */
#define PIPE_FULL_POLL_MS 50

typedef struct ticket {
    certa_gw_pipe_batch *b;
    uint32_t n;
    uint32_t sent; /* batches handed to the thread */
    uint32_t left; /* batches without their outcome */
    pthread_cond_t done;
    struct ticket *next;
} ticket;

typedef struct flight {
    ticket *t; /* NULL: a free entry */
    uint32_t i;
} flight;

struct certa_gw_pipe {
    certa_client_opts co;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work;
    ticket *head, *tail; /* tickets with batches not yet sent */
    bool stop;
    uint32_t inflight; /* written by the thread only; read under mu */
    /* the thread's own */
    certa_client *c;
    flight *flights; /* [co.window] */
};

/* Records batch i's outcome; wakes the caller once the ticket is done. */
static void finish(certa_gw_pipe *p, ticket *t, uint32_t i)
{
    pthread_mutex_lock(&p->mu);
    CERTA_ASSERT(t->left > 0 && i < t->n);
    if (--t->left == 0)
        pthread_cond_signal(&t->done);
    pthread_mutex_unlock(&p->mu);
}

static void fail_local(certa_gw_pipe *p, ticket *t, uint32_t i, certa_err code,
                       const char *msg)
{
    certa_gw_pipe_batch *b = &t->b[i];
    b->type = CERTA_CP_ERROR;
    b->error.code = (uint16_t)code;
    b->error.retryable = true;
    b->error.retry_after_ms = 0;
    snprintf(b->error.message, sizeof b->error.message, "%s", msg);
    finish(p, t, i);
}

/* Hands batch i of t to the client library; on failure it ends at once. */
static void send_one(certa_gw_pipe *p, ticket *t, uint32_t i)
{
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (p->c == NULL && certa_client_open(&p->co, &p->c, &ei) != CERTA_OK) {
        p->c = NULL;
        fail_local(p, t, i, CERTA_E_NET, certa_errmsg(&ei));
        return;
    }
    uint32_t k = 0;
    while (k < p->co.window && p->flights[k].t != NULL)
        k++;
    CERTA_ASSERT(k < p->co.window);
    uint64_t rid;
    certa_err e = certa_client_submit(p->c, t->b[i].bytes, t->b[i].len, k, &rid);
    if (e != CERTA_OK) {
        char msg[160];
        snprintf(msg, sizeof msg, "submitting batch seq %llu: %s",
                 (unsigned long long)t->b[i].seq, certa_strerror(e));
        fail_local(p, t, i, e, msg);
        return;
    }
    p->flights[k] = (flight){t, i};
    pthread_mutex_lock(&p->mu);
    p->inflight++;
    pthread_mutex_unlock(&p->mu);
}

static void land(certa_gw_pipe *p, const certa_client_reply *r)
{
    CERTA_ASSERT(r->tag < p->co.window);
    flight *f = &p->flights[r->tag];
    CERTA_ASSERT(f->t != NULL);
    ticket *t = f->t;
    uint32_t i = f->i;
    *f = (flight){NULL, 0};
    pthread_mutex_lock(&p->mu);
    p->inflight--;
    pthread_mutex_unlock(&p->mu);
    certa_gw_pipe_batch *b = &t->b[i];
    if (r->type == CERTA_CP_RECEIPT) {
        b->body = malloc(r->body_len > 0 ? r->body_len : 1);
        if (b->body == NULL) {
            fail_local(p, t, i, CERTA_E_NOMEM, "out of memory for a receipt: post again");
            return;
        }
        memcpy(b->body, r->body, r->body_len);
        b->body_len = r->body_len;
        b->type = CERTA_CP_RECEIPT;
        finish(p, t, i);
        return;
    }
    if (r->type != CERTA_CP_ERROR) {
        fail_local(p, t, i, CERTA_E_PROTOCOL, "a validator answered a batch with a query "
                                              "result");
        return;
    }
    b->type = CERTA_CP_ERROR;
    b->error = r->error;
    finish(p, t, i);
}

/* zmq_poll itself failed: what was in flight is in doubt. Each batch ends
 * with an error (not committed: posting again under the same key resubmits
 * the same bytes, never a second execution) and the connection is renewed. */
static void drop_connection(certa_gw_pipe *p)
{
    for (uint32_t k = 0; k < p->co.window; k++) {
        flight f = p->flights[k];
        if (f.t == NULL)
            continue;
        p->flights[k] = (flight){NULL, 0};
        pthread_mutex_lock(&p->mu);
        p->inflight--;
        pthread_mutex_unlock(&p->mu);
        fail_local(p, f.t, f.i, CERTA_E_NET, "the connection to the validators failed "
                                             "while the batch was in flight");
    }
    certa_client_close(p->c);
    p->c = NULL;
}

static void *pipe_main(void *arg)
{
    certa_gw_pipe *p = arg;
    flight take[256];
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->head == NULL && p->inflight == 0)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop && p->inflight == 0) {
            /* only what nobody will send: each ends with an error */
            ticket *t = p->head;
            p->head = p->tail = NULL;
            pthread_mutex_unlock(&p->mu);
            while (t != NULL) {
                /* the last fail_local may wake its caller, whose stack
                 * holds t: the link is read before */
                ticket *next = t->next;
                for (uint32_t i = t->sent, n = t->n; i < n; i++)
                    fail_local(p, t, i, CERTA_E_STATE, "the gateway is stopping");
                t = next;
            }
            return NULL;
        }
        uint32_t ntake = 0, room = p->co.window - p->inflight;
        while (!p->stop && p->head != NULL && ntake < room && ntake < 256) {
            ticket *t = p->head;
            take[ntake++] = (flight){t, t->sent++};
            if (t->sent == t->n) {
                p->head = t->next;
                if (p->head == NULL)
                    p->tail = NULL;
            }
        }
        pthread_mutex_unlock(&p->mu);
        for (uint32_t k = 0; k < ntake; k++)
            send_one(p, take[k].t, take[k].i);
        if (p->c == NULL)
            continue;
        /* replies: all that are there, then back for new batches */
        bool full = p->inflight == p->co.window;
        int wait_ms = full ? PIPE_FULL_POLL_MS : PIPE_IDLE_POLL_MS;
        for (;;) {
            certa_client_reply r;
            certa_err e = certa_client_poll(p->c, wait_ms, &r);
            if (e == CERTA_E_NET) {
                drop_connection(p);
                break;
            }
            if (e != CERTA_OK)
                break; /* nothing more now, or nothing outstanding */
            if (r.final)
                land(p, &r); /* ACCEPTED is not final: the receipt follows */
            wait_ms = 0;
        }
    }
}

certa_err certa_gw_pipe_open(const certa_client_opts *co, certa_gw_pipe **out,
                             certa_errinfo *ei)
{
    *out = NULL;
    CERTA_ASSERT(co->window > 0);
    certa_gw_pipe *p = calloc(1, sizeof *p);
    if (p == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "out of memory");
    p->co = *co;
    p->flights = calloc(co->window, sizeof *p->flights);
    if (p->flights == NULL) {
        free(p);
        return certa_errorf(ei, CERTA_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    if (pthread_create(&p->thread, NULL, pipe_main, p) != 0) {
        free(p->flights);
        free(p);
        return certa_errorf(ei, CERTA_E_NOMEM, "cannot start the gateway's submit thread");
    }
    *out = p;
    return CERTA_OK;
}

void certa_gw_pipe_close(certa_gw_pipe *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    certa_client_close(p->c);
    free(p->flights);
    free(p);
}

void certa_gw_pipe_run(certa_gw_pipe *p, certa_gw_pipe_batch *b, uint32_t n)
{
    CERTA_ASSERT(p != NULL && (n == 0 || b != NULL));
    if (n == 0)
        return;
    for (uint32_t i = 0; i < n; i++) {
        b[i].type = 0;
        b[i].body = NULL;
        b[i].body_len = 0;
    }
    ticket t = {.b = b, .n = n, .left = n};
    pthread_cond_init(&t.done, NULL);
    pthread_mutex_lock(&p->mu);
    if (p->stop) {
        pthread_mutex_unlock(&p->mu);
        for (uint32_t i = 0; i < n; i++)
            fail_local(p, &t, i, CERTA_E_STATE, "the gateway is stopping");
    } else {
        if (p->tail != NULL)
            p->tail->next = &t;
        else
            p->head = &t;
        p->tail = &t;
        pthread_cond_signal(&p->work);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_lock(&p->mu);
    while (t.left > 0)
        pthread_cond_wait(&t.done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_cond_destroy(&t.done);
}
