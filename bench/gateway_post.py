#!/usr/bin/env python3
"""POSTs chunk files (JSON Lines of events) to a certa gateway's
/v1/batches from THREADS threads, one chunk per POST, and prints the
events committed per second over the whole run.
usage: gateway_post.py URL TOKEN THREADS CHUNK_FILE..."""
import json
import sys
import threading
import time
import urllib.request

url, token, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = sys.argv[4:]
bodies = [open(f, "rb").read() for f in files]
lock = threading.Lock()
todo = list(range(len(bodies)))
done = {"events": 0, "not_committed": 0, "failed": 0}


def worker():
    while True:
        with lock:
            if not todo:
                return
            i = todo.pop()
        req = urllib.request.Request(url + "/v1/batches", data=bodies[i], method="POST",
                                     headers={"Authorization": "Bearer " + token,
                                              "Content-Type": "application/x-ndjson"})
        try:
            with urllib.request.urlopen(req, timeout=300) as r:
                d = json.loads(r.read())
            with lock:
                done["events"] += d["events"] - d["not_committed"]
                done["not_committed"] += d["not_committed"]
        except Exception as e:  # a failed POST counts, and is reported
            with lock:
                done["failed"] += 1
            print("gateway_post: %s" % e, file=sys.stderr)


t0 = time.monotonic()
ts = [threading.Thread(target=worker) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
secs = time.monotonic() - t0
print("%d %.3f %d %d" % (done["events"], secs, done["not_committed"], done["failed"]))
