#!/usr/bin/env bash
# A 2|2 partition on a 5 ms RTT, 1 % loss network stops commits without a
# safety violation, and healing resumes them. 4 validators and a client
# (with validators 0 and 1) in their own namespaces (netbed.sh); a loader
# sends chunks of grants to all validators.
# 1. cut {0,1} | {2,3} (every link across, both ways);
# 2. after SETTLE_S (blocks already prepared may still commit), no validator
#    commits for HOLD_S: 2 of 4 is no quorum (heights read by each
#    validator's monitor in its own namespace);
# 3. healed: within HEAL_S all four commit again and reach one height,
#    3 blocks above the partition's; the time from the heal to the first
#    commit on all four is printed;
# 4. every chunk committed in full; every validator serves the same block
#    hashes (one chain: no divergence), stops cleanly and audits clean.
# About 60 s.
set -euo pipefail
. "$(dirname "$0")/netbed.sh"
SETTLE_S=3
HOLD_S=12
HEAL_S=60
nb_init 4
nb_shape 5 0 1
nb_genesis
nb_start_all
nb_loader 400 40
nb_wait_rise 3 60 0 1 2 3 || nb_fail "no commits before the partition: $NB_HEIGHTS"
nb_partition "0 1" "2 3"
nb_mark cut
nb_note "partition {0,1,client} | {2,3} at heights $(nb_heights 0 1 2 3)"
sleep "$SETTLE_S"
h_hold=$(nb_heights 0 1 2 3)
nb_mark hold
sleep "$HOLD_S"
h_end=$(nb_heights 0 1 2 3)
[ "$h_end" = "$h_hold" ] || nb_fail "commits during a 2|2 partition: heights $h_hold -> $h_end in ${HOLD_S}s"
grep -q . <<<"$(tr -d ' 0-9' <<<"$h_end")" && nb_fail "a validator stopped answering its own monitor: $h_end"
[ "$(nb_recovery hold commit 0 1 2 3)" = none ] || nb_fail "a validator's timeline shows a commit during the hold"
nb_note "no commit on any validator for ${HOLD_S}s of partition: heights $h_end"
h_max=$(nb_max $h_end)
nb_mark heal
nb_healall
nb_wait_rise $((h_max + 1)) "$HEAL_S" 0 1 2 3 || nb_fail "${HEAL_S}s after the heal: heights $NB_HEIGHTS (partition at $h_end)"
t_resume=$(nb_recovery heal commit 0 1 2 3)
nb_wait_equal $((h_max + 3)) "$HEAL_S"
nb_note "healed: every validator committed again ${t_resume}s after the heal; all at height $NB_HEIGHT"
nb_loader_check refusals
nb_wait_equal "$NB_HEIGHT" 60
nb_same_chain "$NB_HEIGHT"
nb_note "loader: $NB_CHUNKS chunks, each committed in full ($NB_CHUNKS_AGAIN after explicit refusals, sent again); one chain up to height $NB_HEIGHT"
nb_stop_and_audit
echo "it_netbed_partition: 1 passed, 0 failed (commits resumed ${t_resume}s after the heal)"
