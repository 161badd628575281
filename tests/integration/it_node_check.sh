#!/usr/bin/env bash
# `certa node --check --config node.json`: a good config passes (exit 0)
# and says what it would run; each broken one exits 1 (3 for an unreadable
# node.json) with a message naming the file and the field. No validator is
# started.
set -euo pipefail
CERTA=${CERTA_BIN:?CERTA_BIN must point at the certa binary}
BASE_PORT=$((24600 + ${CERTA_TEST_PORT_OFFSET:-0}))
work=$(mktemp -d)
holder=
cleanup() {
  [ -z "$holder" ] || kill "$holder" 2>/dev/null || true
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { # expect_rc CODE cmd...
  local want=$1; shift
  set +e; "$@" >"$work/out" 2>"$work/err"; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$work/out" "$work/err" >&2; fail "'$*' exited $rc, expected $want"; }
}
expect_err() { # expect_err TEXT: stderr names the file and field
  grep -qF -- "$1" "$work/err" || { cat "$work/out" "$work/err" >&2; fail "stderr lacks: $1"; }
}
# edit FIELD JSON-VALUE: writes $work/g/node1/bad.json from node.json with
# FIELD set (or removed when VALUE is "DELETE"); keys and genesis resolve
# the same, since it sits in the same directory.
edit() {
  python3 - "$work/g/node1/node.json" "$work/g/node1/bad.json" "$1" "$2" <<'EOF'
import json, sys
src, dst, field, value = sys.argv[1:]
c = json.load(open(src))
if value == "DELETE":
    del c[field]
else:
    c[field] = json.loads(value)
json.dump(c, open(dst, "w"), indent=2)
EOF
}

expect_rc 0 "$CERTA" node --help
grep -q -- "--check" "$work/out" || fail "--help does not document --check"

expect_rc 0 "$CERTA" genesis --validators 4 --dir "$work/g" --base-port "$BASE_PORT"
cfg="$work/g/node1/node.json"
bad="$work/g/node1/bad.json"

# 1. The good config: exit 0, and what it would run.
expect_rc 0 "$CERTA" node --check --config "$cfg"
hash=$(sha256sum "$work/g/genesis.json" | cut -d' ' -f1)
grep -q "chain id $hash" "$work/out" || fail "no chain id: $(cat "$work/out")"
grep -q "validator:       1 (node1) of 4" "$work/out" || fail "no validator index"
grep -q "peers tcp://127.0.0.1:$((BASE_PORT + 10))" "$work/out" || fail "no peer endpoint"
grep -q "data dir:        .*node1/data (would be created)" "$work/out" || fail "no data dir"
grep -q "match genesis validators\[1\]" "$work/out" || fail "keys not checked"
grep -q "OK (0 warning(s))" "$work/out" || fail "not OK: $(cat "$work/out")"
[ ! -e "$work/g/node1/data" ] || fail "--check created the data directory"
# Nothing left behind in an existing data directory either.
mkdir "$work/g/node1/data"
expect_rc 0 "$CERTA" node --check --config "$cfg"
grep -q "(exists, writable)" "$work/out" || fail "existing data dir not reported"
[ -z "$(ls -A "$work/g/node1/data")" ] || fail "--check left a file in the data directory"

# 2. Little free space is a warning, not an error.
expect_rc 0 "$CERTA" node --check --config "$cfg" --min-free-mb 1099511627776
expect_err "node.json: data_dir:"
expect_err "MiB free, under 1099511627776 MiB"

# A bind on another port than genesis names: others could not reach it.
edit client_bind "\"tcp://127.0.0.1:$((BASE_PORT + 15))\""
expect_rc 0 "$CERTA" node --check --config "$bad"
expect_err "bad.json: client_bind: tcp://127.0.0.1:$((BASE_PORT + 15)), but genesis validators[1].client_endpoint is tcp://127.0.0.1:$((BASE_PORT + 11))"

# 3. A missing field.
edit data_dir DELETE
expect_rc 1 "$CERTA" node --check --config "$bad"
expect_err "bad.json: data_dir: missing"

# 4. A bad key path; a key of the wrong type; another validator's key; a
#    key others can read.
edit sign_key '"nope.pem"'
expect_rc 1 "$CERTA" node --check --config "$bad"
expect_err "bad.json: sign_key: $work/g/node1/nope.pem: No such file or directory"
edit sign_key '"curve.key"'
expect_rc 1 "$CERTA" node --check --config "$bad"
expect_err "bad.json: sign_key: not an Ed25519 private key"
edit curve_key '"sign.pem"'
expect_rc 1 "$CERTA" node --check --config "$bad"
expect_err "bad.json: curve_key:"
expect_err "expected a 40-character Z85 CURVE secret key"
edit sign_key '"../node2/sign.pem"'
expect_rc 1 "$CERTA" node --check --config "$bad"
expect_err "node2/sign.pem: the key does not match genesis validators[1].sign_pub"
chmod 644 "$work/g/node1/curve.key"
expect_rc 1 "$CERTA" node --check --config "$cfg"
expect_err "node.json: curve_key: $work/g/node1/curve.key: mode 0644"
expect_err "chmod 600"
chmod 600 "$work/g/node1/curve.key"

# 5. A data directory that cannot be written or created. /proc refuses
#    new files even to root; without root a mode-500 directory does too.
edit data_dir '"/proc"'
expect_rc 1 "$CERTA" node --check --config "$bad"
expect_err "bad.json: data_dir: /proc is not writable"
edit data_dir '"no/such/parent/data"'
expect_rc 1 "$CERTA" node --check --config "$bad"
expect_err "bad.json: data_dir: $work/g/node1/no/such/parent/data does not exist and cannot be created"
if [ "$(id -u)" -ne 0 ]; then
  mkdir "$work/ro" && chmod 500 "$work/ro"
  edit data_dir "\"$work/ro\""
  expect_rc 1 "$CERTA" node --check --config "$bad"
  expect_err "bad.json: data_dir: $work/ro is not writable"
fi

# 6. A port in use: something listens on the peer port.
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
print("ready", flush=True); time.sleep(120)' "$((BASE_PORT + 10))" > "$work/holder.out" &
holder=$!
for _ in $(seq 50); do grep -q ready "$work/holder.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/holder.out" || fail "the port holder did not start"
expect_rc 1 "$CERTA" node --check --config "$cfg"
expect_err "node.json: peer_bind: tcp://127.0.0.1:$((BASE_PORT + 10)): port $((BASE_PORT + 10)) is in use"
kill "$holder"; wait "$holder" 2>/dev/null || true; holder=
expect_rc 0 "$CERTA" node --check --config "$cfg"
# Two fields on one port.
edit metrics_port "$((BASE_PORT + 11))"
expect_rc 1 "$CERTA" node --check --config "$bad"
expect_err "bad.json: metrics_port: port $((BASE_PORT + 11)) is also client_bind's"

# 7. Genesis: a validator index it lacks; a broken genesis names its field.
edit validator_index 9
expect_rc 1 "$CERTA" node --check --config "$bad"
expect_err "bad.json: validator_index: 9 but the genesis"
sed 's/"code_attempts_max": 5/"code_attempts_max": 50/' "$work/g/genesis.json" > "$work/g/bad-genesis.json"
edit genesis '"../bad-genesis.json"'
expect_rc 1 "$CERTA" node --check --config "$bad"
expect_err "bad.json: genesis:"
expect_err "bad-genesis.json: params.code_attempts_max: 50 is out of range"

# 8. An unknown field, a syntax error, a missing file, a usage error.
edit data_dirr '"data"'
expect_rc 1 "$CERTA" node --check --config "$bad"
expect_err "bad.json: data_dirr: unknown field"
printf '{"version": 1,' > "$bad"
expect_rc 1 "$CERTA" node --check --config "$bad"
expect_err "bad.json: line 1"
expect_rc 3 "$CERTA" node --check --config "$work/missing.json"
expect_err "missing.json"
expect_rc 2 "$CERTA" node --check
echo "it_node_check: all checks passed"
