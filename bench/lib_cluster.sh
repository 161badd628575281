# bench/lib_cluster.sh: what the cluster benchmarks share (sourced, not run).
# Callers keep the validators' pids in the array PIDS.

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
