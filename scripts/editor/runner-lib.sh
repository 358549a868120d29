# Sourced by test/integration/run.sh and test/ui/run.sh: process control for a Node
# runner that starts code-server. The runner writes each code-server process group it
# starts to $PASSLENS_EDITOR_PGID_FILE; on exit, Ctrl-C, TERM or the time limit this
# shell kills the runner and every one of those groups.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
export PASSLENS_EDITOR_PGID_FILE
PASSLENS_EDITOR_PGID_FILE=$(mktemp)
editor_runner_pid=""
editor_started=$SECONDS

editor_cleanup() {
  [ -n "$editor_runner_pid" ] && kill -TERM "$editor_runner_pid" 2>/dev/null
  while read -r pgid; do kill -KILL -- "-$pgid" 2>/dev/null; done <"$PASSLENS_EDITOR_PGID_FILE"
  rm -f "$PASSLENS_EDITOR_PGID_FILE"
}
trap editor_cleanup EXIT
trap 'echo "interrupted"; echo "0 passed, 1 failed"; exit 130' INT TERM

# editor_run LIMIT_S LOG COMMAND...: runs COMMAND under `timeout`, its output shown and
# saved to LOG; in the background so that a signal to this shell is handled at once.
# Sets editor_rc.
editor_run() {
  local limit=$1 log=$2; shift 2
  [ "$limit" -gt 0 ] || { echo "no time left (limit reached)"; editor_rc=124; return; }
  timeout -k 15 "$limit" "$@" >"$log" 2>&1 &
  editor_runner_pid=$!
  tail -n +1 -f --pid="$editor_runner_pid" "$log" &
  local tail_pid=$!
  wait "$editor_runner_pid"; editor_rc=$?
  wait "$tail_pid"
  editor_runner_pid=""
}

# editor_summary LOG RC: the log's "N passed, N failed" line, counting a non-zero exit
# without a failed test (crash, timeout) as one failure.
editor_summary() {
  local line passed failed
  line=$(grep -aE '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -1)
  passed=${line%% *}; failed=${line#* passed, }; failed=${failed%% *}
  passed=${passed:-0}; failed=${failed:-0}
  if [ "$2" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
  echo "$passed passed, $failed failed"
}

editor_remaining() { echo $(( $1 - (SECONDS - editor_started) )); }

editor_fail() { echo "$1"; echo "0 passed, 1 failed"; exit 1; }

# Installs the tools, builds the extension and brings the micro-ci models the tests use
# (test/fixtures/models.ts microModels()) up to date: cached by input hash, seconds
# when nothing changed, ~5 min cold; PASSLENS_MICRO_DIR names a built micro work folder to
# use instead. The run's time limit starts after this, so a cold build does not eat the
# suites' time.
editor_prepare() {
  bash scripts/editor/install.sh || editor_fail "installing the editor test tools failed"
  local build_log started=$SECONDS
  build_log=$(node esbuild.mjs 2>&1) || { echo "$build_log"; editor_fail "building the extension failed"; }
  [ -x .venv/bin/python ] || editor_fail ".venv is missing: run bash scripts/setup.sh first"
  if [ -n "${PASSLENS_MICRO_DIR:-}" ]; then
    echo "micro models from PASSLENS_MICRO_DIR=$PASSLENS_MICRO_DIR (not rebuilt)"
    editor_started=$SECONDS
    return
  fi
  # In its own process group (listed for editor_cleanup) and waited for in the background,
  # so Ctrl-C or TERM stops the build and the stage it runs at once. The stages' own
  # output goes to a log; the console gets the build's "[micro]" lines.
  local micro_log=test-results/editor-logs/micro-build.log
  mkdir -p test-results/editor-logs
  echo "micro-ci models (cached; a cold build takes ~5 min; log: $micro_log)"
  setsid nice .venv/bin/python -m passlens_training.micro.build --config training/passlens_training/configs/micro-ci.yaml \
    --until export --no-progress >"$micro_log" 2>&1 &
  local build=$!
  echo "$build" >>"$PASSLENS_EDITOR_PGID_FILE"
  tail -n +1 -f --pid="$build" "$micro_log" | grep --line-buffered '^\[micro\]' &
  wait "$build" || { tail -40 "$micro_log"; editor_fail "building the micro models failed (log: $micro_log)"; }
  wait
  echo "extension and micro-ci models ready in $(( SECONDS - started )) s"
  editor_started=$SECONDS
}
