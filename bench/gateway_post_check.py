#!/usr/bin/env python3
"""Checks the answers that curl saved for the POSTs of bench/gateway.sh and
prints "EVENTS NOT_COMMITTED FAILED_POSTS": the events committed (an event
counts only when its POST answered 200 and the answer carries its receipt:
one "leaf_index" per receipt, against the events the answer says committed),
those not committed, and the POSTs that failed. Run after the POSTs, so
that checking does not take the cores the gateway and the validators share
while they are timed.
usage: gateway_post_check.py STATUS_FILE ANSWER_FILE...
STATUS_FILE: curl's "%{http_code} %{filename_effective}" line per POST."""
import json
import sys

status = {}
for line in open(sys.argv[1]):
    code, _, name = line.strip().partition(" ")
    status[name] = code
events = not_committed = failed = 0
for name in sys.argv[2:]:
    try:
        data = open(name, "rb").read()
        cut = data.find(b',"receipts":[')
        head = json.loads(data[:cut] + b"}" if cut >= 0 else data)
        if status.get(name) != "200":
            raise RuntimeError("status %s: %s" % (status.get(name), head.get("error", head)))
        committed = head["events"] - head["not_committed"]
        receipts = data.count(b'"leaf_index":')
        if receipts != committed:
            raise RuntimeError("%d receipts for %d committed events" % (receipts, committed))
        events += committed
        not_committed += head["not_committed"]
    except Exception as e:  # a failed POST counts, and is reported
        failed += 1
        print("gateway_post_check: %s: %s" % (name, e), file=sys.stderr)
print("%d %d %d" % (events, not_committed, failed))
