/* pool: a fixed set of worker threads and a parallel-for over them.
 *
 * The threads are created once by certa_pool_create and live until
 * certa_pool_destroy; certa_pool_run never creates a thread and never
 * allocates. The calling thread takes part in the work as worker 0, so a
 * pool of 1 thread has no helper thread at all and runs everything inline.
 *
 * Tasks are claimed one at a time from a shared counter: give the pool more
 * tasks than threads (a few per thread) for load balance. A task must not
 * call certa_pool_run on the same pool (asserted). Calls to certa_pool_run on
 * one pool from several threads are serialized.
 */
#ifndef CERTA_POOL_H
#define CERTA_POOL_H

#include "certa/certa.h"

#define CERTA_POOL_THREADS_MAX 64

typedef struct certa_pool certa_pool;

/* Runs task `task_index` (0..n_tasks-1) on worker `worker` (0..threads-1,
 * unique among the workers running at the same moment, so it may index
 * per-worker scratch space). */
typedef void (*certa_pool_task_fn)(void *ctx, size_t task_index,
                                   unsigned worker);

/* Creates a pool of `threads` workers in total (the caller counts as one:
 * threads-1 helper threads are started). threads in 1..CERTA_POOL_THREADS_MAX.
 * Returns CERTA_E_ARG, CERTA_E_NOMEM or CERTA_E_INTERNAL (thread creation). */
certa_err certa_pool_create(unsigned threads, certa_pool **out,
                            certa_errinfo *ei);

/* Stops and joins the helper threads; NULL is a no-op. */
void certa_pool_destroy(certa_pool *pool);

/* Workers in total, the caller included. A NULL pool counts as 1. */
unsigned certa_pool_threads(const certa_pool *pool);

/* Runs fn(ctx, i, worker) once for each i in 0..n_tasks-1 and returns when
 * all of them have finished. pool may be NULL (everything runs inline).
 * timeout_ms bounds the work (0 = no bound): once it has passed, tasks not
 * yet started are skipped, tasks already running are waited for (tasks are
 * meant to be short), and CERTA_E_TIMEOUT is returned if any task was
 * skipped; the caller must then treat the outputs of all tasks as missing. */
certa_err certa_pool_run(certa_pool *pool, size_t n_tasks,
                         certa_pool_task_fn fn, void *ctx,
                         uint32_t timeout_ms, certa_errinfo *ei);

#endif
