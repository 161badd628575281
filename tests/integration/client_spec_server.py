#!/usr/bin/env python3
"""A fake validator written from docs/PROTOCOL.md alone (sections "Client
protocol", "Batches (binary)" and "Receipts"), in another language than
certa itself, to check that the C client library and the `certa submit` and
`certa status` commands speak the documented protocol.

usage: client_spec_server.py GENESIS_DIR VALIDATOR_INDEX SECONDS
Serves validator VALIDATOR_INDEX's client endpoint for at most SECONDS.
Behaviour:
  QUERY status -> QUERY_RESULT with fixed figures (height 42, view 1, ...),
                  the chain id computed as "Genesis (genesis.json)" says
                  (SHA-256 of the file's bytes) and one peer entry per other
                  validator (the first up, the others down)
  QUERY integrator -> the name parsed by the byte table (u8 length, name);
                  a name genesis has: {"integrator", "index", "highest_seq":
                  7, "height": 42}; another: ERROR 4 NOTFOUND
  SUBMIT seq 1 -> ERROR BUSY (retryable, retry after 50 ms) on the first
                  attempt, then ACCEPTED and a RECEIPT whose second entry is
                  rejected with code 11 "code_mismatch"
  SUBMIT seq 2 -> ERROR 702 REFUSED, not retryable
  other seqs   -> ACCEPTED and a RECEIPT with every entry ok
  QUERY holder, grant, block -> the body is parsed by the byte table of
                  "Client protocol" (a wrong length: ERROR 701); an all-zero
                  holder or grant id, or block height 0, gets ERROR 4
                  NOTFOUND; otherwise QUERY_RESULT with a document that
                  echoes the id, cursor and limit (query_doc below; the test
                  rebuilds it to compare what `certa query --to` prints)
"""
import hashlib
import json
import os
import struct
import sys
import time

import zmq

CP_MAGIC = 0x43545243
BATCH_MAGIC = 0x42545243
RECEIPT_MAGIC = 0x52545243
SUBMIT, QUERY, ACCEPTED, RECEIPT, ERROR, QUERY_RESULT = 1, 2, 16, 17, 18, 19


def header(kind, request_id):
    return struct.pack("<IBBHQ", CP_MAGIC, 1, kind, 0, request_id)


def error_body(code, retryable, retry_after_ms, message):
    m = message.encode()
    return struct.pack("<HBBIH", code, 1 if retryable else 0, 0, retry_after_ms, len(m)) + m


def parse_batch(b):
    magic, version, flags, integrator, seq, count, body_bytes = struct.unpack_from("<IBBHQII", b, 0)
    assert magic == BATCH_MAGIC and version == 1 and flags == 0, "not a batch"
    assert len(b) == 24 + body_bytes + 64, "batch length"
    events, pos = [], 24
    for _ in range(count):
        (n,) = struct.unpack_from("<H", b, pos)
        events.append(b[pos + 2:pos + 2 + n])
        pos += 2 + n
    assert pos == 24 + body_bytes, "event records"
    return integrator, seq, events


def receipt_body(integrator, seq, events, rejected_index):
    # version 2; the batch is the whole block (header event_count = its
    # events, first leaf 0), so the range proof is empty
    out = struct.pack("<IBBHQ", RECEIPT_MAGIC, 2, 0, integrator, seq)
    header = bytearray(168)                             # block header
    struct.pack_into("<I", header, 32, len(events))     # event_count
    out += bytes(header)
    out += struct.pack("<QQ", 1, 42) + bytes(32)        # view, height, block hash
    out += struct.pack("<H", 1) + struct.pack("<H", 0) + bytes(64)  # one signature
    out += struct.pack("<QI", 0, len(events))           # first leaf, entries
    for i, ev in enumerate(events):
        code, reason = (11, b"code_mismatch") if i == rejected_index else (0, b"")
        out += struct.pack("<HB", code, len(reason)) + reason
        out += struct.pack("<H", len(ev)) + ev
    out += bytes([0])                                   # no proof hashes
    return out


QUERY_ARG_BYTES = {1: 44, 2: 28, 3: 20, 4: 0}


def query_doc(kind, ident, cursor, limit):
    """The answer to a holder (1), grant (2) or block (3) query: shapes of
    "Query results (JSON)", contents made up from the request."""
    if kind == 1:
        return {"holder_id": ident, "height": 42,
                "records": [{"seq": cursor, "time_ms": 1, "kind": "grant",
                             "grant_id": "ab" * 16, "matter": 1001, "centre": 2,
                             "licence_types": ["id_card"], "result": "ok"}],
                "next_cursor": cursor + limit}
    if kind == 2:
        return {"grant_id": ident, "holder_id": "cd" * 32, "status": "active",
                "centre": 2, "counter": 0, "matter": 1001, "licence_types": ["id_card"],
                "not_before_ms": 1, "not_after_ms": 2, "method": "code", "max_uses": 1,
                "uses": 0, "failed_attempts": 0, "created_ms": 1, "height": 42,
                "history": [], "next_cursor": cursor + limit}
    return {"height": ident, "hash": "00" * 32, "header": {"height": ident},
            "header_hex": "00" * 168, "events": [], "next_cursor": cursor + limit}


def parse_query(body):
    """(kind, id, cursor, limit) per the QUERY body table, or None."""
    if len(body) < 1 or body[0] not in QUERY_ARG_BYTES or len(body) != 1 + QUERY_ARG_BYTES[body[0]]:
        return None
    kind = body[0]
    if kind == 1:
        return kind, body[1:33].hex(), *struct.unpack_from("<QI", body, 33)
    if kind == 2:
        return kind, body[1:17].hex(), *struct.unpack_from("<QI", body, 17)
    if kind == 3:
        height, cursor, limit = struct.unpack_from("<QQI", body, 1)
        return kind, height, cursor, limit
    return kind, None, 0, 0


def main():
    gdir, index, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with open(os.path.join(gdir, "genesis.json"), "rb") as f:
        raw = f.read()
    genesis = json.loads(raw)
    chain_id = hashlib.sha256(raw).hexdigest()
    endpoint = genesis["validators"][index]["client_endpoint"]
    secret = open(os.path.join(gdir, "node%d" % index, "curve.key")).read().strip()
    ctx = zmq.Context()
    s = ctx.socket(zmq.ROUTER)
    s.curve_server = True
    s.curve_secretkey = secret.encode()
    s.linger = 0
    s.bind(endpoint)
    attempts = {}
    end = time.time() + seconds
    while time.time() < end:
        if not s.poll(100):
            continue
        frames = s.recv_multipart()
        rid = frames[0]
        if len(frames) != 3 or len(frames[1]) != 16:
            s.send_multipart([rid, header(ERROR, 0), error_body(701, False, 0, "two frames")])
            continue
        magic, version, kind, flags, request_id = struct.unpack("<IBBHQ", frames[1])
        body = frames[2]
        if kind == QUERY and body[:1] == b"\x04":
            vs = genesis["validators"]
            others = [i for i in range(len(vs)) if i != index]
            status = {"validator": index, "name": vs[index]["name"],
                      "chain_id": chain_id, "genesis_hash": chain_id, "epoch": 0,
                      "n": len(vs), "f": (len(vs) - 1) // 3,
                      "height": 42, "view": 1, "primary": 1, "events_per_s": 1234.5,
                      "peers": [{"validator": i, "name": vs[i]["name"], "up": i == others[0]}
                                for i in others]}
            s.send_multipart([rid, header(QUERY_RESULT, request_id),
                              b"\x04" + json.dumps(status).encode()])
        elif kind == QUERY and body[:1] == b"\x05":
            if len(body) < 2 or not 1 <= body[1] <= 63 or len(body) != 2 + body[1]:
                s.send_multipart([rid, header(ERROR, request_id),
                                  error_body(701, False, 0, "query body of %d bytes" % len(body))])
                continue
            name = body[2:].decode("utf-8", "replace")
            names = [i["name"] for i in genesis["integrators"]]
            if name not in names:
                s.send_multipart([rid, header(ERROR, request_id),
                                  error_body(4, False, 0, "no such integrator %s in genesis "
                                             "(at height 42)" % name)])
                continue
            doc = {"integrator": name, "index": names.index(name), "highest_seq": 7,
                   "height": 42}
            s.send_multipart([rid, header(QUERY_RESULT, request_id),
                              b"\x05" + json.dumps(doc, separators=(",", ":")).encode()])
        elif kind == QUERY and body[:1] in (b"\x01", b"\x02", b"\x03"):
            q = parse_query(body)
            if q is None:
                s.send_multipart([rid, header(ERROR, request_id),
                                  error_body(701, False, 0, "query body of %d bytes" % len(body))])
                continue
            qkind, ident, cursor, limit = q
            if ident in ("00" * 32, "00" * 16, 0):
                s.send_multipart([rid, header(ERROR, request_id),
                                  error_body(4, False, 0, "no such item at height 42")])
                continue
            doc = json.dumps(query_doc(qkind, ident, cursor, limit), separators=(",", ":"))
            s.send_multipart([rid, header(QUERY_RESULT, request_id),
                              bytes([qkind]) + doc.encode()])
        elif kind == SUBMIT:
            integrator, seq, events = parse_batch(body)
            attempts[seq] = attempts.get(seq, 0) + 1
            if seq == 1 and attempts[seq] == 1:
                s.send_multipart([rid, header(ERROR, request_id),
                                  error_body(7, True, 50, "queue full")])
                continue
            if seq == 2:
                s.send_multipart([rid, header(ERROR, request_id),
                                  error_body(702, False, 0, "sequence number already used")])
                continue
            digest = bytes(32)
            s.send_multipart([rid, header(ACCEPTED, request_id),
                              struct.pack("<HQ", integrator, seq) + digest +
                              struct.pack("<I", len(events))])
            s.send_multipart([rid, header(RECEIPT, request_id),
                              receipt_body(integrator, seq, events, 1 if seq == 1 else -1)])
        else:
            s.send_multipart([rid, header(ERROR, request_id),
                              error_body(4, False, 0, "not served by this fake")])
    s.close()
    ctx.term()


if __name__ == "__main__":
    main()
