#!/usr/bin/env bash
# The test bed's links do what they are told (tests/net/netbed.sh,
# netshaper): measured with UDP and TCP between two namespaces, no certa.
# 1. RTT 20 ms: the median round trip is 20-25 ms;
# 2. 10 % loss each way: 65-90 % of 1,000 pings come back (0.81 expected);
# 3. jitter +-5 ms around 10 ms one way: replies come back out of order and
#    the RTT spread (p99 - p50) is at least 3 ms;
# 4. 8 Mbit/s: 1 MB over TCP takes 0.8-1.4 s (6-10 Mbit/s);
# 5. a directed cut 0 -> 1: nothing from 0 reaches 1 while 1 -> 0 delivers
#    all; healed, 0 -> 1 delivers again;
# 6. unshaped, the shaper's own packet rate (printed, at least 5,000/s),
#    and the shaper's memory bound: a 1 kbit/s link with a 4 KiB queue drops
#    the excess (overflow counted) instead of holding it.
# About 25 s.
set -euo pipefail
. "$(dirname "$0")/netbed.sh"
PROBE=$NB_SRC/tests/net/nb_probe.py
nb_init 2
A=${NB_VNS[0]}
B=${NB_VNS[1]}
AB=${NB_ADDR[1]} # B's address, as A sees it
in_ns() { local ns=$1; shift; ip netns exec "$ns" python3 "$PROBE" "$@"; }
# serve NS ARGS...: a probe server in the background (pid in SRV), returned
# once it listens
serve() {
    rm -f "$NB_W/ready" "$NB_W/stop"
    NB_PROBE_READY=$NB_W/ready NB_PROBE_STOP=$NB_W/stop in_ns "$@" &
    SRV=$!
    local end=$((SECONDS + 20))
    until [ -e "$NB_W/ready" ]; do
        [ "$SECONDS" -lt "$end" ] || nb_fail "probe server $* did not start"
        sleep 0.05
    done
}
# field JSON KEY: a number of a probe's one-line JSON (sed and awk, not
# python: an interpreter's start costs a second on a busy machine)
field() { sed -n "s/.*\"$2\": \([0-9.]*\).*/\1/p" <<<"$1"; }
check() { # EXPR MESSAGE: an awk condition over numbers
    awk "BEGIN { exit !($1) }" || nb_fail "$2"
}

PORT=9000
ping_ab() { # COUNT GAP_MS -> JSON (an echo server on a fresh port each time)
    PORT=$((PORT + 1))
    serve "$B" echo "$PORT" $(($1 * $2 / 1000 + 6)) >/dev/null
    in_ns "$A" ping "$AB" "$PORT" "$1" "$2"
}

nb_shape 20
r=$(ping_ab 100 10)
nb_note "RTT 20 ms: $r"
check "$(field "$r" p50_ms) >= 20 && $(field "$r" p50_ms) <= 25 && $(field "$r" received) == 100" "RTT 20 ms measured $r"

nb_shape 0.1 0 10
r=$(ping_ab 1000 2)
nb_note "10 % loss each way: $r"
check "$(field "$r" received) >= 650 && $(field "$r" received) <= 900" "10 % loss: $r"

nb_shape 20 5
r=$(ping_ab 300 2)
nb_note "RTT 20 ms, jitter 5 ms: $r"
check "$(field "$r" out_of_order) > 0 && $(field "$r" p99_ms) - $(field "$r" p50_ms) >= 3" "jitter: $r"

nb_shape 0.1 0 0 8
serve "$B" tcpsink 8999 >"$NB_W/tcp.json"
in_ns "$A" tcpsend "$AB" 8999 1000000
wait "$SRV"
r=$(cat "$NB_W/tcp.json")
nb_note "8 Mbit/s, 1 MB over TCP: $r"
check "$(field "$r" seconds) >= 0.8 && $(field "$r" seconds) <= 1.4 && $(field "$r" bytes) == 1000000" "8 Mbit/s: $r"

nb_shape 0.1
one_way() { # FROM_NS TO_NS TO_ADDR -> "received sent" (datagrams)
    PORT=$((PORT + 1))
    serve "$2" sink "$PORT" 30 >"$NB_W/sink.json"
    local sent
    sent=$(in_ns "$1" blast "$3" "$PORT" 0.5 400)
    touch "$NB_W/stop"
    wait "$SRV"
    echo "$(field "$(cat "$NB_W/sink.json")" received) $sent"
}
nb_cut 0 1
read -r ab ab_sent <<<"$(one_way "$A" "$B" "$AB")"
read -r ba ba_sent <<<"$(one_way "$B" "$A" "${NB_ADDR[0]}")"
nb_note "cut 0 -> 1: 0 -> 1 delivered $ab of $ab_sent, 1 -> 0 delivered $ba of $ba_sent"
[ "$ab" = 0 ] && [ "$ab_sent" -gt 100 ] && [ "$ba" = "$ba_sent" ] ||
    nb_fail "directed cut: 0 -> 1 $ab of $ab_sent, 1 -> 0 $ba of $ba_sent (want none and all)"
nb_heal 0 1
read -r ab ab_sent <<<"$(one_way "$A" "$B" "$AB")"
[ "$ab" = "$ab_sent" ] || nb_fail "healed: 0 -> 1 delivered $ab of $ab_sent"
nb_isolate 1
read -r ab ab_sent <<<"$(one_way "$A" "$B" "$AB")"
[ "$ab" = 0 ] || nb_fail "isolated node 1 received $ab datagrams of $ab_sent"
nb_healall

nb_ctl set '*' '*'
serve "$B" sink 8998 30 >"$NB_W/sink.json"
sent=$(in_ns "$A" blast "$AB" 8998 3)
touch "$NB_W/stop"
wait "$SRV"
r=$(cat "$NB_W/sink.json")
nb_note "unshaped flood, 228-byte IP packets: sent $sent in 3 s, received $r"
check "$(field "$r" pps) >= 5000" "the shaper forwards fewer than 5,000 packets/s: $r"

nb_ctl set 0 1 rate_kbit=1 queue_kb=4
before=$(nb_stats)
in_ns "$A" blast "$AB" 9004 1 >/dev/null
after=$(nb_stats)
nb_note "1 kbit/s, 4 KiB queue: $after"
python3 - "$before" "$after" <<'PY' || nb_fail "the bounded queue did not drop: $after"
import sys
def f(s, k): return int(s.split(k + "=")[1].split()[0])
b, a = sys.argv[1], sys.argv[2]
assert f(a, "overflow") - f(b, "overflow") > 100
assert f(a, "in_flight") <= 4096 // 228 + 1, "more in flight than the queue holds"
PY
nb_note "netshaper: $(nb_stats)"
echo "it_netbed_shaper: 1 passed, 0 failed"
