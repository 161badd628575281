#!/usr/bin/env bash
# The README's test command: installs the Debian packages, builds, and runs
# every test: unit and integration tests under ctest (release build, warnings
# as errors), the unit tests again under ASan+UBSan, and every libFuzzer
# target for a bounded smoke budget on its checked-in corpus.
#   FUZZ_SECONDS  seconds per fuzz target (default 20)
#   JOBS          build parallelism (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
JOBS=${JOBS:-$(nproc)}

step() { printf '\n==== %s\n' "$*"; }

step "dependencies"
bash tools/install-deps.sh

step "release build (warnings are errors)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCERTA_WERROR=ON >/dev/null
cmake --build build -j"$JOBS"

step "unit, simulation and integration tests"
ctest --test-dir build --output-on-failure -j1

step "ASan + UBSan build, unit tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCERTA_SANITIZE=ON \
      -DCERTA_WERROR=ON >/dev/null
cmake --build build-asan -j"$JOBS"
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -L unit -j1

step "fuzz targets (libFuzzer, ${FUZZ_SECONDS}s each)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCERTA_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$JOBS"
fuzz_pass=0
fuzz_fail=0
for bin in build-fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  seeds="tests/fuzz/corpus/${name#fuzz_}"
  work=$(mktemp -d)
  echo "-- $name (seeds: $seeds)"
  if "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=30 -rss_limit_mb=2048 \
       -print_final_stats=1 "$work" "$seeds" > "$work.log" 2>&1; then
    fuzz_pass=$((fuzz_pass + 1))
    grep -E "stat::number_of_executed_units|Done" "$work.log" | tail -2 || true
  else
    fuzz_fail=$((fuzz_fail + 1))
    tail -40 "$work.log"
    echo "FAIL: $name"
  fi
  rm -rf "$work" "$work.log"
done
echo "fuzz: $fuzz_pass passed, $fuzz_fail failed"
[ "$fuzz_fail" -eq 0 ]

step "all tests passed"
