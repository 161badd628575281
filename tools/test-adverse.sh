#!/usr/bin/env bash
# The README's test command on a machine made slow on purpose: proves that
# no test's pass or fail depends on the disk's or the processor's speed.
#
#   - a slow disk: tests/slowdisk/slowdisk.c, preloaded into every process,
#     sleeps CERTA_SLOWDISK_US (default 5000) before every fsync, fdatasync,
#     RWF_DSYNC write and io_uring submission that waits for durability;
#   - busy cores: one busy loop per core, at the tests' own priority, for
#     the whole run.
#
# Then runs tools/test.sh unchanged and prints how many durable requests
# were slowed (a run in which none were proves nothing and fails) and how
# long it all took.
#   CERTA_SLOWDISK_US  delay per durable request in microseconds (default 5000)
#   BUSY_LOOPS         busy loops (default: nproc; 0 for a slow disk alone)
#   --help             this text
set -euo pipefail
cd "$(dirname "$0")/.."
case ${1:-} in
-h | --help)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
"") ;;
*)
    echo "test-adverse: unknown argument '$1' (see --help)" >&2
    exit 2
    ;;
esac

bash tools/install-deps.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/certa-adverse.XXXXXX")
busy=()
cleanup() {
    local p
    for p in "${busy[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

cc -std=gnu17 -O2 -Wall -Wextra -Werror -shared -fPIC tests/slowdisk/slowdisk.c \
    -o "$work/slowdisk.so" -ldl
export CERTA_SLOWDISK_US=${CERTA_SLOWDISK_US:-5000}
export CERTA_SLOWDISK_STATS=$work/slowdisk.stats
# The sanitizer runtime wants to come first among the loaded libraries;
# the preloaded shim comes before it, which is harmless here.
export ASAN_OPTIONS=verify_asan_link_order=0

# Check the shim on its own first: one fdatasync must take the delay.
python3 - "$work/slowdisk.so" "$work/probe" <<'PY'
import os, subprocess, sys, time
env = dict(os.environ, LD_PRELOAD=sys.argv[1])
code = ("import os,time; f=os.open(%r, os.O_WRONLY|os.O_CREAT); os.write(f, b'x');"
        "t=time.monotonic(); os.fdatasync(f); print(time.monotonic()-t)") % sys.argv[2]
took = float(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                            capture_output=True, text=True).stdout)
want = int(os.environ["CERTA_SLOWDISK_US"]) / 1e6
assert took >= want * 0.9, "slowdisk: an fdatasync took %.4f s, expected >= %.4f s" % (took, want)
print("slowdisk: an fdatasync takes %.1f ms" % (took * 1e3))
PY

loops=${BUSY_LOOPS:-$(nproc)}
for ((i = 0; i < loops; i++)); do
    (exec bash -c 'while :; do :; done') &
    busy+=($!)
done
echo "test-adverse: ${CERTA_SLOWDISK_US} us per durable request, $loops busy loop(s)"

start=$SECONDS
LD_PRELOAD=$work/slowdisk.so bash tools/test.sh
took=$((SECONDS - start))

read -r procs syncs urings < <(awk '{p++; a += $2; b += $3} END {print p+0, a+0, b+0}' \
    "$CERTA_SLOWDISK_STATS" 2>/dev/null || echo "0 0 0")
echo "test-adverse: passed in $((took / 60)) min $((took % 60)) s; slowed $syncs fsync-type" \
     "calls and $urings io_uring submissions in $procs processes that exited normally"
[ "$urings" -gt 0 ] || { echo "test-adverse: no io_uring submission was slowed: the shim did not apply" >&2; exit 1; }
