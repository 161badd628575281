/* sim_internal: what the parts of the simulator share and nothing else
 * sees: the seeded random stream, the event queue's entries, the replicas
 * and the world's struct, and the helpers one part calls in another. The
 * simulator's contract is sim.h.
 *
 * The parts, one job each:
 *   sim.c        the event queue, the trace, the checkers (agreement,
 *                liveness after healing), stepping replicas and the run
 *   sim_world.c  the simulated world around the cores: fake crypto,
 *                replica start and crash, and the network with its
 *                Byzantine senders
 *   sim_app.c    the application: the real ledger (engine/ledger.c) on a
 *                generated genesis, the client's signed event batches and
 *                the checkers of execution
 */
#ifndef CERTA_SIM_INTERNAL_H
#define CERTA_SIM_INTERNAL_H

#include "sim.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "certa/crypto.h"
#include "certa/genesis.h"
#include "ledger.h"
#include "ledger_mut.h"
#include "pbft_msg.h"
#include "pbft_mut.h"
#include "certa/wire.h"

#define NINTEG 4u
#define REQ_BYTES_MAX 2048u /* a request: a signed batch of one or two events */
#define TRACE_RING 4096u
#define BYZ_RING 32u
#define START_MS 100000u
#define STEP_BUDGET 20000000u
#define VIEW_TIMEOUT_MS 400u
#define VIEW_BACKOFF_MAX 4u
#define QUIET_MS 8000u /* > 4 view timeouts: a lone starving replica would accuse */

/* ---------------------------------------------------------------- prng */
typedef struct prng {
    uint64_t s[4];
} prng;

static inline uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rnd(prng *p)
{
    uint64_t *s = p->s;
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static inline uint64_t below(prng *p, uint64_t n) { return n ? rnd(p) % n : 0; }
/* true with probability ppm / 1e6 */
static inline bool chance(prng *p, uint32_t ppm) { return below(p, 1000000) < ppm; }

static inline uint64_t h64(uint64_t key, const uint8_t *m, size_t len)
{
    uint64_t h = key ^ (len * 0x9e3779b97f4a7c15ull);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, m + i, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
    }
    uint64_t v = 0;
    for (size_t k = 0; i < len; i++, k++)
        v |= (uint64_t)m[i] << (8 * k);
    h = (h ^ v) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 32;
    return h;
}

/* ---------------------------------------------------------------- events */
enum {
    EV_MSG = 1, EV_TICK, EV_SUBMIT, EV_CRASH, EV_RESTART, EV_PARTITION,
    EV_UNPARTITION, EV_HEAL, EV_RESEND, EV_CHECK, EV_BYZ,
};

typedef struct ev {
    uint64_t t, ord;
    uint8_t kind;
    uint16_t dst, src;
    uint32_t gen;
    uint64_t a;
    uint8_t *msg;
    size_t len;
} ev;

typedef struct rec {
    uint8_t kind;
    uint64_t height, view;
    uint8_t *p;
    size_t len;
} rec;

struct sim;

typedef struct rep {
    struct sim *s;
    uint16_t id;
    certa_pbft *r;
    bool up, byz;
    int64_t skew_ms;
    uint32_t gen;
    rec *recs;
    size_t nrec, caprec;
    uint8_t **blocks;
    size_t *blens;
    size_t nblocks, capblocks;
    uint8_t *exec;
    uint64_t executed;
    certa_ledger *L; /* NULL while down */
    bool gate_closed; /* can_propose said no since the last delivery */
    /* results root and state digest after each executed height */
    uint8_t (*roots)[2][CERTA_HASH_BYTES];
    size_t roots_cap;
    certa_pbft_stats acc; /* stats of earlier incarnations */
    uint8_t *ring[BYZ_RING];
    size_t ringlen[BYZ_RING];
    unsigned ringpos;
} rep;

typedef struct trace_ent {
    uint64_t t;
    uint8_t kind, type;
    uint16_t src, dst;
    uint64_t view, seq;
    size_t len;
} trace_ent;

typedef struct sim {
    certa_sim_opts o;
    certa_sim_result *res;
    prng rng;
    uint16_t f;
    uint64_t t;
    uint64_t ord;
    ev *heap;
    size_t nheap, capheap;
    rep *reps;
    uint64_t keys[CERTA_PBFT_VALIDATORS_MAX];
    uint64_t integ_keys[NINTEG];
    uint8_t chain_id[CERTA_HASH_BYTES];
    certa_block_header genesis;
    /* the generated genesis the ledgers run on */
    certa_genesis gen;
    certa_integrator_info g_integ[NINTEG];
    certa_bureau_info g_bureau;
    certa_centre_info g_centres[2];
    certa_matter_info g_matter;
    /* world */
    bool net_faults, crash_faults;
    uint8_t side[CERTA_PBFT_VALIDATORS_MAX];
    bool partitioned;
    uint64_t heal_at;
    bool healed;
    uint32_t horizon; /* the app's replay horizon (0: exact) */
    /* overload and rejoin: after every request is answered, the views must
     * stay put for a quiet period */
    bool quiet;
    uint64_t quiet_until;
    uint64_t lone_late; /* lone: requests from here on go to it alone, once */
    uint64_t vc_at_quiet[CERTA_PBFT_VALIDATORS_MAX];
    uint64_t vc_at_heal[CERTA_PBFT_VALIDATORS_MAX];
    uint64_t nv_at_heal[CERTA_PBFT_VALIDATORS_MAX];
    uint64_t exec_at_heal[CERTA_PBFT_VALIDATORS_MAX];
    /* the first view change after the heal came from a view timer armed
     * before it (see step) */
    bool vc_armed_before_heal[CERTA_PBFT_VALIDATORS_MAX];
    /* client */
    uint8_t *submitted;
    uint8_t **req_bytes; /* the requests, built on first use (sim_request) */
    size_t *req_len;
    uint64_t *last_send;
    /* agreement */
    uint8_t (*chain)[CERTA_HASH_BYTES];
    uint8_t *chain_set;
    size_t chain_cap;
    /* execution agreement: roots after each height, first honest executor */
    uint8_t (*xroots)[2][CERTA_HASH_BYTES];
    uint8_t *xset;
    size_t xcap;
    bool done, failed;
    trace_ent *tr;
    uint64_t ntr;
} sim;

/* ---- helpers shared between the parts, by the file that defines them */
/* sim.c */
void sim_heap_push(sim *s, ev e);
void sim_trace_add(sim *s, uint8_t kind, uint16_t src, uint16_t dst,
                   const uint8_t *m, size_t len);
void sim_violation(sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_step(sim *s, rep *p, const certa_pbft_input *in);
void sim_heal(sim *s);

/* sim_world.c */
void sim_fake_sign(void *ctx, const uint8_t *msg, size_t len,
                   uint8_t sig[CERTA_SIGNATURE_BYTES]);
bool sim_fake_verify(void *ctx, uint16_t signer, const uint8_t *msg, size_t len,
                     const uint8_t sig[CERTA_SIGNATURE_BYTES]);
uint64_t sim_req_index(uint16_t integ, uint64_t seq);
void sim_rep_accumulate(rep *p);
void sim_rep_start(sim *s, rep *p);
void sim_rep_crash(sim *s, rep *p);
uint16_t sim_faulty_now(sim *s);
void sim_byz_ring_add(rep *p, const uint8_t *m, size_t len);
void sim_net_send(sim *s, uint16_t src, uint16_t dst, const uint8_t *m, size_t len);

/* sim_app.c */
void sim_genesis_init(sim *s);
/* Request idx as its integrator signs it (built once per run). */
const uint8_t *sim_request(sim *s, uint64_t idx, size_t *len);
bool sim_req_genuine(sim *s, const certa_pbft_request *q);
bool sim_settled(const rep *p, uint64_t idx);
uint64_t sim_unsettled(const sim *s, const rep *p);
void sim_app_bind(rep *p, certa_pbft_app *app);
/* A new ledger for p, its durable blocks executed again. */
void sim_ledger_start(sim *s, rep *p);
void sim_ledger_stop(rep *p);
/* Executes a delivered block at p and checks it (was_exec: per batch,
 * whether p had executed it before). */
void sim_ledger_execute(sim *s, rep *p, const certa_pbft_msg *m, const uint8_t *b,
                        size_t len, const uint8_t *was_exec);

#endif
