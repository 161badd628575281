/* Tests for net/ingress.c: a well-signed batch of a genesis integrator
 * passes; empty, oversized, truncated, garbage, unknown-integrator and
 * badly signed batches are refused with the code and message the ERROR
 * reply will carry. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certa/genesis.h"
#include "ingress.h"
#include "sample_events.h"

static char dir[] = "/tmp/certa-ingress-XXXXXX";
static certa_genesis *g;
static certa_key *app, *library;
static uint8_t buf[65536];
static size_t len;

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    certa_genesis_opts go = { .validators = 4, .dir = dir, .base_port = 7000,
                              .host = "127.0.0.1" };
    certa_errinfo ei;
    cr_assert_eq(certa_genesis_write(&go, &ei), CERTA_OK, "%s", ei.msg);
    char p[256];
    snprintf(p, sizeof p, "%s/genesis.json", dir);
    cr_assert_eq(certa_genesis_load(p, &g, &ei), CERTA_OK, "%s", ei.msg);
    snprintf(p, sizeof p, "%s/integrators/app.pem", dir);
    cr_assert_eq(certa_key_load_pem(p, &app, NULL), CERTA_OK);
    snprintf(p, sizeof p, "%s/integrators/library.pem", dir);
    cr_assert_eq(certa_key_load_pem(p, &library, NULL), CERTA_OK);
    int idx = certa_genesis_integrator_find(g, "app");
    cr_assert_geq(idx, 0);
    certa_batch_builder bb;
    certa_batch_begin(&bb, buf, sizeof buf, (uint16_t)idx, 1);
    for (int i = 0; i < 3; i++) {
        certa_event ev = sample_event(CERTA_EV_GRANT, (uint8_t)i, 0);
        cr_assert_eq(certa_batch_add(&bb, &ev, NULL), CERTA_OK);
    }
    cr_assert_eq(certa_batch_sign(&bb, app, NULL), CERTA_OK);
    len = bb.len;
}

static void teardown(void)
{
    certa_key_free(app);
    certa_key_free(library);
    certa_genesis_free(g);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(ingress, .init = setup, .fini = teardown);

Test(ingress, good_batch_passes)
{
    certa_batch_view v;
    certa_ingress_verdict vd;
    cr_assert_eq(certa_ingress_check(g, buf, len, &v, &vd), CERTA_OK, "%s", vd.message);
    cr_assert_eq(v.event_count, 3);
    cr_assert_eq(v.seq, 1);
}

Test(ingress, bad_batches_are_refused_with_reasons)
{
    certa_batch_view v;
    certa_ingress_verdict vd;
    cr_assert_eq(certa_ingress_check(g, buf, 0, &v, &vd), CERTA_E_TRUNCATED);
    cr_assert(!vd.retryable);
    cr_assert_eq(certa_ingress_check(g, buf, CERTA_BATCH_BYTES_MAX + 1u, &v, &vd), CERTA_E_TOO_LONG);
    cr_assert_neq(certa_ingress_check(g, buf, len - 1, &v, &vd), CERTA_OK);
    cr_assert_neq(vd.message[0], '\0');
    uint8_t garbage[100];
    memset(garbage, 0x5a, sizeof garbage);
    cr_assert_eq(certa_ingress_check(g, garbage, sizeof garbage, &v, &vd), CERTA_E_BAD_MAGIC,
                 "%s", vd.message);

    /* A flipped signature bit. */
    buf[len - 1] ^= 1;
    cr_assert_eq(certa_ingress_check(g, buf, len, &v, &vd), CERTA_E_BAD_SIGNATURE);
    cr_assert_not_null(strstr(vd.message, "\"app\""), "%s", vd.message);
    buf[len - 1] ^= 1;

    /* Signed by another integrator's key. */
    static uint8_t b2[65536];
    certa_batch_builder bb;
    certa_batch_begin(&bb, b2, sizeof b2, (uint16_t)certa_genesis_integrator_find(g, "app"), 2);
    certa_event ev = sample_event(CERTA_EV_REVOKE, 9, 0);
    cr_assert_eq(certa_batch_add(&bb, &ev, NULL), CERTA_OK);
    cr_assert_eq(certa_batch_sign(&bb, library, NULL), CERTA_OK);
    cr_assert_eq(certa_ingress_check(g, b2, bb.len, &v, &vd), CERTA_E_BAD_SIGNATURE);

    /* An integrator index past genesis. */
    certa_batch_begin(&bb, b2, sizeof b2, (uint16_t)g->integrator_count, 2);
    cr_assert_eq(certa_batch_add(&bb, &ev, NULL), CERTA_OK);
    cr_assert_eq(certa_batch_sign(&bb, library, NULL), CERTA_OK);
    cr_assert_eq(certa_ingress_check(g, b2, bb.len, &v, &vd), CERTA_E_NOTFOUND);
    cr_assert_not_null(strstr(vd.message, "unknown integrator"), "%s", vd.message);
}
