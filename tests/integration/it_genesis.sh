#!/usr/bin/env bash
# `certa genesis` end to end: writes, checks, refuses what it must, with the
# documented exit codes (0 ok, 1 invalid genesis, 2 usage, 3 runtime error).
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

expect_rc 0 "$CERTA" genesis --help
grep -q "3f+1" "$work/out" || fail "--help does not explain n"

expect_rc 0 "$CERTA" genesis --validators 4 --dir "$work/g" --base-port 27000
for k in 0 1 2 3; do
  for f in sign.pem curve.key; do
    [ "$(stat -c %a "$work/g/node$k/$f")" = 600 ] || fail "node$k/$f is not mode 600"
  done
  [ -f "$work/g/node$k/node.json" ] || fail "node$k/node.json missing"
done
[ "$(stat -c %a "$work/g/integrators/counter-dongcheng.pem")" = 600 ] || fail "integrator key mode"

expect_rc 0 "$CERTA" genesis check "$work/g/genesis.json"
grep -q "validators:    4 (f = 1" "$work/out" || fail "check summary: $(cat "$work/out")"
grep -q "personal 107 from 11 bureaus, company 168 from 14 bureaus" "$work/out" || fail "matters"
grep -q "centres:       17" "$work/out" || fail "centres"
hash=$(sha256sum "$work/g/genesis.json" | cut -d' ' -f1)
grep -q "chain hash:    $hash" "$work/out" || fail "chain hash is not SHA-256 of the file"

# An existing genesis is kept unless --force.
expect_rc 3 "$CERTA" genesis --validators 4 --dir "$work/g" --base-port 27000
grep -q -- "--force" "$work/err" || fail "overwrite refusal does not mention --force"
expect_rc 0 "$CERTA" genesis --validators 4 --dir "$work/g" --base-port 27000 --force
hash2=$(sha256sum "$work/g/genesis.json" | cut -d' ' -f1)
[ "$hash" != "$hash2" ] || fail "--force did not make a new chain"

# n must be 3f+1 >= 4.
for n in 0 1 3 5 6 8; do
  expect_rc 2 "$CERTA" genesis --validators "$n" --dir "$work/n$n"
  grep -q "3f+1" "$work/err" || fail "n=$n: $(cat "$work/err")"
  [ ! -e "$work/n$n" ] || fail "n=$n left a directory"
done
expect_rc 0 "$CERTA" genesis --validators 7 --dir "$work/g7" --base-port 28000
expect_rc 0 "$CERTA" genesis check "$work/g7/genesis.json"
grep -q "validators:    7 (f = 2" "$work/out" || fail "7 validators"

# Usage errors.
expect_rc 2 "$CERTA" genesis --dir "$work/x"
expect_rc 2 "$CERTA" genesis --validators 4
expect_rc 2 "$CERTA" genesis --validators 4 --dir "$work/x" --bogus
expect_rc 2 "$CERTA" genesis check
expect_rc 2 "$CERTA" genesis --validators 4 --dir "$work/x" --base-port 80

# check: an invalid genesis says no (1) naming the field; unreadable is 3.
sed 's/"code_attempts_max": 5/"code_attempts_max": 50/' "$work/g/genesis.json" > "$work/bad.json"
expect_rc 1 "$CERTA" genesis check "$work/bad.json"
grep -q "bad.json: params.code_attempts_max: 50 is out of range" "$work/err" || fail "$(cat "$work/err")"
printf '{"version": 1,' > "$work/syntax.json"
expect_rc 1 "$CERTA" genesis check "$work/syntax.json"
grep -q "syntax.json: line 1" "$work/err" || fail "$(cat "$work/err")"
expect_rc 3 "$CERTA" genesis check "$work/missing.json"
echo "it_genesis: all checks passed"
