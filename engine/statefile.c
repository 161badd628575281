/* statefile: two checksummed slots, the newer valid one is the value (see
 * include/certa/statefile.h).
 *
 * Slot header (32 bytes, then the payload, slot size = file size / 2):
 *  0 u32 magic "CRTF"  4 u32 version 1  8 u64 seq  16 u32 payload_bytes
 * 20 u32 slot_bytes  24 u32 CRC32C(payload)  28 u32 CRC32C(bytes 0..27)
 * Invariant: a write never touches the slot holding the current value, so
 * the current value survives any crash during the write.
 */
#include "certa/statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certa/store.h"
#include "certa/wire.h"

#define SF_MAGIC 0x46545243u /* "CRTF" */
#define SF_VERSION 1u
#define SF_HDR 32u
#define SF_SLOTS_BYTES_MAX (64u << 20)

struct certa_statefile {
    int fd;
    char *path;
    uint32_t slot_bytes;
    uint8_t *buf;      /* one slot */
    bool have;         /* a valid value exists */
    uint64_t seq;      /* its sequence number */
    int slot;          /* its slot */
    uint32_t len;
};

static int pread_all(int fd, void *b, size_t n, off_t off)
{
    uint8_t *p = b;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

static int pwrite_all(int fd, const void *b, size_t n, off_t off)
{
    const uint8_t *p = b;
    while (n > 0) {
        ssize_t r = pwrite(fd, p, n, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = ENOSPC;
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

static certa_err io_code(int e)
{
    if (e == EACCES || e == EROFS || e == EPERM)
        return CERTA_E_READONLY;
    if (e == ENOSPC || e == EFBIG || e == EDQUOT)
        return CERTA_E_NOSPACE;
    return CERTA_E_IO;
}

/* Reads slot i; true when it is valid, with its seq and length. */
static bool slot_load(certa_statefile *sf, int i, uint64_t *seq, uint32_t *len)
{
    if (pread_all(sf->fd, sf->buf, sf->slot_bytes, (off_t)i * sf->slot_bytes) != 0)
        return false;
    const uint8_t *p = sf->buf;
    if (certa_get_le32(p) != SF_MAGIC || certa_get_le32(p + 28) != certa_crc32c(0, p, 28) ||
        certa_get_le32(p + 4) != SF_VERSION || certa_get_le32(p + 20) != sf->slot_bytes)
        return false;
    uint32_t n = certa_get_le32(p + 16);
    if (n > sf->slot_bytes - SF_HDR || certa_crc32c(0, p + SF_HDR, n) != certa_get_le32(p + 24))
        return false;
    *seq = certa_get_le64(p + 8);
    *len = n;
    return *seq != 0;
}

static certa_err create_file(const char *path, uint32_t slot_bytes, certa_errinfo *ei)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 8);
    char *dcopy = strdup(path);
    if (tmp == NULL || dcopy == NULL) {
        free(tmp);
        free(dcopy);
        return certa_errorf(ei, CERTA_E_NOMEM, "statefile: no memory");
    }
    snprintf(tmp, plen + 8, "%s.tmp", path);
    certa_err err = CERTA_OK;
    int fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        err = certa_errorf(ei, io_code(errno), "statefile: create %s: %s", tmp, strerror(errno));
        goto out;
    }
    uint8_t *zero = calloc(1, slot_bytes);
    int rc = zero ? 0 : -1;
    for (int i = 0; rc == 0 && i < 2; i++)
        rc = pwrite_all(fd, zero, slot_bytes, (off_t)i * slot_bytes);
    free(zero);
    if (rc == 0)
        rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
        e = errno;
    }
    if (rc == 0) {
        int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0) {
            rc = -1;
            e = errno;
        }
        if (dfd >= 0)
            close(dfd);
    }
    if (rc != 0) {
        unlink(tmp);
        err = certa_errorf(ei, io_code(e), "statefile: create %s: %s", path, strerror(e));
    }
out:
    free(tmp);
    free(dcopy);
    return err;
}

certa_err certa_statefile_open(const char *path, size_t payload_max,
                               certa_statefile **out, certa_errinfo *ei)
{
    *out = NULL;
    if (path == NULL || payload_max == 0 || payload_max > SF_SLOTS_BYTES_MAX / 2 - SF_HDR)
        return certa_errorf(ei, CERTA_E_ARG, "statefile: bad path or capacity");
    certa_err err;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT)
            return certa_errorf(ei, io_code(errno), "statefile: %s: %s", path, strerror(errno));
        uint32_t slot = (uint32_t)((SF_HDR + payload_max + 4095) / 4096 * 4096);
        if ((err = create_file(path, slot, ei)) != CERTA_OK)
            return err;
    }
    certa_statefile *sf = calloc(1, sizeof *sf);
    if (sf == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "statefile: no memory");
    sf->path = strdup(path);
    sf->fd = open(path, O_RDWR | O_CLOEXEC);
    if (sf->fd < 0) {
        err = certa_errorf(ei, io_code(errno), "statefile: open %s: %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(sf->fd, &st) != 0 || st.st_size < 2 * 4096 || st.st_size % 8192 != 0 ||
        st.st_size > SF_SLOTS_BYTES_MAX) {
        err = certa_errorf(ei, CERTA_E_CORRUPT, "statefile: %s: size %lld is not a state file's",
                           path, (long long)st.st_size);
        goto fail;
    }
    sf->slot_bytes = (uint32_t)(st.st_size / 2);
    sf->buf = malloc(sf->slot_bytes);
    if (sf->buf == NULL || sf->path == NULL) {
        err = certa_errorf(ei, CERTA_E_NOMEM, "statefile: no memory");
        goto fail;
    }
    uint64_t seq[2] = {0, 0};
    uint32_t len[2] = {0, 0};
    bool ok[2];
    for (int i = 0; i < 2; i++)
        ok[i] = slot_load(sf, i, &seq[i], &len[i]);
    if (ok[0] || ok[1]) {
        int i = (ok[0] && (!ok[1] || seq[0] > seq[1])) ? 0 : 1;
        sf->have = true;
        sf->seq = seq[i];
        sf->slot = i;
        sf->len = len[i];
    } else {
        /* Both slots empty is a fresh file; anything else is damage. */
        uint8_t *p = sf->buf;
        bool blank = true;
        for (int i = 0; i < 2 && blank; i++) {
            if (pread_all(sf->fd, p, sf->slot_bytes, (off_t)i * sf->slot_bytes) != 0)
                blank = false;
            for (uint32_t k = 0; blank && k < sf->slot_bytes; k++)
                blank = p[k] == 0;
        }
        if (!blank) {
            err = certa_errorf(ei, CERTA_E_CORRUPT,
                               "statefile: %s: both slots fail their checksums", path);
            goto fail;
        }
    }
    *out = sf;
    return CERTA_OK;
fail:
    certa_statefile_close(sf);
    return err;
}

void certa_statefile_close(certa_statefile *sf)
{
    if (sf == NULL)
        return;
    if (sf->fd >= 0)
        close(sf->fd);
    free(sf->buf);
    free(sf->path);
    free(sf);
}

size_t certa_statefile_capacity(const certa_statefile *sf)
{
    return sf->slot_bytes - SF_HDR;
}

certa_err certa_statefile_read(certa_statefile *sf, void *buf, size_t cap, size_t *len,
                               uint64_t *seq, certa_errinfo *ei)
{
    if (!sf->have)
        return certa_errorf(ei, CERTA_E_NOTFOUND, "statefile: %s holds no value yet", sf->path);
    if (cap < sf->len)
        return certa_errorf(ei, CERTA_E_LIMIT, "statefile: value is %u bytes, buffer %zu",
                            sf->len, cap);
    uint64_t s2;
    uint32_t l2;
    /* Re-read and re-check: the disk may have rotted since open. */
    if (!slot_load(sf, sf->slot, &s2, &l2) || s2 != sf->seq || l2 != sf->len)
        return certa_errorf(ei, CERTA_E_CORRUPT, "statefile: %s: slot %d changed on disk",
                            sf->path, sf->slot);
    memcpy(buf, sf->buf + SF_HDR, sf->len);
    *len = sf->len;
    if (seq != NULL)
        *seq = sf->seq;
    return CERTA_OK;
}

certa_err certa_statefile_write(certa_statefile *sf, const void *data, size_t len,
                                certa_errinfo *ei)
{
    if (len > certa_statefile_capacity(sf))
        return certa_errorf(ei, CERTA_E_LIMIT, "statefile: %zu bytes exceed the capacity %zu",
                            len, certa_statefile_capacity(sf));
    int slot = sf->have ? 1 - sf->slot : 0;
    uint64_t seq = sf->seq + 1;
    uint8_t *p = sf->buf;
    memset(p, 0, sf->slot_bytes);
    certa_put_le32(p, SF_MAGIC);
    certa_put_le32(p + 4, SF_VERSION);
    certa_put_le64(p + 8, seq);
    certa_put_le32(p + 16, (uint32_t)len);
    certa_put_le32(p + 20, sf->slot_bytes);
    if (len > 0)
        memcpy(p + SF_HDR, data, len);
    certa_put_le32(p + 24, certa_crc32c(0, p + SF_HDR, len));
    certa_put_le32(p + 28, certa_crc32c(0, p, 28));
    size_t n = (SF_HDR + len + 4095) / 4096 * 4096;
    if (pwrite_all(sf->fd, p, n, (off_t)slot * sf->slot_bytes) != 0 || fdatasync(sf->fd) != 0)
        return certa_errorf(ei, io_code(errno), "statefile: write %s slot %d: %s", sf->path,
                            slot, strerror(errno));
    CERTA_ASSERT(seq > sf->seq);
    sf->have = true;
    sf->seq = seq;
    sf->slot = slot;
    sf->len = (uint32_t)len;
    return CERTA_OK;
}
