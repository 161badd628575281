#!/usr/bin/env bash
# Governance on a live 4-validator cluster (ports 26000..26032) under
# continuous load (integrator app submitting grants): a council of three
# (majority 2) rotates counter-xicheng's key (the old key is refused at the
# door afterwards, the new one accepted), adds a counter to the Dongcheng
# centre and uses it (refused before: scope_counter), opens a service
# centre, grants there and closes it (scope_centre before and after), sets
# the view timeout (every validator's core follows it), narrows a centre's
# catalogue (matter 1001 at Dongcheng: id card only, required), raises the
# licence rules of a chain made without them (genesis with no "rules") from
# 1 to 2 (a code redeem in the clear accepted before, refused as
# code_unsealed after, a sealed one refused before and accepted after), suspends
# counter-xicheng (its batches refused at the door), and checks the named
# rejections of a non-member, a duplicate approval and a threshold above
# the council's size. Then: every load chunk fully committed (no event
# acknowledged and lost), its receipts verify offline, the validators agree
# (equal heights; each data directory's replay matches every header's state
# digest: certa gov show --data), and verify-chain passes on each block log.
set -euo pipefail
BASE_PORT=$((26000 + ${CERTA_TEST_PORT_OFFSET:-0}))
. "$(dirname "$0")/cluster_lib.sh"
SECONDS=0
CL_GENESIS_OPTS="--council 3"
cl_init
# a chain made before rules versions: its genesis names none (rules 1)
python3 - "$G" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
del g["params"]["rules"]
json.dump(g, open(sys.argv[1], "w"), indent=2)
PY
TO=all
gov() { "$CERTA" gov "$@" --to "$TO" --genesis "$G" 2>>"$W/gov.err"; }
field() { python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())[sys.argv[1]])' "$1"; }

# propose as admin, approve as admin-2: the change is in force from the
# block after the approval's
enact() {
    local out p
    out=$(gov propose --integrator admin --key "$KEYS/admin.pem" --expires-in-ms 600000 "$@") ||
        fail "propose $*: $out $(tail -3 "$W/gov.err")"
    p=$(field proposal <<<"$out")
    out=$(gov approve --integrator admin-2 --key "$KEYS/admin-2.pem" --proposal "$p") ||
        fail "approve $*: $out $(tail -3 "$W/gov.err")"
    [ "$(field result <<<"$out")" = ok ] || fail "approve $*: $out"
    note "enacted: $*"
}

# wait until every validator executed a few blocks past now (LAG is 4):
# the change is then in every admission table
settle() {
    local h target end=$((SECONDS + 90))
    h=$(cl_heights | tr ' ' '\n' | grep -v '^$' | sort -n | tail -1)
    target=$((h + 6))
    while [ "$SECONDS" -lt "$end" ]; do
        [ "$(cl_heights | tr ' ' '\n' | grep -v '^$' | sort -n | head -1)" -ge "$target" ] && return 0
        sleep 0.2
    done
    fail "the cluster did not reach height $target"
}

# xicheng_confirm KEY OUT [submit options]: one confirm of an unknown grant
# by counter-xicheng (committed: unknown_grant, or refused at the door)
XSEQ=1
xicheng_confirm() {
    local key=$1 out=$2
    shift 2
    printf '{"kind":"confirm","grant_id":"%032x","centre":3,"counter":1,"evidence":"%064x"}\n' \
        "$XSEQ" "$XSEQ" >"$W/x-$out.jsonl"
    set +e
    "$CERTA" submit --to all --genesis "$G" --integrator counter-xicheng --key "$key" \
        --seq "$XSEQ" --deadline-ms 20000 --quiet "$@" "$W/x-$out.jsonl" >"$W/x-$out.sum" 2>&1
    set -e
    XSEQ=$((XSEQ + 1))
}

python3 - "$W/c/genesis.json" <<'PY' || fail "genesis has no council"
import json, sys
c = json.load(open(sys.argv[1]))["council"]
assert c == {"members": ["admin", "admin-2", "admin-3"], "threshold": 2}, c
PY
CHUNKS=800 SIZE=200 BATCH=50
python3 "$SRC/tests/integration/cluster_grants.py" "$W/load" "$CHUNKS" "$SIZE"
cl_start_all
note "cluster up after ${SECONDS}s"
cl_loader &
LOADER=$!
cl_wait_chunks 2

# ---- named rejections, committed
out=$(gov propose --integrator admin --key "$KEYS/admin.pem" --expires-in-ms 600000 \
      --change council_threshold --value 4) && fail "threshold 4 of 3 accepted: $out"
[ "$(field result <<<"$out")" = gov_bad_threshold ] || fail "threshold above size: $out"
out=$(gov propose --integrator library --key "$KEYS/library.pem" --expires-in-ms 600000 \
      --change counter_add --centre 2) && fail "a library integrator proposed: $out"
[ "$(field result <<<"$out")" = role_forbidden ] || fail "non-admin propose: $out"
out=$(gov propose --integrator admin-3 --key "$KEYS/admin-3.pem" --expires-in-ms 600000 \
      --change counter_add --centre 4)
[ "$(field result <<<"$out")" = ok ] || fail "propose by admin-3: $out"
P4=$(field proposal <<<"$out")
out=$(gov approve --integrator admin-3 --key "$KEYS/admin-3.pem" --proposal "$P4") &&
    fail "a duplicate approval accepted: $out"
[ "$(field result <<<"$out")" = gov_duplicate_approval ] || fail "duplicate approval: $out"
out=$(gov approve --integrator admin --key "$KEYS/admin.pem" --proposal "$(printf '%064d' 7)") &&
    fail "an unknown proposal approved: $out"
[ "$(field result <<<"$out")" = gov_unknown_proposal ] || fail "unknown proposal: $out"
note "rejections named: gov_bad_threshold, role_forbidden, gov_duplicate_approval, gov_unknown_proposal"

# ---- key rotation under load
"$CERTA" keygen --out "$W/xicheng-new.pem" >/dev/null
xicheng_confirm "$KEYS/counter-xicheng.pem" before
grep -q '^  rejected *1' "$W/x-before.sum" || fail "old key before the rotation: $(cat "$W/x-before.sum")"
enact --change integrator_rotate --target counter-xicheng --pub-key "$W/xicheng-new.pem"
settle
xicheng_confirm "$KEYS/counter-xicheng.pem" old --rotated-key
grep -q '^  not committed *1' "$W/x-old.sum" || fail "old key after the rotation: $(cat "$W/x-old.sum")"
grep -q 'does not verify' "$W/x-old.sum" || fail "old key refusal not named: $(cat "$W/x-old.sum")"
xicheng_confirm "$W/xicheng-new.pem" new --rotated-key
grep -q '^  rejected *1: unknown_grant 1' "$W/x-new.sum" || fail "new key: $(cat "$W/x-new.sum")"
note "rotation: old key refused at the door, new key committed"

# ---- a new counter, used
COUNTERS=$("$CERTA" gov show --data "$W/c/node0/data" --genesis "$G" |
           python3 -c 'import json,sys; print([c for c in json.load(sys.stdin)["centres"] if c["id"]==2][0]["counters"])')
NEW=$((COUNTERS + 1))
grant_at() { # N OUT [CENTRE COUNTER]: a grant at Dongcheng counter $NEW by default
    python3 - "$1" "${4:-$NEW}" "${3:-2}" >"$W/$2.jsonl" <<'PY'
import hashlib, json, sys, time
n, counter, centre, now = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(time.time() * 1000)
print(json.dumps({"kind": "grant", "grant_id": hashlib.sha256(b"c %d %d" % (now, n)).hexdigest()[:32],
                  "holder_id": hashlib.sha256(b"ch %d" % n).hexdigest(), "licence_types": ["id_card"],
                  "centre": centre, "counter": counter, "matter": 1001, "not_before_ms": now - 60000,
                  "not_after_ms": now + 3600000, "max_uses": 1, "method": "direct"}))
PY
    "$CERTA" submit --to all --genesis "$G" --integrator app --key "$KEYS/app.pem" \
        --seq $((1000000 + $1)) --quiet "$W/$2.jsonl" >"$W/$2.sum" 2>&1 || true
}
grant_at 1 c-before
grep -q 'scope_counter 1' "$W/c-before.sum" || fail "counter $NEW before it opened: $(cat "$W/c-before.sum")"
enact --change counter_add --centre 2
settle
grant_at 2 c-after
grep -q '^  ok *1' "$W/c-after.sum" || fail "counter $NEW after counter_add: $(cat "$W/c-after.sum")"
note "counter $NEW of Dongcheng opened and used"

# ---- a new service centre (id 90, two counters): refused before it
# opens, granting after, refused again once closed
grant_at 3 n-before 90 2
grep -q 'scope_centre 1' "$W/n-before.sum" || fail "centre 90 before it opened: $(cat "$W/n-before.sum")"
enact --change centre_add --centre 90 --value 2 --name "Chaoyang district centre"
settle
grant_at 4 n-after 90 2
grep -q '^  ok *1' "$W/n-after.sum" || fail "centre 90 after centre_add: $(cat "$W/n-after.sum")"
enact --change centre_close --centre 90
settle
grant_at 5 n-closed 90 1
grep -q 'scope_centre 1' "$W/n-closed.sum" || fail "centre 90 after centre_close: $(cat "$W/n-closed.sum")"
note "centre 90 opened, used and closed"

# ---- the timing: a longer view timeout, in force on every validator
enact --change param_set --param view_timeout_ms --value 4000
settle
for k in 0 1 2 3; do
    grep -q '"event":"timing_changed".*"view_timeout_ms":4000' "$W/c/node$k/node.log" ||
        fail "node$k did not apply the view timeout: $(grep timing "$W/c/node$k/node.log" | tail -2)"
done
note "view_timeout_ms 4000 applied by all four validators"

# ---- the catalogue: Dongcheng's matter 1001 requires the id card (the
# load's grants request it: they keep going)
enact --change catalogue_set --centre 2 --matter 1001 --allowed id_card --required id_card

# ---- the licence rules, 1 to 2, on the running chain. code_pair N OUT
# MODE: a code grant and, once it committed, its redeem at Dongcheng
# counter 7, the code in the clear (MODE clear) or sealed (MODE sealed);
# the commitment is the one the redeem can match under that mode's rules.
code_pair() {
    python3 - "$1" "$3" "$W/$2" <<'PY'
import hashlib, json, sys, time
n, mode, out, now = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(time.time() * 1000)
gid = hashlib.sha256(b"r %d %d" % (now, n)).hexdigest()[:32]
salt, code = hashlib.sha256(b"s %d" % n).hexdigest()[:32], "%08d" % (n * 7919 % 10**8)
proof = hashlib.sha256(bytes.fromhex(salt) + code.encode()).hexdigest()
commit = proof if mode == "clear" else hashlib.sha256(bytes.fromhex(proof)).hexdigest()
open(out + "-g.jsonl", "w").write(json.dumps({"kind": "grant", "grant_id": gid,
    "holder_id": hashlib.sha256(b"rh %d" % n).hexdigest(), "licence_types": ["id_card"],
    "centre": 2, "counter": 0, "matter": 1001, "not_before_ms": now - 60000,
    "not_after_ms": now + 3600000, "max_uses": 1, "method": "code", "code_commit": commit}) + "\n")
r = {"kind": "redeem", "grant_id": gid, "centre": 2, "counter": 7, "matter": 1001,
     "licences": [{"id": "33" * 16, "type": "id_card", "digest": "44" * 32}]}
if mode == "clear":
    r["code"], r["salt"] = code, salt
else:
    r["code_proof"] = proof
open(out + "-r.jsonl", "w").write(json.dumps(r) + "\n")
PY
    "$CERTA" submit --to all --genesis "$G" --integrator app --key "$KEYS/app.pem" \
        --seq $((2000000 + $1)) --quiet "$W/$2-g.jsonl" >"$W/$2-g.sum" 2>&1 || true
    "$CERTA" submit --to all --genesis "$G" --integrator counter-dongcheng \
        --key "$KEYS/counter-dongcheng.pem" --seq $((2000000 + $1)) --quiet \
        "$W/$2-r.jsonl" >"$W/$2-r.sum" 2>&1 || true
}
code_pair 1 rules1-clear clear
grep -q '^  ok *1' "$W/rules1-clear-r.sum" || fail "rules 1, a code in the clear: $(cat "$W/rules1-clear-r.sum")"
code_pair 2 rules1-sealed sealed
grep -q 'code_mismatch 1' "$W/rules1-sealed-r.sum" || fail "rules 1, sealed: $(cat "$W/rules1-sealed-r.sum")"
enact --change param_set --param rules --value 2
settle
code_pair 3 rules2-clear clear
grep -q 'code_unsealed 1' "$W/rules2-clear-r.sum" || fail "rules 2, a code in the clear: $(cat "$W/rules2-clear-r.sum")"
code_pair 4 rules2-sealed sealed
grep -q '^  ok *1' "$W/rules2-sealed-r.sum" || fail "rules 2, sealed: $(cat "$W/rules2-sealed-r.sum")"
note "rules raised from 1 to 2 on the running chain: codes sealed from the next block"

# ---- suspension
enact --change integrator_suspend --target counter-xicheng
settle
xicheng_confirm "$W/xicheng-new.pem" suspended --rotated-key
grep -q '^  not committed *1' "$W/x-suspended.sum" || fail "suspended: $(cat "$W/x-suspended.sum")"
grep -q 'suspended' "$W/x-suspended.sum" || fail "suspension not named: $(cat "$W/x-suspended.sum")"
note "suspended integrator refused at the door"

cl_wait_chunks 2
touch "$W/stop"
wait "$LOADER" || fail "the loader failed"
n=$(cat "$W/load/chunks")
for ((i = 0; i < n; i++)); do
    [ "$(cat "$W/load/r-$i.exit")" = 0 ] || fail "load chunk $i not all committed: $(cat "$W/load/r-$i.sum")"
    grep -q "^  ok *$SIZE\$" "$W/load/r-$i.sum" || fail "load chunk $i: $(cat "$W/load/r-$i.sum")"
done
cat "$W"/load/r-*.rc >"$W/load.rc"
[ "$(wc -l <"$W/load.rc")" = $((n * SIZE)) ] || fail "load receipts: $(wc -l <"$W/load.rc")"
"$CERTA" receipt verify --genesis "$G" "$W/load.rc" >"$W/rv.out" 2>&1 || fail "receipt verify: $(tail -3 "$W/rv.out")"
note "load: $n chunks, $((n * SIZE)) grants, all committed ok, receipts verify"

cl_wait_equal_heights 1 90
note "all four validators at height $HEIGHT"
for k in 0 1 2 3; do
    "$CERTA" gov show --data "$W/c/node$k/data" --genesis "$G" >"$W/show$k.json" 2>"$W/show$k.err" ||
        fail "gov show node$k (replay against the headers' state digests): $(cat "$W/show$k.err")"
done
python3 - "$W" <<'PY' || fail "governed tables differ or are wrong"
import json, sys
docs = [json.load(open("%s/show%d.json" % (sys.argv[1], k))) for k in range(4)]
h = min(d["height"] for d in docs)
t = [{k: v for k, v in d.items() if k != "height"} for d in docs]
assert all(x == t[0] for x in t), "tables differ between validators"
d = docs[0]
x = [i for i in d["integrator_table"] if i["name"] == "counter-xicheng"][0]
assert x["status"] == "suspended" and x["key_since"] > 0, x
assert d["generation"] == 8, d["generation"]
assert d["params"]["view_timeout_ms"] == 4000, d["params"]
assert d["params"]["rules"] == 2, d["params"]
c90 = [c for c in d["centres"] if c["id"] == 90]
assert c90 == [{"id": 90, "name": "Chaoyang district centre", "counters": 2, "open": False,
                "added": True, "closed": []}], c90
assert d["catalogue"] == [{"centre": 2, "matter": 1001, "allowed": ["id_card"],
                           "required": ["id_card"]}], d["catalogue"]
assert len(d["proposals"]) == 1 and d["proposals"][0]["approvals"] == ["admin-3"], d["proposals"]
PY
"$CERTA" gov status --data "$W/c/node1/data" --genesis "$G" | sed 's/^/   /' | cut -c1-200
cl_stop_and_audit || true
note "it_gov passed in ${SECONDS}s"
