#!/usr/bin/env bash
# Conformance of a real 4-validator cluster (127.0.0.1, ports 29900..29932)
# with docs/PROTOCOL.md: conformance_client.py, an independent Python client
# written from the document (python3-zmq, python3-cryptography), builds and
# signs batches, talks CURVE to validator 0 and 1, provokes every door error
# it can from outside and verifies every receipt offline. Genesis is the
# default one but for replay_horizon_batches = 16, so that 703 TOO_OLD can
# be reached with a few batches.
set -euo pipefail
BASE_PORT=$((29900 + ${CERTA_TEST_PORT_OFFSET:-0}))
. "$(dirname "$0")/cluster_lib.sh"
SECONDS=0
py=
for cand in python3 /usr/bin/python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import zmq, cryptography' 2>/dev/null; then
        py=$cand; break
    fi
done
[ -n "$py" ] || { echo "FAIL: no python3 with zmq and cryptography (tools/install-deps.sh)" >&2; exit 1; }
cl_init
sed -i 's/"replay_horizon_batches": *[0-9]*/"replay_horizon_batches": 16/' "$G"
grep -q '"replay_horizon_batches": 16' "$G" || fail "could not set replay_horizon_batches in $G"
cl_start_all
"$py" "$SRC/tests/integration/conformance_client.py" "$G" "$KEYS" \
    || fail "the validator disagrees with docs/PROTOCOL.md (above)"
note "conformance passed in ${SECONDS} s"
cl_stop_and_audit
