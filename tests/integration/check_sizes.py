#!/usr/bin/env python3
"""check_sizes: no file over 1,500 lines, no function over 150 lines.

Short files and functions are ones a reader can see whole; the limits are
those of issue #13 (item 1). File sizes are checked on every C, header,
Python and shell file of engine/, net/, node/, sim/, load/, tools/,
include/, tests/ and bench/; function sizes on the C of the shipped code:
engine/, net/, node/, sim/, load/, tools/ and include/certa/. A function is
found roughly, without a C parser: a line at column 0 that is not a
comment, preprocessor line or type definition and holds a '(' starts a
definition when, by the end of its signature, a '{' opens a body; the
body ends where the brace depth (counted outside comments, strings and
character constants) falls back to zero. Its length is counted from the
signature's first line to the closing brace, both included.

Usage: check_sizes.py [ROOT]; prints FILE:LINE: what, one line per
violation, and exits 1 when there is any, 0 when the tree is clean.
"""
import os
import re
import sys

FILE_LINES_MAX = 1500
FUNCTION_LINES_MAX = 150
DIRS = ["engine", "net", "node", "sim", "load", "tools", "include", "tests", "bench"]
FUNCTION_DIRS = ("engine/", "net/", "node/", "sim/", "load/", "tools/", "include/certa/")
EXTS = (".c", ".h", ".py", ".sh")

def strip_code(text):
    """The text with comments, strings and character constants blanked
    (newlines kept), so that braces inside them do not count."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(text):
    """(name, first line, last line) of each function definition."""
    lines = strip_code(text).split("\n")
    found = []
    i = 0
    while i < len(lines):
        s = lines[i]
        if (s and not s[0].isspace() and s[0] not in "#{}"
                and not re.match(r"(typedef|struct|enum|union)\b", s)
                and "(" in s and "=" not in s.split("(")[0]):
            m = re.search(r"(\w+)\s*$", s.split("(")[0])
            # the signature runs until a '{' (a definition) or a ';' (a
            # declaration)
            j = i
            while j < len(lines) and "{" not in lines[j] and ";" not in lines[j]:
                j += 1
            if j < len(lines) and "{" in lines[j] and m:
                depth = 0
                k = j
                while k < len(lines):
                    depth += lines[k].count("{") - lines[k].count("}")
                    if depth <= 0:
                        break
                    k += 1
                found.append((m.group(1), i + 1, k + 1))
                i = k + 1
                continue
            i = j + 1
            continue
        i += 1
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    bad = []
    nfiles = nfuncs = 0
    for d in DIRS:
        top = os.path.join(root, d)
        for dirpath, _, names in os.walk(top):
            for nm in sorted(names):
                if not nm.endswith(EXTS):
                    continue
                path = os.path.join(dirpath, nm)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
                nfiles += 1
                nlines = text.count("\n")
                if nlines > FILE_LINES_MAX:
                    bad.append(f"{rel}: {nlines} lines, over {FILE_LINES_MAX}")
                if not rel.startswith(FUNCTION_DIRS) or not nm.endswith((".c", ".h")):
                    continue
                for name, first, last in functions(text):
                    nfuncs += 1
                    length = last - first + 1
                    if length <= FUNCTION_LINES_MAX:
                        continue
                    bad.append(f"{rel}:{first}: function {name} is {length} lines, "
                               f"over {FUNCTION_LINES_MAX}")
    for line in bad:
        print(line)
    print(f"check_sizes: {nfiles} files, {nfuncs} functions, {len(bad)} violations")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
