#!/usr/bin/env bash
# docs/monitoring: the alert rules, their unit tests and the dashboard.
# 1. check_alerts.py (no promtool needed): metric names are the ones node/
#    registers, runbooks name existing OPERATIONS.md sections, each alert is
#    tested firing and not firing, dashboard.json is JSON (also through
#    python3 -m json.tool). First proves the checker fails on a scratch copy
#    with a renamed metric and a missing runbook section.
# 2. `promtool check rules` and `promtool test rules` (promtool comes from
#    Debian's prometheus package, which tools/install-deps.sh installs);
#    without promtool this part prints SKIP.
set -euo pipefail
src=${CERTA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
check="$src/tests/integration/check_alerts.py"
mon="$src/docs/monitoring"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

python3 -m json.tool "$mon/dashboard.json" >/dev/null || fail "dashboard.json is not valid JSON"

# The checker must be able to fail: rename a metric in the code, drop a
# runbook section.
mkdir -p "$scratch/docs"
cp -r "$src/node" "$scratch/"
cp -r "$mon" "$scratch/docs/"
sed -i 's/"certa_votes_withheld"/"certa_votes_held_back"/' "$scratch/node/metrics.c"
sed 's/^### CertaFsyncSlow$/### Fsync is slow/' "$src/docs/OPERATIONS.md" > "$scratch/docs/OPERATIONS.md"
set +e
out=$(python3 "$check" "$scratch")
rc=$?
set -e
echo "$out"
[ "$rc" -eq 1 ] || fail "the checker exited $rc on a renamed metric"
grep -q 'docs/monitoring/alerts.yml:[0-9]*: metric certa_votes_withheld is not registered' <<<"$out" ||
  fail "the checker did not name the renamed metric in alerts.yml"
grep -q 'docs/monitoring/dashboard.json:[0-9]*: metric certa_votes_withheld is not registered' <<<"$out" ||
  fail "the checker did not name the renamed metric in dashboard.json"
grep -q 'CertaFsyncSlow: annotations.runbook names section #certafsyncslow' <<<"$out" ||
  fail "the checker did not report the missing runbook section"
echo "ok: the checker reports renamed metrics and missing runbooks"

python3 "$check" "$src"

if ! command -v promtool >/dev/null; then
  echo "SKIP: promtool not installed (Debian package prometheus: bash tools/install-deps.sh)"
  exit 0
fi
promtool check rules "$mon/alerts.yml"
# promtool resolves rule_files relative to the test file.
promtool test rules "$mon/alerts_test.yml"

# And promtool must be able to fail: a rule test expecting the wrong value.
cp "$mon/alerts.yml" "$mon/alerts_test.yml" "$scratch/"
sed -i 's/fsync p99 49.7ms/fsync p99 1ms/' "$scratch/alerts_test.yml"
if promtool test rules "$scratch/alerts_test.yml" >"$scratch/out" 2>&1; then
  fail "promtool test rules passed a wrong expectation"
fi
echo "ok: promtool check rules and test rules pass (and fail on a wrong expectation)"
echo "it_alerts: all checks passed"
