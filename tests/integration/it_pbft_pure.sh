#!/usr/bin/env bash
# The PBFT core and the ledger it runs must stay pure state machines: no
# clocks, randomness, sockets, files or threads in engine/pbft*.c and
# engine/ledger.[ch] (time and crypto come in through their interfaces).
# Fails naming the file and line of any offender.
set -euo pipefail
src=${CERTA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
files=$(ls "$src"/engine/pbft*.c "$src"/engine/pbft*.h 2>/dev/null)
[ -n "$files" ] || { echo "no engine/pbft*.c found under $src"; exit 1; }
for f in ledger.c ledger.h; do
  [ -f "$src/engine/$f" ] || { echo "no engine/$f found under $src"; exit 1; }
  files="$files $src/engine/$f"
done
pattern='clock_gettime|gettimeofday|[^_a-z]time[[:space:]]*\(|[^_a-z]s?rand(om)?[[:space:]]*\(|rand_r|getrandom|RAND_bytes|socket[[:space:]]*\(|zmq_|fopen|[^_a-z]open[[:space:]]*\(|fwrite|pthread|io_uring|sleep[[:space:]]*\(|getenv'
if grep -nE "$pattern" $files; then
  echo "FAIL: engine/pbft*.c and engine/ledger.[ch] must not use clocks, randomness, sockets, files or threads"
  exit 1
fi
# and the check itself must be able to fail
probe=$(mktemp)
printf 'static long f(void) { return time(NULL) + rand(); }\n' > "$probe"
if ! grep -qE "$pattern" "$probe"; then
  rm -f "$probe"; echo "FAIL: the purity pattern no longer matches time()/rand()"; exit 1
fi
rm -f "$probe"
echo "ok: engine/pbft*.c and engine/ledger.[ch] are pure"
