#!/usr/bin/env python3
"""check_layers: the layers of certa point one way, checked on #include lines.

    tools/ -> node/ -> net/ -> engine/ -> include/certa/
    tools/ -> sim/ -> engine/ -> include/certa/   (sim/ beside node/)
    tools/ -> load/ -> net/ -> engine/ -> include/certa/   (load/ beside node/)

A file may include headers of its own layer and of the layers below it,
never above. Besides:
- engine/ includes neither <zmq.h> nor <microhttpd.h> (the network is net's);
- the consensus core (engine/pbft*.c, engine/pbft_internal.h,
  engine/pbft_msg.h) reaches only its
  codec, crypto, the block record (certa/block.h), byte order and the error
  and basic types: a fixed set of headers (its
  calls are checked by it_pbft_pure.sh: no clock, file, socket, thread or
  randomness);
- the core's message codec (pbft_msg.h) is private to the core: nothing
  else includes it (the block record is certa/block.h's; the type codes
  and a host's peek at a PRE-PREPARE are certa/pbft.h's) but the
  simulator, whose Byzantine replicas forge and whose trace names the
  core's messages;
- public headers (include/certa/) include neither jansson nor ZeroMQ;
- the simulator (sim/) sits beside node/: it includes engine/ and
  include/ headers only, and node/ and net/ include none of it;
- the load model (load/) sits beside node/ too: it includes net/, engine/
  and include/ headers only, and only tools/ includes it;
- no layer, tools/ included, includes a header of tests/ or bench/: the
  shipped binary runs no code of theirs.

A quoted include is resolved as the compiler would: the including file's
own directory first, then include/, engine/, net/, node/, tools/, the
simulator (sim/) and the load model (load/). An include that resolves
nowhere is reported too. Usage: check_layers.py [--allow FILE:HEADER]... [ROOT]; prints one line per violation as
FILE:LINE: what, and exits 1 when there is any, 0 when the tree is clean.
"""
import os
import re
import sys

LAYERS = {"include": 0, "engine": 1, "net": 2, "node": 3, "sim": 3, "load": 3,
          "tools": 4}
SEARCH = ["include", "engine", "net", "node", "tools", "sim", "load"]

CORE_FILES = {"engine/pbft.c", "engine/pbft_pool.c", "engine/pbft_view.c",
              "engine/pbft_xfer.c", "engine/pbft_internal.h", "engine/pbft_mut.h",
              "engine/pbft_msg.c", "engine/pbft_msg.h"}
CORE_QUOTED = {"certa/pbft.h", "pbft_msg.h", "pbft_internal.h", "pbft_mut.h", "certa/crypto.h",
               "certa/certa.h", "certa/block.h",
               "certa/error.h", "certa/codec.h", "certa/wire.h"}
CORE_SYSTEM = {"stddef.h", "stdint.h", "stdbool.h", "stdlib.h", "string.h",
               "limits.h", "assert.h"}
ENGINE_SYSTEM_FORBIDDEN = {"zmq.h", "microhttpd.h"}
PUBLIC_SYSTEM_FORBIDDEN = {"jansson.h", "zmq.h", "microhttpd.h"}

# Known violations, each to be removed by the change that fixes it; the
# check fails when an entry no longer matches (so the list only shrinks).
# None now: the daemon peeks at PRE-PREPAREs through certa/pbft.h
# (certa_pbft_peek_preprepare), not the core's codec. A test may add
# entries with --allow FILE:HEADER (it_layers.sh proves a stale one fails).
ALLOWED = set()

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def layer_of(rel):
    top = rel.split("/", 1)[0]
    if rel.startswith("include/certa/"):
        return "include"
    if top in ("tests", "bench"):
        return top
    return top if top in LAYERS else None


def resolve(root, rel, name):
    """The header's path relative to root, or None."""
    cand = os.path.normpath(os.path.join(os.path.dirname(rel), name))
    if os.path.isfile(os.path.join(root, cand)):
        return cand
    for d in SEARCH:
        cand = os.path.normpath(os.path.join(d, name))
        if os.path.isfile(os.path.join(root, cand)):
            return cand
    return None


def check_file(root, rel, out):
    me = layer_of(rel)
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        text = f.read()
    lines = text.split("\n")
    for no, line in enumerate(lines, 1):
        m = INCLUDE.match(line)
        if not m:
            continue
        kind, name = m.group(1), m.group(2)
        where = "%s:%d" % (rel, no)
        if kind == "<":
            if rel in CORE_FILES and name not in CORE_SYSTEM:
                out.append((where, rel, name, "the consensus core includes <%s> "
                            "(only %s)" % (name, ", ".join(sorted(CORE_SYSTEM)))))
            elif me == "engine" and name in ENGINE_SYSTEM_FORBIDDEN:
                out.append((where, rel, name, "engine includes <%s> (the network "
                            "belongs to net/)" % name))
            elif me == "include" and name in PUBLIC_SYSTEM_FORBIDDEN:
                out.append((where, rel, name, "public header includes <%s>" % name))
            continue
        target = resolve(root, rel, name)
        if target is None:
            out.append((where, rel, name, 'includes "%s", found in no layer' % name))
            continue
        tl = layer_of(target)
        if tl is None:
            out.append((where, rel, name, 'includes "%s" (%s), outside every layer' %
                        (name, target)))
        elif target == "engine/pbft_msg.h" and rel not in CORE_FILES and me != "sim":
            out.append((where, rel, name, 'includes the consensus core\'s message '
                        'codec "%s": private to engine/pbft*.c (block records: '
                        'certa/block.h)' % name))
        elif rel in CORE_FILES and name not in CORE_QUOTED:
            out.append((where, rel, name, 'the consensus core includes "%s" (%s): it '
                        "reaches only its codec and crypto" % (name, target)))
        elif tl in ("tests", "bench"):
            out.append((where, rel, name, '%s includes "%s" (%s) from %s/' %
                        (me, name, target, tl)))
        elif me == "sim" and tl not in ("sim", "engine", "include"):
            out.append((where, rel, name, 'sim includes %s header "%s" (%s): the '
                        "simulator sees engine/ and include/ only" % (tl, name, target)))
        elif tl == "sim" and me not in ("sim", "tools"):
            out.append((where, rel, name, '%s includes sim header "%s" (%s): only '
                        "tools/ runs the simulator" % (me, name, target)))
        elif me == "load" and tl not in ("load", "net", "engine", "include"):
            out.append((where, rel, name, 'load includes %s header "%s" (%s): the '
                        "load model sees net/, engine/ and include/ only" %
                        (tl, name, target)))
        elif tl == "load" and me not in ("load", "tools"):
            out.append((where, rel, name, '%s includes load header "%s" (%s): only '
                        "tools/ runs the load model" % (me, name, target)))
        elif LAYERS[tl] > LAYERS[me]:
            who = "public header" if me == "include" else me
            out.append((where, rel, name, '%s includes %s header "%s" (%s): layers '
                        "point tools -> node -> net -> engine -> include" %
                        (who, tl, name, target)))


def main():
    args = sys.argv[1:]
    allowed = set(ALLOWED)
    while len(args) >= 2 and args[0] == "--allow":
        rel, _, name = args[1].partition(":")
        allowed.add((rel, name))
        args = args[2:]
    root = args[0] if args else "."
    files = []
    for top in ("include/certa", "engine", "net", "node", "sim", "load", "tools"):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for n in sorted(names):
                if n.endswith((".c", ".h")):
                    files.append(os.path.relpath(os.path.join(dirpath, n), root))
    found = []
    for rel in sorted(files):
        check_file(root, rel, found)
    bad = 0
    used = set()
    for where, rel, name, what in found:
        if (rel, name) in allowed:
            used.add((rel, name))
            print("%s: %s (allowed for now)" % (where, what))
            continue
        print("%s: %s" % (where, what))
        bad += 1
    for rel, name in sorted(allowed - used):
        print("%s: allow-list entry for %s matches nothing: remove it" % (rel, name))
        bad += 1
    print("check_layers: %d files, %d violations, %d allowed" % (len(files), bad, len(used)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
