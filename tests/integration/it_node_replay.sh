#!/usr/bin/env bash
# Replay protection that never lies, with 4 real validators on 127.0.0.1
# (ports 29800..29832 plus $CERTA_TEST_PORT_OFFSET) and a replay horizon
# of 2,048 batches set in genesis:
# - sequences 50001..51199 of one integrator, then 50000: accepted and
#   executed (a lower number is not a replay);
# - two submitters of one integrator on separate ranges at once: both
#   commit everything;
# - re-sent batches executed long before (about 1,900 batches back) get
#   their original receipts (the same block, proof and results; the commit
#   certificate may carry another 2f+1 signatures if another validator
#   answers);
# - a batch outside the horizon gets the distinct "too old to tell" answer,
#   never "already executed";
# - the same batches sent by two clients at once: both get every receipt.
# Waits are deadline polls (cluster_lib.sh) and submit deadlines, never
# fixed sleeps.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"
BASE_PORT=$((29800 + ${CERTA_TEST_PORT_OFFSET:-0}))
cl_init
python3 - "$G" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
g["params"]["replay_horizon_batches"] = 2048
json.dump(g, open(sys.argv[1], "w"))
PY
python3 - "$W" <<'PY'
import hashlib, json, sys, time
w = sys.argv[1]
now = int(time.time() * 1000)
def grants(name, n):
    with open("%s/%s.jsonl" % (w, name), "w") as f:
        for i in range(n):
            k = b"%s-%d" % (name.encode(), i)
            salt = hashlib.sha256(b"s" + k).hexdigest()[:32]
            f.write(json.dumps({
                "kind": "grant", "grant_id": hashlib.sha256(b"g" + k).hexdigest()[:32],
                "holder_id": hashlib.sha256(b"h" + k).hexdigest(),
                "licence_types": ["id_card"], "centre": 2, "counter": 0, "matter": 1001,
                "not_before_ms": now - 60000, "not_after_ms": now + 3600000, "max_uses": 1,
                "method": "code",
                "code_commit": hashlib.sha256(bytes.fromhex(salt) + b"12345678").hexdigest()}) + "\n")
grants("high", 1199)
grants("low", 1)
grants("range_a", 600)
grants("range_b", 600)
grants("twice", 300)
PY
cl_start_all

# sub OUT SEQ FILE [options]: one event per batch, so each line is one
# sequence number; summary in OUT.sum, receipts in OUT.rc, exit in OUT.exit.
sub() {
    local out=$1 seq=$2 file=$3
    shift 3
    set +e
    "$CERTA" submit --to all --genesis "$G" --integrator app --key "$KEYS/app.pem" \
        --batch 1 --window 64 --seq "$seq" --deadline-ms 60000 --quiet \
        --receipts "$W/$out.rc" "$@" "$file" >"$W/$out.sum" 2>"$W/$out.err"
    echo $? >"$W/$out.exit"
    set -e
}
field() { sed -n "s/^  $2 *\([0-9]*\).*/\1/p" "$W/$1.sum"; }
expect_ok() { # OUT N
    [ "$(cat "$W/$1.exit")" = 0 ] && [ "$(field "$1" ok)" = "$2" ] \
        || fail "$1: expected ok $2, exit 0: $(cat "$W/$1.sum" "$W/$1.err")"
}

note "sequences 50001..51199, then 50000"
sub high 50001 "$W/high.jsonl"
expect_ok high 1199
sub low 50000 "$W/low.jsonl"
expect_ok low 1

note "two submitters of one integrator on separate ranges, at once"
sub range_a 1 "$W/range_a.jsonl" &
pa=$!
sub range_b 100001 "$W/range_b.jsonl" &
pb=$!
wait "$pa" "$pb"
expect_ok range_a 600
expect_ok range_b 600

note "re-sent batches 50500..51199 get their original receipts"
tail -n +500 "$W/high.jsonl" >"$W/high_again.jsonl"
sub again 50500 "$W/high_again.jsonl"
expect_ok again 700
python3 - "$W/high.rc" "$W/again.rc" <<'PY' || fail "re-sent receipts differ from the originals"
import json, sys
# A batch sent again after block h + 4 executed gets its receipt with the
# result proof (JSON version 2): the rest must be the original's.
proven = 0
def same_part(r):
    global proven
    r = dict(r)
    r["commit"] = {k: v for k, v in r["commit"].items() if k != "signatures"}
    if r.get("receipt") == 2:
        if "result_proof" not in r:
            sys.exit("seq %d: version 2 without its result proof" % r["seq"])
        proven += 1
        del r["result_proof"]
        r["receipt"] = 1
    return r
orig = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    orig[r["seq"]] = same_part(r)
n = 0
for line in open(sys.argv[2]):
    r = json.loads(line)
    if orig.get(r["seq"]) != same_part(r):
        sys.exit("seq %d: receipt differs" % r["seq"])
    n += 1
if n != 700:
    sys.exit("%d receipts, expected 700" % n)
# ranges a and b committed many blocks after these: their results are proven
if proven == 0:
    sys.exit("no re-sent receipt carries its result proof")
PY
"$CERTA" receipt verify --genesis "$G" "$W/again.rc" >/dev/null || fail "re-sent receipts do not verify"

note "a batch outside the horizon: too old to tell, not 'already executed'"
# Every validator must have executed what moved the horizon past the probe: one
# still executing the ranges above remembers it and answers, truly, with its
# original receipt (the receipt a client sees comes from whichever answers).
cl_wait_equal_heights 1 60
# The probe is the batch of 'high' committed first (the lowest block and
# leaf), the first the horizon forgot: not necessarily 50001, whose first
# send may have been retried into a later block.
oldest=$(python3 -c '
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
print(min(rs, key=lambda r: (r["height"], r["leaf_index"]))["seq"])' "$W/high.rc")
sed -n "$((oldest - 50000))p" "$W/high.jsonl" >"$W/first.jsonl"
sub first "$oldest" "$W/first.jsonl"
[ "$(cat "$W/first.exit")" = 1 ] || fail "too old batch: exit $(cat "$W/first.exit") $(cat "$W/first.sum")"
grep -q "too old to tell  1" "$W/first.sum" || fail "too old batch not shown as such: $(cat "$W/first.sum")"
grep -q "outside the replay horizon" "$W/first.sum" || fail "too old batch: $(cat "$W/first.sum")"
if grep -q "already executed" "$W/first.sum"; then fail "too old batch called executed: $(cat "$W/first.sum")"; fi

note "the same batches from two clients at once: both get every receipt"
sub twice_1 200001 "$W/twice.jsonl" &
p1=$!
sub twice_2 200001 "$W/twice.jsonl" &
p2=$!
wait "$p1" "$p2"
expect_ok twice_1 300
expect_ok twice_2 300
python3 - "$W/twice_1.rc" "$W/twice_2.rc" <<'PY' || fail "the two clients got receipts for different blocks"
import json, sys
def key(line):
    r = json.loads(line)
    return (r["seq"], r["commit"]["block_hash"], r["leaf_index"] if "leaf_index" in r else 0)
a = sorted(key(l) for l in open(sys.argv[1]))
b = sorted(key(l) for l in open(sys.argv[2]))
if a != b or len(a) != 300:
    sys.exit("different or missing receipts")
PY

note "no event committed as replayed or too_old: every batch above executed once"
cl_wait_equal_heights 1 60
for k in 0 1 2 3; do
    m=$(curl -s "http://127.0.0.1:$((BASE_PORT + 10 * k + 2))/metrics" || true)
    [ -n "$m" ] || continue
    if grep -Eq 'certa_results_total\{result="(replayed|too_old)"\} [1-9]' <<<"$m"; then
        fail "validator $k committed events as replayed or too_old: $(grep certa_results_total <<<"$m")"
    fi
done
echo "it_node_replay: 5 passed, 0 failed"
