#!/usr/bin/env bash
# Validators configured differently must not stall the cluster: each one
# runs with its own batch size and block timeout (--batch, --block-timeout-ms;
# the primary's decide what it proposes, the others only validate). A 4-node
# cluster on 127.0.0.1 (ports 29700..29732) commits grants and redeems with
# every receipt, then loses its primary (SIGKILL) so that a validator with
# other settings leads, and commits the rest; the three left agree.
set -euo pipefail
BASE_PORT=$((29700 + ${CERTA_TEST_PORT_OFFSET:-0}))
. "$(dirname "$0")/cluster_lib.sh"
SECONDS=0
cl_init
python3 "$SRC/tests/integration/cluster_events.py" "$W/ev" 200 3 5
cl_start 0 --batch 1 --block-timeout-ms 2
cl_start 1 --batch 64 --block-timeout-ms 400
cl_start 2
cl_start 3 --batch 3 --block-timeout-ms 40
cl_wait_up
note "cluster up after ${SECONDS}s (batch 1 / 64 / default / 3)"

cl_submit app "$W/ev/1-grants.jsonl" "$W/1-grants" --batch 7
cl_expect "$W/1-grants" 1-grants
note "1-grants: $(head -1 "$W/1-grants.sum")"
cl_wait_equal_heights 1 90
note "all four at height $HEIGHT"

# The primary of view 0 goes; validator 1 (batch 64, 400 ms) takes over.
kill -KILL "${PIDS[0]}"
wait "${PIDS[0]}" 2>/dev/null || true
PIDS[0]=
cl_submit counter-dongcheng "$W/ev/2-wrong.jsonl" "$W/2-wrong" --batch 5 --deadline-ms 120000
cl_expect "$W/2-wrong" 2-wrong
cl_submit counter-dongcheng "$W/ev/3-redeem.jsonl" "$W/3-redeem" --batch 11 --deadline-ms 120000
cl_expect "$W/3-redeem" 3-redeem
note "after the primary's crash: $(head -1 "$W/3-redeem.sum")"
for k in 1 2 3; do
    v=$("$CERTA" status --to "tcp://127.0.0.1:$((BASE_PORT + 10 * k + 1))" --genesis "$G" --json \
        --timeout-ms 2000 | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["view"])')
    [ "$v" -ge 1 ] || fail "validator $k still in view $v after the primary's crash"
done
cl_wait_equal_heights 1 90 1 2 3
note "validators 1..3 at height $HEIGHT"
if cl_has receipt; then
    cat "$W"/1-grants.rc "$W"/2-wrong.rc "$W"/3-redeem.rc >"$W/all.rc"
    "$CERTA" receipt verify --genesis "$G" "$W/all.rc" >"$W/verify.out" 2>&1 ||
        fail "receipt verify: $(tail -3 "$W/verify.out")"
    note "receipt verify: $(tail -1 "$W/verify.out")"
fi
note "it_cluster_mixed passed in ${SECONDS}s"
