#!/usr/bin/env bash
# bench/gateway_small: the gateway's integrator API under the city's shape,
# many small POSTs (one counter case: 2 events each), with and without
# --aggregate-ms. A 4-validator cluster (127.0.0.1, ports BASE_PORT..
# BASE_PORT+32), one gateway (rate limit out of the way), and wrk (2
# threads, CONNS connections, DURATION s) posting fresh grants, rounds
# alternating the two modes on the same cluster.
#
# Prints `name value` lines, medians over ROUNDS: POSTs/s and events/s
# answered 2xx, p50 and p99 (ms) for each mode, non-2xx answers, and
# aggregated_ratio (the aggregated mode's events/s over the plain one's).
# The load generator shares the 2 cores with everything.
#
# usage: bench/gateway_small.sh   (CERTA_BIN: default build/certa;
#        BASE_PORT: default 27800 + CERTA_TEST_PORT_OFFSET; ROUNDS: default
#        3; DURATION: default 10; CONNS: default 64 (the gateway's most per
#        address); AGGREGATE_MS: default 10)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CERTA=${CERTA_BIN:-$HERE/../build/certa}
BASE_PORT=${BASE_PORT:-$((27800 + ${CERTA_TEST_PORT_OFFSET:-0}))}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
AGGREGATE_MS=${AGGREGATE_MS:-10}
case ${1:-} in
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "usage: bench/gateway_small.sh (settings in the environment, see --help)" >&2; exit 2 ;;
esac
command -v wrk >/dev/null || { echo "bench/gateway_small: needs wrk (bash tools/install-deps.sh)" >&2; exit 2; }
[ -x "$CERTA" ] || { echo "bench/gateway_small: no binary at $CERTA (build first)" >&2; exit 3; }
W=$(mktemp -d "${TMPDIR:-/tmp}/certa-bench-gwsmall.XXXXXX")
PIDS=()
GW=
. "$HERE/lib_cluster.sh"
trap '[ -n "$GW" ] && kill -TERM "$GW" 2>/dev/null; cleanup; rm -rf "$W"' EXIT
log() { echo "# $*" >&2; }
GW_PORT=$((BASE_PORT + 80))

"$CERTA" genesis --validators 4 --dir "$W/c" --base-port "$BASE_PORT" >/dev/null
start_cluster "$CERTA" gs
TOKEN=bench-counter-system-token-0123456789
printf 'counters %s\n' "$(echo "$TOKEN" | "$CERTA" gateway --hash-token)" >"$W/tokens"
cat >"$W/post.lua" <<'LUA'
-- two fresh grants per POST: grant and holder ids from the round's tag,
-- the wrk thread and a counter
local now = os.time() * 1000
local tag = tonumber(os.getenv("TAG"))
local token = os.getenv("TOKEN")
local tid = 0
local n = 0
local commit = "6a5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b"
local ids = 0
function setup(thread)
    ids = ids + 1
    thread:set("tid", ids)
end
local function grant()
    n = n + 1
    return string.format('{"kind":"grant","grant_id":"%08x%08x%016x","holder_id":"%08x%08x%016x%032x",' ..
        '"licence_types":["id_card"],"centre":2,"counter":0,"matter":1001,"not_before_ms":%d,' ..
        '"not_after_ms":%d,"max_uses":1,"method":"code","code_commit":"%s"}\n',
        tag, tid, n, tag, tid, n, 0, now - 60000, now + 3600000, commit)
end
request = function()
    local body = grant() .. grant()
    return wrk.format("POST", "/v1/batches", {["Authorization"] = "Bearer " .. token,
        ["Content-Type"] = "application/x-ndjson"}, body)
end
LUA

start_gw() { # [options]
    "$CERTA" gateway --genesis "$W/c/genesis.json" --listen "127.0.0.1:$GW_PORT" \
        --timeout-ms 3000 --integrator app --key "$W/c/integrators/app.pem" \
        --tokens "$W/tokens" --state "$W/gwstate" --rate-per-s 1000000 --burst 1000000 "$@" \
        >"$W/gw.out" 2>>"$W/gw.err" &
    GW=$!
    for _ in $(seq 100); do
        grep -q serving "$W/gw.out" 2>/dev/null && return 0
        sleep 0.1
    done
    log "the gateway did not start: $(tail -3 "$W/gw.err")"
    exit 3
}
stop_gw() { kill -TERM "$GW"; wait "$GW" || true; GW=; }

tag=0
run() { # MODE [gateway options] -> a line "MODE posts/s p50_ms p99_ms non2xx"
    local mode=$1
    shift
    tag=$((tag + 1))
    start_gw "$@"
    TAG=$tag TOKEN=$TOKEN wrk -t2 -c "$CONNS" -d "${DURATION}s" --latency -s "$W/post.lua" \
        "http://127.0.0.1:$GW_PORT/v1/batches" >"$W/wrk-$tag.out" 2>&1 || true
    stop_gw
    python3 - "$mode" "$W/wrk-$tag.out" <<'PY'
import re, sys
t = open(sys.argv[2]).read()
unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}
def lat(p):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)" % p, t, re.M)
    return float(m.group(1)) * unit[m.group(2)] if m else float("nan")
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
total = re.search(r"(\d+) requests in", t)
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
nbad = int(bad.group(1)) if bad else 0
ok = float(rps.group(1)) * (1 - nbad / max(int(total.group(1)), 1)) if rps and total else 0.0
print(sys.argv[1], ok, lat(50), lat(99), nbad)
PY
}
: >"$W/rows"
for r in $(seq "$ROUNDS"); do
    run plain >>"$W/rows"
    run aggregated --aggregate-ms "$AGGREGATE_MS" >>"$W/rows"
    log "round $r: $(tail -2 "$W/rows" | tr '\n' ' ')"
done
python3 - "$W/rows" "$AGGREGATE_MS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = {}
for mode in ("plain", "aggregated"):
    rs = [r for r in rows if r[0] == mode]
    posts = statistics.median(float(r[1]) for r in rs)
    med[mode] = posts
    print("gateway_small_%s_posts_per_s %.0f" % (mode, posts))
    print("gateway_small_%s_events_per_s %.0f" % (mode, 2 * posts))
    print("gateway_small_%s_p50_ms %.1f" % (mode, statistics.median(float(r[2]) for r in rs)))
    print("gateway_small_%s_p99_ms %.1f" % (mode, statistics.median(float(r[3]) for r in rs)))
    print("gateway_small_%s_non2xx %d" % (mode, sum(int(r[4]) for r in rs)))
print("gateway_small_aggregate_ms %s" % sys.argv[2])
print("gateway_small_aggregated_ratio %.3f" % (med["aggregated"] / max(med["plain"], 1e-9)))
PY
