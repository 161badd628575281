#!/usr/bin/env python3
"""POSTs chunk files (JSON Lines of events) to a certa gateway's
/v1/batches from THREADS threads (one kept-alive connection each), one
chunk per POST, and prints the events committed per second over the whole
run: "EVENTS SECONDS NOT_COMMITTED FAILED_POSTS".

An event counts as committed only when its POST answered 200 and the
answer carries its receipt: the receipts are counted (one "leaf_index"
each) against the events the answer says committed. The answer's head
(the fields before "receipts") is parsed as JSON; the megabyte of
receipts is only counted, not parsed, so that the client's own parsing
does not take the 2 cores the gateway and the validators share.
usage: gateway_post.py URL TOKEN THREADS CHUNK_FILE..."""
import http.client
import json
import sys
import threading
import time
import urllib.parse

url, token, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = sys.argv[4:]
bodies = [open(f, "rb").read() for f in files]
host = urllib.parse.urlsplit(url)
lock = threading.Lock()
todo = list(range(len(bodies)))
done = {"events": 0, "not_committed": 0, "failed": 0}
HEADERS = {"Authorization": "Bearer " + token, "Content-Type": "application/x-ndjson"}


def one(conn, body):
    """Returns (committed, not_committed) of one POST, or raises."""
    conn.request("POST", "/v1/batches", body=body, headers=HEADERS)
    r = conn.getresponse()
    data = r.read()
    cut = data.find(b',"receipts":[')
    head = json.loads(data[:cut] + b"}" if cut >= 0 else data)
    if r.status != 200:
        raise RuntimeError("status %d: %s" % (r.status, head.get("error", head)))
    committed = head["events"] - head["not_committed"]
    receipts = data.count(b'"leaf_index":')
    if receipts != committed:
        raise RuntimeError("%d receipts for %d committed events" % (receipts, committed))
    return committed, head["not_committed"]


def worker():
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=300)
    while True:
        with lock:
            if not todo:
                break
            i = todo.pop()
        try:
            ok, nc = one(conn, bodies[i])
            with lock:
                done["events"] += ok
                done["not_committed"] += nc
        except Exception as e:  # a failed POST counts, and is reported
            with lock:
                done["failed"] += 1
            print("gateway_post: %s" % e, file=sys.stderr)
            conn.close()
            conn = http.client.HTTPConnection(host.hostname, host.port, timeout=300)
    conn.close()


t0 = time.monotonic()
ts = [threading.Thread(target=worker) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
secs = time.monotonic() - t0
print("%d %.3f %d %d" % (done["events"], secs, done["not_committed"], done["failed"]))
