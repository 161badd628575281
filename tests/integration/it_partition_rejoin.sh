#!/usr/bin/env bash
# A primary cut off by a network partition, then healed, must rejoin its
# peers (issue: the healed old primary stayed alone in a higher view, in
# view change for good, while it kept accepting client batches it could not
# order, each costing its client 8 s).
#
# Topology, all of it created here and removed by the EXIT trap: network
# namespaces certa<pid>-{br,v0,v1,v2,v3,cl}. The br namespace holds a
# bridge; validator K runs in vK with address 10.231.0.(10+K)/24 on a veth
# whose other end is a port of the bridge; clients run in cl (10.231.0.100).
# No namespace has a route anywhere else. The partition takes validator 0's
# port off the bridge: its frames are dropped silently, as on a real cut
# link (its own link stays up); healing puts the port back.
#
# Scenario and assertions (deadlines are wall-clock, polled and generous;
# they cost time only when the test is failing anyway):
# 1. a loader submits chunks of grants to all validators, one after another
#    (integrator app);
# 2. validator 0 (primary of view 0) is cut off, while a client on its side
#    of the cut (in its namespace) sends it 10 batches (phase P, integrator
#    gateway, one at a time): within FAILOVER_S the other three install one
#    higher view and commit (their height rises, the loader completes
#    chunks). The cut is held HOLD_MIN_S more, and until validator 0, alone,
#    has left view 0 (HOLD_MAX_S at most);
# 3. heal, loader stopped. Right away, 10 batches go to validator 0 alone
#    (phase A, one at a time), each with a client deadline of SILENCE_MS
#    (3 view timers): each must end committed or with an explicit answer
#    (BUSY, an error), none with the deadline (a validator holding a batch
#    it cannot order); phases A and P must end within HEAL_S of the heal,
#    again without a deadline;
# 4. within HEAL_S of the heal: all four share one view, none is in view
#    change (certa_view_change_in_progress 0), validator 0 has caught up to
#    the others' height;
# 5. over 3 view timers (WATCH_S) certa_view_changes_total stays put on all;
# 6. the answers of phases P and A were true: their batches, sent again,
#    all commit; one reported committed comes back with its original
#    receipt, one reported not committed lands above the height reached
#    after both phases ended;
# 7. phase B, 10 batches to validator 0 alone after recovery (same
#    deadline): all committed, within PHASE_B_S;
# 8. a backup (validator 3) cut off while a client on its side sends it
#    batches: its own view timer takes it alone to a higher view, which the
#    others never join. Healed, within HEAL_S it follows their view without
#    voting (certa_votes_withheld 1, their view shown, not in view change):
#    its client's batches all commit, then 10 batches sent to it alone
#    (phase M, SILENCE_MS each) all commit (it forwards them to the
#    others' primary), and the others changed no view;
# 9. every loader chunk committed in full, the receipts verify, the four
#    validators end at one height, stop cleanly, and their logs audit clean.
# Without root, `ip`, or namespaces the test prints SKIP and passes.
set -euo pipefail
BASE_PORT=7000 # per namespace: no other test shares these addresses
. "$(dirname "$0")/cluster_lib.sh"

FAILOVER_S=60  # cut -> the other three commit in a higher view
HOLD_MIN_S=6   # partition held at least this long after their new view
HOLD_MAX_S=30  # ... and until validator 0 has left view 0, at most this
HEAL_S=90      # heal -> one view, no view change, validator 0 caught up (the
               # peers' TCP links resume on their next retransmission, which
               # backs off while the cut lasts: up to about its length)
WATCH_S=6      # three view timers of the default genesis (2 s)
PHASE_B_S=30   # 10 batches to validator 0 alone after recovery
SILENCE_MS=6000 # client deadline per batch sent to validator 0 alone: 3 view timers
SIZE=40        # grants per loader chunk
BATCH=5        # events per loader batch
SECONDS=0

skip() { echo "SKIP: it_partition_rejoin: $*"; exit 0; }
[ "$(id -u)" = 0 ] || skip "needs root to create network namespaces"
command -v ip >/dev/null || skip "no 'ip' command (iproute2)"
command -v python3 >/dev/null || skip "no python3"

NSP=certa$$
NS_BR=$NSP-br
NS_CL=$NSP-cl
NS_V=("$NSP-v0" "$NSP-v1" "$NSP-v2" "$NSP-v3")
NS_ALL=("$NS_BR" "$NS_CL" "${NS_V[@]}")
ADDR=(10.231.0.10 10.231.0.11 10.231.0.12 10.231.0.13)
ADDR_CL=10.231.0.100
W=$(mktemp -d "${TMPDIR:-/tmp}/certa-it.XXXXXX")

cleanup() {
    set +e
    cl_cleanup # validators (TERM, then KILL), work directory
    local ns p
    for ns in "${NS_ALL[@]}"; do
        # anything of ours still running inside (a client, a loader's submit)
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    done
    for ns in "${NS_ALL[@]}"; do
        ip netns del "$ns" 2>/dev/null
    done
}
trap cleanup EXIT

# The network: a bridge in NS_BR, one veth pair per namespace (created
# inside NS_BR and moved, so nothing ever appears in the caller's namespace).
for ns in "${NS_ALL[@]}"; do
    ip netns add "$ns" 2>"$W/ns.err" || skip "cannot create network namespaces: $(cat "$W/ns.err")"
    ip -n "$ns" link set lo up
done
ip -n "$NS_BR" link add br0 type bridge 2>"$W/ns.err" || skip "cannot create a bridge: $(cat "$W/ns.err")"
ip -n "$NS_BR" link set br0 up
attach() { # NS PORT ADDR: veth PORT (bridge side) <-> eth0 in NS with ADDR
    ip -n "$NS_BR" link add "$2" type veth peer name eth0 netns "$1" 2>"$W/ns.err" ||
        skip "cannot create veth pairs: $(cat "$W/ns.err")"
    ip -n "$NS_BR" link set "$2" master br0
    ip -n "$NS_BR" link set "$2" up
    ip -n "$1" addr add "$3/24" dev eth0
    ip -n "$1" link set eth0 up
}
for k in 0 1 2 3; do attach "${NS_V[$k]}" "p$k" "${ADDR[$k]}"; done
attach "$NS_CL" pcl "$ADDR_CL"
partition() { ip -n "$NS_BR" link set "p${1:-0}" nomaster; }
heal() { ip -n "$NS_BR" link set "p${1:-0}" master br0; }

# Clients run in NS_CL: CERTA (used by cluster_lib's helpers) is a wrapper.
REAL_CERTA=$(command -v "$CERTA")
cat >"$W/certa-cl" <<EOF
#!/bin/sh
exec ip netns exec $NS_CL $REAL_CERTA "\$@"
EOF
chmod +x "$W/certa-cl"
CERTA=$W/certa-cl

# Genesis: validator K's endpoints on its own address.
G=$W/c/genesis.json
KEYS=$W/c/integrators
"$REAL_CERTA" genesis --validators 4 --dir "$W/c" --base-port "$BASE_PORT" \
    --host "${ADDR[0]}" >/dev/null || fail "certa genesis"
# A second integrator of role app, "gateway", for the batches sent to
# validator 0 alone: its sequence numbers are its own, apart from the
# loader's (integrator app).
GW_PUB=$("$REAL_CERTA" keygen --out "$KEYS/gateway.pem") || fail "certa keygen"
python3 - "$W/c" "$GW_PUB" "${ADDR[@]}" <<'PY' || fail "editing the genesis"
import json, os, sys
d, gw, addrs = sys.argv[1], sys.argv[2], sys.argv[3:]
old = addrs[0]
g = json.load(open(os.path.join(d, "genesis.json")))
g["integrators"].append({"name": "gateway", "role": "app", "pub": gw})
for k, v in enumerate(g["validators"]):
    for f in ("peer_endpoint", "client_endpoint", "metrics_endpoint"):
        v[f] = v[f].replace("//%s:" % old, "//%s:" % addrs[k])
    assert addrs[k] in v["client_endpoint"]
    p = os.path.join(d, "node%d" % k, "node.json")
    n = json.load(open(p))
    for f in ("peer_bind", "client_bind"):
        n[f] = n[f].replace("//%s:" % old, "//%s:" % addrs[k])
    n["metrics_host"] = addrs[k]
    json.dump(n, open(p, "w"), indent=2)
json.dump(g, open(os.path.join(d, "genesis.json"), "w"), indent=2)
PY
"$REAL_CERTA" genesis check "$G" >"$W/check.out" 2>&1 || fail "genesis check: $(cat "$W/check.out")"

start_node() { # K: validator K in its namespace
    ip netns exec "${NS_V[$1]}" "$REAL_CERTA" node --config "$W/c/node$1/node.json" \
        2>>"$W/c/node$1/node.log" &
    PIDS[$1]=$!
}

# snap [NS]: one line per validator, "view in_view_change height
# view_changes" from its metrics, read over HTTP from NS (default: the client
# namespace), all four at once; "- - - -" for one that does not answer.
cat >"$W/snap.py" <<'PY'
import sys, threading, urllib.request
names = ("certa_view", "certa_view_change_in_progress", "certa_height",
         "certa_view_changes_total", "certa_votes_withheld")
out = {}
def get(k, host, port):
    try:
        body = urllib.request.urlopen("http://%s:%s/metrics" % (host, port),
                                      timeout=1.5).read().decode()
    except Exception:
        out[k] = "- - - - -"; return
    val = {}
    for l in body.splitlines():
        p = l.split()
        if len(p) == 2 and p[0] in names:
            val[p[0]] = str(int(float(p[1])))
    out[k] = " ".join(val.get(n, "-") for n in names)
ts = [threading.Thread(target=get, args=(k, *a.split(":"))) for k, a in enumerate(sys.argv[1:])]
for t in ts: t.start()
for t in ts: t.join()
print("\n".join(out[k] for k in range(len(ts))))
PY
SNAP_ARGS=()
for k in 0 1 2 3; do SNAP_ARGS+=("${ADDR[$k]}:$((BASE_PORT + 10 * k + 2))"); done
snap() { ip netns exec "${1:-$NS_CL}" python3 "$W/snap.py" "${SNAP_ARGS[@]}"; }
# field SNAP K COL: column COL (1 view, 2 in view change, 3 height, 4 view
# changes, 5 votes withheld) of validator K in a snap's output
field() { sed -n "$(($2 + 1))p" <<<"$1" | cut -d' ' -f"$3"; }
col() { local k; for k in 0 1 2 3; do printf '%s ' "$(field "$1" "$k" "$2")"; done; }

for k in 0 1 2 3; do start_node "$k"; done
cl_wait_up
s=$(snap)
[ "$(col "$s" 1)" = "0 0 0 0 " ] || fail "not all in view 0 at start: $s"
note "4 validators up in their namespaces after ${SECONDS}s"

CHUNKS=400
python3 "$SRC/tests/integration/cluster_grants.py" "$W/load" $((CHUNKS + 5)) "$SIZE"
FILE_P=$W/load/g-$(printf %04d "$CHUNKS").jsonl
FILE_A=$W/load/g-$(printf %04d $((CHUNKS + 1))).jsonl
FILE_B=$W/load/g-$(printf %04d $((CHUNKS + 2))).jsonl
FILE_L=$W/load/g-$(printf %04d $((CHUNKS + 3))).jsonl
FILE_M=$W/load/g-$(printf %04d $((CHUNKS + 4))).jsonl
SEQ_P=1
SEQ_A=101
SEQ_B=201
SEQ_L=301
SEQ_M=401

LOADER_PAUSE_S=0.2
# gw_submit TAG ENDPOINTS SEQ FILE [options]: batches of 4 grants as the
# gateway, receipts to TAG.rc, summary TAG.sum, progress and errors TAG.err
gw_submit() {
    local tag=$1 to=$2 seq=$3 file=$4
    shift 4
    "$CERTA" submit --to "$to" --genesis "$G" --integrator gateway --key "$KEYS/gateway.pem" \
        --seq "$seq" --batch 4 --receipts "$W/$tag.rc" "$@" "$file" >"$W/$tag.sum" 2>"$W/$tag.err"
}
sum_field() { sed -n "s/^  $2 *\([0-9]*\).*/\1/p" "$W/$1.sum"; }
# no_silence TAG: every batch not committed got an explicit answer, none a
# client deadline or a lack of reply
no_silence() {
    if grep -E 'deadline of [0-9]+ ms passed|no final reply' "$W/$1.err" >"$W/$1.silent"; then
        fail "$2: batches left without an answer: $(head -3 "$W/$1.silent")"
    fi
}
# wait_pid PID END WHAT [ERRFILE]: PID ends before $SECONDS reaches END,
# else WHAT fails the test (with ERRFILE's last lines); its exit code in RC
wait_pid() {
    while kill -0 "$1" 2>/dev/null; do
        [ "$SECONDS" -lt "$2" ] || fail "$3: $(tail -3 "${4:-/dev/null}" 2>/dev/null)"
        sleep 0.2
    done
    set +e
    wait "$1"
    RC=$?
    set -e
}

cl_loader &
PIDS[9]=$!
cl_wait_chunks 3 60
note "load running: $(cl_chunks_done) chunks of $SIZE grants after ${SECONDS}s"

# --- 2. partition. A client on validator 0's side of the cut (in its
# namespace) keeps sending it batches, as the counters of its bureau would.
s=$(snap)
h_cut=$(python3 -c 'import sys; print(max(int(x) for x in sys.argv[1:] if x != "-"))' $(col "$s" 3))
partition
t_cut=$SECONDS
ip netns exec "${NS_V[0]}" "$REAL_CERTA" submit --to node0 --genesis "$G" \
    --integrator gateway --key "$KEYS/gateway.pem" --seq "$SEQ_P" --batch 4 --window 1 \
    --deadline-ms $(((FAILOVER_S + HOLD_MAX_S + HEAL_S) * 1000)) --receipts "$W/p.rc" "$FILE_P" >"$W/p.sum" 2>"$W/p.err" &
pid_p=$!
PIDS[11]=$pid_p
note "validator 0 cut off at height $h_cut (${SECONDS}s); a client on its side sends it 10 batches"
s=$(snap)
[ "$(field "$s" 0 3)" = - ] || fail "validator 0's metrics still answer across the partition"
end=$((t_cut + FAILOVER_S))
while :; do
    s=$(snap)
    if python3 - "$h_cut" $(col "$s" 1) $(col "$s" 2) $(col "$s" 3) <<'PY'; then break; fi
import sys
a = sys.argv[2:]
v, ivc, h = a[1:4], a[5:8], a[9:12]   # validators 1..3
ok = ("-" not in v + h and len(set(v)) == 1 and int(v[0]) >= 1 and ivc == ["0"] * 3
      and min(int(x) for x in h) >= int(sys.argv[1]) + 3)
sys.exit(0 if ok else 1)
PY
    [ "$SECONDS" -lt "$end" ] || fail "within ${FAILOVER_S}s of the cut the other three did not commit in one new view: $(echo $s)"
    sleep 0.25
done
t_vc=$SECONDS
n0=$(cl_chunks_done)
cl_wait_chunks 2 "$FAILOVER_S"
s=$(snap)
note "validators 1-3 in view $(field "$s" 1 1) $((t_vc - t_cut))s after the cut, heights $(col "$s" 3)(cut at $h_cut); the loader went on ($n0 -> $(cl_chunks_done) chunks)"

# Hold the cut at least HOLD_MIN_S, and until validator 0, alone, has left
# view 0 (read from inside its namespace: nothing crosses the cut).
while :; do
    s0=$(snap "${NS_V[0]}")
    v0=$(field "$s0" 0 1)
    [ $((SECONDS - t_vc)) -ge "$HOLD_MIN_S" ] && [ "$v0" != - ] && [ "$v0" -ge 1 ] && break
    if [ $((SECONDS - t_vc)) -ge "$HOLD_MAX_S" ]; then
        note "validator 0 still in view $v0 after ${HOLD_MAX_S}s alone"
        break
    fi
    sleep 0.5
done
s=$(snap)
note "cut held $((SECONDS - t_cut))s; validator 0 alone: view $(field "$s0" 0 1), in view change $(field "$s0" 0 2), height $(field "$s0" 0 3); the others: view $(field "$s" 1 1), height $(field "$s" 1 3)"

# --- 3. heal; right away, batches to validator 0 alone, one at a time
touch "$W/stop"
heal
t_heal=$SECONDS
note "healed at ${SECONDS}s"
gw_submit a node0 "$SEQ_A" "$FILE_A" --window 1 --deadline-ms "$SILENCE_MS" &
pid_a=$!
PIDS[10]=$pid_a
end=$((t_heal + HEAL_S))
wait_pid "$pid_a" "$end" "batches sent to the healed validator 0 alone still unanswered ${HEAL_S}s after the heal" "$W/a.err"
PIDS[10]=
rc_a=$RC
t_a=$((SECONDS - t_heal))
wait_pid "$pid_p" "$end" "the batches of validator 0's side of the cut still unanswered ${HEAL_S}s after the heal" "$W/p.err"
PIDS[11]=
rc_p=$RC
t_p=$((SECONDS - t_heal))
no_silence a "phase A (to validator 0 after the heal)"
no_silence p "the client on validator 0's side"
[ "$rc_a" -le 1 ] || fail "phase A: submit exited $rc_a: $(cat "$W/a.sum" "$W/a.err")"
[ "$rc_p" -le 1 ] || fail "side client: submit exited $rc_p: $(cat "$W/p.sum" "$W/p.err")"
note "phase A, 10 batches to validator 0 alone after the heal: $(sum_field a ok) of 40 events ok, $(sum_field a 'not committed') not committed (explicit answers: $(grep -c '^batch seq' "$W/a.err" || true)), done ${t_a}s after the heal"
note "side client, 10 batches to validator 0 during the cut: $(sum_field p ok) of 40 ok, $(sum_field p 'not committed') not committed (explicit answers: $(grep -c '^batch seq' "$W/p.err" || true)), done ${t_p}s after the heal"

# --- 4. one view, no view change, validator 0 caught up
while :; do
    s=$(snap)
    if python3 - $(col "$s" 1) $(col "$s" 2) $(col "$s" 3) <<'PY'; then break; fi
import sys
a = sys.argv[1:]
v, ivc, h = a[0:4], a[4:8], a[8:12]
ok = "-" not in v + h and len(set(v)) == 1 and ivc == ["0"] * 4 and len(set(h)) == 1
sys.exit(0 if ok else 1)
PY
    [ "$SECONDS" -lt "$end" ] ||
        fail "${HEAL_S}s after the heal: views $(col "$s" 1), in view change $(col "$s" 2), heights $(col "$s" 3)"
    sleep 0.25
done
t_join=$((SECONDS - t_heal))
h_end=$(field "$s" 0 3)
note "${t_join}s after the heal: all four in view $(field "$s" 0 1), none in view change, all at height $h_end"

# --- 5. the views stay put for three view timers
vcw=$(col "$s" 4)
wend=$((SECONDS + WATCH_S))
while [ "$SECONDS" -lt "$wend" ]; do
    s=$(snap)
    [ "$(col "$s" 4)" = "$vcw" ] || fail "a view was installed after the heal: view changes $vcw -> $(col "$s" 4)"
    [ "$(col "$s" 2)" = "0 0 0 0 " ] || fail "in view change after the heal: $(col "$s" 2)"
    sleep 0.5
done
note "no view change on any validator for ${WATCH_S}s (view changes: $vcw)"

# --- 6. what phases P and A were told is true: their batches, sent again,
# commit once; those reported not committed land above h_end (reached after
# both had ended), those committed come back with their original receipt.
for t in p a; do
    seq=$SEQ_P file=$FILE_P
    [ $t = p ] || { seq=$SEQ_A; file=$FILE_A; }
    set +e
    gw_submit "${t}2" all "$seq" "$file" --window 4 --deadline-ms 60000 --quiet
    rc=$?
    set -e
    [ "$rc" = 0 ] || fail "batches of phase $t sent again: exit $rc: $(cat "$W/${t}2.sum" "$W/${t}2.err")"
    python3 - "$W/$t.rc" "$W/${t}2.rc" "$h_end" <<'PY' || fail "phase $t: its answers were not true"
import json, sys
first = {}
for l in open(sys.argv[1]):
    r = json.loads(l); first.setdefault(r["seq"], set()).add(r["height"])
again = [json.loads(l) for l in open(sys.argv[2])]
h_end = int(sys.argv[3])
bad = [r for r in again if r["result"] != "ok"]
if len(again) != 40 or bad:
    print("sent again:", len(again), "receipts,", len(bad), "not ok:", bad[:1]); sys.exit(1)
for r in again:
    if r["seq"] in first:
        if first[r["seq"]] != {r["height"]}:
            print("seq", r["seq"], "committed at", first[r["seq"]], "then at", r["height"]); sys.exit(1)
    elif r["height"] <= h_end:
        print("seq", r["seq"], "was reported not committed but is in block", r["height"],
              "<= height", h_end, "reached after it was answered"); sys.exit(1)
PY
done
note "batches of phases P and A sent again: each committed once, every earlier answer true"

# --- 7. batches to validator 0 alone after recovery
t0=$SECONDS
set +e
gw_submit b node0 "$SEQ_B" "$FILE_B" --window 1 --deadline-ms "$SILENCE_MS"
rc=$?
set -e
t_b=$((SECONDS - t0))
[ "$rc" = 0 ] || fail "phase B, 10 batches to validator 0 alone: exit $rc: $(cat "$W/b.sum") $(tail -3 "$W/b.err")"
[ "$t_b" -le "$PHASE_B_S" ] || fail "phase B took ${t_b}s (> ${PHASE_B_S}s) for 10 batches to validator 0"
note "phase B: 10 batches to validator 0 alone, all committed in ${t_b}s"

# --- 8. a backup alone in a higher view follows the others' view
s=$(snap)
v_others=$(field "$s" 0 1)
vc_others="$(field "$s" 0 4) $(field "$s" 1 4) $(field "$s" 2 4)"
partition 3
t_cut3=$SECONDS
ip netns exec "${NS_V[3]}" "$REAL_CERTA" submit --to node3 --genesis "$G" \
    --integrator gateway --key "$KEYS/gateway.pem" --seq "$SEQ_L" --batch 4 --window 1 \
    --deadline-ms $(((60 + HEAL_S) * 1000)) --receipts "$W/l.rc" "$FILE_L" >"$W/l.sum" 2>"$W/l.err" &
pid_l=$!
PIDS[12]=$pid_l
end=$((t_cut3 + 60))
while :; do
    s3=$(snap "${NS_V[3]}")
    v3=$(field "$s3" 3 1)
    [ "$v3" != - ] && [ "$v3" -gt "$v_others" ] && [ "$(field "$s3" 3 2)" = 1 ] && break
    [ "$SECONDS" -lt "$end" ] || fail "validator 3, cut off with a client's batches, did not move alone to a view above $v_others within 60s: $(echo $s3)"
    sleep 0.25
done
heal 3
t_heal3=$SECONDS
note "validator 3 cut off; alone in view change to view $v3 after $((t_heal3 - t_cut3))s (the others in view $v_others); healed"
end=$((t_heal3 + HEAL_S))
while :; do
    s=$(snap)
    if python3 - $(col "$s" 1) $(col "$s" 2) $(col "$s" 5) <<'PY'; then break; fi
import sys
a = sys.argv[1:]
v, ivc, wh = a[0:4], a[4:8], a[8:12]
sys.exit(0 if "-" not in v and len(set(v)) == 1 and ivc == ["0"] * 4 and wh == ["0", "0", "0", "1"] else 1)
PY
    [ "$SECONDS" -lt "$end" ] ||
        fail "${HEAL_S}s after validator 3's heal: views $(col "$s" 1), in view change $(col "$s" 2), votes withheld $(col "$s" 5) (validator 3 should follow the others' view)"
    sleep 0.25
done
note "$((SECONDS - t_heal3))s after the heal validator 3 follows view $(field "$s" 3 1) without voting (its own: $v3)"
wait_pid "$pid_l" "$end" "the batches of validator 3's side of the cut still unanswered ${HEAL_S}s after the heal" "$W/l.err"
PIDS[12]=
[ "$RC" = 0 ] || fail "validator 3's client: submit exited $RC: $(cat "$W/l.sum") $(tail -3 "$W/l.err")"
t0=$SECONDS
set +e
gw_submit m node3 "$SEQ_M" "$FILE_M" --window 1 --deadline-ms "$SILENCE_MS"
rc=$?
set -e
[ "$rc" = 0 ] || fail "phase M, 10 batches to validator 3 alone while it follows: exit $rc: $(cat "$W/m.sum") $(tail -3 "$W/m.err")"
s=$(snap)
[ "$(field "$s" 0 4) $(field "$s" 1 4) $(field "$s" 2 4)" = "$vc_others" ] ||
    fail "the others changed view while validator 3 was cut off: view changes $vc_others -> $(col "$s" 4)"
[ "$(field "$s" 3 5)" = 1 ] || fail "validator 3 no longer follows: $(echo $s)"
note "validator 3's client: 10 batches committed; phase M: 10 batches to validator 3 alone committed in $((SECONDS - t0))s; the others changed no view"

# --- 9. the loader's chunks, receipts, one height, clean stop and audit
wait_pid "${PIDS[9]}" $((SECONDS + 130)) "the loader did not stop"
PIDS[9]=
n=$(cat "$W/load/chunks")
for ((i = 0; i < n; i++)); do
    [ "$(cat "$W/load/r-$i.exit")" = 0 ] ||
        fail "chunk $i: submit exited $(cat "$W/load/r-$i.exit"): $(cat "$W/load/r-$i.sum" "$W/load/r-$i.err")"
    [ "$(wc -l <"$W/load/r-$i.rc")" = "$SIZE" ] || fail "chunk $i: receipts missing"
done
note "loader: $n chunks, $((n * SIZE)) grants, every one committed"
if cl_has receipt; then
    cat "$W"/load/r-*.rc "$W/p2.rc" "$W/a2.rc" "$W/b.rc" "$W/l.rc" "$W/m.rc" >"$W/all.rc"
    "$CERTA" receipt verify --genesis "$G" "$W/all.rc" >"$W/verify.out" 2>&1 ||
        fail "receipt verify: $(tail -5 "$W/verify.out")"
fi
end=$((SECONDS + 60))
while :; do
    s=$(snap)
    h=$(col "$s" 3)
    python3 -c 'import sys; sys.exit(0 if "-" not in sys.argv[1:] and len(set(sys.argv[1:]))==1 else 1)' $h && break
    [ "$SECONDS" -lt "$end" ] || fail "heights differ at the end: $h"
    sleep 0.25
done
note "all four at height ${h%% *}"
cl_stop_and_audit || true
note "it_partition_rejoin: view change $((t_vc - t_cut))s after the cut, rejoined ${t_join}s after the heal, ${SECONDS}s in all"
echo "it_partition_rejoin: 1 passed, 0 failed"
