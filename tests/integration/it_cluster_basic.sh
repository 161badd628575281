#!/usr/bin/env bash
# A 4-validator cluster on 127.0.0.1 (ports 21000..21032): submits grants,
# redeems with wrong and right codes, confirm/sign/photo, revokes and late
# evidence on revoked grants; checks every summary against the generator's
# expectations, every receipt offline (certa receipt verify, when built),
# equal heights on all validators (certa status), the metrics, and each data
# directory's block log (certa verify-chain, when built; and one damaged).
set -euo pipefail
BASE_PORT=$((21000 + ${CERTA_TEST_PORT_OFFSET:-0}))
. "$(dirname "$0")/cluster_lib.sh"
SECONDS=0
cl_init
python3 "$SRC/tests/integration/cluster_events.py" "$W/ev" 300 7 5
cl_start_all
note "cluster up after ${SECONDS}s"

for phase in 1-grants:app 2-wrong:counter-dongcheng 3-redeem:counter-dongcheng \
             4-evidence:counter-dongcheng 5-revoke:app 6-late:counter-dongcheng; do
    f=${phase%%:*}
    who=${phase##*:}
    cl_submit "$who" "$W/ev/$f.jsonl" "$W/$f" --batch 40
    cl_expect "$W/$f" "$f"
    note "$f: $(head -1 "$W/$f.sum")"
done
grep -q 'code_mismatch 43' "$W/2-wrong.sum" || fail "wrong codes: $(cat "$W/2-wrong.sum")"
grep -q 'revoked 60' "$W/6-late.sum" || fail "late evidence: $(cat "$W/6-late.sum")"

# Receipts: one per event, all verify offline.
cat "$W"/[1-6]-*.rc >"$W/all.rc"
total=$(wc -l <"$W/all.rc")
[ "$total" = $((300 + 43 + 300 + 900 + 60 + 60)) ] || fail "receipts: $total lines"
if cl_has receipt; then
    "$CERTA" receipt verify --genesis "$G" "$W/all.rc" >"$W/verify.out" 2>&1 \
        || fail "receipt verify: $(tail -5 "$W/verify.out")"
    note "receipt verify: $(tail -1 "$W/verify.out")"
    # and it must be able to fail: one flipped byte in a header
    python3 - "$W/all.rc" "$W/bad.rc" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).readline())
h = r["header"]
r["header"] = h[:100] + ("0" if h[100] != "0" else "1") + h[101:]
open(sys.argv[2], "w").write(json.dumps(r) + "\n")
PY
    if "$CERTA" receipt verify --genesis "$G" "$W/bad.rc" >/dev/null 2>&1; then
        fail "receipt verify accepted a tampered header"
    fi
else
    note "SKIP receipt verify: 'certa receipt' is not built into this binary"
fi

cl_wait_equal_heights 1 90
note "all four validators at height $HEIGHT"
# Every validator executed every event.
for k in 0 1 2 3; do
    ev=$(cl_metric "$k" certa_events_committed_total)
    [ "$ev" -ge "$total" ] || fail "validator $k committed $ev events, expected >= $total"
done
"$CERTA" status --to all --genesis "$G" | sed 's/^/   /'

# Stop cleanly (SIGTERM), then audit each block log offline.
if cl_stop_and_audit; then
    # a forged commit certificate, checksums kept: one bit of the last
    # block's last signature; found with --genesis only, and named
    cp -r "$W/c/node1/data/blocks" "$W/vc-sig"
    "$CERTA" verify-chain --data "$W/vc-sig" --list >"$W/vc-list.out" 2>&1 ||
        fail "verify-chain --list: $(cat "$W/vc-list.out")"
    read -r vh vseg voff vlen <<<"$(awk '$1=="block" {h=$2; s=$4; o=$6; l=$8} END {print h, s, o, l}' "$W/vc-list.out")"
    python3 - "$W/vc-sig/$vseg" "$voff" "$vlen" <<'PY'
import sys, struct
path, off, plen = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xffffffff
with open(path, 'r+b') as f:
    f.seek(off); rec = bytearray(f.read(40 + plen))
    rec[40 + plen - 1] ^= 0x01
    struct.pack_into('<I', rec, 28, crc32c(bytes(rec[40:40 + plen])))
    struct.pack_into('<I', rec, 36, crc32c(bytes(rec[0:36])))
    f.seek(off); f.write(rec)
PY
    "$CERTA" verify-chain --data "$W/vc-sig" >"$W/vc-sig.out" 2>&1 ||
        fail "without --genesis a forged signature is not looked at: $(cat "$W/vc-sig.out")"
    if "$CERTA" verify-chain --data "$W/vc-sig" --genesis "$G" >"$W/vc-sig.out" 2>&1; then
        fail "verify-chain --genesis accepted a forged commit signature"
    fi
    grep -q "height $vh: commit: signature of validator .* does not verify" "$W/vc-sig.out" ||
        fail "forged signature at $vh not named: $(cat "$W/vc-sig.out")"
    note "forged commit signature refused: $(head -1 "$W/vc-sig.out")"
    # and it must be able to fail: one flipped byte inside the first block
    seg=$(ls "$W"/c/node0/data/blocks/*.seg | head -1)
    python3 - "$seg" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(4096 + 200)
    b = f.read(1)
    f.seek(4096 + 200)
    f.write(bytes([b[0] ^ 0x20]))
PY
    if "$CERTA" verify-chain --data "$W/c/node0/data/blocks" >"$W/vc-bad.out" 2>&1; then
        fail "verify-chain accepted a damaged block log: $(cat "$W/vc-bad.out")"
    fi
    note "damaged block log refused: $(head -1 "$W/vc-bad.out")"
fi
note "it_cluster_basic passed in ${SECONDS}s"
