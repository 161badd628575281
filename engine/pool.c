/* pool: fixed worker threads and a parallel-for (see include/certa/pool.h).
 *
 * One job at a time per pool (run_lock serializes callers). A job is open
 * from the moment the caller publishes it (gen++, open = true) until the
 * caller closes it; helpers join a job only while it is open and are counted
 * in `active`, so after close + active == 0 no helper can touch the job's
 * fields again and the next job may overwrite them.
 * Invariants: every task index below n is claimed exactly once (atomic
 * counter); finished counts tasks run or skipped; the caller returns only
 * when finished == n and active == 0.
 * Idle helpers sleep on a condition variable: no spinning, the machine is
 * shared and a wake-up is cheap next to the work worth parallelizing.
 */
#include "certa/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct certa_pool {
    unsigned threads;
    pthread_t tids[CERTA_POOL_THREADS_MAX];
    unsigned started; /* helper threads actually created */

    pthread_mutex_t run_lock; /* one job at a time */
    pthread_mutex_t lock;     /* guards gen, open, active, stop */
    pthread_cond_t wake;      /* helpers wait here for a job */
    pthread_cond_t idle;      /* the caller waits here for the end */
    uint64_t gen;
    bool open;
    bool stop;
    unsigned active;
    unsigned next_worker_id; /* ids 1..threads-1 handed out per job */

    /* the current job */
    certa_pool_task_fn fn;
    void *ctx;
    size_t n;
    bool has_deadline;
    struct timespec deadline; /* CLOCK_MONOTONIC */
    atomic_size_t next;
    atomic_size_t finished;
    atomic_size_t skipped;
    atomic_bool cancel;
};

static _Thread_local const certa_pool *tls_in_pool;

static bool past(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* Claims and runs tasks until none is left; once the job's deadline has
 * passed, the remaining tasks are claimed and skipped. */
static void drain(certa_pool *p, unsigned worker)
{
    const struct timespec *deadline = p->has_deadline ? &p->deadline : NULL;
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= p->n)
            return;
        if (deadline != NULL && !atomic_load(&p->cancel) && past(deadline))
            atomic_store(&p->cancel, true);
        if (!atomic_load_explicit(&p->cancel, memory_order_relaxed))
            p->fn(p->ctx, i, worker);
        else
            atomic_fetch_add_explicit(&p->skipped, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->finished, 1, memory_order_release);
    }
}

static void *helper_main(void *arg)
{
    certa_pool *p = arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && !(p->open && p->gen != seen))
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->stop)
            break;
        seen = p->gen;
        unsigned worker = p->next_worker_id++;
        CERTA_ASSERT(worker >= 1 && worker < p->threads);
        p->active++;
        pthread_mutex_unlock(&p->lock);

        tls_in_pool = p;
        drain(p, worker);
        tls_in_pool = NULL;

        pthread_mutex_lock(&p->lock);
        CERTA_ASSERT(p->active > 0);
        if (--p->active == 0)
            pthread_cond_signal(&p->idle);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

certa_err certa_pool_create(unsigned threads, certa_pool **out,
                            certa_errinfo *ei)
{
    if (threads < 1 || threads > CERTA_POOL_THREADS_MAX)
        return certa_errorf(ei, CERTA_E_ARG, "pool threads %u not in 1..%d",
                            threads, CERTA_POOL_THREADS_MAX);
    certa_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "allocating a thread pool");
    p->threads = threads;
    pthread_mutex_init(&p->run_lock, NULL);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->idle, NULL);
    atomic_init(&p->next, 0);
    atomic_init(&p->finished, 0);
    atomic_init(&p->skipped, 0);
    atomic_init(&p->cancel, false);
    for (unsigned i = 1; i < threads; i++) {
        int rc = pthread_create(&p->tids[i - 1], NULL, helper_main, p);
        if (rc == 0)
            pthread_setname_np(p->tids[i - 1], "certa-pool"); /* top -H, perf */
        if (rc != 0) {
            certa_pool_destroy(p);
            return certa_errorf(ei, CERTA_E_INTERNAL,
                                "starting pool thread %u of %u: %s", i,
                                threads, strerror(rc));
        }
        p->started++;
    }
    *out = p;
    return CERTA_OK;
}

void certa_pool_destroy(certa_pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    CERTA_ASSERT(!p->open); /* never destroy a pool while it runs a job */
    p->stop = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->started; i++)
        pthread_join(p->tids[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->run_lock);
    free(p);
}

unsigned certa_pool_threads(const certa_pool *p)
{
    return p == NULL ? 1 : p->threads;
}

static void deadline_after(struct timespec *ts, uint32_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static certa_err run_inline(size_t n, certa_pool_task_fn fn, void *ctx,
                            uint32_t timeout_ms, const struct timespec *deadline,
                            certa_errinfo *ei)
{
    for (size_t i = 0; i < n; i++) {
        if (deadline != NULL && past(deadline))
            return certa_errorf(ei, CERTA_E_TIMEOUT,
                                "pool: deadline of %u ms passed after %zu of "
                                "%zu tasks, the rest were skipped",
                                timeout_ms, i, n);
        fn(ctx, i, 0);
    }
    return CERTA_OK;
}

static bool job_done(certa_pool *p)
{
    return p->active == 0 &&
           atomic_load_explicit(&p->finished, memory_order_acquire) == p->n;
}

certa_err certa_pool_run(certa_pool *p, size_t n_tasks, certa_pool_task_fn fn,
                         void *ctx, uint32_t timeout_ms, certa_errinfo *ei)
{
    CERTA_ASSERT(fn != NULL);
    if (n_tasks == 0)
        return CERTA_OK;
    struct timespec deadline = {0, 0};
    if (timeout_ms > 0)
        deadline_after(&deadline, timeout_ms);
    if (p == NULL)
        return run_inline(n_tasks, fn, ctx, timeout_ms,
                          timeout_ms > 0 ? &deadline : NULL, ei);
    CERTA_ASSERT(tls_in_pool != p); /* a task may not re-enter its pool */

    pthread_mutex_lock(&p->run_lock);
    if (p->threads == 1 || n_tasks == 1) {
        /* nothing to share: no helper is woken (still serialized, so that
         * worker 0 is never used twice at once) */
        tls_in_pool = p;
        certa_err err = run_inline(n_tasks, fn, ctx, timeout_ms,
                                   timeout_ms > 0 ? &deadline : NULL, ei);
        tls_in_pool = NULL;
        pthread_mutex_unlock(&p->run_lock);
        return err;
    }

    pthread_mutex_lock(&p->lock);
    CERTA_ASSERT(!p->open && p->active == 0);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n_tasks;
    p->has_deadline = timeout_ms > 0;
    p->deadline = deadline;
    atomic_store(&p->next, 0);
    atomic_store(&p->finished, 0);
    atomic_store(&p->skipped, 0);
    atomic_store(&p->cancel, false);
    p->next_worker_id = 1;
    p->gen++;
    p->open = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);

    tls_in_pool = p;
    drain(p, 0);
    tls_in_pool = NULL;

    /* Every task is claimed, so the deadline has nothing left to skip:
     * wait for the tasks still running on helpers (short by contract),
     * after closing the job so that late helpers stay out. */
    pthread_mutex_lock(&p->lock);
    p->open = false;
    while (!job_done(p))
        pthread_cond_wait(&p->idle, &p->lock);
    size_t skipped = atomic_load(&p->skipped);
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_unlock(&p->run_lock);
    if (skipped > 0)
        return certa_errorf(ei, CERTA_E_TIMEOUT,
                            "pool: deadline of %u ms passed, %zu of %zu tasks "
                            "were skipped", timeout_ms, skipped, n_tasks);
    return CERTA_OK;
}
