#!/usr/bin/env bash
# certa monitor against gateways serving the event log as tiles: it follows
# an honest log checkpoint by checkpoint (every new event fetched, decoded
# and hashed into the root it keeps), and reports, with exit 1 and an
# evidence file, each way a server or a quorum can lie: a split view (a
# forked chain whose checkpoint has the size already verified and another
# root, signed by the same quorum), a rewritten history (a larger
# checkpoint whose events do not extend the verified log), a rollback (a
# smaller checkpoint) and a checkpoint without a quorum. A server that
# cannot be reached is exit 3, and a monitor that found nothing keeps its
# state.
set -euo pipefail
C=${CERTA_BIN:?CERTA_BIN must name the certa binary}
SRC=${CERTA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PORT=$((31720 + ${CERTA_TEST_PORT_OFFSET:-0}))
# shellcheck source=tests/integration/lib_tlog.sh
. "$SRC/tests/integration/lib_tlog.sh"

# an honest log, followed from its start
dry "$W/d" "$SRC/tests/data/day_one_counter.jsonl"
checkpoint "$W/d" "$W/a.txt"
"$C" merkle tiles --data "$W/d" --out "$W/T" --checkpoint "$W/a.txt" >/dev/null
serve "$W/T"; HONEST=$URL
expect_rc 0 "$C" monitor --url "$HONEST" --genesis "$G" --state "$W/m1" --once
grep -q "size 0 -> 89: 89 new events verified, consistent, 3 signatures" "$W/out" ||
    fail "first poll: $(cat "$W/out")"
expect_rc 0 "$C" monitor --url "$HONEST" --genesis "$G" --state "$W/m1" --once
grep -q "size 89: unchanged" "$W/out" || fail "unchanged: $(cat "$W/out")"
cp -r "$W/m1" "$W/m2" # a second monitor, at size 89

# the chain forks after 89 events: validators that equivocate sign both
cp -r "$W/d" "$W/d2"
grants "$W/x.jsonl" 1 600
grants "$W/y.jsonl" 100001 600
dry "$W/d" "$W/x.jsonl"
dry "$W/d2" "$W/y.jsonl"
checkpoint "$W/d" "$W/b.txt"
checkpoint "$W/d2" "$W/b2.txt"
[ "$(sed -n 2p "$W/b.txt")" = "$(sed -n 2p "$W/b2.txt")" ] || fail "the forks differ in size"
cmp -s <(sed -n 3p "$W/b.txt") <(sed -n 3p "$W/b2.txt") && fail "the forks have one root"
"$C" merkle tiles --data "$W/d" --out "$W/T" --checkpoint "$W/b.txt" >/dev/null
"$C" merkle tiles --data "$W/d2" --out "$W/T2" --checkpoint "$W/b2.txt" >/dev/null
serve "$W/T2"; FORKED=$URL
expect_rc 0 "$C" monitor --url "$HONEST" --genesis "$G" --state "$W/m1" --once
grep -q "size 89 -> 689: 600 new events verified, consistent" "$W/out" ||
    fail "extension: $(cat "$W/out")"
# the forked server, to the monitor that saw the honest one: split view
cp "$W/m1/monitor.state" "$W/m1.before"
expect_rc 1 "$C" monitor --url "$FORKED" --genesis "$G" --state "$W/m1" --once
grep -q "split-view: two checkpoints of size 689, both signed by a quorum, with different roots" \
    "$W/out" || fail "split view: $(cat "$W/out")"
ev=$(ls "$W/m1"/evidence-split-view-*.txt)
grep -q "verified before" "$ev" && grep -q "served now by $FORKED" "$ev" || fail "evidence: $(cat "$ev")"
[ "$(grep -c '^— node' "$ev")" -eq 6 ] || fail "the evidence lacks both notes' signatures"
cmp -s "$W/m1.before" "$W/m1/monitor.state" || fail "a fault changed the monitor's state"
# the other monitor saw the fork first: the honest server is the split view to it
expect_rc 0 "$C" monitor --url "$FORKED" --genesis "$G" --state "$W/m2" --once
expect_rc 1 "$C" monitor --url "$HONEST" --genesis "$G" --state "$W/m2" --once
grep -q "split-view" "$W/out" || fail "second monitor: $(cat "$W/out")"

# a rewritten history: another chain from the start, longer than what m1 verified
grants "$W/z.jsonl" 200001 800
dry "$W/d3" "$W/z.jsonl"
checkpoint "$W/d3" "$W/c.txt"
"$C" merkle tiles --data "$W/d3" --out "$W/T3" --checkpoint "$W/c.txt" >/dev/null
serve "$W/T3"
expect_rc 1 "$C" monitor --url "$URL" --genesis "$G" --state "$W/m1" --once
grep -q "rewritten: the 111 events served do not extend the log of size 689" "$W/out" ||
    fail "rewritten: $(cat "$W/out")"

# a rollback: the honest log's older checkpoint, served alone
"$C" merkle tiles --data "$W/d" --out "$W/T4" --checkpoint "$W/a.txt" >/dev/null
serve "$W/T4"
expect_rc 1 "$C" monitor --url "$URL" --genesis "$G" --state "$W/m1" --once
grep -q "rollback: the log shrank: size 89 served, 689 verified before" "$W/out" ||
    fail "rollback: $(cat "$W/out")"

# a checkpoint two validators signed: no quorum of 3
checkpoint "$W/d" "$W/two.txt" 2
"$C" merkle tiles --data "$W/d" --out "$W/T5" --checkpoint "$W/two.txt" >/dev/null
serve "$W/T5"
expect_rc 1 "$C" monitor --url "$URL" --genesis "$G" --state "$W/m1" --once
grep -q "bad-checkpoint: checkpoint of size 689: 2 validator signature(s), a quorum is 3 of 4" \
    "$W/out" || fail "no quorum: $(cat "$W/out")"

# nobody there: exit 3, named; bad arguments: exit 2
expect_rc 3 "$C" monitor --url "http://127.0.0.1:1" --genesis "$G" --state "$W/m1" --once
grep -q "GET http://127.0.0.1:1/checkpoint" "$W/err" || fail "unreachable: $(cat "$W/err")"
expect_rc 2 "$C" monitor --url "ftp://x" --genesis "$G" --state "$W/m1"
expect_rc 2 "$C" monitor --genesis "$G" --state "$W/m1"
# and the honest server still checks out
expect_rc 0 "$C" monitor --url "$HONEST" --genesis "$G" --state "$W/m1" --once
grep -q "size 689: unchanged" "$W/out" || fail "honest again: $(cat "$W/out")"
echo "it_monitor: ok"
