#!/usr/bin/env python3
"""Writes event files for the cluster integration tests, with windows around
the current wall-clock time (block timestamps are wall-clock ms on a live
cluster). Phases, each a JSON Lines file in OUTDIR, to be submitted in order:

  1-grants.jsonl   integrator app: N grants at the Dongcheng centre (2),
                   matter 1001 (id_card), max_uses 1, method code (any
                   counter) or, every fourth, qr (bound to its counter)
  2-wrong.jsonl    integrator counter-dongcheng: a redeem with a wrong code
                   for every WRONG_EVERY-th grant (code_mismatch)
  3-redeem.jsonl   counter-dongcheng: the right code for every grant
  4-evidence.jsonl counter-dongcheng: confirm, sign, photo for every grant,
                   each naming the grant's one redeem
  5-revoke.jsonl   integrator app: revokes every REVOKE_EVERY-th grant
  6-late.jsonl     integrator counter-dongcheng: confirms on revoked grants
                   (refused: the grant is revoked)
  expected.json    events per phase and how many must be ok / rejected

usage: cluster_events.py OUTDIR [N] [WRONG_EVERY] [REVOKE_EVERY]"""
import hashlib
import json
import os
import sys
import time

out = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 200
WRONG = int(sys.argv[3]) if len(sys.argv) > 3 else 7
REVOKE = int(sys.argv[4]) if len(sys.argv) > 4 else 5
CENTRE, MATTER, CI = 2, 1001, "counter-dongcheng"
now = int(time.time() * 1000)
tag = "%d" % now  # fresh grant ids per run


def h(s): return hashlib.sha256(s.encode()).hexdigest()
def gid(n): return h("grant %s %d" % (tag, n))[:32]
def hid(n): return h("holder %d" % n)
def salt(n): return h("salt %s %d" % (tag, n))[:32]
def code(n): return "%08d" % ((n * 7919 + 12345678) % 100000000)
def wrong(n): c = code(n); return c[:7] + str((int(c[7]) + 1) % 10)
# rules 2 (docs/OPERATIONS.md "Codes and QR"): the redeem carries the sealed
# proof SHA-256(salt || code), the grant commits to SHA-256(proof)
# proof SHA-256(salt || code), the grant commits to SHA-256(proof). Every
# fourth grant is the seed's second example, a QR grant: the signing pad of
# counter(n) showed a challenge (salt(n) here) and the grant names that
# counter; its proof has no code (8 zero bytes).
def qr(n): return n % 4 == 1
def secret(n, c): return "\0" * 8 if qr(n) else c
def proof(n, c): return hashlib.sha256(bytes.fromhex(salt(n)) + secret(n, c).encode()).hexdigest()
def commit(n): return hashlib.sha256(bytes.fromhex(proof(n, code(n)))).hexdigest()
def counter(n): return 1 + n % 40


def line(f, o): f.write(json.dumps(o, separators=(',', ':')) + "\n")


os.makedirs(out, exist_ok=True)
exp = {}
with open(os.path.join(out, "1-grants.jsonl"), "w") as f:
    for n in range(N):
        line(f, {"kind": "grant", "grant_id": gid(n), "holder_id": hid(n),
                 "licence_types": ["id_card"], "centre": CENTRE,
                 "counter": counter(n) if qr(n) else 0,
                 "matter": MATTER, "not_before_ms": now - 60_000,
                 "not_after_ms": now + 3_600_000, "max_uses": 1,
                 "method": "qr" if qr(n) else "code", "code_commit": commit(n)})
    exp["1-grants"] = {"events": N, "ok": N, "rejected": 0}
# An integrator's batches in flight together may be ordered differently in
# a block, so events that depend on each other go in separate phases.
wrongs = [n for n in range(N) if n % WRONG == 3]


def guess(n): return h("a guess %s %d" % (tag, n))


def redeem(n, c):
    return {"kind": "redeem", "grant_id": gid(n), "centre": CENTRE,
            "counter": counter(n), "matter": MATTER,
            "licences": [{"id": h("lic %s %d" % (tag, n))[:32], "type": "id_card",
                          "digest": h("doc %d" % n)}],
            # a QR redeem without the challenge can only guess
            "code_proof": guess(n) if qr(n) and c != code(n) else proof(n, c)}


with open(os.path.join(out, "2-wrong.jsonl"), "w") as f:
    for n in wrongs:
        line(f, redeem(n, wrong(n)))
    exp["2-wrong"] = {"events": len(wrongs), "ok": 0, "rejected": len(wrongs)}
with open(os.path.join(out, "3-redeem.jsonl"), "w") as f:
    for n in range(N):
        line(f, redeem(n, code(n)))
    exp["3-redeem"] = {"events": N, "ok": N, "rejected": 0}
with open(os.path.join(out, "4-evidence.jsonl"), "w") as f:
    for n in range(N):
        for kind in ("confirm", "sign", "photo"):
            line(f, {"kind": kind, "grant_id": gid(n), "centre": CENTRE,
                     "counter": counter(n), "evidence": h("%s %s %d" % (kind, tag, n)),
                     "redeem": 1})
    exp["4-evidence"] = {"events": 3 * N, "ok": 3 * N, "rejected": 0}
revoked = [n for n in range(N) if n % REVOKE == 0]
with open(os.path.join(out, "5-revoke.jsonl"), "w") as f:
    for n in revoked:
        line(f, {"kind": "revoke", "grant_id": gid(n), "holder_id": hid(n)})
    exp["5-revoke"] = {"events": len(revoked), "ok": len(revoked), "rejected": 0}
with open(os.path.join(out, "6-late.jsonl"), "w") as f:
    for n in revoked:
        line(f, {"kind": "confirm", "grant_id": gid(n), "centre": CENTRE,
                 "counter": counter(n), "evidence": h("late %s %d" % (tag, n)),
                 "redeem": 1})
    exp["6-late"] = {"events": len(revoked), "ok": 0, "rejected": len(revoked)}
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(exp, f)
