#!/usr/bin/env bash
# The README's test command: sets up, then runs every suite and prints one summary.
# Exit status is non-zero when any suite fails.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "setup failed"; exit 1; }

mkdir -p test-results
total_pass=0; total_fail=0; failed_suites=()

# run_suite NAME COMMAND...: runs a suite, tees its log and adds its counts.
# Each runner's own summary is parsed: node's "ℹ pass N", pytest's "N passed",
# and our editor runners' "N passed, N failed".
run_suite() {
  local name=$1; shift
  local log="test-results/$name.log"
  printf '\n\033[1;35m=== %s ===\033[0m\n' "$name"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local pass fail
  pass=$(grep -aoE '^ℹ pass [0-9]+' "$log" | awk '{s+=$3} END{print s+0}')
  fail=$(grep -aoE '^ℹ fail [0-9]+' "$log" | awk '{s+=$3} END{print s+0}')
  if [ "$pass" = 0 ] && [ "$fail" = 0 ]; then
    local line
    line=$(grep -aE '[0-9]+ (passed|failed)' "$log" | tail -1)
    pass=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
    fail=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
    fail=$(( fail + $(grep -oE '[0-9]+ errors?' <<<"$line" | grep -oE '[0-9]+' || echo 0) ))
  fi
  total_pass=$((total_pass + ${pass:-0})); total_fail=$((total_fail + ${fail:-0}))
  if [ "$rc" != 0 ]; then
    failed_suites+=("$name")
    [ "${fail:-0}" = 0 ] && total_fail=$((total_fail + 1))
  fi
}

run_suite typecheck npx tsc -p . --noEmit
run_suite lint npx eslint src test
run_suite unit node scripts/run-node-tests.mjs
run_suite python bash scripts/test-python.sh
for runner in test/integration/run.sh test/ui/run.sh; do
  [ -f "$runner" ] && run_suite "$(basename "$(dirname "$runner")")" bash "$runner"
done

# What failed, last, where a CI log's tail shows it: pytest's FAILED lines, node's ✖ lines,
# the integration runner's "FAILED:" blocks and the UI runner's mocha "N failing" section.
failures_of() {
  grep -aE '^FAILED |^✖ ' "$1" | cut -c1-300 | head -20
  grep -aE -A4 '^FAILED: ' "$1" | cut -c1-300 | head -40
  awk '/^ *[0-9]+ failing/ {n = 40} n > 0 {print; n--}' "$1" | cut -c1-300
}

echo
if [ ${#failed_suites[@]} -gt 0 ]; then
  for name in "${failed_suites[@]}"; do
    echo "--- what failed in $name ---"
    failures_of "test-results/$name.log"
  done
  echo "Failed suites: ${failed_suites[*]} (logs in test-results/)"
fi
echo "passlens: $total_pass passed, $total_fail failed"
[ ${#failed_suites[@]} -eq 0 ]
