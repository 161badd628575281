#!/usr/bin/env bash
# `certa load` end to end on one machine: describe, gen twice with one seed
# (identical bytes) and once with another (different), info, a corrupted
# trace refused, replay against the in-process loopback fake (report counts
# add up, HTML and SVG written), find-max, and the documented exit codes.
set -euo pipefail
CERTA=${CERTA_BIN:?CERTA_BIN must point at the certa binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
expect_rc() { # expect_rc CODE cmd...
  local want=$1; shift
  set +e; "$@" >"$work/out" 2>"$work/err"; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$work/out" "$work/err" >&2; fail "'$*' exited $rc, expected $want"; }
}

expect_rc 0 "$CERTA" load --help
expect_rc 2 "$CERTA" load
expect_rc 2 "$CERTA" load gen --scenario beijing
expect_rc 2 "$CERTA" load replay --speed fast
expect_rc 2 "$CERTA" load frobnicate
expect_rc 3 "$CERTA" load describe --scenario "$work/none.json"

expect_rc 0 "$CERTA" load describe --scenario beijing
grep -q "counters                 3218" "$work/out" || fail "describe: $(cat "$work/out")"
expect_rc 0 "$CERTA" load describe --json
cp "$work/out" "$work/scenario.json"
expect_rc 0 "$CERTA" load describe --scenario "$work/scenario.json"

expect_rc 0 "$CERTA" genesis --validators 4 --dir "$work/g" --base-port 27100
gen() { "$CERTA" load gen --scenario "$work/scenario.json" --scale 0.05 --hours 1 \
          --genesis "$work/g" --quiet "$@"; }
expect_rc 0 gen --seed 5 --out "$work/a.trc"
grep -q "intended rejections" "$work/out" || fail "gen summary"
expect_rc 0 gen --seed 5 --out "$work/b.trc"
expect_rc 0 gen --seed 6 --out "$work/c.trc"
cmp -s "$work/a.trc" "$work/b.trc" || fail "same seed, different traces"
! cmp -s "$work/a.trc" "$work/c.trc" || fail "different seeds, same trace"

expect_rc 0 "$CERTA" load info --trace "$work/a.trc"
events=$(sed -n 's/^  \([0-9]*\) batches, \([0-9]*\) events over.*/\2/p' "$work/out")
batches=$(sed -n 's/^  \([0-9]*\) batches, \([0-9]*\) events over.*/\1/p' "$work/out")
[ -n "$events" ] && [ "$events" -gt 0 ] || fail "info: $(cat "$work/out")"

cp "$work/a.trc" "$work/bad.trc"
printf 'X' | dd of="$work/bad.trc" bs=1 seek=300 conv=notrunc status=none
expect_rc 3 "$CERTA" load info --trace "$work/bad.trc"
grep -q "checksum" "$work/err" || fail "corruption not named: $(cat "$work/err")"

# the peak hour at 2000x against the fake: about 2 s
expect_rc 0 "$CERTA" load replay --trace "$work/a.trc" --to loopback:500 --speed 2000 \
  --report "$work/r" --svg --quiet
for f in r.json r.html r-throughput.svg r-latency.svg r-cdf.svg; do
  [ -s "$work/$f" ] || fail "$f missing"
done
python3 - "$work/r.json" "$events" "$batches" <<'PY' || fail "report counts"
import json, sys
r = json.load(open(sys.argv[1]))
events, batches = int(sys.argv[2]), int(sys.argv[3])
assert r["offered"]["events"] == events, r["offered"]
assert r["committed"]["events"] == events, r["committed"]
assert r["committed"]["batches"] == batches
assert sum(r["results"].values()) == events, r["results"]
assert all(v["batches"] == 0 for v in r["errors"].values()), r["errors"]
assert r["latency_ms"]["p50"] >= 0.5, r["latency_ms"]
assert r["expected_rejected_events"] > 0
PY

# a fake that refuses beyond 4 outstanding batches: replay says no (exit 1)
expect_rc 1 "$CERTA" load replay --trace "$work/a.trc" --to loopback:200000:0:4 --speed 5000 \
  --drain 1 --report "$work/r2" --quiet
grep -q "refused [1-9]" "$work/out" || fail "refusals not reported: $(cat "$work/out")"

expect_rc 0 "$CERTA" load find-max --trace "$work/a.trc" --to loopback:500:20000 \
  --start-speed 100 --step-s 0.5 --drain 1 --refine 1 --report "$work/fm.json" --quiet
grep -q "^headroom" "$work/out" || fail "find-max: $(cat "$work/out")"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['best_speed'] > 0" \
  "$work/fm.json" || fail "find-max report"

expect_rc 3 "$CERTA" load replay --trace "$work/a.trc" --to tcp://127.0.0.1:1 --quiet
grep -q "genesis" "$work/err" || fail "tcp without --genesis: $(cat "$work/err")"
echo "it_load: ok"
