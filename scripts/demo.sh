#!/usr/bin/env bash
# README's first command: PassLens offline on CPU with the micro generator and critic.
#   bash scripts/demo.sh [--no-editor] [--ci-models]
# 1. sets itself up (scripts/setup.sh); 2. builds the micro models if missing (cached);
# 3. writes the demo workspace demo/ (problem .md files, an empty .py beside each, README)
#    and points PassLens at the micro models;
# 4. `passlens rank` on a held-out micro problem in this terminal (ranked candidates,
#    p(pass), confidence sparkline, sandbox verdicts on the examples);
# 5. opens the workspace in VS Code (`code --extensionDevelopmentPath`) or, without VS Code,
#    in the offline code-server of the editor tests (scripts/editor/), printing its URL.
# With CI=true or --no-editor it ends after step 4.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
EDITOR_STEP=1
CONFIG=training/passlens_training/configs/micro.yaml
WORK=.cache/micro/full
for arg in "$@"; do
  case "$arg" in
    --no-editor) EDITOR_STEP=0 ;;
    --ci-models) CONFIG=training/passlens_training/configs/micro-ci.yaml; WORK=.cache/micro/ci ;;
    *) echo "usage: bash scripts/demo.sh [--no-editor] [--ci-models]" >&2; exit 2 ;;
  esac
done
if [ "${CI:-}" = true ]; then EDITOR_STEP=0; CONFIG=training/passlens_training/configs/micro-ci.yaml; WORK=.cache/micro/ci; fi
log() { printf '\033[1;35m[demo]\033[0m %s\n' "$*"; }

bash scripts/setup.sh
log "micro models ($CONFIG; cached, rebuilt only when their inputs change)"
nice .venv/bin/python -m passlens_training.micro.build --config "$CONFIG" --until export
GENERATOR=$ROOT/$WORK/generator
CRITIC=$ROOT/$WORK/critic-bundle
.venv/bin/python -m passlens_training.micro.demo --out demo --generator "$GENERATOR" --critic "$CRITIC" >/dev/null

PROBLEM=demo/squares_below-stdin.md
log "passlens rank $PROBLEM"
node dist/cli.js rank "$PROBLEM" --critic "$CRITIC" --generator "$GENERATOR" --dtype fp32 --offline \
  -n 6 --temperature 1.0 --max-new-tokens 200 --seed 1 --sandbox --python "$ROOT/.venv/bin/python"

[ "$EDITOR_STEP" = 1 ] || { log "done (editor step skipped)"; exit 0; }
log "in the editor: open a problem's .py (e.g. digits_cmp-stdin.py, its problem is the .md beside it) and run"
log "PassLens: Generate and Rank Solutions (Ctrl+Alt+G); demo/README.md says more"
if command -v code >/dev/null; then
  log "opening VS Code with PassLens on demo/"
  exec code --extensionDevelopmentPath="$ROOT" "$ROOT/demo"
elif [ -x scripts/editor/serve.sh ]; then
  log "no VS Code found: serving the offline editor on 127.0.0.1 (Ctrl-C to stop)"
  exec bash scripts/editor/serve.sh --extension "$ROOT" --workspace "$ROOT/demo"
else
  log "no VS Code and no offline editor (scripts/editor/) here: install VS Code and rerun, or use the CLI above"
fi
