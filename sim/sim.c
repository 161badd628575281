/* sim: drives n real PBFT replicas (engine/pbft.c) through a seeded world.
 *
 * Everything random comes from one xoshiro256** stream seeded by the seed;
 * events are ordered by (time, insertion order), so a seed replays exactly.
 * The durable store of a replica is what it handed out in PERSIST and
 * DELIVER actions; a crash frees the replica and everything else it held,
 * and may fall between the actions of one sim_step (after some persists, before
 * the sends). Fake crypto: a keyed 64-bit hash per validator, unforgeable by
 * the simulated Byzantine code because it only signs with its own key.
 */
#include "sim_internal.h"
void sim_heap_push(sim *s, ev e)
{
    if (s->nheap == s->capheap) {
        s->capheap = s->capheap ? 2 * s->capheap : 1024;
        s->heap = realloc(s->heap, s->capheap * sizeof *s->heap);
        CERTA_ASSERT(s->heap != NULL);
    }
    e.ord = s->ord++;
    size_t i = s->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        ev *q = &s->heap[p];
        if (q->t < e.t || (q->t == e.t && q->ord < e.ord))
            break;
        s->heap[i] = *q;
        i = p;
    }
    s->heap[i] = e;
}

static ev heap_pop(sim *s)
{
    ev top = s->heap[0];
    ev last = s->heap[--s->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const ev *best = &last;
        if (l < s->nheap && (s->heap[l].t < best->t ||
                             (s->heap[l].t == best->t && s->heap[l].ord < best->ord))) {
            m = l;
            best = &s->heap[l];
        }
        if (r < s->nheap && (s->heap[r].t < best->t ||
                             (s->heap[r].t == best->t && s->heap[r].ord < best->ord))) {
            m = r;
            best = &s->heap[r];
        }
        if (m == i)
            break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (s->nheap > 0)
        s->heap[i] = last;
    return top;
}

static void push(sim *s, uint64_t t, uint8_t kind, uint16_t dst, uint64_t a)
{
    ev e;
    memset(&e, 0, sizeof e);
    e.t = t;
    e.kind = kind;
    e.dst = dst;
    e.a = a;
    sim_heap_push(s, e);
}

/* ---------------------------------------------------------------- trace */

void sim_trace_add(sim *s, uint8_t kind, uint16_t src, uint16_t dst,
                   const uint8_t *m, size_t len)
{
    trace_ent *e = &s->tr[s->ntr++ % TRACE_RING];
    memset(e, 0, sizeof *e);
    e->t = s->t;
    e->kind = kind;
    e->src = src;
    e->dst = dst;
    e->len = len;
    if (m != NULL && len >= 20) {
        e->type = m[1];
        if (m[1] == CERTA_PBFT_MSG_PRE_PREPARE || m[1] == CERTA_PBFT_MSG_PREPARE ||
            m[1] == CERTA_PBFT_MSG_COMMIT || m[1] == CERTA_PBFT_MSG_STATUS ||
            m[1] == CERTA_PBFT_MSG_VIEW_CHANGE) {
            e->view = certa_get_le64(m + 4);
            e->seq = certa_get_le64(m + 12);
        } else if (m[1] == CERTA_PBFT_MSG_CHECKPOINT || m[1] == CERTA_PBFT_MSG_FETCH) {
            e->seq = certa_get_le64(m + 4);
        } else if (m[1] == CERTA_PBFT_MSG_NEW_VIEW) {
            e->view = certa_get_le64(m + 4);
        }
    }
}

static const char *ev_name(uint8_t k)
{
    static const char *names[] = {"?", "recv", "tick", "submit", "crash",
                                  "restart", "partition", "unpartition",
                                  "heal", "client-resend", "check", "byz",
                                  "deliver", "send-drop"};
    return k < sizeof names / sizeof *names ? names[k] : "?";
}

static void trace_print_one(FILE *out, const trace_ent *e)
{
    fprintf(out, "  t=%" PRIu64 " %-11s", e->t - START_MS, ev_name(e->kind));
    if (e->kind == 12)
        fprintf(out, " replica %u delivered height %" PRIu64 " block %08" PRIx64,
                e->dst, e->seq, e->view);
    else if (e->kind == EV_MSG || e->kind == 13)
        fprintf(out, " %u->%u %s view=%" PRIu64 " h=%" PRIu64 " (%zu bytes)",
                e->src, e->dst, certa_pbft_msg_name(e->type), e->view, e->seq,
                e->len);
    else
        fprintf(out, " replica=%u", e->dst);
    fputc('\n', out);
}

static void trace_dump(sim *s, FILE *out)
{
    uint64_t from = s->ntr > 400 ? s->ntr - 400 : 0;
    fprintf(out, "trace (last %" PRIu64 " events, times in simulated ms):\n",
            s->ntr - from);
    for (uint64_t i = from; i < s->ntr; i++)
        trace_print_one(out, &s->tr[i % TRACE_RING]);
    for (uint16_t i = 0; i < s->o.n; i++) {
        rep *p = &s->reps[i];
        fprintf(out, "  replica %u: %s%s height=%zu executed=%" PRIu64 "/%u", i,
                p->up ? "up" : "down", p->byz ? " byzantine" : "", p->nblocks,
                p->executed, s->o.requests);
        if (p->r != NULL)
            fprintf(out, " view=%" PRIu64 "%s stable=%" PRIu64,
                    certa_pbft_view(p->r),
                    certa_pbft_in_view_change(p->r) ? " (changing)" : "",
                    certa_pbft_stable_checkpoint(p->r));
        fputc('\n', out);
    }
}


void sim_violation(sim *s, const char *fmt, ...)
{
    if (s->failed)
        return;
    s->failed = true;
    s->done = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->res->violation, sizeof s->res->violation, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- checkers */

static void check_deliver(sim *s, rep *p, const uint8_t *b, size_t len,
                          uint64_t height)
{
    certa_pbft_msg m;
    if (certa_pbft_msg_decode(b, len, &m) != CERTA_OK || m.type != CERTA_PBFT_REC_BLOCK) {
        sim_violation(s, "replica %u delivered a malformed block record", p->id);
        return;
    }
    if (m.hdr.height != height || height != p->nblocks + 1) {
        sim_violation(s, "total order: replica %u delivered height %" PRIu64
                     " after %zu (gap or repeat)", p->id, m.hdr.height, p->nblocks);
        return;
    }
    /* block hashes as the ledger's header_hash gives them */
    uint8_t hash[CERTA_HASH_BYTES];
    certa_header_hash(&m.hdr, hash);
    /* hash chain against this replica's previous block */
    uint8_t prev[CERTA_HASH_BYTES];
    if (p->nblocks == 0) {
        certa_header_hash(&s->genesis, prev);
    } else {
        certa_pbft_msg pm;
        certa_err rc = certa_pbft_msg_decode(p->blocks[p->nblocks - 1], p->blens[p->nblocks - 1], &pm);
        CERTA_ASSERT(rc == CERTA_OK);
        certa_header_hash(&pm.hdr, prev);
    }
    if (memcmp(prev, m.hdr.prev_hash, CERTA_HASH_BYTES) != 0) {
        sim_violation(s, "chain: replica %u block %" PRIu64 " does not link to its parent",
                  p->id, height);
        return;
    }
    /* commit certificate */
    uint16_t signers[CERTA_PBFT_VALIDATORS_MAX];
    uint8_t sigs[CERTA_PBFT_VALIDATORS_MAX][CERTA_SIGNATURE_BYTES];
    for (uint16_t i = 0; i < m.sig_count; i++) {
        signers[i] = certa_get_le16(m.sigs + 66u * i);
        memcpy(sigs[i], m.sigs + 66u * i + 2, CERTA_SIGNATURE_BYTES);
    }
    certa_pbft_crypto cr = {p, sim_fake_sign, sim_fake_verify};
    bool cert = certa_pbft_verify_commit_cert(&cr, s->chain_id, s->o.n, m.aux,
                                              height, hash, signers,
                                              (const uint8_t(*)[CERTA_SIGNATURE_BYTES])sigs,
                                              m.sig_count);
    if (!cert && s->o.mutation == CERTA_PBFT_MUT_NONE) {
        sim_violation(s, "certificate: replica %u block %" PRIu64
                     " has no valid 2f+1 commit certificate", p->id, height);
        return;
    }
    /* agreement among honest replicas */
    if (!p->byz) {
        if (height >= s->chain_cap) {
            size_t cap = s->chain_cap ? s->chain_cap * 2 : 1024;
            while (cap <= height)
                cap *= 2;
            s->chain = realloc(s->chain, cap * sizeof *s->chain);
            s->chain_set = realloc(s->chain_set, cap);
            CERTA_ASSERT(s->chain && s->chain_set);
            memset(s->chain_set + s->chain_cap, 0, cap - s->chain_cap);
            s->chain_cap = cap;
        }
        if (s->chain_set[height]) {
            if (memcmp(s->chain[height], hash, CERTA_HASH_BYTES) != 0) {
                sim_violation(s, "agreement: replica %u delivered a different block at "
                             "height %" PRIu64, p->id, height);
                return;
            }
        } else {
            s->chain_set[height] = 1;
            memcpy(s->chain[height], hash, CERTA_HASH_BYTES);
            if (height > s->res->height)
                s->res->height = height;
        }
    }
    /* validity: submitted, genuine, executed once */
    uint8_t was_exec[CERTA_PBFT_BLOCK_REQUESTS_MAX];
    size_t nb = 0;
    size_t pos = 0;
    const uint8_t *it;
    size_t il;
    while (certa_pbft_list_next(&m.reqs, &pos, &it, &il)) {
        certa_pbft_request q;
        if (!certa_pbft_request_item(it, il, &q) || !sim_req_genuine(s, &q)) {
            sim_violation(s, "validity: replica %u block %" PRIu64
                         " holds a request no integrator signed", p->id, height);
            return;
        }
        uint64_t idx = sim_req_index(q.integrator, q.seq);
        CERTA_ASSERT(nb < CERTA_PBFT_BLOCK_REQUESTS_MAX);
        was_exec[nb++] = p->exec[idx];
        if (!s->submitted[idx]) {
            sim_violation(s, "validity: replica %u block %" PRIu64
                         " holds a request never submitted", p->id, height);
            return;
        }
        if (p->exec[idx]) {
            if (!p->byz)
                s->res->duplicates_rejected++;
        } else {
            p->exec[idx] = 1;
            p->executed++;
        }
    }
    /* the real application executes it (and its checkers run) */
    sim_ledger_execute(s, p, &m, b, len, was_exec);
    p->blocks[p->nblocks] = malloc(len);
    CERTA_ASSERT(p->blocks[p->nblocks] != NULL);
    memcpy(p->blocks[p->nblocks], b, len);
    p->blens[p->nblocks] = len;
    p->nblocks++;
}

/* ---------------------------------------------------------------- steps */

static void do_action(sim *s, rep *p, const certa_pbft_action *a)
{
    switch (a->kind) {
    case CERTA_PBFT_ACT_PERSIST: {
        if (p->nrec == p->caprec) {
            p->caprec = p->caprec ? 2 * p->caprec : 64;
            p->recs = realloc(p->recs, p->caprec * sizeof *p->recs);
            CERTA_ASSERT(p->recs != NULL);
        }
        rec *r = &p->recs[p->nrec++];
        r->kind = a->record_kind;
        r->height = a->height;
        r->view = a->view;
        r->p = malloc(a->len);
        CERTA_ASSERT(r->p != NULL);
        memcpy(r->p, a->bytes, a->len);
        r->len = a->len;
        break;
    }
    case CERTA_PBFT_ACT_PERSIST_GC: {
        uint64_t newest_ck = 0;
        for (size_t i = 0; i < p->nrec; i++)
            if (p->recs[i].kind == CERTA_PBFT_REC_CHECKPOINT) {
                certa_pbft_msg m;
                if (certa_pbft_msg_decode(p->recs[i].p, p->recs[i].len, &m) == CERTA_OK &&
                    m.seq > newest_ck)
                    newest_ck = m.seq;
            }
        size_t k = 0;
        for (size_t i = 0; i < p->nrec; i++) {
            rec *r = &p->recs[i];
            bool drop = (r->height != 0 && r->height <= a->height) ||
                        ((r->kind == CERTA_PBFT_MSG_VIEW_CHANGE ||
                          r->kind == CERTA_PBFT_MSG_NEW_VIEW) &&
                         r->view < a->view);
            if (r->kind == CERTA_PBFT_REC_CHECKPOINT) {
                certa_pbft_msg m;
                drop = certa_pbft_msg_decode(r->p, r->len, &m) == CERTA_OK &&
                       m.seq < newest_ck;
            }
            if (drop)
                free(r->p);
            else
                p->recs[k++] = *r;
        }
        p->nrec = k;
        break;
    }
    case CERTA_PBFT_ACT_SEND:
        sim_net_send(s, p->id, a->to, a->bytes, a->len);
        break;
    case CERTA_PBFT_ACT_BROADCAST:
        for (uint16_t j = 0; j < s->o.n; j++)
            if (j != p->id)
                sim_net_send(s, p->id, j, a->bytes, a->len);
        break;
    case CERTA_PBFT_ACT_DELIVER:
        if (p->nblocks == p->capblocks) {
            p->capblocks = p->capblocks ? 2 * p->capblocks : 256;
            p->blocks = realloc(p->blocks, p->capblocks * sizeof *p->blocks);
            p->blens = realloc(p->blens, p->capblocks * sizeof *p->blens);
            CERTA_ASSERT(p->blocks && p->blens);
        }
        sim_trace_add(s, 12, p->id, p->id, NULL, 0);
        s->tr[(s->ntr - 1) % TRACE_RING].seq = a->height;
        if (a->len >= 2 + CERTA_PBFT_HEADER_BYTES) {
            uint8_t hh[CERTA_HASH_BYTES];
            certa_sha256(a->bytes + 2, CERTA_PBFT_HEADER_BYTES, hh);
            s->tr[(s->ntr - 1) % TRACE_RING].view =
                (uint64_t)hh[0] << 24 | (uint64_t)hh[1] << 16 | (uint64_t)hh[2] << 8 | hh[3];
        }
        if (s->o.trace_all && s->o.trace)
            trace_print_one(s->o.trace, &s->tr[(s->ntr - 1) % TRACE_RING]);
        check_deliver(s, p, a->bytes, a->len, a->height);
        break;
    }
}

static uint64_t rep_view_changes(const rep *p);
static uint64_t rep_new_views(const rep *p);

/* Whether the view change p just started (its first since the heal) may
 * come from a view timer armed during the faults. The core's timer runs
 * from the latest of: its last executed block, the start of its view, the
 * arrival of its oldest pending request. A replica that executed no block
 * and installed no view since the heal, and whose timer fires within the
 * longest timer (view_timeout << view_backoff_max) of the heal, was
 * waiting on something the faults held up (a COMMIT lost in the partition,
 * a state transfer not yet answered): no heal can make a block execute in
 * the milliseconds such a timer may have left. The simulator cannot see
 * the third reference; a wait that began after the heal and still passes
 * this test is bounded by that window, and the quiet check still requires
 * the replica to have caught up and the lone replicas to be within f. */
static bool vc_fault_armed(const sim *s, const rep *p)
{
    uint64_t longest = (uint64_t)VIEW_TIMEOUT_MS << VIEW_BACKOFF_MAX;
    return s->healed && s->t <= s->heal_at + longest &&
           rep_view_changes(p) == s->vc_at_heal[p->id] + 1 &&
           rep_new_views(p) == s->nv_at_heal[p->id] &&
           certa_pbft_last_executed(p->r) == s->exec_at_heal[p->id];
}

void sim_step(sim *s, rep *p, const certa_pbft_input *in)
{
    if (!p->up || s->done)
        return;
    /* timers run on simulated time; only the wall clock is skewed */
    certa_pbft_time now = {.mono_ms = s->t,
                           .real_ms = (uint64_t)((int64_t)s->t + p->skew_ms)};
    uint64_t vc_before = rep_view_changes(p);
    certa_pbft_actions acts = certa_pbft_step(p->r, in, now);
    /* the core's own invariants after every step, in every build */
    certa_pbft_check_invariants(p->r);
    s->res->steps++;
    if (rep_view_changes(p) > vc_before && vc_fault_armed(s, p))
        s->vc_armed_before_heal[p->id] = true;
    size_t cut = acts.count;
    bool crash = false;
    if (s->crash_faults && s->o.scenario == CERTA_SIM_RANDOM && !p->byz &&
        acts.count > 0 && sim_faulty_now(s) < s->f &&
        chance(&s->rng, 3000)) {
        cut = (size_t)below(&s->rng, acts.count + 1);
        crash = true;
    }
    bool delivered = false;
    for (size_t i = 0; i < cut && !s->done; i++) {
        do_action(s, p, &acts.items[i]);
        delivered |= acts.items[i].kind == CERTA_PBFT_ACT_DELIVER;
    }
    if (crash) {
        sim_rep_crash(s, p);
        push(s, s->t + 100 + below(&s->rng, 1500), EV_RESTART, p->id, 0);
        return;
    }
    int64_t sim_at = (int64_t)acts.timer_at_ms;
    if (sim_at <= (int64_t)s->t)
        sim_at = (int64_t)s->t + 1;
    p->gen++;
    ev e;
    memset(&e, 0, sizeof e);
    e.t = (uint64_t)sim_at;
    e.kind = EV_TICK;
    e.dst = p->id;
    e.gen = p->gen;
    sim_heap_push(s, e);
    if (delivered && p->gate_closed) { /* the LAG gate (can_propose) may have opened */
        p->gate_closed = false;
        e.t = s->t;
        sim_heap_push(s, e);
    }
}

static void submit(sim *s, uint64_t idx, uint16_t to)
{
    rep *p = &s->reps[to];
    s->submitted[idx] = 1;
    s->last_send[idx] = s->t;
    if (!p->up)
        return;
    size_t len;
    const uint8_t *b = sim_request(s, idx, &len);
    certa_pbft_input in = {CERTA_PBFT_IN_REQUEST, b, len,
                           (uint16_t)(idx % NINTEG), idx / NINTEG + 1};
    sim_trace_add(s, EV_SUBMIT, 0, to, NULL, 0);
    sim_step(s, p, &in);
}

static bool all_done(sim *s)
{
    for (uint16_t i = 0; i < s->o.n; i++) {
        rep *p = &s->reps[i];
        if (!p->byz && sim_unsettled(s, p) > 0)
            return false;
    }
    return true;
}

/* The newest blocks of a restarted replica failed their checksums: the
 * store truncates them (and the state derived from them); the replica must
 * fetch them again, verified, from its peers. */
static void disk_repair(sim *s, rep *p)
{
    size_t k = (size_t)below(&s->rng, (p->nblocks < 24 ? p->nblocks : 24) + 1);
    if (k == 0)
        return;
    for (size_t i = p->nblocks - k; i < p->nblocks; i++)
        free(p->blocks[i]);
    p->nblocks -= k;
    memset(p->exec, 0, s->o.requests + 1);
    p->executed = 0;
    for (size_t i = 0; i < p->nblocks; i++) {
        certa_pbft_msg m;
        certa_err rc = certa_pbft_msg_decode(p->blocks[i], p->blens[i], &m);
        CERTA_ASSERT(rc == CERTA_OK);
        size_t pos = 0;
        const uint8_t *it;
        size_t il;
        while (certa_pbft_list_next(&m.reqs, &pos, &it, &il)) {
            certa_pbft_request q;
            bool ok = certa_pbft_request_item(it, il, &q);
            CERTA_ASSERT(ok);
            uint64_t idx = sim_req_index(q.integrator, q.seq);
            if (!p->exec[idx]) {
                p->exec[idx] = 1;
                p->executed++;
            }
        }
    }
    s->res->repairs++;
}

static uint64_t rep_view_changes(const rep *p)
{
    uint64_t k = p->acc.view_changes;
    if (p->r != NULL)
        k += certa_pbft_get_stats(p->r)->view_changes;
    return k;
}

static uint64_t rep_new_views(const rep *p)
{
    uint64_t k = p->acc.new_views;
    if (p->r != NULL)
        k += certa_pbft_get_stats(p->r)->new_views;
    return k;
}

/* Every request answered: from now on nothing is pending anywhere, so no
 * honest replica has a reason to change view. */
static void quiet_start(sim *s)
{
    s->quiet = true;
    s->quiet_until = s->t + QUIET_MS;
    for (uint16_t i = 0; i < s->o.n; i++)
        s->vc_at_quiet[i] = rep_view_changes(&s->reps[i]);
}

/* The views stopped climbing, and a replica alone in a higher view is only
 * what PBFT allows. A replica cut off long enough times out on its own and
 * asks for view v+1 (or more) with a signed VIEW-CHANGE; it may not go back
 * to view v and vote there (that message, without what it voted for since,
 * could later form a NEW-VIEW that drops a committed block), and the others
 * join it only on f+1 such messages. So after the faults it must follow the
 * others' view without voting (state transfer, its clients' requests
 * forwarded to their primary: certa_pbft_following) and rejoin at the next
 * view change: it counts against f like a crashed replica. Allowed here
 * only when it follows the others' view, when its
 * view change began before the faults ended or came from a view timer
 * armed before then (vc_fault_armed: the first view change after the heal,
 * with no block executed and no view installed by that replica since the
 * heal), it has caught up, and lone replicas plus Byzantine ones are at
 * most f; a replica whose view change started on a wait that began after
 * the faults ended (the overload and healed-primary bugs) is a violation. */
static void quiet_check(sim *s)
{
    const rep *ref = NULL;
    uint16_t lone[CERTA_PBFT_VALIDATORS_MAX], nlone = 0, byz = 0;
    for (uint16_t i = 0; i < s->o.n; i++) {
        const rep *p = &s->reps[i];
        if (p->byz)
            byz++;
        if (p->byz || !p->up)
            continue;
        uint64_t vc = rep_view_changes(p) - s->vc_at_quiet[i];
        if (vc > 0) {
            sim_violation(s, "views: replica %u started %" PRIu64 " view changes in the %u ms "
                         "after every request was answered", i, vc, QUIET_MS);
            return;
        }
        if (certa_pbft_in_view_change(p->r)) {
            if (rep_view_changes(p) !=
                s->vc_at_heal[i] + (s->vc_armed_before_heal[i] ? 1u : 0u)) {
                sim_violation(s, "views: replica %u is still in view change to view %" PRIu64
                             " %u ms after every request was answered, and started it after "
                             "the faults ended on a wait that began after them",
                          i, certa_pbft_view(p->r), QUIET_MS);
                return;
            }
            lone[nlone++] = i;
            continue;
        }
        if (ref != NULL && certa_pbft_view(p->r) != certa_pbft_view(ref->r)) {
            sim_violation(s, "views: replica %u is in view %" PRIu64 ", replica %u in %" PRIu64
                         " %u ms after every request was answered", i,
                      certa_pbft_view(p->r), ref->id, certa_pbft_view(ref->r), QUIET_MS);
            return;
        }
        ref = p;
    }
    uint16_t f = (uint16_t)((s->o.n - 1) / 3);
    if (nlone > 0 && (ref == NULL || nlone + byz > f)) {
        sim_violation(s, "views: %u replica(s) still in view change (first: replica %u, view %" PRIu64
                     ") %u ms after every request was answered, with %u Byzantine: more than "
                     "f = %u out of the view", nlone, lone[0],
                  certa_pbft_view(s->reps[lone[0]].r), QUIET_MS, byz, f);
        return;
    }
    for (uint16_t k = 0; k < nlone; k++) {
        const rep *p = &s->reps[lone[k]];
        if (certa_pbft_last_executed(p->r) < certa_pbft_stable_checkpoint(ref->r)) {
            sim_violation(s, "views: replica %u, alone in view change to view %" PRIu64 ", has "
                         "executed up to %" PRIu64 " only, below the others' stable checkpoint "
                         "%" PRIu64 ": it does not follow the chain", lone[k],
                      certa_pbft_view(p->r), certa_pbft_last_executed(p->r),
                      certa_pbft_stable_checkpoint(ref->r));
            return;
        }
        uint64_t w = 0;
        if (!certa_pbft_following(p->r, &w) || w != certa_pbft_view(ref->r)) {
            sim_violation(s, "views: replica %u, alone in view change to view %" PRIu64 ", does not "
                         "follow the others' view %" PRIu64 " (its clients' requests would wait "
                         "for a view change)", lone[k], certa_pbft_view(p->r),
                      certa_pbft_view(ref->r));
            return;
        }
        s->res->lone_higher_view++;
    }
}

void sim_heal(sim *s)
{
    s->healed = true;
    s->net_faults = false;
    s->crash_faults = false;
    s->partitioned = false;
    for (uint16_t i = 0; i < s->o.n; i++)
        if (!s->reps[i].up) {
            sim_trace_add(s, EV_RESTART, 0, i, NULL, 0);
            sim_rep_start(s, &s->reps[i]);
        }
    for (uint16_t i = 0; i < s->o.n; i++) {
        const rep *p = &s->reps[i];
        s->vc_at_heal[i] = rep_view_changes(p);
        s->nv_at_heal[i] = rep_new_views(p);
        s->exec_at_heal[i] = p->r != NULL ? certa_pbft_last_executed(p->r) : 0;
    }
}

static void handle(sim *s, ev *e)
{
    switch (e->kind) {
    case EV_MSG: {
        rep *p = &s->reps[e->dst];
        sim_trace_add(s, EV_MSG, e->src, e->dst, e->msg, e->len);
        if (s->o.trace_all && s->o.trace)
            trace_print_one(s->o.trace, &s->tr[(s->ntr - 1) % TRACE_RING]);
        if (!p->up) {
            s->res->net_dropped++;
            break;
        }
        if (p->byz)
            sim_byz_ring_add(p, e->msg, e->len);
        certa_pbft_input in = {CERTA_PBFT_IN_MESSAGE, e->msg, e->len, 0, 0};
        sim_step(s, p, &in);
        break;
    }
    case EV_TICK: {
        rep *p = &s->reps[e->dst];
        if (!p->up || e->gen != p->gen)
            break;
        certa_pbft_input in = {CERTA_PBFT_IN_TICK, NULL, 0, 0, 0};
        sim_step(s, p, &in);
        break;
    }
    case EV_SUBMIT:
        submit(s, e->a, e->dst);
        break;
    case EV_CRASH: {
        rep *p = &s->reps[e->dst];
        if (s->crash_faults && p->up && !p->byz && sim_faulty_now(s) < s->f) {
            sim_rep_crash(s, p);
            uint64_t down = 50 + below(&s->rng, 2000);
            if (s->o.scenario == CERTA_SIM_CRASH_PRIMARY)
                down = s->heal_at > s->t ? s->heal_at - s->t + 1 : 1;
            push(s, s->t + down, EV_RESTART, p->id, 0);
        }
        break;
    }
    case EV_RESTART: {
        rep *p = &s->reps[e->dst];
        if (!p->up) {
            sim_trace_add(s, EV_RESTART, 0, p->id, NULL, 0);
            if (s->o.scenario == CERTA_SIM_RANDOM && chance(&s->rng, 300000))
                disk_repair(s, p);
            sim_rep_start(s, p);
        }
        break;
    }
    case EV_PARTITION:
        if (s->net_faults) {
            s->partitioned = true;
            for (uint16_t i = 0; i < s->o.n; i++)
                s->side[i] = (uint8_t)below(&s->rng, 2);
            if (s->o.scenario == CERTA_SIM_LAGGARD)
                for (uint16_t i = 0; i < s->o.n; i++)
                    s->side[i] = i == s->o.n - 1;
            if (s->o.scenario == CERTA_SIM_REJOIN)
                for (uint16_t i = 0; i < s->o.n; i++)
                    s->side[i] = i == 0;
            if (s->o.scenario == CERTA_SIM_LONE)
                for (uint16_t i = 0; i < s->o.n; i++)
                    s->side[i] = i == s->o.n - 1;
            sim_trace_add(s, EV_PARTITION, 0, 0, NULL, 0);
        }
        break;
    case EV_UNPARTITION:
        s->partitioned = false;
        sim_trace_add(s, EV_UNPARTITION, 0, 0, NULL, 0);
        break;
    case EV_HEAL:
        sim_trace_add(s, EV_HEAL, 0, 0, NULL, 0);
        sim_heal(s);
        break;
    case EV_RESEND: {
        uint32_t sent = 0;
        for (uint64_t i = 0; i < s->o.requests && sent < 64; i++) {
            if (!s->submitted[i] || s->t < s->last_send[i] + 1000 ||
                (s->o.scenario == CERTA_SIM_LONE && i >= s->lone_late))
                continue;
            bool anywhere = false;
            for (uint16_t j = 0; j < s->o.n && !anywhere; j++)
                anywhere = !s->reps[j].byz && sim_settled(&s->reps[j], i);
            if (anywhere)
                continue;
            for (uint16_t j = 0; j < s->o.n && !s->done; j++)
                submit(s, i, j);
            sent++;
        }
        push(s, s->t + 500, EV_RESEND, 0, 0);
        break;
    }
    case EV_CHECK:
        if (s->quiet) {
            if (s->t >= s->quiet_until) {
                quiet_check(s);
                s->done = true;
                break;
            }
            push(s, s->t + 250, EV_CHECK, 0, 0);
            break;
        }
        if (s->healed && all_done(s)) {
            if (s->o.scenario == CERTA_SIM_OVERLOAD || s->o.scenario == CERTA_SIM_REJOIN ||
                s->o.scenario == CERTA_SIM_LONE) {
                quiet_start(s);
                push(s, s->t + 250, EV_CHECK, 0, 0);
                break;
            }
            s->done = true;
            break;
        }
        if (s->healed && s->t > s->heal_at + s->o.liveness_ms) {
            uint64_t missing = 0;
            uint16_t who = 0;
            for (uint16_t i = 0; i < s->o.n; i++)
                if (!s->reps[i].byz && sim_unsettled(s, &s->reps[i]) > 0) {
                    missing += sim_unsettled(s, &s->reps[i]);
                    who = i;
                }
            sim_violation(s, "liveness: %" PRIu64 " request executions still missing "
                         "(e.g. replica %u) %" PRIu64 " ms after healing",
                      missing, who, s->o.liveness_ms);
            break;
        }
        push(s, s->t + 250, EV_CHECK, 0, 0);
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------------- run */

void certa_sim_opts_default(certa_sim_opts *o, uint64_t seed, uint16_t n,
                            unsigned faults)
{
    memset(o, 0, sizeof *o);
    o->seed = seed;
    o->n = n;
    o->faults = faults;
    o->requests = 48;
    o->fault_ms = 4000;
    o->liveness_ms = 30000;
    o->checkpoint_interval = 8;
    o->window = 16;
    o->batch = 4;
}

static const char *faults_name(unsigned f)
{
    switch (f) {
    case CERTA_SIM_F_ALL: return "all";
    case CERTA_SIM_F_CRASH: return "crash";
    case CERTA_SIM_F_BYZ: return "byzantine";
    case CERTA_SIM_F_NET: return "network";
    case 0: return "none";
    default: return "all";
    }
}

/* Indexed by CERTA_PBFT_MUT_*. */
static const char *const mutation_names[CERTA_PBFT_MUT_COUNT] = {
    [CERTA_PBFT_MUT_NONE] = "none",
    [CERTA_PBFT_MUT_QUORUM_2F] = "quorum-2f",
    [CERTA_PBFT_MUT_NV_SKIP_PREPARED] = "nv-skip-prepared",
};

/* Indexed by CERTA_LEDGER_MUT_*. */
static const char *const ledger_mutation_names[CERTA_LEDGER_MUT_COUNT] = {
    [CERTA_LEDGER_MUT_NONE] = "none",
    [CERTA_LEDGER_MUT_SKIP_REPLAY] = "skip-replay",
    [CERTA_LEDGER_MUT_LAG_OFF_BY_ONE] = "lag-off-by-one",
    [CERTA_LEDGER_MUT_LOCAL_TIME] = "local-time",
};

bool certa_sim_mutation_parse(const char *name, int *mutation, int *ledger_mutation)
{
    *mutation = CERTA_PBFT_MUT_NONE;
    *ledger_mutation = CERTA_LEDGER_MUT_NONE;
    for (int i = 0; i < CERTA_PBFT_MUT_COUNT; i++)
        if (strcmp(name, mutation_names[i]) == 0) {
            *mutation = i;
            return true;
        }
    for (int i = 1; i < CERTA_LEDGER_MUT_COUNT; i++)
        if (strcmp(name, ledger_mutation_names[i]) == 0) {
            *ledger_mutation = i;
            return true;
        }
    return false;
}

void certa_sim_replay_cmd(const certa_sim_opts *o, char *out, size_t cap)
{
    static const char *scen[] = {"random", "crash-primary", "laggard", "overload", "rejoin",
                                 "lone"};
    snprintf(out, cap,
             "certa sim --seeds %" PRIu64 "..%" PRIu64 " --validators %u --faults %s"
             " --scenario %s --requests %u --fault-ms %" PRIu64 " --mutation %s%s --trace",
             o->seed, o->seed, o->n, faults_name(o->faults), scen[o->scenario % 6],
             o->requests, o->fault_ms,
             o->ledger_mutation
                 ? ledger_mutation_names[(unsigned)o->ledger_mutation % CERTA_LEDGER_MUT_COUNT]
                 : mutation_names[(unsigned)o->mutation % CERTA_PBFT_MUT_COUNT],
             o->parent_gate ? " --parent-gate" : "");
}

/* Overload: three quarters of the requests in a burst over the first half
 * of the faulty phase, at random times (so each integrator's sequences
 * arrive out of order, far above what a block every few ms drains), each
 * sent to a random replica and often again to others, in flight or after
 * it committed; the rest afterwards at a normal pace, in order. */
static void schedule_overload(sim *s)
{
    uint64_t burst = s->o.requests * 3 / 4;
    uint64_t span = s->o.fault_ms / 2 + 1;
    for (uint64_t i = 0; i < burst; i++) {
        uint64_t at = START_MS + below(&s->rng, span);
        push(s, at, EV_SUBMIT, (uint16_t)below(&s->rng, s->o.n), i);
        for (int k = 0; k < 2; k++)
            if (chance(&s->rng, 500000))
                push(s, at + below(&s->rng, span), EV_SUBMIT,
                     (uint16_t)below(&s->rng, s->o.n), i);
    }
    for (uint64_t i = burst; i < s->o.requests; i++)
        push(s, s->heal_at + 200 + (i - burst) * 25, EV_SUBMIT,
             (uint16_t)below(&s->rng, s->o.n), i);
}

/* Rejoin: the view-0 primary is cut off for the faulty phase while half of
 * the requests, out of order, go to it (and the client retries them at the
 * others); the rest come at a normal pace after healing. */
/* rejoin and lone: replica `cut` is cut off from the start (EV_PARTITION
 * picks the same one); during the faults half the requests go to it, the
 * rest to any replica; after the heal the rest go to any replica (rejoin)
 * or to it alone, never re-sent elsewhere (lone: s->lone_late). */
static void schedule_cut(sim *s, uint16_t cut, bool late_to_cut)
{
    s->net_faults = true;
    push(s, START_MS + 1, EV_PARTITION, 0, 0);
    uint64_t early = s->o.requests * 3 / 5;
    uint64_t span = s->o.fault_ms * 7 / 10 + 1;
    for (uint64_t i = 0; i < early; i++)
        push(s, START_MS + below(&s->rng, span), EV_SUBMIT,
             chance(&s->rng, 500000) ? cut : (uint16_t)below(&s->rng, s->o.n), i);
    if (late_to_cut)
        s->lone_late = early;
    for (uint64_t i = early; i < s->o.requests; i++)
        push(s, s->heal_at + 500 + (i - early) * 25, EV_SUBMIT,
             late_to_cut ? cut : (uint16_t)below(&s->rng, s->o.n), i);
}

/* The run's first events, in the order (and with the draws) that make a
 * seed reproduce: the client's requests, the periodic events, the faults. */
static void schedule(sim *s)
{
    const certa_sim_opts *o = &s->o;
    /* the client's requests */
    if (o->scenario == CERTA_SIM_OVERLOAD) {
        schedule_overload(s);
    } else if (o->scenario == CERTA_SIM_REJOIN) {
        schedule_cut(s, 0, false);
    } else if (o->scenario == CERTA_SIM_LONE) {
        schedule_cut(s, (uint16_t)(s->o.n - 1), true);
    } else {
        uint64_t span = o->fault_ms * 7 / 10 + 1;
        for (uint64_t i = 0; i < o->requests; i++)
            push(s, START_MS + below(&s->rng, span), EV_SUBMIT,
                 (uint16_t)below(&s->rng, o->n), i);
    }
    push(s, START_MS + 1000, EV_RESEND, 0, 0);
    push(s, START_MS + 250, EV_CHECK, 0, 0);
    push(s, s->heal_at, EV_HEAL, 0, 0);
    /* faults */
    if (o->scenario == CERTA_SIM_CRASH_PRIMARY) {
        s->crash_faults = true;
        push(s, START_MS + 300, EV_CRASH, 0, 0);
    } else if (o->scenario == CERTA_SIM_LAGGARD) {
        s->net_faults = true;
        push(s, START_MS + 1, EV_PARTITION, 0, 0);
    } else if (o->scenario == CERTA_SIM_RANDOM) {
        if (o->faults & CERTA_SIM_F_CRASH) {
            uint64_t k = 1 + below(&s->rng, 4);
            for (uint64_t i = 0; i < k; i++)
                push(s, START_MS + below(&s->rng, o->fault_ms), EV_CRASH,
                     (uint16_t)below(&s->rng, o->n), 0);
        }
        if (o->faults & CERTA_SIM_F_NET) {
            uint64_t k = below(&s->rng, 3);
            for (uint64_t i = 0; i < k; i++) {
                uint64_t at = START_MS + below(&s->rng, o->fault_ms);
                push(s, at, EV_PARTITION, 0, 0);
                push(s, at + 100 + below(&s->rng, 1500), EV_UNPARTITION, 0, 0);
            }
        }
    }
}

/* The honest replicas' counters, summed into the result. */
static void totals(sim *s, certa_sim_result *res)
{
    const certa_sim_opts *o = &s->o;
    for (uint16_t i = 0; i < o->n; i++) {
        rep *p = &s->reps[i];
        sim_rep_accumulate(p);
        if (!p->byz) {
            res->view_changes += p->acc.view_changes;
            res->new_views += p->acc.new_views;
            res->checkpoints += p->acc.checkpoints_stable;
            res->blocks_fetched += p->acc.blocks_fetched;
            res->requests_executed += p->executed;
            res->replica_dropped += p->acc.dropped_malformed + p->acc.dropped_outsider +
                                    p->acc.dropped_bad_signature + p->acc.dropped_window +
                                    p->acc.dropped_view + p->acc.dropped_invalid +
                                    p->acc.dropped_conflict;
        }
    }
}

/* Everything the run allocated (the queue's leftover events included). */
static void sim_free(sim *s)
{
    const certa_sim_opts *o = &s->o;
    while (s->nheap > 0) {
        ev e = heap_pop(s);
        free(e.msg);
    }
    for (uint16_t i = 0; i < o->n; i++) {
        rep *p = &s->reps[i];
        certa_pbft_free(p->r);
        for (size_t k = 0; k < p->nrec; k++)
            free(p->recs[k].p);
        free(p->recs);
        for (size_t k = 0; k < p->nblocks; k++)
            free(p->blocks[k]);
        free(p->blocks);
        free(p->blens);
        free(p->exec);
        free(p->roots);
        sim_ledger_stop(p);
        for (unsigned k = 0; k < BYZ_RING; k++)
            free(p->ring[k]);
    }
    free(s->reps);
    free(s->heap);
    free(s->tr);
    free(s->submitted);
    free(s->last_send);
    free(s->chain);
    free(s->chain_set);
    free(s->xroots);
    free(s->xset);
    for (uint64_t i = 0; i < o->requests; i++)
        free(s->req_bytes[i]);
    free(s->req_bytes);
    free(s->req_len);
}

bool certa_sim_run(const certa_sim_opts *o_in, certa_sim_result *res)
{
    memset(res, 0, sizeof *res);
    sim *s = calloc(1, sizeof *s);
    CERTA_ASSERT(s != NULL);
    s->o = *o_in;
    /* the scenarios that need many requests and a bounded replay horizon
     * get them whatever the defaults say */
    bool busy = o_in->scenario == CERTA_SIM_OVERLOAD || o_in->scenario == CERTA_SIM_REJOIN ||
                o_in->scenario == CERTA_SIM_LONE;
    if (o_in->scenario == CERTA_SIM_OVERLOAD && s->o.requests < 400)
        s->o.requests = 400;
    if ((o_in->scenario == CERTA_SIM_REJOIN || o_in->scenario == CERTA_SIM_LONE) &&
        s->o.requests < 160)
        s->o.requests = 160;
    s->horizon = o_in->replay_horizon ? o_in->replay_horizon : busy ? 16 : 0;
    const certa_sim_opts *o = &s->o;
    s->res = res;
    s->f = (uint16_t)((o->n - 1) / 3);
    uint64_t x = o->seed * 0x2545f4914f6cdd1dull + 1;
    for (int i = 0; i < 4; i++)
        s->rng.s[i] = splitmix(&x);
    s->tr = calloc(TRACE_RING, sizeof *s->tr);
    s->reps = calloc(o->n, sizeof *s->reps);
    s->submitted = calloc(o->requests + 1, 1);
    s->last_send = calloc(o->requests + 1, sizeof *s->last_send);
    s->req_bytes = calloc(o->requests + 1, sizeof *s->req_bytes);
    s->req_len = calloc(o->requests + 1, sizeof *s->req_len);
    CERTA_ASSERT(s->tr && s->reps && s->submitted && s->last_send && s->req_bytes &&
                 s->req_len);
    for (uint16_t i = 0; i < o->n; i++)
        s->keys[i] = rnd(&s->rng) | 1;
    for (unsigned i = 0; i < NINTEG; i++)
        s->integ_keys[i] = rnd(&s->rng);
    for (int i = 0; i < CERTA_HASH_BYTES; i++)
        s->chain_id[i] = (uint8_t)rnd(&s->rng);
    memset(&s->genesis, 0, sizeof s->genesis);
    s->genesis.timestamp_ms = START_MS - 1000;
    s->t = START_MS;
    s->net_faults = o->faults & CERTA_SIM_F_NET;
    s->crash_faults = o->faults & CERTA_SIM_F_CRASH;
    s->heal_at = START_MS + o->fault_ms;

    uint16_t nbyz = 0;
    if ((o->faults & CERTA_SIM_F_BYZ) && o->scenario == CERTA_SIM_RANDOM)
        nbyz = o->faults == CERTA_SIM_F_BYZ ? (uint16_t)(1 + below(&s->rng, s->f))
                                            : (uint16_t)below(&s->rng, s->f + 1u);
    for (uint16_t i = 0; i < o->n; i++) {
        rep *p = &s->reps[i];
        p->s = s;
        p->id = i;
        p->exec = calloc(o->requests + 1, 1);
        CERTA_ASSERT(p->exec != NULL);
        if (o->faults & CERTA_SIM_F_NET)
            p->skew_ms = (int64_t)below(&s->rng, 601) - 300;
    }
    for (uint16_t k = 0; k < nbyz; k++) {
        uint16_t i;
        do
            i = (uint16_t)below(&s->rng, o->n);
        while (s->reps[i].byz);
        s->reps[i].byz = true;
        /* often make the first primary Byzantine: it can equivocate */
        if (k == 0 && chance(&s->rng, 500000)) {
            s->reps[i].byz = false;
            s->reps[0].byz = true;
        }
    }
    sim_genesis_init(s);
    for (uint16_t i = 0; i < o->n; i++)
        sim_rep_start(s, &s->reps[i]);

    schedule(s);

    while (!s->done && s->nheap > 0) {
        ev e = heap_pop(s);
        s->t = e.t;
        handle(s, &e);
        free(e.msg);
        if (res->steps > STEP_BUDGET)
            sim_violation(s, "step budget of %u exhausted", STEP_BUDGET);
    }
    if (!s->done)
        sim_violation(s, "event queue ran dry before every request executed");
    res->sim_ms = s->t - START_MS;
    totals(s, res);
    res->ok = !s->failed;
    if (s->failed && o->trace != NULL) {
        char cmd[256];
        certa_sim_replay_cmd(o, cmd, sizeof cmd);
        fprintf(o->trace, "VIOLATION seed %" PRIu64 ": %s\nreplay: %s\n", o->seed,
                res->violation, cmd);
        trace_dump(s, o->trace);
    }
    sim_free(s);
    bool ok = res->ok;
    free(s);
    return ok;
}
