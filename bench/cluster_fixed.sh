#!/usr/bin/env bash
# bench/cluster_fixed: a 4-validator cluster on this machine (127.0.0.1,
# ports BASE_PORT..BASE_PORT+32) held at one offered rate, to compare two
# builds where find-max (bench/cluster.sh) is too coarse: its 3-second steps
# pass or fail on noise, while a rate held for DURATION seconds shows what
# each build commits and what it costs.
#
# The trace is bench/cluster.sh's (the beijing scenario at scale 40, about
# 240 events per signed batch); the cluster is fresh for each run. Prints,
# per run: committed events/s, p50/p99 latency, failed batches, CPU per
# event per validator by thread (from /proc ticks over the run) and the
# bytes validator 0 wrote through write(2)/pwrite(2) per event (the WAL and
# block store write through io_uring and are not counted: this is the cold
# store's LMDB).
#
# usage: bench/cluster_fixed.sh [--speed S] [--duration SECONDS]
#                               [--batches-per-block N] CERTA_BIN [CERTA_BIN ...]
#        (defaults: speed 50, 15 s, 4 batches per block = 1,024-event
#        blocks; BASE_PORT default 26000; each binary runs once, in order)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SPEED=50
DURATION=15
PB=4
BINS=()
while [ $# -gt 0 ]; do
    case $1 in
        --speed) SPEED=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --batches-per-block) PB=$2; shift 2 ;;
        -h|--help) sed -n 2,22p "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "bench/cluster_fixed: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) BINS+=("$1"); shift ;;
    esac
done
[ ${#BINS[@]} -gt 0 ] || { echo "bench/cluster_fixed: name at least one certa binary (see --help)" >&2; exit 2; }
for b in "${BINS[@]}"; do
    [ -x "$b" ] || { echo "bench/cluster_fixed: no certa binary at $b" >&2; exit 3; }
done
BASE_PORT=${BASE_PORT:-26000}
W=$(mktemp -d "${TMPDIR:-/tmp}/certa-bench-fixed.XXXXXX")
PIDS=()
. "$HERE/lib_cluster.sh"
trap 'cleanup; rm -rf "$W"' EXIT
log() { echo "# $*" >&2; }

B0=${BINS[0]}
"$B0" genesis --validators 4 --dir "$W/c" --base-port "$BASE_PORT" >/dev/null
"$B0" load describe --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
s["name"] = "bench-cluster"
s["batching_ms"] = {"app": 3000, "counter": 6250}  # bench/cluster.sh at scale 40
json.dump(s, sys.stdout)' >"$W/scenario.json"
"$B0" load gen --scenario "$W/scenario.json" --hours 2 --scale 40 --out "$W/trace.bin" \
    --genesis "$W/c" --quiet
log "trace: $("$B0" load info --trace "$W/trace.bin" | head -1)"

n=0
for BIN in "${BINS[@]}"; do
    n=$((n + 1))
    start_cluster "$BIN" "$n" --batch "$PB"
    thread_ticks_by_kind "${PIDS[@]}" >"$W/t0"
    w0=$(awk '/^wchar/ {print $2}' "/proc/${PIDS[0]}/io")
    "$BIN" load replay --trace "$W/trace.bin" --to genesis --genesis "$W/c" --speed "$SPEED" \
        --duration "$DURATION" --drain 10 --report "$W/r-$n" --quiet >"$W/out-$n" 2>&1 || true
    thread_ticks_by_kind "${PIDS[@]}" >"$W/t1"
    w1=$(awk '/^wchar/ {print $2}' "/proc/${PIDS[0]}/io")
    cleanup
    python3 - "$W/r-$n.json" "$W/t0" "$W/t1" "$((w1 - w0))" "$n" "$BIN" "$SPEED" "$(getconf CLK_TCK)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
n, binary, speed, hz = sys.argv[5], sys.argv[6], sys.argv[7], float(sys.argv[8])
ev = r["committed"]["events"]
lat = r["latency_ms"]
fail = sum(v["batches"] for v in r["errors"].values())
print("fixed_run%s_binary %s" % (n, binary))
print("fixed_run%s_speed %s" % (n, speed))
print("fixed_run%s_committed_events_per_s %d" % (n, r["committed"]["events_per_s"]))
print("fixed_run%s_p50_ms %.1f" % (n, lat["p50"]))
print("fixed_run%s_p99_ms %.1f" % (n, lat["p99"]))
print("fixed_run%s_failed_batches %d" % (n, fail))
t0 = dict(l.split() for l in open(sys.argv[2]))
t1 = dict(l.split() for l in open(sys.argv[3]))
total = 0.0
for k in sorted(t1):
    s = (int(t1[k]) - int(t0.get(k, 0))) / hz
    total += s
    if ev and s > 0:
        print("fixed_run%s_us_per_event_per_validator_%s %.3f" % (n, k, s * 1e6 / ev / 4))
if ev:
    print("fixed_run%s_us_per_event_per_validator %.3f" % (n, total * 1e6 / ev / 4))
    print("fixed_run%s_node0_write_bytes_per_event %.0f" % (n, int(sys.argv[4]) / ev))
PY
done
echo "fixed_machine_load_average $(cut -d' ' -f1 /proc/loadavg)"
