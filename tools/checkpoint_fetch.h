/* checkpoint_fetch: the event log's checkpoint as the validators publish
 * it. Every validator signs the log at each checkpoint height by itself
 * and answers the checkpoint query with the newest notes it signed
 * (docs/PROTOCOL.md "Checkpoints"); this asks all of them at once and
 * merges, for the largest log size that a quorum (2f+1 of the genesis
 * validators) signed with the same text, their signature lines into one
 * note, which `certa merkle checkpoint verify`, a witness or Go's
 * sumdb/note check. `certa merkle checkpoint fetch` and the gateway's
 * /checkpoint use it.
 * Invariant: a note is returned only when certa_note_quorum holds for it
 * (every counted signature verified, one per validator). */
#ifndef CERTA_TOOLS_CHECKPOINT_FETCH_H
#define CERTA_TOOLS_CHECKPOINT_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "certa/error.h"
#include "certa/genesis.h"
#include "endpoints.h"

/* A merged note: its three text lines, a blank line and up to 64 lines */
#define CERTA_CHECKPOINT_NOTE_BYTES_MAX 12288u

typedef struct certa_checkpoint_fetched {
    char note[CERTA_CHECKPOINT_NOTE_BYTES_MAX]; /* NUL-terminated */
    size_t len;
    uint64_t size;       /* the log's size it names */
    uint64_t height;     /* the checkpoint height it was signed at */
    uint32_t signers;    /* validator signatures in it (>= 2f+1) */
    uint32_t answered;   /* validators that answered */
    uint32_t conflicts;  /* sizes signed by validators with different roots */
    char conflict[256];  /* the first such: size and the signers' names */
} certa_checkpoint_fetched;

/* Asks eps (one client each, timeout_ms for the whole) and fills out.
 * CERTA_E_NOTFOUND when no size has a quorum (ei says how many answered
 * and what the best size had), CERTA_E_NET when none answered. */
certa_err certa_checkpoint_fetch(const certa_genesis *g, const certa_tool_endpoints *eps,
                                 uint32_t timeout_ms, certa_checkpoint_fetched *out,
                                 certa_errinfo *ei);

#endif
