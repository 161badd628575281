#!/usr/bin/env python3
"""check_asserts: assertion density and assertions without side effects.

The consensus core (engine/pbft*.c) and storage (engine/store*.c,
engine/wal.c) state what must be true with assertions: at least
DENSITY_MIN of them per function on average in each group (issue #13,
item 6). An assertion is a CERTA_ASSERT(...) or assert(...) in code (not in
a comment or string); functions are found as check_sizes.py finds them.

In every C file of engine/, net/ and include/certa/, an assertion must
have no side effect: its condition may not hold an assignment (=, +=, ...),
++ or --, nor call a function whose name says it changes something
(MUTATING below). CERTA_ASSERT is on in every build, but a condition that
changes state still hides the change where a reader does not look for it.
The daemon (node/) is not checked yet: node/exec.c advances its batch
iterator inside an assertion.

Usage: check_asserts.py [ROOT]; prints the density of each group, then
FILE:LINE: what for each violation; exits 1 when there is any.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_sizes import functions, strip_code  # noqa: E402

DENSITY_MIN = 2.0
GROUPS = {
    "consensus": re.compile(r"^engine/pbft[^/]*\.c$"),
    "storage": re.compile(r"^engine/(store[^/]*|wal)\.c$"),
}
SIDE_EFFECT_DIRS = ("engine/", "net/", "include/certa/")
ASSERT_RE = re.compile(r"\b(CERTA_ASSERT|assert)\s*\(")
ASSIGN_RE = re.compile(r"(\+\+|--|(?<![=!<>+\-*/%&|^])=(?!=)|[+\-*/%&|^]=|<<=|>>=)")
MUTATING = re.compile(
    r"\b(\w*_(set|add|put|push|pop|remove|insert|free|take|reserve|clear|"
    r"append|write|step|next|init|reset|alloc)|malloc|calloc|realloc|free|"
    r"memcpy|memmove|memset|strcpy|fread|fwrite|read|write)\s*\(")


def assertions(code):
    """(line, condition) of each assertion in comment-free code."""
    out = []
    for m in ASSERT_RE.finditer(code):
        if m.group(1) == "assert" and code[max(0, m.start() - 7):m.start()] == "static_":
            continue
        depth, j = 1, m.end()
        while j < len(code) and depth:
            depth += {"(": 1, ")": -1}.get(code[j], 0)
            j += 1
        line = code.count("\n", 0, m.start()) + 1
        out.append((line, code[m.end():j - 1]))
    return out


def is_define(code, line):
    return code.split("\n")[line - 1].lstrip().startswith("#")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    counts = {g: [0, 0] for g in GROUPS}  # assertions, functions
    bad = []
    for top in ("engine", "net", "node", "include"):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for nm in sorted(names):
                if not nm.endswith((".c", ".h")):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, nm), root)
                with open(os.path.join(dirpath, nm), encoding="utf-8",
                          errors="replace") as fh:
                    text = fh.read()
                code = strip_code(text)
                found = [a for a in assertions(code) if not is_define(code, a[0])]
                for g, pat in GROUPS.items():
                    if pat.match(rel):
                        counts[g][0] += len(found)
                        counts[g][1] += len(functions(text))
                if not rel.startswith(SIDE_EFFECT_DIRS):
                    continue
                for line, cond in found:
                    if ASSIGN_RE.search(cond) or MUTATING.search(cond):
                        bad.append(f"{rel}:{line}: assertion with a side effect: "
                                   f"{' '.join(cond.split())}")
    for g, (na, nf) in counts.items():
        density = na / nf if nf else 0.0
        print(f"{g}: {na} assertions in {nf} functions, {density:.2f} per function")
        if nf == 0:
            bad.append(f"{g}: no function found")
        elif density < DENSITY_MIN:
            bad.append(f"{g}: {density:.2f} assertions per function, under "
                       f"{DENSITY_MIN:.1f}")
    for line in bad:
        print(line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
