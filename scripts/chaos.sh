#!/usr/bin/env bash
# Runs the chaos test (tests/integration/chaos_test.cpp) RUNS times in a row
# and prints what each run saw; exits non-zero if any run failed.
#
#   scripts/chaos.sh [RUNS] [BUILD_DIR]      (defaults: 20, build)
#   P11C_CHAOS_SECONDS=60 scripts/chaos.sh 5  (longer storms)
#
# scripts/test.sh runs it once (ctest "integration: chaos", alone); this
# script is for proving it reliable: run it 20 times before trusting a change
# to failover or repair (docs/failover.md).
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
build=${2:-build}
failed=0
for i in $(seq 1 "$runs"); do
  log=$(mktemp)
  if "$build/tests/integration_tests" "[.chaos]" >"$log" 2>&1; then result=passed; else result=FAILED; failed=$((failed + 1)); fi
  printf 'run %2d %s: %s\n' "$i" "$result" "$(grep -E '^chaos: [0-9]+ s' "$log" | head -1)"
  [ "$result" = FAILED ] && grep -E 'DIFFERENCE|no convergence|^  (error|kept|destroyed)' "$log" | head -5
  rm -f "$log"
done
echo "chaos: $((runs - failed)) of $runs runs passed"
[ "$failed" -eq 0 ]
