#!/usr/bin/env python3
"""netbed_plot: the SVG plot of bench/netbed.sh's table, p50 and p99 commit
latency against RTT, one line per loss rate and percentile, both axes
logarithmic. Standard library only; the SVG has no scripts and no external
resources.

usage: netbed_plot.py NETBED.TSV OUT.SVG
"""
import math
import sys

W, H, L, R, T, B = 640, 400, 70, 170, 30, 50
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#ff7f0e"]


def main(tsv, out):
    rows = [l.rstrip("\n").split("\t") for l in open(tsv)][1:]
    assert rows, "empty table"
    xs = sorted({float(r[0]) for r in rows})
    ys = [float(v) for r in rows for v in (r[2], r[3])]
    x0, x1 = math.log10(min(xs)), math.log10(max(xs))
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1
    px = lambda x: L + (math.log10(x) - x0) / (x1 - x0) * (W - L - R)
    py = lambda y: T + (1 - (math.log10(y) - y0) / (y1 - y0)) * (H - T - B)
    s = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'font-family="sans-serif" font-size="12">' % (W, H),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="18" font-size="14">Commit latency against RTT (4 validators, '
         'Beijing trace at 20x)</text>' % L]
    for e in range(int(y0), int(y1) + 1):
        y = py(10 ** e)
        s.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (L, W - R, y, y))
        s.append('<text x="%d" y="%.1f" text-anchor="end">%g ms</text>' % (L - 5, y + 4, 10 ** e))
    for x in xs:
        s.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#eee"/>' % (px(x), px(x), T, H - B))
        s.append('<text x="%.1f" y="%d" text-anchor="middle">%g</text>' % (px(x), H - B + 16, x))
    s.append('<text x="%d" y="%d" text-anchor="middle">RTT between any two nodes (ms, log scale)</text>'
             % ((L + W - R) // 2, H - 12))
    s.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>'
             % (L, T, W - L - R, H - T - B))
    series = []
    for loss in sorted({r[1] for r in rows}, key=float):
        for col, name in ((2, "p50"), (3, "p99")):
            pts = sorted((float(r[0]), float(r[col])) for r in rows if r[1] == loss)
            series.append(("%s, loss %s %%" % (name, loss), pts, name == "p99"))
    for i, (label, pts, dashed) in enumerate(series):
        c = COLOURS[i % len(COLOURS)]
        d = " ".join("%.1f,%.1f" % (px(x), py(y)) for x, y in pts)
        s.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>'
                 % (d, c, ' stroke-dasharray="6,3"' if dashed else ""))
        for x, y in pts:
            s.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (px(x), py(y), c))
        ly = T + 10 + 18 * i
        s.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"%s/>'
                 % (W - R + 10, W - R + 35, ly, ly, c, ' stroke-dasharray="6,3"' if dashed else ""))
        s.append('<text x="%d" y="%d">%s</text>' % (W - R + 40, ly + 4, label))
    s.append("</svg>")
    open(out, "w").write("\n".join(s) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
