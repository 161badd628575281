/* fuzz_state: random event sequences through the state machine on two
 * replicas (one hashing thread and two; the second digests after every block
 * and is snapshotted and restored midway). Checks that apply never crashes
 * and that results, results roots and digests stay equal.
 *
 * Input: records of 12 bytes, each one event built from small choices (kind,
 * integrator, grant and holder from small id spaces, scope, window, method,
 * code right or wrong); a record whose first byte has bit 7 set closes the
 * block and moves time on by the next byte in minutes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../state_fixture.h"

#define REC_BYTES 12

static fx_genesis fx;
static char snap_path[64];
static char cold_dir[64]; /* b's cold store: its restart reopens it */

static void remove_snapshot(void)
{
    unlink(snap_path);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cold_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_state: could not remove %s\n", cold_dir);
}

static certa_event build(const uint8_t *b, uint64_t now, uint16_t *integ)
{
    static const uint32_t matters[4] = {101, 102, 103, 999};
    uint32_t gid = b[1] % 24;
    uint32_t holder = b[2] % 6;
    uint16_t centre = (uint16_t)(b[3] % 4);
    uint16_t counter = (uint16_t)(b[4] % 5);
    uint32_t matter = matters[b[5] % 4];
    uint32_t types = b[6] & 0x7f;
    uint64_t nb = now - 3600000ull + (uint64_t)b[7] * 600000ull;
    uint64_t na = nb + (uint64_t)b[8] * 3600000ull * (b[8] > 250 ? 10 : 1);
    *integ = (uint16_t)(b[9] % 6);
    certa_event ev;
    switch (b[0] % 7) {
    case 0:
    case 1:
        ev = fx_grant(gid, holder, centre, counter, matter, types, nb, na,
                      (uint16_t)(b[10] % 4), (uint8_t)(b[11] % 4));
        if (b[9] & 0x80) /* rules 2: the commitment to a sealed proof */
            ev = fx_grant_sealed(ev, gid);
        break;
    case 2:
    case 3:
        ev = fx_redeem(gid, centre, counter, matter, (uint8_t)(b[6] % 40), b[10] & 1,
                       (b[10] & 2) != 0);
        if (b[11] > 250)
            ev.licence_count = (uint8_t)(b[11] - 240); /* 0 or past the limit */
        if (b[9] & 0x80) /* rules 2: the proof instead of code and salt */
            ev = fx_sealed(ev);
        break;
    case 4:
    case 5:
        ev = fx_evidence((uint8_t)(CERTA_EV_CONFIRM + b[10] % 3), gid, centre, counter);
        if (b[11] == 0)
            memset(ev.evidence, 0, sizeof ev.evidence);
        ev.redeem = (uint16_t)(b[7] % 4); /* rules 2: 0 names none, 1..3 a use */
        break;
    default:
        ev = fx_revoke(gid, holder);
        break;
    }
    if (b[0] % 7 == 6 && b[11] == 7)
        ev.kind = (uint8_t)b[10]; /* any kind byte */
    return ev;
}

static certa_state *make(uint32_t threads, const char *cold)
{
    certa_state_opts o = {.hash_threads = threads, .cold_dir = cold};
    certa_state *s = NULL;
    if (certa_state_create(&fx.g, &o, &s, NULL) != CERTA_OK)
        abort();
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (snap_path[0] == '\0') {
        fx_genesis_init(&fx);
        fx.g.params.rules = 2; /* evidence bound to its redeem */
        /* tmpfs when there is one: fsync there costs nothing */
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(snap_path, sizeof snap_path, "%s/certa-fuzz-state-%d.snap", dir, (int)getpid());
        snprintf(cold_dir, sizeof cold_dir, "%s/certa-fuzz-cold-%d", dir, (int)getpid());
        atexit(remove_snapshot);
    }
    /* b starts each input on an empty cold store of its own */
    char f[96];
    snprintf(f, sizeof f, "%s/data.mdb", cold_dir);
    unlink(f);
    snprintf(f, sizeof f, "%s/lock.mdb", cold_dir);
    unlink(f);
    certa_state *a = make(1, NULL), *b = make(2, cold_dir);
    uint64_t now = FX_T0, height = 1;
    size_t n = size / REC_BYTES;
    bool snapped = false;
    certa_state_begin_block(a, height, now, NULL);
    certa_state_begin_block(b, height, now, NULL);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = data + i * REC_BYTES;
        if (r[0] & 0x80) {
            uint8_t ra[32], rb[32], da[32], db[32];
            certa_state_end_block(a, ra);
            certa_state_end_block(b, rb);
            if (memcmp(ra, rb, 32) != 0)
                abort();
            certa_state_digest(b, db);
            if (!snapped && i >= n / 2) {
                snapped = true;
                if (certa_state_snapshot_save(b, snap_path, NULL) != CERTA_OK)
                    abort();
                certa_state_free(b);
                b = make(2, cold_dir);
                if (certa_state_snapshot_load(b, snap_path, NULL) != CERTA_OK)
                    abort();
                certa_state_digest(a, da);
                certa_state_digest(b, db);
                if (memcmp(da, db, 32) != 0)
                    abort();
            }
            now += (uint64_t)r[1] * 60000ull;
            height++;
            certa_state_begin_block(a, height, now, NULL);
            certa_state_begin_block(b, height, now, NULL);
            continue;
        }
        uint16_t integ;
        certa_event ev = build(r, now, &integ);
        certa_result x = certa_state_apply(a, integ, &ev);
        certa_result y = certa_state_apply(b, integ, &ev);
        if (x != y || (unsigned)x >= CERTA_R_COUNT)
            abort();
    }
    uint8_t ra[32], rb[32], da[32], db[32];
    certa_state_end_block(a, ra);
    certa_state_end_block(b, rb);
    certa_state_digest(a, da);
    certa_state_digest(b, db);
    if (memcmp(ra, rb, 32) != 0 || memcmp(da, db, 32) != 0)
        abort();
    certa_state_free(a);
    certa_state_free(b);
    return 0;
}
