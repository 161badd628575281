#!/usr/bin/env bash
# certa merkle log: the one RFC 6962 tree over all events of a chain. On a
# dry-run data directory, the size and root the log prints after every
# block (computed incrementally) equal the full recomputation over the
# first SIZE leaves it prints with --leaves; an inclusion proof at one
# block's size and a consistency proof between two blocks' sizes, made
# from those leaves, verify against the printed roots.
set -euo pipefail
C=${CERTA_BIN:?CERTA_BIN must name the certa binary}
SRC=${CERTA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$C" genesis --validators 4 --dir "$W/g" --base-port 27200 >/dev/null
set +e
"$C" dry-run --genesis "$W/g/genesis.json" --data "$W/d" "$SRC/tests/data/day_one_counter.jsonl" \
    >/dev/null 2>"$W/dry.err"
rc=$?
set -e
[ $rc -le 1 ] || fail "dry-run: rc $rc $(cat "$W/dry.err")"
"$C" merkle log --data "$W/d" >"$W/log.txt" || fail "merkle log"
"$C" merkle log --data "$W/d" --leaves >"$W/leaves.txt" || fail "merkle log --leaves"
blocks=$(wc -l <"$W/log.txt")
[ "$blocks" -ge 10 ] || fail "only $blocks blocks"
total=$(wc -l <"$W/leaves.txt")
[ "$(tail -n 1 "$W/log.txt" | awk '{print $6}')" = "$total" ] || fail "last size is not the leaf count"
sum=0
while read -r _ height _ events _ size _ root; do
    sum=$((sum + events))
    [ "$size" = "$sum" ] || fail "height $height: size $size, the events so far are $sum"
    head -n "$size" "$W/leaves.txt" >"$W/prefix.txt"
    [ "$("$C" merkle root "$W/prefix.txt")" = "$root" ] || fail "height $height: root differs"
done <"$W/log.txt"

# proofs against the sizes the log printed
read -r _ _ _ _ _ s1 _ r1 < <(sed -n 5p "$W/log.txt")
read -r _ _ _ _ _ s2 _ r2 < <(tail -n 1 "$W/log.txt")
head -n "$s2" "$W/leaves.txt" >"$W/new.txt"
"$C" merkle prove "$W/new.txt" $((s1 + 1)) >"$W/inc.json"
grep -q "\"root\": \"$r2\"" "$W/inc.json" || fail "inclusion proof root: $(cat "$W/inc.json")"
"$C" merkle verify-inclusion "$W/inc.json" >/dev/null || fail "inclusion proof does not verify"
"$C" merkle consistency "$W/new.txt" "$s1" >"$W/cons.json"
grep -q "\"old_root\": \"$r1\"" "$W/cons.json" || fail "consistency old root: $(cat "$W/cons.json")"
grep -q "\"new_root\": \"$r2\"" "$W/cons.json" || fail "consistency new root"
"$C" merkle verify-consistency "$W/cons.json" >/dev/null || fail "consistency proof does not verify"
sed -i "s/$r1/$r2/" "$W/cons.json"
set +e
"$C" merkle verify-consistency "$W/cons.json" >/dev/null 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "a consistency proof against another old root: rc $rc"
echo "it_merkle_log: $blocks blocks, $total events: 3 passed, 0 failed"
