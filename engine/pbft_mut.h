/* pbft_mut (private): bugs that the simulator plants in the consensus core
 * to prove that its checks catch them (sim/, `certa sim --mutation`).
 * Kept out of certa/pbft.h so that no integrator or daemon code sees a knob
 * that weakens consensus; certa_pbft_config.mutation is 0 in production and
 * only the core (engine/pbft.c) and the simulator include this header. */
#ifndef CERTA_ENGINE_PBFT_MUT_H
#define CERTA_ENGINE_PBFT_MUT_H

enum {
    CERTA_PBFT_MUT_NONE = 0,
    CERTA_PBFT_MUT_QUORUM_2F = 1,       /* quorums of 2f instead of 2f+1 */
    CERTA_PBFT_MUT_NV_SKIP_PREPARED = 2 /* new view ignores prepared certs */
};
#define CERTA_PBFT_MUT_COUNT 3

#endif
