#!/usr/bin/env bash
# bench/soak: cost that stays flat as work goes on. A 4-validator cluster on
# this machine (127.0.0.1, ports BASE_PORT..BASE_PORT+32) carries the
# Beijing trace at a fixed rate for MINUTES minutes, open loop (latency
# from each batch's schedule), while every validator's resident memory and
# CPU are sampled once a minute.
#
#   1. a trace of the Beijing scenario at SCALE times the cases per counter
#      (the same centres, counters and integrators) with a flat day (every
#      open hour at the peak's rate, so the offered rate holds still) and
#      the batching windows divided by SCALE (so batches keep the city's
#      natural size, about 1.7 events), long enough for MINUTES at the
#      speed that offers RATE events/s;
#   2. `certa load replay` for MINUTES minutes at that speed, the report's
#      series (every few seconds: offered and committed events/s, p50, p99);
#   3. per minute: committed events/s, the worst interval p99, each
#      validator's anonymous RSS (MiB: its heap, what would leak) and its
#      file-backed RSS (the block log's and the cold store's mapped pages,
#      which the kernel takes back when memory is short), and the
#      validators' CPU (% of one core).
#
# Prints the per-minute table (stderr, `# ` lines) and `name value` lines:
# soak_minutes, soak_offered_events_per_s, soak_committed_events_per_s,
# soak_failed_batches, soak_p99_ms (whole run), soak_p99_ms_minutes_2_6 and
# _last_5min; soak_anon_rss_mib_first_minute / _last_minute (the sum of the
# 4) and soak_anon_rss_growth_pct (last minute over minute 2, so that
# start-up allocation does not count), the same for the file-backed RSS;
# soak_eps_drift_pct (the last 5 minutes' committed rate over minutes 2-6's,
# against the offered rates' own drift; minute 1 is the ramp: cases' later
# steps follow their grants by minutes of trace time).
# With PLOT=FILE.svg, the per-minute series as one SVG.
#
# usage: bench/soak.sh   (CERTA_BIN: default build/certa; BASE_PORT: default
#        27600 + CERTA_TEST_PORT_OFFSET; MINUTES: default 30; RATE: events/s,
#        default 2350, half of what bench/small_batches.sh measured for this
#        shape of batches (4,697 events/s); SCALE: default 32;
#        PLOT: an SVG path, default none)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CERTA=${CERTA_BIN:-$HERE/../build/certa}
BASE_PORT=${BASE_PORT:-$((27600 + ${CERTA_TEST_PORT_OFFSET:-0}))}
MINUTES=${MINUTES:-30}
RATE=${RATE:-2350}
SCALE=${SCALE:-32}
PLOT=${PLOT:-}
case ${1:-} in
    -h | --help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "usage: bench/soak.sh (settings in the environment, see --help)" >&2; exit 2 ;;
esac
[ -x "$CERTA" ] || { echo "bench/soak: no binary at $CERTA (build first)" >&2; exit 3; }
W=$(mktemp -d "${TMPDIR:-/tmp}/certa-bench-soak.XXXXXX")
PIDS=()
. "$HERE/lib_cluster.sh"
trap 'cleanup; rm -rf "$W"' EXIT
log() { echo "# $*" >&2; }

"$CERTA" genesis --validators 4 --dir "$W/c" --base-port "$BASE_PORT" >/dev/null
scenario_dense "$CERTA" "$SCALE" flat >"$W/scenario.json"
# The open hours from 10:00 hold 7 h of trace; the speed that gives RATE
# decides how many hours MINUTES need (plus one of margin).
"$CERTA" load gen --scenario "$W/scenario.json" --hours 1 --scale "$SCALE" --genesis "$W/c" \
    --out "$W/probe.bin" --quiet >/dev/null
# the hour's cases' events over the hour (their later steps spill past it)
probe_eps=$("$CERTA" load info --trace "$W/probe.bin" |
    sed -n 's/^ *[0-9]* batches, \([0-9]*\) events over.*/\1/p' | awk '{print $1 / 3600}')
rm -f "$W/probe.bin"
read -r speed hours < <(python3 - "$RATE" "$probe_eps" "$MINUTES" <<'PY'
import math, sys
rate, eps, minutes = (float(x) for x in sys.argv[1:])
speed = rate / eps
hours = math.ceil(minutes * 60 * speed / 3600) + 1
print("%.4f %d" % (speed, hours))
PY
)
log "trace: scale $SCALE, $hours h, replayed at speed $speed for $MINUTES min (about $RATE events/s)"
[ "$hours" -le 7 ] || { log "MINUTES at RATE need more than the 7 open hours: raise SCALE"; exit 2; }
"$CERTA" load gen --scenario "$W/scenario.json" --hours "$hours" --scale "$SCALE" --genesis "$W/c" \
    --out "$W/trace.bin" --quiet | sed 's/^/# /' >&2

start_cluster "$CERTA" soak
sample() { # minute -> "minute anon_kib x4 file_kib x4 cpu_ticks"
    local m=$1 p anon="" file="" ticks=0
    for p in "${PIDS[@]}"; do
        anon="$anon $(awk '/^RssAnon:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)"
        file="$file $(awk '/^RssFile:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)"
        ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$m$anon$file $ticks"
}
sample 0 >"$W/samples.txt"
(
    for m in $(seq 1 "$MINUTES"); do
        sleep 60
        sample "$m" >>"$W/samples.txt"
    done
) &
SAMPLER=$!
"$CERTA" load replay --trace "$W/trace.bin" --to genesis --genesis "$W/c" --speed "$speed" \
    --duration $((MINUTES * 60)) --drain 10 --report "$W/soak" --quiet >"$W/replay.out" 2>&1 || true
wait "$SAMPLER" 2>/dev/null || true
sed 's/^/# /' "$W/replay.out" >&2
cleanup
python3 "$HERE/soak_report.py" "$W/soak.json" "$W/samples.txt" "$(getconf CLK_TCK)" "$PLOT"
