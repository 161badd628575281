/* state: the authorization state machine every validator executes.
 *
 * It applies committed events in block order, with the block's timestamp as
 * "now", and gives each event one definitive result: CERTA_R_OK or a
 * rejection reason. Rejected events are committed like accepted ones (a wrong
 * code is evidence too) and change state only where the rules say so (a wrong
 * code counts towards the lock). Results and state depend only on the genesis
 * and the chain: never on hash-table layout, thread count, pointer values or
 * the wall clock. The order in which each kind's checks run is fixed and
 * documented in docs/OPERATIONS.md ("Rejection reasons").
 *
 * A certa_state is single-threaded: one caller applies blocks and queries
 * between blocks. It may use a fixed pool of hashing threads (created once in
 * certa_state_create) for digests; the results never depend on that count.
 */
#ifndef CERTA_STATE_H
#define CERTA_STATE_H

#include "certa/certa.h"
#include "certa/codec.h"
#include "certa/genesis.h"

/* Result codes: published values (they are hashed into results roots and
 * shown by receipts); never renumber, only append. */
typedef enum certa_result {
    CERTA_R_OK = 0,
    CERTA_R_MALFORMED = 1,          /* fields inconsistent for the kind */
    CERTA_R_ROLE_FORBIDDEN = 2,     /* integrator role or scope forbids it */
    CERTA_R_UNKNOWN_GRANT = 3,
    CERTA_R_DUPLICATE_GRANT = 4,
    CERTA_R_NOT_HOLDER = 5,         /* revoke by another holder */
    CERTA_R_REVOKED = 6,
    CERTA_R_EXHAUSTED = 7,          /* max_uses reached */
    CERTA_R_NOT_YET_VALID = 8,
    CERTA_R_EXPIRED = 9,
    CERTA_R_LOCKED = 10,            /* code_attempts_max wrong codes */
    CERTA_R_CODE_MISMATCH = 11,
    CERTA_R_SCOPE_CENTRE = 12,
    CERTA_R_SCOPE_COUNTER = 13,
    CERTA_R_SCOPE_MATTER = 14,
    CERTA_R_LICENCE_TYPE_NOT_ALLOWED = 15,
    CERTA_R_BAD_WINDOW = 16,
    CERTA_R_NOT_REDEEMED = 17,      /* confirm/sign/photo before a redeem */
    CERTA_R_REPLAYED = 18,          /* its batch (integrator, seq) already executed */
    CERTA_R_TOO_OLD = 19,           /* its batch's seq is outside the replay horizon:
                                     * not executed, earlier execution unknown */
    /* governance (include/certa/gov.h, docs/OPERATIONS.md "Governance") */
    CERTA_R_GOV_NOT_MEMBER = 20,         /* GOVERN by an admin outside the council */
    CERTA_R_GOV_UNKNOWN_PROPOSAL = 21,   /* approve names no open proposal */
    CERTA_R_GOV_EXPIRED = 22,            /* propose or approve at or after its expiry */
    CERTA_R_GOV_DUPLICATE_APPROVAL = 23, /* that member approved it already */
    CERTA_R_GOV_UNKNOWN_CHANGE = 24,     /* change type not known */
    CERTA_R_GOV_BAD_THRESHOLD = 25,      /* threshold 0 or above the council size */
    CERTA_R_GOV_KEY_IN_USE = 26,         /* an integrator has or had that key */
    CERTA_R_GOV_BAD_KEY = 27,            /* all zero, or not an Ed25519 public key */
    CERTA_R_GOV_BAD_TARGET = 28,         /* no such integrator/centre/counter, or
                                          * not in a state the change applies to */
    CERTA_R_GOV_PARAM_RANGE = 29,        /* unknown parameter or value out of range */
    CERTA_R_GOV_PROPOSAL_EXISTS = 30,    /* the same proposal digest is open */
    CERTA_R_GOV_FULL = 31,               /* a governed table or the proposals are full */
    CERTA_R_INTEGRATOR_INACTIVE = 32,    /* submitter suspended or removed */
    CERTA_R_STALE_KEY = 33,              /* batch signed with a key rotated out */
    CERTA_R_LICENCE_TYPE_REQUIRED = 34,  /* the centre's catalogue requires a type
                                          * the grant or redeem lacks */
    /* Evidence bound to its redeem (rules 2, see CERTA_GP_RULES): */
    CERTA_R_EVIDENCE_REDEEM = 35,        /* names no redeem, or not the grant's latest */
    CERTA_R_EVIDENCE_LATE = 36,          /* CERTA_STATE_EVIDENCE_WINDOW_MS after it */
    CERTA_R_EVIDENCE_COUNTER = 37,       /* not from the counter of that redeem */
    CERTA_R_EVIDENCE_DUPLICATE = 38,     /* that kind already documents that redeem */
    CERTA_R_CODE_UNSEALED = 39,          /* rules 2: a code or QR redeem without its
                                          * sealed proof (e.g. revealing the code) */
    CERTA_R_COUNT = 40,
} certa_result;

/* "ok", "malformed", ...; NULL for an unknown code. parse: -1 if unknown. */
const char *certa_result_name(unsigned r);
int certa_result_parse(const char *name);

/* Leaf data of one event's result in a block's results tree (RFC 6962):
 *     u8 result || u8 kind
 * Leaf i of the results tree is the result of leaf i of the events tree. */
#define CERTA_RESULT_LEAF_BYTES 2u
void certa_result_leaf(uint8_t kind, uint8_t result,
                       uint8_t out[CERTA_RESULT_LEAF_BYTES]);

typedef struct certa_state certa_state;

typedef struct certa_state_opts {
    uint32_t hash_threads;    /* threads hashing digests (1 = caller only); <= 64 */
    uint32_t grants_reserve;  /* hot grants the look-up index is sized for up front
                               * (0 = 1024): past it each of the index's 256
                               * shards doubles on its own (the grants themselves
                               * never move) */
    /* Hot grants the state can ever hold (0: CERTA_STATE_GRANTS_MAX_DEFAULT;
     * at most CERTA_STATE_GRANTS_MAX_LIMIT; raised to grants_reserve). The
     * grant table and everything sized by it are address space reserved
     * once at create and never moved: memory is used only as slots are.
     * A validator whose hot grants would pass it stops (abort, with a
     * message) rather than execute differently: results never depend on
     * it; restart it with a larger value and it replays. A snapshot with
     * more slots than it is refused. */
    uint32_t grants_max;
    uint32_t records_reserve; /* unused: event records live in the cold store */
    /* The cold store (archived grants, every event's record): an LMDB
     * environment in this directory, created when missing, rebuilt empty
     * when torn (see certa_state_cold_info). Its commits are not fsynced:
     * certa_state_free flushes them, and a store left unflushed by a
     * system crash is rebuilt at the next create (engine/cold.h). NULL: a
     * private temporary directory, removed by certa_state_free (tests,
     * tools that replay). */
    const char *cold_dir;
    uint64_t cold_map_bytes; /* LMDB map_size, the file's limit (0: 64 GiB) */
    /* Seeds the hash tables' look-up positions (grant ids are chosen by
     * integrators, so a known seed would let one crowd a bucket); never
     * observable in results or digests. 0: drawn from the clock. */
    uint64_t hash_seed;
} certa_state_opts;

/* 2^26 hot grants: about 24.6 GiB of address space (little of it used until
 * the grants come), a month of grants at 64 times Beijing's load. */
#define CERTA_STATE_GRANTS_MAX_DEFAULT (1u << 26)
/* The look-up index holds at most 2^30 entries (half of 2^31 slots). */
#define CERTA_STATE_GRANTS_MAX_LIMIT (1u << 30)

/* Events of one block: at most CERTA_BLOCK_BATCHES_MAX batches of at most
 * CERTA_BATCH_EVENTS_MAX events each (1024 x 4096), the most a committed
 * block can carry. certa_state_apply_block refuses a block that claims
 * more; a caller applying events itself must stay within it. */
#define CERTA_STATE_BLOCK_EVENTS_MAX (1u << 22)

/* Grace after a grant's window ends during which it stays in RAM; then it
 * can no longer change (a revoke that late is refused as expired) and the
 * first block whose time is >= not_after_ms + grace archives it to the
 * cold store. Part of the rules: every validator archives at that block. */
#define CERTA_STATE_GRACE_MS (24ull * 3600 * 1000)

/* Under rules 2 a confirm, sign or photo documents the grant's latest
 * redeem and must be committed in a block whose time is less than this
 * after that redeem's block time: the counter case it documents is over by
 * then. Part of the rules. */
#define CERTA_STATE_EVIDENCE_WINDOW_MS (30ull * 60 * 1000)

/* Creates an empty state (height 0, the genesis). g must outlive the state.
 * o may be NULL (one thread, small reserves). The cold store may be ahead
 * of the state (a restarted validator's): blocks up to its height are
 * replayed without writing it again, and checked against it on arrival. */
certa_err certa_state_create(const certa_genesis *g, const certa_state_opts *o,
                             certa_state **out, certa_errinfo *ei);
void certa_state_free(certa_state *s);

/* ---- applying blocks ----
 * begin_block, then apply each event in block order, then end_block.
 * begin_block refuses (CERTA_E_STATE) a height other than height()+1 and
 * (CERTA_E_TIME) a timestamp below the previous block's. */
certa_err certa_state_begin_block(certa_state *s, uint64_t height,
                                  uint64_t timestamp_ms, certa_errinfo *ei);

/* Applies one decoded event submitted by integrator (index in the
 * governed integrators, certa/gov.h: genesis's, then the council's; an
 * index out of range is role_forbidden). Returns its result; the event is
 * recorded either way. */
certa_result certa_state_apply(certa_state *s, uint16_t integrator,
                               const certa_event *ev);

/* A hint that ev will be applied soon: starts loading the index slots
 * (stage 0), a few events later the records they point to (stage 1), then
 * what recording the event touches (stage 2: its holder, the last records
 * of the histories), so that applying a block does not wait for memory
 * once per look-up. Reads only; changes nothing. */
void certa_state_prefetch(const certa_state *s, const certa_event *ev, int stage);

/* Records an event that is not executed, with result r (the ledger's
 * stale_key: its batch was signed with a key rotated out); nothing else
 * changes. */
certa_result certa_state_apply_rejected(certa_state *s, uint16_t integrator, certa_result r);

/* Records an event whose bytes did not decode (result malformed). */
certa_result certa_state_apply_malformed(certa_state *s, uint16_t integrator);

/* Records an event of a batch whose (integrator, seq) had already executed
 * when a block carried it again (result replayed); nothing else changes. */
certa_result certa_state_apply_replayed(certa_state *s, uint16_t integrator);

/* Records an event of a batch whose (integrator, seq) lay outside the replay
 * horizon when a block carried it (result too_old: whether it executed
 * before cannot be told, so it is not executed); nothing else changes. */
certa_result certa_state_apply_too_old(certa_state *s, uint16_t integrator);

/* Closes the block: results_root gets the RFC 6962 root over the block's
 * result leaves (what the next block's header carries as prev_results_root). */
void certa_state_end_block(certa_state *s, uint8_t results_root[CERTA_HASH_BYTES]);

/* Results of the block being applied or last ended: count and codes (one
 * byte per event, certa_result). The pointer lives until the next
 * begin_block. */
const uint8_t *certa_state_block_results(const certa_state *s, uint32_t *count);

/* Applies a whole encoded block (header, then batches as certa_block_next_batch
 * iterates them): begin, every event (its submitter is its batch's
 * integrator), end; results_root as end_block gives it, the per-event
 * results through certa_state_block_results. Refuses a block that does not
 * decode, whose header counts do not match its batches, or that does not
 * follow (height, time), before changing anything. Signatures are not
 * checked: a committed block is applied as it is. */
certa_err certa_state_apply_block(certa_state *s, const uint8_t *block,
                                  size_t len, uint8_t results_root[CERTA_HASH_BYTES],
                                  certa_errinfo *ei);

/* Root of the last ended block's results (the empty-tree hash at height 0):
 * what the next block's header carries as prev_results_root. */
void certa_state_last_results_root(const certa_state *s,
                                   uint8_t out[CERTA_HASH_BYTES]);

uint64_t certa_state_height(const certa_state *s);
uint64_t certa_state_time_ms(const certa_state *s);
uint64_t certa_state_event_count(const certa_state *s);
/* The committed result of event `index` of the chain (from 0, in block
 * order): false when no such event was applied yet. */
bool certa_state_event_result(const certa_state *s, uint64_t index, uint8_t *result);
uint32_t certa_state_grant_count(const certa_state *s); /* created, hot + archived */

/* The cold store: where it stands and what it cost. */
typedef struct certa_state_cold_info {
    bool rebuilt;          /* it was torn, unreadable or unflushed at open and started empty */
    const char *rebuilt_why; /* why ("" when not rebuilt), valid while the state lives */
    uint64_t height;       /* the block its content reflects (as reads see it) */
    uint64_t committed_height; /* the last one committed to the file: a kill
                                * loses the blocks above it (replayed) */
    uint64_t events;       /* event records it holds */
    uint64_t archived;     /* archived grants it holds */
    uint64_t disk_bytes;   /* its file's allocated bytes */
    uint64_t write_ns;     /* time the applying thread spent on it (wall): staging
                            * records and waiting for the writer when it is behind */
    uint64_t write_cpu_ns; /* the same in that thread's CPU time */
    uint64_t writer_ns;    /* time the store's writer thread spent writing (wall) */
    uint64_t writer_cpu_ns; /* the same in its CPU time */
    uint32_t hot_grants;   /* grants in RAM */
    uint8_t root[CERTA_HASH_BYTES]; /* archive tree root at `height` */
} certa_state_cold_info;
void certa_state_cold(const certa_state *s, certa_state_cold_info *out);
/* CERTA_OK, or the first failure to write the cold store (disk full, map
 * full, I/O) or disagreement with it found on replay: the caller must stop
 * applying blocks (nothing more is written; the block log still holds
 * everything; a restart replays from the cold store's height). */
certa_err certa_state_cold_status(const certa_state *s, certa_errinfo *ei);
/* Hands the cold store's open group of blocks to its writer and waits
 * until everything handed over is written (between blocks): the store is
 * then at the state's height. Returns the cold error, if any. */
certa_err certa_state_cold_flush(certa_state *s, certa_errinfo *ei);
/* Removes a cold store's files in dir (no state may have it open): the
 * next state created on dir starts it empty and replay refills it. */
void certa_state_cold_remove(const char *dir);

/* The state digest: SHA-256 over the hot grants' slots, the count of grants
 * created and of events, the archive (count and RFC 6962 root of the
 * archived grants' final records), a hash chain of every block's
 * results root and the governed tables (certa/gov.h). Only grants changed
 * since the last call are rehashed, on the hash threads. Deterministic: same genesis and chain, same digest. */
void certa_state_digest(certa_state *s, uint8_t out[CERTA_HASH_BYTES]);

/* Bytes the state uses for grants (records, index, hashes) and for event
 * records: the pages of its reservation written so far (the slots up to
 * the most ever hot, the largest block's records) and the index. */
typedef struct certa_state_mem {
    size_t grant_bytes;  /* grant table + its index + holder table + chunk hashes */
    size_t record_bytes; /* per-event history records */
    uint32_t grants;
    uint32_t holders;
    uint64_t records;
} certa_state_mem;
void certa_state_memory(const certa_state *s, certa_state_mem *m);

/* ---- queries ---- */

/* Status of a grant, derived: revoked beats locked beats exhausted beats the
 * time window (not_yet_valid, active, expired) at the state's current time. */
typedef enum certa_grant_status {
    CERTA_GS_ACTIVE = 0,
    CERTA_GS_NOT_YET_VALID = 1,
    CERTA_GS_EXPIRED = 2,
    CERTA_GS_EXHAUSTED = 3,
    CERTA_GS_LOCKED = 4,
    CERTA_GS_REVOKED = 5,
} certa_grant_status;
const char *certa_grant_status_name(unsigned st);

typedef struct certa_grant_info {
    uint8_t grant_id[CERTA_GRANT_ID_BYTES];
    uint8_t holder_id[CERTA_HOLDER_ID_BYTES];
    uint16_t centre;
    uint16_t counter;
    uint32_t matter;
    uint32_t licence_types;
    uint64_t not_before_ms;
    uint64_t not_after_ms;
    uint16_t max_uses;
    uint16_t uses;
    uint8_t failed_attempts;
    uint8_t method;
    uint8_t status; /* certa_grant_status */
    uint64_t created_ms;
} certa_grant_info;

/* CERTA_E_NOTFOUND when no such grant. */
certa_err certa_state_grant(const certa_state *s,
                            const uint8_t grant_id[CERTA_GRANT_ID_BYTES],
                            certa_grant_info *out);

/* One event as a holder or a grant history sees it. */
typedef struct certa_record {
    uint64_t seq;     /* event sequence number on the chain, from 0: the cursor */
    uint64_t time_ms; /* its block's timestamp */
    uint8_t kind;
    uint8_t result;
    uint16_t centre;
    uint32_t matter;
    uint32_t licence_types; /* grant: requested; redeem: types fetched */
    bool has_grant;         /* grant_id names an existing grant */
    uint8_t grant_id[CERTA_GRANT_ID_BYTES];
} certa_record;

/* Pages, oldest first. cursor 0 starts at the beginning; otherwise the page
 * starts after the record whose seq is cursor-1 (pass next_cursor back).
 * *n_out gets the count written (<= limit); *next_cursor is 0 when no record
 * follows. CERTA_E_NOTFOUND when the holder or grant has no record at all;
 * CERTA_E_ARG when cursor does not belong to that holder or grant. */
certa_err certa_state_holder_records(const certa_state *s,
                                     const uint8_t holder_id[CERTA_HOLDER_ID_BYTES],
                                     uint64_t cursor, uint32_t limit,
                                     certa_record *out, uint32_t *n_out,
                                     uint64_t *next_cursor);
certa_err certa_state_grant_history(const certa_state *s,
                                    const uint8_t grant_id[CERTA_GRANT_ID_BYTES],
                                    uint64_t cursor, uint32_t limit,
                                    certa_record *out, uint32_t *n_out,
                                    uint64_t *next_cursor);

/* ---- snapshots ----
 * A snapshot holds the hot state (grant slots, free list, archive frontier,
 * digest inputs) at the current height, the cold store's part by reference
 * (event and archive counts, archive root), bound to the genesis hash and closed by a SHA-256
 * of its bytes. save writes PATH.tmp, fsyncs it, renames it over path and
 * fsyncs the directory: a crash leaves the old file or the new one. */
certa_err certa_state_snapshot_save(certa_state *s, const char *path,
                                    certa_errinfo *ei);
/* Replaces s's content with the snapshot's. CERTA_E_SNAPSHOT (path in the
 * message) when it is truncated, fails its checksum, names another
 * genesis, or s's cold store is behind the snapshot's height or disagrees
 * with it there; s is then unchanged. */
certa_err certa_state_snapshot_load(certa_state *s, const char *path,
                                    certa_errinfo *ei);

/* ---- data directory: snapshots plus the block log ----
 * Snapshots live in one directory as HEIGHT.snap (20 decimal digits). */
struct certa_store;

/* Writes a snapshot of s at its height into snap_dir (created when missing)
 * and deletes all but the newest `keep` (>= 1) snapshots. The caller makes
 * sure the blocks up to that height are durable first. */
certa_err certa_state_checkpoint(certa_state *s, const char *snap_dir,
                                 uint32_t keep, certa_errinfo *ei);

typedef struct certa_state_restore_report {
    bool from_snapshot;
    uint64_t snapshot_height;
    uint32_t snapshots_skipped; /* invalid or ahead of the log */
    uint64_t replayed_blocks;
    uint64_t replayed_events;
} certa_state_restore_report;

/* Brings a fresh state (height 0) up to the end of the log: loads the newest
 * valid snapshot in snap_dir whose height the log holds (invalid ones are
 * skipped and counted), then applies every later block of store in order.
 * The log's height-0 block (genesis) is not applied. rep may be NULL. */
certa_err certa_state_restore(certa_state *s, const char *snap_dir,
                              struct certa_store *store,
                              certa_state_restore_report *rep, certa_errinfo *ei);

#endif
