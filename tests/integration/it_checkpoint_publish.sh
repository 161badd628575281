#!/usr/bin/env bash
# Validators publish the event log's checkpoints by themselves, 4 validators
# on 127.0.0.1 (ports 29300..29380): each signs the log at every checkpoint
# height and answers the checkpoint query; `certa merkle checkpoint fetch`
# and the gateway's /checkpoint merge 2f+1 of them into one signed note.
# Checked: the note verifies (`certa merkle checkpoint verify`, with the
# root against every validator's own log once stopped, and Go's
# sumdb/note when installed); with a validator killed the other three still
# make a quorum and the log grows; restarted, it replays its log and signs
# the same texts again (all four sign the newest); with two killed there is
# no quorum and fetch says so (exit 1), and the gateway keeps serving the
# last good note rather than a smaller one.
set -euo pipefail
BASE_PORT=$((29300 + ${CERTA_TEST_PORT_OFFSET:-0}))
. "$(dirname "$0")/cluster_lib.sh"
SECONDS=0
cl_init
python3 "$SRC/tests/integration/cluster_grants.py" "$W/load" 80 30
cl_start_all

fetch() { # OUT: the merged note to OUT, what fetch said to OUT.err; exit code
    set +e
    "$CERTA" merkle checkpoint fetch --to all --genesis "$G" --timeout-ms 3000 >"$1" 2>"$1.err"
    local rc=$?
    set -e
    return $rc
}
signers() { grep -c "^— node" "$1"; }
size_of() { sed -n 2p "$1"; }
CHUNK=0
# next_chunk: submits the next chunk of 30 grants; how many blocks a chunk
# makes depends on timing, so the test submits until the checkpoint it
# waits for appears (every 8 blocks, the genesis checkpoint_interval)
next_chunk() {
    [ "$CHUNK" -lt 80 ] || fail "80 chunks submitted and still waiting: $(cat "$W"/cp*.err)"
    local f
    f=$(printf '%s/load/g-%04d.jsonl' "$W" "$CHUNK")
    cl_submit app "$f" "$W/s$CHUNK" --batch 3 "$@"
    CHUNK=$((CHUNK + 1))
}

# every validator signs at a checkpoint height once it executed it
until fetch "$W/cp1" && [ "$(signers "$W/cp1")" = 4 ]; do
    next_chunk
    [ "$(cat "$W/s$((CHUNK - 1)).exit")" = 0 ] || fail "submit: $(cat "$W/s$((CHUNK - 1)).err")"
done
s1=$(size_of "$W/cp1")
note "checkpoint of $s1 leaves signed by 4: $(cat "$W/cp1.err")"
[ "$s1" -gt 0 ] || fail "an empty log signed after 360 events"
"$CERTA" merkle checkpoint verify --genesis "$G" "$W/cp1" >"$W/v1" 2>&1 || fail "verify: $(cat "$W/v1")"
grep -q "4 of 4 validators signed" "$W/v1" || fail "verify: $(cat "$W/v1")"

# the gateway serves the same merged note
GW_PORT=$((BASE_PORT + 80))
"$CERTA" gateway --genesis "$G" --listen "127.0.0.1:$GW_PORT" >"$W/gw.out" 2>"$W/gw.err" &
PIDS[8]=$!
for _ in $(seq 100); do grep -q serving "$W/gw.out" 2>/dev/null && break; sleep 0.1; done
grep -q serving "$W/gw.out" || fail "the gateway did not start: $(cat "$W/gw.err")"
code=$(curl -s -o "$W/gw1" -w '%{http_code} %{content_type}' "http://127.0.0.1:$GW_PORT/checkpoint")
[ "$code" = "200 text/plain; charset=utf-8" ] || fail "GET /checkpoint: $code $(cat "$W/gw1")"
"$CERTA" merkle checkpoint verify --genesis "$G" "$W/gw1" >"$W/vg" 2>&1 ||
    fail "the gateway's checkpoint: $(cat "$W/vg")"
[ "$(size_of "$W/gw1")" -ge "$s1" ] || fail "the gateway served a smaller log: $(cat "$W/gw1")"

note "SIGKILL validator 3"
kill -KILL "${PIDS[3]}"
wait "${PIDS[3]}" 2>/dev/null || true
PIDS[3]=
until fetch "$W/cp2" && [ "$(size_of "$W/cp2")" -gt "$s1" ]; do
    next_chunk
    [ "$(cat "$W/s$((CHUNK - 1)).exit")" = 0 ] || fail "submit: $(cat "$W/s$((CHUNK - 1)).err")"
done
[ "$(signers "$W/cp2")" = 3 ] || fail "with node3 down: $(cat "$W/cp2")"
grep -q "node3" "$W/cp2" && fail "node3 signed while down"
s2=$(size_of "$W/cp2")
note "three validators signed $s2 leaves"

note "restart validator 3: it replays its log and signs the same texts"
cl_start 3
cl_wait_up
until fetch "$W/cp3" && [ "$(signers "$W/cp3")" = 4 ] && [ "$(size_of "$W/cp3")" -gt "$s2" ]; do
    next_chunk
    sleep 0.2 # node3 catches up between chunks
done
s3=$(size_of "$W/cp3")
note "all four signed $s3 leaves again"

note "SIGKILL validators 2 and 3: no quorum"
for k in 2 3; do
    kill -KILL "${PIDS[$k]}"
    wait "${PIDS[$k]}" 2>/dev/null || true
    PIDS[$k]=
done
next_chunk --deadline-ms 3000
# the two left may still share the last checkpoint they both signed:
# 2 signatures are never a quorum of 4
if fetch "$W/cp4"; then
    fail "a checkpoint with two validators up: $(cat "$W/cp4")"
fi
rc=0
fetch "$W/cp4" || rc=$?
[ "$rc" = 1 ] || fail "fetch with no quorum exited $rc: $(cat "$W/cp4.err")"
grep -q "no log size has 3 signatures alike" "$W/cp4.err" || fail "fetch said: $(cat "$W/cp4.err")"
sleep 1.1 # past the gateway's cached second
code=$(curl -s -o "$W/gw2" -w '%{http_code}' "http://127.0.0.1:$GW_PORT/checkpoint")
[ "$code" = 200 ] || fail "the gateway lost its last good checkpoint: $code $(cat "$W/gw2")"
[ "$(size_of "$W/gw2")" -ge "$(size_of "$W/gw1")" ] || fail "the gateway went back: $(cat "$W/gw2")"

kill -TERM "${PIDS[8]}"
wait "${PIDS[8]}" 2>/dev/null || true
PIDS[8]=
for k in 0 1; do
    kill -TERM "${PIDS[$k]}"
    wait "${PIDS[$k]}" || fail "validator $k exited $? on SIGTERM"
    PIDS[$k]=
done
# every note's root is that of each validator's own log at its size
for f in cp1 cp2 cp3 gw1 gw2; do
    for k in 0 1 2 3; do
        "$CERTA" merkle checkpoint verify --genesis "$G" --data "$W/c/node$k/data" "$W/$f" \
            >"$W/vd" 2>&1 || fail "$f against node$k's log: $(cat "$W/vd")"
    done
done
note "every note's root matches all four logs"

if command -v go >/dev/null && [ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/note ]; then
    mkdir -p "$W/gopath/src/notecheck" "$W/gocache"
    cp "$SRC/tests/integration/note_check.go" "$W/gopath/src/notecheck/main.go"
    (cd "$W/gopath/src/notecheck" &&
        GOPATH="$W/gopath:/usr/share/gocode" GO111MODULE=off GOCACHE="$W/gocache" GOFLAGS= \
            go build -o "$W/note_check" .) 2>"$W/go.err" || fail "go build: $(cat "$W/go.err")"
    "$CERTA" merkle log --data "$W/c/node0/data" --leaves | head -n "$s3" >"$W/leaves.txt"
    vkeys=$(python3 - "$G" <<'PY'
import base64, hashlib, json, sys
g = json.load(open(sys.argv[1]))
for v in g["validators"]:
    pub = bytes.fromhex(v["sign_pub"])
    kid = hashlib.sha256(v["name"].encode() + b"\n\x01" + pub).digest()[:4]
    print("%s+%s+%s" % (v["name"], kid.hex(), base64.b64encode(b"\x01" + pub).decode()))
PY
)
    # shellcheck disable=SC2086
    "$W/note_check" "$W/cp3" "$W/leaves.txt" $vkeys >"$W/go.out" 2>&1 ||
        fail "sumdb/note refused the validators' checkpoint: $(cat "$W/go.out")"
    note "$(cat "$W/go.out")"
else
    note "SKIP sumdb/note: go or golang-golang-x-mod-dev missing (bash tools/install-deps.sh)"
fi
note "it_checkpoint_publish passed in ${SECONDS}s"
