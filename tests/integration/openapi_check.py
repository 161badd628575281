#!/usr/bin/env python3
"""Checks a running certa gateway against docs/openapi.yaml: each request
given on stdin ("PATH EXPECTED_STATUS [bearer=TOKEN]" per line) is sent; its
status must be the expected one and documented for that path, its body must
validate against the documented schema (JSON answers; others: their
Content-Type must be the documented media type), its documented headers must
be present with their documented constant values; every GET path of the
document must be among the requests (unless --partial: a gateway without the
integrator API is checked in one run, one with it in another), and every
request must match a documented path (or expect 404).
usage: openapi_check.py [--partial] OPENAPI_YAML BASE_URL [CA_FILE] < requests"""
import json
import re
import ssl
import sys
import urllib.error
import urllib.request

import jsonschema
import yaml

partial = len(sys.argv) > 1 and sys.argv[1] == "--partial"
if partial:
    del sys.argv[1]
spec = yaml.safe_load(open(sys.argv[1]))
base = sys.argv[2]
ctx = None
if len(sys.argv) > 3:
    ctx = ssl.create_default_context(cafile=sys.argv[3])
    ctx.check_hostname = False
templates = []
for p in spec["paths"]:
    if "get" not in spec["paths"][p]:
        continue  # the POST paths are checked by it_gateway's own requests
    rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(p)) + "$"
    templates.append((p, re.compile(rx)))
seen = set()
fails = 0


def resolve(obj):
    while isinstance(obj, dict) and "$ref" in obj and obj["$ref"].startswith("#/components/responses/"):
        obj = spec["components"]["responses"][obj["$ref"].split("/")[-1]]
    return obj


for line in sys.stdin:
    if not line.strip():
        continue
    words = line.split()
    path, want = words[0], int(words[1])
    headers = {}
    for w in words[2:]:
        if w.startswith("bearer="):
            headers["Authorization"] = "Bearer " + w[len("bearer="):]
    try:
        req = urllib.request.Request(base + path, headers=headers)
        with urllib.request.urlopen(req, timeout=15, context=ctx) as r:
            st, hdr, body = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        st, hdr, body = e.code, e.headers, e.read()
    plain = path.split("?")[0]
    match = [p for p, rx in templates if rx.match(plain)]
    problems = []
    if st != want:
        problems.append("status %d, expected %d" % (st, want))
    if not match:
        if want != 404:
            problems.append("no documented path matches")
    else:
        seen.add(match[0])
        op = spec["paths"][match[0]]["get"]
        resp = op["responses"].get(str(st))
        if resp is None:
            problems.append("status %d is not documented for %s" % (st, match[0]))
        else:
            resp = resolve(resp)
            media = list(resp["content"])[0]
            ctype = hdr.get("Content-Type", "")
            if ctype.split(";")[0].strip() != media:
                problems.append("Content-Type %r, documented %r" % (ctype, media))
            elif media == "application/json":
                schema = resp["content"]["application/json"]["schema"]
                doc = json.loads(body)
                root = dict(schema)
                root["components"] = spec["components"]
                v = jsonschema.Draft202012Validator(root)
                for err in v.iter_errors(doc):
                    problems.append("body: %s at %s" % (err.message[:200], list(err.absolute_path)))
            for name, h in resp.get("headers", {}).items():
                got = hdr.get(name)
                if got is None:
                    problems.append("header %s missing" % name)
                elif "const" in h["schema"] and got != h["schema"]["const"]:
                    problems.append("header %s: %r, documented %r" % (name, got, h["schema"]["const"]))
    if problems:
        fails += 1
        print("FAIL: GET %s: %s" % (path, "; ".join(problems)))
    else:
        print("ok: GET %s -> %d as documented" % (path, st))
missing = [p for p in spec["paths"] if "get" in spec["paths"][p] and p not in seen]
if missing and not partial:
    fails += 1
    print("FAIL: documented paths not exercised: %s" % ", ".join(missing))
sys.exit(1 if fails else 0)
