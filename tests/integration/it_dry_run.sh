#!/usr/bin/env bash
# `certa dry-run` and `certa query --data` end to end on the default genesis:
# the sample day at one counter gives exactly the expected result per line;
# ticks that go back, unknown integrators and bad lines are handled as
# documented; with --data the chain continues across runs, queries answer
# offline, and the answers do not change when the snapshots are removed
# (full replay) or damaged.
set -euo pipefail
CERTA=${CERTA_BIN:?CERTA_BIN must point at the certa binary}
SRC=${CERTA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
DATA="$SRC/tests/data"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { # expect_rc CODE cmd...
  local want=$1; shift
  set +e; "$@" >"$work/out" 2>"$work/err"; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$work/out" "$work/err" >&2; fail "'$*' exited $rc, expected $want"; }
}

expect_rc 0 "$CERTA" dry-run --help
expect_rc 2 "$CERTA" dry-run "$DATA/day_one_counter.jsonl"
expect_rc 0 "$CERTA" genesis --validators 4 --dir "$work/g" --base-port 27100
G="$work/g/genesis.json"

# the sample day: every line's result as expected; some rejected -> exit 1
expect_rc 1 "$CERTA" dry-run --genesis "$G" "$DATA/day_one_counter.jsonl"
diff "$work/out" "$DATA/day_one_counter.expected.jsonl" >&2 || fail "sample day results differ"
grep -q '"rules": 2' "$G" || grep -q '"rules":2' "$G" || fail "certa genesis writes no rules 2"

# a chain made before rules versions: its genesis has no "rules" (rules 1)
# and the sample day as it was then (evidence unbound, codes in the clear)
# still gets exactly the results it got then
python3 - "$G" "$work/g1.json" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
del g["params"]["rules"]
json.dump(g, open(sys.argv[2], "w"), indent=2)
PY
expect_rc 1 "$CERTA" dry-run --genesis "$work/g1.json" "$DATA/day_one_counter_rules1.jsonl"
diff "$work/out" "$DATA/day_one_counter_rules1.expected.jsonl" >&2 || fail "rules 1 results differ"
# and the same old events on a rules-2 genesis: unbound evidence and codes
# in the clear are refused
expect_rc 1 "$CERTA" dry-run --genesis "$G" "$DATA/day_one_counter_rules1.jsonl"
grep -q '"reason":"code_unsealed"' "$work/out" || fail "rules 2 took a code in the clear"

# standard input and --as
printf '%s\n' '{"kind":"tick","time_ms":1893718800000}' \
  '{"kind":"revoke","grant_id":"00112233445566778899aabbccddeeff","holder_id":"'"$(printf 'ab%.0s' {1..32})"'"}' \
  > "$work/as.jsonl"
expect_rc 1 "$CERTA" dry-run --genesis "$G" --as app - < "$work/as.jsonl"
grep -qx '{"line":2,"result":"rejected","reason":"unknown_grant"}' "$work/out" || fail "--as: $(cat "$work/out")"
# no integrator and no --as: that line is malformed, the run goes on
expect_rc 1 "$CERTA" dry-run --genesis "$G" "$work/as.jsonl"
grep -q '"line":2,"result":"rejected","reason":"malformed","error":".*no \\"integrator\\"' "$work/out" \
  || fail "missing integrator not reported as malformed: $(cat "$work/out" "$work/err")"
expect_rc 2 "$CERTA" dry-run --genesis "$G" --as nobody "$work/as.jsonl"

# time never goes back
printf '%s\n' '{"kind":"tick","time_ms":1893718800000}' '{"kind":"tick","time_ms":1893718799999}' \
  > "$work/back.jsonl"
expect_rc 3 "$CERTA" dry-run --genesis "$G" "$work/back.jsonl"
grep -q "back.jsonl:2: tick" "$work/err" || fail "time going back not named: $(cat "$work/err")"

# a line that is not an event is reported malformed, the rest goes on
printf '%s\n' '{"kind":"tick","time_ms":1893718800000}' '{"kind":"revoke","grant_id":"zz"}' \
  '{"integrator":"app","kind":"revoke","grant_id":"00112233445566778899aabbccddeeff","holder_id":"'"$(printf 'cd%.0s' {1..32})"'"}' \
  > "$work/bad.jsonl"
expect_rc 1 "$CERTA" dry-run --genesis "$G" "$work/bad.jsonl"
grep -q '"line":2,"result":"rejected","reason":"malformed"' "$work/out" || fail "bad line: $(cat "$work/out")"
grep -q '"line":3,"result":"rejected","reason":"unknown_grant"' "$work/out" || fail "line after a bad one"

# a line over 65536 bytes is malformed too, and so is a NUL byte; the run goes on
{ echo '{"kind":"tick","time_ms":1893718800000}'
  printf '{"kind":"revoke","grant_id":"%s"}\n' "$(head -c 70000 /dev/zero | tr '\0' a)"
  printf '{\0}\n'
  echo '{"integrator":"app","kind":"revoke","grant_id":"00112233445566778899aabbccddeeff","holder_id":"'"$(printf 'cd%.0s' {1..32})"'"}'
} > "$work/long.jsonl"
expect_rc 1 "$CERTA" dry-run --genesis "$G" "$work/long.jsonl"
grep -q '"line":2,"result":"rejected","reason":"malformed","error":".*line longer than 65536' "$work/out" \
  || fail "long line: $(cat "$work/out" "$work/err")"
grep -q '"line":3,"result":"rejected","reason":"malformed","error":".*NUL byte' "$work/out" \
  || fail "NUL line: $(cat "$work/out" "$work/err")"
grep -q '"line":4,"result":"rejected","reason":"unknown_grant"' "$work/out" || fail "line after a long one"

if ! "$CERTA" query --help >/dev/null 2>&1; then
  echo "SKIP: --data and query need the block log module"
  exit 0
fi

# --data: blocks, snapshots, offline queries
D="$work/data"
expect_rc 1 "$CERTA" dry-run --genesis "$G" --data "$D" "$DATA/day_one_counter.jsonl"
diff "$work/out" "$DATA/day_one_counter.expected.jsonl" >&2 || fail "results differ with --data"
ls "$D"/snapshots/*.snap >/dev/null || fail "no snapshot written"
holder3=$(printf 'holder 3' | sha256sum | cut -c1-64)
grant22=$(printf 'grant 22' | sha256sum | cut -c1-32)
expect_rc 0 "$CERTA" query holder "$holder3" --data "$D"
cp "$work/out" "$work/holder3.json"
grep -q '"reason":"code_mismatch"' "$work/holder3.json" || fail "holder 3 records: $(cat "$work/holder3.json")"
[ "$(grep -o '"seq"' "$work/holder3.json" | wc -l)" -eq 6 ] || fail "holder 3 should have 6 records"
expect_rc 0 "$CERTA" query grant "$grant22" --data "$D"
cp "$work/out" "$work/grant22.json"
grep -q '"status":"locked"' "$work/grant22.json" || fail "grant 22 not locked: $(cat "$work/grant22.json")"
grep -q '"failed_attempts":5' "$work/grant22.json" || fail "grant 22 attempts"
# paging: 7 history entries, 3 per page
expect_rc 0 "$CERTA" query grant "$grant22" --data "$D" --limit 3
cur=$(grep -o '"next_cursor":[0-9]*' "$work/out" | cut -d: -f2)
[ -n "$cur" ] || fail "no next_cursor"
expect_rc 0 "$CERTA" query grant "$grant22" --data "$D" --limit 3 --cursor "$cur"
grep -q '"next_cursor"' "$work/out" || fail "second page should not be the last"
expect_rc 1 "$CERTA" query holder "$(printf 'nobody' | sha256sum | cut -c1-64)" --data "$D"
expect_rc 2 "$CERTA" query holder abc --data "$D"
expect_rc 2 "$CERTA" query grant "$grant22"
# a block of the dry run's log: header and events, no commit certificate
expect_rc 0 "$CERTA" query block 1 --data "$D" --limit 2
grep -q '"height":1,"hash":"[0-9a-f]\{64\}","header":{"height":1,' "$work/out" || fail "block 1: $(head -c 300 "$work/out")"
grep -q '"events":\[{"index":0,"integrator":"' "$work/out" || fail "block 1 events: $(head -c 600 "$work/out")"
if grep -q '"commit"' "$work/out"; then fail "a dry-run block has no commit certificate"; fi
expect_rc 1 "$CERTA" query block 99999 --data "$D"
grep -q "no such block 99999" "$work/err" || fail "no such block: $(cat "$work/err")"

# without snapshots (full replay) and with a damaged one: same answers
mv "$D/snapshots" "$work/snaps.saved"
expect_rc 0 "$CERTA" query holder "$holder3" --data "$D"
cmp "$work/out" "$work/holder3.json" || fail "full replay answers differently"
mv "$work/snaps.saved" "$D/snapshots"
for f in "$D"/snapshots/*.snap; do printf '\x01' | dd of="$f" bs=1 seek=300 conv=notrunc 2>/dev/null; done
expect_rc 0 "$CERTA" query grant "$grant22" --data "$D"
cmp "$work/out" "$work/grant22.json" || fail "damaged snapshot changed the answer"

# a second run continues the chain: later ticks, the same grants
printf '%s\n' '{"kind":"tick","time_ms":1893800000000}' \
  '{"integrator":"app","kind":"revoke","grant_id":"'"$grant22"'","holder_id":"'"$(printf 'holder 22' | sha256sum | cut -c1-64)"'"}' \
  > "$work/more.jsonl"
expect_rc 0 "$CERTA" dry-run --genesis "$G" --data "$D" "$work/more.jsonl"
grep -qx '{"line":2,"result":"ok"}' "$work/out" || fail "continued run: $(cat "$work/out")"
expect_rc 0 "$CERTA" query grant "$grant22" --data "$D"
grep -q '"status":"revoked"' "$work/out" || fail "revoke not seen after the second run"
# the chain the dry runs wrote passes the auditor (hash chain, event roots)
if "$CERTA" verify-chain --help >/dev/null 2>&1; then
  expect_rc 0 "$CERTA" verify-chain --data "$D"
  grep -q "heights 0..31" "$work/out" || fail "verify-chain: $(cat "$work/out")"
fi
# another genesis is refused on the same data directory
expect_rc 0 "$CERTA" genesis --validators 4 --dir "$work/g2" --base-port 27200
expect_rc 3 "$CERTA" dry-run --genesis "$work/g2/genesis.json" --data "$D" "$work/more.jsonl"
echo "it_dry_run: ok"
