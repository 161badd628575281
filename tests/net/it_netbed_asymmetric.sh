#!/usr/bin/env bash
# Asymmetric links: A hears B, B does not hear A (5 ms RTT, 1 % loss;
# netbed.sh). 4 validators and a client in their own namespaces; a loader
# sends chunks of grants to all validators throughout.
# 1. backup 1 stops hearing the primary (packets 0 -> 1 dropped; 1 -> 0
#    pass): for HOLD_S the others go on committing (5 blocks at least);
#    healed, within HEAL_S all four at one height;
# 2. the primary stops hearing everyone (packets 1, 2, 3 and the client ->
#    0 dropped; 0 -> everyone pass): within FAILOVER_S the other three
#    commit 5 blocks above the height at the cut (in whichever view);
#    healed, within HEAL_S all four at one height;
# 3. every chunk committed in full (a batch refused during a fault with an
#    explicit answer is sent again and commits); one chain (same block
#    hashes), clean stops, block logs audit clean.
# About 90 s.
set -euo pipefail
. "$(dirname "$0")/netbed.sh"
HOLD_S=10
FAILOVER_S=30
HEAL_S=60
nb_init 4
nb_shape 5 0 1
nb_genesis
nb_start_all
nb_loader 1000 40
nb_wait_rise 3 60 0 1 2 3 || nb_fail "no commits before the first cut: $NB_HEIGHTS"

h=$(nb_heights 0 1 2 3)
nb_cut 0 1
nb_mark cut1
nb_note "phase 1: validator 1 does not hear the primary (0 -> 1 cut, 1 -> 0 open); heights $h"
sleep "$HOLD_S"
h2=$(nb_heights 0 1 2 3)
s=$(nb_snap)
read -r a _ c d <<<"$h"
read -r a2 b2 c2 d2 <<<"$h2"
[ "$(nb_max "$a2 $c2 $d2")" -ge $(($(nb_max "$a $c $d") + 5)) ] ||
    nb_fail "phase 1: fewer than 5 blocks in ${HOLD_S}s: $h -> $h2"
nb_note "phase 1 after ${HOLD_S}s: heights $h2; views $(nb_col "$s" 1); in view change $(nb_col "$s" 2)"
nb_mark heal1
nb_heal 0 1
nb_wait_equal "$(nb_max "$h2")" "$HEAL_S"
nb_note "phase 1 healed: all four at height $NB_HEIGHT; validator 1 caught up $(nb_recovery heal1 "$(nb_max "$h2")" 1)s after the heal"

h=$(nb_heights 0 1 2 3)
h_cut=$(nb_max "$h")
for k in 1 2 3 4; do nb_cut "$k" 0; done
nb_mark cut2
t_cut=$SECONDS
nb_note "phase 2: the primary hears no one (1, 2, 3, client -> 0 cut; 0 -> all open); heights $h"
nb_wait_rise $((h_cut + 5)) "$FAILOVER_S" 1 2 3 ||
    nb_fail "phase 2: ${FAILOVER_S}s after the cut heights $NB_HEIGHTS (cut at $h_cut)"
s=$(nb_snap)
nb_note "phase 2: validators 1-3 committed 5 blocks $((SECONDS - t_cut))s after the cut (first commit after $(nb_recovery cut2 commit 1 2 3)s); views $(nb_col "$s" 1); heights $(nb_col "$s" 3)"
nb_mark heal2
nb_healall
nb_wait_equal "$(nb_max $(nb_col "$s" 3))" "$HEAL_S"
nb_note "phase 2 healed: all four at height $NB_HEIGHT; validator 0's first commit $(nb_recovery heal2 commit 0)s after the heal"

nb_loader_check refusals
nb_wait_equal "$NB_HEIGHT" 60
nb_same_chain "$NB_HEIGHT"
nb_note "loader: $NB_CHUNKS chunks, each committed in full ($NB_CHUNKS_AGAIN after explicit refusals, sent again); one chain up to height $NB_HEIGHT"
nb_stop_and_audit
echo "it_netbed_asymmetric: 1 passed, 0 failed"
