/* Tests for engine/statefile.c: values survive reopen, a damaged newest slot
 * falls back to the previous value, both slots damaged is refused, and a
 * writer killed with SIGKILL at random points leaves the last acknowledged
 * value or the one after it, never a mix. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "certa/statefile.h"

static void tmp_path(char *out, size_t cap)
{
    char d[] = "/tmp/certa-sf-XXXXXX";
    cr_assert_not_null(mkdtemp(d));
    snprintf(out, cap, "%s/consensus.state", d);
}

static void cleanup(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf \"$(dirname '%s')\"", path);
    cr_assert_eq(system(cmd), 0);
}

Test(statefile, write_read_reopen)
{
    char path[256];
    tmp_path(path, sizeof path);
    certa_statefile *sf = NULL;
    cr_assert_eq(certa_statefile_open(path, 100, &sf, NULL), CERTA_OK);
    cr_assert_geq(certa_statefile_capacity(sf), 100);
    char buf[5000];
    size_t len;
    uint64_t seq;
    cr_assert_eq(certa_statefile_read(sf, buf, sizeof buf, &len, &seq, NULL), CERTA_E_NOTFOUND);
    cr_assert_eq(certa_statefile_write(sf, "view=1", 6, NULL), CERTA_OK);
    cr_assert_eq(certa_statefile_write(sf, "view=2;vote=7", 13, NULL), CERTA_OK);
    cr_assert_eq(certa_statefile_read(sf, buf, sizeof buf, &len, &seq, NULL), CERTA_OK);
    cr_assert_eq(len, 13);
    cr_assert_eq(seq, 2);
    cr_assert_eq(certa_statefile_read(sf, buf, 4, &len, &seq, NULL), CERTA_E_LIMIT);
    static char big[8192];
    cr_assert_eq(certa_statefile_write(sf, big, sizeof big, NULL), CERTA_E_LIMIT);
    certa_statefile_close(sf);

    cr_assert_eq(certa_statefile_open(path, 100, &sf, NULL), CERTA_OK);
    cr_assert_eq(certa_statefile_read(sf, buf, sizeof buf, &len, &seq, NULL), CERTA_OK);
    cr_assert_eq(seq, 2);
    cr_assert(len == 13 && memcmp(buf, "view=2;vote=7", 13) == 0);
    cr_assert_eq(certa_statefile_write(sf, "", 0, NULL), CERTA_OK); /* empty value is a value */
    cr_assert_eq(certa_statefile_read(sf, buf, sizeof buf, &len, &seq, NULL), CERTA_OK);
    cr_assert_eq(len, 0);
    cr_assert_eq(seq, 3);
    certa_statefile_close(sf);
    cleanup(path);
}

static void flip(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    uint8_t b;
    cr_assert_eq(pread(fd, &b, 1, off), 1);
    b ^= 1;
    cr_assert_eq(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

Test(statefile, damaged_newest_slot_falls_back_both_damaged_refused)
{
    char path[256];
    tmp_path(path, sizeof path);
    certa_statefile *sf = NULL;
    cr_assert_eq(certa_statefile_open(path, 100, &sf, NULL), CERTA_OK);
    cr_assert_eq(certa_statefile_write(sf, "old", 3, NULL), CERTA_OK); /* slot 0 */
    cr_assert_eq(certa_statefile_write(sf, "new", 3, NULL), CERTA_OK); /* slot 1 */
    certa_statefile_close(sf);
    flip(path, 4096 + 33); /* payload of slot 1 */
    cr_assert_eq(certa_statefile_open(path, 100, &sf, NULL), CERTA_OK);
    char buf[16];
    size_t len;
    uint64_t seq;
    cr_assert_eq(certa_statefile_read(sf, buf, sizeof buf, &len, &seq, NULL), CERTA_OK);
    cr_assert(len == 3 && memcmp(buf, "old", 3) == 0);
    cr_assert_eq(seq, 1);
    certa_statefile_close(sf);
    flip(path, 9); /* header of slot 0 */
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_statefile_open(path, 100, &sf, &ei), CERTA_E_CORRUPT);
    cr_assert(strstr(ei.msg, "both slots") != NULL, "%s", ei.msg);
    cleanup(path);
}

typedef struct shared {
    volatile uint64_t acked;
    volatile int ready;
} shared;

/* Value number i: 3000 bytes that all depend on i, so a mix is visible. */
static size_t value_of(uint64_t i, uint8_t *out)
{
    size_t n = 1000 + (size_t)(i % 2000);
    for (size_t k = 0; k < n; k++)
        out[k] = (uint8_t)(i * 7 + k);
    return n;
}

Test(statefile, sigkill_leaves_old_or_new_value, .timeout = 300)
{
    char path[256];
    tmp_path(path, sizeof path);
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    srand((unsigned)time(NULL));
    uint64_t next = 1;
    for (int round = 0; round < 15; round++) {
        sh->acked = 0;
        sh->ready = 0;
        pid_t pid = fork();
        if (pid == 0) {
            certa_statefile *sf = NULL;
            if (certa_statefile_open(path, 4000, &sf, NULL) != CERTA_OK)
                _exit(10);
            sh->ready = 1;
            static uint8_t v[4000];
            for (uint64_t i = next;; i++) {
                size_t n = value_of(i, v);
                if (certa_statefile_write(sf, v, n, NULL) != CERTA_OK)
                    _exit(11);
                sh->acked = i;
            }
        }
        while (!sh->ready)
            usleep(100);
        usleep((useconds_t)(rand() % 20000));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        cr_assert(WIFSIGNALED(st));
        certa_statefile *sf = NULL;
        cr_assert_eq(certa_statefile_open(path, 4000, &sf, NULL), CERTA_OK);
        static uint8_t got[4000], want[4000];
        size_t len;
        uint64_t seq;
        certa_err err = certa_statefile_read(sf, got, sizeof got, &len, &seq, NULL);
        if (sh->acked == 0 && next == 1 && err == CERTA_E_NOTFOUND) {
            certa_statefile_close(sf);
            continue;
        }
        cr_assert_eq(err, CERTA_OK);
        /* The value's number equals its sequence number (one write each). */
        cr_assert(seq >= sh->acked && seq <= sh->acked + 1 + (sh->acked == 0 ? next : 0),
                  "round %d: seq %llu acked %llu", round, (unsigned long long)seq,
                  (unsigned long long)sh->acked);
        size_t n = value_of(seq, want);
        cr_assert(len == n && memcmp(got, want, n) == 0, "value %llu is mixed",
                  (unsigned long long)seq);
        next = seq + 1;
        certa_statefile_close(sf);
    }
    munmap(sh, sizeof *sh);
    cleanup(path);
}
