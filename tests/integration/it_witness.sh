#!/usr/bin/env bash
# certa witness (C2SP tlog-witness, tlog-cosignature/v1): a witness cosigns
# the honest log's checkpoints as it grows, the log side computing each
# consistency proof from its data directory; the cosignature is checked
# here by an Ed25519 verifier not written in certa (python3-cryptography)
# against the C2SP message and key id. The witness refuses, and keeps as
# evidence, a forked chain's checkpoint at the size it cosigned (409), a
# longer history that does not extend the one it saw (422), a checkpoint
# without a quorum (403), another chain's (404), a stale "old" (409 with
# its size) and a malformed body (400); it keeps its state across a
# restart.
set -euo pipefail
C=${CERTA_BIN:?CERTA_BIN must name the certa binary}
SRC=${CERTA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PORT=$((31740 + ${CERTA_TEST_PORT_OFFSET:-0}))
# shellcheck source=tests/integration/lib_tlog.sh
. "$SRC/tests/integration/lib_tlog.sh"


"$C" keygen --out "$W/wkey.pem" >"$W/wpub.hex"
WPORT=$((PORT + 10))
WURL=http://127.0.0.1:$WPORT
start_witness() {
    "$C" witness serve --genesis "$G" --key "$W/wkey.pem" --name witness.example/w1 \
        --state "$W/ws" --listen "127.0.0.1:$WPORT" 2>>"$W/witness.log" &
    WPID=$!
    GWS+=($WPID)
    for _ in $(seq 50); do
        curl -s -o /dev/null "$WURL/add-checkpoint" && break
        sleep 0.1
    done
}
start_witness
cosig_check() { # cosig_check NOTE: the witness's line verifies (C2SP cosignature/v1)
    python3 - "$1" "$(cat "$W/wpub.hex")" <<'PY'
import base64, hashlib, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
text, sigs = open(sys.argv[1]).read().split("\n\n", 1)
text += "\n"
pub = bytes.fromhex(sys.argv[2].split()[-1])
name = "witness.example/w1"
kid = hashlib.sha256(name.encode() + b"\n\x04" + pub).digest()[:4]
lines = [l for l in sigs.splitlines() if l.startswith("\u2014 " + name + " ")]
assert len(lines) == 1, lines
blob = base64.b64decode(lines[0].split(" ")[2])
assert blob[:4] == kid, "key id"
ts = int.from_bytes(blob[4:12], "big")
msg = ("cosignature/v1\ntime %d\n" % ts).encode() + text.encode()
Ed25519PublicKey.from_public_bytes(pub).verify(blob[12:], msg)
print("cosignature ok, time", ts)
PY
}

dry "$W/d" "$SRC/tests/data/day_one_counter.jsonl"
checkpoint "$W/d" "$W/a.txt"
expect_rc 0 "$C" witness add --url "$WURL" --data "$W/d" "$W/a.txt"
cp "$W/out" "$W/a-cosigned.txt"
cosig_check "$W/a-cosigned.txt" >/dev/null || fail "the first cosignature does not verify"
# the cosigned note still verifies as a checkpoint (the witness line skipped)
expect_rc 0 "$C" merkle checkpoint verify --genesis "$G" "$W/a-cosigned.txt"
# again, the same checkpoint: cosigned again
expect_rc 0 "$C" witness add --url "$WURL" --data "$W/d" "$W/a.txt"

# the chain grows and forks after 89 events
cp -r "$W/d" "$W/d2"
grants "$W/x.jsonl" 1 600
grants "$W/y.jsonl" 100001 600
dry "$W/d" "$W/x.jsonl"
dry "$W/d2" "$W/y.jsonl"
checkpoint "$W/d" "$W/b.txt"
checkpoint "$W/d2" "$W/b2.txt"
expect_rc 0 "$C" witness add --url "$WURL" --data "$W/d" "$W/b.txt"
cosig_check "$W/out" >/dev/null || fail "the second cosignature does not verify"
cp "$W/out" "$W/b-cosigned.txt"
grep -q "cosigned certa/.* size 689" "$W/witness.log" || fail "witness log: $(cat "$W/witness.log")"

# a restart keeps what it cosigned
kill "$WPID"; wait "$WPID" 2>/dev/null || true
start_witness
# the fork at the size it cosigned: 409, kept as evidence
expect_rc 1 "$C" witness add --url "$WURL" --data "$W/d2" "$W/b2.txt"
grep -q "refused with HTTP 409: 689" "$W/out" || fail "split view: $(cat "$W/out")"
ls "$W/ws"/refused-*.txt >/dev/null 2>&1 || fail "no evidence kept"
grep -q "a root at size 689 other than the one cosigned" "$W/ws"/refused-*.txt ||
    fail "evidence: $(cat "$W/ws"/refused-*.txt)"
# a longer history that does not extend what it saw: 422
grants "$W/z.jsonl" 200001 800
dry "$W/d3" "$W/z.jsonl"
checkpoint "$W/d3" "$W/c.txt"
expect_rc 1 "$C" witness add --url "$WURL" --data "$W/d3" "$W/c.txt"
grep -q "refused with HTTP 422: no consistency from size 689 to 800" "$W/out" ||
    fail "rewritten: $(cat "$W/out")"
# no quorum: 403; another chain: 404
checkpoint "$W/d" "$W/two.txt" 2
expect_rc 1 "$C" witness add --url "$WURL" --data "$W/d" "$W/two.txt"
grep -q "refused with HTTP 403: 2 validator signature(s), a quorum is 3 of 4" "$W/out" ||
    fail "no quorum: $(cat "$W/out")"
"$C" genesis --validators 4 --dir "$W/g2" --base-port 27500 >/dev/null
for k in 0 1 2; do
    "$C" merkle checkpoint sign --data "$W/d" --genesis "$W/g2/genesis.json" \
        --key "$W/g2/node$k/sign.pem" --name "node$k" >"$W/o$k.txt"
done
"$C" merkle checkpoint merge --genesis "$W/g2/genesis.json" "$W/o0.txt" "$W/o1.txt" "$W/o2.txt" >"$W/other.txt"
expect_rc 1 "$C" witness add --url "$WURL" --data "$W/d" "$W/other.txt"
grep -q "refused with HTTP 404: unknown log" "$W/out" || fail "other chain: $(cat "$W/out")"
# the protocol by hand: a stale old size, bad bodies
code=$(curl -s -o "$W/body" -w '%{http_code} %{content_type}' --data-binary @<(printf 'old 89\n\n'; cat "$W/b.txt") "$WURL/add-checkpoint")
[ "$code" = "409 text/x.tlog.size" ] && [ "$(cat "$W/body")" = 689 ] || fail "stale old: $code $(cat "$W/body")"
code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary 'nonsense' "$WURL/add-checkpoint")
[ "$code" = 400 ] || fail "nonsense: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @<(printf 'old 700\n\n'; cat "$W/b.txt") "$WURL/add-checkpoint")
[ "$code" = 400 ] || fail "old over the size: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$WURL/add-checkpoint")
[ "$code" = 405 ] || fail "GET: $code"
# and the honest log still gets its cosignature
expect_rc 0 "$C" witness add --url "$WURL" --data "$W/d" "$W/b.txt"
expect_rc 2 "$C" witness serve --genesis "$G"

# a monitor that demands the witness's cosignature: the forked gateway,
# whose checkpoint the witness refused, is caught even by a monitor that
# never saw the honest history; the honest gateway passes
VKEY=$(sed -n 's/.*(verifier key \([^ )]*\)).*/\1/p' "$W/witness.log" | head -1)
[ -n "$VKEY" ] || fail "no verifier key in the witness's log: $(cat "$W/witness.log")"
"$C" merkle tiles --data "$W/d" --out "$W/T" --checkpoint "$W/b-cosigned.txt" >/dev/null
"$C" merkle tiles --data "$W/d2" --out "$W/T2" --checkpoint "$W/b2.txt" >/dev/null
serve "$W/T"; HONEST=$URL
serve "$W/T2"; FORKED=$URL
expect_rc 1 "$C" monitor --url "$FORKED" --genesis "$G" --state "$W/m" --once --witness "$VKEY"
grep -q "bad-checkpoint: checkpoint of size 689: cosigned by 0 of the 1 witnesses, 1 required" \
    "$W/out" || fail "monitor, forked: $(cat "$W/out")"
expect_rc 0 "$C" monitor --url "$HONEST" --genesis "$G" --state "$W/m" --once --witness "$VKEY"
grep -q "size 0 -> 689: 689 new events verified, consistent" "$W/out" ||
    fail "monitor, honest: $(cat "$W/out")"
expect_rc 2 "$C" monitor --url "$HONEST" --genesis "$G" --state "$W/m" --once --witness "w+00000000+AAAA"
expect_rc 2 "$C" monitor --url "$HONEST" --genesis "$G" --state "$W/m" --witnesses-min 1
echo "it_witness: ok"
