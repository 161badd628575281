#!/usr/bin/env bash
# Receipts that prove results, from a real 4-validator cluster: the first
# receipt of a batch proves the event (JSON version 1); once block h + 4
# executed, the same batch sent again returns the receipt with the result
# proof (JSON version 2: header h + 4, its certificate, the result's path
# to its prev_results_root), and `certa receipt verify` checks it. A
# result, path or certificate altered in it fails, naming the part. The
# browser's verifier agrees, and every validator's block log gives the same
# event log over the whole chain (certa merkle log).
set -euo pipefail
CERTA=${CERTA_BIN:-certa}
W=$(mktemp -d "${TMPDIR:-/tmp}/certa-results.XXXXXX")
UP=
cleanup() {
    if [ -n "$UP" ]; then kill -INT "$UP" 2>/dev/null || true; wait "$UP" 2>/dev/null || true; fi
    rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -n 20 "$W"/c/node*/node.log >&2 || true; exit 1; }

"$CERTA" up --dir "$W/c" --base-port $((28300 + ${CERTA_TEST_PORT_OFFSET:-0})) --duration 900 >"$W/up.log" 2>&1 &
UP=$!
python3 - "$W" <<'PY'
import hashlib, json, sys, time
w = sys.argv[1]
now = int(time.time() * 1000)
def grant(k, max_uses=1):
    salt = hashlib.sha256(b"s" + k).hexdigest()[:32]
    return {"kind": "grant", "grant_id": hashlib.sha256(b"g" + k).hexdigest()[:32],
            "holder_id": hashlib.sha256(b"h" + k).hexdigest(), "licence_types": ["id_card"],
            "centre": 2, "counter": 0, "matter": 1001, "not_before_ms": now - 60000,
            "not_after_ms": now + 3600000, "max_uses": max_uses, "method": "code",
            "code_commit": hashlib.sha256(bytes.fromhex(salt) + b"12345678").hexdigest()}
with open(w + "/grants.jsonl", "w") as f:
    for i in range(40):
        f.write(json.dumps(grant(b"results%d" % i)) + "\n")
    # the same grant twice: the second is rejected (duplicate_grant), so
    # the receipts hold a proven rejection too
    f.write(json.dumps(grant(b"results0")) + "\n")
for j in range(6):
    with open(w + "/filler%d.jsonl" % j, "w") as f:
        for i in range(3):
            f.write(json.dumps(grant(b"filler%d-%d" % (j, i))) + "\n")
PY
end=$((SECONDS + 90))
while [ "$SECONDS" -lt "$end" ]; do [ -f "$W/c/genesis.json" ] && "$CERTA" status --to all --genesis "$W/c/genesis.json" --timeout-ms 1000 >/dev/null 2>&1 && break; sleep 0.2; done
sub() { "$CERTA" submit --to all --genesis "$W/c/genesis.json" --integrator app \
          --key "$W/c/integrators/app.pem" --deadline-ms 90000 --quiet "$@"; }
verify() { "$CERTA" receipt verify --genesis "$W/c/genesis.json" "$@"; }

sub --batch 20 --receipts "$W/r1.jsonl" "$W/grants.jsonl" >"$W/s1.out" || fail "first submit: $(cat "$W/s1.out")"
[ "$(grep -c '"receipt":1' "$W/r1.jsonl")" = 41 ] || fail "first receipts: $(head -c 300 "$W/r1.jsonl")"
verify "$W/r1.jsonl" >/dev/null || fail "first receipts do not verify"

# Four more blocks commit the results of the grants' blocks: one submit
# (one block at least) after another.
for j in 0 1 2 3 4 5; do
    sub --batch 3 --seq $((100 + j)) "$W/filler$j.jsonl" >"$W/f$j.out" || fail "filler $j: $(cat "$W/f$j.out")"
done

# The same batches again: their receipts now carry the result proof. A
# validator that has not yet executed h + 4 answers the plain receipt, so
# ask again for a while.
end=$((SECONDS + 60))
while :; do
    sub --batch 20 --receipts "$W/r2.jsonl" "$W/grants.jsonl" >"$W/s2.out" || fail "resubmit: $(cat "$W/s2.out")"
    [ "$(grep -c '"receipt":2' "$W/r2.jsonl")" = 41 ] && break
    [ "$SECONDS" -lt "$end" ] || fail "no result proofs after 60 s: $(grep -c '"receipt":2' "$W/r2.jsonl") of 41"
    sleep 1
done
grep -q '"result_proof"' "$W/r2.jsonl" || fail "version 2 receipts without result_proof"
grep -q '"reason":"duplicate_grant"' "$W/r2.jsonl" || fail "no proven rejection: $(tail -c 400 "$W/r2.jsonl")"
verify "$W/r2.jsonl" >"$W/v2.out" || fail "receipts with result proofs do not verify: $(cat "$W/v2.out")"
grep -q "41 receipts, 41 verified, 0 failed (.*; 41 results proven)" "$W/v2.out" || fail "verify: $(cat "$W/v2.out")"

# Alter the result, a path hash and a certificate signature of the result
# proof: each line fails, naming the part.
python3 - "$W" <<'PY'
import json, sys
w = sys.argv[1]
lines = [json.loads(l) for l in open(w + "/r2.jsonl") if l.strip()]
ok = next(r for r in lines if r["code"] == 0)
bad = next(r for r in lines if r["code"] != 0)
out = []
r = json.loads(json.dumps(ok)); r.update(result="rejected", code=11, reason="code_mismatch"); out.append(r)
r = json.loads(json.dumps(bad)); r.update(result="ok", code=0, reason=""); out.append(r)
r = json.loads(json.dumps(ok)); p = r["result_proof"]["path"]
p[0] = ("0" if p[0][0] != "0" else "1") + p[0][1:]; out.append(r)
r = json.loads(json.dumps(ok)); s = r["result_proof"]["commit"]["signatures"][0]
s["signature"] = ("0" if s["signature"][0] != "0" else "1") + s["signature"][1:]; out.append(r)
r = json.loads(json.dumps(ok)); r["result_proof"]["commit"]["height"] += 1; out.append(r)
with open(w + "/bad.jsonl", "w") as f:
    for r in out:
        f.write(json.dumps(r, separators=(",", ":")) + "\n")
PY
set +e
verify "$W/bad.jsonl" >"$W/bad.out" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "altered receipts: rc $rc $(cat "$W/bad.out")"
grep -q "^line 1: result proof: path: result 11 is not leaf" "$W/bad.out" || fail "altered result: $(cat "$W/bad.out")"
grep -q "^line 2: result proof: path: result 0 is not leaf" "$W/bad.out" || fail "altered rejection: $(cat "$W/bad.out")"
grep -q "^line 3: result proof: path: " "$W/bad.out" || fail "altered path: $(cat "$W/bad.out")"
grep -q "^line 4: result proof: commit: signature of validator" "$W/bad.out" || fail "altered signature: $(cat "$W/bad.out")"
grep -q "^line 5: result proof: commit: " "$W/bad.out" || fail "altered certificate: $(cat "$W/bad.out")"
grep -q "5 receipts, 0 verified, 5 failed" "$W/bad.out" || fail "$(cat "$W/bad.out")"

# The browser's verifier (web/app.js) reads the same receipts the same way.
if command -v node >/dev/null 2>&1; then
    SRC=${CERTA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
    web() { node "$SRC/tests/integration/check_web_verifier.js" "$SRC/web/app.js" "$W/c/genesis.json" "$1"; }
    web "$W/r2.jsonl" >"$W/web2.out" || fail "web verifier: $(cat "$W/web2.out")"
    [ "$(grep -c ': ok proven$' "$W/web2.out")" = 41 ] || fail "web verifier on proven receipts: $(head "$W/web2.out")"
    web "$W/r1.jsonl" >"$W/web1.out" || fail "web verifier: $(cat "$W/web1.out")"
    [ "$(grep -c ': ok$' "$W/web1.out")" = 41 ] || fail "web verifier on plain receipts: $(head "$W/web1.out")"
    web "$W/bad.jsonl" >"$W/webbad.out" || fail "web verifier: $(cat "$W/webbad.out")"
    grep -q "^line 1: result proof: path: " "$W/webbad.out" || fail "web, altered result: $(cat "$W/webbad.out")"
    grep -q "^line 2: result proof: path: " "$W/webbad.out" || fail "web, altered rejection: $(cat "$W/webbad.out")"
    grep -q "^line 3: result proof: path: " "$W/webbad.out" || fail "web, altered path: $(cat "$W/webbad.out")"
    grep -q "^line 4: result proof: commit: signature of validator" "$W/webbad.out" || fail "web, altered signature: $(cat "$W/webbad.out")"
    grep -q "^line 5: result proof: commit: " "$W/webbad.out" || fail "web, altered certificate: $(cat "$W/webbad.out")"
else
    echo "it_receipt_results: node not found, the web verifier is not checked"
fi

# The event log over the whole chain, from each validator's block log once
# the cluster stopped: the same sizes and roots on every validator, and as
# many leaves as events were committed.
kill -INT "$UP" 2>/dev/null || true
wait "$UP" 2>/dev/null || true
UP=
for k in 0 1 2 3; do
    "$CERTA" merkle log --data "$W/c/node$k/data" >"$W/log$k.txt" 2>"$W/log$k.err" \
        || fail "merkle log node$k: $(cat "$W/log$k.err")"
done
n=$(cat "$W"/log?.txt | awk '{print $2}' | sort -n | uniq -c | awk '$1 == 4' | wc -l)
[ "$n" -ge 6 ] || fail "validators share only $n heights of the log"
for k in 1 2 3; do
    cmp -s <(head -n "$n" "$W/log0.txt") <(head -n "$n" "$W/log$k.txt") || fail "log of node$k differs from node0's"
done
size=$(tail -n 1 "$W/log0.txt" | awk '{print $6}')
[ "$size" -ge $((41 + 6 * 3)) ] || fail "log of $size events, at least 59 were committed"
echo "it_receipt_results: 6 passed, 0 failed"
