#!/usr/bin/env bash
# Bad input at the door of a 4-validator cluster on 127.0.0.1 (ports
# 23000..23032): garbage frames, a bad header, truncated and oversized
# batches, a bad signature, an unknown integrator, a replayed sequence number
# (cluster_badclient, built from tests/integration/cluster_badclient.c), and
# with the CLI: a replayed sequence, the wrong role, an unknown integrator
# and a key that is not the integrator's. Each gets a clear answer and the
# validator keeps serving (a good batch commits after them). A client with
# another genesis (other CURVE server keys) cannot reach the validators.
set -euo pipefail
BASE_PORT=$((23000 + ${CERTA_TEST_PORT_OFFSET:-0}))
. "$(dirname "$0")/cluster_lib.sh"
SECONDS=0
cl_init
python3 "$SRC/tests/integration/cluster_events.py" "$W/ev" 20 7 5
cl_start_all

# A first good submit: app's sequence numbers 1..2 are executed.
cl_submit app "$W/ev/1-grants.jsonl" "$W/g" --batch 10
cl_expect "$W/g" 1-grants

BAD=${CERTA_BUILD_DIR:-$(dirname "$CERTA")}/cluster_badclient
if [ -x "$BAD" ]; then
    "$BAD" "$G" 1 "$KEYS/app.pem" app "$W/ev/1-grants.jsonl" 50 \
        garbage1 garbage3 badmagic badtype truncated oversized badsig unknown >"$W/bad.out" 2>&1 \
        || fail "cluster_badclient: $(cat "$W/bad.out")"
    "$BAD" "$G" 1 "$KEYS/app.pem" app "$W/ev/1-grants.jsonl" 1 replay >>"$W/bad.out" 2>&1 \
        || fail "cluster_badclient: $(cat "$W/bad.out")"
    sed 's/^/   /' "$W/bad.out"
    expect() { # CASE REGEX
        grep -E "^$1 reply 18 $2" "$W/bad.out" >/dev/null || fail "case $1: wanted error $2, got: $(grep "^$1 " "$W/bad.out")"
    }
    expect garbage1 '701 '
    expect garbage3 '701 '
    expect badmagic '701 '
    expect badtype '701 '
    expect truncated '1[01][0-9] ' # codec errors 100..119
    expect oversized '1[01][0-9] '
    expect badsig '201 .*does not verify'
    expect unknown '4 .*not in genesis'
    expect replay '702 .*replay'
    # Still serving: a good batch through the same door commits.
    "$BAD" "$G" 1 "$KEYS/app.pem" app "$W/ev/5-revoke.jsonl" 3 valid >"$W/good.out" 2>&1
    grep -q '^valid reply 16 ' "$W/good.out" && grep -q '^valid reply 17 ' "$W/good.out" \
        || fail "a good batch after the bad ones: $(cat "$W/good.out")"
    SEQ_app=4
    refused=$(cl_metric 1 certa_batches_refused_total)
    [ "$refused" -ge 5 ] || fail "validator 1 counted $refused refused batches"
    note "validator 1 refused $refused batches (metric) and still commits"
else
    note "SKIP raw frames: $BAD is not built"
fi

# CLI: a replayed sequence number (1 was executed above), refused at the door.
"$CERTA" submit --to all --genesis "$G" --integrator app --key "$KEYS/app.pem" --seq 1 \
    --quiet "$W/ev/5-revoke.jsonl" >"$W/replay.sum" 2>&1 && fail "a replayed sequence was accepted"
grep -q 'already executed with other bytes' "$W/replay.sum" || fail "replay: $(cat "$W/replay.sum")"
# CLI: wrong role. A counter may not grant: committed, rejected role_forbidden.
cl_submit counter-dongcheng "$W/ev/1-grants.jsonl" "$W/role" --batch 10
grep -q 'role_forbidden 20' "$W/role.sum" || fail "wrong role: $(cat "$W/role.sum")"
# CLI: unknown integrator and a key that is not the integrator's.
set +e
"$CERTA" submit --to all --genesis "$G" --integrator nobody --key "$KEYS/app.pem" \
    --quiet "$W/ev/5-revoke.jsonl" >"$W/unk.out" 2>&1
rc=$?
set -e
[ $rc -ne 0 ] && grep -q 'not in genesis' "$W/unk.out" || fail "unknown integrator: rc $rc $(cat "$W/unk.out")"
set +e
"$CERTA" submit --to all --genesis "$G" --integrator library --key "$KEYS/app.pem" \
    --quiet "$W/ev/5-revoke.jsonl" >"$W/key.out" 2>&1
rc=$?
set -e
[ $rc -ne 0 ] && grep -q 'not integrator' "$W/key.out" || fail "wrong key: rc $rc $(cat "$W/key.out")"

# A client with another genesis (same ports, other CURVE keys) gets nowhere:
# the CURVE handshake fails, nothing is answered, the submit gives up at
# its deadline with nothing committed.
"$CERTA" genesis --validators 4 --dir "$W/other" --base-port "$BASE_PORT" >/dev/null
set +e
timeout 20 "$CERTA" submit --to all --genesis "$W/other/genesis.json" --integrator app \
    --key "$W/other/integrators/app.pem" --deadline-ms 3000 --quiet \
    "$W/ev/5-revoke.jsonl" >"$W/curve.out" 2>&1
rc=$?
timeout 10 "$CERTA" status --to all --genesis "$W/other/genesis.json" --timeout-ms 1500 \
    >"$W/curve-status.out" 2>&1
src=$?
set -e
[ $rc = 1 ] || fail "submit with a foreign genesis: rc $rc $(cat "$W/curve.out")"
grep -q 'not committed  4' "$W/curve.out" || fail "foreign genesis: $(cat "$W/curve.out")"
[ $src = 1 ] || fail "status with a foreign genesis answered: rc $src $(cat "$W/curve-status.out")"
note "a client with a foreign genesis got no answer (submit rc $rc, status rc $src)"

# Everyone still serving and in step.
cl_submit counter-dongcheng "$W/ev/2-wrong.jsonl" "$W/w" --batch 10
cl_expect "$W/w" 2-wrong
cl_wait_equal_heights 1 90
note "all four validators at height $HEIGHT; it_cluster_badinput passed in ${SECONDS}s"
