#!/usr/bin/env bash
# bench/gateway: the gateway's public reads on this machine. A 4-validator
# cluster (127.0.0.1, ports BASE_PORT..BASE_PORT+32) with a few hundred
# committed grants, one `certa gateway` (rate limit out of the way), and
# wrk (2 threads, CONNS connections, DURATION s, ROUNDS rounds) on:
#   /healthz         the HTTP server alone, no validator: the limit here
#   /v1/blocks/1     a committed block, immutable: from the gateway's cache
#   /v1/holders/H    a holder's records: from the cache, asked again each second
#   /v1/status       asked of a validator every time
# then batched POSTs against `certa submit` doing the same work (events/s
# committed, the ratio; target >= 0.8 at 256 events per batch): the POST's
# answer carries every event's receipt as JSON, which the client writes to
# a file, so the same work directly is `certa submit --receipts FILE`
# (post_ratio_to_direct); the ratio to `certa submit` without receipts,
# which leaves them unformatted, is printed too
# (post_ratio_to_direct_without_receipts).
# Prints `name value` lines: reads/s (median over rounds) and p99 latency
# (ms, median), and each path's reads/s as a ratio to /healthz's measured
# in the same run. Targets (issue): cached block and holder reads
# >= 10,000/s at p99 <= 20 ms. The load generator shares the 2 cores with everything.
#
# usage: bench/gateway.sh   (CERTA_BIN: default build/certa; BASE_PORT:
#        default 26000 + CERTA_TEST_PORT_OFFSET, as the tests take it, so
#        that runs beside others on one machine keep apart; ROUNDS: default
#        3; DURATION: default 10; CONNS: default 64; PARTS: reads, post or
#        both, the default; POSTERS:
#        client threads posting, default 8; CHUNKS: POSTs of 1,024 events
#        per round, default 256; STEP_TIMEOUT_S: a step that takes longer
#        fails the run, default 600)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CERTA=${CERTA_BIN:-$HERE/../build/certa}
BASE_PORT=${BASE_PORT:-$((26000 + ${CERTA_TEST_PORT_OFFSET:-0}))}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
PARTS=${PARTS:-both}
POSTERS=${POSTERS:-8}
CHUNKS=${CHUNKS:-256}
command -v wrk >/dev/null && command -v curl >/dev/null ||
    { echo "bench/gateway: needs wrk and curl (bash tools/install-deps.sh)" >&2; exit 2; }
W=$(mktemp -d "${TMPDIR:-/tmp}/certa-gwbench.XXXXXX")
# The receipts the clients keep (`certa submit --receipts`, the POSTs'
# answers: 140 MB a run) go to memory when it can: written to the disk,
# their writeback landed on whichever run came next and on the
# validators' fsyncs, and made the order of the runs the figure.
R=$W
[ -d /dev/shm ] && [ -w /dev/shm ] && R=$(mktemp -d /dev/shm/certa-gwbench.XXXXXX)
cleanup() {
    set +e
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    sleep 1
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$W" "$R"
}
trap cleanup EXIT
# A step that fails says so, with the logs that tell why, before the
# directory holding them is removed (a run used to end silently or sit
# there: a cluster that never came up was not noticed).
fail() {
    echo "bench/gateway: $*" >&2
    for f in "$W"/node*.log "$W"/gw.err "$W"/pgw.err; do
        [ -s "$f" ] && { echo "--- $(basename "$f"), last lines:" >&2; tail -n 5 "$f" >&2; }
    done
    exit 1
}
STEP_TIMEOUT_S=${STEP_TIMEOUT_S:-600}
NODE_PIDS=()
"$CERTA" genesis --validators 4 --dir "$W/c" --base-port "$BASE_PORT" >/dev/null
G=$W/c/genesis.json
for k in 0 1 2 3; do
    "$CERTA" node --config "$W/c/node$k/node.json" 2>>"$W/node$k.log" &
    PIDS+=($!)
    NODE_PIDS+=($!)
done
up=0
for _ in $(seq 300); do
    "$CERTA" status --to all --genesis "$G" --timeout-ms 1000 >/dev/null 2>&1 && { up=1; break; }
    for p in "${NODE_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || fail "a validator exited at start"; done
    sleep 0.2
done
((up)) || fail "the cluster did not answer status (ports from $BASE_PORT taken?)"
python3 "$HERE/../tests/integration/cluster_grants.py" "$W/load" 1 400
timeout "$STEP_TIMEOUT_S" "$CERTA" submit --to all --genesis "$G" --integrator app \
    --key "$W/c/integrators/app.pem" --seq 1 --batch 50 --quiet "$W/load/g-0000.jsonl" \
    >/dev/null || fail "the first submit failed (exit $?)"
if [ "$PARTS" != post ]; then
GW_PORT=$((BASE_PORT + 80))
"$CERTA" gateway --genesis "$G" --listen "127.0.0.1:$GW_PORT" --rate-per-s 1000000 \
    --burst 1000000 >"$W/gw.out" 2>"$W/gw.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q serving "$W/gw.out" 2>/dev/null && break; sleep 0.1; done
grep -q serving "$W/gw.out" || fail "the gateway did not start"
url=http://127.0.0.1:$GW_PORT
wrk -t2 -c8 -d2s "$url/v1/blocks/1" >/dev/null # warm: the block into the cache
HOLDER=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["holder_id"])' \
    "$W/load/g-0000.jsonl")
run() { # NAME PATH: ROUNDS wrk runs -> NAME_reads_per_s, NAME_p99_ms (medians)
    local name=$1 path=$2 r rps=() p99=()
    for ((r = 0; r < ROUNDS; r++)); do
        wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$url$path" >"$W/wrk.out"
        rps+=("$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$W/wrk.out")")
        p99+=("$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
                  else if (v ~ /ms$/) sub(/ms$/, "", v); else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
                  print v }' "$W/wrk.out")")
        if grep -q "Non-2xx" "$W/wrk.out"; then
            echo "bench/gateway: $path: $(grep Non-2xx "$W/wrk.out")" >&2
        fi
    done
    echo "${name}_reads_per_s $(printf '%s\n' "${rps[@]}" | sort -g | sed -n "$(((ROUNDS + 1) / 2))p")"
    echo "${name}_p99_ms $(printf '%s\n' "${p99[@]}" | sort -g | sed -n "$(((ROUNDS + 1) / 2))p")"
}
run healthz /healthz | tee "$W/h"
run block_cached /v1/blocks/1 | tee "$W/b"
run holder_cached "/v1/holders/$HOLDER" | tee "$W/o"
run status /v1/status | tee "$W/s"
h=$(sed -n 's/^healthz_reads_per_s //p' "$W/h")
for f in b o s; do
    n=$(sed -n 's/^\(.*\)_reads_per_s .*/\1/p' "$W/$f")
    v=$(sed -n 's/^.*_reads_per_s //p' "$W/$f")
    echo "${n}_ratio_to_healthz $(python3 -c "print(round($v / $h, 3))")"
done
fi
[ "$PARTS" = reads ] && exit 0

# Batched POSTs against certa submit doing the same work: per round,
# CHUNKS (default 256) fresh chunks of 1,024 grants, 256 events per signed
# batch: twice with `certa submit --window 16` straight to the validators
# (with --receipts to a file, and without), once POSTed to the gateway (POSTERS client threads, default 8, one
# kept-alive connection and one chunk per POST; the gateway keeps at most 16
# batches in flight, as --window 16 does). An event counts once its POST
# answered 200 with its receipt. A run is about 5 seconds long (at 64
# chunks it lasted about one, and one slow second made the median), so that the
# start and the tail of a round (the first POSTs parsed and journaled before
# any batch is sent, the last receipts written after) do not weigh more than
# in a steady stream; the order of the three rotates by round (ROUNDS a
# multiple of 3 puts each first equally often), and each starts once the
# validators have settled. Committed
# events/s, medians; a first round warms both up. Each round also prints
# the CPU seconds the validators, certa submit, the gateway and its client
# used for it.
TOKEN=bench-token-0123456789abcdef
printf 'bench %s\n' "$(echo "$TOKEN" | "$CERTA" gateway --hash-token)" >"$W/tokens"
PGW_PORT=$((BASE_PORT + 81))
"$CERTA" gateway --genesis "$G" --listen "127.0.0.1:$PGW_PORT" --rate-per-s 1000000 \
    --burst 1000000 --integrator app --key "$W/c/integrators/app.pem" --tokens "$W/tokens" \
    --state "$W/gwstate" >"$W/pgw.out" 2>"$W/pgw.err" &
PGW_PID=$!
PIDS+=($!)
for _ in $(seq 100); do grep -q serving "$W/pgw.out" 2>/dev/null && break; sleep 0.1; done
grep -q serving "$W/pgw.out" || fail "the posting gateway did not start"
cpu_ticks() { # PID...: user + system clock ticks used so far
    local t=0 p s
    for p in "$@"; do
        # a process gone mid-run says which, with the logs (it used to end
        # the run with an arithmetic error)
        s=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) ||
            fail "process $p (validators ${NODE_PIDS[*]}, gateway $PGW_PID) exited"
        t=$((t + s))
    done
    echo "$t"
}
HZ=$(getconf CLK_TCK)
settle() { # until the validators use under a tenth of a core (at most 15 s)
    local a b i
    for ((i = 0; i < 30; i++)); do
        a=$(cpu_ticks "${NODE_PIDS[@]}")
        sleep 0.5
        b=$(cpu_ticks "${NODE_PIDS[@]}")
        ((b - a <= HZ / 20)) && return 0
    done
}
seq_next=1000
direct=() bare=() posted=()
for ((r = 0; r <= ROUNDS; r++)); do # round 0 warms both up and is not counted
    python3 "$HERE/../tests/integration/cluster_grants.py" "$W/d$r" "$CHUNKS" 1024
    sleep 0.01 # cluster_grants ids include the time in ms: the sets differ
    python3 "$HERE/../tests/integration/cluster_grants.py" "$W/e$r" "$CHUNKS" 1024
    sleep 0.01
    python3 "$HERE/../tests/integration/cluster_grants.py" "$W/p$r" "$CHUNKS" 1024
    cat "$W/d$r"/g-*.jsonl >"$W/d$r.jsonl"
    cat "$W/e$r"/g-*.jsonl >"$W/e$r.jsonl"
    # run_direct WITH: `certa submit` of this round's own events, its
    # receipts to a file (WITH=1) or not; sets d_r (events/s), d_cpu, s_cpu
    run_direct() {
        local v0 out set=d rargs=()
        if (($1)); then set=e; rargs=(--receipts "$R/e$r.receipts"); fi
        v0=$(cpu_ticks "${NODE_PIDS[@]}")
        out=$(timeout "$STEP_TIMEOUT_S" /usr/bin/time -f "%U %S" -o "$W/cpu" "$CERTA" submit --to all --genesis "$G" --integrator app \
            --key "$W/c/integrators/app.pem" --seq "$seq_next" --batch 256 --window 16 --quiet \
            "${rargs[@]}" "$W/$set$r.jsonl") || fail "round $r: certa submit failed (exit $?): $out"
        seq_next=$((seq_next + CHUNKS * 4 + 16)) # 4 batches of 256 a chunk, and room
        d_r=$(sed -n 's/^submitted \([0-9]*\) events in [0-9]* batches in \([0-9.]*\) s.*/\1 \2/p' <<<"$out" |
            awk '{ printf "%.0f", $1 / $2 }')
        d_cpu=$(awk -v t="$(($(cpu_ticks "${NODE_PIDS[@]}") - v0))" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }')
        s_cpu=$(awk 'NR == 1 { printf "%.1f", $1 + $2 }' "$W/cpu")
        if (($1)); then
            [ "$(wc -l <"$R/e$r.receipts")" -eq "$((CHUNKS * 1024))" ] ||
                fail "round $r: certa submit --receipts wrote $(wc -l <"$R/e$r.receipts") receipts, not $((CHUNKS * 1024))"
            e_r=$d_r e_cpu=$d_cpu es_cpu=$s_cpu
        else
            n_r=$d_r n_cpu=$d_cpu ns_cpu=$s_cpu
        fi
    }
    run_gateway() {
        local v0 g0 ev secs nc failed
        v0=$(cpu_ticks "${NODE_PIDS[@]}")
        g0=$(cpu_ticks "$PGW_PID")
        # one curl transfer a chunk, POSTERS at a time over kept-alive
        # connections; the answers are checked once all are in
        mkdir -p "$R/a$r"
        local sep=""
        for f in "$W/p$r"/g-*.jsonl; do
            printf '%surl = "http://127.0.0.1:%s/v1/batches"\nheader = "Authorization: Bearer %s"\n' \
                "$sep" "$PGW_PORT" "$TOKEN"
            sep="next"$'\n'
            printf 'header = "Content-Type: application/x-ndjson"\ndata-binary = "@%s"\n' "$f"
            printf 'output = "%s/a%s/%s.json"\n' "$R" "$r" "$(basename "$f" .jsonl)"
            printf 'write-out = "%%{http_code} %%{filename_effective}\\n"\n'
        done >"$W/curl$r.cfg"
        local t0 t1
        t0=$(date +%s.%N)
        timeout "$STEP_TIMEOUT_S" /usr/bin/time -f "%U %S" -o "$W/cpu" curl -sS --no-progress-meter --parallel \
            --parallel-max "$POSTERS" --max-time 300 -K "$W/curl$r.cfg" >"$W/status$r" ||
            fail "round $r: the POSTs failed or did not finish within $STEP_TIMEOUT_S s"
        t1=$(date +%s.%N)
        secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
        read -r ev nc failed < <(python3 "$HERE/gateway_post_check.py" "$W/status$r" "$R/a$r"/*.json)
        p_r=$(awk -v e="$ev" -v s="$secs" 'BEGIN { printf "%.0f", e / s }')
        p_cpu=$(awk -v t="$(($(cpu_ticks "${NODE_PIDS[@]}") - v0))" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }')
        g_cpu=$(awk -v t="$(($(cpu_ticks "$PGW_PID") - g0))" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }')
        c_cpu=$(awk 'NR == 1 { printf "%.1f", $1 + $2 }' "$W/cpu")
    }
    # the order rotates: none of the three always meets the fullest chain.
    # Each run starts on settled validators (a run right after another one
    # met its tail, executing and writing, and lost a third of its rate to
    # it), so a round's first run has no edge.
    case $((r % 3)) in
    0) settle; run_direct 1; settle; run_gateway; settle; run_direct 0 ;;
    1) settle; run_gateway; settle; run_direct 0; settle; run_direct 1 ;;
    *) settle; run_direct 0; settle; run_direct 1; settle; run_gateway ;;
    esac
    warm=""
    ((r > 0)) || warm=" (warm-up, not counted)"
    echo "round $r: direct with receipts $e_r events/s (CPU s: validators $e_cpu, submit $es_cpu)," \
        "without $n_r (validators $n_cpu, submit $ns_cpu)," \
        "gateway $p_r events/s (validators $p_cpu, gateway $g_cpu, client $c_cpu)$warm" >&2
    if ((r > 0)); then
        direct+=("$e_r")
        bare+=("$n_r")
        posted+=("$p_r")
    fi
    rm -rf "$W/d$r" "$W/e$r" "$W/p$r" "$W/d$r.jsonl" "$W/e$r.jsonl" "$R/e$r.receipts" "$R/a$r"
done
med() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
d=$(med "${direct[@]}")
n=$(med "${bare[@]}")
p=$(med "${posted[@]}")
echo "submit_direct_events_per_s $d"
echo "submit_direct_without_receipts_events_per_s $n"
echo "post_gateway_events_per_s $p"
echo "post_ratio_to_direct $(python3 -c "print(round($p / $d, 3))")"
echo "post_ratio_to_direct_without_receipts $(python3 -c "print(round($p / $n, 3))")"
echo "load_at_end $(cut -d' ' -f1-3 /proc/loadavg)"
