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
# chunk 0 sent again: its receipts now prove their results (version 2)
set +e
"$CERTA" submit --to all --genesis "$G" --integrator app --key "$KEYS/app.pem" --seq 1 \
    --batch 3 --quiet --receipts "$W/r0v2.rc" "$W/load/g-0000.jsonl" >"$W/r0v2.out" 2>&1
set -e
[ "$(grep -c '"receipt":2' "$W/r0v2.rc")" = 30 ] ||
    fail "chunk 0 again: $(grep -c '"receipt":2' "$W/r0v2.rc") of 30 receipts prove results: $(cat "$W/r0v2.out")"
# one more chunk, committed after cp3 was signed: its events lie beyond it
next_chunk
[ "$(cat "$W/s$((CHUNK - 1)).exit")" = 0 ] || fail "submit: $(cat "$W/s$((CHUNK - 1)).err")"

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

# a monitor given the receipts: each verifies and its event is in the log
# inside its certified block; the log published as tiles up to cp3
"$CERTA" merkle tiles --data "$W/c/node0/data" --out "$W/T" --checkpoint "$W/cp3" >/dev/null ||
    fail "merkle tiles"
H3=$("$CERTA" merkle log --data "$W/c/node0/data" |
    awk -v s="$s3" '$6 == s { print $2; exit }')
[ -n "$H3" ] || fail "no block ends the log at $s3 events"
cat "$W"/s*.rc "$W/r0v2.rc" 2>/dev/null >"$W/all.rc"
python3 - "$W" "$H3" <<'PY'
import json, sys
w, h3 = sys.argv[1], int(sys.argv[2])
rows = [l for l in open(w + "/all.rc") if l.strip()]
inside = [l for l in rows if json.loads(l)["height"] <= h3]
open(w + "/in.rc", "w").writelines(inside)
bad = json.loads(inside[0])
ev = bytearray.fromhex(bad["event"]); ev[-1] ^= 1
bad["event"] = ev.hex()
open(w + "/bad.rc", "w").write(json.dumps(bad) + "\n")
PY
n_in=$(wc -l <"$W/in.rc")
n_all=$(wc -l <"$W/all.rc")
[ "$n_all" -gt "$n_in" ] || fail "every receipt is inside cp3: the missing case is not tested"
"$CERTA" gateway --genesis "$G" --listen "127.0.0.1:$((GW_PORT + 1))" --tiles "$W/T" \
    >"$W/gwt.out" 2>"$W/gwt.err" &
PIDS[8]=$!
for _ in $(seq 100); do grep -q serving "$W/gwt.out" 2>/dev/null && break; sleep 0.1; done
TURL=http://127.0.0.1:$((GW_PORT + 1))
"$CERTA" monitor --url "$TURL" --genesis "$G" --state "$W/m1" --receipts "$W/in.rc" --once \
    >"$W/mon1" 2>&1 || fail "monitor with the receipts inside cp3: $(cat "$W/mon1")"
grep -q "receipts: $n_in given, $n_in in the log with their blocks, 30 of them with results proven" \
    "$W/mon1" || fail "monitor: $(cat "$W/mon1")"
note "monitor: $(grep receipts: "$W/mon1")"
# again with its state: the first poll of a run reads the log from its start
"$CERTA" monitor --url "$TURL" --genesis "$G" --state "$W/m1" --receipts "$W/in.rc" --once \
    >"$W/mon2" 2>&1 || fail "monitor again: $(cat "$W/mon2")"
grep -q "receipts: $n_in given, $n_in in the log" "$W/mon2" || fail "monitor again: $(cat "$W/mon2")"
rc=0
"$CERTA" monitor --url "$TURL" --genesis "$G" --state "$W/m2" --receipts "$W/all.rc" --once \
    >"$W/mon3" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "receipts of events after cp3: exit $rc: $(cat "$W/mon3")"
grep -q "monitor: missing: $((n_all - n_in)) receipted event(s) are not in the log of size $s3" \
    "$W/mon3" || fail "missing: $(cat "$W/mon3")"
rc=0
"$CERTA" monitor --url "$TURL" --genesis "$G" --state "$W/m3" --receipts "$W/bad.rc" --once \
    >"$W/mon4" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "an altered receipt: exit $rc: $(cat "$W/mon4")"
grep -q "monitor: bad-receipt: .*bad.rc line 1 does not verify: " "$W/mon4" ||
    fail "altered receipt: $(cat "$W/mon4")"
note "monitor: events after cp3 reported missing, an altered receipt refused"
kill -TERM "${PIDS[8]}"
wait "${PIDS[8]}" 2>/dev/null || true
PIDS[8]=

. "$SRC/tests/integration/lib_note.sh"
if note_check_build "$W"; then
    "$CERTA" merkle log --data "$W/c/node0/data" --leaves >"$W/leaves.all"
    head -n "$s3" "$W/leaves.all" >"$W/leaves.txt"
    vkeys=$(note_vkeys "$G")
    # shellcheck disable=SC2086
    "$W/note_check" "$W/cp3" "$W/leaves.txt" $vkeys >"$W/go.out" 2>&1 ||
        fail "sumdb/note refused the validators' checkpoint: $(cat "$W/go.out")"
    note "$(cat "$W/go.out")"
else
    note "SKIP sumdb/note: go or golang-golang-x-mod-dev missing (bash tools/install-deps.sh)"
fi
note "it_checkpoint_publish passed in ${SECONDS}s"
