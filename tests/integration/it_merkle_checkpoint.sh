#!/usr/bin/env bash
# Signed checkpoints of the event log over the whole chain (`certa merkle
# checkpoint`), in the C2SP tlog-checkpoint / signed-note formats: each
# validator of a dry-run chain's genesis signs its log; verify needs 2f+1
# genesis validators' good signatures and, with --data, the root of that
# log; merge prints one note with them all. Checked by verifiers not
# written here: Go's golang.org/x/mod/sumdb/note opens the merged note with
# the validators' keys and sumdb/tlog recomputes its root from the leaves
# (tests/integration/note_check.go). Bad input is refused naming what is
# wrong: a flipped signature, a flipped root, another chain's origin, a
# key that is not the named validator's, too few signatures.
set -euo pipefail
C=${CERTA_BIN:?CERTA_BIN must name the certa binary}
SRC=${CERTA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { # expect_rc CODE cmd...
  local want=$1; shift
  set +e; "$@" >"$W/out" 2>"$W/err"; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$W/out" "$W/err" >&2; fail "'$*' exited $rc, expected $want"; }
}

"$C" genesis --validators 4 --dir "$W/g" --base-port 27400 >/dev/null
G=$W/g/genesis.json
set +e
"$C" dry-run --genesis "$G" --data "$W/d" "$SRC/tests/data/day_one_counter.jsonl" >/dev/null 2>&1
set -e
for k in 0 1 2 3; do
    expect_rc 0 "$C" merkle checkpoint sign --data "$W/d" --genesis "$G" \
        --key "$W/g/node$k/sign.pem" --name "node$k"
    cp "$W/out" "$W/cp$k.txt"
done
size=$(sed -n 2p "$W/cp0.txt")
root_hex=$("$C" merkle log --data "$W/d" | tail -1 | sed 's/.*log_root //')
[ "$(sed -n 3p "$W/cp0.txt" | base64 -d | od -An -tx1 | tr -d ' \n')" = "$root_hex" ] ||
    fail "the checkpoint's root is not the log's"
[ "$size" = "$("$C" merkle log --data "$W/d" | tail -1 | sed 's/.*log_size \([0-9]*\).*/\1/')" ] ||
    fail "the checkpoint's size is not the log's"
grep -q "^certa/beijing-e-licence/" "$W/cp0.txt" || fail "origin: $(head -1 "$W/cp0.txt")"
for k in 1 2 3; do
    cmp -s <(head -3 "$W/cp0.txt") <(head -3 "$W/cp$k.txt") || fail "node$k signed another text"
done

expect_rc 0 "$C" merkle checkpoint verify --genesis "$G" --data "$W/d" "$W/cp0.txt" "$W/cp1.txt" "$W/cp2.txt"
grep -q "3 of 4 validators signed (quorum 3), root matches the log" "$W/out" || fail "verify: $(cat "$W/out")"
expect_rc 1 "$C" merkle checkpoint verify --genesis "$G" "$W/cp0.txt" "$W/cp1.txt"
grep -q "2 validator signature(s), a quorum is 3 of 4" "$W/out" || fail "two of four: $(cat "$W/out")"
expect_rc 1 "$C" merkle checkpoint verify --genesis "$G" "$W/cp0.txt" "$W/cp0.txt" "$W/cp0.txt"
grep -q "1 validator signature" "$W/out" || fail "one signature counted thrice: $(cat "$W/out")"
expect_rc 0 "$C" merkle checkpoint merge --genesis "$G" "$W/cp0.txt" "$W/cp1.txt" "$W/cp2.txt" "$W/cp3.txt"
cp "$W/out" "$W/all.txt"
[ "$(grep -c '^— node' "$W/all.txt")" -eq 4 ] || fail "merge: $(cat "$W/all.txt")"
expect_rc 0 "$C" merkle checkpoint verify --genesis "$G" --data "$W/d" "$W/all.txt"

# damage: a signature, the root, the origin
python3 - "$W/all.txt" "$W" <<'PY'
import base64, sys
lines = open(sys.argv[1]).read().split("\n")
def put(name, ls): open(sys.argv[2] + "/" + name, "w").write("\n".join(ls))
s = lines[:]
pre, b = s[4].rsplit(" ", 1)
raw = bytearray(base64.b64decode(b)); raw[10] ^= 1
s[4] = pre + " " + base64.b64encode(bytes(raw)).decode()
put("badsig.txt", s)
r = lines[:]
raw = bytearray(base64.b64decode(r[2])); raw[0] ^= 1
r[2] = base64.b64encode(bytes(raw)).decode()
put("badroot.txt", r)
o = lines[:]
o[0] = o[0] + "x"
put("badorigin.txt", o)
PY
expect_rc 1 "$C" merkle checkpoint verify --genesis "$G" "$W/badsig.txt"
grep -q "the signature of node0 does not verify" "$W/out" || fail "bad signature: $(cat "$W/out")"
expect_rc 1 "$C" merkle checkpoint verify --genesis "$G" "$W/badroot.txt"
expect_rc 1 "$C" merkle checkpoint verify --genesis "$G" "$W/badorigin.txt"
expect_rc 3 "$C" merkle checkpoint sign --data "$W/d" --genesis "$G" --key "$W/g/node1/sign.pem" --name node0
grep -q "is not the signing key of validator 'node0'" "$W/err" || fail "wrong key: $(cat "$W/err")"
expect_rc 2 "$C" merkle checkpoint sign --genesis "$G"
printf 'not a note\n' >"$W/junk.txt"
expect_rc 3 "$C" merkle checkpoint verify --genesis "$G" "$W/junk.txt"
grep -q "junk.txt: line 2: expected the log size" "$W/err" || fail "junk: $(cat "$W/err")"

# Go's sumdb/note and sumdb/tlog, when installed (tools/install-deps.sh)
. "$SRC/tests/integration/lib_note.sh"
if note_check_build "$W"; then
    "$C" merkle log --data "$W/d" --leaves >"$W/leaves.txt"
    vkeys=$(note_vkeys "$G")
    # shellcheck disable=SC2086
    "$W/note_check" "$W/all.txt" "$W/leaves.txt" $vkeys || fail "sumdb/note refused the checkpoint"
    # shellcheck disable=SC2086
    if "$W/note_check" "$W/badsig.txt" "$W/leaves.txt" $vkeys 2>/dev/null; then
        fail "sumdb/note took a flipped signature"
    fi
    # shellcheck disable=SC2086
    if "$W/note_check" "$W/badroot.txt" "$W/leaves.txt" $vkeys 2>/dev/null; then
        fail "a flipped root passed"
    fi
else
    fail "needs go and golang-golang-x-mod-dev (bash tools/install-deps.sh)"
fi
echo "it_merkle_checkpoint: ok"
