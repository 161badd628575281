#!/usr/bin/env bash
# The event log over the whole chain published in the C2SP tlog-tiles
# layout (`certa merkle tiles`) and served by `certa gateway --tiles`,
# checked over HTTP by a verifier not written here: Go's
# golang.org/x/mod/sumdb/tlog (tests/integration/tiles_check.go) reads the
# checkpoint and the tiles, verifies every tile against the checkpoint's
# root, every leaf against the entry bundles, inclusion proofs, and the
# consistency proof from an older checkpoint. The chain grows past 65,536
# events, so the tiles have two levels; a resumed run writes exactly what a
# fresh one does; a checkpoint whose root is not the log's is refused and
# not installed; a tile altered on disk is caught by the verifier; paths
# outside the layout are 404.
set -euo pipefail
C=${CERTA_BIN:?CERTA_BIN must name the certa binary}
SRC=${CERTA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PORT=$((31700 + ${CERTA_TEST_PORT_OFFSET:-0}))
W=$(mktemp -d)
GW=
cleanup() {
    set +e
    [ -n "$GW" ] && kill "$GW" 2>/dev/null && wait "$GW" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { # expect_rc CODE cmd...
  local want=$1; shift
  set +e; "$@" >"$W/out" 2>"$W/err"; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$W/out" "$W/err" >&2; fail "'$*' exited $rc, expected $want"; }
}
command -v go >/dev/null && [ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ] ||
    fail "needs go and golang-golang-x-mod-dev (bash tools/install-deps.sh)"

"$C" genesis --validators 4 --dir "$W/g" --base-port 27400 >/dev/null
G=$W/g/genesis.json
checkpoint() { # checkpoint OUT: a note of the log signed by 3 of the 4 validators
    for k in 0 1 2; do
        "$C" merkle checkpoint sign --data "$W/d" --genesis "$G" \
            --key "$W/g/node$k/sign.pem" --name "node$k" >"$W/cp$k.txt"
    done
    "$C" merkle checkpoint merge --genesis "$G" "$W/cp0.txt" "$W/cp1.txt" "$W/cp2.txt" >"$1"
}

# a small chain (the sample day), published
"$C" dry-run --genesis "$G" --data "$W/d" "$SRC/tests/data/day_one_counter.jsonl" >/dev/null 2>&1 || true
checkpoint "$W/small.txt"
expect_rc 0 "$C" merkle tiles --data "$W/d" --out "$W/T" --checkpoint "$W/small.txt"
grep -q "checkpoint installed" "$W/out" || fail "small: $(cat "$W/out")"
cmp -s "$W/small.txt" "$W/T/checkpoint" || fail "the checkpoint installed is not the one given"
small_size=$(sed -n 2p "$W/small.txt")
small_root=$(sed -n 3p "$W/small.txt")

# grow it past 256 x 256 events: a second tile level
python3 - "$SRC/tests/data/day_one_counter.jsonl" "$W/big.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
grant = next(l for l in lines if l.get("kind") == "grant")
t = max(l["time_ms"] for l in lines if l.get("kind") == "tick") + 60000
with open(sys.argv[2], "w") as f:
    f.write(json.dumps({"kind": "tick", "time_ms": t}) + "\n")
    for i in range(66000):
        if i % 3000 == 2999:
            t += 1000
            f.write(json.dumps({"kind": "tick", "time_ms": t}) + "\n")
        e = dict(grant, grant_id="%032x" % (i + 1))
        f.write(json.dumps(e) + "\n")
PY
"$C" dry-run --genesis "$G" --data "$W/d" "$W/big.jsonl" >/dev/null 2>&1 || true
checkpoint "$W/big.txt"
big_size=$(sed -n 2p "$W/big.txt")
[ "$big_size" -gt 65536 ] || fail "the chain has only $big_size events"

# a checkpoint whose root is not the log's: refused, nothing installed
python3 - "$W/big.txt" "$W/forged.txt" <<'PY'
import base64, sys
l = open(sys.argv[1]).read().split("\n")
r = bytearray(base64.b64decode(l[2])); r[5] ^= 1
l[2] = base64.b64encode(bytes(r)).decode()
open(sys.argv[2], "w").write("\n".join(l))
PY
expect_rc 1 "$C" merkle tiles --data "$W/d" --out "$W/T" --checkpoint "$W/forged.txt"
grep -q "is not the root of" "$W/err" || fail "forged root: $(cat "$W/err")"
cmp -s "$W/small.txt" "$W/T/checkpoint" || fail "a refused checkpoint was installed"

# resumed here, fresh there: the same files but the older size's partials
expect_rc 0 "$C" merkle tiles --data "$W/d" --out "$W/T" --checkpoint "$W/big.txt"
grep -q "log_size $big_size .*($((big_size - small_size)) new leaves" "$W/out" ||
    fail "resume: $(cat "$W/out")"
expect_rc 0 "$C" merkle tiles --data "$W/d" --out "$W/F" --checkpoint "$W/big.txt"
(cd "$W/T" && find . -type f | sort) >"$W/t.list"
(cd "$W/F" && find . -type f | sort) >"$W/f.list"
comm -13 "$W/t.list" "$W/f.list" | grep -q . && fail "a fresh run wrote files a resumed one did not"
while read -r f; do
    cmp -s "$W/T/$f" "$W/F/$f" || fail "$f differs between the resumed and the fresh run"
done <"$W/f.list"
[ -f "$W/T/tile/1/000" ] || fail "no full level-1 tile"
[ -f "$W/T/tile/0/000.p/$small_size" ] || fail "the small checkpoint's partial tile went away"
expect_rc 3 "$C" merkle tiles --data "$W/d" --out "$W/T" --checkpoint "$W/small.txt"
grep -q "below the $big_size leaves already published" "$W/err" || fail "older: $(cat "$W/err")"
# a damaged open entry bundle is found on resume, not built upon
open_bundle=$W/T/tile/entries/258.p/$((big_size - 258 * 256))
cp "$open_bundle" "$W/bundle.bak"
python3 - "$open_bundle" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[20] ^= 1
open(sys.argv[1], "wb").write(bytes(b))
PY
expect_rc 3 "$C" merkle tiles --data "$W/d" --out "$W/T" --checkpoint "$W/big.txt"
grep -q "258.p/$((big_size - 258 * 256)): leaf 0 is not the one its tile names" "$W/err" ||
    fail "a damaged bundle: $(cat "$W/err")"
cp "$W/bundle.bak" "$open_bundle"
expect_rc 0 "$C" merkle tiles --data "$W/d" --out "$W/T" --checkpoint "$W/big.txt"

# served by the gateway, read by Go's sumdb/tlog
"$C" gateway --genesis "$G" --listen "127.0.0.1:$PORT" --tiles "$W/T" \
    --rate-per-s 100000 --burst 100000 >"$W/gw.log" 2>&1 &
GW=$!
for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
mkdir -p "$W/gopath/src/tilescheck" "$W/gocache"
cp "$SRC/tests/integration/tiles_check.go" "$W/gopath/src/tilescheck/main.go"
(cd "$W/gopath/src/tilescheck" &&
    GOPATH="$W/gopath:/usr/share/gocode" GO111MODULE=off GOCACHE="$W/gocache" GOFLAGS= \
        go build -o "$W/tiles_check" .) 2>"$W/go.err" || fail "go build: $(cat "$W/go.err")"
expect_rc 0 "$W/tiles_check" "http://127.0.0.1:$PORT" "$small_size" "$small_root"
grep -q "$big_size leaves, every tile" "$W/out" || fail "tiles_check: $(cat "$W/out")"
# the wrong older root: not a prefix
expect_rc 1 "$W/tiles_check" "http://127.0.0.1:$PORT" "$small_size" "$(sed -n 3p "$W/forged.txt")"

python3 "$SRC/tests/integration/openapi_check.py" --partial "$SRC/docs/openapi.yaml" \
    "http://127.0.0.1:$PORT" >"$W/openapi.out" 2>&1 <<EOF || { cat "$W/openapi.out" >&2; fail "openapi"; }
/checkpoint 200
/tile/0/000 200
/tile/1/000 200
/tile/entries/000 200
/tile/0/000.p/$small_size 200
/tile/entries/000.p/$small_size 200
/tile/0/999 404
/tile/0/000.p/0 404
EOF
for p in /.certa-tiles /tile/../.certa-tiles /tile/0/000.p/0 /tile/0/00 /tile/64/000 \
         /tile/0/999 /tile/entries/x000 /tile/0/000.p/256; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "http://127.0.0.1:$PORT$p")
    [ "$code" = 404 ] || fail "GET $p: $code, expected 404"
done

# a tile altered on disk, then a leaf in an entry bundle: the verifier
# names what it found
cp "$W/T/tile/0/005" "$W/tile5"
python3 - "$W/T/tile/0/005" 40 <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[int(sys.argv[2])] ^= 1
open(sys.argv[1], "wb").write(bytes(b))
PY
expect_rc 1 "$W/tiles_check" "http://127.0.0.1:$PORT"
grep -q "tile/0/005: hash 1 is not the tree's (level 0, index 1281)" "$W/err" ||
    fail "an altered tile went unnamed: $(cat "$W/err")"
cp "$W/tile5" "$W/T/tile/0/005"
python3 - "$W/T/tile/entries/007" 100 <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[int(sys.argv[2])] ^= 1
open(sys.argv[1], "wb").write(bytes(b))
PY
expect_rc 1 "$W/tiles_check" "http://127.0.0.1:$PORT"
grep -q "the entry bundles' $big_size leaves hash to" "$W/err" ||
    fail "an altered entry went unnamed: $(cat "$W/err")"
echo "it_merkle_tiles: ok"
