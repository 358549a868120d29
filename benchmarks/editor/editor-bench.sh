#!/usr/bin/env bash
# Editor latency in a real VS Code (code-server + headless Chromium, offline): builds the
# extension and benchmarks/editor/editorSuite.ts, then runs it through editorRunner.ts.
# PASSLENS_BENCH_RUNS (default 7) runs after one warm-up.
# `editor-bench.sh inline`: ranked inline suggestions against the picker, micro-ci models
# (benchmarks/editor/inlineSuite.ts; PASSLENS_MICRO_DIR names built ones).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/editor/env.sh
bash scripts/editor/install.sh >/dev/null
node esbuild.mjs >/dev/null 2>&1
suite=editorSuite
[ "${1:-}" = inline ] && suite=inlineSuite
npx esbuild "benchmarks/editor/$suite.ts" --bundle --platform=node --target=node20 --format=cjs \
  --external:vscode --outfile="out/benchmarks/editor/$suite.js" --log-level=warning
node --import tsx benchmarks/editor/editorRunner.ts "$suite"
