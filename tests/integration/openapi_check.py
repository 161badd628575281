#!/usr/bin/env python3
"""Checks a running certa gateway against docs/openapi.yaml: each request
given on stdin ("PATH EXPECTED_STATUS" per line) is sent; its status must be
the expected one and documented for that path, its body must validate
against the documented schema, its documented headers must be present with
their documented constant values; every path of the document must be among
the requests, and every request must match a documented path (or expect 404).
usage: openapi_check.py OPENAPI_YAML BASE_URL [CA_FILE] < requests"""
import json
import re
import ssl
import sys
import urllib.error
import urllib.request

import jsonschema
import yaml

spec = yaml.safe_load(open(sys.argv[1]))
base = sys.argv[2]
ctx = None
if len(sys.argv) > 3:
    ctx = ssl.create_default_context(cafile=sys.argv[3])
    ctx.check_hostname = False
templates = []
for p in spec["paths"]:
    if "get" not in spec["paths"][p]:
        continue  # POST /v1/batches is checked by it_gateway's own requests
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
    path, want = line.split()
    want = int(want)
    try:
        with urllib.request.urlopen(base + path, timeout=15, context=ctx) as r:
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
if missing:
    fails += 1
    print("FAIL: documented paths not exercised: %s" % ", ".join(missing))
sys.exit(1 if fails else 0)
