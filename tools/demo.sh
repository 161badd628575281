#!/usr/bin/env bash
# The README's main command: installs the Debian packages, builds certa
# (Release) into build/ and runs the local demo in a fresh demo directory.
#   DEMO_DIR   where the demo's chain lives (default: demo-run/, gitignored;
#              recreated on every run)
#   JOBS       build parallelism (default: nproc)
#   BASE_PORT  first port of the local cluster (default 7000; validator K
#              uses BASE_PORT+10K .. +2 on 127.0.0.1)
# Steps: genesis for 4 validators, certa checks what it wrote, a dry run of
# a sample day at one counter through the licence rules, then a local
# cluster of 4 validators (certa up) that takes a replay of the city's peak
# hour and commits a sample of every event kind (receipts verified
# offline), answers holder and grant queries online, shows its status and
# metrics, and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO_DIR=${DEMO_DIR:-demo-run}
JOBS=${JOBS:-$(nproc)}
BASE_PORT=${BASE_PORT:-7000}
CERTA=./build/certa

step() { printf '\n==== %s\n' "$*"; }

step "1. dependencies (tools/install-deps.sh)"
bash tools/install-deps.sh

step "2. release build into build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$JOBS"
"$CERTA" --version

step "3. a new chain: genesis for 4 validators in $DEMO_DIR/"
# The demo always starts from a new chain. Only a directory that a previous
# demo made (it holds genesis.json) is removed; anything else is left alone.
if [ -e "$DEMO_DIR" ]; then
  if [ -f "$DEMO_DIR/genesis.json" ]; then
    rm -rf "$DEMO_DIR"
  elif [ -n "$(ls -A "$DEMO_DIR")" ]; then
    echo "demo: $DEMO_DIR exists, is not empty and holds no genesis.json; set DEMO_DIR elsewhere" >&2
    exit 1
  fi
fi
"$CERTA" genesis --validators 4 --dir "$DEMO_DIR" --base-port "$BASE_PORT"

step "4. certa reloads and validates the genesis"
"$CERTA" genesis check "$DEMO_DIR/genesis.json"

step "5. a day at one counter through the licence rules (certa dry-run)"
# tests/data/day_one_counter.jsonl: citizens at counter 7 of the Dongcheng
# centre grant, redeem, confirm, sign, photo and revoke; a few mistype codes,
# come too late or go to the wrong counter. Exit 1 only means "some events
# were rejected", which this day is meant to show.
DAY=tests/data/day_one_counter.jsonl
data_opt=()
if "$CERTA" query --help >/dev/null 2>&1; then data_opt=(--data "$DEMO_DIR/dry-run"); fi
set +e
"$CERTA" dry-run --genesis "$DEMO_DIR/genesis.json" "${data_opt[@]}" "$DAY" \
  > "$DEMO_DIR/day_one_counter.results.jsonl"
rc=$?
set -e
[ "$rc" -le 1 ] || exit "$rc"
echo "results per line: $DEMO_DIR/day_one_counter.results.jsonl"
echo "results by reason:"
sed -e 's/.*"reason":"\([a-z_]*\)".*/  rejected \1/' -e 's/.*"result":"ok".*/  ok/' \
  "$DEMO_DIR/day_one_counter.results.jsonl" | sort | uniq -c | sort -rn
if [ ${#data_opt[@]} -gt 0 ]; then
  holder=$(printf 'holder 3' | sha256sum | cut -c1-64)
  echo "holder 3's records, answered offline from $DEMO_DIR/dry-run:"
  "$CERTA" query holder "$holder" --data "$DEMO_DIR/dry-run"
fi

step "6. a local cluster: certa up (4 validators on 127.0.0.1, in the background)"
G="$DEMO_DIR/genesis.json"
KEYS="$DEMO_DIR/integrators"
"$CERTA" up --dir "$DEMO_DIR" --duration 300 > "$DEMO_DIR/up.log" 2>&1 &
UP_PID=$!
stop_cluster() {
  if [ -n "${GW_PID:-}" ]; then
    kill -TERM "$GW_PID" 2>/dev/null || true
    wait "$GW_PID" 2>/dev/null || true
    GW_PID=
  fi
  if [ -n "${UP_PID:-}" ]; then
    kill -TERM "$UP_PID" 2>/dev/null || true
    wait "$UP_PID" 2>/dev/null || true
    UP_PID=
  fi
}
trap stop_cluster EXIT
for _ in $(seq 100); do
  "$CERTA" status --to all --genesis "$G" --timeout-ms 500 >/dev/null 2>&1 && break
  sleep 0.2
done
cat "$DEMO_DIR/up.log"
"$CERTA" status --to all --genesis "$G"

step "7. the city's peak hour, replayed open-loop (certa load)"
# Beijing's counters from 10:00 (73,825 events in the peak hour), signed
# batches generated for this chain, replayed 120 times faster than life
# for 15 s: a third of the peak hour.
"$CERTA" load gen --scenario beijing --hours 1 --out "$DEMO_DIR/peak.trace" \
  --genesis "$DEMO_DIR" --quiet
"$CERTA" load replay --trace "$DEMO_DIR/peak.trace" --to genesis --genesis "$DEMO_DIR" \
  --speed 120 --duration 15 --drain 10 --report "$DEMO_DIR/peak-report" --quiet || true

step "8. integrators submit signed batches and get receipts (certa submit)"
# A generated sample around the current time (block timestamps are the
# validators' clocks): 200 grants by the holder app; wrong codes, redeems,
# confirm/sign/photo by the Dongcheng counters; revokes; evidence sent for
# revoked grants. Each file waits for the previous one's receipts.
python3 tests/integration/cluster_events.py "$DEMO_DIR/sample" 200 7 5
: > "$DEMO_DIR/receipts.jsonl"
# The replay above used the integrators' sequence numbers from 1; a
# validator refuses a number already executed with other bytes (replay
# protection), so the sample uses a range far above them.
seq_app=10000000
seq_counter=10000000
for f in 1-grants:app 2-wrong:counter-dongcheng 3-redeem:counter-dongcheng \
         4-evidence:counter-dongcheng 5-revoke:app 6-late:counter-dongcheng; do
  name=${f%%:*}
  who=${f##*:}
  if [ "$who" = app ]; then seq=$seq_app; else seq=$seq_counter; fi
  echo "-- $name.jsonl as $who"
  "$CERTA" submit --to all --genesis "$G" --integrator "$who" --key "$KEYS/$who.pem" \
    --seq "$seq" --batch 50 --quiet --receipts "$DEMO_DIR/sample/$name.receipts.jsonl" \
    "$DEMO_DIR/sample/$name.jsonl" | tee "$DEMO_DIR/sample/$name.summary"
  cat "$DEMO_DIR/sample/$name.receipts.jsonl" >> "$DEMO_DIR/receipts.jsonl"
  batches=$(sed -n 's/^submitted [0-9]* events in \([0-9]*\) batches.*/\1/p' \
    "$DEMO_DIR/sample/$name.summary")
  if [ "$who" = app ]; then seq_app=$((seq + batches)); else seq_counter=$((seq + batches)); fi
done
echo "receipts: $(wc -l < "$DEMO_DIR/receipts.jsonl") in $DEMO_DIR/receipts.jsonl"

step "9. anyone verifies the receipts offline, with nothing but genesis.json"
receipt_help=$("$CERTA" receipt --help 2>&1 || true)
if [[ $receipt_help == *"not built into this binary"* ]]; then
  echo "(certa receipt is not built into this binary yet: skipped)"
else
  "$CERTA" receipt verify --genesis "$G" "$DEMO_DIR/receipts.jsonl"
fi

step "10. queries, status and metrics"
# Holder 3 of the sample and its grant, asked of validator 1 online: the
# same JSON `certa query --data` gives offline from a data directory.
holder=$(printf 'holder 3' | sha256sum | cut -c1-64)
grant=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[3])["grant_id"])' \
  "$DEMO_DIR/sample/1-grants.jsonl")
echo "holder 3's records (first 10), asked of validator 1 (certa query holder --to node1):"
"$CERTA" query holder "$holder" --to node1 --genesis "$G" --limit 10 || true
echo "its grant's status and history (certa query grant --to node1):"
"$CERTA" query grant "$grant" --to node1 --genesis "$G" || true
"$CERTA" status --to all --genesis "$G"
# The same records over HTTP, through the gateway (docs/OPERATIONS.md "Gateway")
"$CERTA" gateway --genesis "$G" --listen 127.0.0.1:0 > "$DEMO_DIR/gateway.log" 2>&1 &
GW_PID=$!
gw_url=
for _ in $(seq 50); do
  gw_url=$(sed -n 's|^certa gateway: serving \(http://[^ ]*/\).*|\1|p' "$DEMO_DIR/gateway.log")
  [ -n "$gw_url" ] && break
  sleep 0.1
done
if [ -n "$gw_url" ]; then
  echo "the gateway serves the public read API at $gw_url (status, blocks, grants, holders)"
  echo "and the web page (explorer, holder records, receipt verifier): open $gw_url"
  python3 - "$gw_url" "$holder" <<'PY' || true
import json, sys, urllib.request
base, holder = sys.argv[1], sys.argv[2]
d = json.load(urllib.request.urlopen(base + "v1/holders/" + holder + "?limit=3", timeout=10))
print("  GET %sv1/holders/%s...?limit=3 -> %d records at height %d" % (base, holder[:8], len(d["records"]), d["height"]))
b = json.load(urllib.request.urlopen(base + "v1/blocks/1", timeout=10))
print("  GET %sv1/blocks/1 -> block %d, %d events, hash %s..." % (base, b["height"], b["header"]["event_count"], b["hash"][:16]))
try:
    cp = urllib.request.urlopen(base + "checkpoint", timeout=10).read().decode().split("\n")
    sigs = [l.split(" ")[1] for l in cp if l.startswith("\u2014 ")]
    print("  GET %scheckpoint -> the event log's %s events, root %s, signed by %s"
          % (base, cp[1], cp[2], ", ".join(sigs)))
except Exception as e:  # 503 until a quorum signed a checkpoint height
    print("  GET %scheckpoint -> %s" % (base, e))
PY
else
  echo "(the gateway did not start: $DEMO_DIR/gateway.log)"
fi
mport=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['metrics_port'])" \
  "$DEMO_DIR/node0/node.json")
python3 - "$mport" <<'PY'
import sys, urllib.request
body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=3).read().decode()
keep = ("certa_height", "certa_view ", "certa_blocks_committed_total", "certa_events_committed_total",
        "certa_results_total", "certa_peers_connected", "certa_batches_refused_total",
        "certa_commit_latency_seconds_sum", "certa_commit_latency_seconds_count",
        "certa_fsync_latency_seconds_count")
print("validator 0, http://127.0.0.1:%s/metrics (highlights):" % sys.argv[1])
for l in body.splitlines():
    if l.startswith(keep) and not l.endswith(" 0"):
        print("  " + l)
PY

step "11. stop the cluster"
stop_cluster
tail -n 1 "$DEMO_DIR/up.log"

step "done"
cat <<INFO
The demo wrote:
  $DEMO_DIR/genesis.json            the chain's founding document (validators,
                                   integrators, Beijing catalogue, parameters)
  $DEMO_DIR/node0 .. node3/         each validator's sign.pem, curve.key (0600)
                                   and node.json
  $DEMO_DIR/integrators/*.pem       demo integrator keys (app, library, admin,
                                   one counter system per service centre)
  $DEMO_DIR/day_one_counter.results.jsonl
                                   the dry run's result for each event line
  $DEMO_DIR/node0 .. node3/data/    each validator's block log and consensus WAL;
                                   node.log its JSON log lines
  $DEMO_DIR/receipts.jsonl          a receipt per submitted event
  $DEMO_DIR/peak-report.html        the peak-hour replay's report
Start the cluster again with: ./build/certa up --dir $DEMO_DIR
  (with --gateway 8080 also the gateway: the web page at http://127.0.0.1:8080/)
Next: docs/OPERATIONS.md ("Genesis and keys", "Dry run", "Queries", "Gateway").
INFO
