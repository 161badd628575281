#!/usr/bin/env bash
# Overload must not stop the chain (issue: views changing every timeout for
# ever after a peak-hour replay far above capacity). 4 validators on
# 127.0.0.1 (ports 27000..27032): the Beijing trace replayed at speed 400
# with its natural small batches for a few seconds (several thousand events
# per second offered, most answered BUSY), then at normal load 60 grants of
# the holder app on fresh sequence numbers. Asserts:
# - the grants all commit within RECOVER_S (60 s) after the overload ended;
# - afterwards the view stops climbing: over a watch of 3 view timers no
#   validator starts a view change, none is in view change, all share one
#   view;
# - the progress gauges exist and the last commit is recent.
# Deadlines are generous and polled; nothing assumes the machine's speed.
set -euo pipefail
BASE_PORT=$((27000 + ${CERTA_TEST_PORT_OFFSET:-0}))
. "$(dirname "$0")/cluster_lib.sh"
RECOVER_S=60
WATCH_S=6 # three view timers of the default genesis (2 s)
SECONDS=0
cl_init
python3 "$SRC/tests/integration/cluster_events.py" "$W/ev" 60 7 5
cl_start_all
note "cluster up after ${SECONDS}s"

"$CERTA" load gen --scenario beijing --hours 1 --genesis "$W/c" --out "$W/peak.trace" \
    --quiet >/dev/null || fail "load gen"
# refused (BUSY) batches make replay exit 1: expected under overload
set +e
"$CERTA" load replay --trace "$W/peak.trace" --to genesis --genesis "$W/c" --speed 400 \
    --duration 12 --drain 5 --report "$W/rep" --quiet >"$W/replay.out" 2>&1
rc=$?
set -e
[ "$rc" -le 1 ] || fail "replay: exit $rc: $(tail -5 "$W/replay.out")"
note "overload: $(grep -E '^(offered|committed|failed)' "$W/replay.out" | tr '\n' ';')"
view_after_overload=$(cl_metric 0 certa_view)
t_end=$SECONDS

# Normal load after the overload: sequence numbers far above the trace's.
SEQ_app=100000000
cl_submit app "$W/ev/1-grants.jsonl" "$W/grants" --batch 4 --deadline-ms $((RECOVER_S * 1000))
ok=$(cl_sum_field "$W/grants" ok)
notc=$(cl_sum_field "$W/grants" "not committed")
[ "${ok:-0}" = 60 ] && [ "${notc:-0}" = 0 ] ||
    fail "grants after overload: $(cat "$W/grants.sum") $(tail -3 "$W/grants.err")"
t_rec=$((SECONDS - t_end))
[ "$t_rec" -le "$RECOVER_S" ] || fail "commits resumed only ${t_rec}s after the overload"
note "60 grants committed ${t_rec}s after the overload ended (view $view_after_overload then)"

# The view stops climbing.
declare -a vc0
for k in 0 1 2 3; do vc0[$k]=$(cl_metric "$k" certa_view_changes_total); done
deadline=$((SECONDS + WATCH_S))
while [ $SECONDS -lt $deadline ]; do
    for k in 0 1 2 3; do
        [ "$(cl_metric "$k" certa_view_changes_total)" = "${vc0[$k]}" ] ||
            fail "validator $k changed view after the load had recovered"
    done
    sleep 0.5
done
views=""
for k in 0 1 2 3; do
    [ "$(cl_metric "$k" certa_view_change_in_progress)" = 0 ] ||
        fail "validator $k is in view change after recovery"
    views="$views $(cl_metric "$k" certa_view)"
done
[ "$(echo $views | tr ' ' '\n' | sort -u | wc -l)" = 1 ] || fail "views differ:$views"
since=$(cl_metric 0 certa_seconds_since_last_commit)
python3 -c "import sys; sys.exit(0 if float('$since') < $RECOVER_S + $WATCH_S + 5 else 1)" ||
    fail "certa_seconds_since_last_commit is $since"
note "views stayed at$views for ${WATCH_S}s; $(cl_metric 0 certa_requests_dropped_total) batches dropped unordered at validator 0"
echo "it_overload_recovers: 1 passed, 0 failed"
