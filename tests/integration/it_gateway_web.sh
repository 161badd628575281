#!/usr/bin/env bash
# The gateway's web page in a real browser: `certa up --gateway PORT` starts
# 4 validators and a gateway (ports 25000..25032, gateway 25080), events are
# committed, and headless Chromium (tests/integration/browser_check.py,
# DevTools protocol over a pipe) checks the page against what the CLI says:
# the explorer's blocks and moving events/s (load runs meanwhile), a block's
# events with pseudonyms and results, the language switch, a holder's
# records equal to `certa query holder`'s with each grant's status, and the
# in-browser verifier (WebCrypto SHA-256 and Ed25519) accepting a real
# receipt and rejecting one with a flipped byte. Screenshots are left in
# $CERTA_WEB_SCREENSHOTS when it is set (docs/img holds the README's).
set -euo pipefail
BASE_PORT=$((25000 + ${CERTA_TEST_PORT_OFFSET:-0}))
GW_PORT=$((BASE_PORT + 80))
. "$(dirname "$0")/cluster_lib.sh"
SECONDS=0
command -v python3 >/dev/null || { echo "SKIP: it_gateway_web: no python3"; exit 0; }
CHROMIUM=${CERTA_CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { echo "SKIP: it_gateway_web: no $CHROMIUM (tools/install-deps.sh installs it)"; exit 0; }
cl_init
"$CERTA" up --dir "$W/c" --gateway "$GW_PORT" --duration 900 >"$W/up.out" 2>&1 &
PIDS[0]=$!
cl_wait_up
end=$((SECONDS + 30))
until grep -q "serving http://127.0.0.1:$GW_PORT/" "$W/c/gateway.log" 2>/dev/null; do
    [ "$SECONDS" -lt "$end" ] || fail "certa up --gateway: no gateway: $(cat "$W/up.out" "$W/c/gateway.log")"
    sleep 0.2
done
grep -q "gateway: http://127.0.0.1:$GW_PORT/" "$W/up.out" || fail "certa up does not print the page's URL"
note "certa up --gateway: 4 validators and the gateway up after ${SECONDS}s"

# events: 40 grants; for the first holder a second grant, the first grant
# again (rejected: duplicate) and a revoke, so the holder page has several
# records with both results
python3 "$SRC/tests/integration/cluster_grants.py" "$W/load" 8 40
python3 - "$W/load/g-0000.jsonl" "$W/extra.jsonl" <<'PY'
import json, sys
first = json.loads(open(sys.argv[1]).readline())
second = dict(first, grant_id="%032x" % (int(first["grant_id"], 16) ^ 1))
with open(sys.argv[2], "w") as f:
    for e in (second, first, {"kind": "revoke", "grant_id": first["grant_id"],
                              "holder_id": first["holder_id"]}):
        f.write(json.dumps(e, separators=(",", ":")) + "\n")
PY
cl_submit app "$W/load/g-0000.jsonl" "$W/s0"
[ "$(cat "$W/s0.exit")" = 0 ] || fail "submit: $(cat "$W/s0.sum" "$W/s0.err")"
cl_submit app "$W/extra.jsonl" "$W/s1" --batch 1
[ "$(cat "$W/s1.exit")" = 0 ] || fail "submit extra: $(cat "$W/s1.sum" "$W/s1.err")"
cl_wait_equal_heights 2 60
HOLDER=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["holder_id"])' \
    "$W/load/g-0000.jsonl")
"$CERTA" query holder "$HOLDER" --to node0 --genesis "$G" >"$W/holder.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=[x["result"] for x in d["records"]];
sys.exit(0 if len(r) >= 3 and "ok" in r and "rejected" in r else 1)' "$W/holder.json" ||
    fail "the holder has not the records expected: $(cat "$W/holder.json")"
head -n 1 "$W/s0.rc" >"$W/receipt.json"
note "events committed at height $HEIGHT; holder with $(grep -o '"seq"' "$W/holder.json" | wc -l) records"

# load while the browser watches the events/s figure: the other chunks,
# one after another, in the background
(
    seq=100
    for f in "$W"/load/g-000[1-7].jsonl; do
        "$CERTA" submit --to all --genesis "$G" --integrator app --key "$KEYS/app.pem" \
            --seq "$seq" --batch 4 --quiet "$f" >/dev/null 2>&1 || true
        seq=$((seq + 100))
        sleep 1
    done
) &
PIDS[1]=$!
mkdir -p "$W/shots"
python3 "$SRC/tests/integration/browser_check.py" "http://127.0.0.1:$GW_PORT" "$W/holder.json" \
    "$W/receipt.json" "$W/shots" || fail "the web page in Chromium"
if [ -n "${CERTA_WEB_SCREENSHOTS:-}" ]; then
    mkdir -p "$CERTA_WEB_SCREENSHOTS"
    cp "$W"/shots/*.png "$CERTA_WEB_SCREENSHOTS/"
fi
note "web page checked in headless Chromium ($("$CHROMIUM" --version 2>/dev/null | head -n 1))"

# certa up stops its gateway with the validators
kill -TERM "${PIDS[0]}"
wait "${PIDS[0]}" || true
PIDS[0]=
sleep 0.5
curl_ok=0
python3 -c 'import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "http://127.0.0.1:$GW_PORT/healthz" 2>/dev/null && curl_ok=1
[ "$curl_ok" = 0 ] || fail "the gateway outlived certa up"
echo "it_gateway_web: passed in ${SECONDS}s"
