/* ledger_mut (private): bugs that the simulator plants in the ledger to
 * prove that its checkers of execution catch them (sim/, `certa sim
 * --mutation`). Kept out of ledger.h, as engine/pbft_mut.h is out of
 * certa/pbft.h, so that the daemon sees no knob that weakens execution;
 * certa_ledger_params.mutation is 0 there, and only engine/ledger.c, the
 * simulator and its tests include this header. */
#ifndef CERTA_ENGINE_LEDGER_MUT_H
#define CERTA_ENGINE_LEDGER_MUT_H

enum {
    CERTA_LEDGER_MUT_NONE = 0,
    /* no replay window: every committed batch judged NEW, none called
     * executed (so a primary proposes committed ones again) */
    CERTA_LEDGER_MUT_SKIP_REPLAY = 1,
    CERTA_LEDGER_MUT_LAG_OFF_BY_ONE = 2, /* headers carry h - LAG + 1 */
    /* executes with a time of its own (the block's plus 1.5 s) instead of
     * the block's, as a ledger reading a clock would */
    CERTA_LEDGER_MUT_LOCAL_TIME = 3,
};
#define CERTA_LEDGER_MUT_COUNT 4
#define CERTA_LEDGER_MUT_LOCAL_TIME_MS 1500u

#endif
