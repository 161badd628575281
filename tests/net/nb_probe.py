#!/usr/bin/env python3
"""nb_probe: measures a test bed link from inside two namespaces (the
tests run each half with `ip netns exec`). Standard library only.

  echo PORT SECS              UDP echo server for SECS seconds
  ping HOST PORT COUNT GAP_MS one datagram every GAP_MS, each with its
                              number and send time; prints JSON: sent,
                              received, rtt p50/p99/max in ms, and how
                              many replies came back out of order
  sink PORT SECS              counts UDP datagrams for SECS seconds at
                              most, or until half a second after the
                              file $NB_PROBE_STOP (when set) appears;
                              prints JSON: received, out_of_order, pps
  blast HOST PORT SECS [PPS]  sends numbered 200-byte datagrams for SECS
                              (PPS 0: as fast as it can); prints the count
  tcpsink PORT                accepts one TCP connection, reads to EOF,
                              prints JSON: bytes, seconds (first to last)
  tcpsend HOST PORT BYTES     connects and sends BYTES
A server creates the file $NB_PROBE_READY (when set) once it listens.
"""
import json
import os
import socket
import struct
import sys
import time


def ready():
    """Tells the test the socket is bound: creates $NB_PROBE_READY."""
    if os.environ.get("NB_PROBE_READY"):
        open(os.environ["NB_PROBE_READY"], "w").close()


def echo(port, secs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    ready()
    s.settimeout(0.2)
    end = time.time() + secs
    while time.time() < end:
        try:
            d, a = s.recvfrom(2048)
        except socket.timeout:
            continue
        s.sendto(d, a)


def ping(host, port, count, gap_ms):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    rtts, last, ooo = [], -1, 0
    t0 = time.monotonic()

    def drain():
        nonlocal last, ooo
        while True:
            try:
                d = s.recv(2048)
            except BlockingIOError:
                return
            i, t = struct.unpack("!Id", d[:12])
            rtts.append((time.monotonic() - t) * 1000)
            if i < last:
                ooo += 1
            last = max(last, i)

    for i in range(count):
        while time.monotonic() < t0 + i * gap_ms / 1000:
            drain()
            time.sleep(0.0002)
        s.sendto(struct.pack("!Id", i, time.monotonic()) + b"x" * 88, (host, port))
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        drain()
        time.sleep(0.001)
    rtts.sort()
    q = lambda p: round(rtts[min(len(rtts) - 1, int(p * len(rtts)))], 3) if rtts else None
    print(json.dumps({"sent": count, "received": len(rtts), "p50_ms": q(0.5),
                      "p99_ms": q(0.99), "max_ms": q(1.0), "out_of_order": ooo}))


def sink(port, secs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("0.0.0.0", port))
    ready()
    s.settimeout(0.2)
    stop = os.environ.get("NB_PROBE_STOP", "")
    n, last, ooo, first_t, last_t = 0, -1, 0, None, None
    end = time.time() + secs
    while time.time() < end:
        # the sender is done: what is still in flight gets half a second
        if stop and os.path.exists(stop) and end > time.time() + 0.5:
            end = time.time() + 0.5
        try:
            d = s.recv(2048)
        except socket.timeout:
            continue
        now = time.monotonic()
        first_t = first_t or now
        last_t = now
        i = struct.unpack("!I", d[:4])[0]
        if i < last:
            ooo += 1
        last = max(last, i)
        n += 1
    span = (last_t - first_t) if n > 1 else 0
    print(json.dumps({"received": n, "out_of_order": ooo,
                      "pps": round(n / span) if span > 0 else 0}))


def blast(host, port, secs, pps):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pad = b"x" * 196
    n, t0 = 0, time.monotonic()
    while True:
        now = time.monotonic()
        if now - t0 >= secs:
            break
        if pps and n >= (now - t0) * pps:
            time.sleep(0.0005)
            continue
        try:
            s.sendto(struct.pack("!I", n) + pad, (host, port))
            n += 1
        except OSError:  # the device's queue is full: the shaper is behind
            time.sleep(0.0001)
    print(n)


def tcpsink(port):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("0.0.0.0", port))
    l.listen(1)
    ready()
    l.settimeout(30)
    c, _ = l.accept()
    n, t0, t1 = 0, None, None
    while True:
        d = c.recv(65536)
        if not d:
            break
        t1 = time.monotonic()
        t0 = t0 or t1
        n += len(d)
    print(json.dumps({"bytes": n, "seconds": round((t1 - t0) if n else 0, 3)}))


def tcpsend(host, port, nbytes):
    for _ in range(50):  # the sink may not listen yet
        try:
            c = socket.create_connection((host, port), timeout=5)
            break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit("tcpsend: no connection")
    c.sendall(b"y" * nbytes)
    c.close()


def main(a):
    if not a:
        sys.exit(__doc__)
    if a[0] == "echo":
        echo(int(a[1]), float(a[2]))
    elif a[0] == "ping":
        ping(a[1], int(a[2]), int(a[3]), float(a[4]))
    elif a[0] == "sink":
        sink(int(a[1]), float(a[2]))
    elif a[0] == "blast":
        blast(a[1], int(a[2]), float(a[3]), int(a[4]) if len(a) > 4 else 0)
    elif a[0] == "tcpsink":
        tcpsink(int(a[1]))
    elif a[0] == "tcpsend":
        tcpsend(a[1], int(a[2]), int(a[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
