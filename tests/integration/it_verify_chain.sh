#!/usr/bin/env bash
# `certa verify-chain` on a chain written by `certa dry-run --data`: a clean
# chain verifies; every kind of damage is caught with the right height:
# a flipped bit in a middle and in the last record, a zeroed 4 KiB page, a
# truncated tail, and edits with recomputed checksums (an event changed, a
# previous-header hash changed, a header field changed).
set -euo pipefail
CERTA=${CERTA_BIN:?CERTA_BIN must point at the certa binary}
SRC=${CERTA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

probe=$("$CERTA" verify-chain --data "$work/none" 2>&1 || true)
if grep -q "not built" <<<"$probe"; then
  echo "SKIP: verify-chain needs the merkle module"; exit 0
fi
"$CERTA" verify-chain --help >/dev/null || fail "--help"
set +e; "$CERTA" verify-chain >/dev/null 2>&1; rc=$?; set -e
[ "$rc" -eq 2 ] || fail "no --data: exit $rc, expected 2"
set +e; "$CERTA" verify-chain --data "$work/none" >/dev/null 2>&1; rc=$?; set -e
[ "$rc" -eq 3 ] || fail "missing directory: exit $rc, expected 3"

"$CERTA" genesis --validators 4 --dir "$work/g" --base-port 27400 >/dev/null
set +e
"$CERTA" dry-run --genesis "$work/g/genesis.json" --data "$work/clean" \
  "$SRC/tests/data/day_one_counter.jsonl" >/dev/null 2>"$work/err"; rc=$?
set -e
[ "$rc" -le 1 ] || { cat "$work/err"; fail "dry-run --data exit $rc"; }

"$CERTA" verify-chain --data "$work/clean" --list > "$work/out" || fail "clean chain: $(cat "$work/out")"
grep -qx OK "$work/out" || fail "no OK"
last=$(grep -c '^block ' "$work/out"); last=$((last - 1))
[ "$last" -ge 12 ] || fail "chain too short ($last) for the test"
grep -q "^events [1-9]" "$work/out" || fail "no events counted"
"$CERTA" verify-chain --data "$work/clean/blocks" --threads 1 --quiet > "$work/q" || fail "--threads 1"
"$CERTA" verify-chain --data "$work/clean" --io direct | grep -qx OK || fail "--io direct"
set +e; "$CERTA" verify-chain --data "$work/clean" --io sideways >/dev/null 2>&1; rc=$?; set -e
[ "$rc" -eq 2 ] || fail "--io sideways: exit $rc, expected 2"
[ ! -s "$work/q" ] || fail "--quiet printed"
# progress: lines on stderr with --progress (here at every retired group of
# blocks), the last one at the last height; none by default off a terminal
CERTA_VERIFY_CHAIN_PROGRESS_MS=0 "$CERTA" verify-chain --data "$work/clean" --progress \
  >/dev/null 2>"$work/prog" || fail "--progress: $(cat "$work/prog")"
grep -q "^verify-chain: height $last, $((last + 1)) blocks, [1-9][0-9]* events" "$work/prog" \
  || fail "--progress: no final line at height $last: $(cat "$work/prog")"
CERTA_VERIFY_CHAIN_PROGRESS_MS=0 "$CERTA" verify-chain --data "$work/clean" \
  >/dev/null 2>"$work/prog2" || fail "default progress"
[ ! -s "$work/prog2" ] || fail "progress lines off a terminal without --progress: $(cat "$work/prog2")"
mid=10

# where block H's record sits: "SEGFILE OFFSET BYTES"
where() { awk -v h="$1" '$1=="block" && $2==h {print $4, $6, $8}' "$work/out"; }

# Damage helpers: damage_in DIR KIND HEIGHT damages the chain in DIR;
# damage KIND HEIGHT does it on a fresh copy and prints its path. KIND is
# one of flip-payload zero-page truncate edit-event edit-prev edit-time.
damage_in() {
  local dir=$1 kind=$2 h=$3
  read -r seg off len <<<"$(where "$h")"
  python3 - "$dir/blocks/$seg" "$off" "$len" "$kind" <<'PY'
import sys, struct, os
path, off, plen, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xffffffff
with open(path, 'r+b') as f:
    if kind == 'truncate':
        f.truncate(off + 40 + plen // 2); sys.exit(0)
    if kind == 'zero-page':
        f.seek(off); f.write(bytes(4096)); sys.exit(0)
    f.seek(off); rec = bytearray(f.read(40 + plen))
    pl = 40
    if kind == 'flip-payload':
        rec[pl + plen // 2] ^= 0x04
    else:
        # edits that keep every checksum valid
        if kind == 'edit-event':
            rec[pl + plen - 70] ^= 0x01    # inside the last event of the block
        elif kind == 'edit-prev':
            rec[pl + 40] ^= 0x01           # a byte of the previous-header hash
        elif kind == 'edit-time':
            rec[pl + 24] ^= 0x01           # a byte of the header's timestamp
        struct.pack_into('<I', rec, 28, crc32c(bytes(rec[pl:pl + plen])))
        struct.pack_into('<I', rec, 36, crc32c(bytes(rec[0:36])))
    f.seek(off); f.write(rec)
PY
}
damage() {
  local dir="$work/d-$1-$2"
  rm -rf "$dir"; cp -r "$work/clean" "$dir"
  damage_in "$dir" "$1" "$2"
  echo "$dir"
}

expect_bad() { # expect_bad KIND HEIGHT WANT_HEIGHT
  local dir; dir=$(damage "$1" "$2")
  set +e; "$CERTA" verify-chain --data "$dir" > "$work/v" 2>&1; local rc=$?; set -e
  [ "$rc" -eq 1 ] || { cat "$work/v"; fail "$1 at $2: exit $rc, expected 1"; }
  grep -q "height $3\b" "$work/v" || { cat "$work/v"; fail "$1 at $2: height $3 not named"; }
  set +e; "$CERTA" verify-chain --data "$dir" --io direct > "$work/v2" 2>&1; rc=$?; set -e
  [ "$rc" -eq 1 ] && grep -q "height $3\b" "$work/v2" || { cat "$work/v2"; fail "$1 at $2 (--io direct)"; }
  echo "ok: $1 at height $2 -> $(head -1 "$work/v")"
}

expect_bad flip-payload "$mid" "$mid"
expect_bad flip-payload "$last" "$last"
# certa query --data on the log with a corrupt middle record: the answer
# covers the blocks before the damage only and says so (exit 3, the damage
# named on stderr, a "damage" field in the document); a "not found" there is
# no proof of absence. The clean log answers as usual.
dq="$work/d-flip-payload-$mid"
"$CERTA" query block 0 --data "$work/clean" --genesis "$work/g/genesis.json" > "$work/q0" ||
  fail "query on the clean log"
! grep -q '"damage"' "$work/q0" || fail "clean log reported as damaged: $(cat "$work/q0")"
set +e
"$CERTA" query block 0 --data "$dq" --genesis "$work/g/genesis.json" > "$work/q1" 2> "$work/q1.err"; rc=$?
set -e
[ "$rc" -eq 3 ] || fail "query on a damaged log: exit $rc, expected 3: $(cat "$work/q1.err")"
grep -q "damaged: corrupt record in segment .* (height $mid)" "$work/q1.err" ||
  fail "query: damage not named: $(cat "$work/q1.err")"
grep -q "covers blocks 0..$((mid - 1)) only" "$work/q1.err" || fail "query: vouched blocks: $(cat "$work/q1.err")"
grep -q "\"vouched_blocks\":$mid" "$work/q1" || fail "query: no damage field: $(cat "$work/q1")"
set +e
"$CERTA" query grant "$(printf '%032d' 7)" --data "$dq" --genesis "$work/g/genesis.json" \
  > /dev/null 2> "$work/q2.err"; rc=$?
set -e
[ "$rc" -eq 3 ] || fail "not-found on a damaged log: exit $rc, expected 3: $(cat "$work/q2.err")"
grep -q "may be in the damaged part" "$work/q2.err" || fail "not-found on a damaged log: $(cat "$work/q2.err")"
echo "ok: query --data on a damaged log reports the damage and the blocks it covers"
expect_bad zero-page "$mid" "$mid"
expect_bad truncate "$last" "$last"
expect_bad edit-event "$mid" "$mid"
expect_bad edit-prev "$mid" "$mid"
# A changed header field keeps the block's own checks; the next block's
# link to it breaks, and the message names both heights.
expect_bad edit-time "$mid" "$((mid + 1))"
grep -q "block $mid" "$work/v" || fail "edit-time: block $mid not named"
# The parallel path: block $mid is held back 200 ms in its worker, so the
# blocks after it are verified by the other workers first. Damage in one of
# those is still caught, and when block $mid is bad too, $mid is named.
both="$work/d-both"
rm -rf "$both"; cp -r "$(damage edit-event $((mid + 2)))" "$both"
for t in 2 3 8; do
  set +e
  CERTA_VERIFY_CHAIN_SLOW_HEIGHT=$mid "$CERTA" verify-chain --data "$work/d-edit-event-$((mid + 2))" \
    --threads "$t" > "$work/v" 2>&1; rc=$?
  set -e
  [ "$rc" -eq 1 ] && grep -q "height $((mid + 2))\b" "$work/v" ||
    { cat "$work/v"; fail "threads $t: damage at $((mid + 2)) behind a slow block $mid"; }
done
# also damage block $mid itself in the same copy (an event byte, checksums kept)
damage_in "$both" edit-event "$mid"
for t in 1 2 8; do
  set +e
  CERTA_VERIFY_CHAIN_SLOW_HEIGHT=$mid "$CERTA" verify-chain --data "$both" --threads "$t" \
    > "$work/v" 2>&1; rc=$?
  set -e
  [ "$rc" -eq 1 ] && grep -q "^FAIL height $mid:" "$work/v" ||
    { cat "$work/v"; fail "threads $t: blocks $mid and $((mid + 2)) bad, $mid not named first"; }
done
echo "ok: parallel workers report the first bad height"
# A spare segment after the log (left by a crash of a running store: the
# next segment prepared in the background, never used) and an all-zero
# file after it are not damage; a spare before a used segment is.
spare_case() { # spare_case DIR KIND: KIND spare|zero; prints nothing
  python3 - "$1/blocks" "$2" <<'PY'
import sys, os, struct, glob
d, kind = sys.argv[1], sys.argv[2]
def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xffffffff
n = len(glob.glob(os.path.join(d, '*.seg')))
size = 1 << 20
if kind == 'spare':
    h = bytearray(4096)
    struct.pack_into('<IIIIQQI', h, 0, 0x53545243, 1, n, 3, 0, size, 0)
    struct.pack_into('<I', h, 36, crc32c(bytes(h[:36])))
    body = bytes(h) + bytes(size - 4096)
else:
    body = bytes(size)
with open(os.path.join(d, '%08u.seg' % n), 'wb') as f:
    f.write(body)
PY
}
sp="$work/spare"; rm -rf "$sp"; cp -r "$work/clean" "$sp"
spare_case "$sp" spare
for io in cached direct; do
  "$CERTA" verify-chain --data "$sp" --io $io --quiet > "$work/v" 2>&1 ||
    { cat "$work/v"; fail "--io $io: a trailing spare segment was reported"; }
done
spare_case "$sp" zero
for io in cached direct; do
  set +e; "$CERTA" verify-chain --data "$sp" --io $io > "$work/v" 2>&1; rc=$?; set -e
  [ "$rc" -eq 1 ] || { cat "$work/v"; fail "--io $io: a spare before the last file: exit $rc, expected 1"; }
done
echo "ok: spare segment after the log accepted, spare before a later file refused"
sp="$work/spare2"; rm -rf "$sp"; cp -r "$work/clean" "$sp"
spare_case "$sp" zero
for io in cached direct; do
  "$CERTA" verify-chain --data "$sp" --io $io --quiet > "$work/v" 2>&1 ||
    { cat "$work/v"; fail "--io $io: a trailing all-zero segment was reported"; }
done
echo "ok: all-zero segment after the log accepted"
echo "it_verify_chain: all damage caught"
