/* Tests for engine/pool.c: every task runs exactly once on a worker id in
 * range, no two concurrent tasks share a worker id, repeated jobs reuse the
 * same threads, and a deadline skips the tasks not yet started. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "certa/pool.h"

#define TASKS 10000

typedef struct count_ctx {
    atomic_int hits[TASKS];
    atomic_int busy[CERTA_POOL_THREADS_MAX];
    atomic_int bad_worker;
    unsigned threads;
} count_ctx;

static void count_task(void *p, size_t i, unsigned worker)
{
    count_ctx *c = p;
    if (worker >= c->threads || atomic_fetch_add(&c->busy[worker], 1) != 0)
        atomic_store(&c->bad_worker, 1);
    atomic_fetch_add(&c->hits[i], 1);
    if (worker < c->threads)
        atomic_fetch_sub(&c->busy[worker], 1);
}

static count_ctx ctx;

static void run_counts(certa_pool *pool, unsigned threads, size_t n)
{
    memset(&ctx, 0, sizeof ctx);
    ctx.threads = threads;
    cr_assert_eq(certa_pool_run(pool, n, count_task, &ctx, 0, NULL), CERTA_OK);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(atomic_load(&ctx.hits[i]), 1, "task %zu ran %d times", i,
                     atomic_load(&ctx.hits[i]));
    for (size_t i = n; i < TASKS; i++)
        cr_assert_eq(atomic_load(&ctx.hits[i]), 0);
    cr_assert_eq(atomic_load(&ctx.bad_worker), 0);
}

Test(pool, every_task_once)
{
    run_counts(NULL, 1, TASKS);
    static const unsigned threads[] = {1, 2, 3, 8};
    for (size_t t = 0; t < 4; t++) {
        certa_pool *pool = NULL;
        cr_assert_eq(certa_pool_create(threads[t], &pool, NULL), CERTA_OK);
        cr_assert_eq(certa_pool_threads(pool), threads[t]);
        for (int rep = 0; rep < 200; rep++)
            run_counts(pool, threads[t], (size_t)(rep * 37) % TASKS);
        run_counts(pool, threads[t], TASKS);
        certa_pool_destroy(pool);
    }
}

typedef struct spread_ctx {
    atomic_int per_worker[CERTA_POOL_THREADS_MAX];
} spread_ctx;

static void spread_task(void *p, size_t i, unsigned worker)
{
    (void)i;
    spread_ctx *c = p;
    struct timespec ts = {0, 1000 * 1000};
    nanosleep(&ts, NULL);
    atomic_fetch_add(&c->per_worker[worker], 1);
}

Test(pool, helpers_take_part)
{
    certa_pool *pool = NULL;
    cr_assert_eq(certa_pool_create(2, &pool, NULL), CERTA_OK);
    spread_ctx c;
    memset(&c, 0, sizeof c);
    /* 300 tasks of 1 ms: the helper thread must get some of them */
    cr_assert_eq(certa_pool_run(pool, 300, spread_task, &c, 0, NULL), CERTA_OK);
    cr_assert_eq(atomic_load(&c.per_worker[0]) + atomic_load(&c.per_worker[1]), 300);
    cr_assert_gt(atomic_load(&c.per_worker[1]), 0);
    cr_log_info("caller ran %d tasks, helper %d", atomic_load(&c.per_worker[0]),
                atomic_load(&c.per_worker[1]));
    certa_pool_destroy(pool);
}

Test(pool, bad_arguments)
{
    certa_pool *pool = NULL;
    cr_assert_eq(certa_pool_create(0, &pool, NULL), CERTA_E_ARG);
    cr_assert_eq(certa_pool_create(CERTA_POOL_THREADS_MAX + 1, &pool, NULL), CERTA_E_ARG);
    cr_assert_eq(certa_pool_threads(NULL), 1);
    certa_pool_destroy(NULL);
}

static void sleepy_task(void *p, size_t i, unsigned worker)
{
    (void)worker;
    atomic_int *ran = p;
    (void)i;
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
    atomic_fetch_add(ran, 1);
}

Test(pool, deadline_skips_unstarted_tasks)
{
    certa_pool *pool = NULL;
    cr_assert_eq(certa_pool_create(2, &pool, NULL), CERTA_OK);
    atomic_int ran = 0;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    /* 2000 tasks of 2 ms on 2 threads need about 2 s: 50 ms cannot do it */
    cr_assert_eq(certa_pool_run(pool, 2000, sleepy_task, &ran, 50, &ei), CERTA_E_TIMEOUT);
    cr_assert_gt(atomic_load(&ran), 0);
    cr_assert_lt(atomic_load(&ran), 2000);
    cr_assert(strstr(certa_errmsg(&ei), "deadline") != NULL);
    /* the pool is usable afterwards and a generous deadline passes */
    atomic_store(&ran, 0);
    cr_assert_eq(certa_pool_run(pool, 20, sleepy_task, &ran, 10000, NULL), CERTA_OK);
    cr_assert_eq(atomic_load(&ran), 20);
    certa_pool_destroy(pool);

    /* the inline paths (no pool, a 1-thread pool) keep the deadline too */
    cr_assert_eq(certa_pool_create(1, &pool, NULL), CERTA_OK);
    atomic_store(&ran, 0);
    cr_assert_eq(certa_pool_run(pool, 1000, sleepy_task, &ran, 30, NULL), CERTA_E_TIMEOUT);
    cr_assert_lt(atomic_load(&ran), 1000);
    atomic_store(&ran, 0);
    cr_assert_eq(certa_pool_run(NULL, 1000, sleepy_task, &ran, 30, NULL), CERTA_E_TIMEOUT);
    cr_assert_lt(atomic_load(&ran), 1000);
    certa_pool_destroy(pool);
}
