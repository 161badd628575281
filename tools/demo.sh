#!/usr/bin/env bash
# The README's main command: installs the Debian packages, builds certa
# (Release) into build/ and runs the local demo in a fresh demo directory.
#   DEMO_DIR   where the demo's chain lives (default: demo-run/, gitignored;
#              recreated on every run)
#   JOBS       build parallelism (default: nproc)
# Steps so far: genesis for 4 validators, certa checks what it wrote, then a
# dry run of a sample day at one counter through the licence rules.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO_DIR=${DEMO_DIR:-demo-run}
JOBS=${JOBS:-$(nproc)}
CERTA=./build/certa

step() { printf '\n==== %s\n' "$*"; }

step "1. dependencies (tools/install-deps.sh)"
bash tools/install-deps.sh

step "2. release build into build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$JOBS"
"$CERTA" --version

step "3. a new chain: genesis for 4 validators in $DEMO_DIR/"
# The demo always starts from a new chain. Only a directory that a previous
# demo made (it holds genesis.json) is removed; anything else is left alone.
if [ -e "$DEMO_DIR" ]; then
  if [ -f "$DEMO_DIR/genesis.json" ]; then
    rm -rf "$DEMO_DIR"
  elif [ -n "$(ls -A "$DEMO_DIR")" ]; then
    echo "demo: $DEMO_DIR exists, is not empty and holds no genesis.json; set DEMO_DIR elsewhere" >&2
    exit 1
  fi
fi
"$CERTA" genesis --validators 4 --dir "$DEMO_DIR"

step "4. certa reloads and validates the genesis"
"$CERTA" genesis check "$DEMO_DIR/genesis.json"

step "5. a day at one counter through the licence rules (certa dry-run)"
# tests/data/day_one_counter.jsonl: citizens at counter 7 of the Dongcheng
# centre grant, redeem, confirm, sign, photo and revoke; a few mistype codes,
# come too late or go to the wrong counter. Exit 1 only means "some events
# were rejected", which this day is meant to show.
DAY=tests/data/day_one_counter.jsonl
data_opt=()
if "$CERTA" query --help >/dev/null 2>&1; then data_opt=(--data "$DEMO_DIR/dry-run"); fi
set +e
"$CERTA" dry-run --genesis "$DEMO_DIR/genesis.json" "${data_opt[@]}" "$DAY" \
  > "$DEMO_DIR/day_one_counter.results.jsonl"
rc=$?
set -e
[ "$rc" -le 1 ] || exit "$rc"
echo "results per line: $DEMO_DIR/day_one_counter.results.jsonl"
echo "results by reason:"
sed -e 's/.*"reason":"\([a-z_]*\)".*/  rejected \1/' -e 's/.*"result":"ok".*/  ok/' \
  "$DEMO_DIR/day_one_counter.results.jsonl" | sort | uniq -c | sort -rn
if [ ${#data_opt[@]} -gt 0 ]; then
  holder=$(printf 'holder 3' | sha256sum | cut -c1-64)
  echo "holder 3's records, answered offline from $DEMO_DIR/dry-run:"
  "$CERTA" query holder "$holder" --data "$DEMO_DIR/dry-run"
fi

step "done"
cat <<INFO
The demo wrote:
  $DEMO_DIR/genesis.json            the chain's founding document (validators,
                                   integrators, Beijing catalogue, parameters)
  $DEMO_DIR/node0 .. node3/         each validator's sign.pem, curve.key (0600)
                                   and node.json
  $DEMO_DIR/integrators/*.pem       demo integrator keys (app, library, admin,
                                   one counter system per service centre)
  $DEMO_DIR/day_one_counter.results.jsonl
                                   the dry run's result for each event line
Next: docs/OPERATIONS.md ("Genesis and keys", "Dry run", "Queries").
INFO
