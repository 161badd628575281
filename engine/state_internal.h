/* state_internal: what the parts of the licence state share and nothing
 * else sees: the grant, holder and record layouts, the indexes and the
 * state's struct, and the helpers one part calls in another. The public
 * contract is include/certa/state.h.
 *
 * The parts, one job each:
 *   state.c       the licence rules, the hot index, block roots, the digest
 *   state_cold.c  archival of grants that can no longer change, the cold
 *                 store's writes (one transaction per block) and the
 *                 queries answered from it
 *   state_snap.c  snapshots: save (hashed, fsynced, renamed into place) and
 *                 load (every index checked before the state is replaced)
 *   state_gov.c   the queries of the governed tables (the rules: gov.c)
 * The invariants of the state are stated in state.c.
 */
#ifndef CERTA_STATE_INTERNAL_H
#define CERTA_STATE_INTERNAL_H

#include "certa/state.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certa/crypto.h"
#include "certa/merkle.h"
#include "certa/pool.h"
#include "certa/wire.h"
#include "gov_table.h"

#define NONE UINT32_MAX
#define CHUNK_GRANTS 16u /* grant hashes per chunk hash */
#define PAGE_CHUNKS 64u  /* chunk hashes per page hash */
#define GRANT_FLAG_REVOKED 0x01u
#define GRANT_FLAG_LOCKED 0x02u
#define GRANT_FLAG_REDEEMED 0x04u
/* Rules 2: which evidence documents the latest redeem (cleared by a redeem) */
#define GRANT_FLAG_CONFIRMED 0x08u
#define GRANT_FLAG_SIGNED 0x10u
#define GRANT_FLAG_PHOTOGRAPHED 0x20u
#define GRANT_HASH_BYTES 115u
/* The hashed encoding of a grant whose latest redeem is recorded (rules 2):
 * GRANT_HASH_BYTES, then u64 redeem_ms, u16 redeem_counter. A grant without
 * one (every grant of a rules-1 chain) keeps the short form, so its digest
 * is what it was before the rules could bind evidence. */
#define GRANT_HASH_BYTES_BOUND (GRANT_HASH_BYTES + 10u)
/* An archived grant's leaf in the archive tree: its GRANT_HASH_BYTES
 * encoding, u64 created_ms, u64 height of the block that archived it. Its
 * cold record is the leaf followed by u64 leaf index. */
#define ARCHIVE_LEAF_BYTES (GRANT_HASH_BYTES + 16u)
#define ARCHIVE_REC_BYTES (ARCHIVE_LEAF_BYTES + 8u)
#define FRONTIER_MAX 64u
#define THREADS_MAX CERTA_POOL_THREADS_MAX
#define PAIR_CACHE_SLOTS 1024u

/* 136 bytes: the whole per-grant state, in a slot of the hot table. */
typedef struct grant {
    uint8_t id[CERTA_GRANT_ID_BYTES];
    uint8_t holder_id[CERTA_HOLDER_ID_BYTES];
    uint8_t code_commit[CERTA_HASH_BYTES];
    uint64_t not_before_ms;
    uint64_t not_after_ms;
    uint64_t created_ms; /* its grant event's block time */
    uint32_t matter;
    uint32_t licence_types;
    uint16_t centre;
    uint16_t counter;
    uint16_t max_uses;
    uint16_t uses;
    uint8_t fails;
    uint8_t flags;
    uint8_t method;
    uint8_t live; /* 1: the slot holds a grant; 0: free (all fields zero) */
    uint16_t redeem_counter; /* rules 2: the counter of the latest redeem */
    uint16_t pad_;
    uint64_t redeem_ms; /* rules 2: the block time of the latest redeem */
} grant;
_Static_assert(sizeof(grant) == 136, "grant layout");

/* One event of the block being applied (or last applied), kept until its
 * record is written to the cold store. */
typedef struct record {
    uint64_t time_ms;
    uint32_t matter;
    uint32_t licence_types;
    uint16_t centre;
    uint8_t kind;
    uint8_t result;
    uint8_t has_grant;
    uint8_t has_holder;
    uint8_t grant_id[CERTA_GRANT_ID_BYTES];
    uint8_t holder_id[CERTA_HOLDER_ID_BYTES];
} record;

/* Open addressing over u64 slots: high 32 bits a tag from the key's hash,
 * low 32 bits index+1 (0 = empty). Linear probing, deletion by backward
 * shift (no tombstones: the table never degrades under churn). The table
 * is INDEX_SHARDS shards picked by hash bits 24..31, each doubled on its
 * own when half full: growing rehashes one shard (1/256 of the keys), not
 * the whole index inside one block (at 4M grants a whole rehash took about
 * a second of one block's execution). Within a shard the position is the
 * hash's low bits (at most 2^23 slots: never the shard bits; 256 x 2^23
 * slots hold the 2^30 grants of the largest grants_max at half load). */
#define INDEX_SHARD_BITS 8u
#define INDEX_SHARDS (1u << INDEX_SHARD_BITS)
typedef struct index_shard {
    uint64_t *slots;
    uint32_t mask;  /* capacity - 1, capacity a power of two */
    uint32_t count;
    bool own;       /* slots is its own allocation, not part of `first` */
} index_shard;
typedef struct index_table {
    index_shard shard[INDEX_SHARDS];
    uint64_t *first; /* the shards' initial slots, one allocation */
    uint64_t slots_total; /* capacity of all shards */
} index_table;

/* Expiry heap entry: hot grants ordered by (not_after_ms, slot), a total
 * order, so the archive order depends on the set only. */
typedef struct expiry {
    uint64_t not_after_ms;
    uint32_t slot;
} expiry;

struct certa_cold;

struct certa_state {
    const certa_genesis *g;
    struct certa_gov *gov; /* the governed tables (engine/gov.c) */
    uint64_t seed; /* index hashing only */

    uint64_t height;
    uint64_t now_ms;
    bool in_block;

    /* Every array below sized by grant_cap or by the block bound lives in
     * one mapping reserved at create (state.c, region_map): it never moves
     * and its pages become memory only when first written. */
    uint8_t *region;
    size_t region_bytes;
    uint32_t grants_reserve; /* the index's size at start (snapshot load too) */

    /* hot grants: slots [0, grant_slots) are live or free; freed slots are
     * reused last-freed-first, a function of the chain; grant_cap is
     * grants_max, the slots reserved */
    grant *grants;
    uint32_t grant_slots, grant_cap, grant_live;
    uint32_t *free_slots;
    uint32_t free_count;
    expiry *heap;
    uint32_t heap_count;
    index_table grant_index;
    uint64_t grants_created;

    /* events: record_count on the chain; records[] holds those of the
     * current (or last) block, from record_base (room for
     * CERTA_STATE_BLOCK_EVENTS_MAX) */
    record *records;
    uint64_t record_count, record_base;
    uint32_t block_count_max; /* the largest block so far: records in use */

    /* archive: RFC 6962 tree over archived grants, kept as its frontier
     * (frontier[i]: the complete subtree of 2^i leaves when bit i of
     * archived is set) */
    uint64_t archived;
    uint8_t frontier[FRONTIER_MAX][CERTA_HASH_BYTES];
    uint32_t *arch_scratch; /* slots archived by one block */

    /* the cold store */
    struct certa_cold *cold;
    char cold_dir[4096];
    bool cold_private;      /* a temporary directory, removed by free */
    bool cold_rebuilt;      /* found torn or unreadable at open */
    uint64_t cold_skip_to;  /* blocks up to this height are in it already */
    certa_err cold_err;     /* first write failure (then nothing more is written) */
    char cold_msg[256];
    uint64_t cold_write_ns; /* time spent staging its writes (wall, this thread's CPU) */
    uint64_t cold_write_cpu_ns;
    uint32_t cold_group_blocks; /* blocks in the open (staged) group */
    uint64_t cold_group_events; /* their events */
    grant cold_grant;       /* an archived grant looked up by the block */

    /* digest */
    uint8_t (*grant_hash)[CERTA_HASH_BYTES]; /* chunk_cap * CHUNK_GRANTS */
    uint8_t (*chunk_hash)[CERTA_HASH_BYTES];
    uint16_t *chunk_dirty; /* bit i: grant i of the chunk changed */
    uint32_t *dirty_list;  /* chunks with chunk_dirty != 0 */
    uint32_t dirty_count;
    uint32_t chunk_cap;
    uint8_t (*page_hash)[CERTA_HASH_BYTES];
    /* digest scratch, dig_cap entries: a whole level at once */
    uint8_t *dig_enc;
    certa_merkle_split_leaf *dig_split;
    uint8_t (*dig_heads)[8];
    uint8_t *dig_out;
    uint32_t *dig_idx;
    size_t dig_cap;
    uint8_t *page_dirty;
    uint32_t *page_list; /* pages with page_dirty != 0 */
    uint32_t page_dirty_count;
    uint32_t page_cap;
    uint8_t results_chain[CERTA_HASH_BYTES];
    uint8_t last_results_root[CERTA_HASH_BYTES];

    /* block being applied (room for CERTA_STATE_BLOCK_EVENTS_MAX) */
    uint8_t *block_results;
    uint8_t *block_kinds;
    uint32_t block_count;
    uint8_t (*scratch)[CERTA_HASH_BYTES]; /* a results tree's lowest nodes */

    certa_pool *pool; /* digest hashing; NULL: the calling thread only */

    /* result leaves take only CERTA_R_COUNT x 8 values: hashed once */
    uint8_t leaf_hash[CERTA_R_COUNT][8][CERTA_HASH_BYTES];
    /* node hashes of pairs of result leaves, by pair (direct-mapped): a
     * block has few distinct (result, kind) leaves, so most of its lowest
     * level of nodes repeats */
    struct pair_node {
        uint16_t key; /* 0: empty, else 1 + (a << 8 | b) folded */
        uint8_t a, b;
        uint8_t h[CERTA_HASH_BYTES];
    } pair_cache[PAIR_CACHE_SLOTS];
};

typedef bool (*key_eq_fn)(const certa_state *s, uint32_t idx, const uint8_t *key);
typedef const uint8_t *(*key_of_fn)(const certa_state *s, uint32_t idx);

/* ---- helpers shared between the parts, by the file that defines them */
/* state.c */
void state_index_init(index_table *t, uint32_t reserve);
void state_index_free(index_table *t);
const uint8_t *state_grant_key(const certa_state *s, uint32_t idx);
void state_index_insert(const certa_state *s, index_table *t, const uint8_t *key,
                        size_t len, uint32_t idx, key_of_fn key_of);
void state_index_remove(const certa_state *s, index_table *t, const uint8_t *key,
                        size_t len, uint32_t idx, key_of_fn key_of);
uint32_t state_grant_find(const certa_state *s, const uint8_t *id);
void state_grant_touch(certa_state *s, uint32_t gi);
void state_grant_encode(const grant *gr, uint8_t out[GRANT_HASH_BYTES]);
/* The digest's encoding: the short form, or GRANT_HASH_BYTES_BOUND bytes when
 * the grant records a redeem; returns its length. */
size_t state_grant_encode_digest(const grant *gr, uint8_t out[GRANT_HASH_BYTES_BOUND]);
void state_grant_decode(const uint8_t in[GRANT_HASH_BYTES], grant *gr);
void state_heap_push(certa_state *s, uint64_t not_after_ms, uint32_t slot);
uint8_t state_grant_status(const certa_state *s, const grant *gr);
/* state_cold.c */
certa_err state_cold_open(certa_state *s, const certa_state_opts *o, certa_errinfo *ei);
void state_cold_close(certa_state *s);
void state_archive_root(const certa_state *s, uint8_t out[CERTA_HASH_BYTES]);
void state_archive_root_of(uint64_t archived, const uint8_t (*frontier)[CERTA_HASH_BYTES],
                           uint8_t out[CERTA_HASH_BYTES]);
/* Archives the grants past expiry + grace and writes the block's records
 * and archived grants to the cold store (end of block). */
void state_cold_end_block(certa_state *s);
/* Hands the open group, if any, to the cold store's writer and waits until
 * the store is at the state's height (between blocks). A failure is kept as
 * the cold error. */
certa_err state_cold_flush(certa_state *s, certa_errinfo *ei);
/* An archived grant by id, as of the state's position (archived by an
 * earlier block; inside a block, before it): copied to s->cold_grant. */
bool state_cold_grant(certa_state *s, const uint8_t *id);
/* Before a snapshot of height `height` (its event count, archive count
 * and root) replaces the state: CERTA_E_SNAPSHOT unless the cold store is
 * at or past that height, agreeing with it when at it. */
certa_err state_cold_check_snapshot(const certa_state *s, uint64_t height, uint64_t events,
                                    uint64_t archived, const uint8_t root[CERTA_HASH_BYTES],
                                    const char *path, certa_errinfo *ei);

#endif
