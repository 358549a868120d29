#!/usr/bin/env bash
# Python tests: python-sandbox/ and training/, one pytest run each (each folder has its own
# rootdir and config), then one combined summary line for scripts/test.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
passed=0; failed=0; status=0
for dir in python-sandbox/tests training/tests; do
  [ -d "$dir" ] || continue
  log=$(mktemp)
  .venv/bin/python -m pytest -q "$@" "$dir" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -aE '[0-9]+ (passed|failed|errors?)' "$log" | tail -1)
  rm -f "$log"
  passed=$((passed + $(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)))
  failed=$((failed + $(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || echo 0)))
  failed=$((failed + $(grep -oE '[0-9]+ errors?' <<<"$line" | grep -oE '[0-9]+' || echo 0)))
  # pytest's 5 means "no tests collected": a suite that ran nothing is a failure here too.
  [ "$rc" = 0 ] || status=1
done
echo "python: $passed passed, $failed failed"
exit $status
