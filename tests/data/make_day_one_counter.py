#!/usr/bin/env python3
"""Writes day_one_counter.jsonl (a day at counter 7 of the Dongcheng centre,
for `certa dry-run` on the default genesis of `certa genesis`) and
day_one_counter.expected.jsonl (the result each event line must get).
Times are in March 2030, after any genesis written today. Run from this
directory; the outputs are committed, so this is only needed to change them."""
import hashlib
import json

T0 = 1893718800000  # 2030-03-04 09:00 Beijing time (UTC+8)
H = 3600_000
M = 60_000
CENTRE, COUNTER = 2, 7  # Dongcheng centre, counter 7
CI = "counter-dongcheng"
lines, exp = [], []


def ev(o, want):
    lines.append(json.dumps(o, separators=(',', ':')))
    exp.append(want)


def tick(t):
    lines.append(json.dumps({"kind": "tick", "time_ms": t}, separators=(',', ':')))


def hid(n): return hashlib.sha256(b"holder %d" % n).hexdigest()
def gid(n): return hashlib.sha256(b"grant %d" % n).hexdigest()[:32]
def salt(n): return hashlib.sha256(b"salt %d" % n).hexdigest()[:32]
def code(n): return "%08d" % ((n * 7919 + 12345678) % 100000000)
# Rules 2 (docs/OPERATIONS.md "Codes and QR"): the salt stays in the holder's
# app until the moment of use; the redeem carries the sealed proof
# SHA-256(salt || code), the grant commits to SHA-256(proof). A QR grant's
# secret is the signing pad's 16-byte challenge, with no code (8 zero bytes).
NO_CODE = "\0" * 8


def proof(n, c): return hashlib.sha256(bytes.fromhex(salt(n)) + c.encode()).hexdigest()
def commit(n, c=None): return hashlib.sha256(bytes.fromhex(proof(n, c or code(n)))).hexdigest()
def dig(s): return hashlib.sha256(s.encode()).hexdigest()


def grant(n, holder, t, matter, types, method="code", counter=0, uses=1, centre=CENTRE,
          length=2 * H):
    o = {"integrator": "app", "kind": "grant", "grant_id": gid(n), "holder_id": hid(holder),
         "licence_types": types, "centre": centre, "counter": counter, "matter": matter,
         "not_before_ms": t, "not_after_ms": t + length, "max_uses": uses, "method": method}
    if method != "direct":
        o["code_commit"] = commit(n, NO_CODE if method == "qr" else None)
    return o


def redeem(n, matter, types, right=True, with_code=True, integ=CI, centre=CENTRE,
           counter=COUNTER, qr=False, clear=False):
    o = {"integrator": integ, "kind": "redeem", "grant_id": gid(n), "centre": centre,
         "counter": counter, "matter": matter}
    c = NO_CODE if qr else code(n)
    if not right and not qr:
        c = c[:7] + str((int(c[7]) + 1) % 10)
    if clear:  # code and salt (a QR's challenge) in the clear, as rules 1 had it
        if c != NO_CODE:
            o["code"] = c
        o["salt"] = salt(n)
    elif not with_code:
        o["salt"] = "00" * 16  # a direct grant takes no code
    o["licences"] = [{"id": hashlib.sha256(b"lic %d %s" % (n, t.encode())).hexdigest()[:32],
                      "type": t, "digest": dig("doc %d %s" % (n, t))} for t in types]
    if with_code and not clear:
        # a QR redeem by someone who never saw the challenge can only guess
        o["code_proof"] = proof(n, c) if right or not qr else dig("a guess %d" % n)
    return o


def evid(kind, n, integ=CI, centre=CENTRE, counter=COUNTER, redeem=1):
    o = {"integrator": integ, "kind": kind, "grant_id": gid(n), "centre": centre,
         "counter": counter, "evidence": dig("%s %d" % (kind, n))}
    if redeem:  # the grant's redeem it documents (rules 2)
        o["redeem"] = redeem
    return o


def revoke(n, holder):
    return {"integrator": "app", "kind": "revoke", "grant_id": gid(n), "holder_id": hid(holder)}


t = T0
tick(t)
# eight citizens, the ordinary path (matter 1001: id card, household register)
for n in range(1, 9):
    ev(grant(n, n, t, 1001, ["id_card", "household_register"]), "ok")
    tick(t + 2 * M)
    if n == 3:  # one mistypes the code first
        ev(redeem(n, 1001, ["id_card"], right=False), "code_mismatch")
    ev(redeem(n, 1001, ["id_card", "household_register"]), "ok")
    ev(evid("confirm", n), "ok")
    ev(evid("sign", n), "ok")
    ev(evid("photo", n), "ok")
    t += 25 * M
    tick(t)
# the seed's second example: the signing pad of counter 7 shows a QR (centre,
# counter, a fresh challenge); the holder's app scans it and grants to that
# counter only; the counter's redeem proves it knows the challenge
ev(grant(20, 20, t, 1001, ["id_card"], method="qr", counter=COUNTER), "ok")
ev(grant(29, 20, t, 1001, ["id_card"], method="qr", counter=0), "scope_counter")
tick(t + M)
ev(redeem(20, 1001, ["id_card"], counter=8, qr=True), "scope_counter")
ev(redeem(20, 1001, ["id_card"], qr=True, right=False), "code_mismatch")
ev(redeem(20, 1001, ["id_card"], qr=True, clear=True), "code_unsealed")
ev(redeem(20, 1001, ["id_card"], qr=True), "ok")
ev(redeem(20, 1001, ["id_card"], qr=True), "exhausted")
ev(evid("confirm", 20), "ok")
t += 20 * M
tick(t)
# a direct grant from the app; the holder unbinds it after one use
ev(grant(21, 21, t, 1001, ["id_card"], method="direct", uses=2), "ok")
tick(t + M)
ev(redeem(21, 1001, ["id_card"], with_code=False), "ok")
ev(redeem(21, 1001, ["household_register"], with_code=False), "licence_type_not_allowed")
ev(revoke(21, 99), "not_holder")
ev(revoke(21, 21), "ok")
ev(redeem(21, 1001, ["id_card"], with_code=False), "revoked")
t += 20 * M
tick(t)
# someone guesses codes: five wrong lock the grant for good
ev(grant(22, 22, t, 1001, ["id_card"], uses=3), "ok")
tick(t + M)
for _ in range(5):
    ev(redeem(22, 1001, ["id_card"], right=False), "code_mismatch")
ev(redeem(22, 1001, ["id_card"]), "locked")
t += 20 * M
tick(t)
# wrong places, wrong roles, wrong windows
ev(grant(23, 23, t, 1001, ["id_card"]), "ok")
tick(t + M)
ev(redeem(23, 1001, ["id_card"], integ="counter-xicheng", centre=3), "scope_centre")
ev(redeem(23, 1001, ["id_card"], integ="counter-xicheng"), "role_forbidden")
ev(redeem(23, 1002, ["id_card"]), "scope_matter")
ev(evid("photo", 23), "not_redeemed")
ev(redeem(24, 1001, ["id_card"]), "unknown_grant")
ev(grant(23, 23, t, 1001, ["id_card"]), "duplicate_grant")
ev(grant(25, 25, t, 1001, ["business_licence"]), "licence_type_not_allowed")
ev(grant(26, 26, t, 1001, ["id_card"], length=2 * 86400_000), "bad_window")
ev(grant(27, 27, t + 3 * H, 1001, ["id_card"]), "ok")
ev(redeem(27, 1001, ["id_card"]), "not_yet_valid")
# evidence documents one redeem: from its counter, once per kind, within 30 min
t += 20 * M
tick(t)
ev(grant(28, 28, t, 1001, ["id_card"], uses=2), "ok")
tick(t + M)
ev(redeem(28, 1001, ["id_card"], clear=True), "code_unsealed")
ev(redeem(28, 1001, ["id_card"]), "ok")
# its second use only at the counter of the first: counter 8 saw nothing
ev(redeem(28, 1001, ["id_card"], counter=8), "scope_counter")
ev(evid("sign", 28, counter=8), "evidence_counter")
ev(evid("sign", 28, redeem=0), "evidence_redeem")
ev(evid("sign", 28, redeem=2), "evidence_redeem")
ev(evid("sign", 28), "ok")
ev(evid("sign", 28), "evidence_duplicate")
tick(t + 31 * M)
ev(evid("photo", 28), "evidence_late")
# the afternoon: citizen 9 comes back after her grant closed
t += 4 * H
tick(t)
ev(grant(9, 9, t, 1001, ["id_card"], length=30 * M), "ok")
t += 31 * M
tick(t)
ev(redeem(9, 1001, ["id_card"]), "expired")
ev(grant(9, 9, t, 1001, ["id_card"]), "duplicate_grant")
ev(grant(10, 9, t, 1001, ["id_card"]), "ok")
tick(t + 2 * M)
ev(redeem(10, 1001, ["id_card"]), "ok")
ev(evid("sign", 10), "ok")

with open("day_one_counter.jsonl", "w") as f:
    f.write("\n".join(lines) + "\n")
out, i = [], 0
for ln, text in enumerate(lines, 1):
    if '"tick"' in text:
        continue
    w = exp[i]
    i += 1
    r = {"line": ln, "result": "ok"} if w == "ok" else \
        {"line": ln, "result": "rejected", "reason": w}
    out.append(json.dumps(r, separators=(',', ':')))
with open("day_one_counter.expected.jsonl", "w") as f:
    f.write("\n".join(out) + "\n")
