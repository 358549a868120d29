#!/usr/bin/env bash
# Editor latency in a real VS Code (code-server + headless Chromium, offline): builds the
# extension and benchmarks/editor/editorSuite.ts, then runs it through editorRunner.ts.
# PASSLENS_BENCH_RUNS (default 7) runs after one warm-up.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/editor/env.sh
bash scripts/editor/install.sh >/dev/null
node esbuild.mjs >/dev/null 2>&1
npx esbuild benchmarks/editor/editorSuite.ts --bundle --platform=node --target=node20 --format=cjs \
  --external:vscode --outfile=out/benchmarks/editor/editorSuite.js --log-level=warning
node --import tsx benchmarks/editor/editorRunner.ts
