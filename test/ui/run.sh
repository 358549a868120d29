#!/usr/bin/env bash
# UI checks on the VS Code web workbench (code-server + headless Chromium), offline:
# Playwright drives the palette and editor and reads what a user sees; screenshots go
# to test-results/screenshots/. Last line: "N passed, N failed".
# Hard limit: PASSLENS_EDITOR_RUN_LIMIT_S (default 600).
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/editor/env.sh
export PASSLENS_EDITOR_PGID_FILE
PASSLENS_EDITOR_PGID_FILE=$(mktemp)
LIMIT_S=${PASSLENS_EDITOR_RUN_LIMIT_S:-600}

# If the Node runner is killed, the code-server group it started is killed here.
cleanup() {
  while read -r pgid; do kill -KILL -- "-$pgid" 2>/dev/null; done <"$PASSLENS_EDITOR_PGID_FILE"
  rm -f "$PASSLENS_EDITOR_PGID_FILE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "$1"; echo "0 passed, 1 failed"; exit 1; }
started=$SECONDS
bash scripts/editor/install.sh || fail "installing the editor test tools failed"
build_log=$(node esbuild.mjs 2>&1) || { echo "$build_log"; fail "building the extension failed"; }
rm -rf test-results/screenshots
log=$(mktemp)
timeout -k 15 "$(( LIMIT_S - (SECONDS - started) ))" node --import tsx test/ui/runner.ts 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
rm -f "$log"
echo "UI checks took $(( SECONDS - started )) s"
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then echo "UI checks hit the ${LIMIT_S} s limit"; summary=""; fi
if [ "$rc" != 0 ] && [ "${summary#* passed, }" = "0 failed" ]; then summary="${summary%% *} passed, 1 failed"; fi
echo "${summary:-0 passed, 1 failed}"
exit "$rc"
