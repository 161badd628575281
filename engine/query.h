/* query: the answers to queries (a holder's records, a grant's status and
 * history, a block) as JSON documents. One builder for every source, so that
 * `certa query --data DIR` (offline) and a validator answering QUERY over the
 * client protocol (node/query.c) print the same bytes for the same
 * state. The documents are specified in docs/PROTOCOL.md ("Query results").
 *
 * Bounded work: a page holds at most CERTA_QUERY_RECORDS_MAX records or
 * CERTA_QUERY_BLOCK_EVENTS_MAX events (and CERTA_QUERY_BLOCK_PAGE_BYTES_MAX
 * bytes of events), whatever limit is asked for; a record
 * page costs O(limit) (the state keeps per-holder and per-grant lists); a
 * block page reads the one block record and walks its batches.
 */
#ifndef CERTA_QUERY_H
#define CERTA_QUERY_H

#include <jansson.h>

#include "certa/certa.h"
#include "certa/client.h"
#include "certa/genesis.h"
#include "certa/state.h"

struct certa_store;

#define CERTA_QUERY_LIMIT_DEFAULT 100u     /* limit 0 */
#define CERTA_QUERY_RECORDS_MAX 1000u      /* records per holder/grant page */
#define CERTA_QUERY_BLOCK_EVENTS_MAX 256u  /* events per block page */
/* A block page also ends once its events hold this many bytes (their JSON
 * is about 2.5 times as large and costs about as much to build). */
#define CERTA_QUERY_BLOCK_PAGE_BYTES_MAX (32u * 1024u)

/* The page size served for a query kind and an asked limit: 0 gives the
 * default, anything above the kind's maximum gives the maximum. */
uint32_t certa_query_page_limit(unsigned kind, uint32_t limit);

/* Scratch space (a record page, a block buffer), allocated at create and
 * grown only for a larger block. One per thread answering queries. */
typedef struct certa_query certa_query;
certa_err certa_query_create(certa_query **out, certa_errinfo *ei);
void certa_query_free(certa_query *qs);

/* Answers q (holder, grant or block; status is the validator's own) into a
 * new JSON object *out (the caller decrefs it).
 * - holder, grant: from state s; the document's "height" is s's height.
 * - block: from store; when s is not NULL only heights up to s's height are
 *   answered (a validator answers what it executed), else up to the log's
 *   end. Validator block records carry the commit certificate ("commit").
 * Errors (ei says which item): CERTA_E_NOTFOUND no such holder, grant or
 * block; CERTA_E_ARG a cursor that is not one of that holder's, grant's or
 * block's; CERTA_E_UNSUPPORTED status or an unknown kind; CERTA_E_CORRUPT
 * a block record that does not decode; CERTA_E_NOMEM. */
certa_err certa_query_answer(certa_query *qs, const certa_genesis *g,
                             const certa_state *s, struct certa_store *store,
                             const certa_cp_query *q, json_t **out,
                             certa_errinfo *ei);

/* Brings a fresh state s (height 0, created from g) to the end of a data directory's block
 * log, whichever wrote it:
 * - `certa dry-run` logs (codec blocks): certa_state_restore (newest valid
 *   snapshot in snap_dir, then replay);
 * - validator logs (committed block records with certificates): replays
 *   from height 1 with the validator's replay rules (a batch whose
 *   integrator sequence number already executed gets the "replayed"
 *   result, one outside the replay horizon "too_old"), and checks every header's prev_results_root and
 *   state_digest against this replay (CERTA_E_CHAIN naming the height when
 *   they differ, so an answer never silently disagrees with the chain).
 * *blocks gets the number of blocks replayed (may be NULL). */
certa_err certa_query_restore(certa_state *s, const certa_genesis *g,
                              const char *snap_dir, struct certa_store *store,
                              uint64_t *blocks, certa_errinfo *ei);

#endif
