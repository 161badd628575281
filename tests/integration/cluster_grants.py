#!/usr/bin/env python3
"""Writes CHUNKS files OUTDIR/g-NNNN.jsonl of SIZE fresh grants each (integrator
app, Dongcheng centre, matter 1001, windows around now): steady load for
the cluster crash test, every grant expected ok.
usage: cluster_grants.py OUTDIR CHUNKS SIZE"""
import hashlib
import json
import os
import sys
import time

out, chunks, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
now = int(time.time() * 1000)
os.makedirs(out, exist_ok=True)
commit = hashlib.sha256(b"\x01" * 16 + b"12345678").hexdigest()
for c in range(chunks):
    with open(os.path.join(out, "g-%04d.jsonl" % c), "w") as f:
        for i in range(size):
            n = c * size + i
            f.write(json.dumps({
                "kind": "grant",
                "grant_id": hashlib.sha256(b"g %d %d" % (now, n)).hexdigest()[:32],
                "holder_id": hashlib.sha256(b"h %d" % n).hexdigest(),
                "licence_types": ["id_card"], "centre": 2, "counter": 0, "matter": 1001,
                "not_before_ms": now - 60_000, "not_after_ms": now + 3_600_000,
                "max_uses": 1, "method": "code", "code_commit": commit},
                separators=(",", ":")) + "\n")
