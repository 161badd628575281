/* state_internal: what the parts of the licence state share and nothing
 * else sees: the grant, holder and record layouts, the indexes and the
 * state's struct, and the helpers one part calls in another. The public
 * contract is include/certa/state.h.
 *
 * The parts, one job each:
 *   state.c       the licence rules, indexes, block roots, the digest and
 *                 the queries
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
#define GRANT_HASH_BYTES 115u
#define THREADS_MAX CERTA_POOL_THREADS_MAX
#define PAIR_CACHE_SLOTS 1024u

/* 96 bytes: the whole per-grant state. */
typedef struct grant {
    uint8_t id[CERTA_GRANT_ID_BYTES];
    uint8_t code_commit[CERTA_HASH_BYTES];
    uint64_t not_before_ms;
    uint64_t not_after_ms;
    uint32_t holder; /* index in holders */
    uint32_t matter;
    uint32_t licence_types;
    uint32_t hist_head; /* first and last record of its history */
    uint32_t hist_tail;
    uint16_t centre;
    uint16_t counter;
    uint16_t max_uses;
    uint16_t uses;
    uint8_t fails;
    uint8_t flags;
    uint8_t method;
    uint8_t pad_;
} grant;
_Static_assert(sizeof(grant) == 96, "grant layout");

typedef struct holder {
    uint8_t id[CERTA_HOLDER_ID_BYTES];
    uint32_t head;
    uint32_t tail;
} holder;

/* One event on the chain (36 bytes, packed: there is one per event). */
typedef struct __attribute__((packed)) record {
    uint64_t time_ms;
    uint32_t grant;  /* index or NONE */
    uint32_t holder; /* index or NONE */
    uint32_t next_holder;
    uint32_t next_grant;
    uint32_t matter;
    uint32_t licence_types;
    uint16_t centre;
    uint8_t kind;
    uint8_t result;
} record;
_Static_assert(sizeof(record) == 36, "record layout");

/* Open addressing over u64 slots: high 32 bits a tag from the key's hash,
 * low 32 bits index+1 (0 = empty). */
typedef struct index_table {
    uint64_t *slots;
    uint32_t mask; /* capacity - 1, capacity a power of two */
    uint32_t count;
} index_table;

struct certa_state {
    const certa_genesis *g;
    struct certa_gov *gov; /* the governed tables (engine/gov.c) */
    uint64_t seed; /* index hashing only */

    uint64_t height;
    uint64_t now_ms;
    bool in_block;

    grant *grants;
    uint32_t grant_count, grant_cap;
    holder *holders;
    uint32_t holder_count, holder_cap;
    record *records;
    uint64_t record_count, record_cap;
    index_table grant_index;
    index_table holder_index;

    /* digest */
    uint8_t (*grant_hash)[CERTA_HASH_BYTES]; /* chunk_cap * CHUNK_GRANTS */
    uint8_t (*chunk_hash)[CERTA_HASH_BYTES];
    uint16_t *chunk_dirty; /* bit i: grant i of the chunk changed */
    uint32_t *dirty_list;  /* chunks with chunk_dirty != 0 */
    uint32_t dirty_count;
    uint32_t chunk_cap;
    uint8_t (*page_hash)[CERTA_HASH_BYTES];
    /* digest scratch (dig_reserve) */
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

    /* block being applied */
    uint8_t *block_results;
    uint8_t *block_kinds;
    uint32_t block_count, block_cap;
    uint8_t (*scratch)[CERTA_HASH_BYTES];
    uint32_t scratch_cap;

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
const uint8_t *state_grant_key(const certa_state *s, uint32_t idx);
const uint8_t *state_holder_key(const certa_state *s, uint32_t idx);
void state_index_insert(const certa_state *s, index_table *t, const uint8_t *key,
                        size_t len, uint32_t idx, key_of_fn key_of);
void state_chunks_reserve(certa_state *s, uint32_t chunks);
void state_grant_touch(certa_state *s, uint32_t gi);
void state_dig_reserve(certa_state *s, size_t n);

#endif
