#!/usr/bin/env bash
# Extension-host integration tests in a real VS Code (code-server + headless Chromium),
# offline. Installs its tools once (scripts/editor/install.sh), builds the extension and
# the suite, runs it, then (unless PASSLENS_SKIP_VSIX=1) packages the .vsix, installs it
# into a fresh code-server and runs the @vsix-tagged tests against the installed copy.
# Last line: "N passed, N failed". Hard limit: PASSLENS_EDITOR_RUN_LIMIT_S (default 900).
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/editor/env.sh
export PASSLENS_EDITOR_PGID_FILE
PASSLENS_EDITOR_PGID_FILE=$(mktemp)
LIMIT_S=${PASSLENS_EDITOR_RUN_LIMIT_S:-900}

# If the Node runner is killed, the code-server groups it started are killed here.
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
node test/integration/build.mjs || fail "building the integration suite failed"

remaining() { echo $(( LIMIT_S - (SECONDS - started) )); }
run_runner() { timeout -k 15 "$(remaining)" node --import tsx test/integration/runner.ts "$@"; }

log=$(mktemp)
run_runner 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
passed=$(cut -d' ' -f1 <<<"${summary:-0 passed, 1 failed}"); failed=$(cut -d' ' -f3 <<<"${summary:-0 passed, 1 failed}")
[ "$rc" != 0 ] && [ "$failed" = 0 ] && failed=1

if [ "${PASSLENS_SKIP_VSIX:-0}" != 1 ]; then
  echo; echo "--- installed .vsix smoke test ---"
  vsix_log=$(mktemp)
  if bash scripts/package.sh >"$vsix_log" 2>&1; then
    vsix="$PWD/passlens-$(node -p 'require("./package.json").version').vsix"
    echo "packaged $(basename "$vsix") ($(du -h "$vsix" | cut -f1))"
    PASSLENS_EDITOR_TEST_TIMEOUT_MS=180000 run_runner --vsix "$vsix" 2>&1 | tee "$log"
    rc2=${PIPESTATUS[0]}
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    passed=$(( passed + $(cut -d' ' -f1 <<<"${summary:-0 passed, 1 failed}") ))
    f2=$(cut -d' ' -f3 <<<"${summary:-0 passed, 1 failed}")
    [ "$rc2" != 0 ] && [ "$f2" = 0 ] && f2=1
    failed=$(( failed + f2 ))
  else
    cat "$vsix_log"; echo "packaging the .vsix failed"; failed=$(( failed + 1 ))
  fi
  rm -f "$vsix_log"
fi
rm -f "$log"
echo "integration tests took $(( SECONDS - started )) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
