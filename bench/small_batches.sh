#!/usr/bin/env bash
# bench/small_batches: the city's real shape. The Beijing trace as the load
# model writes it, with its natural batches (one counter case, one signed
# batch: about 1.8 events; not re-batched), against a 4-validator cluster on
# this machine (127.0.0.1, ports BASE_PORT..BASE_PORT+32).
#
#   1. `certa load find-max` ramps the offered rate until p99 exceeds SLO_MS
#      (default 100) or a batch fails: the most batches/s committed by a
#      passing step is the maximum;
#   2. the signature limit is measured around it on the same machine:
#      every validator verifies every batch's Ed25519 signature and the
#      validators share the cores, so the cluster cannot commit more than
#      verifies/s of one core (bench_crypto, median of 5 rounds, before and
#      after the search) x cores / validators batches/s;
#   3. on a fresh chain, `certa load replay` at the best passing speed for
#      STEP_S seconds, with every thread's CPU sampled: CPU per committed
#      batch and per event per validator, by thread, beside the cost of one
#      verify, says where a batch's time goes (for each mode).
#
#   4. the other mode, integrators that aggregate (`--aggregate-ms`, each
#      centre's counter system signs one batch per AGGREGATE_MS for all its
#      counters): find-max again on a fresh chain, over a trace of the same
#      hours at AGG_SCALE times the cases per counter with the batching
#      windows divided by AGG_SCALE (the same integrators, and batches of
#      the same natural size, so the search does not run out of trace),
#      latency still from each case's own schedule, the wait included.
#
# Prints `name value` lines: small_batches_per_s_max (committed, within the
# SLO), small_batches_events_per_batch, ed25519_verifies_per_s_1core,
# signature_limit_batches_per_s, small_batches_ratio_to_signature_limit
# (target >= 0.8), the aggregated mode's aggregated_events_per_s_max,
# events per sealed batch, wait p99 and
# aggregated_ratio_to_signature_limit_events (its events/s over what the
# signature limit allows natural batches), then the per-batch CPU figures.
#
# usage: bench/small_batches.sh   (CERTA_BIN: default build/certa;
#        BENCH_CRYPTO: default build/bench_crypto; BASE_PORT: default 27400
#        + CERTA_TEST_PORT_OFFSET; SLO_MS: default 100; HOURS: trace length,
#        default 6 (the hours after the first are quieter, and the 3-hour
#        trace ran out while refining above 128x); START_SPEED: default 32;
#        STEP_S: seconds per step, default 15; AGGREGATE_MS: default 10,
#        0 skips step 4; AGG_SCALE: default 4)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CERTA=${CERTA_BIN:-$HERE/../build/certa}
BENCH_CRYPTO=${BENCH_CRYPTO:-$HERE/../build/bench_crypto}
BASE_PORT=${BASE_PORT:-$((27400 + ${CERTA_TEST_PORT_OFFSET:-0}))}
SLO_MS=${SLO_MS:-100}
HOURS=${HOURS:-6}
START_SPEED=${START_SPEED:-32}
STEP_S=${STEP_S:-15}
AGGREGATE_MS=${AGGREGATE_MS:-10}
AGG_SCALE=${AGG_SCALE:-4}
case ${1:-} in
    -h | --help) sed -n '2,42p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "usage: bench/small_batches.sh (settings in the environment, see --help)" >&2; exit 2 ;;
esac
for b in "$CERTA" "$BENCH_CRYPTO"; do
    [ -x "$b" ] || { echo "bench/small_batches: no binary at $b (build first)" >&2; exit 3; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/certa-bench-small.XXXXXX")
PIDS=()
. "$HERE/lib_cluster.sh"
trap 'cleanup; rm -rf "$W"' EXIT
log() { echo "# $*" >&2; }

verifies_per_s() { # median of bench_crypto's 5 rounds, one core
    "$BENCH_CRYPTO" --rounds 5 | sed -n 's/^Ed25519.* verify \([0-9]*\)\/s.*/\1/p'
}

v0=$(verifies_per_s)
cores=$(nproc)
"$CERTA" genesis --validators 4 --dir "$W/c" --base-port "$BASE_PORT" >/dev/null
"$CERTA" load gen --scenario beijing --hours "$HOURS" --genesis "$W/c" --out "$W/trace.bin" \
    --quiet | sed 's/^/# /' >&2
"$CERTA" load info --trace "$W/trace.bin" | sed 's/^/# /' >&2
read -r trace_events trace_batches < <("$CERTA" load info --trace "$W/trace.bin" |
    sed -n 's/^ *\([0-9]*\) batches, \([0-9]*\) events.*/\2 \1/p')

start_cluster "$CERTA" fm
"$CERTA" load find-max --trace "$W/trace.bin" --to genesis --genesis "$W/c" \
    --slo-ms "$SLO_MS" --start-speed "$START_SPEED" --factor 2 --step-s "$STEP_S" --drain 5 \
    --refine 2 --report "$W/fm.json" --quiet >"$W/fm.out" 2>&1 || true
sed 's/^/# /' "$W/fm.out" >&2
cleanup
read -r best_eps best_speed < <(python3 - "$W/fm.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ok = [s for s in r["steps"] if s["pass"]]
b = max(ok, key=lambda s: s["committed_eps"]) if ok else {"committed_eps": 0, "speed": 0}
print(b["committed_eps"], b["speed"])
PY
)
v1=$(verifies_per_s)
python3 - "$best_eps" "$trace_events" "$trace_batches" "$v0" "$v1" "$cores" <<'PY'
import sys
eps, ev, ba, v0, v1, cores = (float(x) for x in sys.argv[1:])
per = ev / ba
bps = eps / per
v = (v0 + v1) / 2
limit = v * cores / 4
print("small_batches_events_per_batch %.2f" % per)
print("small_batches_events_per_s_max %.0f" % eps)
print("small_batches_per_s_max %.0f" % bps)
print("ed25519_verifies_per_s_1core %.0f (before %.0f, after %.0f)" % (v, v0, v1))
print("signature_limit_batches_per_s %.0f" % limit)
print("small_batches_ratio_to_signature_limit %.3f" % (bps / limit))
PY

# The aggregated mode, against the same limit in events/s.
if [ "$AGGREGATE_MS" != 0 ]; then
    scenario_dense "$CERTA" "$AGG_SCALE" >"$W/scenario-agg.json"
    "$CERTA" load gen --scenario "$W/scenario-agg.json" --hours "$HOURS" --scale "$AGG_SCALE" \
        --genesis "$W/c" --out "$W/trace-agg.bin" --quiet | sed 's/^/# /' >&2
    "$CERTA" load info --trace "$W/trace-agg.bin" | sed -n 's/^ *\([0-9]* batches, [0-9]* events\).*/# aggregated mode trace: \1/p' >&2
    start_cluster "$CERTA" agg
    "$CERTA" load find-max --trace "$W/trace-agg.bin" --to genesis --genesis "$W/c" \
        --aggregate-ms "$AGGREGATE_MS" --slo-ms "$SLO_MS" --start-speed "$START_SPEED" \
        --factor 2 --step-s "$STEP_S" --drain 5 --refine 2 --report "$W/fm-agg.json" \
        --quiet >"$W/fm-agg.out" 2>&1 || true
    sed 's/^/# aggregated: /' "$W/fm-agg.out" >&2
    cleanup
    agg_speed=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["best_speed"])' \
        "$W/fm-agg.json" 2>/dev/null || echo 0)
    python3 - "$W/fm-agg.json" "$trace_events" "$trace_batches" "$v0" "$v1" "$cores" "$AGGREGATE_MS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ev, ba, v0, v1, cores, window = (float(x) for x in sys.argv[2:])
limit_eps = (v0 + v1) / 2 * cores / 4 * (ev / ba)
ok = [s for s in r["steps"] if s["pass"]]
b = max(ok, key=lambda s: s["committed_eps"]) if ok else None
print("aggregate_window_ms %g" % window)
if b is None:
    print("aggregated_events_per_s_max 0 (no step passed)")
else:
    print("aggregated_events_per_s_max %.0f" % b["committed_eps"])
    print("aggregated_events_per_sealed_batch %.2f" %
          (b["committed_events"] / max(b["committed_batches"], 1)))
    print("aggregated_p99_ms %.1f (of which the wait p99 %.1f)" % (b["p99_ms"], b["aggregate_wait_p99_ms"]))
    print("signature_limit_events_per_s %.0f (natural batches)" % limit_eps)
    print("aggregated_ratio_to_signature_limit_events %.3f" % (b["committed_eps"] / limit_eps))
PY
fi
# Where a batch's CPU goes: the best passing speed again on a fresh chain,
# per signed batch and per event, by thread. PREFIX TRACE SPEED [replay
# options].
profile() {
    local prefix=$1 trace=$2 speed=$3
    shift 3
    start_cluster "$CERTA" "prof-$prefix"
    thread_ticks_by_kind "${PIDS[@]}" >"$W/t0.txt"
    "$CERTA" load replay --trace "$trace" --to genesis --genesis "$W/c" --speed "$speed" \
        --duration "$STEP_S" --drain 10 --report "$W/prof-$prefix" --quiet "$@" \
        >"$W/prof.out" 2>&1 || true
    thread_ticks_by_kind "${PIDS[@]}" >"$W/t1.txt"
    cleanup
    python3 - "$W/t0.txt" "$W/t1.txt" "$W/prof-$prefix.json" "$(getconf CLK_TCK)" \
        "$(python3 -c "print(($v0 + $v1) / 2)")" "$prefix" <<'PY'
import collections, json, sys
load = lambda p: {k: int(t) for k, t in (l.split() for l in open(p))}
a, b = load(sys.argv[1]), load(sys.argv[2])
r = json.load(open(sys.argv[3]))
hz, vps, pre = float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
batches, events = r["committed"]["batches"], r["committed"]["events"]
by = collections.Counter({k: t - a.get(k, 0) for k, t in b.items()})
total = sum(by.values())
us = lambda ticks, n: ticks / hz * 1e6 / max(n, 1) / 4
print("%s_replay_committed %d batches, %d events (%.0f events/s)" %
      (pre, batches, events, events / r["duration_s"]))
print("%s_replay_p99_ms %.1f" % (pre, r["latency_ms"]["p99"]))
print("%s_cpu_us_per_batch_per_validator %.1f" % (pre, us(total, batches)))
print("%s_cpu_us_per_event_per_validator %.1f" % (pre, us(total, events)))
print("verify_us %.1f" % (1e6 / vps))
for comm, t in by.most_common():
    if t > 0:
        print("%s_cpu_us_per_event_per_validator_%s %.2f" % (pre, comm, us(t, events)))
PY
}
[ "$best_speed" != 0 ] && profile natural "$W/trace.bin" "$best_speed"
[ "$AGGREGATE_MS" != 0 ] && [ -n "${agg_speed:-}" ] && [ "$agg_speed" != 0 ] &&
    profile aggregated "$W/trace-agg.bin" "$agg_speed" --aggregate-ms "$AGGREGATE_MS"
exit 0
