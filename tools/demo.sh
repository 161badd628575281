#!/usr/bin/env bash
# The README's main command: installs the Debian packages, builds certa
# (Release) into build/ and runs the local demo in a fresh demo directory.
#   DEMO_DIR   where the demo's chain lives (default: demo-run/, gitignored;
#              recreated on every run)
#   JOBS       build parallelism (default: nproc)
# Steps so far: genesis for 4 validators, then certa checks what it wrote.
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

step "done"
cat <<INFO
The demo wrote:
  $DEMO_DIR/genesis.json            the chain's founding document (validators,
                                   integrators, Beijing catalogue, parameters)
  $DEMO_DIR/node0 .. node3/         each validator's sign.pem, curve.key (0600)
                                   and node.json
  $DEMO_DIR/integrators/*.pem       demo integrator keys (app, library, admin,
                                   one counter system per service centre)
Next: docs/OPERATIONS.md ("Genesis and keys") describes these files.
INFO
