#!/usr/bin/env bash
# 4 validators and a client in their own namespaces, every link at 5 ms RTT
# (2.5 ms each way) and 1 % loss each way (netbed.sh): the Beijing trace
# replayed at 20x for 8 s (certa load replay, open loop) commits with
# nothing refused, lost or failed, every validator's chain holding the
# report's count; the p50 and p99 commit latency are printed. The shaper
# must have dropped packets (the loss was real). About 60 s.
set -euo pipefail
. "$(dirname "$0")/netbed.sh"
nb_init 4
nb_shape 5 0 1
nb_genesis
nb_start_all
nb_note "4 validators up at RTT 5 ms, loss 1 %"
nb_replay 20 8 "$NB_W/rep"
nb_note "Beijing trace at 20x for 8 s, RTT 5 ms, 1 % loss: $NB_REPLAY_SUMMARY"
st=$(nb_stats)
lost=$(sed -n 's/.* lost=\([0-9]*\).*/\1/p' <<<"$st")
[ "$lost" -gt 0 ] || nb_fail "the shaper dropped nothing: $st"
nb_note "netshaper: $st"
nb_stop_and_audit
echo "it_netbed_load: 1 passed, 0 failed (p50 ${NB_P50_MS} ms, p99 ${NB_P99_MS} ms)"
