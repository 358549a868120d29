#!/usr/bin/env bash
# Extension-host integration tests in a real VS Code (code-server + headless Chromium),
# offline. Installs its tools once (scripts/editor/install.sh), builds the extension and
# the suite, runs it, runs the @untrusted tests in an untrusted workspace (workspace trust
# on), then (unless PASSLENS_SKIP_VSIX=1) packages the .vsix, installs it
# into a fresh code-server and runs the @vsix-tagged tests against the installed copy.
# Last line: "N passed, N failed". Hard limit: PASSLENS_EDITOR_RUN_LIMIT_S (default 900).
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/editor/runner-lib.sh
LIMIT_S=${PASSLENS_EDITOR_RUN_LIMIT_S:-900}

editor_prepare
node test/integration/build.mjs || editor_fail "building the integration suite failed"

log=$(mktemp)
editor_run "$(editor_remaining "$LIMIT_S")" "$log" node --import tsx test/integration/runner.ts
read -r passed _ failed _ <<<"$(editor_summary "$log" "$editor_rc")"

echo; echo "--- untrusted workspace ---"
editor_run "$(editor_remaining "$LIMIT_S")" "$log" node --import tsx test/integration/runner.ts --untrusted
read -r p1 _ f1 _ <<<"$(editor_summary "$log" "$editor_rc")"
passed=$(( passed + p1 )); failed=$(( failed + f1 ))

if [ "${PASSLENS_SKIP_VSIX:-0}" != 1 ]; then
  echo; echo "--- installed .vsix smoke test ---"
  if bash scripts/package.sh >"$log" 2>&1; then
    vsix="$PWD/passlens-$(node -p 'require("./package.json").version').vsix"
    tail -1 "$log"
    PASSLENS_EDITOR_TEST_TIMEOUT_MS=180000 editor_run "$(editor_remaining "$LIMIT_S")" "$log" \
      node --import tsx test/integration/runner.ts --vsix "$vsix"
    read -r p2 _ f2 _ <<<"$(editor_summary "$log" "$editor_rc")"
    passed=$(( passed + p2 )); failed=$(( failed + f2 ))
  else
    cat "$log"; echo "packaging the .vsix failed"; failed=$(( failed + 1 ))
  fi
fi
rm -f "$log"
echo "integration tests took $(( SECONDS - editor_started )) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
