#!/usr/bin/env python3
"""Conformance client for docs/PROTOCOL.md, written from the document alone.

It builds events and batches byte by byte as "Events (binary)" and "Batches
(binary)" describe, signs them with Ed25519, talks to a real validator over
ZeroMQ CURVE as "Client protocol" describes, and verifies every receipt
offline as "Receipts" describes. It never reads certa's C code or calls its
programs. Every mismatch names the section of the document it contradicts.

usage: conformance_client.py GENESIS_JSON INTEGRATOR_KEY_DIR
The genesis must set params.replay_horizon_batches to 16 (for 703 TOO_OLD).
"""
import hashlib
import json
import os
import struct
import sys
import time

import zmq
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DEADLINE_S = float(os.environ.get("CONFORMANCE_DEADLINE_S", "60"))
CHECKS = []


class Disagree(Exception):
    pass


def check(cond, section, what):
    if not cond:
        raise Disagree(f'docs/PROTOCOL.md "{section}": {what}')


def sha(b):
    return hashlib.sha256(b).digest()


# ---------------------------------------------------------------- events
def ev_header(kind, grant_id):
    return struct.pack("<BBH", 1, kind, 0) + grant_id


def ev_grant(grant_id, holder, now_ms, method=2, licence_mask=1, centre=1, matter=1001):
    # grant (1), 116 bytes; method direct (2): code_commit all zero
    b = ev_header(1, grant_id) + holder + struct.pack(
        "<IHHIQQHBB", licence_mask, centre, 0, matter, now_ms - 60000, now_ms + 3600000, 1, method, 0)
    b += bytes(32)
    assert len(b) == 116
    return b


def ev_revoke(grant_id, holder):
    b = ev_header(6, grant_id) + holder
    assert len(b) == 52
    return b


# ---------------------------------------------------------------- batches
def batch(key, integrator, seq, events, *, magic=0x42545243, version=1, flags=0,
          count=None, body_bytes=None, body=None, sign=True, tail=b""):
    if body is None:
        body = b"".join(struct.pack("<H", len(e)) + e for e in events)
    hdr = struct.pack("<IBBHQII", magic, version, flags, integrator, seq,
                      len(events) if count is None else count,
                      len(body) if body_bytes is None else body_bytes)
    signed = hdr + body
    sig = key.sign(sha(signed)) if sign else bytes(64)
    return signed + sig + tail


# ---------------------------------------------------------------- transport
T_SUBMIT, T_QUERY, T_ACCEPTED, T_RECEIPT, T_ERROR, T_QRESULT = 1, 2, 16, 17, 18, 19
MAGIC_C = 0x43545243


class Conn:
    def __init__(self, ctx, v):
        self.s = ctx.socket(zmq.DEALER)
        pub, sec = zmq.curve_keypair()
        self.s.curve_serverkey = v["curve_pub"].encode()
        self.s.curve_publickey = pub
        self.s.curve_secretkey = sec
        self.s.linger = 0
        self.s.connect(v["client_endpoint"])

    def send_raw(self, frames):
        self.s.send_multipart(frames)

    def send(self, typ, rid, body, *, magic=MAGIC_C, version=1, flags=0):
        self.send_raw([struct.pack("<IBBHQ", magic, version, typ, flags, rid), body])

    def recv(self, what, timeout=DEADLINE_S):
        if not self.s.poll(int(timeout * 1000)):
            raise Disagree(f'docs/PROTOCOL.md "Exchanges": no reply within {timeout:.0f} s ({what})')
        f = self.s.recv_multipart()
        check(len(f) == 2, "Messages", f"a reply has {len(f)} frames, not 2 ({what})")
        check(len(f[0]) == 16, "Messages", f"reply header of {len(f[0])} bytes ({what})")
        magic, ver, typ, flags, rid = struct.unpack("<IBBHQ", f[0])
        check(magic == MAGIC_C and ver == 1 and flags == 0, "Messages",
              f"reply header magic/version/flags {magic:#x}/{ver}/{flags} ({what})")
        return typ, rid, f[1]

    def silent(self, seconds):
        return not self.s.poll(int(seconds * 1000))


def parse_error(body, what):
    check(len(body) >= 10, "Messages", f"ERROR body of {len(body)} bytes ({what})")
    code, flags, zero, retry_ms, mlen = struct.unpack("<HBBIH", body[:10])
    check(zero == 0 and flags & ~1 == 0, "Messages", f"ERROR flags {flags:#x}/{zero} ({what})")
    check(len(body) == 10 + mlen and mlen <= 1024, "Messages",
          f"ERROR message length {mlen} against body {len(body)} ({what})")
    return code, bool(flags & 1), retry_ms, body[10:].decode("utf-8")


def expect_error(c, rid, code, what, section="Error codes", retryable=False):
    typ, got_rid, body = c.recv(what)
    check(typ == T_ERROR, section, f"{what}: expected ERROR {code}, got message type {typ}")
    got, retr, _, msg = parse_error(body, what)
    check(got == code, section, f"{what}: expected ERROR {code}, got {got} ({msg})")
    check(got_rid == rid, "Messages", f"{what}: request id {got_rid} echoed, expected {rid}")
    check(retr == retryable, section, f"{what}: retryable flag {retr}, expected {retryable}")
    CHECKS.append(f"{what} -> ERROR {code}")
    return msg


# ---------------------------------------------------------------- merkle
def leaf_hash(b):
    return sha(b"\x00" + b)


def node_hash(l, r):
    return sha(b"\x01" + l + r)


def split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def range_paths(n, first, leaves, proof):
    """Rebuilds the root and each range leaf's inclusion path ("Binary
    (batch receipt)": the depth-first, left-to-right walk)."""
    last = first + len(leaves)
    it = iter(proof)
    used = [0]
    paths = {i: [] for i in range(first, last)}

    def walk(lo, hi):
        if hi <= first or lo >= last:
            used[0] += 1
            h = next(it, None)
            check(h is not None, "Binary (batch receipt, the body of RECEIPT)",
                  "range proof has too few hashes")
            return h
        if hi - lo == 1:
            return leaf_hash(leaves[lo - first])
        k = split(hi - lo)
        left = walk(lo, lo + k)
        right = walk(lo + k, hi)
        for i in range(max(lo, first), min(lo + k, last)):
            paths[i].append(right)
        for i in range(max(lo + k, first), min(hi, last)):
            paths[i].append(left)
        return node_hash(left, right)

    root = walk(0, n)
    check(used[0] == len(proof), "Binary (batch receipt, the body of RECEIPT)",
          f"range proof has {len(proof)} hashes, the walk uses {used[0]}")
    return root, paths


def path_root(index, n, leaf, path):
    """RFC 9162 2.1.3.2 inclusion verification."""
    if index >= n:
        return None
    fn, sn, r = index, n - 1, leaf_hash(leaf)
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


# ---------------------------------------------------------------- receipts
class Chain:
    def __init__(self, gpath):
        raw = open(gpath, "rb").read()
        self.chain_id = sha(raw)
        self.g = json.loads(raw)
        self.vals = [Ed25519PublicKey.from_public_bytes(bytes.fromhex(v["sign_pub"]))
                     for v in self.g["validators"]]
        n = len(self.vals)
        self.quorum = 2 * ((n - 1) // 3) + 1

    def verify_commit(self, view, height, block_hash, sigs, sec="Receipts"):
        check(len(sigs) >= self.quorum, sec, f"certificate has {len(sigs)} signatures, "
              f"fewer than 2f+1 = {self.quorum}")
        idx = [v for v, _ in sigs]
        check(idx == sorted(set(idx)), sec, f"signatures not in strictly increasing validator order: {idx}")
        for v, s in sigs:
            check(v < len(self.vals), sec, f"signature of validator {v}, not in genesis")
            msg = self.chain_id + struct.pack("<BBHQQ", 1, 4, v, view, height) + block_hash
            assert len(msg) == 84
            try:
                self.vals[v].verify(s, msg)
            except Exception:
                raise Disagree(f'docs/PROTOCOL.md "{sec}": commit signature of validator {v} '
                               "does not verify over the 84-byte commit message")


def parse_header(h):
    check(len(h) == 168, "Block headers and blocks (binary)", f"header of {len(h)} bytes")
    magic, ver, flags, proposer, height, view, ts, evc, bc = struct.unpack("<IBBHQQQII", h[:40])
    check(magic == 0x48545243 and ver == 1 and flags == 0, "Block headers and blocks (binary)",
          f"header magic/version/flags {magic:#x}/{ver}/{flags}")
    return {"height": height, "view": view, "event_count": evc, "batch_count": bc,
            "events_root": h[72:104], "timestamp_ms": ts, "proposer": proposer}


def verify_receipt(chain, body, integrator, seq, events):
    sec = "Binary (batch receipt, the body of RECEIPT)"
    p = 0

    def take(n):
        nonlocal p
        check(p + n <= len(body), sec, f"receipt ends at byte {len(body)}, needs {p + n}")
        b = body[p:p + n]
        p += n
        return b

    magic, ver, res, integ, s = struct.unpack("<IBBHQ", take(16))
    check(magic == 0x52545243 and ver == 2 and res == 0, sec, f"magic/version {magic:#x}/{ver}")
    check(integ == integrator and s == seq, sec, f"receipt for ({integ},{s}), expected ({integrator},{seq})")
    header = take(168)
    hd = parse_header(header)
    cview, cheight = struct.unpack("<QQ", take(16))
    bhash = take(32)
    (nsig,) = struct.unpack("<H", take(2))
    check(1 <= nsig <= 64, sec, f"signature count {nsig}")
    sigs = []
    for _ in range(nsig):
        (v,) = struct.unpack("<H", take(2))
        sigs.append((v, take(64)))
    first, count = struct.unpack("<QI", take(12))
    check(count == len(events), sec, f"{count} entries for a batch of {len(events)} events")
    entries = []
    for i in range(count):
        result, rlen = struct.unpack("<HB", take(3))
        reason = take(rlen)
        check(rlen <= 128 and all(32 <= c < 127 for c in reason), sec, "reason not printable ASCII")
        check((result == 0) == (rlen == 0), sec, f"entry {i}: result {result} with reason length {rlen}")
        (elen,) = struct.unpack("<H", take(2))
        ev = take(elen)
        check(ev == events[i], sec, f"entry {i}: event bytes differ from the bytes submitted")
        entries.append((result, reason.decode()))
    (pc,) = struct.unpack("<B", take(1))
    proof = [take(32) for _ in range(pc)]
    check(p == len(body), sec, f"{len(body) - p} bytes after the proof")
    rsec = "Receipts"
    check(cheight == hd["height"], rsec, "certificate height differs from the header's")
    check(bhash == sha(header), rsec, "certified block hash is not SHA-256 of the header")
    chain.verify_commit(cview, cheight, bhash, sigs)
    check(first + count <= hd["event_count"], sec, "leaves past the header's event_count")
    leaves = [struct.pack("<HQ", integrator, seq) + e for e in events]
    root, paths = range_paths(hd["event_count"], first, leaves, proof)
    check(root == hd["events_root"], sec, "range proof does not lead to events_root")
    for i in range(count):
        r = path_root(first + i, hd["event_count"], leaves[i], paths[first + i])
        check(r == hd["events_root"], "Inclusion proof (audit path)",
              f"rebuilt path of leaf {first + i} does not verify (RFC 9162 2.1.3.2)")
    return {"height": hd["height"], "first": first, "entries": entries, "header": header,
            "body": body}


# ---------------------------------------------------------------- scenario
def check_status_chain(st, chain, index):
    """The status names the chain, the validator set and the peers as
    "Query results (JSON)" says: chain_id = SHA-256 of genesis.json's bytes
    ("Genesis (genesis.json)"), genesis_hash the same, epoch 0, n and f of
    genesis, one peer entry per other validator."""
    sec = "Query results (JSON)"
    for f in ("chain_id", "genesis_hash", "epoch", "n", "f", "peers", "peers_up"):
        check(f in st, sec, f"status has no {f}")
    check(st["chain_id"] == chain.chain_id.hex(), sec,
          f"status chain_id {st['chain_id']} is not SHA-256 of genesis.json {chain.chain_id.hex()}")
    check(st["genesis_hash"] == st["chain_id"], sec, "genesis_hash differs from chain_id")
    check(st["epoch"] == 0, sec, f"epoch {st['epoch']} without any validator-set change")
    n = len(chain.g["validators"])
    check(st["n"] == n and st["f"] == (n - 1) // 3, sec, f"n {st['n']} f {st['f']} for {n} validators")
    peers = st["peers"]
    check(isinstance(peers, list) and len(peers) == n - 1, sec, f"{len(peers)} peers, expected n-1 = {n - 1}")
    check([p["validator"] for p in peers] == [i for i in range(n) if i != index], sec,
          f"peers {[p['validator'] for p in peers]}: not every other validator in index order")
    for p in peers:
        check(p["name"] == chain.g["validators"][p["validator"]]["name"], sec,
              f"peer {p['validator']} named {p['name']}")
        check(isinstance(p["up"], bool), sec, f"peer {p['validator']} up is not a boolean")
    check(st["peers_up"] == sum(p["up"] for p in peers), sec,
          f"peers_up {st['peers_up']} but {sum(p['up'] for p in peers)} peers up")
    CHECKS.append(f"status of validator {index}: chain_id = SHA-256(genesis.json), n, f, epoch, "
                  f"{n - 1} peers")


def main():
    gpath, keydir = sys.argv[1], sys.argv[2]
    chain = Chain(gpath)
    g = chain.g
    check(g["params"].get("replay_horizon_batches") == 16, "Genesis (genesis.json)",
          "this test needs replay_horizon_batches = 16")
    names = [i["name"] for i in g["integrators"]]
    app = names.index("app")

    def key(name):
        return serialization.load_pem_private_key(open(f"{keydir}/{name}.pem", "rb").read(), None)

    k_app = key("app")
    ctx = zmq.Context()
    c = Conn(ctx, g["validators"][0])
    c2 = Conn(ctx, g["validators"][1])
    rid = [1000]

    def nrid():
        rid[0] += 1
        return rid[0]

    now = int(time.time() * 1000)
    nonce = os.urandom(8)
    holder = sha(b"holder" + nonce)

    # status
    r = nrid()
    c.send(T_QUERY, r, bytes([4]))
    typ, got, body = c.recv("status")
    check(typ == T_QRESULT and got == r and body[0] == 4, "Exchanges", f"status: type {typ}")
    st = json.loads(body[1:].decode())
    for f in ("validator", "name", "height", "view", "primary"):
        check(f in st, "Query results (JSON)", f"status has no {f}")
    check(st["validator"] == 0, "Query results (JSON)", "status of validator 0 names another")
    CHECKS.append("status query -> QUERY_RESULT")
    check_status_chain(st, chain, 0)
    r = nrid()
    c2.send(T_QUERY, r, bytes([4]))
    typ, got, body = c2.recv("status of validator 1")
    check(typ == T_QRESULT and got == r and body[0] == 4, "Exchanges", f"status: type {typ}")
    check_status_chain(json.loads(body[1:].decode()), chain, 1)

    def submit(conn, b, what, seq, events, integrator=app):
        r = nrid()
        conn.send(T_SUBMIT, r, b)
        typ, got, body = conn.recv(what)
        check(got == r, "Messages", f"{what}: request id {got}, expected {r}")
        if typ == T_ERROR:
            code, _, _, msg = parse_error(body, what)
            raise Disagree(f'docs/PROTOCOL.md "Exchanges": {what}: ERROR {code} {msg}')
        check(typ == T_ACCEPTED, "Exchanges", f"{what}: first reply type {typ}, expected ACCEPTED")
        check(len(body) == 46, "Messages", f"ACCEPTED body of {len(body)} bytes")
        i, s, dg, n = struct.unpack("<HQ32sI", body)
        check((i, s, n) == (integrator, seq, len(events)), "Messages",
              f"ACCEPTED names ({i},{s},{n})")
        check(dg == sha(b[:-64]), "Batches (binary)", "ACCEPTED digest is not SHA-256 of the bytes before the signature")
        typ, got, body = conn.recv(what + " receipt")
        check(typ == T_RECEIPT and got == r, "Exchanges", f"{what}: second reply type {typ}, expected RECEIPT")
        return r, verify_receipt(chain, body, integrator, seq, events)

    # 1. a good batch: ACCEPTED then RECEIPT, receipt verified offline
    gids = [sha(nonce + bytes([i]))[:16] for i in range(3)]
    evs = [ev_grant(gid, holder, now) for gid in gids]
    b1 = batch(k_app, app, 1, evs)
    _, rc1 = submit(c, b1, "good batch seq 1", 1, evs)
    check(all(e[0] == 0 for e in rc1["entries"]), "Exchanges", f"grants rejected: {rc1['entries']}")
    CHECKS.append("SUBMIT -> ACCEPTED, RECEIPT (verified offline: leaves, range proof, paths, certificate)")

    # 2. resend after commit to the validator that sent the receipt (it has
    # executed the batch): the RECEIPT alone
    r = nrid()
    c.send(T_SUBMIT, r, b1)
    typ, got, body = c.recv("resend after commit")
    check(typ == T_RECEIPT and got == r, "Exchanges",
          f"resend of an executed batch: first reply type {typ}, expected the RECEIPT alone")
    rr = verify_receipt(chain, body, app, 1, evs)
    check(rr["height"] == rc1["height"] and rr["entries"] == rc1["entries"], "Replay protection",
          "the resent receipt is not the original's block and results")
    check(c.silent(1.0), "Exchanges", "a resend after commit got more than the RECEIPT")
    CHECKS.append("resend after commit -> RECEIPT only")
    # ... and to another validator, which may not have executed that block
    # yet: the RECEIPT alone, or ACCEPTED then the RECEIPT
    r = nrid()
    c2.send(T_SUBMIT, r, b1)
    typ, got, body = c2.recv("resend after commit, other validator")
    if typ == T_ACCEPTED:
        typ, got, body = c2.recv("resend after commit, other validator, receipt")
    check(typ == T_RECEIPT and got == r, "Exchanges",
          f"resend of a committed batch to another validator: type {typ}, expected RECEIPT")
    rr = verify_receipt(chain, body, app, 1, evs)
    check(rr["height"] == rc1["height"] and rr["entries"] == rc1["entries"], "Replay protection",
          "the other validator's receipt is not the original's block and results")
    check(c2.silent(1.0), "Exchanges", "a resend after commit got more than its RECEIPT")
    CHECKS.append("resend after commit, other validator -> (ACCEPTED,) RECEIPT")

    # 3. same seq, other bytes: 702
    b1x = batch(k_app, app, 1, [ev_revoke(gids[0], holder)])
    r = nrid()
    c.send(T_SUBMIT, r, b1x)
    msg = expect_error(c, r, 702, "seq 1 again with other bytes", "Replay protection")
    check(f"block {rc1['height']}" in msg, "Replay protection", f"702 message does not name the block: {msg}")

    # 4. in flight: the same batch on three connections at once; each gets the RECEIPT
    evs2 = [ev_revoke(sha(nonce + b"x")[:16], holder)]
    b2 = batch(k_app, app, 2, evs2)
    c3 = Conn(ctx, g["validators"][0])
    ra, rb, rc_ = nrid(), nrid(), nrid()
    c.send(T_SUBMIT, ra, b2)
    c3.send(T_SUBMIT, rb, b2)
    c2.send(T_SUBMIT, rc_, b2)
    flow = []
    for conn, rq, name in ((c, ra, "first"), (c3, rb, "second (same validator)"),
                           (c2, rc_, "third (other validator)")):
        typ, got, body = conn.recv(f"in-flight resend, {name} request")
        check(got == rq, "Messages", "in-flight resend: request id not echoed")
        flow.append(typ)
        if typ == T_ACCEPTED:
            typ, got, body = conn.recv(f"in-flight resend, {name} request's receipt")
            flow.append(typ)
        check(typ == T_RECEIPT and got == rq, "Exchanges",
              f"in-flight resend: the {name} request got type {typ}, not its RECEIPT")
        verify_receipt(chain, body, app, 2, evs2)
    CHECKS.append(f"resend in flight (two connections to one validator, one to another) -> each its RECEIPT {flow}")

    # 4a. five requests for one batch in flight on one validator: at most 4
    # wait; the longest waiting ends with a retryable ERROR 12 "superseded"
    conns = [Conn(ctx, g["validators"][0]) for _ in range(5)]
    time.sleep(0.5)  # let the CURVE handshakes finish so the five go out together
    evs5 = [ev_revoke(sha(nonce + b"five")[:16], holder)]
    b5 = batch(k_app, app, 2000, evs5)
    rids = [nrid() for _ in conns]
    for conn, rq in zip(conns, rids):
        conn.send(T_SUBMIT, rq, b5)
    flows = []
    for i, (conn, rq) in enumerate(zip(conns, rids)):
        flow = []
        while True:
            typ, got, body = conn.recv(f"five in flight, request {i}")
            check(got == rq, "Messages", "five in flight: request id not echoed")
            flow.append(typ)
            if typ == T_ERROR:
                code, retr, ra, msg = parse_error(body, "five in flight")
                flow[-1] = (code, retr, ra)
                check(code == 12 and retr and ra == 0 and "superseded" in msg and i == 0,
                      "Exchanges", f"five in flight: request {i} got ERROR {code} "
                      f"(retryable {retr}, retry-after {ra}): {msg}")
                break
            if typ == T_RECEIPT:
                verify_receipt(chain, body, app, 2000, evs5)
                break
            check(typ == T_ACCEPTED, "Exchanges", f"five in flight: request {i} got type {typ}")
        flows.append(flow)
    if all(f[0] == T_ACCEPTED for f in flows):  # all five found the batch in flight
        check(flows[0] == [T_ACCEPTED, (12, True, 0)] and
              all(f == [T_ACCEPTED, T_RECEIPT] for f in flows[1:]), "Exchanges",
              f"five requests in flight: {flows}, expected the first superseded (12), "
              "the other four their RECEIPT")
    CHECKS.append(f"five requests for one batch in flight -> {flows}")
    for conn in conns:
        conn.s.close()

    # 4b. the same request (connection, request id) sent twice: ACCEPTED for
    # each send that finds it in flight, and it ends in its RECEIPT
    evs3 = [ev_revoke(sha(nonce + b"y")[:16], holder)]
    b3 = batch(k_app, app, 3000, evs3)
    r = nrid()
    c.send(T_SUBMIT, r, b3)
    c.send(T_SUBMIT, r, b3)
    # each send is answered at once (ACCEPTED, or the RECEIPT when the batch
    # executed in between), and the waiting request ends in one RECEIPT:
    # three replies in all, then nothing
    seen = []
    for _ in range(3):
        typ, got, body = c.recv("same request sent twice")
        check(got == r, "Messages", "same request sent twice: request id not echoed")
        check(typ in (T_ACCEPTED, T_RECEIPT), "Exchanges", f"same request sent twice: type {typ}")
        if typ == T_RECEIPT:
            verify_receipt(chain, body, app, 3000, evs3)
        seen.append(typ)
    check(seen in ([T_ACCEPTED, T_ACCEPTED, T_RECEIPT], [T_ACCEPTED, T_RECEIPT, T_RECEIPT]),
          "Exchanges", f"same request sent twice: replies {seen}, expected ACCEPTED twice and "
          "one RECEIPT (in flight) or ACCEPTED, RECEIPT, RECEIPT (executed before the resend)")
    check(c.silent(1.0), "Exchanges", "same request sent twice: more than three replies")
    CHECKS.append(f"same request sent twice -> {seen}")

    # 5. malformed headers: 701, request id echoed when the header is 16 bytes
    bad = [("bad header magic", dict(magic=0x11111111)), ("bad header version", dict(version=9)),
           ("bad header flags", dict(flags=1))]
    for what, kw in bad:
        r = nrid()
        c.send(T_SUBMIT, r, b"x", **kw)
        expect_error(c, r, 701, what, "Exchanges")
    r = nrid()
    c.send(99, r, b"x")
    expect_error(c, r, 701, "unknown message type", "Exchanges")
    r = nrid()
    c.send(T_ACCEPTED, r, b"x")
    expect_error(c, r, 701, "a reply type sent as a request", "Exchanges")
    c.send_raw([b"\x43\x52\x54\x43\x01\x01", b"x"])
    expect_error(c, 0, 701, "header of 6 bytes (request id 0)", "Exchanges")
    c.send_raw([struct.pack("<IBBHQ", MAGIC_C, 1, T_SUBMIT, 0, 77), b"x", b"y"])
    expect_error(c, 77, 701, "three frames", "Exchanges")
    c.send_raw([struct.pack("<IBBHQ", MAGIC_C, 1, T_SUBMIT, 0, 78)])
    expect_error(c, 78, 701, "header frame alone", "Exchanges")

    # 6. codec errors at the door, in the documented order
    gev = evs[0]
    cases = [
        ("empty body", b"", 100),
        ("2 MiB of zeros", bytes(2 << 20), 107),
        ("bad batch magic", batch(k_app, app, 50, [gev], magic=0x11111111), 107),
        ("batch version 2", batch(k_app, app, 50, [gev], version=2), 102),
        ("batch flags set", batch(k_app, app, 50, [gev], flags=1), 105),
        ("batch seq 0", batch(k_app, app, 0, [gev]), 109),
        ("event_count 0", batch(k_app, app, 50, [gev], count=0), 109),
        ("event_count 4097", batch(k_app, app, 50, [gev], count=4097), 106),
        ("body_bytes over 1048488", batch(k_app, app, 50, [gev], body_bytes=1048489), 106),
        ("batch truncated", batch(k_app, app, 50, [gev])[:-1], 100),
        ("batch trailing byte", batch(k_app, app, 50, [gev], tail=b"\x00"), 101),
        ("fewer events than event_count", batch(k_app, app, 50, [gev], count=2), 109),
        ("records after event_count", batch(k_app, app, 50, [gev, gev], count=1), 101),
        ("record of 1025 bytes", batch(k_app, app, 50, [bytes(1025)]), 106),
        ("event version 2", batch(k_app, app, 50, [b"\x02" + gev[1:]]), 102),
        ("event kind 8", batch(k_app, app, 50, [gev[:1] + b"\x08" + gev[2:]]), 103),
        ("event flags set", batch(k_app, app, 50, [gev[:2] + b"\x01\x00" + gev[4:]]), 105),
        ("grant method 3", batch(k_app, app, 50, [gev[:82] + b"\x03" + gev[83:]]), 104),
        ("grant max_uses 0", batch(k_app, app, 50, [gev[:80] + b"\x00\x00" + gev[82:]]), 109),
        ("grant cut short", batch(k_app, app, 50, [gev[:115]]), 100),
        ("grant with a trailing byte", batch(k_app, app, 50, [gev + b"\x00"]), 101),
        ("unknown integrator", batch(k_app, 60000, 50, [gev]), 4),
        ("bad signature", batch(k_app, app, 50, [gev], sign=False), 201),
    ]
    for what, b, code in cases:
        r = nrid()
        c.send(T_SUBMIT, r, b)
        expect_error(c, r, code, what, "Exchanges")

    # 7. queries: grant, holder, block, and their errors
    def query(body, kind, what):
        r = nrid()
        c.send(T_QUERY, r, body)
        typ, got, rb = c.recv(what)
        if typ == T_ERROR:
            code, _, _, msg = parse_error(rb, what)
            raise Disagree(f'docs/PROTOCOL.md "Exchanges": {what}: ERROR {code} {msg}')
        check(typ == T_QRESULT and got == r and rb[0] == kind, "Messages", f"{what}: type {typ}")
        CHECKS.append(f"{what} -> QUERY_RESULT")
        return json.loads(rb[1:].decode())

    doc = query(bytes([2]) + gids[0] + struct.pack("<QI", 0, 0), 2, "grant query")
    check(doc["grant_id"] == gids[0].hex() and doc["holder_id"] == holder.hex(),
          "Query results (JSON)", f"grant document names {doc.get('grant_id')}")
    doc = query(bytes([1]) + holder + struct.pack("<QI", 0, 0), 1, "holder query")
    check(doc["holder_id"] == holder.hex() and len(doc["records"]) >= 3, "Query results (JSON)",
          "holder document lacks the three grants")
    doc = query(bytes([3]) + struct.pack("<QQI", rc1["height"], 0, 0), 3, "block query")
    check(bytes.fromhex(doc["header_hex"]) == rc1["header"], "Query results (JSON)",
          "block query header differs from the receipt's")
    check(doc["hash"] == sha(rc1["header"]).hex(), "Query results (JSON)", "block hash")
    cm = doc["commit"]
    chain.verify_commit(cm["view"], cm["height"], bytes.fromhex(cm["block_hash"]),
                        [(s["validator"], bytes.fromhex(s["signature"])) for s in cm["signatures"]],
                        "Query results (JSON)")
    r = nrid()
    c.send(T_QUERY, r, bytes([2]) + bytes(16))
    expect_error(c, r, 701, "grant query of the wrong length", "Exchanges")
    r = nrid()
    c.send(T_QUERY, r, bytes([9]))
    expect_error(c, r, 701, "unknown query kind", "Exchanges")
    r = nrid()
    c.send(T_QUERY, r, bytes([2]) + os.urandom(16) + struct.pack("<QI", 0, 0))
    expect_error(c, r, 4, "grant query of an absent grant", "Exchanges")
    r = nrid()
    c.send(T_QUERY, r, bytes([1]) + os.urandom(32) + struct.pack("<QI", 0, 0))
    expect_error(c, r, 4, "holder query of an absent holder", "Exchanges")
    r = nrid()
    c.send(T_QUERY, r, bytes([2]) + gids[0] + struct.pack("<QI", 1 << 40, 0))
    expect_error(c, r, 2, "grant query with a cursor not of that grant", "Exchanges")
    r = nrid()
    c.send(T_QUERY, r, bytes([3]) + struct.pack("<QQI", 1 << 40, 0, 0))
    expect_error(c, r, 4, "block query past the executed height", "Exchanges")

    # 8. 703 TOO_OLD: 16 more batches committed as new push seq 1 out of the horizon
    pend = {}
    for s in range(3, 3 + 20):
        e = [ev_revoke(sha(nonce + struct.pack("<Q", s))[:16], holder)]
        r = nrid()
        c.send(T_SUBMIT, r, batch(k_app, app, s, e))
        pend[r] = (s, e)
    got_receipts = 0
    while got_receipts < len(pend):
        typ, got, body = c.recv("one of 20 pipelined batches")
        if typ == T_ACCEPTED:
            continue
        check(typ == T_RECEIPT and got in pend, "Exchanges", f"pipelined batch: type {typ}")
        verify_receipt(chain, body, app, *pend[got])
        got_receipts += 1
    CHECKS.append("20 pipelined batches -> ACCEPTED, RECEIPT each")
    end = time.time() + DEADLINE_S
    while True:
        r = nrid()
        c.send(T_SUBMIT, r, b1)
        typ, got, body = c.recv("resend of seq 1 past the horizon")
        if typ == T_ERROR:
            code, retr, _, msg = parse_error(body, "too old")
            check(code == 703 and not retr, "Replay protection", f"past the horizon: ERROR {code} {msg}")
            CHECKS.append("resend past the horizon -> ERROR 703")
            break
        check(typ == T_RECEIPT, "Replay protection", f"resend within the horizon: type {typ}")
        check(time.time() < end, "Replay protection",
              "seq 1 still remembered after 20 newer batches with replay_horizon_batches 16")
        time.sleep(0.2)

    # 9. an integrator's highest executed sequence number (query kind 5):
    # library (not used above) submits 1..5 and 9, one at a time; gaps are
    # allowed. Every answer must be exact at the height it names.
    lib = names.index("library")
    k_lib = key("library")

    def integrator_query(conn, name, what):
        nb = name.encode()
        r = nrid()
        conn.send(T_QUERY, r, bytes([5, len(nb)]) + nb)
        typ, got, rb = conn.recv(what)
        if typ == T_ERROR:
            code, _, _, msg = parse_error(rb, what)
            raise Disagree(f'docs/PROTOCOL.md "Exchanges": {what}: ERROR {code} {msg}')
        check(typ == T_QRESULT and got == r and rb[0] == 5, "Messages", f"{what}: type {typ}")
        d = json.loads(rb[1:].decode())
        check(d.get("integrator") == name and d.get("index") == names.index(name),
              "Query results (JSON)", f"{what}: names {d.get('integrator')} {d.get('index')}")
        check(isinstance(d.get("highest_seq"), int) and isinstance(d.get("height"), int),
              "Query results (JSON)", f"{what}: {d}")
        return d

    d = integrator_query(c, "library", "integrator query before any batch")
    check(d["highest_seq"] == 0, "Query results (JSON)",
          f"library executed nothing yet, highest_seq {d['highest_seq']}")
    seq_heights = []
    for s in (1, 2, 3, 4, 5, 9):
        e = [ev_revoke(sha(nonce + b"lib" + struct.pack("<Q", s))[:16], holder)]
        _, rc = submit(c, batch(k_lib, lib, s, e), f"library seq {s}", s, e, integrator=lib)
        seq_heights.append((s, rc["height"]))
    d = integrator_query(c, "library", "integrator query after seqs 1..5 and 9")
    check(d["highest_seq"] == 9 and d["height"] >= seq_heights[-1][1], "Query results (JSON)",
          f"after seqs 1..5 and 9 (seq 9 in block {seq_heights[-1][1]}): {d}")
    CHECKS.append("integrator query after seqs 1..5 and 9 -> highest_seq 9")
    # validator 1 may be behind: its answer must hold at the height it names
    end = time.time() + DEADLINE_S
    while True:
        d = integrator_query(c2, "library", "integrator query of validator 1")
        want = max([s for s, h in seq_heights if h <= d["height"]], default=0)
        check(d["highest_seq"] == want, "Query results (JSON)",
              f"validator 1 at height {d['height']} says {d['highest_seq']}, the chain says {want}")
        if d["highest_seq"] == 9:
            break
        check(time.time() < end, "Query results (JSON)", "validator 1 never reached seq 9")
        time.sleep(0.2)
    CHECKS.append("integrator query of another validator: exact at its height")
    r = nrid()
    c.send(T_QUERY, r, bytes([5, 6]) + b"nobody")
    msg = expect_error(c, r, 4, "integrator query of an unknown name", "Exchanges")
    check("no such integrator nobody" in msg, "Exchanges", f"unknown integrator message: {msg}")
    r = nrid()
    c.send(T_QUERY, r, bytes([5, 0]))
    expect_error(c, r, 701, "integrator query with an empty name", "Exchanges")
    r = nrid()
    c.send(T_QUERY, r, bytes([5, 8]) + b"library")
    expect_error(c, r, 701, "integrator query shorter than its length byte", "Exchanges")

    # 10. on a healthy cluster every link is up at last
    end = time.time() + DEADLINE_S
    while True:
        r = nrid()
        c.send(T_QUERY, r, bytes([4]))
        typ, got, body = c.recv("status at the end")
        st = json.loads(body[1:].decode())
        check_status_chain(st, chain, 0)
        if all(p["up"] for p in st["peers"]):
            break
        check(time.time() < end, "Query results (JSON)", f"peers never all up: {st['peers']}")
        time.sleep(0.2)
    CHECKS.append("status: every peer up on a healthy cluster")

    for line in CHECKS:
        print("ok", line)
    print(f"conformance: {len(CHECKS)} checks agree with docs/PROTOCOL.md")


if __name__ == "__main__":
    try:
        main()
    except Disagree as e:
        for line in CHECKS:
            print("ok", line)
        print("DISAGREE:", e, file=sys.stderr)
        sys.exit(1)
