#!/usr/bin/env bash
# certa gateway in front of 4 validators on 127.0.0.1 (ports 23000..23032,
# gateways 23080..23082): the public read API over HTTP and HTTPS, and the
# integrator API.
# - the documents are those of `certa query` (block, holder, grant,
#   integrator, status with the chain id of the genesis);
# - status codes: 400 bad argument, 404 no such item or path, 405 not GET;
#   a block is served immutable, a holder's page for a second, the rest
#   no-cache;
# - a client address over its rate gets 429 with Retry-After, and only it;
# - oversized request headers are refused and the gateway goes on serving;
# - with the first validator of its list killed, it still answers;
# - HTTPS with a certificate and key given on the command line;
# - the answers match docs/openapi.yaml;
# - POST /v1/batches: receipts; a repeated POST with its Idempotency-Key
#   (also after a restart of the gateway) gets the original receipts, never
#   a second execution; the key with another body 422; no or a wrong token
#   401; a bad event 400 naming line and field; over 1 MiB 413 (announced:
#   before the body is read; chunked: after it);
# - POST /v1/receipts/verify: a real receipt valid, one with a flipped byte
#   refused naming the part; GET /v1/genesis is the genesis file's bytes;
# - every POST has a status URL (/v1/batches/ID, the caller's only) with its
#   outcome and receipts; "Prefer: respond-async" answers 202 at once, and a
#   batch pending when the gateway is killed is submitted again at its next
#   start and ends committed there.
set -euo pipefail
BASE_PORT=$((23000 + ${CERTA_TEST_PORT_OFFSET:-0}))
GW_PORT=$((BASE_PORT + 80))
GW_TLS_PORT=$((BASE_PORT + 81))
. "$(dirname "$0")/cluster_lib.sh"
SECONDS=0
command -v python3 >/dev/null || { echo "SKIP: it_gateway: no python3"; exit 0; }
cl_init
cl_start_all
note "4 validators up after ${SECONDS}s"

python3 "$SRC/tests/integration/cluster_grants.py" "$W/load" 1 40
cl_submit app "$W/load/g-0000.jsonl" "$W/s1" --batch 8
[ "$(cat "$W/s1.exit")" = 0 ] || fail "submit: $(cat "$W/s1.sum" "$W/s1.err")"
cl_wait_equal_heights 1 60
note "40 grants committed; all four at height $HEIGHT"

start_gw() { # PORT [options]: a gateway in the background, up when it answers
    local port=$1
    shift
    "$CERTA" gateway --genesis "$G" --listen "127.0.0.1:$port" --timeout-ms 3000 "$@" \
        >"$W/gw-$port.out" 2>"$W/gw-$port.err" &
    PIDS[$((10 + port - GW_PORT))]=$!
    local end=$((SECONDS + 30))
    until grep -q "serving" "$W/gw-$port.out" 2>/dev/null; do
        kill -0 "${PIDS[$((10 + port - GW_PORT))]}" 2>/dev/null ||
            fail "gateway on $port exited: $(cat "$W/gw-$port.err")"
        [ "$SECONDS" -lt "$end" ] || fail "gateway on $port did not start"
        sleep 0.1
    done
}
start_gw "$GW_PORT" --to node0,node1,node2,node3 --rate-per-s 2 --burst 60

# what certa query says, for the comparison
"$CERTA" query block 1 --to node0 --genesis "$G" >"$W/q-block.json"
HOLDER=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["holder_id"])' \
    "$W/load/g-0000.jsonl")
"$CERTA" query holder "$HOLDER" --to node0 --genesis "$G" >"$W/q-holder.json"
GRANT=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["grant_id"])' \
    "$W/load/g-0000.jsonl")
"$CERTA" query grant "$GRANT" --to node0 --genesis "$G" >"$W/q-grant.json"
"$CERTA" query integrator app --to node0 --genesis "$G" >"$W/q-integ.json"

head -n 1 "$W/s1.rc" >"$W/receipt.json"
SRC=$SRC python3 - "http://127.0.0.1:$GW_PORT" "$G" "$W" "$HOLDER" "$GRANT" <<'PY' || fail "gateway answers"
import hashlib, http.client, json, os, sys, urllib.request, urllib.error
import jsonschema, yaml
base, gpath, w, holder, grant = sys.argv[1:6]
def get(path, method="GET", headers=None, data=None):
    req = urllib.request.Request(base + path, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
def check(cond, what):
    if not cond:
        print("FAIL:", what); sys.exit(1)
    print("ok:", what)
st, h, b = get("/healthz"); check(st == 200, "healthz 200")
st, h, b = get("/v1/status")
doc = json.loads(b)
check(st == 200 and doc["chain_id"] == hashlib.sha256(open(gpath, "rb").read()).hexdigest(),
      "status names the chain of the genesis")
check(h.get("Cache-Control") == "no-cache", "status is no-cache")
st, h, b = get("/v1/blocks/1")
q = json.load(open(w + "/q-block.json"))
d = json.loads(b)
check(st == 200 and d["hash"] == q["hash"] and d["height"] == 1 and
      len(d["events"]) == len(q["events"]), "block 1 is certa query's block 1")
check("immutable" in h.get("Cache-Control", ""), "a block is served immutable")
st, h, b = get("/v1/holders/" + holder)
check(st == 200 and json.loads(b)["records"] == json.load(open(w + "/q-holder.json"))["records"],
      "holder records equal certa query's")
check(h.get("Cache-Control") == "public, max-age=1", "a holder's page is served for a second")
st2, h2, b2 = get("/v1/holders/" + holder)
check(st2 == 200 and b2 == b, "the same holder page again (from the gateway's cache)")
st, h, b = get("/v1/grants/" + grant)
check(st == 200 and json.loads(b)["status"] == json.load(open(w + "/q-grant.json"))["status"],
      "grant status equals certa query's")
st, h, b = get("/v1/integrators/app")
check(st == 200 and json.loads(b)["highest_seq"] == json.load(open(w + "/q-integ.json"))["highest_seq"]
      and json.loads(b)["highest_seq"] >= 5, "integrator's highest sequence")
st, h, b = get("/v1/holders/" + holder + "?limit=1")
d = json.loads(b)
check(st == 200 and len(d["records"]) == 1, "paging: limit=1 gives one record")
for path, code, what in (("/v1/blocks/99999999", 404, "unknown block"),
                         ("/v1/blocks/abc", 400, "block height not a number"),
                         ("/v1/grants/00", 400, "grant id too short"),
                         ("/v1/grants/" + "0" * 32, 404, "unknown grant"),
                         ("/v1/holders/zz", 400, "holder id not hex"),
                         ("/v1/integrators/nobody", 404, "unknown integrator"),
                         ("/v1/blocks/1?limit=0", 400, "limit out of range"),
                         ("/v1/nothing", 404, "unknown path"),
                         ("/../../etc/passwd", 404, "path traversal")):
    st, h, b = get(path)
    e = json.loads(b)["error"]
    check(st == code and e["status"] == code and e["message"], "%s: %d with a message" % (what, code))
st, h, b = get("/v1/status", method="POST")
check(st == 405 and "GET" in h.get("Allow", ""), "POST: 405 with Allow")
# the genesis, byte for byte; receipts verified against it
st, h, b = get("/v1/genesis")
check(st == 200 and b == open(gpath, "rb").read(), "GET /v1/genesis: the genesis file's bytes")
spec = yaml.safe_load(open(os.environ["SRC"] + "/docs/openapi.yaml"))
vs = dict(spec["components"]["schemas"]["Verdict"]); vs["components"] = spec["components"]
verdict_ok = lambda d: not list(jsonschema.Draft202012Validator(vs).iter_errors(d))
rc = json.loads(open(w + "/receipt.json").read())
st, h, b = get("/v1/receipts/verify", method="POST", data=json.dumps(rc).encode())
d = json.loads(b)
check(st == 200 and d["valid"] is True and d["height"] == rc["height"] and verdict_ok(d),
      "a real receipt verifies (%s)" % d)
sig = rc["commit"]["signatures"][1]["signature"]
rc["commit"]["signatures"][1]["signature"] = "%02x" % (int(sig[:2], 16) ^ 0x10) + sig[2:]
st, h, b = get("/v1/receipts/verify", method="POST", data=json.dumps(rc).encode())
d = json.loads(b)
check(st == 200 and d["valid"] is False and d["part"] == "commit" and "does not verify" in d["message"]
      and verdict_ok(d), "a flipped signature byte: refused at commit (%s)" % d["message"])
rc = json.loads(open(w + "/receipt.json").read())
rc["header"] = rc["header"][:100] + "%x" % (int(rc["header"][100], 16) ^ 1) + rc["header"][101:]
st, h, b = get("/v1/receipts/verify", method="POST", data=json.dumps(rc).encode())
d = json.loads(b)
check(st == 200 and d["valid"] is False and d["part"] in ("header", "commit") and verdict_ok(d),
      "a flipped header byte: refused (%s)" % d["message"])
st, h, b = get("/v1/receipts/verify", method="POST", data=b'{"receipt": 1')
check(st == 400 and "line 1" in json.loads(b)["error"]["message"], "not JSON: 400 naming where")
# oversized headers: refused, and the gateway goes on
c = http.client.HTTPConnection(base.split("//")[1], timeout=10)
try:
    c.request("GET", "/v1/status", headers={"X-Big": "a" * 100000})
    r = c.getresponse()
    big = r.status
except (ConnectionError, http.client.HTTPException):
    big = "closed"
check(big != 200, "100 kB of headers refused (%s)" % big)
st, h, b = get("/healthz"); check(st == 200, "still serving after it")
# the rate: burst 60 at 2/s; 150 quick requests must meet 429s with Retry-After
codes = []
for i in range(150):
    st, h, b = get("/healthz")
    codes.append(st)
    if st == 429:
        ra = h.get("Retry-After")
        check(ra is not None and int(ra) >= 1, "429 carries Retry-After")
        break
check(429 in codes, "over the rate: 429 after %d requests" % len(codes))
c = http.client.HTTPConnection(base.split("//")[1], timeout=10, source_address=("127.0.0.2", 0))
c.request("GET", "/healthz")
check(c.getresponse().status == 200, "another address (127.0.0.2) is still served")
PY
note "read API, errors, limits: as documented"

# the first validator of the gateway's list dies: it still answers
sleep 3 # the rate bucket refills (2/s: 6 tokens)
kill -KILL "${PIDS[0]}"
PIDS[0]=
python3 - "http://127.0.0.1:$GW_PORT" <<'PY' || fail "gateway with validator 0 dead"
import json, sys, urllib.request
ok = 0
for i in range(3):
    with urllib.request.urlopen(sys.argv[1] + "/v1/blocks/1", timeout=15) as r:
        ok += r.status == 200 and json.loads(r.read())["height"] == 1
if ok != 3:
    print("FAIL: block 1 not served with validator 0 dead"); sys.exit(1)
print("ok: served with validator 0 dead")
PY
note "validator 0 killed: still served"

# HTTPS
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=127.0.0.1 -keyout "$W/tls.key" -out "$W/tls.crt" 2>/dev/null ||
    fail "openssl req"
start_gw "$GW_TLS_PORT" --to node1,node2 --tls-cert "$W/tls.crt" --tls-key "$W/tls.key"
python3 - "https://127.0.0.1:$GW_TLS_PORT" "$W/tls.crt" <<'PY' || fail "gateway over HTTPS"
import json, ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.check_hostname = False
with urllib.request.urlopen(sys.argv[1] + "/v1/status", timeout=10, context=ctx) as r:
    d = json.loads(r.read())
    if r.status != 200 or "chain_id" not in d:
        print("FAIL: status over HTTPS"); sys.exit(1)
print("ok: status over HTTPS")
PY
"$CERTA" gateway --genesis "$G" --listen 127.0.0.1:1 --tls-cert "$W/tls.crt" >/dev/null 2>&1 &&
    fail "--tls-cert without --tls-key accepted"
"$CERTA" gateway --genesis "$G" --listen nowhere >/dev/null 2>"$W/bad.err" &&
    fail "a bad --listen accepted"
grep -q -- "--listen" "$W/bad.err" || fail "a bad --listen: the message does not name it"
note "HTTPS served; bad options refused"

# the answers match docs/openapi.yaml (statuses, schemas, headers). The
# chain is idle here: /checkpoint is 200 once a quorum signed a checkpoint
# height (every 8 blocks), 503 before, as the validators say now
CP_STATUS=503
"$CERTA" merkle checkpoint fetch --to all --genesis "$G" >/dev/null 2>&1 && CP_STATUS=200
python3 "$SRC/tests/integration/openapi_check.py" "$SRC/docs/openapi.yaml" \
    "https://127.0.0.1:$GW_TLS_PORT" "$W/tls.crt" >"$W/openapi.out" 2>&1 <<EOF ||
/healthz 200
/v1/status 200
/v1/blocks/1 200
/v1/blocks/1?limit=1 200
/v1/blocks/99999999 404
/v1/blocks/x 400
/v1/grants/$GRANT 200
/v1/grants/00000000000000000000000000000000 404
/v1/holders/$HOLDER 200
/v1/holders/$HOLDER?limit=1 200
/v1/holders/nothex 400
/v1/integrators/app 200
/v1/integrators/nobody 404
/v1/batches/1 404
/v1/genesis 200
/metrics 200
/ 200
/v2/anything 404
/checkpoint $CP_STATUS
/tile/0/000 404
/tile/entries/000.p/5 404
EOF
    fail "the gateway and docs/openapi.yaml disagree: $(grep -v '^ok' "$W/openapi.out")"
note "answers as docs/openapi.yaml documents them ($(grep -c '^ok' "$W/openapi.out") checks)"
# --- the integrator API: POST /v1/batches
python3 "$SRC/tests/integration/cluster_grants.py" "$W/post" 3 10
TOKEN=counter-system-token-0123456789
printf 'counters %s\n' "$(echo "$TOKEN" | "$CERTA" gateway --hash-token)" >"$W/tokens"
GW_POST_PORT=$((BASE_PORT + 82))
start_post_gw() {
    start_gw "$GW_POST_PORT" --to node1,node2,node3 --integrator app --key "$KEYS/app.pem" \
        --tokens "$W/tokens" --state "$W/gwstate"
}
start_post_gw
SRC=$SRC python3 - "http://127.0.0.1:$GW_POST_PORT" "$TOKEN" "$W" first <<'PY' || fail "POST /v1/batches"
import json, sys, urllib.request, urllib.error
base, token, w, phase = sys.argv[1:5]
def post(body, token=token, key=None, ctype="application/x-ndjson"):
    h = {"Content-Type": ctype}
    if token:
        h["Authorization"] = "Bearer " + token
    if key:
        h["Idempotency-Key"] = key
    req = urllib.request.Request(base + "/v1/batches", data=body, method="POST", headers=h)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
            post.raw = raw
            return r.status, dict(r.headers), json.loads(raw)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"{}")
def check(cond, what):
    if not cond:
        print("FAIL:", what); sys.exit(1)
    print("ok:", what)
g0 = open(w + "/post/g-0000.jsonl", "rb").read()
g1 = open(w + "/post/g-0001.jsonl", "rb").read()
st, h, d = post(g0, key="case-1")
check(st == 200 and d["ok"] == 10 and len(d["receipts"]) == 10 and not d["repeated"],
      "10 grants posted with a key: 200, 10 receipts, all ok")
answer1 = post.raw
json.dump(d, open(w + "/post1.json", "w"))
check(d["status"] == "committed" and h.get("Location") == "/v1/batches/" + d["id"],
      "the answer names its status URL (Location /v1/batches/%s)" % d["id"])
def status(bid, tok=token):
    req = urllib.request.Request(base + "/v1/batches/" + bid,
                                 headers={"Authorization": "Bearer " + tok} if tok else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
st, s1 = status(d["id"])
check(st == 200 and s1["status"] == "committed" and s1["receipts"] == d["receipts"],
      "GET /v1/batches/%s: committed, the same receipts" % d["id"])
check(status(d["id"], tok=None)[0] == 401, "GET /v1/batches/ID without a token: 401")
# the status document is the POST's answer byte for byte (rebuilt from the
# receipts the gateway keeps)
with urllib.request.urlopen(urllib.request.Request(base + "/v1/batches/" + d["id"],
        headers={"Authorization": "Bearer " + token}), timeout=10) as r:
    check(r.read() == answer1, "GET /v1/batches/%s: the POST's answer, byte for byte" % d["id"])
# an outcome file as an older gateway wrote it (the answer itself) is served
# as it is; one whose receipts are cut short is refused, not served short
import os
bdir = w + "/gwstate/batches/"
open(bdir + "17.json", "wb").write(answer1)
check(status("17")[0] == 200, "GET /v1/batches/17: an older gateway's outcome file")
with urllib.request.urlopen(urllib.request.Request(base + "/v1/batches/17",
        headers={"Authorization": "Bearer " + token}), timeout=10) as r:
    check(r.read() == answer1, "GET /v1/batches/17: served as it is")
compact = open(bdir + d["id"] + ".json", "rb").read()
check(compact.startswith(b"certa-gateway-outcome 1\n") and len(compact) < len(answer1),
      "the outcome file holds the head and the binary receipts")
open(bdir + "18.json", "wb").write(compact[:-40])
check(status("18")[0] == 500, "GET /v1/batches/18: an outcome file cut short: 500")
os.remove(bdir + "17.json")
os.remove(bdir + "18.json")
open(w + "/batch-id", "w").write(d["id"])
import jsonschema, yaml, os
spec = yaml.safe_load(open(os.environ["SRC"] + "/docs/openapi.yaml"))
schema = dict(spec["paths"]["/v1/batches"]["post"]["responses"]["200"]["content"]["application/json"]["schema"])
schema["components"] = spec["components"]
errs = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(d)]
check(not errs, "the answer is a BatchResult of docs/openapi.yaml %s" % errs[:1])
if phase == "again":
    sys.exit(0)
heights = sorted(r["height"] for r in d["receipts"])
st, h, d2 = post(g0, key="case-1")
check(st == 200 and d2["repeated"] and d2["seq_first"] == d["seq_first"] and
      sorted(r["height"] for r in d2["receipts"]) == heights,
      "the same POST again: the original receipts (same heights), not a second execution")
st, h, d = post(g1, key="case-1")
check(st == 422 and "another body" in d["error"]["message"], "the key with another body: 422")
st, h, d = post(g1, token=None)
check(st == 401 and h.get("WWW-Authenticate") == "Bearer", "no token: 401 with WWW-Authenticate")
st, h, d = post(g1, token="wrong-token-wrong-token")
check(st == 401, "a wrong token: 401")
arr = b"[" + b",".join(l for l in open(w + "/post/g-0002.jsonl", "rb").read().splitlines()[:3]) + b"]"
st, h, d = post(arr, ctype="application/json")
check(st == 200 and d["ok"] == 3 and d["events"] == 3, "a JSON array of 3 events: 3 receipts")
lines = g1.splitlines()
bad = lines[0] + b"\n" + lines[1].replace(b'"matter":1001', b'"matter":"x"') + b"\n"
st, h, d = post(bad)
m = d["error"]["message"]
check(st == 400 and "line 2" in m and "matter" in m, "a bad event: 400 naming line 2 and the field (%s)" % m)
import http.client, socket
hostport = base.split("//")[1]
# announced too large: answered before the body is read
sk = socket.create_connection(tuple(hostport.split(":")[0:1]) + (int(hostport.split(":")[1]),), timeout=10)
sk.sendall(b"POST /v1/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode() +
           b"\r\nContent-Length: 2000000\r\n\r\n")
status_line = sk.recv(200).split(b"\r\n")[0]
sk.close()
check(b" 413 " in status_line, "Content-Length over 1 MiB: 413 before the body (%s)" % status_line.decode())
# chunked, no length: read, dropped past 1 MiB, then 413
c = http.client.HTTPConnection(hostport, timeout=30)
c.request("POST", "/v1/batches", body=iter([b"x" * 65536] * 17), encode_chunked=True,
          headers={"Authorization": "Bearer " + token})
check(c.getresponse().status == 413, "a chunked body over 1 MiB: 413")
st, h, d = post(b"")
check(st == 400, "an empty body: 400")
PY
note "POST /v1/batches: receipts, idempotent retries, auth, errors as documented"
python3 "$SRC/tests/integration/openapi_check.py" --partial "$SRC/docs/openapi.yaml" \
    "http://127.0.0.1:$GW_POST_PORT" >"$W/openapi-post.out" 2>&1 <<EOF ||
/v1/batches/$(cat "$W/batch-id") 200 bearer=$TOKEN
/v1/batches/$(cat "$W/batch-id") 401
/v1/batches/1 404 bearer=$TOKEN
/v1/batches/x 400 bearer=$TOKEN
EOF
    fail "GET /v1/batches/ID and docs/openapi.yaml disagree: $(grep -v '^ok' "$W/openapi-post.out")"
# SIGTERM while a POST is being handled (its batches wait on stopped
# validators): the POST is still answered, 200 with its receipts, before
# the gateway stops, and the gateway exits 0
python3 "$SRC/tests/integration/cluster_grants.py" "$W/term" 1 5
ls "$W/gwstate/batches" >"$W/term-before"
for k in 1 2 3; do kill -STOP "${PIDS[$k]}"; done
python3 - "http://127.0.0.1:$GW_POST_PORT" "$TOKEN" "$W/term/g-0000.jsonl" >"$W/term.out" 2>&1 <<'PY' &
import json, sys, urllib.request
base, token, path = sys.argv[1:4]
req = urllib.request.Request(base + "/v1/batches", data=open(path, "rb").read(), method="POST",
    headers={"Authorization": "Bearer " + token, "Idempotency-Key": "term-1"})
with urllib.request.urlopen(req, timeout=60) as r:
    st, d = r.status, json.loads(r.read())
if not (st == 200 and d["status"] == "committed" and len(d["receipts"]) == 5 and d["ok"] == 5):
    print("FAIL: %s %s" % (st, {k: d.get(k) for k in ("status", "ok", "error")})); sys.exit(1)
print("ok: answered 200 with 5 receipts")
PY
term_post=$!
end=$((SECONDS + 30)) # the POST is in once its pending file is written
until ls "$W/gwstate/batches" | grep -vxFf "$W/term-before" | grep -q '\.events$'; do
    [ "$SECONDS" -lt "$end" ] || { for k in 1 2 3; do kill -CONT "${PIDS[$k]}"; done; fail "the POST did not start"; }
    sleep 0.1
done
kill -TERM "${PIDS[$((10 + GW_POST_PORT - GW_PORT))]}"
sleep 1
for k in 1 2 3; do kill -CONT "${PIDS[$k]}"; done
wait "$term_post" || fail "a POST in flight at SIGTERM was not answered: $(cat "$W/term.out")"
wait "${PIDS[$((10 + GW_POST_PORT - GW_PORT))]}" ||
    fail "the gateway did not exit 0 after SIGTERM with a POST in flight"
note "SIGTERM with a POST in flight: the POST answered 200 first, the gateway exited 0"
start_post_gw
# a restarted gateway remembers the key: the same POST is not executed twice
kill -TERM "${PIDS[$((10 + GW_POST_PORT - GW_PORT))]}"
wait "${PIDS[$((10 + GW_POST_PORT - GW_PORT))]}" || true
cp "$W/post1.json" "$W/post1-before.json"
start_post_gw
python3 - "http://127.0.0.1:$GW_POST_PORT" "$TOKEN" "$W" again <<'PY' || fail "POST after a restart"
import json, subprocess, sys, urllib.request
base, token, w = sys.argv[1:4]
body = open(w + "/post/g-0000.jsonl", "rb").read()
req = urllib.request.Request(base + "/v1/batches", data=body, method="POST",
                             headers={"Authorization": "Bearer " + token, "Idempotency-Key": "case-1"})
with urllib.request.urlopen(req, timeout=60) as r:
    d = json.loads(r.read())
b = json.load(open(w + "/post1-before.json"))
if not (d["repeated"] and d["seq_first"] == b["seq_first"] and
        sorted(x["height"] for x in d["receipts"]) == sorted(x["height"] for x in b["receipts"])):
    print("FAIL: after a restart the same POST was not answered with its original receipts"); sys.exit(1)
print("ok: after a restart, the same POST gets its original receipts")
PY
note "restarted gateway: a repeated POST is not executed twice"

# the journal is compacted (here past 3 lines, as it is past 131,072) and
# still remembers every key and the next sequence number
kill -TERM "${PIDS[$((10 + GW_POST_PORT - GW_PORT))]}"
wait "${PIDS[$((10 + GW_POST_PORT - GW_PORT))]}" || true
export CERTA_GATEWAY_JOURNAL_LINES=3
start_post_gw
python3 - "http://127.0.0.1:$GW_POST_PORT" "$TOKEN" "$W" <<'PY' || fail "journal compaction"
import json, sys, urllib.request
base, token, w = sys.argv[1:4]
lines = open(w + "/post/g-0001.jsonl", "rb").read().splitlines()
def post(i):
    req = urllib.request.Request(base + "/v1/batches", data=lines[i] + b"\n", method="POST",
        headers={"Authorization": "Bearer " + token, "Idempotency-Key": "compact-%d" % i})
    return json.loads(urllib.request.urlopen(req, timeout=60).read())
first = [post(i)["seq_first"] for i in range(8)]
json.dump(first, open(w + "/compact.json", "w"))
PY
n=$(wc -l <"$W/gwstate/batches.journal")
[ "$n" -le 12 ] || fail "the journal was not compacted: $n lines"
kill -TERM "${PIDS[$((10 + GW_POST_PORT - GW_PORT))]}"
wait "${PIDS[$((10 + GW_POST_PORT - GW_PORT))]}" || true
start_post_gw
python3 - "http://127.0.0.1:$GW_POST_PORT" "$TOKEN" "$W" <<'PY' || fail "keys lost by the compaction"
import json, sys, urllib.request
base, token, w = sys.argv[1:4]
lines = open(w + "/post/g-0001.jsonl", "rb").read().splitlines()
first = json.load(open(w + "/compact.json"))
for i in range(8):
    req = urllib.request.Request(base + "/v1/batches", data=lines[i] + b"\n", method="POST",
        headers={"Authorization": "Bearer " + token, "Idempotency-Key": "compact-%d" % i})
    d = json.loads(urllib.request.urlopen(req, timeout=60).read())
    if not d["repeated"] or d["seq_first"] != first[i]:
        print("FAIL: key compact-%d after compaction and restart: repeated %s, seq %d (was %d)"
              % (i, d["repeated"], d["seq_first"], first[i])); sys.exit(1)
print("ok: 8 keys remembered through compactions and a restart")
PY
unset CERTA_GATEWAY_JOURNAL_LINES
note "journal compacted to $n lines; every key remembered after a restart"

# Prefer: respond-async answers 202 at once; a batch still pending when the
# gateway is killed (its validators stopped) is submitted again at the next
# start, and its status URL ends committed
for k in 1 2 3; do kill -STOP "${PIDS[$k]}"; done
python3 - "http://127.0.0.1:$GW_POST_PORT" "$TOKEN" "$W" <<'PY' || { for k in 1 2 3; do kill -CONT "${PIDS[$k]}"; done; fail "async POST"; }
import json, sys, urllib.request
base, token, w = sys.argv[1:4]
req = urllib.request.Request(base + "/v1/batches", data=open(w + "/post/g-0002.jsonl", "rb").read(),
    method="POST", headers={"Authorization": "Bearer " + token, "Prefer": "respond-async"})
with urllib.request.urlopen(req, timeout=10) as r:
    st, loc, d = r.status, r.headers.get("Location"), json.loads(r.read())
if not (st == 202 and d["status"] == "pending" and loc == "/v1/batches/" + d["id"]):
    print("FAIL: async POST: %s %s %s" % (st, loc, d)); sys.exit(1)
req = urllib.request.Request(base + loc, headers={"Authorization": "Bearer " + token})
s = json.loads(urllib.request.urlopen(req, timeout=10).read())
if s["status"] != "pending":
    print("FAIL: status while the validators are stopped: %s" % s); sys.exit(1)
open(w + "/async-id", "w").write(d["id"])
print("ok: Prefer respond-async: 202 with Location; pending while the validators are stopped")
PY
kill -KILL "${PIDS[$((10 + GW_POST_PORT - GW_PORT))]}"
wait "${PIDS[$((10 + GW_POST_PORT - GW_PORT))]}" 2>/dev/null || true
for k in 1 2 3; do kill -CONT "${PIDS[$k]}"; done
start_post_gw
python3 - "http://127.0.0.1:$GW_POST_PORT" "$TOKEN" "$W" <<'PY' || fail "a pending batch after a restart"
import json, sys, time, urllib.request
base, token, w = sys.argv[1:4]
bid = open(w + "/async-id").read()
end = time.time() + 90
while time.time() < end:
    req = urllib.request.Request(base + "/v1/batches/" + bid, headers={"Authorization": "Bearer " + token})
    s = json.loads(urllib.request.urlopen(req, timeout=10).read())
    if s["status"] != "pending":
        break
    time.sleep(0.5)
# (3 of the 10 grants were posted before as a JSON array: rejected as duplicates)
if not (s["status"] == "committed" and len(s["receipts"]) == 10 and s["not_committed"] == 0
        and s["ok"] == 7):
    print("FAIL: batch %s after the restart: %s" % (bid, {k: s.get(k) for k in ("status", "ok", "error")}))
    sys.exit(1)
print("ok: the batch pending at the kill was resumed: committed with 10 receipts")
PY
grep -q "was pending at the last stop" "$W/gw-$GW_POST_PORT.err" || fail "the resumed batch was not logged"
note "async POST: 202, pending, killed, resumed at the restart, committed"

# the outcomes kept are bounded (here 2, as they are 65,536): the oldest go
kill -TERM "${PIDS[$((10 + GW_POST_PORT - GW_PORT))]}"
wait "${PIDS[$((10 + GW_POST_PORT - GW_PORT))]}" || true
export CERTA_GATEWAY_BATCHES_KEPT=2
start_post_gw
python3 - "http://127.0.0.1:$GW_POST_PORT" "$TOKEN" "$W" <<'PY' || fail "outcomes bounded"
import json, sys, urllib.request, urllib.error
base, token, w = sys.argv[1:4]
lines = open(w + "/post/g-0002.jsonl", "rb").read().splitlines()
ids = []
for i in (5, 6, 7):
    req = urllib.request.Request(base + "/v1/batches", data=lines[i] + b"\n", method="POST",
                                 headers={"Authorization": "Bearer " + token})
    ids.append(json.loads(urllib.request.urlopen(req, timeout=60).read())["id"])
def st(bid):
    req = urllib.request.Request(base + "/v1/batches/" + bid, headers={"Authorization": "Bearer " + token})
    try:
        return urllib.request.urlopen(req, timeout=10).status
    except urllib.error.HTTPError as e:
        return e.code
got = [st(open(w + "/batch-id").read()), st(ids[0]), st(ids[1]), st(ids[2])]
if got != [404, 404, 200, 200]:
    print("FAIL: kept 2: the first batch, then 3 new ones: %s" % got); sys.exit(1)
print("ok: 2 outcomes kept: the older status URLs 404, the newest 200")
PY
unset CERTA_GATEWAY_BATCHES_KEPT
n=$(find "$W/gwstate/batches" -name '*.json' | wc -l)
[ "$n" -le 2 ] || fail "$n outcomes kept, not 2"

# a clean stop
kill -TERM "${PIDS[10]}"
wait "${PIDS[10]}" || fail "gateway did not stop cleanly on SIGTERM"
PIDS[10]=
echo "it_gateway: passed in ${SECONDS}s"
