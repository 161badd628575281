#!/usr/bin/env python3
"""soak_report: bench/soak.sh's figures from the replay's report and the
per-minute samples of the validators. Standard library only.

Usage: soak_report.py REPORT.json SAMPLES.txt CLK_TCK [PLOT.svg]
SAMPLES.txt: "minute anon_kib_0 .. anon_kib_3 file_kib_0 .. file_kib_3
cpu_ticks" per line, minute 0 taken before the replay started.
"""
import json
import sys


def per_minute(series, interval_s, minutes):
    rows = []
    for m in range(minutes):
        pts = [p for p in series if m * 60 <= p["t_s"] < (m + 1) * 60]
        if not pts:
            rows.append((0.0, 0.0, 0.0))
            continue
        n = len(pts)
        off = sum(p["offered_eps"] for p in pts) / n
        com = sum(p["committed_eps"] for p in pts) / n
        # the worst interval's p99: an upper bound of the minute's p99
        p99 = max(p["p99_ms"] for p in pts if p["committed_eps"] > 0) if any(
            p["committed_eps"] > 0 for p in pts) else 0.0
        rows.append((off, com, p99))
    return rows


def plot(path, minutes, rows, rss_panels, cpu_pct):
    """rss_panels: [(title, [one list per validator])]."""
    w, h, ml, mr, mt = 760, 200, 70, 20, 24
    colours4 = ["#2ca02c", "#17becf", "#9467bd", "#8c564b"]
    panels = [
        ("events/s (offered dashed, committed solid)",
         [[r[0] for r in rows], [r[1] for r in rows]], ["#999", "#1f77b4"]),
        ("p99 latency per minute (ms, worst interval)", [[r[2] for r in rows]], ["#d62728"]),
    ] + [(t, lines, colours4) for t, lines in rss_panels]
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="11">' % (w, h * len(panels) + 30)]
    out.append('<rect width="100%" height="100%" fill="white"/>')
    for k, (title, lines, colours) in enumerate(panels):
        y0 = k * h
        ymax = max([max(l) if l else 0 for l in lines] + [1e-9]) * 1.15
        x = lambda i: ml + (w - ml - mr) * (i + 0.5) / max(minutes, 1)
        y = lambda v: y0 + h - 30 - (h - 30 - mt) * v / ymax
        out.append('<text x="%d" y="%d">%s</text>' % (ml, y0 + mt - 8, title))
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black"/>' %
                   (ml, y(0), w - mr, y(0)))
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black"/>' %
                   (ml, y(0), ml, y(ymax)))
        for f in (0.5, 1.0):
            out.append('<text x="%d" y="%.1f" text-anchor="end">%.4g</text>' %
                       (ml - 4, y(ymax * f / 1.15) + 4, ymax * f / 1.15))
        for j, l in enumerate(lines):
            pts = " ".join("%.1f,%.1f" % (x(i), y(v)) for i, v in enumerate(l))
            dash = ' stroke-dasharray="4 3"' if (k == 0 and j == 0) else ""
            out.append('<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"/>' %
                       (colours[j % len(colours)], dash, pts))
        for i in range(0, minutes, 5):
            out.append('<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>' %
                       (x(i), y(0) + 13, i + 1))
        out.append('<text x="%d" y="%d" text-anchor="middle">minute</text>' %
                   ((ml + w - mr) // 2, y0 + h - 4))
    out.append('<text x="%d" y="%d">validators\' CPU, %% of one core (all four), minute by '
               'minute: min %.0f, median %.0f, max %.0f</text>' %
               (ml, h * len(panels) + 20, min(cpu_pct), sorted(cpu_pct)[len(cpu_pct) // 2],
                max(cpu_pct)))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    rep = json.load(open(sys.argv[1]))
    hz = float(sys.argv[3])
    samples = [[int(x) for x in l.split()] for l in open(sys.argv[2]) if l.strip()]
    minutes = len(samples) - 1
    if minutes < 2:
        sys.exit("soak_report: fewer than 2 minutes sampled")
    rows = per_minute(rep["series"], rep["interval_s"], minutes)
    rss_mib = [[s[1 + v] / 1024.0 for s in samples[1:]] for v in range(8)]
    cpu_pct = [100.0 * (samples[m + 1][9] - samples[m][9]) / hz / 60.0 for m in range(minutes)]
    print("# minute  offered/s  committed/s  p99_ms  anon_mib(4 validators)  file_mib(4)  cpu_%",
          file=sys.stderr)
    for m in range(minutes):
        print("# %6d %10.0f %12.0f %7.1f  %s  %s  %5.0f" % (
            m + 1, rows[m][0], rows[m][1], rows[m][2],
            " ".join("%6.1f" % rss_mib[v][m] for v in range(4)),
            " ".join("%6.1f" % rss_mib[v][m] for v in range(4, 8)), cpu_pct[m]), file=sys.stderr)
    fails = sum(e["batches"] for e in rep["errors"].values())
    first5 = rows[1:6]  # minute 1 is the ramp
    last5 = rows[-5:]
    avg = lambda rs, i: sum(r[i] for r in rs) / len(rs)
    anon_sum = [sum(rss_mib[v][m] for v in range(4)) for m in range(minutes)]
    file_sum = [sum(rss_mib[v][m] for v in range(4, 8)) for m in range(minutes)]
    print("soak_minutes %d" % minutes)
    print("soak_offered_events_per_s %.0f" % rep["offered"]["events_per_s"])
    print("soak_committed_events_per_s %.0f" % rep["committed"]["events_per_s"])
    print("soak_failed_batches %d" % fails)
    print("soak_p99_ms %.1f" % rep["latency_ms"]["p99"])
    print("soak_p99_ms_minutes_2_6 %.1f" % max(r[2] for r in first5))
    print("soak_p99_ms_last_5min %.1f" % max(r[2] for r in last5))
    for name, ss in (("anon", anon_sum), ("file", file_sum)):
        print("soak_%s_rss_mib_first_minute %.1f" % (name, ss[0]))
        print("soak_%s_rss_mib_last_minute %.1f" % (name, ss[-1]))
        base = ss[1] if minutes > 2 else ss[0]
        print("soak_%s_rss_growth_pct %.1f (last minute over minute 2)" %
              (name, 100.0 * (ss[-1] - base) / max(base, 1e-9)))
    off_drift = 100.0 * (avg(last5, 0) - avg(first5, 0)) / max(avg(first5, 0), 1e-9)
    com_drift = 100.0 * (avg(last5, 1) - avg(first5, 1)) / max(avg(first5, 1), 1e-9)
    print("soak_eps_drift_pct %.1f (offered drift %.1f)" % (com_drift, off_drift))
    if len(sys.argv) > 4 and sys.argv[4]:
        plot(sys.argv[4], minutes, rows,
             [("validators' anonymous RSS (MiB, each)", rss_mib[:4]),
              ("validators' file-backed RSS (MiB, each: mapped block log and cold store)",
               rss_mib[4:])], cpu_pct)
        print("soak_plot %s" % sys.argv[4])


if __name__ == "__main__":
    main()
