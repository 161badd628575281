/* A slow disk on purpose, for proving that no test depends on the disk's
 * speed: an LD_PRELOAD library that sleeps before every request that waits
 * for durability.
 *
 * Delayed: fsync, fdatasync, syncfs, sync_file_range, msync with MS_SYNC,
 * pwritev2 with RWF_DSYNC or RWF_SYNC, and every io_uring submission (through
 * liburing's io_uring_submit, io_uring_submit_and_wait and
 * io_uring_submit_and_wait_timeout) whose queued entries hold an fsync or a
 * write flagged RWF_DSYNC/RWF_SYNC. The sleep happens before the real call,
 * so the data still reaches the disk exactly as without the library; only
 * the time changes.
 *
 *   CERTA_SLOWDISK_US     microseconds added to each such request (default
 *                         5000: a virtual disk that syncs in ~5 ms)
 *   CERTA_SLOWDISK_STATS  a file: each process appends one line at exit,
 *                         "pid syncs uring_syncs", so a run can show that the
 *                         delay really applied (processes killed by SIGKILL
 *                         write nothing)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static atomic_ullong g_syncs, g_uring_syncs;
static long g_delay_us = -1;

static long delay_us(void)
{
    if (g_delay_us < 0) {
        const char *e = getenv("CERTA_SLOWDISK_US");
        long v = e != NULL ? strtol(e, NULL, 10) : 5000;
        g_delay_us = v < 0 ? 0 : v;
    }
    return g_delay_us;
}

static void slow(atomic_ullong *counter)
{
    atomic_fetch_add(counter, 1);
    long us = delay_us();
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* The real function behind an interposed one. */
#define REAL(ret, name, ...)                                                                      \
    static ret (*real)(__VA_ARGS__);                                                             \
    if (real == NULL)                                                                            \
        real = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, name)

int fsync(int fd)
{
    REAL(int, "fsync", int);
    slow(&g_syncs);
    return real(fd);
}

int fdatasync(int fd)
{
    REAL(int, "fdatasync", int);
    slow(&g_syncs);
    return real(fd);
}

int syncfs(int fd)
{
    REAL(int, "syncfs", int);
    slow(&g_syncs);
    return real(fd);
}

int sync_file_range(int fd, off_t off, off_t n, unsigned int flags)
{
    REAL(int, "sync_file_range", int, off_t, off_t, unsigned int);
    if (flags & SYNC_FILE_RANGE_WAIT_AFTER)
        slow(&g_syncs);
    return real(fd, off, n, flags);
}

int msync(void *addr, size_t len, int flags)
{
    REAL(int, "msync", void *, size_t, int);
    if (flags & MS_SYNC)
        slow(&g_syncs);
    return real(addr, len, flags);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
    REAL(ssize_t, "pwritev2", int, const struct iovec *, int, off_t, int);
    if (flags & (RWF_DSYNC | RWF_SYNC))
        slow(&g_syncs);
    return real(fd, iov, n, off, flags);
}

/* True when an entry queued but not yet submitted waits for durability.
 * liburing keeps them between sq.sqe_head and sq.sqe_tail. */
static int ring_has_sync(const struct io_uring *ring)
{
    const struct io_uring_sq *sq = &ring->sq;
    unsigned mask = ring->sq.ring_entries - 1;
    for (unsigned i = sq->sqe_head; i != sq->sqe_tail; i++) {
        const struct io_uring_sqe *e = &sq->sqes[i & mask];
        if (e->opcode == IORING_OP_FSYNC || e->opcode == IORING_OP_SYNC_FILE_RANGE)
            return 1;
        if ((e->opcode == IORING_OP_WRITE || e->opcode == IORING_OP_WRITEV ||
             e->opcode == IORING_OP_WRITE_FIXED) &&
            (e->rw_flags & (RWF_DSYNC | RWF_SYNC)))
            return 1;
    }
    return 0;
}

int io_uring_submit(struct io_uring *ring)
{
    REAL(int, "io_uring_submit", struct io_uring *);
    if (ring_has_sync(ring))
        slow(&g_uring_syncs);
    return real(ring);
}

int io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr)
{
    REAL(int, "io_uring_submit_and_wait", struct io_uring *, unsigned);
    if (ring_has_sync(ring))
        slow(&g_uring_syncs);
    return real(ring, wait_nr);
}

int io_uring_submit_and_wait_timeout(struct io_uring *ring, struct io_uring_cqe **cqe,
                                     unsigned wait_nr, struct __kernel_timespec *ts,
                                     sigset_t *sigmask)
{
    REAL(int, "io_uring_submit_and_wait_timeout", struct io_uring *, struct io_uring_cqe **,
         unsigned, struct __kernel_timespec *, sigset_t *);
    if (ring_has_sync(ring))
        slow(&g_uring_syncs);
    return real(ring, cqe, wait_nr, ts, sigmask);
}

__attribute__((destructor)) static void slowdisk_report(void)
{
    const char *path = getenv("CERTA_SLOWDISK_STATS");
    unsigned long long a = atomic_load(&g_syncs), b = atomic_load(&g_uring_syncs);
    if (path == NULL || (a == 0 && b == 0))
        return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    char line[96];
    int n = snprintf(line, sizeof line, "%d %llu %llu\n", (int)getpid(), a, b);
    if (n > 0)
        (void)!write(fd, line, (size_t)n);
    close(fd);
}
