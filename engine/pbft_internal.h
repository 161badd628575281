/* pbft_internal: what the parts of the PBFT replica share and nothing
 * else sees: the replica's struct, its slots, pending-request pool and
 * checkpoint records, and the helpers one part calls in another. The
 * public contract is include/certa/pbft.h; this header is private to
 * engine/pbft*.c (the consensus core: codec, crypto and basic types only).
 *
 * The parts, one job each (all are pure, like the whole core):
 *   pbft.c       core normal case: signing, actions out, slots, execution,
 *                pre-prepare, prepare/commit votes, proposing, step/dispatch,
 *                resend and ticks, lifecycle and restore
 *   pbft_pool.c  the replica's reusable buffers (buf), and pending
 *                requests: pool, index, pruning, forwarding
 *   pbft_view.c  view change: VIEW-CHANGE checks, NEW-VIEW planning and
 *                install, the view timers
 *   pbft_xfer.c  checkpoints and the low watermark, following a view,
 *                state transfer (FETCH, FETCH-REPLY, STATUS)
 * The invariants of the replica are stated in pbft.c and checked after
 * every step (certa_pbft_check_invariants) when CERTA_INVARIANTS is
 * defined, and by the simulator in every build.
 */
#ifndef CERTA_PBFT_INTERNAL_H
#define CERTA_PBFT_INTERNAL_H

#include "certa/pbft.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "certa/crypto.h"
#include "pbft_msg.h"
#include "pbft_mut.h"
#include "certa/wire.h"

#define CKR 4      /* checkpoints remembered per peer */
#define OWNCK 8    /* own executed checkpoints remembered */
#define FORWARD_PER_TICK 64u

/* Bytes owned by the replica. Storage is reused: pbft_buf_clear empties a
 * buf but keeps up to PBFT_BUF_KEEP_BYTES of it, so the buffers of slots,
 * votes and pending requests, once they have held a message, take the next
 * one without allocating (a larger buffer is released on clear, so that a
 * burst of megabyte blocks does not stay pinned in every slot of the ring). */
typedef struct buf {
    uint8_t *p;
    size_t len;
    size_t cap; /* bytes at p; 0 for a view of storage owned elsewhere */
} buf;

#define PBFT_BUF_KEEP_BYTES (64u * 1024u)
typedef struct pvote {
    bool has;
    uint64_t view;
    uint8_t d[CERTA_HASH_BYTES];
    buf raw;
} pvote;

typedef struct cvote {
    bool has;
    uint64_t view;
    uint8_t d[CERTA_HASH_BYTES];
    uint8_t sig[CERTA_SIGNATURE_BYTES];
} cvote;

typedef struct slot {
    uint64_t seq; /* 0: unused */
    bool has_pp;
    uint64_t pp_view;
    uint8_t d[CERTA_HASH_BYTES];
    certa_block_header hdr;
    buf pp;
    bool voted;
    uint64_t vote_view;
    uint8_t vote_d[CERTA_HASH_BYTES];
    bool commit_sent;
    uint64_t commit_view;
    pvote *prep; /* [n] */
    cvote *com;  /* [n] */
    bool has_cert;
    uint64_t cert_view;
    buf cert; /* list: pre-prepare, then 2f prepares */
    bool committed;
    uint64_t com_view;
    buf com_sigs; /* (u16 signer, sig) ascending */
    uint16_t com_nsig;
    bool executed;
} slot;

typedef struct pend {
    uint16_t integrator;
    uint64_t seq;
    buf bytes;
    uint64_t arrival_ms;
    uint64_t forwarded_ms;
    uint64_t prop_seq; /* height of the accepted proposal holding it, 0: none */
    bool live;         /* false: removed, awaiting compaction */
} pend;

typedef struct ckmsg {
    uint64_t seq;
    uint8_t d[CERTA_HASH_BYTES];
    buf raw;
} ckmsg;

typedef struct ownck {
    uint64_t seq;
    uint8_t hash[CERTA_HASH_BYTES];
    certa_block_header hdr;
    buf raw;
} ownck;

typedef struct out_action {
    certa_pbft_action a;
    size_t off;
} out_action;

struct certa_pbft {
    certa_pbft_config c;
    uint16_t f, q;
    uint64_t now;      /* monotonic ms: every timer */
    uint64_t real_now; /* wall-clock ms: block timestamps and their skew only */

    uint64_t view;
    bool in_vc;
    uint64_t view_start_ms;
    uint32_t backoff;
    bool vc_timer;
    uint64_t vc_deadline;
    buf my_vc;
    buf nv; /* the NEW-VIEW of the current view, when this replica sent or
             * installed it: any holder relays it to a replica still asking */
    buf *vcs; /* [n] latest VIEW-CHANGE per sender */
    uint64_t *vc_views;

    uint64_t h; /* low watermark */
    uint64_t ck_seq; /* stable checkpoint with header and proof */
    certa_block_header ck_hdr;
    uint8_t ck_hash[CERTA_HASH_BYTES];
    buf ck_proof; /* encoded list of 2f+1 CHECKPOINT messages */
    uint64_t pend_ck_seq; /* stable but not yet executed here */
    uint8_t pend_ck_hash[CERTA_HASH_BYTES];
    buf pend_ck_proof;

    uint64_t last_exec;
    certa_block_header tip;
    uint8_t tip_hash[CERTA_HASH_BYTES];
    uint64_t last_exec_ms;

    slot *slots; /* [window], slot of height s at s % window */

    uint64_t next_seq;
    bool parent_ok;
    certa_block_header parent;
    uint8_t parent_hash[CERTA_HASH_BYTES];

    /* pending requests in arrival order; removed entries stay as tombstones
     * until compaction so that order is kept and removal is O(1); ht maps
     * (integrator, seq) to index + 1 by linear probing */
    pend *pool;
    uint32_t npool;  /* entries used, live or not */
    uint32_t nlive;
    uint32_t *ht;
    uint32_t htmask;
    uint32_t live_lo;   /* no live entry below */
    uint32_t unprop_lo; /* no live unproposed entry below */
    uint32_t n_unprop;
    size_t bytes_unprop;

    ckmsg (*ckr)[CKR]; /* [n][CKR] */
    ownck own[OWNCK];

    uint64_t next_resend;
    uint64_t *peer_exec;
    uint64_t *peer_view; /* [n] the view in each peer's latest STATUS */
    uint64_t *peer_view_ms; /* [n] when it came */
    uint64_t vc_start_ms;   /* when this replica began its view change */
    bool fetching;
    uint64_t fetch_deadline;
    uint16_t fetch_rr;

    certa_pbft_request *reqs; /* scratch, CERTA_PBFT_BLOCK_REQUESTS_MAX */
    buf sigin;                /* scratch: chain_id || message */
    buf out_msg;   /* scratch: the message pbft_make_signed last signed */
    buf out_rec;   /* scratch: the record pbft_encode_rec last encoded */
    buf prop_reqs; /* scratch: a proposal's requests, (integrator, seq, body) */
    buf prop_list; /* scratch: the same as an encoded list */

    out_action *acts;
    size_t nacts, cap_acts;
    uint8_t *arena;
    size_t arena_len, arena_cap;
    certa_pbft_action *items;
    size_t cap_items;

    certa_pbft_stats st;
};

/* ---- helpers shared between the parts, by the file that defines them */

/* pbft.c */
void pbft_hash_header(const certa_pbft *r, const certa_block_header *h,
                      uint8_t out[CERTA_HASH_BYTES]);
const uint8_t *pbft_sig_input(certa_pbft *r, const uint8_t *m, size_t len,
                              size_t *in_len);
bool pbft_verify_signed(certa_pbft *r, const certa_pbft_msg *m);
buf pbft_make_signed(certa_pbft *r, certa_pbft_msg *m);
buf pbft_encode_rec(certa_pbft *r, const certa_pbft_msg *m);
void pbft_emit(certa_pbft *r, certa_pbft_action_kind kind, uint16_t to,
               uint8_t rk, uint64_t height, uint64_t view,
               const uint8_t *bytes, size_t len);
void pbft_persist(certa_pbft *r, uint8_t rk, uint64_t height, uint64_t view,
                  const buf *b);
void pbft_bcast(certa_pbft *r, const buf *b);
void pbft_send_to(certa_pbft *r, uint16_t to, const buf *b);
void pbft_slot_reset(certa_pbft *r, slot *s);
slot *pbft_slot_get(certa_pbft *r, uint64_t seq);
slot *pbft_slot_peek(certa_pbft *r, uint64_t seq);
void pbft_apply_executed(certa_pbft *r, const certa_block_header *hdr,
                         const uint8_t hash[CERTA_HASH_BYTES], size_t nreq);
void pbft_execute_ready(certa_pbft *r);
void pbft_maybe_commit(certa_pbft *r, slot *s);
void pbft_check_prepared(certa_pbft *r, slot *s);
bool pbft_pp_content_ok(certa_pbft *r, const certa_pbft_msg *m, bool fresh,
                        size_t *nreq, uint8_t digest[CERTA_HASH_BYTES]);
void pbft_install_pp(certa_pbft *r, slot *s, const certa_pbft_msg *m,
                     const uint8_t *raw, size_t len,
                     const uint8_t d[CERTA_HASH_BYTES], size_t nreq);
void pbft_vote_prepare(certa_pbft *r, slot *s);

/* pbft_pool.c */
void pbft_buf_free(buf *b);
void pbft_buf_clear(buf *b);
uint8_t *pbft_buf_reserve(buf *b, size_t len);
void pbft_buf_set(buf *b, const uint8_t *p, size_t len);
int pbft_pool_find(const certa_pbft *r, uint16_t integ, uint64_t seq);
void pbft_pool_set_prop(certa_pbft *r, uint32_t i, uint64_t seq);
void pbft_pool_remove(certa_pbft *r, uint32_t i);
int pbft_pool_oldest(certa_pbft *r);
int pbft_pool_first_unprop(certa_pbft *r);
bool pbft_executed_req(certa_pbft *r, uint16_t integ, uint64_t seq);
void pbft_pool_drop(certa_pbft *r, uint32_t i);
bool pbft_pool_prune(certa_pbft *r, uint32_t i);
int pbft_pool_oldest_pruned(certa_pbft *r);
void pbft_forward_request(certa_pbft *r, pend *p, uint16_t to);
bool pbft_forward_target(const certa_pbft *r, uint16_t *to);
void pbft_add_request(certa_pbft *r, const certa_pbft_request *q, bool from_client);
bool pbft_decode_reqs(certa_pbft *r, const certa_pbft_list *l, size_t *n);
void pbft_mark_proposed(certa_pbft *r, size_t n, uint64_t seq);
void pbft_pool_check_invariants(const certa_pbft *r);

/* pbft_view.c */
uint64_t pbft_view_timer_ms(const certa_pbft *r);
void pbft_timer_view_change(certa_pbft *r);
void pbft_on_view_change(certa_pbft *r, const certa_pbft_msg *m,
                         const uint8_t *raw, size_t len);
void pbft_on_new_view(certa_pbft *r, const certa_pbft_msg *m, const uint8_t *raw,
                      size_t raw_len);

/* pbft_xfer.c */
void pbft_set_low(certa_pbft *r, uint64_t s);
void pbft_adopt_ck(certa_pbft *r);
void pbft_check_stable(certa_pbft *r);
void pbft_ck_store(certa_pbft *r, uint16_t sender, uint64_t seq,
                   const uint8_t d[CERTA_HASH_BYTES], const uint8_t *raw,
                   size_t len);
bool pbft_following(const certa_pbft *r, uint64_t *view);
uint64_t pbft_peer_ahead(const certa_pbft *r);
void pbft_maybe_fetch(certa_pbft *r);
void pbft_on_fetch(certa_pbft *r, const certa_pbft_msg *m);
void pbft_on_fetch_reply(certa_pbft *r, const certa_pbft_msg *m);
void pbft_on_status(certa_pbft *r, const certa_pbft_msg *m);

#endif
