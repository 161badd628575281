#!/usr/bin/env bash
# `certa query ... --to ENDPOINT` on a live 4-validator cluster (127.0.0.1,
# ports 29500..29532 plus $CERTA_TEST_PORT_OFFSET): submits grants,
# wrong-code redeems, redeems and evidence, then asks two different
# validators for a holder, a grant and a block (with paging), checks
# not-found and bad-cursor answers, the integrators' highest executed
# sequence numbers (also after a restart), malformed QUERY bodies (each answered
# with ERROR 701 and counted in certa_queries_total) and failover past a
# stopped validator, stops the cluster and requires every online answer to
# equal, byte for byte, the offline `certa query --data` of the validator's
# data directory (between validators only a block's commit signatures may
# differ: each keeps the 2f+1 it collected).
set -euo pipefail
BASE_PORT=$((29500 + ${CERTA_TEST_PORT_OFFSET:-0}))
. "$(dirname "$0")/cluster_lib.sh"
SECONDS=0
cl_init
python3 "$SRC/tests/integration/cluster_events.py" "$W/ev" 30 7 5
cl_start_all
note "cluster up after ${SECONDS}s"

for phase in 1-grants:app 2-wrong:counter-dongcheng 3-redeem:counter-dongcheng 4-evidence:counter-dongcheng; do
    f=${phase%%:*}
    who=${phase##*:}
    cl_submit "$who" "$W/ev/$f.jsonl" "$W/$f" --batch 8
    cl_expect "$W/$f" "$f"
done
cl_wait_equal_heights 1 90
note "all four validators at height $HEIGHT after ${SECONDS}s"

# Grant 3 got a wrong code, then the right one, then confirm, sign and photo.
read -r GRANT HOLDER < <(python3 -c '
import json, sys
o = json.loads(open(sys.argv[1]).readlines()[3])
print(o["grant_id"], o["holder_id"])' "$W/ev/1-grants.jsonl")
BLOCK=$(python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())["height"])' \
        "$W/3-redeem.rc")
NOBODY=$(printf 'nobody' | sha256sum | cut -c1-64)

# q NAME RC ARGS...: runs certa query ARGS, output to $W/NAME.out/.err,
# requires exit code RC.
q() {
    local name=$1 want=$2 rc
    shift 2
    set +e
    timeout 90 "$CERTA" query "$@" >"$W/$name.out" 2>"$W/$name.err"
    rc=$?
    set -e
    [ "$rc" = "$want" ] || fail "query $name ($*) exited $rc, expected $want: $(cat "$W/$name.err")"
}

# The same questions to validators 1 and 2 (by name and by endpoint).
for v in 1 2; do
    if [ "$v" = 1 ]; then to=node1; else to="tcp://127.0.0.1:$((BASE_PORT + 21))"; fi
    src=(--to "$to" --genesis "$G")
    q "on$v-holder" 0 holder "$HOLDER" "${src[@]}"
    q "on$v-holder-p1" 0 holder "$HOLDER" "${src[@]}" --limit 1
    cur=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["next_cursor"])' \
          "$W/on$v-holder-p1.out") || fail "holder page 1 has no next_cursor: $(cat "$W/on$v-holder-p1.out")"
    q "on$v-holder-p2" 0 holder "$HOLDER" "${src[@]}" --limit 1 --cursor "$cur"
    q "on$v-grant" 0 grant "$GRANT" "${src[@]}"
    q "on$v-block" 0 block "$BLOCK" "${src[@]}"
    q "on$v-block-p2" 0 block "$BLOCK" "${src[@]}" --limit 1 --cursor 1
    q "on$v-nobody" 1 holder "$NOBODY" "${src[@]}"
    grep -q "no such holder $NOBODY" "$W/on$v-nobody.err" || fail "not found: $(cat "$W/on$v-nobody.err")"
    q "on$v-noblock" 1 block 999999 "${src[@]}"
    grep -q "no such block 999999" "$W/on$v-noblock.err" || fail "no block: $(cat "$W/on$v-noblock.err")"
    q "on$v-nogrant" 1 grant 00000000000000000000000000000000 "${src[@]}"
    q "on$v-badcursor" 2 grant "$GRANT" "${src[@]}" --cursor 999999999
done
# Each validator keeps the 2f+1 commit signatures it collected: blocks agree
# but for "commit", the rest byte for byte.
for x in holder holder-p1 holder-p2 grant block block-p2; do
    python3 - "$W/on1-$x.out" "$W/on2-$x.out" <<'PY' \
        || fail "validators 1 and 2 answer $x differently: $(cat "$W/on1-$x.out" "$W/on2-$x.out")"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for d in (a, b):
    c = d.pop("commit", None)
    if c is not None:
        d["commit_block_hash"] = c["block_hash"]
sys.exit(0 if a == b else 1)
PY
done

# What the answers say.
python3 - "$W" "$GRANT" "$HOLDER" "$BLOCK" "$HEIGHT" <<'PY' || fail "online answers: see above"
import json, sys
w, grant, holder, block, height = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
ld = lambda n: json.load(open("%s/on1-%s.out" % (w, n)))
h, g, b, b2 = ld("holder"), ld("grant"), ld("block"), ld("block-p2")
p1, p2 = ld("holder-p1"), ld("holder-p2")
def check(cond, what):
    if not cond:
        print("FAIL:", what); sys.exit(1)
check(h["holder_id"] == holder and h["height"] == height, "holder id and height %r" % h)
kinds = [(r["kind"], r.get("reason")) for r in h["records"]]
check(kinds[:3] == [("grant", None), ("redeem", "code_mismatch"), ("redeem", None)]
      and sorted(k for k, _ in kinds[3:]) == ["confirm", "photo", "sign"], "holder records %r" % kinds)
check(p1["records"] == h["records"][:1] and p2["records"] == h["records"][1:2], "holder pages")
check(g["grant_id"] == grant and g["status"] == "exhausted" and g["uses"] == 1
      and g["failed_attempts"] == 1 and len(g["history"]) == 6 and g["height"] == height, "grant %r" % g)
check(b["height"] == block and b["header"]["height"] == block, "block height")
n = b["header"]["event_count"]
check(len(b["events"]) == min(n, 100) and b["events"][0]["index"] == 0, "block events")
check(len(b["commit"]["signatures"]) >= 3 and b["commit"]["block_hash"] == b["hash"], "commit certificate")
check(len(b["header_hex"]) == 336, "header bytes")
check(any(e["event"]["kind"] == "redeem" for e in b["events"]), "a redeem in block %d" % block)
check(b2["events"] == b["events"][1:2] and b2["height"] == block, "block page 2")
print("holder: %d records, grant %s, block %d: %d events, %d signatures" %
      (len(h["records"]), g["status"], block, n, len(b["commit"]["signatures"])))
PY

# Malformed QUERY bodies get ERROR 701 and are counted; the validator serves on.
BAD=${CERTA_BUILD_DIR:-$(dirname "$CERTA")}/cluster_badclient
if [ -x "$BAD" ]; then
    "$BAD" "$G" 1 "$KEYS/app.pem" app "$W/ev/1-grants.jsonl" 999 \
        query-short query-long query-kind query-empty >"$W/bad.out" 2>&1 || fail "$(cat "$W/bad.out")"
    for c in query-short query-long query-kind query-empty; do
        grep -q "^$c reply 18 701 " "$W/bad.out" || fail "$c: $(cat "$W/bad.out")"
    done
    grep -q "^query-kind reply 18 701 not a well-formed query: query: unknown kind 9" "$W/bad.out" \
        || fail "query-kind message: $(cat "$W/bad.out")"
    invalid=$(python3 - "$((BASE_PORT + 12))" <<'PY'
import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=3).read().decode()
print(sum(int(float(l.rsplit(" ", 1)[1])) for l in t.splitlines()
          if l.startswith('certa_queries_total{kind="invalid"')))
PY
)
    [ "$invalid" -ge 4 ] || fail "invalid queries counted: $invalid"
    nf=$(python3 - "$((BASE_PORT + 12))" <<'PY'
import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=3).read().decode()
print(sum(int(float(l.rsplit(" ", 1)[1])) for l in t.splitlines()
          if l.startswith('certa_queries_total{') and 'result="not_found"' in l))
PY
)
    [ "$nf" -ge 3 ] || fail "not-found queries counted: $nf"
    q after-bad 0 holder "$HOLDER" --to node1 --genesis "$G"
    python3 - "$((BASE_PORT + 12))" <<'PY' || true
import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=3).read().decode()
v = {l.split(" ")[0]: float(l.rsplit(" ", 1)[1]) for l in t.splitlines()
     if l.startswith("certa_query_seconds_sum") or l.startswith("certa_query_seconds_count")}
n = v.get("certa_query_seconds_count", 0)
if n:
    print("== node1 answered %d queries, %.0f us each on average (certa_query_seconds)" %
          (n, 1e6 * v["certa_query_seconds_sum"] / n))
PY
    note "malformed queries: ERROR 701 each, $invalid counted as invalid; node1 still answers"
else
    note "SKIP malformed queries: $BAD not built"
fi

# An integrator's highest executed sequence number: the highest seq of its
# receipts, at the validator's height; an unknown name exits 1.
want_seq() { # INTEGRATOR_INDEX RECEIPT_FILES...: the highest seq they hold
    python3 - "$@" <<'PY'
import json, sys
print(max(json.loads(l)["seq"] for f in sys.argv[2:] for l in open(f)
          if json.loads(l)["integrator"] == int(sys.argv[1])))
PY
}
APP_SEQ=$(want_seq 0 "$W/1-grants.rc")
CTR_IX=$(python3 -c 'import json,sys; print([i["name"] for i in json.load(open(sys.argv[1]))["integrators"]].index("counter-dongcheng"))' "$G")
CTR_SEQ=$(want_seq "$CTR_IX" "$W/2-wrong.rc" "$W/3-redeem.rc" "$W/4-evidence.rc")
check_integrator() { # NAME OUT WANT_SEQ
    python3 - "$@" "$HEIGHT" <<'PY' || fail "integrator $1: $(cat "$2")"
import json, sys
name, out, want, height = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
d = json.load(open(out))
sys.exit(0 if d["integrator"] == name and d["highest_seq"] == want and d["height"] == height
         else 1)
PY
}
for v in 1 2; do
    q "on$v-int-app" 0 integrator app --to "node$v" --genesis "$G"
    check_integrator app "$W/on$v-int-app.out" "$APP_SEQ"
    q "on$v-int-ctr" 0 integrator counter-dongcheng --to "node$v" --genesis "$G"
    check_integrator counter-dongcheng "$W/on$v-int-ctr.out" "$CTR_SEQ"
    q "on$v-int-lib" 0 integrator library --to "node$v" --genesis "$G"
    check_integrator library "$W/on$v-int-lib.out" 0
    q "on$v-int-none" 1 integrator nobody --to "node$v" --genesis "$G"
    grep -q "no such integrator nobody in genesis" "$W/on$v-int-none.err" \
        || fail "unknown integrator: $(cat "$W/on$v-int-none.err")"
done
q off-int 2 integrator app --data "$W/c/node1/data" --genesis "$G"
note "integrator queries: app at seq $APP_SEQ, counter-dongcheng at $CTR_SEQ, library 0"

# A validator that does not answer is skipped for the next one in --to.
kill -TERM "${PIDS[3]}"
wait "${PIDS[3]}" || fail "validator 3 exited $? on SIGTERM"
PIDS[3]=
# (the client library starts at request id 1 mod 2: the second endpoint)
q failover 0 holder "$HOLDER" --to node1,node3 --genesis "$G" --timeout-ms 4000
cmp -s "$W/failover.out" "$W/on1-holder.out" || fail "failover answer: $(cat "$W/failover.out")"
note "node3 stopped: --to node1,node3 answered by node1"

# The highest executed seqs survive a restart (the log is replayed at start).
cl_start 3
end=$((SECONDS + 60))
until timeout 10 "$CERTA" query integrator counter-dongcheng --to node3 --genesis "$G" \
        --timeout-ms 1000 >"$W/on3-int-ctr.out" 2>/dev/null; do
    [ "$SECONDS" -lt "$end" ] || fail "restarted validator 3 never answered"
    sleep 0.2
done
check_integrator counter-dongcheng "$W/on3-int-ctr.out" "$CTR_SEQ"
kill -TERM "${PIDS[3]}"
wait "${PIDS[3]}" || fail "validator 3 exited $? on SIGTERM"
PIDS[3]=
note "restarted validator 3 answers counter-dongcheng at seq $CTR_SEQ"

# Stop cleanly, then the offline answers must be the same bytes.
for k in 0 1 2; do kill -TERM "${PIDS[$k]}"; done
for k in 0 1 2; do
    wait "${PIDS[$k]}" || fail "validator $k exited $? on SIGTERM"
    PIDS[$k]=
done
for v in 1 2; do
    src=(--data "$W/c/node$v/data" --genesis "$G")
    q "off$v-holder" 0 holder "$HOLDER" "${src[@]}"
    q "off$v-holder-p2" 0 holder "$HOLDER" "${src[@]}" --limit 1 --cursor "$cur"
    q "off$v-grant" 0 grant "$GRANT" "${src[@]}"
    q "off$v-block" 0 block "$BLOCK" "${src[@]}"
    q "off$v-block-p2" 0 block "$BLOCK" "${src[@]}" --limit 1 --cursor 1
    q "off$v-nobody" 1 holder "$NOBODY" "${src[@]}"
    for x in holder holder-p2 grant block block-p2; do
        cmp -s "$W/on$v-$x.out" "$W/off$v-$x.out" \
            || fail "validator $v: $x online and offline differ:
online:  $(head -c 600 "$W/on$v-$x.out")
offline: $(head -c 600 "$W/off$v-$x.out")"
    done
done
note "online answers of validators 1 and 2 equal the offline ones"
note "it_query_online passed in ${SECONDS}s"
