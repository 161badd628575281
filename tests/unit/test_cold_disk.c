/* Tests for engine/cold.c on a full disk. The cold store writes its pages
 * in place through LMDB's map (MDB_WRITEMAP); a page landing on a hole of
 * the sparse file with no disk left would fault (SIGBUS) instead of failing
 * a commit, so a kept store reserves the disk ahead of its last page. On
 * small tmpfs mounts (root, as in CI): a disk that cannot hold the reserve
 * fails the open with a clear error, and a disk filled by another file
 * after the open leaves the store writing until its map is full, then
 * failing the commit, never faulting. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certa/crypto.h"
#include "cold.h"

/* A tmpfs of size_mib at a new directory, or NULL (the test is skipped). */
static char *mount_tmpfs(unsigned size_mib)
{
    char *dir = strdup("/tmp/certa-test-colddisk-XXXXXX");
    cr_assert_not_null(dir);
    cr_assert_not_null(mkdtemp(dir));
    char cmd[200];
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=%um certa-test '%s' 2>/dev/null",
             size_mib, dir);
    if (geteuid() != 0 || system(cmd) != 0) {
        rmdir(dir);
        free(dir);
        return NULL;
    }
    return dir;
}

static void unmount(char *dir)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "umount '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    rmdir(dir);
    free(dir);
}

Test(cold_disk, no_room_for_the_reserve_is_a_clear_error)
{
    char *dir = mount_tmpfs(16);
    if (dir == NULL)
        cr_skip_test("needs root to mount a tmpfs");
    char store[200];
    snprintf(store, sizeof store, "%s/cold", dir);
    certa_cold *c = NULL;
    bool rebuilt;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    /* the default map (64 GiB): 512 MiB reserved ahead, on 16 MiB */
    certa_err e = certa_cold_open(store, NULL, &c, &rebuilt, &ei);
    cr_assert_eq(e, CERTA_E_NOSPACE, "%s", certa_errmsg(&ei));
    cr_assert_null(c);
    cr_assert(strstr(certa_errmsg(&ei), store) != NULL, "%s", certa_errmsg(&ei));
    unmount(dir);
}

Test(cold_disk, a_disk_filled_after_the_open_never_faults, .timeout = 120)
{
    char *dir = mount_tmpfs(40);
    if (dir == NULL)
        cr_skip_test("needs root to mount a tmpfs");
    char store[200], filler[200];
    snprintf(store, sizeof store, "%s/cold", dir);
    snprintf(filler, sizeof filler, "%s/filler", dir);
    certa_cold_opts o = {.map_bytes = 24u << 20};
    certa_cold *c = NULL;
    bool rebuilt;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_cold_open(store, &o, &c, &rebuilt, &ei), CERTA_OK, "%s",
                 certa_errmsg(&ei));

    /* everything the store has not reserved goes to another file */
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    static char block[1 << 16];
    memset(block, 0x5a, sizeof block);
    size_t filled = 0;
    while (write(fd, block, sizeof block) == (ssize_t)sizeof block)
        filled += sizeof block;
    close(fd);
    cr_assert_gt(filled, 4u << 20, "only %zu bytes were left for the filler", filled);

    /* random holders and grants dirty pages all over the trees, until the
     * map is full: every page written through the map was reserved */
    uint8_t rec[COLD_EVENT_BYTES] = {0}, holder[CERTA_HOLDER_ID_BYTES],
            grant[CERTA_GRANT_ID_BYTES], h[CERTA_HASH_BYTES];
    uint64_t seq = 0;
    certa_err e = CERTA_OK;
    for (uint64_t group = 0; e == CERTA_OK && group < 2000; group++) {
        if ((e = certa_cold_begin(c, &ei)) != CERTA_OK)
            break;
        for (unsigned i = 0; i < 2048 && e == CERTA_OK; i++, seq++) {
            certa_sha256(&seq, sizeof seq, h);
            memcpy(holder, h, sizeof holder);
            memcpy(grant, h + 8, sizeof grant);
            memcpy(rec, h, 8);
            e = certa_cold_put_event(c, seq, rec, holder, grant, &ei);
        }
        if (e != CERTA_OK) {
            certa_cold_abort(c);
            break;
        }
        certa_cold_meta m = {.height = group + 1, .events = seq};
        if ((e = certa_cold_commit(c, &m, &ei)) == CERTA_OK)
            e = certa_cold_sync(c, &ei);
    }
    cr_assert_eq(e, CERTA_E_NOSPACE, "after %llu events: %s", (unsigned long long)seq,
                 certa_errmsg(&ei));
    cr_assert_gt(seq, 10000, "the map held only %llu events", (unsigned long long)seq);
    certa_cold_close(c);
    unlink(filler);
    unmount(dir);
}
