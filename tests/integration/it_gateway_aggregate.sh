#!/usr/bin/env bash
# certa gateway --aggregate-ms in front of 4 validators on 127.0.0.1 (ports
# 24800..24832, gateway 24880): small POSTs share signed batches, and
# nothing is lost or executed twice.
# - 24 concurrent POSTs of 2 grants each: every one 200 with its own 2
#   receipts (its own events, verified offline), in fewer signed batches
#   than POSTs ("aggregated_in", "seq_first");
# - a POST repeated with its Idempotency-Key gets its first answer byte for
#   byte, and the chain holds each grant once;
# - POSTs waiting in a group while the validators are stopped, the gateway
#   killed: the group's file is on disk; at the next start the group is
#   submitted again whole, each POST's status URL ends committed, a retry
#   of one of them gets its receipts, and every grant is on the chain once.
set -euo pipefail
BASE_PORT=$((24800 + ${CERTA_TEST_PORT_OFFSET:-0}))
GW_PORT=$((BASE_PORT + 80))
. "$(dirname "$0")/cluster_lib.sh"
SECONDS=0
command -v python3 >/dev/null || { echo "SKIP: it_gateway_aggregate: no python3"; exit 0; }
cl_init
cl_start_all
note "4 validators up after ${SECONDS}s"

python3 "$SRC/tests/integration/cluster_grants.py" "$W/post" 2 48
TOKEN=centre-system-token-0123456789
printf 'counters %s\n' "$(echo "$TOKEN" | "$CERTA" gateway --hash-token)" >"$W/tokens"
start_gw() {
    "$CERTA" gateway --genesis "$G" --listen "127.0.0.1:$GW_PORT" --timeout-ms 3000 \
        --to node1,node2,node3 --integrator app --key "$KEYS/app.pem" --tokens "$W/tokens" \
        --state "$W/gwstate" --aggregate-ms 300 >>"$W/gw.out" 2>>"$W/gw.err" &
    PIDS[10]=$!
    local end=$((SECONDS + 30))
    until [ "$(grep -c serving "$W/gw.out" 2>/dev/null)" -ge "$1" ]; do
        kill -0 "${PIDS[10]}" 2>/dev/null || fail "gateway exited: $(cat "$W/gw.err")"
        [ "$SECONDS" -lt "$end" ] || fail "gateway did not start"
        sleep 0.1
    done
}
start_gw 1

# 24 POSTs of 2 grants at once (chunk 0's 48 grants)
python3 - "http://127.0.0.1:$GW_PORT" "$TOKEN" "$W" 0 <<'PY' || fail "aggregated POSTs"
import json, sys, threading, urllib.request
base, token, w, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
lines = open(w + "/post/g-%04d.jsonl" % chunk, "rb").read().splitlines()
res = [None] * 24
def post(i):
    body = lines[2 * i] + b"\n" + lines[2 * i + 1] + b"\n"
    req = urllib.request.Request(base + "/v1/batches", data=body, method="POST",
        headers={"Authorization": "Bearer " + token, "Idempotency-Key": "agg-%d" % i})
    with urllib.request.urlopen(req, timeout=60) as r:
        res[i] = (r.status, r.read())
ts = [threading.Thread(target=post, args=(i,)) for i in range(24)]
for t in ts: t.start()
for t in ts: t.join()
groups = set()
with open(w + "/rc.jsonl", "w") as rc:
    for i, (st, raw) in enumerate(res):
        d = json.loads(raw)
        mine = [json.loads(lines[2 * i + k])["grant_id"] for k in (0, 1)]
        if not (st == 200 and d["status"] == "committed" and d["ok"] == 2 and
                len(d["receipts"]) == 2 and d["seq_first"] == int(d["aggregated_in"])):
            print("FAIL: POST %d: %s %s" % (i, st, {k: d.get(k) for k in
                  ("status", "ok", "aggregated_in", "seq_first", "error")})); sys.exit(1)
        for r, g in zip(d["receipts"], mine):
            if g not in r["event"]:
                print("FAIL: POST %d got a receipt for another POST's event" % i); sys.exit(1)
            rc.write(json.dumps(r) + "\n")
        groups.add(d["aggregated_in"])
        open(w + "/ans-%d" % i, "wb").write(raw)
if len(groups) >= 24:
    print("FAIL: 24 POSTs in %d groups: nothing aggregated" % len(groups)); sys.exit(1)
print("ok: 24 POSTs of 2 grants: 200 each with its own 2 receipts, in %d signed batches"
      % len(groups))
PY
"$CERTA" receipt verify --genesis "$G" "$W/rc.jsonl" >"$W/verify.out" 2>&1 ||
    fail "receipts of aggregated POSTs: $(tail -3 "$W/verify.out")"
note "the 48 receipts verify offline"

python3 - "http://127.0.0.1:$GW_PORT" "$TOKEN" "$W" <<'PY' || fail "a repeated POST"
import sys, urllib.request
base, token, w = sys.argv[1:4]
lines = open(w + "/post/g-0000.jsonl", "rb").read().splitlines()
body = lines[10] + b"\n" + lines[11] + b"\n"
req = urllib.request.Request(base + "/v1/batches", data=body, method="POST",
    headers={"Authorization": "Bearer " + token, "Idempotency-Key": "agg-5"})
with urllib.request.urlopen(req, timeout=60) as r:
    st, raw = r.status, r.read()
if st != 200 or raw != open(w + "/ans-5", "rb").read():
    print("FAIL: the repeat of POST 5: %s, not its first answer" % st); sys.exit(1)
print("ok: POST 5 repeated with its key: its first answer, byte for byte")
PY
once() { # CHUNK: every grant of it on the chain exactly once (a holder each)
    python3 - "$W/post/g-000$1.jsonl" <<'PY' >"$W/holders"
import json, sys
for l in open(sys.argv[1]):
    print(json.loads(l)["holder_id"])
PY
    local h n
    while read -r h; do
        n=$("$CERTA" query holder "$h" --to node0 --genesis "$G" | python3 -c \
            'import json,sys; print(len(json.load(sys.stdin)["records"]))')
        [ "$n" = 1 ] || fail "holder $h: $n records, not 1"
    done <"$W/holders"
}
once 0
note "every grant of the 24 POSTs is on the chain once"

# a group in flight when the gateway is killed
for k in 1 2 3; do kill -STOP "${PIDS[$k]}"; done
python3 - "http://127.0.0.1:$GW_PORT" "$TOKEN" "$W" <<'PY' &
import sys, threading, urllib.request
base, token, w = sys.argv[1:4]
lines = open(w + "/post/g-0001.jsonl", "rb").read().splitlines()
def post(i):
    body = lines[2 * i] + b"\n" + lines[2 * i + 1] + b"\n"
    req = urllib.request.Request(base + "/v1/batches", data=body, method="POST",
        headers={"Authorization": "Bearer " + token, "Idempotency-Key": "kill-%d" % i})
    try:
        urllib.request.urlopen(req, timeout=60).read()
    except Exception:
        pass  # the gateway is killed under it
ts = [threading.Thread(target=post, args=(i,)) for i in range(6)]
for t in ts: t.start()
for t in ts: t.join()
PY
POSTER=$!
end=$((SECONDS + 30))
until ls "$W"/gwstate/batches/*.group >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$end" ] || fail "no group file while the validators are stopped"
    sleep 0.1
done
sleep 0.5
ls "$W"/gwstate/batches/ >"$W/batches-at-kill"
kill -KILL "${PIDS[10]}"
wait "${PIDS[10]}" 2>/dev/null || true
wait "$POSTER" 2>/dev/null || true
for k in 1 2 3; do kill -CONT "${PIDS[$k]}"; done
grep -c '\.events$' "$W/batches-at-kill" >/dev/null || fail "no POST pending at the kill"
note "killed with $(grep -c '\.group$' "$W/batches-at-kill") group(s) and $(grep -c '\.events$' "$W/batches-at-kill") POSTs pending"
start_gw 2
python3 - "http://127.0.0.1:$GW_PORT" "$TOKEN" "$W" <<'PY' || fail "the group after the restart"
import json, os, sys, time, urllib.request
base, token, w = sys.argv[1:4]
ids = [n[:-len(".events")] for n in open(w + "/batches-at-kill").read().split()
       if n.endswith(".events")]
end = time.time() + 90
for bid in ids:
    while True:
        req = urllib.request.Request(base + "/v1/batches/" + bid,
                                     headers={"Authorization": "Bearer " + token})
        s = json.loads(urllib.request.urlopen(req, timeout=10).read())
        if s["status"] != "pending" or time.time() > end:
            break
        time.sleep(0.5)
    if not (s["status"] == "committed" and s["ok"] == 2):
        print("FAIL: POST %s after the restart: %s" % (bid, {k: s.get(k) for k in
              ("status", "ok", "error", "aggregated_in")})); sys.exit(1)
# a retry of one of them: its receipts, not a second execution
lines = open(w + "/post/g-0001.jsonl", "rb").read().splitlines()
req = urllib.request.Request(base + "/v1/batches", data=lines[0] + b"\n" + lines[1] + b"\n",
    method="POST", headers={"Authorization": "Bearer " + token, "Idempotency-Key": "kill-0"})
with urllib.request.urlopen(req, timeout=60) as r:
    d = json.loads(r.read())
if not (d["status"] == "committed" and d["ok"] == 2):
    print("FAIL: retry of kill-0: %s" % d); sys.exit(1)
while True:  # the last group's files go right after its outcomes
    left = [n for n in os.listdir(w + "/gwstate/batches") if n.endswith((".group", ".events"))]
    if not left or time.time() > end:
        break
    time.sleep(0.2)
if left:
    print("FAIL: files left pending: %s" % left); sys.exit(1)
print("ok: %d POSTs pending at the kill: committed after the restart, their group gone" % len(ids))
PY
grep -q "was pending at the last stop: submitting it again" "$W/gw.err" ||
    fail "the resumed group was not logged"
# the POSTs the kill cut before they joined a group were never sent: the
# retry posts them now; every grant of chunk 1 that was posted is there once
python3 - "http://127.0.0.1:$GW_PORT" "$TOKEN" "$W" <<'PY' || fail "retries after the restart"
import json, sys, urllib.request
base, token, w = sys.argv[1:4]
lines = open(w + "/post/g-0001.jsonl", "rb").read().splitlines()
for i in range(6):
    req = urllib.request.Request(base + "/v1/batches",
        data=lines[2 * i] + b"\n" + lines[2 * i + 1] + b"\n", method="POST",
        headers={"Authorization": "Bearer " + token, "Idempotency-Key": "kill-%d" % i})
    with urllib.request.urlopen(req, timeout=60) as r:
        d = json.loads(r.read())
    if d["status"] != "committed":
        print("FAIL: kill-%d retried: %s" % (i, d)); sys.exit(1)
print("ok: the 6 POSTs of the kill, each retried with its key: committed")
PY
head -n 12 "$W/post/g-0001.jsonl" >"$W/post/g-0009.jsonl"
once 9
note "group resumed at the restart; the 12 grants posted around the kill are on the chain once"
kill -TERM "${PIDS[10]}"
wait "${PIDS[10]}" || fail "gateway did not stop cleanly on SIGTERM"
PIDS[10]=
echo "it_gateway_aggregate: passed in ${SECONDS}s"
