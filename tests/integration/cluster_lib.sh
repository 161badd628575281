# Shared helpers for the cluster integration tests (sourced, not run).
# A test sets BASE_PORT (unique per test) and calls cl_init; every validator
# is a `certa node` process of ours, killed by the EXIT trap, so a test can
# SIGKILL and restart one. Everything runs on 127.0.0.1.
#
# Waits are deadlines in wall-clock seconds ($SECONDS), polled, never a
# count of sleeps: how long one poll takes depends on the machine. The
# deadlines are generous (a slow disk, busy cores): they cost time only
# when a test is failing anyway.
set -u
CERTA=${CERTA_BIN:-certa}
SRC=${CERTA_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PIDS=()
fail() { echo "FAIL: $*" >&2; cl_dump_logs; exit 1; }
note() { echo "== $*"; }

cl_cleanup() {
    # Runs from the EXIT trap: nothing here may end it early (set -e would
    # turn a kill of an already exited process into the test's failure).
    set +e
    local p
    for p in "${PIDS[@]}"; do
        [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        [ -n "$p" ] || continue
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    [ -n "${KEEP:-}" ] || rm -rf "$W"
}

cl_dump_logs() {
    local k
    for k in 0 1 2 3; do
        [ -f "$W/c/node$k/node.log" ] || continue
        echo "--- last lines of node$k/node.log" >&2
        tail -n 15 "$W/c/node$k/node.log" >&2
    done
}

# cl_init: work dir, genesis for 4 validators at BASE_PORT, deadline.
cl_init() {
    W=$(mktemp -d "${TMPDIR:-/tmp}/certa-it.XXXXXX")
    trap cl_cleanup EXIT
    G=$W/c/genesis.json
    KEYS=$W/c/integrators
    SEQ_app=1
    SEQ_counter=1
    # shellcheck disable=SC2086 # CL_GENESIS_OPTS: words, e.g. "--council 3"
    "$CERTA" genesis --validators 4 --dir "$W/c" --base-port "$BASE_PORT" \
        ${CL_GENESIS_OPTS:-} >/dev/null || fail "certa genesis"
}

# cl_start K [node options]: starts validator K in the background.
cl_start() {
    local k=$1
    shift
    "$CERTA" node --config "$W/c/node$k/node.json" "$@" 2>>"$W/c/node$k/node.log" &
    PIDS[$k]=$!
}

cl_start_all() {
    local k
    for k in 0 1 2 3; do cl_start "$k" "$@"; done
    cl_wait_up
}

# cl_wait_up: every validator answers a status query (bounded).
cl_wait_up() {
    local end=$((SECONDS + 90))
    while [ "$SECONDS" -lt "$end" ]; do
        if "$CERTA" status --to all --genesis "$G" --timeout-ms 1000 >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    fail "the validators did not all answer status within 90 s"
}

# cl_heights: prints the four heights (or -1 for a validator that did not answer).
cl_heights() { # [K...]: those validators only (default all four)
    local k out ks=("$@")
    [ $# -gt 0 ] || ks=(0 1 2 3)
    for k in "${ks[@]}"; do
        out=$("$CERTA" status --to "tcp://127.0.0.1:$((BASE_PORT + 10 * k + 1))" --genesis "$G" \
              --json --timeout-ms 1000 2>/dev/null) || { printf -- '-1 '; continue; }
        python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["height"], end=" ")' \
            <<<"$out" || printf -- '-1 '
    done
    echo
}

# cl_wait_equal_heights MIN SECONDS [K...]: all four (or validators K...)
# report the same height >= MIN within SECONDS of wall-clock time.
cl_wait_equal_heights() {
    local min=$1 secs=$2 h end=$((SECONDS + $2))
    shift 2
    while [ "$SECONDS" -lt "$end" ]; do
        h=$(cl_heights "$@")
        if python3 -c 'import sys; h=[int(x) for x in sys.argv[2:]]; sys.exit(0 if min(h)==max(h)>=int(sys.argv[1]) else 1)' \
            "$min" $h; then
            HEIGHT=${h%% *}
            return 0
        fi
        sleep 0.25
    done
    fail "heights not equal (>= $min) after $secs s: $h"
}

# cl_submit INTEGRATOR FILE OUT [submit options]: submits FILE as INTEGRATOR with
# the next free sequence numbers; receipts to OUT.rc, summary to OUT.sum,
# exit code to OUT.rc_exit. Sequence numbers advance by the batches sent.
cl_submit() {
    local who=$1 file=$2 out=$3
    shift 3
    local var=SEQ_app
    [ "$who" = app ] || var=SEQ_counter
    local seq=${!var}
    set +e
    "$CERTA" submit --to all --genesis "$G" --integrator "$who" --key "$KEYS/$who.pem" \
        --seq "$seq" --receipts "$out.rc" --quiet "$@" "$file" >"$out.sum" 2>"$out.err"
    echo $? >"$out.exit"
    set -e
    local batches
    batches=$(sed -n 's/^submitted [0-9]* events in \([0-9]*\) batches.*/\1/p' "$out.sum")
    [ -n "$batches" ] || batches=0
    printf -v "$var" '%s' $((seq + batches))
}

# cl_sum_field OUT NAME: a number from a submit summary (ok, rejected, not committed).
cl_sum_field() {
    sed -n "s/^  $2 *\([0-9]*\).*/\1/p" "$1.sum"
}

# cl_expect OUT PHASE: the summary matches expected.json for PHASE, exit 0.
cl_expect() {
    local out=$1 phase=$2
    [ "$(cat "$out.exit")" = 0 ] || fail "submit $phase exited $(cat "$out.exit"): $(cat "$out.sum" "$out.err")"
    python3 - "$W/ev/expected.json" "$phase" "$out.sum" <<'PY' || fail "submit $phase: counts differ"
import json, re, sys
exp = json.load(open(sys.argv[1]))[sys.argv[2]]
s = open(sys.argv[3]).read()
got = {"events": int(re.search(r"submitted (\d+) events", s).group(1)),
       "ok": int(re.search(r"^  ok +(\d+)", s, re.M).group(1)),
       "rejected": int(re.search(r"^  rejected +(\d+)", s, re.M).group(1))}
nc = int(re.search(r"^  not committed +(\d+)", s, re.M).group(1))
if got != exp or nc != 0:
    print("expected", exp, "got", got, "not committed", nc, "\n" + s)
    sys.exit(1)
PY
}

# cl_has CMD: the certa binary has subcommand CMD built in.
cl_has() {
    local out
    out=$("$CERTA" "$1" --help 2>&1 || true)
    case $out in *"not built into this binary"*) return 1 ;; esac
    return 0
}

# cl_metric K NAME: the sum of a metric's samples at validator K.
cl_metric() {
    local port=$((BASE_PORT + 10 * $1 + 2))
    python3 - "$port" "$2" <<'PY'
import sys, urllib.request
body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=3).read().decode()
tot = 0.0
for l in body.splitlines():
    if l.startswith(sys.argv[2]) and (l[len(sys.argv[2])] in " {"):
        tot += float(l.rsplit(" ", 1)[1])
print(int(tot) if tot == int(tot) else tot)
PY
}

# cl_stop_and_audit: stops the four validators (SIGTERM, each must exit 0),
# then audits each block log offline with certa verify-chain when built,
# commit certificates included (--genesis).
cl_stop_and_audit() {
    local k
    for k in 0 1 2 3; do kill -TERM "${PIDS[$k]}"; done
    for k in 0 1 2 3; do
        wait "${PIDS[$k]}" || fail "validator $k exited $? on SIGTERM"
        PIDS[$k]=
    done
    cl_has verify-chain || { note "SKIP verify-chain: not built into this binary"; return 1; }
    for k in 0 1 2 3; do
        "$CERTA" verify-chain --data "$W/c/node$k/data/blocks" --genesis "$G" >"$W/vc$k.out" 2>&1 \
            || fail "verify-chain node$k: $(cat "$W/vc$k.out")"
        note "verify-chain node$k: $(tail -1 "$W/vc$k.out")"
    done
}

# The loader: chunk i is $W/load/g-NNNN.jsonl (cluster_grants.py), sent with
# `certa submit --to all` as integrator app at the next sequence numbers,
# one after another, until CHUNKS or until $W/stop exists. Per chunk:
# r-i.rc receipts, r-i.sum, r-i.err, r-i.exit (its exit code); at the end
# $W/load/chunks holds the number of chunks sent. Uses CHUNKS, SIZE (grants
# per chunk), BATCH (events per batch) and LOADER_PAUSE_S.
cl_loader() {
    local i seq=1 rc
    for ((i = 0; i < CHUNKS; i++)); do
        [ -e "$W/stop" ] && break
        set +e
        "$CERTA" submit --to all --genesis "$G" --integrator app --key "$KEYS/app.pem" \
            --seq "$seq" --batch "$BATCH" --window 4 --deadline-ms 120000 \
            --receipts "$W/load/r-$i.rc" "$W/load/g-$(printf %04d "$i").jsonl" \
            >"$W/load/r-$i.sum" 2>"$W/load/r-$i.err"
        rc=$?
        set -e
        echo "$rc" >"$W/load/r-$i.exit"
        seq=$((seq + SIZE / BATCH))
        sleep "${LOADER_PAUSE_S:-0.05}"
    done
    echo "$i" >"$W/load/chunks"
}
cl_chunks_done() { ls "$W"/load/r-*.exit 2>/dev/null | wc -l; }
# cl_wait_chunks N [SECS]: N more chunks completed within SECS (default 90)
cl_wait_chunks() {
    local secs=${2:-90}
    local want=$(($(cl_chunks_done) + $1)) end=$((SECONDS + secs))
    while [ "$SECONDS" -lt "$end" ]; do
        [ "$(cl_chunks_done)" -ge "$want" ] && return 0
        [ -e "$W/load/chunks" ] && fail "the loader ran out of chunks"
        sleep 0.1
    done
    fail "the load made no progress: $(cl_chunks_done) chunks done after $secs s, waited for $want"
}
