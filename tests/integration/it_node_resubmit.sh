#!/usr/bin/env bash
# A batch submitted again after it committed gets its receipt again (the
# client lost it, or failed over); a different batch reusing the sequence
# number is refused as a replay; with a validator down, certa status still
# shows the others. 4 validators on 127.0.0.1, bounded in time.
set -euo pipefail
CERTA=${CERTA_BIN:-certa}
W=$(mktemp -d "${TMPDIR:-/tmp}/certa-resubmit.XXXXXX")
UP=
cleanup() {
    if [ -n "$UP" ]; then kill -INT "$UP" 2>/dev/null || true; wait "$UP" 2>/dev/null || true; fi
    rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -n 20 "$W"/c/node*/node.log >&2 || true; exit 1; }

"$CERTA" up --dir "$W/c" --base-port $((24000 + ${CERTA_TEST_PORT_OFFSET:-0})) --duration 900 >"$W/up.log" 2>&1 &
UP=$!
python3 - "$W" <<'PY'
import hashlib, json, sys, time
w = sys.argv[1]
now = int(time.time() * 1000)
with open(w + "/grants.jsonl", "w") as f, open(w + "/changed.jsonl", "w") as g:
    for i in range(120):
        k = b"resubmit%d" % i
        salt = hashlib.sha256(b"s" + k).hexdigest()[:32]
        ev = {"kind": "grant", "grant_id": hashlib.sha256(b"g" + k).hexdigest()[:32],
              "holder_id": hashlib.sha256(b"h" + k).hexdigest(), "licence_types": ["id_card"],
              "centre": 2, "counter": 0, "matter": 1001, "not_before_ms": now - 60000,
              "not_after_ms": now + 3600000, "max_uses": 1, "method": "code",
              "code_commit": hashlib.sha256(bytes.fromhex(salt) + b"12345678").hexdigest()}
        f.write(json.dumps(ev) + "\n")
        ev["max_uses"] = 2
        g.write(json.dumps(ev) + "\n")
PY
end=$((SECONDS + 90))
while [ "$SECONDS" -lt "$end" ]; do [ -f "$W/c/genesis.json" ] && "$CERTA" status --to all --genesis "$W/c/genesis.json" --timeout-ms 1000 >/dev/null 2>&1 && break; sleep 0.2; done
sub() { "$CERTA" submit --to all --genesis "$W/c/genesis.json" --integrator app \
          --key "$W/c/integrators/app.pem" --batch 20 --deadline-ms 90000 --quiet "$@"; }

sub --receipts "$W/r1.jsonl" "$W/grants.jsonl" >"$W/s1.out" || fail "first submit: $(cat "$W/s1.out")"
grep -q "ok             120" "$W/s1.out" || fail "first submit: $(cat "$W/s1.out")"
sub --receipts "$W/r2.jsonl" "$W/grants.jsonl" >"$W/s2.out" || fail "resubmit: $(cat "$W/s2.out")"
grep -q "ok             120" "$W/s2.out" || fail "resubmit did not return the receipts: $(cat "$W/s2.out")"
"$CERTA" receipt verify --genesis "$W/c/genesis.json" "$W/r2.jsonl" >/dev/null \
    || fail "re-sent receipts do not verify"
set +e
sub "$W/changed.jsonl" >"$W/s3.out" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "a changed batch reusing sequence numbers: rc $rc $(cat "$W/s3.out")"
grep -q "not committed  120" "$W/s3.out" || fail "changed batch: $(cat "$W/s3.out")"
grep -q "replay" "$W/s3.out" || fail "changed batch not refused as a replay: $(cat "$W/s3.out")"

# certa status with one validator down: the others still answer, the dead
# one is named, the exit code says something is wrong.
pkill -KILL -f "node --config $W/c/node2/node.json" || fail "no validator 2 to kill"
end=$((SECONDS + 30))
while pgrep -f "node --config $W/c/node2/node.json" >/dev/null; do
    [ "$SECONDS" -lt "$end" ] || fail "validator 2 still alive 30 s after SIGKILL"
    sleep 0.1
done
set +e
"$CERTA" status --to all --genesis "$W/c/genesis.json" --timeout-ms 2000 >"$W/st.out" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "status with a validator down: rc $rc $(cat "$W/st.out")"
[ "$(grep -c ' height ' "$W/st.out")" = 3 ] || fail "status: the live validators did not all answer: $(cat "$W/st.out")"
grep -q '^node2 .*no answer' "$W/st.out" || fail "status: the dead validator is not named: $(cat "$W/st.out")"
echo "it_node_resubmit: 2 passed, 0 failed"
