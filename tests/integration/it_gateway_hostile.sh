#!/usr/bin/env bash
# certa gateway under hostile input, in front of 4 validators on 127.0.0.1
# (ports 25500..25532, gateway 25580). Each attack gets a clear status code
# (or a closed connection), bounded resources and no crash, and the gateway
# goes on serving others:
# - slowloris: 200 connections from one address sending headers a byte at a
#   time: at most 64 are held (per-address limit; the gateway's open file
#   descriptors stay bounded), another address is served at once, and the
#   ones that go quiet are closed by the 10 s idle timeout;
# - huge bodies: 413 (announced or chunked), memory bounded after many;
# - deep JSON nesting and invalid UTF-8: 400, on both POST paths;
# - path traversal in every spelling: 404, the page itself 200;
# - a token brute force: a few 401s, then 429s (the rate), a log line, and
#   the refusals counted in /metrics;
# - /metrics: valid Prometheus text (promtool), requests by class and
#   status, the latency histogram, upstream errors once validators stop.
set -euo pipefail
BASE_PORT=$((25500 + ${CERTA_TEST_PORT_OFFSET:-0}))
GW_PORT=$((BASE_PORT + 80))
. "$(dirname "$0")/cluster_lib.sh"
SECONDS=0
command -v python3 >/dev/null || { echo "SKIP: it_gateway_hostile: no python3"; exit 0; }
cl_init
cl_start_all
TOKEN=hostile-test-token-0123456789
printf 'counters %s\n' "$(echo "$TOKEN" | "$CERTA" gateway --hash-token)" >"$W/tokens"
"$CERTA" gateway --genesis "$G" --listen "127.0.0.1:$GW_PORT" --timeout-ms 2000 \
    --rate-per-s 20 --burst 200 --integrator app --key "$KEYS/app.pem" --tokens "$W/tokens" \
    --state "$W/gwstate" >"$W/gw.out" 2>"$W/gw.err" &
PIDS[10]=$!
end=$((SECONDS + 30))
until grep -q serving "$W/gw.out" 2>/dev/null; do
    kill -0 "${PIDS[10]}" 2>/dev/null || fail "gateway exited: $(cat "$W/gw.err")"
    [ "$SECONDS" -lt "$end" ] || fail "gateway did not start"
    sleep 0.1
done
note "4 validators and the gateway up after ${SECONDS}s"

python3 - "127.0.0.1" "$GW_PORT" "${PIDS[10]}" "$TOKEN" <<'PY' || fail "hostile input"
import http.client, json, os, socket, sys, time
host, port, pid, token = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def check(cond, what):
    if not cond:
        print("FAIL:", what); sys.exit(1)
    print("ok:", what)
def fds():
    return len(os.listdir("/proc/%d/fd" % pid))
def rss_kib():
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])
def raw(req, src="127.0.0.2", timeout=10):
    """one raw request (no client-side path normalization); the status code
    or 'closed'"""
    s = socket.create_connection((host, port), timeout=timeout, source_address=(src, 0))
    s.sendall(req)
    data = b""
    try:
        while b"\r\n" not in data:
            c = s.recv(4096)
            if not c:
                break
            data += c
    except (ConnectionError, socket.timeout):
        pass
    s.close()
    return int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.") else "closed"
def alive():
    return raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", src="127.0.0.3") == 200

# ---- slowloris
base_fds = fds()
slow = []
for i in range(200):
    try:
        s = socket.create_connection((host, port), timeout=5, source_address=("127.0.0.1", 0))
        s.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(s)
    except OSError:
        pass
time.sleep(1)
held = fds() - base_fds
check(held <= 64 + 4, "slowloris: 200 slow connections from one address, %d held by the gateway" % held)
t0 = time.time()
check(raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", src="127.0.0.2") == 200 and time.time() - t0 < 2,
      "slowloris: another address is served at once (%.3f s)" % (time.time() - t0))
# every HTTP thread has its share of the connection limit; one whose share
# the slow address filled must stop taking connections (not take and close
# them), so 40 other clients in a row are all served
served = sum(raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", src="127.0.0.%d" % (40 + i)) == 200
             for i in range(40))
check(served == 40, "slowloris: %d of 40 other clients served while it holds its 64" % served)
for s in slow:  # a byte more: still held, still bounded
    try:
        s.send(b"a")
    except OSError:
        pass
time.sleep(4)
held = fds() - base_fds
check(held <= 64 + 4 and alive(), "slowloris: trickling, %d held, others served" % held)
time.sleep(12)  # then silent: the 10 s idle timeout closes them
closed = 0
for s in slow:
    s.settimeout(0.5)
    try:
        s.send(b"b")
        closed += s.recv(100) == b""
    except socket.timeout:
        pass
    except OSError:
        closed += 1
    s.close()
check(closed == len(slow), "slowloris: every slow connection was closed (%d of %d)" % (closed, len(slow)))
time.sleep(0.5)
check(fds() - base_fds <= 4, "slowloris: the gateway's descriptors back to %d" % fds())

# ---- huge bodies
auth = b"Authorization: Bearer " + token.encode() + b"\r\n"
check(raw(b"POST /v1/batches HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: 1000000000\r\n\r\n") == 413,
      "huge body announced: 413 before it is read")
check(raw(b"POST /v1/receipts/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n") == 413,
      "a receipt over 64 KiB announced: 413")
rss0 = rss_kib()
for i in range(12):
    c = http.client.HTTPConnection(host, port, timeout=30, source_address=("127.0.0.%d" % (10 + i), 0))
    c.request("POST", "/v1/batches", body=iter([b"x" * 262144] * 12), encode_chunked=True,
              headers={"Authorization": "Bearer " + token})
    st = c.getresponse().status
    c.close()
    if st != 413:
        break
check(st == 413, "12 chunked bodies of 3 MiB: 413 each")
grow = rss_kib() - rss0
check(grow < 16 * 1024, "memory bounded: resident set grew %d KiB for 36 MiB sent" % grow)

# ---- deep nesting, invalid UTF-8
def post(path, body, src="127.0.0.4", hdrs=None):
    c = http.client.HTTPConnection(host, port, timeout=30, source_address=(src, 0))
    h = {"Authorization": "Bearer " + token}
    h.update(hdrs or {})
    c.request("POST", path, body=body, headers=h)
    r = c.getresponse()
    d = r.read()
    c.close()
    return r.status, json.loads(d or b"{}")
for path, depth in (("/v1/batches", 500000), ("/v1/receipts/verify", 30000)):
    st, d = post(path, b"[" * depth + b"]" * depth)
    check(st == 400 and "depth" in d["error"]["message"],
          "%s: arrays nested %d deep: 400 (%s)" % (path, depth, d["error"]["message"][:70]))
    st, d = post(path, b'{"a":' * (depth // 5) + b"1" + b"}" * (depth // 5))
    check(st == 400, "%s: objects nested %d deep: 400" % (path, depth // 5))
st, d = post("/v1/batches", b'{"kind":"grant","grant_id":"\xff\xfe"}\n')
check(st == 400 and "line 1" in d["error"]["message"], "invalid UTF-8 in a JSON line: 400 naming line 1 (%s)" % d["error"]["message"][:80])
st, d = post("/v1/batches", b'[{"kind":"gr\xc3\x28nt"}]')
check(st == 400, "invalid UTF-8 in a JSON array: 400")
st, d = post("/v1/receipts/verify", b'{"receipt":"\xed\xa0\x80"}')
check(st == 400, "invalid UTF-8 (a surrogate) in a receipt: 400")
check(alive(), "the gateway is alive after the bad bodies")

# ---- path traversal
for p in (b"/../../../etc/passwd", b"/..%2f..%2f..%2fetc%2fpasswd", b"/%2e%2e/%2e%2e/etc/passwd",
          b"//etc/passwd", b"/app.js/../../../../etc/passwd", b"/web/index.html",
          b"/index.html%00.js", b"/./app.js/.", b"/%2e%2e%5c%2e%2e%5cetc%5cpasswd",
          b"/v1/../../etc/passwd", b"/CMakeLists.txt", b"/.git/config"):
    st = raw(b"GET " + p + b" HTTP/1.1\r\nHost: x\r\n\r\n", src="127.0.0.5")
    check(st == 404, "GET %s: %s" % (p.decode(), st))
for p in (b"/", b"/index.html", b"/app.js", b"/app.css"):
    check(raw(b"GET " + p + b" HTTP/1.1\r\nHost: x\r\n\r\n", src="127.0.0.5") == 200,
          "GET %s: 200" % p.decode())

# ---- token brute force from one address
codes = []
t0 = time.time()
for i in range(300):
    c = http.client.HTTPConnection(host, port, timeout=10, source_address=("127.0.0.6", 0))
    c.request("POST", "/v1/batches", body=b"{}", headers={"Authorization": "Bearer guess-%06d-xxxxxxxxxx" % i})
    codes.append(c.getresponse().status)
    c.close()
el = time.time() - t0
n401, n429 = codes.count(401), codes.count(429)
# burst 200 and 20/s, a refusal costs 20: at most 10 + 1 per second
check(n401 + n429 == 300 and n401 <= 10 + el + 1 and n429 > 250,
      "brute force: %d guesses in %.1f s: %d answered 401, %d 429" % (len(codes), el, n401, n429))
c = http.client.HTTPConnection(host, port, timeout=10, source_address=("127.0.0.7", 0))
c.request("GET", "/metrics")
m = c.getresponse().read().decode()
def metric(line_prefix):
    for l in m.splitlines():
        if l.startswith(line_prefix + " "):
            return float(l.split()[-1])
    return 0
check(metric('certa_gateway_auth_failures_total') == n401, "metrics: the %d refused tokens counted" % n401)
check(metric('certa_gateway_requests_total{class="batch",status="401"}') == n401 and
      metric('certa_gateway_requests_total{class="batch",status="429"}') == n429,
      "metrics: requests by class and status (batch 401 and 429)")
check(metric('certa_gateway_requests_total{class="page",status="404"}') >= 10,
      "metrics: the traversal attempts counted as page 404s")
check(metric('certa_gateway_request_seconds_count{class="batch"}') >= 300 and
      'certa_gateway_request_seconds_bucket{class="batch",le="+Inf"}' in m,
      "metrics: the latency histogram")
PY
[ -n "${KEEP:-}" ] || true
grep -q "refused a missing or wrong bearer token from 127.0.0.6" "$W/gw.err" ||
    fail "the brute force left no log line: $(tail -n 5 "$W/gw.err")"
lines=$(grep -c "refused a missing or wrong bearer token" "$W/gw.err")
[ "$lines" -le 30 ] || fail "refusals logged $lines times: not rate-limited"
note "brute force logged in $lines line(s)"

# /metrics is valid Prometheus text; upstream errors counted when no
# validator answers
curl_metrics() {
    python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' \
        "http://127.0.0.1:$GW_PORT/metrics"
}
if command -v promtool >/dev/null; then
    curl_metrics | promtool check metrics >"$W/promtool.out" 2>&1 ||
        fail "promtool check metrics: $(cat "$W/promtool.out")"
fi
for k in 0 1 2 3; do kill -STOP "${PIDS[$k]}"; done
python3 - "http://127.0.0.1:$GW_PORT" <<'PY' || { for k in 0 1 2 3; do kill -CONT "${PIDS[$k]}"; done; fail "upstream errors"; }
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1] + "/v1/status", timeout=30)
    st = 200
except urllib.error.HTTPError as e:
    st = e.code
m = urllib.request.urlopen(sys.argv[1] + "/metrics", timeout=10).read().decode()
v = [float(l.split()[-1]) for l in m.splitlines() if l.startswith("certa_gateway_upstream_errors_total ")]
if st != 503 or not v or v[0] < 1:
    print("FAIL: validators stopped: status %s, upstream errors %s" % (st, v)); sys.exit(1)
print("ok: validators stopped: 503, certa_gateway_upstream_errors_total %d" % v[0])
PY
for k in 0 1 2 3; do kill -CONT "${PIDS[$k]}"; done
kill -0 "${PIDS[10]}" || fail "the gateway died"
kill -TERM "${PIDS[10]}"
wait "${PIDS[10]}" || fail "gateway did not stop cleanly on SIGTERM"
PIDS[10]=
echo "it_gateway_hostile: passed in ${SECONDS}s"
