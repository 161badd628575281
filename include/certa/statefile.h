/* statefile: a small value updated atomically and durably.
 *
 * For what consensus must persist before it acts (view, last votes, the
 * stable checkpoint) and for snapshot manifests. The file holds two slots,
 * each a checksummed copy of the value with a sequence number; a write goes
 * to the older slot and is fdatasync'ed before certa_statefile_write
 * returns. A crash at any point leaves the previous value or the new one,
 * never a mix: the slot being written may be torn, the other is intact.
 * Layout in docs/PROTOCOL.md ("Block log records (on disk)").
 *
 * A handle is used by one thread at a time.
 */
#ifndef CERTA_STATEFILE_H
#define CERTA_STATEFILE_H

#include "certa/certa.h"

typedef struct certa_statefile certa_statefile;

/* Opens path, creating it (atomically: temporary file, fsync, rename, fsync
 * of the directory) with room for payload_max bytes when it does not exist.
 * An existing file keeps the capacity it was created with. path is borrowed
 * during the call; *out is owned by the caller until certa_statefile_close.
 * Errors: CERTA_E_READONLY, CERTA_E_IO, CERTA_E_CORRUPT (not a state file,
 * or both slots damaged: the message says which). */
certa_err certa_statefile_open(const char *path, size_t payload_max,
                               certa_statefile **out, certa_errinfo *ei);

void certa_statefile_close(certa_statefile *sf);

/* The current value: copies it into buf (cap bytes), *len its size and *seq
 * (may be NULL) its sequence number (1 for the first write).
 * CERTA_E_NOTFOUND when nothing was written yet, CERTA_E_LIMIT when cap is
 * too small. */
certa_err certa_statefile_read(certa_statefile *sf, void *buf, size_t cap,
                               size_t *len, uint64_t *seq, certa_errinfo *ei);

/* Replaces the value with len bytes (len <= capacity) and returns once it is
 * durable. CERTA_E_LIMIT when too long, CERTA_E_IO/NOSPACE on failure (the
 * previous value is then still the one on disk). */
certa_err certa_statefile_write(certa_statefile *sf, const void *data, size_t len,
                                certa_errinfo *ei);

/* Capacity in bytes of a value. */
size_t certa_statefile_capacity(const certa_statefile *sf);

#endif
