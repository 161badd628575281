/* gateway_post_internal: what the integrator API's two files share
 * (gateway_post.c: POSTs, journal, batch and outcome files, resume;
 * gateway_group.c: aggregation, POSTs sharing signed batches). Private to
 * them: gateway_post.h is the API.
 *
 * Locking: p->mu guards the key table, the journal's descriptor and
 * counters, next_seq, the outcome count and the groups (open, groups,
 * joining); functions say when they expect it held.
 */
#ifndef CERTA_TOOLS_GATEWAY_POST_INTERNAL_H
#define CERTA_TOOLS_GATEWAY_POST_INTERNAL_H

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certa/codec.h"
#include "certa/crypto.h"
#include "certa/receipt.h"
#include "gateway_pipe.h"
#include "gateway_post.h"

#define TOKENS_MAX 256u
#define CERTA_GW_JOURNAL_LINES_MAX (2ull * CERTA_GW_KEYS_MAX)
#define CALLER_BYTES 64u
#define GROUP_JOINING_MAX 256u /* above the gateway's POST workers */

typedef struct token {
    char caller[CALLER_BYTES];
    uint8_t hash[CERTA_HASH_BYTES];
} token;

typedef struct keyent {
    uint8_t id[CERTA_HASH_BYTES];   /* SHA-256(caller NUL key); all zero: free */
    uint8_t body[CERTA_HASH_BYTES]; /* SHA-256 of the body */
    uint64_t seq;
    uint64_t order;                 /* insertion order, for eviction */
} keyent;

struct certa_gw_post {
    certa_gw_post_opts o;
    certa_key *key;
    int integrator_idx;
    certa_gw_pipe *pipe; /* the one submit session every POST shares */
    token tokens[TOKENS_MAX];
    uint32_t ntokens;
    pthread_mutex_t mu;
    pthread_cond_t jobs_done;
    /* aggregation: the open group (POSTs join it), and every open or
     * running group (retries of their POSTs wait for them); group_cv on
     * the monotonic clock */
    struct group *open, *groups;
    pthread_cond_t group_cv;
    /* POSTs reserved for a group and not yet in it: a retry of one waits
     * (run alone meanwhile, it would be a second submission) */
    uint64_t joining[GROUP_JOINING_MAX];
    uint32_t njoining;
    uint32_t jobs; /* batches running on their own thread (async, resumed) */
    uint64_t outcomes;     /* DIR/batches/ *.json files, counted at start */
    uint64_t outcomes_max; /* CERTA_GW_OUTCOMES_MAX; tests set it low through
                            * CERTA_GATEWAY_BATCHES_KEPT */
    keyent *keys; /* [CERTA_GW_KEYS_MAX], open addressing */
    uint64_t nkeys_total;
    uint64_t next_seq;
    int journal_fd;
    uint64_t journal_lines;     /* compacted past journal_lines_max */
    uint64_t journal_lines_max; /* CERTA_GW_JOURNAL_LINES_MAX; tests set it
                                 * low through CERTA_GATEWAY_JOURNAL_LINES */
    char journal_path[4096];
};

typedef struct group group; /* gateway_group.c */

extern const uint8_t gwp_zero_id[CERTA_HASH_BYTES];

/* Outcome files begin with this line (gateway_post.c, "outcome files"). */
#define GWP_OUTCOME_MAGIC "certa-gateway-outcome 1\n"
#define OUTCOME_MAGIC_LEN (sizeof GWP_OUTCOME_MAGIC - 1)
extern const char gwp_outcome_magic[];

/* The answer to a POST, built in one buffer (gateway_post.c). */
#define ANSWER_HEAD_ROOM 4096u
/* A receipt's JSON is about 2 KiB (the hex of its event, header, proof
 * and signatures): the answer's buffer is reserved for that many per event
 * and doubles if it is not enough. */
#define ANSWER_RECEIPT_BYTES 2304u

typedef struct answer {
    char *p;
    size_t len, cap;
    bool failed; /* out of memory: the answer is a 500 */
} answer;

/* A POST's events as signed batches, ready for the pipe. */
typedef struct built {
    uint8_t *arena; /* the batches' bytes, one after another */
    size_t len, cap;
    certa_gw_pipe_batch *b;
    size_t *off; /* each batch's offset in the arena (which may move while built) */
    uint32_t n, nmax;
} built;

/* Packs and signs events exactly as `certa submit --batch 256` does (256
 * events a batch, or fewer when one is full in bytes; sequence numbers from
 * seq up by one): the same events and numbers always give byte-identical
 * batches, which a resubmission after a restart relies on. */
typedef struct packer {
    certa_gw_post *p;
    certa_batch_builder bb;
    uint8_t *buf; /* CERTA_BATCH_BYTES_MAX */
    uint64_t seq;
    built *bt;
} packer;

typedef struct tally {
    uint64_t ok, not_committed;
    char last_error[1600];
    certa_receipt_line_cache rcpt; /* the block the last receipt was of */
} tally;

uint64_t gwp_wall_us(void);
/* The journal (p->mu held): a POST's or a group's line; the descriptor
 * returned is the caller's to fdatasync and close, -1 on failure. */
int gwp_journal_append(certa_gw_post *p, const uint8_t id[CERTA_HASH_BYTES],
                       const uint8_t body[CERTA_HASH_BYTES], uint64_t seq, uint32_t events);
bool gwp_journal_compact(certa_gw_post *p);
void gwp_reply_error(certa_gw_reply *r, unsigned status, unsigned code, const char *msg);
/* The head of a POST's answer, compact JSON (malloc'ed; NULL when out of
 * memory): "error" only when not complete, "aggregated_in" only when not
 * 0 (the group that carried the POST's events). */
char *gwp_answer_head(const certa_gw_post *p, uint64_t id, bool complete, const char *caller,
                      uint64_t seq_first, uint32_t batches, uint32_t events, uint64_t ok,
                      uint64_t not_committed, bool repeated, const char *error,
                      uint64_t aggregated_in);
bool gwp_answer_reserve(answer *a, size_t more);
void gwp_answer_finish(certa_gw_reply *r, unsigned status, const char *head, answer *a);
void gwp_batch_path(const certa_gw_post *p, uint64_t seq, const char *ext, char *out,
                    size_t cap);
bool gwp_write_durable(const certa_gw_post *p, const char *path, const char *head,
                       size_t head_len, const char *body, size_t body_len);
size_t gwp_batches_with(DIR *d, const char *ext_want, uint64_t **out, bool *whole);
void gwp_outcomes_prune(certa_gw_post *p);
void gwp_built_free(built *bt);
certa_err gwp_pack_seal(packer *k, certa_errinfo *ei);
certa_err gwp_pack_events(packer *k, const char *jsonl, const certa_event *evs, uint32_t n,
                          certa_errinfo *ei);
void gwp_tally_part(const certa_gw_pipe_batch *b, uint32_t from, uint32_t count,
                    certa_receipt *rc, answer *a, tally *t);

/* ---- aggregation (gateway_group.c) ---- */

/* A synchronous POST (reserved, pending on disk, registered as joining)
 * in the open group: returns once r has its answer; false, with nothing
 * done, when there is no room for a group. Takes jsonl on success. */
bool gwp_group_post(certa_gw_post *p, const char *caller, uint64_t seq, uint32_t events,
                    char *jsonl, const certa_event *evs, certa_gw_reply *r);
/* A POST seen before: true with r its answer when it was in a group. */
bool gwp_group_retry(certa_gw_post *p, uint64_t seq, certa_gw_reply *r);
/* Group gseq from its files, registered as running (p->mu held); NULL
 * when unreadable (logged). */
group *gwp_group_load(certa_gw_post *p, uint64_t gseq);
/* Submits a loaded group and drops the loader's reference. */
void gwp_group_resume(certa_gw_post *p, group *g);
uint32_t gwp_group_posts(const group *g);
/* POST seq is in its group, or will not be (p->mu held). */
void gwp_joining_drop(certa_gw_post *p, uint64_t seq);
/* The POSTs the n group files gseqs list, read once (malloc'ed in *out,
 * *count of them); false when out of memory. */
bool gwp_group_members(const certa_gw_post *p, const uint64_t *gseqs, size_t n,
                       uint64_t **out, size_t *count);

#endif
