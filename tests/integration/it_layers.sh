#!/usr/bin/env bash
# The layers point one way: tools -> node -> net -> engine -> include
# (sim/ and load/ beside node/)
# (tests/integration/check_layers.py states the rules). First proves the
# checker can fail: a scratch copy of the tree gets one wrong-way include
# per rule, and each must be reported with its file and line; then the real
# tree must be clean. Then the same for the size limits (check_sizes.py).
set -euo pipefail
src=${CERTA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
check="$src/tests/integration/check_layers.py"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

mkdir -p "$scratch/tests" "$scratch/bench"
cp -r "$src/include" "$src/engine" "$src/net" "$src/node" "$src/sim" "$src/load" "$src/tools" \
  "$scratch/"

printf '/* scratch */\n#include "certa/codec.h"\n#include "transport.h"\n#include <zmq.h>\n' \
  > "$scratch/engine/zz_scratch.c"
printf '#include "node_internal.h"\n' > "$scratch/net/zz_scratch.c"
printf '#include "cli.h"\n' > "$scratch/node/zz_scratch.c"
printf '#include "sim.h"\n' > "$scratch/engine/zz_sim.c"
printf '#include "sim.h"\n' > "$scratch/node/zz_sim.c"
printf '#include "node_internal.h"\n#include "ledger.h"\n' > "$scratch/sim/zz_scratch.c"
printf '#ifndef ZZ_H\n#define ZZ_H\n#include <zmq.h>\n#include "metrics.h"\n#include <jansson.h>\n#endif\n' \
  > "$scratch/include/certa/zz_scratch.h"
printf '#include "wal.h"\n#include <time.h>\n' >> "$scratch/engine/pbft.c"
pbft_lines=$(wc -l < "$scratch/engine/pbft.c")
printf '#include "no_such_header.h"\n' > "$scratch/tools/zz_scratch.c"
printf '#include "../engine/pbft_msg.h"\n' > "$scratch/tools/zz_msg.c"
mkdir -p "$scratch/web" && printf '/* scratch */\n' > "$scratch/web/zz.h"
printf '#include "../web/zz.h"\n' > "$scratch/tools/zz_web.c"
# the load model: beside node/, seen by tools/ only
printf '#include "node_internal.h"\n#include "transport.h"\n' > "$scratch/load/zz_scratch.c"
printf '#include "scenario.h"\n' > "$scratch/node/zz_load.c"
# nothing shipped, tools/ included, includes a header of tests/ or bench/
printf '/* scratch */\n' > "$scratch/tests/zz_helper.h"
printf '#include "../tests/zz_helper.h"\n' > "$scratch/tools/zz_tests.c"
# an allow-list entry that no longer matches must be reported too (no
# public header includes jansson, so this entry is stale)
set +e
out=$(python3 "$check" --allow include/certa/receipt.h:jansson.h "$scratch")
rc=$?
set -e
echo "$out"
[ "$rc" -eq 1 ] || { echo "FAIL: the checker exited $rc on a tree with wrong-way includes"; exit 1; }
expect() {
  if ! grep -qF -- "$1" <<<"$out"; then
    echo "FAIL: the checker did not report: $1"
    exit 1
  fi
}
expect 'engine/zz_scratch.c:3: engine includes net header "transport.h"'
expect 'engine/zz_scratch.c:4: engine includes <zmq.h>'
expect 'net/zz_scratch.c:1: net includes node header "node_internal.h"'
expect 'node/zz_scratch.c:1: node includes tools header "cli.h"'
expect 'engine/zz_sim.c:1: engine includes sim header "sim.h" (sim/sim.h)'
expect 'node/zz_sim.c:1: node includes sim header "sim.h" (sim/sim.h)'
expect 'sim/zz_scratch.c:1: sim includes node header "node_internal.h"'
expect 'include/certa/zz_scratch.h:3: public header includes <zmq.h>'
expect 'include/certa/zz_scratch.h:4: public header includes net header "metrics.h"'
expect 'include/certa/zz_scratch.h:5: public header includes <jansson.h>'
expect "engine/pbft.c:$((pbft_lines - 1)): the consensus core includes \"wal.h\""
expect "engine/pbft.c:$pbft_lines: the consensus core includes <time.h>"
expect 'tools/zz_scratch.c:1: includes "no_such_header.h", found in no layer'
expect 'tools/zz_msg.c:1: includes the consensus core'"'"'s message codec'
expect 'tools/zz_web.c:1: includes "../web/zz.h" (web/zz.h), outside every layer'
expect 'load/zz_scratch.c:1: load includes node header "node_internal.h"'
expect 'node/zz_load.c:1: node includes load header "scenario.h" (load/scenario.h)'
expect 'tools/zz_tests.c:1: tools includes "../tests/zz_helper.h" (tests/zz_helper.h) from tests/'
expect 'include/certa/receipt.h: allow-list entry for jansson.h matches nothing'
if grep -q 'sim/zz_scratch.c:2' <<<"$out"; then
  echo "FAIL: the checker reported a rightful include (sim -> engine/ledger.h)"
  exit 1
fi
if grep -q 'load/zz_scratch.c:2' <<<"$out"; then
  echo "FAIL: the checker reported a rightful include (load -> net/transport.h)"
  exit 1
fi
if grep -q 'engine/zz_scratch.c:2' <<<"$out"; then
  echo "FAIL: the checker reported a rightful include (engine -> certa/codec.h)"
  exit 1
fi
echo "ok: the checker reports every kind of wrong-way include"

python3 "$check" "$src"
echo "ok: the layers point one way"

# Sizes (tests/integration/check_sizes.py): no file over 1,500 lines, no
# function over 150. First proves the checker can fail: in a scratch copy, a
# file of 1,501 lines (shipped code or a test) and a function of 151 are reported with their names,
# while a function of exactly 150 lines whose comments and strings hold
# stray braces is not.
sizes="$src/tests/integration/check_sizes.py"
sz=$(mktemp -d)
trap 'rm -rf "$scratch" "$sz"' EXIT
mkdir -p "$sz/engine" "$sz/node" "$sz/tests/sim"
{
  echo '/* scratch: a long function */'
  echo 'static int zz_long(int a)'
  echo '{'
  for i in $(seq 1 147); do echo "    a += $i;"; done
  echo '    return a;'
  echo '}'
  echo 'int zz_ok(int a)'
  echo '{'
  echo '    const char *s = "{{{"; /* } } } */'
  for i in $(seq 1 145); do echo "    a += $i;"; done
  echo "    return a + (s[0] == '{');"
  echo '}'
} > "$sz/node/zz_sizes.c"
for i in $(seq 1 1501); do echo "/* line $i */"; done > "$sz/engine/zz_big.c"
for i in $(seq 1 1501); do echo "# line $i"; done > "$sz/tests/sim/zz_big.sh"
set +e
out=$(python3 "$sizes" "$sz")
rc=$?
set -e
echo "$out"
[ "$rc" -eq 1 ] || { echo "FAIL: check_sizes exited $rc on a tree with oversized code"; exit 1; }
expect 'node/zz_sizes.c:2: function zz_long is 151 lines, over 150'
expect 'engine/zz_big.c: 1501 lines, over 1500'
expect 'tests/sim/zz_big.sh: 1501 lines, over 1500'
if grep -q 'zz_ok' <<<"$out"; then
  echo "FAIL: check_sizes reported a function of 150 lines (zz_ok)"
  exit 1
fi
echo "ok: the size checker reports oversized files and functions"

python3 "$sizes" "$src"
echo "ok: no file over 1,500 lines, no function over 150"

# Assertions (tests/integration/check_asserts.py): the consensus core and
# storage at two or more per function, none with a side effect. First proves
# the checker can fail: in a scratch tree, a consensus file of two functions
# with one assertion between them, a storage file without any, and an
# assertion that increments are each reported.
asserts="$src/tests/integration/check_asserts.py"
as=$(mktemp -d)
trap 'rm -rf "$scratch" "$sz" "$as"' EXIT
mkdir -p "$as/engine" "$as/net" "$as/include/certa"
cat > "$as/engine/pbft_zz.c" <<'EOF'
static int zz_a(int *n)
{
    CERTA_ASSERT((*n)++ >= 0);
    return *n;
}

int zz_b(int n)
{
    return n + zz_a(&n);
}
EOF
printf 'int zz_c(int n)\n{\n    return n;\n}\n' > "$as/engine/store_zz.c"
set +e
out=$(python3 "$asserts" "$as")
rc=$?
set -e
echo "$out"
[ "$rc" -eq 1 ] || { echo "FAIL: check_asserts exited $rc on a tree below the density"; exit 1; }
expect 'consensus: 0.50 assertions per function, under 2.0'
expect 'storage: 0.00 assertions per function, under 2.0'
expect 'engine/pbft_zz.c:3: assertion with a side effect: (*n)++ >= 0'
echo "ok: the assertion checker reports low density and side effects"

python3 "$asserts" "$src"
echo "ok: consensus and storage at two or more assertions per function, none with a side effect"
