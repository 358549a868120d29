#!/usr/bin/env bash
# UI checks on the VS Code web workbench (code-server + headless Chromium), offline:
# Playwright drives the palette and editor and reads what a user sees; screenshots go
# to test-results/screenshots/. Last line: "N passed, N failed".
# Hard limit: PASSLENS_EDITOR_RUN_LIMIT_S (default 900).
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/editor/runner-lib.sh
LIMIT_S=${PASSLENS_EDITOR_RUN_LIMIT_S:-900}

editor_prepare
rm -rf test-results/screenshots
log=$(mktemp)
editor_run "$(editor_remaining "$LIMIT_S")" "$log" node --import tsx test/ui/runner.ts
summary=$(editor_summary "$log" "$editor_rc")
rm -f "$log"
echo "UI checks took $(( SECONDS - editor_started )) s"
if [ "$editor_rc" = 124 ] || [ "$editor_rc" = 137 ]; then echo "UI checks hit the ${LIMIT_S} s limit"; fi
echo "$summary"
[ "$editor_rc" = 0 ]
