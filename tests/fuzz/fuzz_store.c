/* Fuzz target: block log recovery. The input is the body of segment
 * 00000000.seg after a valid segment header (its first byte picks the
 * header's pre-written flag and whether the open is writable). Opening never
 * crashes or reads out of bounds; what it indexes reads back with valid
 * checksums and consecutive heights; a writable open either refuses with
 * CORRUPT or leaves a log that reopens without damage and accepts the next
 * height. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certa/store.h"
#include "certa/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void write_segment(const uint8_t *body, size_t n, bool prewritten)
{
    char path[128];
    snprintf(path, sizeof path, "%s/00000000.seg", dir);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    CERTA_ASSERT(fd >= 0);
    uint8_t hdr[CERTA_STORE_SEGMENT_HEADER_BYTES] = {0};
    certa_put_le32(hdr, 0x53545243u);
    certa_put_le32(hdr + 4, 1);
    certa_put_le32(hdr + 12, prewritten ? 1u : 0u);
    certa_put_le32(hdr + 24, 1u << 20);
    certa_put_le32(hdr + 36, certa_crc32c(0, hdr, 36));
    CERTA_ASSERT(write(fd, hdr, sizeof hdr) == (ssize_t)sizeof hdr);
    CERTA_ASSERT(n == 0 || write(fd, body, n) == (ssize_t)n);
    close(fd);
    snprintf(path, sizeof path, "%s/00000001.seg", dir);
    unlink(path);
}

static void remove_dir(void)
{
    static const char *names[] = {"00000000.seg", "00000001.seg", "LOCK"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static bool check_cb(void *ctx, uint64_t h, const uint8_t *d, size_t len)
{
    uint64_t *next = ctx;
    CERTA_ASSERT(h == *next);
    CERTA_ASSERT(len > 0 && d != NULL);
    (*next)++;
    return true;
}

static void read_all(certa_store *s)
{
    uint64_t first, last;
    if (!certa_store_range(s, &first, &last))
        return;
    uint64_t next = first;
    CERTA_ASSERT(certa_store_scan(s, first, last, check_cb, &next, NULL) == CERTA_OK);
    CERTA_ASSERT(next == last + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (dir[0] == '\0') {
        snprintf(dir, sizeof dir, "/tmp/certa-fuzz-store-XXXXXX");
        CERTA_ASSERT(mkdtemp(dir) != NULL);
        atexit(remove_dir);
    }
    if (size < 1 || size > (1u << 20) - CERTA_STORE_SEGMENT_HEADER_BYTES)
        return 0;
    bool prewritten = data[0] & 1, writable = data[0] & 2;
    write_segment(data + 1, size - 1, prewritten);

    certa_store_opts o;
    certa_store_opts_default(&o);
    o.dir = dir;
    o.segment_bytes = 1u << 20;
    o.group_bytes = 256u << 10;
    o.read_only = !writable;
    o.direct_io = 0;
    certa_store *s = NULL;
    certa_store_recovery rep;
    certa_errinfo ei;
    certa_err e = certa_store_open(&o, &s, &rep, &ei);
    if (e != CERTA_OK) {
        CERTA_ASSERT(writable && e == CERTA_E_CORRUPT);
        return 0;
    }
    read_all(s);
    if (writable) {
        uint64_t next = certa_store_next_height(s);
        CERTA_ASSERT(certa_store_append_sync(s, next, "x", 1, NULL) == CERTA_OK);
        certa_store_close(s);
        o.read_only = true;
        CERTA_ASSERT(certa_store_open(&o, &s, &rep, NULL) == CERTA_OK);
        CERTA_ASSERT(!rep.damaged);
        uint64_t first, last;
        CERTA_ASSERT(certa_store_range(s, &first, &last) && last == next);
        read_all(s);
    }
    certa_store_close(s);
    return 0;
}
