#!/usr/bin/env bash
# The client-side commands without a validator: `certa submit` and
# `certa status` check their arguments, resolve endpoints through genesis,
# refuse a key that is not the integrator's, give up by their deadline when
# nobody answers, and exit with the documented codes (0 ok, 1 not
# committed / no answer, 2 usage, 3 runtime error).
set -euo pipefail
CERTA=${CERTA_BIN:?CERTA_BIN must point at the certa binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { # expect_rc CODE cmd...
  local want=$1; shift
  set +e; "$@" >"$work/out" 2>"$work/err"; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$work/out" "$work/err" >&2; fail "'$*' exited $rc, expected $want"; }
}

# Ports nobody listens on: a base derived from the process id.
base=$((30000 + ($$ % 1000) * 20))
"$CERTA" genesis --validators 4 --dir "$work/g" --base-port "$base" >/dev/null
g="$work/g/genesis.json"
ep1="tcp://127.0.0.1:$((base + 11))"

expect_rc 0 "$CERTA" submit --help
grep -q -- "--receipts" "$work/out" || fail "submit --help"
expect_rc 0 "$CERTA" status --help
expect_rc 2 "$CERTA" submit --to "$ep1" --integrator app "$work/none.jsonl"
grep -q "are required" "$work/err" || fail "submit usage message: $(cat "$work/err")"
expect_rc 2 "$CERTA" submit --to "$ep1" --integrator app --key k --batch 0 x.jsonl
expect_rc 2 "$CERTA" status
expect_rc 2 "$CERTA" status --to all --timeout-ms x

# An endpoint that is not in genesis is named, with the known ones.
expect_rc 3 "$CERTA" status --genesis "$g" --to tcp://127.0.0.1:1
grep -q "is not a validator client endpoint" "$work/err" || fail "$(cat "$work/err")"
grep -q "$ep1 (node1)" "$work/err" || fail "known endpoints not listed: $(cat "$work/err")"

# Nobody listens: status says so per validator within its timeout.
start=$(date +%s%N)
expect_rc 1 "$CERTA" status --genesis "$g" --to all --timeout-ms 300
end=$(date +%s%N)
[ "$(grep -c "no answer" "$work/out")" -eq 4 ] || fail "status output: $(cat "$work/out")"
[ $(( (end - start) / 1000000 )) -lt 5000 ] || fail "status took more than 5 s"
expect_rc 1 "$CERTA" status --genesis "$g" --to node2 --timeout-ms 200 --json
grep -q '"error"' "$work/out" || fail "status --json: $(cat "$work/out")"

# A key that is not the integrator's is refused before anything is sent.
printf '{"kind":"revoke","grant_id":"00112233445566778899aabbccddeeff","holder_id":"%s"}\n' \
  "$(printf '11%.0s' $(seq 32))" > "$work/ev.jsonl"
expect_rc 3 "$CERTA" submit --genesis "$g" --to node1 --integrator library \
  --key "$work/g/integrators/app.pem" "$work/ev.jsonl"
grep -q "is not integrator \"library\"'s key" "$work/err" || fail "$(cat "$work/err")"

# Nobody listens: the batch is not committed by its deadline: exit 1.
CERTA_GENESIS="$g" expect_rc 1 "$CERTA" submit --to "$ep1" --integrator app \
  --key "$work/g/integrators/app.pem" --deadline-ms 300 --receipts "$work/r.jsonl" \
  --quiet "$work/ev.jsonl"
grep -q "not committed  1" "$work/out" || fail "summary: $(cat "$work/out")"
grep -q "deadline of 300 ms" "$work/out" || fail "summary: $(cat "$work/out")"
[ ! -s "$work/r.jsonl" ] || fail "receipts written without a receipt"
# certa code: the documented values (docs/PROTOCOL.md, "Events (JSON)"),
# usage errors, and fresh values that a rules-2 dry run accepts
expect_rc 0 "$CERTA" code commit --salt a1b2c3d4e5f60718293a4b5c6d7e8f90 --code 48213907
[ "$(cat "$work/out")" = c2b8eeec88fae73633877667703475c13e453addd8808502a37a70227171c1f3 ] \
  || fail "code commit: $(cat "$work/out")"
expect_rc 0 "$CERTA" code proof --salt a1b2c3d4e5f60718293a4b5c6d7e8f90 --code 48213907
[ "$(cat "$work/out")" = e206cc41b6b36ea93a98db85315ea1ab63374945253ddfd959933d465b6bc269 ] \
  || fail "code proof: $(cat "$work/out")"
expect_rc 0 "$CERTA" code commit --salt a1b2c3d4e5f60718293a4b5c6d7e8f90 --code 48213907 --rules 1
[ "$(cat "$work/out")" = e206cc41b6b36ea93a98db85315ea1ab63374945253ddfd959933d465b6bc269 ] \
  || fail "rules-1 commit: $(cat "$work/out")"
expect_rc 2 "$CERTA" code commit --salt abc
grep -q -- "--salt: expected 32 hex digits" "$work/err" || fail "code --salt message"
expect_rc 2 "$CERTA" code proof --salt a1b2c3d4e5f60718293a4b5c6d7e8f90 --code 1234
grep -q -- "--code: expected exactly 8 digits" "$work/err" || fail "code --code message"
expect_rc 2 "$CERTA" code frob
for m in code qr; do
  if [ "$m" = qr ]; then expect_rc 0 "$CERTA" code new --qr; else expect_rc 0 "$CERTA" code new; fi
  python3 - "$work/out" "$m" > "$work/day-$m.jsonl" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
m = sys.argv[2]
t = 1893718800000
gid = "77" * 16
print(json.dumps({"kind": "tick", "time_ms": t}))
print(json.dumps({"integrator": "app", "kind": "grant", "grant_id": gid, "holder_id": "ab" * 32,
                  "licence_types": ["id_card"], "centre": 2, "counter": 7, "matter": 1001,
                  "not_before_ms": t, "not_after_ms": t + 3600000, "max_uses": 1,
                  "method": m, "code_commit": v["code_commit"]}))
print(json.dumps({"kind": "tick", "time_ms": t + 60000}))
print(json.dumps({"integrator": "counter-dongcheng", "kind": "redeem", "grant_id": gid,
                  "centre": 2, "counter": 7, "matter": 1001, "code_proof": v["code_proof"],
                  "licences": [{"id": "11" * 16, "type": "id_card", "digest": "22" * 32}]}))
PY
  expect_rc 0 "$CERTA" dry-run --genesis "$g" "$work/day-$m.jsonl"
done
echo "it_client_tools: ok"
