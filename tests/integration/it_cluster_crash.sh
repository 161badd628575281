#!/usr/bin/env bash
# Crashes under load, 4 validators on 127.0.0.1 (ports 22000..22032).
# A loader submits chunks of grants one after another (each a `certa submit`
# with the next sequence numbers, to every validator, failing over between
# them). Meanwhile: SIGKILL of a backup (validator 2), restart, it catches
# up; SIGKILL of the primary (validator 0 in view 0): the others change view
# and the load goes on, the client retrying; restart it too. Then every
# chunk must have been committed in full, all four validators at the same
# height with the same number of events executed (at least every
# acknowledged event), and the data directories audited.
set -euo pipefail
BASE_PORT=$((22000 + ${CERTA_TEST_PORT_OFFSET:-0}))
. "$(dirname "$0")/cluster_lib.sh"
SECONDS=0
CHUNKS=400
SIZE=100
BATCH=10
cl_init
python3 "$SRC/tests/integration/cluster_grants.py" "$W/load" "$CHUNKS" "$SIZE"
cl_start_all

LOADER_PAUSE_S=0.05

cl_loader &
PIDS[9]=$!
cl_wait_chunks 5
note "load running: $(cl_chunks_done) chunks after ${SECONDS}s"

note "SIGKILL validator 2 (a backup)"
kill -KILL "${PIDS[2]}"
wait "${PIDS[2]}" 2>/dev/null || true
PIDS[2]=
cl_wait_chunks 5
note "load went on without it: $(cl_chunks_done) chunks"
cl_start 2
cl_wait_chunks 5
note "restarted validator 2; $(cl_chunks_done) chunks"

note "SIGKILL validator 0 (the primary of view 0)"
kill -KILL "${PIDS[0]}"
wait "${PIDS[0]}" 2>/dev/null || true
PIDS[0]=
before=$(cl_chunks_done)
cl_wait_chunks 5
note "load went on after the view change: $(cl_chunks_done) chunks (was $before) at ${SECONDS}s"
cl_start 0
cl_wait_chunks 5
touch "$W/stop"
wait "${PIDS[9]}"
PIDS[9]=
n=$(cat "$W/load/chunks")
note "loader stopped after $n chunks at ${SECONDS}s"

# Every chunk was committed in full (ok), none lost: a batch resent after
# its validator died is answered with its receipt by the validator that has
# it (it_node_resubmit), so the client never sees a replay refusal.
acked=0
for ((i = 0; i < n; i++)); do
    [ "$(cat "$W/load/r-$i.exit")" = 0 ] \
        || fail "chunk $i: submit exited $(cat "$W/load/r-$i.exit"): $(cat "$W/load/r-$i.sum" "$W/load/r-$i.err")"
    ok=$(sed -n 's/^  ok *\([0-9]*\)/\1/p' "$W/load/r-$i.sum")
    [ "$ok" = "$SIZE" ] || fail "chunk $i: $ok of $SIZE ok: $(cat "$W/load/r-$i.sum")"
    [ "$(wc -l <"$W/load/r-$i.rc")" = "$SIZE" ] || fail "chunk $i: receipts missing"
    acked=$((acked + ok))
done
note "$acked events acknowledged, every one with its receipt"

cl_wait_equal_heights 1 120
note "all four validators at height $HEIGHT"
for k in 0 1 2 3; do
    view=$(cl_metric "$k" certa_view)
    ev=$(cl_metric "$k" certa_events_committed_total)
    note "validator $k: view $view, $ev events executed"
    if [ "$view" -lt 1 ]; then
        # what its PBFT core refused, for the report: a NEW-VIEW refused
        # counts as invalid or view, one never seen counts nothing
        note "validator $k: new views installed $(cl_metric "$k" certa_pbft_new_views_total)," \
            "dropped: view $(cl_metric "$k" 'certa_pbft_messages_dropped_total{reason="view"}')," \
            "invalid $(cl_metric "$k" 'certa_pbft_messages_dropped_total{reason="invalid"}')," \
            "window $(cl_metric "$k" 'certa_pbft_messages_dropped_total{reason="window"}')"
        fail "validator $k still in view $view after the primary died"
    fi
    # every validator got to its view by installing a NEW-VIEW, and counted it
    nv=$(cl_metric "$k" certa_pbft_new_views_total)
    [ "$nv" -ge 1 ] || fail "validator $k: in view $view, but certa_pbft_new_views_total is $nv"
    [ "$ev" -ge "$acked" ] || fail "validator $k executed $ev events < $acked acknowledged"
    [ -z "${ev0:-}" ] || [ "$ev" = "$ev0" ] || fail "validator $k executed $ev events, validator 0 $ev0"
    ev0=$ev
done
if cl_has receipt; then
    cat "$W"/load/r-*.rc >"$W/all.rc"
    "$CERTA" receipt verify --genesis "$G" "$W/all.rc" >"$W/verify.out" 2>&1 \
        || fail "receipt verify: $(tail -5 "$W/verify.out")"
fi

cl_stop_and_audit || true
note "it_cluster_crash passed in ${SECONDS}s"
