#!/usr/bin/env bash
# Commit latency against network RTT, and the time to recover from faults,
# on the namespace test bed (tests/net/netbed.sh; needs root).
# 1. For each RTT in RTTS (default 0.1 2 5 20 50 ms) and each loss in LOSSES
#    (default 0 and 1 %, each way), REPEAT (default 3) times: a fresh test
#    bed of 4 validators and a client; the Beijing trace replayed at 20x for
#    REPLAY_S (default 10) s; p50 and p99 commit latency from certa load's
#    report, and the packets per second the cluster sent through the
#    shaper. The table shows the median run (by p99) and the p99 range.
# 2. The shaper's own limit: unshaped UDP between two namespaces, packets/s
#    received (from tests/net/it_netbed_shaper.sh's flood).
# 3. Fault recovery at 5 ms RTT, 1 % loss: runs it_netbed_failover,
#    it_netbed_partition, it_netbed_isolated and it_netbed_asymmetric and
#    takes the times they print.
# Writes OUT/netbed.tsv (every run), OUT/median.tsv, OUT/faults.txt and
# OUT/section.md; the plot of the medians to
# docs/img/netbed-latency.svg (bench/netbed_plot.py); and with --results
# inserts the section at the top of bench/RESULTS.md (newest first).
# usage: [SWEEP=0] bench/netbed.sh [--results] [OUT]   (CERTA_BIN, NETSHAPER_BIN)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
RESULTS=
[ "${1:-}" = --results ] && { RESULTS=1; shift; }
OUT=${1:-$(mktemp -d "${TMPDIR:-/tmp}/certa-netbed-bench.XXXXXX")}
mkdir -p "$OUT"
RTTS=${RTTS:-"0.1 2 5 20 50"}
LOSSES=${LOSSES:-"0 1"}
REPLAY_S=${REPLAY_S:-10}
REPEAT=${REPEAT:-3}
T0=$(date -u '+%Y-%m-%d %H:%M UTC')

# SWEEP=0 keeps the runs already in OUT/netbed.tsv (part 1 of an earlier
# run into the same OUT) and measures part 3 only.
[ "${SWEEP:-1}" = 0 ] && [ -s "$OUT/netbed.tsv" ] && LOSSES=
[ -z "$LOSSES" ] || echo -e "rtt_ms\tloss_pct\tp50_ms\tp99_ms\tevents\tpackets_per_s" >"$OUT/netbed.tsv"
for loss in $LOSSES; do
    for rtt in $RTTS; do
        for ((run = 0; run < REPEAT; run++)); do (
            . "$SRC/tests/net/netbed.sh"
            nb_init 4 >/dev/null
            nb_shape "$rtt" 0 "$loss"
            nb_genesis
            nb_start_all
            sent0=$(nb_stats | sed -n 's/.* sent=\([0-9]*\).*/\1/p')
            t0=$(date +%s.%N)
            nb_replay 20 "$REPLAY_S" "$NB_W/rep"
            t1=$(date +%s.%N)
            sent1=$(nb_stats | sed -n 's/.* sent=\([0-9]*\).*/\1/p')
            read -r events _ <"$NB_W/rep.check"
            pps=$(awk -v a="$sent0" -v b="$sent1" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%d", (b - a) / (t1 - t0) }')
            echo "RTT $rtt ms, loss $loss %: $NB_REPLAY_SUMMARY; $pps packets/s through the shaper" >&2
            echo -e "$rtt\t$loss\t$NB_P50_MS\t$NB_P99_MS\t$events\t$pps" >>"$OUT/netbed.tsv"
        ) || { echo "bench: RTT $rtt ms, loss $loss %: failed" >&2; exit 1; }; done
    done
done

: >"$OUT/faults.txt"
for t in shaper failover partition isolated asymmetric; do
    echo "running it_netbed_$t" >&2
    bash "$SRC/tests/net/it_netbed_$t.sh" >"$OUT/it_$t.log" 2>&1 ||
        { echo "bench: it_netbed_$t failed: $(tail -5 "$OUT/it_$t.log")" >&2; exit 1; }
    grep '^== ' "$OUT/it_$t.log" | sed "s/^== /$t: /" >>"$OUT/faults.txt"
done

python3 - "$OUT" "$T0" "$(nproc)" "$REPLAY_S" >"$OUT/section.md" <<'PY'
import re, sys
out, t0, cpus, replay_s = sys.argv[1:5]
runs = [l.rstrip("\n").split("\t") for l in open(out + "/netbed.tsv")][1:]
rows, groups = [], {}
for r in runs:
    groups.setdefault((r[0], r[1]), []).append(r)
for key, g in groups.items():
    g.sort(key=lambda r: float(r[3]))
    med = g[len(g) // 2]
    rows.append(med + ["%s-%s" % (g[0][3], g[-1][3]), str(len(g))])
with open(out + "/median.tsv", "w") as f:
    f.write("rtt_ms\tloss_pct\tp50_ms\tp99_ms\tevents\tpackets_per_s\n")
    for r in rows:
        f.write("\t".join(r[:6]) + "\n")
faults = open(out + "/faults.txt").read()
def grab(pat):
    m = re.search(pat, faults)
    return m.group(1) if m else "?"
print("## Network test bed: latency against RTT, fault recovery (bench/netbed.sh)\n")
print("**%s, this machine (%s vCPU), shared with other engineers' builds and tests "
      "while it ran;** `bash bench/netbed.sh --results`. 4 validators and a client, each in "
      "its own network namespace, links shaped by netshaper (userspace: this kernel has no "
      "sch_netem); the RTT is between any two of them (client included), loss is per "
      "direction. Beijing trace (`certa load gen --seed 7`) replayed at 20x for %s s, "
      "a fresh cluster per run; latency from the batch's scheduled time to its receipt; "
      "the median run by p99 of each row's runs.\n"
      % (t0, cpus, replay_s))
print("| RTT | loss | p50 | p99 | p99 range (runs) | events committed | packets/s through the shaper |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    print("| %s ms | %s %% | %s ms | **%s ms** | %s ms (%s) | %s | %s |"
          % (r[0], r[1], r[2], r[3], r[6], r[7], r[4], r[5]))
print("\n![p50 and p99 commit latency against RTT](../docs/img/netbed-latency.svg)\n")
print("The shaper's own limit, unshaped, one flow of 228-byte packets: %s "
      "(it_netbed_shaper); the cluster above needs at most %s packets/s.\n"
      % (grab(r'received \{[^}]*"pps": (\d+)') + " packets/s",
         max(int(r[5]) for r in rows)))
print("Time to recover from each fault at 5 ms RTT, 1 % loss, under a steady loader "
      "(one run each, times from each validator's own 100 ms timeline):\n")
print("| fault | recovery | measured as |")
print("|---|---|---|")
print("| primary isolated | %s s | cut -> first commit in a new view on validators 1-3 |"
      % grab(r"first commit in the new view ([0-9.]+)s"))
print("| primary isolated, healed | %s s | heal -> validator 0's first commit |"
      % grab(r"validator 0's first commit ([0-9.]+)s after the heal\n"))
print("| 2\\|2 partition, healed | %s s | heal -> every validator's first commit |"
      % grab(r"committed again ([0-9.]+)s after the heal"))
print("| backup isolated 60 s, healed | %s s | heal -> at the others' height (its first commit after the heal: %s s) |"
      % (grab(r"caught up to height \d+ ([0-9.]+)s"), grab(r"first commit after the heal at ([0-9.]+)s")))
print("| backup deaf to the primary, healed | %s s | heal -> at the others' height |"
      % grab(r"validator 1 caught up ([0-9.]+)s"))
print("| primary deaf to everyone | %s s | cut -> first commit on validators 1-3 |"
      % grab(r"first commit after ([0-9.]+)s\)"))
print("| primary deaf to everyone, healed | %s s | heal -> validator 0's first commit |"
      % grab(r"phase 2 healed: .* validator 0's first commit ([0-9.]+)s"))
PY
python3 "$SRC/bench/netbed_plot.py" "$OUT/median.tsv" "$SRC/docs/img/netbed-latency.svg"
cat "$OUT/section.md"
if [ -n "$RESULTS" ]; then
    python3 - "$SRC/bench/RESULTS.md" "$OUT/section.md" <<'PY'
import sys
path, sec = sys.argv[1], open(sys.argv[2]).read()
text = open(path).read()
i = text.index("\n## ") + 1
open(path, "w").write(text[:i] + sec + "\n" + text[i:])
PY
fi
