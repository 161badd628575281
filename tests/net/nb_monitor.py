#!/usr/bin/env python3
"""nb_monitor: polls one validator's metrics every INTERVAL_MS and appends
"unix_time_s view in_view_change height view_changes events_committed" to
OUT, one line per answer (nothing for a poll left unanswered). Run inside the
validator's own namespace, so that no link the test cuts lies between them:
the file is the validator's own timeline, read by netbed.sh's nb_snap and by
the recovery-time figures. Standard library only.

usage: nb_monitor.py HOST:PORT OUT INTERVAL_MS
"""
import sys
import time
import urllib.request

NAMES = ("certa_view", "certa_view_change_in_progress", "certa_height",
         "certa_view_changes_total", "certa_events_committed_total")


def main(ep, out, interval_ms):
    f = open(out, "a", buffering=1)
    while True:
        t0 = time.time()
        try:
            body = urllib.request.urlopen("http://%s/metrics" % ep, timeout=1).read().decode()
            val = {}
            for l in body.splitlines():
                p = l.split()
                if len(p) == 2 and p[0] in NAMES:
                    val[p[0]] = str(int(float(p[1])))
            if all(n in val for n in NAMES):
                f.write("%.3f %s\n" % (t0, " ".join(val[n] for n in NAMES)))
        except Exception:
            pass
        time.sleep(max(0.0, interval_ms / 1000 - (time.time() - t0)))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
