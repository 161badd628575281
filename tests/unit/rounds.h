/* Rounds of a randomized fault test, bounded by count and by time.
 *
 * A test that kills a process at random points runs at least `min` rounds,
 * each checked, then more while its time budget lasts, and never more than
 * `max`. The machine's speed (a slow disk, busy cores, a sanitizer build)
 * changes how many rounds run, never whether the test passes: the budget
 * only stops extra rounds, and the minimum always runs. The count is logged
 * so a run shows what it covered.
 */
#ifndef CERTA_TEST_ROUNDS_H
#define CERTA_TEST_ROUNDS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

typedef struct test_rounds {
    int min, max;
    uint64_t budget_ms;
    uint64_t start_ms;
    int done;
} test_rounds;

static inline uint64_t test_rounds_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline test_rounds test_rounds_start(int min, int max, uint64_t budget_ms)
{
    return (test_rounds){.min = min, .max = max, .budget_ms = budget_ms,
                         .start_ms = test_rounds_now_ms(), .done = 0};
}

/* True when another round should run; call once before each round. */
static inline bool test_rounds_more(test_rounds *r)
{
    if (r->done >= r->max)
        return false;
    if (r->done < r->min)
        return true;
    return test_rounds_now_ms() - r->start_ms < r->budget_ms;
}

static inline uint64_t test_rounds_elapsed_ms(const test_rounds *r)
{
    return test_rounds_now_ms() - r->start_ms;
}

#endif
