# bench/lib_cluster.sh: what the cluster benchmarks share (sourced, not run).
# Callers keep the validators' pids in the array PIDS, their files in $W
# (the genesis in $W/c, made with `certa genesis --validators 4`) and
# define log().

# Stops every process in PIDS (TERM, then waits) and empties it.
cleanup() {
    local p
    for p in "${PIDS[@]}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
    PIDS=()
}

# PID... -> "tid kind ticks" per thread (kind: its name, iou-wrk-* folded):
# CPU by thread, read before and after a run.
thread_ticks() {
    python3 - "$@" <<'PY'
import os, sys
for pid in sys.argv[1:]:
    try:
        tids = os.listdir("/proc/%s/task" % pid)
    except OSError:
        continue
    for t in tids:
        try:
            s = open("/proc/%s/task/%s/stat" % (pid, t)).read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")].replace(" ", "_")
        if comm.startswith("iou-wrk"):
            comm = "iou-wrk"
        f = s[s.rindex(")") + 2:].split()
        print(t, comm, int(f[11]) + int(f[12]))
PY
}

# The same summed per kind over the processes ("kind ticks", '/' in a
# thread's name made '_').
thread_ticks_by_kind() {
    thread_ticks "$@" | awk '{ k = $2; gsub("/", "_", k); c[k] += $3 } END { for (k in c) print k, c[k] }' | sort
}

# BIN TAG [NODE ARGS...]: 4 validators on a fresh chain (their data removed),
# logs in $W/nodeK-TAG.log; returns once all 4 answer `certa status`, exits
# 3 when they do not within 30 s.
start_cluster() {
    local bin=$1 tag=$2 k
    shift 2
    cleanup
    for k in 0 1 2 3; do rm -rf "$W/c/node$k/data"; done
    for k in 0 1 2 3; do
        "$bin" node --config "$W/c/node$k/node.json" "$@" 2>"$W/node$k-$tag.log" &
        PIDS[$k]=$!
    done
    for _ in $(seq 150); do
        "$bin" status --to all --genesis "$W/c/genesis.json" --timeout-ms 500 >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    log "the cluster did not come up ($bin)"
    tail -n 5 "$W"/node?-"$tag".log >&2 || true
    exit 3
}

# BIN K [flat] > FILE.json: the beijing scenario for `certa load gen --scale
# K` with its batching windows divided by K, so that batches keep their
# natural size (about 1.7 events) while the cases per counter grow K times;
# "flat": every open hour at the peak's rate, so a replay's offered rate
# holds still.
scenario_dense() {
    "$1" load describe --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
k = float(sys.argv[1])
s["name"] = "beijing-dense"
if len(sys.argv) > 2 and sys.argv[2] == "flat":
    s["hourly_profile"] = [1.0 if v > 0 else 0.0 for v in s["hourly_profile"]]
s["batching_ms"] = {r: max(1, round(ms / k)) for r, ms in s["batching_ms"].items()}
json.dump(s, sys.stdout)' "${@:2}"
}
