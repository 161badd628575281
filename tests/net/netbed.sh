#!/usr/bin/env bash
# netbed: N certa validators and a client, each in its own network namespace
# with its own address on 10.77.0.0/24, joined only by the links this script
# makes (never routed anywhere else), each directed link shaped: delay,
# jitter, loss, bandwidth, cut. Run it (`netbed.sh --help`) to hold a test bed
# open and steer it from another shell, or source it (the tests in tests/net/
# and bench/netbed.sh do) for the nb_* functions.
#
# Links: a userspace switch, netshaper (tests/net/netshaper.c), holding one
# TUN device in every namespace, whether or not the kernel has sch_netem
# (tc netem; the machines this runs on may lack it): one path, the tested
# one. nb_init says whether netem is there. Node K (validator K, or the client as node
# N) is 10.77.0.(10+K); the client is 10.77.0.100. Everything made here
# (namespaces, devices, processes, work directory) is removed by nb_cleanup,
# run from the EXIT trap, also on failure.
set -u
CERTA=${CERTA_BIN:-certa}
NETSHAPER=${NETSHAPER_BIN:-netshaper}
NB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NB_PIDS=()
NB_NS=()
NB_SHAPER_PID=
NB_N=4
NB_BASE_PORT=7000 # per namespace: each node has its own address

nb_note() { echo "== [${SECONDS}s] $*"; }
nb_fail() {
    echo "FAIL: $*" >&2
    local k
    for ((k = 0; k < NB_N; k++)); do
        [ -f "${NB_W:-/nonexistent}/c/node$k/node.log" ] || continue
        echo "--- last lines of node$k/node.log" >&2
        tail -n 12 "$NB_W/c/node$k/node.log" >&2
    done
    exit 1
}
nb_skip() { echo "SKIP: $*"; exit 0; }

nb_cleanup() {
    set +e
    local p ns
    for p in "${NB_PIDS[@]}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
    for p in "${NB_PIDS[@]}"; do
        [ -n "$p" ] || continue
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    for ns in "${NB_NS[@]}"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    done
    if [ -n "$NB_SHAPER_PID" ]; then
        kill -TERM "$NB_SHAPER_PID" 2>/dev/null
        wait "$NB_SHAPER_PID" 2>/dev/null
    fi
    for ns in "${NB_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    [ -n "${KEEP:-}" ] || rm -rf "${NB_W:-/nonexistent}"
}

# nb_links_kind: "netem" when the kernel has sch_netem, else "userspace".
# The links are netshaper's either way (one path, the one tested here);
# this says what the machine would allow.
nb_links_kind() {
    local ns=nbprobe$$ kind=userspace
    ip netns add "$ns" 2>/dev/null || { echo userspace; return; }
    ip -n "$ns" link set lo up
    tc -n "$ns" qdisc add dev lo root netem delay 1ms 2>/dev/null && kind=netem
    ip netns del "$ns"
    echo "$kind"
}

# nb_sweep: namespaces left by a test bed whose script was killed outright
# (SIGKILL skips the EXIT trap): those named nbPID-* whose PID is gone,
# with whatever still runs in them.
nb_sweep() {
    local ns pid p
    for ns in $(ip netns list 2>/dev/null | grep -oE '^nb[0-9]+-(v[0-9]+|cl)'); do
        pid=${ns#nb}
        pid=${pid%%-*}
        kill -0 "$pid" 2>/dev/null && continue
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
}

# nb_init N: checks, work directory, namespaces, the shaper and addresses.
nb_init() {
    NB_N=$1
    [ "$(id -u)" = 0 ] || nb_skip "needs root to create network namespaces"
    command -v ip >/dev/null || nb_skip "no 'ip' command (iproute2)"
    command -v python3 >/dev/null || nb_skip "no python3"
    [ -x "$(command -v "$NETSHAPER")" ] || nb_fail "netshaper not found (NETSHAPER_BIN)"
    [ -c /dev/net/tun ] || nb_skip "no /dev/net/tun"
    nb_sweep
    NB_W=$(mktemp -d "${TMPDIR:-/tmp}/certa-nb.XXXXXX")
    trap nb_cleanup EXIT
    local k ns nodes=()
    NB_ADDR=()
    NB_VNS=()
    for ((k = 0; k < NB_N; k++)); do
        NB_ADDR[k]=10.77.0.$((10 + k))
        NB_VNS[k]=nb$$-v$k
    done
    NB_CLNS=nb$$-cl
    NB_CLADDR=10.77.0.100
    for ns in "${NB_VNS[@]}" "$NB_CLNS"; do
        ip netns add "$ns" 2>"$NB_W/ns.err" || nb_skip "cannot create network namespaces: $(cat "$NB_W/ns.err")"
        NB_NS+=("$ns")
        ip -n "$ns" link set lo up
    done
    for ((k = 0; k < NB_N; k++)); do nodes+=(--node "${NB_VNS[k]}=${NB_ADDR[k]}"); done
    nodes+=(--node "$NB_CLNS=$NB_CLADDR")
    NB_CTL=$NB_W/ctl.sock
    "$NETSHAPER" run --ctl "$NB_CTL" --seed "${NB_SEED:-1}" "${nodes[@]}" 2>"$NB_W/shaper.log" &
    NB_SHAPER_PID=$!
    local end=$((SECONDS + 10))
    until [ -S "$NB_CTL" ]; do
        kill -0 "$NB_SHAPER_PID" 2>/dev/null || nb_fail "netshaper: $(cat "$NB_W/shaper.log")"
        [ "$SECONDS" -lt "$end" ] || nb_fail "netshaper did not start"
        sleep 0.05
    done
    for ((k = 0; k <= NB_N; k++)); do
        ns=${NB_VNS[k]:-$NB_CLNS}
        local a=${NB_ADDR[k]:-$NB_CLADDR}
        ip -n "$ns" addr add "$a/24" dev nb0
        ip -n "$ns" link set nb0 mtu 1500 up
    done
    nb_note "links: userspace shaper (netshaper) on TUN devices; the kernel's tc netem: $(
        [ "$(nb_links_kind)" = netem ] && echo available, not used || echo absent)"
}

# nb_ctl COMMAND...: one shaper command (see tests/net/netshaper.c).
nb_ctl() { "$NETSHAPER" ctl "$NB_CTL" "$@" >/dev/null || nb_fail "netshaper ctl $*"; }
nb_stats() { "$NETSHAPER" ctl "$NB_CTL" stats; }
# nb_shape RTT_MS [JITTER_MS [LOSS_PCT [RATE_MBIT]]]: every link; a
# one-way delay of RTT/2 each way (a rate of 0: unlimited).
nb_shape() {
    # shellcheck disable=SC2046
    nb_ctl set '*' '*' $(awk -v r="$1" -v j="${2:-0}" -v l="${3:-0}" -v m="${4:-0}" 'BEGIN {
        printf "delay_us=%d jitter_us=%d loss_pct=%g rate_kbit=%d", r * 500, j * 1000, l, m * 1000 }')
}
nb_isolate() { nb_ctl isolate "$1"; }
nb_healall() { nb_ctl healall; }
nb_cut() { nb_ctl cut "$1" "$2"; }   # packets from node $1 to node $2 dropped
nb_heal() { nb_ctl heal "$1" "$2"; }
# nb_partition "0 1" "2 3": no packet between the two groups (the client,
# node N, stays with the first group).
nb_partition() {
    local a b
    for a in $1 $NB_N; do for b in $2; do nb_cut "$a" "$b"; nb_cut "$b" "$a"; done; done
}

# nb_genesis: a chain of NB_N validators, each on its own address, plus a
# second integrator of role app ("gateway") for the tests' own batches.
nb_genesis() {
    NB_G=$NB_W/c/genesis.json
    NB_KEYS=$NB_W/c/integrators
    "$CERTA" genesis --validators "$NB_N" --dir "$NB_W/c" --base-port "$NB_BASE_PORT" \
        --host "${NB_ADDR[0]}" >/dev/null || nb_fail "certa genesis"
    local gw
    gw=$("$CERTA" keygen --out "$NB_KEYS/gateway.pem") || nb_fail "certa keygen"
    python3 - "$NB_W/c" "$gw" "${NB_ADDR[@]}" <<'PY' || nb_fail "editing the genesis"
import json, os, sys
d, gw, addrs = sys.argv[1], sys.argv[2], sys.argv[3:]
old = addrs[0]
g = json.load(open(os.path.join(d, "genesis.json")))
g["integrators"].append({"name": "gateway", "role": "app", "pub": gw})
for k, v in enumerate(g["validators"]):
    for f in ("peer_endpoint", "client_endpoint", "metrics_endpoint"):
        v[f] = v[f].replace("//%s:" % old, "//%s:" % addrs[k])
    p = os.path.join(d, "node%d" % k, "node.json")
    n = json.load(open(p))
    for f in ("peer_bind", "client_bind"):
        n[f] = n[f].replace("//%s:" % old, "//%s:" % addrs[k])
    n["metrics_host"] = addrs[k]
    json.dump(n, open(p, "w"), indent=2)
json.dump(g, open(os.path.join(d, "genesis.json"), "w"), indent=2)
PY
    "$CERTA" genesis check "$NB_G" >"$NB_W/check.out" 2>&1 || nb_fail "genesis check: $(cat "$NB_W/check.out")"
    # The client's commands run in its namespace.
    NB_CL=$NB_W/certa-cl
    printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$NB_CLNS" "$(command -v "$CERTA")" >"$NB_CL"
    chmod +x "$NB_CL"
}

# nb_start K: validator K in its namespace, and its monitor
# (tests/net/nb_monitor.py, every 100 ms, into $NB_W/mon-K).
nb_start() {
    ip netns exec "${NB_VNS[$1]}" "$CERTA" node --config "$NB_W/c/node$1/node.json" \
        2>>"$NB_W/c/node$1/node.log" &
    NB_PIDS[$1]=$!
    if [ -z "${NB_PIDS[$((10 + $1))]:-}" ]; then
        ip netns exec "${NB_VNS[$1]}" python3 "$NB_SRC/tests/net/nb_monitor.py" \
            "${NB_ADDR[$1]}:$((NB_BASE_PORT + 10 * $1 + 2))" "$NB_W/mon-$1" 100 &
        NB_PIDS[$((10 + $1))]=$!
    fi
}
nb_start_all() {
    local k
    for ((k = 0; k < NB_N; k++)); do nb_start "$k"; done
    local end=$((SECONDS + 90))
    until "$NB_CL" status --to all --genesis "$NB_G" --timeout-ms 2000 >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$end" ] || nb_fail "the validators did not all answer status within 90 s"
        sleep 0.3
    done
}

# nb_snap: per validator "view in_view_change height view_changes
# events_committed", its monitor's last reading; "- - - - -" when that is
# older than 2 s (the validator does not answer even in its own namespace).
nb_snap() {
    local k now line
    now=$(date +%s.%N)
    for ((k = 0; k < NB_N; k++)); do
        line=$(tail -n 1 "$NB_W/mon-$k" 2>/dev/null)
        awk -v now="$now" '{ if (NF == 6 && now - $1 < 2) { print $2, $3, $4, $5, $6; ok = 1 } }
                           END { if (!ok) print "- - - - -" }' <<<"$line"
    done
}
# nb_mark NAME: the time of an event (a cut, a heal) in $NB_W/marks, for
# nb_recovery.
nb_mark() { echo "$(date +%s.%N) $1" >>"$NB_W/marks"; }
# nb_col SNAP COL: column COL (1 view, 2 in view change, 3 height, 4 view
# changes, 5 events) of every validator, space separated.
nb_col() { cut -d' ' -f"$2" <<<"$1" | tr '\n' ' '; }

# nb_block_hash K H: the hash of block H as validator K serves it.
nb_block_hash() {
    "$NB_CL" query block "$2" --to "tcp://${NB_ADDR[$1]}:$((NB_BASE_PORT + 10 * $1 + 1))" \
        --genesis "$NB_G" --limit 1 --timeout-ms 5000 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["hash"])' 2>/dev/null || echo "-"
}

# nb_same_chain H: every validator serves the same block hash at heights 1,
# H/2 and H. Each header names its predecessor's hash (certa verify-chain
# checks those links in nb_stop_and_audit), so one hash at H means one
# chain below it.
nb_same_chain() {
    local h k want got
    for h in 1 $(($1 / 2)) "$1"; do
        [ "$h" -ge 1 ] || continue
        want=$(nb_block_hash 0 "$h")
        [ "$want" != - ] || nb_fail "validator 0 does not serve block $h"
        for ((k = 1; k < NB_N; k++)); do
            got=$(nb_block_hash "$k" "$h")
            [ "$got" = "$want" ] || nb_fail "block $h: validator 0 has $want, validator $k $got"
        done
    done
}

# nb_wait_equal MIN SECS: every validator at one height >= MIN within SECS;
# sets NB_HEIGHT.
nb_wait_equal() {
    local end=$((SECONDS + $2)) s h
    while :; do
        s=$(nb_snap)
        h=$(nb_col "$s" 3)
        if awk -v m="$1" '{ for (i = 1; i <= NF; i++) if ($i == "-" || $i != $1 || $i < m) exit 1 }' <<<"$h"; then
            NB_HEIGHT=${h%% *}
            return 0
        fi
        [ "$SECONDS" -lt "$end" ] || nb_fail "heights not equal (>= $1) after $2 s: $h"
        sleep 0.25
    done
}

# nb_heights K...: the heights of validators K... ("-": no answer).
nb_heights() {
    local s k out=
    s=$(nb_snap)
    for k in "$@"; do out+="$(sed -n "$((k + 1))p" <<<"$s" | cut -d' ' -f3) "; done
    echo "$out"
}
# nb_wait_rise MIN SECS K...: validators K... all reach height >= MIN
# within SECS; NB_HEIGHTS holds their last heights.
nb_wait_rise() {
    local min=$1 end=$((SECONDS + $2)) h
    shift 2
    while :; do
        h=$(nb_heights "$@")
        NB_HEIGHTS=$h
        awk -v m="$min" '{ for (i = 1; i <= NF; i++) if ($i == "-" || $i < m) exit 1 }' <<<"$h" && return 0
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}
# nb_recovery MARK WHAT K...: seconds from the event MARK (nb_mark) to
# the first monitor reading, on every validator K..., of WHAT: "commit" (a
# height above its height at the mark), "newview" (a height above it in a
# view above its view at the mark), or a height to reach; the slowest of
# them, "none" when one has not.
nb_recovery() {
    local mark=$1 what=$2
    shift 2
    python3 - "$NB_W" "$mark" "$what" "$@" <<'PY'
import sys
w, mark, what, ks = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
t_mark = [float(l.split()[0]) for l in open(w + "/marks") if l.split()[1] == mark][-1]
worst = 0.0
for k in ks:
    rows = [[float(x) for x in l.split()] for l in open("%s/mon-%s" % (w, k)) if len(l.split()) == 6]
    before = [r for r in rows if r[0] <= t_mark]
    v0, h0 = (before[-1][1], before[-1][3]) if before else (0, 0)
    def hit(r):
        if what == "commit": return r[3] > h0
        if what == "newview": return r[3] > h0 and r[1] > v0
        return r[3] >= float(what)
    after = [r[0] for r in rows if r[0] > t_mark and hit(r)]
    if not after:
        print("none"); sys.exit(0)
    worst = max(worst, after[0] - t_mark)
print("%.1f" % worst)
PY
}
# nb_max NUMBERS...: the largest of the numbers given ("-" ignored).
nb_max() { tr ' ' '\n' <<<"$*" | grep -E '^[0-9]+$' | sort -n | tail -1; }

# nb_stop_and_audit: SIGTERM to each validator (each must exit 0), then
# certa verify-chain on each block log.
nb_stop_and_audit() {
    local k
    for ((k = 0; k < NB_N; k++)); do kill -TERM "${NB_PIDS[k]}"; done
    for ((k = 0; k < NB_N; k++)); do
        wait "${NB_PIDS[k]}" || nb_fail "validator $k exited $? on SIGTERM"
        NB_PIDS[k]=
    done
    for ((k = 0; k < NB_N; k++)); do
        "$CERTA" verify-chain --data "$NB_W/c/node$k/data/blocks" --no-progress >"$NB_W/vc$k.out" 2>&1 ||
            nb_fail "verify-chain node$k: $(cat "$NB_W/vc$k.out")"
    done
    nb_note "every validator stopped cleanly; verify-chain: all $NB_N block logs audit clean"
}

# nb_loader CHUNKS SIZE: the client sends chunks of SIZE grants
# (tests/integration/cluster_grants.py), 5 events a batch, with `certa
# submit --to all` as integrator app, one chunk after another until CHUNKS
# or until $NB_W/stop exists (background; its pid in NB_PIDS[20]). Chunk i
# leaves $NB_W/load/r-i.{rc,sum,err,exit}.
nb_loader() {
    NB_LOADER_SIZE=$2
    python3 "$NB_SRC/tests/integration/cluster_grants.py" "$NB_W/load" "$1" "$2" >/dev/null
    (
        set +e
        seq=1
        for ((i = 0; i < $1; i++)); do
            [ -e "$NB_W/stop" ] && break
            "$NB_CL" submit --to all --genesis "$NB_G" --integrator app --key "$NB_KEYS/app.pem" \
                --seq "$seq" --batch 5 --window 4 --deadline-ms 120000 \
                --receipts "$NB_W/load/r-$i.rc" "$NB_W/load/g-$(printf %04d "$i").jsonl" \
                >"$NB_W/load/r-$i.sum" 2>"$NB_W/load/r-$i.err"
            echo $? >"$NB_W/load/r-$i.exit"
            seq=$((seq + $2 / 5))
            sleep "${NB_LOADER_PAUSE_S:-0.05}"
        done
    ) &
    NB_PIDS[20]=$!
}
# nb_loader_check [refusals]: stops the loader; every chunk it sent
# committed in full. With "refusals" (a fault left the cluster without a
# quorum for a while), a chunk may end not committed where every batch left
# out got an explicit answer (BUSY, view change), never silence (a client
# deadline or no final reply); such a chunk, sent again now with its
# sequence numbers, must commit in full.
nb_loader_check() {
    touch "$NB_W/stop"
    local end=$((SECONDS + 130)) f i n=0 again=0 rc
    while kill -0 "${NB_PIDS[20]}" 2>/dev/null; do
        [ "$SECONDS" -lt "$end" ] || nb_fail "the loader did not stop"
        sleep 0.2
    done
    wait "${NB_PIDS[20]}" || true
    NB_PIDS[20]=
    for f in "$NB_W"/load/r-*.exit; do
        i=${f##*/r-}
        i=${i%.exit}
        n=$((n + 1))
        rc=$(cat "$f")
        [ "$rc" = 0 ] && continue
        [ "$rc" = 1 ] && [ "${1:-}" = refusals ] ||
            nb_fail "chunk $i: submit exited $rc: $(cat "$NB_W/load/r-$i.sum" "$NB_W/load/r-$i.err")"
        if grep -E 'deadline of [0-9]+ ms passed|no final reply' "$NB_W/load/r-$i.err" >"$NB_W/silent"; then
            nb_fail "chunk $i: batches left without an answer: $(head -3 "$NB_W/silent")"
        fi
        "$NB_CL" submit --to all --genesis "$NB_G" --integrator app --key "$NB_KEYS/app.pem" \
            --seq $((1 + i * NB_LOADER_SIZE / 5)) --batch 5 --window 4 --deadline-ms 60000 \
            --receipts "$NB_W/load/again-$i.rc" "$NB_W/load/g-$(printf %04d "$i").jsonl" \
            >"$NB_W/load/again-$i.sum" 2>&1 || nb_fail "chunk $i sent again: $(cat "$NB_W/load/again-$i.sum")"
        [ "$(grep -c '"result":"ok"' "$NB_W/load/again-$i.rc")" = "$NB_LOADER_SIZE" ] ||
            nb_fail "chunk $i sent again: not every grant ok: $(head -3 "$NB_W/load/again-$i.rc")"
        again=$((again + 1))
    done
    NB_CHUNKS=$n
    NB_CHUNKS_AGAIN=$again
}

# nb_replay SPEED SECS PREFIX: the Beijing trace (certa load gen, seed 7,
# generated once per test bed) replayed open loop by the client into every
# validator at SPEED for SECS (drain 90 s); report PREFIX.json. Then checks:
# something committed, nothing refused, lost or failed, and every
# validator's chain holds exactly the report's committed events (60 s to
# finish executing). Prints "committed N events, p50 X ms, p99 Y ms" and
# sets NB_P50_MS, NB_P99_MS.
nb_replay() {
    if [ ! -f "$NB_W/peak.trace" ]; then
        "$CERTA" load gen --scenario beijing --hours 1 --out "$NB_W/peak.trace" --genesis "$NB_W/c" \
            --seed 7 --quiet >/dev/null || nb_fail "load gen"
    fi
    "$NB_CL" load replay --trace "$NB_W/peak.trace" --to genesis --genesis "$NB_W/c" --speed "$1" \
        --duration "$2" --drain 90 --report "$3" --quiet >"$3.out" 2>&1 ||
        nb_fail "replay: $(cat "$3.out")"
    local k ms=()
    for ((k = 0; k < NB_N; k++)); do ms+=("${NB_ADDR[k]}:$((NB_BASE_PORT + 10 * k + 2))"); done
    ip netns exec "$NB_CLNS" python3 - "$3.json" "${ms[@]}" >"$3.check" 2>&1 <<'PY' || nb_fail "replay $3: $(cat "$3.check")"
import json, sys, time, urllib.request
r = json.load(open(sys.argv[1]))
committed = r["committed"]["events"]
errs = r["errors"]
assert committed > 0, "nothing committed"
assert all(errs[k]["batches"] == 0 for k in errs), "errors: %s" % errs
def chain(ep):
    text = urllib.request.urlopen("http://%s/metrics" % ep, timeout=10).read().decode()
    v = [l for l in text.splitlines() if l.startswith("certa_events_committed_total ")]
    return int(float(v[0].split()[1]))
end = time.time() + 60
for ep in sys.argv[2:]:
    while True:
        n = chain(ep)
        assert n <= committed, "%s holds %d events, more than the report's %d" % (ep, n, committed)
        if n == committed or time.time() > end:
            break
        time.sleep(0.2)
    assert n == committed, "%s holds %d events, the report %d" % (ep, n, committed)
l = r["latency_ms"]
print("%d %.2f %.2f committed %d events (%.0f/s), p50 %.2f ms, p99 %.2f ms, max %.2f ms"
      % (committed, l["p50"], l["p99"], committed, r["committed"]["events_per_s"] if "events_per_s" in r["committed"] else 0,
         l["p50"], l["p99"], l["max"]))
PY
    read -r _ NB_P50_MS NB_P99_MS NB_REPLAY_SUMMARY <"$3.check"
}

nb_usage() {
    cat <<'EOF'
usage: netbed.sh up [--nodes N] [--rtt-ms R] [--jitter-ms J] [--loss-pct L]
                    [--rate-mbit M] [--keep]
       netbed.sh ctl DIR COMMAND...

up: creates N (default 4) validator namespaces and a client namespace,
each with one address on 10.77.0.0/24 (validator K: 10.77.0.(10+K),
client: 10.77.0.100), links shaped by netshaper (a userspace switch on one
TUN device per namespace; used whether or not the kernel has tc netem,
which it reports), a genesis for the N validators on those addresses, and
starts them. Prints the work directory DIR and waits; Ctrl-C (or SIGTERM)
stops the validators and removes every namespace, device and file (--keep
keeps DIR). Every link gets a one-way delay of R/2 ms, +-J ms uniform
jitter (packets reorder), L % loss and M Mbit/s (0: unlimited) with a
256 KiB queue.

ctl: steers the links of a running test bed (node K = validator K, node N =
the client; '*' = all):
  set A B [delay_us=N] [jitter_us=N] [loss_pct=F] [rate_kbit=N] [queue_kb=N]
  cut A B | heal A B        packets from A to B dropped / passed again
  isolate K                 every link to and from K cut
  healall                   every link passed again
  stats                     packets sent, lost, cut, dropped, in flight
Run a client in the client namespace with DIR/certa-cl (e.g.
DIR/certa-cl status --to all --genesis DIR/c/genesis.json).

Needs root, iproute2, /dev/net/tun and python3; CERTA_BIN and NETSHAPER_BIN
name the binaries (default: found on PATH).
EOF
}

nb_main() {
    local rtt=0 jit=0 loss=0 rate=0
    case ${1:-} in
    up) shift ;;
    ctl)
        [ $# -ge 3 ] || { nb_usage >&2; exit 2; }
        exec "$NETSHAPER" ctl "$2/ctl.sock" "${@:3}"
        ;;
    -h | --help) nb_usage; exit 0 ;;
    *) nb_usage >&2; exit 2 ;;
    esac
    while [ $# -gt 0 ]; do
        case $1 in
        --nodes) NB_N=$2; shift 2 ;;
        --rtt-ms) rtt=$2; shift 2 ;;
        --jitter-ms) jit=$2; shift 2 ;;
        --loss-pct) loss=$2; shift 2 ;;
        --rate-mbit) rate=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        *) nb_usage >&2; exit 2 ;;
        esac
    done
    nb_init "$NB_N"
    nb_shape "$rtt" "$jit" "$loss" "$rate"
    nb_genesis
    nb_start_all
    nb_note "test bed up in $NB_W: $NB_N validators, RTT $rtt ms, jitter $jit ms, loss $loss %, rate $rate Mbit/s"
    trap 'exit 0' INT TERM
    while :; do sleep 1; done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -eo pipefail
    nb_main "$@"
fi
