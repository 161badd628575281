/* submit: the integrator's pipeline behind `certa submit` — reads events
 * (JSON Lines), packs them into batches, signs each batch, sends them
 * through the client library with a bounded window, collects receipts,
 * writes them as JSON lines, and counts results.
 *
 * Memory: at most `window` batches in flight (each copied once by the client
 * library) plus one batch being built. Every batch ends in exactly one
 * final outcome: receipts for all its events, or an error that counts all
 * its events as not committed.
 */
#ifndef CERTA_NET_SUBMIT_H
#define CERTA_NET_SUBMIT_H

#include <stdio.h>

#include "certa/client.h"
#include "certa/crypto.h"
#include "certa/genesis.h"

#define CERTA_SUBMIT_CODES_MAX 256u /* result codes counted one by one */

typedef struct certa_submit_opts {
    const certa_genesis *genesis; /* for the integrator's index and key check */
    const char *integrator;       /* name in genesis */
    const certa_key *key;         /* the integrator's Ed25519 key */
    /* Governance (certa/gov.h) changes what genesis says: */
    bool key_rotated;             /* key need not be genesis's (the council
                                   * rotated it; the validators judge it) */
    bool by_index;                /* an integrator the council added: */
    uint16_t index;               /* its index (not in genesis) */
    const char *events_path;      /* JSON Lines; "-" = standard input */
    FILE *events;                 /* when not NULL: read from this stream instead
                                   * (not closed); events_path names it in
                                   * messages */
    uint32_t endpoint_count;
    const char *const *endpoints; /* validators' client endpoints */
    const char *const *server_keys; /* their CURVE public keys (Z85) */
    uint32_t batch_events;        /* events per batch; 0 = 256 */
    uint64_t seq_first;           /* sequence number of the first batch; 0 = 1 */
    uint32_t window;              /* batches in flight; 0 = 32 */
    uint32_t deadline_ms;         /* per batch; 0 = 60000 */
    uint32_t attempt_timeout_ms;  /* 0 = client default */
    uint32_t retries_max;         /* 0 = client default */
    FILE *receipts;               /* JSON lines out; NULL = not written */
    FILE *progress;               /* progress lines; NULL = quiet */
    uint32_t progress_ms;         /* between progress lines; 0 = 1000 */
} certa_submit_opts;

typedef struct certa_submit_summary {
    uint64_t events;        /* events read and sent */
    uint64_t batches;
    uint64_t ok;            /* committed with result ok */
    uint64_t rejected;      /* committed with a rejection */
    uint64_t not_committed; /* refused at the door, timed out, or missing */
    /* of not_committed, refused as (docs/PROTOCOL.md "Replay protection"): */
    uint64_t too_old;       /* outside the replay horizon (ERROR 703): may or
                             * may not have executed; resubmit under new
                             * sequence numbers if they did not */
    uint64_t seq_used;      /* sequence already executed with other bytes (702) */
    uint64_t by_code[CERTA_SUBMIT_CODES_MAX]; /* committed events by result */
    uint64_t bad_lines;     /* input lines that did not parse (skipped) */
    double seconds;
    char last_error[1600];   /* the last batch error seen, "" when none */
} certa_submit_summary;

/* Runs the whole file. Returns CERTA_OK when it ran to the end (look at the
 * summary for the outcome), or an error that stopped it (unreadable file,
 * unknown integrator, key not matching genesis, bad endpoint). */
certa_err certa_submit_run(const certa_submit_opts *o, certa_submit_summary *s,
                           certa_errinfo *ei);

#endif
