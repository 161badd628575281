#!/usr/bin/env bash
# The client protocol as documented is enough to write a peer in another
# language: tests/integration/client_spec_server.py is a fake validator in
# Python (pyzmq, CURVE) written from docs/PROTOCOL.md alone, and `certa
# status`, `certa query --to` and `certa submit` must work against it:
# status figures, holder/grant/block query bodies as the byte table lays
# them out and their documents printed as sent, a BUSY retried after its
# hint, a receipt with a rejected entry, a refused batch counted as not
# committed, receipts written as JSON lines.
set -euo pipefail
CERTA=${CERTA_BIN:?CERTA_BIN must point at the certa binary}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

py=""
for cand in python3 /usr/bin/python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import zmq' 2>/dev/null; then py=$cand; break; fi
done
[ -n "$py" ] || fail "no python3 with the zmq module (apt-get install python3-zmq, see tools/install-deps.sh)"

base=$((32000 + ($$ % 1000) * 20))
"$CERTA" genesis --validators 4 --dir "$work/g" --base-port "$base" >/dev/null
export CERTA_GENESIS="$work/g/genesis.json"
"$py" "$here/client_spec_server.py" "$work/g" 0 600 &
server_pid=$!

# status: retried until the server is up (it may take a moment to bind).
ok=0
end=$((SECONDS + 60))
while [ "$SECONDS" -lt "$end" ]; do
  if "$CERTA" status --to node0 --timeout-ms 1000 >"$work/status" 2>&1; then ok=1; break; fi
  sleep 0.1
done
[ "$ok" -eq 1 ] || fail "status never answered: $(cat "$work/status")"
grep -q "height 42  view 1  primary 1  events/s 1234" "$work/status" || fail "status: $(cat "$work/status")"
grep -q "n 4 f 1 epoch 0  chain ok  peers node1:up node2:down node3:down" "$work/status" \
  || fail "status chain and peers: $(cat "$work/status")"
"$CERTA" status --to node0 --json >"$work/status.json"
grep -q '"events_per_s": 1234.5' "$work/status.json" || fail "status --json: $(cat "$work/status.json")"

# query --to: the body laid out as the byte table says (the fake answers
# ERROR 701 otherwise), the document printed as it came, not-found exit 1.
for spec in "holder $(printf 'ab%.0s' {1..32}) 5 7" "grant $(printf 'ef%.0s' {1..16}) 0 3" \
            "block 17 2 9"; do
  set -- $spec
  "$CERTA" query "$1" "$2" --to node0 --cursor "$3" --limit "$4" >"$work/q.out" 2>"$work/q.err" \
    || fail "query $spec: $(cat "$work/q.err")"
  "$py" - "$here" "$@" "$work/q.out" <<'PY' || fail "query $spec printed: $(cat "$work/q.out")"
import json, sys
sys.path.insert(0, sys.argv[1])
from client_spec_server import query_doc
what, ident, cursor, limit, out = sys.argv[2:7]
kind = {"holder": 1, "grant": 2, "block": 3}[what]
ident = int(ident) if what == "block" else ident
want = json.dumps(query_doc(kind, ident, int(cursor), int(limit)), separators=(",", ":"))
sys.exit(0 if open(out).read() == want + "\n" else 1)
PY
done
# query integrator: the name as the byte table says; an unknown name exits 1.
"$CERTA" query integrator app --to node0 >"$work/q.out" 2>"$work/q.err" \
  || fail "query integrator: $(cat "$work/q.err")"
grep -qx '{"integrator":"app","index":[0-9]*,"highest_seq":7,"height":42}' "$work/q.out" \
  || fail "query integrator printed: $(cat "$work/q.out")"
set +e
"$CERTA" query integrator nobody --to node0 >"$work/q.out" 2>"$work/q.err"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "query of an unknown integrator exited $rc: $(cat "$work/q.err")"
grep -q "no such integrator nobody" "$work/q.err" || fail "unknown integrator: $(cat "$work/q.err")"
set +e
"$CERTA" query grant 00000000000000000000000000000000 --to node0 >"$work/q.out" 2>"$work/q.err"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "query of an absent grant exited $rc: $(cat "$work/q.err")"
grep -q "no such item at height 42" "$work/q.err" || fail "not found: $(cat "$work/q.err")"

# submit: 7 events in batches of 3 -> seq 1 (BUSY once, then a rejected
# entry), seq 2 (refused), seq 3 (one event, ok).
for i in 1 2 3 4 5 6 7; do
  printf '{"kind":"revoke","grant_id":"%032x","holder_id":"%064x"}\n' "$i" "$i"
done > "$work/events.jsonl"
set +e
"$CERTA" submit --to node0 --integrator app --key "$work/g/integrators/app.pem" --batch 3 \
  --deadline-ms 60000 --receipts "$work/receipts.jsonl" --quiet "$work/events.jsonl" >"$work/out" 2>"$work/err"
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat "$work/out" "$work/err"; fail "submit exited $rc, expected 1 (a batch was refused)"; }
grep -q "submitted 7 events in 3 batches" "$work/out" || fail "$(cat "$work/out")"
grep -q "ok             3" "$work/out" || fail "ok count: $(cat "$work/out")"
grep -q "rejected       1: code_mismatch 1" "$work/out" || fail "rejected: $(cat "$work/out")"
grep -q "not committed  3" "$work/out" || fail "not committed: $(cat "$work/out")"
grep -q "sequence number already used" "$work/out" || fail "last error: $(cat "$work/out")"
[ "$(wc -l < "$work/receipts.jsonl")" -eq 4 ] || fail "receipts: $(cat "$work/receipts.jsonl")"
grep -q '"result":"rejected","code":11,"reason":"code_mismatch"' "$work/receipts.jsonl" \
  || fail "receipt JSON: $(head -c 400 "$work/receipts.jsonl")"
echo "it_client_spec: ok"
