#!/usr/bin/env bash
# certa merkle end to end: RFC 6962 reference roots from a leaf file, proofs
# printed as JSON that verify, tampered proofs that do not (exit 1), and
# malformed input refused with exit 3.
set -euo pipefail
C=${CERTA_BIN:?CERTA_BIN must name the certa binary}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { # expected-code command...
  local want=$1; shift
  set +e; "$@" >"$W/out" 2>"$W/err"; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$W/out" "$W/err" >&2; fail "'$*' exited $rc, want $want"; }
}

printf '\n00\n10\n2021\n3031\n40414243\n5051525354555657\n606162636465666768696a6b6c6d6e6f\n' > "$W/ct.txt"
[ "$("$C" merkle root "$W/ct.txt")" = 5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328 ] \
  || fail "root of the RFC 6962 test leaves"
[ "$("$C" merkle root --threads 4 "$W/ct.txt")" = 5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328 ] \
  || fail "root with 4 threads"
: > "$W/empty.txt"
[ "$("$C" merkle root "$W/empty.txt")" = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 ] \
  || fail "empty tree"
# CRLF line ends and a last line without newline read the same
printf '\r\n00\r\n10\r\n2021\r\n3031\r\n40414243\r\n5051525354555657\r\n606162636465666768696a6b6c6d6e6f' > "$W/crlf.txt"
[ "$("$C" merkle root "$W/crlf.txt")" = 5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328 ] \
  || fail "CRLF file"

# a bigger file: every proof of a few indices verifies
for i in $(seq 0 99); do printf '%04x%s\n' "$i" deadbeef; done > "$W/big.txt"
for idx in 0 1 63 64 98 99; do
  "$C" merkle prove "$W/big.txt" "$idx" > "$W/p.json"
  expect_rc 0 "$C" merkle verify-inclusion "$W/p.json"
done
for old in 0 1 37 64 99 100; do
  "$C" merkle consistency "$W/big.txt" "$old" > "$W/c.json"
  expect_rc 0 "$C" merkle verify-consistency "$W/c.json"
done

# tampering: exit 1 with a reason
"$C" merkle prove "$W/ct.txt" 5 > "$W/p.json"
sed 's/"leaf_index": 5/"leaf_index": 4/' "$W/p.json" > "$W/p2.json"
expect_rc 1 "$C" merkle verify-inclusion "$W/p2.json"
grep -q "does not verify" "$W/err" || fail "no reason printed"
sed 's/bc1a0643/bc1a0644/' "$W/p.json" > "$W/p3.json"
expect_rc 1 "$C" merkle verify-inclusion "$W/p3.json"
"$C" merkle consistency "$W/ct.txt" 6 > "$W/c.json"
sed 's/"new_size": 8/"new_size": 9/' "$W/c.json" > "$W/c2.json"
expect_rc 1 "$C" merkle verify-consistency "$W/c2.json"

# malformed input: exit 3; bad command lines: exit 2
printf '0g\n' > "$W/bad.txt"
expect_rc 3 "$C" merkle root "$W/bad.txt"
grep -q "line 1" "$W/err" || fail "bad hex: line not named"
expect_rc 3 "$C" merkle prove "$W/ct.txt" 8
expect_rc 3 "$C" merkle root "$W/does-not-exist"
echo '{"tree_size": 8}' > "$W/j.json"
expect_rc 3 "$C" merkle verify-inclusion "$W/j.json"
grep -q leaf_index "$W/err" || fail "missing field not named"
sed 's/"root"/"rot"/' "$W/p.json" > "$W/j2.json"
expect_rc 3 "$C" merkle verify-inclusion "$W/j2.json"
echo '{"tree_size": 8,' > "$W/j3.json"
expect_rc 3 "$C" merkle verify-inclusion "$W/j3.json"
expect_rc 2 "$C" merkle frob
expect_rc 2 "$C" merkle root --threads 0 "$W/ct.txt"
expect_rc 2 "$C" merkle prove "$W/ct.txt" x
expect_rc 0 "$C" merkle --help
echo "it_merkle: ok"
