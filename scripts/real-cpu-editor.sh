#!/usr/bin/env bash
# The extension on the real model in the editor (#22): Qwen2.5-Coder-0.5B through a llama.cpp
# server writes candidates for a held-out HumanEval problem of the real CPU run, its critic
# bundle ranks and scores them, in code-server driven by headless Chromium (test/ui/real-model.ts).
# Needs the real run's bundle (bash scripts/real-cpu-report.sh). Copies the screenshots to
# docs/screenshots/real-*.png and the run's record to docs/real-cpu/editor-run.json.
# PASSLENS_REAL_PROBLEM picks the problem (default HumanEval/1).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || PASSLENS_FETCH_QWEN=1 bash scripts/setup.sh
source scripts/editor/runner-lib.sh
bash scripts/editor/install.sh
node esbuild.mjs >/dev/null
rm -rf test-results/screenshots/real-* test-results/real-model
log=$(mktemp)
editor_run 1800 "$log" node --import tsx test/ui/real-model.ts
rm -f "$log"
[ "$editor_rc" = 0 ] || { echo "the editor run failed (screenshot: test-results/screenshots/real-FAILED.png)"; exit 1; }
cp test-results/screenshots/real-*.png docs/screenshots/
cp test-results/real-model/editor-run.json docs/real-cpu/editor-run.json
echo "screenshots: docs/screenshots/real-*.png; record: docs/real-cpu/editor-run.json"
