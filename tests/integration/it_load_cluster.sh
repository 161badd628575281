#!/usr/bin/env bash
# `certa load` against a real local cluster: a generated Beijing trace is
# replayed open loop into 4 validators (certa up, 127.0.0.1) for a few
# seconds; the report's committed count must equal what the chain holds
# (every validator's committed-events metric), with nothing refused or
# lost. About 40 s; the deadlines (cluster start, drain, every validator
# reaching the report's count) are generous so a slow disk or busy cores
# change only how long it takes.
set -euo pipefail
CERTA=${CERTA_BIN:?CERTA_BIN must point at the certa binary}
W=$(mktemp -d "${TMPDIR:-/tmp}/certa-loadcl.XXXXXX")
UP=
cleanup() {
    if [ -n "$UP" ]; then kill -TERM "$UP" 2>/dev/null || true; wait "$UP" 2>/dev/null || true; fi
    rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -n 20 "$W"/c/node*/node.log >&2 || true; exit 1; }
BASE=$((26000 + ${CERTA_TEST_PORT_OFFSET:-0}))

"$CERTA" up --dir "$W/c" --base-port $BASE --duration 900 >"$W/up.log" 2>&1 &
UP=$!
end=$((SECONDS + 90))
while [ "$SECONDS" -lt "$end" ]; do
    [ -f "$W/c/genesis.json" ] &&
        "$CERTA" status --to all --genesis "$W/c/genesis.json" --timeout-ms 1000 >/dev/null 2>&1 && break
    sleep 0.2
done
"$CERTA" load gen --scenario beijing --hours 1 --out "$W/peak.trace" --genesis "$W/c" \
    --seed 7 --quiet >/dev/null || fail "load gen"
"$CERTA" load replay --trace "$W/peak.trace" --to genesis --genesis "$W/c" --speed 60 \
    --duration 6 --drain 120 --report "$W/rep" --quiet >"$W/replay.out" 2>&1 ||
    fail "replay: $(cat "$W/replay.out")"
python3 - "$W" $BASE <<'PY' || fail "report and chain disagree"
import json, sys, time, urllib.request
w, base = sys.argv[1], int(sys.argv[2])
r = json.load(open(w + "/rep.json"))
committed = r["committed"]["events"]
errs = r["errors"]
assert committed > 0, "nothing committed"
assert all(errs[k]["batches"] == 0 for k in errs), "errors: %s" % errs
assert sum(r["results"].values()) == committed, (r["results"], committed)

def chain(k):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % (base + 10 * k + 2),
                                  timeout=10).read().decode()
    v = [l for l in text.splitlines() if l.startswith("certa_events_committed_total ")]
    return int(float(v[0].split()[1]))

# A validator may still be executing the last blocks when the client has its
# receipts: wait (60 s at most) until each holds the report's count, never more.
end = time.time() + 60
for k in range(4):
    while True:
        n = chain(k)
        assert n <= committed, "validator %d holds %d events, more than the report's %d" % (k, n, committed)
        if n == committed or time.time() > end:
            break
        time.sleep(0.2)
    assert n == committed, "validator %d holds %d events, the report %d" % (k, n, committed)
print("report committed %d events = every validator's chain" % committed)
PY
echo "it_load_cluster: 1 passed, 0 failed"
