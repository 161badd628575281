#!/usr/bin/env bash
# certa's Merkle proofs checked by a verifier not written here: Go's
# golang.org/x/mod/sumdb/tlog (Debian's golang-go and
# golang-golang-x-mod-dev, built offline: GOPATH=/usr/share/gocode,
# GO111MODULE=off; tests/integration/tlog_check.go). On synthetic leaves
# (an empty one among them) and on the event log of a dry-run chain
# (`certa merkle log --leaves`), every inclusion and consistency proof
# certa prints is checked by tlog: the leaf hash, both roots, the proof,
# and that tlog builds the same path. A proof with one hash flipped must
# fail there too, so a format mistake on either side cannot pass unnoticed.
set -euo pipefail
C=${CERTA_BIN:?CERTA_BIN must name the certa binary}
SRC=${CERTA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v go >/dev/null || fail "needs go (bash tools/install-deps.sh installs golang-go)"
[ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ] ||
    fail "needs golang-golang-x-mod-dev (bash tools/install-deps.sh)"

mkdir -p "$W/gopath/src/tlogcheck" "$W/gocache"
cp "$SRC/tests/integration/tlog_check.go" "$W/gopath/src/tlogcheck/main.go"
(cd "$W/gopath/src/tlogcheck" &&
    GOPATH="$W/gopath:/usr/share/gocode" GO111MODULE=off GOCACHE="$W/gocache" GOFLAGS= \
        go build -o "$W/tlog_check" .) 2>"$W/go.err" || fail "go build: $(cat "$W/go.err")"

# proofs FILE TAG: every leaf index of some sizes and every old size into
# the whole, as JSON files P-TAG-*.json
proofs() {
    local file=$1 tag=$2 total k n
    total=$(wc -l <"$file")
    for n in 1 2 3 5 8 13 21 $((total / 2)) $((total - 1)) "$total"; do
        [ "$n" -ge 1 ] && [ "$n" -le "$total" ] || continue
        head -n "$n" "$file" >"$W/prefix.txt"
        for k in 0 $((n / 3)) $((n / 2)) $((n - 1)); do
            "$C" merkle prove "$W/prefix.txt" "$k" >"$W/P-$tag-i-$n-$k.json"
        done
        for k in 1 $((n / 2)) $((n - 1)) "$n"; do
            [ "$k" -ge 1 ] || continue
            "$C" merkle consistency "$W/prefix.txt" "$k" >"$W/P-$tag-c-$n-$k.json"
        done
    done
}

# synthetic leaves: 100 of lengths 0..99 bytes
python3 - "$W/synth.txt" <<'PY'
import hashlib, sys
with open(sys.argv[1], "w") as f:
    for i in range(100):
        f.write((hashlib.sha512(b"leaf %d" % i).digest() * 2)[:i].hex() + "\n")
PY
proofs "$W/synth.txt" s
"$W/tlog_check" "$W/synth.txt" "$W"/P-s-*.json >"$W/s.out" 2>&1 || fail "synthetic leaves: $(cat "$W/s.out")"
cat "$W/s.out"

# the event log of a real chain
"$C" genesis --validators 4 --dir "$W/g" --base-port 27300 >/dev/null
set +e
"$C" dry-run --genesis "$W/g/genesis.json" --data "$W/d" "$SRC/tests/data/day_one_counter.jsonl" \
    >/dev/null 2>"$W/dry.err"
rc=$?
set -e
[ $rc -le 1 ] || fail "dry-run: rc $rc $(cat "$W/dry.err")"
"$C" merkle log --data "$W/d" --leaves >"$W/chain.txt" || fail "merkle log --leaves"
[ "$(wc -l <"$W/chain.txt")" -ge 20 ] || fail "only $(wc -l <"$W/chain.txt") events"
proofs "$W/chain.txt" c
"$W/tlog_check" "$W/chain.txt" "$W"/P-c-*.json >"$W/c.out" 2>&1 || fail "chain's event log: $(cat "$W/c.out")"
cat "$W/c.out"
# and the log's printed roots are tlog's too: the last line's root is the
# root of every leaf, which the whole-file consistency proof's new_root is
last_root=$("$C" merkle log --data "$W/d" | tail -n 1 | awk '{print $8}')
total=$(wc -l <"$W/chain.txt")
"$C" merkle consistency "$W/chain.txt" 1 >"$W/whole.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(d["new_root"] != sys.argv[2])' \
    "$W/whole.json" "$last_root" || fail "merkle log's last root is not the root of its leaves"
"$W/tlog_check" "$W/chain.txt" "$W/whole.json" >/dev/null || fail "whole-log proof"

# a flipped hash fails under tlog as well
for f in "$W/P-s-i-100-50.json" "$W/P-s-c-100-50.json"; do
    python3 - "$f" "$W/bad.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
h = d["path"][0]
d["path"][0] = ("0" if h[0] != "0" else "1") + h[1:]
json.dump(d, open(sys.argv[2], "w"))
PY
    set +e
    "$W/tlog_check" "$W/synth.txt" "$W/bad.json" >"$W/bad.out" 2>&1
    rc=$?
    set -e
    [ "$rc" -eq 1 ] || fail "tlog accepted a tampered proof ($f): rc $rc $(cat "$W/bad.out")"
done
echo "ok: certa's inclusion and consistency proofs hold under Go's sumdb/tlog, tampered ones do not"
