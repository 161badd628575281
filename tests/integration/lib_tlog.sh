# Shared by the tests of the published event log (it_monitor, it_witness):
# sourced after C (the certa binary), SRC and PORT are set. Makes the
# scratch directory W and a genesis G of 4 validators, removes both and
# stops every process in GWS on exit, and defines:
#   fail MSG, expect_rc CODE CMD... (output in $W/out, $W/err),
#   checkpoint DATA OUT [SIGNERS], serve TILES (sets URL), grants OUT FIRST
#   COUNT, dry DATA EVENTS.
W=$(mktemp -d)
GWS=()
cleanup() {
    set +e
    for p in "${GWS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { # expect_rc CODE cmd...
  local want=$1; shift
  set +e; "$@" >"$W/out" 2>"$W/err"; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$W/out" "$W/err" >&2; fail "'$*' exited $rc, expected $want"; }
}

"$C" genesis --validators 4 --dir "$W/g" --base-port 27400 >/dev/null
G=$W/g/genesis.json
checkpoint() { # checkpoint DATA OUT [SIGNERS]: a note of DATA's log signed by validators 0..SIGNERS-1
    local n=${3:-3}
    for k in $(seq 0 $((n - 1))); do
        "$C" merkle checkpoint sign --data "$1" --genesis "$G" \
            --key "$W/g/node$k/sign.pem" --name "node$k" >"$W/cp$k.txt"
    done
    printf '%s' "$(sed -n 1,3p "$W/cp0.txt")" >"$2"
    printf '\n\n' >>"$2"
    for k in $(seq 0 $((n - 1))); do sed -n '5,$p' "$W/cp$k.txt" >>"$2"; done
}
serve() { # serve TILES: a gateway on the next port; prints its URL
    PORT=$((PORT + 1))
    "$C" gateway --genesis "$G" --listen "127.0.0.1:$PORT" --tiles "$1" \
        --rate-per-s 100000 --burst 100000 >>"$W/gw.log" 2>&1 &
    GWS+=($!)
    for _ in $(seq 50); do
        curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    URL="http://127.0.0.1:$PORT"
}
grants() { # grants OUT FIRST COUNT: COUNT grants with ids from FIRST, after the sample day
    python3 - "$SRC/tests/data/day_one_counter.jsonl" "$1" "$2" "$3" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
grant = next(l for l in lines if l.get("kind") == "grant")
t = max(l["time_ms"] for l in lines if l.get("kind") == "tick") + 60000
first, count = int(sys.argv[3]), int(sys.argv[4])
with open(sys.argv[2], "w") as f:
    f.write(json.dumps({"kind": "tick", "time_ms": t}) + "\n")
    for i in range(count):
        f.write(json.dumps(dict(grant, grant_id="%032x" % (first + i))) + "\n")
PY
}
dry() { "$C" dry-run --genesis "$G" --data "$1" "$2" >/dev/null 2>&1 || true; }
