#!/usr/bin/env python3
"""Plots bench_state_years' per-day lines as an SVG: the process's anonymous
RSS (the hot state) and file RSS (LMDB map pages touched, reclaimable by the
kernel) against events processed. Standard library only.

Usage: plot_years.py OUTPUT.txt PLOT.svg
"""
import sys


def main():
    rows = []
    with open(sys.argv[1]) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 9 and parts[0].isdigit():
                rows.append([float(x) for x in parts])
    if not rows:
        sys.exit("plot_years: no per-day lines in " + sys.argv[1])
    w, h, ml, mb, mt, mr = 720, 400, 70, 50, 30, 20
    xmax = max(r[1] for r in rows) / 1e6
    ymax = max(max(r[2], r[3]) for r in rows) / 1024.0
    ymax = max(ymax * 1.1, 1.0)

    def x(v):
        return ml + (w - ml - mr) * v / xmax

    def y(v):
        return h - mb - (h - mb - mt) * v / ymax

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="12">' % (w, h),
           '<rect width="100%" height="100%" fill="white"/>',
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (ml, h - mb, w - mr, h - mb),
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (ml, mt, ml, h - mb)]
    for i in range(6):
        xv, yv = xmax * i / 5, ymax * i / 5
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%.0f</text>' % (x(xv), h - mb + 16, xv))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%.0f</text>' % (ml - 6, y(yv) + 4, yv))
    out.append('<text x="%d" y="%d" text-anchor="middle">events processed (millions)</text>'
               % ((w + ml) // 2, h - 10))
    out.append('<text x="16" y="%d" transform="rotate(-90 16 %d)" text-anchor="middle">RSS (MiB)</text>'
               % ((h - mb + mt) // 2, (h - mb + mt) // 2))
    for col, colour, name in ((2, "#c0392b", "anonymous (hot state)"),
                              (3, "#2e86c1", "file (LMDB pages mapped)")):
        pts = " ".join("%.1f,%.1f" % (x(r[1] / 1e6), y(r[col] / 1024.0)) for r in rows)
        out.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (colour, pts))
        yy = mt + 14 * (1 if col == 2 else 2)
        out.append('<text x="%d" y="%d" fill="%s">%s</text>' % (ml + 10, yy, colour, name))
    out.append('</svg>')
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
